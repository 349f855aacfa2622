// Single-precision GEMM, row-major:  C (M x N, ldc) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C.
// op(A) = A (M x K, lda) or A^T (A stored K x M, lda); op(B) likewise. beta == 0 ignores C's old contents
// (NaN included), as BLAS does.
#pragma once
#include <cstdint>

#include "mimic/cpu.h"
#include "mimic/status.h"

namespace mimic {

enum class Trans : uint8_t { N, T };

struct GemmOptions {
  int threads = 0;                    // 0: the global pool's size; 1: the calling thread only
  KernelPath path = KernelPath::Auto;  // Generic forces the portable micro-kernel
  // Optional per-K offsets subtracted while packing: op(A)[i][k] - a_k_offset[k], op(B)[k][j] - b_k_offset[k].
  // Lets the KDE engine centre data inside the GEMM without a centred copy.
  const float* a_k_offset = nullptr;
  const float* b_k_offset = nullptr;
};

// Validates arguments (sizes >= 0, leading dimensions large enough) and throws mimic::Error on misuse.
void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmOptions& opt = {});

}  // namespace mimic
