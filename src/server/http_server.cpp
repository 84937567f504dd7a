// The HTTP front end on cpp-httplib (see http_server.h). The only file that includes httplib.h.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <thread>
#include <utility>

#include "core/log.h"
#include "engine/prompt.h"
#include "server/openai_protocol.h"

namespace lpx::server {
namespace {

using namespace std::chrono_literals;
constexpr auto kPollInterval = 50ms;  // how often a waiting handler checks its client

enum class State { kStarting = 0, kReady = 1, kShuttingDown = 2 };

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status, error_json(e));
  if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
}

ApiError api_error(int status, std::string message, std::string type, std::string code, std::string param = "") {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.code = std::move(code);
  e.param = std::move(param);
  return e;
}

// Whether the client of a request is still connected. httplib 0.11 does not expose the socket to
// handlers, so it is found once: the connection's socket inode in /proc/self/net/tcp{,6} (by its
// ports and peer address), then the descriptor linked to that inode in /proc/self/fd (readlink only:
// no other thread's descriptor is touched). The handler's thread owns that descriptor while the
// handler runs; it is polled for POLLRDHUP (the peer closed). When it cannot be found the client is
// assumed connected (streams still notice failed writes).
class ConnectionWatch {
 public:
  explicit ConnectionWatch(const httplib::Request& req)
      : local_port_(req.local_port), remote_port_(req.remote_port), remote_addr_(req.remote_addr) {}

  bool alive() {
    if (fd_ == kUnknown) fd_ = find();
    if (fd_ < 0) return true;
    if (!matches(fd_)) return false;  // the connection is gone
    pollfd p{};
    p.fd = fd_;
    p.events = POLLRDHUP;
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) return false;
    return true;
  }

 private:
  static constexpr int kUnknown = -2;

  static int port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return -1;
  }
  static std::string addr_of(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof(buf));
    } else if (ss.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof(buf));
    }
    return buf;
  }
  // "0100007F:1F90" (/proc/net/tcp: address words in host order, port in hex) -> port, address.
  static int hex_port(const std::string& s) {
    const size_t c = s.find(':');
    return c == std::string::npos ? -1 : static_cast<int>(std::strtol(s.c_str() + c + 1, nullptr, 16));
  }
  static std::string hex_addr(const std::string& s) {
    const std::string h = s.substr(0, s.find(':'));
    char buf[INET6_ADDRSTRLEN] = {0};
    auto word = [&](size_t i) { return static_cast<uint32_t>(std::strtoul(h.substr(8 * i, 8).c_str(), nullptr, 16)); };
    if (h.size() == 8) {
      in_addr a{};
      a.s_addr = word(0);
      inet_ntop(AF_INET, &a, buf, sizeof(buf));
    } else if (h.size() == 32) {
      in6_addr a{};
      for (size_t i = 0; i < 4; ++i) {
        const uint32_t w = word(i);
        std::memcpy(&a.s6_addr[4 * i], &w, 4);
      }
      inet_ntop(AF_INET6, &a, buf, sizeof(buf));
    }
    return buf;
  }
  bool matches(int fd) const {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || port_of(ss) != local_port_) return false;
    len = sizeof(ss);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
    return port_of(ss) == remote_port_ && addr_of(ss) == remote_addr_;
  }
  uint64_t find_inode() const {
    for (const char* file : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
      std::ifstream in(file);
      std::string line;
      std::getline(in, line);  // header
      while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string sl, local, remote, st, queues, timer, retransmits, uid, timeout;
        uint64_t inode = 0;
        if (!(ls >> sl >> local >> remote >> st >> queues >> timer >> retransmits >> uid >> timeout >> inode)) continue;
        if (inode == 0 || hex_port(local) != local_port_ || hex_port(remote) != remote_port_) continue;
        if (hex_addr(remote) == remote_addr_) return inode;
      }
    }
    return 0;
  }
  int find() const {
    if (local_port_ <= 0 || remote_port_ <= 0) return -1;
    const uint64_t inode = find_inode();
    if (inode == 0) return -1;
    const std::string want = "socket:[" + std::to_string(inode) + "]";
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    int found = -1;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      char target[64];
      const std::string link = std::string("/proc/self/fd/") + e->d_name;
      const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = 0;
      if (want == target) {
        found = std::atoi(e->d_name);
        break;
      }
    }
    closedir(dir);
    return found >= 0 && matches(found) ? found : -1;
  }

  int local_port_, remote_port_;
  std::string remote_addr_;
  int fd_ = kUnknown;
};

bool is_json_content_type(const httplib::Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  std::transform(ct.begin(), ct.end(), ct.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct == "application/json";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace

struct HttpServer::Impl {
  ServerOptions opt;
  httplib::Server svr;
  int listen_fd = -1;  // the listening socket, seen by the socket-options hook
  std::thread listener;
  std::atomic<int> state{static_cast<int>(State::kStarting)};
  std::atomic<int> in_flight{0};
  Backend backend;  // written before state becomes kReady, read-only after
  ServerMetrics metrics;
  bool bound = false;
  std::atomic<bool> listener_exited{false};

  explicit Impl(ServerOptions o) : opt(std::move(o)) {}

  State get_state() const { return static_cast<State>(state.load(std::memory_order_acquire)); }

  std::optional<ApiError> not_ready_error() const {
    switch (get_state()) {
      case State::kReady: return std::nullopt;
      case State::kStarting:
        return api_error(503, "the model is still loading; retry when /v1/health/ready answers 200",
                         "service_unavailable", "not_ready");
      case State::kShuttingDown:
        return api_error(503, "the server is shutting down", "service_unavailable", "shutting_down");
    }
    return std::nullopt;
  }

  void setup();
  void handle_models(const httplib::Request& req, httplib::Response& res);
  void handle_generation(Endpoint ep, const httplib::Request& req, httplib::Response& res);
  std::string render_metrics();
};

namespace {

// One generation call in flight: state shared by the handler and (streaming) the content provider.
struct Call {
  struct Choice {
    std::string text;
    FinishReason finish = FinishReason::kNone;
    Status error;
    int64_t completion_tokens = 0;
    bool finished = false;
    CompletionLogprobs completion_lp;
    Json chat_lp = Json::array();
    bool any_token = false;
    Clock::time_point last_token;
  };

  HttpServer::Impl* server = nullptr;
  Backend b;
  ApiRequest api;
  bool chat = false;
  std::string id;
  int64_t created = 0;
  std::vector<std::string> echo_text;            // per prompt
  std::vector<std::vector<int32_t>> prompt_ids;  // per prompt
  std::vector<Choice> choices;
  int n_finished = 0;
  bool engine_done = false;  // kDone: the engine dropped every request (adapter lease released)
  ChannelPtr channel = std::make_shared<RequestChannel>();
  ConnectionWatch watch;
  TokenText token_text;
  std::function<bool(int32_t)> is_special;
  Clock::time_point t0;
  RequestRecord rec;
  bool recorded = true;  // false once submitted: from then on finish() records exactly once
  bool stream_started = false;
  bool cancelled = false;

  explicit Call(const httplib::Request& req) : watch(req) {}

  ~Call() {
    if (!recorded) finish(499);  // the provider never ran to the end (client gone)
  }

  Usage usage() const {
    Usage u;
    for (const auto& p : prompt_ids) u.prompt_tokens += static_cast<int64_t>(p.size());
    for (const Choice& c : choices) u.completion_tokens += c.completion_tokens;
    return u;
  }

  // Records metrics once, and cancels whatever is still running.
  void finish(int status) {
    if (recorded) return;
    recorded = true;
    if (!engine_done) cancel();
    rec.status = status;
    Usage u = usage();
    rec.prompt_tokens = u.prompt_tokens;
    rec.completion_tokens = u.completion_tokens;
    if (status == 200) rec.e2e_seconds = seconds(Clock::now() - t0);
    server->metrics.record(rec);
    server->in_flight.fetch_sub(1);
  }

  void cancel() {
    if (cancelled) return;
    cancelled = true;
    b.loop->cancel(channel);
    channel->close();
  }

  // Applies one event (outputs; kDone). Streaming: appends the SSE text it produces to `sse`.
  void apply(const ChannelEvent& e, std::string* sse) {
    if (e.kind == ChannelEvent::Kind::kDone) engine_done = true;
    if (e.kind != ChannelEvent::Kind::kOutput) return;
    if (e.choice < 0 || e.choice >= static_cast<int>(choices.size())) return;
    Choice& c = choices[static_cast<size_t>(e.choice)];
    if (c.finished) return;
    const RequestOutput& o = e.output;
    std::string delta;
    Json chat_entries = Json::array();
    for (const TokenOutput& t : o.tokens) {
      if (!c.any_token) {
        const double ttft = seconds(e.at - t0);
        if (rec.ttft_seconds < 0 || ttft < rec.ttft_seconds) rec.ttft_seconds = ttft;
      } else {
        rec.itl_seconds.push_back(seconds(e.at - c.last_token));
      }
      c.any_token = true;
      c.last_token = e.at;
      delta += t.text;
      if (api.logprobs) {
        if (chat) {
          chat_entries.push_back(chat_logprob_entry(t, token_text, api.top_logprobs));
        } else {
          c.completion_lp.add(t, token_text, is_special && is_special(t.token));
        }
      }
    }
    if (o.finished) {
      delta += o.tail_text;
      c.finished = true;
      c.finish = o.reason;
      c.error = o.error;
      c.completion_tokens = o.completion_tokens;
      n_finished++;
    }
    c.text += delta;
    if (!chat) {
      if (sse == nullptr) return;
      if (o.finished && (o.reason == FinishReason::kError || o.reason == FinishReason::kCancelled)) {
        *sse += sse_event(error_json(choice_error(c)));
        return;
      }
      if (!o.finished && delta.empty() && c.completion_lp.empty()) return;
      Json lp = api.logprobs ? c.completion_lp.take() : Json(nullptr);
      *sse += sse_event(completion_chunk(
          id, created, api.model, completion_choice(e.choice, delta, std::move(lp), finish_reason_json(c.finish)),
          api.include_usage));
      return;
    }
    for (auto& entry : chat_entries) c.chat_lp.push_back(std::move(entry));
    if (sse == nullptr) return;
    if (o.finished && (o.reason == FinishReason::kError || o.reason == FinishReason::kCancelled)) {
      *sse += sse_event(error_json(choice_error(c)));
      return;
    }
    if (!delta.empty() || !c.chat_lp.empty()) {
      Json lp = api.logprobs ? Json{{"content", c.chat_lp}, {"refusal", nullptr}} : Json(nullptr);
      c.chat_lp = Json::array();
      *sse += sse_event(chat_chunk(id, created, api.model, e.choice, Json{{"content", delta}}, std::move(lp), nullptr,
                                   api.include_usage));
    }
    if (o.finished) {
      *sse += sse_event(chat_chunk(id, created, api.model, e.choice, Json::object(), nullptr,
                                   finish_reason_json(c.finish), api.include_usage));
    }
  }

  // 200, or the status of the first failed choice (a stream still answered 200 on the wire).
  int final_status() const {
    for (const Choice& c : choices) {
      if (c.finish == FinishReason::kError || c.finish == FinishReason::kCancelled) return choice_error(c).status;
    }
    return 200;
  }

  ApiError choice_error(const Choice& c) const {
    if (c.finish == FinishReason::kCancelled) {
      return api_error(503, "the request was cancelled: the server is shutting down", "service_unavailable",
                       "shutting_down");
    }
    ApiError e = error_from_status(c.error.is_ok() ? internal_error("generation failed") : c.error);
    if (e.status < 500) e.status = 500;
    e.type = "server_error";
    return e;
  }

  // The first events of a stream: the role delta (chat) or the echoed prompt (completions).
  std::string stream_preamble() {
    std::string sse;
    for (size_t i = 0; i < choices.size(); ++i) {
      const int idx = static_cast<int>(i);
      if (chat) {
        sse += sse_event(chat_chunk(id, created, api.model, idx, Json{{"role", "assistant"}, {"content", ""}}, nullptr,
                                    nullptr, api.include_usage));
      } else if (api.echo) {
        const size_t p = i / static_cast<size_t>(api.n);
        Json lp = api.logprobs ? choices[i].completion_lp.take() : Json(nullptr);
        sse += sse_event(completion_chunk(
            id, created, api.model, completion_choice(idx, echo_text[p], std::move(lp), nullptr), api.include_usage));
      }
    }
    return sse;
  }

  std::string stream_epilogue() {
    std::string sse;
    if (api.include_usage) {
      sse +=
          sse_event(usage_chunk(chat ? "chat.completion.chunk" : "text_completion", id, created, api.model, usage()));
    }
    sse += kSseDone;
    return sse;
  }

  // The whole non-streaming response (all choices finished).
  Json response() {
    Json out = Json::array();
    for (size_t i = 0; i < choices.size(); ++i) {
      Choice& c = choices[i];
      const int idx = static_cast<int>(i);
      if (chat) {
        Json lp = api.logprobs ? Json{{"content", c.chat_lp}, {"refusal", nullptr}} : Json(nullptr);
        out.push_back(chat_choice(idx, c.text, std::move(lp), finish_reason_json(c.finish)));
      } else {
        const size_t p = i / static_cast<size_t>(api.n);
        std::string text = api.echo ? echo_text[p] + c.text : c.text;
        Json lp = api.logprobs ? c.completion_lp.take() : Json(nullptr);
        out.push_back(completion_choice(idx, text, std::move(lp), finish_reason_json(c.finish)));
      }
    }
    return chat ? chat_response(id, created, api.model, std::move(out), usage())
                : completion_response(id, created, api.model, std::move(out), usage());
  }
};

}  // namespace

void HttpServer::Impl::handle_models(const httplib::Request& req, httplib::Response& res) {
  if (auto e = not_ready_error()) return send_error(res, *e);
  Json cards = Json::array();
  cards.push_back(model_card(backend.model_id, backend.created, backend.model_root, "", backend.max_model_len));
  for (const AdapterEntry& a : backend.lora->list()) {
    cards.push_back(model_card(a.name, a.created_unix, a.path, backend.model_id, 0));
  }
  if (req.matches.size() > 1) {  // GET /v1/models/{id}
    const std::string want = req.matches[1];
    for (const auto& c : cards) {
      if (c.at("id") == want) return send_json(res, 200, c);
    }
    return send_error(res, api_error(404, "The model '" + want + "' does not exist", "invalid_request_error",
                                     "model_not_found", "model"));
  }
  send_json(res, 200, model_list(std::move(cards)));
}

void HttpServer::Impl::handle_generation(Endpoint ep, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point t0 = Clock::now();
  auto early_fail = [&](const ApiError& e, const std::string& model = "") {
    RequestRecord r;
    r.model = model;
    r.status = e.status;
    metrics.record(r);
    send_error(res, e);
  };
  if (auto e = not_ready_error()) return early_fail(*e);
  if (!is_json_content_type(req)) {
    return early_fail(
        api_error(415, "Content-Type must be application/json, got '" + req.get_header_value("Content-Type") + "'",
                  "invalid_request_error", "unsupported_media_type"));
  }
  Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return early_fail(api_error(400, "the request body is not valid JSON", "invalid_request_error", "invalid_json"));
  }
  auto call = std::make_shared<Call>(req);
  call->server = this;
  call->b = backend;
  call->chat = ep == Endpoint::kChatCompletions;
  call->t0 = t0;
  if (auto e = parse_request(ep, body, &call->api)) return early_fail(*e);
  ApiRequest& api = call->api;
  const Model& model = *backend.model;

  // The model: the base, or an adapter leased (and loaded if needed) in this thread.
  LeasePtr lease;
  if (api.model != backend.model_id) {
    if (!backend.lora->has(api.model)) {
      return early_fail(api_error(404, "The model '" + api.model + "' does not exist", "invalid_request_error",
                                  "model_not_found", "model"));
    }
    auto l = backend.lora->acquire(api.model);
    if (!l.is_ok()) {
      ApiError e = error_from_status(l.status(), "model");
      if (l.status().code() == StatusCode::kResourceExhausted) {
        e.message = "adapter '" + api.model + "' cannot be loaded now: " + l.status().message();
        res.set_header("Retry-After", "1");
      }
      return early_fail(e, api.model);
    }
    lease = std::move(l).value();
  }

  // Prompts -> token ids, checked against the vocabulary and the context length.
  const Tokenizer& tok = *model.tokenizer;
  const char* prompt_param = call->chat ? "messages" : "prompt";
  if (call->chat) {
    auto ids = encode_chat(model, api.messages, prompt_param);
    if (!ids.is_ok()) {
      return early_fail(bad_request(ids.status().message(), ids.status().field()), api.model);
    }
    call->prompt_ids.push_back(std::move(ids).value());
    call->echo_text.emplace_back();
  } else {
    for (const PromptInput& p : api.prompts) {
      if (p.is_tokens) {
        call->prompt_ids.push_back(p.tokens);
        call->echo_text.push_back(tok.decode(p.tokens, /*skip_special_tokens=*/true));
      } else {
        call->prompt_ids.push_back(encode_text(model, p.text, /*add_special=*/true));
        call->echo_text.push_back(p.text);
      }
    }
  }
  const PromptLimits limits = prompt_limits(model, backend.max_model_len);
  for (const auto& ids : call->prompt_ids) {
    if (Status st = validate_prompt(ids, limits, prompt_param); !st.is_ok()) {
      return early_fail(error_from_status(st), api.model);
    }
  }
  if (!api.max_tokens_set) api.params.max_tokens = default_max_tokens(limits);

  // Engine requests: prompt-major, n per prompt.
  std::vector<GenerationRequest> reqs;
  for (size_t p = 0; p < call->prompt_ids.size(); ++p) {
    for (int i = 0; i < api.n; ++i) {
      GenerationRequest g;
      g.prompt = call->prompt_ids[p];
      g.params = api.params;
      if (g.params.seed && i > 0) *g.params.seed += static_cast<uint64_t>(i);  // distinct draws per choice
      g.lora = lease;
      reqs.push_back(std::move(g));
    }
  }
  lease.reset();
  call->choices.resize(reqs.size());
  call->id = new_request_id(call->chat ? "chatcmpl-" : "cmpl-");
  call->created = unix_now();
  call->rec.model = api.model;
  call->token_text = [&tok](int32_t id) { return tok.decode(std::span<const int32_t>(&id, 1), false); };
  call->is_special = [&tok](int32_t id) { return tok.is_special(id); };
  if (api.echo && api.logprobs) {
    for (size_t i = 0; i < call->choices.size(); ++i) {
      const auto& ids = call->prompt_ids[i / static_cast<size_t>(api.n)];
      for (int32_t t : ids) {
        if (!tok.is_special(t)) call->choices[i].completion_lp.add_prompt_token(call->token_text(t));
      }
    }
  }
  in_flight.fetch_add(1);
  call->recorded = false;
  backend.loop->submit(call->channel, std::move(reqs));

  // Wait for the engine thread to accept (or refuse) the call; nothing has been sent yet.
  std::vector<ChannelEvent> pending;
  bool accepted = false;
  while (!accepted) {
    if (!call->watch.alive()) return call->finish(499);
    std::vector<ChannelEvent> got;
    call->channel->wait(kPollInterval, &got);
    for (ChannelEvent& e : got) {
      if (e.kind == ChannelEvent::Kind::kRejected) {
        // The engine names the prompt "prompt"; a chat call's prompt is its messages.
        const bool about_prompt = e.status.field() == "prompt";
        ApiError err = error_from_status(e.status, about_prompt ? prompt_param : "");
        call->recorded = true;  // recorded here with the right status
        in_flight.fetch_sub(1);
        call->engine_done = true;
        return early_fail(err, api.model);
      }
      if (e.kind == ChannelEvent::Kind::kAccepted) {
        accepted = true;
      } else {
        pending.push_back(std::move(e));
      }
    }
  }

  if (!api.stream) {
    for (const ChannelEvent& e : pending) call->apply(e, nullptr);
    std::vector<ChannelEvent> got;
    while (!call->engine_done) {
      if (!call->watch.alive()) return call->finish(499);
      call->channel->wait(kPollInterval, &got);
      for (const ChannelEvent& e : got) call->apply(e, nullptr);
    }
    for (const Call::Choice& c : call->choices) {
      if (c.finish == FinishReason::kError || c.finish == FinishReason::kCancelled) {
        ApiError err = call->choice_error(c);
        send_error(res, err);
        return call->finish(err.status);
      }
    }
    send_json(res, 200, call->response());
    return call->finish(200);
  }

  // Streaming: the status is 200 from here on; failures become error events in the stream.
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto queued = std::make_shared<std::vector<ChannelEvent>>(std::move(pending));
  res.set_chunked_content_provider(
      "text/event-stream",
      [call, queued](size_t, httplib::DataSink& sink) -> bool {
        auto write = [&](const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); };
        if (!call->stream_started) {
          call->stream_started = true;
          std::string sse = call->stream_preamble();
          for (const ChannelEvent& e : *queued) call->apply(e, &sse);
          queued->clear();
          if (!write(sse)) {
            call->finish(499);
            return false;
          }
        }
        std::vector<ChannelEvent> got;
        while (!call->engine_done) {
          if (!call->watch.alive()) {
            call->finish(499);
            return false;
          }
          if (!call->channel->wait(kPollInterval, &got)) continue;
          std::string sse;
          for (const ChannelEvent& e : got) call->apply(e, &sse);
          if (!write(sse)) {
            call->finish(499);
            return false;
          }
        }
        if (!write(call->stream_epilogue())) {
          call->finish(499);
          return false;
        }
        call->finish(call->final_status());
        sink.done();
        return true;
      },
      [call](bool) { call->finish(499); });  // no-op when already recorded
}

std::string HttpServer::Impl::render_metrics() {
  GaugeSnapshot g;
  g.ready = get_state() == State::kReady;
  if (g.ready) {
    g.engine = backend.loop->stats();
    g.host = backend.lora->host_counters();
    g.host_resident = backend.lora->host_size();
    g.host_bytes = static_cast<double>(backend.lora->host_bytes());
    g.device_bytes = static_cast<double>(backend.lora->device_tier_bytes());
    g.host_capacity = backend.lora->config().max_cpu_loras;
    g.device_capacity = backend.lora->config().max_gpu_loras;
    g.adapters_known = static_cast<int>(backend.lora->list().size());
  }
  return metrics.render(g);
}

void HttpServer::Impl::setup() {
  const int threads = std::max(4, opt.http_threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(opt.max_body_bytes);
  svr.set_keep_alive_timeout(2);  // idle keep-alive connections also delay shutdown by this much
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);

  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opt.api_key.empty() || req.path.rfind("/v1/health/", 0) == 0)
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
        constant_time_equal(auth.substr(prefix.size()), opt.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res, api_error(401,
                              auth.empty() ? "missing API key: send the header 'Authorization: Bearer <key>'"
                                           : "invalid API key",
                              "invalid_request_error", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });

  svr.Get("/v1/health/live", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, Json{{"object", "health.response"}, {"message", "Service is live."}});
  });
  svr.Get("/v1/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    switch (get_state()) {
      case State::kReady:
        return send_json(res, 200, Json{{"object", "health.response"}, {"message", "Service is ready."}});
      case State::kStarting:
        return send_json(res, 503, Json{{"object", "health.response"}, {"message", "Service is starting."}});
      case State::kShuttingDown:
        return send_json(res, 503, Json{{"object", "health.response"}, {"message", "Service is shutting down."}});
    }
  });
  svr.Get("/v1/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(render_metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) { handle_models(req, res); });
  svr.Get(R"(/v1/models/([^/]+))",
          [this](const httplib::Request& req, httplib::Response& res) { handle_models(req, res); });
  svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(Endpoint::kCompletions, req, res);
  });
  svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(Endpoint::kChatCompletions, req, res);
  });

  // Bodies for the statuses httplib sets itself (404 no route, 413 too large, 400 bad HTTP...),
  // and 405 for a known path with the wrong method.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    static const std::pair<const char*, const char*> kRoutes[] = {
        {"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"}, {"/v1/models", "GET"},
        {"/v1/health/live", "GET"},  {"/v1/health/ready", "GET"},      {"/v1/metrics", "GET"}};
    if (res.status == 404) {
      for (const auto& [path, method] : kRoutes) {
        if (req.path == path || (std::string(path) == "/v1/models" && req.path.rfind("/v1/models/", 0) == 0)) {
          res.set_header("Allow", method);
          send_error(res,
                     api_error(405, "method " + req.method + " is not allowed on " + req.path + " (use " + method + ")",
                               "invalid_request_error", "method_not_allowed"));
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      send_error(res,
                 api_error(404, "no route for " + req.method + " " + req.path, "invalid_request_error", "not_found"));
    } else if (res.status == 413) {
      send_error(res, api_error(413, "the request body is too large", "invalid_request_error", "request_too_large"));
    } else {
      const int st = res.status;
      send_error(res, api_error(st, "HTTP error " + std::to_string(st),
                                st >= 500 ? "server_error" : "invalid_request_error", ""));
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    LPX_LOG_ERROR("HTTP handler failed: " + what);
    send_error(res, api_error(500, "internal error: " + what, "server_error", "internal_error"));
  });
  svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    LPX_LOG_DEBUG(req.method + " " + req.path + " -> " + std::to_string(res.status));
  });
}

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) { impl_->setup(); }

HttpServer::~HttpServer() {
  stop_listening();
  join();
}

// cpp-httplib (compiled into Debian's library) listens with a backlog of 5: a burst of new
// connections (32 clients connecting at once) overflowed the accept queue, and the clients' TCP
// retried the dropped SYNs only after its 1 s timeout, which was the whole 1-1.5 s TTFT tail of the
// serving benchmark. The socket-options hook sees the listening socket; after bind (which already
// listens) a second listen() raises the backlog (Linux takes it on a listening socket).
constexpr int kListenBacklog = 1024;

Result<int> HttpServer::bind() {
  impl_->svr.set_socket_options([impl = impl_.get()](socket_t sock) {
    httplib::default_socket_options(sock);
    impl->listen_fd = sock;
  });
  int port = impl_->opt.port;
  if (port == 0) {
    port = impl_->svr.bind_to_any_port(impl_->opt.host);
    if (port <= 0) return io_error("cannot bind " + impl_->opt.host + " to a free port");
  } else if (!impl_->svr.bind_to_port(impl_->opt.host, port)) {
    return io_error("cannot listen on " + impl_->opt.host + ":" + std::to_string(port) +
                    " (in use, or not an address of this machine?)");
  }
  if (impl_->listen_fd >= 0 && ::listen(impl_->listen_fd, kListenBacklog) != 0) {
    LPX_LOG_WARN("cannot raise the listen backlog to " + std::to_string(kListenBacklog) +
                 "; bursts of new connections may wait");
  }
  impl_->bound = true;
  return port;
}

void HttpServer::start() {
  if (!impl_->bound || impl_->listener.joinable()) return;
  impl_->listener = std::thread([this] {
    impl_->svr.listen_after_bind();
    impl_->listener_exited = true;
  });
  // httplib's stop() is a no-op until the accept loop runs: wait for it, so that a stop right after
  // start() (a startup failure) cannot be lost.
  while (!impl_->svr.is_running() && !impl_->listener_exited) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::set_backend(const Backend& backend) { impl_->backend = backend; }

void HttpServer::set_ready() {
  int expected = static_cast<int>(State::kStarting);
  impl_->state.compare_exchange_strong(expected, static_cast<int>(State::kReady), std::memory_order_acq_rel);
}

bool HttpServer::ready() const { return impl_->get_state() == State::kReady; }

void HttpServer::begin_shutdown() {
  impl_->state.store(static_cast<int>(State::kShuttingDown), std::memory_order_release);
}

void HttpServer::stop_listening() {
  if (impl_->bound) impl_->svr.stop();
}

void HttpServer::join() {
  if (impl_->listener.joinable()) impl_->listener.join();
}

int HttpServer::in_flight() const { return impl_->in_flight.load(); }

ServerMetrics& HttpServer::metrics() { return impl_->metrics; }

}  // namespace lpx::server
