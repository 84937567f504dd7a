// The adapter store (NIM_PEFT_SOURCE): each sub-folder is one adapter named after the folder.
// scan() finds new, removed and changed folders; a validator hook rejects bad ones (logged and
// skipped, the rest keep working). Thread-safe: scan() and the readers take one mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lpx {

struct AdapterEntry {
  std::string name;
  std::string path;
  std::string signature;  // names, sizes and mtimes of the folder's files: changes when a file does
  int64_t created_unix = 0;
};

struct ScanResult {
  std::vector<std::string> added, removed, changed;
  std::vector<std::pair<std::string, std::string>> skipped;  // name, reason
};

class AdapterRegistry {
 public:
  // validator: cheap structural check of a folder (may be null: every folder is accepted).
  using Validator = std::function<Status(const std::string& dir)>;
  AdapterRegistry(std::string store_dir, Validator validator);

  // Rescans the store. A missing store folder is an error (and changes nothing).
  Result<ScanResult> scan();
  std::optional<AdapterEntry> find(std::string_view name) const;
  std::vector<AdapterEntry> list() const;  // sorted by name
  const std::string& store_dir() const { return store_dir_; }

  // True when `name` is safe as one path component: no '/', '\\', "..", control characters,
  // not empty, not starting with '.', at most 255 bytes.
  static bool valid_name(std::string_view name);

 private:
  std::string store_dir_;
  Validator validator_;
  mutable std::mutex mu_;
  std::map<std::string, AdapterEntry> entries_;
  std::map<std::string, std::string> rejected_;  // name -> signature of a folder that failed validation
};

}  // namespace lpx
