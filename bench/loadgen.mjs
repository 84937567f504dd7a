#!/usr/bin/env node
// Load generator for `loraplex serve` (any OpenAI-compatible server): keeps C streaming
// /v1/completions requests in flight and reports throughput and latency percentiles.
// Benchmark tooling only, never a test. Node 20, standard library only.
//
//   node bench/loadgen.mjs --url http://127.0.0.1:PORT --concurrency C (--adapters a,b,c | --base-only)
//     --requests N --max-tokens T --prompt-tokens P [--json] [--logprobs] [--time-cap S]
//     [--request-timeout S] [--wait-ready S] [--label TEXT] [--quiet]
//
// Request i uses adapter i mod len(adapters) (or the base model: the /v1/models entry without a
// parent). Prompts are P random lowercase letters separated by spaces (one token per letter with
// the demo tokenizer), different for every request so nothing can be reused across requests.
// Every request streams with ignore_eos, temperature 0 and stream_options.include_usage.
//
// Per request: TTFT = start -> first token chunk, ITL = gaps between token chunks, E2E = start ->
// end of stream, tokens = usage.completion_tokens. A token chunk is one whose choice has text, or
// logprobs tokens: --logprobs asks for logprobs 0 so every token gets its own chunk even when it
// decodes to no text (random-weight models emit ids the tokenizer cannot spell).
// --time-cap S: no new request starts after S seconds (the ones in flight finish).
import { performance } from 'node:perf_hooks';

const HELP = `usage: node bench/loadgen.mjs --url URL --concurrency C (--adapters a,b,c | --base-only)
  --requests N --max-tokens T --prompt-tokens P [options]
  --json               print one JSON object on stdout (else a readable report)
  --logprobs           request logprobs 0: one chunk per token even when tokens decode to no text
  --time-cap S         start no new request after S seconds (0 = no cap; default 0)
  --request-timeout S  abort a request after S seconds (default 900)
  --wait-ready S       first wait up to S seconds for GET /v1/health/ready = 200 (default 0)
  --api-key KEY        send Authorization: Bearer KEY (default: env OPENAI_API_KEY / NIM_API_KEY)
  --label TEXT         copied into the JSON output
  --quiet              no progress lines on stderr
`;

function die(msg) {
  process.stderr.write(`loadgen: ${msg}\n${HELP}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    url: null, concurrency: 1, adapters: null, baseOnly: false, requests: null, maxTokens: 16, promptTokens: 32,
    json: false, logprobs: false, timeCap: 0, requestTimeout: 900, waitReady: 0, label: null, quiet: false,
    apiKey: process.env.OPENAI_API_KEY || process.env.NIM_API_KEY || null,
  };
  const num = (flag, v, min) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) die(`${flag} needs a number >= ${min}, got '${v}'`);
    return n;
  };
  const int = (flag, v, min) => {
    const n = num(flag, v, min);
    if (!Number.isInteger(n)) die(`${flag} needs an integer, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    switch (a) {
      case '--url': o.url = next(); break;
      case '--concurrency': case '-c': o.concurrency = int(a, next(), 1); break;
      case '--adapters': o.adapters = (next() || '').split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--base-only': o.baseOnly = true; break;
      case '--requests': case '-n': o.requests = int(a, next(), 1); break;
      case '--max-tokens': o.maxTokens = int(a, next(), 1); break;
      case '--prompt-tokens': o.promptTokens = int(a, next(), 1); break;
      case '--json': o.json = true; break;
      case '--logprobs': o.logprobs = true; break;
      case '--time-cap': o.timeCap = num(a, next(), 0); break;
      case '--request-timeout': o.requestTimeout = num(a, next(), 1); break;
      case '--wait-ready': o.waitReady = num(a, next(), 0); break;
      case '--api-key': o.apiKey = next(); break;
      case '--label': o.label = next(); break;
      case '--quiet': o.quiet = true; break;
      case '-h': case '--help': process.stdout.write(HELP); process.exit(0); break;
      default: die(`unknown argument '${a}'`);
    }
  }
  if (!o.url) die('--url is required');
  o.url = o.url.replace(/\/+$/, '');
  if (o.baseOnly === (o.adapters !== null)) die('give exactly one of --adapters a,b,c and --base-only');
  if (o.adapters !== null && o.adapters.length === 0) die('--adapters needs at least one name');
  if (o.requests === null) die('--requests is required');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Linear interpolation between closest ranks (numpy's default); null for no samples.
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

function summary(values, ps) {
  const s = [...values].sort((a, b) => a - b);
  const out = { n: s.length, mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : null };
  for (const p of ps) out[`p${p}`] = percentile(s, p);
  return out;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
function randomPrompt(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = LETTERS[Math.floor(Math.random() * 26)];
  return out.join(' ');
}

async function waitReady(o) {
  const deadline = Date.now() + o.waitReady * 1000;
  for (;;) {
    const r = await fetch(`${o.url}/v1/health/ready`).catch(() => null);
    if (r && r.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${o.url}/v1/health/ready did not answer 200 within ${o.waitReady} s`);
    await sleep(100);
  }
}

async function listModels(o, headers) {
  const r = await fetch(`${o.url}/v1/models`, { headers });
  if (r.status !== 200) throw new Error(`GET /v1/models: HTTP ${r.status}: ${await r.text()}`);
  const j = await r.json();
  return j.data || [];
}

// One streaming request; resolves to its measurements (never throws).
async function runOne(o, headers, model, prompt) {
  const res = { model, ok: false, status: null, error: null, ttft: null, itl: [], e2e: null, tokens: null,
    promptTokens: null, chunks: 0 };
  const body = {
    model, prompt, max_tokens: o.maxTokens, temperature: 0, ignore_eos: true, stream: true,
    stream_options: { include_usage: true },
  };
  if (o.logprobs) body.logprobs = 0;
  const t0 = performance.now();
  let last = null;
  try {
    const r = await fetch(`${o.url}/v1/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body),
      signal: AbortSignal.timeout(o.requestTimeout * 1000),
    });
    res.status = r.status;
    if (r.status !== 200) {
      const text = await r.text().catch(() => '');
      let msg = text;
      try { msg = JSON.parse(text).error.message; } catch { /* keep the raw text */ }
      res.error = `HTTP ${r.status}: ${String(msg).slice(0, 200)}`;
      return res;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let done = false;
    const onEvent = (block) => {
      let data = '';
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('data:')) data += line.slice(line.startsWith('data: ') ? 6 : 5);
      }
      if (!data) return;
      if (data === '[DONE]') { done = true; return; }
      const now = performance.now();
      const ev = JSON.parse(data);
      if (ev.error) throw new Error(`stream error: ${ev.error.message || JSON.stringify(ev.error)}`);
      if (ev.usage) {
        res.tokens = ev.usage.completion_tokens;
        res.promptTokens = ev.usage.prompt_tokens;
      }
      const c = ev.choices && ev.choices[0];
      if (c && ((typeof c.text === 'string' && c.text.length > 0) || (c.logprobs && c.logprobs.tokens && c.logprobs.tokens.length))) {
        res.chunks++;
        if (last === null) res.ttft = now - t0;
        else res.itl.push(now - last);
        last = now;
      }
    };
    while (!done) {
      const { value, done: eof } = await reader.read();
      if (eof) break;
      buf += decoder.decode(value, { stream: true });
      let k;
      while ((k = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, k);
        buf = buf.slice(k).replace(/^\r?\n\r?\n/, '');
        onEvent(block);
        if (done) break;
      }
    }
    if (!done) throw new Error('stream ended without [DONE]');
    reader.cancel().catch(() => {});
    res.e2e = performance.now() - t0;
    if (res.tokens === null) throw new Error('no usage chunk');
    res.ok = true;
  } catch (e) {
    res.error = e.name === 'TimeoutError' ? `timeout after ${o.requestTimeout} s` : String(e.message || e);
    if (res.status === 200 || res.status === null) res.status = e.name === 'TimeoutError' ? 'timeout' : (res.status === 200 ? 'stream' : 'network');
  }
  return res;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const headers = o.apiKey ? { Authorization: `Bearer ${o.apiKey}` } : {};
  if (o.waitReady > 0) await waitReady(o);
  const models = await listModels(o, headers);
  let targets;
  if (o.baseOnly) {
    const base = models.find((m) => m.parent === null || m.parent === undefined) || models[0];
    if (!base) throw new Error('GET /v1/models lists no model');
    targets = [base.id];
  } else {
    const ids = new Set(models.map((m) => m.id));
    const missing = o.adapters.filter((a) => !ids.has(a));
    if (missing.length) process.stderr.write(`loadgen: warning: not in /v1/models: ${missing.join(', ')}\n`);
    targets = o.adapters;
  }

  const results = [];
  let next = 0;
  let inFlight = 0;
  let capped = false;
  const t0 = performance.now();
  let tEnd = t0;
  const progress = o.quiet ? null : setInterval(() => {
    const el = ((performance.now() - t0) / 1000).toFixed(1);
    process.stderr.write(`loadgen: ${results.length}/${o.requests} done, ${inFlight} in flight, ${el} s\n`);
  }, 10000);
  const worker = async () => {
    for (;;) {
      if (next >= o.requests) return;
      if (o.timeCap > 0 && performance.now() - t0 > o.timeCap * 1000) { capped = true; return; }
      const i = next++;
      inFlight++;
      const started = performance.now() - t0;
      const r = await runOne(o, headers, targets[i % targets.length], randomPrompt(o.promptTokens));
      r.index = i;
      r.startedMs = started;
      inFlight--;
      tEnd = performance.now();
      results.push(r);
      if (!r.ok && !o.quiet) process.stderr.write(`loadgen: request ${i} (${r.model}): ${r.error}\n`);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  if (progress) clearInterval(progress);

  const ok = results.filter((r) => r.ok);
  const dur = (tEnd - t0) / 1000;
  const errors = {};
  for (const r of results) if (!r.ok) errors[r.status] = (errors[r.status] || 0) + 1;
  const genTokens = ok.reduce((a, r) => a + r.tokens, 0);
  const noChunks = ok.filter((r) => r.ttft === null).length;
  const out = {
    label: o.label, url: o.url, models: targets, concurrency: o.concurrency, max_tokens: o.maxTokens,
    prompt_tokens_requested: o.promptTokens, logprobs: o.logprobs,
    requests: { planned: o.requests, sent: results.length, completed: ok.length, failed: results.length - ok.length },
    capped, duration_s: dur,
    request_throughput: dur > 0 ? ok.length / dur : null,
    output_throughput: dur > 0 ? genTokens / dur : null,
    generated_tokens: genTokens,
    mean_prompt_tokens: ok.length ? ok.reduce((a, r) => a + (r.promptTokens || 0), 0) / ok.length : null,
    ttft_ms: summary(ok.filter((r) => r.ttft !== null).map((r) => r.ttft), [50, 90, 99]),
    itl_ms: summary(ok.flatMap((r) => r.itl), [50, 90, 99]),
    e2e_ms: summary(ok.map((r) => r.e2e), [50, 90, 99]),
    // Per request, in send order: [index, ms after the run started, TTFT ms] (tail analysis).
    ttft_by_request: ok.filter((r) => r.ttft !== null).sort((a, b) => a.index - b.index)
      .map((r) => [r.index, Math.round(r.startedMs), Math.round(r.ttft)]),
    errors,
    requests_without_token_chunks: noChunks,
  };
  if (noChunks > 0) {
    process.stderr.write(`loadgen: warning: ${noChunks} request(s) streamed no token chunk (tokens that decode to ` +
      'no text are not sent on their own); TTFT/ITL miss them; --logprobs fixes that\n');
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    const f = (v, d = 1) => (v === null || v === undefined ? '-' : v.toFixed(d));
    const ms = (s) => `p50 ${f(s.p50)}  p90 ${f(s.p90)}  p99 ${f(s.p99)}  mean ${f(s.mean)} ms (n=${s.n})`;
    process.stdout.write([
      `models          ${targets.length === 1 ? targets[0] : `${targets.length} adapters`}, concurrency ${o.concurrency}, ` +
        `max_tokens ${o.maxTokens}, prompt ~${o.promptTokens} tokens`,
      `requests        ${ok.length} ok / ${results.length} sent of ${o.requests}${capped ? ' (time cap hit)' : ''} ` +
        `in ${f(dur, 2)} s`,
      `throughput      ${f(out.request_throughput, 3)} req/s, ${f(out.output_throughput, 2)} generated tok/s ` +
        `(${genTokens} tokens)`,
      `TTFT            ${ms(out.ttft_ms)}`,
      `ITL             ${ms(out.itl_ms)}`,
      `E2E             ${ms(out.e2e_ms)}`,
      `errors          ${Object.keys(errors).length ? Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'}`,
      '',
    ].join('\n'));
  }
  process.exitCode = ok.length === 0 ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`loadgen: ${e.message || e}\n`);
  process.exit(1);
});
