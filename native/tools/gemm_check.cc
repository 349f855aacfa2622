// Standalone correctness + timing harness for mimic::sgemm (not part of the addon build).
//
// Build (from the repo root):
//   g++ -O3 -std=c++17 -c -mavx2 -mfma -I native/include native/cpu/gemm_avx2.cc -o /tmp/gemm_avx2.o
//   g++ -O3 -std=c++17 -c -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -I native/include
//       native/cpu/gemm_avx512.cc -o /tmp/gemm_avx512.o
//   g++ -O3 -std=c++17 -pthread -I native/include native/tools/gemm_check.cc native/cpu/threadpool.cc
//       native/cpu/cpu.cc native/cpu/gemm.cc native/cpu/gemm_generic.cc native/ref/gemm_ref.cc /tmp/gemm_avx2.o
//       /tmp/gemm_avx512.o -o /tmp/gemm_check
// Run:
//   /tmp/gemm_check test                         correctness sweep vs the float64 reference (exit 1 on failure)
//   /tmp/gemm_check bench [threads] [path]       GFLOP/s on the standard shapes (path: auto|generic|avx2|avx512)
//   /tmp/gemm_check time M N K [NN|NT|TN|TT] [threads] [path] [reps]
// MIMIC_GEMM_BLOCKING=mc,kc,nc overrides the blocking of every path (tuning); MIMIC_MAX_PATH=avx2|generic caps
// what auto picks.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../cpu/gemm_kernels.h"
#include "mimic/gemm.h"
#include "mimic/ref.h"
#include "mimic/threadpool.h"

using namespace mimic;

namespace {

std::mt19937_64 rng(12345);

void fill(std::vector<float>& v, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  for (auto& x : v) x = d(rng);
}

KernelPath parse_path(const char* s) {
  if (!s || !std::strcmp(s, "auto")) return KernelPath::Auto;
  if (!std::strcmp(s, "generic")) return KernelPath::Generic;
  if (!std::strcmp(s, "avx512")) return KernelPath::Avx512;
  return KernelPath::Avx2;
}

int failures = 0, passes = 0;

// One correctness case. Returns the max error relative to the |a||b| scale.
double check_case(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, bool offsets,
                  KernelPath path, int threads, int pad, bool nan_c) {
  const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  const int64_t arows = ta ? K : M, brows = tb ? N : K;
  std::vector<float> A(std::max<int64_t>(1, arows * lda)), B(std::max<int64_t>(1, brows * ldb)),
      C(std::max<int64_t>(1, M * ldc));
  fill(A);
  fill(B);
  fill(C);
  if (nan_c) std::fill(C.begin(), C.end(), std::nanf(""));
  std::vector<float> aoff, boff;
  if (offsets) {
    aoff.resize(K);
    boff.resize(K);
    fill(aoff, -0.5f, 0.5f);
    fill(boff, -0.5f, 0.5f);
    // Shift the data so the offsets matter (mean away from zero).
    for (auto& x : A) x += 3.0f;
    for (auto& x : aoff) x += 3.0f;
  }
  // Centred copies (computed in float, as the packers do) for the reference.
  std::vector<float> Ac = A, Bc = B;
  if (offsets) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) (ta ? Ac[k * lda + i] : Ac[i * lda + k]) -= aoff[k];
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) (tb ? Bc[j * ldb + k] : Bc[k * ldb + j]) -= boff[k];
  }
  std::vector<double> ref(std::max<int64_t>(1, M * N)), scale(std::max<int64_t>(1, M * N));
  ref::gemm(ta, tb, M, N, K, alpha, Ac.data(), lda, Bc.data(), ldb, beta, C.data(), ldc, ref.data());
  std::vector<float> Aa = Ac, Ba = Bc, Ca = C;
  for (auto& x : Aa) x = std::fabs(x);
  for (auto& x : Ba) x = std::fabs(x);
  for (auto& x : Ca) x = std::isnan(x) ? 0.0f : std::fabs(x);
  ref::gemm(ta, tb, M, N, K, std::fabs(alpha), Aa.data(), lda, Ba.data(), ldb, std::fabs(beta), Ca.data(), ldc,
            scale.data());
  std::vector<float> Cout = C;
  GemmOptions opt;
  opt.threads = threads;
  opt.path = path;
  if (offsets) {
    opt.a_k_offset = aoff.data();
    opt.b_k_offset = boff.data();
  }
  sgemm(ta ? Trans::T : Trans::N, tb ? Trans::T : Trans::N, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta,
        Cout.data(), ldc, opt);
  double worst = 0;
  bool ok = true;
  for (int64_t i = 0; i < M && ok; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = Cout[i * ldc + j];
      if (j >= N) {  // padding must be untouched
        if (std::memcmp(&got, &C[i * ldc + j], sizeof(float)) != 0) ok = false;
        continue;
      }
      const double want = ref[i * N + j], sc = scale[i * N + j];
      const double err = std::fabs(got - want);
      const double bound = 1e-5 * sc + 1e-30;
      if (!(err <= bound)) ok = false;
      if (sc > 0) worst = std::max(worst, err / sc);
    }
  }
  if (!ok) {
    ++failures;
    std::printf("FAIL %c%c M=%lld N=%lld K=%lld alpha=%g beta=%g off=%d path=%s threads=%d pad=%d nanC=%d rel=%.3g\n",
                ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)M, (long long)N, (long long)K, alpha, beta, offsets,
                path_name(path), threads, pad, nan_c, worst);
  } else {
    ++passes;
  }
  return worst;
}

int run_tests() {
  const int64_t shapes[][3] = {{1, 1, 1},     {7, 13, 29},   {13, 7, 1},    {1, 37, 19},   {37, 1, 19},
                               {6, 16, 8},    {12, 32, 257}, {5, 15, 7},    {17, 33, 300}, {64, 64, 64},
                               {100, 90, 80}, {127, 129, 513}, {2, 2, 5000},  {31, 47, 5000}, {150, 290, 600},
                               {64, 700, 96}, {301, 20, 77},  {3, 200, 3},   {200, 3, 40},  {145, 4097, 33}};
  double worst = 0;
  const KernelPath all_paths[] = {KernelPath::Generic, KernelPath::Avx2, KernelPath::Avx512};
  for (KernelPath path : all_paths) {
    if (!path_supported(path)) {
      std::printf("  skipping path %s (not supported by this CPU)\n", path_name(path));
      continue;
    }
    for (auto& s : shapes)
      for (int t = 0; t < 4; ++t)
        for (int threads : {1, 2}) {
          const bool ta = t & 2, tb = t & 1;
          const int variant = static_cast<int>((s[0] * 7 + s[1] * 3 + s[2] + t + threads) % 4);
          worst = std::max(worst, check_case(ta, tb, s[0], s[1], s[2], 1.0f, 0.0f, false, path, threads, 0, false));
          worst = std::max(worst, check_case(ta, tb, s[0], s[1], s[2], -0.75f, 0.0f, variant & 1, path, threads,
                                             3, true));
          worst = std::max(worst, check_case(ta, tb, s[0], s[1], s[2], 1.5f, 0.5f, true, path, threads,
                                             variant, false));
          worst = std::max(worst, check_case(ta, tb, s[0], s[1], s[2], 2.0f, -1.0f, variant & 2, path, threads,
                                             1, false));
        }
  }
  // Large shapes that reach several MC / KC / NC blocks and the thread split (a subset, the reference is slow).
  const int64_t big[][3] = {{300, 4200, 70}, {40, 5000, 600}, {128, 128, 20000}, {500, 300, 700}};
  for (KernelPath path : all_paths) {
    if (path != KernelPath::Generic && !path_supported(path)) continue;
    for (auto& s : big)
      for (int t : {0, 1, 3})
        for (int threads : {1, 2}) {
          // Generic: only the no-transpose case (slow), the SIMD paths all three layouts.
          if (path == KernelPath::Generic && t != 0) continue;
          worst = std::max(worst, check_case(t & 2, t & 1, s[0], s[1], s[2], 1.0f, 0.5f, t == 1, path, threads, 2,
                                             false));
        }
  }
  // Blocking variants: tiny blocks exercise every edge path.
  gemm_detail::set_blocking(12, 9, 32);
  for (int t = 0; t < 4; ++t)
    for (KernelPath path : all_paths)
      if (path_supported(path))
        worst = std::max(worst, check_case(t & 2, t & 1, 41, 77, 53, 1.25f, 0.25f, true, path, 2, 1, false));
  gemm_detail::set_blocking(24, 17, 64);
  for (int t = 0; t < 4; ++t)
    for (KernelPath path : all_paths)
      if (path_supported(path))
        worst = std::max(worst, check_case(t & 2, t & 1, 100, 130, 70, -0.5f, 1.0f, t & 1, path, 1, 2, false));
  gemm_detail::reset_blocking();
  // Zero sizes.
  for (int64_t z : {0, 1, 2}) {
    check_case(false, false, z == 0 ? 0 : 5, z == 1 ? 0 : 5, z == 2 ? 0 : 5, 1.0f, 0.5f, false, KernelPath::Auto,
               0, 1, false);
    check_case(true, true, z == 0 ? 0 : 5, z == 1 ? 0 : 5, z == 2 ? 0 : 5, 1.0f, 0.0f, false, KernelPath::Auto, 0,
               1, true);
  }
  // alpha = 0 with beta = 0 and NaN C: zeros.
  check_case(false, true, 9, 9, 9, 0.0f, 0.0f, false, KernelPath::Auto, 1, 0, true);
  // Argument errors.
  auto expect_throw = [&](const char* what, auto&& fn) {
    try {
      fn();
      ++failures;
      std::printf("FAIL no throw: %s\n", what);
    } catch (const Error& e) {
      if (e.code() != Code::InvalidArgument) {
        ++failures;
        std::printf("FAIL wrong code: %s\n", what);
      } else {
        ++passes;
        std::printf("  ok throws: %s\n", e.what());
      }
    }
  };
  float buf[64] = {};
  expect_throw("M < 0", [&] { sgemm(Trans::N, Trans::N, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2); });
  expect_throw("K < 0", [&] { sgemm(Trans::N, Trans::N, 1, 2, -2, 1, buf, 2, buf, 2, 0, buf, 2); });
  expect_throw("lda", [&] { sgemm(Trans::N, Trans::N, 2, 2, 5, 1, buf, 3, buf, 2, 0, buf, 2); });
  expect_throw("lda T", [&] { sgemm(Trans::T, Trans::N, 4, 2, 5, 1, buf, 3, buf, 2, 0, buf, 2); });
  expect_throw("ldb", [&] { sgemm(Trans::N, Trans::N, 2, 4, 2, 1, buf, 2, buf, 3, 0, buf, 4); });
  expect_throw("ldb T", [&] { sgemm(Trans::N, Trans::T, 2, 4, 5, 1, buf, 5, buf, 3, 0, buf, 4); });
  expect_throw("ldc", [&] { sgemm(Trans::N, Trans::N, 2, 4, 2, 1, buf, 2, buf, 4, 0, buf, 3); });
  // Nested use: sgemm with threads=1 inside a parallel region (what the KDE engine does).
  {
    std::vector<float> X(128 * 300), mu(300), G1(2 * 128 * 128);
    fill(X);
    fill(mu);
    ThreadPool::global().run(2, [&](int tid, int) {
      GemmOptions o;
      o.threads = 1;
      o.a_k_offset = o.b_k_offset = mu.data();
      sgemm(Trans::N, Trans::T, 128, 128, 300, 1.0f, X.data(), 300, X.data(), 300, 0.0f, G1.data() + tid * 128 * 128,
            128, o);
    });
    if (std::memcmp(G1.data(), G1.data() + 128 * 128, 128 * 128 * sizeof(float)) != 0) {
      ++failures;
      std::printf("FAIL nested results differ\n");
    } else {
      ++passes;
    }
  }
  std::printf("max error / (|alpha| sum|a||b| + |beta c|) = %.3g\n", worst);
  std::printf("%d passed, %d failed\n", passes, failures);
  return failures ? 1 : 0;
}

struct Timing {
  double median, best, worst;
};

Timing time_gemm(int64_t M, int64_t N, int64_t K, bool ta, bool tb, int threads, KernelPath path, int reps) {
  std::vector<float> A(M * K), B(K * N), C(M * N);
  fill(A);
  fill(B);
  GemmOptions opt;
  opt.threads = threads;
  opt.path = path;
  auto once = [&] {
    sgemm(ta ? Trans::T : Trans::N, tb ? Trans::T : Trans::N, M, N, K, 1.0f, A.data(), ta ? M : K, B.data(),
          tb ? K : N, 0.0f, C.data(), N, opt);
  };
  once();
  auto t0 = std::chrono::steady_clock::now();
  once();
  double one = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int inner = std::max(1, static_cast<int>(0.05 / std::max(one, 1e-7)));
  std::vector<double> s;
  for (int r = 0; r < reps; ++r) {
    auto a = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) once();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count() / inner);
  }
  std::sort(s.begin(), s.end());
  return {s[s.size() / 2], s.front(), s.back()};
}

void print_time(int64_t M, int64_t N, int64_t K, const char* tr, int threads, KernelPath path, int reps) {
  const bool ta = tr[0] == 'T', tb = tr[1] == 'T';
  Timing t = time_gemm(M, N, K, ta, tb, threads, path, reps);
  const double flop = 2.0 * M * N * K;
  std::printf("%6lld %6lld %6lld %s threads=%d path=%-7s median %9.3f ms  GFLOP/s median %7.1f best %7.1f\n",
              (long long)M, (long long)N, (long long)K, tr, threads, path_name(resolve_path(path)), t.median * 1e3,
              flop / t.median / 1e9, flop / t.best / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* b = std::getenv("MIMIC_GEMM_BLOCKING")) {
    int mc = 0, kc = 0, nc = 0;
    std::sscanf(b, "%d,%d,%d", &mc, &kc, &nc);
    gemm_detail::set_blocking(mc, kc, nc);
  }
  const std::string mode = argc > 1 ? argv[1] : "test";
  if (mode == "test") return run_tests();
  if (mode == "bench") {
    int threads = argc > 2 ? std::atoi(argv[2]) : 1;
    KernelPath path = parse_path(argc > 3 ? argv[3] : nullptr);
    const int64_t shapes[][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {64, 32768, 576},
                                 {128, 8192, 1152},  {256, 2048, 2304},  {512, 512, 4608}};
    for (auto& s : shapes) print_time(s[0], s[1], s[2], "NN", threads, path, 5);
    for (auto& s : shapes) print_time(s[0], s[1], s[2], "NT", threads, path, 5);
    for (int64_t k : {64, 4096, 65536}) {
      print_time(128, 128, k, "NT", threads, path, 5);
      print_time(256, 256, k, "NT", threads, path, 5);
    }
    return 0;
  }
  if (mode == "time" && argc >= 5) {
    print_time(std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), argc > 5 ? argv[5] : "NN",
               argc > 6 ? std::atoi(argv[6]) : 1, parse_path(argc > 7 ? argv[7] : nullptr),
               argc > 8 ? std::atoi(argv[8]) : 5);
    return 0;
  }
  std::fprintf(stderr, "usage: gemm_check test | bench [threads] [path] | time M N K [tr] [threads] [path] [reps]\n");
  return 2;
}
