// Seeded two-view augmentation (see mimic/augment.h for the semantics and the random scheme).
#include "mimic/augment.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "mimic/threadpool.h"

namespace mimic::augment {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fixed slots of the per-image stream.
constexpr uint64_t kSlotCrop = 0;      // 4 per attempt: area, log-ratio, top, left
constexpr uint64_t kSlotFlip = 1000;
constexpr uint64_t kSlotJitter = 1001;
constexpr uint64_t kSlotPerm = 1002;   // 3 (Fisher-Yates)
constexpr uint64_t kSlotFactor = 1010; // 4
constexpr uint64_t kSlotGray = 1020;

struct Stream {
  uint64_t key;
  double uniform(uint64_t slot) const {  // [0, 1), 53 bits
    return static_cast<double>(mix64(key + (slot + 1) * kGolden) >> 11) * (1.0 / 9007199254740992.0);
  }
  double uniform(uint64_t slot, double lo, double hi) const { return lo + (hi - lo) * uniform(slot); }
  int64_t below(uint64_t slot, int64_t n) const {  // uniform in [0, n)
    int64_t r = static_cast<int64_t>(uniform(slot) * static_cast<double>(n));
    return std::min(r, n - 1);
  }
};

Stream make_stream(uint64_t seed, uint64_t counter, uint32_t view, uint64_t position) {
  uint64_t k = mix64(seed + kGolden);
  k = mix64(k ^ mix64(counter + 2 * kGolden));
  k = mix64(k ^ mix64(static_cast<uint64_t>(view) + 3 * kGolden));
  k = mix64(k ^ mix64(position + 4 * kGolden));
  return {k};
}

// Python's round(): half to even (the default rounding mode of nearbyint).
inline int64_t round_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

inline double clamp01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }

bool range_active(double lo, double hi, double centre) { return !(lo == centre && hi == centre); }

std::string num(double v) { return std::to_string(v); }

// Per-axis bilinear table (PyTorch align_corners=False, no antialias).
struct Axis {
  std::vector<int> i0, i1;
  std::vector<double> l0, l1;
};
Axis make_axis(int in, int out) {
  Axis a;
  a.i0.resize(out);
  a.i1.resize(out);
  a.l0.resize(out);
  a.l1.resize(out);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int d = 0; d < out; ++d) {
    double s = (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    int i = static_cast<int>(s);
    if (i > in - 1) i = in - 1;
    a.i0[d] = i;
    a.i1[d] = i + (i < in - 1 ? 1 : 0);
    a.l1[d] = s - i;
    a.l0[d] = 1.0 - a.l1[d];
  }
  return a;
}

constexpr double kLuma[3] = {0.299, 0.587, 0.114};

void gray_of(const double* x, int64_t hw, double* g) {
  for (int64_t p = 0; p < hw; ++p) g[p] = kLuma[0] * x[p] + kLuma[1] * x[hw + p] + kLuma[2] * x[2 * hw + p];
}

void brightness(double* x, int64_t len, double f) {
  for (int64_t i = 0; i < len; ++i) x[i] = clamp01(f * x[i]);
}

void contrast(double* x, int c, int64_t hw, double f, double* scratch) {
  double mean = 0;
  if (c == 3) {
    gray_of(x, hw, scratch);
    for (int64_t p = 0; p < hw; ++p) mean += scratch[p];
    mean /= static_cast<double>(hw);
  } else {
    for (int64_t p = 0; p < hw; ++p) mean += x[p];
    mean /= static_cast<double>(hw);
  }
  const double b = (1.0 - f) * mean;
  for (int64_t i = 0; i < c * hw; ++i) x[i] = clamp01(f * x[i] + b);
}

void saturation(double* x, int c, int64_t hw, double f, double* g) {
  if (c != 3) return;
  gray_of(x, hw, g);
  for (int ch = 0; ch < 3; ++ch)
    for (int64_t p = 0; p < hw; ++p) x[ch * hw + p] = clamp01(f * x[ch * hw + p] + (1.0 - f) * g[p]);
}

// torchvision's _rgb2hsv, hue shift with remainder, _hsv2rgb.
void hue(double* x, int c, int64_t hw, double shift) {
  if (c != 3) return;
  for (int64_t p = 0; p < hw; ++p) {
    const double r = x[p], g = x[hw + p], b = x[2 * hw + p];
    const double maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
    const bool eqc = maxc == minc;
    const double cr = maxc - minc;
    const double s = cr / (eqc ? 1.0 : maxc);
    const double div = eqc ? 1.0 : cr;
    const double rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    double h;
    if (maxc == r) h = bc - gc;
    else if (maxc == g) h = 2.0 + rc - bc;
    else h = 4.0 + gc - rc;
    h = std::fmod(h / 6.0 + 1.0, 1.0);
    h = h + shift;
    h = h - std::floor(h);  // Python's % 1.0
    if (h >= 1.0) h = 0.0;
    const double v = maxc;
    const double h6 = h * 6.0;
    const double fi = std::floor(h6);
    const double f = h6 - fi;
    int i = static_cast<int>(fi) % 6;
    if (i < 0) i += 6;
    const double pp = clamp01(v * (1.0 - s)), q = clamp01(v * (1.0 - s * f)), t = clamp01(v * (1.0 - s * (1.0 - f)));
    double ro, go, bo;
    switch (i) {
      case 0: ro = v; go = t; bo = pp; break;
      case 1: ro = q; go = v; bo = pp; break;
      case 2: ro = pp; go = v; bo = t; break;
      case 3: ro = pp; go = q; bo = v; break;
      case 4: ro = t; go = pp; bo = v; break;
      default: ro = v; go = pp; bo = q; break;
    }
    x[p] = clamp01(ro);
    x[hw + p] = clamp01(go);
    x[2 * hw + p] = clamp01(bo);
  }
}

Status check_draw(const Images& im, const Draw& d) {
  if (d.height < 1 || d.width < 1 || d.top < 0 || d.left < 0 || d.top + d.height > im.height ||
      d.left + d.width > im.width)
    return {Code::InvalidArgument, "crop box (top " + std::to_string(d.top) + ", left " + std::to_string(d.left) +
                                       ", height " + std::to_string(d.height) + ", width " + std::to_string(d.width) +
                                       ") is not inside the " + std::to_string(im.height) + "x" +
                                       std::to_string(im.width) + " image"};
  if (d.n_ops < 0 || d.n_ops > 4) return {Code::InvalidArgument, "jitter order must have 0 to 4 entries"};
  bool seen[4] = {false, false, false, false};
  for (int k = 0; k < d.n_ops; ++k) {
    if (d.order[k] < 0 || d.order[k] > 3) return {Code::InvalidArgument, "jitter order entries must be 0..3"};
    if (seen[d.order[k]]) return {Code::InvalidArgument, "jitter order repeats op " + std::to_string(d.order[k])};
    seen[d.order[k]] = true;
  }
  if (!std::isfinite(d.brightness) || d.brightness < 0 || !std::isfinite(d.contrast) || d.contrast < 0 ||
      !std::isfinite(d.saturation) || d.saturation < 0)
    return {Code::InvalidArgument, "jitter brightness/contrast/saturation factors must be finite and >= 0"};
  if (!std::isfinite(d.hue) || d.hue < -0.5 || d.hue > 0.5)
    return {Code::InvalidArgument, "jitter hue factor must be in [-0.5, 0.5]"};
  return Status::ok();
}

// One image; buf holds 2 * C * oh * ow doubles of scratch.
void apply_one(const Images& im, int64_t index, const Draw& d, const Config& cfg, float* out,
               std::vector<double>& buf) {
  const int c = im.channels, oh = cfg.out_h, ow = cfg.out_w;
  const int64_t hw = static_cast<int64_t>(oh) * ow;
  buf.resize(static_cast<size_t>(c * hw + hw));
  double* x = buf.data();
  double* scratch = x + c * hw;
  const Axis ay = make_axis(d.height, oh), ax = make_axis(d.width, ow);
  const uint8_t* src = im.pixels + index * static_cast<int64_t>(c) * im.height * im.width;
  for (int ch = 0; ch < c; ++ch) {
    const uint8_t* plane = src + static_cast<int64_t>(ch) * im.height * im.width;
    for (int y = 0; y < oh; ++y) {
      const uint8_t* r0 = plane + static_cast<int64_t>(d.top + ay.i0[y]) * im.width + d.left;
      const uint8_t* r1 = plane + static_cast<int64_t>(d.top + ay.i1[y]) * im.width + d.left;
      const double h0 = ay.l0[y], h1 = ay.l1[y];
      for (int xo = 0; xo < ow; ++xo) {
        const int x0 = ax.i0[xo], x1 = ax.i1[xo];
        const double w0 = ax.l0[xo], w1 = ax.l1[xo];
        double v = h0 * (w0 * r0[x0] + w1 * r0[x1]) + h1 * (w0 * r1[x0] + w1 * r1[x1]);
        if (cfg.round_resize) v = std::min(255.0, std::max(0.0, std::nearbyint(v)));
        const int xd = d.flip ? ow - 1 - xo : xo;
        x[ch * hw + static_cast<int64_t>(y) * ow + xd] = v / 255.0;
      }
    }
  }
  if (d.jitter) {
    for (int k = 0; k < d.n_ops; ++k) {
      switch (d.order[k]) {
        case kBrightness: brightness(x, c * hw, d.brightness); break;
        case kContrast: contrast(x, c, hw, d.contrast, scratch); break;
        case kSaturation: saturation(x, c, hw, d.saturation, scratch); break;
        case kHue: hue(x, c, hw, d.hue); break;
        default: break;
      }
    }
  }
  if (d.gray && c == 3) {
    gray_of(x, hw, scratch);
    for (int ch = 0; ch < 3; ++ch) std::copy(scratch, scratch + hw, x + ch * hw);
  }
  const bool norm = !cfg.mean.empty();
  for (int ch = 0; ch < c; ++ch) {
    const double m = norm ? cfg.mean[ch] : 0.0, is = norm ? 1.0 / cfg.std[ch] : 1.0;
    for (int64_t p = 0; p < hw; ++p) {
      const double v = x[ch * hw + p];
      out[ch * hw + p] = static_cast<float>(norm ? (v - m) * is : v);
    }
  }
}

}  // namespace

Status validate(const Images& im, const Config& cfg) {
  if (im.channels != 1 && im.channels != 3)
    return {Code::InvalidArgument, "channels must be 1 or 3 (got " + std::to_string(im.channels) + ")"};
  if (im.height < 1 || im.width < 1 || im.count < 0) return {Code::InvalidArgument, "image sizes must be positive"};
  if (!im.pixels && im.count > 0) return {Code::InvalidArgument, "pixels is null"};
  if (cfg.out_h < 1 || cfg.out_w < 1 || cfg.out_h > 65536 || cfg.out_w > 65536)
    return {Code::InvalidArgument, "output size must be 1..65536"};
  if (!(cfg.scale_lo > 0 && cfg.scale_lo <= cfg.scale_hi && std::isfinite(cfg.scale_hi)))
    return {Code::InvalidArgument, "scale must satisfy 0 < lo <= hi (got [" + num(cfg.scale_lo) + ", " +
                                       num(cfg.scale_hi) + "])"};
  if (!(cfg.ratio_lo > 0 && cfg.ratio_lo <= cfg.ratio_hi && std::isfinite(cfg.ratio_hi)))
    return {Code::InvalidArgument, "ratio must satisfy 0 < lo <= hi (got [" + num(cfg.ratio_lo) + ", " +
                                       num(cfg.ratio_hi) + "])"};
  if (cfg.crop_attempts < 0 || cfg.crop_attempts > 200)
    return {Code::InvalidArgument, "cropAttempts must be 0..200"};
  for (double p : {cfg.flip_p, cfg.jitter_p, cfg.gray_p})
    if (!(p >= 0 && p <= 1)) return {Code::InvalidArgument, "probabilities must be in [0, 1] (got " + num(p) + ")"};
  auto check_range = [](const char* what, double lo, double hi) -> Status {
    if (!(lo >= 0 && lo <= hi && std::isfinite(hi)))
      return {Code::InvalidArgument, std::string(what) + " range must satisfy 0 <= lo <= hi (got [" + num(lo) +
                                         ", " + num(hi) + "])"};
    return Status::ok();
  };
  for (Status s : {check_range("brightness", cfg.brightness_lo, cfg.brightness_hi),
                   check_range("contrast", cfg.contrast_lo, cfg.contrast_hi),
                   check_range("saturation", cfg.saturation_lo, cfg.saturation_hi)})
    if (!s.is_ok()) return s;
  if (!(cfg.hue_lo >= -0.5 && cfg.hue_lo <= cfg.hue_hi && cfg.hue_hi <= 0.5))
    return {Code::InvalidArgument, "hue range must satisfy -0.5 <= lo <= hi <= 0.5 (got [" + num(cfg.hue_lo) +
                                       ", " + num(cfg.hue_hi) + "])"};
  if (cfg.mean.size() != cfg.std.size())
    return {Code::ShapeMismatch, "mean and std must have the same length"};
  if (!cfg.mean.empty()) {
    if (cfg.mean.size() != static_cast<size_t>(im.channels))
      return {Code::ShapeMismatch, "mean/std have " + std::to_string(cfg.mean.size()) + " entries, the images have " +
                                       std::to_string(im.channels) + " channels"};
    for (size_t i = 0; i < cfg.mean.size(); ++i)
      if (!std::isfinite(cfg.mean[i]) || !std::isfinite(cfg.std[i]) || cfg.std[i] == 0.0)
        return {Code::InvalidArgument, "mean/std must be finite and std non-zero (channel " + std::to_string(i) + ")"};
  }
  return Status::ok();
}

Draw sample(const Config& cfg, int height, int width, uint64_t seed, uint64_t counter, uint32_t view,
            uint64_t position) {
  const Stream st = make_stream(seed, counter, view, position);
  Draw d;
  // RandomResizedCrop.get_params
  const double area = static_cast<double>(height) * width;
  const double lr0 = std::log(cfg.ratio_lo), lr1 = std::log(cfg.ratio_hi);
  bool found = false;
  for (int a = 0; a < cfg.crop_attempts && !found; ++a) {
    const uint64_t s0 = kSlotCrop + 4 * static_cast<uint64_t>(a);
    const double target = area * st.uniform(s0, cfg.scale_lo, cfg.scale_hi);
    const double ar = std::exp(st.uniform(s0 + 1, lr0, lr1));
    const int64_t w = round_even(std::sqrt(target * ar)), h = round_even(std::sqrt(target / ar));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      d.top = static_cast<int>(st.below(s0 + 2, height - h + 1));
      d.left = static_cast<int>(st.below(s0 + 3, width - w + 1));
      d.height = static_cast<int>(h);
      d.width = static_cast<int>(w);
      found = true;
    }
  }
  if (!found) {
    const double in_ratio = static_cast<double>(width) / height;
    int64_t w, h;
    if (in_ratio < cfg.ratio_lo) {
      w = width;
      h = round_even(w / cfg.ratio_lo);
    } else if (in_ratio > cfg.ratio_hi) {
      h = height;
      w = round_even(h * cfg.ratio_hi);
    } else {
      w = width;
      h = height;
    }
    h = std::max<int64_t>(1, std::min<int64_t>(h, height));
    w = std::max<int64_t>(1, std::min<int64_t>(w, width));
    d.top = static_cast<int>((height - h) / 2);
    d.left = static_cast<int>((width - w) / 2);
    d.height = static_cast<int>(h);
    d.width = static_cast<int>(w);
  }
  d.flip = st.uniform(kSlotFlip) < cfg.flip_p;
  d.jitter = st.uniform(kSlotJitter) < cfg.jitter_p;
  if (d.jitter) {
    int perm[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; --i) {  // Fisher-Yates: uniform permutation
      const int j = static_cast<int>(st.below(kSlotPerm + (3 - i), i + 1));
      std::swap(perm[i], perm[j]);
    }
    d.brightness = st.uniform(kSlotFactor + 0, cfg.brightness_lo, cfg.brightness_hi);
    d.contrast = st.uniform(kSlotFactor + 1, cfg.contrast_lo, cfg.contrast_hi);
    d.saturation = st.uniform(kSlotFactor + 2, cfg.saturation_lo, cfg.saturation_hi);
    d.hue = st.uniform(kSlotFactor + 3, cfg.hue_lo, cfg.hue_hi);
    const bool active[4] = {range_active(cfg.brightness_lo, cfg.brightness_hi, 1.0),
                            range_active(cfg.contrast_lo, cfg.contrast_hi, 1.0),
                            range_active(cfg.saturation_lo, cfg.saturation_hi, 1.0),
                            range_active(cfg.hue_lo, cfg.hue_hi, 0.0)};
    d.n_ops = 0;
    for (int k = 0; k < 4; ++k)
      if (active[perm[k]]) d.order[d.n_ops++] = perm[k];
    for (int k = d.n_ops; k < 4; ++k) d.order[k] = -1;
  }
  d.gray = st.uniform(kSlotGray) < cfg.gray_p;
  return d;
}

Status apply(const Images& images, int64_t index, const Draw& draw, const Config& cfg, float* out) {
  return guarded([&] {
    Status s = validate(images, cfg);
    if (!s.is_ok()) throw Error(s.code(), s.message());
    if (index < 0 || index >= images.count)
      throw Error(Code::InvalidArgument, "image index " + std::to_string(index) + " is outside 0.." +
                                             std::to_string(images.count - 1));
    s = check_draw(images, draw);
    if (!s.is_ok()) throw Error(s.code(), s.message());
    std::vector<double> buf;
    apply_one(images, index, draw, cfg, out, buf);
  });
}

Status augment_batch(const Images& images, const int64_t* indices, int64_t n, uint64_t seed, uint64_t counter,
                     uint32_t view, const Config& cfg, float* out, Draw* draws, int threads) {
  return guarded([&] {
    Status s = validate(images, cfg);
    if (!s.is_ok()) throw Error(s.code(), s.message());
    for (int64_t k = 0; k < n; ++k)
      if (indices[k] < 0 || indices[k] >= images.count)
        throw Error(Code::InvalidArgument, "indices[" + std::to_string(k) + "] = " + std::to_string(indices[k]) +
                                               " is outside 0.." + std::to_string(images.count - 1));
    const int64_t per = static_cast<int64_t>(images.channels) * cfg.out_h * cfg.out_w;
    parallel_for(n, threads, [&](int64_t b, int64_t e) {
      std::vector<double> buf;
      for (int64_t k = b; k < e; ++k) {
        const Draw d = sample(cfg, images.height, images.width, seed, counter, view, static_cast<uint64_t>(k));
        if (draws) draws[k] = d;
        apply_one(images, indices[k], d, cfg, out + k * per, buf);
      }
    });
  });
}

Status two_views(const Images& images, const int64_t* indices, int64_t n, uint64_t seed, uint64_t counter,
                 const Config& cfg, float* out1, float* out2, Draw* draws1, Draw* draws2, int threads) {
  Status s = augment_batch(images, indices, n, seed, counter, 1, cfg, out1, draws1, threads);
  if (!s.is_ok()) return s;
  return augment_batch(images, indices, n, seed, counter, 2, cfg, out2, draws2, threads);
}

}  // namespace mimic::augment
