// Internal to the GEMM: micro-kernels and packing routines shared by gemm.cc and the per-ISA files.
// Packed layouts (every kernel uses these, with its own tile size MR x NR):
//   A micro-panel: MR rows of op(A) for kc steps, k-major:  Ap[k * MR + r]   (rows past M zero-filled)
//   B micro-panel: NR cols of op(B) for kc steps, k-major:  Bp[k * NR + j]   (cols past N zero-filled)
// The generic and AVX2 kernels use MR = 6, NR = 16; the AVX-512 kernel MR_AVX512 x NR_AVX512.
#pragma once
#include <cstdint>

#include "mimic/cpu.h"

namespace mimic::gemm_detail {

constexpr int MR = 6;   // generic and AVX2 tile
constexpr int NR = 16;
#ifndef MIMIC_AVX512_MR  // (tuning builds only)
#define MIMIC_AVX512_MR 12
#endif
constexpr int MR_AVX512 = MIMIC_AVX512_MR;
constexpr int NR_AVX512 = 32;

// C[r][j] (r < mr, j < nr, row stride ldc) = alpha * sum_k Ap[k][r] * Bp[k][j] + beta * C[r][j];
// beta == 0 stores without reading C. mr <= MR, nr <= NR; kc >= 1. Ap / Bp 32-byte aligned.
// Blocking parameters, per kernel path (MC multiple of MR, NC multiple of NR); set_blocking (applied to every
// path, rounded to its tile) and reset_blocking (back to the defaults) are for tuning experiments and tests only
// (not thread-safe against a running sgemm). Values <= 0 leave a parameter unchanged.
void set_blocking(int mc, int kc, int nc);
void reset_blocking();
void get_blocking(KernelPath path, int* mc, int* kc, int* nc);  // for resolve_path(path)
void get_tile(KernelPath path, int* mr, int* nr);

using MicroKernel = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                             float beta, int mr, int nr);
using PackRowsT = void (*)(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);

void micro_kernel_generic(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                          float beta, int mr, int nr);

// Transposing packers (the strided cases). src points at element (row 0, k 0) of `rows` source rows, each
// contiguous in k with stride ld between rows; off (nullable) is indexed by k (already shifted to k 0).
// Writes dst[k * P + r] = src[r * ld + k] - off[k] for r < rows (rows <= P), zero for rows <= r < P.
// May write up to 8 floats past dst + kc * P (the caller's buffers leave that slack; the AVX-512 ones do not).
void pack_rows_t6_generic(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
void pack_rows_t16_generic(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);

#if defined(MIMIC_HAVE_AVX2_SOURCES) || defined(__x86_64__)
#define MIMIC_GEMM_X86 1
void micro_kernel_avx2(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                       float beta, int mr, int nr);
void pack_rows_t6_avx2(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
void pack_rows_t16_avx2(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
// AVX-512F/VL: MR_AVX512 x NR_AVX512 tile; pack_rows_tmr_avx512 packs MR_AVX512 rows, pack_rows_t32_avx512 32.
void micro_kernel_avx512(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                         float beta, int mr, int nr);
void pack_rows_tmr_avx512(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
void pack_rows_t32_avx512(int64_t kc, int rows, const float* src, int64_t ld, const float* off, float* dst);
#endif

}  // namespace mimic::gemm_detail
