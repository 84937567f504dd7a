// Synthetic model writer: streams random tensors into a safetensors file.
#include "testing/synthetic_model.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/log.h"

namespace lpx {

std::vector<std::string> synthetic_shape_names() { return {"smollm2-135m", "tinyllama-1.1b", "demo"}; }

Result<SyntheticShape> synthetic_shape(const std::string& name) {
  if (name == "smollm2-135m") return SyntheticShape{name, 576, 30, 9, 3, 1536, 49152, 8192, true};
  if (name == "tinyllama-1.1b") return SyntheticShape{name, 2048, 22, 32, 4, 5632, 32000, 2048, false};
  if (name == "demo") return SyntheticShape{name, 128, 4, 4, 2, 384, 584, 256, false};
  return invalid_argument("unknown synthetic shape '" + name + "' (known: smollm2-135m, tinyllama-1.1b, demo)");
}

Status write_synthetic_model(const std::string& dir, const SyntheticShape& s, DType dtype, uint64_t seed,
                             const std::string& donor) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder (" + ec.message() + ")");
  const std::string stamp = s.name + " " + dtype_name(dtype) + " seed " + std::to_string(seed) + " v1";
  if (auto old = read_file(path_join(dir, ".synthetic"));
      old.is_ok() && *old == stamp && file_exists(path_join(dir, "model.safetensors"))) {
    return Status::ok();
  }
  const int64_t hd = s.hidden / s.heads;
  nlohmann::ordered_json cfg = {{"architectures", {"LlamaForCausalLM"}},
                                {"model_type", "llama"},
                                {"hidden_size", s.hidden},
                                {"intermediate_size", s.inter},
                                {"num_hidden_layers", s.layers},
                                {"num_attention_heads", s.heads},
                                {"num_key_value_heads", s.kv_heads},
                                {"head_dim", hd},
                                {"vocab_size", s.vocab},
                                {"max_position_embeddings", s.max_pos},
                                {"rms_norm_eps", 1e-5},
                                {"rope_theta", 10000.0},
                                {"hidden_act", "silu"},
                                {"tie_word_embeddings", s.tied},
                                {"bos_token_id", 1},
                                {"eos_token_id", 2},
                                {"torch_dtype", dtype == DType::kBF16  ? "bfloat16"
                                                : dtype == DType::kF16 ? "float16"
                                                                       : "float32"}};
  std::ofstream(path_join(dir, "config.json")) << cfg.dump(2);

  struct T {
    std::string name;
    std::vector<int64_t> shape;
    bool ones;
  };
  std::vector<T> ts;
  ts.push_back({"model.embed_tokens.weight", {s.vocab, s.hidden}, false});
  ts.push_back({"model.norm.weight", {s.hidden}, true});
  if (!s.tied) ts.push_back({"lm_head.weight", {s.vocab, s.hidden}, false});
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    ts.push_back({p + "input_layernorm.weight", {s.hidden}, true});
    ts.push_back({p + "post_attention_layernorm.weight", {s.hidden}, true});
    ts.push_back({p + "self_attn.q_proj.weight", {s.heads * hd, s.hidden}, false});
    ts.push_back({p + "self_attn.k_proj.weight", {s.kv_heads * hd, s.hidden}, false});
    ts.push_back({p + "self_attn.v_proj.weight", {s.kv_heads * hd, s.hidden}, false});
    ts.push_back({p + "self_attn.o_proj.weight", {s.hidden, s.heads * hd}, false});
    ts.push_back({p + "mlp.gate_proj.weight", {s.inter, s.hidden}, false});
    ts.push_back({p + "mlp.up_proj.weight", {s.inter, s.hidden}, false});
    ts.push_back({p + "mlp.down_proj.weight", {s.hidden, s.inter}, false});
  }
  // Header first (offsets known from shapes), then stream the data tensor by tensor.
  const size_t es = dtype_size(dtype);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  size_t off = 0;
  for (const T& t : ts) {
    size_t n = 1;
    for (auto d : t.shape) n *= static_cast<size_t>(d);
    header[t.name] = {{"dtype", dtype == DType::kBF16  ? "BF16"
                                : dtype == DType::kF16 ? "F16"
                                                       : "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {off, off + n * es}}};
    off += n * es;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  const std::string tmp = path_join(dir, "model.safetensors.tmp");
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return io_error(tmp + ": cannot write");
  uint64_t hl = h.size();
  std::fwrite(&hl, 8, 1, f);
  std::fwrite(h.data(), 1, h.size(), f);
  std::mt19937_64 rng(seed);
  std::vector<float> buf;
  std::vector<uint8_t> out;
  LPX_LOG_INFO("writing synthetic " + s.name + " model to " + dir + " (" + std::to_string(off >> 20) + " MiB)");
  for (const T& t : ts) {
    size_t n = 1;
    for (auto d : t.shape) n *= static_cast<size_t>(d);
    buf.resize(n);
    if (t.ones) {
      std::fill(buf.begin(), buf.end(), 1.0f);
    } else {
      // Cheap approximately-normal values (sum of uniforms), std 0.02.
      for (size_t i = 0; i < n; ++i) {
        uint64_t r = rng();
        float u =
            (float((r & 0xffff)) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float((r >> 48) & 0xffff)) /
                65536.0f -
            2.0f;  // var 1/3
        buf[i] = u * 0.0346f;
      }
    }
    out.resize(n * es);
    convert_from_f32(dtype, buf.data(), out.data(), n);
    if (std::fwrite(out.data(), 1, out.size(), f) != out.size()) {
      std::fclose(f);
      return io_error(tmp + ": write failed (disk full?)");
    }
  }
  std::fclose(f);
  std::error_code rc;
  fs::rename(tmp, path_join(dir, "model.safetensors"), rc);
  if (rc) return io_error(dir + ": rename failed: " + rc.message());
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(path_join(donor, name), path_join(dir, name), fs::copy_options::overwrite_existing, rc);
    if (rc) return io_error(path_join(donor, name) + ": cannot copy (" + rc.message() + ")");
  }
  std::ofstream(path_join(dir, ".synthetic")) << stamp;
  return Status::ok();
}

}  // namespace lpx
