// Seeded perturbation families for perturbation-invariant distillation (MIMIC backdoor removal): the student sees a
// perturbed copy of augmented view 1 while the teacher's targets come from the unperturbed view, so small patches,
// blends and high-frequency noise must not move the student's features.
//
// Input: n normalised float32 images (C = 1 or 3, H x W, NCHW) as produced by augment::two_views. Each image k is
// perturbed independently into a new array (the input is never written):
//   - If no family fires for image k, its output is a bit-for-bit copy of its input.
//   - Otherwise (in double): x = v * std[c] + mean[c] (pixel space), then in this order
//       1. blend   (probability blend_rate, only when n > 1): x = (1 - a) x + a x_p, a ~ U[alpha_min, alpha_max], the
//                  partner p = (k + 1 + floor(u * (n - 1))) % n (never k), x_p its UNPERTURBED (input) pixels;
//       2. patch   (probability patch_rate): `count` axis-aligned squares, one after another, side s uniform integer
//                  in [size_min, size_max], top uniform in [0, H - s], left uniform in [0, W - s] (fully inside),
//                  filled with gray (one level U[0,1) on every channel), color (one level U[0,1) per channel) or
//                  texture (U[0,1) per pixel and channel); fill 'mixed' picks one of the three uniformly per square;
//       3. noise   (probability noise_rate): uniform (U[-sigma, sigma) per pixel and channel) or checker (+sigma or
//                  -sigma on every channel: sign + when (floor((y + phase_y) / period) + floor((x + phase_x) / period))
//                  is even, period 1 or 2 px, phase_y, phase_x uniform integers in [0, 2 * period)); noise kind
//                  'mixed' picks uniform or checker with probability 1/2;
//     then clamp to [0, 1] and renormalise (x - mean[c]) / std[c] to float32. mean/std empty: no (de)normalisation.
//
// Randomness: a counter-based stream per image, keyed by (seed, counter, image index k) in a domain distinct from
// augment's (so it is independent of the views made with the same seed/counter):
//   key = mix(mix(mix(seed + kDomain) ^ mix(counter + 2 G)) ^ mix(k + 3 G)),  G = 0x9E3779B97F4A7C15,
//   kDomain = 0x5045525455524221 ("PERTURB!"), mix = splitmix64's finaliser,
//   uniform(slot) = (mix(key + (slot + 1) * G) >> 11) * 2^-53 in [0, 1), below(slot, m) = min(floor(u * m), m - 1).
// Fixed slots: 0 blend gate, 1 alpha, 2 partner; 10 patch gate; 20 noise gate, 21 noise kind (mixed), 22 checker
// period, 23 phase_y, 24 phase_x; square j (< 1024): 100 + 8 j + {0 side, 1 top, 2 left, 3 fill (mixed),
// 4..6 level per channel}; texture value (channel c, row y, column x inside square j of side s):
// slot 2^61 + j * 2^40 + (c * s + y) * s + x; uniform noise value (c, y, x): slot 2^60 + (c * H + y) * W + x.
// Each decision has its own fixed slot: image k's draws depend only on (seed, counter, k, n and the config), never on
// the thread count, and changing one family's options leaves the other families' draws unchanged.
#pragma once
#include <cstdint>
#include <vector>

#include "mimic/status.h"

namespace mimic::perturb {

enum Fill : int { kGray = 0, kColor = 1, kTexture = 2, kFillMixed = 3 };
enum NoiseKind : int { kUniform = 0, kChecker = 1, kNoiseMixed = 2 };

constexpr int kMaxCount = 1024;
constexpr uint64_t kDomain = 0x5045525455524221ull;
constexpr uint64_t kTextureBase = 1ull << 61;
constexpr uint64_t kNoiseBase = 1ull << 60;

struct Config {
  double patch_rate = 0.0;
  int size_min = 4, size_max = 12;
  int fill = kFillMixed;
  int count = 1;
  double blend_rate = 0.0;
  double alpha_min = 0.1, alpha_max = 0.3;
  double noise_rate = 0.0;
  double sigma = 0.1;
  int noise_kind = kUniform;
  std::vector<double> mean, std;  // length C, or both empty for no normalisation
};

struct Shape {
  int64_t n = 0;
  int c = 0, h = 0, w = 0;
};

struct Patch {
  int top = 0, left = 0, size = 0;
  int fill = kGray;           // kGray, kColor or kTexture (never mixed)
  double level[3] = {0, 0, 0};  // gray: the same level in every entry; color: one per channel; texture: unused
};

// One image's random choices (enough, with `key`, to recompute the output).
struct Draw {
  uint64_t key = 0;  // the image's stream key (texture and uniform-noise values come from it)
  bool blend = false;
  int64_t partner = -1;
  double alpha = 0.0;
  bool patch = false;
  std::vector<Patch> patches;  // `count` entries when patch fired, else empty
  bool noise = false;
  int noise_kind = kUniform;  // kUniform or kChecker
  int period = 1, phase_y = 0, phase_x = 0;
  double sigma = 0.0;
};

// Checks the shape and config (rates, sizes against the image side, alphas, sigma, mean/std).
Status validate(const Shape& shape, const Config& cfg);

// The stream key of image k and the uniform draw of a slot (exposed for tests and tools).
uint64_t stream_key(uint64_t seed, uint64_t counter, uint64_t k);
double uniform(uint64_t key, uint64_t slot);

// The draw of image k of an n-image batch (deterministic in its arguments).
Draw sample(const Config& cfg, const Shape& shape, uint64_t seed, uint64_t counter, int64_t k);

// Perturbs the n images of `views` into `out` (n * C * H * W floats each, distinct buffers); draws (optional, n
// entries) receives each image's choices. Multithreaded over images (threads <= 0: the pool's size).
Status perturb_batch(const float* views, const Shape& shape, uint64_t seed, uint64_t counter, const Config& cfg,
                     float* out, Draw* draws, int threads);

}  // namespace mimic::perturb
