// Plain scalar reference of every kernel op (serial; double accumulation in reductions). Also the
// `scalar` ISA path.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"

namespace lpx::kernels {
namespace {

inline float load_elem(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: return static_cast<const float*>(base)[i];
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::kQ8: return q8_elem(base, i);
    case DType::kI8:
    case DType::kBF16I16:
      LPX_CHECK(false && "i8 is not a kernel weight dtype; bf16x16 reaches the reference only unpacked");
      break;
  }
  return 0.0f;
}

void ref_to_f32(const void* src, DType t, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = load_elem(src, t, static_cast<int64_t>(i));
}

void ref_rope_apply(float* v, const float* cs, int64_t M, int n_heads, int head_dim, int64_t token_stride) {
  const int half = head_dim / 2;
  if (token_stride == 0) token_stride = int64_t{n_heads} * head_dim;
  for (int64_t m = 0; m < M; ++m) {
    const float* c = cs + m * head_dim;
    const float* s = c + half;
    for (int h = 0; h < n_heads; ++h) {
      float* p = v + m * token_stride + int64_t{h} * head_dim;
      for (int i = 0; i < half; ++i) {
        const float a = p[i], b = p[i + half];
        p[i] = a * c[i] - b * s[i];
        p[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void ref_attention_items(const AttentionArgs& a, int64_t begin, int64_t end) {
  const int hd = a.kv.head_dim;
  const int n_kv = a.kv.n_kv_heads;
  const int rep = a.n_heads / n_kv;
  const int64_t q_stride = a.q_stride > 0 ? a.q_stride : int64_t{a.n_heads} * hd;
  const int64_t out_stride = a.out_stride > 0 ? a.out_stride : int64_t{a.n_heads} * hd;
  const double scale = a.scale != 0.0f ? a.scale : 1.0 / std::sqrt(static_cast<double>(hd));
  std::vector<double> scores;
  std::vector<double> acc(static_cast<size_t>(hd));
  for (int64_t item = begin; item < end; ++item) {
    const int64_t j = item / n_kv;
    const int g = static_cast<int>(item % n_kv);
    const int64_t n_keys = int64_t{a.positions[j]} + 1;
    scores.assign(static_cast<size_t>(n_keys), 0.0);
    for (int h = g * rep; h < (g + 1) * rep; ++h) {
      const float* q = a.q + j * q_stride + int64_t{h} * hd;
      double mx = -INFINITY;
      for (int64_t t = 0; t < n_keys; ++t) {
        const float* k = a.kv.key(t, g);
        double s = 0.0;
        for (int d = 0; d < hd; ++d) s += static_cast<double>(q[d]) * k[d];
        scores[static_cast<size_t>(t)] = s * scale;
        if (s * scale > mx) mx = s * scale;
      }
      double sum = 0.0;
      for (auto& s : scores) {
        s = std::exp(s - mx);
        sum += s;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t t = 0; t < n_keys; ++t) {
        const float* vv = a.kv.value(t, g);
        const double p = scores[static_cast<size_t>(t)];
        for (int d = 0; d < hd; ++d) acc[static_cast<size_t>(d)] += p * vv[d];
      }
      float* o = a.out + j * out_stride + int64_t{h} * hd;
      for (int d = 0; d < hd; ++d) o[d] = static_cast<float>(acc[static_cast<size_t>(d)] / sum);
    }
  }
}

}  // namespace

namespace ref {

void gemm(const GemmArgs& a) {
  const int64_t K = a.w.cols, N = a.w.rows;
  const int64_t ldx = a.ldx > 0 ? a.ldx : K;
  const int64_t ldy = a.ldy > 0 ? a.ldy : N;
  for (int64_t m = 0; m < a.M; ++m) {
    const float* x = a.x + m * ldx;
    float* y = a.y + m * ldy;
    for (int64_t n = 0; n < N; ++n) {
      const void* w = a.w.row_ptr(n);
      double s = 0.0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[k]) * load_elem(w, a.w.dtype, k);
      const float v = static_cast<float>(a.alpha * s);
      y[n] = a.accumulate ? y[n] + v : v;
    }
  }
}

void rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D) {
  LPX_CHECK(gamma.size == D);
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    float* yr = y + m * D;
    double ss = 0.0;
    for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(xr[d]) * xr[d];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + eps));
    for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] * inv) * load_elem(gamma.data, gamma.dtype, d);
  }
}

void rope(float* v, const int32_t* positions, const float* inv_freq, int64_t M, int n_heads, int head_dim,
          int64_t token_stride) {
  LPX_CHECK(head_dim % 2 == 0);
  const int half = head_dim / 2;
  if (token_stride == 0) token_stride = int64_t{n_heads} * head_dim;
  for (int64_t m = 0; m < M; ++m) {
    for (int i = 0; i < half; ++i) {
      const float angle = static_cast<float>(positions[m]) * inv_freq[i];
      const float c = static_cast<float>(std::cos(static_cast<double>(angle)));
      const float s = static_cast<float>(std::sin(static_cast<double>(angle)));
      for (int h = 0; h < n_heads; ++h) {
        float* p = v + m * token_stride + int64_t{h} * head_dim;
        const float a = p[i], b = p[i + half];
        p[i] = a * c - b * s;
        p[i + half] = b * c + a * s;
      }
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, int64_t M, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    float* r = x + m * N;
    float mx = -INFINITY;
    for (int64_t n = 0; n < N; ++n) mx = r[n] > mx ? r[n] : mx;
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      r[n] = std::exp(r[n] - mx);
      sum += r[n];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t n = 0; n < N; ++n) r[n] *= inv;
  }
}

void add(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

Status embedding(const WeightMatrix& table, const int32_t* ids, int64_t M, float* out) {
  const int64_t D = table.cols;
  for (int64_t m = 0; m < M; ++m) {
    if (ids[m] < 0 || ids[m] >= table.rows) {
      return invalid_argument("embedding: token id " + std::to_string(ids[m]) + " at row " + std::to_string(m) +
                              " is outside the vocabulary [0, " + std::to_string(table.rows) + ")");
    }
    ref_to_f32(table.row_ptr(ids[m]), table.dtype, out + m * D, static_cast<size_t>(D));
  }
  return Status::ok();
}

float dot(const float* a, const float* b, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

float exp_shifted(const float* x, size_t n, float m, float scale, float* out) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float t = (x[i] - m) * scale;
    const float e = t > -87.0f ? std::exp(t) : 0.0f;  // also 0 for NaN
    if (out != nullptr) out[i] = e;
    sum += e;
  }
  return sum;
}

void axpy(float alpha, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void attention(const AttentionArgs& a) {
  LPX_CHECK(a.kv.n_kv_heads > 0 && a.n_heads % a.kv.n_kv_heads == 0);
  ref_attention_items(a, 0, a.n_q * a.kv.n_kv_heads);
}

void lora_shrink(const float* x, int64_t ldx, const LoraSegment* segs, int n_segs, float* tmp, int64_t ld_tmp) {
  for (int s = 0; s < n_segs; ++s) {
    const LoraSegment& sg = segs[s];
    const int64_t K = sg.a.cols;
    for (int64_t m = sg.row_begin; m < sg.row_end; ++m) {
      for (int64_t r = 0; r < sg.a.rows; ++r) {
        const void* ar = sg.a.row_ptr(r);
        double acc = 0.0;
        for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(x[m * ldx + k]) * load_elem(ar, sg.a.dtype, k);
        tmp[m * ld_tmp + r] = static_cast<float>(acc);
      }
    }
  }
}

void lora_expand(const float* tmp, int64_t ld_tmp, const LoraSegment* segs, int n_segs, float* y, int64_t ldy) {
  for (int s = 0; s < n_segs; ++s) {
    const LoraSegment& sg = segs[s];
    const int64_t r = sg.rank();
    for (int64_t m = sg.row_begin; m < sg.row_end; ++m) {
      for (int64_t n = 0; n < sg.out_dim(); ++n) {
        double acc = 0.0;
        for (int64_t i = 0; i < r; ++i) {
          const float b =
              sg.b_transposed ? load_elem(sg.b.row_ptr(i), sg.b.dtype, n) : load_elem(sg.b.row_ptr(n), sg.b.dtype, i);
          acc += static_cast<double>(tmp[m * ld_tmp + i]) * b;
        }
        y[m * ldy + n] += static_cast<float>(sg.scale * acc);
      }
    }
  }
}

}  // namespace ref

namespace detail {

const OpsTable& ref_table() {
  static const OpsTable table = {
      .isa = Isa::kScalar,
      .gemm = &ref::gemm,
      .supports_mode = nullptr,
      .packed_a_bytes = nullptr,
      .pack_a_units = nullptr,
      .pack_a = nullptr,
      .gemm_blocked = nullptr,
      .rmsnorm = &ref::rmsnorm,
      .rope_apply = &ref_rope_apply,
      .silu_mul = &ref::silu_mul,
      .softmax = &ref::softmax,
      .add = &ref::add,
      .to_f32 = &ref_to_f32,
      .dot = &ref::dot,
      .exp_shifted = &ref::exp_shifted,
      .axpy = &ref::axpy,
      .attention_items = &ref_attention_items,
      .pack_x_pairs = nullptr,
      .gemv_bf16dot = nullptr,
  };
  return table;
}

}  // namespace detail
}  // namespace lpx::kernels
