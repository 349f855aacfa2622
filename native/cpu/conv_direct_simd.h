// The direct convolution's weight-gradient dot products (contract: DotFn in conv_direct.h) written once over a SIMD
// width. V supplies the vector type, its operations, kTaps (taps per register block: 4 with 32 registers, 2
// with 16) and add_sums (acc[j] += the lane sum of s[j] for the kTaps x 4 accumulators of a full block); conv_direct_avx2.cc (8 lanes) and conv_direct_avx512.cc (16 lanes) instantiate it with their own
// compiler flags.
#pragma once
#include <cstdint>

#include "conv_direct.h"

namespace mimic::ops::direct::detail {

// acc[i * 4 + o] += sum_q xb[off[i] + q] * dy[o * ldy + q] for i < NK, o < NO: NK x NO accumulators along q.
template <class V, int NK, int NO>
void dot_block(int64_t Q, const float* xb, const int32_t* off, const float* dy, int64_t ldy, float* acc) {
  typename V::vec s[NK][NO];
  const float* xr[NK];
  for (int i = 0; i < NK; ++i) {
    xr[i] = xb + off[i];
    for (int o = 0; o < NO; ++o) s[i][o] = V::zero();
  }
  for (int64_t q = 0; q < Q; q += V::kLanes) {
    typename V::vec d[NO];
    for (int o = 0; o < NO; ++o) d[o] = V::load(dy + o * ldy + q);
    for (int i = 0; i < NK; ++i) {
      const typename V::vec xv = V::load(xr[i] + q);
      for (int o = 0; o < NO; ++o) s[i][o] = V::fmadd(xv, d[o], s[i][o]);
    }
  }
  if constexpr (NK == V::kTaps && NO == 4) {  // a full block: its sums as vectors (a transpose-add tree)
    V::add_sums(&s[0][0], acc);
    return;
  }
  for (int i = 0; i < NK; ++i)
    for (int o = 0; o < NO; ++o) {
      alignas(64) float t[V::kLanes];  // horizontal sum, once per block (GCC 12's reduce intrinsics warn)
      V::store(t, s[i][o]);
      float sum = 0;
      for (float v : t) sum += v;
      acc[i * 4 + o] += sum;
    }
}

template <class V, int NK>
void dot_rows(int64_t Q, const float* xb, const int32_t* off, int no, const float* dy, int64_t ldy, float* acc) {
  switch (no) {
    case 1: return dot_block<V, NK, 1>(Q, xb, off, dy, ldy, acc);
    case 2: return dot_block<V, NK, 2>(Q, xb, off, dy, ldy, acc);
    case 3: return dot_block<V, NK, 3>(Q, xb, off, dy, ldy, acc);
    default: return dot_block<V, NK, 4>(Q, xb, off, dy, ldy, acc);
  }
}

// The DotFn: nk taps (<= 4) in register blocks of V::kTaps.
template <class V>
void dot_simd(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no, float* acc) {
  static_assert(kDotQ % V::kLanes == 0, "Q is a multiple of kDotQ");
  for (int i0 = 0; i0 < nk; i0 += V::kTaps) {
    const int n = nk - i0 < V::kTaps ? nk - i0 : V::kTaps;
    switch (n) {
      case 1: dot_rows<V, 1>(Q, xb, off + i0, no, dy, ldy, acc + i0 * 4); break;
      case 2: dot_rows<V, 2>(Q, xb, off + i0, no, dy, ldy, acc + i0 * 4); break;
      case 3: if constexpr (V::kTaps >= 3) dot_rows<V, 3>(Q, xb, off + i0, no, dy, ldy, acc + i0 * 4); break;
      default: if constexpr (V::kTaps >= 4) dot_rows<V, 4>(Q, xb, off + i0, no, dy, ldy, acc + i0 * 4); break;
    }
  }
}

}  // namespace mimic::ops::direct::detail
