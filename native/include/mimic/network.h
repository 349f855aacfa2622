// A trainable network built from a plain layer list (the C++ mirror of lib/train/spec.ts's NetworkSpec): layers
// in topological order, ONNX op names and attribute meanings, named activation tensors, parameters (trainable,
// with gradients) and buffers (BatchNorm running statistics). native/ knows nothing of ONNX; the TypeScript
// converter produces the spec.
//
// Lifecycle
//   Network net(spec);              // validated: every error names the layer (op, tensors, params, attributes)
//   net.set_mode(NetMode::Train);   // Train (BN batch stats + running-stat update) | Eval | FrozenBN
//   net.forward({x}, batch);        // plans memory for `batch` on first use or when the batch changes
//   net.backward({dy});             // parameter gradients (overwritten each call), optionally the input gradient
//   optimizer.step(net.param_ptrs().data(), net.grad_ptrs().data());
//
// Memory plan (plan(batch), once per batch size; re-used by every forward/backward at that batch)
// - Activations: one arena; every tensor gets its own slot for the whole step (backward needs them), except
//   Flatten / Reshape outputs, which alias their input, and ReLU, which runs in place over an input that nothing
//   else reads (single consumer, not a graph input/output, producer's backward does not need it).
// - Activation gradients: a second arena, slots shared by lifetime: a gradient lives from the backward step of
//   its last consumer (or the start, for graph outputs) to its producer's backward step (or the end, for graph
//   inputs); greedy first-fit by size over overlapping lifetimes. Aliased tensors share gradient slots too.
// - Gradients of tensors read by several layers (residual forks) are summed: the first contribution is written
//   in place, later ones go to a scratch buffer and are added.
// - One conv workspace (the largest any conv needs) shared by every conv, forward and backward.
// Parameters, their gradients and buffers are allocated once at construction (contiguous per tensor; pointers
// stay valid for the Network's lifetime, so an Optimizer can step them in place).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mimic/ops.h"

namespace mimic {

// ---- The spec (mirror of lib/train/spec.ts) ----
struct NetAttr {
  std::vector<double> values;  // a scalar is one value with is_list = false
  bool is_list = false;
};

struct NetLayerSpec {
  std::string op;    // ONNX op name (see Network::supported_ops())
  std::string name;  // node name, used in error messages
  std::vector<std::string> inputs, outputs, params, buffers;
  std::map<std::string, NetAttr> attrs;
};

struct NetTensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // empty: zeros (buffers) / an error (params)
};

struct NetInputSpec {
  std::string name;
  std::vector<int64_t> shape;  // per sample (no batch dimension)
};

struct NetworkSpec {
  std::vector<NetInputSpec> inputs;
  std::vector<std::string> outputs;
  std::vector<NetLayerSpec> layers;
  std::vector<NetTensorSpec> params;
  std::vector<NetTensorSpec> buffers;
};

enum class NetMode { Train, Eval, FrozenBN };

struct NetPlanInfo {
  int64_t batch = 0;             // 0: not planned yet
  int64_t plans = 0;             // how many times plan() allocated (changes only when the batch changes)
  size_t activation_bytes = 0;   // activation arena
  size_t gradient_bytes = 0;     // activation-gradient arena (lifetime-shared)
  size_t scratch_bytes = 0;      // gradient summing at forks
  size_t workspace_bytes = 0;    // conv im2col workspace
  size_t total_bytes() const { return activation_bytes + gradient_bytes + scratch_bytes + workspace_bytes; }
  size_t param_bytes = 0;        // parameters + gradients + buffers + BN saved statistics (not per batch)
};

class Network {
 public:
  // Validates the spec (throws Error naming the layer / tensor) and allocates parameters, gradients, buffers.
  // threads: for the kernels (0 = the global pool's size).
  explicit Network(const NetworkSpec& spec, int threads = 0);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  static const std::vector<std::string>& supported_ops();

  void set_mode(NetMode m);
  NetMode mode() const { return mode_; }
  void set_threads(int threads) { ctx_.threads = threads; }

  // Shape inference at this batch size and (re)allocation of the per-batch buffers when the batch changed.
  // Returns the planned bytes (NetPlanInfo::total_bytes()).
  size_t plan(int64_t batch);
  const NetPlanInfo& plan_info() const { return info_; }

  // inputs[i]: batch * prod(input i's sample shape) floats, in spec order (copied into the network).
  void forward(const std::vector<const float*>& inputs, int64_t batch);
  // After forward: output i (spec order), its full shape (batch first) and element count.
  const float* output(size_t i) const;
  std::vector<int64_t> output_shape(size_t i) const;
  int64_t output_numel(size_t i) const;

  // output_grads[i]: like output i, or null (= zero). Needs a forward at the current batch and mode. Overwrites
  // every parameter gradient; with input_grads, input_grad(i) holds d loss / d input i afterwards.
  void backward(const std::vector<const float*>& output_grads, bool input_grads = false);
  const float* input_grad(size_t i) const;

  size_t num_inputs() const { return input_tensors_.size(); }
  size_t num_outputs() const { return output_tensors_.size(); }
  const std::string& input_name(size_t i) const;
  const std::string& output_name(size_t i) const;
  const std::vector<int64_t>& input_sample_shape(size_t i) const;

  // Parameters (spec order), their gradients, buffers.
  size_t num_params() const { return params_.size(); }
  const std::string& param_name(size_t i) const { return params_[i].name; }
  const std::vector<int64_t>& param_shape(size_t i) const { return params_[i].shape; }
  int64_t param_size(size_t i) const { return static_cast<int64_t>(params_[i].data.size()); }
  float* param_data(size_t i) { return params_[i].data.data(); }
  float* grad_data(size_t i) { return params_[i].grad.data(); }
  std::vector<float*> param_ptrs();
  std::vector<const float*> grad_ptrs();
  std::vector<int64_t> param_sizes() const;
  int param_index(const std::string& name) const;  // -1 when absent

  size_t num_buffers() const { return buffers_.size(); }
  const std::string& buffer_name(size_t i) const { return buffers_[i].name; }
  const std::vector<int64_t>& buffer_shape(size_t i) const { return buffers_[i].shape; }
  int64_t buffer_size(size_t i) const { return static_cast<int64_t>(buffers_[i].data.size()); }
  float* buffer_data(size_t i) { return buffers_[i].data.data(); }
  int buffer_index(const std::string& name) const;

  // Copies by name (throws InvalidArgument for an unknown name, ShapeMismatch for a wrong size).
  void set_param(const std::string& name, const float* data, int64_t n);
  void set_buffer(const std::string& name, const float* data, int64_t n);

  // Per-layer wall time, opt-in (two clock reads per layer call): set_profiling(true) clears the counts and starts
  // timing every forward / backward layer call; layer_timings() lists them in layer order, with the shapes of the
  // last planned batch. A layer that got no gradient (nothing flowed back) counts no backward call.
  struct LayerTiming {
    std::string name, op;
    std::vector<int64_t> input_shape, output_shape;
    double forward_seconds = 0, backward_seconds = 0;
    int64_t forward_calls = 0, backward_calls = 0;
  };
  void set_profiling(bool on);
  std::vector<LayerTiming> layer_timings() const;

  struct Impl;  // internal (native/cpu/network.cc)

 private:
  void infer(int64_t batch);  // shapes of every tensor and kernel at this batch; throws naming the layer
  std::unique_ptr<Impl> impl_;

  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data, grad;
  };
  std::vector<Tensor> params_, buffers_;
  std::vector<int> input_tensors_, output_tensors_;
  NetMode mode_ = NetMode::Train;
  ops::Ctx ctx_;
  NetPlanInfo info_;
};

}  // namespace mimic
