// Leveled logging to stderr with timestamps. Thread-safe (one mutex around each line).
#pragma once

#include <string_view>

namespace lpx {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "debug|info|warn|warning|error|off" (case-insensitive); false if unknown.
bool parse_log_level(std::string_view text, LogLevel* out);
void log_line(LogLevel level, std::string_view message);

}  // namespace lpx

#define LPX_LOG(level, msg)                                                                             \
  do {                                                                                                  \
    if (static_cast<int>(level) >= static_cast<int>(::lpx::log_level())) ::lpx::log_line(level, (msg)); \
  } while (0)
#define LPX_LOG_DEBUG(msg) LPX_LOG(::lpx::LogLevel::kDebug, msg)
#define LPX_LOG_INFO(msg) LPX_LOG(::lpx::LogLevel::kInfo, msg)
#define LPX_LOG_WARN(msg) LPX_LOG(::lpx::LogLevel::kWarn, msg)
#define LPX_LOG_ERROR(msg) LPX_LOG(::lpx::LogLevel::kError, msg)
