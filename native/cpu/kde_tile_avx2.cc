// AVX2/FMA instantiation of the KDE tile epilogue (kde_tile_simd.h): 8 lanes.
#include <immintrin.h>

#include "kde_tile_simd.h"
#include "vec_exp_avx2.h"

namespace mimic::kde::detail {

namespace {
struct Avx2 {
  using vec = __m256;
  using mask = __m256;  // all-ones lanes where labels match
  static constexpr int kLanes = 8;
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec zero() { return _mm256_setzero_ps(); }
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
  static vec min(vec a, vec b) { return _mm256_min_ps(a, b); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec exp(vec x) { return exp256_ps(x); }
  static float reduce_add(vec v) { return hsum256_ps(v); }
  static float reduce_min(vec v) { return hmin256_ps(v); }
  static mask labels_equal(const int32_t* p, int32_t label) {
    return _mm256_castsi256_ps(
        _mm256_cmpeq_epi32(_mm256_set1_epi32(label), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
  }
  static vec masked_add(vec acc, mask m, vec x) { return _mm256_add_ps(acc, _mm256_and_ps(m, x)); }
};
}  // namespace

void tile_avx2(const TileIn& in, const TileOut& out) { tile_simd<Avx2>(in, out); }

}  // namespace mimic::kde::detail
