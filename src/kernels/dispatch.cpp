// Runtime ISA selection (CPU detection, LPX_ISA override) and the threaded public kernel API that
// splits work across a ThreadPool and calls the active path's serial kernels.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/check.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "core/dtype.h"
#include "kernels/ops.h"
#include "kernels/ops_internal.h"

namespace lpx {

void pack_bf16_i16(const uint16_t* src, int64_t N, int64_t K, int64_t src_stride, void* dst) {
  LPX_CHECK(N % 16 == 0);
  const int64_t kpairs = (K + 1) / 2;
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t g = 0; g < N / 16; ++g) {
    uint16_t* gd = d + g * kpairs * 32;
    for (int64_t p = 0; p < kpairs; ++p) {
      for (int64_t i = 0; i < 16; ++i) {
        const uint16_t* row = src + (g * 16 + i) * src_stride;
        gd[p * 32 + i * 2] = row[2 * p];
        gd[p * 32 + i * 2 + 1] = 2 * p + 1 < K ? row[2 * p + 1] : uint16_t{0};
      }
    }
  }
}

void unpack_bf16_i16(const void* src, int64_t N, int64_t K, uint16_t* dst) {
  LPX_CHECK(N % 16 == 0);
  const int64_t kpairs = (K + 1) / 2;
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t n = 0; n < N; ++n) {
    const uint16_t* gs = s + (n / 16) * kpairs * 32 + (n % 16) * 2;
    for (int64_t k = 0; k < K; ++k) dst[n * K + k] = gs[(k / 2) * 32 + (k % 2)];
  }
}

void quantize_row_q8(const float* x, int64_t n, void* out) {
  LPX_CHECK(n % kQ8Group == 0);
  auto* dst = static_cast<uint8_t*>(out);
  for (int64_t g = 0; g < n; g += kQ8Group, dst += kQ8BlockBytes) {
    float amax = 0.0f;
    for (int64_t i = 0; i < kQ8Group; ++i) amax = std::max(amax, std::fabs(x[g + i]));
    uint16_t h = f32_to_f16(amax / 127.0f);
    if (std::isinf(f16_to_f32(h))) h = 0x7bff;  // beyond f16: saturate at the largest scale
    const float scale = f16_to_f32(h);
    if (!(scale > 0.0f)) h = 0;  // all zero or below f16's range: a zero group
    std::memcpy(dst, &h, 2);
    auto* q = reinterpret_cast<int8_t*>(dst + 2);
    const float inv = h == 0 ? 0.0f : 1.0f / scale;
    for (int64_t i = 0; i < kQ8Group; ++i) {
      // Clamp, then round to nearest with ties to even by the 1.5 * 2^23 trick (exact for
      // |v| < 2^22 in the default rounding mode; no libm call, so the loop vectorizes).
      const float v = std::clamp(x[g + i] * inv, -127.0f, 127.0f);
      q[i] = static_cast<int8_t>((v + 12582912.0f) - 12582912.0f);
    }
  }
}

namespace kernels {
namespace {

// CPU features from cpuid/xgetbv directly (__builtin_cpu_supports knows different feature names
// in GCC and Clang, and Clang 14 lacks f16c and the AMX ones).
struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, bmi = false, bmi2 = false;
  bool avx512 = false;  // F + BW + VL + DQ, with the OS saving the zmm/opmask state
  bool avx512_bf16 = false;
  bool amx_bf16 = false;  // AMX-TILE + AMX-BF16 (the OS permission is asked for separately)
  bool amd = false;
};

CpuFeatures detect_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0) return f;
  const unsigned max_leaf = a;
  f.amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "AuthenticAMD"
  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = (c >> 27) & 1u, avx = (c >> 28) & 1u;
  f.fma = (c >> 12) & 1u;
  f.f16c = (c >> 29) & 1u;
  if (!osxsave || !avx || max_leaf < 7) return f;
  uint32_t xlo = 0, xhi = 0;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool os_ymm = (xlo & 0x6u) == 0x6u;              // SSE + AVX state
  const bool os_zmm = os_ymm && (xlo & 0xe0u) == 0xe0u;  // opmask + ZMM_Hi256 + Hi16_ZMM
  const bool os_tile = (xlo & 0x60000u) == 0x60000u;     // XTILECFG + XTILEDATA
  if (!os_ymm) {
    f.fma = f.f16c = false;
    return f;
  }
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  const unsigned leaf7_max_sub = a;
  f.avx2 = (b >> 5) & 1u;
  f.bmi = (b >> 3) & 1u;
  f.bmi2 = (b >> 8) & 1u;
  f.avx512 = os_zmm && ((b >> 16) & 1u) && ((b >> 17) & 1u) &&  // F, DQ
             ((b >> 30) & 1u) && ((b >> 31) & 1u);              // BW, VL
  const bool amx_tile = (d >> 24) & 1u, amx_bf16 = (d >> 22) & 1u;
  f.amx_bf16 = os_tile && amx_tile && amx_bf16;
  if (leaf7_max_sub >= 1) {
    __get_cpuid_count(7, 1, &a, &b, &c, &d);
    f.avx512_bf16 = f.avx512 && ((a >> 5) & 1u);
  }
#endif
  return f;
}

const CpuFeatures& cpu() {
  static const CpuFeatures f = detect_cpu();
  return f;
}

bool cpu_supports(Isa isa) {
  const CpuFeatures& f = cpu();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2 && f.fma && f.f16c && f.bmi && f.bmi2;
    case Isa::kAvx512: return f.avx512 && f.avx2 && f.fma && f.f16c && f.bmi && f.bmi2;
  }
  return false;
}

// vdpbf16ps is only worth it where it runs at (at least) twice the f32 FMA rate: AMD Zen 4/5.
// On Intel Xeons (Cooper Lake .. Granite Rapids) it runs at or below the f32 FMA rate, so the
// exact path is both faster and more accurate there.
bool cpu_bf16_dot_is_fast() { return cpu().amd; }

bool cpu_has_avx512_bf16() { return cpu().avx512_bf16; }

const detail::OpsTable* table_for(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return &detail::ref_table();
    case Isa::kAvx2: return detail::avx2_table();
    case Isa::kAvx512: return detail::avx512_table();
  }
  return nullptr;
}

// The CPU check comes first: the tables are only touched on CPUs that can run their path.
bool isa_available(Isa isa) { return cpu_supports(isa) && table_for(isa) != nullptr; }

Isa best_isa() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2}) {
    if (isa_available(isa)) return isa;
  }
  return Isa::kScalar;
}

// Default (none given): bf16 activations with vdpbf16ps where the CPU runs it faster than f32
// FMAs and has no AMX (AMD Zen 4/5): the small-M GEMV and the blocked GEMM then do the same
// arithmetic per row, so a request's output still does not depend on its batch. Elsewhere exact
// f32 products (AMX would round differently from the vdpbf16ps GEMV, breaking that invariant).
MatmulPrecision default_precision(bool bf16_fast, bool amx_ok) {
  return bf16_fast && !amx_ok ? MatmulPrecision::kBf16Dot : MatmulPrecision::kExact;
}

bool cpu_has_amx_bf16() { return cpu().amx_bf16 && cpu_supports(Isa::kAvx512) && cpu_has_avx512_bf16(); }

struct State {
  std::atomic<const detail::OpsTable*> table;
  std::atomic<int> precision;
  std::atomic<bool> amx_enabled;
  bool bf16_cpu;
  bool bf16_fast;
  bool amx_ok;
  // The defaults; kernels::configure overrides them at startup.
  State()
      : table(table_for(best_isa())),
        precision(static_cast<int>(MatmulPrecision::kExact)),
        amx_enabled(true),
        bf16_cpu(cpu_has_avx512_bf16()),
        bf16_fast(cpu_bf16_dot_is_fast()),
        amx_ok(detail::request_amx()) {
    precision.store(static_cast<int>(default_precision(bf16_cpu && bf16_fast, amx_ok)));
  }
};

State& state() {
  static State s;
  return s;
}

inline const detail::OpsTable& active() { return *state().table.load(std::memory_order_relaxed); }
// The blocked-GEMM mode for bf16 weights under the current settings (see MatmulPrecision).
detail::GemmMode bf16_gemm_mode() {
  State& st = state();
  if (!st.bf16_cpu || st.table.load(std::memory_order_relaxed)->isa != Isa::kAvx512) {
    return detail::GemmMode::kF32;
  }
  const bool amx = st.amx_ok && st.amx_enabled.load(std::memory_order_relaxed);
  switch (static_cast<MatmulPrecision>(st.precision.load(std::memory_order_relaxed))) {
    case MatmulPrecision::kExact: return detail::GemmMode::kF32;
    case MatmulPrecision::kBf16Dot: return amx ? detail::GemmMode::kAmx : detail::GemmMode::kBf16Dot;
    case MatmulPrecision::kAuto:
      if (amx) return detail::GemmMode::kAmx;
      return st.bf16_fast ? detail::GemmMode::kBf16Dot : detail::GemmMode::kF32;
  }
  return detail::GemmMode::kF32;
}

inline ThreadPool& pool_or_global(ThreadPool* p) { return p != nullptr ? *p : ThreadPool::global(); }

// Minimum elements per chunk for cheap elementwise ops (below this, threading costs more).
constexpr int64_t kElemGrain = 16384;

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_available(isa)) out.push_back(isa);
  }
  return out;
}

Isa active_isa() { return active().isa; }

Status set_isa(Isa isa) {
  if (!isa_available(isa)) {
    return invalid_argument(std::string("kernels: ISA path '") + isa_name(isa) +
                            "' is not available on this CPU/build");
  }
  state().table.store(table_for(isa));
  return Status::ok();
}

bool has_bf16_dot() { return active().isa == Isa::kAvx512 && state().bf16_cpu; }
bool has_amx() { return active().isa == Isa::kAvx512 && state().amx_ok; }
void set_amx_enabled(bool enabled) { state().amx_enabled.store(enabled); }
const char* bf16_gemm_engine() {
  switch (bf16_gemm_mode()) {
    case detail::GemmMode::kAmx: return "amx";
    case detail::GemmMode::kBf16Dot: return "avx512bf16";
    case detail::GemmMode::kF32: break;
  }
  return "f32";
}

ScopedIsa::ScopedIsa(Isa isa) : prev_(active_isa()), ok_(set_isa(isa).is_ok()) {}
ScopedIsa::~ScopedIsa() { (void)set_isa(prev_); }

void set_matmul_precision(MatmulPrecision p) { state().precision.store(static_cast<int>(p)); }
MatmulPrecision matmul_precision() { return static_cast<MatmulPrecision>(state().precision.load()); }

Status configure(const KernelOptions& o) {
  State& st = state();
  st.amx_enabled.store(o.amx);
  const MatmulPrecision p = o.precision ? *o.precision : default_precision(st.bf16_cpu && st.bf16_fast, st.amx_ok);
  st.precision.store(static_cast<int>(p));
  return o.isa ? set_isa(*o.isa) : set_isa(best_isa());
}

// ---------------------------------------------------------------------------------------------
// Matmul.

void gemm(const GemmArgs& in, ThreadPool* pool) {
  GemmArgs a = in;
  const int64_t N = a.w.rows, K = a.w.cols;
  if (a.ldx <= 0) a.ldx = K;
  if (a.ldy <= 0) a.ldy = N;
  if (a.M <= 0 || N <= 0) return;
  LPX_CHECK(a.x != nullptr && a.y != nullptr && a.w.data != nullptr);
  LPX_CHECK(a.ldx >= K && a.ldy >= N && a.w.stride() >= K);
  LPX_CHECK(a.w.dtype != DType::kQ8 || (K % kQ8Group == 0 && a.w.stride() % kQ8Group == 0));
  if (K == 0) {
    if (!a.accumulate) {
      for (int64_t m = 0; m < a.M; ++m) std::fill(a.y + m * a.ldy, a.y + m * a.ldy + N, 0.0f);
    }
    return;
  }
  const detail::OpsTable& t = active();
  ThreadPool& tp = pool_or_global(pool);
  // Prepacked bf16 goes straight to the vdpbf16ps kernels; any other path (exact precision, another
  // ISA, alpha != 1) gets a row-major copy first (slow: only tests and run-time switches do this).
  if (a.w.dtype == DType::kBF16I16) {
    LPX_CHECK(N % 16 == 0);
    const bool direct = a.alpha == 1.0f && t.gemv_bf16dot != nullptr && bf16_gemm_mode() == detail::GemmMode::kBf16Dot;
    if (!direct) {
      auto* rm = static_cast<uint16_t*>(detail::thread_scratch(5, sizeof(uint16_t) * static_cast<size_t>(N * K)));
      unpack_bf16_i16(a.w.data, N, K, rm);
      a.w = WeightMatrix{rm, DType::kBF16, N, K, 0};
    }
  }
  // Split N into units of 32 rows (one packed panel), keeping >= ~64K multiply-adds per chunk.
  constexpr int64_t kUnit = 32;
  const int64_t n_units = (N + kUnit - 1) / kUnit;
  const int64_t work_per_unit = kUnit * K * std::max<int64_t>(a.M, 4);
  const int64_t min_units = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, work_per_unit));
  // Runs kernel(sub) on each thread's share of the units: the rows [n0, n1) of W and columns of y.
  auto over_units = [&](auto&& kernel) {
    tp.parallel_for(
        n_units,
        [&](int64_t u0, int64_t u1) {
          const int64_t n0 = u0 * kUnit, n1 = std::min(N, u1 * kUnit);
          GemmArgs sub = a;
          sub.w = a.w.slice_rows(n0, n1);
          sub.y = a.y + n0;
          kernel(sub);
        },
        min_units);
  };
  // bf16 activations for a small M: the GEMV with the blocked kernel's per-row arithmetic, so a
  // row gets the same result whether its step has 1 row or 500 (batched == solo holds here too).
  const bool bf16_w = a.w.dtype == DType::kBF16 || a.w.dtype == DType::kBF16I16;
  if (bf16_w && a.alpha == 1.0f && a.M < kBf16DotMinRows && t.gemv_bf16dot != nullptr &&
      bf16_gemm_mode() == detail::GemmMode::kBf16Dot) {
    auto* xp = static_cast<uint32_t*>(detail::thread_scratch(1, sizeof(uint32_t) * a.M * ((K + 1) / 2)));
    t.pack_x_pairs(a.x, a.ldx, a.M, K, xp);
    over_units([&](const GemmArgs& sub) { t.gemv_bf16dot(xp, sub); });
    return;
  }
  const bool blocked = t.gemm_blocked != nullptr && a.alpha == 1.0f && a.M >= kBf16DotMinRows;
  if (blocked) {
    detail::GemmMode mode = bf16_w ? bf16_gemm_mode() : detail::GemmMode::kF32;
    if (!t.supports_mode(mode)) mode = detail::GemmMode::kF32;
    void* ap = detail::thread_scratch(1, t.packed_a_bytes(a.M, K, mode));
    const int64_t units = t.pack_a_units(a.M, mode);
    const int64_t rows_per_unit = (a.M + units - 1) / units;
    tp.parallel_for(
        units, [&](int64_t u0, int64_t u1) { t.pack_a(a.x, a.ldx, a.M, K, mode, u0, u1, ap); },
        std::max<int64_t>(1, kElemGrain / (K * rows_per_unit)));
    over_units([&](const GemmArgs& sub) { t.gemm_blocked(ap, mode, sub); });
    return;
  }
  over_units([&](const GemmArgs& sub) { t.gemm(sub); });
}

void matmul(const float* x, const WeightMatrix& w, float* y, int64_t M, bool accumulate, ThreadPool* pool) {
  GemmArgs a;
  a.x = x;
  a.w = w;
  a.y = y;
  a.M = M;
  a.accumulate = accumulate;
  gemm(a, pool);
}

// ---------------------------------------------------------------------------------------------
// Elementwise / row ops.

void rmsnorm(const float* x, const WeightVector& gamma, float eps, float* y, int64_t M, int64_t D, ThreadPool* pool) {
  LPX_CHECK(gamma.size == D && gamma.data != nullptr && gamma.dtype != DType::kQ8);
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(
      M, [&](int64_t m0, int64_t m1) { t.rmsnorm(x + m0 * D, gamma, eps, y + m0 * D, m1 - m0, D); },
      std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, D)));
}

void rope(float* v, const int32_t* positions, const float* inv_freq, int64_t M, int n_heads, int head_dim,
          int64_t token_stride, ThreadPool* pool) {
  LPX_CHECK(head_dim % 2 == 0 && head_dim > 0 && n_heads > 0);
  if (token_stride == 0) token_stride = int64_t{n_heads} * head_dim;
  const detail::OpsTable& t = active();
  const int64_t per_token = int64_t{n_heads} * head_dim;
  pool_or_global(pool).parallel_for(
      M,
      [&](int64_t m0, int64_t m1) {
        float* cs =
            static_cast<float*>(detail::thread_scratch(2, sizeof(float) * static_cast<size_t>((m1 - m0) * head_dim)));
        detail::rope_tables(positions + m0, inv_freq, m1 - m0, head_dim, cs);
        t.rope_apply(v + m0 * token_stride, cs, m1 - m0, n_heads, head_dim, token_stride);
      },
      std::max<int64_t>(1, kElemGrain / per_token));
}

void silu_mul(const float* gate, const float* up, float* out, size_t n, ThreadPool* pool) {
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(
      static_cast<int64_t>(n),
      [&](int64_t b, int64_t e) { t.silu_mul(gate + b, up + b, out + b, static_cast<size_t>(e - b)); }, kElemGrain);
}

void softmax(float* x, int64_t M, int64_t N, ThreadPool* pool) {
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(
      M, [&](int64_t m0, int64_t m1) { t.softmax(x + m0 * N, m1 - m0, N); },
      std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, N)));
}

void add(const float* a, const float* b, float* out, size_t n, ThreadPool* pool) {
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(
      static_cast<int64_t>(n), [&](int64_t s, int64_t e) { t.add(a + s, b + s, out + s, static_cast<size_t>(e - s)); },
      4 * kElemGrain);
}

void add_bias(float* y, const WeightVector& bias, int64_t M, int64_t N, int64_t ldy) {
  LPX_CHECK(bias.size == N);
  if (ldy <= 0) ldy = N;
  float* row = static_cast<float*>(detail::thread_scratch(3, sizeof(float) * static_cast<size_t>(N)));
  active().to_f32(bias.data, bias.dtype, row, static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) active().add(y + m * ldy, row, y + m * ldy, static_cast<size_t>(N));
}

Status embedding(const WeightMatrix& table, const int32_t* ids, int64_t M, float* out, ThreadPool* pool) {
  for (int64_t m = 0; m < M; ++m) {
    if (ids[m] < 0 || ids[m] >= table.rows) {
      return invalid_argument("embedding: token id " + std::to_string(ids[m]) + " at row " + std::to_string(m) +
                              " is outside the vocabulary [0, " + std::to_string(table.rows) + ")");
    }
  }
  const detail::OpsTable& t = active();
  const int64_t D = table.cols;
  pool_or_global(pool).parallel_for(
      M,
      [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
          t.to_f32(table.row_ptr(ids[m]), table.dtype, out + m * D, static_cast<size_t>(D));
        }
      },
      std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, D)));
  return Status::ok();
}

void to_f32(const void* src, DType t, float* dst, size_t n) { active().to_f32(src, t, dst, n); }
float dot(const float* a, const float* b, size_t n) { return active().dot(a, b, n); }
float exp_shifted(const float* x, size_t n, float m, float scale, float* out) {
  return active().exp_shifted(x, n, m, scale, out);
}
void axpy(float alpha, const float* x, float* y, size_t n) { active().axpy(alpha, x, y, n); }

// ---------------------------------------------------------------------------------------------
// Attention.

void attention(const AttentionArgs& a, ThreadPool* pool) {
  LPX_CHECK(a.kv.n_kv_heads > 0 && a.n_heads > 0 && a.n_heads % a.kv.n_kv_heads == 0);
  LPX_CHECK(a.kv.head_dim > 0 && a.q != nullptr && a.out != nullptr && a.positions != nullptr);
  LPX_CHECK(a.kv.k_blocks != nullptr ? (a.kv.v_blocks != nullptr && a.kv.block_size > 0)
                                     : (a.kv.k_base != nullptr && a.kv.v_base != nullptr));
  for (int64_t j = 0; j < a.n_q; ++j) LPX_CHECK(a.positions[j] >= 0);
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(a.n_q * a.kv.n_kv_heads, [&](int64_t b, int64_t e) { t.attention_items(a, b, e); });
}

// ---------------------------------------------------------------------------------------------
// LoRA: one parallel region over (segment, row chunk, column chunk) items, each a serial gemm.

namespace {

struct LoraItem {
  int seg;
  int64_t m0, m1, n0, n1;
};

// Splits every segment into row chunks of kRows and column chunks of n_chunk (n = output columns).
template <typename NCols>
LoraItem* make_items(const LoraSegment* segs, int n_segs, int64_t n_chunk, NCols ncols, int64_t* count) {
  constexpr int64_t kRows = 32;
  int64_t total = 0;
  for (int s = 0; s < n_segs; ++s) {
    const int64_t rows = segs[s].row_end - segs[s].row_begin;
    if (rows <= 0) continue;
    total += ((rows + kRows - 1) / kRows) * ((ncols(segs[s]) + n_chunk - 1) / n_chunk);
  }
  LoraItem* items = static_cast<LoraItem*>(
      detail::thread_scratch(3, sizeof(LoraItem) * static_cast<size_t>(std::max<int64_t>(1, total))));
  int64_t i = 0;
  for (int s = 0; s < n_segs; ++s) {
    const LoraSegment& sg = segs[s];
    for (int64_t m0 = sg.row_begin; m0 < sg.row_end; m0 += kRows) {
      for (int64_t n0 = 0; n0 < ncols(sg); n0 += n_chunk) {
        items[i++] = LoraItem{s, m0, std::min(sg.row_end, m0 + kRows), n0, std::min(ncols(sg), n0 + n_chunk)};
      }
    }
  }
  *count = i;
  return items;
}

}  // namespace

void lora_shrink(const float* x, int64_t ldx, const LoraSegment* segs, int n_segs, float* tmp, int64_t ld_tmp,
                 ThreadPool* pool) {
  for (int s = 0; s < n_segs; ++s) LPX_CHECK(segs[s].a.rows <= ld_tmp);
  int64_t count = 0;
  LoraItem* items = make_items(
      segs, n_segs, 16, [](const LoraSegment& sg) { return sg.a.rows; }, &count);
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(count, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const LoraItem& it = items[i];
      const LoraSegment& sg = segs[it.seg];
      GemmArgs g;
      g.x = x + it.m0 * ldx;
      g.ldx = ldx;
      g.w = sg.a.slice_rows(it.n0, it.n1);
      g.y = tmp + it.m0 * ld_tmp + it.n0;
      g.ldy = ld_tmp;
      g.M = it.m1 - it.m0;
      t.gemm(g);
    }
  });
}

void lora_expand(const float* tmp, int64_t ld_tmp, const LoraSegment* segs, int n_segs, float* y, int64_t ldy,
                 ThreadPool* pool) {
  for (int s = 0; s < n_segs; ++s) LPX_CHECK(segs[s].rank() <= ld_tmp);
  int64_t count = 0;
  LoraItem* items = make_items(
      segs, n_segs, 256, [](const LoraSegment& sg) { return sg.out_dim(); }, &count);
  const detail::OpsTable& t = active();
  pool_or_global(pool).parallel_for(count, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const LoraItem& it = items[i];
      const LoraSegment& sg = segs[it.seg];
      if (sg.b_transposed) {
        // acc[n0:n1] = sum_r tmp[m, r] * B^T[r, n0:n1] (r in order), then y += scale * acc.
        const int64_t r = sg.rank(), len = it.n1 - it.n0;
        float* bt = static_cast<float*>(detail::thread_scratch(4, sizeof(float) * static_cast<size_t>((r + 1) * len)));
        float* acc = bt + r * len;
        for (int64_t k = 0; k < r; ++k) {
          const char* row = static_cast<const char*>(sg.b.row_ptr(k)) + dtype_row_bytes(sg.b.dtype, it.n0);
          t.to_f32(row, sg.b.dtype, bt + k * len, static_cast<size_t>(len));
        }
        for (int64_t m = it.m0; m < it.m1; ++m) {
          std::fill(acc, acc + len, 0.0f);
          for (int64_t k = 0; k < r; ++k) t.axpy(tmp[m * ld_tmp + k], bt + k * len, acc, static_cast<size_t>(len));
          t.axpy(sg.scale, acc, y + m * ldy + it.n0, static_cast<size_t>(len));
        }
        continue;
      }
      GemmArgs g;
      g.x = tmp + it.m0 * ld_tmp;
      g.ldx = ld_tmp;
      g.w = sg.b.slice_rows(it.n0, it.n1);
      g.y = y + it.m0 * ldy + it.n0;
      g.ldy = ldy;
      g.M = it.m1 - it.m0;
      g.accumulate = true;
      g.alpha = sg.scale;
      t.gemm(g);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Shared internals.

namespace detail {

void* thread_scratch(int slot, size_t bytes) {
  struct Buf {
    void* p = nullptr;
    size_t size = 0;
    ~Buf() { ::operator delete (p, std::align_val_t{64}); }
  };
  thread_local Buf bufs[kScratchSlots];
  LPX_CHECK(slot >= 0 && slot < kScratchSlots);
  Buf& b = bufs[slot];
  if (b.size < bytes) {
    ::operator delete (b.p, std::align_val_t{64});
    size_t grow = std::max(bytes, b.size + b.size / 2);
    grow = (grow + 4095) & ~size_t{4095};
    b.p = ::operator new (grow, std::align_val_t{64});
    b.size = grow;
  }
  return b.p;
}

bool request_amx() {
#if defined(__linux__) && defined(__x86_64__) && defined(SYS_arch_prctl)
  static const bool ok = [] {
    if (!cpu_has_amx_bf16()) return false;
    constexpr int kArchReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM
    constexpr int kXfeatureXtiledata = 18;     // XFEATURE_XTILEDATA
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

void rope_tables(const int32_t* positions, const float* inv_freq, int64_t M, int head_dim, float* cs) {
  const int half = head_dim / 2;
  for (int64_t m = 0; m < M; ++m) {
    float* c = cs + m * head_dim;
    for (int i = 0; i < half; ++i) {
      const float angle = static_cast<float>(positions[m]) * inv_freq[i];
      c[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      c[half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

}  // namespace detail
}  // namespace kernels
}  // namespace lpx
