// Internal to the GEMM: micro-kernels and packing routines shared by gemm.cc and the per-ISA files.
// Packed layouts (both kernels use the same ones):
//   A micro-panel: MR rows of op(A) for kc steps, k-major:  Ap[k * MR + r]   (rows past M zero-filled)
//   B micro-panel: NR cols of op(B) for kc steps, k-major:  Bp[k * NR + j]   (cols past N zero-filled)
#pragma once
#include <cstdint>

namespace mimic::gemm_detail {

constexpr int MR = 6;
constexpr int NR = 16;

// C[r][j] (r < mr, j < nr, row stride ldc) = alpha * sum_k Ap[k][r] * Bp[k][j] + beta * C[r][j];
// beta == 0 stores without reading C. mr <= MR, nr <= NR; kc >= 1. Ap / Bp 32-byte aligned.
// Blocking parameters (MC multiple of MR, NC multiple of NR); set_blocking is for tuning experiments only
// (not thread-safe against a running sgemm). Values <= 0 leave a parameter unchanged.
void set_blocking(int mc, int kc, int nc);
void get_blocking(int* mc, int* kc, int* nc);

using MicroKernel = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                             float beta, int mr, int nr);

void micro_kernel_generic(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                          float beta, int mr, int nr);

// Transposing packers (the strided cases). src points at element (row 0, k 0) of `rows` source rows, each
// contiguous in k with stride ld between rows; off (nullable) is indexed by k (already shifted to k 0).
// Writes dst[k * P + r] = src[r * ld + k] - off[k] for r < rows (rows <= P), zero for rows <= r < P.
// May write up to 8 floats past dst + kc * P (the caller's buffers leave that slack).
void pack_rows_t6_generic(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
void pack_rows_t16_generic(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);

#if defined(MIMIC_HAVE_AVX2_SOURCES) || defined(__x86_64__)
#define MIMIC_GEMM_X86 1
void micro_kernel_avx2(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                       float beta, int mr, int nr);
void pack_rows_t6_avx2(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
void pack_rows_t16_avx2(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
#endif

}  // namespace mimic::gemm_detail
