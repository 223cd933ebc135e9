/* simd/gelu.c — GELU's elementwise loops (exact erf form; the formulas and
 * the naive reference are in ../gelu.c, which calls these per block of
 * elements through gelu_kern). Compiled once per SIMD level (simd.h), so
 * the float32 path's double arithmetic runs 2, 4 or 8 lanes wide: GELU was
 * 30% of the airbench net's step with the baseline (SSE2) build alone.
 *
 * float32: erfc and exp as inline double arithmetic that the compiler
 * vectorizes (libm's scalar erfcf made GELU ~35 M elements/s per thread):
 *  - exp(a), a <= 1 (here): a = k ln2 + r, |r| <= ln2/2 (k by the 1.5*2^52
 *    rounding trick, ln2 split hi/lo as fdlibm), e^r by its Taylor series
 *    to r^11 (truncation < 2.3e-15), 2^k put into the exponent bits; a is
 *    clamped at -700 (the result is then ~1e-304, 0 once rounded to float).
 *  - erfc(z), z >= 0: Numerical Recipes' erfcc (Chebyshev fit),
 *    t exp(-z^2 + P(t)), t = 1/(1 + z/2): fractional error < 1.2e-7 for
 *    every z >= 0, so Phi = 1 - erfc/2 (x >= 0) or erfc/2 (x < 0) is
 *    within 1.2e-7 relative and GELU's float32 result within ~2e-7
 *    relative of the exact value (test_gelu checks 1e-6 elementwise over
 *    [-13, 13], where the result is a normal float, at every level).
 * The levels differ only where FMA contraction rounds a double operation
 * differently (~1e-16 relative, before the rounding to float).
 * float64: libm's erfc and exp, as the naive path. */
#pragma GCC optimize("O3")
/* GCC if-converts (and so vectorizes) the selects below only when
 * floating-point compares may not trap; nothing here enables FP traps, and
 * the option changes no arithmetic result (unlike -ffast-math). */
#pragma GCC optimize("no-trapping-math")
#include "../simd.h"
#include "../kern.h"
#include <math.h>
#include <string.h>

static const double INV_SQRT2 = 0.70710678118654752440;
static const double INV_SQRT_2PI = 0.39894228040143267794;

#ifndef CN_REAL_F64
INLINE double exp_neg(double a) {
    a = a < -700 ? -700 : a;
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    double kf = a * 1.4426950408889634074 + magic;
    uint64_t kb; /* unsigned: the shift below is defined for any bits (NaN input) */
    memcpy(&kb, &kf, 8);
    kf -= magic; /* round(a / ln2) */
    double r = (a - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
    double p = 1.0 / 39916800;
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    p = p * r + 1;
    p = p * r + 1;
    uint64_t eb = (kb - 0x4338000000000000ULL + 1023) << 52; /* 2^k, k >= -1010 */
    double sc;
    memcpy(&sc, &eb, 8);
    return p * sc;
}

/* Phi(v) and, when pdf != NULL, phi(v) */
INLINE double phi_cdf(double v, double *pdf) {
    double z = fabs(v) * INV_SQRT2;
    double t = 1 / (1 + 0.5 * z);
    double P = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
               t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
               t * (-0.82215223 + t * 0.17087277))))))));
    double ec = t * exp_neg(-z * z + P);
    if (pdf) *pdf = exp_neg(-z * z) * INV_SQRT_2PI;
    return v >= 0 ? 1 - 0.5 * ec : 0.5 * ec;
}

static void fwd(real *out, const real *x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        out[i] = (real)(v * phi_cdf(v, NULL));
    }
}

static void bwd(real *dx, const real *dout, const real *x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        double v = x[i], pdf;
        double cdf = phi_cdf(v, &pdf);
        dx[i] = (real)(dout[i] * (cdf + v * pdf));
    }
}
#else
static void fwd(real *out, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        out[i] = 0.5 * v * erfc(-v * INV_SQRT2);
    }
}

static void bwd(real *dx, const real *dout, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        dx[i] = dout[i] * (0.5 * erfc(-v * INV_SQRT2) + v * exp(-0.5 * v * v) * INV_SQRT_2PI);
    }
}
#endif

const gelu_kern KFN(cn__gelu_kern) = {fwd, bwd};
