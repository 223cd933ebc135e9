/* test_sandwich.c — conv-relu and conv-relu-pool: numeric gradients (float64,
 * inputs chosen away from the relu kink and from pooling ties), fast
 * sandwiches against the naive layers composed by hand, both dtypes, bad
 * arguments. */
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

/* The reference: naive conv, relu, naive pool (float64). a: [N,F,H',W']
 * pre-activations (also returned), r: relu, out: final, idx: pool argmax. */
static void reference(cn_ctx *ctx, const sw *d, double *out, double *a, double *r, int32_t *idx,
                      const double *x, const double *w, const double *b) {
    cn_conv_forward_naive_f64(ctx, a, x, w, b, &d->s);
    for (size_t i = 0; i < d->na; i++) r[i] = a[i] > 0 ? a[i] : 0;
    if (d->ph) {
        cn_max_pool_shape ps = {d->s.N, d->s.F, d->Ho, d->Wo, d->ph, d->pw, d->ps};
        cn_max_pool_forward_naive_f64(ctx, out, idx, r, &ps);
    } else {
        memcpy(out, r, sizeof(double) * d->na);
    }
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

typedef struct {
    cn_ctx *ctx;
    const sw *d;
    double *x, *w, *b, *a, *r;
    int32_t *idx;
} ref_args;

static void f_ref(void *u, double *out) {
    ref_args *q = u;
    reference(q->ctx, q->d, out, q->a, q->r, q->idx, q->x, q->w, q->b);
}

typedef struct {
    double *x, *w, *b, *dout, *a, *r, *out;
    int32_t *idx;
} bufs;

static bufs alloc_bufs(const sw *d) {
    bufs B;
    B.x = xmalloc(8 * d->nx); B.w = xmalloc(8 * d->nw); B.b = xmalloc(8 * d->s.F);
    B.dout = xmalloc(8 * d->no); B.a = xmalloc(8 * d->na); B.r = xmalloc(8 * d->na);
    B.out = xmalloc(8 * d->no); B.idx = xmalloc(4 * d->no + 4);
    return B;
}
static void free_bufs(bufs *B) {
    free(B->x); free(B->w); free(B->b); free(B->dout); free(B->a); free(B->r); free(B->out); free(B->idx);
}

/* Random data (seeded), retried with the next seed until well separated by
 * 1e-3 (100x the largest change h=1e-5 can make), so the numeric gradients
 * see no kink and no pooling tie. */
static int fill_separated(cn_ctx *ctx, const sw *d, bufs *B, uint64_t seed) {
    for (int tries = 0; tries < 500; tries++) {
        cn_rng rg;
        cn_rng_seed(&rg, seed + 1000 * tries);
        fill_normal(&rg, B->x, d->nx, 1);
        fill_normal(&rg, B->w, d->nw, 0.5);
        fill_normal(&rg, B->b, d->s.F, 0.5);
        fill_normal(&rg, B->dout, d->no, 1);
        reference(ctx, d, B->out, B->a, B->r, B->idx, B->x, B->w, B->b);
        if (well_separated(d, B->a, B->r, 1e-3)) return 1;
    }
    return 0;
}

/* backward through the fast sandwich (float64) */
static int sandwich_bwd64(cn_ctx *ctx, const sw *d, double *dx, double *dw, double *db,
                          const bufs *B) {
    double *out = xmalloc(8 * d->no), *rel = xmalloc(8 * d->na);
    int32_t *idx = xmalloc(4 * d->no + 4);
    int rc;
    if (d->ph) {
        rc = cn_conv_relu_pool_forward_f64(ctx, out, rel, idx, B->x, B->w, B->b, &d->s, d->ph, d->pw, d->ps);
        rc |= cn_conv_relu_pool_backward_f64(ctx, dx, dw, db, B->dout, rel, idx, B->x, B->w, &d->s,
                                             d->ph, d->pw, d->ps);
    } else {
        rc = cn_conv_relu_forward_f64(ctx, out, B->x, B->w, B->b, &d->s);
        rc |= cn_conv_relu_backward_f64(ctx, dx, dw, db, B->dout, out, B->x, B->w, &d->s);
    }
    free(out); free(rel); free(idx);
    return rc;
}

static void numeric_grads(cn_ctx *ctx, sw d, uint64_t seed) {
    bufs B = alloc_bufs(&d);
    char name[200];
    if (!check_true("numgrad: found well-separated data", fill_separated(ctx, &d, &B, seed), tag_of(&d))) {
        free_bufs(&B);
        return;
    }
    double *work = xmalloc(16 * d.no), *nx = xmalloc(8 * d.nx), *nw = xmalloc(8 * d.nw), *nb = xmalloc(8 * d.s.F);
    double *dx = xmalloc(8 * d.nx), *dw = xmalloc(8 * d.nw), *db = xmalloc(8 * d.s.F);
    ref_args q = {ctx, &d, B.x, B.w, B.b, B.a, B.r, B.idx};
    cn_eval_numerical_gradient_array(ctx, nx, f_ref, &q, B.x, d.nx, B.dout, d.no, 1e-5, work);
    cn_eval_numerical_gradient_array(ctx, nw, f_ref, &q, B.w, d.nw, B.dout, d.no, 1e-5, work);
    cn_eval_numerical_gradient_array(ctx, nb, f_ref, &q, B.b, d.s.F, B.dout, d.no, 1e-5, work);
    int rc = sandwich_bwd64(ctx, &d, dx, dw, db, &B);
    const char *what = d.ph ? "conv_relu_pool" : "conv_relu";
    snprintf(name, sizeof name, "numgrad %s dx %s", what, tag_of(&d));
    check_le(name, rc ? 1 : cn_rel_error(dx, nx, d.nx), 1e-7);
    snprintf(name, sizeof name, "numgrad %s dw %s", what, tag_of(&d));
    check_le(name, rc ? 1 : cn_rel_error(dw, nw, d.nw), 1e-7);
    snprintf(name, sizeof name, "numgrad %s db %s", what, tag_of(&d));
    check_le(name, rc ? 1 : cn_rel_error(db, nb, d.s.F), 1e-7);
    free(work); free(nx); free(nw); free(nb); free(dx); free(dw); free(db);
    free_bufs(&B);
}

/* f64: elementwise rel within 1e-10, or (when near-zero elements dominate
 * it, as in test_conv) the scaled error within 1e-12; the elementwise value
 * is shown either way. */
static void cmp64(int rc, const char *what, const char *tag, const double *a, const double *b, size_t n) {
    char name[240];
    double rel = cn_rel_error(a, b, n);
    snprintf(name, sizeof name, "%s f64 fast/naive %s (elementwise rel %.1e)", what, tag, rel);
    check_le(name, rc ? 1 : (rel <= 1e-10 ? rel : scaled_error(a, b, n)), rel <= 1e-10 ? 1e-10 : 1e-12);
}

/* Fast sandwich against the naive layers composed: forward outputs and
 * caches, backward gradients; float64 and float32. */
static void fast_vs_naive(cn_ctx *ctx, sw d, uint64_t seed) {
    bufs B = alloc_bufs(&d);
    cn_rng rg;
    cn_rng_seed(&rg, seed);
    fill_normal(&rg, B.x, d.nx, 1);
    fill_normal(&rg, B.w, d.nw, 0.5);
    fill_normal(&rg, B.b, d.s.F, 0.5);
    fill_normal(&rg, B.dout, d.no, 1);
    reference(ctx, &d, B.out, B.a, B.r, B.idx, B.x, B.w, B.b);
    /* naive backward: pool backward (naive), relu mask, conv backward (naive) */
    double *da = xmalloc(8 * d.na), *dxn = xmalloc(8 * d.nx), *dwn = xmalloc(8 * d.nw), *dbn = xmalloc(8 * d.s.F);
    cn_max_pool_shape ps = {d.s.N, d.s.F, d.Ho, d.Wo, d.ph, d.pw, d.ps};
    if (d.ph) cn_max_pool_backward_naive_f64(ctx, da, B.dout, B.r, NULL, &ps);
    else memcpy(da, B.dout, 8 * d.na);
    for (size_t i = 0; i < d.na; i++) if (!(B.a[i] > 0)) da[i] = 0;
    cn_conv_backward_naive_f64(ctx, dxn, dwn, dbn, da, B.x, B.w, &d.s);

    double *out = xmalloc(8 * d.no), *rel = xmalloc(8 * d.na);
    double *dx = xmalloc(8 * d.nx), *dw = xmalloc(8 * d.nw), *db = xmalloc(8 * d.s.F);
    int32_t *idx = xmalloc(4 * d.no + 4);
    const char *tag = tag_of(&d);
    char name[240];
    int rc;
    if (d.ph) {
        rc = cn_conv_relu_pool_forward_f64(ctx, out, rel, idx, B.x, B.w, B.b, &d.s, d.ph, d.pw, d.ps);
        cmp64(rc, "conv_relu_pool relu_out", tag, rel, B.r, d.na);
        cmp64(rc, "conv_relu_pool out", tag, out, B.out, d.no);
        size_t bad = 0;
        for (size_t i = 0; i < d.no; i++) bad += idx[i] != B.idx[i];
        snprintf(name, sizeof name, "conv_relu_pool pool_idx f64 fast==naive %s", tag);
        check_true(name, !rc && bad == 0, NULL);
        rc = cn_conv_relu_pool_backward_f64(ctx, dx, dw, db, B.dout, rel, idx, B.x, B.w, &d.s, d.ph, d.pw, d.ps);
    } else {
        rc = cn_conv_relu_forward_f64(ctx, out, B.x, B.w, B.b, &d.s);
        cmp64(rc, "conv_relu out", tag, out, B.out, d.no);
        rc = cn_conv_relu_backward_f64(ctx, dx, dw, db, B.dout, out, B.x, B.w, &d.s);
    }
    const char *what = d.ph ? "conv_relu_pool" : "conv_relu";
    snprintf(name, sizeof name, "%s dx", what);
    cmp64(rc, name, tag, dx, dxn, d.nx);
    snprintf(name, sizeof name, "%s dw", what);
    cmp64(rc, name, tag, dw, dwn, d.nw);
    snprintf(name, sizeof name, "%s db", what);
    cmp64(rc, name, tag, db, dbn, d.s.F);

    /* float32 fast against float64 naive */
    float *x32 = xmalloc(4 * d.nx), *w32 = xmalloc(4 * d.nw), *b32 = xmalloc(4 * d.s.F), *g32 = xmalloc(4 * d.no);
    float *o32 = xmalloc(4 * d.no), *r32 = xmalloc(4 * d.na), *dx32 = xmalloc(4 * d.nx), *dw32 = xmalloc(4 * d.nw), *db32 = xmalloc(4 * d.s.F);
    to_f32(x32, B.x, d.nx); to_f32(w32, B.w, d.nw); to_f32(b32, B.b, d.s.F); to_f32(g32, B.dout, d.no);
    if (d.ph) {
        rc = cn_conv_relu_pool_forward_f32(ctx, o32, r32, idx, x32, w32, b32, &d.s, d.ph, d.pw, d.ps);
        double e = fmax(scaled_error_f32(o32, B.out, d.no), scaled_error_f32(r32, B.r, d.na));
        snprintf(name, sizeof name, "%s out,relu_out f32 fast/f64 naive %s", what, tag);
        check_le(name, rc ? 1 : e, 1e-5);
        rc = cn_conv_relu_pool_backward_f32(ctx, dx32, dw32, db32, g32, r32, idx, x32, w32, &d.s, d.ph, d.pw, d.ps);
    } else {
        rc = cn_conv_relu_forward_f32(ctx, o32, x32, w32, b32, &d.s);
        snprintf(name, sizeof name, "%s out f32 fast/f64 naive %s", what, tag);
        check_le(name, rc ? 1 : scaled_error_f32(o32, B.out, d.no), 1e-5);
        rc = cn_conv_relu_backward_f32(ctx, dx32, dw32, db32, g32, o32, x32, w32, &d.s);
    }
    double e = fmax(scaled_error_f32(dx32, dxn, d.nx), fmax(scaled_error_f32(dw32, dwn, d.nw), scaled_error_f32(db32, dbn, d.s.F)));
    snprintf(name, sizeof name, "%s dx,dw,db f32 fast/f64 naive %s", what, tag);
    check_le(name, rc ? 1 : e, 1e-5);

    free(x32); free(w32); free(b32); free(g32); free(o32); free(r32); free(dx32); free(dw32); free(db32);
    free(da); free(dxn); free(dwn); free(dbn); free(out); free(rel); free(dx); free(dw); free(db); free(idx);
    free_bufs(&B);
}

static void bad_args(cn_ctx *ctx) {
    float x[2 * 3 * 6 * 6] = {0}, w[4 * 3 * 3 * 3] = {0}, b[4] = {0}, out[1024], rel[1024], g[1024] = {0};
    float dx[2 * 3 * 6 * 6], dw[4 * 3 * 3 * 3], db[4];
    int32_t idx[1024];
    cn_conv_shape ok = {2, 3, 6, 6, 4, 3, 3, 1, 0};    /* conv out 4x4 */
    int rc = cn_conv_relu_pool_forward_f32(ctx, out, rel, idx, x, w, b, &ok, 5, 2, 2);
    check_true("bad args: pool 5x2 on the 4x4 conv output -> CN_EINVAL", rc == CN_EINVAL &&
               strstr(cn_ctx_error(ctx), "5x2") != NULL, cn_ctx_error(ctx));
    rc = cn_conv_relu_pool_backward_f32(ctx, dx, dw, db, g, rel, idx, x, w, &ok, 2, 2, 0);
    check_true("bad args: pool stride 0 (backward) -> CN_EINVAL", rc == CN_EINVAL &&
               strstr(cn_ctx_error(ctx), "stride=0") != NULL, cn_ctx_error(ctx));
    cn_conv_shape bad = {2, 3, 6, 6, 4, 3, 3, 1, -1};
    rc = cn_conv_relu_pool_forward_f32(ctx, out, rel, idx, x, w, b, &bad, 2, 2, 2);
    check_true("bad args: conv pad -1 (conv_relu_pool) -> CN_EINVAL", rc == CN_EINVAL &&
               strstr(cn_ctx_error(ctx), "pad=-1") != NULL, cn_ctx_error(ctx));
    rc = cn_conv_relu_backward_f32(ctx, dx, dw, db, g, out, x, w, &bad);
    check_true("bad args: conv pad -1 (conv_relu backward) -> CN_EINVAL", rc == CN_EINVAL &&
               strstr(cn_ctx_error(ctx), "pad=-1") != NULL, cn_ctx_error(ctx));
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
    int Ho, Wo, Po, Qo;
    cn_conv_out(ctx, &s, &Ho, &Wo);
    cn_max_pool_shape psh = {s.N, s.F, Ho, Wo, ph, pw, ps};
    cn_max_pool_out(ctx, &psh, &Po, &Qo);
    size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.F * s.C * s.HH * s.WW;
    size_t nr = (size_t)s.N * s.F * Ho * Wo, no = (size_t)s.N * s.F * Po * Qo;
    float *x = xmalloc(4 * nx), *w = xmalloc(4 * nw), *b = xmalloc(4 * s.F);
    float *r1 = xmalloc(4 * nr), *r2 = xmalloc(4 * nr), *o1 = xmalloc(4 * no), *o2 = xmalloc(4 * no);
    int32_t *i1 = xmalloc(4 * no), *i2 = xmalloc(4 * no);
    cn_rng r;
    cn_rng_seed(&r, seed);
    for (size_t i = 0; i < nx; i++) x[i] = (float)cn_rng_normal(&r);
    for (size_t i = 0; i < nw; i++) w[i] = (float)(0.2 * cn_rng_normal(&r));
    for (int i = 0; i < s.F; i++) b[i] = (float)(0.1 * cn_rng_normal(&r));
    const char *levels[3];
    int nl = hs_levels(ctx, levels);
    for (int l = 0; l < nl; l++) {
        cn_ctx_set_simd(ctx, levels[l]);
        int rc = cn_conv_relu_pool_forward_f32(ctx, o1, r1, i1, x, w, b, &s, ph, pw, ps);
        rc |= cn__conv_relu_pool_forward_net_f32(ctx, o2, r2, i2, x, w, b, &s, ph, pw, ps);
        char name[200];
        snprintf(name, sizeof name, "net conv-relu-pool forward = two-step forward bitwise (%s; x (%d,%d,%d,%d) w (%d,%d,%d,%d) pool %dx%d s%d)",
                 levels[l], s.N, s.C, s.H, s.W, s.F, s.C, s.HH, s.WW, ph, pw, ps);
        check_true(name, rc == 0 && !memcmp(o1, o2, 4 * no) && !memcmp(i1, i2, 4 * no), cn_ctx_error(ctx));
    }
    cn_ctx_set_simd(ctx, "auto");
    free(x); free(w); free(b); free(r1); free(r2); free(o1); free(o2); free(i1); free(i2);
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(2);
    if (!ctx) return 2;
    numeric_grads(ctx, mk((cn_conv_shape){2, 3, 6, 6, 4, 3, 3, 1, 1}, 0, 0, 0), 1);
    numeric_grads(ctx, mk((cn_conv_shape){2, 3, 8, 8, 3, 3, 3, 1, 1}, 2, 2, 2), 2);
    numeric_grads(ctx, mk((cn_conv_shape){1, 2, 9, 7, 3, 3, 2, 2, 1}, 3, 3, 2), 3); /* overlapping pool */

    fast_vs_naive(ctx, mk((cn_conv_shape){2, 3, 8, 8, 4, 3, 3, 1, 1}, 0, 0, 0), 10);
    fast_vs_naive(ctx, mk((cn_conv_shape){3, 5, 7, 9, 6, 2, 3, 2, 2}, 0, 0, 0), 11);
    fast_vs_naive(ctx, mk((cn_conv_shape){2, 3, 8, 8, 4, 3, 3, 1, 1}, 2, 2, 2), 12);
    fast_vs_naive(ctx, mk((cn_conv_shape){2, 3, 9, 7, 5, 3, 2, 2, 1}, 3, 3, 2), 13);
    fast_vs_naive(ctx, mk((cn_conv_shape){2, 4, 11, 10, 3, 3, 3, 1, 0}, 2, 3, 3), 14); /* does not tile */
    fast_vs_naive(ctx, mk((cn_conv_shape){3, 3, 32, 32, 32, 7, 7, 1, 3}, 2, 2, 2), 15); /* the net's layer */
    net_forward_same(ctx, (cn_conv_shape){4, 3, 32, 32, 32, 7, 7, 1, 3}, 2, 2, 2, 20);  /* fused */
    net_forward_same(ctx, (cn_conv_shape){2, 3, 48, 48, 8, 3, 3, 1, 1}, 2, 2, 2, 21);   /* 2304 columns */
    net_forward_same(ctx, (cn_conv_shape){3, 4, 10, 10, 5, 3, 3, 1, 1}, 2, 2, 2, 22);   /* W' = 10 */
    net_forward_same(ctx, (cn_conv_shape){2, 3, 9, 7, 5, 3, 2, 2, 1}, 3, 3, 2, 23);     /* overlapping */
    bad_args(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
