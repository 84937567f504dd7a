// The OpenAI-compatible HTTP front end (cpp-httplib): routes, API-key check, body limits, error
// bodies, and the per-call flow of /v1/completions and /v1/chat/completions — validate, resolve the
// model (base, or an adapter leased from the LoraManager in this HTTP thread), tokenize, submit to
// the engine thread, then answer as one JSON body or as server-sent events. A client that goes away
// cancels its call (its engine requests are cancelled, freeing KV blocks and the adapter lease).
//
// Endpoints: GET /v1/models, GET /v1/models/{id}, POST /v1/completions, POST /v1/chat/completions,
// GET /v1/health/live, GET /v1/health/ready, GET /v1/metrics.
// Lifecycle: bind() + start() serve health right away (ready = 503); set_backend() + set_ready()
// once the model is loaded and warmed up; begin_shutdown() refuses new calls (503),
// stop_listening() closes the socket, join() waits for the handlers.
// Thread-safe. httplib.h stays inside http_server.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "lora/manager.h"
#include "model/model.h"
#include "engine/engine_loop.h"
#include "server/metrics.h"

namespace lpx::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                          // 0 = any free port (bind() returns it)
  std::string api_key;                      // non-empty: every route but /v1/health/* needs "Bearer <key>"
  size_t max_body_bytes = size_t{8} << 20;  // larger bodies get 413
  int http_threads = 64;                    // handler threads (each streaming call holds one)
};

// What the server serves once the model is loaded. Pointers must outlive the server.
struct Backend {
  const Model* model = nullptr;
  LoraManager* lora = nullptr;
  EngineLoop* loop = nullptr;
  std::string model_id;    // the base model's API id (NIM_SERVED_MODEL_NAME or the folder name)
  std::string model_root;  // the base model folder
  int max_model_len = 0;
  int64_t created = 0;  // unix seconds (server start)
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // stop_listening() + join()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port (the chosen one for port 0).
  Result<int> bind();
  // Serves on a background thread.
  void start();
  void set_backend(const Backend& backend);  // before set_ready()
  void set_ready();
  bool ready() const;
  // New API calls get 503 and readiness goes off; calls in flight continue.
  void begin_shutdown();
  void stop_listening();
  void join();
  // API calls (completions, chat) being served right now.
  int in_flight() const;
  ServerMetrics& metrics();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lpx::server
