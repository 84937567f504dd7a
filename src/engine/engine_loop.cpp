// EngineLoop: the engine thread and its message queue (see engine_loop.h).
#include "engine/engine_loop.h"

#include <algorithm>
#include <utility>

#include "core/log.h"

namespace lpx {

void RequestChannel::push(ChannelEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

bool RequestChannel::wait(std::chrono::milliseconds timeout, std::vector<ChannelEvent>* out) {
  out->clear();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  if (events_.empty()) return false;
  out->reserve(events_.size());
  for (ChannelEvent& e : events_) out->push_back(std::move(e));
  events_.clear();
  return true;
}

void RequestChannel::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  events_.clear();
}

EngineLoop::EngineLoop(Engine* engine) : engine_(engine) { stats_ = engine_->stats(); }

EngineLoop::~EngineLoop() { stop(); }

void EngineLoop::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void EngineLoop::submit(const ChannelPtr& channel, std::vector<GenerationRequest> requests) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_ && started_) {
      queued_requests_ += static_cast<int>(requests.size());
      active_ += static_cast<int>(requests.size());
      queue_.push_back(Message{Message::Kind::kSubmit, channel, std::move(requests)});
      cv_.notify_all();
      return;
    }
  }
  ChannelEvent e;
  e.kind = ChannelEvent::Kind::kRejected;
  e.status = unavailable("the server is shutting down");
  e.at = Clock::now();
  channel->push(std::move(e));
}

void EngineLoop::cancel(const ChannelPtr& channel) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return;
  queue_.push_back(Message{Message::Kind::kCancel, channel, {}});
  cv_.notify_all();
}

void EngineLoop::cancel_all() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return;
  queue_.push_back(Message{Message::Kind::kCancelAll, nullptr, {}});
  cv_.notify_all();
}

void EngineLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

EngineStats EngineLoop::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats s = stats_;
  s.waiting += queued_requests_;
  return s;
}

int EngineLoop::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

void EngineLoop::on_output(RequestChannel* key, int choice, const RequestOutput& out) {
  auto it = live_.find(key);
  if (it == live_.end()) return;  // a rejected submission's requests being withdrawn
  ChannelEvent e;
  e.kind = ChannelEvent::Kind::kOutput;
  e.choice = choice;
  e.output = out;
  e.at = Clock::now();
  it->second.channel->push(std::move(e));
  if (out.finished) {
    auto& ids = it->second.ids;
    ids.erase(std::remove(ids.begin(), ids.end(), out.id), ids.end());
    if (ids.empty()) {
      done_.push_back(std::move(it->second.channel));
      live_.erase(it);
    }
    std::lock_guard<std::mutex> lock(mu_);
    active_--;
  }
}

void EngineLoop::cancel_ids(std::vector<RequestId> ids) {
  for (RequestId id : ids) engine_->cancel(id);  // callbacks update live_
}

void EngineLoop::handle(Message& m) {
  switch (m.kind) {
    case Message::Kind::kSubmit: {
      const int n = static_cast<int>(m.requests.size());
      RequestChannel* key = m.channel.get();
      Live& live = live_[key];
      live.channel = m.channel;
      Status error;
      for (int i = 0; i < n; ++i) {
        GenerationRequest& r = m.requests[static_cast<size_t>(i)];
        r.on_output = [this, key, i](const RequestOutput& out) { on_output(key, i, out); };
        auto id = engine_->add_request(std::move(r));
        if (!id.is_ok()) {
          error = id.status();
          break;
        }
        live.ids.push_back(*id);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        queued_requests_ -= n;
      }
      ChannelEvent e;
      e.at = Clock::now();
      if (error.is_ok()) {
        if (live.ids.empty()) live_.erase(key);
        e.kind = ChannelEvent::Kind::kAccepted;
        m.channel->push(std::move(e));
        break;
      }
      // All or nothing: withdraw the ones already queued, silently.
      std::vector<RequestId> added = std::move(live.ids);
      live_.erase(key);
      cancel_ids(added);
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_ -= n;
      }
      e.kind = ChannelEvent::Kind::kRejected;
      e.status = error;
      m.channel->push(std::move(e));
      break;
    }
    case Message::Kind::kCancel: {
      auto it = live_.find(m.channel.get());
      if (it != live_.end()) cancel_ids(it->second.ids);
      break;
    }
    case Message::Kind::kCancelAll: {
      std::vector<RequestId> all;
      for (auto& [key, live] : live_) all.insert(all.end(), live.ids.begin(), live.ids.end());
      cancel_ids(all);
      break;
    }
  }
}

void EngineLoop::flush_done() {
  for (ChannelPtr& ch : done_) {
    ChannelEvent e;
    e.kind = ChannelEvent::Kind::kDone;
    e.at = Clock::now();
    ch->push(std::move(e));
  }
  done_.clear();
}

void EngineLoop::publish_stats() {
  EngineStats s = engine_->stats();
  std::lock_guard<std::mutex> lock(mu_);
  stats_ = std::move(s);
}

void EngineLoop::run() {
  std::vector<Message> batch;
  while (true) {
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!engine_->has_work()) cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      stopping = stopping_;
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    for (Message& m : batch) {
      if (stopping && m.kind == Message::Kind::kSubmit) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          queued_requests_ -= static_cast<int>(m.requests.size());
          active_ -= static_cast<int>(m.requests.size());
        }
        ChannelEvent e;
        e.kind = ChannelEvent::Kind::kRejected;
        e.status = unavailable("the server is shutting down");
        e.at = Clock::now();
        m.channel->push(std::move(e));
        continue;
      }
      handle(m);
    }
    batch.clear();
    if (!done_.empty()) {  // cancelled ones
      publish_stats();
      flush_done();
    }
    if (stopping) {
      Message all{Message::Kind::kCancelAll, nullptr, {}};
      handle(all);
      publish_stats();
      flush_done();
      return;
    }
    if (engine_->has_work()) {
      Status st = engine_->step();  // finished sequences are dropped before it returns
      if (!st.is_ok()) LPX_LOG_ERROR("engine step failed: " + st.to_string());
    }
    publish_stats();  // before kDone: a client that saw its end sees up-to-date gauges
    flush_done();
  }
}

}  // namespace lpx
