// The BatchNorm forward's per-channel body (batchnorm_kernels.h) built for AVX-512 (CMakeLists: the *_avx512.cc
// flags plus -ffp-contract=off, as op_batchnorm.cc); called only when that path resolved.
#include "batchnorm_kernels.h"

namespace mimic::ops::bn {

void forward_channels_avx512(bool relu, const ForwardArgs& a, int64_t c0, int64_t c1) {
  if (relu)
    forward_channels<true>(a, c0, c1);
  else
    forward_channels<false>(a, c0, c1);
}

}  // namespace mimic::ops::bn
