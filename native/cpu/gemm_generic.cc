// Portable GEMM micro-kernel and packers: plain loops over the MR x NR tile that the compiler vectorises with
// the baseline ISA (SSE2 on x86-64). Same packed layout as the AVX2 kernel (see gemm_kernels.h).
#include <cstring>

#include "gemm_kernels.h"

namespace mimic::gemm_detail {

#if defined(__GNUC__) || defined(__clang__)
// GCC / Clang vector extension: 4 floats, lowered to SSE on x86-64, NEON on arm64, scalars elsewhere. Keeps
// the 6 x 16 tile in 24 vector registers (spilling a few with SSE's 16) instead of a stack array.
typedef float v4 __attribute__((vector_size(16)));

static inline v4 load4(const float* p) {
  v4 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

void micro_kernel_generic(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C,
                          int64_t ldc, float alpha, float beta, int mr, int nr) {
  v4 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4; ++q) acc[r][q] = v4{0, 0, 0, 0};
  for (int64_t k = 0; k < kc; ++k) {
    const float* a = Ap + k * MR;
    const float* b = Bp + k * NR;
    const v4 b0 = load4(b), b1 = load4(b + 4), b2 = load4(b + 8), b3 = load4(b + 12);
    for (int r = 0; r < MR; ++r) {
      const v4 ar = v4{a[r], a[r], a[r], a[r]};
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
      acc[r][2] += ar * b2;
      acc[r][3] += ar * b3;
    }
  }
  alignas(16) float t[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4; ++q) __builtin_memcpy(&t[r][q * 4], &acc[r][q], sizeof(v4));
#else
void micro_kernel_generic(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C,
                          int64_t ldc, float alpha, float beta, int mr, int nr) {
  alignas(64) float t[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) t[r][j] = 0.0f;
  for (int64_t k = 0; k < kc; ++k) {
    const float* a = Ap + k * MR;
    const float* b = Bp + k * NR;
    for (int r = 0; r < MR; ++r) {
      const float ar = a[r];
      for (int j = 0; j < NR; ++j) t[r][j] += ar * b[j];
    }
  }
#endif
  if (beta == 0.0f) {
    for (int r = 0; r < mr; ++r) {
      float* c = C + r * ldc;
      for (int j = 0; j < nr; ++j) c[j] = alpha * t[r][j];
    }
  } else {
    for (int r = 0; r < mr; ++r) {
      float* c = C + r * ldc;
      for (int j = 0; j < nr; ++j) c[j] = alpha * t[r][j] + beta * c[j];
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
