// Engine behaviour on a tiny random model: validation errors, cancellation, KV exhaustion with
// preemption, stop strings, max_tokens and context-length finishes.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <random>

#include <unistd.h>

#include "model/model.h"
#include "testing/safetensors_writer.h"

namespace lpx {
namespace {

// Writes a random Llama model folder using the demo tokenizer files.
std::string make_random_model() {
  static std::string dir;
  if (!dir.empty()) return dir;
  dir = (std::filesystem::temp_directory_path() / ("lpx_engine_test_model_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string demo = std::string(LPX_SOURCE_DIR) + "/models/demo/base";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(demo + "/" + f, dir + "/" + f, std::filesystem::copy_options::overwrite_existing);
  const int H = 32, L = 2, NH = 4, KVH = 2, HD = 8, I = 64, V = 584, CTX = 64;
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                        {"hidden_size", H},
                        {"intermediate_size", I},
                        {"num_hidden_layers", L},
                        {"num_attention_heads", NH},
                        {"num_key_value_heads", KVH},
                        {"vocab_size", V},
                        {"max_position_embeddings", CTX},
                        {"rms_norm_eps", 1e-5},
                        {"bos_token_id", 576},
                        {"eos_token_id", 577},
                        {"hidden_act", "silu"}};
  std::ofstream(dir + "/config.json") << cfg.dump();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  SafetensorsWriter w;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool ones = false) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(n);
    for (auto& x : v) x = ones ? 1.0f : nd(rng);
    EXPECT_TRUE(w.add_f32_as(name, DType::kBF16, shape, v).is_ok());
  };
  add("model.embed_tokens.weight", {V, H});
  add("lm_head.weight", {V, H});
  add("model.norm.weight", {H}, true);
  for (int l = 0; l < L; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {H}, true);
    add(p + "post_attention_layernorm.weight", {H}, true);
    add(p + "self_attn.q_proj.weight", {NH * HD, H});
    add(p + "self_attn.k_proj.weight", {KVH * HD, H});
    add(p + "self_attn.v_proj.weight", {KVH * HD, H});
    add(p + "self_attn.o_proj.weight", {H, NH * HD});
    add(p + "mlp.gate_proj.weight", {I, H});
    add(p + "mlp.up_proj.weight", {I, H});
    add(p + "mlp.down_proj.weight", {H, I});
  }
  EXPECT_TRUE(w.write(dir + "/model.safetensors").is_ok());
  return dir;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelLoadOptions o;
    o.progress_log = false;
    auto m = Model::load(make_random_model(), o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = std::move(m).value();
  }
  GenerationRequest req(std::vector<int32_t> prompt, int max_tokens, std::vector<int32_t>* out,
                        FinishReason* reason = nullptr) {
    GenerationRequest r;
    r.prompt = std::move(prompt);
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    r.on_output = [out, reason](const RequestOutput& o) {
      for (auto& t : o.tokens) out->push_back(t.token);
      if (o.finished && reason) *reason = o.reason;
    };
    return r;
  }
  std::unique_ptr<Model> model_;
};

TEST_F(EngineTest, RejectsBadRequests) {
  Engine e(*model_, EngineConfig{});
  std::vector<int32_t> out;
  EXPECT_EQ(e.add_request(req({}, 4, &out)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.add_request(req({1, 9999}, 4, &out)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.add_request(req(std::vector<int32_t>(64, 5), 4, &out)).status().code(), StatusCode::kInvalidArgument);
  auto r = req({1, 2}, 4, &out);
  r.params.top_p = 2.0f;
  auto res = e.add_request(std::move(r));
  ASSERT_FALSE(res.is_ok());
  EXPECT_NE(res.status().message().find("top_p"), std::string::npos);
}

TEST_F(EngineTest, LengthFinishAtContextEnd) {
  Engine e(*model_, EngineConfig{});
  std::vector<int32_t> out;
  FinishReason reason = FinishReason::kNone;
  ASSERT_TRUE(e.add_request(req(std::vector<int32_t>(60, 5), 100, &out, &reason)).is_ok());
  ASSERT_TRUE(e.run_to_completion().is_ok());
  EXPECT_EQ(out.size(), 4u);  // 60 + 4 = the 64-token context
  EXPECT_EQ(reason, FinishReason::kLength);
}

TEST_F(EngineTest, CancelFreesKvBlocks) {
  Engine e(*model_, EngineConfig{});
  std::vector<int32_t> out;
  FinishReason reason = FinishReason::kNone;
  auto id = e.add_request(req({1, 2, 3, 4, 5}, 50, &out, &reason));
  ASSERT_TRUE(id.is_ok());
  ASSERT_TRUE(e.step().is_ok());
  ASSERT_TRUE(e.step().is_ok());
  EXPECT_GT(e.stats().kv_blocks_used, 0);
  e.cancel(*id);
  EXPECT_EQ(reason, FinishReason::kCancelled);
  EXPECT_EQ(e.stats().kv_blocks_used, 0);
  EXPECT_FALSE(e.has_work());
}

TEST_F(EngineTest, PreemptionUnderKvPressureKeepsResults) {
  // Solo results first.
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13}, {2, 6, 10}, {3, 7, 11, 15, 19}, {4, 8}};
  std::vector<std::vector<int32_t>> solo(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Engine e(*model_, EngineConfig{});
    ASSERT_TRUE(e.add_request(req(prompts[i], 40, &solo[i])).is_ok());
    ASSERT_TRUE(e.run_to_completion().is_ok());
  }
  // Now all at once with a KV pool too small for all four to finish together.
  EngineConfig ec;
  ec.kv_block_size = 4;
  ec.kv_blocks = 24;  // 4 sequences x 44 tokens need 44 blocks
  Engine e(*model_, ec);
  std::vector<std::vector<int32_t>> got(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) ASSERT_TRUE(e.add_request(req(prompts[i], 40, &got[i])).is_ok());
  ASSERT_TRUE(e.run_to_completion().is_ok());
  EXPECT_GT(e.stats().preemptions, 0);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], solo[i]) << i;
  EXPECT_EQ(e.stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, StopStringEndsAndIsExcluded) {
  // Find what greedy produces, then stop on a piece of it.
  std::vector<int32_t> out;
  {
    Engine e(*model_, EngineConfig{});
    ASSERT_TRUE(e.add_request(req({1, 40, 50}, 12, &out)).is_ok());
    ASSERT_TRUE(e.run_to_completion().is_ok());
  }
  std::string full = model_->tokenizer->decode(out, true);
  ASSERT_GE(full.size(), 4u);
  std::string stop = full.substr(full.size() / 2, 2);
  Engine e(*model_, EngineConfig{});
  std::string text;
  FinishReason reason = FinishReason::kNone;
  GenerationRequest r = req({1, 40, 50}, 12, &out);
  r.params.stop = {stop};
  r.on_output = [&](const RequestOutput& o) {
    for (auto& t : o.tokens) text += t.text;
    if (o.finished) {
      text += o.tail_text;
      reason = o.reason;
    }
  };
  ASSERT_TRUE(e.add_request(std::move(r)).is_ok());
  ASSERT_TRUE(e.run_to_completion().is_ok());
  EXPECT_EQ(reason, FinishReason::kStop);
  EXPECT_EQ(text, full.substr(0, full.find(stop)));
}

}  // namespace
}  // namespace lpx
