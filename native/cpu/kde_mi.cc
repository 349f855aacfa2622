// The CPU KDE engine: upper-triangular sample tiles (I <= J) spread over the thread pool, per tile one Gram GEMM
// per layer on centred data (the offsets are applied while packing, no centred copy), the Z tile computed once and
// reused by every layer, and the fused epilogue (kde_tile.h) for every bandwidth. Each thread owns O(N L B) row
// accumulators (running max + scaled sum, float64); they are merged at the end.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "kde_internal.h"
#include "kde_tile.h"
#include "lse_merge.h"
#include "mimic/gemm.h"
#include "mimic/threadpool.h"

namespace mimic::kde {
namespace detail {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct LayerAcc {  // one (layer, bandwidth)
  std::vector<double> m_t, s_t, m_j, s_j, bd, y;
  double kk = 0;
};
struct ZAcc {
  std::vector<double> m, s;
  double ll = 0;
};

struct ThreadState {
  double gemm_seconds = 0, gemm_flops = 0, epilogue_seconds = 0;
  std::vector<LayerAcc> layer;  // L * B
  std::vector<ZAcc> z;          // B
  // scratch
  std::vector<float> g, dz, y, row_min, col_min, zrow_min, zcol_min;
  std::vector<float> row_s_t, col_s_t, row_m_j, row_s_j, col_m_j, col_s_j, row_bd, col_bd, row_y, col_y, row_kk;
  std::vector<int32_t> lab_i, lab_j;
};

void init_state(ThreadState& ts, int64_t N, int L, int B, int tile, int ld, const Needs& need) {
  ts.layer.resize(static_cast<size_t>(L) * B);
  for (auto& a : ts.layer) {
    a.m_t.assign(N, kNegInf);
    a.s_t.assign(N, 0.0);
    if (need.joint) {
      a.m_j.assign(N, kNegInf);
      a.s_j.assign(N, 0.0);
    }
    if (need.bd) a.bd.assign(N, 0.0);
    if (need.labels) a.y.assign(N, 0.0);
  }
  if (need.z) {
    ts.z.resize(B);
    for (auto& z : ts.z) {
      z.m.assign(N, kNegInf);
      z.s.assign(N, 0.0);
    }
  }
  const size_t t2 = static_cast<size_t>(tile) * ld;
  ts.g.resize(t2);
  if (need.z) ts.dz.resize(t2);
  if (need.joint) ts.y.resize(t2);
  for (auto* v : {&ts.row_min, &ts.col_min, &ts.zrow_min, &ts.zcol_min, &ts.row_s_t, &ts.col_s_t, &ts.row_m_j,
                  &ts.row_s_j, &ts.col_m_j, &ts.col_s_j, &ts.row_bd, &ts.col_bd, &ts.row_y, &ts.col_y, &ts.row_kk})
    v->resize(ld);
  ts.lab_i.assign(ld, -1);
  ts.lab_j.assign(ld, -1);
}

TileOut outputs(ThreadState& ts) {
  return TileOut{ts.row_s_t.data(), ts.col_s_t.data(), ts.row_m_j.data(), ts.row_s_j.data(), ts.col_m_j.data(),
                 ts.col_s_j.data(), ts.row_bd.data(),  ts.col_bd.data(),  ts.row_y.data(),   ts.col_y.data(),
                 ts.row_kk.data()};
}

// Distance tile of one data set between sample blocks [i0, i0+ti) and [j0, j0+tj).
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void distance_tile(const Centred& c, int64_t i0, int ti, int64_t j0, int tj, int ld, bool diag, KernelPath path,
                   float* out, float* row_min, float* col_min, ThreadState& ts) {
  const auto t0 = Clock::now();
  GemmOptions opt;
  opt.threads = 1;
  opt.path = path;
  opt.a_k_offset = c.mu.data();
  opt.b_k_offset = c.mu.data();
  sgemm(Trans::N, Trans::T, ti, tj, c.d, 1.0f, c.x + i0 * c.d, c.d, c.x + j0 * c.d, c.d, 0.0f, out, ld, opt);
  ts.gemm_seconds += since(t0);
  ts.gemm_flops += 2.0 * ti * tj * static_cast<double>(c.d);
  finish_distances(out, ti, tj, ld, c.norms.data() + i0, c.norms.data() + j0, diag, row_min, col_min);
}

// Automatic tile side. Narrow layers are bound by the epilogue, whose scratch tiles should stay in L2 (128); wide
// layers are bound by the Gram GEMMs, which run faster and re-read less data with bigger tiles, as long as there
// are enough tiles to share between threads (measured on Zen 5: 171 -> 220 GFLOP/s from 128 to 384 at D >= 1024).
int auto_tile(int64_t N, int64_t max_dim) {
  if (max_dim < 1024) return 128;
  if (N >= 4 * 384) return 384;
  if (N >= 4 * 192) return 192;
  return 128;
}

// The caller's cancel flag, written by another thread (a relaxed read: it only has to be seen eventually).
bool cancelled(const Request& req) { return req.cancel && __atomic_load_n(req.cancel, __ATOMIC_RELAXED) != 0; }

}  // namespace

Result estimate_cpu(const Request& req) {
  validate(req);
  const int L = static_cast<int>(req.layers.size());
  const int B = static_cast<int>(req.s2_layers[0].size());
  const int64_t N = req.layers[0].rows;
  const Needs need = needs_for(req);
  const KernelPath path = resolve_path(req.path);
  auto tile_fn = path == KernelPath::Generic ? tile_generic : path == KernelPath::Avx512 ? tile_avx512 : tile_avx2;
  int64_t max_dim = 0;
  for (const auto& m : req.layers) max_dim = std::max(max_dim, m.cols);
  const int tile = static_cast<int>(std::min<int64_t>(req.tile > 0 ? req.tile : auto_tile(N, max_dim), N));
  const int ld = pad_cols(tile);

  std::vector<Centred> layers;
  for (const auto& m : req.layers) layers.push_back(centre(m, req.threads));
  Centred feat;
  if (need.z) feat = centre(req.features, req.threads);

  const int64_t nt = (N + tile - 1) / tile;
  const int64_t ntasks = nt * (nt + 1) / 2;
  // Task k -> (I, J) with I <= J, row-major over the upper triangle.
  std::vector<std::pair<int32_t, int32_t>> tasks;
  tasks.reserve(ntasks);
  for (int64_t I = 0; I < nt; ++I)
    for (int64_t J = I; J < nt; ++J) tasks.emplace_back(static_cast<int32_t>(I), static_cast<int32_t>(J));

  ThreadPool& pool = ThreadPool::global();
  const int nthreads = std::max(1, std::min<int>(req.threads <= 0 ? pool.size() : req.threads,
                                                 static_cast<int>(std::min<int64_t>(ntasks, pool.size()))));
  std::vector<ThreadState> states(nthreads);
  std::atomic<int64_t> next{0};
  std::atomic<int> used{1};  // a nested call runs serially, with fewer threads than asked

  pool.run(nthreads, [&](int tid, int nt_used) {
    if (tid == 0) used = nt_used;
    ThreadState& ts = states[tid];
    init_state(ts, N, L, B, tile, ld, need);
    const TileOut out = outputs(ts);
    for (int64_t k = next++; k < ntasks && !cancelled(req); k = next++) {
      const int64_t i0 = static_cast<int64_t>(tasks[k].first) * tile, j0 = static_cast<int64_t>(tasks[k].second) * tile;
      const int ti = static_cast<int>(std::min<int64_t>(tile, N - i0));
      const int tj = static_cast<int>(std::min<int64_t>(tile, N - j0));
      const bool diag = i0 == j0;
      const double pair_weight = diag ? 1.0 : 2.0;  // off-diagonal tiles stand for both orders of each pair
      if (need.labels) {
        std::copy(req.labels + i0, req.labels + i0 + ti, ts.lab_i.begin());
        std::copy(req.labels + j0, req.labels + j0 + tj, ts.lab_j.begin());
      }
      // Z: the distance tile once, its own kernel sums for every bandwidth, then kept for the joint kernels.
      if (need.z) {
        distance_tile(feat, i0, ti, j0, tj, ld, diag, path, ts.dz.data(), ts.zrow_min.data(), ts.zcol_min.data(), ts);
        const auto te = Clock::now();
        for (int b = 0; b < B; ++b) {
          TileIn in;
          in.ti = ti, in.tj = tj, in.ld = ld, in.diag = diag;
          in.dt = ts.dz.data();
          in.row_min_t = ts.zrow_min.data();
          in.col_min_t = ts.zcol_min.data();
          in.ct = static_cast<float>(0.5 / req.s2_features[b]);
          in.kk = need.kk;
          tile_fn(in, out);
          ZAcc& z = ts.z[b];
          const double c = in.ct;
          for (int r = 0; r < ti; ++r) {
            const double m = -c * ts.zrow_min[r];
            lse_merge(z.m[i0 + r], z.s[i0 + r], m, ts.row_s_t[r]);
            if (need.kk && ts.row_s_t[r] > 0) z.ll += pair_weight * std::exp(2 * m) * ts.row_kk[r];
          }
          if (!diag)
            for (int j = 0; j < tj; ++j) lse_merge(z.m[j0 + j], z.s[j0 + j], -c * ts.zcol_min[j], ts.col_s_t[j]);
        }
        ts.epilogue_seconds += since(te);
      }
      for (int l = 0; l < L; ++l) {
        distance_tile(layers[l], i0, ti, j0, tj, ld, diag, path, ts.g.data(), ts.row_min.data(), ts.col_min.data(), ts);
        const auto te = Clock::now();
        for (int b = 0; b < B; ++b) {
          TileIn in;
          in.ti = ti, in.tj = tj, in.ld = ld, in.diag = diag;
          in.dt = ts.g.data();
          in.dz = need.joint ? ts.dz.data() : nullptr;
          in.row_min_t = ts.row_min.data();
          in.col_min_t = ts.col_min.data();
          in.ct = static_cast<float>(0.5 / req.s2_layers[l][b]);
          in.cz = need.joint ? static_cast<float>(0.5 / req.s2_features[b]) : 0.0f;
          in.lab_i = need.labels ? ts.lab_i.data() : nullptr;
          in.lab_j = need.labels ? ts.lab_j.data() : nullptr;
          in.bd = need.bd;
          in.kk = need.kk;
          in.scratch = need.joint ? ts.y.data() : nullptr;
          tile_fn(in, out);
          LayerAcc& a = ts.layer[static_cast<size_t>(l) * B + b];
          const double c = in.ct;
          for (int r = 0; r < ti; ++r) {
            const int64_t i = i0 + r;
            const double m = -c * ts.row_min[r];
            lse_merge(a.m_t[i], a.s_t[i], m, ts.row_s_t[r]);
            if (need.joint) lse_merge(a.m_j[i], a.s_j[i], ts.row_m_j[r], ts.row_s_j[r]);
            if (need.bd) a.bd[i] += ts.row_bd[r];
            if (ts.row_s_t[r] > 0) {
              if (need.labels) a.y[i] += std::exp(m) * ts.row_y[r];
              if (need.kk) a.kk += pair_weight * std::exp(2 * m) * ts.row_kk[r];
            }
          }
          if (!diag)
            for (int j = 0; j < tj; ++j) {
              const int64_t i = j0 + j;
              const double m = -c * ts.col_min[j];
              lse_merge(a.m_t[i], a.s_t[i], m, ts.col_s_t[j]);
              if (need.joint) lse_merge(a.m_j[i], a.s_j[i], ts.col_m_j[j], ts.col_s_j[j]);
              if (need.bd) a.bd[i] += ts.col_bd[j];
              if (need.labels) a.y[i] += std::exp(m) * ts.col_y[j];
            }
        }
        ts.epilogue_seconds += since(te);
      }
    }
  });

  if (cancelled(req)) throw Error(Code::Aborted, "the estimate was cancelled");
  // Merge the threads' accumulators into thread 0's, then express them as log-sums.
  ThreadState& root = states[0];
  for (int t = 1; t < used.load(); ++t) {
    ThreadState& o = states[t];
    for (size_t k = 0; k < root.layer.size(); ++k) {
      LayerAcc &a = root.layer[k], &b = o.layer[k];
      for (int64_t i = 0; i < N; ++i) {
        lse_merge(a.m_t[i], a.s_t[i], b.m_t[i], b.s_t[i]);
        if (need.joint) lse_merge(a.m_j[i], a.s_j[i], b.m_j[i], b.s_j[i]);
        if (need.bd) a.bd[i] += b.bd[i];
        if (need.labels) a.y[i] += b.y[i];
      }
      a.kk += b.kk;
    }
    for (size_t b = 0; b < root.z.size(); ++b) {
      for (int64_t i = 0; i < N; ++i) lse_merge(root.z[b].m[i], root.z[b].s[i], o.z[b].m[i], o.z[b].s[i]);
      root.z[b].ll += o.z[b].ll;
    }
  }
  auto lse = [](double m, double s) { return s > 0 ? m + std::log(s) : kNegInf; };
  std::vector<RowStats> stats(root.layer.size());
  for (size_t k = 0; k < stats.size(); ++k) {
    LayerAcc& a = root.layer[k];
    RowStats& st = stats[k];
    st.lse_t.resize(N);
    for (int64_t i = 0; i < N; ++i) st.lse_t[i] = lse(a.m_t[i], a.s_t[i]);
    if (need.joint) {
      st.lse_j.resize(N);
      for (int64_t i = 0; i < N; ++i) st.lse_j[i] = lse(a.m_j[i], a.s_j[i]);
    }
    st.sum_bd = std::move(a.bd);
    st.sum_y = std::move(a.y);
    st.sum_kk = a.kk;
  }
  std::vector<FeatureStats> fstats(need.z ? B : 0);
  for (size_t b = 0; b < fstats.size(); ++b) {
    fstats[b].lse_z.resize(N);
    for (int64_t i = 0; i < N; ++i) fstats[b].lse_z[i] = lse(root.z[b].m[i], root.z[b].s[i]);
    fstats[b].sum_ll = root.z[b].ll;
  }
  Result res;
  finalize(req, stats, fstats, res);
  for (int t = 0; t < used.load(); ++t) {
    res.gemm_seconds += states[t].gemm_seconds;
    res.gemm_flops += states[t].gemm_flops;
    res.epilogue_seconds += states[t].epilogue_seconds;
  }
  res.tile = tile;
  res.backend = std::string("cpu-") + path_name(path);
  return res;
}

}  // namespace detail

Result estimate(const Request& req) {
  if (req.precision == Precision::Fp64Reference) return detail::estimate_reference(req);
  if (req.backend == Backend::Cuda) return detail::estimate_cuda(req);
  return detail::estimate_cpu(req);
}

}  // namespace mimic::kde
