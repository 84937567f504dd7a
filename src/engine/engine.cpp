// Engine implementation: applies the scheduler's plan (engine/scheduler.h: decode first, then
// chunked prefill, FIFO admission, KV reservation with preemption by recomputation, device-tier
// adapter pins), runs the batch, samples, detokenizes incrementally and emits the outputs.
#include "engine/engine.h"

#include <algorithm>
#include <span>

#include "core/check.h"
#include "core/log.h"

namespace lpx {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

struct Engine::Sequence {
  RequestId id;
  GenerationRequest req;
  std::vector<int32_t> tokens;  // prompt + generated
  int32_t n_prompt = 0;
  int32_t n_generated = 0;
  SeqKv kv;               // kv.n_tokens = tokens already computed
  AdapterId adapter;      // its device-tier id (none: the base model)
  int adapter_pages = 0;  // device-tier pages its adapter takes
  Sampler sampler;
  StopChecker stop;
  IncrementalDecoder decoder;
  bool running = false;
  bool done = false;

  Sequence(RequestId rid, GenerationRequest r, const Tokenizer& tok)
      : id(rid),
        req(std::move(r)),
        tokens(req.prompt),
        n_prompt(static_cast<int32_t>(req.prompt.size())),
        sampler(req.params, req.prompt),
        stop(req.params.stop),
        decoder(tok, /*skip_special_tokens=*/true) {}
};

Engine::Engine(const Model& model, const EngineConfig& config, ThreadPool* pool)
    : model_(model), config_(config), pool_(pool), llama_(model.config, &model.weights) {
  const ModelConfig& c = model.config;
  max_model_len_ = config.max_model_len > 0 ? config.max_model_len : static_cast<int>(c.max_position_embeddings);
  if (c.max_position_embeddings > 0) max_model_len_ = std::min<int>(max_model_len_, c.max_position_embeddings);
  KvCacheConfig kc;
  kc.n_layers = static_cast<int>(c.n_layers);
  kc.n_kv_heads = static_cast<int>(c.n_kv_heads);
  kc.head_dim = static_cast<int>(c.head_dim);
  kc.block_size = config.kv_block_size;
  int blocks = config.kv_blocks;
  if (blocks <= 0) {
    const int per_seq = (max_model_len_ + kc.block_size - 1) / kc.block_size;
    blocks = per_seq * config.max_num_seqs;
    const size_t cap = config.max_kv_bytes / kc.bytes_per_block();
    blocks = static_cast<int>(std::min<size_t>(blocks, std::max<size_t>(cap, per_seq)));
  }
  kc.n_blocks = blocks;
  kv_ = std::make_unique<KvCache>(kc);
  stats_.kv_blocks_total = blocks;
  if (config.lora.n_slots > 0) {
    DevicePoolConfig dc = config.lora;
    if (dc.floats_per_rank <= 0) dc.floats_per_rank = lora_floats_per_rank(c);
    if (dc.page_rank <= 0) dc.page_rank = 8;
    lora_pool_ = std::make_unique<DevicePool>(dc);
  }
}

Engine::~Engine() = default;

Result<RequestId> Engine::add_request(GenerationRequest request) {
  LPX_RETURN_IF_ERROR(request.params.validate());
  LPX_RETURN_IF_ERROR(validate_prompt(request.prompt, prompt_limits()));
  const int n = static_cast<int>(request.prompt.size());
  if (kv_->blocks_for(n + 1) > kv_->n_blocks()) {
    return invalid_field("prompt",
                         "the prompt needs more KV-cache blocks than exist (" + std::to_string(kv_->n_blocks()) + ")");
  }
  if (request.lora) {
    if (!request.lora->adapter()) return invalid_argument("the adapter lease holds no adapter");
    if (!lora_pool_) return invalid_argument("LoRA adapters are disabled in this engine (no device slots)");
    const LoraAdapter& a = *request.lora->adapter();
    if (static_cast<int64_t>(a.layers.size()) != model_.config.n_layers) {
      return invalid_argument("adapter '" + a.name + "' has " + std::to_string(a.layers.size()) +
                              " layers; the base model has " + std::to_string(model_.config.n_layers));
    }
    if (lora_pool_->pages_for(a) > lora_pool_->n_pages()) {
      return invalid_argument("adapter '" + a.name + "' is larger than the whole device tier " +
                              "(raise NIM_MAX_GPU_LORAS or NIM_MAX_LORA_RANK)");
    }
  }
  const RequestId id(next_id_++);
  auto seq = std::make_unique<Sequence>(id, std::move(request), *model_.tokenizer);
  if (seq->req.lora) {
    seq->adapter = lora_pool_->id_of(seq->req.lora->key());
    seq->adapter_pages = lora_pool_->pages_for(*seq->req.lora->adapter());
  }
  seqs_[id] = std::move(seq);
  waiting_.push_back(id);
  return id;
}

void Engine::cancel(RequestId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end() || it->second->done) return;
  RequestOutput out;
  out.finished = true;
  out.reason = FinishReason::kCancelled;
  emit(*it->second, std::move(out));
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
  seqs_.erase(it);
}

void Engine::finish(Sequence& s) {
  s.done = true;
  kv_->release(s.kv);
  // Drop the adapter pin before the final output reaches the client: a client that reacts at once
  // (a new request for another adapter) must find the host-cache slot free.
  s.req.lora.reset();
}

void Engine::preempt(Sequence& s) {
  // Recompute later: drop the KV blocks, keep prompt + generated tokens.
  kv_->release(s.kv);
  s.running = false;
  stats_.preemptions++;
  LPX_LOG_DEBUG("preempted request " + to_string(s.id) + " (KV cache full)");
}

void Engine::emit(Sequence& s, RequestOutput out) {
  out.id = s.id;
  if (out.reason != FinishReason::kError) {
    out.prompt_tokens = s.n_prompt;
    out.completion_tokens = s.n_generated;
  }
  if (out.finished) finish(s);
  if (s.req.on_output) s.req.on_output(out);
}

void Engine::process_token(Sequence& s, const SampleResult& r, RequestOutput& out) {
  const SamplingParams& p = s.req.params;
  s.sampler.accept(r.token);
  s.tokens.push_back(r.token);
  s.n_generated++;
  stats_.generated_tokens++;
  TokenOutput t;
  t.token = r.token;
  t.logprob = r.logprob;
  t.top_logprobs = r.top_logprobs;
  const bool stop_token = is_stop_token(p, r.token, model_.eos_ids);
  if (!stop_token) {
    auto o = s.stop.push(s.decoder.push(r.token));
    t.text = std::move(o.emit);
    if (o.stopped) {
      out.finished = true;
      out.reason = FinishReason::kStop;
    }
  } else {
    out.finished = true;
    out.reason = FinishReason::kStop;
  }
  if (!out.finished && (s.n_generated >= p.max_tokens || static_cast<int>(s.tokens.size()) >= max_model_len_)) {
    out.finished = true;
    out.reason = FinishReason::kLength;
  }
  if (out.finished && !s.stop.stopped()) {
    out.tail_text = s.stop.push(s.decoder.flush()).emit;
    if (!s.stop.stopped()) out.tail_text += s.stop.flush();
  }
  out.tokens.push_back(std::move(t));
}

SchedulerState Engine::scheduler_state() const {
  SchedulerState st;
  auto view = [&](RequestId id) {
    const Sequence& s = *seqs_.at(id);
    SchedSeq q;
    q.id = id;
    q.pending = static_cast<int>(s.tokens.size()) - s.kv.n_tokens;
    q.computed = s.kv.n_tokens;
    q.kv_blocks = static_cast<int>(s.kv.blocks.size());
    q.adapter = s.adapter;
    q.adapter_pages = s.adapter_pages;
    return q;
  };
  for (RequestId id : running_) st.running.push_back(view(id));
  for (RequestId id : waiting_) st.waiting.push_back(view(id));
  st.max_batch_tokens = config_.max_batch_tokens;
  st.max_num_seqs = config_.max_num_seqs;
  st.kv_block_size = config_.kv_block_size;
  st.kv_free_blocks = kv_->n_free_blocks();
  if (lora_pool_) {
    st.adapter_pages_total = lora_pool_->n_pages();
    st.resident_adapters = lora_pool_->residents();
  }
  return st;
}

void Engine::apply(const SchedOp& op) {
  Sequence& s = *seqs_.at(op.id);
  switch (op.kind) {
    case SchedOp::Kind::kAcquireAdapter: {
      const bool ok = acquire_adapter(s);
      LPX_CHECK(ok == op.ok);  // the scheduler models the device tier exactly
      break;
    }
    case SchedOp::Kind::kReserve: LPX_CHECK(kv_->reserve(s.kv, op.tokens).is_ok()); break;
    case SchedOp::Kind::kPreempt:
      preempt(s);
      running_.erase(std::remove(running_.begin(), running_.end(), s.id), running_.end());
      waiting_.push_front(s.id);
      break;
    case SchedOp::Kind::kAdmit:
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), s.id));
      s.running = true;
      running_.push_back(s.id);
      break;
  }
}

Status Engine::step() {
  stats_.steps++;
  // 1. Schedule (engine/scheduler.h), then apply its effects in order: device-tier pins, KV
  // reservations, preemptions and admissions.
  const StepPlan sp = plan(scheduler_state());
  for (const SchedOp& op : sp.ops) apply(op);
  std::vector<Planned> plan;
  plan.reserve(sp.runs.size());
  for (const StepRun& r : sp.runs) plan.push_back({seqs_.at(r.id).get(), r.n});
  auto pending = [](const Sequence& s) { return static_cast<int>(s.tokens.size()) - s.kv.n_tokens; };
  if (plan.empty()) {
    if (lora_pool_) lora_pool_->unpin_all();
    step_adapters_.clear();
    if (sp.fail) {
      // Nothing fits even alone: fail the head request rather than spin.
      Sequence& s = *seqs_.at(*sp.fail);
      LPX_CHECK(waiting_.front() == s.id);
      waiting_.pop_front();
      RequestOutput out;
      out.finished = true;
      out.reason = FinishReason::kError;
      out.error = resource_exhausted("KV cache too small for this request");
      emit(s, std::move(out));
      seqs_.erase(s.id);
    }
    return Status::ok();
  }

  // 2. Forward all planned tokens in one batch; rows of one adapter are adjacent (one segment),
  // grouped by AdapterId (base-model rows first).
  std::stable_sort(plan.begin(), plan.end(), [&](const Planned& a, const Planned& b) {
    auto key = [&](const Planned& p) {
      const DeviceAdapter* d = step_adapter(*p.s);
      return d == nullptr ? AdapterId() : d->id;
    };
    return key(a) < key(b);
  });
  const bool with_lora = build_lora_batch(plan);
  std::vector<ForwardSeq> fseqs;
  fseqs.reserve(plan.size());
  for (const Planned& p : plan) {
    ForwardSeq f;
    f.tokens = std::span<const int32_t>(p.s->tokens.data() + p.s->kv.n_tokens, p.n);
    f.kv = &p.s->kv;
    fseqs.push_back(f);
    if (p.s->kv.n_tokens < p.s->n_prompt) stats_.prompt_tokens += p.n;
  }
  Status st = llama_.forward(fseqs, *kv_, logits_, with_lora ? &lora_batch_ : nullptr, pool_);
  if (lora_pool_) lora_pool_->unpin_all();
  step_adapters_.clear();
  if (!st.is_ok()) {
    for (const Planned& p : plan) {
      RequestOutput out;
      out.finished = true;
      out.reason = FinishReason::kError;
      out.error = st;
      emit(*p.s, std::move(out));
    }
  } else {
    // 3. Sample for every sequence whose known tokens are all computed now.
    const int64_t V = model_.config.vocab_size;
    for (size_t i = 0; i < plan.size(); ++i) {
      Sequence& s = *plan[i].s;
      if (pending(s) != 0) continue;  // mid-prefill chunk
      SampleResult r = s.sampler.sample(std::span<const float>(logits_.data() + i * V, V));
      RequestOutput out;
      process_token(s, r, out);
      emit(s, std::move(out));
    }
  }
  // 4. Drop finished sequences.
  for (auto it = running_.begin(); it != running_.end();) {
    if (seqs_[*it]->done) {
      seqs_.erase(*it);
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::ok();
}

bool Engine::acquire_adapter(Sequence& s) {
  if (!s.req.lora) return true;
  if (step_adapters_.count(s.id)) return true;
  auto r = lora_pool_->acquire(s.req.lora->key(), s.req.lora->adapter());
  if (!r.is_ok()) return false;  // resource_exhausted: every resident adapter is in this step
  step_adapters_[s.id] = r.value();
  return true;
}

const DeviceAdapter* Engine::step_adapter(const Sequence& s) const {
  auto it = step_adapters_.find(s.id);
  return it == step_adapters_.end() ? nullptr : it->second;
}

bool Engine::build_lora_batch(const std::vector<Planned>& plan) {
  if (step_adapters_.empty()) return false;
  const int64_t L = model_.config.n_layers;
  lora_batch_.segments.resize(static_cast<size_t>(L));
  for (auto& layer : lora_batch_.segments)
    for (auto& v : layer) v.clear();
  lora_batch_.max_rank = 0;
  int64_t row = 0;
  AdapterId prev;  // the adapter of the previous rows (none: base model)
  for (const auto& [s, n] : plan) {
    const DeviceAdapter* d = step_adapter(*s);
    if (d != nullptr) {
      // Rows are sorted by adapter: the same adapter as the previous rows extends its segments.
      const bool extend = d->id == prev;
      for (int64_t l = 0; l < L; ++l) {
        for (int m = 0; m < kNumLoraModules; ++m) {
          const kernels::LoraSegment& view = d->views[static_cast<size_t>(l)][static_cast<size_t>(m)];
          if (view.a.data == nullptr) continue;
          auto& segs = lora_batch_.segments[static_cast<size_t>(l)][static_cast<size_t>(m)];
          if (extend) {
            segs.back().row_end = row + n;
          } else {
            kernels::LoraSegment seg = view;
            seg.row_begin = row;
            seg.row_end = row + n;
            segs.push_back(seg);
          }
          lora_batch_.max_rank = std::max<int>(lora_batch_.max_rank, static_cast<int>(view.a.rows));
        }
      }
    }
    prev = d == nullptr ? AdapterId() : d->id;
    row += n;
  }
  return lora_batch_.max_rank > 0;
}

Status Engine::run_to_completion() {
  while (has_work()) LPX_RETURN_IF_ERROR(step());
  return Status::ok();
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.waiting = static_cast<int>(waiting_.size());
  s.running = static_cast<int>(running_.size());
  s.kv_blocks_used = kv_->n_blocks() - kv_->n_free_blocks();
  if (lora_pool_) {
    s.device_tier = lora_pool_->counters();
    s.device_resident = lora_pool_->resident();
  }
  auto names = [&](auto& ids, std::vector<std::string>* out) {
    for (RequestId id : ids) {
      auto it = seqs_.find(id);
      if (it == seqs_.end() || !it->second->req.lora) continue;
      const std::string& n = it->second->req.lora->name();
      if (std::find(out->begin(), out->end(), n) == out->end()) out->push_back(n);
    }
  };
  names(running_, &s.running_adapters);
  names(waiting_, &s.waiting_adapters);
  return s;
}

}  // namespace lpx
