// Streaming parse of tokenizer.json: model.vocab and model.merges are captured straight into
// compact form while the rest of the document is built as JSON.
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include "text/tokenizer/common.h"

namespace lpx::tok {

// Parsing: model.vocab and model.merges (nearly all of a large file) are captured straight into
// flat vectors by a SAX handler; everything else becomes a normal JSON DOM.
// ---------------------------------------------------------------------------------------------

struct CapturedModel {
  bool has_vocab = false;
  bool has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  // Merges in file order: {"a b", ""} with is_line=1 for the string form, {a, b} for the pair form.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<uint8_t> merge_is_line;
  std::string error;  // first problem found inside vocab/merges (parsing stops there)
};

class TokenizerSax {
 public:
  TokenizerSax(Json& root, CapturedModel& cap) : dom_(root, true), cap_(cap) {}

  bool null() { return mode_ == kDom ? dom_.null() : bad_value("null"); }
  bool boolean(bool v) { return mode_ == kDom ? dom_.boolean(v) : bad_value("a boolean"); }
  bool number_integer(int64_t v) { return mode_ == kDom ? dom_.number_integer(v) : integer(v); }
  bool number_unsigned(uint64_t v) {
    if (mode_ == kDom) return dom_.number_unsigned(v);
    return integer(v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
  }
  bool number_float(double v, const std::string& text) {
    return mode_ == kDom ? dom_.number_float(v, text) : bad_value("a floating-point number");
  }
  bool binary(Json::binary_t& b) { return mode_ == kDom ? dom_.binary(b) : bad_value("binary data"); }
  bool string(std::string& v) {
    if (mode_ == kDom) return dom_.string(v);
    if (mode_ == kMerges) {
      if (depth_ == 1) {
        cap_.merges.emplace_back(std::move(v), std::string());
        cap_.merge_is_line.push_back(1);
        return true;
      }
      if (pair_parts_ == 0)
        cap_.merges.back().first = std::move(v);
      else if (pair_parts_ == 1)
        cap_.merges.back().second = std::move(v);
      else
        return fail_merge();
      ++pair_parts_;
      return true;
    }
    return bad_value("a string");
  }
  bool start_object(std::size_t n) {
    if (mode_ == kVocab) return bad_value("an object");
    if (mode_ == kMerges) return fail_merge();
    if (at_model_key("vocab")) {
      mode_ = kVocab;
      cap_.has_vocab = true;
      return dom_.null();  // placeholder in the DOM
    }
    frames_.push_back({true, {}});
    return dom_.start_object(n);
  }
  bool key(std::string& k) {
    if (mode_ == kVocab) {
      pending_key_ = std::move(k);
      return true;
    }
    if (!frames_.empty()) frames_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() {
    if (mode_ == kVocab) {
      mode_ = kDom;
      return true;
    }
    if (!frames_.empty()) frames_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (mode_ == kVocab) return bad_value("an array");
    if (mode_ == kMerges) {
      if (depth_ != 1) return fail_merge();
      depth_ = 2;
      pair_parts_ = 0;
      cap_.merges.emplace_back();
      cap_.merge_is_line.push_back(0);
      return true;
    }
    if (at_model_key("merges")) {
      mode_ = kMerges;
      depth_ = 1;
      cap_.has_merges = true;
      return dom_.null();
    }
    frames_.push_back({false, {}});
    return dom_.start_array(n);
  }
  bool end_array() {
    if (mode_ == kMerges) {
      if (depth_ == 2) {
        if (pair_parts_ != 2) return fail_merge();
        depth_ = 1;
        return true;
      }
      mode_ = kDom;
      return true;
    }
    if (!frames_.empty()) frames_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& ex) {
    return dom_.parse_error(pos, token, ex);  // throws the parse_error
  }

 private:
  enum Mode { kDom, kVocab, kMerges };
  struct Frame {
    bool is_object;
    std::string key;
  };
  // True when the next value is root["model"][name].
  bool at_model_key(const char* name) const {
    return frames_.size() == 2 && frames_[0].is_object && frames_[0].key == "model" && frames_[1].is_object &&
           frames_[1].key == name;
  }
  bool integer(int64_t v) {
    if (mode_ != kVocab) return fail_merge();
    cap_.vocab.emplace_back(std::move(pending_key_), v);
    return true;
  }
  bool bad_value(const char* what) {
    if (mode_ == kMerges) return fail_merge();
    cap_.error = "model.vocab: the id of token '" + pending_key_ + "' is " + what + ", expected an integer";
    return false;
  }
  bool fail_merge() {
    const size_t index = cap_.merges.empty() ? 0 : cap_.merges.size() - (depth_ == 2 ? 1 : 0);
    cap_.error = "model.merges[" + std::to_string(index) + "]: merge must be \"a b\" or [\"a\", \"b\"]";
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  CapturedModel& cap_;
  std::vector<Frame> frames_;
  Mode mode_ = kDom;
  int depth_ = 0;
  int pair_parts_ = 0;
  std::string pending_key_;
};

}  // namespace lpx::tok
