// RequestId: the engine's handle of one generation request. A distinct type (not a bare integer):
// explicit construction, comparison and hashing only, so it cannot be mixed up with a token id, a
// count or an AdapterId. 0 is "no request"; the engine numbers requests from 1.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace lpx {

struct RequestId {
  uint64_t value = 0;

  constexpr RequestId() = default;
  constexpr explicit RequestId(uint64_t v) : value(v) {}
  constexpr explicit operator bool() const { return value != 0; }
  friend constexpr auto operator<=>(const RequestId&, const RequestId&) = default;
};

inline std::string to_string(RequestId id) { return std::to_string(id.value); }

}  // namespace lpx

template <>
struct std::hash<lpx::RequestId> {
  size_t operator()(const lpx::RequestId& id) const noexcept { return std::hash<uint64_t>()(id.value); }
};
