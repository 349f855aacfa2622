// Running log-sum-exp state as (max exponent m, scaled sum s = sum exp(x - m)), shared by the CPU and CUDA
// engines so the merge maths is tested on CPU even without a GPU. s == 0 means "empty" (m is then ignored).
#pragma once
#include <math.h>

#ifdef __CUDACC__
#define MIMIC_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MIMIC_HOST_DEVICE inline
#endif

namespace mimic::kde::detail {

// Folds a partial (mt, st) into the running pair (m, s) without overflow: the larger max becomes the reference.
MIMIC_HOST_DEVICE void lse_merge(double& m, double& s, double mt, double st) {
  if (!(st > 0)) return;
  if (s == 0) {
    m = mt;
    s = st;
  } else if (mt > m) {
    s = s * ::exp(m - mt) + st;
    m = mt;
  } else {
    s += st * ::exp(mt - m);
  }
}

}  // namespace mimic::kde::detail
