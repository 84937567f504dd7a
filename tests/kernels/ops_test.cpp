// Tests for the kernel ops: every compiled+supported ISA path against the scalar reference on
// random shapes (odd sizes, M=1, K not a multiple of 16/32, odd N), plus dtype conversions.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "core/dtype.h"
#include "kernels/ops_internal.h"  // q8_elem

namespace lpx::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers.

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Weights stored in a dtype, plus their exact f32 values (what the kernels should see).
struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> exact;
  DType dtype;
};

Weights make_weights(size_t n, DType t, uint32_t seed, float scale = 1.0f) {
  Weights w;
  w.dtype = t;
  std::vector<float> v = random_floats(n, seed, -scale, scale);
  w.exact.resize(n);
  if (t == DType::kQ8) {  // n must be a multiple of kQ8Group (whole blocks)
    w.bytes.resize(static_cast<size_t>(dtype_row_bytes(t, static_cast<int64_t>(n))));
    quantize_row_q8(v.data(), static_cast<int64_t>(n), w.bytes.data());
    for (size_t i = 0; i < n; ++i) w.exact[i] = q8_elem(w.bytes.data(), static_cast<int64_t>(i));
    return w;
  }
  w.bytes.resize(n * dtype_size(t));
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::kF32) {
      std::memcpy(&w.bytes[i * 4], &v[i], 4);
      w.exact[i] = v[i];
    } else {
      uint16_t h = t == DType::kBF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(&w.bytes[i * 2], &h, 2);
      w.exact[i] = t == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
  return w;
}

std::vector<Isa> simd_isas() {
  std::vector<Isa> out;
  for (Isa isa : available_isas()) out.push_back(isa);
  return out;
}

std::string label(Isa isa) { return std::string("isa=") + isa_name(isa); }

// Relative closeness: |a-b| <= rtol * scale + atol where scale = max(|b|, given magnitude).
::testing::AssertionResult close(float got, float want, double tol_abs) {
  if (std::isnan(got) != std::isnan(want) || std::fabs(static_cast<double>(got) - want) > tol_abs) {
    return ::testing::AssertionFailure() << "got " << got << " want " << want << " (diff "
                                         << std::fabs(static_cast<double>(got) - want) << " > tol " << tol_abs << ")";
  }
  return ::testing::AssertionSuccess();
}

// A 1-thread and a 2-thread pool so both serial and split paths are exercised.
ThreadPool& pool1() {
  static ThreadPool p(1);
  return p;
}
ThreadPool& pool2() {
  static ThreadPool p(2);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

TEST(KernelDispatch, ListsPathsAndSwitches) {
  std::vector<Isa> isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::kScalar);
  for (Isa isa : isas) {
    ScopedIsa s(isa);
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(active_isa(), isa);
  }
  std::printf("kernel ISA paths available:");
  for (Isa isa : isas) std::printf(" %s", isa_name(isa));
  std::printf(" (active %s, vdpbf16ps %s, amx %s, default bf16 GEMM engine %s)\n", isa_name(active_isa()),
              has_bf16_dot() ? "yes" : "no", has_amx() ? "yes" : "no", bf16_gemm_engine());
}

// ---------------------------------------------------------------------------------------------
// Conversions.

TEST(KernelCvt, F16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << "h=" << h;
  }
}

TEST(KernelCvt, F16RoundingAndLimits) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // ties to even -> inf
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  // Halfway between 1 and 1+2^-10 rounds to even (1); just above rounds up.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Brute-force against the value-space definition on random floats across the range.
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  for (int i = 0; i < 200000; ++i) {
    const float f = bits_to_f32(bits(rng) & 0x47ffffffu);  // |f| < 131072 and exponent-limited
    if (std::isnan(f)) continue;
    const uint16_t h = f32_to_f16(f);
    const double back = f16_to_f32(h);
    if (std::isinf(back)) {
      ASSERT_GE(std::fabs(f), 65520.0f);
      continue;
    }
    // No other half is closer (neighbours).
    const uint16_t lo = static_cast<uint16_t>(h - 1), hi = static_cast<uint16_t>(h + 1);
    const double err = std::fabs(back - f);
    if ((h & 0x7fff) != 0) {
      ASSERT_LE(err, std::fabs(static_cast<double>(f16_to_f32(lo)) - f)) << f;
    }
    if ((h & 0x7fff) < 0x7bff) {
      ASSERT_LE(err, std::fabs(static_cast<double>(f16_to_f32(hi)) - f)) << f;
    }
  }
}

TEST(KernelCvt, Bf16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even -> 1.
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), h);
    }
  }
}

TEST(KernelOps, ToF32AllDtypes) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{33}, size_t{1000}}) {
        Weights w = make_weights(n, t, 3);
        std::vector<float> out(n + 1, -7.0f);
        to_f32(w.bytes.data(), t, out.data(), n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], w.exact[i]) << label(isa);
        EXPECT_EQ(out[n], -7.0f) << "wrote past the end, " << label(isa);
      }
    }
    for (size_t n : {size_t{0}, size_t{32}, size_t{64}, size_t{1024}}) {
      Weights w = make_weights(n, DType::kQ8, 4);
      std::vector<float> out(n + 1, -7.0f);
      to_f32(w.bytes.data(), DType::kQ8, out.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], w.exact[i]) << label(isa);
      EXPECT_EQ(out[n], -7.0f) << "wrote past the end, " << label(isa);
    }
  }
}

// exp((x - m) * scale) for softmax-style arguments (<= 0): close to std::exp, exactly 1 at the max,
// 0 for -inf / NaN / below -87, the same bits for a value whatever its position or n, and the sum.
TEST(KernelOps, ExpShifted) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    std::vector<float> x = random_floats(1000, 12, -90.0f, 3.0f);
    x[3] = 3.0f;  // the max
    x[10] = -std::numeric_limits<float>::infinity();
    x[11] = std::nanf("");
    const float m = 3.0f, scale = 0.7f;
    for (size_t n : {size_t{1}, size_t{7}, size_t{16}, size_t{33}, size_t{1000}}) {
      std::vector<float> out(n + 1, -7.0f);
      const float sum = exp_shifted(x.data(), n, m, scale, out.data());
      double want_sum = 0.0;
      for (size_t i = 0; i < n; ++i) {
        const float t = (x[i] - m) * scale;
        if (i == 3) {
          ASSERT_EQ(out[i], 1.0f) << label(isa);
        } else if (!(t > -87.0f)) {
          ASSERT_EQ(out[i], 0.0f) << "i=" << i << " " << label(isa);
        } else {
          ASSERT_NEAR(out[i], std::exp(static_cast<double>(t)), 4e-7 * std::exp(static_cast<double>(t)))
              << "t=" << t << " " << label(isa);
        }
        float one;  // the same bits one value at a time
        exp_shifted(&x[i], 1, m, scale, &one);
        ASSERT_EQ(std::memcmp(&one, &out[i], sizeof one), 0) << "i=" << i << " " << label(isa);
        want_sum += out[i];
      }
      EXPECT_EQ(out[n], -7.0f) << "wrote past the end, " << label(isa);
      EXPECT_NEAR(sum, want_sum, 1e-5 * want_sum + 1e-30) << label(isa);
      EXPECT_EQ(exp_shifted(x.data(), n, m, scale, nullptr), sum) << label(isa);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM.

struct GemmCase {
  int64_t M, N, K;
  DType t;
  bool accumulate;
  float alpha;
  int64_t pad;  // extra row stride for x and y
};

// Runs one case with the active ISA and compares against ref::gemm; tol is relative to
// sum_k |x w| per output (the natural error scale of a dot product).
void check_gemm(const GemmCase& c, ThreadPool& pool, double rtol, const std::string& what) {
  const int64_t ldx = c.K + c.pad, ldy = c.N + c.pad;
  std::vector<float> x = random_floats(static_cast<size_t>(c.M * ldx), 11 + static_cast<uint32_t>(c.M));
  Weights w = make_weights(static_cast<size_t>(c.N * c.K), c.t, 17 + static_cast<uint32_t>(c.N));
  std::vector<float> y0 = random_floats(static_cast<size_t>(c.M * ldy), 5);
  std::vector<float> y = y0, yr = y0;
  GemmArgs a;
  a.x = x.data();
  a.ldx = ldx;
  a.w = WeightMatrix{w.bytes.data(), c.t, c.N, c.K, 0};
  a.y = y.data();
  a.ldy = ldy;
  a.M = c.M;
  a.accumulate = c.accumulate;
  a.alpha = c.alpha;
  gemm(a, &pool);
  a.y = yr.data();
  ref::gemm(a);
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      double mag = 0.0;
      for (int64_t k = 0; k < c.K; ++k) mag += std::fabs(static_cast<double>(x[m * ldx + k]) * w.exact[n * c.K + k]);
      mag = mag * std::fabs(c.alpha) + (c.accumulate ? std::fabs(y0[m * ldy + n]) : 0.0);
      ASSERT_TRUE(close(y[m * ldy + n], yr[m * ldy + n], rtol * mag + 1e-7))
          << what << " M=" << c.M << " N=" << c.N << " K=" << c.K << " dtype=" << dtype_name(c.t)
          << " acc=" << c.accumulate << " alpha=" << c.alpha << " pad=" << c.pad << " at m=" << m << " n=" << n;
    }
    // Padding columns untouched.
    for (int64_t n = c.N; n < ldy; ++n) ASSERT_EQ(y[m * ldy + n], y0[m * ldy + n]) << what;
  }
}

TEST(KernelGemm, ExactMatchesReferenceOnRandomShapes) {
  ScopedPrecision ps(MatmulPrecision::kExact);
  std::mt19937 rng(1234);
  const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 12, 13, 16, 17, 31, 40};
  const int64_t Ns[] = {1, 3, 7, 8, 9, 31, 32, 33, 65, 100};
  const int64_t Ks[] = {1, 2, 15, 16, 17, 31, 33, 63, 100, 257, 300};
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    int cases = 0;
    for (int i = 0; i < 150; ++i) {
      GemmCase c;
      c.M = Ms[rng() % std::size(Ms)];
      c.N = Ns[rng() % std::size(Ns)];
      c.K = Ks[rng() % std::size(Ks)];
      const int64_t q8_ks[] = {32, 64, 96, 320};
      c.t = rng() % 4 == 3 ? DType::kQ8 : static_cast<DType>(rng() % 3);
      if (c.t == DType::kQ8) c.K = q8_ks[rng() % std::size(q8_ks)];
      c.accumulate = rng() % 2 == 0;
      c.alpha = rng() % 4 == 0 ? 0.5f : 1.0f;
      c.pad = rng() % 3 == 0 ? 3 : 0;
      check_gemm(c, (i % 2) ? pool2() : pool1(), 1e-5, label(isa));
      ++cases;
    }
    EXPECT_EQ(cases, 150);
  }
}

TEST(KernelGemm, DecodeGemvAllDtypes) {
  // M = 1 uses a dedicated streaming kernel (bf16: 64-wide even/odd split + masked tail).
  ScopedPrecision ps(MatmulPrecision::kExact);
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    int cases = 0;
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int64_t K : {1, 63, 64, 65, 128, 200, 2065}) {
        for (int64_t N : {1, 5, 33}) {
          check_gemm({1, N, K, t, N == 5, N == 33 ? 0.25f : 1.0f, K == 65 ? 3 : 0}, N == 33 ? pool2() : pool1(), 1e-5,
                     label(isa));
          ++cases;
        }
      }
    }
    for (int64_t K : {32, 64, 96, 2048}) {
      for (int64_t N : {1, 5, 33}) {
        check_gemm({1, N, K, DType::kQ8, N == 5, N == 33 ? 0.25f : 1.0f, K == 96 ? 3 : 0}, N == 33 ? pool2() : pool1(),
                   1e-5, label(isa));
        ++cases;
      }
    }
    EXPECT_EQ(cases, 75);
  }
}

TEST(KernelGemm, ExactLargeBlocksAllDtypes) {
  // Crosses the k block (256), n block (256) and row tile (12) boundaries.
  ScopedPrecision ps(MatmulPrecision::kExact);
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      check_gemm({41, 301, 555, t, false, 1.0f, 0}, pool2(), 1e-5, label(isa));
      check_gemm({64, 290, 520, t, true, 1.0f, 5}, pool2(), 1e-5, label(isa));
    }
    check_gemm({41, 301, 544, DType::kQ8, false, 1.0f, 0}, pool2(), 1e-5, label(isa));
    check_gemm({64, 290, 512, DType::kQ8, true, 1.0f, 5}, pool2(), 1e-5, label(isa));
  }
}

TEST(KernelGemm, MatmulConvenience) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    const int64_t M = 3, N = 5, K = 7;
    std::vector<float> x = random_floats(M * K, 1);
    std::vector<float> w = random_floats(N * K, 2);
    std::vector<float> y(M * N), yr(M * N);
    WeightMatrix wm{w.data(), DType::kF32, N, K, 0};
    matmul(x.data(), wm, y.data(), M);
    GemmArgs a;
    a.x = x.data();
    a.w = wm;
    a.y = yr.data();
    a.M = M;
    ref::gemm(a);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], yr[i], 1e-5) << label(isa);
  }
}

// The bf16 engines (AMX tdpbf16ps and AVX512-BF16 vdpbf16ps): activations rounded to bf16, so
// compare (1) loosely with the exact reference (tolerance 2^-8 of sum |x w|: each x has relative
// rounding error <= 2^-9) and (2) tightly (1e-5) with a reference fed the bf16-rounded activations.
double check_bf16_engine(const std::string& what) {
  const GemmCase cases[] = {{16, 33, 17, DType::kBF16, false, 1.0f, 0},   {17, 64, 300, DType::kBF16, true, 1.0f, 2},
                            {32, 32, 32, DType::kBF16, false, 1.0f, 0},   {64, 64, 64, DType::kBF16, true, 1.0f, 0},
                            {40, 301, 555, DType::kBF16, false, 1.0f, 0}, {100, 70, 2049, DType::kBF16, false, 1.0f, 0},
                            {70, 600, 1100, DType::kBF16, true, 1.0f, 4}, {20, 1, 40, DType::kBF16, false, 1.0f, 0},
                            {33, 7, 31, DType::kBF16, true, 1.0f, 1}};
  double worst_rel = 0.0;
  for (const GemmCase& c : cases) {
    check_gemm(c, pool2(), std::ldexp(1.0, -8), what + " vs exact");
    const int64_t ldx = c.K + c.pad, ldy = c.N + c.pad;
    std::vector<float> x = random_floats(static_cast<size_t>(c.M * ldx), 11 + static_cast<uint32_t>(c.M));
    std::vector<float> xr = x;
    for (auto& v : xr) v = bf16_to_f32(f32_to_bf16(v));
    Weights w = make_weights(static_cast<size_t>(c.N * c.K), c.t, 17 + static_cast<uint32_t>(c.N));
    std::vector<float> y0 = random_floats(static_cast<size_t>(c.M * ldy), 5);
    std::vector<float> y = y0, yr = y0, ye = y0;
    GemmArgs a;
    a.x = x.data();
    a.ldx = ldx;
    a.w = WeightMatrix{w.bytes.data(), c.t, c.N, c.K, 0};
    a.y = y.data();
    a.ldy = ldy;
    a.M = c.M;
    a.accumulate = c.accumulate;
    gemm(a, &pool2());
    a.x = xr.data();
    a.y = yr.data();
    ref::gemm(a);
    a.x = x.data();
    a.y = ye.data();
    ref::gemm(a);
    for (int64_t m = 0; m < c.M; ++m) {
      for (int64_t n = 0; n < c.N; ++n) {
        double mag = 0.0;
        for (int64_t k = 0; k < c.K; ++k) mag += std::fabs(static_cast<double>(x[m * ldx + k]) * w.exact[n * c.K + k]);
        if (c.accumulate) mag += std::fabs(y0[m * ldy + n]);
        EXPECT_TRUE(close(y[m * ldy + n], yr[m * ldy + n], 1e-5 * mag + 1e-7))
            << what << " vs bf16-rounded ref, M=" << c.M << " N=" << c.N << " K=" << c.K << " m=" << m << " n=" << n;
        worst_rel = std::max(worst_rel, std::fabs(static_cast<double>(y[m * ldy + n]) - ye[m * ldy + n]) / mag);
      }
    }
  }
  return worst_rel;
}

TEST(KernelGemm, Bf16EnginesTolerance) {
  ScopedPrecision ps(MatmulPrecision::kBf16Dot);
  int engines = 0;
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (bool amx : {true, false}) {
      if (amx && !has_amx()) continue;
      if (!amx && !has_bf16_dot()) continue;
      set_amx_enabled(amx);
      ASSERT_STREQ(bf16_gemm_engine(), amx ? "amx" : "avx512bf16");
      const double worst = check_bf16_engine(label(isa) + " " + bf16_gemm_engine());
      std::printf("%s: worst |y - y_exact| / sum|x*w| = %.3g (bound 2^-8 = %.3g)\n", bf16_gemm_engine(), worst,
                  std::ldexp(1.0, -8));
      EXPECT_LT(worst, std::ldexp(1.0, -8));
      ++engines;
    }
    set_amx_enabled(true);
  }
  if (engines == 0) GTEST_SKIP() << "no AVX512-BF16 / AMX on this CPU";
}

TEST(KernelQ8, QuantizeRowContract) {
  // Random groups: every element within half a quantization step of its value, scale from max|x|.
  std::vector<float> x = random_floats(32 * 40, 21, -3.0f, 3.0f);
  for (int64_t i = 0; i < 32; ++i) x[5 * 32 + i] = 0.0f;                        // an all-zero group
  for (int64_t i = 0; i < 32; ++i) x[6 * 32 + i] = static_cast<float>(i) - 16;  // exactly representable
  x[6 * 32 + 3] = -127.0f;
  std::vector<uint8_t> q(static_cast<size_t>(dtype_row_bytes(DType::kQ8, 32 * 40)));
  ASSERT_EQ(q.size(), size_t{40 * 34});
  quantize_row_q8(x.data(), 32 * 40, q.data());
  for (int64_t g = 0; g < 40; ++g) {
    float amax = 0;
    for (int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[g * 32 + i]));
    uint16_t h;
    std::memcpy(&h, &q[g * 34], 2);
    const float scale = f16_to_f32(h);
    EXPECT_NEAR(scale, amax / 127.0f, amax / 127.0f * 1e-3 + 1e-12) << g;
    for (int64_t i = 0; i < 32; ++i) {
      const float got = q8_elem(q.data(), g * 32 + i);
      EXPECT_LE(std::fabs(got - x[g * 32 + i]), 0.5f * scale * 1.01f + 1e-12f) << g << " " << i;
      EXPECT_GE(static_cast<int8_t>(q[g * 34 + 2 + i]), -127);
    }
  }
  for (int64_t i = 0; i < 32; ++i) {
    EXPECT_EQ(q8_elem(q.data(), 5 * 32 + i), 0.0f);
    EXPECT_EQ(q8_elem(q.data(), 6 * 32 + i), x[6 * 32 + i]) << i;  // scale 1: exact
  }
  // Beyond f16's range the scale saturates (values clamp to +-127 * 65504); NaN makes a zero group.
  std::vector<float> big(64, 1e9f);
  big[40] = std::nanf("");
  quantize_row_q8(big.data(), 64, q.data());
  EXPECT_EQ(q8_elem(q.data(), 0), 127.0f * 65504.0f);
  EXPECT_FALSE(std::isnan(q8_elem(q.data(), 33)));
}

TEST(KernelQ8, AlwaysExactF32WhateverThePrecision) {
  // q8 matmuls widen q * scale to f32 and multiply in f32 under every MatmulPrecision, for the
  // small-M path and the blocked GEMM alike.
  for (MatmulPrecision p : {MatmulPrecision::kBf16Dot, MatmulPrecision::kAuto}) {
    ScopedPrecision ps(p);
    for (Isa isa : simd_isas()) {
      ScopedIsa s(isa);
      for (int64_t M : {1, 3, 15, 16, 40})
        check_gemm({M, 70, 256, DType::kQ8, false, 1.0f, 0}, pool2(), 1e-5, label(isa));
    }
  }
}

TEST(KernelGemm, PrecisionPolicy) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    {
      ScopedPrecision ps(MatmulPrecision::kExact);
      EXPECT_STREQ(bf16_gemm_engine(), "f32");
    }
    {
      ScopedPrecision ps(MatmulPrecision::kBf16Dot);
      const char* want = has_amx() ? "amx" : (has_bf16_dot() ? "avx512bf16" : "f32");
      EXPECT_STREQ(bf16_gemm_engine(), want) << label(isa);
    }
  }
}

TEST(KernelGemm, ZeroSizes) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    std::vector<float> y(6, 3.0f);
    float x = 1.0f, w = 1.0f;
    matmul(&x, WeightMatrix{&w, DType::kF32, 3, 0, 0}, y.data(), 2);  // K = 0 -> zeros
    for (float v : y) EXPECT_EQ(v, 0.0f);
    matmul(&x, WeightMatrix{&w, DType::kF32, 0, 1, 0}, y.data(), 2);  // N = 0 -> no-op
    matmul(&x, WeightMatrix{&w, DType::kF32, 1, 1, 0}, y.data(), 0);  // M = 0 -> no-op
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise / row ops.

TEST(KernelOps, RmsNorm) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int64_t D : {1, 7, 16, 33, 64, 2048, 2049}) {
        for (int64_t M : {1, 3, 20}) {
          std::vector<float> x = random_floats(static_cast<size_t>(M * D), 3, -2.0f, 2.0f);
          Weights g = make_weights(static_cast<size_t>(D), t, 4);
          WeightVector gv{g.bytes.data(), t, D};
          std::vector<float> y(x.size()), yr(x.size());
          rmsnorm(x.data(), gv, 1e-5f, y.data(), M, D, &pool2());
          ref::rmsnorm(x.data(), gv, 1e-5f, yr.data(), M, D);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_TRUE(close(y[i], yr[i], 1e-5 * std::fabs(yr[i]) + 1e-6)) << label(isa) << " D=" << D;
          // In place.
          std::vector<float> z = x;
          rmsnorm(z.data(), gv, 1e-5f, z.data(), M, D, &pool1());
          for (size_t i = 0; i < z.size(); ++i) ASSERT_TRUE(close(z[i], yr[i], 1e-5 * std::fabs(yr[i]) + 1e-6));
        }
      }
    }
  }
}

TEST(KernelOps, Rope) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    struct Shape {
      int64_t M;
      int heads, hd;
      int64_t extra;
    };
    for (Shape sh :
         {Shape{1, 1, 2, 0}, Shape{3, 4, 64, 0}, Shape{5, 3, 34, 7}, Shape{17, 32, 128, 0}, Shape{2, 2, 96, 0}}) {
      const int half = sh.hd / 2;
      std::vector<float> inv(static_cast<size_t>(half));
      for (int i = 0; i < half; ++i) inv[static_cast<size_t>(i)] = std::pow(10000.0f, -2.0f * i / sh.hd);
      std::vector<int32_t> pos(static_cast<size_t>(sh.M));
      for (int64_t m = 0; m < sh.M; ++m) pos[static_cast<size_t>(m)] = static_cast<int32_t>(m * 37 + 5);
      const int64_t stride = sh.heads * sh.hd + sh.extra;
      std::vector<float> v = random_floats(static_cast<size_t>(sh.M * stride), 9);
      std::vector<float> vr = v;
      rope(v.data(), pos.data(), inv.data(), sh.M, sh.heads, sh.hd, stride, &pool2());
      ref::rope(vr.data(), pos.data(), inv.data(), sh.M, sh.heads, sh.hd, stride);
      for (size_t i = 0; i < v.size(); ++i) ASSERT_TRUE(close(v[i], vr[i], 1e-5)) << label(isa) << " i=" << i;
    }
  }
}

TEST(KernelOps, RopeKnownValues) {
  // head_dim 4: pairs (0,2) and (1,3); position 1 with inv_freq {1, 0} rotates pair 0 by 1 rad.
  float v[4] = {1.0f, 2.0f, 0.0f, 3.0f};
  const float inv[2] = {1.0f, 0.0f};
  const int32_t pos = 1;
  ref::rope(v, &pos, inv, 1, 1, 4);
  EXPECT_NEAR(v[0], std::cos(1.0f), 1e-6);
  EXPECT_NEAR(v[2], std::sin(1.0f), 1e-6);
  EXPECT_FLOAT_EQ(v[1], 2.0f);
  EXPECT_FLOAT_EQ(v[3], 3.0f);
}

TEST(KernelOps, SiluMulSoftmaxAdd) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (size_t n : {size_t{1}, size_t{5}, size_t{16}, size_t{17}, size_t{5632}, size_t{40001}}) {
      std::vector<float> g = random_floats(n, 1, -20.0f, 20.0f), u = random_floats(n, 2);
      std::vector<float> o(n), orf(n);
      silu_mul(g.data(), u.data(), o.data(), n, &pool2());
      ref::silu_mul(g.data(), u.data(), orf.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_TRUE(close(o[i], orf[i], 2e-6 * std::fabs(orf[i]) + 1e-7)) << label(isa);
      add(g.data(), u.data(), o.data(), n, &pool2());
      ref::add(g.data(), u.data(), orf.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(o[i], orf[i]);
    }
    // Extreme inputs for silu: large |gate| saturates without NaN.
    {
      float g[4] = {-100.0f, 100.0f, -1e30f, 0.0f}, u[4] = {1, 1, 1, 1}, o[4];
      silu_mul(g, u, o, 4, &pool1());
      EXPECT_NEAR(o[0], 0.0f, 1e-30);
      EXPECT_FLOAT_EQ(o[1], 100.0f);
      EXPECT_FALSE(std::isnan(o[2]));
      EXPECT_EQ(o[3], 0.0f);
    }
    for (int64_t N : {1, 3, 16, 31, 1000, 32000}) {
      for (int64_t M : {1, 4}) {
        std::vector<float> x = random_floats(static_cast<size_t>(M * N), 5, -30.0f, 30.0f), xr = x;
        softmax(x.data(), M, N, &pool2());
        ref::softmax(xr.data(), M, N);
        for (size_t i = 0; i < x.size(); ++i)
          ASSERT_TRUE(close(x[i], xr[i], 1e-5 * xr[i] + 1e-9)) << label(isa) << " N=" << N;
      }
    }
    // Masked (-inf) entries give exact zeros.
    float row[5] = {1.0f, -INFINITY, 2.0f, -INFINITY, 0.5f};
    softmax(row, 1, 5, &pool1());
    EXPECT_EQ(row[1], 0.0f);
    EXPECT_EQ(row[3], 0.0f);
    EXPECT_NEAR(row[0] + row[2] + row[4], 1.0f, 1e-6);
  }
}

TEST(KernelOps, DotAxpyAddBias) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{64}, size_t{65}, size_t{1000}}) {
      std::vector<float> a = random_floats(n, 1), b = random_floats(n, 2);
      double mag = 0.0;
      for (size_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(a[i]) * b[i]);
      EXPECT_TRUE(close(dot(a.data(), b.data(), n), ref::dot(a.data(), b.data(), n), 1e-6 * mag + 1e-7)) << label(isa);
      std::vector<float> y = b, yr = b;
      axpy(0.75f, a.data(), y.data(), n);
      ref::axpy(0.75f, a.data(), yr.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_TRUE(close(y[i], yr[i], 1e-6));
    }
    Weights bias = make_weights(7, DType::kBF16, 3);
    std::vector<float> y = random_floats(3 * 9, 4), y0 = y;
    add_bias(y.data(), WeightVector{bias.bytes.data(), DType::kBF16, 7}, 3, 7, 9);
    for (int m = 0; m < 3; ++m) {
      for (int n = 0; n < 9; ++n) {
        const float want = n < 7 ? y0[m * 9 + n] + bias.exact[n] : y0[m * 9 + n];
        EXPECT_EQ(y[m * 9 + n], want);
      }
    }
  }
}

TEST(KernelOps, Embedding) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8}) {
      const int64_t V = 50, D = t == DType::kQ8 ? 64 : 37;
      Weights tab = make_weights(static_cast<size_t>(V * D), t, 8);
      WeightMatrix wm{tab.bytes.data(), t, V, D, 0};
      std::vector<int32_t> ids = {0, 49, 7, 7, 13};
      std::vector<float> out(ids.size() * D);
      ASSERT_TRUE(embedding(wm, ids.data(), static_cast<int64_t>(ids.size()), out.data(), &pool2()).is_ok());
      for (size_t m = 0; m < ids.size(); ++m)
        for (int64_t d = 0; d < D; ++d) ASSERT_EQ(out[m * D + d], tab.exact[ids[m] * D + d]);
      std::vector<int32_t> bad = {3, 50};
      Status st = embedding(wm, bad.data(), 2, out.data());
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(st.message().find("50"), std::string::npos);
      EXPECT_EQ(ref::embedding(wm, bad.data(), 2, out.data()).code(), StatusCode::kInvalidArgument);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Attention.

struct AttnCase {
  int64_t n_q;
  int n_heads, n_kv, hd;
  int64_t ctx;              // cache length
  int64_t first_pos;        // position of query 0 (queries are consecutive)
  int64_t block;            // 0: contiguous, else paged with this block size
  bool head_major = false;  // paged blocks laid out [head][pos][dim]
};

void check_attention(const AttnCase& c, Isa isa) {
  const int64_t stride = int64_t{c.n_kv} * c.hd;
  std::vector<float> k = random_floats(static_cast<size_t>(c.ctx * stride), 21, -2.0f, 2.0f);
  std::vector<float> v = random_floats(static_cast<size_t>(c.ctx * stride), 22);
  std::vector<float> q = random_floats(static_cast<size_t>(c.n_q * c.n_heads * c.hd), 23, -2.0f, 2.0f);
  std::vector<int32_t> pos(static_cast<size_t>(c.n_q));
  for (int64_t j = 0; j < c.n_q; ++j) pos[static_cast<size_t>(j)] = static_cast<int32_t>(c.first_pos + j);
  AttentionArgs a;
  a.q = q.data();
  a.positions = pos.data();
  a.n_q = c.n_q;
  a.n_heads = c.n_heads;
  a.kv.n_kv_heads = c.n_kv;
  a.kv.head_dim = c.hd;
  // Paged copy: blocks scattered in reverse order in a separate arena.
  std::vector<float> kp, vp;
  std::vector<const float*> kb, vb;
  if (c.block > 0) {
    const int64_t nb = (c.ctx + c.block - 1) / c.block;
    kp.assign(static_cast<size_t>(nb * c.block * stride), NAN);
    vp.assign(kp.size(), NAN);
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t slot = nb - 1 - b;
      kb.push_back(kp.data() + slot * c.block * stride);
      vb.push_back(vp.data() + slot * c.block * stride);
      for (int64_t p = b * c.block; p < std::min(c.ctx, (b + 1) * c.block); ++p) {
        for (int h = 0; h < c.n_kv; ++h) {
          const int64_t off =
              c.head_major ? (h * c.block + (p - b * c.block)) * c.hd : (p - b * c.block) * stride + h * c.hd;
          std::memcpy(const_cast<float*>(kb.back()) + off, k.data() + p * stride + h * c.hd, sizeof(float) * c.hd);
          std::memcpy(const_cast<float*>(vb.back()) + off, v.data() + p * stride + h * c.hd, sizeof(float) * c.hd);
        }
      }
    }
    a.kv.k_blocks = kb.data();
    a.kv.v_blocks = vb.data();
    a.kv.block_size = c.block;
    if (c.head_major) {
      a.kv.token_stride = c.hd;
      a.kv.head_stride = c.block * c.hd;
    }
  } else {
    a.kv.k_base = k.data();
    a.kv.v_base = v.data();
  }
  std::vector<float> out(static_cast<size_t>(c.n_q * c.n_heads * c.hd), -1.0f), outr = out;
  a.out = out.data();
  attention(a, &pool2());
  // Reference always on the contiguous cache.
  AttentionArgs r = a;
  r.kv.k_blocks = r.kv.v_blocks = nullptr;
  r.kv.token_stride = r.kv.head_stride = 0;
  r.kv.k_base = k.data();
  r.kv.v_base = v.data();
  r.out = outr.data();
  ref::attention(r);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(close(out[i], outr[i], 2e-5))
        << label(isa) << " n_q=" << c.n_q << " heads=" << c.n_heads << "/" << c.n_kv << " hd=" << c.hd
        << " ctx=" << c.ctx << " block=" << c.block << " i=" << i;
  }
}

TEST(KernelAttention, MatchesReference) {
  const AttnCase cases[] = {
      {1, 1, 1, 16, 1, 0, 0},            // single key
      {1, 32, 4, 64, 200, 199, 0},       // decode, GQA 8:1, several key chunks
      {1, 4, 4, 64, 65, 64, 16},         // paged, MHA
      {7, 8, 2, 40, 7, 0, 0},            // prefill from 0, hd not a multiple of 16
      {5, 6, 3, 100, 300, 295, 32},      // chunked prefill continuing a cache, paged
      {3, 2, 1, 128, 1000, 997, 0},      // long context
      {2, 2, 2, 8, 20, 18, 5},           // tiny head_dim, odd block size
      {4, 8, 2, 64, 100, 96, 16, true},  // paged, head-major blocks
      {1, 12, 4, 80, 77, 76, 32, true},  // head-major, hd 80
  };
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    for (const AttnCase& c : cases) check_attention(c, isa);
  }
}

TEST(KernelAttention, CausalMaskIgnoresFutureKeys) {
  // Changing keys after a query's position must not change its output.
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    const int hd = 16;
    std::vector<float> k = random_floats(10 * hd, 1), v = random_floats(10 * hd, 2), q = random_floats(hd, 3);
    int32_t pos = 4;
    AttentionArgs a;
    a.q = q.data();
    a.positions = &pos;
    a.n_q = 1;
    a.n_heads = 1;
    a.kv.k_base = k.data();
    a.kv.v_base = v.data();
    a.kv.n_kv_heads = 1;
    a.kv.head_dim = hd;
    std::vector<float> o1(hd), o2(hd);
    a.out = o1.data();
    attention(a);
    for (int i = 5 * hd; i < 10 * hd; ++i) k[i] = v[i] = 1e6f;
    a.out = o2.data();
    attention(a);
    for (int d = 0; d < hd; ++d) EXPECT_EQ(o1[d], o2[d]) << label(isa);
  }
}

// ---------------------------------------------------------------------------------------------
// LoRA SGMV.

TEST(KernelLora, ShrinkExpandMatchReference) {
  for (Isa isa : simd_isas()) {
    ScopedIsa s(isa);
    const int64_t M = 45, K = 100, N = 300, ld_tmp = 24;
    std::vector<float> x = random_floats(M * K, 1);
    // Three adapters with different ranks/dtypes; rows 10..14 and 40..44 have none.
    Weights a1 = make_weights(8 * K, DType::kBF16, 2), b1 = make_weights(N * 8, DType::kBF16, 3);
    Weights a2 = make_weights(16 * K, DType::kF32, 4), b2 = make_weights(N * 16, DType::kF32, 5);
    Weights a3 = make_weights(24 * K, DType::kF16, 6), b3 = make_weights(N * 24, DType::kF16, 7);
    std::vector<LoraSegment> segs = {
        {0, 10, {a1.bytes.data(), DType::kBF16, 8, K, 0}, {b1.bytes.data(), DType::kBF16, N, 8, 0}, 2.0f},
        {15, 16, {a2.bytes.data(), DType::kF32, 16, K, 0}, {b2.bytes.data(), DType::kF32, N, 16, 0}, 0.5f},
        {16, 40, {a3.bytes.data(), DType::kF16, 24, K, 0}, {b3.bytes.data(), DType::kF16, N, 24, 0}, 1.0f},
    };
    std::vector<float> tmp(M * ld_tmp, 0.0f), tmpr = tmp;
    lora_shrink(x.data(), K, segs.data(), 3, tmp.data(), ld_tmp, &pool2());
    ref::lora_shrink(x.data(), K, segs.data(), 3, tmpr.data(), ld_tmp);
    for (size_t i = 0; i < tmp.size(); ++i) ASSERT_TRUE(close(tmp[i], tmpr[i], 2e-5)) << label(isa) << " i=" << i;
    std::vector<float> y = random_floats(M * N, 9), y0 = y, yr = y;
    lora_expand(tmpr.data(), ld_tmp, segs.data(), 3, y.data(), N, &pool2());
    ref::lora_expand(tmpr.data(), ld_tmp, segs.data(), 3, yr.data(), N);
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        ASSERT_TRUE(close(y[m * N + n], yr[m * N + n], 2e-5)) << label(isa) << " m=" << m;
        if ((m >= 10 && m < 15) || m >= 40) {
          ASSERT_EQ(y[m * N + n], y0[m * N + n]);
        }
      }
    }
    // B stored transposed ([r, N], as the device tier keeps it) gives the same result.
    std::vector<std::vector<uint8_t>> bts;
    std::vector<LoraSegment> tsegs = segs;
    for (LoraSegment& sg : tsegs) {
      const int64_t r = sg.b.cols, es = static_cast<int64_t>(dtype_size(sg.b.dtype));
      std::vector<uint8_t> bt(static_cast<size_t>(N * r * es));
      const auto* src = static_cast<const uint8_t*>(sg.b.data);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < r; ++i) std::memcpy(&bt[(i * N + n) * es], src + (n * r + i) * es, es);
      bts.push_back(std::move(bt));
      sg.b = WeightMatrix{bts.back().data(), sg.b.dtype, r, N, 0};
      sg.b_transposed = true;
    }
    std::vector<float> yt = y0, ytr = y0;
    lora_expand(tmpr.data(), ld_tmp, tsegs.data(), 3, yt.data(), N, &pool2());
    ref::lora_expand(tmpr.data(), ld_tmp, tsegs.data(), 3, ytr.data(), N);
    for (size_t i = 0; i < yt.size(); ++i) {
      ASSERT_TRUE(close(yt[i], yr[i], 2e-5)) << label(isa) << " transposed i=" << i;
      ASSERT_TRUE(close(ytr[i], yr[i], 1e-6)) << label(isa) << " transposed ref i=" << i;
    }
  }
}

}  // namespace
}  // namespace lpx::kernels
