// StrongId<Tag>: a 64-bit handle that is its own type (RequestId, AdapterId...): explicit
// construction, comparison, hashing and to_string only, so ids of different kinds, token ids and
// counts cannot be mixed up. 0 is "none" (operator bool is false).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace lpx {

template <typename Tag>
struct StrongId {
  uint64_t value = 0;

  constexpr StrongId() = default;
  constexpr explicit StrongId(uint64_t v) : value(v) {}
  constexpr explicit operator bool() const { return value != 0; }
  friend constexpr auto operator<=>(const StrongId&, const StrongId&) = default;
};

template <typename Tag>
std::string to_string(StrongId<Tag> id) {
  return std::to_string(id.value);
}

}  // namespace lpx

template <typename Tag>
struct std::hash<lpx::StrongId<Tag>> {
  size_t operator()(const lpx::StrongId<Tag>& id) const noexcept { return std::hash<uint64_t>()(id.value); }
};
