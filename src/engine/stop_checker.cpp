// Stop strings over a streamed text (hold back possible stop prefixes) and stop token ids.
#include "engine/stop_checker.h"

#include <algorithm>
#include <utility>

namespace lpx {
namespace {

// Length of an incomplete UTF-8 sequence at the end of `s` (0 if the text ends on a boundary or the
// tail is not a valid start of a multi-byte character).
size_t incomplete_utf8_tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    size_t need = 0;
    if ((c & 0xE0) == 0xC0) {
      need = 2;
    } else if ((c & 0xF0) == 0xE0) {
      need = 3;
    } else if ((c & 0xF8) == 0xF0) {
      need = 4;
    }
    return need > back ? back : 0;  // ASCII or invalid lead byte: nothing to wait for
  }
  return 0;
}

}  // namespace

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
  hold = std::max(hold, incomplete_utf8_tail(text));
  out.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopChecker::flush() {
  if (stopped()) return {};
  return std::exchange(pending_, std::string());
}

bool is_stop_token(const SamplingParams& params, int32_t token, std::span<const int32_t> eos_ids) {
  if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), token) !=
      params.stop_token_ids.end()) {
    return true;
  }
  return !params.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end();
}

}  // namespace lpx
