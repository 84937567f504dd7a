// Tokenizer benchmarks: load and encode/decode throughput (MB/s) with the Llama 3 and Llama 2 files.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace lpx {
namespace {

const std::string kTokDir = std::string(LPX_SOURCE_DIR) + "/../shared/testdata/tokenizers";

// A few MB of varied English: sentences picked by a fixed pseudo-random sequence, with numbers,
// punctuation, code-ish fragments and paragraph breaks mixed in.
std::string make_english_text(size_t target_bytes) {
  static const char* const kSentences[] = {
      "The quick brown fox jumps over the lazy dog.",
      "In the beginning of the twentieth century, railways connected most of the larger towns.",
      "She couldn't believe how quickly the afternoon had passed; the light was already fading.",
      "Researchers measured the temperature every hour and recorded the results in a notebook.",
      "\"Are you sure?\" he asked, glancing at the map again before folding it away.",
      "Prices rose by 3.5% in March, while wages stayed roughly flat for the third month in a row.",
      "Our library opens at 9:30 a.m. on weekdays and closes early on public holidays.",
      "A well-written function does one thing, does it well, and has a name that says what it does.",
      "They walked along the river until the path turned north, toward the old stone bridge.",
      "If the server returns an error, retry the request after waiting a few hundred milliseconds.",
      "Despite the rain, thousands of people gathered in the square to hear the announcement.",
      "The committee's report, published on 12 June 2023, recommended seventeen separate changes.",
      "He'd never seen a sky so clear: every star seemed close enough to touch.",
      "Mix two cups of flour with one teaspoon of salt, then add the water slowly.",
      "Why do some languages have so many words for snow, while others have only one?",
      "The museum's newest exhibition features paintings, sculptures, and hand-drawn maps.",
      "For more details, see section 4.2 or email support@example.com before Friday.",
      "It was the best of times, it was the worst of times, it was the age of wisdom.",
      "Engineers replaced the worn bearings and tested the turbine at full speed for six hours.",
      "Children laughed in the playground as the teacher rang the bell for the last lesson.",
      "The algorithm sorts 1,000,000 integers in about 80 milliseconds on a modern laptop.",
      "Please don't forget to lock the door, switch off the lights, and feed the cat!",
      "Mountains rose on both sides of the valley, their peaks hidden in low grey clouds.",
      "According to the survey, 42 percent of respondents prefer working from home.",
      "for (int i = 0; i < n; ++i) { total += values[i] * weights[i]; }",
      "The orchestra tuned their instruments while the audience slowly found their seats.",
      "Well-known authors often rewrite the first chapter of a novel dozens of times.",
      "Trade winds carried the small sailing ship steadily westward across the ocean.",
      "We'll need at least three volunteers to help set up the tables on Saturday morning.",
      "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
  };
  constexpr size_t kCount = sizeof(kSentences) / sizeof(kSentences[0]);
  std::string text;
  text.reserve(target_bytes + 256);
  uint64_t state = 0x9E3779B97F4A7C15ull;
  size_t in_paragraph = 0;
  while (text.size() < target_bytes) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const size_t pick = static_cast<size_t>(state >> 33);
    text += kSentences[pick % kCount];
    if (pick % 7 == 0) text += " (" + std::to_string(pick % 10000) + ")";
    if (++in_paragraph >= 4 + pick % 5) {
      text += "\n\n";
      in_paragraph = 0;
    } else {
      text += ' ';
    }
  }
  return text;
}

const std::string& english_text() {
  static const std::string kText = make_english_text(4 << 20);
  return kText;
}

const Tokenizer* load_or_null(const std::string& dir) {
  static std::unique_ptr<Tokenizer> llama3, llama2;
  std::unique_ptr<Tokenizer>& slot = dir == "llama3-reconstructed" ? llama3 : llama2;
  if (!slot) {
    auto r = Tokenizer::load(kTokDir + "/" + dir + "/tokenizer.json");
    if (!r.is_ok()) return nullptr;
    slot = std::make_unique<Tokenizer>(std::move(r).value());
  }
  return slot.get();
}

void BM_TokenizerLoadLlama3(benchmark::State& state) {
  const std::string path = kTokDir + "/llama3-reconstructed/tokenizer.json";
  for (auto _ : state) {
    auto r = Tokenizer::load(path);
    if (!r.is_ok()) {
      state.SkipWithError(r.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->vocab_size());
  }
}
BENCHMARK(BM_TokenizerLoadLlama3)->Unit(benchmark::kMillisecond);

// Encodes ~4 MB of English with the Llama 3 tokenizer (128k vocab, 280k merges).
void BM_TokenizerEncodeLlama3(benchmark::State& state) {
  const Tokenizer* tok = load_or_null("llama3-reconstructed");
  if (tok == nullptr) {
    state.SkipWithError("llama3 tokenizer.json not found");
    return;
  }
  const std::string& text = english_text();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text, true);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_TokenizerEncodeLlama3)->Unit(benchmark::kMillisecond);

// Prompt-sized inputs (~4 KB each), as a server sees them.
void BM_TokenizerEncodeLlama3Prompts(benchmark::State& state) {
  const Tokenizer* tok = load_or_null("llama3-reconstructed");
  if (tok == nullptr) {
    state.SkipWithError("llama3 tokenizer.json not found");
    return;
  }
  const std::string& text = english_text();
  constexpr size_t kChunk = 4096;
  size_t bytes = 0;
  for (auto _ : state) {
    for (size_t off = 0; off + kChunk <= 256 * kChunk && off + kChunk <= text.size(); off += kChunk) {
      auto ids = tok->encode(std::string_view(text).substr(off, kChunk), true);
      benchmark::DoNotOptimize(ids.data());
      bytes += kChunk;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_TokenizerEncodeLlama3Prompts)->Unit(benchmark::kMillisecond);

// SentencePiece-style BPE (no pre-tokenizer: each chunk is one BPE word), 4 KB chunks.
void BM_TokenizerEncodeLlama2Prompts(benchmark::State& state) {
  const Tokenizer* tok = load_or_null("llama2");
  if (tok == nullptr) {
    state.SkipWithError("llama2 tokenizer.json not found");
    return;
  }
  const std::string& text = english_text();
  constexpr size_t kChunk = 4096;
  size_t bytes = 0;
  for (auto _ : state) {
    for (size_t off = 0; off + kChunk <= 64 * kChunk && off + kChunk <= text.size(); off += kChunk) {
      auto ids = tok->encode(std::string_view(text).substr(off, kChunk), true);
      benchmark::DoNotOptimize(ids.data());
      bytes += kChunk;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_TokenizerEncodeLlama2Prompts)->Unit(benchmark::kMillisecond);

void BM_TokenizerDecodeLlama3(benchmark::State& state) {
  const Tokenizer* tok = load_or_null("llama3-reconstructed");
  if (tok == nullptr) {
    state.SkipWithError("llama3 tokenizer.json not found");
    return;
  }
  const std::string text = english_text().substr(0, 1 << 20);
  const auto ids = tok->encode(text, false);
  for (auto _ : state) {
    auto s = tok->decode(ids, false);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_TokenizerDecodeLlama3)->Unit(benchmark::kMillisecond);

void BM_TokenizerStreamDecodeLlama3(benchmark::State& state) {
  const Tokenizer* tok = load_or_null("llama3-reconstructed");
  if (tok == nullptr) {
    state.SkipWithError("llama3 tokenizer.json not found");
    return;
  }
  const std::string text = english_text().substr(0, 64 << 10);
  const auto ids = tok->encode(text, false);
  for (auto _ : state) {
    IncrementalDecoder dec(*tok, false);
    size_t n = 0;
    for (int32_t id : ids) n += dec.push(id).size();
    n += dec.flush().size();
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(ids.size()));
}
BENCHMARK(BM_TokenizerStreamDecodeLlama3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lpx
