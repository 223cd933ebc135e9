/* relu.c — the ReLU layer: out = max(x, 0); dx = dout where x > 0. The
 * sandwiches (sandwich.c) fuse it into the affine and conv layers. */
#include "real.h"

int FN(cn_relu_forward)(cn_ctx *ctx, real *out, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0;
    return CN_OK;
}

int FN(cn_relu_backward)(cn_ctx *ctx, real *dx, const real *dout, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dout[i] : 0;
    return CN_OK;
}
