// read_env_config / apply_env_config: the one place the LPX_* variables are parsed.
#include "apps/env_config.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "core/thread_pool.h"

namespace lpx {
namespace {

// The best path this CPU/build has (available_isas() lists it last).
kernels::Isa best_isa() { return kernels::available_isas().back(); }

void read_isa(const char* env, EnvConfig* c) {
  if (env == nullptr || *env == '\0') return;  // automatic: the best available
  const std::string want(env);
  for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512}) {
    if (want != kernels::isa_name(isa)) continue;
    const auto avail = kernels::available_isas();
    if (std::find(avail.begin(), avail.end(), isa) != avail.end()) {
      c->kernels.isa = isa;
    } else {
      c->warnings.push_back("LPX_ISA=" + want + " is not available on this CPU/build; using " +
                            kernels::isa_name(best_isa()));
    }
    return;
  }
  c->warnings.push_back("LPX_ISA=" + want + " is not one of scalar|avx2|avx512; using " +
                        kernels::isa_name(best_isa()));
}

void read_matmul(const char* env, EnvConfig* c) {
  if (env == nullptr || *env == '\0') return;  // automatic (see kernels::MatmulPrecision)
  const std::string want(env);
  if (want == "exact") {
    c->kernels.precision = kernels::MatmulPrecision::kExact;
  } else if (want == "bf16dot") {
    c->kernels.precision = kernels::MatmulPrecision::kBf16Dot;
  } else if (want == "auto") {
    c->kernels.precision = kernels::MatmulPrecision::kAuto;
  } else {
    c->warnings.push_back("LPX_MATMUL=" + want + " is not one of exact|bf16dot|auto; using exact");
    c->kernels.precision = kernels::MatmulPrecision::kExact;
  }
}

}  // namespace

EnvConfig read_env_config(const EnvLookup& lookup) {
  auto get = [&](const char* name) -> const char* { return lookup ? lookup(name) : std::getenv(name); };
  EnvConfig c;
  read_isa(get("LPX_ISA"), &c);
  read_matmul(get("LPX_MATMUL"), &c);
  if (const char* env = get("LPX_AMX")) c.kernels.amx = std::string(env) != "0";
  if (const char* env = get("LPX_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) c.num_threads = n;
  }
  if (const char* env = get("LPX_PREPACK"); env != nullptr && std::strcmp(env, "0") == 0) {
    c.prepack = false;
  }
  return c;
}

void apply_env_config(const EnvConfig& c) {
  for (const std::string& w : c.warnings) LPX_LOG_WARN(w);
  ThreadPool::set_default_num_threads(c.num_threads);
  // The reader only picks an available path, so this cannot fail.
  (void)kernels::configure(c.kernels);
}

}  // namespace lpx
