// Hugging Face tokenizer.json loader and BPE tokenizer (encode, decode, streaming decode).
#include "text/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"
#include "core/utf8.h"
#include "text/unicode.h"

namespace lpx {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Error builder: every message names the file (or in-memory source) and the JSON location.
struct Ctx {
  const std::string& name;
  Status bad(const std::string& where, const std::string& what) const {
    return corrupt(name + ": " + where + ": " + what);
  }
  Status unsupported_here(const std::string& where, const std::string& what) const {
    return unsupported(name + ": " + where + ": " + what);
  }
};

std::string type_of(const Json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool get_bool(const Json& j, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  return it->get<bool>();
}

std::string get_string(const Json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  return it->get<std::string>();
}

size_t utf8_len_at(std::string_view s, size_t pos) {
  const size_t n = utf8::decode(s, pos).len;
  return n == 0 ? 1 : n;
}

char32_t first_cp(std::string_view s) {
  if (s.empty()) return 0;
  return utf8::decode(s, 0).cp;  // 0 when invalid
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t pos = 0;
  bool any = false;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    any = true;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (!any) return;
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

// ---------------------------------------------------------------------------------------------
// Regex: PCRE2 (UTF + UCP, JIT when available) with Oniguruma-compatible \s and \w
// ---------------------------------------------------------------------------------------------

// Hugging Face compiles its patterns with Oniguruma, whose Unicode \s also matches U+0085 and
// whose \w also matches combining marks; PCRE2's UCP classes do not. Rewrite those escapes.
std::string translate_onig_pattern(std::string_view p) {
  static constexpr std::string_view kWordSet = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char d = p[i + 1];
      if (d == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (d == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else if (d == 'w') {
        out += in_class ? std::string(kWordSet) : "[" + std::string(kWordSet) + "]";
      } else if (d == 'W' && !in_class) {
        out += "[^" + std::string(kWordSet) + "]";
      } else {
        out += c;
        out += d;
      }
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
        const size_t close = p.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(p.substr(i, close + 2 - i));
          i = close + 2;
          continue;
        }
      }
      if (c == ']') in_class = false;
      out += c;
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') out += p[i++];
      if (i < p.size() && p[i] == ']') out += p[i++];  // a leading ']' is a literal
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

class Regex {
 public:
  Regex() = default;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() {
    if (code_ != nullptr) pcre2_code_free(code_);
  }

  // Compiles `pattern` (Oniguruma syntax as used in tokenizer.json); error text on failure.
  static std::unique_ptr<Regex> compile(std::string_view pattern, std::string* error) {
    const std::string translated = translate_onig_pattern(pattern);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof(buf));
      *error = "invalid regex /" + std::string(pattern) + "/ at offset " + std::to_string(err_off) + ": " +
               reinterpret_cast<const char*>(buf);
      return nullptr;
    }
    auto re = std::make_unique<Regex>();
    re->code_ = code;
    re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return re;
  }

  // Appends [start, end) of every non-overlapping match in s (s must be valid UTF-8). An empty
  // match advances the search by one character.
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (md == nullptr) return;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
    size_t start = 0;
    while (start <= s.size()) {
      int rc = jit_ ? pcre2_jit_match(code_, subject, s.size(), start, 0, md, nullptr)
                    : pcre2_match(code_, subject, s.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        // The interpreter keeps its backtracking state on the heap: slower but no stack limit.
        rc = pcre2_match(code_, subject, s.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
      }
      if (rc < 0) break;  // no further match (or a resource limit: the rest stays unsplit)
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t ms = ov[0], me = ov[1];
      if (me < ms) break;  // \K tricks; not used by tokenizers
      out.emplace_back(ms, me);
      if (me == ms) {
        if (ms >= s.size()) break;
        start = ms + utf8_len_at(s, ms);
      } else {
        start = me;
      }
    }
    pcre2_match_data_free(md);
  }

  // True if the pattern matches somewhere in s.
  bool search(std::string_view s) const {
    std::vector<std::pair<size_t, size_t>> m;
    find_all(s, m);
    return !m.empty();
  }

 private:
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

bool is_word_char(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  static const std::unique_ptr<Regex> kWord = [] {
    std::string err;
    return Regex::compile("^[\\p{L}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]", &err);
  }();
  std::string s;
  utf8::encode(s, cp);
  return kWord != nullptr && kWord->search(s);
}

// A "pattern" from tokenizer.json: {"String": "..."} (literal) or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::unique_ptr<Regex> regex;  // null for a literal pattern

  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
    if (regex) {
      regex->find_all(s, out);
      return;
    }
    if (literal.empty()) return;
    size_t pos = 0;
    while (true) {
      const size_t hit = s.find(literal, pos);
      if (hit == std::string_view::npos) break;
      out.emplace_back(hit, hit + literal.size());
      pos = hit + literal.size();
    }
  }
};

Status parse_pattern(const Ctx& ctx, const std::string& where, const Json& j, Pattern* out) {
  if (!j.is_object()) return ctx.bad(where, "pattern must be an object {\"String\": ...} or {\"Regex\": ...}");
  if (j.contains("String")) {
    out->literal = j.at("String").get<std::string>();
    return Status::ok();
  }
  if (j.contains("Regex")) {
    std::string err;
    out->regex = Regex::compile(j.at("Regex").get<std::string>(), &err);
    if (!out->regex) return ctx.bad(where, err);
    return Status::ok();
  }
  return ctx.bad(where, "pattern must have a \"String\" or \"Regex\" key");
}

// ---------------------------------------------------------------------------------------------
// Normalizers
// ---------------------------------------------------------------------------------------------

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string& s) const = 0;
};

class SequenceNormalizer final : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> items;
  void apply(std::string& s) const override {
    for (const auto& n : items) n->apply(s);
  }
};

class PrependNormalizer final : public Normalizer {
 public:
  std::string prepend;
  void apply(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend);
  }
};

class ReplaceNormalizer final : public Normalizer {
 public:
  Pattern pattern;
  std::string content;
  void apply(std::string& s) const override {
    if (!pattern.regex) {
      replace_all(s, pattern.literal, content);
      return;
    }
    std::vector<std::pair<size_t, size_t>> m;
    pattern.find_all(s, m);
    if (m.empty()) return;
    std::string out;
    size_t prev = 0;
    for (const auto& [a, b] : m) {
      out.append(s, prev, a - prev);
      out.append(content);
      prev = b;
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
};

class UnicodeNormalizer final : public Normalizer {
 public:
  enum Form { kNfc, kNfd, kNfkc, kNfkd, kLower };
  explicit UnicodeNormalizer(Form f) : form_(f) {}
  void apply(std::string& s) const override {
    switch (form_) {
      case kNfc: s = unicode::nfc(s); break;
      case kNfd: s = unicode::nfd(s); break;
      case kNfkc: s = unicode::nfkc(s); break;
      case kNfkd: s = unicode::nfkd(s); break;
      case kLower: s = unicode::lowercase(s); break;
    }
  }

 private:
  Form form_;
};

class StripNormalizer final : public Normalizer {
 public:
  bool left = true, right = true;
  void apply(std::string& s) const override {
    size_t begin = 0, end = s.size();
    if (left) {
      while (begin < end) {
        const auto [cp, n] = utf8::decode(s, begin);
        if (n == 0 || !unicode::is_whitespace(cp)) break;
        begin += n;
      }
    }
    if (right) {
      while (end > begin) {
        size_t p = end - 1;
        while (p > begin && utf8::is_continuation(static_cast<unsigned char>(s[p]))) --p;
        const utf8::Decoded d = utf8::decode(s, p);
        if (!d.ok() || !unicode::is_whitespace(d.cp)) break;
        end = p;
      }
    }
    s = s.substr(begin, end - begin);
  }
};

Result<std::unique_ptr<Normalizer>> build_normalizer(const Ctx& ctx, const std::string& where, const Json& j) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    const Json& list = j.at("normalizers");
    if (!list.is_array()) return ctx.bad(where, "\"normalizers\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      LPX_ASSIGN_OR_RETURN(auto n, build_normalizer(ctx, where + ".normalizers[" + std::to_string(i) + "]", list[i]));
      seq->items.push_back(std::move(n));
    }
    return std::unique_ptr<Normalizer>(std::move(seq));
  }
  if (type == "Prepend") {
    auto n = std::make_unique<PrependNormalizer>();
    n->prepend = j.at("prepend").get<std::string>();
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type == "Replace") {
    auto n = std::make_unique<ReplaceNormalizer>();
    LPX_RETURN_IF_ERROR(parse_pattern(ctx, where + ".pattern", j.at("pattern"), &n->pattern));
    n->content = j.at("content").get<std::string>();
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfc));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfd));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfkc));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfkd));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kLower));
  if (type == "Strip") {
    auto n = std::make_unique<StripNormalizer>();
    n->left = get_bool(j, "strip_left", true);
    n->right = get_bool(j, "strip_right", true);
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type.empty()) return ctx.bad(where, "normalizer without a \"type\"");
  return ctx.unsupported_here(where, "normalizer type '" + type + "' is not supported");
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers
// ---------------------------------------------------------------------------------------------

// A piece of normalized text. at_origin: it starts at offset 0 of the original input (used by
// Metaspace's prepend_scheme "first").
struct Piece {
  std::string text;
  bool at_origin = false;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Result<SplitBehavior> parse_behavior(const Ctx& ctx, const std::string& where, const std::string& s) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  return ctx.bad(where, "unknown split behavior '" + s + "'");
}

struct Segment {
  size_t start, end;
  bool is_match;
};

// Splits `piece` at the given matches following Hugging Face's SplitDelimiterBehavior rules and
// appends the non-empty results to out.
void split_piece(Piece&& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& out) {
  const std::string& s = piece.text;
  std::vector<Segment> segs;
  segs.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (const auto& [a, b] : matches) {
    if (prev != a) segs.push_back({prev, a, false});
    segs.push_back({a, b, true});
    prev = b;
  }
  if (prev != s.size() || segs.empty()) segs.push_back({prev, s.size(), false});
  if (invert) {
    for (auto& g : segs) g.is_match = !g.is_match;
  }
  std::vector<Segment> res;
  res.reserve(segs.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& g : segs)
        if (!g.is_match) res.push_back(g);
      break;
    case SplitBehavior::kIsolated:
      res = segs;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool prev_match = false;
      for (const auto& g : segs) {
        if (g.is_match && !prev_match && !res.empty()) {
          res.back().end = g.end;
        } else {
          res.push_back(g);
        }
        prev_match = g.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool prev_match = false;
      for (size_t k = segs.size(); k-- > 0;) {
        const auto& g = segs[k];
        if (g.is_match && !prev_match && !res.empty()) {
          res.back().start = g.start;
        } else {
          res.push_back(g);
        }
        prev_match = g.is_match;
      }
      std::reverse(res.begin(), res.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool prev_match = false;
      for (const auto& g : segs) {
        if (g.is_match == prev_match && !res.empty()) {
          res.back().end = g.end;
        } else {
          res.push_back(g);
        }
        prev_match = g.is_match;
      }
      break;
    }
  }
  if (res.size() == 1 && res[0].start == 0 && res[0].end == s.size()) {
    if (!s.empty()) out.push_back(std::move(piece));
    return;
  }
  for (const auto& g : res) {
    if (g.end <= g.start) continue;
    out.push_back(Piece{s.substr(g.start, g.end - g.start), piece.at_origin && g.start == 0});
  }
}

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

std::unique_ptr<PatternSplitPreTokenizer> regex_splitter(const char* pattern, SplitBehavior behavior,
                                                         bool invert) {
  auto p = std::make_unique<PatternSplitPreTokenizer>();
  std::string err;
  p->pattern.regex = Regex::compile(pattern, &err);
  p->behavior = behavior;
  p->invert = invert;
  return p;
}

// Rust's char::is_ascii_punctuation || Unicode punctuation (P*).
constexpr const char* kPunctuationClass = "[\\p{P}!-/:-@\\[-`{-~]";

Result<std::unique_ptr<PreTokenizer>> build_pre_tokenizer(const Ctx& ctx, const std::string& where, const Json& j) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    const Json& list = j.at("pretokenizers");
    if (!list.is_array()) return ctx.bad(where, "\"pretokenizers\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      LPX_ASSIGN_OR_RETURN(auto p, build_pre_tokenizer(ctx, where + ".pretokenizers[" + std::to_string(i) + "]", list[i]));
      seq->items.push_back(std::move(p));
    }
    return std::unique_ptr<PreTokenizer>(std::move(seq));
  }
  if (type == "Split") {
    auto p = std::make_unique<PatternSplitPreTokenizer>();
    LPX_RETURN_IF_ERROR(parse_pattern(ctx, where + ".pattern", j.at("pattern"), &p->pattern));
    LPX_ASSIGN_OR_RETURN(p->behavior, parse_behavior(ctx, where + ".behavior", get_string(j, "behavior", "Isolated")));
    p->invert = get_bool(j, "invert", false);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "ByteLevel") {
    auto p = std::make_unique<ByteLevelPreTokenizer>();
    p->add_prefix_space = get_bool(j, "add_prefix_space", true);
    if (get_bool(j, "use_regex", true)) {
      std::string err;
      p->regex = Regex::compile(kGpt2Pattern, &err);
      if (!p->regex) return ctx.bad(where, err);
    }
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "Metaspace") {
    auto p = std::make_unique<MetaspacePreTokenizer>();
    p->replacement = get_string(j, "replacement", p->replacement);
    if (p->replacement.empty()) return ctx.bad(where, "empty Metaspace replacement");
    const std::string scheme = get_string(j, "prepend_scheme", "");
    if (scheme == "always") p->scheme = MetaspacePreTokenizer::kAlways;
    else if (scheme == "first") p->scheme = MetaspacePreTokenizer::kFirst;
    else if (scheme == "never") p->scheme = MetaspacePreTokenizer::kNever;
    else if (!scheme.empty()) return ctx.bad(where, "unknown prepend_scheme '" + scheme + "'");
    else p->scheme = get_bool(j, "add_prefix_space", true) ? MetaspacePreTokenizer::kAlways : MetaspacePreTokenizer::kNever;
    p->split = get_bool(j, "split", true);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "Digits") {
    const bool individual = get_bool(j, "individual_digits", false);
    return std::unique_ptr<PreTokenizer>(
        regex_splitter(individual ? "\\p{N}" : "\\p{N}+", SplitBehavior::kIsolated, false));
  }
  if (type == "Whitespace") {
    return std::unique_ptr<PreTokenizer>(regex_splitter("\\w+|[^\\w\\s]+", SplitBehavior::kRemoved, true));
  }
  if (type == "WhitespaceSplit") {
    return std::unique_ptr<PreTokenizer>(regex_splitter("\\s", SplitBehavior::kRemoved, false));
  }
  if (type == "Punctuation") {
    LPX_ASSIGN_OR_RETURN(SplitBehavior b, parse_behavior(ctx, where + ".behavior", get_string(j, "behavior", "Isolated")));
    return std::unique_ptr<PreTokenizer>(regex_splitter(kPunctuationClass, b, false));
  }
  if (type == "BertPreTokenizer") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    seq->items.push_back(regex_splitter("\\s", SplitBehavior::kRemoved, false));
    seq->items.push_back(regex_splitter(kPunctuationClass, SplitBehavior::kIsolated, false));
    return std::unique_ptr<PreTokenizer>(std::move(seq));
  }
  if (type == "CharDelimiterSplit") {
    auto p = std::make_unique<PatternSplitPreTokenizer>();
    p->pattern.literal = j.at("delimiter").get<std::string>();
    p->behavior = SplitBehavior::kRemoved;
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type.empty()) return ctx.bad(where, "pre-tokenizer without a \"type\"");
  return ctx.unsupported_here(where, "pre-tokenizer type '" + type + "' is not supported");
}

// ---------------------------------------------------------------------------------------------
// Parsing: model.vocab and model.merges (nearly all of a large file) are captured straight into
// flat vectors by a SAX handler; everything else becomes a normal JSON DOM.
// ---------------------------------------------------------------------------------------------

struct CapturedModel {
  bool has_vocab = false;
  bool has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  // Merges in file order: {"a b", ""} with is_line=1 for the string form, {a, b} for the pair form.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<uint8_t> merge_is_line;
  std::string error;  // first problem found inside vocab/merges (parsing stops there)
};

class TokenizerSax {
 public:
  TokenizerSax(Json& root, CapturedModel& cap) : dom_(root, true), cap_(cap) {}

  bool null() { return mode_ == kDom ? dom_.null() : bad_value("null"); }
  bool boolean(bool v) { return mode_ == kDom ? dom_.boolean(v) : bad_value("a boolean"); }
  bool number_integer(int64_t v) { return mode_ == kDom ? dom_.number_integer(v) : integer(v); }
  bool number_unsigned(uint64_t v) {
    if (mode_ == kDom) return dom_.number_unsigned(v);
    return integer(v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
  }
  bool number_float(double v, const std::string& text) {
    return mode_ == kDom ? dom_.number_float(v, text) : bad_value("a floating-point number");
  }
  bool binary(Json::binary_t& b) { return mode_ == kDom ? dom_.binary(b) : bad_value("binary data"); }
  bool string(std::string& v) {
    if (mode_ == kDom) return dom_.string(v);
    if (mode_ == kMerges) {
      if (depth_ == 1) {
        cap_.merges.emplace_back(std::move(v), std::string());
        cap_.merge_is_line.push_back(1);
        return true;
      }
      if (pair_parts_ == 0) cap_.merges.back().first = std::move(v);
      else if (pair_parts_ == 1) cap_.merges.back().second = std::move(v);
      else return fail_merge();
      ++pair_parts_;
      return true;
    }
    return bad_value("a string");
  }
  bool start_object(std::size_t n) {
    if (mode_ == kVocab) return bad_value("an object");
    if (mode_ == kMerges) return fail_merge();
    if (at_model_key("vocab")) {
      mode_ = kVocab;
      cap_.has_vocab = true;
      return dom_.null();  // placeholder in the DOM
    }
    frames_.push_back({true, {}});
    return dom_.start_object(n);
  }
  bool key(std::string& k) {
    if (mode_ == kVocab) {
      pending_key_ = std::move(k);
      return true;
    }
    if (!frames_.empty()) frames_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() {
    if (mode_ == kVocab) {
      mode_ = kDom;
      return true;
    }
    if (!frames_.empty()) frames_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (mode_ == kVocab) return bad_value("an array");
    if (mode_ == kMerges) {
      if (depth_ != 1) return fail_merge();
      depth_ = 2;
      pair_parts_ = 0;
      cap_.merges.emplace_back();
      cap_.merge_is_line.push_back(0);
      return true;
    }
    if (at_model_key("merges")) {
      mode_ = kMerges;
      depth_ = 1;
      cap_.has_merges = true;
      return dom_.null();
    }
    frames_.push_back({false, {}});
    return dom_.start_array(n);
  }
  bool end_array() {
    if (mode_ == kMerges) {
      if (depth_ == 2) {
        if (pair_parts_ != 2) return fail_merge();
        depth_ = 1;
        return true;
      }
      mode_ = kDom;
      return true;
    }
    if (!frames_.empty()) frames_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& ex) {
    return dom_.parse_error(pos, token, ex);  // throws the parse_error
  }

 private:
  enum Mode { kDom, kVocab, kMerges };
  struct Frame {
    bool is_object;
    std::string key;
  };
  // True when the next value is root["model"][name].
  bool at_model_key(const char* name) const {
    return frames_.size() == 2 && frames_[0].is_object && frames_[0].key == "model" && frames_[1].is_object &&
           frames_[1].key == name;
  }
  bool integer(int64_t v) {
    if (mode_ != kVocab) return fail_merge();
    cap_.vocab.emplace_back(std::move(pending_key_), v);
    return true;
  }
  bool bad_value(const char* what) {
    if (mode_ == kMerges) return fail_merge();
    cap_.error = "model.vocab: the id of token '" + pending_key_ + "' is " + what + ", expected an integer";
    return false;
  }
  bool fail_merge() {
    const size_t index = cap_.merges.empty() ? 0 : cap_.merges.size() - (depth_ == 2 ? 1 : 0);
    cap_.error = "model.merges[" + std::to_string(index) + "]: merge must be \"a b\" or [\"a\", \"b\"]";
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  CapturedModel& cap_;
  std::vector<Frame> frames_;
  Mode mode_ = kDom;
  int depth_ = 0;
  int pair_parts_ = 0;
  std::string pending_key_;
};

// ---------------------------------------------------------------------------------------------
// BPE model
// ---------------------------------------------------------------------------------------------

// Open-addressing hash map (id_a, id_b) -> (rank, merged id).
class MergeMap {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, {0, 0});
    mask_ = cap - 1;
  }
  void insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
    if ((size_ + 1) * 2 > keys_.size()) grow();
    const uint64_t key = make_key(a, b);
    size_t i = slot(key);
    while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
    if (keys_[i] == kEmpty) ++size_;
    keys_[i] = key;
    vals_[i] = {rank, id};
  }
  // Returns {rank, merged id} or nullptr.
  const std::pair<int32_t, int32_t>* find(int32_t a, int32_t b) const {
    if (size_ == 0) return nullptr;
    const uint64_t key = make_key(a, b);
    size_t i = slot(key);
    while (true) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  void grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<std::pair<int32_t, int32_t>> old_vals = std::move(vals_);
    reserve(std::max<size_t>(16, old_keys.size()));
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == kEmpty) continue;
      insert(static_cast<int32_t>(old_keys[i] >> 32), static_cast<int32_t>(old_keys[i] & 0xFFFFFFFFu),
             old_vals[i].first, old_vals[i].second);
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<std::pair<int32_t, int32_t>> vals_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Cache of word -> ids for recently seen pre-tokens. Readers share a lock; a writer that cannot
// get the lock immediately simply skips caching.
class WordCache {
 public:
  static constexpr size_t kCapacity = 10000;
  static constexpr size_t kMaxWordBytes = 256;

  bool lookup(std::string_view word, std::vector<int32_t>& out) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(word);
    if (it == map_.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(std::string_view word, const int32_t* ids, size_t n) {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    if (map_.size() >= kCapacity) map_.clear();
    map_.emplace(std::string(word), std::vector<int32_t>(ids, ids + n));
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map_;
};

class BpeModel {
 public:
  StringIdMap vocab;
  std::vector<std::string> vocab_r;  // id -> token ("" where no token has that id)
  std::vector<uint8_t> has_id;       // 1 where vocab_r[id] is a real token
  MergeMap merges;
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  std::array<int32_t, 256> byte_ids{};  // id of "<0xNN>", -1 if absent
  mutable WordCache cache;

  std::optional<int32_t> find(std::string_view token) const {
    auto it = vocab.find(token);
    if (it == vocab.end()) return std::nullopt;
    return it->second;
  }

  // True when a word may be cut before every U+2581 that follows another character without
  // changing the result: no vocab token spans such a point, so no merge can cross it. This makes
  // SentencePiece-style BPE (one "word" per text piece) fast and cache-friendly.
  bool split_at_metaspace = false;

  void init_metaspace_split() {
    static constexpr std::string_view kMeta = "\xE2\x96\x81";
    split_at_metaspace = false;
    if (ignore_merges || !continuing_subword_prefix.empty() || !end_of_word_suffix.empty()) return;
    if (!find(kMeta)) return;
    for (const auto& [tok, id] : vocab) {
      for (size_t p = tok.find(kMeta, 1); p != std::string::npos; p = tok.find(kMeta, p + 1)) {
        if (p < kMeta.size() || tok.compare(p - kMeta.size(), kMeta.size(), kMeta) != 0) return;
      }
    }
    split_at_metaspace = true;
  }

  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
      if (auto id = find(word)) {
        out.push_back(*id);
        return;
      }
    }
    if (split_at_metaspace) {
      static constexpr std::string_view kMeta = "\xE2\x96\x81";
      size_t seg = 0;
      for (size_t p = word.find(kMeta, 1); p != std::string_view::npos; p = word.find(kMeta, p + 1)) {
        if (p > seg && (p < kMeta.size() || word.compare(p - kMeta.size(), kMeta.size(), kMeta) != 0)) {
          tokenize_segment(word.substr(seg, p - seg), out);
          seg = p;
        }
      }
      tokenize_segment(word.substr(seg), out);
      return;
    }
    tokenize_segment(word, out);
  }

 private:
  void tokenize_segment(std::string_view word, std::vector<int32_t>& out) const {
    const bool cacheable = word.size() < WordCache::kMaxWordBytes;
    if (cacheable && cache.lookup(word, out)) return;
    const size_t before = out.size();
    merge_word(word, out);
    if (cacheable) cache.insert(word, out.data() + before, out.size() - before);
  }

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
  };

  void merge_word(std::string_view w, std::vector<int32_t>& out) const {
    std::vector<Symbol> sym;
    sym.reserve(w.size());
    auto add = [&](int32_t id) {
      const auto n = static_cast<int32_t>(sym.size());
      sym.push_back({id, n - 1, n + 1, 1});
    };
    int32_t pending_unk = -1;  // id of a pending (possibly fused) unknown run, -1 if none
    std::string buf;
    size_t i = 0;
    while (i < w.size()) {
      const size_t n = utf8_len_at(w, i);
      const bool is_first = i == 0;
      const bool is_last = i + n >= w.size();
      std::string_view piece = w.substr(i, n);
      if ((!is_first && !continuing_subword_prefix.empty()) || (is_last && !end_of_word_suffix.empty())) {
        buf.clear();
        if (!is_first) buf += continuing_subword_prefix;
        buf += piece;
        if (is_last) buf += end_of_word_suffix;
        piece = buf;
      }
      i += n;
      if (auto id = find(piece)) {
        if (pending_unk >= 0) {
          add(pending_unk);
          pending_unk = -1;
        }
        add(*id);
        continue;
      }
      if (byte_fallback) {
        bool all = true;
        for (unsigned char b : piece) all = all && byte_ids[b] >= 0;
        if (all) {
          if (pending_unk >= 0) {
            add(pending_unk);
            pending_unk = -1;
          }
          for (unsigned char b : piece) add(byte_ids[b]);
          continue;
        }
      }
      if (unk_id) {
        if (pending_unk >= 0 && !fuse_unk) add(pending_unk);
        pending_unk = *unk_id;
      }
    }
    if (pending_unk >= 0) add(pending_unk);
    if (sym.empty()) return;
    sym.back().next = -1;

    // Lowest rank first; ties go to the leftmost position.
    auto worse = [](const Candidate& a, const Candidate& b) {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    std::vector<Candidate> heap;
    heap.reserve(sym.size() * 2);
    for (size_t k = 0; k + 1 < sym.size(); ++k) {
      if (const auto* m = merges.find(sym[k].id, sym[k + 1].id)) {
        heap.push_back({m->first, static_cast<int32_t>(k), m->second});
      }
    }
    std::make_heap(heap.begin(), heap.end(), worse);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& cur = sym[top.pos];
      if (!cur.alive || cur.next < 0) continue;
      Symbol& right = sym[cur.next];
      const auto* m = merges.find(cur.id, right.id);
      if (m == nullptr || m->second != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      right.alive = 0;
      cur.next = right.next;
      if (cur.next >= 0) sym[cur.next].prev = top.pos;
      if (cur.prev >= 0) {
        if (const auto* pm = merges.find(sym[cur.prev].id, cur.id)) {
          heap.push_back({pm->first, cur.prev, pm->second});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
      if (cur.next >= 0) {
        if (const auto* nm = merges.find(cur.id, sym[cur.next].id)) {
          heap.push_back({nm->first, top.pos, nm->second});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
    }
    for (int32_t k = 0; k >= 0; k = sym[k].next) out.push_back(sym[k].id);
  }
};

// The largest id we accept (guards against absurd allocations from a corrupt file).
constexpr int64_t kMaxTokenId = (int64_t{1} << 26) - 1;

Status build_bpe(const Ctx& ctx, const Json& j, CapturedModel& cap, BpeModel* m) {
  const std::string where = "model";
  if (!j.is_object()) return ctx.bad(where, "\"model\" must be an object");
  std::string type = type_of(j);
  if (type.empty()) {
    if (j.contains("merges")) type = "BPE";
    else return ctx.bad(where, "model without a \"type\"");
  }
  if (type != "BPE") {
    return ctx.unsupported_here(where + ".type", "model type '" + type + "' is not supported (only BPE)");
  }
  if (!cap.has_vocab) {
    auto vit = j.find("vocab");
    if (vit == j.end() || vit->is_null()) return ctx.bad(where, "missing \"vocab\"");
    return ctx.bad(where + ".vocab", "must be an object {token: id}");
  }
  m->vocab.reserve(cap.vocab.size() * 2);
  int64_t max_id = -1;
  for (auto& [tok, id] : cap.vocab) {
    if (id < 0 || id > kMaxTokenId) {
      return ctx.bad(where + ".vocab", "id " + std::to_string(id) + " of token '" + tok + "' is out of range");
    }
    max_id = std::max(max_id, id);
    m->vocab[std::move(tok)] = static_cast<int32_t>(id);
  }
  cap.vocab.clear();
  cap.vocab.shrink_to_fit();
  m->vocab_r.assign(static_cast<size_t>(max_id + 1), std::string());
  m->has_id.assign(static_cast<size_t>(max_id + 1), 0);
  for (const auto& [tok, id] : m->vocab) {
    m->vocab_r[id] = tok;
    m->has_id[id] = 1;
  }

  const std::string unk = get_string(j, "unk_token", "");
  if (!unk.empty()) {
    if (auto id = m->find(unk)) m->unk_id = *id;
    else LPX_LOG_WARN(ctx.name + ": model.unk_token '" + unk + "' is not in the vocab; unknown characters are dropped");
  }
  m->fuse_unk = get_bool(j, "fuse_unk", false);
  m->byte_fallback = get_bool(j, "byte_fallback", false);
  m->ignore_merges = get_bool(j, "ignore_merges", false);
  m->continuing_subword_prefix = get_string(j, "continuing_subword_prefix", "");
  m->end_of_word_suffix = get_string(j, "end_of_word_suffix", "");
  if (j.contains("dropout") && !j.at("dropout").is_null() && j.at("dropout").get<double>() > 0.0) {
    LPX_LOG_WARN(ctx.name + ": model.dropout is ignored (deterministic inference)");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto id = m->find(name);
    m->byte_ids[b] = id ? *id : -1;
  }

  if (!cap.has_merges) {
    auto mit = j.find("merges");
    if (mit != j.end() && !mit->is_null()) return ctx.bad(where + ".merges", "must be an array");
    m->init_metaspace_split();
    return Status::ok();
  }
  m->merges.reserve(cap.merges.size());
  const size_t prefix_len = m->continuing_subword_prefix.size();
  std::string joined;
  for (size_t r = 0; r < cap.merges.size(); ++r) {
    std::string_view a, b;
    if (cap.merge_is_line[r]) {
      const std::string& line = cap.merges[r].first;
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        return ctx.bad(where + ".merges[" + std::to_string(r) + "]",
                       "merge \"" + line + "\" is not two tokens separated by one space (a vocab token "
                       "containing a space must use the [\"a\", \"b\"] form)");
      }
      a = std::string_view(line).substr(0, sp);
      b = std::string_view(line).substr(sp + 1);
    } else {
      a = cap.merges[r].first;
      b = cap.merges[r].second;
    }
    const auto ia = m->find(a);
    if (!ia) return ctx.bad(where + ".merges[" + std::to_string(r) + "]", "merge token '" + std::string(a) + "' is not in the vocab");
    const auto ib = m->find(b);
    if (!ib) return ctx.bad(where + ".merges[" + std::to_string(r) + "]", "merge token '" + std::string(b) + "' is not in the vocab");
    joined.assign(a);
    joined.append(b.substr(std::min(prefix_len, b.size())));
    const auto ij = m->find(joined);
    if (!ij) return ctx.bad(where + ".merges[" + std::to_string(r) + "]", "merged token '" + joined + "' is not in the vocab");
    m->merges.insert(*ia, *ib, static_cast<int32_t>(r), *ij);
  }
  m->init_metaspace_split();
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Added tokens
// ---------------------------------------------------------------------------------------------

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

struct AddedSplit {
  size_t start, end;
  int32_t id;  // -1: plain text
};

// Leftmost-longest matcher over a set of added-token patterns.
class AddedTokenMatcher {
 public:
  void add(std::string_view pattern, int32_t token_index) {
    if (pattern.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    int32_t node = 0;
    for (unsigned char c : pattern) {
      int32_t next = -1;
      for (const auto& [byte, child] : nodes_[node].edges) {
        if (byte == c) {
          next = child;
          break;
        }
      }
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[node].edges.emplace_back(c, next);
        nodes_.emplace_back();
      }
      node = next;
    }
    if (nodes_[node].token < 0) nodes_[node].token = token_index;  // first registration wins
    first_byte_[static_cast<unsigned char>(pattern[0])] = true;
  }
  bool empty() const { return nodes_.empty(); }

  // Finds the leftmost-longest match starting at or after `from`. Returns false if none.
  bool next_match(std::string_view s, size_t from, size_t* start, size_t* end, int32_t* token) const {
    for (size_t i = from; i < s.size(); ++i) {
      if (!first_byte_[static_cast<unsigned char>(s[i])]) continue;
      int32_t node = 0;
      int32_t best_tok = -1;
      size_t best_end = 0;
      for (size_t k = i; k < s.size(); ++k) {
        int32_t next = -1;
        const auto c = static_cast<unsigned char>(s[k]);
        for (const auto& [byte, child] : nodes_[node].edges) {
          if (byte == c) {
            next = child;
            break;
          }
        }
        if (next < 0) break;
        node = next;
        if (nodes_[node].token >= 0) {
          best_tok = nodes_[node].token;
          best_end = k + 1;
        }
      }
      if (best_tok >= 0) {
        *start = i;
        *end = best_end;
        *token = best_tok;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> edges;
    int32_t token = -1;
  };
  std::vector<Node> nodes_;
  std::array<bool, 256> first_byte_{};
};

// Byte offset where the trailing whitespace of s begins.
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t p = end - 1;
    while (p > 0 && utf8::is_continuation(static_cast<unsigned char>(s[p]))) --p;
    const utf8::Decoded d = utf8::decode(s, p);
    if (!d.ok() || !unicode::is_whitespace(d.cp)) break;
    end = p;
  }
  return end;
}

size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto [cp, n] = utf8::decode(s, i);
    if (n == 0 || !unicode::is_whitespace(cp)) break;
    i += n;
  }
  return i;
}

char32_t last_cp(std::string_view s) {
  if (s.empty()) return 0;
  size_t p = s.size() - 1;
  while (p > 0 && utf8::is_continuation(static_cast<unsigned char>(s[p]))) --p;
  return utf8::decode(s, p).cp;  // 0 when invalid
}

// ---------------------------------------------------------------------------------------------
// Post-processors
// ---------------------------------------------------------------------------------------------

struct TemplateItem {
  bool is_sequence = false;
  std::vector<int32_t> ids;  // for special tokens
  std::vector<std::string> tokens;
};

// Flattened post-processing for a single sequence: items before and after the sequence.
struct PostProcessor {
  std::vector<TemplateItem> single;  // empty: no-op
  void apply(Encoding& enc) const {
    if (single.empty()) return;
    Encoding out;
    for (const auto& item : single) {
      if (item.is_sequence) {
        out.ids.insert(out.ids.end(), enc.ids.begin(), enc.ids.end());
        for (auto& t : enc.tokens) out.tokens.push_back(std::move(t));
      } else {
        out.ids.insert(out.ids.end(), item.ids.begin(), item.ids.end());
        out.tokens.insert(out.tokens.end(), item.tokens.begin(), item.tokens.end());
      }
    }
    enc = std::move(out);
  }
};

Status build_post_processor(const Ctx& ctx, const std::string& where, const Json& j, PostProcessor* pp) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    const Json& list = j.at("processors");
    if (!list.is_array()) return ctx.bad(where, "\"processors\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      PostProcessor inner;
      LPX_RETURN_IF_ERROR(build_post_processor(ctx, where + ".processors[" + std::to_string(i) + "]", list[i], &inner));
      if (inner.single.empty()) continue;
      if (pp->single.empty()) {
        pp->single = std::move(inner.single);
      } else {
        // Compose: wrap the current template's sequence with the inner template.
        std::vector<TemplateItem> composed;
        for (auto& item : inner.single) {
          if (item.is_sequence) composed.insert(composed.end(), pp->single.begin(), pp->single.end());
          else composed.push_back(item);
        }
        pp->single = std::move(composed);
      }
    }
    return Status::ok();
  }
  if (type == "ByteLevel") return Status::ok();  // only adjusts offsets
  if (type == "TemplateProcessing") {
    std::unordered_map<std::string, TemplateItem> specials;
    if (j.contains("special_tokens") && j.at("special_tokens").is_object()) {
      for (auto it = j.at("special_tokens").begin(); it != j.at("special_tokens").end(); ++it) {
        TemplateItem item;
        const Json& v = it.value();
        for (const auto& id : v.at("ids")) item.ids.push_back(id.get<int32_t>());
        for (const auto& t : v.at("tokens")) item.tokens.push_back(t.get<std::string>());
        if (item.ids.size() != item.tokens.size()) {
          return ctx.bad(where + ".special_tokens." + it.key(), "\"ids\" and \"tokens\" differ in length");
        }
        specials[it.key()] = std::move(item);
      }
    }
    auto add_special = [&](const std::string& id) -> Status {
      auto it = specials.find(id);
      if (it == specials.end()) return ctx.bad(where + ".single", "special token '" + id + "' is missing from special_tokens");
      pp->single.push_back(it->second);
      return Status::ok();
    };
    const Json& single = j.at("single");
    if (single.is_string()) {
      // Text form: "<s>:0 $A:0" or "$A [SEP]".
      std::string s = single.get<std::string>();
      size_t pos = 0;
      while (pos < s.size()) {
        while (pos < s.size() && s[pos] == ' ') ++pos;
        if (pos >= s.size()) break;
        size_t e = s.find(' ', pos);
        if (e == std::string::npos) e = s.size();
        std::string piece = s.substr(pos, e - pos);
        pos = e;
        const size_t colon = piece.rfind(':');
        if (colon != std::string::npos && colon > 0) piece = piece.substr(0, colon);
        if (piece == "$A" || piece == "$" || piece == "$0" || piece == "$B" || piece == "$1") {
          TemplateItem seq;
          seq.is_sequence = true;
          pp->single.push_back(seq);
        } else {
          LPX_RETURN_IF_ERROR(add_special(piece));
        }
      }
    } else if (single.is_array()) {
      for (const auto& item : single) {
        if (item.contains("Sequence")) {
          TemplateItem seq;
          seq.is_sequence = true;
          pp->single.push_back(seq);
        } else if (item.contains("SpecialToken")) {
          LPX_RETURN_IF_ERROR(add_special(item.at("SpecialToken").at("id").get<std::string>()));
        } else {
          return ctx.bad(where + ".single", "template item must be Sequence or SpecialToken");
        }
      }
    } else {
      return ctx.bad(where + ".single", "must be a list or a string");
    }
    return Status::ok();
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto pair_item = [&](const char* key) -> Result<TemplateItem> {
      const Json& v = j.at(key);
      if (!v.is_array() || v.size() != 2) return ctx.bad(where + "." + key, "must be [token, id]");
      TemplateItem item;
      item.tokens.push_back(v[0].get<std::string>());
      item.ids.push_back(v[1].get<int32_t>());
      return item;
    };
    LPX_ASSIGN_OR_RETURN(TemplateItem cls, pair_item("cls"));
    LPX_ASSIGN_OR_RETURN(TemplateItem sep, pair_item("sep"));
    TemplateItem seq;
    seq.is_sequence = true;
    pp->single = {cls, seq, sep};
    return Status::ok();
  }
  if (type.empty()) return ctx.bad(where, "post-processor without a \"type\"");
  return ctx.unsupported_here(where, "post-processor type '" + type + "' is not supported");
}

// ---------------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------------

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

class SequenceDecoder final : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> items;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items) d->decode_chain(tokens);
  }
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      const size_t mark = bytes.size();
      bool ok = true;
      size_t i = 0;
      while (i < t.size()) {
        const auto [cp, n] = utf8::decode(t, i);
        const int b = n == 0 ? -1 : unicode::char_to_byte(cp);
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
        i += n;
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8::repair(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  std::string replacement = "\xE2\x96\x81";
  bool prepend = true;  // prepend_scheme != never
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement, (i == 0 && prepend) ? "" : " ");
    }
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceNormalizer replace;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) replace.apply(t);
  }
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8::valid(pending)) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          return -1;
        };
        const int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) byte = hi * 16 + lo;
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  std::string content = " ";
  size_t start = 0, stop = 0;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start && t.compare(b, content.size(), content) == 0 && b < e; ++k) b += content.size();
      for (size_t k = 0; k < stop && e >= b + content.size() &&
                         t.compare(e - content.size(), content.size(), content) == 0;
           ++k) {
        e -= content.size();
      }
      t = t.substr(b, e - b);
    }
  }
};

Result<std::unique_ptr<Decoder>> build_decoder(const Ctx& ctx, const std::string& where, const Json& j) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    const Json& list = j.at("decoders");
    if (!list.is_array()) return ctx.bad(where, "\"decoders\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      LPX_ASSIGN_OR_RETURN(auto d, build_decoder(ctx, where + ".decoders[" + std::to_string(i) + "]", list[i]));
      seq->items.push_back(std::move(d));
    }
    return std::unique_ptr<Decoder>(std::move(seq));
  }
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "Metaspace") {
    auto d = std::make_unique<MetaspaceDecoder>();
    d->replacement = get_string(j, "replacement", d->replacement);
    const std::string scheme = get_string(j, "prepend_scheme", "");
    if (!scheme.empty()) d->prepend = scheme != "never";
    else d->prepend = get_bool(j, "add_prefix_space", true);
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type == "Replace") {
    auto d = std::make_unique<ReplaceDecoder>();
    LPX_RETURN_IF_ERROR(parse_pattern(ctx, where + ".pattern", j.at("pattern"), &d->replace.pattern));
    d->replace.content = j.at("content").get<std::string>();
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") {
    auto d = std::make_unique<StripDecoder>();
    d->content = get_string(j, "content", " ");
    if (first_cp(d->content) == 0 && !d->content.empty()) return ctx.bad(where, "invalid Strip content");
    d->content = d->content.substr(0, utf8_len_at(d->content, 0));
    d->start = j.value("start", size_t{0});
    d->stop = j.value("stop", size_t{0});
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type.empty()) return ctx.bad(where, "decoder without a \"type\"");
  return ctx.unsupported_here(where, "decoder type '" + type + "' is not supported");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::string name;
  BpeModel model;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  PostProcessor post;
  std::unique_ptr<Decoder> decoder;

  std::vector<AddedToken> added;                // in file order
  std::unordered_map<int32_t, size_t> added_by_id;
  StringIdMap added_by_content;
  std::unordered_map<int32_t, std::string> decode_form;  // normalized content of normalized tokens
  std::unordered_set<std::string> special_contents;
  AddedTokenMatcher raw_matcher;   // non-normalized added tokens, matched on the raw text
  AddedTokenMatcher norm_matcher;  // normalized added tokens, matched on normalized text

  TokenizerConfig config;
  std::optional<int32_t> bos, eos;
  int32_t vocab_size = 0;

  // Finds added tokens in `s` (Hugging Face AddedVocabulary::find_matches semantics).
  std::vector<AddedSplit> find_added(std::string_view s, const AddedTokenMatcher& matcher) const {
    std::vector<AddedSplit> splits;
    if (matcher.empty() || s.empty()) {
      splits.push_back({0, s.size(), -1});
      return splits;
    }
    size_t start_offset = 0;
    size_t from = 0;
    size_t ms = 0, me = 0;
    int32_t tok = -1;
    while (from < s.size() && matcher.next_match(s, from, &ms, &me, &tok)) {
      from = me;
      const AddedToken& t = added[static_cast<size_t>(tok)];
      size_t start = ms, stop = me;
      if (t.single_word) {
        const bool start_ok = start == 0 || !is_word_char(last_cp(s.substr(0, start)));
        const bool stop_ok = stop == s.size() || !is_word_char(first_cp(s.substr(stop)));
        if (!start_ok || !stop_ok) continue;
      }
      if (t.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
      if (t.rstrip) stop += leading_space_len(s.substr(stop));
      if (start_offset < start) splits.push_back({start_offset, start, -1});
      splits.push_back({start, stop, t.id});
      start_offset = stop;
    }
    if (start_offset < s.size()) splits.push_back({start_offset, s.size(), -1});
    return splits;
  }

  void run_model(std::string text, bool at_origin, Encoding& enc, bool want_tokens) const {
    std::vector<Piece> pieces;
    pieces.push_back(Piece{std::move(text), at_origin});
    if (pre_tokenizer) pre_tokenizer->apply(pieces);
    for (const auto& p : pieces) {
      const size_t before = enc.ids.size();
      model.tokenize(p.text, enc.ids);
      if (want_tokens) {
        for (size_t k = before; k < enc.ids.size(); ++k) enc.tokens.push_back(model.vocab_r[enc.ids[k]]);
      }
    }
  }

  Encoding encode(std::string_view input, bool add_special, bool want_tokens) const {
    std::string repaired;
    if (!utf8::valid(input)) {
      repaired = utf8::repair(input);
      input = repaired;
    }
    Encoding enc;
    for (const AddedSplit& outer : find_added(input, raw_matcher)) {
      std::string_view piece = input.substr(outer.start, outer.end - outer.start);
      if (outer.id >= 0) {
        enc.ids.push_back(outer.id);
        if (want_tokens) enc.tokens.emplace_back(piece);
        continue;
      }
      if (piece.empty()) continue;
      std::string normalized(piece);
      if (normalizer) normalizer->apply(normalized);
      if (normalized.empty()) continue;
      for (const AddedSplit& inner : find_added(normalized, norm_matcher)) {
        if (inner.id >= 0) {
          enc.ids.push_back(inner.id);
          if (want_tokens) enc.tokens.push_back(normalized.substr(inner.start, inner.end - inner.start));
          continue;
        }
        if (inner.end <= inner.start) continue;
        run_model(normalized.substr(inner.start, inner.end - inner.start), outer.start == 0 && inner.start == 0,
                  enc, want_tokens);
      }
    }
    if (add_special) post.apply(enc);
    if (!want_tokens) enc.tokens.clear();
    return enc;
  }

  // The string the decoder sees for an id; nullopt if unknown.
  const std::string* token_for_decode(int32_t id) const {
    auto it = added_by_id.find(id);
    if (it != added_by_id.end()) {
      auto nf = decode_form.find(id);
      return nf != decode_form.end() ? &nf->second : &added[it->second].content;
    }
    if (id >= 0 && static_cast<size_t>(id) < model.vocab_r.size() && model.has_id[id]) return &model.vocab_r[id];
    return nullptr;
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      const std::string* t = token_for_decode(id);
      if (t == nullptr) continue;
      if (skip_special && special_contents.count(*t) != 0) continue;
      tokens.push_back(*t);
    }
    if (!decoder) {
      std::string out;
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) out += ' ';
        out += tokens[i];
      }
      return out;
    }
    decoder->decode_chain(tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
  }

  std::optional<int32_t> token_to_id(std::string_view token) const {
    auto it = added_by_content.find(token);
    if (it != added_by_content.end()) return it->second;
    return model.find(token);
  }
};

namespace {

// Reads a special-token field of tokenizer_config.json: "str", {"content": "str", ...} or null.
Result<std::optional<std::string>> config_token(const Ctx& ctx, const Json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object() && it->contains("content") && it->at("content").is_string()) {
    return std::optional<std::string>(it->at("content").get<std::string>());
  }
  return ctx.bad(key, "must be a string, {\"content\": ...} or null");
}

// had_add_bos / had_add_eos: set when the file has a boolean add_bos_token / add_eos_token.
Status load_config(const Ctx& ctx, std::string_view text, const std::string& config_path, TokenizerConfig* cfg,
                   bool* had_add_bos, bool* had_add_eos) {
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return corrupt(ctx.name + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) return corrupt(ctx.name + ": top level must be a JSON object");
  try {
    LPX_ASSIGN_OR_RETURN(auto bos, config_token(ctx, j, "bos_token"));
    LPX_ASSIGN_OR_RETURN(auto eos, config_token(ctx, j, "eos_token"));
    LPX_ASSIGN_OR_RETURN(auto unk, config_token(ctx, j, "unk_token"));
    LPX_ASSIGN_OR_RETURN(auto pad, config_token(ctx, j, "pad_token"));
    if (bos) cfg->bos_token = *bos;
    if (eos) cfg->eos_token = *eos;
    if (unk) cfg->unk_token = *unk;
    if (pad) cfg->pad_token = *pad;
    auto flag = [&](const char* key, bool* out, bool* had) -> Status {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) return Status::ok();
      if (!it->is_boolean()) return ctx.bad(key, "must be true or false");
      *out = it->get<bool>();
      *had = true;
      return Status::ok();
    };
    LPX_RETURN_IF_ERROR(flag("add_bos_token", &cfg->add_bos, had_add_bos));
    LPX_RETURN_IF_ERROR(flag("add_eos_token", &cfg->add_eos, had_add_eos));
    auto ct = j.find("chat_template");
    if (ct != j.end() && !ct->is_null()) {
      if (ct->is_string()) {
        cfg->chat_template = ct->get<std::string>();
      } else if (ct->is_array()) {
        for (size_t i = 0; i < ct->size(); ++i) {
          const Json& e = (*ct)[i];
          if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e.at("name").is_string() ||
              !e.at("template").is_string()) {
            return ctx.bad("chat_template[" + std::to_string(i) + "]", "must be {\"name\": ..., \"template\": ...}");
          }
          const std::string name = e.at("name").get<std::string>();
          cfg->named_templates[name] = e.at("template").get<std::string>();
          if (name == "default") cfg->chat_template = cfg->named_templates[name];
        }
      } else {
        return ctx.bad("chat_template", "must be a string or a list of {name, template}");
      }
    }
  } catch (const Json::exception& e) {
    return corrupt(ctx.name + ": " + e.what());
  }
  if (cfg->chat_template.empty() && !config_path.empty()) {
    const std::string jinja =
        (std::filesystem::path(config_path).parent_path() / "chat_template.jinja").string();
    if (file_exists(jinja)) {
      LPX_ASSIGN_OR_RETURN(cfg->chat_template, read_file(jinja));
    }
  }
  cfg->loaded_from_file = true;
  return Status::ok();
}

Status build_tokenizer(const Ctx& ctx, const Json& j, CapturedModel& cap, Tokenizer::Impl* t) {
  if (!j.is_object()) return corrupt(ctx.name + ": top level must be a JSON object");
  auto mit = j.find("model");
  if (mit == j.end() || mit->is_null()) return ctx.bad("model", "missing");
  LPX_RETURN_IF_ERROR(build_bpe(ctx, *mit, cap, &t->model));

  if (j.contains("normalizer") && !j.at("normalizer").is_null()) {
    LPX_ASSIGN_OR_RETURN(t->normalizer, build_normalizer(ctx, "normalizer", j.at("normalizer")));
  }
  if (j.contains("pre_tokenizer") && !j.at("pre_tokenizer").is_null()) {
    LPX_ASSIGN_OR_RETURN(t->pre_tokenizer, build_pre_tokenizer(ctx, "pre_tokenizer", j.at("pre_tokenizer")));
  }
  if (j.contains("post_processor") && !j.at("post_processor").is_null()) {
    LPX_RETURN_IF_ERROR(build_post_processor(ctx, "post_processor", j.at("post_processor"), &t->post));
  }
  if (j.contains("decoder") && !j.at("decoder").is_null()) {
    LPX_ASSIGN_OR_RETURN(t->decoder, build_decoder(ctx, "decoder", j.at("decoder")));
  }

  int64_t max_id = static_cast<int64_t>(t->model.vocab_r.size()) - 1;
  if (j.contains("added_tokens") && !j.at("added_tokens").is_null()) {
    const Json& list = j.at("added_tokens");
    if (!list.is_array()) return ctx.bad("added_tokens", "must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& e = list[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("content") || !e.at("content").is_string()) {
        return ctx.bad(where, "must be an object with a string \"content\"");
      }
      AddedToken tok;
      tok.content = e.at("content").get<std::string>();
      if (tok.content.empty()) continue;
      tok.single_word = get_bool(e, "single_word", false);
      tok.lstrip = get_bool(e, "lstrip", false);
      tok.rstrip = get_bool(e, "rstrip", false);
      tok.normalized = get_bool(e, "normalized", true);
      tok.special = get_bool(e, "special", false);
      // Like Hugging Face: a content already in the vocab keeps its vocab id.
      if (auto existing = t->token_to_id(tok.content)) {
        tok.id = *existing;
      } else if (e.contains("id") && e.at("id").is_number_integer()) {
        const int64_t id = e.at("id").get<int64_t>();
        if (id < 0 || id > kMaxTokenId) return ctx.bad(where, "id " + std::to_string(id) + " is out of range");
        tok.id = static_cast<int32_t>(id);
      } else {
        tok.id = static_cast<int32_t>(max_id + 1);
      }
      max_id = std::max<int64_t>(max_id, tok.id);
      auto prev = t->added_by_id.find(tok.id);
      if (prev != t->added_by_id.end()) {
        t->added[prev->second] = tok;  // a later entry for the same id replaces the earlier one
      } else {
        t->added_by_id[tok.id] = t->added.size();
        t->added.push_back(tok);
      }
      t->added_by_content[tok.content] = tok.id;
      if (tok.special) t->special_contents.insert(tok.content);
    }
  }
  for (size_t i = 0; i < t->added.size(); ++i) {
    const AddedToken& tok = t->added[i];
    if (t->added_by_id.at(tok.id) != i) continue;
    if (!tok.normalized) {
      t->raw_matcher.add(tok.content, static_cast<int32_t>(i));
    } else {
      std::string form = tok.content;
      if (t->normalizer) t->normalizer->apply(form);
      if (form != tok.content) t->decode_form[tok.id] = form;
      t->norm_matcher.add(form, static_cast<int32_t>(i));
    }
  }
  // Template special tokens must resolve to real ids.
  for (const auto& item : t->post.single) {
    for (int32_t id : item.ids) {
      if (id < 0 || id > max_id) {
        return ctx.bad("post_processor", "special token id " + std::to_string(id) + " is outside the vocab");
      }
    }
  }
  t->vocab_size = static_cast<int32_t>(max_id + 1);
  return Status::ok();
}

// Fills config fields the tokenizer_config did not provide, and resolves bos/eos ids.
void finish_config(Tokenizer::Impl* t, bool had_add_bos, bool had_add_eos) {
  TokenizerConfig& cfg = t->config;
  const auto& items = t->post.single;
  size_t seq_pos = items.size();
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].is_sequence) {
      seq_pos = i;
      break;
    }
  }
  const bool template_bos = seq_pos != items.size() && seq_pos > 0 && !items[0].tokens.empty();
  const bool template_eos = seq_pos + 1 < items.size() && !items.back().tokens.empty();
  if (!had_add_bos) cfg.add_bos = template_bos;
  if (!had_add_eos) cfg.add_eos = template_eos;
  if (cfg.bos_token.empty() && template_bos) cfg.bos_token = items[0].tokens.front();
  if (cfg.eos_token.empty() && template_eos) cfg.eos_token = items.back().tokens.back();
  if (cfg.eos_token.empty() && !cfg.loaded_from_file) {
    for (const char* name : {"</s>", "<|end_of_text|>", "<|endoftext|>"}) {
      if (t->token_to_id(name)) {
        cfg.eos_token = name;
        break;
      }
    }
  }
  if (!cfg.bos_token.empty()) t->bos = t->token_to_id(cfg.bos_token);
  if (!cfg.eos_token.empty()) t->eos = t->token_to_id(cfg.eos_token);
}

Result<std::unique_ptr<Tokenizer::Impl>> build_impl(std::string_view text, const std::string& name,
                                                    std::string_view config_text, const std::string& config_name,
                                                    const std::string& config_path) {
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->name = name;
  Ctx ctx{impl->name};
  Json j;
  CapturedModel cap;
  try {
    TokenizerSax sax(j, cap);
    const bool ok = Json::sax_parse(text.begin(), text.end(), &sax);
    if (!ok) return corrupt(name + ": " + (cap.error.empty() ? std::string("invalid JSON") : cap.error));
  } catch (const Json::exception& e) {
    return corrupt(name + ": invalid JSON: " + e.what());
  }
  try {
    LPX_RETURN_IF_ERROR(build_tokenizer(ctx, j, cap, impl.get()));
  } catch (const Json::exception& e) {
    return corrupt(name + ": unexpected structure: " + e.what());
  }
  bool had_bos = false, had_eos = false;
  if (!config_text.empty()) {
    Ctx cctx{config_name};
    LPX_RETURN_IF_ERROR(load_config(cctx, config_text, config_path, &impl->config, &had_bos, &had_eos));
  }
  finish_config(impl.get(), had_bos, had_eos);
  return impl;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::load(const std::string& tokenizer_json, const std::string& config_json) {
  LPX_ASSIGN_OR_RETURN(std::string text, read_file(tokenizer_json));
  std::string config_text;
  if (!config_json.empty()) {
    LPX_ASSIGN_OR_RETURN(config_text, read_file(config_json));
    if (config_text.empty()) return corrupt(config_json + ": empty file");
  }
  if (text.empty()) return corrupt(tokenizer_json + ": empty file");
  LPX_ASSIGN_OR_RETURN(auto impl, build_impl(text, tokenizer_json, config_text, config_json, config_json));
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::from_json(std::string_view tokenizer_json_text, const std::string& name,
                                       std::string_view config_json_text) {
  LPX_ASSIGN_OR_RETURN(auto impl, build_impl(tokenizer_json_text, name, config_json_text,
                                             name + " (tokenizer_config)", ""));
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens, false).ids;
}

Encoding Tokenizer::encode_with_tokens(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens, true);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->token_to_id(token); }

std::string Tokenizer::id_to_token(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  if (it != impl_->added_by_id.end()) return impl_->added[it->second].content;
  const auto& m = impl_->model;
  if (id >= 0 && static_cast<size_t>(id) < m.vocab_r.size() && m.has_id[id]) return m.vocab_r[id];
  return "";
}

bool Tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
const TokenizerConfig& Tokenizer::config() const { return impl_->config; }

// ---------------------------------------------------------------------------------------------
// IncrementalDecoder
// ---------------------------------------------------------------------------------------------

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

namespace {
bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// After this many held-back ids the text is emitted even if it ends in U+FFFD: no character
// needs that many byte tokens, so the tail is invalid bytes, not an unfinished character.
constexpr size_t kMaxPendingIds = 16;

// The part of `text` after the already emitted `prefix`. If the decoder rewrote earlier text (not
// the case for the supported decoders) everything after the common prefix is returned.
std::string text_after(const std::string& text, const std::string& prefix) {
  if (text.compare(0, prefix.size(), prefix) == 0) return text.substr(prefix.size());
  size_t common = 0;
  while (common < prefix.size() && common < text.size() && prefix[common] == text[common]) ++common;
  while (common > 0 && common < text.size() &&
         utf8::is_continuation(static_cast<unsigned char>(text[common]))) {
    --common;
  }
  return text.substr(common);
}
}  // namespace

std::string IncrementalDecoder::push(int32_t id) {
  if (prefix_.empty() && !ids_.empty()) {
    std::string p = tokenizer_->decode(ids_, skip_special_);
    if (!ends_with_replacement(p)) {
      prefix_ = std::move(p);
      prefix_index_ = ids_.size();
    }
  }
  ids_.push_back(id);
  std::string text = tokenizer_->decode(ids_, skip_special_);
  const bool stuck = ids_.size() - prefix_index_ > kMaxPendingIds;
  if (text.size() <= prefix_.size() || (ends_with_replacement(text) && !stuck)) return "";
  std::string fresh = text_after(text, prefix_);
  // Keep the ids from prefix_index_ on as context for the next step; they are all emitted now.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  prefix_ = tokenizer_->decode(ids_, skip_special_);
  prefix_index_ = ids_.size();
  return fresh;
}

std::string IncrementalDecoder::flush() {
  std::string rest;
  if (ids_.size() > prefix_index_) {
    std::string text = tokenizer_->decode(ids_, skip_special_);
    if (text.size() > prefix_.size()) rest = text_after(text, prefix_);
  }
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace lpx
