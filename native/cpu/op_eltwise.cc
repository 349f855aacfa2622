// Elementwise ops and row normalisation (mimic/ops.h):
//   relu: x (n) -> y (n);  backward y, dy -> dx
//   add:  a (n), b (n) -> y (n);  backward dy -> da, db;  add_relu: relu(a + b), backward y, dy -> da, db
//   l2norm: x (N,D) -> y (N,D) = x / max(||x||, eps);  backward x, y, dy -> dx
#include <algorithm>
#include <cmath>
#include <cstring>

#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"
#include "relu_map.h"

namespace mimic::ops {

namespace {
constexpr int64_t kGrain = 1 << 15;  // elementwise work below this runs on the calling thread
int threads_for(int64_t n, int threads) { return n < kGrain ? 1 : threads; }
void check_n(int64_t n, const char* op) {
  MIMIC_REQUIRE(n >= 0, Code::InvalidArgument, std::string(op) + ": n (" + std::to_string(n) + ") must be >= 0");
}

// y[i] = f(x[i]) and out[i] = g(a[i], b[i]) on the pool. The loops copy the captured pointers into locals and take
// f / g by value: with by-reference captures GCC reloaded the pointers on every element and kept a branch, which made
// the ReLU backward a scalar loop (~12% of a training step in perf). As written they vectorise, and stay correct in
// place (x == y), which the network uses.
template <class F>
void map_each(const char* op, int64_t n, int threads, const float* x, float* y, F f) {
  check_n(n, op);
  parallel_for(n, threads_for(n, threads), [x, y, f](int64_t i0, int64_t i1) {
    const float* xs = x;
    float* ys = y;
    for (int64_t i = i0; i < i1; ++i) ys[i] = f(xs[i]);
  });
}

template <class G>
void map_pairs(const char* op, int64_t n, int threads, const float* a, const float* b, float* out, G g) {
  check_n(n, op);
  parallel_for(n, threads_for(n, threads), [a, b, out, g](int64_t i0, int64_t i1) {
    const float* as = a;
    const float* bs = b;
    float* os = out;
    for (int64_t i = i0; i < i1; ++i) os[i] = g(as[i], bs[i]);
  });
}
}  // namespace

void relu_forward(int64_t n, const float* x, float* y, const Ctx& ctx) {
  map_each("relu", n, ctx.threads, x, y, [](float v) { return relu_value(v); });
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx, const Ctx& ctx) {
  map_pairs("relu", n, ctx.threads, y, dy, dx, [](float yv, float g) { return relu_grad(yv, g); });
}

void clip_forward(int64_t n, const float* x, float* y, float lo, float hi, const Ctx& ctx) {
  map_each("clip", n, ctx.threads, x, y, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });  // NaN propagates
}

void clip_backward(int64_t n, const float* x, const float* dy, float* dx, float lo, float hi, const Ctx& ctx) {
  map_pairs("clip", n, ctx.threads, x, dy, dx, [lo, hi](float v, float g) { return v > lo && v < hi ? g : 0.0f; });
}

void silu_forward(int64_t n, const float* x, float* y, const Ctx& ctx) {
  map_each("silu", n, ctx.threads, x, y, [](float v) { return v / (1.0f + std::exp(-v)); });
}

void silu_backward(int64_t n, const float* x, const float* dy, float* dx, const Ctx& ctx) {
  map_pairs("silu", n, ctx.threads, x, dy, dx, [](float v, float g) {
    const float sg = 1.0f / (1.0f + std::exp(-v));
    return g * sg * (1.0f + v * (1.0f - sg));
  });
}

void leaky_relu_forward(int64_t n, const float* x, float* y, float alpha, const Ctx& ctx) {
  map_each("leaky_relu", n, ctx.threads, x, y, [alpha](float v) { return v > 0.0f ? v : alpha * v; });
}

void leaky_relu_backward(int64_t n, const float* x, const float* dy, float* dx, float alpha, const Ctx& ctx) {
  map_pairs("leaky_relu", n, ctx.threads, x, dy, dx, [alpha](float v, float g) { return v > 0.0f ? g : alpha * g; });
}

void add_forward(int64_t n, const float* a, const float* b, float* y, const Ctx& ctx) {
  map_pairs("add", n, ctx.threads, a, b, y, [](float u, float v) { return u + v; });
}

void add_backward(int64_t n, const float* dy, float* da, float* db, const Ctx& ctx) {
  check_n(n, "add");
  parallel_for(n, threads_for(n, ctx.threads), [&](int64_t i0, int64_t i1) {
    if (da && da != dy) std::memcpy(da + i0, dy + i0, sizeof(float) * (i1 - i0));
    if (db && db != dy) std::memcpy(db + i0, dy + i0, sizeof(float) * (i1 - i0));
  });
}

void add_relu_forward(int64_t n, const float* a, const float* b, float* y, const Ctx& ctx) {
  map_pairs("add", n, ctx.threads, a, b, y, [](float u, float v) { return relu_value(u + v); });
}

void add_relu_backward(int64_t n, const float* y, const float* dy, float* da, float* db, const Ctx& ctx) {
  check_n(n, "add");
  if (!da && !db) return;
  float* first = da ? da : db;
  float* second = da && db ? db : nullptr;
  parallel_for(n, threads_for(n, ctx.threads), [y, dy, first, second](int64_t i0, int64_t i1) {
    const float* ys = y;
    const float* ds = dy;
    float* out = first;
    for (int64_t i = i0; i < i1; ++i) out[i] = relu_grad(ys[i], ds[i]);  // elementwise: da may alias dy
    if (second && second != out) std::memcpy(second + i0, out + i0, sizeof(float) * static_cast<size_t>(i1 - i0));
  });
}

namespace {
void check_rows(int64_t n, int64_t d, double eps) {
  MIMIC_REQUIRE(n >= 0 && d >= 1, Code::InvalidArgument,
                "l2norm: N (" + std::to_string(n) + ") must be >= 0 and D (" + std::to_string(d) + ") >= 1");
  MIMIC_REQUIRE(std::isfinite(eps) && eps > 0, Code::InvalidArgument, "l2norm: eps must be > 0");
}
inline double sumsq(const float* x, int64_t d) {
  double a0 = 0, a1 = 0;
  int64_t j = 0;
  for (; j + 2 <= d; j += 2) {
    a0 += static_cast<double>(x[j]) * x[j];
    a1 += static_cast<double>(x[j + 1]) * x[j + 1];
  }
  for (; j < d; ++j) a0 += static_cast<double>(x[j]) * x[j];
  return a0 + a1;
}
}  // namespace

void l2norm_forward(int64_t n, int64_t d, const float* x, float* y, double eps, const Ctx& ctx) {
  check_rows(n, d, eps);
  parallel_for(n, threads_for(n * d, ctx.threads), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sumsq(xr, d)), eps));
      for (int64_t j = 0; j < d; ++j) yr[j] = xr[j] * inv;
    }
  });
}

void l2norm_backward(int64_t n, int64_t d, const float* x, const float* y, const float* dy, float* dx, double eps,
                     const Ctx& ctx) {
  check_rows(n, d, eps);
  parallel_for(n, threads_for(n * d, ctx.threads), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* yr = y + r * d;
      const float* gr = dy + r * d;
      float* dr = dx + r * d;
      const double norm = std::sqrt(sumsq(x + r * d, d));
      if (norm > eps) {
        double ydy = 0;
        for (int64_t j = 0; j < d; ++j) ydy += static_cast<double>(yr[j]) * gr[j];
        const float inv = static_cast<float>(1.0 / norm), p = static_cast<float>(ydy);
        for (int64_t j = 0; j < d; ++j) dr[j] = (gr[j] - yr[j] * p) * inv;
      } else {
        const float inv = static_cast<float>(1.0 / eps);
        for (int64_t j = 0; j < d; ++j) dr[j] = gr[j] * inv;
      }
    }
  });
}

}  // namespace mimic::ops
