// loraplex command-line entry point: dispatches subcommands (generate, inspect, tokenize, ...).
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/env_config.h"
#include "core/log.h"

int main(int argc, char** argv) {
  // The LPX_* variables, read once here; applied below once the log level is known.
  const lpx::EnvConfig env = lpx::read_env_config();
  CLI::App app{"loraplex " LPX_VERSION
               " - serve one base LLM and many LoRA adapters behind an OpenAI-compatible API.\n"
               "CPU inference for Llama-family Hugging Face model folders (config.json, *.safetensors,\n"
               "tokenizer.json, tokenizer_config.json)."};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug|info|warn|error|off (env NIM_LOG_LEVEL)")->envname("NIM_LOG_LEVEL");
  std::vector<std::pair<CLI::App*, std::function<int()>>> cmds;
  auto reg = [&](std::function<int()> fn) { cmds.emplace_back(app.get_subcommands({}).back(), std::move(fn)); };
  reg(lpx::add_serve_command(app, env));
  reg(lpx::add_generate_command(app, env));
  reg(lpx::add_inspect_command(app, env));
  reg(lpx::add_tokenize_command(app));
  reg(lpx::add_template_command(app));
  reg(lpx::add_bench_command(app, env));
  reg(lpx::add_version_command(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  lpx::LogLevel level;
  if (!lpx::parse_log_level(log_level, &level)) {
    std::fprintf(stderr, "loraplex: unknown log level '%s' (use debug, info, warn, error or off)\n", log_level.c_str());
    return 2;
  }
  lpx::set_log_level(level);
  lpx::apply_env_config(env);
  for (auto& [sub, fn] : cmds)
    if (sub->parsed()) return fn();
  return 2;
}
