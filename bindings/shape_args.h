// Shape-valued arguments shared by the op and loss bindings: integer arrays validated with messages that name
// the argument, and small formatting helpers.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "convert.h"

namespace mimic::bind {

using Shape = std::vector<int64_t>;

inline std::string str(int64_t v) { return std::to_string(v); }
inline std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + str(s[i]);
  return r + "]";
}
inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// v as an array of min_len..max_len entries ("<name> must be an array of <what>" / "must have N entries" otherwise).
inline Napi::Array sized_array(Napi::Env env, Napi::Value v, const std::string& name, size_t min_len, size_t max_len,
                               const char* what) {
  if (!v.IsArray()) fail(env, Code::InvalidArgument, name + " must be an array of " + what);
  auto a = v.As<Napi::Array>();
  if (a.Length() < min_len || a.Length() > max_len)
    fail(env, Code::InvalidArgument,
         name + " must have " + (min_len == max_len ? str(min_len) : str(min_len) + " to " + str(max_len)) +
             " entries (got " + str(a.Length()) + ")");
  return a;
}

// An integer array of length in [min_len, max_len], entries >= min_value.
inline Shape get_ints(Napi::Env env, Napi::Object o, const char* key, const std::string& fn, size_t min_len, size_t max_len,
               int64_t min_value, bool required, const Shape& dflt = {}) {
  const std::string name = fn + "." + key;
  if (!has(o, key)) {
    if (required) fail(env, Code::InvalidArgument, name + " is required");
    return dflt;
  }
  const Napi::Array a = sized_array(env, o.Get(key), name, min_len, max_len, "integers");
  Shape r;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1e300;
    if (!e.IsNumber() || d != std::floor(d) || d < static_cast<double>(min_value) || d > 9.0e15)
      fail(env, Code::InvalidArgument,
           name + "[" + str(i) + "] must be an integer >= " + str(min_value));
    r.push_back(static_cast<int64_t>(d));
  }
  return r;
}

}  // namespace mimic::bind
