// Unicode helpers for the tokenizer and the Jinja str methods: whitespace, GPT-2 byte<->char map,
// NFC/NFD/NFKC/NFKD normalization, per-character case mappings and Python's str character
// properties, all from the generated tables in unicode_data.cpp (Unicode 14.0.0). UTF-8 itself is
// core/utf8.h.
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

// Python str character properties of one code point (what CPython's str methods read from its
// Unicode database), as bits of char_props(). Surrogates and non-characters have their Python
// values too, so pystr's surrogate-escaped bytes behave as in Python.
enum CharProp : uint16_t {
  kPyAlpha = 1 << 0,           // str.isalpha
  kPyDecimal = 1 << 1,         // str.isdecimal (Nd)
  kPyDigit = 1 << 2,           // str.isdigit (Numeric_Type Decimal or Digit)
  kPyNumeric = 1 << 3,         // str.isnumeric (any Numeric_Type)
  kPySpace = 1 << 4,           // str.isspace
  kPyLinebreak = 1 << 5,       // a str.splitlines boundary
  kPyLower = 1 << 6,           // Lowercase property (str.islower of one character)
  kPyUpper = 1 << 7,           // Uppercase property (str.isupper of one character)
  kPyTitle = 1 << 8,           // general category Lt
  kPyCased = 1 << 9,           // Cased (Lowercase | Uppercase | Lt)
  kPyCaseIgnorable = 1 << 10,  // Case_Ignorable (skipped by the final-sigma rule)
  kPyPrintable = 1 << 11,      // str.isprintable
};
uint16_t char_props(char32_t cp);  // 0 above U+10FFFF

// Full case mappings of one code point, as Python's chr(cp).lower() / .upper() / .title() /
// .casefold() (no context rules such as final sigma). Empty when cp maps to itself.
enum class CaseMap { kLower, kUpper, kTitle, kFold };
std::u32string_view case_mapping(CaseMap map, char32_t cp);

}  // namespace lpx::unicode
