// Added tokens: their properties and the leftmost-longest matcher that splits them out of the text.
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include "text/tokenizer/common.h"

namespace lpx::tok {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

struct AddedSplit {
  size_t start, end;
  int32_t id;  // -1: plain text
};

// Leftmost-longest matcher over a set of added-token patterns.
class AddedTokenMatcher {
 public:
  void add(std::string_view pattern, int32_t token_index) {
    if (pattern.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    int32_t node = 0;
    for (unsigned char c : pattern) {
      int32_t next = -1;
      for (const auto& [byte, child] : nodes_[node].edges) {
        if (byte == c) {
          next = child;
          break;
        }
      }
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[node].edges.emplace_back(c, next);
        nodes_.emplace_back();
      }
      node = next;
    }
    if (nodes_[node].token < 0) nodes_[node].token = token_index;  // first registration wins
    first_byte_[static_cast<unsigned char>(pattern[0])] = true;
  }
  bool empty() const { return nodes_.empty(); }

  // Finds the leftmost-longest match starting at or after `from`. Returns false if none.
  bool next_match(std::string_view s, size_t from, size_t* start, size_t* end, int32_t* token) const {
    for (size_t i = from; i < s.size(); ++i) {
      if (!first_byte_[static_cast<unsigned char>(s[i])]) continue;
      int32_t node = 0;
      int32_t best_tok = -1;
      size_t best_end = 0;
      for (size_t k = i; k < s.size(); ++k) {
        int32_t next = -1;
        const auto c = static_cast<unsigned char>(s[k]);
        for (const auto& [byte, child] : nodes_[node].edges) {
          if (byte == c) {
            next = child;
            break;
          }
        }
        if (next < 0) break;
        node = next;
        if (nodes_[node].token >= 0) {
          best_tok = nodes_[node].token;
          best_end = k + 1;
        }
      }
      if (best_tok >= 0) {
        *start = i;
        *end = best_end;
        *token = best_tok;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> edges;
    int32_t token = -1;
  };
  std::vector<Node> nodes_;
  std::array<bool, 256> first_byte_{};
};

}  // namespace lpx::tok
