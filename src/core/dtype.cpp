// DType sizes/names and bit-exact f16/bf16 <-> f32 conversions (software, no ISA dependence).
#include "core/dtype.h"

#include <cctype>
#include <cstring>
#include <string>

#include "core/check.h"

namespace lpx {
namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI8: return 1;
    case DType::kQ8: return 1;
    case DType::kBF16I16: return 2;
  }
  LPX_CHECK(false && "bad DType");
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kQ8: return "q8";
    case DType::kBF16I16: return "bf16x16";
  }
  return "invalid";
}

bool dtype_is_float(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

std::optional<DType> parse_dtype(std::string_view text) {
  std::string t(text);
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.rfind("torch.", 0) == 0) t = t.substr(6);
  if (t == "f32" || t == "float32" || t == "float" || t == "fp32") return DType::kF32;
  if (t == "f16" || t == "float16" || t == "half" || t == "fp16") return DType::kF16;
  if (t == "bf16" || t == "bfloat16") return DType::kBF16;
  if (t == "i8" || t == "int8") return DType::kI8;
  return std::nullopt;
}

// f16 layout: 1 sign, 5 exponent (bias 15), 10 mantissa.
float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t out;
  if (exp == 0x1F) {
    out = sign | 0x7F800000u | (mant << 13);  // inf or NaN (payload kept)
  } else if (exp != 0) {
    out = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  } else if (mant == 0) {
    out = sign;  // +-0
  } else {
    // Subnormal: value = mant * 2^-24. Normalise so the leading 1 moves to bit 10.
    int e = -14;  // exponent of a subnormal with the leading bit at position 10
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    mant &= 0x3FFu;
    out = sign | (static_cast<uint32_t>(e + 127) << 23) | (mant << 13);
  }
  return bits_float(out);
}

uint16_t f32_to_f16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t exp = (u >> 23) & 0xFFu;
  const uint32_t mant = u & 0x7FFFFFu;
  if (exp == 0xFF) {
    if (mant == 0) return sign | 0x7C00u;  // inf
    uint16_t m = static_cast<uint16_t>(mant >> 13);
    if (m == 0) m = 0x200;  // keep it a NaN (quiet) when the payload lives only in low bits
    return sign | 0x7C00u | m;
  }
  const int e = static_cast<int>(exp) - 127;  // unbiased exponent
  if (e > 15) return sign | 0x7C00u;           // overflow -> inf
  if (e >= -14) {
    // Normal f16 candidate: keep 10 mantissa bits, round the 13 dropped bits to nearest even.
    uint32_t half = (static_cast<uint32_t>(e + 15) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into exponent/inf: correct
    return static_cast<uint16_t>(sign | half);
  }
  // Subnormal or zero in f16: value = m * 2^-24 with m in [0, 1024).
  if (e < -25) return sign;  // below half of the smallest subnormal (2^-25) -> +-0
  // With the implicit 1 the significand sig has 24 bits and value = sig * 2^(e-23), so
  // m = value / 2^-24 = sig * 2^(e+1) = sig >> (-e-1); shift is 14 (e=-15) .. 24 (e=-25).
  const uint32_t sig = mant | 0x800000u;
  const int shift = -e - 1;
  uint32_t m = sig >> shift;
  const uint32_t rest = sig & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (m & 1u))) ++m;  // m == 1024 becomes the smallest normal: correct
  return static_cast<uint16_t>(sign | m);
}

float bf16_to_f32(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu) != 0) {
    // NaN: truncate (keeps sign and top payload bits); if nothing of the payload is left, set the
    // quiet bit so the result stays a NaN rather than becoming inf.
    uint16_t b = static_cast<uint16_t>(u >> 16);
    if ((b & 0x007Fu) == 0) b |= 0x0040u;
    return b;
  }
  // Round to nearest even on the 16 dropped bits; overflow carries into inf, which is correct.
  const uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

void convert_to_f32(DType src_dtype, const void* src, float* dst, size_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  switch (src_dtype) {
    case DType::kF32:
      std::memcpy(dst, p, n * sizeof(float));
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        dst[i] = bf16_to_f32(b);
      }
      return;
    case DType::kI8:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      return;
    case DType::kQ8:
    case DType::kBF16I16:
      break;
  }
  LPX_CHECK(false && "convert_to_f32: q8 / packed bf16 are read by the kernels");
}

void convert_from_f32(DType dst_dtype, const float* src, void* dst, size_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  switch (dst_dtype) {
    case DType::kF32:
      std::memcpy(p, src, n * sizeof(float));
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t b = f32_to_bf16(src[i]);
        std::memcpy(p + 2 * i, &b, 2);
      }
      return;
    case DType::kI8:
    case DType::kQ8:
    case DType::kBF16I16:
      break;
  }
  LPX_CHECK(false && "convert_from_f32: destination must be f32, f16 or bf16");
}

}  // namespace lpx
