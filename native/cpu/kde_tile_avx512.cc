// AVX-512 build of the KDE tile epilogue (contract in kde_tile.h): the AVX2 version's structure on 16 lanes.
// Padding columns (up to the tile width rounded to 16) hold +inf distances: weight 0 in every row sum.
#include <immintrin.h>

#include <limits>

#include "kde_tile.h"
#include "vec_exp_avx512.h"

namespace mimic::kde::detail {

void tile_avx512(const TileIn& in, const TileOut& out) {
  const float inf = std::numeric_limits<float>::infinity();
  const int ti = in.ti, tjp = (in.tj + 15) & ~15, ld = in.ld;
  const bool joint = in.dz != nullptr, cols = !in.diag, labels = in.lab_i != nullptr;
  const __m512 vct = _mm512_set1_ps(in.ct), vcz = _mm512_set1_ps(in.cz);
  const __m512 vinf = _mm512_set1_ps(inf), vzero = _mm512_setzero_ps();
  const __m512 vquarter = _mm512_set1_ps(-0.25f * in.ct);

  if (joint) {
    for (int j = 0; j < tjp; j += 16) _mm512_storeu_ps(out.col_m_j + j, vinf);
    for (int r = 0; r < ti; ++r) {
      const float* dt = in.dt + static_cast<int64_t>(r) * ld;
      const float* dz = in.dz + static_cast<int64_t>(r) * ld;
      float* y = in.scratch + static_cast<int64_t>(r) * ld;
      __m512 m = vinf;
      for (int j = 0; j < tjp; j += 16) {
        const __m512 v = _mm512_fmadd_ps(vct, _mm512_loadu_ps(dt + j), _mm512_mul_ps(vcz, _mm512_loadu_ps(dz + j)));
        _mm512_storeu_ps(y + j, v);
        m = _mm512_min_ps(m, v);
        if (cols) _mm512_storeu_ps(out.col_m_j + j, _mm512_min_ps(_mm512_loadu_ps(out.col_m_j + j), v));
      }
      out.row_m_j[r] = _mm512_reduce_min_ps(m);
    }
  }
  if (cols)
    for (int j = 0; j < tjp; j += 16) {
      _mm512_storeu_ps(out.col_s_t + j, vzero);
      if (joint) _mm512_storeu_ps(out.col_s_j + j, vzero);
      if (in.bd) _mm512_storeu_ps(out.col_bd + j, vzero);
      if (labels) _mm512_storeu_ps(out.col_y + j, vzero);
    }

  for (int r = 0; r < ti; ++r) {
    const float rmt = in.row_min_t[r];
    const float rmj = joint ? out.row_m_j[r] : 0.0f;
    __m512 st = vzero, sj = vzero, sbd = vzero, sy = vzero, skk = vzero;
    if (rmt != inf) {
      const float* dt = in.dt + static_cast<int64_t>(r) * ld;
      const float* y = joint ? in.scratch + static_cast<int64_t>(r) * ld : nullptr;
      const __m512 vrmt = _mm512_set1_ps(rmt), vrmj = _mm512_set1_ps(rmj);
      const __m512i vlab = _mm512_set1_epi32(labels ? in.lab_i[r] : 0);
      for (int j = 0; j < tjp; j += 16) {
        const __m512 d = _mm512_loadu_ps(dt + j);
        const __m512 et = exp512_ps(_mm512_mul_ps(vct, _mm512_sub_ps(vrmt, d)));
        st = _mm512_add_ps(st, et);
        if (in.kk) skk = _mm512_fmadd_ps(et, et, skk);
        __m512 yv = vzero;
        if (joint) {
          yv = _mm512_loadu_ps(y + j);
          sj = _mm512_add_ps(sj, exp512_ps(_mm512_sub_ps(vrmj, yv)));
        }
        __m512 ebd = vzero;
        if (in.bd) {
          ebd = exp512_ps(_mm512_mul_ps(vquarter, d));
          sbd = _mm512_add_ps(sbd, ebd);
        }
        __mmask16 same = 0;
        if (labels) {
          same = _mm512_cmpeq_epi32_mask(vlab, _mm512_loadu_si512(in.lab_j + j));
          sy = _mm512_mask_add_ps(sy, same, sy, et);
        }
        if (cols) {
          const __m512 ect = exp512_ps(_mm512_mul_ps(vct, _mm512_sub_ps(_mm512_loadu_ps(in.col_min_t + j), d)));
          _mm512_storeu_ps(out.col_s_t + j, _mm512_add_ps(_mm512_loadu_ps(out.col_s_t + j), ect));
          if (joint) {
            const __m512 ecj = exp512_ps(_mm512_sub_ps(_mm512_loadu_ps(out.col_m_j + j), yv));
            _mm512_storeu_ps(out.col_s_j + j, _mm512_add_ps(_mm512_loadu_ps(out.col_s_j + j), ecj));
          }
          if (in.bd) _mm512_storeu_ps(out.col_bd + j, _mm512_add_ps(_mm512_loadu_ps(out.col_bd + j), ebd));
          if (labels) {
            const __m512 cy = _mm512_loadu_ps(out.col_y + j);
            _mm512_storeu_ps(out.col_y + j, _mm512_mask_add_ps(cy, same, cy, ect));
          }
        }
      }
    }
    out.row_s_t[r] = _mm512_reduce_add_ps(st);
    if (joint) {
      out.row_s_j[r] = _mm512_reduce_add_ps(sj);
      out.row_m_j[r] = -rmj;
    }
    if (in.bd) out.row_bd[r] = _mm512_reduce_add_ps(sbd);
    if (labels) out.row_y[r] = _mm512_reduce_add_ps(sy);
    if (in.kk) out.row_kk[r] = _mm512_reduce_add_ps(skk);
  }
  if (joint && cols)
    for (int j = 0; j < tjp; j += 16)
      _mm512_storeu_ps(out.col_m_j + j, _mm512_sub_ps(vzero, _mm512_loadu_ps(out.col_m_j + j)));
}

}  // namespace mimic::kde::detail
