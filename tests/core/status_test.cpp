// Tests for Status / Result.
#include "core/status.h"

#include <gtest/gtest.h>

namespace lpx {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument("x must be > 0, got " + std::to_string(x));
  return x;
}

Result<int> doubled(int x) {
  LPX_ASSIGN_OR_RETURN(int v, parse_positive(x));
  return v * 2;
}

TEST(Status, OkAndError) {
  EXPECT_TRUE(Status::ok().is_ok());
  Status s = corrupt("bad header").with_context("model.safetensors");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(s.to_string(), "corrupt: model.safetensors: bad header");
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(doubled(3).value(), 6);
  auto r = doubled(-1);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("got -1"), std::string::npos);
}

}  // namespace
}  // namespace lpx
