// Helpers shared by the Jinja builtins (see common.h).
#include "text/jinja/builtins/common.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "text/jinja/ops.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja::builtin {

[[noreturn]] void unsupported(const std::string& what) {
  raise("UnsupportedError", what + " is not supported by this Jinja implementation");
}

Value ignore_case(Interpreter& in, const Value& v) {
  if (v.is_string()) return in.str(pystr::lower(v.str()));
  return v;
}

std::vector<Value> attr_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  for (const std::string& p : pystr::split(attribute.str(), std::string("."), -1)) {
    if (!p.empty() && p.find_first_not_of("0123456789") == std::string::npos) {
      parts.push_back(Value::integer(std::strtoll(p.c_str(), nullptr, 10)));
    } else {
      parts.push_back(Value::string(p));
    }
  }
  return parts;
}

Value attr_get(Interpreter& in, const Value& item, const std::vector<Value>& parts, const Value* def) {
  Value cur = item;
  for (const Value& part : parts) {
    cur = in.getitem(cur, part);
    if (def != nullptr && cur.is_undefined()) cur = *def;
  }
  return cur;
}

void sort_values(std::vector<Value>& items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? order_compare(keys[b], keys[a], "<") < 0 : order_compare(keys[a], keys[b], "<") < 0;
  });
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(items[i]);
  items = std::move(sorted);
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string html_unescape(const std::string& s) {
  static const std::unordered_map<std::string, std::string> kEntities = {{"amp", "&"},
                                                                         {"lt", "<"},
                                                                         {"gt", ">"},
                                                                         {"quot", "\""},
                                                                         {"apos", "'"},
                                                                         {"nbsp", "\xC2\xA0"},
                                                                         {"copy", "\xC2\xA9"},
                                                                         {"reg", "\xC2\xAE"},
                                                                         {"hellip", "\xE2\x80\xA6"},
                                                                         {"mdash", "\xE2\x80\x94"},
                                                                         {"ndash", "\xE2\x80\x93"}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 32) {
      out.push_back('&');
      continue;
    }
    std::string ent = s.substr(i + 1, semi - i - 1);
    if (!ent.empty() && ent[0] == '#') {
      char32_t cp = 0;
      bool ok = ent.size() > 1;
      if (ok && (ent[1] == 'x' || ent[1] == 'X')) {
        cp = static_cast<char32_t>(std::strtoul(ent.c_str() + 2, nullptr, 16));
      } else if (ok) {
        cp = static_cast<char32_t>(std::strtoul(ent.c_str() + 1, nullptr, 10));
      }
      if (ok && cp > 0 && cp <= 0x10FFFF) {
        pystr::append_utf8(out, cp);
        i = semi;
        continue;
      }
    } else {
      auto it = kEntities.find(ent);
      if (it != kEntities.end()) {
        out += it->second;
        i = semi;
        continue;
      }
    }
    out.push_back('&');
  }
  return out;
}

std::string py_center(const std::string& s, int64_t width, const std::string& fill) {
  int64_t len = static_cast<int64_t>(pystr::length(s));
  if (width <= len) return s;
  int64_t pad = width - len;
  int64_t left = pad / 2 + (pad & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < pad - left; ++i) out += fill;
  return out;
}

bool parse_int(const std::string& raw, int base, int64_t* out) {
  std::string s = pystr::strip(raw, std::nullopt, true, true);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    char p = static_cast<char>(s[i + 1] | 0x20);
    if ((p == 'x' && (base == 16 || base == 0)) || (p == 'o' && (base == 8 || base == 0)) ||
        (p == 'b' && (base == 2 || base == 0))) {
      if (base == 0) base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  if (i >= s.size()) return false;
  int64_t v = 0;
  bool any = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      if (!any || i + 1 >= s.size() || s[i + 1] == '_') return false;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'z') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'Z') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (d >= base) return false;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
    any = true;
  }
  if (!any) return false;
  *out = neg ? -v : v;
  return true;
}

bool parse_float(const std::string& raw, double* out) {
  std::string s = pystr::strip(raw, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return false;
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty()) return false;
  std::string low = pystr::lower(clean);
  std::string body = (low[0] == '+' || low[0] == '-') ? low.substr(1) : low;
  if (body == "inf" || body == "infinity" || body == "nan") {
    double v = body == "nan" ? NAN : INFINITY;
    *out = low[0] == '-' ? -v : v;
    return true;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(clean.c_str(), &end);
  return end != nullptr && *end == '\0';
}

double round_half_even_decimal(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits >= 0) {
    if (ndigits > 300) return x;
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  double p = std::pow(10.0, static_cast<double>(-ndigits));
  return std::nearbyint(x / p) * p;
}

void fill_dict(Interpreter& in, Dict* d, CallArgs& a, const char* fname) {
  if (a.args.size() > 1)
    raise("TypeError", std::string(fname) + " expected at most 1 argument, got " + std::to_string(a.args.size()));
  if (!a.args.empty()) {
    const Value& src = a.args[0];
    if (src.is_dict()) {
      for (const auto& kv : src.dict()->items) d->set(kv.first, kv.second);
    } else {
      for (const Value& item : in.iterate(src)) {
        std::vector<Value> kv = in.iterate(item);
        if (kv.size() != 2)
          raise("ValueError",
                "dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (auto& kv : a.kwargs) d->set(Value::string(kv.first), kv.second);
}

}  // namespace lpx::jinja::builtin
