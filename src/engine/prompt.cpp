// Prompt rendering, tokenization and validation (see prompt.h).
#include "engine/prompt.h"

namespace lpx {

PromptLimits prompt_limits(const Model& model, int max_model_len) {
  return PromptLimits{model.config.vocab_size, max_model_len};
}

Result<std::vector<int32_t>> encode_chat(const Model& model, const nlohmann::ordered_json& messages,
                                         const std::string& field) {
  auto text = model.render_chat(messages, /*add_generation_prompt=*/true);
  if (!text.is_ok()) return text.status().with_field(field);
  return model.tokenizer->encode(*text, /*add_special_tokens=*/false);
}

std::vector<int32_t> encode_text(const Model& model, const std::string& text, bool add_special) {
  return model.tokenizer->encode(text, add_special);
}

Status check_vocabulary(std::span<const int32_t> ids, int64_t vocab_size, const std::string& field) {
  for (int32_t t : ids) {
    if (t < 0 || t >= vocab_size) {
      return invalid_field(field, "token id " + std::to_string(t) + " is outside the vocabulary (" +
                                      std::to_string(vocab_size) + " tokens)");
    }
  }
  return Status::ok();
}

Status check_context(int64_t n_prompt, int max_model_len, const std::string& field) {
  if (n_prompt < max_model_len) return Status::ok();
  return invalid_field(field, "This model's maximum context length is " + std::to_string(max_model_len) +
                                  " tokens, but the prompt has " + std::to_string(n_prompt) +
                                  " tokens (prompt + at least 1 generated token must fit)");
}

Status validate_prompt(std::span<const int32_t> ids, const PromptLimits& limits, const std::string& field) {
  if (ids.empty()) return invalid_field(field, "the prompt is empty");
  LPX_RETURN_IF_ERROR(check_vocabulary(ids, limits.vocab_size, field));
  return check_context(static_cast<int64_t>(ids.size()), limits.max_model_len, field);
}

}  // namespace lpx
