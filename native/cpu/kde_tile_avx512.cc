// AVX-512 instantiation of the KDE tile epilogue (kde_tile_simd.h): 16 lanes, label matches in mask registers.
#include <immintrin.h>

#include "kde_tile_simd.h"
#include "vec_exp_avx512.h"

namespace mimic::kde::detail {

namespace {
struct Avx512 {
  using vec = __m512;
  using mask = __mmask16;
  static constexpr int kLanes = 16;
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec set1(float x) { return _mm512_set1_ps(x); }
  static vec zero() { return _mm512_setzero_ps(); }
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
  static vec min(vec a, vec b) { return _mm512_min_ps(a, b); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec exp(vec x) { return exp512_ps(x); }
  static float reduce_add(vec v) { return _mm512_reduce_add_ps(v); }
  static float reduce_min(vec v) { return _mm512_reduce_min_ps(v); }
  static mask labels_equal(const int32_t* p, int32_t label) {
    return _mm512_cmpeq_epi32_mask(_mm512_set1_epi32(label), _mm512_loadu_si512(p));
  }
  static vec masked_add(vec acc, mask m, vec x) { return _mm512_mask_add_ps(acc, m, acc, x); }
};
}  // namespace

void tile_avx512(const TileIn& in, const TileOut& out) { tile_simd<Avx512>(in, out); }

}  // namespace mimic::kde::detail
