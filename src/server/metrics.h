// Server metrics in the Prometheus text exposition format (version 0.0.4) for GET /v1/metrics:
// request counters by model and status code, token counters, latency histograms (time to first
// token, inter-token latency, end-to-end), and gauges read at scrape time (engine queue, running
// sequences, KV-cache blocks, adapter cache tiers, running/waiting adapters).
// Thread-safe: HTTP threads record, any thread renders.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "lora/cache_counters.h"

namespace lpx::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines of metric `name` (no HELP/TYPE).
  void render(const std::string& name, std::string* out) const;
  int64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative)
  double sum_ = 0;
  int64_t count_ = 0;
};

// One finished API call.
struct RequestRecord {
  std::string model;  // the resolved model id, or "" when the request never got that far
  int status = 200;   // HTTP status; 499 = the client went away
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double e2e_seconds = -1;          // < 0: not observed
  double ttft_seconds = -1;         // < 0: no token was produced
  std::vector<double> itl_seconds;  // gaps between consecutive tokens of a choice
};

// Values read at scrape time.
struct GaugeSnapshot {
  EngineStats engine;
  CacheCounters host;       // LoraManager::host_counters()
  int host_resident = 0;    // LoraManager::host_size()
  double host_bytes = 0;    // LoraManager::host_bytes()
  double device_bytes = 0;  // the device tier's preallocated pool
  int host_capacity = 0;    // NIM_MAX_CPU_LORAS
  int device_capacity = 0;  // NIM_MAX_GPU_LORAS
  int adapters_known = 0;   // adapters in the store
  bool ready = false;
};

class ServerMetrics {
 public:
  ServerMetrics();
  void record(const RequestRecord& r);
  // The whole exposition text.
  std::string render(const GaugeSnapshot& g) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;           // (model, status) -> count
  std::map<std::string, int64_t> prompt_tokens_, generation_tokens_;  // by model
  Histogram ttft_, itl_, e2e_;
};

// Escapes a Prometheus label value (backslash, double quote, newline).
std::string prom_escape(const std::string& v);

}  // namespace lpx::server
