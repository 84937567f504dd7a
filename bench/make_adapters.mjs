#!/usr/bin/env node
// Writes N synthetic PEFT LoRA adapters for a Llama-family model folder, for the serving benchmark
// (bench/serve_bench.sh). Benchmark tooling only, never a test.
//
//   node bench/make_adapters.mjs MODEL_DIR OUT_STORE N RANK
//
// OUT_STORE/lora-000 ... lora-(N-1) each get adapter_config.json (peft_type LORA, r RANK,
// lora_alpha 2*RANK, all 7 projections, bias none) and adapter_model.safetensors with bf16
// lora_A [r, in] and lora_B [out, r] for every layer, values ~ N(0, 0.02), a fixed seed per adapter.
// Shapes come from MODEL_DIR/config.json. An adapter folder that already holds this exact content
// (same config, same file size) is kept, so reruns are cheap. Adapter names go to stdout, one a line.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync }
  from 'node:fs';
import path from 'node:path';

const MODULES = [
  ['self_attn', 'q_proj'], ['self_attn', 'k_proj'], ['self_attn', 'v_proj'], ['self_attn', 'o_proj'],
  ['mlp', 'gate_proj'], ['mlp', 'up_proj'], ['mlp', 'down_proj'],
];

function usage(msg) {
  if (msg) process.stderr.write(`make_adapters: ${msg}\n`);
  process.stderr.write('usage: node bench/make_adapters.mjs MODEL_DIR OUT_STORE N RANK\n');
  process.exit(2);
}

// [in, out] of each projection, from a Hugging Face config.json.
function moduleDims(cfg) {
  const need = ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_hidden_layers'];
  for (const k of need) if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) usage(`config.json: missing or bad "${k}"`);
  const hidden = cfg.hidden_size;
  const inter = cfg.intermediate_size;
  const heads = cfg.num_attention_heads;
  const kvHeads = cfg.num_key_value_heads ?? heads;
  const headDim = cfg.head_dim ?? hidden / heads;
  if (!Number.isInteger(headDim)) usage('config.json: hidden_size is not a multiple of num_attention_heads');
  const q = heads * headDim;
  const kv = kvHeads * headDim;
  return {
    layers: cfg.num_hidden_layers,
    dims: {
      q_proj: [hidden, q], k_proj: [hidden, kv], v_proj: [hidden, kv], o_proj: [q, hidden],
      gate_proj: [hidden, inter], up_proj: [hidden, inter], down_proj: [inter, hidden],
    },
  };
}

// f32 -> bf16 bits, round to nearest even.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bf16(x) {
  f32[0] = x;
  const b = u32[0];
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

// bf16 has 65536 values, so a table of 65536 N(0, stddev) samples indexed by a fast PRNG gives the
// same distribution as sampling each value (Box-Muller per value is ~10x slower in JS).
function normalTable(stddev, seed) {
  let s = seed >>> 0 || 1;
  const uni = () => {  // xorshift32 in (0, 1)
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const t = new Uint16Array(65536);
  for (let i = 0; i < t.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uni())) * stddev;
    const th = 2 * Math.PI * uni();
    t[i] = bf16(r * Math.cos(th));
    t[i + 1] = bf16(r * Math.sin(th));
  }
  return t;
}

function fillRandom(u16, table, seed) {
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < u16.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    u16[i] = table[s >>> 16];
  }
}

function adapterConfig(rank) {
  return {
    peft_type: 'LORA', task_type: 'CAUSAL_LM', r: rank, lora_alpha: 2 * rank, lora_dropout: 0.0, bias: 'none',
    target_modules: MODULES.map(([, m]) => m), base_model_name_or_path: 'synthetic',
  };
}

// The safetensors header (padded to 8 bytes) and the tensor list in file order.
function layout(layers, dims, rank) {
  const tensors = [];
  const header = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (let l = 0; l < layers; l++) {
    for (const [block, mod] of MODULES) {
      const [inDim, outDim] = dims[mod];
      const p = `base_model.model.model.layers.${l}.${block}.${mod}`;
      for (const [name, shape] of [[`${p}.lora_A.weight`, [rank, inDim]], [`${p}.lora_B.weight`, [outDim, rank]]]) {
        const n = shape[0] * shape[1];
        header[name] = { dtype: 'BF16', shape, data_offsets: [off, off + 2 * n] };
        tensors.push(n);
        off += 2 * n;
      }
    }
  }
  let text = JSON.stringify(header);
  while (Buffer.byteLength(text) % 8 !== 0) text += ' ';
  return { headerBytes: Buffer.from(text), dataBytes: off, tensors };
}

function writeAdapter(dir, cfgText, lay, table, seed) {
  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const fd = openSync(path.join(tmp, 'adapter_model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(lay.headerBytes.length));
  writeSync(fd, len);
  writeSync(fd, lay.headerBytes);
  let k = 0;
  for (const n of lay.tensors) {
    const u16 = new Uint16Array(n);
    fillRandom(u16, table, seed * 1000003 + k++);
    writeSync(fd, new Uint8Array(u16.buffer));  // little-endian on every platform Node runs on
  }
  closeSync(fd);
  const cfgFd = openSync(path.join(tmp, 'adapter_config.json'), 'w');
  writeSync(cfgFd, cfgText);
  closeSync(cfgFd);
  // The store scanner ignores dot folders; the rename makes the adapter appear whole.
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

function main() {
  const [modelDir, store, nArg, rankArg] = process.argv.slice(2);
  if (!modelDir || !store || !nArg || !rankArg) usage();
  const n = Number(nArg);
  const rank = Number(rankArg);
  if (!Number.isInteger(n) || n < 1) usage(`N must be a positive integer, got '${nArg}'`);
  if (!Number.isInteger(rank) || rank < 1) usage(`RANK must be a positive integer, got '${rankArg}'`);
  let cfg;
  try {
    cfg = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  } catch (e) {
    usage(`${path.join(modelDir, 'config.json')}: ${e.message}`);
  }
  const { layers, dims } = moduleDims(cfg);
  const lay = layout(layers, dims, rank);
  const cfgText = JSON.stringify(adapterConfig(rank), null, 2) + '\n';
  const fileSize = 8 + lay.headerBytes.length + lay.dataBytes;
  mkdirSync(store, { recursive: true });
  const table = normalTable(0.02, 12345);
  const t0 = Date.now();
  let written = 0;
  const names = [];
  for (let i = 0; i < n; i++) {
    const name = `lora-${String(i).padStart(3, '0')}`;
    const dir = path.join(store, name);
    names.push(name);
    const st = path.join(dir, 'adapter_model.safetensors');
    const cj = path.join(dir, 'adapter_config.json');
    if (existsSync(st) && existsSync(cj) && statSync(st).size === fileSize && readFileSync(cj, 'utf8') === cfgText) continue;
    writeAdapter(dir, cfgText, lay, table, i + 1);
    written++;
  }
  const mib = (fileSize / 1048576).toFixed(1);
  process.stderr.write(`make_adapters: ${n} adapter(s) of rank ${rank} in ${store} (${mib} MiB each; ` +
    `${written} written, ${n - written} reused) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  process.stdout.write(names.join('\n') + '\n');
}

main();
