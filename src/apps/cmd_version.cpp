// `loraplex version`: version, CPU features and the kernel path in use.
#include <cstdio>
#include <utility>

#include "apps/commands.h"
#include "kernels/ops.h"

namespace lpx {

std::function<int()> add_version_command(CLI::App& app) {
  app.add_subcommand("version", "Print the version, the CPU features found and the kernel path used");
  return [] {
    std::printf("loraplex %s\n", LPX_VERSION);
    __builtin_cpu_init();
    std::printf("cpu:");
    const std::pair<const char*, bool> features[] = {{"avx2", __builtin_cpu_supports("avx2") != 0},
                                                     {"fma", __builtin_cpu_supports("fma") != 0},
                                                     {"avx512f", __builtin_cpu_supports("avx512f") != 0},
                                                     {"avx512bw", __builtin_cpu_supports("avx512bw") != 0},
                                                     {"avx512vnni", __builtin_cpu_supports("avx512vnni") != 0},
                                                     {"avx512bf16", __builtin_cpu_supports("avx512bf16") != 0}};
    for (const auto& [name, on] : features) std::printf(" %s=%s", name, on ? "yes" : "no");
    std::printf("\n");
    std::printf("kernels: %s (available:", kernels::isa_name(kernels::active_isa()));
    for (auto isa : kernels::available_isas()) std::printf(" %s", kernels::isa_name(isa));
    std::printf("; force one with LPX_ISA=scalar|avx2|avx512)\n");
    return 0;
  };
}

}  // namespace lpx
