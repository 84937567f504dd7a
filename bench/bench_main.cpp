// Google Benchmark entry point for kernel micro-benchmarks (not run by ctest).
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
