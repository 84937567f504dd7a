#!/usr/bin/env bash
# Serving benchmark (never part of `make test`): `loraplex serve` on a synthetic random-weight model
# of a real shape with synthetic rank-16 PEFT adapters, driven by bench/loadgen.mjs over the matrix
# adapters {1, 8, 32} x concurrency {1, 8, 32}. Prints a markdown table on stdout, progress on
# stderr; each cell's JSON goes to BUILD_DIR/bench-results/serve-SHAPE/.
#
#   bench/serve_bench.sh [BUILD_DIR] [--shape tinyllama-1.1b|smollm2-135m] [--quick]
#                        [--adapters "1 8 32"] [--concurrency "1 8 32"] [--max-tokens 16]
#                        [--prompt-tokens 32] [--cell-cap SECONDS] [--gpu-loras N] [--threads N]
#                        [--requests N]
#
# --quick: one cell (8 adapters, concurrency 8) as a smoke check. Requests per cell: max(2*C, 8),
# or N with --requests (more requests make the p99 figures steadier).
# --cell-cap: no new request starts in a cell after that many seconds (in-flight ones finish).
# --gpu-loras: device-tier slots (the server's --max-gpu-loras; default: the server's default, 8).
# The host tier is sized to hold every adapter (no 429s); the rank cap is the adapters' rank.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=build
SHAPE=tinyllama-1.1b
QUICK=0
ADAPTER_COUNTS="1 8 32"
CONCURRENCIES="1 8 32"
MAX_TOKENS=16
PROMPT_TOKENS=32
CELL_CAP=300
GPU_LORAS=
THREADS=
RANK=16
REQUESTS=
positional=0
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) SHAPE=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --adapters) ADAPTER_COUNTS=$2; shift 2 ;;
    --concurrency) CONCURRENCIES=$2; shift 2 ;;
    --max-tokens) MAX_TOKENS=$2; shift 2 ;;
    --prompt-tokens) PROMPT_TOKENS=$2; shift 2 ;;
    --cell-cap) CELL_CAP=$2; shift 2 ;;
    --gpu-loras) GPU_LORAS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "serve_bench: unknown option '$1'" >&2; exit 2 ;;
    *) if [ $positional -eq 0 ]; then BUILD_DIR=$1; positional=1; shift
       else echo "serve_bench: unexpected argument '$1'" >&2; exit 2; fi ;;
  esac
done
if [ $QUICK -eq 1 ]; then ADAPTER_COUNTS=8; CONCURRENCIES=8; fi

BIN="$BUILD_DIR/loraplex"
[ -x "$BIN" ] || { echo "serve_bench: $BIN not found (build first)" >&2; exit 1; }
command -v node >/dev/null || { echo "serve_bench: node not found" >&2; exit 1; }
MODEL="$BUILD_DIR/synthetic/$SHAPE"
STORE="$BUILD_DIR/synthetic/$SHAPE-loras-r$RANK"
RESULTS="$BUILD_DIR/bench-results/serve-$SHAPE"
mkdir -p "$RESULTS"
log() { echo "serve_bench: $*" >&2; }

# 1. The synthetic model (written once, then reused) and the adapters.
log "synthetic model $SHAPE in $MODEL"
"$BIN" --log-level warn bench --synthetic "$SHAPE" --cache-dir "$BUILD_DIR/synthetic" \
  --prompt-tokens 8 --decode-tokens 2 --reps 1 --skip-bandwidth >/dev/null
max_adapters=1
for a in $ADAPTER_COUNTS; do [ "$a" -gt "$max_adapters" ] && max_adapters=$a; done
mapfile -t NAMES < <(node "$HERE/make_adapters.mjs" "$MODEL" "$STORE" "$max_adapters" "$RANK")
[ "${#NAMES[@]}" -ge "$max_adapters" ] || { log "writing the adapters failed"; exit 1; }

# 2. The server, on a free port; its log goes to RESULTS/serve.log.
SERVER_LOG="$RESULTS/serve.log"
args=(serve --model "$MODEL" --port 0 --peft-source "$STORE" --max-cpu-loras $((max_adapters + 8))
      --max-lora-rank "$RANK")
[ -n "$GPU_LORAS" ] && args+=(--max-gpu-loras "$GPU_LORAS")
[ -n "$THREADS" ] && args+=(--threads "$THREADS")
log "starting $BIN ${args[*]}"
"$BIN" --log-level info "${args[@]}" 2>"$SERVER_LOG" >/dev/null &
SERVER_PID=$!
stop_server() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM
PORT=
for _ in $(seq 1 600); do
  PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$SERVER_LOG" | head -n1)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; log "the server exited"; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$SERVER_LOG" >&2; log "no listening line after 60 s"; exit 1; }
URL="http://127.0.0.1:$PORT"
log "server on $URL (log: $SERVER_LOG)"

# 3. Warm-up: one short request per adapter, so cold loads from disk stay out of the cells.
warm=$(IFS=,; echo "${NAMES[*]:0:$max_adapters}")
log "warm-up: one request for each of $max_adapters adapter(s) and the base model"
node "$HERE/loadgen.mjs" --url "$URL" --wait-ready 600 --concurrency 1 --base-only --requests 1 \
  --max-tokens 2 --prompt-tokens 8 --logprobs --quiet --json >/dev/null
node "$HERE/loadgen.mjs" --url "$URL" --concurrency 8 --adapters "$warm" --requests "$max_adapters" \
  --max-tokens 1 --prompt-tokens 8 --logprobs --quiet --json >/dev/null
grep -E 'memory estimate|adapter store' "$SERVER_LOG" | sed 's/^/serve_bench:   /' >&2 || true
# Resident set at idle (after warm-up) against the startup estimate (weights + KV cache + device
# tier + activations) plus the host tier's bytes now (loraplex_lora_cache_bytes) -> memory.json.
sleep 1
estimate=$(sed -n 's|.*memory estimate:.* = \([0-9.]*\) MiB;.*|\1|p' "$SERVER_LOG" | head -n1)
host_bytes=$(curl -s "$URL/v1/metrics" | sed -n 's|^loraplex_lora_cache_bytes{tier="host"} \([0-9.e+]*\)$|\1|p')
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
awk -v e="${estimate:-0}" -v h="${host_bytes:-0}" -v k="$rss_kb" 'BEGIN {
  printf "{\"startup_estimate_mib\": %.1f, \"host_tier_mib\": %.1f, \"estimate_mib\": %.1f, \"rss_mib\": %.1f}\n",
         e, h / 1048576, e + h / 1048576, k / 1024 }' >"$RESULTS/memory.json"
log "idle resident set: $(cat "$RESULTS/memory.json")"

# 4. The matrix.
rows=()
for a in $ADAPTER_COUNTS; do
  list=$(IFS=,; echo "${NAMES[*]:0:$a}")
  for c in $CONCURRENCIES; do
    n=$((2 * c)); [ $n -lt 8 ] && n=8; [ -n "$REQUESTS" ] && n=$REQUESTS
    out="$RESULTS/a$a-c$c.json"
    log "cell: $a adapter(s), concurrency $c, $n requests, max_tokens $MAX_TOKENS, prompt ~$PROMPT_TOKENS (cap ${CELL_CAP}s)"
    t0=$(date +%s)
    node "$HERE/loadgen.mjs" --url "$URL" --concurrency "$c" --adapters "$list" --requests "$n" \
      --max-tokens "$MAX_TOKENS" --prompt-tokens "$PROMPT_TOKENS" --logprobs --time-cap "$CELL_CAP" \
      --label "a$a-c$c" --json >"$out" || log "cell a$a-c$c: loadgen failed (see above)"
    log "cell done in $(( $(date +%s) - t0 )) s"
    rows+=("$out")
  done
done

# 5. The table.
threads=${THREADS:-$(nproc)}
echo "### loraplex serve: $SHAPE (synthetic bf16), rank-$RANK adapters, $threads threads," \
  "max_tokens $MAX_TOKENS, prompt ~$PROMPT_TOKENS tokens, gpu-loras ${GPU_LORAS:-default}"
echo
node - "${rows[@]}" <<'EOF'
const fs = require('node:fs');
const f = (v, d) => (v === null || v === undefined ? '-' : v.toFixed(d));
console.log('| adapters | concurrency | requests | req/s | gen tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | errors |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const file of process.argv.slice(2)) {
  let j;
  try { j = JSON.parse(fs.readFileSync(file, 'utf8')); } catch {
    console.log(`| ${file} | failed | | | | | | | | |`);
    continue;
  }
  const err = Object.entries(j.errors).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  const req = `${j.requests.completed}/${j.requests.planned}${j.capped ? ' (cap)' : ''}`;
  console.log(`| ${j.models.length} | ${j.concurrency} | ${req} | ${f(j.request_throughput, 3)} | ` +
    `${f(j.output_throughput, 1)} | ${f(j.ttft_ms.p50, 0)} | ${f(j.ttft_ms.p99, 0)} | ${f(j.itl_ms.p50, 1)} | ` +
    `${f(j.itl_ms.p99, 1)} | ${err} |`);
}
EOF
