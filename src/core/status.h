// Status and Result<T>: expected failures as values (corrupt file, bad parameter, cache full...).
// Broken invariants use LPX_CHECK (core/check.h) instead. Thread-safe: plain values.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lpx {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // bad parameter or request field (HTTP 400)
  kNotFound,           // unknown model/adapter/file (HTTP 404)
  kCorrupt,            // a file that exists but is malformed
  kUnsupported,        // valid input we do not support (architecture, module, feature)
  kResourceExhausted,  // cache full, out of KV blocks (HTTP 429 where a client can retry)
  kUnavailable,        // not ready / shutting down (HTTP 503)
  kIoError,            // open/read/mmap failed
  kCancelled,
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: model.safetensors: tensor 'x' ..." style, for logs and CLI errors.
  std::string to_string() const;
  // Returns a copy with "context: " prepended to the message (e.g. a file name).
  Status with_context(const std::string& context) const;
  // The request field or parameter the error is about ("temperature", "prompt"...), "" when none.
  // The HTTP layer reports it as the OpenAI error's `param`; it is not part of to_string().
  const std::string& field() const { return field_; }
  // Returns a copy naming `field` as the offending one (no-op on ok).
  Status with_field(std::string field) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
// An invalid request field: the message, and `field` as the offending field (Status::field()).
inline Status invalid_field(std::string field, std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m)).with_field(std::move(field));
}
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T>: either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                                                 // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).is_ok()); }  // NOLINT
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lpx

// Propagate a non-ok Status from an expression returning Status.
#define LPX_RETURN_IF_ERROR(expr)                 \
  do {                                            \
    ::lpx::Status lpx_status_ = (expr);           \
    if (!lpx_status_.is_ok()) return lpx_status_; \
  } while (0)

#define LPX_CONCAT_INNER(a, b) a##b
#define LPX_CONCAT(a, b) LPX_CONCAT_INNER(a, b)
// LPX_ASSIGN_OR_RETURN(auto x, make_x()); returns the Status on failure.
#define LPX_ASSIGN_OR_RETURN(decl, expr) LPX_ASSIGN_OR_RETURN_IMPL(LPX_CONCAT(lpx_res_, __LINE__), decl, expr)
#define LPX_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                               \
  if (!tmp.is_ok()) return tmp.status();           \
  decl = std::move(tmp).value()
