// Adam / AdamW / SGD steps with PyTorch's semantics; see optim.h for the per-element maths. float32 in PyTorch's
// order of operations, without FMA contraction (this file is built without -mfma), so results agree with
// PyTorch's CPU kernels (which do use FMA in places) to about 1 ulp. Memory-bound: SGD is plain loops the compiler
// vectorises, Adam uses SSE intrinsics (see adam_range). Work is cut into fixed chunks, so any thread count gives
// the same bits.
#include "mimic/optim.h"

#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

void require_finite(double v, const std::string& name) {
  MIMIC_REQUIRE(std::isfinite(v), Code::NonFinite, name + " must be finite (got " + num(v) + ")");
}

void require_range(bool ok, const std::string& name, const char* range, double v) {
  MIMIC_REQUIRE(ok, Code::InvalidArgument, name + " must be " + range + " (got " + num(v) + ")");
}

constexpr int64_t kChunk = 1 << 14;         // elements per work item
constexpr int64_t kSerialBelow = 1 << 16;   // total elements under which one thread does everything

// Adam / AdamW on [0, n). Scalars are PyTorch's Python doubles rounded to float where the kernels round them.
struct AdamScalars {
  float b1, omb1, b2, omb2, wd, bc2_sqrt, eps, neg_step, decay;
};

// Written with SSE (x86-64's baseline) because std::sqrt's errno handling stops GCC from vectorising the loop;
// the vector and scalar paths do the same IEEE operations in the same order, so they give the same bits.
template <bool kL2, bool kDecoupled, bool kAms>
void adam_range(float* p, const float* gr, float* m, float* v, float* vmax, int64_t n, const AdamScalars& s) {
  int64_t i = 0;
  const __m128 b1 = _mm_set1_ps(s.b1), omb1 = _mm_set1_ps(s.omb1), b2 = _mm_set1_ps(s.b2),
               omb2 = _mm_set1_ps(s.omb2), wd = _mm_set1_ps(s.wd), bc2 = _mm_set1_ps(s.bc2_sqrt),
               eps = _mm_set1_ps(s.eps), ns = _mm_set1_ps(s.neg_step), decay = _mm_set1_ps(s.decay);
  for (; i + 4 <= n; i += 4) {
    __m128 pi = _mm_loadu_ps(p + i);
    if (kDecoupled) pi = _mm_mul_ps(pi, decay);
    __m128 g = _mm_loadu_ps(gr + i);
    if (kL2) g = _mm_add_ps(g, _mm_mul_ps(wd, pi));
    const __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), b1), _mm_mul_ps(omb1, g));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), b2), _mm_mul_ps(_mm_mul_ps(omb2, g), g));
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    __m128 vv = vi;
    if (kAms) {
      vv = _mm_max_ps(_mm_loadu_ps(vmax + i), vi);  // vmax > vi ? vmax : vi
      _mm_storeu_ps(vmax + i, vv);
    }
    const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vv), bc2), eps);
    _mm_storeu_ps(p + i, _mm_add_ps(pi, _mm_div_ps(_mm_mul_ps(ns, mi), denom)));
  }
  for (; i < n; ++i) {
    float pi = p[i];
    if (kDecoupled) pi = pi * s.decay;  // param.mul_(1 - lr * wd)
    float g = gr[i];
    if (kL2) g = g + s.wd * pi;  // grad.add(param, alpha=wd)
    const float mi = m[i] * s.b1 + s.omb1 * g;
    const float vi = v[i] * s.b2 + s.omb2 * g * g;  // addcmul_: self + (value * t1) * t2
    m[i] = mi;
    v[i] = vi;
    float vv = vi;
    if (kAms) {
      vv = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vv;
    }
    const float denom = _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(vv))) / s.bc2_sqrt + s.eps;
    p[i] = pi + s.neg_step * mi / denom;  // addcdiv_: self + (value * t1) / t2
  }
}

using AdamFn = void (*)(float*, const float*, float*, float*, float*, int64_t, const AdamScalars&);

AdamFn pick_adam(bool l2, bool decoupled, bool ams) {
  static const AdamFn table[8] = {
      adam_range<false, false, false>, adam_range<false, false, true>, adam_range<false, true, false>,
      adam_range<false, true, true>,   adam_range<true, false, false>, adam_range<true, false, true>,
      adam_range<true, true, false>,   adam_range<true, true, true>,
  };
  return table[(l2 ? 4 : 0) + (decoupled ? 2 : 0) + (ams ? 1 : 0)];
}

struct SgdScalars {
  float wd, mu, omd, neg_lr;
};

// kMom: 0 no momentum, 1 first step (buf = g), 2 later steps.
template <bool kWd, int kMom, bool kNesterov>
void sgd_range(float* p, const float* gr, float* buf, int64_t n, const SgdScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    float g = gr[i];
    if (kWd) g = g + s.wd * p[i];
    if (kMom != 0) {
      float b;
      if (kMom == 1) b = g;
      else b = buf[i] * s.mu + s.omd * g;
      buf[i] = b;
      g = kNesterov ? g + s.mu * b : b;
    }
    p[i] = p[i] + s.neg_lr * g;
  }
}

using SgdFn = void (*)(float*, const float*, float*, int64_t, const SgdScalars&);

SgdFn pick_sgd(bool wd, int mom, bool nesterov) {
  static const SgdFn table[12] = {
      sgd_range<false, 0, false>, sgd_range<false, 0, true>, sgd_range<false, 1, false>, sgd_range<false, 1, true>,
      sgd_range<false, 2, false>, sgd_range<false, 2, true>, sgd_range<true, 0, false>,  sgd_range<true, 0, true>,
      sgd_range<true, 1, false>,  sgd_range<true, 1, true>,  sgd_range<true, 2, false>,  sgd_range<true, 2, true>,
  };
  return table[(wd ? 6 : 0) + mom * 2 + (nesterov ? 1 : 0)];
}

}  // namespace

const char* optim_kind_name(OptimKind k) {
  switch (k) {
    case OptimKind::Adam: return "adam";
    case OptimKind::AdamW: return "adamw";
    case OptimKind::SGD: return "sgd";
  }
  return "?";
}

void validate_hyper(OptimKind kind, const OptimHyper& h, const std::string& label) {
  const std::string p = label.empty() ? "" : label + ".";
  require_finite(h.lr, p + "lr");
  require_range(h.lr >= 0, p + "lr", ">= 0", h.lr);
  require_finite(h.weight_decay, p + "weightDecay");
  require_range(h.weight_decay >= 0, p + "weightDecay", ">= 0", h.weight_decay);
  if (kind == OptimKind::SGD) {
    require_finite(h.momentum, p + "momentum");
    require_range(h.momentum >= 0, p + "momentum", ">= 0", h.momentum);
    require_finite(h.dampening, p + "dampening");
    MIMIC_REQUIRE(!h.nesterov || (h.momentum > 0 && h.dampening == 0), Code::InvalidArgument,
                  p + "nesterov requires momentum > 0 and dampening = 0 (got momentum " + num(h.momentum) +
                      ", dampening " + num(h.dampening) + ")");
  } else {
    require_finite(h.beta1, p + "betas[0]");
    require_range(h.beta1 >= 0 && h.beta1 < 1, p + "betas[0]", "in [0, 1)", h.beta1);
    require_finite(h.beta2, p + "betas[1]");
    require_range(h.beta2 >= 0 && h.beta2 < 1, p + "betas[1]", "in [0, 1)", h.beta2);
    require_finite(h.eps, p + "eps");
    require_range(h.eps >= 0, p + "eps", ">= 0", h.eps);
  }
}

Optimizer::Optimizer(OptimKind kind, std::vector<int64_t> sizes, std::vector<ParamGroup> groups)
    : kind_(kind), sizes_(std::move(sizes)), groups_(std::move(groups)) {
  MIMIC_REQUIRE(!groups_.empty(), Code::InvalidArgument, "an optimiser needs at least one parameter group");
  group_of_.assign(sizes_.size(), -1);
  for (size_t i = 0; i < sizes_.size(); ++i)
    MIMIC_REQUIRE(sizes_[i] >= 0, Code::InvalidArgument, "params[" + std::to_string(i) + "] has a negative size");
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string label = "groups[" + std::to_string(g) + "]";
    validate_hyper(kind_, groups_[g].hyper, label);
    for (int idx : groups_[g].params) {
      MIMIC_REQUIRE(idx >= 0 && static_cast<size_t>(idx) < sizes_.size(), Code::InvalidArgument,
                    label + ".params holds index " + std::to_string(idx) + ", outside [0, " +
                        std::to_string(sizes_.size()) + ")");
      MIMIC_REQUIRE(group_of_[idx] < 0, Code::InvalidArgument,
                    "parameter " + std::to_string(idx) + " is in groups[" + std::to_string(group_of_[idx]) +
                        "] and " + label);
      group_of_[idx] = static_cast<int>(g);
    }
    if (kind_ == OptimKind::SGD) momentum_ = momentum_ || groups_[g].hyper.momentum != 0;
    else amsgrad_ = amsgrad_ || groups_[g].hyper.amsgrad;
  }
  for (size_t i = 0; i < sizes_.size(); ++i)
    MIMIC_REQUIRE(group_of_[i] >= 0, Code::InvalidArgument,
                  "parameter " + std::to_string(i) + " is in no parameter group");
  const size_t slots = num_slots();
  state_.resize(sizes_.size() * slots);
  for (size_t i = 0; i < sizes_.size(); ++i)
    for (size_t s = 0; s < slots; ++s) state_[i * slots + s].assign(static_cast<size_t>(sizes_[i]), 0.0f);
}

std::vector<std::string> Optimizer::slot_names() const {
  if (kind_ == OptimKind::SGD) return momentum_ ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
  if (amsgrad_) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

int64_t Optimizer::state_size() const {
  int64_t total = 0;
  for (int64_t s : sizes_) total += s;
  return total * static_cast<int64_t>(num_slots());
}

void Optimizer::set_lr(double lr, int group) {
  MIMIC_REQUIRE(group < static_cast<int>(groups_.size()), Code::InvalidArgument,
                "group " + std::to_string(group) + " is outside [0, " + std::to_string(groups_.size()) + ")");
  require_finite(lr, "lr");
  require_range(lr >= 0, "lr", ">= 0", lr);
  for (size_t g = 0; g < groups_.size(); ++g)
    if (group < 0 || static_cast<int>(g) == group) groups_[g].hyper.lr = lr;
}

void Optimizer::set_hyper(int group, const OptimHyper& h) {
  MIMIC_REQUIRE(group >= 0 && group < static_cast<int>(groups_.size()), Code::InvalidArgument,
                "group " + std::to_string(group) + " is outside [0, " + std::to_string(groups_.size()) + ")");
  const std::string label = "groups[" + std::to_string(group) + "]";
  validate_hyper(kind_, h, label);
  const OptimHyper& old = groups_[group].hyper;
  // The state layout (and SGD's "first step" buffer initialisation) is fixed at construction.
  MIMIC_REQUIRE(h.amsgrad == old.amsgrad, Code::InvalidArgument, label + ".amsgrad cannot change after creation");
  MIMIC_REQUIRE((h.momentum != 0) == (old.momentum != 0), Code::InvalidArgument,
                label + ".momentum cannot change between zero and non-zero after creation");
  groups_[group].hyper = h;
}

void Optimizer::step(float* const* params, const float* const* grads, int threads) {
  const size_t np = sizes_.size();
  for (size_t i = 0; i < np; ++i)
    MIMIC_REQUIRE(sizes_[i] == 0 || (params[i] && grads[i]), Code::InvalidArgument,
                  "params[" + std::to_string(i) + "] or its gradient is null");
  const int64_t t = step_ + 1;
  const size_t slots = num_slots();

  // Per-group scalars, computed as PyTorch computes them (Python doubles), then rounded to float.
  std::vector<AdamScalars> as(groups_.size());
  std::vector<AdamFn> af(groups_.size());
  std::vector<SgdScalars> ss(groups_.size());
  std::vector<SgdFn> sf(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    const OptimHyper& h = groups_[g].hyper;
    if (kind_ == OptimKind::SGD) {
      ss[g] = {static_cast<float>(h.weight_decay), static_cast<float>(h.momentum),
               static_cast<float>(1.0 - h.dampening), static_cast<float>(-h.lr)};
      const int mom = h.momentum == 0 ? 0 : (t == 1 ? 1 : 2);
      sf[g] = pick_sgd(h.weight_decay != 0, mom, h.nesterov);
    } else {
      const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(t));
      const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(t));
      const double step_size = h.lr / bc1;
      const bool decoupled = kind_ == OptimKind::AdamW;
      as[g] = {static_cast<float>(h.beta1),
               static_cast<float>(1.0 - h.beta1),
               static_cast<float>(h.beta2),
               static_cast<float>(1.0 - h.beta2),
               static_cast<float>(h.weight_decay),
               static_cast<float>(std::sqrt(bc2)),
               static_cast<float>(h.eps),
               static_cast<float>(-step_size),
               static_cast<float>(1.0 - h.lr * h.weight_decay)};
      // AdamW always runs param.mul_(1 - lr * wd) (a no-op factor 1 when lr * wd == 0, skipped here).
      af[g] = pick_adam(!decoupled && h.weight_decay != 0, decoupled && h.lr * h.weight_decay != 0, h.amsgrad);
    }
  }

  // Work items: every parameter cut into chunks of kChunk elements.
  struct Item {
    int param;
    int64_t begin, end;
  };
  std::vector<Item> items;
  int64_t total = 0;
  for (size_t i = 0; i < np; ++i) {
    total += sizes_[i];
    for (int64_t b = 0; b < sizes_[i]; b += kChunk)
      items.push_back({static_cast<int>(i), b, std::min(sizes_[i], b + kChunk)});
  }
  auto run_items = [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const Item& it = items[static_cast<size_t>(k)];
      const int g = group_of_[it.param];
      float* p = params[it.param] + it.begin;
      const float* gr = grads[it.param] + it.begin;
      const int64_t n = it.end - it.begin;
      auto* st = &state_[static_cast<size_t>(it.param) * slots];
      if (kind_ == OptimKind::SGD) {
        float* buf = slots ? st[0].data() + it.begin : nullptr;
        sf[g](p, gr, buf, n, ss[g]);
      } else {
        float* vmax = slots == 3 ? st[2].data() + it.begin : nullptr;
        af[g](p, gr, st[0].data() + it.begin, st[1].data() + it.begin, vmax, n, as[g]);
      }
    }
  };
  if (total < kSerialBelow || threads == 1) run_items(0, static_cast<int64_t>(items.size()));
  else parallel_for(static_cast<int64_t>(items.size()), threads, run_items);
  step_ = t;
}

template <class T>
void Optimizer::save_impl(T* out) const {
  for (const auto& buf : state_)
    for (float x : buf) *out++ = static_cast<T>(x);
}

template <class T>
void Optimizer::load_impl(const T* in, int64_t step) {
  MIMIC_REQUIRE(step >= 0, Code::InvalidArgument, "state step must be >= 0 (got " + std::to_string(step) + ")");
  const size_t slots = num_slots();
  const auto names = slot_names();
  // Validate everything first, so a rejected load leaves the optimiser untouched.
  const T* q = in;
  for (size_t i = 0; i < sizes_.size(); ++i)
    for (size_t s = 0; s < slots; ++s)
      for (int64_t e = 0; e < sizes_[i]; ++e, ++q) {
        const double x = static_cast<double>(static_cast<float>(*q));  // what will be stored
        MIMIC_REQUIRE(std::isfinite(x), Code::NonFinite,
                      "state " + names[s] + " of parameter " + std::to_string(i) + " has a NaN or Inf at element " +
                          std::to_string(e));
        MIMIC_REQUIRE(s == 0 || kind_ == OptimKind::SGD || x >= 0, Code::InvalidArgument,
                      "state " + names[s] + " of parameter " + std::to_string(i) + " is negative at element " +
                          std::to_string(e));
      }
  q = in;
  for (auto& buf : state_)
    for (float& x : buf) x = static_cast<float>(*q++);
  step_ = step;
}

void Optimizer::save_state(float* out) const { save_impl(out); }
void Optimizer::save_state(double* out) const { save_impl(out); }
void Optimizer::load_state(const float* in, int64_t step) { load_impl(in, step); }
void Optimizer::load_state(const double* in, int64_t step) { load_impl(in, step); }

}  // namespace mimic
