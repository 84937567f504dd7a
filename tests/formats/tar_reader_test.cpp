// Tests for the tar reader: .nemo-like fixtures (plain and gzip), GNU/pax long names, links,
// crafted malformed archives (checksum, traversal, truncation) and random corruption.
#include "formats/tar_reader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "formats/zip_reader.h"
#include "../testutil_archives.h"

namespace lpx {
namespace {

using nlohmann::json;

const std::string kDir = std::string(LPX_TESTDATA_DIR) + "/formats";

std::vector<uint8_t> to_bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

Result<TarArchive> parse(const std::string& bytes, const std::string& name = "test.tar", const TarOptions& o = {}) {
  return TarArchive::from_bytes(to_bytes(bytes), name, o);
}

using namespace testutil;  // put_octal, fix_checksum, Hdr, header, pad, member, pax_record, kEnd

// ---------------------------------------------------------------- fixtures

const json& expected() {
  static const json j = [] {
    auto text = read_file(kDir + "/expected.json");
    EXPECT_TRUE(text.is_ok()) << text.status().to_string();
    return json::parse(text.is_ok() ? *text : std::string("{}"));
  }();
  return j;
}

void check_entries(const TarArchive& tar, const json& exp) {
  ASSERT_EQ(tar.entries().size(), exp.size());
  for (const auto& [name, e] : exp.items()) {
    SCOPED_TRACE(name);
    auto span = tar.get(name);
    ASSERT_TRUE(span.is_ok()) << span.status().to_string();
    EXPECT_EQ(span->size(), e["size"].get<uint64_t>());
    EXPECT_EQ(crc32_update(0, span->data(), span->size()), e["crc32"].get<uint32_t>());
  }
}

TEST(TarArchive, NemoFixture) {
  auto tar = TarArchive::open(kDir + "/model.nemo");
  ASSERT_TRUE(tar.is_ok()) << tar.status().to_string();
  EXPECT_FALSE(tar->was_gzip());
  check_entries(*tar, expected()["tars"]["model.nemo"]);
  ASSERT_EQ(tar->entries().size(), 2u);
  EXPECT_EQ(tar->entries()[0].name, "model_config.yaml");
  EXPECT_EQ(tar->entries()[1].name, "model_weights.ckpt");
  // Lookups normalise "./".
  const TarEntry* e = tar->find("./model_weights.ckpt");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->data_offset % 512, 0u);
  auto cfg = tar->get("model_config.yaml");
  ASSERT_TRUE(cfg.is_ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(cfg->data()), 15), "precision: bf16");
  expect_error(tar->get("missing.txt").status(), StatusCode::kNotFound, {"model.nemo", "'missing.txt'"});
  // Spans outlive the archive object through owner().
  auto owner = tar->owner();
  const uint8_t* p = cfg->data();
  TarArchive moved = std::move(*tar);
  EXPECT_EQ(moved.get("model_config.yaml")->data(), p);
}

TEST(TarArchive, GzipNemoFixture) {
  auto tar = TarArchive::open(kDir + "/model_gz.nemo");
  if (!zlib_available()) {
    expect_error(tar.status(), StatusCode::kUnsupported, {"model_gz.nemo", "gzip", "zlib"});
    return;
  }
  ASSERT_TRUE(tar.is_ok()) << tar.status().to_string();
  EXPECT_TRUE(tar->was_gzip());
  check_entries(*tar, expected()["tars"]["model_gz.nemo"]);
  // The decompressed bytes stay alive through owner() after the archive is gone.
  auto cfg = tar->get("model_config.yaml");
  ASSERT_TRUE(cfg.is_ok());
  std::shared_ptr<const void> keep = tar->owner();
  const std::span<const uint8_t> s = *cfg;
  { TarArchive gone = std::move(*tar); }
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(s.data()), 9), "precision");

  TarOptions small;
  small.max_decompressed_bytes = 1000;
  expect_error(TarArchive::open(kDir + "/model_gz.nemo", small).status(), StatusCode::kResourceExhausted,
               {"model_gz.nemo", "limit"});
}

TEST(TarArchive, GnuAndPaxLongNamesAndLinks) {
  for (const std::string file : {"gnu_long.tar", "pax_long.tar"}) {
    SCOPED_TRACE(file);
    auto tar = TarArchive::open(kDir + "/" + file);
    ASSERT_TRUE(tar.is_ok()) << tar.status().to_string();
    check_entries(*tar, expected()["tars"][file]);
    EXPECT_GT(tar->entries()[0].name.size(), 100u);
    EXPECT_NE(tar->find("sub/x.bin"), nullptr);  // "./sub//x.bin" normalised
    expect_error(tar->get("link.yaml").status(), StatusCode::kUnsupported, {file, "'link.yaml'", "symbolic link"});
    expect_error(tar->get("./hard.bin").status(), StatusCode::kUnsupported, {file, "'hard.bin'", "hard link"});
  }
}

TEST(TarArchive, NormalizePath) {
  EXPECT_EQ(normalize_archive_path("./a//b/./c/"), "a/b/c");
  EXPECT_EQ(normalize_archive_path("./"), "");
  EXPECT_EQ(normalize_archive_path("././x"), "x");
  EXPECT_EQ(normalize_archive_path("x"), "x");
}

// ---------------------------------------------------------------- crafted archives

TEST(TarArchive, CraftedFormats) {
  // ustar prefix field + missing end-of-archive blocks.
  {
    auto t = parse(header({"file.txt", 3, '0', "", "some/dir", true}) + pad("abc"), "prefix.tar");
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    ASSERT_EQ(t->entries().size(), 1u);
    EXPECT_EQ(t->entries()[0].name, "some/dir/file.txt");
  }
  // v7 header (no magic): the prefix area is not used.
  {
    auto t = parse(header({"old.txt", 2, '\0', "", "ignored", false}) + pad("hi") + kEnd, "v7.tar");
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    EXPECT_EQ(t->entries()[0].name, "old.txt");
  }
  // GNU base-256 size.
  {
    std::string h = header({"b256.bin", 0, '0', "", "", true});
    std::memset(h.data() + 124, 0, 12);
    h[124] = static_cast<char>(0x80);
    h[135] = 5;
    fix_checksum(&h, 0);
    auto t = parse(h + pad("12345") + kEnd, "b256.tar");
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    EXPECT_EQ(t->entries()[0].size, 5u);
  }
  // pax path + size override; directory entries are skipped.
  {
    const std::string pax =
        pax_record("path", "./deep/pax name.txt") + pax_record("size", "4") + pax_record("mtime", "1.5");
    const std::string t = header({"PaxHeaders/x", pax.size(), 'x', "", "", true}) + pad(pax) +
                          header({"short", 999, '0', "", "", true}) + pad("data") + member("dir/", "", '5') + kEnd;
    auto r = parse(t, "pax.tar");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(r->entries().size(), 1u);
    EXPECT_EQ(r->entries()[0].name, "deep/pax name.txt");
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(r->get("deep/pax name.txt")->data()), 4), "data");
  }
  // Global pax headers are ignored.
  {
    const std::string g = pax_record("comment", "hello");
    auto r = parse(header({"g", g.size(), 'g', "", "", true}) + pad(g) + member("a.txt", "A") + kEnd, "g.tar");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->entries()[0].name, "a.txt");
  }
}

TEST(TarArchive, BadChecksum) {
  std::string t = member("a.txt", "hello") + member("b.txt", "world") + kEnd;
  {
    std::string b = t;
    b[0] = 'z';  // name changes, checksum does not
    expect_error(parse(b, "sum.tar").status(), StatusCode::kCorrupt, {"sum.tar", "checksum mismatch"});
  }
  {
    std::string b = t;
    b[1024 + 1] = 'X';  // second header
    expect_error(parse(b, "sum2.tar").status(), StatusCode::kCorrupt,
                 {"sum2.tar", "tar header at byte 1024", "checksum"});
  }
  {
    std::string b = t;
    std::memcpy(b.data() + 148, "zzzzzz", 6);
    expect_error(parse(b, "field.tar").status(), StatusCode::kCorrupt, {"field.tar", "checksum field"});
  }
}

TEST(TarArchive, PathTraversalRefused) {
  for (const std::string name : {"../evil.txt", "/etc/passwd", "./a/../../b", "a/..", "x\\y"}) {
    SCOPED_TRACE(name);
    expect_error(parse(member("ok.txt", "1") + member(name, "2") + kEnd, "trav.tar").status(), StatusCode::kCorrupt,
                 {"trav.tar", "unsafe member name"});
  }
  // Through a GNU long name and a pax path, too.
  const std::string lname = "../../" + std::string(120, 'x');
  expect_error(parse(header({"././@LongLink", lname.size() + 1, 'L', "", "", false}) + pad(lname + '\0') +
                         member("short", "1") + kEnd,
                     "gnu_trav.tar")
                   .status(),
               StatusCode::kCorrupt, {"gnu_trav.tar", "unsafe member name", "'..' component"});
  const std::string pax = pax_record("path", "/abs/path");
  expect_error(
      parse(header({"p", pax.size(), 'x', "", "", true}) + pad(pax) + member("short", "1") + kEnd, "pax_trav.tar")
          .status(),
      StatusCode::kCorrupt, {"pax_trav.tar", "absolute path"});
  // A symlink whose target escapes is listed as refused, never followed.
  auto t = parse(header({"link", 0, '2', "../../../etc/passwd", "", true}) + kEnd, "sym.tar");
  ASSERT_TRUE(t.is_ok());
  EXPECT_TRUE(t->entries().empty());
  expect_error(t->get("link").status(), StatusCode::kUnsupported, {"sym.tar", "symbolic link"});
}

TEST(TarArchive, TruncatedAndMalformed) {
  const std::string t = member("a.txt", std::string(700, 'a')) + member("b.txt", "b") + kEnd;
  // Cut inside the first member's data or inside a header.
  for (size_t len : {size_t{100}, size_t{511}, size_t{600}, size_t{1000}, size_t{1536 + 10}}) {
    SCOPED_TRACE(len);
    auto r = parse(t.substr(0, len), "trunc.tar");
    expect_error(r.status(), StatusCode::kCorrupt, {"trunc.tar", "truncated"});
  }
  // Cut exactly at a header boundary: a valid (marker-less) archive.
  auto r = parse(t.substr(0, 1536), "cut.tar");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->entries().size(), 1u);
  // Every prefix length: ok or an error naming the file, never out-of-bounds spans.
  for (size_t len = 0; len <= t.size(); ++len) {
    auto p = parse(t.substr(0, len), "prefix.tar");
    if (!p.is_ok()) {
      EXPECT_NE(p.status().message().find("prefix.tar"), std::string::npos);
      continue;
    }
    for (const auto& e : p->entries()) EXPECT_EQ(p->data(e).size(), e.size);
  }
  expect_error(parse("", "empty.tar").status(), StatusCode::kCorrupt, {"empty.tar", "empty"});
  expect_error(parse(std::string(2000, 'q'), "junk.tar").status(), StatusCode::kCorrupt,
               {"junk.tar", "not a tar archive"});
  expect_error(parse(member("a", "1") + member("a", "2") + kEnd, "dup.tar").status(), StatusCode::kCorrupt,
               {"dup.tar", "duplicate member 'a'"});
  {
    std::string h = header({"bad", 0, '0', "", "", true});
    std::memcpy(h.data() + 124, "12345678x01", 11);
    fix_checksum(&h, 0);
    expect_error(parse(h + kEnd, "size.tar").status(), StatusCode::kCorrupt, {"size.tar", "'bad'", "size field"});
  }
  {
    const std::string pax = "99 path=x\n";
    expect_error(
        parse(header({"p", pax.size(), 'x', "", "", true}) + pad(pax) + member("a", "1") + kEnd, "pax.tar").status(),
        StatusCode::kCorrupt, {"pax.tar", "malformed pax record"});
  }
  expect_error(parse(header({"././@LongLink", 5, 'L', "", "", false}) + pad("long") + kEnd, "dangling.tar").status(),
               StatusCode::kCorrupt, {"dangling.tar", "ends after an extended header"});
  // A zip is not a tar.
  auto zip = read_file(kDir + "/state_dict.pt");
  ASSERT_TRUE(zip.is_ok());
  expect_error(parse(*zip, "state_dict.pt").status(), StatusCode::kCorrupt, {"state_dict.pt", "not a tar archive"});
  expect_error(TarArchive::open(kDir + "/nope.nemo").status(), StatusCode::kNotFound, {"nope.nemo"});
}

TEST(TarArchive, CorruptGzip) {
  auto gz = read_file(kDir + "/model_gz.nemo");
  ASSERT_TRUE(gz.is_ok());
  std::string b = *gz;
  for (size_t i = 20; i < b.size() - 8; i += 7) b[i] ^= 0x33;
  auto r = parse(b, "bad.nemo");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("bad.nemo"), std::string::npos) << r.status().to_string();
  auto t = parse(gz->substr(0, gz->size() / 2), "half.nemo");
  ASSERT_FALSE(t.is_ok());
  if (zlib_available()) {
    expect_error(t.status(), StatusCode::kCorrupt, {"half.nemo", "truncated"});
  }
}

TEST(TarArchive, FuzzRandomCorruption) {
  auto raw = read_file(kDir + "/pax_long.tar");
  ASSERT_TRUE(raw.is_ok());
  const std::string crafted = member("a.txt", std::string(700, 'a')) + member("b/c.txt", "b") + kEnd;
  std::mt19937 rng(777);
  int ok = 0;
  for (int it = 0; it < 3000; ++it) {
    std::string b = (it % 2) ? *raw : crafted;
    const size_t limit = std::min<size_t>(b.size(), 3072);  // the headers live at the start
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % limit] = static_cast<char>(rng() & 0xFF);
    // Most flips break the checksum; repair it half of the time so the parser goes deeper.
    if (rng() % 2) {
      for (size_t at = 0; at + 512 <= limit; at += 512) {
        bool zero = true;
        for (size_t i = 0; i < 512 && zero; ++i) zero = b[at + i] == 0;
        if (!zero && std::memcmp(b.data() + at + 257, "ustar", 5) == 0) fix_checksum(&b, at);
      }
    }
    auto t = parse(b, "fuzz.tar");
    if (!t.is_ok()) {
      EXPECT_NE(t.status().message().find("fuzz.tar"), std::string::npos);
      continue;
    }
    ++ok;
    for (const auto& e : t->entries()) {
      auto s = t->data(e);
      ASSERT_EQ(s.size(), e.size);
      if (!s.empty()) {
        volatile uint8_t sink = s[0] ^ s[s.size() - 1];
        (void)sink;
      }
    }
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace lpx
