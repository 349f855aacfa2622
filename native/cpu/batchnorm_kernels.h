// BatchNorm's per-element maps, per-channel reductions and the forward's per-channel body (op_batchnorm.cc), shared
// by the baseline build and op_batchnorm_avx512.cc. Everything here has internal linkage (an anonymous namespace):
// each file gets its own copy compiled with its own flags, so the linker can never hand the baseline file an
// AVX-512 instantiation. Both files are compiled with -ffp-contract=off: bn_apply rounds the same way in each (the
// fused BN + ReLU backward recomputes the forward's value for its mask), and the sums' lane order is fixed by the
// source, so the two builds give the same bits.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "mimic/ops.h"

namespace mimic::ops::bn {

// The forward's arguments (mimic/ops.h, batchnorm_forward).
struct ForwardArgs {
  BatchNormShape s;
  BnMode mode;
  const float *x, *gamma, *beta;
  float *running_mean, *running_var, *y, *save_mean, *save_invstd;
};

// Channels [c0, c1) of the forward, on the AVX-512 build (called only when that path resolved).
void forward_channels_avx512(bool relu, const ForwardArgs& a, int64_t c0, int64_t c1);

namespace {
// Per-channel reductions: 16 float lanes (the compiler vectorises the fixed-width inner loop) over blocks of 1024
// elements, each block folded into a float64 total; as accurate as a float64 loop for BN's purposes and several
// times faster than converting every element to double.
constexpr int kLanes = 16;
constexpr int64_t kBlock = 1024;

template <class F>
inline double blocked_sum(int64_t n, F term) {
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    float acc[kLanes] = {};
    int64_t i = b0;
    for (; i + kLanes <= b1; i += kLanes)
      for (int u = 0; u < kLanes; ++u) acc[u] += term(i + u);
    for (; i < b1; ++i) acc[0] += term(i);
    double part = 0;
    for (float a : acc) part += a;
    total += part;
  }
  return total;
}
// Two sums in one pass over the data (the backward's sum dy and sum dy * (x - mean)).
template <class F>
inline void blocked_sum2(int64_t n, F terms, double* t0, double* t1) {
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    float a0[kLanes] = {}, a1[kLanes] = {};
    int64_t i = b0;
    for (; i + kLanes <= b1; i += kLanes)
      for (int u = 0; u < kLanes; ++u) terms(i + u, a0[u], a1[u]);
    for (; i < b1; ++i) terms(i, a0[0], a1[0]);
    double p0 = 0, p1 = 0;
    for (int u = 0; u < kLanes; ++u) {
      p0 += a0[u];
      p1 += a1[u];
    }
    *t0 += p0;
    *t1 += p1;
  }
}
inline double sum_of(const float* x, int64_t n) {
  return blocked_sum(n, [x](int64_t i) { return x[i]; });
}
inline double sq_dev(const float* x, int64_t n, double mean) {
  const float m = static_cast<float>(mean);
  return blocked_sum(n, [x, m](int64_t i) {
    const float d = x[i] - m;
    return d * d;
  });
}

// The forward's per-element map, shared with the fused backward's ReLU mask so both see the same float value
// (every file that includes this is compiled with -ffp-contract=off: no FMA contraction may change it in one
// place only).
inline float bn_apply(float x, float mean, float scale, float shift) { return (x - mean) * scale + shift; }
inline float relu(float v) { return v <= 0.0f ? 0.0f : v; }  // NaN propagates, as relu_forward

// Per-channel affine of the forward, from the saved (float) statistics, in forward and backward alike.
struct Affine {
  float mean, scale, shift;
};
inline Affine affine_of(float save_mean, float save_invstd, const float* gamma, const float* beta, int64_t c) {
  const double g = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
  return {save_mean, static_cast<float>(g * save_invstd), static_cast<float>(bt)};
}

// Channels [c0, c1) of the forward: the batch statistics (Train; two passes, the mean then the squared deviations)
// or the running ones, the saved statistics, and y = the affine map (then the ReLU).
template <bool Relu>
void forward_channels(const ForwardArgs& a, int64_t c0, int64_t c1) {
  const BatchNormShape& s = a.s;
  const double M = static_cast<double>(s.n * s.s);
  for (int64_t c = c0; c < c1; ++c) {
    double mean, invstd;
    if (a.mode == BnMode::Train) {
      double sum = 0;
      for (int64_t n = 0; n < s.n; ++n) sum += sum_of(a.x + (n * s.c + c) * s.s, s.s);
      mean = sum / M;
      double sq = 0;
      for (int64_t n = 0; n < s.n; ++n) sq += sq_dev(a.x + (n * s.c + c) * s.s, s.s, mean);
      invstd = 1.0 / std::sqrt(sq / M + s.eps);
      if (a.running_mean)
        a.running_mean[c] = static_cast<float>((1 - s.momentum) * a.running_mean[c] + s.momentum * mean);
      if (a.running_var)
        a.running_var[c] = static_cast<float>((1 - s.momentum) * a.running_var[c] + s.momentum * (sq / (M - 1)));
    } else {
      mean = a.running_mean[c];
      invstd = 1.0 / std::sqrt(static_cast<double>(a.running_var[c]) + s.eps);
    }
    const float mf = static_cast<float>(mean), inv = static_cast<float>(invstd);
    if (a.save_mean) a.save_mean[c] = mf;
    if (a.save_invstd) a.save_invstd[c] = inv;
    const Affine af = affine_of(mf, inv, a.gamma, a.beta, c);
    for (int64_t n = 0; n < s.n; ++n) {
      const float* xr = a.x + (n * s.c + c) * s.s;
      float* yr = a.y + (n * s.c + c) * s.s;
      for (int64_t i = 0; i < s.s; ++i) {
        const float v = bn_apply(xr[i], af.mean, af.scale, af.shift);
        yr[i] = Relu ? relu(v) : v;
      }
    }
  }
}
}  // namespace

}  // namespace mimic::ops::bn
