// Hugging Face chat template rendering (see chat_template.h).
#include "text/chat_template.h"

#include <memory>
#include <utility>

namespace lpx {

Result<ChatTemplate> ChatTemplate::parse(std::string source) {
  jinja::ParseOptions opts;
  opts.trim_blocks = true;
  opts.lstrip_blocks = true;
  auto parsed = jinja::Template::parse(source, opts);
  if (!parsed.is_ok()) return parsed.status().with_context("chat template");
  ChatTemplate t;
  t.source_ = std::make_shared<const std::string>(std::move(source));
  t.template_ = std::move(parsed).value();
  return t;
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
  return render(context, jinja::RenderOptions{});
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context,
                                         const jinja::RenderOptions& options) const {
  if (!source_) return invalid_argument("chat template: render() called on an empty ChatTemplate");
  auto out = template_.render(context, options);
  if (!out.is_ok()) return out.status().with_context("chat template");
  return out;
}

Result<std::string> render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                const ChatRenderOptions& options) {
  if (!messages.is_array()) return invalid_argument("chat template: messages must be a JSON array");
  if (!options.extra.is_null() && !options.extra.is_object()) {
    return invalid_argument("chat template: extra variables must be a JSON object");
  }
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = messages;
  ctx["tools"] = options.tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = options.add_generation_prompt;
  ctx["bos_token"] = options.bos_token;
  ctx["eos_token"] = options.eos_token;
  if (options.extra.is_object()) {
    for (auto it = options.extra.begin(); it != options.extra.end(); ++it) ctx[it.key()] = it.value();
  }
  jinja::RenderOptions ro;
  ro.now_unix_seconds = options.now_unix_seconds;
  return tmpl.render(ctx, ro);
}

}  // namespace lpx
