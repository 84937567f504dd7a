// Reads BUILD_DIR/bench-results (written by bench/run.sh) and prints issue 6's figures as a
// markdown table: each with its limit, the ratio to it, the target and whether it is met.
// Usage: node bench/summary.mjs BUILD_DIR/bench-results
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] || 'build/bench-results';
const read = (f) => {
  try { return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); } catch { return null; }
};
const fmt = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '-' : Number(v).toFixed(d));
const pct = (v) => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(0)}%`);

// Our best GEMM rates (google-benchmark JSON counters), by name prefix.
const kernels = read('kernels.json');
const best = (prefix, counter = 'GFLOP/s') => {
  if (!kernels) return null;
  let b = null;
  for (const r of kernels.benchmarks) {
    if (r.name.startsWith(prefix) && r[counter] !== undefined) b = Math.max(b ?? 0, r[counter]);
  }
  return b;
};
// The JSON holds each rate counter as its value per second (GFLOP/s as given by the benchmark).
const oursBf16 = Math.max(best('BM_MatmulBf16/M:512') ?? 0, best('BM_MatmulBf16_Avx512Dot/M:512') ?? 0) || null;
const oursF32 = best('BM_MatmulBf16_Exact/M:512');
const yard = read('yardstick.json');
const bestBf16 = Math.max(oursBf16 ?? 0, yard?.onednn_bf16 ?? 0) || null;
const bestF32 = Math.max(oursF32 ?? 0, yard?.onednn_f32 ?? 0, yard?.openblas_f32 ?? 0) || null;

const tl = read('tinyllama-1.1b.json');
const tlq = read('tinyllama-1.1b-q8.json');
const sm = read('smollm2-135m.json');
const smq = read('smollm2-135m-q8.json');
const b32 = read('b32-a0.json');
const b32again = read('b32-a0-again.json');
const b32a = read('b32-a32.json');
const mixed = read('b32-mixed64.json');
const b16 = read('b16-a0.json');
const b16a = read('b16-a16.json');
const cold = read('cold-load.json');
const ttft = read('serve-smollm2-135m/a8-c32.json');
const mem = read('serve-smollm2-135m/memory.json');
let agreement = null;
try {
  const m = fs.readFileSync(path.join(dir, 'q8-agreement.txt'), 'utf8').match(/\((\d+\.\d+)%\)/);
  if (m) agreement = Number(m[1]) / 100;
} catch { /* not run */ }

const rows = [];
const row = (figure, measured, limit, ratio, target, ok) =>
  rows.push(`| ${figure} | ${measured} | ${limit} | ${ratio} | ${target} | ${ok === null ? '-' : ok ? 'met' : '**not met**'} |`);
const judge = (v, t, ge = true) => (v === null || v === undefined ? null : ge ? v >= t : v < t);

console.log('### The machine\'s limits');
console.log();
console.log('| limit | measured |');
console.log('|---|---|');
console.log(`| memory bandwidth (triad, all cores; TinyLlama run / SmolLM2 run) | ${fmt(tl?.bandwidth_triad_gbs)} / ${fmt(sm?.bandwidth_triad_gbs)} GB/s |`);
console.log(`| best bf16 GEMM, M=512 (ours / oneDNN) | ${fmt(oursBf16, 0)} / ${fmt(yard?.onednn_bf16, 0)} GFLOP/s |`);
console.log(`| best f32-arithmetic GEMM, M=512 (ours on bf16 weights / oneDNN f32 / OpenBLAS sgemm) | ${fmt(oursF32, 0)} / ${fmt(yard?.onednn_f32, 0)} / ${fmt(yard?.openblas_f32, 0)} GFLOP/s |`);
console.log();
console.log('### Issue 6 figures (TinyLlama-1.1B shape unless named; bf16 weights; all cores)');
console.log();
console.log('| figure | measured | limit | ratio | target | |');
console.log('|---|---|---|---|---|---|');
{
  const f = tl?.decode_fraction_of_roofline;
  row('decode, batch 1', `${fmt(tl?.decode_tokens_per_s, 2)} tok/s`, `${fmt(tl?.decode_roofline_tokens_per_s, 2)} tok/s roofline`, pct(f), '>= 85%', judge(f, 0.85));
}
{
  const r = tl && bestBf16 ? tl.prefill_gflops / bestBf16 : null;
  row('prefill, 512 tokens', `${fmt(tl?.prefill_gflops, 0)} GFLOP/s`, `${fmt(bestBf16, 0)} GFLOP/s best bf16 GEMM`, pct(r), '>= 60%', judge(r, 0.6));
}
{
  const b1 = read('b1-a0.json');
  const r = b32 && b1 ? b32.decode_tokens_per_s / b1.decode_tokens_per_s : null;
  row('decode, batch 32 vs batch 1 (16-token prompts, adjacent runs)', `${fmt(b32?.decode_tokens_per_s, 1)} tok/s`, `${fmt(b1?.decode_tokens_per_s, 2)} tok/s at batch 1`, `${fmt(r, 1)}x`, '>= 8x', judge(r, 8));
  const ra = b32a && b32 ? b32a.decode_tokens_per_s / b32.decode_tokens_per_s : null;
  row('32 sequences, 32 rank-16 adapters (all 7 modules)', `${fmt(b32a?.decode_tokens_per_s, 1)} tok/s`, `${fmt(b32?.decode_tokens_per_s, 1)} tok/s without adapters (run just before)`, pct(ra), '>= 80%', judge(ra, 0.8));
  const rm = mixed && b32again ? mixed.decode_tokens_per_s / b32again.decode_tokens_per_s : null;
  row('32 sequences, 64 adapters of ranks 8-64, 16 device slots', `${fmt(mixed?.decode_tokens_per_s, 1)} tok/s`, `${fmt(b32again?.decode_tokens_per_s, 1)} tok/s without adapters (run just after)`, pct(rm), '>= 70%', judge(rm, 0.7));
  const r16 = b16a && b16 ? b16a.decode_tokens_per_s / b16.decode_tokens_per_s : null;
  row('16 sequences, 16 rank-16 adapters (issue 4)', `${fmt(b16a?.decode_tokens_per_s, 1)} tok/s`, `${fmt(b16?.decode_tokens_per_s, 1)} tok/s without adapters`, pct(r16), '>= 75%', judge(r16, 0.75));
}
{
  const c16 = cold?.cold_load?.find((c) => c.rank === 16);
  row('adapter cold load, rank 16, disk -> device tier', `${fmt(c16?.total_ms, 1)} ms`, '', '', '<= 50 ms', judge(c16?.total_ms, 50, false));
}
{
  const r = ttft ? ttft.ttft_ms.p99 / ttft.ttft_ms.p50 : null;
  row('TTFT p99 / p50, SmolLM2-135M, 8 adapters, concurrency 32', `p50 ${fmt(ttft?.ttft_ms?.p50, 0)} ms, p99 ${fmt(ttft?.ttft_ms?.p99, 0)} ms`, '', `${fmt(r, 2)}x`, '< 4x', judge(r, 4, false));
}
{
  const r = mem && mem.estimate_mib > 0 ? mem.rss_mib / mem.estimate_mib - 1 : null;
  row('idle resident set vs weights + KV + adapter tiers (SmolLM2 serve)', `${fmt(mem?.rss_mib, 1)} MiB`, `${fmt(mem?.estimate_mib, 1)} MiB estimate`, r === null ? '-' : `${r >= 0 ? '+' : ''}${(100 * r).toFixed(1)}%`, 'within 10%', r === null ? null : Math.abs(r) <= 0.1);
}
{
  const r = tlq && tl ? tlq.decode_tokens_per_s / tl.decode_tokens_per_s : null;
  row('--dtype q8 decode, batch 1 vs bf16 (one pair)', `${fmt(tlq?.decode_tokens_per_s, 2)} tok/s (${pct(tlq?.decode_fraction_of_roofline)} of its roofline)`, `${fmt(tl?.decode_tokens_per_s, 2)} tok/s bf16`, `${fmt(r, 2)}x`, '', null);
  const pairs = [1, 2, 3].map((i) => [read(`q8pair${i}-q8.json`), read(`q8pair${i}-auto.json`)])
    .filter(([q, b]) => q && b).map(([q, b]) => q.decode_tokens_per_s / b.decode_tokens_per_s).sort((x, y) => x - y);
  const med = pairs.length ? pairs[Math.floor(pairs.length / 2)] : null;
  row('--dtype q8 decode vs bf16, alternating pairs (median)', pairs.map((p) => `${fmt(p, 2)}x`).join(', ') || '-', '', `${fmt(med, 2)}x`, '>= 1.7x', judge(med, 1.7));
  const rs = smq && sm ? smq.decode_tokens_per_s / sm.decode_tokens_per_s : null;
  row('--dtype q8 decode, batch 1 vs bf16 (SmolLM2-135M)', `${fmt(smq?.decode_tokens_per_s, 1)} tok/s`, `${fmt(sm?.decode_tokens_per_s, 1)} tok/s bf16`, `${fmt(rs, 2)}x`, '', null);
  row('--dtype q8 greedy agreement with the bf16 reference (demo goldens, teacher-forced)', pct(agreement), '', '', '>= 99%', judge(agreement, 0.99));
}
for (const r of rows) console.log(r);
console.log();
console.log('Ratios of speed figures are against limits measured in the same run (bandwidth) or in the run');
console.log('next to it (the base-only rows); the machine drifts, so compare only adjacent figures.');
