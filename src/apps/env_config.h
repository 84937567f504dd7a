// The LPX_* environment variables, read once at startup (here, in the CLI) into plain config that
// the lower layers take as arguments: kernels::configure, ThreadPool::set_default_num_threads and
// ModelLoadOptions::prepack_bf16. No library code reads the environment. (The NIM_* variables are
// CLI11 envnames on the flags that own them: cmd_serve.cpp, common_flags.h, main.cpp.)
//
//   LPX_ISA=scalar|avx2|avx512   force a kernel path (unknown or unavailable: a warning, the best)
//   LPX_MATMUL=exact|bf16dot|auto  bf16 matmul precision (unknown: a warning, exact)
//   LPX_AMX=0                    never use AMX
//   LPX_NUM_THREADS=N            default compute threads (N > 0; else all cores)
//   LPX_PREPACK=0                keep bf16 weights in the file's layout (no load-time repack)
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace lpx {

struct EnvConfig {
  kernels::KernelOptions kernels;     // LPX_ISA, LPX_MATMUL, LPX_AMX
  int num_threads = 0;                // LPX_NUM_THREADS; 0 = all cores
  bool prepack = true;                // LPX_PREPACK (only "0" turns it off)
  std::vector<std::string> warnings;  // malformed values, logged by apply_env_config
};

// Returns the value of a variable, or nullptr when unset (std::getenv's contract).
using EnvLookup = std::function<const char*(const char*)>;

// Reads the variables above through `lookup` (default: the process environment).
EnvConfig read_env_config(const EnvLookup& lookup = {});

// Logs the warnings, then configures the kernels and the default thread count. Call once at
// startup, after the log level is set and before any kernel runs or thread pool is created.
void apply_env_config(const EnvConfig& c);

}  // namespace lpx
