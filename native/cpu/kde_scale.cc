// Scale statistics for relative bandwidths: one number per data set, computed before the main pass.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kde_internal.h"
#include "mimic/status.h"
#include "mimic/gemm.h"
#include "mimic/threadpool.h"

namespace mimic::kde {

namespace {
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

double scale_statistic(const Matrix& x, Scale scale, int64_t pairs, uint64_t seed, int threads) {
  const int64_t N = x.rows, D = x.cols;
  MIMIC_REQUIRE(N >= 2 && D >= 1, Code::InvalidArgument, "scale: need at least 2 samples of dimension >= 1");
  if (scale == Scale::MeanSqNorm) {
    // mean over i != j of ||x_i - x_j||^2 = 2 N / (N - 1) * mean ||x_i - mu||^2
    const detail::Centred c = detail::centre(x, threads);
    double s = 0;
    for (float v : c.norms) s += v;
    return 2.0 * s / static_cast<double>(N - 1);
  }
  MIMIC_REQUIRE(pairs >= 1, Code::InvalidArgument, "scale: subsample size must be >= 1");
  // All pairs of a seeded random subset of m samples, m the smallest with m(m-1)/2 >= pairs: the same number
  // of pairs as independent sampling, but only m rows are touched, so wide layers stay in cache.
  int64_t m = 2;
  while (m < N && m * (m - 1) / 2 < pairs) ++m;
  std::vector<int64_t> order(N);
  for (int64_t i = 0; i < N; ++i) order[i] = i;
  uint64_t s = seed;
  for (int64_t i = 0; i < m && m < N; ++i) {  // partial Fisher-Yates
    const int64_t j = i + static_cast<int64_t>(splitmix64(s) % static_cast<uint64_t>(N - i));
    std::swap(order[i], order[j]);
  }
  // Squared distances of the subset through one Gram GEMM on its centred rows (float32 Gram error ~1e-7 x |x|^2,
  // immaterial for a median).
  std::vector<float> sub(static_cast<size_t>(m) * D);
  for (int64_t a = 0; a < m; ++a) std::copy(x.data + order[a] * D, x.data + (order[a] + 1) * D, sub.begin() + a * D);
  const detail::Centred c = detail::centre(Matrix{sub.data(), m, D}, threads);
  std::vector<float> gram(static_cast<size_t>(m) * m);
  GemmOptions opt;
  opt.threads = threads;
  opt.a_k_offset = c.mu.data();
  opt.b_k_offset = c.mu.data();
  sgemm(Trans::N, Trans::T, m, m, D, 1.0f, sub.data(), D, sub.data(), D, 0.0f, gram.data(), m, opt);
  std::vector<double> d;
  d.reserve(m * (m - 1) / 2);
  for (int64_t a = 0; a < m; ++a)
    for (int64_t b = a + 1; b < m; ++b) d.push_back(std::max(0.0, static_cast<double>(c.norms[a]) + c.norms[b] - 2.0 * gram[a * m + b]));
  const size_t mid = d.size() / 2;
  std::nth_element(d.begin(), d.begin() + mid, d.end());
  double med = d[mid];
  if (d.size() % 2 == 0) med = 0.5 * (med + *std::max_element(d.begin(), d.begin() + mid));
  return med;
}

}  // namespace mimic::kde
