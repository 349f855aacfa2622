// Shared between the KDE engines (reference, CPU, CUDA): validation and the final reduction from per-row
// kernel sums to the reported quantities, so every engine reports through the same float64 code.
#pragma once
#include <cstdint>
#include <vector>

#include "mimic/kde_mi.h"

namespace mimic::kde::detail {

// Per-row statistics of one (layer, bandwidth), all excluding the self term j == i.
struct RowStats {
  std::vector<double> lse_t;  // ln sum_{j!=i} exp(-D^T_ij / 2 s2_T)       (may be -inf)
  std::vector<double> lse_j;  // ln sum_{j!=i} exp(-D^T_ij/2s2_T - D^Z_ij/2s2_Z)
  std::vector<double> sum_bd; // sum_{j!=i} exp(-D^T_ij / 8 s2_T)           (linear)
  std::vector<double> sum_y;  // sum_{j!=i, y_j = y_i} exp(-D^T_ij / 2 s2_T) (linear)
  double sum_kk = 0;          // sum_{i!=j} K_ij^2
};
struct FeatureStats {  // per bandwidth of Z
  std::vector<double> lse_z;
  double sum_ll = 0;
};

// Which accumulators a request needs.
struct Needs {
  bool joint = false, bd = false, labels = false, kk = false, z = false;
};
Needs needs_for(const Request& req);

// stats[l * B + b], feat[b] -> Result.values / saturation.
void finalize(const Request& req, const std::vector<RowStats>& stats, const std::vector<FeatureStats>& feat,
              Result& out);

// A data set prepared for Gram products on centred data: the centring is applied inside the GEMM (no copy).
struct Centred {
  const float* x = nullptr;
  int64_t d = 0;
  std::vector<float> mu;     // column means (float64 accumulation)
  std::vector<float> norms;  // ||x_i - mu||^2 (float64 accumulation)
};
Centred centre(const Matrix& m, int threads);

// ln(1 + exp(x)) without overflow or cancellation; x = -inf gives 0.
double softplus(double x);

}  // namespace mimic::kde::detail
