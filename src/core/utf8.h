// UTF-8: the one decoder/encoder every layer uses (tokenizer and Unicode normalization, Jinja
// strings, stop strings, the OpenAI protocol's text offsets).
// Thread-safe: pure functions. Nothing throws or aborts on bad input: a sequence that is not
// well-formed decodes to an invalid result (len 0) and the caller picks its policy (replace with
// U+FFFD, escape the byte, skip one byte...).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lpx::utf8 {

constexpr char32_t kReplacementChar = 0xFFFD;

// One decoded sequence. len == 0 (and cp == 0) means the bytes did not form a well-formed sequence.
struct Decoded {
  char32_t cp = 0;
  size_t len = 0;
  bool ok() const { return len != 0; }
};

inline bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// The sequence length a lead byte's bit pattern announces (1 for 0xxxxxxx, 2 for 110xxxxx, 3 for
// 1110xxxx, 4 for 11110xxx), or 0 for a continuation byte or 0xF8..0xFF. Says nothing about
// whether the sequence is well-formed (0xC0 announces 2, 0xF5 announces 4).
inline size_t lead_length(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 0;
}

// Decodes the well-formed sequence starting at s[pos] (pos < s.size()), following the Unicode
// table of well-formed byte sequences: overlongs, surrogates (U+D800..U+DFFF), values above
// U+10FFFF, stray continuation bytes and sequences truncated by the end of s are invalid.
inline Decoded decode(std::string_view s, size_t pos) {
  const size_t n = s.size();
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, 1};
  auto cont = [&](size_t k, unsigned char lo, unsigned char hi) {
    if (pos + k >= n) return false;
    const auto b = static_cast<unsigned char>(s[pos + k]);
    return b >= lo && b <= hi;
  };
  auto bits = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[pos + k]) & 0x3F); };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1, 0x80, 0xBF)) return {};
    return {(static_cast<char32_t>(b0 & 0x1F) << 6) | bits(1), 2};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned char lo = (b0 == 0xE0) ? 0xA0 : 0x80;
    const unsigned char hi = (b0 == 0xED) ? 0x9F : 0xBF;
    if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF)) return {};
    return {(static_cast<char32_t>(b0 & 0x0F) << 12) | (bits(1) << 6) | bits(2), 3};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned char lo = (b0 == 0xF0) ? 0x90 : 0x80;
    const unsigned char hi = (b0 == 0xF4) ? 0x8F : 0xBF;
    if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF) || !cont(3, 0x80, 0xBF)) return {};
    return {(static_cast<char32_t>(b0 & 0x07) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3), 4};
  }
  return {};
}

// Number of bytes (>= 1) of the maximal ill-formed subpart starting at s[pos], where s[pos] does
// not start a well-formed sequence: what one U+FFFD replaces (Unicode / WHATWG convention).
size_t maximal_subpart(std::string_view s, size_t pos);

// Appends the bit pattern of cp without checking it: a surrogate becomes a 3-byte sequence (as in
// WTF-8) and a value above U+10FFFF gives bytes that are not UTF-8. For callers that carry
// non-scalar values on purpose (Python strs with lone surrogates); others use encode().
inline void encode_unchecked(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Appends the UTF-8 encoding of cp; a value that is not a Unicode scalar value (a surrogate or
// above U+10FFFF) becomes U+FFFD.
inline void encode(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacementChar;
  encode_unchecked(out, cp);
}

// True if the whole string is well-formed UTF-8.
bool valid(std::string_view s);

// Returns s with each maximal ill-formed subpart replaced by U+FFFD (the Unicode / WHATWG /
// Rust String::from_utf8_lossy convention). Valid input is returned unchanged.
std::string repair(std::string_view s);

// How complete_prefix recognises an unfinished character at the end of the text.
enum class TailCheck {
  // Only a tail that is a well-formed start of a sequence (decode would accept it once the
  // missing bytes arrive) is unfinished; anything else is invalid bytes, not held back.
  kStrict,
  // Only the lead byte's bit pattern counts (lead_length): a tail whose lead byte announces more
  // bytes than follow it is unfinished, whatever those bytes are.
  kLeadByte,
};

// Length of the longest prefix of s that does not end inside an unfinished multi-byte sequence
// (at most 3 bytes are held back). Streaming code emits this prefix and keeps the rest.
size_t complete_prefix(std::string_view s, TailCheck check = TailCheck::kStrict);

// Number of bytes that are not continuation bytes: the code-point count of well-formed UTF-8
// (of ill-formed input it counts lead and ASCII bytes, skipping stray continuation bytes).
size_t count_lead_bytes(std::string_view s);

}  // namespace lpx::utf8
