// prepack_weights: one owned buffer for every repacked matrix, 16-row groups repacked in parallel.
#include "model/prepack.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/mmap_file.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace lpx {

bool prepack_wanted() {
  return std::strcmp(kernels::bf16_gemm_engine(), "avx512bf16") == 0 &&
         kernels::matmul_precision() == kernels::MatmulPrecision::kBf16Dot;
}

Result<int> prepack_weights(ModelWeights& w, ThreadPool* pool) {
  if (w.owned) return invalid_argument("prepack_weights: weights already transformed (q8 or prepacked)");
  ThreadPool& tp = pool != nullptr ? *pool : ThreadPool::global();
  // A tied lm_head is left out: the table is also read row by row by the embedding lookup.
  std::vector<std::pair<WeightRef*, size_t>> jobs;
  size_t total = 0;
  for (WeightRef* r : projection_matrices(w)) {
    if (r == &w.lm_head && w.lm_head_tied) continue;
    if (!r->present() || r->dtype != DType::kBF16 || r->shape.size() != 2 || r->rows() % 16 != 0) continue;
    jobs.emplace_back(r, total);
    total += static_cast<size_t>(r->rows() / 16 * bf16i16_group_bytes(r->cols()));
  }
  if (jobs.empty()) return 0;
  std::shared_ptr<uint8_t[]> buf(new uint8_t[total]);  // every byte is written
  for (auto& [r, off] : jobs) {
    const int64_t N = r->rows(), K = r->cols(), gb = bf16i16_group_bytes(K);
    const auto* src = static_cast<const uint16_t*>(r->data);
    uint8_t* dst = buf.get() + off;
    tp.parallel_for(
        N / 16, [&](int64_t g0, int64_t g1) { pack_bf16_i16(src + g0 * 16 * K, (g1 - g0) * 16, K, K, dst + g0 * gb); },
        4);
    release_pages(r->data, r->nbytes);
    r->data = dst;
    r->dtype = DType::kBF16I16;
    r->nbytes = static_cast<size_t>(N / 16 * gb);
  }
  w.owned = std::move(buf);
  return static_cast<int>(jobs.size());
}

}  // namespace lpx
