// CUDA build of the KDE engine. Same maths as the CPU engine: Gram tiles of centred data (fp32 FMA, no TF32),
// distances clamped >= 0 and the self pair excluded, exact running-max log-sum-exp per row, the Z tile computed
// once per (I, J) and reused by every layer. Layout: one block per (row tile I, column split); a block walks its
// column tiles and keeps per-row (max, scaled sum) state in global memory (it owns those rows for its split); a
// second kernel merges the splits. The float64 finalisation is the CPU's (kde_finalize.cc).
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <cmath>
#include <limits>
#include <vector>

#include "../cpu/kde_internal.h"
#include "cuda_check.h"
#include "mimic/device.h"

namespace mimic::kde::detail {

namespace {

constexpr int TM = 64;    // samples per tile side
constexpr int TK = 16;    // features per Gram step
constexpr int NT = 256;   // threads per block: 16 x 16 for the Gram, 4 per row for the epilogue

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

__device__ __forceinline__ void merge(double& m, double& s, double mt, double st) {
  if (!(st > 0)) return;
  if (s == 0) {
    m = mt;
    s = st;
  } else if (mt > m) {
    s = s * exp(m - mt) + st;
    m = mt;
  } else {
    s += st * exp(mt - m);
  }
}

__device__ __forceinline__ float min4(float v) {
  v = fminf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fminf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float sum4(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// sD[r][c] = max(0, |x_i|^2 + |x_j|^2 - 2 x_i.x_j) on centred rows i = i0 + r, j = j0 + c; +inf for i == j or
// out-of-range samples (weight 0 in every sum).
__device__ void distance_tile(const DevSet s, long long i0, long long j0, long long N, float (*sA)[TM],
                              float (*sB)[TM], float (*sD)[TM + 1]) {
  const int t = threadIdx.x, ty = t / 16, tx = t % 16;
  float acc[4][4] = {};
  for (long long k0 = 0; k0 < s.d; k0 += TK) {
#pragma unroll
    for (int p = 0; p < (TM * TK) / NT; ++p) {
      const int idx = t + p * NT, r = idx / TK, kk = idx % TK;
      const long long k = k0 + kk;
      float a = 0.f, b = 0.f;
      if (k < s.d) {
        const float mu = s.mu[k];
        if (i0 + r < N) a = s.x[(i0 + r) * s.d + k] - mu;
        if (j0 + r < N) b = s.x[(j0 + r) * s.d + k] - mu;
      }
      sA[kk][r] = a;
      sB[kk][r] = b;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        a[q] = sA[kk][ty + 16 * q];
        b[q] = sB[kk][tx + 16 * q];
      }
#pragma unroll
      for (int qi = 0; qi < 4; ++qi)
#pragma unroll
        for (int qj = 0; qj < 4; ++qj) acc[qi][qj] = fmaf(a[qi], b[qj], acc[qi][qj]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int qi = 0; qi < 4; ++qi)
#pragma unroll
    for (int qj = 0; qj < 4; ++qj) {
      const int r = ty + 16 * qi, c = tx + 16 * qj;
      const long long gi = i0 + r, gj = j0 + c;
      float d = INFINITY;
      if (gi < N && gj < N && gi != gj) d = fmaxf(0.f, s.nrm[gi] + s.nrm[gj] - 2.f * acc[qi][qj]);
      sD[r][c] = d;
    }
  __syncthreads();
}

__global__ void __launch_bounds__(NT) kde_tiles(Params p) {
  __shared__ float sA[TK][TM], sB[TK][TM];
  __shared__ float sZ[TM][TM + 1], sT[TM][TM + 1];
  const long long N = p.N;
  const int t = threadIdx.x, r = t / 4, q = t % 4;
  const long long i0 = static_cast<long long>(blockIdx.x) * TM, gi = i0 + r;
  const bool valid = gi < N;
  const int split = blockIdx.y, LB = p.L * p.B;
  const int jbeg = split * p.tiles_per_split, jend = min(p.nt, jbeg + p.tiles_per_split);
  const int my_label = (p.labels && valid) ? p.labels[gi] : -1;

  for (int J = jbeg; J < jend; ++J) {
    const long long j0 = static_cast<long long>(J) * TM;
    if (p.need_z) {
      distance_tile(p.z, i0, j0, N, sA, sB, sZ);
      float zmin = INFINITY;
      for (int c = q; c < TM; c += 4) zmin = fminf(zmin, sZ[r][c]);
      zmin = min4(zmin);
      for (int b = 0; b < p.B; ++b) {
        const float cz = p.cz[b];
        float s = 0.f, sk = 0.f;
        if (zmin < INFINITY)
          for (int c = q; c < TM; c += 4) {
            const float e = __expf(cz * (zmin - sZ[r][c]));
            s += e;
            sk = fmaf(e, e, sk);
          }
        s = sum4(s);
        sk = sum4(sk);
        if (q == 0 && valid && s > 0) {
          const size_t idx = (static_cast<size_t>(split) * p.B + b) * N + gi;
          const double m = -static_cast<double>(cz) * zmin;
          merge(p.zm[idx], p.zs[idx], m, s);
          if (p.kk) atomicAdd(&p.ll_sum[b], exp(2 * m) * sk);
        }
      }
    }
    for (int l = 0; l < p.L; ++l) {
      distance_tile(p.layers[l], i0, j0, N, sA, sB, sT);
      float tmin = INFINITY;
      for (int c = q; c < TM; c += 4) tmin = fminf(tmin, sT[r][c]);
      tmin = min4(tmin);
      for (int b = 0; b < p.B; ++b) {
        const float ct = p.ct[l * p.B + b], cz = p.joint ? p.cz[b] : 0.f;
        float ymin = INFINITY;
        if (p.joint) {
          for (int c = q; c < TM; c += 4) ymin = fminf(ymin, fmaf(ct, sT[r][c], cz * sZ[r][c]));
          ymin = min4(ymin);
        }
        float st = 0.f, sj = 0.f, sbd = 0.f, sy = 0.f, skk = 0.f;
        if (tmin < INFINITY)
          for (int c = q; c < TM; c += 4) {
            const float d = sT[r][c];
            const float et = __expf(ct * (tmin - d));
            st += et;
            skk = fmaf(et, et, skk);
            if (p.joint) sj += __expf(ymin - fmaf(ct, d, cz * sZ[r][c]));
            if (p.bd) sbd += __expf(-0.25f * ct * d);
            if (p.labels) {
              const long long gj = j0 + c;
              if (gj < N && p.labels[gj] == my_label) sy += et;
            }
          }
        st = sum4(st);
        sj = sum4(sj);
        sbd = sum4(sbd);
        sy = sum4(sy);
        skk = sum4(skk);
        if (q == 0 && valid && st > 0) {
          const size_t idx = (static_cast<size_t>(split) * LB + l * p.B + b) * N + gi;
          const double m = -static_cast<double>(ct) * tmin;
          merge(p.m_t[idx], p.s_t[idx], m, st);
          if (p.joint) merge(p.m_j[idx], p.s_j[idx], -static_cast<double>(ymin), sj);
          if (p.bd) p.sum_bd[idx] += sbd;
          if (p.labels) p.sum_y[idx] += exp(m) * sy;
          if (p.kk) atomicAdd(&p.kk_sum[l * p.B + b], exp(2 * m) * skk);
        }
      }
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
    merge(mt, st, p.m_t[idx], p.s_t[idx]);
    if (p.joint) merge(mj, sj, p.m_j[idx], p.s_j[idx]);
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
    merge(m, s, p.zm[idx], p.zs[idx]);
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

  int sms = 0;
  MIMIC_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const int nt = static_cast<int>((N + TM - 1) / TM);
  int splits = std::max(1, std::min(nt, (4 * sms + nt - 1) / nt));
  const int per = (nt + splits - 1) / splits;
  splits = (nt + per - 1) / per;

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

  kde_tiles<<<dim3(nt, splits), NT>>>(p);
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
