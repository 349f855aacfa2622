// Fused MIMIC loss kernels (float32, CPU): each computes its loss AND the gradient with respect to the student's
// tensors in one call, llm.c style. The float64 references live in mimic/loss_ref.h (native/ref/loss_ref.cc).
//
// Conventions (as mimic/ops.h)
// - Pointers are dense row-major buffers of exactly the sizes in each function's shape comment.
// - Gradients are OVERWRITTEN (no accumulation); a null gradient pointer skips the gradient.
// - Losses are accumulated in double and returned as double.
// - Shapes and scalar options are validated; misuse throws mimic::Error (InvalidArgument / ShapeMismatch).
//   Non-finite inputs are not checked here (they give a non-finite loss); the bindings reject them.
#pragma once
#include <cstdint>
#include <vector>

#include "mimic/cpu.h"

namespace mimic::loss {

struct Ctx {
  int threads = 0;                    // 0: the global pool's size; 1: the calling thread only
  KernelPath path = KernelPath::Auto;  // passed to the GEMM (NT-Xent)
};

constexpr double kNormEps = 1e-12;  // torch.nn.functional.normalize: x / max(||x||, eps)
constexpr double kAttEps = 1e-6;    // attention transfer: a / (||a|| + eps)

// ---------------------------------------------------------------------------------------------------------
// Clone loss:  s (B,D) student features (unnormalised), t (B,D) teacher features -> L, ds (B,D) or null
//   z_S = s / max(||s||, 1e-12), z_T = t / max(||t||, 1e-12) (t used as is when teacher_normalized),
//   L = -(1/B) sum_b <z_S[b], z_T[b]>,  ds = dL/ds (through the normalisation; torch's subgradient below eps:
//   a zero student row gets ds = -z_T / (B * 1e-12), a zero teacher row contributes 0).  B >= 1, D >= 1.
double clone_loss(int64_t B, int64_t D, const float* s, const float* t, bool teacher_normalized, float* ds,
                  const Ctx& ctx = {});
void clone_check(int64_t B, int64_t D);

// ---------------------------------------------------------------------------------------------------------
// Multi-layer attention transfer (Zagoruyko & Komodakis), p a positive integer (2 by default):
//   per layer l: student A_S (B, C_S, H, W), teacher A_T (B, C_T, H, W) (same B, H, W; channels may differ)
//   a(F)[b,hw] = sum_c |F[b,c,hw]|^p,  a_hat = a / (||a[b]||_2 over hw + 1e-6),
//   L_l = mean over (b,hw) of (a_hat(A_S) - a_hat(A_T))^2,  L = sum_l beta_l L_l;  ds_l = dL/dA_S (teacher const).
// One pass over each tensor for the maps, one over A_S for the gradient; only (B, H*W) maps are kept.
// |x|^p for p = 1 has the subgradient 0 at x = 0.
struct AttentionLayer {
  int64_t cs = 1, ct = 1, h = 1, w = 1;
  const float* s = nullptr;  // (B, cs, h, w)
  const float* t = nullptr;  // (B, ct, h, w)
  double beta = 1.0;
  float* ds = nullptr;       // (B, cs, h, w) or null
};
// layer_losses (n_layers) or null receives the unweighted L_l. Returns the weighted total.
double attention_loss(int64_t B, int p, const AttentionLayer* layers, int64_t n_layers, double* layer_losses,
                      const Ctx& ctx = {});
// Checks B, p and each layer's sizes (not the pointers).
void attention_check(int64_t B, int p, const AttentionLayer* layers, int64_t n_layers);

// ---------------------------------------------------------------------------------------------------------
// NT-Xent (SimCLR):  u (N = 2B, D) projections, rows 0..B-1 view 1, B..2B-1 view 2 -> L, du (N, D) or null
//   z = u / max(||u||, 1e-12), s_ij = <z_i, z_j> / tau, pos(i) = (i + B) mod N,
//   loss_i = -s_{i,pos(i)} + log sum_{k != i} exp(s_ik)  (positive in the denominator, as the MIMIC code),
//   L = mean_i loss_i.  tau > 0. B = 1 is defined: the denominator holds the positive only, L = 0, du = 0.
// The N x N similarity goes through sgemm when N*N*D is large; log-sum-exp is max-shifted.
double ntxent_loss(int64_t B, int64_t D, const float* u, double tau, float* du, const Ctx& ctx = {});
void ntxent_check(int64_t B, int64_t D, double tau);

}  // namespace mimic::loss
