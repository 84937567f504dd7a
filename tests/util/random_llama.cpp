// Test helper implementation (see random_llama.h).
#include "util/random_llama.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "model/lora_batch.h"
#include "testing/safetensors_writer.h"
#include "testing/synthetic_adapter.h"

namespace lpx::testutil {
namespace {

const char* kModulePath[kNumLoraModules] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                            "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                            "mlp.down_proj"};

void module_dims(const RandomLlamaSpec& s, int m, int64_t* in, int64_t* out) {
  const int64_t H = s.hidden, Q = s.heads * s.head_dim, KV = s.kv_heads * s.head_dim, I = s.inter;
  const int64_t ins[] = {H, H, H, Q, H, H, I};
  const int64_t outs[] = {Q, KV, KV, H, I, I, H};
  *in = ins[m];
  *out = outs[m];
}

}  // namespace

TensorMap random_llama_tensors(const RandomLlamaSpec& s) {
  std::mt19937 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, s.stddev);
  TensorMap t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool ones = false) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    TensorF32 x{shape, std::vector<float>(static_cast<size_t>(n))};
    for (auto& v : x.values) v = ones ? 1.0f : nd(rng);
    t[name] = std::move(x);
  };
  add("model.embed_tokens.weight", {s.vocab, s.hidden});
  add("lm_head.weight", {s.vocab, s.hidden});
  add("model.norm.weight", {s.hidden}, true);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {s.hidden}, true);
    add(p + "post_attention_layernorm.weight", {s.hidden}, true);
    for (int m = 0; m < kNumLoraModules; ++m) {
      int64_t in = 0, out = 0;
      module_dims(s, m, &in, &out);
      add(p + kModulePath[m] + ".weight", {out, in});
    }
  }
  return t;
}

void write_llama_folder(const std::string& dir, const RandomLlamaSpec& s, const TensorMap& tensors, DType dtype) {
  std::filesystem::create_directories(dir);
  const std::string demo = std::string(LPX_SOURCE_DIR) + "/models/demo/base";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(demo + "/" + f, dir + "/" + f, std::filesystem::copy_options::overwrite_existing);
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                        {"hidden_size", s.hidden},
                        {"intermediate_size", s.inter},
                        {"num_hidden_layers", s.layers},
                        {"num_attention_heads", s.heads},
                        {"num_key_value_heads", s.kv_heads},
                        {"head_dim", s.head_dim},
                        {"vocab_size", s.vocab},
                        {"max_position_embeddings", s.ctx},
                        {"rms_norm_eps", 1e-5},
                        {"bos_token_id", 576},
                        {"eos_token_id", 577},
                        {"hidden_act", "silu"}};
  std::ofstream(dir + "/config.json") << cfg.dump();
  SafetensorsWriter w;
  for (const auto& [name, x] : tensors) ASSERT_TRUE(w.add_f32_as(name, dtype, x.shape, x.values).is_ok()) << name;
  ASSERT_TRUE(w.write(dir + "/model.safetensors").is_ok());
}

ModelConfig config_of(const RandomLlamaSpec& s) {
  ModelConfig c;
  c.hidden_size = s.hidden;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.intermediate_size = s.inter;
  c.vocab_size = s.vocab;
  c.max_position_embeddings = s.ctx;
  return c;
}

std::shared_ptr<LoraAdapter> random_adapter(const RandomLlamaSpec& s, const std::string& name, int rank,
                                            const std::vector<int>& modules, float scale, uint32_t seed) {
  std::vector<LoraModule> mods;
  for (int m : modules) mods.push_back(static_cast<LoraModule>(m));
  return synthetic_adapter(config_of(s), name, rank, mods, scale, seed, 0.2f);
}

void write_peft_adapter(const std::string& dir, const LoraAdapter& adapter, DType dtype) {
  Status st = lpx::write_peft_adapter(dir, adapter, dtype);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
}

void merge_adapter(TensorMap* tensors, const LoraAdapter& adapter) {
  for (size_t l = 0; l < adapter.layers.size(); ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      const auto& mw = adapter.layers[l][static_cast<size_t>(m)];
      if (!mw) continue;
      TensorF32& w = tensors->at("model.layers." + std::to_string(l) + "." + kModulePath[m] + ".weight");
      for (int64_t o = 0; o < mw->out_dim; ++o) {
        for (int64_t i = 0; i < mw->in_dim; ++i) {
          double acc = 0.0;
          for (int r = 0; r < mw->rank; ++r)
            acc += static_cast<double>(mw->b[static_cast<size_t>(o * mw->rank + r)]) *
                   mw->a[static_cast<size_t>(r * mw->in_dim + i)];
          w.values[static_cast<size_t>(o * mw->in_dim + i)] += static_cast<float>(mw->scale * acc);
        }
      }
    }
  }
}

}  // namespace lpx::testutil
