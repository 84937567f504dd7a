// Element types of stored tensors (f32, f16, bf16, i8) and of the kernels' in-memory weight layouts
// (q8, bf16x16), with exact scalar/bulk conversions to and from f32 (the only copy of them).
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
#include <cstring>
#include <optional>
#include <string_view>

namespace lpx {

// One enum for every element type: file dtypes (f32, f16, bf16, i8) and the in-memory weight
// layouts the kernels read (q8, bf16x16) made at load time. Numeric values are fixed (stored in
// caches and compared across builds); append new ones.
enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kI8 = 3,
  // Weight-only int8 with one scale per group of kQ8Group consecutive elements of a row, made at
  // load time (never read from a file): symmetric, w ~= scale * q with q in [-127, 127]. A row is a
  // sequence of kQ8BlockBytes-byte blocks [f16 scale][32 x int8] (the layout of llama.cpp's Q8_0),
  // so a row of K elements takes K / 32 * 34 bytes; K (and a matrix's row stride) must be a
  // multiple of 32. Kernels widen q * scale to f32 exactly (one f32 rounding) and multiply in f32.
  // dtype_size gives the int8 payload (1) only; the bulk conversions below do not take it.
  kQ8 = 4,
  // bf16 repacked at load for the vdpbf16ps kernels: rows in groups of 16, each group
  // [ceil(K/2) pairs][16 rows][2] (pair p of the 16 rows is one 64-byte vector; an odd K is padded
  // with a zero). N must be a multiple of 16 and row slices start on a group; the bf16dot GEMV and
  // GEMM read it directly, every other kernel path gets a row-major copy first (kernels/ops.h:
  // pack_bf16_i16 / unpack_bf16_i16). Not a file dtype; the bulk conversions do not take it.
  kBF16I16 = 5,
};

inline constexpr int64_t kQ8Group = 32;                 // elements per q8 block
inline constexpr int64_t kQ8BlockBytes = 2 + kQ8Group;  // f16 scale + 32 int8
// Bytes of one 16-row group of a kBF16I16 matrix with K columns.
inline constexpr int64_t bf16i16_group_bytes(int64_t K) { return (K + 1) / 2 * 64; }

// Bytes per element: 4, 2, 2, 1 (q8: 1, scales not counted; bf16x16: 2, padding not counted).
size_t dtype_size(DType dtype);
// Short lower-case name: "f32", "f16", "bf16", "i8", "q8", "bf16x16".
const char* dtype_name(DType dtype);
// True for f32 / f16 / bf16 (not q8).
bool dtype_is_float(DType dtype);
// Parses "f32"/"float32"/"float", "f16"/"float16"/"half", "bf16"/"bfloat16", "i8"/"int8"
// (case-insensitive; a leading "torch." is accepted, so torch_dtype values work). nullopt if unknown.
std::optional<DType> parse_dtype(std::string_view text);
// Bytes taken by `elems` consecutive elements of a row (q8: elems must be a multiple of kQ8Group;
// not for kBF16I16, whose rows are interleaved by group).
inline constexpr int64_t dtype_row_bytes(DType t, int64_t elems) {
  switch (t) {
    case DType::kF32: return elems * 4;
    case DType::kI8: return elems;
    case DType::kQ8: return elems / kQ8Group * kQ8BlockBytes;
    default: return elems * 2;
  }
}

// ---- scalar conversions (inline: the kernels' scalar paths and tails use them) ----
inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// f16 layout: 1 sign, 5 exponent (bias 15), 10 mantissa.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // +-0 or subnormal: mant * 2^-24, exact in f32
    const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (mant << 13));  // inf or NaN (payload kept)
  return bits_to_f32(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
}

inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) {
    if (a == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // inf
    uint16_t m = static_cast<uint16_t>((a & 0x7fffffu) >> 13);
    if (m == 0) m = 0x200;  // keep it a NaN (quiet) when the payload lives only in low bits
    return static_cast<uint16_t>(sign | 0x7c00u | m);
  }
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (a < 0x38800000u) {                                               // below 2^-14: subnormal
    const uint32_t e = a >> 23;
    if (e < 102) return sign;  // below half of the smallest subnormal (2^-25) -> +-0
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;  // r == 1024 is the smallest normal: correct
    return static_cast<uint16_t>(sign | r);
  }
  a -= 0x38000000u;                // rebias exponent 127 -> 15
  a += 0xfffu + ((a >> 13) & 1u);  // round to nearest even on the 13 dropped bits (may carry)
  return static_cast<uint16_t>(sign | (a >> 13));
}

inline float bf16_to_f32(uint16_t b) { return bits_to_f32(static_cast<uint32_t>(b) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    // NaN: truncate (keeps sign and top payload bits); if nothing of the payload is left, set the
    // quiet bit so the result stays a NaN rather than becoming inf.
    uint16_t b = static_cast<uint16_t>(u >> 16);
    if ((b & 0x007fu) == 0) b |= 0x0040u;
    return b;
  }
  // Round to nearest even on the 16 dropped bits; overflow carries into inf, which is correct.
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// ---- bulk conversions (n elements; src and dst must not overlap) ----
// Reads n elements of `src_dtype` (f32/f16/bf16/i8; i8 is converted as a plain integer value) at
// `src` (any alignment) into dst[0..n).
void convert_to_f32(DType src_dtype, const void* src, float* dst, size_t n);
// Writes n f32 values as `dst_dtype` (f32/f16/bf16; i8 is not allowed: LPX_CHECK) at `dst` (any alignment).
void convert_from_f32(DType dst_dtype, const float* src, void* dst, size_t n);

}  // namespace lpx
