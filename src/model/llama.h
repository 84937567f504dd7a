// The Llama-family forward pass (Llama, Mistral, Qwen2) over a batch of sequences with a paged KV
// cache and optional per-segment LoRA. Engine thread only: holds scratch buffers (not thread-safe);
// kernels parallelise inside through the thread pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/ops.h"
#include "kv/kv_cache.h"
#include "model/config.h"
#include "model/lora_batch.h"
#include "model/weights.h"

namespace lpx {

class ThreadPool;

// One sequence's part of a forward step: its new tokens go at positions kv->n_tokens onwards.
struct ForwardSeq {
  std::span<const int32_t> tokens;  // [n_new]
  SeqKv* kv = nullptr;              // blocks must already be reserved for n_tokens + n_new
  bool all_logits = false;          // logits for every new token (else only the last one)
};

class LlamaModel {
 public:
  // `weights` must outlive the model (it views their memory).
  LlamaModel(const ModelConfig& config, const ModelWeights* weights);

  const ModelConfig& config() const { return config_; }
  int64_t vocab_size() const { return config_.vocab_size; }

  // Runs one step over all sequences' new tokens at once (projections batched over every token).
  // logits: resized to [n_rows, vocab] where each sequence contributes n_new rows (all_logits)
  // or 1 row, in sequence order. Appends K/V and advances each kv->n_tokens.
  // Errors: invalid_argument for a token id outside the vocabulary or a sequence past
  // max_position_embeddings (nothing is written then).
  Status forward(std::span<ForwardSeq> seqs, KvCache& cache, std::vector<float>& logits,
                 const LoraBatch* lora = nullptr, ThreadPool* pool = nullptr);

 private:
  void project(int layer, LoraModule m, const WeightRef& w, const WeightRef& bias, const float* x, float* y,
               int64_t n_tokens, const LoraBatch* lora, ThreadPool* pool);

  ModelConfig config_;
  const ModelWeights* weights_;
  std::vector<float> inv_freq_;  // [head_dim / 2]
  // Scratch, grown on demand and reused across steps. Shapes for T tokens in the step:
  std::vector<float> x_;         // [T, hidden] residual stream
  std::vector<float> xn_;        // [T, hidden] normed
  std::vector<float> q_;         // [T, q_dim]
  std::vector<float> k_;         // [T, kv_dim]
  std::vector<float> v_;         // [T, kv_dim]
  std::vector<float> attn_;      // [T, q_dim]
  std::vector<float> gate_;      // [T, inter]
  std::vector<float> up_;        // [T, inter]
  std::vector<float> lora_tmp_;  // [T, max_rank]
  std::vector<float> last_;      // [rows, hidden] rows that need logits
  std::vector<int32_t> tokens_, positions_;
  std::vector<const float*> kblk_, vblk_;
};

// WeightRef (model) -> WeightMatrix/WeightVector (kernels).
WeightMatrix as_matrix(const WeightRef& w);
WeightVector as_vector(const WeightRef& w);

}  // namespace lpx
