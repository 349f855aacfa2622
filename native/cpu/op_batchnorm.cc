// BatchNorm forward/backward (mimic/ops.h), 2-D and 1-D alike:
//   x (N,C,S), gamma (C), beta (C) -> y (N,C,S), save_mean (C), save_invstd (C); running stats (C) updated in Train
//   backward: x, gamma, save_mean, save_invstd, dy (N,C,S) -> dx (N,C,S), dgamma (C), dbeta (C)
// Channels are split over the threads; per-channel sums fold 16 float lanes per block into float64
// (batchnorm_kernels.h). The forward runs the AVX-512 build of its per-channel body where that path resolved.
// The *_relu_* variants apply / mask a following ReLU in the same passes (the network fuses BN -> ReLU).
#include <algorithm>
#include <cmath>
#include <string>

#include "batchnorm_kernels.h"
#include "mimic/cpu.h"
#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::ops {

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
using namespace bn;

// AVX-512 where it resolved: the forward's three passes vectorise 4x wider there (width-16 training step: BN
// forward 14.3 -> 11.5 ms). The backward stays here: built for AVX-512 it was ~1.5 ms slower per step.
template <bool Relu>
void forward_impl(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                  float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd,
                  const Ctx& ctx) {
  batchnorm_check(s, mode);
  MIMIC_REQUIRE(mode == BnMode::Train || (running_mean && running_var), Code::InvalidArgument,
                "batchnorm: eval and frozen modes need the running statistics");
  const ForwardArgs a{s, mode, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd};
#if defined(__x86_64__)
  const bool wide = resolve_path(ctx.path) == KernelPath::Avx512;
#else
  const bool wide = false;
#endif
  parallel_for(s.c, ctx.threads, [&](int64_t c0, int64_t c1) {
    if (wide) return forward_channels_avx512(Relu, a, c0, c1);
    forward_channels<Relu>(a, c0, c1);
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
