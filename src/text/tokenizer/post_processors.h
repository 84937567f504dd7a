// Tokenizer post-processors (tokenizer.json "post_processor"): special tokens around a sequence
// (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence).
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include "text/tokenizer.h"
#include "text/tokenizer/common.h"

namespace lpx::tok {

struct TemplateItem {
  bool is_sequence = false;
  std::vector<int32_t> ids;  // for special tokens
  std::vector<std::string> tokens;
};

// Flattened post-processing for a single sequence: items before and after the sequence.
struct PostProcessor {
  std::vector<TemplateItem> single;  // empty: no-op
  void apply(Encoding& enc) const {
    if (single.empty()) return;
    Encoding out;
    for (const auto& item : single) {
      if (item.is_sequence) {
        out.ids.insert(out.ids.end(), enc.ids.begin(), enc.ids.end());
        for (auto& t : enc.tokens) out.tokens.push_back(std::move(t));
      } else {
        out.ids.insert(out.ids.end(), item.ids.begin(), item.ids.end());
        out.tokens.insert(out.tokens.end(), item.tokens.begin(), item.tokens.end());
      }
    }
    enc = std::move(out);
  }
};

Status build_post_processor(const Ctx& ctx, const std::string& where, const Json& j, PostProcessor* pp);

}  // namespace lpx::tok
