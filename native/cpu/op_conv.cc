// Conv2d forward/backward (mimic/ops.h):
//   x (N,C,H,W), w (OC,C/G,KH,KW), b (OC) -> y (N,OC,OH,OW);  dy -> dx (N,C,H,W), dw, db (OC)
//
// Images are processed in blocks of nb (chosen from the output map size only, never from the thread count, so
// results do not depend on it beyond the GEMM's K split): one block's im2col matrix col (C/G*KH*KW rows x
// nb*OH*OW columns) feeds one GEMM per group, so small late-stage maps still give the GEMM wide matrices.
//   forward:  Y_g (OC/G x cols) = W_g (OC/G x CKK) * col_g              (scattered to NCHW when nb > 1)
//   backward: dW_g += dY_g * col_g^T;   dcol_g = W_g^T * dY_g, col2im -> dx;   db = sum of dy
// A 1x1, stride-1, unpadded conv of a single-image block uses x itself as col (no copy).
// Two other algorithms take the passes they suit, chosen per pass (forward, input gradient, weight gradient;
// dispatch below): Winograd F(2x2, 3x3) (conv_winograd.h) for 3x3 pad-1 layers of >= 32 channels, direct implicit
// GEMM (conv_direct.h) for the other stride-1 layers when its AVX2 or AVX-512 kernels run, and for the forward of
// narrow spatial kernels on AVX-512.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "conv_direct.h"
#include "conv_winograd.h"
#include "mimic/cpu.h"
#include "mimic/gemm.h"
#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"
#include "strided_rows.h"

namespace mimic::ops {

namespace {
constexpr int64_t kTargetCols = 512;            // output columns per GEMM the block size aims for
constexpr int64_t kMaxColFloats = 8ll << 20;    // col buffer cap (32 MiB) that limits the block size

std::string num(int64_t v) { return std::to_string(v); }

struct Plan {
  int64_t cg, ocg, ckk, oh, ow, ohw, nb;
  bool direct;  // 1x1 / stride 1 / no pad: col == x for a single image
  bool same;    // stride 1, dilation 1, output size == input size (3x3 pad 1 and the like)
};

Plan plan_of(const Conv2dShape& s) {
  Plan p;
  p.cg = s.c / s.groups;
  p.ocg = s.oc / s.groups;
  p.ckk = p.cg * s.kh * s.kw;
  p.oh = s.oh();
  p.ow = s.ow();
  p.ohw = p.oh * p.ow;
  p.nb = std::max<int64_t>(1, std::min<int64_t>(s.n, (kTargetCols + p.ohw - 1) / p.ohw));
  p.nb = std::max<int64_t>(1, std::min<int64_t>(p.nb, kMaxColFloats / std::max<int64_t>(1, p.ckk * p.ohw)));
  p.direct = s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_t == 0 && s.pad_l == 0 &&
             s.pad_b == 0 && s.pad_r == 0;
  p.same = s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 && p.oh == s.h && p.ow == s.w;
  return p;
}

// Valid output-column range [lo, hi) of one kernel column: 0 <= ow*stride + off < W.
inline void valid_range(int64_t off, int64_t stride, int64_t W, int64_t OW, int64_t* lo, int64_t* hi) {
  int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t h = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / stride + 1;
  l = std::min(l, OW);
  h = std::min(h, OW);
  *lo = l;
  *hi = std::max(l, h);
}

// Zeroes, in rows [oh_lo, oh_hi) of a W-wide map, the columns that a horizontal shift by dw wrapped around a row
// edge: the first -dw (dw < 0) or the last dw (dw > 0). Plain stores: per-row memset calls of 1-2 floats cost more
// than the copy they fix (they showed in perf).
inline void zero_wrapped(float* out, int64_t W, int64_t oh_lo, int64_t oh_hi, int64_t dw) {
  const int64_t n = std::min<int64_t>(dw < 0 ? -dw : dw, W);
  if (n == 0) return;
  const int64_t first = dw < 0 ? 0 : W - n;
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
    float* r = out + oh * W + first;
    for (int64_t k = 0; k < n; ++k) r[k] = 0.0f;
  }
}

// col (CKK x cols, ld = cols) of images [n0, n0+nbb), channels of group g.
// im2col row of a "same" convolution (stride 1, dilation 1, output size == input size): the row is the input
// plane shifted by (dh, dw) with zeros outside, so the valid block is ONE contiguous copy; the columns that wrapped
// around a row edge are zeroed afterwards. Replaces oh small copies per row (the copies showed in perf).
inline void im2col_same_row(const float* plane, int64_t H, int64_t W, int64_t dh, int64_t dw, float* out) {
  const int64_t oh_lo = std::max<int64_t>(0, -dh), oh_hi = std::min<int64_t>(H, H - dh);
  if (oh_hi <= oh_lo) {
    std::memset(out, 0, sizeof(float) * H * W);
    return;
  }
  std::memset(out, 0, sizeof(float) * oh_lo * W);
  std::memset(out + oh_hi * W, 0, sizeof(float) * (H - oh_hi) * W);
  const int64_t shift = dh * W + dw;  // out[k] = plane[k + shift]
  const int64_t k0 = std::max(oh_lo * W, -shift), k1 = std::min(oh_hi * W, H * W - shift);
  if (k1 > k0) std::memcpy(out + k0, plane + k0 + shift, sizeof(float) * (k1 - k0));
  for (int64_t k = oh_lo * W; k < k0; ++k) out[k] = 0.0f;  // clipped ends are wrapped columns too
  for (int64_t k = std::max(k1, oh_lo * W); k < oh_hi * W; ++k) out[k] = 0.0f;
  zero_wrapped(out, W, oh_lo, oh_hi, dw);
}

// The three kernel columns of a stride-2, pad-left-1 row read input columns 2ox - 1, 2ox and 2ox + 1: the odd
// columns shifted by one, the even ones, the odd ones. im2col / col2im take a row's three taps together in that
// case (the 3x3 stride-2 layers of ResNets): one even / odd split per input row instead of three gathers, one
// interleaved add per dx row instead of three scatter-adds.
bool three_tap_s2(const Conv2dShape& s) { return s.kw == 3 && s.stride_w == 2 && s.pad_l == 1 && s.dil_w == 1; }

void im2col_three_tap_s2(const Conv2dShape& s, const Plan& p, const float* x, int64_t n0, int64_t nbb, int64_t g,
                         float* col, int threads) {
  const int64_t cols = nbb * p.ohw;
  const int64_t ne = std::min(p.ow, (s.w + 1) / 2), no = std::min(p.ow, s.w / 2);  // even / odd columns in the map
  parallel_for(p.cg * s.kh * nbb, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ci = t / (s.kh * nbb), i = (t / nbb) % s.kh, b = t % nbb;
      const float* plane = x + ((n0 + b) * s.c + g * p.cg + ci) * s.h * s.w;
      float* o0 = col + (ci * s.kh + i) * 3 * cols + b * p.ohw;  // kernel columns 0, 1, 2: rows cols apart
      for (int64_t oh = 0; oh < p.oh; ++oh) {
        float* r0 = o0 + oh * p.ow;
        float* r1 = r0 + cols;
        float* r2 = r1 + cols;
        const int64_t ih = oh * s.stride_h - s.pad_t + i * s.dil_h;
        if (ih < 0 || ih >= s.h) {
          for (int64_t k = 0; k < p.ow; ++k) r0[k] = r1[k] = r2[k] = 0.0f;
          continue;
        }
        const float* src = plane + ih * s.w;
        gather_even(src, r1, ne);      // src[2ox]
        gather_even(src + 1, r2, no);  // src[2ox + 1]
        for (int64_t k = ne; k < p.ow; ++k) r1[k] = 0.0f;
        for (int64_t k = no; k < p.ow; ++k) r2[k] = 0.0f;
        r0[0] = 0.0f;  // src[2ox - 1] = r2[ox - 1]
        std::memcpy(r0 + 1, r2, sizeof(float) * (p.ow - 1));
      }
    }
  });
}

void im2col(const Conv2dShape& s, const Plan& p, const float* x, int64_t n0, int64_t nbb, int64_t g, float* col,
            int threads) {
  if (three_tap_s2(s)) return im2col_three_tap_s2(s, p, x, n0, nbb, g, col, threads);
  const int64_t cols = nbb * p.ohw;
  parallel_for(p.ckk * nbb, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t row = t / nbb, b = t % nbb;
      const int64_t ci = row / (s.kh * s.kw), i = (row / s.kw) % s.kh, j = row % s.kw;
      const float* plane = x + ((n0 + b) * s.c + g * p.cg + ci) * s.h * s.w;
      float* out = col + row * cols + b * p.ohw;
      if (p.same) {
        im2col_same_row(plane, s.h, s.w, i - s.pad_t, j - s.pad_l, out);
        continue;
      }
      const int64_t off_w = j * s.dil_w - s.pad_l;
      int64_t lo, hi;
      valid_range(off_w, s.stride_w, s.w, p.ow, &lo, &hi);
      for (int64_t oh = 0; oh < p.oh; ++oh) {
        float* o = out + oh * p.ow;
        const int64_t ih = oh * s.stride_h - s.pad_t + i * s.dil_h;
        if (ih < 0 || ih >= s.h) {
          std::memset(o, 0, sizeof(float) * p.ow);
          continue;
        }
        const float* src = plane + ih * s.w;
        for (int64_t ow = 0; ow < lo; ++ow) o[ow] = 0.0f;
        if (s.stride_w == 1) {
          if (hi > lo) std::memcpy(o + lo, src + lo + off_w, sizeof(float) * (hi - lo));
        } else if (s.stride_w == 2) {
          if (hi > lo) gather_even(src + 2 * lo + off_w, o + lo, hi - lo);
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) o[ow] = src[ow * s.stride_w + off_w];
        }
        for (int64_t ow = hi; ow < p.ow; ++ow) o[ow] = 0.0f;
      }
    }
  });
}

// col2im row of a "same" convolution, the mirror of im2col_same_row: the wrapped columns of the dcol row (scratch)
// are zeroed, then the row is added to the plane shifted by (dh, dw) as ONE contiguous run.
inline void col2im_same_row(float* in, int64_t H, int64_t W, int64_t dh, int64_t dw, float* plane) {
  const int64_t oh_lo = std::max<int64_t>(0, -dh), oh_hi = std::min<int64_t>(H, H - dh);
  if (oh_hi <= oh_lo) return;
  zero_wrapped(in, W, oh_lo, oh_hi, dw);
  const int64_t shift = dh * W + dw;  // plane[k + shift] += in[k]
  const int64_t k0 = std::max(oh_lo * W, -shift), k1 = std::min(oh_hi * W, H * W - shift);
  float* dst = plane + shift;
  for (int64_t k = k0; k < k1; ++k) dst[k] += in[k];
}

void col2im_three_tap_s2(const Conv2dShape& s, const Plan& p, const float* dcol, int64_t n0, int64_t nbb, int64_t g,
                         float* dx, int threads, bool accumulate) {
  const int64_t cols = nbb * p.ohw, half = (s.w + 1) / 2;
  parallel_for(p.cg * nbb, threads, [&](int64_t t0, int64_t t1) {
    // even[k] / odd[k]: what dx columns 2k / 2k + 1 of a row receive; zero past the output columns
    std::vector<float> even(static_cast<size_t>(half), 0.0f), odd(static_cast<size_t>(half), 0.0f);
    const int64_t ne = std::min(p.ow, half), no = std::min(p.ow, s.w / 2);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ci = t / nbb, b = t % nbb;
      float* plane = dx + ((n0 + b) * s.c + g * p.cg + ci) * s.h * s.w;
      if (!accumulate) std::memset(plane, 0, sizeof(float) * s.h * s.w);
      for (int64_t i = 0; i < s.kh; ++i) {
        const float* in0 = dcol + (ci * s.kh + i) * 3 * cols + b * p.ohw;
        for (int64_t oh = 0; oh < p.oh; ++oh) {
          const int64_t ih = oh * s.stride_h - s.pad_t + i * s.dil_h;
          if (ih < 0 || ih >= s.h) continue;
          const float* r0 = in0 + oh * p.ow;
          const float* r1 = r0 + cols;
          const float* r2 = r1 + cols;
          std::memcpy(even.data(), r1, sizeof(float) * ne);
          // column 2k + 1: tap 2 of output column k and tap 0 of output column k + 1
          for (int64_t k = 0; k < no; ++k) odd[static_cast<size_t>(k)] = r2[k] + (k + 1 < p.ow ? r0[k + 1] : 0.0f);
          add_interleave2(even.data(), odd.data(), plane + ih * s.w, s.w);
        }
      }
    }
  });
}

// dx (images [n0, n0+nbb), channels of group g) = col2im(dcol), or += with `accumulate`; each task owns one
// (image, channel) plane. dcol is scratch: the "same" path zeroes its wrapped entries.
void col2im(const Conv2dShape& s, const Plan& p, float* dcol, int64_t n0, int64_t nbb, int64_t g, float* dx,
            int threads, bool accumulate) {
  if (three_tap_s2(s)) return col2im_three_tap_s2(s, p, dcol, n0, nbb, g, dx, threads, accumulate);
  const int64_t cols = nbb * p.ohw;
  parallel_for(p.cg * nbb, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ci = t / nbb, b = t % nbb;
      float* plane = dx + ((n0 + b) * s.c + g * p.cg + ci) * s.h * s.w;
      if (!accumulate) std::memset(plane, 0, sizeof(float) * s.h * s.w);
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < s.kw; ++j) {
          const int64_t row = (ci * s.kh + i) * s.kw + j;
          if (p.same) {
            col2im_same_row(dcol + row * cols + b * p.ohw, s.h, s.w, i - s.pad_t, j - s.pad_l, plane);
            continue;
          }
          const float* in = dcol + row * cols + b * p.ohw;
          const int64_t off_w = j * s.dil_w - s.pad_l;
          int64_t lo, hi;
          valid_range(off_w, s.stride_w, s.w, p.ow, &lo, &hi);
          for (int64_t oh = 0; oh < p.oh; ++oh) {
            const int64_t ih = oh * s.stride_h - s.pad_t + i * s.dil_h;
            if (ih < 0 || ih >= s.h) continue;
            float* dst = plane + ih * s.w + off_w;
            const float* r = in + oh * p.ow;
            if (s.stride_w == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += r[ow];
            } else if (s.stride_w == 2) {
              if (hi > lo) add_even(dst + 2 * lo, r + lo, hi - lo);
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * s.stride_w] += r[ow];
            }
          }
        }
    }
  });
}

struct Workspace {
  std::unique_ptr<float[]> own;
  float* col = nullptr;
  float* blk = nullptr;  // (OC x nb*OHW) when nb > 1
  Workspace(const Conv2dShape& s, const Plan& p, float* given) {
    const size_t need = conv2d_workspace_floats(s);
    float* base = given;
    if (!base) {
      own.reset(new float[std::max<size_t>(need, 1)]);
      base = own.get();
    }
    col = base;
    blk = p.nb > 1 ? base + p.ckk * p.nb * p.ohw : nullptr;
  }
};
}  // namespace

void conv2d_check(const Conv2dShape& s) {
  auto pos = [](int64_t v, const char* name) {
    MIMIC_REQUIRE(v >= 1, Code::InvalidArgument, std::string("conv2d: ") + name + " (" + num(v) + ") must be >= 1");
  };
  auto nonneg = [](int64_t v, const char* name) {
    MIMIC_REQUIRE(v >= 0, Code::InvalidArgument, std::string("conv2d: ") + name + " (" + num(v) + ") must be >= 0");
  };
  pos(s.n, "N");
  pos(s.c, "C");
  pos(s.h, "H");
  pos(s.w, "W");
  pos(s.oc, "OC");
  pos(s.kh, "KH");
  pos(s.kw, "KW");
  pos(s.stride_h, "stride_h");
  pos(s.stride_w, "stride_w");
  pos(s.dil_h, "dilation_h");
  pos(s.dil_w, "dilation_w");
  pos(s.groups, "groups");
  nonneg(s.pad_t, "pad_top");
  nonneg(s.pad_l, "pad_left");
  nonneg(s.pad_b, "pad_bottom");
  nonneg(s.pad_r, "pad_right");
  MIMIC_REQUIRE(s.c % s.groups == 0 && s.oc % s.groups == 0, Code::InvalidArgument,
                "conv2d: groups (" + num(s.groups) + ") must divide C (" + num(s.c) + ") and OC (" + num(s.oc) + ")");
  MIMIC_REQUIRE(s.h + s.pad_t + s.pad_b >= s.dil_h * (s.kh - 1) + 1 &&
                    s.w + s.pad_l + s.pad_r >= s.dil_w * (s.kw - 1) + 1,
                Code::InvalidArgument,
                "conv2d: the kernel (" + num(s.kh) + "x" + num(s.kw) + ") is larger than the padded input (" +
                    num(s.h + s.pad_t + s.pad_b) + "x" + num(s.w + s.pad_l + s.pad_r) + ")");
}

namespace {
// Winograd where it applies and the layer has the channels to fill its GEMMs (K = C). Measured on the CIFAR
// ResNet-18 training step (1 thread): from 32 channels up it wins (width 64: 1.9 s vs 2.65 s per batch of 128);
// at 16 its thin GEMMs and transforms cost more than the 2.25x fewer multiplies save (width 16: 0.29 s with 32 as
// the bound, 0.30 s with 16, 0.32 s with im2col everywhere).
constexpr int64_t kWinogradMinChannels = 32;
// MIMIC_CONV=im2col | winograd | direct overrides Auto process-wide (A/B timing, debugging).
ConvAlgo env_algo() {
  static const ConvAlgo a = [] {
    const char* e = std::getenv("MIMIC_CONV");
    const std::string v = e ? e : "";
    return v == "im2col" ? ConvAlgo::Im2col : v == "winograd" ? ConvAlgo::Winograd : v == "direct" ? ConvAlgo::Direct : ConvAlgo::Auto;
  }();
  return a;
}
bool winograd_auto(const Conv2dShape& s) { return s.c >= kWinogradMinChannels && s.oc >= kWinogradMinChannels; }

// The three passes of a layer choose their algorithms independently.
enum class Pass { Forward, InputGrad, WeightGrad };
// Direct (implicit GEMM) where its SIMD kernels run (AVX-512 or AVX2; the generic one is for tests), per pass, from
// per-layer timings of the CIFAR ResNet-18 training step (1 thread; width 16 at batch 128 and width 8 at 256; each
// pass forced in turn, Network.setProfiling):
//  - every pass of the stride-1 layers Winograd leaves (< 32 channels): the step 0.239 s vs 0.297 s with im2col
//    there (width 16);
//  - the forward of spatial kernels up to 32 input channels, strided or Winograd's: 32 -> 32 on 16x16 maps 3.4 vs
//    4.8 ms (Winograd), 16 -> 32 stride 2 2.9 vs 4.0 ms (im2col); the 224x224 7x7 stride-2 stem 39 vs 56 ms at
//    batch 16 (ops microbenchmark, where im2col also allocates its workspace per call); from 64 channels on it
//    loses to Winograd (64 -> 64 on 8x8: 4.1 vs 3.4 ms);
//  - the input gradient of those 32-channel Winograd layers on maps of >= 16x16 (0.6-0.7 ms less per layer; on
//    8x8 Winograd's is faster).
// Strided input gradients and weight gradients stay on im2col: direct's lost (its weight gradient by up to 4x on
// the 4x4 and 8x8 maps of the 64- and 128-channel stages, 47 vs 33 ms for the 224x224 stem's), and the weight
// gradients of Winograd's layers stay there; except both gradients of narrow strided layers on maps of >= 32x32
// (since the weight gradient's chunks were sized for L2: the 16 -> 32 stride-2 layer's backward 7.3 -> 6.6-7.0 ms at
// width 16, 8 -> 16 at width 8 / batch 256 6.4-7.2 -> 5.3-5.7 ms; and since the input gradient's stride phases are
// interleaved row by row: 6.8 -> 6.4-6.6 ms; the 16x16 and 8x8 inputs' stayed slower either way). Per-layer
// choices: 3-4% off the width-16 and width-8 steps. The rules beyond the narrow stride-1 layers hold on the AVX-512
// kernels only: on AVX2 (the 8 x 32 tile as four 4 x 16 passes) they made the convolutions' forward 3-7% slower
// (MIMIC_MAX_PATH=avx2), so there only the narrow stride-1 layers go direct.
constexpr int64_t kDirectMaxChannels = 32;
constexpr int64_t kDirectMinInputGradMap = 16 * 16;
constexpr int64_t kDirectMinStridedMap = 32 * 32;  // of the input
bool direct_auto(const Conv2dShape& s, const Ctx& ctx, Pass pass) {
  const KernelPath path = resolve_path(ctx.path);
  if (path != KernelPath::Avx512 && path != KernelPath::Avx2) return false;
  const bool stride1 = s.stride_h == 1 && s.stride_w == 1, spatial = s.kh > 1 || s.kw > 1;
  const bool wide = path == KernelPath::Avx512;  // the rules beyond the narrow stride-1 layers: AVX-512 only
  const bool narrow_strided =
      wide && !stride1 && spatial && s.c <= kDirectMaxChannels && s.h * s.w >= kDirectMinStridedMap;
  switch (pass) {
    case Pass::Forward: return (stride1 && !winograd_auto(s)) || (wide && spatial && s.c <= kDirectMaxChannels);
    case Pass::InputGrad:
      return (stride1 && (!winograd_auto(s) ||
                          (wide && s.c <= kDirectMaxChannels && s.oh() * s.ow() >= kDirectMinInputGradMap))) ||
             narrow_strided;
    case Pass::WeightGrad: return (stride1 && !winograd_auto(s)) || narrow_strided;
  }
  return false;
}
// The algorithm that runs one pass of a layer: the forced one where it applies (im2col where it does not), else
// direct, Winograd or im2col by the measured rules above.
ConvAlgo algo_for(const Conv2dShape& s, const Ctx& ctx, Pass pass) {
  const ConvAlgo forced = ctx.conv == ConvAlgo::Auto ? env_algo() : ctx.conv;
  const bool wino = winograd::eligible(s), direct = direct::eligible(s);
  if (forced == ConvAlgo::Winograd && wino) return forced;
  if (forced == ConvAlgo::Direct && direct) return forced;
  if (forced != ConvAlgo::Auto) return ConvAlgo::Im2col;
  if (direct && direct_auto(s, ctx, pass)) return ConvAlgo::Direct;
  if (wino && winograd_auto(s)) return ConvAlgo::Winograd;
  return ConvAlgo::Im2col;
}
// The im2col backward: per image block, dW += dY * col^T and dcol = W^T * dY scattered by col2im.
void im2col_backward(const Conv2dShape& s, const Plan& p, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, const Ctx& ctx, const Workspace& ws, bool accumulate_dx) {
  const GemmOptions gopt{ctx.threads, ctx.path};
  for (int64_t n0 = 0; n0 < s.n; n0 += p.nb) {
    const int64_t nbb = std::min(p.nb, s.n - n0), cols = nbb * p.ohw;
    const float* dyb = dy + n0 * s.oc * p.ohw;
    int64_t lddy = p.ohw;
    if (nbb > 1) {  // gather dY of the block: (OC x nbb*OHW)
      parallel_for(nbb * s.oc, ctx.threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t bi = t / s.oc, o = t % s.oc;
          std::memcpy(ws.blk + o * cols + bi * p.ohw, dy + ((n0 + bi) * s.oc + o) * p.ohw, sizeof(float) * p.ohw);
        }
      });
      dyb = ws.blk;
      lddy = cols;
    }
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* dyg = dyb + g * p.ocg * lddy;
      const float* wg = w + g * p.ocg * p.ckk;
      const bool direct = p.direct && nbb == 1;
      if (dw) {
        const float* B = ws.col;
        int64_t ldb = cols;
        if (direct) {
          B = x + (n0 * s.c + g * p.cg) * s.h * s.w;
        } else {
          im2col(s, p, x, n0, nbb, g, ws.col, ctx.threads);
        }
        sgemm(Trans::N, Trans::T, p.ocg, p.ckk, cols, 1.0f, dyg, lddy, B, ldb, n0 == 0 ? 0.0f : 1.0f,
              dw + g * p.ocg * p.ckk, p.ckk, gopt);
      }
      if (dx) {
        if (direct) {
          sgemm(Trans::T, Trans::N, p.ckk, cols, p.ocg, 1.0f, wg, p.ckk, dyg, lddy, accumulate_dx ? 1.0f : 0.0f,
                dx + (n0 * s.c + g * p.cg) * s.h * s.w, s.h * s.w, gopt);
        } else {
          sgemm(Trans::T, Trans::N, p.ckk, cols, p.ocg, 1.0f, wg, p.ckk, dyg, lddy, 0.0f, ws.col, cols, gopt);
          col2im(s, p, ws.col, n0, nbb, g, dx, ctx.threads, accumulate_dx);
        }
      }
    }
  }
}
}  // namespace

size_t conv2d_workspace_floats(const Conv2dShape& s) {
  conv2d_check(s);
  const Plan p = plan_of(s);
  const int64_t cols = p.nb * p.ohw;
  const size_t im2col = static_cast<size_t>(p.ckk * cols + (p.nb > 1 ? s.oc * cols : 0));
  return winograd::eligible(s) ? std::max(im2col, winograd::workspace_floats(s)) : im2col;  // either may run
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx,
                    float* workspace) {
  conv2d_check(s);
  const Plan p = plan_of(s);
  const ConvAlgo algo = algo_for(s, ctx, Pass::Forward);
  if (algo == ConvAlgo::Direct) return direct::forward(s, x, w, b, y, ctx);  // needs no workspace
  Workspace ws(s, p, workspace);
  if (algo == ConvAlgo::Winograd) return winograd::forward(s, x, w, b, y, ctx, ws.col);
  const GemmOptions gopt{ctx.threads, ctx.path};
  for (int64_t n0 = 0; n0 < s.n; n0 += p.nb) {
    const int64_t nbb = std::min(p.nb, s.n - n0), cols = nbb * p.ohw;
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* B = ws.col;
      int64_t ldb = cols;
      if (p.direct && nbb == 1) {
        B = x + (n0 * s.c + g * p.cg) * s.h * s.w;
      } else {
        im2col(s, p, x, n0, nbb, g, ws.col, ctx.threads);
      }
      float* C = nbb == 1 ? y + (n0 * s.oc + g * p.ocg) * p.ohw : ws.blk + g * p.ocg * cols;
      const int64_t ldc = nbb == 1 ? p.ohw : cols;
      sgemm(Trans::N, Trans::N, p.ocg, cols, p.ckk, 1.0f, w + g * p.ocg * p.ckk, p.ckk, B, ldb, 0.0f, C, ldc, gopt);
    }
    // Bias, and the scatter of a multi-image block to NCHW.
    parallel_for(nbb * s.oc, ctx.threads, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t bi = t / s.oc, o = t % s.oc;
        float* dst = y + ((n0 + bi) * s.oc + o) * p.ohw;
        const float bias = b ? b[o] : 0.0f;
        if (nbb > 1) {
          const float* src = ws.blk + o * cols + bi * p.ohw;
          for (int64_t k = 0; k < p.ohw; ++k) dst[k] = src[k] + bias;
        } else if (b) {
          for (int64_t k = 0; k < p.ohw; ++k) dst[k] += bias;
        }
      }
    });
  }
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, const Ctx& ctx, float* workspace, bool accumulate_dx) {
  conv2d_check(s);
  const Plan p = plan_of(s);
  if (db) {
    parallel_for(s.oc, ctx.threads, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double acc = 0;
        for (int64_t n = 0; n < s.n; ++n) {
          const float* r = dy + (n * s.oc + o) * p.ohw;
          float part = 0;
          for (int64_t k = 0; k < p.ohw; ++k) part += r[k];
          acc += part;
        }
        db[o] = static_cast<float>(acc);
      }
    });
  }
  if (!dx && !dw) return;
  // The input and weight gradients may take different algorithms (each measured per pass); one call when alike.
  const ConvAlgo ax = dx ? algo_for(s, ctx, Pass::InputGrad) : ConvAlgo::Auto;
  const ConvAlgo aw = dw ? algo_for(s, ctx, Pass::WeightGrad) : ConvAlgo::Auto;
  auto run = [&](ConvAlgo algo, float* gx, float* gw) {
    if (algo == ConvAlgo::Direct) return direct::backward(s, x, w, dy, gx, gw, ctx, accumulate_dx);  // no workspace
    Workspace ws(s, p, workspace);
    if (algo == ConvAlgo::Winograd) return winograd::backward(s, x, w, dy, gx, gw, ctx, ws.col, accumulate_dx);
    im2col_backward(s, p, x, w, dy, gx, gw, ctx, ws, accumulate_dx);
  };
  if (!dx || !dw || ax == aw) return run(dx ? ax : aw, dx, dw);
  run(aw, nullptr, dw);
  run(ax, dx, nullptr);
}

}  // namespace mimic::ops
