// `ops`: the layer kernels of mimic/ops.h as synchronous test-oriented functions (small tensors; the training
// engine calls the kernels natively). Every function takes one args object of typed arrays and shapes and
// returns a new object of new arrays; nothing passed in is modified (BatchNorm returns updated copies of the
// running statistics). `ops.<name>` runs the float32 kernel on Float32Arrays, `ops.ref.<name>` the float64
// reference on Float64Arrays, with the same arguments:
//   conv2dForward({x, xShape:[N,C,H,W], w, wShape:[OC,C/G,KH,KW], b?, stride?:[sh,sw], pads?:[t,l,b,r],
//                  dilation?:[dh,dw], groups?, threads?, conv?:'auto'|'im2col'|'winograd'|'direct'}) -> {y, yShape}
//   conv2dBackward({...same, dy, dxAdd?}) -> {dx, dw, db}  (dxAdd: dx = dxAdd + the input gradient; the float32
//     kernel adds in place, its accumulate_dx path)
//   batchNormForward({x, shape:[N,C(,L)|(,H,W)], gamma?, beta?, runningMean?, runningVar?, mode?:'train'|'eval'|
//                     'frozen', eps?, momentum?}) -> {y, saveMean, saveInvstd, runningMean?, runningVar?}
//   batchNormBackward({x, shape, gamma?, saveMean, saveInvstd, dy, mode?}) -> {dx, dgamma, dbeta}
//     (both: relu?: true runs the fused BatchNorm + ReLU, float32 only; the backward then also takes beta)
//   reluForward({x}) -> {y};  reluBackward({y, dy}) -> {dx};  addForward({a, b}) -> {y};  addBackward({dy}) -> {da, db}
//     (both: relu?: true runs the fused Add + ReLU, float32 only; the backward then also takes the forward's y)
//   maxPoolForward / avgPoolForward({x, xShape, kernel:[kh,kw], stride?, pads?, ceilMode?, countIncludePad?})
//     -> {y, yShape};  maxPoolBackward({x, xShape, dy, ...}) / avgPoolBackward({xShape, dy, ...}) -> {dx}
//   globalAvgPoolForward({x, xShape:[N,C,H,W]}) -> {y, yShape:[N,C,1,1]};  globalAvgPoolBackward({xShape, dy}) -> {dx}
//   linearForward({x, xShape:[N,IN], w, wShape:[OUT,IN] (transW, default) | [IN,OUT], b?, transW?}) -> {y, yShape}
//   linearBackward({...same, dy}) -> {dx, dw, db}
//   matmulForward({a, aShape:[B,M,K]|[M,K], b, bShape:[B,K,N]|[K,N]}) -> {y, yShape};  matmulBackward({..., dy}) -> {da, db}
//   l2normForward({x, xShape:[N,D], eps?}) -> {y};  l2normBackward({x, y, dy, xShape, eps?}) -> {dx}
//   flattenShape({shape, axis?}) -> number[];  reshapeShape({shape, spec, allowzero?}) -> number[]
// Errors: E_DTYPE (wrong array type), E_SHAPE_MISMATCH (lengths vs shapes, shapes that disagree),
// E_INVALID_ARGUMENT (attribute out of range, unknown mode), each naming the argument.
#include <algorithm>
#include <string>
#include <vector>

#include "async_task.h"
#include <type_traits>

#include "convert.h"
#include "shape_args.h"
#include "exports.h"
#include "mimic/ops.h"
#include "mimic/ops_ref.h"

namespace mimic::bind {

namespace {


template <class T> struct Kind;
template <> struct Kind<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "Float32Array";
};
template <> struct Kind<double> {
  static constexpr napi_typedarray_type type = napi_float64_array;
  static constexpr const char* name = "Float64Array";
};

// The array at key with exactly `len` elements (null when optional and absent).
template <class T>
const T* get_arr(Napi::Env env, Napi::Object o, const char* key, const std::string& fn, int64_t len,
                 bool required = true) {
  const std::string name = fn + "." + key;
  if (!has(o, key)) {
    if (required) fail(env, Code::InvalidArgument, name + " is required");
    return nullptr;
  }
  auto a = get_typed<T>(env, o.Get(key), name, Kind<T>::type, Kind<T>::name);
  if (static_cast<int64_t>(a.length) != len)
    fail(env, Code::ShapeMismatch, name + " has " + str(a.length) + " elements, the shapes need " + str(len));
  return a.data;
}

template <class T>
struct Out {
  Napi::TypedArrayOf<T> arr;
  T* data;
};
template <class T>
Out<T> new_arr(Napi::Env env, int64_t len) {
  auto a = Napi::TypedArrayOf<T>::New(env, static_cast<size_t>(len));
  return {a, a.Data()};
}
template <class T>
Out<T> copy_arr(Napi::Env env, const T* src, int64_t len) {
  Out<T> o = new_arr<T>(env, len);
  std::copy(src, src + len, o.data);
  return o;
}

Napi::Array shape_value(Napi::Env env, const Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (uint32_t i = 0; i < s.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(s[i])));
  return a;
}

ops::Ctx get_ctx(Napi::Env env, Napi::Object o, const std::string& fn) {
  ops::Ctx c;
  c.threads = static_cast<int>(get_int(env, o, "threads", fn, 0, 0));
  c.path = parse_path(env, get_string(env, o, "path", fn + ".path", "auto"), fn + ".path");
  const std::string conv = get_string(env, o, "conv", fn + ".conv", "auto");
  if (conv == "im2col") c.conv = ops::ConvAlgo::Im2col;
  else if (conv == "winograd") c.conv = ops::ConvAlgo::Winograd;
  else if (conv == "direct") c.conv = ops::ConvAlgo::Direct;
  else if (conv != "auto")
    fail(env, Code::InvalidArgument, fn + ".conv must be 'auto', 'im2col', 'winograd' or 'direct' (got '" + conv + "')");
  return c;
}

// ---- kernels: float32 fast path or float64 reference, same signature ----
template <class T> struct K;
template <> struct K<float> {
  static constexpr const char* prefix = "ops.";
  static void conv_f(const ops::Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const ops::Ctx& c) { ops::conv2d_forward(s, x, w, b, y, c); }
  static void conv_b(const ops::Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, const ops::Ctx& c, bool acc = false) { ops::conv2d_backward(s, x, w, dy, dx, dw, db, c, nullptr, acc); }
  static constexpr bool kAccumulatesDx = true;  // conv_b can add dx into what dx holds
  static void bn_f(const ops::BatchNormShape& s, ops::BnMode m, const float* x, const float* g, const float* b, float* rm, float* rv, float* y, float* sm, float* si, const ops::Ctx& c) { ops::batchnorm_forward(s, m, x, g, b, rm, rv, y, sm, si, c); }
  static void bn_b(const ops::BatchNormShape& s, ops::BnMode m, const float* x, const float* g, const float* sm, const float* si, const float* dy, float* dx, float* dg, float* db, const ops::Ctx& c) { ops::batchnorm_backward(s, m, x, g, sm, si, dy, dx, dg, db, c); }
  static void relu_f(int64_t n, const float* x, float* y, const ops::Ctx& c) { ops::relu_forward(n, x, y, c); }
  static void relu_b(int64_t n, const float* y, const float* dy, float* dx, const ops::Ctx& c) { ops::relu_backward(n, y, dy, dx, c); }
  static void add_f(int64_t n, const float* a, const float* b, float* y, const ops::Ctx& c) { ops::add_forward(n, a, b, y, c); }
  static void add_b(int64_t n, const float* dy, float* da, float* db, const ops::Ctx& c) { ops::add_backward(n, dy, da, db, c); }
  static void maxp_f(const ops::Pool2dShape& s, const float* x, float* y, const ops::Ctx& c) { ops::maxpool2d_forward(s, x, y, c); }
  static void maxp_b(const ops::Pool2dShape& s, const float* x, const float* dy, float* dx, const ops::Ctx& c) { ops::maxpool2d_backward(s, x, dy, dx, c); }
  static void avgp_f(const ops::Pool2dShape& s, const float* x, float* y, const ops::Ctx& c) { ops::avgpool2d_forward(s, x, y, c); }
  static void avgp_b(const ops::Pool2dShape& s, const float* dy, float* dx, const ops::Ctx& c) { ops::avgpool2d_backward(s, dy, dx, c); }
  static void gap_f(int64_t n, int64_t ch, int64_t sp, const float* x, float* y, const ops::Ctx& c) { ops::global_avgpool_forward(n, ch, sp, x, y, c); }
  static void gap_b(int64_t n, int64_t ch, int64_t sp, const float* dy, float* dx, const ops::Ctx& c) { ops::global_avgpool_backward(n, ch, sp, dy, dx, c); }
  static void lin_f(const ops::LinearShape& s, const float* x, const float* w, const float* b, float* y, const ops::Ctx& c) { ops::linear_forward(s, x, w, b, y, c); }
  static void lin_b(const ops::LinearShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, const ops::Ctx& c) { ops::linear_backward(s, x, w, dy, dx, dw, db, c); }
  static void mm_f(const ops::MatMulShape& s, const float* a, const float* b, float* y, const ops::Ctx& c) { ops::matmul_forward(s, a, b, y, c); }
  static void mm_b(const ops::MatMulShape& s, const float* a, const float* b, const float* dy, float* da, float* db, const ops::Ctx& c) { ops::matmul_backward(s, a, b, dy, da, db, c); }
  static void l2_f(int64_t n, int64_t d, const float* x, float* y, double eps, const ops::Ctx& c) { ops::l2norm_forward(n, d, x, y, eps, c); }
  static void l2_b(int64_t n, int64_t d, const float* x, const float* y, const float* dy, float* dx, double eps, const ops::Ctx& c) { ops::l2norm_backward(n, d, x, y, dy, dx, eps, c); }
};
template <> struct K<double> {
  static constexpr const char* prefix = "ops.ref.";
  static void conv_f(const ops::Conv2dShape& s, const double* x, const double* w, const double* b, double* y, const ops::Ctx&) { ref::conv2d_forward(s, x, w, b, y); }
  static void conv_b(const ops::Conv2dShape& s, const double* x, const double* w, const double* dy, double* dx, double* dw, double* db, const ops::Ctx&, bool = false) { ref::conv2d_backward(s, x, w, dy, dx, dw, db); }
  static constexpr bool kAccumulatesDx = false;
  static void bn_f(const ops::BatchNormShape& s, ops::BnMode m, const double* x, const double* g, const double* b, double* rm, double* rv, double* y, double* sm, double* si, const ops::Ctx&) { ref::batchnorm_forward(s, m, x, g, b, rm, rv, y, sm, si); }
  static void bn_b(const ops::BatchNormShape& s, ops::BnMode m, const double* x, const double* g, const double* sm, const double* si, const double* dy, double* dx, double* dg, double* db, const ops::Ctx&) { ref::batchnorm_backward(s, m, x, g, sm, si, dy, dx, dg, db); }
  static void relu_f(int64_t n, const double* x, double* y, const ops::Ctx&) { ref::relu_forward(n, x, y); }
  static void relu_b(int64_t n, const double* y, const double* dy, double* dx, const ops::Ctx&) { ref::relu_backward(n, y, dy, dx); }
  static void add_f(int64_t n, const double* a, const double* b, double* y, const ops::Ctx&) { ref::add_forward(n, a, b, y); }
  static void add_b(int64_t n, const double* dy, double* da, double* db, const ops::Ctx&) { ref::add_backward(n, dy, da, db); }
  static void maxp_f(const ops::Pool2dShape& s, const double* x, double* y, const ops::Ctx&) { ref::maxpool2d_forward(s, x, y); }
  static void maxp_b(const ops::Pool2dShape& s, const double* x, const double* dy, double* dx, const ops::Ctx&) { ref::maxpool2d_backward(s, x, dy, dx); }
  static void avgp_f(const ops::Pool2dShape& s, const double* x, double* y, const ops::Ctx&) { ref::avgpool2d_forward(s, x, y); }
  static void avgp_b(const ops::Pool2dShape& s, const double* dy, double* dx, const ops::Ctx&) { ref::avgpool2d_backward(s, dy, dx); }
  static void gap_f(int64_t n, int64_t ch, int64_t sp, const double* x, double* y, const ops::Ctx&) { ref::global_avgpool_forward(n, ch, sp, x, y); }
  static void gap_b(int64_t n, int64_t ch, int64_t sp, const double* dy, double* dx, const ops::Ctx&) { ref::global_avgpool_backward(n, ch, sp, dy, dx); }
  static void lin_f(const ops::LinearShape& s, const double* x, const double* w, const double* b, double* y, const ops::Ctx&) { ref::linear_forward(s, x, w, b, y); }
  static void lin_b(const ops::LinearShape& s, const double* x, const double* w, const double* dy, double* dx, double* dw, double* db, const ops::Ctx&) { ref::linear_backward(s, x, w, dy, dx, dw, db); }
  static void mm_f(const ops::MatMulShape& s, const double* a, const double* b, double* y, const ops::Ctx&) { ref::matmul_forward(s, a, b, y); }
  static void mm_b(const ops::MatMulShape& s, const double* a, const double* b, const double* dy, double* da, double* db, const ops::Ctx&) { ref::matmul_backward(s, a, b, dy, da, db); }
  static void l2_f(int64_t n, int64_t d, const double* x, double* y, double eps, const ops::Ctx&) { ref::l2norm_forward(n, d, x, y, eps); }
  static void l2_b(int64_t n, int64_t d, const double* x, const double* y, const double* dy, double* dx, double eps, const ops::Ctx&) { ref::l2norm_backward(n, d, x, y, dy, dx, eps); }
};

// ---- Conv2d ----
ops::Conv2dShape conv_shape(Napi::Env env, Napi::Object o, const std::string& fn, Shape* xs, Shape* ws) {
  *xs = get_ints(env, o, "xShape", fn, 4, 4, 1, true);
  *ws = get_ints(env, o, "wShape", fn, 4, 4, 1, true);
  const Shape stride = get_ints(env, o, "stride", fn, 2, 2, 1, false, {1, 1});
  const Shape pads = get_ints(env, o, "pads", fn, 4, 4, 0, false, {0, 0, 0, 0});
  const Shape dil = get_ints(env, o, "dilation", fn, 2, 2, 1, false, {1, 1});
  ops::Conv2dShape s;
  s.n = (*xs)[0];
  s.c = (*xs)[1];
  s.h = (*xs)[2];
  s.w = (*xs)[3];
  s.oc = (*ws)[0];
  s.kh = (*ws)[2];
  s.kw = (*ws)[3];
  s.stride_h = stride[0];
  s.stride_w = stride[1];
  s.pad_t = pads[0];
  s.pad_l = pads[1];
  s.pad_b = pads[2];
  s.pad_r = pads[3];
  s.dil_h = dil[0];
  s.dil_w = dil[1];
  s.groups = get_int(env, o, "groups", fn, 1, 1);
  if (s.c % s.groups != 0 || s.oc % s.groups != 0)
    fail(env, Code::InvalidArgument,
         fn + ".groups (" + str(s.groups) + ") must divide C (" + str(s.c) + ") and OC (" + str(s.oc) + ")");
  if ((*ws)[1] != s.c / s.groups)
    fail(env, Code::ShapeMismatch, fn + ".wShape " + shape_str(*ws) + " needs C/groups = " + str(s.c / s.groups) +
                                       " input channels for xShape " + shape_str(*xs));
  run_checked(env, [&] { ops::conv2d_check(s); });
  return s;
}

template <class T>
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "conv2dForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape xs, ws;
  const ops::Conv2dShape s = conv_shape(env, o, fn, &xs, &ws);
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const T* w = get_arr<T>(env, o, "w", fn, numel(ws));
  const T* b = get_arr<T>(env, o, "b", fn, s.oc, false);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  const Shape ys{s.n, s.oc, s.oh(), s.ow()};
  Out<T> y = new_arr<T>(env, numel(ys));
  run_checked(env, [&] { K<T>::conv_f(s, x, w, b, y.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  r.Set("yShape", shape_value(env, ys));
  return r;
}

template <class T>
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "conv2dBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape xs, ws;
  const ops::Conv2dShape s = conv_shape(env, o, fn, &xs, &ws);
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const T* w = get_arr<T>(env, o, "w", fn, numel(ws));
  const T* dy = get_arr<T>(env, o, "dy", fn, s.n * s.oc * s.oh() * s.ow());
  // dxAdd (optional): dx = dxAdd + the input gradient; the fast path adds in place (its accumulate_dx), the
  // reference afterwards
  const T* dx_add = get_arr<T>(env, o, "dxAdd", fn, numel(xs), false);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> dx = new_arr<T>(env, numel(xs)), dw = new_arr<T>(env, numel(ws)), db = new_arr<T>(env, s.oc);
  run_checked(env, [&] {
    const bool in_place = dx_add && K<T>::kAccumulatesDx;
    if (in_place) std::copy(dx_add, dx_add + numel(xs), dx.data);
    K<T>::conv_b(s, x, w, dy, dx.data, dw.data, db.data, ctx, in_place);
    if (dx_add && !in_place)
      for (int64_t i = 0; i < numel(xs); ++i) dx.data[i] += dx_add[i];
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  r.Set("dw", dw.arr);
  r.Set("db", db.arr);
  return r;
}

// ---- BatchNorm ----
ops::BnMode bn_mode(Napi::Env env, Napi::Object o, const std::string& fn) {
  const std::string m = get_string(env, o, "mode", fn + ".mode", "train");
  if (m == "train") return ops::BnMode::Train;
  if (m == "eval") return ops::BnMode::Eval;
  if (m == "frozen") return ops::BnMode::Frozen;
  fail(env, Code::InvalidArgument, fn + ".mode must be 'train', 'eval' or 'frozen' (got '" + m + "')");
}

ops::BatchNormShape bn_shape(Napi::Env env, Napi::Object o, const std::string& fn, ops::BnMode mode, Shape* xs) {
  *xs = get_ints(env, o, "shape", fn, 2, 4, 1, true);
  ops::BatchNormShape s;
  s.n = (*xs)[0];
  s.c = (*xs)[1];
  s.s = 1;
  for (size_t i = 2; i < xs->size(); ++i) s.s *= (*xs)[i];
  s.eps = get_number(env, o, "eps", fn, 1e-5);
  s.momentum = get_number(env, o, "momentum", fn, 0.1);
  if (!(s.eps > 0)) fail(env, Code::InvalidArgument, fn + ".eps must be > 0");
  if (s.momentum < 0 || s.momentum > 1) fail(env, Code::InvalidArgument, fn + ".momentum must be in [0, 1]");
  if (mode == ops::BnMode::Train && s.n * s.s <= 1)
    fail(env, Code::InvalidArgument, fn + ": training mode needs more than one value per channel (shape " +
                                         shape_str(*xs) + ")");
  return s;
}

// relu: true runs the fused BatchNorm + ReLU or Add + ReLU kernels (float32 only: the reference is the composition
// of ops.ref.batchNorm* / ops.ref.add* and ops.ref.relu*, which the tests build themselves).
template <class T>
bool fused_relu(Napi::Env env, Napi::Object o, const std::string& fn) {
  const bool relu = get_bool(env, o, "relu", fn, false);
  if (relu && !std::is_same_v<T, float>)
    fail(env, Code::InvalidArgument, fn + ".relu: the reference has no fused form (compose it with ops.ref.relu*)");
  return relu;
}

template <class T>
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "batchNormForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const ops::BnMode mode = bn_mode(env, o, fn);
  Shape xs;
  const ops::BatchNormShape s = bn_shape(env, o, fn, mode, &xs);
  const bool train = mode == ops::BnMode::Train;
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const T* gamma = get_arr<T>(env, o, "gamma", fn, s.c, false);
  const T* beta = get_arr<T>(env, o, "beta", fn, s.c, false);
  const T* rm_in = get_arr<T>(env, o, "runningMean", fn, s.c, !train);
  const T* rv_in = get_arr<T>(env, o, "runningVar", fn, s.c, !train);
  if ((rm_in == nullptr) != (rv_in == nullptr))
    fail(env, Code::InvalidArgument, fn + ": runningMean and runningVar go together");
  const ops::Ctx ctx = get_ctx(env, o, fn);
  const bool relu = fused_relu<T>(env, o, fn);
  Out<T> y = new_arr<T>(env, numel(xs)), sm = new_arr<T>(env, s.c), si = new_arr<T>(env, s.c);
  Out<T> rm{}, rv{};
  if (rm_in) {
    rm = copy_arr<T>(env, rm_in, s.c);
    rv = copy_arr<T>(env, rv_in, s.c);
  }
  run_checked(env, [&] {
    T* rm_out = rm_in ? rm.data : nullptr;
    T* rv_out = rv_in ? rv.data : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (relu) return ops::batchnorm_relu_forward(s, mode, x, gamma, beta, rm_out, rv_out, y.data, sm.data, si.data, ctx);
    }
    K<T>::bn_f(s, mode, x, gamma, beta, rm_out, rv_out, y.data, sm.data, si.data, ctx);
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  r.Set("saveMean", sm.arr);
  r.Set("saveInvstd", si.arr);
  if (rm_in) {
    r.Set("runningMean", rm.arr);
    r.Set("runningVar", rv.arr);
  }
  return r;
}

template <class T>
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "batchNormBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const ops::BnMode mode = bn_mode(env, o, fn);
  Shape xs;
  const ops::BatchNormShape s = bn_shape(env, o, fn, mode, &xs);
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const T* gamma = get_arr<T>(env, o, "gamma", fn, s.c, false);
  const T* sm = get_arr<T>(env, o, "saveMean", fn, s.c);
  const T* si = get_arr<T>(env, o, "saveInvstd", fn, s.c);
  const T* dy = get_arr<T>(env, o, "dy", fn, numel(xs));
  const ops::Ctx ctx = get_ctx(env, o, fn);
  const bool relu = fused_relu<T>(env, o, fn);
  const T* beta = relu ? get_arr<T>(env, o, "beta", fn, s.c, false) : nullptr;
  Out<T> dx = new_arr<T>(env, numel(xs)), dg = new_arr<T>(env, s.c), db = new_arr<T>(env, s.c);
  run_checked(env, [&] {
    if constexpr (std::is_same_v<T, float>) {
      if (relu) return ops::batchnorm_relu_backward(s, mode, x, gamma, beta, sm, si, dy, dx.data, dg.data, db.data, ctx);
    }
    K<T>::bn_b(s, mode, x, gamma, sm, si, dy, dx.data, dg.data, db.data, ctx);
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  r.Set("dgamma", dg.arr);
  r.Set("dbeta", db.arr);
  return r;
}

// ---- elementwise ----
template <class T>
int64_t arr_len(Napi::Env env, Napi::Object o, const char* key, const std::string& fn) {
  if (!has(o, key)) fail(env, Code::InvalidArgument, fn + "." + key + " is required");
  return static_cast<int64_t>(get_typed<T>(env, o.Get(key), fn + "." + key, Kind<T>::type, Kind<T>::name).length);
}

template <class T>
Napi::Value ReluForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "reluForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const int64_t n = arr_len<T>(env, o, "x", fn);
  const T* x = get_arr<T>(env, o, "x", fn, n);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> y = new_arr<T>(env, n);
  run_checked(env, [&] { K<T>::relu_f(n, x, y.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  return r;
}

template <class T>
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "reluBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const int64_t n = arr_len<T>(env, o, "y", fn);
  const T* y = get_arr<T>(env, o, "y", fn, n);
  const T* dy = get_arr<T>(env, o, "dy", fn, n);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> dx = new_arr<T>(env, n);
  run_checked(env, [&] { K<T>::relu_b(n, y, dy, dx.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  return r;
}

template <class T>
Napi::Value AddForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "addForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const int64_t n = arr_len<T>(env, o, "a", fn);
  const T* a = get_arr<T>(env, o, "a", fn, n);
  const T* b = get_arr<T>(env, o, "b", fn, n);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  const bool relu = fused_relu<T>(env, o, fn);
  Out<T> y = new_arr<T>(env, n);
  run_checked(env, [&] {
    if constexpr (std::is_same_v<T, float>)
      if (relu) return ops::add_relu_forward(n, a, b, y.data, ctx);
    K<T>::add_f(n, a, b, y.data, ctx);
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  return r;
}

template <class T>
Napi::Value AddBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "addBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const int64_t n = arr_len<T>(env, o, "dy", fn);
  const T* dy = get_arr<T>(env, o, "dy", fn, n);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  const bool relu = fused_relu<T>(env, o, fn);
  const T* y = relu ? get_arr<T>(env, o, "y", fn, n) : nullptr;  // the fused forward's output: the ReLU's mask
  Out<T> da = new_arr<T>(env, n), db = new_arr<T>(env, n);
  run_checked(env, [&] {
    if constexpr (std::is_same_v<T, float>)
      if (relu) return ops::add_relu_backward(n, y, dy, da.data, db.data, ctx);
    K<T>::add_b(n, dy, da.data, db.data, ctx);
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("da", da.arr);
  r.Set("db", db.arr);
  return r;
}

// ---- pooling ----
ops::Pool2dShape pool_shape(Napi::Env env, Napi::Object o, const std::string& fn, Shape* xs) {
  *xs = get_ints(env, o, "xShape", fn, 4, 4, 1, true);
  const Shape k = get_ints(env, o, "kernel", fn, 2, 2, 1, true);
  const Shape stride = get_ints(env, o, "stride", fn, 2, 2, 1, false, k);
  const Shape pads = get_ints(env, o, "pads", fn, 4, 4, 0, false, {0, 0, 0, 0});
  ops::Pool2dShape s;
  s.n = (*xs)[0];
  s.c = (*xs)[1];
  s.h = (*xs)[2];
  s.w = (*xs)[3];
  s.kh = k[0];
  s.kw = k[1];
  s.stride_h = stride[0];
  s.stride_w = stride[1];
  s.pad_t = pads[0];
  s.pad_l = pads[1];
  s.pad_b = pads[2];
  s.pad_r = pads[3];
  s.ceil_mode = get_bool(env, o, "ceilMode", fn, false);
  s.count_include_pad = get_bool(env, o, "countIncludePad", fn, false);
  for (int i = 0; i < 4; ++i)
    if (pads[i] >= k[i % 2])
      fail(env, Code::InvalidArgument,
           fn + ".pads[" + str(i) + "] (" + str(pads[i]) + ") must be smaller than the kernel (" + str(k[i % 2]) + ")");
  run_checked(env, [&] { ops::pool2d_check(s); });
  return s;
}

template <class T, bool Max>
Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + (Max ? "maxPoolForward" : "avgPoolForward");
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape xs;
  const ops::Pool2dShape s = pool_shape(env, o, fn, &xs);
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const ops::Ctx ctx = get_ctx(env, o, fn);
  const Shape ys{s.n, s.c, s.oh(), s.ow()};
  Out<T> y = new_arr<T>(env, numel(ys));
  run_checked(env, [&] {
    if (Max) K<T>::maxp_f(s, x, y.data, ctx);
    else K<T>::avgp_f(s, x, y.data, ctx);
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  r.Set("yShape", shape_value(env, ys));
  return r;
}

template <class T, bool Max>
Napi::Value PoolBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + (Max ? "maxPoolBackward" : "avgPoolBackward");
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape xs;
  const ops::Pool2dShape s = pool_shape(env, o, fn, &xs);
  const T* x = Max ? get_arr<T>(env, o, "x", fn, numel(xs)) : nullptr;
  const T* dy = get_arr<T>(env, o, "dy", fn, s.n * s.c * s.oh() * s.ow());
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> dx = new_arr<T>(env, numel(xs));
  run_checked(env, [&] {
    if (Max) K<T>::maxp_b(s, x, dy, dx.data, ctx);
    else K<T>::avgp_b(s, dy, dx.data, ctx);
  });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  return r;
}

template <class T>
Napi::Value GapForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "globalAvgPoolForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape xs = get_ints(env, o, "xShape", fn, 3, 4, 1, true);
  const int64_t sp = numel(xs) / (xs[0] * xs[1]);
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Shape ys{xs[0], xs[1]};
  for (size_t i = 2; i < xs.size(); ++i) ys.push_back(1);
  Out<T> y = new_arr<T>(env, xs[0] * xs[1]);
  run_checked(env, [&] { K<T>::gap_f(xs[0], xs[1], sp, x, y.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  r.Set("yShape", shape_value(env, ys));
  return r;
}

template <class T>
Napi::Value GapBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "globalAvgPoolBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape xs = get_ints(env, o, "xShape", fn, 3, 4, 1, true);
  const int64_t sp = numel(xs) / (xs[0] * xs[1]);
  const T* dy = get_arr<T>(env, o, "dy", fn, xs[0] * xs[1]);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> dx = new_arr<T>(env, numel(xs));
  run_checked(env, [&] { K<T>::gap_b(xs[0], xs[1], sp, dy, dx.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  return r;
}

// ---- Linear / MatMul ----
ops::LinearShape linear_shape(Napi::Env env, Napi::Object o, const std::string& fn, Shape* ws) {
  const Shape xs = get_ints(env, o, "xShape", fn, 2, 2, 1, true);
  *ws = get_ints(env, o, "wShape", fn, 2, 2, 1, true);
  ops::LinearShape s;
  s.trans_w = get_bool(env, o, "transW", fn, true);
  s.n = xs[0];
  s.in = xs[1];
  s.out = s.trans_w ? (*ws)[0] : (*ws)[1];
  const int64_t w_in = s.trans_w ? (*ws)[1] : (*ws)[0];
  if (w_in != s.in)
    fail(env, Code::ShapeMismatch, fn + ".wShape " + shape_str(*ws) + " does not match xShape " + shape_str(xs) +
                                       (s.trans_w ? " (w is (out, in))" : " (w is (in, out) with transW false)"));
  return s;
}

template <class T>
Napi::Value LinearForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "linearForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape ws;
  const ops::LinearShape s = linear_shape(env, o, fn, &ws);
  const T* x = get_arr<T>(env, o, "x", fn, s.n * s.in);
  const T* w = get_arr<T>(env, o, "w", fn, numel(ws));
  const T* b = get_arr<T>(env, o, "b", fn, s.out, false);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> y = new_arr<T>(env, s.n * s.out);
  run_checked(env, [&] { K<T>::lin_f(s, x, w, b, y.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  r.Set("yShape", shape_value(env, {s.n, s.out}));
  return r;
}

template <class T>
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "linearBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape ws;
  const ops::LinearShape s = linear_shape(env, o, fn, &ws);
  const T* x = get_arr<T>(env, o, "x", fn, s.n * s.in);
  const T* w = get_arr<T>(env, o, "w", fn, numel(ws));
  const T* dy = get_arr<T>(env, o, "dy", fn, s.n * s.out);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> dx = new_arr<T>(env, s.n * s.in), dw = new_arr<T>(env, numel(ws)), db = new_arr<T>(env, s.out);
  run_checked(env, [&] { K<T>::lin_b(s, x, w, dy, dx.data, dw.data, db.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  r.Set("dw", dw.arr);
  r.Set("db", db.arr);
  return r;
}

ops::MatMulShape matmul_shape(Napi::Env env, Napi::Object o, const std::string& fn, Shape* as, Shape* bs) {
  *as = get_ints(env, o, "aShape", fn, 2, 3, 1, true);
  *bs = get_ints(env, o, "bShape", fn, 2, 3, 1, true);
  ops::MatMulShape s;
  s.batch = as->size() == 3 ? (*as)[0] : 1;
  s.m = (*as)[as->size() - 2];
  s.k = (*as)[as->size() - 1];
  s.n = (*bs)[bs->size() - 1];
  s.b_broadcast = bs->size() == 2;
  if (bs->size() == 3 && (as->size() != 3 || (*bs)[0] != s.batch))
    fail(env, Code::ShapeMismatch, fn + ".bShape " + shape_str(*bs) + " has a batch that aShape " + shape_str(*as) +
                                       " does not match");
  if ((*bs)[bs->size() - 2] != s.k)
    fail(env, Code::ShapeMismatch, fn + ": aShape " + shape_str(*as) + " and bShape " + shape_str(*bs) +
                                       " disagree on K");
  return s;
}

Shape matmul_out(const Shape& as, const ops::MatMulShape& s) {
  return as.size() == 3 ? Shape{s.batch, s.m, s.n} : Shape{s.m, s.n};
}

template <class T>
Napi::Value MatmulForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "matmulForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape as, bs;
  const ops::MatMulShape s = matmul_shape(env, o, fn, &as, &bs);
  const T* a = get_arr<T>(env, o, "a", fn, numel(as));
  const T* b = get_arr<T>(env, o, "b", fn, numel(bs));
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> y = new_arr<T>(env, s.batch * s.m * s.n);
  run_checked(env, [&] { K<T>::mm_f(s, a, b, y.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  r.Set("yShape", shape_value(env, matmul_out(as, s)));
  return r;
}

template <class T>
Napi::Value MatmulBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "matmulBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  Shape as, bs;
  const ops::MatMulShape s = matmul_shape(env, o, fn, &as, &bs);
  const T* a = get_arr<T>(env, o, "a", fn, numel(as));
  const T* b = get_arr<T>(env, o, "b", fn, numel(bs));
  const T* dy = get_arr<T>(env, o, "dy", fn, s.batch * s.m * s.n);
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> da = new_arr<T>(env, numel(as)), db = new_arr<T>(env, numel(bs));
  run_checked(env, [&] { K<T>::mm_b(s, a, b, dy, da.data, db.data, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("da", da.arr);
  r.Set("db", db.arr);
  return r;
}

// ---- L2 normalise ----
template <class T>
Napi::Value L2Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "l2normForward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape xs = get_ints(env, o, "xShape", fn, 2, 2, 1, true);
  const double eps = get_number(env, o, "eps", fn, ops::kL2NormEps);
  if (!(eps > 0)) fail(env, Code::InvalidArgument, fn + ".eps must be > 0");
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> y = new_arr<T>(env, numel(xs));
  run_checked(env, [&] { K<T>::l2_f(xs[0], xs[1], x, y.data, eps, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", y.arr);
  return r;
}

template <class T>
Napi::Value L2Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = std::string(K<T>::prefix) + "l2normBackward";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape xs = get_ints(env, o, "xShape", fn, 2, 2, 1, true);
  const double eps = get_number(env, o, "eps", fn, ops::kL2NormEps);
  if (!(eps > 0)) fail(env, Code::InvalidArgument, fn + ".eps must be > 0");
  const T* x = get_arr<T>(env, o, "x", fn, numel(xs));
  const T* y = get_arr<T>(env, o, "y", fn, numel(xs));
  const T* dy = get_arr<T>(env, o, "dy", fn, numel(xs));
  const ops::Ctx ctx = get_ctx(env, o, fn);
  Out<T> dx = new_arr<T>(env, numel(xs));
  run_checked(env, [&] { K<T>::l2_b(xs[0], xs[1], x, y, dy, dx.data, eps, ctx); });
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", dx.arr);
  return r;
}

// ---- shapes ----
Napi::Value FlattenShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = "ops.flattenShape";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape shape = get_ints(env, o, "shape", fn, 0, 16, 0, true);
  const double axis = get_number(env, o, "axis", fn, 1);
  if (axis != std::floor(axis)) fail(env, Code::InvalidArgument, fn + ".axis must be an integer");
  Shape out;
  run_checked(env, [&] { out = ops::flatten_shape(shape, static_cast<int64_t>(axis)); });
  return shape_value(env, out);
}

Napi::Value ReshapeShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = "ops.reshapeShape";
  Napi::Object o = as_object(env, info[0], fn + " args");
  const Shape shape = get_ints(env, o, "shape", fn, 0, 16, 0, true);
  const Shape spec = get_ints(env, o, "spec", fn, 0, 16, -1, true);
  const bool allowzero = get_bool(env, o, "allowzero", fn, false);
  Shape out;
  run_checked(env, [&] { out = ops::reshape_shape(shape, spec, allowzero); });
  return shape_value(env, out);
}

template <class T>
void add_all(Napi::Env env, Napi::Object o) {
  auto set = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    o.Set(name, Napi::Function::New(env, f, name));
  };
  set("conv2dForward", Conv2dForward<T>);
  set("conv2dBackward", Conv2dBackward<T>);
  set("batchNormForward", BatchNormForward<T>);
  set("batchNormBackward", BatchNormBackward<T>);
  set("reluForward", ReluForward<T>);
  set("reluBackward", ReluBackward<T>);
  set("addForward", AddForward<T>);
  set("addBackward", AddBackward<T>);
  set("maxPoolForward", PoolForward<T, true>);
  set("maxPoolBackward", PoolBackward<T, true>);
  set("avgPoolForward", PoolForward<T, false>);
  set("avgPoolBackward", PoolBackward<T, false>);
  set("globalAvgPoolForward", GapForward<T>);
  set("globalAvgPoolBackward", GapBackward<T>);
  set("linearForward", LinearForward<T>);
  set("linearBackward", LinearBackward<T>);
  set("matmulForward", MatmulForward<T>);
  set("matmulBackward", MatmulBackward<T>);
  set("l2normForward", L2Forward<T>);
  set("l2normBackward", L2Backward<T>);
  set("flattenShape", FlattenShape);
  set("reshapeShape", ReshapeShape);
}
}  // namespace

void init_ops(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  add_all<float>(env, ops);
  Napi::Object ref = Napi::Object::New(env);
  add_all<double>(env, ref);
  ops.Set("ref", ref);
  exports.Set("ops", ops);
}

}  // namespace mimic::bind
