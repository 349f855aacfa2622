// GPU discovery: cudaGetDeviceCount failing (no driver, no device) means "no GPU", never an error.
#include <cuda_runtime.h>

#include "mimic/device.h"

namespace mimic::cuda {

DeviceQuery query_devices() {
  DeviceQuery q;
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    q.message = std::string("no usable GPU: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return q;
  }
  q.count = n;
  if (n > 0) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) == cudaSuccess) q.name = p.name;
  } else {
    q.message = "no CUDA device found";
  }
  return q;
}

}  // namespace mimic::cuda
