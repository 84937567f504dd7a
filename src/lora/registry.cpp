// Adapter store scanning.
#include "lora/registry.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/log.h"

namespace lpx {
namespace fs = std::filesystem;

AdapterRegistry::AdapterRegistry(std::string store_dir, Validator validator)
    : store_dir_(std::move(store_dir)), validator_(std::move(validator)) {}

bool AdapterRegistry::valid_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return false;
  }
  return name.find("..") == std::string_view::npos;
}

namespace {

std::string folder_signature(const fs::path& dir) {
  std::vector<std::string> parts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (!e.is_regular_file(ec2)) continue;
    auto size = e.file_size(ec2);
    auto mtime = e.last_write_time(ec2).time_since_epoch().count();
    parts.push_back(e.path().filename().string() + ":" + std::to_string(size) + ":" + std::to_string(mtime));
  }
  std::sort(parts.begin(), parts.end());
  std::string sig;
  for (auto& p : parts) sig += p + ";";
  return sig;
}

}  // namespace

Result<ScanResult> AdapterRegistry::scan() {
  std::error_code ec;
  if (!fs::is_directory(store_dir_, ec)) {
    return not_found(store_dir_ + ": adapter store (NIM_PEFT_SOURCE) is not a folder");
  }
  std::map<std::string, std::string> seen;  // name -> path
  for (const auto& e : fs::directory_iterator(store_dir_, ec)) {
    std::error_code ec2;
    if (!e.is_directory(ec2)) continue;
    std::string name = e.path().filename().string();
    seen[name] = e.path().string();
  }
  if (ec) return io_error(store_dir_ + ": cannot list (" + ec.message() + ")");

  ScanResult r;
  // Validate outside the lock (it may read files); then apply.
  std::map<std::string, AdapterEntry> next;
  std::map<std::string, std::string> rejected;
  std::map<std::string, AdapterEntry> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = entries_;
    rejected = rejected_;
  }
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& [name, path] : seen) {
    if (!valid_name(name)) {
      r.skipped.push_back({name, "folder name is not a valid adapter name"});
      continue;
    }
    std::string sig = folder_signature(path);
    auto it = old.find(name);
    if (it != old.end() && it->second.signature == sig) {
      next[name] = it->second;
      continue;
    }
    auto rj = rejected.find(name);
    if (rj != rejected.end() && rj->second == sig) continue;  // still bad; logged already
    Status v = validator_ ? validator_(path) : Status::ok();
    if (!v.is_ok()) {
      rejected[name] = sig;
      r.skipped.push_back({name, v.message()});
      LPX_LOG_WARN("adapter '" + name + "' skipped: " + v.message());
      continue;
    }
    rejected.erase(name);
    AdapterEntry entry{name, path, sig, it != old.end() ? it->second.created_unix : now};
    if (it == old.end())
      r.added.push_back(name);
    else
      r.changed.push_back(name);
    next[name] = entry;
  }
  for (const auto& [name, e] : old) {
    if (!next.count(name)) r.removed.push_back(name);
  }
  for (auto it = rejected.begin(); it != rejected.end();) {
    it = seen.count(it->first) ? std::next(it) : rejected.erase(it);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries_ = std::move(next);
    rejected_ = std::move(rejected);
  }
  for (auto& n : r.added) LPX_LOG_INFO("adapter '" + n + "' found");
  for (auto& n : r.changed) LPX_LOG_INFO("adapter '" + n + "' changed; reloads on next use");
  for (auto& n : r.removed) LPX_LOG_INFO("adapter '" + n + "' removed from the store");
  return r;
}

std::optional<AdapterEntry> AdapterRegistry::find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(std::string(name));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::vector<AdapterEntry> AdapterRegistry::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AdapterEntry> out;
  for (const auto& [n, e] : entries_) out.push_back(e);
  return out;
}

}  // namespace lpx
