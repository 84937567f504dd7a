// CPU compute kernels (matmul, norms, RoPE, attention, LoRA SGMV...) behind one runtime-dispatched seam.
//
// This is the only kernel header model code includes. Every op has a plain scalar reference in
// lpx::kernels::ref (serial, double accumulation where it matters) and SIMD versions (AVX2,
// AVX-512, plus AVX512-BF16 / AMX-BF16 engines for bf16 prefill GEMMs) chosen at startup from the
// CPU (see Isa below; configure() can force one). Weights are row-major as loaded, except bf16
// matrices the model layer prepacks for the vdpbf16ps kernels (DType::kBF16I16, core/dtype.h). Row-major
// decode GEMVs stream rows sequentially; prefill GEMMs pack each W panel once per call (a few % of
// the GEMM time; a copy for prepacked weights).
//
// Conventions:
//  - Activations are f32; weights are read in their stored dtype (f32, f16, bf16, or q8: int8 with
//    per-32 f16 scales) and widened exactly to f32. Weight matrices are [N, K] (PyTorch nn.Linear),
//    row-major unless prepacked: y = x W^T.
//  - Threading: ops take a ThreadPool* (nullptr = ThreadPool::global()) and split the work across
//    its threads; pass a 1-thread pool to run serially. Ops are re-entrant: different threads may
//    run ops concurrently on different outputs (regions on one pool are serialised).
//  - Shape/pointer preconditions are checked with LPX_CHECK where cheap (programming errors abort);
//    data-dependent errors (a token id out of range) come back as Status.
//  - Outputs must not overlap inputs unless an op says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lpx {

class ThreadPool;

// Weights carry an lpx::DType (core/dtype.h), which also defines the in-memory layouts the kernels
// read: kQ8 (int8 blocks with f16 scales) and kBF16I16 (bf16 interleaved in 16-row groups).

// Repacks a row-major bf16 matrix [N, K] (row stride src_stride elements; N % 16 == 0) into
// kBF16I16 at dst (N / 16 * bf16i16_group_bytes(K) bytes), and back. Serial.
void pack_bf16_i16(const uint16_t* src, int64_t N, int64_t K, int64_t src_stride, void* dst);
void unpack_bf16_i16(const void* src, int64_t N, int64_t K, uint16_t* dst);
// Quantizes n f32 values (n a multiple of kQ8Group) into n / 32 q8 blocks at out: per group,
// scale = max|x| / 127 rounded to f16, q = x * (1 / scale) rounded to nearest (ties to even) and
// clamped to [-127, 127]; scale 0 (all q = 0) for an all-zero group; beyond f16's range the scale
// saturates at 65504. A NaN input gives some finite block (callers refuse non-finite weights).
// Serial, deterministic on every path.
void quantize_row_q8(const float* x, int64_t n, void* out);

// A row-major weight matrix [rows, cols] in its stored dtype. Not owning.
// For nn.Linear: rows = N (out features), cols = K (in features).
struct WeightMatrix {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;              // N
  int64_t cols = 0;              // K
  int64_t row_stride_elems = 0;  // elements from one row to the next (>= cols); 0 means cols

  int64_t stride() const { return row_stride_elems > 0 ? row_stride_elems : cols; }
  const void* row_ptr(int64_t r) const {
    if (dtype == DType::kBF16I16) return static_cast<const char*>(data) + r / 16 * bf16i16_group_bytes(cols);
    return static_cast<const char*>(data) + r * dtype_row_bytes(dtype, stride());
  }
  // Rows [begin, end) as a matrix of their own.
  WeightMatrix slice_rows(int64_t begin, int64_t end) const {
    return WeightMatrix{row_ptr(begin), dtype, end - begin, cols, stride()};
  }
};

// A weight vector [size] in its stored dtype (norm gammas, biases). Not owning.
struct WeightVector {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t size = 0;
};

namespace kernels {

// ---------------------------------------------------------------------------------------------
// Instruction-set paths and numerics policy.

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
const char* isa_name(Isa isa);  // "scalar", "avx2", "avx512"
// Paths compiled in AND supported by this CPU/OS, scalar first, best last.
std::vector<Isa> available_isas();
// The path ops use now: the best available, unless configure() or set_isa() chose another (the
// CLI maps env LPX_ISA=scalar|avx2|avx512 onto configure(); an unavailable value warns there).
Isa active_isa();
// Switches the path for the whole process (tests, benchmarks). Not safe while other threads run
// ops. Error (invalid_argument) if the path is not available here.
Status set_isa(Isa isa);

// RAII: switch to an ISA for a scope (tests); restores the previous path.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa);
  ~ScopedIsa();
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
  bool ok() const { return ok_; }

 private:
  Isa prev_;
  bool ok_;
};

// How bf16-weight matmuls with M >= kBf16DotMinRows (prefill) compute. f32/f16 weights, and every
// matmul with fewer rows (decode: memory bound, so exactness costs nothing), always use exact f32.
//  kExact:   weights widened exactly to f32, f32 FMAs with f32 accumulation. Differs from the
//            reference only by summation order (~1e-6 of sum_k |x_k * w_k|).
//  kBf16Dot: activations are rounded to bf16 (round-to-nearest-even) and multiplied exactly with
//            the bf16 weights, accumulating in f32: AMX-BF16 (tdpbf16ps) where the CPU and OS
//            allow it, else AVX512-BF16 (vdpbf16ps); exact f32 on CPUs with neither. The error vs
//            the reference is dominated by the activation rounding:
//            |y - y_ref| <= ~2^-8 * sum_k |x_k * w_k| (measured worst ~1.4e-3 of that sum on
//            random data; typically ~2^-9 / sqrt(K) of it).
//  kAuto:    the fastest engine: AMX if available (Intel Sapphire Rapids and later;
//            measured ~5x the f32 GEMM rate), else vdpbf16ps where it beats f32 FMAs (AMD Zen 4/5,
//            ~2x), else kExact (Intel Xeons without AMX run vdpbf16ps at or below the f32 rate).
// Default: kBf16Dot on CPUs where vdpbf16ps beats f32 FMAs and there is no AMX (AMD Zen 4/5),
// else kExact. In kBf16Dot, steps of M < kBf16DotMinRows rows use a vdpbf16ps GEMV whose per-row
// arithmetic is identical to the blocked kernel's, so a row's result never depends on the batch it
// is in (the engine's batched == solo invariant) in either default. kAuto with AMX does not keep
// that invariant (M < 16 then runs exact f32). KernelOptions::precision (the CLI's env
// LPX_MATMUL=exact|bf16dot|auto) sets the initial value (exact reproduces the reference within
// ~1e-6); KernelOptions::amx = false (env LPX_AMX=0) disallows AMX.
// AMX needs Linux >= 5.16; the kernels ask for the tile state once (arch_prctl) on first use, which
// enlarges signal frames for this process (a tiny sigaltstack would make that request fail, and
// AMX is then simply not used).
enum class MatmulPrecision { kAuto = 0, kExact = 1, kBf16Dot = 2 };
void set_matmul_precision(MatmulPrecision p);  // process-wide; not safe while ops run
MatmulPrecision matmul_precision();

// RAII: a precision for a scope (tests); restores the previous one.
class ScopedPrecision {
 public:
  explicit ScopedPrecision(MatmulPrecision p) : prev_(matmul_precision()) { set_matmul_precision(p); }
  ~ScopedPrecision() { set_matmul_precision(prev_); }
  ScopedPrecision(const ScopedPrecision&) = delete;
  ScopedPrecision& operator=(const ScopedPrecision&) = delete;

 private:
  MatmulPrecision prev_;
};
// Rows at or above which the blocked GEMM (and the bf16 engines) is used.
inline constexpr int64_t kBf16DotMinRows = 16;
// True when the active path can run the vdpbf16ps GEMM (AVX-512 path + AVX512-BF16).
bool has_bf16_dot();
// True when the active path can run the AMX GEMM (AVX-512 path + AMX-BF16 + OS permission).
bool has_amx();
// Allows/disallows AMX (default: allowed unless configure() said no). For tests and benchmarks.
void set_amx_enabled(bool enabled);
// The engine bf16-weight GEMMs with M >= kBf16DotMinRows use now: "amx", "avx512bf16" or "f32".
const char* bf16_gemm_engine();

// Startup settings (the CLI maps env LPX_ISA, LPX_MATMUL and LPX_AMX onto them: apps/env_config.h).
// Without configure() the kernels use the defaults below.
struct KernelOptions {
  std::optional<Isa> isa;                    // unset: the best available path
  std::optional<MatmulPrecision> precision;  // unset: the default described at MatmulPrecision
  bool amx = true;                           // false: never use AMX (set_amx_enabled)
};
// Applies `o` for the whole process; call at startup, before ops run. invalid_argument (and the
// path left as it was) if o.isa is not available here; the other settings are applied anyway.
Status configure(const KernelOptions& o);

// ---------------------------------------------------------------------------------------------
// Matmul.

// y[m, n] = alpha * sum_k x[m, k] * w[n, k]   (+ y[m, n] when accumulate)
struct GemmArgs {
  const float* x = nullptr;  // [M, K] with row stride ldx
  int64_t ldx = 0;           // 0 means K
  WeightMatrix w;            // [N, K]
  float* y = nullptr;        // [M, N] with row stride ldy; must not overlap x
  int64_t ldy = 0;           // 0 means N
  int64_t M = 0;
  bool accumulate = false;
  float alpha = 1.0f;
};
void gemm(const GemmArgs& args, ThreadPool* pool = nullptr);

// The common case: contiguous x [M, K], y [M, N]; y = x W^T (or y += x W^T).
void matmul(const float* x, const WeightMatrix& w, float* y, int64_t M, bool accumulate = false,
            ThreadPool* pool = nullptr);

// ---------------------------------------------------------------------------------------------
// Elementwise / row ops. All pointers f32 unless noted.

// y[m, :] = x[m, :] / sqrt(mean(x[m, :]^2) + eps) * gamma   (x, y: [M, D]; y may equal x)
void rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D,
             ThreadPool* pool = nullptr);

// Rotary embedding in place, HF "rotate_half" convention: for each token m, head h and
// i < head_dim/2 with angle = positions[m] * inv_freq[i] (f32 product, then cos/sin):
//   a = v[i], b = v[i + head_dim/2];  v[i] = a*cos - b*sin;  v[i + head_dim/2] = b*cos + a*sin.
// v: [M, n_heads, head_dim] with token stride token_stride floats (0 means n_heads*head_dim).
// head_dim must be even; inv_freq: [head_dim/2].
void rope(float* v, const int32_t* positions, const float* inv_freq, int64_t M, int n_heads, int head_dim,
          int64_t token_stride = 0, ThreadPool* pool = nullptr);

// out[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up.  out may equal gate or up.
void silu_mul(const float* gate, const float* up, float* out, size_t n, ThreadPool* pool = nullptr);

// In-place softmax over each row of x [M, N] (max subtracted first).
void softmax(float* x, int64_t M, int64_t N, ThreadPool* pool = nullptr);

// out[i] = a[i] + b[i] (residual). out may equal a or b.
void add(const float* a, const float* b, float* out, size_t n, ThreadPool* pool = nullptr);

// y[m, :] += bias for every row of y [M, N] (row stride ldy, 0 means N).
void add_bias(float* y, const WeightVector& bias, int64_t M, int64_t N, int64_t ldy = 0);

// out[m, :] = table[ids[m], :] widened to f32. table: [vocab, D]; out: [M, D].
// Error (invalid_argument) if an id is outside [0, vocab); out is then unspecified.
Status embedding(const WeightMatrix& table, const int32_t* ids, int64_t M, float* out, ThreadPool* pool = nullptr);

// dst[i] = src[i] widened to f32 (n elements of dtype t). Serial.
void to_f32(const void* src, DType t, float* dst, size_t n);

// Serial helpers for attention-like code.
float dot(const float* a, const float* b, size_t n);
// out[i] = exp((x[i] - m) * scale) for n values whose (x - m) * scale is <= 0 (softmax over
// logits: m the max), with the kernels' vector exp (~2e-7 relative error): exactly 1 where
// x == m, 0 below -87 and for NaN (so a -inf logit gets 0). out may be nullptr. Returns the f32
// sum of the results. Serial; the same x gives the same bits whatever n and the position of x.
// Positive arguments give finite values but no accuracy promise.
float exp_shifted(const float* x, size_t n, float m, float scale, float* out);
void axpy(float alpha, const float* x, float* y, size_t n);  // y += alpha * x

// ---------------------------------------------------------------------------------------------
// Attention over a KV cache (one sequence).

// Where keys/values of one sequence live. Position p, kv head h, dim d is at
//   contiguous: k_base + p * token_stride + h * head_stride + d
//   paged:      k_blocks[p / block_size] + (p % block_size) * token_stride + h * head_stride + d
// (same for v). Paged mode is selected by k_blocks != nullptr. Defaults give the [pos][head][dim]
// layout; a head-major block ([head][pos][dim]) is token_stride = head_dim,
// head_stride = block_size * head_dim. f32 only for now.
struct KvView {
  const float* k_base = nullptr;
  const float* v_base = nullptr;
  const float* const* k_blocks = nullptr;  // [n_blocks] block pointers (paged mode)
  const float* const* v_blocks = nullptr;
  int64_t block_size = 0;    // positions per block (paged mode)
  int64_t token_stride = 0;  // floats between consecutive positions; 0 = n_kv_heads*head_dim
  int n_kv_heads = 0;
  int head_dim = 0;
  int64_t head_stride = 0;  // floats between kv heads; 0 = head_dim

  int64_t stride() const { return token_stride > 0 ? token_stride : int64_t{n_kv_heads} * head_dim; }
  int64_t hstride() const { return head_stride > 0 ? head_stride : int64_t{head_dim}; }
  const float* key(int64_t pos, int kv_head) const {
    if (k_blocks == nullptr) return k_base + pos * stride() + kv_head * hstride();
    return k_blocks[pos / block_size] + (pos % block_size) * stride() + kv_head * hstride();
  }
  const float* value(int64_t pos, int kv_head) const {
    if (v_blocks == nullptr) return v_base + pos * stride() + kv_head * hstride();
    return v_blocks[pos / block_size] + (pos % block_size) * stride() + kv_head * hstride();
  }
};

// Causal multi-head attention with GQA for n_q query tokens of one sequence:
//   query token j (absolute position positions[j]) attends to keys 0..positions[j] inclusive;
//   head h uses kv head h / (n_heads / n_kv_heads); scores scaled by `scale` (0 = 1/sqrt(hd));
//   softmax with the row max subtracted (online softmax); out[j, h*hd:(h+1)*hd] = sum_t p_t v_t.
// The caller must already have written keys/values for every position a query sees.
struct AttentionArgs {
  const float* q = nullptr;  // [n_q, n_heads, head_dim], token stride q_stride (0 = n_heads*hd)
  int64_t q_stride = 0;
  const int32_t* positions = nullptr;  // [n_q] absolute positions (>= 0)
  int64_t n_q = 0;
  int n_heads = 0;  // multiple of kv.n_kv_heads
  KvView kv;
  float scale = 0.0f;
  float* out = nullptr;  // [n_q, n_heads * head_dim], token stride out_stride (0 = n_heads*hd)
  int64_t out_stride = 0;
};
void attention(const AttentionArgs& args, ThreadPool* pool = nullptr);

// ---------------------------------------------------------------------------------------------
// LoRA segmented matmuls (Punica SGMV): rows [row_begin, row_end) of a batch use one adapter.
// Rows covered by no segment are left untouched. Segments must not overlap.

struct LoraSegment {
  int64_t row_begin = 0;
  int64_t row_end = 0;
  WeightMatrix a;      // lora_A [r, K]
  WeightMatrix b;      // lora_B [N, r], or B^T [r, N] when b_transposed
  float scale = 1.0f;  // alpha / r (applied in lora_expand)
  // B stored transposed ([r, N], N contiguous): the expand becomes r scaled row additions per token
  // instead of N dot products of length r (the device tier stores B this way).
  bool b_transposed = false;
  int64_t rank() const { return a.rows; }
  int64_t out_dim() const { return b_transposed ? b.cols : b.rows; }
};

// tmp[m, 0:r] = x[m, :] A^T for rows m of each segment (r = a.rows). x: [M, K] stride ldx;
// tmp: [M, >= max r] stride ld_tmp.
void lora_shrink(const float* x, int64_t ldx, const LoraSegment* segs, int n_segs, float* tmp, int64_t ld_tmp,
                 ThreadPool* pool = nullptr);
// y[m, :] += scale * tmp[m, 0:r] B^T for rows m of each segment. y: [M, N] stride ldy.
void lora_expand(const float* tmp, int64_t ld_tmp, const LoraSegment* segs, int n_segs, float* y, int64_t ldy,
                 ThreadPool* pool = nullptr);

// ---------------------------------------------------------------------------------------------
// Scalar references (serial, plain loops; double accumulation in reductions). Same contracts as
// above; used by tests and as the `scalar` path.
namespace ref {
void gemm(const GemmArgs& args);
void rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D);
void rope(float* v, const int32_t* positions, const float* inv_freq, int64_t M, int n_heads, int head_dim,
          int64_t token_stride = 0);
void silu_mul(const float* gate, const float* up, float* out, size_t n);
void softmax(float* x, int64_t M, int64_t N);
void add(const float* a, const float* b, float* out, size_t n);
Status embedding(const WeightMatrix& table, const int32_t* ids, int64_t M, float* out);
float dot(const float* a, const float* b, size_t n);
float exp_shifted(const float* x, size_t n, float m, float scale, float* out);
void axpy(float alpha, const float* x, float* y, size_t n);
void attention(const AttentionArgs& args);
void lora_shrink(const float* x, int64_t ldx, const LoraSegment* segs, int n_segs, float* tmp, int64_t ld_tmp);
void lora_expand(const float* tmp, int64_t ld_tmp, const LoraSegment* segs, int n_segs, float* y, int64_t ldy);
}  // namespace ref

}  // namespace kernels
}  // namespace lpx
