// Tests for DType helpers and the f16/bf16 <-> f32 conversions (exhaustive where feasible).
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace lpx {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Independent f16 decoding by the textbook formula.
double f16_reference(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  double v;
  if (exp == 0)
    v = std::ldexp(static_cast<double>(mant), -24);
  else if (exp == 31)
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(1.0 + mant / 1024.0, exp - 15);
  return sign ? -v : v;
}

// Nearest f16 (ties to even) of a finite, non-NaN x, by search over all positive finite f16 values.
uint16_t f16_nearest_reference(float x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (a >= 65520.0) return sign | 0x7C00;  // max 65504 + half ulp (16) rounds to inf
  // Positive finite f16 are monotonic in their bit pattern 0x0000..0x7BFF.
  uint16_t lo = 0, hi = 0x7BFF;
  while (hi - lo > 1) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
    if (f16_reference(mid) <= a)
      lo = mid;
    else
      hi = mid;
  }
  if (f16_reference(hi) <= a) lo = hi;  // a >= max finite
  uint16_t best = lo;
  if (lo < 0x7BFF) {
    const double dlo = a - f16_reference(lo);
    const double dhi = f16_reference(static_cast<uint16_t>(lo + 1)) - a;
    if (dhi < dlo || (dhi == dlo && ((lo + 1) & 1) == 0)) best = static_cast<uint16_t>(lo + 1);
  }
  return sign | best;
}

// Value of a positive f32 bit pattern's upper half as bf16, with the all-ones exponent meaning 2^128.
double bf16_candidate_value(uint32_t upper16) {
  const uint32_t u = upper16 << 16;
  if (((u >> 23) & 0xFF) == 0xFF) return std::ldexp(1.0, 128);
  return static_cast<double>(from_bits(u));
}

uint16_t bf16_nearest_reference(float x) {
  const uint32_t u = bits(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t mag = u & 0x7FFFFFFF;
  const uint32_t lo = mag >> 16;
  const double a = std::fabs(static_cast<double>(x));
  const double dlo = a - bf16_candidate_value(lo);
  const double dhi = bf16_candidate_value(lo + 1) - a;
  uint32_t best = lo;
  if (dhi < dlo || (dhi == dlo && ((lo + 1) & 1) == 0)) best = lo + 1;
  return static_cast<uint16_t>(sign | best);
}

TEST(DType, SizesNamesParse) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI8), 1u);
  EXPECT_STREQ(dtype_name(DType::kBF16), "bf16");
  EXPECT_TRUE(dtype_is_float(DType::kF16));
  EXPECT_FALSE(dtype_is_float(DType::kI8));
  EXPECT_EQ(parse_dtype("bfloat16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("torch.float16"), DType::kF16);
  EXPECT_EQ(parse_dtype("F32"), DType::kF32);
  EXPECT_EQ(parse_dtype("int8"), DType::kI8);
  EXPECT_FALSE(parse_dtype("float64").has_value());
}

TEST(DType, F16ToF32AllPatternsMatchFormula) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const double ref = f16_reference(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << h;
    } else {
      EXPECT_EQ(static_cast<double>(f), ref) << h;
      EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << h;  // includes -0
    }
  }
}

TEST(DType, F16RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << std::hex << h;
}

TEST(DType, F32ToF16SpecialCases) {
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // tie at max + half ulp goes to even = inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xFC00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);             // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);             // exactly half: tie to even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);             // above half
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);             // 1.5 ulp: tie to even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.0f, -24)), 0x03FF);          // largest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);          // rounds up into the smallest normal
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even (down)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  const uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_NE(f32_to_f16(from_bits(0x7F800001u)) & 0x03FF, 0);  // payload only in low bits stays NaN
}

TEST(DType, F32ToF16RandomMatchesNearestSearch) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_int_distribution<int> exps(-27, 17);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  for (int i = 0; i < 200000; ++i) {
    float x = (i % 2) ? from_bits(any_bits(rng)) : std::ldexp(mant(rng), exps(rng)) * ((i % 4 == 0) ? -1.f : 1.f);
    if (std::isnan(x)) continue;
    const uint16_t got = f32_to_f16(x);
    ASSERT_EQ(got, f16_nearest_reference(x)) << std::hexfloat << x;
#ifdef __FLT16_MAX__
    const _Float16 hv = static_cast<_Float16>(x);
    uint16_t hb;
    std::memcpy(&hb, &hv, 2);
    ASSERT_EQ(got, hb) << std::hexfloat << x;
#endif
  }
}

TEST(DType, Bf16ExactAndRoundToNearestEven) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    ASSERT_EQ(bits(f), b << 16);
    ASSERT_EQ(f32_to_bf16(f), b) << std::hex << b;  // round trip, NaNs included (quiet already or payload kept)
  }
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001u)), 0x3F81);  // above tie
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX rounds to inf
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  const uint16_t nan = f32_to_bf16(from_bits(0x7F800001u));  // signalling NaN with low payload
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 200000; ++i) {
    const float x = from_bits(any_bits(rng));
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(x))));
      continue;
    }
    ASSERT_EQ(f32_to_bf16(x), bf16_nearest_reference(x)) << std::hexfloat << x;
  }
}

TEST(DType, BulkConversions) {
  std::vector<float> src = {0.0f, -1.5f, 3.14159f, 1e-7f, 65504.0f, -2.0f};
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> buf(src.size() * dtype_size(dt) + 1);
    convert_from_f32(dt, src.data(), buf.data() + 1, src.size());  // unaligned destination
    std::vector<float> back(src.size());
    convert_to_f32(dt, buf.data() + 1, back.data(), src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      float expect = src[i];
      if (dt == DType::kF16) expect = f16_to_f32(f32_to_f16(src[i]));
      if (dt == DType::kBF16) expect = bf16_to_f32(f32_to_bf16(src[i]));
      EXPECT_EQ(back[i], expect) << dtype_name(dt) << " " << i;
    }
  }
  const int8_t q[3] = {-128, 0, 127};
  float out[3];
  convert_to_f32(DType::kI8, q, out, 3);
  EXPECT_EQ(out[0], -128.0f);
  EXPECT_EQ(out[2], 127.0f);
}

// The in-memory weight layouts the kernels read (q8 blocks, bf16 interleaved by 16 rows).
TEST(DType, InMemoryLayouts) {
  EXPECT_EQ(static_cast<int>(DType::kQ8), 4);  // fixed values
  EXPECT_EQ(static_cast<int>(DType::kBF16I16), 5);
  EXPECT_STREQ(dtype_name(DType::kQ8), "q8");
  EXPECT_STREQ(dtype_name(DType::kBF16I16), "bf16x16");
  EXPECT_FALSE(dtype_is_float(DType::kQ8));
  EXPECT_EQ(dtype_row_bytes(DType::kF32, 3), 12);
  EXPECT_EQ(dtype_row_bytes(DType::kF16, 3), 6);
  EXPECT_EQ(dtype_row_bytes(DType::kBF16, 3), 6);
  EXPECT_EQ(dtype_row_bytes(DType::kI8, 5), 5);
  EXPECT_EQ(dtype_row_bytes(DType::kQ8, 64), 2 * kQ8BlockBytes);
  EXPECT_EQ(kQ8BlockBytes, 34);
  EXPECT_EQ(bf16i16_group_bytes(3), 128);  // 2 pairs (odd K padded) x 64 bytes
  EXPECT_EQ(bf16i16_group_bytes(4), 128);
}

}  // namespace
}  // namespace lpx
