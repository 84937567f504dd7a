// Kernel micro-benchmarks: bf16 matmul at TinyLlama shapes (M=1 decode: GB/s of weights streamed;
// M=512 prefill: GFLOP/s) and STREAM-like triad / read bandwidth with the global thread pool.
// Uses the active ISA (env LPX_ISA) and precision (env LPX_MATMUL); the *_Exact variants force
// exact f32 products and *_Avx512Dot the vdpbf16ps engine; the label names the engine used. Weights for M=1 rotate through a 1 GiB arena so they never sit in cache.
// Besides wall-clock rates, every benchmark reports "...@cpu" rates normalised by the process CPU
// time per pool thread: on a shared, oversubscribed machine they estimate the unloaded speed
// (compare like with like: GB/s@cpu of the GEMV against GB/s@cpu of the read/triad).
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cvt.h"
#include "kernels/ops.h"

namespace lpx {
namespace {

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Sets name (rate per wall second) and name@cpu (per CPU second of each pool thread).
struct CpuClock {
  double start = process_cpu_seconds();
  void report(benchmark::State& state, const char* name, double amount) const {
    const double cpu = (process_cpu_seconds() - start) / ThreadPool::global().num_threads();
    state.counters[name] = benchmark::Counter(amount, benchmark::Counter::kIsRate);
    if (cpu > 0) state.counters[std::string(name) + "@cpu"] = amount / cpu;
  }
};

// Page-aligned, huge-page-advised buffer (as a model loader would map weights).
struct BigBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit BigBuffer(size_t n) : bytes(n) {
    p = std::aligned_alloc(2 << 20, (n + (2 << 20) - 1) & ~size_t((2 << 20) - 1));
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
  }
  ~BigBuffer() { std::free(p); }
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;
};

// Fills with random bf16 in [-0.05, 0.05] using both threads.
void fill_bf16(uint16_t* w, size_t n) {
  ThreadPool::global().parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {
    std::mt19937 rng(static_cast<uint32_t>(b));
    std::uniform_real_distribution<float> d(-0.05f, 0.05f);
    for (int64_t i = b; i < e; ++i) w[i] = kernels::f32_to_bf16(d(rng));
  });
}

constexpr size_t kArenaBytes = size_t{1} << 30;

BigBuffer& weight_arena() {
  static BigBuffer* arena = [] {
    auto* a = new BigBuffer(kArenaBytes);
    fill_bf16(static_cast<uint16_t*>(a->p), kArenaBytes / 2);
    return a;
  }();
  return *arena;
}

void run_matmul(benchmark::State& state, kernels::MatmulPrecision prec, bool amx = true) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const size_t wbytes = static_cast<size_t>(N * K) * 2;
  BigBuffer& arena = weight_arena();
  const size_t copies = M == 1 ? arena.bytes / wbytes : 1;  // rotate for decode only
  std::vector<float> x(static_cast<size_t>(M * K));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (auto& v : x) v = d(rng);
  std::vector<float> y(static_cast<size_t>(M * N));
  const kernels::MatmulPrecision prev = kernels::matmul_precision();
  kernels::set_matmul_precision(prec);
  kernels::set_amx_enabled(amx);
  const std::string engine = M >= kernels::kBf16DotMinRows ? kernels::bf16_gemm_engine() : "f32-gemv";
  size_t i = 0;
  CpuClock clock;
  for (auto _ : state) {
    const char* base = static_cast<const char*>(arena.p) + (i++ % copies) * wbytes;
    WeightMatrix w{base, WDType::kBF16, N, K, 0};
    kernels::matmul(x.data(), w, y.data(), M);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  kernels::set_matmul_precision(prev);
  kernels::set_amx_enabled(true);
  const double iters = static_cast<double>(state.iterations());
  clock.report(state, "GB/s", iters * static_cast<double>(wbytes) / 1e9);
  clock.report(state, "GFLOP/s", iters * 2.0 * static_cast<double>(M * N * K) / 1e9);
  state.SetLabel(std::string(kernels::isa_name(kernels::active_isa())) + " " + engine + " threads=" +
                 std::to_string(ThreadPool::global().num_threads()));
}

void BM_MatmulBf16(benchmark::State& state) { run_matmul(state, kernels::matmul_precision()); }
void BM_MatmulBf16_Exact(benchmark::State& state) { run_matmul(state, kernels::MatmulPrecision::kExact); }
// vdpbf16ps engine (AMX off); skipped where the CPU lacks AVX512-BF16.
void BM_MatmulBf16_Avx512Dot(benchmark::State& state) {
  if (!kernels::has_bf16_dot()) {
    state.SkipWithError("no AVX512-BF16 on this CPU");
    return;
  }
  run_matmul(state, kernels::MatmulPrecision::kBf16Dot, /*amx=*/false);
}

void shapes(benchmark::internal::Benchmark* b, bool decode, bool prefill) {
  const int64_t kn[3][2] = {{2048, 2048}, {2048, 5632}, {5632, 2048}};
  for (const auto& s : kn) {
    if (decode) b->Args({1, s[0], s[1]});
    if (prefill) b->Args({512, s[0], s[1]});
  }
  b->ArgNames({"M", "K", "N"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_MatmulBf16)->Apply([](benchmark::internal::Benchmark* b) { shapes(b, true, true); });
BENCHMARK(BM_MatmulBf16_Exact)->Apply([](benchmark::internal::Benchmark* b) { shapes(b, false, true); });
BENCHMARK(BM_MatmulBf16_Avx512Dot)->Apply([](benchmark::internal::Benchmark* b) { shapes(b, false, true); });

// STREAM-like triad a = b + s*c over 3 x 256 MiB, split across the global pool's threads.
void BM_Triad(benchmark::State& state) {
  const size_t n = (size_t{256} << 20) / sizeof(float);
  static BigBuffer a(n * 4), b(n * 4), c(n * 4);
  float* pa = static_cast<float*>(a.p);
  float* pb = static_cast<float*>(b.p);
  float* pc = static_cast<float*>(c.p);
  ThreadPool& pool = ThreadPool::global();
  pool.parallel_for(static_cast<int64_t>(n), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      pa[i] = 0.0f;
      pb[i] = 1.0f;
      pc[i] = 2.0f;
    }
  });
  const float scalar = 3.0f;
  CpuClock clock;
  for (auto _ : state) {
    pool.parallel_for(static_cast<int64_t>(n), [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) pa[i] = pb[i] + scalar * pc[i];
    });
    benchmark::ClobberMemory();
  }
  clock.report(state, "GB/s", static_cast<double>(state.iterations()) * 3.0 * static_cast<double>(n * 4) / 1e9);
  state.SetLabel("threads=" + std::to_string(pool.num_threads()));
}
BENCHMARK(BM_Triad)->UseRealTime()->Unit(benchmark::kMillisecond);

// Read-only streaming (what decode does with weights): sum of 1 GiB, split across the pool.
void BM_ReadBandwidth(benchmark::State& state) {
  BigBuffer& arena = weight_arena();
  const float* p = static_cast<const float*>(arena.p);
  const int64_t n = static_cast<int64_t>(arena.bytes / sizeof(float));
  ThreadPool& pool = ThreadPool::global();
  std::vector<double> partial(static_cast<size_t>(pool.num_threads()) * 8);
  CpuClock clock;
  for (auto _ : state) {
    pool.parallel_for(n, [&](int64_t s, int64_t e) {
      float acc[16] = {};
      for (int64_t i = s; i + 16 <= e; i += 16) {
        for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
      }
      double t = 0;
      for (float v : acc) t += v;
      partial[static_cast<size_t>(s * pool.num_threads() / n) * 8] = t;
    });
    benchmark::DoNotOptimize(partial.data());
  }
  clock.report(state, "GB/s", static_cast<double>(state.iterations()) * static_cast<double>(arena.bytes) / 1e9);
  state.SetLabel("threads=" + std::to_string(pool.num_threads()));
}
BENCHMARK(BM_ReadBandwidth)->UseRealTime()->Unit(benchmark::kMillisecond);

// Cost of one parallel_for region with trivial work on the global pool (both threads take part).
void BM_ParallelForOverhead(benchmark::State& state) {
  ThreadPool& pool = ThreadPool::global();
  std::vector<int64_t> sink(static_cast<size_t>(pool.num_threads()) * 16);
  for (auto _ : state) {
    pool.parallel_for(pool.num_threads(), [&](int64_t b, int64_t) { sink[static_cast<size_t>(b) * 16] += 1; });
  }
  benchmark::DoNotOptimize(sink.data());
  state.SetLabel("threads=" + std::to_string(pool.num_threads()));
}
BENCHMARK(BM_ParallelForOverhead)->UseRealTime();

}  // namespace
}  // namespace lpx
