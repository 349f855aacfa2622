#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_map>

#include "kde_internal.h"
#include "mimic/status.h"

namespace mimic::kde {

const char* quantity_name(int q) {
  static const char* names[kNumQuantities] = {"I_TZ", "I_TZ_loo", "I_TX_up", "I_TX_low", "I_TY", "H_T_up",
                                              "H_T_low", "H_Z_up", "H_TZ_up", "HSIC", "CKA"};
  return q >= 0 && q < kNumQuantities ? names[q] : "?";
}

Matrix as_matrix(const TensorView& t, const std::string& what) {
  MIMIC_REQUIRE(t.device == Device::CPU, Code::Unsupported, what + ": the KDE engine takes host memory");
  MIMIC_REQUIRE(t.ndim >= 1, Code::ShapeMismatch, what + ": a sample matrix needs at least one dimension");
  MIMIC_REQUIRE(t.is_contiguous(), Code::InvalidArgument, what + ": must be contiguous (row-major)");
  Matrix m;
  m.data = t.ptr<const float>();  // checks the dtype
  m.rows = t.shape[0];
  m.cols = t.numel() / std::max<int64_t>(1, t.shape[0]);
  if (t.ndim == 1) m.cols = 1;
  return m;
}

namespace detail {

double softplus(double x) {
  if (x == -std::numeric_limits<double>::infinity()) return 0.0;
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

Needs needs_for(const Request& req) {
  auto has = [&](int q) { return (req.quantities >> q) & 1u; };
  Needs n;
  n.z = has(I_TZ) || has(I_TZ_LOO) || has(H_Z_UP) || has(H_TZ_UP) || has(HSIC) || has(CKA);
  n.joint = has(I_TZ) || has(I_TZ_LOO) || has(H_TZ_UP) || has(HSIC) || has(CKA);
  n.bd = has(I_TX_LOW) || has(H_T_LOW);
  n.labels = has(I_TY);
  n.kk = has(CKA);
  return n;
}

void validate(const Request& req) {
  const int L = static_cast<int>(req.layers.size());
  MIMIC_REQUIRE(L >= 1, Code::InvalidArgument, "layers: at least one layer is required");
  const int64_t N = req.layers[0].rows;
  MIMIC_REQUIRE(N >= 2, Code::InvalidArgument, "layers[0]: at least 2 samples are required, got " + std::to_string(N));
  for (int l = 0; l < L; ++l) {
    const auto& m = req.layers[l];
    std::string name = "layers[" + std::to_string(l) + "]";
    MIMIC_REQUIRE(m.rows == N, Code::ShapeMismatch,
                  name + " has " + std::to_string(m.rows) + " samples, layers[0] has " + std::to_string(N));
    MIMIC_REQUIRE(m.cols >= 1, Code::InvalidArgument, name + ": dimension must be >= 1");
    MIMIC_REQUIRE(m.data != nullptr, Code::InvalidArgument, name + ": no data");
  }
  if (needs_for(req).z) {
    MIMIC_REQUIRE(req.features.data != nullptr && req.features.cols >= 1, Code::InvalidArgument,
                  "features: required for the requested quantities (I_TZ, H_Z, HSIC, CKA)");
    MIMIC_REQUIRE(req.features.rows == N, Code::ShapeMismatch,
                  "features has " + std::to_string(req.features.rows) + " samples, layers have " + std::to_string(N));
  }
  MIMIC_REQUIRE(static_cast<int>(req.s2_layers.size()) == L, Code::ShapeMismatch,
                "bandwidths: one list per layer is required");
  const size_t B = req.s2_layers[0].size();
  MIMIC_REQUIRE(B >= 1, Code::InvalidArgument, "bandwidths: at least one bandwidth is required");
  for (int l = 0; l < L; ++l) {
    MIMIC_REQUIRE(req.s2_layers[l].size() == B, Code::ShapeMismatch, "bandwidths: every layer needs the same count");
    for (double s : req.s2_layers[l])
      MIMIC_REQUIRE(std::isfinite(s) && s > 0, Code::InvalidArgument,
                    "bandwidths: layer " + std::to_string(l) + " has a non-positive or non-finite sigma^2 (" +
                        std::to_string(s) + ")");
  }
  if (needs_for(req).z) {
    MIMIC_REQUIRE(req.s2_features.size() == B, Code::ShapeMismatch,
                  "featureBandwidths: one sigma^2 per bandwidth index is required");
    for (double s : req.s2_features)
      MIMIC_REQUIRE(std::isfinite(s) && s > 0, Code::InvalidArgument,
                    "featureBandwidths: sigma^2 must be positive and finite (got " + std::to_string(s) + ")");
  }
  if ((req.quantities >> I_TY) & 1u) {
    MIMIC_REQUIRE(req.labels != nullptr, Code::InvalidArgument, "labels: required for I_TY");
  }
  if (req.labels)
    for (int64_t i = 0; i < N; ++i)
      MIMIC_REQUIRE(req.labels[i] >= 0, Code::InvalidArgument,
                    "labels[" + std::to_string(i) + "] is negative (" + std::to_string(req.labels[i]) + ")");
  MIMIC_REQUIRE(req.tile >= 0, Code::InvalidArgument, "tile must be >= 0 (0 = automatic)");
  MIMIC_REQUIRE(req.quantities != 0 && (req.quantities >> kNumQuantities) == 0, Code::InvalidArgument,
                "quantities: empty or unknown selection");
}

void finalize(const Request& req, const std::vector<RowStats>& stats, const std::vector<FeatureStats>& feat,
              Result& out) {
  const int L = static_cast<int>(req.layers.size());
  const int B = static_cast<int>(req.s2_layers[0].size());
  const int64_t N = req.layers[0].rows;
  const double dN = static_cast<double>(N);
  const double lnN = std::log(dN), lnN1 = std::log(dN - 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double two_pi_e = 2 * M_PI * M_E;
  const Needs need = needs_for(req);
  auto has = [&](int q) { return (req.quantities >> q) & 1u; };

  out.n = N;
  out.num_layers = L;
  out.num_bandwidths = B;
  out.values.assign(static_cast<size_t>(L) * B * kNumQuantities, nan);
  out.saturation.assign(static_cast<size_t>(L) * B, nan);

  std::unordered_map<int32_t, int64_t> class_size;
  if (need.labels)
    for (int64_t i = 0; i < N; ++i) ++class_size[req.labels[i]];

  // Per-bandwidth Z terms: ln S_Z_i (self-inclusive) and its sums, shared by every layer.
  std::vector<std::vector<double>> ln_sz(B);
  std::vector<double> sum_sz(B, 0), sum_ln_sz(B, 0);
  if (need.z) {
    out.feature_saturation.assign(B, 0.0);
    for (int b = 0; b < B; ++b) {
      ln_sz[b].resize(N);
      int64_t saturated = 0;
      for (int64_t i = 0; i < N; ++i) {
        ln_sz[b][i] = softplus(feat[b].lse_z[i]);
        sum_ln_sz[b] += ln_sz[b][i];
        sum_sz[b] += std::exp(ln_sz[b][i]);
        if (ln_sz[b][i] < 1e-3) ++saturated;
      }
      out.feature_saturation[b] = static_cast<double>(saturated) / dN;
    }
  }

  for (int l = 0; l < L; ++l)
    for (int b = 0; b < B; ++b) {
      const RowStats& st = stats[static_cast<size_t>(l) * B + b];
      double* v = &out.values[(static_cast<size_t>(l) * B + b) * kNumQuantities];
      const double s2t = req.s2_layers[l][b];
      const double ht_cond = 0.5 * static_cast<double>(req.layers[l].cols) * std::log(two_pi_e * s2t);
      double sum_ln_st = 0, sum_st = 0, sum_ln_sj = 0, sum_sj = 0, sum_st_sz = 0, sum_st2 = 0;
      double sum_loo = 0, sum_ln_bd = 0, sum_y = 0;
      int64_t saturated = 0;
      for (int64_t i = 0; i < N; ++i) {
        const double ln_st = softplus(st.lse_t[i]);
        sum_ln_st += ln_st;
        const double s_t = std::exp(ln_st);
        sum_st += s_t;
        sum_st2 += s_t * s_t;
        if (ln_st < 1e-3) ++saturated;
        if (need.joint) {
          const double ln_sj = softplus(st.lse_j[i]);
          sum_ln_sj += ln_sj;
          sum_sj += std::exp(ln_sj);
          sum_st_sz += s_t * std::exp(ln_sz[b][i]);
          sum_loo += st.lse_j[i] - st.lse_t[i] - feat[b].lse_z[i];
        }
        if (need.bd) sum_ln_bd += std::log1p(st.sum_bd[i]);
        if (need.labels)
          sum_y += std::log1p(st.sum_y[i]) - std::log(static_cast<double>(class_size[req.labels[i]])) - ln_st;
      }
      out.saturation[static_cast<size_t>(l) * B + b] = static_cast<double>(saturated) / dN;
      const double i_up = lnN - sum_ln_st / dN;
      if (has(I_TX_UP)) v[I_TX_UP] = i_up;
      if (has(H_T_UP)) v[H_T_UP] = ht_cond + i_up;
      const double i_low = need.bd ? lnN - sum_ln_bd / dN : nan;
      if (has(I_TX_LOW)) v[I_TX_LOW] = i_low;
      if (has(H_T_LOW)) v[H_T_LOW] = ht_cond + i_low;
      if (has(I_TY)) v[I_TY] = sum_y / dN + lnN;
      if (need.z) {
        const double s2z = req.s2_features[b];
        const double hz_cond = 0.5 * static_cast<double>(req.features.cols) * std::log(two_pi_e * s2z);
        if (has(H_Z_UP)) v[H_Z_UP] = hz_cond + lnN - sum_ln_sz[b] / dN;
        if (has(H_TZ_UP)) v[H_TZ_UP] = ht_cond + hz_cond + lnN - sum_ln_sj / dN;
        if (has(I_TZ)) v[I_TZ] = lnN + (sum_ln_sj - sum_ln_st - sum_ln_sz[b]) / dN;
        if (has(I_TZ_LOO)) v[I_TZ_LOO] = lnN1 + sum_loo / dN;
        // tr(KHLH) = sum_ij K_ij L_ij - (2/N) sum_i k_i l_i + (1/N^2) (sum k)(sum l); sum_ij K L = sum_i S_J_i.
        const double norm = (dN - 1) * (dN - 1);
        const double hsic = (sum_sj - 2.0 / dN * sum_st_sz + sum_st * sum_sz[b] / (dN * dN)) / norm;
        if (has(HSIC)) v[HSIC] = hsic;
        if (has(CKA)) {
          double sum_sz2 = 0;
          for (int64_t i = 0; i < N; ++i) sum_sz2 += std::exp(2 * ln_sz[b][i]);
          const double hkk = (st.sum_kk + dN - 2.0 / dN * sum_st2 + sum_st * sum_st / (dN * dN)) / norm;
          const double hll = (feat[b].sum_ll + dN - 2.0 / dN * sum_sz2 + sum_sz[b] * sum_sz[b] / (dN * dN)) / norm;
          v[CKA] = (hkk > 0 && hll > 0) ? hsic / std::sqrt(hkk * hll) : 0.0;
        }
      }
    }
}

}  // namespace detail
}  // namespace mimic::kde
