// BatchNorm forward/backward (mimic/ops.h), 2-D and 1-D alike:
//   x (N,C,S), gamma (C), beta (C) -> y (N,C,S), save_mean (C), save_invstd (C); running stats (C) updated in Train
//   backward: x, gamma, save_mean, save_invstd, dy (N,C,S) -> dx (N,C,S), dgamma (C), dbeta (C)
// Every pass runs through the tensors in memory order (image, channel, position). The per-channel sums (the
// statistics, the backward's two sums) use 16 float lanes per channel over a fixed block of images, folded into
// float64 partials that are added in block order: the same sums at any thread count, and no float lane sums more
// than 64 terms. (Channel by channel, each channel's N runs of S floats lie C*S apart: every run started a new page
// for the prefetchers, and on 4x4 and 8x8 maps each run paid the lanes' set-up and fold. The memory-order passes
// took BatchNorm from 26 to 16 ms per width-16 training step.)
// The *_relu_* variants apply / mask a following ReLU in the same passes (the network fuses BN -> ReLU).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"
#include "relu_map.h"

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
constexpr int kLanes = 16;
constexpr int64_t kBlock = 1024;  // elements per channel between two folds into float64 (<= 64 per lane)

// The forward's per-element map, shared with the fused backward's ReLU mask so both see the same float value
// (this file is compiled with -ffp-contract=off: no FMA contraction may change it in one place only).
inline float bn_apply(float x, float mean, float scale, float shift) { return (x - mean) * scale + shift; }

// Per-channel affine of the forward, from the saved (float) statistics, in forward and backward alike.
struct Affine {
  float mean, scale, shift;
};
inline Affine affine_of(float save_mean, float save_invstd, const float* gamma, const float* beta, int64_t c) {
  const double g = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
  return {save_mean, static_cast<float>(g * save_invstd), static_cast<float>(bt)};
}

// One run of terms into a channel's lanes: term(c, index, a0, a1, lane) adds to a0[lane] (and a1[lane]). The
// lanes are __restrict parameters: through plain pointers the compiler had to assume they might alias the data
// and kept the loop scalar (the forward ran at half the speed).
template <class F>
inline void lane_run(float* __restrict a0, float* __restrict a1, int64_t c, int64_t begin, int64_t end, F& term) {
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes)
    for (int u = 0; u < kLanes; ++u) term(c, i + u, a0, a1, u);
  for (; i < end; ++i) term(c, i, a0, a1, 0);
}

// total[k][c] = the sum of the k-th term (K = 1 or 2, see lane_run) over every image and position of channel c.
template <int K, class F>
void channel_sums(const BatchNormShape& s, F term, double* const* total, const Ctx& ctx) {
  const int64_t C = s.c, S = s.s, per = std::max<int64_t>(1, kBlock / S), blocks = (s.n + per - 1) / per;
  std::vector<double> partial(static_cast<size_t>(K * blocks * C));
  parallel_for(blocks, ctx.threads, [&](int64_t b0, int64_t b1) {
    std::vector<float> lanes(static_cast<size_t>(K * C * kLanes));
    std::vector<double> acc(static_cast<size_t>(K * C));
    auto fold = [&](int64_t c) {
      for (int k = 0; k < K; ++k) {
        float* l = &lanes[static_cast<size_t>((k * C + c) * kLanes)];
        double sum = 0;
        for (int u = 0; u < kLanes; ++u) sum += l[u];
        acc[static_cast<size_t>(k * C + c)] += sum;
        std::fill(l, l + kLanes, 0.0f);
      }
    };
    for (int64_t blk = b0; blk < b1; ++blk) {
      std::fill(lanes.begin(), lanes.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = blk * per; n < std::min(s.n, (blk + 1) * per); ++n)
        for (int64_t c = 0; c < C; ++c) {
          float* a0 = &lanes[static_cast<size_t>(c * kLanes)];
          float* a1 = K == 2 ? &lanes[static_cast<size_t>((C + c) * kLanes)] : nullptr;  // never a0: both __restrict
          const int64_t base = (n * C + c) * S;
          for (int64_t i0 = 0; i0 < S; i0 += kBlock) {  // maps larger than kBlock fold as they go
            lane_run(a0, a1, c, base + i0, base + std::min(S, i0 + kBlock), term);
            if (S > kBlock) fold(c);
          }
        }
      for (int64_t c = 0; c < C; ++c) {
        fold(c);
        for (int k = 0; k < K; ++k)
          partial[static_cast<size_t>((k * blocks + blk) * C + c)] = acc[static_cast<size_t>(k * C + c)];
      }
    }
  });
  for (int k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0;
      for (int64_t blk = 0; blk < blocks; ++blk) sum += partial[static_cast<size_t>((k * blocks + blk) * C + c)];
      total[k][c] = sum;
    }
}

// Train: the batch statistics (two passes: the mean, then the squared deviations from it), the running-stat
// update; Eval / Frozen: the running statistics. Then y = the affine map (then the ReLU), image by image.
template <bool Relu>
void forward_impl(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                  float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd,
                  const Ctx& ctx) {
  batchnorm_check(s, mode);
  MIMIC_REQUIRE(mode == BnMode::Train || (running_mean && running_var), Code::InvalidArgument,
                "batchnorm: eval and frozen modes need the running statistics");
  const int64_t C = s.c, S = s.s;
  const double M = static_cast<double>(s.n * S);
  std::vector<float> mean_f(static_cast<size_t>(C)), inv_f(static_cast<size_t>(C));
  if (mode == BnMode::Train) {
    std::vector<double> sum(static_cast<size_t>(C)), sq(static_cast<size_t>(C));
    double* sums[1] = {sum.data()};
    channel_sums<1>(s, [x](int64_t, int64_t k, float* a0, float*, int u) { a0[u] += x[k]; }, sums, ctx);
    for (int64_t c = 0; c < C; ++c) mean_f[static_cast<size_t>(c)] = static_cast<float>(sum[static_cast<size_t>(c)] / M);
    const float* m = mean_f.data();
    double* sqs[1] = {sq.data()};
    channel_sums<1>(s, [x, m](int64_t c, int64_t k, float* a0, float*, int u) {
      const float d = x[k] - m[c];
      a0[u] += d * d;
    }, sqs, ctx);
    for (int64_t c = 0; c < C; ++c) {
      const size_t ci = static_cast<size_t>(c);
      const double mean = sum[ci] / M;
      inv_f[ci] = static_cast<float>(1.0 / std::sqrt(sq[ci] / M + s.eps));
      if (running_mean) running_mean[c] = static_cast<float>((1 - s.momentum) * running_mean[c] + s.momentum * mean);
      if (running_var) running_var[c] = static_cast<float>((1 - s.momentum) * running_var[c] + s.momentum * (sq[ci] / (M - 1)));
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean_f[static_cast<size_t>(c)] = running_mean[c];
      inv_f[static_cast<size_t>(c)] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + s.eps));
    }
  }
  std::vector<Affine> af(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const size_t ci = static_cast<size_t>(c);
    if (save_mean) save_mean[c] = mean_f[ci];
    if (save_invstd) save_invstd[c] = inv_f[ci];
    af[ci] = affine_of(mean_f[ci], inv_f[ci], gamma, beta, c);
  }
  if (!y) return;  // the statistics only (batchnorm_stats_forward)
  parallel_for(s.n, ctx.threads, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const float* __restrict xr = x + (n * C + c) * S;
        float* __restrict yr = y + (n * C + c) * S;
        const Affine a = af[static_cast<size_t>(c)];
        const float am = a.mean, as = a.scale, ash = a.shift;
        for (int64_t i = 0; i < S; ++i) {
          const float v = bn_apply(xr[i], am, as, ash);
          yr[i] = Relu ? relu_value(v) : v;
        }
      }
  });
}

// dy is the gradient of the BN output, or with Relu of the ReLU after it: g = dy where the forward's
// bn_apply(x) > 0 (recomputed, the same float value), else 0. Two sums (sum g, sum g * (x - mean)), then
//   Train: dx = gamma*invstd * (g - sdy/M - xhat * sdyx/M) = a*g + b*(x - mean) + k;  Eval / Frozen: a*g.
template <bool Relu>
void backward_impl(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                   const float* save_mean, const float* save_invstd, const float* dy, float* dx, float* dgamma,
                   float* dbeta, const Ctx& ctx) {
  batchnorm_check(s, mode);
  const int64_t C = s.c, S = s.s;
  const double M = static_cast<double>(s.n * S);
  const bool need_sums = mode == BnMode::Train || (mode == BnMode::Eval && (dgamma || dbeta));
  std::vector<Affine> af(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) af[static_cast<size_t>(c)] = affine_of(save_mean[c], save_invstd[c], gamma, beta, c);
  std::vector<double> sdy(static_cast<size_t>(C), 0.0), sdyx(static_cast<size_t>(C), 0.0);
  if (need_sums) {
    const Affine* f = af.data();
    double* sums[2] = {sdy.data(), sdyx.data()};
    channel_sums<2>(s, [x, dy, f](int64_t c, int64_t k, float* a0, float* a1, int u) {
      const float xv = x[k];
      float gv = dy[k];
      if (Relu) gv = bn_apply(xv, f[c].mean, f[c].scale, f[c].shift) > 0.0f ? gv : 0.0f;
      a0[u] += gv;
      a1[u] += gv * (xv - f[c].mean);
    }, sums, ctx);
    for (int64_t c = 0; c < C; ++c) sdyx[static_cast<size_t>(c)] *= save_invstd[c];
  }
  const bool train = mode == BnMode::Train;
  std::vector<float> ka(static_cast<size_t>(C)), kb(static_cast<size_t>(C)), kk(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const size_t ci = static_cast<size_t>(c);
    if (dgamma) dgamma[c] = mode == BnMode::Frozen ? 0.0f : static_cast<float>(sdyx[ci]);
    if (dbeta) dbeta[c] = mode == BnMode::Frozen ? 0.0f : static_cast<float>(sdy[ci]);
    const double invstd = save_invstd[c], g = gamma ? gamma[c] : 1.0;
    const double a = g * invstd, b = train ? -a * invstd * sdyx[ci] / M : 0.0, k = train ? -a * sdy[ci] / M : 0.0;
    ka[ci] = static_cast<float>(a);
    kb[ci] = static_cast<float>(b);
    kk[ci] = static_cast<float>(k);
  }
  if (!dx) return;
  parallel_for(s.n, ctx.threads, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const size_t ci = static_cast<size_t>(c);
        const int64_t o = (n * C + c) * S;
        const float* __restrict dr = dy + o;
        const float* __restrict xr = x + o;
        float* __restrict out = dx + o;
        // (plain loops over local copies: a by-reference lambda here kept GCC from vectorising, see op_eltwise.cc)
        const float am = af[ci].mean, as = af[ci].scale, ash = af[ci].shift, a_f = ka[ci], b_f = kb[ci], k_f = kk[ci];
        if (train) {
          for (int64_t i = 0; i < S; ++i) {
            const float xv = xr[i], d = dr[i];  // both loaded unconditionally: a conditional load stays scalar
            const float gv = Relu ? (bn_apply(xv, am, as, ash) > 0.0f ? d : 0.0f) : d;
            out[i] = a_f * gv + b_f * (xv - am) + k_f;
          }
        } else {
          for (int64_t i = 0; i < S; ++i) {
            const float xv = xr[i], d = dr[i];
            const float gv = Relu ? (bn_apply(xv, am, as, ash) > 0.0f ? d : 0.0f) : d;
            out[i] = a_f * gv;
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
void batchnorm_stats_forward(const BatchNormShape& s, BnMode mode, const float* x, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd, const Ctx& ctx) {
  MIMIC_REQUIRE(save_mean && save_invstd, Code::InvalidArgument, "batchnorm_stats_forward: save_mean and save_invstd are required");
  forward_impl<false>(s, mode, x, nullptr, nullptr, running_mean, running_var, nullptr, save_mean, save_invstd, ctx);
}

namespace {
template <bool A, bool B, bool Relu>
void bn_add_impl(const BatchNormShape& s, const float* a, const BnAffine& fa, const float* b, const BnAffine& fb,
                 float* y, const Ctx& ctx) {
  const int64_t C = s.c, S = s.s;
  parallel_for(s.n, ctx.threads, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t off = (n * C + c) * S;
        const float* __restrict ar = a + off;
        const float* __restrict br = b + off;
        float* __restrict yr = y + off;
        const Affine p = A ? affine_of(fa.mean[c], fa.invstd[c], fa.gamma, fa.beta, c) : Affine{};
        const Affine q = B ? affine_of(fb.mean[c], fb.invstd[c], fb.gamma, fb.beta, c) : Affine{};
        for (int64_t i = 0; i < S; ++i) {  // each term as the BN forward stores it, then the Add's (a + b)
          const float u = A ? bn_apply(ar[i], p.mean, p.scale, p.shift) : ar[i];
          const float v = B ? bn_apply(br[i], q.mean, q.scale, q.shift) : br[i];
          yr[i] = Relu ? relu_value(u + v) : u + v;
        }
      }
  });
}
}  // namespace

void bn_add_forward(const BatchNormShape& s, const float* a, const BnAffine& fa, const float* b, const BnAffine& fb,
                    bool relu_after, float* y, const Ctx& ctx) {
  MIMIC_REQUIRE(s.n >= 1 && s.c >= 1 && s.s >= 1, Code::InvalidArgument, "bn_add_forward: N, C and S must be >= 1");
  MIMIC_REQUIRE((!fa.mean || fa.invstd) && (!fb.mean || fb.invstd), Code::InvalidArgument,
                "bn_add_forward: an affine needs its mean and invstd");
  const bool A = fa.mean != nullptr, B = fb.mean != nullptr;
  using Fn = void (*)(const BatchNormShape&, const float*, const BnAffine&, const float*, const BnAffine&, float*, const Ctx&);
  static constexpr Fn table[8] = {bn_add_impl<false, false, false>, bn_add_impl<false, false, true>,
                                  bn_add_impl<false, true, false>,  bn_add_impl<false, true, true>,
                                  bn_add_impl<true, false, false>,  bn_add_impl<true, false, true>,
                                  bn_add_impl<true, true, false>,   bn_add_impl<true, true, true>};
  table[(A ? 4 : 0) + (B ? 2 : 0) + (relu_after ? 1 : 0)](s, a, fa, b, fb, y, ctx);
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
