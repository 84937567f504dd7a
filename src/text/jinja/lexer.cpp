// Jinja2 lexer (see lexer.h). Mirrors the regex rules of jinja2/lexer.py: root data + tag openers,
// comment/raw/block/variable states, OptionalLStrip handling and bracket balancing.
#include "text/jinja/lexer.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/utf8.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {

const char* token_type_name(Tok t) {
  switch (t) {
    case Tok::kData: return "template data";
    case Tok::kVarBegin: return "begin of print statement";
    case Tok::kVarEnd: return "end of print statement";
    case Tok::kBlockBegin: return "begin of statement block";
    case Tok::kBlockEnd: return "end of statement block";
    case Tok::kName: return "name";
    case Tok::kString: return "string";
    case Tok::kInteger: return "integer";
    case Tok::kFloat: return "float";
    case Tok::kOp: return "operator";
    case Tok::kEof: return "end of template";
  }
  return "token";
}

namespace {

// Byte length of the whitespace code point at s[pos] (Python's regex \s, i.e. str.isspace()), or 0.
size_t ws_len(const std::string& s, size_t pos) {
  unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) return pystr::is_space(c) ? 1 : 0;
  const utf8::Decoded d = utf8::decode(s, pos);
  return d.ok() && pystr::is_space(d.cp) ? d.len : 0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Python str.rstrip() (Unicode whitespace).
std::string rstrip_all(std::string_view s) { return pystr::strip(s, std::nullopt, false, true); }

class Lexer {
 public:
  Lexer(std::string src, const LexOptions& o) : s_(std::move(src)), o_(o) {}

  std::vector<Token> run() {
    const size_t n = s_.size();
    while (pos_ < n) {
      size_t t = find_tag(pos_);
      if (t == std::string::npos) {
        emit(Tok::kData, s_.substr(pos_), line_);
        advance_to(n);
        break;
      }
      char opener = s_[t + 1];
      size_t j = t + 2;
      char sign = 0;
      if (j < n && (s_[j] == '-' || s_[j] == '+')) {
        sign = s_[j];
        ++j;
      }
      size_t raw_end = (opener == '%') ? match_raw_begin(j) : std::string::npos;
      std::string text = s_.substr(pos_, t - pos_);
      text = apply_lstrip(std::move(text), sign, opener == '{');
      int text_line = line_;
      if (!text.empty()) emit(Tok::kData, std::move(text), text_line);
      advance_to(t);
      int tag_line = line_;
      advance_to(j);
      line_starting_ = false;
      if (raw_end != std::string::npos) {
        advance_to(raw_end);
        line_starting_ = s_[raw_end - 1] == '\n';
        lex_raw();
      } else if (opener == '#') {
        lex_comment(tag_line);
      } else if (opener == '%') {
        tokens_.push_back({Tok::kBlockBegin, "", tag_line});
        lex_tag(false, tag_line);
      } else {
        tokens_.push_back({Tok::kVarBegin, "", tag_line});
        lex_tag(true, tag_line);
      }
    }
    tokens_.push_back({Tok::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& msg, int line) { throw SyntaxError{msg, line}; }

  void emit(Tok t, std::string v, int line) { tokens_.push_back({t, std::move(v), line}); }

  void advance_to(size_t p) {
    for (size_t i = pos_; i < p; ++i) {
      if (s_[i] == '\n') ++line_;
    }
    pos_ = p;
  }

  size_t find_tag(size_t from) const {
    size_t p = from;
    while (true) {
      p = s_.find('{', p);
      if (p == std::string::npos || p + 1 >= s_.size()) return std::string::npos;
      char c = s_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
      ++p;
    }
  }

  // After "{%" + sign at position j: does `\s*raw\s*(-%}\s*|%})` match? Returns the end position.
  size_t match_raw_begin(size_t j) const {
    size_t k = j;
    skip_ws_after(&k);
    if (s_.compare(k, 3, "raw") != 0) return std::string::npos;
    k += 3;
    skip_ws_after(&k);
    if (s_.compare(k, 3, "-%}") == 0) {
      k += 3;
      skip_ws_after(&k);
      return k;
    }
    if (s_.compare(k, 2, "%}") == 0) return k + 2;
    return std::string::npos;
  }

  // OptionalLStrip: "-" strips all trailing whitespace of the text; otherwise lstrip_blocks removes the
  // spaces/tabs between the last newline (or a line start) and a block/comment tag.
  std::string apply_lstrip(std::string text, char sign, bool is_variable) const {
    if (sign == '-') return rstrip_all(text);
    if (sign != '+' && o_.lstrip_blocks && !is_variable) {
      size_t nl = text.rfind('\n');
      size_t l_pos = (nl == std::string::npos) ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        // Jinja 3.1.6: whitespace_re (\s+, Unicode) must match the rest of the line fully.
        size_t p = l_pos;
        skip_ws_after_in(text, &p);
        if (p == text.size()) text.resize(l_pos);
      }
    }
    return text;
  }

  static void skip_ws_after_in(const std::string& str, size_t* p) {
    while (*p < str.size()) {
      size_t n = ws_len(str, *p);
      if (n == 0) break;
      *p += n;
    }
  }

  void skip_ws_after(size_t* p) const {
    while (*p < s_.size()) {
      size_t n = ws_len(s_, *p);
      if (n == 0) break;
      *p += n;
    }
  }

  void lex_comment(int tag_line) {
    size_t e = s_.find("#}", pos_);
    if (e == std::string::npos) fail("Missing end of comment tag", tag_line);
    size_t end = e + 2;
    if (e >= pos_ + 1 && s_[e - 1] == '-') {
      skip_ws_after(&end);
    } else if (e >= pos_ + 1 && s_[e - 1] == '+') {
      // keep whitespace
    } else if (o_.trim_blocks && end < s_.size() && s_[end] == '\n') {
      ++end;
    }
    line_starting_ = s_[end - 1] == '\n';
    advance_to(end);
  }

  void lex_raw() {
    int start_line = line_;
    size_t p = pos_;
    while (true) {
      size_t t = s_.find("{%", p);
      if (t == std::string::npos) fail("Missing end of raw directive", start_line);
      size_t k = t + 2;
      char sign = 0;
      if (k < s_.size() && (s_[k] == '-' || s_[k] == '+')) {
        sign = s_[k];
        ++k;
      }
      skip_ws_after(&k);
      if (s_.compare(k, 6, "endraw") != 0) {
        p = t + 1;
        continue;
      }
      k += 6;
      skip_ws_after(&k);
      size_t end;
      if (s_.compare(k, 3, "+%}") == 0) {
        end = k + 3;
      } else if (s_.compare(k, 3, "-%}") == 0) {
        end = k + 3;
        skip_ws_after(&end);
      } else if (s_.compare(k, 2, "%}") == 0) {
        end = k + 2;
        if (o_.trim_blocks && end < s_.size() && s_[end] == '\n') ++end;
      } else {
        p = t + 1;
        continue;
      }
      std::string text = apply_lstrip(s_.substr(pos_, t - pos_), sign, false);
      if (!text.empty()) emit(Tok::kData, std::move(text), line_);
      line_starting_ = s_[end - 1] == '\n';
      advance_to(end);
      return;
    }
  }

  void lex_tag(bool variable, int tag_line) {
    std::vector<char> stack;
    const size_t n = s_.size();
    while (true) {
      if (pos_ >= n) {
        fail(std::string("unexpected end of template, expected '") + (variable ? "}}" : "%}") + "'", tag_line);
      }
      char c = s_[pos_];
      if (stack.empty()) {
        if (variable) {
          if (s_.compare(pos_, 3, "-}}") == 0) {
            size_t end = pos_ + 3;
            skip_ws_after(&end);
            tokens_.push_back({Tok::kVarEnd, "", line_});
            line_starting_ = s_[end - 1] == '\n';
            advance_to(end);
            return;
          }
          if (s_.compare(pos_, 2, "}}") == 0) {
            tokens_.push_back({Tok::kVarEnd, "", line_});
            line_starting_ = false;
            advance_to(pos_ + 2);
            return;
          }
        } else {
          if (s_.compare(pos_, 3, "+%}") == 0) {
            tokens_.push_back({Tok::kBlockEnd, "", line_});
            line_starting_ = false;
            advance_to(pos_ + 3);
            return;
          }
          if (s_.compare(pos_, 3, "-%}") == 0) {
            size_t end = pos_ + 3;
            skip_ws_after(&end);
            tokens_.push_back({Tok::kBlockEnd, "", line_});
            line_starting_ = s_[end - 1] == '\n';
            advance_to(end);
            return;
          }
          if (s_.compare(pos_, 2, "%}") == 0) {
            size_t end = pos_ + 2;
            if (o_.trim_blocks && end < n && s_[end] == '\n') ++end;
            tokens_.push_back({Tok::kBlockEnd, "", line_});
            line_starting_ = s_[end - 1] == '\n';
            advance_to(end);
            return;
          }
        }
      }
      if (ws_len(s_, pos_) > 0) {
        size_t e = pos_;
        skip_ws_after(&e);
        line_starting_ = s_[e - 1] == '\n';
        advance_to(e);
        continue;
      }
      line_starting_ = false;
      if (is_digit(c)) {
        lex_number();
        continue;
      }
      if (is_name_start(c)) {
        size_t e = pos_;
        while (e < n && is_name_char(s_[e])) ++e;
        emit(Tok::kName, s_.substr(pos_, e - pos_), line_);
        advance_to(e);
        continue;
      }
      if (c == '\'' || c == '"') {
        lex_string();
        continue;
      }
      static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                   "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
      const char* op = nullptr;
      for (const char* candidate : kOps) {
        if (s_.compare(pos_, std::strlen(candidate), candidate) == 0) {
          op = candidate;
          break;
        }
      }
      if (op == nullptr) fail(std::string("unexpected char '") + c + "'", line_);
      std::string ops(op);
      if (ops == "(" || ops == "[" || ops == "{") {
        stack.push_back(c);
      } else if (ops == ")" || ops == "]" || ops == "}") {
        if (stack.empty()) fail("unexpected '" + ops + "'", line_);
        char open = stack.back();
        char expected = open == '(' ? ')' : open == '[' ? ']' : '}';
        if (c != expected) fail("unexpected '" + ops + "', expected '" + std::string(1, expected) + "'", line_);
        stack.pop_back();
      }
      emit(Tok::kOp, ops, line_);
      advance_to(pos_ + ops.size());
    }
  }

  // Digits with optional '_' separators.
  size_t scan_digits(size_t p) const {
    size_t e = p;
    while (e < s_.size() && is_digit(s_[e])) {
      ++e;
      if (e + 1 < s_.size() && s_[e] == '_' && is_digit(s_[e + 1])) ++e;
    }
    return e;
  }

  // Jinja 3.1.6 number rules: float_re first (not right after a '.'), then integer_re
  // (0b/0o/0x forms, [1-9](_?\d)*, 0(_?0)*); the value is int(text without '_', 0).
  void lex_number() {
    const size_t n = s_.size();
    bool after_dot = pos_ > 0 && s_[pos_ - 1] == '.';
    if (!after_dot) {
      size_t e = scan_digits(pos_);
      size_t f = e;
      bool is_float = false;
      if (f + 1 < n && s_[f] == '.' && is_digit(s_[f + 1])) {
        f = scan_digits(f + 1);
        is_float = true;
      }
      if (f < n && (s_[f] == 'e' || s_[f] == 'E')) {
        size_t g = f + 1;
        if (g < n && (s_[g] == '+' || s_[g] == '-')) ++g;
        if (g < n && is_digit(s_[g])) {
          f = scan_digits(g);
          is_float = true;
        } else if (is_float) {
          // "1.5e" -> the float is "1.5"
        }
      }
      if (is_float) {
        std::string text;
        for (size_t i = pos_; i < f; ++i) {
          if (s_[i] != '_') text.push_back(s_[i]);
        }
        emit(Tok::kFloat, text, line_);
        advance_to(f);
        return;
      }
    }
    // integer
    size_t e = pos_;
    int base = 10;
    if (s_[pos_] == '0' && pos_ + 1 < n) {
      char p = static_cast<char>(s_[pos_ + 1] | 0x20);
      base = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 10;
    }
    auto digit_ok = [&](char c) {
      if (base == 2) return c == '0' || c == '1';
      if (base == 8) return c >= '0' && c <= '7';
      if (base == 16) return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
      return is_digit(c);
    };
    std::string digits;
    if (base != 10) {
      size_t k = pos_ + 2;
      while (k < n) {
        size_t d = k;
        if (s_[d] == '_') ++d;
        if (d < n && digit_ok(s_[d])) {
          digits.push_back(s_[d]);
          k = d + 1;
        } else {
          break;
        }
      }
      if (digits.empty()) {
        base = 10;  // "0x" without digits: just the integer 0
      } else {
        e = k;
      }
    }
    if (base == 10) {
      if (s_[pos_] == '0') {
        e = pos_ + 1;
        while (e < n && (s_[e] == '0' || (s_[e] == '_' && e + 1 < n && s_[e + 1] == '0'))) e += s_[e] == '_' ? 2 : 1;
        digits = "0";
      } else {
        e = scan_digits(pos_);
        for (size_t i = pos_; i < e; ++i) {
          if (s_[i] != '_') digits.push_back(s_[i]);
        }
      }
    }
    errno = 0;
    unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
      fail("integer literal too large", line_);
    }
    emit(Tok::kInteger, std::to_string(v), line_);
    advance_to(e);
  }

  static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // String literal; the body is decoded like Python's "unicode-escape" codec.
  void lex_string() {
    const size_t n = s_.size();
    char q = s_[pos_];
    int start_line = line_;
    size_t e = pos_ + 1;
    while (e < n && s_[e] != q) {
      if (s_[e] == '\\' && e + 1 < n) ++e;
      ++e;
    }
    if (e >= n) fail("unterminated string literal", start_line);
    std::string_view body(s_.data() + pos_ + 1, e - pos_ - 1);
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
      char c = body[i];
      if (c != '\\' || i + 1 >= body.size()) {
        out.push_back(c);
        continue;
      }
      char d = body[++i];
      switch (d) {
        case '\n': break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          int digits = d == 'x' ? 2 : d == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < digits; ++k) {
            if (i + 1 >= body.size() || hexval(body[i + 1]) < 0) {
              fail(std::string("truncated \\") + d + " escape in string literal", start_line);
            }
            cp = cp * 16 + static_cast<char32_t>(hexval(body[++i]));
          }
          if (cp > 0x10FFFF) fail("illegal Unicode character in string literal", start_line);
          pystr::append_utf8(out, cp);
          break;
        }
        case 'N': fail("\\N{...} escapes are not supported in string literals", start_line);
        default:
          if (d >= '0' && d <= '7') {
            char32_t cp = static_cast<char32_t>(d - '0');
            for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
              cp = cp * 8 + static_cast<char32_t>(body[++i] - '0');
            }
            pystr::append_utf8(out, cp);
          } else {
            out.push_back('\\');
            out.push_back(d);
          }
      }
    }
    emit(Tok::kString, std::move(out), start_line);
    advance_to(e + 1);
  }

  std::string s_;
  LexOptions o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& options) {
  // Normalise newlines (\r\n, \r -> \n) and drop one trailing newline, like Jinja2.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (c == '\r') {
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      src.push_back('\n');
    } else {
      src.push_back(c);
    }
  }
  if (!options.keep_trailing_newline && !src.empty() && src.back() == '\n') src.pop_back();
  Lexer lexer(std::move(src), options);
  return lexer.run();
}

}  // namespace lpx::jinja
