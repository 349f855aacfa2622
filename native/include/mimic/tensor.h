// A non-owning view of a strided tensor: shape, strides (in elements), dtype, device and a pointer.
// The view never frees anything; whoever created the buffer owns it and must outlive the view.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "mimic/status.h"

namespace mimic {

enum class DType : uint8_t { F32, F64, I32, U8 };
enum class Device : uint8_t { CPU, CUDA };

inline int64_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::U8: return "uint8";
  }
  return "?";
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }

struct TensorView {
  static constexpr int kMaxDims = 6;

  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  // A dense row-major view over `data`.
  template <class T>
  static TensorView contiguous(T* data, std::initializer_list<int64_t> dims, Device dev = Device::CPU) {
    TensorView v;
    v.data = const_cast<void*>(static_cast<const void*>(data));
    v.dtype = dtype_of<std::remove_const_t<T>>();
    v.device = dev;
    MIMIC_REQUIRE(dims.size() <= kMaxDims, Code::InvalidArgument, "tensor has too many dimensions");
    v.ndim = static_cast<int>(dims.size());
    int i = 0;
    for (int64_t d : dims) {
      MIMIC_REQUIRE(d >= 0, Code::InvalidArgument, "negative dimension");
      v.shape[i++] = d;
    }
    int64_t s = 1;
    for (int k = v.ndim - 1; k >= 0; --k) {
      v.strides[k] = s;
      s *= v.shape[k];
    }
    return v;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }

  bool is_contiguous() const {
    int64_t s = 1;
    for (int k = ndim - 1; k >= 0; --k) {
      if (shape[k] != 1 && strides[k] != s) return false;
      s *= shape[k];
    }
    return true;
  }

  // Typed pointer; throws if the element type differs, so a float32 kernel never reads float64 bytes.
  template <class T>
  T* ptr() const {
    MIMIC_REQUIRE(dtype == dtype_of<std::remove_const_t<T>>(), Code::DType,
                  std::string("tensor is ") + dtype_name(dtype) + ", expected " +
                      dtype_name(dtype_of<std::remove_const_t<T>>()));
    return static_cast<T*>(data);
  }
};

}  // namespace mimic
