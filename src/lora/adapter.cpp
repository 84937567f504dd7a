// LoraAdapter helpers.
#include "lora/adapter.h"

#include "core/dtype.h"

namespace lpx {

size_t LoraAdapter::bytes() const {
  size_t n = 0;
  for (const auto& layer : layers)
    for (const auto& m : layer)
      if (m) n += (m->a.size() + m->b.size()) * sizeof(float);
  return n;
}

size_t lora_device_floats(size_t numel, DType t) {
  const size_t floats = (numel * dtype_size(t) + 3) / 4;
  return (floats + 15) / 16 * 16;
}

size_t LoraAdapter::device_floats() const {
  size_t n = 0;
  for (const auto& layer : layers)
    for (const auto& m : layer)
      if (m) n += lora_device_floats(m->a.size(), m->device_dtype) + lora_device_floats(m->b.size(), m->device_dtype);
  return n;
}

namespace {

bool exact_in(const std::vector<float>& v, DType t) {
  for (float x : v) {
    const float back = t == DType::kBF16 ? bf16_to_f32(f32_to_bf16(x)) : f16_to_f32(f32_to_f16(x));
    if (back != x) return false;
  }
  return true;
}

}  // namespace

void LoraAdapter::choose_device_dtypes() {
  for (auto& layer : layers) {
    for (auto& m : layer) {
      if (!m) continue;
      if (exact_in(m->a, DType::kBF16) && exact_in(m->b, DType::kBF16)) {
        m->device_dtype = DType::kBF16;
      } else if (exact_in(m->a, DType::kF16) && exact_in(m->b, DType::kF16)) {
        m->device_dtype = DType::kF16;
      } else {
        m->device_dtype = DType::kF32;
      }
    }
  }
}

std::vector<std::string> LoraAdapter::target_modules() const {
  std::vector<std::string> out;
  for (int mi = 0; mi < kNumLoraModules; ++mi) {
    for (const auto& layer : layers) {
      if (layer[mi]) {
        out.push_back(lora_module_name(static_cast<LoraModule>(mi)));
        break;
      }
    }
  }
  return out;
}

}  // namespace lpx
