// Tokenizer decoders (tokenizer.json "decoder"): ids' token strings back to text (ByteLevel,
// Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence).
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include "text/tokenizer/common.h"
#include "text/tokenizer/normalizers.h"

namespace lpx::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

class SequenceDecoder final : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> items;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items) d->decode_chain(tokens);
  }
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      const size_t mark = bytes.size();
      bool ok = true;
      size_t i = 0;
      while (i < t.size()) {
        const auto [cp, n] = utf8::decode(t, i);
        const int b = n == 0 ? -1 : unicode::char_to_byte(cp);
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
        i += n;
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8::repair(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  std::string replacement = "\xE2\x96\x81";
  bool prepend = true;  // prepend_scheme != never
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement, (i == 0 && prepend) ? "" : " ");
    }
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceNormalizer replace;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) replace.apply(t);
  }
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8::valid(pending)) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          return -1;
        };
        const int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) byte = hi * 16 + lo;
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  std::string content = " ";
  size_t start = 0, stop = 0;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start && t.compare(b, content.size(), content) == 0 && b < e; ++k) b += content.size();
      for (size_t k = 0;
           k < stop && e >= b + content.size() && t.compare(e - content.size(), content.size(), content) == 0; ++k) {
        e -= content.size();
      }
      t = t.substr(b, e - b);
    }
  }
};

Result<std::unique_ptr<Decoder>> build_decoder(const Ctx& ctx, const std::string& where, const Json& j);

}  // namespace lpx::tok
