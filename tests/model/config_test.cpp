// Tests for config.json parsing (Llama, Mistral, Qwen2, refusals) and RoPE inverse frequencies.
#include "model/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>

namespace lpx {
namespace {

void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

const char* kLlama31_8B = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})";

// Independent llama3 computation written the way transformers vectorises it:
// scale every low-frequency entry, compute the smoothed value for every entry, then pick per band.
std::vector<double> llama3_reference(double theta, int dim, double factor, double low, double high, double orig) {
  std::vector<double> base, result;
  for (int k = 0; k < dim; k += 2) base.push_back(std::pow(theta, -static_cast<double>(k) / dim));
  const double low_wl = orig / low, high_wl = orig / high;
  for (double f : base) {
    const double wl = 2 * std::numbers::pi / f;
    const double llama = wl > low_wl ? f / factor : f;
    const double smooth = (orig / wl - low) / (high - low);
    const double smoothed = (1 - smooth) * llama / factor + smooth * llama;
    const bool medium = !(wl < high_wl) && !(wl > low_wl);
    result.push_back(medium ? smoothed : llama);
  }
  return result;
}

TEST(Config, RealTinyLlama) {
  const std::string path = std::string(LPX_SHARED_DIR) + "/testdata/models/llama-2-tiny-random-hf-derived/config.json";
  auto r = load_config(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ModelConfig& c = *r;
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 8);
  EXPECT_EQ(c.n_layers, 1);
  EXPECT_EQ(c.n_heads, 2);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.intermediate_size, 32);
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::kNone);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.bos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.torch_dtype, "float16");
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_EQ(c.source, path);
  const auto inv = rope_inv_freq(c);
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_FLOAT_EQ(inv[0], 1.0f);
  EXPECT_FLOAT_EQ(inv[1], 0.01f);  // 10000^(-2/4)
}

TEST(Config, Llama31WithLlama3RopeScaling) {
  auto r = parse_config(kLlama31_8B, "llama31/config.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ModelConfig& c = *r;
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 4096);
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  ASSERT_EQ(c.rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);

  const auto inv = rope_inv_freq(c);
  const auto ref = llama3_reference(500000.0, 128, 8.0, 1.0, 4.0, 8192.0);
  ASSERT_EQ(inv.size(), 64u);
  int low = 0, medium = 0, high = 0;
  for (size_t i = 0; i < inv.size(); ++i) {
    EXPECT_NEAR(inv[i], ref[i], std::fabs(ref[i]) * 1e-6) << i;
    const double base = std::pow(500000.0, -2.0 * static_cast<double>(i) / 128.0);
    const double wl = 2 * std::numbers::pi / base;
    if (wl < 8192.0 / 4.0) {
      ++high;
      EXPECT_FLOAT_EQ(inv[i], static_cast<float>(base)) << i;  // unchanged
    } else if (wl > 8192.0) {
      ++low;
      EXPECT_FLOAT_EQ(inv[i], static_cast<float>(base / 8.0)) << i;  // divided by factor
    } else {
      ++medium;
      EXPECT_LT(inv[i], base);
      EXPECT_GT(inv[i], base / 8.0);
    }
  }
  // All three bands occur for Llama 3.1's parameters.
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(high, 0);
  EXPECT_FLOAT_EQ(inv[0], 1.0f);
}

TEST(Config, Llama32TiedWithHeadDim) {
  auto r = parse_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192,
    "vocab_size": 128256, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": true,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": 128001})",
                        "l32.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->tie_word_embeddings);
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_EQ(r->max_position_embeddings, 2048);  // transformers' LlamaConfig default
  const auto inv = rope_inv_freq(*r);
  const auto ref = llama3_reference(500000.0, 64, 32.0, 1.0, 4.0, 8192.0);
  ASSERT_EQ(inv.size(), 32u);
  for (size_t i = 0; i < inv.size(); ++i) EXPECT_NEAR(inv[i], ref[i], std::fabs(ref[i]) * 1e-6) << i;
}

TEST(Config, LinearRopeScaling) {
  auto r = parse_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
    "rope_scaling": {"type": "linear", "factor": 4.0}})",
                        "lin.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(r->rope_scaling.factor, 4.0);
  EXPECT_DOUBLE_EQ(r->rope_theta, 10000.0);  // default
  EXPECT_DOUBLE_EQ(r->rms_norm_eps, 1e-6);   // default
  const auto inv = rope_inv_freq(*r);
  ASSERT_EQ(inv.size(), 8u);
  for (size_t i = 0; i < inv.size(); ++i)
    EXPECT_FLOAT_EQ(inv[i], static_cast<float>(std::pow(10000.0, -2.0 * static_cast<double>(i) / 16.0) / 4.0)) << i;
}

TEST(Config, RopeScalingVariants) {
  auto base = [](const std::string& rs) {
    return R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "rope_scaling": )" +
           rs + "}";
  };
  auto none = parse_config(base("null"), "n.json");
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->rope_scaling.type, RopeScalingType::kNone);
  auto def = parse_config(base(R"({"rope_type": "default"})"), "d.json");
  ASSERT_TRUE(def.is_ok()) << def.status().to_string();
  EXPECT_EQ(def->rope_scaling.type, RopeScalingType::kNone);
  expect_error(parse_config(base(R"({"type": "dynamic", "factor": 2.0})"), "dyn.json").status(),
               StatusCode::kUnsupported, {"dyn.json", "'dynamic'", "linear", "llama3"});
  expect_error(parse_config(base(R"({"rope_type": "yarn", "factor": 4.0})"), "yarn.json").status(),
               StatusCode::kUnsupported, {"yarn.json", "'yarn'"});
  expect_error(parse_config(base(R"({"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 8192})"),
                            "l3.json")
                   .status(),
               StatusCode::kCorrupt, {"l3.json", "rope_scaling.low_freq_factor"});
  expect_error(parse_config(base(R"({"rope_type": "linear"})"), "lin.json").status(), StatusCode::kCorrupt,
               {"lin.json", "rope_scaling.factor"});
  expect_error(parse_config(base(R"({"factor": 2.0})"), "nt.json").status(), StatusCode::kCorrupt,
               {"nt.json", "rope_type"});
  expect_error(parse_config(base("3"), "num.json").status(), StatusCode::kCorrupt, {"num.json", "rope_scaling"});
}

TEST(Config, RopeParametersNewStyle) {
  auto r = parse_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
    "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 50000.0}})",
                        "rp.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_DOUBLE_EQ(r->rope_theta, 50000.0);
  EXPECT_EQ(r->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(r->rope_scaling.factor, 2.0);
}

TEST(Config, Qwen2HasQkvBiases) {
  auto r = parse_config(R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
    "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
    "max_position_embeddings": 32768, "max_window_layers": 21, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 32768, "use_sliding_window": false, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "vocab_size": 151936, "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
    "rope_scaling": null})",
                        "qwen/config.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->arch, Architecture::kQwen2);
  EXPECT_TRUE(r->qkv_bias);
  EXPECT_FALSE(r->o_bias);
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_EQ(r->n_kv_heads, 2);
  EXPECT_TRUE(r->tie_word_embeddings);
  EXPECT_FALSE(r->sliding_window.has_value());  // use_sliding_window false
  EXPECT_DOUBLE_EQ(r->rope_theta, 1e6);
  // With use_sliding_window the window is recorded.
  auto sw = parse_config(R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "num_hidden_layers": 1,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "use_sliding_window": true,
    "sliding_window": 512})",
                         "qsw.json");
  ASSERT_TRUE(sw.is_ok()) << sw.status().to_string();
  EXPECT_EQ(sw->sliding_window, 512);
  EXPECT_EQ(sw->max_position_embeddings, 32768);
  EXPECT_TRUE(sw->bos_token_ids.empty());
}

TEST(Config, MistralSlidingWindow) {
  const std::string common = R"("architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "vocab_size": 32000, "bos_token_id": 1,
    "eos_token_id": 2, "tie_word_embeddings": false, "rope_theta": 10000.0)";
  auto v01 = parse_config("{" + common + R"(, "sliding_window": 4096})", "m01.json");
  ASSERT_TRUE(v01.is_ok()) << v01.status().to_string();
  EXPECT_EQ(v01->arch, Architecture::kMistral);
  EXPECT_EQ(v01->sliding_window, 4096);
  EXPECT_FALSE(v01->qkv_bias);
  auto v02 = parse_config("{" + common + R"(, "sliding_window": null, "rope_theta": 1000000.0})", "m02.json");
  ASSERT_TRUE(v02.is_ok()) << v02.status().to_string();
  EXPECT_FALSE(v02->sliding_window.has_value());
  EXPECT_DOUBLE_EQ(v02->rope_theta, 1e6);
  auto absent = parse_config("{" + common + "}", "m.json");
  ASSERT_TRUE(absent.is_ok());
  EXPECT_EQ(absent->sliding_window, 4096);  // MistralConfig default
  // Mistral-Nemo style: explicit head_dim that is not hidden / heads.
  auto nemo = parse_config(R"({"architectures": ["MistralForCausalLM"], "hidden_size": 5120, "head_dim": 128,
    "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 40, "intermediate_size": 14336,
    "vocab_size": 131072, "sliding_window": null})",
                           "nemo.json");
  ASSERT_TRUE(nemo.is_ok()) << nemo.status().to_string();
  EXPECT_EQ(nemo->head_dim, 128);
  EXPECT_EQ(nemo->q_dim(), 4096);
}

TEST(Config, Gpt2Refused) {
  auto r = parse_config(R"({"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
    "vocab_size": 50257})",
                        "gpt2/config.json");
  expect_error(r.status(), StatusCode::kUnsupported,
               {"gpt2/config.json", "GPT2LMHeadModel", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"});
  auto mt = parse_config(R"({"model_type": "gpt2", "vocab_size": 50257})", "mt.json");
  expect_error(mt.status(), StatusCode::kUnsupported, {"mt.json", "gpt2"});
}

TEST(Config, ModelTypeFallback) {
  auto r = parse_config(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
                        "mt.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->architecture, "LlamaForCausalLM");
}

TEST(Config, MissingAndInvalidFields) {
  const std::string full = R"("architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100)";
  expect_error(parse_config("{" + full + "}", "a.json").status(), StatusCode::kCorrupt,
               {"a.json", "\"hidden_size\"", "missing"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": "64"})", "b.json").status(), StatusCode::kCorrupt,
               {"b.json", "\"hidden_size\"", "integer"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 0})", "c.json").status(), StatusCode::kCorrupt,
               {"c.json", "\"hidden_size\"", "> 0"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "num_key_value_heads": 3})", "d.json").status(),
               StatusCode::kCorrupt, {"d.json", "num_key_value_heads"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 66})", "e.json").status(), StatusCode::kCorrupt,
               {"e.json", "hidden_size", "divisible"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "head_dim": 15})", "f.json").status(),
               StatusCode::kCorrupt, {"f.json", "head_dim", "even"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "hidden_act": "gelu"})", "g.json").status(),
               StatusCode::kUnsupported, {"g.json", "hidden_act", "gelu"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "tie_word_embeddings": 1})", "h.json").status(),
               StatusCode::kCorrupt, {"h.json", "tie_word_embeddings"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "eos_token_id": "x"})", "i.json").status(),
               StatusCode::kCorrupt, {"i.json", "eos_token_id"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "mlp_bias": true})", "j.json").status(),
               StatusCode::kUnsupported, {"j.json", "mlp_bias"});
  expect_error(parse_config("{" + full + R"(, "hidden_size": 64, "rms_norm_eps": "small"})", "k.json").status(),
               StatusCode::kCorrupt, {"k.json", "rms_norm_eps"});
  expect_error(parse_config(R"({"architectures": [], "hidden_size": 64})", "l.json").status(), StatusCode::kCorrupt,
               {"l.json", "architectures"});
  expect_error(parse_config(R"({"hidden_size": 64})", "m.json").status(), StatusCode::kCorrupt,
               {"m.json", "architectures"});
  expect_error(parse_config("{oops", "n.json").status(), StatusCode::kCorrupt, {"n.json", "not valid JSON"});
  expect_error(parse_config("[1]", "o.json").status(), StatusCode::kCorrupt, {"o.json", "not a JSON object"});
  // An integral float is accepted where an integer is expected (some exporters write 4096.0).
  auto fl = parse_config("{" + full + R"(, "hidden_size": 64.0})", "p.json");
  ASSERT_TRUE(fl.is_ok()) << fl.status().to_string();
  EXPECT_EQ(fl->hidden_size, 64);
}

TEST(Config, LlamaAttentionBias) {
  auto r = parse_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "attention_bias": true,
    "bos_token_id": null, "eos_token_id": [5, 6]})",
                        "ab.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->qkv_bias);
  EXPECT_TRUE(r->o_bias);
  EXPECT_TRUE(r->bos_token_ids.empty());
  EXPECT_EQ(r->eos_token_ids, (std::vector<int64_t>{5, 6}));
}

TEST(Config, LoadConfigMissingFile) {
  auto r = load_config("/nonexistent/dir/config.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/config.json"), std::string::npos);
}

}  // namespace
}  // namespace lpx
