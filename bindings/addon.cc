// The addon's entry point: registers every exported function. No maths here.
#include <napi.h>

#include "exports.h"
#include "mimic/threadpool.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // This thread runs an event loop (the main thread or a worker's): its synchronous calls never queue behind
  // another call's parallel region, they run alone instead.
  mimic::ThreadPool::mark_no_wait_thread();
  mimic::bind::init_info(env, exports);
  mimic::bind::init_gemm(env, exports);
  mimic::bind::init_kde(env, exports);
  mimic::bind::init_ops(env, exports);
  mimic::bind::init_optim(env, exports);
  mimic::bind::init_network(env, exports);
  mimic::bind::init_losses(env, exports);
  mimic::bind::init_augment(env, exports);
  mimic::bind::init_perturb(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(mimic, Init)
