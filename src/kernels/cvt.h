// Scalar bf16/f16 <-> f32 conversions for the kernels (private to src/kernels until core/dtype.h
// provides the shared ones). Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/ops.h"

namespace lpx::kernels {

inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// bf16 -> f32 is exact (the high half of an f32).
inline float bf16_to_f32(uint16_t h) { return bits_to_f32(static_cast<uint32_t>(h) << 16); }

// f32 -> bf16 with round-to-nearest-even; NaN stays a (quiet) NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// IEEE half -> f32 (exact, including subnormals, inf, NaN).
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = static_cast<float>(mant) * (1.0f / 16777216.0f);  // mant * 2^-24, exact
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

// f32 -> IEEE half with round-to-nearest-even (overflow -> inf, subnormals kept).
inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (a < 0x38800000u) {                                                // below 2^-14: subnormal
    const uint32_t e = a >> 23;
    if (e < 102) return sign;  // < 2^-25 rounds to zero
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  a -= 0x38000000u;  // rebias exponent 127 -> 15
  a += 0xfffu + ((a >> 13) & 1u);
  return static_cast<uint16_t>(sign | (a >> 13));
}

// Element k of a q8 row (see WDType::kQ8): scale of block k / 32 times its int8 value.
inline float q8_elem(const void* row, int64_t k) {
  const auto* b = static_cast<const uint8_t*>(row) + (k / kQ8Group) * kQ8BlockBytes;
  uint16_t h;
  std::memcpy(&h, b, 2);
  return f16_to_f32(h) * static_cast<float>(static_cast<int8_t>(b[2 + k % kQ8Group]));
}

}  // namespace lpx::kernels
