// The real tiny Llama-2 (../shared/testdata/models, converted from a GGUF) with the TinyLlama
// tokenizer: loads, runs, and matches a plain numpy forward (a regression reference).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "model/llama.h"
#include "model/model.h"

namespace lpx {
namespace {

const std::string kDir = std::string(LPX_SHARED_DIR) + "/testdata/models/llama-2-tiny-random-hf-derived";
const std::string kTok = std::string(LPX_SHARED_DIR) + "/testdata/tokenizers/tinyllama";

std::unique_ptr<Model> load() {
  ModelLoadOptions o;
  o.tokenizer_dir = kTok;
  o.progress_log = false;
  auto m = Model::load(kDir, o);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? std::move(m).value() : nullptr;
}

TEST(TinyLlama2, LoadsWithTinyLlamaTokenizer) {
  auto m = load();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->config.vocab_size, 32000);
  EXPECT_EQ(m->tokenizer->vocab_size(), 32000);
  EXPECT_TRUE(m->chat_template.has_value());
  EXPECT_EQ(m->bos_id.value_or(-1), 1);
  EXPECT_TRUE(m->is_eos(2));
  auto ids = m->tokenizer->encode("Hello world", true);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 15043, 3186}));
}

TEST(TinyLlama2, LogitsMatchNumpyReference) {
  auto m = load();
  ASSERT_NE(m, nullptr);
  std::ifstream in(kDir + "/reference_logits.SELF-COMPUTED.numpy.json");
  auto ref = nlohmann::json::parse(in);
  LlamaModel llama(m->config, &m->weights);
  for (const auto& rec : ref) {
    auto ids = rec["input_ids"].get<std::vector<int32_t>>();
    KvCache cache(KvCacheConfig{1, 2, 4, 16, 8});
    SeqKv kv;
    ASSERT_TRUE(cache.reserve(kv, static_cast<int>(ids.size())).is_ok());
    std::vector<ForwardSeq> seqs(1);
    seqs[0].tokens = ids;
    seqs[0].kv = &kv;
    seqs[0].all_logits = true;
    std::vector<float> logits;
    ASSERT_TRUE(llama.forward(seqs, cache, logits).is_ok());
    const int64_t V = m->config.vocab_size;
    const float* last = logits.data() + (ids.size() - 1) * V;
    auto first8 = rec["last_logits_first8"].get<std::vector<double>>();
    for (size_t i = 0; i < first8.size(); ++i) EXPECT_NEAR(last[i], first8[i], 1e-4) << i;
    auto top_ids = rec["last_logits_top5_ids"].get<std::vector<int>>();
    auto top = rec["last_logits_top5"].get<std::vector<double>>();
    for (size_t i = 0; i < top_ids.size(); ++i) EXPECT_NEAR(last[top_ids[i]], top[i], 1e-4);
    auto greedy = rec["greedy_next_per_position"].get<std::vector<int>>();
    for (size_t p = 0; p < greedy.size(); ++p) {
      const float* row = logits.data() + p * V;
      int arg = static_cast<int>(std::max_element(row, row + V) - row);
      // Random weights give near-ties; accept the reference's pick when within 1e-5.
      EXPECT_TRUE(arg == greedy[p] || std::fabs(row[arg] - row[greedy[p]]) < 1e-5) << "position " << p;
    }
  }
}

TEST(TinyLlama2, GeneratesWithChatTemplate) {
  auto m = load();
  ASSERT_NE(m, nullptr);
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  auto text = m->render_chat(msgs);
  ASSERT_TRUE(text.is_ok()) << text.status().to_string();
  EXPECT_NE(text->find("<|user|>"), std::string::npos);
  Engine engine(*m, EngineConfig{});
  GenerationRequest req;
  req.prompt = m->tokenizer->encode(*text, false);
  req.params.temperature = 0;
  req.params.max_tokens = 5;
  req.params.ignore_eos = true;
  int n = 0;
  bool finished = false;
  req.on_output = [&](const RequestOutput& o) {
    n += static_cast<int>(o.tokens.size());
    if (o.finished) {
      finished = true;
      EXPECT_EQ(o.reason, FinishReason::kLength);
    }
  };
  ASSERT_TRUE(engine.add_request(std::move(req)).is_ok());
  ASSERT_TRUE(engine.run_to_completion().is_ok());
  EXPECT_TRUE(finished);
  EXPECT_EQ(n, 5);
}

}  // namespace
}  // namespace lpx
