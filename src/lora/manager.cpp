// LoRA manager: store scanning with periodic refresh, host-tier leases with on-demand loading.
#include "lora/manager.h"

#include <chrono>
#include <filesystem>

#include "core/log.h"

namespace lpx {

AdapterLease::~AdapterLease() {
  if (cache_ != nullptr) cache_->unpin(key_);
}

LoraManager::LoraManager(const ModelConfig& base, LoraManagerConfig config)
    : base_(base), config_(std::move(config)), host_(config_.max_cpu_loras) {
  load_options_.max_rank = config_.max_lora_rank;
  if (!config_.store_dir.empty()) {
    registry_ = std::make_unique<AdapterRegistry>(config_.store_dir,
                                                  [](const std::string& dir) { return probe_adapter_dir(dir); });
  }
}

LoraManager::~LoraManager() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

Status LoraManager::start() {
  if (!registry_) return Status::ok();
  std::error_code ec;
  if (!std::filesystem::is_directory(config_.store_dir, ec)) {
    return not_found("adapter store NIM_PEFT_SOURCE='" + config_.store_dir +
                     "' is not a folder: create it, or unset NIM_PEFT_SOURCE to serve the base model only");
  }
  auto r = refresh();
  if (!r.is_ok()) return r.status();
  LPX_LOG_INFO("adapter store " + config_.store_dir + ": " + std::to_string(registry_->list().size()) + " adapter(s)" +
               (config_.refresh_interval_s > 0
                    ? ", rescanned every " + std::to_string(config_.refresh_interval_s) + " s"
                    : ", scanned once (set NIM_PEFT_REFRESH_INTERVAL to rescan)"));
  if (config_.refresh_interval_s > 0) refresher_ = std::thread([this] { refresh_loop(); });
  return Status::ok();
}

Result<ScanResult> LoraManager::refresh() {
  if (!registry_) return ScanResult{};
  auto r = registry_->scan();
  if (!r.is_ok()) {
    LPX_LOG_WARN("adapter store scan failed: " + r.status().to_string());
    return r;
  }
  const ScanResult& s = r.value();
  auto forget = [&](const std::string& n) {
    std::lock_guard<std::mutex> lock(keys_mu_);
    auto it = keys_.find(n);
    if (it == keys_.end()) return;
    host_.invalidate(it->second);  // dropped now, or when the last request using it finishes
    keys_.erase(it);
  };
  for (const auto& n : s.changed) forget(n);  // the registry logged each change
  for (const auto& n : s.removed) forget(n);
  return r;
}

void LoraManager::refresh_loop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    if (stop_cv_.wait_for(lock, std::chrono::seconds(config_.refresh_interval_s), [&] { return stopping_; })) break;
    lock.unlock();
    (void)refresh();
    lock.lock();
  }
}

std::vector<AdapterEntry> LoraManager::list() const {
  return registry_ ? registry_->list() : std::vector<AdapterEntry>{};
}

bool LoraManager::has(const std::string& name) const { return registry_ && registry_->find(name).has_value(); }

Result<LeasePtr> LoraManager::acquire(const std::string& name) {
  if (!registry_) return not_found("model '" + name + "' does not exist (no adapter store is configured)");
  auto entry = registry_->find(name);
  if (!entry) return not_found("model '" + name + "' does not exist");
  // Host-cache entries are per content version: a request still running on the old version of a
  // changed adapter keeps it while new requests load the new one.
  const std::string key = name + "@" + entry->signature;
  auto res = host_.reserve(key, entry->signature);
  if (!res.is_ok()) return res.status();
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    keys_[name] = key;
  }
  // From here the pin is ours: the lease (or the error path) must drop it.
  auto lease_with = [&](AdapterPtr a) { return std::make_shared<const AdapterLease>(&host_, name, key, std::move(a)); };
  if (res.value() == HostCache::Reservation::kMustLoad) {
    const auto t0 = std::chrono::steady_clock::now();
    Result<AdapterPtr> loaded = load_adapter(name, entry->path, base_, load_options_);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (loaded.is_ok()) {
      LPX_LOG_INFO("adapter '" + name + "' loaded (" + loaded.value()->format + ", rank " +
                   std::to_string(loaded.value()->max_rank) + ", " + std::to_string(loaded.value()->bytes() >> 10) +
                   " KiB) in " + std::to_string(static_cast<int>(ms)) + " ms");
    } else {
      LPX_LOG_WARN("adapter '" + name + "' failed to load: " + loaded.status().to_string());
    }
    host_.fulfil(key, loaded);
    { std::lock_guard<std::mutex> lock(load_mu_); }
    load_cv_.notify_all();
    if (!loaded.is_ok()) {
      host_.unpin(key);
      return loaded.status();
    }
    return lease_with(loaded.value());
  }
  // Ready, or another thread is loading it: wait for that load.
  std::unique_lock<std::mutex> lock(load_mu_);
  for (;;) {
    Result<AdapterPtr> a = host_.get(key);
    if (!a.is_ok()) {
      lock.unlock();
      host_.unpin(key);
      return a.status();
    }
    if (a.value() != nullptr) {
      lock.unlock();
      return lease_with(a.value());
    }
    load_cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

DevicePoolConfig LoraManager::device_pool_config() const {
  DevicePoolConfig d;
  d.n_slots = config_.max_gpu_loras;
  d.max_rank = config_.max_lora_rank;
  d.floats_per_rank = lora_floats_per_rank(base_);
  d.page_rank = std::min(8, config_.max_lora_rank);
  return d;
}

size_t LoraManager::device_tier_bytes() const {
  const DevicePoolConfig d = device_pool_config();
  const int pages_per_slot = (d.max_rank + d.page_rank - 1) / d.page_rank;
  return static_cast<size_t>(d.n_slots) * pages_per_slot * d.page_rank * d.floats_per_rank * sizeof(float);
}

size_t LoraManager::activation_bytes(int max_batch_tokens) const {
  return static_cast<size_t>(max_batch_tokens) * config_.max_lora_rank * sizeof(float);
}

}  // namespace lpx
