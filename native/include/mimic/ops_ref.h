// float64 reference kernels of the layer ops in mimic/ops.h: plain loops, obviously right, slow. Same shapes,
// same conventions (backward overwrites; a null gradient pointer is skipped), same shape checks (they call the
// ops::*_check functions). The tests compare the fast float32 kernels with these, and check these backward
// kernels against central finite differences of these forward kernels.
#pragma once
#include <cstdint>

#include "mimic/ops.h"

namespace mimic::ref {

void conv2d_forward(const ops::Conv2dShape& s, const double* x, const double* w, const double* b, double* y);
void conv2d_backward(const ops::Conv2dShape& s, const double* x, const double* w, const double* dy, double* dx,
                     double* dw, double* db);

void batchnorm_forward(const ops::BatchNormShape& s, ops::BnMode mode, const double* x, const double* gamma,
                       const double* beta, double* running_mean, double* running_var, double* y, double* save_mean,
                       double* save_invstd);
void batchnorm_backward(const ops::BatchNormShape& s, ops::BnMode mode, const double* x, const double* gamma,
                        const double* save_mean, const double* save_invstd, const double* dy, double* dx,
                        double* dgamma, double* dbeta);

void relu_forward(int64_t n, const double* x, double* y);
void relu_backward(int64_t n, const double* y, const double* dy, double* dx);
void add_forward(int64_t n, const double* a, const double* b, double* y);
void add_backward(int64_t n, const double* dy, double* da, double* db);

void maxpool2d_forward(const ops::Pool2dShape& s, const double* x, double* y);
void maxpool2d_backward(const ops::Pool2dShape& s, const double* x, const double* dy, double* dx);
void avgpool2d_forward(const ops::Pool2dShape& s, const double* x, double* y);
void avgpool2d_backward(const ops::Pool2dShape& s, const double* dy, double* dx);
void global_avgpool_forward(int64_t n, int64_t c, int64_t s, const double* x, double* y);
void global_avgpool_backward(int64_t n, int64_t c, int64_t s, const double* dy, double* dx);

void linear_forward(const ops::LinearShape& s, const double* x, const double* w, const double* b, double* y);
void linear_backward(const ops::LinearShape& s, const double* x, const double* w, const double* dy, double* dx,
                     double* dw, double* db);
void matmul_forward(const ops::MatMulShape& s, const double* a, const double* b, double* y);
void matmul_backward(const ops::MatMulShape& s, const double* a, const double* b, const double* dy, double* da,
                     double* db);

void l2norm_forward(int64_t n, int64_t d, const double* x, double* y, double eps = ops::kL2NormEps);
void l2norm_backward(int64_t n, int64_t d, const double* x, const double* y, const double* dy, double* dx,
                     double eps = ops::kL2NormEps);

}  // namespace mimic::ref
