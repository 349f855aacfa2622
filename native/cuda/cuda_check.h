// CUDA runtime errors become mimic::Error(Code::Cuda) with the failing call named.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "mimic/status.h"

#define MIMIC_CUDA(call)                                                                                     \
  do {                                                                                                       \
    cudaError_t err_ = (call);                                                                               \
    if (err_ != cudaSuccess)                                                                                 \
      throw ::mimic::Error(::mimic::Code::Cuda, std::string(#call) + " failed: " + cudaGetErrorString(err_)); \
  } while (0)

namespace mimic::cuda {

// Owning device buffer (freed on scope exit, also when an exception unwinds).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n) MIMIC_CUDA(cudaMalloc(&p_, n * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const T* host, size_t n) { MIMIC_CUDA(cudaMemcpy(p_, host, n * sizeof(T), cudaMemcpyHostToDevice)); }
  void download(T* host, size_t n) const { MIMIC_CUDA(cudaMemcpy(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost)); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace mimic::cuda
