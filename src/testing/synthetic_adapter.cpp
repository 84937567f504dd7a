// Synthetic LoRA adapters and the PEFT writer.
#include "testing/synthetic_adapter.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "testing/safetensors_writer.h"

namespace lpx {
namespace {

const char* module_path(LoraModule m) {
  static const char* kPath[kNumLoraModules] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                               "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                               "mlp.down_proj"};
  return kPath[static_cast<int>(m)];
}

void module_dims(const ModelConfig& c, LoraModule m, int64_t* in, int64_t* out) {
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  const int64_t ins[] = {H, H, H, Q, H, H, I};
  const int64_t outs[] = {Q, KV, KV, H, I, I, H};
  *in = ins[static_cast<int>(m)];
  *out = outs[static_cast<int>(m)];
}

}  // namespace

std::vector<LoraModule> all_lora_modules() {
  std::vector<LoraModule> v;
  for (int m = 0; m < kNumLoraModules; ++m) v.push_back(static_cast<LoraModule>(m));
  return v;
}

std::shared_ptr<LoraAdapter> synthetic_adapter(const ModelConfig& c, const std::string& name, int rank,
                                               const std::vector<LoraModule>& modules, float scale, uint64_t seed,
                                               float stddev) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, stddev);
  auto a = std::make_shared<LoraAdapter>();
  a->name = name;
  a->path = "synthetic:" + name;
  a->format = "synthetic";
  a->max_rank = rank;
  a->layers.resize(static_cast<size_t>(c.n_layers));
  for (auto& layer : a->layers) {
    for (LoraModule m : modules) {
      LoraModuleWeights w;
      w.rank = rank;
      w.scale = scale;
      module_dims(c, m, &w.in_dim, &w.out_dim);
      w.a.resize(static_cast<size_t>(rank * w.in_dim));
      w.b.resize(static_cast<size_t>(w.out_dim * rank));
      // bf16-representable values, like an adapter saved in bf16 (the common case).
      for (auto& v : w.a) v = bf16_to_f32(f32_to_bf16(nd(rng)));
      for (auto& v : w.b) v = bf16_to_f32(f32_to_bf16(nd(rng)));
      layer[static_cast<size_t>(m)] = std::move(w);
    }
  }
  a->choose_device_dtypes();
  return a;
}

Status write_peft_adapter(const std::string& dir, const LoraAdapter& adapter, DType dtype) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create the folder: " + ec.message());
  SafetensorsWriter w;
  std::vector<std::string> targets;
  float scale = 1.0f;
  for (size_t l = 0; l < adapter.layers.size(); ++l) {
    for (int mi = 0; mi < kNumLoraModules; ++mi) {
      const auto& mw = adapter.layers[l][static_cast<size_t>(mi)];
      if (!mw) continue;
      if (mw->rank != adapter.max_rank)
        return invalid_argument(dir + ": write_peft_adapter needs one rank for all modules");
      scale = mw->scale;
      const std::string path = module_path(static_cast<LoraModule>(mi));
      const std::string mod = path.substr(path.find('.') + 1);
      if (std::find(targets.begin(), targets.end(), mod) == targets.end()) targets.push_back(mod);
      const std::string p = "base_model.model.model.layers." + std::to_string(l) + "." + path;
      LPX_RETURN_IF_ERROR(w.add_f32_as(p + ".lora_A.weight", dtype, {mw->rank, mw->in_dim}, mw->a));
      LPX_RETURN_IF_ERROR(w.add_f32_as(p + ".lora_B.weight", dtype, {mw->out_dim, mw->rank}, mw->b));
    }
  }
  w.set_metadata("format", "pt");
  LPX_RETURN_IF_ERROR(w.write(dir + "/adapter_model.safetensors"));
  nlohmann::json cfg = {{"peft_type", "LORA"},
                        {"task_type", "CAUSAL_LM"},
                        {"r", adapter.max_rank},
                        {"lora_alpha", scale * static_cast<float>(adapter.max_rank)},
                        {"target_modules", targets},
                        {"lora_dropout", 0.0},
                        {"bias", "none"},
                        {"base_model_name_or_path", "synthetic"}};
  std::ofstream out(dir + "/adapter_config.json");
  out << cfg.dump(2) << "\n";
  if (!out) return io_error(dir + "/adapter_config.json: write failed");
  return Status::ok();
}

}  // namespace lpx
