// AVX-512 kernels of the direct convolution (conv_direct.h): the 8 x 32 implicit-GEMM tile (whole, or as two
// 16-column halves stored where the forward says), and the weight gradient's dot products (conv_direct_simd.h) in
// 4 x 4 blocks. Compiled with -mavx512f (CMakeLists); called only when the AVX-512 path resolved.
#if defined(__x86_64__)
// GCC 12 reports the undefined pass-through operand of its own unpack / shuffle intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "conv_direct_simd.h"

namespace mimic::ops::direct::detail {

static_assert(kMR == 8 && kNR == 32, "the tile is written for 8 rows of two zmm");

namespace {
// The 8 x 32 tile: the second 16 columns read `delta` after the first; rows < `rows` stored to out0 / out1.
template <bool Accumulate>
__attribute__((always_inline)) inline void tile_core(int64_t K, const float* __restrict Ap, const float* xb,
                                                     int64_t delta, const int32_t* __restrict off, float* out0,
                                                     float* out1, int64_t ldo, int rows) {
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  const float* a = Ap;
  for (int64_t k = 0; k < K; ++k, a += kMR) {
    const float* b = xb + off[k];
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + delta);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) {
    if (r >= rows) break;
    if (Accumulate) {
      c0[r] = _mm512_add_ps(_mm512_loadu_ps(out0 + r * ldo), c0[r]);
      c1[r] = _mm512_add_ps(_mm512_loadu_ps(out1 + r * ldo), c1[r]);
    }
    _mm512_storeu_ps(out0 + r * ldo, c0[r]);
    _mm512_storeu_ps(out1 + r * ldo, c1[r]);
  }
}
}  // namespace

void tile_avx512(int64_t K, const float* __restrict Ap, const float* xb, const int32_t* __restrict off,
                 float* __restrict out, int64_t ldo) {
  tile_core<false>(K, Ap, xb, 16, off, out, out + 16, ldo, kMR);
}

void tile_rows_avx512(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off, float* out0,
                      float* out1, int64_t ldo, int rows, bool accumulate) {
  if (accumulate)
    tile_core<true>(K, Ap, xb, delta, off, out0, out1, ldo, rows);
  else
    tile_core<false>(K, Ap, xb, delta, off, out0, out1, ldo, rows);
}

namespace {
struct Avx512 {
  using vec = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kTaps = 4;  // 4 x 4 accumulators + 4 dy vectors + 1 x vector of 32 registers
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  // acc[j] += the sum of s[j]'s lanes, j < 16: accumulators interleaved in pairs and added, halving the lanes each
  // holds until every 128-bit lane has four whole-lane sums, then the lanes folded across registers (45
  // instructions; a store and a scalar loop per accumulator took ~4x as long).
  static void add_sums(const vec* s, float* acc) {
    vec a[8], b[4], c[2];
    for (int p = 0; p < 8; ++p)  // per 128-bit lane: [s0 0+2, s1 0+2, s0 1+3, s1 1+3] of s0, s1 = s[2p], s[2p + 1]
      a[p] = _mm512_add_ps(_mm512_unpacklo_ps(s[2 * p], s[2 * p + 1]), _mm512_unpackhi_ps(s[2 * p], s[2 * p + 1]));
    for (int r = 0; r < 4; ++r) {  // per 128-bit lane: that lane's sums of s[4r .. 4r + 3]
      const __m512d x = _mm512_castps_pd(a[2 * r]), y = _mm512_castps_pd(a[2 * r + 1]);
      b[r] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int t = 0; t < 2; ++t)  // lanes 0 + 1 and 2 + 3 of b[2t], then of b[2t + 1]
      c[t] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * t], b[2 * t + 1], 0x88), _mm512_shuffle_f32x4(b[2 * t], b[2 * t + 1], 0xDD));
    const vec d = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
    _mm512_storeu_ps(acc, _mm512_add_ps(_mm512_loadu_ps(acc), d));
  }
};
}  // namespace

void dot_avx512(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
                float* acc) {
  dot_simd<Avx512>(Q, xb, off, nk, dy, ldy, no, acc);
}

}  // namespace mimic::ops::direct::detail
#endif
