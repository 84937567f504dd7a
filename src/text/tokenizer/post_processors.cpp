// Tokenizer post-processors (see post_processors.h).
#include "text/tokenizer/post_processors.h"

namespace lpx::tok {

Status build_post_processor(const Ctx& ctx, const std::string& where, const Json& j, PostProcessor* pp) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    const Json& list = j.at("processors");
    if (!list.is_array()) return ctx.bad(where, "\"processors\" must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      PostProcessor inner;
      LPX_RETURN_IF_ERROR(build_post_processor(ctx, where + ".processors[" + std::to_string(i) + "]", list[i], &inner));
      if (inner.single.empty()) continue;
      if (pp->single.empty()) {
        pp->single = std::move(inner.single);
      } else {
        // Compose: wrap the current template's sequence with the inner template.
        std::vector<TemplateItem> composed;
        for (auto& item : inner.single) {
          if (item.is_sequence)
            composed.insert(composed.end(), pp->single.begin(), pp->single.end());
          else
            composed.push_back(item);
        }
        pp->single = std::move(composed);
      }
    }
    return Status::ok();
  }
  if (type == "ByteLevel") return Status::ok();  // only adjusts offsets
  if (type == "TemplateProcessing") {
    std::unordered_map<std::string, TemplateItem> specials;
    if (j.contains("special_tokens") && j.at("special_tokens").is_object()) {
      for (auto it = j.at("special_tokens").begin(); it != j.at("special_tokens").end(); ++it) {
        TemplateItem item;
        const Json& v = it.value();
        for (const auto& id : v.at("ids")) item.ids.push_back(id.get<int32_t>());
        for (const auto& t : v.at("tokens")) item.tokens.push_back(t.get<std::string>());
        if (item.ids.size() != item.tokens.size()) {
          return ctx.bad(where + ".special_tokens." + it.key(), "\"ids\" and \"tokens\" differ in length");
        }
        specials[it.key()] = std::move(item);
      }
    }
    auto add_special = [&](const std::string& id) -> Status {
      auto it = specials.find(id);
      if (it == specials.end())
        return ctx.bad(where + ".single", "special token '" + id + "' is missing from special_tokens");
      pp->single.push_back(it->second);
      return Status::ok();
    };
    const Json& single = j.at("single");
    if (single.is_string()) {
      // Text form: "<s>:0 $A:0" or "$A [SEP]".
      std::string s = single.get<std::string>();
      size_t pos = 0;
      while (pos < s.size()) {
        while (pos < s.size() && s[pos] == ' ') ++pos;
        if (pos >= s.size()) break;
        size_t e = s.find(' ', pos);
        if (e == std::string::npos) e = s.size();
        std::string piece = s.substr(pos, e - pos);
        pos = e;
        const size_t colon = piece.rfind(':');
        if (colon != std::string::npos && colon > 0) piece = piece.substr(0, colon);
        if (piece == "$A" || piece == "$" || piece == "$0" || piece == "$B" || piece == "$1") {
          TemplateItem seq;
          seq.is_sequence = true;
          pp->single.push_back(seq);
        } else {
          LPX_RETURN_IF_ERROR(add_special(piece));
        }
      }
    } else if (single.is_array()) {
      for (const auto& item : single) {
        if (item.contains("Sequence")) {
          TemplateItem seq;
          seq.is_sequence = true;
          pp->single.push_back(seq);
        } else if (item.contains("SpecialToken")) {
          LPX_RETURN_IF_ERROR(add_special(item.at("SpecialToken").at("id").get<std::string>()));
        } else {
          return ctx.bad(where + ".single", "template item must be Sequence or SpecialToken");
        }
      }
    } else {
      return ctx.bad(where + ".single", "must be a list or a string");
    }
    return Status::ok();
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto pair_item = [&](const char* key) -> Result<TemplateItem> {
      const Json& v = j.at(key);
      if (!v.is_array() || v.size() != 2) return ctx.bad(where + "." + key, "must be [token, id]");
      TemplateItem item;
      item.tokens.push_back(v[0].get<std::string>());
      item.ids.push_back(v[1].get<int32_t>());
      return item;
    };
    LPX_ASSIGN_OR_RETURN(TemplateItem cls, pair_item("cls"));
    LPX_ASSIGN_OR_RETURN(TemplateItem sep, pair_item("sep"));
    TemplateItem seq;
    seq.is_sequence = true;
    pp->single = {cls, seq, sep};
    return Status::ok();
  }
  if (type.empty()) return ctx.bad(where, "post-processor without a \"type\"");
  return ctx.unsupported_here(where, "post-processor type '" + type + "' is not supported");
}

}  // namespace lpx::tok
