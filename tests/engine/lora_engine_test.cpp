// Mixed-adapter batches in the engine: a request's output in a batch mixing the base model and
// several adapters equals its output alone; the LoRA path equals a model with the adapter merged
// into its weights (W + scale * B A); the device tier bounds adapters per step without refusing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "core/thread_pool.h"
#include "engine/engine.h"
#include "model/model.h"
#include "util/random_llama.h"

namespace lpx {
namespace {

using testutil::RandomLlamaSpec;

struct Result1 {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  FinishReason reason = FinishReason::kNone;
};

class LoraEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spec_ = new RandomLlamaSpec();
    spec_->stddev = 0.25f;
    tensors_ = new testutil::TensorMap(testutil::random_llama_tensors(*spec_));
    // Per process: ctest runs test cases of this suite in parallel processes.
    dir_ = new std::string(
        (std::filesystem::temp_directory_path() / ("lpx_lora_engine_base_" + std::to_string(::getpid()))).string());
    testutil::write_llama_folder(*dir_, *spec_, *tensors_, DType::kF32);
    ModelLoadOptions o;
    o.progress_log = false;
    auto m = Model::load(*dir_, o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = std::move(m).value().release();
    const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6}, attn = {0, 1, 2, 3}, mlp = {4, 5, 6};
    adapters_ =
        new std::vector<std::shared_ptr<LoraAdapter>>{testutil::random_adapter(*spec_, "all16", 16, all, 0.5f, 101),
                                                      testutil::random_adapter(*spec_, "attn4", 4, attn, 2.0f, 102),
                                                      testutil::random_adapter(*spec_, "mlp8", 8, mlp, 1.0f, 103),
                                                      testutil::random_adapter(*spec_, "qv2", 2, {0, 2}, 4.0f, 104)};
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    std::filesystem::remove_all(*dir_ + "_merged");
    delete model_;
    delete adapters_;
    delete tensors_;
    delete spec_;
    delete dir_;
  }

  static LeasePtr lease(int i) {
    if (i < 0) return nullptr;
    const auto& a = (*adapters_)[static_cast<size_t>(i)];
    return std::make_shared<const AdapterLease>(nullptr, a->name, a->name + "@1", a);
  }
  static EngineConfig config(int slots, int max_rank = 16) {
    EngineConfig c;
    c.max_num_seqs = 16;
    c.max_batch_tokens = 64;
    c.lora.n_slots = slots;
    c.lora.max_rank = max_rank;
    c.lora.page_rank = 2;
    return c;
  }
  // Submits (prompt, adapter index or -1) pairs and runs them all to completion together.
  static std::vector<Result1> run(Engine& e, const std::vector<std::pair<std::vector<int32_t>, int>>& reqs,
                                  int max_tokens) {
    std::vector<Result1> out(reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
      GenerationRequest r;
      r.prompt = reqs[i].first;
      r.params.temperature = 0;
      r.params.max_tokens = max_tokens;
      r.params.ignore_eos = true;
      r.params.want_logprobs = true;
      r.lora = lease(reqs[i].second);
      Result1* o = &out[i];
      r.on_output = [o](const RequestOutput& x) {
        for (const auto& t : x.tokens) {
          o->tokens.push_back(t.token);
          o->logprobs.push_back(t.logprob);
        }
        if (x.finished) o->reason = x.reason;
      };
      auto id = e.add_request(std::move(r));
      EXPECT_TRUE(id.is_ok()) << id.status().to_string();
    }
    EXPECT_TRUE(e.run_to_completion().is_ok());
    return out;
  }

  static RandomLlamaSpec* spec_;
  static testutil::TensorMap* tensors_;
  static std::string* dir_;
  static Model* model_;
  static std::vector<std::shared_ptr<LoraAdapter>>* adapters_;
};
RandomLlamaSpec* LoraEngineTest::spec_ = nullptr;
testutil::TensorMap* LoraEngineTest::tensors_ = nullptr;
std::string* LoraEngineTest::dir_ = nullptr;
Model* LoraEngineTest::model_ = nullptr;
std::vector<std::shared_ptr<LoraAdapter>>* LoraEngineTest::adapters_ = nullptr;

std::vector<std::pair<std::vector<int32_t>, int>> mixed_requests() {
  return {{{576, 10, 20, 30}, -1}, {{576, 10, 20, 30}, 0},
          {{576, 11, 21}, 1},      {{576, 10, 20, 30, 40, 50}, 2},
          {{576, 10, 20, 30}, 3},  {{576, 99, 98, 97, 96, 95, 94, 93, 92}, 0},
          {{576, 12}, 1},          {{576, 10, 20, 30}, 2}};
}

TEST_F(LoraEngineTest, AdaptersChangeTheOutput) {
  ThreadPool pool(2);
  Engine e(*model_, config(4), &pool);
  auto r = run(e, {{{576, 10, 20, 30}, -1}, {{576, 10, 20, 30}, 0}, {{576, 10, 20, 30}, 1}}, 8);
  EXPECT_NE(r[0].logprobs, r[1].logprobs);
  EXPECT_NE(r[0].logprobs, r[2].logprobs);
}

TEST_F(LoraEngineTest, MixedBatchEqualsSolo) {
  ThreadPool pool(2);
  const auto reqs = mixed_requests();
  std::vector<Result1> solo;
  for (const auto& q : reqs) {
    Engine e(*model_, config(4), &pool);
    solo.push_back(run(e, {q}, 10)[0]);
  }
  Engine e(*model_, config(4), &pool);
  auto mixed = run(e, reqs, 10);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(mixed[i].tokens, solo[i].tokens) << "request " << i;
    ASSERT_EQ(mixed[i].logprobs.size(), solo[i].logprobs.size());
    for (size_t t = 0; t < solo[i].logprobs.size(); ++t)
      EXPECT_NEAR(mixed[i].logprobs[t], solo[i].logprobs[t], 1e-5) << "request " << i << " token " << t;
    EXPECT_EQ(mixed[i].reason, FinishReason::kLength);
  }
  // More distinct adapters than device slots: requests wait for a slot, none is refused, and the
  // results do not change.
  Engine small(*model_, config(1, 8), &pool);  // room for about one adapter at a time
  auto waited = run(small, reqs, 10);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(waited[i].tokens, solo[i].tokens) << "request " << i;
  EXPECT_GT(small.stats().device_tier.evictions, 0);
  EXPECT_EQ(small.stats().running, 0);
}

TEST_F(LoraEngineTest, EqualsMergedWeights) {
  ThreadPool pool(2);
  for (int ai = 0; ai < static_cast<int>(adapters_->size()); ++ai) {
    testutil::TensorMap merged = *tensors_;
    testutil::merge_adapter(&merged, *(*adapters_)[static_cast<size_t>(ai)]);
    const std::string mdir = *dir_ + "_merged";
    testutil::write_llama_folder(mdir, *spec_, merged, DType::kF32);
    ModelLoadOptions o;
    o.progress_log = false;
    auto mm = Model::load(mdir, o);
    ASSERT_TRUE(mm.is_ok()) << mm.status().to_string();
    Engine lora_engine(*model_, config(4), &pool);
    Engine merged_engine(*mm.value(), config(4), &pool);
    const std::vector<int32_t> prompt = {576, 5, 6, 7, 8, 9};
    auto a = run(lora_engine, {{prompt, ai}}, 6)[0];
    auto b = run(merged_engine, {{prompt, -1}}, 6)[0];
    EXPECT_EQ(a.tokens, b.tokens) << (*adapters_)[static_cast<size_t>(ai)]->name;
    for (size_t t = 0; t < std::min(a.logprobs.size(), b.logprobs.size()); ++t)
      EXPECT_NEAR(a.logprobs[t], b.logprobs[t], 2e-3) << (*adapters_)[static_cast<size_t>(ai)]->name << " token " << t;
  }
}

TEST_F(LoraEngineTest, RefusesAdaptersWithoutDeviceTier) {
  Engine e(*model_, config(0));
  GenerationRequest r;
  r.prompt = {576, 1, 2};
  r.lora = lease(0);
  auto id = e.add_request(std::move(r));
  ASSERT_FALSE(id.is_ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LoraEngineTest, StatsNameRunningAdapters) {
  Engine e(*model_, config(4));
  GenerationRequest r;
  r.prompt = {576, 1, 2};
  r.params.max_tokens = 5;
  r.params.ignore_eos = true;
  r.lora = lease(1);
  ASSERT_TRUE(e.add_request(std::move(r)).is_ok());
  EXPECT_EQ(e.stats().waiting_adapters, std::vector<std::string>{"attn4"});
  ASSERT_TRUE(e.step().is_ok());
  EXPECT_EQ(e.stats().running_adapters, std::vector<std::string>{"attn4"});
  ASSERT_TRUE(e.run_to_completion().is_ok());
  EXPECT_TRUE(e.stats().running_adapters.empty());
  EXPECT_EQ(e.stats().device_resident, 1);
}

}  // namespace
}  // namespace lpx
