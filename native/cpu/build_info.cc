#include "kde_internal.h"
#include "mimic/cpu.h"
#include "mimic/device.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic {

BuildInfo build_info() {
  BuildInfo b;
#ifdef MIMIC_WITH_CUDA
  b.cuda_compiled = true;
  cuda::DeviceQuery q = cuda::query_devices();
  b.gpu_count = q.count;
  b.gpu_available = q.count > 0;
  b.gpu_name = q.name;
  b.cuda_message = q.message;
#else
  b.cuda_message = "built without CUDA (nvcc not found at build time, or MIMIC_DISABLE_CUDA set)";
#endif
  b.avx2 = cpu_features().avx2;
  b.fma = cpu_features().fma;
  b.kernel_path = path_name(resolve_path(KernelPath::Auto));
  b.threads = ThreadPool::global().size();
  return b;
}

#ifndef MIMIC_WITH_CUDA
namespace kde::detail {
Result estimate_cuda(const Request&) {
  throw Error(Code::Unsupported, "backend 'cuda': this build has no CUDA kernels (nvcc not found at build time, or MIMIC_DISABLE_CUDA set)");
}
}  // namespace kde::detail
#endif

}  // namespace mimic
