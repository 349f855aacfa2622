// Plain float64-accumulating GEMM: the reference the fast kernels are tested against. Slow, obviously right.
#include "mimic/ref.h"

namespace mimic::ref {

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, double beta, const float* C_in, int64_t ldc, double* C_out) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = ta ? A[k * lda + i] : A[i * lda + k];
        double b = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      double c = beta == 0 ? 0.0 : beta * static_cast<double>(C_in[i * ldc + j]);
      C_out[i * N + j] = alpha * acc + c;
    }
}

}  // namespace mimic::ref
