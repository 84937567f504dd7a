// Logging implementation: "2026-11-25T17:00:00.123Z INFO  message".
#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace lpx {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;
}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

bool parse_log_level(std::string_view text, LogLevel* out) {
  std::string t(text);
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "debug" || t == "trace")
    *out = LogLevel::kDebug;
  else if (t == "info")
    *out = LogLevel::kInfo;
  else if (t == "warn" || t == "warning")
    *out = LogLevel::kWarn;
  else if (t == "error")
    *out = LogLevel::kError;
  else if (t == "off" || t == "none")
    *out = LogLevel::kOff;
  else
    return false;
  return true;
}

void log_line(LogLevel level, std::string_view message) {
  static const char* kNames[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "%s.%03dZ %s %.*s\n", ts, ms, kNames[static_cast<int>(level)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace lpx
