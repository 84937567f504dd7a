// Device tier: adapters in the layout the kernels read, in a preallocated pool of pages
// (TensorRT-LLM style). Capacity = NIM_MAX_GPU_LORAS slots of NIM_MAX_LORA_RANK on every module;
// an adapter takes pages in proportion to its rank x adapted dims, so lower-rank adapters take less
// room and more than the slot count fit. Adapters in the running batch are pinned; LRU eviction of
// the rest; compaction when free pages are fragmented. Engine thread only (not thread-safe).
// The CPU backend's "device" memory is host RAM; a CUDA backend would allocate it on the GPU.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/strong_id.h"
#include "lora/adapter.h"
#include "lora/cache_counters.h"
#include "model/config.h"

namespace lpx {

// A device-tier adapter's identity: one per distinct adapter key (name + content signature), given
// by the pool the first time it sees the key and kept across eviction and reload. A distinct type
// (core/strong_id.h); 0 is "no adapter" (the base model).
using AdapterId = StrongId<struct AdapterIdTag>;

struct DevicePoolConfig {
  int n_slots = 8;              // NIM_MAX_GPU_LORAS
  int max_rank = 64;            // NIM_MAX_LORA_RANK
  int64_t floats_per_rank = 0;  // sum over layers and the 7 modules of (in + out): one rank, all modules
  int page_rank = 8;            // page granularity, in rank units of a full-model adapter
};

// Sum over the seven projections and every layer of (in + out): the floats one rank unit of an
// adapter on all modules takes (DevicePoolConfig::floats_per_rank).
int64_t lora_floats_per_rank(const ModelConfig& base);

// A resident adapter's kernel view: per layer/module, A [r, K] and B [N, r] inside the pool.
struct DeviceAdapter {
  AdapterId id;     // id_of(key)
  std::string key;  // name + signature
  AdapterPtr host;
  std::vector<std::array<kernels::LoraSegment, kNumLoraModules>> views;  // rows unset; a.data null if absent
  int first_page = 0, n_pages = 0;
  int pins = 0;
};

class DevicePool {
 public:
  explicit DevicePool(const DevicePoolConfig& config);

  // Makes `adapter` resident (copying it into pages) unless it already is; pins it for the step.
  // kResourceExhausted when it cannot fit even after evicting every unpinned adapter (the caller
  // keeps the request waiting). kInvalidArgument when it is larger than the whole pool.
  Result<const DeviceAdapter*> acquire(const std::string& key, const AdapterPtr& adapter);
  // The AdapterId of `key` (assigned on first use; the same key always gets the same id).
  AdapterId id_of(const std::string& key);
  // Drops every pin (end of a step).
  void unpin_all();
  void evict(const std::string& key);  // when unpinned (store removal)

  int n_pages() const { return total_pages_; }
  int free_pages() const;
  int resident() const { return static_cast<int>(map_.size()); }
  int pages_for(const LoraAdapter& a) const;
  size_t bytes() const { return pool_.size() * sizeof(float); }
  CacheCounters counters() const;
  std::vector<std::string> lru_order() const;
  // Resident adapters, least recently used first: their ids and pages (the scheduler's view).
  struct Resident {
    AdapterId id;
    int pages = 0;
  };
  std::vector<Resident> residents() const;

 private:
  int find_run(int n) const;  // first fit; -1 if none
  void compact();
  void place(DeviceAdapter& d, int first_page);

  DevicePoolConfig config_;
  int total_pages_ = 0;
  int64_t page_floats_ = 0;
  std::vector<float> pool_;
  std::vector<DeviceAdapter*> owner_;  // page -> resident adapter, null when free
  std::unordered_map<std::string, DeviceAdapter> map_;
  std::list<std::string> lru_;  // front = least recently used
  std::unordered_map<std::string, AdapterId> ids_;
  uint64_t next_id_ = 1;
  CacheCounters counters_;
};

}  // namespace lpx
