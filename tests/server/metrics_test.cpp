// Prometheus text exposition of the server metrics: HELP/TYPE lines, counters by model and code,
// cumulative histogram buckets, gauges from the engine and the adapter tiers, label escaping.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace lpx::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

TEST(ServerMetrics, CountersAndHistograms) {
  ServerMetrics m;
  RequestRecord a;
  a.model = "base";
  a.status = 200;
  a.prompt_tokens = 5;
  a.completion_tokens = 4;
  a.ttft_seconds = 0.003;
  a.itl_seconds = {0.002, 0.002, 0.5};
  a.e2e_seconds = 0.6;
  m.record(a);
  m.record(a);
  RequestRecord b;
  b.model = "math";
  b.status = 429;
  m.record(b);
  RequestRecord c;  // never resolved a model
  c.status = 400;
  m.record(c);

  GaugeSnapshot g;
  g.ready = true;
  const std::string t = m.render(g);
  EXPECT_TRUE(has_line(t, "# HELP loraplex_requests_total Finished API requests by model and HTTP status code."));
  EXPECT_TRUE(has_line(t, "# TYPE loraplex_requests_total counter"));
  EXPECT_TRUE(has_line(t, "loraplex_requests_total{model=\"base\",code=\"200\"} 2"));
  EXPECT_TRUE(has_line(t, "loraplex_requests_total{model=\"math\",code=\"429\"} 1"));
  EXPECT_TRUE(has_line(t, "loraplex_requests_total{model=\"unknown\",code=\"400\"} 1"));
  EXPECT_TRUE(has_line(t, "loraplex_prompt_tokens_total{model=\"base\"} 10"));
  EXPECT_TRUE(has_line(t, "loraplex_generation_tokens_total{model=\"base\"} 8"));

  EXPECT_TRUE(has_line(t, "# TYPE loraplex_time_to_first_token_seconds histogram"));
  EXPECT_TRUE(has_line(t, "loraplex_time_to_first_token_seconds_bucket{le=\"0.001\"} 0"));
  EXPECT_TRUE(has_line(t, "loraplex_time_to_first_token_seconds_bucket{le=\"0.005\"} 2"));
  EXPECT_TRUE(has_line(t, "loraplex_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(has_line(t, "loraplex_time_to_first_token_seconds_count 2"));
  EXPECT_TRUE(has_line(t, "loraplex_time_to_first_token_seconds_sum 0.006"));
  // Buckets are cumulative: 4 gaps <= 0.005, all 6 <= 0.5.
  EXPECT_TRUE(has_line(t, "loraplex_inter_token_latency_seconds_bucket{le=\"0.005\"} 4"));
  EXPECT_TRUE(has_line(t, "loraplex_inter_token_latency_seconds_bucket{le=\"0.4\"} 4"));
  EXPECT_TRUE(has_line(t, "loraplex_inter_token_latency_seconds_bucket{le=\"0.5\"} 6"));
  EXPECT_TRUE(has_line(t, "loraplex_inter_token_latency_seconds_count 6"));
  EXPECT_TRUE(has_line(t, "loraplex_e2e_request_latency_seconds_count 2"));
  EXPECT_TRUE(has_line(t, "loraplex_ready 1"));
}

TEST(ServerMetrics, GaugesFromEngineAndAdapterTiers) {
  ServerMetrics m;
  GaugeSnapshot g;
  g.engine.waiting = 3;
  g.engine.running = 2;
  g.engine.kv_blocks_used = 16;
  g.engine.kv_blocks_total = 64;
  g.engine.device_tier.hits = 7;
  g.engine.device_tier.loads = 2;
  g.engine.device_resident = 2;
  g.engine.running_adapters = {"math", "upper"};
  g.engine.waiting_adapters = {"shift"};
  g.host.hits = 5;
  g.host.misses = 3;
  g.host.evictions = 1;
  g.host_resident = 2;
  g.host_bytes = 104857600;
  g.device_bytes = 4096;
  g.host_capacity = 2;
  g.device_capacity = 8;
  g.adapters_known = 4;
  const std::string t = m.render(g);
  EXPECT_TRUE(has_line(t, "# TYPE loraplex_num_requests_waiting gauge"));
  EXPECT_TRUE(has_line(t, "loraplex_num_requests_waiting 3"));
  EXPECT_TRUE(has_line(t, "loraplex_num_requests_running 2"));
  EXPECT_TRUE(has_line(t, "loraplex_kv_cache_blocks_used 16"));
  EXPECT_TRUE(has_line(t, "loraplex_kv_cache_blocks_total 64"));
  EXPECT_TRUE(has_line(t, "loraplex_kv_cache_usage_ratio 0.25"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_hits_total{tier=\"host\"} 5"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_hits_total{tier=\"device\"} 7"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_misses_total{tier=\"host\"} 3"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_loads_total{tier=\"device\"} 2"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_evictions_total{tier=\"host\"} 1"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_resident{tier=\"host\"} 2"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_resident{tier=\"device\"} 2"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_capacity{tier=\"device\"} 8"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_bytes{tier=\"host\"} 104857600"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_cache_bytes{tier=\"device\"} 4096"));
  EXPECT_TRUE(has_line(t, "loraplex_lora_adapters 4"));
  EXPECT_TRUE(has_line(t,
                       "loraplex_lora_requests_info{running_lora_adapters=\"math,upper\","
                       "waiting_lora_adapters=\"shift\",max_lora=\"8\"} 1"));
  EXPECT_TRUE(has_line(t, "loraplex_ready 0"));
}

TEST(ServerMetrics, EveryMetricHasHelpAndType) {
  ServerMetrics m;
  RequestRecord r;
  r.model = "base";
  m.record(r);
  const std::string t = m.render(GaugeSnapshot{});
  std::istringstream in(t);
  std::string line, last_type;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      last_type = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name.rfind(last_type, 0), 0u) << line << " after TYPE " << last_type;
  }
}

TEST(ServerMetrics, LabelEscaping) {
  EXPECT_EQ(prom_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  ServerMetrics m;
  RequestRecord r;
  r.model = "we\"ird";
  m.record(r);
  EXPECT_TRUE(has_line(m.render(GaugeSnapshot{}), "loraplex_requests_total{model=\"we\\\"ird\",code=\"200\"} 1"));
}

TEST(ServerMetrics, HistogramBoundaries) {
  Histogram h({0.1, 1.0});
  h.observe(0.1);  // le = inclusive
  h.observe(0.5);
  h.observe(5.0);
  std::string out;
  h.render("x", &out);
  EXPECT_EQ(out, "x_bucket{le=\"0.1\"} 1\nx_bucket{le=\"1\"} 2\nx_bucket{le=\"+Inf\"} 3\nx_sum 5.6\nx_count 3\n");
}

}  // namespace
}  // namespace lpx::server
