// float64 references of the layer ops (mimic/ops_ref.h): direct loops, no cleverness.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "mimic/ops_ref.h"
#include "mimic/status.h"

namespace mimic::ref {

// x (N,C,H,W), w (OC,C/G,KH,KW), b (OC) -> y (N,OC,OH,OW): the defining sum.
void conv2d_forward(const ops::Conv2dShape& s, const double* x, const double* w, const double* b, double* y) {
  ops::conv2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow(), cg = s.c / s.groups, ocg = s.oc / s.groups;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.oc; ++o) {
      const int64_t g = o / ocg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? b[o] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t ih = oh * s.stride_h - s.pad_t + i * s.dil_h, iw = ow * s.stride_w - s.pad_l + j * s.dil_w;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                acc += x[((n * s.c + g * cg + ci) * s.h + ih) * s.w + iw] * w[((o * cg + ci) * s.kh + i) * s.kw + j];
              }
          y[((n * s.oc + o) * OH + oh) * OW + ow] = acc;
        }
    }
}

// The same sum, differentiated term by term.
void conv2d_backward(const ops::Conv2dShape& s, const double* x, const double* w, const double* dy, double* dx,
                     double* dw, double* db) {
  ops::conv2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow(), cg = s.c / s.groups, ocg = s.oc / s.groups;
  if (dx) std::fill(dx, dx + s.n * s.c * s.h * s.w, 0.0);
  if (dw) std::fill(dw, dw + s.oc * cg * s.kh * s.kw, 0.0);
  if (db) std::fill(db, db + s.oc, 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.oc; ++o) {
      const int64_t g = o / ocg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double d = dy[((n * s.oc + o) * OH + oh) * OW + ow];
          if (db) db[o] += d;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t ih = oh * s.stride_h - s.pad_t + i * s.dil_h, iw = ow * s.stride_w - s.pad_l + j * s.dil_w;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                const int64_t xi = ((n * s.c + g * cg + ci) * s.h + ih) * s.w + iw;
                const int64_t wi = ((o * cg + ci) * s.kh + i) * s.kw + j;
                if (dx) dx[xi] += d * w[wi];
                if (dw) dw[wi] += d * x[xi];
              }
        }
    }
}

void batchnorm_forward(const ops::BatchNormShape& s, ops::BnMode mode, const double* x, const double* gamma,
                       const double* beta, double* running_mean, double* running_var, double* y, double* save_mean,
                       double* save_invstd) {
  ops::batchnorm_check(s, mode);
  const double M = static_cast<double>(s.n * s.s);
  for (int64_t c = 0; c < s.c; ++c) {
    double mean, invstd;
    if (mode == ops::BnMode::Train) {
      double sum = 0;
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t i = 0; i < s.s; ++i) sum += x[(n * s.c + c) * s.s + i];
      mean = sum / M;
      double sq = 0;
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t i = 0; i < s.s; ++i) {
          const double d = x[(n * s.c + c) * s.s + i] - mean;
          sq += d * d;
        }
      const double var = sq / M;
      invstd = 1.0 / std::sqrt(var + s.eps);
      if (running_mean) running_mean[c] = (1 - s.momentum) * running_mean[c] + s.momentum * mean;
      if (running_var) running_var[c] = (1 - s.momentum) * running_var[c] + s.momentum * (sq / (M - 1));
    } else {
      mean = running_mean[c];
      invstd = 1.0 / std::sqrt(running_var[c] + s.eps);
    }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    const double g = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.s; ++i) {
        const int64_t k = (n * s.c + c) * s.s + i;
        y[k] = (x[k] - mean) * invstd * g + bt;
      }
  }
}

void batchnorm_backward(const ops::BatchNormShape& s, ops::BnMode mode, const double* x, const double* gamma,
                        const double* save_mean, const double* save_invstd, const double* dy, double* dx,
                        double* dgamma, double* dbeta) {
  ops::batchnorm_check(s, mode);
  const double M = static_cast<double>(s.n * s.s);
  for (int64_t c = 0; c < s.c; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c], g = gamma ? gamma[c] : 1.0;
    double sdy = 0, sdyx = 0;  // sum dy, sum dy * xhat
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.s; ++i) {
        const int64_t k = (n * s.c + c) * s.s + i;
        sdy += dy[k];
        sdyx += dy[k] * (x[k] - mean) * invstd;
      }
    const bool frozen = mode == ops::BnMode::Frozen;
    if (dgamma) dgamma[c] = frozen ? 0.0 : sdyx;
    if (dbeta) dbeta[c] = frozen ? 0.0 : sdy;
    if (!dx) continue;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.s; ++i) {
        const int64_t k = (n * s.c + c) * s.s + i;
        if (mode == ops::BnMode::Train) {
          const double xhat = (x[k] - mean) * invstd;
          dx[k] = g * invstd * (dy[k] - sdy / M - xhat * sdyx / M);
        } else {
          dx[k] = g * invstd * dy[k];
        }
      }
  }
}

void relu_forward(int64_t n, const double* x, double* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] <= 0 ? 0.0 : x[i];
}
void relu_backward(int64_t n, const double* y, const double* dy, double* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0 ? dy[i] : 0.0;
}
void add_forward(int64_t n, const double* a, const double* b, double* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void add_backward(int64_t n, const double* dy, double* da, double* db) {
  for (int64_t i = 0; i < n; ++i) {
    if (da) da[i] = dy[i];
    if (db) db[i] = dy[i];
  }
}

namespace {
// Visits every pool window: fn(plane, oh, ow, h0, h1, w0, w1, divisor) with [h0,h1) x [w0,w1) the real
// elements and divisor the average pool's count.
template <class Fn>
void for_windows(const ops::Pool2dShape& s, Fn fn) {
  const int64_t OH = s.oh(), OW = s.ow();
  for (int64_t p = 0; p < s.n * s.c; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t h0 = oh * s.stride_h - s.pad_t, w0 = ow * s.stride_w - s.pad_l;
        int64_t h1 = std::min(h0 + s.kh, s.h + s.pad_b), w1 = std::min(w0 + s.kw, s.w + s.pad_r);
        const int64_t padded = (h1 - h0) * (w1 - w0);
        h0 = std::max<int64_t>(h0, 0);
        w0 = std::max<int64_t>(w0, 0);
        h1 = std::min(h1, s.h);
        w1 = std::min(w1, s.w);
        const int64_t divisor = s.count_include_pad ? padded : (h1 - h0) * (w1 - w0);
        fn(p, oh, ow, h0, h1, w0, w1, divisor);
      }
}
}  // namespace

// The first maximum of a window (the first NaN, if any, wins: NaN propagates as in PyTorch).
static int64_t window_argmax(const ops::Pool2dShape& s, const double* x, int64_t p, int64_t h0, int64_t h1,
                             int64_t w0, int64_t w1) {
  int64_t arg = (p * s.h + h0) * s.w + w0;
  for (int64_t i = h0; i < h1; ++i)
    for (int64_t j = w0; j < w1; ++j) {
      const int64_t k = (p * s.h + i) * s.w + j;
      if (std::isnan(x[arg])) return arg;
      if (x[k] > x[arg] || std::isnan(x[k])) arg = k;
    }
  return arg;
}

void maxpool2d_forward(const ops::Pool2dShape& s, const double* x, double* y) {
  ops::pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  for_windows(s, [&](int64_t p, int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t) {
    y[(p * OH + oh) * OW + ow] = x[window_argmax(s, x, p, h0, h1, w0, w1)];
  });
}

void maxpool2d_backward(const ops::Pool2dShape& s, const double* x, const double* dy, double* dx) {
  ops::pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  std::fill(dx, dx + s.n * s.c * s.h * s.w, 0.0);
  for_windows(s, [&](int64_t p, int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t) {
    dx[window_argmax(s, x, p, h0, h1, w0, w1)] += dy[(p * OH + oh) * OW + ow];
  });
}

void avgpool2d_forward(const ops::Pool2dShape& s, const double* x, double* y) {
  ops::pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  for_windows(s, [&](int64_t p, int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t div) {
    double acc = 0;
    for (int64_t i = h0; i < h1; ++i)
      for (int64_t j = w0; j < w1; ++j) acc += x[(p * s.h + i) * s.w + j];
    y[(p * OH + oh) * OW + ow] = acc / static_cast<double>(div);
  });
}

void avgpool2d_backward(const ops::Pool2dShape& s, const double* dy, double* dx) {
  ops::pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  std::fill(dx, dx + s.n * s.c * s.h * s.w, 0.0);
  for_windows(s, [&](int64_t p, int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t div) {
    const double g = dy[(p * OH + oh) * OW + ow] / static_cast<double>(div);
    for (int64_t i = h0; i < h1; ++i)
      for (int64_t j = w0; j < w1; ++j) dx[(p * s.h + i) * s.w + j] += g;
  });
}

void global_avgpool_forward(int64_t n, int64_t c, int64_t s, const double* x, double* y) {
  for (int64_t p = 0; p < n * c; ++p) {
    double acc = 0;
    for (int64_t i = 0; i < s; ++i) acc += x[p * s + i];
    y[p] = acc / static_cast<double>(s);
  }
}
void global_avgpool_backward(int64_t n, int64_t c, int64_t s, const double* dy, double* dx) {
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t i = 0; i < s; ++i) dx[p * s + i] = dy[p] / static_cast<double>(s);
}

namespace {
double wat(const ops::LinearShape& s, const double* w, int64_t o, int64_t i) {
  return s.trans_w ? w[o * s.in + i] : w[i * s.out + o];
}
}  // namespace

void linear_forward(const ops::LinearShape& s, const double* x, const double* w, const double* b, double* y) {
  for (int64_t r = 0; r < s.n; ++r)
    for (int64_t o = 0; o < s.out; ++o) {
      double acc = b ? b[o] : 0.0;
      for (int64_t i = 0; i < s.in; ++i) acc += x[r * s.in + i] * wat(s, w, o, i);
      y[r * s.out + o] = acc;
    }
}

void linear_backward(const ops::LinearShape& s, const double* x, const double* w, const double* dy, double* dx,
                     double* dw, double* db) {
  if (dx) std::fill(dx, dx + s.n * s.in, 0.0);
  if (dw) std::fill(dw, dw + s.in * s.out, 0.0);
  if (db) std::fill(db, db + s.out, 0.0);
  for (int64_t r = 0; r < s.n; ++r)
    for (int64_t o = 0; o < s.out; ++o) {
      const double d = dy[r * s.out + o];
      if (db) db[o] += d;
      for (int64_t i = 0; i < s.in; ++i) {
        if (dx) dx[r * s.in + i] += d * wat(s, w, o, i);
        if (dw) dw[s.trans_w ? o * s.in + i : i * s.out + o] += d * x[r * s.in + i];
      }
    }
}

void matmul_forward(const ops::MatMulShape& s, const double* a, const double* b, double* y) {
  for (int64_t q = 0; q < s.batch; ++q) {
    const double* A = a + q * s.m * s.k;
    const double* B = b + (s.b_broadcast ? 0 : q * s.k * s.n);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < s.k; ++p) acc += A[i * s.k + p] * B[p * s.n + j];
        y[(q * s.m + i) * s.n + j] = acc;
      }
  }
}

void matmul_backward(const ops::MatMulShape& s, const double* a, const double* b, const double* dy, double* da,
                     double* db) {
  if (da) std::fill(da, da + s.batch * s.m * s.k, 0.0);
  if (db) std::fill(db, db + (s.b_broadcast ? 1 : s.batch) * s.k * s.n, 0.0);
  for (int64_t q = 0; q < s.batch; ++q) {
    const int64_t bo = s.b_broadcast ? 0 : q * s.k * s.n;
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        const double d = dy[(q * s.m + i) * s.n + j];
        for (int64_t p = 0; p < s.k; ++p) {
          if (da) da[(q * s.m + i) * s.k + p] += d * b[bo + p * s.n + j];
          if (db) db[bo + p * s.n + j] += d * a[(q * s.m + i) * s.k + p];
        }
      }
  }
}

void l2norm_forward(int64_t n, int64_t d, const double* x, double* y, double eps) {
  for (int64_t r = 0; r < n; ++r) {
    double sq = 0;
    for (int64_t j = 0; j < d; ++j) sq += x[r * d + j] * x[r * d + j];
    const double den = std::max(std::sqrt(sq), eps);
    for (int64_t j = 0; j < d; ++j) y[r * d + j] = x[r * d + j] / den;
  }
}

// y_j = x_j / ||x||:  dy_j/dx_k = (delta_jk - y_j y_k) / ||x||;  below eps the denominator is the constant eps.
void l2norm_backward(int64_t n, int64_t d, const double* x, const double* y, const double* dy, double* dx,
                     double eps) {
  for (int64_t r = 0; r < n; ++r) {
    double sq = 0, ydy = 0;
    for (int64_t j = 0; j < d; ++j) {
      sq += x[r * d + j] * x[r * d + j];
      ydy += y[r * d + j] * dy[r * d + j];
    }
    const double norm = std::sqrt(sq);
    for (int64_t j = 0; j < d; ++j)
      dx[r * d + j] = norm > eps ? (dy[r * d + j] - y[r * d + j] * ydy) / norm : dy[r * d + j] / eps;
  }
}

}  // namespace mimic::ref
