// The serving engine: continuous batching over a paged KV cache. Requests join and leave the
// running batch every step; a step mixes prefill chunks and decode tokens of many sequences.
// Single-threaded by design: exactly one thread (the engine thread) calls every method.
// Output is delivered through each request's callback, on the engine thread, during step().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/prompt.h"
#include "engine/request_id.h"
#include "engine/sampling.h"
#include "engine/scheduler.h"
#include "engine/stop_checker.h"
#include "kv/kv_cache.h"
#include "lora/device_pool.h"
#include "lora/manager.h"
#include "model/llama.h"
#include "model/model.h"

namespace lpx {

class ThreadPool;

enum class FinishReason { kNone = 0, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct TokenOutput {
  int32_t token = 0;
  float logprob = 0.0f;                                 // only when params.want_logprobs
  std::vector<std::pair<int32_t, float>> top_logprobs;  // params.logprobs alternatives
  std::string text;  // text that became final with this token (may be empty: held for UTF-8/stop)
};

struct RequestOutput {
  RequestId id;
  std::vector<TokenOutput> tokens;  // produced in this step (0 or 1; the final flush may add text)
  std::string tail_text;            // text released at the finish (held back until then)
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  Status error;  // set when reason == kError
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
};

using OutputCallback = std::function<void(const RequestOutput&)>;

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids, BOS included if the model wants one
  SamplingParams params;
  OutputCallback on_output;
  LeasePtr lora;  // the adapter (null = the base model); held until the engine drops the request
};

struct EngineConfig {
  int max_num_seqs = 32;       // sequences in the running batch
  int max_batch_tokens = 256;  // tokens per step (decode tokens first, then prefill chunks)
  int kv_block_size = 16;
  int kv_blocks = 0;  // 0 = enough for max_num_seqs full-length sequences (capped by max_kv_bytes)
  size_t max_kv_bytes = size_t{2} << 30;
  int max_model_len = 0;  // 0 = config.max_position_embeddings
  // The device tier (NIM_MAX_GPU_LORAS slots of NIM_MAX_LORA_RANK): bounds the distinct adapters
  // per step; requests whose adapter finds no room wait. n_slots = 0: adapters are refused.
  DevicePoolConfig lora{0, 0, 0, 8};
};

struct EngineStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;  // prefill tokens computed (recomputation included)
  int64_t generated_tokens = 0;
  int64_t preemptions = 0;
  int waiting = 0;
  int running = 0;
  int kv_blocks_used = 0;
  int kv_blocks_total = 0;
  CacheCounters device_tier;                  // device-tier hits/misses/loads/evictions
  int device_resident = 0;                    // adapters resident in the device tier
  std::vector<std::string> running_adapters;  // distinct adapter names in the running batch
  std::vector<std::string> waiting_adapters;  // distinct adapter names of waiting requests
};

class Engine {
 public:
  Engine(const Model& model, const EngineConfig& config, ThreadPool* pool = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request. invalid_argument for an empty/too-long prompt, a token id
  // outside the vocabulary (validate_prompt, field "prompt") or bad params (the param's field).
  Result<RequestId> add_request(GenerationRequest request);
  // Finishes a request with FinishReason::kCancelled and frees its KV blocks (no-op if unknown).
  void cancel(RequestId id);
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  // One scheduling iteration: schedule, forward, sample, emit. Errors from the forward pass fail
  // the affected requests (reported through their callbacks), not the engine.
  Status step();
  // Runs step() until no work is left.
  Status run_to_completion();

  EngineStats stats() const;
  int max_model_len() const { return max_model_len_; }
  // What add_request checks a prompt against (engine/prompt.h).
  PromptLimits prompt_limits() const { return lpx::prompt_limits(model_, max_model_len_); }
  const KvCache& kv_cache() const { return *kv_; }

 private:
  struct Sequence;
  void finish(Sequence& s);
  void preempt(Sequence& s);
  void process_token(Sequence& s, const SampleResult& r, RequestOutput& out);
  // The one way outputs leave the engine: fills id and token counts (an error reports none),
  // finishes the sequence when `out` is final (KV blocks and adapter lease released first), then
  // calls the request's callback.
  void emit(Sequence& s, RequestOutput out);
  // The scheduler's view of the engine (engine/scheduler.h), and the plan's effects applied.
  SchedulerState scheduler_state() const;
  void apply(const SchedOp& op);
  // Pins s's adapter in the device tier for this step; false when it must wait.
  bool acquire_adapter(Sequence& s);
  // One sequence's share of a step: n new tokens.
  struct Planned {
    Sequence* s;
    int n;
  };
  // The device-tier adapter s uses in this step (null: the base model).
  const DeviceAdapter* step_adapter(const Sequence& s) const;
  // Fills lora_batch_ for the planned rows (in plan order); false when none uses an adapter.
  bool build_lora_batch(const std::vector<Planned>& plan);

  const Model& model_;
  EngineConfig config_;
  ThreadPool* pool_;
  int max_model_len_ = 0;
  std::unique_ptr<KvCache> kv_;
  LlamaModel llama_;
  uint64_t next_id_ = 1;
  std::unordered_map<RequestId, std::unique_ptr<Sequence>> seqs_;
  std::deque<RequestId> waiting_;
  std::vector<RequestId> running_;  // in admission order
  EngineStats stats_;
  std::vector<float> logits_;
  std::unique_ptr<DevicePool> lora_pool_;  // the device tier; null when adapters are disabled
  std::unordered_map<RequestId, const DeviceAdapter*> step_adapters_;  // pinned for this step
  LoraBatch lora_batch_;
};

}  // namespace lpx
