// ThreadPool: fixed worker threads running static-chunked parallel_for with the caller participating.
//
// Thread-safety: parallel_for/run_on_all may be called from any thread; concurrent callers on the
// same pool are serialised (one region runs at a time). A call made from inside a region of any
// pool (nested) runs inline on the calling thread. set_num_threads/set_spin_us must not race with a
// region on the same pool (call them at startup). The task function must not throw (noexcept
// boundary: an escaping exception terminates the process).
// Cost: a region wakes the workers through a shared generation counter; workers spin
// (`spin_us`, default 100 us) before sleeping on a condition variable, so back-to-back regions
// (thousands per second) cost well under a microsecond each. Chunks are static (chunk t belongs
// to thread t), but the caller runs any chunk whose worker has not started it by the time the
// caller's own chunk is done, so a late or descheduled worker delays nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace lpx {

class ThreadPool {
 public:
  // num_threads counts the caller: 1 means "no workers, everything inline".
  // 0 means the default: set_default_num_threads's count if set (> 0), else
  // std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Total threads used by a region, including the caller (>= 1).
  int num_threads() const { return num_threads_; }
  // Restarts the workers with n total threads (n <= 0: the default above).
  void set_num_threads(int n);
  // How long idle workers / a waiting caller spin before sleeping, in microseconds (0: sleep at once).
  void set_spin_us(int us) { spin_us_.store(us < 0 ? 0 : us, std::memory_order_relaxed); }

  // Runs fn(begin, end) over [0, n) split into contiguous chunks, one per thread, at most
  // ceil(n / min_chunk) chunks (so tiny ranges stay on the caller). Chunk t is
  // [n*t/T, n*(t+1)/T). Returns when every chunk is done. n <= 0 does nothing.
  template <typename F>
  void parallel_for(int64_t n, F&& fn, int64_t min_chunk = 1) {
    if (n <= 0) return;
    using Fn = std::remove_reference_t<F>;
    run_region(n, min_chunk, &call_range<Fn>, const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Runs fn(index, count) once for each index in [0, count = num_threads()): index 0 on the
  // caller, index t normally on worker t (the caller runs it instead if that worker is late).
  template <typename F>
  void run_on_all(F&& fn) {
    auto per_thread = [&fn, this](int64_t b, int64_t) { fn(static_cast<int>(b), num_threads_); };
    parallel_for(num_threads_, per_thread);
  }

  // The process-wide default pool (created on first use with the default thread count).
  static ThreadPool& global();
  // The default thread count for pools created afterwards with 0 (global() included, if not yet
  // used); n <= 0: all cores. Call at startup (the CLI passes env LPX_NUM_THREADS here).
  static void set_default_num_threads(int n);
  // True while the calling thread is running a chunk of some pool's region.
  static bool in_region();

 private:
  using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);
  template <typename Fn>
  static void call_range(void* ctx, int64_t begin, int64_t end) {
    (*static_cast<Fn*>(ctx))(begin, end);
  }

  void run_region(int64_t n, int64_t min_chunk, RangeFn fn, void* ctx);
  void start_workers(int total_threads);
  void stop_workers();
  void worker_main(int index, uint64_t seen_generation);
  // Claims chunk `index` of region `gen` if still unclaimed and runs it; false if already taken.
  bool try_run_chunk(int index, uint64_t gen);

  int num_threads_ = 1;
  std::atomic<int> spin_us_{100};
  std::vector<std::thread> workers_;

  // Current region (written by the caller before publishing generation_, read by a thread only
  // after it has claimed a chunk, which keeps the region - and these fields - alive).
  RangeFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  // Per chunk: 2*gen = unclaimed in region gen, 2*gen+1 = claimed. The caller claims (steals)
  // chunks whose worker has not started yet, so a descheduled worker never stalls a region.
  std::unique_ptr<std::atomic<uint64_t>[]> chunk_state_;
  std::atomic<int> done_chunks_{0};

  std::mutex region_mu_;                 // one region at a time per pool
  std::atomic<uint64_t> generation_{0};  // bumped to publish a region
  std::atomic<bool> stop_{false};
  std::mutex sleep_mu_;
  std::condition_variable wake_cv_;  // idle workers sleep here
  std::condition_variable done_cv_;  // the caller sleeps here
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
};

}  // namespace lpx
