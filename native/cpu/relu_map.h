// The ReLU's element maps, shared by relu_* / add_relu_* (op_eltwise.cc) and the fused BatchNorm paths
// (op_batchnorm.cc), so that every fused variant gives the unfused composition's bits by construction.
#pragma once

namespace mimic::ops {

inline float relu_value(float v) { return v <= 0.0f ? 0.0f : v; }        // NaN propagates
inline float relu_grad(float y, float g) { return y > 0.0f ? g : 0.0f; }  // 0 at exactly 0 and for NaN

}  // namespace mimic::ops
