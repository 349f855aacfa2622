#include <algorithm>
#include <cmath>
#include <limits>

#include "kde_tile.h"

namespace mimic::kde::detail {

void finish_distances(float* g, int ti, int tj, int ld, const float* ni, const float* nj, bool diag,
                      float* row_min, float* col_min) {
  const float inf = std::numeric_limits<float>::infinity();
  const int tjp = pad_cols(tj);  // vector kernels read up to the padded width: padding is +inf (weight 0)
  for (int j = 0; j < tjp; ++j) col_min[j] = inf;
  for (int r = 0; r < ti; ++r) {
    float* row = g + static_cast<int64_t>(r) * ld;
    float m = inf;
    for (int j = 0; j < tj; ++j) {
      float d = std::max(0.0f, ni[r] + nj[j] - 2.0f * row[j]);  // clamp: Gram cancellation can go negative
      row[j] = d;
    }
    for (int j = tj; j < tjp; ++j) row[j] = inf;
    if (diag) row[r] = inf;  // the self pair is handled analytically, never summed
    for (int j = 0; j < tj; ++j) {
      m = std::min(m, row[j]);
      col_min[j] = std::min(col_min[j], row[j]);
    }
    row_min[r] = m;
  }
}

void tile_generic(const TileIn& in, const TileOut& out) {
  const float inf = std::numeric_limits<float>::infinity();
  const int ti = in.ti, tj = in.tj, ld = in.ld;
  const bool joint = in.dz != nullptr, cols = !in.diag, labels = in.lab_i != nullptr;
  const float ct = in.ct, cz = in.cz;

  // Pass 1 (joint only): exponent y = ct dt + cz dz and its row / column minima.
  if (joint) {
    for (int j = 0; j < tj; ++j) out.col_m_j[j] = inf;
    for (int r = 0; r < ti; ++r) {
      float m = inf;
      for (int j = 0; j < tj; ++j) {
        const int64_t k = static_cast<int64_t>(r) * ld + j;
        const float y = ct * in.dt[k] + cz * in.dz[k];
        in.scratch[k] = y;
        m = std::min(m, y);
        if (cols) out.col_m_j[j] = std::min(out.col_m_j[j], y);
      }
      out.row_m_j[r] = m;
    }
  }
  if (cols) {
    for (int j = 0; j < tj; ++j) {
      out.col_s_t[j] = 0;
      if (joint) out.col_s_j[j] = 0;
      if (in.bd) out.col_bd[j] = 0;
      if (labels) out.col_y[j] = 0;
    }
  }
  // Pass 2: exponentials relative to the exact maxima, accumulated per row and per column.
  for (int r = 0; r < ti; ++r) {
    float st = 0, sj = 0, sbd = 0, sy = 0, skk = 0;
    const float rmt = in.row_min_t[r];
    const float rmj = joint ? out.row_m_j[r] : 0.0f;
    if (rmt != inf) {  // a row with no off-diagonal entry contributes nothing
      for (int j = 0; j < tj; ++j) {
        const int64_t k = static_cast<int64_t>(r) * ld + j;
        const float d = in.dt[k];
        const float et = std::exp(ct * (rmt - d));
        st += et;
        if (in.kk) skk += et * et;
        if (joint) sj += std::exp(rmj - in.scratch[k]);
        float ebd = 0;
        if (in.bd) {
          ebd = std::exp(-0.25f * ct * d);
          sbd += ebd;
        }
        const bool same = labels && in.lab_i[r] == in.lab_j[j];
        if (same) sy += et;
        if (cols) {
          const float ect = std::exp(ct * (in.col_min_t[j] - d));
          out.col_s_t[j] += ect;
          if (joint) out.col_s_j[j] += std::exp(out.col_m_j[j] - in.scratch[k]);
          if (in.bd) out.col_bd[j] += ebd;
          if (same) out.col_y[j] += ect;
        }
      }
    }
    out.row_s_t[r] = st;
    if (joint) {
      out.row_s_j[r] = sj;
      out.row_m_j[r] = -rmj;  // report the max exponent, not the min distance term
    }
    if (in.bd) out.row_bd[r] = sbd;
    if (labels) out.row_y[r] = sy;
    if (in.kk) out.row_kk[r] = skk;
  }
  if (joint && cols)
    for (int j = 0; j < tj; ++j) out.col_m_j[j] = -out.col_m_j[j];
}

}  // namespace mimic::kde::detail
