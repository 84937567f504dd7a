// Stop conditions of a sequence: stop strings on the detokenized text stream, stop/eos token ids.
//
// StopChecker gets the text pieces of a sequence as the detokenizer produces them and decides what
// may be streamed to the client. OpenAI semantics: the output ends right before the first stop
// string and never contains it, also when the stop string spans several pieces. Text that could be
// the beginning of a stop string is held back until it is decided; so is an incomplete UTF-8
// sequence at the end of the text (a multi-byte character split across pieces), so `emit` always
// ends on a character boundary when the input is valid UTF-8.
//
// Thread-safety: not thread-safe; one StopChecker per sequence, used by one thread at a time.
// Errors: none (empty stop strings are ignored; SamplingParams::validate() rejects them).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling.h"

namespace lpx {

class StopChecker {
 public:
  explicit StopChecker(std::vector<std::string> stops);

  struct Out {
    std::string emit;      // text that is now final and may be sent to the client
    bool stopped = false;  // a stop string was found: the sequence is finished (emit excludes it)
  };

  // Appends `piece` to the text. After a stop, further pushes return {"", true}.
  // Cost: O(held + |piece|) per stop string (the held text is shorter than the longest stop string).
  Out push(std::string_view piece);

  // At the end of generation without a stop string (max_tokens, eos, stop token id): returns the
  // held-back text, which can no longer become a stop string. Returns "" after a stop.
  std::string flush();

  bool stopped() const { return matched_ >= 0; }
  // Index in the constructor's `stops` of the stop string that ended the text, -1 if none. When
  // several start at the same (earliest) position, the first one in the list.
  int matched_index() const { return matched_; }
  // Bytes currently held back.
  size_t held_bytes() const { return pending_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // text received but not emitted yet
  int matched_ = -1;
};

// True when `token` ends the sequence: it is one of params.stop_token_ids, or one of the model's
// `eos_ids` while !params.ignore_eos. As in vLLM, the engine does not add the text of such a token to
// the output.
bool is_stop_token(const SamplingParams& params, int32_t token, std::span<const int32_t> eos_ids);

}  // namespace lpx
