// Tests for MmapFile, the safetensors reader (single files, sharded checkpoints) and writer.
#include "formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/file_util.h"
#include "core/mmap_file.h"
#include "testing/safetensors_writer.h"

namespace lpx {
namespace {

namespace fs = std::filesystem;

// A fresh temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lpx_st_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// Expects a non-ok status whose message contains every needle.
void expect_error(const Status& s, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
}

std::string write_raw(const TempDir& d, const std::string& name, const std::string& header, const std::string& data) {
  const std::string path = d.file(name);
  EXPECT_TRUE(write_binary_file(path, safetensors_raw_bytes(header, data)).is_ok());
  return path;
}

// ---------------- MmapFile ----------------

TEST(MmapFile, MapsWholeFileAndMoves) {
  TempDir d;
  const std::string bytes = random_bytes(10000, 1);
  ASSERT_TRUE(write_binary_file(d.file("a.bin"), bytes).is_ok());
  MmapOptions opts;
  opts.will_need = true;
  opts.huge_pages = true;  // best effort: must not make open fail
  auto m = MmapFile::open(d.file("a.bin"), opts);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  ASSERT_EQ(m->size(), bytes.size());
  EXPECT_EQ(std::memcmp(m->data(), bytes.data(), bytes.size()), 0);
  EXPECT_TRUE(m->advise(MmapFile::Advice::kSequential).is_ok());
  EXPECT_TRUE(m->advise(MmapFile::Advice::kWillNeed, 5000, 100).is_ok());
  const uint8_t* p = m->data();
  MmapFile moved = std::move(m).value();
  EXPECT_EQ(moved.data(), p);
  MmapFile assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.data(), p);
  EXPECT_EQ(moved.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(assigned.path(), d.file("a.bin"));
}

TEST(MmapFile, ZeroLengthFile) {
  TempDir d;
  ASSERT_TRUE(write_binary_file(d.file("empty"), "").is_ok());
  auto m = MmapFile::open(d.file("empty"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->size(), 0u);
  EXPECT_EQ(m->data(), nullptr);
  EXPECT_TRUE(m->empty());
  EXPECT_TRUE(m->advise(MmapFile::Advice::kWillNeed).is_ok());
}

TEST(MmapFile, ErrorsNameThePath) {
  TempDir d;
  auto missing = MmapFile::open(d.file("nope.bin"));
  expect_error(missing.status(), StatusCode::kNotFound, {d.file("nope.bin")});
  auto dir = MmapFile::open(d.path());
  expect_error(dir.status(), StatusCode::kInvalidArgument, {d.path(), "not a regular file"});
}

// ---------------- SafetensorsFile ----------------

TEST(Safetensors, WriterReaderRoundTrip) {
  TempDir d;
  SafetensorsWriter w;
  const std::string f32 = random_bytes(3 * 5 * 4, 2);
  const std::string f16 = random_bytes(7 * 2, 3);
  const std::string bf16 = random_bytes(2 * 3 * 4 * 2, 4);
  const std::string i8 = random_bytes(9, 5);
  ASSERT_TRUE(w.add("b.f32", DType::kF32, {3, 5}, f32.data(), f32.size()).is_ok());
  ASSERT_TRUE(w.add("a.f16", DType::kF16, {7}, f16.data(), f16.size()).is_ok());
  ASSERT_TRUE(w.add_borrowed("c.bf16", DType::kBF16, {2, 3, 4}, bf16.data(), bf16.size()).is_ok());
  ASSERT_TRUE(w.add("d.i8", DType::kI8, {9}, i8.data(), i8.size()).is_ok());
  ASSERT_TRUE(w.add_f32_as("e.scalar", DType::kBF16, {}, {1.5f}).is_ok());
  ASSERT_TRUE(w.add("f.empty", DType::kF32, {0, 4}, nullptr, 0).is_ok());
  w.set_metadata("format", "pt");
  ASSERT_TRUE(w.write(d.file("m.safetensors")).is_ok());
  EXPECT_FALSE(fs::exists(d.file("m.safetensors.tmp")));

  auto r = SafetensorsFile::open(d.file("m.safetensors"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const SafetensorsFile& f = *r;
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a.f16", "b.f32", "c.bf16", "d.i8", "e.scalar", "f.empty"}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  struct Expect {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    const std::string* bytes;
  };
  for (const Expect& e : {Expect{"b.f32", DType::kF32, {3, 5}, &f32}, Expect{"a.f16", DType::kF16, {7}, &f16},
                          Expect{"c.bf16", DType::kBF16, {2, 3, 4}, &bf16}, Expect{"d.i8", DType::kI8, {9}, &i8}}) {
    const TensorView* v = f.find(e.name);
    ASSERT_NE(v, nullptr) << e.name;
    EXPECT_EQ(v->name, e.name);
    EXPECT_EQ(v->dtype, e.dtype);
    EXPECT_EQ(v->shape, e.shape);
    ASSERT_EQ(v->nbytes, e.bytes->size());
    EXPECT_EQ(std::memcmp(v->data, e.bytes->data(), v->nbytes), 0) << e.name;
    EXPECT_TRUE(v->aligned()) << e.name;
  }
  const TensorView* s = f.find("e.scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->numel(), 1);
  uint16_t b;
  std::memcpy(&b, s->data, 2);
  EXPECT_EQ(bf16_to_f32(b), 1.5f);
  const TensorView* z = f.find("f.empty");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->numel(), 0);
  EXPECT_EQ(z->nbytes, 0u);
  EXPECT_EQ(f.find("missing"), nullptr);
  expect_error(f.get("missing").status(), StatusCode::kNotFound, {d.file("m.safetensors"), "'missing'"});

  // serialize() gives the same bytes as write().
  auto text = read_file(d.file("m.safetensors"));
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ(*text, w.serialize());
  uint64_t hlen;
  std::memcpy(&hlen, text->data(), 8);
  EXPECT_EQ(hlen % 8, 0u);  // header padded
}

TEST(Safetensors, EmptyCheckpointAndHeaderOnly) {
  TempDir d;
  SafetensorsWriter w;
  ASSERT_TRUE(w.write(d.file("e.safetensors")).is_ok());
  auto r = SafetensorsFile::open(d.file("e.safetensors"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->names().empty());
}

TEST(Safetensors, WriterRejectsBadInput) {
  SafetensorsWriter w;
  float x[4] = {};
  ASSERT_TRUE(w.add("t", DType::kF32, {4}, x, sizeof x).is_ok());
  expect_error(w.add("t", DType::kF32, {4}, x, sizeof x), StatusCode::kInvalidArgument, {"duplicate", "'t'"});
  expect_error(w.add("u", DType::kF32, {5}, x, sizeof x), StatusCode::kInvalidArgument, {"'u'", "16 bytes", "20"});
  expect_error(w.add("v", DType::kF16, {-1}, x, 0), StatusCode::kInvalidArgument, {"'v'", "negative"});
  // In-memory layouts made at load are not file dtypes.
  expect_error(w.add("q", DType::kQ8, {4}, x, 4), StatusCode::kInvalidArgument, {"'q'", "q8", "in-memory"});
  expect_error(w.add("p", DType::kBF16I16, {2}, x, 4), StatusCode::kInvalidArgument, {"'p'", "bf16x16"});
}

TEST(Safetensors, TooSmallFiles) {
  TempDir d;
  ASSERT_TRUE(write_binary_file(d.file("zero.safetensors"), "").is_ok());
  expect_error(SafetensorsFile::open(d.file("zero.safetensors")).status(), StatusCode::kCorrupt,
               {d.file("zero.safetensors"), "0 bytes"});
  ASSERT_TRUE(write_binary_file(d.file("five.safetensors"), "abcde").is_ok());
  expect_error(SafetensorsFile::open(d.file("five.safetensors")).status(), StatusCode::kCorrupt,
               {d.file("five.safetensors"), "5 bytes"});
}

TEST(Safetensors, HeaderLengthChecks) {
  TempDir d;
  // Length field larger than the file.
  std::string bytes = safetensors_raw_bytes("{}", "");
  bytes[0] = 100;
  ASSERT_TRUE(write_binary_file(d.file("long.safetensors"), bytes).is_ok());
  expect_error(SafetensorsFile::open(d.file("long.safetensors")).status(), StatusCode::kCorrupt,
               {d.file("long.safetensors"), "header length 100", "past the end"});
  // Length field above the 100 MB sanity limit.
  std::string huge(8, '\0');
  const uint64_t len = 200ull * 1000 * 1000;
  std::memcpy(huge.data(), &len, 8);
  huge += "{}";
  ASSERT_TRUE(write_binary_file(d.file("huge.safetensors"), huge).is_ok());
  expect_error(SafetensorsFile::open(d.file("huge.safetensors")).status(), StatusCode::kCorrupt,
               {d.file("huge.safetensors"), "limit"});
}

TEST(Safetensors, HeaderMustBeJsonObject) {
  TempDir d;
  auto p1 = write_raw(d, "bad.safetensors", "{\"a\": [", "");
  expect_error(SafetensorsFile::open(p1).status(), StatusCode::kCorrupt, {p1, "not valid JSON"});
  auto p2 = write_raw(d, "arr.safetensors", "[1, 2]  ", "");
  expect_error(SafetensorsFile::open(p2).status(), StatusCode::kCorrupt, {p2, "not a JSON object"});
  auto p3 = write_raw(d, "meta.safetensors", R"({"__metadata__": {"k": 5}})", "");
  expect_error(SafetensorsFile::open(p3).status(), StatusCode::kCorrupt, {p3, "__metadata__", "'k'"});
  auto p4 = write_raw(d, "entry.safetensors", R"({"t": 5})", "");
  expect_error(SafetensorsFile::open(p4).status(), StatusCode::kCorrupt, {p4, "'t'", "not a JSON object"});
}

struct BadEntryCase {
  const char* label;
  const char* header;
  std::vector<std::string> needles;
};

TEST(Safetensors, MalformedEntriesNameFileAndTensor) {
  TempDir d;
  const std::string data(64, '\x01');
  const std::vector<BadEntryCase> cases = {
      {"wrong dtype string",
       R"({"w": {"dtype": "F17", "shape": [2], "data_offsets": [0, 8]}})",
       {"'w'", "unknown dtype", "F17"}},
      {"dtype not string", R"({"w": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}})", {"'w'", "dtype"}},
      {"missing dtype", R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", {"'w'", "missing \"dtype\""}},
      {"missing shape", R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", {"'w'", "missing \"shape\""}},
      {"missing offsets", R"({"w": {"dtype": "F32", "shape": [2]}})", {"'w'", "missing \"data_offsets\""}},
      {"negative dim", R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", {"'w'", "non-negative"}},
      {"float dim", R"({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", {"'w'", "non-negative"}},
      {"shape/offset mismatch",
       R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
       {"'w'", "span 8 bytes", "[3]", "needs 12"}},
      {"begin > end", R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", {"'w'", "begin > end"}},
      {"offsets not pair",
       R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 16]}})",
       {"'w'", "data_offsets"}},
      {"negative offset", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", {"'w'", "non-negative"}},
      {"out of range",
       R"({"w": {"dtype": "F32", "shape": [20], "data_offsets": [0, 80]}})",
       {"'w'", "past the data section", "64"}},
      {"overflowing shape",
       R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})",
       {"'w'", "too large"}},
      {"overlap",
       R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                      "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
       {"'a'", "'b'", "overlaps"}},
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = write_raw(d, "case" + std::to_string(i++) + ".safetensors", c.header, data);
    auto r = SafetensorsFile::open(path);
    std::vector<std::string> needles = c.needles;
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().to_string();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    for (const auto& n : needles)
      EXPECT_NE(r.status().message().find(n), std::string::npos) << "'" << n << "' not in: " << r.status().message();
  }
}

TEST(Safetensors, AdjacentZeroSizeAndGapsAreFine) {
  TempDir d;
  const std::string data(64, '\0');
  const auto path = write_raw(d, "ok.safetensors",
                              R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                  "z": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]},
                                  "b": {"dtype": "F16", "shape": [2, 2], "data_offsets": [16, 24]},
                                  "c": {"dtype": "BF16", "shape": [4], "data_offsets": [40, 48]}})",
                              data);
  auto r = SafetensorsFile::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->tensors().size(), 4u);
}

TEST(Safetensors, TruncatedFile) {
  TempDir d;
  SafetensorsWriter w;
  std::vector<float> v(100, 1.0f);
  ASSERT_TRUE(w.add_f32_as("weights", DType::kF32, {10, 10}, v).is_ok());
  std::string bytes = w.serialize();
  bytes.resize(bytes.size() - 7);
  ASSERT_TRUE(write_binary_file(d.file("t.safetensors"), bytes).is_ok());
  expect_error(SafetensorsFile::open(d.file("t.safetensors")).status(), StatusCode::kCorrupt,
               {d.file("t.safetensors"), "'weights'", "past the data section"});
  // Truncated inside the header.
  bytes.resize(20);
  ASSERT_TRUE(write_binary_file(d.file("t2.safetensors"), bytes).is_ok());
  expect_error(SafetensorsFile::open(d.file("t2.safetensors")).status(), StatusCode::kCorrupt,
               {d.file("t2.safetensors"), "past the end"});
}

// Random byte flips and truncations of a valid file: open() either succeeds with views inside the
// file or fails with a message naming the file; it never crashes (run under ASan in CI).
TEST(Safetensors, RandomCorruptionNeverCrashes) {
  TempDir d;
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_f32_as("alpha", DType::kF32, {3, 4}, std::vector<float>(12, 0.5f)).is_ok());
  ASSERT_TRUE(w.add_f32_as("beta", DType::kF16, {5}, std::vector<float>(5, 1.5f)).is_ok());
  ASSERT_TRUE(w.add_f32_as("gamma", DType::kBF16, {2, 2}, std::vector<float>(4, -2.f)).is_ok());
  const std::string good = w.serialize();
  std::mt19937 rng(123);
  const std::string path = d.file("fuzz.safetensors");
  int ok = 0, bad = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t pos = rng() % bytes.size();
      bytes[pos] = static_cast<char>(iter % 3 == 0 ? "0123456789[]{},:-\" e"[rng() % 20] : rng() & 0xFF);
    }
    if (iter % 5 == 0) bytes.resize(rng() % bytes.size());
    ASSERT_TRUE(write_binary_file(path, bytes).is_ok());
    auto r = SafetensorsFile::open(path);
    if (r.is_ok()) {
      ++ok;
      for (const auto& t : r->tensors()) {
        const uint8_t* begin = r->mapping().data();
        ASSERT_TRUE(t.nbytes == 0 || (t.data >= begin && t.data + t.nbytes <= begin + r->file_size()));
      }
    } else {
      ++bad;
      EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    }
  }
  EXPECT_GT(bad, 0);
  EXPECT_GT(ok, 0);
}

TEST(Safetensors, RecognisedButUnloadableDtypes) {
  TempDir d;
  const std::string data(48, '\0');
  const auto path = write_raw(d, "i64.safetensors",
                              R"({"pos": {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]},
                                  "w": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]},
                                  "m": {"dtype": "BOOL", "shape": [4], "data_offsets": [32, 36]}})",
                              data);
  auto r = SafetensorsFile::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->names(), (std::vector<std::string>{"m", "pos", "w"}));
  EXPECT_EQ(r->find("pos"), nullptr);
  EXPECT_TRUE(r->contains("pos"));
  expect_error(r->get("pos").status(), StatusCode::kUnsupported, {path, "unsupported dtype I64", "'pos'"});
  EXPECT_TRUE(r->get("w").is_ok());
  // Sizes of unloadable dtypes are still validated.
  const auto bad =
      write_raw(d, "i64bad.safetensors", R"({"pos": {"dtype": "I64", "shape": [3], "data_offsets": [0, 12]}})", data);
  expect_error(SafetensorsFile::open(bad).status(), StatusCode::kCorrupt, {bad, "'pos'", "needs 24"});
}

TEST(Safetensors, OpenErrorsNamePath) {
  TempDir d;
  expect_error(SafetensorsFile::open(d.file("absent.safetensors")).status(), StatusCode::kNotFound,
               {d.file("absent.safetensors")});
}

TEST(Safetensors, RealTinyLlamaFile) {
  const std::string path =
      std::string(LPX_SHARED_DIR) + "/testdata/models/llama-2-tiny-random-hf-derived/model.safetensors";
  auto r = SafetensorsFile::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->names().size(), 12u);
  EXPECT_EQ(r->metadata().at("format"), "pt");
  const TensorView* e = r->find("model.embed_tokens.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, DType::kF16);
  EXPECT_EQ(e->shape, (std::vector<int64_t>{32000, 8}));
  EXPECT_EQ(e->nbytes, 512000u);
  EXPECT_TRUE(e->aligned());
  const TensorView* n = r->find("model.norm.weight");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->dtype, DType::kF32);
  EXPECT_TRUE(n->aligned());
  float v[8];
  std::memcpy(v, n->data, sizeof v);
  for (float x : v) EXPECT_TRUE(std::isfinite(x));
}

// ---------------- SafetensorsCheckpoint ----------------

void write_tensor_file(const std::string& path, const std::vector<std::string>& names, float fill) {
  SafetensorsWriter w;
  for (const auto& n : names) ASSERT_TRUE(w.add_f32_as(n, DType::kF32, {2, 2}, {fill, fill, fill, fill}).is_ok());
  ASSERT_TRUE(w.write(path).is_ok());
}

TEST(SafetensorsCheckpoint, SingleFileFolder) {
  TempDir d;
  write_tensor_file(d.file("model.safetensors"), {"x", "y"}, 1.0f);
  auto r = SafetensorsCheckpoint::open_dir(d.path());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->names(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r->files().size(), 1u);
  EXPECT_EQ(r->file_of("x"), d.file("model.safetensors"));
  EXPECT_TRUE(r->index_path().empty());
  EXPECT_NE(r->find("y"), nullptr);
  EXPECT_TRUE(r->advise(MmapFile::Advice::kWillNeed).is_ok());
  expect_error(r->get("zz").status(), StatusCode::kNotFound, {d.file("model.safetensors"), "'zz'"});
}

TEST(SafetensorsCheckpoint, ShardedIndex) {
  TempDir d;
  write_tensor_file(d.file("model-00001-of-00002.safetensors"), {"a", "b", "stray"}, 1.0f);
  write_tensor_file(d.file("model-00002-of-00002.safetensors"), {"c"}, 2.0f);
  ASSERT_TRUE(write_binary_file(d.file("model.safetensors.index.json"),
                                R"({"metadata": {"total_size": 48}, "weight_map": {
                                     "a": "model-00001-of-00002.safetensors",
                                     "b": "model-00001-of-00002.safetensors",
                                     "c": "model-00002-of-00002.safetensors"}})")
                  .is_ok());
  auto r = SafetensorsCheckpoint::open_dir(d.path());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->files().size(), 2u);                                  // each shard opened once
  EXPECT_EQ(r->names(), (std::vector<std::string>{"a", "b", "c"}));  // "stray" is not in the index
  EXPECT_EQ(r->file_of("c"), d.file("model-00002-of-00002.safetensors"));
  const TensorView* c = r->find("c");
  ASSERT_NE(c, nullptr);
  float v;
  std::memcpy(&v, c->data, 4);
  EXPECT_EQ(v, 2.0f);
  EXPECT_EQ(r->index_path(), d.file("model.safetensors.index.json"));
  expect_error(r->get("zz").status(), StatusCode::kNotFound, {d.file("model.safetensors.index.json"), "'zz'"});
  EXPECT_GT(r->total_file_bytes(), 0u);
}

TEST(SafetensorsCheckpoint, IndexErrors) {
  TempDir d;
  write_tensor_file(d.file("s1.safetensors"), {"a"}, 1.0f);
  const std::string index = d.file("model.safetensors.index.json");
  auto open_with = [&](const std::string& text) {
    EXPECT_TRUE(write_binary_file(index, text).is_ok());
    return SafetensorsCheckpoint::open_dir(d.path()).status();
  };
  expect_error(open_with("{not json"), StatusCode::kCorrupt, {index, "not valid JSON"});
  expect_error(open_with("[]"), StatusCode::kCorrupt, {index, "not a JSON object"});
  expect_error(open_with(R"({"metadata": {}})"), StatusCode::kCorrupt, {index, "weight_map"});
  expect_error(open_with(R"({"weight_map": []})"), StatusCode::kCorrupt, {index, "weight_map"});
  expect_error(open_with(R"({"weight_map": {}})"), StatusCode::kCorrupt, {index, "empty"});
  expect_error(open_with(R"({"weight_map": {"a": 3}})"), StatusCode::kCorrupt, {index, "'a'", "not a string"});
  expect_error(open_with(R"({"weight_map": {"a": "../s1.safetensors"}})"), StatusCode::kCorrupt,
               {index, "'a'", "../s1.safetensors"});
  // Missing shard.
  expect_error(open_with(R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})"), StatusCode::kNotFound,
               {index, d.file("s2.safetensors"), "'b'"});
  // Tensor listed in the index but absent from its shard.
  expect_error(open_with(R"({"weight_map": {"a": "s1.safetensors", "q": "s1.safetensors"}})"), StatusCode::kCorrupt,
               {index, "'q'", "s1.safetensors", "no such tensor"});
  // A corrupt shard: the error names the shard file and the index.
  ASSERT_TRUE(write_binary_file(d.file("s3.safetensors"), "xyz").is_ok());
  expect_error(open_with(R"({"weight_map": {"a": "s3.safetensors"}})"), StatusCode::kCorrupt,
               {index, d.file("s3.safetensors")});
}

TEST(SafetensorsCheckpoint, FolderWithoutWeights) {
  TempDir d;
  expect_error(SafetensorsCheckpoint::open_dir(d.path()).status(), StatusCode::kNotFound,
               {d.path(), "model.safetensors"});
  expect_error(SafetensorsCheckpoint::open_dir(d.file("nope")).status(), StatusCode::kNotFound, {d.file("nope")});
}

}  // namespace
}  // namespace lpx
