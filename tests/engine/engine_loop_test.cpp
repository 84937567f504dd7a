// The engine thread: submissions are all-or-nothing, outputs reach the right channel and choice,
// cancellation finishes requests at once, stop() refuses new work. Runs on the demo base model.
#include "engine/engine_loop.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace lpx {
namespace {

using namespace std::chrono_literals;

const Model* demo_model() {
  static std::unique_ptr<Model> model = [] {
    const std::string dir = std::string(LPX_SOURCE_DIR) + "/models/demo/base";
    if (!std::filesystem::exists(dir + "/config.json")) return std::unique_ptr<Model>();
    ModelLoadOptions o;
    o.progress_log = false;
    auto m = Model::load(dir, o);
    return m.is_ok() ? std::move(m).value() : std::unique_ptr<Model>();
  }();
  return model.get();
}

GenerationRequest make_request(const Model& m, int max_tokens, bool ignore_eos = true) {
  GenerationRequest r;
  r.prompt = m.tokenizer->encode("c a t =", true);
  r.params.temperature = 0;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = ignore_eos;
  return r;
}

struct Collected {
  bool accepted = false, rejected = false, done = false;
  Status status;
  std::vector<RequestOutput> finals;  // by choice
  std::vector<int> tokens;            // by choice
};

// Reads a channel until every one of `n` choices finished (or a rejection), with a timeout.
Collected collect(RequestChannel& ch, int n, std::chrono::milliseconds timeout = 30s) {
  Collected c;
  c.finals.resize(static_cast<size_t>(n));
  c.tokens.assign(static_cast<size_t>(n), 0);
  int done = 0;
  const auto deadline = Clock::now() + timeout;
  std::vector<ChannelEvent> events;
  while ((done < n || !c.done) && !c.rejected && Clock::now() < deadline) {
    ch.wait(50ms, &events);
    for (ChannelEvent& e : events) {
      if (e.kind == ChannelEvent::Kind::kAccepted) c.accepted = true;
      if (e.kind == ChannelEvent::Kind::kRejected) {
        c.rejected = true;
        c.status = e.status;
      }
      if (e.kind == ChannelEvent::Kind::kDone) {
        EXPECT_EQ(done, n) << "kDone before the last output";
        c.done = true;
      }
      if (e.kind != ChannelEvent::Kind::kOutput) continue;
      EXPECT_FALSE(c.done) << "output after kDone";
      EXPECT_TRUE(c.accepted) << "output before acceptance";
      c.tokens[static_cast<size_t>(e.choice)] += static_cast<int>(e.output.tokens.size());
      if (e.output.finished) {
        c.finals[static_cast<size_t>(e.choice)] = e.output;
        done++;
      }
    }
  }
  return c;
}

// The demo model is part of the repository: failing to load it is a failure, not a skip.
class EngineLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m = demo_model();
    ASSERT_NE(m, nullptr) << "models/demo/base failed to load";
  }
  void start(const EngineConfig& ec = EngineConfig{}) {
    engine = std::make_unique<Engine>(*m, ec);
    loop = std::make_unique<EngineLoop>(engine.get());
    loop->start();
  }
  const Model* m = nullptr;
  std::unique_ptr<Engine> engine;  // declared before the loop: the loop stops first
  std::unique_ptr<EngineLoop> loop;
};

TEST_F(EngineLoopTest, RunsSubmissionsAndRoutesOutputs) {
  EngineConfig ec;
  ec.max_num_seqs = 4;
  start(ec);
  auto a = std::make_shared<RequestChannel>();
  auto b = std::make_shared<RequestChannel>();
  std::vector<GenerationRequest> ra, rb;
  ra.push_back(make_request(*m, 3));
  ra.push_back(make_request(*m, 5));
  rb.push_back(make_request(*m, 4));
  loop->submit(a, std::move(ra));
  loop->submit(b, std::move(rb));
  Collected ca = collect(*a, 2), cb = collect(*b, 1);
  ASSERT_TRUE(ca.accepted);
  ASSERT_TRUE(cb.accepted);
  EXPECT_TRUE(ca.done);
  EXPECT_TRUE(cb.done);
  EXPECT_EQ(ca.tokens[0], 3);
  EXPECT_EQ(ca.tokens[1], 5);
  EXPECT_EQ(cb.tokens[0], 4);
  EXPECT_EQ(ca.finals[0].reason, FinishReason::kLength);
  EXPECT_EQ(ca.finals[1].completion_tokens, 5);
  for (int i = 0; i < 100 && loop->active() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(loop->active(), 0);
  EXPECT_GE(loop->stats().generated_tokens, 12);
}

TEST_F(EngineLoopTest, SubmissionIsAllOrNothing) {
  start();
  auto ch = std::make_shared<RequestChannel>();
  std::vector<GenerationRequest> reqs;
  reqs.push_back(make_request(*m, 50));
  GenerationRequest bad = make_request(*m, 5);
  bad.prompt.clear();  // the engine refuses an empty prompt
  reqs.push_back(std::move(bad));
  loop->submit(ch, std::move(reqs));
  Collected c = collect(*ch, 2, 5s);
  EXPECT_TRUE(c.rejected);
  EXPECT_FALSE(c.accepted);
  EXPECT_EQ(c.status.code(), StatusCode::kInvalidArgument);
  std::vector<ChannelEvent> events;
  EXPECT_FALSE(ch->wait(100ms, &events)) << "no output after a rejection";
  EXPECT_EQ(loop->active(), 0);
}

TEST_F(EngineLoopTest, CancelFinishesAtOnce) {
  start();
  auto ch = std::make_shared<RequestChannel>();
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 8; ++i) reqs.push_back(make_request(*m, 250));
  loop->submit(ch, std::move(reqs));
  loop->cancel(ch);
  Collected c = collect(*ch, 8, 10s);
  ASSERT_TRUE(c.accepted);
  EXPECT_TRUE(c.done);
  int cancelled = 0;
  for (const RequestOutput& o : c.finals) {
    EXPECT_TRUE(o.finished);
    cancelled += o.reason == FinishReason::kCancelled;
  }
  EXPECT_GT(cancelled, 0);
  for (int i = 0; i < 100 && loop->active() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(loop->active(), 0);
  EngineStats s = loop->stats();
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST_F(EngineLoopTest, StopRefusesNewWork) {
  start();
  auto running = std::make_shared<RequestChannel>();
  std::vector<GenerationRequest> reqs;
  reqs.push_back(make_request(*m, 250));
  loop->submit(running, std::move(reqs));
  loop->stop();  // cancels what is left
  auto late = std::make_shared<RequestChannel>();
  std::vector<GenerationRequest> more;
  more.push_back(make_request(*m, 5));
  loop->submit(late, std::move(more));
  Collected c = collect(*late, 1, 2s);
  EXPECT_TRUE(c.rejected);
  EXPECT_EQ(c.status.code(), StatusCode::kUnavailable);
  Collected r = collect(*running, 1, 2s);
  ASSERT_TRUE(r.accepted || r.rejected);
  EXPECT_EQ(loop->active(), 0);
}

TEST(RequestChannel, ClosedChannelDropsEvents) {
  RequestChannel ch;
  ChannelEvent e;
  ch.push(e);
  std::vector<ChannelEvent> out;
  EXPECT_TRUE(ch.wait(0ms, &out));
  EXPECT_EQ(out.size(), 1u);
  ch.close();
  ch.push(e);
  EXPECT_FALSE(ch.wait(10ms, &out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace lpx
