// Shared pieces of the tokenizer.json loader (see common.h).
#include "text/tokenizer/common.h"

namespace lpx::tok {

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

}  // namespace lpx::tok
