// A loaded model folder: config, weights (memory-mapped, stored dtype), tokenizer, chat template
// and the stop tokens. Immutable after load: safe to share across threads for reading.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "text/chat_template.h"
#include "model/config.h"
#include "text/tokenizer.h"
#include "model/weights.h"

namespace lpx {

struct ModelLoadOptions {
  std::string tokenizer_dir;  // where tokenizer.json lives; "" = the model folder
  bool progress_log = true;   // log load steps at INFO
  // Weight-only int8 (`--dtype q8`): the projections and lm_head become q8 copies at load
  // (model/quantize.h); false keeps every tensor in its stored dtype.
  bool quantize_q8 = false;
  // Repack bf16 projections for the vdpbf16ps kernels where they are the default
  // (model/prepack.h; the CLI sets false for env LPX_PREPACK=0). Ignored with quantize_q8.
  bool prepack_bf16 = true;
};

struct Model {
  std::string dir;
  ModelConfig config;
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;  // absent when tokenizer_config.json has none
  std::vector<int32_t> eos_ids;               // config + generation_config + tokenizer eos, deduped
  std::optional<int32_t> bos_id;
  double load_seconds = 0;

  // Loads `dir` (config.json, *.safetensors, tokenizer.json, tokenizer_config.json,
  // generation_config.json). Errors name the file and the problem.
  static Result<std::unique_ptr<Model>> load(const std::string& dir, const ModelLoadOptions& options = {});

  // Renders chat messages (a JSON array) with the model's template into a prompt string.
  Result<std::string> render_chat(const nlohmann::ordered_json& messages, bool add_generation_prompt = true) const;
  bool is_eos(int32_t token) const;
};

}  // namespace lpx
