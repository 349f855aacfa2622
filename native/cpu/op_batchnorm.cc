// BatchNorm forward/backward (mimic/ops.h), 2-D and 1-D alike:
//   x (N,C,S), gamma (C), beta (C) -> y (N,C,S), save_mean (C), save_invstd (C); running stats (C) updated in Train
//   backward: x, gamma, save_mean, save_invstd, dy (N,C,S) -> dx (N,C,S), dgamma (C), dbeta (C)
// Channels are split over the threads; per-channel sums are float64 (four accumulators, no long latency chain).
// The *_relu_* variants apply / mask a following ReLU in the same passes (the network fuses BN -> ReLU).
#include <algorithm>
#include <cmath>
#include <string>

#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::ops {

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
// (this file is compiled with -ffp-contract=off: no FMA contraction may change it in one place only).
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
}  // namespace

void batchnorm_check(const BatchNormShape& s, BnMode mode) {
  MIMIC_REQUIRE(s.n >= 1 && s.c >= 1 && s.s >= 1, Code::InvalidArgument,
                "batchnorm: N, C and S must be >= 1 (got " + std::to_string(s.n) + ", " + std::to_string(s.c) + ", " +
                    std::to_string(s.s) + ")");
  MIMIC_REQUIRE(std::isfinite(s.eps) && s.eps > 0, Code::InvalidArgument, "batchnorm: eps must be > 0");
  MIMIC_REQUIRE(std::isfinite(s.momentum) && s.momentum >= 0 && s.momentum <= 1, Code::InvalidArgument,
                "batchnorm: momentum must be in [0, 1]");
  MIMIC_REQUIRE(mode != BnMode::Train || s.n * s.s > 1, Code::InvalidArgument,
                "batchnorm: training needs more than one value per channel (N*S = " + std::to_string(s.n * s.s) + ")");
}

namespace {
template <bool Relu>
void forward_impl(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                  float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd,
                  const Ctx& ctx) {
  batchnorm_check(s, mode);
  MIMIC_REQUIRE(mode == BnMode::Train || (running_mean && running_var), Code::InvalidArgument,
                "batchnorm: eval and frozen modes need the running statistics");
  const double M = static_cast<double>(s.n * s.s);
  parallel_for(s.c, ctx.threads, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean, invstd;
      if (mode == BnMode::Train) {
        double sum = 0;
        for (int64_t n = 0; n < s.n; ++n) sum += sum_of(x + (n * s.c + c) * s.s, s.s);
        mean = sum / M;
        double sq = 0;
        for (int64_t n = 0; n < s.n; ++n) sq += sq_dev(x + (n * s.c + c) * s.s, s.s, mean);
        invstd = 1.0 / std::sqrt(sq / M + s.eps);
        if (running_mean)
          running_mean[c] = static_cast<float>((1 - s.momentum) * running_mean[c] + s.momentum * mean);
        if (running_var)
          running_var[c] = static_cast<float>((1 - s.momentum) * running_var[c] + s.momentum * (sq / (M - 1)));
      } else {
        mean = running_mean[c];
        invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + s.eps);
      }
      const float mf = static_cast<float>(mean), inv = static_cast<float>(invstd);
      if (save_mean) save_mean[c] = mf;
      if (save_invstd) save_invstd[c] = inv;
      const Affine a = affine_of(mf, inv, gamma, beta, c);
      for (int64_t n = 0; n < s.n; ++n) {
        const float* xr = x + (n * s.c + c) * s.s;
        float* yr = y + (n * s.c + c) * s.s;
        for (int64_t i = 0; i < s.s; ++i) {
          const float v = bn_apply(xr[i], a.mean, a.scale, a.shift);
          yr[i] = Relu ? relu(v) : v;
        }
      }
    }
  });
}

// dy is the gradient of the BN output, or with Relu of the ReLU after it: g = dy where the forward's
// bn_apply(x) > 0 (recomputed, the same float value), else 0.
template <bool Relu>
void backward_impl(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                   const float* save_mean, const float* save_invstd, const float* dy, float* dx, float* dgamma,
                   float* dbeta, const Ctx& ctx) {
  batchnorm_check(s, mode);
  const double M = static_cast<double>(s.n * s.s);
  const bool need_sums = mode == BnMode::Train || (mode == BnMode::Eval && (dgamma || dbeta));
  parallel_for(s.c, ctx.threads, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = save_mean[c], invstd = save_invstd[c], g = gamma ? gamma[c] : 1.0;
      const Affine af = affine_of(save_mean[c], save_invstd[c], gamma, beta, c);
      const float mf = static_cast<float>(mean);
      double sdy = 0, sdyx = 0;  // sum g, sum g * xhat
      if (need_sums) {
        for (int64_t n = 0; n < s.n; ++n) {
          const int64_t o = (n * s.c + c) * s.s;
          const float* dr = dy + o;
          const float* xr = x + o;
          blocked_sum2(
              s.s,
              [dr, xr, mf, af](int64_t i, float& a0, float& a1) {
                const float xv = xr[i];
                float gv = dr[i];
                if (Relu) gv = bn_apply(xv, af.mean, af.scale, af.shift) > 0.0f ? gv : 0.0f;
                a0 += gv;
                a1 += gv * (xv - mf);
              },
              &sdy, &sdyx);
        }
        sdyx *= invstd;
      }
      if (dgamma) dgamma[c] = mode == BnMode::Frozen ? 0.0f : static_cast<float>(sdyx);
      if (dbeta) dbeta[c] = mode == BnMode::Frozen ? 0.0f : static_cast<float>(sdy);
      if (!dx) continue;
      // Train: dx = g*invstd * (dy - sdy/M - xhat * sdyx/M) = a*dy + b*(x - mean) + k;  Eval / Frozen: a*dy
      const bool train = mode == BnMode::Train;
      const double a = g * invstd, b = train ? -a * invstd * sdyx / M : 0.0, k = train ? -a * sdy / M : 0.0;
      const float a_f = static_cast<float>(a), b_f = static_cast<float>(b), k_f = static_cast<float>(k);
      for (int64_t n = 0; n < s.n; ++n) {
        const int64_t o = (n * s.c + c) * s.s;
        const float* dr = dy + o;
        const float* xr = x + o;
        float* out = dx + o;
        // (plain loops over local copies: a by-reference lambda here kept GCC from vectorising, see op_eltwise.cc)
        const float am = af.mean, as = af.scale, ash = af.shift;
        const int64_t S = s.s;
        if (train) {
          for (int64_t i = 0; i < S; ++i) {
            const float xv = xr[i], d = dr[i];  // both loaded unconditionally: a conditional load stays scalar
            const float gv = Relu ? (bn_apply(xv, am, as, ash) > 0.0f ? d : 0.0f) : d;
            out[i] = a_f * gv + b_f * (xv - mf) + k_f;
          }
        } else {
          for (int64_t i = 0; i < S; ++i) {
            const float xv = xr[i], d = dr[i];
            const float gv = Relu ? (bn_apply(xv, am, as, ash) > 0.0f ? d : 0.0f) : d;
            out[i] = a_f * gv;
          }
        }
      }
    }
  });
}
}  // namespace

void batchnorm_forward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                       float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd,
                       const Ctx& ctx) {
  forward_impl<false>(s, mode, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, ctx);
}
void batchnorm_relu_forward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                            const float* beta, float* running_mean, float* running_var, float* y, float* save_mean,
                            float* save_invstd, const Ctx& ctx) {
  forward_impl<true>(s, mode, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, ctx);
}
void batchnorm_backward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* dy, float* dx, float* dgamma,
                        float* dbeta, const Ctx& ctx) {
  backward_impl<false>(s, mode, x, gamma, nullptr, save_mean, save_invstd, dy, dx, dgamma, dbeta, ctx);
}
void batchnorm_relu_backward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd, const float* dy,
                             float* dx, float* dgamma, float* dbeta, const Ctx& ctx) {
  backward_impl<true>(s, mode, x, gamma, beta, save_mean, save_invstd, dy, dx, dgamma, dbeta, ctx);
}

}  // namespace mimic::ops
