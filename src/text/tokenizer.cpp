// Hugging Face tokenizer.json loader and BPE tokenizer (encode, decode, streaming decode).
#include "text/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"
#include "core/utf8.h"
#include "text/tokenizer/added_tokens.h"
#include "text/tokenizer/bpe.h"
#include "text/tokenizer/common.h"
#include "text/tokenizer/decoders.h"
#include "text/tokenizer/model_parse.h"
#include "text/tokenizer/normalizers.h"
#include "text/tokenizer/post_processors.h"
#include "text/tokenizer/pre_tokenizers.h"
#include "text/unicode.h"

namespace lpx {

// The tokenizer's parts: text/tokenizer/*.h.
using namespace tok;  // NOLINT(google-build-using-namespace)

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::string name;
  BpeModel model;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  PostProcessor post;
  std::unique_ptr<Decoder> decoder;

  std::vector<AddedToken> added;  // in file order
  std::unordered_map<int32_t, size_t> added_by_id;
  StringIdMap added_by_content;
  std::unordered_map<int32_t, std::string> decode_form;  // normalized content of normalized tokens
  std::unordered_set<std::string> special_contents;
  AddedTokenMatcher raw_matcher;   // non-normalized added tokens, matched on the raw text
  AddedTokenMatcher norm_matcher;  // normalized added tokens, matched on normalized text

  TokenizerConfig config;
  std::optional<int32_t> bos, eos;
  int32_t vocab_size = 0;

  // Finds added tokens in `s` (Hugging Face AddedVocabulary::find_matches semantics).
  std::vector<AddedSplit> find_added(std::string_view s, const AddedTokenMatcher& matcher) const {
    std::vector<AddedSplit> splits;
    if (matcher.empty() || s.empty()) {
      splits.push_back({0, s.size(), -1});
      return splits;
    }
    size_t start_offset = 0;
    size_t from = 0;
    size_t ms = 0, me = 0;
    int32_t tok = -1;
    while (from < s.size() && matcher.next_match(s, from, &ms, &me, &tok)) {
      from = me;
      const AddedToken& t = added[static_cast<size_t>(tok)];
      size_t start = ms, stop = me;
      if (t.single_word) {
        const bool start_ok = start == 0 || !is_word_char(last_cp(s.substr(0, start)));
        const bool stop_ok = stop == s.size() || !is_word_char(first_cp(s.substr(stop)));
        if (!start_ok || !stop_ok) continue;
      }
      if (t.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
      if (t.rstrip) stop += leading_space_len(s.substr(stop));
      if (start_offset < start) splits.push_back({start_offset, start, -1});
      splits.push_back({start, stop, t.id});
      start_offset = stop;
    }
    if (start_offset < s.size()) splits.push_back({start_offset, s.size(), -1});
    return splits;
  }

  void run_model(std::string text, bool at_origin, Encoding& enc, bool want_tokens) const {
    std::vector<Piece> pieces;
    pieces.push_back(Piece{std::move(text), at_origin});
    if (pre_tokenizer) pre_tokenizer->apply(pieces);
    for (const auto& p : pieces) {
      const size_t before = enc.ids.size();
      model.tokenize(p.text, enc.ids);
      if (want_tokens) {
        for (size_t k = before; k < enc.ids.size(); ++k) enc.tokens.push_back(model.vocab_r[enc.ids[k]]);
      }
    }
  }

  Encoding encode(std::string_view input, bool add_special, bool want_tokens) const {
    std::string repaired;
    if (!utf8::valid(input)) {
      repaired = utf8::repair(input);
      input = repaired;
    }
    Encoding enc;
    for (const AddedSplit& outer : find_added(input, raw_matcher)) {
      std::string_view piece = input.substr(outer.start, outer.end - outer.start);
      if (outer.id >= 0) {
        enc.ids.push_back(outer.id);
        if (want_tokens) enc.tokens.emplace_back(piece);
        continue;
      }
      if (piece.empty()) continue;
      std::string normalized(piece);
      if (normalizer) normalizer->apply(normalized);
      if (normalized.empty()) continue;
      for (const AddedSplit& inner : find_added(normalized, norm_matcher)) {
        if (inner.id >= 0) {
          enc.ids.push_back(inner.id);
          if (want_tokens) enc.tokens.push_back(normalized.substr(inner.start, inner.end - inner.start));
          continue;
        }
        if (inner.end <= inner.start) continue;
        run_model(normalized.substr(inner.start, inner.end - inner.start), outer.start == 0 && inner.start == 0, enc,
                  want_tokens);
      }
    }
    if (add_special) post.apply(enc);
    if (!want_tokens) enc.tokens.clear();
    return enc;
  }

  // The string the decoder sees for an id; nullopt if unknown.
  const std::string* token_for_decode(int32_t id) const {
    auto it = added_by_id.find(id);
    if (it != added_by_id.end()) {
      auto nf = decode_form.find(id);
      return nf != decode_form.end() ? &nf->second : &added[it->second].content;
    }
    if (id >= 0 && static_cast<size_t>(id) < model.vocab_r.size() && model.has_id[id]) return &model.vocab_r[id];
    return nullptr;
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      const std::string* t = token_for_decode(id);
      if (t == nullptr) continue;
      if (skip_special && special_contents.count(*t) != 0) continue;
      tokens.push_back(*t);
    }
    if (!decoder) {
      std::string out;
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) out += ' ';
        out += tokens[i];
      }
      return out;
    }
    decoder->decode_chain(tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
  }

  std::optional<int32_t> token_to_id(std::string_view token) const {
    auto it = added_by_content.find(token);
    if (it != added_by_content.end()) return it->second;
    return model.find(token);
  }
};

namespace {

// Reads a special-token field of tokenizer_config.json: "str", {"content": "str", ...} or null.
Result<std::optional<std::string>> config_token(const Ctx& ctx, const Json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object() && it->contains("content") && it->at("content").is_string()) {
    return std::optional<std::string>(it->at("content").get<std::string>());
  }
  return ctx.bad(key, "must be a string, {\"content\": ...} or null");
}

// had_add_bos / had_add_eos: set when the file has a boolean add_bos_token / add_eos_token.
Status load_config(const Ctx& ctx, std::string_view text, const std::string& config_path, TokenizerConfig* cfg,
                   bool* had_add_bos, bool* had_add_eos) {
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return corrupt(ctx.name + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) return corrupt(ctx.name + ": top level must be a JSON object");
  try {
    LPX_ASSIGN_OR_RETURN(auto bos, config_token(ctx, j, "bos_token"));
    LPX_ASSIGN_OR_RETURN(auto eos, config_token(ctx, j, "eos_token"));
    LPX_ASSIGN_OR_RETURN(auto unk, config_token(ctx, j, "unk_token"));
    LPX_ASSIGN_OR_RETURN(auto pad, config_token(ctx, j, "pad_token"));
    if (bos) cfg->bos_token = *bos;
    if (eos) cfg->eos_token = *eos;
    if (unk) cfg->unk_token = *unk;
    if (pad) cfg->pad_token = *pad;
    auto flag = [&](const char* key, bool* out, bool* had) -> Status {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) return Status::ok();
      if (!it->is_boolean()) return ctx.bad(key, "must be true or false");
      *out = it->get<bool>();
      *had = true;
      return Status::ok();
    };
    LPX_RETURN_IF_ERROR(flag("add_bos_token", &cfg->add_bos, had_add_bos));
    LPX_RETURN_IF_ERROR(flag("add_eos_token", &cfg->add_eos, had_add_eos));
    auto ct = j.find("chat_template");
    if (ct != j.end() && !ct->is_null()) {
      if (ct->is_string()) {
        cfg->chat_template = ct->get<std::string>();
      } else if (ct->is_array()) {
        for (size_t i = 0; i < ct->size(); ++i) {
          const Json& e = (*ct)[i];
          if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e.at("name").is_string() ||
              !e.at("template").is_string()) {
            return ctx.bad("chat_template[" + std::to_string(i) + "]", "must be {\"name\": ..., \"template\": ...}");
          }
          const std::string name = e.at("name").get<std::string>();
          cfg->named_templates[name] = e.at("template").get<std::string>();
          if (name == "default") cfg->chat_template = cfg->named_templates[name];
        }
      } else {
        return ctx.bad("chat_template", "must be a string or a list of {name, template}");
      }
    }
  } catch (const Json::exception& e) {
    return corrupt(ctx.name + ": " + e.what());
  }
  if (cfg->chat_template.empty() && !config_path.empty()) {
    const std::string jinja = (std::filesystem::path(config_path).parent_path() / "chat_template.jinja").string();
    if (file_exists(jinja)) {
      LPX_ASSIGN_OR_RETURN(cfg->chat_template, read_file(jinja));
    }
  }
  cfg->loaded_from_file = true;
  return Status::ok();
}

Status build_tokenizer(const Ctx& ctx, const Json& j, CapturedModel& cap, Tokenizer::Impl* t) {
  if (!j.is_object()) return corrupt(ctx.name + ": top level must be a JSON object");
  auto mit = j.find("model");
  if (mit == j.end() || mit->is_null()) return ctx.bad("model", "missing");
  LPX_RETURN_IF_ERROR(build_bpe(ctx, *mit, cap, &t->model));

  if (j.contains("normalizer") && !j.at("normalizer").is_null()) {
    LPX_ASSIGN_OR_RETURN(t->normalizer, build_normalizer(ctx, "normalizer", j.at("normalizer")));
  }
  if (j.contains("pre_tokenizer") && !j.at("pre_tokenizer").is_null()) {
    LPX_ASSIGN_OR_RETURN(t->pre_tokenizer, build_pre_tokenizer(ctx, "pre_tokenizer", j.at("pre_tokenizer")));
  }
  if (j.contains("post_processor") && !j.at("post_processor").is_null()) {
    LPX_RETURN_IF_ERROR(build_post_processor(ctx, "post_processor", j.at("post_processor"), &t->post));
  }
  if (j.contains("decoder") && !j.at("decoder").is_null()) {
    LPX_ASSIGN_OR_RETURN(t->decoder, build_decoder(ctx, "decoder", j.at("decoder")));
  }

  int64_t max_id = static_cast<int64_t>(t->model.vocab_r.size()) - 1;
  if (j.contains("added_tokens") && !j.at("added_tokens").is_null()) {
    const Json& list = j.at("added_tokens");
    if (!list.is_array()) return ctx.bad("added_tokens", "must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& e = list[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("content") || !e.at("content").is_string()) {
        return ctx.bad(where, "must be an object with a string \"content\"");
      }
      AddedToken tok;
      tok.content = e.at("content").get<std::string>();
      if (tok.content.empty()) continue;
      tok.single_word = get_bool(e, "single_word", false);
      tok.lstrip = get_bool(e, "lstrip", false);
      tok.rstrip = get_bool(e, "rstrip", false);
      tok.normalized = get_bool(e, "normalized", true);
      tok.special = get_bool(e, "special", false);
      // Like Hugging Face: a content already in the vocab keeps its vocab id.
      if (auto existing = t->token_to_id(tok.content)) {
        tok.id = *existing;
      } else if (e.contains("id") && e.at("id").is_number_integer()) {
        const int64_t id = e.at("id").get<int64_t>();
        if (id < 0 || id > kMaxTokenId) return ctx.bad(where, "id " + std::to_string(id) + " is out of range");
        tok.id = static_cast<int32_t>(id);
      } else {
        tok.id = static_cast<int32_t>(max_id + 1);
      }
      max_id = std::max<int64_t>(max_id, tok.id);
      auto prev = t->added_by_id.find(tok.id);
      if (prev != t->added_by_id.end()) {
        t->added[prev->second] = tok;  // a later entry for the same id replaces the earlier one
      } else {
        t->added_by_id[tok.id] = t->added.size();
        t->added.push_back(tok);
      }
      t->added_by_content[tok.content] = tok.id;
      if (tok.special) t->special_contents.insert(tok.content);
    }
  }
  for (size_t i = 0; i < t->added.size(); ++i) {
    const AddedToken& tok = t->added[i];
    if (t->added_by_id.at(tok.id) != i) continue;
    if (!tok.normalized) {
      t->raw_matcher.add(tok.content, static_cast<int32_t>(i));
    } else {
      std::string form = tok.content;
      if (t->normalizer) t->normalizer->apply(form);
      if (form != tok.content) t->decode_form[tok.id] = form;
      t->norm_matcher.add(form, static_cast<int32_t>(i));
    }
  }
  // Template special tokens must resolve to real ids.
  for (const auto& item : t->post.single) {
    for (int32_t id : item.ids) {
      if (id < 0 || id > max_id) {
        return ctx.bad("post_processor", "special token id " + std::to_string(id) + " is outside the vocab");
      }
    }
  }
  t->vocab_size = static_cast<int32_t>(max_id + 1);
  return Status::ok();
}

// Fills config fields the tokenizer_config did not provide, and resolves bos/eos ids.
void finish_config(Tokenizer::Impl* t, bool had_add_bos, bool had_add_eos) {
  TokenizerConfig& cfg = t->config;
  const auto& items = t->post.single;
  size_t seq_pos = items.size();
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].is_sequence) {
      seq_pos = i;
      break;
    }
  }
  const bool template_bos = seq_pos != items.size() && seq_pos > 0 && !items[0].tokens.empty();
  const bool template_eos = seq_pos + 1 < items.size() && !items.back().tokens.empty();
  if (!had_add_bos) cfg.add_bos = template_bos;
  if (!had_add_eos) cfg.add_eos = template_eos;
  if (cfg.bos_token.empty() && template_bos) cfg.bos_token = items[0].tokens.front();
  if (cfg.eos_token.empty() && template_eos) cfg.eos_token = items.back().tokens.back();
  if (cfg.eos_token.empty() && !cfg.loaded_from_file) {
    for (const char* name : {"</s>", "<|end_of_text|>", "<|endoftext|>"}) {
      if (t->token_to_id(name)) {
        cfg.eos_token = name;
        break;
      }
    }
  }
  if (!cfg.bos_token.empty()) t->bos = t->token_to_id(cfg.bos_token);
  if (!cfg.eos_token.empty()) t->eos = t->token_to_id(cfg.eos_token);
}

Result<std::unique_ptr<Tokenizer::Impl>> build_impl(std::string_view text, const std::string& name,
                                                    std::string_view config_text, const std::string& config_name,
                                                    const std::string& config_path) {
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->name = name;
  Ctx ctx{impl->name};
  Json j;
  CapturedModel cap;
  try {
    TokenizerSax sax(j, cap);
    const bool ok = Json::sax_parse(text.begin(), text.end(), &sax);
    if (!ok) return corrupt(name + ": " + (cap.error.empty() ? std::string("invalid JSON") : cap.error));
  } catch (const Json::exception& e) {
    return corrupt(name + ": invalid JSON: " + e.what());
  }
  try {
    LPX_RETURN_IF_ERROR(build_tokenizer(ctx, j, cap, impl.get()));
  } catch (const Json::exception& e) {
    return corrupt(name + ": unexpected structure: " + e.what());
  }
  bool had_bos = false, had_eos = false;
  if (!config_text.empty()) {
    Ctx cctx{config_name};
    LPX_RETURN_IF_ERROR(load_config(cctx, config_text, config_path, &impl->config, &had_bos, &had_eos));
  }
  finish_config(impl.get(), had_bos, had_eos);
  return impl;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::load(const std::string& tokenizer_json, const std::string& config_json) {
  LPX_ASSIGN_OR_RETURN(std::string text, read_file(tokenizer_json));
  std::string config_text;
  if (!config_json.empty()) {
    LPX_ASSIGN_OR_RETURN(config_text, read_file(config_json));
    if (config_text.empty()) return corrupt(config_json + ": empty file");
  }
  if (text.empty()) return corrupt(tokenizer_json + ": empty file");
  LPX_ASSIGN_OR_RETURN(auto impl, build_impl(text, tokenizer_json, config_text, config_json, config_json));
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::from_json(std::string_view tokenizer_json_text, const std::string& name,
                                       std::string_view config_json_text) {
  LPX_ASSIGN_OR_RETURN(auto impl,
                       build_impl(tokenizer_json_text, name, config_json_text, name + " (tokenizer_config)", ""));
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens, false).ids;
}

Encoding Tokenizer::encode_with_tokens(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens, true);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->token_to_id(token); }

std::string Tokenizer::id_to_token(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  if (it != impl_->added_by_id.end()) return impl_->added[it->second].content;
  const auto& m = impl_->model;
  if (id >= 0 && static_cast<size_t>(id) < m.vocab_r.size() && m.has_id[id]) return m.vocab_r[id];
  return "";
}

bool Tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
const TokenizerConfig& Tokenizer::config() const { return impl_->config; }

// ---------------------------------------------------------------------------------------------
// IncrementalDecoder
// ---------------------------------------------------------------------------------------------

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

namespace {
bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// After this many held-back ids the text is emitted even if it ends in U+FFFD: no character
// needs that many byte tokens, so the tail is invalid bytes, not an unfinished character.
constexpr size_t kMaxPendingIds = 16;

// The part of `text` after the already emitted `prefix`. If the decoder rewrote earlier text (not
// the case for the supported decoders) everything after the common prefix is returned.
std::string text_after(const std::string& text, const std::string& prefix) {
  if (text.compare(0, prefix.size(), prefix) == 0) return text.substr(prefix.size());
  size_t common = 0;
  while (common < prefix.size() && common < text.size() && prefix[common] == text[common]) ++common;
  while (common > 0 && common < text.size() && utf8::is_continuation(static_cast<unsigned char>(text[common]))) {
    --common;
  }
  return text.substr(common);
}
}  // namespace

std::string IncrementalDecoder::push(int32_t id) {
  if (prefix_.empty() && !ids_.empty()) {
    std::string p = tokenizer_->decode(ids_, skip_special_);
    if (!ends_with_replacement(p)) {
      prefix_ = std::move(p);
      prefix_index_ = ids_.size();
    }
  }
  ids_.push_back(id);
  std::string text = tokenizer_->decode(ids_, skip_special_);
  const bool stuck = ids_.size() - prefix_index_ > kMaxPendingIds;
  if (text.size() <= prefix_.size() || (ends_with_replacement(text) && !stuck)) return "";
  std::string fresh = text_after(text, prefix_);
  // Keep the ids from prefix_index_ on as context for the next step; they are all emitted now.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  prefix_ = tokenizer_->decode(ids_, skip_special_);
  prefix_index_ = ids_.size();
  return fresh;
}

std::string IncrementalDecoder::flush() {
  std::string rest;
  if (ids_.size() > prefix_index_) {
    std::string text = tokenizer_->decode(ids_, skip_special_);
    if (text.size() > prefix_.size()) rest = text_after(text, prefix_);
  }
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace lpx
