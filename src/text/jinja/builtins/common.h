// Helpers shared by the Jinja builtins (filters, tests, globals, methods): Python-style argument
// binding (Params), attribute paths, sorting, HTML/number parsing helpers.
// Internal to text/jinja/builtins/; the interface is text/jinja/builtins.h.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/jinja/interpreter.h"
#include "text/jinja/ops.h"
#include "text/jinja/value.h"

namespace lpx::jinja::builtin {

[[noreturn]] void unsupported(const std::string& what);

// Binds positional + keyword arguments to parameter names like a Python signature.
class Params {
 public:
  Params(const CallArgs& a, const std::string& fname, std::initializer_list<const char*> names) : fname_(fname) {
    for (const char* n : names) names_.emplace_back(n);
    vals_.resize(names_.size());
    if (a.args.size() > names_.size()) {
      raise("TypeError", fname_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
                             std::to_string(a.args.size()) + " given)");
    }
    for (size_t i = 0; i < a.args.size(); ++i) vals_[i] = a.args[i];
    for (const auto& kv : a.kwargs) {
      size_t idx = names_.size();
      for (size_t i = 0; i < names_.size(); ++i) {
        if (names_[i] == kv.first) idx = i;
      }
      if (idx == names_.size()) raise("TypeError", fname_ + "() got an unexpected keyword argument '" + kv.first + "'");
      if (vals_[idx]) raise("TypeError", fname_ + "() got multiple values for argument '" + kv.first + "'");
      vals_[idx] = kv.second;
    }
  }
  bool has(size_t i) const { return vals_[i].has_value(); }
  // Present and not None.
  bool given(size_t i) const { return vals_[i].has_value() && !vals_[i]->is_none(); }
  const Value& get(size_t i) const { return *vals_[i]; }
  Value get_or(size_t i, Value def) const { return vals_[i] ? *vals_[i] : def; }
  int64_t int_or(size_t i, int64_t def) const {
    if (!vals_[i]) return def;
    const Value& v = *vals_[i];
    if (v.is_integral()) return v.as_int();
    if (v.is_float()) return static_cast<int64_t>(v.as_float());
    raise("TypeError", fname_ + "(): argument '" + names_[i] + "' must be an integer, not " + type_name(v));
  }
  bool bool_or(size_t i, bool def) const { return vals_[i] ? truthy(*vals_[i]) : def; }
  void require(size_t i) const {
    if (!vals_[i]) raise("TypeError", fname_ + "() missing required argument '" + names_[i] + "'");
  }

 private:
  std::string fname_;
  std::vector<std::string> names_;
  std::vector<std::optional<Value>> vals_;
};

inline std::string soft_str(Interpreter& in, const Value& v) { return to_str(in, v); }

inline const std::string& need_str(const Value& v, const std::string& what) {
  if (!v.is_string()) raise("TypeError", what + " must be str, not " + type_name(v));
  return v.str();
}

inline Value generator(Interpreter& in, std::vector<Value> items) {
  return in.new_list(std::move(items), ListKind::kGenerator);
}

Value ignore_case(Interpreter& in, const Value& v);

// make_attrgetter: "a.b.0" -> getitem chain.
std::vector<Value> attr_parts(const Value& attribute);

Value attr_get(Interpreter& in, const Value& item, const std::vector<Value>& parts, const Value* def);

void sort_values(std::vector<Value>& items, const std::vector<Value>& keys, bool reverse);

std::string html_escape(std::string_view s);

std::string html_unescape(const std::string& s);

std::string py_center(const std::string& s, int64_t width, const std::string& fill);

// Python int(str, base) parsing; false on failure.
bool parse_int(const std::string& raw, int base, int64_t* out);

// Python float(str); false on failure.
bool parse_float(const std::string& raw, double* out);

double round_half_even_decimal(double x, int64_t ndigits);

// dict(*args, **kwargs) into d.
void fill_dict(Interpreter& in, Dict* d, CallArgs& a, const char* fname);

}  // namespace lpx::jinja::builtin
