// Prompt rendering, tokenization and validation (engine/prompt.h): the checks `generate`, the
// server and Engine::add_request share, and the field each error names.
#include "engine/prompt.h"

#include <gtest/gtest.h>

#include <vector>

namespace lpx {
namespace {

TEST(Prompt, VocabularyCheckNamesTheField) {
  const std::vector<int32_t> ok{0, 5, 99};
  EXPECT_TRUE(check_vocabulary(ok, 100, "prompt").is_ok());
  for (int32_t bad : {100, -1}) {
    const std::vector<int32_t> ids{1, bad};
    Status s = check_vocabulary(ids, 100, "messages");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.field(), "messages");
    EXPECT_NE(s.message().find("token id " + std::to_string(bad) + " is outside the vocabulary"), std::string::npos)
        << s.message();
  }
}

TEST(Prompt, ContextLeavesRoomForOneGeneratedToken) {
  EXPECT_TRUE(check_context(63, 64, "prompt").is_ok());
  Status s = check_context(64, 64, "prompt");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "prompt");
  EXPECT_NE(s.message().find("maximum context length is 64 tokens"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("the prompt has 64 tokens"), std::string::npos) << s.message();
}

TEST(Prompt, ValidateRunsEveryCheck) {
  const PromptLimits limits{100, 8};
  EXPECT_TRUE(validate_prompt(std::vector<int32_t>{1, 2, 3}, limits).is_ok());
  Status empty = validate_prompt(std::vector<int32_t>{}, limits);
  EXPECT_EQ(empty.field(), "prompt");
  EXPECT_NE(empty.message().find("empty"), std::string::npos);
  EXPECT_FALSE(validate_prompt(std::vector<int32_t>{1, 100}, limits).is_ok());
  EXPECT_FALSE(validate_prompt(std::vector<int32_t>(8, 1), limits).is_ok());
  EXPECT_EQ(validate_prompt(std::vector<int32_t>(8, 1), limits, "messages").field(), "messages");
  EXPECT_EQ(default_max_tokens(limits), 8);
}

TEST(Prompt, EncodesChatAndTextWithTheDemoModel) {
  ModelLoadOptions o;
  o.progress_log = false;
  auto m = Model::load(std::string(LPX_SOURCE_DIR) + "/models/demo/base", o);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const Model& model = *m.value();
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  msgs.push_back({{"role", "user"}, {"content", "c a t"}});
  auto chat = encode_chat(model, msgs);
  ASSERT_TRUE(chat.is_ok()) << chat.status().to_string();
  auto text = model.render_chat(msgs, true);
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ(*chat, model.tokenizer->encode(*text, false));  // the template writes the specials
  EXPECT_EQ(encode_text(model, "c a t", true), model.tokenizer->encode("c a t", true));
  EXPECT_EQ(encode_text(model, "c a t", false), model.tokenizer->encode("c a t", false));
  EXPECT_TRUE(validate_prompt(*chat, prompt_limits(model, 64)).is_ok());
}

}  // namespace
}  // namespace lpx
