// Conversions between JS values and engine types, with argument validation. Every failure throws a JS Error
// whose `code` is stable (E_INVALID_ARGUMENT, E_SHAPE_MISMATCH, E_DTYPE, E_NON_FINITE, ...) and whose message
// names the offending argument.
#pragma once
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::bind {

inline Napi::Error make_error(Napi::Env env, Code code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code_name(code)));
  return e;
}

[[noreturn]] inline void fail(Napi::Env env, Code code, const std::string& message) {
  throw make_error(env, code, message);
}

inline Napi::Object as_object(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsObject()) fail(env, Code::InvalidArgument, name + " must be an object");
  return v.As<Napi::Object>();
}

inline bool has(Napi::Object o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

inline double get_number(Napi::Env env, Napi::Object o, const char* key, const std::string& name, double dflt,
                         bool required = false) {
  if (!has(o, key)) {
    if (required) fail(env, Code::InvalidArgument, name + "." + key + " is required");
    return dflt;
  }
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(env, Code::InvalidArgument, name + "." + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) fail(env, Code::NonFinite, name + "." + key + " must be finite");
  return d;
}

inline int64_t get_int(Napi::Env env, Napi::Object o, const char* key, const std::string& name, int64_t dflt,
                       int64_t min, bool required = false) {
  double d = get_number(env, o, key, name, static_cast<double>(dflt), required);
  if (d != std::floor(d) || d < static_cast<double>(min) || d > 9.0e15)
    fail(env, Code::InvalidArgument,
         name + "." + key + " must be an integer >= " + std::to_string(min) + " (got " + std::to_string(d) + ")");
  return static_cast<int64_t>(d);
}

inline std::string get_string(Napi::Env env, Napi::Object o, const char* key, const std::string& name,
                              const std::string& dflt) {
  if (!has(o, key)) return dflt;
  Napi::Value v = o.Get(key);
  if (!v.IsString()) fail(env, Code::InvalidArgument, name + "." + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline bool get_bool(Napi::Env env, Napi::Object o, const char* key, const std::string& name, bool dflt) {
  if (!has(o, key)) return dflt;
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) fail(env, Code::InvalidArgument, name + "." + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// A typed array of the expected element type, with its element count.
template <class T>
struct ArrayArg {
  T* data = nullptr;
  size_t length = 0;
};

template <class T>
ArrayArg<T> get_typed(Napi::Env env, Napi::Value v, const std::string& name, napi_typedarray_type want,
                      const char* want_name) {
  if (!v.IsTypedArray()) fail(env, Code::DType, name + " must be a " + want_name);
  auto ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != want) fail(env, Code::DType, name + " must be a " + want_name);
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return {reinterpret_cast<T*>(base), ta.ElementLength()};
}

// Whether a typed array's buffer has been detached (transferred): it then has 0 elements at a null address.
inline bool is_detached(Napi::Value v) {
  if (!v.IsTypedArray()) return false;
  auto ta = v.As<Napi::TypedArray>();
  return ta.ArrayBuffer().IsDetached();
}

// Index of the first NaN/Inf, or -1. Blocks are scanned with a branch-free exponent test (vectorisable) on the
// thread pool; only a block that has a hit is searched element by element. Run off the event loop.
inline int64_t first_non_finite(const float* x, size_t n, int threads) {
  constexpr size_t kBlock = 1 << 14;
  const int64_t blocks = static_cast<int64_t>((n + kBlock - 1) / kBlock);
  std::atomic<int64_t> first{INT64_MAX};
  parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1 && b * static_cast<int64_t>(kBlock) < first.load(std::memory_order_relaxed); ++b) {
      const size_t lo = static_cast<size_t>(b) * kBlock, hi = std::min(n, lo + kBlock);
      uint32_t bad = 0;
      for (size_t i = lo; i < hi; ++i) {
        uint32_t bits;
        std::memcpy(&bits, x + i, sizeof bits);
        bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
      }
      if (!bad) continue;
      for (size_t i = lo; i < hi; ++i)
        if (!std::isfinite(x[i])) {
          int64_t cur = first.load();
          while (static_cast<int64_t>(i) < cur && !first.compare_exchange_weak(cur, static_cast<int64_t>(i))) {
          }
          break;
        }
    }
  });
  const int64_t f = first.load();
  return f == INT64_MAX ? -1 : f;
}


}  // namespace mimic::bind

#include "mimic/cpu.h"
namespace mimic::bind {
inline KernelPath parse_path(Napi::Env env, const std::string& s, const std::string& name) {
  if (s == "auto") return KernelPath::Auto;
  if (s == "generic") return KernelPath::Generic;
  if (s == "avx2") return KernelPath::Avx2;
  if (s == "avx512") return KernelPath::Avx512;
  fail(env, Code::InvalidArgument, name + " must be 'auto', 'generic', 'avx2' or 'avx512' (got '" + s + "')");
}
}  // namespace mimic::bind
