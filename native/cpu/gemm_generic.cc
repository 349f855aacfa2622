// Portable GEMM micro-kernel and packers: plain loops over the MR x NR tile that the compiler vectorises with
// the baseline ISA (SSE2 on x86-64). Same packed layout as the AVX2 kernel (see gemm_kernels.h).
#include <cstring>

#include "gemm_kernels.h"

namespace mimic::gemm_detail {

void micro_kernel_generic(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C,
                          int64_t ldc, float alpha, float beta, int mr, int nr) {
  alignas(64) float acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;
  for (int64_t k = 0; k < kc; ++k) {
    const float* a = Ap + k * MR;
    const float* b = Bp + k * NR;
    for (int r = 0; r < MR; ++r) {
      const float ar = a[r];
      for (int j = 0; j < NR; ++j) acc[r][j] += ar * b[j];
    }
  }
  if (beta == 0.0f) {
    for (int r = 0; r < mr; ++r) {
      float* c = C + r * ldc;
      for (int j = 0; j < nr; ++j) c[j] = alpha * acc[r][j];
    }
  } else {
    for (int r = 0; r < mr; ++r) {
      float* c = C + r * ldc;
      for (int j = 0; j < nr; ++j) c[j] = alpha * acc[r][j] + beta * c[j];
    }
  }
}

namespace {
template <int P>
void pack_rows_t(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  // Row by row: contiguous reads, strided (P floats) writes into a buffer that stays in L1.
  for (int r = 0; r < rows; ++r) {
    const float* s = src + r * ld;
    if (off)
      for (int64_t k = 0; k < kc; ++k) dst[k * P + r] = s[k] - off[k];
    else
      for (int64_t k = 0; k < kc; ++k) dst[k * P + r] = s[k];
  }
  for (int r = rows; r < P; ++r)
    for (int64_t k = 0; k < kc; ++k) dst[k * P + r] = 0.0f;
}
}  // namespace

void pack_rows_t6_generic(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  pack_rows_t<MR>(kc, rows, src, ld, off, dst);
}
void pack_rows_t16_generic(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst) {
  pack_rows_t<NR>(kc, rows, src, ld, off, dst);
}

}  // namespace mimic::gemm_detail
