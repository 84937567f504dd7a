// Jinja2's builtin filters (abs ... wordcount) and the filter table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <unordered_set>

#include "text/jinja/builtins.h"
#include "text/jinja/builtins/common.h"
#include "text/jinja/ops.h"
#include "text/jinja/parser.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {
namespace builtin {
namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);

Value f_abs(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value::floating(std::fabs(v.as_float()));
  if (v.is_integral()) {
    int64_t i = v.as_int();
    if (i == INT64_MIN) raise("OverflowError", "integer result too large");
    return Value::integer(i < 0 ? -i : i);
  }
  raise("TypeError", "bad operand type for abs(): '" + type_name(v) + "'");
}

// attr() is a pure attribute lookup (no item fallback): methods and object attributes only.
Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "attr", {"name"});
  p.require(0);
  std::string name = to_str(in, p.get(0));
  if (v.is_undefined()) fail_undefined(v);
  Value out;
  if (v.is_object()) {
    if (v.object()->get_attr(in, name, &out)) return out;
  } else if (method_attr(in, v, name, &out)) {
    return out;
  }
  return in.undefined_attr(v, name);
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "batch", {"linecount", "fill_with"});
  p.require(0);
  int64_t n = p.int_or(0, 1);
  if (n <= 0) raise("ValueError", "batch size must be positive");
  std::vector<Value> out, tmp;
  for (Value& item : in.iterate(v)) {
    if (static_cast<int64_t>(tmp.size()) == n) {
      out.push_back(in.new_list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (p.given(1)) {
      while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(p.get(1));
    }
    out.push_back(in.new_list(std::move(tmp)));
  }
  return generator(in, std::move(out));
}

Value f_capitalize(Interpreter& in, const Value& v, CallArgs&) { return in.str(pystr::capitalize(soft_str(in, v))); }

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "center", {"width"});
  return in.str(py_center(soft_str(in, v), p.int_or(0, 80), " "));
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "default", {"default_value", "boolean"});
  bool boolean = p.bool_or(1, false);
  if (v.is_undefined() || (boolean && !truthy(v))) return p.has(0) ? p.get(0) : Value::string("");
  return v;
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "dictsort", {"case_sensitive", "by", "reverse"});
  bool case_sensitive = p.bool_or(0, false);
  std::string by = p.has(1) ? to_str(in, p.get(1)) : "key";
  bool reverse = p.bool_or(2, false);
  size_t pos;
  if (by == "key") {
    pos = 0;
  } else if (by == "value") {
    pos = 1;
  } else {
    raise("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  }
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_dict()) raise("AttributeError", "'" + type_name(v) + "' object has no attribute 'items'");
  std::vector<Value> items, keys;
  for (const auto& kv : v.dict()->items) {
    items.push_back(in.new_tuple({kv.first, kv.second}));
    const Value& k = pos == 0 ? kv.first : kv.second;
    keys.push_back(case_sensitive ? k : ignore_case(in, k));
  }
  sort_values(items, keys, reverse);
  return in.new_list(std::move(items));
}

Value f_escape(Interpreter& in, const Value& v, CallArgs&) { return in.str(html_escape(soft_str(in, v))); }

Value f_filesizeformat(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "filesizeformat", {"binary"});
  bool binary = p.bool_or(0, false);
  double bytes;
  if (v.is_number()) {
    bytes = v.as_float();
  } else if (!v.is_string() || !parse_float(v.str(), &bytes)) {
    raise("ValueError", "could not convert to float");
  }
  double base = binary ? 1024 : 1000;
  static const char* kBin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  static const char* kDec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  if (bytes == 1) return in.str("1 Byte");
  if (bytes < base) return in.str(std::to_string(static_cast<int64_t>(bytes)) + " Bytes");
  double unit = base;
  const char* prefix = "";
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    prefix = binary ? kBin[i] : kDec[i];
    if (bytes < unit) break;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f %s", base * bytes / unit, prefix);
  return in.str(buf);
}

Value f_first(Interpreter& in, const Value& v, CallArgs&) {
  if (v.is_list() && v.list()->kind == ListKind::kGenerator) {
    List* l = v.list();
    if (l->consumed < l->items.size()) return l->items[l->consumed++];
    return in.undefined_hint("No first item, sequence was empty.");
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return in.undefined_hint("No first item, sequence was empty.");
  return items.front();
}

Value f_float(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "float", {"default"});
  Value def = p.get_or(0, Value::floating(0.0));
  (void)in;
  if (v.is_undefined()) fail_undefined(v);  // Undefined.__float__ raises
  if (v.is_number()) return Value::floating(v.as_float());
  if (v.is_string()) {
    double d;
    if (parse_float(v.str(), &d)) return Value::floating(d);
  }
  return def;
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  std::string fmt = soft_str(in, v);
  if (!a.kwargs.empty()) {
    if (!a.args.empty()) raise("FilterArgumentError", "can't handle positional and keyword arguments at the same time");
    Dict* d = in.heap().new_dict();
    for (auto& kv : a.kwargs) d->set(Value::string(kv.first), kv.second);
    return in.str(percent_format(in, fmt, Value::dict(d)));
  }
  return in.str(percent_format(in, fmt, in.new_tuple(a.args)));
}

Value f_groupby(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "groupby", {"attribute", "default", "case_sensitive"});
  p.require(0);
  std::vector<Value> parts = attr_parts(p.get(0));
  Value def = p.get_or(1, Value::none());
  const Value* defp = p.given(1) ? &def : nullptr;
  bool case_sensitive = p.bool_or(2, false);
  std::vector<Value> items = in.iterate(v);
  std::vector<Value> keys;
  for (const Value& item : items) {
    Value k = attr_get(in, item, parts, defp);
    keys.push_back(case_sensitive ? k : ignore_case(in, k));
  }
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return order_compare(keys[x], keys[y], "<") < 0; });
  std::vector<Value> groups;
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    std::vector<Value> members;
    while (j < order.size() && equals(keys[order[j]], keys[order[i]])) members.push_back(items[order[j++]]);
    Value grouper = attr_get(in, members.front(), parts, defp);
    Value group = in.new_tuple({grouper, in.new_list(std::move(members))});
    group.list()->group = true;
    groups.push_back(group);
    i = j;
  }
  return in.new_list(std::move(groups));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "indent", {"width", "first", "blank"});
  std::string indention;
  if (p.has(0) && p.get(0).is_string()) {
    indention = p.get(0).str();
  } else {
    int64_t w = p.int_or(0, 4);
    indention.assign(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(w, 100000))), ' ');
  }
  bool first = p.bool_or(1, false);
  bool blank = p.bool_or(2, false);
  // Jinja does `s += "\n"` on the raw value before splitlines().
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_list() && v.list()->kind == ListKind::kList)
    raise("AttributeError", "'list' object has no attribute 'splitlines'");
  if (v.is_list() && v.list()->kind == ListKind::kTuple)
    raise("TypeError", "can only concatenate tuple (not \"str\") to tuple");
  if (!v.is_string()) raise("TypeError", "unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  std::string s = v.str() + "\n";
  std::vector<std::string> lines = pystr::splitlines(s, false);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) rv += "\n" + indention;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    if (lines.size() > 1) {
      rv += "\n";
      for (size_t i = 1; i < lines.size(); ++i) {
        if (i > 1) rv += "\n";
        if (!lines[i].empty()) rv += indention;
        rv += lines[i];
      }
    }
  }
  if (first) rv = indention + rv;
  return in.str(std::move(rv));
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "int", {"default", "base"});
  Value def = p.get_or(0, Value::integer(0));
  int64_t base = p.int_or(1, 10);
  if (v.is_undefined()) fail_undefined(v);  // Undefined.__int__ raises
  if (v.is_integral()) return Value::integer(v.as_int());
  if (v.is_float()) {
    double d = v.as_float();
    if (std::isnan(d)) return def;
    if (std::isinf(d) || std::fabs(d) > 9.2e18) raise("OverflowError", "cannot convert float to integer");
    return Value::integer(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    int64_t out;
    if (parse_int(v.str(), static_cast<int>(base), &out)) return Value::integer(out);
    double d;
    if (parse_float(v.str(), &d)) {
      if (std::isnan(d)) return def;
      if (std::isinf(d) || std::fabs(d) > 9.2e18) raise("OverflowError", "cannot convert float to integer");
      return Value::integer(static_cast<int64_t>(d));
    }
  }
  return def;
}

Value f_items(Interpreter& in, const Value& v, CallArgs&) {
  if (v.is_undefined()) return generator(in, {});
  if (!v.is_dict()) raise("TypeError", "Can only get item pairs from a mapping.");
  std::vector<Value> items;
  for (const auto& kv : v.dict()->items) items.push_back(in.new_tuple({kv.first, kv.second}));
  return generator(in, std::move(items));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "join", {"d", "attribute"});
  std::string sep = p.has(0) ? to_str(in, p.get(0)) : "";
  std::vector<Value> items = in.iterate(v);
  std::vector<Value> parts;
  if (p.given(1)) parts = attr_parts(p.get(1));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    append_str(in, out, p.given(1) ? attr_get(in, items[i], parts, nullptr) : items[i]);
    in.check_string_size(out.size());
  }
  return in.str(std::move(out));
}

Value f_last(Interpreter& in, const Value& v, CallArgs&) {
  if ((v.is_list() && v.list()->kind == ListKind::kGenerator) ||
      !(v.is_list() || v.is_dict() || v.is_string() || v.is_undefined())) {
    raise("TypeError", "'" + type_name(v) + "' object is not reversible");
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return in.undefined_hint("No last item, sequence was empty.");
  return items.back();
}

Value f_length(Interpreter&, const Value& v, CallArgs&) {
  int64_t n;
  if (length_of(v, &n)) return Value::integer(n);
  if (v.is_object()) {
    if (auto* loop = dynamic_cast<LoopContext*>(v.object()))
      return Value::integer(static_cast<int64_t>(loop->items.size()));
  }
  raise("TypeError", "object of type '" + type_name(v) + "' has no len()");
}

Value f_list(Interpreter& in, const Value& v, CallArgs&) { return in.new_list(in.iterate(v)); }

Value f_lower(Interpreter& in, const Value& v, CallArgs&) { return in.str(pystr::lower(soft_str(in, v))); }
Value f_upper(Interpreter& in, const Value& v, CallArgs&) { return in.str(pystr::upper(soft_str(in, v))); }

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  if (!truthy(v)) return generator(in, {});
  std::vector<Value> items = in.iterate(v);
  std::vector<Value> out;
  out.reserve(items.size());
  if (a.args.empty()) {
    Value attribute, def = Value::none();
    bool has_attr = false, has_def = false;
    for (auto& kv : a.kwargs) {
      if (kv.first == "attribute") {
        attribute = kv.second;
        has_attr = true;
      } else if (kv.first == "default") {
        def = kv.second;
        has_def = true;
      } else {
        raise("FilterArgumentError", "Unexpected keyword argument '" + kv.first + "'");
      }
    }
    if (!has_attr) raise("FilterArgumentError", "map requires a filter argument");
    std::vector<Value> parts = attr_parts(attribute);
    for (const Value& item : items)
      out.push_back(attr_get(in, item, parts, has_def && !def.is_none() ? &def : nullptr));
    return generator(in, std::move(out));
  }
  std::string name = to_str(in, a.args[0]);
  if (!is_known_filter(name)) raise("TemplateRuntimeError", "No filter named '" + name + "'.");
  CallArgs rest;
  rest.args.assign(a.args.begin() + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (const Value& item : items) {
    CallArgs copy = rest;
    out.push_back(in.call_filter(name, item, copy));
  }
  return generator(in, std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max, const char* fname) {
  Params p(a, fname, {"case_sensitive", "attribute"});
  bool case_sensitive = p.bool_or(0, false);
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return in.undefined_hint("No aggregated item, sequence was empty.");
  std::vector<Value> parts;
  if (p.given(1)) parts = attr_parts(p.get(1));
  auto key = [&](const Value& item) {
    Value k = p.given(1) ? attr_get(in, item, parts, nullptr) : item;
    return case_sensitive ? k : ignore_case(in, k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    int c = order_compare(k, best_key, want_max ? ">" : "<");
    if ((want_max && c > 0) || (!want_max && c < 0)) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, true, "max"); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, false, "min"); }

// pprint.pformat without line wrapping: repr() with dict keys sorted.
Value sorted_dicts(Interpreter& in, const Value& v, int depth) {
  if (depth > 200) raise("RecursionError", "maximum recursion depth exceeded");
  if (v.is_dict()) {
    std::vector<Value> keys;
    for (const auto& kv : v.dict()->items) keys.push_back(kv.first);
    std::vector<Value> order = keys;
    sort_values(order, keys, false);
    Dict* d = in.heap().new_dict();
    for (const Value& k : order) d->set(k, sorted_dicts(in, *v.dict()->find(k), depth + 1));
    return Value::dict(d);
  }
  if (v.is_list() && (v.list()->kind == ListKind::kList || v.list()->kind == ListKind::kTuple)) {
    std::vector<Value> items;
    for (const Value& x : v.list()->items) items.push_back(sorted_dicts(in, x, depth + 1));
    return in.new_list(std::move(items), v.list()->kind);
  }
  return v;
}

Value f_pprint(Interpreter& in, const Value& v, CallArgs&) { return in.str(repr(in, sorted_dicts(in, v, 0))); }

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "replace", {"old", "new", "count"});
  p.require(0);
  p.require(1);
  int64_t count = p.given(2) ? p.int_or(2, -1) : -1;
  std::string s = soft_str(in, v);
  std::string old_s = to_str(in, p.get(0)), new_s = to_str(in, p.get(1));
  if (old_s.empty() || new_s.size() > old_s.size()) {
    in.check_string_size(s.size() + (pystr::length(s) + 1) * new_s.size());
  }
  return in.str(pystr::replace(s, old_s, new_s, count));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs&) {
  if (v.is_string()) {
    std::u32string u = pystr::decode(v.str());
    std::reverse(u.begin(), u.end());
    return in.str(pystr::encode(u));
  }
  if (v.is_list() && v.list()->kind == ListKind::kGenerator) {
    std::vector<Value> items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    return in.new_list(std::move(items));
  }
  if (v.is_list() || v.is_dict() || v.is_undefined()) {
    std::vector<Value> items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    return generator(in, std::move(items));
  }
  raise("FilterArgumentError", "argument must be iterable");
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "round", {"precision", "method"});
  int64_t precision = p.int_or(0, 0);
  std::string method = p.has(1) && p.get(1).is_string() ? p.get(1).str() : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    raise("FilterArgumentError", "method must be common, ceil or floor");
  }
  if (!v.is_number()) raise("TypeError", "type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_integral()) {
      int64_t i = v.as_int();
      if (precision >= 0) return Value::integer(i);
      if (precision < -18) return Value::integer(0);
      int64_t p10 = 1;
      for (int64_t k = 0; k < -precision; ++k) p10 *= 10;
      int64_t q = i / p10, r = i % p10;
      if (r < 0) {
        r += p10;
        --q;
      }
      if (2 * r > p10 || (2 * r == p10 && (q & 1))) ++q;
      return Value::integer(q * p10);
    }
    return Value::floating(round_half_even_decimal(v.as_float(), precision));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_float() * scale;
  x = method == "ceil" ? std::ceil(x) : std::floor(x);
  return Value::floating(x / scale);
}

Value select_or_reject(Interpreter& in, const Value& v, CallArgs& a, bool select, bool lookup_attr) {
  if (!truthy(v)) return generator(in, {});
  std::vector<Value> items = in.iterate(v);
  size_t off = 0;
  std::vector<Value> parts;
  if (lookup_attr) {
    if (a.args.empty()) raise("FilterArgumentError", "Missing parameter for attribute name");
    parts = attr_parts(a.args[0]);
    off = 1;
  }
  bool has_test = a.args.size() > off;
  std::string test_name = has_test ? to_str(in, a.args[off]) : "";
  if (has_test && !is_known_test(test_name)) raise("TemplateRuntimeError", "No test named '" + test_name + "'.");
  CallArgs rest;
  if (has_test) rest.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(off + 1), a.args.end());
  rest.kwargs = a.kwargs;
  std::vector<Value> out;
  for (const Value& item : items) {
    Value subject = lookup_attr ? attr_get(in, item, parts, nullptr) : item;
    bool r;
    if (has_test) {
      CallArgs copy = rest;
      r = in.call_test(test_name, subject, copy);
    } else {
      r = truthy(subject);
    }
    if (r == select) out.push_back(item);
  }
  return generator(in, std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, false); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, true); }

Value f_safe(Interpreter& in, const Value& v, CallArgs&) { return in.str(soft_str(in, v)); }

Value f_slice(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "slice", {"slices", "fill_with"});
  p.require(0);
  int64_t slices = p.int_or(0, 1);
  if (slices <= 0) raise("ZeroDivisionError", "integer division or modulo by zero");
  std::vector<Value> seq = in.iterate(v);
  int64_t length = static_cast<int64_t>(seq.size());
  int64_t per = length / slices, extra = length % slices, offset = 0;
  std::vector<Value> out;
  for (int64_t n = 0; n < slices; ++n) {
    int64_t start = offset + n * per;
    if (n < extra) ++offset;
    int64_t end = offset + (n + 1) * per;
    std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
    if (p.given(1) && n >= extra) tmp.push_back(p.get(1));
    out.push_back(in.new_list(std::move(tmp)));
  }
  return generator(in, std::move(out));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "sort", {"reverse", "case_sensitive", "attribute"});
  bool reverse = p.bool_or(0, false);
  bool case_sensitive = p.bool_or(1, false);
  std::vector<Value> items = in.iterate(v);
  std::vector<std::vector<Value>> getters;
  if (p.given(2)) {
    if (p.get(2).is_string()) {
      for (const std::string& part : pystr::split(p.get(2).str(), std::string(","), -1)) {
        getters.push_back(attr_parts(Value::string(part)));
      }
    } else {
      getters.push_back(attr_parts(p.get(2)));
    }
  }
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const Value& item : items) {
    if (getters.empty()) {
      keys.push_back(case_sensitive ? item : ignore_case(in, item));
    } else {
      std::vector<Value> k;
      for (const auto& g : getters) {
        Value x = attr_get(in, item, g, nullptr);
        k.push_back(case_sensitive ? x : ignore_case(in, x));
      }
      keys.push_back(getters.size() == 1 ? k[0] : in.new_list(std::move(k)));
    }
  }
  sort_values(items, keys, reverse);
  return in.new_list(std::move(items));
}

Value f_string(Interpreter& in, const Value& v, CallArgs&) { return in.str(soft_str(in, v)); }

Value f_striptags(Interpreter& in, const Value& v, CallArgs&) {
  std::string s = soft_str(in, v);
  while (true) {
    size_t start = s.find("<!--");
    if (start == std::string::npos) break;
    size_t end = s.find("-->", start);
    if (end == std::string::npos) break;
    s = s.substr(0, start) + s.substr(end + 3);
  }
  while (true) {
    size_t start = s.find('<');
    if (start == std::string::npos) break;
    size_t end = s.find('>', start);
    if (end == std::string::npos) break;
    s = s.substr(0, start) + s.substr(end + 1);
  }
  std::vector<std::string> words = pystr::split(s, std::nullopt, -1);
  std::string joined;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) joined += ' ';
    joined += words[i];
  }
  return in.str(html_unescape(joined));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "sum", {"attribute", "start"});
  Value total = p.get_or(1, Value::integer(0));
  if (total.is_string()) raise("TypeError", "sum() can't sum strings [use ''.join(seq) instead]");
  std::vector<Value> parts;
  if (p.given(0)) parts = attr_parts(p.get(0));
  for (const Value& item : in.iterate(v)) {
    total = binary_op(in, "+", total, p.given(0) ? attr_get(in, item, parts, nullptr) : item);
  }
  return total;
}

// Jinja's title filter: capitalise the first letter of each word split on whitespace and -({[<.
Value f_title(Interpreter& in, const Value& v, CallArgs&) {
  std::u32string u = pystr::decode(soft_str(in, v));
  std::string out;
  auto is_sep = [](char32_t c) {
    return pystr::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
  };
  size_t i = 0;
  while (i < u.size()) {
    size_t j = i;
    bool sep = is_sep(u[i]);
    while (j < u.size() && is_sep(u[j]) == sep) ++j;
    std::string item = pystr::encode(std::u32string_view(u).substr(i, j - i));
    std::u32string first(1, u[i]);
    out += pystr::upper(pystr::encode(first));
    out += pystr::lower(pystr::encode(std::u32string_view(u).substr(i + 1, j - i - 1)));
    i = j;
  }
  return in.str(std::move(out));
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  Params p(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = p.bool_or(0, false);
  if (p.given(1)) {
    const Value& ind = p.get(1);
    if (ind.is_string()) {
      o.use_indent_str = true;
      o.indent_str = ind.str();
    } else if (ind.is_integral()) {
      o.indent = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(ind.as_int(), 1000)));
    } else {
      raise("TypeError", "indent must be an int or a str");
    }
    o.item_sep = ",";
  }
  if (p.given(2)) {
    std::vector<Value> seps = in.iterate(p.get(2));
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string()) {
      raise("ValueError", "separators must be a (item_separator, key_separator) pair of strings");
    }
    o.item_sep = seps[0].str();
    o.key_sep = seps[1].str();
  }
  o.sort_keys = p.bool_or(3, false);
  return in.str(to_json(in, v, o));
}

Value f_trim(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "trim", {"chars"});
  std::optional<std::string> chars;
  if (p.given(0)) chars = to_str(in, p.get(0));
  return in.str(pystr::strip(soft_str(in, v), chars, true, true));
}

Value f_truncate(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "truncate", {"length", "killwords", "end", "leeway"});
  int64_t length = p.int_or(0, 255);
  bool killwords = p.bool_or(1, false);
  std::string end = p.has(2) ? to_str(in, p.get(2)) : "...";
  int64_t leeway = p.given(3) ? p.int_or(3, 5) : 5;
  if (!v.is_string()) {
    // Jinja applies len() and slicing to the raw value.
    int64_t n;
    if (!length_of(v, &n)) raise("TypeError", "object of type '" + type_name(v) + "' has no len()");
    if (n <= length + leeway) return v;
    if (v.is_list()) {
      raise("TypeError", "can only concatenate " + type_name(v) + " (not \"str\") to " + type_name(v));
    }
    raise("TypeError", "unhashable type: 'slice'");
  }
  std::u32string s = pystr::decode(v.str());
  int64_t end_len = static_cast<int64_t>(pystr::length(end));
  if (length < end_len) raise("AssertionError", "expected length >= " + std::to_string(end_len));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return in.str(pystr::encode(s));
  std::string head = pystr::encode(s.substr(0, static_cast<size_t>(length - end_len)));
  if (killwords) return in.str(head + end);
  std::vector<std::string> parts = pystr::rsplit(head, std::string(" "), 1);
  return in.str(parts[0] + end);
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "unique", {"case_sensitive", "attribute"});
  bool case_sensitive = p.bool_or(0, false);
  std::vector<Value> parts;
  if (p.given(1)) parts = attr_parts(p.get(1));
  std::unordered_set<std::string> seen;
  std::vector<Value> out;
  for (const Value& item : in.iterate(v)) {
    Value k = p.given(1) ? attr_get(in, item, parts, nullptr) : item;
    if (!case_sensitive) k = ignore_case(in, k);
    if (seen.insert(hash_key(k)).second) out.push_back(item);
  }
  return generator(in, std::move(out));
}

std::string url_quote(const std::string& s, bool for_qs) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
        c == '-' || c == '~' || (c == '/' && !for_qs)) {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ' && for_qs) {
      out.push_back('+');
    } else {
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

Value f_urlencode(Interpreter& in, const Value& v, CallArgs&) {
  if (v.is_string()) return in.str(url_quote(v.str(), false));
  std::vector<std::pair<Value, Value>> pairs;
  if (v.is_dict()) {
    pairs = v.dict()->items;
  } else {
    for (const Value& item : in.iterate(v)) {
      std::vector<Value> kv = in.iterate(item);
      if (kv.size() != 2) raise("ValueError", "urlencode expects key/value pairs");
      pairs.emplace_back(kv[0], kv[1]);
    }
  }
  std::string out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out += "&";
    out += url_quote(to_str(in, pairs[i].first), true) + "=" + url_quote(to_str(in, pairs[i].second), true);
  }
  return in.str(std::move(out));
}

Value f_wordcount(Interpreter& in, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : pystr::decode(soft_str(in, v))) {
    bool w = pystr::is_word(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_unsupported_random(Interpreter&, const Value&, CallArgs&) { unsupported("the 'random' filter"); }
Value f_unsupported_wordwrap(Interpreter&, const Value&, CallArgs&) { unsupported("the 'wordwrap' filter"); }
Value f_unsupported_urlize(Interpreter&, const Value&, CallArgs&) { unsupported("the 'urlize' filter"); }
Value f_unsupported_xmlattr(Interpreter&, const Value&, CallArgs&) { unsupported("the 'xmlattr' filter"); }

const std::unordered_map<std::string, FilterFn>& filter_table() {
  static const std::unordered_map<std::string, FilterFn> kTable = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"filesizeformat", f_filesizeformat},
      {"first", f_first},
      {"float", f_float},
      {"forceescape", f_escape},
      {"format", f_format},
      {"groupby", f_groupby},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"pprint", f_pprint},
      {"random", f_unsupported_random},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"slice", f_slice},
      {"sort", f_sort},
      {"string", f_string},
      {"striptags", f_striptags},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"urlencode", f_urlencode},
      {"urlize", f_unsupported_urlize},
      {"wordcount", f_wordcount},
      {"wordwrap", f_unsupported_wordwrap},
      {"xmlattr", f_unsupported_xmlattr},
  };
  return kTable;
}

}  // namespace
}  // namespace builtin

bool is_known_filter(const std::string& name) { return builtin::filter_table().count(name) > 0; }

Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
  auto it = builtin::filter_table().find(name);
  if (it == builtin::filter_table().end()) raise("TemplateRuntimeError", "No filter named '" + name + "'.");
  return it->second(in, input, args);
}

}  // namespace lpx::jinja
