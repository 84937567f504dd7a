// ZIP reader implementation: EOCD / ZIP64 / central directory / local header parsing, CRC-32, inflate.
#include "formats/zip_reader.h"

#include <algorithm>
#include <cstring>

#include <zlib.h>

namespace lpx {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EocdSize = 56;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t rd64(const uint8_t* p) { return static_cast<uint64_t>(rd32(p)) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }

// [off, off + len) inside [0, size)?
bool in_range(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

// 'text' (built by appends: GCC 12 warns falsely on "'" + std::string + "'").
std::string q(std::string_view s) {
  std::string r;
  r.reserve(s.size() + 2);
  r += '\'';
  r.append(s);
  r += '\'';
  return r;
}

}  // namespace

bool zlib_available() { return true; }

// zlib's CRC-32 (the same polynomial ZIP and gzip use); crc32_z takes a size_t length.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size) {
  if (size == 0) return crc;
  return static_cast<uint32_t>(crc32_z(crc, data, size));
}

std::string unsafe_archive_path_reason(std::string_view path) {
  if (path.empty()) return "empty name";
  if (path.find('\0') != std::string_view::npos) return "NUL byte in name";
  if (path.find('\\') != std::string_view::npos) return "backslash in name";
  if (path.front() == '/') return "absolute path";
  if (path.size() >= 2 && path[1] == ':' && ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')))
    return "absolute (drive-letter) path";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return "'..' component";
    start = end + 1;
  }
  return "";
}

Result<std::vector<uint8_t>> inflate_bytes(const uint8_t* data, size_t size, int window_bits, uint64_t expected_size,
                                           uint64_t max_out, const std::string& what) {
  const bool gzip = window_bits > 15;
  std::vector<uint8_t> out;
  if (expected_size > 0 && expected_size <= max_out && expected_size < (1ull << 32)) out.reserve(expected_size);
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, window_bits) != Z_OK) return internal_error(what + ": inflateInit2 failed");
  struct Closer {
    z_stream* z;
    ~Closer() { inflateEnd(z); }
  } closer{&zs};

  size_t in_pos = 0;
  constexpr size_t kChunk = 1u << 30;  // zlib counts in 32-bit uInt
  std::vector<uint8_t> tmp(1u << 16);
  for (;;) {
    if (zs.avail_in == 0 && in_pos < size) {
      const size_t n = std::min(kChunk, size - in_pos);
      zs.next_in = const_cast<Bytef*>(data + in_pos);
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    zs.next_out = tmp.data();
    zs.avail_out = static_cast<uInt>(tmp.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = tmp.size() - zs.avail_out;
    if (produced > 0) {
      if (out.size() + produced > max_out)
        return resource_exhausted(what + ": decompressed data exceeds the limit of " + std::to_string(max_out) +
                                  " bytes");
      out.insert(out.end(), tmp.data(), tmp.data() + produced);
    }
    if (rc == Z_STREAM_END) {
      if (!gzip) break;
      // Another gzip member may follow; zero padding is tolerated.
      const size_t consumed = in_pos - zs.avail_in;
      const uint8_t* rest = data + consumed;
      const size_t rest_n = size - consumed;
      if (rest_n == 0) break;
      if (std::all_of(rest, rest + rest_n, [](uint8_t b) { return b == 0; })) break;
      if (rest_n < 2 || rest[0] != 0x1f || rest[1] != 0x8b)
        return corrupt(what + ": trailing garbage after the gzip stream at byte " + std::to_string(consumed));
      if (inflateReset(&zs) != Z_OK) return internal_error(what + ": inflateReset failed");
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      if (zs.avail_in == 0 && in_pos >= size) return corrupt(what + ": compressed stream is truncated");
      continue;
    }
    if (rc != Z_OK) {
      return corrupt(what + ": invalid compressed data (zlib: " + (zs.msg ? zs.msg : std::to_string(rc)) + ")");
    }
    if (zs.avail_in == 0 && in_pos >= size && produced == 0) return corrupt(what + ": compressed stream is truncated");
  }
  return out;
}

Result<ZipReader> ZipReader::open(const std::string& path, const MmapOptions& options) {
  LPX_ASSIGN_OR_RETURN(MmapFile map, MmapFile::open(path, options));
  auto holder = std::make_shared<MmapFile>(std::move(map));
  const uint8_t* data = holder->data();
  const size_t size = holder->size();
  return from_buffer(std::move(holder), data, size, path);
}

Result<ZipReader> ZipReader::from_buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                         std::string name) {
  ZipReader r;
  r.name_ = std::move(name);
  r.owner_ = std::move(owner);
  r.data_ = data;
  r.size_ = data == nullptr ? 0 : size;
  LPX_RETURN_IF_ERROR(r.parse());
  return r;
}

Result<ZipReader> ZipReader::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const uint8_t* data = holder->data();
  const size_t size = holder->size();
  return from_buffer(std::move(holder), data, size, std::move(name));
}

Status ZipReader::parse() {
  const std::string& f = name_;
  const uint8_t* d = data_;
  const uint64_t n = size_;
  if (n < kEocdSize) return corrupt(f + ": not a zip archive (too short: " + std::to_string(n) + " bytes)");

  // End of central directory: scan backwards over a possible comment (at most 65535 bytes).
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = n - kEocdSize > 65535 ? n - kEocdSize - 65535 : 0;
  for (uint64_t i = n - kEocdSize + 1; i-- > lowest;) {
    if (rd32(d + i) == kEocdSig && i + kEocdSize + rd16(d + i + 20) <= n) {
      eocd = i;
      break;
    }
  }
  if (eocd == UINT64_MAX) return corrupt(f + ": not a zip archive (no end-of-central-directory record)");
  const uint8_t* e = d + eocd;
  uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6);
  uint64_t count_disk = rd16(e + 8), count = rd16(e + 10);
  uint64_t cd_size = rd32(e + 12), cd_offset = rd32(e + 16);
  uint64_t cd_end_limit = eocd;  // the central directory ends before this

  const bool needs64 = count_disk == 0xFFFF || count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu ||
                       disk == 0xFFFF || cd_disk == 0xFFFF;
  const bool has_locator = eocd >= kZip64LocatorSize && rd32(d + eocd - kZip64LocatorSize) == kZip64LocatorSig;
  if (needs64 && !has_locator)
    return corrupt(f + ": end-of-central-directory needs ZIP64 values but there is no ZIP64 locator");
  if (has_locator) {
    const uint8_t* loc = d + eocd - kZip64LocatorSize;
    const uint64_t z64 = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1) return unsupported(f + ": multi-disk zip archives are not supported");
    if (!in_range(z64, kZip64EocdSize, eocd - kZip64LocatorSize))
      return corrupt(f + ": ZIP64 end-of-central-directory offset " + std::to_string(z64) + " is out of range");
    const uint8_t* z = d + z64;
    if (rd32(z) != kZip64EocdSig) return corrupt(f + ": bad ZIP64 end-of-central-directory signature");
    disk = rd32(z + 16);
    cd_disk = rd32(z + 20);
    count_disk = rd64(z + 24);
    count = rd64(z + 32);
    cd_size = rd64(z + 40);
    cd_offset = rd64(z + 48);
    cd_end_limit = z64;
  }
  if (disk != 0 || cd_disk != 0 || count_disk != count)
    return unsupported(f + ": multi-disk zip archives are not supported");
  if (!in_range(cd_offset, cd_size, cd_end_limit))
    return corrupt(f + ": central directory (offset " + std::to_string(cd_offset) + ", size " +
                   std::to_string(cd_size) + ") lies outside the file (" + std::to_string(n) + " bytes)");
  if (count > cd_size / kCentralSize)
    return corrupt(f + ": central directory announces " + std::to_string(count) + " entries but is only " +
                   std::to_string(cd_size) + " bytes");

  entries_.clear();
  index_.clear();
  entries_.reserve(static_cast<size_t>(count));
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string where = f + ": central directory entry " + std::to_string(i);
    if (!in_range(pos, kCentralSize, cd_end)) return corrupt(where + " is truncated");
    const uint8_t* c = d + pos;
    if (rd32(c) != kCentralSig) return corrupt(where + ": bad signature");
    ZipEntry ent;
    ent.flags = rd16(c + 8);
    ent.method = rd16(c + 10);
    ent.crc32 = rd32(c + 16);
    ent.compressed_size = rd32(c + 20);
    ent.uncompressed_size = rd32(c + 24);
    const uint64_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    uint64_t disk_start = rd16(c + 34);
    ent.local_header_offset = rd32(c + 42);
    if (!in_range(pos + kCentralSize, name_len + extra_len + comment_len, cd_end))
      return corrupt(where + ": name/extra/comment run past the central directory");
    ent.name.assign(reinterpret_cast<const char*>(c + kCentralSize), name_len);
    const std::string ewhere = f + ": entry " + q(ent.name);

    // ZIP64 extended information extra field.
    const uint8_t* x = c + kCentralSize + name_len;
    uint64_t xpos = 0;
    while (xpos + 4 <= extra_len) {
      const uint16_t id = rd16(x + xpos), len = rd16(x + xpos + 2);
      if (xpos + 4 + len > extra_len) return corrupt(ewhere + ": extra field runs past its record");
      if (id == 0x0001) {
        const uint8_t* v = x + xpos + 4;
        uint64_t used = 0;
        auto take = [&](uint64_t* field, uint64_t width) -> bool {
          if (used + width > len) return false;
          *field = width == 8 ? rd64(v + used) : rd32(v + used);
          used += width;
          return true;
        };
        if (ent.uncompressed_size == 0xFFFFFFFFu && !take(&ent.uncompressed_size, 8))
          return corrupt(ewhere + ": ZIP64 extra field too short");
        if (ent.compressed_size == 0xFFFFFFFFu && !take(&ent.compressed_size, 8))
          return corrupt(ewhere + ": ZIP64 extra field too short");
        if (ent.local_header_offset == 0xFFFFFFFFu && !take(&ent.local_header_offset, 8))
          return corrupt(ewhere + ": ZIP64 extra field too short");
        if (disk_start == 0xFFFF && !take(&disk_start, 4)) return corrupt(ewhere + ": ZIP64 extra field too short");
      }
      xpos += 4 + len;
    }
    pos += kCentralSize + name_len + extra_len + comment_len;

    if (disk_start != 0) return unsupported(ewhere + ": multi-disk zip archives are not supported");
    if (const std::string why = unsafe_archive_path_reason(ent.name); !why.empty())
      return corrupt(ewhere + ": unsafe member name (" + why + ")");
    if (ent.flags & 0x0001) return unsupported(ewhere + ": encrypted zip entries are not supported");
    if (ent.method == 0 && ent.compressed_size != ent.uncompressed_size)
      return corrupt(ewhere + ": stored entry with compressed size " + std::to_string(ent.compressed_size) +
                     " != uncompressed size " + std::to_string(ent.uncompressed_size));

    // Local header.
    if (!in_range(ent.local_header_offset, kLocalSize, cd_offset))
      return corrupt(ewhere + ": local header offset " + std::to_string(ent.local_header_offset) + " is out of range");
    const uint8_t* l = d + ent.local_header_offset;
    if (rd32(l) != kLocalSig) return corrupt(ewhere + ": bad local header signature");
    const uint64_t lname_len = rd16(l + 26), lextra_len = rd16(l + 28);
    if (!in_range(ent.local_header_offset + kLocalSize, lname_len + lextra_len, cd_offset))
      return corrupt(ewhere + ": local header runs past the central directory");
    if (lname_len != name_len || std::memcmp(l + kLocalSize, ent.name.data(), name_len) != 0)
      return corrupt(ewhere + ": local header names a different file");
    ent.data_offset = ent.local_header_offset + kLocalSize + lname_len + lextra_len;
    if (!in_range(ent.data_offset, ent.compressed_size, cd_offset))
      return corrupt(ewhere + ": data (offset " + std::to_string(ent.data_offset) + ", " +
                     std::to_string(ent.compressed_size) + " bytes) extends past the end of the entry area (" +
                     std::to_string(cd_offset) + " bytes)");

    if (!index_.emplace(ent.name, entries_.size()).second) return corrupt(ewhere + ": duplicate entry name");
    entries_.push_back(std::move(ent));
  }
  return Status::ok();
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<std::span<const uint8_t>> ZipReader::stored_data(const ZipEntry& entry) const {
  if (entry.method != 0)
    return unsupported(name_ + ": entry " + q(entry.name) + " is compressed (method " + std::to_string(entry.method) +
                       "); only stored entries can be read without copying");
  // Offsets were validated at open; entry must be one of ours.
  if (!in_range(entry.data_offset, entry.compressed_size, size_))
    return internal_error(name_ + ": entry " + q(entry.name) + " does not belong to this archive");
  return std::span<const uint8_t>(data_ + entry.data_offset, static_cast<size_t>(entry.compressed_size));
}

Result<std::vector<uint8_t>> ZipReader::read(const ZipEntry& entry, uint64_t max_bytes) const {
  const std::string where = name_ + ": entry " + q(entry.name);
  if (entry.uncompressed_size > max_bytes)
    return resource_exhausted(where + ": " + std::to_string(entry.uncompressed_size) + " bytes exceeds the limit of " +
                              std::to_string(max_bytes));
  if (!in_range(entry.data_offset, entry.compressed_size, size_))
    return internal_error(where + " does not belong to this archive");
  const uint8_t* src = data_ + entry.data_offset;
  if (entry.method == 0) return std::vector<uint8_t>(src, src + entry.compressed_size);
  if (entry.method != 8)
    return unsupported(where + ": compression method " + std::to_string(entry.method) +
                       " is not supported (only stored and deflate)");
  LPX_ASSIGN_OR_RETURN(std::vector<uint8_t> out,
                       inflate_bytes(src, static_cast<size_t>(entry.compressed_size), -15, entry.uncompressed_size,
                                     entry.uncompressed_size, where));
  if (out.size() != entry.uncompressed_size)
    return corrupt(where + ": inflated to " + std::to_string(out.size()) + " bytes, expected " +
                   std::to_string(entry.uncompressed_size));
  if (crc32_update(0, out.data(), out.size()) != entry.crc32) return corrupt(where + ": CRC-32 mismatch");
  return out;
}

Status ZipReader::verify_crc(const ZipEntry& entry) const {
  if (entry.method != 0) return read(entry).status();  // read() checks the CRC
  LPX_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes, stored_data(entry));
  if (crc32_update(0, bytes.data(), bytes.size()) != entry.crc32)
    return corrupt(name_ + ": entry " + q(entry.name) + ": CRC-32 mismatch (data is corrupt)");
  return Status::ok();
}

}  // namespace lpx
