// float64 reference kernels of the MIMIC losses in mimic/loss.h: plain loops, obviously right, slow. Same shapes
// and conventions (gradients overwritten, a null gradient pointer skipped, same checks). The attention loss is
// the composition of the unfused pieces below (map, spatial normalisation, MSE), each with its own backward.
#pragma once
#include <cstdint>

#include "mimic/loss.h"

namespace mimic::ref {

// Clone: s, t (B,D) -> L, ds (B,D) or null.
double clone_loss(int64_t B, int64_t D, const double* s, const double* t, bool teacher_normalized, double* ds);

// Attention map:  x (B,C,S) -> a (B,S),  a[b,s] = sum_c |x[b,c,s]|^p;  backward: x, da (B,S) -> dx (B,C,S)
void attention_map_forward(int64_t B, int64_t C, int64_t S, int p, const double* x, double* a);
void attention_map_backward(int64_t B, int64_t C, int64_t S, int p, const double* x, const double* da, double* dx);
// Spatial normalisation:  a (B,S) -> y (B,S) = a / (||a[b]|| + eps);  backward: a, dy -> da
void spatial_normalize_forward(int64_t B, int64_t S, const double* a, double* y, double eps = loss::kAttEps);
void spatial_normalize_backward(int64_t B, int64_t S, const double* a, const double* dy, double* da,
                                double eps = loss::kAttEps);
// MSE:  x, y (n) -> mean (x - y)^2;  dx (n) or null = 2 (x - y) / n
double mse(int64_t n, const double* x, const double* y, double* dx);

struct AttentionLayerRef {
  int64_t cs = 1, ct = 1, h = 1, w = 1;
  const double* s = nullptr;
  const double* t = nullptr;
  double beta = 1.0;
  double* ds = nullptr;
};
double attention_loss(int64_t B, int p, const AttentionLayerRef* layers, int64_t n_layers, double* layer_losses);

// NT-Xent: u (2B, D) -> L, du (2B, D) or null.
double ntxent_loss(int64_t B, int64_t D, const double* u, double tau, double* du);

}  // namespace mimic::ref
