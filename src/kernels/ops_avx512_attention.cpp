// AVX-512 causal GQA attention over a KV cache (online softmax, keys in chunks).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"
#include "kernels/simd_target.h"

// Everything above is compiled for the baseline; see simd_target.h for why the order matters.
#if LPX_SIMD_X86
#include <immintrin.h>
LPX_TARGET_AVX512_BEGIN
#include "kernels/ops_avx512_internal.h"

#include "kernels/simd_ops.h"

namespace lpx::kernels::avx512 {

// Written once over the vector type (simd_ops.h); this is its F32x16 instance.
void avx512_attention_items(const AttentionArgs& a, int64_t begin, int64_t end) {
  simd_attention_items<F32x16>(a, begin, end);
}

}  // namespace lpx::kernels::avx512

LPX_TARGET_END
#endif  // LPX_SIMD_X86
