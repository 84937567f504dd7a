// StrongId: distinct id kinds do not convert into each other or from integers; ids compare, hash
// and print by value.
#include "core/strong_id.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <unordered_set>

#include "engine/request_id.h"
#include "lora/device_pool.h"

namespace lpx {
namespace {

static_assert(!std::is_convertible_v<uint64_t, RequestId>, "no implicit construction from an integer");
static_assert(!std::is_convertible_v<RequestId, uint64_t>, "no implicit conversion to an integer");
static_assert(!std::is_convertible_v<RequestId, AdapterId>, "request and adapter ids are distinct types");
static_assert(!std::is_same_v<RequestId, AdapterId>);

TEST(StrongId, ComparesHashesAndPrintsByValue) {
  EXPECT_FALSE(static_cast<bool>(RequestId{}));
  EXPECT_TRUE(static_cast<bool>(RequestId{3}));
  EXPECT_LT(RequestId{2}, RequestId{3});
  EXPECT_EQ(AdapterId{7}, AdapterId{7});
  std::unordered_set<RequestId> ids{RequestId{1}, RequestId{2}, RequestId{1}};
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(to_string(RequestId{42}), "42");
  EXPECT_EQ(to_string(AdapterId{5}), "5");
}

}  // namespace
}  // namespace lpx
