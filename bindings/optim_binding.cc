// The Optimizer class: PyTorch-semantics Adam / AdamW / SGD over Float32Array parameters updated in place.
//   new Optimizer({ kind: 'adam'|'adamw'|'sgd', params: Float32Array[], lr, betas: [b1, b2], eps, weightDecay,
//                   amsgrad, momentum, dampening, nesterov, groups?: [{ params: number[], ...overrides }],
//                   threads })
//   step(grads: Float32Array[]): void          stepAsync(grads, { borrow }?): Promise<void> (off the event loop, on
//     copies of the parameters and gradients unless borrow: see StepAsync)
//   setLr(lr, group?)   stepCount()   hyperparameters(): per-group objects
//   saveState(dtype?: 'float32'|'float64'): { kind, step, slots, sizes, groups, state }
//   loadState(saved): restores the buffers, the step counter and (when present) the groups' hyperparameters
// The parameter arrays are held (referenced) by the optimiser; their lengths are re-checked at every step.
#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "async_task.h"
#include "call_copies.h"
#include "convert.h"
#include "exports.h"
#include "mimic/optim.h"

namespace mimic::bind {

namespace {

const char* kCls = "Optimizer";

OptimKind parse_kind(Napi::Env env, const std::string& s) {
  if (s == "adam") return OptimKind::Adam;
  if (s == "adamw") return OptimKind::AdamW;
  if (s == "sgd") return OptimKind::SGD;
  fail(env, Code::InvalidArgument, std::string(kCls) + ".kind must be 'adam', 'adamw' or 'sgd' (got '" + s + "')");
}

std::set<std::string> hyper_keys(OptimKind k) {
  if (k == OptimKind::SGD) return {"lr", "momentum", "dampening", "weightDecay", "nesterov"};
  return {"lr", "betas", "eps", "weightDecay", "amsgrad"};
}

void check_keys(Napi::Env env, Napi::Object o, const std::string& name, const std::set<std::string>& allowed,
                OptimKind kind) {
  Napi::Array names = o.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string k = names.Get(i).ToString().Utf8Value();
    if (!allowed.count(k) && !o.Get(k).IsUndefined()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(env, Code::InvalidArgument,
           name + " has an unknown option '" + k + "' for kind '" + optim_kind_name(kind) + "' (known: " + list + ")");
    }
  }
}

OptimHyper parse_hyper(Napi::Env env, Napi::Object o, const std::string& name, OptimKind kind, OptimHyper h) {
  h.lr = get_number(env, o, "lr", name, h.lr);
  h.weight_decay = get_number(env, o, "weightDecay", name, h.weight_decay);
  if (kind == OptimKind::SGD) {
    h.momentum = get_number(env, o, "momentum", name, h.momentum);
    h.dampening = get_number(env, o, "dampening", name, h.dampening);
    h.nesterov = get_bool(env, o, "nesterov", name, h.nesterov);
  } else {
    if (has(o, "betas")) {
      Napi::Value bv = o.Get("betas");
      if (!bv.IsArray() || bv.As<Napi::Array>().Length() != 2)
        fail(env, Code::InvalidArgument, name + ".betas must be an array of two numbers");
      Napi::Array b = bv.As<Napi::Array>();
      double beta[2];
      for (uint32_t k = 0; k < 2; ++k) {
        const std::string bn = name + ".betas[" + std::to_string(k) + "]";
        if (!b.Get(k).IsNumber()) fail(env, Code::InvalidArgument, bn + " must be a number");
        beta[k] = b.Get(k).As<Napi::Number>().DoubleValue();
        if (!std::isfinite(beta[k])) fail(env, Code::NonFinite, bn + " must be finite");
      }
      h.beta1 = beta[0];
      h.beta2 = beta[1];
    }
    h.eps = get_number(env, o, "eps", name, h.eps);
    h.amsgrad = get_bool(env, o, "amsgrad", name, h.amsgrad);
  }
  run_checked(env, [&] { validate_hyper(kind, h, name); });
  return h;
}

Napi::Object hyper_to_js(Napi::Env env, OptimKind kind, const ParamGroup& g) {
  Napi::Object o = Napi::Object::New(env);
  const OptimHyper& h = g.hyper;
  o.Set("lr", h.lr);
  o.Set("weightDecay", h.weight_decay);
  if (kind == OptimKind::SGD) {
    o.Set("momentum", h.momentum);
    o.Set("dampening", h.dampening);
    o.Set("nesterov", h.nesterov);
  } else {
    Napi::Array b = Napi::Array::New(env, 2);
    b.Set(0u, h.beta1);
    b.Set(1u, h.beta2);
    o.Set("betas", b);
    o.Set("eps", h.eps);
    o.Set("amsgrad", h.amsgrad);
  }
  Napi::Array p = Napi::Array::New(env, g.params.size());
  for (size_t i = 0; i < g.params.size(); ++i) p.Set(static_cast<uint32_t>(i), g.params[i]);
  o.Set("params", p);
  return o;
}

float* typed_data(Napi::TypedArray ta) {
  return reinterpret_cast<float*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

class OptimizerWrap : public Napi::ObjectWrap<OptimizerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kCls,
                       {InstanceMethod("step", &OptimizerWrap::Step), InstanceMethod("stepAsync", &OptimizerWrap::StepAsync),
                        InstanceMethod("setLr", &OptimizerWrap::SetLr),
                        InstanceMethod("stepCount", &OptimizerWrap::StepCount),
                        InstanceMethod("hyperparameters", &OptimizerWrap::Hyperparameters),
                        InstanceMethod("saveState", &OptimizerWrap::SaveState),
                        InstanceMethod("loadState", &OptimizerWrap::LoadState)});
  }

  explicit OptimizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OptimizerWrap>(info) {
    Napi::Env env = info.Env();
    const std::string name = kCls;
    Napi::Object o = as_object(env, info[0], name + " options");
    if (!has(o, "kind")) fail(env, Code::InvalidArgument, name + ".kind is required ('adam', 'adamw' or 'sgd')");
    const OptimKind kind = parse_kind(env, get_string(env, o, "kind", name + ".kind", ""));
    std::set<std::string> top = hyper_keys(kind);
    top.insert({"kind", "params", "groups", "threads"});
    check_keys(env, o, name, top, kind);

    if (!o.Get("params").IsArray()) fail(env, Code::InvalidArgument, name + ".params must be an array of Float32Array");
    Napi::Array pa = o.Get("params").As<Napi::Array>();
    std::vector<int64_t> sizes;
    std::vector<std::pair<const float*, uint32_t>> starts;  // for the overlap check
    for (uint32_t i = 0; i < pa.Length(); ++i) {
      const std::string pn = name + ".params[" + std::to_string(i) + "]";
      auto arr = get_typed<float>(env, pa.Get(i), pn, napi_float32_array, "Float32Array");
      sizes.push_back(static_cast<int64_t>(arr.length));
      params_.push_back(Napi::Persistent(pa.Get(i).As<Napi::Object>()));
      if (arr.length) starts.emplace_back(arr.data, i);
    }
    // Two parameters sharing memory would take two updates per step, and different ones on copies than in place.
    std::sort(starts.begin(), starts.end());
    for (size_t k = 1; k < starts.size(); ++k) {
      const auto [prev, i] = starts[k - 1];
      if (prev + sizes[i] > starts[k].first)
        fail(env, Code::InvalidArgument,
             name + ".params[" + std::to_string(i) + "] and params[" + std::to_string(starts[k].second) +
                 "] share memory (the same array twice, or overlapping views)");
    }

    OptimHyper defaults;
    if (kind == OptimKind::AdamW) defaults.weight_decay = 1e-2;  // PyTorch's AdamW default
    if (kind == OptimKind::SGD && !has(o, "lr")) fail(env, Code::InvalidArgument, name + ".lr is required for SGD");
    defaults = parse_hyper(env, o, name, kind, defaults);

    std::vector<ParamGroup> groups;
    if (has(o, "groups")) {
      if (!o.Get("groups").IsArray()) fail(env, Code::InvalidArgument, name + ".groups must be an array");
      Napi::Array ga = o.Get("groups").As<Napi::Array>();
      if (ga.Length() == 0) fail(env, Code::InvalidArgument, name + ".groups must not be empty");
      std::vector<int> owner(sizes.size(), -1);
      std::set<std::string> gkeys = hyper_keys(kind);
      gkeys.insert("params");
      for (uint32_t g = 0; g < ga.Length(); ++g) {
        const std::string gn = name + ".groups[" + std::to_string(g) + "]";
        Napi::Object go = as_object(env, ga.Get(g), gn);
        check_keys(env, go, gn, gkeys, kind);
        ParamGroup pg;
        pg.hyper = parse_hyper(env, go, gn, kind, defaults);
        if (!go.Get("params").IsArray()) fail(env, Code::InvalidArgument, gn + ".params must be an array of parameter indices");
        Napi::Array ia = go.Get("params").As<Napi::Array>();
        for (uint32_t k = 0; k < ia.Length(); ++k) {
          Napi::Value v = ia.Get(k);
          const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
          const std::string en = gn + ".params[" + std::to_string(k) + "]";
          if (!(d >= 0 && d == std::floor(d) && d < static_cast<double>(sizes.size())))
            fail(env, Code::InvalidArgument,
                 en + " must be a parameter index in [0, " + std::to_string(sizes.size()) + ")");
          const int idx = static_cast<int>(d);
          if (owner[idx] >= 0)
            fail(env, Code::InvalidArgument,
                 en + ": parameter " + std::to_string(idx) + " is already in " + name + ".groups[" +
                     std::to_string(owner[idx]) + "]");
          owner[idx] = static_cast<int>(g);
          pg.params.push_back(idx);
        }
        groups.push_back(std::move(pg));
      }
      for (size_t i = 0; i < owner.size(); ++i)
        if (owner[i] < 0)
          fail(env, Code::InvalidArgument, name + ".params[" + std::to_string(i) + "] is in none of " + name + ".groups");
    } else {
      ParamGroup pg;
      pg.hyper = defaults;
      for (size_t i = 0; i < sizes.size(); ++i) pg.params.push_back(static_cast<int>(i));
      groups.push_back(std::move(pg));
    }
    threads_ = static_cast<int>(get_int(env, o, "threads", name, 0, 0));
    run_checked(env, [&] { opt_ = std::make_unique<Optimizer>(kind, std::move(sizes), std::move(groups)); });
  }

 private:
  void check_idle(Napi::Env env, const char* what) {
    if (busy_)
      fail(env, Code::InvalidArgument,
           std::string(kCls) + "." + what + ": a stepAsync() is still running on this optimiser; await it first");
  }

  // Current data pointers of the parameters and of grads (validated against the sizes).
  void gather(Napi::Env env, Napi::Value gv, const char* what, std::vector<float*>* p, std::vector<const float*>* g,
              std::vector<Napi::Value>* keep) {
    const std::string name = std::string(kCls) + "." + what;
    if (!gv.IsArray()) fail(env, Code::InvalidArgument, name + "(grads): grads must be an array of Float32Array");
    Napi::Array ga = gv.As<Napi::Array>();
    const auto& sizes = opt_->sizes();
    if (ga.Length() != sizes.size())
      fail(env, Code::ShapeMismatch,
           name + ": grads has " + std::to_string(ga.Length()) + " arrays, the optimiser has " +
               std::to_string(sizes.size()) + " parameters");
    for (size_t i = 0; i < sizes.size(); ++i) {
      Napi::TypedArray pt = params_[i].Value().As<Napi::TypedArray>();
      if (static_cast<int64_t>(pt.ElementLength()) != sizes[i])
        fail(env, Code::ShapeMismatch,
             name + ": params[" + std::to_string(i) + "] now has " + std::to_string(pt.ElementLength()) +
                 " elements, it had " + std::to_string(sizes[i]) + " (its buffer was detached or transferred?)");
      const std::string gn = "grads[" + std::to_string(i) + "]";
      auto ga_i = get_typed<float>(env, ga.Get(static_cast<uint32_t>(i)), name + ": " + gn, napi_float32_array, "Float32Array");
      if (static_cast<int64_t>(ga_i.length) != sizes[i])
        fail(env, Code::ShapeMismatch,
             name + ": " + gn + " has " + std::to_string(ga_i.length) + " elements, params[" + std::to_string(i) +
                 "] has " + std::to_string(sizes[i]));
      p->push_back(typed_data(pt));
      g->push_back(ga_i.data);
      if (keep) keep->push_back(ga.Get(static_cast<uint32_t>(i)));
    }
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "step");
    std::vector<float*> p;
    std::vector<const float*> g;
    gather(env, info[0], "step", &p, &g, nullptr);
    run_checked(env, [&] { opt_->step(p.data(), g.data(), threads_); });
    return env.Undefined();
  }

  // The step runs on copies of the parameters and gradients, made now, and the updated parameters are written back
  // on the main thread when it settles: the caller may transfer any of these arrays or reuse the gradients meanwhile
  // (a parameter detached by then is not written, and the call rejects naming it; one written to is overwritten). `{ borrow: true }` updates them in place on
  // the worker, for callers that leave them alone until the promise settles (the training loops).
  Napi::Value StepAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = std::string(kCls) + ".stepAsync";
    check_idle(env, "stepAsync");
    bool borrow = false;
    if (!info[1].IsUndefined()) borrow = get_bool(env, as_object(env, info[1], name + " options"), "borrow", name, false);
    std::vector<float*> p;
    std::vector<const float*> g;
    std::vector<Napi::Value> keep;
    gather(env, info[0], "stepAsync", &p, &g, &keep);
    keep.push_back(info.This());  // holds the optimiser, and through it the parameters
    auto copies = std::make_shared<CallCopies>();
    const std::vector<int64_t> sizes = opt_->sizes();
    if (!borrow)
      for (size_t i = 0; i < p.size(); ++i) {
        p[i] = copies->hold(p[i], static_cast<size_t>(sizes[i]));
        g[i] = copies->hold(g[i], static_cast<size_t>(sizes[i]));
      }
    auto work = [this, p, g, copies, threads = threads_] { opt_->step(p.data(), g.data(), threads); };
    auto written = [this, p, copies, sizes, borrow, name](Napi::Env e) -> Napi::Value {
      if (borrow) return e.Undefined();
      std::string lost;
      for (size_t i = 0; i < p.size(); ++i) {
        if (sizes[i] == 0) continue;
        Napi::Value v = params_[i].Value();
        if (is_detached(v) || static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength()) != sizes[i]) {
          lost += (lost.empty() ? "params[" : ", params[") + std::to_string(i) + "]";
          continue;
        }
        std::memcpy(typed_data(v.As<Napi::TypedArray>()), p[i], static_cast<size_t>(sizes[i]) * sizeof(float));
      }
      if (!lost.empty())
        throw make_error(e, Code::InvalidArgument,
                         name + ": " + lost + " was detached (transferred) or resized before the step was written back "
                                              "(the other parameters and the optimiser's state took the step)");
      return e.Undefined();
    };
    steps_before_ = opt_->step_count();  // before queueing: the worker may take the step at once
    Napi::Promise pr = queue_task(env, "mimic.optimizerStep", keep, work, written, "", [this] { busy_ = false; });
    busy_ = true;  // once queued; the task settles on a later tick
    return pr;
  }

  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "setLr");
    Napi::Object args = Napi::Object::New(env);
    args.Set("lr", info[0]);
    args.Set("group", info[1]);
    const std::string name = std::string(kCls) + ".setLr";
    const double lr = get_number(env, args, "lr", name, 0, true);
    const int64_t group = get_int(env, args, "group", name, -1, -1);
    if (group >= static_cast<int64_t>(opt_->groups().size()))
      fail(env, Code::InvalidArgument,
           name + ": group " + std::to_string(group) + " is outside [0, " + std::to_string(opt_->groups().size()) + ")");
    if (lr < 0) fail(env, Code::InvalidArgument, name + ": lr must be >= 0 (got " + std::to_string(lr) + ")");
    run_checked(env, [&] { opt_->set_lr(lr, static_cast<int>(group)); });
    return env.Undefined();
  }

  Napi::Value StepCount(const Napi::CallbackInfo& info) {
    // while a step runs, the count before it (the worker updates the counter)
    return Napi::Number::New(info.Env(), static_cast<double>(busy_ ? steps_before_ : opt_->step_count()));
  }

  Napi::Value Hyperparameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, opt_->groups().size());
    for (size_t g = 0; g < opt_->groups().size(); ++g)
      out.Set(static_cast<uint32_t>(g), hyper_to_js(env, opt_->kind(), opt_->groups()[g]));
    return out;
  }

  Napi::Value SaveState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "saveState");
    std::string dtype = "float32";
    if (!info[0].IsUndefined()) {
      if (!info[0].IsString()) fail(env, Code::InvalidArgument, std::string(kCls) + ".saveState: dtype must be a string");
      dtype = info[0].As<Napi::String>().Utf8Value();
    }
    if (dtype != "float32" && dtype != "float64")
      fail(env, Code::InvalidArgument,
           std::string(kCls) + ".saveState: dtype must be 'float32' or 'float64' (got '" + dtype + "')");
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", optim_kind_name(opt_->kind()));
    o.Set("step", static_cast<double>(opt_->step_count()));
    const auto names = opt_->slot_names();
    Napi::Array slots = Napi::Array::New(env, names.size());
    for (size_t s = 0; s < names.size(); ++s) slots.Set(static_cast<uint32_t>(s), names[s]);
    o.Set("slots", slots);
    Napi::Array sizes = Napi::Array::New(env, opt_->num_params());
    for (size_t i = 0; i < opt_->num_params(); ++i) sizes.Set(static_cast<uint32_t>(i), static_cast<double>(opt_->sizes()[i]));
    o.Set("sizes", sizes);
    o.Set("groups", Hyperparameters(info));
    const size_t n = static_cast<size_t>(opt_->state_size());
    if (dtype == "float32") {
      Napi::Float32Array a = Napi::Float32Array::New(env, n);
      opt_->save_state(a.Data());
      o.Set("state", a);
    } else {
      Napi::Float64Array a = Napi::Float64Array::New(env, n);
      opt_->save_state(a.Data());
      o.Set("state", a);
    }
    return o;
  }

  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "loadState");
    const std::string name = std::string(kCls) + ".loadState";
    Napi::Object o = as_object(env, info[0], name + " state");
    const std::string kind = get_string(env, o, "kind", name + ".kind", "");
    if (kind != optim_kind_name(opt_->kind()))
      fail(env, Code::InvalidArgument,
           name + ": the state is for kind '" + kind + "', this optimiser is '" + optim_kind_name(opt_->kind()) + "'");
    const int64_t step = get_int(env, o, "step", name, 0, 0, true);
    // sizes and slots must match exactly.
    if (!o.Get("sizes").IsArray()) fail(env, Code::InvalidArgument, name + ".sizes must be an array");
    Napi::Array sz = o.Get("sizes").As<Napi::Array>();
    bool same = sz.Length() == opt_->num_params();
    for (uint32_t i = 0; same && i < sz.Length(); ++i)
      same = sz.Get(i).IsNumber() && sz.Get(i).As<Napi::Number>().DoubleValue() == static_cast<double>(opt_->sizes()[i]);
    if (!same) fail(env, Code::ShapeMismatch, name + ": the state's parameter sizes differ from this optimiser's");
    const auto names = opt_->slot_names();
    if (!o.Get("slots").IsArray()) fail(env, Code::InvalidArgument, name + ".slots must be an array");
    Napi::Array sl = o.Get("slots").As<Napi::Array>();
    same = sl.Length() == names.size();
    for (uint32_t i = 0; same && i < sl.Length(); ++i) same = sl.Get(i).ToString().Utf8Value() == names[i];
    if (!same)
      fail(env, Code::ShapeMismatch, name + ": the state's buffers (slots) differ from this optimiser's (amsgrad or momentum differs?)");
    Napi::Value sv = o.Get("state");
    if (!sv.IsTypedArray()) fail(env, Code::DType, name + ".state must be a Float32Array or Float64Array");
    Napi::TypedArray ta = sv.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float32_array && ta.TypedArrayType() != napi_float64_array)
      fail(env, Code::DType, name + ".state must be a Float32Array or Float64Array");
    if (static_cast<int64_t>(ta.ElementLength()) != opt_->state_size())
      fail(env, Code::ShapeMismatch,
           name + ".state has " + std::to_string(ta.ElementLength()) + " elements, expected " +
               std::to_string(opt_->state_size()));
    std::vector<OptimHyper> hypers;
    if (has(o, "groups")) {
      if (!o.Get("groups").IsArray() || o.Get("groups").As<Napi::Array>().Length() != opt_->groups().size())
        fail(env, Code::ShapeMismatch,
             name + ".groups must be an array of " + std::to_string(opt_->groups().size()) + " groups");
      Napi::Array ga = o.Get("groups").As<Napi::Array>();
      for (uint32_t g = 0; g < ga.Length(); ++g) {
        const std::string gn = name + ".groups[" + std::to_string(g) + "]";
        Napi::Object go = as_object(env, ga.Get(g), gn);
        hypers.push_back(parse_hyper(env, go, gn, opt_->kind(), opt_->groups()[g].hyper));
      }
    }
    // Transactional: apply to a copy, swap in only when everything succeeded.
    Status st = guarded([&] {
      auto next = std::make_unique<Optimizer>(*opt_);
      for (size_t g = 0; g < hypers.size(); ++g) next->set_hyper(static_cast<int>(g), hypers[g]);
      auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      if (ta.TypedArrayType() == napi_float32_array) next->load_state(reinterpret_cast<const float*>(base), step);
      else next->load_state(reinterpret_cast<const double*>(base), step);
      opt_ = std::move(next);
    });
    if (!st.is_ok()) throw make_error(env, st.code(), name + ": " + st.message());
    return env.Undefined();
  }

  std::unique_ptr<Optimizer> opt_;
  std::vector<Napi::ObjectReference> params_;
  int threads_ = 0;
  bool busy_ = false;
  int64_t steps_before_ = 0;
};

}  // namespace

void init_optim(Napi::Env env, Napi::Object exports) { exports.Set("Optimizer", OptimizerWrap::Define(env)); }

}  // namespace mimic::bind
