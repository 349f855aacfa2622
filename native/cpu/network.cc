// mimic::Network: validation, shape inference, memory planning, forward and backward over the layer kernels of
// mimic/ops.h. See mimic/network.h for the plan.
#include "mimic/network.h"

#include <algorithm>
#include <limits>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <unordered_map>

#include "mimic/status.h"

namespace mimic {

namespace {

enum class Op { Conv, BN, Relu, Add, MaxPool, AvgPool, GAP, Flatten, Reshape, Gemm, MatMul, L2Norm, Clip, LeakyRelu, Silu };

const std::vector<std::pair<std::string, Op>>& op_table() {
  static const std::vector<std::pair<std::string, Op>> t = {
      {"Conv", Op::Conv},       {"BatchNormalization", Op::BN}, {"Relu", Op::Relu},
      {"Add", Op::Add},         {"MaxPool", Op::MaxPool},       {"AveragePool", Op::AvgPool},
      {"GlobalAveragePool", Op::GAP}, {"Flatten", Op::Flatten}, {"Reshape", Op::Reshape},
      {"Gemm", Op::Gemm},       {"MatMul", Op::MatMul},         {"L2Norm", Op::L2Norm},
      {"Clip", Op::Clip},       {"LeakyRelu", Op::LeakyRelu}, {"Silu", Op::Silu}};
  return t;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

constexpr size_t kAlign = 16;  // floats (64 bytes)
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

struct Network::Impl {
  struct Layer {
    Op op;
    std::string opname, name;
    std::vector<int> in;
    int out = -1;
    std::vector<int> params, buffers;
    // attributes
    int64_t sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0, dh = 1, dw = 1, group = 1, kh = 1, kw = 1;
    bool ceil_mode = false, count_include_pad = false, trans_b = false, allowzero = false;
    double eps = 1e-5, momentum = 0.1;
    float lo = 0, hi = 0, alpha = 0.01f;  // Clip's bounds, LeakyRelu's slope
    int64_t axis = 1;
    std::vector<int64_t> rshape;
    // planned
    ops::Conv2dShape conv;
    ops::BatchNormShape bn;
    ops::Pool2dShape pool;
    ops::LinearShape lin;
    ops::MatMulShape mm;
    int64_t n = 0, c = 0, s = 0;  // eltwise count; GAP (n, c, s); L2Norm rows = n, cols = c
    bool inplace = false;         // Relu over its input / Flatten-Reshape alias
    bool grad_alias = false;      // the output's gradient shares the input's slot
    bool relu_fused = false;      // BN, Add: applies (and in backward masks) the ReLU that is its only consumer
    bool fused = false;           // Relu: computed by the BN or Add before it (nothing to run)
    bool bn_in_add = false;       // BN: only its statistics; the Add that is its only consumer applies it
    int add_bn[2] = {-1, -1};     // Add: the BN layer whose affine the Add applies to input 0 / 1 (bn_in_add)
    std::vector<float> save_mean, save_invstd;
  };
  struct T {
    std::string name;
    int producer = -1;
    std::vector<int> consumers;  // one entry per use (x + x counts twice)
    bool is_input = false, is_output = false;
    std::vector<int64_t> sample_shape;  // graph inputs
    std::vector<int64_t> shape;         // planned
    int act_root = -1, grad_root = -1;
    size_t act_off = 0, grad_off = 0;
    int contributions = 0;  // gradient contributions (uses + graph output)
  };

  std::vector<Layer> layers;
  // profiling (set_profiling): per layer, [0] forward and [1] backward
  bool profiling = false;
  std::vector<std::array<double, 2>> prof_seconds;
  std::vector<std::array<int64_t, 2>> prof_calls;
  std::vector<T> tensors;
  std::unordered_map<std::string, int> tindex;

  std::vector<float> act, grad, scratch, workspace;
  // backward state
  std::vector<char> written;
  bool forward_done = false;
  NetMode forward_mode = NetMode::Train;
  bool input_grads_valid = false;
};

namespace {

[[noreturn]] void layer_fail(const Network::Impl::Layer& L, Code code, const std::string& msg) {
  throw Error(code, "layer '" + L.name + "' (" + L.opname + "): " + msg);
}

const NetAttr* find_attr(const NetLayerSpec& ls, const char* key) {
  auto it = ls.attrs.find(key);
  return it == ls.attrs.end() ? nullptr : &it->second;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Construction and validation

const std::vector<std::string>& Network::supported_ops() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto& e : op_table()) v.push_back(e.first);
    return v;
  }();
  return names;
}

Network::~Network() = default;

Network::Network(const NetworkSpec& spec, int threads) : impl_(std::make_unique<Impl>()) {
  ctx_.threads = threads;
  Impl& I = *impl_;
  auto supported_list = [] {
    std::string s;
    for (auto& n : supported_ops()) s += (s.empty() ? "" : ", ") + n;
    return s;
  };

  // Parameters and buffers.
  std::unordered_map<std::string, int> pindex, bindex;
  auto load_tensors = [&](const std::vector<NetTensorSpec>& src, std::vector<Tensor>* dst,
                          std::unordered_map<std::string, int>* index, bool is_param) {
    const char* what = is_param ? "parameter" : "buffer";
    for (const auto& ts : src) {
      MIMIC_REQUIRE(!ts.name.empty(), Code::InvalidArgument, std::string("a ") + what + " has an empty name");
      MIMIC_REQUIRE(!pindex.count(ts.name) && !bindex.count(ts.name), Code::InvalidArgument,
                    std::string(what) + " '" + ts.name + "' is declared twice");
      for (int64_t d : ts.shape)
        MIMIC_REQUIRE(d >= 1, Code::InvalidArgument,
                      std::string(what) + " '" + ts.name + "' has a bad shape " + shape_str(ts.shape));
      const int64_t n = numel(ts.shape);
      Tensor t;
      t.name = ts.name;
      t.shape = ts.shape;
      if (ts.data.empty()) {
        MIMIC_REQUIRE(!is_param, Code::InvalidArgument, "parameter '" + ts.name + "' has no data");
        t.data.assign(static_cast<size_t>(n), 0.f);
      } else {
        MIMIC_REQUIRE(static_cast<int64_t>(ts.data.size()) == n, Code::ShapeMismatch,
                      std::string(what) + " '" + ts.name + "' has " + std::to_string(ts.data.size()) +
                          " values for shape " + shape_str(ts.shape) + " (" + std::to_string(n) + ")");
        t.data = ts.data;
      }
      if (is_param) t.grad.assign(static_cast<size_t>(n), 0.f);
      (*index)[ts.name] = static_cast<int>(dst->size());
      dst->push_back(std::move(t));
    }
  };
  load_tensors(spec.params, &params_, &pindex, true);
  load_tensors(spec.buffers, &buffers_, &bindex, false);

  // Graph inputs.
  auto add_tensor = [&](const std::string& name) {
    I.tindex[name] = static_cast<int>(I.tensors.size());
    Impl::T t;
    t.name = name;
    I.tensors.push_back(std::move(t));
    return static_cast<int>(I.tensors.size()) - 1;
  };
  MIMIC_REQUIRE(!spec.inputs.empty(), Code::InvalidArgument, "the network has no inputs");
  for (const auto& in : spec.inputs) {
    MIMIC_REQUIRE(!in.name.empty(), Code::InvalidArgument, "a graph input has an empty name");
    MIMIC_REQUIRE(!I.tindex.count(in.name), Code::InvalidArgument, "graph input '" + in.name + "' is declared twice");
    MIMIC_REQUIRE(!pindex.count(in.name) && !bindex.count(in.name), Code::InvalidArgument,
                  "graph input '" + in.name + "' has the name of a parameter or buffer");
    for (int64_t d : in.shape)
      MIMIC_REQUIRE(d >= 1, Code::InvalidArgument,
                    "graph input '" + in.name + "' has a bad per-sample shape " + shape_str(in.shape));
    const int t = add_tensor(in.name);
    I.tensors[t].is_input = true;
    I.tensors[t].sample_shape = in.shape;
    input_tensors_.push_back(t);
  }

  // Layers.
  std::vector<int> param_owner(params_.size(), -1), buffer_owner(buffers_.size(), -1);
  for (size_t li = 0; li < spec.layers.size(); ++li) {
    const NetLayerSpec& ls = spec.layers[li];
    Impl::Layer L;
    L.name = ls.name.empty() ? "#" + std::to_string(li) : ls.name;
    L.opname = ls.op;
    bool known = false;
    for (auto& e : op_table())
      if (e.first == ls.op) {
        L.op = e.second;
        known = true;
      }
    if (!known)
      throw Error(Code::Unsupported, "layer '" + L.name + "' has op type '" + ls.op +
                                         "', which the network does not support (supported: " + supported_list() + ")");

    // Arity.
    size_t min_in = 1, max_in = 1, min_p = 0, max_p = 0, nbuf = 0;
    switch (L.op) {
      case Op::Conv: min_p = 1, max_p = 2; break;
      case Op::BN: min_p = max_p = 2, nbuf = 2; break;
      case Op::Add: min_in = max_in = 2; break;
      case Op::Gemm: min_p = 1, max_p = 2; break;
      case Op::MatMul: max_in = 2, max_p = 1; break;
      default: break;
    }
    if (ls.inputs.size() < min_in || ls.inputs.size() > max_in)
      layer_fail(L, Code::InvalidArgument,
                 "has " + std::to_string(ls.inputs.size()) + " inputs, expected " + std::to_string(min_in) +
                     (max_in != min_in ? "-" + std::to_string(max_in) : ""));
    if (ls.params.size() < min_p || ls.params.size() > max_p)
      layer_fail(L, Code::InvalidArgument,
                 "has " + std::to_string(ls.params.size()) + " parameters, expected " + std::to_string(min_p) +
                     (max_p != min_p ? "-" + std::to_string(max_p) : ""));
    if (L.op == Op::MatMul && ls.inputs.size() + ls.params.size() != 2)
      layer_fail(L, Code::InvalidArgument,
                 "needs two operands: one input and a weight parameter, or two inputs (got " +
                     std::to_string(ls.inputs.size()) + " inputs and " + std::to_string(ls.params.size()) +
                     " parameters)");
    if (ls.buffers.size() != nbuf)
      layer_fail(L, Code::InvalidArgument,
                 "has " + std::to_string(ls.buffers.size()) + " buffers, expected " + std::to_string(nbuf) +
                     (nbuf ? " (running_mean, running_var)" : ""));
    if (ls.outputs.size() != 1)
      layer_fail(L, Code::InvalidArgument, "has " + std::to_string(ls.outputs.size()) + " outputs, expected 1");

    for (const auto& tn : ls.inputs) {
      auto it = I.tindex.find(tn);
      if (it == I.tindex.end()) {
        if (pindex.count(tn) || bindex.count(tn))
          layer_fail(L, Code::InvalidArgument,
                     "input '" + tn + "' is a parameter or buffer; list it in the layer's params instead");
        layer_fail(L, Code::InvalidArgument,
                   "reads tensor '" + tn + "' before any layer writes it (not a graph input or an earlier output)");
      }
      L.in.push_back(it->second);
    }
    const std::string& on = ls.outputs[0];
    if (on.empty()) layer_fail(L, Code::InvalidArgument, "has an empty output name");
    if (I.tindex.count(on)) {
      const auto& t = I.tensors[I.tindex[on]];
      layer_fail(L, Code::InvalidArgument,
                 "writes tensor '" + on + "', which " +
                     (t.is_input ? std::string("is a graph input") : "layer '" + I.layers[t.producer].name + "' already writes"));
    }
    if (pindex.count(on) || bindex.count(on))
      layer_fail(L, Code::InvalidArgument, "writes tensor '" + on + "', which is the name of a parameter or buffer");
    L.out = add_tensor(on);
    I.tensors[L.out].producer = static_cast<int>(li);
    for (int t : L.in) I.tensors[t].consumers.push_back(static_cast<int>(li));

    for (const auto& pn : ls.params) {
      auto it = pindex.find(pn);
      if (it == pindex.end()) layer_fail(L, Code::InvalidArgument, "uses parameter '" + pn + "', which is not declared");
      if (param_owner[it->second] >= 0)
        layer_fail(L, Code::InvalidArgument,
                   "uses parameter '" + pn + "', which layer '" + I.layers[param_owner[it->second]].name +
                       "' already uses (shared parameters are not supported)");
      param_owner[it->second] = static_cast<int>(li);
      L.params.push_back(it->second);
    }
    for (const auto& bn : ls.buffers) {
      auto it = bindex.find(bn);
      if (it == bindex.end()) layer_fail(L, Code::InvalidArgument, "uses buffer '" + bn + "', which is not declared");
      if (buffer_owner[it->second] >= 0)
        layer_fail(L, Code::InvalidArgument,
                   "uses buffer '" + bn + "', which layer '" + I.layers[buffer_owner[it->second]].name +
                       "' already uses");
      buffer_owner[it->second] = static_cast<int>(li);
      L.buffers.push_back(it->second);
    }

    // Attributes: known keys per op (a few ONNX ones accepted at their default only).
    std::set<std::string> keys;
    switch (L.op) {
      case Op::Conv: keys = {"strides", "pads", "dilations", "group", "kernel_shape"}; break;
      case Op::BN: keys = {"epsilon", "momentum", "training_mode", "spatial"}; break;
      case Op::MaxPool: keys = {"kernel_shape", "strides", "pads", "ceil_mode", "dilations", "storage_order"}; break;
      case Op::AvgPool: keys = {"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad"}; break;
      case Op::Flatten: keys = {"axis"}; break;
      case Op::Reshape: keys = {"shape", "allowzero"}; break;
      case Op::Gemm: keys = {"transB", "transA", "alpha", "beta"}; break;
      case Op::Clip: keys = {"min", "max"}; break;
      case Op::LeakyRelu: keys = {"alpha"}; break;
      default: break;
    }
    for (const auto& kv : ls.attrs) {
      if (!keys.count(kv.first)) {
        std::string list;
        for (auto& k : keys) list += (list.empty() ? "" : ", ") + k;
        layer_fail(L, Code::InvalidArgument,
                   "has an unknown attribute '" + kv.first + "' (known: " + (list.empty() ? "none" : list) + ")");
      }
      for (double v : kv.second.values)
        if (!std::isfinite(v)) layer_fail(L, Code::InvalidArgument, "attribute '" + kv.first + "' is not finite");
    }
    auto ints = [&](const char* key, size_t len, std::vector<int64_t> dflt, int64_t min) {
      const NetAttr* a = find_attr(ls, key);
      if (!a) return dflt;
      if (!a->is_list || (len && a->values.size() != len))
        layer_fail(L, Code::InvalidArgument,
                   std::string("attribute '") + key + "' must be a list of " + std::to_string(len) + " integers");
      std::vector<int64_t> r;
      for (double v : a->values) {
        if (v != std::floor(v) || v < static_cast<double>(min) || std::fabs(v) > 1e15)
          layer_fail(L, Code::InvalidArgument,
                     std::string("attribute '") + key + "' must hold integers >= " + std::to_string(min));
        r.push_back(static_cast<int64_t>(v));
      }
      return r;
    };
    auto scalar = [&](const char* key, double dflt) {
      const NetAttr* a = find_attr(ls, key);
      if (!a) return dflt;
      if (a->is_list || a->values.size() != 1)
        layer_fail(L, Code::InvalidArgument, std::string("attribute '") + key + "' must be a number");
      return a->values[0];
    };
    auto integer = [&](const char* key, int64_t dflt, int64_t lo, int64_t hi) {
      const double v = scalar(key, static_cast<double>(dflt));
      if (v != std::floor(v) || v < static_cast<double>(lo) || v > static_cast<double>(hi))
        layer_fail(L, Code::InvalidArgument,
                   std::string("attribute '") + key + "' must be an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "] (got " + std::to_string(v) + ")");
      return static_cast<int64_t>(v);
    };
    auto only_default = [&](const char* key, double dflt) {
      if (const NetAttr* a = find_attr(ls, key)) {
        bool ok = true;
        for (double v : a->values) ok = ok && v == dflt;
        if (!ok)
          layer_fail(L, Code::Unsupported,
                     std::string("attribute '") + key + "' must be " + std::to_string(static_cast<int64_t>(dflt)) +
                         " (other values are not supported)");
      }
    };
    switch (L.op) {
      case Op::Conv: {
        auto st = ints("strides", 2, {1, 1}, 1);
        auto pd = ints("pads", 4, {0, 0, 0, 0}, 0);
        auto dl = ints("dilations", 2, {1, 1}, 1);
        L.sh = st[0], L.sw = st[1], L.pt = pd[0], L.pl = pd[1], L.pb = pd[2], L.pr = pd[3], L.dh = dl[0], L.dw = dl[1];
        L.group = integer("group", 1, 1, 1 << 30);
        auto ks = ints("kernel_shape", 2, {}, 1);
        if (!ks.empty()) L.kh = ks[0], L.kw = ks[1];
        else L.kh = L.kw = 0;
        break;
      }
      case Op::BN: {
        L.eps = scalar("epsilon", 1e-5);
        L.momentum = scalar("momentum", 0.1);
        if (!(L.eps > 0)) layer_fail(L, Code::InvalidArgument, "attribute 'epsilon' must be > 0");
        if (L.momentum < 0 || L.momentum > 1)
          layer_fail(L, Code::InvalidArgument, "attribute 'momentum' must be in [0, 1] (PyTorch convention)");
        only_default("spatial", 1);
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool: {
        auto ks = ints("kernel_shape", 2, {}, 1);
        if (ks.empty()) layer_fail(L, Code::InvalidArgument, "attribute 'kernel_shape' is required");
        L.kh = ks[0], L.kw = ks[1];
        auto st = ints("strides", 2, {1, 1}, 1);
        auto pd = ints("pads", 4, {0, 0, 0, 0}, 0);
        L.sh = st[0], L.sw = st[1], L.pt = pd[0], L.pl = pd[1], L.pb = pd[2], L.pr = pd[3];
        L.ceil_mode = integer("ceil_mode", 0, 0, 1) != 0;
        if (L.op == Op::AvgPool) L.count_include_pad = integer("count_include_pad", 0, 0, 1) != 0;
        else {
          only_default("dilations", 1);
          only_default("storage_order", 0);
        }
        break;
      }
      case Op::Flatten: L.axis = integer("axis", 1, -64, 64); break;
      case Op::Reshape: {
        const NetAttr* a = find_attr(ls, "shape");
        if (!a) layer_fail(L, Code::InvalidArgument, "attribute 'shape' is required");
        L.rshape = ints("shape", 0, {}, -1);
        L.allowzero = integer("allowzero", 0, 0, 1) != 0;
        break;
      }
      case Op::Gemm:
        L.trans_b = integer("transB", 0, 0, 1) != 0;
        only_default("transA", 0);
        only_default("alpha", 1);
        only_default("beta", 1);
        break;
      case Op::Clip: {
        const double lo = scalar("min", -std::numeric_limits<float>::max());
        const double hi = scalar("max", std::numeric_limits<float>::max());
        if (!(lo <= hi)) layer_fail(L, Code::InvalidArgument, "attribute 'min' must be <= 'max'");
        L.lo = static_cast<float>(lo), L.hi = static_cast<float>(hi);
        break;
      }
      case Op::LeakyRelu: L.alpha = static_cast<float>(scalar("alpha", 0.01)); break;
      default: break;
    }
    I.layers.push_back(std::move(L));
  }
  for (size_t i = 0; i < params_.size(); ++i)
    MIMIC_REQUIRE(param_owner[i] >= 0, Code::InvalidArgument,
                  "parameter '" + params_[i].name + "' is not used by any layer");
  for (size_t i = 0; i < buffers_.size(); ++i)
    MIMIC_REQUIRE(buffer_owner[i] >= 0, Code::InvalidArgument,
                  "buffer '" + buffers_[i].name + "' is not used by any layer");

  // Graph outputs.
  MIMIC_REQUIRE(!spec.outputs.empty(), Code::InvalidArgument, "the network has no outputs");
  for (const auto& on : spec.outputs) {
    auto it = I.tindex.find(on);
    MIMIC_REQUIRE(it != I.tindex.end() && I.tensors[it->second].producer >= 0, Code::InvalidArgument,
                  "graph output '" + on + "' is not written by any layer");
    MIMIC_REQUIRE(!I.tensors[it->second].is_output, Code::InvalidArgument,
                  "graph output '" + on + "' is listed twice");
    I.tensors[it->second].is_output = true;
    output_tensors_.push_back(it->second);
  }

  for (auto& L : I.layers)
    if (L.op == Op::BN) {
      const auto& scale = params_[L.params[0]];
      L.save_mean.assign(static_cast<size_t>(numel(scale.shape)), 0.f);
      L.save_invstd.assign(static_cast<size_t>(numel(scale.shape)), 0.f);
    }

  // Aliasing decisions (shape independent).
  for (auto& t : I.tensors) t.contributions = static_cast<int>(t.consumers.size()) + (t.is_output ? 1 : 0);
  for (auto& L : I.layers) {
    if (L.op != Op::Flatten && L.op != Op::Reshape && L.op != Op::Relu) continue;
    const Impl::T& x = I.tensors[L.in[0]];
    const bool sole = x.consumers.size() == 1 && !x.is_output;
    if (L.op == Op::Relu) {
      bool ok = sole && !x.is_input;
      if (ok) {
        const Op p = I.layers[x.producer].op;
        ok = p != Op::Relu && p != Op::L2Norm && p != Op::Flatten && p != Op::Reshape;
      }
      L.inplace = L.grad_alias = ok;
      // BN -> ReLU and Add -> ReLU in one pass over the data each way (ops::batchnorm_relu_*, ops::add_relu_*): the
      // ReLU works in place on the producer's sole output, so its activation and gradient are the producer's slots.
      if (ok && (I.layers[x.producer].op == Op::BN || I.layers[x.producer].op == Op::Add))
        L.fused = I.layers[x.producer].relu_fused = true;
    } else {
      L.inplace = true;  // activations always alias
      L.grad_alias = sole;
    }
  }

  // BN -> Add (ResNet's block end: the residual branch's last BN, a downsampling shortcut's BN): a BN whose output
  // only the Add reads computes its statistics only, and the Add applies it while adding (ops::bn_add_forward): its
  // output is never written and read back. The backward needs neither (the BN's reads x, the Add's its own output).
  for (auto& L : I.layers) {
    if (L.op != Op::Add || L.in[0] == L.in[1]) continue;
    for (int k = 0; k < 2; ++k) {
      const Impl::T& t = I.tensors[L.in[k]];
      if (t.producer < 0 || t.is_output || t.consumers.size() != 1) continue;
      auto& P = I.layers[t.producer];
      if (P.op != Op::BN || P.relu_fused) continue;
      P.bn_in_add = true;
      L.add_bn[k] = t.producer;
    }
  }

  // Shape inference at batch 1 validates the parameter shapes and attributes now.
  infer(1);
  info_.param_bytes = 0;
  for (auto& p : params_) info_.param_bytes += 2 * p.data.size() * sizeof(float);
  for (auto& b : buffers_) info_.param_bytes += b.data.size() * sizeof(float);
  for (auto& L : I.layers) info_.param_bytes += 2 * L.save_mean.size() * sizeof(float);
}


// ---------------------------------------------------------------------------------------------------------
// Shape inference

namespace {
// Runs an ops:: call, re-throwing its errors with the layer's name in front.
template <class F>
void kcall(const Network::Impl::Layer& L, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    layer_fail(L, e.code(), e.what());
  }
}
}  // namespace

void Network::infer(int64_t batch) {
  Impl& I = *impl_;
  for (auto& t : I.tensors)
    if (t.is_input) {
      t.shape = {batch};
      t.shape.insert(t.shape.end(), t.sample_shape.begin(), t.sample_shape.end());
    }
  for (auto& L : I.layers) {
    const std::vector<int64_t>& x = I.tensors[L.in[0]].shape;
    std::vector<int64_t> y;
    auto pshape = [&](size_t k) -> const std::vector<int64_t>& { return params_[L.params[k]].shape; };
    auto need_rank = [&](size_t lo, size_t hi) {
      if (x.size() < lo || x.size() > hi)
        layer_fail(L, Code::ShapeMismatch,
                   "input '" + I.tensors[L.in[0]].name + "' has shape " + shape_str(x) + ", expected rank " +
                       std::to_string(lo) + (hi != lo ? "-" + std::to_string(hi) : ""));
    };
    auto vec_param = [&](std::vector<int64_t> shape, const std::string& pname, int64_t want, const char* role) {
      if (numel(shape) != want || shape.size() != 1)
        layer_fail(L, Code::ShapeMismatch,
                   std::string(role) + " '" + pname + "' has shape " + shape_str(shape) + ", expected [" +
                       std::to_string(want) + "]");
    };
    switch (L.op) {
      case Op::Conv: {
        need_rank(4, 4);
        const auto& w = pshape(0);
        if (w.size() != 4)
          layer_fail(L, Code::ShapeMismatch,
                     "weight '" + params_[L.params[0]].name + "' has shape " + shape_str(w) + ", expected (OC, C/group, KH, KW)");
        if (x[1] % L.group || w[0] % L.group)
          layer_fail(L, Code::InvalidArgument,
                     "group " + std::to_string(L.group) + " does not divide the input channels (" + std::to_string(x[1]) +
                         ") and the output channels (" + std::to_string(w[0]) + ")");
        if (w[1] != x[1] / L.group)
          layer_fail(L, Code::ShapeMismatch,
                     "weight '" + params_[L.params[0]].name + "' has shape " + shape_str(w) + " but the input '" +
                         I.tensors[L.in[0]].name + "' " + shape_str(x) + " needs " + std::to_string(x[1] / L.group) +
                         " input channels per group");
        if (L.kh && (L.kh != w[2] || L.kw != w[3]))
          layer_fail(L, Code::ShapeMismatch,
                     "attribute kernel_shape [" + std::to_string(L.kh) + ", " + std::to_string(L.kw) +
                         "] disagrees with the weight " + shape_str(w));
        if (L.params.size() > 1) vec_param(pshape(1), params_[L.params[1]].name, w[0], "bias");
        ops::Conv2dShape& c = L.conv;
        c.n = x[0], c.c = x[1], c.h = x[2], c.w = x[3], c.oc = w[0], c.kh = w[2], c.kw = w[3];
        c.stride_h = L.sh, c.stride_w = L.sw, c.pad_t = L.pt, c.pad_l = L.pl, c.pad_b = L.pb, c.pad_r = L.pr;
        c.dil_h = L.dh, c.dil_w = L.dw, c.groups = L.group;
        if (c.h + c.pad_t + c.pad_b < c.dil_h * (c.kh - 1) + 1 || c.w + c.pad_l + c.pad_r < c.dil_w * (c.kw - 1) + 1)
          layer_fail(L, Code::ShapeMismatch, "the kernel " + shape_str(w) + " is larger than the padded input " + shape_str(x));
        kcall(L, [&] { ops::conv2d_check(c); });
        y = {c.n, c.oc, c.oh(), c.ow()};
        break;
      }
      case Op::BN: {
        need_rank(2, 4);
        const char* roles[2] = {"scale", "bias"};
        for (size_t k = 0; k < 2; ++k) vec_param(pshape(k), params_[L.params[k]].name, x[1], roles[k]);
        const char* broles[2] = {"running_mean", "running_var"};
        for (size_t k = 0; k < 2; ++k) vec_param(buffers_[L.buffers[k]].shape, buffers_[L.buffers[k]].name, x[1], broles[k]);
        L.bn.n = x[0], L.bn.c = x[1], L.bn.s = 1;
        for (size_t d = 2; d < x.size(); ++d) L.bn.s *= x[d];
        L.bn.eps = L.eps, L.bn.momentum = L.momentum;
        y = x;
        break;
      }
      case Op::Relu:
      case Op::Clip:
      case Op::LeakyRelu:
      case Op::Silu:
        L.n = numel(x);
        y = x;
        break;
      case Op::Add: {
        const auto& b = I.tensors[L.in[1]].shape;
        if (b != x)
          layer_fail(L, Code::ShapeMismatch,
                     "inputs '" + I.tensors[L.in[0]].name + "' " + shape_str(x) + " and '" + I.tensors[L.in[1]].name +
                         "' " + shape_str(b) + " differ (broadcasting is not supported)");
        L.n = numel(x);
        y = x;
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool: {
        need_rank(4, 4);
        ops::Pool2dShape& p = L.pool;
        p.n = x[0], p.c = x[1], p.h = x[2], p.w = x[3], p.kh = L.kh, p.kw = L.kw, p.stride_h = L.sh, p.stride_w = L.sw;
        p.pad_t = L.pt, p.pad_l = L.pl, p.pad_b = L.pb, p.pad_r = L.pr, p.ceil_mode = L.ceil_mode;
        p.count_include_pad = L.count_include_pad;
        if (p.h + p.pad_t + p.pad_b < p.kh || p.w + p.pad_l + p.pad_r < p.kw)
          layer_fail(L, Code::ShapeMismatch,
                     "the window [" + std::to_string(p.kh) + ", " + std::to_string(p.kw) + "] is larger than the padded input " +
                         shape_str(x));
        kcall(L, [&] { ops::pool2d_check(p); });
        y = {p.n, p.c, p.oh(), p.ow()};
        break;
      }
      case Op::GAP:
        need_rank(3, 4);
        L.n = x[0], L.c = x[1], L.s = numel(x) / (x[0] * x[1]);
        y = x;
        for (size_t d = 2; d < y.size(); ++d) y[d] = 1;
        break;
      case Op::Flatten:
        kcall(L, [&] { y = ops::flatten_shape(x, L.axis); });
        break;
      case Op::Reshape:
        kcall(L, [&] { y = ops::reshape_shape(x, L.rshape, L.allowzero); });
        break;
      case Op::Gemm: {
        need_rank(2, 2);
        const auto& w = pshape(0);
        const int64_t in = L.trans_b ? (w.size() == 2 ? w[1] : -1) : (w.size() == 2 ? w[0] : -1);
        if (w.size() != 2 || in != x[1])
          layer_fail(L, Code::ShapeMismatch,
                     "weight '" + params_[L.params[0]].name + "' has shape " + shape_str(w) + " but the input '" +
                         I.tensors[L.in[0]].name + "' " + shape_str(x) + " needs " +
                         (L.trans_b ? "(out, " + std::to_string(x[1]) + ") (transB = 1)"
                                    : "(" + std::to_string(x[1]) + ", out) (transB = 0)"));
        L.lin.n = x[0], L.lin.in = x[1], L.lin.out = L.trans_b ? w[0] : w[1], L.lin.trans_w = L.trans_b;
        if (L.params.size() > 1) vec_param(pshape(1), params_[L.params[1]].name, L.lin.out, "bias");
        y = {L.lin.n, L.lin.out};
        break;
      }
      case Op::MatMul: {
        need_rank(2, 3);
        const bool bparam = !L.params.empty();
        const auto& b = bparam ? pshape(0) : I.tensors[L.in[1]].shape;
        const std::string bname = bparam ? params_[L.params[0]].name : I.tensors[L.in[1]].name;
        ops::MatMulShape& m = L.mm;
        m.batch = x.size() == 3 ? x[0] : 1;
        m.m = x[x.size() - 2], m.k = x.back();
        bool ok = (b.size() == 2 || (b.size() == 3 && x.size() == 3 && b[0] == x[0])) && b[b.size() - 2] == m.k;
        if (!ok)
          layer_fail(L, Code::ShapeMismatch,
                     "operand '" + bname + "' has shape " + shape_str(b) + ", which cannot multiply '" +
                         I.tensors[L.in[0]].name + "' " + shape_str(x) + " (needs (" + std::to_string(m.k) +
                         ", N) or a batched (B, " + std::to_string(m.k) + ", N))");
        m.n = b.back();
        m.b_broadcast = b.size() == 2;
        y = x.size() == 3 ? std::vector<int64_t>{m.batch, m.m, m.n} : std::vector<int64_t>{m.m, m.n};
        break;
      }
      case Op::L2Norm:
        need_rank(2, 2);
        L.n = x[0], L.c = x[1];
        y = x;
        break;
    }
    I.tensors[L.out].shape = y;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Memory plan

size_t Network::plan(int64_t batch) {
  MIMIC_REQUIRE(batch >= 1, Code::InvalidArgument, "the batch size must be >= 1 (got " + std::to_string(batch) + ")");
  Impl& I = *impl_;
  if (info_.batch == batch) return info_.total_bytes();
  info_.batch = 0;  // stays unplanned if inference throws
  I.forward_done = false;
  infer(batch);
  const int nl = static_cast<int>(I.layers.size());
  const int nt = static_cast<int>(I.tensors.size());

  // Roots (aliases share their input's storage).
  for (int t = 0; t < nt; ++t) {
    auto& T = I.tensors[t];
    T.act_root = T.grad_root = t;
    if (T.producer >= 0) {
      const auto& L = I.layers[T.producer];
      if (L.inplace) T.act_root = I.tensors[L.in[0]].act_root;
      if (L.grad_alias) T.grad_root = I.tensors[L.in[0]].grad_root;
    }
  }
  // Activations: every root its own slot, but a BN output the Add applies (bn_in_add: never written or read).
  size_t off = 0;
  for (int t = 0; t < nt; ++t) {
    auto& T = I.tensors[t];
    if (T.producer >= 0 && I.layers[T.producer].bn_in_add) {
      T.act_off = 0;  // no slot: nothing reads or writes it (the BN's stats-only forward takes no y)
      continue;
    }
    if (T.act_root == t) {
      T.act_off = off;
      off += align_up(static_cast<size_t>(numel(T.shape)));
    }
  }
  for (auto& T : I.tensors) T.act_off = I.tensors[T.act_root].act_off;
  const size_t act_floats = off;

  // Gradients: lifetimes in backward steps (layer li runs at step nl - 1 - li).
  std::vector<int> start(nt, INT32_MAX), end(nt, INT32_MIN);
  std::vector<size_t> size(nt, 0);
  for (int t = 0; t < nt; ++t) {
    const auto& T = I.tensors[t];
    const int pstep = T.producer >= 0 ? nl - 1 - T.producer : nl;
    int s0 = pstep;
    if (!T.consumers.empty()) s0 = nl - 1 - *std::max_element(T.consumers.begin(), T.consumers.end());
    if (T.is_output) s0 = -1;
    const int r = T.grad_root;
    start[r] = std::min(start[r], std::min(s0, pstep));
    end[r] = std::max(end[r], pstep);
    size[r] = std::max(size[r], align_up(static_cast<size_t>(numel(T.shape))));
  }
  std::vector<int> roots;
  for (int t = 0; t < nt; ++t)
    if (I.tensors[t].grad_root == t) roots.push_back(t);
  std::stable_sort(roots.begin(), roots.end(), [&](int a, int b) { return size[a] > size[b]; });
  std::vector<int> placed;
  size_t grad_floats = 0;
  for (int r : roots) {
    std::vector<std::pair<size_t, size_t>> busy;  // [offset, offset + size) of lifetime-overlapping slots
    for (int q : placed)
      if (start[q] <= end[r] && start[r] <= end[q]) busy.push_back({I.tensors[q].grad_off, I.tensors[q].grad_off + size[q]});
    std::sort(busy.begin(), busy.end());
    size_t cand = 0;
    for (auto& b : busy) {
      if (cand + size[r] <= b.first) break;
      cand = std::max(cand, b.second);
    }
    I.tensors[r].grad_off = cand;
    grad_floats = std::max(grad_floats, cand + size[r]);
    placed.push_back(r);
  }
  for (auto& T : I.tensors) T.grad_off = I.tensors[T.grad_root].grad_off;

  // Scratch for summed gradients (two: an Add or MatMul may add into two already-written tensors).
  size_t scratch_floats = 0;
  for (auto& T : I.tensors)
    if (T.contributions > 1) scratch_floats = std::max(scratch_floats, align_up(static_cast<size_t>(numel(T.shape))));
  scratch_floats *= 2;
  size_t ws_floats = 0;
  for (auto& L : I.layers)
    if (L.op == Op::Conv) ws_floats = std::max(ws_floats, ops::conv2d_workspace_floats(L.conv));

  I.act = std::vector<float>(act_floats);
  I.grad = std::vector<float>(grad_floats);
  I.scratch = std::vector<float>(scratch_floats);
  I.workspace = std::vector<float>(ws_floats);
  info_.batch = batch;
  info_.plans += 1;
  info_.activation_bytes = act_floats * sizeof(float);
  info_.gradient_bytes = grad_floats * sizeof(float);
  info_.scratch_bytes = scratch_floats * sizeof(float);
  info_.workspace_bytes = ws_floats * sizeof(float);
  return info_.total_bytes();
}

// ---------------------------------------------------------------------------------------------------------
// Forward / backward

namespace {
// Times one layer call into Impl's profile while profiling is on (scope = the call).
class LayerClock {
 public:
  LayerClock(Network::Impl& I, std::ptrdiff_t layer, int dir)
      : I_(I), layer_(static_cast<size_t>(layer)), dir_(dir), on_(I.profiling) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~LayerClock() {
    if (!on_) return;
    I_.prof_seconds[layer_][dir_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    I_.prof_calls[layer_][dir_] += 1;
  }
  LayerClock(const LayerClock&) = delete;
  LayerClock& operator=(const LayerClock&) = delete;

 private:
  Network::Impl& I_;
  size_t layer_;
  int dir_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

ops::BnMode bn_mode(NetMode m) {
  return m == NetMode::Train ? ops::BnMode::Train : m == NetMode::Eval ? ops::BnMode::Eval : ops::BnMode::Frozen;
}
}  // namespace

void Network::set_mode(NetMode m) { mode_ = m; }

void Network::forward(const std::vector<const float*>& inputs, int64_t batch) {
  Impl& I = *impl_;
  MIMIC_REQUIRE(inputs.size() == input_tensors_.size(), Code::InvalidArgument,
                "forward: expected " + std::to_string(input_tensors_.size()) + " inputs, got " + std::to_string(inputs.size()));
  plan(batch);
  I.forward_done = false;
  I.input_grads_valid = false;
  float* A = I.act.data();
  auto X = [&](int t) -> float* { return A + I.tensors[t].act_off; };
  for (size_t i = 0; i < inputs.size(); ++i) {
    MIMIC_REQUIRE(inputs[i] != nullptr, Code::InvalidArgument, "forward: input " + std::to_string(i) + " is null");
    std::memcpy(X(input_tensors_[i]), inputs[i], sizeof(float) * static_cast<size_t>(numel(I.tensors[input_tensors_[i]].shape)));
  }
  const ops::BnMode bm = bn_mode(mode_);
  for (auto& L : I.layers) {
    const LayerClock clock(I, &L - I.layers.data(), 0);
    const float* x = X(L.in[0]);
    float* y = X(L.out);
    auto P = [&](size_t k) -> float* { return k < L.params.size() ? params_[L.params[k]].data.data() : nullptr; };
    kcall(L, [&] {
      switch (L.op) {
        case Op::Conv: ops::conv2d_forward(L.conv, x, P(0), P(1), y, ctx_, I.workspace.data()); break;
        case Op::BN:
          if (bm == ops::BnMode::Train && L.bn.n * L.bn.s <= 1)
            layer_fail(L, Code::InvalidArgument,
                       "training mode needs more than one value per channel (input " + shape_str(I.tensors[L.in[0]].shape) +
                           "); use eval or frozen-bn mode for a batch of 1");
          if (L.bn_in_add)
            ops::batchnorm_stats_forward(L.bn, bm, x, buffers_[L.buffers[0]].data.data(), buffers_[L.buffers[1]].data.data(),
                                         L.save_mean.data(), L.save_invstd.data(), ctx_);
          else
            (L.relu_fused ? ops::batchnorm_relu_forward : ops::batchnorm_forward)(
                L.bn, bm, x, P(0), P(1), buffers_[L.buffers[0]].data.data(), buffers_[L.buffers[1]].data.data(), y,
                L.save_mean.data(), L.save_invstd.data(), ctx_);
          break;
        case Op::Relu:
          if (!L.fused) ops::relu_forward(L.n, x, y, ctx_);
          break;
        case Op::Add:
          if (L.add_bn[0] >= 0 || L.add_bn[1] >= 0) {
            const float* in[2];
            ops::BnAffine af[2];
            ops::BatchNormShape shape;
            for (int k = 0; k < 2; ++k) {
              in[k] = X(L.in[k]);
              if (L.add_bn[k] < 0) continue;
              const auto& B = I.layers[static_cast<size_t>(L.add_bn[k])];
              auto BP = [&](size_t j) -> const float* { return j < B.params.size() ? params_[B.params[j]].data.data() : nullptr; };
              in[k] = X(B.in[0]);  // the BN's input: the Add applies the BN
              af[k] = {BP(0), BP(1), B.save_mean.data(), B.save_invstd.data()};
              shape = B.bn;
            }
            ops::bn_add_forward(shape, in[0], af[0], in[1], af[1], L.relu_fused, y, ctx_);
          } else {
            (L.relu_fused ? ops::add_relu_forward : ops::add_forward)(L.n, x, X(L.in[1]), y, ctx_);
          }
          break;
        case Op::MaxPool: ops::maxpool2d_forward(L.pool, x, y, ctx_); break;
        case Op::AvgPool: ops::avgpool2d_forward(L.pool, x, y, ctx_); break;
        case Op::GAP: ops::global_avgpool_forward(L.n, L.c, L.s, x, y, ctx_); break;
        case Op::Flatten:
        case Op::Reshape: break;  // aliases its input
        case Op::Gemm: ops::linear_forward(L.lin, x, P(0), P(1), y, ctx_); break;
        case Op::MatMul: ops::matmul_forward(L.mm, x, L.params.empty() ? X(L.in[1]) : P(0), y, ctx_); break;
        case Op::L2Norm: ops::l2norm_forward(L.n, L.c, x, y, ops::kL2NormEps, ctx_); break;
        case Op::Clip: ops::clip_forward(L.n, x, y, L.lo, L.hi, ctx_); break;
        case Op::LeakyRelu: ops::leaky_relu_forward(L.n, x, y, L.alpha, ctx_); break;
        case Op::Silu: ops::silu_forward(L.n, x, y, ctx_); break;
      }
    });
  }
  I.forward_done = true;
  I.forward_mode = mode_;
}

void Network::backward(const std::vector<const float*>& output_grads, bool input_grads) {
  Impl& I = *impl_;
  MIMIC_REQUIRE(I.forward_done, Code::InvalidArgument, "backward: call forward first (at this batch size)");
  MIMIC_REQUIRE(I.forward_mode == mode_, Code::InvalidArgument,
                "backward: the mode changed since the last forward; run forward again");
  MIMIC_REQUIRE(output_grads.size() == output_tensors_.size(), Code::InvalidArgument,
                "backward: expected " + std::to_string(output_tensors_.size()) + " output gradients, got " +
                    std::to_string(output_grads.size()));
  const int nt = static_cast<int>(I.tensors.size());
  I.written.assign(static_cast<size_t>(nt), 0);
  I.input_grads_valid = false;
  float* A = I.act.data();
  float* G = I.grad.data();
  auto X = [&](int t) -> float* { return A + I.tensors[t].act_off; };
  auto D = [&](int t) -> float* { return G + I.tensors[t].grad_off; };
  auto cnt = [&](int t) { return static_cast<size_t>(numel(I.tensors[t].shape)); };
  for (size_t i = 0; i < output_grads.size(); ++i) {
    const int t = output_tensors_[i];
    if (!output_grads[i]) continue;
    std::memcpy(D(t), output_grads[i], sizeof(float) * cnt(t));
    I.written[t] = 1;
  }
  const ops::BnMode bm = bn_mode(mode_);
  for (int li = static_cast<int>(I.layers.size()) - 1; li >= 0; --li) {
    auto& L = I.layers[li];
    auto PG = [&](size_t k) -> float* { return k < L.params.size() ? params_[L.params[k]].grad.data() : nullptr; };
    auto P = [&](size_t k) -> float* { return k < L.params.size() ? params_[L.params[k]].data.data() : nullptr; };
    if (!I.written[L.out]) {  // nothing flows back through this layer: its parameter gradients are zero
      for (size_t k = 0; k < L.params.size(); ++k) std::fill(params_[L.params[k]].grad.begin(), params_[L.params[k]].grad.end(), 0.f);
      continue;
    }
    const LayerClock clock(I, li, 1);
    const float* dy = D(L.out);
    const float* x = X(L.in[0]);
    // Gradient targets of the inputs: the tensor's own slot for its first contribution, scratch after.
    std::vector<std::pair<int, float*>> pending;
    int next_scratch = 0;
    auto acquire = [&](int t) -> float* {
      if (I.tensors[t].is_input && !input_grads) return nullptr;
      if (!I.written[t]) {
        I.written[t] = 1;
        return D(t);
      }
      float* s = I.scratch.data() + static_cast<size_t>(next_scratch++) * (I.scratch.size() / 2);
      pending.push_back({t, s});
      return s;
    };
    kcall(L, [&] {
      switch (L.op) {
        case Op::Conv: {
          // A second contribution (a ResNet block's input: its shortcut's gradient came first) is added in place by
          // the convolution itself, not written to scratch and summed in a pass after.
          const int t = L.in[0];
          const bool add = I.written[t] && !(I.tensors[t].is_input && !input_grads);
          float* dx = add ? D(t) : acquire(t);
          ops::conv2d_backward(L.conv, x, P(0), dy, dx, PG(0), PG(1), ctx_, I.workspace.data(), add);
          break;
        }
        case Op::BN: {
          float* dx = acquire(L.in[0]);
          if (L.relu_fused)  // dy is the ReLU output's gradient (the slots alias); the mask is applied here
            ops::batchnorm_relu_backward(L.bn, bm, x, P(0), P(1), L.save_mean.data(), L.save_invstd.data(), dy, dx,
                                         PG(0), PG(1), ctx_);
          else
            ops::batchnorm_backward(L.bn, bm, x, P(0), L.save_mean.data(), L.save_invstd.data(), dy, dx, PG(0), PG(1), ctx_);
          break;
        }
        case Op::Relu: {
          float* dx = acquire(L.in[0]);  // marks the producer output's gradient written (the same slot) when fused
          if (dx && !L.fused) ops::relu_backward(L.n, X(L.out), dy, dx, ctx_);
          break;
        }
        case Op::Add: {
          float* da = acquire(L.in[0]);
          float* db = acquire(L.in[1]);
          if (L.relu_fused)  // dy is the ReLU output's gradient (the slots alias); the mask is the fused output
            ops::add_relu_backward(L.n, X(L.out), dy, da, db, ctx_);
          else
            ops::add_backward(L.n, dy, da, db, ctx_);
          break;
        }
        case Op::MaxPool: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::maxpool2d_backward(L.pool, x, dy, dx, ctx_);
          break;
        }
        case Op::AvgPool: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::avgpool2d_backward(L.pool, dy, dx, ctx_);
          break;
        }
        case Op::GAP: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::global_avgpool_backward(L.n, L.c, L.s, dy, dx, ctx_);
          break;
        }
        case Op::Flatten:
        case Op::Reshape: {
          float* dx = acquire(L.in[0]);
          if (dx && dx != dy) std::memcpy(dx, dy, sizeof(float) * cnt(L.out));
          break;
        }
        case Op::Gemm: {
          float* dx = acquire(L.in[0]);
          ops::linear_backward(L.lin, x, P(0), dy, dx, PG(0), PG(1), ctx_);
          break;
        }
        case Op::MatMul: {
          float* da = acquire(L.in[0]);
          const bool bparam = !L.params.empty();
          float* db = bparam ? PG(0) : acquire(L.in[1]);
          ops::matmul_backward(L.mm, x, bparam ? P(0) : X(L.in[1]), dy, da, db, ctx_);
          break;
        }
        case Op::L2Norm: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::l2norm_backward(L.n, L.c, x, X(L.out), dy, dx, ops::kL2NormEps, ctx_);
          break;
        }
        case Op::Clip: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::clip_backward(L.n, x, dy, dx, L.lo, L.hi, ctx_);
          break;
        }
        case Op::LeakyRelu: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::leaky_relu_backward(L.n, x, dy, dx, L.alpha, ctx_);
          break;
        }
        case Op::Silu: {
          float* dx = acquire(L.in[0]);
          if (dx) ops::silu_backward(L.n, x, dy, dx, ctx_);
          break;
        }
      }
    });
    for (auto& [t, s] : pending) {
      float* g = D(t);
      const size_t n = cnt(t);
      for (size_t k = 0; k < n; ++k) g[k] += s[k];
    }
  }
  if (input_grads) {
    for (int t : input_tensors_)
      if (!I.written[t]) std::fill(D(t), D(t) + cnt(t), 0.f);
    I.input_grads_valid = true;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Accessors

const float* Network::output(size_t i) const {
  MIMIC_REQUIRE(i < output_tensors_.size() && impl_->forward_done, Code::InvalidArgument, "output: no such output or no forward yet");
  return impl_->act.data() + impl_->tensors[output_tensors_[i]].act_off;
}
std::vector<int64_t> Network::output_shape(size_t i) const { return impl_->tensors[output_tensors_.at(i)].shape; }
int64_t Network::output_numel(size_t i) const { return numel(output_shape(i)); }
const float* Network::input_grad(size_t i) const {
  if (i >= input_tensors_.size() || !impl_->input_grads_valid) return nullptr;
  return impl_->grad.data() + impl_->tensors[input_tensors_[i]].grad_off;
}
const std::string& Network::input_name(size_t i) const { return impl_->tensors[input_tensors_.at(i)].name; }
const std::string& Network::output_name(size_t i) const { return impl_->tensors[output_tensors_.at(i)].name; }
const std::vector<int64_t>& Network::input_sample_shape(size_t i) const {
  return impl_->tensors[input_tensors_.at(i)].sample_shape;
}

std::vector<float*> Network::param_ptrs() {
  std::vector<float*> r;
  for (auto& p : params_) r.push_back(p.data.data());
  return r;
}
std::vector<const float*> Network::grad_ptrs() {
  std::vector<const float*> r;
  for (auto& p : params_) r.push_back(p.grad.data());
  return r;
}
std::vector<int64_t> Network::param_sizes() const {
  std::vector<int64_t> r;
  for (auto& p : params_) r.push_back(static_cast<int64_t>(p.data.size()));
  return r;
}
int Network::param_index(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}
int Network::buffer_index(const std::string& name) const {
  for (size_t i = 0; i < buffers_.size(); ++i)
    if (buffers_[i].name == name) return static_cast<int>(i);
  return -1;
}
void Network::set_param(const std::string& name, const float* data, int64_t n) {
  const int i = param_index(name);
  MIMIC_REQUIRE(i >= 0, Code::InvalidArgument, "no parameter named '" + name + "'");
  MIMIC_REQUIRE(n == param_size(i), Code::ShapeMismatch,
                "parameter '" + name + "' has " + std::to_string(param_size(i)) + " elements, got " + std::to_string(n));
  std::memcpy(params_[i].data.data(), data, sizeof(float) * static_cast<size_t>(n));
}
void Network::set_buffer(const std::string& name, const float* data, int64_t n) {
  const int i = buffer_index(name);
  MIMIC_REQUIRE(i >= 0, Code::InvalidArgument, "no buffer named '" + name + "'");
  MIMIC_REQUIRE(n == buffer_size(i), Code::ShapeMismatch,
                "buffer '" + name + "' has " + std::to_string(buffer_size(i)) + " elements, got " + std::to_string(n));
  std::memcpy(buffers_[i].data.data(), data, sizeof(float) * static_cast<size_t>(n));
}

// ---------------------------------------------------------------------------------------------------------
// Profiling

void Network::set_profiling(bool on) {
  Impl& I = *impl_;
  I.profiling = on;
  if (!on) return;  // the counts stay readable
  I.prof_seconds.assign(I.layers.size(), {0.0, 0.0});
  I.prof_calls.assign(I.layers.size(), {0, 0});
}

std::vector<Network::LayerTiming> Network::layer_timings() const {
  const Impl& I = *impl_;
  std::vector<LayerTiming> out;
  for (size_t li = 0; li < I.layers.size(); ++li) {
    const auto& L = I.layers[li];
    LayerTiming t;
    t.name = L.name;
    t.op = L.opname;
    t.input_shape = I.tensors[L.in[0]].shape;
    t.output_shape = I.tensors[L.out].shape;
    if (li < I.prof_seconds.size()) {
      t.forward_seconds = I.prof_seconds[li][0];
      t.backward_seconds = I.prof_seconds[li][1];
      t.forward_calls = I.prof_calls[li][0];
      t.backward_calls = I.prof_calls[li][1];
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace mimic
