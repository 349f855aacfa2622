// Centring statistics of a data set for Gram products: column means and squared norms of the centred rows.
// Both passes are memory-bound, so they run on the thread pool and keep float lanes in the inner loops
// (folded into float64 every 256 elements, so the accuracy is that of a float64 sum).
#include <algorithm>

#include "kde_internal.h"
#include "mimic/threadpool.h"

namespace mimic::kde::detail {

namespace {
constexpr int64_t kColBlock = 256;  // columns per task of the mean pass (1 KiB of each row)
constexpr int kLanes = 16;

// sum_k (x[k] - mu[k])^2 over [0, d): float lanes inside 256-element blocks, float64 across blocks.
double centred_sq_norm(const float* x, const float* mu, int64_t d) {
  double total = 0;
  for (int64_t k0 = 0; k0 < d; k0 += kColBlock) {
    const int64_t k1 = std::min(d, k0 + kColBlock);
    float acc[kLanes] = {};
    int64_t k = k0;
    for (; k + kLanes <= k1; k += kLanes)
      for (int u = 0; u < kLanes; ++u) {
        const float t = x[k + u] - mu[k + u];
        acc[u] += t * t;
      }
    for (; k < k1; ++k) {
      const float t = x[k] - mu[k];
      acc[0] += t * t;
    }
    for (float a : acc) total += a;
  }
  return total;
}
}  // namespace

Centred centre(const Matrix& m, int threads) {
  Centred c;
  c.x = m.data;
  c.d = m.cols;
  const int64_t N = m.rows, D = m.cols;
  c.mu.resize(D);
  // Means: each task owns a block of columns and walks every row (no reduction across threads).
  const int64_t blocks = (D + kColBlock - 1) / kColBlock;
  parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
    std::vector<double> sum(kColBlock);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t k0 = b * kColBlock, k1 = std::min(D, k0 + kColBlock);
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t i = 0; i < N; ++i) {
        const float* row = m.data + i * D;
        for (int64_t k = k0; k < k1; ++k) sum[k - k0] += row[k];
      }
      for (int64_t k = k0; k < k1; ++k) c.mu[k] = static_cast<float>(sum[k - k0] / static_cast<double>(N));
    }
  });
  c.norms.resize(N);
  parallel_for(N, threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) c.norms[i] = static_cast<float>(centred_sq_norm(m.data + i * D, c.mu.data(), D));
  });
  return c;
}

}  // namespace mimic::kde::detail
