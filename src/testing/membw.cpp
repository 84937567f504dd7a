// Memory bandwidth measurement.
#include "testing/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/thread_pool.h"

namespace lpx {

BandwidthResult measure_bandwidth(ThreadPool& pool, size_t bytes_per_array, int reps) {
  const size_t n = bytes_per_array / sizeof(float);
  auto alloc = [n] {
    void* p = std::aligned_alloc(64, n * sizeof(float));
    return std::unique_ptr<float, decltype(&std::free)>(static_cast<float*>(p), &std::free);
  };
  auto a = alloc(), b = alloc(), c = alloc();
  const int64_t chunks = 256;
  pool.parallel_for(chunks, [&](int64_t lo, int64_t hi) {
    size_t s = n * lo / chunks, e = n * hi / chunks;
    for (size_t i = s; i < e; ++i) {
      a.get()[i] = 0.0f;
      b.get()[i] = 1.0f;
      c.get()[i] = 2.0f;
    }
  });
  BandwidthResult r;
  using clock = std::chrono::steady_clock;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = clock::now();
    pool.parallel_for(chunks, [&](int64_t lo, int64_t hi) {
      size_t s = n * lo / chunks, e = n * hi / chunks;
      float* __restrict__ pa = a.get();
      const float* __restrict__ pb = b.get();
      const float* __restrict__ pc = c.get();
      for (size_t i = s; i < e; ++i) pa[i] = pb[i] + 0.5f * pc[i];
    });
    double t = std::chrono::duration<double>(clock::now() - t0).count();
    r.triad_gbs = std::max(r.triad_gbs, 3.0 * n * sizeof(float) / t / 1e9);
  }
  std::vector<double> partial(chunks);
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = clock::now();
    pool.parallel_for(chunks, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        size_t s = n * ch / chunks, e = n * (ch + 1) / chunks;
        const float* pb = b.get();
        float acc[16] = {0};
        size_t i = s;
        for (; i + 16 <= e; i += 16)
          for (int k = 0; k < 16; ++k) acc[k] += pb[i + k];
        for (; i < e; ++i) acc[0] += pb[i];
        double t = 0;
        for (float v : acc) t += v;
        partial[ch] = t;
      }
    });
    double t = std::chrono::duration<double>(clock::now() - t0).count();
    r.read_gbs = std::max(r.read_gbs, double(n) * sizeof(float) / t / 1e9);
  }
  volatile double sink = 0;
  for (double p : partial) sink = sink + p;
  (void)sink;
  return r;
}

}  // namespace lpx
