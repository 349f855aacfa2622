// AVX-512 GEMM micro-kernel (MR_AVX512 x 32: two zmm accumulators per row, B loaded as two zmm per k, A
// broadcast from memory) and transposing packers for its panel sizes. This file alone is compiled with
// -mavx512f -mavx512vl (+ bw/dq, avx2, fma); gemm.cc calls into it only after resolve_path() returned Avx512.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "gemm_kernels.h"
#include "transpose8_avx.h"

namespace mimic::gemm_detail {

namespace {

constexpr int kMR = MR_AVX512;
constexpr int kNR = NR_AVX512;
static_assert(kNR == 32, "the AVX-512 kernel is written for 32-column panels");
static_assert(kMR >= 1 && kMR <= 14, "at most 28 zmm accumulators");

// Stores row r of the tile: C[r][0..nr) = alpha * acc + beta * C (beta == 0: C not read).
inline void store_row(float* cr, __m512 x0, __m512 x1, __m512 va, float beta, __mmask16 m0, __mmask16 m1) {
  x0 = _mm512_mul_ps(va, x0);
  x1 = _mm512_mul_ps(va, x1);
  if (beta != 0.0f) {
    const __m512 vb = _mm512_set1_ps(beta);
    x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
    x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
  }
  _mm512_mask_storeu_ps(cr, m0, x0);
  _mm512_mask_storeu_ps(cr + 16, m1, x1);
}

}  // namespace

void micro_kernel_avx512(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C, int64_t ldc,
                         float alpha, float beta, int mr, int nr) {
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();

  // Touch the C tile early so its lines are (being) fetched while the k loop runs.
  for (int r = 0; r < mr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + kNR - 1), _MM_HINT_T0);
  }

  const float* a = Ap;
  const float* b = Bp;

#define MIMIC_STEP(u)                                                \
  {                                                                 \
    const __m512 b0 = _mm512_load_ps(b + (u) * kNR);                \
    const __m512 b1 = _mm512_load_ps(b + (u) * kNR + 16);           \
    _Pragma("GCC unroll 16") for (int r = 0; r < kMR; ++r) {         \
      const __m512 av = _mm512_set1_ps(a[(u) * kMR + r]);           \
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);                       \
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);                       \
    }                                                               \
  }

  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * kMR * 4), _MM_HINT_T0);  // A streams from L2
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * kMR * 4 + 16), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * kMR * 4 + 32), _MM_HINT_T0);
    MIMIC_STEP(0)
    MIMIC_STEP(1)
    MIMIC_STEP(2)
    MIMIC_STEP(3)
    a += 4 * kMR;
    b += 4 * kNR;
  }
  for (; k < kc; ++k) {
    MIMIC_STEP(0)
    a += kMR;
    b += kNR;
  }
#undef MIMIC_STEP

  const __m512 va = _mm512_set1_ps(alpha);
  const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr <= 16 ? __mmask16(0) : __mmask16((1u << (nr - 16)) - 1);
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r)
    if (r < mr) store_row(C + r * ldc, c0[r], c1[r], va, beta, m0, m1);
}

namespace {


// dst[k * P + r] = src[r * ld + k] - off[k] for r < rows, 0 for rows <= r < P. Groups of 8 rows, 8 k at a time,
// through an 8 x 8 register transpose; a group's last (partial) part is written with a masked store, so
// nothing is written past dst + kc * P.
template <int P>
void pack_t(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  constexpr int G = (P + 7) / 8;
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const int r0 = g * 8;
      const int w = P - r0 < 8 ? P - r0 : 8;                    // lanes of this group inside the panel
      const int valid = rows - r0 < 0 ? 0 : rows - r0 < w ? rows - r0 : w;  // lanes holding real rows
      __m256 r[8];
      if (valid == 8) {
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (r0 + i) * ld + k);
      } else {
        for (int i = 0; i < 8; ++i) r[i] = i < valid ? _mm256_loadu_ps(src + (r0 + i) * ld + k) : _mm256_setzero_ps();
      }
      transpose8(r);
      const __mmask8 vm = __mmask8((1u << valid) - 1);
      if (off)
        for (int i = 0; i < 8; ++i) r[i] = _mm256_mask_sub_ps(r[i], vm, r[i], _mm256_broadcast_ss(off + k + i));
      if (w == 8) {
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k + i) * P + r0, r[i]);
      } else {
        const __mmask8 wm = __mmask8((1u << w) - 1);
        for (int i = 0; i < 8; ++i) _mm256_mask_storeu_ps(dst + (k + i) * P + r0, wm, r[i]);
      }
    }
  }
  for (; k < kc; ++k) {
    const float o = off ? off[k] : 0.0f;
    float* d = dst + k * P;
    int r = 0;
    for (; r < rows; ++r) d[r] = src[r * ld + k] - o;
    for (; r < P; ++r) d[r] = 0.0f;
  }
}

}  // namespace

void pack_rows_tmr_avx512(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  pack_t<kMR>(kc, rows, src, ld, off, dst);
}
void pack_rows_t32_avx512(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  pack_t<kNR>(kc, rows, src, ld, off, dst);
}

}  // namespace mimic::gemm_detail
#endif
