// AVX2 + FMA + F16C kernels (exact f32 GEMM, no bf16 dot). Compiled with a per-file target pragma
// so the library stays baseline x86-64; dispatch.cpp only hands this table out when the CPU has
// AVX2/FMA/F16C. No std templates are instantiated below the pragma.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/cvt.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LPX_AVX2_TU 1
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#ifdef LPX_AVX2_TU
namespace lpx::kernels {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Lane mask with the first n (0..8) lanes set, for maskload/maskstore.
inline __m256i lane_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 0 ? 0 : (n > 8 ? 8 : n))), idx);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 weights widened to f32.
template <WDType DT>
inline __m256 load8(const void* p, int64_t k);
template <>
inline __m256 load8<WDType::kF32>(const void* p, int64_t k) {
  return _mm256_loadu_ps(static_cast<const float*>(p) + k);
}
template <>
inline __m256 load8<WDType::kBF16>(const void* p, int64_t k) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + k));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
template <>
inline __m256 load8<WDType::kF16>(const void* p, int64_t k) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + k));
  return _mm256_cvtph_ps(h);
}

// q8 (k a multiple of 8, so the 8 share one block): int8 widened, times the block's f16 scale.
template <>
inline __m256 load8<WDType::kQ8>(const void* p, int64_t k) {
  const auto* b = static_cast<const uint8_t*>(p) + (k / kQ8Group) * kQ8BlockBytes;
  const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 + k % kQ8Group))));
  return _mm256_mul_ps(q, _mm256_set1_ps(_cvtsh_ss(*reinterpret_cast<const uint16_t*>(b))));
}

// First n (< 8) weights at p[k..], zero-filled.
template <WDType DT>
inline __m256 load8_partial(const void* p, int64_t k, int64_t n) {
  if (n <= 0) return _mm256_setzero_ps();
  if (DT == WDType::kF32) return _mm256_maskload_ps(static_cast<const float*>(p) + k, lane_mask(n));
  if (DT == WDType::kQ8) {  // q8 rows are whole blocks: the 8 lanes are readable
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, load8<WDType::kQ8>(p, k));
    for (int64_t i = n; i < 8; ++i) tmp[i] = 0.0f;
    return _mm256_load_ps(tmp);
  }
  alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(tmp, static_cast<const uint16_t*>(p) + k, static_cast<size_t>(n) * 2);
  return load8<DT>(tmp, 0);
}

inline __m256 loadf_partial(const float* p, int64_t n) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n));
}
inline void storef_partial(float* p, int64_t n, __m256 v) {
  if (n >= 8) {
    _mm256_storeu_ps(p, v);
  } else if (n > 0) {
    _mm256_maskstore_ps(p, lane_mask(n), v);
  }
}

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

// exp(x): range reduction + degree-7 Taylor; 2^n built in the exponent field (x clamped to
// [-87.3, 88.0], so results below ~1e-38 come back as ~1e-38 instead of 0).
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606820309417e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline float scalar_w(const void* p, WDType t, int64_t k) {
  switch (t) {
    case WDType::kF32: return static_cast<const float*>(p)[k];
    case WDType::kF16: return f16_to_f32(static_cast<const uint16_t*>(p)[k]);
    case WDType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[k]);
    case WDType::kQ8: return q8_elem(p, k);
    case WDType::kBF16I16: break;  // unpacked by dispatch before any kernel sees it
  }
  return 0.0f;
}

// ---------------------------------------------------------------------------------------------
// Small-M GEMM: MR x NR inner products over K (8-wide), scalar K tail.

template <WDType DT, int MR, int NR>
inline void small_tile(const float* x, int64_t ldx, const char* w, int64_t wsb, int64_t K, float* y,
                       int64_t ldy, bool accumulate, float alpha) {
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

template <WDType DT, int NR>
inline void small_rows(const GemmArgs& a, int64_t ldx, int64_t ldy, const char* w, int64_t wsb,
                       int64_t K, float* y0) {
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

template <WDType DT>
void gemv_rows(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y,
               bool accumulate, float alpha) {
  constexpr int64_t kLinesPerStep = DT == WDType::kF32 ? 2 : 1;  // 32 weights per step
  for (int64_t n = 0; n < N; ++n) {
    const char* r = w + n * wsb;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      for (int64_t l = 0; l < kLinesPerStep; ++l) _mm_prefetch(r + (k * kLinesPerStep + 32 * l) * 2 + kGemvPrefetch, _MM_HINT_T0);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), load8<DT>(r, k), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), load8<DT>(r, k + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), load8<DT>(r, k + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), load8<DT>(r, k + 24), a3);
    }
    for (; k < K; k += 8) {
      a0 = _mm256_fmadd_ps(loadf_partial(x + k, K - k), k + 8 <= K ? load8<DT>(r, k) : load8_partial<DT>(r, k, K - k), a0);
    }
    const float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) * alpha;
    y[n] = accumulate ? y[n] + s : s;
  }
}

template <WDType DT>
void small_m_gemm(const GemmArgs& a, int64_t ldx, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols;
  const int64_t wsb = wdtype_row_bytes(DT, a.w.stride());
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

void avx2_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, detail::GemmMode mode, int64_t t0,
                 int64_t t1, void* out) {
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

template <WDType DT>
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
void ukernel(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, bool load_c,
             int64_t ncols) {
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

template <WDType DT>
void blocked(const float* ap, const GemmArgs& a, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols, M = a.M;
  const int64_t wsb = wdtype_row_bytes(DT, a.w.stride());
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
    case WDType::kF32: small_m_gemm<WDType::kF32>(a, ldx, ldy); break;
    case WDType::kF16: small_m_gemm<WDType::kF16>(a, ldx, ldy); break;
    case WDType::kBF16: small_m_gemm<WDType::kBF16>(a, ldx, ldy); break;
    case WDType::kQ8: small_m_gemm<WDType::kQ8>(a, ldx, ldy); break;
    case WDType::kBF16I16: LPX_CHECK(false && "bf16x16 reaches the AVX2 path only unpacked"); break;
  }
}

void avx2_gemm_blocked(const void* a_packed, detail::GemmMode mode, const GemmArgs& a) {
  LPX_CHECK(mode == detail::GemmMode::kF32 && a.alpha == 1.0f);
  const int64_t ldy = a.ldy > 0 ? a.ldy : a.w.rows;
  const float* ap = static_cast<const float*>(a_packed);
  switch (a.w.dtype) {
    case WDType::kF32: blocked<WDType::kF32>(ap, a, ldy); break;
    case WDType::kF16: blocked<WDType::kF16>(ap, a, ldy); break;
    case WDType::kBF16: blocked<WDType::kBF16>(ap, a, ldy); break;
    case WDType::kQ8: blocked<WDType::kQ8>(ap, a, ldy); break;
    case WDType::kBF16I16: LPX_CHECK(false && "bf16x16 reaches the AVX2 path only unpacked"); break;
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise / row ops.

void avx2_rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    float* yr = y + m * D;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= D; d += 16) {
      const __m256 a = _mm256_loadu_ps(xr + d), b = _mm256_loadu_ps(xr + d + 8);
      s0 = _mm256_fmadd_ps(a, a, s0);
      s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; d < D; d += 8) {
      const __m256 a = loadf_partial(xr + d, D - d);
      s0 = _mm256_fmadd_ps(a, a, s0);
    }
    const float ss = hsum(_mm256_add_ps(s0, s1));
    const __m256 inv = _mm256_set1_ps(1.0f / std::sqrt(ss / static_cast<float>(D) + eps));
    for (d = 0; d < D; d += 8) {
      __m256 g;
      switch (gamma.dtype) {
        case WDType::kF32: g = d + 8 <= D ? load8<WDType::kF32>(gamma.data, d) : load8_partial<WDType::kF32>(gamma.data, d, D - d); break;
        case WDType::kF16: g = d + 8 <= D ? load8<WDType::kF16>(gamma.data, d) : load8_partial<WDType::kF16>(gamma.data, d, D - d); break;
        default: g = d + 8 <= D ? load8<WDType::kBF16>(gamma.data, d) : load8_partial<WDType::kBF16>(gamma.data, d, D - d); break;
      }
      storef_partial(yr + d, D - d, _mm256_mul_ps(_mm256_mul_ps(loadf_partial(xr + d, D - d), inv), g));
    }
  }
}

void avx2_rope_apply(float* v, const float* cs, int64_t M, int n_heads, int head_dim, int64_t token_stride) {
  const int half = head_dim / 2;
  if (token_stride == 0) token_stride = int64_t{n_heads} * head_dim;
  for (int64_t m = 0; m < M; ++m) {
    const float* cr = cs + m * head_dim;
    const float* sr = cr + half;
    for (int h = 0; h < n_heads; ++h) {
      float* p = v + m * token_stride + int64_t{h} * head_dim;
      for (int i = 0; i < half; i += 8) {
        const int64_t n = half - i;
        const __m256 a = loadf_partial(p + i, n), b = loadf_partial(p + half + i, n);
        const __m256 c = loadf_partial(cr + i, n), s = loadf_partial(sr + i, n);
        storef_partial(p + i, n, _mm256_fmsub_ps(a, c, _mm256_mul_ps(b, s)));
        storef_partial(p + half + i, n, _mm256_fmadd_ps(b, c, _mm256_mul_ps(a, s)));
      }
    }
  }
}

void avx2_silu_mul(const float* gate, const float* up, float* out, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void avx2_softmax(float* x, int64_t M, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    float* r = x + m * N;
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(r + n));
    float vmax = hmax(mx);
    for (; n < N; ++n) vmax = r[n] > vmax ? r[n] : vmax;
    const __m256 vm = _mm256_set1_ps(vmax);
    __m256 sum = _mm256_setzero_ps();
    float tail = 0.0f;
    for (n = 0; n + 8 <= N; n += 8) {
      const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(r + n), vm));
      sum = _mm256_add_ps(sum, e);
      _mm256_storeu_ps(r + n, e);
    }
    for (; n < N; ++n) {
      r[n] = std::exp(r[n] - vmax);
      tail += r[n];
    }
    const float inv = 1.0f / (hsum(sum) + tail);
    const __m256 vi = _mm256_set1_ps(inv);
    for (n = 0; n + 8 <= N; n += 8) _mm256_storeu_ps(r + n, _mm256_mul_ps(_mm256_loadu_ps(r + n), vi));
    for (; n < N; ++n) r[n] *= inv;
  }
}

void avx2_add(const float* a, const float* b, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

template <WDType DT>
void to_f32_dt(const void* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<DT>(src, static_cast<int64_t>(i)));
  for (; i < n; ++i) dst[i] = scalar_w(src, DT, static_cast<int64_t>(i));
}

void avx2_to_f32(const void* src, WDType t, float* dst, size_t n) {
  switch (t) {
    case WDType::kF32: to_f32_dt<WDType::kF32>(src, dst, n); break;
    case WDType::kF16: to_f32_dt<WDType::kF16>(src, dst, n); break;
    case WDType::kBF16: to_f32_dt<WDType::kBF16>(src, dst, n); break;
    case WDType::kQ8: to_f32_dt<WDType::kQ8>(src, dst, n); break;
    case WDType::kBF16I16: LPX_CHECK(false && "to_f32 does not take bf16x16"); break;
  }
}

float avx2_dot(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i < n; i += 8) {
    const int64_t r = static_cast<int64_t>(n - i);
    s0 = _mm256_fmadd_ps(loadf_partial(a + i, r), loadf_partial(b + i, r), s0);
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

void avx2_axpy(float alpha, const float* x, float* y, size_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// ---------------------------------------------------------------------------------------------
// Attention: per (query token, kv head) item, keys in chunks with an online softmax.

constexpr int64_t kKeyChunk = 64;

void avx2_attention_items(const AttentionArgs& a, int64_t begin, int64_t end) {
  const int hd = a.kv.head_dim;
  const int n_kv = a.kv.n_kv_heads;
  const int rep = a.n_heads / n_kv;
  const int64_t q_stride = a.q_stride > 0 ? a.q_stride : int64_t{a.n_heads} * hd;
  const int64_t out_stride = a.out_stride > 0 ? a.out_stride : int64_t{a.n_heads} * hd;
  const float scale = a.scale != 0.0f ? a.scale : 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t acc_stride = (hd + 7) / 8 * 8;
  float* scratch = static_cast<float*>(detail::thread_scratch(
      2, sizeof(float) * static_cast<size_t>(rep * (kKeyChunk + acc_stride + 2))));
  float* scores = scratch;
  float* acc = scores + rep * kKeyChunk;
  float* mrun = acc + rep * acc_stride;
  float* lrun = mrun + rep;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t j = item / n_kv;
    const int g = static_cast<int>(item % n_kv);
    const int64_t n_keys = int64_t{a.positions[j]} + 1;
    for (int h = 0; h < rep; ++h) {
      mrun[h] = -INFINITY;
      lrun[h] = 0.0f;
      for (int64_t d = 0; d < acc_stride; ++d) acc[h * acc_stride + d] = 0.0f;
    }
    const float* qg = a.q + j * q_stride + int64_t{g} * rep * hd;
    for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyChunk) {
      const int64_t tn = imin(kKeyChunk, n_keys - t0);
      for (int64_t t = 0; t < tn; ++t) {
        const float* k = a.kv.key(t0 + t, g);
        for (int h = 0; h < rep; ++h) scores[h * kKeyChunk + t] = avx2_dot(qg + int64_t{h} * hd, k, static_cast<size_t>(hd)) * scale;
      }
      for (int h = 0; h < rep; ++h) {
        float* s = scores + h * kKeyChunk;
        float cmax = -INFINITY;
        for (int64_t t = 0; t < tn; ++t) cmax = s[t] > cmax ? s[t] : cmax;
        const float m_new = mrun[h] > cmax ? mrun[h] : cmax;
        const float corr = mrun[h] == -INFINITY ? 0.0f : std::exp(mrun[h] - m_new);
        mrun[h] = m_new;
        const __m256 vm = _mm256_set1_ps(m_new);
        __m256 sum = _mm256_setzero_ps();
        for (int64_t t = 0; t < tn; t += 8) {
          const int64_t n = tn - t;
          const __m256 e = exp256(_mm256_sub_ps(loadf_partial(s + t, n), vm));
          const __m256 em = _mm256_and_ps(e, _mm256_castsi256_ps(lane_mask(n)));
          sum = _mm256_add_ps(sum, em);
          storef_partial(s + t, n, em);
        }
        lrun[h] = lrun[h] * corr + hsum(sum);
        if (corr != 1.0f) avx2_axpy(corr - 1.0f, acc + h * acc_stride, acc + h * acc_stride, static_cast<size_t>(hd));
      }
      for (int64_t t = 0; t < tn; ++t) {
        const float* vr = a.kv.value(t0 + t, g);
        for (int h = 0; h < rep; ++h) avx2_axpy(scores[h * kKeyChunk + t], vr, acc + h * acc_stride, static_cast<size_t>(hd));
      }
    }
    for (int h = 0; h < rep; ++h) {
      float* o = a.out + j * out_stride + int64_t{g * rep + h} * hd;
      const float inv = 1.0f / lrun[h];
      for (int d = 0; d < hd; ++d) o[d] = acc[h * acc_stride + d] * inv;
    }
  }
}

}  // namespace

namespace detail {

const OpsTable* avx2_table() {
  static const OpsTable table = {
      Isa::kAvx2,
      &avx2_gemm,
      &avx2_supports_mode,
      &avx2_packed_a_bytes,
      &avx2_pack_a_units,
      &avx2_pack_a,
      &avx2_gemm_blocked,
      &avx2_rmsnorm,
      &avx2_rope_apply,
      &avx2_silu_mul,
      &avx2_softmax,
      &avx2_add,
      &avx2_to_f32,
      &avx2_dot,
      &avx2_axpy,
      &avx2_attention_items,
      nullptr,
      nullptr,
  };
  return &table;
}

}  // namespace detail
}  // namespace lpx::kernels

#pragma GCC diagnostic pop
#pragma GCC pop_options

#else  // !LPX_AVX2_TU

namespace lpx::kernels::detail {
const OpsTable* avx2_table() { return nullptr; }
}  // namespace lpx::kernels::detail

#endif
