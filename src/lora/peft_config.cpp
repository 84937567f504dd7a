// adapter_config.json (PEFT LoRA) parsing and PEFT's target / rank / alpha matching rules.
#include "lora/peft_config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/file_util.h"

namespace lpx {

// ------------------------------------------------------------------------------------------ regex

// A pattern compiled once; match() is re.match (anchored at the start), fullmatch() re.fullmatch.
class PyRegex {
 public:
  PyRegex(const PyRegex&) = delete;
  PyRegex& operator=(const PyRegex&) = delete;
  ~PyRegex() {
    if (code_ != nullptr) pcre2_code_free(code_);
  }

  static Result<std::shared_ptr<const PyRegex>> compile(const std::string& pattern, const std::string& what) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &err, &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof(buf));
      return corrupt(what + ": invalid regular expression '" + pattern + "' at offset " + std::to_string(offset) +
                     ": " + reinterpret_cast<const char*>(buf));
    }
    return std::shared_ptr<const PyRegex>(new PyRegex(code));
  }

  bool match(std::string_view s, std::string* group1 = nullptr) const { return run(s, PCRE2_ANCHORED, group1); }
  bool fullmatch(std::string_view s) const { return run(s, PCRE2_ANCHORED | PCRE2_ENDANCHORED, nullptr); }

 private:
  explicit PyRegex(pcre2_code* code) : code_(code) {}

  bool run(std::string_view s, uint32_t options, std::string* group1) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (md == nullptr) return false;
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, options, md, nullptr);
    bool ok = rc >= 0;
    if (ok && group1 != nullptr) {
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (rc >= 2 && ov[2] != PCRE2_UNSET) {
        *group1 = std::string(s.substr(ov[2], ov[3] - ov[2]));
      } else {
        group1->clear();
      }
    }
    pcre2_match_data_free(md);
    return ok;
  }

  pcre2_code* code_ = nullptr;
};

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kSupportedList = "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj";
constexpr std::array<const char*, kNumLoraModules> kModuleNames = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                                   "gate_proj", "up_proj", "down_proj"};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string last_component(std::string_view s) {
  const size_t dot = s.rfind('.');
  return std::string(dot == std::string_view::npos ? s : s.substr(dot + 1));
}

bool is_projection_path(const std::string& path) {
  return lora_module_from_name(last_component(path)).has_value() && path.rfind("model.layers.", 0) == 0;
}

// Why a target is refused, for messages. `entry`: a target_modules list entry (else a module path
// the config selects); `made_for`: base_model_name_or_path, when known.
std::string not_a_projection(const std::string& src, const std::string& module, bool entry,
                             const std::string& made_for) {
  const std::string last = last_component(module);
  std::string msg = src + ": target_modules " + (entry ? "entry '" : "selects '") + module + "'";
  if (last == "lm_head" || last == "embed_tokens")
    msg += ": LoRA on " + last + " is not supported";
  else
    msg += entry ? " is not a Llama projection" : ", which is not a Llama projection";
  if (!made_for.empty()) msg += " (the adapter was made for '" + made_for + "')";
  return msg + "; supported: " + kSupportedList;
}

// JSON field helpers; `src` names the file in messages.
class Fields {
 public:
  Fields(const ojson& obj, const std::string& src) : obj_(obj), src_(src) {}

  const ojson* get(const char* key) const {
    auto it = obj_.find(key);
    return (it == obj_.end() || it->is_null()) ? nullptr : &*it;
  }
  Status bad(const char* key, const std::string& what) const {
    return corrupt(src_ + ": field \"" + key + "\" " + what);
  }
  Status refuse(const char* key, const std::string& what) const {
    return unsupported(src_ + ": \"" + key + "\" " + what);
  }

  Status boolean(const char* key, bool* out) const {
    const ojson* v = get(key);
    if (v == nullptr) return Status::ok();
    if (!v->is_boolean()) return bad(key, "must be true or false, got " + v->dump());
    *out = v->get<bool>();
    return Status::ok();
  }
  Status string(const char* key, std::string* out) const {
    const ojson* v = get(key);
    if (v == nullptr) return Status::ok();
    if (!v->is_string()) return bad(key, "must be a string, got " + v->dump());
    *out = v->get<std::string>();
    return Status::ok();
  }
  // A JSON integer (or an integral float such as 16.0).
  static bool as_int(const ojson& v, int64_t* out) {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
      *out = v.get<int64_t>();
      return true;
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
        *out = static_cast<int64_t>(d);
        return true;
      }
    }
    return false;
  }
  Status number(const char* key, double* out) const {
    const ojson* v = get(key);
    if (v == nullptr) return Status::ok();
    if (!v->is_number() || !std::isfinite(v->get<double>())) return bad(key, "must be a number, got " + v->dump());
    *out = v->get<double>();
    return Status::ok();
  }
  // Present and "set": not null, not false, not an empty list/object/string.
  bool is_set(const char* key) const {
    const ojson* v = get(key);
    if (v == nullptr) return false;
    if (v->is_boolean()) return v->get<bool>();
    if (v->is_array() || v->is_object() || v->is_string())
      return !v->empty() && !(v->is_string() && v->get<std::string>().empty());
    return true;
  }

 private:
  const ojson& obj_;
  const std::string& src_;
};

// target_modules / exclude_modules: null, a string (regex or "all-linear") or a list of strings.
Status parse_module_spec(const Fields& f, const char* key, bool is_target, PeftModuleSpec* out,
                         const std::string& src) {
  const ojson* v = f.get(key);
  if (v == nullptr) {
    if (is_target) {
      out->kind = PeftModuleSpec::Kind::kList;
      out->names = {"q_proj", "v_proj"};  // PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for llama
      out->defaulted = true;
    }
    return Status::ok();
  }
  if (v->is_string()) {
    const std::string text = v->get<std::string>();
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (is_target && lower == "all-linear") {
      out->kind = PeftModuleSpec::Kind::kList;
      out->names.assign(kModuleNames.begin(), kModuleNames.end());
      out->all_linear = true;
      return Status::ok();
    }
    LPX_ASSIGN_OR_RETURN(out->compiled, PyRegex::compile(text, src + ": field \"" + key + "\""));
    out->kind = PeftModuleSpec::Kind::kRegex;
    out->regex = text;
    return Status::ok();
  }
  if (v->is_array()) {
    out->kind = PeftModuleSpec::Kind::kList;
    for (const auto& e : *v) {
      if (!e.is_string() || e.get<std::string>().empty())
        return f.bad(key, "must list non-empty strings, got " + e.dump());
      const std::string name = e.get<std::string>();
      if (std::find(out->names.begin(), out->names.end(), name) == out->names.end()) out->names.push_back(name);
    }
    return Status::ok();
  }
  return f.bad(key, "must be a string or a list of strings, got " + v->dump());
}

template <typename T>
Status parse_pattern(const Fields& f, const char* key, bool integer, std::vector<std::pair<std::string, T>>* out,
                     std::vector<std::shared_ptr<const PyRegex>>* compiled, const std::string& src) {
  const ojson* v = f.get(key);
  if (v == nullptr) return Status::ok();
  if (!v->is_object()) return f.bad(key, "must be an object, got " + v->dump());
  for (const auto& [k, val] : v->items()) {
    T value{};
    if (integer) {
      int64_t i = 0;
      if (!Fields::as_int(val, &i) || i <= 0 || i > (1 << 20))
        return f.bad(key, "entry '" + k + "' must be a positive integer rank, got " + val.dump());
      value = static_cast<T>(i);
    } else {
      if (!val.is_number() || !std::isfinite(val.template get<double>()))
        return f.bad(key, "entry '" + k + "' must be a number, got " + val.dump());
      value = static_cast<T>(val.template get<double>());
    }
    // peft.utils.other.get_pattern_key: re.match(rf"(.*\.)?({key})$", module_path).
    LPX_ASSIGN_OR_RETURN(auto re,
                         PyRegex::compile("(.*\\.)?(" + k + ")$", src + ": field \"" + key + "\" entry '" + k + "'"));
    out->emplace_back(k, value);
    compiled->push_back(std::move(re));
  }
  return Status::ok();
}

// init_lora_weights values that leave the base weights as they are.
Status check_init(const Fields& f) {
  const ojson* v = f.get("init_lora_weights");
  if (v == nullptr || v->is_boolean()) return Status::ok();
  if (!v->is_string()) return f.bad("init_lora_weights", "must be a boolean or a string, got " + v->dump());
  const std::string s = v->get<std::string>();
  if (s == "gaussian" || s == "eva" || s == "orthogonal") return Status::ok();
  if (s.rfind("pissa", 0) == 0 || s == "olora" || s == "corda" || s == "loftq")
    return f.refuse("init_lora_weights",
                    "is '" + s +
                        "': such an adapter only works on the base weights it rewrote; save it "
                        "with PEFT's path_initial_model_for_weight_conversion to get a plain LoRA");
  return f.refuse("init_lora_weights",
                  "is '" + s + "', which loraplex does not know (it may rewrite the base weights)");
}

}  // namespace

// ------------------------------------------------------------------------------------ matching

bool PeftModuleSpec::exact(const std::string& path) const {
  return kind == Kind::kList && std::find(names.begin(), names.end(), path) != names.end();
}

bool PeftModuleSpec::matches(const std::string& path) const {
  switch (kind) {
    case Kind::kNone: return false;
    case Kind::kRegex: return compiled->fullmatch(path);
    case Kind::kList:
      for (const auto& n : names)
        if (path == n || ends_with(path, "." + n)) return true;
      return false;
  }
  return false;
}

bool PeftAdapterConfig::is_targeted(const std::string& path) const {
  if (exclude_modules.matches(path)) return false;
  if (target_modules.kind == PeftModuleSpec::Kind::kRegex) return target_modules.compiled->fullmatch(path);
  if (target_modules.exact(path)) return true;
  if (!target_modules.matches(path)) return false;
  if (layers_to_transform.empty()) return true;
  std::string index;
  bool found = false;
  for (const auto& re : layer_regex) {
    if (re->match(path, &index)) {
      found = true;
      break;
    }
  }
  if (!found || index.empty()) return false;
  int64_t layer = -1;
  try {
    layer = std::stoll(index);
  } catch (...) {
    return false;
  }
  return std::find(layers_to_transform.begin(), layers_to_transform.end(), layer) != layers_to_transform.end();
}

int PeftAdapterConfig::rank_for(const std::string& path) const {
  for (size_t i = 0; i < rank_pattern.size(); ++i)
    if (rank_regex[i]->match(path)) return rank_pattern[i].second;
  return rank;
}

double PeftAdapterConfig::alpha_for(const std::string& path) const {
  for (size_t i = 0; i < alpha_pattern.size(); ++i)
    if (alpha_regex[i]->match(path)) return alpha_pattern[i].second;
  return alpha;
}

float PeftAdapterConfig::scale_for(const std::string& path) const {
  const double r = rank_for(path);
  const double a = alpha_for(path);
  return static_cast<float>(use_rslora ? a / std::sqrt(r) : a / r);
}

std::string peft_module_path(int64_t layer, LoraModule module) {
  const int m = static_cast<int>(module);
  const char* part = m <= static_cast<int>(LoraModule::kO) ? "self_attn" : "mlp";
  return "model.layers." + std::to_string(layer) + "." + part + "." + kModuleNames[m];
}

std::optional<LoraModule> lora_module_from_name(std::string_view name) {
  for (int m = 0; m < kNumLoraModules; ++m)
    if (name == kModuleNames[m]) return static_cast<LoraModule>(m);
  return std::nullopt;
}

std::vector<std::string> llama_module_paths(int64_t n_layers) {
  std::vector<std::string> out = {"model", "model.embed_tokens", "model.layers"};
  for (int64_t l = 0; l < n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l);
    out.push_back(p);
    out.push_back(p + ".self_attn");
    for (int m = 0; m <= static_cast<int>(LoraModule::kO); ++m)
      out.push_back(peft_module_path(l, static_cast<LoraModule>(m)));
    out.push_back(p + ".self_attn.rotary_emb");
    out.push_back(p + ".mlp");
    for (int m = static_cast<int>(LoraModule::kGate); m < kNumLoraModules; ++m)
      out.push_back(peft_module_path(l, static_cast<LoraModule>(m)));
    out.push_back(p + ".mlp.act_fn");
    out.push_back(p + ".input_layernorm");
    out.push_back(p + ".post_attention_layernorm");
  }
  out.push_back("model.norm");
  out.push_back("model.rotary_emb");
  out.push_back("lm_head");
  return out;
}

Result<std::vector<std::array<bool, kNumLoraModules>>> resolve_peft_targets(const PeftAdapterConfig& config,
                                                                            int64_t n_layers) {
  std::vector<std::array<bool, kNumLoraModules>> targeted(static_cast<size_t>(std::max<int64_t>(n_layers, 0)));
  for (auto& t : targeted) t.fill(false);
  const std::vector<std::string> paths = llama_module_paths(n_layers);
  bool any = false;
  for (const auto& path : paths) {
    if (!config.is_targeted(path)) continue;
    if (!is_projection_path(path))
      return unsupported(not_a_projection(config.source, path, false, config.base_model_name_or_path));
    // model.layers.<l>.<part>.<proj>
    const size_t a = std::string("model.layers.").size();
    const int64_t layer = std::stoll(path.substr(a, path.find('.', a) - a));
    targeted[layer][static_cast<int>(*lora_module_from_name(last_component(path)))] = true;
    any = true;
  }
  if (config.target_modules.kind == PeftModuleSpec::Kind::kList && !config.target_modules.all_linear) {
    for (const auto& entry : config.target_modules.names) {
      bool hit = false;
      for (const auto& path : paths) hit = hit || path == entry || ends_with(path, "." + entry);
      if (!hit)
        return unsupported(config.source + ": target_modules entry '" + entry +
                           "' matches no module of this base model (a Llama model with " + std::to_string(n_layers) +
                           " layers; supported: " + kSupportedList + ")");
    }
  }
  if (!any)
    return invalid_argument(config.source +
                            ": the target_modules/layers_to_transform/exclude_modules of this adapter "
                            "select no projection of a base model with " +
                            std::to_string(n_layers) + " layers");
  return targeted;
}

// ------------------------------------------------------------------------------------- parsing

Result<PeftAdapterConfig> parse_peft_config(const std::string& json_text, const std::string& source) {
  ojson root;
  try {
    root = ojson::parse(json_text);
  } catch (const std::exception& e) {
    return corrupt(source + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) return corrupt(source + ": not a JSON object");
  const Fields f(root, source);
  PeftAdapterConfig c;
  c.source = source;

  // What kind of adapter this is.
  std::string peft_type;
  LPX_RETURN_IF_ERROR(f.string("peft_type", &peft_type));
  if (peft_type.empty()) return corrupt(source + ": missing \"peft_type\" (expected \"LORA\")");
  if (peft_type != "LORA")
    return unsupported(source + ": peft_type '" + peft_type + "' is not supported (only LORA adapters are)");
  LPX_RETURN_IF_ERROR(f.string("task_type", &c.task_type));
  if (!c.task_type.empty() && c.task_type != "CAUSAL_LM")
    return unsupported(source + ": task_type '" + c.task_type +
                       "' is not supported (loraplex serves causal LMs: CAUSAL_LM)");

  // Scalars.
  if (const ojson* v = f.get("r")) {
    int64_t r = 0;
    if (!Fields::as_int(*v, &r) || r <= 0 || r > (1 << 20))
      return f.bad("r", "must be a positive integer, got " + v->dump());
    c.rank = static_cast<int>(r);
  }
  LPX_RETURN_IF_ERROR(f.number("lora_alpha", &c.alpha));
  LPX_RETURN_IF_ERROR(f.boolean("use_rslora", &c.use_rslora));
  LPX_RETURN_IF_ERROR(f.boolean("fan_in_fan_out", &c.fan_in_fan_out));
  LPX_RETURN_IF_ERROR(f.string("base_model_name_or_path", &c.base_model_name_or_path));

  // Features that change the forward pass or need weights we do not load.
  bool flag = false;
  LPX_RETURN_IF_ERROR(f.boolean("use_dora", &flag));
  if (flag) return f.refuse("use_dora", "is true: DoRA adapters are not supported (plain LoRA only)");
  std::string bias = "none";
  LPX_RETURN_IF_ERROR(f.string("bias", &bias));
  if (bias != "none")
    return f.refuse("bias", "is '" + bias + "': adapters that train biases are not supported (only \"none\")");
  flag = false;
  LPX_RETURN_IF_ERROR(f.boolean("lora_bias", &flag));
  if (flag) return f.refuse("lora_bias", "is true: a bias on lora_B is not supported");
  if (const ojson* v = f.get("modules_to_save")) {
    if (!v->is_array()) return f.bad("modules_to_save", "must be a list, got " + v->dump());
    if (!v->empty())
      return f.refuse("modules_to_save",
                      "is " + v->dump() + ": adapters that carry full copies of base modules are not supported");
  }
  if (f.is_set("layer_replication")) return f.refuse("layer_replication", "is set: layer replication is not supported");
  if (f.is_set("trainable_token_indices"))
    return f.refuse("trainable_token_indices", "is set: trainable token embeddings are not supported");
  if (f.is_set("target_parameters"))
    return f.refuse("target_parameters", "is set: LoRA on raw parameters (e.g. MoE experts) is not supported");
  if (f.is_set("alora_invocation_tokens"))
    return f.refuse("alora_invocation_tokens", "is set: activated LoRA (aLoRA) is not supported");
  flag = false;
  LPX_RETURN_IF_ERROR(f.boolean("use_qalora", &flag));
  if (flag) return f.refuse("use_qalora", "is true: QALoRA is not supported");
  if (f.is_set("arrow_config")) return f.refuse("arrow_config", "is set: Arrow routing is not supported");
  LPX_RETURN_IF_ERROR(check_init(f));

  // Targets.
  LPX_RETURN_IF_ERROR(parse_module_spec(f, "target_modules", true, &c.target_modules, source));
  LPX_RETURN_IF_ERROR(parse_module_spec(f, "exclude_modules", false, &c.exclude_modules, source));
  const bool string_target = f.get("target_modules") != nullptr && f.get("target_modules")->is_string();
  if (const ojson* v = f.get("layers_to_transform")) {
    if (string_target)
      return corrupt(source + ": \"layers_to_transform\" cannot be used when \"target_modules\" is a string");
    int64_t i = 0;
    if (Fields::as_int(*v, &i)) {
      c.layers_to_transform.push_back(i);
    } else if (v->is_array()) {
      for (const auto& e : *v) {
        if (!Fields::as_int(e, &i)) return f.bad("layers_to_transform", "must list integers, got " + e.dump());
        c.layers_to_transform.push_back(i);
      }
    } else {
      return f.bad("layers_to_transform", "must be an integer or a list of integers, got " + v->dump());
    }
  }
  if (const ojson* v = f.get("layers_pattern")) {
    if (string_target)
      return corrupt(source + ": \"layers_pattern\" cannot be used when \"target_modules\" is a string");
    if (v->is_string()) {
      if (!v->get<std::string>().empty()) c.layers_pattern.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const auto& e : *v) {
        if (!e.is_string()) return f.bad("layers_pattern", "must list strings, got " + e.dump());
        c.layers_pattern.push_back(e.get<std::string>());
      }
    } else {
      return f.bad("layers_pattern", "must be a string or a list of strings, got " + v->dump());
    }
    if (!c.layers_pattern.empty() && c.layers_to_transform.empty())
      return corrupt(source + ": \"layers_pattern\" is set but \"layers_to_transform\" is not");
  }
  if (c.layers_pattern.empty()) {
    LPX_ASSIGN_OR_RETURN(auto re, PyRegex::compile(R"(.*\.[^.]*\.(\d+)\.)", source + ": layer index pattern"));
    c.layer_regex.push_back(std::move(re));
  } else {
    for (const auto& p : c.layers_pattern) {
      LPX_ASSIGN_OR_RETURN(auto re,
                           PyRegex::compile(".*\\." + p + "\\.(\\d+)\\.", source + ": field \"layers_pattern\""));
      c.layer_regex.push_back(std::move(re));
    }
  }
  LPX_RETURN_IF_ERROR(parse_pattern(f, "rank_pattern", true, &c.rank_pattern, &c.rank_regex, source));
  LPX_RETURN_IF_ERROR(parse_pattern(f, "alpha_pattern", false, &c.alpha_pattern, &c.alpha_regex, source));

  // Structural target checks that hold for every Llama-family base (each has a layer 0): a list
  // entry must name a projection; nothing that is not a projection may be selected.
  if (c.target_modules.kind == PeftModuleSpec::Kind::kList) {
    for (const auto& entry : c.target_modules.names)
      if (!lora_module_from_name(last_component(entry)))
        return unsupported(not_a_projection(source, entry, true, c.base_model_name_or_path));
  }
  for (const auto& path : llama_module_paths(1))
    if (c.is_targeted(path) && !is_projection_path(path))
      return unsupported(not_a_projection(source, path, false, c.base_model_name_or_path));
  return c;
}

Result<PeftAdapterConfig> load_peft_config(const std::string& path) {
  if (!file_exists(path)) return not_found(path + ": not found");
  LPX_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_peft_config(text, path);
}

}  // namespace lpx
