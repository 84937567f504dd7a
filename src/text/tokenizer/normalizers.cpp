// Tokenizer normalizers (see normalizers.h).
#include "text/tokenizer/normalizers.h"

namespace lpx::tok {

Result<std::unique_ptr<Normalizer>> build_normalizer(const Ctx& ctx, const std::string& where, const Json& j) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    const Json& list = j.at("normalizers");
    if (!list.is_array()) return ctx.bad(where, "\"normalizers\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      LPX_ASSIGN_OR_RETURN(auto n, build_normalizer(ctx, where + ".normalizers[" + std::to_string(i) + "]", list[i]));
      seq->items.push_back(std::move(n));
    }
    return std::unique_ptr<Normalizer>(std::move(seq));
  }
  if (type == "Prepend") {
    auto n = std::make_unique<PrependNormalizer>();
    n->prepend = j.at("prepend").get<std::string>();
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type == "Replace") {
    auto n = std::make_unique<ReplaceNormalizer>();
    LPX_RETURN_IF_ERROR(parse_pattern(ctx, where + ".pattern", j.at("pattern"), &n->pattern));
    n->content = j.at("content").get<std::string>();
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfc));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfd));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfkc));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kNfkd));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeNormalizer::kLower));
  if (type == "Strip") {
    auto n = std::make_unique<StripNormalizer>();
    n->left = get_bool(j, "strip_left", true);
    n->right = get_bool(j, "strip_right", true);
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type.empty()) return ctx.bad(where, "normalizer without a \"type\"");
  return ctx.unsupported_here(where, "normalizer type '" + type + "' is not supported");
}

}  // namespace lpx::tok
