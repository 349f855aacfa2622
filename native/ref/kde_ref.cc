// float64 reference for the KDE engine: direct squared differences (no Gram trick), full N x N loops,
// log-sum-exp with an exact row max. Slow (O(N^2 (D_T + D_Z)) per layer) and obviously correct.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../cpu/kde_internal.h"

namespace mimic::kde::detail {

namespace {
std::vector<double> sq_dists(const Matrix& m) {
  const int64_t N = m.rows, D = m.cols;
  std::vector<double> d(static_cast<size_t>(N * N), 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = i + 1; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < D; ++k) {
        double t = static_cast<double>(m.data[i * D + k]) - m.data[j * D + k];
        s += t * t;
      }
      d[i * N + j] = d[j * N + i] = s;
    }
  return d;
}

// ln sum_{j != i} exp(x_j) with an exact max shift; -inf for an empty or fully -inf row.
template <class F>
double lse_off(int64_t N, int64_t i, F x) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < N; ++j)
    if (j != i) m = std::max(m, x(j));
  if (m == -std::numeric_limits<double>::infinity()) return m;
  double s = 0;
  for (int64_t j = 0; j < N; ++j)
    if (j != i) s += std::exp(x(j) - m);
  return m + std::log(s);
}
}  // namespace

Result estimate_reference(const Request& req) {
  validate(req);
  const int L = static_cast<int>(req.layers.size());
  const int B = static_cast<int>(req.s2_layers[0].size());
  const int64_t N = req.layers[0].rows;
  const Needs need = needs_for(req);

  std::vector<double> dz;
  std::vector<FeatureStats> feat(B);
  if (need.z) {
    dz = sq_dists(req.features);
    for (int b = 0; b < B; ++b) {
      const double cz = 0.5 / req.s2_features[b];
      feat[b].lse_z.resize(N);
      for (int64_t i = 0; i < N; ++i) {
        feat[b].lse_z[i] = lse_off(N, i, [&](int64_t j) { return -cz * dz[i * N + j]; });
        for (int64_t j = 0; j < N; ++j)
          if (j != i) feat[b].sum_ll += std::exp(-2 * cz * dz[i * N + j]);
      }
    }
  }

  std::vector<RowStats> stats(static_cast<size_t>(L) * B);
  for (int l = 0; l < L; ++l) {
    const std::vector<double> dt = sq_dists(req.layers[l]);
    for (int b = 0; b < B; ++b) {
      RowStats& st = stats[static_cast<size_t>(l) * B + b];
      const double ct = 0.5 / req.s2_layers[l][b];
      const double cz = need.z ? 0.5 / req.s2_features[b] : 0.0;
      st.lse_t.resize(N);
      if (need.joint) st.lse_j.resize(N);
      if (need.bd) st.sum_bd.assign(N, 0.0);
      if (need.labels) st.sum_y.assign(N, 0.0);
      for (int64_t i = 0; i < N; ++i) {
        const double* row = &dt[i * N];
        st.lse_t[i] = lse_off(N, i, [&](int64_t j) { return -ct * row[j]; });
        if (need.joint)
          st.lse_j[i] = lse_off(N, i, [&](int64_t j) { return -ct * row[j] - cz * dz[i * N + j]; });
        for (int64_t j = 0; j < N; ++j) {
          if (j == i) continue;
          if (need.bd) st.sum_bd[i] += std::exp(-0.25 * ct * row[j]);
          if (need.labels && req.labels[j] == req.labels[i]) st.sum_y[i] += std::exp(-ct * row[j]);
          if (need.kk) st.sum_kk += std::exp(-2 * ct * row[j]);
        }
      }
    }
  }
  Result out;
  finalize(req, stats, feat, out);
  out.backend = "cpu-fp64-reference";
  return out;
}

}  // namespace mimic::kde::detail
