// ModelWeights: the base model's tensors bound by name and shape-checked against a ModelConfig,
// zero-copy views into the memory-mapped safetensors checkpoint (stored dtype kept: bf16 stays bf16).
//
// Ownership: ModelWeights holds a shared_ptr to the checkpoint, so every WeightRef::data stays valid
// as long as any copy of the ModelWeights lives. Copies are cheap (they share the mapping).
// Thread-safety: immutable after loading; read from any thread.
// Errors from load_weights/bind_weights (each names the file and the tensor):
//   not_found: no model.safetensors(.index.json) in the folder, or a required tensor is missing;
//   corrupt: a tensor with the wrong shape ("expected [a, b], found [c, d]"), or a malformed file;
//   unsupported: a tensor whose dtype is not F32/F16/BF16.
// Tensor names (Hugging Face Llama layout):
//   model.embed_tokens.weight [vocab, hidden]; model.norm.weight [hidden];
//   lm_head.weight [vocab, hidden] (absent and unused when tie_word_embeddings: lm_head = embed);
//   model.layers.{i}.input_layernorm.weight [hidden]
//   model.layers.{i}.self_attn.q_proj.weight [n_heads*head_dim, hidden] (+ .bias [n_heads*head_dim] if qkv_bias)
//   model.layers.{i}.self_attn.k_proj.weight [n_kv*head_dim, hidden]    (+ .bias [n_kv*head_dim] if qkv_bias)
//   model.layers.{i}.self_attn.v_proj.weight [n_kv*head_dim, hidden]    (+ .bias [n_kv*head_dim] if qkv_bias)
//   model.layers.{i}.self_attn.o_proj.weight [hidden, n_heads*head_dim] (+ .bias [hidden] if o_bias)
//   model.layers.{i}.post_attention_layernorm.weight [hidden]
//   model.layers.{i}.mlp.gate_proj.weight [inter, hidden]; up_proj [inter, hidden]; down_proj [hidden, inter]
// Other tensors in the checkpoint (e.g. rotary_emb.inv_freq) are ignored and logged at debug level.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mmap_file.h"
#include "core/status.h"
#include "formats/safetensors.h"
#include "model/config.h"

namespace lpx {

// A bound tensor: row-major, outermost first. data == nullptr means "absent" (optional biases).
struct WeightRef {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // into the mapping; element-aligned when the file was written padded
  size_t nbytes = 0;
  std::string name;  // tensor name in the checkpoint ("" if absent)

  bool present() const { return data != nullptr; }
  int64_t numel() const;
  // For a 2-D weight [out, in]: rows() = out, cols() = in.
  int64_t rows() const { return shape.size() == 2 ? shape[0] : numel(); }
  int64_t cols() const { return shape.size() == 2 ? shape[1] : 1; }
};

struct LayerWeights {
  WeightRef attn_norm;       // [hidden]
  WeightRef wq, wk, wv, wo;  // [q_dim, hidden], [kv_dim, hidden], [kv_dim, hidden], [hidden, q_dim]
  WeightRef bq, bk, bv, bo;  // [q_dim], [kv_dim], [kv_dim], [hidden]; absent unless qkv_bias / o_bias
  WeightRef ffn_norm;        // [hidden]
  WeightRef w_gate, w_up;    // [inter, hidden]
  WeightRef w_down;          // [hidden, inter]
};

struct ModelWeights {
  WeightRef embed;       // [vocab, hidden]
  WeightRef final_norm;  // [hidden]
  WeightRef lm_head;     // [vocab, hidden]; same data as embed when lm_head_tied (q8: both the q8 copy)
  bool lm_head_tied = false;
  std::vector<LayerWeights> layers;                         // [n_layers]
  size_t total_bytes = 0;                                   // bytes of all bound tensors (a tied lm_head counted once)
  std::shared_ptr<const SafetensorsCheckpoint> checkpoint;  // keeps the mappings alive
  // Tensors made at load time (q8 copies, model/quantize.h); WeightRefs may point into it.
  std::shared_ptr<const uint8_t[]> owned;
};

// The matrices the forward pass multiplies by: the seven projections of every layer (q, k, v, o,
// gate, up, down, in that order), then lm_head (which, when tied, is the embedding table). For
// load-time transforms (q8, prepacking) and FLOP counts.
std::vector<WeightRef*> projection_matrices(ModelWeights& w);
std::vector<const WeightRef*> projection_matrices(const ModelWeights& w);

struct LoadWeightsOptions {
  MmapOptions mmap;  // will_need / huge_pages / populate for every file
};

// Opens <model_dir>/model.safetensors or the sharded index, then binds (see bind_weights).
Result<ModelWeights> load_weights(const std::string& model_dir, const ModelConfig& config,
                                  const LoadWeightsOptions& options = {});
// Binds an already opened checkpoint.
Result<ModelWeights> bind_weights(std::shared_ptr<const SafetensorsCheckpoint> checkpoint, const ModelConfig& config);

}  // namespace lpx
