// The BPE model (see bpe.h).
#include "text/tokenizer/bpe.h"

#include "core/log.h"

namespace lpx::tok {

Status build_bpe(const Ctx& ctx, const Json& j, CapturedModel& cap, BpeModel* m) {
  const std::string where = "model";
  if (!j.is_object()) return ctx.bad(where, "\"model\" must be an object");
  std::string type = type_of(j);
  if (type.empty()) {
    if (j.contains("merges"))
      type = "BPE";
    else
      return ctx.bad(where, "model without a \"type\"");
  }
  if (type != "BPE") {
    return ctx.unsupported_here(where + ".type", "model type '" + type + "' is not supported (only BPE)");
  }
  if (!cap.has_vocab) {
    auto vit = j.find("vocab");
    if (vit == j.end() || vit->is_null()) return ctx.bad(where, "missing \"vocab\"");
    return ctx.bad(where + ".vocab", "must be an object {token: id}");
  }
  m->vocab.reserve(cap.vocab.size() * 2);
  int64_t max_id = -1;
  for (auto& [tok, id] : cap.vocab) {
    if (id < 0 || id > kMaxTokenId) {
      return ctx.bad(where + ".vocab", "id " + std::to_string(id) + " of token '" + tok + "' is out of range");
    }
    max_id = std::max(max_id, id);
    m->vocab[std::move(tok)] = static_cast<int32_t>(id);
  }
  cap.vocab.clear();
  cap.vocab.shrink_to_fit();
  m->vocab_r.assign(static_cast<size_t>(max_id + 1), std::string());
  m->has_id.assign(static_cast<size_t>(max_id + 1), 0);
  for (const auto& [tok, id] : m->vocab) {
    m->vocab_r[id] = tok;
    m->has_id[id] = 1;
  }

  const std::string unk = get_string(j, "unk_token", "");
  if (!unk.empty()) {
    if (auto id = m->find(unk))
      m->unk_id = *id;
    else
      LPX_LOG_WARN(ctx.name + ": model.unk_token '" + unk + "' is not in the vocab; unknown characters are dropped");
  }
  m->fuse_unk = get_bool(j, "fuse_unk", false);
  m->byte_fallback = get_bool(j, "byte_fallback", false);
  m->ignore_merges = get_bool(j, "ignore_merges", false);
  m->continuing_subword_prefix = get_string(j, "continuing_subword_prefix", "");
  m->end_of_word_suffix = get_string(j, "end_of_word_suffix", "");
  if (j.contains("dropout") && !j.at("dropout").is_null() && j.at("dropout").get<double>() > 0.0) {
    LPX_LOG_WARN(ctx.name + ": model.dropout is ignored (deterministic inference)");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto id = m->find(name);
    m->byte_ids[b] = id ? *id : -1;
  }

  if (!cap.has_merges) {
    auto mit = j.find("merges");
    if (mit != j.end() && !mit->is_null()) return ctx.bad(where + ".merges", "must be an array");
    m->init_metaspace_split();
    return Status::ok();
  }
  m->merges.reserve(cap.merges.size());
  const size_t prefix_len = m->continuing_subword_prefix.size();
  std::string joined;
  for (size_t r = 0; r < cap.merges.size(); ++r) {
    std::string_view a, b;
    if (cap.merge_is_line[r]) {
      const std::string& line = cap.merges[r].first;
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        return ctx.bad(where + ".merges[" + std::to_string(r) + "]",
                       "merge \"" + line +
                           "\" is not two tokens separated by one space (a vocab token "
                           "containing a space must use the [\"a\", \"b\"] form)");
      }
      a = std::string_view(line).substr(0, sp);
      b = std::string_view(line).substr(sp + 1);
    } else {
      a = cap.merges[r].first;
      b = cap.merges[r].second;
    }
    const auto ia = m->find(a);
    if (!ia)
      return ctx.bad(where + ".merges[" + std::to_string(r) + "]",
                     "merge token '" + std::string(a) + "' is not in the vocab");
    const auto ib = m->find(b);
    if (!ib)
      return ctx.bad(where + ".merges[" + std::to_string(r) + "]",
                     "merge token '" + std::string(b) + "' is not in the vocab");
    joined.assign(a);
    joined.append(b.substr(std::min(prefix_len, b.size())));
    const auto ij = m->find(joined);
    if (!ij)
      return ctx.bad(where + ".merges[" + std::to_string(r) + "]", "merged token '" + joined + "' is not in the vocab");
    m->merges.insert(*ia, *ib, static_cast<int32_t>(r), *ij);
  }
  m->init_metaspace_split();
  return Status::ok();
}

}  // namespace lpx::tok
