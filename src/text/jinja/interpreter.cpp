// Jinja2 interpreter (see interpreter.h): statements, expressions, scoping, macros, loops.
#include "text/jinja/interpreter.h"

#include <algorithm>

#include "text/jinja/builtins.h"
#include "text/jinja/ops.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {

// ---------------------------------------------------------------------------------------------
// Scope

Value* Scope::find_local(std::string_view name) {
  for (auto& kv : vars) {
    if (kv.first == name) return &kv.second;
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  if (Value* slot = find_local(name)) {
    *slot = std::move(v);
    return;
  }
  vars.emplace_back(name, std::move(v));
}

// ---------------------------------------------------------------------------------------------
// Objects

std::string NamespaceObject::repr(Interpreter& in) const {
  return "<Namespace " + jinja::repr(in, Value::dict(attrs_)) + ">";
}

bool NamespaceObject::get_attr(Interpreter& in, const std::string& name, Value* out) {
  (void)in;
  const Value* v = attrs_->find_str(name);
  if (v == nullptr) return false;
  *out = *v;
  return true;
}

bool MacroObject::get_attr(Interpreter& in, const std::string& name, Value* out) {
  if (name == "name") {
    *out = in.str(def_->name);
    return true;
  }
  if (name == "arguments") {
    std::vector<Value> items;
    for (const auto& p : def_->params) items.push_back(in.str(p));
    *out = in.new_tuple(std::move(items));
    return true;
  }
  if (name == "catch_kwargs" || name == "catch_varargs" || name == "caller") {
    bool b = name == "catch_kwargs"    ? def_->uses_kwargs
             : name == "catch_varargs" ? def_->uses_varargs
                                       : def_->uses_caller;
    *out = Value::boolean(b);
    return true;
  }
  return false;
}

std::string LoopContext::repr(Interpreter&) const {
  int64_t len = static_cast<int64_t>(items.size());
  return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(len) + ">";
}

bool LoopContext::get_attr(Interpreter& in, const std::string& name, Value* out) {
  const int64_t len = static_cast<int64_t>(items.size());
  if (name == "index") {
    *out = Value::integer(index0 + 1);
  } else if (name == "index0") {
    *out = Value::integer(index0);
  } else if (name == "revindex") {
    *out = Value::integer(len - index0);
  } else if (name == "revindex0") {
    *out = Value::integer(len - index0 - 1);
  } else if (name == "first") {
    *out = Value::boolean(index0 == 0);
  } else if (name == "last") {
    *out = Value::boolean(index0 == len - 1);
  } else if (name == "length") {
    *out = Value::integer(len);
  } else if (name == "depth") {
    *out = Value::integer(depth0 + 1);
  } else if (name == "depth0") {
    *out = Value::integer(depth0);
  } else if (name == "previtem") {
    *out = index0 > 0 ? items[static_cast<size_t>(index0 - 1)] : in.undefined_hint("there is no previous item");
  } else if (name == "nextitem") {
    *out = index0 + 1 < len ? items[static_cast<size_t>(index0 + 1)] : in.undefined_hint("there is no next item");
  } else if (name == "cycle") {
    LoopContext* self = this;
    *out = Value::object(in.heap().make<NativeFunction>("cycle", [self](Interpreter&, CallArgs& a) -> Value {
      if (a.args.empty()) raise("TypeError", "no items for cycling given");
      return a.args[static_cast<size_t>(self->index0 % static_cast<int64_t>(a.args.size()))];
    }));
  } else if (name == "changed") {
    LoopContext* self = this;
    *out = Value::object(in.heap().make<NativeFunction>("changed", [self](Interpreter& inner, CallArgs& a) -> Value {
      Value current = inner.new_tuple(a.args);
      if (!self->has_changed || !equals(self->last_changed, current)) {
        self->has_changed = true;
        self->last_changed = current;
        return Value::boolean(true);
      }
      return Value::boolean(false);
    }));
  } else {
    return false;
  }
  return true;
}

Value LoopContext::call(Interpreter& in, CallArgs& args) {
  if (stmt == nullptr || !stmt->recursive) {
    raise("TypeError", "The loop must be marked as 'recursive' to call it.");
  }
  if (!active) raise("RuntimeError", "a recursive loop can only be called while it runs");
  if (args.args.size() != 1 || !args.kwargs.empty()) raise("TypeError", "loop() takes exactly one argument");
  Interpreter::DepthGuard guard(&in);
  return in.str(in.run_loop(*stmt, parent, in.iterate(args.args[0]), depth0 + 1, nullptr));
}

// ---------------------------------------------------------------------------------------------
// Interpreter basics

Interpreter::Interpreter(const Program& program, const RenderOptions& options) : program_(program), options_(options) {
  heap_.set_limit(options_.limits.max_allocations);
}

Interpreter::DepthGuard::DepthGuard(Interpreter* i) : in(i) {
  if (++in->depth_ > in->options_.limits.max_call_depth) {
    --in->depth_;
    raise("RecursionError", "maximum recursion depth exceeded (template call depth limit " +
                                std::to_string(in->options_.limits.max_call_depth) + ")");
  }
}

void Interpreter::check_string_size(size_t n) {
  if (n > options_.limits.max_string_bytes) {
    raise("ResourceExhausted",
          "string too large (limit " + std::to_string(options_.limits.max_string_bytes) + " bytes)");
  }
}

void Interpreter::check_list_size(size_t n) {
  if (n > options_.limits.max_allocations) raise("ResourceExhausted", "list too large");
}

Value Interpreter::str(std::string s) {
  check_string_size(s.size());
  return Value::string(std::move(s));
}

Value Interpreter::undefined_name(const std::string& name) {
  UndefinedInfo* u = heap_.new_undefined_info();
  u->name_repr = pystr::repr(name);
  u->has_name = true;
  return Value::undefined(u);
}

Value Interpreter::undefined_hint(const std::string& hint) {
  UndefinedInfo* u = heap_.new_undefined_info();
  u->hint = hint;
  return Value::undefined(u);
}

Value Interpreter::undefined_attr(const Value& obj, const std::string& name) {
  UndefinedInfo* u = heap_.new_undefined_info();
  u->name_repr = pystr::repr(name);
  u->has_name = true;
  u->has_obj = true;
  u->obj_type_repr = object_type_repr(obj);
  return Value::undefined(u);
}

Value Interpreter::undefined_item(const Value& obj, const Value& key) {
  if (key.is_string()) return undefined_attr(obj, key.str());
  UndefinedInfo* u = heap_.new_undefined_info();
  u->name_repr = repr(*this, key);
  u->has_name = true;
  u->name_is_str = false;
  u->has_obj = true;
  u->obj_type_repr = object_type_repr(obj);
  return Value::undefined(u);
}

Value Interpreter::new_list(std::vector<Value> items, ListKind kind) {
  List* l = heap_.new_list(kind);
  l->items = std::move(items);
  return Value::list(l);
}

void Interpreter::emit(std::string& out, std::string_view s) {
  if (out.size() + s.size() > options_.limits.max_output_bytes) {
    raise("ResourceExhausted",
          "template output too large (limit " + std::to_string(options_.limits.max_output_bytes) + " bytes)");
  }
  out.append(s);
}

void Interpreter::count_iteration() {
  if (++iterations_ > options_.limits.max_loop_iterations) {
    raise("ResourceExhausted",
          "template loop iteration limit exceeded (limit " + std::to_string(options_.limits.max_loop_iterations) + ")");
  }
}

std::string Interpreter::render(const nlohmann::ordered_json& context) {
  Scope root;
  if (context.is_object()) {
    for (auto it = context.begin(); it != context.end(); ++it) {
      root.set(it.key(), from_json(heap_, it.value()));
    }
  }
  root_ = &root;
  Scope* top = heap_.new_scope();
  top->parent = &root;
  std::string out;
  try {
    exec_list(program_.body, top, out);
  } catch (RenderError& e) {
    if (e.line == 0) e.line = line_;
    root_ = nullptr;
    throw;
  }
  root_ = nullptr;
  return out;
}

Value Interpreter::lookup(const std::string& name, Scope* scope) {
  for (Scope* s = scope; s != nullptr; s = s->parent) {
    if (Value* v = s->find_local(name)) return *v;
  }
  for (auto& kv : globals_cache_) {
    if (kv.first == name) return kv.second;
  }
  Value g;
  if (make_global(*this, name, &g)) {
    globals_cache_.emplace_back(name, g);
    return g;
  }
  return undefined_name(name);
}

// ---------------------------------------------------------------------------------------------
// Attribute / item access (sandboxed getattr/getitem semantics)

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::kUndefined: fail_undefined(obj);
    case Kind::kDict: {
      Value m;
      if (method_attr(*this, obj, name, &m)) return m;
      if (const Value* v = obj.dict()->find_str(name)) return *v;
      return undefined_attr(obj, name);
    }
    case Kind::kObject: {
      Value v;
      if (obj.object()->get_attr(*this, name, &v)) return v;
      return undefined_attr(obj, name);
    }
    default: {
      Value m;
      if (method_attr(*this, obj, name, &m)) return m;
      return undefined_attr(obj, name);
    }
  }
}

namespace {

// CPython's PySlice_AdjustIndices.
int64_t adjust_slice(int64_t length, int64_t* start, int64_t* stop, int64_t step) {
  if (*start < 0) {
    *start += length;
    if (*start < 0) *start = (step < 0) ? -1 : 0;
  } else if (*start >= length) {
    *start = (step < 0) ? length - 1 : length;
  }
  if (*stop < 0) {
    *stop += length;
    if (*stop < 0) *stop = (step < 0) ? -1 : 0;
  } else if (*stop >= length) {
    *stop = (step < 0) ? length - 1 : length;
  }
  if (step < 0) {
    if (*stop < *start) return (*start - *stop - 1) / (-step) + 1;
  } else if (*start < *stop) {
    return (*stop - *start - 1) / step + 1;
  }
  return 0;
}

}  // namespace

Value Interpreter::getitem(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::kUndefined: fail_undefined(obj);
    case Kind::kDict: {
      if (key.is_list() && key.list()->kind != ListKind::kTuple) {
        // unhashable -> TypeError inside the sandbox getitem -> undefined
        return undefined_item(obj, key);
      }
      if (const Value* v = obj.dict()->find(key)) return *v;
      if (key.is_string()) {
        Value m;
        if (method_attr(*this, obj, key.str(), &m)) return m;
      }
      return undefined_item(obj, key);
    }
    case Kind::kList: {
      const List* l = obj.list();
      bool indexable = l->kind == ListKind::kList || l->kind == ListKind::kTuple || l->kind == ListKind::kRange;
      if (indexable && key.is_integral()) {
        int64_t n = static_cast<int64_t>(l->items.size());
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return undefined_item(obj, key);
        return l->items[static_cast<size_t>(i)];
      }
      if (key.is_string()) {
        Value m;
        if (method_attr(*this, obj, key.str(), &m)) return m;
      }
      return undefined_item(obj, key);
    }
    case Kind::kString: {
      if (key.is_integral()) {
        const std::string& s = obj.str();
        int64_t i = key.as_int();
        if (pystr::is_ascii(s)) {
          int64_t n = static_cast<int64_t>(s.size());
          if (i < 0) i += n;
          if (i < 0 || i >= n) return undefined_item(obj, key);
          return str(std::string(1, s[static_cast<size_t>(i)]));
        }
        std::u32string u = pystr::decode(s);
        int64_t n = static_cast<int64_t>(u.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return undefined_item(obj, key);
        std::string out;
        pystr::append_utf8(out, u[static_cast<size_t>(i)]);
        return str(std::move(out));
      }
      if (key.is_string()) {
        Value m;
        if (method_attr(*this, obj, key.str(), &m)) return m;
      }
      return undefined_item(obj, key);
    }
    case Kind::kObject: {
      if (key.is_string()) {
        Value v;
        if (obj.object()->get_attr(*this, key.str(), &v)) return v;
      }
      return undefined_item(obj, key);
    }
    default: return undefined_item(obj, key);
  }
}

Value Interpreter::eval_slice(const Value& obj, const Expr& slice, Scope* scope) {
  Value vs = slice.a ? eval(*slice.a, scope) : Value::none();
  Value ve = slice.b ? eval(*slice.b, scope) : Value::none();
  Value vt = slice.c ? eval(*slice.c, scope) : Value::none();
  if (obj.is_undefined()) fail_undefined(obj);
  auto bad = [&](const Value& v) { return !v.is_none() && !v.is_integral(); };
  bool sliceable = obj.is_string() ||
                   (obj.is_list() && (obj.list()->kind == ListKind::kList || obj.list()->kind == ListKind::kTuple ||
                                      obj.list()->kind == ListKind::kRange));
  if (!sliceable || bad(vs) || bad(ve) || bad(vt)) {
    // TypeError inside the sandbox's getitem -> undefined
    return undefined_hint(object_type_repr(obj) + " cannot be sliced that way");
  }
  int64_t step = vt.is_none() ? 1 : vt.as_int();
  if (step == 0) raise("ValueError", "slice step cannot be zero");
  const int64_t kMax = INT64_MAX / 4;
  int64_t start = vs.is_none() ? (step < 0 ? kMax : 0) : vs.as_int();
  int64_t stop = ve.is_none() ? (step < 0 ? -kMax : kMax) : ve.as_int();
  if (obj.is_string()) {
    const std::string& s = obj.str();
    if (pystr::is_ascii(s)) {
      int64_t n = adjust_slice(static_cast<int64_t>(s.size()), &start, &stop, step);
      std::string out;
      out.reserve(static_cast<size_t>(n));
      for (int64_t k = 0, i = start; k < n; ++k, i += step) out.push_back(s[static_cast<size_t>(i)]);
      return str(std::move(out));
    }
    std::u32string u = pystr::decode(s);
    int64_t n = adjust_slice(static_cast<int64_t>(u.size()), &start, &stop, step);
    std::u32string out;
    for (int64_t k = 0, i = start; k < n; ++k, i += step) out.push_back(u[static_cast<size_t>(i)]);
    return str(pystr::encode(out));
  }
  const List* l = obj.list();
  int64_t n = adjust_slice(static_cast<int64_t>(l->items.size()), &start, &stop, step);
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(n));
  for (int64_t k = 0, i = start; k < n; ++k, i += step) items.push_back(l->items[static_cast<size_t>(i)]);
  return new_list(std::move(items), l->kind == ListKind::kTuple ? ListKind::kTuple : ListKind::kList);
}

std::vector<Value> Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return {};
    case Kind::kList: {
      List* l = v.list();
      if (l->kind == ListKind::kGenerator) {
        std::vector<Value> rest(l->items.begin() + static_cast<std::ptrdiff_t>(std::min(l->consumed, l->items.size())),
                                l->items.end());
        l->consumed = l->items.size();
        return rest;
      }
      return l->items;
    }
    case Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict()->items.size());
      for (const auto& kv : v.dict()->items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.str();
      if (pystr::is_ascii(s)) {
        chars.reserve(s.size());
        for (char c : s) chars.push_back(Value::string(std::string(1, c)));
      } else {
        for (char32_t c : pystr::decode(s)) {
          std::string one;
          pystr::append_utf8(one, c);
          chars.push_back(Value::string(std::move(one)));
        }
      }
      return chars;
    }
    default: raise("TypeError", "'" + type_name(v) + "' object is not iterable");
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.is_object() && callee.object()->callable()) {
    DepthGuard guard(this);
    return callee.object()->call(*this, args);
  }
  raise("TypeError", "'" + type_name(callee) + "' object is not callable");
}

Value Interpreter::call_filter(const std::string& name, const Value& input, CallArgs& args) {
  return apply_filter(*this, name, input, args);
}

bool Interpreter::call_test(const std::string& name, const Value& input, CallArgs& args) {
  return apply_test(*this, name, input, args);
}

// ---------------------------------------------------------------------------------------------
// Expressions

void Interpreter::eval_args(const CallArgExprs& a, Scope* scope, CallArgs* out) {
  out->args.reserve(a.args.size());
  for (const auto& e : a.args) out->args.push_back(eval(*e, scope));
  if (a.dyn_args) {
    Value extra = eval(*a.dyn_args, scope);
    for (Value& v : iterate(extra)) out->args.push_back(std::move(v));
  }
  for (const auto& kv : a.kwargs) out->kwargs.emplace_back(kv.first, eval(*kv.second, scope));
  if (a.dyn_kwargs) {
    Value extra = eval(*a.dyn_kwargs, scope);
    if (!extra.is_dict()) raise("TypeError", "argument after ** must be a mapping, not " + type_name(extra));
    for (const auto& kv : extra.dict()->items) {
      if (!kv.first.is_string()) raise("TypeError", "keywords must be strings");
      out->kwargs.emplace_back(kv.first.str(), kv.second);
    }
  }
}

Value Interpreter::eval_call(const Expr& e, Scope* scope, const Value* extra_caller) {
  const Expr& callee = *e.a;
  CallArgs args;
  if (callee.kind == ExprKind::kGetattr) {
    Value subject = eval(*callee.a, scope);
    line_ = e.line;
    if ((subject.is_string() || subject.is_list() || subject.is_dict()) && is_method(subject, callee.name)) {
      eval_args(e.call, scope, &args);
      if (extra_caller != nullptr) args.kwargs.emplace_back("caller", *extra_caller);
      line_ = e.line;
      return call_method(*this, subject, callee.name, args);
    }
    Value fn = getattr(subject, callee.name);
    eval_args(e.call, scope, &args);
    if (extra_caller != nullptr) args.kwargs.emplace_back("caller", *extra_caller);
    line_ = e.line;
    return call(fn, args);
  }
  Value fn = eval(callee, scope);
  eval_args(e.call, scope, &args);
  if (extra_caller != nullptr) args.kwargs.emplace_back("caller", *extra_caller);
  line_ = e.line;
  return call(fn, args);
}

Value Interpreter::eval_filter_chain(const Expr& e, Scope* scope, const Value& block_input) {
  Value input = e.a ? (e.a->kind == ExprKind::kFilter ? eval_filter_chain(*e.a, scope, block_input) : eval(*e.a, scope))
                    : block_input;
  CallArgs args;
  eval_args(e.call, scope, &args);
  line_ = e.line;
  if (!e.known) raise("TemplateRuntimeError", "No filter named '" + e.name + "' found.");
  DepthGuard guard(this);
  return apply_filter(*this, e.name, input, args);
}

Value Interpreter::eval(const Expr& e, Scope* scope) {
  line_ = e.line;
  switch (e.kind) {
    case ExprKind::kConst: return e.value;
    case ExprKind::kName: return lookup(e.name, scope);
    case ExprKind::kGetattr: {
      Value obj = eval(*e.a, scope);
      line_ = e.line;
      return getattr(obj, e.name);
    }
    case ExprKind::kGetitem: {
      Value obj = eval(*e.a, scope);
      if (e.b->kind == ExprKind::kSlice) return eval_slice(obj, *e.b, scope);
      Value key = eval(*e.b, scope);
      line_ = e.line;
      return getitem(obj, key);
    }
    case ExprKind::kSlice: raise("TemplateSyntaxError", "slice outside of a subscript");
    case ExprKind::kCall: return eval_call(e, scope, nullptr);
    case ExprKind::kFilter: {
      Value none;
      return eval_filter_chain(e, scope, none);
    }
    case ExprKind::kTest: {
      Value input = eval(*e.a, scope);
      CallArgs args;
      eval_args(e.call, scope, &args);
      line_ = e.line;
      if (!e.known) raise("TemplateRuntimeError", "No test named '" + e.name + "' found.");
      bool r = apply_test(*this, e.name, input, args);
      return Value::boolean(e.negated ? !r : r);
    }
    case ExprKind::kNot: return Value::boolean(!truthy(eval(*e.a, scope)));
    case ExprKind::kNeg: return unary_minus(eval(*e.a, scope));
    case ExprKind::kPos: return unary_plus(eval(*e.a, scope));
    case ExprKind::kBinary: {
      Value a = eval(*e.a, scope);
      Value b = eval(*e.b, scope);
      line_ = e.line;
      return binary_op(*this, e.name, a, b);
    }
    case ExprKind::kAnd: {
      Value a = eval(*e.a, scope);
      if (!truthy(a)) return a;
      return eval(*e.b, scope);
    }
    case ExprKind::kOr: {
      Value a = eval(*e.a, scope);
      if (truthy(a)) return a;
      return eval(*e.b, scope);
    }
    case ExprKind::kConcat: {
      std::string out;
      for (const auto& item : e.items) {
        Value v = eval(*item, scope);
        append_str(*this, out, v);
        check_string_size(out.size());
      }
      return Value::string(std::move(out));
    }
    case ExprKind::kCompare: {
      Value left = eval(*e.a, scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.items[i], scope);
        line_ = e.line;
        const std::string& op = e.ops[i];
        bool r;
        if (op == "==") {
          r = equals(left, right);
        } else if (op == "!=") {
          r = !equals(left, right);
        } else if (op == "in") {
          r = contains(*this, right, left);
        } else if (op == "notin") {
          r = !contains(*this, right, left);
        } else if (op == "<") {
          r = order_compare(left, right, "<") < 0;
        } else if (op == "<=") {
          r = order_compare(left, right, "<=") <= 0;
        } else if (op == ">") {
          r = order_compare(left, right, ">") > 0;
        } else {
          r = order_compare(left, right, ">=") >= 0;
        }
        if (!r) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::kCondExpr: {
      if (truthy(eval(*e.b, scope))) return eval(*e.a, scope);
      if (e.c) return eval(*e.c, scope);
      return undefined_hint("the inline if-expression on line " + std::to_string(e.line) +
                            " evaluated to false and no else section was defined.");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& item : e.items) items.push_back(eval(*item, scope));
      return new_list(std::move(items), e.kind == ExprKind::kTuple ? ListKind::kTuple : ListKind::kList);
    }
    case ExprKind::kDict: {
      Dict* d = heap_.new_dict();
      for (size_t i = 0; i < e.items.size(); ++i) {
        Value k = eval(*e.items[i], scope);
        Value v = eval(*e.values[i], scope);
        line_ = e.line;
        d->set(k, std::move(v));
      }
      return Value::dict(d);
    }
  }
  return Value();
}

// ---------------------------------------------------------------------------------------------
// Statements

void Interpreter::assign(const Target& t, const Value& v, Scope* scope) {
  switch (t.kind) {
    case Target::Kind::kName: scope->set(t.name, v); return;
    case Target::Kind::kNsAttr: {
      Value ns = lookup(t.name, scope);
      if (!ns.is_object() || !ns.object()->is_namespace()) {
        raise("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
      }
      static_cast<NamespaceObject*>(ns.object())->attrs()->set(Value::string(t.attr), v);
      return;
    }
    case Target::Kind::kTuple: {
      std::vector<Value> items = iterate(v);
      if (items.size() < t.items.size()) {
        raise("ValueError", "not enough values to unpack (expected " + std::to_string(t.items.size()) + ", got " +
                                std::to_string(items.size()) + ")");
      }
      if (items.size() > t.items.size()) {
        raise("ValueError", "too many values to unpack (expected " + std::to_string(t.items.size()) + ")");
      }
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], scope);
      return;
    }
  }
}

Flow Interpreter::exec_list(const StmtList& list, Scope* scope, std::string& out) {
  for (const auto& s : list) {
    Flow f = exec(*s, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Flow Interpreter::render_block(const StmtList& body, Scope* parent, bool heap_scope, std::string& out) {
  if (heap_scope) {
    Scope* s = heap_.new_scope();
    s->parent = parent;
    return exec_list(body, s, out);
  }
  Scope s;
  s.parent = parent;
  return exec_list(body, &s, out);
}

std::string Interpreter::run_loop(const Stmt& s, Scope* parent, std::vector<Value> items, int depth0,
                                  bool* completed_any) {
  std::string out;
  bool completed = false;
  LoopContext* loop = heap_.make<LoopContext>();
  loop->items = std::move(items);
  loop->depth0 = depth0;
  loop->stmt = &s;
  loop->parent = parent;
  Scope stack_scope;
  Scope* scope = s.needs_heap_scope ? heap_.new_scope() : &stack_scope;
  scope->parent = parent;
  for (size_t i = 0; i < loop->items.size(); ++i) {
    count_iteration();
    scope->vars.clear();
    assign(s.target, loop->items[i], scope);
    loop->index0 = static_cast<int64_t>(i);
    scope->set("loop", Value::object(loop));
    Flow f = exec_list(s.body, scope, out);
    if (f == Flow::kBreak) break;
    // Jinja2 quirk: `else` runs unless some iteration reached the end of the body.
    if (f == Flow::kNormal) completed = true;
  }
  loop->active = false;
  if (completed_any != nullptr) *completed_any = completed;
  return out;
}

Flow Interpreter::exec_for(const Stmt& s, Scope* scope, std::string& out) {
  Value iterable = eval(*s.expr, scope);
  line_ = s.line;
  std::vector<Value> items = iterate(iterable);
  if (s.loop_filter) {
    std::vector<Value> kept;
    Scope tmp;
    tmp.parent = scope;
    for (Value& item : items) {
      count_iteration();
      tmp.vars.clear();
      assign(s.target, item, &tmp);
      if (truthy(eval(*s.loop_filter, &tmp))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  bool completed = false;
  if (!items.empty()) {
    std::string body = run_loop(s, scope, std::move(items), 0, &completed);
    emit(out, body);
  }
  if (!completed && !s.else_body.empty()) {
    // The else block has its own scope (Jinja2's else_frame).
    Scope stack_scope;
    Scope* else_scope = s.needs_heap_scope ? heap_.new_scope() : &stack_scope;
    else_scope->parent = scope;
    return exec_list(s.else_body, else_scope, out);
  }
  return Flow::kNormal;
}

Flow Interpreter::exec(const Stmt& s, Scope* scope, std::string& out) {
  line_ = s.line;
  switch (s.kind) {
    case StmtKind::kData: emit(out, s.text); return Flow::kNormal;
    case StmtKind::kOutput: {
      Value v = eval(*s.expr, scope);
      if (v.is_string()) {
        emit(out, v.str());
      } else {
        emit(out, to_str(*this, v));
      }
      return Flow::kNormal;
    }
    case StmtKind::kIf:
      for (const auto& br : s.branches) {
        if (truthy(eval(*br.first, scope))) return exec_list(br.second, scope, out);
      }
      return exec_list(s.else_body, scope, out);
    case StmtKind::kFor: return exec_for(s, scope, out);
    case StmtKind::kSet: {
      Value v = eval(*s.expr, scope);
      line_ = s.line;
      assign(s.target, v, scope);
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      std::string buf;
      Flow f = render_block(s.body, scope, s.needs_heap_scope, buf);
      if (f != Flow::kNormal) return f;  // break/continue inside the block leaves the loop first
      Value v = str(std::move(buf));
      if (s.filter) v = eval_filter_chain(*s.filter, scope, v);
      line_ = s.line;
      assign(s.target, v, scope);
      return Flow::kNormal;
    }
    case StmtKind::kMacro: {
      MacroObject* m = heap_.make<MacroObject>(s.macro.get(), scope);
      scope->set(s.macro->name, Value::object(m));
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock: {
      MacroObject* caller = heap_.make<MacroObject>(s.macro.get(), scope);
      Value cv = Value::object(caller);
      Value result = eval_call(*s.expr, scope, &cv);
      emit(out, to_str(*this, result));
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      std::string buf;
      Flow f = render_block(s.body, scope, s.needs_heap_scope, buf);
      if (f != Flow::kNormal) return f;
      Value v = eval_filter_chain(*s.filter, scope, str(std::move(buf)));
      emit(out, to_str(*this, v));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      std::vector<Value> values;
      for (const auto& a : s.assignments) values.push_back(eval(*a.second, scope));
      Scope stack_scope;
      Scope* inner = s.needs_heap_scope ? heap_.new_scope() : &stack_scope;
      inner->parent = scope;
      for (size_t i = 0; i < values.size(); ++i) assign(s.assignments[i].first, values[i], inner);
      return exec_list(s.body, inner, out);
    }
    case StmtKind::kScope: return render_block(s.body, scope, s.needs_heap_scope, out);
    case StmtKind::kBreak: return Flow::kBreak;
    case StmtKind::kContinue: return Flow::kContinue;
  }
  return Flow::kNormal;
}

// ---------------------------------------------------------------------------------------------
// Macros

Value Interpreter::invoke_macro(MacroObject& macro, CallArgs& call_args) {
  const MacroDef& def = *macro.def();
  const size_t n = def.params.size();
  std::vector<Value> args = std::move(call_args.args);
  std::vector<std::pair<std::string, Value>> kwargs = std::move(call_args.kwargs);
  auto pop_kwarg = [&](const std::string& name, Value* out) {
    for (size_t i = 0; i < kwargs.size(); ++i) {
      if (kwargs[i].first == name) {
        *out = kwargs[i].second;
        kwargs.erase(kwargs.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    }
    return false;
  };
  std::vector<Value> bound(n);
  std::vector<bool> missing(n, false);
  size_t off = std::min(args.size(), n);
  for (size_t i = 0; i < off; ++i) bound[i] = args[i];
  bool found_caller = false;
  if (off != n) {
    for (size_t i = off; i < n; ++i) {
      if (!pop_kwarg(def.params[i], &bound[i])) missing[i] = true;
      if (def.params[i] == "caller") found_caller = true;
    }
  } else {
    found_caller = std::find(def.params.begin(), def.params.end(), "caller") != def.params.end();
  }
  Value caller;
  bool set_caller = false;
  if (def.uses_caller && !found_caller) {
    if (!pop_kwarg("caller", &caller)) caller = undefined_hint("No caller defined");
    set_caller = true;
  }
  Value kwargs_dict;
  if (def.uses_kwargs) {
    Dict* d = heap_.new_dict();
    for (auto& kv : kwargs) d->set(Value::string(kv.first), kv.second);
    kwargs_dict = Value::dict(d);
  } else if (!kwargs.empty()) {
    for (const auto& kv : kwargs) {
      if (kv.first == "caller") {
        raise("TypeError", "macro '" + def.name +
                               "' was invoked with two values for the special caller argument. This is most "
                               "likely a bug.");
      }
    }
    raise("TypeError", "macro '" + def.name + "' takes no keyword argument '" + kwargs[0].first + "'");
  }
  Value varargs;
  if (def.uses_varargs) {
    std::vector<Value> extra;
    for (size_t i = n; i < args.size(); ++i) extra.push_back(args[i]);
    varargs = new_tuple(std::move(extra));
  } else if (args.size() > n) {
    raise("TypeError", "macro '" + def.name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }

  Scope stack_scope;
  Scope* scope = def.needs_heap_scope ? heap_.new_scope() : &stack_scope;
  scope->parent = macro.closure();
  const size_t first_default = n - def.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (missing[i]) {
      if (i >= first_default) {
        bound[i] = eval(*def.defaults[i - first_default], scope);
      } else {
        bound[i] = undefined_hint("parameter '" + def.params[i] + "' was not provided");
      }
    }
    scope->set(def.params[i], bound[i]);
  }
  if (def.uses_varargs) scope->set("varargs", varargs);
  if (def.uses_kwargs) scope->set("kwargs", kwargs_dict);
  if (set_caller) scope->set("caller", caller);
  std::string out;
  int saved_line = line_;
  exec_list(def.body, scope, out);
  line_ = saved_line;
  return str(std::move(out));
}

}  // namespace lpx::jinja
