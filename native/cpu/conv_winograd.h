// Winograd F(2x2, 3x3) convolution for 3x3 / stride 1 / pad 1 / groups 1 layers (most of a ResNet's work):
// 16 GEMMs of (OC x C) x (C x tiles) replace one of (OC x 9C) x (9C x pixels), 2.25x fewer multiplies, and no
// im2col. Forward, input gradient (the forward of dy with the flipped, transposed kernel) and weight gradient
// (dU = Z V^T per Winograd point, Z = A dy A^T). Internal to op_conv.cc, which dispatches here.
#pragma once
#include <cstddef>

#include "mimic/ops.h"

namespace mimic::ops::winograd {

// The layer shape this path computes (3x3, stride 1, dilation 1, pads 1, groups 1).
bool eligible(const Conv2dShape& s);
// Scratch floats for forward / backward of an eligible shape.
size_t workspace_floats(const Conv2dShape& s);
void forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, const Ctx& ctx,
             float* ws);
// dx and dw may be null (not computed); db is left to the caller. accumulate_dx: dx += the input gradient.
void backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
              const Ctx& ctx, float* ws, bool accumulate_dx = false);

}  // namespace mimic::ops::winograd
