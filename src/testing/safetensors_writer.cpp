// Safetensors writer implementation.
#include "testing/safetensors_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

namespace lpx {
namespace {

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFFu);
  return s;
}

// Data order: element size descending, then name.
std::vector<std::string> layout_order(const std::map<std::string, size_t>& elem_size_by_name) {
  std::vector<std::string> names;
  for (const auto& [n, sz] : elem_size_by_name) names.push_back(n);
  std::stable_sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    return elem_size_by_name.at(a) > elem_size_by_name.at(b);
  });
  return names;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI8: return "I8";
    case DType::kQ8:
    case DType::kBF16I16: break;  // in-memory layouts, not safetensors dtypes
  }
  return "?";
}

Status SafetensorsWriter::check(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                size_t nbytes) const {
  if (name.empty()) return invalid_argument("safetensors writer: empty tensor name");
  if (name == "__metadata__") return invalid_argument("safetensors writer: '__metadata__' is reserved");
  if (tensors_.count(name)) return invalid_argument("safetensors writer: duplicate tensor '" + name + "'");
  if (dtype == DType::kQ8 || dtype == DType::kBF16I16)
    return invalid_argument("safetensors writer: tensor '" + name + "' is " + dtype_name(dtype) +
                            ", an in-memory layout safetensors cannot hold");
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("safetensors writer: tensor '" + name + "' has a negative dimension");
    numel *= static_cast<uint64_t>(d);
  }
  if (numel * dtype_size(dtype) != nbytes)
    return invalid_argument("safetensors writer: tensor '" + name + "' has " + std::to_string(nbytes) +
                            " bytes but its shape needs " + std::to_string(numel * dtype_size(dtype)));
  return Status::ok();
}

Status SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                              size_t nbytes) {
  LPX_RETURN_IF_ERROR(check(name, dtype, shape, nbytes));
  Pending& p = tensors_[name];
  p.dtype = dtype;
  p.shape = std::move(shape);
  p.owned.assign(static_cast<const char*>(data), nbytes);
  p.data = nullptr;  // nullptr: serialize from `owned`
  p.nbytes = nbytes;
  return Status::ok();
}

Status SafetensorsWriter::add_borrowed(const std::string& name, DType dtype, std::vector<int64_t> shape,
                                       const void* data, size_t nbytes) {
  LPX_RETURN_IF_ERROR(check(name, dtype, shape, nbytes));
  Pending& p = tensors_[name];
  p.dtype = dtype;
  p.shape = std::move(shape);
  p.data = data;
  p.nbytes = nbytes;
  return Status::ok();
}

Status SafetensorsWriter::add_f32_as(const std::string& name, DType dtype, std::vector<int64_t> shape,
                                     const std::vector<float>& values) {
  if (!dtype_is_float(dtype))
    return invalid_argument("safetensors writer: tensor '" + name + "': add_f32_as needs f32, f16 or bf16");
  std::string bytes(values.size() * dtype_size(dtype), '\0');
  convert_from_f32(dtype, values.data(), bytes.data(), values.size());
  return add(name, dtype, std::move(shape), bytes.data(), bytes.size());
}

std::string SafetensorsWriter::header_json() const {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata_.empty()) {
    nlohmann::json m = nlohmann::json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
    h["__metadata__"] = m;
  }
  std::map<std::string, size_t> sizes;
  for (const auto& [n, p] : tensors_) sizes[n] = dtype_size(p.dtype);
  uint64_t offset = 0;
  for (const auto& n : layout_order(sizes)) {
    const Pending& p = tensors_.at(n);
    nlohmann::json e = nlohmann::json::object();
    e["dtype"] = safetensors_dtype_name(p.dtype);
    e["shape"] = p.shape;
    e["data_offsets"] = {offset, offset + p.nbytes};
    offset += p.nbytes;
    h[n] = e;
  }
  std::string text = h.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  return text;
}

std::string SafetensorsWriter::serialize() const {
  const std::string header = header_json();
  std::string out = u64_le(header.size()) + header;
  std::map<std::string, size_t> sizes;
  for (const auto& [n, p] : tensors_) sizes[n] = dtype_size(p.dtype);
  for (const auto& n : layout_order(sizes)) {
    const Pending& p = tensors_.at(n);
    const void* src = p.data != nullptr ? p.data : p.owned.data();
    out.append(static_cast<const char*>(src), p.nbytes);
  }
  return out;
}

Status SafetensorsWriter::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return io_error(path + ": cannot create " + tmp + " (" + std::strerror(errno) + ")");
  const std::string header = header_json();
  const std::string len = u64_le(header.size());
  bool ok = std::fwrite(len.data(), 1, len.size(), f) == len.size() &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size();
  std::map<std::string, size_t> sizes;
  for (const auto& [n, p] : tensors_) sizes[n] = dtype_size(p.dtype);
  for (const auto& n : layout_order(sizes)) {
    if (!ok) break;
    const Pending& p = tensors_.at(n);
    const void* src = p.data != nullptr ? p.data : p.owned.data();
    if (p.nbytes > 0) ok = std::fwrite(src, 1, p.nbytes, f) == p.nbytes;
  }
  const int err = errno;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) {
    std::remove(tmp.c_str());
    return io_error(path + ": write failed (" + std::strerror(err) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rerr = errno;
    std::remove(tmp.c_str());
    return io_error(path + ": cannot rename " + tmp + " (" + std::strerror(rerr) + ")");
  }
  return Status::ok();
}

std::string safetensors_raw_bytes(const std::string& header_json, const std::string& data) {
  return u64_le(header_json.size()) + header_json + data;
}

Status write_binary_file(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return io_error(path + ": cannot create (" + std::strerror(errno) + ")");
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return io_error(path + ": write failed");
  return Status::ok();
}

}  // namespace lpx
