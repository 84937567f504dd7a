// MmapFile implementation: open/fstat/mmap/close, madvise hooks.
#include "core/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/log.h"

namespace lpx {
namespace {

std::string errno_text(int err) { return std::string(std::strerror(err)); }

const char* advice_name(MmapFile::Advice advice) {
  switch (advice) {
    case MmapFile::Advice::kNormal: return "MADV_NORMAL";
    case MmapFile::Advice::kWillNeed: return "MADV_WILLNEED";
    case MmapFile::Advice::kSequential: return "MADV_SEQUENTIAL";
    case MmapFile::Advice::kRandom: return "MADV_RANDOM";
    case MmapFile::Advice::kHugePage: return "MADV_HUGEPAGE";
    case MmapFile::Advice::kDontNeed: return "MADV_DONTNEED";
  }
  return "?";
}

}  // namespace

MmapFile::~MmapFile() { reset(); }

MmapFile::MmapFile(MmapFile&& other) noexcept : path_(std::move(other.path_)), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MmapFile& MmapFile::operator=(MmapFile&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void MmapFile::reset() {
  if (data_ != nullptr && size_ > 0) {
    ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  data_ = nullptr;
  size_ = 0;
}

Result<MmapFile> MmapFile::open(const std::string& path, const MmapOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open (" + errno_text(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error(path + ": cannot stat (" + errno_text(err) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path + ": not a regular file");
  }
  MmapFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ == 0) {
    ::close(fd);
    return file;
  }
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  if (options.populate) flags |= MAP_POPULATE;
#endif
  void* p = ::mmap(nullptr, file.size_, PROT_READ, flags, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) {
    file.size_ = 0;
    return io_error(path + ": mmap of " + std::to_string(st.st_size) + " bytes failed (" + errno_text(map_err) + ")");
  }
  file.data_ = static_cast<const uint8_t*>(p);
  if (options.will_need) {
    Status s = file.advise(Advice::kWillNeed);
    if (!s.is_ok()) LPX_LOG_DEBUG(s.message());
  }
  if (options.huge_pages) {
    Status s = file.advise(Advice::kHugePage);
    if (!s.is_ok()) LPX_LOG_DEBUG(s.message());
  }
  return file;
}

Status MmapFile::advise(Advice advice, size_t offset, size_t length) const {
  if (data_ == nullptr || size_ == 0 || offset >= size_ || length == 0) return Status::ok();
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t start = offset / page * page;
  const size_t end = (length >= size_ - offset) ? size_ : offset + length;
  int native = MADV_NORMAL;
  switch (advice) {
    case Advice::kNormal: native = MADV_NORMAL; break;
    case Advice::kWillNeed: native = MADV_WILLNEED; break;
    case Advice::kSequential: native = MADV_SEQUENTIAL; break;
    case Advice::kRandom: native = MADV_RANDOM; break;
    case Advice::kDontNeed: native = MADV_DONTNEED; break;
    case Advice::kHugePage:
#ifdef MADV_HUGEPAGE
      native = MADV_HUGEPAGE;
      break;
#else
      return unsupported(path_ + ": MADV_HUGEPAGE is not available on this platform");
#endif
  }
  if (::madvise(const_cast<uint8_t*>(data_) + start, end - start, native) != 0) {
    const int err = errno;
    return io_error(path_ + ": madvise(" + advice_name(advice) + ") failed (" + errno_text(err) + ")");
  }
  return Status::ok();
}

void release_pages(const void* p, size_t n) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (p == nullptr || last <= first) return;
  (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace lpx
