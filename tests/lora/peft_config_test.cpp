// Tests for the PEFT adapter_config.json parser: the real configs in ../shared/testdata, PEFT's
// target / layer / exclude matching, rank_pattern / alpha_pattern (get_pattern_key), scales, and
// every refusal naming the file and the field.
#include "lora/peft_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/file_util.h"

namespace lpx {
namespace {

const std::string kShared = std::string(LPX_SHARED_DIR) + "/testdata/models";

void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

Result<PeftAdapterConfig> parse(const std::string& body, const std::string& src = "cfg.json") {
  return parse_peft_config("{\"peft_type\": \"LORA\"" + std::string(body.empty() ? "" : ", ") + body + "}", src);
}

// targeted[l][m] as a string per layer, "qkvogud" letters for adapted modules ("-" otherwise).
std::string pattern_of(const std::vector<std::array<bool, kNumLoraModules>>& t) {
  std::string s;
  for (size_t l = 0; l < t.size(); ++l) {
    if (l) s += "|";
    for (int m = 0; m < kNumLoraModules; ++m) s += t[l][m] ? "qkvogud"[m] : '-';
  }
  return s;
}

std::string resolved(const std::string& body, int64_t layers = 3) {
  auto c = parse(body);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  if (!c.is_ok()) return "";
  auto t = resolve_peft_targets(*c, layers);
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? pattern_of(*t) : "";
}

TEST(PeftConfig, SharedRealConfigsParse) {
  struct Case {
    const char* file;
    int r;
    double alpha;
    const char* layer_pattern;  // every layer adapts these
  };
  const Case cases[] = {
      {"tinyllama-1.1b-chat-r16-qv.adapter_config.json", 16, 32, "q-v----"},
      {"llama-3.2-1b-instruct-r64-qv.adapter_config.json", 64, 16, "q-v----"},
      {"qwen2.5-0.5b-instruct-r8-all-linear.peft0.20.adapter_config.json", 8, 32, "qkvogud"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string path = kShared + "/peft-adapter-configs/" + c.file;
    auto cfg = load_peft_config(path);
    ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
    EXPECT_EQ(cfg->source, path);
    EXPECT_EQ(cfg->rank, c.r);
    EXPECT_EQ(cfg->alpha, c.alpha);
    EXPECT_FALSE(cfg->use_rslora);
    EXPECT_FALSE(cfg->fan_in_fan_out);
    EXPECT_EQ(cfg->target_modules.kind, PeftModuleSpec::Kind::kList);
    EXPECT_FLOAT_EQ(cfg->scale_for("model.layers.0.self_attn.q_proj"), static_cast<float>(c.alpha / c.r));
    auto t = resolve_peft_targets(*cfg, 2);
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    EXPECT_EQ(pattern_of(*t), std::string(c.layer_pattern) + "|" + c.layer_pattern);
  }
  auto q = load_peft_config(kShared +
                            "/peft-adapter-configs/qwen2.5-0.5b-instruct-r8-all-linear.peft0.20.adapter_config.json");
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->task_type, "CAUSAL_LM");
  EXPECT_NE(q->base_model_name_or_path.find("Qwen2.5-0.5B-Instruct"), std::string::npos);
}

TEST(PeftConfig, Gpt2AdapterIsRefusedNamingItsModules) {
  const std::string path = kShared + "/peft-lora-gpt2-tigrinya/adapter_config.json";
  expect_error(load_peft_config(path).status(), StatusCode::kUnsupported,
               {path, "target_modules", "'c_attn'", "not a Llama projection", "q_proj"});
}

TEST(PeftConfig, TargetModulesListRegexAllLinearDefault) {
  EXPECT_EQ(resolved(R"("target_modules": ["q_proj", "down_proj"])", 2), "q-----d|q-----d");
  // Suffix entries, and an exact path that only names layer 1.
  EXPECT_EQ(resolved(R"("target_modules": ["self_attn.k_proj", "model.layers.1.mlp.up_proj"])", 2), "-k-----|-k---u-");
  // A regex string is full-matched against module paths (the demo's reverse adapter).
  EXPECT_EQ(resolved(R"j("target_modules": ".*\\.(q_proj|v_proj|o_proj|up_proj|down_proj)")j", 2), "q-vo-ud|q-vo-ud");
  EXPECT_EQ(resolved(R"("target_modules": "model\\.layers\\.[02]\\.self_attn\\.(q|v)_proj")", 3),
            "q-v----|-------|q-v----");
  // Full match: "q_proj" alone matches no path.
  auto none = parse(R"("target_modules": "q_proj")");
  ASSERT_TRUE(none.is_ok());
  expect_error(resolve_peft_targets(*none, 2).status(), StatusCode::kInvalidArgument,
               {"cfg.json", "select no projection"});
  EXPECT_EQ(resolved(R"("target_modules": "all-linear")", 1), "qkvogud");
  EXPECT_EQ(resolved(R"("target_modules": "ALL-LINEAR")", 1), "qkvogud");
  EXPECT_EQ(resolved("", 2), "q-v----|q-v----");  // null: PEFT's Llama default
  auto d = parse(R"("target_modules": null)");
  ASSERT_TRUE(d.is_ok());
  EXPECT_TRUE(d->target_modules.defaulted);
}

TEST(PeftConfig, LayersToTransformAndExclude) {
  EXPECT_EQ(resolved(R"("target_modules": ["q_proj", "v_proj"], "layers_to_transform": [0, 2])"),
            "q-v----|-------|q-v----");
  EXPECT_EQ(resolved(R"("target_modules": ["q_proj"], "layers_to_transform": 1)"), "-------|q------|-------");
  EXPECT_EQ(resolved(R"("target_modules": ["q_proj"], "layers_to_transform": [1], "layers_pattern": "layers")"),
            "-------|q------|-------");
  // A layers_pattern that is not the Llama module list selects nothing.
  auto h = parse(R"("target_modules": ["q_proj"], "layers_to_transform": [1], "layers_pattern": ["h"])");
  ASSERT_TRUE(h.is_ok());
  EXPECT_FALSE(resolve_peft_targets(*h, 3).is_ok());
  // An exact path bypasses layers_to_transform (PEFT checks `key in target_modules` first).
  EXPECT_EQ(resolved(R"("target_modules": ["model.layers.0.self_attn.q_proj", "v_proj"], "layers_to_transform": [2])"),
            "q------|-------|--v----");
  EXPECT_EQ(resolved(R"("target_modules": "all-linear", "exclude_modules": ["mlp.up_proj", "k_proj"])", 1), "q-vog-d");
  EXPECT_EQ(resolved(R"("target_modules": ["q_proj"], "exclude_modules": "model\\.layers\\.1\\..*")", 3),
            "q------|-------|q------");
  // Layers beyond the base are not selected; nothing selected at all is an error naming the file.
  auto far = parse(R"("target_modules": ["q_proj"], "layers_to_transform": [7])", "far.json");
  ASSERT_TRUE(far.is_ok());
  expect_error(resolve_peft_targets(*far, 3).status(), StatusCode::kInvalidArgument, {"far.json", "3 layers"});
}

TEST(PeftConfig, RankAndAlphaPatternsFollowGetPatternKey) {
  auto c = parse(R"("r": 8, "lora_alpha": 16, "target_modules": "all-linear",
                    "rank_pattern": {"v_proj": 4, "model.layers.0.self_attn.v_proj": 2, "layers\\.1\\..*_proj": 6},
                    "alpha_pattern": {"^model.layers.0.self_attn.q_proj": 32, "mlp.down_proj": 1.5})");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  // First key in file order wins: "v_proj" also matches layer 0's v_proj.
  EXPECT_EQ(c->rank_for("model.layers.0.self_attn.v_proj"), 4);
  EXPECT_EQ(c->rank_for("model.layers.3.self_attn.v_proj"), 4);
  EXPECT_EQ(c->rank_for("model.layers.1.self_attn.q_proj"), 6);
  EXPECT_EQ(c->rank_for("model.layers.1.self_attn.v_proj"), 4);
  EXPECT_EQ(c->rank_for("model.layers.2.self_attn.q_proj"), 8);
  // A key must match a whole dotted suffix: "proj" is not "q_proj".
  auto suffix = parse(R"("rank_pattern": {"proj": 3, "_proj": 5})");
  ASSERT_TRUE(suffix.is_ok());
  EXPECT_EQ(suffix->rank_for("model.layers.0.self_attn.q_proj"), 8);
  EXPECT_EQ(c->alpha_for("model.layers.0.self_attn.q_proj"), 32);
  EXPECT_EQ(c->alpha_for("model.layers.1.self_attn.q_proj"), 16);
  EXPECT_EQ(c->alpha_for("model.layers.2.mlp.down_proj"), 1.5);
  EXPECT_FLOAT_EQ(c->scale_for("model.layers.0.self_attn.q_proj"), 4.0f);   // 32 / 8
  EXPECT_FLOAT_EQ(c->scale_for("model.layers.0.self_attn.v_proj"), 4.0f);   // 16 / 4
  EXPECT_FLOAT_EQ(c->scale_for("model.layers.2.mlp.down_proj"), 1.5f / 8);  // 1.5 / 8
  auto rs = parse(R"("r": 4, "lora_alpha": 8, "use_rslora": true, "rank_pattern": {"k_proj": 16})");
  ASSERT_TRUE(rs.is_ok());
  EXPECT_EQ(rs->scale_for("model.layers.0.self_attn.q_proj"), static_cast<float>(8.0 / std::sqrt(4.0)));
  EXPECT_EQ(rs->scale_for("model.layers.0.self_attn.k_proj"), static_cast<float>(8.0 / std::sqrt(16.0)));
}

TEST(PeftConfig, RefusesFeaturesWeDoNotServe) {
  struct Case {
    const char* body;
    StatusCode code;
    std::vector<std::string> needles;
  };
  const Case cases[] = {
      {R"("use_dora": true)", StatusCode::kUnsupported, {"use_dora", "DoRA"}},
      {R"("bias": "all")", StatusCode::kUnsupported, {"\"bias\"", "'all'"}},
      {R"("bias": "lora_only")", StatusCode::kUnsupported, {"\"bias\"", "'lora_only'"}},
      {R"("lora_bias": true)", StatusCode::kUnsupported, {"lora_bias"}},
      {R"("modules_to_save": ["lm_head", "embed_tokens"])", StatusCode::kUnsupported, {"modules_to_save", "lm_head"}},
      {R"("layer_replication": [[0, 2], [1, 2]])", StatusCode::kUnsupported, {"layer_replication"}},
      {R"("trainable_token_indices": [1, 2])", StatusCode::kUnsupported, {"trainable_token_indices"}},
      {R"("target_parameters": ["experts.gate_up_proj"])", StatusCode::kUnsupported, {"target_parameters"}},
      {R"("alora_invocation_tokens": [5])", StatusCode::kUnsupported, {"alora_invocation_tokens"}},
      {R"("use_qalora": true)", StatusCode::kUnsupported, {"use_qalora"}},
      {R"("init_lora_weights": "pissa_niter_4")", StatusCode::kUnsupported, {"init_lora_weights", "pissa_niter_4"}},
      {R"("init_lora_weights": "olora")", StatusCode::kUnsupported, {"init_lora_weights", "olora"}},
      {R"("init_lora_weights": "something_new")", StatusCode::kUnsupported, {"init_lora_weights", "something_new"}},
      {R"("task_type": "SEQ_CLS")", StatusCode::kUnsupported, {"task_type", "SEQ_CLS"}},
      {R"("target_modules": ["q_proj", "lm_head"])", StatusCode::kUnsupported, {"target_modules", "lm_head"}},
      {R"("target_modules": ["embed_tokens"])", StatusCode::kUnsupported, {"target_modules", "embed_tokens"}},
      {R"("target_modules": ["query_key_value"])",
       StatusCode::kUnsupported,
       {"'query_key_value'", "not a Llama projection"}},
      {R"("target_modules": ["mlp"])", StatusCode::kUnsupported, {"'mlp'"}},
      {R"("target_modules": ".*")", StatusCode::kUnsupported, {"target_modules", "selects 'model'"}},
      {R"j("target_modules": ".*(q_proj|lm_head)")j", StatusCode::kUnsupported, {"lm_head"}},
      {R"("target_modules": ".*norm")", StatusCode::kUnsupported, {"layernorm"}},
      {R"("r": 0)", StatusCode::kCorrupt, {"\"r\"", "positive"}},
      {R"("r": "eight")", StatusCode::kCorrupt, {"\"r\""}},
      {R"("lora_alpha": "x")", StatusCode::kCorrupt, {"lora_alpha"}},
      {R"("use_rslora": "yes")", StatusCode::kCorrupt, {"use_rslora"}},
      {R"("target_modules": 5)", StatusCode::kCorrupt, {"target_modules"}},
      {R"("target_modules": "(unbalanced")", StatusCode::kCorrupt, {"target_modules", "invalid regular expression"}},
      {R"("rank_pattern": {"q_proj": -1})", StatusCode::kCorrupt, {"rank_pattern", "q_proj"}},
      {R"("rank_pattern": {"[": 2})", StatusCode::kCorrupt, {"rank_pattern", "invalid regular expression"}},
      {R"("alpha_pattern": [1])", StatusCode::kCorrupt, {"alpha_pattern"}},
      {R"("target_modules": ".*q_proj", "layers_to_transform": [0])", StatusCode::kCorrupt, {"layers_to_transform"}},
      {R"("target_modules": ["q_proj"], "layers_pattern": "layers")", StatusCode::kCorrupt, {"layers_pattern"}},
      {R"("layers_to_transform": ["a"])", StatusCode::kCorrupt, {"layers_to_transform"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = parse(c.body, "dir/adapter_config.json");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().to_string();
    EXPECT_NE(r.status().message().find("dir/adapter_config.json"), std::string::npos) << r.status().to_string();
    for (const auto& n : c.needles)
      EXPECT_NE(r.status().message().find(n), std::string::npos) << "'" << n << "' not in: " << r.status().message();
  }
  expect_error(parse_peft_config("{\"r\": 8", "bad.json").status(), StatusCode::kCorrupt,
               {"bad.json", "not valid JSON"});
  expect_error(parse_peft_config("[1, 2]", "arr.json").status(), StatusCode::kCorrupt,
               {"arr.json", "not a JSON object"});
  expect_error(parse_peft_config("{}", "none.json").status(), StatusCode::kCorrupt, {"none.json", "peft_type"});
  expect_error(parse_peft_config(R"({"peft_type": "IA3"})", "ia3.json").status(), StatusCode::kUnsupported,
               {"ia3.json", "'IA3'", "only LORA"});
  expect_error(load_peft_config("/nonexistent/adapter_config.json").status(), StatusCode::kNotFound,
               {"/nonexistent/adapter_config.json"});
}

TEST(PeftConfig, ToleratesUnknownAndNullFields) {
  auto c = parse(R"("r": 4, "lora_alpha": 8.5, "fan_in_fan_out": true, "some_future_field": {"x": [1]},
                    "modules_to_save": [], "layer_replication": null, "megatron_config": null, "init_lora_weights": "gaussian",
                    "loftq_config": {}, "eva_config": null, "exclude_modules": null, "target_parameters": [])");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_TRUE(c->fan_in_fan_out);
  EXPECT_EQ(c->alpha, 8.5);
  EXPECT_EQ(c->exclude_modules.kind, PeftModuleSpec::Kind::kNone);
  auto f = parse(R"("r": 16.0)");
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->rank, 16);
}

TEST(PeftConfig, ModuleNamesAndPaths) {
  EXPECT_EQ(peft_module_path(3, LoraModule::kQ), "model.layers.3.self_attn.q_proj");
  EXPECT_EQ(peft_module_path(0, LoraModule::kDown), "model.layers.0.mlp.down_proj");
  EXPECT_EQ(lora_module_from_name("gate_proj"), LoraModule::kGate);
  EXPECT_FALSE(lora_module_from_name("c_attn").has_value());
  const auto paths = llama_module_paths(2);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "lm_head"), 1);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "model.layers.1.mlp.up_proj"), 1);
}

}  // namespace
}  // namespace lpx
