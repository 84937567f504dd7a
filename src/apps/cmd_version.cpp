// `loraplex version`: version, CPU features and the kernel path in use.
#include <cstdio>

#include "apps/commands.h"
#include "kernels/ops.h"

namespace lpx {

std::function<int()> add_version_command(CLI::App& app) {
  app.add_subcommand("version", "Print the version, the CPU features found and the kernel path used");
  return [] {
    std::printf("loraplex %s\n", LPX_VERSION);
    __builtin_cpu_init();
    std::printf("cpu: avx2=%d fma=%d avx512f=%d avx512bw=%d avx512vnni=%d avx512bf16=%d\n",
                __builtin_cpu_supports("avx2"), __builtin_cpu_supports("fma"),
                __builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx512bw"),
                __builtin_cpu_supports("avx512vnni"), __builtin_cpu_supports("avx512bf16"));
    std::printf("kernels: %s (available:", kernels::isa_name(kernels::active_isa()));
    for (auto isa : kernels::available_isas()) std::printf(" %s", kernels::isa_name(isa));
    std::printf("; force one with LPX_ISA=scalar|avx2|avx512)\n");
    return 0;
  };
}

}  // namespace lpx
