// AVX-512 kernels of the direct convolution (conv_direct.h): the 8 x 32 implicit-GEMM tile and the 4 x 4 dot-product
// block of the weight gradient. Compiled with -mavx512f (CMakeLists); called only when the AVX-512 path resolved.
#if defined(__x86_64__)
#include <immintrin.h>

#include "conv_direct.h"

namespace mimic::ops::direct::detail {

static_assert(kMR == 8 && kNR == 32, "the tile is written for 8 rows of two zmm");
static_assert(kDotQ == 16, "the dot kernel steps one zmm along q");

void tile_avx512(int64_t K, const float* __restrict Ap, const float* xb, const int32_t* __restrict off,
                 float* __restrict out, int64_t ldo) {
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  const float* a = Ap;
  for (int64_t k = 0; k < K; ++k, a += kMR) {
    const float* b = xb + off[k];
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) {
    _mm512_storeu_ps(out + r * ldo, c0[r]);
    _mm512_storeu_ps(out + r * ldo + 16, c1[r]);
  }
}

namespace {
// Horizontal sum, once per block and image (GCC 12's reduce / extract / shuffle intrinsics trip -Wuninitialized in
// its own header, through their undefined pass-through operand).
inline float hsum(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0;
  for (float x : t) s += x;
  return s;
}

template <int NK, int NO>
void dot_block(int64_t Q, const float* xb, const int32_t* off, const float* dy, int64_t ldy, float* acc) {
  __m512 s[NK][NO];
  const float* xr[NK];
  for (int i = 0; i < NK; ++i) {
    xr[i] = xb + off[i];
    for (int o = 0; o < NO; ++o) s[i][o] = _mm512_setzero_ps();
  }
  for (int64_t q = 0; q < Q; q += kDotQ) {
    __m512 d[NO];
    for (int o = 0; o < NO; ++o) d[o] = _mm512_loadu_ps(dy + o * ldy + q);
    for (int i = 0; i < NK; ++i) {
      const __m512 xv = _mm512_loadu_ps(xr[i] + q);
      for (int o = 0; o < NO; ++o) s[i][o] = _mm512_fmadd_ps(xv, d[o], s[i][o]);
    }
  }
  for (int i = 0; i < NK; ++i)
    for (int o = 0; o < NO; ++o) acc[i * 4 + o] += hsum(s[i][o]);
}

using BlockFn = void (*)(int64_t, const float*, const int32_t*, const float*, int64_t, float*);
template <int NK>
constexpr BlockFn row_of(int no) {
  return no == 1 ? dot_block<NK, 1> : no == 2 ? dot_block<NK, 2> : no == 3 ? dot_block<NK, 3> : dot_block<NK, 4>;
}
}  // namespace

void dot_avx512(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
                float* acc) {
  const BlockFn f = nk == 1 ? row_of<1>(no) : nk == 2 ? row_of<2>(no) : nk == 3 ? row_of<3>(no) : row_of<4>(no);
  f(Q, xb, off, dy, ldy, acc);
}

}  // namespace mimic::ops::direct::detail
#endif
