// Conversions between JS values and engine types, with argument validation. Every failure throws a JS Error
// whose `code` is stable (E_INVALID_ARGUMENT, E_SHAPE_MISMATCH, E_DTYPE, E_NON_FINITE, ...) and whose message
// names the offending argument.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>

#include "mimic/status.h"

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

// Index of the first NaN/Inf, or -1. Run off the event loop for large arrays.
inline int64_t first_non_finite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
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
