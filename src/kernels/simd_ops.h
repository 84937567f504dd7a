// Internal to src/kernels: the elementwise / row ops and attention, written once over a vector
// type V (simd_vec.h: F32x8 for AVX2, F32x16 for AVX-512) and instantiated in ops_avx2.cpp and
// ops_avx512_{elementwise,attention}.cpp. Same contracts as the OpsTable entries (ops_internal.h).
// Tails are masked vector operations (lanes past the end load as 0 and are not stored).
//
// Include it only INSIDE a target region, after simd_vec.h (see simd_target.h): no #include of its
// own, internal linkage. Uses std::sqrt / std::exp on floats (<cmath> included by the file).
#pragma once

#if !LPX_SIMD_X86
#error "simd_ops.h is only for the x86-64 ISA kernel files"
#endif

namespace lpx::kernels {
namespace {

// Calls f(i, mask) for the vectors of [0, n): whole vectors with V::full_mask() (a constant the
// compiler folds into plain loads/stores where that matters), then one masked tail.
template <class V, class F>
inline void for_each_vector(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) f(i, V::full_mask());
  if (i < n) f(i, V::mask(n - i));
}

template <class V, DType DT>
void simd_rmsnorm_dt(const float* x, const void* g, float eps, float* y, int64_t M, int64_t D) {
  constexpr int W = V::kLanes;
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    float* yr = y + m * D;
    V s0 = V::zero(), s1 = V::zero();
    int64_t d = 0;
    for (; d + 2 * W <= D; d += 2 * W) {
      const V a = V::load(xr + d), b = V::load(xr + d + W);
      s0 = V::fmadd(a, a, s0);
      s1 = V::fmadd(b, b, s1);
    }
    for (; d < D; d += W) {
      const V a = V::load_partial(xr + d, V::mask(D - d));
      s0 = V::fmadd(a, a, s0);
    }
    const float ss = V::reduce_add(V::add(s0, s1));
    const V inv = V::set1(1.0f / std::sqrt(ss / static_cast<float>(D) + eps));
    for (d = 0; d < D; d += W) {
      const auto mk = V::mask(D - d);
      const V v = V::mul(V::load_partial(xr + d, mk), inv);
      V::store_partial(yr + d, mk, V::mul(v, V::template load_w_partial<DT>(g, d, mk)));
    }
  }
}

template <class V>
void simd_rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D) {
  switch (gamma.dtype) {
    case DType::kF32: simd_rmsnorm_dt<V, DType::kF32>(x, gamma.data, eps, y, M, D); break;
    case DType::kF16: simd_rmsnorm_dt<V, DType::kF16>(x, gamma.data, eps, y, M, D); break;
    case DType::kBF16: simd_rmsnorm_dt<V, DType::kBF16>(x, gamma.data, eps, y, M, D); break;
    case DType::kI8:
    case DType::kQ8:
    case DType::kBF16I16: break;  // refused by dispatch
  }
}

template <class V>
void simd_rope_apply(float* v, const float* cs, int64_t M, int n_heads, int head_dim, int64_t token_stride) {
  constexpr int W = V::kLanes;
  const int half = head_dim / 2;
  if (token_stride == 0) token_stride = int64_t{n_heads} * head_dim;
  for (int64_t m = 0; m < M; ++m) {
    const float* cr = cs + m * head_dim;
    const float* sr = cr + half;
    for (int h = 0; h < n_heads; ++h) {
      float* p = v + m * token_stride + int64_t{h} * head_dim;
      for (int i = 0; i < half; i += W) {
        const auto n = V::mask(half - i);
        const V a = V::load_partial(p + i, n), b = V::load_partial(p + half + i, n);
        const V c = V::load_partial(cr + i, n), s = V::load_partial(sr + i, n);
        V::store_partial(p + i, n, V::fmsub(a, c, V::mul(b, s)));
        V::store_partial(p + half + i, n, V::fmadd(b, c, V::mul(a, s)));
      }
    }
  }
}

template <class V>
void simd_silu_mul(const float* gate, const float* up, float* out, size_t n) {
  const V one = V::set1(1.0f);
  for_each_vector<V>(static_cast<int64_t>(n), [&](int64_t i, auto mk) {
    const V g = V::load_partial(gate + i, mk);
    const V u = V::load_partial(up + i, mk);
    const V e = vexp(V::sub(V::zero(), g));
    V::store_partial(out + i, mk, V::mul(V::div(g, V::add(one, e)), u));
  });
}

template <class V>
void simd_softmax(float* x, int64_t M, int64_t N) {
  const float neg_inf = -INFINITY;
  for (int64_t m = 0; m < M; ++m) {
    float* r = x + m * N;
    V mx = V::set1(neg_inf);
    for_each_vector<V>(N, [&](int64_t n, auto mk) { mx = V::max(mx, V::load_partial_fill(r + n, mk, neg_inf)); });
    const V vmax = V::set1(V::reduce_max(mx));
    V sum = V::zero();
    for_each_vector<V>(N, [&](int64_t n, auto mk) {
      const V e = vexp(V::sub(V::load_partial(r + n, mk), vmax));
      sum = V::add(sum, V::zero_tail(e, mk));
      V::store_partial(r + n, mk, e);
    });
    const V inv = V::set1(1.0f / V::reduce_add(sum));
    for_each_vector<V>(
        N, [&](int64_t n, auto mk) { V::store_partial(r + n, mk, V::mul(V::load_partial(r + n, mk), inv)); });
  }
}

template <class V>
void simd_add(const float* a, const float* b, float* out, size_t n) {
  constexpr size_t W = V::kLanes;
  size_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, V::add(V::load(a + i), V::load(b + i)));
  if (i < n) {
    const auto r = V::mask(static_cast<int64_t>(n - i));
    V::store_partial(out + i, r, V::add(V::load_partial(a + i, r), V::load_partial(b + i, r)));
  }
}

template <class V, DType DT>
void simd_to_f32_dt(const void* src, float* dst, size_t n) {
  constexpr size_t W = V::kLanes;
  size_t i = 0;
  for (; i + W <= n; i += W) V::store(dst + i, V::template load_w<DT>(src, static_cast<int64_t>(i)));
  if (i < n) {
    const auto r = V::mask(static_cast<int64_t>(n - i));
    V::store_partial(dst + i, r, V::template load_w_partial<DT>(src, static_cast<int64_t>(i), r));
  }
}

template <class V>
void simd_to_f32(const void* src, DType t, float* dst, size_t n) {
  switch (t) {
    case DType::kF32: simd_to_f32_dt<V, DType::kF32>(src, dst, n); break;
    case DType::kF16: simd_to_f32_dt<V, DType::kF16>(src, dst, n); break;
    case DType::kBF16: simd_to_f32_dt<V, DType::kBF16>(src, dst, n); break;
    case DType::kQ8: simd_to_f32_dt<V, DType::kQ8>(src, dst, n); break;
    case DType::kI8:
    case DType::kBF16I16: LPX_CHECK(false && "to_f32 does not take i8 or bf16x16"); break;
  }
}

template <class V>
float simd_dot(const float* a, const float* b, size_t n) {
  constexpr size_t W = V::kLanes;
  V s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
  size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 = V::fmadd(V::load(a + i), V::load(b + i), s0);
    s1 = V::fmadd(V::load(a + i + W), V::load(b + i + W), s1);
    s2 = V::fmadd(V::load(a + i + 2 * W), V::load(b + i + 2 * W), s2);
    s3 = V::fmadd(V::load(a + i + 3 * W), V::load(b + i + 3 * W), s3);
  }
  for (; i < n; i += W) {
    const auto r = V::mask(static_cast<int64_t>(n - i));
    s0 = V::fmadd(V::load_partial(a + i, r), V::load_partial(b + i, r), s0);
  }
  return V::reduce_add(V::add(V::add(s0, s1), V::add(s2, s3)));
}

template <class V>
void simd_axpy(float alpha, const float* x, float* y, size_t n) {
  const V va = V::set1(alpha);
  for_each_vector<V>(static_cast<int64_t>(n), [&](int64_t i, auto mk) {
    V::store_partial(y + i, mk, V::fmadd(va, V::load_partial(x + i, mk), V::load_partial(y + i, mk)));
  });
}

template <class V>
float simd_exp_shifted(const float* x, size_t n, float m, float scale, float* out) {
  const V vm = V::set1(m), vs = V::set1(scale), lo = V::set1(-87.0f);
  V sum = V::zero();
  for_each_vector<V>(static_cast<int64_t>(n), [&](int64_t i, auto mk) {
    const V t = V::mul(V::sub(V::load_partial(x + i, mk), vm), vs);
    const V e = V::zero_tail(V::keep_if_greater(vexp(t), t, lo), mk);
    if (out != nullptr) V::store_partial(out + i, mk, e);
    sum = V::add(sum, e);
  });
  return V::reduce_add(sum);
}

// ---------------------------------------------------------------------------------------------
// Attention: per (query token, kv head) item, all query heads of the group at once; keys in
// chunks of kKeyChunk with an online softmax (running max m, running sum l, rescaled acc).
// Scores: W keys per block, each a W-lane dot product over head_dim, reduced with V::reduce_lanes.
// V pass: kHeadGroup heads x 4 head_dim vectors of acc in registers, so each value vector is
// loaded once per head group (AVX2 has half the registers, hence the smaller group).

constexpr int64_t kKeyChunk = 64;

template <class V>
void simd_attention_items(const AttentionArgs& a, int64_t begin, int64_t end) {
  constexpr int W = V::kLanes;
  constexpr int kHeadGroup = W == 16 ? 4 : 2;
  const float neg_inf = -INFINITY;
  const int hd = a.kv.head_dim;
  const int n_kv = a.kv.n_kv_heads;
  const int rep = a.n_heads / n_kv;
  const int64_t q_stride = a.q_stride > 0 ? a.q_stride : int64_t{a.n_heads} * hd;
  const int64_t out_stride = a.out_stride > 0 ? a.out_stride : int64_t{a.n_heads} * hd;
  const float scale = a.scale != 0.0f ? a.scale : 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t nvec = (hd + W - 1) / W;
  const int64_t acc_stride = nvec * W;
  // Scratch: scores [rep][kKeyChunk], acc [rep][acc_stride], m [rep], l [rep].
  float* scratch = static_cast<float*>(
      detail::thread_scratch(2, sizeof(float) * static_cast<size_t>(rep * (kKeyChunk + acc_stride + 2))));
  float* scores = scratch;
  float* acc = scores + rep * kKeyChunk;
  float* mrun = acc + rep * acc_stride;
  float* lrun = mrun + rep;
  typename V::Mask vmask[128];  // per head_dim vector (head_dim <= 1024)
  LPX_CHECK(nvec <= 128);
  for (int64_t v = 0; v < nvec; ++v) vmask[v] = V::mask(hd - v * W);
  const float* kp[kKeyChunk];
  const float* vp[kKeyChunk];

  for (int64_t item = begin; item < end; ++item) {
    const int64_t j = item / n_kv;
    const int g = static_cast<int>(item % n_kv);
    const int64_t n_keys = int64_t{a.positions[j]} + 1;
    for (int h = 0; h < rep; ++h) {
      mrun[h] = neg_inf;
      lrun[h] = 0.0f;
    }
    for (int64_t d = 0; d < rep * acc_stride; ++d) acc[d] = 0.0f;
    const float* qg = a.q + j * q_stride + int64_t{g} * rep * hd;
    for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyChunk) {
      const int64_t tn = n_keys - t0 < kKeyChunk ? n_keys - t0 : kKeyChunk;
      for (int64_t t = 0; t < tn; ++t) {
        kp[t] = a.kv.key(t0 + t, g);
        vp[t] = a.kv.value(t0 + t, g);
      }
      for (int64_t t = tn; t < (tn + W - 1) / W * W; ++t) kp[t] = kp[0];  // padding keys
      for (int64_t tb = 0; tb < tn; tb += W) {
        const float* const* kb = kp + tb;
        for (int h = 0; h < rep; ++h) {
          const float* q = qg + int64_t{h} * hd;
          V c[W];
#pragma GCC unroll 16
          for (int i = 0; i < W; ++i) c[i] = V::zero();
          for (int64_t v = 0; v < nvec; ++v) {
            const auto mk = vmask[v];
            const V qv = V::load_partial(q + v * W, mk);
#pragma GCC unroll 16
            for (int i = 0; i < W; ++i) c[i] = V::fmadd(qv, V::load_partial(kb[i] + v * W, mk), c[i]);
          }
          V::store_partial(scores + h * kKeyChunk + tb, V::mask(tn - tb), V::mul(V::reduce_lanes(c), V::set1(scale)));
        }
      }
      // Online softmax update per head: p = exp(s - m_new), l = l*corr + sum p, acc *= corr.
      for (int h = 0; h < rep; ++h) {
        float* s = scores + h * kKeyChunk;
        V mx = V::set1(neg_inf);
        for (int64_t t = 0; t < tn; t += W) mx = V::max(mx, V::load_partial_fill(s + t, V::mask(tn - t), neg_inf));
        const float cmax = V::reduce_max(mx);
        const float m_new = mrun[h] > cmax ? mrun[h] : cmax;
        const float corr = mrun[h] == neg_inf ? 0.0f : std::exp(mrun[h] - m_new);
        mrun[h] = m_new;
        const V vm = V::set1(m_new);
        V sum = V::zero();
        for (int64_t t = 0; t < tn; t += W) {
          const auto mk = V::mask(tn - t);
          const V e = V::zero_tail(vexp(V::sub(V::load_partial(s + t, mk), vm)), mk);
          sum = V::add(sum, e);
          V::store_partial(s + t, mk, e);
        }
        lrun[h] = lrun[h] * corr + V::reduce_add(sum);
        if (corr != 1.0f) {
          const V vc = V::set1(corr);
          float* ah = acc + h * acc_stride;
          for (int64_t v = 0; v < nvec; ++v) V::store(ah + v * W, V::mul(V::load(ah + v * W), vc));
        }
      }
      // acc[h] += sum_t p[h][t] * v_t.
      for (int h0 = 0; h0 < rep; h0 += kHeadGroup) {
        const int nh = rep - h0 < kHeadGroup ? rep - h0 : kHeadGroup;
        for (int64_t v0 = 0; v0 < nvec; v0 += 4) {
          const int nv = static_cast<int>(nvec - v0 < 4 ? nvec - v0 : 4);
          V r[kHeadGroup][4];
#pragma GCC unroll 4
          for (int h = 0; h < kHeadGroup; ++h)
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i)
              r[h][i] = (h < nh && i < nv) ? V::load(acc + (h0 + h) * acc_stride + (v0 + i) * W) : V::zero();
          const typename V::Mask n0 = vmask[v0], n1 = nv > 1 ? vmask[v0 + 1] : V::mask(0),
                                 n2 = nv > 2 ? vmask[v0 + 2] : V::mask(0), n3 = nv > 3 ? vmask[v0 + 3] : V::mask(0);
          for (int64_t t = 0; t < tn; ++t) {
            const float* vr = vp[t] + v0 * W;
            const V x0 = V::load_partial(vr, n0), x1 = V::load_partial(vr + W, n1);
            const V x2 = V::load_partial(vr + 2 * W, n2), x3 = V::load_partial(vr + 3 * W, n3);
#pragma GCC unroll 4
            for (int h = 0; h < kHeadGroup; ++h) {
              if (h < nh) {
                const V pt = V::set1(scores[(h0 + h) * kKeyChunk + t]);
                r[h][0] = V::fmadd(pt, x0, r[h][0]);
                r[h][1] = V::fmadd(pt, x1, r[h][1]);
                r[h][2] = V::fmadd(pt, x2, r[h][2]);
                r[h][3] = V::fmadd(pt, x3, r[h][3]);
              }
            }
          }
#pragma GCC unroll 4
          for (int h = 0; h < kHeadGroup; ++h)
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i)
              if (h < nh && i < nv) V::store(acc + (h0 + h) * acc_stride + (v0 + i) * W, r[h][i]);
        }
      }
    }
    for (int h = 0; h < rep; ++h) {
      float* o = a.out + j * out_stride + int64_t{g * rep + h} * hd;
      const V inv = V::set1(1.0f / lrun[h]);
      const float* ah = acc + h * acc_stride;
      for (int64_t v = 0; v < nvec; ++v) V::store_partial(o + v * W, vmask[v], V::mul(V::load(ah + v * W), inv));
    }
  }
}

}  // namespace
}  // namespace lpx::kernels
