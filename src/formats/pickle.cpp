// Restricted unpickler implementation: a bounded stack machine over a whitelist of opcodes/globals.
#include "formats/pickle.h"

#include <cmath>
#include <cstring>
#include <unordered_set>

#include "core/utf8.h"

namespace lpx {
namespace {

const char* opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

std::string hex_byte(uint8_t b) {
  static const char* kHex = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

std::string describe_opcode(uint8_t op) {
  const char* n = opcode_name(op);
  return n ? std::string(n) + " (" + hex_byte(op) + ")" : "unknown opcode " + hex_byte(op);
}

// Storage type names torch writes as the type field of a persistent id.
constexpr const char* kStorageTypes[] = {"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
                                         "LongStorage",  "IntStorage",  "ShortStorage",    "CharStorage",
                                         "ByteStorage",  "BoolStorage"};

enum class GlobalId {
  kOrderedDict,
  kRebuildTensorV2,
  kRebuildParameter,
  kRebuildParameterWithState,
  kRebuildFromTypeV2,
  kCodecsEncode,
  kStorageType,
  kTensorType,
  kParameterType,
};

bool lookup_global(const std::string& module, const std::string& name, GlobalId* id) {
  if (module == "collections" && name == "OrderedDict") return *id = GlobalId::kOrderedDict, true;
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor_v2") return *id = GlobalId::kRebuildTensorV2, true;
    if (name == "_rebuild_parameter") return *id = GlobalId::kRebuildParameter, true;
    if (name == "_rebuild_parameter_with_state") return *id = GlobalId::kRebuildParameterWithState, true;
  }
  if (module == "torch._tensor" && name == "_rebuild_from_type_v2") return *id = GlobalId::kRebuildFromTypeV2, true;
  if (module == "_codecs" && name == "encode") return *id = GlobalId::kCodecsEncode, true;
  if (module == "torch") {
    if (name == "Tensor") return *id = GlobalId::kTensorType, true;
    for (const char* s : kStorageTypes)
      if (name == s) return *id = GlobalId::kStorageType, true;
  }
  if (module == "torch.nn.parameter" && name == "Parameter") return *id = GlobalId::kParameterType, true;
  return false;
}

bool global_id_of(const PyObject* o, GlobalId* id) {
  if (o->kind != PyKind::kGlobal) return false;
  const size_t dot = o->text.rfind('.');
  if (dot == std::string::npos) return false;
  return lookup_global(o->text.substr(0, dot), o->text.substr(dot + 1), id);
}

// Appends the UTF-8 decoding of `s` as latin-1 bytes; false if a code point is > 255 or bad UTF-8.
bool utf8_to_latin1(const std::string& s, std::string* out) {
  for (size_t i = 0; i < s.size();) {
    const utf8::Decoded d = utf8::decode(s, i);
    if (!d.ok() || d.cp > 0xFF) return false;
    out->push_back(static_cast<char>(d.cp));
    i += d.len;
  }
  return true;
}

}  // namespace

const char* py_kind_name(PyKind kind) {
  switch (kind) {
    case PyKind::kNone: return "None";
    case PyKind::kBool: return "bool";
    case PyKind::kInt: return "int";
    case PyKind::kFloat: return "float";
    case PyKind::kStr: return "str";
    case PyKind::kBytes: return "bytes";
    case PyKind::kTuple: return "tuple";
    case PyKind::kList: return "list";
    case PyKind::kDict: return "dict";
    case PyKind::kGlobal: return "global";
    case PyKind::kStorage: return "storage";
    case PyKind::kTensor: return "tensor";
  }
  return "?";
}

const PyObject* PyObject::get(std::string_view key) const {
  if (kind != PyKind::kDict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == PyKind::kStr && k->text == key) return v;
  return nullptr;
}

namespace {

void repr_into(const PyObject* o, std::string* out, size_t max_chars, int depth) {
  if (out->size() > max_chars) return;
  if (o == nullptr) {
    *out += "<null>";
    return;
  }
  if (depth > 8) {
    *out += "...";
    return;
  }
  switch (o->kind) {
    case PyKind::kNone: *out += "None"; break;
    case PyKind::kBool: *out += o->boolean ? "True" : "False"; break;
    case PyKind::kInt: *out += std::to_string(o->integer); break;
    case PyKind::kFloat: *out += std::to_string(o->real); break;
    case PyKind::kStr: *out += "'" + o->text.substr(0, max_chars) + "'"; break;
    case PyKind::kBytes: *out += "b<" + std::to_string(o->text.size()) + " bytes>"; break;
    case PyKind::kGlobal: *out += o->text; break;
    case PyKind::kStorage:
      *out += "storage(" + o->storage->type + ", key='" + o->storage->key.substr(0, 64) +
              "', numel=" + std::to_string(o->storage->numel) + ")";
      break;
    case PyKind::kTensor: {
      *out += "tensor(size=[";
      for (size_t i = 0; i < o->tensor->size.size(); ++i) *out += (i ? "," : "") + std::to_string(o->tensor->size[i]);
      *out += "])";
      break;
    }
    case PyKind::kTuple:
    case PyKind::kList: {
      *out += o->kind == PyKind::kTuple ? "(" : "[";
      for (size_t i = 0; i < o->items.size() && out->size() <= max_chars; ++i) {
        if (i) *out += ", ";
        repr_into(o->items[i], out, max_chars, depth + 1);
      }
      *out += o->kind == PyKind::kTuple ? ")" : "]";
      break;
    }
    case PyKind::kDict: {
      *out += "{";
      for (size_t i = 0; i < o->entries.size() && out->size() <= max_chars; ++i) {
        if (i) *out += ", ";
        repr_into(o->entries[i].first, out, max_chars, depth + 1);
        *out += ": ";
        repr_into(o->entries[i].second, out, max_chars, depth + 1);
      }
      *out += "}";
      break;
    }
  }
}

}  // namespace

std::string py_repr(const PyObject* obj, size_t max_chars) {
  std::string s;
  repr_into(obj, &s, max_chars, 0);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& name, const UnpickleLimits& limits)
      : d_(data), n_(size), name_(name), limits_(limits), key_budget_((size_t{64} << 20) + 16 * size) {}

  Result<PickleDocument> run();

 private:
  // Error helpers: "NAME: pickle byte OFFSET (OPCODE): msg".
  std::string where() const {
    return name_ + ": pickle byte " + std::to_string(op_pos_) + " (" + describe_opcode(op_) + ")";
  }
  Status bad(const std::string& msg) const { return corrupt(where() + ": " + msg); }

  Result<PyObject*> make(PyKind kind) {
    if (doc_.arena_.size() >= limits_.max_objects)
      return resource_exhausted(where() + ": more than " + std::to_string(limits_.max_objects) + " objects");
    PyObject& o = doc_.arena_.emplace_back();
    o.kind = kind;
    return &o;
  }
  Result<PyObject*> make_int(int64_t v) {
    if (v >= -1 && v < 256) {
      PyObject*& slot = small_ints_[static_cast<size_t>(v + 1)];
      if (slot == nullptr) {
        LPX_ASSIGN_OR_RETURN(slot, make(PyKind::kInt));
        slot->integer = v;
      }
      return slot;
    }
    LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kInt));
    o->integer = v;
    return o;
  }
  Result<PyObject*> make_str(PyKind kind, const uint8_t* p, size_t len) {
    LPX_ASSIGN_OR_RETURN(PyObject * o, make(kind));
    o->text.assign(reinterpret_cast<const char*>(p), len);
    return o;
  }

  Status push(PyObject* o) {
    if (stack_.size() >= limits_.max_stack)
      return resource_exhausted(where() + ": pickle stack deeper than " + std::to_string(limits_.max_stack));
    stack_.push_back(o);
    return Status::ok();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Result<PyObject*> pop() {
    if (stack_.size() <= floor()) return bad("stack underflow");
    PyObject* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Result<PyObject*> top() {
    if (stack_.size() <= floor()) return bad("stack underflow");
    return stack_.back();
  }
  // Pops everything above the innermost MARK (and the mark).
  Result<std::vector<PyObject*>> pop_mark() {
    if (marks_.empty()) return bad("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyObject*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  // Reading operands.
  Status need(size_t k) const {
    if (k > n_ - pos_)
      return corrupt(where() + ": truncated (operand needs " + std::to_string(k) + " bytes, " +
                     std::to_string(n_ - pos_) + " left)");
    return Status::ok();
  }
  uint64_t le(size_t k) {
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i) v |= static_cast<uint64_t>(d_[pos_ + i]) << (8 * i);
    pos_ += k;
    return v;
  }
  Result<std::string> read_line() {
    constexpr size_t kMaxLine = 512;
    const size_t start = pos_;
    while (pos_ < n_ && d_[pos_] != '\n') {
      if (pos_ - start >= kMaxLine) return bad("text operand longer than " + std::to_string(kMaxLine) + " bytes");
      ++pos_;
    }
    if (pos_ >= n_) return corrupt(where() + ": truncated (no newline after text operand)");
    std::string s(reinterpret_cast<const char*>(d_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  Status push_string(PyKind kind, size_t len_bytes) {
    LPX_RETURN_IF_ERROR(need(len_bytes));
    const uint64_t len = le(len_bytes);
    if (len > n_ - pos_)
      return corrupt(where() + ": truncated (string of " + std::to_string(len) + " bytes, " +
                     std::to_string(n_ - pos_) + " left)");
    LPX_ASSIGN_OR_RETURN(PyObject * o, make_str(kind, d_ + pos_, static_cast<size_t>(len)));
    pos_ += static_cast<size_t>(len);
    return push(o);
  }
  Status push_long(size_t len) {
    LPX_RETURN_IF_ERROR(need(len));
    const uint8_t* p = d_ + pos_;
    pos_ += len;
    if (len == 0) {
      LPX_ASSIGN_OR_RETURN(PyObject * o, make_int(0));
      return push(o);
    }
    const bool negative = (p[len - 1] & 0x80) != 0;
    // Bytes beyond the 8th must be pure sign extension, and the 8th must agree with the sign.
    for (size_t i = 8; i < len; ++i)
      if (p[i] != (negative ? 0xFF : 0x00)) return unsupported(where() + ": integer does not fit in 64 bits");
    if (len > 8 && ((p[7] & 0x80) != 0) != negative) return unsupported(where() + ": integer does not fit in 64 bits");
    uint64_t v = negative ? ~uint64_t{0} : 0;
    for (size_t i = 0; i < len && i < 8; ++i) {
      v &= ~(uint64_t{0xFF} << (8 * i));
      v |= static_cast<uint64_t>(p[i]) << (8 * i);
    }
    LPX_ASSIGN_OR_RETURN(PyObject * o, make_int(static_cast<int64_t>(v)));
    return push(o);
  }

  Status memo_put(uint64_t index) {
    LPX_ASSIGN_OR_RETURN(PyObject * o, top());
    auto it = memo_.find(index);
    if (it != memo_.end()) {
      it->second = o;
      return Status::ok();
    }
    if (memo_.size() >= limits_.max_memo)
      return resource_exhausted(where() + ": more than " + std::to_string(limits_.max_memo) + " memo entries");
    memo_.emplace(index, o);
    return Status::ok();
  }
  Status memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return bad("memo index " + std::to_string(index) + " was never stored");
    return push(it->second);
  }

  Status push_global(const std::string& module, const std::string& name) {
    GlobalId id;
    if (!lookup_global(module, name, &id))
      return unsupported(where() + ": refusing pickle global '" + module + "." + name +
                         "' (only torch tensor-checkpoint globals are allowed)");
    LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kGlobal));
    o->text = module + "." + name;
    return push(o);
  }

  // Canonical hash key of a dict key; error for unhashable values.
  Status key_of(const PyObject* k, std::string* out, size_t depth) const {
    if (depth > limits_.max_key_depth) return resource_exhausted(where() + ": dict key nested too deeply");
    const size_t text_len =
        (k->kind == PyKind::kStr || k->kind == PyKind::kBytes || k->kind == PyKind::kGlobal) ? k->text.size() : 0;
    if (out->size() + text_len > kMaxKeyBytes)
      return resource_exhausted(where() + ": dict key longer than " + std::to_string(kMaxKeyBytes) + " bytes");
    switch (k->kind) {
      case PyKind::kNone: *out += 'n'; return Status::ok();
      case PyKind::kBool: *out += k->boolean ? "i1;" : "i0;"; return Status::ok();  // True == 1 in Python
      case PyKind::kInt: *out += "i" + std::to_string(k->integer) + ";"; return Status::ok();
      case PyKind::kFloat: {
        if (std::isfinite(k->real) && k->real == std::floor(k->real) && std::fabs(k->real) < 9.2e18) {
          *out += "i" + std::to_string(static_cast<int64_t>(k->real)) + ";";  // 1.0 == 1 in Python
        } else {
          uint64_t bits;
          std::memcpy(&bits, &k->real, 8);
          *out += "f" + std::to_string(bits) + ";";
        }
        return Status::ok();
      }
      case PyKind::kStr: *out += "s" + std::to_string(k->text.size()) + ":" + k->text; return Status::ok();
      case PyKind::kBytes: *out += "y" + std::to_string(k->text.size()) + ":" + k->text; return Status::ok();
      case PyKind::kGlobal: *out += "g" + std::to_string(k->text.size()) + ":" + k->text; return Status::ok();
      case PyKind::kTuple:
        *out += "t(";
        for (const PyObject* e : k->items) LPX_RETURN_IF_ERROR(key_of(e, out, depth + 1));
        *out += ")";
        return Status::ok();
      default: return bad(std::string("unhashable dict key of type ") + py_kind_name(k->kind));
    }
  }
  Status set_item(PyObject* dict, PyObject* key, PyObject* value) {
    if (dict->kind != PyKind::kDict)
      return bad(std::string("SETITEM target is a ") + py_kind_name(dict->kind) + ", not a dict");
    std::string canon;
    LPX_RETURN_IF_ERROR(key_of(key, &canon, 0));
    // Hashing keys costs their length each time; bound the total so memo reuse cannot blow up.
    if (canon.size() > key_budget_) return resource_exhausted(where() + ": too many dict key bytes");
    key_budget_ -= canon.size();
    auto& index = dict_index_[dict];
    auto [it, inserted] = index.emplace(std::move(canon), dict->entries.size());
    if (inserted) {
      dict->entries.emplace_back(key, value);
    } else {
      dict->entries[it->second].second = value;  // Python keeps the first key object and order
    }
    return Status::ok();
  }
  Status append(PyObject* list, PyObject* value) {
    if (list->kind != PyKind::kList)
      return bad(std::string("APPEND target is a ") + py_kind_name(list->kind) + ", not a list");
    list->items.push_back(value);
    return Status::ok();
  }

  Result<PyObject*> reduce(PyObject* callable, PyObject* args);
  Result<PyObject*> rebuild_tensor_v2(const PyObject* args);
  Result<PyObject*> persistent_load(PyObject* pid);

  const uint8_t* d_;
  size_t n_;
  const std::string& name_;
  UnpickleLimits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  PickleDocument doc_;
  std::vector<PyObject*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyObject*> memo_;
  std::unordered_map<const PyObject*, std::unordered_map<std::string, size_t>> dict_index_;
  PyObject* none_ = nullptr;
  PyObject* true_ = nullptr;
  PyObject* false_ = nullptr;
  PyObject* small_ints_[257] = {};
  static constexpr size_t kMaxKeyBytes = 64 * 1024;  // one canonical dict key
  size_t key_budget_;                                // all dict keys together
};

Result<PyObject*> Unpickler::persistent_load(PyObject* pid) {
  if (pid->kind != PyKind::kTuple || pid->items.size() != 5 || pid->items[0]->kind != PyKind::kStr ||
      pid->items[0]->text != "storage")
    return unsupported(where() + ": unsupported persistent id " + py_repr(pid) +
                       " (expected ('storage', type, key, location, numel))");
  const PyObject* type = pid->items[1];
  const PyObject* key = pid->items[2];
  const PyObject* loc = pid->items[3];
  const PyObject* numel = pid->items[4];
  GlobalId id;
  if (!global_id_of(type, &id) || id != GlobalId::kStorageType)
    return unsupported(where() + ": persistent id storage type " + py_repr(type) + " is not a supported storage type");
  if (key->kind != PyKind::kStr) return bad("persistent id storage key is a " + std::string(py_kind_name(key->kind)));
  if (loc->kind != PyKind::kStr) return bad("persistent id location is a " + std::string(py_kind_name(loc->kind)));
  if (numel->kind != PyKind::kInt || numel->integer < 0)
    return bad("persistent id numel " + py_repr(numel) + " is invalid");
  LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kStorage));
  o->storage = std::make_unique<PickledStorage>();
  o->storage->type = type->text.substr(type->text.rfind('.') + 1);
  o->storage->key = key->text;
  o->storage->location = loc->text;
  o->storage->numel = numel->integer;
  return o;
}

Result<PyObject*> Unpickler::rebuild_tensor_v2(const PyObject* args) {
  const auto& a = args->items;
  if (a.size() != 6 && a.size() != 7)
    return bad("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
  if (a[0]->kind != PyKind::kStorage)
    return bad("_rebuild_tensor_v2: storage argument is a " + std::string(py_kind_name(a[0]->kind)));
  if (a[1]->kind != PyKind::kInt || a[1]->integer < 0)
    return bad("_rebuild_tensor_v2: bad storage offset " + py_repr(a[1]));
  if (a[2]->kind != PyKind::kTuple || a[3]->kind != PyKind::kTuple)
    return bad("_rebuild_tensor_v2: size and stride must be tuples, got " + py_repr(a[2]) + " and " + py_repr(a[3]));
  if (a[2]->items.size() != a[3]->items.size())
    return bad("_rebuild_tensor_v2: size " + py_repr(a[2]) + " and stride " + py_repr(a[3]) + " differ in rank");
  if (a[4]->kind != PyKind::kBool && a[4]->kind != PyKind::kInt)
    return bad("_rebuild_tensor_v2: requires_grad is not a bool");
  if (a[5]->kind != PyKind::kDict && a[5]->kind != PyKind::kNone)
    return bad("_rebuild_tensor_v2: backward_hooks is a " + std::string(py_kind_name(a[5]->kind)));
  if (a[5]->kind == PyKind::kDict && !a[5]->entries.empty())
    return unsupported(where() + ": tensors with backward hooks are not supported");
  LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kTensor));
  o->tensor = std::make_unique<PickledTensor>();
  PickledTensor& t = *o->tensor;
  t.storage = a[0];
  t.storage_offset = a[1]->integer;
  for (size_t i = 0; i < a[2]->items.size(); ++i) {
    const PyObject* s = a[2]->items[i];
    const PyObject* st = a[3]->items[i];
    if (s->kind != PyKind::kInt || s->integer < 0) return bad("_rebuild_tensor_v2: bad size " + py_repr(a[2]));
    if (st->kind != PyKind::kInt || st->integer < 0) return bad("_rebuild_tensor_v2: bad stride " + py_repr(a[3]));
    t.size.push_back(s->integer);
    t.stride.push_back(st->integer);
  }
  t.requires_grad = a[4]->kind == PyKind::kBool ? a[4]->boolean : a[4]->integer != 0;
  return o;
}

Result<PyObject*> Unpickler::reduce(PyObject* callable, PyObject* args) {
  GlobalId id;
  if (!global_id_of(callable, &id))
    return bad("REDUCE of a " + std::string(py_kind_name(callable->kind)) + ", not a global");
  if (args->kind != PyKind::kTuple)
    return bad("REDUCE arguments are a " + std::string(py_kind_name(args->kind)) + ", not a tuple");
  const auto& a = args->items;
  switch (id) {
    case GlobalId::kOrderedDict:
      if (!a.empty()) return unsupported(where() + ": collections.OrderedDict called with arguments");
      return make(PyKind::kDict);
    case GlobalId::kRebuildTensorV2: return rebuild_tensor_v2(args);
    case GlobalId::kRebuildParameter:
    case GlobalId::kRebuildParameterWithState: {
      const size_t want = id == GlobalId::kRebuildParameter ? 3 : 4;
      if (a.size() != want)
        return bad(callable->text + " takes " + std::to_string(want) + " arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != PyKind::kTensor)
        return bad(callable->text + ": data is a " + std::string(py_kind_name(a[0]->kind)));
      if (a[2]->kind == PyKind::kDict && !a[2]->entries.empty())
        return unsupported(where() + ": parameters with backward hooks are not supported");
      PyObject* t = const_cast<PyObject*>(a[0]);
      t->tensor->is_parameter = true;
      if (a[1]->kind == PyKind::kBool) t->tensor->requires_grad = a[1]->boolean;
      return t;
    }
    case GlobalId::kRebuildFromTypeV2: {
      if (a.size() != 4) return bad("_rebuild_from_type_v2 takes 4 arguments, got " + std::to_string(a.size()));
      GlobalId fid, tid;
      if (!global_id_of(a[0], &fid) || (fid != GlobalId::kRebuildTensorV2 && fid != GlobalId::kRebuildParameter &&
                                        fid != GlobalId::kRebuildParameterWithState))
        return unsupported(where() + ": _rebuild_from_type_v2 with function " + py_repr(a[0]));
      if (!global_id_of(a[1], &tid) || (tid != GlobalId::kTensorType && tid != GlobalId::kParameterType))
        return unsupported(where() + ": _rebuild_from_type_v2 with type " + py_repr(a[1]) +
                           " (only torch.Tensor and torch.nn.parameter.Parameter)");
      if (a[3]->kind != PyKind::kDict && a[3]->kind != PyKind::kNone && a[3]->kind != PyKind::kTuple)
        return bad("_rebuild_from_type_v2: state is a " + std::string(py_kind_name(a[3]->kind)));
      LPX_ASSIGN_OR_RETURN(PyObject * t, reduce(const_cast<PyObject*>(a[0]), const_cast<PyObject*>(a[2])));
      if (tid == GlobalId::kParameterType && t->kind == PyKind::kTensor) t->tensor->is_parameter = true;
      return t;
    }
    case GlobalId::kCodecsEncode: {
      if (a.size() != 2 || a[0]->kind != PyKind::kStr || a[1]->kind != PyKind::kStr)
        return bad("_codecs.encode expects (str, encoding)");
      const std::string& enc = a[1]->text;
      LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kBytes));
      if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") {
        if (!utf8_to_latin1(a[0]->text, &o->text)) return bad("_codecs.encode: string is not latin-1 encodable");
      } else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") {
        o->text = a[0]->text;
      } else {
        return unsupported(where() + ": _codecs.encode with encoding '" + enc + "'");
      }
      return o;
    }
    case GlobalId::kStorageType:
    case GlobalId::kTensorType:
    case GlobalId::kParameterType: break;
  }
  return unsupported(where() + ": global '" + callable->text + "' cannot be called");
}

Result<PickleDocument> Unpickler::run() {
  LPX_ASSIGN_OR_RETURN(none_, make(PyKind::kNone));
  LPX_ASSIGN_OR_RETURN(true_, make(PyKind::kBool));
  true_->boolean = true;
  LPX_ASSIGN_OR_RETURN(false_, make(PyKind::kBool));

  while (true) {
    if (pos_ >= n_) {
      op_pos_ = pos_;
      op_ = '.';
      return corrupt(name_ + ": pickle ends at byte " + std::to_string(pos_) + " without a STOP opcode");
    }
    op_pos_ = pos_;
    op_ = d_[pos_++];
    switch (op_) {
      case 0x80: {  // PROTO
        LPX_RETURN_IF_ERROR(need(1));
        const uint8_t proto = d_[pos_++];
        if (proto > 5) return unsupported(where() + ": pickle protocol " + std::to_string(proto) + " is not supported");
        break;
      }
      case 0x95: {  // FRAME: a length hint, the data follows inline
        LPX_RETURN_IF_ERROR(need(8));
        const uint64_t len = le(8);
        if (len > n_ - pos_) return corrupt(where() + ": frame of " + std::to_string(len) + " bytes runs past the end");
        break;
      }
      case '.': {  // STOP
        LPX_ASSIGN_OR_RETURN(PyObject * r, pop());
        doc_.root_ = r;
        return std::move(doc_);
      }
      case '(':
        if (marks_.size() >= limits_.max_stack) return resource_exhausted(where() + ": too many MARKs");
        marks_.push_back(stack_.size());
        break;
      case '0': {
        LPX_ASSIGN_OR_RETURN(PyObject * o, pop());
        (void)o;
        break;
      }
      case '1': {
        LPX_ASSIGN_OR_RETURN(auto items, pop_mark());
        break;
      }
      case '2': {
        LPX_ASSIGN_OR_RETURN(PyObject * o, top());
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'N': LPX_RETURN_IF_ERROR(push(none_)); break;
      case 0x88: LPX_RETURN_IF_ERROR(push(true_)); break;
      case 0x89: LPX_RETURN_IF_ERROR(push(false_)); break;
      case 'J': {
        LPX_RETURN_IF_ERROR(need(4));
        LPX_ASSIGN_OR_RETURN(PyObject * o, make_int(static_cast<int32_t>(static_cast<uint32_t>(le(4)))));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'K': {
        LPX_RETURN_IF_ERROR(need(1));
        LPX_ASSIGN_OR_RETURN(PyObject * o, make_int(static_cast<int64_t>(le(1))));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'M': {
        LPX_RETURN_IF_ERROR(need(2));
        LPX_ASSIGN_OR_RETURN(PyObject * o, make_int(static_cast<int64_t>(le(2))));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 0x8a: {  // LONG1
        LPX_RETURN_IF_ERROR(need(1));
        LPX_RETURN_IF_ERROR(push_long(static_cast<size_t>(le(1))));
        break;
      }
      case 0x8b: {  // LONG4
        LPX_RETURN_IF_ERROR(need(4));
        const int32_t len = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        if (len < 0) return bad("negative LONG4 length");
        LPX_RETURN_IF_ERROR(push_long(static_cast<size_t>(len)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        LPX_RETURN_IF_ERROR(need(8));
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | d_[pos_ + i];
        pos_ += 8;
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kFloat));
        std::memcpy(&o->real, &bits, 8);
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'X': LPX_RETURN_IF_ERROR(push_string(PyKind::kStr, 4)); break;
      case 0x8c: LPX_RETURN_IF_ERROR(push_string(PyKind::kStr, 1)); break;
      case 0x8d: LPX_RETURN_IF_ERROR(push_string(PyKind::kStr, 8)); break;
      case 'T': {  // BINSTRING: signed 4-byte length
        LPX_RETURN_IF_ERROR(need(4));
        if (d_[pos_ + 3] & 0x80) return bad("negative BINSTRING length");
        LPX_RETURN_IF_ERROR(push_string(PyKind::kStr, 4));
        break;
      }
      case 'U': LPX_RETURN_IF_ERROR(push_string(PyKind::kStr, 1)); break;
      case 'B': LPX_RETURN_IF_ERROR(push_string(PyKind::kBytes, 4)); break;
      case 'C': LPX_RETURN_IF_ERROR(push_string(PyKind::kBytes, 1)); break;
      case 0x8e: LPX_RETURN_IF_ERROR(push_string(PyKind::kBytes, 8)); break;
      case ')': {
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kTuple));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 't': {
        LPX_ASSIGN_OR_RETURN(auto items, pop_mark());
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kTuple));
        o->items.assign(items.begin(), items.end());
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {
        const size_t k = static_cast<size_t>(op_ - 0x84);
        if (stack_.size() < floor() + k) return bad("stack underflow");
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kTuple));
        o->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(k), stack_.end());
        stack_.resize(stack_.size() - k);
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case ']': {
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kList));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'l': {
        LPX_ASSIGN_OR_RETURN(auto items, pop_mark());
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kList));
        o->items.assign(items.begin(), items.end());
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'a': {
        LPX_ASSIGN_OR_RETURN(PyObject * v, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * list, top());
        LPX_RETURN_IF_ERROR(append(list, v));
        break;
      }
      case 'e': {
        LPX_ASSIGN_OR_RETURN(auto items, pop_mark());
        LPX_ASSIGN_OR_RETURN(PyObject * list, top());
        for (PyObject* v : items) LPX_RETURN_IF_ERROR(append(list, v));
        break;
      }
      case '}': {
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kDict));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 'd': {
        LPX_ASSIGN_OR_RETURN(auto items, pop_mark());
        if (items.size() % 2) return bad("odd number of items for DICT");
        LPX_ASSIGN_OR_RETURN(PyObject * o, make(PyKind::kDict));
        for (size_t i = 0; i < items.size(); i += 2) LPX_RETURN_IF_ERROR(set_item(o, items[i], items[i + 1]));
        LPX_RETURN_IF_ERROR(push(o));
        break;
      }
      case 's': {
        LPX_ASSIGN_OR_RETURN(PyObject * v, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * k, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * dict, top());
        LPX_RETURN_IF_ERROR(set_item(dict, k, v));
        break;
      }
      case 'u': {
        LPX_ASSIGN_OR_RETURN(auto items, pop_mark());
        if (items.size() % 2) return bad("odd number of items for SETITEMS");
        LPX_ASSIGN_OR_RETURN(PyObject * dict, top());
        for (size_t i = 0; i < items.size(); i += 2) LPX_RETURN_IF_ERROR(set_item(dict, items[i], items[i + 1]));
        break;
      }
      case 'q': {
        LPX_RETURN_IF_ERROR(need(1));
        LPX_RETURN_IF_ERROR(memo_put(le(1)));
        break;
      }
      case 'r': {
        LPX_RETURN_IF_ERROR(need(4));
        LPX_RETURN_IF_ERROR(memo_put(le(4)));
        break;
      }
      case 0x94: LPX_RETURN_IF_ERROR(memo_put(memo_.size())); break;
      case 'h': {
        LPX_RETURN_IF_ERROR(need(1));
        LPX_RETURN_IF_ERROR(memo_get(le(1)));
        break;
      }
      case 'j': {
        LPX_RETURN_IF_ERROR(need(4));
        LPX_RETURN_IF_ERROR(memo_get(le(4)));
        break;
      }
      case 'c': {
        LPX_ASSIGN_OR_RETURN(std::string module, read_line());
        LPX_ASSIGN_OR_RETURN(std::string name, read_line());
        LPX_RETURN_IF_ERROR(push_global(module, name));
        break;
      }
      case 0x93: {
        LPX_ASSIGN_OR_RETURN(PyObject * name, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * module, pop());
        if (!module->is_str() || !name->is_str()) return bad("STACK_GLOBAL operands are not strings");
        LPX_RETURN_IF_ERROR(push_global(module->text, name->text));
        break;
      }
      case 'R': {
        LPX_ASSIGN_OR_RETURN(PyObject * args, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * callable, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * r, reduce(callable, args));
        LPX_RETURN_IF_ERROR(push(r));
        break;
      }
      case 'b': {
        LPX_ASSIGN_OR_RETURN(PyObject * state, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * target, top());
        if (target->kind != PyKind::kDict)
          return unsupported(where() + ": BUILD on a " + std::string(py_kind_name(target->kind)) + " is not supported");
        if (state->kind != PyKind::kDict && state->kind != PyKind::kNone)
          return unsupported(where() + ": BUILD state for a dict is a " + std::string(py_kind_name(state->kind)));
        break;  // attribute state (e.g. _metadata) is ignored
      }
      case 'Q': {
        LPX_ASSIGN_OR_RETURN(PyObject * pid, pop());
        LPX_ASSIGN_OR_RETURN(PyObject * s, persistent_load(pid));
        LPX_RETURN_IF_ERROR(push(s));
        break;
      }
      default:
        if (opcode_name(op_) != nullptr)
          return unsupported(where() + ": pickle opcode " + opcode_name(op_) +
                             " is not allowed in a tensor checkpoint");
        return corrupt(where() + ": invalid pickle opcode");
    }
  }
}

Result<PickleDocument> unpickle(const uint8_t* data, size_t size, const std::string& name,
                                const UnpickleLimits& limits) {
  if (data == nullptr) size = 0;
  Unpickler u(data, size, name, limits);
  return u.run();
}

}  // namespace lpx
