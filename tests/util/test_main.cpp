// main() of loraplex_tests: applies the LPX_* environment (LPX_ISA, LPX_MATMUL, LPX_AMX,
// LPX_NUM_THREADS) through the CLI's reader, as `loraplex` does, then runs the tests. LPX_PREPACK
// is a model load option; tests set ModelLoadOptions themselves.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "apps/env_config.h"

int main(int argc, char** argv) {
  testing::InitGoogleMock(&argc, argv);
  lpx::apply_env_config(lpx::read_env_config());
  return RUN_ALL_TESTS();
}
