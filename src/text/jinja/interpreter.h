// Tree-walking Jinja2 interpreter: renders a parsed Program against a context, with Jinja2's scoping
// (loop and macro scopes, namespaces), Undefined semantics and transformers' sandbox rules.
// Thread-safety: one Interpreter per render (it owns the render's heap); the Program is shared read-only.
// Errors: throws RenderError (internal); Template::render converts it to a Status. Resource limits
// (output size, loop iterations, call depth, string size, allocations) raise RenderError too.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/value.h"

namespace lpx::jinja {

struct RenderLimits {
  size_t max_output_bytes = 64u << 20;
  size_t max_string_bytes = 64u << 20;
  uint64_t max_loop_iterations = 2'000'000;  // total over the render
  int max_call_depth = 200;                  // nested macro/filter calls
  size_t max_allocations = 10'000'000;       // containers/objects created
};

struct RenderOptions {
  // transformers' ImmutableSandboxedEnvironment: list/dict mutating methods raise SecurityError and
  // range() is capped at 100000 items. Plain jinja2.Environment semantics when false.
  bool immutable_sandbox = true;
  // Clock for strftime_now(), seconds since the epoch rendered in local time; nullopt = now.
  std::optional<int64_t> now_unix_seconds;
  // Render strftime_now() in UTC instead of local time (useful for deterministic tests).
  bool utc = false;
  RenderLimits limits;
};

enum class Flow { kNormal, kBreak, kContinue };

class MacroObject;
class LoopContext;

class Interpreter {
 public:
  Interpreter(const Program& program, const RenderOptions& options);
  // Renders the template; `context` must be a JSON object. Throws RenderError.
  std::string render(const nlohmann::ordered_json& context);

  Heap& heap() { return heap_; }
  const RenderOptions& options() const { return options_; }
  int current_line() const { return line_; }

  // ---- services for builtins ----
  Value str(std::string s);  // makes a string value, enforcing max_string_bytes
  void check_string_size(size_t n);
  void check_list_size(size_t n);
  Value undefined_name(const std::string& name);
  Value undefined_hint(const std::string& hint);
  Value undefined_attr(const Value& obj, const std::string& name);
  Value undefined_item(const Value& obj, const Value& key);
  Value new_list(std::vector<Value> items, ListKind kind = ListKind::kList);
  Value new_tuple(std::vector<Value> items) { return new_list(std::move(items), ListKind::kTuple); }

  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value call(const Value& callee, CallArgs& args);
  // Python iter(): the items of a list/tuple/dict(keys)/str(chars)/generator/undefined(empty).
  std::vector<Value> iterate(const Value& v);
  Value call_filter(const std::string& name, const Value& input, CallArgs& args);
  bool call_test(const std::string& name, const Value& input, CallArgs& args);

  Value invoke_macro(MacroObject& macro, CallArgs& args);
  // Runs a for loop's body over items; *completed_any tells whether an iteration ran to the end.
  std::string run_loop(const Stmt& s, Scope* parent, std::vector<Value> items, int depth0, bool* completed_any);

  // Recursion guard for calls (macros, recursive loops, nested filters).
  struct DepthGuard {
    Interpreter* in;
    explicit DepthGuard(Interpreter* i);
    ~DepthGuard() { --in->depth_; }
  };

 private:
  Flow exec_list(const StmtList& list, Scope* scope, std::string& out);
  Flow exec(const Stmt& s, Scope* scope, std::string& out);
  Value eval(const Expr& e, Scope* scope);
  Value eval_call(const Expr& e, Scope* scope, const Value* extra_caller);
  void eval_args(const CallArgExprs& a, Scope* scope, CallArgs* out);
  Value eval_filter_chain(const Expr& e, Scope* scope, const Value& block_input);
  Value eval_slice(const Value& obj, const Expr& slice, Scope* scope);
  Value lookup(const std::string& name, Scope* scope);
  void assign(const Target& t, const Value& v, Scope* scope);
  void emit(std::string& out, std::string_view s);
  void count_iteration();
  Flow exec_for(const Stmt& s, Scope* scope, std::string& out);
  Flow render_block(const StmtList& body, Scope* parent, bool heap_scope, std::string& out);

  const Program& program_;
  RenderOptions options_;
  Heap heap_;
  Scope* root_ = nullptr;
  std::vector<std::pair<std::string, Value>> globals_cache_;
  int line_ = 0;
  int depth_ = 0;
  uint64_t iterations_ = 0;
};

// ---- objects ----

class NativeFunction : public Object {
 public:
  using Fn = std::function<Value(Interpreter&, CallArgs&)>;
  NativeFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  const char* type_name() const override { return "builtin_function_or_method"; }
  std::string repr(Interpreter&) const override { return "<built-in function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(Interpreter& in, CallArgs& args) override { return fn_(in, args); }

 private:
  std::string name_;
  Fn fn_;
};

class NamespaceObject : public Object {
 public:
  explicit NamespaceObject(Dict* attrs) : attrs_(attrs) {}
  const char* type_name() const override { return "Namespace"; }
  std::string object_type_repr() const override { return "jinja2.utils.Namespace object"; }
  std::string repr(Interpreter& in) const override;
  bool get_attr(Interpreter& in, const std::string& name, Value* out) override;
  bool is_namespace() const override { return true; }
  Dict* attrs() { return attrs_; }

 private:
  Dict* attrs_;
};

class MacroObject : public Object {
 public:
  MacroObject(const MacroDef* def, Scope* closure) : def_(def), closure_(closure) {}
  const char* type_name() const override { return "Macro"; }
  std::string object_type_repr() const override { return "jinja2.runtime.Macro object"; }
  std::string repr(Interpreter&) const override { return "<Macro '" + def_->name + "'>"; }
  bool get_attr(Interpreter& in, const std::string& name, Value* out) override;
  bool callable() const override { return true; }
  Value call(Interpreter& in, CallArgs& args) override { return in.invoke_macro(*this, args); }
  const MacroDef* def() const { return def_; }
  Scope* closure() const { return closure_; }

 private:
  const MacroDef* def_;
  Scope* closure_;
};

class LoopContext : public Object {
 public:
  const char* type_name() const override { return "LoopContext"; }
  std::string object_type_repr() const override { return "jinja2.runtime.LoopContext object"; }
  std::string repr(Interpreter&) const override;
  bool get_attr(Interpreter& in, const std::string& name, Value* out) override;
  bool callable() const override { return true; }
  Value call(Interpreter& in, CallArgs& args) override;

  std::vector<Value> items;
  int64_t index0 = 0;
  int depth0 = 0;
  bool active = true;
  const Stmt* stmt = nullptr;  // for recursive loops
  Scope* parent = nullptr;
  bool has_changed = false;
  Value last_changed;
};

}  // namespace lpx::jinja
