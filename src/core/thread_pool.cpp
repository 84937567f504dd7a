// ThreadPool implementation: generation-counter wake-up, spin-then-sleep waits, static chunks.
#include "core/thread_pool.h"

#include <chrono>

namespace lpx {
namespace {

thread_local bool tls_in_region = false;
std::atomic<int> g_default_threads{0};  // set_default_num_threads; 0 = all cores

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int default_thread_count() {
  if (int n = g_default_threads.load(); n > 0) return n;
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// Spins until pred() or spin_us elapsed; returns pred().
template <typename Pred>
bool spin_until(Pred pred, int spin_us) {
  if (pred()) return true;
  if (spin_us <= 0) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) { start_workers(num_threads); }

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(region_mu_);
  stop_workers();
  start_workers(n);
}

ThreadPool& ThreadPool::global() {
  // Intentionally leaked: kernels may run from other static destructors at exit.
  static ThreadPool* pool = new ThreadPool(0);
  return *pool;
}

bool ThreadPool::in_region() { return tls_in_region; }

void ThreadPool::set_default_num_threads(int n) { g_default_threads.store(n > 0 ? n : 0); }

void ThreadPool::start_workers(int total_threads) {
  if (total_threads <= 0) total_threads = default_thread_count();
  num_threads_ = total_threads;
  stop_.store(false);
  chunk_state_.reset(new std::atomic<uint64_t>[static_cast<size_t>(total_threads)]);
  for (int i = 0; i < total_threads; ++i) chunk_state_[i].store(1);  // claimed in no live region
  workers_.reserve(static_cast<size_t>(total_threads - 1));
  // Workers start from the current generation so an old bump (e.g. from stop) is not a region.
  const uint64_t gen = generation_.load();
  for (int i = 1; i < total_threads; ++i) workers_.emplace_back([this, i, gen] { worker_main(i, gen); });
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  num_threads_ = 1;
}

bool ThreadPool::try_run_chunk(int index, uint64_t gen) {
  uint64_t expected = 2 * gen;
  if (!chunk_state_[index].compare_exchange_strong(expected, 2 * gen + 1)) return false;
  // Claimed: region `gen` cannot finish before this chunk does, so the job fields are stable.
  const int chunks = job_chunks_;
  const int64_t begin = job_n_ * index / chunks;
  const int64_t end = job_n_ * (index + 1) / chunks;
  const bool was_in_region = tls_in_region;
  tls_in_region = true;
  if (begin < end) job_fn_(job_ctx_, begin, end);
  tls_in_region = was_in_region;
  if (done_chunks_.fetch_add(1) + 1 == chunks && caller_sleeping_.load()) {
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    done_cv_.notify_one();
  }
  return true;
}

void ThreadPool::worker_main(int index, uint64_t seen) {
  for (;;) {
    auto started = [&] { return generation_.load() != seen; };
    if (!spin_until(started, spin_us_.load(std::memory_order_relaxed))) {
      std::unique_lock<std::mutex> lock(sleep_mu_);
      sleeping_workers_.fetch_add(1);
      wake_cv_.wait(lock, started);
      sleeping_workers_.fetch_sub(1);
    }
    seen = generation_.load();
    if (stop_.load()) return;
    try_run_chunk(index, seen);
  }
}

void ThreadPool::run_region(int64_t n, int64_t min_chunk, RangeFn fn, void* ctx) {
  if (min_chunk < 1) min_chunk = 1;
  const int64_t max_chunks = (n + min_chunk - 1) / min_chunk;
  if (num_threads_ <= 1 || max_chunks <= 1 || tls_in_region) {
    fn(ctx, 0, n);
    return;
  }
  std::lock_guard<std::mutex> region_lock(region_mu_);
  if (workers_.empty()) {  // set_num_threads(1) raced in before we took the lock
    fn(ctx, 0, n);
    return;
  }
  const int chunks = static_cast<int>(max_chunks < num_threads_ ? max_chunks : num_threads_);
  const uint64_t gen = generation_.load() + 1;
  job_fn_ = fn;
  job_ctx_ = ctx;
  job_n_ = n;
  job_chunks_ = chunks;
  done_chunks_.store(0);
  for (int i = 0; i < chunks; ++i) chunk_state_[i].store(2 * gen, std::memory_order_relaxed);
  generation_.store(gen);  // publishes the job (seq_cst store orders the writes above)
  if (sleeping_workers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    wake_cv_.notify_all();
  }
  // Own chunk first, then any chunk no worker has claimed yet.
  for (int i = 0; i < chunks; ++i) try_run_chunk(i, gen);
  auto done = [&] { return done_chunks_.load() == chunks; };
  if (!spin_until(done, spin_us_.load(std::memory_order_relaxed))) {
    std::unique_lock<std::mutex> lock(sleep_mu_);
    caller_sleeping_.store(true);
    done_cv_.wait(lock, done);
    caller_sleeping_.store(false);
  }
}

}  // namespace lpx
