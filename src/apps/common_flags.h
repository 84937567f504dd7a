// CLI flags shared by subcommands: the model folder and the sampling parameters.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/sampling.h"
#include "model/model.h"

namespace lpx {

struct ModelFlags {
  std::string model_dir;
  std::string tokenizer_dir;
  int threads = 0;  // 0 = all cores
  int max_model_len = 0;
  bool quiet = false;
  std::string dtype = "auto";
  bool prepack = true;  // not a flag: env LPX_PREPACK (EnvConfig::prepack)
  ModelLoadOptions load_options() const {
    ModelLoadOptions o;
    o.tokenizer_dir = tokenizer_dir;
    o.progress_log = !quiet;
    o.quantize_q8 = dtype == "q8";
    o.prepack_bf16 = prepack;
    return o;
  }
};

// --dtype auto|q8: how the base weights are held in memory (ModelLoadOptions::quantize_q8).
inline void add_dtype_flag(CLI::App* sub, std::string* dtype) {
  sub->add_option("--dtype", *dtype,
                  "Base weights in memory: auto (as stored) or q8 (weight-only int8, per-32 scales, "
                  "quantized at load: ~1.9x less memory traffic than bf16; LoRA stays as stored)")
      ->check(CLI::IsMember({"auto", "q8"}))
      ->capture_default_str();
}

inline void add_model_flags(CLI::App* sub, ModelFlags* f, bool with_runtime = true) {
  sub->add_option("-m,--model", f->model_dir, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
      ->required();
  sub->add_option("--tokenizer", f->tokenizer_dir, "Folder with tokenizer.json if not the model folder");
  if (with_runtime) {
    sub->add_option("-t,--threads", f->threads, "Compute threads (default: all cores)");
    sub->add_option("--max-model-len", f->max_model_len, "Context length cap (default: the model's)")
        ->envname("NIM_MAX_MODEL_LEN");
    add_dtype_flag(sub, &f->dtype);
  }
  sub->add_flag("-q,--quiet", f->quiet, "No progress log lines while loading");
}

struct SamplingFlags {
  int max_tokens = 64;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  std::optional<uint64_t> seed;
  float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  int top_logprobs = 0;

  Status to_params(SamplingParams* p) const {
    p->max_tokens = max_tokens;
    p->temperature = temperature;
    p->top_p = top_p;
    p->top_k = top_k;
    p->min_p = min_p;
    p->seed = seed;
    p->repetition_penalty = repetition_penalty;
    p->presence_penalty = presence_penalty;
    p->frequency_penalty = frequency_penalty;
    p->stop = stop;
    p->stop_token_ids = stop_token_ids;
    p->ignore_eos = ignore_eos;
    p->want_logprobs = true;
    p->logprobs = top_logprobs;
    return p->validate();
  }
};

inline void add_sampling_flags(CLI::App* sub, SamplingFlags* f) {
  sub->add_option("-n,--max-tokens", f->max_tokens, "Tokens to generate at most")->capture_default_str();
  sub->add_option("--temperature", f->temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-p", f->top_p, "Nucleus sampling mass")->capture_default_str();
  sub->add_option("--top-k", f->top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  sub->add_option("--min-p", f->min_p, "Drop tokens below min_p x the top probability")->capture_default_str();
  sub->add_option("--seed", f->seed, "Random seed for reproducible sampling");
  sub->add_option("--repetition-penalty", f->repetition_penalty, "HF-style repetition penalty (1 = off)");
  sub->add_option("--presence-penalty", f->presence_penalty, "OpenAI presence penalty [-2, 2]");
  sub->add_option("--frequency-penalty", f->frequency_penalty, "OpenAI frequency penalty [-2, 2]");
  sub->add_option("--stop", f->stop, "Stop string (repeatable); not included in the output");
  sub->add_option("--stop-token-id", f->stop_token_ids, "Extra stop token id (repeatable)");
  sub->add_flag("--ignore-eos", f->ignore_eos, "Keep generating past end-of-sequence tokens");
  sub->add_option("--top-logprobs", f->top_logprobs, "Alternatives per token in --json output [0, 20]");
}

}  // namespace lpx
