// Kernel micro-benchmarks: bf16 matmul at TinyLlama shapes (M=1 decode: GB/s of weights streamed;
// M=512 prefill: GFLOP/s), STREAM-like triad / read bandwidth with the global thread pool, and the
// elementwise ops and attention on one thread (BM_RmsNorm, BM_Rope, BM_SiluMul, BM_Softmax, BM_Add,
// BM_Attention).
// Uses the active ISA (env LPX_ISA) and precision (env LPX_MATMUL); the *_Exact variants force
// exact f32 products and *_Avx512Dot the vdpbf16ps engine; the label names the engine used. Weights for M=1 rotate
// through a 1 GiB arena so they never sit in cache. Besides wall-clock rates, every benchmark reports "...@cpu" rates
// normalised by the process CPU time per pool thread: on a shared, oversubscribed machine they estimate the unloaded
// speed (compare like with like: GB/s@cpu of the GEMV against GB/s@cpu of the read/triad).
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <time.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "core/dtype.h"
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
    for (int64_t i = b; i < e; ++i) w[i] = f32_to_bf16(d(rng));
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
    WeightMatrix w{base, DType::kBF16, N, K, 0};
    kernels::matmul(x.data(), w, y.data(), M);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  kernels::set_matmul_precision(prev);
  kernels::set_amx_enabled(true);
  const double iters = static_cast<double>(state.iterations());
  clock.report(state, "GB/s", iters * static_cast<double>(wbytes) / 1e9);
  clock.report(state, "GFLOP/s", iters * 2.0 * static_cast<double>(M * N * K) / 1e9);
  state.SetLabel(std::string(kernels::isa_name(kernels::active_isa())) + " " + engine +
                 " threads=" + std::to_string(ThreadPool::global().num_threads()));
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

// ---------------------------------------------------------------------------------------------
// Elementwise / row ops and attention on one thread (a 1-thread pool), at SmolLM2-135M-like shapes
// plus odd sizes that exercise the vector tails. Rates: elements (or keys x heads) per second.

ThreadPool& serial_pool() {
  static ThreadPool pool(1);
  return pool;
}

std::vector<float> bench_floats(size_t n, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void BM_RmsNorm(benchmark::State& state) {
  const int64_t M = 16, D = state.range(0);
  std::vector<float> x = bench_floats(static_cast<size_t>(M * D), 1), g = bench_floats(static_cast<size_t>(D), 2);
  std::vector<float> y(x.size());
  WeightVector gamma;
  gamma.data = g.data();
  gamma.size = D;
  for (auto _ : state) {
    kernels::rmsnorm(x.data(), gamma, 1e-5f, y.data(), M, D, &serial_pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * M * D);
}
BENCHMARK(BM_RmsNorm)->Arg(576)->Arg(2051);

void BM_Rope(benchmark::State& state) {
  const int64_t M = state.range(0);
  const int heads = 12, hd = 64;  // 9 q + 3 kv heads of SmolLM2-135M
  std::vector<float> v = bench_floats(static_cast<size_t>(M * heads * hd), 3);
  std::vector<int32_t> pos(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m) pos[static_cast<size_t>(m)] = static_cast<int32_t>(100 + m);
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[static_cast<size_t>(i)] = std::pow(10000.0f, -2.0f * i / hd);
  for (auto _ : state) {
    kernels::rope(v.data(), pos.data(), inv_freq.data(), M, heads, hd, 0, &serial_pool());
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * M * heads * hd);
}
BENCHMARK(BM_Rope)->Arg(1)->Arg(64);

void BM_SiluMul(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> g = bench_floats(n, 4), u = bench_floats(n, 5), out(n);
  for (auto _ : state) {
    kernels::silu_mul(g.data(), u.data(), out.data(), n, &serial_pool());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_SiluMul)->Arg(1536)->Arg(16 * 1536 + 5);

void BM_Softmax(benchmark::State& state) {
  const int64_t M = 8, N = state.range(0);
  const std::vector<float> src = bench_floats(static_cast<size_t>(M * N), 6, -8.0f, 8.0f);
  std::vector<float> x(src.size());
  for (auto _ : state) {
    std::memcpy(x.data(), src.data(), sizeof(float) * x.size());
    kernels::softmax(x.data(), M, N, &serial_pool());
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * M * N);
}
BENCHMARK(BM_Softmax)->Arg(1027)->Arg(49152);

void BM_Add(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> a = bench_floats(n, 7), b = bench_floats(n, 8), out(n);
  for (auto _ : state) {
    kernels::add(a.data(), b.data(), out.data(), n, &serial_pool());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_Add)->Arg(576)->Arg(16 * 576 + 3);

// Attention of n_q queries (the last n_q positions of a ctx-long sequence), 9 heads on 3 kv heads.
void BM_Attention(benchmark::State& state) {
  const int64_t n_q = state.range(0), ctx = state.range(1);
  const int heads = 9, kv_heads = 3, hd = 64;
  std::vector<float> q = bench_floats(static_cast<size_t>(n_q * heads * hd), 9);
  std::vector<float> k = bench_floats(static_cast<size_t>(ctx * kv_heads * hd), 10);
  std::vector<float> v = bench_floats(static_cast<size_t>(ctx * kv_heads * hd), 11);
  std::vector<float> out(q.size());
  std::vector<int32_t> pos(static_cast<size_t>(n_q));
  for (int64_t j = 0; j < n_q; ++j) pos[static_cast<size_t>(j)] = static_cast<int32_t>(ctx - n_q + j);
  kernels::AttentionArgs a;
  a.q = q.data();
  a.positions = pos.data();
  a.n_q = n_q;
  a.n_heads = heads;
  a.kv.k_base = k.data();
  a.kv.v_base = v.data();
  a.kv.n_kv_heads = kv_heads;
  a.kv.head_dim = hd;
  a.out = out.data();
  int64_t keys = 0;
  for (int64_t j = 0; j < n_q; ++j) keys += pos[static_cast<size_t>(j)] + 1;
  for (auto _ : state) {
    kernels::attention(a, &serial_pool());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * keys * heads);
}
BENCHMARK(BM_Attention)->Args({1, 512})->Args({1, 2000})->Args({64, 512});

}  // namespace
}  // namespace lpx
