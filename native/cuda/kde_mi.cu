// CUDA build of the KDE engine. Same maths as the CPU engine: Gram tiles of centred data (fp32 FMA, no TF32),
// distances clamped >= 0 and the self pair excluded, exact running-max log-sum-exp per row, the Z tile computed
// once per (I, J) and reused by every layer. Layout: one block per (row tile I, column split); a block walks its
// column tiles and keeps per-row (max, scaled sum) state in global memory (it owns those rows for its split); a
// second kernel merges the splits. The float64 finalisation is the CPU's (kde_finalize.cc).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <cmath>
#include <limits>
#include <vector>

#include "../cpu/kde_internal.h"
#include "../cpu/lse_merge.h"
#include "cuda_check.h"
#include "mimic/device.h"

namespace mimic::kde::detail {

namespace {

struct DevSet {
  const float* x;
  const float* mu;
  const float* nrm;
  long long d;
};

struct Params {
  long long N;
  int L, B, nt, tiles_per_split, splits;
  DevSet z;
  const DevSet* layers;
  const float* ct;  // (L, B): 1 / (2 s2_T)
  const float* cz;  // (B)
  const int* labels;
  bool need_z, joint, bd, kk;
  // per-split row state, index ((split * L * B) + lb) * N + i, zero-initialised
  double *m_t, *s_t, *m_j, *s_j, *sum_bd, *sum_y;
  double *zm, *zs;  // ((split * B) + b) * N + i
  double *kk_sum, *ll_sum;
};

// Tile geometry. NT threads compute a TM x TM Gram tile as a 16 x 16 grid of (TM/16) x (TM/16) register micro-tiles
// (8 x 8 for TM = 128, 4 x 4 for TM = 64), fed from double-buffered, k-major shared panels of TK features; the next
// stage's global loads (float4 when d % 4 == 0) are issued before the current stage's FMAs and centred in registers
// (x - mu) before they are stored. The epilogue then works on the distance tile in shared memory with NT / TM
// threads per row.
constexpr int NT = 256;  // threads per block
constexpr int TK = 16;   // features per Gram stage

template <int TM>
struct Geo {
  static constexpr int H = TM / 64;                 // float4 fragments per micro-tile side
  static constexpr int MT = 4 * H;                  // micro-tile side
  static constexpr int LP = TM * TK / (4 * NT);     // float4 loads per panel per thread (== H)
  static constexpr int SP = TM + 4;                 // panel row stride (floats; 16-byte aligned rows)
  static constexpr int TPR = NT / TM;               // epilogue threads per row
  static constexpr int SD = TM + TPR;               // distance tile row stride: conflict-free epilogue reads
  static constexpr int PANEL = TK * SP;             // floats per panel stage
  static constexpr int TILE_F = TM * SD;            // floats per distance tile
  static constexpr int GRAM_F = 4 * PANEL;          // A and B panels, two stages each
  static constexpr int REG2_F = TILE_F > GRAM_F ? TILE_F : GRAM_F;
  // [Z distance tile][Gram panels, aliased by the layer distance tile][column labels]
  static constexpr size_t SMEM = (static_cast<size_t>(TILE_F) + REG2_F + TM) * sizeof(float);
  static_assert(LP == H && TILE_F % 4 == 0 && REG2_F % 4 == 0 && SP % 4 == 0 && SD % 2 == 0, "tile geometry");
};

template <int TPR>
__device__ __forceinline__ float rmin(float v) {
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <int TPR>
__device__ __forceinline__ float rsum(float v) {
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Four centred features k..k+3 of sample `row` (zeros past the end of the row or for out-of-range samples).
__device__ __forceinline__ float4 load4(const DevSet& s, long long row, long long N, long long k, bool vec) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (row < N && k < s.d) {
    const float* src = s.x + row * s.d;
    if (vec) {
      const float4 x = __ldg(reinterpret_cast<const float4*>(src + k));
      const float4 m = __ldg(reinterpret_cast<const float4*>(s.mu + k));
      v = make_float4(x.x - m.x, x.y - m.y, x.z - m.z, x.w - m.w);
    } else {
      v.x = __ldg(src + k) - __ldg(s.mu + k);
      if (k + 1 < s.d) v.y = __ldg(src + k + 1) - __ldg(s.mu + k + 1);
      if (k + 2 < s.d) v.z = __ldg(src + k + 2) - __ldg(s.mu + k + 2);
      if (k + 3 < s.d) v.w = __ldg(src + k + 3) - __ldg(s.mu + k + 3);
    }
  }
  return v;
}

template <int SP>
__device__ __forceinline__ void store4(float* panel, int r, int kq, float4 v) {
  panel[(kq * 4 + 0) * SP + r] = v.x;
  panel[(kq * 4 + 1) * SP + r] = v.y;
  panel[(kq * 4 + 2) * SP + r] = v.z;
  panel[(kq * 4 + 3) * SP + r] = v.w;
}

// dst[r * SD + c] = max(0, |x_i|^2 + |x_j|^2 - 2 x_i.x_j) on centred rows i = i0 + r, j = j0 + c; +inf for i == j
// or out-of-range samples (weight 0 in every sum). `gram` is the panel scratch; dst may alias it. Entry: every
// thread is done with whatever `gram` held before. Exit: dst is complete and visible to the block.
template <int TM>
__device__ void distance_tile(const DevSet s, long long i0, long long j0, long long N, float* gram, float* dst) {
  using G = Geo<TM>;
  const int t = threadIdx.x, w = t >> 5, lane = t & 31;
  // 8 warps as 4 (rows) x 2 (cols), lanes as 4 x 8: one warp's fragment reads touch 4 A and 8 B float4s.
  const int ty = (w >> 1) * 4 + (lane >> 3), tx = (w & 1) * 8 + (lane & 7);
  const bool vec = (s.d & 3) == 0;
  int lr[G::LP], lk[G::LP];
#pragma unroll
  for (int p = 0; p < G::LP; ++p) {
    const int idx = t + p * NT;
    lr[p] = idx >> 2;
    lk[p] = idx & 3;
  }
  float acc[G::MT][G::MT];
#pragma unroll
  for (int i = 0; i < G::MT; ++i)
#pragma unroll
    for (int j = 0; j < G::MT; ++j) acc[i][j] = 0.f;

  float4 ra[G::LP], rb[G::LP];
#pragma unroll
  for (int p = 0; p < G::LP; ++p) {
    ra[p] = load4(s, i0 + lr[p], N, lk[p] * 4, vec);
    rb[p] = load4(s, j0 + lr[p], N, lk[p] * 4, vec);
  }
#pragma unroll
  for (int p = 0; p < G::LP; ++p) {
    store4<G::SP>(gram, lr[p], lk[p], ra[p]);
    store4<G::SP>(gram + 2 * G::PANEL, lr[p], lk[p], rb[p]);
  }
  __syncthreads();

  int buf = 0;
  for (long long k0 = 0; k0 < s.d; k0 += TK) {
    const bool more = k0 + TK < s.d;
    if (more) {
#pragma unroll
      for (int p = 0; p < G::LP; ++p) {
        ra[p] = load4(s, i0 + lr[p], N, k0 + TK + lk[p] * 4, vec);
        rb[p] = load4(s, j0 + lr[p], N, k0 + TK + lk[p] * 4, vec);
      }
    }
    const float* A = gram + buf * G::PANEL;
    const float* Bp = gram + (2 + buf) * G::PANEL;
#pragma unroll
    for (int kk = 0; kk < TK; ++kk) {
      float a[G::MT], b[G::MT];
#pragma unroll
      for (int h = 0; h < G::H; ++h) {
        const float4 av = *reinterpret_cast<const float4*>(A + kk * G::SP + h * 64 + ty * 4);
        const float4 bv = *reinterpret_cast<const float4*>(Bp + kk * G::SP + h * 64 + tx * 4);
        a[4 * h + 0] = av.x, a[4 * h + 1] = av.y, a[4 * h + 2] = av.z, a[4 * h + 3] = av.w;
        b[4 * h + 0] = bv.x, b[4 * h + 1] = bv.y, b[4 * h + 2] = bv.z, b[4 * h + 3] = bv.w;
      }
#pragma unroll
      for (int i = 0; i < G::MT; ++i)
#pragma unroll
        for (int j = 0; j < G::MT; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
#pragma unroll
      for (int p = 0; p < G::LP; ++p) {
        store4<G::SP>(gram + (buf ^ 1) * G::PANEL, lr[p], lk[p], ra[p]);
        store4<G::SP>(gram + (2 + (buf ^ 1)) * G::PANEL, lr[p], lk[p], rb[p]);
      }
    }
    __syncthreads();  // stage buf^1 is complete, and nobody reads stage buf any more
    buf ^= 1;
  }

  float ni[G::MT], nj[G::MT];
  long long gi[G::MT], gj[G::MT];
#pragma unroll
  for (int i = 0; i < G::MT; ++i) {
    gi[i] = i0 + (i / 4) * 64 + ty * 4 + (i % 4);
    gj[i] = j0 + (i / 4) * 64 + tx * 4 + (i % 4);
    ni[i] = gi[i] < N ? s.nrm[gi[i]] : 0.f;
    nj[i] = gj[i] < N ? s.nrm[gj[i]] : 0.f;
  }
#pragma unroll
  for (int i = 0; i < G::MT; ++i) {
    float* row = dst + ((i / 4) * 64 + ty * 4 + (i % 4)) * G::SD;
#pragma unroll
    for (int j = 0; j < G::MT; j += 2) {  // float2 stores: SD and the column are even
      float2 d = make_float2(INFINITY, INFINITY);
      if (gi[i] < N && gj[j] < N && gi[i] != gj[j]) d.x = fmaxf(0.f, ni[i] + nj[j] - 2.f * acc[i][j]);
      if (gi[i] < N && gj[j + 1] < N && gi[i] != gj[j + 1])
        d.y = fmaxf(0.f, ni[i] + nj[j + 1] - 2.f * acc[i][j + 1]);
      *reinterpret_cast<float2*>(row + (j / 4) * 64 + tx * 4 + (j % 4)) = d;
    }
  }
  __syncthreads();
}

template <int TM>
__global__ void __launch_bounds__(NT, TM == 128 ? 1 : 2) kde_tiles(Params p) {
  using G = Geo<TM>;
  constexpr int TPR = G::TPR, SD = G::SD;
  extern __shared__ __align__(16) float smem[];
  float* sZ = smem;                   // Z distance tile, kept for every layer of this (I, J)
  float* sG = smem + G::TILE_F;       // Gram panels ...
  float* sT = sG;                     // ... aliased by the layer distance tile
  int* sLab = reinterpret_cast<int*>(smem + G::TILE_F + G::REG2_F);
  const long long N = p.N;
  const int t = threadIdx.x, r = t / TPR, q = t % TPR;
  const long long i0 = static_cast<long long>(blockIdx.x) * TM, gi = i0 + r;
  const bool valid = gi < N;
  const int split = blockIdx.y, LB = p.L * p.B;
  const int jbeg = split * p.tiles_per_split, jend = min(p.nt, jbeg + p.tiles_per_split);
  const int my_label = (p.labels && valid) ? p.labels[gi] : -1;
  const float* zrow = sZ + r * SD;
  const float* trow = sT + r * SD;

  for (int J = jbeg; J < jend; ++J) {
    const long long j0 = static_cast<long long>(J) * TM;
    // Read after the Gram's barriers; rewritten only after the previous tile's closing barrier.
    if (p.labels && t < TM) sLab[t] = j0 + t < N ? p.labels[j0 + t] : INT_MIN;
    if (p.need_z) {
      distance_tile<TM>(p.z, i0, j0, N, sG, sZ);
      float zmin = INFINITY;
      for (int c = q; c < TM; c += TPR) zmin = fminf(zmin, zrow[c]);
      zmin = rmin<TPR>(zmin);
      for (int b = 0; b < p.B; ++b) {
        const float cz = p.cz[b];
        float s = 0.f, sk = 0.f;
        if (zmin < INFINITY)
#pragma unroll 8
          for (int c = q; c < TM; c += TPR) {
            const float e = __expf(cz * (zmin - zrow[c]));
            s += e;
            sk = fmaf(e, e, sk);
          }
        s = rsum<TPR>(s);
        sk = rsum<TPR>(sk);
        if (q == 0 && valid && s > 0) {
          const size_t idx = (static_cast<size_t>(split) * p.B + b) * N + gi;
          const double m = -static_cast<double>(cz) * zmin;
          lse_merge(p.zm[idx], p.zs[idx], m, s);
          if (p.kk) atomicAdd(&p.ll_sum[b], exp(2 * m) * sk);
        }
      }
      // sZ is only rewritten by the next tile's Z Gram, after barriers every thread passes after this point.
    }
    for (int l = 0; l < p.L; ++l) {
      distance_tile<TM>(p.layers[l], i0, j0, N, sG, sT);
      float tmin = INFINITY;
      for (int c = q; c < TM; c += TPR) tmin = fminf(tmin, trow[c]);
      tmin = rmin<TPR>(tmin);
      for (int b = 0; b < p.B; ++b) {
        const float ct = p.ct[l * p.B + b], cz = p.joint ? p.cz[b] : 0.f;
        float ymin = INFINITY;
        if (p.joint) {
          for (int c = q; c < TM; c += TPR) ymin = fminf(ymin, fmaf(ct, trow[c], cz * zrow[c]));
          ymin = rmin<TPR>(ymin);
        }
        float st = 0.f, sj = 0.f, sbd = 0.f, sy = 0.f, skk = 0.f;
        if (tmin < INFINITY)
#pragma unroll 4
          for (int c = q; c < TM; c += TPR) {
            const float d = trow[c];
            const float et = __expf(ct * (tmin - d));
            st += et;
            skk = fmaf(et, et, skk);
            if (p.joint) sj += __expf(ymin - fmaf(ct, d, cz * zrow[c]));
            if (p.bd) sbd += __expf(-0.25f * ct * d);
            if (p.labels && sLab[c] == my_label) sy += et;
          }
        st = rsum<TPR>(st);
        sj = rsum<TPR>(sj);
        sbd = rsum<TPR>(sbd);
        sy = rsum<TPR>(sy);
        skk = rsum<TPR>(skk);
        if (q == 0 && valid && st > 0) {
          const size_t idx = (static_cast<size_t>(split) * LB + l * p.B + b) * N + gi;
          const double m = -static_cast<double>(ct) * tmin;
          lse_merge(p.m_t[idx], p.s_t[idx], m, st);
          if (p.joint) lse_merge(p.m_j[idx], p.s_j[idx], -static_cast<double>(ymin), sj);
          if (p.bd) p.sum_bd[idx] += sbd;
          if (p.labels) p.sum_y[idx] += exp(m) * sy;
          if (p.kk) atomicAdd(&p.kk_sum[l * p.B + b], exp(2 * m) * skk);
        }
      }
      __syncthreads();  // sT (= the Gram panels) and sLab are free again
    }
  }
}

// Merges the splits' row state and converts (max, sum) pairs to log-sums. One thread per (lb, i).
__global__ void combine_layers(Params p, double* lse_t, double* lse_j, double* bd, double* y) {
  const long long N = p.N, LB = p.L * p.B;
  const long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (k >= LB * N) return;
  double mt = 0, st = 0, mj = 0, sj = 0, sb = 0, sy = 0;
  for (int s = 0; s < p.splits; ++s) {
    const size_t idx = static_cast<size_t>(s) * LB * N + k;
    lse_merge(mt, st, p.m_t[idx], p.s_t[idx]);
    if (p.joint) lse_merge(mj, sj, p.m_j[idx], p.s_j[idx]);
    if (p.bd) sb += p.sum_bd[idx];
    if (p.labels) sy += p.sum_y[idx];
  }
  lse_t[k] = st > 0 ? mt + log(st) : -INFINITY;
  lse_j[k] = sj > 0 ? mj + log(sj) : -INFINITY;
  bd[k] = sb;
  y[k] = sy;
}

__global__ void combine_features(Params p, double* lse_z) {
  const long long N = p.N;
  const long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (k >= p.B * N) return;
  double m = 0, s = 0;
  for (int sp = 0; sp < p.splits; ++sp) {
    const size_t idx = static_cast<size_t>(sp) * p.B * N + k;
    lse_merge(m, s, p.zm[idx], p.zs[idx]);
  }
  lse_z[k] = s > 0 ? m + log(s) : -INFINITY;
}

struct DeviceSet {
  cuda::DeviceBuffer<float> x, mu, nrm;
  DevSet view;
  explicit DeviceSet(const Matrix& m) : x(m.rows * m.cols), mu(m.cols), nrm(m.rows) {
    Centred c = centre(m, 0);
    x.upload(m.data, m.rows * m.cols);
    mu.upload(c.mu.data(), c.mu.size());
    nrm.upload(c.norms.data(), c.norms.size());
    view = DevSet{x.get(), mu.get(), nrm.get(), static_cast<long long>(m.cols)};
  }
};

}  // namespace

Result estimate_cuda(const Request& req) {
  validate(req);
  cuda::DeviceQuery dq = cuda::query_devices();
  if (dq.count <= 0) throw Error(Code::Unsupported, "backend 'cuda': " + dq.message);
  MIMIC_CUDA(cudaSetDevice(0));
  const int L = static_cast<int>(req.layers.size());
  const int B = static_cast<int>(req.s2_layers[0].size());
  const long long N = req.layers[0].rows;
  const Needs need = needs_for(req);

  std::vector<std::unique_ptr<DeviceSet>> layers;
  std::vector<DevSet> views;
  for (const auto& m : req.layers) {
    layers.push_back(std::make_unique<DeviceSet>(m));
    views.push_back(layers.back()->view);
  }
  std::unique_ptr<DeviceSet> feat;
  if (need.z) feat = std::make_unique<DeviceSet>(req.features);
  cuda::DeviceBuffer<DevSet> d_views(L);
  d_views.upload(views.data(), L);

  std::vector<float> ct(L * B), cz(B, 0.f);
  for (int l = 0; l < L; ++l)
    for (int b = 0; b < B; ++b) ct[l * B + b] = static_cast<float>(0.5 / req.s2_layers[l][b]);
  if (need.z)
    for (int b = 0; b < B; ++b) cz[b] = static_cast<float>(0.5 / req.s2_features[b]);
  cuda::DeviceBuffer<float> d_ct(L * B), d_cz(B);
  d_ct.upload(ct.data(), ct.size());
  d_cz.upload(cz.data(), cz.size());
  std::unique_ptr<cuda::DeviceBuffer<int>> d_labels;
  if (need.labels) {
    d_labels = std::make_unique<cuda::DeviceBuffer<int>>(N);
    d_labels->upload(req.labels, N);
  }

  int sms = 0, optin = 0;
  MIMIC_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  MIMIC_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  // 128-sample tiles (8 x 8 micro-tiles) when the GPU has the shared memory for them and N gives more than a
  // handful of tiles; 64-sample tiles (4 x 4) for tiny problems and small-shared-memory GPUs.
  const bool big = N > 512 && static_cast<size_t>(optin) >= Geo<128>::SMEM;
  const int TM = big ? 128 : 64;
  const size_t smem = big ? Geo<128>::SMEM : Geo<64>::SMEM;
  auto kernel = big ? kde_tiles<128> : kde_tiles<64>;
  MIMIC_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  int per_sm = 0;
  MIMIC_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, NT, smem));
  const long long slots = static_cast<long long>(std::max(1, per_sm)) * std::max(1, sms);
  const int nt = static_cast<int>((N + TM - 1) / TM);
  // Column splits: the fewest that minimise (waves of blocks) x (tiles per block).
  int splits = 1, per = nt;
  long long best = -1;
  for (int s = 1; s <= nt; ++s) {
    const int pr = (nt + s - 1) / s, sp = (nt + pr - 1) / pr;
    if (sp != s) continue;
    const long long cost = (static_cast<long long>(nt) * sp + slots - 1) / slots * pr;
    if (best < 0 || cost < best) best = cost, splits = sp, per = pr;
  }

  const size_t state = static_cast<size_t>(splits) * L * B * N;
  const size_t zstate = static_cast<size_t>(splits) * B * N;
  cuda::DeviceBuffer<double> m_t(state), s_t(state), m_j(need.joint ? state : 0), s_j(need.joint ? state : 0),
      sbd(need.bd ? state : 0), sy(need.labels ? state : 0), zm(need.z ? zstate : 0), zs(need.z ? zstate : 0),
      kk(L * B), ll(B);
  for (auto* buf : {&m_t, &s_t, &m_j, &s_j, &sbd, &sy, &zm, &zs, &kk, &ll})
    if (buf->size()) MIMIC_CUDA(cudaMemset(buf->get(), 0, buf->size() * sizeof(double)));

  Params p{};
  p.N = N;
  p.L = L;
  p.B = B;
  p.nt = nt;
  p.tiles_per_split = per;
  p.splits = splits;
  if (feat) p.z = feat->view;
  p.layers = d_views.get();
  p.ct = d_ct.get();
  p.cz = d_cz.get();
  p.labels = d_labels ? d_labels->get() : nullptr;
  p.need_z = need.z;
  p.joint = need.joint;
  p.bd = need.bd;
  p.kk = need.kk;
  p.m_t = m_t.get(), p.s_t = s_t.get(), p.m_j = m_j.get(), p.s_j = s_j.get();
  p.sum_bd = sbd.get(), p.sum_y = sy.get(), p.zm = zm.get(), p.zs = zs.get();
  p.kk_sum = kk.get(), p.ll_sum = ll.get();

  kernel<<<dim3(nt, splits), NT, smem>>>(p);
  MIMIC_CUDA(cudaGetLastError());

  const size_t LBN = static_cast<size_t>(L) * B * N;
  cuda::DeviceBuffer<double> o_lt(LBN), o_lj(LBN), o_bd(LBN), o_y(LBN), o_lz(need.z ? B * N : 0);
  combine_layers<<<static_cast<unsigned>((LBN + 255) / 256), 256>>>(p, o_lt.get(), o_lj.get(), o_bd.get(), o_y.get());
  MIMIC_CUDA(cudaGetLastError());
  if (need.z) {
    combine_features<<<static_cast<unsigned>((B * N + 255) / 256), 256>>>(p, o_lz.get());
    MIMIC_CUDA(cudaGetLastError());
  }
  MIMIC_CUDA(cudaDeviceSynchronize());

  std::vector<double> lt(LBN), lj(LBN), bd(LBN), y(LBN), kkh(L * B), llh(B);
  o_lt.download(lt.data(), LBN);
  o_lj.download(lj.data(), LBN);
  o_bd.download(bd.data(), LBN);
  o_y.download(y.data(), LBN);
  kk.download(kkh.data(), kkh.size());
  ll.download(llh.data(), llh.size());
  std::vector<RowStats> stats(static_cast<size_t>(L) * B);
  for (size_t k = 0; k < stats.size(); ++k) {
    const size_t off = k * N;
    stats[k].lse_t.assign(lt.begin() + off, lt.begin() + off + N);
    if (need.joint) stats[k].lse_j.assign(lj.begin() + off, lj.begin() + off + N);
    if (need.bd) stats[k].sum_bd.assign(bd.begin() + off, bd.begin() + off + N);
    if (need.labels) stats[k].sum_y.assign(y.begin() + off, y.begin() + off + N);
    stats[k].sum_kk = kkh[k];
  }
  std::vector<FeatureStats> fstats(need.z ? B : 0);
  if (need.z) {
    std::vector<double> lz(static_cast<size_t>(B) * N);
    o_lz.download(lz.data(), lz.size());
    for (int b = 0; b < B; ++b) {
      fstats[b].lse_z.assign(lz.begin() + static_cast<size_t>(b) * N, lz.begin() + static_cast<size_t>(b + 1) * N);
      fstats[b].sum_ll = llh[b];
    }
  }
  Result res;
  finalize(req, stats, fstats, res);
  res.backend = "cuda:" + dq.name;
  return res;
}

}  // namespace mimic::kde::detail
