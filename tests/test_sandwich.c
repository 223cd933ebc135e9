/* test_sandwich.c — conv-relu and conv-relu-pool through the harness
 * (harness.h): fast sandwiches against the naive layers composed by hand at
 * every SIMD level in both dtypes, numeric gradients (float64, inputs
 * redrawn until away from the relu kink and from pooling ties); the net's
 * fused forward against the two-step one; bad arguments. */
#include "harness.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    cn_conv_shape s;
    int ph, pw, ps;  /* pool; ph == 0: conv-relu only */
    int Ho, Wo, Po, Qo;
    size_t nx, nw, na, no; /* x, w, conv out (N,F,H',W'), final out */
} sw;

static sw mk(cn_conv_shape s, int ph, int pw, int ps) {
    sw d = {s, ph, pw, ps, 0, 0, 0, 0, 0, 0, 0, 0};
    d.Ho = 1 + (s.H + 2 * s.pad - s.HH) / s.stride;
    d.Wo = 1 + (s.W + 2 * s.pad - s.WW) / s.stride;
    d.nx = (size_t)s.N * s.C * s.H * s.W;
    d.nw = (size_t)s.F * s.C * s.HH * s.WW;
    d.na = (size_t)s.N * s.F * d.Ho * d.Wo;
    if (ph) {
        d.Po = 1 + (d.Ho - ph) / ps;
        d.Qo = 1 + (d.Wo - pw) / ps;
        d.no = (size_t)s.N * s.F * d.Po * d.Qo;
    } else {
        d.no = d.na;
    }
    return d;
}

static const char *tag_of(const sw *d) {
    static char buf[120];
    int k = snprintf(buf, sizeof buf, "x(%d,%d,%d,%d) w(%d,%d,%d,%d) s%d p%d", d->s.N, d->s.C,
                     d->s.H, d->s.W, d->s.F, d->s.C, d->s.HH, d->s.WW, d->s.stride, d->s.pad);
    if (d->ph) snprintf(buf + k, sizeof buf - k, " pool %dx%d s%d", d->ph, d->pw, d->ps);
    return buf;
}

/* Is every pre-activation at least `m` from 0, and in every pool window
 * with a positive max, the max at least `m` above the rest? */
static int well_separated(const sw *d, const double *a, const double *r, double m) {
    for (size_t i = 0; i < d->na; i++) if (fabs(a[i]) < m) return 0;
    if (!d->ph) return 1;
    for (int p = 0; p < d->s.N * d->s.F; p++)
        for (int i = 0; i < d->Po; i++)
            for (int j = 0; j < d->Qo; j++) {
                double best = -1, second = -1;
                for (int u = 0; u < d->ph; u++)
                    for (int v = 0; v < d->pw; v++) {
                        double t = r[((size_t)p * d->Ho + i * d->ps + u) * d->Wo + j * d->ps + v];
                        if (t > best) { second = best; best = t; }
                        else if (t > second) second = t;
                    }
                if (best > 0 && best - second < m) return 0;
            }
    return 1;
}

/* ---- the operations, for the harness (tests/harness.h) ----------------------
 * The naive path is the naive layers composed by hand: conv, relu, pool
 * forward; pool backward, the relu mask, conv backward. relu_out > 0
 * exactly where the pre-activation is, so it is the mask. */
enum { X, W, B, DOUT, OUT, DX, DW, DB, REL, IDX }; /* REL, IDX: with a pool only */
#define SANDWICH(T, S)                                                                                    \
    static int fwd_##S(cn_ctx *ctx, const sw *d, int naive, void **t) {                                   \
        T *r = d->ph ? t[REL] : t[OUT];                                                                   \
        if (!naive) {                                                                                     \
            if (d->ph)                                                                                    \
                return cn_conv_relu_pool_forward_##S(ctx, t[OUT], r, t[IDX], t[X], t[W], t[B], &d->s,     \
                                                     d->ph, d->pw, d->ps);                                \
            return cn_conv_relu_forward_##S(ctx, t[OUT], t[X], t[W], t[B], &d->s);                        \
        }                                                                                                 \
        int rc = cn_conv_forward_naive_##S(ctx, r, t[X], t[W], t[B], &d->s);                              \
        for (size_t i = 0; i < d->na; i++) r[i] = r[i] > 0 ? r[i] : 0;                                     \
        cn_max_pool_shape ps = {d->s.N, d->s.F, d->Ho, d->Wo, d->ph, d->pw, d->ps};                       \
        if (!rc && d->ph) rc = cn_max_pool_forward_naive_##S(ctx, t[OUT], t[IDX], r, &ps);                \
        return rc;                                                                                        \
    }                                                                                                     \
    static int bwd_##S(cn_ctx *ctx, const sw *d, int naive, void **t) {                                   \
        const T *r = d->ph ? t[REL] : t[OUT];                                                             \
        if (!naive) {                                                                                     \
            if (d->ph)                                                                                    \
                return cn_conv_relu_pool_backward_##S(ctx, t[DX], t[DW], t[DB], t[DOUT], r, t[IDX], t[X], \
                                                      t[W], &d->s, d->ph, d->pw, d->ps);                  \
            return cn_conv_relu_backward_##S(ctx, t[DX], t[DW], t[DB], t[DOUT], r, t[X], t[W], &d->s);    \
        }                                                                                                 \
        T *da = xmalloc(sizeof(T) * d->na);                                                               \
        cn_max_pool_shape ps = {d->s.N, d->s.F, d->Ho, d->Wo, d->ph, d->pw, d->ps};                       \
        int rc = 0;                                                                                       \
        if (d->ph) rc = cn_max_pool_backward_naive_##S(ctx, da, t[DOUT], r, NULL, &ps);                   \
        else memcpy(da, t[DOUT], sizeof(T) * d->na);                                                      \
        for (size_t i = 0; i < d->na; i++) if (!(r[i] > 0)) da[i] = 0;                                    \
        if (!rc) rc = cn_conv_backward_naive_##S(ctx, t[DX], t[DW], t[DB], da, t[X], t[W], &d->s);         \
        free(da);                                                                                         \
        return rc;                                                                                        \
    }
SANDWICH(float, f32)
SANDWICH(double, f64)

static int sw_fwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    return (f64 ? fwd_f64 : fwd_f32)(ctx, c->p, naive, t);
}
static int sw_bwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    return (f64 ? bwd_f64 : bwd_f32)(ctx, c->p, naive, t);
}
/* float64 fast vs naive norm-wise 1e-12 (as test_conv: elementwise ratios
 * of near-cancelled sums measure only roundoff); float32 fast and naive vs
 * float64 naive 1e-5; numeric gradients (float64, through the naive
 * composition) cn_rel_error 1e-7. */
#define SW_TOL                                                                                          \
    {.f64 = 1e-12, .f32 = 1e-5, .f32naive = 1e-5, .f32pair = -1, .num = 1e-7, .metric64 = HS_SCALED,    \
     .metric_num = HS_REL}
static const hs_op conv_relu_op = {"conv_relu", sw_fwd, sw_bwd, SW_TOL};
static const hs_op conv_relu_pool_op = {"conv_relu_pool", sw_fwd, sw_bwd, SW_TOL};

/* For the numeric gradients: the inputs are redrawn until every
 * pre-activation is 1e-3 (100x the largest change h = 1e-5 can make) from
 * 0 and every pool's max 1e-3 above the rest, so the centred differences
 * see no kink and no pooling tie. */
static int sw_separated(cn_ctx *ctx, const hs_case *c, void *const *t) {
    const sw *d = c->p;
    double *a = xmalloc(8 * d->na);
    int ok = !cn_conv_forward_naive_f64(ctx, a, t[X], t[W], t[B], &d->s) &&
             well_separated(d, a, d->ph ? t[REL] : t[OUT], 1e-3);
    free(a);
    return ok;
}

/* One case: x ~ N(0,1), w, b ~ N(0,0.25), dout ~ N(0,1) in that order from
 * seed; fast against the naive composition at every SIMD level in both
 * dtypes (outputs, relu_out, the argmax, gradients; dx = NULL leaves the
 * rest bit for bit); numgrad: inputs well separated, and numeric gradients
 * of both backwards. */
static void sw_case(cn_ctx *ctx, sw d, uint64_t seed, int numgrad) {
    hs_case c = hs_new(d.ph ? &conv_relu_pool_op : &conv_relu_op, &d, seed,
                       HS_LEVELS | HS_NULLGRAD | HS_NULLGRAD_NAIVE | (numgrad ? HS_NUMGRAD : 0), "%s", tag_of(&d));
    hs_in(&c, "x", d.nx, HS_NORMAL, 1);
    hs_in(&c, "w", d.nw, HS_NORMAL, 0.5);
    hs_in(&c, "b", d.s.F, HS_NORMAL, 0.5);
    hs_dout(&c, "dout", d.no);
    hs_out(&c, "out", d.no);
    hs_grad(&c, "dx", X);
    hs_grad(&c, "dw", W);
    hs_grad(&c, "db", B);
    if (d.ph) {
        hs_out(&c, "relu_out", d.na);
        hs_idx(&c, "pool_idx", d.no);
    }
    if (numgrad) {
        c.accept = sw_separated;
        c.tries = 500;
    }
    hs_check(ctx, &c);
}

static void bad_args(cn_ctx *ctx) {
    float x[2 * 3 * 6 * 6] = {0}, w[4 * 3 * 3 * 3] = {0}, b[4] = {0}, out[1024], rel[1024], g[1024] = {0};
    float dx[2 * 3 * 6 * 6], dw[4 * 3 * 3 * 3], db[4];
    int32_t idx[1024];
    cn_conv_shape ok = {2, 3, 6, 6, 4, 3, 3, 1, 0};    /* conv out 4x4 */
    hs_expect_err(ctx, "bad args: pool 5x2 on the 4x4 conv output -> CN_EINVAL",
                  cn_conv_relu_pool_forward_f32(ctx, out, rel, idx, x, w, b, &ok, 5, 2, 2), CN_EINVAL, "5x2");
    hs_expect_err(ctx, "bad args: pool stride 0 (backward) -> CN_EINVAL",
                  cn_conv_relu_pool_backward_f32(ctx, dx, dw, db, g, rel, idx, x, w, &ok, 2, 2, 0), CN_EINVAL,
                  "stride=0");
    cn_conv_shape bad = {2, 3, 6, 6, 4, 3, 3, 1, -1};
    hs_expect_err(ctx, "bad args: conv pad -1 (conv_relu_pool) -> CN_EINVAL",
                  cn_conv_relu_pool_forward_f32(ctx, out, rel, idx, x, w, b, &bad, 2, 2, 2), CN_EINVAL, "pad=-1");
    hs_expect_err(ctx, "bad args: conv pad -1 (conv_relu backward) -> CN_EINVAL",
                  cn_conv_relu_backward_f32(ctx, dx, dw, db, g, out, x, w, &bad), CN_EINVAL, "pad=-1");
}

/* The shapes and inputs of a conv-relu-pool case: x ~ N(0,1), w ~ 0.2 N,
 * b ~ 0.1 N from the seed, the rng left after them */
typedef struct {
    int Ho, Wo, Po, Qo;
    size_t nx, nw, nr, no; /* x, w, the relu output, the pooled output */
    float *x, *w, *b;
    cn_rng r;
} crp_case;
static crp_case crp_new(cn_ctx *ctx, const cn_conv_shape *s, int ph, int pw, int ps, uint64_t seed) {
    crp_case c;
    cn_conv_out(ctx, s, &c.Ho, &c.Wo);
    cn_max_pool_shape psh = {s->N, s->F, c.Ho, c.Wo, ph, pw, ps};
    cn_max_pool_out(ctx, &psh, &c.Po, &c.Qo);
    c.nx = (size_t)s->N * s->C * s->H * s->W, c.nw = (size_t)s->F * s->C * s->HH * s->WW;
    c.nr = (size_t)s->N * s->F * c.Ho * c.Wo, c.no = (size_t)s->N * s->F * c.Po * c.Qo;
    c.x = xmalloc(4 * c.nx), c.w = xmalloc(4 * c.nw), c.b = xmalloc(4 * s->F);
    cn_rng_seed(&c.r, seed);
    for (size_t i = 0; i < c.nx; i++) c.x[i] = (float)cn_rng_normal(&c.r);
    for (size_t i = 0; i < c.nw; i++) c.w[i] = (float)(0.2 * cn_rng_normal(&c.r));
    for (int i = 0; i < s->F; i++) c.b[i] = (float)(0.1 * cn_rng_normal(&c.r));
    return c;
}

/* The net's conv-relu-pool forward (pooled from each sample's output in
 * cache, relu_out not stored; internal, declared here) equals the public
 * two-step forward bit for bit: out and the argmax indices. Shapes: one
 * chunk per sample (fused), one over IMPL_COLS columns (the two steps),
 * columns not read in place (fused, im2col), an overlapping pool; every
 * SIMD level the CPU has. */
int cn__conv_relu_pool_forward_net_f32(cn_ctx *ctx, float *out, float *relu_out, int32_t *pool_idx,
                                       const float *x, const float *w, const float *b,
                                       const cn_conv_shape *s, int ph, int pw, int pstride);
static void net_forward_same(cn_ctx *ctx, cn_conv_shape s, int ph, int pw, int ps, uint64_t seed) {
    crp_case c = crp_new(ctx, &s, ph, pw, ps, seed);
    const size_t nr = c.nr, no = c.no;
    float *x = c.x, *w = c.w, *b = c.b;
    float *r1 = xmalloc(4 * nr), *r2 = xmalloc(4 * nr), *o1 = xmalloc(4 * no), *o2 = xmalloc(4 * no);
    int32_t *i1 = xmalloc(4 * no), *i2 = xmalloc(4 * no);
    const char *levels[3];
    int nl = hs_levels(ctx, levels);
    for (int l = 0; l < nl; l++) {
        cn_ctx_set_simd(ctx, levels[l]);
        int rc = cn_conv_relu_pool_forward_f32(ctx, o1, r1, i1, x, w, b, &s, ph, pw, ps);
        rc |= cn__conv_relu_pool_forward_net_f32(ctx, o2, r2, i2, x, w, b, &s, ph, pw, ps);
        char name[200];
        snprintf(name, sizeof name, "net conv-relu-pool forward vs two-step: elements not bit-identical (%s; x (%d,%d,%d,%d) w (%d,%d,%d,%d) pool %dx%d s%d)",
                 levels[l], s.N, s.C, s.H, s.W, s.F, s.C, s.HH, s.WW, ph, pw, ps);
        size_t differ = 0; /* elements not bit-identical */
        for (size_t i = 0; i < no; i++) differ += memcmp(&o1[i], &o2[i], 4) != 0 || i1[i] != i2[i];
        if (rc) check_true(name, 0, cn_ctx_error(ctx));
        else check_le(name, (double)differ, 0);
    }
    cn_ctx_set_simd(ctx, "auto");
    free(x); free(w); free(b); free(r1); free(r2); free(o1); free(o2); free(i1); free(i2);
}

/* The net's conv-relu-pool backward without dx (the first layer: the
 * pool's gradient unpooled per item in cache, internal, declared here)
 * equals the public backward (unpool, relu mask, conv backward) bit for bit
 * in dw and db; a bad argmax index is CN_EINVAL naming it. Shapes: one chunk
 * per sample, a sample in several chunks, small planes with several samples
 * an item, an overlapping pool; every SIMD level the CPU has. */
int cn__conv_relu_pool_backward_into_f32(cn_ctx *ctx, float *dx, float *dw, float *db, const float *dout,
                                         const float *out, const int32_t *pool_idx, const float *x,
                                         const float *w, const cn_conv_shape *s, int ph, int pw, int pstride,
                                         float *da);
long cn__pool_scatter_f32(float *d, const float *g, const int32_t *ix, const float *keep, size_t in, size_t on);
static void net_backward_same(cn_ctx *ctx, cn_conv_shape s, int ph, int pw, int ps, uint64_t seed) {
    crp_case c = crp_new(ctx, &s, ph, pw, ps, seed);
    const int Ho = c.Ho, Wo = c.Wo, Po = c.Po, Qo = c.Qo;
    const size_t nw = c.nw, nr = c.nr, no = c.no;
    float *x = c.x, *w = c.w, *b = c.b, *g = xmalloc(4 * no);
    float *rel = xmalloc(4 * nr), *out = xmalloc(4 * no), *da = xmalloc(4 * nr);
    float *dw1 = xmalloc(4 * nw), *dw2 = xmalloc(4 * nw), *db1 = xmalloc(4 * s.F), *db2 = xmalloc(4 * s.F);
    float *dw3 = xmalloc(4 * nw), *db3 = xmalloc(4 * s.F), *dx = xmalloc(4 * c.nx);
    int32_t *idx = xmalloc(4 * no);
    for (size_t i = 0; i < no; i++) g[i] = (float)cn_rng_normal(&c.r);
    const char *levels[3];
    int nl = hs_levels(ctx, levels);
    char name[220];
    for (int l = 0; l < nl; l++) {
        cn_ctx_set_simd(ctx, levels[l]);
        int rc = cn_conv_relu_pool_forward_f32(ctx, out, rel, idx, x, w, b, &s, ph, pw, ps);
        /* the reference: with dx, the unpooled gradient made in memory
         * (scatter, then the mask from relu_out) and the conv's backward */
        rc |= cn_conv_relu_pool_backward_f32(ctx, dx, dw1, db1, g, rel, idx, x, w, &s, ph, pw, ps);
        /* without dx: the dw items unpool in cache, the mask from the
         * pooled output (the net's) or from relu_out (the public) */
        rc |= cn__conv_relu_pool_backward_into_f32(ctx, NULL, dw2, db2, g, out, idx, x, w, &s, ph, pw, ps, da);
        rc |= cn_conv_relu_pool_backward_f32(ctx, NULL, dw3, db3, g, rel, idx, x, w, &s, ph, pw, ps);
        snprintf(name, sizeof name, "conv-relu-pool backward (no dx; net's and public) vs with dx: dw, db not bit-identical (%s; x (%d,%d,%d,%d) w (%d,%d,%d,%d) pool %dx%d s%d)",
                 levels[l], s.N, s.C, s.H, s.W, s.F, s.C, s.HH, s.WW, ph, pw, ps);
        size_t differ = 0, nz = 0;
        for (size_t i = 0; i < nw; i++)
            differ += (memcmp(&dw1[i], &dw2[i], 4) != 0) + (memcmp(&dw1[i], &dw3[i], 4) != 0), nz += dw1[i] != 0;
        for (int i = 0; i < s.F; i++) differ += (memcmp(&db1[i], &db2[i], 4) != 0) + (memcmp(&db1[i], &db3[i], 4) != 0);
        if (rc) check_true(name, 0, cn_ctx_error(ctx));
        else check_le(name, nz ? (double)differ : 1.0, 0); /* all zero: the test would prove nothing */
    }
    /* an index in the plane but outside its window (the dense unpool
     * gives way to the scatter): still the public backward's bits */
    for (int l = 0; l < nl; l++) {
        cn_ctx_set_simd(ctx, levels[l]);
        int rc = cn_conv_relu_pool_forward_f32(ctx, out, rel, idx, x, w, b, &s, ph, pw, ps);
        for (size_t i = 0; i < no; i += 7) idx[i] = (int32_t)((idx[i] + 5 * Wo + 3) % (Ho * Wo));
        /* reference: the scatter with the pooled output's mask, then the conv backward */
        const size_t in = (size_t)Ho * Wo, on = (size_t)Po * Qo;
        for (size_t p = 0; p < (size_t)s.N * s.F; p++)
            cn__pool_scatter_f32(rel + p * in, g + p * on, idx + p * on, out + p * on, in, on);
        rc |= cn_conv_backward_f32(ctx, NULL, dw1, db1, rel, x, w, &s);
        rc |= cn__conv_relu_pool_backward_into_f32(ctx, NULL, dw2, db2, g, out, idx, x, w, &s, ph, pw, ps, da);
        snprintf(name, sizeof name, "net conv-relu-pool backward, indices outside their windows: dw, db not bit-identical (%s; x (%d,%d,%d,%d))",
                 levels[l], s.N, s.C, s.H, s.W);
        size_t differ = 0;
        for (size_t i = 0; i < nw; i++) differ += memcmp(&dw1[i], &dw2[i], 4) != 0;
        for (int i = 0; i < s.F; i++) differ += memcmp(&db1[i], &db2[i], 4) != 0;
        if (rc) check_true(name, 0, cn_ctx_error(ctx));
        else check_le(name, (double)differ, 0);
    }
    cn_ctx_set_simd(ctx, "auto");
    idx[no - 1] = Ho * Wo; /* one past the plane */
    snprintf(name, sizeof name, "net conv-relu-pool backward: pool_idx[%zu] = %d -> CN_EINVAL", no - 1, Ho * Wo);
    int rc = cn__conv_relu_pool_backward_into_f32(ctx, NULL, dw2, db2, g, out, idx, x, w, &s, ph, pw, ps, da);
    char want[64];
    snprintf(want, sizeof want, "pool_idx[%zu]", no - 1);
    check_true(name, rc == CN_EINVAL && strstr(cn_ctx_error(ctx), want), cn_ctx_error(ctx));
    snprintf(name, sizeof name, "public conv-relu-pool backward (no dx): pool_idx[%zu] = %d -> CN_EINVAL", no - 1, Ho * Wo);
    rc = cn_conv_relu_pool_backward_f32(ctx, NULL, dw3, db3, g, rel, idx, x, w, &s, ph, pw, ps);
    check_true(name, rc == CN_EINVAL && strstr(cn_ctx_error(ctx), want), cn_ctx_error(ctx));
    idx[no - 1] = -1;
    snprintf(name, sizeof name, "public conv-relu-pool backward (no dx): pool_idx[%zu] = -1 -> CN_EINVAL", no - 1);
    rc = cn_conv_relu_pool_backward_f32(ctx, NULL, dw3, db3, g, rel, idx, x, w, &s, ph, pw, ps);
    check_true(name, rc == CN_EINVAL && strstr(cn_ctx_error(ctx), want), cn_ctx_error(ctx));
    free(x); free(w); free(b); free(g); free(rel); free(out); free(da);
    free(dw1); free(dw2); free(db1); free(db2); free(dw3); free(db3); free(dx); free(idx);
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(2);
    if (!ctx) return 2;
    sw_case(ctx, mk((cn_conv_shape){2, 3, 6, 6, 4, 3, 3, 1, 1}, 0, 0, 0), 1, 1);
    sw_case(ctx, mk((cn_conv_shape){2, 3, 8, 8, 3, 3, 3, 1, 1}, 2, 2, 2), 2, 1);
    sw_case(ctx, mk((cn_conv_shape){1, 2, 9, 7, 3, 3, 2, 2, 1}, 3, 3, 2), 3, 1); /* overlapping pool */

    sw_case(ctx, mk((cn_conv_shape){2, 3, 8, 8, 4, 3, 3, 1, 1}, 0, 0, 0), 10, 0);
    sw_case(ctx, mk((cn_conv_shape){3, 5, 7, 9, 6, 2, 3, 2, 2}, 0, 0, 0), 11, 0);
    sw_case(ctx, mk((cn_conv_shape){2, 3, 8, 8, 4, 3, 3, 1, 1}, 2, 2, 2), 12, 0);
    sw_case(ctx, mk((cn_conv_shape){2, 3, 9, 7, 5, 3, 2, 2, 1}, 3, 3, 2), 13, 0);
    sw_case(ctx, mk((cn_conv_shape){2, 4, 11, 10, 3, 3, 3, 1, 0}, 2, 3, 3), 14, 0); /* does not tile */
    sw_case(ctx, mk((cn_conv_shape){3, 3, 32, 32, 32, 7, 7, 1, 3}, 2, 2, 2), 15, 0); /* the net's layer */
    /* sizes that are not a multiple of the relu mask's vector (16 bytes):
     * its scalar tail; a 1x1 pool scatters to every element, so the mask
     * alone zeroes the negative ones */
    sw_case(ctx, mk((cn_conv_shape){1, 2, 7, 7, 3, 3, 3, 1, 0}, 0, 0, 0), 16, 1); /* 75 outputs */
    sw_case(ctx, mk((cn_conv_shape){1, 2, 7, 7, 3, 3, 3, 1, 1}, 1, 1, 1), 17, 0); /* 3 planes of 49 */
    net_forward_same(ctx, (cn_conv_shape){4, 3, 32, 32, 32, 7, 7, 1, 3}, 2, 2, 2, 20);  /* fused */
    net_forward_same(ctx, (cn_conv_shape){2, 3, 48, 48, 8, 3, 3, 1, 1}, 2, 2, 2, 21);   /* 2304 columns */
    net_forward_same(ctx, (cn_conv_shape){3, 4, 10, 10, 5, 3, 3, 1, 1}, 2, 2, 2, 22);   /* W' = 10 */
    net_forward_same(ctx, (cn_conv_shape){2, 3, 9, 7, 5, 3, 2, 2, 1}, 3, 3, 2, 23);     /* overlapping */
    net_backward_same(ctx, (cn_conv_shape){5, 3, 32, 32, 32, 7, 7, 1, 3}, 2, 2, 2, 30);  /* the three-layer net's */
    net_backward_same(ctx, (cn_conv_shape){2, 3, 48, 48, 8, 3, 3, 1, 1}, 2, 2, 2, 31);   /* chunks of a sample */
    net_backward_same(ctx, (cn_conv_shape){40, 6, 8, 8, 8, 3, 3, 1, 1}, 2, 2, 2, 32);   /* several samples an item */
    net_backward_same(ctx, (cn_conv_shape){3, 2, 9, 7, 5, 3, 2, 2, 1}, 3, 3, 2, 33);     /* overlapping, stride 2 */
    net_backward_same(ctx, (cn_conv_shape){2, 2, 35, 37, 6, 3, 3, 1, 1}, 2, 2, 2, 34);   /* odd planes: rows, columns no window covers */
    net_forward_same(ctx, (cn_conv_shape){2, 2, 35, 37, 6, 3, 3, 1, 1}, 2, 2, 2, 24);    /* odd planes, 18 windows a row */
    net_forward_same(ctx, (cn_conv_shape){2, 3, 31, 31, 5, 3, 3, 1, 1}, 2, 2, 2, 25);    /* 15 windows a row: 16-byte vectors, then 3 */
    bad_args(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
