// The Python methods of str, list/tuple and dict values that templates call ('a'.upper(),
// messages.append(x), d.items()...): one handler per method (or family of methods), found through
// a table per receiver type that also marks the mutating ones (refused in the immutable sandbox).
#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "text/jinja/builtins.h"
#include "text/jinja/builtins/common.h"
#include "text/jinja/ops.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {
namespace builtin {
namespace {

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

std::string unsafe_message(const Value& self, const std::string& name) {
  return "access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.";
}

std::optional<int64_t> opt_index(const Params& p, size_t i) {
  if (!p.given(i)) return std::nullopt;
  return p.int_or(i, 0);
}

// A method's handler gets the receiver, the method name (a family shares one handler) and the
// qualified name for messages ("str.split", "list.pop", "tuple.index", "dict.get").
template <typename Receiver>
struct Method {
  // Null for a known method this implementation refuses (UnsupportedError).
  Value (*fn)(Interpreter& in, Receiver self, const std::string& name, const std::string& fn, CallArgs& a);
  bool mutating;
};
template <typename Receiver>
using MethodTable = std::unordered_map<std::string_view, Method<Receiver>>;

template <typename Receiver>
const Method<Receiver>* find_method(const MethodTable<Receiver>& table, const std::string& name) {
  auto it = table.find(name);
  return it == table.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------------------------------------
// str

std::optional<std::string> chars_arg(const Params& p, size_t i, const std::string& fn) {
  if (!p.given(i)) return std::nullopt;
  return need_str(p.get(i), fn + "() arg");
}

// strip, lstrip, rstrip
Value s_strip(Interpreter& in, const std::string& s, const std::string& name, const std::string& fn, CallArgs& a) {
  Params p(a, fn, {"chars"});
  if (p.given(0) && !p.get(0).is_string()) raise("TypeError", name + " arg must be None or str");
  return in.str(pystr::strip(s, chars_arg(p, 0, fn), name != "rstrip", name != "lstrip"));
}

// split, rsplit
Value s_split(Interpreter& in, const std::string& s, const std::string& name, const std::string& fn, CallArgs& a) {
  Params p(a, fn, {"sep", "maxsplit"});
  if (p.given(0) && !p.get(0).is_string()) raise("TypeError", "must be str or None, not " + type_name(p.get(0)));
  std::optional<std::string> sep = chars_arg(p, 0, fn);
  if (sep && sep->empty()) raise("ValueError", "empty separator");
  int64_t maxsplit = p.int_or(1, -1);
  std::vector<std::string> parts = name == "split" ? pystr::split(s, sep, maxsplit) : pystr::rsplit(s, sep, maxsplit);
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& part : parts) items.push_back(Value::string(std::move(part)));
  return in.new_list(std::move(items));
}

// splitlines
Value s_splitlines(Interpreter& in, const std::string& s, const std::string&, const std::string& fn, CallArgs& a) {
  Params p(a, fn, {"keepends"});
  std::vector<Value> items;
  for (auto& part : pystr::splitlines(s, p.bool_or(0, false))) items.push_back(Value::string(std::move(part)));
  return in.new_list(std::move(items));
}

// startswith, endswith
Value s_starts_ends_with(Interpreter&, const std::string& s, const std::string& name, const std::string& fn,
                         CallArgs& a) {
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

// replace
Value s_replace(Interpreter& in, const std::string& s, const std::string&, const std::string& fn, CallArgs& a) {
  Params p(a, fn, {"old", "new", "count"});
  p.require(0);
  p.require(1);
  const std::string& o = need_str(p.get(0), "replace() argument 1");
  const std::string& n = need_str(p.get(1), "replace() argument 2");
  if (o.empty() || n.size() > o.size()) in.check_string_size(s.size() + (pystr::length(s) + 1) * n.size());
  return in.str(pystr::replace(s, o, n, p.int_or(2, -1)));
}

// upper
Value s_upper(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs&) {
  return in.str(pystr::upper(s));
}

// lower
Value s_lower(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs&) {
  return in.str(pystr::lower(s));
}

// casefold
Value s_casefold(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs&) {
  return in.str(pystr::casefold(s));
}

// title
Value s_title(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs&) {
  return in.str(pystr::title(s));
}

// capitalize
Value s_capitalize(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs&) {
  return in.str(pystr::capitalize(s));
}

// swapcase
Value s_swapcase(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs&) {
  return in.str(pystr::swapcase(s));
}

// find, rfind, index, rindex, count
Value s_find(Interpreter&, const std::string& s, const std::string& name, const std::string& fn, CallArgs& a) {
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

// format
Value s_format(Interpreter& in, const std::string& s, const std::string&, const std::string&, CallArgs& a) {
  return in.str(str_format(in, s, a));
}

// join
Value s_join(Interpreter& in, const std::string& s, const std::string&, const std::string& fn, CallArgs& a) {
  Params p(a, fn, {"iterable"});
  p.require(0);
  std::vector<Value> items = in.iterate(p.get(0));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      raise("TypeError",
            "sequence item " + std::to_string(i) + ": expected str instance, " + type_name(items[i]) + " found");
    }
    if (i > 0) out += s;
    out += items[i].str();
    in.check_string_size(out.size());
  }
  return in.str(std::move(out));
}

// center, ljust, rjust
Value s_pad(Interpreter& in, const std::string& s, const std::string& name, const std::string& fn, CallArgs& a) {
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

// zfill
Value s_zfill(Interpreter& in, const std::string& s, const std::string&, const std::string& fn, CallArgs& a) {
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

// partition, rpartition
Value s_partition(Interpreter& in, const std::string& s, const std::string& name, const std::string& fn, CallArgs& a) {
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

// removeprefix, removesuffix
Value s_remove_affix(Interpreter& in, const std::string& s, const std::string& name, const std::string& fn,
                     CallArgs& a) {
  Params p(a, fn, {"affix"});
  p.require(0);
  const std::string& x = need_str(p.get(0), fn + "() arg");
  if (name == "removeprefix" && s.compare(0, x.size(), x) == 0 && s.size() >= x.size())
    return in.str(s.substr(x.size()));
  if (name == "removesuffix" && !x.empty() && s.size() >= x.size() &&
      s.compare(s.size() - x.size(), x.size(), x) == 0) {
    return in.str(s.substr(0, s.size() - x.size()));
  }
  return in.str(s);
}

// isalnum, isalpha, isascii, isdecimal, isdigit, islower, isnumeric, isspace, isupper
Value s_is_class(Interpreter&, const std::string& s, const std::string& name, const std::string& fn, CallArgs& a) {
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

const MethodTable<const std::string&>& str_methods() {
  static const MethodTable<const std::string&> kTable = {
      {"capitalize", {s_capitalize, false}},
      {"casefold", {s_casefold, false}},
      {"center", {s_pad, false}},
      {"count", {s_find, false}},
      {"encode", {nullptr, false}},
      {"endswith", {s_starts_ends_with, false}},
      {"expandtabs", {nullptr, false}},
      {"find", {s_find, false}},
      {"format", {s_format, false}},
      {"format_map", {nullptr, false}},
      {"index", {s_find, false}},
      {"isalnum", {s_is_class, false}},
      {"isalpha", {s_is_class, false}},
      {"isascii", {s_is_class, false}},
      {"isdecimal", {s_is_class, false}},
      {"isdigit", {s_is_class, false}},
      {"isidentifier", {nullptr, false}},
      {"islower", {s_is_class, false}},
      {"isnumeric", {s_is_class, false}},
      {"isprintable", {nullptr, false}},
      {"isspace", {s_is_class, false}},
      {"istitle", {nullptr, false}},
      {"isupper", {s_is_class, false}},
      {"join", {s_join, false}},
      {"ljust", {s_pad, false}},
      {"lower", {s_lower, false}},
      {"lstrip", {s_strip, false}},
      {"maketrans", {nullptr, false}},
      {"partition", {s_partition, false}},
      {"removeprefix", {s_remove_affix, false}},
      {"removesuffix", {s_remove_affix, false}},
      {"replace", {s_replace, false}},
      {"rfind", {s_find, false}},
      {"rindex", {s_find, false}},
      {"rjust", {s_pad, false}},
      {"rpartition", {s_partition, false}},
      {"rsplit", {s_split, false}},
      {"rstrip", {s_strip, false}},
      {"split", {s_split, false}},
      {"splitlines", {s_splitlines, false}},
      {"startswith", {s_starts_ends_with, false}},
      {"strip", {s_strip, false}},
      {"swapcase", {s_swapcase, false}},
      {"title", {s_title, false}},
      {"translate", {nullptr, false}},
      {"upper", {s_upper, false}},
      {"zfill", {s_zfill, false}},
  };
  return kTable;
}

// ---------------------------------------------------------------------------------------------
// list and tuple (a tuple reaches only count and index)

// count
Value l_count(Interpreter&, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
  Params p(a, fn, {"value"});
  p.require(0);
  int64_t n = 0;
  for (const Value& v : l->items) n += equals(v, p.get(0)) ? 1 : 0;
  return Value::integer(n);
}

// index
Value l_index(Interpreter& in, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
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

// copy
Value l_copy(Interpreter& in, const Value& self, const std::string&, const std::string&, CallArgs&) {
  List* l = self.list();
  return in.new_list(l->items);
}

// append
Value l_append(Interpreter& in, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
  Params p(a, fn, {"object"});
  p.require(0);
  in.check_list_size(l->items.size() + 1);
  l->items.push_back(p.get(0));
  return Value::none();
}

// extend
Value l_extend(Interpreter& in, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
  Params p(a, fn, {"iterable"});
  p.require(0);
  std::vector<Value> extra = in.iterate(p.get(0));
  in.check_list_size(l->items.size() + extra.size());
  l->items.insert(l->items.end(), extra.begin(), extra.end());
  return Value::none();
}

// insert
Value l_insert(Interpreter&, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
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

// pop
Value l_pop(Interpreter&, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
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

// remove
Value l_remove(Interpreter&, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
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

// reverse
Value l_reverse(Interpreter&, const Value& self, const std::string&, const std::string&, CallArgs&) {
  List* l = self.list();
  std::reverse(l->items.begin(), l->items.end());
  return Value::none();
}

// clear
Value l_clear(Interpreter&, const Value& self, const std::string&, const std::string&, CallArgs&) {
  List* l = self.list();
  l->items.clear();
  return Value::none();
}

// sort
Value l_sort(Interpreter& in, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  List* l = self.list();
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

const MethodTable<const Value&>& list_methods() {
  static const MethodTable<const Value&> kTable = {
      {"append", {l_append, true}},   {"clear", {l_clear, true}},   {"copy", {l_copy, false}},
      {"count", {l_count, false}},    {"extend", {l_extend, true}}, {"index", {l_index, false}},
      {"insert", {l_insert, true}},   {"pop", {l_pop, true}},       {"remove", {l_remove, true}},
      {"reverse", {l_reverse, true}}, {"sort", {l_sort, true}},
  };
  return kTable;
}

// ---------------------------------------------------------------------------------------------
// dict

// get
Value d_get(Interpreter&, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  Dict* d = self.dict();
  Params p(a, fn, {"key", "default"});
  p.require(0);
  if (const Value* v = d->find(p.get(0))) return *v;
  return p.get_or(1, Value::none());
}

// items, keys, values
Value d_views(Interpreter& in, const Value& self, const std::string& name, const std::string& fn, CallArgs& a) {
  Dict* d = self.dict();
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

// copy
Value d_copy(Interpreter& in, const Value& self, const std::string&, const std::string&, CallArgs&) {
  Dict* d = self.dict();
  Dict* c = in.heap().new_dict();
  for (const auto& kv : d->items) c->set(kv.first, kv.second);
  return Value::dict(c);
}

// fromkeys
Value d_fromkeys(Interpreter& in, const Value&, const std::string&, const std::string& fn, CallArgs& a) {
  Params p(a, fn, {"iterable", "value"});
  p.require(0);
  Dict* c = in.heap().new_dict();
  for (const Value& k : in.iterate(p.get(0))) c->set(k, p.get_or(1, Value::none()));
  return Value::dict(c);
}

// pop
Value d_pop(Interpreter& in, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  Dict* d = self.dict();
  Params p(a, fn, {"key", "default"});
  p.require(0);
  Value removed;
  if (d->erase(p.get(0), &removed)) return removed;
  if (p.has(1)) return p.get(1);
  raise("KeyError", repr(in, p.get(0)));
}

// popitem
Value d_popitem(Interpreter& in, const Value& self, const std::string&, const std::string&, CallArgs&) {
  Dict* d = self.dict();
  if (d->items.empty()) raise("KeyError", "'popitem(): dictionary is empty'");
  auto last = d->items.back();
  d->erase(last.first, nullptr);
  return in.new_tuple({last.first, last.second});
}

// setdefault
Value d_setdefault(Interpreter&, const Value& self, const std::string&, const std::string& fn, CallArgs& a) {
  Dict* d = self.dict();
  Params p(a, fn, {"key", "default"});
  p.require(0);
  if (const Value* v = d->find(p.get(0))) return *v;
  Value def = p.get_or(1, Value::none());
  d->set(p.get(0), def);
  return def;
}

// update
Value d_update(Interpreter& in, const Value& self, const std::string&, const std::string&, CallArgs& a) {
  fill_dict(in, self.dict(), a, "update");
  return Value::none();
}

// clear
Value d_clear(Interpreter&, const Value& self, const std::string&, const std::string&, CallArgs&) {
  Dict* d = self.dict();
  d->clear();
  return Value::none();
}

const MethodTable<const Value&>& dict_methods() {
  static const MethodTable<const Value&> kTable = {
      {"clear", {d_clear, true}},   {"copy", {d_copy, false}},      {"fromkeys", {d_fromkeys, false}},
      {"get", {d_get, false}},      {"items", {d_views, false}},    {"keys", {d_views, false}},
      {"pop", {d_pop, true}},       {"popitem", {d_popitem, true}}, {"setdefault", {d_setdefault, true}},
      {"update", {d_update, true}}, {"values", {d_views, false}},
  };
  return kTable;
}

bool is_mutating(MKind k, const std::string& name) {
  const Method<const Value&>* m = nullptr;
  if (k == MKind::kList) m = find_method(list_methods(), name);
  if (k == MKind::kDict) m = find_method(dict_methods(), name);
  return m != nullptr && m->mutating;
}

// Runs the handler of `name` from `table`; UnsupportedError for a refused method.
template <typename Receiver>
Value dispatch(const MethodTable<Receiver>& table, Interpreter& in, Receiver self, const std::string& name,
               const std::string& fn, CallArgs& args) {
  const Method<Receiver>* m = find_method(table, name);
  if (m == nullptr || m->fn == nullptr) unsupported(fn + "()");
  return m->fn(in, self, name, fn, args);
}

}  // namespace
}  // namespace builtin

using builtin::MKind;

bool is_method(const Value& self, const std::string& name) {
  switch (builtin::method_kind(self)) {
    case MKind::kStr: return builtin::str_methods().count(name) > 0;
    case MKind::kList: return builtin::list_methods().count(name) > 0;
    case MKind::kTuple: return name == "count" || name == "index";
    case MKind::kDict: return builtin::dict_methods().count(name) > 0;
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
  MKind k = builtin::method_kind(self);
  if (in.options().immutable_sandbox && builtin::is_mutating(k, name)) {
    UndefinedInfo* u = in.heap().new_undefined_info();
    u->hint = builtin::unsafe_message(self, name);
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
  MKind k = builtin::method_kind(self);
  if (in.options().immutable_sandbox && builtin::is_mutating(k, name)) {
    raise("SecurityError", builtin::unsafe_message(self, name));
  }
  switch (k) {
    case MKind::kStr:
      return builtin::dispatch<const std::string&>(builtin::str_methods(), in, self.str(), name, "str." + name, args);
    case MKind::kList:
    case MKind::kTuple:
      return builtin::dispatch<const Value&>(builtin::list_methods(), in, self, name, type_name(self) + "." + name,
                                             args);
    case MKind::kDict:
      return builtin::dispatch<const Value&>(builtin::dict_methods(), in, self, name, "dict." + name, args);
    case MKind::kOther: break;
  }
  raise("TypeError", "'" + type_name(self) + "' object has no method '" + name + "'");
}

}  // namespace lpx::jinja
