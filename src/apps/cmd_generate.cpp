// `loraplex generate`: run the model on one prompt (or interactively), streaming the text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/common_flags.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "engine/prompt.h"
#include "lora/adapter_loader.h"
#include "lora/manager.h"
#include "model/model.h"

namespace lpx {
namespace {

struct GenerateArgs {
  ModelFlags model;
  SamplingFlags sampling;
  std::string prompt, chat, system;
  std::string lora_dir;
  int max_lora_rank = 64;
  bool json = false;
  bool interactive = false;
  bool no_special = false;
};

// Runs one request to completion; streams text unless json. Returns exit code.
int run_one(const Model& model, Engine& engine, const GenerateArgs& a, const std::vector<int32_t>& prompt_ids,
            const SamplingParams& params, const LeasePtr& lora) {
  using clock = std::chrono::steady_clock;
  nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
  std::string text;
  std::string finish = "none";
  int n_generated = 0;
  Status error;
  auto t0 = clock::now();
  std::optional<clock::time_point> t_first;
  GenerationRequest req;
  req.prompt = prompt_ids;
  req.params = params;
  req.lora = lora;
  req.on_output = [&](const RequestOutput& out) {
    for (const TokenOutput& t : out.tokens) {
      if (!t_first) t_first = clock::now();
      n_generated++;
      text += t.text;
      if (a.json) {
        nlohmann::ordered_json jt;
        jt["id"] = t.token;
        std::vector<int32_t> one{t.token};
        jt["text"] = model.tokenizer->decode(one, false);
        jt["logprob"] = t.logprob;
        nlohmann::ordered_json alts = nlohmann::ordered_json::array();
        for (auto& [id, lp] : t.top_logprobs) {
          std::vector<int32_t> o{id};
          alts.push_back({{"id", id}, {"text", model.tokenizer->decode(o, false)}, {"logprob", lp}});
        }
        jt["top_logprobs"] = alts;
        tokens.push_back(jt);
      } else {
        std::fwrite(t.text.data(), 1, t.text.size(), stdout);
        std::fflush(stdout);
      }
    }
    if (out.finished) {
      text += out.tail_text;
      if (!a.json) {
        std::fwrite(out.tail_text.data(), 1, out.tail_text.size(), stdout);
        std::fflush(stdout);
      }
      finish = finish_reason_name(out.reason);
      error = out.error;
    }
  };
  auto id = engine.add_request(std::move(req));
  if (!id.is_ok()) {
    std::fprintf(stderr, "loraplex: %s\n", id.status().message().c_str());
    return 1;
  }
  Status st = engine.run_to_completion();
  auto t1 = clock::now();
  if (!st.is_ok() || !error.is_ok()) {
    std::fprintf(stderr, "\nloraplex: generation failed: %s\n", (!st.is_ok() ? st : error).to_string().c_str());
    return 1;
  }
  double prefill_s = std::chrono::duration<double>(t_first.value_or(t1) - t0).count();
  double decode_s = std::chrono::duration<double>(t1 - t_first.value_or(t1)).count();
  double prefill_tps = prefill_s > 0 ? prompt_ids.size() / prefill_s : 0;
  double decode_tps = (n_generated > 1 && decode_s > 0) ? (n_generated - 1) / decode_s : 0;
  if (a.json) {
    nlohmann::ordered_json j;
    j["prompt_ids"] = prompt_ids;
    j["tokens"] = tokens;
    j["text"] = text;
    j["finish_reason"] = finish;
    j["prompt_tokens"] = prompt_ids.size();
    j["completion_tokens"] = n_generated;
    j["prefill_tokens_per_s"] = prefill_tps;
    j["decode_tokens_per_s"] = decode_tps;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[%zu prompt tokens, %.1f tok/s prefill | %d generated, %.1f tok/s decode | finish: %s]\n",
                 prompt_ids.size(), prefill_tps, n_generated, decode_tps, finish.c_str());
  }
  return 0;
}

}  // namespace

std::function<int()> add_generate_command(CLI::App& app, const EnvConfig& env) {
  auto a = std::make_shared<GenerateArgs>();
  a->model.prepack = env.prepack;
  CLI::App* sub = app.add_subcommand(
      "generate", "Generate text from a prompt (--prompt), a chat message (--chat) or interactively");
  add_model_flags(sub, &a->model);
  add_sampling_flags(sub, &a->sampling);
  sub->add_option("-p,--prompt", a->prompt, "Plain completion prompt (BOS added as the tokenizer says)");
  sub->add_option("-c,--chat", a->chat, "A user message, rendered with the model's chat template");
  sub->add_option("--system", a->system, "A system message to put before --chat");
  sub->add_flag("--json", a->json, "Print one JSON object: prompt ids and per token id, text, logprob, alternatives");
  sub->add_flag("-i,--interactive", a->interactive, "Read messages from stdin, one per line, and answer each");
  sub->add_flag("--no-special", a->no_special, "Do not add special tokens (BOS) to --prompt");
  sub->add_option("--lora", a->lora_dir,
                  "A LoRA adapter folder (PEFT adapter_config.json + adapter_model.safetensors|.bin, or one .nemo) "
                  "applied on top of the model");
  sub->add_option("--max-lora-rank", a->max_lora_rank, "Largest adapter rank accepted")
      ->envname("NIM_MAX_LORA_RANK")
      ->capture_default_str();
  return [a]() -> int {
    if (a->prompt.empty() && a->chat.empty() && !a->interactive) {
      std::fprintf(stderr, "loraplex generate: give --prompt TEXT, --chat TEXT or --interactive\n");
      return 2;
    }
    ThreadPool pool(a->model.threads);
    auto loaded = Model::load(a->model.model_dir, a->model.load_options());
    if (!loaded.is_ok()) {
      std::fprintf(stderr, "loraplex: cannot load model: %s\n", loaded.status().to_string().c_str());
      return 1;
    }
    const Model& model = *loaded.value();
    SamplingParams params;
    if (Status s = a->sampling.to_params(&params); !s.is_ok()) {
      std::fprintf(stderr, "loraplex generate: %s\n", s.message().c_str());
      return 2;
    }
    EngineConfig ec;
    ec.max_num_seqs = 1;
    ec.max_model_len = a->model.max_model_len;
    LeasePtr lora;
    if (!a->lora_dir.empty()) {
      std::string name = std::filesystem::path(a->lora_dir).lexically_normal().filename().string();
      if (name.empty()) name = std::filesystem::path(a->lora_dir).lexically_normal().parent_path().filename().string();
      AdapterLoadOptions lo;
      lo.max_rank = a->max_lora_rank;
      auto adapter = load_adapter(name, a->lora_dir, model.config, lo);
      if (!adapter.is_ok()) {
        std::fprintf(stderr, "loraplex: cannot load adapter: %s\n", adapter.status().to_string().c_str());
        return 1;
      }
      if (!a->model.quiet) {
        std::fprintf(stderr, "loraplex: adapter '%s' (%s, rank %d) loaded\n", name.c_str(),
                     adapter.value()->format.c_str(), adapter.value()->max_rank);
      }
      ec.lora.n_slots = 1;
      ec.lora.max_rank = std::max(1, adapter.value()->max_rank);
      ec.lora.page_rank = ec.lora.max_rank;
      lora = std::make_shared<const AdapterLease>(nullptr, name, name, adapter.value());
    }
    Engine engine(model, ec, &pool);

    auto chat_ids = [&](const std::string& user) -> Result<std::vector<int32_t>> {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      if (!a->system.empty()) msgs.push_back({{"role", "system"}, {"content", a->system}});
      msgs.push_back({{"role", "user"}, {"content", user}});
      return encode_chat(model, msgs);
    };
    if (!a->interactive) {
      std::vector<int32_t> ids;
      if (!a->chat.empty()) {
        auto r = chat_ids(a->chat);
        if (!r.is_ok()) {
          std::fprintf(stderr, "loraplex generate: %s\n", r.status().message().c_str());
          return 1;
        }
        ids = std::move(r).value();
      } else {
        ids = encode_text(model, a->prompt, !a->no_special);
      }
      return run_one(model, engine, *a, ids, params, lora);
    }
    std::fprintf(stderr, "loraplex: %s loaded. Type a message and press Enter (%s); Ctrl-D quits.\n",
                 a->model.model_dir.c_str(),
                 model.chat_template ? "rendered with the chat template" : "used as a plain prompt");
    std::string line;
    while (true) {
      std::fprintf(stderr, "> ");
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      std::vector<int32_t> ids;
      if (model.chat_template) {
        auto r = chat_ids(line);
        if (!r.is_ok()) {
          std::fprintf(stderr, "%s\n", r.status().message().c_str());
          continue;
        }
        ids = std::move(r).value();
      } else {
        ids = encode_text(model, line, /*add_special=*/true);
      }
      run_one(model, engine, *a, ids, params, lora);
    }
    std::fprintf(stderr, "\n");
    return 0;
  };
}

}  // namespace lpx
