// Standalone randomized check of the KDE engine against its float64 reference on every kernel path, random N,
// tile sizes, layers, bandwidths and labels; meant to run under AddressSanitizer / UBSan (native/tools/sanitize.sh).
#include "mimic/kde_mi.h"
#include "mimic/gemm.h"
#include <cstdio>
#include <cmath>
#include <random>
using namespace mimic::kde;
int main() {
  std::mt19937 g(7); std::normal_distribution<float> nd;
  int fails = 0;
  for (int trial = 0; trial < 40; ++trial) {
    int N = 2 + g() % 150, L = 1 + g() % 3, B = 1 + g() % 3, tile = 1 + g() % 70;
    std::vector<std::vector<float>> data(L); std::vector<int64_t> dims(L);
    Request r;
    for (int l = 0; l < L; ++l) { dims[l] = 1 + g() % 40; data[l].resize(N * dims[l]); for (auto& x : data[l]) x = nd(g); }
    for (int l = 0; l < L; ++l) r.layers.push_back({data[l].data(), N, dims[l]});
    std::vector<float> z(N * 5); for (auto& x : z) x = nd(g);
    std::vector<int32_t> lab(N); for (auto& y : lab) y = g() % 4;
    r.features = {z.data(), N, 5}; r.labels = lab.data();
    r.s2_layers.assign(L, {}); for (int l = 0; l < L; ++l) for (int b = 0; b < B; ++b) r.s2_layers[l].push_back(0.1 + b);
    for (int b = 0; b < B; ++b) r.s2_features.push_back(0.5 + b);
    r.quantities = (1u << kNumQuantities) - 1; r.tile = tile; r.threads = 1 + g() % 2;
    for (auto p : {mimic::KernelPath::Generic, mimic::KernelPath::Avx2, mimic::KernelPath::Avx512}) {
      r.path = p;
      auto a = estimate(r);
      Request rr = r; rr.precision = Precision::Fp64Reference; auto ref = estimate(rr);
      for (size_t i = 0; i < a.values.size(); ++i) if (!(std::abs(a.values[i] - ref.values[i]) < 1e-3 * (1 + std::abs(ref.values[i])))) { ++fails; printf("mismatch trial %d N=%d tile=%d q=%zu %g vs %g\n", trial, N, tile, i % kNumQuantities, a.values[i], ref.values[i]); break; }
    }
    for (int k = 0; k < 3; ++k) { double s = scale_statistic(r.layers[0], Scale::MedianSq, 50, k, 1); (void)s; }
  }
  printf("done, %d mismatches\n", fails);
  return fails != 0;
}
