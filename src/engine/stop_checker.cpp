// Stop strings over a streamed text (hold back possible stop prefixes) and stop token ids.
#include "engine/stop_checker.h"

#include <algorithm>
#include <utility>

#include "core/utf8.h"

namespace lpx {

StopChecker::StopChecker(std::vector<std::string> stops) : stops_(std::move(stops)) {}

StopChecker::Out StopChecker::push(std::string_view piece) {
  Out out;
  if (stopped()) {
    out.stopped = true;
    return out;
  }
  pending_.append(piece);

  // Earliest occurrence of any stop string. A match cannot start in already emitted text: that text
  // never ended with a proper prefix of a stop string (it would have been held).
  size_t best = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) continue;
    const size_t pos = pending_.find(stops_[i]);
    if (pos < best) {
      best = pos;
      matched_ = static_cast<int>(i);
    }
  }
  if (best != std::string::npos) {
    pending_.resize(best);
    out.emit = std::move(pending_);
    pending_.clear();
    out.stopped = true;
    return out;
  }

  // Hold the longest suffix that is a proper prefix of some stop string.
  const std::string_view text = pending_;
  size_t hold = 0;
  for (const std::string& s : stops_) {
    const size_t max_len = std::min(s.size() - (s.empty() ? 0 : 1), text.size());
    for (size_t len = max_len; len > hold; --len) {
      if (text.substr(text.size() - len) == std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  // Also hold an unfinished UTF-8 character (judged by its lead byte alone).
  hold = std::max(hold, text.size() - utf8::complete_prefix(text, utf8::TailCheck::kLeadByte));
  out.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopChecker::flush() {
  if (stopped()) return {};
  return std::exchange(pending_, std::string());
}

bool is_stop_token(const SamplingParams& params, int32_t token, std::span<const int32_t> eos_ids) {
  if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), token) != params.stop_token_ids.end()) {
    return true;
  }
  return !params.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end();
}

}  // namespace lpx
