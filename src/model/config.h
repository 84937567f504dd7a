// ModelConfig: a Hugging Face config.json for a Llama-family decoder (Llama, Mistral, Qwen2),
// validated, plus the RoPE inverse frequencies it implies (default, linear and llama3 scaling).
//
// Thread-safety: plain values and pure functions.
// Errors from load_config/parse_config (each names the file and the field):
//   io_error/not_found: the file cannot be read;
//   corrupt: not JSON / not an object, a required field missing (hidden_size, num_hidden_layers,
//            num_attention_heads, intermediate_size, vocab_size), a field of the wrong type, a
//            non-positive size, num_attention_heads not divisible by num_key_value_heads,
//            hidden_size not divisible by num_attention_heads when head_dim is absent, odd head_dim,
//            incomplete rope_scaling;
//   unsupported: an architecture other than LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM
//            (or model_type llama/mistral/qwen2 when "architectures" is absent), hidden_act other
//            than silu, rope_scaling type other than linear/llama3/default, mlp_bias true,
//            partial_rotary_factor != 1.
// Defaults follow transformers' config classes: num_key_value_heads = num_attention_heads,
// head_dim = hidden_size / num_attention_heads, rope_theta 10000 (Qwen2: 10000 too), rms_norm_eps
// 1e-6, hidden_act silu, tie_word_embeddings false, max_position_embeddings 2048 (Llama) / 131072
// (Mistral) / 32768 (Qwen2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace lpx {

enum class Architecture { kLlama, kMistral, kQwen2 };
// "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM".
const char* architecture_name(Architecture arch);

enum class RopeScalingType { kNone, kLinear, kLlama3 };
const char* rope_scaling_name(RopeScalingType type);  // "none", "linear", "llama3"

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;                              // linear, llama3
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string architecture;  // as written in config.json, e.g. "LlamaForCausalLM"
  std::string model_type;    // "llama", "mistral", "qwen2" ("" if absent)

  int64_t hidden_size = 0;        // n_embd
  int64_t n_layers = 0;           // num_hidden_layers
  int64_t n_heads = 0;            // num_attention_heads
  int64_t n_kv_heads = 0;         // num_key_value_heads (GQA when < n_heads)
  int64_t head_dim = 0;           // per-head size; q_proj out = n_heads * head_dim
  int64_t intermediate_size = 0;  // MLP width
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;

  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;

  bool tie_word_embeddings = false;  // lm_head shares embed_tokens
  bool qkv_bias = false;             // q/k/v projections have biases (Qwen2 always; Llama attention_bias)
  bool o_bias = false;               // o_proj has a bias (Llama attention_bias only)

  std::vector<int64_t> bos_token_ids;  // bos_token_id: int, list or null -> 0..n ids
  std::vector<int64_t> eos_token_ids;  // eos_token_id: int, list or null
  std::string torch_dtype;             // "float16", "bfloat16", ... ("" if absent); also read from "dtype"
  // Attention window in tokens: Mistral sliding_window (absent -> 4096 as transformers, null -> none);
  // Qwen2 only when use_sliding_window is true; never for Llama.
  std::optional<int64_t> sliding_window;
  std::string hidden_act = "silu";

  std::string source;  // the path (or name) it was parsed from, for error messages

  int64_t q_dim() const { return n_heads * head_dim; }      // rows of q_proj / cols of o_proj
  int64_t kv_dim() const { return n_kv_heads * head_dim; }  // rows of k_proj and v_proj
};

// Reads and parses <path> (a config.json; a model folder means <folder>/config.json).
Result<ModelConfig> load_config(const std::string& config_json_path);
// Parses config.json text; `source` names it in errors.
Result<ModelConfig> parse_config(const std::string& json_text, const std::string& source);

// RoPE inverse frequencies, one per rotated pair: [head_dim / 2].
// inv_freq[i] = 1 / rope_theta^(2i / head_dim), then scaled as transformers does:
//   linear: inv_freq / factor;
//   llama3 (_compute_llama3_parameters): with wavelen = 2*pi / inv_freq,
//     low_wl = orig / low_freq_factor, high_wl = orig / high_freq_factor:
//     wavelen > low_wl  -> inv_freq / factor;  wavelen < high_wl -> inv_freq;
//     otherwise s = (orig / wavelen - low) / (high - low), (1 - s) * inv_freq / factor + s * inv_freq.
// Computed in double and rounded to float once (transformers computes in float32, so values may
// differ from it in the last bit). The attention scaling factor is 1 for all supported types.
std::vector<float> rope_inv_freq(const ModelConfig& config);

}  // namespace lpx
