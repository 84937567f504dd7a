// DType sizes/names and bulk f16/bf16 <-> f32 conversions (software, no ISA dependence; the scalar
// conversions are inline in dtype.h).
#include "core/dtype.h"

#include <cctype>
#include <cstring>
#include <string>

#include "core/check.h"

namespace lpx {
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

bool dtype_is_float(DType dtype) { return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16; }

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

void convert_to_f32(DType src_dtype, const void* src, float* dst, size_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  switch (src_dtype) {
    case DType::kF32: std::memcpy(dst, p, n * sizeof(float)); return;
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
    case DType::kBF16I16: break;
  }
  LPX_CHECK(false && "convert_to_f32: q8 / packed bf16 are read by the kernels");
}

void convert_from_f32(DType dst_dtype, const float* src, void* dst, size_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  switch (dst_dtype) {
    case DType::kF32: std::memcpy(p, src, n * sizeof(float)); return;
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
    case DType::kBF16I16: break;
  }
  LPX_CHECK(false && "convert_from_f32: destination must be f32, f16 or bf16");
}

}  // namespace lpx
