// The Network class: a trainable network from a NetworkSpec (lib/train/spec.ts: plain objects, Float32Array data).
//   new Network(spec, { threads }?)
//   setMode('train' | 'eval' | 'frozen-bn')                 mode()
//   forward({ [input]: Float32Array }, batch?, into?) -> { [output]: Float32Array }   (copies; batch inferred if
//     absent; into: { [output]: Float32Array } receives those outputs instead of new arrays)
//   backward({ [output]: Float32Array }, inputGrads?: boolean) -> undefined | { [input]: Float32Array }
//   forwardAsync / backwardAsync: the same off the event loop (Promises; the arrays are held until they settle)
//   paramNames()  paramShapes()  getParams() / setParams(record)  getGrads()  getBuffers() / setBuffers(record)
//   bufferNames()  inputNames()  outputNames()  plannedBytes()  planInfo()  plan(batch)
//   setProfiling(on)  layerTimings() -> [{ name, op, inputShape, outputShape, forwardSeconds, backwardSeconds,
//     forwardCalls, backwardCalls }] (per-layer wall time while profiling is on; setProfiling(true) clears the counts)
//   paramViews() / gradViews(): Float32Array[] (paramNames() order) over the network's own storage (external
//     ArrayBuffers created once and cached; each holds the native network alive), for the Optimizer without copies:
//       const opt = new Optimizer({ kind: 'adam', params: net.paramViews() }); ... opt.step(net.gradViews());
//     Do not touch them while a forwardAsync/backwardAsync runs.
// Every method other than the getters of names checks that no async call is running (E_INVALID_ARGUMENT).
#include <memory>

#include "async_task.h"
#include "call_copies.h"
#include "convert.h"
#include "exports.h"
#include "mimic/network.h"

namespace mimic::bind {

namespace {

const char* kCls = "Network";

std::vector<std::string> get_strings(Napi::Env env, Napi::Object o, const char* key, const std::string& name,
                                     bool required) {
  std::vector<std::string> r;
  if (!has(o, key)) {
    if (required) fail(env, Code::InvalidArgument, name + "." + key + " is required (an array of strings)");
    return r;
  }
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) fail(env, Code::InvalidArgument, name + "." + key + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsString())
      fail(env, Code::InvalidArgument, name + "." + key + "[" + std::to_string(i) + "] must be a string");
    r.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return r;
}

std::vector<int64_t> get_shape(Napi::Env env, Napi::Object o, const std::string& name) {
  if (!o.Get("shape").IsArray()) fail(env, Code::InvalidArgument, name + ".shape must be an array of integers");
  Napi::Array a = o.Get("shape").As<Napi::Array>();
  std::vector<int64_t> s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value v = a.Get(i);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 1 && d == std::floor(d) && d < 9e15))
      fail(env, Code::InvalidArgument, name + ".shape[" + std::to_string(i) + "] must be an integer >= 1");
    s.push_back(static_cast<int64_t>(d));
  }
  return s;
}

std::vector<NetTensorSpec> get_tensors(Napi::Env env, Napi::Object spec, const char* key, bool required) {
  std::vector<NetTensorSpec> r;
  const std::string base = std::string(kCls) + " spec." + key;
  if (!has(spec, key)) {
    if (required) fail(env, Code::InvalidArgument, base + " is required");
    return r;
  }
  if (!spec.Get(key).IsArray()) fail(env, Code::InvalidArgument, base + " must be an array");
  Napi::Array a = spec.Get(key).As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string tn = base + "[" + std::to_string(i) + "]";
    Napi::Object o = as_object(env, a.Get(i), tn);
    NetTensorSpec t;
    t.name = get_string(env, o, "name", tn + ".name", "");
    t.shape = get_shape(env, o, tn + " ('" + t.name + "')");
    if (has(o, "data")) {
      auto arr = get_typed<float>(env, o.Get("data"), tn + " ('" + t.name + "').data", napi_float32_array, "Float32Array");
      t.data.assign(arr.data, arr.data + arr.length);
      const int64_t bad = first_non_finite(arr.data, arr.length, 1);
      if (bad >= 0)
        fail(env, Code::NonFinite, tn + " ('" + t.name + "').data has a NaN or Inf at element " + std::to_string(bad));
    }
    r.push_back(std::move(t));
  }
  return r;
}

NetworkSpec parse_spec(Napi::Env env, Napi::Value v) {
  const std::string base = std::string(kCls) + " spec";
  Napi::Object o = as_object(env, v, base);
  NetworkSpec s;
  if (!o.Get("inputs").IsArray()) fail(env, Code::InvalidArgument, base + ".inputs must be an array");
  Napi::Array ins = o.Get("inputs").As<Napi::Array>();
  for (uint32_t i = 0; i < ins.Length(); ++i) {
    const std::string in = base + ".inputs[" + std::to_string(i) + "]";
    Napi::Object io = as_object(env, ins.Get(i), in);
    s.inputs.push_back({get_string(env, io, "name", in + ".name", ""), get_shape(env, io, in)});
  }
  s.outputs = get_strings(env, o, "outputs", base, true);
  if (!o.Get("layers").IsArray()) fail(env, Code::InvalidArgument, base + ".layers must be an array");
  Napi::Array ls = o.Get("layers").As<Napi::Array>();
  for (uint32_t i = 0; i < ls.Length(); ++i) {
    const std::string ln = base + ".layers[" + std::to_string(i) + "]";
    Napi::Object lo = as_object(env, ls.Get(i), ln);
    NetLayerSpec L;
    L.op = get_string(env, lo, "op", ln + ".op", "");
    L.name = get_string(env, lo, "name", ln + ".name", "");
    const std::string lname = ln + " ('" + L.name + "')";
    L.inputs = get_strings(env, lo, "inputs", lname, true);
    L.outputs = get_strings(env, lo, "outputs", lname, true);
    L.params = get_strings(env, lo, "params", lname, false);
    L.buffers = get_strings(env, lo, "buffers", lname, false);
    if (has(lo, "attrs")) {
      Napi::Object ao = as_object(env, lo.Get("attrs"), lname + ".attrs");
      Napi::Array keys = ao.GetPropertyNames();
      for (uint32_t k = 0; k < keys.Length(); ++k) {
        const std::string key = keys.Get(k).ToString().Utf8Value();
        Napi::Value av = ao.Get(key);
        NetAttr attr;
        const std::string an = lname + ".attrs." + key;
        if (av.IsNumber()) {
          attr.values.push_back(av.As<Napi::Number>().DoubleValue());
        } else if (av.IsArray()) {
          attr.is_list = true;
          Napi::Array aa = av.As<Napi::Array>();
          for (uint32_t j = 0; j < aa.Length(); ++j) {
            if (!aa.Get(j).IsNumber()) fail(env, Code::InvalidArgument, an + "[" + std::to_string(j) + "] must be a number");
            attr.values.push_back(aa.Get(j).As<Napi::Number>().DoubleValue());
          }
        } else if (av.IsUndefined()) {
          continue;
        } else {
          fail(env, Code::InvalidArgument, an + " must be a number or an array of numbers");
        }
        L.attrs[key] = std::move(attr);
      }
    }
    s.layers.push_back(std::move(L));
  }
  s.params = get_tensors(env, o, "params", true);
  s.buffers = get_tensors(env, o, "buffers", false);
  return s;
}

class NetworkWrap : public Napi::ObjectWrap<NetworkWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, kCls,
        {InstanceMethod("setMode", &NetworkWrap::SetMode), InstanceMethod("mode", &NetworkWrap::Mode),
         InstanceMethod("forward", &NetworkWrap::Forward), InstanceMethod("backward", &NetworkWrap::Backward),
         InstanceMethod("forwardAsync", &NetworkWrap::ForwardAsync),
         InstanceMethod("backwardAsync", &NetworkWrap::BackwardAsync),
         InstanceMethod("paramNames", &NetworkWrap::ParamNames), InstanceMethod("paramShapes", &NetworkWrap::ParamShapes),
         InstanceMethod("bufferNames", &NetworkWrap::BufferNames),
         InstanceMethod("inputNames", &NetworkWrap::InputNames), InstanceMethod("outputNames", &NetworkWrap::OutputNames),
         InstanceMethod("getParams", &NetworkWrap::GetParams), InstanceMethod("setParams", &NetworkWrap::SetParams),
         InstanceMethod("getGrads", &NetworkWrap::GetGrads), InstanceMethod("getBuffers", &NetworkWrap::GetBuffers),
         InstanceMethod("setBuffers", &NetworkWrap::SetBuffers), InstanceMethod("plan", &NetworkWrap::Plan),
         InstanceMethod("plannedBytes", &NetworkWrap::PlannedBytes), InstanceMethod("planInfo", &NetworkWrap::PlanInfo),
         InstanceMethod("paramViews", &NetworkWrap::ParamViews), InstanceMethod("gradViews", &NetworkWrap::GradViews),
         InstanceMethod("setProfiling", &NetworkWrap::SetProfiling),
         InstanceMethod("layerTimings", &NetworkWrap::LayerTimings)});
  }

  explicit NetworkWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetworkWrap>(info) {
    Napi::Env env = info.Env();
    NetworkSpec spec = parse_spec(env, info[0]);
    int threads = 0;
    if (!info[1].IsUndefined()) {
      Napi::Object o = as_object(env, info[1], std::string(kCls) + " options");
      threads = static_cast<int>(get_int(env, o, "threads", std::string(kCls) + " options", 0, 0));
    }
    run_checked(env, [&] { net_ = std::make_shared<Network>(spec, threads); }, std::string(kCls) + ": ");
  }

  // A key of `rec` (with a value) that names no input (or output) of the network is an error naming the valid ones.
  void reject_unknown(Napi::Env env, Napi::Object rec, const std::string& what, bool inputs) {
    const size_t n = inputs ? net_->num_inputs() : net_->num_outputs();
    Napi::Array keys = rec.GetPropertyNames();
    for (uint32_t k = 0; k < keys.Length(); ++k) {
      const std::string key = keys.Get(k).ToString().Utf8Value();
      bool known = false;
      for (size_t i = 0; i < n; ++i) known = known || key == (inputs ? net_->input_name(i) : net_->output_name(i));
      if (!known && !rec.Get(key).IsUndefined()) {
        std::string list;
        for (size_t i = 0; i < n; ++i) list += (i ? ", " : "") + (inputs ? net_->input_name(i) : net_->output_name(i));
        fail(env, Code::InvalidArgument,
             what + " has an unknown " + (inputs ? "input" : "output") + " '" + key + "' (the network's: " + list + ")");
      }
    }
  }

  // Pointers of the arrays in `rec` (one per name, in order; missing -> null unless required), checked sizes.
  // With `copies`, the pointers are to private copies (see CallCopies), for work queued off the main thread.
  std::vector<const float*> gather(Napi::Env env, Napi::Value rv, const std::string& what, bool inputs,
                                   int64_t* batch, std::vector<Napi::Value>* keep, CallCopies* copies = nullptr) {
    Napi::Object rec = as_object(env, rv, what);
    const size_t n = inputs ? net_->num_inputs() : net_->num_outputs();
    std::vector<const float*> ptrs(n, nullptr);
    reject_unknown(env, rec, what, inputs);
    for (size_t i = 0; i < n; ++i) {
      const std::string& name = inputs ? net_->input_name(i) : net_->output_name(i);
      if (!has(rec, name.c_str())) {
        if (inputs) fail(env, Code::InvalidArgument, what + " is missing input '" + name + "'");
        continue;  // a missing output gradient is zero
      }
      auto arr = get_typed<float>(env, rec.Get(name), what + "." + name, napi_float32_array, "Float32Array");
      int64_t per = 1;
      if (inputs) {
        for (int64_t d : net_->input_sample_shape(i)) per *= d;
        const int64_t len = static_cast<int64_t>(arr.length);
        if (*batch <= 0) {
          if (len == 0 || len % per)
            fail(env, Code::ShapeMismatch,
                 what + "." + name + " has " + std::to_string(len) + " elements, not a positive multiple of the sample size " +
                     std::to_string(per));
          *batch = len / per;
        }
        if (len != *batch * per)
          fail(env, Code::ShapeMismatch,
               what + "." + name + " has " + std::to_string(len) + " elements, expected " + std::to_string(*batch * per) +
                   " (batch " + std::to_string(*batch) + " x " + std::to_string(per) + ")");
      } else {
        const int64_t want = net_->output_numel(i);
        if (static_cast<int64_t>(arr.length) != want)
          fail(env, Code::ShapeMismatch,
               what + "." + name + " has " + std::to_string(arr.length) + " elements, expected " + std::to_string(want) +
                   " (the last forward's output)");
      }
      ptrs[i] = copies ? copies->hold(arr.data, arr.length) : arr.data;
      keep->push_back(rec.Get(name));
    }
    return ptrs;
  }

  // The optional `into` record of forward(): output name -> a Float32Array to copy that output into (and return)
  // instead of a new array (a training loop then allocates nothing per step). Names and types are checked before
  // the forward runs, lengths after it (they depend on the batch).
  void check_into(Napi::Env env, Napi::Value v, const std::string& what) {
    if (v.IsUndefined()) return;
    Napi::Object rec = as_object(env, v, what);
    reject_unknown(env, rec, what, false);
    Napi::Array keys = rec.GetPropertyNames();
    for (uint32_t k = 0; k < keys.Length(); ++k) {
      const std::string key = keys.Get(k).ToString().Utf8Value();
      if (!rec.Get(key).IsUndefined()) get_typed<float>(env, rec.Get(key), what + "." + key, napi_float32_array, "Float32Array");
    }
  }
  Napi::Object outputs_js(Napi::Env env, Napi::Value into, const std::string& what) {
    Napi::Object r = Napi::Object::New(env);
    const bool has_into = !into.IsUndefined();
    for (size_t i = 0; i < net_->num_outputs(); ++i) {
      const std::string& name = net_->output_name(i);
      const size_t n = static_cast<size_t>(net_->output_numel(i));
      if (has_into && has(into.As<Napi::Object>(), name.c_str())) {
        Napi::Value v = into.As<Napi::Object>().Get(name);
        if (is_detached(v))
          fail(env, Code::InvalidArgument, what + "." + name + " was detached (transferred) before the output was copied into it");
        auto dst = get_typed<float>(env, v, what + "." + name, napi_float32_array, "Float32Array");
        if (dst.length != n)
          fail(env, Code::ShapeMismatch,
               what + "." + name + " has " + std::to_string(dst.length) + " elements, the output has " + std::to_string(n));
        std::memcpy(dst.data, net_->output(i), n * sizeof(float));
        r.Set(name, v);
        continue;
      }
      Napi::Float32Array a = Napi::Float32Array::New(env, n);
      std::memcpy(a.Data(), net_->output(i), n * sizeof(float));
      r.Set(name, a);
    }
    return r;
  }
  Napi::Value input_grads_js(Napi::Env env) {
    Napi::Object r = Napi::Object::New(env);
    for (size_t i = 0; i < net_->num_inputs(); ++i) {
      const float* g = net_->input_grad(i);
      if (!g) continue;
      size_t n = static_cast<size_t>(net_->plan_info().batch);
      for (int64_t d : net_->input_sample_shape(i)) n *= static_cast<size_t>(d);
      Napi::Float32Array a = Napi::Float32Array::New(env, n);
      std::memcpy(a.Data(), g, n * sizeof(float));
      r.Set(net_->input_name(i), a);
    }
    return r;
  }

 private:
  void check_idle(Napi::Env env, const char* what) {
    if (busy_)
      fail(env, Code::InvalidArgument,
           std::string(kCls) + "." + what + ": a forwardAsync()/backwardAsync() is still running on this network; await it first");
  }

  int64_t batch_arg(Napi::Env env, Napi::Value v, const char* what) {
    if (v.IsUndefined()) return 0;
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 1 && d == std::floor(d) && d < 9e15))
      fail(env, Code::InvalidArgument, std::string(kCls) + "." + what + ": batch must be an integer >= 1");
    return static_cast<int64_t>(d);
  }

  Napi::Value SetMode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "setMode");
    const std::string m = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (m == "train") net_->set_mode(NetMode::Train);
    else if (m == "eval") net_->set_mode(NetMode::Eval);
    else if (m == "frozen-bn") net_->set_mode(NetMode::FrozenBN);
    else fail(env, Code::InvalidArgument, std::string(kCls) + ".setMode: mode must be 'train', 'eval' or 'frozen-bn' (got '" + m + "')");
    return env.Undefined();
  }
  Napi::Value Mode(const Napi::CallbackInfo& info) {
    const NetMode m = net_->mode();
    return Napi::String::New(info.Env(), m == NetMode::Train ? "train" : m == NetMode::Eval ? "eval" : "frozen-bn");
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "forward");
    int64_t batch = batch_arg(env, info[1], "forward");
    std::vector<Napi::Value> keep;
    auto ptrs = gather(env, info[0], std::string(kCls) + ".forward inputs", true, &batch, &keep);
    const std::string into_what = std::string(kCls) + ".forward into";
    check_into(env, info[2], into_what);
    run_checked(env, [&] { net_->forward(ptrs, batch); }, std::string(kCls) + ".forward: ");
    return outputs_js(env, info[2], into_what);
  }
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "backward");
    const bool ig = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    int64_t batch = 0;
    std::vector<Napi::Value> keep;
    if (net_->plan_info().batch == 0) fail(env, Code::InvalidArgument, std::string(kCls) + ".backward: call forward first");
    auto ptrs = gather(env, info[0], std::string(kCls) + ".backward gradients", false, &batch, &keep);
    run_checked(env, [&] { net_->backward(ptrs, ig); }, std::string(kCls) + ".backward: ");
    return ig ? input_grads_js(env) : env.Undefined();
  }
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info);
  Napi::Value BackwardAsync(const Napi::CallbackInfo& info);
  // Marks the network busy until the promise settles; `keep` also holds this object (and so net_).
  Napi::Value queue(const Napi::CallbackInfo& info, bool forward, std::vector<Napi::Value> keep,
                    AsyncTask::Work work, AsyncTask::Result result) {
    keep.push_back(info.This());
    Napi::Promise p = queue_task(info.Env(), forward ? "mimic.networkForward" : "mimic.networkBackward", keep,
                                 std::move(work), std::move(result),
                                 std::string(kCls) + (forward ? ".forwardAsync: " : ".backwardAsync: "),
                                 [this] { busy_ = false; });
    busy_ = true;  // once queued; the task settles on a later tick
    return p;
  }

  Napi::Value names(Napi::Env env, bool params) {
    const size_t n = params ? net_->num_params() : net_->num_buffers();
    Napi::Array a = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; ++i) a.Set(static_cast<uint32_t>(i), params ? net_->param_name(i) : net_->buffer_name(i));
    return a;
  }
  Napi::Value ParamNames(const Napi::CallbackInfo& info) { return names(info.Env(), true); }
  Napi::Value BufferNames(const Napi::CallbackInfo& info) { return names(info.Env(), false); }
  Napi::Value InputNames(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), net_->num_inputs());
    for (size_t i = 0; i < net_->num_inputs(); ++i) a.Set(static_cast<uint32_t>(i), net_->input_name(i));
    return a;
  }
  Napi::Value OutputNames(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), net_->num_outputs());
    for (size_t i = 0; i < net_->num_outputs(); ++i) a.Set(static_cast<uint32_t>(i), net_->output_name(i));
    return a;
  }
  Napi::Value ParamShapes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object r = Napi::Object::New(env);
    for (size_t i = 0; i < net_->num_params(); ++i) {
      const auto& s = net_->param_shape(i);
      Napi::Array a = Napi::Array::New(env, s.size());
      for (size_t k = 0; k < s.size(); ++k) a.Set(static_cast<uint32_t>(k), static_cast<double>(s[k]));
      r.Set(net_->param_name(i), a);
    }
    return r;
  }

  enum class What { Params, Grads, Buffers };
  Napi::Value get_all(Napi::Env env, What w) {
    check_idle(env, w == What::Params ? "getParams" : w == What::Grads ? "getGrads" : "getBuffers");
    Napi::Object r = Napi::Object::New(env);
    const size_t n = w == What::Buffers ? net_->num_buffers() : net_->num_params();
    for (size_t i = 0; i < n; ++i) {
      const size_t len = static_cast<size_t>(w == What::Buffers ? net_->buffer_size(i) : net_->param_size(i));
      const float* src = w == What::Params ? net_->param_data(i) : w == What::Grads ? net_->grad_data(i) : net_->buffer_data(i);
      Napi::Float32Array a = Napi::Float32Array::New(env, len);
      std::memcpy(a.Data(), src, len * sizeof(float));
      r.Set(w == What::Buffers ? net_->buffer_name(i) : net_->param_name(i), a);
    }
    return r;
  }
  Napi::Value set_all(Napi::Env env, Napi::Value v, bool params) {
    const std::string what = std::string(kCls) + (params ? ".setParams" : ".setBuffers");
    check_idle(env, params ? "setParams" : "setBuffers");
    Napi::Object rec = as_object(env, v, what + " argument");
    Napi::Array keys = rec.GetPropertyNames();
    // Validate everything first (all or nothing).
    std::vector<std::pair<std::string, ArrayArg<float>>> items;
    for (uint32_t k = 0; k < keys.Length(); ++k) {
      const std::string key = keys.Get(k).ToString().Utf8Value();
      const int idx = params ? net_->param_index(key) : net_->buffer_index(key);
      if (idx < 0) fail(env, Code::InvalidArgument, what + ": no " + (params ? "parameter" : "buffer") + " named '" + key + "'");
      auto arr = get_typed<float>(env, rec.Get(key), what + "." + key, napi_float32_array, "Float32Array");
      const int64_t want = params ? net_->param_size(idx) : net_->buffer_size(idx);
      if (static_cast<int64_t>(arr.length) != want)
        fail(env, Code::ShapeMismatch,
             what + "." + key + " has " + std::to_string(arr.length) + " elements, expected " + std::to_string(want));
      const int64_t bad = first_non_finite(arr.data, arr.length, 1);
      if (bad >= 0) fail(env, Code::NonFinite, what + "." + key + " has a NaN or Inf at element " + std::to_string(bad));
      items.push_back({key, arr});
    }
    for (auto& [key, arr] : items)
      run_checked(env, [&] {
        if (params) net_->set_param(key, arr.data, static_cast<int64_t>(arr.length));
        else net_->set_buffer(key, arr.data, static_cast<int64_t>(arr.length));
      }, what + ": ");
    return env.Undefined();
  }
  Napi::Value GetParams(const Napi::CallbackInfo& info) { return get_all(info.Env(), What::Params); }
  Napi::Value GetGrads(const Napi::CallbackInfo& info) { return get_all(info.Env(), What::Grads); }
  Napi::Value GetBuffers(const Napi::CallbackInfo& info) { return get_all(info.Env(), What::Buffers); }
  Napi::Value SetParams(const Napi::CallbackInfo& info) { return set_all(info.Env(), info[0], true); }
  Napi::Value SetBuffers(const Napi::CallbackInfo& info) { return set_all(info.Env(), info[0], false); }

  Napi::Value Plan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "plan");
    const int64_t b = batch_arg(env, info[0], "plan");
    if (b == 0) fail(env, Code::InvalidArgument, std::string(kCls) + ".plan: batch is required");
    size_t bytes = 0;
    run_checked(env, [&] { bytes = net_->plan(b); }, std::string(kCls) + ".plan: ");
    return Napi::Number::New(env, static_cast<double>(bytes));
  }
  Napi::Value PlannedBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(net_->plan_info().total_bytes()));
  }
  Napi::Value SetProfiling(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "setProfiling");
    if (info.Length() < 1 || !info[0].IsBoolean())
      fail(env, Code::InvalidArgument, std::string(kCls) + ".setProfiling: a boolean is required");
    net_->set_profiling(info[0].As<Napi::Boolean>().Value());
    return env.Undefined();
  }
  Napi::Value LayerTimings(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "layerTimings");
    const auto timings = net_->layer_timings();
    auto shape = [&](const std::vector<int64_t>& v) {
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t k = 0; k < v.size(); ++k) a.Set(static_cast<uint32_t>(k), static_cast<double>(v[k]));
      return a;
    };
    Napi::Array r = Napi::Array::New(env, timings.size());
    for (size_t i = 0; i < timings.size(); ++i) {
      const auto& t = timings[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      o.Set("op", t.op);
      o.Set("inputShape", shape(t.input_shape));
      o.Set("outputShape", shape(t.output_shape));
      o.Set("forwardSeconds", t.forward_seconds);
      o.Set("backwardSeconds", t.backward_seconds);
      o.Set("forwardCalls", static_cast<double>(t.forward_calls));
      o.Set("backwardCalls", static_cast<double>(t.backward_calls));
      r.Set(static_cast<uint32_t>(i), o);
    }
    return r;
  }
  Napi::Value PlanInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const NetPlanInfo& p = net_->plan_info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("batch", static_cast<double>(p.batch));
    o.Set("plans", static_cast<double>(p.plans));
    o.Set("activationBytes", static_cast<double>(p.activation_bytes));
    o.Set("gradientBytes", static_cast<double>(p.gradient_bytes));
    o.Set("scratchBytes", static_cast<double>(p.scratch_bytes));
    o.Set("workspaceBytes", static_cast<double>(p.workspace_bytes));
    o.Set("totalBytes", static_cast<double>(p.total_bytes()));
    o.Set("paramBytes", static_cast<double>(p.param_bytes));
    return o;
  }

  Napi::Value views(Napi::Env env, bool grads) {
    auto& cache = grads ? grad_views_ : param_views_;
    if (cache.empty()) {
      for (size_t i = 0; i < net_->num_params(); ++i) {
        float* p = grads ? net_->grad_data(i) : net_->param_data(i);
        const size_t n = static_cast<size_t>(net_->param_size(i));
        auto* hold = new std::shared_ptr<Network>(net_);
        Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
            env, p, n * sizeof(float), [](Napi::Env, void*, std::shared_ptr<Network>* h) { delete h; }, hold);
        cache.push_back(Napi::Persistent(Napi::Float32Array::New(env, n, ab, 0)));
      }
    }
    Napi::Array a = Napi::Array::New(env, cache.size());
    for (size_t i = 0; i < cache.size(); ++i) a.Set(static_cast<uint32_t>(i), cache[i].Value());
    return a;
  }
  Napi::Value ParamViews(const Napi::CallbackInfo& info) { return views(info.Env(), false); }
  Napi::Value GradViews(const Napi::CallbackInfo& info) { return views(info.Env(), true); }

  std::shared_ptr<Network> net_;
  bool busy_ = false;
  std::vector<Napi::Reference<Napi::Float32Array>> param_views_, grad_views_;
};

Napi::Value NetworkWrap::ForwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_idle(env, "forwardAsync");
  int64_t batch = batch_arg(env, info[1], "forwardAsync");
  std::vector<Napi::Value> keep;
  // inputs copied unless borrowed (info[3]): the forward may run after the caller's arrays are gone
  auto copies = std::make_shared<CallCopies>();
  const bool borrow = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  auto ptrs = gather(env, info[0], std::string(kCls) + ".forwardAsync inputs", true, &batch, &keep, borrow ? nullptr : copies.get());
  const std::string into_what = std::string(kCls) + ".forwardAsync into";
  check_into(env, info[2], into_what);
  std::shared_ptr<Napi::ObjectReference> into;  // held until the result is copied into it
  if (!info[2].IsUndefined()) into = std::make_shared<Napi::ObjectReference>(Napi::Persistent(info[2].As<Napi::Object>()));
  return queue(info, true, std::move(keep), [this, ptrs, batch, copies] { net_->forward(ptrs, batch); },
               [this, into, into_what](Napi::Env e) { return outputs_js(e, into ? into->Value() : e.Undefined(), into_what); });
}

Napi::Value NetworkWrap::BackwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_idle(env, "backwardAsync");
  const bool ig = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (net_->plan_info().batch == 0) fail(env, Code::InvalidArgument, std::string(kCls) + ".backwardAsync: call forward first");
  int64_t batch = 0;
  std::vector<Napi::Value> keep;
  auto copies = std::make_shared<CallCopies>();
  const bool borrow = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  auto ptrs = gather(env, info[0], std::string(kCls) + ".backwardAsync gradients", false, &batch, &keep, borrow ? nullptr : copies.get());
  return queue(info, false, std::move(keep), [this, ptrs, ig, copies] { net_->backward(ptrs, ig); },
               [this, ig](Napi::Env e) { return ig ? input_grads_js(e) : e.Undefined(); });
}

}  // namespace

void init_network(Napi::Env env, Napi::Object exports) {
  exports.Set("Network", NetworkWrap::Define(env));
  Napi::Array ops = Napi::Array::New(env, Network::supported_ops().size());
  for (size_t i = 0; i < Network::supported_ops().size(); ++i) ops.Set(static_cast<uint32_t>(i), Network::supported_ops()[i]);
  exports.Get("Network").As<Napi::Object>().Set("supportedOps", ops);
}

}  // namespace mimic::bind
