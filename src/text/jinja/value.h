// Jinja runtime values with Python semantics: undefined, None, bool, int, float, str, list/tuple, dict, objects.
// Containers and objects live in a per-render Heap (arena) and are referenced by raw pointer, so reference
// cycles (a namespace holding itself, macros closing over scopes) cannot leak; nothing outlives the render.
// Strings are immutable and shared (shared_ptr<const std::string>) so parsed-template constants can be used
// by several renders at once. Thread-safety: a Heap and its values belong to one render (one thread).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lpx::jinja {

class Interpreter;
struct List;
struct Dict;
class Object;

// Error raised while rendering; carries a Python exception class name ("UndefinedError", "TypeError",
// "TemplateError", ...) so messages read like Jinja2's. Internal only: converted to Status at the API edge.
struct RenderError {
  std::string type;
  std::string message;
  int line = 0;
};

[[noreturn]] void raise(std::string type, std::string message);

// Details of an Undefined value (why it is undefined); message() matches Jinja2's wording.
struct UndefinedInfo {
  std::string hint;       // explicit message, if any
  std::string name_repr;  // repr() of the missing variable / attribute / key
  bool has_name = false;
  bool name_is_str = true;                    // false for non-string subscripts ("has no element 5")
  bool has_obj = false;                       // attribute/item of an object
  std::string obj_type_repr;                  // "dict object", "None", "jinja2.utils.Namespace object"
  std::string error_type = "UndefinedError";  // "SecurityError" for blocked attributes
  std::string message() const;
};

enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kObject };

class Value {
 public:
  Value() : kind_(Kind::kUndefined), i_(0) {}
  static Value undefined(const UndefinedInfo* info = nullptr) {
    Value v;
    v.undef_ = info;
    return v;
  }
  static Value none() {
    Value v;
    v.kind_ = Kind::kNone;
    return v;
  }
  static Value boolean(bool b) {
    Value v;
    v.kind_ = Kind::kBool;
    v.b_ = b;
    return v;
  }
  static Value integer(int64_t i) {
    Value v;
    v.kind_ = Kind::kInt;
    v.i_ = i;
    return v;
  }
  static Value floating(double f) {
    Value v;
    v.kind_ = Kind::kFloat;
    v.f_ = f;
    return v;
  }
  static Value string(std::string s) {
    Value v;
    v.kind_ = Kind::kString;
    v.s_ = std::make_shared<const std::string>(std::move(s));
    return v;
  }
  static Value string(std::shared_ptr<const std::string> s) {
    Value v;
    v.kind_ = Kind::kString;
    v.s_ = std::move(s);
    return v;
  }
  static Value list(List* l) {
    Value v;
    v.kind_ = Kind::kList;
    v.l_ = l;
    return v;
  }
  static Value dict(Dict* d) {
    Value v;
    v.kind_ = Kind::kDict;
    v.d_ = d;
    return v;
  }
  static Value object(Object* o) {
    Value v;
    v.kind_ = Kind::kObject;
    v.o_ = o;
    return v;
  }

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  // int or bool (Python bool is an int subclass).
  bool is_integral() const { return kind_ == Kind::kInt || kind_ == Kind::kBool; }
  bool is_number() const { return is_integral() || kind_ == Kind::kFloat; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(as_int()); }
  const std::string& str() const { return *s_; }
  const std::shared_ptr<const std::string>& str_ptr() const { return s_; }
  List* list() const { return l_; }
  Dict* dict() const { return d_; }
  Object* object() const { return o_; }
  const UndefinedInfo* undef_info() const { return undef_; }

 private:
  Kind kind_;
  union {
    bool b_;
    int64_t i_;
    double f_;
    List* l_;
    Dict* d_;
    Object* o_;
    const UndefinedInfo* undef_;
  };
  std::shared_ptr<const std::string> s_;
};

// list: mutable Python list; tuple: immutable; generator: single-pass iterator (map/select/... results);
// dict views print as dict_items([...]) etc.; range prints as range(a, b).
enum class ListKind : uint8_t { kList, kTuple, kGenerator, kDictKeys, kDictValues, kDictItems, kRange };

struct List {
  ListKind kind = ListKind::kList;
  std::vector<Value> items;
  size_t consumed = 0;  // generators: items already taken by an earlier iteration
  bool group = false;   // groupby() result tuple: has .grouper / .list
  int64_t range_start = 0, range_stop = 0, range_step = 1;
};

// Insertion-ordered dict with Python key equality (1 == 1.0 == True).
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  Value* find(const Value& key);
  const Value* find(const Value& key) const;
  const Value* find_str(std::string_view key) const;
  void set(const Value& key, Value value);
  bool erase(const Value& key, Value* removed);
  void clear() {
    items.clear();
    index_.clear();
  }

 private:
  std::unordered_map<std::string, size_t> index_;  // hash key -> position; built once the dict grows
  void reindex();
};

// Arguments of a call: positional then keyword (in call order).
struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// Objects: namespaces, loop contexts, macros, builtin functions, bound methods, joiners, cyclers.
class Object {
 public:
  virtual ~Object() = default;
  virtual const char* type_name() const = 0;  // Python class name, for TypeError messages
  virtual std::string object_type_repr() const { return std::string(type_name()) + " object"; }
  virtual std::string repr(Interpreter& in) const = 0;
  // Attribute lookup; false when there is no such attribute.
  virtual bool get_attr(Interpreter& in, const std::string& name, Value* out) {
    (void)in, (void)name, (void)out;
    return false;
  }
  virtual bool callable() const { return false; }
  virtual Value call(Interpreter& in, CallArgs& args);
  virtual bool is_namespace() const { return false; }
};

// A variable scope. Lookups fall back to the parent chain, then to the render context and globals.
struct Scope {
  Scope* parent = nullptr;
  std::vector<std::pair<std::string, Value>> vars;
  Value* find_local(std::string_view name);
  void set(const std::string& name, Value v);
};

// Arena owning every container/object created while rendering.
class Heap {
 public:
  List* new_list(ListKind kind = ListKind::kList);
  Dict* new_dict();
  UndefinedInfo* new_undefined_info();
  Scope* new_scope();
  template <typename T, typename... A>
  T* make(A&&... a) {
    auto p = std::make_unique<T>(std::forward<A>(a)...);
    T* raw = p.get();
    objects_.push_back(std::move(p));
    count_check();
    return raw;
  }
  size_t allocations() const { return allocations_; }
  void set_limit(size_t max_allocations) { max_allocations_ = max_allocations; }

 private:
  void count_check();
  std::deque<List> lists_;
  std::deque<Dict> dicts_;
  std::deque<UndefinedInfo> undefs_;
  std::deque<Scope> scopes_;
  std::vector<std::unique_ptr<Object>> objects_;
  size_t allocations_ = 0;
  size_t max_allocations_ = 10'000'000;
};

// ---- Python semantics helpers ----

// Python type name ("str", "int", "NoneType", "list", "dict", "tuple", "generator", ...).
std::string type_name(const Value& v);
// Jinja2's object_type_repr: "dict object", "None", "jinja2.utils.Namespace object".
std::string object_type_repr(const Value& v);

bool truthy(const Value& v);
// Python ==.
bool equals(const Value& a, const Value& b);
// Python <; raises TypeError for unorderable types.
bool less_than(const Value& a, const Value& b);
// Three-way comparison (-1/0/1) for the ordering operators; `op` names the operator in TypeErrors.
int order_compare(const Value& a, const Value& b, const char* op);
// Hash key for dict lookups / unique; raises TypeError for unhashable values.
std::string hash_key(const Value& v);
// Python len(); returns false when the value has no len().
bool length_of(const Value& v, int64_t* out);

// str() and repr(); depth guards against cycles.
std::string to_str(Interpreter& in, const Value& v);
std::string repr(Interpreter& in, const Value& v, int depth = 0);
void append_str(Interpreter& in, std::string& out, const Value& v);

// Raise the UndefinedError (or SecurityError) carried by an undefined value.
[[noreturn]] void fail_undefined(const Value& v);

// JSON conversions. from_json raises when nesting is deeper than max_depth.
Value from_json(Heap& heap, const nlohmann::ordered_json& j, int max_depth = 512);
struct JsonDumpOptions {
  int indent = -1;         // -1: no indent (None)
  std::string indent_str;  // used when indent is given as a string
  bool use_indent_str = false;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
// Python json.dumps.
std::string to_json(Interpreter& in, const Value& v, const JsonDumpOptions& opts);

}  // namespace lpx::jinja
