// Python str semantics on UTF-8 std::string: code-point indexing, strip/split/case mapping, repr, float repr.
// Thread-safety: pure functions. Invalid UTF-8 bytes round-trip as U+DC80..U+DCFF (like Python's
// surrogateescape). Character classes and case mappings are Python's (its unicodedata, Unicode
// 14.0.0, generated into text/unicode_data.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lpx::jinja::pystr {

// UTF-8 <-> code points.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
bool is_ascii(std::string_view s);
size_t length(std::string_view s);  // number of code points

// Character classes of one code point, as the str method of a one-character string.
bool is_space(char32_t c);      // str.isspace
bool is_linebreak(char32_t c);  // str.splitlines boundaries
bool is_alpha(char32_t c);      // str.isalpha
bool is_decimal(char32_t c);    // str.isdecimal
bool is_digit(char32_t c);      // str.isdigit
bool is_numeric(char32_t c);    // str.isnumeric
bool is_alnum(char32_t c);      // str.isalnum
bool is_word(char32_t c);       // regex \w
bool is_printable(char32_t c);  // str.isprintable (for repr)
bool is_lower(char32_t c);      // Lowercase property (str.islower)
bool is_upper(char32_t c);      // Uppercase property (str.isupper)
bool is_title(char32_t c);      // titlecase letter (Lt)
bool is_cased(char32_t c);      // Cased property

// Full case mappings, as CPython's str methods (lower() applies the final-sigma rule).
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string casefold(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize
std::string title(std::string_view s);       // str.title
std::string swapcase(std::string_view s);
bool islower(std::string_view s);
bool isupper(std::string_view s);

// strip family; chars == nullopt means whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / str.rsplit; sep == nullopt splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// str.replace; count < 0 means all.
std::string replace(std::string_view s, std::string_view old_s, std::string_view new_s, int64_t count);

// Code-point based find (returns code-point index or -1); start/end are Python-style optional slice bounds.
int64_t find(std::string_view s, std::string_view sub, std::optional<int64_t> start, std::optional<int64_t> end,
             bool reverse);
int64_t count(std::string_view s, std::string_view sub, std::optional<int64_t> start, std::optional<int64_t> end);

// Python repr() of a str (chooses quotes like CPython).
std::string repr(std::string_view s);
// Python repr() of a float ("1.0", "1e+16", "inf", "nan").
std::string float_repr(double d);
// printf-style float formatting with Python semantics for 'f','e','g' (and upper-case variants),
// alternate form and the "repr" style used when no type is given in str.format.
std::string format_float(double d, char type, int precision, bool alternate);

}  // namespace lpx::jinja::pystr
