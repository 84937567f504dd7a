// The step scheduler alone (engine/scheduler.h), on fake sequences: decode before prefill, the
// token budget split, FIFO admission, preemption order when KV runs out, the device-tier budget
// leaving a sequence waiting, nothing starving over many steps, and the device-tier model agreeing
// with a real DevicePool call for call.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "util/random_llama.h"

namespace lpx {
namespace {

SchedSeq seq(uint64_t id, int pending, int computed = 0, int blocks = 0, uint64_t adapter = 0, int pages = 0) {
  SchedSeq s;
  s.id = RequestId(id);
  s.pending = pending;
  s.computed = computed;
  s.kv_blocks = blocks;
  s.adapter = AdapterId(adapter);
  s.adapter_pages = pages;
  return s;
}

// A decoding sequence: `computed` tokens stored, one new token to compute.
SchedSeq decoding(uint64_t id, int computed, int block_size, uint64_t adapter = 0, int pages = 0) {
  return seq(id, 1, computed, (computed + block_size - 1) / block_size, adapter, pages);
}

SchedulerState state(int budget, int max_seqs, int block_size, int free_blocks) {
  SchedulerState st;
  st.max_batch_tokens = budget;
  st.max_num_seqs = max_seqs;
  st.kv_block_size = block_size;
  st.kv_free_blocks = free_blocks;
  return st;
}

std::vector<std::pair<uint64_t, int>> runs(const StepPlan& p) {
  std::vector<std::pair<uint64_t, int>> out;
  for (const StepRun& r : p.runs) out.emplace_back(r.id.value, r.n);
  return out;
}

std::vector<uint64_t> ids(const std::vector<RequestId>& v) {
  std::vector<uint64_t> out;
  for (RequestId id : v) out.push_back(id.value);
  return out;
}

using Runs = std::vector<std::pair<uint64_t, int>>;
using Ids = std::vector<uint64_t>;

TEST(Scheduler, DecodeTokensComeBeforePrefillChunks) {
  SchedulerState st = state(/*budget=*/5, 8, 16, 100);
  st.running = {seq(1, 20, 16, 1), decoding(2, 9, 16), decoding(3, 4, 16)};  // 1 is mid-prompt
  StepPlan p = plan(st);
  EXPECT_EQ(runs(p), (Runs{{2, 1}, {3, 1}, {1, 3}}));  // the chunk gets what the decodes leave
  EXPECT_EQ(p.tokens, 5);
  EXPECT_TRUE(p.preempted.empty());
  EXPECT_TRUE(p.admitted.empty());
}

TEST(Scheduler, TokenBudgetIsSplitAndNewcomersWait) {
  SchedulerState st = state(/*budget=*/8, 8, 4, 100);
  st.running = {decoding(1, 5, 4), seq(2, 4, 8, 2)};
  st.waiting = {seq(3, 6)};
  StepPlan p = plan(st);
  EXPECT_EQ(runs(p), (Runs{{1, 1}, {2, 4}, {3, 3}}));  // the admitted prompt gets a 3-token chunk
  EXPECT_EQ(ids(p.admitted), (Ids{3}));
  st.max_batch_tokens = 5;
  p = plan(st);
  EXPECT_EQ(runs(p), (Runs{{1, 1}, {2, 4}}));  // nothing left for admission
  EXPECT_EQ(ids(p.waiting_after), (Ids{3}));
}

TEST(Scheduler, AdmissionIsFifoWithinTheSequenceLimit) {
  SchedulerState st = state(100, /*max_seqs=*/3, 16, 100);
  st.running = {decoding(1, 3, 16)};
  st.waiting = {seq(5, 4), seq(2, 4), seq(9, 4)};
  StepPlan p = plan(st);
  EXPECT_EQ(ids(p.admitted), (Ids{5, 2}));
  EXPECT_EQ(ids(p.running_after), (Ids{1, 5, 2}));
  EXPECT_EQ(ids(p.waiting_after), (Ids{9}));
  // A head request whose blocks do not fit stops admission: no one overtakes it.
  st.kv_free_blocks = 0;
  st.waiting = {seq(5, 40), seq(2, 4)};
  st.max_num_seqs = 8;
  p = plan(st);
  EXPECT_TRUE(p.admitted.empty());
  EXPECT_EQ(ids(p.waiting_after), (Ids{5, 2}));
}

TEST(Scheduler, PreemptsTheMostRecentlyAdmittedWhenKvRunsOut) {
  // Block size 4; each decoding sequence has 8 tokens = 2 full blocks and needs a third.
  SchedulerState st = state(100, 8, 4, /*free_blocks=*/1);
  st.running = {decoding(1, 8, 4), decoding(2, 8, 4), decoding(3, 8, 4), decoding(4, 8, 4)};
  StepPlan p = plan(st);
  // 1 takes the free block; 2 preempts 4 (the newest) and takes one of its two blocks; 3 takes
  // the other.
  EXPECT_EQ(ids(p.preempted), (Ids{4}));
  EXPECT_EQ(runs(p), (Runs{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(ids(p.running_after), (Ids{1, 2, 3}));
  EXPECT_EQ(ids(p.waiting_after), (Ids{4}));  // back at the front, to be recomputed
  // No free block and no one left to preempt: a decoding sequence preempts itself.
  st.kv_free_blocks = 0;
  st.running = {decoding(1, 8, 4)};
  st.waiting = {seq(7, 2)};
  p = plan(st);
  EXPECT_EQ(ids(p.preempted), (Ids{1}));
  EXPECT_TRUE(p.runs.empty());
  EXPECT_EQ(ids(p.waiting_after), (Ids{1, 7}));
}

TEST(Scheduler, PreemptedSequencesReturnInPreemptionOrder) {
  SchedulerState st = state(100, 8, 4, 0);
  // 1 needs 3 blocks for a 12-token chunk; 2 and 3 decode inside the block they hold.
  st.running = {seq(1, 12), decoding(2, 3, 4), decoding(3, 3, 4)};
  StepPlan p = plan(st);
  // Decodes first; then 1's chunk has nobody to preempt (both are in the step) and waits.
  EXPECT_EQ(runs(p), (Runs{{2, 1}, {3, 1}}));
  EXPECT_TRUE(p.preempted.empty());
  // With the two as mid-prompt sequences instead, 1 (oldest) preempts 3 then 2.
  st.running = {seq(1, 8, 0, 0), seq(2, 5, 4, 1), seq(3, 5, 4, 1)};
  p = plan(st);
  EXPECT_EQ(ids(p.preempted), (Ids{3, 2}));
  EXPECT_EQ(runs(p), (Runs{{1, 8}}));
  EXPECT_EQ(ids(p.waiting_after), (Ids{2, 3}));
}

TEST(Scheduler, FailsTheHeadRequestOnlyWhenNothingCanRun) {
  SchedulerState st = state(100, 8, 4, /*free_blocks=*/2);
  st.waiting = {seq(1, 20)};  // 5 blocks: never fits
  StepPlan p = plan(st);
  ASSERT_TRUE(p.fail.has_value());
  EXPECT_EQ(p.fail->value, 1u);
  st.running = {decoding(2, 3, 4)};  // something runs: the request waits instead
  p = plan(st);
  EXPECT_FALSE(p.fail.has_value());
}

TEST(Scheduler, DeviceTierBudgetLeavesASequenceWaiting) {
  SchedulerState st = state(100, 8, 16, 100);
  st.adapter_pages_total = 4;
  st.running = {decoding(1, 3, 16, /*adapter=*/10, /*pages=*/3)};
  st.waiting = {seq(2, 4, 0, 0, /*adapter=*/11, 2), seq(3, 4), seq(4, 4, 0, 0, 10, 3)};
  StepPlan p = plan(st);
  // 11 needs 2 pages, only 1 is free and 10 is pinned by request 1: request 2 waits (never refused)
  // and keeps its place; the base-model request 3 and request 4 (adapter 10, already pinned) run.
  EXPECT_EQ(ids(p.adapter_waiting), (Ids{2}));
  EXPECT_EQ(ids(p.admitted), (Ids{3, 4}));
  EXPECT_EQ(ids(p.waiting_after), (Ids{2}));
  // Acquisitions are ops in call order, each before the sequence's KV reservation.
  ASSERT_GE(p.ops.size(), 3u);
  EXPECT_EQ(p.ops[0].kind, SchedOp::Kind::kAcquireAdapter);
  EXPECT_EQ(p.ops[0].id.value, 1u);
  EXPECT_TRUE(p.ops[0].ok);
  EXPECT_EQ(p.ops[1].kind, SchedOp::Kind::kReserve);
  EXPECT_EQ(p.ops[2].kind, SchedOp::Kind::kAcquireAdapter);
  EXPECT_EQ(p.ops[2].id.value, 2u);
  EXPECT_FALSE(p.ops[2].ok);
  // Next step, with request 1 gone, adapter 10 is resident but unpinned: it is evicted for 11.
  st.running.clear();
  st.resident_adapters = {DevicePool::Resident{AdapterId(10), 3}};
  st.waiting = {seq(2, 4, 0, 0, 11, 2)};
  p = plan(st);
  EXPECT_TRUE(p.adapter_waiting.empty());
  EXPECT_EQ(ids(p.admitted), (Ids{2}));
}

// A multi-step driver: applies each plan to the fake sequences as the engine would (computed
// tokens advance, a finished prompt yields one token per step until max_tokens, preemption drops
// the blocks), and the device tier's residency as DevicePool would leave it.
TEST(Scheduler, NothingStarves) {
  struct Fake {
    SchedSeq s;
    int generated = 0;
    int max_tokens = 0;
  };
  std::mt19937 rng(3);
  const int block = 4;
  std::map<uint64_t, Fake> all;
  std::vector<uint64_t> running, waiting;
  for (uint64_t id = 1; id <= 24; ++id) {
    const uint64_t adapter = id % 3 == 0 ? 0 : 1 + id % 4;
    Fake f{seq(id, 3 + static_cast<int>(rng() % 30), 0, 0, adapter, adapter ? 1 + static_cast<int>(adapter % 2) : 0), 0,
           2 + static_cast<int>(rng() % 12)};
    all[id] = f;
    waiting.push_back(id);
  }
  std::vector<DevicePool::Resident> resident;
  int free_blocks = 24;  // tight: a few sequences at a time
  int steps = 0;
  while (!running.empty() || !waiting.empty()) {
    ASSERT_LT(++steps, 2000) << "a sequence starves";
    SchedulerState st = state(/*budget=*/16, /*max_seqs=*/6, block, free_blocks);
    st.adapter_pages_total = 3;
    st.resident_adapters = resident;
    for (uint64_t id : running) st.running.push_back(all[id].s);
    for (uint64_t id : waiting) st.waiting.push_back(all[id].s);
    StepPlan p = plan(st);
    ASSERT_FALSE(p.fail.has_value());
    ASSERT_LE(p.tokens, 16);
    for (const SchedOp& op : p.ops) {
      Fake& f = all[op.id.value];
      if (op.kind == SchedOp::Kind::kReserve) {
        const int blocks = (op.tokens + block - 1) / block;
        if (blocks > f.s.kv_blocks) {
          free_blocks -= blocks - f.s.kv_blocks;
          f.s.kv_blocks = blocks;
        }
      } else if (op.kind == SchedOp::Kind::kPreempt) {
        free_blocks += f.s.kv_blocks;
        f.s.kv_blocks = 0;
        f.s.pending += f.s.computed;
        f.s.computed = 0;
      } else if (op.kind == SchedOp::Kind::kAcquireAdapter && op.ok) {
        auto it = std::find_if(resident.begin(), resident.end(),
                               [&](const DevicePool::Resident& r) { return r.id == f.s.adapter; });
        if (it != resident.end()) resident.erase(it);
        resident.push_back(DevicePool::Resident{f.s.adapter, f.s.adapter_pages});
        int used = 0;
        for (const auto& r : resident) used += r.pages;
        // Evict from the LRU end what the pool would have (pins are irrelevant once it fitted).
        while (used > st.adapter_pages_total) {
          used -= resident.front().pages;
          resident.erase(resident.begin());
        }
      }
      ASSERT_GE(free_blocks, 0);
    }
    running = ids(p.running_after);
    waiting = ids(p.waiting_after);
    for (const StepRun& r : p.runs) {
      Fake& f = all[r.id.value];
      f.s.computed += r.n;
      f.s.pending -= r.n;
      if (f.s.pending == 0) {  // sampled a token
        f.generated++;
        f.s.pending = 1;
      }
    }
    for (auto it = running.begin(); it != running.end();) {
      Fake& f = all[*it];
      if (f.generated >= f.max_tokens) {
        free_blocks += f.s.kv_blocks;
        all.erase(*it);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_TRUE(all.empty());
  EXPECT_EQ(free_blocks, 24);
}

// The scheduler's device-tier model against DevicePool itself: over random steps, every predicted
// acquire outcome is what the pool answers, and the residents (LRU order) agree afterwards.
TEST(Scheduler, DeviceTierModelMatchesDevicePool) {
  testutil::RandomLlamaSpec spec;
  DevicePoolConfig pc;
  pc.n_slots = 1;
  pc.max_rank = 8;
  pc.page_rank = 1;
  pc.floats_per_rank = lora_floats_per_rank(testutil::config_of(spec));
  DevicePool pool(pc);
  const std::vector<int> all_modules = {0, 1, 2, 3, 4, 5, 6};
  std::vector<std::shared_ptr<LoraAdapter>> adapters;
  std::vector<std::string> keys;
  for (int i = 0; i < 6; ++i) {
    const int rank = std::vector<int>{2, 4, 8, 2, 6, 4}[static_cast<size_t>(i)];
    adapters.push_back(testutil::random_adapter(spec, "a" + std::to_string(i), rank, all_modules, 1.0f, 50 + i));
    keys.push_back("a" + std::to_string(i) + "@sig");
  }
  std::mt19937 rng(11);
  int acquires = 0, refused = 0;
  for (int step = 0; step < 200; ++step) {
    SchedulerState st = state(1000, 64, 16, 1000);
    st.adapter_pages_total = pool.n_pages();
    st.resident_adapters = pool.residents();
    std::map<uint64_t, int> which;  // request -> adapter index
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int r = 1; r <= n; ++r) {
      const int a = static_cast<int>(rng() % adapters.size());
      which[static_cast<uint64_t>(r)] = a;
      st.waiting.push_back(seq(static_cast<uint64_t>(r), 4, 0, 0, pool.id_of(keys[static_cast<size_t>(a)]).value,
                               pool.pages_for(*adapters[static_cast<size_t>(a)])));
    }
    StepPlan p = plan(st);
    for (const SchedOp& op : p.ops) {
      if (op.kind != SchedOp::Kind::kAcquireAdapter) continue;
      const size_t a = static_cast<size_t>(which[op.id.value]);
      auto got = pool.acquire(keys[a], adapters[a]);
      ASSERT_EQ(got.is_ok(), op.ok) << "step " << step << " request " << op.id.value;
      if (got.is_ok()) {
        EXPECT_EQ(got.value()->id, pool.id_of(keys[a]));
      }
      acquires++;
      refused += !op.ok;
    }
    pool.unpin_all();
  }
  EXPECT_GT(refused, 0);  // the random steps did hit a full tier
  EXPECT_GT(acquires, refused);
}

TEST(Scheduler, IdsAreDistinctTypes) {
  static_assert(!std::is_convertible_v<uint64_t, RequestId>);
  static_assert(!std::is_convertible_v<RequestId, uint64_t>);
  static_assert(!std::is_convertible_v<RequestId, AdapterId>);
  static_assert(!std::is_same_v<RequestId, AdapterId>);
  EXPECT_EQ(RequestId(3), RequestId(3));
  EXPECT_LT(RequestId(2), RequestId(3));
  EXPECT_FALSE(static_cast<bool>(AdapterId()));
  EXPECT_EQ(std::hash<RequestId>()(RequestId(5)), std::hash<RequestId>()(RequestId(5)));
}

}  // namespace
}  // namespace lpx
