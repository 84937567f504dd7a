// `loraplex serve`: the OpenAI-compatible HTTP server for one base model and the adapters of a
// store. Startup: bind (and log the address), load the model, scan the adapter store, build the
// engine and its thread, warm up, then report ready. SIGINT/SIGTERM: refuse new calls, let running
// ones finish (bounded by --shutdown-timeout, then cancel), exit 0; a second signal cancels at once.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "apps/commands.h"
#include "apps/common_flags.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "lora/manager.h"
#include "model/model.h"
#include "engine/engine_loop.h"
#include "server/http_server.h"

namespace lpx {
namespace {

struct ServeArgs {
  ModelFlags model;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string served_model_name;
  std::string api_key;
  LoraManagerConfig lora;
  int max_num_seqs = 32;
  int max_batch_tokens = 256;
  int shutdown_timeout_s = 10;
  int http_threads = 64;
};

// Signals arrive on one thread (sigwait) and are turned into this state.
struct SignalState {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
};
SignalState& signals() {
  static SignalState* s = new SignalState;  // never destroyed: the detached signal thread may still use it
  return *s;
}

void start_signal_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread started later inherits the mask
  std::signal(SIGPIPE, SIG_IGN);              // a client gone mid-write is an error, not a kill
  std::thread([set] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      SignalState& s = signals();
      {
        std::lock_guard<std::mutex> lock(s.mu);
        s.count++;
      }
      s.cv.notify_all();
    }
  }).detach();
}

int signal_count() {
  std::lock_guard<std::mutex> lock(signals().mu);
  return signals().count;
}

// Waits until the signal count exceeds `seen` or `timeout` passes; returns the count.
int wait_signal(int seen, std::chrono::milliseconds timeout) {
  SignalState& s = signals();
  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait_for(lock, timeout, [&] { return s.count > seen; });
  return s.count;
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::string base_model_id(const ServeArgs& a) {
  if (!a.served_model_name.empty()) return a.served_model_name;
  std::filesystem::path p(a.model.model_dir);
  while (p.has_parent_path() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  return name.empty() ? a.model.model_dir : name;
}

// One short greedy generation through the engine thread, so the first client does not pay for
// first-touch page faults of the weights and KV cache.
Status warm_up(const Model& model, EngineLoop& loop) {
  GenerationRequest req;
  req.prompt = model.tokenizer->encode("warm up", true);
  if (req.prompt.empty()) req.prompt.push_back(0);
  req.params.temperature = 0;
  req.params.max_tokens = 2;
  auto channel = std::make_shared<RequestChannel>();
  std::vector<GenerationRequest> reqs;
  reqs.push_back(std::move(req));
  loop.submit(channel, std::move(reqs));
  std::vector<ChannelEvent> events;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (std::chrono::steady_clock::now() < deadline) {
    channel->wait(std::chrono::milliseconds(100), &events);
    for (const auto& e : events) {
      if (e.kind == ChannelEvent::Kind::kRejected) return e.status;
      if (e.kind == ChannelEvent::Kind::kOutput && e.output.finished) {
        if (e.output.reason == FinishReason::kError) return e.output.error;
        return Status::ok();
      }
    }
    if (signal_count() > 0) return Status(StatusCode::kCancelled, "interrupted");
  }
  return internal_error("the warm-up generation did not finish in 5 minutes");
}

int run_serve(const ServeArgs& a) {
  start_signal_thread();
  server::ServerOptions so;
  so.host = a.host;
  so.port = a.port;
  so.api_key = a.api_key;
  so.http_threads = a.http_threads;
  server::HttpServer http(so);
  auto port = http.bind();
  if (!port.is_ok()) {
    std::fprintf(stderr, "loraplex serve: %s\n", port.status().message().c_str());
    return 1;
  }
  http.start();
  std::fprintf(stderr, "loraplex: listening on http://%s:%d\n", a.host.c_str(), *port);
  std::fflush(stderr);
  const int64_t started =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();

  auto loaded = Model::load(a.model.model_dir, a.model.load_options());
  if (!loaded.is_ok()) {
    std::fprintf(stderr, "loraplex serve: cannot load model: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  const Model& model = *loaded.value();
  if (signal_count() > 0) return 0;

  LoraManager lora(model.config, a.lora);
  if (Status s = lora.start(); !s.is_ok()) {
    std::fprintf(stderr, "loraplex serve: adapter store: %s\n", s.to_string().c_str());
    return 1;
  }
  ThreadPool pool(a.model.threads);
  EngineConfig ec;
  ec.max_num_seqs = a.max_num_seqs;
  ec.max_batch_tokens = a.max_batch_tokens;
  ec.max_model_len = a.model.max_model_len;
  ec.lora = lora.device_pool_config();
  Engine engine(model, ec, &pool);
  EngineLoop loop(&engine);
  loop.start();

  const std::string model_id = base_model_id(a);
  std::string names;
  const auto adapters = lora.list();
  for (const auto& e : adapters) names += (names.empty() ? "" : ", ") + e.name;
  LPX_LOG_INFO("serving model '" + model_id + "' from " + a.model.model_dir + " (context " +
               std::to_string(engine.max_model_len()) + " tokens)");
  LPX_LOG_INFO(std::to_string(adapters.size()) + " adapter(s)" +
               (a.lora.store_dir.empty() ? std::string(" (no adapter store)") : " in " + a.lora.store_dir) +
               (names.empty() ? "" : ": " + names));
  const size_t w = model.weights.total_bytes, kv = engine.kv_cache().bytes(), dev = lora.device_tier_bytes(),
               act = lora.activation_bytes(a.max_batch_tokens);
  LPX_LOG_INFO("memory estimate: weights " + mib(w) + " + KV cache " + mib(kv) + " (" +
               std::to_string(engine.kv_cache().n_blocks()) + " blocks) + adapter device tier " + mib(dev) + " (" +
               std::to_string(a.lora.max_gpu_loras) + " slots, rank " + std::to_string(a.lora.max_lora_rank) +
               ") + LoRA activations " + mib(act) + " = " + mib(w + kv + dev + act) + "; host adapter cache up to " +
               std::to_string(a.lora.max_cpu_loras) + " adapters");

  auto shutdown = [&](bool graceful) {
    http.begin_shutdown();
    http.stop_listening();
    if (graceful) {
      LPX_LOG_INFO("shutting down: waiting up to " + std::to_string(a.shutdown_timeout_s) + " s for " +
                   std::to_string(http.in_flight()) + " request(s)");
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.shutdown_timeout_s);
      int seen = signal_count();
      while (http.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        if (wait_signal(seen, std::chrono::milliseconds(50)) > seen) break;  // a second signal: stop now
      }
    }
    if (http.in_flight() > 0) LPX_LOG_WARN("cancelling " + std::to_string(http.in_flight()) + " request(s)");
    loop.cancel_all();
    http.join();
    loop.stop();
  };

  server::Backend backend;
  backend.model = &model;
  backend.lora = &lora;
  backend.loop = &loop;
  backend.model_id = model_id;
  backend.model_root = a.model.model_dir;
  backend.max_model_len = engine.max_model_len();
  backend.created = started;
  http.set_backend(backend);

  if (Status s = warm_up(model, loop); !s.is_ok()) {
    const bool interrupted = s.code() == StatusCode::kCancelled;
    if (!interrupted) std::fprintf(stderr, "loraplex serve: warm-up failed: %s\n", s.to_string().c_str());
    shutdown(false);
    return interrupted ? 0 : 1;
  }
  http.set_ready();
  LPX_LOG_INFO("ready on http://" + a.host + ":" + std::to_string(*port) + "/v1");

  wait_signal(0, std::chrono::hours(24 * 365 * 100));
  shutdown(true);
  LPX_LOG_INFO("stopped");
  return 0;
}

}  // namespace

std::function<int()> add_serve_command(CLI::App& app, const EnvConfig& env) {
  auto a = std::make_shared<ServeArgs>();
  a->model.prepack = env.prepack;
  CLI::App* sub =
      app.add_subcommand("serve",
                         "Serve the model and its LoRA adapters over an OpenAI-compatible HTTP API (/v1/completions, "
                         "/v1/chat/completions, /v1/models, /v1/health/{live,ready}, /v1/metrics)");
  add_model_flags(sub, &a->model);
  sub->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  sub->add_option("--port", a->port, "HTTP port (0 = any free port; the chosen one is logged)")
      ->envname("NIM_SERVER_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  sub->add_option("--served-model-name", a->served_model_name,
                  "The base model's id in the API (default: the model folder's name)")
      ->envname("NIM_SERVED_MODEL_NAME");
  sub->add_option("--peft-source,--lora-store", a->lora.store_dir,
                  "Adapter store folder: each sub-folder is one adapter, named after it (default: none)")
      ->envname("NIM_PEFT_SOURCE");
  sub->add_option("--peft-refresh-interval", a->lora.refresh_interval_s,
                  "Rescan the adapter store every N seconds (0 = scan once at startup)")
      ->envname("NIM_PEFT_REFRESH_INTERVAL")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--max-cpu-loras", a->lora.max_cpu_loras, "Host-tier adapter cache capacity (adapters)")
      ->envname("NIM_MAX_CPU_LORAS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--max-gpu-loras", a->lora.max_gpu_loras, "Device-tier slots: distinct adapters per batch")
      ->envname("NIM_MAX_GPU_LORAS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--max-lora-rank", a->lora.max_lora_rank, "Largest adapter rank accepted; sizes the device slots")
      ->envname("NIM_MAX_LORA_RANK")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--max-num-seqs", a->max_num_seqs, "Sequences in the running batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--max-batch-tokens", a->max_batch_tokens, "Tokens per engine step (decode first, then prefill)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--api-key", a->api_key,
                  "Require 'Authorization: Bearer KEY' on every route but /v1/health/* (default: no key)")
      ->envname("NIM_API_KEY");
  sub->add_option("--shutdown-timeout", a->shutdown_timeout_s,
                  "Seconds to let running requests finish on SIGINT/SIGTERM before cancelling them")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--http-threads", a->http_threads, "HTTP handler threads (each streaming request holds one)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->footer(
      "Flags win over environment variables. Logging: loraplex --log-level LEVEL serve ... (env NIM_LOG_LEVEL:\n"
      "debug, info, warn, error, off; default info). The address is logged as 'loraplex: listening on\n"
      "http://HOST:PORT'; GET /v1/health/ready answers 200 once the model is loaded and warmed up.");
  return [a]() -> int { return run_serve(*a); };
}

}  // namespace lpx
