// Weight-only int8 for the base model (`--dtype q8`): quantizes the seven projection matrices of
// every layer and lm_head, at load time, into owned q8 copies (core/dtype.h, DType::kQ8: blocks
// of 32 int8 with an f16 scale each, 1.0625 bytes per weight), and drops the pages of the source
// tensors from the resident set. Norms stay as stored; the embedding table stays as stored unless
// it is tied to lm_head (then both read the q8 copy). LoRA adapters are untouched: they keep their
// own precision and add on top of the q8 base product.
//
// A matrix is kept in its stored dtype (and counted in `kept`) when its input width is not a
// multiple of 32, or it is already q8. Errors: invalid_argument if a weight holds a non-finite
// value (the file is named by the tensor name). Not thread-safe with readers of `w`: call it
// before any forward pass.
#pragma once

#include <cstddef>

#include "core/status.h"
#include "model/weights.h"

namespace lpx {

class ThreadPool;

struct QuantizeReport {
  int quantized = 0;        // matrices now q8
  int kept = 0;             // matrices left in their stored dtype
  size_t bytes_before = 0;  // bytes of the quantized matrices in their stored dtype
  size_t bytes_after = 0;   // their q8 bytes
  double seconds = 0;
};

Result<QuantizeReport> quantize_weights_q8(ModelWeights& w, ThreadPool* pool = nullptr);

}  // namespace lpx
