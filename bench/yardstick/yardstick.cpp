// `loraplex_yardstick`: the best matrix-multiply rates of Debian's OpenBLAS (f32 sgemm; its bf16
// sbgemm is not exported by Debian's build) and oneDNN (f32 and bf16 matmul with weights in the
// library's preferred packed layout) on the prefill GEMM shapes of TinyLlama-1.1B (M = 512 tokens).
// These are yardsticks for docs/PERFORMANCE.md: the limits loraplex's own GEMMs are compared to.
// Prints one JSON object: {"openblas_f32": GFLOP/s, "onednn_f32": ..., "onednn_bf16": ..., "shapes": [...]}.
// Threads: the first argument (default: all cores), applied to OpenBLAS and to OpenMP (oneDNN).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#ifdef LPX_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef LPX_HAVE_DNNL
#include <omp.h>

#include <dnnl.hpp>
#endif

namespace {

struct Shape {
  int M, N, K;
};
// TinyLlama-1.1B prefill of 512 tokens: q/o (2048x2048), gate/up (5632x2048), down (2048x5632).
const Shape kShapes[] = {{512, 2048, 2048}, {512, 5632, 2048}, {512, 2048, 5632}};

template <typename F>
double best_seconds(F&& fn, int reps) {
  fn();  // warm-up (packing, page faults, thread start)
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

double gflops(const Shape& s, double sec) { return 2.0 * s.M * s.N * s.K / sec / 1e9; }

std::vector<float> random_vec(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

#ifdef LPX_HAVE_OPENBLAS
double openblas_f32(const Shape& s) {
  std::vector<float> a = random_vec(size_t(s.M) * s.K, 1), w = random_vec(size_t(s.N) * s.K, 2), c(size_t(s.M) * s.N);
  // y[M, N] = x[M, K] W[N, K]^T, as the model computes it.
  return gflops(s, best_seconds(
                       [&] {
                         cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.M, s.N, s.K, 1.0f, a.data(), s.K,
                                     w.data(), s.K, 0.0f, c.data(), s.N);
                       },
                       5));
}
#endif

#ifdef LPX_HAVE_DNNL
double onednn(const Shape& s, bool bf16) {
  using namespace dnnl;
  using dt = memory::data_type;
  engine eng(engine::kind::cpu, 0);
  stream st(eng);
  const dt t = bf16 ? dt::bf16 : dt::f32;
  memory::desc a_md({s.M, s.K}, t, memory::format_tag::ab);
  memory::desc w_any({s.K, s.N}, t, memory::format_tag::any);
  memory::desc w_user({s.K, s.N}, dt::f32, memory::format_tag::ba);  // W [N, K] row-major = [K, N] "ba"
  memory::desc c_md({s.M, s.N}, dt::f32, memory::format_tag::ab);
  matmul::primitive_desc pd(matmul::desc(a_md, w_any, c_md), eng);  // oneDNN 2.x API
  std::vector<float> a32 = random_vec(size_t(s.M) * s.K, 1), w32 = random_vec(size_t(s.N) * s.K, 2);
  memory a_f32({{s.M, s.K}, dt::f32, memory::format_tag::ab}, eng, a32.data());
  memory a_mem(a_md, eng);
  reorder(a_f32, a_mem).execute(st, a_f32, a_mem);
  memory w_src(w_user, eng, w32.data());
  memory w_mem(pd.weights_desc(), eng);  // packed once, as an engine would at load time
  reorder(w_src, w_mem).execute(st, w_src, w_mem);
  memory c_mem(c_md, eng);
  matmul mm(pd);
  st.wait();
  return gflops(s, best_seconds(
                       [&] {
                         mm.execute(st, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, c_mem}});
                         st.wait();
                       },
                       5));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string out = "{\"threads\": " + std::to_string(threads);
  std::string shapes = "\"shapes\": [";
  double ob = 0, of = 0, obf = 0;
#ifdef LPX_HAVE_OPENBLAS
  openblas_set_num_threads(threads);
#endif
#ifdef LPX_HAVE_DNNL
  omp_set_num_threads(threads);
#endif
  bool first = true;
  for (const Shape& s : kShapes) {
    std::string row =
        "{\"M\": " + std::to_string(s.M) + ", \"N\": " + std::to_string(s.N) + ", \"K\": " + std::to_string(s.K);
    char buf[64];
#ifdef LPX_HAVE_OPENBLAS
    const double g1 = openblas_f32(s);
    ob = std::max(ob, g1);
    std::snprintf(buf, sizeof buf, ", \"openblas_f32\": %.1f", g1);
    row += buf;
#endif
#ifdef LPX_HAVE_DNNL
    const double g2 = onednn(s, false), g3 = onednn(s, true);
    of = std::max(of, g2);
    obf = std::max(obf, g3);
    std::snprintf(buf, sizeof buf, ", \"onednn_f32\": %.1f, \"onednn_bf16\": %.1f", g2, g3);
    row += buf;
#endif
    shapes += (first ? "" : ", ") + row + "}";
    first = false;
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, ", \"openblas_f32\": %.1f, \"onednn_f32\": %.1f, \"onednn_bf16\": %.1f, ", ob, of,
                obf);
  std::printf("%s%s%s]}\n", out.c_str(), buf, shapes.c_str());
  return 0;
}
