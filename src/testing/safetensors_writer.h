// Safetensors writer: builds a .safetensors file from named tensors (tests, synthetic models).
//
// Output: u64 LE header length, JSON header padded with spaces to a multiple of 8, then the data
// section packed without gaps (as the reference implementation requires), ordered by element size
// (largest first) then name, so every tensor is element-aligned in a page-aligned mapping.
// Thread-safety: a writer is not thread-safe; distinct writers are independent.
// Errors: add() rejects duplicate names and data sizes that do not match shape x dtype
// (invalid_argument, naming the tensor); write() returns io_error naming the path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lpx {

class SafetensorsWriter {
 public:
  // Copies nbytes from data. nbytes must equal prod(shape) * dtype_size(dtype).
  Status add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  // Keeps only the pointer: `data` must stay valid until serialize()/write() has returned.
  Status add_borrowed(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                      size_t nbytes);
  // Converts f32 values to `dtype` (f32/f16/bf16) and copies them.
  Status add_f32_as(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<float>& values);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  size_t size() const { return tensors_.size(); }
  // The whole file's bytes.
  std::string serialize() const;
  // Writes the file (via "<path>.tmp" then rename); errors name the path.
  Status write(const std::string& path) const;

 private:
  struct Pending {
    DType dtype;
    std::vector<int64_t> shape;
    std::string owned;
    const void* data = nullptr;  // points into owned or at borrowed memory
    size_t nbytes = 0;
  };
  Status check(const std::string& name, DType dtype, const std::vector<int64_t>& shape, size_t nbytes) const;
  std::string header_json() const;

  std::map<std::string, Pending> tensors_;  // by name
  std::map<std::string, std::string> metadata_;
};

// Safetensors dtype string for a DType: "F32", "F16", "BF16", "I8".
const char* safetensors_dtype_name(DType dtype);

// Raw file bytes from an arbitrary header text and data section (for malformed-file tests):
// u64 LE length of header_json (no padding), header_json, data.
std::string safetensors_raw_bytes(const std::string& header_json, const std::string& data);

// Writes bytes to a file; errors name the path.
Status write_binary_file(const std::string& path, const std::string& bytes);

}  // namespace lpx
