// The KDE tile epilogue (contract in kde_tile.h) written once over a SIMD width. V supplies the vector type and
// its operations; kde_tile_avx2.cc (8 lanes) and kde_tile_avx512.cc (16 lanes) instantiate it with their own
// compiler flags. Works over the padded tile width: padding columns hold +inf distances, so their exponentials are
// exactly 0 in every row sum (their column outputs are never read).
#pragma once
#include <cstdint>
#include <limits>

#include "kde_tile.h"

namespace mimic::kde::detail {

template <class V>
void tile_simd(const TileIn& in, const TileOut& out) {
  using vec = typename V::vec;
  constexpr int W = V::kLanes;
  const float inf = std::numeric_limits<float>::infinity();
  const int ti = in.ti, tjp = (in.tj + W - 1) / W * W, ld = in.ld;
  const bool joint = in.dz != nullptr, cols = !in.diag, labels = in.lab_i != nullptr;
  const vec vct = V::set1(in.ct), vcz = V::set1(in.cz), vinf = V::set1(inf), vzero = V::zero();
  const vec vquarter = V::set1(-0.25f * in.ct);

  // Pass 1 (joint kernel only): exponent y = ct dt + cz dz, kept in scratch, and its row / column minima.
  if (joint) {
    for (int j = 0; j < tjp; j += W) V::store(out.col_m_j + j, vinf);
    for (int r = 0; r < ti; ++r) {
      const float* dt = in.dt + static_cast<int64_t>(r) * ld;
      const float* dz = in.dz + static_cast<int64_t>(r) * ld;
      float* y = in.scratch + static_cast<int64_t>(r) * ld;
      vec m = vinf;
      for (int j = 0; j < tjp; j += W) {
        const vec v = V::fmadd(vct, V::load(dt + j), V::mul(vcz, V::load(dz + j)));
        V::store(y + j, v);
        m = V::min(m, v);
        if (cols) V::store(out.col_m_j + j, V::min(V::load(out.col_m_j + j), v));
      }
      out.row_m_j[r] = V::reduce_min(m);
    }
  }
  if (cols)
    for (int j = 0; j < tjp; j += W) {
      V::store(out.col_s_t + j, vzero);
      if (joint) V::store(out.col_s_j + j, vzero);
      if (in.bd) V::store(out.col_bd + j, vzero);
      if (labels) V::store(out.col_y + j, vzero);
    }

  // Pass 2: exponentials relative to the exact row and column maxima, summed both ways in one sweep.
  for (int r = 0; r < ti; ++r) {
    const float rmt = in.row_min_t[r];
    const float rmj = joint ? out.row_m_j[r] : 0.0f;
    vec st = vzero, sj = vzero, sbd = vzero, sy = vzero, skk = vzero;
    if (rmt != inf) {  // a row with no off-diagonal entry contributes nothing
      const float* dt = in.dt + static_cast<int64_t>(r) * ld;
      const float* y = joint ? in.scratch + static_cast<int64_t>(r) * ld : nullptr;
      const vec vrmt = V::set1(rmt), vrmj = V::set1(rmj);
      const int32_t my_label = labels ? in.lab_i[r] : 0;
      for (int j = 0; j < tjp; j += W) {
        const vec d = V::load(dt + j);
        const vec et = V::exp(V::mul(vct, V::sub(vrmt, d)));
        st = V::add(st, et);
        if (in.kk) skk = V::fmadd(et, et, skk);
        vec yv = vzero;
        if (joint) {
          yv = V::load(y + j);
          sj = V::add(sj, V::exp(V::sub(vrmj, yv)));
        }
        vec ebd = vzero;
        if (in.bd) {
          ebd = V::exp(V::mul(vquarter, d));
          sbd = V::add(sbd, ebd);
        }
        typename V::mask same{};
        if (labels) {
          same = V::labels_equal(in.lab_j + j, my_label);
          sy = V::masked_add(sy, same, et);
        }
        if (cols) {
          const vec ect = V::exp(V::mul(vct, V::sub(V::load(in.col_min_t + j), d)));
          V::store(out.col_s_t + j, V::add(V::load(out.col_s_t + j), ect));
          if (joint) V::store(out.col_s_j + j, V::add(V::load(out.col_s_j + j), V::exp(V::sub(V::load(out.col_m_j + j), yv))));
          if (in.bd) V::store(out.col_bd + j, V::add(V::load(out.col_bd + j), ebd));
          if (labels) V::store(out.col_y + j, V::masked_add(V::load(out.col_y + j), same, ect));
        }
      }
    }
    out.row_s_t[r] = V::reduce_add(st);
    if (joint) {
      out.row_s_j[r] = V::reduce_add(sj);
      out.row_m_j[r] = -rmj;  // report the max exponent, not the min of the distance term
    }
    if (in.bd) out.row_bd[r] = V::reduce_add(sbd);
    if (labels) out.row_y[r] = V::reduce_add(sy);
    if (in.kk) out.row_kk[r] = V::reduce_add(skk);
  }
  if (joint && cols)
    for (int j = 0; j < tjp; j += W) V::store(out.col_m_j + j, V::sub(vzero, V::load(out.col_m_j + j)));
}

}  // namespace mimic::kde::detail
