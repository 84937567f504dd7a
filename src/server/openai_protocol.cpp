// OpenAI wire format: request validation and response JSON (see openai_protocol.h).
#include "server/openai_protocol.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <utility>

#include "core/utf8.h"

namespace lpx::server {
namespace {

constexpr int kMaxChoices = 128;  // n, and prompts x n
constexpr size_t kMaxStopStrings = 64;

#define LPX_TRY_API(expr)                    \
  do {                                       \
    if (auto lpx_e_ = (expr)) return lpx_e_; \
  } while (0)

// Typed access to the request object's fields. Absent and null fields are "not given".
class Fields {
 public:
  explicit Fields(const Json& body) : body_(body) {}

  const Json* get(const char* key) const {
    auto it = body_.find(key);
    if (it == body_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<ApiError> number(const char* key, float* out, bool* given = nullptr) const {
    const Json* v = get(key);
    if (given) *given = v != nullptr;
    if (!v) return std::nullopt;
    if (!v->is_number()) return bad_request(std::string(key) + " must be a number, got " + v->dump(), key);
    *out = v->get<float>();
    return std::nullopt;
  }

  std::optional<ApiError> integer(const char* key, int64_t* out, bool* given = nullptr) const {
    const Json* v = get(key);
    if (given) *given = v != nullptr;
    if (!v) return std::nullopt;
    return as_integer(*v, key, out);
  }

  std::optional<ApiError> boolean(const char* key, bool* out) const {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) return bad_request(std::string(key) + " must be a boolean, got " + v->dump(), key);
    *out = v->get<bool>();
    return std::nullopt;
  }

  std::optional<ApiError> string(const char* key, std::string* out) const {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) return bad_request(std::string(key) + " must be a string, got " + v->dump(), key);
    *out = v->get<std::string>();
    return std::nullopt;
  }

  static std::optional<ApiError> as_integer(const Json& v, const std::string& name, int64_t* out) {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return bad_request(name + " is out of range: " + v.dump(), name);
      }
      *out = v.get<int64_t>();
      return std::nullopt;
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
        *out = static_cast<int64_t>(d);
        return std::nullopt;
      }
    }
    return bad_request(name + " must be an integer, got " + v.dump(), name);
  }

 private:
  const Json& body_;
};

std::string fmt_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::optional<ApiError> check_range(const char* key, double v, double lo, double hi, bool lo_open = false) {
  const bool ok = (lo_open ? v > lo : v >= lo) && v <= hi;  // false for NaN
  if (ok) return std::nullopt;
  return bad_request(std::string(key) + " must be in " + (lo_open ? "(" : "[") + fmt_num(lo) + ", " + fmt_num(hi) +
                         "], got " + fmt_num(v),
                     key);
}

std::optional<ApiError> parse_stop(const Fields& f, SamplingParams* p) {
  const Json* v = f.get("stop");
  if (!v) return std::nullopt;
  std::vector<std::string> stop;
  if (v->is_string()) {
    stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > kMaxStopStrings) {
      return bad_request("stop has " + std::to_string(v->size()) + " strings, at most " +
                             std::to_string(kMaxStopStrings) + " are allowed",
                         "stop");
    }
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return bad_request("stop[" + std::to_string(i) + "] must be a string", "stop");
      stop.push_back((*v)[i].get<std::string>());
    }
  } else {
    return bad_request("stop must be a string or a list of strings, got " + v->dump(), "stop");
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) return bad_request("stop strings must not be empty", "stop");
  }
  p->stop = std::move(stop);
  return std::nullopt;
}

std::optional<ApiError> parse_token_list(const Json& v, const std::string& name, std::vector<int32_t>* out) {
  if (v.empty()) return bad_request(name + " must not be an empty list of token ids", "prompt");
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t id = 0;
    if (!v[i].is_number() || Fields::as_integer(v[i], name, &id)) {
      return bad_request(name + "[" + std::to_string(i) + "] must be a token id (an integer)", "prompt");
    }
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
      return bad_request(name + "[" + std::to_string(i) + "] is not a valid token id: " + std::to_string(id), "prompt");
    }
    out->push_back(static_cast<int32_t>(id));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_prompt(const Fields& f, std::vector<PromptInput>* prompts) {
  const Json* v = f.get("prompt");
  if (!v) return bad_request("prompt is required", "prompt");
  if (v->is_string()) {
    prompts->push_back(PromptInput{v->get<std::string>(), {}, false});
    return std::nullopt;
  }
  if (!v->is_array()) {
    return bad_request(
        "prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids", "prompt");
  }
  if (v->empty()) return bad_request("prompt must not be an empty list", "prompt");
  const Json& first = (*v)[0];
  if (first.is_string()) {
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return bad_request("prompt[" + std::to_string(i) + "] must be a string", "prompt");
      prompts->push_back(PromptInput{(*v)[i].get<std::string>(), {}, false});
    }
  } else if (first.is_number()) {
    PromptInput p;
    p.is_tokens = true;
    LPX_TRY_API(parse_token_list(*v, "prompt", &p.tokens));
    prompts->push_back(std::move(p));
  } else if (first.is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string name = "prompt[" + std::to_string(i) + "]";
      if (!(*v)[i].is_array()) return bad_request(name + " must be a list of token ids", "prompt");
      PromptInput p;
      p.is_tokens = true;
      LPX_TRY_API(parse_token_list((*v)[i], name, &p.tokens));
      prompts->push_back(std::move(p));
    }
  } else {
    return bad_request(
        "prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids", "prompt");
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const Fields& f, Json* messages) {
  const Json* v = f.get("messages");
  if (!v) return bad_request("messages is required", "messages");
  if (!v->is_array()) return bad_request("messages must be a list of message objects", "messages");
  if (v->empty()) return bad_request("messages must not be empty", "messages");
  Json out = Json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& m = (*v)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad_request(where + " must be an object", "messages");
    auto role_it = m.find("role");
    if (role_it == m.end() || !role_it->is_string()) return bad_request(where + ".role is required", "messages");
    std::string role = role_it->get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant") {
      return bad_request(where + ".role '" + role_it->get<std::string>() +
                             "' is not supported (use system, developer, user or assistant)",
                         "messages");
    }
    std::string content;
    auto c = m.find("content");
    if (c == m.end() || c->is_null()) {
      if (role != "assistant") return bad_request(where + ".content is required", "messages");
    } else if (c->is_string()) {
      content = c->get<std::string>();
    } else if (c->is_array()) {
      bool first = true;
      for (size_t j = 0; j < c->size(); ++j) {
        const Json& part = (*c)[j];
        const std::string pw = where + ".content[" + std::to_string(j) + "]";
        if (!part.is_object()) return bad_request(pw + " must be an object", "messages");
        auto type = part.find("type");
        if (type == part.end() || !type->is_string() || type->get<std::string>() != "text") {
          return bad_request(pw + ": only content parts of type 'text' are supported", "messages");
        }
        auto text = part.find("text");
        if (text == part.end() || !text->is_string()) return bad_request(pw + ".text must be a string", "messages");
        if (!first) content += "\n";
        content += text->get<std::string>();
        first = false;
      }
    } else {
      return bad_request(where + ".content must be a string or a list of content parts", "messages");
    }
    out.push_back(Json{{"role", role}, {"content", content}});
  }
  *messages = std::move(out);
  return std::nullopt;
}

// Fields we cannot honour: refuse them rather than silently ignoring them.
std::optional<ApiError> refuse_unsupported(const Fields& f, Endpoint ep) {
  if (const Json* v = f.get("suffix"); v && !(v->is_string() && v->get<std::string>().empty())) {
    return bad_request("suffix is not supported", "suffix");
  }
  if (const Json* v = f.get("best_of")) {
    int64_t b = 1;
    LPX_TRY_API(Fields::as_integer(*v, "best_of", &b));
    if (b != 1) return bad_request("best_of is not supported (only 1)", "best_of");
  }
  if (const Json* v = f.get("logit_bias"); v && !(v->is_object() && v->empty())) {
    return bad_request("logit_bias is not supported", "logit_bias");
  }
  if (ep == Endpoint::kChatCompletions) {
    if (const Json* v = f.get("tools"); v && !(v->is_array() && v->empty())) {
      return bad_request("tools are not supported", "tools");
    }
    if (const Json* v = f.get("functions"); v && !(v->is_array() && v->empty())) {
      return bad_request("functions are not supported", "functions");
    }
    if (const Json* v = f.get("response_format")) {
      auto t = v->is_object() ? v->find("type") : v->end();
      if (!v->is_object() || t == v->end() || *t != "text") {
        return bad_request("response_format other than {\"type\": \"text\"} is not supported", "response_format");
      }
    }
  }
  return std::nullopt;
}

}  // namespace

ApiError bad_request(std::string message, std::string param) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError error_from_status(const Status& status, std::string param) {
  ApiError e;
  e.message = status.message();
  e.param = param.empty() ? status.field() : std::move(param);
  switch (status.code()) {
    case StatusCode::kInvalidArgument: e.status = 400; break;
    case StatusCode::kNotFound:
      e.status = 404;
      e.code = "model_not_found";
      break;
    case StatusCode::kResourceExhausted:
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "rate_limit_exceeded";
      break;
    case StatusCode::kUnavailable:
      e.status = 503;
      e.type = "service_unavailable";
      e.code = "service_unavailable";
      break;
    default:
      e.status = 500;
      e.type = "server_error";
      e.code = "internal_error";
      break;
  }
  return e;
}

Json error_json(const ApiError& e) {
  Json err;
  err["message"] = e.message;
  err["type"] = e.type;
  err["param"] = e.param.empty() ? Json(nullptr) : Json(e.param);
  err["code"] = e.code.empty() ? Json(nullptr) : Json(e.code);
  return Json{{"error", err}};
}

std::optional<ApiError> parse_request(Endpoint endpoint, const Json& body, ApiRequest* out) {
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  const Fields f(body);
  ApiRequest r;
  r.endpoint = endpoint;
  const bool chat = endpoint == Endpoint::kChatCompletions;

  const Json* model = f.get("model");
  if (!model) return bad_request("model is required", "model");
  if (!model->is_string() || model->get<std::string>().empty()) {
    return bad_request("model must be a non-empty string", "model");
  }
  r.model = model->get<std::string>();

  if (chat) {
    LPX_TRY_API(parse_messages(f, &r.messages));
  } else {
    LPX_TRY_API(parse_prompt(f, &r.prompts));
  }
  LPX_TRY_API(refuse_unsupported(f, endpoint));

  SamplingParams& p = r.params;
  LPX_TRY_API(f.number("temperature", &p.temperature));
  LPX_TRY_API(check_range("temperature", p.temperature, 0, 2));
  LPX_TRY_API(f.number("top_p", &p.top_p));
  LPX_TRY_API(check_range("top_p", p.top_p, 0, 1, /*lo_open=*/true));
  int64_t top_k = 0;
  LPX_TRY_API(f.integer("top_k", &top_k));
  if (top_k < -1 || top_k > std::numeric_limits<int32_t>::max()) {
    return bad_request("top_k must be -1, 0 (disabled) or >= 1, got " + std::to_string(top_k), "top_k");
  }
  p.top_k = static_cast<int>(top_k);
  LPX_TRY_API(f.number("min_p", &p.min_p));
  LPX_TRY_API(check_range("min_p", p.min_p, 0, 1));
  LPX_TRY_API(f.number("presence_penalty", &p.presence_penalty));
  LPX_TRY_API(check_range("presence_penalty", p.presence_penalty, -2, 2));
  LPX_TRY_API(f.number("frequency_penalty", &p.frequency_penalty));
  LPX_TRY_API(check_range("frequency_penalty", p.frequency_penalty, -2, 2));
  LPX_TRY_API(f.number("repetition_penalty", &p.repetition_penalty));
  if (!(p.repetition_penalty > 0 && std::isfinite(p.repetition_penalty))) {
    return bad_request("repetition_penalty must be > 0, got " + fmt_num(p.repetition_penalty), "repetition_penalty");
  }
  if (const Json* seed = f.get("seed")) {
    int64_t s = 0;
    if (seed->is_number_unsigned()) {
      p.seed = seed->get<uint64_t>();
    } else {
      LPX_TRY_API(Fields::as_integer(*seed, "seed", &s));
      p.seed = static_cast<uint64_t>(s);
    }
  }
  LPX_TRY_API(parse_stop(f, &p));
  if (const Json* ids = f.get("stop_token_ids")) {
    if (!ids->is_array()) return bad_request("stop_token_ids must be a list of token ids", "stop_token_ids");
    for (size_t i = 0; i < ids->size(); ++i) {
      int64_t id = 0;
      LPX_TRY_API(Fields::as_integer((*ids)[i], "stop_token_ids", &id));
      if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
        return bad_request("stop_token_ids[" + std::to_string(i) + "] is not a valid token id", "stop_token_ids");
      }
      p.stop_token_ids.push_back(static_cast<int32_t>(id));
    }
  }
  LPX_TRY_API(f.boolean("ignore_eos", &p.ignore_eos));

  // max_tokens (chat: max_completion_tokens wins). Completions default to 16 like OpenAI.
  int64_t max_tokens = 16;
  bool given = false;
  const char* max_name = "max_tokens";
  if (chat && f.get("max_completion_tokens")) {
    max_name = "max_completion_tokens";
    LPX_TRY_API(f.integer(max_name, &max_tokens, &given));
  } else {
    LPX_TRY_API(f.integer(max_name, &max_tokens, &given));
  }
  if (given && (max_tokens < 1 || max_tokens > std::numeric_limits<int32_t>::max())) {
    return bad_request(std::string(max_name) + " must be >= 1, got " + std::to_string(max_tokens), max_name);
  }
  r.max_tokens_set = given || !chat;
  p.max_tokens = static_cast<int>(max_tokens);

  int64_t n = 1;
  LPX_TRY_API(f.integer("n", &n));
  if (n < 1 || n > kMaxChoices) {
    return bad_request("n must be in [1, " + std::to_string(kMaxChoices) + "], got " + std::to_string(n), "n");
  }
  r.n = static_cast<int>(n);
  if (!chat && r.prompts.size() * static_cast<size_t>(r.n) > static_cast<size_t>(kMaxChoices)) {
    return bad_request("prompts x n must be at most " + std::to_string(kMaxChoices) + ", got " +
                           std::to_string(r.prompts.size() * static_cast<size_t>(r.n)),
                       "n");
  }

  if (chat) {
    LPX_TRY_API(f.boolean("logprobs", &r.logprobs));
    int64_t top = 0;
    bool top_given = false;
    LPX_TRY_API(f.integer("top_logprobs", &top, &top_given));
    if (top < 0 || top > 20) {
      return bad_request("top_logprobs must be in [0, 20], got " + std::to_string(top), "top_logprobs");
    }
    if (top_given && top > 0 && !r.logprobs) {
      return bad_request("top_logprobs requires logprobs to be true", "top_logprobs");
    }
    r.top_logprobs = static_cast<int>(top);
  } else {
    int64_t lp = 0;
    bool lp_given = false;
    LPX_TRY_API(f.integer("logprobs", &lp, &lp_given));
    if (lp_given && (lp < 0 || lp > 5)) {
      return bad_request("logprobs must be in [0, 5], got " + std::to_string(lp), "logprobs");
    }
    r.logprobs = lp_given;
    r.top_logprobs = static_cast<int>(lp);
    LPX_TRY_API(f.boolean("echo", &r.echo));
  }
  p.want_logprobs = r.logprobs;
  p.logprobs = r.logprobs ? r.top_logprobs : 0;

  LPX_TRY_API(f.boolean("stream", &r.stream));
  if (const Json* so = f.get("stream_options")) {
    if (!so->is_object()) return bad_request("stream_options must be an object", "stream_options");
    if (!r.stream) return bad_request("stream_options is only allowed when stream is true", "stream_options");
    auto iu = so->find("include_usage");
    if (iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean()) return bad_request("stream_options.include_usage must be a boolean", "stream_options");
      r.include_usage = iu->get<bool>();
    }
  }
  LPX_TRY_API(f.string("user", &r.user));

  if (Status s = p.validate(); !s.is_ok()) return error_from_status(s);
  *out = std::move(r);
  return std::nullopt;
}

Json usage_json(const Usage& u) {
  return Json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

size_t utf8_length(const std::string& s) { return utf8::count_lead_bytes(s); }

void CompletionLogprobs::add_prompt_token(const std::string& text) {
  tokens_.push_back(text);
  token_logprobs_.push_back(nullptr);
  top_logprobs_.push_back(nullptr);
  text_offset_.push_back(offset_);
  offset_ += utf8::count_lead_bytes(text);
}

void CompletionLogprobs::add(const TokenOutput& t, const TokenText& token_text, bool zero_width) {
  const std::string text = token_text(t.token);
  tokens_.push_back(text);
  token_logprobs_.push_back(t.logprob);
  Json top = Json::object();
  for (const auto& [id, lp] : t.top_logprobs) {
    std::string alt = token_text(id);
    if (!top.contains(alt)) top[alt] = lp;
  }
  if (!top.contains(text)) top[text] = t.logprob;  // the sampled token is always reported
  top_logprobs_.push_back(std::move(top));
  text_offset_.push_back(offset_);
  if (!zero_width) offset_ += utf8::count_lead_bytes(text);
}

Json CompletionLogprobs::take() {
  Json j{{"tokens", std::move(tokens_)},
         {"token_logprobs", std::move(token_logprobs_)},
         {"top_logprobs", std::move(top_logprobs_)},
         {"text_offset", std::move(text_offset_)}};
  tokens_ = Json::array();
  token_logprobs_ = Json::array();
  top_logprobs_ = Json::array();
  text_offset_ = Json::array();
  return j;
}

Json chat_logprob_entry(const TokenOutput& t, const TokenText& token_text, int top_logprobs) {
  auto bytes = [](const std::string& s) {
    Json b = Json::array();
    for (unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
  };
  const std::string text = token_text(t.token);
  Json top = Json::array();
  int k = 0;
  for (const auto& [id, lp] : t.top_logprobs) {
    if (k++ >= top_logprobs) break;
    std::string alt = token_text(id);
    top.push_back(Json{{"token", alt}, {"logprob", lp}, {"bytes", bytes(alt)}});
  }
  return Json{{"token", text}, {"logprob", t.logprob}, {"bytes", bytes(text)}, {"top_logprobs", std::move(top)}};
}

std::string new_request_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id = prefix;
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) id += kHex[(a >> (4 * i)) & 15];
  for (int i = 0; i < 8; ++i) id += kHex[(b >> (4 * i)) & 15];
  return id;
}

Json finish_reason_json(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "stop";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return nullptr;
}

Json completion_choice(int index, const std::string& text, Json logprobs, Json finish_reason) {
  return Json{
      {"index", index}, {"text", text}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish_reason)}};
}

Json completion_response(const std::string& id, int64_t created, const std::string& model, Json choices,
                         const Usage& usage) {
  return Json{{"id", id},       {"object", "text_completion"},   {"created", created},
              {"model", model}, {"choices", std::move(choices)}, {"usage", usage_json(usage)}};
}

namespace {
// One streamed choice in its envelope; "usage": null while include_usage promises a final usage chunk.
Json chunk_envelope(const char* object, const std::string& id, int64_t created, const std::string& model, Json choice,
                    bool include_usage) {
  Json j{{"id", id},
         {"object", object},
         {"created", created},
         {"model", model},
         {"choices", Json::array({std::move(choice)})}};
  if (include_usage) j["usage"] = nullptr;
  return j;
}
}  // namespace

Json completion_chunk(const std::string& id, int64_t created, const std::string& model, Json choice,
                      bool include_usage) {
  return chunk_envelope("text_completion", id, created, model, std::move(choice), include_usage);
}

Json chat_choice(int index, const std::string& content, Json logprobs, Json finish_reason) {
  return Json{{"index", index},
              {"message", Json{{"role", "assistant"}, {"content", content}, {"refusal", nullptr}}},
              {"logprobs", std::move(logprobs)},
              {"finish_reason", std::move(finish_reason)}};
}

Json chat_response(const std::string& id, int64_t created, const std::string& model, Json choices, const Usage& usage) {
  return Json{{"id", id},       {"object", "chat.completion"},   {"created", created},
              {"model", model}, {"choices", std::move(choices)}, {"usage", usage_json(usage)}};
}

Json chat_chunk(const std::string& id, int64_t created, const std::string& model, int index, Json delta, Json logprobs,
                Json finish_reason, bool include_usage) {
  Json choice{{"index", index},
              {"delta", std::move(delta)},
              {"logprobs", std::move(logprobs)},
              {"finish_reason", std::move(finish_reason)}};
  return chunk_envelope("chat.completion.chunk", id, created, model, std::move(choice), include_usage);
}

Json usage_chunk(const char* object, const std::string& id, int64_t created, const std::string& model,
                 const Usage& usage) {
  return Json{{"id", id},       {"object", object},         {"created", created},
              {"model", model}, {"choices", Json::array()}, {"usage", usage_json(usage)}};
}

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string sse_event(const Json& j) { return "data: " + dump_json(j) + "\n\n"; }

Json model_card(const std::string& id, int64_t created, const std::string& root, const std::string& parent,
                int max_model_len) {
  Json perm{{"id", "modelperm-" + id},
            {"object", "model_permission"},
            {"created", created},
            {"allow_create_engine", false},
            {"allow_sampling", true},
            {"allow_logprobs", true},
            {"allow_search_indices", false},
            {"allow_view", true},
            {"allow_fine_tuning", false},
            {"organization", "*"},
            {"group", nullptr},
            {"is_blocking", false}};
  Json card{{"id", id},           {"object", "model"},
            {"created", created}, {"owned_by", "loraplex"},
            {"root", root},       {"parent", parent.empty() ? Json(nullptr) : Json(parent)}};
  if (max_model_len > 0) card["max_model_len"] = max_model_len;
  card["permission"] = Json::array({std::move(perm)});
  return card;
}

Json model_list(Json cards) { return Json{{"object", "list"}, {"data", std::move(cards)}}; }

}  // namespace lpx::server
