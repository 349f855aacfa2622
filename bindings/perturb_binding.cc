// `perturb`: seeded perturbation families for perturbation-invariant distillation (semantics in
// native/include/mimic/perturb.h).
//   perturb.batch({ views: Float32Array, shape: [n, C, H, W], seed, counter, normalize: 'cifar10' | 'none' |
//                   { mean, std }, patch?: { rate, sizeMin?: 4, sizeMax?: 12, fill?: 'gray'|'color'|'texture'|'mixed',
//                   count?: 1 }, blend?: { rate, alphaMin?: 0.1, alphaMax?: 0.3 }, noise?: { rate, sigma?: 0.1,
//                   kind?: 'uniform'|'checker'|'mixed' }, threads?, returnDraws? })
//     -> { images: Float32Array (n * C * H * W), draws?: Float64Array (n * drawFields), drawFields }
//   perturb.batchAsync(same) -> Promise of the same (runs on a libuv worker, on a copy of views made at the call:
//     views may be modified or transferred at once)
//   Without sizeMin / sizeMax the defaults are min(12, side) and min(4, sizeMax), side = min(H, W); explicit values
//   must satisfy 1 <= sizeMin <= sizeMax <= side.
//   draws, per image: keyHi, keyLo (the image's stream key, 32-bit halves), blend (0/1), partner (-1 when none),
//     alpha, patch (0/1), noise (0/1), noiseKind (0 uniform, 1 checker), period, phaseY, phaseX, sigma, then per
//     square (count of them, zeros when patch did not fire): top, left, size, fill (0 gray, 1 color, 2 texture),
//     level[0..2].
// Errors: E_DTYPE (views not a Float32Array), E_SHAPE_MISMATCH (shape vs length, mean/std length), E_NON_FINITE
// (a NaN/Inf in views or an option), E_INVALID_ARGUMENT (anything else), each naming the option.
#include <string>
#include <vector>

#include "convert.h"
#include "exports.h"
#include "image_args.h"
#include "mimic/perturb.h"

namespace mimic::bind {

namespace {

using perturb::Config;
using perturb::Draw;
using perturb::Shape;

constexpr int kBaseFields = 12, kPatchFields = 7;
const std::string kFn = "perturbBatch";

std::string s(int64_t v) { return std::to_string(v); }
std::string num(double v) { return std::to_string(v); }

void get_normalize(Napi::Env env, Napi::Object o, int channels, Config& cfg) {
  const std::string full = kFn + ".normalize";
  if (!has(o, "normalize"))
    fail(env, Code::InvalidArgument, full + " is required ('cifar10', 'none' or { mean, std }: the normalisation of "
                                            "the views, undone before perturbing)");
  Napi::Value v = o.Get("normalize");
  if (v.IsString()) {
    std::string p = v.As<Napi::String>().Utf8Value();
    if (p == "none") return;
    if (p == "cifar10") {
      if (channels != 3) fail(env, Code::ShapeMismatch, full + " 'cifar10' needs 3-channel images (got " + s(channels) + ")");
      set_cifar10(cfg.mean, cfg.std);
      return;
    }
    fail(env, Code::InvalidArgument, full + " must be 'cifar10', 'none' or { mean, std } (got '" + p + "')");
  }
  Napi::Object n = as_object(env, v, full);
  reject_unknown(env, n, full, {"mean", "std"});
  get_mean_std(env, n, full, channels, cfg.mean, cfg.std);
  for (size_t i = 0; i < cfg.std.size(); ++i)
    if (!(cfg.std[i] > 0)) fail(env, Code::InvalidArgument, full + ".std[" + s(i) + "] must be > 0 (got " + num(cfg.std[i]) + ")");
}

double get_unit(Napi::Env env, Napi::Object o, const char* key, const std::string& name, double dflt, bool required) {
  const double v = get_number(env, o, key, name, dflt, required);
  if (v < 0 || v > 1) fail(env, Code::InvalidArgument, name + "." + key + " must be in [0, 1] (got " + num(v) + ")");
  return v;
}

struct Args {
  const float* views = nullptr;
  Shape shape;
  uint64_t seed = 0, counter = 0;
  Config cfg;
  int threads = 0;
  bool return_draws = false;
};

Args parse(Napi::Env env, Napi::Value arg) {
  Napi::Object o = as_object(env, arg, kFn + " argument");
  reject_unknown(env, o, kFn,
                 {"views", "shape", "seed", "counter", "normalize", "patch", "blend", "noise", "threads",
                  "returnDraws"});
  Args a;
  if (!has(o, "views")) fail(env, Code::InvalidArgument, kFn + ".views is required");
  auto views = get_typed<float>(env, o.Get("views"), kFn + ".views", napi_float32_array, "Float32Array");
  if (!has(o, "shape")) fail(env, Code::InvalidArgument, kFn + ".shape is required ([n, C, H, W])");
  auto sh = get_numbers(env, o.Get("shape"), kFn + ".shape", 4, 4);
  for (int i = 0; i < 4; ++i)
    if (sh[i] != std::floor(sh[i]) || sh[i] < (i == 0 ? 0 : 1) || sh[i] > 9.0e15)
      fail(env, Code::InvalidArgument, kFn + ".shape[" + s(i) + "] must be an integer >= " + (i == 0 ? "0" : "1") +
                                           " (got " + num(sh[i]) + ")");
  if (sh[1] != 1 && sh[1] != 3)
    fail(env, Code::InvalidArgument, kFn + ".shape[1] (channels) must be 1 or 3 (got " + num(sh[1]) + ")");
  if (sh[2] > 65536 || sh[3] > 65536)
    fail(env, Code::InvalidArgument, kFn + ".shape height/width must be <= 65536");
  a.shape.n = static_cast<int64_t>(sh[0]);
  a.shape.c = static_cast<int>(sh[1]);
  a.shape.h = static_cast<int>(sh[2]);
  a.shape.w = static_cast<int>(sh[3]);
  const double want = sh[0] * sh[1] * sh[2] * sh[3];
  if (static_cast<double>(views.length) != want)
    fail(env, Code::ShapeMismatch, kFn + ".views has " + s(views.length) + " elements, shape [" + num(sh[0]) + ", " +
                                       s(a.shape.c) + ", " + s(a.shape.h) + ", " + s(a.shape.w) + "] needs " +
                                       num(want));
  a.views = views.data;
  get_seed_counter(env, o, kFn, a.seed, a.counter);
  a.threads = get_threads(env, o, kFn);
  a.return_draws = get_bool(env, o, "returnDraws", kFn, false);
  get_normalize(env, o, a.shape.c, a.cfg);
  Config& c = a.cfg;
  const int side = std::min(a.shape.h, a.shape.w);

  if (has(o, "patch")) {
    const std::string pn = kFn + ".patch";
    Napi::Object p = as_object(env, o.Get("patch"), pn);
    reject_unknown(env, p, pn, {"rate", "sizeMin", "sizeMax", "fill", "count"});
    c.patch_rate = get_unit(env, p, "rate", pn, 0, true);
    const bool has_max = has(p, "sizeMax");
    const int64_t smax = get_int(env, p, "sizeMax", pn, std::min(12, side), 1);
    if (has_max && smax > side)
      fail(env, Code::InvalidArgument, pn + ".sizeMax = " + s(smax) + " must be <= the image side " + s(side) +
                                           " (min of height and width)");
    const int64_t smin = get_int(env, p, "sizeMin", pn, std::min<int64_t>(4, smax), 1);
    if (smin > side)
      fail(env, Code::InvalidArgument, pn + ".sizeMin = " + s(smin) + " must be <= the image side " + s(side));
    if (smin > smax)
      fail(env, Code::InvalidArgument, pn + ".sizeMin = " + s(smin) + " must be <= sizeMax = " + s(smax));
    c.size_min = static_cast<int>(smin);
    c.size_max = static_cast<int>(smax);
    const std::string fill = get_string(env, p, "fill", pn, "mixed");
    if (fill == "gray") c.fill = perturb::kGray;
    else if (fill == "color") c.fill = perturb::kColor;
    else if (fill == "texture") c.fill = perturb::kTexture;
    else if (fill == "mixed") c.fill = perturb::kFillMixed;
    else fail(env, Code::InvalidArgument, pn + ".fill must be 'gray', 'color', 'texture' or 'mixed' (got '" + fill + "')");
    const int64_t count = get_int(env, p, "count", pn, 1, 1);
    if (count > perturb::kMaxCount)
      fail(env, Code::InvalidArgument, pn + ".count must be <= " + s(perturb::kMaxCount) + " (got " + s(count) + ")");
    c.count = static_cast<int>(count);
  } else {
    c.size_max = std::min(12, side);
    c.size_min = std::min(4, c.size_max);
  }

  if (has(o, "blend")) {
    const std::string bn = kFn + ".blend";
    Napi::Object b = as_object(env, o.Get("blend"), bn);
    reject_unknown(env, b, bn, {"rate", "alphaMin", "alphaMax"});
    c.blend_rate = get_unit(env, b, "rate", bn, 0, true);
    c.alpha_min = get_unit(env, b, "alphaMin", bn, 0.1, false);
    c.alpha_max = get_unit(env, b, "alphaMax", bn, 0.3, false);
    if (c.alpha_min > c.alpha_max)
      fail(env, Code::InvalidArgument, bn + ".alphaMin = " + num(c.alpha_min) + " must be <= alphaMax = " + num(c.alpha_max));
  }

  if (has(o, "noise")) {
    const std::string nn = kFn + ".noise";
    Napi::Object n = as_object(env, o.Get("noise"), nn);
    reject_unknown(env, n, nn, {"rate", "sigma", "kind"});
    c.noise_rate = get_unit(env, n, "rate", nn, 0, true);
    c.sigma = get_number(env, n, "sigma", nn, 0.1);
    if (c.sigma < 0) fail(env, Code::InvalidArgument, nn + ".sigma must be >= 0 (got " + num(c.sigma) + ")");
    const std::string kind = get_string(env, n, "kind", nn, "uniform");
    if (kind == "uniform") c.noise_kind = perturb::kUniform;
    else if (kind == "checker") c.noise_kind = perturb::kChecker;
    else if (kind == "mixed") c.noise_kind = perturb::kNoiseMixed;
    else fail(env, Code::InvalidArgument, nn + ".kind must be 'uniform', 'checker' or 'mixed' (got '" + kind + "')");
  }

  Status st = perturb::validate(a.shape, c);
  if (!st.is_ok()) fail(env, st.code(), kFn + ": " + st.message());
  return a;
}

struct Result {
  std::vector<float> images;
  std::vector<Draw> draws;
};

// Throws mimic::Error.
void run(const Args& a, Result& r) {
  const size_t len = static_cast<size_t>(a.shape.n) * a.shape.c * a.shape.h * a.shape.w;
  const int64_t bad = first_non_finite(a.views, len, a.threads);
  if (bad >= 0) {
    const int64_t per = static_cast<int64_t>(a.shape.c) * a.shape.h * a.shape.w;
    throw Error(Code::NonFinite, "views has a NaN or Inf at element " + s(bad) + " (image " + s(bad / per) + ")");
  }
  r.images.resize(len);
  if (a.return_draws) r.draws.resize(static_cast<size_t>(a.shape.n));
  Status st = perturb::perturb_batch(a.views, a.shape, a.seed, a.counter, a.cfg, r.images.data(),
                                     a.return_draws ? r.draws.data() : nullptr, a.threads);
  if (!st.is_ok()) throw Error(st.code(), st.message());
}

int draw_fields(const Config& cfg) { return kBaseFields + kPatchFields * cfg.count; }

void write_draws(const std::vector<Draw>& d, const Config& cfg, double* out) {
  const int fields = draw_fields(cfg);
  for (size_t k = 0; k < d.size(); ++k) {
    double* r = out + k * fields;
    std::fill(r, r + fields, 0.0);
    r[0] = static_cast<double>(d[k].key >> 32);
    r[1] = static_cast<double>(d[k].key & 0xffffffffull);
    r[2] = d[k].blend;
    r[3] = static_cast<double>(d[k].partner);
    r[4] = d[k].alpha;
    r[5] = d[k].patch;
    r[6] = d[k].noise;
    r[7] = d[k].noise_kind;
    r[8] = d[k].period;
    r[9] = d[k].phase_y;
    r[10] = d[k].phase_x;
    r[11] = d[k].sigma;
    for (size_t j = 0; j < d[k].patches.size() && j < static_cast<size_t>(cfg.count); ++j) {
      const perturb::Patch& p = d[k].patches[j];
      double* q = r + kBaseFields + kPatchFields * j;
      q[0] = p.top;
      q[1] = p.left;
      q[2] = p.size;
      q[3] = p.fill;
      q[4] = p.level[0];
      q[5] = p.level[1];
      q[6] = p.level[2];
    }
  }
}

Napi::Object result_object(Napi::Env env, const Args& a, const Result& r) {
  Napi::Object res = Napi::Object::New(env);
  auto img = Napi::Float32Array::New(env, r.images.size());
  std::copy(r.images.begin(), r.images.end(), img.Data());
  res.Set("images", img);
  const int fields = draw_fields(a.cfg);
  res.Set("drawFields", Napi::Number::New(env, fields));
  if (a.return_draws) {
    auto d = Napi::Float64Array::New(env, r.draws.size() * static_cast<size_t>(fields));
    write_draws(r.draws, a.cfg, d.Data());
    res.Set("draws", d);
  }
  return res;
}

Napi::Value Batch(const Napi::CallbackInfo& info) { return call_now(info, parse, run, result_object, kFn + ": "); }

// The async call reads a copy of views, made at the call.
void own_views(Args& a, CallCopies& copies) {
  a.views = copies.hold(a.views, static_cast<size_t>(a.shape.n) * a.shape.c * a.shape.h * a.shape.w);
}

Napi::Value BatchAsync(const Napi::CallbackInfo& info) {
  return call_async(info, parse, run, result_object, own_views, kFn + ": ");
}

}  // namespace

void init_perturb(Napi::Env env, Napi::Object exports) {
  Napi::Object p = Napi::Object::New(env);
  p.Set("batch", Napi::Function::New(env, Batch, "batch"));
  p.Set("batchAsync", Napi::Function::New(env, BatchAsync, "batchAsync"));
  p.Set("baseFields", Napi::Number::New(env, kBaseFields));
  p.Set("patchFields", Napi::Number::New(env, kPatchFields));
  exports.Set("perturb", p);
}

}  // namespace mimic::bind
