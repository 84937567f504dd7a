// Public Jinja2 template API (see template.h): error conversion at the edge, no exceptions escape.
#include "text/jinja/template.h"

#include <exception>

#include "text/jinja/ast.h"
#include "text/jinja/parser.h"

namespace lpx::jinja {

Result<Template> Template::parse(std::string_view source, const ParseOptions& options) {
  LexOptions lex;
  lex.trim_blocks = options.trim_blocks;
  lex.lstrip_blocks = options.lstrip_blocks;
  lex.keep_trailing_newline = options.keep_trailing_newline;
  try {
    std::vector<Token> tokens = tokenize(source, lex);
    std::shared_ptr<const Program> prog = parse_tokens(std::move(tokens));
    Template t;
    t.program_ = std::move(prog);
    return t;
  } catch (const SyntaxError& e) {
    std::string msg = "jinja template line " + std::to_string(e.line) + ": TemplateSyntaxError: " + e.message;
    if (e.message.rfind("unsupported", 0) == 0) return unsupported(msg);
    return corrupt(msg);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("jinja template: out of memory while parsing");
  } catch (const std::exception& e) {
    return internal_error(std::string("jinja template: parse failed: ") + e.what());
  }
}

Result<std::string> Template::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  if (!program_) return invalid_argument("jinja template: render() called on an empty template");
  if (!context.is_object()) return invalid_argument("jinja template: render context must be a JSON object");
  try {
    Interpreter in(*program_, options);
    return in.render(context);
  } catch (const RenderError& e) {
    std::string msg = "jinja template line " + std::to_string(e.line) + ": " + e.type + ": " + e.message;
    if (e.type == "UnsupportedError") return unsupported(msg);
    if (e.type == "ResourceExhausted") return resource_exhausted(msg);
    return invalid_argument(msg);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("jinja template: out of memory while rendering");
  } catch (const std::exception& e) {
    return internal_error(std::string("jinja template: render failed: ") + e.what());
  }
}

}  // namespace lpx::jinja
