// With bf16 activations (LPX_MATMUL=bf16dot / auto), a row's GEMM result must not depend on how
// many rows share the call: the small-M GEMV and the blocked kernel must agree bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace lpx::kernels {
namespace {

TEST(Bf16DotInvariance, RowResultIndependentOfBatch) {
  ScopedPrecision ps(MatmulPrecision::kBf16Dot);
  if (!has_bf16_dot()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  set_amx_enabled(false);
  ThreadPool pool(2);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t shapes[][2] = {{64, 48}, {70, 385}, {33, 1001}, {130, 768}, {17, 31}};
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], K = sh[1];
    std::vector<uint16_t> w(static_cast<size_t>(N * K));
    for (auto& v : w) v = f32_to_bf16(nd(rng));
    WeightMatrix wm{w.data(), DType::kBF16, N, K, 0};
    for (int64_t M : {16, 20, 37}) {
      for (bool acc : {false, true}) {
        std::vector<float> x(static_cast<size_t>(M * K)), y0(static_cast<size_t>(M * N));
        for (auto& v : x) v = nd(rng);
        for (auto& v : y0) v = nd(rng);
        std::vector<float> big = y0;
        matmul(x.data(), wm, big.data(), M, acc, &pool);
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t rows : {int64_t{1}, int64_t{3}}) {
            if (m + rows > M) continue;
            std::vector<float> small(y0.begin() + m * N, y0.begin() + (m + rows) * N);
            matmul(x.data() + m * K, wm, small.data(), rows, acc, &pool);
            ASSERT_EQ(std::memcmp(small.data(), big.data() + m * N, sizeof(float) * N), 0)
                << "N=" << N << " K=" << K << " M=" << M << " row " << m << " in a call of " << rows;
          }
        }
      }
    }
  }
  set_amx_enabled(true);
}

// The prepacked layout (kBF16I16) is read by the same kernels with the same arithmetic: its results
// equal the row-major ones bit for bit, at every M (GEMV and blocked) and under every precision
// (other paths run on dispatch's row-major copy), and pack/unpack round-trips.
TEST(Bf16DotInvariance, PrepackedEqualsRowMajor) {
  ThreadPool pool(2);
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t shapes[][2] = {{64, 48}, {80, 385}, {32, 1001}, {16, 31}, {48, 2}};
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], K = sh[1];
    std::vector<uint16_t> w(static_cast<size_t>(N * K));
    for (auto& v : w) v = f32_to_bf16(nd(rng));
    std::vector<uint8_t> packed(static_cast<size_t>(N / 16 * bf16i16_group_bytes(K)));
    pack_bf16_i16(w.data(), N, K, K, packed.data());
    std::vector<uint16_t> back(w.size());
    unpack_bf16_i16(packed.data(), N, K, back.data());
    ASSERT_EQ(back, w) << "N=" << N << " K=" << K;
    const WeightMatrix rm{w.data(), DType::kBF16, N, K, 0};
    const WeightMatrix pm{packed.data(), DType::kBF16I16, N, K, 0};
    EXPECT_EQ(pm.slice_rows(16, N).row_ptr(0), packed.data() + bf16i16_group_bytes(K));
    for (MatmulPrecision prec : {MatmulPrecision::kBf16Dot, MatmulPrecision::kExact}) {
      ScopedPrecision ps(prec);
      for (Isa isa : available_isas()) {
        ScopedIsa si(isa);
        for (int64_t M : {1, 3, 15, 16, 20, 64}) {
          for (bool acc : {false, true}) {
            std::vector<float> x(static_cast<size_t>(M * K)), y0(static_cast<size_t>(M * N));
            for (auto& v : x) v = nd(rng);
            for (auto& v : y0) v = nd(rng);
            std::vector<float> a = y0, b = y0;
            matmul(x.data(), rm, a.data(), M, acc, &pool);
            matmul(x.data(), pm, b.data(), M, acc, &pool);
            ASSERT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()), 0)
                << "N=" << N << " K=" << K << " M=" << M << " acc=" << acc << " isa=" << isa_name(isa)
                << " precision=" << static_cast<int>(prec);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace lpx::kernels
