// The CLI subcommands; each registers itself on the CLI11 app and runs when selected.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "apps/env_config.h"

namespace lpx {

// Each returns the function to run (exit code) when its subcommand is chosen. Those that load a
// model take the startup environment (apps/env_config.h) for its load options.
std::function<int()> add_version_command(CLI::App& app);
std::function<int()> add_generate_command(CLI::App& app, const EnvConfig& env);
std::function<int()> add_inspect_command(CLI::App& app, const EnvConfig& env);
std::function<int()> add_tokenize_command(CLI::App& app);
std::function<int()> add_template_command(CLI::App& app);
std::function<int()> add_bench_command(CLI::App& app, const EnvConfig& env);
std::function<int()> add_serve_command(CLI::App& app, const EnvConfig& env);

}  // namespace lpx
