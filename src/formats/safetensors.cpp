// Safetensors reader implementation: header parsing and validation, sharded index handling.
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/log.h"

namespace lpx {
namespace {

using nlohmann::json;

struct DTypeInfo {
  const char* name;
  size_t size;
  bool loadable;
  DType dtype;  // meaningful only when loadable
};

// Every dtype string the safetensors format defines.
constexpr DTypeInfo kDTypes[] = {
    {"F32", 4, true, DType::kF32},  {"F16", 2, true, DType::kF16},      {"BF16", 2, true, DType::kBF16},
    {"I8", 1, true, DType::kI8},    {"BOOL", 1, false, DType::kF32},    {"U8", 1, false, DType::kF32},
    {"I16", 2, false, DType::kF32}, {"U16", 2, false, DType::kF32},     {"I32", 4, false, DType::kF32},
    {"U32", 4, false, DType::kF32}, {"I64", 8, false, DType::kF32},     {"U64", 8, false, DType::kF32},
    {"F64", 8, false, DType::kF32}, {"F8_E4M3", 1, false, DType::kF32}, {"F8_E5M2", 1, false, DType::kF32},
};

const DTypeInfo* lookup_dtype(const std::string& s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return &d;
  return nullptr;
}

std::string quote_name(std::string_view s) {
  // Built by appending (GCC 12 warns -Wrestrict, falsely, on "'" + std::string(s)).
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

// Reads a non-negative JSON integer that fits in int64.
bool get_nonneg_int(const json& v, uint64_t* out) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return *out <= static_cast<uint64_t>(INT64_MAX);
  }
  const int64_t x = v.get<int64_t>();
  if (x < 0) return false;
  *out = static_cast<uint64_t>(x);
  return true;
}

struct Entry {
  std::string name;
  const DTypeInfo* info;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// Parses and validates one tensor entry. `where` = "FILE: tensor 'NAME'".
Status parse_entry(const std::string& where, const std::string& name, const json& v, uint64_t data_size, Entry* out) {
  if (!v.is_object()) return corrupt(where + ": header entry is not a JSON object");
  auto it = v.find("dtype");
  if (it == v.end()) return corrupt(where + ": missing \"dtype\"");
  if (!it->is_string()) return corrupt(where + ": \"dtype\" is not a string");
  const std::string dtype_str = it->get<std::string>();
  const DTypeInfo* info = lookup_dtype(dtype_str);
  if (info == nullptr) return corrupt(where + ": unknown dtype " + quote_name(dtype_str));

  it = v.find("shape");
  if (it == v.end()) return corrupt(where + ": missing \"shape\"");
  if (!it->is_array()) return corrupt(where + ": \"shape\" is not an array");
  std::vector<int64_t> shape;
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : *it) {
    uint64_t dim;
    if (!get_nonneg_int(d, &dim))
      return corrupt(where + ": \"shape\" has a value that is not a non-negative integer: " + d.dump());
    shape.push_back(static_cast<int64_t>(dim));
    if (__builtin_mul_overflow(numel, dim, &numel)) overflow = true;
  }
  uint64_t need;
  if (overflow || __builtin_mul_overflow(numel, static_cast<uint64_t>(info->size), &need))
    return corrupt(where + ": shape " + shape_to_string(shape) + " is too large");

  it = v.find("data_offsets");
  if (it == v.end()) return corrupt(where + ": missing \"data_offsets\"");
  if (!it->is_array() || it->size() != 2) return corrupt(where + ": \"data_offsets\" is not an array [begin, end]");
  uint64_t begin, end;
  if (!get_nonneg_int((*it)[0], &begin) || !get_nonneg_int((*it)[1], &end))
    return corrupt(where + ": \"data_offsets\" must be non-negative integers, got " + it->dump());
  if (begin > end) return corrupt(where + ": data_offsets " + it->dump() + " has begin > end");
  if (end > data_size)
    return corrupt(where + ": data_offsets " + it->dump() + " run past the data section (" + std::to_string(data_size) +
                   " bytes)");
  if (end - begin != need)
    return corrupt(where + ": data_offsets " + it->dump() + " span " + std::to_string(end - begin) +
                   " bytes but shape " + shape_to_string(shape) + " of " + info->name + " needs " +
                   std::to_string(need));
  out->name = name;
  out->info = info;
  out->shape = std::move(shape);
  out->begin = begin;
  out->end = end;
  return Status::ok();
}

bool safe_shard_name(const std::string& s) {
  if (s.empty() || s.front() == '/') return false;
  if (s.find('/') != std::string::npos || s.find('\\') != std::string::npos) return false;
  if (s == "." || s == "..") return false;
  return s.find('\0') == std::string::npos;
}

}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool TensorView::aligned() const { return reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0; }

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// ---------------- SafetensorsFile ----------------

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path, const MmapOptions& options) {
  LPX_ASSIGN_OR_RETURN(MmapFile map, MmapFile::open(path, options));
  const uint64_t file_size = map.size();
  if (file_size < 8)
    return corrupt(path + ": file is " + std::to_string(file_size) +
                   " bytes, too small for a safetensors header (needs at least 8)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | map.data()[i];
  if (header_len >= kSafetensorsMaxHeaderBytes)
    return corrupt(path + ": header length " + std::to_string(header_len) + " is not below the " +
                   std::to_string(kSafetensorsMaxHeaderBytes) + "-byte limit");
  if (header_len > file_size - 8)
    return corrupt(path + ": header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes; truncated?)");
  if (header_len < 2)
    return corrupt(path + ": header length " + std::to_string(header_len) + " is too small for a JSON object");
  const char* hbegin = reinterpret_cast<const char*>(map.data() + 8);
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  json header;
  try {
    header = json::parse(hbegin, hbegin + header_len);
  } catch (const json::exception& e) {
    return corrupt(path + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) return corrupt(path + ": header is not a JSON object");

  SafetensorsFile file;
  std::vector<Entry> entries;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& key = it.key();
      if (key == "__metadata__") {
        if (it->is_null()) continue;
        if (!it->is_object()) return corrupt(path + ": \"__metadata__\" is not a JSON object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string())
            return corrupt(path + ": \"__metadata__\" value for " + quote_name(m.key()) + " is not a string");
          file.metadata_[m.key()] = m->get<std::string>();
        }
        continue;
      }
      Entry e;
      LPX_RETURN_IF_ERROR(parse_entry(path + ": tensor " + quote_name(key), key, *it, data_size, &e));
      entries.push_back(std::move(e));
    }
  } catch (const json::exception& e) {  // defensive: all accesses above are type-checked
    return corrupt(path + ": malformed header (" + e.what() + ")");
  }

  // Non-empty ranges must not overlap.
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry* prev = by_offset[i - 1];
    const Entry* cur = by_offset[i];
    if (cur->begin < prev->end)
      return corrupt(path + ": tensor " + quote_name(cur->name) + " data [" + std::to_string(cur->begin) + ", " +
                     std::to_string(cur->end) + ") overlaps tensor " + quote_name(prev->name) + " data [" +
                     std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  const uint8_t* base = map.data() + data_start;
  for (auto& e : entries) {
    if (!e.info->loadable) {
      file.unloadable_[e.name] = e.info->name;
      continue;
    }
    TensorView v;
    v.name = e.name;
    v.dtype = e.info->dtype;
    v.shape = std::move(e.shape);
    v.data = data_size > 0 ? base + e.begin : nullptr;
    v.nbytes = static_cast<size_t>(e.end - e.begin);
    file.tensors_.push_back(std::move(v));
  }
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.index_.emplace(file.tensors_[i].name, i);
  file.map_ = std::move(map);
  return file;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<const TensorView*> SafetensorsFile::get(std::string_view name) const {
  if (const TensorView* v = find(name)) return v;
  auto it = unloadable_.find(std::string(name));
  if (it != unloadable_.end())
    return unsupported(path() + ": unsupported dtype " + it->second + " for tensor " + quote_name(name) +
                       " (loadable: F32, F16, BF16, I8)");
  return not_found(path() + ": no tensor " + quote_name(name));
}

bool SafetensorsFile::contains(std::string_view name) const {
  return find(name) != nullptr || unloadable_.count(std::string(name)) > 0;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size() + unloadable_.size());
  for (const auto& t : tensors_) out.push_back(t.name);
  for (const auto& [n, d] : unloadable_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------- SafetensorsCheckpoint ----------------

Result<SafetensorsCheckpoint> SafetensorsCheckpoint::open_file(const std::string& path, const MmapOptions& options) {
  LPX_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(path, options));
  SafetensorsCheckpoint ckpt;
  ckpt.source_ = path;
  auto file = std::make_unique<SafetensorsFile>(std::move(f));
  for (const auto& n : file->names()) ckpt.where_.emplace(n, 0);
  ckpt.files_.push_back(std::move(file));
  return ckpt;
}

Result<SafetensorsCheckpoint> SafetensorsCheckpoint::open_dir(const std::string& dir, const MmapOptions& options) {
  if (!is_directory(dir)) return not_found(dir + ": not a directory");
  const std::string index_path = path_join(dir, "model.safetensors.index.json");
  const std::string single_path = path_join(dir, "model.safetensors");
  if (!file_exists(index_path)) {
    if (!file_exists(single_path))
      return not_found(dir + ": no model.safetensors or model.safetensors.index.json in the folder");
    auto r = open_file(single_path, options);
    if (r.is_ok()) r->source_ = dir;
    return r;
  }

  LPX_ASSIGN_OR_RETURN(std::string text, read_file(index_path));
  json index;
  try {
    index = json::parse(text);
  } catch (const json::exception& e) {
    return corrupt(index_path + ": not valid JSON (" + e.what() + ")");
  }
  if (!index.is_object()) return corrupt(index_path + ": not a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end()) return corrupt(index_path + ": missing \"weight_map\"");
  if (!wm->is_object()) return corrupt(index_path + ": \"weight_map\" is not a JSON object");
  if (wm->empty()) return corrupt(index_path + ": \"weight_map\" is empty");

  std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensor names
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string())
      return corrupt(index_path + ": weight_map entry for tensor " + quote_name(it.key()) + " is not a string");
    const std::string shard = it->get<std::string>();
    if (!safe_shard_name(shard))
      return corrupt(index_path + ": weight_map entry for tensor " + quote_name(it.key()) + " names shard " +
                     quote_name(shard) + ", which is not a plain file name in the folder");
    by_shard[shard].push_back(it.key());
  }

  SafetensorsCheckpoint ckpt;
  ckpt.source_ = dir;
  ckpt.index_path_ = index_path;
  for (const auto& [shard, tensor_names] : by_shard) {
    const std::string shard_path = path_join(dir, shard);
    auto opened = SafetensorsFile::open(shard_path, options);
    if (!opened.is_ok())
      return opened.status().with_context(index_path + ": shard " + quote_name(shard) + " (listing tensor " +
                                          quote_name(tensor_names.front()) + ")");
    auto file = std::make_unique<SafetensorsFile>(std::move(opened).value());
    const size_t idx = ckpt.files_.size();
    for (const auto& name : tensor_names) {
      if (!file->contains(name))
        return corrupt(index_path + ": tensor " + quote_name(name) + " is listed in shard " + quote_name(shard) +
                       " but " + shard_path + " has no such tensor");
      ckpt.where_.emplace(name, idx);
    }
    if (log_level() <= LogLevel::kDebug) {
      std::set<std::string> listed(tensor_names.begin(), tensor_names.end());
      for (const auto& n : file->names())
        if (!listed.count(n)) LPX_LOG_DEBUG(shard_path + ": tensor " + quote_name(n) + " is not in the index; ignored");
    }
    ckpt.files_.push_back(std::move(file));
  }
  return ckpt;
}

const TensorView* SafetensorsCheckpoint::find(std::string_view name) const {
  auto it = where_.find(std::string(name));
  if (it == where_.end()) return nullptr;
  return files_[it->second]->find(name);
}

Result<const TensorView*> SafetensorsCheckpoint::get(std::string_view name) const {
  auto it = where_.find(std::string(name));
  if (it == where_.end()) {
    const std::string& where = index_path_.empty() ? (files_.empty() ? source_ : files_[0]->path()) : index_path_;
    return not_found(where + ": no tensor " + quote_name(name));
  }
  return files_[it->second]->get(name);
}

bool SafetensorsCheckpoint::contains(std::string_view name) const { return where_.count(std::string(name)) > 0; }

std::string SafetensorsCheckpoint::file_of(std::string_view name) const {
  auto it = where_.find(std::string(name));
  return it == where_.end() ? std::string() : files_[it->second]->path();
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [n, i] : where_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

size_t SafetensorsCheckpoint::total_file_bytes() const {
  size_t n = 0;
  for (const auto& f : files_) n += f->file_size();
  return n;
}

Status SafetensorsCheckpoint::advise(MmapFile::Advice advice) const {
  for (const auto& f : files_) LPX_RETURN_IF_ERROR(f->mapping().advise(advice));
  return Status::ok();
}

}  // namespace lpx
