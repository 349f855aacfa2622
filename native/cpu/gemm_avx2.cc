// AVX2 + FMA GEMM micro-kernel (6 x 16, twelve ymm accumulators) and transposing packers. This file alone is
// compiled with -mavx2 -mfma; gemm.cc calls into it only after resolve_path() said the CPU has both.
#include <immintrin.h>

#include "gemm_kernels.h"
#include "transpose8_avx.h"

namespace mimic::gemm_detail {

static_assert(MR == 6 && NR == 16, "the AVX2 kernel is written for a 6 x 16 tile");

void micro_kernel_avx2(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C, int64_t ldc,
                       float alpha, float beta, int mr, int nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

  // Touch the C tile early so its lines are (being) fetched while the k loop runs.
  for (int r = 0; r < mr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + NR - 1), _MM_HINT_T0);
  }

  const float* a = Ap;
  const float* b = Bp;

#define MIMIC_STEP(u)                                                   \
  {                                                                    \
    const __m256 b0 = _mm256_load_ps(b + (u) * NR);                    \
    const __m256 b1 = _mm256_load_ps(b + (u) * NR + 8);                \
    __m256 av = _mm256_broadcast_ss(a + (u) * MR + 0);                 \
    c00 = _mm256_fmadd_ps(av, b0, c00);                                \
    c01 = _mm256_fmadd_ps(av, b1, c01);                                \
    av = _mm256_broadcast_ss(a + (u) * MR + 1);                        \
    c10 = _mm256_fmadd_ps(av, b0, c10);                                \
    c11 = _mm256_fmadd_ps(av, b1, c11);                                \
    av = _mm256_broadcast_ss(a + (u) * MR + 2);                        \
    c20 = _mm256_fmadd_ps(av, b0, c20);                                \
    c21 = _mm256_fmadd_ps(av, b1, c21);                                \
    av = _mm256_broadcast_ss(a + (u) * MR + 3);                        \
    c30 = _mm256_fmadd_ps(av, b0, c30);                                \
    c31 = _mm256_fmadd_ps(av, b1, c31);                                \
    av = _mm256_broadcast_ss(a + (u) * MR + 4);                        \
    c40 = _mm256_fmadd_ps(av, b0, c40);                                \
    c41 = _mm256_fmadd_ps(av, b1, c41);                                \
    av = _mm256_broadcast_ss(a + (u) * MR + 5);                        \
    c50 = _mm256_fmadd_ps(av, b0, c50);                                \
    c51 = _mm256_fmadd_ps(av, b1, c51);                                \
  }

  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR * 4), _MM_HINT_T0);  // A streams from L2
    MIMIC_STEP(0)
    MIMIC_STEP(1)
    MIMIC_STEP(2)
    MIMIC_STEP(3)
    a += 4 * MR;
    b += 4 * NR;
  }
  for (; k < kc; ++k) {
    MIMIC_STEP(0)
    a += MR;
    b += NR;
  }
#undef MIMIC_STEP

  const __m256 va = _mm256_set1_ps(alpha);
  if (mr == MR && nr == NR) {
#define MIMIC_STORE(r, x0, x1)                                                          \
  {                                                                                     \
    float* cr = C + (r) * ldc;                                                          \
    if (beta == 0.0f) {                                                                 \
      _mm256_storeu_ps(cr, _mm256_mul_ps(va, x0));                                      \
      _mm256_storeu_ps(cr + 8, _mm256_mul_ps(va, x1));                                  \
    } else {                                                                            \
      const __m256 vb = _mm256_set1_ps(beta);                                           \
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), _mm256_mul_ps(va, x0)));     \
      _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), _mm256_mul_ps(va, x1))); \
    }                                                                                   \
  }
    MIMIC_STORE(0, c00, c01)
    MIMIC_STORE(1, c10, c11)
    MIMIC_STORE(2, c20, c21)
    MIMIC_STORE(3, c30, c31)
    MIMIC_STORE(4, c40, c41)
    MIMIC_STORE(5, c50, c51)
#undef MIMIC_STORE
    return;
  }
  // Edge tile: spill the accumulators, then merge the valid part.
  alignas(32) float t[MR][NR];
  _mm256_store_ps(t[0], _mm256_mul_ps(va, c00)); _mm256_store_ps(t[0] + 8, _mm256_mul_ps(va, c01));
  _mm256_store_ps(t[1], _mm256_mul_ps(va, c10)); _mm256_store_ps(t[1] + 8, _mm256_mul_ps(va, c11));
  _mm256_store_ps(t[2], _mm256_mul_ps(va, c20)); _mm256_store_ps(t[2] + 8, _mm256_mul_ps(va, c21));
  _mm256_store_ps(t[3], _mm256_mul_ps(va, c30)); _mm256_store_ps(t[3] + 8, _mm256_mul_ps(va, c31));
  _mm256_store_ps(t[4], _mm256_mul_ps(va, c40)); _mm256_store_ps(t[4] + 8, _mm256_mul_ps(va, c41));
  _mm256_store_ps(t[5], _mm256_mul_ps(va, c50)); _mm256_store_ps(t[5] + 8, _mm256_mul_ps(va, c51));
  for (int r = 0; r < mr; ++r) {
    float* cr = C + r * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < nr; ++j) cr[j] = t[r][j];
    else
      for (int j = 0; j < nr; ++j) cr[j] = t[r][j] + beta * cr[j];
  }
}

void pack_rows_t6_avx2(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  if (rows != MR) return pack_rows_t6_generic(kc, rows, src, ld, off, dst);
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
    for (int i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(src + i * ld + k);
    r[6] = r[7] = _mm256_setzero_ps();
    transpose8(r);
    // Overlapping 8-wide stores, 6 floats apart: lanes 6 and 7 are overwritten by the next column (the last
    // one spills into the caller's slack or is overwritten by the tail loop).
    if (off) {
      for (int i = 0; i < 8; ++i)
        _mm256_storeu_ps(dst + (k + i) * MR, _mm256_sub_ps(r[i], _mm256_broadcast_ss(off + k + i)));
    } else {
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k + i) * MR, r[i]);
    }
  }
  for (; k < kc; ++k)
    for (int i = 0; i < MR; ++i) dst[k * MR + i] = src[i * ld + k] - (off ? off[k] : 0.0f);
}

void pack_rows_t16_avx2(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  if (rows != NR) return pack_rows_t16_generic(kc, rows, src, ld, off, dst);
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 lo[8], hi[8];
    for (int i = 0; i < 8; ++i) lo[i] = _mm256_loadu_ps(src + i * ld + k);
    for (int i = 0; i < 8; ++i) hi[i] = _mm256_loadu_ps(src + (i + 8) * ld + k);
    transpose8(lo);
    transpose8(hi);
    if (off) {
      for (int i = 0; i < 8; ++i) {
        const __m256 o = _mm256_broadcast_ss(off + k + i);
        lo[i] = _mm256_sub_ps(lo[i], o);
        hi[i] = _mm256_sub_ps(hi[i], o);
      }
    }
    for (int i = 0; i < 8; ++i) {
      _mm256_store_ps(dst + (k + i) * NR, lo[i]);
      _mm256_store_ps(dst + (k + i) * NR + 8, hi[i]);
    }
  }
  for (; k < kc; ++k)
    for (int i = 0; i < NR; ++i) dst[k * NR + i] = src[i * ld + k] - (off ? off[k] : 0.0f);
}

}  // namespace mimic::gemm_detail
