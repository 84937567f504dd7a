// Element types of stored tensors (f32, f16, bf16, i8) and exact scalar/bulk conversions to and from f32.
//
// Thread-safety: all functions are pure and thread-safe.
// Conversions:
//   - f16 -> f32 and bf16 -> f32 are exact for every bit pattern (subnormals, +-0, +-inf, NaN;
//     a NaN keeps its sign and payload bits, shifted into the wider mantissa).
//   - f32 -> f16 and f32 -> bf16 round to nearest, ties to even; overflow gives +-inf;
//     f32 -> f16 produces f16 subnormals (and +-0 on underflow); NaN stays NaN (the payload's
//     top bits are kept and a quiet bit is forced if truncation would make it look like inf).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lpx {

// Numeric values are fixed (kernels' WDType casts rely on f32=0, f16=1, bf16=2); append new ones.
enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kI8 = 3,
  // Weight-only int8 with per-group f16 scales, made at load time (never read from a file). The
  // block layout is defined by the kernels (kernels/ops.h, WDType::kQ8); dtype_size gives the int8
  // payload (1) only, and the bulk conversions below do not take it.
  kQ8 = 4,
  // bf16 repacked at load in 16-row groups for the vdpbf16ps kernels (kernels/ops.h, WDType::kBF16I16).
  kBF16I16 = 5,
};

// Bytes per element: 4, 2, 2, 1 (q8: 1, scales not counted).
size_t dtype_size(DType dtype);
// Short lower-case name: "f32", "f16", "bf16", "i8", "q8".
const char* dtype_name(DType dtype);
// True for f32 / f16 / bf16 (not q8).
bool dtype_is_float(DType dtype);
// Parses "f32"/"float32"/"float", "f16"/"float16"/"half", "bf16"/"bfloat16", "i8"/"int8"
// (case-insensitive; a leading "torch." is accepted, so torch_dtype values work). nullopt if unknown.
std::optional<DType> parse_dtype(std::string_view text);

// ---- scalar conversions ----
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);

// ---- bulk conversions (n elements; src and dst must not overlap) ----
// Reads n elements of `src_dtype` (f32/f16/bf16/i8; i8 is converted as a plain integer value) at
// `src` (any alignment) into dst[0..n).
void convert_to_f32(DType src_dtype, const void* src, float* dst, size_t n);
// Writes n f32 values as `dst_dtype` (f32/f16/bf16; i8 is not allowed: LPX_CHECK) at `dst` (any alignment).
void convert_from_f32(DType dst_dtype, const float* src, void* dst, size_t n);

}  // namespace lpx
