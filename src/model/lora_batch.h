// Per-step LoRA work for the forward pass: for each layer and adapted projection, the segments of
// batch rows that share an adapter (Punica SGMV). Built by the engine on its thread: rows are
// sorted by the adapter's id (engine: AdapterId, never a pointer value), so each adapter's rows are
// one contiguous segment per projection.
#pragma once

#include <array>
#include <vector>

#include "kernels/ops.h"

namespace lpx {

// The seven projections a LoRA adapter may target, in a fixed order.
enum class LoraModule : int { kQ = 0, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumLoraModules = 7;
const char* lora_module_name(LoraModule m);  // "q_proj", ... "down_proj"

struct LoraBatch {
  // segments[layer][module]: rows of the step's token batch and the adapter weights they use.
  std::vector<std::array<std::vector<kernels::LoraSegment>, kNumLoraModules>> segments;
  int max_rank = 0;  // largest rank in any segment (sizes the shrink scratch)

  bool empty() const { return max_rank == 0; }
  const std::vector<kernels::LoraSegment>& at(int layer, LoraModule m) const {
    return segments[layer][static_cast<int>(m)];
  }
};

}  // namespace lpx
