// Device-tier page pool.
#include "lora/device_pool.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/dtype.h"
#include "core/log.h"

namespace lpx {

int64_t lora_floats_per_rank(const ModelConfig& c) {
  const int64_t h = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), i = c.intermediate_size;
  return ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h)) * c.n_layers;
}

DevicePool::DevicePool(const DevicePoolConfig& config) : config_(config) {
  LPX_CHECK(config.n_slots > 0 && config.max_rank > 0 && config.page_rank > 0 && config.floats_per_rank > 0);
  const int pages_per_slot = (config.max_rank + config.page_rank - 1) / config.page_rank;
  total_pages_ = config.n_slots * pages_per_slot;
  page_floats_ = static_cast<int64_t>(config.page_rank) * config.floats_per_rank;
  pool_.assign(static_cast<size_t>(total_pages_) * page_floats_, 0.0f);
  owner_.assign(total_pages_, nullptr);
}

int DevicePool::pages_for(const LoraAdapter& a) const {
  const int64_t f = static_cast<int64_t>(a.device_floats());
  return static_cast<int>(std::max<int64_t>(1, (f + page_floats_ - 1) / page_floats_));
}

int DevicePool::free_pages() const { return static_cast<int>(std::count(owner_.begin(), owner_.end(), nullptr)); }

int DevicePool::find_run(int n) const {
  int run = 0;
  for (int p = 0; p < total_pages_; ++p) {
    run = owner_[p] == nullptr ? run + 1 : 0;
    if (run == n) return p - n + 1;
  }
  return -1;
}

void DevicePool::place(DeviceAdapter& d, int first_page) {
  float* base = pool_.data() + static_cast<size_t>(first_page) * page_floats_;
  const LoraAdapter& a = *d.host;
  d.first_page = first_page;
  d.views.assign(a.layers.size(), {});
  size_t off = 0;
  std::vector<float> bt;  // B^T of the module being placed
  // Copies v into the pool in dtype t (exact: the loader chose t so that no value changes).
  auto put = [&](const std::vector<float>& v, DType t) -> const void* {
    float* dst = base + off;
    off += lora_device_floats(v.size(), t);
    if (t == DType::kF32) {
      std::memcpy(dst, v.data(), v.size() * sizeof(float));
    } else {
      auto* h = reinterpret_cast<uint16_t*>(dst);
      if (t == DType::kBF16) {
        // Exact bf16 values: the top half of the f32 bits (vectorises; no rounding needed).
        for (size_t i = 0; i < v.size(); ++i) {
          uint32_t bits;
          std::memcpy(&bits, &v[i], 4);
          h[i] = static_cast<uint16_t>(bits >> 16);
        }
      } else {
        for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_f16(v[i]);
      }
    }
    return dst;
  };
  for (size_t l = 0; l < a.layers.size(); ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      const auto& mw = a.layers[l][m];
      if (!mw) continue;
      const DType wt = mw->device_dtype == DType::kBF16  ? DType::kBF16
                       : mw->device_dtype == DType::kF16 ? DType::kF16
                                                         : DType::kF32;
      const void* pa = put(mw->a, mw->device_dtype);
      // B is stored transposed ([r, N]): the expand kernel then adds r scaled rows per token.
      bt.resize(mw->b.size());
      for (int64_t n = 0; n < mw->out_dim; ++n)
        for (int r = 0; r < mw->rank; ++r) bt[static_cast<size_t>(r) * mw->out_dim + n] = mw->b[n * mw->rank + r];
      const void* pb = put(bt, mw->device_dtype);
      kernels::LoraSegment& s = d.views[l][m];
      s.a = WeightMatrix{pa, wt, mw->rank, mw->in_dim, 0};
      s.b = WeightMatrix{pb, wt, mw->rank, mw->out_dim, 0};
      s.b_transposed = true;
      s.scale = mw->scale;
    }
  }
  LPX_CHECK(off <= static_cast<size_t>(d.n_pages) * static_cast<size_t>(page_floats_));
  for (int p = first_page; p < first_page + d.n_pages; ++p) owner_[p] = &d;
}

void DevicePool::compact() {
  // Slide every resident adapter towards page 0 in page order (memmove is safe going down).
  std::vector<DeviceAdapter*> order;
  for (int p = 0; p < total_pages_; ++p)
    if (owner_[p] != nullptr && (order.empty() || order.back() != owner_[p])) order.push_back(owner_[p]);
  std::fill(owner_.begin(), owner_.end(), nullptr);
  int next = 0;
  for (DeviceAdapter* d : order) {
    if (d->first_page != next) {
      std::memmove(pool_.data() + static_cast<size_t>(next) * page_floats_,
                   pool_.data() + static_cast<size_t>(d->first_page) * page_floats_,
                   static_cast<size_t>(d->n_pages) * page_floats_ * sizeof(float));
      const int64_t shift = static_cast<int64_t>(d->first_page - next) * page_floats_;
      for (auto& layer : d->views)
        for (auto& s : layer)
          if (s.a.data != nullptr) {
            s.a.data = static_cast<const float*>(s.a.data) - shift;
            s.b.data = static_cast<const float*>(s.b.data) - shift;
          }
      d->first_page = next;
    }
    for (int p = next; p < next + d->n_pages; ++p) owner_[p] = d;
    next += d->n_pages;
  }
}

Result<const DeviceAdapter*> DevicePool::acquire(const std::string& key, const AdapterPtr& adapter) {
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second.pins++;
    lru_.remove(key);
    lru_.push_back(key);
    counters_.hits++;
    return &it->second;
  }
  const int need = pages_for(*adapter);
  if (need > total_pages_) {
    return invalid_argument("adapter '" + adapter->name + "' needs " + std::to_string(need) +
                            " device pages but the pool has " + std::to_string(total_pages_) +
                            " (raise NIM_MAX_GPU_LORAS or NIM_MAX_LORA_RANK)");
  }
  counters_.misses++;
  int first = find_run(need);
  while (first < 0) {
    if (free_pages() >= need) {
      compact();
      first = find_run(need);
      continue;
    }
    // Evict the least recently used unpinned adapter.
    auto victim = std::find_if(lru_.begin(), lru_.end(), [&](const std::string& k) { return map_.at(k).pins == 0; });
    if (victim == lru_.end()) {
      return resource_exhausted("device LoRA pool full: every resident adapter is in the running batch");
    }
    DeviceAdapter& v = map_.at(*victim);
    for (int p = v.first_page; p < v.first_page + v.n_pages; ++p) owner_[p] = nullptr;
    LPX_LOG_DEBUG("device pool: evicting adapter '" + v.host->name + "'");
    map_.erase(*victim);
    lru_.erase(victim);
    counters_.evictions++;
    first = find_run(need);
  }
  DeviceAdapter& d = map_[key];
  d.id = id_of(key);
  d.key = key;
  d.host = adapter;
  d.n_pages = need;
  d.pins = 1;
  place(d, first);
  lru_.push_back(key);
  counters_.loads++;
  return &d;
}

AdapterId DevicePool::id_of(const std::string& key) {
  auto [it, added] = ids_.try_emplace(key, AdapterId(next_id_));
  if (added) next_id_++;
  return it->second;
}

void DevicePool::unpin_all() {
  for (auto& [k, d] : map_) d.pins = 0;
}

void DevicePool::evict(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end() || it->second.pins > 0) return;
  for (int p = it->second.first_page; p < it->second.first_page + it->second.n_pages; ++p) owner_[p] = nullptr;
  lru_.remove(key);
  map_.erase(it);
  counters_.evictions++;
}

CacheCounters DevicePool::counters() const { return counters_; }

std::vector<std::string> DevicePool::lru_order() const { return {lru_.begin(), lru_.end()}; }

std::vector<DevicePool::Resident> DevicePool::residents() const {
  std::vector<Resident> out;
  out.reserve(lru_.size());
  for (const std::string& k : lru_) {
    const DeviceAdapter& d = map_.at(k);
    out.push_back(Resident{d.id, d.n_pages});
  }
  return out;
}

}  // namespace lpx
