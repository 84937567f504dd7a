// The CLI's environment: read_env_config parses the LPX_* variables exactly as documented (names,
// defaults, warning texts), apply_env_config hands them to the kernels and the thread pools, and
// the NIM_* variables reach the serve / generate flags through CLI11 envnames.
#include "apps/env_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "apps/commands.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace lpx {
namespace {

using kernels::Isa;
using kernels::MatmulPrecision;

EnvConfig read(const std::map<std::string, std::string>& vars) {
  return read_env_config([&vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string best_isa_name() { return kernels::isa_name(kernels::available_isas().back()); }

TEST(EnvConfig, DefaultsWhenNothingIsSet) {
  const std::map<std::string, std::string> empty_values = {
      {"LPX_ISA", ""}, {"LPX_MATMUL", ""}, {"LPX_AMX", ""}, {"LPX_PREPACK", ""}};
  for (const auto& vars : {std::map<std::string, std::string>{}, empty_values}) {
    EnvConfig c = read(vars);
    EXPECT_FALSE(c.kernels.isa.has_value());
    EXPECT_FALSE(c.kernels.precision.has_value());
    EXPECT_TRUE(c.kernels.amx);
    EXPECT_EQ(c.num_threads, 0);
    EXPECT_TRUE(c.prepack);
    EXPECT_TRUE(c.warnings.empty());
  }
}

TEST(EnvConfig, IsaNamesAndWarnings) {
  for (Isa isa : kernels::available_isas()) {
    EnvConfig c = read({{"LPX_ISA", kernels::isa_name(isa)}});
    ASSERT_TRUE(c.kernels.isa.has_value());
    EXPECT_EQ(*c.kernels.isa, isa);
    EXPECT_TRUE(c.warnings.empty());
  }
  EnvConfig c = read({{"LPX_ISA", "neon"}});
  EXPECT_FALSE(c.kernels.isa.has_value());
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0], "LPX_ISA=neon is not one of scalar|avx2|avx512; using " + best_isa_name());
  const auto avail = kernels::available_isas();
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (std::find(avail.begin(), avail.end(), isa) != avail.end()) continue;
    const std::string name = kernels::isa_name(isa);
    c = read({{"LPX_ISA", name}});
    EXPECT_FALSE(c.kernels.isa.has_value());
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0], "LPX_ISA=" + name + " is not available on this CPU/build; using " + best_isa_name());
  }
}

TEST(EnvConfig, MatmulPrecisionNamesAndWarning) {
  const std::pair<const char*, MatmulPrecision> names[] = {
      {"exact", MatmulPrecision::kExact}, {"bf16dot", MatmulPrecision::kBf16Dot}, {"auto", MatmulPrecision::kAuto}};
  for (const auto& [name, p] : names) {
    EnvConfig c = read({{"LPX_MATMUL", name}});
    ASSERT_TRUE(c.kernels.precision.has_value());
    EXPECT_EQ(*c.kernels.precision, p);
    EXPECT_TRUE(c.warnings.empty());
  }
  EnvConfig c = read({{"LPX_MATMUL", "fast"}});
  ASSERT_TRUE(c.kernels.precision.has_value());
  EXPECT_EQ(*c.kernels.precision, MatmulPrecision::kExact);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0], "LPX_MATMUL=fast is not one of exact|bf16dot|auto; using exact");
}

TEST(EnvConfig, AmxThreadsAndPrepack) {
  EXPECT_FALSE(read({{"LPX_AMX", "0"}}).kernels.amx);
  EXPECT_TRUE(read({{"LPX_AMX", "1"}}).kernels.amx);
  EXPECT_TRUE(read({{"LPX_AMX", "off"}}).kernels.amx);  // only "0" disallows
  EXPECT_EQ(read({{"LPX_NUM_THREADS", "6"}}).num_threads, 6);
  EXPECT_EQ(read({{"LPX_NUM_THREADS", "3x"}}).num_threads, 3);  // atoi: leading digits
  for (const char* v : {"0", "-2", "many"}) {
    EXPECT_EQ(read({{"LPX_NUM_THREADS", v}}).num_threads, 0) << v;
  }
  EXPECT_FALSE(read({{"LPX_PREPACK", "0"}}).prepack);
  for (const char* v : {"1", "no", "00"}) EXPECT_TRUE(read({{"LPX_PREPACK", v}}).prepack) << v;
}

TEST(EnvConfig, ApplyConfiguresKernelsAndThreads) {
  const EnvConfig startup = read_env_config();  // what main() applied; restored below
  const Isa isa_before = kernels::active_isa();
  const MatmulPrecision p_before = kernels::matmul_precision();

  EnvConfig c = read({{"LPX_ISA", "scalar"}, {"LPX_MATMUL", "auto"}, {"LPX_NUM_THREADS", "3"}});
  apply_env_config(c);
  EXPECT_EQ(kernels::active_isa(), Isa::kScalar);
  EXPECT_EQ(kernels::matmul_precision(), MatmulPrecision::kAuto);
  EXPECT_EQ(ThreadPool().num_threads(), 3);
  EXPECT_EQ(ThreadPool(2).num_threads(), 2);

  // Nothing set: the automatic choices.
  apply_env_config(read({}));
  EXPECT_EQ(kernels::active_isa(), kernels::available_isas().back());
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(ThreadPool().num_threads(), cores == 0 ? 1 : cores);

  apply_env_config(startup);
  (void)kernels::set_isa(isa_before);
  kernels::set_matmul_precision(p_before);
}

TEST(KernelsConfigure, RefusesAnUnavailableIsaButAppliesTheRest) {
  const auto avail = kernels::available_isas();
  const MatmulPrecision p_before = kernels::matmul_precision();
  const Isa isa_before = kernels::active_isa();
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (std::find(avail.begin(), avail.end(), isa) != avail.end()) continue;
    kernels::KernelOptions o;
    o.isa = isa;
    o.precision = MatmulPrecision::kExact;
    EXPECT_FALSE(kernels::configure(o).is_ok());
    EXPECT_EQ(kernels::active_isa(), isa_before);
    EXPECT_EQ(kernels::matmul_precision(), MatmulPrecision::kExact);
  }
  kernels::KernelOptions o;
  o.isa = Isa::kScalar;
  o.precision = MatmulPrecision::kBf16Dot;
  ASSERT_TRUE(kernels::configure(o).is_ok());
  EXPECT_EQ(kernels::active_isa(), Isa::kScalar);
  EXPECT_EQ(kernels::matmul_precision(), MatmulPrecision::kBf16Dot);
  (void)kernels::set_isa(isa_before);
  kernels::set_matmul_precision(p_before);
}

// Sets variables for one scope, restoring their previous values.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& vars) {
    for (const auto& [k, v] : vars) {
      const char* old = std::getenv(k.c_str());
      saved_.push_back({k, old != nullptr, old != nullptr ? old : ""});
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& s : saved_) {
      if (s.had)
        ::setenv(s.name.c_str(), s.value.c_str(), 1);
      else
        ::unsetenv(s.name.c_str());
    }
  }

 private:
  struct Saved {
    std::string name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_;
};

// Parses `args` (after "loraplex") with every command registered; returns the chosen subcommand.
CLI::App* parse_cli(CLI::App& app, std::vector<std::string> args) {
  const EnvConfig env;
  (void)add_serve_command(app, env);
  (void)add_generate_command(app, env);
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
  for (CLI::App* sub : app.get_subcommands({}))
    if (sub->parsed()) return sub;
  return nullptr;
}

TEST(CliEnvNames, ServeReadsTheNimVariables) {
  ScopedEnv env({{"NIM_PEFT_SOURCE", "/some/store"},
                 {"NIM_PEFT_REFRESH_INTERVAL", "5"},
                 {"NIM_MAX_CPU_LORAS", "3"},
                 {"NIM_MAX_GPU_LORAS", "2"},
                 {"NIM_MAX_LORA_RANK", "32"},
                 {"NIM_MAX_MODEL_LEN", "128"},
                 {"NIM_SERVED_MODEL_NAME", "base"},
                 {"NIM_SERVER_PORT", "8123"},
                 {"NIM_API_KEY", "sekrit"}});
  CLI::App app;
  CLI::App* sub = parse_cli(app, {"serve", "-m", "/no/model"});
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->get_option("--peft-source")->as<std::string>(), "/some/store");
  EXPECT_EQ(sub->get_option("--peft-refresh-interval")->as<int>(), 5);
  EXPECT_EQ(sub->get_option("--max-cpu-loras")->as<int>(), 3);
  EXPECT_EQ(sub->get_option("--max-gpu-loras")->as<int>(), 2);
  EXPECT_EQ(sub->get_option("--max-lora-rank")->as<int>(), 32);
  EXPECT_EQ(sub->get_option("--max-model-len")->as<int>(), 128);
  EXPECT_EQ(sub->get_option("--served-model-name")->as<std::string>(), "base");
  EXPECT_EQ(sub->get_option("--port")->as<int>(), 8123);
  EXPECT_EQ(sub->get_option("--api-key")->as<std::string>(), "sekrit");

  CLI::App flags_win;
  sub = parse_cli(flags_win, {"serve", "-m", "/no/model", "--max-cpu-loras", "7"});
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->get_option("--max-cpu-loras")->as<int>(), 7);
}

TEST(CliEnvNames, MalformedNimValuesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> bad = {{"NIM_MAX_CPU_LORAS", "many"},
                                                                {"NIM_MAX_CPU_LORAS", "0"},
                                                                {"NIM_MAX_LORA_RANK", "-1"},
                                                                {"NIM_PEFT_REFRESH_INTERVAL", "-5"},
                                                                {"NIM_SERVER_PORT", "70000"}};
  for (const auto& [name, value] : bad) {
    ScopedEnv env(std::map<std::string, std::string>{{name, value}});
    CLI::App app;
    EXPECT_THROW(parse_cli(app, {"serve", "-m", "/no/model"}), CLI::ParseError) << name << "=" << value;
  }
}

TEST(CliEnvNames, GenerateReadsMaxLoraRank) {
  ScopedEnv env(std::map<std::string, std::string>{{"NIM_MAX_LORA_RANK", "16"}});
  CLI::App app;
  CLI::App* sub = parse_cli(app, {"generate", "-m", "/no/model", "-p", "x"});
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->get_option("--max-lora-rank")->as<int>(), 16);
}

}  // namespace
}  // namespace lpx
