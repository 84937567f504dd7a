#!/usr/bin/env bash
# Runs the benchmarks (never part of `make test`).
set -euo pipefail
BUILD_DIR=${1:-build}
"$BUILD_DIR/loraplex_bench" --benchmark_min_time=0.2
