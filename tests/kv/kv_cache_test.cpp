// Tests for the paged KV cache: allocation, exhaustion, release, row addressing.
#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <set>

namespace lpx {
namespace {

KvCacheConfig small_config() {
  KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.block_size = 4;
  c.n_blocks = 5;
  return c;
}

TEST(KvCache, ReserveAndRelease) {
  KvCache kv(small_config());
  SeqKv a, b;
  ASSERT_TRUE(kv.reserve(a, 9).is_ok());  // 3 blocks
  EXPECT_EQ(a.blocks.size(), 3u);
  EXPECT_EQ(kv.n_free_blocks(), 2);
  ASSERT_TRUE(kv.reserve(a, 12).is_ok());  // still 3
  EXPECT_EQ(kv.n_free_blocks(), 2);
  Status s = kv.reserve(b, 13);  // needs 4
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(b.blocks.empty());
  EXPECT_EQ(kv.n_free_blocks(), 2);
  kv.release(a);
  EXPECT_EQ(kv.n_free_blocks(), 5);
  ASSERT_TRUE(kv.reserve(b, 13).is_ok());
}

TEST(KvCache, RowsAreDistinctAndStable) {
  KvCache kv(small_config());
  SeqKv a, b;
  ASSERT_TRUE(kv.reserve(a, 8).is_ok());
  ASSERT_TRUE(kv.reserve(b, 8).is_ok());
  std::set<float*> rows;
  for (int layer = 0; layer < 2; ++layer)
    for (int p = 0; p < 8; ++p) {
      rows.insert(kv.k_row(layer, a, p));
      rows.insert(kv.v_row(layer, a, p));
      rows.insert(kv.k_row(layer, b, p));
      rows.insert(kv.v_row(layer, b, p));
    }
  EXPECT_EQ(rows.size(), 2u * 8 * 4);
  kv.k_row(1, a, 5)[3] = 42.0f;
  EXPECT_EQ(kv.k_block(1, a.blocks[1])[1 * 8 + 3], 42.0f);
}

}  // namespace
}  // namespace lpx
