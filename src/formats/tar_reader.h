// Tar archive reader (read-only, in memory), optionally gzip-compressed: NeMo .nemo files.
//
// Formats: POSIX ustar (name + prefix), GNU ("ustar  " magic; 'L' long names, 'K' long link
// names, base-256 sizes), pax ('x' per-entry headers: "path" and "size" are honoured, other keys
// ignored; 'g' global headers ignored), and old v7 headers. 512-byte blocks; the archive ends at
// the first all-zero block or exactly at the end of the data (a missing end-of-archive marker is
// tolerated). gzip input (magic 1f 8b, one or more members) is inflated into memory first (zlib).
// An uncompressed archive is memory-mapped and members are zero-copy spans into the mapping.
//
// Names are normalised: leading "./" removed, repeated '/' collapsed, "." components and a
// trailing '/' dropped ("./a//b/./c" -> "a/b/c"). entries() lists regular files ('0', '\0', '7')
// only. Directories, devices and FIFOs are skipped; symbolic links, hard links and GNU sparse
// files are not listed, and get() on such a name fails with kUnsupported naming the entry type.
//
// Validation (kCorrupt, every message names the archive and, where one is involved, the entry
// name and its header offset): header checksum (unsigned or historic signed sum); numeric fields
// are octal (or GNU base-256, non-negative); every header and member's data lie inside the archive
// (truncation); any entry name that is absolute or has a ".." component (path traversal) or a
// NUL/backslash; duplicate regular-file names; pax records well-formed; GNU long names / pax
// headers at most 1 MiB. Decompressed size above TarOptions::max_decompressed_bytes:
// kResourceExhausted.
//
// Thread-safety: immutable after open; const methods are safe from any thread.
// Lifetime: spans point into memory owned by the archive (shared with owner()); moving the archive
// keeps them valid, and holding owner() keeps them valid after the archive is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mmap_file.h"
#include "core/status.h"

namespace lpx {

struct TarOptions {
  uint64_t max_decompressed_bytes = 16ull << 30;  // gzip'd archives only
  MmapOptions mmap;                               // open() only
};

struct TarEntry {
  std::string name;          // normalised
  uint64_t size = 0;         // bytes
  uint64_t data_offset = 0;  // in the (decompressed) archive bytes
  uint64_t header_offset = 0;
};

class TarArchive {
 public:
  TarArchive() = default;
  TarArchive(TarArchive&&) noexcept = default;
  TarArchive& operator=(TarArchive&&) noexcept = default;
  TarArchive(const TarArchive&) = delete;
  TarArchive& operator=(const TarArchive&) = delete;

  // Memory-maps the file (gzip: inflates it into memory) and parses it.
  static Result<TarArchive> open(const std::string& path, const TarOptions& options = {});
  // Parses bytes held in memory that `owner` keeps alive (gzip is detected and inflated).
  static Result<TarArchive> from_buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                        std::string name, const TarOptions& options = {});
  // Takes ownership of the bytes.
  static Result<TarArchive> from_bytes(std::vector<uint8_t> bytes, std::string name, const TarOptions& options = {});

  // Regular files in archive order.
  const std::vector<TarEntry>& entries() const { return entries_; }
  // The regular file with this name (normalised before lookup), or nullptr.
  const TarEntry* find(std::string_view name) const;
  // The member's bytes. Errors: not_found (absent), unsupported (a link / sparse file of that name).
  Result<std::span<const uint8_t>> get(std::string_view name) const;
  // Bytes of an entry from entries().
  std::span<const uint8_t> data(const TarEntry& entry) const;

  const std::string& name() const { return name_; }
  bool was_gzip() const { return was_gzip_; }
  // Keeps the archive bytes alive: pass it to TorchCheckpoint::from_buffer for zero-copy members.
  std::shared_ptr<const void> owner() const { return owner_; }

 private:
  Status parse();

  std::string name_;
  bool was_gzip_ = false;
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::vector<TarEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> refused_;  // normalised name -> entry kind ("symbolic link", ...)
};

// "./a//b/./c/" -> "a/b/c" (no safety check; see unsafe_archive_path_reason in zip_reader.h).
std::string normalize_archive_path(std::string_view path);

}  // namespace lpx
