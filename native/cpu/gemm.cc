// Single-precision GEMM: argument checks, dispatch, BLIS-style blocking and packing, thread partitioning.
//
//   for jc in N step NC:                 B block (KC x NC) packed into NR-column micro-panels  (L3)
//     for pc in K step KC:
//       pack B block
//       for ic in M step MC:             A block (MC x KC) packed into MR-row micro-panels    (L2)
//         pack A block
//         for jr in NC step NR:          one B micro-panel (KC x NR)                          (L1)
//           for ir in MC step MR:        micro-kernel: MR x NR tile of C in registers
//
// alpha is applied at the store; beta only on the first K block (later blocks accumulate with beta = 1).
// K offsets (a_k_offset / b_k_offset) are subtracted while packing, so the kernels never see them.
//
// Threads: C is cut into a pm x pn grid of sub-blocks (MR / NR aligned), and K into pk slices, pm*pn*pk =
// threads, picked by a cost model (compute of the largest share + its packing + the K-split reduction). Every
// thread runs the whole blocked algorithm on its share with its own packing buffers, so there is no barrier
// inside a region: small M with huge N splits N, small M and N with huge K splits K (partial products summed
// after the region), square shapes split the larger side.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "gemm_kernels.h"
#include "mimic/gemm.h"
#include "mimic/threadpool.h"

namespace mimic {

namespace gemm_detail {

// Per-path kernels, tile size and blocking (tunable through set_blocking for experiments).
//   6 x 16 (generic, AVX2): KC: one B micro-panel (KC x NR floats = 16 KiB at KC = 256) plus the A micro-panel
//   being streamed stay in L1 (32-48 KiB). MC: the packed A block (MC x KC = 144 KiB) sits in L2 (512 KiB -
//   1 MiB per core) with room for the C tiles. NC: the packed B block (KC x NC = 4 MiB) lives in L3.
//   AVX-512 (MR_AVX512 x 32): see kAvx512Blocking below.
struct PathConfig {
  MicroKernel kernel;
  PackRowsT pack_a_t;  // transposing packer for MR rows of op(A) (A not transposed)
  PackRowsT pack_b_t;  // transposing packer for NR columns of op(B) (B transposed)
  int mr, nr;
  int mc, kc, nc;
};

namespace {
constexpr int kGeneric = 0, kAvx2 = 1, kAvx512 = 2, kPaths = 3;
// AVX-512 blocking (measured on Zen 5, L1d 48 KiB, L2 1 MiB): a deep KC halves the C traffic per flop, which
// mattered more than keeping the B micro-panel in L1 (KC x 32 floats = 128 KiB at KC = 1024, read from L2 at
// 2 zmm per 24 FMAs). A block MC x KC = 264 x 1024 x 4 ~ 1 MiB (L2-sized; MC = 264 also keeps M = 256 in one
// A block, the small-M path). Single-thread GFLOP/s, MC/KC: 2048^3 NN: 192/256 -> 198, 192/512 -> 213,
// 192/1024 -> 220-234; 256x2048x2304 NT: 192/1024 -> 177, 264/1024 -> 207.
constexpr int kAvx512Mc = MR_AVX512 * 22, kAvx512Kc = 1024, kAvx512Nc = 2048;

PathConfig default_config(int i) {
  switch (i) {
#ifdef MIMIC_GEMM_X86
    case kAvx2: return {micro_kernel_avx2, pack_rows_t6_avx2, pack_rows_t16_avx2, MR, NR, 144, 256, 4080};
    case kAvx512:
      return {micro_kernel_avx512, pack_rows_tmr_avx512, pack_rows_t32_avx512, MR_AVX512, NR_AVX512,
              kAvx512Mc, kAvx512Kc, kAvx512Nc};
#endif
    default: return {micro_kernel_generic, pack_rows_t6_generic, pack_rows_t16_generic, MR, NR, 144, 256, 4080};
  }
}

PathConfig g_cfg[kPaths] = {default_config(0), default_config(1), default_config(2)};

int path_index(KernelPath p) {
#ifdef MIMIC_GEMM_X86
  if (p == KernelPath::Avx512) return kAvx512;
  if (p == KernelPath::Avx2) return kAvx2;
#endif
  (void)p;
  return kGeneric;
}
}  // namespace

void set_blocking(int mc, int kc, int nc) {
  for (PathConfig& c : g_cfg) {
    if (mc > 0) c.mc = std::max(c.mr, mc / c.mr * c.mr);
    if (kc > 0) c.kc = std::max(8, kc);
    if (nc > 0) c.nc = std::max(c.nr, nc / c.nr * c.nr);
  }
}
void reset_blocking() {
  for (int i = 0; i < kPaths; ++i) g_cfg[i] = default_config(i);
}
void get_blocking(KernelPath path, int* mc, int* kc, int* nc) {
  const PathConfig& c = g_cfg[path_index(resolve_path(path))];
  *mc = c.mc;
  *kc = c.kc;
  *nc = c.nc;
}
void get_tile(KernelPath path, int* mr, int* nr) {
  const PathConfig& c = g_cfg[path_index(resolve_path(path))];
  *mr = c.mr;
  *nr = c.nr;
}

}  // namespace gemm_detail

namespace {

using namespace gemm_detail;

// ---- scratch ------------------------------------------------------------------------------------------------

struct AlignedBuf {
  float* p = nullptr;
  size_t cap = 0;  // floats
  ~AlignedBuf() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      p = nullptr;
      cap = 0;
      size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      cap = bytes / sizeof(float);
    }
    return p;
  }
};

struct Scratch {
  AlignedBuf a, b;
};

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

constexpr int64_t kSlack = 32;  // floats of slack past each packed block (overlapping vector stores)

struct Problem {
  Trans ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  const float* aoff;
  const float* boff;
  PathConfig cfg;  // a copy: kernels, tile, blocking
};

// ---- packing ------------------------------------------------------------------------------------------------

// op(A) rows [i0, i0 + mc), k in [p0, p0 + kc)  ->  ceil(mc / MR) micro-panels of MR x kc.
void pack_a(const Problem& P, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  const int MR = P.cfg.mr;
  const float* off = P.aoff ? P.aoff + p0 : nullptr;
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    float* d = dst + ir * kc;
    if (P.ta == Trans::N) {
      P.cfg.pack_a_t(kc, rows, P.A + (i0 + ir) * P.lda + p0, P.lda, off, d);
    } else {
      // A stored K x M: the MR values of one k are contiguous.
      const float* s = P.A + p0 * P.lda + i0 + ir;
      if (rows == MR) {
        for (int64_t k = 0; k < kc; ++k) {
          const float* sk = s + k * P.lda;
          const float o = off ? off[k] : 0.0f;
          float* dk = d + k * MR;
          for (int r = 0; r < MR; ++r) dk[r] = sk[r] - o;
        }
      } else {
        for (int64_t k = 0; k < kc; ++k) {
          const float* sk = s + k * P.lda;
          const float o = off ? off[k] : 0.0f;
          float* dk = d + k * MR;
          int r = 0;
          for (; r < rows; ++r) dk[r] = sk[r] - o;
          for (; r < MR; ++r) dk[r] = 0.0f;
        }
      }
    }
  }
}

// op(B) k in [p0, p0 + kc), cols [j0, j0 + nc)  ->  ceil(nc / NR) micro-panels of kc x NR.
void pack_b(const Problem& P, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  const int NR = P.cfg.nr;
  const float* off = P.boff ? P.boff + p0 : nullptr;
  if (P.tb == Trans::T) {
    // B stored N x K: each column of op(B) is a contiguous row of B.
    for (int64_t jr = 0; jr < nc; jr += NR) {
      const int cols = static_cast<int>(std::min<int64_t>(NR, nc - jr));
      P.cfg.pack_b_t(kc, cols, P.B + (j0 + jr) * P.ldb + p0, P.ldb, off, dst + jr * kc);
    }
    return;
  }
  // B stored K x N: rows of op(B) are contiguous. Walk a group of panels row by row, so each row of B is
  // read as one 2 KiB run rather than 64 bytes per page touched (large ldb makes that a TLB miss each).
  const int64_t kGroup = std::max<int64_t>(1, 512 / NR) * NR;
  for (int64_t jg = 0; jg < nc; jg += kGroup) {
    const int64_t gcols = std::min(kGroup, nc - jg);
    const int64_t full = gcols / NR * NR;
    for (int64_t k = 0; k < kc; ++k) {
      const float* sk = P.B + (p0 + k) * P.ldb + j0 + jg;
      float* dk = dst + jg * kc + k * NR;
      if (off) {
        const float o = off[k];
        for (int64_t jr = 0; jr < full; jr += NR) {
          float* d = dk + jr * kc;
          const float* s = sk + jr;
          for (int j = 0; j < NR; ++j) d[j] = s[j] - o;
        }
      } else {
        // the tile widths as fixed-size copies the compiler inlines (a memcpy call per 128-byte run showed in perf)
        if (NR == 32)
          for (int64_t jr = 0; jr < full; jr += 32) std::memcpy(dk + jr * kc, sk + jr, 32 * sizeof(float));
        else if (NR == 16)
          for (int64_t jr = 0; jr < full; jr += 16) std::memcpy(dk + jr * kc, sk + jr, 16 * sizeof(float));
        else
          for (int64_t jr = 0; jr < full; jr += NR) std::memcpy(dk + jr * kc, sk + jr, NR * sizeof(float));
      }
      if (full < gcols) {
        const int cols = static_cast<int>(gcols - full);
        const float o = off ? off[k] : 0.0f;
        float* d = dk + full * kc;
        int j = 0;
        for (; j < cols; ++j) d[j] = sk[full + j] - o;
        for (; j < NR; ++j) d[j] = 0.0f;
      }
    }
  }
}

// ---- the blocked algorithm on one share ----------------------------------------------------------------------

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits n into ceil(n / max) near-equal blocks, each a multiple of `unit` (except possibly the last).
inline int64_t balanced_block(int64_t n, int64_t max, int64_t unit) {
  if (n <= max) return n;
  int64_t blocks = (n + max - 1) / max;
  int64_t b = (n + blocks - 1) / blocks;
  return (b + unit - 1) / unit * unit;
}

// C' (rows [m0, m1), cols [n0, n1)) = alpha * op(A) op(B) over k in [k0, k1) + beta * C', where C' is
// at Cs (row stride ldcs, already pointing at (m0, n0)).
void gemm_share(const Problem& P, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k0, int64_t k1,
                float* Cs, int64_t ldcs, float beta) {
  const int64_t m = m1 - m0, n = n1 - n0, kk = k1 - k0;
  if (m <= 0 || n <= 0) return;
  const int MR = P.cfg.mr, NR = P.cfg.nr;
  const int64_t KC = balanced_block(kk, P.cfg.kc, 1);
  const int64_t MC = balanced_block(m, P.cfg.mc, MR);
  const int64_t NC = balanced_block(n, P.cfg.nc, NR);
  Scratch& S = thread_scratch();
  float* Abuf = S.a.get(static_cast<size_t>(((MC + MR - 1) / MR * MR) * KC + kSlack));
  float* Bbuf = S.b.get(static_cast<size_t>(((NC + NR - 1) / NR * NR) * KC + kSlack));
  const MicroKernel kernel = P.cfg.kernel;

  if (m <= MC) {
    // One A block covers every row (small M, e.g. conv shapes with huge N): pack A once per K block, then pack
    // B a few micro-panels at a time and use them straight away, while they are still in L1/L2, instead of
    // round-tripping a multi-MiB packed B block through L3.
    // Group width: 512 columns for B (row runs of 2 KiB per source row), 128 for B^T (whole rows already).
    const int64_t kGroup = std::max<int64_t>(1, (P.tb == Trans::N ? 512 : 128) / NR) * NR;
    for (int64_t pc = 0; pc < kk; pc += KC) {
      const int64_t kc = std::min(KC, kk - pc);
      const float b = pc == 0 ? beta : 1.0f;
      pack_a(P, m0, m, k0 + pc, kc, Abuf);
      const int64_t tiles_per_group = ceil_div(kGroup, NR) * ceil_div(m, MR);
      for (int64_t jg = 0; jg < n; jg += kGroup) {
        const int64_t gc = std::min(kGroup, n - jg);
        pack_b(P, k0 + pc, kc, n0 + jg, gc, Bbuf);
        // While the kernels run on this group, prefetch the source of the next one into L2 (the packing
        // itself would otherwise stall on DRAM: B is read exactly once, so no cache holds it).
        const int64_t jn = jg + kGroup, gn = std::min(kGroup, n - jn);
        const float* pf_base = nullptr;
        int64_t pf_rows = 0, pf_lines = 0, pf_stride = 0, pf_next = 0, pf_total = 0, pf_per_tile = 0;
        if (gn > 0) {
          if (P.tb == Trans::N) {
            pf_base = P.B + (k0 + pc) * P.ldb + n0 + jn;
            pf_rows = kc;
            pf_lines = ceil_div(gn, 16);
          } else {
            pf_base = P.B + (n0 + jn) * P.ldb + k0 + pc;
            pf_rows = gn;
            pf_lines = ceil_div(kc, 16);
          }
          pf_stride = P.ldb;
          pf_total = pf_rows * pf_lines;
          pf_per_tile = ceil_div(pf_total, tiles_per_group);
        }
        for (int64_t jr = 0; jr < gc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, gc - jr));
          const float* bp = Bbuf + jr * kc;
          float* cbase = Cs + jg + jr;
          for (int64_t ir = 0; ir < m; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, m - ir));
            kernel(kc, Abuf + ir * kc, bp, cbase + ir * ldcs, ldcs, P.alpha, b, mr, nr);
            for (int64_t q = 0; q < pf_per_tile && pf_next < pf_total; ++q, ++pf_next) {
              const int64_t row = pf_next / pf_lines, line = pf_next % pf_lines;
              __builtin_prefetch(pf_base + row * pf_stride + line * 16, 0, 2);
            }
          }
        }
      }
    }
    return;
  }

  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    for (int64_t pc = 0; pc < kk; pc += KC) {
      const int64_t kc = std::min(KC, kk - pc);
      const float b = pc == 0 ? beta : 1.0f;
      pack_b(P, k0 + pc, kc, n0 + jc, nc, Bbuf);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min(MC, m - ic);
        pack_a(P, m0 + ic, mc, k0 + pc, kc, Abuf);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const float* bp = Bbuf + jr * kc;
          float* cbase = Cs + ic * ldcs + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            kernel(kc, Abuf + ir * kc, bp, cbase + ir * ldcs, ldcs, P.alpha, b, mr, nr);
          }
        }
      }
    }
  }
}

// ---- small problems: no packing -------------------------------------------------------------------------------

void gemm_small(const Problem& P) {
  const int64_t M = P.M, N = P.N, K = P.K;
  for (int64_t i = 0; i < M; ++i) {
    float* c = P.C + i * P.ldc;
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        float a = P.ta == Trans::N ? P.A[i * P.lda + k] : P.A[k * P.lda + i];
        float b = P.tb == Trans::N ? P.B[k * P.ldb + j] : P.B[j * P.ldb + k];
        if (P.aoff) a -= P.aoff[k];
        if (P.boff) b -= P.boff[k];
        acc += a * b;
      }
      c[j] = P.beta == 0.0f ? P.alpha * acc : P.alpha * acc + P.beta * c[j];
    }
  }
}

// ---- thread partition ----------------------------------------------------------------------------------------

struct Plan {
  int pm = 1, pn = 1, pk = 1;
};

double plan_cost(const PathConfig& cfg, int64_t M, int64_t N, int64_t K, int pm, int pn, int pk) {
  const int MR = cfg.mr, NR = cfg.nr;
  const int64_t tm = ceil_div(M, MR), tn = ceil_div(N, NR);
  if (pm > tm || pn > tn || pk > K) return 1e300;
  const double m = static_cast<double>(ceil_div(tm, pm) * MR);
  const double n = static_cast<double>(ceil_div(tn, pn) * NR);
  const double k = static_cast<double>(ceil_div(K, pk));
  const double compute = m * n * k;  // MACs on the largest share, padded to whole tiles
  // Packing one element costs roughly as much as ~8 MACs; A is repacked once per NC block.
  const double a_packs = std::ceil(n / cfg.nc);
  const double pack = 8.0 * (m * k * a_packs + k * n);
  const double reduce = pk > 1 ? 4.0 * static_cast<double>(M) * N * (pk - 1) : 0.0;
  return compute + pack + reduce;
}

Plan choose_plan(const PathConfig& cfg, int64_t M, int64_t N, int64_t K, int nt) {
  Plan best;
  double best_cost = 1e301;
  for (int pm = 1; pm <= nt; ++pm) {
    if (nt % pm) continue;
    for (int pn = 1; pn <= nt / pm; ++pn) {
      if ((nt / pm) % pn) continue;
      const int pk = nt / pm / pn;
      const double c = plan_cost(cfg, M, N, K, pm, pn, pk);
      if (c < best_cost) {
        best_cost = c;
        best = {pm, pn, pk};
      }
    }
  }
  return best;
}

void share_range(int64_t n, int64_t unit, int parts, int idx, int64_t* b, int64_t* e) {
  const int64_t units = ceil_div(n, unit);
  const int64_t per = units / parts, extra = units % parts;
  const int64_t ub = idx * per + std::min<int64_t>(idx, extra);
  const int64_t ue = ub + per + (idx < extra ? 1 : 0);
  *b = std::min(n, ub * unit);
  *e = std::min(n, ue * unit);
}

void scale_c(const Problem& P) {
  for (int64_t i = 0; i < P.M; ++i) {
    float* c = P.C + i * P.ldc;
    if (P.beta == 0.0f)
      std::fill(c, c + P.N, 0.0f);
    else if (P.beta != 1.0f)
      for (int64_t j = 0; j < P.N; ++j) c[j] *= P.beta;
  }
}

std::string num(int64_t v) { return std::to_string(v); }

void check_ld(const char* name, int64_t ld, const char* dim_name, int64_t dim, const char* what) {
  if (ld < dim)
    throw Error(Code::InvalidArgument, std::string(name) + " (" + num(ld) + ") must be >= " + dim_name + " (" +
                                           num(dim) + ") for " + what);
}

}  // namespace

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmOptions& opt) {
  if (M < 0) throw Error(Code::InvalidArgument, "M (" + num(M) + ") must be >= 0");
  if (N < 0) throw Error(Code::InvalidArgument, "N (" + num(N) + ") must be >= 0");
  if (K < 0) throw Error(Code::InvalidArgument, "K (" + num(K) + ") must be >= 0");
  if (opt.threads < 0)
    throw Error(Code::InvalidArgument, "threads (" + std::to_string(opt.threads) + ") must be >= 0");
  if (ta == Trans::N)
    check_ld("lda", lda, "K", K, "op(A) = A");
  else
    check_ld("lda", lda, "M", M, "op(A) = A^T");
  if (tb == Trans::N)
    check_ld("ldb", ldb, "N", N, "op(B) = B");
  else
    check_ld("ldb", ldb, "K", K, "op(B) = B^T");
  check_ld("ldc", ldc, "N", N, "C");
  if (M == 0 || N == 0) return;
  if (!C) throw Error(Code::InvalidArgument, "C must not be null");
  const KernelPath path = resolve_path(opt.path);  // throws Unsupported for Avx2 on a CPU without it

  Problem P{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, opt.a_k_offset, opt.b_k_offset,
            g_cfg[path_index(path)]};
  if (K == 0 || alpha == 0.0f) {  // BLAS semantics: op(A) op(B) is not evaluated
    scale_c(P);
    return;
  }
  if (!A) throw Error(Code::InvalidArgument, "A must not be null");
  if (!B) throw Error(Code::InvalidArgument, "B must not be null");

  const double macs = static_cast<double>(M) * N * K;
  // Packing costs O(MK + KN); with a tiny tile count it dominates, so tiny products run unpacked.
  if (macs <= 2048.0 || (M <= 2 && N <= 2)) {
    gemm_small(P);
    return;
  }

  ThreadPool& pool = ThreadPool::global();
  int want = pool.threads_for(opt.threads);
  if (macs < 6e6) want = 1;  // waking pool workers (condition variable) costs more than it saves
  if (want > 1) {
    const Plan p = choose_plan(P.cfg, M, N, K, want);
    want = p.pm * p.pn * p.pk;
  }
  if (want <= 1) {
    gemm_share(P, 0, M, 0, N, 0, K, C, ldc, beta);
    return;
  }

  const Plan plan = choose_plan(P.cfg, M, N, K, want);
  // Partial products of the K slices beyond the first: (pk - 1) dense M x N buffers, reused per caller thread.
  thread_local AlignedBuf t_partial;
  float* partial = plan.pk > 1 ? t_partial.get(static_cast<size_t>((plan.pk - 1) * M * N)) : nullptr;
  bool ran_split = false;

  pool.run(want, [&](int tid, int nt) {
    Plan pl = plan;
    if (nt != want) pl = {1, 1, 1};  // nested region (runs serially): one share
    if (tid == 0) ran_split = nt == want;
    const int ik = tid / (pl.pm * pl.pn);
    const int rest = tid % (pl.pm * pl.pn);
    const int im = rest / pl.pn, in = rest % pl.pn;
    int64_t m0, m1, n0, n1, k0, k1;
    share_range(M, P.cfg.mr, pl.pm, im, &m0, &m1);
    share_range(N, P.cfg.nr, pl.pn, in, &n0, &n1);
    share_range(K, 1, pl.pk, ik, &k0, &k1);
    if (k0 >= k1) return;
    if (ik == 0) {
      gemm_share(P, m0, m1, n0, n1, k0, k1, C + m0 * ldc + n0, ldc, beta);
    } else {
      float* part = partial + (ik - 1) * M * N;
      gemm_share(P, m0, m1, n0, n1, k0, k1, part + m0 * N + n0, N, 0.0f);
    }
  });

  if (plan.pk > 1 && ran_split) {
    for (int s = 1; s < plan.pk; ++s) {
      int64_t k0, k1;
      share_range(K, 1, plan.pk, s, &k0, &k1);
      if (k0 >= k1) continue;
      const float* part = partial + (s - 1) * M * N;
      for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * ldc;
        const float* q = part + i * N;
        for (int64_t j = 0; j < N; ++j) c[j] += q[j];
      }
    }
  }
}

}  // namespace mimic
