// Jinja2 builtins (see builtins.h): filters, tests, globals and Python str/list/dict methods.
#include "text/jinja/builtins.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "text/jinja/interpreter.h"
#include "text/jinja/ops.h"
#include "text/jinja/parser.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {

namespace {

[[noreturn]] void unsupported(const std::string& what) {
  raise("UnsupportedError", what + " is not supported by this Jinja implementation");
}

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

std::string soft_str(Interpreter& in, const Value& v) { return to_str(in, v); }

const std::string& need_str(const Value& v, const std::string& what) {
  if (!v.is_string()) raise("TypeError", what + " must be str, not " + type_name(v));
  return v.str();
}

Value generator(Interpreter& in, std::vector<Value> items) { return in.new_list(std::move(items), ListKind::kGenerator); }

Value ignore_case(Interpreter& in, const Value& v) {
  if (v.is_string()) return in.str(pystr::lower(v.str()));
  return v;
}

// make_attrgetter: "a.b.0" -> getitem chain.
std::vector<Value> attr_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  for (const std::string& p : pystr::split(attribute.str(), std::string("."), -1)) {
    if (!p.empty() && p.find_first_not_of("0123456789") == std::string::npos) {
      parts.push_back(Value::integer(std::strtoll(p.c_str(), nullptr, 10)));
    } else {
      parts.push_back(Value::string(p));
    }
  }
  return parts;
}

Value attr_get(Interpreter& in, const Value& item, const std::vector<Value>& parts, const Value* def) {
  Value cur = item;
  for (const Value& part : parts) {
    cur = in.getitem(cur, part);
    if (def != nullptr && cur.is_undefined()) cur = *def;
  }
  return cur;
}

void sort_values(std::vector<Value>& items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? order_compare(keys[b], keys[a], "<") < 0 : order_compare(keys[a], keys[b], "<") < 0;
  });
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(items[i]);
  items = std::move(sorted);
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string html_unescape(const std::string& s) {
  static const std::unordered_map<std::string, std::string> kEntities = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"},
      {"copy", "\xC2\xA9"}, {"reg", "\xC2\xAE"}, {"hellip", "\xE2\x80\xA6"}, {"mdash", "\xE2\x80\x94"},
      {"ndash", "\xE2\x80\x93"}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 32) {
      out.push_back('&');
      continue;
    }
    std::string ent = s.substr(i + 1, semi - i - 1);
    if (!ent.empty() && ent[0] == '#') {
      char32_t cp = 0;
      bool ok = ent.size() > 1;
      if (ok && (ent[1] == 'x' || ent[1] == 'X')) {
        cp = static_cast<char32_t>(std::strtoul(ent.c_str() + 2, nullptr, 16));
      } else if (ok) {
        cp = static_cast<char32_t>(std::strtoul(ent.c_str() + 1, nullptr, 10));
      }
      if (ok && cp > 0 && cp <= 0x10FFFF) {
        pystr::append_utf8(out, cp);
        i = semi;
        continue;
      }
    } else {
      auto it = kEntities.find(ent);
      if (it != kEntities.end()) {
        out += it->second;
        i = semi;
        continue;
      }
    }
    out.push_back('&');
  }
  return out;
}

std::string py_center(const std::string& s, int64_t width, const std::string& fill) {
  int64_t len = static_cast<int64_t>(pystr::length(s));
  if (width <= len) return s;
  int64_t pad = width - len;
  int64_t left = pad / 2 + (pad & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < pad - left; ++i) out += fill;
  return out;
}

// Python int(str, base) parsing; false on failure.
bool parse_int(const std::string& raw, int base, int64_t* out) {
  std::string s = pystr::strip(raw, std::nullopt, true, true);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    char p = static_cast<char>(s[i + 1] | 0x20);
    if ((p == 'x' && (base == 16 || base == 0)) || (p == 'o' && (base == 8 || base == 0)) ||
        (p == 'b' && (base == 2 || base == 0))) {
      if (base == 0) base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  if (i >= s.size()) return false;
  int64_t v = 0;
  bool any = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      if (!any || i + 1 >= s.size() || s[i + 1] == '_') return false;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'z') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'Z') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (d >= base) return false;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
    any = true;
  }
  if (!any) return false;
  *out = neg ? -v : v;
  return true;
}

// Python float(str); false on failure.
bool parse_float(const std::string& raw, double* out) {
  std::string s = pystr::strip(raw, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return false;
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty()) return false;
  std::string low = pystr::lower(clean);
  std::string body = (low[0] == '+' || low[0] == '-') ? low.substr(1) : low;
  if (body == "inf" || body == "infinity" || body == "nan") {
    double v = body == "nan" ? NAN : INFINITY;
    *out = low[0] == '-' ? -v : v;
    return true;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(clean.c_str(), &end);
  return end != nullptr && *end == '\0';
}

double round_half_even_decimal(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits >= 0) {
    if (ndigits > 300) return x;
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  double p = std::pow(10.0, static_cast<double>(-ndigits));
  return std::nearbyint(x / p) * p;
}

// ---------------------------------------------------------------------------------------------
// Filters

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
  if (v.is_list() && v.list()->kind == ListKind::kList) raise("AttributeError", "'list' object has no attribute 'splitlines'");
  if (v.is_list() && v.list()->kind == ListKind::kTuple) raise("TypeError", "can only concatenate tuple (not \"str\") to tuple");
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
    if (auto* loop = dynamic_cast<LoopContext*>(v.object())) return Value::integer(static_cast<int64_t>(loop->items.size()));
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
    for (const Value& item : items) out.push_back(attr_get(in, item, parts, has_def && !def.is_none() ? &def : nullptr));
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
  auto is_sep = [](char32_t c) { return pystr::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
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

// ---------------------------------------------------------------------------------------------
// Tests

using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

const Value& test_arg(const CallArgs& a, const char* name) {
  if (a.args.empty()) {
    for (const auto& kv : a.kwargs) return kv.second;
    raise("TypeError", std::string("test '") + name + "' missing required argument");
  }
  return a.args[0];
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_object()) return dynamic_cast<LoopContext*>(v.object()) != nullptr;
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_list()) {
    ListKind k = v.list()->kind;
    return k == ListKind::kList || k == ListKind::kTuple || k == ListKind::kRange;
  }
  return v.is_undefined() || v.is_string() || v.is_dict();
}
bool t_callable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || (v.is_object() && v.object()->callable());  // Undefined defines __call__
}
bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value& o = test_arg(a, "sameas");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::kUndefined: return v.undef_info() == o.undef_info();
    case Kind::kNone: return true;
    case Kind::kBool: return v.as_bool() == o.as_bool();
    case Kind::kInt: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::kFloat: return false;
    case Kind::kString: return v.str_ptr() == o.str_ptr() || (v.str().size() <= 1 && v.str() == o.str());
    case Kind::kList: return v.list() == o.list();
    case Kind::kDict: return v.dict() == o.dict();
    case Kind::kObject: return v.object() == o.object();
  }
  return false;
}
bool t_odd(Interpreter& in, const Value& v, CallArgs&) { return equals(binary_op(in, "%", v, Value::integer(2)), Value::integer(1)); }
bool t_even(Interpreter& in, const Value& v, CallArgs&) { return equals(binary_op(in, "%", v, Value::integer(2)), Value::integer(0)); }
bool t_divisibleby(Interpreter& in, const Value& v, CallArgs& a) {
  return equals(binary_op(in, "%", v, test_arg(a, "divisibleby")), Value::integer(0));
}
bool t_in(Interpreter& in, const Value& v, CallArgs& a) { return contains(in, test_arg(a, "in"), v); }
bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return equals(v, test_arg(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !equals(v, test_arg(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "lt"), "<") < 0; }
bool t_le(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "le"), "<=") <= 0; }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "gt"), ">") > 0; }
bool t_ge(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "ge"), ">=") >= 0; }
bool t_lower(Interpreter& in, const Value& v, CallArgs&) { return pystr::islower(to_str(in, v)); }
bool t_upper(Interpreter& in, const Value& v, CallArgs&) { return pystr::isupper(to_str(in, v)); }
bool t_filter(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && is_known_filter(v.str()); }
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && is_known_test(v.str()); }

const std::unordered_map<std::string, TestFn>& test_table() {
  static const std::unordered_map<std::string, TestFn> kTable = {
      {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
      {"false", t_false},       {"true", t_true},           {"integer", t_integer}, {"float", t_float},
      {"number", t_number},     {"string", t_string},       {"mapping", t_mapping}, {"iterable", t_iterable},
      {"sequence", t_sequence}, {"callable", t_callable},   {"sameas", t_sameas},   {"escaped", t_escaped},
      {"odd", t_odd},           {"even", t_even},           {"divisibleby", t_divisibleby},
      {"in", t_in},             {"eq", t_eq},               {"equalto", t_eq},      {"==", t_eq},
      {"ne", t_ne},             {"!=", t_ne},               {"lt", t_lt},           {"lessthan", t_lt},
      {"<", t_lt},              {"le", t_le},               {"<=", t_le},           {"gt", t_gt},
      {"greaterthan", t_gt},    {">", t_gt},                {"ge", t_ge},           {">=", t_ge},
      {"lower", t_lower},       {"upper", t_upper},         {"filter", t_filter},   {"test", t_test},
  };
  return kTable;
}

// ---------------------------------------------------------------------------------------------
// Globals

class Cycler : public Object {
 public:
  explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
  const char* type_name() const override { return "Cycler"; }
  std::string object_type_repr() const override { return "jinja2.utils.Cycler object"; }
  std::string repr(Interpreter&) const override { return "<Cycler>"; }
  bool get_attr(Interpreter& in, const std::string& name, Value* out) override {
    Cycler* self = this;
    if (name == "current") {
      *out = items_[pos_];
    } else if (name == "next") {
      *out = Value::object(in.heap().make<NativeFunction>("next", [self](Interpreter&, CallArgs&) {
        Value v = self->items_[self->pos_];
        self->pos_ = (self->pos_ + 1) % self->items_.size();
        return v;
      }));
    } else if (name == "reset") {
      *out = Value::object(in.heap().make<NativeFunction>("reset", [self](Interpreter&, CallArgs&) {
        self->pos_ = 0;
        return Value::none();
      }));
    } else {
      return false;
    }
    return true;
  }

 private:
  std::vector<Value> items_;
  size_t pos_ = 0;
};

// dict(*args, **kwargs) into d.
void fill_dict(Interpreter& in, Dict* d, CallArgs& a, const char* fname) {
  if (a.args.size() > 1) raise("TypeError", std::string(fname) + " expected at most 1 argument, got " + std::to_string(a.args.size()));
  if (!a.args.empty()) {
    const Value& src = a.args[0];
    if (src.is_dict()) {
      for (const auto& kv : src.dict()->items) d->set(kv.first, kv.second);
    } else {
      for (const Value& item : in.iterate(src)) {
        std::vector<Value> kv = in.iterate(item);
        if (kv.size() != 2) raise("ValueError", "dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (auto& kv : a.kwargs) d->set(Value::string(kv.first), kv.second);
}

Value g_range(Interpreter& in, CallArgs& a) {
  if (!a.kwargs.empty()) raise("TypeError", "range() takes no keyword arguments");
  if (a.args.empty() || a.args.size() > 3) {
    raise("TypeError", "range expected at most 3 arguments, got " + std::to_string(a.args.size()));
  }
  for (const Value& v : a.args) {
    if (!v.is_integral()) raise("TypeError", "'" + type_name(v) + "' object cannot be interpreted as an integer");
  }
  int64_t start = 0, stop, step = 1;
  if (a.args.size() == 1) {
    stop = a.args[0].as_int();
  } else {
    start = a.args[0].as_int();
    stop = a.args[1].as_int();
    if (a.args.size() == 3) step = a.args[2].as_int();
  }
  if (step == 0) raise("ValueError", "range() arg 3 must not be zero");
  long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  int64_t len = 0;
  if ((step > 0 && span > 0) || (step < 0 && span < 0)) {
    len = static_cast<int64_t>((std::fabs(static_cast<double>(span)) - 1) / std::fabs(static_cast<double>(step))) + 1;
  }
  if (in.options().immutable_sandbox && len > 100000) {
    raise("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  if (static_cast<uint64_t>(len) > in.options().limits.max_loop_iterations) {
    raise("ResourceExhausted", "range() too large for the loop iteration limit");
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(len));
  for (int64_t i = 0, x = start; i < len; ++i, x += step) items.push_back(Value::integer(x));
  Value r = in.new_list(std::move(items), ListKind::kRange);
  r.list()->range_start = start;
  r.list()->range_stop = stop;
  r.list()->range_step = step;
  return r;
}

Value g_dict(Interpreter& in, CallArgs& a) {
  Dict* d = in.heap().new_dict();
  fill_dict(in, d, a, "dict");
  return Value::dict(d);
}

Value g_namespace(Interpreter& in, CallArgs& a) {
  Dict* d = in.heap().new_dict();
  fill_dict(in, d, a, "namespace");
  return Value::object(in.heap().make<NamespaceObject>(d));
}

Value g_joiner(Interpreter& in, CallArgs& a) {
  Params p(a, "joiner", {"sep"});
  std::string sep = p.has(0) ? to_str(in, p.get(0)) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::object(in.heap().make<NativeFunction>("joiner", [sep, used](Interpreter& inner, CallArgs&) {
    if (!*used) {
      *used = true;
      return inner.str("");
    }
    return inner.str(sep);
  }));
}

Value g_cycler(Interpreter& in, CallArgs& a) {
  if (a.args.empty()) raise("RuntimeError", "at least one item has to be provided");
  return Value::object(in.heap().make<Cycler>(a.args));
}

Value g_raise_exception(Interpreter& in, CallArgs& a) {
  Params p(a, "raise_exception", {"message"});
  p.require(0);
  raise("TemplateError", to_str(in, p.get(0)));
}

Value g_strftime_now(Interpreter& in, CallArgs& a) {
  Params p(a, "strftime_now", {"format"});
  p.require(0);
  std::string fmt = need_str(p.get(0), "strftime() argument 1");
  std::time_t t = in.options().now_unix_seconds ? static_cast<std::time_t>(*in.options().now_unix_seconds)
                                                 : std::time(nullptr);
  std::tm tm{};
  if (in.options().utc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  if (fmt.empty()) return in.str("");
  // strftime returns 0 both for "too small" and for an empty result; grow a few times.
  for (size_t cap = 256; cap <= (1u << 20); cap *= 4) {
    std::string buf(cap, '\0');
    size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    if (n > 0) {
      buf.resize(n);
      return in.str(std::move(buf));
    }
  }
  return in.str("");
}

Value g_lipsum(Interpreter&, CallArgs&) { unsupported("lipsum()"); }

// ---------------------------------------------------------------------------------------------
// Methods

enum class MKind { kStr, kList, kTuple, kDict, kOther };

MKind method_kind(const Value& v) {
  if (v.is_string()) return MKind::kStr;
  if (v.is_dict()) return MKind::kDict;
  if (v.is_list()) {
    if (v.list()->kind == ListKind::kList) return MKind::kList;
    if (v.list()->kind == ListKind::kTuple || v.list()->kind == ListKind::kRange) return MKind::kTuple;
  }
  return MKind::kOther;
}

const std::unordered_set<std::string>& str_methods() {
  static const std::unordered_set<std::string> k = {
      "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
      "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
      "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
      "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
      "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"};
  return k;
}
const std::unordered_set<std::string>& list_methods() {
  static const std::unordered_set<std::string> k = {"append", "clear",  "copy",    "count", "extend", "index",
                                                    "insert", "pop",    "remove",  "reverse", "sort"};
  return k;
}
const std::unordered_set<std::string>& dict_methods() {
  static const std::unordered_set<std::string> k = {"clear", "copy", "fromkeys", "get", "items", "keys",
                                                    "pop", "popitem", "setdefault", "update", "values"};
  return k;
}

bool is_mutating(MKind k, const std::string& name) {
  if (k == MKind::kList) {
    return name == "append" || name == "clear" || name == "extend" || name == "insert" || name == "pop" ||
           name == "remove" || name == "reverse" || name == "sort";
  }
  if (k == MKind::kDict) {
    return name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update";
  }
  return false;
}

std::string unsafe_message(const Value& self, const std::string& name) {
  return "access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.";
}

std::optional<int64_t> opt_index(const Params& p, size_t i) {
  if (!p.given(i)) return std::nullopt;
  return p.int_or(i, 0);
}

Value str_method(Interpreter& in, const std::string& s, const std::string& name, CallArgs& a) {
  const std::string fn = "str." + name;
  auto chars_arg = [&](const Params& p, size_t i) -> std::optional<std::string> {
    if (!p.given(i)) return std::nullopt;
    return need_str(p.get(i), fn + "() arg");
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Params p(a, fn, {"chars"});
    if (p.given(0) && !p.get(0).is_string()) raise("TypeError", name + " arg must be None or str");
    return in.str(pystr::strip(s, chars_arg(p, 0), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    Params p(a, fn, {"sep", "maxsplit"});
    if (p.given(0) && !p.get(0).is_string()) raise("TypeError", "must be str or None, not " + type_name(p.get(0)));
    std::optional<std::string> sep = chars_arg(p, 0);
    if (sep && sep->empty()) raise("ValueError", "empty separator");
    int64_t maxsplit = p.int_or(1, -1);
    std::vector<std::string> parts = name == "split" ? pystr::split(s, sep, maxsplit) : pystr::rsplit(s, sep, maxsplit);
    std::vector<Value> items;
    items.reserve(parts.size());
    for (auto& part : parts) items.push_back(Value::string(std::move(part)));
    return in.new_list(std::move(items));
  }
  if (name == "splitlines") {
    Params p(a, fn, {"keepends"});
    std::vector<Value> items;
    for (auto& part : pystr::splitlines(s, p.bool_or(0, false))) items.push_back(Value::string(std::move(part)));
    return in.new_list(std::move(items));
  }
  if (name == "startswith" || name == "endswith") {
    Params p(a, fn, {"prefix", "start", "end"});
    p.require(0);
    std::vector<std::string> candidates;
    if (p.get(0).is_string()) {
      candidates.push_back(p.get(0).str());
    } else if (p.get(0).is_list() && p.get(0).list()->kind == ListKind::kTuple) {
      for (const Value& c : p.get(0).list()->items) candidates.push_back(need_str(c, fn + "() tuple item"));
    } else {
      raise("TypeError", name + " first arg must be str or a tuple of str, not " + type_name(p.get(0)));
    }
    std::string sub = s;
    if (p.given(1) || p.given(2)) {
      std::u32string u = pystr::decode(s);
      int64_t n = static_cast<int64_t>(u.size());
      int64_t b = opt_index(p, 1).value_or(0), e = opt_index(p, 2).value_or(n);
      if (b < 0) b = std::max<int64_t>(0, b + n);
      if (e < 0) e = std::max<int64_t>(0, e + n);
      e = std::min(e, n);
      if (b > n) return Value::boolean(false);
      sub = b < e ? pystr::encode(u.substr(static_cast<size_t>(b), static_cast<size_t>(e - b))) : "";
    }
    for (const std::string& c : candidates) {
      bool hit = name == "startswith" ? sub.compare(0, c.size(), c) == 0 && sub.size() >= c.size()
                                      : sub.size() >= c.size() && sub.compare(sub.size() - c.size(), c.size(), c) == 0;
      if (hit) return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "replace") {
    Params p(a, fn, {"old", "new", "count"});
    p.require(0);
    p.require(1);
    const std::string& o = need_str(p.get(0), "replace() argument 1");
    const std::string& n = need_str(p.get(1), "replace() argument 2");
    if (o.empty() || n.size() > o.size()) in.check_string_size(s.size() + (pystr::length(s) + 1) * n.size());
    return in.str(pystr::replace(s, o, n, p.int_or(2, -1)));
  }
  if (name == "upper") return in.str(pystr::upper(s));
  if (name == "lower") return in.str(pystr::lower(s));
  if (name == "casefold") return in.str(pystr::casefold(s));
  if (name == "title") return in.str(pystr::title(s));
  if (name == "capitalize") return in.str(pystr::capitalize(s));
  if (name == "swapcase") return in.str(pystr::swapcase(s));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    Params p(a, fn, {"sub", "start", "end"});
    p.require(0);
    if (!p.get(0).is_string()) raise("TypeError", "must be str, not " + type_name(p.get(0)));
    const std::string& sub = p.get(0).str();
    if (name == "count") return Value::integer(pystr::count(s, sub, opt_index(p, 1), opt_index(p, 2)));
    bool rev = name[0] == 'r';
    int64_t r = pystr::find(s, sub, opt_index(p, 1), opt_index(p, 2), rev);
    if (r < 0 && (name == "index" || name == "rindex")) raise("ValueError", "substring not found");
    return Value::integer(r);
  }
  if (name == "format") return in.str(str_format(in, s, a));
  if (name == "join") {
    Params p(a, fn, {"iterable"});
    p.require(0);
    std::vector<Value> items = in.iterate(p.get(0));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        raise("TypeError", "sequence item " + std::to_string(i) + ": expected str instance, " + type_name(items[i]) + " found");
      }
      if (i > 0) out += s;
      out += items[i].str();
      in.check_string_size(out.size());
    }
    return in.str(std::move(out));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    Params p(a, fn, {"width", "fillchar"});
    p.require(0);
    int64_t width = p.int_or(0, 0);
    std::string fill = p.has(1) ? need_str(p.get(1), fn + "() fillchar") : " ";
    if (pystr::length(fill) != 1) raise("TypeError", "The fill character must be exactly one character long");
    in.check_string_size(static_cast<size_t>(std::max<int64_t>(0, width)) * fill.size());
    if (name == "center") return in.str(py_center(s, width, fill));
    int64_t len = static_cast<int64_t>(pystr::length(s));
    std::string padding;
    for (int64_t i = len; i < width; ++i) padding += fill;
    return in.str(name == "ljust" ? s + padding : padding + s);
  }
  if (name == "zfill") {
    Params p(a, fn, {"width"});
    p.require(0);
    int64_t width = p.int_or(0, 0);
    int64_t len = static_cast<int64_t>(pystr::length(s));
    if (width <= len) return in.str(s);
    in.check_string_size(static_cast<size_t>(width));
    std::string zeros(static_cast<size_t>(width - len), '0');
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) return in.str(s.substr(0, 1) + zeros + s.substr(1));
    return in.str(zeros + s);
  }
  if (name == "partition" || name == "rpartition") {
    Params p(a, fn, {"sep"});
    p.require(0);
    const std::string& sep = need_str(p.get(0), fn + "() arg");
    if (sep.empty()) raise("ValueError", "empty separator");
    size_t pos = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (pos == std::string::npos) {
      if (name == "partition") return in.new_tuple({Value::string(s), Value::string(""), Value::string("")});
      return in.new_tuple({Value::string(""), Value::string(""), Value::string(s)});
    }
    return in.new_tuple({Value::string(s.substr(0, pos)), Value::string(sep), Value::string(s.substr(pos + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    Params p(a, fn, {"affix"});
    p.require(0);
    const std::string& x = need_str(p.get(0), fn + "() arg");
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0 && s.size() >= x.size()) return in.str(s.substr(x.size()));
    if (name == "removesuffix" && !x.empty() && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
      return in.str(s.substr(0, s.size() - x.size()));
    }
    return in.str(s);
  }
  if (name.rfind("is", 0) == 0 && name != "isidentifier" && name != "isprintable" && name != "istitle") {
    Params p(a, fn, {});
    std::u32string u = pystr::decode(s);
    if (name == "islower") return Value::boolean(pystr::islower(s));
    if (name == "isupper") return Value::boolean(pystr::isupper(s));
    if (name == "isascii") return Value::boolean(pystr::is_ascii(s));
    if (u.empty()) return Value::boolean(false);
    for (char32_t c : u) {
      bool ok;
      if (name == "isalpha") {
        ok = pystr::is_alpha(c);
      } else if (name == "isalnum") {
        ok = pystr::is_alnum(c);
      } else if (name == "isspace") {
        ok = pystr::is_space(c);
      } else if (name == "isdecimal") {
        ok = pystr::is_decimal(c);
      } else if (name == "isnumeric") {
        ok = pystr::is_numeric(c);
      } else {  // isdigit
        ok = pystr::is_digit(c);
      }
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  unsupported("str." + name + "()");
}

Value list_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& a) {
  List* l = self.list();
  const std::string fn = type_name(self) + "." + name;
  if (name == "count") {
    Params p(a, fn, {"value"});
    p.require(0);
    int64_t n = 0;
    for (const Value& v : l->items) n += equals(v, p.get(0)) ? 1 : 0;
    return Value::integer(n);
  }
  if (name == "index") {
    Params p(a, fn, {"value", "start", "stop"});
    p.require(0);
    int64_t n = static_cast<int64_t>(l->items.size());
    int64_t b = opt_index(p, 1).value_or(0), e = opt_index(p, 2).value_or(n);
    if (b < 0) b = std::max<int64_t>(0, b + n);
    if (e < 0) e = std::max<int64_t>(0, e + n);
    for (int64_t i = b; i < std::min(e, n); ++i) {
      if (equals(l->items[static_cast<size_t>(i)], p.get(0))) return Value::integer(i);
    }
    if (self.list()->kind == ListKind::kTuple) raise("ValueError", "tuple.index(x): x not in tuple");
    raise("ValueError", repr(in, p.get(0)) + " is not in list");
  }
  if (name == "copy") return in.new_list(l->items);
  // mutating methods (list only)
  if (name == "append") {
    Params p(a, fn, {"object"});
    p.require(0);
    in.check_list_size(l->items.size() + 1);
    l->items.push_back(p.get(0));
    return Value::none();
  }
  if (name == "extend") {
    Params p(a, fn, {"iterable"});
    p.require(0);
    std::vector<Value> extra = in.iterate(p.get(0));
    in.check_list_size(l->items.size() + extra.size());
    l->items.insert(l->items.end(), extra.begin(), extra.end());
    return Value::none();
  }
  if (name == "insert") {
    Params p(a, fn, {"index", "object"});
    p.require(0);
    p.require(1);
    int64_t n = static_cast<int64_t>(l->items.size());
    int64_t i = p.int_or(0, 0);
    if (i < 0) i = std::max<int64_t>(0, i + n);
    i = std::min(i, n);
    l->items.insert(l->items.begin() + i, p.get(1));
    return Value::none();
  }
  if (name == "pop") {
    Params p(a, fn, {"index"});
    if (l->items.empty()) raise("IndexError", "pop from empty list");
    int64_t n = static_cast<int64_t>(l->items.size());
    int64_t i = p.int_or(0, -1);
    if (i < 0) i += n;
    if (i < 0 || i >= n) raise("IndexError", "pop index out of range");
    Value v = l->items[static_cast<size_t>(i)];
    l->items.erase(l->items.begin() + i);
    return v;
  }
  if (name == "remove") {
    Params p(a, fn, {"value"});
    p.require(0);
    for (size_t i = 0; i < l->items.size(); ++i) {
      if (equals(l->items[i], p.get(0))) {
        l->items.erase(l->items.begin() + static_cast<std::ptrdiff_t>(i));
        return Value::none();
      }
    }
    raise("ValueError", "list.remove(x): x not in list");
  }
  if (name == "reverse") {
    std::reverse(l->items.begin(), l->items.end());
    return Value::none();
  }
  if (name == "clear") {
    l->items.clear();
    return Value::none();
  }
  if (name == "sort") {
    Params p(a, fn, {"key", "reverse"});
    std::vector<Value> keys;
    for (const Value& v : l->items) {
      if (p.given(0)) {
        CallArgs ca;
        ca.args.push_back(v);
        keys.push_back(in.call(p.get(0), ca));
      } else {
        keys.push_back(v);
      }
    }
    sort_values(l->items, keys, p.bool_or(1, false));
    return Value::none();
  }
  unsupported(fn + "()");
}

Value dict_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& a) {
  Dict* d = self.dict();
  const std::string fn = "dict." + name;
  if (name == "get") {
    Params p(a, fn, {"key", "default"});
    p.require(0);
    if (const Value* v = d->find(p.get(0))) return *v;
    return p.get_or(1, Value::none());
  }
  if (name == "items" || name == "keys" || name == "values") {
    Params p(a, fn, {});
    std::vector<Value> items;
    items.reserve(d->items.size());
    for (const auto& kv : d->items) {
      if (name == "items") {
        items.push_back(in.new_tuple({kv.first, kv.second}));
      } else {
        items.push_back(name == "keys" ? kv.first : kv.second);
      }
    }
    ListKind k = name == "items" ? ListKind::kDictItems : name == "keys" ? ListKind::kDictKeys : ListKind::kDictValues;
    return in.new_list(std::move(items), k);
  }
  if (name == "copy") {
    Dict* c = in.heap().new_dict();
    for (const auto& kv : d->items) c->set(kv.first, kv.second);
    return Value::dict(c);
  }
  if (name == "fromkeys") {
    Params p(a, fn, {"iterable", "value"});
    p.require(0);
    Dict* c = in.heap().new_dict();
    for (const Value& k : in.iterate(p.get(0))) c->set(k, p.get_or(1, Value::none()));
    return Value::dict(c);
  }
  if (name == "pop") {
    Params p(a, fn, {"key", "default"});
    p.require(0);
    Value removed;
    if (d->erase(p.get(0), &removed)) return removed;
    if (p.has(1)) return p.get(1);
    raise("KeyError", repr(in, p.get(0)));
  }
  if (name == "popitem") {
    if (d->items.empty()) raise("KeyError", "'popitem(): dictionary is empty'");
    auto last = d->items.back();
    d->erase(last.first, nullptr);
    return in.new_tuple({last.first, last.second});
  }
  if (name == "setdefault") {
    Params p(a, fn, {"key", "default"});
    p.require(0);
    if (const Value* v = d->find(p.get(0))) return *v;
    Value def = p.get_or(1, Value::none());
    d->set(p.get(0), def);
    return def;
  }
  if (name == "update") {
    fill_dict(in, d, a, "update");
    return Value::none();
  }
  if (name == "clear") {
    d->clear();
    return Value::none();
  }
  unsupported(fn + "()");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public entry points

bool is_known_filter(const std::string& name) { return filter_table().count(name) > 0; }
bool is_known_test(const std::string& name) { return test_table().count(name) > 0; }

Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
  auto it = filter_table().find(name);
  if (it == filter_table().end()) raise("TemplateRuntimeError", "No filter named '" + name + "'.");
  return it->second(in, input, args);
}

bool apply_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
  auto it = test_table().find(name);
  if (it == test_table().end()) raise("TemplateRuntimeError", "No test named '" + name + "'.");
  return it->second(in, input, args);
}

bool make_global(Interpreter& in, const std::string& name, Value* out) {
  using Fn = Value (*)(Interpreter&, CallArgs&);
  static const std::unordered_map<std::string, Fn> kGlobals = {
      {"range", g_range},     {"dict", g_dict},
      {"namespace", g_namespace}, {"joiner", g_joiner},
      {"cycler", g_cycler},   {"raise_exception", g_raise_exception},
      {"strftime_now", g_strftime_now}, {"lipsum", g_lipsum},
  };
  auto it = kGlobals.find(name);
  if (it == kGlobals.end()) return false;
  Fn fn = it->second;
  *out = Value::object(in.heap().make<NativeFunction>(name, [fn](Interpreter& inner, CallArgs& a) { return fn(inner, a); }));
  return true;
}

bool is_method(const Value& self, const std::string& name) {
  switch (method_kind(self)) {
    case MKind::kStr: return str_methods().count(name) > 0;
    case MKind::kList: return list_methods().count(name) > 0;
    case MKind::kTuple: return name == "count" || name == "index";
    case MKind::kDict: return dict_methods().count(name) > 0;
    case MKind::kOther: return false;
  }
  return false;
}

bool method_attr(Interpreter& in, const Value& self, const std::string& name, Value* out) {
  if (self.is_list() && self.list()->group && (name == "grouper" || name == "list")) {
    *out = self.list()->items[name == "grouper" ? 0 : 1];
    return true;
  }
  if (!is_method(self, name)) return false;
  MKind k = method_kind(self);
  if (in.options().immutable_sandbox && is_mutating(k, name)) {
    UndefinedInfo* u = in.heap().new_undefined_info();
    u->hint = unsafe_message(self, name);
    u->error_type = "SecurityError";
    *out = Value::undefined(u);
    return true;
  }
  Value receiver = self;
  std::string method = name;
  *out = Value::object(in.heap().make<NativeFunction>(
      name, [receiver, method](Interpreter& inner, CallArgs& a) { return call_method(inner, receiver, method, a); }));
  return true;
}

Value call_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  MKind k = method_kind(self);
  if (in.options().immutable_sandbox && is_mutating(k, name)) raise("SecurityError", unsafe_message(self, name));
  switch (k) {
    case MKind::kStr: return str_method(in, self.str(), name, args);
    case MKind::kList:
    case MKind::kTuple: return list_method(in, self, name, args);
    case MKind::kDict: return dict_method(in, self, name, args);
    case MKind::kOther: break;
  }
  raise("TypeError", "'" + type_name(self) + "' object has no method '" + name + "'");
}

}  // namespace lpx::jinja
