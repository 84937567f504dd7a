// AVX-512 kernels (F/BW/VL + FMA/F16C; AVX512-BF16 vdpbf16ps and AMX-BF16 for the bf16 GEMMs).
// Compiled with a per-file target pragma so the rest of the library stays baseline x86-64;
// dispatch.cpp only hands this table out when the CPU supports it, and only selects the
// vdpbf16ps / AMX modes when the CPU (and, for AMX, the OS) allows them. No std templates are instantiated below the
// pragma (their out-of-line copies could otherwise leak AVX-512 code into other paths).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LPX_AVX512_TU 1
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,avx2,bmi,bmi2,amx-tile,amx-bf16")
// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm512_undefined_ps() (false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#ifdef LPX_AVX512_TU
namespace lpx::kernels {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline __mmask16 mask16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : (n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1u));
}

// ---------------------------------------------------------------------------------------------
// Loads of 16 weights widened to f32.

template <WDType DT>
inline __m512 load16(const void* p, int64_t k);
template <>
inline __m512 load16<WDType::kF32>(const void* p, int64_t k) {
  return _mm512_loadu_ps(static_cast<const float*>(p) + k);
}
template <>
inline __m512 load16<WDType::kBF16>(const void* p, int64_t k) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + k));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
template <>
inline __m512 load16<WDType::kF16>(const void* p, int64_t k) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + k));
  return _mm512_cvtph_ps(h);
}

template <WDType DT>
inline __m512 load16m(const void* p, int64_t k, __mmask16 m);
template <>
inline __m512 load16m<WDType::kF32>(const void* p, int64_t k, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + k);
}
template <>
inline __m512 load16m<WDType::kBF16>(const void* p, int64_t k, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + k);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
template <>
inline __m512 load16m<WDType::kF16>(const void* p, int64_t k, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + k);
  return _mm512_cvtph_ps(h);
}

// q8 (k a multiple of 16, so the 16 share one block; see WDType::kQ8): int8 widened, times the
// block's f16 scale (the product is exact in f32 up to one rounding, as in the reference).
inline __m512 q8_scale16(const uint8_t* block) {
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(*reinterpret_cast<const uint16_t*>(block))));
}
inline __m512 q8_values16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
template <>
inline __m512 load16<WDType::kQ8>(const void* p, int64_t k) {
  const auto* b = static_cast<const uint8_t*>(p) + (k / kQ8Group) * kQ8BlockBytes;
  return _mm512_mul_ps(q8_values16(b + 2 + k % kQ8Group), q8_scale16(b));
}
template <>
inline __m512 load16m<WDType::kQ8>(const void* p, int64_t k, __mmask16 m) {
  // Rows are whole blocks, so all 16 lanes are readable; masked lanes are zeroed.
  return _mm512_maskz_mov_ps(m, load16<WDType::kQ8>(p, k));
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

// Sums each of 16 vectors: lane i of the result = horizontal sum of c[i].
inline __m512 reduce16(const __m512 c[16]) {
  __m512 z[8], w[4], u[2];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    z[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xEE));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(z[2 * i], z[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(z[2 * i], z[2 * i + 1], 0xDD));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
    u[i] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * i], w[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(w[2 * i], w[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
  // Position 4L+e holds row L+4e; gather row p from position 4*(p%4) + p/4.
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(idx, r);
}

// exp(x) for a vector: Cody-Waite range reduction + degree-7 Taylor polynomial (rel. err ~1e-7).
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606820309417e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// ---------------------------------------------------------------------------------------------
// Small-M GEMM (decode, small batches, LoRA): inner products over K with MR x NR accumulators.
// Each W row block is read from memory once and reused from L1 for every row block of x.

template <WDType DT, int MR, int NR>
inline void small_tile(const float* x, int64_t ldx, const char* w, int64_t wsb, int64_t K, float* y,
                       int64_t ldy, bool accumulate, float alpha) {
  __m512 c[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) c[i][j] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 wv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) wv[j] = load16<DT>(w + j * wsb, k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) c[i][j] = _mm512_fmadd_ps(xv, wv[j], c[i][j]);
    }
  }
  if (k < K) {
    const __mmask16 m = mask16(K - k);
    __m512 wv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) wv[j] = load16m<DT>(w + j * wsb, k, m);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + i * ldx + k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) c[i][j] = _mm512_fmadd_ps(xv, wv[j], c[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const float s = _mm512_reduce_add_ps(c[i][j]) * alpha;
      float* d = y + i * ldy + j;
      *d = accumulate ? *d + s : s;
    }
  }
}

template <WDType DT, int NR>
inline void small_rows(const GemmArgs& a, int64_t ldx, int64_t ldy, const char* w, int64_t wsb,
                       int64_t K) {
  for (int64_t m0 = 0; m0 < a.M; m0 += 4) {
    const float* x = a.x + m0 * ldx;
    float* y = a.y + m0 * ldy;
    switch (imin(4, a.M - m0)) {
      case 4: small_tile<DT, 4, NR>(x, ldx, w, wsb, K, y, ldy, a.accumulate, a.alpha); break;
      case 3: small_tile<DT, 3, NR>(x, ldx, w, wsb, K, y, ldy, a.accumulate, a.alpha); break;
      case 2: small_tile<DT, 2, NR>(x, ldx, w, wsb, K, y, ldy, a.accumulate, a.alpha); break;
      default: small_tile<DT, 1, NR>(x, ldx, w, wsb, K, y, ldy, a.accumulate, a.alpha); break;
    }
  }
}

// M = 1 (decode GEMV): one W row at a time so each thread streams its rows strictly sequentially,
// with a software prefetch kGemvPrefetch bytes ahead (measured +5-10% over hardware prefetch
// alone) and four independent accumulators.
constexpr int64_t kGemvPrefetch = 1024;

// bf16: 64 weights (two cache lines) per step as 32-bit pairs; the even elements are the low
// halves (<< 16 gives the f32) and the odd ones the high halves (& 0xffff0000), multiplied with
// x pre-split into xe[i] = x[2i], xo[i] = x[2i+1]. Exact widening, two integer ops per 32 weights.
void gemv_bf16(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y,
               bool accumulate, float alpha) {
  const int64_t kmain = K / 64 * 64;
  float* xe = static_cast<float*>(detail::thread_scratch(4, sizeof(float) * static_cast<size_t>(kmain + 16)));
  float* xo = xe + kmain / 2;
  const __m512i idx_even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i idx_odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t k = 0; k < kmain; k += 32) {
    const __m512 lo = _mm512_loadu_ps(x + k), hi = _mm512_loadu_ps(x + k + 16);
    _mm512_storeu_ps(xe + k / 2, _mm512_permutex2var_ps(lo, idx_even, hi));
    _mm512_storeu_ps(xo + k / 2, _mm512_permutex2var_ps(lo, idx_odd, hi));
  }
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t n = 0; n < N; ++n) {
    const char* r = w + n * wsb;
    const uint16_t* rw = reinterpret_cast<const uint16_t*>(r);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t k = 0; k < kmain; k += 64) {
      _mm_prefetch(r + 2 * k + kGemvPrefetch, _MM_HINT_T0);
      _mm_prefetch(r + 2 * k + kGemvPrefetch + 64, _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(rw + k), u = _mm512_loadu_si512(rw + k + 32);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xe + k / 2), _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xo + k / 2), _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask)), a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(xe + k / 2 + 16), _mm512_castsi512_ps(_mm512_slli_epi32(u, 16)), a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(xo + k / 2 + 16), _mm512_castsi512_ps(_mm512_and_si512(u, hi_mask)), a3);
    }
    for (int64_t k = kmain; k < K; k += 16) {
      const __mmask16 m = mask16(K - k);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), load16m<WDType::kBF16>(rw, k, m), a0);
    }
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) * alpha;
    y[n] = accumulate ? y[n] + s : s;
  }
}

template <WDType DT>
void gemv_rows(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y,
               bool accumulate, float alpha) {
  constexpr int64_t kStepBytes = 64 * static_cast<int64_t>(DT == WDType::kF32 ? 4 : 2);
  for (int64_t n = 0; n < N; ++n) {
    const char* r = w + n * wsb;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {
      for (int64_t b = 0; b < kStepBytes; b += 64) _mm_prefetch(r + k * (kStepBytes / 64) + b + kGemvPrefetch, _MM_HINT_T0);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), load16<DT>(r, k), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), load16<DT>(r, k + 16), a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 32), load16<DT>(r, k + 32), a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 48), load16<DT>(r, k + 48), a3);
    }
    for (; k < K; k += 16) {
      const __mmask16 m = mask16(K - k);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), load16m<DT>(r, k, m), a0);
    }
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) * alpha;
    y[n] = accumulate ? y[n] + s : s;
  }
}

// q8 (K a multiple of 32): per block of 32, the partial sums of x * q go into a 16-lane vector that
// is scaled once (one FMA) into the row's accumulators; two blocks (68 bytes) per step.
constexpr int64_t kQ8Prefetch = 2048;
void gemv_q8(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y,
             bool accumulate, float alpha) {
  const int64_t nblocks = K / kQ8Group;
  for (int64_t n = 0; n < N; ++n) {
    const uint8_t* r = reinterpret_cast<const uint8_t*>(w + n * wsb);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t b = 0;
    for (; b + 2 <= nblocks; b += 2) {
      const uint8_t* p = r + b * kQ8BlockBytes;
      const float* xb = x + b * kQ8Group;
      // 136 bytes per step: three lines keep the prefetch ahead of the stream (two fell behind).
      _mm_prefetch(reinterpret_cast<const char*>(p) + kQ8Prefetch, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p) + kQ8Prefetch + 64, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p) + kQ8Prefetch + 128, _MM_HINT_T0);
      __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(xb), q8_values16(p + 2));
      __m512 t1 = _mm512_mul_ps(_mm512_loadu_ps(xb + 32), q8_values16(p + kQ8BlockBytes + 2));
      t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 16), q8_values16(p + 18), t0);
      t1 = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 48), q8_values16(p + kQ8BlockBytes + 18), t1);
      a0 = _mm512_fmadd_ps(t0, q8_scale16(p), a0);
      a1 = _mm512_fmadd_ps(t1, q8_scale16(p + kQ8BlockBytes), a1);
    }
    if (b < nblocks) {
      const uint8_t* p = r + b * kQ8BlockBytes;
      const float* xb = x + b * kQ8Group;
      __m512 t0 = _mm512_mul_ps(_mm512_loadu_ps(xb), q8_values16(p + 2));
      t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 16), q8_values16(p + 18), t0);
      a0 = _mm512_fmadd_ps(t0, q8_scale16(p), a0);
    }
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * alpha;
    y[n] = accumulate ? y[n] + s : s;
  }
}

template <WDType DT>
void small_m_gemm(const GemmArgs& a, int64_t ldx, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols;
  const int64_t wsb = wdtype_row_bytes(DT, a.w.stride());
  const char* w0 = static_cast<const char*>(a.w.data);
  if (a.M == 1) {
    if constexpr (DT == WDType::kQ8) {
      gemv_q8(a.x, w0, wsb, N, K, a.y, a.accumulate, a.alpha);
    } else if (DT == WDType::kBF16 && K >= 64) {
      gemv_bf16(a.x, w0, wsb, N, K, a.y, a.accumulate, a.alpha);
    } else {
      gemv_rows<DT>(a.x, w0, wsb, N, K, a.y, a.accumulate, a.alpha);
    }
    return;
  }
  int64_t n = 0;
  GemmArgs sub = a;
  for (; n + 4 <= N; n += 4) {
    sub.y = a.y + n;
    small_rows<DT, 4>(sub, ldx, ldy, w0 + n * wsb, wsb, K);
  }
  for (; n < N; ++n) {
    sub.y = a.y + n;
    small_rows<DT, 1>(sub, ldx, ldy, w0 + n * wsb, wsb, K);
  }
}

// ---------------------------------------------------------------------------------------------
// Blocked GEMM (prefill, M >= kBlockedMinRows). x is packed once per call (shared by all threads)
// into row tiles of kMR rows; each thread packs W per (k block, panel of kNR output columns) and
// runs a kMR x kNR register tile accumulating in f32 straight into y.
//   exact:    A [k block][tile][kc][kMR] f32,            W panel [kc][kNR] f32 (widened)
//   bf16dot:  A [k block][tile][kc/2][kMR] bf16 pairs,   W panel [kc/2][kNR][2] bf16 (vdpbf16ps)
// (each k block of A is contiguous for all tiles, so the sweep over tiles streams from L2).
// Loop order per thread: k block -> panel (packed into L1) -> every row tile (A streams from L2).

constexpr int kNV = 2;               // zmm vectors per tile row
constexpr int kNR = 16 * kNV;        // panel width (output columns)
constexpr int kMR = 12;              // tile rows
constexpr int64_t kKCf32 = 192;      // k block, exact path (panel 24 KiB + A tile 9 KiB in L1)
constexpr int64_t kKCbf16 = 384;     // k block, bf16 path (panel 24 KiB + A tile 9 KiB in L1)

inline int64_t padded_k(int64_t K) { return (K + 1) & ~int64_t{1}; }

size_t avx512_packed_a_bytes_tiles(int64_t M, int64_t K, bool bf16) {
  const int64_t tiles = (M + kMR - 1) / kMR;
  return static_cast<size_t>(tiles * kMR * (bf16 ? padded_k(K) * 2 : K * 4));
}

void avx512_pack_a_tiles(const float* x, int64_t ldx, int64_t M, int64_t K, bool bf16, int64_t t0,
                         int64_t t1, void* out) {
  static_assert(kMR <= 16, "one transpose16 per k chunk");
  static_assert(kKCf32 % 16 == 0 && kKCbf16 % 32 == 0, "pack chunks must not straddle k blocks");
  const __mmask16 tile_lanes = mask16(kMR);
  const int64_t Kp = padded_k(K);
  const int64_t mpad = (M + kMR - 1) / kMR * kMR;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t rows = imin(kMR, M - t * kMR);
    const float* src = x + t * kMR * ldx;
    if (!bf16) {
      // 16 k values of every row -> transpose -> 16 stores of kMR lanes.
      for (int64_t k = 0; k < K; k += 16) {
        const int64_t kb = k / kKCf32, kcb = imin(kKCf32, K - kb * kKCf32);
        float* dst = static_cast<float*>(out) + kb * kKCf32 * mpad + t * kcb * kMR - kb * kKCf32 * kMR;
        const __mmask16 mk = mask16(K - k);
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(mk, src + i * ldx + k) : _mm512_setzero_ps();
        transpose16(r);
        const int64_t nk = imin(16, K - k);
        for (int64_t j = 0; j < nk; ++j) _mm512_mask_storeu_ps(dst + (k + j) * kMR, tile_lanes, r[j]);
      }
      continue;
    }
    // bf16 pairs: 32 k values of every row -> 16 pairs (RNE) -> transpose -> 16 stores.
    for (int64_t k = 0; k < Kp; k += 32) {
      const int64_t kb = k / kKCbf16, kpb = (imin(kKCbf16, K - kb * kKCbf16) + 1) / 2;
      uint32_t* dst = static_cast<uint32_t*>(out) + kb * (kKCbf16 / 2) * mpad + t * kpb * kMR -
                      kb * (kKCbf16 / 2) * kMR;
      const __mmask16 mlo = mask16(K - k), mhi = mask16(K - k - 16);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        if (i < rows) {
          const __m512 lo = _mm512_maskz_loadu_ps(mlo, src + i * ldx + k);
          const __m512 hi = _mm512_maskz_loadu_ps(mhi, src + i * ldx + k + 16);
          r[i] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        } else {
          r[i] = _mm512_setzero_ps();
        }
      }
      transpose16(r);
      const int64_t np = imin(16, (Kp - k) / 2);
      for (int64_t j = 0; j < np; ++j) {
        _mm512_mask_storeu_ps(reinterpret_cast<float*>(dst + (k / 2 + j) * kMR), tile_lanes, r[j]);
      }
    }
  }
}

template <WDType DT>
void pack_panel_f32(const char* w, int64_t wsb, int64_t rows, int64_t k0, int64_t kc, float* out) {
  for (int g = 0; g < kNV; ++g) {
    for (int64_t kk = 0; kk < kc; kk += 16) {
      const __mmask16 m = mask16(kc - kk);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const int64_t row = g * 16 + i;
        r[i] = row < rows ? load16m<DT>(w + row * wsb, k0 + kk, m) : _mm512_setzero_ps();
      }
      transpose16(r);
      const int64_t nk = imin(16, kc - kk);
      for (int64_t i = 0; i < nk; ++i) _mm512_store_ps(out + (kk + i) * kNR + g * 16, r[i]);
    }
  }
}

// bf16 rows -> [kcp/2][kNR][2] pairs (kcp = kc rounded up to even; the pad element is zero).
void pack_panel_bf16(const char* w, int64_t wsb, int64_t rows, int64_t k0, int64_t kc, uint16_t* out) {
  for (int g = 0; g < kNV; ++g) {
    for (int64_t kk = 0; kk < kc; kk += 32) {
      const int64_t nel = imin(32, kc - kk);
      const __mmask32 m = nel >= 32 ? static_cast<__mmask32>(0xFFFFFFFFu)
                                    : static_cast<__mmask32>((1u << nel) - 1u);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const int64_t row = g * 16 + i;
        r[i] = row < rows ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(
                                m, reinterpret_cast<const uint16_t*>(w + row * wsb) + k0 + kk))
                          : _mm512_setzero_ps();
      }
      transpose16(r);
      const int64_t npairs = (nel + 1) / 2;
      for (int64_t i = 0; i < npairs; ++i) {
        _mm512_store_ps(reinterpret_cast<float*>(out + (kk / 2 + i) * (2 * kNR) + g * 32), r[i]);
      }
    }
  }
}

// The same panel from a prepacked (kBF16I16) matrix: pair p of the panel's two 16-row groups is
// already a 64-byte vector each, so this is a copy (zeros past the matrix's last group).
void pack_panel_bf16_i16(const char* g0, int64_t group_bytes, int64_t rows, int64_t k0, int64_t kc, uint16_t* out) {
  const int64_t npairs = (kc + 1) / 2, p0 = k0 / 2;
  for (int g = 0; g < kNV; ++g) {
    const bool present = g * 16 < rows;
    const char* src = g0 + g * group_bytes + p0 * 64;
    for (int64_t i = 0; i < npairs; ++i) {
      const __m512i v = present ? _mm512_loadu_si512(src + i * 64) : _mm512_setzero_si512();
      _mm512_store_si512(reinterpret_cast<void*>(out + i * (2 * kNR) + g * 32), v);
    }
  }
}

// c[i][0:kNR] (+)= sum_k a[k][i] * b[k][:] for i < MR; a: packed tile (stride kMR per k).
template <int MR>
void ukernel_f32(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, bool load_c,
                 const __mmask16* cm) {
  __m512 acc[MR][kNV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v)
      acc[i][v] = load_c ? _mm512_maskz_loadu_ps(cm[v], c + i * ldc + v * 16) : _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) bv[v] = _mm512_load_ps(b + k * kNR + v * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[k * kMR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) _mm512_mask_storeu_ps(c + i * ldc + v * 16, cm[v], acc[i][v]);
}

template <int MR>
void ukernel_bf16(const uint32_t* a, const uint16_t* b, int64_t kpairs, float* c, int64_t ldc,
                  bool load_c, const __mmask16* cm) {
  __m512 acc[MR][kNV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v)
      acc[i][v] = load_c ? _mm512_maskz_loadu_ps(cm[v], c + i * ldc + v * 16) : _mm512_setzero_ps();
  for (int64_t p = 0; p < kpairs; ++p) {
    __m512bh bv[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) {
      bv[v] = (__m512bh)_mm512_load_si512(reinterpret_cast<const void*>(b + p * (2 * kNR) + v * 32));
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[p * kMR + i]));
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) _mm512_mask_storeu_ps(c + i * ldc + v * 16, cm[v], acc[i][v]);
}

#define LPX_MR_SWITCH(mr, FN, ...)         \
  switch (mr) {                            \
    case 12: FN<12>(__VA_ARGS__); break;   \
    case 11: FN<11>(__VA_ARGS__); break;   \
    case 10: FN<10>(__VA_ARGS__); break;   \
    case 9: FN<9>(__VA_ARGS__); break;     \
    case 8: FN<8>(__VA_ARGS__); break;     \
    case 7: FN<7>(__VA_ARGS__); break;     \
    case 6: FN<6>(__VA_ARGS__); break;     \
    case 5: FN<5>(__VA_ARGS__); break;     \
    case 4: FN<4>(__VA_ARGS__); break;     \
    case 3: FN<3>(__VA_ARGS__); break;     \
    case 2: FN<2>(__VA_ARGS__); break;     \
    default: FN<1>(__VA_ARGS__); break;    \
  }
static_assert(kMR == 12, "LPX_MR_SWITCH lists 12..1");

// y rows of the next row tile (read and written by its micro-kernel call) are far from the core
// once y outgrows L2: start fetching them while the current tile computes (perf showed the
// micro-kernel's first loads of y stalling otherwise).
inline void prefetch_c_tile(const float* c, int64_t ldc, int64_t m0, int64_t M) {
  const int64_t end = imin(M, m0 + kMR);
  for (int64_t i = m0; i < end; ++i) {
    const char* row = reinterpret_cast<const char*>(c + i * ldc);
    for (int64_t off = 0; off < kNR * 4; off += 64) _mm_prefetch(row + off, _MM_HINT_T0);
  }
}

inline void column_masks(int64_t valid, __mmask16* cm) {
  for (int v = 0; v < kNV; ++v) cm[v] = mask16(valid - 16 * v);
}

template <WDType DT>
void blocked_f32(const float* ap, const GemmArgs& a, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols, M = a.M;
  const int64_t wsb = wdtype_row_bytes(DT, a.w.stride());
  const char* w0 = static_cast<const char*>(a.w.data);
  const int64_t npan = (N + kNR - 1) / kNR;
  const int64_t mpad = (M + kMR - 1) / kMR * kMR;
  float* panel = static_cast<float*>(detail::thread_scratch(0, sizeof(float) * kKCf32 * kNR));
  for (int64_t k0 = 0; k0 < K; k0 += kKCf32) {
    const int64_t kc = imin(kKCf32, K - k0);
    const bool load_c = a.accumulate || k0 > 0;
    for (int64_t p = 0; p < npan; ++p) {
      pack_panel_f32<DT>(w0 + p * kNR * wsb, wsb, imin(kNR, N - p * kNR), k0, kc, panel);
      __mmask16 cm[kNV];
      column_masks(N - p * kNR, cm);
      float* c = a.y + p * kNR;
      const float* ablock = ap + k0 * mpad;  // this k block: [tile][kc][kMR]
      for (int64_t m0 = 0; m0 < M; m0 += kMR) {
        const float* at = ablock + m0 * kc;
        prefetch_c_tile(c, ldy, m0 + kMR, M);
        LPX_MR_SWITCH(imin(kMR, M - m0), ukernel_f32, at, panel, kc, c + m0 * ldy, ldy, load_c, cm);
      }
    }
  }
}

void blocked_bf16(const uint32_t* ap, const GemmArgs& a, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols, M = a.M;
  const int64_t mpad = (M + kMR - 1) / kMR * kMR;
  const int64_t wsb = a.w.stride() * 2;
  const bool packed = a.w.dtype == WDType::kBF16I16;
  const int64_t gbytes = bf16i16_group_bytes(K);
  static_assert(kKCbf16 % 2 == 0, "k blocks start on a pair (the prepacked layout stores pairs)");
  const char* w0 = static_cast<const char*>(a.w.data);
  const int64_t npan = (N + kNR - 1) / kNR;
  uint16_t* panel = static_cast<uint16_t*>(detail::thread_scratch(0, sizeof(uint16_t) * kKCbf16 * kNR));
  for (int64_t k0 = 0; k0 < K; k0 += kKCbf16) {
    const int64_t kc = imin(kKCbf16, K - k0);
    const int64_t kpairs = (kc + 1) / 2;
    const bool load_c = a.accumulate || k0 > 0;
    for (int64_t p = 0; p < npan; ++p) {
      if (packed) {
        pack_panel_bf16_i16(w0 + p * (kNR / 16) * gbytes, gbytes, imin(kNR, N - p * kNR), k0, kc, panel);
      } else {
        pack_panel_bf16(w0 + p * kNR * wsb, wsb, imin(kNR, N - p * kNR), k0, kc, panel);
      }
      __mmask16 cm[kNV];
      column_masks(N - p * kNR, cm);
      float* c = a.y + p * kNR;
      const uint32_t* ablock = ap + (k0 / 2) * mpad;  // this k block: [tile][kc/2][kMR]
      for (int64_t m0 = 0; m0 < M; m0 += kMR) {
        const uint32_t* at = ablock + m0 * kpairs;
        prefetch_c_tile(c, ldy, m0 + kMR, M);
        LPX_MR_SWITCH(imin(kMR, M - m0), ukernel_bf16, at, panel, kpairs, c + m0 * ldy, ldy, load_c, cm);
      }
    }
  }
}

void avx512_gemm(const GemmArgs& a) {
  const int64_t ldx = a.ldx > 0 ? a.ldx : a.w.cols;
  const int64_t ldy = a.ldy > 0 ? a.ldy : a.w.rows;
  switch (a.w.dtype) {
    case WDType::kF32: small_m_gemm<WDType::kF32>(a, ldx, ldy); break;
    case WDType::kF16: small_m_gemm<WDType::kF16>(a, ldx, ldy); break;
    case WDType::kBF16: small_m_gemm<WDType::kBF16>(a, ldx, ldy); break;
    case WDType::kQ8: small_m_gemm<WDType::kQ8>(a, ldx, ldy); break;
    case WDType::kBF16I16: LPX_CHECK(false && "bf16x16 reaches the f32 kernels only unpacked"); break;
  }
}

// ---------------------------------------------------------------------------------------------
// AMX-BF16 GEMM. x is converted to a row-major bf16 copy [Mpad][lda] (Mpad = M rounded up to 32,
// lda = K rounded up to 32, plus 32 so rows do not alias the same L1 sets; zero padded) whose
// 16-row x 32-k slices load straight into A tiles.
// W panels use the same [kc/2][32][2] pair layout as the vdpbf16ps path (zero padded to 16 pairs
// per k step), so a 16-pair x 16-column half is one B tile with a 128-byte row stride.
// Register blocking: C = 2 x 2 tiles (32 rows x 32 columns, tmm0-3), A = tmm4-5, B = tmm6-7.

constexpr int64_t kAmxKC = 1024;  // k block (multiple of 32); 512..1024 measured best
constexpr int64_t kAmxNC = 256;  // output columns packed together (8 panels)

struct alignas(64) AmxTileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

inline int64_t amx_lda(int64_t K) { return round_up(K, 32) + 32; }

size_t amx_packed_a_bytes(int64_t M, int64_t K) {
  return static_cast<size_t>(round_up(M, 32) * amx_lda(K) * 2);
}

// Units are 16-row groups of the padded copy.
void amx_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, int64_t u0, int64_t u1, void* out) {
  const int64_t Kp = amx_lda(K);
  for (int64_t r = u0 * 16; r < u1 * 16; ++r) {
    uint16_t* dst = static_cast<uint16_t*>(out) + r * Kp;
    if (r >= M) {
      for (int64_t k = 0; k < Kp; k += 32) _mm512_storeu_si512(dst + k, _mm512_setzero_si512());
      continue;
    }
    const float* src = x + r * ldx;
    for (int64_t k = 0; k < Kp; k += 32) {
      const __m512 lo = _mm512_maskz_loadu_ps(mask16(K - k), src + k);
      const __m512 hi = _mm512_maskz_loadu_ps(mask16(K - k - 16), src + k + 16);
      _mm512_storeu_si512(dst + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

void amx_blocked(const uint16_t* xb, const GemmArgs& a, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols, M = a.M;
  const int64_t Kp = amx_lda(K), Mpad = round_up(M, 32);
  const int64_t wsb = a.w.stride() * 2;
  const char* w0 = static_cast<const char*>(a.w.data);
  constexpr int64_t kPanelElems = (kAmxKC / 2) * 2 * kNR;  // u16 per packed panel
  uint16_t* panels = static_cast<uint16_t*>(
      detail::thread_scratch(0, sizeof(uint16_t) * static_cast<size_t>(kPanelElems * (kAmxNC / kNR))));
  alignas(64) float ctmp[32 * 32];

  AmxTileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  const int64_t a_stride = Kp * 2;
  for (int64_t n0 = 0; n0 < N; n0 += kAmxNC) {
    const int64_t nb = imin(kAmxNC, N - n0);
    const int64_t npan = (nb + kNR - 1) / kNR;
    for (int64_t k0 = 0; k0 < K; k0 += kAmxKC) {
      const int64_t kc = imin(kAmxKC, K - k0);
      const int64_t ksteps = (kc + 31) / 32;
      for (int64_t p = 0; p < npan; ++p) {
        uint16_t* panel = panels + p * kPanelElems;
        pack_panel_bf16(w0 + (n0 + p * kNR) * wsb, wsb, imin(kNR, nb - p * kNR), k0, kc, panel);
        for (int64_t pr = (kc + 1) / 2; pr < ksteps * 16; ++pr) {  // zero pad pairs to the k step
          _mm512_store_si512(panel + pr * 2 * kNR, _mm512_setzero_si512());
          _mm512_store_si512(panel + pr * 2 * kNR + 32, _mm512_setzero_si512());
        }
      }
      const bool load_c = a.accumulate || k0 > 0;
      for (int64_t m0 = 0; m0 < Mpad; m0 += 32) {
        const uint16_t* arow = xb + m0 * Kp + k0;
        const int64_t rows = imin(32, M - m0);
        for (int64_t p = 0; p < npan; ++p) {
          const int64_t cols = imin(kNR, nb - p * kNR);
          float* cy = a.y + m0 * ldy + n0 + p * kNR;
          const bool full = rows == 32 && cols == kNR;
          float* cb = full ? cy : ctmp;
          const int64_t cstride = full ? ldy * 4 : kNR * 4;
          if (!full) {
            for (int64_t i = 0; i < 32; ++i) {
              for (int v = 0; v < kNV; ++v) {
                const __mmask16 mk = (i < rows && load_c) ? mask16(cols - 16 * v) : static_cast<__mmask16>(0);
                _mm512_store_ps(ctmp + i * kNR + v * 16, _mm512_maskz_loadu_ps(mk, cy + i * ldy + v * 16));
              }
            }
          }
          if (load_c || !full) {
            _tile_loadd(0, cb, cstride);
            _tile_loadd(1, cb + 16, cstride);
            _tile_loadd(2, reinterpret_cast<char*>(cb) + 16 * cstride, cstride);
            _tile_loadd(3, reinterpret_cast<char*>(cb) + 16 * cstride + 64, cstride);
          } else {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
          }
          const uint16_t* bp = panels + p * kPanelElems;
          for (int64_t s = 0; s < ksteps; ++s) {
            _tile_loadd(4, arow + s * 32, a_stride);
            _tile_loadd(5, arow + 16 * Kp + s * 32, a_stride);
            _tile_loadd(6, bp + s * 16 * 2 * kNR, 2 * kNR * 2);
            _tile_loadd(7, bp + s * 16 * 2 * kNR + 32, 2 * kNR * 2);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
          _tile_stored(0, cb, cstride);
          _tile_stored(1, cb + 16, cstride);
          _tile_stored(2, reinterpret_cast<char*>(cb) + 16 * cstride, cstride);
          _tile_stored(3, reinterpret_cast<char*>(cb) + 16 * cstride + 64, cstride);
          if (!full) {
            for (int64_t i = 0; i < rows; ++i) {
              for (int v = 0; v < kNV; ++v) {
                _mm512_mask_storeu_ps(cy + i * ldy + v * 16, mask16(cols - 16 * v), _mm512_load_ps(ctmp + i * kNR + v * 16));
              }
            }
          }
        }
      }
    }
  }
  _tile_release();
}

// ---------------------------------------------------------------------------------------------
// Mode plumbing for the table.

bool avx512_supports_mode(detail::GemmMode) { return true; }  // dispatch checks the CPU/OS

size_t avx512_packed_a_bytes(int64_t M, int64_t K, detail::GemmMode mode) {
  switch (mode) {
    case detail::GemmMode::kF32: return avx512_packed_a_bytes_tiles(M, K, false);
    case detail::GemmMode::kBf16Dot: return avx512_packed_a_bytes_tiles(M, K, true);
    case detail::GemmMode::kAmx: return amx_packed_a_bytes(M, K);
  }
  return 0;
}

int64_t avx512_pack_a_units(int64_t M, detail::GemmMode mode) {
  return mode == detail::GemmMode::kAmx ? round_up(M, 32) / 16 : (M + kMR - 1) / kMR;
}

void avx512_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, detail::GemmMode mode,
                   int64_t u0, int64_t u1, void* out) {
  if (mode == detail::GemmMode::kAmx) {
    amx_pack_a(x, ldx, M, K, u0, u1, out);
  } else {
    avx512_pack_a_tiles(x, ldx, M, K, mode == detail::GemmMode::kBf16Dot, u0, u1, out);
  }
}

void avx512_gemm_blocked(const void* a_packed, detail::GemmMode mode, const GemmArgs& a) {
  LPX_CHECK(a.alpha == 1.0f);
  const int64_t ldy = a.ldy > 0 ? a.ldy : a.w.rows;
  if (mode == detail::GemmMode::kAmx) {
    LPX_CHECK(a.w.dtype == WDType::kBF16);  // dispatch unpacks kBF16I16 for AMX
    amx_blocked(static_cast<const uint16_t*>(a_packed), a, ldy);
    return;
  }
  if (mode == detail::GemmMode::kBf16Dot) {
    LPX_CHECK(a.w.dtype == WDType::kBF16 || a.w.dtype == WDType::kBF16I16);
    blocked_bf16(static_cast<const uint32_t*>(a_packed), a, ldy);
    return;
  }
  const float* ap = static_cast<const float*>(a_packed);
  switch (a.w.dtype) {
    case WDType::kF32: blocked_f32<WDType::kF32>(ap, a, ldy); break;
    case WDType::kF16: blocked_f32<WDType::kF16>(ap, a, ldy); break;
    case WDType::kBF16: blocked_f32<WDType::kBF16>(ap, a, ldy); break;
    case WDType::kQ8: blocked_f32<WDType::kQ8>(ap, a, ldy); break;
    case WDType::kBF16I16: LPX_CHECK(false && "bf16x16 reaches the f32 kernels only unpacked"); break;
  }
}

// ---------------------------------------------------------------------------------------------
// bf16-activation GEMV (M < 16) with the blocked kernel's arithmetic: every output (m, n) is one
// f32 lane accumulating vdpbf16ps over the k pairs in order, from 0 (or y), exactly as
// ukernel_bf16 does, so prefill-sized and decode-sized steps give a row the same result. W rows
// are read in groups of 16 and transposed in registers (16 rows x 16 pairs) instead of packed.

void avx512_pack_x_pairs(const float* x, int64_t ldx, int64_t M, int64_t K, uint32_t* out) {
  const int64_t kpairs = (K + 1) / 2;
  for (int64_t m = 0; m < M; ++m) {
    const float* src = x + m * ldx;
    uint32_t* dst = out + m * kpairs;
    for (int64_t k = 0; k < K; k += 32) {
      const __mmask16 mlo = mask16(K - k), mhi = mask16(K - k - 16);
      const __m512 lo = _mm512_maskz_loadu_ps(mlo, src + k);
      const __m512 hi = _mm512_maskz_loadu_ps(mhi, src + k + 16);
      const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
      _mm512_mask_storeu_epi32(dst + k / 2, mask16(kpairs - k / 2), v);
    }
  }
}

// 16 W rows stream at once: prefetch each a few cache lines ahead (the hardware prefetcher alone
// does not keep 16 streams per core full).
constexpr int64_t kGemvPrefetchBytes = 512;

// One step of gemv_bf16dot_m: pairs [p0, p0 + np) of W rows [0, rows) of a group (kFull: 16
// rows, 16 pairs, no masks or bounds, the common case), accumulated into acc[m] lane j = row j.
template <int M, bool kFull>
inline void gemv_bf16dot_step(const char* g, int64_t wsb, int64_t p0, int64_t rows, __mmask32 km, int64_t np,
                              const uint32_t* xp, int64_t kpairs, __m512* acc) {
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    const uint16_t* row = reinterpret_cast<const uint16_t*>(g + i * wsb) + 2 * p0;
    if (kFull || i < rows) {
      _mm_prefetch(reinterpret_cast<const char*>(row) + kGemvPrefetchBytes, _MM_HINT_T0);
      r[i] = kFull ? _mm512_loadu_ps(row) : _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(km, row));
    } else {
      r[i] = _mm512_setzero_ps();
    }
  }
  transpose16(r);  // r[q] lane j: pair p0 + q of W row j
  const int64_t nq = kFull ? 16 : np;
#pragma GCC unroll 16
  for (int64_t q = 0; q < nq; ++q) {
    const __m512bh wv = (__m512bh)_mm512_castps_si512(r[q]);
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      const __m512bh xv = (__m512bh)_mm512_set1_epi32(static_cast<int>(xp[m * kpairs + p0 + q]));
      acc[m] = _mm512_dpbf16_ps(acc[m], xv, wv);
    }
  }
}

// The prepacked (kBF16I16) GEMV: pair p of a 16-row group is one 64-byte load, used as it is, so
// each thread reads its groups as one sequential stream (prefetched ahead) with no transposes.
// Per output: the same vdpbf16ps sequence over the pairs as gemv_bf16dot_m and the blocked GEMM.
template <int M>
void gemv_i16_m(const uint32_t* xp, const GemmArgs& a) {
  const int64_t N = a.w.rows, K = a.w.cols;
  const int64_t kpairs = (K + 1) / 2;
  const int64_t ldy = a.ldy > 0 ? a.ldy : N;
  const int64_t gbytes = bf16i16_group_bytes(K);
  const char* w0 = static_cast<const char*>(a.w.data);
  for (int64_t n0 = 0; n0 < N; n0 += 16) {
    const char* g = w0 + (n0 / 16) * gbytes;
    const __mmask16 cm = mask16(N - n0);
    __m512 acc[M];
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) acc[m] = a.accumulate ? _mm512_maskz_loadu_ps(cm, a.y + m * ldy + n0) : _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 4 <= kpairs; p += 4) {
      _mm_prefetch(g + p * 64 + kGemvPrefetch, _MM_HINT_T0);
      _mm_prefetch(g + p * 64 + kGemvPrefetch + 64, _MM_HINT_T0);
      _mm_prefetch(g + p * 64 + kGemvPrefetch + 128, _MM_HINT_T0);
      _mm_prefetch(g + p * 64 + kGemvPrefetch + 192, _MM_HINT_T0);
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) {
        const __m512bh wv = (__m512bh)_mm512_loadu_si512(g + (p + q) * 64);
#pragma GCC unroll 16
        for (int m = 0; m < M; ++m) {
          acc[m] = _mm512_dpbf16_ps(acc[m], (__m512bh)_mm512_set1_epi32(static_cast<int>(xp[m * kpairs + p + q])), wv);
        }
      }
    }
    for (; p < kpairs; ++p) {
      const __m512bh wv = (__m512bh)_mm512_loadu_si512(g + p * 64);
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        acc[m] = _mm512_dpbf16_ps(acc[m], (__m512bh)_mm512_set1_epi32(static_cast<int>(xp[m * kpairs + p])), wv);
      }
    }
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) _mm512_mask_storeu_ps(a.y + m * ldy + n0, cm, acc[m]);
  }
}

template <int M>
void gemv_bf16dot_m(const uint32_t* xp, const GemmArgs& a) {
  if (a.w.dtype == WDType::kBF16I16) {
    gemv_i16_m<M>(xp, a);
    return;
  }
  const int64_t N = a.w.rows, K = a.w.cols;
  const int64_t kpairs = (K + 1) / 2;
  const int64_t ldy = a.ldy > 0 ? a.ldy : N;
  const int64_t wsb = a.w.stride() * 2;
  const char* w0 = static_cast<const char*>(a.w.data);
  for (int64_t n0 = 0; n0 < N; n0 += 16) {
    const int64_t rows = imin(16, N - n0);
    const __mmask16 cm = mask16(rows);
    // The next group's 16 rows are (when the rows are packed) one contiguous block: stream it
    // into L2 linearly, 16 lines per step, so DRAM sees one sequential read instead of 16 strided
    // ones (perf showed the 16 per-row streams starving on short rows).
    const char* next_group = w0 + (n0 + 16) * wsb;
    __m512 acc[M];
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) acc[m] = a.accumulate ? _mm512_maskz_loadu_ps(cm, a.y + m * ldy + n0) : _mm512_setzero_ps();
    for (int64_t p0 = 0; p0 < kpairs; p0 += 16) {
      if (n0 + 16 < N) {
        const char* pf = next_group + p0 * 64;
#pragma GCC unroll 16
        for (int l = 0; l < 16; ++l) _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
      }
      const int64_t np = imin(16, kpairs - p0);
      if (rows == 16 && np == 16 && 2 * p0 + 32 <= K) {
        gemv_bf16dot_step<M, true>(w0 + n0 * wsb, wsb, p0, 16, 0xFFFFFFFFu, 16, xp, kpairs, acc);
      } else {
        const int64_t nel = imin(32, K - 2 * p0);
        const __mmask32 km = nel >= 32 ? static_cast<__mmask32>(0xFFFFFFFFu) : static_cast<__mmask32>((1u << nel) - 1u);
        gemv_bf16dot_step<M, false>(w0 + n0 * wsb, wsb, p0, rows, km, np, xp, kpairs, acc);
      }
    }
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) _mm512_mask_storeu_ps(a.y + m * ldy + n0, cm, acc[m]);
  }
}

void avx512_gemv_bf16dot(const uint32_t* xp, const GemmArgs& a) {
  LPX_CHECK((a.w.dtype == WDType::kBF16 || a.w.dtype == WDType::kBF16I16) && a.alpha == 1.0f && a.M >= 1 && a.M < 16);
  switch (a.M) {
    case 1: gemv_bf16dot_m<1>(xp, a); break;
    case 2: gemv_bf16dot_m<2>(xp, a); break;
    case 3: gemv_bf16dot_m<3>(xp, a); break;
    case 4: gemv_bf16dot_m<4>(xp, a); break;
    case 5: gemv_bf16dot_m<5>(xp, a); break;
    case 6: gemv_bf16dot_m<6>(xp, a); break;
    case 7: gemv_bf16dot_m<7>(xp, a); break;
    case 8: gemv_bf16dot_m<8>(xp, a); break;
    case 9: gemv_bf16dot_m<9>(xp, a); break;
    case 10: gemv_bf16dot_m<10>(xp, a); break;
    case 11: gemv_bf16dot_m<11>(xp, a); break;
    case 12: gemv_bf16dot_m<12>(xp, a); break;
    case 13: gemv_bf16dot_m<13>(xp, a); break;
    case 14: gemv_bf16dot_m<14>(xp, a); break;
    default: gemv_bf16dot_m<15>(xp, a); break;
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise / row ops.

template <WDType DT>
void rmsnorm_dt(const float* x, const void* g, float eps, float* y, int64_t M, int64_t D) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    float* yr = y + m * D;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 32 <= D; d += 32) {
      const __m512 a = _mm512_loadu_ps(xr + d), b = _mm512_loadu_ps(xr + d + 16);
      s0 = _mm512_fmadd_ps(a, a, s0);
      s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; d < D; d += 16) {
      const __m512 a = _mm512_maskz_loadu_ps(mask16(D - d), xr + d);
      s0 = _mm512_fmadd_ps(a, a, s0);
    }
    const float ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(ss / static_cast<float>(D) + eps));
    for (d = 0; d < D; d += 16) {
      const __mmask16 mk = mask16(D - d);
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, xr + d), inv);
      _mm512_mask_storeu_ps(yr + d, mk, _mm512_mul_ps(v, load16m<DT>(g, d, mk)));
    }
  }
}

void avx512_rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M,
                    int64_t D) {
  switch (gamma.dtype) {
    case WDType::kF32: rmsnorm_dt<WDType::kF32>(x, gamma.data, eps, y, M, D); break;
    case WDType::kF16: rmsnorm_dt<WDType::kF16>(x, gamma.data, eps, y, M, D); break;
    case WDType::kBF16: rmsnorm_dt<WDType::kBF16>(x, gamma.data, eps, y, M, D); break;
    case WDType::kQ8:
    case WDType::kBF16I16: break;  // refused by dispatch
  }
}

void avx512_rope_apply(float* v, const float* cs, int64_t M, int n_heads, int head_dim,
                       int64_t token_stride) {
  const int half = head_dim / 2;
  if (token_stride == 0) token_stride = int64_t{n_heads} * head_dim;
  for (int64_t m = 0; m < M; ++m) {
    const float* cr = cs + m * head_dim;
    const float* sr = cr + half;
    for (int h = 0; h < n_heads; ++h) {
      float* p = v + m * token_stride + int64_t{h} * head_dim;
      for (int i = 0; i < half; i += 16) {
        const __mmask16 mk = mask16(half - i);
        const __m512 a = _mm512_maskz_loadu_ps(mk, p + i);
        const __m512 b = _mm512_maskz_loadu_ps(mk, p + half + i);
        const __m512 c = _mm512_maskz_loadu_ps(mk, cr + i);
        const __m512 s = _mm512_maskz_loadu_ps(mk, sr + i);
        _mm512_mask_storeu_ps(p + i, mk, _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
        _mm512_mask_storeu_ps(p + half + i, mk, _mm512_fmadd_ps(b, c, _mm512_mul_ps(a, s)));
      }
    }
  }
}

void avx512_silu_mul(const float* gate, const float* up, float* out, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mk = mask16(static_cast<int64_t>(n - i));
    const __m512 g = _mm512_maskz_loadu_ps(mk, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(mk, up + i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(out + i, mk, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u));
  }
}

void avx512_softmax(float* x, int64_t M, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    float* r = x + m * N;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t n = 0; n < N; n += 16) {
      const __mmask16 mk = mask16(N - n);
      mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mk, r + n));
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t n = 0; n < N; n += 16) {
      const __mmask16 mk = mask16(N - n);
      const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, r + n), vmax));
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, e));
      _mm512_mask_storeu_ps(r + n, mk, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t n = 0; n < N; n += 16) {
      const __mmask16 mk = mask16(N - n);
      _mm512_mask_storeu_ps(r + n, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, r + n), inv));
    }
  }
}

void avx512_add(const float* a, const float* b, float* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  if (i < n) {
    const __mmask16 mk = mask16(static_cast<int64_t>(n - i));
    _mm512_mask_storeu_ps(out + i, mk,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(mk, a + i), _mm512_maskz_loadu_ps(mk, b + i)));
  }
}

template <WDType DT>
void to_f32_dt(const void* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16<DT>(src, static_cast<int64_t>(i)));
  if (i < n) {
    const __mmask16 mk = mask16(static_cast<int64_t>(n - i));
    _mm512_mask_storeu_ps(dst + i, mk, load16m<DT>(src, static_cast<int64_t>(i), mk));
  }
}

void avx512_to_f32(const void* src, WDType t, float* dst, size_t n) {
  switch (t) {
    case WDType::kF32: to_f32_dt<WDType::kF32>(src, dst, n); break;
    case WDType::kF16: to_f32_dt<WDType::kF16>(src, dst, n); break;
    case WDType::kBF16: to_f32_dt<WDType::kBF16>(src, dst, n); break;
    case WDType::kQ8: to_f32_dt<WDType::kQ8>(src, dst, n); break;
    case WDType::kBF16I16: LPX_CHECK(false && "to_f32 does not take bf16x16"); break;
  }
}

float avx512_dot(const float* a, const float* b, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),
         s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i < n; i += 16) {
    const __mmask16 mk = mask16(static_cast<int64_t>(n - i));
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + i), _mm512_maskz_loadu_ps(mk, b + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

void avx512_axpy(float alpha, const float* x, float* y, size_t n) {
  const __m512 va = _mm512_set1_ps(alpha);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mk = mask16(static_cast<int64_t>(n - i));
    _mm512_mask_storeu_ps(y + i, mk,
                          _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(mk, x + i), _mm512_maskz_loadu_ps(mk, y + i)));
  }
}

// ---------------------------------------------------------------------------------------------
// Attention: per (query token, kv head) item, all query heads of the group at once; keys in
// chunks of kKeyChunk with an online softmax (running max m, running sum l, rescaled acc).

constexpr int64_t kKeyChunk = 64;
constexpr int kHeadGroup = 4;  // query heads accumulated together in the V pass

void avx512_attention_items(const AttentionArgs& a, int64_t begin, int64_t end) {
  const int hd = a.kv.head_dim;
  const int n_kv = a.kv.n_kv_heads;
  const int rep = a.n_heads / n_kv;
  const int64_t q_stride = a.q_stride > 0 ? a.q_stride : int64_t{a.n_heads} * hd;
  const int64_t out_stride = a.out_stride > 0 ? a.out_stride : int64_t{a.n_heads} * hd;
  const float scale = a.scale != 0.0f ? a.scale : 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t nvec = (hd + 15) / 16;
  const int64_t acc_stride = nvec * 16;
  // Scratch: scores [rep][kKeyChunk], acc [rep][acc_stride], m [rep], l [rep].
  float* scratch = static_cast<float*>(detail::thread_scratch(
      2, sizeof(float) * static_cast<size_t>(rep * (kKeyChunk + acc_stride + 2))));
  float* scores = scratch;
  float* acc = scores + rep * kKeyChunk;
  float* mrun = acc + rep * acc_stride;
  float* lrun = mrun + rep;
  __mmask16 vmask[64];  // per head_dim vector (head_dim <= 1024)
  LPX_CHECK(nvec <= 64);
  for (int64_t v = 0; v < nvec; ++v) vmask[v] = mask16(hd - v * 16);
  const float* kp[kKeyChunk];
  const float* vp[kKeyChunk];

  for (int64_t item = begin; item < end; ++item) {
    const int64_t j = item / n_kv;
    const int g = static_cast<int>(item % n_kv);
    const int64_t n_keys = int64_t{a.positions[j]} + 1;
    for (int h = 0; h < rep; ++h) {
      mrun[h] = -INFINITY;
      lrun[h] = 0.0f;
    }
    for (int64_t d = 0; d < rep * acc_stride; ++d) acc[d] = 0.0f;
    const float* qg = a.q + j * q_stride + int64_t{g} * rep * hd;
    for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyChunk) {
      const int64_t tn = imin(kKeyChunk, n_keys - t0);
      for (int64_t t = 0; t < tn; ++t) {
        kp[t] = a.kv.key(t0 + t, g);
        vp[t] = a.kv.value(t0 + t, g);
      }
      for (int64_t t = tn; t < ((tn + 15) & ~int64_t{15}); ++t) kp[t] = kp[0];  // padding keys
      // Scores: 16 keys per block, reduced with one transpose-add tree.
      for (int64_t tb = 0; tb < tn; tb += 16) {
        const float* const* kb = kp + tb;
        for (int h = 0; h < rep; ++h) {
          const float* q = qg + int64_t{h} * hd;
          __m512 c[16];
#pragma GCC unroll 16
          for (int i = 0; i < 16; ++i) c[i] = _mm512_setzero_ps();
          for (int64_t v = 0; v < nvec; ++v) {
            const __mmask16 mk = vmask[v];
            const __m512 qv = _mm512_maskz_loadu_ps(mk, q + v * 16);
#pragma GCC unroll 16
            for (int i = 0; i < 16; ++i) c[i] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, kb[i] + v * 16), c[i]);
          }
          _mm512_mask_storeu_ps(scores + h * kKeyChunk + tb, mask16(tn - tb),
                                _mm512_mul_ps(reduce16(c), _mm512_set1_ps(scale)));
        }
      }
      // Online softmax update per head: p = exp(s - m_new), l = l*corr + sum p, acc *= corr.
      for (int h = 0; h < rep; ++h) {
        float* s = scores + h * kKeyChunk;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int64_t t = 0; t < tn; t += 16) {
          mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask16(tn - t), s + t));
        }
        const float cmax = _mm512_reduce_max_ps(mx);
        const float m_new = mrun[h] > cmax ? mrun[h] : cmax;
        const float corr = mrun[h] == -INFINITY ? 0.0f : std::exp(mrun[h] - m_new);
        mrun[h] = m_new;
        const __m512 vm = _mm512_set1_ps(m_new);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t t = 0; t < tn; t += 16) {
          const __mmask16 mk = mask16(tn - t);
          const __m512 e = _mm512_maskz_mov_ps(mk, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + t), vm)));
          sum = _mm512_add_ps(sum, e);
          _mm512_mask_storeu_ps(s + t, mk, e);
        }
        lrun[h] = lrun[h] * corr + _mm512_reduce_add_ps(sum);
        if (corr != 1.0f) {
          const __m512 vc = _mm512_set1_ps(corr);
          float* ah = acc + h * acc_stride;
          for (int64_t v = 0; v < nvec; ++v) _mm512_storeu_ps(ah + v * 16, _mm512_mul_ps(_mm512_loadu_ps(ah + v * 16), vc));
        }
      }
      // acc[h] += sum_t p[h][t] * v_t: kHeadGroup heads x 4 head_dim vectors in registers, so each
      // value vector is loaded once per group.
      for (int h0 = 0; h0 < rep; h0 += kHeadGroup) {
        const int nh = static_cast<int>(imin(kHeadGroup, rep - h0));
        for (int64_t v0 = 0; v0 < nvec; v0 += 4) {
          const int nv = static_cast<int>(imin(4, nvec - v0));
          __m512 r[kHeadGroup][4];
#pragma GCC unroll 4
          for (int h = 0; h < kHeadGroup; ++h)
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i)
              r[h][i] = (h < nh && i < nv) ? _mm512_loadu_ps(acc + (h0 + h) * acc_stride + (v0 + i) * 16)
                                           : _mm512_setzero_ps();
          const __mmask16 m0 = vmask[v0], m1 = nv > 1 ? vmask[v0 + 1] : 0, m2 = nv > 2 ? vmask[v0 + 2] : 0,
                          m3 = nv > 3 ? vmask[v0 + 3] : 0;
          for (int64_t t = 0; t < tn; ++t) {
            const float* vr = vp[t] + v0 * 16;
            const __m512 x0 = _mm512_maskz_loadu_ps(m0, vr), x1 = _mm512_maskz_loadu_ps(m1, vr + 16);
            const __m512 x2 = _mm512_maskz_loadu_ps(m2, vr + 32), x3 = _mm512_maskz_loadu_ps(m3, vr + 48);
#pragma GCC unroll 4
            for (int h = 0; h < kHeadGroup; ++h) {
              if (h < nh) {
                const __m512 pt = _mm512_set1_ps(scores[(h0 + h) * kKeyChunk + t]);
                r[h][0] = _mm512_fmadd_ps(pt, x0, r[h][0]);
                r[h][1] = _mm512_fmadd_ps(pt, x1, r[h][1]);
                r[h][2] = _mm512_fmadd_ps(pt, x2, r[h][2]);
                r[h][3] = _mm512_fmadd_ps(pt, x3, r[h][3]);
              }
            }
          }
#pragma GCC unroll 4
          for (int h = 0; h < kHeadGroup; ++h)
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i)
              if (h < nh && i < nv) _mm512_storeu_ps(acc + (h0 + h) * acc_stride + (v0 + i) * 16, r[h][i]);
        }
      }
    }
    for (int h = 0; h < rep; ++h) {
      float* o = a.out + j * out_stride + int64_t{g * rep + h} * hd;
      const __m512 inv = _mm512_set1_ps(1.0f / lrun[h]);
      const float* ah = acc + h * acc_stride;
      for (int64_t v = 0; v < nvec; ++v) {
        _mm512_mask_storeu_ps(o + v * 16, vmask[v], _mm512_mul_ps(_mm512_loadu_ps(ah + v * 16), inv));
      }
    }
  }
}

}  // namespace

namespace detail {

const OpsTable* avx512_table() {
  static const OpsTable table = {
      Isa::kAvx512,
      &avx512_gemm,
      &avx512_supports_mode,
      &avx512_packed_a_bytes,
      &avx512_pack_a_units,
      &avx512_pack_a,
      &avx512_gemm_blocked,
      &avx512_rmsnorm,
      &avx512_rope_apply,
      &avx512_silu_mul,
      &avx512_softmax,
      &avx512_add,
      &avx512_to_f32,
      &avx512_dot,
      &avx512_axpy,
      &avx512_attention_items,
      &avx512_pack_x_pairs,
      &avx512_gemv_bf16dot,
  };
  return &table;
}

}  // namespace detail
}  // namespace lpx::kernels

#pragma GCC diagnostic pop
#pragma GCC pop_options

#else  // !LPX_AVX512_TU

namespace lpx::kernels::detail {
const OpsTable* avx512_table() { return nullptr; }
}  // namespace lpx::kernels::detail

#endif
