// Tests for SamplingParams validation and Sampler (greedy, temperature, top-k/p, min-p, penalties, logprobs).
#include "engine/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace lpx {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams seeded(uint64_t seed = 1234) {
  SamplingParams p;
  p.seed = seed;
  return p;
}

// softmax(logits / t) in double.
std::vector<double> softmax(const std::vector<float>& logits, double t = 1.0) {
  double m = -1e300;
  for (float l : logits) m = std::max(m, static_cast<double>(l));
  std::vector<double> p(logits.size());
  double z = 0;
  for (size_t i = 0; i < logits.size(); ++i) z += p[i] = std::exp((logits[i] - m) / t);
  for (double& v : p) v /= z;
  return p;
}

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::vector<float> random_logits(size_t v, uint64_t seed, float stddev = 2.0f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> l(v);
  for (float& x : l) x = d(g);
  return l;
}

// Empirical frequencies of `draws` samples.
std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) f[static_cast<size_t>(s.sample(logits).token)] += 1.0;
  for (double& x : f) x /= draws;
  return f;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
}

// Reference top-p set: canonical order (logit desc, id asc), keep while mass before < top_p.
std::vector<int32_t> ref_top_p(const std::vector<float>& logits, double top_p, double t = 1.0) {
  const std::vector<double> p = softmax(logits, t);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<int32_t> keep;
  double acc = 0;
  for (int32_t id : order) {
    if (acc >= top_p) break;
    keep.push_back(id);
    acc += p[static_cast<size_t>(id)];
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

// ---------------------------------------------------------------- validate

TEST(SamplingParams, DefaultsAreValid) {
  EXPECT_TRUE(SamplingParams().validate().is_ok());
  SamplingParams p;
  p.temperature = 2.0f;
  p.top_p = 1.0f;
  p.top_k = -1;
  p.min_p = 1.0f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.repetition_penalty = 1.5f;
  p.logprobs = 20;
  p.max_tokens = 1;
  p.stop = {"\n"};
  p.stop_token_ids = {0, 2};
  EXPECT_TRUE(p.validate().is_ok()) << p.validate().to_string();
  p.temperature = 0.0f;
  EXPECT_TRUE(p.validate().is_ok());
}

TEST(SamplingParams, ValidateNamesTheParameter) {
  auto err = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    Status s = p.validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    return s.message();
  };
  EXPECT_EQ(err([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p must be in (0, 1], got 1.5");
  EXPECT_EQ(err([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p must be in (0, 1], got 0");
  EXPECT_EQ(err([](SamplingParams& p) { p.temperature = 2.5f; }), "temperature must be in [0, 2], got 2.5");
  EXPECT_EQ(err([](SamplingParams& p) { p.temperature = -0.1f; }), "temperature must be in [0, 2], got -0.1");
  EXPECT_EQ(err([](SamplingParams& p) { p.temperature = std::nanf(""); }).rfind("temperature must be", 0), 0u);
  EXPECT_EQ(err([](SamplingParams& p) { p.top_k = -2; }), "top_k must be -1, 0 (disabled) or >= 1, got -2");
  EXPECT_EQ(err([](SamplingParams& p) { p.min_p = 1.25f; }), "min_p must be in [0, 1], got 1.25");
  EXPECT_EQ(err([](SamplingParams& p) { p.repetition_penalty = 0.0f; }), "repetition_penalty must be > 0, got 0");
  EXPECT_EQ(err([](SamplingParams& p) { p.presence_penalty = 2.5f; }), "presence_penalty must be in [-2, 2], got 2.5");
  EXPECT_EQ(err([](SamplingParams& p) { p.frequency_penalty = -3.0f; }),
            "frequency_penalty must be in [-2, 2], got -3");
  EXPECT_EQ(err([](SamplingParams& p) { p.max_tokens = 0; }), "max_tokens must be >= 1, got 0");
  EXPECT_EQ(err([](SamplingParams& p) { p.logprobs = 21; }), "logprobs must be in [0, 20], got 21");
  EXPECT_EQ(err([](SamplingParams& p) { p.logprobs = -1; }), "logprobs must be in [0, 20], got -1");
  EXPECT_EQ(err([](SamplingParams& p) { p.stop = {"a", ""}; }), "stop[1] must not be empty");
  EXPECT_EQ(err([](SamplingParams& p) { p.stop_token_ids = {-5}; }), "stop_token_ids[0] must be >= 0, got -5");
}

TEST(SamplingParams, IsGreedy) {
  SamplingParams p;
  EXPECT_FALSE(p.is_greedy());
  p.temperature = 0.0f;
  EXPECT_TRUE(p.is_greedy());
  p.temperature = 0.7f;
  p.top_k = 1;
  EXPECT_TRUE(p.is_greedy());
}

// ---------------------------------------------------------------- greedy

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplingParams p = seeded();
  p.temperature = 0.0f;
  Sampler s(p);
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 2.9f}).token, 1);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f, 5.0f}).token, 1);
  EXPECT_EQ(s.sample(std::vector<float>{-kInf, -kInf, -3.0f}).token, 2);
  EXPECT_EQ(s.sample(std::vector<float>{std::nanf(""), 1.0f, 0.5f}).token, 1);
  EXPECT_EQ(s.sample(std::vector<float>{-kInf, -kInf}).token, 0);  // degenerate row
  // Ties in different SIMD lanes and in the scalar tail.
  EXPECT_EQ(s.sample(std::vector<float>{0, 0, 7, 0, 0, 7, 0, 0}).token, 2);
  EXPECT_EQ(s.sample(std::vector<float>{0, 0, 0, 7, 0, 0, 7, 0, 7}).token, 3);
  EXPECT_EQ(s.sample(std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, 7}).token, 8);
  const std::vector<float> big = random_logits(128256, 7);
  const auto it = std::max_element(big.begin(), big.end());
  EXPECT_EQ(s.sample(big).token, it - big.begin());
  EXPECT_EQ(s.support(big), std::vector<int32_t>{static_cast<int32_t>(it - big.begin())});
}

TEST(Sampler, TinyTemperatureAndTopK1EqualGreedy) {
  SamplingParams g = seeded();
  g.temperature = 0.0f;
  SamplingParams cold = seeded(5);
  cold.temperature = 1e-3f;  // above the greedy cut-off: goes through the sampling path
  SamplingParams k1 = seeded(6);
  k1.top_k = 1;
  Sampler sg(g), sc(cold), sk(k1);
  for (uint64_t i = 0; i < 50; ++i) {
    const std::vector<float> l = random_logits(1000 + i, 100 + i);
    const int32_t want = sg.sample(l).token;
    EXPECT_EQ(sc.sample(l).token, want);
    EXPECT_EQ(sk.sample(l).token, want);
  }
}

// ---------------------------------------------------------------- distributions

TEST(Sampler, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.5f};
  Sampler s(seeded(42));
  expect_close(frequencies(s, logits, 20000), softmax(logits), 0.02);
}

TEST(Sampler, TemperatureScalesTheDistribution) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.5f};
  for (float t : {0.5f, 1.7f}) {
    SamplingParams p = seeded(43);
    p.temperature = t;
    Sampler s(p);
    expect_close(frequencies(s, logits, 20000), softmax(logits, t), 0.02);
  }
}

TEST(Sampler, TopPKeepsTheSmallestHeadReachingP) {
  const std::vector<float> logits = log_of({0.5, 0.25, 0.15, 0.1});
  {
    SamplingParams p = seeded(1);
    p.top_p = 0.7f;  // 0.5 < 0.7 <= 0.75
    Sampler s(p);
    EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0, 1}));
    expect_close(frequencies(s, logits, 20000), {2.0 / 3, 1.0 / 3, 0, 0}, 0.02);
  }
  {
    SamplingParams p = seeded(2);
    p.top_p = 0.8f;
    Sampler s(p);
    EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0, 1, 2}));
    expect_close(frequencies(s, logits, 20000), {0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0}, 0.02);
  }
  {
    SamplingParams p = seeded(3);
    p.top_p = 0.3f;  // the top token alone
    Sampler s(p);
    EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0}));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(logits).token, 0);
  }
}

TEST(Sampler, TopPOnLargeVocabMatchesSortedReference) {
  const size_t v = 128256;
  for (float top_p : {0.05f, 0.5f, 0.9f, 0.99f}) {
    for (float stddev : {0.5f, 3.0f}) {
      const std::vector<float> logits = random_logits(v, 11, stddev);
      SamplingParams p = seeded(4);
      p.top_p = top_p;
      Sampler s(p);
      const std::vector<int32_t> got = s.support(logits);
      const std::vector<int32_t> want = ref_top_p(logits, top_p);
      // The fast exp (~2e-7 relative) and the summation order may move the boundary by a few tail
      // tokens (measured: at most 2 over sd 0.5..6, top_p 0.05..0.999).
      EXPECT_LE(std::abs(static_cast<long>(got.size()) - static_cast<long>(want.size())), 3)
          << "top_p " << top_p << " stddev " << stddev;
      std::vector<int32_t> common;
      std::set_intersection(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(common));
      EXPECT_GE(common.size() + 3, std::max(got.size(), want.size()));
      const std::set<int32_t> allowed(got.begin(), got.end());
      for (int i = 0; i < 200; ++i) EXPECT_TRUE(allowed.count(s.sample(logits).token));
    }
  }
}

// got/want may differ by a few boundary tokens: the sampler computes p in float with a fast exp
// (~2e-7 relative), the reference in double; a cut deep in the tail (top_p 0.999 keeping 20k tokens
// of p ~ 1e-8) moves by a few tokens. Everything else must agree.
void expect_same_set(const std::vector<int32_t>& got, const std::vector<int32_t>& want, const std::string& what) {
  std::vector<int32_t> common;
  std::set_intersection(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(common));
  const size_t slack = 3 + want.size() / 2000;
  EXPECT_GE(common.size() + slack, std::max(got.size(), want.size()))
      << what << ": got " << got.size() << " want " << want.size() << " common " << common.size();
}

// Reference top-p then min-p (p >= min_p * max_p), at temperature t.
std::vector<int32_t> ref_top_p_min_p(const std::vector<float>& logits, double top_p, double min_p, double t) {
  const std::vector<int32_t> head = ref_top_p(logits, top_p, t);
  const std::vector<double> p = softmax(logits, t);
  const double pmax = *std::max_element(p.begin(), p.end());
  std::vector<int32_t> keep;
  for (int32_t id : head) {
    if (p[static_cast<size_t>(id)] >= min_p * pmax) keep.push_back(id);
  }
  return keep;
}

TEST(Sampler, TopPAndMinPOnLargeVocabAllPaths) {
  const size_t v = 128256;
  struct Case {
    float sd;
    int spikes;  // a few strong candidates over the bulk (peaked distribution)
    float spike_logit, temperature, top_p, min_p;
  };
  const Case cases[] = {
      {2.0f, 3, 13.0f, 0.8f, 0.9f, 0.0f},    // many tokens above the first bound: bisection probes
      {2.0f, 3, 13.0f, 0.8f, 0.999f, 0.0f},  // cut deeper in the tail
      {2.0f, 3, 10.0f, 0.8f, 0.9f, 0.0f},    // too many for probes: histogram
      {2.0f, 3, 20.0f, 0.8f, 0.9f, 0.0f},    // short list at once
      {1.0f, 0, 0.0f, 1.0f, 0.9f, 0.0f},     // flat: histogram path
      {1.0f, 0, 0.0f, 1.0f, 0.9f, 0.02f},    // flat + min-p cutting inside the top-p head
      {1.0f, 0, 0.0f, 1.0f, 0.99f, 0.5f},    // min-p leaves less than top_p of the mass: min-p set
      {0.3f, 0, 0.0f, 1.5f, 0.5f, 0.0f},     // very flat
      {4.0f, 20, 10.0f, 1.0f, 0.95f, 0.001f},
  };
  for (const Case& k : cases) {
    std::vector<float> logits = random_logits(v, 21, k.sd);
    for (int i = 0; i < k.spikes; ++i)
      logits[static_cast<size_t>(i) * 40009 % v] = k.spike_logit + static_cast<float>(i);
    SamplingParams p = seeded(22);
    p.temperature = k.temperature;
    p.top_p = k.top_p;
    p.min_p = k.min_p;
    Sampler s(p);
    const std::vector<int32_t> got = s.support(logits);
    const std::vector<int32_t> want = ref_top_p_min_p(logits, k.top_p, k.min_p, k.temperature);
    const std::string what =
        "sd " + std::to_string(k.sd) + " top_p " + std::to_string(k.top_p) + " min_p " + std::to_string(k.min_p);
    expect_same_set(got, want, what);
    const std::set<int32_t> allowed(got.begin(), got.end());
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(allowed.count(s.sample(logits).token)) << what;
  }
}

TEST(Sampler, TopPWithTemperature) {
  const std::vector<float> logits = random_logits(5000, 12, 1.0f);
  SamplingParams p = seeded(5);
  p.top_p = 0.6f;
  p.temperature = 0.5f;
  Sampler s(p);
  const std::vector<int32_t> got = s.support(logits);
  const std::vector<int32_t> want = ref_top_p(logits, 0.6, 0.5);
  EXPECT_LE(std::abs(static_cast<long>(got.size()) - static_cast<long>(want.size())), 3);
}

TEST(Sampler, TopKKeepsKBestWithTiesByLowerId) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, 2.0f, -1.0f};
  SamplingParams p = seeded(6);
  p.top_k = 3;
  Sampler s(p);
  EXPECT_EQ(s.support(logits), (std::vector<int32_t>{1, 2, 3}));
  const std::vector<double> sm = softmax({3.0f, 2.0f, 3.0f});
  expect_close(frequencies(s, logits, 20000), {0, sm[0], sm[1], sm[2], 0, 0}, 0.02);

  // Large k (threshold path) on a large vocab with many ties.
  std::vector<float> big(50000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>((i * 7919) % 1000) / 100.0f;
  for (int k : {2, 40, 256, 257, 1000, 4999}) {
    SamplingParams pk = seeded(7);
    pk.top_k = k;
    Sampler sk(pk);
    std::vector<int32_t> order(big.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return big[a] > big[b]; });
    std::vector<int32_t> want(order.begin(), order.begin() + k);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(sk.support(big), want) << "k=" << k;
  }
  // top_k >= V is off.
  SamplingParams all = seeded(8);
  all.top_k = 100;
  Sampler sa(all);
  EXPECT_EQ(sa.support(logits).size(), logits.size());
}

TEST(Sampler, MinPDropsTokensBelowFractionOfMax) {
  const std::vector<float> logits = log_of({0.5, 0.25, 0.15, 0.1});
  {
    SamplingParams p = seeded(9);
    p.min_p = 0.25f;  // threshold 0.125
    Sampler s(p);
    EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0, 1, 2}));
    expect_close(frequencies(s, logits, 20000), {0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0}, 0.02);
  }
  {
    SamplingParams p = seeded(10);
    p.min_p = 0.4f;  // threshold 0.2
    Sampler s(p);
    EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0, 1}));
  }
  {
    // top-p first (keeps 0,1,2), then min-p (0.25 -> drops 3 only): intersection.
    SamplingParams p = seeded(11);
    p.top_p = 0.8f;
    p.min_p = 0.1f;
    Sampler s(p);
    EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0, 1, 2}));
    p.min_p = 0.4f;
    Sampler s2(p);
    EXPECT_EQ(s2.support(logits), (std::vector<int32_t>{0, 1}));
  }
}

TEST(Sampler, TopKThenTopP) {
  // top-k=3 renormalises {0.5, 0.25, 0.15} to {0.556, 0.278, 0.167}; top_p 0.8 then keeps 0 and 1.
  const std::vector<float> logits = log_of({0.5, 0.25, 0.15, 0.1});
  SamplingParams p = seeded(12);
  p.top_k = 3;
  p.top_p = 0.8f;
  Sampler s(p);
  EXPECT_EQ(s.support(logits), (std::vector<int32_t>{0, 1}));
}

TEST(Sampler, NegativeInfinityIsNeverDrawn) {
  const std::vector<float> logits = {-kInf, 0.0f, -kInf, 0.0f, std::nanf("")};
  Sampler s(seeded(13));
  const std::vector<double> f = frequencies(s, logits, 4000);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_EQ(f[4], 0.0);
  EXPECT_NEAR(f[1], 0.5, 0.03);
  EXPECT_EQ(s.sample(std::vector<float>{-kInf, -kInf}).token, 0);
}

// ---------------------------------------------------------------- penalties

TEST(Sampler, RepetitionPenaltyCountsPromptAndOutput) {
  SamplingParams p = seeded();
  p.repetition_penalty = 2.0f;
  const std::vector<int32_t> prompt = {1, 1, 3};
  Sampler s(p, prompt);
  s.accept(4);
  std::vector<float> l = {1.0f, 2.0f, -1.0f, -3.0f, 0.5f, 7.0f};
  s.apply_penalties(l);
  EXPECT_EQ(l, (std::vector<float>{1.0f, 1.0f, -1.0f, -6.0f, 0.25f, 7.0f}));
}

TEST(Sampler, PresenceAndFrequencyCountGeneratedTokensOnly) {
  SamplingParams p = seeded();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  const std::vector<int32_t> prompt = {0, 0, 0};
  Sampler s(p, prompt);
  for (int32_t t : {2, 2, 2, 3, 99}) s.accept(t);  // 99 is outside the vocab: ignored
  std::vector<float> l = {1.0f, 1.0f, 1.0f, -1.0f};
  s.apply_penalties(l);
  EXPECT_FLOAT_EQ(l[0], 1.0f);  // prompt only: untouched
  EXPECT_FLOAT_EQ(l[1], 1.0f);
  EXPECT_FLOAT_EQ(l[2], 1.0f - 3 * 0.25f - 0.5f);  // count 3
  EXPECT_FLOAT_EQ(l[3], -1.0f - 0.25f - 0.5f);     // count 1
  EXPECT_EQ(s.num_generated(), 5);

  // Negative penalties encourage repetition.
  SamplingParams n = seeded();
  n.presence_penalty = -1.0f;
  Sampler sn(n);
  sn.accept(1);
  std::vector<float> l2 = {0.0f, 0.0f};
  sn.apply_penalties(l2);
  EXPECT_EQ(l2, (std::vector<float>{0.0f, 1.0f}));
}

TEST(Sampler, AllPenaltiesCombineInOrder) {
  SamplingParams p = seeded();
  p.repetition_penalty = 1.25f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.5f;
  const std::vector<int32_t> prompt = {0};
  Sampler s(p, prompt);
  s.accept(1);
  s.accept(1);
  std::vector<float> l = {2.0f, 2.0f, 2.0f};
  s.apply_penalties(l);
  EXPECT_FLOAT_EQ(l[0], 2.0f / 1.25f);
  EXPECT_FLOAT_EQ(l[1], 2.0f / 1.25f - 2 * 0.5f - 0.5f);
  EXPECT_FLOAT_EQ(l[2], 2.0f);
}

TEST(Sampler, SampleUsesPenalisedLogits) {
  SamplingParams p = seeded();
  p.temperature = 0.0f;
  p.frequency_penalty = 2.0f;
  Sampler s(p);
  const std::vector<float> l = {1.0f, 2.0f, 0.5f};
  EXPECT_EQ(s.sample(l).token, 1);
  s.accept(1);
  EXPECT_EQ(s.sample(l).token, 0);  // 2 - 2 = 0 < 1
  s.accept(0);
  EXPECT_EQ(s.sample(l).token, 2);  // now -1, 0, 0.5
}

// ---------------------------------------------------------------- logprobs

TEST(Sampler, LogprobsAreRawLogSoftmaxSortedDescending) {
  const std::vector<float> logits = {0.3f, 2.0f, -1.0f, 1.5f, 2.0f, 0.0f};
  SamplingParams p = seeded(14);
  p.want_logprobs = true;
  p.logprobs = 6;
  p.temperature = 0.5f;       // must not change the reported logprobs
  p.presence_penalty = 1.0f;  // nor must penalties
  Sampler s(p);
  s.accept(1);
  const std::vector<double> ref = softmax(logits);
  for (int round = 0; round < 20; ++round) {
    const SampleResult r = s.sample(logits);
    EXPECT_NEAR(r.logprob, std::log(ref[static_cast<size_t>(r.token)]), 1e-5);
    ASSERT_EQ(r.top_logprobs.size(), 6u);
    double sum = 0;
    for (size_t i = 0; i < r.top_logprobs.size(); ++i) {
      const auto [id, lp] = r.top_logprobs[i];
      sum += std::exp(lp);
      EXPECT_NEAR(lp, std::log(ref[static_cast<size_t>(id)]), 1e-5);
      if (i > 0) {
        EXPECT_GE(r.top_logprobs[i - 1].second, lp);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(r.top_logprobs[0].first, 1);  // tie 1 vs 4: lower id first
    EXPECT_EQ(r.top_logprobs[1].first, 4);
  }
}

TEST(Sampler, LogprobsOnLargeVocab) {
  const std::vector<float> logits = random_logits(128256, 15, 3.0f);
  SamplingParams p = seeded(15);
  p.want_logprobs = true;
  p.logprobs = 5;
  Sampler s(p);
  const SampleResult r = s.sample(logits);
  const std::vector<double> ref = softmax(logits);
  EXPECT_NEAR(r.logprob, std::log(ref[static_cast<size_t>(r.token)]), 1e-4);
  ASSERT_EQ(r.top_logprobs.size(), 5u);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(r.top_logprobs[i].first, order[i]);
    EXPECT_NEAR(r.top_logprobs[i].second, std::log(ref[static_cast<size_t>(order[i])]), 1e-4);
  }
  double total = 0;
  for (double q : ref) total += q;
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(Sampler, NoLogprobsUnlessRequested) {
  Sampler s(seeded());
  const SampleResult r = s.sample(std::vector<float>{1.0f, 2.0f});
  EXPECT_EQ(r.logprob, 0.0f);
  EXPECT_TRUE(r.top_logprobs.empty());
  SamplingParams p = seeded();
  p.want_logprobs = true;  // logprobs = 0: chosen token only
  Sampler s2(p);
  const SampleResult r2 = s2.sample(std::vector<float>{1.0f, 1.0f});
  EXPECT_NEAR(r2.logprob, std::log(0.5), 1e-6);
  EXPECT_TRUE(r2.top_logprobs.empty());
}

// ---------------------------------------------------------------- reproducibility

std::vector<int32_t> run_sequence(const SamplingParams& p, int steps) {
  Sampler s(p, std::vector<int32_t>{3, 4, 5});
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    const std::vector<float> l = random_logits(2000, 500 + static_cast<uint64_t>(i), 1.5f);
    const int32_t t = s.sample(l).token;
    s.accept(t);
    out.push_back(t);
  }
  return out;
}

TEST(Sampler, SameSeedSameTokens) {
  for (int variant = 0; variant < 4; ++variant) {
    SamplingParams p = seeded(2024);
    p.temperature = 0.9f;
    p.repetition_penalty = 1.1f;
    p.frequency_penalty = 0.3f;
    if (variant == 1) p.top_p = 0.9f;
    if (variant == 2) p.top_k = 50;
    if (variant == 3) p.min_p = 0.05f;
    const std::vector<int32_t> a = run_sequence(p, 100);
    const std::vector<int32_t> b = run_sequence(p, 100);
    EXPECT_EQ(a, b) << "variant " << variant;
    p.seed = 2025;
    EXPECT_NE(a, run_sequence(p, 100)) << "variant " << variant;
  }
}

TEST(Sampler, SeedIsReportedAndRandomWithoutOne) {
  Sampler a(seeded(77));
  EXPECT_EQ(a.seed(), 77u);
  Sampler b{SamplingParams()}, c{SamplingParams()};
  EXPECT_NE(b.seed(), c.seed());  // 2^-64 chance of a false failure
}

TEST(Sampler, IsMovable) {
  Sampler a(seeded(3));
  Sampler b = std::move(a);
  const std::vector<float> l = {0.0f, 0.0f, 0.0f};
  EXPECT_GE(b.sample(l).token, 0);
}

}  // namespace
}  // namespace lpx
