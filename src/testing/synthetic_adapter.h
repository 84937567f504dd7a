// Synthetic random-weight LoRA adapters for a base model's shapes (benchmarks, tests), and a PEFT
// writer (adapter_config.json + adapter_model.safetensors) so they can be loaded like real ones.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "lora/adapter.h"
#include "model/config.h"

namespace lpx {

// Rank `rank` on `modules` of every layer, N(0, stddev) A and B rounded to bf16 values (the
// device tier then stores them as bf16), the given scale; fixed seed.
std::shared_ptr<LoraAdapter> synthetic_adapter(const ModelConfig& base, const std::string& name, int rank,
                                               const std::vector<LoraModule>& modules, float scale, uint64_t seed,
                                               float stddev = 0.02f);
std::vector<LoraModule> all_lora_modules();

// Writes `adapter` as a PEFT folder: weights in `dtype`, r = adapter.max_rank, lora_alpha = scale * r
// (every module must share rank and scale). Errors name the path.
Status write_peft_adapter(const std::string& dir, const LoraAdapter& adapter, DType dtype);

}  // namespace lpx
