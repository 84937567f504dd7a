// Tokenizer pre-tokenizers (tokenizer.json "pre_tokenizer"): split normalized text into pieces
// (Split, ByteLevel, Metaspace, Digits, Punctuation, Whitespace... and Sequence).
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include "core/check.h"
#include "text/tokenizer/common.h"

namespace lpx::tok {

// A piece of normalized text. at_origin: it starts at offset 0 of the original input (used by
// Metaspace's prepend_scheme "first").
struct Piece {
  std::string text;
  bool at_origin = false;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Segment {
  size_t start, end;
  bool is_match;
};

// Splits `piece` at the given matches following Hugging Face's SplitDelimiterBehavior rules and
// appends the non-empty results to out.
void split_piece(Piece&& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& out);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void apply(std::vector<Piece>& pieces) const = 0;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> items;
  void apply(std::vector<Piece>& pieces) const override {
    for (const auto& p : items) p->apply(pieces);
  }
};

// Splits every piece at the matches of a pattern.
class PatternSplitPreTokenizer : public PreTokenizer {
 public:
  Pattern pattern;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  void apply(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      m.clear();
      pattern.find_all(p.text, m);
      split_piece(std::move(p), m, behavior, invert, out);
    }
    pieces.swap(out);
  }
};

// GPT-2's pre-tokenization regex, used by ByteLevel with use_regex=true.
constexpr std::string_view kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  bool add_prefix_space = false;
  std::unique_ptr<Regex> regex;  // null when use_regex is false
  void apply(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    split.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      if (add_prefix_space && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
      if (regex) {
        m.clear();
        regex->find_all(p.text, m);
        split_piece(std::move(p), m, SplitBehavior::kIsolated, false, split);
      } else if (!p.text.empty()) {
        split.push_back(std::move(p));
      }
    }
    for (auto& p : split) {
      std::string mapped;
      mapped.resize(p.text.size() * 2);
      size_t n = 0;
      for (unsigned char b : p.text) {
        const Mapped& m = map_[b];
        mapped[n] = m.bytes[0];
        mapped[n + 1] = m.bytes[1];
        n += m.len;
      }
      mapped.resize(n);
      p.text.swap(mapped);
    }
    pieces.swap(split);
  }

  ByteLevelPreTokenizer() {
    for (int b = 0; b < 256; ++b) {
      const std::string& s = unicode::byte_to_char(static_cast<uint8_t>(b));
      LPX_CHECK(s.size() == 1 || s.size() == 2);
      map_[b].len = static_cast<uint8_t>(s.size());
      map_[b].bytes[0] = s[0];
      map_[b].bytes[1] = s.size() > 1 ? s[1] : '\0';
    }
  }

 private:
  struct Mapped {
    char bytes[2];
    uint8_t len;
  };
  std::array<Mapped, 256> map_{};  // the GPT-2 alphabet: every byte maps to a 1- or 2-byte char
};

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  enum Scheme { kAlways, kFirst, kNever };
  std::string replacement = "\xE2\x96\x81";  // U+2581
  Scheme scheme = kAlways;
  bool split = true;
  void apply(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      replace_all(p.text, " ", replacement);
      const bool starts = p.text.compare(0, replacement.size(), replacement) == 0;
      if (!starts && (scheme == kAlways || (scheme == kFirst && p.at_origin))) p.text.insert(0, replacement);
      if (!split) {
        if (!p.text.empty()) out.push_back(std::move(p));
        continue;
      }
      m.clear();
      size_t pos = 0;
      while (true) {
        const size_t hit = p.text.find(replacement, pos);
        if (hit == std::string::npos) break;
        m.emplace_back(hit, hit + replacement.size());
        pos = hit + replacement.size();
      }
      split_piece(std::move(p), m, SplitBehavior::kMergedWithNext, false, out);
    }
    pieces.swap(out);
  }
};

std::unique_ptr<PatternSplitPreTokenizer> regex_splitter(const char* pattern, SplitBehavior behavior, bool invert);

// Rust's char::is_ascii_punctuation || Unicode punctuation (P*).
constexpr const char* kPunctuationClass = "[\\p{P}!-/:-@\\[-`{-~]";

Result<std::unique_ptr<PreTokenizer>> build_pre_tokenizer(const Ctx& ctx, const std::string& where, const Json& j);

}  // namespace lpx::tok
