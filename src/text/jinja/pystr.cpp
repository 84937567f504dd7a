// Python str semantics on UTF-8 strings (see pystr.h).
#include "text/jinja/pystr.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/utf8.h"
#include "text/unicode.h"

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
// Character classes (ASCII inline, the rest from the generated tables in text/unicode_data.cpp)

namespace {
bool has(char32_t c, uint16_t prop) { return (unicode::char_props(c) & prop) != 0; }
}  // namespace

bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return has(c, unicode::kPySpace);
}

bool is_linebreak(char32_t c) { return has(c, unicode::kPyLinebreak); }

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return has(c, unicode::kPyAlpha);
}

bool is_decimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return has(c, unicode::kPyDecimal);
}

bool is_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return has(c, unicode::kPyDigit);
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return has(c, unicode::kPyNumeric);
}

bool is_alnum(char32_t c) {
  return has(c, unicode::kPyAlpha | unicode::kPyDecimal | unicode::kPyDigit | unicode::kPyNumeric);
}

bool is_word(char32_t c) { return c == '_' || is_alnum(c); }

bool is_printable(char32_t c) { return has(c, unicode::kPyPrintable); }

bool is_lower(char32_t c) { return has(c, unicode::kPyLower); }
bool is_upper(char32_t c) { return has(c, unicode::kPyUpper); }
bool is_title(char32_t c) { return has(c, unicode::kPyTitle); }
bool is_cased(char32_t c) { return has(c, unicode::kPyCased); }

// ---------------------------------------------------------------------------------------------
// Case mapping on strings (CPython's full mappings: 'ß'.upper() == 'SS', final sigma in lower)

namespace {

void append_mapped(std::string& out, unicode::CaseMap map, char32_t c) {
  const std::u32string_view m = unicode::case_mapping(map, c);
  if (m.empty()) {
    append_utf8(out, c);
  } else {
    for (char32_t x : m) append_utf8(out, x);
  }
}

bool is_case_ignorable(char32_t c) { return has(c, unicode::kPyCaseIgnorable); }

// Lower-cases u[i], applying the Greek final-sigma rule like CPython (handle_capital_sigma):
// U+03A3 is final after a cased letter (skipping case-ignorables) unless a cased letter follows
// (skipping case-ignorables).
void append_lower_at(std::string& out, const std::u32string& u, size_t i) {
  const char32_t c = u[i];
  if (c != 0x3A3) {
    append_mapped(out, unicode::CaseMap::kLower, c);
    return;
  }
  size_t j = i;
  while (j > 0 && is_case_ignorable(u[j - 1])) --j;
  bool final_sigma = j > 0 && is_cased(u[j - 1]);
  if (final_sigma) {
    size_t k = i + 1;
    while (k < u.size() && is_case_ignorable(u[k])) ++k;
    final_sigma = k == u.size() || !is_cased(u[k]);
  }
  append_utf8(out, final_sigma ? 0x3C2 : 0x3C3);
}

}  // namespace

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
    return out;
  }
  for (char32_t c : decode(s)) append_mapped(out, unicode::CaseMap::kUpper, c);
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

std::string casefold(std::string_view s) {
  if (is_ascii(s)) return lower(s);
  std::string out;
  out.reserve(s.size());
  for (char32_t c : decode(s)) append_mapped(out, unicode::CaseMap::kFold, c);
  return out;
}

std::string capitalize(std::string_view s) {
  std::u32string u = decode(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 0) {
      append_mapped(out, unicode::CaseMap::kTitle, u[0]);
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
      append_mapped(out, unicode::CaseMap::kTitle, c);
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
    if (is_upper(c)) {
      append_lower_at(out, u, i);
    } else if (is_lower(c)) {
      append_mapped(out, unicode::CaseMap::kUpper, c);
    } else {
      append_utf8(out, c);
    }
  }
  return out;
}

bool islower(std::string_view s) {
  bool cased = false;
  for (char32_t c : decode(s)) {
    if (is_upper(c) || is_title(c)) return false;
    if (is_lower(c)) cased = true;
  }
  return cased;
}

bool isupper(std::string_view s) {
  bool cased = false;
  for (char32_t c : decode(s)) {
    if (is_lower(c) || is_title(c)) return false;
    if (is_upper(c)) cased = true;
  }
  return cased;
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
    int point = exp10 + 1;              // digits before the decimal point
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
