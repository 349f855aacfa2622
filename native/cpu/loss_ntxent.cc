// NT-Xent (mimic/loss.h):  u (N = 2B, D) -> L, du (N, D)
//   z = normalise(u) (N,D);  S = z z^T / tau (N,N) by sgemm;  per row: max-shifted log-sum-exp over k != i,
//   loss_i, and G_ik = dL/dS_ik = (softmax_ik - [k == pos(i)]) / N written over S;
//   dz = (G + G^T) z / tau (two sgemm calls into du);  du = l2norm backward of dz, in place.
// Scratch: z (N,D), S (N,N), per-row norms and losses.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mimic/gemm.h"
#include "mimic/loss.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::loss {

void ntxent_check(int64_t B, int64_t D, double tau) {
  MIMIC_REQUIRE(B >= 1 && D >= 1, Code::InvalidArgument,
                "NT-Xent: B (" + std::to_string(B) + ") and D (" + std::to_string(D) + ") must be >= 1");
  MIMIC_REQUIRE(std::isfinite(tau) && tau > 0, Code::InvalidArgument, "NT-Xent: tau must be finite and > 0");
}

double ntxent_loss(int64_t B, int64_t D, const float* u, double tau, float* du, const Ctx& ctx) {
  ntxent_check(B, D, tau);
  const int64_t N = 2 * B;
  std::vector<float> z(N * D), S(N * N);
  std::vector<double> norm(N), row_loss(N);
  const int threads = N * D < (1 << 14) ? 1 : ctx.threads;
  parallel_for(N, threads, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double sq = 0;
      for (int64_t j = 0; j < D; ++j) sq += static_cast<double>(u[r * D + j]) * u[r * D + j];
      norm[r] = std::sqrt(sq);
      const float inv = static_cast<float>(1.0 / std::max(norm[r], kNormEps));
      for (int64_t j = 0; j < D; ++j) z[r * D + j] = u[r * D + j] * inv;
    }
  });
  GemmOptions opt;
  opt.threads = N * N * D < (1 << 18) ? 1 : ctx.threads;
  opt.path = ctx.path;
  const float inv_tau = static_cast<float>(1.0 / tau);
  sgemm(Trans::N, Trans::T, N, N, D, inv_tau, z.data(), D, z.data(), D, 0.0f, S.data(), N, opt);

  const double inv_N = 1.0 / static_cast<double>(N);
  parallel_for(N, N * N < (1 << 14) ? 1 : ctx.threads, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* s = S.data() + i * N;
      const int64_t pos = (i + B) % N;
      float m = -INFINITY;
      for (int64_t k = 0; k < N; ++k)
        if (k != i) m = std::max(m, s[k]);
      double sum = 0;
      for (int64_t k = 0; k < N; ++k)
        if (k != i) sum += std::exp(static_cast<double>(s[k] - m));
      const double lse = m + std::log(sum);
      row_loss[i] = lse - s[pos];
      if (!du) continue;
      for (int64_t k = 0; k < N; ++k)
        s[k] = k == i ? 0.0f
                      : static_cast<float>((std::exp(static_cast<double>(s[k]) - lse) - (k == pos ? 1.0 : 0.0)) * inv_N);
    }
  });
  double L = 0;
  for (double v : row_loss) L += v;
  L *= inv_N;
  if (!du) return L;

  // dz = (G z + G^T z) / tau, into du
  sgemm(Trans::N, Trans::N, N, D, N, inv_tau, S.data(), N, z.data(), D, 0.0f, du, D, opt);
  sgemm(Trans::T, Trans::N, N, D, N, inv_tau, S.data(), N, z.data(), D, 1.0f, du, D, opt);
  // du = (dz - z <z, dz>) / ||u||  (||u|| > eps), dz / eps otherwise
  parallel_for(N, threads, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* dr = du + r * D;
      const float* zr = z.data() + r * D;
      if (norm[r] > kNormEps) {
        double zd = 0;
        for (int64_t j = 0; j < D; ++j) zd += static_cast<double>(zr[j]) * dr[j];
        const float inv = static_cast<float>(1.0 / norm[r]), p = static_cast<float>(zd);
        for (int64_t j = 0; j < D; ++j) dr[j] = (dr[j] - zr[j] * p) * inv;
      } else {
        const float inv = static_cast<float>(1.0 / kNormEps);
        for (int64_t j = 0; j < D; ++j) dr[j] *= inv;
      }
    }
  });
  return L;
}

}  // namespace mimic::loss
