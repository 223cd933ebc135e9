/* gelu.c — GELU, exact erf form (PyTorch's default approximate='none'):
 *   out = x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2,
 *   d out / dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
 * Phi is computed as erfc(-x / sqrt 2) / 2, not (1 + erf(x / sqrt 2)) / 2:
 * the same function without the cancellation for x << 0 (at x = -8 the erf
 * form keeps no correct digit; PyTorch's CPU kernel uses the erf form, so
 * the two differ there below 1e-15 absolute).
 * Naive: one serial loop in the element type (erfcf/expf for float32).
 * Fast: OpenMP over blocks, each through the SIMD level's kernel
 * (simd/gelu.c: float32 by a vectorized erfc/exp in float within a few 1e-7
 * relative, float64 by libm). */
#include "real.h"
#include "kern.h"

#define PAR_MIN (1 << 15) /* elements below which the loops stay serial */
#define BLK 4096          /* elements per block of the vectorized float32 loops */

#ifdef CN_REAL_F64
#define r_erfc erfc
#else
#define r_erfc erfcf
#endif

static const double INV_SQRT2 = 0.70710678118654752440;
static const double INV_SQRT_2PI = 0.39894228040143267794;

static int check_n(cn_ctx *ctx, const char *who, const void *a, const void *b, size_t n) {
    if (!a || !b) return cn_error(ctx, CN_EINVAL, "%s: NULL buffer (n=%zu)", who, n);
    if (n > SIZE_MAX / sizeof(real))
        return cn_error(ctx, CN_ENOMEM, "%s: n=%zu is beyond the size limits", who, n);
    return CN_OK;
}

int FN(cn_gelu_forward_naive)(cn_ctx *ctx, real *out, const real *x, size_t n) {
    int rc = check_n(ctx, __func__, out, x, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        real v = x[i];
        out[i] = (real)0.5 * v * r_erfc(-v * (real)INV_SQRT2);
    }
    return CN_OK;
}

int FN(cn_gelu_backward_naive)(cn_ctx *ctx, real *dx, const real *dout, const real *x, size_t n) {
    int rc = check_n(ctx, __func__, dx, dout, n);
    if (rc || (rc = check_n(ctx, __func__, x, x, n))) return rc;
    for (size_t i = 0; i < n; i++) {
        real v = x[i];
        real cdf = (real)0.5 * r_erfc(-v * (real)INV_SQRT2);
        real pdf = r_exp((real)-0.5 * v * v) * (real)INV_SQRT_2PI;
        dx[i] = dout[i] * (cdf + v * pdf);
    }
    return CN_OK;
}

/* Fast: OpenMP over blocks of BLK elements, each block through the
 * level's kernel (simd/gelu.c: float32 in vectorized float arithmetic,
 * float64 with libm). */
int FN(cn_gelu_forward)(cn_ctx *ctx, real *out, const real *x, size_t n) {
    int rc = check_n(ctx, __func__, out, x, n);
    if (rc) return rc;
    const gelu_kern *k = gelu_kern_for(cn__simd(ctx));
    const size_t nb = (n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (n > PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        const size_t i1 = b * BLK + BLK < n ? b * BLK + BLK : n;
        k->fwd(out + b * BLK, x + b * BLK, i1 - b * BLK);
    }
    return CN_OK;
}

int FN(cn_gelu_backward)(cn_ctx *ctx, real *dx, const real *dout, const real *x, size_t n) {
    int rc = check_n(ctx, __func__, dx, dout, n);
    if (rc || (rc = check_n(ctx, __func__, x, x, n))) return rc;
    const gelu_kern *k = gelu_kern_for(cn__simd(ctx));
    const size_t nb = (n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (n > PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        const size_t i1 = b * BLK + BLK < n ? b * BLK + BLK : n;
        k->bwd(dx + b * BLK, dout + b * BLK, x + b * BLK, i1 - b * BLK);
    }
    return CN_OK;
}

/* ---- scaled output: out = s * x (both directions) ------------------------ */
int FN(cn_scale_forward)(cn_ctx *ctx, real *out, const real *x, double s, size_t n) {
    int rc = check_n(ctx, __func__, out, x, n);
    if (rc) return rc;
    if (!isfinite(s)) return cn_error(ctx, CN_EINVAL, "%s: scale s=%g must be finite", __func__, s);
    const real sr = (real)s;
#pragma omp parallel for simd schedule(static) num_threads(cn__nt(ctx)) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = sr * x[i];
    return CN_OK;
}
