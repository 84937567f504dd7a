// The LoRA manager: the adapter store (NIM_PEFT_SOURCE, rescanned every NIM_PEFT_REFRESH_INTERVAL
// seconds) plus the host tier (NIM_MAX_CPU_LORAS). Callers (HTTP threads, the CLI) acquire a lease
// per request: it pins the adapter in the host cache and loads it on first use, in the caller's
// thread — never on the engine thread. The lease travels inside the GenerationRequest, so the pin
// lasts exactly as long as the engine keeps the request; the device tier lives in the engine.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "lora/adapter.h"
#include "lora/adapter_loader.h"
#include "lora/device_pool.h"
#include "lora/host_cache.h"
#include "lora/registry.h"
#include "model/config.h"

namespace lpx {

struct LoraManagerConfig {
  std::string store_dir;       // NIM_PEFT_SOURCE; empty = no adapters
  int refresh_interval_s = 0;  // NIM_PEFT_REFRESH_INTERVAL; 0 = scan once at start
  int max_cpu_loras = 16;      // NIM_MAX_CPU_LORAS
  int max_gpu_loras = 8;       // NIM_MAX_GPU_LORAS
  int max_lora_rank = 64;      // NIM_MAX_LORA_RANK
};

class HostCache;

// One request's hold on a loaded adapter. Unpins on destruction (any thread).
class AdapterLease {
 public:
  AdapterLease(HostCache* cache, std::string name, std::string key, AdapterPtr adapter)
      : cache_(cache), name_(std::move(name)), key_(std::move(key)), adapter_(std::move(adapter)) {}
  ~AdapterLease();
  AdapterLease(const AdapterLease&) = delete;
  AdapterLease& operator=(const AdapterLease&) = delete;

  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }  // name@content-signature (host and device tier key)
  const AdapterPtr& adapter() const { return adapter_; }

 private:
  HostCache* cache_;
  std::string name_, key_;
  AdapterPtr adapter_;
};
using LeasePtr = std::shared_ptr<const AdapterLease>;

class LoraManager {
 public:
  LoraManager(const ModelConfig& base, LoraManagerConfig config);
  ~LoraManager();  // stops the refresh thread
  LoraManager(const LoraManager&) = delete;
  LoraManager& operator=(const LoraManager&) = delete;

  // First scan (logs each adapter found and each skipped with its reason) and, with an interval,
  // the refresh thread. Error when the store folder does not exist. No-op without a store.
  Status start();
  // Rescans now (the refresh thread calls this); removed adapters are dropped from the host cache
  // once no request uses them, changed ones reload on next use.
  Result<ScanResult> refresh();

  std::vector<AdapterEntry> list() const;
  bool has(const std::string& name) const;

  // Pins and (if needed) loads `name`, blocking the calling thread. Errors:
  //   kNotFound            no such adapter in the store (HTTP 404)
  //   kResourceExhausted   every host-cache slot holds an adapter in use (HTTP 429)
  //   other                the adapter failed to load (message names the file and the problem)
  Result<LeasePtr> acquire(const std::string& name);

  const LoraManagerConfig& config() const { return config_; }
  DevicePoolConfig device_pool_config() const;  // for EngineConfig::lora
  CacheCounters host_counters() const { return host_.counters(); }
  int host_size() const { return host_.size(); }
  size_t host_bytes() const { return host_.bytes(); }
  // Bytes of the device tier and of LoRA activation scratch for `max_batch_tokens` (startup log).
  size_t device_tier_bytes() const;
  size_t activation_bytes(int max_batch_tokens) const;

 private:
  void refresh_loop();

  ModelConfig base_;
  LoraManagerConfig config_;
  AdapterLoadOptions load_options_;
  std::unique_ptr<AdapterRegistry> registry_;
  HostCache host_;
  std::mutex keys_mu_;
  std::map<std::string, std::string> keys_;  // adapter name -> host-cache key of its latest version
  std::mutex load_mu_;
  std::condition_variable load_cv_;  // signalled when a load completes
  std::thread refresher_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace lpx
