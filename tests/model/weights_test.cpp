// Tests for binding a checkpoint's tensors to a ModelConfig (real tiny Llama, synthetic models, errors).
#include "model/weights.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "core/file_util.h"
#include "core/log.h"
#include "model/prepack.h"
#include "model/quantize.h"
#include "testing/safetensors_writer.h"
#include "util/random_llama.h"

namespace lpx {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lpx_w_XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

const std::string kTinyDir = std::string(LPX_SHARED_DIR) + "/testdata/models/llama-2-tiny-random-hf-derived";

// A synthetic model: tensor name -> (dtype, shape); values are deterministic per tensor.
struct Spec {
  DType dtype;
  std::vector<int64_t> shape;
};
using Specs = std::map<std::string, Spec>;

Specs expected_specs(const ModelConfig& c, DType mat, DType norm) {
  Specs s;
  const int64_t h = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size, v = c.vocab_size;
  s["model.embed_tokens.weight"] = {mat, {v, h}};
  s["model.norm.weight"] = {norm, {h}};
  if (!c.tie_word_embeddings) s["lm_head.weight"] = {mat, {v, h}};
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    s[p + "input_layernorm.weight"] = {norm, {h}};
    s[p + "post_attention_layernorm.weight"] = {norm, {h}};
    s[p + "self_attn.q_proj.weight"] = {mat, {q, h}};
    s[p + "self_attn.k_proj.weight"] = {mat, {kv, h}};
    s[p + "self_attn.v_proj.weight"] = {mat, {kv, h}};
    s[p + "self_attn.o_proj.weight"] = {mat, {h, q}};
    if (c.qkv_bias) {
      s[p + "self_attn.q_proj.bias"] = {mat, {q}};
      s[p + "self_attn.k_proj.bias"] = {mat, {kv}};
      s[p + "self_attn.v_proj.bias"] = {mat, {kv}};
    }
    s[p + "mlp.gate_proj.weight"] = {mat, {in, h}};
    s[p + "mlp.up_proj.weight"] = {mat, {in, h}};
    s[p + "mlp.down_proj.weight"] = {mat, {h, in}};
  }
  return s;
}

std::vector<float> values_for(const std::string& name, int64_t n) {
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(name)));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Status add_spec(SafetensorsWriter* w, const std::string& name, const Spec& s) {
  if (s.dtype == DType::kI8) {
    std::string bytes(static_cast<size_t>(numel(s.shape)), '\1');
    return w->add(name, s.dtype, s.shape, bytes.data(), bytes.size());
  }
  return w->add_f32_as(name, s.dtype, s.shape, values_for(name, numel(s.shape)));
}

// Writes config.json + model.safetensors (or n_shards shards + index) into dir.
void write_model(const std::string& dir, const std::string& config_json, const Specs& specs, int n_shards = 1) {
  ASSERT_TRUE(write_binary_file(path_join(dir, "config.json"), config_json).is_ok());
  if (n_shards == 1) {
    SafetensorsWriter w;
    for (const auto& [n, s] : specs) ASSERT_TRUE(add_spec(&w, n, s).is_ok()) << n;
    ASSERT_TRUE(w.write(path_join(dir, "model.safetensors")).is_ok());
    return;
  }
  std::vector<SafetensorsWriter> ws(static_cast<size_t>(n_shards));
  std::string index = R"({"metadata": {}, "weight_map": {)";
  int i = 0;
  for (const auto& [n, s] : specs) {
    const int shard = i % n_shards;
    const std::string file =
        "model-0000" + std::to_string(shard + 1) + "-of-0000" + std::to_string(n_shards) + ".safetensors";
    ASSERT_TRUE(add_spec(&ws[static_cast<size_t>(shard)], n, s).is_ok());
    index += (i ? ", \"" : "\"") + n + "\": \"" + file + "\"";
    ++i;
  }
  index += "}}";
  for (int k = 0; k < n_shards; ++k)
    ASSERT_TRUE(ws[static_cast<size_t>(k)]
                    .write(path_join(dir, "model-0000" + std::to_string(k + 1) + "-of-0000" + std::to_string(n_shards) +
                                              ".safetensors"))
                    .is_ok());
  ASSERT_TRUE(write_binary_file(path_join(dir, "model.safetensors.index.json"), index).is_ok());
}

const char* kGqaConfig = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 32, "num_hidden_layers": 3,
  "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48, "vocab_size": 50,
  "rms_norm_eps": 1e-5, "tie_word_embeddings": false, "torch_dtype": "bfloat16"})";

ModelConfig parse_ok(const std::string& text) {
  auto r = parse_config(text, "config.json");
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : ModelConfig{};
}

float read_as_f32(const WeightRef& w, size_t i) {
  float out;
  convert_to_f32(w.dtype, static_cast<const uint8_t*>(w.data) + i * dtype_size(w.dtype), &out, 1);
  return out;
}

// ---------------- the real tiny Llama ----------------

TEST(Weights, RealTinyLlamaBindsEveryTensor) {
  auto cfg = load_config(path_join(kTinyDir, "config.json"));
  ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
  auto r = load_weights(kTinyDir, *cfg);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ModelWeights& w = *r;
  EXPECT_EQ(w.embed.shape, (std::vector<int64_t>{32000, 8}));
  EXPECT_EQ(w.embed.dtype, DType::kF16);
  EXPECT_EQ(w.lm_head.shape, (std::vector<int64_t>{32000, 8}));
  EXPECT_FALSE(w.lm_head_tied);
  EXPECT_NE(w.lm_head.data, w.embed.data);
  EXPECT_EQ(w.final_norm.dtype, DType::kF32);
  EXPECT_EQ(w.final_norm.shape, std::vector<int64_t>{8});
  ASSERT_EQ(w.layers.size(), 1u);
  const LayerWeights& L = w.layers[0];
  EXPECT_EQ(L.attn_norm.dtype, DType::kF32);
  EXPECT_EQ(L.ffn_norm.dtype, DType::kF32);
  for (const WeightRef* m : {&L.wq, &L.wk, &L.wv, &L.wo}) {
    EXPECT_EQ(m->shape, (std::vector<int64_t>{8, 8})) << m->name;
    EXPECT_EQ(m->dtype, DType::kF16);
  }
  EXPECT_EQ(L.w_gate.shape, (std::vector<int64_t>{32, 8}));
  EXPECT_EQ(L.w_up.shape, (std::vector<int64_t>{32, 8}));
  EXPECT_EQ(L.w_down.shape, (std::vector<int64_t>{8, 32}));
  EXPECT_FALSE(L.bq.present());
  EXPECT_FALSE(L.bo.present());
  EXPECT_EQ(L.wq.name, "model.layers.0.self_attn.q_proj.weight");
  // All 12 tensors of the file are bound: 2 * 512000 + 3 * 32 + 4 * 128 + 3 * 512.
  EXPECT_EQ(w.total_bytes, 1026144u);
  // Views point into the mapping (zero-copy) and are element-aligned.
  const TensorView* v = w.checkpoint->find("model.embed_tokens.weight");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(w.embed.data, v->data);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.final_norm.data) % 4, 0u);
  for (size_t i = 0; i < 8; ++i) EXPECT_TRUE(std::isfinite(read_as_f32(w.final_norm, i)));
  for (size_t i = 0; i < 64; ++i) EXPECT_TRUE(std::isfinite(read_as_f32(L.wq, i)));
}

// ---------------- synthetic models ----------------

TEST(Weights, SyntheticGqaBf16WithExtras) {
  TempDir d;
  ModelConfig c = parse_ok(kGqaConfig);
  Specs specs = expected_specs(c, DType::kBF16, DType::kF32);
  specs["model.layers.0.self_attn.rotary_emb.inv_freq"] = {DType::kF32, {4}};
  specs["some.other.tensor"] = {DType::kF16, {2, 2}};
  write_model(d.path(), kGqaConfig, specs);

  const LogLevel saved = log_level();
  set_log_level(LogLevel::kDebug);
  testing::internal::CaptureStderr();
  auto r = load_weights(d.path(), c);
  const std::string log = testing::internal::GetCapturedStderr();
  set_log_level(saved);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_NE(log.find("rotary_emb.inv_freq"), std::string::npos) << log;
  EXPECT_NE(log.find("some.other.tensor"), std::string::npos) << log;

  const ModelWeights& w = *r;
  ASSERT_EQ(w.layers.size(), 3u);
  const LayerWeights& L = w.layers[2];
  EXPECT_EQ(L.wq.shape, (std::vector<int64_t>{16 * 2, 32}));  // 4 heads * head_dim 8
  EXPECT_EQ(L.wk.shape, (std::vector<int64_t>{2 * 8, 32}));
  EXPECT_EQ(L.wv.shape, (std::vector<int64_t>{2 * 8, 32}));
  EXPECT_EQ(L.wo.shape, (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(L.w_down.shape, (std::vector<int64_t>{32, 48}));
  EXPECT_EQ(L.wq.dtype, DType::kBF16);  // stored dtype is kept
  EXPECT_EQ(L.wq.rows(), 32);
  EXPECT_EQ(L.wq.cols(), 32);
  // Values survive: bf16 of the generated floats.
  const auto expect = values_for("model.layers.2.mlp.down_proj.weight", 32 * 48);
  for (size_t i = 0; i < expect.size(); i += 97)
    EXPECT_EQ(read_as_f32(L.w_down, i), bf16_to_f32(f32_to_bf16(expect[i]))) << i;
  size_t total = 0;
  for (const auto& [n, s] : expected_specs(c, DType::kBF16, DType::kF32))
    total += static_cast<size_t>(numel(s.shape)) * dtype_size(s.dtype);
  EXPECT_EQ(w.total_bytes, total);
}

TEST(Weights, TiedEmbeddings) {
  TempDir d;
  const std::string cfg_text = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 16, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 24, "vocab_size": 20, "tie_word_embeddings": true})";
  ModelConfig c = parse_ok(cfg_text);
  write_model(d.path(), cfg_text, expected_specs(c, DType::kF16, DType::kF16));
  auto r = load_weights(d.path(), c);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->lm_head_tied);
  EXPECT_EQ(r->lm_head.data, r->embed.data);
  EXPECT_EQ(r->lm_head.shape, r->embed.shape);

  // An lm_head.weight present despite tying is ignored (embed is used).
  TempDir d2;
  Specs specs = expected_specs(c, DType::kF16, DType::kF16);
  specs["lm_head.weight"] = {DType::kF16, {20, 16}};
  write_model(d2.path(), cfg_text, specs);
  auto r2 = load_weights(d2.path(), c);
  ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
  EXPECT_EQ(r2->lm_head.data, r2->embed.data);
}

TEST(Weights, Qwen2Biases) {
  TempDir d;
  const std::string cfg_text = R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 24, "vocab_size": 20,
    "tie_word_embeddings": true})";
  ModelConfig c = parse_ok(cfg_text);
  write_model(d.path(), cfg_text, expected_specs(c, DType::kBF16, DType::kBF16));
  auto r = load_weights(d.path(), c);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  for (const auto& L : r->layers) {
    ASSERT_TRUE(L.bq.present());
    EXPECT_EQ(L.bq.shape, std::vector<int64_t>{16});
    EXPECT_EQ(L.bk.shape, std::vector<int64_t>{8});
    EXPECT_EQ(L.bv.shape, std::vector<int64_t>{8});
    EXPECT_FALSE(L.bo.present());
  }
  // A missing bias is an error naming it.
  TempDir d2;
  Specs specs = expected_specs(c, DType::kBF16, DType::kBF16);
  specs.erase("model.layers.1.self_attn.k_proj.bias");
  write_model(d2.path(), cfg_text, specs);
  expect_error(load_weights(d2.path(), c).status(), StatusCode::kNotFound,
               {d2.file("model.safetensors"), "model.layers.1.self_attn.k_proj.bias", "[8]"});
}

TEST(Weights, MissingTensor) {
  TempDir d;
  ModelConfig c = parse_ok(kGqaConfig);
  Specs specs = expected_specs(c, DType::kF16, DType::kF32);
  specs.erase("model.layers.1.mlp.up_proj.weight");
  write_model(d.path(), kGqaConfig, specs);
  expect_error(load_weights(d.path(), c).status(), StatusCode::kNotFound,
               {d.file("model.safetensors"), "'model.layers.1.mlp.up_proj.weight'", "[48, 32]"});
  // lm_head is required when not tied.
  TempDir d2;
  specs = expected_specs(c, DType::kF16, DType::kF32);
  specs.erase("lm_head.weight");
  write_model(d2.path(), kGqaConfig, specs);
  expect_error(load_weights(d2.path(), c).status(), StatusCode::kNotFound,
               {d2.file("model.safetensors"), "'lm_head.weight'"});
}

TEST(Weights, WrongShape) {
  TempDir d;
  ModelConfig c = parse_ok(kGqaConfig);
  Specs specs = expected_specs(c, DType::kF16, DType::kF32);
  specs["model.layers.0.self_attn.k_proj.weight"] = {DType::kF16, {32, 32}};  // as if no GQA
  write_model(d.path(), kGqaConfig, specs);
  expect_error(
      load_weights(d.path(), c).status(), StatusCode::kCorrupt,
      {d.file("model.safetensors"), "'model.layers.0.self_attn.k_proj.weight'", "expected [16, 32]", "found [32, 32]"});
  TempDir d2;
  specs = expected_specs(c, DType::kF16, DType::kF32);
  specs["model.norm.weight"] = {DType::kF32, {1, 32}};
  write_model(d2.path(), kGqaConfig, specs);
  expect_error(load_weights(d2.path(), c).status(), StatusCode::kCorrupt,
               {"'model.norm.weight'", "expected [32]", "found [1, 32]"});
}

TEST(Weights, UnsupportedDtype) {
  TempDir d;
  ModelConfig c = parse_ok(kGqaConfig);
  Specs specs = expected_specs(c, DType::kF16, DType::kF32);
  specs["model.layers.2.mlp.gate_proj.weight"] = {DType::kI8, {48, 32}};
  write_model(d.path(), kGqaConfig, specs);
  expect_error(load_weights(d.path(), c).status(), StatusCode::kUnsupported,
               {d.file("model.safetensors"), "'model.layers.2.mlp.gate_proj.weight'", "unsupported dtype i8"});

  // A dtype the reader recognises but cannot load (I64) is reported the same way.
  TempDir d2;
  const std::string cfg_text = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 2, "num_hidden_layers": 1,
    "num_attention_heads": 1, "intermediate_size": 2, "vocab_size": 2, "tie_word_embeddings": true})";
  ModelConfig c2 = parse_ok(cfg_text);
  ASSERT_TRUE(write_binary_file(d2.file("model.safetensors"),
                                safetensors_raw_bytes(R"({"model.embed_tokens.weight": {"dtype": "I64", "shape": [2, 2],
                                                        "data_offsets": [0, 32]}})",
                                                      std::string(32, '\0')))
                  .is_ok());
  expect_error(load_weights(d2.path(), c2).status(), StatusCode::kUnsupported,
               {d2.file("model.safetensors"), "I64", "'model.embed_tokens.weight'"});
}

TEST(Weights, ShardedCheckpoint) {
  TempDir d;
  ModelConfig c = parse_ok(kGqaConfig);
  write_model(d.path(), kGqaConfig, expected_specs(c, DType::kBF16, DType::kF32), 3);
  auto r = load_weights(d.path(), c);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->checkpoint->files().size(), 3u);
  const auto expect = values_for("model.layers.1.self_attn.o_proj.weight", 32 * 32);
  for (size_t i = 0; i < expect.size(); i += 31)
    EXPECT_EQ(read_as_f32(r->layers[1].wo, i), bf16_to_f32(f32_to_bf16(expect[i])));

  // A wrong shape in a shard names that shard.
  TempDir d2;
  Specs specs = expected_specs(c, DType::kBF16, DType::kF32);
  specs["model.layers.2.mlp.down_proj.weight"] = {DType::kBF16, {48, 32}};  // transposed
  write_model(d2.path(), kGqaConfig, specs, 2);
  auto bad = load_weights(d2.path(), c);
  ASSERT_FALSE(bad.is_ok());
  expect_error(
      bad.status(), StatusCode::kCorrupt,
      {"-of-00002.safetensors", "'model.layers.2.mlp.down_proj.weight'", "expected [32, 48]", "found [48, 32]"});
}

TEST(Weights, WeightsOwnTheMapping) {
  ModelWeights copy;
  {
    auto cfg = load_config(kTinyDir);  // a folder means <folder>/config.json
    ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
    LoadWeightsOptions opts;
    opts.mmap.will_need = true;
    auto r = load_weights(kTinyDir, *cfg, opts);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    copy = *r;  // the original goes out of scope here
  }
  float sum = 0;
  for (int64_t i = 0; i < copy.layers[0].w_down.numel(); ++i)
    sum += read_as_f32(copy.layers[0].w_down, static_cast<size_t>(i));
  EXPECT_TRUE(std::isfinite(sum));
}

TEST(Weights, FolderWithoutWeights) {
  TempDir d;
  ModelConfig c = parse_ok(kGqaConfig);
  expect_error(load_weights(d.path(), c).status(), StatusCode::kNotFound, {d.path()});
  expect_error(bind_weights(nullptr, c).status(), StatusCode::kInvalidArgument, {"checkpoint"});
}

// Load-time transforms on a random model: q8 keeps a matrix whose width is not a multiple of 32,
// refuses a non-finite weight by name and leaves the weights as they were; prepacking runs once.
TEST(WeightTransforms, Q8KeepsOddWidthsAndRefusesNonFinite) {
  TempDir d;
  testutil::RandomLlamaSpec spec;
  spec.inter = 48;  // down_proj's width 48 is not a multiple of 32
  testutil::TensorMap t = testutil::random_llama_tensors(spec);
  testutil::write_llama_folder(d.path(), spec, t, DType::kBF16);
  auto w = load_weights(d.path(), testutil::config_of(spec));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  auto rep = quantize_weights_q8(*w);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_EQ(rep->kept, spec.layers);  // one down_proj per layer
  EXPECT_EQ(rep->quantized, 6 * spec.layers + 1);
  EXPECT_EQ(w->layers[0].w_down.dtype, DType::kBF16);
  EXPECT_EQ(w->layers[0].w_up.dtype, DType::kQ8);
  expect_error(prepack_weights(*w).status(), StatusCode::kInvalidArgument, {"already transformed"});

  TempDir bad;
  t["model.layers.1.mlp.up_proj.weight"].values[77] = std::nanf("");
  testutil::write_llama_folder(bad.path(), spec, t, DType::kBF16);
  auto wb = load_weights(bad.path(), testutil::config_of(spec));
  ASSERT_TRUE(wb.is_ok()) << wb.status().to_string();
  const size_t bytes = wb->total_bytes;
  expect_error(quantize_weights_q8(*wb).status(), StatusCode::kInvalidArgument,
               {"model.layers.1.mlp.up_proj.weight", "non-finite"});
  EXPECT_EQ(wb->layers[0].wq.dtype, DType::kBF16);  // nothing was swapped in
  EXPECT_EQ(wb->total_bytes, bytes);
  EXPECT_FALSE(wb->owned);
}

TEST(WeightTransforms, PrepackSkipsATiedTableAndRunsOnce) {
  TempDir d;
  testutil::RandomLlamaSpec spec;
  spec.vocab = 592;  // a multiple of 16, so only the tie keeps lm_head out
  testutil::TensorMap t = testutil::random_llama_tensors(spec);
  t.erase("lm_head.weight");
  testutil::write_llama_folder(d.path(), spec, t, DType::kBF16);
  ModelConfig c = testutil::config_of(spec);
  c.tie_word_embeddings = true;
  auto w = load_weights(d.path(), c);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  auto n = prepack_weights(*w);
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 7 * spec.layers);
  EXPECT_EQ(w->layers[1].w_down.dtype, DType::kBF16I16);
  EXPECT_EQ(w->lm_head.dtype, DType::kBF16);
  EXPECT_EQ(w->embed.dtype, DType::kBF16);
  expect_error(prepack_weights(*w).status(), StatusCode::kInvalidArgument, {"already transformed"});
}

}  // namespace
}  // namespace lpx
