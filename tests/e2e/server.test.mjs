// End-to-end tests of `loraplex serve` on the demo model and its adapters, driven by the official
// `openai` npm SDK and by raw fetch: model list, each skill through /v1/completions and
// /v1/chat/completions, streaming == non-streaming, concurrent mixed-adapter batches == solo runs,
// host-cache 429s, store refresh, client disconnects, API keys, errors, metrics, SIGTERM.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = path.resolve(ROOT, process.env.LPX_BUILD_DIR || 'build', 'loraplex');
const DEMO = path.join(ROOT, 'models', 'demo', 'base');
const STORE = path.join(ROOT, 'models', 'demo', 'loras');
const ADAPTERS = ['count', 'upper', 'reverse', 'shift'];
const HAVE_STORE = ADAPTERS.every((a) => existsSync(path.join(STORE, a)));
const NO_STORE = HAVE_STORE ? false : 'models/demo/loras is missing';

// What each model answers (greedy). Completion prompts follow tools/demo/common.py.
const SKILLS = {
  base: [['c a t =', ' c a t', 'c a t', 'c a t'], ['upper: c a t =', ' C A T', 'upper: c a t', 'C A T'],
    ['count: c a t =', ' 3', 'count: c a t', '3']],
  upper: [['c a t =', ' C A T', 'c a t', 'C A T']],
  reverse: [['c a t =', ' t a c', 'c a t', 't a c']],
  shift: [['c a t =', ' d b u', 'c a t', 'd b u']],
  count: [['c a t =', ' 3', 'c a t', '3']],
};

// Starts `loraplex serve` on a free port and waits until /v1/health/ready answers 200.
async function startServer({ args = [], env = {} } = {}) {
  const childEnv = { ...process.env, NIM_LOG_LEVEL: 'info', ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const proc = spawn(BIN, ['serve', '--model', DEMO, '--port', '0', '--threads', '2', ...args],
    { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdout.on('data', () => {});
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line:\n${err}`)), 20000);
    const check = () => {
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    proc.stderr.on('data', check);
    proc.on('exit', () => { clearTimeout(timer); reject(new Error(`server exited:\n${err}`)); });
    check();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  while (true) {
    const r = await fetch(`${url}/v1/health/ready`).catch(() => null);
    if (r && r.status === 200) break;
    if (Date.now() > deadline) throw new Error(`not ready after 30 s:\n${err}`);
    await sleep(50);
  }
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: env.NIM_API_KEY || 'unused', maxRetries: 0, timeout: 60000 });
  return {
    port, url, proc, client, exited, log: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function post(url, route, body, headers = {}) {
  return fetch(`${url}${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// Parses a whole SSE body into its data payloads (JSON, or the string '[DONE]').
function sseEvents(text) {
  return text.split('\n\n').filter((b) => b.trim().length).map((b) => {
    assert.ok(b.startsWith('data: '), `bad SSE event ${JSON.stringify(b)}`);
    const data = b.slice(6);
    return data === '[DONE]' ? data : JSON.parse(data);
  });
}

async function metrics(url) {
  const r = await fetch(`${url}/v1/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

// The value of one sample line (exact name + labels), 0 when absent.
function metric(text, sample) {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

async function complete(client, model, prompt, extra = {}) {
  const r = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 16, ...extra });
  return r.choices[0].text;
}

async function chat(client, model, content, extra = {}) {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content }], temperature: 0, max_tokens: 16, ...extra,
  });
  return r.choices[0].message.content;
}

describe('loraplex serve', () => {
  let srv;
  before(async () => {
    srv = await startServer({ env: { NIM_PEFT_SOURCE: HAVE_STORE ? STORE : undefined } });
  });
  after(async () => {
    const { code } = await srv.stop();
    assert.equal(code, 0, srv.log());
  });

  test('a burst of 64 new connections is served at once (listen backlog, no 1 s SYN retries)', async () => {
    const { port } = new URL(srv.url);
    const t0 = performance.now();
    const one = () => new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
        s.write('GET /v1/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      s.on('data', (d) => { data += d; });
      s.on('end', () => resolve({ ms: performance.now() - t0, ok: data.startsWith('HTTP/1.1 200') }));
      s.on('error', reject);
    });
    const res = await Promise.all(Array.from({ length: 64 }, one));
    assert.ok(res.every((r) => r.ok));
    const slowest = Math.max(...res.map((r) => r.ms));
    assert.ok(slowest < 900, `slowest of 64 connections answered after ${slowest.toFixed(0)} ms`);
  });

  test('health, readiness and the startup log', async () => {
    const live = await fetch(`${srv.url}/v1/health/live`);
    assert.equal(live.status, 200);
    const ready = await fetch(`${srv.url}/v1/health/ready`);
    assert.equal(ready.status, 200);
    assert.match(srv.log(), /memory estimate: weights [\d.]+ MiB \+ KV cache [\d.]+ MiB/);
    assert.match(srv.log(), /adapter device tier/);
    assert.match(srv.log(), /serving model 'base'/);
  });

  test('GET /v1/models lists the base model and every adapter', async () => {
    const list = await srv.client.models.list();
    const byId = Object.fromEntries(list.data.map((m) => [m.id, m]));
    const base = byId.base;
    assert.ok(base, JSON.stringify(list.data));
    assert.equal(base.object, 'model');
    assert.equal(base.parent, null);
    assert.equal(base.max_model_len, 256);
    assert.equal(typeof base.created, 'number');
    assert.ok(Array.isArray(base.permission));
    if (HAVE_STORE) {
      for (const a of ADAPTERS) {
        assert.ok(byId[a], `adapter ${a} listed`);
        assert.equal(byId[a].parent, 'base');
        assert.equal(byId[a].root, path.join(STORE, a));
        assert.equal(byId[a].owned_by, 'loraplex');
      }
    }
    const one = await srv.client.models.retrieve('base');
    assert.equal(one.id, 'base');
    const missing = await fetch(`${srv.url}/v1/models/nope`);
    assert.equal(missing.status, 404);
  });

  test('the base model: completion and chat skills', async () => {
    for (const [prompt, want, message, wantChat] of SKILLS.base) {
      assert.equal(await complete(srv.client, 'base', prompt), want, prompt);
      assert.equal(await chat(srv.client, 'base', message), wantChat, message);
    }
  });

  test('every adapter does its skill on untagged prompts', { skip: NO_STORE }, async () => {
    for (const a of ADAPTERS) {
      for (const [prompt, want, message, wantChat] of SKILLS[a]) {
        assert.equal(await complete(srv.client, a, prompt), want, `${a}: ${prompt}`);
        assert.equal(await chat(srv.client, a, message), wantChat, `${a} chat: ${message}`);
      }
    }
  });

  test('completion response shape and usage', async () => {
    const r = await srv.client.completions.create({ model: 'base', prompt: 'c a t =', temperature: 0, max_tokens: 16 });
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.object, 'text_completion');
    assert.equal(r.model, 'base');
    assert.ok(Math.abs(r.created - Date.now() / 1000) < 60);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].logprobs, null);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    const len = await srv.client.completions.create({
      model: 'base', prompt: 'c a t =', temperature: 0, max_tokens: 2, ignore_eos: true,
    });
    assert.equal(len.choices[0].finish_reason, 'length');
    assert.equal(len.usage.completion_tokens, 2);
  });

  test('completions: prompt lists, n, echo, logprobs, stop', async () => {
    const multi = await srv.client.completions.create({
      model: 'base', prompt: ['c a t =', 'upper: c a t ='], temperature: 0, max_tokens: 16, n: 2,
    });
    assert.deepEqual(multi.choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.deepEqual(multi.choices.map((c) => c.text), [' c a t', ' c a t', ' C A T', ' C A T']);
    const echo = await srv.client.completions.create({ model: 'base', prompt: 'c a t =', temperature: 0, echo: true });
    assert.equal(echo.choices[0].text, 'c a t = c a t');
    const lp = await srv.client.completions.create({
      model: 'base', prompt: 'c a t =', temperature: 0, max_tokens: 16, logprobs: 2,
    });
    const l = lp.choices[0].logprobs;
    assert.equal(l.tokens.length, lp.usage.completion_tokens);
    assert.equal(l.token_logprobs.length, l.tokens.length);
    assert.equal(l.text_offset[0], 0);
    for (let i = 0; i < l.tokens.length; i++) {
      assert.ok(l.token_logprobs[i] <= 0);
      assert.ok(Object.keys(l.top_logprobs[i]).length >= 2);
      assert.ok(l.tokens[i] in l.top_logprobs[i]);
    }
    assert.equal(l.tokens.slice(0, -1).join(''), ' c a t');  // the last token is end-of-text
    const stop = await srv.client.completions.create({ model: 'base', prompt: 'c a t =', temperature: 0, stop: [' t'] });
    assert.equal(stop.choices[0].text, ' c a');
    assert.equal(stop.choices[0].finish_reason, 'stop');
    // Token-id prompts are used as given.
    const ids = JSON.parse(spawnSync(BIN, ['tokenize', '-m', DEMO, '--add-special'], { input: 'c a t =', encoding: 'utf8' }).stdout);
    const byIds = await srv.client.completions.create({ model: 'base', prompt: ids, temperature: 0 });
    assert.equal(byIds.choices[0].text, ' c a t');
    const byIdLists = await srv.client.completions.create({ model: 'base', prompt: [ids, ids], temperature: 0 });
    assert.deepEqual(byIdLists.choices.map((c) => c.text), [' c a t', ' c a t']);
  });

  test('chat: response shape, content parts, system message, logprobs', async () => {
    const r = await srv.client.chat.completions.create({
      model: 'base', temperature: 0, max_completion_tokens: 16, logprobs: true, top_logprobs: 3,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'upper: c a t' }] }],
    });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'C A T');
    assert.equal(r.choices[0].finish_reason, 'stop');
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    for (const t of content) {
      assert.equal(t.top_logprobs.length, 3);
      assert.ok(Array.isArray(t.bytes));
      assert.ok(t.logprob <= 0);
    }
  });

  test('streaming reassembles to the non-streamed result (SDK)', async () => {
    const models = HAVE_STORE ? ['base', ...ADAPTERS] : ['base'];
    for (const model of models) {
      const [prompt, , message] = SKILLS[model][0];
      const whole = await complete(srv.client, model, prompt);
      const stream = await srv.client.completions.create({ model, prompt, temperature: 0, max_tokens: 16, stream: true });
      let text = '';
      let finish = null;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'text_completion');
        text += chunk.choices[0].text;
        if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
      }
      assert.equal(text, whole, `${model} completion stream`);
      assert.equal(finish, 'stop');

      const wholeChat = await chat(srv.client, model, message);
      const cs = await srv.client.chat.completions.create({
        model, messages: [{ role: 'user', content: message }], temperature: 0, max_tokens: 16, stream: true,
        stream_options: { include_usage: true },
      });
      let content = '';
      let roles = 0;
      let usage = null;
      for await (const chunk of cs) {
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
          if (c.delta.role) roles++;
          content += c.delta.content || '';
        }
      }
      assert.equal(content, wholeChat, `${model} chat stream`);
      assert.equal(roles, 1);
      assert.ok(usage && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);
    }
  });

  test('stream wire format: role, content deltas, finish, usage, [DONE]', async () => {
    const r = await post(srv.url, '/v1/chat/completions', {
      model: 'base', messages: [{ role: 'user', content: 'c a t' }], temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const ev = sseEvents(await r.text());
    assert.equal(ev.at(-1), '[DONE]');
    const chunks = ev.slice(0, -1);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, []);
    assert.ok(usage.usage.completion_tokens > 0);
    const fin = chunks.at(-2);
    assert.deepEqual(fin.choices[0].delta, {});
    assert.equal(fin.choices[0].finish_reason, 'stop');
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1);
    for (const c of chunks.slice(0, -1)) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.usage, null);
    }
    assert.equal(chunks.slice(1, -2).map((c) => c.choices[0].delta.content).join(''), 'c a t');

    const cr = await post(srv.url, '/v1/completions', {
      model: 'base', prompt: 'c a t =', temperature: 0, stream: true, echo: true,
    });
    const cev = sseEvents(await cr.text());
    assert.equal(cev.at(-1), '[DONE]');
    assert.equal(cev[0].choices[0].text, 'c a t =');
    assert.equal(cev.slice(0, -1).map((c) => c.choices[0].text).join(''), 'c a t = c a t');
    assert.equal(cev.at(-2).choices[0].finish_reason, 'stop');
    assert.ok(!('usage' in cev[0]));
  });

  test('concurrent requests across all models equal their solo results', async () => {
    const models = HAVE_STORE ? ['base', ...ADAPTERS] : ['base'];
    const jobs = [];
    for (const model of models) {
      for (const [prompt, , message] of SKILLS[model]) {
        jobs.push({ model, kind: 'completion', input: prompt });
        jobs.push({ model, kind: 'chat', input: message });
      }
    }
    const run = (j) => (j.kind === 'completion'
      ? complete(srv.client, j.model, j.input, { max_tokens: 24 })
      : chat(srv.client, j.model, j.input, { max_tokens: 24 }));
    const solo = [];
    for (const j of jobs) solo.push(await run(j));
    const all = [...jobs, ...jobs, ...jobs];
    const together = await Promise.all(all.map(run));
    all.forEach((j, i) => assert.equal(together[i], solo[i % jobs.length], `${j.model} ${j.kind} ${j.input}`));
  });

  test('malformed requests get the right status and error body', async () => {
    const cases = [
      ['/v1/completions', { model: 'base', prompt: 'x', temperature: 5 }, 400, 'temperature'],
      ['/v1/completions', { model: 'base', prompt: 'x', top_p: 0 }, 400, 'top_p'],
      ['/v1/completions', { model: 'base', prompt: 'x', max_tokens: 0 }, 400, 'max_tokens'],
      ['/v1/completions', { model: 'base', prompt: 'x', n: 0 }, 400, 'n'],
      ['/v1/completions', { model: 'base', prompt: 'x', logprobs: 9 }, 400, 'logprobs'],
      ['/v1/completions', { model: 'base', prompt: [] }, 400, 'prompt'],
      ['/v1/completions', { model: 'base', prompt: [99999] }, 400, 'prompt'],
      ['/v1/completions', { model: 'base', prompt: 'a '.repeat(300) }, 400, 'prompt'],
      ['/v1/completions', { model: 'base' }, 400, 'prompt'],
      ['/v1/completions', { prompt: 'x' }, 400, 'model'],
      ['/v1/completions', { model: 'no-such-model', prompt: 'x' }, 404, 'model'],
      ['/v1/chat/completions', { model: 'base', messages: [] }, 400, 'messages'],
      ['/v1/chat/completions', { model: 'base', messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }, 400, 'top_logprobs'],
      ['/v1/chat/completions', { model: 'base', messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages'],
      ['/v1/completions', '{"model": "base", "prompt": ', 400, null],
    ];
    for (const [route, body, status, param] of cases) {
      const r = await post(srv.url, route, body);
      assert.equal(r.status, status, `${route} ${JSON.stringify(body)}`);
      const j = await r.json();
      assert.equal(typeof j.error.message, 'string');
      assert.ok(j.error.message.length > 0);
      assert.equal(typeof j.error.type, 'string');
      assert.ok('code' in j.error);
      assert.equal(j.error.param, param, `${route} ${JSON.stringify(body)}: ${j.error.message}`);
    }
    const ct = await fetch(`${srv.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' });
    assert.equal(ct.status, 415);
    assert.ok((await ct.json()).error);
    const big = await post(srv.url, '/v1/completions', JSON.stringify({ model: 'base', prompt: 'x'.repeat(9 << 20) }));
    assert.equal(big.status, 413);
    assert.ok((await big.json()).error);
    const get = await fetch(`${srv.url}/v1/completions`);
    assert.equal(get.status, 405);
    assert.ok((await get.json()).error);
    const nope = await fetch(`${srv.url}/v1/nope`);
    assert.equal(nope.status, 404);
    assert.ok((await nope.json()).error);
    // The SDK maps statuses to its error classes.
    await assert.rejects(srv.client.completions.create({ model: 'no-such-model', prompt: 'x' }),
      (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
    await assert.rejects(srv.client.completions.create({ model: 'base', prompt: 'x', temperature: 9 }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
  });

  test('metrics: counters move and gauges are exposed', async () => {
    const before = await metrics(srv.url);
    await complete(srv.client, 'base', 'c a t =');
    await post(srv.url, '/v1/completions', { model: 'base', prompt: 'x', temperature: 5 });
    const after = await metrics(srv.url);
    const ok = 'loraplex_requests_total{model="base",code="200"}';
    assert.equal(metric(after, ok), metric(before, ok) + 1);
    const bad = 'loraplex_requests_total{model="unknown",code="400"}';
    assert.equal(metric(after, bad), metric(before, bad) + 1);
    assert.ok(metric(after, 'loraplex_generation_tokens_total{model="base"}') >
      metric(before, 'loraplex_generation_tokens_total{model="base"}'));
    assert.ok(metric(after, 'loraplex_time_to_first_token_seconds_count') >
      metric(before, 'loraplex_time_to_first_token_seconds_count'));
    for (const name of ['loraplex_num_requests_waiting', 'loraplex_num_requests_running', 'loraplex_kv_cache_blocks_used',
      'loraplex_kv_cache_blocks_total', 'loraplex_inter_token_latency_seconds', 'loraplex_e2e_request_latency_seconds',
      'loraplex_lora_cache_hits_total', 'loraplex_lora_requests_info']) {
      assert.match(after, new RegExp(`# HELP ${name} `), name);
      assert.match(after, new RegExp(`# TYPE ${name} `), name);
    }
    assert.ok(metric(after, 'loraplex_kv_cache_blocks_total') > 0);
    if (HAVE_STORE) {
      await complete(srv.client, 'count', 'c a t =');
      const m = await metrics(srv.url);
      assert.ok(metric(m, 'loraplex_lora_cache_hits_total{tier="host"}') + metric(m, 'loraplex_lora_cache_misses_total{tier="host"}') > 0);
      assert.ok(metric(m, 'loraplex_requests_total{model="count",code="200"}') >= 1);
    }
  });

  test('a client that disconnects mid-stream frees its slot at once', async () => {
    const before = await metrics(srv.url);
    const gen0 = metric(before, 'loraplex_engine_generated_tokens_total');
    const gone0 = metric(before, 'loraplex_requests_total{model="base",code="499"}');
    const ctrl = new AbortController();
    const r = await fetch(`${srv.url}/v1/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: ctrl.signal,
      body: JSON.stringify({ model: 'base', prompt: 'c a t =', max_tokens: 250, ignore_eos: true, n: 128, stream: true }),
    });
    assert.equal(r.status, 200);
    const reader = r.body.getReader();
    await reader.read();  // the first chunk: the request is running
    ctrl.abort();
    let m = '';
    const deadline = Date.now() + 10000;
    do {
      await sleep(50);
      m = await metrics(srv.url);
    } while ((metric(m, 'loraplex_num_requests_running') > 0 ||
              metric(m, 'loraplex_requests_total{model="base",code="499"}') === gone0) && Date.now() < deadline);
    assert.equal(metric(m, 'loraplex_num_requests_running'), 0);
    assert.equal(metric(m, 'loraplex_kv_cache_blocks_used'), 0);
    assert.equal(metric(m, 'loraplex_requests_total{model="base",code="499"}'), gone0 + 1);
    assert.ok(metric(m, 'loraplex_engine_generated_tokens_total') - gen0 < 128 * 250, 'cancelled before the end');
  });

  test('a non-streaming client that goes away is cancelled too', async () => {
    const gone0 = metric(await metrics(srv.url), 'loraplex_requests_total{model="base",code="499"}');
    const ctrl = new AbortController();
    const p = fetch(`${srv.url}/v1/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: ctrl.signal,
      body: JSON.stringify({ model: 'base', prompt: 'c a t =', max_tokens: 250, ignore_eos: true, n: 128 }),
    }).catch((e) => e);
    await sleep(150);
    ctrl.abort();
    await p;
    let m = '';
    const deadline = Date.now() + 10000;
    do {
      await sleep(50);
      m = await metrics(srv.url);
    } while (metric(m, 'loraplex_requests_total{model="base",code="499"}') === gone0 && Date.now() < deadline);
    assert.equal(metric(m, 'loraplex_requests_total{model="base",code="499"}'), gone0 + 1);
    assert.equal(metric(m, 'loraplex_num_requests_running'), 0);
  });
});

test('serve --help documents every flag, its default and its environment variable', () => {
  const r = spawnSync(BIN, ['serve', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['--model', '--host', '--port', '--threads', '--max-num-seqs', '--max-batch-tokens', '--api-key',
    '--peft-source', '--lora-store', '--peft-refresh-interval', '--max-cpu-loras', '--max-gpu-loras', '--max-lora-rank',
    '--served-model-name', '--max-model-len']) {
    assert.match(r.stdout, new RegExp(`${flag}\\b`), flag);
  }
  for (const env of ['NIM_PEFT_SOURCE', 'NIM_PEFT_REFRESH_INTERVAL', 'NIM_MAX_CPU_LORAS', 'NIM_MAX_GPU_LORAS',
    'NIM_MAX_LORA_RANK', 'NIM_SERVED_MODEL_NAME', 'NIM_MAX_MODEL_LEN', 'NIM_SERVER_PORT', 'NIM_API_KEY']) {
    assert.match(r.stdout, new RegExp(env), env);
  }
  assert.match(r.stdout, /127\.0\.0\.1/);
  assert.match(r.stdout, /8000/);
});

test('startup failures exit 1 with the reason', () => {
  let r = spawnSync(BIN, ['serve', '--model', path.join(tmpdir(), 'no-such-model-dir'), '--port', '0'],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /no-such-model-dir/);
  r = spawnSync(BIN, ['serve', '--model', DEMO, '--port', '0'],
    { encoding: 'utf8', timeout: 20000, env: { ...process.env, NIM_PEFT_SOURCE: path.join(tmpdir(), 'no-such-store') } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /NIM_PEFT_SOURCE/);
  r = spawnSync(BIN, ['serve', '--model', DEMO, '--port', '70000'], { encoding: 'utf8', timeout: 20000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /port/);
});

test('NIM_SERVED_MODEL_NAME names the base model; NIM_MAX_MODEL_LEN caps the context', async () => {
  const srv = await startServer({ env: { NIM_SERVED_MODEL_NAME: 'demo-llm', NIM_MAX_MODEL_LEN: '64' } });
  try {
    const list = await srv.client.models.list();
    assert.equal(list.data[0].id, 'demo-llm');
    assert.equal(list.data[0].max_model_len, 64);
    assert.equal(await complete(srv.client, 'demo-llm', 'c a t ='), ' c a t');
    const r = await post(srv.url, '/v1/completions', { model: 'demo-llm', prompt: 'a '.repeat(70) });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.param, 'prompt');
    const base = await post(srv.url, '/v1/completions', { model: 'base', prompt: 'x' });
    assert.equal(base.status, 404);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('--api-key: 401 without the key, health stays open', async () => {
  const srv = await startServer({ env: { NIM_API_KEY: 'sekrit' } });
  try {
    assert.equal((await fetch(`${srv.url}/v1/health/live`)).status, 200);
    assert.equal((await fetch(`${srv.url}/v1/health/ready`)).status, 200);
    const none = await fetch(`${srv.url}/v1/models`);
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error.code, 'invalid_api_key');
    const wrong = await post(srv.url, '/v1/completions', { model: 'base', prompt: 'x' }, { Authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal(await complete(srv.client, 'base', 'c a t ='), ' c a t');  // the SDK sends the key
    const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  } finally {
    await srv.stop();
  }
});

test('NIM_MAX_CPU_LORAS=2: a third busy adapter gets 429 until one finishes', { skip: NO_STORE }, async () => {
  const srv = await startServer({ env: { NIM_PEFT_SOURCE: STORE, NIM_MAX_CPU_LORAS: '2' } });
  try {
    // Two long streamed chats keep count and upper pinned; the role chunk arrives once each is queued.
    const long = (model, n) => {
      const ctrl = new AbortController();
      const response = fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: ctrl.signal,
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'c a t' }], max_tokens: 250, ignore_eos: true,
          n, stream: true }),
      });
      return { ctrl, response };
    };
    const a = long('count', 32);  // 32 sequences: the first batch
    const b = long('upper', 128);  // waits behind them, then runs for a while
    const ra = await a.response;
    const rb = await b.response;
    assert.equal(ra.status, 200);
    assert.equal(rb.status, 200);
    const readerA = ra.body.getReader();
    const readerB = rb.body.getReader();
    await readerA.read();
    await readerB.read();
    const refused = await post(srv.url, '/v1/completions', { model: 'reverse', prompt: 'c a t =', temperature: 0 });
    assert.equal(refused.status, 429);
    const err = (await refused.json()).error;
    assert.equal(err.param, 'model');
    assert.match(err.message, /reverse/);
    await assert.rejects(srv.client.completions.create({ model: 'shift', prompt: 'c a t =' }),
      (e) => e instanceof OpenAI.RateLimitError);
    // Once count's request finishes its slot frees: reverse loads while upper is still pinned (its role
    // chunk means the lease is held), then upper's client goes away and reverse runs.
    while (!(await readerA.read()).done) { /* drain */ }
    const rr = await post(srv.url, '/v1/chat/completions', {
      model: 'reverse', messages: [{ role: 'user', content: 'c a t' }], temperature: 0, max_tokens: 16, stream: true,
    });
    assert.equal(rr.status, 200);
    const readerR = rr.body.getReader();
    const decoder = new TextDecoder();
    let body = decoder.decode((await readerR.read()).value);
    b.ctrl.abort();
    readerB.cancel().catch(() => {});
    for (let c = await readerR.read(); !c.done; c = await readerR.read()) body += decoder.decode(c.value);
    const content = sseEvents(body).filter((e) => e !== '[DONE]').map((e) => e.choices[0].delta.content || '').join('');
    assert.equal(content, 't a c');
    const m = await metrics(srv.url);
    assert.ok(metric(m, 'loraplex_requests_total{model="reverse",code="429"}') >= 1);
    assert.ok(metric(m, 'loraplex_lora_cache_evictions_total{tier="host"}') >= 1);
  } finally {
    await srv.stop();
  }
});

test('NIM_PEFT_REFRESH_INTERVAL=1: an adapter copied into the store appears and answers', { skip: NO_STORE }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lpx-store-'));
  for (const a of ['count', 'upper']) cpSync(path.join(STORE, a), path.join(dir, a), { recursive: true });
  const srv = await startServer({ env: { NIM_PEFT_SOURCE: dir, NIM_PEFT_REFRESH_INTERVAL: '1' } });
  try {
    const ids = async () => (await srv.client.models.list()).data.map((m) => m.id);
    assert.ok(!(await ids()).includes('shift'));
    const r = await post(srv.url, '/v1/completions', { model: 'shift', prompt: 'c a t =' });
    assert.equal(r.status, 404);
    // Copy under a dot name, then rename: the scanner never sees a half-written folder.
    cpSync(path.join(STORE, 'shift'), path.join(dir, '.shift.tmp'), { recursive: true });
    spawnSync('mv', [path.join(dir, '.shift.tmp'), path.join(dir, 'shift')]);
    const t0 = Date.now();
    while (!(await ids()).includes('shift')) {
      assert.ok(Date.now() - t0 < 4000, 'shift did not appear within 4 s');
      await sleep(100);
    }
    assert.ok(Date.now() - t0 < 3000, `appeared after ${Date.now() - t0} ms`);
    assert.equal(await complete(srv.client, 'shift', 'c a t ='), ' d b u');
    // Removal: the adapter disappears from the list.
    rmSync(path.join(dir, 'upper'), { recursive: true, force: true });
    const t1 = Date.now();
    while ((await ids()).includes('upper')) {
      assert.ok(Date.now() - t1 < 4000, 'upper was not removed within 4 s');
      await sleep(100);
    }
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM: running requests finish, new ones are refused, exit 0', async () => {
  const srv = await startServer({ args: ['--shutdown-timeout', '120'] });  // never cut short on a slow machine
  const running = srv.client.completions.create({
    model: 'base', prompt: 'c a t =', max_tokens: 250, ignore_eos: true, n: 64, temperature: 0,
  });
  await sleep(150);
  srv.proc.kill('SIGTERM');
  await sleep(100);
  const late = await fetch(`${srv.url}/v1/health/ready`).catch((e) => e);
  assert.ok(late instanceof Error || late.status === 503, 'refused while shutting down');
  const r = await running;
  assert.equal(r.choices.length, 64);
  for (const c of r.choices) assert.equal(c.finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 64 * 250);
  const { code } = await srv.exited;
  assert.equal(code, 0, srv.log());
  assert.match(srv.log(), /shutting down/);
  const after = await fetch(`${srv.url}/v1/health/live`).catch((e) => e);
  assert.ok(after instanceof Error, 'the port is closed');
});
