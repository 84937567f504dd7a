// config.json parsing and validation for Llama/Mistral/Qwen2, and RoPE inverse frequencies.
#include "model/config.h"

#include <cmath>
#include <numbers>

#include <nlohmann/json.hpp>

#include "core/file_util.h"

namespace lpx {
namespace {

using nlohmann::json;

constexpr const char* kSupported = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

// Field readers. `src` names the file; `field` the key (dotted for nested ones).
class Reader {
 public:
  Reader(const json& obj, const std::string& src, const std::string& prefix = "")
      : obj_(obj), src_(src), prefix_(prefix) {}

  bool has(const char* key) const {
    auto it = obj_.find(key);
    return it != obj_.end() && !it->is_null();
  }
  const json* get(const char* key) const {
    auto it = obj_.find(key);
    return (it == obj_.end() || it->is_null()) ? nullptr : &*it;
  }
  std::string name(const char* key) const { return "\"" + prefix_ + key + "\""; }
  Status missing(const char* key) const { return corrupt(src_ + ": missing required field " + name(key)); }
  Status bad(const char* key, const std::string& what) const {
    return corrupt(src_ + ": field " + name(key) + " " + what);
  }

  // Integer field; absent/null -> *out unchanged unless required.
  Status integer(const char* key, int64_t* out, bool required) const {
    const json* v = get(key);
    if (v == nullptr) return required ? missing(key) : Status::ok();
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return bad(key, "is out of range: " + v->dump());
      *out = v->get<int64_t>();
      return Status::ok();
    }
    // Accept integral floats such as 4096.0 (some exporters write them).
    if (v->is_number_float()) {
      const double d = v->get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
        *out = static_cast<int64_t>(d);
        return Status::ok();
      }
    }
    return bad(key, "must be an integer, got " + v->dump());
  }
  Status positive(const char* key, int64_t* out, bool required) const {
    const bool present = has(key);
    LPX_RETURN_IF_ERROR(integer(key, out, required));
    if (present && *out <= 0) return bad(key, "must be > 0, got " + std::to_string(*out));
    return Status::ok();
  }
  Status number(const char* key, double* out, bool required) const {
    const json* v = get(key);
    if (v == nullptr) return required ? missing(key) : Status::ok();
    if (!v->is_number()) return bad(key, "must be a number, got " + v->dump());
    *out = v->get<double>();
    if (!std::isfinite(*out)) return bad(key, "must be finite");
    return Status::ok();
  }
  Status boolean(const char* key, bool* out) const {
    const json* v = get(key);
    if (v == nullptr) return Status::ok();
    if (!v->is_boolean()) return bad(key, "must be true or false, got " + v->dump());
    *out = v->get<bool>();
    return Status::ok();
  }
  Status string(const char* key, std::string* out) const {
    const json* v = get(key);
    if (v == nullptr) return Status::ok();
    if (!v->is_string()) return bad(key, "must be a string, got " + v->dump());
    *out = v->get<std::string>();
    return Status::ok();
  }
  // int, list of ints, or null.
  Status token_ids(const char* key, std::vector<int64_t>* out) const {
    const json* v = get(key);
    out->clear();
    if (v == nullptr) return Status::ok();
    auto one = [&](const json& x) -> Status {
      if (!x.is_number_integer() || (!x.is_number_unsigned() && x.get<int64_t>() < 0))
        return bad(key, "must be a non-negative integer or a list of them, got " + v->dump());
      out->push_back(x.get<int64_t>());
      return Status::ok();
    };
    if (v->is_array()) {
      for (const auto& x : *v) LPX_RETURN_IF_ERROR(one(x));
      return Status::ok();
    }
    return one(*v);
  }

 private:
  const json& obj_;
  const std::string& src_;
  std::string prefix_;
};

Status parse_rope_scaling(const json& rs, const std::string& src, const char* field, RopeScaling* out) {
  const std::string fname = std::string("\"") + field + "\"";
  if (!rs.is_object()) return corrupt(src + ": field " + fname + " must be an object or null, got " + rs.dump());
  Reader r(rs, src, std::string(field) + ".");
  std::string type;
  if (r.has("rope_type")) {
    LPX_RETURN_IF_ERROR(r.string("rope_type", &type));
  } else {
    LPX_RETURN_IF_ERROR(r.string("type", &type));
  }
  if (type.empty()) return corrupt(src + ": field " + fname + " has no \"rope_type\" (or \"type\")");
  *out = RopeScaling{};
  if (type == "default") return Status::ok();
  if (type == "linear") {
    out->type = RopeScalingType::kLinear;
    LPX_RETURN_IF_ERROR(r.number("factor", &out->factor, true));
    if (out->factor <= 0) return r.bad("factor", "must be > 0");
    return Status::ok();
  }
  if (type == "llama3") {
    out->type = RopeScalingType::kLlama3;
    LPX_RETURN_IF_ERROR(r.number("factor", &out->factor, true));
    LPX_RETURN_IF_ERROR(r.number("low_freq_factor", &out->low_freq_factor, true));
    LPX_RETURN_IF_ERROR(r.number("high_freq_factor", &out->high_freq_factor, true));
    LPX_RETURN_IF_ERROR(r.positive("original_max_position_embeddings", &out->original_max_position_embeddings, true));
    if (out->factor <= 0) return r.bad("factor", "must be > 0");
    if (out->low_freq_factor <= 0) return r.bad("low_freq_factor", "must be > 0");
    if (out->high_freq_factor <= out->low_freq_factor)
      return r.bad("high_freq_factor", "must be greater than low_freq_factor");
    return Status::ok();
  }
  return unsupported(src + ": rope scaling type '" + type + "' in " + fname +
                     " is not supported (supported: linear, llama3, or none)");
}

}  // namespace

const char* architecture_name(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "LlamaForCausalLM";
    case Architecture::kMistral: return "MistralForCausalLM";
    case Architecture::kQwen2: return "Qwen2ForCausalLM";
  }
  return "?";
}

const char* rope_scaling_name(RopeScalingType type) {
  switch (type) {
    case RopeScalingType::kNone: return "none";
    case RopeScalingType::kLinear: return "linear";
    case RopeScalingType::kLlama3: return "llama3";
  }
  return "?";
}

Result<ModelConfig> load_config(const std::string& config_json_path) {
  const std::string path =
      is_directory(config_json_path) ? path_join(config_json_path, "config.json") : config_json_path;
  if (!file_exists(path)) return not_found(path + ": no such file");
  LPX_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_config(text, path);
}

Result<ModelConfig> parse_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    return corrupt(source + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) return corrupt(source + ": top level is not a JSON object");

  ModelConfig c;
  c.source = source;
  try {
    Reader r(j, source);
    LPX_RETURN_IF_ERROR(r.string("model_type", &c.model_type));

    // Architecture: "architectures"[0], else model_type.
    std::string arch;
    if (const json* a = r.get("architectures")) {
      if (!a->is_array() || a->empty() || !(*a)[0].is_string())
        return r.bad("architectures", "must be a non-empty list of strings, got " + a->dump());
      arch = (*a)[0].get<std::string>();
      if (a->size() > 1)
        return unsupported(source + ": \"architectures\" lists " + std::to_string(a->size()) +
                           " architectures; expected one of " + kSupported);
    } else if (c.model_type == "llama") {
      arch = "LlamaForCausalLM";
    } else if (c.model_type == "mistral") {
      arch = "MistralForCausalLM";
    } else if (c.model_type == "qwen2") {
      arch = "Qwen2ForCausalLM";
    } else if (c.model_type.empty()) {
      return corrupt(source + ": missing required field \"architectures\" (and no \"model_type\")");
    } else {
      return unsupported(source + ": model_type '" + c.model_type + "' is not supported (supported: " + kSupported +
                         ")");
    }
    if (arch == "LlamaForCausalLM")
      c.arch = Architecture::kLlama;
    else if (arch == "MistralForCausalLM")
      c.arch = Architecture::kMistral;
    else if (arch == "Qwen2ForCausalLM")
      c.arch = Architecture::kQwen2;
    else
      return unsupported(source + ": architecture '" + arch + "' is not supported (supported: " + kSupported + ")");
    c.architecture = arch;

    LPX_RETURN_IF_ERROR(r.positive("hidden_size", &c.hidden_size, true));
    LPX_RETURN_IF_ERROR(r.positive("num_hidden_layers", &c.n_layers, true));
    LPX_RETURN_IF_ERROR(r.positive("num_attention_heads", &c.n_heads, true));
    LPX_RETURN_IF_ERROR(r.positive("intermediate_size", &c.intermediate_size, true));
    LPX_RETURN_IF_ERROR(r.positive("vocab_size", &c.vocab_size, true));
    c.n_kv_heads = c.n_heads;
    LPX_RETURN_IF_ERROR(r.positive("num_key_value_heads", &c.n_kv_heads, false));
    if (c.n_heads % c.n_kv_heads != 0)
      return r.bad("num_key_value_heads", "(" + std::to_string(c.n_kv_heads) + ") must divide num_attention_heads (" +
                                              std::to_string(c.n_heads) + ")");
    if (r.has("head_dim")) {
      LPX_RETURN_IF_ERROR(r.positive("head_dim", &c.head_dim, false));
    } else {
      if (c.hidden_size % c.n_heads != 0)
        return r.bad("hidden_size", "(" + std::to_string(c.hidden_size) +
                                        ") is not divisible by num_attention_heads (" + std::to_string(c.n_heads) +
                                        ") and no head_dim is given");
      c.head_dim = c.hidden_size / c.n_heads;
    }
    if (c.head_dim % 2 != 0)
      return r.bad("head_dim", "must be even for rotary embeddings, got " + std::to_string(c.head_dim));

    switch (c.arch) {
      case Architecture::kLlama: c.max_position_embeddings = 2048; break;
      case Architecture::kMistral: c.max_position_embeddings = 4096 * 32; break;
      case Architecture::kQwen2: c.max_position_embeddings = 32768; break;
    }
    LPX_RETURN_IF_ERROR(r.positive("max_position_embeddings", &c.max_position_embeddings, false));
    LPX_RETURN_IF_ERROR(r.number("rms_norm_eps", &c.rms_norm_eps, false));
    if (c.rms_norm_eps < 0) return r.bad("rms_norm_eps", "must be >= 0");

    // RoPE: rope_theta / rope_scaling, or the newer combined "rope_parameters".
    LPX_RETURN_IF_ERROR(r.number("rope_theta", &c.rope_theta, false));
    if (const json* rs = r.get("rope_scaling")) {
      LPX_RETURN_IF_ERROR(parse_rope_scaling(*rs, source, "rope_scaling", &c.rope_scaling));
    } else if (const json* rp = r.get("rope_parameters")) {
      if (rp->is_object()) {
        Reader rr(*rp, source, "rope_parameters.");
        LPX_RETURN_IF_ERROR(rr.number("rope_theta", &c.rope_theta, false));
        if (rr.has("rope_type") || rr.has("type"))
          LPX_RETURN_IF_ERROR(parse_rope_scaling(*rp, source, "rope_parameters", &c.rope_scaling));
      } else {
        return r.bad("rope_parameters", "must be an object");
      }
    }
    if (c.rope_theta <= 0) return r.bad("rope_theta", "must be > 0");
    double partial = 1.0;
    LPX_RETURN_IF_ERROR(r.number("partial_rotary_factor", &partial, false));
    if (partial != 1.0)
      return unsupported(source + ": partial_rotary_factor " + std::to_string(partial) +
                         " is not supported (only 1.0)");

    LPX_RETURN_IF_ERROR(r.boolean("tie_word_embeddings", &c.tie_word_embeddings));

    if (c.arch == Architecture::kQwen2) {
      c.qkv_bias = true;  // Qwen2Attention: q/k/v with bias, o_proj without
      c.o_bias = false;
    } else if (c.arch == Architecture::kLlama) {
      bool attention_bias = false;
      LPX_RETURN_IF_ERROR(r.boolean("attention_bias", &attention_bias));
      c.qkv_bias = c.o_bias = attention_bias;
    }
    bool mlp_bias = false;
    LPX_RETURN_IF_ERROR(r.boolean("mlp_bias", &mlp_bias));
    if (mlp_bias) return unsupported(source + ": \"mlp_bias\": true is not supported");

    LPX_RETURN_IF_ERROR(r.string("hidden_act", &c.hidden_act));
    if (c.hidden_act != "silu" && c.hidden_act != "swish")
      return unsupported(source + ": hidden_act '" + c.hidden_act + "' is not supported (only silu)");
    c.hidden_act = "silu";

    LPX_RETURN_IF_ERROR(r.token_ids("bos_token_id", &c.bos_token_ids));
    LPX_RETURN_IF_ERROR(r.token_ids("eos_token_id", &c.eos_token_ids));

    if (r.has("torch_dtype"))
      LPX_RETURN_IF_ERROR(r.string("torch_dtype", &c.torch_dtype));
    else
      LPX_RETURN_IF_ERROR(r.string("dtype", &c.torch_dtype));

    // Sliding window: Mistral uses it whenever set (absent -> transformers' default 4096, null ->
    // none); Qwen2 only with use_sliding_window; Llama never.
    bool use_sw = c.arch == Architecture::kMistral;
    if (c.arch == Architecture::kQwen2) LPX_RETURN_IF_ERROR(r.boolean("use_sliding_window", &use_sw));
    if (c.arch == Architecture::kMistral && !j.contains("sliding_window")) c.sliding_window = 4096;
    if (use_sw && r.has("sliding_window")) {
      int64_t w = 0;
      LPX_RETURN_IF_ERROR(r.positive("sliding_window", &w, false));
      c.sliding_window = w;
    }
  } catch (const json::exception& e) {  // defensive: accesses above are type-checked
    return corrupt(source + ": malformed config (" + e.what() + ")");
  }
  return c;
}

std::vector<float> rope_inv_freq(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  const int64_t n = dim / 2;
  std::vector<float> out(static_cast<size_t>(n));
  const RopeScaling& rs = config.rope_scaling;
  for (int64_t i = 0; i < n; ++i) {
    double f = 1.0 / std::pow(config.rope_theta, static_cast<double>(2 * i) / static_cast<double>(dim));
    if (rs.type == RopeScalingType::kLinear) {
      f /= rs.factor;
    } else if (rs.type == RopeScalingType::kLlama3) {
      const double orig = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = orig / rs.low_freq_factor;
      const double high_wavelen = orig / rs.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f = f / rs.factor;
      } else if (wavelen >= high_wavelen) {  // medium band: blend
        const double s = (orig / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - s) * f / rs.factor + s * f;
      }
    }
    out[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return out;
}

}  // namespace lpx
