// Rows with a stride of 2, vectorised (SSE2): the strided layers' gathers and scatter-adds, and the Winograd output
// transform's interleave of even and odd columns.
#pragma once
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mimic::ops {

// Stride-2 rows, for the strided layers (op_conv.cc's im2col / col2im, conv_direct.cc's phase planes):
// o[k] = src[2k] and dst[2k] += r[k], k < n. As plain loops with the stride a run-time value they stayed scalar
// (im2col + col2im were ~7% of a width-8 training step in perf). SSE2 (baseline on x86-64): the vector loops stop
// 5 short of n, so no load or store goes past element 2(n - 1) (a row's last one may end the tensor); add_even also
// adds 0 to the odd elements between, which belong to the same plane.
inline void gather_even(const float* __restrict src, float* __restrict o, int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__)
  for (; k + 5 <= n; k += 4) {
    const __m128 a = _mm_loadu_ps(src + 2 * k), b = _mm_loadu_ps(src + 2 * k + 4);
    _mm_storeu_ps(o + k, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  }
#endif
  for (; k < n; ++k) o[k] = src[2 * k];
}
inline void add_even(float* __restrict dst, const float* __restrict r, int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps();
  for (; k + 5 <= n; k += 4) {
    const __m128 v = _mm_loadu_ps(r + k);
    float* d = dst + 2 * k;
    _mm_storeu_ps(d, _mm_add_ps(_mm_loadu_ps(d), _mm_unpacklo_ps(v, zero)));
    _mm_storeu_ps(d + 4, _mm_add_ps(_mm_loadu_ps(d + 4), _mm_unpackhi_ps(v, zero)));
  }
#endif
  for (; k < n; ++k) dst[2 * k] += r[k];
}

// o[2k] = even[k], o[2k + 1] = odd[k] for 2k + 1 < n (and o[n - 1] = even[(n - 1) / 2] for odd n): the inverse of
// the even / odd split, for the Winograd output transform's 2-column tiles.
inline void interleave2(const float* __restrict even, const float* __restrict odd, float* __restrict o, int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__)
  for (; 2 * k + 8 <= n; k += 4) {
    const __m128 e = _mm_loadu_ps(even + k), d = _mm_loadu_ps(odd + k);
    _mm_storeu_ps(o + 2 * k, _mm_unpacklo_ps(e, d));
    _mm_storeu_ps(o + 2 * k + 4, _mm_unpackhi_ps(e, d));
  }
#endif
  for (; 2 * k + 1 < n; ++k) {
    o[2 * k] = even[k];
    o[2 * k + 1] = odd[k];
  }
  if (n % 2) o[n - 1] = even[(n - 1) / 2];
}

// dst[2k] += even[k], dst[2k + 1] += odd[k] for 2k + 1 < n (and dst[n - 1] += even[(n - 1) / 2] for odd n): the
// stride-2 col2im's three taps of a row (op_conv.cc) added in one pass.
inline void add_interleave2(const float* __restrict even, const float* __restrict odd, float* __restrict dst,
                            int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__)
  for (; 2 * k + 8 <= n; k += 4) {
    const __m128 e = _mm_loadu_ps(even + k), d = _mm_loadu_ps(odd + k);
    const __m128 a = _mm_loadu_ps(dst + 2 * k), b = _mm_loadu_ps(dst + 2 * k + 4);
    _mm_storeu_ps(dst + 2 * k, _mm_add_ps(a, _mm_unpacklo_ps(e, d)));
    _mm_storeu_ps(dst + 2 * k + 4, _mm_add_ps(b, _mm_unpackhi_ps(e, d)));
  }
#endif
  for (; 2 * k + 1 < n; ++k) {
    dst[2 * k] += even[k];
    dst[2 * k + 1] += odd[k];
  }
  if (n % 2) dst[n - 1] += even[(n - 1) / 2];
}

}  // namespace mimic::ops
