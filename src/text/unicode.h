// Unicode helpers for the tokenizer: whitespace, GPT-2 byte<->char map, NFC/NFD/NFKC/NFKD
// normalization and per-character lowercase. UTF-8 itself is core/utf8.h.
// Thread-safe: pure functions over immutable tables. No function throws or aborts on bad input:
// invalid UTF-8 becomes U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lpx::unicode {

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
