// The step scheduler (see scheduler.h): a simulation of one step's decisions over plain data.
#include "engine/scheduler.h"

#include <algorithm>
#include <deque>

namespace lpx {
namespace {

class Planner {
 public:
  explicit Planner(const SchedulerState& st)
      : budget_(st.max_batch_tokens),
        max_num_seqs_(st.max_num_seqs),
        block_size_(std::max(1, st.kv_block_size)),
        free_blocks_(st.kv_free_blocks),
        pages_total_(st.adapter_pages_total) {
    for (const SchedSeq& s : st.running) {
      running_.push_back(static_cast<int>(seqs_.size()));
      seqs_.push_back(Seq{s, true});
    }
    for (const SchedSeq& s : st.waiting) {
      waiting_.push_back(static_cast<int>(seqs_.size()));
      seqs_.push_back(Seq{s, false});
    }
    for (const DevicePool::Resident& r : st.resident_adapters) lru_.push_back(Resident{r.id, r.pages, false});
  }

  StepPlan run() {
    // Decode tokens first (1 each), oldest first, so running requests keep streaming.
    for (int i : std::vector<int>(running_)) {
      Seq& q = seqs_[i];
      if (!q.running || q.s.pending != 1 || budget_ <= 0) continue;
      if (!acquire_adapter(q)) continue;  // its adapter waits for room in the device tier
      if (!try_reserve(i, 1)) {
        preempt(i);  // not even by preempting others: it gives up its own blocks
        continue;
      }
      schedule(q, 1);
    }
    // Then prefill chunks of running sequences mid-prompt.
    for (int i : std::vector<int>(running_)) {
      Seq& q = seqs_[i];
      const int n = std::min(q.s.pending, budget_);
      if (!q.running || q.s.pending <= 1 || n <= 0 || q.planned) continue;
      if (!acquire_adapter(q)) continue;
      if (!try_reserve(i, n)) continue;
      schedule(q, n);
    }
    // Then admit waiting requests (FIFO) while there is room. A request whose adapter finds no
    // room is passed over (it keeps its place in the queue); one whose KV blocks do not fit stops
    // admission (no preemption for newcomers).
    for (auto it = waiting_.begin();
         it != waiting_.end() && budget_ > 0 && static_cast<int>(running_.size()) < max_num_seqs_;) {
      const int i = *it;
      Seq& q = seqs_[i];
      const int n = std::min(q.s.pending, budget_);
      if (!acquire_adapter(q)) {
        ++it;
        continue;
      }
      if (!reserve(q, n)) break;
      it = waiting_.erase(it);
      q.running = true;
      running_.push_back(i);
      out_.ops.push_back(SchedOp{SchedOp::Kind::kAdmit, q.s.id, 0, true});
      out_.admitted.push_back(q.s.id);
      schedule(q, n);
    }
    if (out_.runs.empty() && !waiting_.empty() && running_.empty()) out_.fail = seqs_[waiting_.front()].s.id;
    for (int i : running_) out_.running_after.push_back(seqs_[i].s.id);
    for (int i : waiting_) out_.waiting_after.push_back(seqs_[i].s.id);
    return std::move(out_);
  }

 private:
  struct Seq {
    SchedSeq s;
    bool running = false;
    bool planned = false;   // in this step's runs
    bool acquired = false;  // its adapter is pinned for this step
  };
  struct Resident {
    AdapterId id;
    int pages = 0;
    bool pinned = false;
  };

  int blocks_for(int tokens) const { return (tokens + block_size_ - 1) / block_size_; }

  // KvCache::reserve: all needed blocks or none.
  bool reserve(Seq& q, int n) {
    const int total = q.s.computed + n;
    const int need = blocks_for(total) - q.s.kv_blocks;
    if (need > free_blocks_) return false;
    if (need > 0) {
      free_blocks_ -= need;
      q.s.kv_blocks += need;
    }
    out_.ops.push_back(SchedOp{SchedOp::Kind::kReserve, q.s.id, total, true});
    return true;
  }

  // Reserves n more tokens for seqs_[i], preempting the most recently admitted running sequence
  // not yet in the step while the pool is short.
  bool try_reserve(int i, int n) {
    while (!reserve(seqs_[i], n)) {
      int victim = -1;
      for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
        const Seq& c = seqs_[*it];
        if (*it != i && c.running && !c.planned) {
          victim = *it;
          break;
        }
      }
      if (victim < 0) return false;
      preempt(victim);
    }
    return true;
  }

  // Recompute later: drop the KV blocks, keep the tokens; back to the front of the queue.
  void preempt(int i) {
    Seq& q = seqs_[i];
    free_blocks_ += q.s.kv_blocks;
    q.s.kv_blocks = 0;
    q.s.pending += q.s.computed;
    q.s.computed = 0;
    q.running = false;
    running_.erase(std::remove(running_.begin(), running_.end(), i), running_.end());
    waiting_.push_front(i);
    out_.ops.push_back(SchedOp{SchedOp::Kind::kPreempt, q.s.id, 0, true});
    out_.preempted.push_back(q.s.id);
  }

  // DevicePool::acquire, by its accounting: a resident adapter is a hit; otherwise the least
  // recently used unpinned adapters are evicted until its pages are free, or it fails when only
  // pinned ones are left (having evicted the others).
  bool acquire_adapter(Seq& q) {
    if (!q.s.adapter || q.acquired) return true;
    const bool ok = pool_acquire(q.s.adapter, q.s.adapter_pages);
    out_.ops.push_back(SchedOp{SchedOp::Kind::kAcquireAdapter, q.s.id, 0, ok});
    if (ok) {
      q.acquired = true;
    } else if (std::find(out_.adapter_waiting.begin(), out_.adapter_waiting.end(), q.s.id) ==
               out_.adapter_waiting.end()) {
      out_.adapter_waiting.push_back(q.s.id);
    }
    return ok;
  }

  bool pool_acquire(AdapterId id, int pages) {
    auto hit = std::find_if(lru_.begin(), lru_.end(), [&](const Resident& r) { return r.id == id; });
    if (hit != lru_.end()) {
      Resident r = *hit;
      r.pinned = true;
      lru_.erase(hit);
      lru_.push_back(r);
      return true;
    }
    if (pages > pages_total_) return false;
    auto used = [&] {
      int u = 0;
      for (const Resident& r : lru_) u += r.pages;
      return u;
    };
    while (pages_total_ - used() < pages) {
      auto victim = std::find_if(lru_.begin(), lru_.end(), [](const Resident& r) { return !r.pinned; });
      if (victim == lru_.end()) return false;
      lru_.erase(victim);
    }
    lru_.push_back(Resident{id, pages, true});
    return true;
  }

  void schedule(Seq& q, int n) {
    q.planned = true;  // its pending/computed counts change only when the step has run
    out_.runs.push_back(StepRun{q.s.id, n});
    out_.tokens += n;
    budget_ -= n;
  }

  int budget_;
  int max_num_seqs_;
  int block_size_;
  int free_blocks_;
  int pages_total_;
  std::vector<Seq> seqs_;
  std::vector<int> running_;  // indices into seqs_, admission order
  std::deque<int> waiting_;
  std::vector<Resident> lru_;  // front = least recently used
  StepPlan out_;
};

}  // namespace

StepPlan plan(const SchedulerState& state) { return Planner(state).run(); }

}  // namespace lpx
