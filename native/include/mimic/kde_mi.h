// Batched Gaussian-kernel (KDE) mutual information: L layers T_1..T_L against one feature set Z, every
// bandwidth of a sweep, in one streamed pass over upper-triangular sample tiles. The N x N matrices are never
// stored. Formulas and test values: shared/docs/kde-mi.md.
//
//   layers[l] (N, D_l) float32, features (N, D_z) float32, labels (N) int32 optional
//   -> values[(l * B + b) * kNumQuantities + q] (float64), plus diagnostics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mimic/cpu.h"
#include "mimic/tensor.h"

namespace mimic::kde {

// Output slots, in this order (stable: the bindings and the TypeScript API index by these names).
enum Quantity : int {
  I_TZ = 0,      // I(T;Z), product kernel, self terms included (resubstitution)
  I_TZ_LOO,      // I(T;Z), leave-one-out (self terms dropped, ln(N-1))
  I_TX_UP,       // Kolchinsky-Tracey upper bound on I(T;X) (KL, kernel variance s2)
  I_TX_LOW,      // Kolchinsky-Tracey lower bound on I(T;X) (Bhattacharyya: I_up at 4 s2)
  I_TY,          // I(T;Y) from integer labels (upper-minus-upper estimate)
  H_T_UP,        // entropy of the noisy layer, KL form
  H_T_LOW,       // entropy of the noisy layer, BD form
  H_Z_UP,        // entropy of the noisy features, KL form
  H_TZ_UP,       // joint entropy, KL form
  HSIC,          // biased HSIC with the same Gaussian kernels, / (N-1)^2
  CKA,           // HSIC normalised (centred kernel alignment)
  kNumQuantities
};
const char* quantity_name(int q);

struct Matrix {
  const float* data = nullptr;  // dense row-major
  int64_t rows = 0;
  int64_t cols = 0;
};

// A samples x features matrix from a tensor view: float32, on the CPU, contiguous; every dimension after the first
// is flattened into features (an (N, C, H, W) activation is N x CHW). Throws Error naming `what` otherwise.
Matrix as_matrix(const TensorView& t, const std::string& what);

enum class Precision { Fp32, Fp64Reference };
enum class Backend { Cpu, Cuda };

struct Request {
  std::vector<Matrix> layers;
  Matrix features;
  const int32_t* labels = nullptr;  // optional, values >= 0
  // Absolute kernel variances: s2_layers[l][b] for layer l, s2_features[b] for Z; every layer has B entries.
  std::vector<std::vector<double>> s2_layers;
  std::vector<double> s2_features;
  // Quantities to compute, as a bit mask over Quantity (bit q set = compute q). Unrequested slots are NaN.
  uint32_t quantities = (1u << I_TZ);
  int threads = 0;        // 0 = global pool size
  int tile = 0;           // samples per tile side, 0 = automatic (results must not depend on it)
  KernelPath path = KernelPath::Auto;
  Precision precision = Precision::Fp32;
  Backend backend = Backend::Cpu;
  // Optional: set to nonzero (by another thread) to stop the CPU engine between tiles; estimate() then throws
  // Error(Code::Aborted). The other paths finish their work first.
  const int32_t* cancel = nullptr;
};

struct Result {
  int64_t n = 0;
  int num_layers = 0;
  int num_bandwidths = 0;
  std::vector<double> values;      // (L, B, kNumQuantities)
  std::vector<double> saturation;  // (L, B): fraction of rows whose T-kernel row sum is within 1e-3 (log) of its self term
  std::vector<double> feature_saturation;  // (B): the same for Z's kernel (empty without features)
  std::string backend;             // "cpu-avx2", "cpu-generic", "cpu-fp64-reference", "cuda:<name>"
  // Work accounting of the CPU engine (thread-seconds, summed over threads): the Gram GEMMs and their flops,
  // and the fused epilogue. Lets benchmarks compare the GEMM part's rate with plain sgemm.
  double gemm_seconds = 0, gemm_flops = 0, epilogue_seconds = 0;
  int tile = 0;  // tile side the CPU engine used
};

// Throws mimic::Error on invalid requests (shapes, bandwidths, labels). Input values are assumed finite (the
// bindings check).
Result estimate(const Request& req);

// Scale statistics used by relative bandwidths.
enum class Scale { MedianSq, MeanSqNorm };
// MedianSq: median squared distance over all pairs of a seeded random subset of m samples, m the smallest with
// m(m-1)/2 >= pairs (every sample when N is smaller). MeanSqNorm: 2 * mean squared norm after centring (= mean squared pairwise distance).
double scale_statistic(const Matrix& x, Scale scale, int64_t pairs, uint64_t seed, int threads);

namespace detail {
// The float64 reference: direct differences, full N x N loops. Used for precision="fp64" and by tests.
Result estimate_reference(const Request& req);
Result estimate_cpu(const Request& req);
Result estimate_cuda(const Request& req);  // throws Unsupported when built without CUDA
void validate(const Request& req);
}  // namespace detail

}  // namespace mimic::kde
