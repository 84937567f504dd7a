// `loraplex bench`: prefill and decode speed on a real or synthetic model, next to the machine's
// measured memory bandwidth (the decode roofline) — numbers for docs/PERFORMANCE.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/common_flags.h"
#include "core/file_util.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "kernels/ops.h"
#include "lora/adapter_loader.h"
#include "lora/device_pool.h"
#include "lora/manager.h"
#include "model/model.h"
#include "testing/membw.h"
#include "testing/synthetic_adapter.h"
#include "testing/synthetic_model.h"

namespace lpx {
namespace {

struct BenchArgs {
  std::string model_dir, synthetic, cache_dir = "build/synthetic", dtype = "auto", json_out;
  int prompt_tokens = 512, decode_tokens = 64, batch = 1, threads = 0, reps = 2;
  bool json = false, skip_bandwidth = false;
  bool prepack = true;  // env LPX_PREPACK (EnvConfig::prepack)
  int adapters = 0, lora_rank = 16, gpu_slots = 0;
  std::vector<int> mixed_ranks;
  std::vector<int> cold_load_ranks;
};

// Disk -> host (parse + validate) -> device tier for one rank-r, all-module adapter written as PEFT
// safetensors (bf16) in `cache_dir`; the file is read once first so it sits in the page cache.
// Returns {load ms, device placement ms} best of 3.
std::pair<double, double> cold_load_ms(const Model& m, const std::string& cache_dir, int rank) {
  using clock = std::chrono::steady_clock;
  const std::string dir = path_join(cache_dir, "bench-lora-r" + std::to_string(rank));
  auto syn = synthetic_adapter(m.config, "r" + std::to_string(rank), rank, all_lora_modules(), 2.0f, 77 + rank);
  if (Status s = write_peft_adapter(dir, *syn, DType::kBF16); !s.is_ok()) {
    std::fprintf(stderr, "loraplex bench: %s\n", s.to_string().c_str());
    return {-1, -1};
  }
  AdapterLoadOptions lo;
  lo.max_rank = std::max(64, rank);
  (void)load_adapter("warm", dir, m.config, lo);  // page cache
  double best_load = 1e30, best_place = 1e30;
  for (int i = 0; i < 3; ++i) {
    auto t0 = clock::now();
    auto a = load_adapter("bench", dir, m.config, lo);
    auto t1 = clock::now();
    if (!a.is_ok()) {
      std::fprintf(stderr, "loraplex bench: %s\n", a.status().to_string().c_str());
      return {-1, -1};
    }
    DevicePoolConfig dc;
    dc.n_slots = 1;
    dc.max_rank = rank;
    dc.page_rank = rank;
    dc.floats_per_rank = lora_floats_per_rank(m.config);
    DevicePool pool(dc);
    auto t2 = clock::now();
    auto d = pool.acquire("bench", a.value());
    auto t3 = clock::now();
    if (!d.is_ok()) return {-1, -1};
    best_load = std::min(best_load, std::chrono::duration<double, std::milli>(t1 - t0).count());
    best_place = std::min(best_place, std::chrono::duration<double, std::milli>(t3 - t2).count());
  }
  return {best_load, best_place};
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app, const EnvConfig& env) {
  auto a = std::make_shared<BenchArgs>();
  a->prepack = env.prepack;
  CLI::App* sub = app.add_subcommand("bench", "Measure prefill/decode tokens/s and the memory-bandwidth roofline");
  sub->add_option("-m,--model", a->model_dir, "Model folder to benchmark");
  sub->add_option("--synthetic", a->synthetic, "Random-weight model of a real shape: smollm2-135m, tinyllama-1.1b");
  sub->add_option("--cache-dir", a->cache_dir, "Where synthetic models are written (reused)")->capture_default_str();
  sub->add_option("--prompt-tokens", a->prompt_tokens, "Prompt length for prefill")->capture_default_str();
  sub->add_option("--decode-tokens", a->decode_tokens, "Tokens generated per sequence")->capture_default_str();
  sub->add_option("--batch", a->batch, "Concurrent sequences")->capture_default_str();
  sub->add_option("-t,--threads", a->threads, "Compute threads (default: all cores)");
  sub->add_option("--reps", a->reps, "Repetitions (best is reported)")->capture_default_str();
  add_dtype_flag(sub, &a->dtype);
  sub->add_flag("--json", a->json, "One JSON object on stdout");
  sub->add_option("--json-out", a->json_out, "Also write the JSON object to this file");
  sub->add_flag("--skip-bandwidth", a->skip_bandwidth, "Do not measure memory bandwidth");
  sub->add_option("--adapters", a->adapters,
                  "Distinct synthetic LoRA adapters (all 7 modules) spread over the batch; 0 = base only")
      ->capture_default_str();
  sub->add_option("--lora-rank", a->lora_rank, "Rank of the synthetic adapters")->capture_default_str();
  sub->add_option("--mixed-ranks", a->mixed_ranks, "Ranks to cycle through instead of --lora-rank (e.g. 8 16 32 64)");
  sub->add_option("--gpu-loras", a->gpu_slots, "Device-tier slots (NIM_MAX_GPU_LORAS; default: one per adapter)");
  sub->add_option("--cold-load", a->cold_load_ranks,
                  "Also time adapter cold loads (disk -> host -> device) for these ranks");
  return [a]() -> int {
    std::string dir = a->model_dir;
    if (!a->synthetic.empty()) {
      auto shape = synthetic_shape(a->synthetic);
      if (!shape.is_ok()) {
        std::fprintf(stderr, "loraplex bench: %s\n", shape.status().message().c_str());
        return 2;
      }
      dir = path_join(a->cache_dir, a->synthetic);
      Status s =
          write_synthetic_model(dir, *shape, DType::kBF16, 1234, std::string(LPX_SOURCE_DIR) + "/models/demo/base");
      if (!s.is_ok()) {
        std::fprintf(stderr, "loraplex bench: %s\n", s.to_string().c_str());
        return 1;
      }
    }
    if (dir.empty()) {
      std::fprintf(stderr, "loraplex bench: give --model DIR or --synthetic SHAPE\n");
      return 2;
    }
    ThreadPool pool(a->threads);
    ModelLoadOptions lo;
    lo.progress_log = !a->json;
    lo.quantize_q8 = a->dtype == "q8";
    lo.prepack_bf16 = a->prepack;
    auto loaded = Model::load(dir, lo);
    if (!loaded.is_ok()) {
      std::fprintf(stderr, "loraplex bench: %s\n", loaded.status().to_string().c_str());
      return 1;
    }
    const Model& m = *loaded.value();
    const ModelConfig& c = m.config;
    BandwidthResult bw;
    if (!a->skip_bandwidth) bw = measure_bandwidth(pool);

    // Bytes of weights read per decoded token: every matrix once; the embedding table only as
    // lm_head when tied (a lookup reads one row).
    const size_t embed_bytes = m.weights.embed.nbytes;
    const double bytes_per_token = double(m.weights.total_bytes) - (m.weights.lm_head_tied ? 0.0 : double(embed_bytes));
    // Matmul FLOPs per token (2 per weight, lm_head included; attention excluded).
    double matmul_params = 0;
    for (const WeightRef* r : projection_matrices(m.weights)) matmul_params += static_cast<double>(r->numel());

    std::vector<LeasePtr> leases;
    int max_rank = 0;
    for (int i = 0; i < a->adapters; ++i) {
      const int r = a->mixed_ranks.empty() ? a->lora_rank : a->mixed_ranks[i % a->mixed_ranks.size()];
      max_rank = std::max(max_rank, r);
      auto syn = synthetic_adapter(c, "a" + std::to_string(i), r, all_lora_modules(), 2.0f, 1000 + i);
      leases.push_back(std::make_shared<const AdapterLease>(nullptr, syn->name, syn->name, syn));
    }
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> tok(3, static_cast<int32_t>(std::min<int64_t>(c.vocab_size, 500)) - 1);
    double best_prefill = 0, best_decode = 0;
    for (int rep = 0; rep < a->reps; ++rep) {
      EngineConfig ec;
      ec.max_num_seqs = a->batch;
      ec.max_batch_tokens = std::max(a->prompt_tokens * a->batch, 512);
      ec.max_model_len = a->prompt_tokens + a->decode_tokens + 1;
      if (!leases.empty()) {
        ec.lora.n_slots = a->gpu_slots > 0 ? a->gpu_slots : a->adapters;
        ec.lora.max_rank = max_rank;
        ec.lora.page_rank = 8;
      }
      Engine engine(m, ec, &pool);
      using clock = std::chrono::steady_clock;
      auto t0 = clock::now();
      clock::time_point t_first{};
      int first_seen = 0, generated = 0;
      for (int b = 0; b < a->batch; ++b) {
        GenerationRequest req;
        for (int i = 0; i < a->prompt_tokens; ++i) req.prompt.push_back(tok(rng));
        req.params.temperature = 0;
        req.params.max_tokens = a->decode_tokens;
        req.params.ignore_eos = true;
        if (!leases.empty()) req.lora = leases[static_cast<size_t>(b) % leases.size()];
        req.on_output = [&](const RequestOutput& o) {
          if (!o.tokens.empty() && o.completion_tokens == 1 && ++first_seen == a->batch) t_first = clock::now();
          generated += static_cast<int>(o.tokens.size());
        };
        if (!engine.add_request(std::move(req)).is_ok()) return 1;
      }
      if (!engine.run_to_completion().is_ok()) return 1;
      auto t1 = clock::now();
      double prefill_s = std::chrono::duration<double>(t_first - t0).count();
      double decode_s = std::chrono::duration<double>(t1 - t_first).count();
      best_prefill = std::max(best_prefill, a->prompt_tokens * a->batch / prefill_s);
      best_decode = std::max(best_decode, (generated - a->batch) / decode_s);
    }
    const double roofline = bw.triad_gbs > 0 ? bw.triad_gbs * 1e9 / bytes_per_token * a->batch : 0;
    const double prefill_gflops = best_prefill * 2 * matmul_params / 1e9;
    nlohmann::ordered_json j;
    j["model"] = a->synthetic.empty() ? dir : a->synthetic;
    j["threads"] = pool.num_threads();
    j["isa"] = kernels::isa_name(kernels::active_isa());
    j["weights_dtype"] = dtype_name(m.weights.layers.empty() ? m.weights.lm_head.dtype : m.weights.layers[0].wq.dtype);
    j["weights_bytes_per_token"] = bytes_per_token;
    j["bandwidth_triad_gbs"] = bw.triad_gbs;
    j["bandwidth_read_gbs"] = bw.read_gbs;
    j["batch"] = a->batch;
    j["prompt_tokens"] = a->prompt_tokens;
    j["prefill_tokens_per_s"] = best_prefill;
    j["prefill_gflops"] = prefill_gflops;
    j["decode_tokens_per_s"] = best_decode;
    j["decode_roofline_tokens_per_s"] = roofline;
    j["decode_fraction_of_roofline"] = roofline > 0 ? best_decode / roofline : 0;
    j["decode_effective_gbs"] = best_decode * bytes_per_token / a->batch / 1e9;
    j["adapters"] = a->adapters;
    j["lora_rank"] = a->mixed_ranks.empty() ? a->lora_rank : max_rank;
    nlohmann::ordered_json cold = nlohmann::ordered_json::array();
    for (int r : a->cold_load_ranks) {
      auto [load_ms, place_ms] = cold_load_ms(m, a->cache_dir, r);
      cold.push_back({{"rank", r}, {"load_ms", load_ms}, {"device_ms", place_ms}, {"total_ms", load_ms + place_ms}});
    }
    j["cold_load"] = cold;
    if (!a->json_out.empty()) {
      std::FILE* f = std::fopen(a->json_out.c_str(), "w");
      if (f == nullptr || std::fprintf(f, "%s\n", j.dump().c_str()) < 0 || std::fclose(f) != 0) {
        std::fprintf(stderr, "loraplex bench: cannot write %s\n", a->json_out.c_str());
        return 1;
      }
    }
    if (a->json) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s (%s weights, %d threads, %s kernels)\n", j["model"].get<std::string>().c_str(),
                  j["weights_dtype"].get<std::string>().c_str(), pool.num_threads(),
                  kernels::isa_name(kernels::active_isa()));
      std::printf("  memory bandwidth   triad %.1f GB/s, read %.1f GB/s\n", bw.triad_gbs, bw.read_gbs);
      std::printf("  prefill            %d tokens x %d: %.1f tokens/s (%.1f GFLOP/s in matmuls)\n", a->prompt_tokens,
                  a->batch, best_prefill, prefill_gflops);
      std::printf("  decode             batch %d: %.2f tokens/s; roofline %.2f (%.0f%%), %.1f GB/s of weights\n",
                  a->batch, best_decode, roofline, roofline > 0 ? 100 * best_decode / roofline : 0,
                  best_decode * bytes_per_token / a->batch / 1e9);
      if (a->adapters > 0) {
        std::printf("  adapters           %d distinct (rank %s, all 7 modules), %d device slots\n", a->adapters,
                    a->mixed_ranks.empty() ? std::to_string(a->lora_rank).c_str() : "mixed",
                    a->gpu_slots > 0 ? a->gpu_slots : a->adapters);
      }
      for (const auto& cl : cold) {
        std::printf("  cold load          rank %d: %.1f ms disk->host + %.1f ms host->device = %.1f ms\n",
                    cl["rank"].get<int>(), cl["load_ms"].get<double>(), cl["device_ms"].get<double>(),
                    cl["total_ms"].get<double>());
      }
    }
    return 0;
  };
}

}  // namespace lpx
