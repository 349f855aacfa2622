// Direct (implicit-GEMM) convolution; see conv_direct.h for the formulation. Generic kernels here, SIMD ones in
// conv_direct_avx2.cc / conv_direct_avx512.cc.
#include "conv_direct.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "mimic/cpu.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"
#include "strided_rows.h"

namespace mimic::ops::direct {

namespace detail {

void tile_generic(int64_t K, const float* Ap, const float* xb, const int32_t* off, float* out, int64_t ldo) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < K; ++k) {
    const float* b = xb + off[k];
    for (int r = 0; r < kMR; ++r) {
      const float a = Ap[k * kMR + r];
      for (int j = 0; j < kNR; ++j) acc[r][j] += a * b[j];
    }
  }
  for (int r = 0; r < kMR; ++r) std::memcpy(out + r * ldo, acc[r], sizeof(acc[r]));
}

void tile_rows_generic(int64_t K, const float* Ap, const float* xb, int64_t delta, const int32_t* off, float* out0,
                       float* out1, int64_t ldo, int rows, bool accumulate) {
  for (int r = 0; r < rows; ++r)
    for (int half = 0; half < 2; ++half)
      for (int j = 0; j < 16; ++j) {
        float acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += Ap[k * kMR + r] * xb[off[k] + half * delta + j];
        float& o = (half ? out1 : out0)[r * ldo + j];
        o = accumulate ? o + acc : acc;
      }
}

void dot_generic(int64_t Q, const float* xb, const int32_t* off, int nk, const float* dy, int64_t ldy, int no,
                 float* acc) {
  for (int i = 0; i < nk; ++i)
    for (int o = 0; o < no; ++o) {
      const float* xr = xb + off[i];
      const float* d = dy + o * ldy;
      float s = 0;
      for (int64_t q = 0; q < Q; ++q) s += xr[q] * d[q];
      acc[i * 4 + o] += s;
    }
}

}  // namespace detail

namespace {
using namespace detail;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The padded input split into stride phases: phase (py, px) holds padded rows py, py + SH, ... and columns px,
// px + SW, ... as an Hq x Wq plane (stride 1: one phase, the padded image itself). Tap (c, ky, kx) of output
// (oy, ox) reads phase (ky % SH, kx % SW) at (oy + ky / SH, ox + kx / SW): with q = oy * Wq + ox, at q + off[k].
// Planes are laid out [phase][channel][image][Hq x Wq] for `images` images (1, or a weight-gradient chunk).
struct Geo {
  int64_t sh, sw, hq, wq, planeq, oh, ow, k;
  int64_t cstride, pstride;  // floats between channels of a phase, between phases
  int64_t size;              // floats of all planes
  std::vector<int32_t> off;
};

Geo geo_of(const Conv2dShape& s, int64_t images) {
  Geo g;
  g.sh = s.stride_h;
  g.sw = s.stride_w;
  const int64_t hp = s.h + s.pad_t + s.pad_b, wp = s.w + s.pad_l + s.pad_r;
  g.hq = (hp + g.sh - 1) / g.sh;
  g.wq = (wp + g.sw - 1) / g.sw;
  g.planeq = g.hq * g.wq;
  g.oh = (hp - s.kh) / g.sh + 1;
  g.ow = (wp - s.kw) / g.sw + 1;
  g.k = s.c * s.kh * s.kw;
  g.cstride = images * g.planeq;
  g.pstride = s.c * g.cstride;
  g.size = g.sh * g.sw * g.pstride;
  MIMIC_REQUIRE(g.size < (int64_t{1} << 31) - 4096, Code::InvalidArgument,
                "conv2d (direct): the padded input planes (" + std::to_string(g.size) +
                    " floats) exceed 32-bit tap offsets; use conv 'im2col'");
  g.off.resize(static_cast<size_t>(g.k));
  for (int64_t c = 0, k = 0; c < s.c; ++c)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j)
        g.off[static_cast<size_t>(k++)] = static_cast<int32_t>(((i % g.sh) * g.sw + j % g.sw) * g.pstride + c * g.cstride +
                                                               (i / g.sh) * g.wq + j / g.sw);
  return g;
}

// Images per partial weight gradient: a chunk's padded input and dy planes ((C + OC) x images x Hq x Wq) near
// kDwChunkFloats (1 MiB, half of L2), so that every tap block's dot products over the chunk read them from L2.
// Width-16 layer1 (16 channels, 32x32; alternating A/B): 8 images ~7.0 ms per backward vs 7.1-7.3 at 4 (the fixed
// count before), 7.6 at 2 and 8.2 at 16 (2.4 MiB).
constexpr int64_t kDwChunkFloats = 256ll << 10;
// The chunk count is rounded up to a multiple of 4 (chunks of equal work for 1, 2 or 4 threads); it depends on the
// shape only, so the partials' order, and the result's bits, do not depend on the thread count.
int64_t dw_chunk(const Conv2dShape& s) {
  const Geo g = geo_of(s, 1);
  const int64_t fit = std::clamp<int64_t>(kDwChunkFloats / ((s.c + s.oc) * g.planeq), 1, s.n);
  const int64_t chunks = round_up((s.n + fit - 1) / fit, 4);
  return std::max<int64_t>(1, (s.n + chunks - 1) / chunks);
}

// Floats a kernel may read: every plane, and up to `positions` past the largest tap offset.
int64_t span_of(const Geo& g, int64_t positions) {
  return std::max(g.size, positions + *std::max_element(g.off.begin(), g.off.end()));
}

// A growable per-thread scratch buffer (pool threads live as long as the process: no allocation per call).
float* scratch(int slot, size_t n) {
  thread_local std::vector<float> bufs[3];
  auto& b = bufs[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Image `img` of the planes (see Geo) from one image x (C x H x W), padding zero.
void fill_image(const Conv2dShape& s, const Geo& g, const float* x, float* xp, int64_t img) {
  for (int64_t c = 0; c < s.c; ++c)
    for (int64_t py = 0; py < g.sh; ++py)
      for (int64_t px = 0; px < g.sw; ++px) {
        float* plane = xp + (py * g.sw + px) * g.pstride + c * g.cstride + img * g.planeq;
        for (int64_t iq = 0; iq < g.hq; ++iq) {
          float* row = plane + iq * g.wq;
          const int64_t y = iq * g.sh + py - s.pad_t;
          if (y < 0 || y >= s.h) {
            std::memset(row, 0, sizeof(float) * g.wq);
            continue;
          }
          const float* src = x + (c * s.h + y) * s.w;
          if (g.sw == 1) {  // pad_l zeros, the row, zeros to Wq
            std::memset(row, 0, sizeof(float) * s.pad_l);
            std::memcpy(row + s.pad_l, src, sizeof(float) * s.w);
            std::memset(row + s.pad_l + s.w, 0, sizeof(float) * (g.wq - s.pad_l - s.w));
          } else if (g.sw == 2) {  // zeros, then the columns inside the map as one stride-2 run
            const int64_t off = px - s.pad_l;  // column j reads src[2j + off]
            const int64_t jlo = std::min(g.wq, off >= 0 ? 0 : (1 - off) / 2), jhi = std::max(jlo, std::min(g.wq, (s.w - off + 1) / 2));
            for (int64_t j = 0; j < jlo; ++j) row[j] = 0.0f;
            gather_even(src + 2 * jlo + off, row + jlo, jhi - jlo);
            for (int64_t j = jhi; j < g.wq; ++j) row[j] = 0.0f;
          } else {
            for (int64_t j = 0; j < g.wq; ++j) {
              const int64_t xc = j * g.sw + px - s.pad_l;
              row[j] = xc >= 0 && xc < s.w ? src[xc] : 0.0f;
            }
          }
        }
      }
}

// Image `img` of the planes from one image x, horizontal stride 1 or 2 (has_interior_fill): the map's positions,
// nothing else. The padding must already be zero: the callers zero the planes once per call and nothing writes the
// padding afterwards (fill_image's per-row memsets of the padding, ~1.5k calls per image on 16 x 32 x 32, were the
// bulk of its cost beyond the copy itself, which is the input's one read from memory). At stride 2 each input row
// is split into its two column phases (~40% of the 16 -> 32 stride-2 forward was fill_image).
bool has_interior_fill(const Geo& g) { return g.sw <= 2; }
// A row copy; the maps' common widths as fixed-size copies the compiler inlines (a memcpy call per 32-float row
// was most of the fill's time).
inline void copy_row(float* __restrict d, const float* __restrict src, int64_t n) {
  switch (n) {
    case 32: std::memcpy(d, src, 32 * sizeof(float)); return;
    case 16: std::memcpy(d, src, 16 * sizeof(float)); return;
    case 8: std::memcpy(d, src, 8 * sizeof(float)); return;
    default: std::memcpy(d, src, static_cast<size_t>(n) * sizeof(float));
  }
}
void fill_interior(const Conv2dShape& s, const Geo& g, const float* x, float* xp, int64_t img) {
  if (g.sh == 1 && g.sw == 1) {
    for (int64_t c = 0; c < s.c; ++c) {
      float* plane = xp + c * g.cstride + img * g.planeq + s.pad_t * g.wq + s.pad_l;
      const float* src = x + c * s.h * s.w;
      for (int64_t y = 0; y < s.h; ++y) copy_row(plane + y * g.wq, src + y * s.w, s.w);
    }
    return;
  }
  for (int64_t c = 0; c < s.c; ++c) {
    const float* src = x + c * s.h * s.w;
    for (int64_t y = 0; y < s.h; ++y, src += s.w) {
      const int64_t yp = y + s.pad_t;  // padded row: phase row yp % SH, plane row yp / SH
      float* row = xp + (yp % g.sh) * g.sw * g.pstride + c * g.cstride + img * g.planeq + (yp / g.sh) * g.wq;
      if (g.sw == 1) {
        copy_row(row + s.pad_l, src, s.w);
        continue;
      }
      // input columns xc0, xc0 + 2, ... land in column phase px from (xc0 + pad) / 2
      for (int64_t px = 0; px < 2; ++px) {
        const int64_t xc0 = ((px - s.pad_l) % 2 + 2) % 2;
        if (xc0 < s.w) gather_even(src + xc0, row + px * g.pstride + (xc0 + s.pad_l) / 2, (s.w - xc0 + 1) / 2);
      }
    }
  }
}

// The kernels for the resolved path (AVX-512, AVX2 + FMA, or plain C++).
struct Kernels {
  TileFn tile;
  TileRowsFn tile_rows;
  DotFn dot;
};
Kernels kernels_for(const Ctx& ctx) {
#if defined(__x86_64__)
  switch (resolve_path(ctx.path)) {
    case KernelPath::Avx512: return {tile_avx512, tile_rows_avx512, dot_avx512};
    case KernelPath::Avx2: return {tile_avx2, tile_rows_avx2, dot_avx2};
    default: break;
  }
#else
  (void)ctx;
#endif
  return {tile_generic, tile_rows_generic, dot_generic};
}

// The forward for any stride and padding (the input gradient calls it with paddings eligible() would refuse);
// `accumulate`: y += the convolution (an input gradient added to one already there).
void forward_any(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx,
                 bool accumulate = false) {
  const Geo g = geo_of(s, 1);
  const int64_t blocks = (s.oc + kMR - 1) / kMR;
  const int64_t qp = round_up(g.oh * g.wq, kNR);  // output positions computed per channel (tiles of kNR)
  const int64_t len = span_of(g, qp);
  // A: the weights (OC x K) as kMR-row panels, k-major, rows past OC zero.
  std::vector<float> ap(static_cast<size_t>(blocks * g.k * kMR), 0.0f);
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t k = 0; k < g.k; ++k) ap[static_cast<size_t>(((o / kMR) * g.k + k) * kMR + o % kMR)] = w[o * g.k + k];
  const Kernels kern = kernels_for(ctx);
  // Output rows a multiple of 16 wide (and no bias): each half-tile is 16 columns of one output row, computed and
  // stored straight into y (no staging tile and copy-out, no dropped columns); pairs of consecutive 16-column
  // segments make the tiles.
  const bool by_rows = !b && g.ow % 16 == 0;
  parallel_for(s.n, ctx.threads, [&](int64_t n0, int64_t n1) {
    float* xp = scratch(0, static_cast<size_t>(len));
    float* out = by_rows ? nullptr : scratch(1, static_cast<size_t>(blocks * kMR * qp));
    const bool interior = has_interior_fill(g);
    // the tail the last tiles read, and the padding too where fill_interior leaves it alone
    std::memset(xp + (interior ? 0 : g.size), 0, sizeof(float) * static_cast<size_t>(interior ? len : len - g.size));
    for (int64_t n = n0; n < n1; ++n) {
      if (interior)
        fill_interior(s, g, x + n * s.c * s.h * s.w, xp, 0);
      else
        fill_image(s, g, x + n * s.c * s.h * s.w, xp, 0);
      if (by_rows) {
        const int64_t per_row = g.ow / 16, segs = g.oh * per_row, ohw = g.oh * g.ow;
        float* yn = y + n * s.oc * ohw;
        const auto q_of = [&](int64_t t) { return (t / per_row) * g.wq + (t % per_row) * 16; };
        for (int64_t t = 0; t < segs; t += 2) {
          const int64_t u = std::min(t + 1, segs - 1);  // an odd last segment pairs with itself
          for (int64_t ob = 0; ob < blocks; ++ob)
            kern.tile_rows(g.k, ap.data() + ob * g.k * kMR, xp + q_of(t), q_of(u) - q_of(t), g.off.data(),
                           yn + ob * kMR * ohw + 16 * t, yn + ob * kMR * ohw + 16 * u, ohw,
                           static_cast<int>(std::min<int64_t>(kMR, s.oc - ob * kMR)), accumulate);
        }
        continue;
      }
      for (int64_t q0 = 0; q0 < qp; q0 += kNR)
        for (int64_t ob = 0; ob < blocks; ++ob)
          kern.tile(g.k, ap.data() + ob * g.k * kMR, xp + q0, g.off.data(), out + ob * kMR * qp + q0, qp);
      for (int64_t o = 0; o < s.oc; ++o) {
        const float bias = b ? b[o] : 0.0f;
        float* dst = y + (n * s.oc + o) * g.oh * g.ow;
        for (int64_t r = 0; r < g.oh; ++r) {
          const float* src = out + o * qp + r * g.wq;
          if (accumulate)
            for (int64_t c = 0; c < g.ow; ++c) dst[r * g.ow + c] += src[c] + bias;
          else
            for (int64_t c = 0; c < g.ow; ++c) dst[r * g.ow + c] = src[c] + bias;
        }
      }
    }
  });
}

// The taps (py + SH a, px + SW b) of w, flipped in space and transposed in channels: a (C, OC, A, B) kernel whose
// forward over dy gives that stride phase's part of dx (stride 1: the whole kernel, py = px = 0).
std::vector<float> flipped_taps(const Conv2dShape& s, const float* w, int64_t py, int64_t px, int64_t A, int64_t B) {
  std::vector<float> wt(static_cast<size_t>(s.c * s.oc * A * B));
  for (int64_t c = 0; c < s.c; ++c)
    for (int64_t o = 0; o < s.oc; ++o)
      for (int64_t a = 0; a < A; ++a)
        for (int64_t b = 0; b < B; ++b)
          wt[static_cast<size_t>(((c * s.oc + o) * A + (A - 1 - a)) * B + (B - 1 - b))] =
              w[((o * s.c + c) * s.kh + py + s.stride_h * a) * s.kw + px + s.stride_w * b];
  return wt;
}

// dx, stride 1: the forward of dy padded by (K - 1 - pad) with w flipped in space and transposed in channels.
void input_grad_stride1(const Conv2dShape& s, const float* w, const float* dy, float* dx, const Ctx& ctx,
                        bool accumulate) {
  Conv2dShape t = s;
  t.c = s.oc;
  t.oc = s.c;
  t.h = s.oh();
  t.w = s.ow();
  t.pad_t = s.kh - 1 - s.pad_t;
  t.pad_b = s.kh - 1 - s.pad_b;
  t.pad_l = s.kw - 1 - s.pad_l;
  t.pad_r = s.kw - 1 - s.pad_r;
  forward_any(t, dy, flipped_taps(s, w, 0, 0, s.kh, s.kw).data(), nullptr, dx, ctx, accumulate);
}

// dx, stride > 1, one stride phase at a time: padded input rows py + SH i, columns px + SW j receive
//   sum over oc, a, b of w[oc][c][py + SH a][px + SW b] * dy[oc][i - a][j - b],
// a stride-1 forward of dy (padded by A - 1, B - 1 before, to an Hq x Wq output after) with that sub-kernel flipped
// and transposed. phase_forward computes phase (py, px) into dp (N, C, Hq, Wq) (false: the phase has no taps);
// input_grad_phases scatters each phase to dx (positions of a phase with no taps get 0), or, at stride 2,
// input_grad_phase_pairs interleaves two phases per dx row.
bool phase_forward(const Conv2dShape& s, const Geo& g, const float* w, const float* dy, int64_t py, int64_t px,
                   float* dp, const Ctx& ctx) {
  const int64_t A = py < s.kh ? (s.kh - py + g.sh - 1) / g.sh : 0, B = px < s.kw ? (s.kw - px + g.sw - 1) / g.sw : 0;
  if (A == 0 || B == 0) return false;
  Conv2dShape t;
  t.n = s.n;
  t.c = s.oc;
  t.h = g.oh;
  t.w = g.ow;
  t.oc = s.c;
  t.kh = A;
  t.kw = B;
  t.pad_t = A - 1;
  t.pad_l = B - 1;
  t.pad_b = g.hq - g.oh;
  t.pad_r = g.wq - g.ow;
  forward_any(t, dy, flipped_taps(s, w, py, px, A, B).data(), nullptr, dp, ctx);
  return true;
}

// dx at stride 2 with pad-left 1 and a kernel >= 2 wide (ResNet's stride-2 3x3): dx column 2k is phase px = 1's
// column k, column 2k + 1 phase px = 0's column k + 1, so each dx row is one interleave of the two phases' rows
// (written, or added with `accumulate`): no zeroing of dx, no per-element scatter.
bool input_grad_phase_pairs(const Conv2dShape& s, const float* w, const float* dy, float* dx, const Ctx& ctx,
                            bool accumulate) {
  const Geo g = geo_of(s, 1);
  if (g.sh != 2 || g.sw != 2 || s.pad_l != 1 || s.kw < 2 || s.kh < 2) return false;
  float* dp0 = scratch(2, static_cast<size_t>(2 * s.n * s.c * g.planeq));
  float* dp1 = dp0 + s.n * s.c * g.planeq;
  const auto row_op = accumulate ? add_interleave2 : interleave2;
  for (int64_t py = 0; py < 2; ++py) {
    phase_forward(s, g, w, dy, py, 0, dp0, ctx);
    phase_forward(s, g, w, dy, py, 1, dp1, ctx);
    parallel_for(s.n * s.c, ctx.threads, [&](int64_t t0, int64_t t1) {
      for (int64_t nc = t0; nc < t1; ++nc)
        for (int64_t iq = 0; iq < g.hq; ++iq) {
          const int64_t y = 2 * iq + py - s.pad_t;
          if (y < 0 || y >= s.h) continue;
          const int64_t at = nc * g.planeq + iq * g.wq;
          row_op(dp1 + at, dp0 + at + 1, dx + nc * s.h * s.w + y * s.w, s.w);
        }
    });
  }
  return true;
}

void input_grad_phases(const Conv2dShape& s, const float* w, const float* dy, float* dx, const Ctx& ctx,
                       bool accumulate) {
  if (input_grad_phase_pairs(s, w, dy, dx, ctx, accumulate)) return;
  const Geo g = geo_of(s, 1);
  if (!accumulate) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(s.n * s.c * s.h * s.w));
  float* dp = scratch(2, static_cast<size_t>(s.n * s.c * g.planeq));
  for (int64_t py = 0; py < g.sh; ++py)
    for (int64_t px = 0; px < g.sw; ++px) {
      if (!phase_forward(s, g, w, dy, py, px, dp, ctx)) continue;  // (N, C, Hq, Wq)
      parallel_for(s.n * s.c, ctx.threads, [&](int64_t t0, int64_t t1) {
        for (int64_t nc = t0; nc < t1; ++nc) {
          const float* src = dp + nc * g.planeq;
          float* dst = dx + nc * s.h * s.w;
          for (int64_t iq = 0; iq < g.hq; ++iq) {
            const int64_t y = iq * g.sh + py - s.pad_t;
            if (y < 0 || y >= s.h) continue;
            for (int64_t j = 0; j < g.wq; ++j) {
              const int64_t xc = j * g.sw + px - s.pad_l;
              if (xc >= 0 && xc < s.w) dst[y * s.w + xc] = (accumulate ? dst[y * s.w + xc] : 0.0f) + src[iq * g.wq + j];
            }
          }
        }
      });
    }
}

// dw = sum over images of dyp (OC x Q) * B^T, B[k][q] = xp[q + off[k]]. A chunk of images shares each channel's
// planes ([phase][c][image][Hq x Wq]), so q runs across the chunk's images and one dot product per (tap, output
// channel) covers them all (per-image dots were too short on 4x4 and 8x8 maps); dyp is zero on every position that
// is not an output (dropped columns, the last rows of each image's plane, the tail).
void weight_grad(const Conv2dShape& s, const float* x, const float* dy, float* dw, const Ctx& ctx) {
  const int64_t chunk = dw_chunk(s);  // images per partial
  const Geo g = geo_of(s, chunk);
  const int64_t K = g.k;
  const int64_t qd = round_up(g.cstride, kDotQ);
  const int64_t xlen = span_of(g, qd);
  const int64_t chunks = (s.n + chunk - 1) / chunk;
  const int64_t per = s.oc * K;
  std::vector<float> partial(static_cast<size_t>(chunks * per), 0.0f);
  const DotFn dot = kernels_for(ctx).dot;
  parallel_for(chunks, ctx.threads, [&](int64_t c0, int64_t c1) {
    float* xp = scratch(0, static_cast<size_t>(xlen));
    float* dyp = scratch(1, static_cast<size_t>(s.oc * qd));
    // Zero once: every chunk rewrites the same positions of xp (the map's, or at strides over 2 every plane
    // position) and of dyp (the outputs), so the padding, the tail after the planes and dyp's non-output positions
    // stay zero. A short (last) chunk re-zeroes, for its missing images.
    auto zero = [&] {
      std::memset(xp, 0, sizeof(float) * static_cast<size_t>(xlen));
      std::memset(dyp, 0, sizeof(float) * static_cast<size_t>(s.oc * qd));
    };
    zero();
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * chunk, nimg = std::min(chunk, s.n - n0);
      if (nimg < chunk) zero();
      for (int64_t i = 0; i < nimg; ++i) {
        if (has_interior_fill(g))
          fill_interior(s, g, x + (n0 + i) * s.c * s.h * s.w, xp, i);
        else
          fill_image(s, g, x + (n0 + i) * s.c * s.h * s.w, xp, i);
        for (int64_t o = 0; o < s.oc; ++o)
          for (int64_t r = 0; r < g.oh; ++r)
            copy_row(dyp + o * qd + i * g.planeq + r * g.wq, dy + (((n0 + i) * s.oc + o) * g.oh + r) * g.ow, g.ow);
      }
      float* part = partial.data() + ch * per;
      for (int64_t k0 = 0; k0 < K; k0 += 4)
        for (int64_t o0 = 0; o0 < s.oc; o0 += 4) {
          const int nk = static_cast<int>(std::min<int64_t>(4, K - k0)), no = static_cast<int>(std::min<int64_t>(4, s.oc - o0));
          float acc[16] = {};
          dot(qd, xp, g.off.data() + k0, nk, dyp + o0 * qd, qd, no, acc);
          for (int i = 0; i < nk; ++i)
            for (int o = 0; o < no; ++o) part[(o0 + o) * K + k0 + i] = acc[i * 4 + o];
        }
    }
  });
  for (int64_t i = 0; i < per; ++i) {
    float sum = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) sum += partial[static_cast<size_t>(ch * per + i)];
    dw[i] = sum;
  }
}

}  // namespace

bool eligible(const Conv2dShape& s) {
  if (s.dil_h != 1 || s.dil_w != 1 || s.groups != 1) return false;
  if (s.stride_h > 1 || s.stride_w > 1) return true;  // the input gradient goes by stride phases
  return s.pad_t <= s.kh - 1 && s.pad_b <= s.kh - 1 && s.pad_l <= s.kw - 1 && s.pad_r <= s.kw - 1;
}

void forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx) {
  forward_any(s, x, w, b, y, ctx);
}

void backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
              const Ctx& ctx, bool accumulate_dx) {
  if (dw) weight_grad(s, x, dy, dw, ctx);
  if (!dx) return;
  if (s.stride_h == 1 && s.stride_w == 1)
    input_grad_stride1(s, w, dy, dx, ctx, accumulate_dx);
  else
    input_grad_phases(s, w, dy, dx, ctx, accumulate_dx);
}

}  // namespace mimic::ops::direct
