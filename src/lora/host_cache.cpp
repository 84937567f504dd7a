// Host-tier adapter cache.
#include "lora/host_cache.h"

#include "core/check.h"
#include "core/log.h"

namespace lpx {

HostCache::HostCache(int capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

bool HostCache::evict_one_locked() {
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    auto e = map_.find(*it);
    if (e->second.pins == 0 && !e->second.loading) {
      LPX_LOG_DEBUG("host cache: evicting adapter '" + *it + "'");
      map_.erase(e);
      lru_.erase(it);
      counters_.evictions++;
      return true;
    }
  }
  return false;
}

Result<HostCache::Reservation> HostCache::reserve(const std::string& name, const std::string& signature) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(name);
  if (it != map_.end() && it->second.signature != signature && it->second.pins == 0 && !it->second.loading) {
    lru_.erase(it->second.lru);  // changed on disk: reload
    map_.erase(it);
    it = map_.end();
  }
  if (it != map_.end() && !(it->second.adapter == nullptr && !it->second.loading)) {
    Entry& e = it->second;
    e.pins++;
    lru_.splice(lru_.end(), lru_, e.lru);
    counters_.hits++;
    return e.loading ? Reservation::kLoading : Reservation::kReady;
  }
  if (it != map_.end()) {  // a failed load: retry it
    Entry& e = it->second;
    e.loading = true;
    e.error = Status::ok();
    e.signature = signature;
    e.pins++;
    counters_.misses++;
    return Reservation::kMustLoad;
  }
  if (static_cast<int>(map_.size()) >= capacity_ && !evict_one_locked()) {
    return resource_exhausted("LoRA cache full: all " + std::to_string(capacity_) +
                              " host cache slots (NIM_MAX_CPU_LORAS) hold adapters in use; "
                              "reduce the number of active LoRAs or retry later");
  }
  lru_.push_back(name);
  Entry e;
  e.signature = signature;
  e.loading = true;
  e.pins = 1;
  e.lru = std::prev(lru_.end());
  map_.emplace(name, std::move(e));
  counters_.misses++;
  return Reservation::kMustLoad;
}

void HostCache::fulfil(const std::string& name, Result<AdapterPtr> adapter) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(name);
  if (it == map_.end()) return;
  Entry& e = it->second;
  e.loading = false;
  if (adapter.is_ok()) {
    e.adapter = adapter.value();
    counters_.loads++;
  } else {
    e.error = adapter.status();
    counters_.load_failures++;
  }
}

Result<AdapterPtr> HostCache::get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(name);
  if (it == map_.end()) return not_found("adapter '" + name + "' is not in the host cache");
  if (!it->second.error.is_ok()) return it->second.error;
  return it->second.adapter;  // null while loading
}

void HostCache::unpin(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(name);
  if (it == map_.end()) return;
  Entry& e = it->second;
  LPX_CHECK(e.pins > 0);
  e.pins--;
  if (e.pins == 0 && (e.stale || !e.error.is_ok())) {
    lru_.erase(e.lru);
    map_.erase(it);
  }
}

void HostCache::invalidate(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(name);
  if (it == map_.end()) return;
  if (it->second.pins == 0 && !it->second.loading) {
    lru_.erase(it->second.lru);
    map_.erase(it);
  } else {
    it->second.stale = true;
  }
}

size_t HostCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [name, e] : map_) {
    if (e.adapter) n += e.adapter->bytes();
  }
  return n;
}

int HostCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(map_.size());
}

int HostCache::pinned(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(name);
  return it == map_.end() ? 0 : it->second.pins;
}

CacheCounters HostCache::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

std::vector<std::string> HostCache::lru_order() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {lru_.begin(), lru_.end()};
}

}  // namespace lpx
