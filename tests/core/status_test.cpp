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

TEST(Status, CarriesTheOffendingField) {
  EXPECT_EQ(invalid_argument("bad").field(), "");
  Status s = invalid_field("temperature", "temperature must be in [0, 2], got 3");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "temperature");
  EXPECT_EQ(s.message(), "temperature must be in [0, 2], got 3");
  // The field is not part of the text.
  EXPECT_EQ(s.to_string(), "invalid argument: temperature must be in [0, 2], got 3");
  EXPECT_EQ(s.with_context("request 1").field(), "temperature");
  EXPECT_EQ(not_found("x").with_field("model").field(), "model");
  EXPECT_EQ(Status::ok().with_field("model").field(), "");  // ok stays plain ok
  Result<int> r = invalid_field("n", "n must be >= 1");
  EXPECT_EQ(r.status().field(), "n");
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
