// buildInfo(), setThreads(n), setKernelPath(p), releaseCopyBuffers(), copyBufferBytes(): what the engine was built with and process-wide settings.
#include "call_copies.h"
#include "convert.h"
#include "exports.h"
#include "mimic/device.h"
#include "mimic/threadpool.h"

namespace mimic::bind {

namespace {
Napi::Value BuildInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BuildInfo b = build_info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cudaCompiled", b.cuda_compiled);
  o.Set("gpuAvailable", b.gpu_available);
  o.Set("gpuCount", b.gpu_count);
  o.Set("gpuName", b.gpu_name);
  o.Set("cudaMessage", b.cuda_message);
  o.Set("avx2", b.avx2);
  o.Set("fma", b.fma);
  o.Set("kernelPath", b.kernel_path);
  o.Set("threads", b.threads);
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) fail(env, Code::InvalidArgument, "threads must be a number");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (n != std::floor(n) || n < 0 || n > 1024)
    fail(env, Code::InvalidArgument, "threads must be an integer in [0, 1024] (0 = all cores)");
  ThreadPool::set_global_threads(static_cast<int>(n));
  return Napi::Number::New(env, ThreadPool::global().size());
}

// The async calls' pooled copy buffers (call_copies.h): free them now; the bytes kept.
Napi::Value ReleaseCopyBuffers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CopyPool::instance().release()));
}
Napi::Value CopyBufferBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CopyPool::instance().kept_bytes()));
}

Napi::Value SetKernelPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail(env, Code::InvalidArgument, "path must be a string");
  KernelPath p = parse_path(env, info[0].As<Napi::String>().Utf8Value(), "path");
  if (p == KernelPath::Avx2 && !(cpu_features().avx2 && cpu_features().fma))
    fail(env, Code::Unsupported, "path 'avx2': this CPU lacks AVX2 or FMA");
  if (p == KernelPath::Avx512 && !path_supported(KernelPath::Avx512))
    fail(env, Code::Unsupported, "path 'avx512': this CPU lacks AVX-512F/VL (or AVX2/FMA)");
  force_kernel_path(p);
  return env.Undefined();
}
}  // namespace

void init_info(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfoJs, "buildInfo"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("setKernelPath", Napi::Function::New(env, SetKernelPath, "setKernelPath"));
  exports.Set("releaseCopyBuffers", Napi::Function::New(env, ReleaseCopyBuffers, "releaseCopyBuffers"));
  exports.Set("copyBufferBytes", Napi::Function::New(env, CopyBufferBytes, "copyBufferBytes"));
}

}  // namespace mimic::bind
