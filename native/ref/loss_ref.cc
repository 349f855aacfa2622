// float64 references of the MIMIC losses (mimic/loss_ref.h): plain loops.
#include "mimic/loss_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mimic::ref {

namespace {
double ipow(double x, int p) {
  double r = 1;
  for (int i = 0; i < p; ++i) r *= x;
  return r;
}
// Row-wise x / max(||x||, eps), and its backward (as ref::l2norm_*).
void normalize_rows(int64_t n, int64_t d, const double* x, double* y) {
  for (int64_t r = 0; r < n; ++r) {
    double sq = 0;
    for (int64_t j = 0; j < d; ++j) sq += x[r * d + j] * x[r * d + j];
    const double den = std::max(std::sqrt(sq), loss::kNormEps);
    for (int64_t j = 0; j < d; ++j) y[r * d + j] = x[r * d + j] / den;
  }
}
void normalize_rows_backward(int64_t n, int64_t d, const double* x, const double* y, const double* dy, double* dx) {
  for (int64_t r = 0; r < n; ++r) {
    double sq = 0, ydy = 0;
    for (int64_t j = 0; j < d; ++j) {
      sq += x[r * d + j] * x[r * d + j];
      ydy += y[r * d + j] * dy[r * d + j];
    }
    const double norm = std::sqrt(sq);
    for (int64_t j = 0; j < d; ++j)
      dx[r * d + j] = norm > loss::kNormEps ? (dy[r * d + j] - y[r * d + j] * ydy) / norm : dy[r * d + j] / loss::kNormEps;
  }
}
}  // namespace

double clone_loss(int64_t B, int64_t D, const double* s, const double* t, bool teacher_normalized, double* ds) {
  loss::clone_check(B, D);
  std::vector<double> zs(B * D), zt(t, t + B * D), g(B * D);
  normalize_rows(B, D, s, zs.data());
  if (!teacher_normalized) normalize_rows(B, D, t, zt.data());
  double L = 0;
  for (int64_t i = 0; i < B * D; ++i) L -= zs[i] * zt[i];
  L /= static_cast<double>(B);
  if (ds) {
    for (int64_t i = 0; i < B * D; ++i) g[i] = -zt[i] / static_cast<double>(B);
    normalize_rows_backward(B, D, s, zs.data(), g.data(), ds);
  }
  return L;
}

void attention_map_forward(int64_t B, int64_t C, int64_t S, int p, const double* x, double* a) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      double acc = 0;
      for (int64_t c = 0; c < C; ++c) acc += ipow(std::fabs(x[(b * C + c) * S + s]), p);
      a[b * S + s] = acc;
    }
}

// d|x|^p/dx = p sign(x) |x|^(p-1)  (0 at x = 0)
void attention_map_backward(int64_t B, int64_t C, int64_t S, int p, const double* x, const double* da, double* dx) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const double v = x[(b * C + c) * S + s];
        const double sg = v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0);
        dx[(b * C + c) * S + s] = da[b * S + s] * p * sg * ipow(std::fabs(v), p - 1);
      }
}

void spatial_normalize_forward(int64_t B, int64_t S, const double* a, double* y, double eps) {
  for (int64_t b = 0; b < B; ++b) {
    double sq = 0;
    for (int64_t s = 0; s < S; ++s) sq += a[b * S + s] * a[b * S + s];
    const double den = std::sqrt(sq) + eps;
    for (int64_t s = 0; s < S; ++s) y[b * S + s] = a[b * S + s] / den;
  }
}

// y_i = a_i / (n + eps), n = ||a||:  dy_i/da_j = delta_ij / (n + eps) - a_i a_j / (n (n + eps)^2)  (n > 0)
void spatial_normalize_backward(int64_t B, int64_t S, const double* a, const double* dy, double* da, double eps) {
  for (int64_t b = 0; b < B; ++b) {
    double sq = 0, ady = 0;
    for (int64_t s = 0; s < S; ++s) {
      sq += a[b * S + s] * a[b * S + s];
      ady += a[b * S + s] * dy[b * S + s];
    }
    const double n = std::sqrt(sq), den = n + eps;
    const double k = n > 0 ? ady / (n * den * den) : 0.0;
    for (int64_t s = 0; s < S; ++s) da[b * S + s] = dy[b * S + s] / den - a[b * S + s] * k;
  }
}

double mse(int64_t n, const double* x, const double* y, double* dx) {
  double L = 0;
  for (int64_t i = 0; i < n; ++i) L += (x[i] - y[i]) * (x[i] - y[i]);
  if (dx)
    for (int64_t i = 0; i < n; ++i) dx[i] = 2.0 * (x[i] - y[i]) / static_cast<double>(n);
  return L / static_cast<double>(n);
}

double attention_loss(int64_t B, int p, const AttentionLayerRef* layers, int64_t n_layers, double* layer_losses) {
  std::vector<loss::AttentionLayer> dims(std::max<int64_t>(n_layers, 0));
  for (int64_t l = 0; l < n_layers; ++l) {
    dims[l].cs = layers[l].cs;
    dims[l].ct = layers[l].ct;
    dims[l].h = layers[l].h;
    dims[l].w = layers[l].w;
    dims[l].beta = layers[l].beta;
  }
  loss::attention_check(B, p, dims.data(), n_layers);
  double total = 0;
  for (int64_t l = 0; l < n_layers; ++l) {
    const AttentionLayerRef& L = layers[l];
    const int64_t S = L.h * L.w;
    std::vector<double> as(B * S), at(B * S), ys(B * S), yt(B * S), dy(B * S), da(B * S);
    attention_map_forward(B, L.cs, S, p, L.s, as.data());
    attention_map_forward(B, L.ct, S, p, L.t, at.data());
    spatial_normalize_forward(B, S, as.data(), ys.data());
    spatial_normalize_forward(B, S, at.data(), yt.data());
    const double ll = mse(B * S, ys.data(), yt.data(), dy.data());
    if (layer_losses) layer_losses[l] = ll;
    total += L.beta * ll;
    if (L.ds) {
      for (double& v : dy) v *= L.beta;
      spatial_normalize_backward(B, S, as.data(), dy.data(), da.data());
      attention_map_backward(B, L.cs, S, p, L.s, da.data(), L.ds);
    }
  }
  return total;
}

double ntxent_loss(int64_t B, int64_t D, const double* u, double tau, double* du) {
  loss::ntxent_check(B, D, tau);
  const int64_t N = 2 * B;
  std::vector<double> z(N * D), S(N * N), G(N * N, 0.0), dz(N * D, 0.0);
  normalize_rows(N, D, u, z.data());
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double d = 0;
      for (int64_t k = 0; k < D; ++k) d += z[i * D + k] * z[j * D + k];
      S[i * N + j] = d / tau;
    }
  double L = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t pos = (i + B) % N;
    double m = -INFINITY;
    for (int64_t k = 0; k < N; ++k)
      if (k != i) m = std::max(m, S[i * N + k]);
    double sum = 0;
    for (int64_t k = 0; k < N; ++k)
      if (k != i) sum += std::exp(S[i * N + k] - m);
    const double lse = m + std::log(sum);
    L += lse - S[i * N + pos];
    // dL/dS_ik = (softmax_ik - [k == pos]) / N
    for (int64_t k = 0; k < N; ++k)
      if (k != i) G[i * N + k] = (std::exp(S[i * N + k] - lse) - (k == pos ? 1.0 : 0.0)) / static_cast<double>(N);
  }
  L /= static_cast<double>(N);
  if (du) {
    // S_ik = <z_i, z_k> / tau:  dz_i = sum_k (G_ik + G_ki) z_k / tau
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < N; ++k) {
        const double g = (G[i * N + k] + G[k * N + i]) / tau;
        for (int64_t j = 0; j < D; ++j) dz[i * D + j] += g * z[k * D + j];
      }
    normalize_rows_backward(N, D, u, z.data(), dz.data(), du);
  }
  return L;
}

}  // namespace mimic::ref
