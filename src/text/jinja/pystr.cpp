// Python str semantics on UTF-8 strings (see pystr.h).
#include "text/jinja/pystr.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/utf8.h"

namespace lpx::jinja::pystr {

// ---------------------------------------------------------------------------------------------
// UTF-8

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    const utf8::Decoded d = utf8::decode(s, i);
    if (!d.ok()) {
      out.push_back(0xDC00 + c);  // surrogateescape
      ++i;
      continue;
    }
    out.push_back(d.cp);
    i += d.len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c >= 0xDC80 && c <= 0xDCFF) {
    out.push_back(static_cast<char>(c - 0xDC00));  // surrogateescape round trip
    return;
  }
  // Python strs may hold other lone surrogates (from "\ud800" escapes): kept as their 3-byte form.
  utf8::encode_unchecked(out, c);
}

std::string encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return decode(s).size();
}

// ---------------------------------------------------------------------------------------------
// Character classes

bool is_space(char32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
  if (c < 0x80) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_linebreak(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
         c == 0x2028 || c == 0x2029;
}

namespace {

// Pairs in a block where upper-case letters sit at even (or odd) code points and the lower case follows.
bool pair_block_upper(char32_t c, char32_t lo, char32_t hi, bool upper_even, char32_t* out) {
  if (c < lo || c > hi) return false;
  bool even = (c % 2) == 0;
  if (even == upper_even) {
    *out = c;  // already upper
  } else {
    *out = c - 1;
  }
  return true;
}

bool pair_block_lower(char32_t c, char32_t lo, char32_t hi, bool upper_even, char32_t* out) {
  if (c < lo || c > hi) return false;
  bool even = (c % 2) == 0;
  if (even == upper_even) {
    *out = c + 1;
  } else {
    *out = c;
  }
  return true;
}

struct PairBlock {
  char32_t lo, hi;
  bool upper_even;
};

// Blocks laid out as alternating upper/lower pairs.
constexpr PairBlock kPairBlocks[] = {
    {0x0100, 0x012F, true}, {0x0132, 0x0137, true}, {0x0139, 0x0148, false}, {0x014A, 0x0177, true},
    {0x0179, 0x017E, false}, {0x01DE, 0x01EF, true}, {0x01F8, 0x021F, true}, {0x0222, 0x0233, true},
    {0x03D8, 0x03EF, true}, {0x0460, 0x0481, true}, {0x048A, 0x04BF, true}, {0x04C1, 0x04CE, false},
    {0x04D0, 0x052F, true}, {0x1E00, 0x1E95, true}, {0x1EA0, 0x1EFF, true}, {0x2C80, 0x2CE3, true},
    {0xA640, 0xA66D, true}, {0xA680, 0xA69B, true}, {0xA722, 0xA72F, true}, {0xA732, 0xA76F, true},
    {0xA77E, 0xA787, true}, {0xA790, 0xA793, true}, {0xA796, 0xA7A9, true},
};

}  // namespace

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c == 0xB5) return 0x39C;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  char32_t out;
  for (const auto& b : kPairBlocks) {
    if (pair_block_upper(c, b.lo, b.hi, b.upper_even, &out)) return out;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c == 0x3C2) return 0x3A3;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c >= 0x561 && c <= 0x586) return c - 48;
  if (c >= 0x1F00 && c <= 0x1FFF) {
    // Greek extended: lower-case rows at +0..7, upper at +8..15 in several rows.
    char32_t row = c & 0xFFF0;
    if ((row == 0x1F00 || row == 0x1F10 || row == 0x1F20 || row == 0x1F30 || row == 0x1F40 || row == 0x1F60) &&
        (c & 0xF) < 8)
      return c + 8;
    return c;
  }
  if (c >= 0x24D0 && c <= 0x24E9) return c - 26;
  if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
  if (c >= 0x10428 && c <= 0x1044F) return c - 40;
  return c;
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c == 0x130) return 'i';
  char32_t out;
  for (const auto& b : kPairBlocks) {
    if (pair_block_lower(c, b.lo, b.hi, b.upper_even, &out)) return out;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if (c >= 0x1F00 && c <= 0x1FFF) {
    char32_t row = c & 0xFFF0;
    if ((row == 0x1F00 || row == 0x1F10 || row == 0x1F20 || row == 0x1F30 || row == 0x1F40 || row == 0x1F60) &&
        (c & 0xF) >= 8)
      return c - 8;
    return c;
  }
  if (c >= 0x24B6 && c <= 0x24CF) return c + 26;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  if (c >= 0x10400 && c <= 0x10427) return c + 40;
  return c;
}

bool is_cased_upper(char32_t c) { return to_lower(c) != c; }
bool is_cased_lower(char32_t c) { return to_upper(c) != c || c == 0xDF || (c >= 0xFB00 && c <= 0xFB06); }

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == 0xAA || c == 0xBA) return true;
  if (c >= 0xC0 && c <= 0x24F) return c != 0xD7 && c != 0xF7;
  if (is_cased_upper(c) || is_cased_lower(c)) return true;
  return (c >= 0x370 && c <= 0x3FF && c != 0x37E && c != 0x387) || (c >= 0x400 && c <= 0x52F) ||
         (c >= 0x5D0 && c <= 0x5EA) || (c >= 0x620 && c <= 0x64A) || (c >= 0x671 && c <= 0x6D3) ||
         (c >= 0x904 && c <= 0x939) || (c >= 0xE01 && c <= 0xE30) || (c >= 0x1100 && c <= 0x11FF) ||
         (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x20000 && c <= 0x2FA1F);
}

bool is_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return (c >= 0x660 && c <= 0x669) || (c >= 0x6F0 && c <= 0x6F9) || (c >= 0x966 && c <= 0x96F) ||
         (c >= 0xFF10 && c <= 0xFF19) || c == 0xB2 || c == 0xB3 || c == 0xB9;
}

bool is_word(char32_t c) { return c == '_' || is_alpha(c) || is_digit(c); }

bool is_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c < 0x300) return true;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F))
    return false;
  if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || c == 0xFFFE || c == 0xFFFF) return false;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E) return false;
  if (c >= 0xD800 && c <= 0xF8FF) return false;  // surrogates and private use
  if (c >= 0xE0000 || c > 0x10FFFF) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Case mapping on strings

namespace {

void append_upper(std::string& out, char32_t c) {
  switch (c) {
    case 0xDF: out += "SS"; return;
    case 0xFB00: out += "FF"; return;
    case 0xFB01: out += "FI"; return;
    case 0xFB02: out += "FL"; return;
    case 0xFB03: out += "FFI"; return;
    case 0xFB04: out += "FFL"; return;
    case 0xFB05:
    case 0xFB06: out += "ST"; return;
    default: append_utf8(out, to_upper(c));
  }
}

void append_title(std::string& out, char32_t c) {
  switch (c) {
    case 0xDF: out += "Ss"; return;
    case 0xFB00: out += "Ff"; return;
    case 0xFB01: out += "Fi"; return;
    case 0xFB02: out += "Fl"; return;
    case 0xFB03: out += "Ffi"; return;
    case 0xFB04: out += "Ffl"; return;
    case 0xFB05:
    case 0xFB06: out += "St"; return;
    default: append_utf8(out, to_upper(c));
  }
}

bool is_cased(char32_t c) { return is_cased_upper(c) || is_cased_lower(c); }

// Lower-cases u[i], applying the Greek final-sigma rule like CPython.
void append_lower_at(std::string& out, const std::u32string& u, size_t i) {
  char32_t c = u[i];
  if (c == 0x3A3) {
    bool before = false;
    for (size_t j = i; j > 0; --j) {
      char32_t p = u[j - 1];
      if (p == '\'' || p == 0x2019 || p == 0xAD) continue;  // case-ignorable
      before = is_cased(p);
      break;
    }
    bool after = false;
    for (size_t j = i + 1; j < u.size(); ++j) {
      char32_t q = u[j];
      if (q == '\'' || q == 0x2019 || q == 0xAD) continue;
      after = is_cased(q);
      break;
    }
    append_utf8(out, (before && !after) ? 0x3C2 : 0x3C3);
    return;
  }
  if (c == 0x130) {
    out += "i\xCC\x87";  // i + combining dot above
    return;
  }
  append_utf8(out, to_lower(c));
}

}  // namespace

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
    return out;
  }
  for (char32_t c : decode(s)) append_upper(out, c);
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
    return out;
  }
  std::u32string u = decode(s);
  for (size_t i = 0; i < u.size(); ++i) append_lower_at(out, u, i);
  return out;
}

std::string capitalize(std::string_view s) {
  std::u32string u = decode(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 0) {
      append_title(out, u[0]);
    } else {
      append_lower_at(out, u, i);
    }
  }
  return out;
}

std::string title(std::string_view s) {
  std::u32string u = decode(s);
  std::string out;
  out.reserve(s.size());
  bool prev_cased = false;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    if (prev_cased) {
      append_lower_at(out, u, i);
    } else {
      append_title(out, c);
    }
    prev_cased = is_cased(c);
  }
  return out;
}

std::string swapcase(std::string_view s) {
  std::u32string u = decode(s);
  std::string out;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    if (is_cased_upper(c)) {
      append_lower_at(out, u, i);
    } else if (is_cased_lower(c)) {
      append_upper(out, c);
    } else {
      append_utf8(out, c);
    }
  }
  return out;
}

bool islower(std::string_view s) {
  bool any = false;
  for (char32_t c : decode(s)) {
    if (is_cased_upper(c)) return false;
    if (is_cased_lower(c)) any = true;
  }
  return any;
}

bool isupper(std::string_view s) {
  bool any = false;
  for (char32_t c : decode(s)) {
    if (is_cased_lower(c)) return false;
    if (is_cased_upper(c)) any = true;
  }
  return any;
}

// ---------------------------------------------------------------------------------------------
// strip / split

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  if (!chars && is_ascii(s)) {
    size_t b = 0, e = s.size();
    auto sp = [](char c) { return is_space(static_cast<unsigned char>(c)); };
    if (left)
      while (b < e && sp(s[b])) ++b;
    if (right)
      while (e > b && sp(s[e - 1])) --e;
    return std::string(s.substr(b, e - b));
  }
  std::u32string u = decode(s);
  std::u32string set;
  if (chars) set = decode(*chars);
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_space(c); };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return encode(std::u32string_view(u).substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t pos = 0;
    int64_t n = 0;
    while (maxsplit < 0 || n < maxsplit) {
      size_t f = s.find(*sep, pos);
      if (f == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, f - pos));
      pos = f + sep->size();
      ++n;
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  std::u32string u = decode(s);
  size_t i = 0;
  const size_t n = u.size();
  int64_t splits = 0;
  while (true) {
    while (i < n && is_space(u[i])) ++i;
    if (i >= n) break;
    if (maxsplit >= 0 && splits >= maxsplit) {
      out.push_back(encode(std::u32string_view(u).substr(i)));
      break;
    }
    size_t j = i;
    while (j < n && !is_space(u[j])) ++j;
    out.push_back(encode(std::u32string_view(u).substr(i, j - i)));
    ++splits;
    i = j;
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t end = s.size();
    int64_t n = 0;
    while (maxsplit < 0 || n < maxsplit) {
      if (end < sep->size()) break;
      size_t f = s.rfind(*sep, end - sep->size());
      if (f == std::string_view::npos) break;
      out.emplace_back(s.substr(f + sep->size(), end - f - sep->size()));
      end = f;
      ++n;
    }
    out.emplace_back(s.substr(0, end));
    return {out.rbegin(), out.rend()};
  }
  std::u32string u = decode(s);
  size_t i = u.size();
  int64_t splits = 0;
  while (true) {
    while (i > 0 && is_space(u[i - 1])) --i;
    if (i == 0) break;
    if (maxsplit >= 0 && splits >= maxsplit) {
      out.push_back(encode(std::u32string_view(u).substr(0, i)));
      break;
    }
    size_t j = i;
    while (j > 0 && !is_space(u[j - 1])) --j;
    out.push_back(encode(std::u32string_view(u).substr(j, i - j)));
    ++splits;
    i = j;
  }
  return {out.rbegin(), out.rend()};
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  std::u32string u = decode(s);
  size_t i = 0, start = 0;
  const size_t n = u.size();
  while (i < n) {
    char32_t c = u[i];
    if (is_linebreak(c)) {
      size_t eol = i + 1;
      if (c == '\r' && i + 1 < n && u[i + 1] == '\n') eol = i + 2;
      size_t end = keepends ? eol : i;
      out.push_back(encode(std::u32string_view(u).substr(start, end - start)));
      start = eol;
      i = eol;
    } else {
      ++i;
    }
  }
  if (start < n) out.push_back(encode(std::u32string_view(u).substr(start)));
  return out;
}

std::string replace(std::string_view s, std::string_view old_s, std::string_view new_s, int64_t count) {
  std::string out;
  if (old_s.empty()) {
    std::u32string u = decode(s);
    int64_t done = 0;
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || done < count) {
        out.append(new_s);
        ++done;
      }
      if (i < u.size()) append_utf8(out, u[i]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t f = s.find(old_s, pos);
    if (f == std::string_view::npos) break;
    out.append(s.substr(pos, f - pos));
    out.append(new_s);
    pos = f + old_s.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

// ---------------------------------------------------------------------------------------------
// find / count

namespace {

void clamp_range(int64_t len, std::optional<int64_t> start, std::optional<int64_t> end, int64_t* b, int64_t* e) {
  int64_t s0 = start.value_or(0), e0 = end.value_or(len);
  if (s0 < 0) s0 = std::max<int64_t>(0, s0 + len);
  if (e0 < 0) e0 = std::max<int64_t>(0, e0 + len);
  if (e0 > len) e0 = len;
  *b = s0;
  *e = e0;
}

}  // namespace

int64_t find(std::string_view s, std::string_view sub, std::optional<int64_t> start, std::optional<int64_t> end,
             bool reverse) {
  std::u32string u = decode(s), v = decode(sub);
  int64_t b, e;
  clamp_range(static_cast<int64_t>(u.size()), start, end, &b, &e);
  if (b > static_cast<int64_t>(u.size())) return -1;
  int64_t vl = static_cast<int64_t>(v.size());
  if (e - b < vl) return -1;
  std::u32string_view win = std::u32string_view(u).substr(b, e - b);
  size_t f = reverse ? win.rfind(v) : win.find(v);
  if (f == std::u32string_view::npos) return -1;
  return b + static_cast<int64_t>(f);
}

int64_t count(std::string_view s, std::string_view sub, std::optional<int64_t> start, std::optional<int64_t> end) {
  std::u32string u = decode(s), v = decode(sub);
  int64_t b, e;
  clamp_range(static_cast<int64_t>(u.size()), start, end, &b, &e);
  if (b > static_cast<int64_t>(u.size()) || e < b) return 0;
  std::u32string_view win = std::u32string_view(u).substr(b, e - b);
  if (v.empty()) return static_cast<int64_t>(win.size()) + 1;
  int64_t n = 0;
  size_t pos = 0;
  while (true) {
    size_t f = win.find(v, pos);
    if (f == std::u32string_view::npos) break;
    ++n;
    pos = f + v.size();
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// repr

std::string repr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back(q);
  char buf[16];
  for (char32_t c : decode(s)) {
    if (c == static_cast<char32_t>(q) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0xDC80 && c <= 0xDCFF) {
      std::snprintf(buf, sizeof(buf), "\\udc%02x", static_cast<unsigned>(c & 0xFF));
      out += buf;
    } else if (!is_printable(c)) {
      if (c < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      append_utf8(out, c);
    }
  }
  out.push_back(q);
  return out;
}

// ---------------------------------------------------------------------------------------------
// floats

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci looks like "-1.2345e+16" or "5e-07".
  bool neg = false;
  size_t p = 0;
  if (sci[0] == '-') {
    neg = true;
    p = 1;
  }
  size_t epos = sci.find('e');
  std::string mant = sci.substr(p, epos - p);
  int exp10 = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits.push_back(c);
  }
  // digits = d0 d1 d2 ...; value = 0.d0d1d2... * 10^(exp10+1)
  std::string out = neg ? "-" : "";
  if (exp10 >= -5 + 1 && exp10 < 16) {  // Python uses fixed notation when -4 <= exp < 16
    int point = exp10 + 1;             // digits before the decimal point
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-point), '0');
      out += digits;
    } else if (static_cast<size_t>(point) >= digits.size()) {
      out += digits;
      out.append(static_cast<size_t>(point) - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, point);
      out += ".";
      out += digits.substr(point);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += ".";
    out += digits.substr(1);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  out += ebuf;
  return out;
}

std::string format_float(double d, char type, int precision, bool alternate) {
  bool upper_case = (type == 'F' || type == 'E' || type == 'G');
  if (std::isnan(d) || std::isinf(d)) {
    std::string s = std::isnan(d) ? "nan" : (d < 0 ? "-inf" : "inf");
    if (upper_case) s = upper(s);
    return s;
  }
  if (type == 'r') return float_repr(d);
  if (precision < 0) precision = 6;
  if (precision > 400) precision = 400;
  char fmt[16];
  char t = type;
  if (t == 'F') t = 'f';
  std::snprintf(fmt, sizeof(fmt), "%%%s.%d%c", alternate ? "#" : "", precision, t);
  std::string buf(512 + 400, '\0');
  int n = std::snprintf(buf.data(), buf.size(), fmt, d);
  if (n < 0) return float_repr(d);
  if (static_cast<size_t>(n) >= buf.size()) {
    buf.resize(static_cast<size_t>(n) + 1);
    std::snprintf(buf.data(), buf.size(), fmt, d);
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

}  // namespace lpx::jinja::pystr
