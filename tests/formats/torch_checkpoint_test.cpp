// Tests for the restricted unpickler and the torch.save checkpoint reader: real torch 1.13
// fixtures (tests/data/formats, made by tools/formats/make_fixtures.py) compared to expected.json,
// hand-crafted malicious/malformed pickles and archives, and random corruption (fuzz).
#include "formats/torch_checkpoint.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/file_util.h"
#include "formats/pickle.h"
#include "formats/tar_reader.h"
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

using namespace testutil;  // build_zip, Pk, floats, make_ckpt (tests/testutil_archives.h)

Result<TorchCheckpoint> load(const std::string& bytes, const std::string& name = "crafted.pt",
                             const TorchLoadOptions& o = {}) {
  return TorchCheckpoint::from_bytes(to_bytes(bytes), name, o);
}

Result<PickleDocument> unpickle_str(const std::string& s, const std::string& name = "p.pkl",
                                    const UnpickleLimits& lim = {}) {
  return unpickle(reinterpret_cast<const uint8_t*>(s.data()), s.size(), name, lim);
}

// ---------------------------------------------------------------- the unpickler

TEST(Unpickle, BasicValues) {
  Pk p;
  p.op('}').mark();
  p.str("n").op('N').str("t").op(0x88).str("f").op(0x89).str("i").i32(-5).str("k").op('K').op(200);
  p.str("m").op('M').op(0x34).op(0x12);
  p.str("l1").op(0x8a).op(6).raw(std::string("\x00\x00\x00\x00\x80\x00", 6));   // 2^39
  p.str("neg").op(0x8a).op(1).op(0xFF);                                         // -1
  p.str("fl").op('G').raw(std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00", 8));  // 1.5
  p.str("s").op(0x8c).op(2).raw("hi").str("by").op('C').op(3).raw("abc");
  p.str("lst").op(']').mark().i32(1).i32(2).op('e').str("tup").i32(7).i32(8).op(0x86);
  p.op('u');
  auto d = unpickle_str(p.stop());
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  const PyObject* r = d->root();
  ASSERT_EQ(r->kind, PyKind::kDict);
  EXPECT_EQ(r->get("n")->kind, PyKind::kNone);
  EXPECT_TRUE(r->get("t")->boolean);
  EXPECT_FALSE(r->get("f")->boolean);
  EXPECT_EQ(r->get("i")->integer, -5);
  EXPECT_EQ(r->get("k")->integer, 200);
  EXPECT_EQ(r->get("m")->integer, 0x1234);
  EXPECT_EQ(r->get("l1")->integer, int64_t{1} << 39);
  EXPECT_EQ(r->get("neg")->integer, -1);
  EXPECT_EQ(r->get("fl")->real, 1.5);
  EXPECT_EQ(r->get("s")->text, "hi");
  EXPECT_EQ(r->get("by")->kind, PyKind::kBytes);
  EXPECT_EQ(r->get("lst")->items.size(), 2u);
  EXPECT_EQ(r->get("tup")->items[1]->integer, 8);
  EXPECT_EQ(r->get("missing"), nullptr);
  EXPECT_EQ(py_repr(r->get("tup")), "(7, 8)");
}

TEST(Unpickle, MemoAndDuplicateKeys) {
  // d = {}; d['a'] = 1; d['a'] = 2 (last wins, first position kept); memo round trip with MEMOIZE.
  Pk p;
  p.op('}').op(0x94).str("a").i32(1).op('s').str("b").str("x").op(0x94).op('s').str("a").i32(2).op('s');
  p.str("c").op('h').op(1).op('s');  // memo 1 = "x"
  auto d = unpickle_str(p.stop());
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  ASSERT_EQ(d->root()->entries.size(), 3u);
  EXPECT_EQ(d->root()->entries[0].first->text, "a");
  EXPECT_EQ(d->root()->get("a")->integer, 2);
  EXPECT_EQ(d->root()->get("c")->text, "x");
}

TEST(Unpickle, RefusesForeignGlobals) {
  // os.system('ls') via GLOBAL + REDUCE: refused at the GLOBAL, nothing is called.
  expect_error(unpickle_str(Pk().global("os", "system").str("ls").op(0x85).op('R').stop(), "evil.pkl").status(),
               StatusCode::kUnsupported, {"evil.pkl", "os.system", "GLOBAL"});
  // builtins.eval via STACK_GLOBAL.
  expect_error(unpickle_str(Pk().str("builtins").str("eval").op(0x93).str("1+1").op(0x85).op('R').stop()).status(),
               StatusCode::kUnsupported, {"p.pkl", "builtins.eval", "STACK_GLOBAL"});
  expect_error(unpickle_str(Pk().global("torch", "load").stop()).status(), StatusCode::kUnsupported, {"torch.load"});
  expect_error(unpickle_str(Pk().global("__torch__.MyModule", "forward").stop()).status(), StatusCode::kUnsupported,
               {"__torch__.MyModule.forward"});
  // A whitelisted type that is not callable.
  expect_error(unpickle_str(Pk().global("torch", "FloatStorage").op(')').op('R').stop()).status(),
               StatusCode::kUnsupported, {"torch.FloatStorage", "cannot be called"});
  // OrderedDict with arguments.
  expect_error(unpickle_str(Pk().global("collections", "OrderedDict").op(']').op(0x85).op('R').stop()).status(),
               StatusCode::kUnsupported, {"OrderedDict called with arguments"});
}

TEST(Unpickle, RefusesCodeOpcodesAndUnknownOnes) {
  expect_error(unpickle_str(Pk().mark().raw("i").raw("os\nsystem\n").stop(), "inst.pkl").status(),
               StatusCode::kUnsupported, {"inst.pkl", "INST", "not allowed"});
  expect_error(unpickle_str(Pk().global("collections", "OrderedDict").op(')').op(0x81).stop()).status(),
               StatusCode::kUnsupported, {"NEWOBJ"});
  expect_error(unpickle_str(Pk().op('I').raw("1\n").stop()).status(), StatusCode::kUnsupported, {"INT"});
  expect_error(unpickle_str(Pk().op(0x82).op(1).stop()).status(), StatusCode::kUnsupported, {"EXT1"});
  expect_error(unpickle_str(Pk().op(0xFF).stop(), "u.pkl").status(), StatusCode::kCorrupt,
               {"u.pkl", "pickle byte 2", "0xff", "invalid pickle opcode"});
  expect_error(unpickle_str(std::string("\x80\x06N.", 4)).status(), StatusCode::kUnsupported, {"protocol 6"});
  // BUILD on something that is not a dict.
  expect_error(unpickle_str(Pk().op(']').op('}').op('b').stop()).status(), StatusCode::kUnsupported,
               {"BUILD on a list"});
}

TEST(Unpickle, MalformedStreams) {
  expect_error(unpickle_str(Pk().stop()).status(), StatusCode::kCorrupt, {"STOP", "stack underflow"});
  expect_error(unpickle_str(Pk().op('t').stop()).status(), StatusCode::kCorrupt, {"TUPLE", "no MARK"});
  expect_error(unpickle_str(Pk().op('N').op(0x86).stop()).status(), StatusCode::kCorrupt,
               {"TUPLE2", "stack underflow"});
  expect_error(unpickle_str(Pk().op('N').mark().op('s').stop()).status(), StatusCode::kCorrupt,
               {"SETITEM", "stack underflow"});
  expect_error(unpickle_str(Pk().op('N').op('N').op('N').op('s').stop()).status(), StatusCode::kCorrupt,
               {"SETITEM target is a None"});
  expect_error(unpickle_str(Pk().op('}').op(']').i32(1).op('s').stop()).status(), StatusCode::kCorrupt,
               {"unhashable dict key of type list"});
  expect_error(unpickle_str(Pk().op('h').op(5).stop()).status(), StatusCode::kCorrupt, {"BINGET", "memo index 5"});
  expect_error(unpickle_str(Pk().op('}').b).status(), StatusCode::kCorrupt, {"without a STOP"});
  expect_error(unpickle_str(Pk().op('X')
                                .raw(std::string("\xff\xff\x00\x00"
                                                 "ab",
                                                 6))
                                .stop())
                   .status(),
               StatusCode::kCorrupt, {"BINUNICODE", "truncated"});
  expect_error(unpickle_str(Pk().op('J').raw("ab").b).status(), StatusCode::kCorrupt, {"BININT", "truncated"});
  expect_error(unpickle_str(Pk().op('c').raw("torch").b).status(), StatusCode::kCorrupt, {"GLOBAL", "no newline"});
  expect_error(unpickle_str(Pk().op(0x8a).op(9).raw(std::string("\0\0\0\0\0\0\0\0\1", 9)).stop()).status(),
               StatusCode::kUnsupported, {"does not fit in 64 bits"});
  expect_error(unpickle_str(Pk().op(0x95).raw(std::string("\xff\0\0\0\0\0\0\0", 8)).stop()).status(),
               StatusCode::kCorrupt, {"FRAME"});
  expect_error(unpickle_str("").status(), StatusCode::kCorrupt, {"p.pkl", "without a STOP"});
}

TEST(Unpickle, Limits) {
  UnpickleLimits lim;
  lim.max_stack = 10;
  Pk p;
  for (int i = 0; i < 20; ++i) p.op('N');
  expect_error(unpickle_str(p.stop(), "deep.pkl", lim).status(), StatusCode::kResourceExhausted, {"deep.pkl", "stack"});
  lim = {};
  lim.max_objects = 50;
  Pk q;
  for (int i = 0; i < 100; ++i) q.op(')').op('0');
  expect_error(unpickle_str(q.stop(), "many.pkl", lim).status(), StatusCode::kResourceExhausted,
               {"many.pkl", "objects"});
  lim = {};
  lim.max_memo = 3;
  Pk m;
  m.op('N');
  for (int i = 0; i < 10; ++i) m.op('q').op(static_cast<uint8_t>(i));
  expect_error(unpickle_str(m.stop(), "memo.pkl", lim).status(), StatusCode::kResourceExhausted, {"memo.pkl", "memo"});
  // Deeply nested tuple keys.
  Pk t;
  t.op('}').op(')');
  for (int i = 0; i < 100; ++i) t.op(0x85);
  t.op('N').op('s');
  expect_error(unpickle_str(t.stop()).status(), StatusCode::kResourceExhausted, {"nested too deeply"});
  // A key that doubles with each level through the memo: (x, x), ((x, x), (x, x)), ...
  Pk e;
  e.op('}').op('N');
  for (int i = 0; i < 30; ++i) e.op('q').op(0).op('h').op(0).op(0x86);
  e.op('N').op('s');
  expect_error(unpickle_str(e.stop(), "exp.pkl").status(), StatusCode::kResourceExhausted,
               {"exp.pkl", "dict key longer than"});
  // A long str key reused many times stays within the key-bytes budget.
  Pk r;
  r.op('}').str(std::string(60000, 'k')).op('q').op(0).op('N').op('s');
  for (int i = 0; i < 3000; ++i) r.op('h').op(0).op('N').op('s');
  expect_error(unpickle_str(r.stop(), "budget.pkl").status(), StatusCode::kResourceExhausted,
               {"budget.pkl", "key bytes"});
}

TEST(Unpickle, TensorArguments) {
  // A well-formed tensor and a few malformed _rebuild_tensor_v2 calls.
  auto ok = unpickle_str(Pk().tensor("HalfStorage", "0", 6, 1, {2, 2}, {2, 1}).stop());
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  const PyObject* t = ok->root();
  ASSERT_EQ(t->kind, PyKind::kTensor);
  EXPECT_EQ(t->tensor->storage->storage->type, "HalfStorage");
  EXPECT_EQ(t->tensor->storage->storage->numel, 6);
  EXPECT_EQ(t->tensor->storage_offset, 1);
  EXPECT_EQ(t->tensor->size, (std::vector<int64_t>{2, 2}));

  Pk bad_pid;
  bad_pid.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").op('t').op('Q');
  expect_error(unpickle_str(bad_pid.stop()).status(), StatusCode::kUnsupported, {"persistent id"});
  Pk bad_type;
  bad_type.mark().str("storage").global("collections", "OrderedDict").str("0").str("cpu").i32(1).op('t').op('Q');
  expect_error(unpickle_str(bad_type.stop()).status(), StatusCode::kUnsupported, {"storage type"});
  Pk rank;
  rank.global("torch._utils", "_rebuild_tensor_v2").mark();
  rank.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i32(4).op('t').op('Q');
  rank.i32(0).tuple_of({2, 2}).tuple_of({1}).op(0x89).op('}').op('t').op('R');
  expect_error(unpickle_str(rank.stop()).status(), StatusCode::kCorrupt, {"differ in rank"});
  Pk neg;
  neg.global("torch._utils", "_rebuild_tensor_v2").mark();
  neg.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i32(4).op('t').op('Q');
  neg.i32(-1).tuple_of({2}).tuple_of({1}).op(0x89).op('}').op('t').op('R');
  expect_error(unpickle_str(neg.stop()).status(), StatusCode::kCorrupt, {"storage offset"});
  Pk nonstorage;
  nonstorage.global("torch._utils", "_rebuild_tensor_v2")
      .mark()
      .op('N')
      .i32(0)
      .tuple_of({2})
      .tuple_of({1})
      .op(0x89)
      .op('}')
      .op('t')
      .op('R');
  expect_error(unpickle_str(nonstorage.stop()).status(), StatusCode::kCorrupt, {"storage argument is a None"});
}

// ---------------------------------------------------------------- the fixtures

struct FixtureCase {
  std::string key;       // expected.json key
  std::string file;      // checkpoint file (or tar)
  std::string root_key;  // TorchLoadOptions::root_key
  bool in_tar = false;   // model_weights.ckpt inside a .nemo
};

const json& expected() {
  static const json j = [] {
    auto text = read_file(kDir + "/expected.json");
    EXPECT_TRUE(text.is_ok()) << text.status().to_string();
    return json::parse(text.is_ok() ? *text : std::string("{}"));
  }();
  return j;
}

// Compares a loaded checkpoint to expected.json's record.
void check_against_expected(const TorchCheckpoint& ck, const json& exp) {
  EXPECT_EQ(ck.prefix(), exp["prefix"].get<std::string>());
  EXPECT_EQ(ck.names(), exp["names"].get<std::vector<std::string>>());
  EXPECT_EQ(ck.skipped(), exp["skipped"].get<std::vector<std::string>>());
  for (const auto& [name, t] : exp["tensors"].items()) {
    SCOPED_TRACE(name);
    const TorchTensorInfo* info = ck.info(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->shape, t["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(info->stride, t["stride"].get<std::vector<int64_t>>());
    EXPECT_EQ(info->storage_offset, t["storage_offset"].get<int64_t>());
    const std::string dt = t["dtype"].get<std::string>();
    const bool loadable = dt == "f32" || dt == "f16" || dt == "bf16" || dt == "i8";
    EXPECT_EQ(info->loadable, loadable);
    if (!loadable) {
      EXPECT_EQ(info->torch_dtype, dt);
      EXPECT_EQ(ck.find(name), nullptr);
      expect_error(ck.get(name).status(), StatusCode::kUnsupported, {ck.name(), name, dt});
      continue;
    }
    auto v = ck.get(name);
    ASSERT_TRUE(v.is_ok()) << v.status().to_string();
    const TensorView& view = **v;
    EXPECT_EQ(dtype_name(view.dtype), dt);
    EXPECT_EQ(view.shape, t["shape"].get<std::vector<int64_t>>());
    const int64_t numel = t["numel"].get<int64_t>();
    EXPECT_EQ(view.numel(), numel);
    EXPECT_EQ(view.nbytes, static_cast<size_t>(numel) * dtype_size(view.dtype));
    EXPECT_EQ(info->copied, !t["contiguous"].get<bool>());
    std::vector<float> vals(static_cast<size_t>(numel));
    if (numel > 0) convert_to_f32(view.dtype, view.data, vals.data(), vals.size());
    const auto first = t["first"].get<std::vector<double>>();
    for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(static_cast<double>(vals[i]), first[i]) << "element " << i;
    double sum = 0;
    for (float x : vals) sum += x;
    EXPECT_NEAR(sum, t["sum"].get<double>(), 1e-9 * (1 + std::fabs(sum)));
  }
}

class Fixtures : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(Fixtures, MatchExpected) {
  const FixtureCase& c = GetParam();
  ASSERT_TRUE(expected()["checkpoints"].contains(c.key)) << c.key;
  const json& exp = expected()["checkpoints"][c.key];
  TorchLoadOptions opts;
  opts.root_key = c.root_key;
  Result<TorchCheckpoint> ck = Status(StatusCode::kInternal, "unset");
  std::shared_ptr<TarArchive> tar;
  if (c.in_tar) {
    auto t = TarArchive::open(kDir + "/" + c.file);
    if (c.file == "model_gz.nemo" && !zlib_available()) {
      expect_error(t.status(), StatusCode::kUnsupported, {"model_gz.nemo", "zlib"});
      return;
    }
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    tar = std::make_shared<TarArchive>(std::move(*t));
    auto member = tar->get("model_weights.ckpt");
    ASSERT_TRUE(member.is_ok()) << member.status().to_string();
    ck = TorchCheckpoint::from_buffer(tar->owner(), member->data(), member->size(), c.file + ":model_weights.ckpt",
                                      opts);
  } else {
    ck = TorchCheckpoint::open(kDir + "/" + c.file, opts);
  }
  if (c.file == "deflated.pt" && !zlib_available()) {
    expect_error(ck.status(), StatusCode::kUnsupported, {"deflated.pt", "zlib"});
    return;
  }
  ASSERT_TRUE(ck.is_ok()) << ck.status().to_string();
  check_against_expected(*ck, exp);
  if (c.in_tar) {
    // Zero-copy: views point into the tar's memory, which outlives the TarArchive object.
    auto member = tar->get("model_weights.ckpt");
    ASSERT_TRUE(member.is_ok());
    const uint8_t* lo = member->data();
    const uint8_t* hi = lo + member->size();
    tar.reset();
    for (const TensorView& v : ck->tensors()) {
      EXPECT_TRUE(v.data >= lo && v.data + v.nbytes <= hi) << v.name;
      float x;
      convert_to_f32(v.dtype, v.data, &x, 1);  // still readable (ASan would flag a dangling read)
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TorchCheckpoint, Fixtures,
                         ::testing::Values(FixtureCase{"state_dict.pt", "state_dict.pt", "", false},
                                           FixtureCase{"nested.ckpt", "nested.ckpt", "", false},
                                           FixtureCase{"nested.ckpt#state_dict", "nested.ckpt", "state_dict", false},
                                           FixtureCase{"adapter_model.bin", "adapter_model.bin", "", false},
                                           FixtureCase{"torch2_layout.pt", "torch2_layout.pt", "", false},
                                           FixtureCase{"deflated.pt", "deflated.pt", "", false},
                                           FixtureCase{"model.nemo#model_weights.ckpt", "model.nemo", "", true},
                                           FixtureCase{"model.nemo#model_weights.ckpt", "model_gz.nemo", "", true}),
                         [](const auto& info) {
                           std::string n = info.param.file + "_" + info.param.root_key;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(TorchCheckpoint, SharedStorageAndCopies) {
  auto ck = TorchCheckpoint::open(kDir + "/state_dict.pt");
  ASSERT_TRUE(ck.is_ok()) << ck.status().to_string();
  const TensorView* base = ck->find("base");
  const TensorView* slice = ck->find("slice");
  const TensorView* view = ck->find("shared_view");
  const TensorView* w = ck->find("w2d");
  const TensorView* tr = ck->find("transposed");
  ASSERT_TRUE(base && slice && view && w && tr);
  EXPECT_EQ(slice->data, base->data + 4 * 4);  // zero-copy, same storage
  EXPECT_EQ(view->data, base->data + 10 * 4);
  EXPECT_EQ(ck->info("slice")->storage_key, ck->info("base")->storage_key);
  EXPECT_FALSE(ck->info("slice")->copied);
  EXPECT_TRUE(base->aligned());
  // The transposed view is an owned contiguous copy: tr[i][j] == w[j][i].
  EXPECT_TRUE(ck->info("transposed")->copied);
  EXPECT_TRUE(ck->info("strided")->copied);
  EXPECT_TRUE(ck->info("expanded")->copied);
  EXPECT_FALSE(ck->info("row")->copied);  // size-1 dimension with any stride is contiguous
  EXPECT_TRUE(ck->info("param")->is_parameter);
  const auto* wf = reinterpret_cast<const float*>(w->data);
  const auto* tf = reinterpret_cast<const float*>(tr->data);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(tf[i * 3 + j], wf[j * 4 + i]);
  EXPECT_TRUE(tr->data < base->data || tr->data >= base->data + 80);  // not inside the archive storage
  // Scalars and empty tensors.
  const TensorView* s = ck->find("scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->nbytes, 4u);
  const TensorView* e = ck->find("empty");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->nbytes, 0u);
  // Lookups.
  EXPECT_TRUE(ck->contains("long"));
  EXPECT_EQ(ck->find("long"), nullptr);
  expect_error(ck->get("long").status(), StatusCode::kUnsupported, {"state_dict.pt", "'long'", "int64", "LongStorage"});
  expect_error(ck->get("nope").status(), StatusCode::kNotFound, {"state_dict.pt", "'nope'"});
  EXPECT_FALSE(ck->contains("nope"));
  EXPECT_EQ(ck->tensors().size() + 1, ck->names().size());  // every tensor but 'long' is loadable
  EXPECT_EQ(ck->root()->kind, PyKind::kDict);

  // Moving keeps views valid.
  const uint8_t* before = ck->find("transposed")->data;
  TorchCheckpoint moved = std::move(*ck);
  EXPECT_EQ(moved.find("transposed")->data, before);
  EXPECT_EQ(reinterpret_cast<const float*>(moved.find("transposed")->data)[1], wf[4]);
}

TEST(TorchCheckpoint, NonContiguousRefusedWhenCopyDisabled) {
  TorchLoadOptions o;
  o.copy_non_contiguous = false;
  expect_error(TorchCheckpoint::open(kDir + "/state_dict.pt", o).status(), StatusCode::kUnsupported,
               {"state_dict.pt", "'transposed'", "non-contiguous"});
}

TEST(TorchCheckpoint, RootKeyErrors) {
  TorchLoadOptions o;
  o.root_key = "nope";
  expect_error(TorchCheckpoint::open(kDir + "/nested.ckpt", o).status(), StatusCode::kNotFound,
               {"nested.ckpt", "'nope'"});
  o.root_key = "epoch";
  expect_error(TorchCheckpoint::open(kDir + "/nested.ckpt", o).status(), StatusCode::kCorrupt,
               {"nested.ckpt", "not a dict"});
}

TEST(TorchCheckpoint, LegacyAndForeignFiles) {
  expect_error(TorchCheckpoint::open(kDir + "/legacy.pt").status(), StatusCode::kUnsupported,
               {"legacy.pt", "legacy torch.save format not supported; re-save with a recent PyTorch"});
  expect_error(TorchCheckpoint::open(kDir + "/expected.json").status(), StatusCode::kCorrupt,
               {"expected.json", "not a PyTorch checkpoint"});
  expect_error(TorchCheckpoint::open(kDir + "/model.nemo").status(), StatusCode::kUnsupported,
               {"model.nemo", "legacy"});
  expect_error(TorchCheckpoint::open(kDir + "/missing.bin").status(), StatusCode::kNotFound, {"missing.bin"});
  expect_error(load(build_zip({{"x/other.txt", "hi"}}), "nopkl.zip").status(), StatusCode::kCorrupt,
               {"nopkl.zip", "data.pkl"});
  expect_error(load(build_zip({{"x/data.pkl", "\x80\x02N."}, {"y/data.pkl", "\x80\x02N."}}), "two.zip").status(),
               StatusCode::kCorrupt, {"two.zip", "more than one data.pkl"});
}

TEST(TorchCheckpoint, CraftedCheckpoints) {
  const std::string four = floats({1, 2, 3, 4});
  // A good one: also checks a crafted file decodes.
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "0", 4, 1, {3}, {1}).op('s');
    auto ck = load(make_ckpt(p.stop(), {{"0", four}}, "little\n"));
    ASSERT_TRUE(ck.is_ok()) << ck.status().to_string();
    EXPECT_EQ(reinterpret_cast<const float*>(ck->find("w")->data)[0], 2.0f);
  }
  // Storage key missing.
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "7", 4, 0, {4}, {1}).op('s');
    expect_error(load(make_ckpt(p.stop(), {{"0", four}}), "nokey.pt").status(), StatusCode::kCorrupt,
                 {"nokey.pt", "'w'", "storage key '7'", "archive/data/7"});
  }
  // Tensor extending past its storage.
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "0", 4, 2, {3}, {1}).op('s');
    expect_error(load(make_ckpt(p.stop(), {{"0", four}}), "past.pt").status(), StatusCode::kCorrupt,
                 {"past.pt", "'w'", "extends past its storage"});
    Pk s;
    s.op('}').str("w").tensor("FloatStorage", "0", 4, 0, {2, 2}, {3, 1}).op('s');
    expect_error(load(make_ckpt(s.stop(), {{"0", four}}), "stride.pt").status(), StatusCode::kCorrupt,
                 {"stride.pt", "extends past its storage"});
  }
  // Storage numel larger than its member.
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "0", 8, 0, {4}, {1}).op('s');
    expect_error(load(make_ckpt(p.stop(), {{"0", four}}), "short.pt").status(), StatusCode::kCorrupt,
                 {"short.pt", "'w'", "should hold 8", "16 bytes"});
  }
  // Overflowing sizes.
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "0", 4, 0, {0x7fffffff, 0x7fffffff, 0x7fffffff}, {1, 1, 1}).op('s');
    expect_error(load(make_ckpt(p.stop(), {{"0", four}}), "ovf.pt").status(), StatusCode::kCorrupt,
                 {"ovf.pt", "overflows"});
  }
  // Big-endian byteorder.
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s');
    expect_error(load(make_ckpt(p.stop(), {{"0", four}}, "big"), "be.pt").status(), StatusCode::kUnsupported,
                 {"be.pt", "byteorder", "big"});
  }
  // Foreign global inside a real-looking checkpoint.
  {
    Pk p;
    p.op('}').str("w").global("builtins", "eval").str("__import__('os')").op(0x85).op('R').op('s');
    expect_error(load(make_ckpt(p.stop(), {}), "evil.pt").status(), StatusCode::kUnsupported,
                 {"evil.pt", "archive/data.pkl", "builtins.eval"});
  }
  // Root is not a dict.
  expect_error(load(make_ckpt(Pk().op(']').stop(), {}), "list.pt").status(), StatusCode::kUnsupported,
               {"list.pt", "holds a list"});
  // A dict that contains itself.
  expect_error(
      load(make_ckpt(Pk().op('}').op('q').op(0).str("me").op('h').op(0).op('s').stop(), {}), "cyc.pt").status(),
      StatusCode::kCorrupt, {"cyc.pt", "'me'", "contains itself"});
  // Dicts nested 100 deep.
  {
    Pk p;
    for (int i = 0; i < 100; ++i) p.op('}').str("k");
    p.op('}');
    for (int i = 0; i < 100; ++i) p.op('s');
    expect_error(load(make_ckpt(p.stop(), {}), "deep.pt").status(), StatusCode::kCorrupt,
                 {"deep.pt", "nested more than"});
  }
  // Exponential sharing: 60 levels of {a: d, b: d}.
  {
    Pk p;
    p.op('}');
    for (int i = 0; i < 60; ++i) p.op('q').op(0).op('}').str("a").op('h').op(0).op('s').str("b").op('h').op(0).op('s');
    expect_error(load(make_ckpt(p.stop(), {}), "dag.pt").status(), StatusCode::kCorrupt, {"dag.pt", "too large"});
  }
  // Two tensors flattening to one name.
  {
    Pk p;
    p.op('}').str("a.b").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s');
    p.str("a").op('}').str("b").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s').op('s');
    expect_error(load(make_ckpt(p.stop(), {{"0", four}}), "dupname.pt").status(), StatusCode::kCorrupt,
                 {"dupname.pt", "'a.b'", "flattened"});
  }
  // Corrupt storage bytes are caught by the CRC check (and ignored when it is off).
  {
    Pk p;
    p.op('}').str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s');
    std::string zip = make_ckpt(p.stop(), {{"0", four}});
    const size_t at = zip.find(four);
    ASSERT_NE(at, std::string::npos);
    zip[at] ^= 0x40;
    expect_error(load(zip, "crc.pt").status(), StatusCode::kCorrupt, {"crc.pt", "archive/data/0", "CRC"});
    TorchLoadOptions o;
    o.verify_crc = false;
    EXPECT_TRUE(load(zip, "crc.pt", o).is_ok());
  }
}

// Random corruptions of real checkpoints: every outcome is ok or an error naming the file,
// never a crash (run under ASan/UBSan in CI's sanitizer build).
TEST(TorchCheckpoint, FuzzCorruptedFiles) {
  std::mt19937 rng(20240611);
  int opened = 0, failed = 0;
  for (const std::string file : {"state_dict.pt", "nested.ckpt", "adapter_model.bin", "torch2_layout.pt"}) {
    auto raw = read_file(kDir + "/" + file);
    ASSERT_TRUE(raw.is_ok());
    auto zip = ZipReader::open(kDir + "/" + file);
    ASSERT_TRUE(zip.is_ok());
    const ZipEntry* pkl = nullptr;
    for (const auto& e : zip->entries())
      if (e.name.size() >= 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0) pkl = &e;
    ASSERT_NE(pkl, nullptr);
    for (int it = 0; it < 1500; ++it) {
      std::string b = *raw;
      const int mode = static_cast<int>(rng() % 4);
      if (mode == 0) {
        b.resize(rng() % b.size());  // truncation
      } else {
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) {
          size_t pos;
          if (mode == 1)
            pos = pkl->data_offset + rng() % pkl->compressed_size;  // inside the pickle
          else
            pos = rng() % b.size();
          b[pos] = (rng() % 3 == 0) ? static_cast<char>(b[pos] ^ (1 << (rng() % 8))) : static_cast<char>(rng() & 0xFF);
        }
      }
      TorchLoadOptions o;
      o.verify_crc = false;  // let corrupted pickles reach the unpickler
      auto ck = load(b, file, o);
      if (!ck.is_ok()) {
        ++failed;
        EXPECT_NE(ck.status().message().find(file), std::string::npos) << ck.status().to_string();
        continue;
      }
      ++opened;
      const uint8_t* lo = ck->zip().data();
      const uint8_t* hi = lo + ck->zip().size();
      for (const TensorView& v : ck->tensors()) {
        const TorchTensorInfo* info = ck->info(v.name);
        ASSERT_NE(info, nullptr);
        if (!info->copied && v.nbytes > 0) {
          ASSERT_TRUE(v.data >= lo && v.data + v.nbytes <= hi) << v.name;
        }
        if (v.nbytes > 0) {
          volatile uint8_t sink = v.data[0] ^ v.data[v.nbytes - 1];  // touch both ends
          (void)sink;
        }
      }
    }
  }
  EXPECT_GT(opened, 0);
  EXPECT_GT(failed, 0);
}

TEST(Unpickle, FuzzRandomPickles) {
  // Mutated real pickles and random opcode soup straight into the unpickler.
  auto zip = ZipReader::open(kDir + "/state_dict.pt");
  ASSERT_TRUE(zip.is_ok());
  auto pkl = zip->stored_data(*zip->find("state_dict/data.pkl"));
  ASSERT_TRUE(pkl.is_ok());
  const std::string orig(reinterpret_cast<const char*>(pkl->data()), pkl->size());
  std::mt19937 rng(99);
  const std::string alphabet =
      std::string("(.012NJKMXhjqrtu}]e)asRbQG", 26) + "\x80\x85\x86\x87\x88\x89\x8a\x8c\x93\x94\x95";
  UnpickleLimits lim;
  lim.max_objects = 100000;
  for (int it = 0; it < 6000; ++it) {
    std::string b;
    if (it % 3 == 0) {
      b = "\x80\x02";
      const size_t n = rng() % 200;
      for (size_t i = 0; i < n; ++i)
        b.push_back(rng() % 4 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() & 0xFF));
      b.push_back('.');
    } else {
      b = orig;
      const int flips = 1 + static_cast<int>(rng() % 5);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng() & 0xFF);
      if (rng() % 4 == 0) b.resize(rng() % b.size());
    }
    auto d = unpickle_str(b, "fuzz.pkl", lim);
    if (d.is_ok()) {
      ASSERT_NE(d->root(), nullptr);
      (void)py_repr(d->root(), 100);
    } else {
      EXPECT_NE(d.status().message().find("fuzz.pkl"), std::string::npos);
    }
  }
}

// ---------------------------------------------------------------- the demo model's real adapters

TEST(TorchCheckpoint, RealDemoAdapters) {
  const std::string bin = std::string(LPX_SOURCE_DIR) + "/models/demo/loras/reverse/adapter_model.bin";
  const std::string nemo = std::string(LPX_SOURCE_DIR) + "/models/demo/loras/shift/shift.nemo";
  // Both files are part of the repository (models/demo): missing ones are a failure.
  ASSERT_TRUE(file_exists(bin)) << bin;
  ASSERT_TRUE(file_exists(nemo)) << nemo;
  {
    auto ck = TorchCheckpoint::open(bin);
    ASSERT_TRUE(ck.is_ok()) << ck.status().to_string();
    ASSERT_FALSE(ck->tensors().empty());
    EXPECT_EQ(ck->tensors().size(), ck->names().size());  // all loadable
    int a = 0, b = 0;
    for (const TensorView& v : ck->tensors()) {
      EXPECT_EQ(v.shape.size(), 2u) << v.name;
      EXPECT_FALSE(ck->info(v.name)->copied) << v.name;
      a += v.name.find("lora_A") != std::string::npos;
      b += v.name.find("lora_B") != std::string::npos;
    }
    EXPECT_GT(a, 0);
    EXPECT_EQ(a, b);
  }
  {
    auto tar = TarArchive::open(nemo);
    ASSERT_TRUE(tar.is_ok()) << tar.status().to_string();
    auto cfg = tar->get("model_config.yaml");
    ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
    EXPECT_NE(std::string(reinterpret_cast<const char*>(cfg->data()), cfg->size()).find("lora"), std::string::npos);
    auto w = tar->get("./model_weights.ckpt");
    ASSERT_TRUE(w.is_ok()) << w.status().to_string();
    auto ck = TorchCheckpoint::from_buffer(tar->owner(), w->data(), w->size(), nemo + ":model_weights.ckpt");
    ASSERT_TRUE(ck.is_ok()) << ck.status().to_string();
    ASSERT_FALSE(ck->tensors().empty());
    int in = 0;
    for (const TensorView& v : ck->tensors()) {
      EXPECT_EQ(v.shape.size(), 2u) << v.name;
      in += v.name.find("linear_in.weight") != std::string::npos;
    }
    EXPECT_GT(in, 0);
  }
}

}  // namespace
}  // namespace lpx
