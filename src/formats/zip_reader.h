// ZIP archive reader (read-only, in memory): the container of torch.save checkpoints.
//
// Parses the end-of-central-directory record (and the ZIP64 locator/record when a field
// overflows), the central directory and every entry's local header. Stored entries (method 0,
// what torch.save writes) are readable zero-copy from the underlying memory (a memory map or a
// caller-kept buffer). Deflated entries (method 8) are inflated into a new buffer (zlib). Other
// methods, encrypted entries and multi-disk archives are refused (kUnsupported).
//
// Validation at open (kCorrupt, every message names the archive and, where one is involved, the
// entry): EOCD found within the last 64 KiB + 22 bytes; central directory and ZIP64 records
// inside the file; every central directory record complete with a valid signature; entry
// count as announced; each local header inside the file with a valid signature; entry data
// [data_offset, data_offset + compressed_size) inside the file; names non-empty, without NUL or
// '\', not absolute ('/...', 'C:'), with no ".." component; no duplicate names; for stored
// entries compressed_size == uncompressed_size.
// CRC-32 is checked only on request (verify_crc) or when an entry is inflated.
//
// Thread-safety: immutable after open; const methods are safe from any thread.
// Lifetime: spans returned by stored_data() point into the archive's memory and stay valid as long
// as the ZipReader (or the owner it shares, see owner()) lives; moving the ZipReader keeps them valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mmap_file.h"
#include "core/status.h"

namespace lpx {

// Always true: zlib is a required dependency, so every build inflates deflate/gzip data. Kept for
// callers (and tests) written when it was optional.
bool zlib_available();

// CRC-32 (IEEE 802.3, the ZIP/gzip one) of `size` bytes, continuing from `crc` (0 to start):
// a thin wrapper over zlib's crc32_z.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);

struct ZipEntry {
  std::string name;              // as stored (forward slashes)
  uint16_t method = 0;           // 0 = stored, 8 = deflate
  uint16_t flags = 0;            // general purpose bit flags
  uint32_t crc32 = 0;            // from the central directory
  uint64_t compressed_size = 0;  // bytes in the archive
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;  // first byte of the entry's data in the archive
};

class ZipReader {
 public:
  ZipReader() = default;
  ZipReader(ZipReader&&) noexcept = default;
  ZipReader& operator=(ZipReader&&) noexcept = default;
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  // Memory-maps and parses the file. Errors: MmapFile's (io_error / not_found), then the above.
  static Result<ZipReader> open(const std::string& path, const MmapOptions& options = {});
  // Parses `size` bytes at `data`, which `owner` keeps alive (may be null if the caller guarantees
  // the memory outlives the reader). `name` is used in error messages.
  static Result<ZipReader> from_buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                       std::string name);
  // Takes ownership of the bytes.
  static Result<ZipReader> from_bytes(std::vector<uint8_t> bytes, std::string name);

  // Entries in central directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // The entry with exactly this name, or nullptr.
  const ZipEntry* find(std::string_view name) const;

  // Zero-copy bytes of a stored (method 0) entry. Errors: kUnsupported for any other method.
  Result<std::span<const uint8_t>> stored_data(const ZipEntry& entry) const;
  // The entry's uncompressed bytes as a new buffer (stored: copied; deflate: inflated, CRC and size
  // checked). Errors: kUnsupported (unknown method), kCorrupt (bad deflate stream, size
  // or CRC mismatch), kResourceExhausted if uncompressed_size > max_bytes.
  Result<std::vector<uint8_t>> read(const ZipEntry& entry, uint64_t max_bytes = UINT64_MAX) const;
  // Recomputes the CRC-32 of a stored entry (deflated entries: inflates). kCorrupt on mismatch.
  Status verify_crc(const ZipEntry& entry) const;

  const std::string& name() const { return name_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Keeps the archive memory alive (shared with the reader); handy for zero-copy consumers.
  std::shared_ptr<const void> owner() const { return owner_; }

 private:
  Status parse();

  std::string name_;
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// Checks an archive member path: non-empty, no NUL or '\', not absolute, no ".." component.
// Returns a short reason ("absolute path", "'..' component", ...) or "" when safe.
std::string unsafe_archive_path_reason(std::string_view path);

// Inflates raw deflate (zip, window_bits = -15) or gzip (window_bits = 31) data; for gzip,
// concatenated members are all decoded. `what` names the data in errors. Output larger than
// max_out fails with kResourceExhausted.
Result<std::vector<uint8_t>> inflate_bytes(const uint8_t* data, size_t size, int window_bits, uint64_t expected_size,
                                           uint64_t max_out, const std::string& what);

}  // namespace lpx
