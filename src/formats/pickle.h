// Restricted unpickler for torch.save checkpoints: builds a plain object graph, never runs code.
//
// What it accepts (everything else fails with a message naming the opcode or global):
//   - Opcodes: PROTO (protocol <= 5), FRAME, STOP, MARK, POP, POP_MARK, DUP, NONE, NEWTRUE,
//     NEWFALSE, BININT, BININT1, BININT2, LONG1, LONG4 (values must fit int64), BINFLOAT,
//     BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING (as str), BINBYTES,
//     SHORT_BINBYTES, BINBYTES8, EMPTY_TUPLE, TUPLE, TUPLE1/2/3, EMPTY_LIST, LIST, APPEND,
//     APPENDS, EMPTY_DICT, DICT, SETITEM, SETITEMS, BINPUT, LONG_BINPUT, MEMOIZE, BINGET,
//     LONG_BINGET, GLOBAL, STACK_GLOBAL, REDUCE, BUILD, BINPERSID.
//     Refused: the text (protocol 0) forms, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID,
//     sets, byte arrays, out-of-band buffers.
//   - Globals (GLOBAL / STACK_GLOBAL), all interpreted by this code, never looked up:
//       collections.OrderedDict                      called with () -> empty dict
//       torch._utils._rebuild_tensor_v2              (storage, offset, size, stride, requires_grad,
//                                                     backward_hooks[, metadata]) -> tensor
//       torch._utils._rebuild_parameter              (tensor, requires_grad, backward_hooks) -> tensor
//       torch._utils._rebuild_parameter_with_state   (tensor, requires_grad, backward_hooks, state)
//       torch._tensor._rebuild_from_type_v2          (func, torch.Tensor | torch.nn.parameter.Parameter,
//                                                     args, state) -> func(*args)
//       _codecs.encode                               (str, 'latin1' | 'utf-8') -> bytes
//       torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage (storage types:
//       only as the type field of a persistent id), torch.Tensor and torch.nn.parameter.Parameter
//       (only as the type argument of _rebuild_from_type_v2).
//   - Persistent ids (BINPERSID) must be ('storage', <storage type>, key: str, location: str,
//     numel: int >= 0) and become Storage objects; the checkpoint reader resolves keys to data.
//   - BUILD on a dict (OrderedDict's attribute state, e.g. state_dict()'s `_metadata`): the
//     state (a dict or None) is accepted and ignored. BUILD on anything else is refused.
// Limits (UnpickleLimits): stack depth, memo entries, objects created, container nesting when
// hashing dict keys; also one dict key <= 64 KiB and all dict keys together <= 64 MiB + 16 x the
// pickle size (so memo reuse cannot make hashing explode); exceeding one fails with
// kResourceExhausted. Malformed input (truncation,
// stack underflow, missing MARK, unknown memo index, wrong argument types, unhashable dict key,
// missing STOP) fails with kCorrupt; refused opcodes/globals with kUnsupported. Messages read
// "NAME: pickle byte OFFSET (OPCODE): problem".
//
// Thread-safety: unpickle() is reentrant; a PickleDocument is immutable and safe to share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace lpx {

enum class PyKind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  kStr,
  kBytes,
  kTuple,
  kList,
  kDict,     // dict and OrderedDict (insertion order kept)
  kGlobal,   // an accepted global, text = "module.name"
  kStorage,  // a persistent-id storage reference
  kTensor,   // result of _rebuild_tensor_v2 (and parameter wrappers)
};
const char* py_kind_name(PyKind kind);

struct PyObject;

struct PickledStorage {
  std::string type;      // "FloatStorage", "HalfStorage", "BFloat16Storage", ...
  std::string key;       // data entry name: <prefix>/data/<key>
  std::string location;  // "cpu", "cuda:0", ...
  int64_t numel = 0;     // elements of `type`
};

struct PickledTensor {
  const PyObject* storage = nullptr;  // kind kStorage
  int64_t storage_offset = 0;         // in elements
  std::vector<int64_t> size;          // shape, outermost first
  std::vector<int64_t> stride;        // in elements, same rank as size
  bool requires_grad = false;
  bool is_parameter = false;  // came through _rebuild_parameter*
};

struct PyObject {
  PyKind kind = PyKind::kNone;
  bool boolean = false;                // kBool
  int64_t integer = 0;                 // kInt
  double real = 0;                     // kFloat
  std::string text;                    // kStr (UTF-8 as stored), kBytes, kGlobal ("module.name")
  std::vector<const PyObject*> items;  // kTuple, kList
  std::vector<std::pair<const PyObject*, const PyObject*>> entries;  // kDict, insertion order
  std::unique_ptr<PickledStorage> storage;                           // kStorage
  std::unique_ptr<PickledTensor> tensor;                             // kTensor

  // For a dict: the value under the str key `key`, or nullptr (absent, or not a dict).
  const PyObject* get(std::string_view key) const;
  bool is_str() const { return kind == PyKind::kStr; }
};

// Short human-readable rendering (Python-like) for messages and debugging; depth and length
// limited, safe on cyclic graphs.
std::string py_repr(const PyObject* obj, size_t max_chars = 200);

struct UnpickleLimits {
  size_t max_stack = 1u << 20;    // values on the stack (all marks together)
  size_t max_memo = 1u << 22;     // memo entries
  size_t max_objects = 1u << 23;  // objects created
  size_t max_key_depth = 32;      // nesting of tuples used as dict keys
};

// The object graph of one pickle; owns every object. Move-only; moving keeps pointers valid.
class PickleDocument {
 public:
  PickleDocument() = default;
  PickleDocument(PickleDocument&&) noexcept = default;
  PickleDocument& operator=(PickleDocument&&) noexcept = default;
  PickleDocument(const PickleDocument&) = delete;
  PickleDocument& operator=(const PickleDocument&) = delete;

  // The unpickled value (never null for a successfully parsed document).
  const PyObject* root() const { return root_; }
  size_t object_count() const { return arena_.size(); }

 private:
  friend class Unpickler;
  std::deque<PyObject> arena_;
  const PyObject* root_ = nullptr;
};

// Unpickles `size` bytes at `data`. `name` (e.g. "x.bin: archive/data.pkl") prefixes every error.
Result<PickleDocument> unpickle(const uint8_t* data, size_t size, const std::string& name,
                                const UnpickleLimits& limits = {});

}  // namespace lpx
