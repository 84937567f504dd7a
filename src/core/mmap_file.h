// MmapFile: RAII read-only memory map of a whole file (MAP_PRIVATE, PROT_READ), move-only.
//
// Ownership: the object owns the mapping; pointers from data() stay valid until it is destroyed
// or moved-from-then-destroyed (moving keeps the same mapping, so pointers survive a move).
// Thread-safety: after open() every const method may be called from any thread concurrently.
// Errors (all name the path): the file cannot be opened or stat'ed (io_error, or not_found when it
// does not exist), it is not a regular file (invalid_argument), mmap fails (io_error).
// A zero-length file opens fine: size() == 0 and data() == nullptr (nothing is mapped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace lpx {

struct MmapOptions {
  bool will_need = false;   // madvise(MADV_WILLNEED) the whole file after mapping (start read-ahead)
  bool huge_pages = false;  // madvise(MADV_HUGEPAGE); best effort, a refusal is only logged (debug)
  bool populate = false;    // MAP_POPULATE: fault every page in before open() returns
};

class MmapFile {
 public:
  enum class Advice { kNormal, kWillNeed, kSequential, kRandom, kHugePage, kDontNeed };

  MmapFile() = default;
  ~MmapFile();
  MmapFile(MmapFile&& other) noexcept;
  MmapFile& operator=(MmapFile&& other) noexcept;
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;

  static Result<MmapFile> open(const std::string& path, const MmapOptions& options = {});

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::string& path() const { return path_; }

  // madvise on [offset, offset+length) clipped to the file (offset is rounded down to a page).
  // length == SIZE_MAX means "to the end". A zero-length file or empty range is a no-op returning ok.
  // Errors: io_error naming the path and the advice when the kernel refuses it.
  Status advise(Advice advice, size_t offset = 0, size_t length = SIZE_MAX) const;

 private:
  void reset();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops the pages wholly inside [p, p + n) of a read-only file mapping from this process's
// resident set (madvise MADV_DONTNEED); they fault back in from the file if read again. Best
// effort: a refusal is ignored. For data made redundant after load (weights quantized to a copy).
void release_pages(const void* p, size_t n);

}  // namespace lpx
