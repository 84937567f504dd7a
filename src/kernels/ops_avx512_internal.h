// Internal to the AVX-512 kernel files (ops_avx512*.cpp): shared inline helpers (widening loads,
// transposes; the vector wrapper of simd_vec.h) and the functions one file calls in another.
// Included INSIDE the AVX-512 target region of those files (after all other headers), so it
// includes nothing but the in-region SIMD headers, and its inline functions are compiled for
// AVX-512 only; they live in namespace kernels::avx512, which only AVX-512 code calls (see
// simd_target.h).
#pragma once

#if !LPX_SIMD_X86
#error "ops_avx512_internal.h is only for the x86-64 AVX-512 kernel files"
#endif

#define LPX_SIMD_VEC_AVX512 1
#include "kernels/simd_vec.h"  // F32x8 / F32x16, mask16

namespace lpx::kernels::avx512 {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// ---------------------------------------------------------------------------------------------
// Loads of 16 weights widened to f32 (q8: k a multiple of 16), all or the lanes of a mask: the
// vector wrapper's loads (simd_vec.h), under the names the GEMM code uses.

template <DType DT>
inline __m512 load16(const void* p, int64_t k) {
  return F32x16::load_w<DT>(p, k).v;
}
template <DType DT>
inline __m512 load16m(const void* p, int64_t k, __mmask16 m) {
  return F32x16::load_w_partial<DT>(p, k, m).v;
}

// q8 pieces for the q8 GEMV: the f16 scale of a block broadcast, and 16 int8 values widened.
inline __m512 q8_scale16(const uint8_t* block) {
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(*reinterpret_cast<const uint16_t*>(block))));
}
inline __m512 q8_values16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// In-register transpose of a 16x16 block of 32-bit elements: r[i][j] -> r[j][i].
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // r[4i+j] lane L now holds column 4L+j of rows 4i..4i+3.
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44);
    const __m512 u1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
    const __m512 u2 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
    t[j] = _mm512_shuffle_f32x4(u0, u1, 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(u0, u1, 0xDD);
    t[8 + j] = _mm512_shuffle_f32x4(u2, u3, 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(u2, u3, 0xDD);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Blocked GEMM tile shape (ops_avx512_gemm.cpp; the AMX engine packs W panels the same way).
constexpr int kNV = 2;         // zmm vectors per tile row
constexpr int kNR = 16 * kNV;  // panel width (output columns)
constexpr int kMR = 12;        // tile rows

// ---------------------------------------------------------------------------------------------
// Entry points of the ops table (ops_avx512.cpp) and cross-file helpers.

// ops_avx512_gemv.cpp
void avx512_gemm(const GemmArgs& a);
void avx512_pack_x_pairs(const float* x, int64_t ldx, int64_t M, int64_t K, uint32_t* out);
void avx512_gemv_bf16dot(const uint32_t* xp, const GemmArgs& a);
// ops_avx512_gemm.cpp
bool avx512_supports_mode(detail::GemmMode mode);
size_t avx512_packed_a_bytes(int64_t M, int64_t K, detail::GemmMode mode);
int64_t avx512_pack_a_units(int64_t M, detail::GemmMode mode);
void avx512_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, detail::GemmMode mode, int64_t u0, int64_t u1,
                   void* out);
void avx512_gemm_blocked(const void* a_packed, detail::GemmMode mode, const GemmArgs& a);
void pack_panel_bf16(const char* w, int64_t wsb, int64_t rows, int64_t k0, int64_t kc, uint16_t* out);
// ops_avx512_amx.cpp
size_t amx_packed_a_bytes(int64_t M, int64_t K);
void amx_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, int64_t u0, int64_t u1, void* out);
void amx_blocked(const uint16_t* xb, const GemmArgs& a, int64_t ldy);
// ops_avx512_elementwise.cpp
void avx512_rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D);
void avx512_rope_apply(float* v, const float* cs, int64_t M, int n_heads, int head_dim, int64_t token_stride);
void avx512_silu_mul(const float* gate, const float* up, float* out, size_t n);
void avx512_softmax(float* x, int64_t M, int64_t N);
void avx512_add(const float* a, const float* b, float* out, size_t n);
void avx512_to_f32(const void* src, DType t, float* dst, size_t n);
float avx512_dot(const float* a, const float* b, size_t n);
float avx512_exp_shifted(const float* x, size_t n, float m, float scale, float* out);
void avx512_axpy(float alpha, const float* x, float* y, size_t n);
// ops_avx512_attention.cpp
void avx512_attention_items(const AttentionArgs& a, int64_t begin, int64_t end);

}  // namespace lpx::kernels::avx512
