// Public Jinja2 template API: parse once, render many times (possibly concurrently).
// Thread-safety: Template is immutable after parse(); copies share the parsed tree; render() is const and
// keeps all state per call, so several threads may render the same Template at once.
// Errors: parse() -> Status (kCorrupt for syntax errors, kUnsupported for tags we do not implement) with
// "line N:" in the message; render() -> Status (kInvalidArgument for template/runtime errors such as
// raise_exception or undefined attributes, kUnsupported for unimplemented features, kResourceExhausted
// for the render limits), also naming the line and the Jinja2/Python error class.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/lexer.h"

namespace lpx::jinja {

struct Program;

struct ParseOptions {
  bool trim_blocks = false;
  bool lstrip_blocks = false;
  bool keep_trailing_newline = false;
};

class Template {
 public:
  static Result<Template> parse(std::string_view source, const ParseOptions& options = {});
  // `context` must be a JSON object (its keys become template variables, key order preserved).
  Result<std::string> render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;

 private:
  std::shared_ptr<const Program> program_;
};

}  // namespace lpx::jinja
