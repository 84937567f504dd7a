// Unicode helpers for the tokenizer: UTF-8 decode/encode/repair, whitespace, GPT-2 byte<->char map,
// NFC/NFD/NFKC/NFKD normalization and per-character lowercase.
// Thread-safe: pure functions over immutable tables. No function throws or aborts on bad input:
// invalid UTF-8 is either reported (utf8_decode returns 0) or repaired (utf8_repair).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lpx::unicode {

constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the well-formed UTF-8 sequence starting at s[pos] into *cp and returns its length (1..4);
// returns 0 (and leaves *cp untouched) if the bytes at pos are not a well-formed sequence
// (overlong, surrogate, > U+10FFFF, truncated, stray continuation byte). pos must be < s.size().
size_t utf8_decode(std::string_view s, size_t pos, char32_t* cp);

// Appends the UTF-8 encoding of cp (cp must be a scalar value; others become U+FFFD).
void utf8_append(std::string& out, char32_t cp);

// True if the whole string is well-formed UTF-8.
bool utf8_valid(std::string_view s);

// Returns s with each maximal ill-formed subpart replaced by U+FFFD (the Unicode / WHATWG /
// Rust String::from_utf8_lossy convention). Valid input is returned unchanged.
std::string utf8_repair(std::string_view s);

// Length of the longest prefix of s that does not end inside an incomplete (but so far valid)
// multi-byte sequence. Used by streaming code to hold back a partial character.
size_t utf8_complete_prefix(std::string_view s);

// Unicode White_Space property (what Rust's char::is_whitespace and regex \s accept).
bool is_whitespace(char32_t cp);

// GPT-2 byte-level alphabet: each byte maps to one printable code point (UTF-8 encoded here).
const std::string& byte_to_char(uint8_t b);
// Inverse of byte_to_char; -1 if cp is not in the alphabet.
int char_to_byte(char32_t cp);

// Unicode normalization forms (Unicode 14 data). Input must be valid UTF-8.
std::string nfd(std::string_view s);
std::string nfc(std::string_view s);
std::string nfkd(std::string_view s);
std::string nfkc(std::string_view s);
// Per-character full lowercase mapping (no context rules such as final sigma), as Rust's
// char::to_lowercase applied to every character.
std::string lowercase(std::string_view s);

}  // namespace lpx::unicode
