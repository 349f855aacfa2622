// What this build of the engine can do, and which GPU (if any) it sees.
#pragma once
#include <string>

namespace mimic {

struct BuildInfo {
  bool cuda_compiled = false;  // the CUDA kernels were built (nvcc was found)
  bool gpu_available = false;  // a CUDA device is usable now
  int gpu_count = 0;
  std::string gpu_name;        // first device's name
  std::string cuda_message;    // why no GPU is usable, when it is not
  bool avx2 = false, fma = false;
  std::string kernel_path;     // what Auto resolves to: "avx2" or "generic"
  int threads = 1;             // global pool size
};

BuildInfo build_info();

namespace cuda {
// Implemented in native/cuda when compiled; cudaGetDeviceCount failing means "no GPU", never an error.
struct DeviceQuery {
  int count = 0;
  std::string name;
  std::string message;
};
DeviceQuery query_devices();
}  // namespace cuda

}  // namespace mimic
