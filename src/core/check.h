// LPX_CHECK: aborts with file:line on a broken internal invariant (never for request/file errors).
#pragma once

#include <cstdio>
#include <cstdlib>

#define LPX_CHECK(cond)                                                                         \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "loraplex: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)
