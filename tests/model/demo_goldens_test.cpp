// The C++ engine against the independent PyTorch reference (tools/demo/reference.py):
// prompt token ids, last-position logits (top 20 + checksums) and greedy continuations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "engine/engine.h"
#include "lora/adapter_loader.h"
#include "model/llama.h"
#include "model/model.h"

namespace lpx {
namespace {

const std::string kDemo = std::string(LPX_SOURCE_DIR) + "/models/demo/base";

nlohmann::json load_goldens() {
  std::ifstream in(std::string(LPX_TESTDATA_DIR) + "/demo_goldens.json");
  EXPECT_TRUE(in.good()) << "tests/data/demo_goldens.json missing";
  return nlohmann::json::parse(in);
}

std::vector<int32_t> prompt_ids(const Model& m, const nlohmann::json& rec) {
  if (rec["kind"] == "raw") return m.tokenizer->encode(rec["prompt"].get<std::string>(), true);
  nlohmann::ordered_json msgs = nlohmann::ordered_json::parse(rec["prompt"].dump());
  auto text = m.render_chat(msgs);
  EXPECT_TRUE(text.is_ok()) << text.status().to_string();
  return m.tokenizer->encode(text.value(), false);
}

class DemoGoldens : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ModelLoadOptions o;
    o.progress_log = false;
    auto m = Model::load(kDemo, o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = std::move(m).value().release();
    o.quantize_q8 = true;
    auto q = Model::load(kDemo, o);
    ASSERT_TRUE(q.is_ok()) << q.status().to_string();
    q8_model_ = std::move(q).value().release();
    goldens_ = new nlohmann::json(load_goldens());
  }
  static void TearDownTestSuite() {
    delete model_;
    delete q8_model_;
    delete goldens_;
  }
  static Model* model_;
  static Model* q8_model_;  // the same folder loaded with --dtype q8
  static nlohmann::json* goldens_;
};
Model* DemoGoldens::model_ = nullptr;
Model* DemoGoldens::q8_model_ = nullptr;
nlohmann::json* DemoGoldens::goldens_ = nullptr;

TEST_F(DemoGoldens, PromptIdsMatchReferenceTokenizer) {
  for (const auto& rec : (*goldens_)["models"]["base"]) {
    EXPECT_EQ(prompt_ids(*model_, rec), rec["prompt_ids"].get<std::vector<int32_t>>()) << rec["prompt"].dump();
  }
}

// Last-position logits of `ids` (with `adapter` applied on every row when given); every
// position's logits ([ids.size(), vocab]) when all_rows.
std::vector<float> last_logits(const Model& m, const std::vector<int32_t>& ids, const LoraAdapter* adapter,
                               bool all_rows = false) {
  LlamaModel llama(m.config, &m.weights);
  KvCacheConfig kc{static_cast<int>(m.config.n_layers), static_cast<int>(m.config.n_kv_heads),
                   static_cast<int>(m.config.head_dim), 16, 64};
  KvCache cache(kc);
  SeqKv kv;
  EXPECT_TRUE(cache.reserve(kv, static_cast<int>(ids.size())).is_ok());
  std::vector<ForwardSeq> seqs(1);
  seqs[0].tokens = ids;
  seqs[0].kv = &kv;
  seqs[0].all_logits = all_rows;
  LoraBatch lb;
  if (adapter != nullptr) {
    lb.segments.resize(adapter->layers.size());
    for (size_t l = 0; l < adapter->layers.size(); ++l) {
      for (int mi = 0; mi < kNumLoraModules; ++mi) {
        const auto& mw = adapter->layers[l][static_cast<size_t>(mi)];
        if (!mw) continue;
        kernels::LoraSegment seg;
        seg.row_begin = 0;
        seg.row_end = static_cast<int64_t>(ids.size());
        seg.a = WeightMatrix{mw->a.data(), DType::kF32, mw->rank, mw->in_dim, 0};
        seg.b = WeightMatrix{mw->b.data(), DType::kF32, mw->out_dim, mw->rank, 0};
        seg.scale = mw->scale;
        lb.segments[l][static_cast<size_t>(mi)].push_back(seg);
        lb.max_rank = std::max(lb.max_rank, mw->rank);
      }
    }
  }
  std::vector<float> logits;
  EXPECT_TRUE(llama.forward(seqs, cache, logits, adapter != nullptr ? &lb : nullptr).is_ok());
  return logits;
}

void expect_logits_match(const std::vector<float>& logits, const nlohmann::json& rec, const std::string& what) {
  for (const auto& tv : rec["top_logits"]) {
    int id = tv[0].get<int>();
    double want = tv[1].get<double>();
    EXPECT_NEAR(logits[id], want, 1e-3 * std::max(1.0, std::fabs(want)))
        << what << " " << rec["prompt"].dump() << " id " << id;
  }
  double sum = 0, sum_abs = 0, l2 = 0;
  for (float v : logits) {
    sum += v;
    sum_abs += std::fabs(v);
    l2 += double(v) * v;
  }
  const auto& cs = rec["logits_checksum"];
  EXPECT_NEAR(sum_abs, cs["sum_abs"].get<double>(), 1e-3 * cs["sum_abs"].get<double>()) << what;
  EXPECT_NEAR(std::sqrt(l2), cs["l2"].get<double>(), 1e-3 * cs["l2"].get<double>()) << what;
  EXPECT_NEAR(sum, cs["sum"].get<double>(), 1e-3 * sum_abs) << what;
}

std::vector<int32_t> greedy(const Model& m, const std::vector<int32_t>& prompt, int max_new,
                            const AdapterPtr& adapter) {
  EngineConfig ec;
  if (adapter) {
    ec.lora.n_slots = 1;
    ec.lora.max_rank = adapter->max_rank;
    ec.lora.page_rank = adapter->max_rank;
  }
  Engine engine(m, ec);
  GenerationRequest req;
  req.prompt = prompt;
  req.params.temperature = 0;
  req.params.max_tokens = max_new;
  if (adapter) req.lora = std::make_shared<const AdapterLease>(nullptr, adapter->name, adapter->name, adapter);
  std::vector<int32_t> got;
  req.on_output = [&](const RequestOutput& out) {
    for (auto& t : out.tokens) got.push_back(t.token);
  };
  EXPECT_TRUE(engine.add_request(std::move(req)).is_ok());
  EXPECT_TRUE(engine.run_to_completion().is_ok());
  return got;
}

// The 1e-3 logits bar is for exact f32 products; the default bf16-activation GEMMs (on CPUs where
// they are fast) differ from the reference by ~1e-3 relative, so these comparisons pin exact.
struct ExactProducts : kernels::ScopedPrecision {
  ExactProducts() : ScopedPrecision(kernels::MatmulPrecision::kExact) {}
};

TEST_F(DemoGoldens, BaseLogitsMatchReference) {
  ExactProducts exact;
  for (const auto& rec : (*goldens_)["models"]["base"])
    expect_logits_match(last_logits(*model_, rec["prompt_ids"].get<std::vector<int32_t>>(), nullptr), rec, "base");
}

TEST_F(DemoGoldens, BaseGreedyContinuationsMatchReference) {
  const int max_new = (*goldens_)["max_new_tokens"].get<int>();
  for (const auto& rec : (*goldens_)["models"]["base"]) {
    EXPECT_EQ(greedy(*model_, rec["prompt_ids"].get<std::vector<int32_t>>(), max_new, nullptr),
              rec["greedy_ids"].get<std::vector<int32_t>>())
        << rec["prompt"].dump();
  }
}

// Every demo adapter (PEFT safetensors f32 / bf16 rsLoRA, PEFT .bin, NeMo .nemo) loaded by our own
// readers reproduces the reference's logits and greedy continuations.
TEST_F(DemoGoldens, AdaptersMatchReference) {
  ExactProducts exact;
  const int max_new = (*goldens_)["max_new_tokens"].get<int>();
  int checked = 0;
  for (const auto& [name, recs] : (*goldens_)["models"].items()) {
    if (name == "base") continue;
    auto adapter = load_adapter(name, std::string(LPX_SOURCE_DIR) + "/models/demo/loras/" + name, model_->config);
    ASSERT_TRUE(adapter.is_ok()) << adapter.status().to_string();
    for (const auto& rec : recs) {
      auto ids = rec["prompt_ids"].get<std::vector<int32_t>>();
      expect_logits_match(last_logits(*model_, ids, adapter.value().get()), rec, name);
      EXPECT_EQ(greedy(*model_, ids, max_new, adapter.value()), rec["greedy_ids"].get<std::vector<int32_t>>())
          << name << " " << rec["prompt"].dump();
    }
    checked++;
  }
  EXPECT_GE(checked, 4);
}

// The signature invariant: a batch of sequences gives each exactly what it gets alone.
void expect_batched_equals_solo(const Model& model, const nlohmann::json& goldens) {
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& rec : goldens["models"]["base"]) prompts.push_back(rec["prompt_ids"].get<std::vector<int32_t>>());
  auto run = [&](const std::vector<size_t>& which, int max_batch_tokens, uint64_t seed_base) {
    EngineConfig ec;
    ec.max_batch_tokens = max_batch_tokens;  // small budgets force chunked prefill mixed with decode
    Engine engine(model, ec);
    std::map<size_t, std::vector<int32_t>> got;
    for (size_t i : which) {
      GenerationRequest req;
      req.prompt = prompts[i];
      req.params.temperature = 0.8f;
      req.params.top_p = 0.95f;
      req.params.seed = seed_base + i;
      req.params.max_tokens = 12;
      req.params.ignore_eos = true;
      req.on_output = [&got, i](const RequestOutput& out) {
        for (auto& t : out.tokens) got[i].push_back(t.token);
      };
      EXPECT_TRUE(engine.add_request(std::move(req)).is_ok());
    }
    EXPECT_TRUE(engine.run_to_completion().is_ok());
    return got;
  };
  std::vector<size_t> all;
  for (size_t i = 0; i < prompts.size(); ++i) all.push_back(i);
  for (int budget : {256, 7}) {
    auto batched = run(all, budget, 100);
    for (size_t i : all) {
      auto solo = run({i}, 256, 100);
      EXPECT_EQ(batched[i], solo[i]) << "prompt " << i << " budget " << budget;
    }
  }
}

TEST_F(DemoGoldens, BatchedEqualsSolo) { expect_batched_equals_solo(*model_, *goldens_); }
TEST_F(DemoGoldens, BatchedEqualsSoloQ8) { expect_batched_equals_solo(*q8_model_, *goldens_); }

// --dtype q8: every projection and lm_head is q8 (the demo's widths are multiples of 32), taking
// 34/64 of the bf16 bytes; norms and the (untied) embedding table stay bf16.
TEST_F(DemoGoldens, Q8QuantizesEveryProjection) {
  const ModelWeights& w = q8_model_->weights;
  for (const WeightRef* r : projection_matrices(w)) {  // lm_head included
    EXPECT_EQ(r->dtype, DType::kQ8) << r->name;
    EXPECT_EQ(r->nbytes, static_cast<size_t>(r->rows() * r->cols() / 32 * 34)) << r->name;
  }
  for (const LayerWeights& L : w.layers) EXPECT_EQ(L.attn_norm.dtype, DType::kBF16);
  EXPECT_EQ(w.embed.dtype, DType::kBF16);
  size_t matrices_bf16 = 0;
  for (const WeightRef* r : projection_matrices(model_->weights)) matrices_bf16 += r->nbytes;
  EXPECT_LT(w.total_bytes, model_->weights.total_bytes);
  EXPECT_NEAR(static_cast<double>(w.total_bytes - w.embed.nbytes), static_cast<double>(matrices_bf16) * 34 / 64,
              0.01 * static_cast<double>(matrices_bf16));
}

// The q8 acceptance bar: teacher-forced on the reference's bf16 greedy continuations of every
// goldens prompt (base and the four adapters, LoRA in its own precision on top of the q8 base),
// the q8 model's argmax agrees on >= 99% of tokens. Free-running continuations are printed too.
TEST_F(DemoGoldens, Q8GreedyAgreesWithBf16) {
  const int max_new = (*goldens_)["max_new_tokens"].get<int>();
  int agree = 0, total = 0, identical = 0, prompts = 0;
  for (const auto& [name, recs] : (*goldens_)["models"].items()) {
    AdapterPtr adapter;
    if (name != "base") {
      auto a = load_adapter(name, std::string(LPX_SOURCE_DIR) + "/models/demo/loras/" + name, q8_model_->config);
      ASSERT_TRUE(a.is_ok()) << a.status().to_string();
      adapter = a.value();
    }
    for (const auto& rec : recs) {
      auto ids = rec["prompt_ids"].get<std::vector<int32_t>>();
      const auto want = rec["greedy_ids"].get<std::vector<int32_t>>();
      if (want.empty()) continue;
      std::vector<int32_t> seq = ids;
      seq.insert(seq.end(), want.begin(), want.end() - 1);
      const std::vector<float> logits = last_logits(*q8_model_, seq, adapter.get(), true);
      const int64_t V = q8_model_->config.vocab_size;
      for (size_t i = 0; i < want.size(); ++i) {
        const float* row = logits.data() + (ids.size() - 1 + i) * static_cast<size_t>(V);
        const auto arg = static_cast<int32_t>(std::max_element(row, row + V) - row);
        agree += arg == want[i];
        if (arg != want[i] && std::getenv("LPX_Q8_DEBUG")) {  // prints both models' logits of a miss
          const std::vector<float> ref = last_logits(*model_, seq, adapter.get(), true);
          const float* rr = ref.data() + (ids.size() - 1 + i) * static_cast<size_t>(V);
          std::printf("%s pos %zu: want %d (q8 %.4f, bf16 %.4f) got %d (q8 %.4f, bf16 %.4f)\n", name.c_str(), i,
                      want[i], row[want[i]], rr[want[i]], arg, row[arg], rr[arg]);
        }
        ++total;
      }
      identical += greedy(*q8_model_, ids, max_new, adapter) == want;
      ++prompts;
    }
  }
  std::printf("q8 vs bf16 reference: %d / %d tokens agree teacher-forced (%.2f%%); %d / %d continuations identical\n",
              agree, total, 100.0 * agree / total, identical, prompts);
  EXPECT_GE(prompts, 50);
  EXPECT_GE(agree, 0.99 * total);
}

}  // namespace
}  // namespace lpx
