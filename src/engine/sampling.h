// Token sampling for one sequence: request sampling parameters, penalties, greedy/top-k/top-p/min-p draws.
//
// Pipeline of Sampler::sample() (vLLM-like order):
//   1. penalties on the raw logits: repetition (prompt + generated tokens, HF/vLLM formula), then
//      frequency and presence (generated tokens only, OpenAI formula);
//   2. temperature < 1e-5 or top_k == 1 -> greedy argmax over the penalised logits (ties -> lowest id);
//   3. otherwise: temperature scaling, top-k, top-p (nucleus), min-p, renormalise, one draw from the
//      sequence's own RNG.
//      top-p keeps the smallest head of the tokens (sorted by logit, ties: lower id first) whose
//      probability mass reaches top_p (vLLM's rule; at least one token); min-p then drops tokens with
//      p < min_p * p_max. Each is computed on the distribution left by the previous step.
// Reproducibility: a non-greedy sample() consumes exactly one 64-bit value of the std::mt19937_64
// seeded with params.seed, greedy consumes none; so the same seed, logits and accept() calls give the
// same tokens (with the same build: the float rounding of the probabilities depends on the compiler
// flags, e.g. FMA contraction under -march=native).
// Reported logprobs are those of the RAW model output (log_softmax of the logits passed in, before
// penalties and temperature), like vLLM's default; they are only computed when want_logprobs is set.
//
// Cost: every path is O(V) (O(V log k) for a small top_k) with no sort of the vocab; for V = 128256
// 40 us (greedy) to ~0.45 ms (top-p + logprobs) per call, measured numbers in sampling.cpp.
//
// Thread-safety: SamplingParams is a plain value. A Sampler is NOT thread-safe (one per sequence, used
// by one thread at a time); different Samplers may be used concurrently (scratch buffers are
// thread_local).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace lpx {

// Per-request sampling parameters (OpenAI / vLLM names and defaults).
struct SamplingParams {
  float temperature = 1.0f;             // [0, 2]; 0 = greedy
  float top_p = 1.0f;                   // (0, 1]; 1 = off
  int top_k = 0;                        // >= -1; 0 or -1 = off
  float min_p = 0.0f;                   // [0, 1]; 0 = off
  std::optional<uint64_t> seed;         // none = seeded from std::random_device
  float repetition_penalty = 1.0f;      // > 0; 1 = off
  float presence_penalty = 0.0f;        // [-2, 2]
  float frequency_penalty = 0.0f;       // [-2, 2]
  int max_tokens = 16;                  // >= 1
  std::vector<std::string> stop;        // stop strings (non-empty), excluded from the output
  std::vector<int32_t> stop_token_ids;  // extra stop tokens (>= 0)
  bool ignore_eos = false;              // keep generating past the model's eos token(s)
  int logprobs = 0;                     // [0, 20]: number of top alternatives to report
  bool want_logprobs = false;           // report the chosen token's logprob (+ `logprobs` alternatives)

  // Checks every range; the error (kInvalidArgument) names the parameter and the value, e.g.
  // "top_p must be in (0, 1], got 1.5". NaN values are rejected.
  Status validate() const;
  // True when sampling is a deterministic argmax (temperature ~ 0 or top_k == 1).
  bool is_greedy() const;
};

struct SampleResult {
  int32_t token = 0;
  // log p(token) under the raw model distribution; 0 unless params.want_logprobs.
  float logprob = 0.0f;
  // The params.logprobs most likely tokens of the raw distribution with their logprobs, sorted by
  // logprob descending (ties: lower id first); empty unless want_logprobs and logprobs > 0.
  std::vector<std::pair<int32_t, float>> top_logprobs;
};

// Samples the tokens of one sequence. Holds the RNG and the token counts used by the penalties.
// Movable, not copyable. Not thread-safe (see the file comment).
class Sampler {
 public:
  // `params` must satisfy params.validate() (checked with LPX_CHECK: the API layer validates requests).
  // `prompt_tokens` count for repetition_penalty only.
  explicit Sampler(const SamplingParams& params, std::span<const int32_t> prompt_tokens = {});
  Sampler(Sampler&&) = default;
  Sampler& operator=(Sampler&&) = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Picks the next token from `logits` (shape [V], V >= 1, one row of the LM head output). Does not
  // record the token: call accept() with the token actually appended to the sequence.
  // Tokens with -inf (or NaN) logits are never drawn; a row that is all -inf/NaN gives token 0, a row
  // with a +inf logit gives the first +inf token.
  SampleResult sample(std::span<const float> logits);

  // Records a generated token (for the repetition/presence/frequency penalties).
  void accept(int32_t token);

  // Applies the penalties for the tokens recorded so far to `logits` (shape [V]) in place, exactly as
  // sample() does. Token ids >= V are ignored. Exposed for tests and for callers that need the
  // processed logits.
  void apply_penalties(std::span<float> logits) const;

  // The token ids sample() could return for `logits` now (after penalties, top-k, top-p, min-p),
  // sorted ascending; {argmax} when greedy. For tests and debugging (allocates, O(V log V)).
  std::vector<int32_t> support(std::span<const float> logits);

  const SamplingParams& params() const { return params_; }
  // The seed actually used (params.seed, or the one drawn from std::random_device).
  uint64_t seed() const { return seed_; }
  int num_generated() const { return num_generated_; }

 private:
  struct TokenCounts {
    int32_t prompt = 0;
    int32_t generated = 0;
  };
  bool penalties_active() const;
  // Penalised logits: `logits` itself, or a per-thread copy with the penalties applied.
  std::span<const float> penalised(std::span<const float> logits) const;
  // The tokens that survive top-k/top-p/min-p (non-greedy path; m = max(x), finite): every token
  // whose entry in the per-thread probability buffer is >= thr (full-vocab path; thr = +inf: none),
  // plus the first n_cands entries of the per-thread candidate list.
  struct Kept {
    float thr = std::numeric_limits<float>::infinity();
    double thr_mass = 0;  // unnormalised mass of the tokens >= thr
    size_t n_cands = 0;
  };
  Kept filter(std::span<const float> x, float m);
  int32_t draw(std::span<const float> x);  // temperature, top-k, top-p, min-p, one RNG draw
  double uniform01() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }  // [0, 1)

  SamplingParams params_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, TokenCounts> counts_;
  bool any_generated_ = false;
  int num_generated_ = 0;
};

}  // namespace lpx
