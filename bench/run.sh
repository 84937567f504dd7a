#!/usr/bin/env bash
# `make bench`: end-to-end speed on synthetic models of real shapes (bf16, all cores) with the
# machine's measured memory bandwidth, then the kernel micro-benchmarks. Never part of `make test`.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/loraplex"
OUT="$BUILD_DIR/bench-results"
mkdir -p "$OUT"
for shape in smollm2-135m tinyllama-1.1b; do
  echo "== $shape: prefill 512 tokens, decode 64 tokens, batch 1"
  "$BIN" --log-level warn bench --synthetic "$shape" --cache-dir "$BUILD_DIR/synthetic" \
    --prompt-tokens 512 --decode-tokens 64 --reps 2 | tee "$OUT/$shape.txt"
done
echo "== batched decode and multi-LoRA: tinyllama-1.1b, 16 and 32 sequences, rank-16 adapters on all 7 modules"
for spec in "16 0" "16 1" "16 4" "16 16" "32 0" "32 32"; do
  set -- $spec
  "$BIN" --log-level warn bench --synthetic tinyllama-1.1b --cache-dir "$BUILD_DIR/synthetic" --skip-bandwidth \
    --prompt-tokens 16 --decode-tokens 24 --batch "$1" --adapters "$2" --lora-rank 16 --reps 2 | tee -a "$OUT/multilora.txt"
done
echo "== 64 adapters of mixed ranks (8..64) over 32 sequences, device tier of 16 slots (smaller than the working set)"
"$BIN" --log-level warn bench --synthetic tinyllama-1.1b --cache-dir "$BUILD_DIR/synthetic" --skip-bandwidth \
  --prompt-tokens 16 --decode-tokens 24 --batch 32 --adapters 64 --mixed-ranks 8 16 32 64 --gpu-loras 16 --reps 1 \
  | tee -a "$OUT/multilora.txt"
echo "== adapter cold load (disk -> host -> device), tinyllama-1.1b, all 7 modules"
"$BIN" --log-level warn bench --synthetic tinyllama-1.1b --cache-dir "$BUILD_DIR/synthetic" --skip-bandwidth \
  --prompt-tokens 8 --decode-tokens 2 --reps 1 --cold-load 8 16 64 | tee "$OUT/cold-load.txt"
echo "== serving: loraplex serve + bench/loadgen.mjs, tinyllama-1.1b shape, adapters x concurrency"
"$(dirname "$0")/serve_bench.sh" "$BUILD_DIR" | tee "$OUT/serve-tinyllama-1.1b.md"
echo "== kernel micro-benchmarks"
"$BUILD_DIR/loraplex_bench" --benchmark_min_time=0.2 2>&1 | tee "$OUT/kernels.txt"
