// Model folder loading: config -> weights -> tokenizer -> chat template -> stop tokens.
#include "model/model.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/log.h"
#include "model/prepack.h"
#include "model/quantize.h"

namespace lpx {
namespace {

void add_ids(const nlohmann::json& j, std::vector<int32_t>* out) {
  if (j.is_number_integer()) out->push_back(j.get<int32_t>());
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_number_integer()) out->push_back(v.get<int32_t>());
}

std::string human_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string human_bytes(size_t n) {
  char buf[32];
  if (n >= (1u << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(1u << 30));
  else if (n >= (1u << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", n / double(1u << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  return buf;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& dir, const ModelLoadOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  if (!is_directory(dir)) return not_found(dir + ": model folder not found");
  auto m = std::make_unique<Model>();
  m->dir = dir;
  LPX_ASSIGN_OR_RETURN(m->config, load_config(path_join(dir, "config.json")));
  if (options.progress_log) {
    LPX_LOG_INFO("loading " + m->config.architecture + " from " + dir + ": " + std::to_string(m->config.n_layers) +
                 " layers, hidden " + std::to_string(m->config.hidden_size) + ", vocab " +
                 std::to_string(m->config.vocab_size));
  }
  LPX_ASSIGN_OR_RETURN(m->weights, load_weights(dir, m->config));
  if (options.progress_log) LPX_LOG_INFO("weights mapped: " + human_bytes(m->weights.total_bytes));
  if (!options.quantize_q8 && options.prepack_bf16 && prepack_wanted()) {
    const auto t = std::chrono::steady_clock::now();
    auto n = prepack_weights(m->weights);
    if (!n.is_ok()) return n.status().with_context(dir);
    if (options.progress_log && *n > 0) {
      LPX_LOG_INFO("weights repacked for the vdpbf16ps kernels: " + std::to_string(*n) + " matrices in " +
                   human_seconds(seconds_since(t)) + " (LPX_PREPACK=0 keeps the stored layout)");
    }
  }
  if (options.quantize_q8) {
    auto rep = quantize_weights_q8(m->weights);
    if (!rep.is_ok()) return rep.status().with_context(dir);
    if (options.progress_log) {
      LPX_LOG_INFO("weights quantized to q8: " + std::to_string(rep->quantized) + " matrices, " +
                   human_bytes(rep->bytes_before) + " -> " + human_bytes(rep->bytes_after) + " in " +
                   human_seconds(rep->seconds) +
                   (rep->kept > 0 ? " (" + std::to_string(rep->kept) + " kept as stored)" : std::string()) +
                   "; weights now " + human_bytes(m->weights.total_bytes));
    }
  }

  const std::string tok_dir = options.tokenizer_dir.empty() ? dir : options.tokenizer_dir;
  const std::string tok_json = path_join(tok_dir, "tokenizer.json");
  const std::string tok_cfg = path_join(tok_dir, "tokenizer_config.json");
  if (!file_exists(tok_json)) {
    return not_found(tok_json + ": tokenizer.json not found (loraplex needs a Hugging Face fast tokenizer file)");
  }
  LPX_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(tok_json, file_exists(tok_cfg) ? tok_cfg : ""));
  m->tokenizer = std::make_unique<Tokenizer>(std::move(tok));
  if (m->tokenizer->vocab_size() > m->config.vocab_size) {
    return corrupt(tok_json + ": tokenizer has " + std::to_string(m->tokenizer->vocab_size()) +
                   " tokens but config.json vocab_size is " + std::to_string(m->config.vocab_size));
  }
  const std::string& tpl = m->tokenizer->config().chat_template;
  if (!tpl.empty()) {
    auto parsed = ChatTemplate::parse(tpl);
    if (!parsed.is_ok()) return parsed.status().with_context(tok_cfg + ": chat_template");
    m->chat_template = std::move(parsed).value();
  }

  // Stop tokens: config.json eos_token_id, generation_config.json eos_token_id, tokenizer eos.
  for (int64_t id : m->config.eos_token_ids) m->eos_ids.push_back(static_cast<int32_t>(id));
  const std::string gen_cfg = path_join(dir, "generation_config.json");
  if (file_exists(gen_cfg)) {
    LPX_ASSIGN_OR_RETURN(std::string text, read_file(gen_cfg));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return corrupt(gen_cfg + ": not a JSON object");
    if (j.contains("eos_token_id")) add_ids(j["eos_token_id"], &m->eos_ids);
  }
  if (auto e = m->tokenizer->eos_id()) m->eos_ids.push_back(*e);
  std::sort(m->eos_ids.begin(), m->eos_ids.end());
  m->eos_ids.erase(std::unique(m->eos_ids.begin(), m->eos_ids.end()), m->eos_ids.end());
  if (!m->config.bos_token_ids.empty()) m->bos_id = static_cast<int32_t>(m->config.bos_token_ids[0]);
  if (auto b = m->tokenizer->bos_id()) m->bos_id = *b;

  m->load_seconds = seconds_since(t0);
  if (options.progress_log) {
    LPX_LOG_INFO("model ready in " + human_seconds(m->load_seconds) + " (tokenizer " +
                 std::to_string(m->tokenizer->vocab_size()) + " tokens, chat template " +
                 (m->chat_template ? "yes" : "none") + ")");
  }
  return m;
}

Result<std::string> Model::render_chat(const nlohmann::ordered_json& messages, bool add_generation_prompt) const {
  if (!chat_template) {
    return invalid_argument(
        "this model has no chat template (tokenizer_config.json has no chat_template); "
        "use the completions API with a plain prompt");
  }
  ChatRenderOptions opts;
  opts.add_generation_prompt = add_generation_prompt;
  opts.bos_token = tokenizer->config().bos_token;
  opts.eos_token = tokenizer->config().eos_token;
  return lpx::render_chat(*chat_template, messages, opts);
}

bool Model::is_eos(int32_t token) const { return std::binary_search(eos_ids.begin(), eos_ids.end(), token); }

}  // namespace lpx
