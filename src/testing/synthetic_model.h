// Synthetic random-weight models of real shapes (fixed seed) for benchmarks and tests: a full
// Hugging Face folder (config.json + model.safetensors, tokenizer files copied from a donor).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lpx {

struct SyntheticShape {
  std::string name;
  int64_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, inter = 0, vocab = 0, max_pos = 2048;
  bool tied = false;
};

// Known shapes: "smollm2-135m", "tinyllama-1.1b", "demo" (the demo model's shape).
Result<SyntheticShape> synthetic_shape(const std::string& name);
std::vector<std::string> synthetic_shape_names();

// Writes DIR/{config.json, model.safetensors} with N(0, 0.02) weights (norms = 1) in `dtype`, and
// copies tokenizer.json / tokenizer_config.json from `tokenizer_donor_dir`. Skips the work when
// DIR already holds a model of that shape and seed (a stamp file records them).
Status write_synthetic_model(const std::string& dir, const SyntheticShape& shape, DType dtype, uint64_t seed,
                             const std::string& tokenizer_donor_dir);

}  // namespace lpx
