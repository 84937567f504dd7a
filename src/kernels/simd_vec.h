// Internal to src/kernels: a small f32 vector wrapper, F32x8 (AVX2 + FMA + F16C) and F32x16
// (AVX-512 F/BW/VL/DQ), over which simd_ops.h writes the elementwise ops and attention once.
// Each member is one intrinsic (or the fixed sequence the kernels used before), so an op written
// over F32x16 performs exactly the instructions the hand-written AVX-512 version did.
//
// Include it only INSIDE a target region (simd_target.h) after <immintrin.h> and every other
// header: it has no #include of its own, and everything in it has internal linkage (an anonymous
// namespace) so the AVX2 and AVX-512 files each keep their own copy. F32x16 is only defined where
// the region enables AVX-512 (LPX_SIMD_VEC_AVX512 set before the include).
#pragma once

#if !LPX_SIMD_X86
#error "simd_vec.h is only for the x86-64 ISA kernel files"
#endif

namespace lpx::kernels {
namespace {

// exp(x) for a vector: Cody-Waite range reduction + degree-7 Taylor polynomial (rel. err ~1e-7);
// x is clamped to [V::kExpLo, V::kExpHi] (both types: exactly 0 at kExpLo, so -inf gives 0) and V
// builds 2^n its own way (V::scale_pow2).
template <class V>
inline V vexp(V x) {
  x = V::max(V::min(x, V::set1(V::kExpHi)), V::set1(V::kExpLo));
  const V n = V::round_nearest(V::mul(x, V::set1(1.44269504088896341f)));
  V r = V::fnmadd(n, V::set1(0.693145751953125f), x);
  r = V::fnmadd(n, V::set1(1.428606820309417e-06f), r);
  V p = V::set1(1.0f / 5040.0f);
  p = V::fmadd(p, r, V::set1(1.0f / 720.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 120.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 24.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 6.0f));
  p = V::fmadd(p, r, V::set1(0.5f));
  p = V::fmadd(p, r, V::set1(1.0f));
  p = V::fmadd(p, r, V::set1(1.0f));
  return V::scale_pow2(p, n);
}

// ---------------------------------------------------------------------------------------------
// 8 x f32 (AVX2). A Mask names the valid leading lanes: here simply their count n (full vectors
// take the plain load/store, a predictable branch; AVX2 masked moves are slower); lanes past n
// load as 0 (or `fill`) and are not stored.

struct F32x8 {
  static constexpr int kLanes = 8;
  using Mask = int64_t;
  static Mask mask(int64_t n) { return n; }
  static Mask full_mask() { return 8; }
  // exp input range. 2^n is built in the exponent field: n = -127 there gives the bits of +0, so
  // inputs at or near kExpLo (-inf included) give exactly 0; results between ~1e-38 and 0 come out
  // as f32 subnormals or 0.
  static constexpr float kExpLo = -88.0f;
  static constexpr float kExpHi = 88.0f;
  __m256 v;

  static F32x8 wrap(__m256 x) { return F32x8{x}; }
  static F32x8 zero() { return wrap(_mm256_setzero_ps()); }
  static F32x8 set1(float f) { return wrap(_mm256_set1_ps(f)); }
  static __m256i lane_mask(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 0 ? 0 : (n > 8 ? 8 : n))), idx);
  }
  static F32x8 load(const float* p) { return wrap(_mm256_loadu_ps(p)); }
  static F32x8 load_partial(const float* p, int64_t n) {
    return wrap(n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n)));
  }
  static F32x8 load_partial_fill(const float* p, int64_t n, float fill) {
    if (n >= 8) return load(p);
    const __m256i m = lane_mask(n);
    return wrap(_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m)));
  }
  static void store(float* p, F32x8 x) { _mm256_storeu_ps(p, x.v); }
  static void store_partial(float* p, int64_t n, F32x8 x) {
    if (n >= 8) {
      _mm256_storeu_ps(p, x.v);
    } else if (n > 0) {
      _mm256_maskstore_ps(p, lane_mask(n), x.v);
    }
  }
  // Lanes past n set to 0.
  static F32x8 zero_tail(F32x8 x, int64_t n) {
    return n >= 8 ? x : wrap(_mm256_and_ps(x.v, _mm256_castsi256_ps(lane_mask(n))));
  }
  // Weights of dtype DT widened to f32: 8 at p[k..] (q8: k a multiple of 8), or the first n.
  template <DType DT>
  static F32x8 load_w(const void* p, int64_t k) {
    if constexpr (DT == DType::kF32) {
      return load(static_cast<const float*>(p) + k);
    } else if constexpr (DT == DType::kQ8) {
      const auto* b = static_cast<const uint8_t*>(p) + (k / kQ8Group) * kQ8BlockBytes;
      const __m256 q = _mm256_cvtepi32_ps(
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 + k % kQ8Group))));
      return wrap(_mm256_mul_ps(q, _mm256_set1_ps(_cvtsh_ss(*reinterpret_cast<const uint16_t*>(b)))));
    } else {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + k));
      if constexpr (DT == DType::kF16) return wrap(_mm256_cvtph_ps(h));
      return wrap(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
  }
  template <DType DT>
  static F32x8 load_w_partial(const void* p, int64_t k, int64_t n) {
    if (n >= 8) return load_w<DT>(p, k);
    if (n <= 0) return zero();
    if constexpr (DT == DType::kF32) {
      return load_partial(static_cast<const float*>(p) + k, n);
    } else if constexpr (DT == DType::kQ8) {  // q8 rows are whole blocks: the 8 lanes are readable
      return zero_tail(load_w<DT>(p, k), n);
    } else {
      alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(tmp, static_cast<const uint16_t*>(p) + k, static_cast<size_t>(n) * 2);
      return load_w<DT>(tmp, 0);
    }
  }

  static F32x8 add(F32x8 a, F32x8 b) { return wrap(_mm256_add_ps(a.v, b.v)); }
  static F32x8 sub(F32x8 a, F32x8 b) { return wrap(_mm256_sub_ps(a.v, b.v)); }
  static F32x8 mul(F32x8 a, F32x8 b) { return wrap(_mm256_mul_ps(a.v, b.v)); }
  static F32x8 div(F32x8 a, F32x8 b) { return wrap(_mm256_div_ps(a.v, b.v)); }
  static F32x8 min(F32x8 a, F32x8 b) { return wrap(_mm256_min_ps(a.v, b.v)); }
  static F32x8 max(F32x8 a, F32x8 b) { return wrap(_mm256_max_ps(a.v, b.v)); }
  static F32x8 fmadd(F32x8 a, F32x8 b, F32x8 c) { return wrap(_mm256_fmadd_ps(a.v, b.v, c.v)); }    // a*b+c
  static F32x8 fmsub(F32x8 a, F32x8 b, F32x8 c) { return wrap(_mm256_fmsub_ps(a.v, b.v, c.v)); }    // a*b-c
  static F32x8 fnmadd(F32x8 a, F32x8 b, F32x8 c) { return wrap(_mm256_fnmadd_ps(a.v, b.v, c.v)); }  // c-a*b
  // x where a > b (ordered: false for NaN), else 0.
  static F32x8 keep_if_greater(F32x8 x, F32x8 a, F32x8 b) {
    return wrap(_mm256_and_ps(x.v, _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)));
  }
  static F32x8 round_nearest(F32x8 a) {
    return wrap(_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // p * 2^n for integral n in [-127, 127] (2^-127 taken as 0).
  static F32x8 scale_pow2(F32x8 p, F32x8 n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127)), 23);
    return wrap(_mm256_mul_ps(p.v, _mm256_castsi256_ps(e)));
  }
  static float reduce_add(F32x8 x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x.v), _mm256_extractf128_ps(x.v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(F32x8 x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x.v), _mm256_extractf128_ps(x.v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // Lane i of the result = the sum of the lanes of c[i] (8 horizontal sums at once).
  static F32x8 reduce_lanes(const F32x8 c[8]) {
    __m256 u[4];
    for (int i = 0; i < 4; ++i) u[i] = _mm256_hadd_ps(c[2 * i].v, c[2 * i + 1].v);
    const __m256 w0 = _mm256_hadd_ps(u[0], u[1]), w1 = _mm256_hadd_ps(u[2], u[3]);
    // w0 = [c0 c1 c2 c3 | c0 c1 c2 c3] halves (low 128 / high 128 partial sums), same for w1.
    const __m256 lo = _mm256_permute2f128_ps(w0, w1, 0x20), hi = _mm256_permute2f128_ps(w0, w1, 0x31);
    return wrap(_mm256_add_ps(lo, hi));
  }
};

#ifdef LPX_SIMD_VEC_AVX512
// ---------------------------------------------------------------------------------------------
// 16 x f32 (AVX-512). A Mask is a lane mask (the first n lanes, n clipped to [0, 16]).

inline __mmask16 mask16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : (n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1u));
}

struct F32x16 {
  static constexpr int kLanes = 16;
  using Mask = __mmask16;
  static Mask mask(int64_t n) { return mask16(n); }
  static Mask full_mask() { return static_cast<__mmask16>(0xFFFF); }
  static constexpr float kExpLo = -104.0f;  // scalef: results underflow to 0 smoothly
  static constexpr float kExpHi = 89.0f;
  __m512 v;

  static F32x16 wrap(__m512 x) { return F32x16{x}; }
  static F32x16 zero() { return wrap(_mm512_setzero_ps()); }
  static F32x16 set1(float f) { return wrap(_mm512_set1_ps(f)); }
  static F32x16 load(const float* p) { return wrap(_mm512_loadu_ps(p)); }
  static F32x16 load_partial(const float* p, Mask m) { return wrap(_mm512_maskz_loadu_ps(m, p)); }
  static F32x16 load_partial_fill(const float* p, Mask m, float fill) {
    return wrap(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), m, p));
  }
  static void store(float* p, F32x16 x) { _mm512_storeu_ps(p, x.v); }
  static void store_partial(float* p, Mask m, F32x16 x) { _mm512_mask_storeu_ps(p, m, x.v); }
  static F32x16 zero_tail(F32x16 x, Mask m) { return wrap(_mm512_maskz_mov_ps(m, x.v)); }
  template <DType DT>
  static F32x16 load_w(const void* p, int64_t k) {
    if constexpr (DT == DType::kF32) {
      return load(static_cast<const float*>(p) + k);
    } else if constexpr (DT == DType::kQ8) {
      const auto* b = static_cast<const uint8_t*>(p) + (k / kQ8Group) * kQ8BlockBytes;
      const __m512 q = _mm512_cvtepi32_ps(
          _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 + k % kQ8Group))));
      return wrap(_mm512_mul_ps(
          q, _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(*reinterpret_cast<const uint16_t*>(b))))));
    } else {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + k));
      if constexpr (DT == DType::kF16) return wrap(_mm512_cvtph_ps(h));
      return wrap(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
  }
  template <DType DT>
  static F32x16 load_w_partial(const void* p, int64_t k, Mask m) {
    if constexpr (DT == DType::kF32) {
      return wrap(_mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + k));
    } else if constexpr (DT == DType::kQ8) {  // rows are whole blocks: all 16 lanes are readable
      return wrap(_mm512_maskz_mov_ps(m, load_w<DT>(p, k).v));
    } else {
      const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + k);
      if constexpr (DT == DType::kF16) return wrap(_mm512_cvtph_ps(h));
      return wrap(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
  }

  static F32x16 add(F32x16 a, F32x16 b) { return wrap(_mm512_add_ps(a.v, b.v)); }
  static F32x16 sub(F32x16 a, F32x16 b) { return wrap(_mm512_sub_ps(a.v, b.v)); }
  static F32x16 mul(F32x16 a, F32x16 b) { return wrap(_mm512_mul_ps(a.v, b.v)); }
  static F32x16 div(F32x16 a, F32x16 b) { return wrap(_mm512_div_ps(a.v, b.v)); }
  static F32x16 min(F32x16 a, F32x16 b) { return wrap(_mm512_min_ps(a.v, b.v)); }
  static F32x16 max(F32x16 a, F32x16 b) { return wrap(_mm512_max_ps(a.v, b.v)); }
  static F32x16 fmadd(F32x16 a, F32x16 b, F32x16 c) { return wrap(_mm512_fmadd_ps(a.v, b.v, c.v)); }
  static F32x16 fmsub(F32x16 a, F32x16 b, F32x16 c) { return wrap(_mm512_fmsub_ps(a.v, b.v, c.v)); }
  static F32x16 fnmadd(F32x16 a, F32x16 b, F32x16 c) { return wrap(_mm512_fnmadd_ps(a.v, b.v, c.v)); }
  static F32x16 keep_if_greater(F32x16 x, F32x16 a, F32x16 b) {
    return wrap(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ), x.v));
  }
  static F32x16 round_nearest(F32x16 a) {
    return wrap(_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static F32x16 scale_pow2(F32x16 p, F32x16 n) { return wrap(_mm512_scalef_ps(p.v, n.v)); }
  static float reduce_add(F32x16 x) { return _mm512_reduce_add_ps(x.v); }
  static float reduce_max(F32x16 x) { return _mm512_reduce_max_ps(x.v); }
  // Lane i of the result = the sum of the lanes of c[i]: a transpose-add tree (the same adds for
  // every lane, so the result does not depend on which lane a row lands in).
  static F32x16 reduce_lanes(const F32x16 c[16]) {
    __m512 z[8], w[4], u[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      z[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i].v, c[2 * i + 1].v, 0x44),
                           _mm512_shuffle_f32x4(c[2 * i].v, c[2 * i + 1].v, 0xEE));
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
    return wrap(_mm512_permutexvar_ps(idx, r));
  }
};
#endif  // LPX_SIMD_VEC_AVX512

}  // namespace
}  // namespace lpx::kernels
