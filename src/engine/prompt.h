// Prompts for the engine, written once for `loraplex generate` and the server: chat rendering and
// tokenization, the checks every prompt passes before it is generated from (token ids inside the
// vocabulary, prompt + at least one generated token within the context length) and the max_tokens
// default. Errors are invalid_argument naming the offending request field (Status::field()).
// Pure functions over an immutable Model: thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"

namespace lpx {

// What a prompt is checked against: the model's vocabulary and the engine's context length.
struct PromptLimits {
  int64_t vocab_size = 0;
  int max_model_len = 0;  // prompt + generated tokens
};
PromptLimits prompt_limits(const Model& model, int max_model_len);

// Renders chat messages with the model's template (generation prompt appended) and tokenizes the
// text without adding special tokens (the template writes them). A template error names `field`.
Result<std::vector<int32_t>> encode_chat(const Model& model, const nlohmann::ordered_json& messages,
                                         const std::string& field = "messages");
// Tokenizes a plain prompt; add_special: BOS (and the like) as the tokenizer says.
std::vector<int32_t> encode_text(const Model& model, const std::string& text, bool add_special);

// A token id outside [0, vocab_size) -> invalid_argument naming `field`.
Status check_vocabulary(std::span<const int32_t> ids, int64_t vocab_size, const std::string& field);
// A prompt of n_prompt tokens that leaves no room for one generated token -> invalid_argument.
Status check_context(int64_t n_prompt, int max_model_len, const std::string& field);
// Every check on a prompt: not empty, inside the vocabulary, within the context length.
Status validate_prompt(std::span<const int32_t> ids, const PromptLimits& limits, const std::string& field = "prompt");

// max_tokens for a request that gives none (chat): up to the context length.
inline int default_max_tokens(const PromptLimits& limits) { return limits.max_model_len; }

}  // namespace lpx
