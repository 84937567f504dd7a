// Jinja2 builtins used by the interpreter: filters, tests, global functions (range, namespace, dict,
// joiner, cycler, raise_exception, strftime_now) and the Python methods of str/list/dict values.
// Thread-safety: stateless (static tables are immutable). Errors: raise RenderError like Jinja2/Python.
// Implemented in text/jinja/builtins/: filters.cpp, tests.cpp, globals.cpp, methods.cpp (a table of
// handlers per receiver type), common.h (shared helpers).
#pragma once

#include <string>

#include "text/jinja/value.h"

namespace lpx::jinja {

Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);

// Global function `name` (created in the render's heap); false if there is none.
bool make_global(Interpreter& in, const std::string& name, Value* out);

// Does a str/list/tuple/dict value have Python method `name` (implemented or known-but-unsupported)?
bool is_method(const Value& self, const std::string& name);
// Attribute access to a method: a bound method object, or (in the immutable sandbox) an undefined
// value that raises SecurityError when used. False when `self` has no such method.
bool method_attr(Interpreter& in, const Value& self, const std::string& name, Value* out);
Value call_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args);

}  // namespace lpx::jinja
