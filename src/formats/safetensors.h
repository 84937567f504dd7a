// Safetensors reader: memory-mapped, zero-copy, fully validated tensor views; single files and
// Hugging Face sharded checkpoints (model.safetensors.index.json + shards).
//
// File format: u64 little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the data section start (8 + N).
//
// Loadable dtypes: F32, F16, BF16, I8 (-> lpx::DType). Recognised but not loadable: BOOL, U8,
// I16, U16, I32, U32, I64, U64, F64, F8_E4M3, F8_E5M2: such tensors are validated (sizes and
// ranges) and listed by names(), but find() skips them and get() returns
// "unsupported dtype I64 for tensor 'x' in FILE". Any other dtype string makes open() fail.
//
// Validation at open() (every error is kCorrupt unless noted and names the file, and the tensor
// when one is involved): file >= 8 bytes; header length <= file size - 8 and < 100 MB; header is
// a JSON object; "__metadata__" (optional) maps strings to strings; each tensor entry is an object
// with a known "dtype", a "shape" of non-negative integers and "data_offsets" [begin, end] with
// begin <= end <= data section size and end - begin == prod(shape) * dtype size; non-empty ranges
// do not overlap. Full coverage of the data section is not required. Open/mmap failures are
// io_error / not_found from MmapFile.
//
// Alignment: TensorView::data points into the mapping at 8 + N + begin; it is element-aligned
// only if the writer padded the header (Hugging Face's writer and ours pad N to a multiple of 8).
// Read through memcpy or unaligned loads if in doubt; TensorView::aligned() tells.
//
// Thread-safety: objects are immutable after open(); const methods are safe from any thread.
// Lifetime: TensorView pointers (and their data) live as long as the owning file/checkpoint
// object; moving the object keeps them valid.
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

namespace lpx {

// Largest accepted JSON header (bytes).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100ull * 1000 * 1000;

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;     // row-major, outermost first; [] is a scalar (1 element)
  const uint8_t* data = nullptr;  // into the file mapping; nullptr only for 0-byte tensors of an empty data section
  size_t nbytes = 0;

  int64_t numel() const;
  bool aligned() const;  // data is a multiple of dtype_size(dtype)
};

// "[32000, 8]"
std::string shape_to_string(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  SafetensorsFile() = default;
  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  static Result<SafetensorsFile> open(const std::string& path, const MmapOptions& options = {});

  // The loadable tensor with this name, or nullptr (absent, or a recognised-but-unloadable dtype).
  const TensorView* find(std::string_view name) const;
  // Like find() but with an error naming the file and tensor: not_found, or unsupported dtype.
  Result<const TensorView*> get(std::string_view name) const;
  // True if the header lists the tensor (whatever its dtype).
  bool contains(std::string_view name) const;
  // All tensor names in the header (loadable or not), sorted.
  std::vector<std::string> names() const;
  // Loadable tensors, sorted by name.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // "__metadata__" entries (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return map_.path(); }
  size_t file_size() const { return map_.size(); }
  const MmapFile& mapping() const { return map_; }

 private:
  MmapFile map_;
  std::vector<TensorView> tensors_;                // loadable, sorted by name
  std::unordered_map<std::string, size_t> index_;  // name -> tensors_ index
  std::map<std::string, std::string> unloadable_;  // name -> safetensors dtype string
  std::map<std::string, std::string> metadata_;
};

// A model folder's weights: either <dir>/model.safetensors, or <dir>/model.safetensors.index.json
// whose "weight_map" maps tensor name -> shard file name (each shard is opened once).
// Errors: not_found if the folder has neither file; corrupt for a malformed index (not JSON, no
// "weight_map" object, non-string values, shard names with '/' or "..", empty map), for a tensor
// listed in the index but absent from its shard; the shard's own open errors (with the index path
// as context). Tensors present in a shard but not in the index are ignored (debug log).
class SafetensorsCheckpoint {
 public:
  SafetensorsCheckpoint() = default;
  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept = default;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept = default;
  SafetensorsCheckpoint(const SafetensorsCheckpoint&) = delete;
  SafetensorsCheckpoint& operator=(const SafetensorsCheckpoint&) = delete;

  static Result<SafetensorsCheckpoint> open_dir(const std::string& dir, const MmapOptions& options = {});
  // A single .safetensors file as a checkpoint.
  static Result<SafetensorsCheckpoint> open_file(const std::string& path, const MmapOptions& options = {});

  const TensorView* find(std::string_view name) const;
  // Errors name the file (the shard that holds it, or the index/dir when absent) and the tensor.
  Result<const TensorView*> get(std::string_view name) const;
  bool contains(std::string_view name) const;
  // The path of the file holding `name`, or "" if no file lists it.
  std::string file_of(std::string_view name) const;
  // Every tensor name of the checkpoint, sorted.
  std::vector<std::string> names() const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // The folder (open_dir) or file (open_file) this came from.
  const std::string& source() const { return source_; }
  // The index.json path, or "" for a single file.
  const std::string& index_path() const { return index_path_; }
  // Sum of the mapped file sizes.
  size_t total_file_bytes() const;
  // madvise every file (e.g. Advice::kWillNeed to start read-ahead); returns the first error.
  Status advise(MmapFile::Advice advice) const;

 private:
  std::string source_;
  std::string index_path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, size_t> where_;  // tensor name -> files_ index
};

}  // namespace lpx
