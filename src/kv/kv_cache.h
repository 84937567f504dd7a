// Paged KV cache: a preallocated pool of fixed-size blocks and per-sequence block tables.
// Owned by the engine thread (not thread-safe); kernels read/write rows through raw pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace lpx {

struct KvCacheConfig {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;  // tokens per block
  int n_blocks = 0;     // total blocks in the pool
  int kv_dim() const { return n_kv_heads * head_dim; }
  // Bytes of one block across all layers, K and V (f32).
  size_t bytes_per_block() const { return static_cast<size_t>(n_layers) * 2 * block_size * kv_dim() * sizeof(float); }
};

// A sequence's view of the cache: which blocks hold its tokens, in order.
struct SeqKv {
  std::vector<int32_t> blocks;
  int32_t n_tokens = 0;  // tokens whose K/V are stored (positions 0..n_tokens-1)
};

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& config);
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheConfig& config() const { return config_; }
  int n_free_blocks() const { return static_cast<int>(free_.size()); }
  int n_blocks() const { return config_.n_blocks; }
  // Blocks needed to hold `n_tokens` tokens.
  int blocks_for(int n_tokens) const { return (n_tokens + config_.block_size - 1) / config_.block_size; }

  // Makes room for positions [0, n_tokens_total); allocates blocks as needed.
  // kResourceExhausted (and no change) when the pool has too few free blocks.
  Status reserve(SeqKv& seq, int n_tokens_total);
  // Returns all of the sequence's blocks to the pool and empties it.
  void release(SeqKv& seq);

  // Row pointers ([kv_dim] floats) for token `pos` of a sequence in `layer`.
  float* k_row(int layer, const SeqKv& seq, int pos);
  float* v_row(int layer, const SeqKv& seq, int pos);
  // Start of a block's K or V rows in `layer`: [block_size, kv_dim].
  float* k_block(int layer, int32_t block) { return base(layer, block, 0); }
  float* v_block(int layer, int32_t block) { return base(layer, block, 1); }
  size_t bytes() const { return storage_.size() * sizeof(float); }

 private:
  float* base(int layer, int32_t block, int kv) {
    size_t idx = ((static_cast<size_t>(layer) * config_.n_blocks + block) * 2 + kv) *
                 static_cast<size_t>(config_.block_size) * config_.kv_dim();
    return storage_.data() + idx;
  }

  KvCacheConfig config_;
  std::vector<float> storage_;  // [n_layers, n_blocks, 2, block_size, kv_dim]
  std::vector<int32_t> free_;   // stack of free block ids
};

}  // namespace lpx
