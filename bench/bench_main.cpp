// Google Benchmark entry point for kernel micro-benchmarks (not run by ctest). Applies the LPX_*
// environment (LPX_ISA, LPX_MATMUL, LPX_AMX, LPX_NUM_THREADS) through the CLI's reader first, as
// `loraplex` does.
#include <benchmark/benchmark.h>

#include "apps/env_config.h"

int main(int argc, char** argv) {
  lpx::apply_env_config(lpx::read_env_config());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
