// `losses`: the fused MIMIC loss kernels of mimic/loss.h as synchronous functions, or with `async: true` as Promises
// resolved off the event loop (the training engine calls the kernels natively). Each takes one args object and
// returns a new object; nothing passed in is modified, except an attention layer's optional `grad`, the array its
// gradient is written to (instead of a new one). An async call copies its input arrays when it is made and writes a
// `grad` when it settles (rejecting if that array was detached meanwhile), unless `borrow: true`: then it reads and
// writes them in place on the worker. `losses.<name>` runs the float32 kernel on Float32Arrays, `losses.ref.<name>`
// the float64 reference on Float64Arrays, with the same arguments:
//   clone({student, teacher, shape:[B,D], teacherNormalized?:false, threads?}) -> {loss, grad}
//   attention({layers:[{student, teacher, studentShape:[B,Cs,H,W], teacherShape:[B,Ct,H,W], beta?:1, grad?}], p?:2,
//              threads?}) -> {loss, layerLosses:number[], grads:(Float32Array|Float64Array)[]}  (grads[l] is layer
//              l's `grad` when given: B*Cs*H*W elements, not overlapping any input)
//   ntXent({u, shape:[2B,D], tau?:0.5, threads?, path?}) -> {loss, grad}
//   backend?: 'cpu' (default) | 'cuda' on the float32 kernels (mimic/loss_cuda.h; E_UNSUPPORTED without a CUDA
//   build or a usable GPU); the references take 'cpu' only.
//   ref only: attentionMap({x, shape:[B,C,H,W], p?:2}) -> {a (B*H*W)};
//             attentionNormalize({a, shape:[B,S]}) -> {aHat}     (a / (||a[b]|| + 1e-6))
// Errors: E_DTYPE (wrong array type), E_SHAPE_MISMATCH (lengths vs shapes, shapes that disagree),
// E_INVALID_ARGUMENT (bad option), E_NON_FINITE (NaN/Inf in an input), each naming the argument.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "async_task.h"
#include "call_copies.h"
#include "convert.h"
#include "shape_args.h"
#include "exports.h"
#include "mimic/device.h"
#include "mimic/loss.h"
#include "mimic/loss_cuda.h"
#include "mimic/loss_ref.h"

namespace mimic::bind {

namespace {

// A required shape of exactly `len` positive integers.
Shape get_shape(Napi::Env env, Napi::Object o, const char* key, const std::string& fn, size_t len) {
  return get_ints(env, o, key, fn, len, len, 1, true);
}

template <class T> struct Kind;
template <> struct Kind<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "Float32Array";
  static constexpr const char* prefix = "losses.";
};
template <> struct Kind<double> {
  static constexpr napi_typedarray_type type = napi_float64_array;
  static constexpr const char* name = "Float64Array";
  static constexpr const char* prefix = "losses.ref.";
};

template <class T>
bool all_finite(const T* x, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    return first_non_finite(x, static_cast<size_t>(n), 1) < 0;
  } else {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) return false;
    return true;
  }
}

// The array at o[key] with exactly len elements, all finite; a private copy of it with `copies` (async calls).
template <class T>
const T* get_arr(Napi::Env env, Napi::Object o, const char* key, const std::string& name, int64_t len,
                 CallCopies* copies = nullptr) {
  if (!has(o, key)) fail(env, Code::InvalidArgument, name + " is required");
  auto a = get_typed<T>(env, o.Get(key), name, Kind<T>::type, Kind<T>::name);
  if (static_cast<int64_t>(a.length) != len)
    fail(env, Code::ShapeMismatch, name + " has " + str(a.length) + " elements, the shape needs " + str(len));
  if (!all_finite(a.data, len)) fail(env, Code::NonFinite, name + " contains NaN or Inf");
  return copies ? copies->hold(a.data, static_cast<size_t>(len)) : a.data;
}

// `async` and `borrow`: an async call reads copies of its input arrays, made now (the caller may transfer or reuse
// them at once), unless it borrows them (the training loops, whose arrays stay untouched until the promise
// settles). `copies` is null when nothing is copied.
struct Mode {
  bool async = false;
  std::shared_ptr<CallCopies> copies;
};
Mode get_mode(Napi::Env env, Napi::Object o, const std::string& fn) {
  Mode m;
  m.async = get_bool(env, o, "async", fn, false);
  const bool borrow = get_bool(env, o, "borrow", fn, false);
  if (m.async && !borrow) m.copies = std::make_shared<CallCopies>();
  return m;
}

// Sync: run now and return the result; async (args.async === true): run `work` off the event loop and return a
// promise. `work` touches native memory only: args holds every input array (or mode.copies their copies), result
// the gradient arrays. `finish` fills the result on the main thread (and may throw: the promise then rejects).
template <class Work>
Napi::Value run_or_queue(Napi::Env env, Napi::Object args, Napi::Object result, const Mode& mode, Work work,
                         std::function<void(Napi::Env, Napi::Object&)> finish) {
  if (!mode.async) {
    run_checked(env, work);
    finish(env, result);
    return result;
  }
  auto res = std::make_shared<Napi::ObjectReference>(Napi::Persistent(result));
  auto copies = mode.copies;  // alive until the task settles
  return queue_task(env, "mimic.loss", {args}, [work, copies] { work(); }, [res, finish, copies](Napi::Env e) {
    Napi::Object r = res->Value();
    finish(e, r);
    return r;
  });
}

struct Opts {
  loss::Ctx ctx;
  loss::Backend backend = loss::Backend::Cpu;
};

template <class T>
Opts get_opts(Napi::Env env, Napi::Object o, const std::string& fn) {
  Opts r;
  r.ctx.threads = static_cast<int>(get_int(env, o, "threads", fn, 0, 0));
  r.ctx.path = parse_path(env, get_string(env, o, "path", fn + ".path", "auto"), fn + ".path");
  const std::string be = get_string(env, o, "backend", fn + ".backend", "cpu");
  if (be == "cuda") {
    if constexpr (!std::is_same_v<T, float>)
      fail(env, Code::InvalidArgument, fn + ".backend: the float64 references run on the CPU only (got 'cuda')");
#ifdef MIMIC_WITH_CUDA
    const cuda::DeviceQuery dq = cuda::query_devices();
    if (dq.count <= 0) fail(env, Code::Unsupported, fn + ": backend 'cuda': " + dq.message);
#else
    fail(env, Code::Unsupported,
         fn + ": backend 'cuda': this build has no CUDA kernels (built without CUDA: nvcc not found at build time, "
              "or MIMIC_DISABLE_CUDA set)");
#endif
    r.backend = loss::Backend::Cuda;
  } else if (be != "cpu") {
    fail(env, Code::InvalidArgument, fn + ".backend must be 'cpu' or 'cuda' (got '" + be + "')");
  }
  return r;
}

double clone_k(int64_t B, int64_t D, const float* s, const float* t, bool tn, float* ds, const Opts& o) {
  return loss::clone_loss(o.backend, B, D, s, t, tn, ds, o.ctx);
}
double clone_k(int64_t B, int64_t D, const double* s, const double* t, bool tn, double* ds, const Opts&) {
  return ref::clone_loss(B, D, s, t, tn, ds);
}
double ntxent_k(int64_t B, int64_t D, const float* u, double tau, float* du, const Opts& o) {
  return loss::ntxent_loss(o.backend, B, D, u, tau, du, o.ctx);
}
double ntxent_k(int64_t B, int64_t D, const double* u, double tau, double* du, const Opts&) {
  return ref::ntxent_loss(B, D, u, tau, du);
}

template <class T>
Napi::Value Clone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(Kind<T>::prefix) + "clone";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape shape = get_shape(env, o, "shape", fn, 2);
  const Mode mode = get_mode(env, o, fn);
  const T* s = get_arr<T>(env, o, "student", fn + ".student", numel(shape), mode.copies.get());
  const T* t = get_arr<T>(env, o, "teacher", fn + ".teacher", numel(shape), mode.copies.get());
  const bool tn = get_bool(env, o, "teacherNormalized", fn, false);
  const Opts opts = get_opts<T>(env, o, fn);
  auto grad = Napi::TypedArrayOf<T>::New(env, static_cast<size_t>(numel(shape)));
  Napi::Object r = Napi::Object::New(env);
  r.Set("grad", grad);
  auto L = std::make_shared<double>(0.0);
  T* g = grad.Data();
  return run_or_queue(env, o, r, mode, [=] { *L = clone_k(shape[0], shape[1], s, t, tn, g, opts); },
                      [L](Napi::Env e, Napi::Object& res) { res.Set("loss", Napi::Number::New(e, *L)); });
}

template <class T>
Napi::Value NtXent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(Kind<T>::prefix) + "ntXent";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape shape = get_shape(env, o, "shape", fn, 2);
  if (shape[0] % 2 != 0)
    fail(env, Code::ShapeMismatch, fn + ".shape[0] must be even (2B rows: two views), got " + str(shape[0]));
  const Mode mode = get_mode(env, o, fn);
  const T* u = get_arr<T>(env, o, "u", fn + ".u", numel(shape), mode.copies.get());
  const double tau = get_number(env, o, "tau", fn, 0.5);
  if (!(tau > 0)) fail(env, Code::InvalidArgument, fn + ".tau must be > 0");
  const Opts opts = get_opts<T>(env, o, fn);
  auto grad = Napi::TypedArrayOf<T>::New(env, static_cast<size_t>(numel(shape)));
  Napi::Object r = Napi::Object::New(env);
  r.Set("grad", grad);
  auto L = std::make_shared<double>(0.0);
  T* g = grad.Data();
  return run_or_queue(env, o, r, mode, [=] { *L = ntxent_k(shape[0] / 2, shape[1], u, tau, g, opts); },
                      [L](Napi::Env e, Napi::Object& res) { res.Set("loss", Napi::Number::New(e, *L)); });
}

int get_p(Napi::Env env, Napi::Object o, const std::string& fn) {
  const int64_t p = get_int(env, o, "p", fn, 2, 1);
  if (p > 16) fail(env, Code::InvalidArgument, fn + ".p must be an integer in [1, 16] (got " + str(p) + ")");
  return static_cast<int>(p);
}

template <class T>
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(Kind<T>::prefix) + "attention";
  Napi::Object o = as_object(env, info[0], fn + " args");
  if (!has(o, "layers") || !o.Get("layers").IsArray())
    fail(env, Code::InvalidArgument, fn + ".layers must be an array of layer objects");
  auto arr = o.Get("layers").As<Napi::Array>();
  const uint32_t n = arr.Length();
  if (n == 0) fail(env, Code::InvalidArgument, fn + ".layers must not be empty");
  const int p = get_p(env, o, fn);
  const Opts opts = get_opts<T>(env, o, fn);
  const Mode mode = get_mode(env, o, fn);
  // With copies, a caller's `grad` is written into a private buffer first, copied into it when the call settles.
  struct Written {
    uint32_t layer;
    std::shared_ptr<Napi::ObjectReference> dst;
    const T* src;
    size_t len;
  };
  std::vector<Written> written;
  // The caller's arrays, for the overlap check: a `grad` may share memory with no input and no other `grad` (the
  // kernel would read what it wrote, differently in place than on copies).
  struct Range {
    const T* begin;
    const T* end;
    std::string what;
  };
  std::vector<Range> inputs, outputs;
  std::vector<loss::AttentionLayer> lf(n);
  std::vector<ref::AttentionLayerRef> ld(n);
  Napi::Array grads = Napi::Array::New(env, n);
  int64_t B = 0;
  for (uint32_t l = 0; l < n; ++l) {
    const std::string ln = fn + ".layers[" + str(l) + "]";
    Napi::Object lo = as_object(env, arr.Get(l), ln);
    const Shape ss = get_shape(env, lo, "studentShape", ln, 4);
    const Shape ts = get_shape(env, lo, "teacherShape", ln, 4);
    if (l == 0) B = ss[0];
    if (ss[0] != B)
      fail(env, Code::ShapeMismatch, ln + ".studentShape[0] (" + str(ss[0]) + ") differs from the batch size " + str(B));
    if (ts[0] != ss[0] || ts[2] != ss[2] || ts[3] != ss[3])
      fail(env, Code::ShapeMismatch,
           ln + ".teacherShape " + shape_str(ts) + " must match studentShape " + shape_str(ss) + " in B, H and W");
    const T* s_in = get_arr<T>(env, lo, "student", ln + ".student", numel(ss));
    const T* t_in = get_arr<T>(env, lo, "teacher", ln + ".teacher", numel(ts));
    const std::string short_ln = "layers[" + str(l) + "]";
    inputs.push_back({s_in, s_in + numel(ss), short_ln + ".student"});
    inputs.push_back({t_in, t_in + numel(ts), short_ln + ".teacher"});
    const double beta = get_number(env, lo, "beta", ln, 1.0);
    T* gd;
    if (has(lo, "grad")) {  // the caller's destination (held with the args until an async call settles)
      auto ga = get_typed<T>(env, lo.Get("grad"), ln + ".grad", Kind<T>::type, Kind<T>::name);
      if (static_cast<int64_t>(ga.length) != numel(ss))
        fail(env, Code::ShapeMismatch, ln + ".grad has " + str(ga.length) + " elements, the student's shape needs " + str(numel(ss)));
      gd = ga.data;
      outputs.push_back({gd, gd + numel(ss), short_ln + ".grad"});
      grads.Set(l, lo.Get("grad"));
      if (mode.copies) {
        gd = mode.copies->template alloc<T>(static_cast<size_t>(numel(ss)));
        written.push_back({l, std::make_shared<Napi::ObjectReference>(Napi::Persistent(lo.Get("grad").As<Napi::Object>())),
                           gd, static_cast<size_t>(numel(ss))});
      }
    } else {
      auto g = Napi::TypedArrayOf<T>::New(env, static_cast<size_t>(numel(ss)));
      gd = g.Data();
      grads.Set(l, g);
    }
    const T* s = mode.copies ? mode.copies->hold(s_in, static_cast<size_t>(numel(ss))) : s_in;
    const T* t = mode.copies ? mode.copies->hold(t_in, static_cast<size_t>(numel(ts))) : t_in;
    if constexpr (std::is_same_v<T, float>) {
      lf[l] = {ss[1], ts[1], ss[2], ss[3], s, t, beta, gd};
    } else {
      ld[l] = {ss[1], ts[1], ss[2], ss[3], s, t, beta, gd};
    }
  }
  for (size_t a = 0; a < outputs.size(); ++a) {
    const Range& g = outputs[a];
    auto check = [&](const Range& r) {
      if (g.begin < r.end && r.begin < g.end)
        fail(env, Code::InvalidArgument,
             fn + ": " + g.what + " overlaps " + r.what + " (a grad must not share memory with an input or another grad)");
    };
    for (const Range& r : inputs) check(r);
    for (size_t b = a + 1; b < outputs.size(); ++b) check(outputs[b]);
  }
  struct State {
    std::vector<loss::AttentionLayer> lf;
    std::vector<ref::AttentionLayerRef> ld;
    std::vector<double> layer_losses;
    double L = 0;
  };
  auto st = std::make_shared<State>();
  st->lf = std::move(lf);
  st->ld = std::move(ld);
  st->layer_losses.assign(n, 0.0);
  Napi::Object r = Napi::Object::New(env);
  r.Set("grads", grads);
  return run_or_queue(
      env, o, r, mode,
      [=] {
        if constexpr (std::is_same_v<T, float>)
          st->L = loss::attention_loss(opts.backend, B, p, st->lf.data(), n, st->layer_losses.data(), opts.ctx);
        else
          st->L = ref::attention_loss(B, p, st->ld.data(), n, st->layer_losses.data());
      },
      [st, n, written, fn](Napi::Env e, Napi::Object& res) {
        // every destination checked before any is written: a rejected call leaves them all untouched
        for (const Written& w : written) {
          Napi::Value dst = w.dst->Value();
          if (is_detached(dst) || dst.As<Napi::TypedArray>().ElementLength() != w.len)
            throw make_error(e, Code::InvalidArgument,
                             fn + ".layers[" + str(w.layer) + "].grad was detached (transferred) or resized before the gradient was written");
        }
        for (const Written& w : written)
          std::memcpy(get_typed<T>(e, w.dst->Value(), "grad", Kind<T>::type, Kind<T>::name).data, w.src, w.len * sizeof(T));
        Napi::Array ll = Napi::Array::New(e, n);
        for (uint32_t l = 0; l < n; ++l) ll.Set(l, Napi::Number::New(e, st->layer_losses[l]));
        res.Set("loss", Napi::Number::New(e, st->L));
        res.Set("layerLosses", ll);
      });
}

Napi::Value AttentionMapRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = "losses.ref.attentionMap";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape s = get_shape(env, o, "shape", fn, 4);
  const double* x = get_arr<double>(env, o, "x", fn + ".x", numel(s));
  const int p = get_p(env, o, fn);
  auto a = Napi::Float64Array::New(env, static_cast<size_t>(s[0] * s[2] * s[3]));
  run_checked(env, [&] { ref::attention_map_forward(s[0], s[1], s[2] * s[3], p, x, a.Data()); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("a", a);
  return r;
}

Napi::Value AttentionNormalizeRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = "losses.ref.attentionNormalize";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape s = get_shape(env, o, "shape", fn, 2);
  const double* a = get_arr<double>(env, o, "a", fn + ".a", numel(s));
  auto y = Napi::Float64Array::New(env, static_cast<size_t>(numel(s)));
  run_checked(env, [&] { ref::spatial_normalize_forward(s[0], s[1], a, y.Data()); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("aHat", y);
  return r;
}

template <class T>
void add_all(Napi::Env env, Napi::Object o) {
  auto set = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    o.Set(name, Napi::Function::New(env, f, name));
  };
  set("clone", Clone<T>);
  set("attention", Attention<T>);
  set("ntXent", NtXent<T>);
}
}  // namespace

void init_losses(Napi::Env env, Napi::Object exports) {
  Napi::Object losses = Napi::Object::New(env);
  add_all<float>(env, losses);
  Napi::Object r = Napi::Object::New(env);
  add_all<double>(env, r);
  r.Set("attentionMap", Napi::Function::New(env, AttentionMapRef, "attentionMap"));
  r.Set("attentionNormalize", Napi::Function::New(env, AttentionNormalizeRef, "attentionNormalize"));
  losses.Set("ref", r);
  exports.Set("losses", losses);
}

}  // namespace mimic::bind
