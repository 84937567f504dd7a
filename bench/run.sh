#!/usr/bin/env bash
# `make bench`: the machine's limits (memory bandwidth, our GEMMs, the oneDNN / OpenBLAS
# yardsticks), then end-to-end speed on synthetic models of real shapes (bf16 and --dtype q8, all
# cores), multi-LoRA, cold loads, serving (TTFT, idle memory), the kernel micro-benchmarks, and
# finally bench/summary.mjs: every issue-6 figure with its ratio to its limit and target.
# Never part of `make test`. Results (text and JSON) go to BUILD_DIR/bench-results/.
set -euo pipefail
BUILD_DIR=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$BUILD_DIR/loraplex"
OUT="$BUILD_DIR/bench-results"
mkdir -p "$OUT"
bench() { "$BIN" --log-level warn bench --cache-dir "$BUILD_DIR/synthetic" "$@"; }

echo "== limits: matmul yardsticks (oneDNN, OpenBLAS; 2 threads = all cores here)"
if [ -x "$BUILD_DIR/loraplex_yardstick" ]; then
  "$BUILD_DIR/loraplex_yardstick" "$(nproc)" | tee "$OUT/yardstick.json"
else
  echo "(loraplex_yardstick not built: run scripts/install-deps.sh --bench, then make build)"
  rm -f "$OUT/yardstick.json"
fi
echo "== limits and kernels: loraplex_bench (our GEMMs, GEMVs, bandwidth)"
"$BUILD_DIR/loraplex_bench" --benchmark_min_time=0.2 --benchmark_out="$OUT/kernels.json" \
  --benchmark_out_format=json 2>&1 | tee "$OUT/kernels.txt"

for shape in smollm2-135m tinyllama-1.1b; do
  echo "== $shape: prefill 512 tokens, decode 64 tokens, batch 1 (bf16, then q8 right after)"
  bench --synthetic "$shape" --prompt-tokens 512 --decode-tokens 64 --reps 2 --json-out "$OUT/$shape.json" \
    | tee "$OUT/$shape.txt"
  bench --synthetic "$shape" --prompt-tokens 512 --decode-tokens 64 --reps 2 --dtype q8 \
    --json-out "$OUT/$shape-q8.json" | tee "$OUT/$shape-q8.txt"
done
echo "== q8 vs bf16 decode, tinyllama-1.1b, batch 1, prompt 512: three alternating pairs (the machine drifts)"
for i in 1 2 3; do
  for d in auto q8; do
    bench --synthetic tinyllama-1.1b --skip-bandwidth --prompt-tokens 512 --decode-tokens 64 --reps 1 --dtype "$d" \
      --json-out "$OUT/q8pair$i-$d.json" | grep decode | sed "s/^/pair $i $d: /"
  done
done
echo "== batched decode and multi-LoRA: tinyllama-1.1b, 16 and 32 sequences, rank-16 adapters on all 7 modules"
: >"$OUT/multilora.txt"
for spec in "16 0" "16 16" "1 0" "32 0" "32 32"; do
  set -- $spec
  bench --synthetic tinyllama-1.1b --skip-bandwidth --prompt-tokens 16 --decode-tokens 24 --batch "$1" \
    --adapters "$2" --lora-rank 16 --reps 2 --json-out "$OUT/b$1-a$2.json" | tee -a "$OUT/multilora.txt"
done
echo "== 64 adapters of mixed ranks (8..64) over 32 sequences, device tier of 16 slots (smaller than the working set)"
bench --synthetic tinyllama-1.1b --skip-bandwidth --prompt-tokens 16 --decode-tokens 24 --batch 32 --adapters 64 \
  --mixed-ranks 8 16 32 64 --gpu-loras 16 --reps 1 --json-out "$OUT/b32-mixed64.json" | tee -a "$OUT/multilora.txt"
bench --synthetic tinyllama-1.1b --skip-bandwidth --prompt-tokens 16 --decode-tokens 24 --batch 32 --reps 1 \
  --json-out "$OUT/b32-a0-again.json" | tee -a "$OUT/multilora.txt"
echo "== adapter cold load (disk -> host -> device), tinyllama-1.1b, all 7 modules"
bench --synthetic tinyllama-1.1b --skip-bandwidth --prompt-tokens 8 --decode-tokens 2 --reps 1 \
  --cold-load 8 16 64 --json-out "$OUT/cold-load.json" | tee "$OUT/cold-load.txt"
echo "== serving: SmolLM2-135M shape, 8 adapters, concurrency 32 (TTFT spread, idle memory)"
"$HERE/serve_bench.sh" "$BUILD_DIR" --shape smollm2-135m --adapters 8 --concurrency 32 --requests 256 | tee "$OUT/serve-smollm2-135m.md"
echo "== serving: TinyLlama-1.1B shape, adapters x concurrency"
"$HERE/serve_bench.sh" "$BUILD_DIR" | tee "$OUT/serve-tinyllama-1.1b.md"
echo "== q8 vs bf16 greedy agreement on the demo model (the goldens' prompts)"
if [ -x "$BUILD_DIR/loraplex_tests" ]; then
  "$BUILD_DIR/loraplex_tests" --gtest_filter='DemoGoldens.Q8GreedyAgreesWithBf16' 2>&1 | grep 'q8 vs' \
    | tee "$OUT/q8-agreement.txt" || true
fi
echo
node "$HERE/summary.mjs" "$OUT" | tee "$OUT/summary.md"
