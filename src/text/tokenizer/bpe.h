// The BPE model: vocabulary, merge ranks, word cache and the byte-fallback / ignore_merges rules.
// Internal to text/tokenizer.cpp; the public API is text/tokenizer.h.
#pragma once

#include <mutex>
#include <shared_mutex>

#include "text/tokenizer/common.h"
#include "text/tokenizer/model_parse.h"

namespace lpx::tok {

// Open-addressing hash map (id_a, id_b) -> (rank, merged id).
class MergeMap {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, {0, 0});
    mask_ = cap - 1;
  }
  void insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
    if ((size_ + 1) * 2 > keys_.size()) grow();
    const uint64_t key = make_key(a, b);
    size_t i = slot(key);
    while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
    if (keys_[i] == kEmpty) ++size_;
    keys_[i] = key;
    vals_[i] = {rank, id};
  }
  // Returns {rank, merged id} or nullptr.
  const std::pair<int32_t, int32_t>* find(int32_t a, int32_t b) const {
    if (size_ == 0) return nullptr;
    const uint64_t key = make_key(a, b);
    size_t i = slot(key);
    while (true) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  void grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<std::pair<int32_t, int32_t>> old_vals = std::move(vals_);
    reserve(std::max<size_t>(16, old_keys.size()));
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == kEmpty) continue;
      insert(static_cast<int32_t>(old_keys[i] >> 32), static_cast<int32_t>(old_keys[i] & 0xFFFFFFFFu),
             old_vals[i].first, old_vals[i].second);
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<std::pair<int32_t, int32_t>> vals_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Cache of word -> ids for recently seen pre-tokens. Readers share a lock; a writer that cannot
// get the lock immediately simply skips caching.
class WordCache {
 public:
  static constexpr size_t kCapacity = 10000;
  static constexpr size_t kMaxWordBytes = 256;

  bool lookup(std::string_view word, std::vector<int32_t>& out) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(word);
    if (it == map_.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(std::string_view word, const int32_t* ids, size_t n) {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    if (map_.size() >= kCapacity) map_.clear();
    map_.emplace(std::string(word), std::vector<int32_t>(ids, ids + n));
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map_;
};

class BpeModel {
 public:
  StringIdMap vocab;
  std::vector<std::string> vocab_r;  // id -> token ("" where no token has that id)
  std::vector<uint8_t> has_id;       // 1 where vocab_r[id] is a real token
  MergeMap merges;
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  std::array<int32_t, 256> byte_ids{};  // id of "<0xNN>", -1 if absent
  mutable WordCache cache;

  std::optional<int32_t> find(std::string_view token) const {
    auto it = vocab.find(token);
    if (it == vocab.end()) return std::nullopt;
    return it->second;
  }

  // True when a word may be cut before every U+2581 that follows another character without
  // changing the result: no vocab token spans such a point, so no merge can cross it. This makes
  // SentencePiece-style BPE (one "word" per text piece) fast and cache-friendly.
  bool split_at_metaspace = false;

  void init_metaspace_split() {
    static constexpr std::string_view kMeta = "\xE2\x96\x81";
    split_at_metaspace = false;
    if (ignore_merges || !continuing_subword_prefix.empty() || !end_of_word_suffix.empty()) return;
    if (!find(kMeta)) return;
    for (const auto& [tok, id] : vocab) {
      for (size_t p = tok.find(kMeta, 1); p != std::string::npos; p = tok.find(kMeta, p + 1)) {
        if (p < kMeta.size() || tok.compare(p - kMeta.size(), kMeta.size(), kMeta) != 0) return;
      }
    }
    split_at_metaspace = true;
  }

  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
      if (auto id = find(word)) {
        out.push_back(*id);
        return;
      }
    }
    if (split_at_metaspace) {
      static constexpr std::string_view kMeta = "\xE2\x96\x81";
      size_t seg = 0;
      for (size_t p = word.find(kMeta, 1); p != std::string_view::npos; p = word.find(kMeta, p + 1)) {
        if (p > seg && (p < kMeta.size() || word.compare(p - kMeta.size(), kMeta.size(), kMeta) != 0)) {
          tokenize_segment(word.substr(seg, p - seg), out);
          seg = p;
        }
      }
      tokenize_segment(word.substr(seg), out);
      return;
    }
    tokenize_segment(word, out);
  }

 private:
  void tokenize_segment(std::string_view word, std::vector<int32_t>& out) const {
    const bool cacheable = word.size() < WordCache::kMaxWordBytes;
    if (cacheable && cache.lookup(word, out)) return;
    const size_t before = out.size();
    merge_word(word, out);
    if (cacheable) cache.insert(word, out.data() + before, out.size() - before);
  }

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
  };

  void merge_word(std::string_view w, std::vector<int32_t>& out) const {
    std::vector<Symbol> sym;
    sym.reserve(w.size());
    auto add = [&](int32_t id) {
      const auto n = static_cast<int32_t>(sym.size());
      sym.push_back({id, n - 1, n + 1, 1});
    };
    int32_t pending_unk = -1;  // id of a pending (possibly fused) unknown run, -1 if none
    std::string buf;
    size_t i = 0;
    while (i < w.size()) {
      const size_t n = utf8_len_at(w, i);
      const bool is_first = i == 0;
      const bool is_last = i + n >= w.size();
      std::string_view piece = w.substr(i, n);
      if ((!is_first && !continuing_subword_prefix.empty()) || (is_last && !end_of_word_suffix.empty())) {
        buf.clear();
        if (!is_first) buf += continuing_subword_prefix;
        buf += piece;
        if (is_last) buf += end_of_word_suffix;
        piece = buf;
      }
      i += n;
      if (auto id = find(piece)) {
        if (pending_unk >= 0) {
          add(pending_unk);
          pending_unk = -1;
        }
        add(*id);
        continue;
      }
      if (byte_fallback) {
        bool all = true;
        for (unsigned char b : piece) all = all && byte_ids[b] >= 0;
        if (all) {
          if (pending_unk >= 0) {
            add(pending_unk);
            pending_unk = -1;
          }
          for (unsigned char b : piece) add(byte_ids[b]);
          continue;
        }
      }
      if (unk_id) {
        if (pending_unk >= 0 && !fuse_unk) add(pending_unk);
        pending_unk = *unk_id;
      }
    }
    if (pending_unk >= 0) add(pending_unk);
    if (sym.empty()) return;
    sym.back().next = -1;

    // Lowest rank first; ties go to the leftmost position.
    auto worse = [](const Candidate& a, const Candidate& b) {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    std::vector<Candidate> heap;
    heap.reserve(sym.size() * 2);
    for (size_t k = 0; k + 1 < sym.size(); ++k) {
      if (const auto* m = merges.find(sym[k].id, sym[k + 1].id)) {
        heap.push_back({m->first, static_cast<int32_t>(k), m->second});
      }
    }
    std::make_heap(heap.begin(), heap.end(), worse);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& cur = sym[top.pos];
      if (!cur.alive || cur.next < 0) continue;
      Symbol& right = sym[cur.next];
      const auto* m = merges.find(cur.id, right.id);
      if (m == nullptr || m->second != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      right.alive = 0;
      cur.next = right.next;
      if (cur.next >= 0) sym[cur.next].prev = top.pos;
      if (cur.prev >= 0) {
        if (const auto* pm = merges.find(sym[cur.prev].id, cur.id)) {
          heap.push_back({pm->first, cur.prev, pm->second});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
      if (cur.next >= 0) {
        if (const auto* nm = merges.find(cur.id, sym[cur.next].id)) {
          heap.push_back({nm->first, top.pos, nm->second});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
    }
    for (int32_t k = 0; k >= 0; k = sym[k].next) out.push_back(sym[k].id);
  }
};

// The largest id we accept (guards against absurd allocations from a corrupt file).
constexpr int64_t kMaxTokenId = (int64_t{1} << 26) - 1;

Status build_bpe(const Ctx& ctx, const Json& j, CapturedModel& cap, BpeModel* m);

}  // namespace lpx::tok
