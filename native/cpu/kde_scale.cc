// Scale statistics for relative bandwidths: one number per data set, computed before the main pass.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kde_internal.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::kde {

namespace {
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double sq_dist(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t k = 0; k < d; ++k) {
    double t = static_cast<double>(a[k]) - b[k];
    s += t * t;
  }
  return s;
}
}  // namespace

double scale_statistic(const Matrix& x, Scale scale, int64_t pairs, uint64_t seed, int threads) {
  const int64_t N = x.rows, D = x.cols;
  MIMIC_REQUIRE(N >= 2 && D >= 1, Code::InvalidArgument, "scale: need at least 2 samples of dimension >= 1");
  if (scale == Scale::MeanSqNorm) {
    std::vector<double> mu(D, 0.0);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < D; ++k) mu[k] += x.data[i * D + k];
    for (auto& m : mu) m /= static_cast<double>(N);
    double s = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < D; ++k) {
        double t = x.data[i * D + k] - mu[k];
        s += t * t;
      }
    // mean over i != j of ||x_i - x_j||^2 = 2 N / (N - 1) * mean ||x_i - mu||^2
    return 2.0 * s / static_cast<double>(N - 1);
  }
  MIMIC_REQUIRE(pairs >= 1, Code::InvalidArgument, "scale: subsample size must be >= 1");
  const int64_t all = N * (N - 1) / 2;
  std::vector<std::pair<int64_t, int64_t>> idx;
  if (all <= pairs) {
    idx.reserve(all);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = i + 1; j < N; ++j) idx.emplace_back(i, j);
  } else {
    idx.reserve(pairs);
    uint64_t s = seed;
    for (int64_t p = 0; p < pairs; ++p) {
      int64_t i = static_cast<int64_t>(splitmix64(s) % static_cast<uint64_t>(N));
      int64_t j = static_cast<int64_t>(splitmix64(s) % static_cast<uint64_t>(N - 1));
      if (j >= i) ++j;
      idx.emplace_back(i, j);
    }
  }
  std::vector<double> d(idx.size());
  parallel_for(static_cast<int64_t>(idx.size()), threads, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) d[p] = sq_dist(x.data + idx[p].first * D, x.data + idx[p].second * D, D);
  });
  const size_t mid = d.size() / 2;
  std::nth_element(d.begin(), d.begin() + mid, d.end());
  double med = d[mid];
  if (d.size() % 2 == 0) med = 0.5 * (med + *std::max_element(d.begin(), d.begin() + mid));
  return med;
}

}  // namespace mimic::kde
