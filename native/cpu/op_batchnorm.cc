// BatchNorm forward/backward (mimic/ops.h), 2-D and 1-D alike:
//   x (N,C,S), gamma (C), beta (C) -> y (N,C,S), save_mean (C), save_invstd (C); running stats (C) updated in Train
//   backward: x, gamma, save_mean, save_invstd, dy (N,C,S) -> dx (N,C,S), dgamma (C), dbeta (C)
// Channels are split over the threads; per-channel sums are float64 (four accumulators, no long latency chain).
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
inline double dot_dev(const float* dy, const float* x, int64_t n, double mean) {
  const float m = static_cast<float>(mean);
  return blocked_sum(n, [dy, x, m](int64_t i) { return dy[i] * (x[i] - m); });
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

void batchnorm_forward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
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
      if (save_mean) save_mean[c] = static_cast<float>(mean);
      if (save_invstd) save_invstd[c] = static_cast<float>(invstd);
      const double g = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
      const float scale = static_cast<float>(g * invstd), shift = static_cast<float>(bt), mf = static_cast<float>(mean);
      for (int64_t n = 0; n < s.n; ++n) {
        const float* xr = x + (n * s.c + c) * s.s;
        float* yr = y + (n * s.c + c) * s.s;
        for (int64_t i = 0; i < s.s; ++i) yr[i] = (xr[i] - mf) * scale + shift;
      }
    }
  });
}

void batchnorm_backward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* dy, float* dx, float* dgamma,
                        float* dbeta, const Ctx& ctx) {
  batchnorm_check(s, mode);
  const double M = static_cast<double>(s.n * s.s);
  const bool need_sums = mode == BnMode::Train || (mode == BnMode::Eval && (dgamma || dbeta));
  parallel_for(s.c, ctx.threads, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = save_mean[c], invstd = save_invstd[c], g = gamma ? gamma[c] : 1.0;
      double sdy = 0, sdyx = 0;  // sum dy, sum dy * xhat
      if (need_sums) {
        for (int64_t n = 0; n < s.n; ++n) {
          const int64_t o = (n * s.c + c) * s.s;
          sdy += sum_of(dy + o, s.s);
          sdyx += dot_dev(dy + o, x + o, s.s, mean);
        }
        sdyx *= invstd;
      }
      if (dgamma) dgamma[c] = mode == BnMode::Frozen ? 0.0f : static_cast<float>(sdyx);
      if (dbeta) dbeta[c] = mode == BnMode::Frozen ? 0.0f : static_cast<float>(sdy);
      if (!dx) continue;
      if (mode == BnMode::Train) {
        // dx = g*invstd * (dy - sdy/M - xhat * sdyx/M) = a*dy + b*(x - mean) + k
        const double a = g * invstd, b = -a * invstd * sdyx / M, k = -a * sdy / M;
        const float af = static_cast<float>(a), bf = static_cast<float>(b), kf = static_cast<float>(k);
        const float mf = static_cast<float>(mean);
        for (int64_t n = 0; n < s.n; ++n) {
          const int64_t o = (n * s.c + c) * s.s;
          for (int64_t i = 0; i < s.s; ++i) dx[o + i] = af * dy[o + i] + bf * (x[o + i] - mf) + kf;
        }
      } else {
        const float a = static_cast<float>(g * invstd);
        for (int64_t n = 0; n < s.n; ++n) {
          const int64_t o = (n * s.c + c) * s.s;
          for (int64_t i = 0; i < s.s; ++i) dx[o + i] = a * dy[o + i];
        }
      }
    }
  });
}

}  // namespace mimic::ops
