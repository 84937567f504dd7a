// LoRA adapter loaders: a store folder holding a Hugging Face PEFT adapter (adapter_config.json +
// adapter_model.safetensors | adapter_model.bin) or an NVIDIA NeMo one (exactly one *.nemo), read
// without libtorch or Python into the canonical LoraAdapter (lora/adapter.h): f32 A [r, in],
// B [out, r] and a scale per adapted projection.
//
// What is read and how:
//   - PEFT: lora/peft_config.h decides the targets, ranks and scales exactly as PEFT does. Tensor
//     names: [base_model.model.]model.layers.{i}.{self_attn.{q,k,v,o}_proj | mlp.{gate,up,down}_proj}
//     .lora_{A,B}[.<adapter name>].weight; dtypes f32/f16/bf16 (converted exactly to f32).
//     adapter_model.safetensors is preferred when both weight files exist (as PEFT does).
//   - NeMo (lora/nemo_loader.cpp): the tar (plain or gzip) members model_config.yaml
//     (peft.lora_tuning) and model_weights.ckpt (torch zip+pickle, Megatron-core key names); the
//     fused QKV adapter is split per query group, the fused fc1 adapter into gate and up.
//
// Validation against the base (every error names the file, and the tensor or field):
//   not_found        the folder, adapter_config.json, the weights file or the .nemo is missing;
//   corrupt          malformed JSON/YAML/safetensors/zip/pickle/tar, a missing lora_B for a
//                    lora_A (or the reverse), a tensor that is not 2-D, A and B ranks that differ,
//                    a rank that differs from the config's, weights for a module the config does
//                    not target, duplicate tensors for one module, no LoRA weights at all;
//   invalid_argument the adapter does not fit this base: a projection dimension that differs
//                    from config.json's, a layer index >= num_hidden_layers, NeMo model dims that
//                    differ, targets that select nothing in this base, an ambiguous folder;
//   unsupported      features we do not serve (DoRA, biases, modules_to_save, embed_tokens /
//                    lm_head / unknown modules, i8 weights, legacy torch.save, foreign pickle
//                    globals, tensor/pipeline parallel NeMo checkpoints, NeMo weight tying...)
//                    and a rank above AdapterLoadOptions::max_rank (the message says to raise
//                    NIM_MAX_LORA_RANK).
//
// Thread-safety: the functions are reentrant and share no state; call them from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/safetensors.h"  // TensorView
#include "lora/adapter.h"
#include "model/config.h"

namespace lpx {

struct AdapterLoadOptions {
  int max_rank = 64;  // NIM_MAX_LORA_RANK
};

// Loads the adapter folder `dir` for a base model whose config is `base`. `name` is the store
// folder name (LoraAdapter::name). format: "peft-safetensors", "peft-bin" or "nemo".
Result<AdapterPtr> load_adapter(const std::string& name, const std::string& dir, const ModelConfig& base,
                                const AdapterLoadOptions& opts = {});

// Cheap structural check for the adapter store's scanner (AdapterRegistry::Validator): the folder
// holds adapter_config.json + adapter_model.safetensors|.bin, or exactly one *.nemo (not both);
// the config parses and asks for nothing we refuse. Weights are not read (a gzip'd .nemo is
// inflated to reach model_config.yaml; a plain one is only mapped).
Status probe_adapter_dir(const std::string& dir);

// ------------------------------------------------------------------------------------------------
// Pieces shared by the format loaders (adapter_loader.cpp, peft_loader.cpp, nemo_loader.cpp).

enum class AdapterFormat { kPeft, kNemo };

// The files of an adapter folder.
struct AdapterFiles {
  AdapterFormat format = AdapterFormat::kPeft;
  std::string dir;
  std::string config_path;   // PEFT: <dir>/adapter_config.json
  std::string weights_path;  // PEFT: the .safetensors or .bin; NeMo: the .nemo
  bool weights_are_bin = false;
};

// Classifies a folder (no file is opened). Errors: not_found (no folder, no adapter files, PEFT
// config without weights), invalid_argument (several .nemo files, or a .nemo next to a PEFT config).
Result<AdapterFiles> find_adapter_files(const std::string& dir);

Result<AdapterPtr> load_peft_adapter(const std::string& name, const AdapterFiles& files, const ModelConfig& base,
                                     const AdapterLoadOptions& opts);
Result<AdapterPtr> load_nemo_adapter(const std::string& name, const AdapterFiles& files, const ModelConfig& base,
                                     const AdapterLoadOptions& opts);
// Opens the .nemo and checks model_config.yaml (and that model_weights.ckpt is present).
Status probe_nemo_file(const std::string& nemo_path);

// Projection sizes in the base: q in hidden / out n_heads*head_dim, k/v out n_kv*head_dim,
// o in n_heads*head_dim / out hidden, gate/up hidden -> intermediate, down intermediate -> hidden.
int64_t lora_in_dim(const ModelConfig& base, LoraModule m);
int64_t lora_out_dim(const ModelConfig& base, LoraModule m);
// "hidden_size", "num_attention_heads x head_dim", ... : what a dimension is in config.json terms.
std::string lora_dim_origin(LoraModule m, bool input);

// The tensor's values as f32 (f32/f16/bf16; kUnsupported for others). `where` prefixes errors.
Result<std::vector<float>> tensor_to_f32(const TensorView& t, const std::string& where);
// The device-tier dtype of a module stored as (a, b): their dtype when both are bf16 or both f16
// (then every value is exact in it), else f32.
DType pair_device_dtype(const TensorView& a, const TensorView& b);

// Checks one module's lora_A [r, in] and lora_B [out, r] views against the base and the expected
// rank (expected_rank <= 0: any) and the rank limit. `where_a` / `where_b` name the tensors.
Status check_lora_pair(const TensorView& a, const TensorView& b, LoraModule m, int64_t layer, const ModelConfig& base,
                       int expected_rank, const std::string& rank_origin, const AdapterLoadOptions& opts,
                       const std::string& where_a, const std::string& where_b);

// Sets max_rank, checks that at least one module is adapted (corrupt otherwise, naming `source`).
Status finish_adapter(LoraAdapter* adapter, const std::string& source);

}  // namespace lpx
