// Linear / Gemm and MatMul (mimic/ops.h), all through the engine's SGEMM:
//   linear: x (N,IN), w (OUT,IN) [trans_w] or (IN,OUT), b (OUT) -> y (N,OUT)
//           backward: dx = dy op(w)^T, dw = dy^T x [trans_w] or x^T dy, db = column sums of dy
//   matmul: a (B,M,K), b (B,K,N) or (K,N) -> y (B,M,N);  backward: da = dy b^T, db = a^T dy (summed if broadcast)
#include <string>

#include "mimic/gemm.h"
#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::ops {

namespace {
void check_linear(const LinearShape& s) {
  MIMIC_REQUIRE(s.n >= 0 && s.in >= 1 && s.out >= 1, Code::InvalidArgument,
                "linear: N (" + std::to_string(s.n) + ") must be >= 0, IN (" + std::to_string(s.in) + ") and OUT (" +
                    std::to_string(s.out) + ") >= 1");
}
void check_matmul(const MatMulShape& s) {
  MIMIC_REQUIRE(s.batch >= 1 && s.m >= 1 && s.k >= 1 && s.n >= 1, Code::InvalidArgument,
                "matmul: batch, M, K and N must be >= 1");
}
}  // namespace

void linear_forward(const LinearShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx) {
  check_linear(s);
  const GemmOptions g{ctx.threads, ctx.path};
  if (s.trans_w)
    sgemm(Trans::N, Trans::T, s.n, s.out, s.in, 1.0f, x, s.in, w, s.in, 0.0f, y, s.out, g);
  else
    sgemm(Trans::N, Trans::N, s.n, s.out, s.in, 1.0f, x, s.in, w, s.out, 0.0f, y, s.out, g);
  if (b)
    for (int64_t r = 0; r < s.n; ++r)
      for (int64_t o = 0; o < s.out; ++o) y[r * s.out + o] += b[o];
}

void linear_backward(const LinearShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, const Ctx& ctx) {
  check_linear(s);
  const GemmOptions g{ctx.threads, ctx.path};
  if (dx) {  // (N x OUT) * op(w)^T
    if (s.trans_w)
      sgemm(Trans::N, Trans::N, s.n, s.in, s.out, 1.0f, dy, s.out, w, s.in, 0.0f, dx, s.in, g);
    else
      sgemm(Trans::N, Trans::T, s.n, s.in, s.out, 1.0f, dy, s.out, w, s.out, 0.0f, dx, s.in, g);
  }
  if (dw) {
    if (s.trans_w)  // (OUT x N) * (N x IN)
      sgemm(Trans::T, Trans::N, s.out, s.in, s.n, 1.0f, dy, s.out, x, s.in, 0.0f, dw, s.in, g);
    else  // (IN x N) * (N x OUT)
      sgemm(Trans::T, Trans::N, s.in, s.out, s.n, 1.0f, x, s.in, dy, s.out, 0.0f, dw, s.out, g);
  }
  if (db) {
    parallel_for(s.out, s.n * s.out < (1 << 15) ? 1 : ctx.threads, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double acc = 0;
        for (int64_t r = 0; r < s.n; ++r) acc += dy[r * s.out + o];
        db[o] = static_cast<float>(acc);
      }
    });
  }
}

void matmul_forward(const MatMulShape& s, const float* a, const float* b, float* y, const Ctx& ctx) {
  check_matmul(s);
  const GemmOptions g{ctx.threads, ctx.path};
  if (s.b_broadcast) {  // one GEMM: (B*M x K) * (K x N)
    sgemm(Trans::N, Trans::N, s.batch * s.m, s.n, s.k, 1.0f, a, s.k, b, s.n, 0.0f, y, s.n, g);
    return;
  }
  for (int64_t q = 0; q < s.batch; ++q)
    sgemm(Trans::N, Trans::N, s.m, s.n, s.k, 1.0f, a + q * s.m * s.k, s.k, b + q * s.k * s.n, s.n, 0.0f,
          y + q * s.m * s.n, s.n, g);
}

void matmul_backward(const MatMulShape& s, const float* a, const float* b, const float* dy, float* da, float* db,
                     const Ctx& ctx) {
  check_matmul(s);
  const GemmOptions g{ctx.threads, ctx.path};
  if (s.b_broadcast) {
    if (da) sgemm(Trans::N, Trans::T, s.batch * s.m, s.k, s.n, 1.0f, dy, s.n, b, s.n, 0.0f, da, s.k, g);
    if (db) sgemm(Trans::T, Trans::N, s.k, s.n, s.batch * s.m, 1.0f, a, s.k, dy, s.n, 0.0f, db, s.n, g);
    return;
  }
  for (int64_t q = 0; q < s.batch; ++q) {
    const float* A = a + q * s.m * s.k;
    const float* B = b + q * s.k * s.n;
    const float* D = dy + q * s.m * s.n;
    if (da) sgemm(Trans::N, Trans::T, s.m, s.k, s.n, 1.0f, D, s.n, B, s.n, 0.0f, da + q * s.m * s.k, s.k, g);
    if (db) sgemm(Trans::T, Trans::N, s.k, s.n, s.m, 1.0f, A, s.k, D, s.n, 0.0f, db + q * s.k * s.n, s.n, g);
  }
}

}  // namespace mimic::ops
