// Tests for the LoRA adapter loaders: PEFT (safetensors / torch .bin) and NeMo (.nemo tar) folders
// built here byte by byte, the real torch fixtures of tests/data/formats, the real GPT-2 PEFT
// adapter of ../shared/testdata (refused), the demo adapters (when trained) against values that
// tools/demo/reference.py's independent loader produced, and malformed inputs of every kind (each
// must fail with a message naming the file and the problem).
#include "lora/adapter_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../testutil_archives.h"
#include "core/dtype.h"
#include "core/file_util.h"
#include "formats/zip_reader.h"
#include "lora/peft_config.h"
#include "testing/safetensors_writer.h"

namespace lpx {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testutil::kEnd;
using testutil::make_ckpt;
using testutil::member;
using testutil::Pk;

const std::string kFormats = std::string(LPX_TESTDATA_DIR) + "/formats";
const std::string kShared = std::string(LPX_SHARED_DIR) + "/testdata/models";

void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok()) << "expected an error";
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = (fs::temp_directory_path() / ("lpx_loader_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string file_bytes(const std::string& path) {
  auto r = read_file(path);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::string();
}

// A small GQA base: hidden 16, 4 heads of 4 (q 16), 2 kv heads (kv 8), intermediate 24.
ModelConfig make_base(int64_t hidden = 16, int64_t heads = 4, int64_t kv = 2, int64_t head_dim = 4, int64_t inter = 24,
                      int64_t layers = 2) {
  json j = {{"architectures", {"LlamaForCausalLM"}},
            {"hidden_size", hidden},
            {"num_hidden_layers", layers},
            {"num_attention_heads", heads},
            {"num_key_value_heads", kv},
            {"head_dim", head_dim},
            {"intermediate_size", inter},
            {"vocab_size", 32}};
  auto c = parse_config(j.dump(), "base/config.json");
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return *c;
}

// Values k/16 with |k| <= 8: exact in f32, f16 and bf16.
std::vector<float> values(size_t n, int seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((static_cast<int>(i) * 7 + seed * 13) % 17 - 8) / 16.0f;
  return v;
}

// ---------------------------------------------------------------- PEFT fixtures

std::string peft_name(int64_t layer, LoraModule m, bool a, const std::string& prefix = "base_model.model.",
                      const std::string& adapter = "") {
  return prefix + peft_module_path(layer, m) + (a ? ".lora_A" : ".lora_B") + (adapter.empty() ? "" : "." + adapter) +
         ".weight";
}

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// lora_A [r, in] / lora_B [out, r] for `m` in `layer`, with the values expected back.
void add_pair(std::vector<Tensor>* ts, const ModelConfig& base, int64_t layer, LoraModule m, int r,
              const std::string& prefix = "base_model.model.", const std::string& adapter = "") {
  const int64_t in = lora_in_dim(base, m), out = lora_out_dim(base, m);
  const int seed = static_cast<int>(layer * 10 + static_cast<int>(m));
  ts->push_back({peft_name(layer, m, true, prefix, adapter), {r, in}, values(static_cast<size_t>(r * in), seed)});
  ts->push_back(
      {peft_name(layer, m, false, prefix, adapter), {out, r}, values(static_cast<size_t>(out * r), 100 + seed)});
}

void write_safetensors(const std::string& path, const std::vector<Tensor>& ts, DType dtype = DType::kF32) {
  SafetensorsWriter w;
  for (const auto& t : ts) ASSERT_TRUE(w.add_f32_as(t.name, dtype, t.shape, t.values).is_ok()) << t.name;
  ASSERT_TRUE(w.write(path).is_ok()) << path;
}

const char* storage_of(DType d) {
  return d == DType::kF32 ? "FloatStorage" : d == DType::kBF16 ? "BFloat16Storage" : "HalfStorage";
}

// A torch.save-style zip of a flat dict of tensors.
std::string torch_bytes(const std::vector<Tensor>& ts, DType dtype = DType::kF32) {
  Pk p;
  p.op('}');
  std::vector<std::pair<std::string, std::string>> storages;
  for (size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    std::vector<int64_t> stride(t.shape.size(), 1);
    for (int d = static_cast<int>(t.shape.size()) - 2; d >= 0; --d) stride[d] = stride[d + 1] * t.shape[d + 1];
    const std::string key = std::to_string(i);
    p.str(t.name).tensor(storage_of(dtype), key, static_cast<int64_t>(t.values.size()), 0, t.shape, stride).op('s');
    std::string bytes(t.values.size() * dtype_size(dtype), '\0');
    convert_from_f32(dtype, t.values.data(), bytes.data(), t.values.size());
    storages.push_back({key, bytes});
  }
  return make_ckpt(p.stop(), storages);
}

std::string peft_config(int r, double alpha, const std::string& targets, const std::string& extra = "") {
  return "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"r\": " + std::to_string(r) +
         ", \"lora_alpha\": " + std::to_string(alpha) + ", \"target_modules\": " + targets + ", \"bias\": \"none\"" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

// Checks a loaded module against the values add_pair wrote.
void expect_module(const LoraAdapter& a, int64_t layer, LoraModule m, const ModelConfig& base, int r, float scale) {
  SCOPED_TRACE(peft_module_path(layer, m));
  const auto& w = a.layers.at(layer)[static_cast<int>(m)];
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->rank, r);
  EXPECT_EQ(w->in_dim, lora_in_dim(base, m));
  EXPECT_EQ(w->out_dim, lora_out_dim(base, m));
  EXPECT_EQ(w->scale, scale);
  const int seed = static_cast<int>(layer * 10 + static_cast<int>(m));
  EXPECT_EQ(w->a, values(static_cast<size_t>(r * w->in_dim), seed));
  EXPECT_EQ(w->b, values(static_cast<size_t>(w->out_dim * r), 100 + seed));
}

// A PEFT folder: config + safetensors with the given pairs.
void make_peft(const TempDir& dir, const std::string& config, const std::vector<Tensor>& ts,
               DType dtype = DType::kF32) {
  write_file(dir / "adapter_config.json", config);
  write_safetensors(dir / "adapter_model.safetensors", ts, dtype);
}

std::vector<Tensor> all_pairs(const ModelConfig& base, int r, std::initializer_list<LoraModule> mods) {
  std::vector<Tensor> ts;
  for (int64_t l = 0; l < base.n_layers; ++l)
    for (LoraModule m : mods) add_pair(&ts, base, l, m, r);
  return ts;
}

const std::initializer_list<LoraModule> kAll = {LoraModule::kQ,    LoraModule::kK,  LoraModule::kV,   LoraModule::kO,
                                                LoraModule::kGate, LoraModule::kUp, LoraModule::kDown};

// ---------------------------------------------------------------- PEFT

TEST(PeftLoader, SafetensorsAllModulesF32) {
  const ModelConfig base = make_base();
  TempDir dir;
  make_peft(dir, peft_config(4, 8, R"(["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"])"),
            all_pairs(base, 4, kAll));
  ASSERT_TRUE(probe_adapter_dir(dir.path()).is_ok());
  auto a = load_adapter("math", dir.path(), base);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ((*a)->name, "math");
  EXPECT_EQ((*a)->path, dir.path());
  EXPECT_EQ((*a)->format, "peft-safetensors");
  EXPECT_EQ((*a)->max_rank, 4);
  ASSERT_EQ((*a)->layers.size(), 2u);
  for (int64_t l = 0; l < 2; ++l)
    for (LoraModule m : kAll) expect_module(**a, l, m, base, 4, 2.0f);
  EXPECT_EQ((*a)->target_modules(),
            (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
}

TEST(PeftLoader, Bf16F16RsLoraAndAdapterNameInKeys) {
  const ModelConfig base = make_base();
  for (DType dt : {DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(dtype_name(dt));
    TempDir dir;
    std::vector<Tensor> ts;
    for (int64_t l = 0; l < 2; ++l)
      for (LoraModule m : {LoraModule::kQ, LoraModule::kK, LoraModule::kV, LoraModule::kO})
        add_pair(&ts, base, l, m, 4, /*prefix=*/"", /*adapter=*/"default");  // "model.layers...lora_A.default.weight"
    make_peft(dir, peft_config(4, 8, R"(["q_proj","k_proj","v_proj","o_proj"])", "\"use_rslora\": true"), ts, dt);
    auto a = load_adapter("upper", dir.path(), base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    EXPECT_EQ((*a)->max_rank, 4);
    for (int64_t l = 0; l < 2; ++l) {
      for (LoraModule m : {LoraModule::kQ, LoraModule::kK, LoraModule::kV, LoraModule::kO})
        expect_module(**a, l, m, base, 4, static_cast<float>(8.0 / std::sqrt(4.0)));
      EXPECT_FALSE((*a)->layers[l][static_cast<int>(LoraModule::kGate)].has_value());
    }
  }
}

TEST(PeftLoader, RankAndAlphaPatternsGivePerModuleRanksAndScales) {
  const ModelConfig base = make_base();
  TempDir dir;
  std::vector<Tensor> ts;
  add_pair(&ts, base, 0, LoraModule::kQ, 8);
  add_pair(&ts, base, 0, LoraModule::kV, 2);
  add_pair(&ts, base, 1, LoraModule::kQ, 8);
  add_pair(&ts, base, 1, LoraModule::kV, 6);
  make_peft(dir,
            peft_config(8, 16, R"(["q_proj","v_proj"])",
                        R"("rank_pattern": {"model.layers.1.self_attn.v_proj": 6, "v_proj": 2},
                                "alpha_pattern": {"layers.1.self_attn.q_proj": 4})"),
            ts);
  auto a = load_adapter("p", dir.path(), base);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ((*a)->max_rank, 8);
  expect_module(**a, 0, LoraModule::kQ, base, 8, 2.0f);
  expect_module(**a, 0, LoraModule::kV, base, 2, 8.0f);
  expect_module(**a, 1, LoraModule::kQ, base, 8, 0.5f);
  expect_module(**a, 1, LoraModule::kV, base, 6, static_cast<float>(16.0 / 6.0));
}

TEST(PeftLoader, RegexTargetsAndTorchBin) {
  const ModelConfig base = make_base();
  TempDir dir;
  const auto ts =
      all_pairs(base, 8, {LoraModule::kQ, LoraModule::kV, LoraModule::kO, LoraModule::kUp, LoraModule::kDown});
  write_file(dir / "adapter_config.json", peft_config(8, 16, R"j(".*\\.(q_proj|v_proj|o_proj|up_proj|down_proj)")j"));
  write_file(dir / "adapter_model.bin", torch_bytes(ts));
  ASSERT_TRUE(probe_adapter_dir(dir.path()).is_ok());
  auto a = load_adapter("reverse", dir.path(), base);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ((*a)->format, "peft-bin");
  for (int64_t l = 0; l < 2; ++l)
    for (LoraModule m : {LoraModule::kQ, LoraModule::kV, LoraModule::kO, LoraModule::kUp, LoraModule::kDown})
      expect_module(**a, l, m, base, 8, 2.0f);
  EXPECT_EQ((*a)->target_modules(), (std::vector<std::string>{"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"}));
  // bf16 storages too.
  TempDir d2;
  write_file(d2 / "adapter_config.json", peft_config(8, 16, R"j(".*\\.(q_proj|v_proj|o_proj|up_proj|down_proj)")j"));
  write_file(d2 / "adapter_model.bin", torch_bytes(ts, DType::kBF16));
  auto b = load_adapter("reverse", d2.path(), base);
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  expect_module(**b, 1, LoraModule::kDown, base, 8, 2.0f);
}

TEST(PeftLoader, RealTorchBinFixture) {
  // tests/data/formats/adapter_model.bin: torch 1.13 torch.save of q/v lora_A [2, 8] / lora_B [8, 2] for layers 0-1.
  const ModelConfig base = make_base(/*hidden=*/8, /*heads=*/2, /*kv=*/2, /*head_dim=*/4, /*inter=*/16, /*layers=*/2);
  TempDir dir;
  write_file(dir / "adapter_model.bin", file_bytes(kFormats + "/adapter_model.bin"));
  write_file(dir / "adapter_config.json", peft_config(2, 4, R"(["q_proj", "v_proj"])"));
  auto a = load_adapter("fixture", dir.path(), base);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  const json exp = json::parse(file_bytes(kFormats + "/expected.json"))["checkpoints"]["adapter_model.bin"]["tensors"];
  for (int64_t l = 0; l < 2; ++l) {
    for (LoraModule m : {LoraModule::kQ, LoraModule::kV}) {
      const auto& w = (*a)->layers[l][static_cast<int>(m)];
      ASSERT_TRUE(w.has_value());
      EXPECT_EQ(w->scale, 2.0f);
      const auto& ea = exp[peft_name(l, m, true)];
      const auto& eb = exp[peft_name(l, m, false)];
      ASSERT_EQ(w->a.size(), 16u);
      double sa = 0, sb = 0;
      for (size_t i = 0; i < 16; ++i) {
        sa += w->a[i];
        sb += w->b[i];
      }
      for (size_t i = 0; i < ea["first"].size(); ++i) EXPECT_EQ(w->a[i], ea["first"][i].get<float>());
      for (size_t i = 0; i < eb["first"].size(); ++i) EXPECT_EQ(w->b[i], eb["first"][i].get<float>());
      EXPECT_NEAR(sa, ea["sum"].get<double>(), 1e-9);
      EXPECT_NEAR(sb, eb["sum"].get<double>(), 1e-9);
    }
  }
}

TEST(PeftLoader, SafetensorsPreferredAndFanInFanOutAccepted) {
  const ModelConfig base = make_base();
  TempDir dir;
  make_peft(dir, peft_config(4, 4, R"(["q_proj"])", "\"fan_in_fan_out\": true"), all_pairs(base, 4, {LoraModule::kQ}));
  write_file(dir / "adapter_model.bin", "not a zip");  // ignored: safetensors wins, as in PEFT
  auto a = load_adapter("x", dir.path(), base);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ((*a)->format, "peft-safetensors");
}

TEST(PeftLoader, MalformedWeightsAreRefusedNamingTheFile) {
  const ModelConfig base = make_base();
  const std::string qv = R"(["q_proj", "v_proj"])";
  auto run = [&](const std::string& config, const std::vector<Tensor>& ts, StatusCode code,
                 std::initializer_list<std::string> needles, AdapterLoadOptions opts = {}) {
    TempDir dir;
    make_peft(dir, config, ts);
    auto a = load_adapter("bad", dir.path(), base, opts);
    expect_error(a.status(), code, needles);
    if (!a.is_ok()) {
      const std::string& msg = a.status().message();
      EXPECT_TRUE(msg.find(dir.path()) != std::string::npos) << msg;
    }
  };
  std::vector<Tensor> good = all_pairs(base, 4, {LoraModule::kQ, LoraModule::kV});

  {  // lora_A with the wrong input size.
    auto ts = good;
    ts[0] = {ts[0].name, {4, 12}, values(48, 1)};
    run(peft_config(4, 8, qv), ts, StatusCode::kInvalidArgument,
        {"adapter_model.safetensors", ts[0].name, "[4, 12]", "16 inputs", "hidden_size", "base/config.json"});
  }
  {  // lora_B with the wrong output size (v_proj: 8 = kv heads x head_dim).
    auto ts = good;
    ts[3] = {ts[3].name, {16, 4}, values(64, 1)};
    run(peft_config(4, 8, qv), ts, StatusCode::kInvalidArgument, {ts[3].name, "8 outputs", "num_key_value_heads"});
  }
  {  // A and B ranks differ.
    auto ts = good;
    ts[1] = {ts[1].name, {16, 3}, values(48, 1)};
    run(peft_config(4, 8, qv), ts, StatusCode::kCorrupt, {ts[1].name, "ranks differ"});
  }
  {  // 1-D weight.
    auto ts = good;
    ts[0] = {ts[0].name, {64}, values(64, 1)};
    run(peft_config(4, 8, qv), ts, StatusCode::kCorrupt, {ts[0].name, "2-D"});
  }
  // Rank differs from the config's r.
  run(peft_config(8, 8, qv), good, StatusCode::kCorrupt, {"rank 4", "adapter_config.json", "gives 8"});
  // Rank above the server's limit.
  {
    AdapterLoadOptions o;
    o.max_rank = 2;
    run(peft_config(4, 8, qv), good, StatusCode::kUnsupported, {"rank 4", "2", "NIM_MAX_LORA_RANK"}, o);
  }
  {  // lora_B missing.
    auto ts = good;
    ts.erase(ts.begin() + 1);
    run(peft_config(4, 8, qv), ts, StatusCode::kCorrupt, {good[0].name, "no matching lora_B"});
  }
  {  // lora_A missing.
    auto ts = good;
    ts.erase(ts.begin());
    run(peft_config(4, 8, qv), ts, StatusCode::kCorrupt, {good[1].name, "no matching lora_A"});
  }
  {  // A layer the base does not have.
    auto ts = good;
    std::vector<Tensor> extra;
    add_pair(&extra, make_base(16, 4, 2, 4, 24, 4), 3, LoraModule::kQ, 4);
    ts.insert(ts.end(), extra.begin(), extra.end());
    run(peft_config(4, 8, qv), ts, StatusCode::kInvalidArgument, {"layers.3", "layer 3", "2 layers"});
  }
  {  // Weights for a module the config does not target.
    auto ts = good;
    add_pair(&ts, base, 0, LoraModule::kUp, 4);
    run(peft_config(4, 8, qv), ts, StatusCode::kCorrupt, {"mlp.up_proj", "target_modules", "do not select"});
  }
  {  // lm_head / embed_tokens LoRA weights.
    auto ts = good;
    ts.push_back({"base_model.model.lm_head.lora_A.weight", {4, 16}, values(64, 1)});
    run(peft_config(4, 8, qv), ts, StatusCode::kUnsupported, {"lm_head"});
    auto te = good;
    te.push_back({"base_model.model.model.embed_tokens.lora_embedding_A", {4, 32}, values(128, 1)});
    run(peft_config(4, 8, qv), te, StatusCode::kUnsupported, {"lora_embedding_A", "embeddings"});
  }
  {  // DoRA magnitudes, lora_B biases, full module copies (modules_to_save), unknown keys.
    auto ts = good;
    ts.push_back({"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", {16}, values(16, 1)});
    run(peft_config(4, 8, qv), ts, StatusCode::kUnsupported, {"lora_magnitude_vector", "DoRA"});
    auto tb = good;
    tb.push_back({"base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", {16}, values(16, 1)});
    run(peft_config(4, 8, qv), tb, StatusCode::kUnsupported, {"lora_B.bias", "bias"});
    auto tm = good;
    tm.push_back({"base_model.model.model.norm.weight", {16}, values(16, 1)});
    run(peft_config(4, 8, qv), tm, StatusCode::kUnsupported, {"model.norm.weight", "not a LoRA weight"});
    auto tx = good;
    tx.push_back({"base_model.model.model.layers.0.mlp.q_proj.lora_A.weight", {4, 16}, values(64, 1)});
    run(peft_config(4, 8, qv), tx, StatusCode::kUnsupported, {"mlp.q_proj", "not a LoRA weight"});
  }
  {  // Two weights for one module (with and without the adapter name), and two adapters.
    auto ts = good;
    ts.push_back({peft_name(0, LoraModule::kQ, true, "base_model.model.", "default"), {4, 16}, values(64, 1)});
    run(peft_config(4, 8, qv), ts, StatusCode::kCorrupt, {"duplicates"});
    std::vector<Tensor> two;
    add_pair(&two, base, 0, LoraModule::kQ, 4, "base_model.model.", "one");
    add_pair(&two, base, 1, LoraModule::kQ, 4, "base_model.model.", "two");
    run(peft_config(4, 8, qv), two, StatusCode::kUnsupported, {"several adapters", "'one'", "'two'"});
  }
  // No LoRA weights at all.
  run(peft_config(4, 8, qv), {}, StatusCode::kCorrupt, {"adapter_model.safetensors", "no LoRA weights"});
  // Config-level refusals surface through load_adapter with the config's path.
  run(peft_config(4, 8, R"(["q_proj", "lm_head"])"), good, StatusCode::kUnsupported,
      {"adapter_config.json", "lm_head"});
  run(peft_config(4, 8, R"(["embed_tokens", "q_proj"])"), good, StatusCode::kUnsupported,
      {"adapter_config.json", "embed_tokens"});
  run(peft_config(4, 8, qv, "\"use_dora\": true"), good, StatusCode::kUnsupported, {"adapter_config.json", "use_dora"});
  run(peft_config(4, 8, qv, R"("modules_to_save": ["lm_head"])"), good, StatusCode::kUnsupported,
      {"adapter_config.json", "modules_to_save", "lm_head"});
  run(peft_config(4, 8, qv, R"("bias": "all")"), good, StatusCode::kUnsupported, {"adapter_config.json", "bias"});
}

TEST(PeftLoader, MalformedFilesAreRefusedNamingTheFile) {
  const ModelConfig base = make_base();
  const auto good = all_pairs(base, 4, {LoraModule::kQ});
  const std::string cfg = peft_config(4, 8, R"(["q_proj"])");
  {  // Truncated safetensors.
    TempDir dir;
    make_peft(dir, cfg, good);
    std::string bytes = file_bytes(dir / "adapter_model.safetensors");
    write_file(dir / "adapter_model.safetensors", bytes.substr(0, bytes.size() - 10));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt,
                 {dir / "adapter_model.safetensors"});
    write_file(dir / "adapter_model.safetensors", bytes.substr(0, 5));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt,
                 {dir / "adapter_model.safetensors"});
  }
  {  // i8 weights.
    TempDir dir;
    write_file(dir / "adapter_config.json", cfg);
    SafetensorsWriter w;
    std::vector<int8_t> a(64, 1), b(64, 1);
    ASSERT_TRUE(w.add(peft_name(0, LoraModule::kQ, true), DType::kI8, {4, 16}, a.data(), a.size()).is_ok());
    ASSERT_TRUE(w.add(peft_name(0, LoraModule::kQ, false), DType::kI8, {16, 4}, b.data(), b.size()).is_ok());
    ASSERT_TRUE(w.write(dir / "adapter_model.safetensors").is_ok());
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kUnsupported,
                 {"adapter_model.safetensors", "i8", "lora_A"});
  }
  {  // Bad JSON, missing config, missing weights, missing folder.
    TempDir dir;
    make_peft(dir, "{\"peft_type\": \"LORA\", \"r\": ", good);
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt,
                 {dir / "adapter_config.json", "JSON"});
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kCorrupt, {dir / "adapter_config.json", "JSON"});
    fs::remove(dir / "adapter_config.json");
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kNotFound, {"adapter_config.json"});
    write_file(dir / "adapter_config.json", cfg);
    fs::remove(dir / "adapter_model.safetensors");
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kNotFound,
                 {dir.path(), "adapter_model.safetensors", "adapter_model.bin"});
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kNotFound, {"adapter_model.safetensors"});
    expect_error(load_adapter("t", dir / "nope", base).status(), StatusCode::kNotFound, {dir / "nope"});
    fs::remove(dir / "adapter_config.json");
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kNotFound, {dir.path(), "no adapter found"});
  }
  {  // A .bin whose pickle calls a foreign global; a .bin that is not a zip; a legacy torch.save.
    TempDir dir;
    write_file(dir / "adapter_config.json", cfg);
    write_file(dir / "adapter_model.bin", make_ckpt(Pk().global("os", "system").str("ls").op(0x85).op('R').stop(), {}));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kUnsupported,
                 {dir / "adapter_model.bin", "os.system"});
    write_file(dir / "adapter_model.bin", "definitely not a zip archive, just some text");
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt, {dir / "adapter_model.bin"});
    write_file(dir / "adapter_model.bin", file_bytes(kFormats + "/legacy.pt"));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kUnsupported,
                 {dir / "adapter_model.bin", "legacy"});
  }
}

TEST(PeftLoader, RealGpt2AdapterIsRefusedClearly) {
  const std::string dir = kShared + "/peft-lora-gpt2-tigrinya";
  expect_error(probe_adapter_dir(dir), StatusCode::kUnsupported,
               {dir + "/adapter_config.json", "'c_attn'", "Llama projection"});
  expect_error(load_adapter("tigrinya", dir, make_base()).status(), StatusCode::kUnsupported,
               {dir + "/adapter_config.json", "'c_attn'"});
}

// ---------------------------------------------------------------- NeMo fixtures

std::string nemo_key(int64_t layer, const std::string& unit, bool in) {
  return "model.decoder.layers." + std::to_string(layer) + "." + unit +
         (in ? ".linear_in.weight" : ".linear_out.weight");
}
const std::string kQkv = "self_attention.adapter_layer.lora_kqv_adapter";
const std::string kDense = "self_attention.adapter_layer.lora_dense_attention_adapter";
const std::string kFc1 = "mlp.adapter_layer.lora_hto4h_adapter";
const std::string kFc2 = "mlp.adapter_layer.lora_4htoh_adapter";

std::string nemo_yaml(int r, const std::string& alpha_line, const std::string& targets,
                      const std::string& model_extra = "", const std::string& lora_extra = "") {
  return "precision: bf16\n"
         "num_layers: 2\nhidden_size: 16\nffn_hidden_size: 24\nnum_attention_heads: 4\nnum_query_groups: 2\n"
         "kv_channels: 4\nactivation: fast-swiglu\ntensor_model_parallel_size: 1\npipeline_model_parallel_size: 1\n" +
         model_extra +
         "peft:\n  peft_scheme: lora\n  restore_from_path: null\n  lora_tuning:\n    variant: nemo\n"
         "    target_modules: " +
         targets + "\n    adapter_dim: " + std::to_string(r) + "\n" + alpha_line +
         "    adapter_dropout: 0.0\n    layer_selection: null\n    weight_tying: false\n" + lora_extra;
}

std::string tar_of(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string t;
  for (const auto& [n, d] : members) t += member(n, d);
  return t + kEnd;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// What a NeMo LoRA for make_base() holds, and what the loader must return for it.
struct NemoFixture {
  std::vector<Tensor> tensors;
  // expected per layer: A and B of q, k, v, o, gate, up, down
  std::map<std::pair<int64_t, int>, std::pair<std::vector<float>, std::vector<float>>> expect;
};

// Fused QKV interleaved per query group as Megatron lays it out (tools/demo/train.py write_nemo).
NemoFixture nemo_fixture(const ModelConfig& base, int r, bool dense = true, bool mlp = true) {
  NemoFixture f;
  const int64_t hd = base.head_dim, groups = base.n_kv_heads, qpg = base.n_heads / groups;
  const int64_t hidden = base.hidden_size, ffn = base.intermediate_size;
  for (int64_t l = 0; l < base.n_layers; ++l) {
    const int s = static_cast<int>(l * 10);
    auto a = values(static_cast<size_t>(r * hidden), s + 1);
    auto bq = values(static_cast<size_t>(base.q_dim() * r), s + 2);
    auto bk = values(static_cast<size_t>(base.kv_dim() * r), s + 3);
    auto bv = values(static_cast<size_t>(base.kv_dim() * r), s + 4);
    std::vector<float> inter;
    for (int64_t g = 0; g < groups; ++g) {
      inter.insert(inter.end(), bq.begin() + g * qpg * hd * r, bq.begin() + (g + 1) * qpg * hd * r);
      inter.insert(inter.end(), bk.begin() + g * hd * r, bk.begin() + (g + 1) * hd * r);
      inter.insert(inter.end(), bv.begin() + g * hd * r, bv.begin() + (g + 1) * hd * r);
    }
    f.tensors.push_back({nemo_key(l, kQkv, true), {r, hidden}, a});
    f.tensors.push_back({nemo_key(l, kQkv, false), {base.q_dim() + 2 * base.kv_dim(), r}, inter});
    f.expect[{l, 0}] = {a, bq};
    f.expect[{l, 1}] = {a, bk};
    f.expect[{l, 2}] = {a, bv};
    if (dense) {
      auto da = values(static_cast<size_t>(r * base.q_dim()), s + 5),
           db = values(static_cast<size_t>(hidden * r), s + 6);
      f.tensors.push_back({nemo_key(l, kDense, true), {r, base.q_dim()}, da});
      f.tensors.push_back({nemo_key(l, kDense, false), {hidden, r}, db});
      f.expect[{l, 3}] = {da, db};
    }
    if (mlp) {
      auto a1 = values(static_cast<size_t>(r * hidden), s + 7);
      auto gate = values(static_cast<size_t>(ffn * r), s + 8), up = values(static_cast<size_t>(ffn * r), s + 9);
      std::vector<float> b1 = gate;
      b1.insert(b1.end(), up.begin(), up.end());
      f.tensors.push_back({nemo_key(l, kFc1, true), {r, hidden}, a1});
      f.tensors.push_back({nemo_key(l, kFc1, false), {2 * ffn, r}, b1});
      f.expect[{l, 4}] = {a1, gate};
      f.expect[{l, 5}] = {a1, up};
      auto a2 = values(static_cast<size_t>(r * ffn), s + 10), b2 = values(static_cast<size_t>(hidden * r), s + 11);
      f.tensors.push_back({nemo_key(l, kFc2, true), {r, ffn}, a2});
      f.tensors.push_back({nemo_key(l, kFc2, false), {hidden, r}, b2});
      f.expect[{l, 6}] = {a2, b2};
    }
  }
  return f;
}

void write_nemo(const TempDir& dir, const std::string& yaml, const std::string& ckpt, bool gz = false,
                const std::string& name = "adapter.nemo") {
  std::string t = tar_of({{"./model_config.yaml", yaml}, {"./model_weights.ckpt", ckpt}});
  write_file(dir / name, gz ? gzip(t) : t);
}

void expect_nemo(const LoraAdapter& a, const NemoFixture& f, int r, float scale) {
  for (const auto& [key, ab] : f.expect) {
    SCOPED_TRACE(std::to_string(key.first) + "/" + lora_module_name(static_cast<LoraModule>(key.second)));
    const auto& w = a.layers.at(key.first)[key.second];
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(w->rank, r);
    EXPECT_EQ(w->scale, scale);
    EXPECT_EQ(w->in_dim * r, static_cast<int64_t>(ab.first.size()));
    EXPECT_EQ(w->out_dim * r, static_cast<int64_t>(ab.second.size()));
    EXPECT_EQ(w->a, ab.first);
    EXPECT_EQ(w->b, ab.second);
  }
}

// ---------------------------------------------------------------- NeMo

TEST(NemoLoader, FusedQkvIsDeinterleavedPerGroupAndFc1SplitIntoGateUp) {
  const ModelConfig base = make_base();
  const NemoFixture f = nemo_fixture(base, 4);
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "plain");
    TempDir dir;
    write_nemo(dir, nemo_yaml(4, "    alpha: 8\n", "[attention_qkv, attention_dense, mlp_fc1, mlp_fc2]"),
               torch_bytes(f.tensors, DType::kBF16), gz);
    ASSERT_TRUE(probe_adapter_dir(dir.path()).is_ok()) << probe_adapter_dir(dir.path()).to_string();
    auto a = load_adapter("shift", dir.path(), base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    EXPECT_EQ((*a)->format, "nemo");
    EXPECT_EQ((*a)->name, "shift");
    EXPECT_EQ((*a)->max_rank, 4);
    ASSERT_EQ((*a)->layers.size(), 2u);
    expect_nemo(**a, f, 4, 2.0f);
  }
}

TEST(NemoLoader, DefaultsAliasesAndCanonicalVariant) {
  const ModelConfig base = make_base();
  {  // alpha absent -> adapter_dim (scale 1); "all" expands to the four modules; f32 storages.
    const NemoFixture f = nemo_fixture(base, 2);
    TempDir dir;
    write_nemo(dir, nemo_yaml(2, "", "[all]"), torch_bytes(f.tensors));
    auto a = load_adapter("n", dir.path(), base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    expect_nemo(**a, f, 2, 1.0f);
  }
  {  // target_modules absent -> [attention_qkv]; alpha: null -> adapter_dim.
    const NemoFixture f = nemo_fixture(base, 2, /*dense=*/false, /*mlp=*/false);
    TempDir dir;
    std::string y = nemo_yaml(2, "    alpha: null\n", "[attention_qkv]");
    y.replace(y.find("    target_modules: [attention_qkv]\n"),
              std::string("    target_modules: [attention_qkv]\n").size(), "");
    write_nemo(dir, y, torch_bytes(f.tensors));
    auto a = load_adapter("n", dir.path(), base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    expect_nemo(**a, f, 2, 1.0f);
    EXPECT_EQ((*a)->target_modules(), (std::vector<std::string>{"q_proj", "k_proj", "v_proj"}));
  }
  {  // variant canonical: one pair per projection.
    std::vector<Tensor> ts;
    const std::string qkv = "self_attention.adapter_layer.lora_unfused_kqv_adapter.";
    const std::string fc1 = "mlp.adapter_layer.lora_unfused_hto4h_adapter.";
    const std::vector<std::pair<std::string, LoraModule>> units = {{qkv + "q_adapter", LoraModule::kQ},
                                                                   {qkv + "k_adapter", LoraModule::kK},
                                                                   {qkv + "v_adapter", LoraModule::kV},
                                                                   {fc1 + "gate_adapter", LoraModule::kGate},
                                                                   {fc1 + "up_adapter", LoraModule::kUp}};
    for (const auto& [unit, m] : units) {
      std::vector<Tensor> pair;
      add_pair(&pair, base, 1, m, 4);
      ts.push_back({nemo_key(1, unit, true), pair[0].shape, pair[0].values});
      ts.push_back({nemo_key(1, unit, false), pair[1].shape, pair[1].values});
    }
    TempDir dir;
    std::string y = nemo_yaml(4, "    alpha: 16\n", "[attention_qkv, mlp_fc1]");
    y.replace(y.find("variant: nemo"), 13, "variant: canonical");
    write_nemo(dir, y, torch_bytes(ts));
    auto a = load_adapter("c", dir.path(), base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    for (const auto& u : units) expect_module(**a, 1, u.second, base, 4, 4.0f);
    EXPECT_FALSE((*a)->layers[0][0].has_value());
  }
}

TEST(NemoLoader, RealTarFixtures) {
  // tests/data/formats/model{,_gz}.nemo: torch 1.13 bf16 lora_kqv_adapter in [2, 8] = arange(16)/16,
  // out [12, 2] = arange(24)/-24 for one layer; the yaml has only num_layers and lora_tuning
  // (adapter_dim 2, alpha 4). 12 rows = (4 heads + 2 x 1 group) x head_dim 2.
  const ModelConfig base = make_base(/*hidden=*/8, /*heads=*/4, /*kv=*/1, /*head_dim=*/2, /*inter=*/16, /*layers=*/1);
  for (const char* file : {"model.nemo", "model_gz.nemo"}) {
    SCOPED_TRACE(file);
    TempDir dir;
    write_file(dir / file, file_bytes(kFormats + "/" + file));
    ASSERT_TRUE(probe_adapter_dir(dir.path()).is_ok());
    auto a = load_adapter("fx", dir.path(), base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    const auto& q = (*a)->layers[0][0];
    const auto& k = (*a)->layers[0][1];
    const auto& v = (*a)->layers[0][2];
    ASSERT_TRUE(q && k && v);
    EXPECT_EQ(q->scale, 2.0f);
    for (size_t i = 0; i < 16; ++i) EXPECT_EQ(q->a[i], bf16_to_f32(f32_to_bf16(static_cast<float>(i) / 16))) << i;
    EXPECT_EQ(k->a, q->a);
    auto out = [](int row, int c) { return bf16_to_f32(f32_to_bf16(static_cast<float>(row * 2 + c) / -24)); };
    for (int row = 0; row < 8; ++row)
      for (int c = 0; c < 2; ++c) EXPECT_EQ(q->b[row * 2 + c], out(row, c));
    for (int row = 0; row < 2; ++row)
      for (int c = 0; c < 2; ++c) {
        EXPECT_EQ(k->b[row * 2 + c], out(8 + row, c));
        EXPECT_EQ(v->b[row * 2 + c], out(10 + row, c));
      }
  }
}

TEST(NemoLoader, MalformedInputsAreRefusedNamingTheFile) {
  const ModelConfig base = make_base();
  const NemoFixture f = nemo_fixture(base, 4);
  const std::string ckpt = torch_bytes(f.tensors, DType::kBF16);
  const std::string targets = "[attention_qkv, attention_dense, mlp_fc1, mlp_fc2]";
  const std::string yaml = nemo_yaml(4, "    alpha: 8\n", targets);
  auto run_yaml = [&](const std::string& y, const std::string& c, StatusCode code,
                      std::initializer_list<std::string> needles, AdapterLoadOptions o = {}) {
    TempDir dir;
    write_nemo(dir, y, c);
    auto a = load_adapter("bad", dir.path(), base, o);
    expect_error(a.status(), code, needles);
    if (!a.is_ok()) {
      EXPECT_NE(a.status().message().find(dir / "adapter.nemo"), std::string::npos) << a.status().message();
    }
  };
  run_yaml("peft: [unclosed\n  - x: {", ckpt, StatusCode::kCorrupt, {"model_config.yaml", "YAML"});
  run_yaml("- just\n- a list\n", ckpt, StatusCode::kCorrupt, {"model_config.yaml", "mapping"});
  run_yaml("num_layers: 2\n", ckpt, StatusCode::kUnsupported, {"model_config.yaml", "not a PEFT adapter"});
  {
    std::string y = yaml;
    y.replace(y.find("hidden_size: 16"), 15, "hidden_size: 32");
    run_yaml(y, ckpt, StatusCode::kInvalidArgument, {"model_config.yaml", "hidden_size 32", "16", "base/config.json"});
    std::string g = yaml;
    g.replace(g.find("num_query_groups: 2"), 19, "num_query_groups: 4");
    run_yaml(g, ckpt, StatusCode::kInvalidArgument, {"num_query_groups 4", "num_key_value_heads"});
    std::string n = yaml;
    n.replace(n.find("num_query_groups: 2"), 19, "num_query_groups: null");
    run_yaml(n, ckpt, StatusCode::kInvalidArgument, {"num_query_groups 4"});  // null -> heads (MHA)
    std::string l = yaml;
    l.replace(l.find("num_layers: 2"), 13, "num_layers: 3");
    run_yaml(l, ckpt, StatusCode::kInvalidArgument, {"num_layers 3"});
    std::string h = yaml;
    h.replace(h.find("hidden_size: 16"), 15, "hidden_size: sixteen");
    run_yaml(h, ckpt, StatusCode::kCorrupt, {"hidden_size", "integer"});
  }
  run_yaml(nemo_yaml(4, "", "[attention_qkv, lm_head]"), ckpt, StatusCode::kUnsupported, {"lm_head", "target module"});
  {
    std::string wt = yaml;
    wt.replace(wt.find("weight_tying: false"), 19, "weight_tying: true");
    run_yaml(wt, ckpt, StatusCode::kUnsupported, {"weight_tying"});
  }
  {
    std::string y = yaml;
    y.replace(y.find("tensor_model_parallel_size: 1"), 29, "tensor_model_parallel_size: 2");
    run_yaml(y, ckpt, StatusCode::kUnsupported, {"tensor_model_parallel_size 2"});
    std::string s = yaml;
    s.replace(s.find("peft_scheme: lora"), 17, "peft_scheme: ptuning");
    run_yaml(s, ckpt, StatusCode::kUnsupported, {"peft_scheme", "ptuning"});
    std::string act = yaml;
    act.replace(act.find("activation: fast-swiglu"), 23, "activation: gelu");
    run_yaml(act, ckpt, StatusCode::kUnsupported, {"activation", "gelu"});
  }
  // Weights for a module that target_modules does not list.
  run_yaml(nemo_yaml(4, "", "[attention_qkv, mlp_fc1, mlp_fc2]"), ckpt, StatusCode::kCorrupt,
           {"lora_dense_attention_adapter", "attention_dense", "target_modules"});
  // Rank differs from adapter_dim; rank above the limit.
  run_yaml(nemo_yaml(8, "", targets), ckpt, StatusCode::kCorrupt, {"rank 4", "adapter_dim 8"});
  {
    AdapterLoadOptions o;
    o.max_rank = 3;
    run_yaml(yaml, ckpt, StatusCode::kUnsupported, {"rank 4", "NIM_MAX_LORA_RANK"}, o);
  }
  {  // Wrong fused row count, missing linear_out, legacy keys, unknown keys, foreign pickle global.
    auto ts = f.tensors;
    ts[1] = {ts[1].name, {24, 4}, values(96, 1)};
    run_yaml(yaml, torch_bytes(ts), StatusCode::kInvalidArgument,
             {"lora_kqv_adapter.linear_out", "[24, 4]", "32 rows"});
    auto missing = f.tensors;
    missing.erase(missing.begin() + 1);
    run_yaml(yaml, torch_bytes(missing), StatusCode::kCorrupt,
             {"lora_kqv_adapter.linear_in", "no matching linear_out"});
    auto legacy = f.tensors;
    legacy.push_back(
        {"model.language_model.encoder.layers.0.self_attention.adapter_layer.lora_kqv_adapter.linear_in.weight",
         {4, 16},
         values(64, 1)});
    run_yaml(yaml, torch_bytes(legacy), StatusCode::kUnsupported, {"legacy", "model.language_model"});
    auto unknown = f.tensors;
    unknown.push_back(
        {"model.decoder.layers.0.mlp.adapter_layer.lora_moe_adapter.linear_in.weight", {4, 16}, values(64, 1)});
    run_yaml(yaml, torch_bytes(unknown), StatusCode::kUnsupported, {"lora_moe_adapter", "not a NeMo LoRA weight"});
    auto far = f.tensors;
    far.push_back({nemo_key(5, kFc2, true), {4, 24}, values(96, 1)});
    run_yaml(yaml, torch_bytes(far), StatusCode::kInvalidArgument, {"layers.5", "layer 5", "2 layers"});
    run_yaml(yaml, make_ckpt(Pk().global("os", "system").str("ls").op(0x85).op('R').stop(), {}),
             StatusCode::kUnsupported, {"model_weights.ckpt", "os.system"});
    run_yaml(yaml, torch_bytes({}), StatusCode::kCorrupt, {"model_weights.ckpt", "no LoRA weights"});
  }
  {  // Archive-level problems.
    TempDir dir;
    write_file(dir / "a.nemo",
               tar_of({{"./model_config.yaml", yaml}, {"../x", "evil"}, {"./model_weights.ckpt", ckpt}}));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt, {dir / "a.nemo", "../x"});
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kCorrupt, {dir / "a.nemo", "../x"});
    write_file(dir / "a.nemo", tar_of({{"./model_config.yaml", yaml}}));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt,
                 {dir / "a.nemo", "model_weights.ckpt"});
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kCorrupt, {dir / "a.nemo", "model_weights.ckpt"});
    write_file(dir / "a.nemo", tar_of({{"./model_weights.ckpt", ckpt}, {"./other.txt", "x"}}));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt,
                 {dir / "a.nemo", "model_config.yaml", "model_weights.ckpt, other.txt"});
    write_file(dir / "a.nemo", tar_of({{"./model_config.yaml", yaml}, {"./mp_rank_00/model_weights.ckpt", ckpt}}));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kUnsupported,
                 {dir / "a.nemo", "mp_rank_00"});
    const std::string t = tar_of({{"./model_config.yaml", yaml}, {"./model_weights.ckpt", ckpt}});
    write_file(dir / "a.nemo", t.substr(0, t.size() - 1024 - 700));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt, {dir / "a.nemo"});
    write_file(dir / "a.nemo", gzip(t).substr(0, 40));
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kCorrupt, {dir / "a.nemo"});
    write_file(dir / "a.nemo", t);
    write_file(dir / "b.nemo", t);
    expect_error(load_adapter("t", dir.path(), base).status(), StatusCode::kInvalidArgument,
                 {"2 .nemo files", "a.nemo, b.nemo"});
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kInvalidArgument, {"exactly one"});
    fs::remove(dir / "b.nemo");
    ASSERT_TRUE(probe_adapter_dir(dir.path()).is_ok());
    write_file(dir / "adapter_config.json", peft_config(4, 8, "[\"q_proj\"]"));
    expect_error(probe_adapter_dir(dir.path()), StatusCode::kInvalidArgument,
                 {"adapter_config.json", "a.nemo", "one adapter"});
  }
}

// Random byte flips and truncations of valid adapter files: every load returns (a value or an
// error naming the file); nothing crashes (run under `make asan` too).
TEST(AdapterLoader, RandomCorruptionNeverCrashes) {
  const ModelConfig base = make_base();
  const NemoFixture f = nemo_fixture(base, 2);
  const std::string nemo = tar_of({{"./model_config.yaml", nemo_yaml(2, "    alpha: 4\n", "[all]")},
                                   {"./model_weights.ckpt", torch_bytes(f.tensors, DType::kBF16)}});
  const auto pairs = all_pairs(base, 2, {LoraModule::kQ, LoraModule::kDown});
  const std::string bin = torch_bytes(pairs);
  const std::string cfg = peft_config(2, 4, R"(["q_proj", "down_proj"])");
  TempDir st_dir;
  make_peft(st_dir, cfg, pairs);
  const std::string st = file_bytes(st_dir / "adapter_model.safetensors");
  std::mt19937 rng(1234);
  for (const auto& [file, good] : std::vector<std::pair<std::string, std::string>>{
           {"adapter.nemo", nemo}, {"adapter_model.bin", bin}, {"adapter_model.safetensors", st}}) {
    SCOPED_TRACE(file);
    TempDir dir;
    if (file != "adapter.nemo") write_file(dir / "adapter_config.json", cfg);
    write_file(dir / file, good);
    ASSERT_TRUE(load_adapter("ok", dir.path(), base).is_ok())
        << load_adapter("ok", dir.path(), base).status().to_string();
    for (int it = 0; it < 150; ++it) {
      std::string bad = good;
      if (it % 5 == 4) {
        bad.resize(rng() % bad.size());
      } else {
        for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k)
          bad[rng() % bad.size()] = static_cast<char>(rng() & 0xFF);
      }
      write_file(dir / file, bad);
      auto a = load_adapter("fuzz", dir.path(), base);
      if (!a.is_ok()) {
        EXPECT_NE(a.status().message().find(dir.path()), std::string::npos) << a.status().to_string();
      }
    }
  }
}

// ---------------------------------------------------------------- demo adapters

// The demo adapters (tools/demo/train.py) in models/demo ($LPX_DEMO_ROOT overrides, e.g. to check a
// fresh training run before copying it in).
struct DemoCase {
  const char* name;
  const char* format;
  int rank;
  float scale;
  std::vector<std::string> modules;
};

const std::vector<DemoCase>& demo_cases() {
  static const std::vector<std::string> all = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                               "gate_proj", "up_proj", "down_proj"};
  static const std::vector<DemoCase> cases = {
      {"count", "peft-safetensors", 16, 2.0f, all},
      {"upper",
       "peft-safetensors",
       4,
       static_cast<float>(8 / std::sqrt(4.0)),
       {"q_proj", "k_proj", "v_proj", "o_proj"}},
      {"reverse", "peft-bin", 8, 2.0f, {"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"}},
      {"shift", "nemo", 32, 2.0f, {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}},
  };
  return cases;
}

std::string demo_root() {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("LPX_DEMO_ROOT")) roots.push_back(env);
  roots.push_back(std::string(LPX_SOURCE_DIR) + "/models/demo");
  return roots.front();
}

TEST(AdapterLoader, DemoAdaptersLoad) {
  const std::string root = demo_root();

  auto base = load_config(root + "/base/config.json");
  ASSERT_TRUE(base.is_ok()) << base.status().to_string();
  int loaded = 0;
  for (const auto& c : demo_cases()) {
    SCOPED_TRACE(c.name);
    const std::string dir = root + "/loras/" + c.name;
    if (!is_directory(dir)) continue;
    EXPECT_TRUE(probe_adapter_dir(dir).is_ok()) << probe_adapter_dir(dir).to_string();
    auto a = load_adapter(c.name, dir, *base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    ++loaded;
    EXPECT_EQ((*a)->format, c.format);
    EXPECT_EQ((*a)->max_rank, c.rank);
    EXPECT_EQ((*a)->target_modules(), c.modules);
    ASSERT_EQ(static_cast<int64_t>((*a)->layers.size()), base->n_layers);
    for (const auto& layer : (*a)->layers) {
      int adapted = 0;
      for (const auto& m : layer) {
        if (!m) continue;
        ++adapted;
        EXPECT_EQ(m->rank, c.rank);
        EXPECT_EQ(m->scale, c.scale);
        EXPECT_EQ(m->a.size(), static_cast<size_t>(m->rank * m->in_dim));
        EXPECT_EQ(m->b.size(), static_cast<size_t>(m->out_dim * m->rank));
      }
      EXPECT_EQ(adapted, static_cast<int>(c.modules.size()));
    }
    // A rank limit below the adapter's rank is refused with the variable to raise.
    AdapterLoadOptions small;
    small.max_rank = c.rank - 1;
    expect_error(load_adapter(c.name, dir, *base, small).status(), StatusCode::kUnsupported, {"NIM_MAX_LORA_RANK"});
  }
  EXPECT_EQ(loaded, 4);
}

// tests/data/lora/demo_reference.json ($LPX_DEMO_REFERENCE overrides): per adapter, the size and
// CRC-32 of its files, and per module the shapes, scale, sampled elements and weighted sums of A
// and B as tools/demo/reference.py's loader computes them (tests/data/lora/make_demo_reference.py).
TEST(AdapterLoader, DemoAdaptersMatchReferenceLoader) {
  const std::string root = demo_root();
  const char* env = std::getenv("LPX_DEMO_REFERENCE");
  const std::string ref_path = env ? env : std::string(LPX_TESTDATA_DIR) + "/lora/demo_reference.json";
  ASSERT_TRUE(file_exists(ref_path)) << ref_path << " missing";
  const json ref = json::parse(file_bytes(ref_path));
  auto base = load_config(root + "/base/config.json");
  ASSERT_TRUE(base.is_ok());
  for (const auto& [name, adapter_ref] : ref["adapters"].items()) {
    SCOPED_TRACE(name);
    const std::string dir = root + "/loras/" + name;
    for (const auto& [fname, fref] : adapter_ref["files"].items()) {
      const std::string bytes = file_bytes(dir + "/" + fname);
      const uint32_t crc = crc32_update(0, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ASSERT_TRUE(bytes.size() == fref["size"].get<size_t>() && crc == fref["crc32"].get<uint32_t>())
          << dir << "/" << fname << " differs from the file " << ref_path
          << " was made from: the demo adapters were retrained; rerun tests/data/lora/make_demo_reference.py";
    }
    auto a = load_adapter(name, dir, *base);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    size_t count = 0;
    for (const auto& layer : (*a)->layers)
      for (const auto& m : layer) count += m.has_value();
    EXPECT_EQ(count, adapter_ref["modules"].size());
    for (const auto& [key, mref] : adapter_ref["modules"].items()) {
      SCOPED_TRACE(key);
      const int64_t layer = mref["layer"].get<int64_t>();
      const auto mod = lora_module_from_name(mref["module"].get<std::string>());
      ASSERT_TRUE(mod.has_value());
      const auto& w = (*a)->layers.at(layer)[static_cast<int>(*mod)];
      ASSERT_TRUE(w.has_value());
      EXPECT_EQ(w->scale, mref["scale"].get<float>());
      EXPECT_EQ(w->rank, mref["a_shape"][0].get<int>());
      EXPECT_EQ(w->in_dim, mref["a_shape"][1].get<int64_t>());
      EXPECT_EQ(w->out_dim, mref["b_shape"][0].get<int64_t>());
      EXPECT_EQ(w->rank, mref["b_shape"][1].get<int>());
      for (const char* which : {"a", "b"}) {
        const std::vector<float>& v = which[0] == 'a' ? w->a : w->b;
        for (const auto& s : mref[std::string(which) + "_samples"]) {
          const size_t i = s[0].get<size_t>();
          ASSERT_LT(i, v.size());
          EXPECT_EQ(v[i], s[1].get<float>()) << which << "[" << i << "]";
        }
        double weighted = 0;
        for (size_t i = 0; i < v.size(); ++i) weighted += static_cast<double>(v[i]) * static_cast<double>(i % 97 + 1);
        const double want = mref[std::string(which) + "_weighted_sum"].get<double>();
        EXPECT_NEAR(weighted, want, 1e-9 * std::max(1.0, std::fabs(want))) << which;
      }
    }
  }
}

}  // namespace
}  // namespace lpx
