/* pool.c — max pooling, naive (direct loops, as the original) beside the fast
 * path (parallel over the N*C planes, a 2x2-stride-2 special case, backward
 * scattering through the argmax indices).
 *
 * Ties: the first maximum in row-major order of the window wins (strict >),
 * in both paths. Backward adds: dx is zeroed, then every window's gradient is
 * added at its argmax (overlapping windows accumulate). */
#include "kern.h"

/* ---- naive ------------------------------------------------------------- */
/* The offset in its [H, W] plane of the window (i, j)'s first maximum. */
static int window_argmax(const real *plane, const cn_max_pool_shape *s, int i, int j) {
    int best = (i * s->stride) * s->W + j * s->stride;
    for (int a = 0; a < s->ph; a++)
        for (int b = 0; b < s->pw; b++) {
            int at = (i * s->stride + a) * s->W + j * s->stride + b;
            if (plane[at] > plane[best]) best = at;
        }
    return best;
}

/* out[N,C,H',W'] = max over the ph x pw window at (i*st, j*st) */
int FN(cn_max_pool_forward_naive)(cn_ctx *ctx, real *out, int32_t *idx, const real *x,
                                  const cn_max_pool_shape *s) {
    int Ho, Wo;
    int rc = cn_max_pool_out(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    for (int n = 0; n < s->N; n++)
        for (int c = 0; c < s->C; c++) {
            const real *plane = x + ((size_t)n * s->C + c) * s->H * s->W; /* [H, W] */
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    int best = window_argmax(plane, s, i, j);
                    size_t o = (((size_t)n * s->C + c) * Ho + i) * Wo + j;
                    out[o] = plane[best];
                    if (idx) idx[o] = best;
                }
        }
    return CN_OK;
}

/* dx[N,C,H,W] = sum over windows of dout at the window's argmax (recomputed
 * from x; idx unused). */
int FN(cn_max_pool_backward_naive)(cn_ctx *ctx, real *dx, const real *dout, const real *x,
                                   const int32_t *idx, const cn_max_pool_shape *s) {
    int Ho, Wo;
    int rc = cn_max_pool_out(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    memset(dx, 0, sizeof(real) * (size_t)s->N * s->C * s->H * s->W);
    for (int n = 0; n < s->N; n++)
        for (int c = 0; c < s->C; c++) {
            size_t po = ((size_t)n * s->C + c) * s->H * s->W;
            const real *plane = x + po;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    int best = window_argmax(plane, s, i, j);
                    dx[po + best] += dout[(((size_t)n * s->C + c) * Ho + i) * Wo + j];
                }
        }
    return CN_OK;
}

/* ---- fast ---------------------------------------------------------------- */
/* One plane: out[Ho, Wo], idx[Ho, Wo] (may be NULL) from x[H, W]; 2x2
 * stride 2 by the level's kernel (simd/pool.c: vectors, no branches), any
 * other window here. */
void FN(cn__pool_plane)(int level, real *out, int32_t *idx, const real *x, const cn_max_pool_shape *s, int Ho,
                        int Wo) {
    const int W = s->W, st = s->stride;
    if (s->ph == 2 && s->pw == 2 && st == 2) {
        pool_kern_for(level)->plane2(out, idx, x, Ho, Wo, W);
        return;
    }
    /* any window: scalar */
    for (int i = 0; i < Ho; i++)
        for (int j = 0; j < Wo; j++) {
            int best = i * st * W + j * st;
            real m = x[best];
            for (int a = 0; a < s->ph; a++) {
                const int at0 = (i * st + a) * W + j * st;
                for (int b = 0; b < s->pw; b++) {
                    real v = x[at0 + b];
                    int c = v > m;
                    best = c ? at0 + b : best;
                    m = c ? v : m;
                }
            }
            out[(size_t)i * Wo + j] = m;
            if (idx) idx[(size_t)i * Wo + j] = best;
        }
}

int FN(cn_max_pool_forward)(cn_ctx *ctx, real *out, int32_t *idx, const real *x,
                            const cn_max_pool_shape *s) {
    int Ho, Wo;
    int rc = cn_max_pool_out(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    const long planes = (long)s->N * s->C;
    const size_t in = (size_t)s->H * s->W, on = (size_t)Ho * Wo;
    const int level = cn__simd(ctx);
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (planes * in > 32768)
    for (long p = 0; p < planes; p++)
        FN(cn__pool_plane)(level, out + p * on, idx ? idx + p * on : NULL, x + p * in, s, Ho, Wo);
    return CN_OK;
}

/* v, or +0 when !on, by its bits (GCC made a conditional a branch) */
static inline real masked(real v, int on) {
#ifdef CN_REAL_F64
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    b &= -(uint64_t)(on != 0);
#else
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b &= -(uint32_t)(on != 0);
#endif
    memcpy(&v, &b, sizeof v);
    return v;
}

/* One plane of the fast pool backward: d[in] = 0, then d[ix[o]] += g[o] for
 * the on outputs. Returns the first o whose index is outside the plane
 * (that output is skipped), or -1. */
long FN(cn__pool_scatter)(real *d, const real *g, const int32_t *ix, const real *keep, size_t in, size_t on) {
    long bad = -1;
    memset(d, 0, sizeof(real) * in);
    for (size_t o = 0; o < on; o++) {
        int32_t at = ix[o];
        if (at < 0 || (size_t)at >= in) {
            if (bad < 0) bad = (long)o;
            continue;
        }
        /* a masked output adds +0, not a branch (taken at random, it cost
         * more than the rest of the plane); d is never -0 (it starts +0,
         * and +0 + -0 = +0), so adding +0 leaves every bit as it was */
        d[at] += keep ? masked(g[o], keep[o] > 0) : g[o];
    }
    return bad;
}

int FN(cn_max_pool_backward)(cn_ctx *ctx, real *dx, const real *dout, const real *x,
                             const int32_t *idx, const cn_max_pool_shape *s) {
    int Ho, Wo;
    int rc = cn_max_pool_out(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    if (!idx)
        return cn_error(ctx, CN_EINVAL, "max_pool_backward: idx is NULL (the fast backward needs "
                                      "the forward's argmax indices)");
    const long planes = (long)s->N * s->C;
    const size_t in = (size_t)s->H * s->W, on = (size_t)Ho * Wo;
    long bad = -1;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (planes * in > 32768)
    for (long p = 0; p < planes; p++) {
        real *d = dx + p * in;         /* [H, W] */
        const real *g = dout + p * on; /* [Ho, Wo] */
        const int32_t *ix = idx + p * on;
        long b = FN(cn__pool_scatter)(d, g, ix, NULL, in, on);
        if (b >= 0) {
#pragma omp atomic write
            bad = (long)(p * on) + b;
        }
    }
    if (bad >= 0)
        return cn_error(ctx, CN_EINVAL, "max_pool_backward: idx[%ld] is outside the %dx%d plane",
                      bad, s->H, s->W);
    return CN_OK;
}
