// Shared by the image bindings (augment, perturb): option parsing (option names, number arrays, per-channel
// mean/std, seed/counter, threads; messages name the argument) and their sync / async entry points.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "async_task.h"
#include "call_copies.h"
#include "convert.h"
#include "shape_args.h"

namespace mimic::bind {

// Throws for a key of `o` (not undefined) outside `allowed`.
inline void reject_unknown(Napi::Env env, Napi::Object o, const std::string& name,
                           const std::set<std::string>& allowed) {
  Napi::Array names = o.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string k = names.Get(i).ToString().Utf8Value();
    if (!allowed.count(k) && !o.Get(k).IsUndefined())
      fail(env, Code::InvalidArgument, name + "." + k + " is not a known option");
  }
}

// An array of min_len..max_len finite numbers.
inline std::vector<double> get_numbers(Napi::Env env, Napi::Value v, const std::string& name, size_t min_len,
                                       size_t max_len) {
  const Napi::Array a = sized_array(env, v, name, min_len, max_len, "numbers");
  std::vector<double> r;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) fail(env, Code::InvalidArgument, name + "[" + str(i) + "] must be a number");
    double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) fail(env, Code::NonFinite, name + "[" + str(i) + "] must be finite");
    r.push_back(d);
  }
  return r;
}

inline void set_cifar10(std::vector<double>& mean, std::vector<double>& sd) {
  mean = {0.4914, 0.4822, 0.4465};
  sd = {0.2023, 0.1994, 0.2010};
}

// `n.mean` and `n.std` (named `name`), one entry per channel; the caller checks the std values.
inline void get_mean_std(Napi::Env env, Napi::Object n, const std::string& name, int channels,
                         std::vector<double>& mean, std::vector<double>& sd) {
  auto s = [](int64_t x) { return std::to_string(x); };
  if (!has(n, "mean") || !has(n, "std")) fail(env, Code::InvalidArgument, name + " needs both mean and std");
  mean = get_numbers(env, n.Get("mean"), name + ".mean", 1, 3);
  sd = get_numbers(env, n.Get("std"), name + ".std", 1, 3);
  if (mean.size() != static_cast<size_t>(channels) || sd.size() != static_cast<size_t>(channels))
    fail(env, Code::ShapeMismatch,
         name + ".mean/std must have one entry per channel (" + s(channels) + "), got " + s(mean.size()) + " and " +
             s(sd.size()));
}

// The required `seed` and `counter` (integers >= 0).
inline void get_seed_counter(Napi::Env env, Napi::Object o, const std::string& name, uint64_t& seed,
                             uint64_t& counter) {
  seed = static_cast<uint64_t>(get_int(env, o, "seed", name, 0, 0, true));
  counter = static_cast<uint64_t>(get_int(env, o, "counter", name, 0, 0, true));
}

// `threads` (default 0: all), capped at 4096.
inline int get_threads(Napi::Env env, Napi::Object o, const std::string& name) {
  return static_cast<int>(std::min<int64_t>(get_int(env, o, "threads", name, 0, 0), 4096));
}

// A call that parses its argument, runs `run` (throws mimic::Error) and returns out(env, args, result); engine
// errors start with `prefix`. call_now runs on this thread and throws; call_async runs on a libuv worker and
// returns a promise. Before queueing, call_async has own(args, copies) point the arguments at private copies of what
// the work reads (CallCopies, made on this thread), so the caller may transfer or reuse its arrays at once.
template <class Args, class Result>
Napi::Value call_now(const Napi::CallbackInfo& info, Args (*parse)(Napi::Env, Napi::Value),
                     void (*run)(const Args&, Result&), Napi::Object (*out)(Napi::Env, const Args&, const Result&),
                     const std::string& prefix) {
  Napi::Env env = info.Env();
  try {
    Args a = parse(env, info[0]);
    Result r;
    run_checked(env, [&] { run(a, r); }, prefix);
    return out(env, a, r);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    make_error(env, Code::Internal, prefix + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

template <class Args, class Result>
Napi::Value call_async(const Napi::CallbackInfo& info, Args (*parse)(Napi::Env, Napi::Value),
                       void (*run)(const Args&, Result&), Napi::Object (*out)(Napi::Env, const Args&, const Result&),
                       void (*own)(Args&, CallCopies&), const std::string& prefix) {
  Napi::Env env = info.Env();
  return promise_or_reject(env, [&] {
    struct Job {
      Args args;
      Result result;
      CallCopies copies;
    };
    auto job = std::make_shared<Job>();
    job->args = parse(env, info[0]);
    own(job->args, job->copies);
    return queue_task(env, "generic", {}, [job, run] { run(job->args, job->result); },
                      [job, out](Napi::Env e) { return out(e, job->args, job->result); }, prefix);
  });
}

}  // namespace mimic::bind
