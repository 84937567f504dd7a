// Tests for ThreadPool: coverage of every index, chunking, nesting, concurrent callers, resizing.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace lpx {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 64, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        ASSERT_LE(0, b);
        ASSERT_LE(b, e);
        ASSERT_LE(e, n);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, StaticContiguousChunks) {
  ThreadPool pool(3);
  std::vector<std::pair<int64_t, int64_t>> chunks;
  std::mutex mu;
  pool.parallel_for(10, [&](int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.emplace_back(b, e);
  });
  std::sort(chunks.begin(), chunks.end());
  ASSERT_EQ(chunks.size(), 3u);
  // Chunk t is [n*t/T, n*(t+1)/T).
  EXPECT_EQ(chunks[0], std::make_pair(int64_t{0}, int64_t{3}));
  EXPECT_EQ(chunks[1], std::make_pair(int64_t{3}, int64_t{6}));
  EXPECT_EQ(chunks[2], std::make_pair(int64_t{6}, int64_t{10}));
}

TEST(ThreadPool, MinChunkKeepsSmallRangesOnCaller) {
  ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  std::atomic<int> calls{0};
  bool on_caller = false;
  pool.parallel_for(
      100,
      [&](int64_t b, int64_t e) {
        calls.fetch_add(1);
        on_caller = std::this_thread::get_id() == caller;
        EXPECT_EQ(b, 0);
        EXPECT_EQ(e, 100);
      },
      1000);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(on_caller);
}

TEST(ThreadPool, UsesWorkersAndCaller) {
  ThreadPool pool(2);
  // The caller always runs chunk 0; a worker runs chunk 1 unless it is late (then the caller
  // steals it), so over many regions a worker must show up at least once.
  const auto caller = std::this_thread::get_id();
  bool worker_seen = false;
  for (int iter = 0; iter < 1000 && !worker_seen; ++iter) {
    std::thread::id ids[2];
    pool.parallel_for(2, [&](int64_t b, int64_t) {
      ids[b] = std::this_thread::get_id();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
    ASSERT_EQ(ids[0], caller);
    worker_seen = ids[1] != caller;
  }
  EXPECT_TRUE(worker_seen);
}

TEST(ThreadPool, NestedCallRunsInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.parallel_for(4, [&](int64_t b, int64_t e) {
    EXPECT_TRUE(ThreadPool::in_region());
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(10, [&](int64_t b2, int64_t e2) { total.fetch_add(e2 - b2); });
    }
  });
  EXPECT_EQ(total.load(), 40);
  EXPECT_FALSE(ThreadPool::in_region());
}

TEST(ThreadPool, ManyBackToBackRegions) {
  ThreadPool pool(2);
  int64_t sum = 0;
  std::vector<int64_t> part(2);
  for (int iter = 0; iter < 20000; ++iter) {
    pool.parallel_for(2, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) part[static_cast<size_t>(i)] = iter + i;
    });
    sum += part[0] + part[1];
  }
  // sum over iter of (2*iter + 1)
  EXPECT_EQ(sum, int64_t{20000} * 20000);
}

TEST(ThreadPool, SleepingWorkersWakeUp) {
  ThreadPool pool(2);
  pool.set_spin_us(0);  // always sleep
  for (int iter = 0; iter < 200; ++iter) {
    std::atomic<int> n{0};
    pool.parallel_for(2, [&](int64_t b, int64_t e) { n.fetch_add(static_cast<int>(e - b)); });
    ASSERT_EQ(n.load(), 2);
    if (iter % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int i = 0; i < 2000; ++i) {
      pool.parallel_for(8, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
    }
  };
  std::thread t1(caller), t2(caller);
  t1.join();
  t2.join();
  EXPECT_EQ(total.load(), 2 * 2000 * 8);
}

TEST(ThreadPool, ResizeAndRunOnAll) {
  ThreadPool pool(1);
  for (int threads : {3, 1, 2}) {
    pool.set_num_threads(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    std::vector<std::atomic<int>> seen(static_cast<size_t>(threads));
    pool.run_on_all([&](int idx, int count) {
      EXPECT_EQ(count, threads);
      seen[static_cast<size_t>(idx)].fetch_add(1);
    });
    for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  }
}

TEST(ThreadPool, GlobalPoolExists) {
  ThreadPool& g = ThreadPool::global();
  EXPECT_GE(g.num_threads(), 1);
  std::atomic<int64_t> n{0};
  g.parallel_for(100, [&](int64_t b, int64_t e) { n.fetch_add(e - b); });
  EXPECT_EQ(n.load(), 100);
}

}  // namespace
}  // namespace lpx
