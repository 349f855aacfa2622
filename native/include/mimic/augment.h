// Seeded two-view image augmentation (SimCLR, torchvision semantics) on uint8 CHW images, C = 1 or 3.
// Per image, in this order (torchvision's CIFAR SimCLR pipeline):
//   1. RandomResizedCrop: torchvision's get_params (up to `crop_attempts` tries of area ~ U(scale) * H * W and
//      log-ratio ~ U(log ratio), w = round(sqrt(area * r)), h = round(sqrt(area / r)) with Python's round half to
//      even, accepted when 0 < w <= W and 0 < h <= H, top ~ randint(0, H - h), left ~ randint(0, W - w); else the
//      centre-crop fallback), then bilinear resize of the crop to out_h x out_w with half-pixel centres and no
//      antialiasing (PyTorch interpolate(mode='bilinear', align_corners=False)) on the uint8 values. With
//      round_resize (default) the result is rounded half to even and clamped to 0..255 as torchvision does for a
//      uint8 tensor; the value is then divided by 255 (without round_resize: interpolated value / 255).
//   2. Horizontal flip with probability flip_p.
//   3. With probability jitter_p: ColorJitter, the four ops in a random order (uniform permutation), factors
//      brightness ~ U(b_lo, b_hi), contrast ~ U(c_lo, c_hi), saturation ~ U(s_lo, s_hi), hue ~ U(h_lo, h_hi); an op
//      whose range is its identity point ([1,1], or [0,0] for hue) is skipped as torchvision skips None. The ops are
//      torchvision's tensor versions on [0, 1] floats, each clamped to [0, 1]: brightness blends with 0, contrast
//      with the mean of the grayscale image (the image mean when C = 1), saturation with the grayscale image, hue
//      shifts H in HSV (torchvision's _rgb2hsv / _hsv2rgb). Saturation and hue are no-ops on 1-channel images.
//   4. With probability gray_p: grayscale (0.299 R + 0.587 G + 0.114 B into all three channels); a no-op when C = 1.
//   5. Normalise: (x - mean[c]) / std[c] (mean/std empty: identity).
// The colour maths runs in double; the output is float32 (n, C, out_h, out_w).
//
// Randomness: every image's draws come from a counter-based generator keyed by (seed, counter, view, position in
// the index list): key = mix(seed, counter, view, position), draw k = splitmix64-finaliser(key + (k + 1) * golden).
// Each decision has its own fixed slot k (crop attempts, flip, jitter gate, permutation, factors, grayscale), so the
// output does not depend on the thread count or on which other images are in the batch.
#pragma once
#include <cstdint>
#include <vector>

#include "mimic/status.h"

namespace mimic::augment {

struct Config {
  int out_h = 32, out_w = 32;
  double scale_lo = 0.08, scale_hi = 1.0;
  double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  int crop_attempts = 10;
  double flip_p = 0.5;
  double jitter_p = 0.8;
  double brightness_lo = 0.6, brightness_hi = 1.4;
  double contrast_lo = 0.6, contrast_hi = 1.4;
  double saturation_lo = 0.6, saturation_hi = 1.4;
  double hue_lo = -0.1, hue_hi = 0.1;
  double gray_p = 0.2;
  bool round_resize = true;
  std::vector<double> mean, std;  // length C, or both empty for no normalisation
};

enum JitterOp : int { kBrightness = 0, kContrast = 1, kSaturation = 2, kHue = 3 };

// One image's random choices (also the fixed parameters of apply()).
struct Draw {
  int top = 0, left = 0, height = 0, width = 0;  // crop box in the source image
  bool flip = false;
  bool jitter = false;  // whether ColorJitter ran
  double brightness = 1.0, contrast = 1.0, saturation = 1.0, hue = 0.0;
  int order[4] = {0, 1, 2, 3};  // ops applied, in this order (the first n_ops entries)
  int n_ops = 0;
  bool gray = false;
};

struct Images {
  const uint8_t* pixels = nullptr;
  int64_t count = 0;
  int channels = 0, height = 0, width = 0;
};

// Checks the config against the images (ranges, probabilities, mean/std lengths, std != 0).
Status validate(const Images& images, const Config& cfg);

// The draw of one image (deterministic in its arguments).
Draw sample(const Config& cfg, int height, int width, uint64_t seed, uint64_t counter, uint32_t view,
            uint64_t position);

// Applies fixed parameters to image `index` of `images`, writing C * out_h * out_w floats. Checks the draw.
Status apply(const Images& images, int64_t index, const Draw& draw, const Config& cfg, float* out);

// Augments images[indices[k]] for k < n into out (n * C * out_h * out_w floats); draws (optional, n entries)
// receives each image's choices. Multithreaded over images (threads <= 0: the pool's size).
Status augment_batch(const Images& images, const int64_t* indices, int64_t n, uint64_t seed, uint64_t counter,
                     uint32_t view, const Config& cfg, float* out, Draw* draws, int threads);

// View 1 (view id 1) and view 2 (view id 2) of the same images with independent streams.
Status two_views(const Images& images, const int64_t* indices, int64_t n, uint64_t seed, uint64_t counter,
                 const Config& cfg, float* out1, float* out2, Draw* draws1, Draw* draws2, int threads);

}  // namespace mimic::augment
