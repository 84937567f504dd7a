// The AVX-512 path's ops table (AVX-512 F/BW/VL/DQ + FMA/F16C; AVX512-BF16 vdpbf16ps and AMX-BF16
// for the bf16 GEMMs). The kernels live in ops_avx512_{gemv,gemm,amx,elementwise,attention}.cpp,
// each compiled for AVX-512 inside a target region (simd_target.h) while the rest of the library
// stays baseline x86-64. dispatch.cpp only hands this table out when the CPU supports it, and only
// selects the vdpbf16ps / AMX modes when the CPU (and, for AMX, the OS) allows them.
#include <cstddef>
#include <cstdint>

#include "kernels/ops.h"
#include "kernels/ops_internal.h"
#include "kernels/simd_target.h"

#if LPX_SIMD_X86
#include <immintrin.h>
LPX_TARGET_AVX512_BEGIN
#include "kernels/ops_avx512_internal.h"
// The table itself is baseline code: no AVX-512 instruction runs until dispatch.cpp has checked
// the CPU and calls through it.
LPX_TARGET_END

namespace lpx::kernels::detail {

const OpsTable* avx512_table() {
  using namespace avx512;
  static const OpsTable table = {
      .isa = Isa::kAvx512,
      .gemm = &avx512_gemm,
      .supports_mode = &avx512_supports_mode,
      .packed_a_bytes = &avx512_packed_a_bytes,
      .pack_a_units = &avx512_pack_a_units,
      .pack_a = &avx512_pack_a,
      .gemm_blocked = &avx512_gemm_blocked,
      .rmsnorm = &avx512_rmsnorm,
      .rope_apply = &avx512_rope_apply,
      .silu_mul = &avx512_silu_mul,
      .softmax = &avx512_softmax,
      .add = &avx512_add,
      .to_f32 = &avx512_to_f32,
      .dot = &avx512_dot,
      .exp_shifted = &avx512_exp_shifted,
      .axpy = &avx512_axpy,
      .attention_items = &avx512_attention_items,
      .pack_x_pairs = &avx512_pack_x_pairs,
      .gemv_bf16dot = &avx512_gemv_bf16dot,
  };
  return &table;
}

}  // namespace lpx::kernels::detail

#else  // !LPX_SIMD_X86

namespace lpx::kernels::detail {
const OpsTable* avx512_table() { return nullptr; }
}  // namespace lpx::kernels::detail

#endif
