// Tar reader implementation: ustar/GNU/pax header parsing, checksum and bounds checks, gzip input.
#include "formats/tar_reader.h"

#include <algorithm>
#include <cstring>

#include "formats/zip_reader.h"  // inflate_bytes, unsafe_archive_path_reason

namespace lpx {
namespace {

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxMetaBytes = 1u << 20;  // GNU long names, pax headers

// 'text' (built by appends: GCC 12 warns falsely on "'" + std::string + "'").
std::string q(std::string_view s) {
  std::string r;
  r.reserve(s.size() + 2);
  r += '\'';
  r.append(s);
  r += '\'';
  return r;
}

uint64_t round_up_block(uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

// Parses a numeric header field: octal digits (leading spaces/zeros, ended by NUL or space), or
// GNU base-256 (first byte 0x80). False if malformed or negative.
bool parse_number(const uint8_t* p, size_t len, uint64_t* out) {
  if (len == 0) return false;
  if (p[0] & 0x80) {
    if (p[0] != 0x80) return false;  // negative (0xFF) or odd encodings
    uint64_t v = 0;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return false;
      v = (v << 8) | p[i];
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i, ++digits) {
    if (v >> 60) return false;
    v = v * 8 + (p[i] - '0');
  }
  for (; i < len; ++i)
    if (p[i] != ' ' && p[i] != '\0') return false;
  *out = v;
  return true;  // an all-blank field reads as 0
}

std::string field_string(const uint8_t* p, size_t len) {
  size_t n = 0;
  while (n < len && p[n] != '\0') ++n;
  return std::string(reinterpret_cast<const char*>(p), n);
}

bool all_zero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Parses pax records "LEN key=value\n"; sets *path / *size when present.
Status parse_pax(const uint8_t* p, size_t n, const std::string& where, std::string* path, bool* has_path,
                 uint64_t* size, bool* has_size) {
  size_t pos = 0;
  while (pos < n) {
    if (p[pos] == '\0') break;  // padding
    size_t i = pos;
    uint64_t len = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
      if (len > kMaxMetaBytes) return corrupt(where + ": pax record length too large");
      len = len * 10 + (p[i] - '0');
      ++i;
    }
    if (i == pos || i >= n || p[i] != ' ' || len <= i - pos + 1 || len > n - pos)
      return corrupt(where + ": malformed pax record at byte " + std::to_string(pos));
    const size_t end = pos + static_cast<size_t>(len);  // one past the '\n'
    if (p[end - 1] != '\n')
      return corrupt(where + ": pax record at byte " + std::to_string(pos) + " lacks its newline");
    const std::string rec(reinterpret_cast<const char*>(p + i + 1), end - 1 - (i + 1));
    const size_t eq = rec.find('=');
    if (eq == std::string::npos) return corrupt(where + ": pax record without '=' at byte " + std::to_string(pos));
    const std::string key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") {
      *path = value;
      *has_path = true;
    } else if (key == "size") {
      uint64_t v = 0;
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return corrupt(where + ": pax size " + q(value) + " is not a number");
      for (char c : value) v = v * 10 + static_cast<uint64_t>(c - '0');
      *size = v;
      *has_size = true;
    }
    pos = end;
  }
  return Status::ok();
}

}  // namespace

std::string normalize_archive_path(std::string_view path) {
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view comp = path.substr(start, end - start);
    if (!comp.empty() && comp != ".") {
      if (!out.empty()) out += '/';
      out += comp;
    }
    start = end + 1;
  }
  return out;
}

Result<TarArchive> TarArchive::open(const std::string& path, const TarOptions& options) {
  LPX_ASSIGN_OR_RETURN(MmapFile map, MmapFile::open(path, options.mmap));
  auto holder = std::make_shared<MmapFile>(std::move(map));
  const uint8_t* data = holder->data();
  const size_t size = holder->size();
  return from_buffer(std::move(holder), data, size, path, options);
}

Result<TarArchive> TarArchive::from_bytes(std::vector<uint8_t> bytes, std::string name, const TarOptions& options) {
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const uint8_t* data = holder->data();
  const size_t size = holder->size();
  return from_buffer(std::move(holder), data, size, std::move(name), options);
}

Result<TarArchive> TarArchive::from_buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                           std::string name, const TarOptions& options) {
  if (data == nullptr) size = 0;
  TarArchive t;
  t.name_ = std::move(name);
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    LPX_ASSIGN_OR_RETURN(std::vector<uint8_t> raw,
                         inflate_bytes(data, size, 31, 0, options.max_decompressed_bytes, t.name_ + " (gzip)"));
    auto holder = std::make_shared<std::vector<uint8_t>>(std::move(raw));
    t.data_ = holder->data();
    t.size_ = holder->size();
    t.owner_ = std::move(holder);
    t.was_gzip_ = true;
  } else {
    t.owner_ = std::move(owner);
    t.data_ = data;
    t.size_ = size;
  }
  LPX_RETURN_IF_ERROR(t.parse());
  return t;
}

Status TarArchive::parse() {
  const std::string& f = name_;
  const uint8_t* d = data_;
  const uint64_t n = size_;
  if (n == 0) return corrupt(f + ": empty file, not a tar archive");

  uint64_t pos = 0;
  std::string long_name;  // from a GNU 'L' entry or pax "path", for the next entry
  bool has_long_name = false;
  uint64_t pax_size = 0;
  bool has_pax_size = false;
  bool first = true;
  while (pos < n) {
    const std::string at = f + ": tar header at byte " + std::to_string(pos);
    if (n - pos < kBlock) {
      if (all_zero(d + pos, static_cast<size_t>(n - pos))) break;
      return corrupt(at + ": truncated (" + std::to_string(n - pos) + " bytes left, a header needs 512)");
    }
    const uint8_t* h = d + pos;
    if (all_zero(h, kBlock)) {
      if (has_long_name || has_pax_size) return corrupt(at + ": archive ends after an extended header");
      break;  // end-of-archive marker
    }

    // Checksum: bytes 148..155 count as spaces.
    uint64_t stored_sum;
    if (!parse_number(h + 148, 8, &stored_sum))
      return corrupt(first ? f + ": not a tar archive (bad header checksum field)" : at + ": malformed checksum field");
    uint64_t usum = 0;
    int64_t ssum = 0;
    for (size_t i = 0; i < kBlock; ++i) {
      const uint8_t b = (i >= 148 && i < 156) ? ' ' : h[i];
      usum += b;
      ssum += static_cast<int8_t>(b);
    }
    if (stored_sum != usum && static_cast<int64_t>(stored_sum) != ssum)
      return corrupt((first ? f + ": not a tar archive or corrupt: header at byte 0" : at) +
                     ": checksum mismatch (stored " + std::to_string(stored_sum) + ", computed " +
                     std::to_string(usum) + ")");
    first = false;

    const char type = static_cast<char>(h[156]);
    const bool ustar = std::memcmp(h + 257, "ustar\0", 6) == 0;  // POSIX (GNU writes "ustar  \0")
    std::string raw_name = field_string(h, 100);
    if (ustar) {
      const std::string prefix = field_string(h + 345, 155);
      if (!prefix.empty()) raw_name = prefix + "/" + raw_name;
    }
    uint64_t size;
    if (!parse_number(h + 124, 12, &size)) return corrupt(at + " (" + q(raw_name) + "): malformed size field");
    if (type == 'x' || type == 'L' || type == 'K' || type == 'g') {
      // Metadata entries: the size is their own.
    } else if (has_pax_size) {
      size = pax_size;
    }
    if (has_long_name) raw_name = long_name;

    const uint64_t data_off = pos + kBlock;
    if (size > n - data_off)
      return corrupt(at + " (" + q(raw_name) + "): truncated, member needs " + std::to_string(size) +
                     " bytes but only " + std::to_string(n - data_off) + " remain");
    const uint64_t next = data_off + std::min(round_up_block(size), n - data_off);

    if (type == 'L' || type == 'x' || type == 'K' || type == 'g') {
      if (size > kMaxMetaBytes)
        return corrupt(at + ": extended header of " + std::to_string(size) + " bytes is too large");
      if (type == 'L') {
        long_name = field_string(d + data_off, static_cast<size_t>(size));
        has_long_name = true;
      } else if (type == 'x') {
        bool hp = false, hs = false;
        std::string p;
        uint64_t s = 0;
        LPX_RETURN_IF_ERROR(parse_pax(d + data_off, static_cast<size_t>(size), at, &p, &hp, &s, &hs));
        if (hp) {
          long_name = p;
          has_long_name = true;
        }
        if (hs) {
          pax_size = s;
          has_pax_size = true;
        }
      }
      pos = next;
      continue;
    }
    has_long_name = false;
    has_pax_size = false;

    if (const std::string why = unsafe_archive_path_reason(raw_name); !why.empty())
      return corrupt(at + ": unsafe member name " + q(raw_name.substr(0, 200)) + " (" + why + ")");
    const std::string name = normalize_archive_path(raw_name);

    switch (type) {
      case '0':
      case '\0':
      case '7': {
        if (name.empty()) return corrupt(at + ": regular file with an empty name");
        if (index_.count(name) || refused_.count(name)) return corrupt(at + ": duplicate member " + q(name));
        TarEntry e;
        e.name = name;
        e.size = size;
        e.data_offset = data_off;
        e.header_offset = pos;
        index_.emplace(name, entries_.size());
        entries_.push_back(std::move(e));
        break;
      }
      case '1': refused_[name] = "hard link"; break;
      case '2': refused_[name] = "symbolic link"; break;
      case 'S': refused_[name] = "GNU sparse file"; break;
      default: break;  // directories, devices, FIFOs, volume labels, unknown types: skipped
    }
    pos = next;
  }
  if (has_long_name || has_pax_size) return corrupt(f + ": archive ends after an extended header");
  return Status::ok();
}

const TarEntry* TarArchive::find(std::string_view name) const {
  auto it = index_.find(normalize_archive_path(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<std::span<const uint8_t>> TarArchive::get(std::string_view name) const {
  if (const TarEntry* e = find(name)) return data(*e);
  const std::string norm = normalize_archive_path(name);
  auto it = refused_.find(norm);
  if (it != refused_.end())
    return unsupported(name_ + ": member " + q(norm) + " is a " + it->second + "; only regular files are read");
  return not_found(name_ + ": no member " + q(norm));
}

std::span<const uint8_t> TarArchive::data(const TarEntry& entry) const {
  if (entry.data_offset > size_ || entry.size > size_ - entry.data_offset) return {};
  return std::span<const uint8_t>(data_ + entry.data_offset, static_cast<size_t>(entry.size));
}

}  // namespace lpx
