// Token sampling: SamplingParams validation, penalties, greedy / top-k / top-p / min-p draws, logprobs.
//
// Measured cost of one sample() for V = 128256 (bench/sampling_bench.cpp; g++ 12 -O3, SSE2 only, CPU
// time on one core of a shared, loaded 2-core Xeon VM, so a dedicated core is faster):
//   greedy 40 us | temperature only 170 us | top_k 50: 58 us | top_p 0.9: 225 us (peaked logits),
//   345 us (flat logits: histogram path) | top_k 50 + top_p 0.95: 56 us | min_p 0.05: 190 us |
//   top_k 1000: 330 us | top_p 0.9 + 5 logprobs: 425 us | top_p 0.9 + penalties: 245 us.
// The exp pass over the whole vocab (~125 us) dominates; nothing sorts the vocab.
#include "engine/sampling.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>

#include "core/check.h"
#include "kernels/ops.h"

namespace lpx {
namespace {

// Below this temperature sampling is greedy (as vLLM's _SAMPLING_EPS).
constexpr float kGreedyTemperature = 1e-5f;
// top_k at or below this uses a bounded heap (O(V log k)); above it a radix select (O(V)).
constexpr int kHeapTopK = 256;
constexpr int kTopKRadixBits = 12;  // buckets of the radix select for large top_k
// Top-p on the whole vocab: mass histogram over the float bits of p in (0, 1]
// (8 exponent + 6 mantissa bits: buckets ~1.6% wide); bits(1.0f) >> 17 == 8128.
constexpr int kProbShift = 17;
constexpr size_t kProbBuckets = 8192;
// Top-p on the whole vocab lists candidates explicitly up to this many, else uses the histogram.
constexpr size_t kMaxListed = 4096;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Shortest round-trip text of a float ("1.5", "0.1", "nan").
std::string fmt(float v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

// Explicit 4-lane SIMD (GCC/Clang vector extensions) for the max / argmax scans: the compiler will
// not vectorise them by itself under the default -ftrapping-math.
using V4f = float __attribute__((vector_size(16)));
using V4i = int32_t __attribute__((vector_size(16)));

inline V4f splat(float v) { return V4f{v, v, v, v}; }
inline V4f load4(const float* p) {
  V4f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// max over x (NaN ignored); -inf when x is empty or all -inf/NaN.
float max_of(std::span<const float> x) {
  const size_t n = x.size();
  const size_t n4 = n & ~size_t{3};
  V4f m4 = splat(kNegInf);
  for (size_t i = 0; i < n4; i += 4) {
    const V4f v = load4(&x[i]);
    m4 = v > m4 ? v : m4;
  }
  float m = kNegInf;
  for (int j = 0; j < 4; ++j) m = m4[j] > m ? m4[j] : m;
  for (size_t i = n4; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// First index of the maximum (ties -> lowest id, NaN ignored); 0 when all are -inf/NaN.
// Vector max, then a vector search for its first occurrence (cheaper than tracking indices).
int32_t argmax_of(std::span<const float> x) {
  const float m = max_of(x);
  if (!(m > kNegInf)) return 0;
  const V4f mv = splat(m);
  size_t i = 0;
  for (; i + 8 <= x.size(); i += 8) {
    const V4i hit = (load4(&x[i]) == mv) | (load4(&x[i + 4]) == mv);
    if ((hit[0] | hit[1] | hit[2] | hit[3]) != 0) break;
  }
  for (; i < x.size(); ++i) {
    if (x[i] == m) return static_cast<int32_t>(i);
  }
  return 0;
}

// out[i] = exp((x[i] - m) * scale) (out may be null); returns the sum Z. m must be finite.
// The kernels' f32 sums are flushed into a double every 512 elements so that Z stays accurate to
// ~1e-7 relative on a 128k vocab (top-p near 1 cuts in the far tail, where this matters).
double exp_shifted(std::span<const float> x, float m, float scale, float* out) {
  constexpr size_t kBlock = 512;
  double z = 0;
  for (size_t b = 0; b < x.size(); b += kBlock) {
    const size_t len = std::min(kBlock, x.size() - b);
    z += kernels::exp_shifted(x.data() + b, len, m, scale, out != nullptr ? out + b : nullptr);
  }
  return z;
}

// A surviving token: logit (penalised, before temperature), unnormalised probability, id.
struct Cand {
  float logit;
  float p;
  int32_t id;
};

// Canonical token order: higher logit first, ties -> lower id first.
inline bool ranks_before(float la, int32_t ia, float lb, int32_t ib) { return la > lb || (la == lb && ia < ib); }
inline bool ranks_before(const Cand& a, const Cand& b) { return ranks_before(a.logit, a.id, b.logit, b.id); }

inline float sanitize(float v) { return v != v ? kNegInf : v; }  // NaN -> -inf

// Unsigned key with the same order as the float (no NaN): flip negatives, set the sign bit of positives.
inline uint32_t order_key(float v) {
  const uint32_t u = std::bit_cast<uint32_t>(v);
  const uint32_t neg = static_cast<uint32_t>(static_cast<int32_t>(u) >> 31);  // all ones if negative
  return u ^ (neg | 0x80000000u);
}

// The k best (logit, id) of x in canonical order, NaN treated as -inf. 1 <= k <= x.size().
// Unsorted output in `out` (logit, p = 0, id).
void top_k_of(std::span<const float> x, size_t k, std::vector<Cand>& out) {
  out.clear();
  const size_t n = x.size();
  if (k <= static_cast<size_t>(kHeapTopK)) {
    // Min-heap on canonical order: out.front() is the worst kept token.
    auto worse_on_top = [](const Cand& a, const Cand& b) { return ranks_before(a, b); };
    out.reserve(k);
    for (size_t i = 0; i < k; ++i) out.push_back({sanitize(x[i]), 0.0f, static_cast<int32_t>(i)});
    std::make_heap(out.begin(), out.end(), worse_on_top);
    float worst = out.front().logit;
    auto offer = [&](size_t i) {
      const float v = x[i];
      if (!(v > worst)) return;  // ties with the worst lose (higher id); NaN skipped
      std::pop_heap(out.begin(), out.end(), worse_on_top);
      out.back() = {v, 0.0f, static_cast<int32_t>(i)};
      std::push_heap(out.begin(), out.end(), worse_on_top);
      worst = out.front().logit;
    };
    size_t i = k;
    for (; i + 8 <= n; i += 8) {  // skip blocks of 8 that cannot enter the heap with one vector compare
      const V4f w = splat(worst);
      const V4i hit = (load4(&x[i]) > w) | (load4(&x[i + 4]) > w);
      if ((hit[0] | hit[1] | hit[2] | hit[3]) == 0) continue;
      for (size_t j = i; j < i + 8; ++j) offer(j);
    }
    for (; i < n; ++i) offer(i);
    return;
  }
  // Large k: radix select on the order-preserving bits of the logits (two passes, O(V)).
  static thread_local std::vector<uint32_t> hist;
  static thread_local std::vector<Cand> tied;  // the bucket holding the k-th best
  hist.assign(size_t{1} << kTopKRadixBits, 0);
  constexpr int kShift = 32 - kTopKRadixBits;
  for (size_t i = 0; i < n; ++i) hist[order_key(sanitize(x[i])) >> kShift]++;
  size_t above = 0;
  uint32_t b = (uint32_t{1} << kTopKRadixBits) - 1;
  while (above + hist[b] < k) above += hist[b--];  // terminates: the counts sum to n >= k
  out.reserve(k);
  tied.clear();
  for (size_t i = 0; i < n; ++i) {
    const float v = sanitize(x[i]);
    const uint32_t kb = order_key(v) >> kShift;
    if (kb > b) {
      out.push_back({v, 0.0f, static_cast<int32_t>(i)});
    } else if (kb == b) {
      tied.push_back({v, 0.0f, static_cast<int32_t>(i)});
    }
  }
  const size_t need = k - out.size();
  std::nth_element(tied.begin(), tied.begin() + static_cast<std::ptrdiff_t>(need - 1), tied.end(),
                   [](const Cand& p, const Cand& q) { return ranks_before(p, q); });
  out.insert(out.end(), tied.begin(), tied.begin() + static_cast<std::ptrdiff_t>(need));
}

// Top-p cut on a[0, n) (any order). Reorders a so that the kept tokens are a[0, cut) and returns cut.
// A token is kept iff the mass of the tokens ranked strictly before it (canonical order) is < target:
// the smallest head whose mass reaches target (the same set as vLLM's sorted-cumsum rule).
// Expected O(n) (quickselect on mass), deterministic.
size_t top_p_cut(Cand* a, size_t n, double target) {
  size_t lo = 0, hi = n;
  double acc = 0;  // mass of a[0, lo), all kept; invariant acc < target
  uint32_t lcg = 0x9E3779B9u;
  while (hi - lo > 24) {
    lcg = lcg * 1664525u + 1013904223u;
    const size_t pi = lo + static_cast<size_t>((static_cast<uint64_t>(lcg) * (hi - lo)) >> 32);
    std::swap(a[pi], a[hi - 1]);
    const Cand piv = a[hi - 1];
    // Branch-free Lomuto partition: tokens ranked before the pivot go to [lo, mid).
    size_t mid = lo;
    double s = 0;
    for (size_t i = lo; i + 1 < hi; ++i) {
      const Cand c = a[i];
      const bool b = ranks_before(c, piv);
      a[i] = a[mid];
      a[mid] = c;
      mid += b;
      s += b ? c.p : 0.0f;
    }
    if (acc + s >= target) {
      hi = mid;  // the pivot and everything after it are dropped
    } else {
      std::swap(a[mid], a[hi - 1]);  // pivot kept right after the better ones
      acc += s + piv.p;
      lo = mid + 1;
      if (acc >= target) return lo;
    }
  }
  std::sort(a + lo, a + hi, [](const Cand& x, const Cand& y) { return ranks_before(x, y); });
  for (size_t i = lo; i < hi; ++i) {
    if (acc >= target) return i;
    acc += a[i].p;
  }
  return hi;
}

// Sum of p[i] over p[i] >= thr, for i in [begin, end).
double masked_sum(const float* p, size_t begin, size_t end, float thr) {
  V4f acc = splat(0.0f);
  const V4f t = splat(thr);
  const V4f zero = splat(0.0f);
  size_t i = begin;
  for (; i + 4 <= end; i += 4) {
    const V4f v = load4(p + i);
    acc += v >= t ? v : zero;
  }
  double s = (static_cast<double>(acc[0]) + acc[1]) + (static_cast<double>(acc[2]) + acc[3]);
  for (; i < end; ++i) s += p[i] >= thr ? p[i] : 0.0f;
  return s;
}

// Mass and number of the tokens with p[i] >= thr.
std::pair<double, size_t> mass_count_above(const float* p, size_t n, float thr) {
  V4f acc = splat(0.0f);
  V4i cnt = V4i{0, 0, 0, 0};
  const V4f t = splat(thr);
  const V4f zero = splat(0.0f);
  double mass = 0;
  size_t count = 0;
  size_t i = 0;
  for (size_t block = 0; block + 4 <= n; block += 512) {  // flush the float lanes every 512
    const size_t end = std::min(n & ~size_t{3}, block + 512);
    for (i = block; i < end; i += 4) {
      const V4f v = load4(p + i);
      const V4i hit = v >= t;
      acc += hit ? v : zero;
      cnt -= hit;  // hit lanes are -1
    }
    mass += (static_cast<double>(acc[0]) + acc[1]) + (static_cast<double>(acc[2]) + acc[3]);
    acc = zero;
  }
  count = static_cast<size_t>(cnt[0]) + static_cast<size_t>(cnt[1]) + static_cast<size_t>(cnt[2]) +
          static_cast<size_t>(cnt[3]);
  for (i = n & ~size_t{3}; i < n; ++i) {
    if (p[i] >= thr) {
      mass += p[i];
      ++count;
    }
  }
  return {mass, count};
}

// Inverse-CDF draw over the tokens with p[i] >= thr: the first i where their running sum exceeds u.
// Whole blocks are skipped with vector sums. Returns the last such token if rounding leaves u
// unreached, -1 if there is none.
int32_t draw_masked(const float* p, size_t n, float thr, double u) {
  constexpr size_t kBlock = 256;
  double acc = 0;
  size_t last_block = n;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t end = std::min(n, b + kBlock);
    const double bs = masked_sum(p, b, end, thr);
    if (bs > 0) last_block = b;
    if (acc + bs <= u) {
      acc += bs;
      continue;
    }
    for (size_t i = b; i < end; ++i) {
      if (p[i] < thr) continue;
      acc += p[i];
      if (acc > u) return static_cast<int32_t>(i);
    }
  }
  if (last_block == n) return -1;
  for (size_t i = std::min(n, last_block + kBlock); i-- > last_block;) {
    if (p[i] >= thr) return static_cast<int32_t>(i);
  }
  return -1;
}

// Appends {x[i], p[i], i} for every i with lo <= p[i] < hi to `out`. Gives up (returns false, `out`
// incomplete) once `out` holds more than `limit` entries. Blocks without a hit are skipped with
// vector compares, so a selective range costs about one read of p.
bool gather_range(const float* p, const float* x, size_t n, float lo, float hi, size_t limit, std::vector<Cand>& out) {
  const V4f vlo = splat(lo);
  const V4f vhi = splat(hi);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const V4f a = load4(p + i);
    const V4f b = load4(p + i + 4);
    const V4i hit = ((a >= vlo) & (a < vhi)) | ((b >= vlo) & (b < vhi));
    if ((hit[0] | hit[1] | hit[2] | hit[3]) == 0) continue;
    for (size_t j = i; j < i + 8; ++j) {
      if (p[j] >= lo && p[j] < hi) out.push_back({x[j], p[j], static_cast<int32_t>(j)});
    }
    if (out.size() > limit) return false;
  }
  for (; i < n; ++i) {
    if (p[i] >= lo && p[i] < hi) out.push_back({x[i], p[i], static_cast<int32_t>(i)});
  }
  return out.size() <= limit;
}

// Per-thread scratch buffers (the vocab is large; keeping them per Sampler would cost MBs per sequence).
struct Scratch {
  std::vector<float> work;   // [V] penalised logits
  std::vector<float> probs;  // [V] unnormalised probabilities
  std::vector<Cand> cands;   // survivors of the filters that are listed explicitly
  std::vector<double> hist;  // [kProbBuckets] probability mass per bucket (top-p)
};
Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

}  // namespace

Status SamplingParams::validate() const {
  auto in = [](float v, float lo, float hi) { return v >= lo && v <= hi; };  // false for NaN
  if (!in(temperature, 0.0f, 2.0f)) {
    return invalid_field("temperature", "temperature must be in [0, 2], got " + fmt(temperature));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return invalid_field("top_p", "top_p must be in (0, 1], got " + fmt(top_p));
  }
  if (top_k < -1) {
    return invalid_field("top_k", "top_k must be -1, 0 (disabled) or >= 1, got " + std::to_string(top_k));
  }
  if (!in(min_p, 0.0f, 1.0f)) {
    return invalid_field("min_p", "min_p must be in [0, 1], got " + fmt(min_p));
  }
  if (!(repetition_penalty > 0.0f && std::isfinite(repetition_penalty))) {
    return invalid_field("repetition_penalty", "repetition_penalty must be > 0, got " + fmt(repetition_penalty));
  }
  if (!in(presence_penalty, -2.0f, 2.0f)) {
    return invalid_field("presence_penalty", "presence_penalty must be in [-2, 2], got " + fmt(presence_penalty));
  }
  if (!in(frequency_penalty, -2.0f, 2.0f)) {
    return invalid_field("frequency_penalty", "frequency_penalty must be in [-2, 2], got " + fmt(frequency_penalty));
  }
  if (max_tokens < 1) {
    return invalid_field("max_tokens", "max_tokens must be >= 1, got " + std::to_string(max_tokens));
  }
  if (logprobs < 0 || logprobs > 20) {
    return invalid_field("logprobs", "logprobs must be in [0, 20], got " + std::to_string(logprobs));
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) {
      return invalid_field("stop", "stop[" + std::to_string(i) + "] must not be empty");
    }
  }
  for (size_t i = 0; i < stop_token_ids.size(); ++i) {
    if (stop_token_ids[i] < 0) {
      return invalid_field("stop_token_ids", "stop_token_ids[" + std::to_string(i) + "] must be >= 0, got " +
                                                 std::to_string(stop_token_ids[i]));
    }
  }
  return Status::ok();
}

bool SamplingParams::is_greedy() const { return temperature < kGreedyTemperature || top_k == 1; }

Sampler::Sampler(const SamplingParams& params, std::span<const int32_t> prompt_tokens) : params_(params) {
  LPX_CHECK(params_.validate().is_ok());
  if (params_.seed) {
    seed_ = *params_.seed;
  } else {
    try {
      std::random_device rd;
      seed_ = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
    } catch (const std::exception&) {  // no entropy source: fall back to the clock and the address
      seed_ = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              reinterpret_cast<uintptr_t>(this);
    }
  }
  rng_.seed(seed_);
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t t : prompt_tokens) {
      if (t >= 0) counts_[t].prompt++;
    }
  }
}

void Sampler::accept(int32_t token) {
  ++num_generated_;
  const bool counted =
      params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f;
  if (token < 0 || !counted) return;
  counts_[token].generated++;
  any_generated_ = true;
}

bool Sampler::penalties_active() const {
  if (params_.repetition_penalty != 1.0f && !counts_.empty()) return true;
  return any_generated_ && (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f);
}

void Sampler::apply_penalties(std::span<float> logits) const {
  const float rep = params_.repetition_penalty;
  const float pres = params_.presence_penalty;
  const float freq = params_.frequency_penalty;
  const size_t v = logits.size();
  for (const auto& [token, c] : counts_) {
    if (static_cast<size_t>(token) >= v) continue;
    float& l = logits[static_cast<size_t>(token)];
    if (rep != 1.0f && (c.prompt > 0 || c.generated > 0)) l = l > 0.0f ? l / rep : l * rep;
    if (c.generated > 0) {
      l -= freq * static_cast<float>(c.generated);
      l -= pres;
    }
  }
}

std::span<const float> Sampler::penalised(std::span<const float> logits) const {
  if (!penalties_active()) return logits;
  std::vector<float>& work = scratch().work;
  work.assign(logits.begin(), logits.end());
  apply_penalties(work);
  return work;
}

SampleResult Sampler::sample(std::span<const float> logits) {
  LPX_CHECK(!logits.empty());
  const std::span<const float> x = penalised(logits);
  SampleResult r;
  r.token = params_.is_greedy() ? argmax_of(x) : draw(x);

  if (params_.want_logprobs) {
    // Raw model distribution: log_softmax(logits), before penalties and temperature.
    const float m = max_of(logits);
    const size_t v = logits.size();
    if (!(m > kNegInf) || m == std::numeric_limits<float>::infinity()) {
      // Degenerate row (all -inf/NaN, or +inf): report a uniform distribution.
      const float u = -std::log(static_cast<float>(v));
      r.logprob = u;
      for (int i = 0; i < params_.logprobs && static_cast<size_t>(i) < v; ++i) r.top_logprobs.emplace_back(i, u);
    } else {
      const float lse = m + static_cast<float>(std::log(exp_shifted(logits, m, 1.0f, nullptr)));
      r.logprob = sanitize(logits[static_cast<size_t>(r.token)]) - lse;
      if (params_.logprobs > 0) {
        std::vector<Cand> top;
        top_k_of(logits, std::min(static_cast<size_t>(params_.logprobs), v), top);
        std::sort(top.begin(), top.end(), [](const Cand& a, const Cand& b) { return ranks_before(a, b); });
        r.top_logprobs.reserve(top.size());
        for (const Cand& c : top) r.top_logprobs.emplace_back(c.id, c.logit - lse);
      }
    }
  }
  return r;
}

std::vector<int32_t> Sampler::support(std::span<const float> logits) {
  LPX_CHECK(!logits.empty());
  const std::span<const float> x = penalised(logits);
  const float m = max_of(x);
  if (params_.is_greedy() || !(m > kNegInf) || m == std::numeric_limits<float>::infinity()) {
    return {argmax_of(x)};
  }
  const Kept kept = filter(x, m);
  const Scratch& s = scratch();
  std::vector<int32_t> ids;
  for (size_t i = 0; i < kept.n_cands; ++i) ids.push_back(s.cands[i].id);
  if (kept.thr < std::numeric_limits<float>::infinity()) {
    for (size_t i = 0; i < x.size(); ++i) {
      if (s.probs[i] >= kept.thr) ids.push_back(static_cast<int32_t>(i));
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Sampler::Kept Sampler::filter(std::span<const float> x, float m) {
  const size_t v = x.size();
  const float inv_t = 1.0f / params_.temperature;
  const bool use_top_k = params_.top_k > 1 && static_cast<size_t>(params_.top_k) < v;
  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;
  Scratch& s = scratch();
  std::vector<Cand>& c = s.cands;
  // Unnormalised probabilities p = exp((logit - max) / T): the max token has p == 1 exactly, so
  // min-p keeps p >= min_p. p == 0 (underflow, -inf, NaN) is never kept.
  const float min_kept = std::numeric_limits<float>::denorm_min();
  const float floor = use_min_p ? std::max(params_.min_p, min_kept) : min_kept;
  Kept kept;

  if (use_top_k) {
    // Small candidate list: top-k, then top-p (quickselect on mass) and min-p on it.
    top_k_of(x, static_cast<size_t>(params_.top_k), c);
    // p = exp((logit - m) / T) through the kernels' exp, in chunks (the same bits as the whole-vocab
    // pass gives each value).
    double z = 0;
    constexpr size_t kChunk = 64;
    float logit[kChunk], prob[kChunk];
    for (size_t b = 0; b < c.size(); b += kChunk) {
      const size_t len = std::min(kChunk, c.size() - b);
      for (size_t i = 0; i < len; ++i) logit[i] = c[b + i].logit;
      kernels::exp_shifted(logit, len, m, inv_t, prob);
      for (size_t i = 0; i < len; ++i) {
        c[b + i].p = prob[i];
        z += prob[i];
      }
    }
    size_t w = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i].p >= floor) c[w++] = c[i];
    }
    c.resize(w);
    LPX_CHECK(!c.empty());  // the max token has p == 1 >= floor
    // min-p removed a tail of the canonical order and top-p keeps a head of it: the head computed
    // on the remaining candidates with the full top-k mass z is their intersection.
    kept.n_cands = use_top_p ? top_p_cut(c.data(), c.size(), static_cast<double>(params_.top_p) * z) : c.size();
    return kept;
  }

  // Whole vocab: the kept set is {p >= thr} plus, for top-p, an explicit head of one histogram bucket.
  s.probs.resize(v);
  const float* p = s.probs.data();
  const double z = exp_shifted(x, m, inv_t, s.probs.data());
  c.clear();
  kept.thr = floor;
  if (!use_top_p) {
    kept.thr_mass = use_min_p ? masked_sum(p, 0, v, floor) : z;
    return kept;
  }
  const double target = static_cast<double>(params_.top_p) * z;
  // Top-p, peaked distributions (the usual case): list the tokens above a threshold `t` that is
  // known to be at or below the cut token's p, i.e. mass(p >= t) >= target, and cut exactly among
  // them. Start with `pre`: the tokens below it hold less than half of the (1 - top_p) tail. Then
  // raise t by bisection (in log space, one vector pass per probe) while the list is too long.
  // Tokens below min-p are left out as well: as for top-k above, the head found with the full mass
  // z is the intersection of top-p and min-p.
  float t = std::max(floor, static_cast<float>(0.5 * (1.0 - params_.top_p) * z / static_cast<double>(v)));
  size_t count = mass_count_above(p, v, t).second;
  if (count > kMaxListed && count <= v / 8) {
    float hi = 1.0f;  // p == 1 is the max: its mass may be below target
    for (int probe = 0; probe < 8 && count > kMaxListed; ++probe) {
      const float mid = std::sqrt(t) * std::sqrt(hi);
      if (!(mid > t && mid < hi)) break;
      const auto [mass, n] = mass_count_above(p, v, mid);
      if (mass >= target) {
        t = mid;
        count = n;
      } else {
        hi = mid;
      }
    }
  }
  if (count <= kMaxListed) {
    gather_range(p, x.data(), v, t, std::numeric_limits<float>::infinity(), kMaxListed, c);
    kept.thr = std::numeric_limits<float>::infinity();
    kept.n_cands = top_p_cut(c.data(), c.size(), target);
    return kept;
  }
  // Flat distributions: mass per bucket of p's float bits (same order as p, hence as the logits),
  // walk the buckets from the top until the target is reached; tokens above the crossing bucket are
  // kept wholesale, the crossing bucket's tokens go through the exact cut.
  s.hist.assign(kProbBuckets, 0.0);
  double* hist = s.hist.data();
  for (size_t i = 0; i < v; ++i) hist[std::bit_cast<uint32_t>(p[i]) >> kProbShift] += p[i] >= floor ? p[i] : 0.0f;
  double acc = 0;
  size_t b = kProbBuckets;
  while (b > 0 && acc + hist[b - 1] < target) acc += hist[--b];
  if (b == 0) {  // min-p left less than the target mass: everything that survived min-p is kept
    kept.thr_mass = acc;
    return kept;
  }
  const uint32_t bucket = static_cast<uint32_t>(b - 1);
  const float lo = std::max(floor, std::bit_cast<float>(bucket << kProbShift));
  const float hi = std::bit_cast<float>((bucket + 1) << kProbShift);
  c.clear();
  gather_range(p, x.data(), v, lo, hi, std::numeric_limits<size_t>::max(), c);
  kept.thr = hi;
  kept.thr_mass = acc;
  kept.n_cands = top_p_cut(c.data(), c.size(), target - acc);
  LPX_CHECK(kept.n_cands >= 1);
  return kept;
}

int32_t Sampler::draw(std::span<const float> x) {
  const float m = max_of(x);
  if (!(m > kNegInf) || m == std::numeric_limits<float>::infinity()) return argmax_of(x);
  const Kept kept = filter(x, m);
  const Scratch& s = scratch();
  double listed = 0;
  for (size_t i = 0; i < kept.n_cands; ++i) listed += s.cands[i].p;
  double u = uniform01() * (listed + kept.thr_mass);
  if (u < listed) {
    double acc = 0;
    for (size_t i = 0; i < kept.n_cands; ++i) {
      acc += s.cands[i].p;
      if (acc > u) return s.cands[i].id;
    }
    return s.cands[kept.n_cands - 1].id;
  }
  if (kept.thr < std::numeric_limits<float>::infinity()) {
    u -= listed;
    const int32_t t = draw_masked(s.probs.data(), x.size(), kept.thr, u);
    if (t >= 0) return t;
  }
  return kept.n_cands > 0 ? s.cands[kept.n_cands - 1].id : argmax_of(x);
}

}  // namespace lpx
