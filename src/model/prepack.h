// Load-time weight layout for the kernels: on CPUs where bf16 matmuls run on vdpbf16ps (the
// default there, kernels::bf16_gemm_engine() == "avx512bf16"), every bf16 projection and an untied
// lm_head whose row count is a multiple of 16 is repacked into kernels' kBF16I16 layout (16-row
// groups of interleaved pairs), into one owned buffer (ModelWeights::owned), and the source pages
// are dropped from the resident set. The decode GEMV then reads one sequential stream with no
// in-register transposes and the prefill GEMM copies panels instead of transposing them; results
// are bit-identical to the row-major layout (tests/kernels/bf16dot_invariance_test.cpp). Other
// precisions or ISAs chosen later still work (dispatch makes a row-major copy per call, slowly).
// Model::load repacks unless ModelLoadOptions::prepack_bf16 is false (the CLI clears it for env
// LPX_PREPACK=0). Call before any forward pass; not with q8 weights.
#pragma once

#include "core/status.h"
#include "model/weights.h"

namespace lpx {

class ThreadPool;

// Whether prepack_weights would repack anything on this CPU / kernel path / precision now.
bool prepack_wanted();
// Repacks as above; returns how many matrices were repacked.
Result<int> prepack_weights(ModelWeights& w, ThreadPool* pool = nullptr);

}  // namespace lpx
