// AVX-512 small-M matmuls (decode, small batches, LoRA): the exact f32 inner-product GEMM/GEMV
// over f32/f16/bf16/q8 weights, and the bf16-activation vdpbf16ps GEMV whose per-row arithmetic
// matches the blocked bf16 GEMM (ops_avx512_gemm.cpp).
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

namespace lpx::kernels::avx512 {

namespace {

// ---------------------------------------------------------------------------------------------
// Small-M GEMM (decode, small batches, LoRA): inner products over K with MR x NR accumulators.
// Each W row block is read from memory once and reused from L1 for every row block of x.

template <DType DT, int MR, int NR>
inline void small_tile(const float* x, int64_t ldx, const char* w, int64_t wsb, int64_t K, float* y, int64_t ldy,
                       bool accumulate, float alpha) {
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

template <DType DT, int NR>
inline void small_rows(const GemmArgs& a, int64_t ldx, int64_t ldy, const char* w, int64_t wsb, int64_t K) {
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
void gemv_bf16(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y, bool accumulate,
               float alpha) {
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
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), load16m<DType::kBF16>(rw, k, m), a0);
    }
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) * alpha;
    y[n] = accumulate ? y[n] + s : s;
  }
}

template <DType DT>
void gemv_rows(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y, bool accumulate,
               float alpha) {
  constexpr int64_t kStepBytes = 64 * static_cast<int64_t>(DT == DType::kF32 ? 4 : 2);
  for (int64_t n = 0; n < N; ++n) {
    const char* r = w + n * wsb;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {
      for (int64_t b = 0; b < kStepBytes; b += 64)
        _mm_prefetch(r + k * (kStepBytes / 64) + b + kGemvPrefetch, _MM_HINT_T0);
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
void gemv_q8(const float* x, const char* w, int64_t wsb, int64_t N, int64_t K, float* y, bool accumulate, float alpha) {
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

template <DType DT>
void small_m_gemm(const GemmArgs& a, int64_t ldx, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols;
  const int64_t wsb = dtype_row_bytes(DT, a.w.stride());
  const char* w0 = static_cast<const char*>(a.w.data);
  if (a.M == 1) {
    if constexpr (DT == DType::kQ8) {
      gemv_q8(a.x, w0, wsb, N, K, a.y, a.accumulate, a.alpha);
    } else if (DT == DType::kBF16 && K >= 64) {
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

}  // namespace

void avx512_gemm(const GemmArgs& a) {
  const int64_t ldx = a.ldx > 0 ? a.ldx : a.w.cols;
  const int64_t ldy = a.ldy > 0 ? a.ldy : a.w.rows;
  switch (a.w.dtype) {
    case DType::kF32: small_m_gemm<DType::kF32>(a, ldx, ldy); break;
    case DType::kF16: small_m_gemm<DType::kF16>(a, ldx, ldy); break;
    case DType::kBF16: small_m_gemm<DType::kBF16>(a, ldx, ldy); break;
    case DType::kQ8: small_m_gemm<DType::kQ8>(a, ldx, ldy); break;
    case DType::kI8:
    case DType::kBF16I16:
      LPX_CHECK(false && "i8 is not a kernel weight dtype; bf16x16 reaches the f32 kernels only unpacked");
      break;
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

namespace {

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
    for (int m = 0; m < M; ++m)
      acc[m] = a.accumulate ? _mm512_maskz_loadu_ps(cm, a.y + m * ldy + n0) : _mm512_setzero_ps();
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
  if (a.w.dtype == DType::kBF16I16) {
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
    for (int m = 0; m < M; ++m)
      acc[m] = a.accumulate ? _mm512_maskz_loadu_ps(cm, a.y + m * ldy + n0) : _mm512_setzero_ps();
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

}  // namespace

void avx512_gemv_bf16dot(const uint32_t* xp, const GemmArgs& a) {
  LPX_CHECK((a.w.dtype == DType::kBF16 || a.w.dtype == DType::kBF16I16) && a.alpha == 1.0f && a.M >= 1 && a.M < 16);
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

}  // namespace lpx::kernels::avx512

LPX_TARGET_END
#endif  // LPX_SIMD_X86
