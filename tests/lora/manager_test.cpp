// LoraManager: store scan and refresh (add / remove / change), leases and the host tier's 429
// condition, on-demand loading once per adapter, bad adapters skipped. (The NIM_* variables are
// CLI flags' envnames: tests/apps/env_config_test.cpp.)
#include "lora/manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "model/model.h"
#include "util/random_llama.h"

namespace lpx {
namespace {

namespace fs = std::filesystem;
using testutil::RandomLlamaSpec;

class LoraManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = (fs::temp_directory_path() / ("lpx_manager_store_" + std::to_string(::getpid()))).string();
    fs::remove_all(store_);
    fs::create_directories(store_);
    config_ = testutil::config_of(spec_);
  }
  void TearDown() override { fs::remove_all(store_); }

  void add_adapter(const std::string& name, int rank, uint32_t seed = 1) {
    auto a = testutil::random_adapter(spec_, name, rank, {0, 2, 3}, 2.0f, seed);
    testutil::write_peft_adapter(store_ + "/" + name, *a, DType::kBF16);
  }
  LoraManagerConfig cfg(int cpu = 4) {
    LoraManagerConfig c;
    c.store_dir = store_;
    c.max_cpu_loras = cpu;
    c.max_lora_rank = 32;
    return c;
  }
  static std::vector<std::string> names(const LoraManager& m) {
    std::vector<std::string> out;
    for (const auto& e : m.list()) out.push_back(e.name);
    return out;
  }

  RandomLlamaSpec spec_;
  ModelConfig config_;
  std::string store_;
};

TEST_F(LoraManagerTest, MissingStoreIsAClearError) {
  LoraManagerConfig c = cfg();
  c.store_dir = store_ + "/nope";
  LoraManager m(config_, c);
  Status s = m.start();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("NIM_PEFT_SOURCE"), std::string::npos) << s.message();
}

TEST_F(LoraManagerTest, NoStoreMeansBaseOnly) {
  LoraManager m(config_, LoraManagerConfig{});
  ASSERT_TRUE(m.start().is_ok());
  EXPECT_TRUE(m.list().empty());
  EXPECT_EQ(m.acquire("x").status().code(), StatusCode::kNotFound);
}

TEST_F(LoraManagerTest, ScanLoadAndHit) {
  add_adapter("alpha", 8);
  add_adapter("beta", 4);
  fs::create_directories(store_ + "/broken");
  std::ofstream(store_ + "/broken/adapter_config.json") << "{ not json";
  LoraManager m(config_, cfg());
  ASSERT_TRUE(m.start().is_ok());
  EXPECT_EQ(names(m), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(m.acquire("gamma").status().code(), StatusCode::kNotFound);
  {
    auto l = m.acquire("alpha");
    ASSERT_TRUE(l.is_ok()) << l.status().to_string();
    EXPECT_EQ(l.value()->adapter()->max_rank, 8);
    EXPECT_EQ(l.value()->name(), "alpha");
    auto l2 = m.acquire("alpha");
    ASSERT_TRUE(l2.is_ok());
    EXPECT_EQ(l2.value()->adapter(), l.value()->adapter());  // loaded once, shared
  }
  auto c = m.host_counters();
  EXPECT_EQ(c.loads, 1);
  EXPECT_EQ(c.misses, 1);
  EXPECT_EQ(c.hits, 1);
  ASSERT_TRUE(m.acquire("alpha").is_ok());
  EXPECT_EQ(m.host_counters().hits, 2);
}

TEST_F(LoraManagerTest, FullHostCacheRefusesThenRecovers) {
  add_adapter("a", 4, 1);
  add_adapter("b", 4, 2);
  add_adapter("c", 4, 3);
  LoraManager m(config_, cfg(2));
  ASSERT_TRUE(m.start().is_ok());
  LeasePtr la = m.acquire("a").value();
  LeasePtr lb = m.acquire("b").value();
  ASSERT_TRUE(la && lb);
  auto lc = m.acquire("c");
  ASSERT_FALSE(lc.is_ok());
  EXPECT_EQ(lc.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(lc.status().message().find("reduce the number of active LoRAs"), std::string::npos);
  la.reset();  // the request for "a" finishes
  auto lc2 = m.acquire("c");
  ASSERT_TRUE(lc2.is_ok()) << lc2.status().to_string();
  EXPECT_EQ(m.host_size(), 2);
  EXPECT_EQ(m.host_counters().evictions, 1);
}

TEST_F(LoraManagerTest, RefreshAddsRemovesAndReloadsChanged) {
  add_adapter("one", 4, 1);
  LoraManager m(config_, cfg());
  ASSERT_TRUE(m.start().is_ok());
  auto first = m.acquire("one");
  ASSERT_TRUE(first.is_ok());
  const float a0 = first.value()->adapter()->layers[0][0]->a[0];
  add_adapter("two", 8, 2);
  auto r = m.refresh();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value().added, std::vector<std::string>{"two"});
  EXPECT_EQ(names(m), (std::vector<std::string>{"one", "two"}));
  // Change "one" on disk (new weights, later mtime): the running lease keeps the old weights, the
  // next acquire loads the new ones.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fs::remove_all(store_ + "/one");
  add_adapter("one", 16, 9);
  r = m.refresh();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value().changed, std::vector<std::string>{"one"});
  EXPECT_FLOAT_EQ(first.value()->adapter()->layers[0][0]->a[0], a0);
  auto again = m.acquire("one");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(again.value()->adapter()->max_rank, 16);
  EXPECT_NE(again.value()->key(), first.value()->key());
  // Remove "two": no longer offered.
  fs::remove_all(store_ + "/two");
  r = m.refresh();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value().removed, std::vector<std::string>{"two"});
  EXPECT_EQ(m.acquire("two").status().code(), StatusCode::kNotFound);
}

TEST_F(LoraManagerTest, StoreVanishingKeepsWhatIsKnown) {
  add_adapter("kept", 4);
  LoraManager m(config_, cfg());
  ASSERT_TRUE(m.start().is_ok());
  ASSERT_TRUE(m.acquire("kept").is_ok());
  fs::remove_all(store_);
  auto r = m.refresh();
  EXPECT_FALSE(r.is_ok());  // logged, and nothing changes
  EXPECT_EQ(names(m), std::vector<std::string>{"kept"});
  EXPECT_TRUE(m.acquire("kept").is_ok());  // still in the host cache
}

TEST_F(LoraManagerTest, PeriodicRefreshFindsNewFolders) {
  LoraManagerConfig c = cfg();
  c.refresh_interval_s = 1;
  LoraManager m(config_, c);
  ASSERT_TRUE(m.start().is_ok());
  EXPECT_TRUE(m.list().empty());
  add_adapter("late", 4);
  bool seen = false;
  for (int i = 0; i < 40 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = m.has("late");
  }
  EXPECT_TRUE(seen);
}

TEST_F(LoraManagerTest, RankAboveLimitFailsToLoadWithAdvice) {
  add_adapter("big", 64);
  LoraManager m(config_, cfg());
  ASSERT_TRUE(m.start().is_ok());
  auto l = m.acquire("big");
  ASSERT_FALSE(l.is_ok());
  EXPECT_NE(l.status().message().find("NIM_MAX_LORA_RANK"), std::string::npos) << l.status().message();
  EXPECT_EQ(m.host_size(), 0);  // the failed entry does not hold a slot
}

TEST_F(LoraManagerTest, ConcurrentAcquiresLoadOnce) {
  add_adapter("shared", 8);
  LoraManager m(config_, cfg());
  ASSERT_TRUE(m.start().is_ok());
  std::vector<std::thread> ts;
  std::vector<LeasePtr> leases(8);
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      auto l = m.acquire("shared");
      if (l.is_ok()) leases[static_cast<size_t>(i)] = l.value();
    });
  for (auto& t : ts) t.join();
  for (const auto& l : leases) ASSERT_NE(l, nullptr);
  EXPECT_EQ(m.host_counters().loads, 1);
}

}  // namespace
}  // namespace lpx
