// Tokenizer tests: Hugging Face parity goldens, llama.cpp vocab vectors, bad files, streaming decode.
#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/file_util.h"
#include "core/utf8.h"
#include "text/unicode.h"

namespace lpx {
namespace {

using Json = nlohmann::json;

const std::string kTokDir = std::string(LPX_SHARED_DIR) + "/testdata/tokenizers";

std::string tok_path(const std::string& dir) { return kTokDir + "/" + dir + "/tokenizer.json"; }

// Loaded once per process: the Llama 3 file is 9 MB.
const Tokenizer& cached(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dir);
  if (it == cache.end()) {
    auto r = Tokenizer::load(tok_path(dir));
    if (!r.is_ok()) {
      ADD_FAILURE() << r.status().to_string();
      std::abort();
    }
    it = cache.emplace(dir, std::make_unique<Tokenizer>(std::move(r).value())).first;
  }
  return *it->second;
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

// ----------------------------------------------------------------------------------------------
// Hugging Face goldens
// ----------------------------------------------------------------------------------------------

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesHuggingFace) {
  const std::string dir = GetParam();
  const Tokenizer& tok = cached(dir);
  auto text = read_file(kTokDir + "/" + dir + "/goldens.hf-tokenizers-0.23.2.jsonl");
  ASSERT_TRUE(text.is_ok()) << text.status().to_string();
  std::istringstream in(*text);
  std::string line;
  int total = 0, passed = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++total;
    const Json g = Json::parse(line);
    const std::string input = g.at("text").get<std::string>();
    const auto ids = g.at("ids").get<std::vector<int32_t>>();
    const auto ids_special = g.at("ids_with_special").get<std::vector<int32_t>>();
    const auto tokens = g.at("tokens").get<std::vector<std::string>>();
    const std::string decoded = g.at("decoded").get<std::string>();
    const std::string decoded_skip = g.at("decoded_skip_special").get<std::string>();

    const Encoding enc = tok.encode_with_tokens(input, false);
    const auto got_special = tok.encode(input, true);
    const std::string got_decoded = tok.decode(ids, false);
    const std::string got_skip = tok.decode(ids, true);
    bool ok = true;
    if (enc.ids != ids) {
      ok = false;
      ADD_FAILURE() << dir << " ids for " << Json(input).dump() << "\n  want" << ids_str(ids) << "\n  got "
                    << ids_str(enc.ids);
    }
    if (enc.ids == ids && enc.tokens != tokens) {
      ok = false;
      ADD_FAILURE() << dir << " tokens for " << Json(input).dump() << ": got " << Json(enc.tokens).dump() << " want "
                    << Json(tokens).dump();
    }
    if (got_special != ids_special) {
      ok = false;
      ADD_FAILURE() << dir << " ids_with_special for " << Json(input).dump() << "\n  want" << ids_str(ids_special)
                    << "\n  got " << ids_str(got_special);
    }
    if (got_decoded != decoded) {
      ok = false;
      ADD_FAILURE() << dir << " decode for " << Json(input).dump() << ": got " << Json(got_decoded).dump() << " want "
                    << Json(decoded).dump();
    }
    if (got_skip != decoded_skip) {
      ok = false;
      ADD_FAILURE() << dir << " decode(skip_special) for " << Json(input).dump() << ": got " << Json(got_skip).dump()
                    << " want " << Json(decoded_skip).dump();
    }
    if (ok) ++passed;
  }
  EXPECT_EQ(total, 85);
  EXPECT_EQ(passed, total);
  std::printf("[ goldens  ] %s: %d/%d lines match\n", dir.c_str(), passed, total);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GoldenTest,
                         ::testing::Values("llama3-reconstructed", "llama2", "tinyllama", "phi-3-mini"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// ----------------------------------------------------------------------------------------------
// llama.cpp vocab test vectors
// ----------------------------------------------------------------------------------------------

struct VocabCase {
  std::string vocab;      // ggml-vocab-<vocab>.gguf.{inp,out}
  std::string tokenizer;  // our tokenizer directory
  int expected_count;
};

class LlamaCppVocabTest : public ::testing::TestWithParam<VocabCase> {};

TEST_P(LlamaCppVocabTest, MatchesExpectedIds) {
  const VocabCase& c = GetParam();
  const std::string base = kTokDir + "/llamacpp-vocab-tests/ggml-vocab-" + c.vocab + ".gguf";
  auto inp = read_file(base + ".inp");
  auto out = read_file(base + ".out");
  ASSERT_TRUE(inp.is_ok() && out.is_ok());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t pos = 0;
  while (true) {
    const size_t hit = inp->find(sep, pos);
    if (hit == std::string::npos) break;
    inputs.push_back(inp->substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  ASSERT_EQ(pos, inp->size()) << "trailing text after the last separator";
  std::vector<std::vector<int32_t>> expected;
  std::istringstream lines(*out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id = 0;
    while (ls >> id) ids.push_back(id);
    expected.push_back(ids);
  }
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_EQ(static_cast<int>(inputs.size()), c.expected_count);
  const Tokenizer& tok = cached(c.tokenizer);
  int passed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto got = tok.encode(inputs[i], false);
    if (got == expected[i]) {
      ++passed;
    } else {
      ADD_FAILURE() << c.vocab << " input " << i << " " << Json(inputs[i]).dump() << "\n  want" << ids_str(expected[i])
                    << "\n  got " << ids_str(got);
    }
  }
  EXPECT_EQ(passed, static_cast<int>(inputs.size()));
  std::printf("[ llama.cpp] %s with %s: %d/%zu inputs match\n", c.vocab.c_str(), c.tokenizer.c_str(), passed,
              inputs.size());
}

INSTANTIATE_TEST_SUITE_P(Vocabs, LlamaCppVocabTest,
                         ::testing::Values(VocabCase{"llama-bpe", "llama3-reconstructed", 44},
                                           VocabCase{"llama-spm", "llama2", 43},
                                           VocabCase{"llama-spm", "tinyllama", 43},
                                           VocabCase{"llama-spm", "phi-3-mini", 43},
                                           VocabCase{"phi-3", "phi-3-mini", 46}),
                         [](const auto& info) {
                           std::string n = info.param.vocab + "_" + info.param.tokenizer;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// Chat prompts rendered from real templates, tokenized by Hugging Face (add_special_tokens=false).
TEST(TokenizerParity, RenderedChatPrompts) {
  auto text =
      read_file(std::string(LPX_SHARED_DIR) + "/testdata/chat_templates/tokenized_prompts.hf-tokenizers-0.23.2.jsonl");
  ASSERT_TRUE(text.is_ok()) << text.status().to_string();
  std::istringstream in(*text);
  std::string line;
  int total = 0, passed = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++total;
    const Json g = Json::parse(line);
    const Tokenizer& tok = cached(g.at("tokenizer").get<std::string>());
    const auto want = g.at("ids_add_special_tokens_false").get<std::vector<int32_t>>();
    const auto got = tok.encode(g.at("prompt").get<std::string>(), false);
    if (got == want) {
      ++passed;
    } else {
      ADD_FAILURE() << g.at("template_id") << " / " << g.at("case") << "\n  want" << ids_str(want) << "\n  got "
                    << ids_str(got);
    }
  }
  EXPECT_EQ(total, 34);
  EXPECT_EQ(passed, total);
  std::printf("[ prompts  ] %d/%d rendered chat prompts match\n", passed, total);
}

// ----------------------------------------------------------------------------------------------
// Bad files
// ----------------------------------------------------------------------------------------------

TEST(TokenizerLoad, RejectsCorruptLlama2AsCommitted) {
  const std::string path = kTokDir + "/llama2/tokenizer.as-committed.json";
  auto r = Tokenizer::load(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  const std::string msg = r.status().message();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("merge"), std::string::npos) << msg;
}

TEST(TokenizerLoad, MissingFile) {
  auto r = Tokenizer::load("/nonexistent/dir/tokenizer.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/tokenizer.json"), std::string::npos);
}

TEST(TokenizerLoad, TruncatedJson) {
  auto full = read_file(tok_path("tinyllama"));
  ASSERT_TRUE(full.is_ok());
  auto r = Tokenizer::from_json(std::string_view(*full).substr(0, full->size() / 2), "truncated.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("truncated.json"), std::string::npos);
  EXPECT_NE(r.status().message().find("invalid JSON"), std::string::npos) << r.status().message();
}

TEST(TokenizerLoad, EmptyAndNonObject) {
  EXPECT_FALSE(Tokenizer::from_json("", "empty.json").is_ok());
  auto r = Tokenizer::from_json("[1, 2]", "array.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("array.json"), std::string::npos);
}

TEST(TokenizerLoad, UnknownModelType) {
  auto r = Tokenizer::from_json(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})", "uni.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("uni.json"), std::string::npos);
  EXPECT_NE(r.status().message().find("Unigram"), std::string::npos) << r.status().message();
}

TEST(TokenizerLoad, MissingModelOrVocab) {
  auto r = Tokenizer::from_json(R"({"model": {"type": "BPE", "merges": []}})", "novocab.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("novocab.json"), std::string::npos);
  EXPECT_NE(r.status().message().find("vocab"), std::string::npos) << r.status().message();

  auto r2 = Tokenizer::from_json(R"({"normalizer": null})", "nomodel.json");
  ASSERT_FALSE(r2.is_ok());
  EXPECT_NE(r2.status().message().find("model"), std::string::npos);
}

TEST(TokenizerLoad, BadMergesAndTypes) {
  auto r =
      Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})", "merge.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("'ab'"), std::string::npos) << r.status().message();

  auto r2 = Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})", "t.json");
  ASSERT_FALSE(r2.is_ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kCorrupt);

  auto r3 = Tokenizer::from_json(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Frobnicate"}})",
      "pt.json");
  ASSERT_FALSE(r3.is_ok());
  EXPECT_EQ(r3.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r3.status().message().find("Frobnicate"), std::string::npos);

  auto r4 = Tokenizer::from_json(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
          "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})",
      "re.json");
  ASSERT_FALSE(r4.is_ok());
  EXPECT_NE(r4.status().message().find("regex"), std::string::npos) << r4.status().message();

  auto r5 = Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [42]}})", "m.json");
  ASSERT_FALSE(r5.is_ok());
  EXPECT_NE(r5.status().message().find("merges[0]"), std::string::npos) << r5.status().message();
}

// ----------------------------------------------------------------------------------------------
// tokenizer_config.json
// ----------------------------------------------------------------------------------------------

TEST(TokenizerConfig, Phi3Config) {
  auto r = Tokenizer::load(tok_path("phi-3-mini"), kTokDir + "/phi-3-mini/tokenizer_config.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const TokenizerConfig& c = r->config();
  EXPECT_TRUE(c.loaded_from_file);
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_EQ(c.eos_token, "<|endoftext|>");
  EXPECT_FALSE(c.add_bos);
  EXPECT_FALSE(c.add_eos);
  EXPECT_NE(c.chat_template.find("<|assistant|>"), std::string::npos);
  EXPECT_EQ(r->bos_id(), 1);
  EXPECT_EQ(r->eos_id(), 32000);
}

TEST(TokenizerConfig, Llama2ObjectTokens) {
  auto r = Tokenizer::load(tok_path("llama2"), kTokDir + "/llama2/tokenizer_config.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->config().bos_token, "<s>");
  EXPECT_EQ(r->config().eos_token, "</s>");
  EXPECT_EQ(r->config().unk_token, "<unk>");
  EXPECT_TRUE(r->config().pad_token.empty());
  EXPECT_TRUE(r->config().add_bos);
  EXPECT_EQ(r->bos_id(), 1);
  EXPECT_EQ(r->eos_id(), 2);
}

TEST(TokenizerConfig, InferredWithoutConfig) {
  const Tokenizer& t = cached("llama3-reconstructed");
  EXPECT_FALSE(t.config().loaded_from_file);
  EXPECT_TRUE(t.config().add_bos);
  EXPECT_EQ(t.config().bos_token, "<|begin_of_text|>");
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_EQ(t.eos_id(), 128001);
  EXPECT_EQ(t.vocab_size(), 128256);
  EXPECT_EQ(t.token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(t.id_to_token(128009), "<|eot_id|>");
  EXPECT_EQ(t.id_to_token(9906), "Hello");
  EXPECT_EQ(t.id_to_token(999999), "");
  EXPECT_TRUE(t.is_special(128009));
  EXPECT_FALSE(t.is_special(9906));
  EXPECT_FALSE(t.token_to_id("definitely not a token").has_value());
}

TEST(TokenizerConfig, ListChatTemplateAndErrors) {
  auto full = read_file(tok_path("tinyllama"));
  ASSERT_TRUE(full.is_ok());
  const char* cfg = R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
      "add_bos_token": false, "add_eos_token": true,
      "chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})";
  auto r = Tokenizer::from_json(*full, "tinyllama", cfg);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->config().chat_template, "D");
  EXPECT_EQ(r->config().named_templates.at("tool_use"), "T");
  EXPECT_EQ(r->config().named_templates.size(), 2u);
  EXPECT_FALSE(r->config().add_bos);
  EXPECT_TRUE(r->config().add_eos);

  auto bad = Tokenizer::from_json(*full, "tinyllama", R"({"bos_token": 5})");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("bos_token"), std::string::npos);
  auto bad2 = Tokenizer::from_json(*full, "tinyllama", R"({"chat_template": 1)");
  ASSERT_FALSE(bad2.is_ok());
  EXPECT_NE(bad2.status().message().find("invalid JSON"), std::string::npos);
}

// ----------------------------------------------------------------------------------------------
// Streaming decode
// ----------------------------------------------------------------------------------------------

void check_streaming(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip, const std::string& label) {
  IncrementalDecoder dec(tok, skip);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = dec.push(id);
    EXPECT_TRUE(utf8::valid(piece)) << label << ": broken UTF-8 piece "
                                    << Json(piece).dump(-1, ' ', false, Json::error_handler_t::replace);
    all += piece;
  }
  const std::string tail = dec.flush();
  EXPECT_TRUE(utf8::valid(tail));
  all += tail;
  EXPECT_EQ(all, tok.decode(ids, skip)) << label;
}

TEST(IncrementalDecoder, ConcatenationEqualsDecodeOnAllGoldens) {
  for (const char* dir : {"llama3-reconstructed", "llama2", "tinyllama", "phi-3-mini"}) {
    const Tokenizer& tok = cached(dir);
    auto text = read_file(kTokDir + "/" + std::string(dir) + "/goldens.hf-tokenizers-0.23.2.jsonl");
    ASSERT_TRUE(text.is_ok());
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const Json g = Json::parse(line);
      const auto ids = g.at("ids_with_special").get<std::vector<int32_t>>();
      check_streaming(tok, ids, false, std::string(dir) + " " + g.at("text").dump());
      check_streaming(tok, ids, true, std::string(dir) + " skip " + g.at("text").dump());
    }
  }
}

TEST(IncrementalDecoder, HoldsBackPartialCharacters) {
  // Llama 2 encodes the llama emoji as four byte-fallback tokens.
  const Tokenizer& tok = cached("llama2");
  const auto ids = tok.encode("a 🦙 b", false);
  IncrementalDecoder dec(tok, false);
  std::vector<std::string> pieces;
  for (int32_t id : ids) pieces.push_back(dec.push(id));
  pieces.push_back(dec.flush());
  std::string all;
  bool saw_emoji_alone = false;
  for (const auto& p : pieces) {
    EXPECT_TRUE(utf8::valid(p));
    EXPECT_EQ(p.find("\xEF\xBF\xBD"), std::string::npos);
    if (p.find("🦙") != std::string::npos) saw_emoji_alone = true;
    all += p;
  }
  EXPECT_TRUE(saw_emoji_alone);
  EXPECT_EQ(all, "a 🦙 b");

  // Byte-level: a CJK character split over two tokens.
  const Tokenizer& l3 = cached("llama3-reconstructed");
  const std::string text = "我想在apple工作1314151天～ 😶‍🌫️";
  const auto ids3 = l3.encode(text, false);
  check_streaming(l3, ids3, false, "llama3 cjk");
  IncrementalDecoder d3(l3, false);
  std::string got;
  for (int32_t id : ids3) got += d3.push(id);
  got += d3.flush();
  EXPECT_EQ(got, text);
}

TEST(IncrementalDecoder, TruncatedCharacterIsFlushed) {
  const Tokenizer& tok = cached("llama2");
  const int32_t e2 = *tok.token_to_id("<0xE2>");
  IncrementalDecoder dec(tok, false);
  EXPECT_EQ(dec.push(*tok.token_to_id("▁Hello")), "Hello");
  EXPECT_EQ(dec.push(e2), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  // After flush the decoder starts a new stream.
  EXPECT_EQ(dec.push(*tok.token_to_id("▁Hello")), "Hello");
}

TEST(IncrementalDecoder, LongInvalidByteRunIsNotHeldForever) {
  const Tokenizer& tok = cached("llama2");
  const int32_t ff = *tok.token_to_id("<0xFF>");
  std::vector<int32_t> ids(40, ff);
  IncrementalDecoder dec(tok, false);
  std::string all;
  bool emitted_early = false;
  for (int32_t id : ids) {
    const std::string piece = dec.push(id);
    EXPECT_TRUE(utf8::valid(piece));
    if (!piece.empty()) emitted_early = true;
    all += piece;
  }
  EXPECT_TRUE(emitted_early);
  all += dec.flush();
  EXPECT_EQ(all, tok.decode(ids, false));
}

// ----------------------------------------------------------------------------------------------
// Robustness and thread safety
// ----------------------------------------------------------------------------------------------

TEST(TokenizerEncode, InvalidUtf8IsRepaired) {
  for (const char* dir : {"llama3-reconstructed", "llama2"}) {
    const Tokenizer& tok = cached(dir);
    const std::string bad = std::string("ab\xff\xfe cd \xe2\x82 e\xf0\x9f\x98") + "\xc0\x80" + "z\xed\xa0\x80";
    const auto ids = tok.encode(bad, true);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(ids, tok.encode(utf8::repair(bad), true));
    const std::string back = tok.decode(ids, true);
    EXPECT_TRUE(utf8::valid(back));
    EXPECT_NE(back.find("cd"), std::string::npos);
    // Lone bytes, only continuation bytes, only a lead byte.
    for (const char* s : {"\x80", "\xbf\xbf\xbf", "\xf4", "\xe2\x82"}) {
      EXPECT_FALSE(tok.encode(s, false).empty());
    }
  }
}

TEST(TokenizerDecode, UnknownIdsAreSkipped) {
  const Tokenizer& tok = cached("llama3-reconstructed");
  std::vector<int32_t> ids = {-5, 9906, 50000000, 1917};
  EXPECT_EQ(tok.decode(ids, false), "Hello world");
  EXPECT_EQ(tok.decode({}, false), "");
}

TEST(TokenizerEncode, ConcurrentEncodeIsConsistent) {
  const Tokenizer& tok = cached("llama3-reconstructed");
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) {
    texts.push_back("Sample " + std::to_string(i) + ": the quick brown fox number " + std::to_string(i * 7919) +
                    " jumps over lazy dogs; ünïcödé " + std::string(i % 5, '!'));
  }
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t, true));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i + th * 13 + rep) % texts.size();
          if (tok.encode(texts[k], true) != expected[k]) ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TokenizerLoad, MoveKeepsWorking) {
  auto r = Tokenizer::load(tok_path("tinyllama"));
  ASSERT_TRUE(r.is_ok());
  Tokenizer a = std::move(r).value();
  Tokenizer b = std::move(a);
  EXPECT_EQ(b.encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
}

// ----------------------------------------------------------------------------------------------
// Synthetic tokenizers for features the real files do not exercise
// ----------------------------------------------------------------------------------------------

// A tiny SentencePiece-style vocabulary with a Metaspace pre-tokenizer and [a, b] merges.
std::string metaspace_json(const std::string& scheme, bool split) {
  Json j;
  j["model"] = {{"type", "BPE"},
                {"unk_token", "<unk>"},
                {"byte_fallback", true},
                {"fuse_unk", true},
                {"vocab",
                 {{"<unk>", 0},
                  {"<s>", 1},
                  {"</s>", 2},
                  {"<0x21>", 3},
                  {"▁", 4},
                  {"h", 5},
                  {"i", 6},
                  {"▁h", 7},
                  {"▁hi", 8},
                  {"hi", 9},
                  {"x", 10}}},
                {"merges", Json::array({Json::array({"▁", "h"}), Json::array({"▁h", "i"}), Json::array({"h", "i"})})}};
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", scheme}, {"split", split}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", scheme}, {"split", split}};
  j["added_tokens"] = Json::array({{{"id", 1},
                                    {"content", "<s>"},
                                    {"special", true},
                                    {"normalized", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"single_word", false}},
                                   {{"id", 11},
                                    {"content", "<tool>"},
                                    {"special", false},
                                    {"normalized", false},
                                    {"lstrip", true},
                                    {"rstrip", true},
                                    {"single_word", false}},
                                   {{"id", 12},
                                    {"content", "hix"},
                                    {"special", false},
                                    {"normalized", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"single_word", true}}});
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", "<s>:0 $A:0"},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  return j.dump();
}

TEST(TokenizerSynthetic, MetaspacePrependSchemes) {
  auto first = Tokenizer::from_json(metaspace_json("first", true), "first.json");
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->encode("hi hi", false), (std::vector<int32_t>{8, 8}));
  EXPECT_EQ(first->encode("hi hi", true), (std::vector<int32_t>{1, 8, 8}));
  // "first": no ▁ is prepended after an added token.
  EXPECT_EQ(first->encode("<s>hi", false), (std::vector<int32_t>{1, 9}));
  EXPECT_EQ(first->decode(std::vector<int32_t>{8, 8}, false), "hi hi");
  // Unknown "!" uses byte fallback; "?" has no byte token so it becomes <unk> (fused).
  EXPECT_EQ(first->encode("hi!??", false), (std::vector<int32_t>{8, 3, 0}));

  auto always = Tokenizer::from_json(metaspace_json("always", true), "always.json");
  ASSERT_TRUE(always.is_ok());
  EXPECT_EQ(always->encode("<s>hi", false), (std::vector<int32_t>{1, 8}));
  // Runs of spaces split as "▁hi", "▁", "▁", "▁hi" (MergedWithNext).
  const Encoding sp = always->encode_with_tokens("hi   hi", false);
  EXPECT_EQ(sp.ids, (std::vector<int32_t>{8, 4, 4, 8}));
  EXPECT_EQ(always->decode(sp.ids, false), "hi   hi");

  auto never = Tokenizer::from_json(metaspace_json("never", false), "never.json");
  ASSERT_TRUE(never.is_ok());
  EXPECT_EQ(never->encode("hi hi", false), (std::vector<int32_t>{9, 8}));
  EXPECT_EQ(never->decode(std::vector<int32_t>{9, 8}, false), "hi hi");
}

TEST(TokenizerSynthetic, AddedTokenFlags) {
  auto t = Tokenizer::from_json(metaspace_json("first", true), "flags.json");
  ASSERT_TRUE(t.is_ok());
  // lstrip + rstrip swallow the spaces around <tool>.
  const Encoding e = t->encode_with_tokens("hi  <tool>  hi", false);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{8, 11, 9}));
  ASSERT_EQ(e.tokens.size(), 3u);
  EXPECT_EQ(e.tokens[1], "  <tool>  ");
  // single_word: "hix" only matches as a whole word.
  EXPECT_EQ(t->encode("hix", false), (std::vector<int32_t>{12}));
  EXPECT_EQ(t->encode("hi hix", false), (std::vector<int32_t>{8, 4, 12}));  // "hi " -> "▁hi", "▁"
  EXPECT_EQ(t->encode("hhix", false), (std::vector<int32_t>{7, 9, 10}));
  // skip_special drops <s> but keeps the non-special <tool>.
  EXPECT_EQ(t->decode(std::vector<int32_t>{1, 8, 11}, true), "hi<tool>");
  EXPECT_TRUE(t->is_special(1));
  EXPECT_FALSE(t->is_special(11));
}

TEST(TokenizerSynthetic, ByteLevelWithNfcAndIgnoreMerges) {
  // A GPT-2-style byte-level tokenizer with an NFC normalizer (as in Qwen2).
  Json vocab = Json::object();
  int next = 0;
  for (int b = 0; b < 256; ++b) vocab[unicode::byte_to_char(static_cast<uint8_t>(b))] = next++;
  vocab["Ã©"] = next++;   // "é" in byte-level form
  vocab["ĠÃ©"] = next++;  // " é"
  vocab["ab"] = next++;
  vocab["abc"] = next++;  // reachable only through ignore_merges (no merge "ab c")
  Json j;
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"Ã ©", "Ġ Ã©", "a b"}}, {"ignore_merges", true}};
  auto t = Tokenizer::from_json(j.dump(), "bytelevel.json");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  const int32_t e_acute = vocab["Ã©"].get<int32_t>();
  const int32_t sp_e = vocab["ĠÃ©"].get<int32_t>();
  // "e" + combining acute is composed to "é" by NFC before byte-level BPE.
  EXPECT_EQ(t->encode("e\xCC\x81 e\xCC\x81", false), (std::vector<int32_t>{e_acute, sp_e}));
  EXPECT_EQ(t->encode("abc", false), (std::vector<int32_t>{vocab["abc"].get<int32_t>()}));
  EXPECT_EQ(t->encode("abd", false), (std::vector<int32_t>{vocab["ab"].get<int32_t>(), static_cast<int32_t>('d')}));
  EXPECT_EQ(t->decode(t->encode("héllo wörld", false), false), "héllo wörld");
}

TEST(Unicode, RepairAndComplete) {
  EXPECT_EQ(utf8::repair("a\xF0\x9F\x98z"), "a\xEF\xBF\xBDz");  // one U+FFFD per maximal subpart
  EXPECT_EQ(utf8::repair("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(unicode::nfd("\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(unicode::nfkc("\xEF\xAC\x81"), "fi");                       // U+FB01 ligature
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // Hangul L+V -> 가
  EXPECT_EQ(unicode::lowercase("ÀB\xCE\xA3"), "àb\xCF\x83");
}

}  // namespace
}  // namespace lpx
