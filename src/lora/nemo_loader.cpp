// NVIDIA NeMo LoRA loader: one .nemo (tar, maybe gzip'd) holding model_config.yaml (peft.lora_tuning
// and the model's dims) and model_weights.ckpt (torch zip+pickle, Megatron-core key names).
//
// Layout, as NeMo writes it (checked against NVIDIA/NeMo's sources: nlp/parts/peft_config.py builds
// the adapters; megatron/adapters/parallel_adapters.py scales the adapter output by alpha / dim
// with alpha defaulting to dim; megatron/adapters/mcore_mixins.py adds lora_kqv_adapter's output to
// linear_qkv's output *before* viewing it as [.., num_query_groups, (heads/groups + 2) * head_dim]
// and splitting each group into its query heads, one key head and one value head, and adds
// lora_hto4h_adapter's output to linear_fc1's output, whose first half is the gate (activated)
// and second half the up projection). So:
//   lora_kqv_adapter            linear_in [r, hidden], linear_out [(heads + 2 groups) head_dim, r]
//                               with rows, for each group g: heads/groups * head_dim q rows, then
//                               head_dim k rows, then head_dim v rows -> q/k/v share A;
//   lora_dense_attention_adapter o_proj;
//   lora_hto4h_adapter          linear_out [2 ffn, r] = [gate; up] -> gate/up share A;
//   lora_4htoh_adapter          down_proj;
//   variant "canonical" (lora_unfused_kqv_adapter.{q,k,v}_adapter, lora_unfused_hto4h_adapter.
//                               {gate,up}_adapter): one plain pair per projection.
// tools/demo/train.py (write_nemo) writes this layout and tools/demo/reference.py (_load_nemo)
// reads it independently; tests/lora compare this loader with the latter.
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <span>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "formats/tar_reader.h"
#include "formats/torch_checkpoint.h"
#include "lora/adapter_loader.h"

namespace lpx {
namespace {

// ------------------------------------------------------------------------------------ config

struct NemoDims {  // the model fields of model_config.yaml (absent -> nullopt)
  std::optional<int64_t> num_layers, hidden_size, num_attention_heads, num_query_groups, kv_channels, ffn_hidden_size;
  std::optional<int64_t> tensor_parallel, pipeline_parallel;
  std::string activation;
};

struct NemoLoraConfig {
  int rank = 0;
  double alpha = 0;
  bool qkv = false, dense = false, fc1 = false, fc2 = false;  // target_modules, expanded
  NemoDims dims;
};

bool has(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  return v.IsDefined() && !v.IsNull();
}

// An integer field: absent/null -> nullopt.
Result<std::optional<int64_t>> yaml_int(const YAML::Node& map, const char* key, const std::string& where) {
  if (!has(map, key)) return std::optional<int64_t>();
  const YAML::Node v = map[key];
  int64_t out = 0;
  if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, out))
    return corrupt(where + ": field '" + key + "' must be an integer, got '" + YAML::Dump(v) + "'");
  return std::optional<int64_t>(out);
}

Result<NemoLoraConfig> parse_nemo_config(const std::string& text, const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return corrupt(where + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) return corrupt(where + ": not a YAML mapping");
  NemoLoraConfig c;
  try {
    const YAML::Node peft = root["peft"];
    if (!peft.IsDefined() || !peft.IsMap())
      return unsupported(where + ": no 'peft' section: this .nemo is not a PEFT adapter (a full model checkpoint?)");
    if (has(peft, "peft_scheme")) {
      const std::string scheme = peft["peft_scheme"].as<std::string>();
      if (scheme != "lora")
        return unsupported(where + ": peft.peft_scheme '" + scheme + "' is not supported (only lora)");
    }
    const YAML::Node lt = peft["lora_tuning"];
    if (!lt.IsDefined() || !lt.IsMap()) return corrupt(where + ": no 'peft.lora_tuning' section");
    const std::string lwhere = where + ": peft.lora_tuning";
    LPX_ASSIGN_OR_RETURN(auto dim, yaml_int(lt, "adapter_dim", lwhere));
    if (!dim) return corrupt(lwhere + ": missing 'adapter_dim'");
    if (*dim <= 0 || *dim > (1 << 20))
      return corrupt(lwhere + ": 'adapter_dim' must be positive, got " + std::to_string(*dim));
    c.rank = static_cast<int>(*dim);
    c.alpha = static_cast<double>(c.rank);
    if (has(lt, "alpha")) {
      double a = 0;
      if (!lt["alpha"].IsScalar() || !YAML::convert<double>::decode(lt["alpha"], a) || !std::isfinite(a))
        return corrupt(lwhere + ": 'alpha' must be a number, got '" + YAML::Dump(lt["alpha"]) + "'");
      c.alpha = a;
    }
    if (has(lt, "weight_tying") && lt["weight_tying"].as<bool>())
      return unsupported(lwhere + ": weight_tying is true: tied LoRA weights are not supported");
    if (has(lt, "variant")) {
      const std::string v = lt["variant"].as<std::string>();
      if (v != "nemo" && v != "canonical")
        return unsupported(lwhere + ": variant '" + v + "' is not supported (nemo or canonical)");
    }
    std::vector<std::string> targets = {"attention_qkv"};  // NeMo's default
    if (has(lt, "target_modules")) {
      const YAML::Node t = lt["target_modules"];
      if (!t.IsSequence()) return corrupt(lwhere + ": 'target_modules' must be a list");
      targets.clear();
      for (const auto& e : t) targets.push_back(e.as<std::string>());
    }
    for (const auto& t : targets) {
      const bool qkv = t == "attention_qkv" || t == "attention" || t == "all";
      const bool dense = t == "attention_dense" || t == "attention" || t == "all";
      const bool fc1 = t == "mlp_fc1" || t == "mlp" || t == "all";
      const bool fc2 = t == "mlp_fc2" || t == "mlp" || t == "all";
      if (!qkv && !dense && !fc1 && !fc2)
        return unsupported(lwhere + ": target module '" + t + "' is not supported (attention_qkv, attention_dense, " +
                           "mlp_fc1, mlp_fc2, attention, mlp, all)");
      c.qkv = c.qkv || qkv;
      c.dense = c.dense || dense;
      c.fc1 = c.fc1 || fc1;
      c.fc2 = c.fc2 || fc2;
    }
    NemoDims& d = c.dims;
    LPX_ASSIGN_OR_RETURN(d.num_layers, yaml_int(root, "num_layers", where));
    LPX_ASSIGN_OR_RETURN(d.hidden_size, yaml_int(root, "hidden_size", where));
    LPX_ASSIGN_OR_RETURN(d.num_attention_heads, yaml_int(root, "num_attention_heads", where));
    LPX_ASSIGN_OR_RETURN(d.num_query_groups, yaml_int(root, "num_query_groups", where));
    LPX_ASSIGN_OR_RETURN(d.kv_channels, yaml_int(root, "kv_channels", where));
    LPX_ASSIGN_OR_RETURN(d.ffn_hidden_size, yaml_int(root, "ffn_hidden_size", where));
    LPX_ASSIGN_OR_RETURN(d.tensor_parallel, yaml_int(root, "tensor_model_parallel_size", where));
    LPX_ASSIGN_OR_RETURN(d.pipeline_parallel, yaml_int(root, "pipeline_model_parallel_size", where));
    if (has(root, "activation")) d.activation = root["activation"].as<std::string>();
    if (d.tensor_parallel.value_or(1) != 1 || d.pipeline_parallel.value_or(1) != 1)
      return unsupported(where + ": tensor_model_parallel_size " + std::to_string(d.tensor_parallel.value_or(1)) +
                         " / pipeline_model_parallel_size " + std::to_string(d.pipeline_parallel.value_or(1)) +
                         ": model-parallel .nemo checkpoints are not supported (re-save with both at 1)");
    if (!d.activation.empty() && d.activation != "fast-swiglu" && d.activation != "swiglu")
      return unsupported(where + ": activation '" + d.activation +
                         "' is not the SiLU-gated MLP of Llama-family models (fast-swiglu)");
  } catch (const YAML::Exception& e) {
    return corrupt(where + ": " + e.what());
  }
  return c;
}

// model_config.yaml's dims against config.json. NeMo's defaults: num_query_groups null ->
// num_attention_heads, kv_channels null -> hidden_size / num_attention_heads.
Status check_dims(const NemoDims& d, const ModelConfig& base, const std::string& where) {
  const std::string base_src = base.source.empty() ? "the base config.json" : base.source;
  auto check = [&](const char* field, std::optional<int64_t> v, int64_t want, const char* base_field) -> Status {
    if (v && *v != want)
      return invalid_argument(where + ": " + field + " " + std::to_string(*v) + " does not match the base model's " +
                              std::to_string(want) + " (" + base_field + " in " + base_src +
                              "): this adapter was made for another base model");
    return Status::ok();
  };
  LPX_RETURN_IF_ERROR(check("num_layers", d.num_layers, base.n_layers, "num_hidden_layers"));
  LPX_RETURN_IF_ERROR(check("hidden_size", d.hidden_size, base.hidden_size, "hidden_size"));
  LPX_RETURN_IF_ERROR(check("ffn_hidden_size", d.ffn_hidden_size, base.intermediate_size, "intermediate_size"));
  if (d.num_attention_heads) {
    LPX_RETURN_IF_ERROR(check("num_attention_heads", d.num_attention_heads, base.n_heads, "num_attention_heads"));
    LPX_RETURN_IF_ERROR(check("num_query_groups", d.num_query_groups.value_or(*d.num_attention_heads), base.n_kv_heads,
                              "num_key_value_heads"));
    std::optional<int64_t> kv = d.kv_channels;
    if (!kv && d.hidden_size && *d.num_attention_heads > 0) kv = *d.hidden_size / *d.num_attention_heads;
    LPX_RETURN_IF_ERROR(check("kv_channels", kv, base.head_dim, "head_dim"));
  } else {
    LPX_RETURN_IF_ERROR(check("num_query_groups", d.num_query_groups, base.n_kv_heads, "num_key_value_heads"));
    LPX_RETURN_IF_ERROR(check("kv_channels", d.kv_channels, base.head_dim, "head_dim"));
  }
  return Status::ok();
}

// ------------------------------------------------------------------------------------ archive

struct NemoArchive {
  TarArchive tar;
  std::span<const uint8_t> yaml;
  std::span<const uint8_t> weights;
};

Result<NemoArchive> open_nemo(const std::string& path) {
  NemoArchive n;
  LPX_ASSIGN_OR_RETURN(n.tar, TarArchive::open(path));
  auto yaml = n.tar.get("model_config.yaml");
  if (!yaml.is_ok()) {
    std::string members;
    size_t shown = 0;
    for (const auto& e : n.tar.entries()) {
      if (shown++ == 8) {
        members += ", ...";
        break;
      }
      members += (members.empty() ? "" : ", ") + e.name;
    }
    return corrupt(path + ": no model_config.yaml in the archive (members: " + (members.empty() ? "none" : members) +
                   ")");
  }
  n.yaml = *yaml;
  auto w = n.tar.get("model_weights.ckpt");
  if (w.is_ok()) {
    n.weights = *w;
  } else {
    for (const auto& e : n.tar.entries()) {
      if (e.name.rfind("mp_rank_", 0) == 0 || e.name.rfind("tp_rank_", 0) == 0)
        return unsupported(path + ": holds model-parallel shards ('" + e.name +
                           "'): only single-rank .nemo adapters are supported");
      if (e.name.rfind("model_weights/", 0) == 0)
        return unsupported(path + ": holds a distributed checkpoint ('" + e.name +
                           "'): only model_weights.ckpt (torch.save) is supported");
    }
    return corrupt(path + ": no model_weights.ckpt in the archive");
  }
  return n;
}

// ------------------------------------------------------------------------------------ weights

// The adapters a layer may hold, by where NeMo attaches them.
enum class Unit { kQkv, kDense, kQ, kK, kV, kFc1, kGate, kUp, kFc2 };

struct UnitInfo {
  Unit unit;
  const char* path;  // after "model.decoder.layers.{i}."
};
constexpr std::array<UnitInfo, 9> kUnits = {{
    {Unit::kQkv, "self_attention.adapter_layer.lora_kqv_adapter."},
    {Unit::kDense, "self_attention.adapter_layer.lora_dense_attention_adapter."},
    {Unit::kQ, "self_attention.adapter_layer.lora_unfused_kqv_adapter.q_adapter."},
    {Unit::kK, "self_attention.adapter_layer.lora_unfused_kqv_adapter.k_adapter."},
    {Unit::kV, "self_attention.adapter_layer.lora_unfused_kqv_adapter.v_adapter."},
    {Unit::kFc1, "mlp.adapter_layer.lora_hto4h_adapter."},
    {Unit::kGate, "mlp.adapter_layer.lora_unfused_hto4h_adapter.gate_adapter."},
    {Unit::kUp, "mlp.adapter_layer.lora_unfused_hto4h_adapter.up_adapter."},
    {Unit::kFc2, "mlp.adapter_layer.lora_4htoh_adapter."},
}};

const char* unit_target(Unit u) {
  switch (u) {
    case Unit::kQkv:
    case Unit::kQ:
    case Unit::kK:
    case Unit::kV: return "attention_qkv";
    case Unit::kDense: return "attention_dense";
    case Unit::kFc1:
    case Unit::kGate:
    case Unit::kUp: return "mlp_fc1";
    case Unit::kFc2: return "mlp_fc2";
  }
  return "";
}

// The projection an unfused unit adapts (kQkv / kFc1 are split by the caller).
LoraModule unit_module(Unit u) {
  switch (u) {
    case Unit::kQ: return LoraModule::kQ;
    case Unit::kK: return LoraModule::kK;
    case Unit::kV: return LoraModule::kV;
    case Unit::kGate: return LoraModule::kGate;
    case Unit::kUp: return LoraModule::kUp;
    case Unit::kFc2: return LoraModule::kDown;
    default: return LoraModule::kO;
  }
}

bool unit_targeted(Unit u, const NemoLoraConfig& c) {
  const std::string t = unit_target(u);
  return (t == "attention_qkv" && c.qkv) || (t == "attention_dense" && c.dense) || (t == "mlp_fc1" && c.fc1) ||
         (t == "mlp_fc2" && c.fc2);
}

struct UnitKey {
  int64_t layer = 0;
  Unit unit = Unit::kQkv;
  bool is_in = true;  // linear_in (A) or linear_out (B)
};

Result<UnitKey> parse_nemo_key(const std::string& name, const std::string& where) {
  const std::string prefix = "model.decoder.layers.";
  if (name.rfind("model.language_model.", 0) == 0)
    return unsupported(where +
                       ": legacy (non-mcore) NeMo checkpoints are not supported; re-save the adapter with "
                       "megatron-core (mcore_gpt: true)");
  auto fail = [&] {
    return unsupported(where +
                       ": not a NeMo LoRA weight loraplex knows (expected model.decoder.layers.N."
                       "{self_attention,mlp}.adapter_layer.lora_*_adapter.linear_{in,out}.weight)");
  };
  if (name.rfind(prefix, 0) != 0) return fail();
  size_t i = prefix.size(), j = i;
  while (j < name.size() && j - i < 9 && name[j] >= '0' && name[j] <= '9') ++j;
  if (j == i || j >= name.size() || name[j] != '.') return fail();
  UnitKey k;
  k.layer = std::stoll(name.substr(i, j - i));
  const std::string rest = name.substr(j + 1);
  for (const auto& u : kUnits) {
    const std::string p = u.path;
    if (rest == p + "linear_in.weight" || rest == p + "linear_out.weight") {
      k.unit = u.unit;
      k.is_in = rest == p + "linear_in.weight";
      return k;
    }
  }
  return fail();
}

struct UnitPair {
  std::string in_name, out_name;
  const TensorView* in = nullptr;
  const TensorView* out = nullptr;
};

// Checks a fused pair: in [r, in_dim], out [out_rows, r], r == adapter_dim <= max rank.
Status check_fused(const UnitPair& p, int64_t in_dim, const std::string& in_origin, int64_t out_rows,
                   const std::string& out_origin, const NemoLoraConfig& c, const std::string& yaml_where,
                   const AdapterLoadOptions& opts, const std::string& wi, const std::string& wo) {
  if (p.in->shape.size() != 2)
    return corrupt(wi + ": linear_in must be 2-D [r, in], got " + shape_to_string(p.in->shape));
  if (p.out->shape.size() != 2)
    return corrupt(wo + ": linear_out must be 2-D [out, r], got " + shape_to_string(p.out->shape));
  const int64_t r = p.in->shape[0];
  if (p.out->shape[1] != r)
    return corrupt(wo + ": linear_out is " + shape_to_string(p.out->shape) + " but linear_in is " +
                   shape_to_string(p.in->shape) + ": their ranks differ");
  if (p.in->shape[1] != in_dim)
    return invalid_argument(wi + ": linear_in is " + shape_to_string(p.in->shape) + " but the base model's input is " +
                            std::to_string(in_dim) + " (" + in_origin +
                            "): this adapter was made for another base model");
  if (p.out->shape[0] != out_rows)
    return invalid_argument(wo + ": linear_out is " + shape_to_string(p.out->shape) + " but the base model needs " +
                            std::to_string(out_rows) + " rows (" + out_origin +
                            "): this adapter was made for another base model");
  if (r != c.rank)
    return corrupt(wi + ": rank " + std::to_string(r) + " but " + yaml_where + " gives adapter_dim " +
                   std::to_string(c.rank));
  if (r > opts.max_rank)
    return unsupported(wi + ": rank " + std::to_string(r) + " exceeds the largest supported LoRA rank " +
                       std::to_string(opts.max_rank) + "; raise NIM_MAX_LORA_RANK to serve this adapter");
  return Status::ok();
}

LoraModuleWeights module_from(const std::vector<float>& a, int64_t rank, int64_t in_dim, const float* b_rows,
                              int64_t out_dim, float scale, DType device_dtype) {
  LoraModuleWeights w;
  w.device_dtype = device_dtype;
  w.rank = static_cast<int>(rank);
  w.in_dim = in_dim;
  w.out_dim = out_dim;
  w.scale = scale;
  w.a = a;
  w.b.assign(b_rows, b_rows + out_dim * rank);
  return w;
}

}  // namespace

Status probe_nemo_file(const std::string& nemo_path) {
  LPX_ASSIGN_OR_RETURN(NemoArchive n, open_nemo(nemo_path));
  const std::string text(reinterpret_cast<const char*>(n.yaml.data()), n.yaml.size());
  return parse_nemo_config(text, nemo_path + ": model_config.yaml").status();
}

Result<AdapterPtr> load_nemo_adapter(const std::string& name, const AdapterFiles& files, const ModelConfig& base,
                                     const AdapterLoadOptions& opts) {
  const std::string& path = files.weights_path;
  LPX_ASSIGN_OR_RETURN(NemoArchive n, open_nemo(path));
  const std::string yaml_where = path + ": model_config.yaml";
  const std::string text(reinterpret_cast<const char*>(n.yaml.data()), n.yaml.size());
  LPX_ASSIGN_OR_RETURN(NemoLoraConfig c, parse_nemo_config(text, yaml_where));
  LPX_RETURN_IF_ERROR(check_dims(c.dims, base, yaml_where));
  const std::string ckpt_name = path + ": model_weights.ckpt";
  LPX_ASSIGN_OR_RETURN(TorchCheckpoint ckpt,
                       TorchCheckpoint::from_buffer(n.tar.owner(), n.weights.data(), n.weights.size(), ckpt_name));

  // Group tensors by (layer, unit).
  std::map<std::pair<int64_t, int>, UnitPair> units;
  for (const std::string& tname : ckpt.names()) {
    const std::string where = ckpt_name + ": tensor '" + tname + "'";
    LPX_ASSIGN_OR_RETURN(UnitKey k, parse_nemo_key(tname, where));
    if (k.layer >= base.n_layers)
      return invalid_argument(where + ": layer " + std::to_string(k.layer) + " does not exist: the base model has " +
                              std::to_string(base.n_layers) + " layers");
    if (!unit_targeted(k.unit, c))
      return corrupt(where + ": is a " + unit_target(k.unit) + " adapter, which peft.lora_tuning.target_modules of " +
                     yaml_where + " does not list");
    LPX_ASSIGN_OR_RETURN(const TensorView* view, ckpt.get(tname));
    UnitPair& p = units[{k.layer, static_cast<int>(k.unit)}];
    (k.is_in ? p.in_name : p.out_name) = tname;
    (k.is_in ? p.in : p.out) = view;
  }

  auto adapter = std::make_shared<LoraAdapter>();
  adapter->name = name;
  adapter->path = files.dir;
  adapter->format = "nemo";
  adapter->layers.resize(static_cast<size_t>(base.n_layers));
  const float scale = static_cast<float>(c.alpha / static_cast<double>(c.rank));
  const int64_t hidden = base.hidden_size, q_dim = base.q_dim(), kv_dim = base.kv_dim(), ffn = base.intermediate_size;
  const std::string rank_origin = yaml_where + " (peft.lora_tuning.adapter_dim)";
  for (const auto& [key, p] : units) {
    // Plain variables, not a structured binding: the lambda below captures `layer` (C++20 allows
    // capturing a binding, but clang before 16 does not).
    const auto layer = std::get<0>(key);
    const auto ui = std::get<1>(key);
    const auto unit = static_cast<Unit>(ui);
    if (p.in == nullptr) return corrupt(ckpt_name + ": tensor '" + p.out_name + "' has no matching linear_in");
    if (p.out == nullptr) return corrupt(ckpt_name + ": tensor '" + p.in_name + "' has no matching linear_out");
    const std::string wi = ckpt_name + ": tensor '" + p.in_name + "'", wo = ckpt_name + ": tensor '" + p.out_name + "'";
    auto& slots = adapter->layers[layer];
    auto place = [&](LoraModule m, LoraModuleWeights w) -> Status {
      if (slots[static_cast<int>(m)])
        return corrupt(wi + ": a second adapter for " + std::string(lora_module_name(m)) + " of layer " +
                       std::to_string(layer) + " (fused and unfused weights together)");
      slots[static_cast<int>(m)] = std::move(w);
      return Status::ok();
    };
    if (unit == Unit::kQkv) {
      LPX_RETURN_IF_ERROR(check_fused(p, hidden, "hidden_size", q_dim + 2 * kv_dim,
                                      "(num_attention_heads + 2 num_key_value_heads) x head_dim", c, yaml_where, opts,
                                      wi, wo));
      const int64_t r = p.in->shape[0];
      LPX_ASSIGN_OR_RETURN(std::vector<float> a, tensor_to_f32(*p.in, wi));
      LPX_ASSIGN_OR_RETURN(std::vector<float> b, tensor_to_f32(*p.out, wo));
      // De-interleave per query group: [q rows of the group's heads; its k head; its v head].
      const int64_t groups = base.n_kv_heads, hd = base.head_dim, qpg = base.n_heads / base.n_kv_heads;
      std::vector<float> bq(static_cast<size_t>(q_dim * r)), bk(static_cast<size_t>(kv_dim * r)),
          bv(static_cast<size_t>(kv_dim * r));
      for (int64_t g = 0; g < groups; ++g) {
        const float* src = b.data() + g * (qpg + 2) * hd * r;
        std::copy(src, src + qpg * hd * r, bq.data() + g * qpg * hd * r);
        std::copy(src + qpg * hd * r, src + (qpg + 1) * hd * r, bk.data() + g * hd * r);
        std::copy(src + (qpg + 1) * hd * r, src + (qpg + 2) * hd * r, bv.data() + g * hd * r);
      }
      const DType dt = pair_device_dtype(*p.in, *p.out);
      LPX_RETURN_IF_ERROR(place(LoraModule::kQ, module_from(a, r, hidden, bq.data(), q_dim, scale, dt)));
      LPX_RETURN_IF_ERROR(place(LoraModule::kK, module_from(a, r, hidden, bk.data(), kv_dim, scale, dt)));
      LPX_RETURN_IF_ERROR(place(LoraModule::kV, module_from(a, r, hidden, bv.data(), kv_dim, scale, dt)));
    } else if (unit == Unit::kFc1) {
      LPX_RETURN_IF_ERROR(check_fused(p, hidden, "hidden_size", 2 * ffn, "2 x intermediate_size: [gate; up]", c,
                                      yaml_where, opts, wi, wo));
      const int64_t r = p.in->shape[0];
      LPX_ASSIGN_OR_RETURN(std::vector<float> a, tensor_to_f32(*p.in, wi));
      LPX_ASSIGN_OR_RETURN(std::vector<float> b, tensor_to_f32(*p.out, wo));
      const DType dt = pair_device_dtype(*p.in, *p.out);
      LPX_RETURN_IF_ERROR(place(LoraModule::kGate, module_from(a, r, hidden, b.data(), ffn, scale, dt)));
      LPX_RETURN_IF_ERROR(place(LoraModule::kUp, module_from(a, r, hidden, b.data() + ffn * r, ffn, scale, dt)));
    } else {
      const LoraModule m = unit_module(unit);
      LPX_RETURN_IF_ERROR(check_lora_pair(*p.in, *p.out, m, layer, base, c.rank, rank_origin, opts, wi, wo));
      LoraModuleWeights w;
      w.rank = static_cast<int>(p.in->shape[0]);
      w.in_dim = p.in->shape[1];
      w.out_dim = p.out->shape[0];
      w.scale = scale;
      LPX_ASSIGN_OR_RETURN(w.a, tensor_to_f32(*p.in, wi));
      LPX_ASSIGN_OR_RETURN(w.b, tensor_to_f32(*p.out, wo));
      w.device_dtype = pair_device_dtype(*p.in, *p.out);
      LPX_RETURN_IF_ERROR(place(m, std::move(w)));
    }
  }
  LPX_RETURN_IF_ERROR(finish_adapter(adapter.get(), ckpt_name));
  return AdapterPtr(std::move(adapter));
}

}  // namespace lpx
