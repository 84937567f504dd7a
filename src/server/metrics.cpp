// Prometheus text exposition for the server (see metrics.h).
#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace lpx::server {
namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void header(std::string* out, const std::string& name, const char* type, const char* help) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string* out, const std::string& name, const std::string& labels, double v) {
  out->append(name);
  if (!labels.empty()) out->append("{").append(labels).append("}");
  out->append(" ").append(num(v)).append("\n");
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

}  // namespace

std::string prom_escape(const std::string& v) {
  std::string s;
  s.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      s += "\\\\";
    else if (c == '"')
      s += "\\\"";
    else if (c == '\n')
      s += "\\n";
    else
      s += c;
  }
  return s;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();  // le semantics
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::render(const std::string& name, std::string* out) const {
  int64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    sample(out, name + "_bucket", "le=\"" + num(bounds_[i]) + "\"", static_cast<double>(cum));
  }
  sample(out, name + "_bucket", "le=\"+Inf\"", static_cast<double>(count_));
  sample(out, name + "_sum", "", sum_);
  sample(out, name + "_count", "", static_cast<double>(count_));
}

ServerMetrics::ServerMetrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0}),
      itl_({0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
            2.5}),
      e2e_({0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0}) {
}

void ServerMetrics::record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string model = r.model.empty() ? "unknown" : r.model;
  requests_[{model, r.status}]++;
  if (r.prompt_tokens > 0) prompt_tokens_[model] += r.prompt_tokens;
  if (r.completion_tokens > 0) generation_tokens_[model] += r.completion_tokens;
  if (r.ttft_seconds >= 0) ttft_.observe(r.ttft_seconds);
  for (double d : r.itl_seconds) itl_.observe(d);
  if (r.e2e_seconds >= 0) e2e_.observe(r.e2e_seconds);
}

std::string ServerMetrics::render(const GaugeSnapshot& g) const {
  std::string out;
  out.reserve(8192);
  {
    std::lock_guard<std::mutex> lock(mu_);
    header(&out, "loraplex_requests_total", "counter", "Finished API requests by model and HTTP status code.");
    for (const auto& [key, n] : requests_) {
      sample(&out, "loraplex_requests_total",
             "model=\"" + prom_escape(key.first) + "\",code=\"" + std::to_string(key.second) + "\"",
             static_cast<double>(n));
    }
    header(&out, "loraplex_prompt_tokens_total", "counter", "Prompt tokens of finished requests, by model.");
    for (const auto& [m, n] : prompt_tokens_) {
      sample(&out, "loraplex_prompt_tokens_total", "model=\"" + prom_escape(m) + "\"", static_cast<double>(n));
    }
    header(&out, "loraplex_generation_tokens_total", "counter", "Generated tokens of finished requests, by model.");
    for (const auto& [m, n] : generation_tokens_) {
      sample(&out, "loraplex_generation_tokens_total", "model=\"" + prom_escape(m) + "\"", static_cast<double>(n));
    }
    header(&out, "loraplex_time_to_first_token_seconds", "histogram",
           "Time from request arrival to its first generated token.");
    ttft_.render("loraplex_time_to_first_token_seconds", &out);
    header(&out, "loraplex_inter_token_latency_seconds", "histogram", "Time between consecutive generated tokens.");
    itl_.render("loraplex_inter_token_latency_seconds", &out);
    header(&out, "loraplex_e2e_request_latency_seconds", "histogram",
           "Time from request arrival to its last byte (successful requests).");
    e2e_.render("loraplex_e2e_request_latency_seconds", &out);
  }
  const EngineStats& e = g.engine;
  auto gauge = [&](const char* name, const char* help, double v) {
    header(&out, name, "gauge", help);
    sample(&out, name, "", v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    header(&out, name, "counter", help);
    sample(&out, name, "", v);
  };
  gauge("loraplex_ready", "1 when the server accepts generation requests.", g.ready ? 1 : 0);
  gauge("loraplex_num_requests_waiting", "Engine requests waiting to be scheduled (queued included).", e.waiting);
  gauge("loraplex_num_requests_running", "Sequences in the running batch.", e.running);
  gauge("loraplex_kv_cache_blocks_used", "KV-cache blocks in use.", e.kv_blocks_used);
  gauge("loraplex_kv_cache_blocks_total", "KV-cache blocks in the pool.", e.kv_blocks_total);
  gauge("loraplex_kv_cache_usage_ratio", "Fraction of KV-cache blocks in use.",
        e.kv_blocks_total > 0 ? static_cast<double>(e.kv_blocks_used) / e.kv_blocks_total : 0.0);
  counter("loraplex_engine_steps_total", "Engine scheduling steps.", static_cast<double>(e.steps));
  counter("loraplex_engine_prompt_tokens_total", "Prefill tokens computed by the engine (recomputation included).",
          static_cast<double>(e.prompt_tokens));
  counter("loraplex_engine_generated_tokens_total", "Tokens sampled by the engine.",
          static_cast<double>(e.generated_tokens));
  counter("loraplex_engine_preemptions_total", "Sequences preempted because the KV cache was full.",
          static_cast<double>(e.preemptions));

  struct Tier {
    const char* name;
    const CacheCounters* c;
  };
  const Tier tiers[] = {{"host", &g.host}, {"device", &e.device_tier}};
  auto tier_counter = [&](const char* name, const char* help, int64_t CacheCounters::*field) {
    header(&out, name, "counter", help);
    for (const Tier& t : tiers) {
      sample(&out, name, std::string("tier=\"") + t.name + "\"", static_cast<double>(t.c->*field));
    }
  };
  tier_counter("loraplex_lora_cache_hits_total", "Adapter cache hits per tier.", &CacheCounters::hits);
  tier_counter("loraplex_lora_cache_misses_total", "Adapter cache misses per tier.", &CacheCounters::misses);
  tier_counter("loraplex_lora_cache_loads_total", "Adapters loaded into each tier.", &CacheCounters::loads);
  tier_counter("loraplex_lora_cache_load_failures_total", "Adapter loads that failed, per tier.",
               &CacheCounters::load_failures);
  tier_counter("loraplex_lora_cache_evictions_total", "Adapters evicted from each tier.", &CacheCounters::evictions);
  header(&out, "loraplex_lora_cache_resident", "gauge", "Adapters resident in each tier.");
  sample(&out, "loraplex_lora_cache_resident", "tier=\"host\"", g.host_resident);
  sample(&out, "loraplex_lora_cache_resident", "tier=\"device\"", e.device_resident);
  header(&out, "loraplex_lora_cache_bytes", "gauge",
         "Bytes held by each adapter tier (host: loaded adapters; device: the preallocated pool).");
  sample(&out, "loraplex_lora_cache_bytes", "tier=\"host\"", g.host_bytes);
  sample(&out, "loraplex_lora_cache_bytes", "tier=\"device\"", g.device_bytes);
  header(&out, "loraplex_lora_cache_capacity", "gauge",
         "Adapter capacity of each tier (host: NIM_MAX_CPU_LORAS, device: NIM_MAX_GPU_LORAS slots).");
  sample(&out, "loraplex_lora_cache_capacity", "tier=\"host\"", g.host_capacity);
  sample(&out, "loraplex_lora_cache_capacity", "tier=\"device\"", g.device_capacity);
  gauge("loraplex_lora_adapters", "Adapters in the store.", g.adapters_known);
  header(&out, "loraplex_lora_requests_info", "gauge",
         "Adapters of the running batch and of waiting requests (labels; the value is always 1).");
  sample(&out, "loraplex_lora_requests_info",
         "running_lora_adapters=\"" + prom_escape(join(e.running_adapters)) + "\",waiting_lora_adapters=\"" +
             prom_escape(join(e.waiting_adapters)) + "\",max_lora=\"" + std::to_string(g.device_capacity) + "\"",
         1);
  return out;
}

}  // namespace lpx::server
