// AVX2 + FMA + F16C kernels (exact f32 GEMM, no bf16 dot). Compiled for AVX2 inside a target region
// (simd_target.h) so the library stays baseline x86-64; dispatch.cpp only hands this table out when
// the CPU has AVX2/FMA/F16C/BMI2. No std templates are instantiated inside the region.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "core/dtype.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"
#include "kernels/simd_target.h"

// Everything above is compiled for the baseline; see simd_target.h for why the order matters.
#if LPX_SIMD_X86
#include <immintrin.h>
LPX_TARGET_AVX2_BEGIN
#include "kernels/simd_vec.h"
#include "kernels/simd_ops.h"

namespace lpx::kernels {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Lane mask with the first n (0..8) lanes set, for maskload/maskstore.
inline __m256i lane_mask(int64_t n) { return F32x8::lane_mask(n); }
inline float hsum(__m256 v) { return F32x8::reduce_add(F32x8{v}); }

// 8 weights widened to f32 (q8: k a multiple of 8), or the first n (< 8) zero-filled: the vector
// wrapper's loads (simd_vec.h), under the names the GEMM code uses.
template <DType DT>
inline __m256 load8(const void* p, int64_t k) {
  return F32x8::load_w<DT>(p, k).v;
}
template <DType DT>
inline __m256 load8_partial(const void* p, int64_t k, int64_t n) {
  return F32x8::load_w_partial<DT>(p, k, n).v;
}

// The first n floats at p (all 8 when n >= 8), zero-filled / stored.
inline __m256 loadf_partial(const float* p, int64_t n) { return F32x8::load_partial(p, n).v; }
inline void storef_partial(float* p, int64_t n, __m256 v) { F32x8::store_partial(p, n, F32x8{v}); }

inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {
    const __m256 a = t[4 * h], b = t[4 * h + 1], c = t[4 * h + 2], d = t[4 * h + 3];
    u[4 * h + 0] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 1] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * h + 2] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 3] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

// ---------------------------------------------------------------------------------------------
// Small-M GEMM: MR x NR inner products over K (8-wide), scalar K tail.

template <DType DT, int MR, int NR>
inline void small_tile(const float* x, int64_t ldx, const char* w, int64_t wsb, int64_t K, float* y, int64_t ldy,
                       bool accumulate, float alpha) {
  __m256 c[MR][NR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) c[i][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) wv[j] = load8<DT>(w + j * wsb, k);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) c[i][j] = _mm256_fmadd_ps(xv, wv[j], c[i][j]);
    }
  }
  if (k < K) {
    __m256 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) wv[j] = load8_partial<DT>(w + j * wsb, k, K - k);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = loadf_partial(x + i * ldx + k, K - k);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) c[i][j] = _mm256_fmadd_ps(xv, wv[j], c[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      const float s = hsum(c[i][j]) * alpha;
      float* d = y + i * ldy + j;
      *d = accumulate ? *d + s : s;
    }
  }
}

template <DType DT, int NR>
inline void small_rows(const GemmArgs& a, int64_t ldx, int64_t ldy, const char* w, int64_t wsb, int64_t K, float* y0) {
  for (int64_t m0 = 0; m0 < a.M; m0 += 2) {
    const float* x = a.x + m0 * ldx;
    float* y = y0 + m0 * ldy;
    if (a.M - m0 >= 2) {
      small_tile<DT, 2, NR>(x, ldx, w, wsb, K, y, ldy, a.accumulate, a.alpha);
    } else {
      small_tile<DT, 1, NR>(x, ldx, w, wsb, K, y, ldy, a.accumulate, a.alpha);
    }
  }
}

constexpr int64_t kGemvPrefetch = 1024;

template <DType DT>
void gemv_rows(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y, bool accumulate,
               float alpha) {
  constexpr int64_t kLinesPerStep = DT == DType::kF32 ? 2 : 1;  // 32 weights per step
  for (int64_t n = 0; n < N; ++n) {
    const char* r = w + n * wsb;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      for (int64_t l = 0; l < kLinesPerStep; ++l)
        _mm_prefetch(r + (k * kLinesPerStep + 32 * l) * 2 + kGemvPrefetch, _MM_HINT_T0);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), load8<DT>(r, k), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), load8<DT>(r, k + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), load8<DT>(r, k + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), load8<DT>(r, k + 24), a3);
    }
    for (; k < K; k += 8) {
      a0 = _mm256_fmadd_ps(loadf_partial(x + k, K - k), k + 8 <= K ? load8<DT>(r, k) : load8_partial<DT>(r, k, K - k),
                           a0);
    }
    const float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) * alpha;
    y[n] = accumulate ? y[n] + s : s;
  }
}

template <DType DT>
void small_m_gemm(const GemmArgs& a, int64_t ldx, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols;
  const int64_t wsb = dtype_row_bytes(DT, a.w.stride());
  const char* w0 = static_cast<const char*>(a.w.data);
  if (a.M == 1) {
    gemv_rows<DT>(a.x, w0, wsb, N, K, a.y, a.accumulate, a.alpha);
    return;
  }
  int64_t n = 0;
  for (; n + 4 <= N; n += 4) small_rows<DT, 4>(a, ldx, ldy, w0 + n * wsb, wsb, K, a.y + n);
  for (; n < N; ++n) small_rows<DT, 1>(a, ldx, ldy, w0 + n * wsb, wsb, K, a.y + n);
}

// ---------------------------------------------------------------------------------------------
// Blocked exact GEMM: A packed as [k block][tile][kc][kMR], W panels [kc][kNR] f32, 6 x 16 tile.

constexpr int kMR = 6;
constexpr int kNR = 16;
constexpr int64_t kKC = 256;  // panel 16 KiB + A tile 6 KiB in L1

bool avx2_supports_mode(detail::GemmMode mode) { return mode == detail::GemmMode::kF32; }

size_t avx2_packed_a_bytes(int64_t M, int64_t K, detail::GemmMode mode) {
  LPX_CHECK(mode == detail::GemmMode::kF32);
  return static_cast<size_t>((M + kMR - 1) / kMR * kMR * K * 4);
}

int64_t avx2_pack_a_units(int64_t M, detail::GemmMode) { return (M + kMR - 1) / kMR; }

void avx2_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, detail::GemmMode mode, int64_t t0, int64_t t1,
                 void* out) {
  LPX_CHECK(mode == detail::GemmMode::kF32);
  static_assert(kKC % 8 == 0, "pack chunks must not straddle k blocks");
  const int64_t mpad = (M + kMR - 1) / kMR * kMR;
  const __m256i tile_lanes = lane_mask(kMR);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t rows = imin(kMR, M - t * kMR);
    const float* src = x + t * kMR * ldx;
    for (int64_t k = 0; k < K; k += 8) {
      const int64_t kb = k / kKC, kcb = imin(kKC, K - kb * kKC);
      float* dst = static_cast<float*>(out) + kb * kKC * mpad + t * kcb * kMR - kb * kKC * kMR;
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = i < rows ? loadf_partial(src + i * ldx + k, K - k) : _mm256_setzero_ps();
      transpose8(r);
      const int64_t nk = imin(8, K - k);
      for (int64_t j = 0; j < nk; ++j) _mm256_maskstore_ps(dst + (k + j) * kMR, tile_lanes, r[j]);
    }
  }
}

template <DType DT>
void pack_panel(const char* w, int64_t wsb, int64_t rows, int64_t k0, int64_t kc, float* out) {
  for (int g = 0; g < kNR / 8; ++g) {
    for (int64_t kk = 0; kk < kc; kk += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        const int64_t row = g * 8 + i;
        if (row >= rows) {
          r[i] = _mm256_setzero_ps();
        } else if (kk + 8 <= kc) {
          r[i] = load8<DT>(w + row * wsb, k0 + kk);
        } else {
          r[i] = load8_partial<DT>(w + row * wsb, k0 + kk, kc - kk);
        }
      }
      transpose8(r);
      const int64_t nk = imin(8, kc - kk);
      for (int64_t j = 0; j < nk; ++j) _mm256_store_ps(out + (kk + j) * kNR + g * 8, r[j]);
    }
  }
}

template <int MR>
void ukernel(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, bool load_c, int64_t ncols) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = load_c ? loadf_partial(c + i * ldc, ncols) : _mm256_setzero_ps();
    acc[i][1] = load_c ? loadf_partial(c + i * ldc + 8, ncols - 8) : _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b + k * kNR), b1 = _mm256_load_ps(b + k * kNR + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + k * kMR + i);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    storef_partial(c + i * ldc, ncols, acc[i][0]);
    storef_partial(c + i * ldc + 8, ncols - 8, acc[i][1]);
  }
}

template <DType DT>
void blocked(const float* ap, const GemmArgs& a, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols, M = a.M;
  const int64_t wsb = dtype_row_bytes(DT, a.w.stride());
  const char* w0 = static_cast<const char*>(a.w.data);
  const int64_t npan = (N + kNR - 1) / kNR;
  const int64_t mpad = (M + kMR - 1) / kMR * kMR;
  float* panel = static_cast<float*>(detail::thread_scratch(0, sizeof(float) * kKC * kNR));
  for (int64_t k0 = 0; k0 < K; k0 += kKC) {
    const int64_t kc = imin(kKC, K - k0);
    const bool load_c = a.accumulate || k0 > 0;
    const float* ablock = ap + k0 * mpad;
    for (int64_t p = 0; p < npan; ++p) {
      pack_panel<DT>(w0 + p * kNR * wsb, wsb, imin(kNR, N - p * kNR), k0, kc, panel);
      const int64_t ncols = imin(kNR, N - p * kNR);
      float* c = a.y + p * kNR;
      for (int64_t m0 = 0; m0 < M; m0 += kMR) {
        const float* at = ablock + m0 * kc;
        switch (imin(kMR, M - m0)) {
          case 6: ukernel<6>(at, panel, kc, c + m0 * ldy, ldy, load_c, ncols); break;
          case 5: ukernel<5>(at, panel, kc, c + m0 * ldy, ldy, load_c, ncols); break;
          case 4: ukernel<4>(at, panel, kc, c + m0 * ldy, ldy, load_c, ncols); break;
          case 3: ukernel<3>(at, panel, kc, c + m0 * ldy, ldy, load_c, ncols); break;
          case 2: ukernel<2>(at, panel, kc, c + m0 * ldy, ldy, load_c, ncols); break;
          default: ukernel<1>(at, panel, kc, c + m0 * ldy, ldy, load_c, ncols); break;
        }
      }
    }
  }
}

void avx2_gemm(const GemmArgs& a) {
  const int64_t ldx = a.ldx > 0 ? a.ldx : a.w.cols;
  const int64_t ldy = a.ldy > 0 ? a.ldy : a.w.rows;
  switch (a.w.dtype) {
    case DType::kF32: small_m_gemm<DType::kF32>(a, ldx, ldy); break;
    case DType::kF16: small_m_gemm<DType::kF16>(a, ldx, ldy); break;
    case DType::kBF16: small_m_gemm<DType::kBF16>(a, ldx, ldy); break;
    case DType::kQ8: small_m_gemm<DType::kQ8>(a, ldx, ldy); break;
    case DType::kI8:
    case DType::kBF16I16:
      LPX_CHECK(false && "i8 is not a kernel weight dtype; bf16x16 reaches the AVX2 path only unpacked");
      break;
  }
}

void avx2_gemm_blocked(const void* a_packed, detail::GemmMode mode, const GemmArgs& a) {
  LPX_CHECK(mode == detail::GemmMode::kF32 && a.alpha == 1.0f);
  const int64_t ldy = a.ldy > 0 ? a.ldy : a.w.rows;
  const float* ap = static_cast<const float*>(a_packed);
  switch (a.w.dtype) {
    case DType::kF32: blocked<DType::kF32>(ap, a, ldy); break;
    case DType::kF16: blocked<DType::kF16>(ap, a, ldy); break;
    case DType::kBF16: blocked<DType::kBF16>(ap, a, ldy); break;
    case DType::kQ8: blocked<DType::kQ8>(ap, a, ldy); break;
    case DType::kI8:
    case DType::kBF16I16:
      LPX_CHECK(false && "i8 is not a kernel weight dtype; bf16x16 reaches the AVX2 path only unpacked");
      break;
  }
}

}  // namespace

// The table itself is baseline code: no AVX2 instruction runs until dispatch.cpp has checked the
// CPU and calls through it.
LPX_TARGET_END

namespace detail {

const OpsTable* avx2_table() {
  static const OpsTable table = {
      .isa = Isa::kAvx2,
      .gemm = &avx2_gemm,
      .supports_mode = &avx2_supports_mode,
      .packed_a_bytes = &avx2_packed_a_bytes,
      .pack_a_units = &avx2_pack_a_units,
      .pack_a = &avx2_pack_a,
      .gemm_blocked = &avx2_gemm_blocked,
      .rmsnorm = &simd_rmsnorm<F32x8>,
      .rope_apply = &simd_rope_apply<F32x8>,
      .silu_mul = &simd_silu_mul<F32x8>,
      .softmax = &simd_softmax<F32x8>,
      .add = &simd_add<F32x8>,
      .to_f32 = &simd_to_f32<F32x8>,
      .dot = &simd_dot<F32x8>,
      .exp_shifted = &simd_exp_shifted<F32x8>,
      .axpy = &simd_axpy<F32x8>,
      .attention_items = &simd_attention_items<F32x8>,
      .pack_x_pairs = nullptr,
      .gemv_bf16dot = nullptr,
  };
  return &table;
}

}  // namespace detail
}  // namespace lpx::kernels

#else  // !LPX_SIMD_X86

namespace lpx::kernels::detail {
const OpsTable* avx2_table() { return nullptr; }
}  // namespace lpx::kernels::detail

#endif
