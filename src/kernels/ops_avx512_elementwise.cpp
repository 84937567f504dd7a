// AVX-512 elementwise and row ops: RMSNorm, RoPE, SwiGLU, softmax, add, dtype widening, dot, exp,
// axpy.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"
#include "kernels/simd_target.h"

// Everything above is compiled for the baseline; see simd_target.h for why the order matters.
#if LPX_SIMD_X86
#include <immintrin.h>
LPX_TARGET_AVX512_BEGIN
#include "kernels/ops_avx512_internal.h"

#include "kernels/simd_ops.h"

namespace lpx::kernels::avx512 {

// The ops are written once over the vector type (simd_ops.h); these are their F32x16 instances.
void avx512_rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D) {
  simd_rmsnorm<F32x16>(x, gamma, eps, y, M, D);
}
void avx512_rope_apply(float* v, const float* cs, int64_t M, int n_heads, int head_dim, int64_t token_stride) {
  simd_rope_apply<F32x16>(v, cs, M, n_heads, head_dim, token_stride);
}
void avx512_silu_mul(const float* gate, const float* up, float* out, size_t n) {
  simd_silu_mul<F32x16>(gate, up, out, n);
}
void avx512_softmax(float* x, int64_t M, int64_t N) { simd_softmax<F32x16>(x, M, N); }
void avx512_add(const float* a, const float* b, float* out, size_t n) { simd_add<F32x16>(a, b, out, n); }
void avx512_to_f32(const void* src, DType t, float* dst, size_t n) { simd_to_f32<F32x16>(src, t, dst, n); }
float avx512_dot(const float* a, const float* b, size_t n) { return simd_dot<F32x16>(a, b, n); }
float avx512_exp_shifted(const float* x, size_t n, float m, float scale, float* out) {
  return simd_exp_shifted<F32x16>(x, n, m, scale, out);
}
void avx512_axpy(float alpha, const float* x, float* y, size_t n) { simd_axpy<F32x16>(alpha, x, y, n); }

}  // namespace lpx::kernels::avx512

LPX_TARGET_END
#endif  // LPX_SIMD_X86
