// PyTorch checkpoint reader implementation: prefix discovery, pickle walk, storage/tensor validation.
#include "formats/torch_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace lpx {
namespace {

// 'text' (built by appends: GCC 12 warns falsely on "'" + std::string + "'").
std::string q(std::string_view s) {
  std::string r;
  r.reserve(s.size() + 2);
  r += '\'';
  r.append(s);
  r += '\'';
  return r;
}

std::string dims_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }

bool mul_overflow(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflow(int64_t a, int64_t b, int64_t* out) { return __builtin_add_overflow(a, b, out); }

// Copies the strided tensor into dst (row-major), element by element.
void gather_contiguous(const uint8_t* base, size_t elem, const std::vector<int64_t>& size,
                       const std::vector<int64_t>& stride, uint8_t* dst) {
  const size_t rank = size.size();
  if (rank == 0) {
    std::memcpy(dst, base, elem);
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  int64_t total = 1;
  for (int64_t s : size) total *= s;
  if (total == 0) return;
  int64_t off = 0;  // element offset of idx
  for (int64_t n = 0; n < total; ++n) {
    std::memcpy(dst + static_cast<size_t>(n) * elem, base + static_cast<size_t>(off) * elem, elem);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < size[d]) {
        off += stride[d];
        break;
      }
      off -= stride[d] * (size[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace

bool torch_storage_type_info(std::string_view t, size_t* element_size, std::string* torch_dtype, DType* dtype,
                             bool* loadable) {
  struct Info {
    const char* type;
    size_t size;
    const char* torch;
    bool loadable;
    DType dtype;
  };
  static constexpr Info kInfos[] = {
      {"FloatStorage", 4, "float32", true, DType::kF32},      {"HalfStorage", 2, "float16", true, DType::kF16},
      {"BFloat16Storage", 2, "bfloat16", true, DType::kBF16}, {"CharStorage", 1, "int8", true, DType::kI8},
      {"DoubleStorage", 8, "float64", false, DType::kF32},    {"LongStorage", 8, "int64", false, DType::kF32},
      {"IntStorage", 4, "int32", false, DType::kF32},         {"ShortStorage", 2, "int16", false, DType::kF32},
      {"ByteStorage", 1, "uint8", false, DType::kF32},        {"BoolStorage", 1, "bool", false, DType::kF32},
  };
  for (const Info& i : kInfos) {
    if (t == i.type) {
      *element_size = i.size;
      *torch_dtype = i.torch;
      *loadable = i.loadable;
      if (i.loadable) *dtype = i.dtype;
      return true;
    }
  }
  return false;
}

Result<TorchCheckpoint> TorchCheckpoint::open(const std::string& path, const TorchLoadOptions& options) {
  LPX_ASSIGN_OR_RETURN(MmapFile map, MmapFile::open(path, options.mmap));
  auto holder = std::make_shared<MmapFile>(std::move(map));
  const uint8_t* data = holder->data();
  const size_t size = holder->size();
  return from_buffer(std::move(holder), data, size, path, options);
}

Result<TorchCheckpoint> TorchCheckpoint::from_bytes(std::vector<uint8_t> bytes, std::string name,
                                                    const TorchLoadOptions& options) {
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const uint8_t* data = holder->data();
  const size_t size = holder->size();
  return from_buffer(std::move(holder), data, size, std::move(name), options);
}

Result<TorchCheckpoint> TorchCheckpoint::from_buffer(std::shared_ptr<const void> owner, const uint8_t* data,
                                                     size_t size, std::string name, const TorchLoadOptions& options) {
  if (data == nullptr) size = 0;
  // Recognise what the file is before parsing it as a zip, for a helpful message.
  const bool zip_sig = size >= 4 && data[0] == 'P' && data[1] == 'K' &&
                       ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6));
  if (!zip_sig) {
    const bool pickle_sig = size >= 2 && data[0] == 0x80 && data[1] <= 5;
    const bool tar_sig = size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0;
    if (pickle_sig || tar_sig)
      return unsupported(name + ": legacy torch.save format not supported; re-save with a recent PyTorch");
    return corrupt(name + ": not a PyTorch checkpoint (no zip signature)");
  }
  TorchCheckpoint ck;
  LPX_ASSIGN_OR_RETURN(ck.zip_, ZipReader::from_buffer(std::move(owner), data, size, std::move(name)));
  LPX_RETURN_IF_ERROR(ck.load(options));
  return ck;
}

Status TorchCheckpoint::load(const TorchLoadOptions& options) {
  const std::string& f = zip_.name();

  // PREFIX/data.pkl with a single-component prefix (or data.pkl at the root).
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip_.entries()) {
    const std::string& n = e.name;
    constexpr std::string_view kPkl = "data.pkl";
    if (n.size() < kPkl.size() || n.compare(n.size() - kPkl.size(), kPkl.size(), kPkl) != 0) continue;
    const std::string dir = n.substr(0, n.size() - kPkl.size());
    if (!dir.empty() && (dir.back() != '/' || dir.find('/') != dir.size() - 1)) continue;
    if (pkl != nullptr) return corrupt(f + ": more than one data.pkl (" + q(pkl->name) + " and " + q(n) + ")");
    pkl = &e;
    prefix_ = dir.empty() ? "" : dir.substr(0, dir.size() - 1);
  }
  if (pkl == nullptr) return corrupt(f + ": no PREFIX/data.pkl member; not a torch.save checkpoint");
  const std::string base = prefix_.empty() ? "" : prefix_ + "/";

  if (const ZipEntry* bo = zip_.find(base + "byteorder")) {
    LPX_ASSIGN_OR_RETURN(std::vector<uint8_t> b, zip_.read(*bo, 64));
    std::string s(b.begin(), b.end());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s != "little")
      return unsupported(f + ": byteorder is " + q(s.substr(0, 32)) + "; only little-endian checkpoints are supported");
  }

  // Unpickle.
  std::vector<uint8_t> pkl_copy;
  std::span<const uint8_t> pkl_bytes;
  if (pkl->method == 0) {
    LPX_ASSIGN_OR_RETURN(pkl_bytes, zip_.stored_data(*pkl));
    if (options.verify_crc) LPX_RETURN_IF_ERROR(zip_.verify_crc(*pkl));
  } else {
    LPX_ASSIGN_OR_RETURN(pkl_copy, zip_.read(*pkl));
    pkl_bytes = pkl_copy;
  }
  LPX_ASSIGN_OR_RETURN(doc_, unpickle(pkl_bytes.data(), pkl_bytes.size(), f + ": " + pkl->name, options.pickle_limits));

  const PyObject* top = doc_.root();
  if (top->kind != PyKind::kDict)
    return unsupported(f + ": the checkpoint holds a " + std::string(py_kind_name(top->kind)) +
                       ", expected a dict of tensors (a state dict)");
  std::string root_prefix;
  if (!options.root_key.empty()) {
    const PyObject* sub = top->get(options.root_key);
    if (sub == nullptr) return not_found(f + ": no top-level key " + q(options.root_key));
    if (sub->kind != PyKind::kDict)
      return corrupt(f + ": top-level key " + q(options.root_key) + " holds a " + py_kind_name(sub->kind) +
                     ", not a dict");
    top = sub;
  }

  // Walk the dict tree (iteratively, with a depth bound and cycle check).
  struct Leaf {
    std::string name;
    const PyObject* tensor;
  };
  std::vector<Leaf> leaves;
  {
    constexpr size_t kMaxDepth = 64;
    struct Frame {
      const PyObject* dict;
      std::string prefix;
      size_t next;
    };
    std::vector<Frame> stack{{top, "", 0}};
    std::set<const PyObject*> open_dicts{top};
    // Shared sub-dicts are walked once per reference; bound the total so a DAG cannot explode.
    const size_t max_visits = std::max<size_t>(size_t{1} << 20, 4 * doc_.object_count());
    size_t visits = 0;
    while (!stack.empty()) {
      Frame& fr = stack.back();
      if (fr.next >= fr.dict->entries.size()) {
        open_dicts.erase(fr.dict);
        stack.pop_back();
        continue;
      }
      if (++visits > max_visits) return corrupt(f + ": dict graph too large (shared sub-dicts?)");
      const auto& [k, v] = fr.dict->entries[fr.next++];
      std::string key;
      if (k->kind == PyKind::kStr) {
        key = k->text;
      } else if (k->kind == PyKind::kInt) {
        key = std::to_string(k->integer);
      } else {
        skipped_.push_back(fr.prefix + py_repr(k, 60));
        continue;
      }
      std::string full = fr.prefix + key;
      if (v->kind == PyKind::kTensor) {
        leaves.push_back({std::move(full), v});
      } else if (v->kind == PyKind::kDict) {
        if (stack.size() >= kMaxDepth)
          return corrupt(f + ": dicts nested more than " + std::to_string(kMaxDepth) + " deep at " + q(full));
        if (!open_dicts.insert(v).second) return corrupt(f + ": dict " + q(full) + " contains itself");
        stack.push_back({v, full + ".", 0});  // invalidates fr
      } else {
        skipped_.push_back(std::move(full));
      }
    }
  }

  // Storages: resolve each key once.
  std::unordered_map<std::string, StorageData> storages;
  auto resolve_storage = [&](const PickledStorage& st, const std::string& tensor_name) -> Result<StorageData> {
    auto it = storages.find(st.key);
    if (it != storages.end()) return it->second;
    const std::string where = f + ": tensor " + q(tensor_name);
    if (st.key.empty() || st.key.find('/') != std::string::npos || st.key == "..")
      return corrupt(where + ": invalid storage key " + q(st.key));
    const std::string member = base + "data/" + st.key;
    const ZipEntry* e = zip_.find(member);
    if (e == nullptr) return corrupt(where + ": storage key " + q(st.key) + " has no member " + q(member));
    StorageData sd;
    if (e->method == 0) {
      LPX_ASSIGN_OR_RETURN(std::span<const uint8_t> s, zip_.stored_data(*e));
      if (options.verify_crc) LPX_RETURN_IF_ERROR(zip_.verify_crc(*e));
      sd.data = s.data();
      sd.nbytes = s.size();
    } else {
      LPX_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, zip_.read(*e));
      auto buf = std::make_unique<uint8_t[]>(bytes.size() ? bytes.size() : 1);
      if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
      sd.data = buf.get();
      sd.nbytes = bytes.size();
      owned_.push_back(std::move(buf));
    }
    storages.emplace(st.key, sd);
    return sd;
  };

  for (const Leaf& leaf : leaves) {
    const std::string where = f + ": tensor " + q(leaf.name);
    if (info_index_.count(leaf.name)) return corrupt(where + ": two tensors have this (flattened) name");
    const PickledTensor& t = *leaf.tensor->tensor;
    const PickledStorage& st = *t.storage->storage;
    TorchTensorInfo info;
    info.name = leaf.name;
    info.storage_type = st.type;
    info.storage_key = st.key;
    info.storage_offset = t.storage_offset;
    info.shape = t.size;
    info.stride = t.stride;
    info.is_parameter = t.is_parameter;
    size_t elem = 0;
    DType dtype = DType::kF32;
    if (!torch_storage_type_info(st.type, &elem, &info.torch_dtype, &dtype, &info.loadable))
      return unsupported(where + ": storage type " + q(st.type) + " is not supported");

    // Sizes in elements and bytes, overflow-checked.
    int64_t numel = 1, extent = 0;  // extent = max element index relative to the offset
    for (size_t d = 0; d < t.size.size(); ++d) {
      if (mul_overflow(numel, t.size[d], &numel))
        return corrupt(where + ": size " + dims_to_string(t.size) + " overflows");
      int64_t span;
      if (t.size[d] > 0 && (mul_overflow(t.size[d] - 1, t.stride[d], &span) || add_overflow(extent, span, &extent)))
        return corrupt(where + ": stride " + dims_to_string(t.stride) + " overflows");
    }
    int64_t storage_bytes, nbytes64, last;
    if (mul_overflow(st.numel, static_cast<int64_t>(elem), &storage_bytes) ||
        mul_overflow(numel, static_cast<int64_t>(elem), &nbytes64) || add_overflow(t.storage_offset, extent, &last))
      return corrupt(where + ": storage size or offset overflows");
    LPX_ASSIGN_OR_RETURN(StorageData sd, resolve_storage(st, leaf.name));
    if (static_cast<uint64_t>(storage_bytes) > sd.nbytes)
      return corrupt(where + ": storage " + q(st.key) + " should hold " + std::to_string(st.numel) + " " +
                     info.torch_dtype + " elements (" + std::to_string(storage_bytes) + " bytes) but its member has " +
                     std::to_string(sd.nbytes) + " bytes");
    if (numel > 0 && last >= st.numel)
      return corrupt(where + ": size " + dims_to_string(t.size) + ", stride " + dims_to_string(t.stride) + ", offset " +
                     std::to_string(t.storage_offset) + " extends past its storage " + q(st.key) + " (" +
                     std::to_string(st.numel) + " elements)");

    // Row-major contiguity (size-1 and empty dimensions ignored).
    bool contiguous = true;
    int64_t expect = 1;
    for (size_t d = t.size.size(); d-- > 0;) {
      if (t.size[d] != 1 && t.stride[d] != expect) contiguous = false;
      expect *= t.size[d];
    }
    if (numel == 0) contiguous = true;

    TensorView view;
    view.name = leaf.name;
    view.dtype = dtype;
    view.shape = t.size;
    view.nbytes = static_cast<size_t>(nbytes64);
    const uint8_t* at = numel > 0 ? sd.data + static_cast<size_t>(t.storage_offset) * elem : sd.data;
    if (contiguous) {
      view.data = at;
    } else {
      if (!options.copy_non_contiguous)
        return unsupported(where + ": non-contiguous tensor (size " + dims_to_string(t.size) + ", stride " +
                           dims_to_string(t.stride) + ") and copying is disabled");
      auto buf = std::make_unique<uint8_t[]>(view.nbytes);
      gather_contiguous(at, elem, t.size, t.stride, buf.get());
      view.data = buf.get();
      owned_.push_back(std::move(buf));
      info.copied = true;
    }
    info_index_.emplace(info.name, infos_.size());
    infos_.push_back(std::move(info));
    if (infos_.back().loadable) {
      view_index_.emplace(view.name, tensors_.size());
      tensors_.push_back(std::move(view));
    }
  }
  return Status::ok();
}

const TensorView* TorchCheckpoint::find(std::string_view name) const {
  auto it = view_index_.find(std::string(name));
  return it == view_index_.end() ? nullptr : &tensors_[it->second];
}

Result<const TensorView*> TorchCheckpoint::get(std::string_view name) const {
  if (const TensorView* v = find(name)) return v;
  if (const TorchTensorInfo* i = info(name))
    return unsupported(zip_.name() + ": tensor " + q(name) + " has dtype " + i->torch_dtype + " (" + i->storage_type +
                       "), which is not supported (f32, f16, bf16, i8 only)");
  return not_found(zip_.name() + ": no tensor " + q(name));
}

bool TorchCheckpoint::contains(std::string_view name) const { return info(name) != nullptr; }

std::vector<std::string> TorchCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(infos_.size());
  for (const auto& i : infos_) out.push_back(i.name);
  return out;
}

const TorchTensorInfo* TorchCheckpoint::info(std::string_view name) const {
  auto it = info_index_.find(std::string(name));
  return it == info_index_.end() ? nullptr : &infos_[it->second];
}

}  // namespace lpx
