// Host tier: parsed, validated adapters in RAM, capacity NIM_MAX_CPU_LORAS, LRU over adapters no
// active request uses. A request pins its adapter from admission to finish. When a request needs
// an adapter that is not cached and every cached adapter is pinned, reserve() refuses it with
// kResourceExhausted (HTTP 429). Thread-safe (one mutex): HTTP threads reserve, loaders fulfil,
// the engine reads.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "lora/adapter.h"
#include "lora/cache_counters.h"

namespace lpx {

class HostCache {
 public:
  explicit HostCache(int capacity);

  enum class Reservation { kReady, kLoading, kMustLoad };
  // Pins `name` for one request. kReady: cached. kLoading: another request is loading it.
  // kMustLoad: an entry was made (possibly evicting an unpinned one) and the caller must load it
  // and call fulfil(). kResourceExhausted when full and every entry is pinned.
  // `signature` identifies the folder's content: a cached entry with another signature is stale
  // and is replaced (when unpinned) — a changed adapter reloads on its next use.
  Result<Reservation> reserve(const std::string& name, const std::string& signature);
  // Completes a load: the adapter, or the error every waiting request gets.
  void fulfil(const std::string& name, Result<AdapterPtr> adapter);
  // Ready adapter, null while loading; the Status when its load failed.
  Result<AdapterPtr> get(const std::string& name) const;
  // Drops one pin.
  void unpin(const std::string& name);
  // Forgets an adapter removed from the store (now, or when its last pin goes).
  void invalidate(const std::string& name);

  int capacity() const { return capacity_; }
  int size() const;
  // Bytes of the adapters held (loaded entries; an adapter shared by several entries counts each time).
  size_t bytes() const;
  int pinned(const std::string& name) const;
  CacheCounters counters() const;
  std::vector<std::string> lru_order() const;  // least recently used first (tests, metrics)

 private:
  struct Entry {
    std::string signature;
    AdapterPtr adapter;  // null while loading or failed
    Status error;
    bool loading = false;
    bool stale = false;  // drop when unpinned
    int pins = 0;
    std::list<std::string>::iterator lru;
  };
  bool evict_one_locked();

  int capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> lru_;  // front = least recently used
  CacheCounters counters_;
};

}  // namespace lpx
