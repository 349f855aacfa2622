// `augment`: seeded SimCLR two-view augmentation (semantics in native/include/mimic/augment.h).
//   augment.twoViews({ pixels: Uint8Array, count, channels: 1|3, height, width, indices: Int32Array|number[],
//                      seed, counter, out?: { size: n | [h, w] } (default 32), params?, threads?, returnDraws? })
//     -> { view1: Float32Array, view2: Float32Array, shape: [n, C, outH, outW], draws1?, draws2? }
//   augment.twoViewsAsync(same) -> Promise of the same (runs on a libuv worker, on a copy of the indexed images
//     made at the call: pixels may be modified or transferred at once)
//   augment.applyFixed({ pixels, count, channels, height, width, index?: 0, out?: { size },
//                        crop: { top, left, height, width }, flip?: false,
//                        jitter?: { brightness?: 1, contrast?: 1, saturation?: 1, hue?: 0, order?: [0,1,2,3] },
//                        grayscale?: false, normalize?, roundResize?: true }) -> Float32Array (C * outH * outW)
//   params: { scale?: [lo, hi], ratio?: [lo, hi], cropAttempts?, flipP?, jitterP?, brightness?, contrast?,
//             saturation?: number (torchvision: [max(0, 1 - v), 1 + v]) | [lo, hi], hue?: number ([-v, v]) | [lo, hi],
//             grayP?, roundResize?, normalize?: 'cifar10' | 'none' | { mean: number[], std: number[] } }
//   normalize defaults to 'cifar10' for 3-channel images and 'none' for 1-channel images.
//   draws: Float64Array of n * 15: top, left, height, width, flip, jitter, brightness, contrast, saturation, hue,
//          order[0..3] (op ids 0 brightness, 1 contrast, 2 saturation, 3 hue; -1 unused), grayscale.
// Errors: E_DTYPE (wrong array type), E_SHAPE_MISMATCH (pixels length, mean/std length), E_INVALID_ARGUMENT
// (anything else), each naming the argument.
#include <cstring>
#include <string>
#include <vector>

#include "convert.h"
#include "exports.h"
#include "image_args.h"
#include "mimic/augment.h"

namespace mimic::bind {

namespace {

using augment::Config;
using augment::Draw;
using augment::Images;

constexpr int kDrawFields = 15;

std::string s(int64_t v) { return std::to_string(v); }

void get_pair(Napi::Env env, Napi::Object o, const char* key, const std::string& name, double& lo, double& hi) {
  if (!has(o, key)) return;
  auto v = get_numbers(env, o.Get(key), name + "." + key, 2, 2);
  lo = v[0];
  hi = v[1];
}

// torchvision's ColorJitter argument: a number v (>= 0) -> [centre - v, centre + v] (clipped at 0 for factors), or
// a [lo, hi] pair.
void get_jitter(Napi::Env env, Napi::Object o, const char* key, const std::string& name, double& lo, double& hi,
                bool is_hue) {
  if (!has(o, key)) return;
  Napi::Value v = o.Get(key);
  const std::string full = name + "." + key;
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < 0 || (is_hue && d > 0.5))
      fail(env, Code::InvalidArgument, full + " must be a number in " + (is_hue ? "[0, 0.5]" : "[0, inf)") +
                                           " (got " + std::to_string(d) + ")");
    if (is_hue) {
      lo = -d;
      hi = d;
    } else {
      lo = std::max(0.0, 1.0 - d);
      hi = 1.0 + d;
    }
    return;
  }
  auto p = get_numbers(env, v, full, 2, 2);
  lo = p[0];
  hi = p[1];
}

void get_normalize(Napi::Env env, Napi::Object o, const char* key, const std::string& name, int channels,
                   Config& cfg) {
  if (!has(o, key)) {
    if (channels == 3) set_cifar10(cfg.mean, cfg.std);
    return;
  }
  Napi::Value v = o.Get(key);
  const std::string full = name + "." + key;
  if (v.IsString()) {
    std::string p = v.As<Napi::String>().Utf8Value();
    if (p == "none") return;
    if (p == "cifar10") {
      if (channels != 3) fail(env, Code::ShapeMismatch, full + " 'cifar10' needs 3-channel images");
      set_cifar10(cfg.mean, cfg.std);
      return;
    }
    fail(env, Code::InvalidArgument, full + " must be 'cifar10', 'none' or { mean, std } (got '" + p + "')");
  }
  if (v.IsNull()) return;
  get_mean_std(env, as_object(env, v, full), full, channels, cfg.mean, cfg.std);
  for (size_t i = 0; i < cfg.std.size(); ++i)
    if (cfg.std[i] == 0) fail(env, Code::InvalidArgument, full + ".std[" + s(i) + "] must be non-zero");
}

void get_out_size(Napi::Env env, Napi::Object o, const std::string& name, Config& cfg) {
  if (!has(o, "out")) return;
  Napi::Object out = as_object(env, o.Get("out"), name + ".out");
  reject_unknown(env, out, name + ".out", {"size"});
  if (!has(out, "size")) return;
  Napi::Value v = out.Get("size");
  if (v.IsNumber()) {
    int64_t n = get_int(env, out, "size", name + ".out", 32, 1);
    if (n > 65536) fail(env, Code::InvalidArgument, name + ".out.size must be <= 65536");
    cfg.out_h = cfg.out_w = static_cast<int>(n);
    return;
  }
  auto p = get_numbers(env, v, name + ".out.size", 2, 2);
  for (double d : p)
    if (d != std::floor(d) || d < 1 || d > 65536)
      fail(env, Code::InvalidArgument, name + ".out.size entries must be integers in 1..65536");
  cfg.out_h = static_cast<int>(p[0]);
  cfg.out_w = static_cast<int>(p[1]);
}

Images get_images(Napi::Env env, Napi::Object o, const std::string& name) {
  Images im;
  im.count = get_int(env, o, "count", name, 0, 0, true);
  const int64_t c = get_int(env, o, "channels", name, 0, 1, true);
  if (c != 1 && c != 3) fail(env, Code::InvalidArgument, name + ".channels must be 1 or 3 (got " + s(c) + ")");
  const int64_t h = get_int(env, o, "height", name, 0, 1, true), w = get_int(env, o, "width", name, 0, 1, true);
  if (h > 65536 || w > 65536) fail(env, Code::InvalidArgument, name + ".height/width must be <= 65536");
  im.channels = static_cast<int>(c);
  im.height = static_cast<int>(h);
  im.width = static_cast<int>(w);
  if (!has(o, "pixels")) fail(env, Code::InvalidArgument, name + ".pixels is required");
  auto px = get_typed<uint8_t>(env, o.Get("pixels"), name + ".pixels", napi_uint8_array, "Uint8Array");
  const int64_t want = im.count * c * h * w;
  if (static_cast<int64_t>(px.length) != want)
    fail(env, Code::ShapeMismatch, name + ".pixels has " + s(px.length) + " bytes, " + s(im.count) + " images of " +
                                       s(c) + "x" + s(h) + "x" + s(w) + " need " + s(want));
  im.pixels = px.data;
  return im;
}

struct TwoViewsArgs {
  Images images;
  std::vector<int64_t> indices;
  uint64_t seed = 0, counter = 0;
  Config cfg;
  int threads = 0;
  bool return_draws = false;
};

TwoViewsArgs parse_two_views(Napi::Env env, Napi::Value arg) {
  const std::string fn = "augment.twoViews";
  Napi::Object o = as_object(env, arg, fn + " argument");
  reject_unknown(env, o,
                 fn, {"pixels", "count", "channels", "height", "width", "indices", "seed", "counter", "out", "params",
                      "threads", "returnDraws"});
  TwoViewsArgs a;
  a.images = get_images(env, o, fn);
  if (!has(o, "indices")) fail(env, Code::InvalidArgument, fn + ".indices is required");
  Napi::Value iv = o.Get("indices");
  if (iv.IsTypedArray()) {
    auto ia = get_typed<int32_t>(env, iv, fn + ".indices", napi_int32_array, "Int32Array or an array of integers");
    a.indices.assign(ia.data, ia.data + ia.length);
  } else if (iv.IsArray()) {
    auto arr = iv.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value e = arr.Get(i);
      double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1.5;
      if (!e.IsNumber() || d != std::floor(d))
        fail(env, Code::InvalidArgument, fn + ".indices[" + s(i) + "] must be an integer");
      a.indices.push_back(static_cast<int64_t>(d));
    }
  } else {
    fail(env, Code::DType, fn + ".indices must be an Int32Array or an array of integers");
  }
  for (size_t k = 0; k < a.indices.size(); ++k)
    if (a.indices[k] < 0 || a.indices[k] >= a.images.count)
      fail(env, Code::InvalidArgument, fn + ".indices[" + s(k) + "] = " + s(a.indices[k]) +
                                           " is not an image index (0.." + s(a.images.count - 1) + ")");
  get_seed_counter(env, o, fn, a.seed, a.counter);
  get_out_size(env, o, fn, a.cfg);
  a.threads = get_threads(env, o, fn);
  a.return_draws = get_bool(env, o, "returnDraws", fn, false);
  Napi::Object p = has(o, "params") ? as_object(env, o.Get("params"), fn + ".params") : Napi::Object::New(env);
  const std::string pn = fn + ".params";
  reject_unknown(env, p, pn,
                 {"scale", "ratio", "cropAttempts", "flipP", "jitterP", "brightness", "contrast", "saturation", "hue",
                  "grayP", "roundResize", "normalize"});
  Config& c = a.cfg;
  get_pair(env, p, "scale", pn, c.scale_lo, c.scale_hi);
  get_pair(env, p, "ratio", pn, c.ratio_lo, c.ratio_hi);
  c.crop_attempts = static_cast<int>(get_int(env, p, "cropAttempts", pn, 10, 0));
  if (c.crop_attempts > 200) fail(env, Code::InvalidArgument, pn + ".cropAttempts must be <= 200");
  auto prob = [&](const char* key, double dflt) {
    double v = get_number(env, p, key, pn, dflt);
    if (v < 0 || v > 1) fail(env, Code::InvalidArgument, pn + "." + key + " must be in [0, 1] (got " + std::to_string(v) + ")");
    return v;
  };
  c.flip_p = prob("flipP", 0.5);
  c.jitter_p = prob("jitterP", 0.8);
  c.gray_p = prob("grayP", 0.2);
  get_jitter(env, p, "brightness", pn, c.brightness_lo, c.brightness_hi, false);
  get_jitter(env, p, "contrast", pn, c.contrast_lo, c.contrast_hi, false);
  get_jitter(env, p, "saturation", pn, c.saturation_lo, c.saturation_hi, false);
  get_jitter(env, p, "hue", pn, c.hue_lo, c.hue_hi, true);
  c.round_resize = get_bool(env, p, "roundResize", pn, true);
  get_normalize(env, p, "normalize", pn, a.images.channels, c);
  Status st = augment::validate(a.images, c);
  if (!st.is_ok()) fail(env, st.code(), pn + ": " + st.message());
  return a;
}

void write_draws(const std::vector<Draw>& d, double* out) {
  for (size_t k = 0; k < d.size(); ++k) {
    double* r = out + k * kDrawFields;
    r[0] = d[k].top;
    r[1] = d[k].left;
    r[2] = d[k].height;
    r[3] = d[k].width;
    r[4] = d[k].flip;
    r[5] = d[k].jitter;
    r[6] = d[k].brightness;
    r[7] = d[k].contrast;
    r[8] = d[k].saturation;
    r[9] = d[k].hue;
    for (int j = 0; j < 4; ++j) r[10 + j] = d[k].jitter && j < d[k].n_ops ? d[k].order[j] : -1;
    r[14] = d[k].gray;
  }
}

struct TwoViewsResult {
  std::vector<float> v1, v2;
  std::vector<Draw> d1, d2;
};

// Throws mimic::Error.
void run_two_views(const TwoViewsArgs& a, TwoViewsResult& r) {
  const int64_t n = static_cast<int64_t>(a.indices.size());
  const size_t len = static_cast<size_t>(n) * a.images.channels * a.cfg.out_h * a.cfg.out_w;
  r.v1.resize(len);
  r.v2.resize(len);
  if (a.return_draws) {
    r.d1.resize(static_cast<size_t>(n));
    r.d2.resize(static_cast<size_t>(n));
  }
  Status st = augment::two_views(a.images, a.indices.data(), n, a.seed, a.counter, a.cfg, r.v1.data(), r.v2.data(),
                                 a.return_draws ? r.d1.data() : nullptr, a.return_draws ? r.d2.data() : nullptr,
                                 a.threads);
  if (!st.is_ok()) throw Error(st.code(), st.message());
}

Napi::Object result_object(Napi::Env env, const TwoViewsArgs& a, const TwoViewsResult& r) {
  Napi::Object res = Napi::Object::New(env);
  auto f32 = [&](const std::vector<float>& v) {
    auto arr = Napi::Float32Array::New(env, v.size());
    std::copy(v.begin(), v.end(), arr.Data());
    return arr;
  };
  res.Set("view1", f32(r.v1));
  res.Set("view2", f32(r.v2));
  Napi::Array shape = Napi::Array::New(env, 4);
  shape.Set(0u, Napi::Number::New(env, static_cast<double>(a.indices.size())));
  shape.Set(1u, Napi::Number::New(env, a.images.channels));
  shape.Set(2u, Napi::Number::New(env, a.cfg.out_h));
  shape.Set(3u, Napi::Number::New(env, a.cfg.out_w));
  res.Set("shape", shape);
  if (a.return_draws) {
    auto d1 = Napi::Float64Array::New(env, r.d1.size() * kDrawFields);
    auto d2 = Napi::Float64Array::New(env, r.d2.size() * kDrawFields);
    write_draws(r.d1, d1.Data());
    write_draws(r.d2, d2.Data());
    res.Set("draws1", d1);
    res.Set("draws2", d2);
  }
  return res;
}

Napi::Value TwoViews(const Napi::CallbackInfo& info) {
  return call_now(info, parse_two_views, run_two_views, result_object, "augment.twoViews: ");
}

// The async call's own copy of its input: the batch's images gathered in order (the draws depend on the position k
// in `indices`, not on the image index, so the views are the same).
void own_batch(TwoViewsArgs& a, CallCopies& copies) {
  if (a.indices.empty()) return;  // nothing is read
  const size_t per = static_cast<size_t>(a.images.channels) * a.images.height * a.images.width;
  uint8_t* batch = copies.alloc<uint8_t>(per * a.indices.size());
  for (size_t k = 0; k < a.indices.size(); ++k) {
    std::memcpy(batch + k * per, a.images.pixels + static_cast<size_t>(a.indices[k]) * per, per);
    a.indices[k] = static_cast<int64_t>(k);
  }
  a.images.pixels = batch;
  a.images.count = static_cast<int64_t>(a.indices.size());
}

Napi::Value TwoViewsAsync(const Napi::CallbackInfo& info) {
  return call_async(info, parse_two_views, run_two_views, result_object, own_batch, "augment.twoViews: ");
}

Napi::Value ApplyFixed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = "augment.applyFixed";
  try {
    Napi::Object o = as_object(env, info[0], fn + " argument");
    reject_unknown(env, o, fn,
                   {"pixels", "count", "channels", "height", "width", "index", "out", "crop", "flip", "jitter",
                    "grayscale", "normalize", "roundResize"});
    Images im = get_images(env, o, fn);
    const int64_t index = get_int(env, o, "index", fn, 0, 0);
    if (index >= im.count)
      fail(env, Code::InvalidArgument, fn + ".index = " + s(index) + " is not an image index (0.." + s(im.count - 1) + ")");
    Config cfg;
    get_out_size(env, o, fn, cfg);
    cfg.round_resize = get_bool(env, o, "roundResize", fn, true);
    get_normalize(env, o, "normalize", fn, im.channels, cfg);
    Draw d;
    if (!has(o, "crop")) fail(env, Code::InvalidArgument, fn + ".crop is required");
    Napi::Object crop = as_object(env, o.Get("crop"), fn + ".crop");
    reject_unknown(env, crop, fn + ".crop", {"top", "left", "height", "width"});
    d.top = static_cast<int>(std::min<int64_t>(get_int(env, crop, "top", fn + ".crop", 0, 0, true), 1 << 20));
    d.left = static_cast<int>(std::min<int64_t>(get_int(env, crop, "left", fn + ".crop", 0, 0, true), 1 << 20));
    d.height = static_cast<int>(std::min<int64_t>(get_int(env, crop, "height", fn + ".crop", 0, 1, true), 1 << 20));
    d.width = static_cast<int>(std::min<int64_t>(get_int(env, crop, "width", fn + ".crop", 0, 1, true), 1 << 20));
    if (d.top + d.height > im.height || d.left + d.width > im.width)
      fail(env, Code::InvalidArgument, fn + ".crop (top " + s(d.top) + ", left " + s(d.left) + ", height " +
                                           s(d.height) + ", width " + s(d.width) + ") is not inside the " +
                                           s(im.height) + "x" + s(im.width) + " image");
    d.flip = get_bool(env, o, "flip", fn, false);
    d.gray = get_bool(env, o, "grayscale", fn, false);
    if (has(o, "jitter")) {
      const std::string jn = fn + ".jitter";
      Napi::Object j = as_object(env, o.Get("jitter"), jn);
      reject_unknown(env, j, jn, {"brightness", "contrast", "saturation", "hue", "order"});
      d.jitter = true;
      d.brightness = get_number(env, j, "brightness", jn, 1.0);
      d.contrast = get_number(env, j, "contrast", jn, 1.0);
      d.saturation = get_number(env, j, "saturation", jn, 1.0);
      d.hue = get_number(env, j, "hue", jn, 0.0);
      for (const char* k : {"brightness", "contrast", "saturation"})
        if (get_number(env, j, k, jn, 1.0) < 0) fail(env, Code::InvalidArgument, jn + "." + k + " must be >= 0");
      if (d.hue < -0.5 || d.hue > 0.5) fail(env, Code::InvalidArgument, jn + ".hue must be in [-0.5, 0.5]");
      std::vector<double> order = {0, 1, 2, 3};
      if (has(j, "order")) order = get_numbers(env, j.Get("order"), jn + ".order", 0, 4);
      d.n_ops = static_cast<int>(order.size());
      bool seen[4] = {false, false, false, false};
      for (size_t k = 0; k < order.size(); ++k) {
        const double v = order[k];
        if (v != std::floor(v) || v < 0 || v > 3)
          fail(env, Code::InvalidArgument,
               jn + ".order[" + s(k) + "] must be an op id 0..3 (0 brightness, 1 contrast, 2 saturation, 3 hue)");
        if (seen[static_cast<int>(v)]) fail(env, Code::InvalidArgument, jn + ".order repeats op " + s(static_cast<int64_t>(v)));
        seen[static_cast<int>(v)] = true;
        d.order[k] = static_cast<int>(v);
      }
    }
    auto out = Napi::Float32Array::New(env, static_cast<size_t>(im.channels) * cfg.out_h * cfg.out_w);
    Status st = augment::apply(im, index, d, cfg, out.Data());
    if (!st.is_ok()) fail(env, st.code(), fn + ": " + st.message());
    return out;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    make_error(env, Code::Internal, fn + ": " + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace

void init_augment(Napi::Env env, Napi::Object exports) {
  Napi::Object a = Napi::Object::New(env);
  a.Set("twoViews", Napi::Function::New(env, TwoViews, "twoViews"));
  a.Set("twoViewsAsync", Napi::Function::New(env, TwoViewsAsync, "twoViewsAsync"));
  a.Set("applyFixed", Napi::Function::New(env, ApplyFixed, "applyFixed"));
  a.Set("drawFields", Napi::Number::New(env, kDrawFields));
  exports.Set("augment", a);
}

}  // namespace mimic::bind
