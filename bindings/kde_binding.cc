// estimateMI(request) -> Promise<result>: validation on the calling thread (shapes, types, options), then the
// finiteness scan, the bandwidth scales and the estimate itself in an AsyncWorker, off the event loop.
#include <chrono>
#include <limits>
#include <memory>

#include "async_task.h"
#include "call_copies.h"
#include "convert.h"
#include "exports.h"
#include "mimic/kde_mi.h"

namespace mimic::bind {

namespace {
struct BandwidthSpec {
  bool relative = true;
  std::vector<double> values;  // absolute sigma^2, or factors of the scale statistic
  kde::Scale scale = kde::Scale::MedianSq;
  int64_t pairs = 20000;
  uint64_t seed = 0;
};

struct KdeJob {
  kde::Request req;
  BandwidthSpec layer_bw, feature_bw;
  bool check_finite = true;
  std::vector<std::string> layer_names;
  CallCopies copies;  // the input arrays, unless the caller borrows them
  // outputs
  kde::Result result;
  std::vector<double> layer_scale, s2_layers;
  double feature_scale = 0;
  double seconds_check = 0, seconds_scale = 0, seconds_estimate = 0;
};

kde::Matrix parse_matrix(Napi::Env env, Napi::Value v, const std::string& name, CallCopies* copies) {
  Napi::Object o = as_object(env, v, name);
  auto arr = get_typed<float>(env, o.Get("data"), name + ".data", napi_float32_array, "Float32Array");
  kde::Matrix m;
  m.rows = get_int(env, o, "rows", name, 0, 1, true);
  m.cols = get_int(env, o, "cols", name, 0, 1, true);
  if (static_cast<int64_t>(arr.length) != m.rows * m.cols)
    fail(env, Code::ShapeMismatch,
         name + ".data has " + std::to_string(arr.length) + " elements, rows x cols = " + std::to_string(m.rows) +
             " x " + std::to_string(m.cols) + " = " + std::to_string(m.rows * m.cols));
  const float* data = copies ? copies->hold(arr.data, arr.length) : arr.data;
  run_checked(env, [&] { m = kde::as_matrix(TensorView::contiguous(data, {m.rows, m.cols}), name); });
  return m;
}

BandwidthSpec parse_bandwidth(Napi::Env env, Napi::Value v, const std::string& name) {
  Napi::Object o = as_object(env, v, name);
  BandwidthSpec b;
  std::string mode = get_string(env, o, "mode", name, "relative");
  if (mode != "relative" && mode != "absolute")
    fail(env, Code::InvalidArgument, name + ".mode must be 'relative' or 'absolute' (got '" + mode + "')");
  b.relative = mode == "relative";
  if (!o.Get("values").IsArray()) fail(env, Code::InvalidArgument, name + ".values must be an array of numbers");
  Napi::Array arr = o.Get("values").As<Napi::Array>();
  if (arr.Length() == 0) fail(env, Code::InvalidArgument, name + ".values must not be empty");
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value x = arr.Get(i);
    double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
    if (!(d > 0) || !std::isfinite(d))
      fail(env, Code::InvalidArgument,
           name + ".values[" + std::to_string(i) + "] must be a positive finite number");
    b.values.push_back(d);
  }
  std::string scale = get_string(env, o, "scale", name, "medianSq");
  if (scale == "medianSq") b.scale = kde::Scale::MedianSq;
  else if (scale == "meanSqNorm") b.scale = kde::Scale::MeanSqNorm;
  else fail(env, Code::InvalidArgument, name + ".scale must be 'medianSq' or 'meanSqNorm' (got '" + scale + "')");
  b.pairs = get_int(env, o, "pairs", name, 20000, 1);
  b.seed = static_cast<uint64_t>(get_int(env, o, "seed", name, 0, 0));
  return b;
}

void execute(KdeJob& job) {
  auto t0 = std::chrono::steady_clock::now();
  kde::Request& req = job.req;
  if (job.check_finite) {
    for (size_t l = 0; l < req.layers.size(); ++l) {
      const auto& m = req.layers[l];
      int64_t bad = first_non_finite(m.data, static_cast<size_t>(m.rows * m.cols), req.threads);
      if (bad >= 0)
        throw Error(Code::NonFinite, "layers[" + std::to_string(l) + "] (" + job.layer_names[l] +
                                         ") has a NaN or Inf at sample " + std::to_string(bad / m.cols) +
                                         ", element " + std::to_string(bad % m.cols));
    }
    if (req.features.data) {
      const auto& m = req.features;
      int64_t bad = first_non_finite(m.data, static_cast<size_t>(m.rows * m.cols), req.threads);
      if (bad >= 0)
        throw Error(Code::NonFinite, "features has a NaN or Inf at sample " + std::to_string(bad / m.cols) +
                                         ", element " + std::to_string(bad % m.cols));
    }
  }
  const auto t_checked = std::chrono::steady_clock::now();
  // Bandwidths: every factor of the sweep shares one scale statistic per data set.
  const size_t L = req.layers.size(), B = job.layer_bw.values.size();
  req.s2_layers.assign(L, {});
  job.layer_scale.assign(L, 1.0);
  for (size_t l = 0; l < L; ++l) {
    if (job.layer_bw.relative)
      job.layer_scale[l] = kde::scale_statistic(req.layers[l], job.layer_bw.scale, job.layer_bw.pairs,
                                                job.layer_bw.seed + l, req.threads);
    if (!(job.layer_scale[l] > 0))
      throw Error(Code::InvalidArgument, "layers[" + std::to_string(l) + "] (" + job.layer_names[l] +
                                             ") has zero spread: a relative bandwidth is undefined (constant layer?)");
    for (double v : job.layer_bw.values) req.s2_layers[l].push_back(v * job.layer_scale[l]);
  }
  if (req.features.data) {
    job.feature_scale = 1.0;
    if (job.feature_bw.relative)
      job.feature_scale = kde::scale_statistic(req.features, job.feature_bw.scale, job.feature_bw.pairs,
                                               job.feature_bw.seed + 1000003, req.threads);
    if (!(job.feature_scale > 0))
      throw Error(Code::InvalidArgument, "features have zero spread: a relative bandwidth is undefined");
    req.s2_features.clear();
    for (size_t b = 0; b < B; ++b)
      req.s2_features.push_back(job.feature_bw.values[job.feature_bw.values.size() == 1 ? 0 : b] * job.feature_scale);
  }
  // The float32 engines hold the kernel's 1 / (2 s2) as a float: refuse bandwidths beyond its range (data of order
  // 1e-20, or absolute s2 of 1e40) rather than return saturated or NaN values.
  if (req.precision == kde::Precision::Fp32) {
    auto check = [](double s2, const std::string& what) {
      const double c = 0.5 / s2;
      if (!(c <= std::numeric_limits<float>::max() && c >= std::numeric_limits<float>::min()))
        throw Error(Code::InvalidArgument, what + ": the bandwidth s2 = " + std::to_string(s2) +
                                               " is outside what the float32 engine can use (1 / (2 s2) must be a normal float): "
                                               "rescale the data, or use precision 'fp64'");
    };
    for (size_t l = 0; l < L; ++l)
      for (double s2 : req.s2_layers[l]) check(s2, "layers[" + std::to_string(l) + "] (" + job.layer_names[l] + ")");
    for (double s2 : req.s2_features) check(s2, "features");
  }
  auto t1 = std::chrono::steady_clock::now();
  job.result = kde::estimate(req);
  auto t2 = std::chrono::steady_clock::now();
  job.seconds_check = std::chrono::duration<double>(t_checked - t0).count();
  job.seconds_scale = std::chrono::duration<double>(t1 - t_checked).count();
  job.seconds_estimate = std::chrono::duration<double>(t2 - t1).count();
}

Napi::Float64Array to_f64(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Object result_object(Napi::Env env, const KdeJob& job) {
  const kde::Result& r = job.result;
  Napi::Object o = Napi::Object::New(env);
  o.Set("n", Napi::Number::New(env, static_cast<double>(r.n)));
  o.Set("numLayers", r.num_layers);
  o.Set("numBandwidths", r.num_bandwidths);
  o.Set("values", to_f64(env, r.values));
  o.Set("saturation", to_f64(env, r.saturation));
  o.Set("featureSaturation", to_f64(env, r.feature_saturation));
  std::vector<double> s2;
  for (auto& v : job.req.s2_layers) s2.insert(s2.end(), v.begin(), v.end());
  o.Set("s2Layers", to_f64(env, s2));
  o.Set("s2Features", to_f64(env, job.req.s2_features));
  o.Set("layerScales", to_f64(env, job.layer_scale));
  o.Set("featureScale", job.feature_scale);
  o.Set("backend", r.backend);
  o.Set("secondsCheck", job.seconds_check);
  o.Set("secondsScale", job.seconds_scale);
  o.Set("secondsEstimate", job.seconds_estimate);
  o.Set("gemmThreadSeconds", r.gemm_seconds);
  o.Set("gemmFlops", r.gemm_flops);
  o.Set("epilogueThreadSeconds", r.epilogue_seconds);
  o.Set("tile", r.tile);
  return o;
}

Napi::Value EstimateMI(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = as_object(env, info[0], "request");
  auto job = std::make_shared<KdeJob>();
  kde::Request& req = job->req;
  if (!o.Get("layers").IsArray()) fail(env, Code::InvalidArgument, "layers must be an array");
  Napi::Array layers = o.Get("layers").As<Napi::Array>();
  if (layers.Length() == 0) fail(env, Code::InvalidArgument, "layers must not be empty");
  CallCopies* copies = get_bool(env, o, "borrow", "request", false) ? nullptr : &job->copies;
  for (uint32_t l = 0; l < layers.Length(); ++l) {
    std::string name = "layers[" + std::to_string(l) + "]";
    req.layers.push_back(parse_matrix(env, layers.Get(l), name, copies));
    Napi::Object lo = layers.Get(l).As<Napi::Object>();
    job->layer_names.push_back(get_string(env, lo, "name", name, name));
  }
  if (has(o, "features")) req.features = parse_matrix(env, o.Get("features"), "features", copies);
  if (has(o, "labels")) {
    auto lab = get_typed<int32_t>(env, o.Get("labels"), "labels", napi_int32_array, "Int32Array");
    if (static_cast<int64_t>(lab.length) != req.layers[0].rows)
      fail(env, Code::ShapeMismatch,
           "labels has " + std::to_string(lab.length) + " entries, layers have " + std::to_string(req.layers[0].rows) +
               " samples");
    req.labels = copies ? copies->hold(lab.data, lab.length) : lab.data;
  }
  job->layer_bw = parse_bandwidth(env, o.Get("bandwidth"), "bandwidth");
  job->feature_bw = has(o, "featureBandwidth") ? parse_bandwidth(env, o.Get("featureBandwidth"), "featureBandwidth")
                                               : job->layer_bw;
  if (job->feature_bw.values.size() != 1 && job->feature_bw.values.size() != job->layer_bw.values.size())
    fail(env, Code::ShapeMismatch, "featureBandwidth.values must have 1 entry or as many as bandwidth.values");
  req.quantities = static_cast<uint32_t>(get_int(env, o, "quantities", "request", 1, 1));
  req.threads = static_cast<int>(get_int(env, o, "threads", "request", 0, 0));
  req.tile = static_cast<int>(get_int(env, o, "tile", "request", 0, 0));
  req.path = parse_path(env, get_string(env, o, "path", "request.path", "auto"), "path");
  std::string precision = get_string(env, o, "precision", "request", "fp32");
  if (precision == "fp32") req.precision = kde::Precision::Fp32;
  else if (precision == "fp64") req.precision = kde::Precision::Fp64Reference;
  else fail(env, Code::InvalidArgument, "precision must be 'fp32' or 'fp64' (got '" + precision + "')");
  std::string backend = get_string(env, o, "backend", "request", "cpu");
  if (backend == "cpu") req.backend = kde::Backend::Cpu;
  else if (backend == "cuda") req.backend = kde::Backend::Cuda;
  else fail(env, Code::InvalidArgument, "backend must be 'cpu' or 'cuda' (got '" + backend + "')");
  job->check_finite = get_bool(env, o, "checkFinite", "request", true);
  if (has(o, "cancel")) {  // lib/mi/estimate.ts's own flag (never handed out), held with the request until it settles
    auto c = get_typed<int32_t>(env, o.Get("cancel"), "cancel", napi_int32_array, "Int32Array");
    if (c.length < 1) fail(env, Code::InvalidArgument, "cancel must hold one element");
    req.cancel = c.data;
  }
  // Shapes, labels and selection are checked here, before any work is queued (s2 filled with placeholders).
  req.s2_layers.assign(req.layers.size(), std::vector<double>(job->layer_bw.values.size(), 1.0));
  req.s2_features.assign(job->layer_bw.values.size(), 1.0);
  run_checked(env, [&] { kde::detail::validate(req); });
  // The request holds every input array (read in place when borrowed).
  return queue_task(env, "mimic.estimateMI", {o}, [job] { execute(*job); },
                    [job](Napi::Env e) { return result_object(e, *job); });
}

Napi::Array QuantityNames(Napi::Env env) {
  Napi::Array a = Napi::Array::New(env, kde::kNumQuantities);
  for (int q = 0; q < kde::kNumQuantities; ++q) a.Set(q, Napi::String::New(env, kde::quantity_name(q)));
  return a;
}
}  // namespace

void init_kde(Napi::Env env, Napi::Object exports) {
  exports.Set("estimateMI", Napi::Function::New(env, EstimateMI, "estimateMI"));
  exports.Set("kdeQuantityNames", QuantityNames(env));
}

}  // namespace mimic::bind
