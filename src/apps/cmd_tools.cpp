// `loraplex inspect | tokenize | template`: look inside a model folder, its tokenizer and template.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/common_flags.h"
#include "core/dtype.h"
#include "core/file_util.h"
#include "model/model.h"

namespace lpx {
namespace {

std::string read_stdin() {
  std::istreambuf_iterator<char> begin(std::cin), end;
  return std::string(begin, end);
}

}  // namespace

std::function<int()> add_inspect_command(CLI::App& app, const EnvConfig& env) {
  auto f = std::make_shared<ModelFlags>();
  f->prepack = env.prepack;
  auto json_out = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("inspect", "Show what a model folder holds, or what is wrong with it");
  sub->add_option("dir", f->model_dir, "Model folder")->required();
  sub->add_option("--tokenizer", f->tokenizer_dir, "Folder with tokenizer.json if not the model folder");
  sub->add_flag("--json", *json_out, "Machine-readable output");
  return [f, json_out]() -> int {
    ModelLoadOptions o = f->load_options();
    o.progress_log = false;
    auto loaded = Model::load(f->model_dir, o);
    if (!loaded.is_ok()) {
      std::fprintf(stderr, "loraplex inspect: %s is not usable: %s\n", f->model_dir.c_str(),
                   loaded.status().to_string().c_str());
      return 1;
    }
    const Model& m = *loaded.value();
    const ModelConfig& c = m.config;
    nlohmann::ordered_json j;
    j["path"] = m.dir;
    j["architecture"] = c.architecture;
    j["hidden_size"] = c.hidden_size;
    j["layers"] = c.n_layers;
    j["attention_heads"] = c.n_heads;
    j["kv_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_dim;
    j["intermediate_size"] = c.intermediate_size;
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["rope_theta"] = c.rope_theta;
    j["tied_embeddings"] = c.tie_word_embeddings;
    j["weights_dtype"] = dtype_name(m.weights.embed.dtype);
    j["weights_bytes"] = m.weights.total_bytes;
    int64_t params = 0;
    auto count = [&](const WeightRef& w) {
      if (w.present()) params += w.numel();
    };
    count(m.weights.embed);
    count(m.weights.final_norm);
    if (!m.weights.lm_head_tied) count(m.weights.lm_head);
    for (const auto& L : m.weights.layers) {
      for (const WeightRef* w : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv, &L.bo, &L.ffn_norm,
                                 &L.w_gate, &L.w_up, &L.w_down})
        count(*w);
    }
    j["parameters"] = params;
    j["tokenizer_tokens"] = m.tokenizer->vocab_size();
    j["bos"] = m.bos_id ? nlohmann::ordered_json(*m.bos_id) : nlohmann::ordered_json(nullptr);
    j["eos"] = m.eos_ids;
    j["chat_template"] = m.chat_template.has_value();
    if (*json_out) {
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("%s\n", m.dir.c_str());
    std::printf("  architecture     %s\n", c.architecture.c_str());
    std::printf("  parameters       %.2f M (%s weights, %.1f MiB mapped)\n", params / 1e6,
                dtype_name(m.weights.embed.dtype), m.weights.total_bytes / 1048576.0);
    std::printf("  layers           %lld, hidden %lld, intermediate %lld\n", (long long)c.n_layers,
                (long long)c.hidden_size, (long long)c.intermediate_size);
    std::printf("  attention        %lld heads, %lld KV heads (GQA %lldx), head_dim %lld\n", (long long)c.n_heads,
                (long long)c.n_kv_heads, (long long)(c.n_heads / std::max<int64_t>(1, c.n_kv_heads)),
                (long long)c.head_dim);
    std::printf("  context          %lld tokens, rope_theta %g%s\n", (long long)c.max_position_embeddings, c.rope_theta,
                c.tie_word_embeddings ? ", tied embeddings" : "");
    std::printf("  vocabulary       %lld (tokenizer: %d)\n", (long long)c.vocab_size, m.tokenizer->vocab_size());
    std::string eos;
    for (int32_t e : m.eos_ids)
      eos += (eos.empty() ? "" : ", ") + std::to_string(e) + " " + m.tokenizer->id_to_token(e);
    std::printf("  bos / eos        %s / %s\n",
                m.bos_id ? (std::to_string(*m.bos_id) + " " + m.tokenizer->id_to_token(*m.bos_id)).c_str() : "none",
                eos.c_str());
    std::printf("  chat template    %s\n", m.chat_template ? "yes" : "none (completions only)");
    return 0;
  };
}

std::function<int()> add_tokenize_command(CLI::App& app) {
  auto f = std::make_shared<ModelFlags>();
  auto add_special = std::make_shared<bool>(false);
  auto decode = std::make_shared<bool>(false);
  auto skip_special = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand(
      "tokenize", "Read text on stdin and print its token ids as JSON (or, with --decode, ids -> text)");
  sub->add_option("-m,--model", f->model_dir, "Model folder (or any folder with tokenizer.json)")->required();
  sub->add_flag("--add-special", *add_special, "Add special tokens (BOS) as the tokenizer's post-processor says");
  sub->add_flag("--decode", *decode, "Read a JSON array of ids (or whitespace-separated ids) and print the text");
  sub->add_flag("--skip-special", *skip_special, "With --decode: drop special tokens");
  return [f, add_special, decode, skip_special]() -> int {
    const std::string dir = f->model_dir;
    const std::string cfg = path_join(dir, "tokenizer_config.json");
    auto tok = Tokenizer::load(path_join(dir, "tokenizer.json"), file_exists(cfg) ? cfg : "");
    if (!tok.is_ok()) {
      std::fprintf(stderr, "loraplex tokenize: %s\n", tok.status().to_string().c_str());
      return 1;
    }
    std::string input = read_stdin();
    if (*decode) {
      std::vector<int32_t> ids;
      auto j = nlohmann::json::parse(input, nullptr, false);
      if (!j.is_discarded() && j.is_array()) {
        for (const auto& v : j) {
          if (!v.is_number_integer()) {
            std::fprintf(stderr, "loraplex tokenize --decode: expected integer ids, got %s\n", v.dump().c_str());
            return 2;
          }
          ids.push_back(v.get<int32_t>());
        }
      } else {
        std::istringstream ss(input);
        std::string w;
        while (ss >> w) {
          try {
            ids.push_back(std::stoi(w));
          } catch (...) {
            std::fprintf(stderr, "loraplex tokenize --decode: '%s' is not a token id\n", w.c_str());
            return 2;
          }
        }
      }
      for (int32_t id : ids) {
        if (id < 0 || id >= tok->vocab_size()) {
          std::fprintf(stderr, "loraplex tokenize --decode: id %d is outside the vocabulary (%d tokens)\n", id,
                       tok->vocab_size());
          return 2;
        }
      }
      std::string text = tok->decode(ids, *skip_special);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return 0;
    }
    auto ids = tok->encode(input, *add_special);
    std::printf("%s\n", nlohmann::json(ids).dump().c_str());
    return 0;
  };
}

std::function<int()> add_template_command(CLI::App& app) {
  auto f = std::make_shared<ModelFlags>();
  auto messages_path = std::make_shared<std::string>();
  auto no_gen = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("template", "Print the chat prompt the model's template renders for messages");
  sub->add_option("-m,--model", f->model_dir, "Model folder")->required();
  sub->add_option("--messages", *messages_path, "JSON file with an array of {role, content} (- = stdin)")->required();
  sub->add_flag("--no-generation-prompt", *no_gen, "Do not append the assistant turn header");
  return [f, messages_path, no_gen]() -> int {
    const std::string dir = f->model_dir;
    const std::string cfg = path_join(dir, "tokenizer_config.json");
    auto tok = Tokenizer::load(path_join(dir, "tokenizer.json"), file_exists(cfg) ? cfg : "");
    if (!tok.is_ok()) {
      std::fprintf(stderr, "loraplex template: %s\n", tok.status().to_string().c_str());
      return 1;
    }
    if (tok->config().chat_template.empty()) {
      std::fprintf(stderr, "loraplex template: %s has no chat_template\n", cfg.c_str());
      return 1;
    }
    auto tpl = ChatTemplate::parse(tok->config().chat_template);
    if (!tpl.is_ok()) {
      std::fprintf(stderr, "loraplex template: %s: %s\n", cfg.c_str(), tpl.status().message().c_str());
      return 1;
    }
    std::string text;
    if (*messages_path == "-") {
      text = read_stdin();
    } else {
      auto r = read_file(*messages_path);
      if (!r.is_ok()) {
        std::fprintf(stderr, "loraplex template: %s\n", r.status().message().c_str());
        return 1;
      }
      text = std::move(r).value();
    }
    auto msgs = nlohmann::ordered_json::parse(text, nullptr, false);
    if (msgs.is_discarded() || !msgs.is_array()) {
      std::fprintf(stderr, "loraplex template: %s: expected a JSON array of messages\n", messages_path->c_str());
      return 2;
    }
    ChatRenderOptions opts;
    opts.add_generation_prompt = !*no_gen;
    opts.bos_token = tok->config().bos_token;
    opts.eos_token = tok->config().eos_token;
    auto out = render_chat(*tpl, msgs, opts);
    if (!out.is_ok()) {
      std::fprintf(stderr, "loraplex template: %s\n", out.status().message().c_str());
      return 1;
    }
    std::fwrite(out->data(), 1, out->size(), stdout);
    return 0;
  };
}

}  // namespace lpx
