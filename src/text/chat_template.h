// Hugging Face chat templates: parse a tokenizer's chat_template and render conversations the way
// transformers' apply_chat_template does (Jinja2 ImmutableSandboxedEnvironment with trim_blocks,
// lstrip_blocks, loop controls, tojson(ensure_ascii=False), raise_exception, strftime_now, {% generation %}).
// Thread-safety: ChatTemplate is immutable and cheap to copy (shares the parsed tree); render() is const
// and may be called from several threads at once.
// Errors: parse() -> kCorrupt/kUnsupported Status naming the line; render() -> kInvalidArgument for errors
// raised by the template (raise_exception(...), undefined attributes, type errors), kUnsupported for
// features outside this implementation, kResourceExhausted when output/loop/recursion limits are hit.
// JSON inputs should be nlohmann::ordered_json so object key order (visible through tojson and loops over
// dicts) matches Python's insertion-ordered dicts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "text/jinja/template.h"

namespace lpx {

class ChatTemplate {
 public:
  // Parses with transformers' environment settings (trim_blocks, lstrip_blocks).
  static Result<ChatTemplate> parse(std::string source);

  // context: JSON object of variables (messages, add_generation_prompt, tools, bos_token, eos_token, ...).
  Result<std::string> render(const nlohmann::ordered_json& context) const;
  Result<std::string> render(const nlohmann::ordered_json& context, const jinja::RenderOptions& options) const;

  const std::string& source() const { return *source_; }

 private:
  std::shared_ptr<const std::string> source_;
  jinja::Template template_;
};

// Convenience used by the server: messages JSON array + flags + special tokens.
struct ChatRenderOptions {
  bool add_generation_prompt = true;
  nlohmann::ordered_json tools;  // null (default) renders as `tools = None`, like transformers
  std::string bos_token, eos_token;
  nlohmann::ordered_json extra;  // object: more variables (date_string, enable_thinking, pad_token, ...)
  // Clock for strftime_now(): seconds since the epoch, local time; nullopt = now.
  std::optional<int64_t> now_unix_seconds;
};

Result<std::string> render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                const ChatRenderOptions& options);

}  // namespace lpx
