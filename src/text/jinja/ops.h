// Python operators and string formatting for the Jinja interpreter: + - * / // % **, `in`,
// printf-style `str % args`, str.format() and format specs. Thread-safety: stateless; values belong to
// the calling render. Errors: raise RenderError with Python's exception names and messages.
#pragma once

#include <string>
#include <string_view>

#include "text/jinja/value.h"

namespace lpx::jinja {

// op is one of "+", "-", "*", "/", "//", "%", "**".
Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b);
Value unary_minus(const Value& v);
Value unary_plus(const Value& v);
// Python `item in container`.
bool contains(Interpreter& in, const Value& container, const Value& item);
// Python `fmt % args`.
std::string percent_format(Interpreter& in, std::string_view fmt, const Value& args);
// Python str.format(*args, **kwargs).
std::string str_format(Interpreter& in, std::string_view fmt, const CallArgs& args);
// Python format(value, spec).
std::string format_value(Interpreter& in, const Value& v, std::string_view spec);

}  // namespace lpx::jinja
