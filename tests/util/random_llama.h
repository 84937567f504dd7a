// Test helper: tiny random Llama model folders (demo tokenizer files, random weights in a chosen
// dtype) and random LoRA adapters for them, with a "merge" that folds an adapter into the weights
// (W + scale * B A) so the LoRA path can be checked against a plain model.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "lora/adapter.h"
#include "model/config.h"

namespace lpx::testutil {

struct RandomLlamaSpec {
  int hidden = 32, layers = 2, heads = 4, kv_heads = 2, head_dim = 8, inter = 64, vocab = 584, ctx = 64;
  uint32_t seed = 7;
  float stddev = 0.3f;
};

struct TensorF32 {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
using TensorMap = std::map<std::string, TensorF32>;

// The ModelConfig that `spec` describes.
ModelConfig config_of(const RandomLlamaSpec& spec);
// The random weights (HF Llama names) for `spec`.
TensorMap random_llama_tensors(const RandomLlamaSpec& spec);
// Writes config.json, model.safetensors (weights converted to `dtype`) and the demo tokenizer files.
void write_llama_folder(const std::string& dir, const RandomLlamaSpec& spec, const TensorMap& tensors, DType dtype);

// A random adapter: rank r on `modules` (indices into LoraModule order) of every layer.
std::shared_ptr<LoraAdapter> random_adapter(const RandomLlamaSpec& spec, const std::string& name, int rank,
                                            const std::vector<int>& modules, float scale, uint32_t seed);
// Writes `adapter` as a Hugging Face PEFT folder (adapter_config.json + adapter_model.safetensors in
// `dtype`) with r = its max rank and lora_alpha = scale * r (all modules must share rank and scale).
void write_peft_adapter(const std::string& dir, const LoraAdapter& adapter, DType dtype);
// W += scale * B A for every adapted module (f32 math).
void merge_adapter(TensorMap* tensors, const LoraAdapter& adapter);

}  // namespace lpx::testutil
