// AVX-512 path: the AMX-BF16 (tdpbf16ps) blocked GEMM for bf16 weights, used when the CPU and the
// OS allow AMX (dispatch.cpp asks for the tile state once).
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
// AMX-BF16 GEMM. x is converted to a row-major bf16 copy [Mpad][lda] (Mpad = M rounded up to 32,
// lda = K rounded up to 32, plus 32 so rows do not alias the same L1 sets; zero padded) whose
// 16-row x 32-k slices load straight into A tiles.
// W panels use the same [kc/2][32][2] pair layout as the vdpbf16ps path (zero padded to 16 pairs
// per k step), so a 16-pair x 16-column half is one B tile with a 128-byte row stride.
// Register blocking: C = 2 x 2 tiles (32 rows x 32 columns, tmm0-3), A = tmm4-5, B = tmm6-7.

constexpr int64_t kAmxKC = 1024;  // k block (multiple of 32); 512..1024 measured best
constexpr int64_t kAmxNC = 256;   // output columns packed together (8 panels)

struct alignas(64) AmxTileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

inline int64_t amx_lda(int64_t K) { return round_up(K, 32) + 32; }

}  // namespace

size_t amx_packed_a_bytes(int64_t M, int64_t K) { return static_cast<size_t>(round_up(M, 32) * amx_lda(K) * 2); }

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
                _mm512_mask_storeu_ps(cy + i * ldy + v * 16, mask16(cols - 16 * v),
                                      _mm512_load_ps(ctmp + i * kNR + v * 16));
              }
            }
          }
        }
      }
    }
  }
  _tile_release();
}

}  // namespace lpx::kernels::avx512

LPX_TARGET_END
#endif  // LPX_SIMD_X86
