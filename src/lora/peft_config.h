// Hugging Face PEFT adapter_config.json for LoRA: parsing, validation (features we refuse), and
// PEFT's own rules for which modules an adapter targets and at which rank/alpha.
//
// Matching follows peft (tuners_utils.check_target_module_exists, utils.other.get_pattern_key) on
// the module paths of LlamaForCausalLM ("model.layers.3.self_attn.q_proj"):
//   - target_modules as a string: re.fullmatch(regex, path); "all-linear" (any case): the seven
//     projections (PEFT takes every Linear except the output embedding); null: PEFT's default for
//     Llama/Mistral/Qwen2, [q_proj, v_proj];
//   - as a list: path == entry, or path ends with "." + entry; then, only for the suffix form,
//     layers_to_transform (int or list) filters on the layer index that
//     re.match(r".*\.{layers_pattern}\.(\d+)\.", path) (default r".*\.[^.]*\.(\d+)\.") captures;
//   - exclude_modules (same two forms) is checked first and wins;
//   - rank_pattern / alpha_pattern: the first key, in file order, with
//     re.match(rf"(.*\.)?({key})$", path) gives the module's r / lora_alpha;
//   - scale = alpha / r, or alpha / sqrt(r) with use_rslora (computed in double, stored as float).
// Regular expressions are run with PCRE2 (Python's re syntax for everything PEFT configs use).
//
// Errors (each message starts with the source path and names the field):
//   corrupt: not JSON / not an object, a field of the wrong type, r <= 0, an invalid regex, PEFT's
//     own consistency rules (layers_to_transform with a string target_modules, layers_pattern
//     without layers_to_transform);
//   unsupported: peft_type other than LORA, use_dora, bias other than "none", lora_bias,
//     non-empty modules_to_save, layer_replication, trainable_token_indices, target_parameters,
//     alora_invocation_tokens, use_qalora, arrow_config, task_type other than CAUSAL_LM/null,
//     init_lora_weights that rewrites the base weights (pissa*, olora, corda, loftq) or is
//     unknown, a target that is not one of the seven Llama projections (lm_head, embed_tokens,
//     a norm, GPT-2's c_attn...).
// Unknown fields (newer PEFT versions) are ignored. fan_in_fan_out is accepted: PEFT resets it to
// false for nn.Linear targets (every Llama projection), and lora_A/lora_B are stored [r, in] /
// [out, r] either way; the loader logs a warning.
//
// Thread-safety: a parsed config is immutable; its methods are const and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/lora_batch.h"

namespace lpx {

class PyRegex;  // a compiled Python-style regex (PCRE2), defined in peft_config.cpp

// target_modules / exclude_modules.
struct PeftModuleSpec {
  enum class Kind { kNone, kList, kRegex };
  Kind kind = Kind::kNone;
  std::vector<std::string> names;           // kList (all-linear and null are expanded to names)
  std::string regex;                        // kRegex: the pattern as written
  std::shared_ptr<const PyRegex> compiled;  // kRegex
  bool all_linear = false;                  // written as "all-linear"
  bool defaulted = false;                   // target_modules was null/absent: PEFT's Llama default

  // As PEFT: fullmatch for a regex; equality or "." + entry suffix for a list.
  bool matches(const std::string& path) const;
  bool exact(const std::string& path) const;  // a list entry equals the path
};

struct PeftAdapterConfig {
  std::string source;  // the file (or name) it was parsed from
  int rank = 8;        // "r" (PEFT's default when absent)
  double alpha = 8;    // "lora_alpha"
  bool use_rslora = false;
  bool fan_in_fan_out = false;
  PeftModuleSpec target_modules;
  PeftModuleSpec exclude_modules;
  std::vector<int64_t> layers_to_transform;                   // empty: every layer
  std::vector<std::string> layers_pattern;                    // empty: PEFT's generic layer-index regex
  std::vector<std::pair<std::string, int>> rank_pattern;      // file order
  std::vector<std::pair<std::string, double>> alpha_pattern;  // file order
  std::string base_model_name_or_path;
  std::string task_type;  // "" when null

  // check_target_module_exists(config, path).
  bool is_targeted(const std::string& path) const;
  int rank_for(const std::string& path) const;
  double alpha_for(const std::string& path) const;
  float scale_for(const std::string& path) const;

  // Compiled patterns (one per rank_pattern / alpha_pattern entry, and for layers_pattern).
  std::vector<std::shared_ptr<const PyRegex>> rank_regex, alpha_regex, layer_regex;
};

// Parses adapter_config.json text; `source` prefixes every error. Checks the targets against the
// module names every Llama-family model has (see resolve_peft_targets for the base-specific part).
Result<PeftAdapterConfig> parse_peft_config(const std::string& json_text, const std::string& source);
// Reads and parses a file (not_found / io_error when it cannot be read).
Result<PeftAdapterConfig> load_peft_config(const std::string& path);

// "model.layers.3.self_attn.q_proj" (LlamaForCausalLM's module path).
std::string peft_module_path(int64_t layer, LoraModule module);
// "q_proj" -> kQ ... "down_proj" -> kDown; nullopt otherwise.
std::optional<LoraModule> lora_module_from_name(std::string_view name);
// Every named module of LlamaForCausalLM with n_layers layers (as torch's named_modules(), minus the
// root; both the old per-layer and the current model-level rotary_emb).
std::vector<std::string> llama_module_paths(int64_t n_layers);

// The projections a base with n_layers adapts under this config: targeted[layer][module]. Errors:
// unsupported when the config selects a module that is not a projection (naming it), or when a
// target_modules list entry matches no module of the model; invalid_argument when nothing at all
// is selected (e.g. layers_to_transform beyond the base's layers).
Result<std::vector<std::array<bool, kNumLoraModules>>> resolve_peft_targets(const PeftAdapterConfig& config,
                                                                            int64_t n_layers);

}  // namespace lpx
