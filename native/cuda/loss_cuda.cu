// CUDA versions of the fused MIMIC losses (mimic/loss_cuda.h). fp32 data, reductions accumulated in double (as the
// CPU kernels), simple SIMT kernels (no cuBLAS):
// - clone: one block per row; reduces |s|^2, |t|^2, <s,t> in shared memory, then writes ds = a t + c s.
// - attention: one block per (sample b, layer l); each thread owns spatial positions, streams every channel of A_S
//   and A_T once for its maps (kept in a small global scratch only that thread touches), block reductions in shared
//   memory for the norms, the error and <a, dy>; then the same thread writes dA_S for its positions (A_S read again).
// - NT-Xent: z = normalise(u) (row kernel); a tiled 16 x 16 similarity S = z z^T / tau per 16-row block that walks
//   all column tiles with an online (running max, scaled sum) log-sum-exp per row, fused (S kept for the gradient);
//   then dz = (G + G^T) z / tau as ONE tiled product whose left operand W = G + G^T is formed tile by tile from S and
//   the row LSEs (S is symmetric: G_ki = exp(S_ik - lse_k)/N - [i == pos(k)]/N), and the l2norm backward per row.
// Inputs are host arrays copied in and out per call (the training loop will keep device tensors later).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "mimic/device.h"
#include "mimic/loss_cuda.h"
#include "mimic/status.h"

namespace mimic::loss {

namespace {

using cuda::DeviceBuffer;

constexpr int kThreads = 256;
constexpr int kTile = 16;

void require_gpu(const char* what) {
  cuda::DeviceQuery dq = cuda::query_devices();
  if (dq.count <= 0) throw Error(Code::Unsupported, std::string(what) + ": backend 'cuda': " + dq.message);
  MIMIC_CUDA(cudaSetDevice(0));
}

void check_launch() {
  MIMIC_CUDA(cudaGetLastError());
  MIMIC_CUDA(cudaDeviceSynchronize());
}

// Sum of v over the block (blockDim.x == kThreads); every thread gets the result. sh: kThreads / 32 doubles.
__device__ double block_sum(double v, double* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // sh may still be read from a previous call
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  double r = 0;
  for (int w = 0; w < kThreads / 32; ++w) r += sh[w];
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Clone loss
__global__ void clone_kernel(long long D, const float* __restrict__ s, const float* __restrict__ t, bool tn,
                             float* __restrict__ ds, double* __restrict__ row_loss, double invB) {
  __shared__ double sh[kThreads / 32];
  const long long r = blockIdx.x;
  const float* sr = s + r * D;
  const float* tr = t + r * D;
  double ss = 0, tt = 0, st = 0;
  for (long long j = threadIdx.x; j < D; j += kThreads) {
    const double a = sr[j], b = tr[j];
    ss += a * a;
    tt += b * b;
    st += a * b;
  }
  ss = block_sum(ss, sh);
  tt = block_sum(tt, sh);
  st = block_sum(st, sh);
  const double norm_s = sqrt(ss);
  const double ns = fmax(norm_s, kNormEps);
  const double nt = tn ? 1.0 : fmax(sqrt(tt), kNormEps);
  const double cosv = st / (ns * nt);
  if (threadIdx.x == 0) row_loss[r] = -cosv;
  if (!ds) return;
  const float a = static_cast<float>(-invB / (ns * nt));
  const float c = norm_s > kNormEps ? static_cast<float>(invB * cosv / (ns * ns)) : 0.0f;
  float* dr = ds + r * D;
  for (long long j = threadIdx.x; j < D; j += kThreads) dr[j] = a * tr[j] + c * sr[j];
}

// ---------------------------------------------------------------------------------------------------------------
// Attention transfer
struct DevLayer {
  long long cs, ct, S;
  const float* s;
  const float* t;
  float* ds;        // null: no gradient
  double* map_s;    // (B, S) scratch
  double* map_t;
  double beta;
};

__device__ __forceinline__ double powp(float v, int p) {
  const double a = fabs(static_cast<double>(v));
  double r = a;
  for (int i = 1; i < p; ++i) r *= a;
  return r;
}

__global__ void attention_kernel(const DevLayer* __restrict__ layers, int p, double* __restrict__ err_out,
                                 long long B) {
  __shared__ double sh[kThreads / 32];
  const long long b = blockIdx.x;
  const int l = blockIdx.y;
  const DevLayer L = layers[l];
  const long long S = L.S;
  double* as = L.map_s + b * S;
  double* at = L.map_t + b * S;
  const float* xs = L.s + b * L.cs * S;
  const float* xt = L.t + b * L.ct * S;
  double sa = 0, sc = 0;
  for (long long i = threadIdx.x; i < S; i += kThreads) {
    double a = 0, c = 0;
    if (p == 2) {
      for (long long k = 0; k < L.cs; ++k) {
        const float v = xs[k * S + i];
        a += static_cast<double>(v * v);
      }
      for (long long k = 0; k < L.ct; ++k) {
        const float v = xt[k * S + i];
        c += static_cast<double>(v * v);
      }
    } else {
      for (long long k = 0; k < L.cs; ++k) a += powp(xs[k * S + i], p);
      for (long long k = 0; k < L.ct; ++k) c += powp(xt[k * S + i], p);
    }
    as[i] = a;
    at[i] = c;
    sa += a * a;
    sc += c * c;
  }
  sa = block_sum(sa, sh);
  sc = block_sum(sc, sh);
  const double na = sqrt(sa), da = na + kAttEps, dc = sqrt(sc) + kAttEps;
  const double ia = 1.0 / da, ic = 1.0 / dc;
  double err = 0, ady = 0;
  for (long long i = threadIdx.x; i < S; i += kThreads) {  // the same positions: this thread's own scratch
    const double d = as[i] * ia - at[i] * ic;
    err += d * d;
    ady += as[i] * d;
  }
  err = block_sum(err, sh);
  ady = block_sum(ady, sh);
  if (threadIdx.x == 0) err_out[l * B + b] = err;
  if (!L.ds) return;
  const double inv_n = 1.0 / static_cast<double>(B * S);
  const double k = na > 0 ? 2.0 * inv_n * ady / (na * da * da) : 0.0;
  const double scale = L.beta * p;
  float* dr = L.ds + b * L.cs * S;
  for (long long i = threadIdx.x; i < S; i += kThreads) {
    const double d = as[i] * ia - at[i] * ic;
    const float g = static_cast<float>(scale * (2.0 * inv_n * d * ia - as[i] * k));
    for (long long c = 0; c < L.cs; ++c) {
      const float v = xs[c * S + i];
      float out;
      if (p == 2) {
        out = g * v;
      } else if (p == 1) {
        out = v > 0 ? g : (v < 0 ? -g : 0.0f);
      } else {
        const float m = static_cast<float>(powp(v, p - 1));
        out = v > 0 ? g * m : (v < 0 ? -g * m : 0.0f);
      }
      dr[c * S + i] = out;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// NT-Xent
__global__ void normalize_rows(long long D, const float* __restrict__ u, float* __restrict__ z,
                               double* __restrict__ norm) {
  __shared__ double sh[kThreads / 32];
  const long long r = blockIdx.x;
  double sq = 0;
  for (long long j = threadIdx.x; j < D; j += kThreads) {
    const double v = u[r * D + j];
    sq += v * v;
  }
  sq = block_sum(sq, sh);
  const double n = sqrt(sq);
  if (threadIdx.x == 0) norm[r] = n;
  const float inv = static_cast<float>(1.0 / fmax(n, kNormEps));
  for (long long j = threadIdx.x; j < D; j += kThreads) z[r * D + j] = u[r * D + j] * inv;
}

// One block (16 x 16 threads) per 16-row tile: S[i, k] = <z_i, z_k> / tau for every column tile, written to Sm,
// with an online max-shifted log-sum-exp over k != i per row; lse[i] and row_loss[i] = lse - S[i, pos(i)].
__global__ void sim_lse_kernel(long long N, long long D, long long Bh, const float* __restrict__ z, float inv_tau,
                               float* __restrict__ Sm, double* __restrict__ lse, double* __restrict__ row_loss) {
  __shared__ float Az[kTile][kTile + 1];
  __shared__ float Bz[kTile][kTile + 1];
  __shared__ double mm[kTile][kTile];
  __shared__ double ss[kTile][kTile];
  __shared__ float spos[kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const long long i = static_cast<long long>(blockIdx.x) * kTile + ty;
  const long long pos = i < N ? (i + Bh) % N : -1;
  double m = -INFINITY, sum = 0;
  for (long long c0 = 0; c0 < N; c0 += kTile) {
    const long long k = c0 + tx;
    float acc = 0;
    for (long long d0 = 0; d0 < D; d0 += kTile) {
      // Az[row][feature] of the row tile; Bz[col][feature] of the column tile
      const long long ra = static_cast<long long>(blockIdx.x) * kTile + ty, fa = d0 + tx;
      Az[ty][tx] = ra < N && fa < D ? z[ra * D + fa] : 0.0f;
      const long long rb = c0 + ty;
      Bz[ty][tx] = rb < N && fa < D ? z[rb * D + fa] : 0.0f;
      __syncthreads();
#pragma unroll
      for (int q = 0; q < kTile; ++q) acc = fmaf(Az[ty][q], Bz[tx][q], acc);
      __syncthreads();
    }
    if (i < N && k < N) {
      const float v = acc * inv_tau;
      Sm[i * N + k] = v;
      if (k == pos) spos[ty] = v;
      if (k != i) {
        const double dv = v;
        if (dv > m) {
          sum = sum * exp(m - dv) + 1.0;
          m = dv;
        } else {
          sum += exp(dv - m);
        }
      }
    }
  }
  mm[ty][tx] = m;
  ss[ty][tx] = sum;
  __syncthreads();
  if (tx == 0 && i < N) {
    double M = -INFINITY;
    for (int q = 0; q < kTile; ++q) M = fmax(M, mm[ty][q]);
    double tot = 0;
    for (int q = 0; q < kTile; ++q)
      if (ss[ty][q] > 0) tot += ss[ty][q] * exp(mm[ty][q] - M);
    const double l = M + log(tot);
    lse[i] = l;
    row_loss[i] = l - static_cast<double>(spos[ty]);
  }
}

// dz = W z with W_ik = (exp(S_ik - lse_i) + exp(S_ik - lse_k) - 2 [k == pos(i)]) / (N tau), W_ii = 0.
__global__ void grad_product_kernel(long long N, long long D, long long Bh, const float* __restrict__ Sm,
                                    const double* __restrict__ lse, const float* __restrict__ z, double scale,
                                    float* __restrict__ dz) {
  __shared__ float Wt[kTile][kTile + 1];  // [row i][k]
  __shared__ float Zt[kTile][kTile + 1];  // [k][feature]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const long long i = static_cast<long long>(blockIdx.y) * kTile + ty;
  const long long j = static_cast<long long>(blockIdx.x) * kTile + tx;
  float acc = 0;
  for (long long k0 = 0; k0 < N; k0 += kTile) {
    const long long k = k0 + tx;
    float w = 0;
    if (i < N && k < N && k != i) {
      const double sv = Sm[i * N + k];
      double g = exp(sv - lse[i]) + exp(sv - lse[k]);
      if (k == (i + Bh) % N) g -= 2.0;
      w = static_cast<float>(g * scale);
    }
    Wt[ty][tx] = w;
    const long long kz = k0 + ty;
    Zt[ty][tx] = kz < N && j < D ? z[kz * D + j] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kTile; ++q) acc = fmaf(Wt[ty][q], Zt[q][tx], acc);
    __syncthreads();
  }
  if (i < N && j < D) dz[i * D + j] = acc;
}

// du = (dz - z <z, dz>) / ||u|| (||u|| > eps), dz / eps otherwise; in place over dz.
__global__ void l2norm_backward(long long D, const float* __restrict__ z, const double* __restrict__ norm,
                                float* __restrict__ du) {
  __shared__ double sh[kThreads / 32];
  const long long r = blockIdx.x;
  float* dr = du + r * D;
  const float* zr = z + r * D;
  const double n = norm[r];
  if (n > kNormEps) {
    double zd = 0;
    for (long long j = threadIdx.x; j < D; j += kThreads) zd += static_cast<double>(zr[j]) * dr[j];
    zd = block_sum(zd, sh);
    const float inv = static_cast<float>(1.0 / n), pz = static_cast<float>(zd);
    for (long long j = threadIdx.x; j < D; j += kThreads) dr[j] = (dr[j] - zr[j] * pz) * inv;
  } else {
    const float inv = static_cast<float>(1.0 / kNormEps);
    for (long long j = threadIdx.x; j < D; j += kThreads) dr[j] *= inv;
  }
}

double host_sum(const DeviceBuffer<double>& d, size_t n) {
  std::vector<double> h(n);
  d.download(h.data(), n);
  double r = 0;
  for (double v : h) r += v;
  return r;
}

}  // namespace

double clone_loss_cuda(int64_t B, int64_t D, const float* s, const float* t, bool teacher_normalized, float* ds) {
  clone_check(B, D);
  require_gpu("clone loss");
  const size_t n = static_cast<size_t>(B * D);
  DeviceBuffer<float> ds_s(n), ds_t(n), ds_g(ds ? n : 0);
  DeviceBuffer<double> rl(static_cast<size_t>(B));
  ds_s.upload(s, n);
  ds_t.upload(t, n);
  clone_kernel<<<static_cast<unsigned>(B), kThreads>>>(D, ds_s.get(), ds_t.get(), teacher_normalized,
                                                       ds ? ds_g.get() : nullptr, rl.get(), 1.0 / static_cast<double>(B));
  check_launch();
  if (ds) ds_g.download(ds, n);
  return host_sum(rl, static_cast<size_t>(B)) / static_cast<double>(B);
}

double attention_loss_cuda(int64_t B, int p, const AttentionLayer* layers, int64_t n_layers, double* layer_losses) {
  attention_check(B, p, layers, n_layers);
  if (n_layers == 0) return 0.0;
  require_gpu("attention loss");
  MIMIC_REQUIRE(B <= 0x7fffffff && n_layers <= 65535, Code::InvalidArgument, "attention loss (cuda): too many samples or layers");
  std::vector<std::unique_ptr<DeviceBuffer<float>>> bufs;
  std::vector<std::unique_ptr<DeviceBuffer<double>>> maps;
  std::vector<DevLayer> dl(static_cast<size_t>(n_layers));
  for (int64_t l = 0; l < n_layers; ++l) {
    const AttentionLayer& L = layers[l];
    const int64_t S = L.h * L.w;
    const size_t ns = static_cast<size_t>(B * L.cs * S), nt = static_cast<size_t>(B * L.ct * S);
    bufs.push_back(std::make_unique<DeviceBuffer<float>>(ns));
    bufs.back()->upload(L.s, ns);
    const float* s_dev = bufs.back()->get();
    bufs.push_back(std::make_unique<DeviceBuffer<float>>(nt));
    bufs.back()->upload(L.t, nt);
    const float* t_dev = bufs.back()->get();
    float* g_dev = nullptr;
    if (L.ds) {
      bufs.push_back(std::make_unique<DeviceBuffer<float>>(ns));
      g_dev = bufs.back()->get();
    }
    maps.push_back(std::make_unique<DeviceBuffer<double>>(static_cast<size_t>(2 * B * S)));
    double* m = maps.back()->get();
    dl[l] = DevLayer{L.cs, L.ct, S, s_dev, t_dev, g_dev, m, m + B * S, L.beta};
  }
  DeviceBuffer<DevLayer> dev_layers(dl.size());
  dev_layers.upload(dl.data(), dl.size());
  DeviceBuffer<double> err(static_cast<size_t>(n_layers * B));
  attention_kernel<<<dim3(static_cast<unsigned>(B), static_cast<unsigned>(n_layers)), kThreads>>>(dev_layers.get(), p,
                                                                                                   err.get(), B);
  check_launch();
  std::vector<double> e(static_cast<size_t>(n_layers * B));
  err.download(e.data(), e.size());
  double total = 0;
  for (int64_t l = 0; l < n_layers; ++l) {
    const AttentionLayer& L = layers[l];
    double sum = 0;
    for (int64_t b = 0; b < B; ++b) sum += e[static_cast<size_t>(l * B + b)];
    const double ll = sum / static_cast<double>(B * L.h * L.w);
    if (layer_losses) layer_losses[l] = ll;
    total += L.beta * ll;
    if (L.ds) {
      MIMIC_CUDA(cudaMemcpy(L.ds, dl[l].ds, static_cast<size_t>(B * L.cs * L.h * L.w) * sizeof(float),
                            cudaMemcpyDeviceToHost));
    }
  }
  return total;
}

double ntxent_loss_cuda(int64_t B, int64_t D, const float* u, double tau, float* du) {
  ntxent_check(B, D, tau);
  require_gpu("NT-Xent");
  const int64_t N = 2 * B;
  const size_t nd = static_cast<size_t>(N * D);
  MIMIC_REQUIRE((N + kTile - 1) / kTile <= 0x7fffffff && (D + kTile - 1) / kTile <= 0x7fffffff &&
                    (N + kTile - 1) / kTile <= 65535,
                Code::InvalidArgument, "NT-Xent (cuda): too many rows");
  DeviceBuffer<float> du_in(nd), z(nd), Sm(static_cast<size_t>(N * N)), dz(du ? nd : 0);
  DeviceBuffer<double> norm(static_cast<size_t>(N)), lse(static_cast<size_t>(N)), rl(static_cast<size_t>(N));
  du_in.upload(u, nd);
  normalize_rows<<<static_cast<unsigned>(N), kThreads>>>(D, du_in.get(), z.get(), norm.get());
  MIMIC_CUDA(cudaGetLastError());
  const unsigned row_tiles = static_cast<unsigned>((N + kTile - 1) / kTile);
  sim_lse_kernel<<<row_tiles, dim3(kTile, kTile)>>>(N, D, B, z.get(), static_cast<float>(1.0 / tau), Sm.get(),
                                                     lse.get(), rl.get());
  MIMIC_CUDA(cudaGetLastError());
  if (du) {
    const double scale = 1.0 / (static_cast<double>(N) * tau);
    grad_product_kernel<<<dim3(static_cast<unsigned>((D + kTile - 1) / kTile), row_tiles), dim3(kTile, kTile)>>>(
        N, D, B, Sm.get(), lse.get(), z.get(), scale, dz.get());
    MIMIC_CUDA(cudaGetLastError());
    l2norm_backward<<<static_cast<unsigned>(N), kThreads>>>(D, z.get(), norm.get(), dz.get());
  }
  check_launch();
  if (du) dz.download(du, nd);
  return host_sum(rl, static_cast<size_t>(N)) / static_cast<double>(N);
}

}  // namespace mimic::loss
