// Jinja runtime values (see value.h): Python truthiness, equality, ordering, hashing, str/repr, JSON.
#include "text/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "text/jinja/interpreter.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {

void raise(std::string type, std::string message) { throw RenderError{std::move(type), std::move(message), 0}; }

std::string UndefinedInfo::message() const {
  if (!hint.empty()) return hint;
  if (!has_obj) return (has_name ? name_repr : std::string("None")) + " is undefined";
  if (!name_is_str) return obj_type_repr + " has no element " + name_repr;
  return "'" + obj_type_repr + "' has no attribute " + name_repr;
}

void fail_undefined(const Value& v) {
  const UndefinedInfo* info = v.undef_info();
  if (info == nullptr) raise("UndefinedError", "None is undefined");
  raise(info->error_type, info->message());
}

Value Object::call(Interpreter& in, CallArgs& args) {
  (void)in, (void)args;
  raise("TypeError", std::string("'") + type_name() + "' object is not callable");
}

// ---------------------------------------------------------------------------------------------
// Dict

namespace {
constexpr size_t kIndexThreshold = 12;
}

void Dict::reindex() {
  index_.clear();
  if (items.size() < kIndexThreshold) return;
  index_.reserve(items.size() * 2);
  for (size_t i = 0; i < items.size(); ++i) index_.emplace(hash_key(items[i].first), i);
}

const Value* Dict::find_str(std::string_view key) const {
  if (!index_.empty()) {
    std::string k = "s";
    k.append(key);
    auto it = index_.find(k);
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  for (const auto& kv : items) {
    if (kv.first.is_string() && kv.first.str() == key) return &kv.second;
  }
  return nullptr;
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find_str(key.str());
  if (!index_.empty()) {
    auto it = index_.find(hash_key(key));
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  hash_key(key);  // raises for unhashable keys
  for (const auto& kv : items) {
    if (equals(kv.first, key)) return &kv.second;
  }
  return nullptr;
}

Value* Dict::find(const Value& key) { return const_cast<Value*>(static_cast<const Dict*>(this)->find(key)); }

void Dict::set(const Value& key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
    return;
  }
  items.emplace_back(key, std::move(value));
  if (!index_.empty()) {
    index_.emplace(hash_key(key), items.size() - 1);
  } else if (items.size() >= kIndexThreshold) {
    reindex();
  }
}

bool Dict::erase(const Value& key, Value* removed) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i].first, key)) {
      if (removed != nullptr) *removed = items[i].second;
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
      reindex();
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Heap

void Heap::count_check() {
  if (++allocations_ > max_allocations_) {
    raise("ResourceExhausted", "template created too many objects (limit " + std::to_string(max_allocations_) + ")");
  }
}

List* Heap::new_list(ListKind kind) {
  count_check();
  lists_.emplace_back();
  lists_.back().kind = kind;
  return &lists_.back();
}

Dict* Heap::new_dict() {
  count_check();
  dicts_.emplace_back();
  return &dicts_.back();
}

UndefinedInfo* Heap::new_undefined_info() {
  count_check();
  undefs_.emplace_back();
  return &undefs_.back();
}

Scope* Heap::new_scope() {
  count_check();
  scopes_.emplace_back();
  return &scopes_.back();
}

// ---------------------------------------------------------------------------------------------
// Type names

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kDict: return "dict";
    case Kind::kObject: return v.object()->type_name();
    case Kind::kList:
      switch (v.list()->kind) {
        case ListKind::kList: return "list";
        case ListKind::kTuple: return "tuple";
        case ListKind::kGenerator: return "generator";
        case ListKind::kDictKeys: return "dict_keys";
        case ListKind::kDictValues: return "dict_values";
        case ListKind::kDictItems: return "dict_items";
        case ListKind::kRange: return "range";
      }
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_object()) return v.object()->object_type_repr();
  if (v.is_undefined()) return "jinja2.runtime.Undefined object";
  return type_name(v) + " object";
}

// ---------------------------------------------------------------------------------------------
// Truthiness, equality, ordering, hashing

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return v.as_bool();
    case Kind::kInt: return v.as_int() != 0;
    case Kind::kFloat: return v.as_float() != 0.0;
    case Kind::kString: return !v.str().empty();
    case Kind::kList:
      if (v.list()->kind == ListKind::kGenerator) return true;
      return !v.list()->items.empty();
    case Kind::kDict: return !v.dict()->items.empty();
    case Kind::kObject: return true;
  }
  return false;
}

namespace {

bool is_sequence_kind(ListKind k) { return k == ListKind::kList || k == ListKind::kTuple || k == ListKind::kRange; }

}  // namespace

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return a.str_ptr() == b.str_ptr() || a.str() == b.str();
    case Kind::kList: {
      const List* la = a.list();
      const List* lb = b.list();
      if (la == lb) return true;
      bool a_seq = is_sequence_kind(la->kind), b_seq = is_sequence_kind(lb->kind);
      if (!a_seq || !b_seq) return false;
      if (la->kind != lb->kind) return false;  // [1] != (1,) != range(1)
      if (la->items.size() != lb->items.size()) return false;
      for (size_t i = 0; i < la->items.size(); ++i) {
        if (!equals(la->items[i], lb->items[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const Dict* da = a.dict();
      const Dict* db = b.dict();
      if (da == db) return true;
      if (da->items.size() != db->items.size()) return false;
      for (const auto& kv : da->items) {
        const Value* other = db->find(kv.first);
        if (other == nullptr || !equals(kv.second, *other)) return false;
      }
      return true;
    }
    case Kind::kObject: return a.object() == b.object();
    default: return false;
  }
}

namespace {

[[noreturn]] void unorderable(const Value& a, const Value& b, const char* op) {
  raise("TypeError", std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
                         type_name(b) + "'");
}

}  // namespace

// Three-way comparison for ordering operators; raises TypeError for unorderable operands.
int order_compare(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_float(), y = b.as_float();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const List* la = a.list();
    const List* lb = b.list();
    if (la->kind == lb->kind && (la->kind == ListKind::kList || la->kind == ListKind::kTuple)) {
      size_t n = std::min(la->items.size(), lb->items.size());
      for (size_t i = 0; i < n; ++i) {
        if (!equals(la->items[i], lb->items[i])) return order_compare(la->items[i], lb->items[i], op);
      }
      if (la->items.size() == lb->items.size()) return 0;
      return la->items.size() < lb->items.size() ? -1 : 1;
    }
  }
  unorderable(a, b, op);
}

bool less_than(const Value& a, const Value& b) { return order_compare(a, b, "<") < 0; }

std::string hash_key(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return "u";
    case Kind::kNone: return "n";
    case Kind::kBool:
    case Kind::kInt: return "i" + std::to_string(v.as_int());
    case Kind::kFloat: {
      double d = v.as_float();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) {
        return "i" + std::to_string(static_cast<int64_t>(d));
      }
      return "f" + pystr::float_repr(d);
    }
    case Kind::kString: return "s" + v.str();
    case Kind::kList:
      if (v.list()->kind == ListKind::kTuple) {
        std::string k = "t(";
        for (const auto& it : v.list()->items) {
          k += hash_key(it);
          k += '\x1f';
        }
        return k + ")";
      }
      if (v.list()->kind == ListKind::kRange) {
        return "r" + std::to_string(v.list()->range_start) + "," + std::to_string(v.list()->range_stop) + "," +
               std::to_string(v.list()->range_step);
      }
      if (v.list()->kind == ListKind::kGenerator) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "g%p", static_cast<const void*>(v.list()));
        return buf;
      }
      break;
    case Kind::kDict: break;
    case Kind::kObject: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "o%p", static_cast<const void*>(v.object()));
      return buf;
    }
  }
  raise("TypeError", "unhashable type: '" + type_name(v) + "'");
}

bool length_of(const Value& v, int64_t* out) {
  switch (v.kind()) {
    case Kind::kUndefined: *out = 0; return true;
    case Kind::kString: *out = static_cast<int64_t>(pystr::length(v.str())); return true;
    case Kind::kList:
      if (v.list()->kind == ListKind::kGenerator) return false;
      *out = static_cast<int64_t>(v.list()->items.size());
      return true;
    case Kind::kDict: *out = static_cast<int64_t>(v.dict()->items.size()); return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// str / repr

namespace {
constexpr int kMaxReprDepth = 200;

void repr_into(Interpreter& in, std::string& out, const Value& v, int depth);

void repr_seq(Interpreter& in, std::string& out, const std::vector<Value>& items, int depth) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    repr_into(in, out, items[i], depth + 1);
  }
}

void repr_into(Interpreter& in, std::string& out, const Value& v, int depth) {
  if (depth > kMaxReprDepth) raise("RecursionError", "maximum recursion depth exceeded while getting the repr");
  in.check_string_size(out.size());
  switch (v.kind()) {
    case Kind::kUndefined: out += "Undefined"; return;
    case Kind::kString: out += pystr::repr(v.str()); return;
    case Kind::kList: {
      const List* l = v.list();
      switch (l->kind) {
        case ListKind::kList:
          out += '[';
          repr_seq(in, out, l->items, depth);
          out += ']';
          return;
        case ListKind::kTuple:
          out += '(';
          repr_seq(in, out, l->items, depth);
          if (l->items.size() == 1) out += ',';
          out += ')';
          return;
        case ListKind::kGenerator: out += "<generator object>"; return;
        case ListKind::kDictKeys:
        case ListKind::kDictValues:
        case ListKind::kDictItems:
          out += type_name(v);
          out += "([";
          repr_seq(in, out, l->items, depth);
          out += "])";
          return;
        case ListKind::kRange:
          out += "range(" + std::to_string(l->range_start) + ", " + std::to_string(l->range_stop);
          if (l->range_step != 1) out += ", " + std::to_string(l->range_step);
          out += ')';
          return;
      }
      return;
    }
    case Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.dict()->items) {
        if (!first) out += ", ";
        first = false;
        repr_into(in, out, kv.first, depth + 1);
        out += ": ";
        repr_into(in, out, kv.second, depth + 1);
      }
      out += '}';
      return;
    }
    case Kind::kObject: out += v.object()->repr(in); return;
    default: append_str(in, out, v); return;
  }
}

}  // namespace

void append_str(Interpreter& in, std::string& out, const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return;
    case Kind::kNone: out += "None"; return;
    case Kind::kBool: out += v.as_bool() ? "True" : "False"; return;
    case Kind::kInt: out += std::to_string(v.as_int()); return;
    case Kind::kFloat: out += pystr::float_repr(v.as_float()); return;
    case Kind::kString: out += v.str(); return;
    default: repr_into(in, out, v, 0); return;
  }
}

std::string to_str(Interpreter& in, const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  append_str(in, out, v);
  return out;
}

std::string repr(Interpreter& in, const Value& v, int depth) {
  std::string out;
  repr_into(in, out, v, depth);
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

Value from_json(Heap& heap, const nlohmann::ordered_json& j, int max_depth) {
  if (max_depth <= 0) raise("ValueError", "JSON context nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::floating(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List* l = heap.new_list();
      l->items.reserve(j.size());
      for (const auto& e : j) l->items.push_back(from_json(heap, e, max_depth - 1));
      return Value::list(l);
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict* d = heap.new_dict();
      for (auto it = j.begin(); it != j.end(); ++it) {
        d->set(Value::string(it.key()), from_json(heap, it.value(), max_depth - 1));
      }
      return Value::dict(d);
    }
    default: return Value::none();
  }
}

namespace {

void json_escape(std::string& out, std::string_view s, bool ensure_ascii) {
  out.push_back('"');
  char buf[16];
  if (!ensure_ascii) {
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(ch);
          }
      }
    }
  } else {
    for (char32_t c : pystr::decode(s)) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || (c >= 0x7F && c < 0x10000)) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
            out += buf;
          } else if (c >= 0x10000) {
            char32_t v = c - 0x10000;
            std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
    }
  }
  out.push_back('"');
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return pystr::float_repr(d);
}

[[noreturn]] void not_serializable(const Value& v) {
  raise("TypeError", "Object of type " + type_name(v) + " is not JSON serializable");
}

struct JsonWriter {
  Interpreter& in;
  const JsonDumpOptions& o;
  std::string out;

  void newline_indent(int level) {
    out.push_back('\n');
    if (o.use_indent_str) {
      for (int i = 0; i < level; ++i) out += o.indent_str;
    } else {
      out.append(static_cast<size_t>(std::max(0, o.indent) * level), ' ');
    }
  }

  std::string key_string(const Value& k) {
    switch (k.kind()) {
      case Kind::kString: return k.str();
      case Kind::kBool: return k.as_bool() ? "true" : "false";
      case Kind::kInt: return std::to_string(k.as_int());
      case Kind::kFloat: return json_float(k.as_float());
      case Kind::kNone: return "null";
      default: raise("TypeError", "keys must be str, int, float, bool or None, not " + type_name(k));
    }
  }

  void write(const Value& v, int level) {
    if (level > 500) raise("RecursionError", "maximum recursion depth exceeded while encoding a JSON object");
    in.check_string_size(out.size());
    bool indented = o.indent >= 0 || o.use_indent_str;
    switch (v.kind()) {
      case Kind::kNone: out += "null"; return;
      case Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
      case Kind::kInt: out += std::to_string(v.as_int()); return;
      case Kind::kFloat: out += json_float(v.as_float()); return;
      case Kind::kString: json_escape(out, v.str(), o.ensure_ascii); return;
      case Kind::kList: {
        const List* l = v.list();
        if (l->kind != ListKind::kList && l->kind != ListKind::kTuple) not_serializable(v);
        if (l->items.empty()) {
          out += "[]";
          return;
        }
        out.push_back('[');
        for (size_t i = 0; i < l->items.size(); ++i) {
          if (i > 0) out += o.item_sep;
          if (indented) newline_indent(level + 1);
          write(l->items[i], level + 1);
        }
        if (indented) newline_indent(level);
        out.push_back(']');
        return;
      }
      case Kind::kDict: {
        const Dict* d = v.dict();
        if (d->items.empty()) {
          out += "{}";
          return;
        }
        std::vector<const std::pair<Value, Value>*> entries;
        entries.reserve(d->items.size());
        for (const auto& kv : d->items) entries.push_back(&kv);
        if (o.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto* x, const auto* y) { return less_than(x->first, y->first); });
        }
        out.push_back('{');
        bool first = true;
        for (const auto* kv : entries) {
          if (!first) out += o.item_sep;
          first = false;
          if (indented) newline_indent(level + 1);
          json_escape(out, key_string(kv->first), o.ensure_ascii);
          out += o.key_sep;
          write(kv->second, level + 1);
        }
        if (indented) newline_indent(level);
        out.push_back('}');
        return;
      }
      default: not_serializable(v);
    }
  }
};

}  // namespace

std::string to_json(Interpreter& in, const Value& v, const JsonDumpOptions& opts) {
  JsonWriter w{in, opts, {}};
  w.write(v, 0);
  return std::move(w.out);
}

}  // namespace lpx::jinja
