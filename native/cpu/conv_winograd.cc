// Winograd F(2x2, 3x3) convolution (see conv_winograd.h). Lavin & Gray's matrices:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]   A^T = [1 1 1 0; 0 1 -1 -1]
// A 4x4 input tile d (stride 2, pad 1) gives V = B^T d B, a kernel g gives U = G g G^T, and the 2x2 output tile is
// Y = A^T (sum over channels of U .* V) A: per Winograd point xi (16 of them) the channel sum is one GEMM,
//   M_xi (Cout x T) = U_xi (Cout x Cin) * V_xi (Cin x T),  T = tiles of the image block.
// Weight gradient: with Z = A dy A^T (a 2x2 dy tile to 4x4), dU_xi (OC x C) = Z_xi (OC x T) * V_xi^T, and
// dg = G^T dU G. Images are processed in blocks so the transformed tiles stay near L2/L3 sizes.
#include "conv_winograd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "mimic/gemm.h"
#include "mimic/threadpool.h"
#include "strided_rows.h"

namespace mimic::ops::winograd {

namespace {
constexpr int64_t kPoints = 16;
// Images per block: V (or M, Z) of a block, 16 x channels x tiles, near 512 KiB, so that what a transform writes is
// still in L2 when the 16 GEMMs read it; but at least kMinBlockTiles tiles wide for the GEMMs' sake. Per pass of
// the width-16 ResNet-18 step (1 thread; alternating A/B), against 16 MiB blocks (L3-sized, as before): the 16x16
// and 8x8 stages' passes 11-12 ms less per step; the 4x4 stage (4 tiles an image) ~2 ms slower at 64 tiles a block.
// Swept: 64-256 KiB x 64-512 tiles; 128 KiB floats and 256 tiles the best (by ~1-2% of the step), width 64 the
// same at 128 or 256 tiles.
constexpr int64_t kBlockFloats = 128ll << 10;
constexpr int64_t kMinBlockTiles = 256;

// Distance between the 16 matrices of one buffer. The transforms write (or read) all 16 at once; at a multiple of
// 4 KiB apart they would all map to the same L1 sets (it made the transforms 5x slower), so the matrices are
// 4 KiB-aligned plus 80 floats: 5 cache lines apart modulo 4 KiB, distinct sets for all 16.
inline int64_t point_stride(int64_t rows, int64_t cols) { return (rows * cols + 1023) / 1024 * 1024 + 80; }

struct Geo {
  int64_t th, tw, per;  // tiles per column, per row, per image
  int64_t nb;           // images per block
};

Geo geo_of(const Conv2dShape& s) {
  Geo g;
  g.th = (s.h + 1) / 2;
  g.tw = (s.w + 1) / 2;
  g.per = g.th * g.tw;
  const int64_t widest = std::max(s.c, s.oc);
  const int64_t fit = kBlockFloats / (kPoints * widest * g.per), wide = (kMinBlockTiles + g.per - 1) / g.per;
  g.nb = std::clamp<int64_t>(std::max(fit, wide), 1, s.n);
  return g;
}

// V (16 x cin x T) of images [n0, n0 + nb) of x (N, cin, H, W). Each task copies one plane into a zero-padded
// buffer (pad 1, plus 1 for odd sizes) whose rows are stored split, even columns then odd columns (E | O, tw + 1
// each): a tile's four columns are then E[tx], O[tx], E[tx + 1], O[tx + 1], unit-stride across tiles, and the tile
// loop (16 contiguous output streams) vectorises.
void input_transform(const float* x, int64_t cin, int64_t H, int64_t W, const Geo& g, int64_t n0, int64_t nb,
                     float* V, int threads) {
  const int64_t T = nb * g.per, PH = 2 * g.th + 2, half = g.tw + 1, PW = 2 * half;
  const int64_t stride = point_stride(cin, T);
  parallel_for(cin * nb, threads, [&](int64_t t0, int64_t t1) {
    // Zeroed once: every task writes the same positions (the map's), so the padding stays zero.
    std::vector<float> pad(static_cast<size_t>(PH * PW), 0.0f);
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t c = task / nb, b = task % nb;
      const float* plane = x + ((n0 + b) * cin + c) * H * W;
      for (int64_t r = 0; r < H; ++r) {  // padded column p = col + 1 goes to E[p / 2] (col odd) or O[p / 2] (even)
        float* E = &pad[(r + 1) * PW];
        float* O = E + half;
        const float* src = plane + r * W;
        gather_even(src, O, (W + 1) / 2);      // O[k] = src[2k]
        gather_even(src + 1, E + 1, W / 2);    // E[k + 1] = src[2k + 1]
      }
      float* out = V + c * T + b * g.per;
      for (int64_t ty = 0; ty < g.th; ++ty) {
        const float* __restrict e0 = &pad[2 * ty * PW];
        const float* __restrict e1 = e0 + PW;
        const float* __restrict e2 = e1 + PW;
        const float* __restrict e3 = e2 + PW;
        float* __restrict o = out + ty * g.tw;
#pragma GCC ivdep
        for (int64_t tx = 0; tx < g.tw; ++tx) {
          float t[4][4];  // B^T d; column q of the tile: q even -> E[tx + q / 2], q odd -> O[tx + q / 2]
          for (int q = 0; q < 4; ++q) {
            const int64_t k = tx + q / 2 + (q % 2) * half;
            const float d0 = e0[k], d1 = e1[k], d2 = e2[k], d3 = e3[k];
            t[0][q] = d0 - d2;
            t[1][q] = d1 + d2;
            t[2][q] = d2 - d1;
            t[3][q] = d1 - d3;
          }
          for (int r = 0; r < 4; ++r) {  // (B^T d) B
            o[(4 * r + 0) * stride + tx] = t[r][0] - t[r][2];
            o[(4 * r + 1) * stride + tx] = t[r][1] + t[r][2];
            o[(4 * r + 2) * stride + tx] = t[r][2] - t[r][1];
            o[(4 * r + 3) * stride + tx] = t[r][1] - t[r][3];
          }
        }
      }
    }
  });
}

// y (N, cout, H, W) images [n0, n0 + nb) = A^T M A (+ bias); `accumulate`: y += it.
void output_transform(const float* M, const float* bias, int64_t cout, int64_t H, int64_t W, const Geo& g,
                      int64_t n0, int64_t nb, float* y, int threads, bool accumulate) {
  const int64_t T = nb * g.per, stride = point_stride(cout, T);
  parallel_for(cout * nb, threads, [&](int64_t t0, int64_t t1) {
    std::vector<float> tmp(static_cast<size_t>(4 * g.tw));
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t o = task / nb, b = task % nb;
      const float* in = M + o * T + b * g.per;
      float* plane = y + ((n0 + b) * cout + o) * H * W;
      const float bo = bias ? bias[o] : 0.0f;
      for (int64_t ty = 0; ty < g.th; ++ty) {
        const float* __restrict m = in + ty * g.tw;
        float* __restrict a0 = &tmp[0];  // output rows 2ty and 2ty + 1, even and odd columns
        float* __restrict a1 = a0 + g.tw;
        float* __restrict b0 = a1 + g.tw;
        float* __restrict b1 = b0 + g.tw;
#pragma GCC ivdep
        for (int64_t tx = 0; tx < g.tw; ++tx) {  // vectorised across tiles
          float t[2][4];  // A^T m
          for (int q = 0; q < 4; ++q) {
            const float m0 = m[q * stride + tx], m1 = m[(4 + q) * stride + tx], m2 = m[(8 + q) * stride + tx],
                        m3 = m[(12 + q) * stride + tx];
            t[0][q] = m0 + m1 + m2;
            t[1][q] = m1 - m2 - m3;
          }
          a0[tx] = t[0][0] + t[0][1] + t[0][2] + bo;
          a1[tx] = t[0][1] - t[0][2] - t[0][3] + bo;
          b0[tx] = t[1][0] + t[1][1] + t[1][2] + bo;
          b1[tx] = t[1][1] - t[1][2] - t[1][3] + bo;
        }
        const int64_t oy = 2 * ty;
        const auto row = accumulate ? add_interleave2 : interleave2;
        row(a0, a1, plane + oy * W, W);
        if (oy + 1 < H) row(b0, b1, plane + (oy + 1) * W, W);
      }
    }
  });
}

// U (16 x rows x cols) with U[xi][r][c] = (G g G^T)[xi] of kernel g = w[r][c] (w: OC x C x 3 x 3), or, for the
// input gradient (flip), of g = w[c][r] rotated by 180 degrees (rows = C, cols = OC).
void kernel_transform(const float* w, int64_t oc, int64_t c, bool flip, float* U, int threads) {
  const int64_t rows = flip ? c : oc, cols = flip ? oc : c;
  parallel_for(rows * cols, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t r = task / cols, q = task % cols;
      const float* k = flip ? w + (q * c + r) * 9 : w + (r * c + q) * 9;
      float g[3][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) g[i][j] = flip ? k[(2 - i) * 3 + (2 - j)] : k[i * 3 + j];
      float t[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[0][j];
        t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
        t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
        t[3][j] = g[2][j];
      }
      const int64_t st = point_stride(rows, cols);
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        float* u = U + (i * 4) * st + r * cols + q;
        u[0] = t[i][0];
        u[st] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[2 * st] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[3 * st] = t[i][2];
      }
    }
  });
}

// z[xi * stride] = (A e A^T)[xi] of one 2x2 dy tile e, A = [1 0; 1 1; 1 -1; 0 -1].
inline void grad_tile(float e00, float e01, float e10, float e11, float* __restrict z, int64_t stride) {
  const float t[4][2] = {{e00, e01}, {e00 + e10, e01 + e11}, {e00 - e10, e01 - e11}, {-e10, -e11}};  // A e
  for (int r = 0; r < 4; ++r) {  // (A e) A^T
    z[(4 * r + 0) * stride] = t[r][0];
    z[(4 * r + 1) * stride] = t[r][0] + t[r][1];
    z[(4 * r + 2) * stride] = t[r][0] - t[r][1];
    z[(4 * r + 3) * stride] = -t[r][1];
  }
}

// Z (16 x OC x T) = A dy A^T of the 2x2 tiles of dy (N, OC, H, W), images [n0, n0 + nb); outside the map dy = 0.
void grad_transform(const float* dy, int64_t oc, int64_t H, int64_t W, const Geo& g, int64_t n0, int64_t nb,
                    float* Z, int threads) {
  const int64_t T = nb * g.per, stride = point_stride(oc, T);
  parallel_for(oc * nb, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t o = task / nb, b = task % nb;
      const float* plane = dy + ((n0 + b) * oc + o) * H * W;
      float* out = Z + o * T + b * g.per;
      for (int64_t ty = 0; ty < g.th; ++ty) {
        const int64_t oy = 2 * ty;
        const bool even_w = W % 2 == 0, two_rows = oy + 1 < H;
        const float* __restrict e0 = plane + oy * W;
        const float* __restrict e1 = e0 + W;
        float* __restrict z = out + ty * g.tw;
        if (even_w && two_rows) {  // every 2x2 dy tile inside the map: vectorised across tiles
#pragma GCC ivdep
          for (int64_t tx = 0; tx < g.tw; ++tx)
            grad_tile(e0[2 * tx], e0[2 * tx + 1], e1[2 * tx], e1[2 * tx + 1], z + tx, stride);
          continue;
        }
        for (int64_t tx = 0; tx < g.tw; ++tx) {  // a partial tile row or column: dy = 0 outside the map
          const int64_t ox = 2 * tx;
          const bool right = ox + 1 < W;
          grad_tile(e0[ox], right ? e0[ox + 1] : 0.0f, two_rows ? e1[ox] : 0.0f, two_rows && right ? e1[ox + 1] : 0.0f,
                    z + tx, stride);
        }
      }
    }
  });
}

// dw (OC x C x 3 x 3) = G^T dU G for every (o, c).
void weight_grad(const float* dU, int64_t oc, int64_t c, float* dw, int threads) {
  const int64_t st = point_stride(oc, c);
  parallel_for(oc * c, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      float u[4][4];
      for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = dU[xi * st + task];
      float t[3][4];  // G^T u, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
      for (int q = 0; q < 4; ++q) {
        t[0][q] = u[0][q] + 0.5f * (u[1][q] + u[2][q]);
        t[1][q] = 0.5f * (u[1][q] - u[2][q]);
        t[2][q] = 0.5f * (u[1][q] + u[2][q]) + u[3][q];
      }
      float* out = dw + task * 9;
      for (int i = 0; i < 3; ++i) {  // (G^T u) G
        out[i * 3 + 0] = t[i][0] + 0.5f * (t[i][1] + t[i][2]);
        out[i * 3 + 1] = 0.5f * (t[i][1] - t[i][2]);
        out[i * 3 + 2] = 0.5f * (t[i][1] + t[i][2]) + t[i][3];
      }
    }
  });
}

// With several threads and at least two image blocks per thread, each thread takes whole blocks, single-threaded,
// in buffers of its own: a block is small (kBlockFloats), and its transforms and 16 GEMMs split over the threads
// were mostly synchronisation.
bool blocks_per_thread(int64_t blocks, int threads) { return threads > 1 && blocks >= 2 * threads; }
// Growable per-thread buffers (pool threads live as long as the process: no allocation per call): slot 0 holds a
// worker's block within one region; slot 1 the calling thread's per-thread dU partials, read after that region
// (only the calling thread, busy in this call, uses its own).
float* thread_scratch(int slot, size_t n) {
  thread_local std::vector<float> bufs[2];
  auto& buf = bufs[slot];
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// out (N, cout, H, W) = conv3x3(in (N, cin, H, W)) with the transformed kernel U (16 x cout x cin).
void convolve(const Conv2dShape& s, const float* in, int64_t cin, int64_t cout, const float* U, const float* bias,
              float* out, const Ctx& ctx, float* V, float* M, bool accumulate = false) {
  const Geo g = geo_of(s);
  auto block = [&](int64_t n0, int threads, float* Vb, float* Mb) {
    const GemmOptions gopt{threads, ctx.path};
    const int64_t nb = std::min(g.nb, s.n - n0), T = nb * g.per;
    input_transform(in, cin, s.h, s.w, g, n0, nb, Vb, threads);
    for (int64_t xi = 0; xi < kPoints; ++xi)
      sgemm(Trans::N, Trans::N, cout, T, cin, 1.0f, U + xi * point_stride(cout, cin), cin,
            Vb + xi * point_stride(cin, T), T, 0.0f, Mb + xi * point_stride(cout, T), T, gopt);
    output_transform(Mb, bias, cout, s.h, s.w, g, n0, nb, out, threads, accumulate);
  };
  const int64_t blocks = (s.n + g.nb - 1) / g.nb;
  const int threads = ThreadPool::global().threads_for(ctx.threads);
  if (blocks_per_thread(blocks, threads)) {
    const int64_t per = kPoints * point_stride(std::max(cin, cout), g.nb * g.per);
    parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
      float* buf = thread_scratch(0, static_cast<size_t>(2 * per));
      for (int64_t b = b0; b < b1; ++b) block(b * g.nb, 1, buf, buf + per);
    });
    return;
  }
  for (int64_t n0 = 0; n0 < s.n; n0 += g.nb) block(n0, ctx.threads, V, M);
}
}  // namespace

bool eligible(const Conv2dShape& s) {
  return s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 &&
         s.pad_t == 1 && s.pad_l == 1 && s.pad_b == 1 && s.pad_r == 1 && s.groups == 1;
}

size_t workspace_floats(const Conv2dShape& s) {
  const Geo g = geo_of(s);
  const int64_t T = g.nb * g.per;
  return static_cast<size_t>(kPoints * (point_stride(s.oc, s.c) + 2 * point_stride(std::max(s.c, s.oc), T)));
}

void forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx,
             float* ws) {
  const Geo g = geo_of(s);
  const int64_t T = g.nb * g.per;
  float* U = ws;
  float* V = U + kPoints * point_stride(s.oc, s.c);
  float* M = V + kPoints * point_stride(std::max(s.c, s.oc), T);
  kernel_transform(w, s.oc, s.c, false, U, ctx.threads);
  convolve(s, x, s.c, s.oc, U, b, y, ctx, V, M);
}

void backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
              const Ctx& ctx, float* ws, bool accumulate_dx) {
  const Geo g = geo_of(s);
  const int64_t T = g.nb * g.per;
  float* U = ws;                             // 16 x C x OC (input gradient) or 16 x OC x C (dU)
  float* A = U + kPoints * point_stride(s.oc, s.c);  // 16 x max(C, OC) x T
  float* B = A + kPoints * point_stride(std::max(s.c, s.oc), T);
  if (dx) {  // dx = the forward of dy with the flipped kernel, channels swapped
    kernel_transform(w, s.oc, s.c, true, U, ctx.threads);
    convolve(s, dy, s.oc, s.c, U, nullptr, dx, ctx, A, B, accumulate_dx);
  }
  if (dw) {
    // dU (into Ub) += the block's Z * V^T; `first`: the block that overwrites Ub
    auto block = [&](int64_t n0, int threads, float* V, float* Z, float* Ub, bool first) {
      const GemmOptions gopt{threads, ctx.path};
      const int64_t nb = std::min(g.nb, s.n - n0), Tb = nb * g.per;
      input_transform(x, s.c, s.h, s.w, g, n0, nb, V, threads);     // 16 x C x Tb
      grad_transform(dy, s.oc, s.h, s.w, g, n0, nb, Z, threads);    // 16 x OC x Tb
      for (int64_t xi = 0; xi < kPoints; ++xi)
        sgemm(Trans::N, Trans::T, s.oc, s.c, Tb, 1.0f, Z + xi * point_stride(s.oc, Tb), Tb, V + xi * point_stride(s.c, Tb),
              Tb, first ? 0.0f : 1.0f, Ub + xi * point_stride(s.oc, s.c), s.c, gopt);
    };
    const int64_t blocks = (s.n + g.nb - 1) / g.nb;
    const int threads = ThreadPool::global().threads_for(ctx.threads);
    if (blocks_per_thread(blocks, threads)) {
      // each thread's blocks into its own dU (parallel_for's contiguous split: part b0 / chunk), summed in part
      // order after the region
      const int64_t per = kPoints * point_stride(std::max(s.c, s.oc), T), ulen = kPoints * point_stride(s.oc, s.c);
      const int64_t chunk = (blocks + threads - 1) / threads, nparts = (blocks + chunk - 1) / chunk;
      float* parts = thread_scratch(1, static_cast<size_t>(nparts * ulen));
      std::vector<char> written(static_cast<size_t>(nparts), 0);  // a nested (serial) region writes part 0 only
      parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
        float* buf = thread_scratch(0, static_cast<size_t>(2 * per));
        for (int64_t b = b0; b < b1; ++b) block(b * g.nb, 1, buf, buf + per, parts + (b0 / chunk) * ulen, b == b0);
        written[static_cast<size_t>(b0 / chunk)] = 1;
      });
      parallel_for(ulen, threads, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          float sum = 0.0f;
          for (int64_t k = 0; k < nparts; ++k)
            if (written[static_cast<size_t>(k)]) sum += parts[k * ulen + i];
          U[i] = sum;
        }
      });
    } else {
      for (int64_t n0 = 0; n0 < s.n; n0 += g.nb) block(n0, ctx.threads, A, B, U, n0 == 0);
    }
    weight_grad(U, s.oc, s.c, dw, ctx.threads);
  }
}

}  // namespace mimic::ops::winograd
