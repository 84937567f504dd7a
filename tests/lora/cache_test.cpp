// Host cache (LRU, pinning, the 429 condition, failed loads, invalidation) and device pool
// (paging by rank, LRU over unpinned, compaction, kernel views).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lora/device_pool.h"
#include "lora/host_cache.h"
#include "lora/registry.h"

namespace lpx {
namespace {

AdapterPtr make_adapter(const std::string& name, int rank, int layers, int64_t dim, bool all_modules = true) {
  auto a = std::make_shared<LoraAdapter>();
  a->name = name;
  a->max_rank = rank;
  a->layers.resize(layers);
  for (int l = 0; l < layers; ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      if (!all_modules && m > 0) continue;
      LoraModuleWeights w;
      w.rank = rank;
      w.in_dim = dim;
      w.out_dim = dim;
      w.scale = 2.0f;
      w.a.assign(rank * dim, float(l * 10 + m) + 0.5f);
      w.b.assign(dim * rank, -float(l * 10 + m));
      a->layers[l][m] = std::move(w);
    }
  }
  return a;
}

TEST(HostCache, LruPinningAnd429) {
  HostCache c(2);
  ASSERT_EQ(c.reserve("a", "s").value(), HostCache::Reservation::kMustLoad);
  EXPECT_EQ(c.bytes(), 0u);  // loading: nothing held yet
  AdapterPtr a = make_adapter("a", 4, 1, 8);
  c.fulfil("a", a);
  ASSERT_EQ(c.reserve("b", "s").value(), HostCache::Reservation::kMustLoad);
  AdapterPtr b = make_adapter("b", 4, 1, 8, false);
  c.fulfil("b", b);
  EXPECT_GT(b->bytes(), 0u);
  EXPECT_EQ(c.bytes(), a->bytes() + b->bytes());
  // Both pinned: a third adapter is refused with the 429 condition.
  auto r = c.reserve("c", "s");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("reduce the number of active LoRAs"), std::string::npos);
  // A hit on a pinned adapter still works.
  EXPECT_EQ(c.reserve("a", "s").value(), HostCache::Reservation::kReady);
  EXPECT_EQ(c.pinned("a"), 2);
  c.unpin("b");
  // b is unpinned and least recently used: c evicts it.
  EXPECT_EQ(c.reserve("c", "s").value(), HostCache::Reservation::kMustLoad);
  EXPECT_EQ(c.lru_order(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(c.bytes(), a->bytes());  // b evicted, c still loading
  auto k = c.counters();
  EXPECT_EQ(k.evictions, 1);
  EXPECT_EQ(k.hits, 1);
  EXPECT_EQ(k.misses, 3);
}

TEST(HostCache, LoadingFailureAndRetry) {
  HostCache c(2);
  ASSERT_EQ(c.reserve("x", "s").value(), HostCache::Reservation::kMustLoad);
  EXPECT_EQ(c.reserve("x", "s").value(), HostCache::Reservation::kLoading);
  EXPECT_EQ(c.get("x").value(), nullptr);  // still loading
  c.fulfil("x", corrupt("x/adapter_config.json: bad JSON"));
  EXPECT_EQ(c.get("x").status().code(), StatusCode::kCorrupt);
  c.unpin("x");
  c.unpin("x");  // last pin drops the failed entry
  EXPECT_EQ(c.size(), 0);
  EXPECT_EQ(c.reserve("x", "s").value(), HostCache::Reservation::kMustLoad);
}

TEST(HostCache, ChangedSignatureReloadsAndInvalidate) {
  HostCache c(4);
  ASSERT_EQ(c.reserve("a", "v1").value(), HostCache::Reservation::kMustLoad);
  c.fulfil("a", make_adapter("a", 4, 1, 8));
  c.unpin("a");
  EXPECT_EQ(c.reserve("a", "v2").value(), HostCache::Reservation::kMustLoad);  // changed on disk
  c.fulfil("a", make_adapter("a", 8, 1, 8));
  EXPECT_EQ(c.get("a").value()->max_rank, 8);
  c.invalidate("a");  // pinned: dropped when the request finishes
  EXPECT_EQ(c.size(), 1);
  c.unpin("a");
  EXPECT_EQ(c.size(), 0);
}

DevicePoolConfig pool_config(int slots, int max_rank, int layers, int64_t dim) {
  DevicePoolConfig pc;
  pc.n_slots = slots;
  pc.max_rank = max_rank;
  pc.floats_per_rank = static_cast<int64_t>(layers) * kNumLoraModules * 2 * dim;
  pc.page_rank = 4;
  return pc;
}

TEST(DevicePool, LowerRankTakesLessRoom) {
  DevicePool pool(pool_config(2, 16, 2, 8));  // 2 slots x 16 ranks = 8 pages
  EXPECT_EQ(pool.n_pages(), 8);
  EXPECT_EQ(pool.pages_for(*make_adapter("big", 16, 2, 8)), 4);
  EXPECT_EQ(pool.pages_for(*make_adapter("small", 4, 2, 8)), 1);
  EXPECT_EQ(pool.pages_for(*make_adapter("q-only", 4, 2, 8, false)), 1);
  // Eight rank-4 adapters fit in a pool of two rank-16 slots.
  for (int i = 0; i < 8; ++i) {
    auto r = pool.acquire("s" + std::to_string(i), make_adapter("s", 4, 2, 8));
    ASSERT_TRUE(r.is_ok()) << i;
  }
  EXPECT_EQ(pool.resident(), 8);
  // All pinned: one more cannot fit until the step ends.
  EXPECT_EQ(pool.acquire("s8", make_adapter("s", 4, 2, 8)).status().code(), StatusCode::kResourceExhausted);
  pool.unpin_all();
  EXPECT_TRUE(pool.acquire("s8", make_adapter("s", 4, 2, 8)).is_ok());
  EXPECT_EQ(pool.counters().evictions, 1);
  EXPECT_EQ(pool.lru_order().front(), "s1");  // s0 was evicted (least recently used)
}

TEST(DevicePool, ViewsPointAtCopiedWeightsAndSurviveCompaction) {
  DevicePool pool(pool_config(2, 16, 2, 8));
  auto small1 = make_adapter("a", 4, 2, 8);
  auto big = make_adapter("b", 8, 2, 8);
  ASSERT_TRUE(pool.acquire("a", small1).is_ok());                      // pages 0
  ASSERT_TRUE(pool.acquire("b", big).is_ok());                         // pages 1-2
  ASSERT_TRUE(pool.acquire("c", make_adapter("c", 4, 2, 8)).is_ok());  // page 3
  pool.unpin_all();
  pool.evict("a");
  pool.evict("c");  // free: 0, 3..7 — a 5-page run exists only after compaction
  auto r = pool.acquire("d", make_adapter("d", 20, 2, 8));  // 5 pages
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  // b moved but its views still read its weights.
  auto rb = pool.acquire("b", big);
  ASSERT_TRUE(rb.is_ok());
  const DeviceAdapter* d = rb.value();
  for (int l = 0; l < 2; ++l)
    for (int m = 0; m < kNumLoraModules; ++m) {
      const auto& s = d->views[l][m];
      ASSERT_NE(s.a.data, nullptr);
      EXPECT_EQ(static_cast<const float*>(s.a.data)[5], float(l * 10 + m) + 0.5f);
      EXPECT_EQ(static_cast<const float*>(s.b.data)[3], -float(l * 10 + m));
      EXPECT_EQ(s.a.rows, 8);
      EXPECT_EQ(s.scale, 2.0f);
    }
  EXPECT_EQ(pool.acquire("huge", make_adapter("h", 64, 2, 8)).status().code(), StatusCode::kInvalidArgument);
}

TEST(Registry, ScanAddRemoveChangeAndBadNames) {
  namespace fs = std::filesystem;
  fs::path store = fs::temp_directory_path() / "lpx_registry_test";
  fs::remove_all(store);
  fs::create_directories(store / "alpha");
  fs::create_directories(store / "beta");
  fs::create_directories(store / "bad");
  std::ofstream(store / "alpha" / "adapter_config.json") << "{}";
  std::ofstream(store / "beta" / "adapter_config.json") << "{}";
  std::ofstream(store / "stray-file.txt") << "not an adapter";
  AdapterRegistry reg(store.string(), [](const std::string& dir) {
    return std::filesystem::exists(dir + "/adapter_config.json") ? Status::ok()
                                                                 : corrupt(dir + ": no adapter_config.json");
  });
  auto r = reg.scan();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->added, (std::vector<std::string>{"alpha", "beta"}));
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].first, "bad");
  EXPECT_TRUE(reg.find("alpha").has_value());
  EXPECT_FALSE(reg.find("bad").has_value());
  // Second scan: nothing new, the bad one is not re-logged.
  r = reg.scan();
  EXPECT_TRUE(r->added.empty() && r->removed.empty() && r->changed.empty() && r->skipped.empty());
  // Remove one, change one, fix the bad one.
  fs::remove_all(store / "beta");
  std::ofstream(store / "alpha" / "adapter_model.safetensors") << "x";
  std::ofstream(store / "bad" / "adapter_config.json") << "{}";
  r = reg.scan();
  EXPECT_EQ(r->removed, (std::vector<std::string>{"beta"}));
  EXPECT_EQ(r->changed, (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(r->added, (std::vector<std::string>{"bad"}));
  fs::remove_all(store);
  EXPECT_FALSE(reg.scan().is_ok());
}

TEST(Registry, NamesThatCouldEscapeTheStore) {
  EXPECT_TRUE(AdapterRegistry::valid_name("math"));
  EXPECT_TRUE(AdapterRegistry::valid_name("my-adapter_v2.1"));
  for (const char* bad : {"", "..", "a/b", "../etc", ".hidden", "a\\b", "a..b", "tab\there", "nl\n"})
    EXPECT_FALSE(AdapterRegistry::valid_name(bad)) << bad;
}

}  // namespace
}  // namespace lpx
