// The best SIMD path this CPU supports must be compiled in and selected, whatever the compiler: a
// build whose ISA files silently fell back to scalar (e.g. a target pragma one compiler ignores)
// fails here. The expectation comes from this file's own cpuid reading, not from the kernels'.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

namespace lpx::kernels {
namespace {

// The best path the CPU and OS support: AVX-512 needs F/BW/VL/DQ (+ the zmm/opmask state saved by
// the OS), AVX2 needs AVX2/FMA/F16C/BMI1/BMI2 (+ the ymm state).
Isa cpu_best_isa() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned a, b, c, d;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0 || a < 7) return Isa::kScalar;
  __get_cpuid(1, &a, &b, &c, &d);
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!osxsave || !avx) return Isa::kScalar;
  uint32_t xcr0 = 0, xhi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(xhi) : "c"(0));
  if ((xcr0 & 0x6u) != 0x6u) return Isa::kScalar;
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  const bool avx2 = b & (1u << 5), bmi = b & (1u << 3), bmi2 = b & (1u << 8);
  if (!(avx2 && fma && f16c && bmi && bmi2)) return Isa::kScalar;
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));
  if (avx512 && (xcr0 & 0xe0u) == 0xe0u) return Isa::kAvx512;
  return Isa::kAvx2;
#else
  return Isa::kScalar;
#endif
}

TEST(IsaSelection, BestSupportedPathIsCompiledInAndAvailable) {
  const std::vector<Isa> avail = available_isas();
  ASSERT_FALSE(avail.empty());
  EXPECT_EQ(avail.front(), Isa::kScalar);
  EXPECT_EQ(isa_name(avail.back()), std::string(isa_name(cpu_best_isa())))
      << "the CPU supports " << isa_name(cpu_best_isa()) << " but this build offers " << isa_name(avail.back())
      << " at best (ISA files compiled without SIMD?)";
}

TEST(IsaSelection, BestPathIsTheDefault) {
  const char* env = std::getenv("LPX_ISA");
  if (env != nullptr && *env != '\0') GTEST_SKIP() << "LPX_ISA=" << env << " forces a path";
  // Other tests switch paths with ScopedIsa and restore them; the startup choice is the best one.
  EXPECT_EQ(isa_name(active_isa()), std::string(isa_name(cpu_best_isa())));
}

}  // namespace
}  // namespace lpx::kernels
