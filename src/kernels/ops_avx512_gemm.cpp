// AVX-512 blocked GEMM for large M (prefill): exact f32 and AVX512-BF16 (vdpbf16ps) engines over
// packed A tiles and per-thread W panels, plus the blocked-mode entry points of the ops table that
// also route to the AMX engine (ops_avx512_amx.cpp).
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
// Blocked GEMM (prefill, M >= kBlockedMinRows). x is packed once per call (shared by all threads)
// into row tiles of kMR rows; each thread packs W per (k block, panel of kNR output columns) and
// runs a kMR x kNR register tile accumulating in f32 straight into y.
//   exact:    A [k block][tile][kc][kMR] f32,            W panel [kc][kNR] f32 (widened)
//   bf16dot:  A [k block][tile][kc/2][kMR] bf16 pairs,   W panel [kc/2][kNR][2] bf16 (vdpbf16ps)
// (each k block of A is contiguous for all tiles, so the sweep over tiles streams from L2).
// Loop order per thread: k block -> panel (packed into L1) -> every row tile (A streams from L2).

constexpr int64_t kKCf32 = 192;   // k block, exact path (panel 24 KiB + A tile 9 KiB in L1)
constexpr int64_t kKCbf16 = 384;  // k block, bf16 path (panel 24 KiB + A tile 9 KiB in L1)

inline int64_t padded_k(int64_t K) { return (K + 1) & ~int64_t{1}; }

size_t avx512_packed_a_bytes_tiles(int64_t M, int64_t K, bool bf16) {
  const int64_t tiles = (M + kMR - 1) / kMR;
  return static_cast<size_t>(tiles * kMR * (bf16 ? padded_k(K) * 2 : K * 4));
}

void avx512_pack_a_tiles(const float* x, int64_t ldx, int64_t M, int64_t K, bool bf16, int64_t t0, int64_t t1,
                         void* out) {
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
        for (int i = 0; i < 16; ++i)
          r[i] = i < rows ? _mm512_maskz_loadu_ps(mk, src + i * ldx + k) : _mm512_setzero_ps();
        transpose16(r);
        const int64_t nk = imin(16, K - k);
        for (int64_t j = 0; j < nk; ++j) _mm512_mask_storeu_ps(dst + (k + j) * kMR, tile_lanes, r[j]);
      }
      continue;
    }
    // bf16 pairs: 32 k values of every row -> 16 pairs (RNE) -> transpose -> 16 stores.
    for (int64_t k = 0; k < Kp; k += 32) {
      const int64_t kb = k / kKCbf16, kpb = (imin(kKCbf16, K - kb * kKCbf16) + 1) / 2;
      uint32_t* dst =
          static_cast<uint32_t*>(out) + kb * (kKCbf16 / 2) * mpad + t * kpb * kMR - kb * (kKCbf16 / 2) * kMR;
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

template <DType DT>
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

}  // namespace

// bf16 rows -> [kcp/2][kNR][2] pairs (kcp = kc rounded up to even; the pad element is zero).
void pack_panel_bf16(const char* w, int64_t wsb, int64_t rows, int64_t k0, int64_t kc, uint16_t* out) {
  for (int g = 0; g < kNV; ++g) {
    for (int64_t kk = 0; kk < kc; kk += 32) {
      const int64_t nel = imin(32, kc - kk);
      const __mmask32 m = nel >= 32 ? static_cast<__mmask32>(0xFFFFFFFFu) : static_cast<__mmask32>((1u << nel) - 1u);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const int64_t row = g * 16 + i;
        r[i] = row < rows ? _mm512_castsi512_ps(
                                _mm512_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(w + row * wsb) + k0 + kk))
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

namespace {

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
void ukernel_f32(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, bool load_c, const __mmask16* cm) {
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
void ukernel_bf16(const uint32_t* a, const uint16_t* b, int64_t kpairs, float* c, int64_t ldc, bool load_c,
                  const __mmask16* cm) {
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

#define LPX_MR_SWITCH(mr, FN, ...)       \
  switch (mr) {                          \
    case 12: FN<12>(__VA_ARGS__); break; \
    case 11: FN<11>(__VA_ARGS__); break; \
    case 10: FN<10>(__VA_ARGS__); break; \
    case 9: FN<9>(__VA_ARGS__); break;   \
    case 8: FN<8>(__VA_ARGS__); break;   \
    case 7: FN<7>(__VA_ARGS__); break;   \
    case 6: FN<6>(__VA_ARGS__); break;   \
    case 5: FN<5>(__VA_ARGS__); break;   \
    case 4: FN<4>(__VA_ARGS__); break;   \
    case 3: FN<3>(__VA_ARGS__); break;   \
    case 2: FN<2>(__VA_ARGS__); break;   \
    default: FN<1>(__VA_ARGS__); break;  \
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

template <DType DT>
void blocked_f32(const float* ap, const GemmArgs& a, int64_t ldy) {
  const int64_t N = a.w.rows, K = a.w.cols, M = a.M;
  const int64_t wsb = dtype_row_bytes(DT, a.w.stride());
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
  const bool packed = a.w.dtype == DType::kBF16I16;
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

}  // namespace

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

void avx512_pack_a(const float* x, int64_t ldx, int64_t M, int64_t K, detail::GemmMode mode, int64_t u0, int64_t u1,
                   void* out) {
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
    LPX_CHECK(a.w.dtype == DType::kBF16);  // dispatch unpacks kBF16I16 for AMX
    amx_blocked(static_cast<const uint16_t*>(a_packed), a, ldy);
    return;
  }
  if (mode == detail::GemmMode::kBf16Dot) {
    LPX_CHECK(a.w.dtype == DType::kBF16 || a.w.dtype == DType::kBF16I16);
    blocked_bf16(static_cast<const uint32_t*>(a_packed), a, ldy);
    return;
  }
  const float* ap = static_cast<const float*>(a_packed);
  switch (a.w.dtype) {
    case DType::kF32: blocked_f32<DType::kF32>(ap, a, ldy); break;
    case DType::kF16: blocked_f32<DType::kF16>(ap, a, ldy); break;
    case DType::kBF16: blocked_f32<DType::kBF16>(ap, a, ldy); break;
    case DType::kQ8: blocked_f32<DType::kQ8>(ap, a, ldy); break;
    case DType::kI8:
    case DType::kBF16I16:
      LPX_CHECK(false && "i8 is not a kernel weight dtype; bf16x16 reaches the f32 kernels only unpacked");
      break;
  }
}

}  // namespace lpx::kernels::avx512

LPX_TARGET_END
#endif  // LPX_SIMD_X86
