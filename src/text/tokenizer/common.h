// Shared pieces of the tokenizer.json loader: JSON helpers, the error builder, UTF-8 position
// helpers and the PCRE2 regex with Oniguruma-compatible \s and \w.
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/utf8.h"
#include "text/unicode.h"

namespace lpx::tok {

using Json = nlohmann::json;

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

std::string type_of(const Json& j);

bool get_bool(const Json& j, const char* key, bool def);

std::string get_string(const Json& j, const char* key, const std::string& def);

// Byte length of the character at s[pos] (1 for a byte that starts no well-formed sequence).
inline size_t utf8_len_at(std::string_view s, size_t pos) {
  const size_t n = utf8::decode(s, pos).len;
  return n == 0 ? 1 : n;
}

// First / last code point of s; 0 when s is empty or the character is not well-formed.
inline char32_t first_cp(std::string_view s) {
  if (s.empty()) return 0;
  return utf8::decode(s, 0).cp;  // 0 when invalid
}
inline char32_t last_cp(std::string_view s) {
  if (s.empty()) return 0;
  size_t p = s.size() - 1;
  while (p > 0 && utf8::is_continuation(static_cast<unsigned char>(s[p]))) --p;
  return utf8::decode(s, p).cp;  // 0 when invalid
}

void replace_all(std::string& s, std::string_view from, std::string_view to);

// Hugging Face compiles its patterns with Oniguruma, whose Unicode \s also matches U+0085 and
// whose \w also matches combining marks; PCRE2's UCP classes do not. Rewrite those escapes.
std::string translate_onig_pattern(std::string_view p);

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

bool is_word_char(char32_t cp);

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

Status parse_pattern(const Ctx& ctx, const std::string& where, const Json& j, Pattern* out);

// Byte offset where the trailing whitespace of s begins.
size_t trailing_space_start(std::string_view s);

size_t leading_space_len(std::string_view s);

}  // namespace lpx::tok
