// Measures this machine's memory bandwidth (STREAM-like triad and a read-only sum) over arrays far
// larger than the caches, using a thread pool. For benchmarks: not called on any serving path.
#pragma once

#include <cstddef>

namespace lpx {

class ThreadPool;

struct BandwidthResult {
  double triad_gbs = 0;  // a[i] = b[i] + s*c[i]: 3 x bytes per pass (2 reads, 1 write), best of reps
  double read_gbs = 0;   // sum of one array: bytes per pass, best of reps
};

BandwidthResult measure_bandwidth(ThreadPool& pool, size_t bytes_per_array = size_t{256} << 20, int reps = 5);

}  // namespace lpx
