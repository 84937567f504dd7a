// LoraAdapter helpers.
#include "lora/adapter.h"

namespace lpx {

size_t LoraAdapter::bytes() const {
  size_t n = 0;
  for (const auto& layer : layers)
    for (const auto& m : layer)
      if (m) n += (m->a.size() + m->b.size()) * sizeof(float);
  return n;
}

size_t LoraAdapter::device_floats() const {
  size_t n = 0;
  for (const auto& layer : layers)
    for (const auto& m : layer)
      if (m) n += static_cast<size_t>(m->rank) * static_cast<size_t>(m->in_dim + m->out_dim);
  return n;
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
