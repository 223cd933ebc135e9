/* pool.c — max pooling, naive (direct loops, as the original) beside the fast
 * path (parallel over the N*C planes, a 2x2-stride-2 special case, backward
 * scattering through the argmax indices).
 *
 * Ties: the first maximum in row-major order of the window wins (strict >),
 * in both paths. Backward adds: dx is zeroed, then every window's gradient is
 * added at its argmax (overlapping windows accumulate). */
#include "real.h"

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
/* 16-byte vectors (SSE2, every x86-64) for the 2x2 stride-2 case: compares
 * and selects without branches (a data-dependent branch per compare
 * mispredicts often and made this pass as slow as the convolution). */
typedef real v16 __attribute__((vector_size(16)));
#ifdef CN_REAL_F64
typedef int64_t m16 __attribute__((vector_size(16)));
#define L16 2
#define EVEN ((m16){0, 2})
#define ODD ((m16){1, 3})
#else
typedef int32_t m16 __attribute__((vector_size(16)));
#define L16 4
#define EVEN ((m16){0, 2, 4, 6})
#define ODD ((m16){1, 3, 5, 7})
#endif
/* where c: (m, sel) = (v, k) */
#define TAKE(m, sel, v, k, c)                                          \
    do {                                                               \
        m = (v16)(((m16)(v) & (c)) | ((m16)(m) & ~(c)));               \
        sel = (((m16){0} + (k)) & (c)) | (sel & ~(c));                 \
    } while (0)

/* One row of 2x2 stride-2 windows: o[0..Wo) and ix (may be NULL) from the
 * rows r0, r1 of a plane of width W, the windows starting at offset base. */
static void pool_row_2x2(real *o, int32_t *ix, const real *r0, const real *r1, int Wo, int W,
                         int base) {
    int j = 0;
    for (; j + L16 <= Wo; j += L16) {
        v16 a0, a1, b0, b1;
        memcpy(&a0, r0 + 2 * j, sizeof a0);
        memcpy(&a1, r0 + 2 * j + L16, sizeof a1);
        memcpy(&b0, r1 + 2 * j, sizeof b0);
        memcpy(&b1, r1 + 2 * j + L16, sizeof b1);
        /* window order (0,0) (0,1) (1,0) (1,1), strict > : the first max wins */
        v16 m = __builtin_shuffle(a0, a1, EVEN), t;
        m16 sel = {0}, c;
        t = __builtin_shuffle(a0, a1, ODD);
        c = t > m;
        TAKE(m, sel, t, 1, c);
        t = __builtin_shuffle(b0, b1, EVEN);
        c = t > m;
        TAKE(m, sel, t, W, c);
        t = __builtin_shuffle(b0, b1, ODD);
        c = t > m;
        TAKE(m, sel, t, W + 1, c);
        memcpy(o + j, &m, sizeof m);
        if (ix)
            for (int l = 0; l < L16; l++) ix[j + l] = base + 2 * (j + l) + (int32_t)sel[l];
    }
    for (; j < Wo; j++) {
        int bo = 2 * j, best = 0;
        real m = r0[bo];
        if (r0[bo + 1] > m) { m = r0[bo + 1]; best = 1; }
        if (r1[bo] > m) { m = r1[bo]; best = W; }
        if (r1[bo + 1] > m) { m = r1[bo + 1]; best = W + 1; }
        o[j] = m;
        if (ix) ix[j] = base + bo + best;
    }
}

/* One plane: out[Ho, Wo], idx[Ho, Wo] (may be NULL) from x[H, W]. */
void FN(cn__pool_plane)(real *out, int32_t *idx, const real *x, const cn_max_pool_shape *s, int Ho, int Wo) {
    const int W = s->W, st = s->stride;
    if (s->ph == 2 && s->pw == 2 && st == 2) {
        for (int i = 0; i < Ho; i++) {
            const real *r0 = x + (size_t)(2 * i) * W, *r1 = r0 + W;
            pool_row_2x2(out + (size_t)i * Wo, idx ? idx + (size_t)i * Wo : NULL, r0, r1, Wo, W,
                         2 * i * W);
        }
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
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (planes * in > 32768)
    for (long p = 0; p < planes; p++)
        FN(cn__pool_plane)(out + p * on, idx ? idx + p * on : NULL, x + p * in, s, Ho, Wo);
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
