// PyTorch checkpoint reader (torch.save zip format, PyTorch >= 1.6) without libtorch: PEFT
// adapter_model.bin, NeMo model_weights.ckpt. Zero-copy tensor views into the (mapped) archive.
//
// Layout: a zip whose members live under one top-level folder PREFIX (the file stem for
// PyTorch < 2, "archive" for later ones; any name is accepted, and members at the root too):
// PREFIX/data.pkl (the pickled object, see formats/pickle.h), PREFIX/data/<key> (raw little-endian
// storages), optional PREFIX/byteorder ("little" required if present), PREFIX/version, ...
//
// Object model: the pickle root must be a dict (dict or OrderedDict). Nested dicts are flattened
// with '.' ({"state_dict": {"w": t}} -> "state_dict.w"); int keys become decimal text. Leaves
// that are not tensors (ints, strings, lists, None, ...) are not tensors: their flattened names are
// listed by skipped(). TorchLoadOptions::root_key starts the walk at a top-level sub-dict instead.
//
// Tensors and dtypes: FloatStorage -> kF32, HalfStorage -> kF16, BFloat16Storage -> kBF16,
// CharStorage -> kI8 are loadable. Double/Long/Int/Short/Byte/Bool storages are recognised
// (validated, listed by names()), but find() skips them and get() returns kUnsupported naming the
// tensor and its torch dtype. Any other storage type fails open() (pickle refuses it).
// Contiguity: a tensor whose strides are row-major (dimensions of size 1 ignored) is a zero-copy
// view at storage + storage_offset. A non-contiguous tensor (a transposed or strided view, an
// expanded stride-0 tensor) is materialised as an owned contiguous copy (TorchTensorInfo::copied),
// or refused with kUnsupported when TorchLoadOptions::copy_non_contiguous is false.
// Storages that share a key are shared: two views may overlap (e.g. a slice of another tensor).
//
// Validation (kCorrupt unless noted; every message names the file, and the tensor/entry involved):
// the zip checks of formats/zip_reader.h; exactly one PREFIX/data.pkl; byteorder "little"
// (else kUnsupported); the restricted unpickle; for every tensor: its storage entry exists, the
// storage's entry holds at least numel * element size bytes, and offset + sum((size-1)*stride)
// lies inside the storage; sizes/strides/offsets without int64 overflow; no two tensors flatten to
// the same name. With verify_crc (default) the CRC-32 of data.pkl and of every storage used is
// checked (about 1 GB/s; turn off for multi-GB files if needed). Compressed (deflate) storages are
// inflated into owned memory (zlib).
// The legacy (pre-1.6, non-zip) torch.save format fails with kUnsupported: "legacy torch.save
// format not supported; re-save with a recent PyTorch".
//
// Thread-safety: immutable after open; const methods are safe from any thread.
// Lifetime: TensorView data points into the archive memory (kept alive by this object; for
// from_buffer also by `owner`) or into owned copies; moving the object keeps them valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/mmap_file.h"
#include "core/status.h"
#include "formats/pickle.h"
#include "formats/safetensors.h"  // TensorView
#include "formats/zip_reader.h"

namespace lpx {

struct TorchLoadOptions {
  bool verify_crc = true;           // CRC-32 of data.pkl and of every storage that is used
  bool copy_non_contiguous = true;  // false: non-contiguous tensors fail with kUnsupported
  std::string root_key;             // "": flatten the whole root dict; else only root[root_key] (a dict)
  UnpickleLimits pickle_limits;
  MmapOptions mmap;  // open() only
};

// Where a tensor came from (all tensors, loadable or not).
struct TorchTensorInfo {
  std::string name;            // flattened name
  std::string storage_type;    // "FloatStorage", "LongStorage", ...
  std::string torch_dtype;     // "float32", "int64", ...
  std::string storage_key;     // member PREFIX/data/<storage_key>
  int64_t storage_offset = 0;  // elements
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;  // as stored, in elements
  bool loadable = false;        // dtype maps to lpx::DType
  bool copied = false;          // non-contiguous in the file; the view is an owned contiguous copy
  bool is_parameter = false;
};

class TorchCheckpoint {
 public:
  TorchCheckpoint() = default;
  TorchCheckpoint(TorchCheckpoint&&) noexcept = default;
  TorchCheckpoint& operator=(TorchCheckpoint&&) noexcept = default;
  TorchCheckpoint(const TorchCheckpoint&) = delete;
  TorchCheckpoint& operator=(const TorchCheckpoint&) = delete;

  // Memory-maps and parses the file.
  static Result<TorchCheckpoint> open(const std::string& path, const TorchLoadOptions& options = {});
  // Parses a checkpoint held in memory that `owner` keeps alive (e.g. a TarArchive member:
  // pass the shared_ptr holding the archive). `name` is used in messages.
  static Result<TorchCheckpoint> from_buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                             std::string name, const TorchLoadOptions& options = {});
  // Takes ownership of the bytes.
  static Result<TorchCheckpoint> from_bytes(std::vector<uint8_t> bytes, std::string name,
                                            const TorchLoadOptions& options = {});

  // The loadable tensor with this name, or nullptr (absent or not a loadable dtype).
  const TensorView* find(std::string_view name) const;
  // Like find() with errors naming the file and tensor: not_found, or unsupported dtype.
  Result<const TensorView*> get(std::string_view name) const;
  // True if the checkpoint has a tensor with this name (loadable or not).
  bool contains(std::string_view name) const;
  // Every tensor name (loadable or not), in pickle (insertion) order.
  std::vector<std::string> names() const;
  // Loadable tensors in pickle order; strides are row-major (contiguous) by construction.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // Every tensor's provenance, in pickle order; info(name) looks one up (nullptr if absent).
  const std::vector<TorchTensorInfo>& infos() const { return infos_; }
  const TorchTensorInfo* info(std::string_view name) const;
  // Flattened names of non-tensor leaves (e.g. "epoch"), in pickle order.
  const std::vector<std::string>& skipped() const { return skipped_; }
  // The zip's top-level folder ("" if members are at the root).
  const std::string& prefix() const { return prefix_; }
  const std::string& name() const { return zip_.name(); }
  const ZipReader& zip() const { return zip_; }
  // The unpickled object graph (root dict), for callers that want non-tensor values.
  const PyObject* root() const { return doc_.root(); }

 private:
  Status load(const TorchLoadOptions& options);
  struct StorageData {
    const uint8_t* data = nullptr;
    size_t nbytes = 0;
  };

  ZipReader zip_;
  std::string prefix_;
  PickleDocument doc_;
  std::vector<TensorView> tensors_;
  std::vector<TorchTensorInfo> infos_;
  std::unordered_map<std::string, size_t> view_index_;  // name -> tensors_ index
  std::unordered_map<std::string, size_t> info_index_;  // name -> infos_ index
  std::vector<std::string> skipped_;
  std::vector<std::unique_ptr<uint8_t[]>> owned_;  // contiguous copies, inflated storages
};

// Maps a torch storage type name to its element size and torch dtype name ("FloatStorage" ->
// 4, "float32"); false if unknown. `dtype` is set only for loadable types.
bool torch_storage_type_info(std::string_view storage_type, size_t* element_size, std::string* torch_dtype,
                             DType* dtype, bool* loadable);

}  // namespace lpx
