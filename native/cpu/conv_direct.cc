// Direct (implicit-GEMM) convolution of narrow stride-1 layers; see conv_direct.h for the formulation.
#include "conv_direct.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "mimic/cpu.h"
#include "mimic/threadpool.h"

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

constexpr int64_t kDwChunk = 4;  // images per partial weight gradient

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The padded geometry of one layer and its tap offsets.
struct Geo {
  int64_t hp, wp, oh, ow, plane, k;
  int64_t max_off;
  std::vector<int32_t> off;
};

Geo geo_of(const Conv2dShape& s) {
  Geo g;
  g.hp = s.h + s.pad_t + s.pad_b;
  g.wp = s.w + s.pad_l + s.pad_r;
  g.oh = g.hp - s.kh + 1;
  g.ow = g.wp - s.kw + 1;
  g.plane = g.hp * g.wp;
  g.k = s.c * s.kh * s.kw;
  g.off.resize(static_cast<size_t>(g.k));
  for (int64_t c = 0, k = 0; c < s.c; ++c)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) g.off[static_cast<size_t>(k++)] = static_cast<int32_t>(c * g.plane + i * g.wp + j);
  g.max_off = g.off.back();
  return g;
}

// A growable per-thread scratch buffer (pool threads live as long as the process: no allocation per call).
float* scratch(int slot, size_t n) {
  thread_local std::vector<float> bufs[2];
  auto& b = bufs[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Zero-padded copy of one image (C planes of H x W) into xp (C planes of Hp x Wp), zeros after it up to `len`.
void fill_padded(const Conv2dShape& s, const Geo& g, const float* x, float* xp, int64_t len) {
  for (int64_t c = 0; c < s.c; ++c) {
    float* p = xp + c * g.plane;
    std::memset(p, 0, sizeof(float) * s.pad_t * g.wp);
    for (int64_t r = 0; r < s.h; ++r) {
      float* row = p + (s.pad_t + r) * g.wp;
      std::memset(row, 0, sizeof(float) * s.pad_l);
      std::memcpy(row + s.pad_l, x + (c * s.h + r) * s.w, sizeof(float) * s.w);
      std::memset(row + s.pad_l + s.w, 0, sizeof(float) * s.pad_r);
    }
    std::memset(p + (s.pad_t + s.h) * g.wp, 0, sizeof(float) * s.pad_b * g.wp);
  }
  if (len > s.c * g.plane) std::memset(xp + s.c * g.plane, 0, sizeof(float) * (len - s.c * g.plane));
}

// The kernels for the resolved path (AVX-512, AVX2 + FMA, or plain C++).
struct Kernels {
  TileFn tile;
  DotFn dot;
};
Kernels kernels_for(const Ctx& ctx) {
#if defined(__x86_64__)
  switch (resolve_path(ctx.path)) {
    case KernelPath::Avx512: return {tile_avx512, dot_avx512};
    case KernelPath::Avx2: return {tile_avx2, dot_avx2};
    default: break;
  }
#else
  (void)ctx;
#endif
  return {tile_generic, dot_generic};
}

}  // namespace

bool eligible(const Conv2dShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 && s.groups == 1 &&
         s.pad_t <= s.kh - 1 && s.pad_b <= s.kh - 1 && s.pad_l <= s.kw - 1 && s.pad_r <= s.kw - 1;
}

void forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx) {
  const Geo g = geo_of(s);
  const int64_t blocks = (s.oc + kMR - 1) / kMR;
  const int64_t qp = round_up(g.oh * g.wp, kNR);  // output positions computed per channel (tiles of kNR)
  const int64_t len = std::max(s.c * g.plane, qp + g.max_off);
  // A: the weights (OC x K) as kMR-row panels, k-major, rows past OC zero.
  std::vector<float> ap(static_cast<size_t>(blocks * g.k * kMR), 0.0f);
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t k = 0; k < g.k; ++k) ap[static_cast<size_t>(((o / kMR) * g.k + k) * kMR + o % kMR)] = w[o * g.k + k];
  const TileFn tile = kernels_for(ctx).tile;
  parallel_for(s.n, ctx.threads, [&](int64_t n0, int64_t n1) {
    float* xp = scratch(0, static_cast<size_t>(len));
    float* out = scratch(1, static_cast<size_t>(blocks * kMR * qp));
    for (int64_t n = n0; n < n1; ++n) {
      fill_padded(s, g, x + n * s.c * s.h * s.w, xp, len);
      for (int64_t q0 = 0; q0 < qp; q0 += kNR)
        for (int64_t ob = 0; ob < blocks; ++ob)
          tile(g.k, ap.data() + ob * g.k * kMR, xp + q0, g.off.data(), out + ob * kMR * qp + q0, qp);
      for (int64_t o = 0; o < s.oc; ++o) {
        const float bias = b ? b[o] : 0.0f;
        float* dst = y + (n * s.oc + o) * g.oh * g.ow;
        for (int64_t r = 0; r < g.oh; ++r) {
          const float* src = out + o * qp + r * g.wp;
          for (int64_t c = 0; c < g.ow; ++c) dst[r * g.ow + c] = src[c] + bias;
        }
      }
    }
  });
}

namespace {

// dx: the forward of dy padded by (K - 1 - pad) with w flipped in space and transposed in channels.
void input_grad(const Conv2dShape& s, const float* w, const float* dy, float* dx, const Ctx& ctx) {
  Conv2dShape t = s;
  t.c = s.oc;
  t.oc = s.c;
  t.h = s.oh();
  t.w = s.ow();
  t.pad_t = s.kh - 1 - s.pad_t;
  t.pad_b = s.kh - 1 - s.pad_b;
  t.pad_l = s.kw - 1 - s.pad_l;
  t.pad_r = s.kw - 1 - s.pad_r;
  const int64_t taps = s.kh * s.kw;
  std::vector<float> wt(static_cast<size_t>(s.c * s.oc * taps));
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t k = 0; k < taps; ++k) wt[static_cast<size_t>((c * s.oc + o) * taps + (taps - 1 - k))] = w[(o * s.c + c) * taps + k];
  forward(t, dy, wt.data(), nullptr, dx, ctx);
}

// dw = sum over images of dyp (OC x Q) * B^T, B[k][q] = xp[q + off[k]]. A chunk of images is laid out channel-major
// ([c][image][Hp][Wp]), so q runs across the chunk's images and one dot product per (tap, output channel) covers
// them all (per-image dots were too short on 4x4 and 8x8 maps); dyp is zero on every position that is not an output
// (dropped columns, the last KH - 1 rows of each image's plane, the tail).
void weight_grad(const Conv2dShape& s, const float* x, const float* dy, float* dw, const Ctx& ctx) {
  const int64_t hp = s.h + s.pad_t + s.pad_b, wp = s.w + s.pad_l + s.pad_r, plane = hp * wp;
  const int64_t oh = hp - s.kh + 1, ow = wp - s.kw + 1, K = s.c * s.kh * s.kw;
  const int64_t cstride = kDwChunk * plane;  // one channel of a full chunk
  const int64_t qd = round_up(cstride, kDotQ);
  std::vector<int32_t> off(static_cast<size_t>(K));
  for (int64_t c = 0, k = 0; c < s.c; ++c)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) off[static_cast<size_t>(k++)] = static_cast<int32_t>(c * cstride + i * wp + j);
  const int64_t chunks = (s.n + kDwChunk - 1) / kDwChunk;
  const int64_t per = s.oc * K;
  std::vector<float> partial(static_cast<size_t>(chunks * per), 0.0f);
  const DotFn dot = kernels_for(ctx).dot;
  parallel_for(chunks, ctx.threads, [&](int64_t c0, int64_t c1) {
    const int64_t xlen = std::max(s.c * cstride, qd + off.back());  // past the last read of the last tap
    float* xp = scratch(0, static_cast<size_t>(xlen));
    float* dyp = scratch(1, static_cast<size_t>(s.oc * qd));
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * kDwChunk, nimg = std::min(kDwChunk, s.n - n0);
      // a short last chunk leaves the planes of its missing images as they are: dyp is zero there
      std::memset(xp, 0, sizeof(float) * static_cast<size_t>(xlen));
      std::memset(dyp, 0, sizeof(float) * static_cast<size_t>(s.oc * qd));
      for (int64_t i = 0; i < nimg; ++i) {
        const float* xi = x + (n0 + i) * s.c * s.h * s.w;
        for (int64_t c = 0; c < s.c; ++c)
          for (int64_t r = 0; r < s.h; ++r)
            std::memcpy(xp + c * cstride + i * plane + (s.pad_t + r) * wp + s.pad_l, xi + (c * s.h + r) * s.w, sizeof(float) * s.w);
        for (int64_t o = 0; o < s.oc; ++o)
          for (int64_t r = 0; r < oh; ++r)
            std::memcpy(dyp + o * qd + i * plane + r * wp, dy + (((n0 + i) * s.oc + o) * oh + r) * ow, sizeof(float) * ow);
      }
      float* part = partial.data() + ch * per;
      for (int64_t k0 = 0; k0 < K; k0 += 4)
        for (int64_t o0 = 0; o0 < s.oc; o0 += 4) {
          const int nk = static_cast<int>(std::min<int64_t>(4, K - k0)), no = static_cast<int>(std::min<int64_t>(4, s.oc - o0));
          float acc[16] = {};
          dot(qd, xp, off.data() + k0, nk, dyp + o0 * qd, qd, no, acc);
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

void backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
              const Ctx& ctx) {
  if (dw) weight_grad(s, x, dy, dw, ctx);
  if (dx) input_grad(s, w, dy, dx, ctx);
}

}  // namespace mimic::ops::direct
