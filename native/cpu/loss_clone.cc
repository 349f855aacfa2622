// Clone loss (mimic/loss.h):  s (B,D), t (B,D) -> L = -(1/B) sum_b <z_S[b], z_T[b]>, ds (B,D)
// One read pass per row (|s|^2, |t|^2, <s,t> in double), one write pass: ds = a t + c s.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mimic/loss.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::loss {

void clone_check(int64_t B, int64_t D) {
  MIMIC_REQUIRE(B >= 1 && D >= 1, Code::InvalidArgument,
                "clone loss: B (" + std::to_string(B) + ") and D (" + std::to_string(D) + ") must be >= 1");
}

double clone_loss(int64_t B, int64_t D, const float* s, const float* t, bool teacher_normalized, float* ds,
                  const Ctx& ctx) {
  clone_check(B, D);
  std::vector<double> row_loss(B);
  const int threads = B * D < (1 << 15) ? 1 : ctx.threads;
  const double invB = 1.0 / static_cast<double>(B);
  parallel_for(B, threads, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* sr = s + r * D;
      const float* tr = t + r * D;
      double ss = 0, tt = 0, st = 0;
      for (int64_t j = 0; j < D; ++j) {
        const double a = sr[j], b = tr[j];
        ss += a * a;
        tt += b * b;
        st += a * b;
      }
      const double norm_s = std::sqrt(ss);
      const double ns = std::max(norm_s, kNormEps);
      const double nt = teacher_normalized ? 1.0 : std::max(std::sqrt(tt), kNormEps);
      const double cosv = st / (ns * nt);
      row_loss[r] = -cosv;
      if (!ds) continue;
      // dL/dz_S = -z_T / B;  dz_S/ds = (I - z_S z_S^T) / ||s||  (||s|| > eps), I / eps otherwise
      float* dr = ds + r * D;
      const float a = static_cast<float>(-invB / (ns * nt));
      const float c = norm_s > kNormEps ? static_cast<float>(invB * cosv / (ns * ns)) : 0.0f;
      for (int64_t j = 0; j < D; ++j) dr[j] = a * tr[j] + c * sr[j];
    }
  });
  double L = 0;
  for (double v : row_loss) L += v;
  return L * invB;
}

}  // namespace mimic::loss
