// Tokenizer pre-tokenizers (see pre_tokenizers.h).
#include "text/tokenizer/pre_tokenizers.h"

namespace lpx::tok {

Result<SplitBehavior> parse_behavior(const Ctx& ctx, const std::string& where, const std::string& s) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  return ctx.bad(where, "unknown split behavior '" + s + "'");
}

void split_piece(Piece&& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& out) {
  const std::string& s = piece.text;
  std::vector<Segment> segs;
  segs.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (const auto& [a, b] : matches) {
    if (prev != a) segs.push_back({prev, a, false});
    segs.push_back({a, b, true});
    prev = b;
  }
  if (prev != s.size() || segs.empty()) segs.push_back({prev, s.size(), false});
  if (invert) {
    for (auto& g : segs) g.is_match = !g.is_match;
  }
  std::vector<Segment> res;
  res.reserve(segs.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& g : segs)
        if (!g.is_match) res.push_back(g);
      break;
    case SplitBehavior::kIsolated: res = segs; break;
    case SplitBehavior::kMergedWithPrevious: {
      bool prev_match = false;
      for (const auto& g : segs) {
        if (g.is_match && !prev_match && !res.empty()) {
          res.back().end = g.end;
        } else {
          res.push_back(g);
        }
        prev_match = g.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool prev_match = false;
      for (size_t k = segs.size(); k-- > 0;) {
        const auto& g = segs[k];
        if (g.is_match && !prev_match && !res.empty()) {
          res.back().start = g.start;
        } else {
          res.push_back(g);
        }
        prev_match = g.is_match;
      }
      std::reverse(res.begin(), res.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool prev_match = false;
      for (const auto& g : segs) {
        if (g.is_match == prev_match && !res.empty()) {
          res.back().end = g.end;
        } else {
          res.push_back(g);
        }
        prev_match = g.is_match;
      }
      break;
    }
  }
  if (res.size() == 1 && res[0].start == 0 && res[0].end == s.size()) {
    if (!s.empty()) out.push_back(std::move(piece));
    return;
  }
  for (const auto& g : res) {
    if (g.end <= g.start) continue;
    out.push_back(Piece{s.substr(g.start, g.end - g.start), piece.at_origin && g.start == 0});
  }
}

std::unique_ptr<PatternSplitPreTokenizer> regex_splitter(const char* pattern, SplitBehavior behavior, bool invert) {
  auto p = std::make_unique<PatternSplitPreTokenizer>();
  std::string err;
  p->pattern.regex = Regex::compile(pattern, &err);
  p->behavior = behavior;
  p->invert = invert;
  return p;
}

Result<std::unique_ptr<PreTokenizer>> build_pre_tokenizer(const Ctx& ctx, const std::string& where, const Json& j) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    const Json& list = j.at("pretokenizers");
    if (!list.is_array()) return ctx.bad(where, "\"pretokenizers\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      LPX_ASSIGN_OR_RETURN(auto p,
                           build_pre_tokenizer(ctx, where + ".pretokenizers[" + std::to_string(i) + "]", list[i]));
      seq->items.push_back(std::move(p));
    }
    return std::unique_ptr<PreTokenizer>(std::move(seq));
  }
  if (type == "Split") {
    auto p = std::make_unique<PatternSplitPreTokenizer>();
    LPX_RETURN_IF_ERROR(parse_pattern(ctx, where + ".pattern", j.at("pattern"), &p->pattern));
    LPX_ASSIGN_OR_RETURN(p->behavior, parse_behavior(ctx, where + ".behavior", get_string(j, "behavior", "Isolated")));
    p->invert = get_bool(j, "invert", false);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "ByteLevel") {
    auto p = std::make_unique<ByteLevelPreTokenizer>();
    p->add_prefix_space = get_bool(j, "add_prefix_space", true);
    if (get_bool(j, "use_regex", true)) {
      std::string err;
      p->regex = Regex::compile(kGpt2Pattern, &err);
      if (!p->regex) return ctx.bad(where, err);
    }
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "Metaspace") {
    auto p = std::make_unique<MetaspacePreTokenizer>();
    p->replacement = get_string(j, "replacement", p->replacement);
    if (p->replacement.empty()) return ctx.bad(where, "empty Metaspace replacement");
    const std::string scheme = get_string(j, "prepend_scheme", "");
    if (scheme == "always")
      p->scheme = MetaspacePreTokenizer::kAlways;
    else if (scheme == "first")
      p->scheme = MetaspacePreTokenizer::kFirst;
    else if (scheme == "never")
      p->scheme = MetaspacePreTokenizer::kNever;
    else if (!scheme.empty())
      return ctx.bad(where, "unknown prepend_scheme '" + scheme + "'");
    else
      p->scheme =
          get_bool(j, "add_prefix_space", true) ? MetaspacePreTokenizer::kAlways : MetaspacePreTokenizer::kNever;
    p->split = get_bool(j, "split", true);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "Digits") {
    const bool individual = get_bool(j, "individual_digits", false);
    return std::unique_ptr<PreTokenizer>(
        regex_splitter(individual ? "\\p{N}" : "\\p{N}+", SplitBehavior::kIsolated, false));
  }
  if (type == "Whitespace") {
    return std::unique_ptr<PreTokenizer>(regex_splitter("\\w+|[^\\w\\s]+", SplitBehavior::kRemoved, true));
  }
  if (type == "WhitespaceSplit") {
    return std::unique_ptr<PreTokenizer>(regex_splitter("\\s", SplitBehavior::kRemoved, false));
  }
  if (type == "Punctuation") {
    LPX_ASSIGN_OR_RETURN(SplitBehavior b,
                         parse_behavior(ctx, where + ".behavior", get_string(j, "behavior", "Isolated")));
    return std::unique_ptr<PreTokenizer>(regex_splitter(kPunctuationClass, b, false));
  }
  if (type == "BertPreTokenizer") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    seq->items.push_back(regex_splitter("\\s", SplitBehavior::kRemoved, false));
    seq->items.push_back(regex_splitter(kPunctuationClass, SplitBehavior::kIsolated, false));
    return std::unique_ptr<PreTokenizer>(std::move(seq));
  }
  if (type == "CharDelimiterSplit") {
    auto p = std::make_unique<PatternSplitPreTokenizer>();
    p->pattern.literal = j.at("delimiter").get<std::string>();
    p->behavior = SplitBehavior::kRemoved;
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type.empty()) return ctx.bad(where, "pre-tokenizer without a \"type\"");
  return ctx.unsupported_here(where, "pre-tokenizer type '" + type + "' is not supported");
}

}  // namespace lpx::tok
