// Layer-level training kernels (float32, NCHW, batch first): every op a forward/backward pair, llm.c style.
// The float64 references of the same ops live in mimic/ops_ref.h (native/ref/ops_ref.cc); the tests check
// each fast kernel against them and the references against finite differences.
//
// Conventions
// - Pointers are dense row-major buffers of exactly the sizes in each op's shape comment; outputs never alias
//   inputs unless the comment says so.
// - Backward kernels OVERWRITE every gradient they produce (no accumulation); a gradient pointer that may be
//   null says so (the gradient is then not computed).
// - Shapes are validated (sizes, strides, pads) and misuse throws mimic::Error (InvalidArgument); buffers are
//   trusted to have the stated sizes.
// - Results do not depend on the thread count beyond float rounding (the GEMM may split K across threads);
//   everything else is partitioned over disjoint outputs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mimic/cpu.h"

namespace mimic::ops {

// How a convolution is computed: Auto picks per pass (forward, input gradient, weight gradient) among Winograd
// F(2x2, 3x3) for 3x3 / stride 1 / pad 1 / groups 1 layers wide enough to gain from it, direct implicit GEMM for
// the other stride-1 layers (with AVX2 or AVX-512) and the forward of narrow spatial kernels (AVX-512), and im2col;
// the others force one for every pass where it applies (im2col elsewhere).
enum class ConvAlgo : uint8_t { Auto, Im2col, Winograd, Direct };

struct Ctx {
  int threads = 0;                    // 0: the global pool's size; 1: the calling thread only
  KernelPath path = KernelPath::Auto;  // passed to the GEMM
  ConvAlgo conv = ConvAlgo::Auto;
};

// ---------------------------------------------------------------------------------------------------------
// Conv2d:  x (N,C,H,W), w (OC,C/G,KH,KW), b (OC) or null  ->  y (N,OC,OH,OW)
//   OH = (H + pad_t + pad_b - dil_h*(KH-1) - 1) / stride_h + 1   (likewise OW)
// backward: dy (N,OC,OH,OW) -> dx (N,C,H,W) or null, dw (OC,C/G,KH,KW) or null, db (OC) or null
// im2col + SGEMM on blocks of images (enough output columns per GEMM for small maps), col2im for dx; Winograd
// or direct implicit GEMM where they apply (ConvAlgo; op_conv.cc says which layers take which).
struct Conv2dShape {
  int64_t n = 1, c = 1, h = 1, w = 1;  // input
  int64_t oc = 1, kh = 1, kw = 1;      // weight (oc, c / groups, kh, kw)
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;
  int64_t oh() const { return (h + pad_t + pad_b - dil_h * (kh - 1) - 1) / stride_h + 1; }
  int64_t ow() const { return (w + pad_l + pad_r - dil_w * (kw - 1) - 1) / stride_w + 1; }
};
void conv2d_check(const Conv2dShape& s);  // throws InvalidArgument naming the bad field
// Scratch floats conv2d_forward / conv2d_backward need (pass a buffer this large to reuse it across steps;
// null workspace: the kernel allocates its own).
size_t conv2d_workspace_floats(const Conv2dShape& s);
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y,
                    const Ctx& ctx = {}, float* workspace = nullptr);
// accumulate_dx: dx += the input gradient (the network adds a tensor's second gradient contribution in place).
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, const Ctx& ctx = {}, float* workspace = nullptr, bool accumulate_dx = false);

// ---------------------------------------------------------------------------------------------------------
// BatchNorm (2-D: S = H*W; 1-D: (N,C) with S = 1 or (N,C,L) with S = L):
//   x (N,C,S), gamma (C) or null (= 1), beta (C) or null (= 0) -> y (N,C,S), save_mean (C), save_invstd (C)
//   Train:  mean/var over N*S (biased var normalises), running_mean/var (C, may be null) updated in place:
//           running = (1 - momentum) * running + momentum * stat, with the UNBIASED var (as PyTorch). N*S > 1.
//   Eval / Frozen: running stats normalise (save_* = running_mean, 1/sqrt(running_var + eps)).
// backward: x, gamma, save_mean, save_invstd, dy -> dx (N,C,S), dgamma (C) or null, dbeta (C) or null
//   Train: the full batch-statistics gradient; Eval: stats are constants; Frozen: as Eval for dx, and
//   dgamma = dbeta = 0 (written as zeros when non-null).
enum class BnMode { Train, Eval, Frozen };
struct BatchNormShape {
  int64_t n = 1, c = 1, s = 1;
  double eps = 1e-5;
  double momentum = 0.1;
};
void batchnorm_check(const BatchNormShape& s, BnMode mode);
void batchnorm_forward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma, const float* beta,
                       float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd,
                       const Ctx& ctx = {});
void batchnorm_backward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* dy, float* dx, float* dgamma,
                        float* dbeta, const Ctx& ctx = {});
// BatchNorm then ReLU in one pass (the network fuses a BN whose only consumer is a ReLU): y = relu(bn(x)). The
// backward takes dy of the ReLU's output (and beta) and recomputes the ReLU mask from x, the forward's value bit
// for bit; otherwise both are the functions above.
void batchnorm_relu_forward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                            const float* beta, float* running_mean, float* running_var, float* y, float* save_mean,
                            float* save_invstd, const Ctx& ctx = {});
void batchnorm_relu_backward(const BatchNormShape& s, BnMode mode, const float* x, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd, const float* dy,
                             float* dx, float* dgamma, float* dbeta, const Ctx& ctx = {});

// BatchNorm's forward without y, for a BN whose only consumer is an Add (ResNet's block end): the statistics
// (Train: the batch's, running stats updated; Eval / Frozen: the running ones) into save_mean / save_invstd (both
// required); the Add applies them (bn_add_forward), and the backward is batchnorm_backward as ever.
void batchnorm_stats_forward(const BatchNormShape& s, BnMode mode, const float* x, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd, const Ctx& ctx = {});
// A BatchNorm's affine map from its saved statistics (gamma / beta null: 1 / 0); mean == nullptr: none.
struct BnAffine {
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* mean = nullptr;
  const float* invstd = nullptr;
};
// y = A(a) + B(b), then the ReLU when `relu`, over (N, C, S), with A and B BatchNorm affines or none: the same bits
// as batchnorm_forward's y then add_forward / add_relu_forward, without writing and reading back the BN output.
void bn_add_forward(const BatchNormShape& s, const float* a, const BnAffine& fa, const float* b, const BnAffine& fb,
                    bool relu, float* y, const Ctx& ctx = {});

// ---------------------------------------------------------------------------------------------------------
// Relu: x (n) -> y (n) (NaN propagates); backward: y (n), dy (n) -> dx (n) = y > 0 ? dy : 0. In place allowed.
void relu_forward(int64_t n, const float* x, float* y, const Ctx& ctx = {});
void relu_backward(int64_t n, const float* y, const float* dy, float* dx, const Ctx& ctx = {});

// Clip (ReLU6 as exported: lo 0, hi 6): x (n) -> y (n) = min(max(x, lo), hi) (NaN propagates); backward: x (n),
// dy (n) -> dx (n) = lo < x < hi ? dy : 0 (PyTorch's hardtanh / ReLU6 gradient).
void clip_forward(int64_t n, const float* x, float* y, float lo, float hi, const Ctx& ctx = {});
void clip_backward(int64_t n, const float* x, const float* dy, float* dx, float lo, float hi, const Ctx& ctx = {});
// SiLU (swish, x * sigmoid(x), as exported: Sigmoid then Mul): x (n) -> y (n); backward: x (n), dy (n) -> dx (n) =
// dy * s (1 + x (1 - s)), s = sigmoid(x).
void silu_forward(int64_t n, const float* x, float* y, const Ctx& ctx = {});
void silu_backward(int64_t n, const float* x, const float* dy, float* dx, const Ctx& ctx = {});
// LeakyRelu: x (n) -> y (n) = x > 0 ? x : alpha x; backward: x (n), dy (n) -> dx (n) = x > 0 ? dy : alpha dy.
void leaky_relu_forward(int64_t n, const float* x, float* y, float alpha, const Ctx& ctx = {});
void leaky_relu_backward(int64_t n, const float* x, const float* dy, float* dx, float alpha, const Ctx& ctx = {});

// Add: a (n), b (n) -> y (n); backward: dy (n) -> da (n), db (n) (copies; either may be null).
void add_forward(int64_t n, const float* a, const float* b, float* y, const Ctx& ctx = {});
void add_backward(int64_t n, const float* dy, float* da, float* db, const Ctx& ctx = {});
// Add then ReLU in one pass each way (the network fuses an Add whose only consumer is a ReLU, ResNet's block end):
// y = max(a + b, 0);  backward g = (y > 0 ? dy : 0) -> da and db (either null; either may alias dy). The same
// bits as add_* then relu_*.
void add_relu_forward(int64_t n, const float* a, const float* b, float* y, const Ctx& ctx = {});
void add_relu_backward(int64_t n, const float* y, const float* dy, float* da, float* db, const Ctx& ctx = {});

// ---------------------------------------------------------------------------------------------------------
// Pool2d (MaxPool / AveragePool): x (N,C,H,W) -> y (N,C,OH,OW)
//   OH = floor_or_ceil((H + pad_t + pad_b - KH) / stride_h) + 1; with ceil_mode a last window that would start
//   in the bottom/right padding is dropped (PyTorch's rule). Pads must be < the kernel.
//   MaxPool: pads are -inf; NaN propagates; backward routes dy to the first max of each window (recomputed
//   from x), summing where windows overlap.
//   AveragePool: count_include_pad: divide by the window clipped to the padded extent (ONNX / PyTorch);
//   otherwise by the number of real elements.
struct Pool2dShape {
  int64_t n = 1, c = 1, h = 1, w = 1;
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  bool ceil_mode = false;
  bool count_include_pad = false;  // AveragePool only
  int64_t oh() const;
  int64_t ow() const;
};
void pool2d_check(const Pool2dShape& s);
void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, const Ctx& ctx = {});
void maxpool2d_backward(const Pool2dShape& s, const float* x, const float* dy, float* dx, const Ctx& ctx = {});
void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y, const Ctx& ctx = {});
void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx, const Ctx& ctx = {});

// GlobalAveragePool: x (N,C,S) -> y (N,C) (S = H*W); backward: dy (N,C) -> dx (N,C,S) = dy / S.
void global_avgpool_forward(int64_t n, int64_t c, int64_t s, const float* x, float* y, const Ctx& ctx = {});
void global_avgpool_backward(int64_t n, int64_t c, int64_t s, const float* dy, float* dx, const Ctx& ctx = {});

// Flatten / Reshape: no data movement; these give the output shape (ONNX semantics).
//   flatten_shape: (d0..d_{axis-1}) x (d_axis..) -> {outer, inner}; axis in [-rank, rank].
//   reshape_shape: spec entries > 0 kept, -1 inferred (at most one), 0 copies the input dim (allowzero = false)
//   or means a zero dim (allowzero = true). Element counts must match.
std::vector<int64_t> flatten_shape(const std::vector<int64_t>& shape, int64_t axis);
std::vector<int64_t> reshape_shape(const std::vector<int64_t>& shape, const std::vector<int64_t>& spec,
                                   bool allowzero = false);

// ---------------------------------------------------------------------------------------------------------
// Linear / Gemm: x (N,IN), w (OUT,IN) [trans_w, PyTorch] or (IN,OUT) [!trans_w, ONNX transB=0], b (OUT) or null
//   -> y (N,OUT) = x op(w) + b;  backward: dy (N,OUT) -> dx (N,IN) or null, dw (like w) or null, db (OUT) or null.
struct LinearShape {
  int64_t n = 1, in = 1, out = 1;
  bool trans_w = true;
};
void linear_forward(const LinearShape& s, const float* x, const float* w, const float* b, float* y,
                    const Ctx& ctx = {});
void linear_backward(const LinearShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, const Ctx& ctx = {});

// MatMul: a (B,M,K), b (B,K,N) or, b_broadcast, (K,N) -> y (B,M,N);
//   backward: dy (B,M,N) -> da (B,M,K) or null, db (like b; summed over B when broadcast) or null.
struct MatMulShape {
  int64_t batch = 1, m = 1, k = 1, n = 1;
  bool b_broadcast = false;
};
void matmul_forward(const MatMulShape& s, const float* a, const float* b, float* y, const Ctx& ctx = {});
void matmul_backward(const MatMulShape& s, const float* a, const float* b, const float* dy, float* da, float* db,
                     const Ctx& ctx = {});

// ---------------------------------------------------------------------------------------------------------
// L2 normalise rows (torch.nn.functional.normalize, p = 2, dim = 1): x (N,D) -> y (N,D) = x / max(||x||, eps)
// backward: x, y, dy -> dx:  ||x|| > eps: (dy - y (y . dy)) / ||x||;  else dy / eps.
constexpr double kL2NormEps = 1e-12;
void l2norm_forward(int64_t n, int64_t d, const float* x, float* y, double eps = kL2NormEps, const Ctx& ctx = {});
void l2norm_backward(int64_t n, int64_t d, const float* x, const float* y, const float* dy, float* dx,
                     double eps = kL2NormEps, const Ctx& ctx = {});

}  // namespace mimic::ops
