// CUDA versions of the fused MIMIC loss kernels (mimic/loss.h), fp32 with double accumulation of the reductions.
// For now they take HOST arrays: inputs are copied to the device, the loss and gradient computed there (one fused
// kernel per loss; NT-Xent: similarity + row log-sum-exp, then the gradient product), results copied back.
// Same shapes, semantics and validation as the CPU kernels; Ctx is not used (no threads / GEMM path on the GPU).
// Errors: Code::Unsupported when this build has no CUDA kernels (native/cpu/loss_cuda_stub.cc) or no GPU is
// usable now; Code::Cuda for a failing CUDA runtime call.
#pragma once
#include <cstdint>

#include "mimic/loss.h"

namespace mimic::loss {

enum class Backend { Cpu, Cuda };

double clone_loss_cuda(int64_t B, int64_t D, const float* s, const float* t, bool teacher_normalized, float* ds);
double attention_loss_cuda(int64_t B, int p, const AttentionLayer* layers, int64_t n_layers, double* layer_losses);
double ntxent_loss_cuda(int64_t B, int64_t D, const float* u, double tau, float* du);

// Backend dispatch (ctx is used by the CPU kernels only).
inline double clone_loss(Backend be, int64_t B, int64_t D, const float* s, const float* t, bool teacher_normalized,
                         float* ds, const Ctx& ctx = {}) {
  return be == Backend::Cuda ? clone_loss_cuda(B, D, s, t, teacher_normalized, ds)
                             : clone_loss(B, D, s, t, teacher_normalized, ds, ctx);
}
inline double attention_loss(Backend be, int64_t B, int p, const AttentionLayer* layers, int64_t n_layers,
                             double* layer_losses, const Ctx& ctx = {}) {
  return be == Backend::Cuda ? attention_loss_cuda(B, p, layers, n_layers, layer_losses)
                             : attention_loss(B, p, layers, n_layers, layer_losses, ctx);
}
inline double ntxent_loss(Backend be, int64_t B, int64_t D, const float* u, double tau, float* du,
                          const Ctx& ctx = {}) {
  return be == Backend::Cuda ? ntxent_loss_cuda(B, D, u, tau, du) : ntxent_loss(B, D, u, tau, du, ctx);
}

}  // namespace mimic::loss
