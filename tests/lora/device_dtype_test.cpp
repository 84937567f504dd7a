// The device tier stores each adapter module in the narrowest dtype that holds its values exactly:
// bf16 adapters take half the pages of f32 ones, and the kernel views read back identical values.
#include <gtest/gtest.h>

#include "core/dtype.h"
#include "lora/device_pool.h"
#include "testing/synthetic_adapter.h"
#include "util/random_llama.h"

namespace lpx {
namespace {

ModelConfig small_config() {
  testutil::RandomLlamaSpec spec;
  spec.hidden = 64;
  spec.head_dim = 16;
  spec.inter = 128;
  spec.vocab = 100;
  return testutil::config_of(spec);
}

TEST(DeviceDtype, ChosenFromValues) {
  const ModelConfig c = small_config();
  auto a = synthetic_adapter(c, "bf", 8, all_lora_modules(), 1.0f, 1);  // bf16-exact values
  EXPECT_EQ(a->layers[0][0]->device_dtype, DType::kBF16);
  a->layers[1][3]->a[5] = 0.1f;                   // not a bf16 or f16 value
  a->layers[0][2]->b[0] = 1.0f + 1.0f / 1024.0f;  // an f16 value, not bf16
  a->choose_device_dtypes();
  EXPECT_EQ(a->layers[1][3]->device_dtype, DType::kF32);
  EXPECT_EQ(a->layers[0][2]->device_dtype, DType::kF16);
  EXPECT_EQ(a->layers[0][0]->device_dtype, DType::kBF16);
}

TEST(DeviceDtype, Bf16TakesHalfThePagesAndReadsBackExactly) {
  const ModelConfig c = small_config();
  auto bf = synthetic_adapter(c, "bf", 16, all_lora_modules(), 2.0f, 3);
  auto f32 = std::make_shared<LoraAdapter>(*bf);
  for (auto& layer : f32->layers)
    for (auto& m : layer)
      if (m) m->device_dtype = DType::kF32;
  DevicePoolConfig dc;
  dc.n_slots = 2;
  dc.max_rank = 16;
  dc.page_rank = 4;
  dc.floats_per_rank = lora_floats_per_rank(c);
  DevicePool pool(dc);
  EXPECT_EQ(pool.pages_for(*f32), 4);
  EXPECT_EQ(pool.pages_for(*bf), 2);
  auto d = pool.acquire("bf", bf);
  ASSERT_TRUE(d.is_ok());
  const kernels::LoraSegment& v = d.value()->views[1][4];
  ASSERT_EQ(v.a.dtype, DType::kBF16);
  const auto* h = static_cast<const uint16_t*>(v.a.data);
  const auto& src = bf->layers[1][4]->a;
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(bf16_to_f32(h[i]), src[i]) << i;
  EXPECT_FLOAT_EQ(v.scale, 2.0f);
  // Four bf16 adapters fit in the room of two f32 ones.
  pool.unpin_all();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.acquire("bf" + std::to_string(i), bf).is_ok()) << i;
  EXPECT_EQ(pool.resident(), 4);
  EXPECT_EQ(pool.free_pages(), 0);
}

}  // namespace
}  // namespace lpx
