// Sampler::sample() cost per token for a Llama-3 vocab (V = 128256) under common request settings.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/sampling.h"

namespace lpx {
namespace {

constexpr size_t kVocab = 128256;

// LLM-like logits: N(0, sd) bulk plus a few strong candidates; without them (flat) the top-p set
// holds most of the vocab, the worst case for top-p.
std::vector<float> make_logits(float sd, bool flat) {
  std::mt19937_64 g(1);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> l(kVocab);
  for (float& x : l) x = d(g);
  if (!flat) {
    for (int i = 0; i < 8; ++i) l[(static_cast<size_t>(i) * 7919) % kVocab] = 8.0f + static_cast<float>(i);
  }
  return l;
}

enum Mode { kGreedy, kPlain, kTopK50, kTopP09, kTopP09Flat, kTopKTopP, kMinP, kTopK1000, kLogprobs, kPenalties };

void BM_Sample(benchmark::State& state, Mode mode) {
  SamplingParams p;
  p.seed = 7;
  p.temperature = 0.8f;
  float sd = 2.0f;
  bool flat = false;
  std::vector<int32_t> prompt;
  switch (mode) {
    case kGreedy: p.temperature = 0.0f; break;
    case kPlain: break;
    case kTopK50: p.top_k = 50; break;
    case kTopP09: p.top_p = 0.9f; break;
    case kTopP09Flat:
      p.top_p = 0.9f;
      sd = 1.0f;
      flat = true;
      break;
    case kTopKTopP:
      p.top_k = 50;
      p.top_p = 0.95f;
      break;
    case kMinP: p.min_p = 0.05f; break;
    case kTopK1000: p.top_k = 1000; break;
    case kLogprobs:
      p.want_logprobs = true;
      p.logprobs = 5;
      p.top_p = 0.9f;
      break;
    case kPenalties:
      p.repetition_penalty = 1.1f;
      p.frequency_penalty = 0.5f;
      p.top_p = 0.9f;
      for (int i = 0; i < 2000; ++i) prompt.push_back((i * 31) % 30000);
      break;
  }
  const std::vector<float> logits = make_logits(sd, flat);
  Sampler s(p, prompt);
  for (int i = 0; i < 200; ++i) s.accept(i * 13);
  for (auto _ : state) benchmark::DoNotOptimize(s.sample(logits).token);
}
BENCHMARK_CAPTURE(BM_Sample, greedy, kGreedy)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, temperature_only, kPlain)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_k_50, kTopK50)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_p_0_9, kTopP09)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_p_0_9_flat, kTopP09Flat)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_k_50_top_p_0_95, kTopKTopP)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, min_p_0_05, kMinP)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_k_1000, kTopK1000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_p_logprobs_5, kLogprobs)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sample, top_p_penalties, kPenalties)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace lpx
