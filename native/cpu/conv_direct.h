// Direct convolution (op_conv.cc's auto choice for narrow stride-1 layers, below the channel count where
// Winograd pays, and on AVX-512 for the forward of narrow spatial kernels, strided ones included): an implicit GEMM
// over a zero-padded copy of each image, with no im2col matrix and no col2im.
// With the padded size Hp x Wp, output position q = oy * Wp + ox reads padded input q + off[k] for the tap
// k = (c, ky, kx), off[k] = c * Hp * Wp + ky * Wp + kx: every row of the GEMM's B matrix is a contiguous run of the
// padded image, read in place. Columns ox >= OW of each output row are computed and dropped ((Wp - OW) / Wp of
// the work: 6% at 32x32 with pad 1). A stride S splits the padded image into S x S phase planes (rows py + S i,
// columns px + S j) and the same holds inside each plane (conv_direct.cc, Geo).
//   forward:  Y (OC x Q) = W (OC x K) * B,  B[k][q] = xp[q + off[k]],  K = C * KH * KW
//   dx:       stride 1: the forward of dy, padded by (KH - 1 - pad), with the flipped, transposed kernel;
//             stride > 1: per phase, the stride-1 forward of dy with that phase's taps, scattered into dx
//   dw:       dW[oc][k] = sum over images and q of dyp[oc][q] * xp[q + off[k]]  (dyp: dy at row width Wp with the
//             dropped columns zero): dot products along q, 4 taps x 4 output channels per register block; partial
//             sums per fixed chunk of images, added in chunk order (the result does not depend on the thread count).
// Kernels: AVX-512 (conv_direct_avx512.cc), AVX2 + FMA (conv_direct_avx2.cc), plain C++ (here). Internal to
// op_conv.cc, which dispatches here.
#pragma once
#include <cstdint>

#include "mimic/ops.h"

namespace mimic::ops::direct {

// Dilation 1, groups 1; at stride 1 every pad <= kernel size - 1 (the dx pass's padding KH - 1 - pad is >= 0).
bool eligible(const Conv2dShape& s);
void forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx);
// dx and dw may be null (not computed); db is left to the caller. accumulate_dx: dx += the input gradient.
void backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
              const Ctx& ctx, bool accumulate_dx = false);

namespace detail {
constexpr int kMR = 8;   // output channels per tile
constexpr int kNR = 32;  // output positions per tile
constexpr int kDotQ = 16;  // the dot kernels' q step: their Q is a multiple of it

// out[r * ldo + j] = sum_{k < K} Ap[k * kMR + r] * xb[off[k] + j]   for r < kMR, j < kNR (the whole tile stored).
using TileFn = void (*)(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo);
// A tile as two 16-column halves from independent positions, stored where the caller says:
//   out0[r * ldo + j] = sum_{k < K} Ap[k * kMR + r] * xb[off[k] + j],  out1[r * ldo + j] = ... xb[off[k] + delta + j]
// for r < rows (<= kMR), j < 16 (with `accumulate`, += instead of =). The forward writes output rows straight into
// y with it (no staging tile, no dropped columns) when the output width is a multiple of 16. Every kernel set has
// one.
using TileRowsFn = void (*)(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off,
                            float* out0, float* out1, int64_t ldo, int rows, bool accumulate);
// acc[i * 4 + o] += sum_{q < Q} xb[off[i] + q] * dy[o * ldy + q]   for i < nk, o < no (nk, no <= 4; Q % kDotQ == 0).
using DotFn = void (*)(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
                       float* acc);

void tile_generic(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo);
void tile_rows_generic(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off, float* out0,
                       float* out1, int64_t ldo, int rows, bool accumulate);
void dot_generic(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
                 float* acc);
#if defined(__x86_64__)
void tile_avx2(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo);
void tile_rows_avx2(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off, float* out0,
                    float* out1, int64_t ldo, int rows, bool accumulate);
void dot_avx2(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
              float* acc);
void tile_avx512(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo);
void tile_rows_avx512(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off, float* out0,
                      float* out1, int64_t ldo, int rows, bool accumulate);
void dot_avx512(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
                float* acc);
#endif
}  // namespace detail

}  // namespace mimic::ops::direct
