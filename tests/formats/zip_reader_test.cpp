// Tests for the ZIP reader: stored/ZIP64/deflate entries, zero-copy access, CRC, malformed archives.
#include "formats/zip_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/file_util.h"

namespace lpx {
namespace {

const std::string kDir = std::string(LPX_TESTDATA_DIR) + "/formats";

std::vector<uint8_t> to_bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

void put16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v & 0xFF));
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
}
void put32(std::string* s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}
void put64(std::string* s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v));
  put32(s, static_cast<uint32_t>(v >> 32));
}
void set32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
uint32_t get32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

struct Member {
  std::string name;
  std::string data;
  uint16_t flags = 0;
};

struct BuildOptions {
  bool zip64 = false;
  std::string comment;
  size_t align = 0;  // pad local extra so data starts at a multiple of this (like torch's 64)
};

// Minimal stored-entry ZIP writer for tests.
std::string build_zip(const std::vector<Member>& members, const BuildOptions& o = {}) {
  std::string out, cd;
  for (const Member& m : members) {
    const uint32_t crc = crc32_update(0, reinterpret_cast<const uint8_t*>(m.data.data()), m.data.size());
    const uint64_t off = out.size();
    size_t pad = 0;
    if (o.align) {
      const size_t base = out.size() + 30 + m.name.size() + 4;
      pad = (o.align - base % o.align) % o.align;
    }
    put32(&out, 0x04034b50);
    put16(&out, 20);
    put16(&out, m.flags);
    put16(&out, 0);
    put16(&out, 0);
    put16(&out, 0);
    put32(&out, crc);
    put32(&out, static_cast<uint32_t>(m.data.size()));
    put32(&out, static_cast<uint32_t>(m.data.size()));
    put16(&out, static_cast<uint32_t>(m.name.size()));
    put16(&out, o.align ? static_cast<uint32_t>(4 + pad) : 0);
    out += m.name;
    if (o.align) {
      put16(&out, 0x4246);  // "FB" padding field, as torch writes
      put16(&out, static_cast<uint32_t>(pad));
      out.append(pad, 'Z');
    }
    out += m.data;

    put32(&cd, 0x02014b50);
    put16(&cd, 20);
    put16(&cd, o.zip64 ? 45 : 20);
    put16(&cd, m.flags);
    put16(&cd, 0);
    put16(&cd, 0);
    put16(&cd, 0);
    put32(&cd, crc);
    put32(&cd, o.zip64 ? 0xFFFFFFFFu : static_cast<uint32_t>(m.data.size()));
    put32(&cd, o.zip64 ? 0xFFFFFFFFu : static_cast<uint32_t>(m.data.size()));
    put16(&cd, static_cast<uint32_t>(m.name.size()));
    put16(&cd, o.zip64 ? 28 : 0);
    put16(&cd, 0);
    put16(&cd, 0);
    put16(&cd, 0);
    put32(&cd, 0);
    put32(&cd, o.zip64 ? 0xFFFFFFFFu : static_cast<uint32_t>(off));
    cd += m.name;
    if (o.zip64) {
      put16(&cd, 0x0001);
      put16(&cd, 24);
      put64(&cd, m.data.size());
      put64(&cd, m.data.size());
      put64(&cd, off);
    }
  }
  const uint64_t cd_off = out.size();
  out += cd;
  if (o.zip64) {
    const uint64_t z64 = out.size();
    put32(&out, 0x06064b50);
    put64(&out, 44);
    put16(&out, 45);
    put16(&out, 45);
    put32(&out, 0);
    put32(&out, 0);
    put64(&out, members.size());
    put64(&out, members.size());
    put64(&out, cd.size());
    put64(&out, cd_off);
    put32(&out, 0x07064b50);
    put32(&out, 0);
    put64(&out, z64);
    put32(&out, 1);
  }
  put32(&out, 0x06054b50);
  put16(&out, 0);
  put16(&out, 0);
  put16(&out, o.zip64 ? 0xFFFF : static_cast<uint32_t>(members.size()));
  put16(&out, o.zip64 ? 0xFFFF : static_cast<uint32_t>(members.size()));
  put32(&out, o.zip64 ? 0xFFFFFFFFu : static_cast<uint32_t>(cd.size()));
  put32(&out, o.zip64 ? 0xFFFFFFFFu : static_cast<uint32_t>(cd_off));
  put16(&out, static_cast<uint32_t>(o.comment.size()));
  out += o.comment;
  return out;
}

// Offset of the central directory recorded in a non-ZIP64 archive without comment.
size_t cd_offset(const std::string& zip) { return get32(zip, zip.size() - 22 + 16); }

void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

Result<ZipReader> parse(const std::string& bytes, const std::string& name = "test.zip") {
  return ZipReader::from_bytes(to_bytes(bytes), name);
}

TEST(Crc32, KnownVectors) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32_update(0, reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xCBF43926u);
  EXPECT_EQ(crc32_update(0, nullptr, 0), 0u);
  // Incremental == one shot, across the 8-byte fast path.
  std::string big(1000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  const auto* p = reinterpret_cast<const uint8_t*>(big.data());
  EXPECT_EQ(crc32_update(crc32_update(0, p, 333), p + 333, 667), crc32_update(0, p, 1000));
}

TEST(ArchivePath, UnsafeReasons) {
  EXPECT_EQ(unsafe_archive_path_reason("a/b/c.txt"), "");
  EXPECT_EQ(unsafe_archive_path_reason("./a"), "");
  EXPECT_EQ(unsafe_archive_path_reason("a..b/c"), "");
  EXPECT_NE(unsafe_archive_path_reason(""), "");
  EXPECT_NE(unsafe_archive_path_reason("/etc/passwd"), "");
  EXPECT_NE(unsafe_archive_path_reason("../x"), "");
  EXPECT_NE(unsafe_archive_path_reason("a/../../x"), "");
  EXPECT_NE(unsafe_archive_path_reason("a/.."), "");
  EXPECT_NE(unsafe_archive_path_reason("C:/x"), "");
  EXPECT_NE(unsafe_archive_path_reason("a\\b"), "");
  EXPECT_NE(unsafe_archive_path_reason(std::string("a\0b", 3)), "");
}

TEST(ZipReader, StoredEntriesZeroCopy) {
  const std::string zip = build_zip({{"a/data.pkl", "hello"}, {"a/data/0", std::string(100, 'x')}, {"a/empty", ""}},
                                    {.zip64 = false, .comment = "", .align = 64});
  auto r = parse(zip);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->entries().size(), 3u);
  EXPECT_EQ(r->entries()[0].name, "a/data.pkl");
  const ZipEntry* e = r->find("a/data/0");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->data_offset % 64, 0u);
  auto span = r->stored_data(*e);
  ASSERT_TRUE(span.is_ok());
  EXPECT_EQ(span->size(), 100u);
  EXPECT_EQ(span->data(), r->data() + e->data_offset);  // points into the archive
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(span->data()), span->size()), std::string(100, 'x'));
  for (const auto& ent : r->entries()) EXPECT_TRUE(r->verify_crc(ent).is_ok());
  auto copy = r->read(*r->find("a/data.pkl"));
  ASSERT_TRUE(copy.is_ok());
  EXPECT_EQ(std::string(copy->begin(), copy->end()), "hello");
  EXPECT_EQ(r->find("a/data/1"), nullptr);
  auto empty = r->stored_data(*r->find("a/empty"));
  ASSERT_TRUE(empty.is_ok());
  EXPECT_EQ(empty->size(), 0u);
  // read() honours max_bytes.
  expect_error(r->read(*e, 10).status(), StatusCode::kResourceExhausted, {"test.zip", "a/data/0"});
}

TEST(ZipReader, CommentAndZip64) {
  auto r = parse(
      build_zip({{"x/y", "abc"}, {"x/z", "defg"}}, {.zip64 = false, .comment = "a comment PK\x05\x06", .align = 0}));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->entries().size(), 2u);

  auto z = parse(build_zip({{"x/y", "abc"}, {"x/z", "defg"}}, {.zip64 = true, .comment = "", .align = 0}));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  ASSERT_EQ(z->entries().size(), 2u);
  const ZipEntry* e = z->find("x/z");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->uncompressed_size, 4u);
  auto span = z->stored_data(*e);
  ASSERT_TRUE(span.is_ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(span->data()), span->size()), "defg");
  EXPECT_TRUE(z->verify_crc(*e).is_ok());
}

TEST(ZipReader, OpensTorchSaveFile) {
  auto r = ZipReader::open(kDir + "/state_dict.pt");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_NE(r->find("state_dict/data.pkl"), nullptr);
  ASSERT_NE(r->find("state_dict/version"), nullptr);
  for (const auto& e : r->entries()) {
    EXPECT_EQ(e.method, 0) << e.name;
    EXPECT_TRUE(r->verify_crc(e).is_ok()) << e.name;
    if (e.name.rfind("state_dict/data/", 0) == 0) {
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;  // torch aligns storages
    }
  }
  EXPECT_EQ(r->name(), kDir + "/state_dict.pt");
}

TEST(ZipReader, DeflatedEntries) {
  auto r = ZipReader::open(kDir + "/deflated.pt");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ZipEntry* e = r->find("archive/data.pkl");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->method, 8);
  expect_error(r->stored_data(*e).status(), StatusCode::kUnsupported,
               {"deflated.pt", "archive/data.pkl", "compressed"});
  auto bytes = r->read(*e);
  if (zlib_available()) {
    ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    EXPECT_EQ(bytes->size(), e->uncompressed_size);
    EXPECT_EQ((*bytes)[0], 0x80);  // pickle PROTO
    EXPECT_TRUE(r->verify_crc(*e).is_ok());
  } else {
    expect_error(bytes.status(), StatusCode::kUnsupported, {"deflated.pt", "zlib"});
  }
}

TEST(ZipReader, CorruptDeflateStream) {
  if (!zlib_available()) GTEST_SKIP() << "built without zlib";
  auto raw = read_file(kDir + "/deflated.pt");
  ASSERT_TRUE(raw.is_ok());
  auto r = ZipReader::open(kDir + "/deflated.pt");
  ASSERT_TRUE(r.is_ok());
  const ZipEntry* e = r->find("archive/data.pkl");
  std::string bad = *raw;
  for (size_t i = 0; i < e->compressed_size; i += 3) bad[e->data_offset + i] ^= 0x5A;
  auto r2 = parse(bad, "bad_deflate.zip");
  ASSERT_TRUE(r2.is_ok());
  auto bytes = r2->read(*r2->find("archive/data.pkl"));
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_NE(bytes.status().message().find("bad_deflate.zip"), std::string::npos) << bytes.status().to_string();
}

TEST(ZipReader, CrcMismatchDetected) {
  std::string zip = build_zip({{"a/b", "payload"}});
  zip[30 + 3] ^= 1;  // flip a data byte (local header 30 + name 3)
  auto r = parse(zip, "crc.zip");
  ASSERT_TRUE(r.is_ok());
  expect_error(r->verify_crc(r->entries()[0]), StatusCode::kCorrupt, {"crc.zip", "a/b", "CRC"});
}

TEST(ZipReader, NotAZip) {
  expect_error(parse("", "e.zip").status(), StatusCode::kCorrupt, {"e.zip", "too short"});
  expect_error(parse(std::string(100, 'x'), "x.zip").status(), StatusCode::kCorrupt,
               {"x.zip", "no end-of-central-directory"});
  expect_error(ZipReader::open(kDir + "/does_not_exist.zip").status(), StatusCode::kNotFound, {"does_not_exist.zip"});
}

TEST(ZipReader, TruncatedArchivesFail) {
  const std::string zip = build_zip({{"a/data.pkl", std::string(50, 'p')}, {"a/data/0", std::string(200, 'd')}});
  for (size_t len = 0; len < zip.size(); ++len) {
    auto r = parse(zip.substr(0, len), "trunc.zip");
    EXPECT_FALSE(r.is_ok()) << "length " << len;
    if (!r.is_ok()) {
      EXPECT_NE(r.status().message().find("trunc.zip"), std::string::npos);
    }
  }
  // The real torch file, cut at a few places.
  auto raw = read_file(kDir + "/state_dict.pt");
  ASSERT_TRUE(raw.is_ok());
  for (size_t len : {size_t{0}, size_t{10}, raw->size() / 2, raw->size() - 23, raw->size() - 1}) {
    EXPECT_FALSE(parse(raw->substr(0, len), "cut.pt").is_ok()) << len;
  }
}

TEST(ZipReader, BadCentralDirectory) {
  const std::string zip = build_zip({{"a/x", "1234"}, {"a/y", "5678"}});
  const size_t cd = cd_offset(zip);
  {
    std::string b = zip;
    b[cd] = 'Q';  // signature
    expect_error(parse(b, "cd.zip").status(), StatusCode::kCorrupt,
                 {"cd.zip", "central directory entry 0", "signature"});
  }
  {
    std::string b = zip;
    set32(&b, b.size() - 22 + 16, static_cast<uint32_t>(b.size() + 100));  // cd offset past the end
    expect_error(parse(b, "cd.zip").status(), StatusCode::kCorrupt, {"cd.zip", "outside the file"});
  }
  {
    std::string b = zip;
    b[b.size() - 22 + 10] = 50;  // 50 entries announced
    b[b.size() - 22 + 8] = 50;
    expect_error(parse(b, "cd.zip").status(), StatusCode::kCorrupt, {"cd.zip", "50 entries"});
  }
  {
    std::string b = zip;
    b[b.size() - 22 + 4] = 1;  // disk number
    expect_error(parse(b, "cd.zip").status(), StatusCode::kUnsupported, {"cd.zip", "multi-disk"});
  }
}

TEST(ZipReader, EntryOutOfRange) {
  const std::string zip = build_zip({{"a/x", "1234"}, {"a/y", "5678"}});
  const size_t cd = cd_offset(zip);
  {
    std::string b = zip;
    set32(&b, cd + 42, 1u << 30);  // local header offset
    expect_error(parse(b, "r.zip").status(), StatusCode::kCorrupt, {"r.zip", "'a/x'", "local header offset"});
  }
  {
    std::string b = zip;
    set32(&b, cd + 20, 1u << 20);  // compressed size
    set32(&b, cd + 24, 1u << 20);  // uncompressed size
    expect_error(parse(b, "r.zip").status(), StatusCode::kCorrupt, {"r.zip", "'a/x'", "extends past"});
  }
  {
    std::string b = zip;
    set32(&b, cd + 20, 3);  // stored with csize != usize
    expect_error(parse(b, "r.zip").status(), StatusCode::kCorrupt, {"r.zip", "'a/x'", "stored entry"});
  }
  {
    std::string b = zip;
    b[0] = 'X';  // local header signature
    expect_error(parse(b, "r.zip").status(), StatusCode::kCorrupt, {"r.zip", "'a/x'", "local header signature"});
  }
  {
    std::string b = zip;
    b[30] = 'b';  // local name differs
    expect_error(parse(b, "r.zip").status(), StatusCode::kCorrupt, {"r.zip", "different file"});
  }
}

TEST(ZipReader, UnsafeAndDuplicateNames) {
  for (const std::string name : {"../evil", "/abs/path", "a/../../b", "C:/win", "a\\b"}) {
    auto r = parse(build_zip({{name, "x"}}), "names.zip");
    expect_error(r.status(), StatusCode::kCorrupt, {"names.zip", "unsafe member name"});
  }
  expect_error(parse(build_zip({{"a/x", "1"}, {"a/x", "2"}}), "dup.zip").status(), StatusCode::kCorrupt,
               {"dup.zip", "'a/x'", "duplicate"});
  expect_error(parse(build_zip({{"a/x", "1", 1}}), "enc.zip").status(), StatusCode::kUnsupported,
               {"enc.zip", "encrypted"});
}

TEST(ZipReader, RandomCorruptionNeverCrashes) {
  const std::string zip = build_zip(
      {{"a/data.pkl", std::string(300, 'p')}, {"a/data/0", std::string(500, 'd')}, {"a/data/1", std::string(64, 'e')}},
      {.zip64 = false, .comment = "", .align = 64});
  const std::string zip64 =
      build_zip({{"a/q", std::string(100, 'q')}, {"a/r", "rr"}}, {.zip64 = true, .comment = "", .align = 0});
  std::mt19937 rng(1234);
  int ok = 0;
  for (int it = 0; it < 4000; ++it) {
    std::string b = (it % 2) ? zip : zip64;
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < flips; ++k) {
      // Bias towards the structured tail (central directory + EOCD).
      const size_t pos = (rng() % 2) ? b.size() - 1 - rng() % std::min<size_t>(b.size(), 200) : rng() % b.size();
      b[pos] = static_cast<char>(rng() & 0xFF);
    }
    auto r = parse(b, "fuzz.zip");
    if (!r.is_ok()) continue;
    ++ok;
    for (const auto& e : r->entries()) {
      ASSERT_LE(e.data_offset + e.compressed_size, r->size());
      auto s = r->stored_data(e);
      if (s.is_ok()) {
        ASSERT_TRUE(s->size() == 0 || (s->data() >= r->data() && s->data() + s->size() <= r->data() + r->size()));
      }
      (void)r->verify_crc(e);
    }
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace lpx
