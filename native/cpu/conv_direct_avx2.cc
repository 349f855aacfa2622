// AVX2 + FMA kernels of the direct convolution (conv_direct.h), for CPUs without AVX-512. With 16 ymm registers
// the 8 x 32 tile (whole, or as two 16-column halves stored where the forward says) runs as four 4 x 16 passes over
// K (8 accumulators each), and the dot products (conv_direct_simd.h) in 2 x 4 blocks. Compiled with -mavx2 -mfma
// (CMakeLists); called only when the AVX2 path resolved.
#if defined(__x86_64__)
#include <immintrin.h>

#include "conv_direct_simd.h"

namespace mimic::ops::direct::detail {

namespace {
// Rows [r0, min(r0 + 4, rows)) of 16 columns read at xb, stored at out (row stride ldo), or added to it.
inline void tile_part(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo, int r0,
                      int rows, bool accumulate = false) {
  __m256 c0[4], c1[4];
  for (int r = 0; r < 4; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  const float* a = Ap + r0;
  for (int64_t k = 0; k < K; ++k, a += kMR) {
    const float* b = xb + off[k];
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
  for (int r = 0; r < 4 && r0 + r < rows; ++r) {
    float* o = out + (r0 + r) * ldo;
    if (accumulate) {
      c0[r] = _mm256_add_ps(_mm256_loadu_ps(o), c0[r]);
      c1[r] = _mm256_add_ps(_mm256_loadu_ps(o + 8), c1[r]);
    }
    _mm256_storeu_ps(o, c0[r]);
    _mm256_storeu_ps(o + 8, c1[r]);
  }
}

struct Avx2 {
  using vec = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kTaps = 2;  // 2 x 4 accumulators + 4 dy vectors + 1 x vector of 16 registers
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  // acc[j] += the sum of s[j]'s lanes, j < 8: two rounds of horizontal adds leave each 128-bit lane with four
  // accumulators' lane sums; the two lanes are then added.
  static void add_sums(const vec* s, float* acc) {
    const vec h0 = _mm256_hadd_ps(s[0], s[1]), h1 = _mm256_hadd_ps(s[2], s[3]);
    const vec h2 = _mm256_hadd_ps(s[4], s[5]), h3 = _mm256_hadd_ps(s[6], s[7]);
    const vec g0 = _mm256_hadd_ps(h0, h1), g1 = _mm256_hadd_ps(h2, h3);  // lane L: s[0..3] (g0), s[4..7] (g1)
    const vec d = _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
    _mm256_storeu_ps(acc, _mm256_add_ps(_mm256_loadu_ps(acc), d));
  }
};
}  // namespace

void tile_avx2(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo) {
  static_assert(kMR == 8 && kNR == 32, "four 4 x 16 passes cover the tile");
  for (int r0 = 0; r0 < kMR; r0 += 4)
    for (int j0 = 0; j0 < kNR; j0 += 16) tile_part(K, Ap, xb + j0, off, out + j0, ldo, r0, kMR);
}

void tile_rows_avx2(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off, float* out0,
                    float* out1, int64_t ldo, int rows, bool accumulate) {
  for (int r0 = 0; r0 < rows; r0 += 4) {
    tile_part(K, Ap, xb, off, out0, ldo, r0, rows, accumulate);
    tile_part(K, Ap, xb + delta, off, out1, ldo, r0, rows, accumulate);
  }
}

void dot_avx2(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
              float* acc) {
  dot_simd<Avx2>(Q, xb, off, nk, dy, ldy, no, acc);
}

}  // namespace mimic::ops::direct::detail
#endif
