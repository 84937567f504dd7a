// The engine's scheduler as a pure function: plan(SchedulerState) -> StepPlan over plain data (no
// model, no KV cache object, no device pool, no callbacks), so it can be tested alone.
//
// One step, in this order (docs/architecture.md, "One engine step"):
//   1. every running sequence in decode gets one token, oldest admitted first;
//   2. running sequences mid-prompt get prefill chunks, in admission order;
//   3. waiting sequences are admitted FIFO while there are tokens and sequence slots left;
// all within max_batch_tokens. Each scheduled sequence first acquires its adapter in the device
// tier (an adapter that finds no room leaves its sequence waiting, never refused), then reserves
// KV blocks; when the pool runs out, the most recently admitted running sequence not yet in the
// step is preempted (its blocks freed; it goes back to the front of the waiting queue and is
// recomputed later). A decoding sequence that cannot get its block even so preempts itself.
//
// The device tier and the KV pool are simulated with their accounting only (pages and blocks,
// the LRU order of resident adapters), exactly as DevicePool::acquire and KvCache::reserve decide,
// so the engine can replay StepPlan::ops on the real objects in order and get the same outcomes.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/request_id.h"
#include "lora/device_pool.h"

namespace lpx {

// One sequence as the scheduler sees it.
struct SchedSeq {
  RequestId id;
  int pending = 0;        // tokens not computed yet: prompt left to prefill, 1 when decoding
  int computed = 0;       // tokens whose K/V are stored
  int kv_blocks = 0;      // KV blocks held
  AdapterId adapter;      // none: the base model
  int adapter_pages = 0;  // device-tier pages the adapter takes when it is not resident
};

struct SchedulerState {
  std::vector<SchedSeq> running;  // in admission order (oldest first)
  std::vector<SchedSeq> waiting;  // the waiting queue, front first
  int max_batch_tokens = 0;
  int max_num_seqs = 0;
  int kv_block_size = 1;
  int kv_free_blocks = 0;
  // The device tier: total pages and the resident adapters, least recently used first (none is
  // pinned at the start of a step).
  int adapter_pages_total = 0;
  std::vector<DevicePool::Resident> resident_adapters;
};

// One effect on the engine's state, in the order the engine must apply it.
struct SchedOp {
  enum class Kind {
    kAcquireAdapter,  // DevicePool::acquire for the sequence's adapter; `ok` is its predicted
                      // outcome
    kReserve,         // KvCache::reserve up to `tokens` tokens in total (always succeeds)
    kPreempt,         // free the sequence's KV blocks; it moves to the front of the waiting queue
    kAdmit,           // the waiting sequence joins the running batch (at its end)
  };
  Kind kind = Kind::kReserve;
  RequestId id;
  int tokens = 0;  // kReserve
  bool ok = true;  // kAcquireAdapter
};

struct StepRun {
  RequestId id;
  int n = 0;  // new tokens computed for it this step
};

struct StepPlan {
  std::vector<StepRun> runs;               // decode tokens, then prefill chunks, then admitted
  std::vector<RequestId> admitted;         // FIFO order
  std::vector<RequestId> preempted;        // in preemption order
  std::vector<RequestId> adapter_waiting;  // passed over this step: their adapter found no room
  std::vector<SchedOp> ops;                // every effect, in order (device tier, KV, queues)
  std::vector<RequestId> running_after;    // the running batch after the step's effects
  std::vector<RequestId> waiting_after;    // the waiting queue after the step's effects
  // Nothing is scheduled, nothing runs and this (the head waiting request) cannot fit even alone:
  // the engine fails it rather than spin.
  std::optional<RequestId> fail;
  int tokens = 0;  // sum of runs[].n

  bool empty() const { return runs.empty(); }
};

StepPlan plan(const SchedulerState& state);

}  // namespace lpx
