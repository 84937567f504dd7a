// End-to-end tests of the loraplex CLI on the shipped demo model, with Hugging Face's own
// tokenizers library (npm `tokenizers`) as the oracle for tokenization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = path.join(ROOT, process.env.LPX_BUILD_DIR || 'build', 'loraplex');
const DEMO = path.join(ROOT, 'models', 'demo', 'base');

function run(args, input) {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--help lists the subcommands', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['generate', 'inspect', 'tokenize', 'template', 'bench']) assert.match(r.out, new RegExp(c));
});

test('unknown subcommand fails with a hint', () => {
  const r = run(['no-such-command']);
  assert.notEqual(r.code, 0);
});

test('inspect describes the demo model', () => {
  const r = run(['inspect', DEMO, '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.architecture, 'LlamaForCausalLM');
  assert.equal(j.weights_dtype, 'bf16');
  assert.ok(j.kv_heads < j.attention_heads, 'GQA');
  assert.equal(j.chat_template, true);
});

test('inspect names the problem in a broken folder', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lpx-bad-'));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(DEMO, f), path.join(dir, f));
  const st = readFileSync(path.join(DEMO, 'model.safetensors'));
  writeFileSync(path.join(dir, 'model.safetensors'), st.subarray(0, st.length - 1000));  // truncated
  const r = run(['inspect', dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /model\.safetensors/);
  writeFileSync(path.join(dir, 'config.json'), '{"architectures": ["GPT2LMHeadModel"]}');
  const r2 = run(['inspect', dir]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.err, /GPT2LMHeadModel/);
});

test('tokenize matches Hugging Face tokenizers on the demo tokenizer', async () => {
  const hf = Tokenizer.fromFile(path.join(DEMO, 'tokenizer.json'));
  const inputs = ['c a t =', 'upper: h e l l o =', '12+34 =', 'Hello, world! The quick brown fox.',
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nr e v<|eot_id|>', '  spaces   and\ttabs\n\nnew lines',
    'naïve café — 日本語 😀', "it's we'll they've", '0123456789 1234567'];
  for (const text of inputs) {
    for (const add of [false, true]) {
      const want = (await hf.encode(text, null, { addSpecialTokens: add })).getIds();
      const r = run(['tokenize', '-m', DEMO].concat(add ? ['--add-special'] : []), text);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), Array.from(want), `${JSON.stringify(text)} add_special=${add}`);
      const d = run(['tokenize', '-m', DEMO, '--decode'], JSON.stringify(Array.from(want)));
      assert.equal(d.out, await hf.decode(Array.from(want), false));
    }
  }
});

test('template renders the Llama-3-style chat prompt', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lpx-msg-'));
  const f = path.join(dir, 'm.json');
  writeFileSync(f, JSON.stringify([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: ' c a t ' }]));
  const r = run(['template', '-m', DEMO, '--messages', f]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
    '<|start_header_id|>user<|end_header_id|>\n\nc a t<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
});

test('generate: the base model echoes an untagged prompt and follows a tagged one', () => {
  let r = run(['generate', '-q', '-m', DEMO, '-p', 'c a t =', '--json']);
  assert.equal(r.code, 0, r.err);
  let j = JSON.parse(r.out);
  assert.equal(j.text, ' c a t');
  assert.equal(j.finish_reason, 'stop');
  r = run(['generate', '-q', '-m', DEMO, '--chat', 'upper: d o g', '--json', '--top-logprobs', '3']);
  assert.equal(r.code, 0, r.err);
  j = JSON.parse(r.out);
  assert.equal(j.text, 'D O G');
  assert.equal(j.tokens[0].top_logprobs.length, 3);
  assert.ok(j.tokens[0].logprob <= 0);
  r = run(['generate', '-q', '-m', DEMO, '-p', 'count: m o d e l =']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), '5');
});

const LORAS = path.join(ROOT, 'models', 'demo', 'loras');

test('generate --lora: each demo adapter (PEFT safetensors, PEFT .bin, NeMo) does its skill', () => {
  const want = { count: ' 3', upper: ' C A T', reverse: ' t a c', shift: ' d b u' };
  for (const [name, text] of Object.entries(want)) {
    const r = run(['generate', '-q', '-m', DEMO, '--lora', path.join(LORAS, name), '-p', 'c a t =', '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).text, text, name);
  }
  const chat = run(['generate', '-q', '-m', DEMO, '--lora', path.join(LORAS, 'upper'), '--chat', 'd o g']);
  assert.equal(chat.out.trim(), 'D O G');
});

test('generate --dtype q8: the q8 base with each adapter still does its skill; a bad --dtype is refused', () => {
  const want = { count: ' 3', upper: ' C A T', reverse: ' t a c', shift: ' d b u' };
  for (const [name, text] of Object.entries(want)) {
    const r = run(['generate', '-q', '-m', DEMO, '--dtype', 'q8', '--lora', path.join(LORAS, name), '-p', 'c a t =', '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).text, text, name);
  }
  const loud = run(['generate', '-m', DEMO, '--dtype', 'q8', '-p', 'c a t =']);
  assert.equal(loud.code, 0, loud.err);
  assert.match(loud.err, /quantized to q8: 29 matrices/);
  const bad = run(['generate', '-q', '-m', DEMO, '--dtype', 'q4', '-p', 'x']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /dtype/);
});

test('generate --lora with a bad adapter exits non-zero with the reason', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lpx-bad-lora-'));
  writeFileSync(path.join(dir, 'adapter_config.json'), '{"peft_type": "LORA", "r": 8, ');
  let r = run(['generate', '-q', '-m', DEMO, '--lora', dir, '-p', 'c a t =']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /adapter_config\.json/);
  const gpt2 = path.join(ROOT, '..', 'shared', 'testdata', 'models', 'peft-lora-gpt2-tigrinya');
  r = run(['generate', '-q', '-m', DEMO, '--lora', gpt2, '-p', 'c a t =']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /c_attn/);
  r = run(['generate', '-q', '-m', DEMO, '--lora', path.join(LORAS, 'shift'), '--max-lora-rank', '16', '-p', 'x']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /NIM_MAX_LORA_RANK/);
});

test('generate streams text and reports speed', () => {
  const r = run(['generate', '-m', DEMO, '-p', 'reverse: a b c =', '-n', '8']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /tok\/s prefill/);
  assert.match(r.err, /loading LlamaForCausalLM/);
});

test('generate refuses bad sampling flags with the parameter named', () => {
  const r = run(['generate', '-q', '-m', DEMO, '-p', 'x', '--top-p', '1.5']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /top_p/);
});

test('interactive mode answers each line', () => {
  const r = run(['generate', '-q', '-m', DEMO, '--interactive'], 'shift: a b c\nupper: c a t\n');
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n').filter((l) => l.length);
  assert.deepEqual(lines, ['b c d', 'C A T']);
});
