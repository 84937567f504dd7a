// quantize_weights_q8: per matrix, rows are widened to f32 and quantized in parallel into one
// owned buffer; only when every matrix succeeded are the WeightRefs pointed at the copies (so an
// error leaves `w` as it was) and the source pages released.
#include "model/quantize.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/mmap_file.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace lpx {
namespace {

// Largest |w| a q8 block represents without clamping: 127 * the largest f16 scale.
constexpr float kQ8MaxAbs = 127.0f * 65504.0f;

bool quantizable(const WeightRef& r) {
  return r.present() && r.shape.size() == 2 && dtype_is_float(r.dtype) && r.cols() % kQ8Group == 0;
}

}  // namespace

Result<QuantizeReport> quantize_weights_q8(ModelWeights& w, ThreadPool* pool) {
  const auto t0 = std::chrono::steady_clock::now();
  ThreadPool& tp = pool != nullptr ? *pool : ThreadPool::global();
  QuantizeReport rep;

  std::vector<WeightRef*> mats = projection_matrices(w);  // a tied lm_head: q8 serves the lookups too

  struct Job {
    WeightRef* ref;
    size_t offset;
  };
  std::vector<Job> jobs;
  size_t total = 0;
  for (WeightRef* r : mats) {
    if (!quantizable(*r)) {
      ++rep.kept;
      continue;
    }
    jobs.push_back({r, total});
    total += static_cast<size_t>(r->rows() * dtype_row_bytes(DType::kQ8, r->cols()));
  }
  std::shared_ptr<uint8_t[]> buf(new uint8_t[std::max<size_t>(total, 1)]);  // not zeroed: every byte is written

  std::vector<Job> done;
  for (const Job& j : jobs) {
    const WeightRef& r = *j.ref;
    const int64_t N = r.rows(), K = r.cols();
    const int64_t rb = dtype_row_bytes(DType::kQ8, K);
    const DType src_t = r.dtype;
    const size_t src_rb = static_cast<size_t>(K) * dtype_size(r.dtype);
    const auto* src = static_cast<const uint8_t*>(r.data);
    uint8_t* dst = buf.get() + j.offset;
    std::atomic<int64_t> nonfinite_row{-1};
    std::atomic<bool> too_large{false};
    tp.parallel_for(
        N,
        [&](int64_t n0, int64_t n1) {
          std::vector<float> row(static_cast<size_t>(K));
          for (int64_t n = n0; n < n1; ++n) {
            kernels::to_f32(src + static_cast<size_t>(n) * src_rb, src_t, row.data(), static_cast<size_t>(K));
            float amax = 0.0f;
            bool bad = false;
            for (float v : row) {
              const float a = std::fabs(v);
              amax = a > amax ? a : amax;
              bad |= !(a <= std::numeric_limits<float>::max());
            }
            if (bad) nonfinite_row.store(n);
            if (amax > kQ8MaxAbs) too_large.store(true);
            quantize_row_q8(row.data(), K, dst + n * rb);
          }
        },
        8);
    if (nonfinite_row.load() >= 0) {
      return invalid_argument(r.name + ": row " + std::to_string(nonfinite_row.load()) +
                              " holds a non-finite value; the weights cannot be quantized to q8");
    }
    if (too_large.load()) {  // would clamp: keep this matrix as stored
      ++rep.kept;
      continue;
    }
    done.push_back(j);
  }

  for (const Job& j : done) {
    WeightRef& r = *j.ref;
    const size_t q8_bytes = static_cast<size_t>(r.rows() * dtype_row_bytes(DType::kQ8, r.cols()));
    rep.bytes_before += r.nbytes;
    rep.bytes_after += q8_bytes;
    release_pages(r.data, r.nbytes);
    r.data = buf.get() + j.offset;
    r.dtype = DType::kQ8;
    r.nbytes = q8_bytes;
    ++rep.quantized;
  }
  if (w.lm_head_tied && w.lm_head.dtype == DType::kQ8) w.embed = w.lm_head;  // one q8 table for both
  w.total_bytes = w.total_bytes - rep.bytes_before + rep.bytes_after;
  w.owned = std::move(buf);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace lpx
