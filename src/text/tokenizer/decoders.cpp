// Tokenizer decoders (see decoders.h).
#include "text/tokenizer/decoders.h"

namespace lpx::tok {

Result<std::unique_ptr<Decoder>> build_decoder(const Ctx& ctx, const std::string& where, const Json& j) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    const Json& list = j.at("decoders");
    if (!list.is_array()) return ctx.bad(where, "\"decoders\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      LPX_ASSIGN_OR_RETURN(auto d, build_decoder(ctx, where + ".decoders[" + std::to_string(i) + "]", list[i]));
      seq->items.push_back(std::move(d));
    }
    return std::unique_ptr<Decoder>(std::move(seq));
  }
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "Metaspace") {
    auto d = std::make_unique<MetaspaceDecoder>();
    d->replacement = get_string(j, "replacement", d->replacement);
    const std::string scheme = get_string(j, "prepend_scheme", "");
    if (!scheme.empty())
      d->prepend = scheme != "never";
    else
      d->prepend = get_bool(j, "add_prefix_space", true);
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type == "Replace") {
    auto d = std::make_unique<ReplaceDecoder>();
    LPX_RETURN_IF_ERROR(parse_pattern(ctx, where + ".pattern", j.at("pattern"), &d->replace.pattern));
    d->replace.content = j.at("content").get<std::string>();
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") {
    auto d = std::make_unique<StripDecoder>();
    d->content = get_string(j, "content", " ");
    if (first_cp(d->content) == 0 && !d->content.empty()) return ctx.bad(where, "invalid Strip content");
    d->content = d->content.substr(0, utf8_len_at(d->content, 0));
    d->start = j.value("start", size_t{0});
    d->stop = j.value("stop", size_t{0});
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type.empty()) return ctx.bad(where, "decoder without a \"type\"");
  return ctx.unsupported_here(where, "decoder type '" + type + "' is not supported");
}

}  // namespace lpx::tok
