// AVX2/FMA build of the KDE tile epilogue (contract in kde_tile.h). Works on 8 columns at a time over the padded
// tile width: padding columns hold +inf distances, so their exponentials are exactly 0 in every row sum.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kde_tile.h"
#include "vec_exp_avx2.h"

namespace mimic::kde::detail {

namespace {
inline int padded(int n) { return (n + 7) & ~7; }
}  // namespace

void tile_avx2(const TileIn& in, const TileOut& out) {
  const float inf = std::numeric_limits<float>::infinity();
  const int ti = in.ti, tjp = padded(in.tj), ld = in.ld;
  const bool joint = in.dz != nullptr, cols = !in.diag, labels = in.lab_i != nullptr;
  const __m256 vct = _mm256_set1_ps(in.ct), vcz = _mm256_set1_ps(in.cz);
  const __m256 vinf = _mm256_set1_ps(inf), vzero = _mm256_setzero_ps();
  const __m256 vquarter = _mm256_set1_ps(-0.25f * in.ct);

  if (joint) {
    for (int j = 0; j < tjp; j += 8) _mm256_storeu_ps(out.col_m_j + j, vinf);
    for (int r = 0; r < ti; ++r) {
      const float* dt = in.dt + static_cast<int64_t>(r) * ld;
      const float* dz = in.dz + static_cast<int64_t>(r) * ld;
      float* y = in.scratch + static_cast<int64_t>(r) * ld;
      __m256 m = vinf;
      for (int j = 0; j < tjp; j += 8) {
        const __m256 v = _mm256_fmadd_ps(vct, _mm256_loadu_ps(dt + j), _mm256_mul_ps(vcz, _mm256_loadu_ps(dz + j)));
        _mm256_storeu_ps(y + j, v);
        m = _mm256_min_ps(m, v);
        if (cols) _mm256_storeu_ps(out.col_m_j + j, _mm256_min_ps(_mm256_loadu_ps(out.col_m_j + j), v));
      }
      out.row_m_j[r] = hmin256_ps(m);
    }
  }
  if (cols)
    for (int j = 0; j < tjp; j += 8) {
      _mm256_storeu_ps(out.col_s_t + j, vzero);
      if (joint) _mm256_storeu_ps(out.col_s_j + j, vzero);
      if (in.bd) _mm256_storeu_ps(out.col_bd + j, vzero);
      if (labels) _mm256_storeu_ps(out.col_y + j, vzero);
    }

  for (int r = 0; r < ti; ++r) {
    const float rmt = in.row_min_t[r];
    const float rmj = joint ? out.row_m_j[r] : 0.0f;
    __m256 st = vzero, sj = vzero, sbd = vzero, sy = vzero, skk = vzero;
    if (rmt != inf) {
      const float* dt = in.dt + static_cast<int64_t>(r) * ld;
      const float* y = joint ? in.scratch + static_cast<int64_t>(r) * ld : nullptr;
      const __m256 vrmt = _mm256_set1_ps(rmt), vrmj = _mm256_set1_ps(rmj);
      const __m256i vlab = _mm256_set1_epi32(labels ? in.lab_i[r] : 0);
      for (int j = 0; j < tjp; j += 8) {
        const __m256 d = _mm256_loadu_ps(dt + j);
        const __m256 et = exp256_ps(_mm256_mul_ps(vct, _mm256_sub_ps(vrmt, d)));
        st = _mm256_add_ps(st, et);
        if (in.kk) skk = _mm256_fmadd_ps(et, et, skk);
        __m256 yv = vzero;
        if (joint) {
          yv = _mm256_loadu_ps(y + j);
          sj = _mm256_add_ps(sj, exp256_ps(_mm256_sub_ps(vrmj, yv)));
        }
        __m256 ebd = vzero;
        if (in.bd) {
          ebd = exp256_ps(_mm256_mul_ps(vquarter, d));
          sbd = _mm256_add_ps(sbd, ebd);
        }
        __m256 same = vzero;
        if (labels) {
          same = _mm256_castsi256_ps(
              _mm256_cmpeq_epi32(vlab, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in.lab_j + j))));
          sy = _mm256_add_ps(sy, _mm256_and_ps(same, et));
        }
        if (cols) {
          const __m256 ect = exp256_ps(_mm256_mul_ps(vct, _mm256_sub_ps(_mm256_loadu_ps(in.col_min_t + j), d)));
          _mm256_storeu_ps(out.col_s_t + j, _mm256_add_ps(_mm256_loadu_ps(out.col_s_t + j), ect));
          if (joint) {
            const __m256 ecj = exp256_ps(_mm256_sub_ps(_mm256_loadu_ps(out.col_m_j + j), yv));
            _mm256_storeu_ps(out.col_s_j + j, _mm256_add_ps(_mm256_loadu_ps(out.col_s_j + j), ecj));
          }
          if (in.bd) _mm256_storeu_ps(out.col_bd + j, _mm256_add_ps(_mm256_loadu_ps(out.col_bd + j), ebd));
          if (labels)
            _mm256_storeu_ps(out.col_y + j, _mm256_add_ps(_mm256_loadu_ps(out.col_y + j), _mm256_and_ps(same, ect)));
        }
      }
    }
    out.row_s_t[r] = hsum256_ps(st);
    if (joint) {
      out.row_s_j[r] = hsum256_ps(sj);
      out.row_m_j[r] = -rmj;
    }
    if (in.bd) out.row_bd[r] = hsum256_ps(sbd);
    if (labels) out.row_y[r] = hsum256_ps(sy);
    if (in.kk) out.row_kk[r] = hsum256_ps(skk);
  }
  if (joint && cols)
    for (int j = 0; j < tjp; j += 8)
      _mm256_storeu_ps(out.col_m_j + j, _mm256_sub_ps(vzero, _mm256_loadu_ps(out.col_m_j + j)));
}

}  // namespace mimic::kde::detail
