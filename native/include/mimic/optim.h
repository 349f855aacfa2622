// Optimisers with PyTorch's semantics (torch 1.13 / 2.x default single-tensor path, maximize=False): Adam (L2
// weight decay folded into the gradient), AdamW (decoupled weight decay), SGD (momentum, dampening, Nesterov,
// weight decay). Each optimiser owns its state buffers (float32, like PyTorch's); parameters and gradients are
// float32 arrays owned by the caller and passed to every step (they may move between steps, their sizes may not).
//
// Per element, in float32 and in PyTorch's order of operations (scalars computed in double, then rounded):
//   Adam   g = grad + wd * p;  m = m * b1 + (1 - b1) * g;  v = v * b2 + ((1 - b2) * g) * g;
//          [amsgrad: vmax = max(vmax, v), used for v below]
//          denom = sqrt(v) / sqrt(1 - b2^t) + eps;  p = p + (-lr / (1 - b1^t)) * m / denom
//   AdamW  p = p * (1 - lr * wd), then Adam's update with g = grad
//   SGD    g = grad + wd * p;  momentum != 0: buf = (t == 1 ? g : buf * mu + (1 - dampening) * g),
//          g = nesterov ? g + mu * buf : buf;  p = p + (-lr) * g
// The step counter t is the optimiser's (every step updates every parameter). Elementwise, so the result does
// not depend on the thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mimic {

enum class OptimKind { Adam, AdamW, SGD };

// "adam" / "adamw" / "sgd".
const char* optim_kind_name(OptimKind k);

struct OptimHyper {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;  // Adam/AdamW
  double eps = 1e-8;                  // Adam/AdamW
  double weight_decay = 0.0;
  bool amsgrad = false;               // Adam/AdamW
  double momentum = 0.0;              // SGD
  double dampening = 0.0;             // SGD
  bool nesterov = false;              // SGD
};

struct ParamGroup {
  OptimHyper hyper;
  std::vector<int> params;  // indices into the optimiser's parameter list
};

// Throws Error(InvalidArgument / NonFinite) naming `label` + the field (e.g. "groups[1].betas[0]") when a value is
// not finite or outside PyTorch's accepted range: lr >= 0, eps >= 0, 0 <= beta < 1, weight_decay >= 0,
// momentum >= 0, dampening finite, nesterov only with momentum > 0 and dampening == 0.
void validate_hyper(OptimKind kind, const OptimHyper& h, const std::string& label);

class Optimizer {
 public:
  // sizes: element count of every parameter. Every parameter index must appear in exactly one group (at least
  // one group). Throws Error on bad arguments (messages name "groups[i].<field>").
  Optimizer(OptimKind kind, std::vector<int64_t> sizes, std::vector<ParamGroup> groups);

  OptimKind kind() const { return kind_; }
  int64_t step_count() const { return step_; }
  size_t num_params() const { return sizes_.size(); }
  const std::vector<int64_t>& sizes() const { return sizes_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // One step: params[i] (sizes()[i] floats) updated in place from grads[i]. threads <= 0: the pool's size.
  void step(float* const* params, const float* const* grads, int threads = 0);

  // Sets lr for one group (group >= 0) or every group (group < 0). Throws on a bad value or index.
  void set_lr(double lr, int group = -1);
  // Replaces one group's hyperparameters (validated).
  void set_hyper(int group, const OptimHyper& h);

  // State: names of the per-parameter buffers ("exp_avg", "exp_avg_sq"[, "max_exp_avg_sq"] or
  // "momentum_buffer" when some group has momentum != 0; nothing for plain SGD) and the flat layout: for each
  // parameter i, for each slot s, sizes()[i] floats. state_size() = num_slots() * sum(sizes).
  std::vector<std::string> slot_names() const;
  size_t num_slots() const { return slot_names().size(); }
  int64_t state_size() const;
  void save_state(float* out) const;
  void save_state(double* out) const;
  // Restores the buffers and the step counter (validated: finite, second moments >= 0, step >= 0).
  void load_state(const float* in, int64_t step);
  void load_state(const double* in, int64_t step);

 private:
  template <class T>
  void save_impl(T* out) const;
  template <class T>
  void load_impl(const T* in, int64_t step);

  OptimKind kind_;
  std::vector<int64_t> sizes_;
  std::vector<ParamGroup> groups_;
  std::vector<int> group_of_;               // parameter -> group
  std::vector<std::vector<float>> state_;  // [param * slots + slot]
  bool amsgrad_ = false, momentum_ = false;
  int64_t step_ = 0;
};

}  // namespace mimic
