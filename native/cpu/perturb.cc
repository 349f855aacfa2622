// Seeded perturbation families (see mimic/perturb.h for the semantics and the random scheme).
#include "mimic/perturb.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "mimic/threadpool.h"

namespace mimic::perturb {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fixed slots of the per-image stream.
constexpr uint64_t kSlotBlendGate = 0, kSlotAlpha = 1, kSlotPartner = 2;
constexpr uint64_t kSlotPatchGate = 10;
constexpr uint64_t kSlotNoiseGate = 20, kSlotNoiseKind = 21, kSlotPeriod = 22, kSlotPhaseY = 23, kSlotPhaseX = 24;
constexpr uint64_t kSlotPatch = 100;  // + 8 j + {0 side, 1 top, 2 left, 3 fill, 4..6 levels}
constexpr uint64_t kTextureStride = 1ull << 40;

inline int64_t below(uint64_t key, uint64_t slot, int64_t m) {
  const int64_t r = static_cast<int64_t>(uniform(key, slot) * static_cast<double>(m));
  return std::min(r, m - 1);
}

inline double clamp01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }

std::string num(double v) { return std::to_string(v); }

// One image; buf holds C * H * W doubles of scratch.
void apply_one(const float* views, const Shape& sh, int64_t k, const Draw& d, const Config& cfg, float* out,
               std::vector<double>& buf) {
  const int c = sh.c, h = sh.h, w = sh.w;
  const int64_t hw = static_cast<int64_t>(h) * w, per = c * hw;
  const float* src = views + k * per;
  float* dst = out + k * per;
  if (!d.blend && !d.patch && !d.noise) {
    std::memcpy(dst, src, static_cast<size_t>(per) * sizeof(float));
    return;
  }
  const bool norm = !cfg.mean.empty();
  buf.resize(static_cast<size_t>(per));
  double* x = buf.data();
  for (int ch = 0; ch < c; ++ch) {
    const double m = norm ? cfg.mean[ch] : 0.0, s = norm ? cfg.std[ch] : 1.0;
    for (int64_t p = 0; p < hw; ++p) x[ch * hw + p] = static_cast<double>(src[ch * hw + p]) * s + m;
  }
  if (d.blend) {
    const float* q = views + d.partner * per;
    const double a = d.alpha, b = 1.0 - d.alpha;
    for (int ch = 0; ch < c; ++ch) {
      const double m = norm ? cfg.mean[ch] : 0.0, s = norm ? cfg.std[ch] : 1.0;
      for (int64_t p = 0; p < hw; ++p) x[ch * hw + p] = b * x[ch * hw + p] + a * (static_cast<double>(q[ch * hw + p]) * s + m);
    }
  }
  if (d.patch) {
    for (size_t j = 0; j < d.patches.size(); ++j) {
      const Patch& pt = d.patches[j];
      const int sz = pt.size;
      const uint64_t tbase = kTextureBase + j * kTextureStride;
      for (int ch = 0; ch < c; ++ch)
        for (int y = 0; y < sz; ++y) {
          double* row = x + ch * hw + static_cast<int64_t>(pt.top + y) * w + pt.left;
          if (pt.fill == kTexture) {
            const uint64_t s0 = tbase + (static_cast<uint64_t>(ch) * sz + y) * sz;
            for (int xx = 0; xx < sz; ++xx) row[xx] = uniform(d.key, s0 + xx);
          } else {
            const double v = pt.level[pt.fill == kGray ? 0 : ch];
            for (int xx = 0; xx < sz; ++xx) row[xx] = v;
          }
        }
    }
  }
  if (d.noise) {
    const double sg = d.sigma;
    if (d.noise_kind == kUniform) {
      for (int64_t i = 0; i < per; ++i) x[i] += sg * (2.0 * uniform(d.key, kNoiseBase + static_cast<uint64_t>(i)) - 1.0);
    } else {
      for (int y = 0; y < h; ++y)
        for (int xx = 0; xx < w; ++xx) {
          const int parity = ((y + d.phase_y) / d.period + (xx + d.phase_x) / d.period) & 1;
          const double v = parity ? -sg : sg;
          for (int ch = 0; ch < c; ++ch) x[ch * hw + static_cast<int64_t>(y) * w + xx] += v;
        }
    }
  }
  for (int ch = 0; ch < c; ++ch) {
    const double m = norm ? cfg.mean[ch] : 0.0, is = norm ? 1.0 / cfg.std[ch] : 1.0;
    for (int64_t p = 0; p < hw; ++p) {
      const double v = clamp01(x[ch * hw + p]);
      dst[ch * hw + p] = static_cast<float>(norm ? (v - m) * is : v);
    }
  }
}

}  // namespace

uint64_t stream_key(uint64_t seed, uint64_t counter, uint64_t k) {
  uint64_t key = mix64(seed + kDomain);
  key = mix64(key ^ mix64(counter + 2 * kGolden));
  key = mix64(key ^ mix64(k + 3 * kGolden));
  return key;
}

double uniform(uint64_t key, uint64_t slot) {
  return static_cast<double>(mix64(key + (slot + 1) * kGolden) >> 11) * (1.0 / 9007199254740992.0);
}

Status validate(const Shape& sh, const Config& cfg) {
  if (sh.c != 1 && sh.c != 3)
    return {Code::InvalidArgument, "channels must be 1 or 3 (got " + std::to_string(sh.c) + ")"};
  if (sh.n < 0 || sh.h < 1 || sh.w < 1 || sh.h > 65536 || sh.w > 65536)
    return {Code::InvalidArgument, "image sizes must be positive (height/width <= 65536)"};
  for (double p : {cfg.patch_rate, cfg.blend_rate, cfg.noise_rate})
    if (!(p >= 0 && p <= 1)) return {Code::InvalidArgument, "rates must be in [0, 1] (got " + num(p) + ")"};
  const int side = std::min(sh.h, sh.w);
  if (!(cfg.size_min >= 1 && cfg.size_min <= cfg.size_max && cfg.size_max <= side))
    return {Code::InvalidArgument, "patch sizes must satisfy 1 <= sizeMin <= sizeMax <= " + std::to_string(side) +
                                       " (got [" + std::to_string(cfg.size_min) + ", " +
                                       std::to_string(cfg.size_max) + "])"};
  if (cfg.count < 1 || cfg.count > kMaxCount)
    return {Code::InvalidArgument, "patch count must be 1.." + std::to_string(kMaxCount)};
  if (cfg.fill < kGray || cfg.fill > kFillMixed) return {Code::InvalidArgument, "unknown patch fill"};
  if (!(cfg.alpha_min >= 0 && cfg.alpha_min <= cfg.alpha_max && cfg.alpha_max <= 1))
    return {Code::InvalidArgument, "blend alphas must satisfy 0 <= alphaMin <= alphaMax <= 1 (got [" +
                                       num(cfg.alpha_min) + ", " + num(cfg.alpha_max) + "])"};
  if (!(cfg.sigma >= 0 && std::isfinite(cfg.sigma)))
    return {Code::InvalidArgument, "noise sigma must be finite and >= 0 (got " + num(cfg.sigma) + ")"};
  if (cfg.noise_kind < kUniform || cfg.noise_kind > kNoiseMixed) return {Code::InvalidArgument, "unknown noise kind"};
  if (cfg.mean.size() != cfg.std.size()) return {Code::ShapeMismatch, "mean and std must have the same length"};
  if (!cfg.mean.empty()) {
    if (cfg.mean.size() != static_cast<size_t>(sh.c))
      return {Code::ShapeMismatch, "mean/std have " + std::to_string(cfg.mean.size()) + " entries, the images have " +
                                       std::to_string(sh.c) + " channels"};
    for (size_t i = 0; i < cfg.mean.size(); ++i)
      if (!std::isfinite(cfg.mean[i]) || !std::isfinite(cfg.std[i]) || !(cfg.std[i] > 0.0))
        return {Code::InvalidArgument, "mean/std must be finite and std > 0 (channel " + std::to_string(i) + ")"};
  }
  return Status::ok();
}

Draw sample(const Config& cfg, const Shape& sh, uint64_t seed, uint64_t counter, int64_t k) {
  Draw d;
  d.key = stream_key(seed, counter, static_cast<uint64_t>(k));
  const uint64_t key = d.key;
  if (sh.n > 1 && uniform(key, kSlotBlendGate) < cfg.blend_rate) {
    d.blend = true;
    d.alpha = cfg.alpha_min + (cfg.alpha_max - cfg.alpha_min) * uniform(key, kSlotAlpha);
    d.partner = (k + 1 + below(key, kSlotPartner, sh.n - 1)) % sh.n;
  }
  if (uniform(key, kSlotPatchGate) < cfg.patch_rate) {
    d.patch = true;
    d.patches.resize(static_cast<size_t>(cfg.count));
    for (int j = 0; j < cfg.count; ++j) {
      const uint64_t s0 = kSlotPatch + 8 * static_cast<uint64_t>(j);
      Patch& p = d.patches[static_cast<size_t>(j)];
      p.size = cfg.size_min + static_cast<int>(below(key, s0, cfg.size_max - cfg.size_min + 1));
      p.top = static_cast<int>(below(key, s0 + 1, sh.h - p.size + 1));
      p.left = static_cast<int>(below(key, s0 + 2, sh.w - p.size + 1));
      p.fill = cfg.fill == kFillMixed ? static_cast<int>(below(key, s0 + 3, 3)) : cfg.fill;
      if (p.fill == kGray) {
        const double v = uniform(key, s0 + 4);
        p.level[0] = p.level[1] = p.level[2] = v;
      } else if (p.fill == kColor) {
        for (int ch = 0; ch < 3; ++ch) p.level[ch] = ch < sh.c ? uniform(key, s0 + 4 + ch) : 0.0;
      }
    }
  }
  if (uniform(key, kSlotNoiseGate) < cfg.noise_rate) {
    d.noise = true;
    d.sigma = cfg.sigma;
    d.noise_kind = cfg.noise_kind == kNoiseMixed ? static_cast<int>(below(key, kSlotNoiseKind, 2)) : cfg.noise_kind;
    if (d.noise_kind == kChecker) {
      d.period = 1 + static_cast<int>(below(key, kSlotPeriod, 2));
      d.phase_y = static_cast<int>(below(key, kSlotPhaseY, 2 * d.period));
      d.phase_x = static_cast<int>(below(key, kSlotPhaseX, 2 * d.period));
    }
  }
  return d;
}

Status perturb_batch(const float* views, const Shape& sh, uint64_t seed, uint64_t counter, const Config& cfg,
                     float* out, Draw* draws, int threads) {
  return guarded([&] {
    Status s = validate(sh, cfg);
    if (!s.is_ok()) throw Error(s.code(), s.message());
    if (sh.n > 0 && (!views || !out)) throw Error(Code::InvalidArgument, "views/out is null");
    const int64_t per = static_cast<int64_t>(sh.c) * sh.h * sh.w;
    if (sh.n > 0 && views < out + sh.n * per && out < views + sh.n * per)
      throw Error(Code::InvalidArgument, "out must not overlap views");
    parallel_for(sh.n, threads, [&](int64_t b, int64_t e) {
      std::vector<double> buf;
      for (int64_t k = b; k < e; ++k) {
        Draw d = sample(cfg, sh, seed, counter, k);
        apply_one(views, sh, k, d, cfg, out, buf);
        if (draws) draws[k] = std::move(d);
      }
    });
  });
}

}  // namespace mimic::perturb
