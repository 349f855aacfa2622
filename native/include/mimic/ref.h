// float64 reference kernels: plain loops, used by the tests to check the fast paths.
#pragma once
#include <cstdint>

namespace mimic::ref {

// C_out (M x N, dense) = alpha * op(A) * op(B) + beta * C_in, accumulated in float64.
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, double beta, const float* C_in, int64_t ldc, double* C_out);

}  // namespace mimic::ref
