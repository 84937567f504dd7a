// Tokenizer normalizers (tokenizer.json "normalizer"): Sequence, Prepend, Replace, NFC/NFD/NFKC/
// NFKD, Lowercase, Strip.
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include "text/tokenizer/common.h"

namespace lpx::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string& s) const = 0;
};

class SequenceNormalizer final : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> items;
  void apply(std::string& s) const override {
    for (const auto& n : items) n->apply(s);
  }
};

class PrependNormalizer final : public Normalizer {
 public:
  std::string prepend;
  void apply(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend);
  }
};

class ReplaceNormalizer final : public Normalizer {
 public:
  Pattern pattern;
  std::string content;
  void apply(std::string& s) const override {
    if (!pattern.regex) {
      replace_all(s, pattern.literal, content);
      return;
    }
    std::vector<std::pair<size_t, size_t>> m;
    pattern.find_all(s, m);
    if (m.empty()) return;
    std::string out;
    size_t prev = 0;
    for (const auto& [a, b] : m) {
      out.append(s, prev, a - prev);
      out.append(content);
      prev = b;
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
};

class UnicodeNormalizer final : public Normalizer {
 public:
  enum Form { kNfc, kNfd, kNfkc, kNfkd, kLower };
  explicit UnicodeNormalizer(Form f) : form_(f) {}
  void apply(std::string& s) const override {
    switch (form_) {
      case kNfc: s = unicode::nfc(s); break;
      case kNfd: s = unicode::nfd(s); break;
      case kNfkc: s = unicode::nfkc(s); break;
      case kNfkd: s = unicode::nfkd(s); break;
      case kLower: s = unicode::lowercase(s); break;
    }
  }

 private:
  Form form_;
};

class StripNormalizer final : public Normalizer {
 public:
  bool left = true, right = true;
  void apply(std::string& s) const override {
    size_t begin = 0, end = s.size();
    if (left) {
      while (begin < end) {
        const auto [cp, n] = utf8::decode(s, begin);
        if (n == 0 || !unicode::is_whitespace(cp)) break;
        begin += n;
      }
    }
    if (right) {
      while (end > begin) {
        size_t p = end - 1;
        while (p > begin && utf8::is_continuation(static_cast<unsigned char>(s[p]))) --p;
        const utf8::Decoded d = utf8::decode(s, p);
        if (!d.ok() || !unicode::is_whitespace(d.cp)) break;
        end = p;
      }
    }
    s = s.substr(begin, end - begin);
  }
};

Result<std::unique_ptr<Normalizer>> build_normalizer(const Ctx& ctx, const std::string& where, const Json& j);

}  // namespace lpx::tok
