// AVX2 + FMA kernels of the direct convolution (conv_direct.h), for CPUs without AVX-512. With 16 ymm registers
// the 8 x 32 tile runs as four 4 x 16 passes over K (8 accumulators each), and the 4 x 4 dot block as two 2 x 4
// halves. Compiled with -mavx2 -mfma (CMakeLists); called only when the AVX2 path resolved.
#if defined(__x86_64__)
#include <immintrin.h>

#include "conv_direct.h"

namespace mimic::ops::direct::detail {

namespace {
// out rows [r0, r0 + 4), columns [j0, j0 + 16) of the tile.
inline void tile_part(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo, int r0,
                      int j0) {
  __m256 c0[4], c1[4];
  for (int r = 0; r < 4; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  const float* a = Ap + r0;
  for (int64_t k = 0; k < K; ++k, a += kMR) {
    const float* b = xb + off[k] + j0;
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    _mm256_storeu_ps(out + (r0 + r) * ldo + j0, c0[r]);
    _mm256_storeu_ps(out + (r0 + r) * ldo + j0 + 8, c1[r]);
  }
}

inline float hsum(__m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  float s = 0;
  for (float x : t) s += x;
  return s;
}

// acc[i * 4 + o] += sum_q xb[off[i] + q] * dy[o * ldy + q] for i < nk (<= 2), o < no (<= 4).
template <int NK, int NO>
void dot_part(int64_t Q, const float* xb, const int32_t* off, const float* dy, int64_t ldy, float* acc) {
  __m256 s[NK][NO];
  const float* xr[NK];
  for (int i = 0; i < NK; ++i) {
    xr[i] = xb + off[i];
    for (int o = 0; o < NO; ++o) s[i][o] = _mm256_setzero_ps();
  }
  for (int64_t q = 0; q < Q; q += 8) {
    __m256 d[NO];
    for (int o = 0; o < NO; ++o) d[o] = _mm256_loadu_ps(dy + o * ldy + q);
    for (int i = 0; i < NK; ++i) {
      const __m256 xv = _mm256_loadu_ps(xr[i] + q);
      for (int o = 0; o < NO; ++o) s[i][o] = _mm256_fmadd_ps(xv, d[o], s[i][o]);
    }
  }
  for (int i = 0; i < NK; ++i)
    for (int o = 0; o < NO; ++o) acc[i * 4 + o] += hsum(s[i][o]);
}

using PartFn = void (*)(int64_t, const float*, const int32_t*, const float*, int64_t, float*);
template <int NK>
constexpr PartFn part_of(int no) {
  return no == 1 ? dot_part<NK, 1> : no == 2 ? dot_part<NK, 2> : no == 3 ? dot_part<NK, 3> : dot_part<NK, 4>;
}
}  // namespace

void tile_avx2(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo) {
  static_assert(kMR == 8 && kNR == 32, "four 4 x 16 passes cover the tile");
  for (int r0 = 0; r0 < kMR; r0 += 4)
    for (int j0 = 0; j0 < kNR; j0 += 16) tile_part(K, Ap, xb, off, out, ldo, r0, j0);
}

void dot_avx2(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
              float* acc) {
  static_assert(kDotQ % 8 == 0, "the dot steps one ymm along q");
  for (int i0 = 0; i0 < nk; i0 += 2) {
    const int n = nk - i0 < 2 ? 1 : 2;
    const PartFn f = n == 1 ? part_of<1>(no) : part_of<2>(no);
    f(Q, xb, off + i0, dy, ldy, acc + i0 * 4);
  }
}

}  // namespace mimic::ops::direct::detail
#endif
