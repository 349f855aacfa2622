// Running engine work from a binding, now (run_checked) or off the event loop (queue_task). Either way an engine
// failure (mimic::Error, bad_alloc, std::exception) becomes the JS error of make_error: its code, its message.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "convert.h"

namespace mimic::bind {

// Runs fn() now; an engine failure is thrown as a JS error whose message starts with `prefix`.
template <class Fn>
void run_checked(Napi::Env env, Fn&& fn, const std::string& prefix = "") {
  Status st = guarded(std::forward<Fn>(fn));
  if (!st.is_ok()) throw make_error(env, st.code(), prefix + st.message());
}

// work() runs on a libuv thread and may touch native memory only: the JS values in `keep` (the objects that own
// that memory) stay referenced until the promise settles. Then, on the main thread, `settled` runs (if given)
// and the promise resolves with result(env), or rejects with the engine error, its message after `prefix`.
class AsyncTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  AsyncTask(Napi::Env env, const char* resource, const std::vector<Napi::Value>& keep, Work work, Result result,
            std::string prefix, std::function<void()> settled)
      : Napi::AsyncWorker(env, resource),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        result_(std::move(result)),
        prefix_(std::move(prefix)),
        settled_(std::move(settled)) {
    for (const auto& v : keep) keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = guarded(work_); }
  void OnOK() override {
    if (settled_) settled_();
    Napi::Env env = Env();
    if (!status_.is_ok()) {
      deferred_.Reject(make_error(env, status_.code(), prefix_ + status_.message()).Value());
      return;
    }
    // A throw here would leave the promise pending: reject instead.
    try {
      deferred_.Resolve(result_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(make_error(env, Code::Internal, e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    if (settled_) settled_();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  Work work_;
  Result result_;
  std::string prefix_;
  std::function<void()> settled_;
  Status status_;
};

// Queues an AsyncTask (Node deletes it once settled) and returns its promise.
inline Napi::Promise queue_task(Napi::Env env, const char* resource, const std::vector<Napi::Value>& keep,
                                AsyncTask::Work work, AsyncTask::Result result, std::string prefix = "",
                                std::function<void()> settled = {}) {
  auto* task = new AsyncTask(env, resource, keep, std::move(work), std::move(result), std::move(prefix),
                             std::move(settled));
  Napi::Promise p = task->promise();
  task->Queue();
  return p;
}

// For the APIs that never throw: a synchronous failure of start() (bad arguments) becomes a rejected promise.
template <class Start>
Napi::Value promise_or_reject(Napi::Env env, Start&& start) {
  try {
    return start();
  } catch (const Napi::Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  } catch (const std::exception& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(make_error(env, Code::Internal, e.what()).Value());
    return d.Promise();
  }
}

}  // namespace mimic::bind
