// Hit/miss/load/eviction counters of an adapter cache tier (for metrics).
#pragma once

#include <cstdint>

namespace lpx {

struct CacheCounters {
  int64_t hits = 0, misses = 0, loads = 0, load_failures = 0, evictions = 0;
};

}  // namespace lpx
