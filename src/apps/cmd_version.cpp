// `loraplex version`: version and CPU features.
#include <cstdio>

#include "apps/commands.h"

namespace lpx {

int cmd_version(int, char**) {
  std::printf("loraplex %s\n", LPX_VERSION);
  __builtin_cpu_init();
  std::printf("cpu: avx2=%d fma=%d avx512f=%d avx512bw=%d avx512vnni=%d avx512bf16=%d\n",
              __builtin_cpu_supports("avx2"), __builtin_cpu_supports("fma"),
              __builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx512bw"),
              __builtin_cpu_supports("avx512vnni"), __builtin_cpu_supports("avx512bf16"));
  return 0;
}

}  // namespace lpx
