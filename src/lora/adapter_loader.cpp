// Adapter folder classification, the load/probe entry points, and the checks every format shares.
#include "lora/adapter_loader.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/dtype.h"
#include "core/file_util.h"
#include "lora/peft_config.h"

namespace lpx {

namespace fs = std::filesystem;

Result<AdapterFiles> find_adapter_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found(dir + ": adapter folder not found");
  std::vector<std::string> nemo;
  bool has_config = false, has_st = false, has_bin = false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string fname = it->path().filename().string();
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    if (fname == "adapter_config.json")
      has_config = true;
    else if (fname == "adapter_model.safetensors")
      has_st = true;
    else if (fname == "adapter_model.bin")
      has_bin = true;
    else if (fname.size() > 5 && fname.substr(fname.size() - 5) == ".nemo" && fname[0] != '.')
      nemo.push_back(fname);
  }
  if (ec) return io_error(dir + ": cannot list the adapter folder: " + ec.message());
  std::sort(nemo.begin(), nemo.end());
  AdapterFiles f;
  f.dir = dir;
  if (!nemo.empty()) {
    if (nemo.size() > 1) {
      std::string list;
      for (const auto& n : nemo) list += (list.empty() ? "" : ", ") + n;
      return invalid_argument(dir + ": holds " + std::to_string(nemo.size()) + " .nemo files (" + list +
                              "); an adapter folder must hold exactly one");
    }
    if (has_config)
      return invalid_argument(dir + ": holds both a PEFT adapter_config.json and " + nemo[0] +
                              "; keep one adapter per folder");
    f.format = AdapterFormat::kNemo;
    f.weights_path = path_join(dir, nemo[0]);
    return f;
  }
  if (!has_config) {
    if (has_st || has_bin)
      return not_found(path_join(dir, "adapter_config.json") +
                       ": not found (the folder has PEFT weights but no config)");
    return not_found(dir +
                     ": no adapter found: expected adapter_config.json + adapter_model.safetensors (or "
                     "adapter_model.bin), or one .nemo file");
  }
  f.format = AdapterFormat::kPeft;
  f.config_path = path_join(dir, "adapter_config.json");
  if (has_st) {
    f.weights_path = path_join(dir, "adapter_model.safetensors");
  } else if (has_bin) {
    f.weights_path = path_join(dir, "adapter_model.bin");
    f.weights_are_bin = true;
  } else {
    return not_found(dir +
                     ": adapter_config.json has no weights next to it (adapter_model.safetensors or "
                     "adapter_model.bin)");
  }
  return f;
}

Result<AdapterPtr> load_adapter(const std::string& name, const std::string& dir, const ModelConfig& base,
                                const AdapterLoadOptions& opts) {
  if (opts.max_rank <= 0)
    return invalid_argument("max LoRA rank must be positive, got " + std::to_string(opts.max_rank));
  LPX_ASSIGN_OR_RETURN(AdapterFiles files, find_adapter_files(dir));
  if (files.format == AdapterFormat::kNemo) return load_nemo_adapter(name, files, base, opts);
  return load_peft_adapter(name, files, base, opts);
}

Status probe_adapter_dir(const std::string& dir) {
  LPX_ASSIGN_OR_RETURN(AdapterFiles files, find_adapter_files(dir));
  if (files.format == AdapterFormat::kNemo) return probe_nemo_file(files.weights_path);
  return load_peft_config(files.config_path).status();
}

// ------------------------------------------------------------------------------ shared checks

int64_t lora_in_dim(const ModelConfig& base, LoraModule m) {
  switch (m) {
    case LoraModule::kO: return base.q_dim();
    case LoraModule::kDown: return base.intermediate_size;
    default: return base.hidden_size;
  }
}

int64_t lora_out_dim(const ModelConfig& base, LoraModule m) {
  switch (m) {
    case LoraModule::kQ: return base.q_dim();
    case LoraModule::kK:
    case LoraModule::kV: return base.kv_dim();
    case LoraModule::kGate:
    case LoraModule::kUp: return base.intermediate_size;
    default: return base.hidden_size;
  }
}

std::string lora_dim_origin(LoraModule m, bool input) {
  if (input) {
    if (m == LoraModule::kO) return "num_attention_heads x head_dim";
    if (m == LoraModule::kDown) return "intermediate_size";
    return "hidden_size";
  }
  switch (m) {
    case LoraModule::kQ: return "num_attention_heads x head_dim";
    case LoraModule::kK:
    case LoraModule::kV: return "num_key_value_heads x head_dim";
    case LoraModule::kGate:
    case LoraModule::kUp: return "intermediate_size";
    default: return "hidden_size";
  }
}

Result<std::vector<float>> tensor_to_f32(const TensorView& t, const std::string& where) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16)
    return unsupported(where + ": dtype " + dtype_name(t.dtype) +
                       " is not supported for LoRA weights (f32, f16, bf16)");
  const int64_t n = t.numel();
  if (n < 0 || static_cast<size_t>(n) * dtype_size(t.dtype) != t.nbytes)
    return corrupt(where + ": " + shape_to_string(t.shape) + " does not match its " + std::to_string(t.nbytes) +
                   " bytes");
  std::vector<float> out(static_cast<size_t>(n));
  if (n > 0) convert_to_f32(t.dtype, t.data, out.data(), out.size());
  return out;
}

Status check_lora_pair(const TensorView& a, const TensorView& b, LoraModule m, int64_t layer, const ModelConfig& base,
                       int expected_rank, const std::string& rank_origin, const AdapterLoadOptions& opts,
                       const std::string& where_a, const std::string& where_b) {
  const char* mod = lora_module_name(m);
  const std::string base_src = base.source.empty() ? "the base config.json" : base.source;
  if (layer < 0 || layer >= base.n_layers)
    return invalid_argument(where_a + ": layer " + std::to_string(layer) + " does not exist: the base model has " +
                            std::to_string(base.n_layers) + " layers (num_hidden_layers in " + base_src + ")");
  if (a.shape.size() != 2) return corrupt(where_a + ": lora_A must be 2-D [r, in], got " + shape_to_string(a.shape));
  if (b.shape.size() != 2) return corrupt(where_b + ": lora_B must be 2-D [out, r], got " + shape_to_string(b.shape));
  const int64_t r = a.shape[0];
  if (r <= 0) return corrupt(where_a + ": rank 0 (lora_A is " + shape_to_string(a.shape) + ")");
  if (b.shape[1] != r)
    return corrupt(where_b + ": lora_B is " + shape_to_string(b.shape) + " but lora_A is " + shape_to_string(a.shape) +
                   ": their ranks differ");
  const int64_t in = lora_in_dim(base, m), out = lora_out_dim(base, m);
  if (a.shape[1] != in)
    return invalid_argument(where_a + ": lora_A is " + shape_to_string(a.shape) + " but " + mod +
                            " of the base model takes " + std::to_string(in) + " inputs (" + lora_dim_origin(m, true) +
                            " in " + base_src + "): this adapter was made for another base model");
  if (b.shape[0] != out)
    return invalid_argument(where_b + ": lora_B is " + shape_to_string(b.shape) + " but " + mod +
                            " of the base model has " + std::to_string(out) + " outputs (" + lora_dim_origin(m, false) +
                            " in " + base_src + "): this adapter was made for another base model");
  if (expected_rank > 0 && r != expected_rank)
    return corrupt(where_a + ": rank " + std::to_string(r) + " (lora_A is " + shape_to_string(a.shape) + ") but " +
                   rank_origin + " gives " + std::to_string(expected_rank));
  if (r > opts.max_rank)
    return unsupported(where_a + ": rank " + std::to_string(r) + " exceeds the largest supported LoRA rank " +
                       std::to_string(opts.max_rank) + "; raise NIM_MAX_LORA_RANK to serve this adapter");
  return Status::ok();
}

DType pair_device_dtype(const TensorView& a, const TensorView& b) {
  if (a.dtype == b.dtype && (a.dtype == DType::kBF16 || a.dtype == DType::kF16)) return a.dtype;
  return DType::kF32;
}

Status finish_adapter(LoraAdapter* adapter, const std::string& source) {
  int max_rank = 0;
  for (const auto& layer : adapter->layers)
    for (const auto& m : layer)
      if (m) max_rank = std::max(max_rank, m->rank);
  if (max_rank == 0) return corrupt(source + ": holds no LoRA weights for the modules its config targets");
  adapter->max_rank = max_rank;
  return Status::ok();
}

}  // namespace lpx
