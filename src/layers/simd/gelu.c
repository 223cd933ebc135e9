/* simd/gelu.c — GELU's elementwise loops (exact erf form; the formulas and
 * the naive reference are in ../gelu.c, which calls these per block of
 * elements through gelu_kern). Compiled once per SIMD level (simd.h), so
 * the float32 path runs 4, 8 or 16 lanes wide (libm's scalar erfcf made
 * GELU ~35 M elements/s per thread; a first vector version in double
 * arithmetic, half the lanes, was still 9% of the recipe's AVX2 step).
 *
 * float32, in float arithmetic:
 *  - erfc(z), z = |x|/sqrt2 >= 0: Numerical Recipes' erfcc (Chebyshev fit),
 *    t exp(-z^2 + P(t)), t = 1/(1 + z/2): fractional error < 1.2e-7 for
 *    every z >= 0. Phi = 1 - erfc/2 (x >= 0) or erfc/2 (x < 0).
 *  - -z^2 = -x^2/2 is carried as two floats (x^2 = h + l exactly, by the
 *    FMA or Dekker's split), never rounded as one: at x = -13 a rounded
 *    x^2/2 (84.5) would be off by 4e-6, and so the result by 4e-6 of itself.
 *  - exp(A + B): k = round((A + B)/ln2), r = (A - k ln2_hi) + (B - k ln2_lo)
 *    (ln2 split as fdlibm), e^r by its Taylor series to r^7; 2^k applied
 *    in two factors at the very end, so a result is rounded once, also
 *    where it is subnormal.
 * GELU's float32 result is within a few 1e-7 relative of the exact value
 * (test_gelu checks 1e-6 elementwise over [-13, 13], where the result is a
 * normal float, at every level). The levels differ where FMA contraction
 * rounds differently (a few float ulps).
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

#ifndef CN_REAL_F64
/* x^2 = h + l exactly: the FMA's exact product where the level has one,
 * Dekker's splitting (x = xh + xl, 12 bits each) on baseline x86-64 */
INLINE void square2(float x, float *h, float *l) {
    float hh = x * x;
#if CN_SIMD_LEVEL >= 1
    *l = __builtin_fmaf(x, x, -hh);
#else
    float c = 4097.0f * x, xh = c - (c - x), xl = x - xh;
    *l = ((xh * xh - hh) + 2.0f * xh * xl) + xl * xl;
#endif
    *h = hh;
    *l = fabsf(*l) <= 3.4e38f ? *l : 0; /* x = +-inf: h = inf, and l no NaN (x = NaN: h is NaN) */
}

/* v 2^k for k in [-300, 300] (k's low bits only: any bits give a float),
 * in two steps so that neither factor leaves the normal range: the result
 * is rounded once, to a subnormal or 0 where it is that small */
INLINE float scale2(float v, int32_t k) {
    int32_t k1 = k / 2, k2 = k - k1;
    uint32_t b1 = ((uint32_t)(k1 + 127) & 0xff) << 23, b2 = ((uint32_t)(k2 + 127) & 0xff) << 23;
    float s1, s2;
    memcpy(&s1, &b1, 4);
    memcpy(&s2, &b2, 4);
    return v * s1 * s2;
}

/* e^(A + B) = p 2^k, for A <= 0 exact (minus half a square's high part)
 * and |B| <= ~2 (a polynomial and the square's low part): A + B is
 * not rounded as one number (at A = -84 its rounding alone would be 4e-6
 * of the result): k = round((A + B) / ln2), and
 * r = (A - k ln2_hi) + (B - k ln2_lo), the first difference exact (ln2_hi
 * has 12 bits, k fewer, and A is near k ln2_hi), |r| <= ~0.35; e^r by its
 * Taylor series to r^7 (truncation < 3e-9). A below -150 is clamped (the
 * result is then 0 after the scaling; an infinite A no NaN). */
INLINE float exp_parts(float A, float B, int32_t *k) {
    A = A < -150.0f ? -150.0f : A;
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    float kf = (A + B) * 1.44269504088896341f + magic;
    int32_t kb;
    memcpy(&kb, &kf, 4);
    kf -= magic;
    *k = kb - 0x4b400000;
    float r = (A - kf * 0.693145751953125f) + (B - kf * 1.42860682030941723e-6f);
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p;
}

/* erfc(|v|/sqrt2) = E 2^k (returned: E) as Numerical Recipes' erfcc,
 * t exp(-z^2 + P(t)), z = |v|/sqrt2, with -z^2 = -v^2/2 carried as h + l
 * (exact) into exp_parts; and, when pdf != NULL, e^(-v^2/2) = *pdf 2^*kp.
 * The scalings are left to the caller, so that a result is rounded once
 * at the end, also where it is subnormal. */
INLINE float erfc_parts(float v, int32_t *k, float *pdf, int32_t *kp) {
    float z = fabsf(v) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float P = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
              t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
              t * (-0.82215223f + t * 0.17087277f))))))));
    float h, l;
    square2(v, &h, &l);
    float p = exp_parts(-0.5f * h, P - 0.5f * l, k);
    if (pdf) *pdf = exp_parts(-0.5f * h, -0.5f * l, kp);
    return t * p;
}

/* out = v Phi(v): v (1 - erfc/2) for v >= 0, v erfc/2 (one rounding) below */
static void fwd(real *out, const real *x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        int32_t k;
        float e = erfc_parts(v, &k, NULL, NULL);
        out[i] = v >= 0 ? v * (1 - 0.5f * scale2(e, k)) : scale2(0.5f * v * e, k);
    }
}

/* dx = dout (Phi(v) + v phi(v)) */
static void bwd(real *dx, const real *dout, const real *x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float v = x[i], q;
        int32_t k, kq;
        float e = erfc_parts(v, &k, &q, &kq);
        float ec = scale2(0.5f * e, k), cdf = v >= 0 ? 1 - ec : ec;
        dx[i] = dout[i] * (cdf + scale2(v * q * 0.39894228040143268f, kq));
    }
}
#else
static const double INV_SQRT2 = 0.70710678118654752440;
static const double INV_SQRT_2PI = 0.39894228040143267794;

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
