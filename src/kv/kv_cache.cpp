// Paged KV cache implementation.
#include "kv/kv_cache.h"

#include "core/check.h"

namespace lpx {

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  LPX_CHECK(config.n_layers > 0 && config.kv_dim() > 0 && config.block_size > 0 && config.n_blocks >= 0);
  storage_.assign(static_cast<size_t>(config.n_layers) * config.n_blocks * 2 * config.block_size * config.kv_dim(),
                  0.0f);
  free_.reserve(config.n_blocks);
  for (int b = config.n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

Status KvCache::reserve(SeqKv& seq, int n_tokens_total) {
  int need = blocks_for(n_tokens_total) - static_cast<int>(seq.blocks.size());
  if (need <= 0) return Status::ok();
  if (need > n_free_blocks()) {
    return resource_exhausted("KV cache full: need " + std::to_string(need) + " more blocks, " +
                              std::to_string(n_free_blocks()) + " free");
  }
  for (int i = 0; i < need; ++i) {
    seq.blocks.push_back(free_.back());
    free_.pop_back();
  }
  return Status::ok();
}

void KvCache::release(SeqKv& seq) {
  for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it) free_.push_back(*it);
  seq.blocks.clear();
  seq.n_tokens = 0;
}

float* KvCache::k_row(int layer, const SeqKv& seq, int pos) {
  int32_t block = seq.blocks[pos / config_.block_size];
  return base(layer, block, 0) + static_cast<size_t>(pos % config_.block_size) * config_.kv_dim();
}

float* KvCache::v_row(int layer, const SeqKv& seq, int pos) {
  int32_t block = seq.blocks[pos / config_.block_size];
  return base(layer, block, 1) + static_cast<size_t>(pos % config_.block_size) * config_.kv_dim();
}

}  // namespace lpx
