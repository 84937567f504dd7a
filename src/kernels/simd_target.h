// Internal to src/kernels: how an ISA file compiles its code for AVX2 or AVX-512 while the rest of
// the library stays baseline x86-64, under both GCC and Clang.
//
// An ISA file (ops_avx2*.cpp, ops_avx512*.cpp) looks like:
//
//   #include <cmath>                      // 1. every std and project header first
//   #include "kernels/ops_internal.h"
//   #include "kernels/simd_target.h"
//   #if LPX_SIMD_X86
//   #include <immintrin.h>
//   LPX_TARGET_AVX512_BEGIN               // 2. then the target region
//   #include "kernels/simd_vec.h"         //    (our SIMD headers: no includes, internal linkage)
//   namespace lpx::kernels { namespace { ... kernels ... } }
//   LPX_TARGET_END
//   #endif
//
// Why the order matters: inside the region every function is compiled for the ISA (GCC's
// `#pragma GCC target`, Clang's `#pragma clang attribute push(target(...))`). An inline function or
// template from a header (std::, core/, ours) instantiated there would get an AVX-512 body; the
// linker keeps one copy of each inline symbol, possibly that one, for baseline callers elsewhere
// (SIGILL on older CPUs). Headers included before the region are compiled for the baseline, and
// their inline functions stay baseline wherever they are called from. So:
//  - std and project headers are included before the region only;
//  - code inside the region uses no std templates (std::sqrt/std::exp on floats are fine: plain
//    library calls), and everything it defines has internal linkage (an anonymous namespace),
//    including the shared SIMD headers (simd_vec.h, simd_ops.h, ops_avx512_internal.h), which are
//    included inside a region and therefore hold no #include of their own.
// Per-file -m flags are not used for the same reason (they would compile the headers' inline
// functions for the ISA too). <immintrin.h> is safe before the region: both compilers declare the
// intrinsics with their own target attributes.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LPX_SIMD_X86 1
#else
#define LPX_SIMD_X86 0
#endif

#define LPX_TARGET_STR_(x) #x
#define LPX_TARGET_STR(x) LPX_TARGET_STR_(x)

// Feature lists of the two paths (dispatch.cpp checks the same features with cpuid).
#define LPX_TARGET_AVX2_FEATURES "avx2,fma,f16c,bmi,bmi2"
#define LPX_TARGET_AVX512_FEATURES \
  "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,avx2,bmi,bmi2,amx-tile,amx-bf16"

#if defined(__clang__)
// Every function declared up to LPX_TARGET_END gets the target attribute (templates and lambdas
// included).
#define LPX_TARGET_BEGIN_(features) \
  _Pragma(LPX_TARGET_STR(clang attribute push(__attribute__((target(features))), apply_to = function)))
#define LPX_TARGET_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm512_undefined_ps() (a false
// positive), hence the diagnostic push.
#define LPX_TARGET_BEGIN_(features)                                                                        \
  _Pragma("GCC push_options") _Pragma(LPX_TARGET_STR(GCC target(features))) _Pragma("GCC diagnostic push") \
      _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")                                                \
          _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define LPX_TARGET_END _Pragma("GCC diagnostic pop") _Pragma("GCC pop_options")
#endif

#define LPX_TARGET_AVX2_BEGIN LPX_TARGET_BEGIN_(LPX_TARGET_AVX2_FEATURES)
#define LPX_TARGET_AVX512_BEGIN LPX_TARGET_BEGIN_(LPX_TARGET_AVX512_FEATURES)
