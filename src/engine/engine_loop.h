// The engine thread: the one thread that owns the Engine (engine/engine.h is single-threaded). HTTP
// handler threads never touch engine state; they submit the engine requests of one API call as a
// message through a thread-safe queue and read what comes back from their own RequestChannel
// (mutex + condition variable). Cancellation (client gone, shutdown) is a message too.
// The loop: drain submissions and cancels, engine.step() while there is work, otherwise sleep on
// the queue. Thread-safe: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"

namespace lpx {

using Clock = std::chrono::steady_clock;

// What the engine thread tells an HTTP thread about its call.
struct ChannelEvent {
  enum class Kind {
    kAccepted,  // every request of the submission was queued in the engine
    kRejected,  // none was (status: add_request's error, or unavailable when stopping)
    kOutput,    // one engine output of request number `choice` of the submission
    kDone,      // after the last output: the engine dropped every request (adapter leases released)
  };
  Kind kind = Kind::kOutput;
  int choice = 0;
  Status status;
  RequestOutput output;
  Clock::time_point at;  // when the engine thread produced it
};

// The per-call channel: the engine thread pushes, one HTTP thread pops. Closing it drops every
// later push (the reader is gone or no longer interested).
class RequestChannel {
 public:
  void push(ChannelEvent event);
  // Moves the pending events into `out` (cleared first), waiting up to `timeout` for at least one.
  // Returns false when none came.
  bool wait(std::chrono::milliseconds timeout, std::vector<ChannelEvent>* out);
  void close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChannelEvent> events_;
  bool closed_ = false;
};
using ChannelPtr = std::shared_ptr<RequestChannel>;

class EngineLoop {
 public:
  explicit EngineLoop(Engine* engine);
  ~EngineLoop();  // stop()
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  // Starts the engine thread.
  void start();
  // Queues the requests of one call, all or nothing: `channel` first gets kAccepted (then the
  // outputs of each request, `choice` = its index in `requests`, then kDone) or kRejected. The requests'
  // on_output callbacks are replaced. Rejected with unavailable once stop() has begun.
  void submit(const ChannelPtr& channel, std::vector<GenerationRequest> requests);
  // Cancels the call's requests still in the engine (each reports FinishReason::kCancelled on the
  // channel). No-op when they are done.
  void cancel(const ChannelPtr& channel);
  // Cancels every request in the engine (shutdown after the grace period).
  void cancel_all();
  // Cancels everything and joins the thread. Idempotent.
  void stop();

  // Engine statistics as of the end of the last step, plus calls queued but not yet in the engine.
  EngineStats stats() const;
  // Engine requests not finished yet (queued submissions included).
  int active() const;

 private:
  struct Message {
    enum class Kind { kSubmit, kCancel, kCancelAll } kind = Kind::kSubmit;
    ChannelPtr channel;
    std::vector<GenerationRequest> requests;
  };
  struct Live {
    ChannelPtr channel;
    std::vector<RequestId> ids;  // engine ids not finished yet
  };
  void run();
  void handle(Message& m);
  void cancel_ids(std::vector<RequestId> ids);
  void on_output(RequestChannel* key, int choice, const RequestOutput& out);
  void publish_stats();
  void flush_done();

  Engine* engine_;
  std::thread thread_;
  mutable std::mutex mu_;  // guards queue_, stopping_, stats_, active_
  std::condition_variable cv_;
  std::deque<Message> queue_;
  bool stopping_ = false;
  bool started_ = false;
  EngineStats stats_;
  int queued_requests_ = 0;
  int active_ = 0;
  // Engine thread only.
  std::unordered_map<RequestChannel*, Live> live_;
  std::vector<ChannelPtr> done_;  // every request finished; kDone goes out once the engine dropped them
};

}  // namespace lpx
