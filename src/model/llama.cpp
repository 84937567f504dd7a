// Llama forward pass: embeddings -> [RMSNorm, GQA attention with RoPE, RMSNorm, SwiGLU] x L ->
// final norm -> lm_head, batched over every new token of every sequence in the step.
#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/check.h"

namespace lpx {

const char* lora_module_name(LoraModule m) {
  static const char* kNames[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return kNames[static_cast<int>(m)];
}

WeightMatrix as_matrix(const WeightRef& w) {
  WeightMatrix m;
  m.data = w.data;
  m.dtype = w.dtype;
  m.rows = w.rows();
  m.cols = w.cols();
  return m;
}

WeightVector as_vector(const WeightRef& w) {
  WeightVector v;
  v.data = w.data;
  v.dtype = w.dtype;
  v.size = w.numel();
  return v;
}

LlamaModel::LlamaModel(const ModelConfig& config, const ModelWeights* weights)
    : config_(config), weights_(weights), inv_freq_(rope_inv_freq(config)) {
  LPX_CHECK(weights != nullptr);
  LPX_CHECK(static_cast<int64_t>(weights->layers.size()) == config.n_layers);
}

void LlamaModel::project(int layer, LoraModule m, const WeightRef& w, const WeightRef& bias, const float* x, float* y,
                         int64_t n_tokens, const LoraBatch* lora, ThreadPool* pool) {
  kernels::matmul(x, as_matrix(w), y, n_tokens, false, pool);
  if (bias.present()) kernels::add_bias(y, as_vector(bias), n_tokens, w.rows());
  if (lora == nullptr || lora->empty()) return;
  const auto& segs = lora->at(layer, m);
  if (segs.empty()) return;
  const int64_t r = lora->max_rank;
  kernels::lora_shrink(x, w.cols(), segs.data(), static_cast<int>(segs.size()), lora_tmp_.data(), r, pool);
  kernels::lora_expand(lora_tmp_.data(), r, segs.data(), static_cast<int>(segs.size()), y, w.rows(), pool);
}

Status LlamaModel::forward(std::span<ForwardSeq> seqs, KvCache& cache, std::vector<float>& logits,
                           const LoraBatch* lora, ThreadPool* pool) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  const int hd = static_cast<int>(c.head_dim);

  // Gather tokens and positions; validate before touching any state.
  tokens_.clear();
  positions_.clear();
  int64_t n_rows = 0;
  for (const ForwardSeq& s : seqs) {
    LPX_CHECK(s.kv != nullptr);
    const int32_t start = s.kv->n_tokens;
    const int64_t end = start + static_cast<int64_t>(s.tokens.size());
    if (c.max_position_embeddings > 0 && end > c.max_position_embeddings) {
      return invalid_argument("sequence of " + std::to_string(end) + " tokens exceeds the model's " +
                              std::to_string(c.max_position_embeddings) + "-token context");
    }
    LPX_CHECK(cache.blocks_for(static_cast<int>(end)) <= static_cast<int>(s.kv->blocks.size()));
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      int32_t t = s.tokens[i];
      if (t < 0 || t >= c.vocab_size) {
        return invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                                std::to_string(c.vocab_size) + ")");
      }
      tokens_.push_back(t);
      positions_.push_back(start + static_cast<int32_t>(i));
    }
    n_rows += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : (s.tokens.empty() ? 0 : 1);
  }
  const int64_t T = static_cast<int64_t>(tokens_.size());
  logits.resize(static_cast<size_t>(n_rows * c.vocab_size));
  if (T == 0) return Status::ok();

  auto grow = [](std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  };
  grow(x_, T * H);
  grow(xn_, T * H);
  grow(q_, T * Q);
  grow(k_, T * KV);
  grow(v_, T * KV);
  grow(attn_, T * Q);
  grow(gate_, T * I);
  grow(up_, T * I);
  if (lora != nullptr && !lora->empty()) grow(lora_tmp_, T * lora->max_rank);

  const ModelWeights& W = *weights_;
  LPX_RETURN_IF_ERROR(kernels::embedding(as_matrix(W.embed), tokens_.data(), T, x_.data(), pool));

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = W.layers[l];
    // Attention block.
    kernels::rmsnorm(x_.data(), as_vector(L.attn_norm), static_cast<float>(c.rms_norm_eps), xn_.data(), T, H, pool);
    project(l, LoraModule::kQ, L.wq, L.bq, xn_.data(), q_.data(), T, lora, pool);
    project(l, LoraModule::kK, L.wk, L.bk, xn_.data(), k_.data(), T, lora, pool);
    project(l, LoraModule::kV, L.wv, L.bv, xn_.data(), v_.data(), T, lora, pool);
    kernels::rope(q_.data(), positions_.data(), inv_freq_.data(), T, static_cast<int>(c.n_heads), hd, 0, pool);
    kernels::rope(k_.data(), positions_.data(), inv_freq_.data(), T, static_cast<int>(c.n_kv_heads), hd, 0, pool);

    int64_t row = 0;
    for (ForwardSeq& s : seqs) {
      const int64_t n = static_cast<int64_t>(s.tokens.size());
      const int32_t start = s.kv->n_tokens;
      for (int64_t i = 0; i < n; ++i) {
        std::copy_n(k_.data() + (row + i) * KV, KV, cache.k_row(l, *s.kv, start + static_cast<int>(i)));
        std::copy_n(v_.data() + (row + i) * KV, KV, cache.v_row(l, *s.kv, start + static_cast<int>(i)));
      }
      kblk_.clear();
      vblk_.clear();
      for (int32_t b : s.kv->blocks) {
        kblk_.push_back(cache.k_block(l, b));
        vblk_.push_back(cache.v_block(l, b));
      }
      kernels::AttentionArgs a;
      a.q = q_.data() + row * Q;
      a.positions = positions_.data() + row;
      a.n_q = n;
      a.n_heads = static_cast<int>(c.n_heads);
      a.kv.k_blocks = kblk_.data();
      a.kv.v_blocks = vblk_.data();
      a.kv.block_size = cache.config().block_size;
      a.kv.n_kv_heads = static_cast<int>(c.n_kv_heads);
      a.kv.head_dim = hd;
      a.out = attn_.data() + row * Q;
      kernels::attention(a, pool);
      row += n;
    }
    project(l, LoraModule::kO, L.wo, L.bo, attn_.data(), xn_.data(), T, lora, pool);
    kernels::add(x_.data(), xn_.data(), x_.data(), static_cast<size_t>(T * H), pool);

    // MLP block.
    kernels::rmsnorm(x_.data(), as_vector(L.ffn_norm), static_cast<float>(c.rms_norm_eps), xn_.data(), T, H, pool);
    project(l, LoraModule::kGate, L.w_gate, WeightRef{}, xn_.data(), gate_.data(), T, lora, pool);
    project(l, LoraModule::kUp, L.w_up, WeightRef{}, xn_.data(), up_.data(), T, lora, pool);
    kernels::silu_mul(gate_.data(), up_.data(), gate_.data(), static_cast<size_t>(T * I), pool);
    project(l, LoraModule::kDown, L.w_down, WeightRef{}, gate_.data(), xn_.data(), T, lora, pool);
    kernels::add(x_.data(), xn_.data(), x_.data(), static_cast<size_t>(T * H), pool);
  }
  for (ForwardSeq& s : seqs) s.kv->n_tokens += static_cast<int32_t>(s.tokens.size());

  // Final norm + lm_head on the rows that need logits only.
  grow(last_, n_rows * H);
  int64_t row = 0, out_row = 0;
  for (const ForwardSeq& s : seqs) {
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    if (n == 0) continue;
    const int64_t first = s.all_logits ? row : row + n - 1;
    const int64_t count = s.all_logits ? n : 1;
    std::copy_n(x_.data() + first * H, count * H, last_.data() + out_row * H);
    out_row += count;
    row += n;
  }
  kernels::rmsnorm(last_.data(), as_vector(W.final_norm), static_cast<float>(c.rms_norm_eps), last_.data(), n_rows, H,
                   pool);
  kernels::matmul(last_.data(), as_matrix(W.lm_head), logits.data(), n_rows, false, pool);
  return Status::ok();
}

}  // namespace lpx
