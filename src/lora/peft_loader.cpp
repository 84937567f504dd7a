// Hugging Face PEFT LoRA loader: adapter_config.json + adapter_model.safetensors | adapter_model.bin.
#include <array>
#include <map>
#include <set>

#include "core/log.h"
#include "formats/safetensors.h"
#include "formats/torch_checkpoint.h"
#include "lora/adapter_loader.h"
#include "lora/peft_config.h"

namespace lpx {
namespace {

struct PeftKey {
  int64_t layer = 0;
  LoraModule module = LoraModule::kQ;
  bool is_a = true;
  std::string adapter;  // the adapter name inside the key ("default"), "" when absent
};

bool consume(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

bool contains(std::string_view s, std::string_view needle) { return s.find(needle) != std::string_view::npos; }

// [base_model.model.]model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}[.{adapter}].weight
Result<PeftKey> parse_peft_key(const std::string& name, const std::string& file) {
  const std::string where = file + ": tensor '" + name + "'";
  if (contains(name, "lora_magnitude_vector")) return unsupported(where + ": DoRA magnitude vectors are not supported");
  if (contains(name, "lora_embedding_A") || contains(name, "lora_embedding_B"))
    return unsupported(where + ": LoRA on embeddings is not supported");
  if (contains(name, "lm_head")) return unsupported(where + ": weights for lm_head are not supported");
  if (contains(name, "embed_tokens")) return unsupported(where + ": weights for embed_tokens are not supported");
  std::string_view s = name;
  consume(&s, "base_model.model.");
  PeftKey k;
  bool ok = consume(&s, "model.layers.");
  size_t digits = 0;
  while (ok && digits < s.size() && digits < 9 && s[digits] >= '0' && s[digits] <= '9') ++digits;
  ok = ok && digits > 0 && digits < s.size() && s[digits] == '.';
  if (ok) {
    k.layer = std::stoll(std::string(s.substr(0, digits)));
    s.remove_prefix(digits + 1);
  }
  bool attn = false;
  if (ok) {
    attn = consume(&s, "self_attn.");
    ok = attn || consume(&s, "mlp.");
  }
  if (ok) {
    const size_t dot = s.find('.');
    auto m = dot == std::string_view::npos ? std::nullopt : lora_module_from_name(s.substr(0, dot));
    ok = m.has_value() && (static_cast<int>(*m) <= static_cast<int>(LoraModule::kO)) == attn;
    if (ok) {
      k.module = *m;
      s.remove_prefix(dot + 1);
    }
  }
  if (ok) {
    if (consume(&s, "lora_A")) {
      k.is_a = true;
    } else if (consume(&s, "lora_B")) {
      k.is_a = false;
    } else {
      ok = false;
    }
  }
  if (ok) {
    if (s == ".bias") return unsupported(where + ": a bias on lora_B (lora_bias) is not supported");
    if (!consume(&s, ".")) {
      ok = false;
    } else if (s != "weight") {
      const size_t dot = s.find('.');
      ok = dot != std::string_view::npos && dot > 0 && s.substr(dot + 1) == "weight";
      if (ok) k.adapter = std::string(s.substr(0, dot));
    }
  }
  if (!ok) {
    if (name.size() > 5 && name.substr(name.size() - 5) == ".bias")
      return unsupported(where + ": bias weights are not supported");
    return unsupported(where +
                       ": not a LoRA weight of a Llama projection (expected "
                       "base_model.model.model.layers.N.{self_attn.{q,k,v,o}_proj,mlp.{gate,up,down}_proj}."
                       "lora_{A,B}.weight)");
  }
  return k;
}

struct Pair {
  std::string a_name, b_name;
  const TensorView* a = nullptr;
  const TensorView* b = nullptr;
};

template <typename Checkpoint>
Result<AdapterPtr> build(const std::string& name, const AdapterFiles& files, const PeftAdapterConfig& config,
                         const std::vector<std::array<bool, kNumLoraModules>>& targeted, const Checkpoint& ckpt,
                         const ModelConfig& base, const AdapterLoadOptions& opts) {
  const std::string& file = files.weights_path;
  std::map<std::pair<int64_t, int>, Pair> pairs;
  std::set<std::string> adapter_names;
  for (const std::string& tname : ckpt.names()) {
    LPX_ASSIGN_OR_RETURN(PeftKey k, parse_peft_key(tname, file));
    const std::string where = file + ": tensor '" + tname + "'";
    if (k.layer >= base.n_layers)
      return invalid_argument(where + ": layer " + std::to_string(k.layer) + " does not exist: the base model has " +
                              std::to_string(base.n_layers) + " layers (num_hidden_layers in " +
                              (base.source.empty() ? std::string("the base config.json") : base.source) + ")");
    const std::string path = peft_module_path(k.layer, k.module);
    if (!targeted[k.layer][static_cast<int>(k.module)])
      return corrupt(where + ": is for " + path + ", which the target_modules of " + config.source + " do not select");
    LPX_ASSIGN_OR_RETURN(const TensorView* view, ckpt.get(tname));
    adapter_names.insert(k.adapter);
    Pair& p = pairs[{k.layer, static_cast<int>(k.module)}];
    std::string& slot_name = k.is_a ? p.a_name : p.b_name;
    if (!slot_name.empty())
      return corrupt(where + ": duplicates '" + slot_name + "' (two lora_" + (k.is_a ? "A" : "B") + " tensors for " +
                     path + ")");
    slot_name = tname;
    (k.is_a ? p.a : p.b) = view;
  }
  if (adapter_names.size() > 1) {
    std::string list;
    for (const auto& n : adapter_names) list += (list.empty() ? "'" : ", '") + n + "'";
    return unsupported(file + ": holds the weights of several adapters (" + list + "); save one adapter per folder");
  }

  auto adapter = std::make_shared<LoraAdapter>();
  adapter->name = name;
  adapter->path = files.dir;
  adapter->format = files.weights_are_bin ? "peft-bin" : "peft-safetensors";
  adapter->layers.resize(static_cast<size_t>(base.n_layers));
  const std::string rank_origin = config.source + " (r / rank_pattern)";
  for (const auto& [key, p] : pairs) {
    const auto [layer, mi] = key;
    const auto m = static_cast<LoraModule>(mi);
    const std::string path = peft_module_path(layer, m);
    if (p.a == nullptr) return corrupt(file + ": tensor '" + p.b_name + "' has no matching lora_A for " + path);
    if (p.b == nullptr) return corrupt(file + ": tensor '" + p.a_name + "' has no matching lora_B for " + path);
    const std::string wa = file + ": tensor '" + p.a_name + "'", wb = file + ": tensor '" + p.b_name + "'";
    LPX_RETURN_IF_ERROR(check_lora_pair(*p.a, *p.b, m, layer, base, config.rank_for(path), rank_origin, opts, wa, wb));
    LoraModuleWeights w;
    w.rank = static_cast<int>(p.a->shape[0]);
    w.in_dim = p.a->shape[1];
    w.out_dim = p.b->shape[0];
    w.scale = config.scale_for(path);
    LPX_ASSIGN_OR_RETURN(w.a, tensor_to_f32(*p.a, wa));
    LPX_ASSIGN_OR_RETURN(w.b, tensor_to_f32(*p.b, wb));
    w.device_dtype = pair_device_dtype(*p.a, *p.b);
    adapter->layers[layer][mi] = std::move(w);
  }
  LPX_RETURN_IF_ERROR(finish_adapter(adapter.get(), file));
  size_t missing = 0;
  for (int64_t l = 0; l < base.n_layers; ++l)
    for (int m = 0; m < kNumLoraModules; ++m)
      if (targeted[l][m] && !adapter->layers[l][m]) ++missing;
  if (missing > 0)
    LPX_LOG_WARN(file + ": " + std::to_string(missing) +
                 " projections selected by target_modules have no weights; they are left unadapted");
  return AdapterPtr(std::move(adapter));
}

}  // namespace

Result<AdapterPtr> load_peft_adapter(const std::string& name, const AdapterFiles& files, const ModelConfig& base,
                                     const AdapterLoadOptions& opts) {
  LPX_ASSIGN_OR_RETURN(PeftAdapterConfig config, load_peft_config(files.config_path));
  LPX_ASSIGN_OR_RETURN(auto targeted, resolve_peft_targets(config, base.n_layers));
  if (config.fan_in_fan_out)
    LPX_LOG_WARN(files.config_path +
                 ": fan_in_fan_out is true, which PEFT ignores for the nn.Linear projections of Llama models "
                 "(lora_A/lora_B are stored [r, in] / [out, r] either way)");
  if (files.weights_are_bin) {
    LPX_ASSIGN_OR_RETURN(TorchCheckpoint ckpt, TorchCheckpoint::open(files.weights_path));
    return build(name, files, config, targeted, ckpt, base, opts);
  }
  LPX_ASSIGN_OR_RETURN(SafetensorsFile st, SafetensorsFile::open(files.weights_path));
  return build(name, files, config, targeted, st, base, opts);
}

}  // namespace lpx
