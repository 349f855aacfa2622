// Builds without CUDA (nvcc not found, or MIMIC_DISABLE_CUDA): the CUDA loss kernels of mimic/loss_cuda.h throw
// Code::Unsupported. With CUDA they live in native/cuda/loss_cuda.cu.
#ifndef MIMIC_WITH_CUDA
#include <string>

#include "mimic/loss_cuda.h"
#include "mimic/status.h"

namespace mimic::loss {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(Code::Unsupported, std::string(what) +
                                     ": backend 'cuda': this build has no CUDA kernels (built without CUDA: nvcc not "
                                     "found at build time, or MIMIC_DISABLE_CUDA set)");
}
}  // namespace

double clone_loss_cuda(int64_t, int64_t, const float*, const float*, bool, float*) { no_cuda("clone loss"); }
double attention_loss_cuda(int64_t, int, const AttentionLayer*, int64_t, double*) { no_cuda("attention loss"); }
double ntxent_loss_cuda(int64_t, int64_t, const float*, double, float*) { no_cuda("NT-Xent"); }

}  // namespace mimic::loss
#endif  // MIMIC_WITH_CUDA
