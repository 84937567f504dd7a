// Internal to src/kernels: the per-ISA tables of serial kernels that dispatch.cpp threads and
// selects between, plus per-thread scratch memory. Model code includes kernels/ops.h instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/ops.h"

namespace lpx::kernels {

// Element k of a q8 row (see DType::kQ8): scale of block k / 32 times its int8 value.
inline float q8_elem(const void* row, int64_t k) {
  const auto* b = static_cast<const uint8_t*>(row) + (k / kQ8Group) * kQ8BlockBytes;
  uint16_t h;
  std::memcpy(&h, b, 2);
  return f16_to_f32(h) * static_cast<float>(static_cast<int8_t>(b[2 + k % kQ8Group]));
}

}  // namespace lpx::kernels

namespace lpx::kernels::detail {

// How a blocked (large-M) GEMM multiplies.
enum class GemmMode : int {
  kF32 = 0,      // exact: weights widened to f32, f32 FMAs
  kBf16Dot = 1,  // activations rounded to bf16, AVX512-BF16 vdpbf16ps
  kAmx = 2,      // activations rounded to bf16, AMX-BF16 tdpbf16ps
};

// Serial building blocks. Each works on the slice it is given; dispatch.cpp splits the work.
// Tables are written with designated initializers naming every member in order (absent entries
// spelled out as nullptr), so a missing or misplaced entry shows.
struct OpsTable {
  Isa isa;
  // Any M, any alpha, any weight dtype (inner-product kernel; used for M < kBf16DotMinRows,
  // alpha != 1 and LoRA).
  void (*gemm)(const GemmArgs& a);
  // Blocked GEMM for large M (nullptr on the scalar path). x is first packed once per call by
  // pack_a (split by the caller into `pack_a_units` independent units [u0, u1)), then
  // gemm_blocked computes y for the given W rows (a.x is ignored, a.alpha must be 1).
  // Modes other than kF32 need bf16 weights and the matching CPU support (checked by dispatch).
  bool (*supports_mode)(GemmMode mode);
  size_t (*packed_a_bytes)(int64_t M, int64_t K, GemmMode mode);
  int64_t (*pack_a_units)(int64_t M, GemmMode mode);
  void (*pack_a)(const float* x, int64_t ldx, int64_t M, int64_t K, GemmMode mode, int64_t u0, int64_t u1, void* out);
  void (*gemm_blocked)(const void* a_packed, GemmMode mode, const GemmArgs& a);
  void (*rmsnorm)(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D);
  // Rotation for tokens [0, M) given per-token cos/sin tables cs: [M, head_dim] laid out as
  // cos[0..half) then sin[0..half) per token.
  void (*rope_apply)(float* v, const float* cs, int64_t M, int n_heads, int head_dim, int64_t token_stride);
  void (*silu_mul)(const float* gate, const float* up, float* out, size_t n);
  void (*softmax)(float* x, int64_t M, int64_t N);
  void (*add)(const float* a, const float* b, float* out, size_t n);
  void (*to_f32)(const void* src, DType t, float* dst, size_t n);
  float (*dot)(const float* a, const float* b, size_t n);
  float (*exp_shifted)(const float* x, size_t n, float m, float scale, float* out);
  void (*axpy)(float alpha, const float* x, float* y, size_t n);
  // Attention work items [begin, end): item i = (query token i / n_kv_heads, kv head i % n_kv_heads),
  // computing all n_heads / n_kv_heads query heads of that group.
  void (*attention_items)(const AttentionArgs& a, int64_t begin, int64_t end);
  // bf16-activation GEMV for M < kBf16DotMinRows (nullptr where vdpbf16ps is not compiled):
  // pack_x_pairs rounds rows of x to bf16 pairs exactly as pack_a does ([M][ceil(K/2)] uint32);
  // gemv_bf16dot computes y for the given W rows with, for every output, the same sequence of
  // vdpbf16ps operations as the blocked kernel, so a row's result does not depend on M.
  void (*pack_x_pairs)(const float* x, int64_t ldx, int64_t M, int64_t K, uint32_t* out);
  void (*gemv_bf16dot)(const uint32_t* xp, const GemmArgs& a);
};

const OpsTable& ref_table();
// Asks the OS for AMX tile state (Linux arch_prctl); true if AMX-BF16 may be used. Idempotent.
bool request_amx();
const OpsTable* avx2_table();    // nullptr when not compiled for this target
const OpsTable* avx512_table();  // nullptr when not compiled for this target

// 64-byte aligned per-thread scratch, grown on demand (contents not preserved across growth).
// Slots are independent buffers, valid until the same thread asks the same slot again:
// 0 = GEMM W panel, 1 = packed x of a blocked GEMM (caller thread), 2 = attention / RoPE tables,
// 3 = LoRA work items / bias row, 4 = GEMV x split, 5 = row-major copy of a prepacked matrix.
inline constexpr int kScratchSlots = 6;
void* thread_scratch(int slot, size_t bytes);

// Per-token cos/sin rows for RoPE (shared by all paths so every ISA sees identical angles):
// cs[m*head_dim + i] = cos(pos*inv_freq[i]), cs[m*head_dim + half + i] = sin(...).
void rope_tables(const int32_t* positions, const float* inv_freq, int64_t M, int head_dim, float* cs);

}  // namespace lpx::kernels::detail
