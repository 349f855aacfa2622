// Multi-layer attention transfer (mimic/loss.h):
//   per layer: A_S (B,C_S,H,W), A_T (B,C_T,H,W) -> L_l, dA_S (B,C_S,H,W);  L = sum_l beta_l L_l
// Pass 1 reads A_S and A_T once each, accumulating the (B, H*W) maps a = sum_c |F|^p in double, tiled over
// (b, spatial block) so every channel's block is streamed once. Per sample: norms, the loss, and the per-(b,hw)
// coefficient g = p * dL/da (through the spatial normalisation and the MSE). Pass 2 writes
// dA_S = g * sign(x) |x|^(p-1) (= g x for p = 2). Only the maps are kept, never a (B,C,H,W) intermediate.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mimic/loss.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::loss {

namespace {
constexpr int64_t kBlock = 256;  // spatial positions per task

inline float powp(float v, int p) {  // |v|^p, p >= 1
  const float a = std::fabs(v);
  float r = a;
  for (int i = 1; i < p; ++i) r *= a;
  return r;
}

// a (B,S) = sum_c |x[b,c,s]|^p
void attention_map(int64_t B, int64_t C, int64_t S, int p, const float* x, double* a, int threads) {
  const int64_t nblk = (S + kBlock - 1) / kBlock;
  parallel_for(B * nblk, threads, [&](int64_t t0, int64_t t1) {
    double acc[kBlock];
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / nblk, s0 = (task % nblk) * kBlock, n = std::min(kBlock, S - s0);
      std::fill(acc, acc + n, 0.0);
      for (int64_t c = 0; c < C; ++c) {
        const float* xr = x + (b * C + c) * S + s0;
        if (p == 2)
          for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(xr[i] * xr[i]);
        else
          for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(powp(xr[i], p));
      }
      std::copy(acc, acc + n, a + b * S + s0);
    }
  });
}
}  // namespace

void attention_check(int64_t B, int p, const AttentionLayer* layers, int64_t n_layers) {
  MIMIC_REQUIRE(B >= 1, Code::InvalidArgument, "attention loss: B (" + std::to_string(B) + ") must be >= 1");
  MIMIC_REQUIRE(p >= 1 && p <= 16, Code::InvalidArgument,
                "attention loss: p (" + std::to_string(p) + ") must be an integer in [1, 16]");
  MIMIC_REQUIRE(n_layers >= 0 && (n_layers == 0 || layers), Code::InvalidArgument,
                "attention loss: n_layers must be >= 0");
  for (int64_t l = 0; l < n_layers; ++l) {
    const AttentionLayer& L = layers[l];
    const std::string at = "attention loss: layer " + std::to_string(l) + ": ";
    MIMIC_REQUIRE(L.cs >= 1 && L.ct >= 1 && L.h >= 1 && L.w >= 1, Code::InvalidArgument,
                  at + "channels and spatial sizes must be >= 1");
    MIMIC_REQUIRE(std::isfinite(L.beta), Code::InvalidArgument, at + "beta must be finite");
  }
}

double attention_loss(int64_t B, int p, const AttentionLayer* layers, int64_t n_layers, double* layer_losses,
                      const Ctx& ctx) {
  attention_check(B, p, layers, n_layers);
  double total = 0;
  std::vector<double> as, at;
  std::vector<float> g;
  std::vector<double> per_b;
  for (int64_t l = 0; l < n_layers; ++l) {
    const AttentionLayer& L = layers[l];
    const int64_t S = L.h * L.w;
    as.assign(B * S, 0.0);
    at.assign(B * S, 0.0);
    const int threads = B * S * std::max(L.cs, L.ct) < (1 << 15) ? 1 : ctx.threads;
    attention_map(B, L.cs, S, p, L.s, as.data(), threads);
    attention_map(B, L.ct, S, p, L.t, at.data(), threads);

    // Per sample: normalise both maps, squared error, coefficient g = beta * p * dL/da_S.
    if (L.ds) g.resize(B * S);
    per_b.assign(B, 0.0);
    const double inv_n = 1.0 / static_cast<double>(B * S);
    parallel_for(B, B * S < (1 << 14) ? 1 : ctx.threads, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const double* a = as.data() + b * S;
        const double* c = at.data() + b * S;
        double sa = 0, sc = 0;
        for (int64_t i = 0; i < S; ++i) {
          sa += a[i] * a[i];
          sc += c[i] * c[i];
        }
        const double na = std::sqrt(sa), da = na + kAttEps, dc = std::sqrt(sc) + kAttEps;
        const double ia = 1.0 / da, ic = 1.0 / dc;
        double err = 0, ady = 0;  // ady = <a, dy>, dy = 2 (a_hat_S - a_hat_T) / (B S)
        for (int64_t i = 0; i < S; ++i) {
          const double d = a[i] * ia - c[i] * ic;
          err += d * d;
          ady += a[i] * d;
        }
        per_b[b] = err;
        if (!L.ds) continue;
        // da_i = dy_i / (n + eps) - a_i <a, dy> / (n (n + eps)^2)
        const double k = na > 0 ? 2.0 * inv_n * ady / (na * da * da) : 0.0;
        const double scale = L.beta * p;
        float* gb = g.data() + b * S;
        for (int64_t i = 0; i < S; ++i) {
          const double d = a[i] * ia - c[i] * ic;
          gb[i] = static_cast<float>(scale * (2.0 * inv_n * d * ia - a[i] * k));
        }
      }
    });
    double err = 0;
    for (double v : per_b) err += v;
    const double ll = err * inv_n;
    if (layer_losses) layer_losses[l] = ll;
    total += L.beta * ll;

    if (!L.ds) continue;
    const int64_t nblk = (S + kBlock - 1) / kBlock;
    const int threads_s = B * S * L.cs < (1 << 15) ? 1 : ctx.threads;
    parallel_for(B * nblk, threads_s, [&](int64_t t0, int64_t t1) {
      for (int64_t task = t0; task < t1; ++task) {
        const int64_t b = task / nblk, s0 = (task % nblk) * kBlock, n = std::min(kBlock, S - s0);
        const float* gb = g.data() + b * S + s0;
        for (int64_t c = 0; c < L.cs; ++c) {
          const float* xr = L.s + (b * L.cs + c) * S + s0;
          float* dr = L.ds + (b * L.cs + c) * S + s0;
          if (p == 2) {
            for (int64_t i = 0; i < n; ++i) dr[i] = gb[i] * xr[i];
          } else if (p == 1) {
            for (int64_t i = 0; i < n; ++i) dr[i] = xr[i] > 0 ? gb[i] : (xr[i] < 0 ? -gb[i] : 0.0f);
          } else {
            for (int64_t i = 0; i < n; ++i) {
              const float v = xr[i];
              const float m = powp(v, p - 1);
              dr[i] = v > 0 ? gb[i] * m : (v < 0 ? -gb[i] * m : 0.0f);
            }
          }
        }
      }
    });
  }
  return total;
}

}  // namespace mimic::loss
