// The canonical in-memory LoRA adapter, whatever format it came from (PEFT safetensors/.bin, NeMo):
// per layer and per target projection, A [r, in] and B [out, r] in f32 with the scale folded in
// separately. Immutable once built; shared between the host tier and the device tier.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/lora_batch.h"

namespace lpx {

struct LoraModuleWeights {
  int rank = 0;
  float scale = 1.0f;    // alpha / r, or alpha / sqrt(r) with rsLoRA (per-module patterns applied)
  int64_t in_dim = 0;    // K
  int64_t out_dim = 0;   // N
  std::vector<float> a;  // [rank, in_dim]
  std::vector<float> b;  // [out_dim, rank]
  // The narrowest of f32 / bf16 / f16 that holds every value of a and b exactly (set by the
  // loaders): the device tier stores the module in it, so bf16 adapters take half the room and
  // half the memory traffic, without changing a single value.
  DType device_dtype = DType::kF32;
};

struct LoraAdapter {
  std::string name;    // the store folder name (the API's model id)
  std::string path;    // folder it was loaded from
  std::string format;  // "peft-safetensors", "peft-bin", "nemo"
  int max_rank = 0;    // largest rank over modules
  // layers[l][m]: absent when that projection is not adapted in that layer.
  std::vector<std::array<std::optional<LoraModuleWeights>, kNumLoraModules>> layers;

  // Bytes of A and B (f32) — the host-tier cost.
  size_t bytes() const;
  // Room in the device tier, in f32 units: sum over adapted modules of rank x (in + out) x the
  // device dtype's size / 4, each of A and B rounded up to 16 floats (64-byte alignment).
  size_t device_floats() const;
  // Sets every module's device_dtype from its values.
  void choose_device_dtypes();
  // Names of the adapted modules ("q_proj", ...), for logs and /v1/models.
  std::vector<std::string> target_modules() const;
};

using AdapterPtr = std::shared_ptr<const LoraAdapter>;

// f32 units that `numel` values of type t take in the device tier (rounded up to 64 bytes).
size_t lora_device_floats(size_t numel, DType t);

}  // namespace lpx
