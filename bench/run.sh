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
echo "== kernel micro-benchmarks"
"$BUILD_DIR/loraplex_bench" --benchmark_min_time=0.2 2>&1 | tee "$OUT/kernels.txt"
