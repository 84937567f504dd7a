// Binding and shape-checking of a Llama-family checkpoint's tensors against its config.
#include "model/weights.h"

#include <set>
#include <utility>

#include "core/log.h"

namespace lpx {
namespace {

class Binder {
 public:
  explicit Binder(const SafetensorsCheckpoint& ckpt) : ckpt_(ckpt) {}

  // Binds `name` with the expected shape; `required` false -> absent is fine (returns an empty ref).
  Status bind(const std::string& name, const std::vector<int64_t>& expected, bool required, WeightRef* out) {
    used_.insert(name);
    if (!required && !ckpt_.contains(name)) {
      *out = WeightRef{};
      return Status::ok();
    }
    auto got = ckpt_.get(name);
    if (!got.is_ok()) {
      if (got.status().code() == StatusCode::kNotFound)
        return not_found(got.status().message() + " (a required weight, expected shape " + shape_to_string(expected) +
                         ")");
      return got.status();
    }
    const TensorView* v = got.value();
    const std::string file = ckpt_.file_of(name);
    if (!dtype_is_float(v->dtype))
      return unsupported(file + ": unsupported dtype " + dtype_name(v->dtype) + " for tensor '" + name +
                         "' (weights must be F32, F16 or BF16)");
    if (v->shape != expected)
      return corrupt(file + ": tensor '" + name + "' has the wrong shape: expected " + shape_to_string(expected) +
                     ", found " + shape_to_string(v->shape));
    out->dtype = v->dtype;
    out->shape = v->shape;
    out->data = v->data;
    out->nbytes = v->nbytes;
    out->name = name;
    if (out->data == nullptr) {
      // Only possible for a zero-element tensor in a file without data; config sizes are > 0.
      return corrupt(file + ": tensor '" + name + "' has no data");
    }
    total_bytes_ += v->nbytes;
    return Status::ok();
  }

  void mark_used(const std::string& name) { used_.insert(name); }
  bool used(const std::string& name) const { return used_.count(name) > 0; }
  size_t total_bytes() const { return total_bytes_; }

 private:
  const SafetensorsCheckpoint& ckpt_;
  std::set<std::string> used_;
  size_t total_bytes_ = 0;
};

}  // namespace

std::vector<WeightRef*> projection_matrices(ModelWeights& w) {
  std::vector<WeightRef*> out;
  out.reserve(w.layers.size() * 7 + 1);
  for (LayerWeights& L : w.layers) {
    for (WeightRef* r : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) out.push_back(r);
  }
  out.push_back(&w.lm_head);
  return out;
}

std::vector<const WeightRef*> projection_matrices(const ModelWeights& w) {
  std::vector<WeightRef*> m = projection_matrices(const_cast<ModelWeights&>(w));
  return {m.begin(), m.end()};
}

int64_t WeightRef::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<ModelWeights> load_weights(const std::string& model_dir, const ModelConfig& config,
                                  const LoadWeightsOptions& options) {
  LPX_ASSIGN_OR_RETURN(SafetensorsCheckpoint ckpt, SafetensorsCheckpoint::open_dir(model_dir, options.mmap));
  return bind_weights(std::make_shared<const SafetensorsCheckpoint>(std::move(ckpt)), config);
}

Result<ModelWeights> bind_weights(std::shared_ptr<const SafetensorsCheckpoint> checkpoint, const ModelConfig& config) {
  if (!checkpoint) return invalid_argument("bind_weights: no checkpoint");
  const SafetensorsCheckpoint& ck = *checkpoint;
  const int64_t hidden = config.hidden_size;
  const int64_t vocab = config.vocab_size;
  const int64_t inter = config.intermediate_size;
  const int64_t q_dim = config.q_dim();
  const int64_t kv_dim = config.kv_dim();

  ModelWeights w;
  Binder b(ck);
  LPX_RETURN_IF_ERROR(b.bind("model.embed_tokens.weight", {vocab, hidden}, true, &w.embed));
  LPX_RETURN_IF_ERROR(b.bind("model.norm.weight", {hidden}, true, &w.final_norm));
  if (config.tie_word_embeddings) {
    w.lm_head = w.embed;
    w.lm_head_tied = true;
    if (ck.contains("lm_head.weight")) {
      b.mark_used("lm_head.weight");
      LPX_LOG_DEBUG(ck.file_of("lm_head.weight") +
                    ": lm_head.weight ignored because tie_word_embeddings is true (embed_tokens is used)");
    }
  } else {
    LPX_RETURN_IF_ERROR(b.bind("lm_head.weight", {vocab, hidden}, true, &w.lm_head));
  }

  w.layers.resize(static_cast<size_t>(config.n_layers));
  for (int64_t i = 0; i < config.n_layers; ++i) {
    LayerWeights& L = w.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LPX_RETURN_IF_ERROR(b.bind(p + "input_layernorm.weight", {hidden}, true, &L.attn_norm));
    LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.q_proj.weight", {q_dim, hidden}, true, &L.wq));
    LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.k_proj.weight", {kv_dim, hidden}, true, &L.wk));
    LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.v_proj.weight", {kv_dim, hidden}, true, &L.wv));
    LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.o_proj.weight", {hidden, q_dim}, true, &L.wo));
    if (config.qkv_bias) {
      LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.q_proj.bias", {q_dim}, true, &L.bq));
      LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.k_proj.bias", {kv_dim}, true, &L.bk));
      LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.v_proj.bias", {kv_dim}, true, &L.bv));
    }
    if (config.o_bias) LPX_RETURN_IF_ERROR(b.bind(p + "self_attn.o_proj.bias", {hidden}, true, &L.bo));
    LPX_RETURN_IF_ERROR(b.bind(p + "post_attention_layernorm.weight", {hidden}, true, &L.ffn_norm));
    LPX_RETURN_IF_ERROR(b.bind(p + "mlp.gate_proj.weight", {inter, hidden}, true, &L.w_gate));
    LPX_RETURN_IF_ERROR(b.bind(p + "mlp.up_proj.weight", {inter, hidden}, true, &L.w_up));
    LPX_RETURN_IF_ERROR(b.bind(p + "mlp.down_proj.weight", {hidden, inter}, true, &L.w_down));
  }

  if (log_level() <= LogLevel::kDebug) {
    for (const auto& name : ck.names())
      if (!b.used(name)) LPX_LOG_DEBUG(ck.file_of(name) + ": unexpected tensor '" + name + "' ignored");
  }
  w.total_bytes = b.total_bytes();
  w.checkpoint = std::move(checkpoint);
  return w;
}

}  // namespace lpx
