// OpenAI wire format: request validation (every bad field -> its status and param), defaults,
// prompt/message forms, and the JSON shapes of responses, stream chunks, errors and model cards.
#include "server/openai_protocol.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace lpx::server {
namespace {

Json J(const char* text) { return Json::parse(text); }

ApiRequest parse_ok(Endpoint ep, const Json& body) {
  ApiRequest r;
  auto e = parse_request(ep, body, &r);
  EXPECT_FALSE(e.has_value()) << body.dump() << " -> " << (e ? e->message : "");
  return r;
}

TEST(OpenAiProtocol, CompletionDefaults) {
  ApiRequest r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": "c a t ="})"));
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_FALSE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[0].text, "c a t =");
  EXPECT_EQ(r.params.max_tokens, 16);
  EXPECT_TRUE(r.max_tokens_set);
  EXPECT_FLOAT_EQ(r.params.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.params.top_p, 1.0f);
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.logprobs);
  EXPECT_FALSE(r.params.want_logprobs);
  EXPECT_FALSE(r.echo);
  EXPECT_FALSE(r.params.seed.has_value());
}

TEST(OpenAiProtocol, CompletionAllFields) {
  ApiRequest r = parse_ok(Endpoint::kCompletions, J(R"({
    "model": "math", "prompt": "12+34 =", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
    "min_p": 0.05, "seed": 42, "stop": ["\n", "x"], "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "repetition_penalty": 1.1, "n": 3, "logprobs": 2, "echo": true, "stream": true,
    "stream_options": {"include_usage": true}, "user": "u1", "ignore_eos": true, "stop_token_ids": [5],
    "best_of": 1, "suffix": null, "logit_bias": {}, "unknown_field": 1})"));
  EXPECT_EQ(r.params.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.params.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.params.top_p, 0.9f);
  EXPECT_EQ(r.params.top_k, 40);
  EXPECT_FLOAT_EQ(r.params.min_p, 0.05f);
  ASSERT_TRUE(r.params.seed.has_value());
  EXPECT_EQ(*r.params.seed, 42u);
  EXPECT_EQ(r.params.stop, (std::vector<std::string>{"\n", "x"}));
  EXPECT_FLOAT_EQ(r.params.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.params.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(r.params.repetition_penalty, 1.1f);
  EXPECT_EQ(r.n, 3);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_TRUE(r.params.want_logprobs);
  EXPECT_EQ(r.params.logprobs, 2);
  EXPECT_TRUE(r.echo);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u1");
  EXPECT_TRUE(r.params.ignore_eos);
  EXPECT_EQ(r.params.stop_token_ids, (std::vector<int32_t>{5}));
}

TEST(OpenAiProtocol, NullMeansDefault) {
  ApiRequest r = parse_ok(Endpoint::kCompletions,
                          J(R"({"model": "m", "prompt": "x", "max_tokens": null, "temperature": null, "n": null,
                                "stop": null, "logprobs": null, "seed": null, "stream": null})"));
  EXPECT_EQ(r.params.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.params.temperature, 1.0f);
  EXPECT_FALSE(r.logprobs);
  EXPECT_TRUE(r.params.stop.empty());
}

TEST(OpenAiProtocol, StopAsString) {
  ApiRequest r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": "x", "stop": "END"})"));
  EXPECT_EQ(r.params.stop, (std::vector<std::string>{"END"}));
}

TEST(OpenAiProtocol, NegativeAndLargeSeeds) {
  ApiRequest r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": "x", "seed": -1})"));
  EXPECT_EQ(*r.params.seed, ~uint64_t{0});
  r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": "x", "seed": 18446744073709551615})"));
  EXPECT_EQ(*r.params.seed, ~uint64_t{0});
}

TEST(OpenAiProtocol, PromptForms) {
  ApiRequest r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": ["a", "b"]})"));
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1].text, "b");
  r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": [1, 2, 3]})"));
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_TRUE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));
  r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": [[1, 2], [3]]})"));
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1].tokens, (std::vector<int32_t>{3}));
  r = parse_ok(Endpoint::kCompletions, J(R"({"model": "m", "prompt": ""})"));
  EXPECT_EQ(r.prompts[0].text, "");
}

TEST(OpenAiProtocol, ChatMessages) {
  ApiRequest r = parse_ok(Endpoint::kChatCompletions, J(R"({"model": "m", "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "c a"}, {"type": "text", "text": "t"}], "name": "x"},
      {"role": "assistant", "content": null},
      {"role": "user", "content": "again"}]})"));
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0], J(R"({"role": "system", "content": "Be brief."})"));
  EXPECT_EQ(r.messages[1], J(R"({"role": "user", "content": "c a\nt"})"));
  EXPECT_EQ(r.messages[2], J(R"({"role": "assistant", "content": ""})"));
  EXPECT_FALSE(r.max_tokens_set);  // chat: up to the context length
  EXPECT_FALSE(r.logprobs);
}

TEST(OpenAiProtocol, ChatMaxTokensAndLogprobs) {
  ApiRequest r = parse_ok(Endpoint::kChatCompletions,
                          J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9,
                                "max_completion_tokens": 5, "logprobs": true, "top_logprobs": 3})"));
  EXPECT_EQ(r.params.max_tokens, 5);  // max_completion_tokens wins
  EXPECT_TRUE(r.max_tokens_set);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_TRUE(r.params.want_logprobs);
  EXPECT_EQ(r.params.logprobs, 3);
  r = parse_ok(Endpoint::kChatCompletions,
               J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9})"));
  EXPECT_EQ(r.params.max_tokens, 9);
}

struct BadCase {
  Endpoint ep;
  const char* body;
  int status;
  const char* param;  // "" = null
};

TEST(OpenAiProtocol, EveryBadParameter) {
  const Endpoint C = Endpoint::kCompletions, H = Endpoint::kChatCompletions;
  const BadCase cases[] = {
      {C, R"([1, 2])", 400, ""},
      {C, R"({"prompt": "x"})", 400, "model"},
      {C, R"({"model": "", "prompt": "x"})", 400, "model"},
      {C, R"({"model": 5, "prompt": "x"})", 400, "model"},
      {C, R"({"model": "m"})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": 5})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": []})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": [[]]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": ["a", 1]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": [1, "a"]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": [1, -2]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": [1.5]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": [[1], 2]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": [{"a": 1}]})", 400, "prompt"},
      {C, R"({"model": "m", "prompt": "x", "temperature": -0.1})", 400, "temperature"},
      {C, R"({"model": "m", "prompt": "x", "temperature": 2.5})", 400, "temperature"},
      {C, R"({"model": "m", "prompt": "x", "temperature": "hot"})", 400, "temperature"},
      {C, R"({"model": "m", "prompt": "x", "top_p": 0})", 400, "top_p"},
      {C, R"({"model": "m", "prompt": "x", "top_p": 1.01})", 400, "top_p"},
      {C, R"({"model": "m", "prompt": "x", "top_k": -2})", 400, "top_k"},
      {C, R"({"model": "m", "prompt": "x", "top_k": 1.5})", 400, "top_k"},
      {C, R"({"model": "m", "prompt": "x", "min_p": 1.5})", 400, "min_p"},
      {C, R"({"model": "m", "prompt": "x", "presence_penalty": 3})", 400, "presence_penalty"},
      {C, R"({"model": "m", "prompt": "x", "frequency_penalty": -2.5})", 400, "frequency_penalty"},
      {C, R"({"model": "m", "prompt": "x", "repetition_penalty": 0})", 400, "repetition_penalty"},
      {C, R"({"model": "m", "prompt": "x", "max_tokens": 0})", 400, "max_tokens"},
      {C, R"({"model": "m", "prompt": "x", "max_tokens": -1})", 400, "max_tokens"},
      {C, R"({"model": "m", "prompt": "x", "max_tokens": "16"})", 400, "max_tokens"},
      {C, R"({"model": "m", "prompt": "x", "n": 0})", 400, "n"},
      {C, R"({"model": "m", "prompt": "x", "n": 129})", 400, "n"},
      {C, R"({"model": "m", "prompt": ["a", "b", "c"], "n": 50})", 400, "n"},
      {C, R"({"model": "m", "prompt": "x", "logprobs": 6})", 400, "logprobs"},
      {C, R"({"model": "m", "prompt": "x", "logprobs": -1})", 400, "logprobs"},
      {C, R"({"model": "m", "prompt": "x", "logprobs": true})", 400, "logprobs"},
      {C, R"({"model": "m", "prompt": "x", "echo": 1})", 400, "echo"},
      {C, R"({"model": "m", "prompt": "x", "stream": "yes"})", 400, "stream"},
      {C, R"({"model": "m", "prompt": "x", "stream_options": {"include_usage": true}})", 400, "stream_options"},
      {C, R"({"model": "m", "prompt": "x", "stream": true, "stream_options": 1})", 400, "stream_options"},
      {C, R"({"model": "m", "prompt": "x", "stream": true, "stream_options": {"include_usage": 1}})", 400,
       "stream_options"},
      {C, R"({"model": "m", "prompt": "x", "stop": ""})", 400, "stop"},
      {C, R"({"model": "m", "prompt": "x", "stop": ["a", 1]})", 400, "stop"},
      {C, R"({"model": "m", "prompt": "x", "stop": 7})", 400, "stop"},
      {C, R"({"model": "m", "prompt": "x", "seed": "s"})", 400, "seed"},
      {C, R"({"model": "m", "prompt": "x", "seed": 1.5})", 400, "seed"},
      {C, R"({"model": "m", "prompt": "x", "user": 3})", 400, "user"},
      {C, R"({"model": "m", "prompt": "x", "ignore_eos": "no"})", 400, "ignore_eos"},
      {C, R"({"model": "m", "prompt": "x", "stop_token_ids": [-1]})", 400, "stop_token_ids"},
      {C, R"({"model": "m", "prompt": "x", "suffix": "tail"})", 400, "suffix"},
      {C, R"({"model": "m", "prompt": "x", "best_of": 2})", 400, "best_of"},
      {C, R"({"model": "m", "prompt": "x", "logit_bias": {"5": 10}})", 400, "logit_bias"},
      {H, R"({"model": "m"})", 400, "messages"},
      {H, R"({"model": "m", "messages": []})", 400, "messages"},
      {H, R"({"model": "m", "messages": "hi"})", 400, "messages"},
      {H, R"({"model": "m", "messages": [5]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"content": "x"}]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"role": "user"}]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": 5}]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]})", 400, "messages"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0})", 400,
       "max_completion_tokens"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", 400, "max_tokens"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": 1})", 400, "logprobs"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", 400, "top_logprobs"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})",
       400, "top_logprobs"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", 400,
       "tools"},
      {H,
       R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
       400, "response_format"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0})", 400, "n"},
      {H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9})", 400, "temperature"},
  };
  for (const BadCase& c : cases) {
    ApiRequest r;
    auto e = parse_request(c.ep, Json::parse(c.body), &r);
    ASSERT_TRUE(e.has_value()) << c.body;
    EXPECT_EQ(e->status, c.status) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body << " -> " << e->message;
    EXPECT_EQ(e->type, "invalid_request_error") << c.body;
    EXPECT_FALSE(e->message.empty()) << c.body;
  }
}

TEST(OpenAiProtocol, ErrorMessagesNameTheValue) {
  ApiRequest r;
  auto e = parse_request(Endpoint::kCompletions, J(R"({"model": "m", "prompt": "x", "temperature": 3})"), &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "temperature must be in [0, 2], got 3");
  e = parse_request(Endpoint::kCompletions, J(R"({"model": "m", "prompt": "x", "top_p": 0})"), &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "top_p must be in (0, 1], got 0");
}

TEST(OpenAiProtocol, ErrorJsonShape) {
  ApiError e = bad_request("top_p must be in (0, 1], got 0", "top_p");
  EXPECT_EQ(error_json(e), J(R"({"error": {"message": "top_p must be in (0, 1], got 0",
                                  "type": "invalid_request_error", "param": "top_p", "code": null}})"));
  ApiError none = bad_request("bad");
  EXPECT_TRUE(error_json(none)["error"]["param"].is_null());
}

TEST(OpenAiProtocol, StatusMapping) {
  EXPECT_EQ(error_from_status(invalid_argument("x")).status, 400);
  EXPECT_EQ(error_from_status(not_found("x")).status, 404);
  EXPECT_EQ(error_from_status(not_found("x")).code, "model_not_found");
  EXPECT_EQ(error_from_status(resource_exhausted("x")).status, 429);
  EXPECT_EQ(error_from_status(resource_exhausted("x")).type, "rate_limit_error");
  EXPECT_EQ(error_from_status(unavailable("x")).status, 503);
  EXPECT_EQ(error_from_status(corrupt("x")).status, 500);
  EXPECT_EQ(error_from_status(io_error("x")).status, 500);
}

TEST(OpenAiProtocol, ParamComesFromTheStatusField) {
  EXPECT_EQ(error_from_status(invalid_field("top_k", "top_k must be >= -1")).param, "top_k");
  EXPECT_EQ(error_from_status(invalid_argument("a prompt problem")).param, "");  // no text search
  // An explicit param wins.
  EXPECT_EQ(error_from_status(invalid_field("prompt", "x"), "messages").param, "messages");
  // Sampling parameters the engine validates carry their own name.
  SamplingParams p;
  p.frequency_penalty = 3;
  ApiError e = error_from_status(p.validate());
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "frequency_penalty");
  p = SamplingParams{};
  p.max_tokens = 0;
  EXPECT_EQ(error_from_status(p.validate()).param, "max_tokens");
  p = SamplingParams{};
  p.stop = {"ok", ""};
  EXPECT_EQ(error_from_status(p.validate()).param, "stop");
}

TEST(OpenAiProtocol, CompletionResponseShape) {
  Json choices = Json::array({completion_choice(0, " c a t", nullptr, finish_reason_json(FinishReason::kStop))});
  Json r = completion_response("cmpl-1", 1700000000, "base", choices, Usage{5, 4});
  EXPECT_EQ(r, J(R"({"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "base",
                     "choices": [{"index": 0, "text": " c a t", "logprobs": null, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})"));
  Json chunk = completion_chunk("cmpl-1", 1, "base", completion_choice(0, " c", nullptr, nullptr), true);
  EXPECT_TRUE(chunk["usage"].is_null());
  EXPECT_TRUE(chunk.contains("usage"));
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(chunk["object"], "text_completion");
  EXPECT_FALSE(completion_chunk("cmpl-1", 1, "base", Json::object(), false).contains("usage"));
}

TEST(OpenAiProtocol, ChatShapes) {
  Json r = chat_response("chatcmpl-1", 2, "upper",
                         Json::array({chat_choice(0, "C A T", nullptr, finish_reason_json(FinishReason::kLength))}),
                         Usage{10, 3});
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0], J(R"({"index": 0, "message": {"role": "assistant", "content": "C A T", "refusal": null},
                                   "logprobs": null, "finish_reason": "length"})"));
  EXPECT_EQ(r["usage"]["total_tokens"], 13);
  Json first =
      chat_chunk("chatcmpl-1", 2, "upper", 0, Json{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr, false);
  EXPECT_EQ(first, J(R"({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 2, "model": "upper",
                         "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null,
                                      "finish_reason": null}]})"));
  Json last = chat_chunk("chatcmpl-1", 2, "upper", 0, Json::object(), nullptr, "stop", true);
  EXPECT_EQ(last["choices"][0]["delta"], Json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(last["usage"].is_null());
  Json usage = usage_chunk("chat.completion.chunk", "chatcmpl-1", 2, "upper", Usage{10, 3});
  EXPECT_EQ(usage["choices"], Json::array());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 3);
}

TEST(OpenAiProtocol, FinishReasons) {
  EXPECT_EQ(finish_reason_json(FinishReason::kStop), "stop");
  EXPECT_EQ(finish_reason_json(FinishReason::kLength), "length");
  EXPECT_TRUE(finish_reason_json(FinishReason::kNone).is_null());
}

TEST(OpenAiProtocol, SseFraming) {
  EXPECT_EQ(sse_event(Json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_STREQ(kSseDone, "data: [DONE]\n\n");
  // Invalid UTF-8 (a token that ends mid-character) never breaks the JSON.
  std::string bad = "x\xE6";
  EXPECT_EQ(dump_json(Json{{"t", bad}}), "{\"t\":\"x\xEF\xBF\xBD\"}");
}

TEST(OpenAiProtocol, CompletionLogprobsOffsets) {
  TokenText text = [](int32_t id) {
    return id == 1 ? std::string(" c") : id == 2 ? std::string(" \xC3\xA9") : "<eos>";
  };
  CompletionLogprobs lp(7);  // after an echoed 7-character prompt
  TokenOutput a;
  a.token = 1;
  a.logprob = -0.5f;
  a.top_logprobs = {{1, -0.5f}, {2, -1.5f}};
  lp.add(a, text);
  TokenOutput b;
  b.token = 2;
  b.logprob = -2.0f;
  b.top_logprobs = {{1, -0.25f}};
  lp.add(b, text);
  TokenOutput eos;
  eos.token = 3;
  eos.logprob = -0.1f;
  lp.add(eos, text, /*zero_width=*/true);
  Json j = lp.take();
  EXPECT_EQ(j["tokens"], J(R"([" c", " \u00e9", "<eos>"])"));
  EXPECT_EQ(j["text_offset"], J("[7, 9, 11]"));  // code points: " é" is 2 characters
  EXPECT_FLOAT_EQ(j["token_logprobs"][0].get<float>(), -0.5f);
  EXPECT_EQ(j["top_logprobs"][0].size(), 2u);
  // The sampled token is always in its top_logprobs entry.
  EXPECT_TRUE(j["top_logprobs"][1].contains(" \xC3\xA9"));
  EXPECT_TRUE(j["top_logprobs"][1].contains(" c"));
  // take() restarts with the offsets continuing.
  EXPECT_TRUE(lp.empty());
  lp.add(a, text);
  EXPECT_EQ(lp.take()["text_offset"], J("[11]"));

  CompletionLogprobs echo;
  echo.add_prompt_token("ab");
  Json e = echo.take();
  EXPECT_TRUE(e["token_logprobs"][0].is_null());
  EXPECT_TRUE(e["top_logprobs"][0].is_null());
}

TEST(OpenAiProtocol, ChatLogprobEntry) {
  TokenText text = [](int32_t id) { return id == 1 ? std::string("Hi") : std::string("!"); };
  TokenOutput t;
  t.token = 1;
  t.logprob = -0.25f;
  t.top_logprobs = {{1, -0.25f}, {2, -2.0f}, {3, -3.0f}};
  Json e = chat_logprob_entry(t, text, 2);
  EXPECT_EQ(e["token"], "Hi");
  EXPECT_EQ(e["bytes"], J("[72, 105]"));
  ASSERT_EQ(e["top_logprobs"].size(), 2u);
  EXPECT_EQ(e["top_logprobs"][1]["token"], "!");
  EXPECT_EQ(e["top_logprobs"][1]["bytes"], J("[33]"));
  EXPECT_TRUE(chat_logprob_entry(t, text, 0)["top_logprobs"].empty());
}

TEST(OpenAiProtocol, RequestIds) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(new_request_id("cmpl-"));
  EXPECT_EQ(ids.size(), 100u);
  std::string id = new_request_id("chatcmpl-");
  EXPECT_EQ(id.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(id.size(), std::string("chatcmpl-").size() + 24);
}

TEST(OpenAiProtocol, ModelCards) {
  Json base = model_card("base", 100, "/models/base", "", 256);
  EXPECT_EQ(base["object"], "model");
  EXPECT_TRUE(base["parent"].is_null());
  EXPECT_EQ(base["max_model_len"], 256);
  EXPECT_EQ(base["root"], "/models/base");
  ASSERT_EQ(base["permission"].size(), 1u);
  EXPECT_EQ(base["permission"][0]["object"], "model_permission");
  Json lora = model_card("math", 200, "/store/math", "base", 0);
  EXPECT_EQ(lora["parent"], "base");
  EXPECT_FALSE(lora.contains("max_model_len"));
  Json list = model_list(Json::array({base, lora}));
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"].size(), 2u);
  for (const char* k : {"id", "object", "created", "owned_by", "root", "parent", "permission"}) {
    EXPECT_TRUE(lora.contains(k)) << k;
  }
}

TEST(OpenAiProtocol, Utf8Length) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("caf\xC3\xA9"), 4u);
  EXPECT_EQ(utf8_length("\xF0\x9F\x98\x80"), 1u);
}

}  // namespace
}  // namespace lpx::server
