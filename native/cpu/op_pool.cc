// Pooling (mimic/ops.h) and the shape-only ops:
//   maxpool2d / avgpool2d: x (N,C,H,W) -> y (N,C,OH,OW);  backward -> dx (N,C,H,W)
//   global_avgpool: x (N,C,S) -> y (N,C);  backward dy -> dx
//   flatten_shape / reshape_shape: output shapes only (the data does not move)
// Planes (n, c) are split over the threads; each owns its output and its dx plane.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "mimic/ops.h"
#include "mimic/status.h"
#include "mimic/threadpool.h"

namespace mimic::ops {

namespace {
std::string num(int64_t v) { return std::to_string(v); }

int64_t pool_out(int64_t in, int64_t pad0, int64_t pad1, int64_t k, int64_t stride, bool ceil_mode) {
  const int64_t span = in + pad0 + pad1 - k;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad0) --out;  // the last window must start inside the input
  return out;
}

// The window of output (oh, ow): real elements [h0,h1) x [w0,w1) and the average's divisor.
struct Window {
  int64_t h0, h1, w0, w1, divisor;
};
inline Window window(const Pool2dShape& s, int64_t oh, int64_t ow) {
  Window r;
  r.h0 = oh * s.stride_h - s.pad_t;
  r.w0 = ow * s.stride_w - s.pad_l;
  r.h1 = std::min(r.h0 + s.kh, s.h + s.pad_b);
  r.w1 = std::min(r.w0 + s.kw, s.w + s.pad_r);
  const int64_t padded = (r.h1 - r.h0) * (r.w1 - r.w0);
  r.h0 = std::max<int64_t>(r.h0, 0);
  r.w0 = std::max<int64_t>(r.w0, 0);
  r.h1 = std::min(r.h1, s.h);
  r.w1 = std::min(r.w1, s.w);
  r.divisor = s.count_include_pad ? padded : (r.h1 - r.h0) * (r.w1 - r.w0);
  return r;
}

// Index within the plane of the window's first maximum (the first NaN wins).
inline int64_t argmax(const Pool2dShape& s, const float* plane, const Window& r) {
  int64_t arg = r.h0 * s.w + r.w0;
  float best = plane[arg];
  for (int64_t i = r.h0; i < r.h1; ++i) {
    const float* row = plane + i * s.w;
    for (int64_t j = r.w0; j < r.w1; ++j) {
      if (std::isnan(best)) return arg;
      if (row[j] > best || std::isnan(row[j])) {
        best = row[j];
        arg = i * s.w + j;
      }
    }
  }
  return arg;
}

int plane_threads(const Pool2dShape& s, int threads) { return s.n * s.c * s.h * s.w < (1 << 14) ? 1 : threads; }
}  // namespace

int64_t Pool2dShape::oh() const { return pool_out(h, pad_t, pad_b, kh, stride_h, ceil_mode); }
int64_t Pool2dShape::ow() const { return pool_out(w, pad_l, pad_r, kw, stride_w, ceil_mode); }

void pool2d_check(const Pool2dShape& s) {
  auto pos = [](int64_t v, const char* name) {
    MIMIC_REQUIRE(v >= 1, Code::InvalidArgument, std::string("pool2d: ") + name + " (" + num(v) + ") must be >= 1");
  };
  pos(s.n, "N");
  pos(s.c, "C");
  pos(s.h, "H");
  pos(s.w, "W");
  pos(s.kh, "KH");
  pos(s.kw, "KW");
  pos(s.stride_h, "stride_h");
  pos(s.stride_w, "stride_w");
  const int64_t pads[4] = {s.pad_t, s.pad_l, s.pad_b, s.pad_r};
  const char* names[4] = {"pad_top", "pad_left", "pad_bottom", "pad_right"};
  for (int i = 0; i < 4; ++i)
    MIMIC_REQUIRE(pads[i] >= 0 && pads[i] < (i % 2 == 0 ? s.kh : s.kw), Code::InvalidArgument,
                  std::string("pool2d: ") + names[i] + " (" + num(pads[i]) + ") must be in [0, kernel)");
  MIMIC_REQUIRE(s.h + s.pad_t + s.pad_b >= s.kh && s.w + s.pad_l + s.pad_r >= s.kw, Code::InvalidArgument,
                "pool2d: the kernel (" + num(s.kh) + "x" + num(s.kw) + ") is larger than the padded input");
}

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, const Ctx& ctx) {
  pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  parallel_for(s.n * s.c, plane_threads(s, ctx.threads), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = x + p * s.h * s.w;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) y[(p * OH + oh) * OW + ow] = plane[argmax(s, plane, window(s, oh, ow))];
    }
  });
}

void maxpool2d_backward(const Pool2dShape& s, const float* x, const float* dy, float* dx, const Ctx& ctx) {
  pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  parallel_for(s.n * s.c, plane_threads(s, ctx.threads), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = x + p * s.h * s.w;
      float* d = dx + p * s.h * s.w;
      std::memset(d, 0, sizeof(float) * s.h * s.w);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) d[argmax(s, plane, window(s, oh, ow))] += dy[(p * OH + oh) * OW + ow];
    }
  });
}

void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y, const Ctx& ctx) {
  pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  parallel_for(s.n * s.c, plane_threads(s, ctx.threads), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = x + p * s.h * s.w;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const Window r = window(s, oh, ow);
          float acc = 0;
          for (int64_t i = r.h0; i < r.h1; ++i)
            for (int64_t j = r.w0; j < r.w1; ++j) acc += plane[i * s.w + j];
          y[(p * OH + oh) * OW + ow] = acc / static_cast<float>(r.divisor);
        }
    }
  });
}

void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx, const Ctx& ctx) {
  pool2d_check(s);
  const int64_t OH = s.oh(), OW = s.ow();
  parallel_for(s.n * s.c, plane_threads(s, ctx.threads), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* d = dx + p * s.h * s.w;
      std::memset(d, 0, sizeof(float) * s.h * s.w);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const Window r = window(s, oh, ow);
          const float g = dy[(p * OH + oh) * OW + ow] / static_cast<float>(r.divisor);
          for (int64_t i = r.h0; i < r.h1; ++i)
            for (int64_t j = r.w0; j < r.w1; ++j) d[i * s.w + j] += g;
        }
    }
  });
}

void global_avgpool_forward(int64_t n, int64_t c, int64_t s, const float* x, float* y, const Ctx& ctx) {
  MIMIC_REQUIRE(n >= 0 && c >= 1 && s >= 1, Code::InvalidArgument, "global_avgpool: C and S must be >= 1");
  parallel_for(n * c, n * c * s < (1 << 14) ? 1 : ctx.threads, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* r = x + p * s;
      double acc = 0;
      for (int64_t i = 0; i < s; ++i) acc += r[i];
      y[p] = static_cast<float>(acc / static_cast<double>(s));
    }
  });
}

void global_avgpool_backward(int64_t n, int64_t c, int64_t s, const float* dy, float* dx, const Ctx& ctx) {
  MIMIC_REQUIRE(n >= 0 && c >= 1 && s >= 1, Code::InvalidArgument, "global_avgpool: C and S must be >= 1");
  parallel_for(n * c, n * c * s < (1 << 14) ? 1 : ctx.threads, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float g = static_cast<float>(dy[p] / static_cast<double>(s));
      for (int64_t i = 0; i < s; ++i) dx[p * s + i] = g;
    }
  });
}

std::vector<int64_t> flatten_shape(const std::vector<int64_t>& shape, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  MIMIC_REQUIRE(axis >= -rank && axis <= rank, Code::InvalidArgument,
                "flatten: axis (" + num(axis) + ") must be in [" + num(-rank) + ", " + num(rank) + "]");
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    MIMIC_REQUIRE(shape[i] >= 0, Code::InvalidArgument, "flatten: negative dimension");
    (i < axis ? outer : inner) *= shape[i];
  }
  return {outer, inner};
}

std::vector<int64_t> reshape_shape(const std::vector<int64_t>& shape, const std::vector<int64_t>& spec,
                                   bool allowzero) {
  int64_t total = 1;
  for (int64_t d : shape) {
    MIMIC_REQUIRE(d >= 0, Code::InvalidArgument, "reshape: negative input dimension");
    total *= d;
  }
  std::vector<int64_t> out(spec.size());
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      MIMIC_REQUIRE(infer < 0, Code::InvalidArgument, "reshape: more than one -1 in the shape");
      infer = static_cast<int64_t>(i);
      continue;
    }
    MIMIC_REQUIRE(d >= 0, Code::InvalidArgument, "reshape: dimension " + num(d) + " at " + num(i) + " is invalid");
    if (d == 0 && !allowzero) {
      MIMIC_REQUIRE(i < shape.size(), Code::InvalidArgument,
                    "reshape: 0 at " + num(i) + " copies an input dimension the input does not have");
      d = shape[i];
    }
    out[i] = d;
    known *= d;
  }
  if (infer >= 0) {
    MIMIC_REQUIRE(known > 0 && total % known == 0, Code::ShapeMismatch,
                  "reshape: cannot infer the -1 dimension (" + num(total) + " elements, the rest multiply to " +
                      num(known) + ")");
    out[infer] = total / known;
    known *= out[infer];
  }
  MIMIC_REQUIRE(known == total, Code::ShapeMismatch,
                "reshape: " + num(total) + " elements cannot take a shape of " + num(known));
  return out;
}

}  // namespace mimic::ops
