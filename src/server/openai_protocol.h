// The OpenAI-compatible wire format, without HTTP or engine state: request JSON -> validated
// ApiRequest (every bad field -> an ApiError naming it, with its HTTP status), and the response,
// stream-chunk, model-list and error JSON bodies (shapes of the OpenAI API spec subset in
// ../shared/testdata/openai/openapi.completions-subset.yaml). Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/sampling.h"

namespace lpx::server {

using Json = nlohmann::ordered_json;

// An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" -> null
  std::string code;   // "" -> null
};

ApiError bad_request(std::string message, std::string param = "");
// Maps a Status to an HTTP status and error type: invalid_argument 400, not_found 404,
// resource_exhausted 429, unavailable 503, anything else 500. The error's param is `param`, or
// when that is empty the field the Status names (Status::field()).
ApiError error_from_status(const Status& status, std::string param = "");
Json error_json(const ApiError& e);

enum class Endpoint { kCompletions, kChatCompletions };

struct PromptInput {
  std::string text;             // a text prompt (tokenized with the tokenizer's special tokens)
  std::vector<int32_t> tokens;  // a token-id prompt, used as given
  bool is_tokens = false;
};

// A validated /v1/completions or /v1/chat/completions request.
struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::vector<PromptInput> prompts;  // completions: one or more prompts
  Json messages = Json::array();     // chat: [{"role", "content": string}], roles system|user|assistant
  SamplingParams params;             // OpenAI defaults; want_logprobs/logprobs set from the request
  bool max_tokens_set = false;       // chat without max_tokens: generate up to the context length
  int n = 1;                         // choices per prompt
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: prepend the prompt to the text
  bool logprobs = false;       // completions: logprobs != null; chat: logprobs == true
  int top_logprobs = 0;        // completions: logprobs (0..5); chat: top_logprobs (0..20)
  std::string user;
};

// Validates a request body (already parsed JSON). Unknown fields are ignored; fields we cannot
// honour (suffix, best_of > 1, logit_bias, tools, response_format other than text) are refused.
std::optional<ApiError> parse_request(Endpoint endpoint, const Json& body, ApiRequest* out);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};
Json usage_json(const Usage& u);

// Text of one token for logprobs output (the server decodes the id on its own).
using TokenText = std::function<std::string(int32_t)>;

// Builds the completions `logprobs` object of one choice: tokens, token_logprobs, top_logprobs,
// text_offset (offsets in characters — Unicode code points — of each token in the choice text).
class CompletionLogprobs {
 public:
  explicit CompletionLogprobs(size_t start_offset = 0) : offset_(start_offset) {}
  // A prompt token (echo): its logprob is unknown (null), as is its top_logprobs entry.
  void add_prompt_token(const std::string& text);
  // zero_width: the token adds no text to the choice (a special token such as eos).
  void add(const TokenOutput& t, const TokenText& token_text, bool zero_width = false);
  bool empty() const { return tokens_.empty(); }
  // The object so far; then starts a new one continuing the offsets (streaming: one per chunk).
  Json take();

 private:
  size_t offset_;
  Json tokens_ = Json::array(), token_logprobs_ = Json::array(), top_logprobs_ = Json::array(),
       text_offset_ = Json::array();
};

// One entry of a chat choice's logprobs.content: {token, logprob, bytes, top_logprobs: [...]}.
Json chat_logprob_entry(const TokenOutput& t, const TokenText& token_text, int top_logprobs);
// Unicode code points in UTF-8 text (invalid bytes count one each).
size_t utf8_length(const std::string& s);

// "cmpl-..." / "chatcmpl-..." with 24 random hex digits.
std::string new_request_id(const char* prefix);

// finish_reason for the API: "stop" | "length"; null (json) while running. Cancelled/error map
// to "stop" / "error" but those normally never reach a client.
Json finish_reason_json(FinishReason r);

Json completion_choice(int index, const std::string& text, Json logprobs, Json finish_reason);
Json completion_response(const std::string& id, int64_t created, const std::string& model, Json choices,
                         const Usage& usage);
// A streamed completion chunk (same object shape as the response; "usage": null when include_usage).
Json completion_chunk(const std::string& id, int64_t created, const std::string& model, Json choice,
                      bool include_usage);

Json chat_choice(int index, const std::string& content, Json logprobs, Json finish_reason);
Json chat_response(const std::string& id, int64_t created, const std::string& model, Json choices, const Usage& usage);
// delta: {"role": "assistant", "content": ""} first, then {"content": "..."}, then {} with the
// finish_reason. logprobs: null or {"content": [...], "refusal": null}.
Json chat_chunk(const std::string& id, int64_t created, const std::string& model, int index, Json delta, Json logprobs,
                Json finish_reason, bool include_usage);
// The final usage chunk of a stream with include_usage: "choices": [] and the totals.
Json usage_chunk(const char* object, const std::string& id, int64_t created, const std::string& model,
                 const Usage& usage);

// One server-sent event: "data: <json>\n\n" (invalid UTF-8 replaced by U+FFFD).
std::string sse_event(const Json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";
// Compact JSON text for a body (invalid UTF-8 replaced by U+FFFD).
std::string dump_json(const Json& j);

// A /v1/models entry. parent empty -> null; max_model_len <= 0 -> omitted.
Json model_card(const std::string& id, int64_t created, const std::string& root, const std::string& parent,
                int max_model_len);
Json model_list(Json cards);

}  // namespace lpx::server
