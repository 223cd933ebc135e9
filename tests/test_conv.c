/* test_conv.c — convolution: hand-worked cases, numeric gradients (float64),
 * fast against naive for odd shapes on every SIMD path, thread counts and
 * bad arguments. */
#include "check.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    cn_conv_shape s;
    int Ho, Wo;
    size_t nx, nw, no;
} dims;

static dims mk(cn_conv_shape s) {
    dims d = {s, 0, 0, 0, 0, 0};
    d.Ho = 1 + (s.H + 2 * s.pad - s.HH) / s.stride;
    d.Wo = 1 + (s.W + 2 * s.pad - s.WW) / s.stride;
    d.nx = (size_t)s.N * s.C * s.H * s.W;
    d.nw = (size_t)s.F * s.C * s.HH * s.WW;
    d.no = (size_t)s.N * s.F * d.Ho * d.Wo;
    return d;
}

static const char *shape_tag(const cn_conv_shape *s) {
    static char buf[96];
    snprintf(buf, sizeof buf, "x(%d,%d,%d,%d) w(%d,%d,%d,%d) s%d p%d", s->N, s->C, s->H, s->W,
             s->F, s->C, s->HH, s->WW, s->stride, s->pad);
    return buf;
}

/* max |a-b| / max|b| (float64 against float64) */
static double scaled64(const double *a, const double *b, size_t n) {
    double m = 1e-300, d = 0;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > m) m = fabs(b[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (e > d || isnan(e)) d = e;
    }
    return d / m;
}

/* ---- hand-worked cases ---------------------------------------------------- */
static void hand_cases(cn_ctx *ctx) {
    const double x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* 1x1x3x3 */
    char name[128];
    /* 2x2 filter [[1,2],[3,4]], b = 0.5, stride 1, pad 0:
     * out[i][j] = x[i][j] + 2 x[i][j+1] + 3 x[i+1][j] + 4 x[i+1][j+1] + 0.5 */
    {
        cn_conv_shape s = {1, 1, 3, 3, 1, 2, 2, 1, 0};
        const double w[4] = {1, 2, 3, 4}, b[1] = {0.5};
        const double want[4] = {37.5, 47.5, 67.5, 77.5};
        /* dout = ones: db = 4, dw[a][b] = sum of the 2x2 block at (a,b),
         * dx = how many times each tap touches x, weighted by w */
        const double dout[4] = {1, 1, 1, 1};
        const double want_dw[4] = {12, 16, 24, 28}, want_db = 4;
        const double want_dx[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
        for (int dt = 0; dt < 2; dt++)
            for (int fast = 0; fast < 2; fast++) {
                double out[4], dx[9], dw[4], db[1];
                if (dt == 0) {
                    float xf[9], wf[4], bf[1], of[4], gf[4], dxf[9], dwf[4], dbf[1];
                    to_f32(xf, x, 9); to_f32(wf, w, 4); to_f32(bf, b, 1); to_f32(gf, dout, 4);
                    if (fast) {
                        cn_conv_forward_f32(ctx, of, xf, wf, bf, &s);
                        cn_conv_backward_f32(ctx, dxf, dwf, dbf, gf, xf, wf, &s);
                    } else {
                        cn_conv_forward_naive_f32(ctx, of, xf, wf, bf, &s);
                        cn_conv_backward_naive_f32(ctx, dxf, dwf, dbf, gf, xf, wf, &s);
                    }
                    to_f64(out, of, 4); to_f64(dx, dxf, 9); to_f64(dw, dwf, 4); to_f64(db, dbf, 1);
                } else if (fast) {
                    cn_conv_forward_f64(ctx, out, x, w, b, &s);
                    cn_conv_backward_f64(ctx, dx, dw, db, dout, x, w, &s);
                } else {
                    cn_conv_forward_naive_f64(ctx, out, x, w, b, &s);
                    cn_conv_backward_naive_f64(ctx, dx, dw, db, dout, x, w, &s);
                }
                const char *tag = dt ? "f64" : "f32", *path = fast ? "fast" : "naive";
                snprintf(name, sizeof name, "hand 3x3*2x2 out %s %s", tag, path);
                check_le(name, cn_rel_error(out, want, 4), 0);
                snprintf(name, sizeof name, "hand 3x3*2x2 dx dw db %s %s", tag, path);
                double e = cn_rel_error(dx, want_dx, 9);
                double e2 = cn_rel_error(dw, want_dw, 4), e3 = cn_rel_error(db, &want_db, 1);
                check_le(name, fmax(e, fmax(e2, e3)), 0);
            }
    }
    /* 3x3 filter of ones, pad 1, stride 2: the four windows centred at the
     * corners sum 2x2 blocks: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9; b = -1 */
    {
        cn_conv_shape s = {1, 1, 3, 3, 1, 3, 3, 2, 1};
        double w[9], b[1] = {-1};
        for (int i = 0; i < 9; i++) w[i] = 1;
        const double want[4] = {11, 15, 23, 27};
        for (int fast = 0; fast < 2; fast++) {
            double out[4];
            float xf[9], wf[9], bf[1], of[4];
            if (fast) cn_conv_forward_f64(ctx, out, x, w, b, &s);
            else cn_conv_forward_naive_f64(ctx, out, x, w, b, &s);
            snprintf(name, sizeof name, "hand 3x3*3x3 pad1 stride2 out f64 %s", fast ? "fast" : "naive");
            check_le(name, cn_rel_error(out, want, 4), 0);
            to_f32(xf, x, 9); to_f32(wf, w, 9); to_f32(bf, b, 1);
            if (fast) cn_conv_forward_f32(ctx, of, xf, wf, bf, &s);
            else cn_conv_forward_naive_f32(ctx, of, xf, wf, bf, &s);
            to_f64(out, of, 4);
            snprintf(name, sizeof name, "hand 3x3*3x3 pad1 stride2 out f32 %s", fast ? "fast" : "naive");
            check_le(name, cn_rel_error(out, want, 4), 0);
        }
    }
}

/* ---- numeric gradients ------------------------------------------------------ */
typedef struct {
    cn_ctx *ctx;
    const cn_conv_shape *s;
    double *x, *w, *b;
} conv_args;

static void f_conv(void *u, double *out) {
    conv_args *a = u;
    cn_conv_forward_naive_f64(a->ctx, out, a->x, a->w, a->b, a->s);
}

static void numeric_grads(cn_ctx *ctx, cn_conv_shape s, uint64_t seed) {
    dims d = mk(s);
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * d.nx), *w = xmalloc(8 * d.nw), *b = xmalloc(8 * s.F);
    double *dout = xmalloc(8 * d.no), *work = xmalloc(16 * d.no);
    double *dxn = xmalloc(8 * d.nx), *dwn = xmalloc(8 * d.nw), *dbn = xmalloc(8 * s.F);
    double *dx = xmalloc(8 * d.nx), *dw = xmalloc(8 * d.nw), *db = xmalloc(8 * s.F);
    fill_normal(&r, x, d.nx, 1);
    fill_normal(&r, w, d.nw, 1);
    fill_normal(&r, b, s.F, 1);
    fill_normal(&r, dout, d.no, 1);
    conv_args a = {ctx, &s, x, w, b};
    cn_eval_numerical_gradient_array(ctx, dxn, f_conv, &a, x, d.nx, dout, d.no, 1e-5, work);
    cn_eval_numerical_gradient_array(ctx, dwn, f_conv, &a, w, d.nw, dout, d.no, 1e-5, work);
    cn_eval_numerical_gradient_array(ctx, dbn, f_conv, &a, b, s.F, dout, d.no, 1e-5, work);
    char name[160];
    for (int fast = 0; fast < 2; fast++) {
        int rc = fast ? cn_conv_backward_f64(ctx, dx, dw, db, dout, x, w, &s)
                      : cn_conv_backward_naive_f64(ctx, dx, dw, db, dout, x, w, &s);
        const char *p = fast ? "fast" : "naive";
        snprintf(name, sizeof name, "numgrad %s dx %s", p, shape_tag(&s));
        check_le(name, rc ? 1 : cn_rel_error(dx, dxn, d.nx), 1e-7);
        snprintf(name, sizeof name, "numgrad %s dw %s", p, shape_tag(&s));
        check_le(name, rc ? 1 : cn_rel_error(dw, dwn, d.nw), 1e-7);
        snprintf(name, sizeof name, "numgrad %s db %s", p, shape_tag(&s));
        check_le(name, rc ? 1 : cn_rel_error(db, dbn, s.F), 1e-7);
    }
    free(x); free(w); free(b); free(dout); free(work);
    free(dxn); free(dwn); free(dbn); free(dx); free(dw); free(db);
}

/* ---- fast against naive ------------------------------------------------------ */
/* float64 fast vs naive. The elementwise cn_rel_error is shown in the line;
 * it is dominated by outputs near zero when an element sums thousands of
 * O(1) terms (e.g. 3e-10 for dw of the 7x7 layer: both sums are right to
 * ~1e-16 of the terms' size, the result is tiny), so the check is on
 * max|a-b| / max|b|, 100x tighter than the 1e-10 asked: 1e-12. */
static void cmp64(int rc, const char *what, const char *isa, const char *tag, const double *a,
                  const double *b, size_t n) {
    char name[220];
    double rel = cn_rel_error(a, b, n);
    snprintf(name, sizeof name, "%s f64 fast/naive %s %s (elementwise rel %.1e)", what, isa, tag, rel);
    check_le(name, rc ? 1 : (rel <= 1e-10 ? rel : scaled64(a, b, n)), rel <= 1e-10 ? 1e-10 : 1e-12);
}

/* float64 fast vs float64 naive: see cmp64;
 * float32 fast and naive vs float64 naive: scaled_error_f32 within 1e-5.
 * Also: dx = NULL leaves dw, db bit-identical. `lean` skips the f32 naive. */
static void fast_vs_naive(cn_ctx *ctx, const char *isa, cn_conv_shape s, uint64_t seed, int lean) {
    dims d = mk(s);
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * d.nx), *w = xmalloc(8 * d.nw), *b = xmalloc(8 * s.F);
    double *dout = xmalloc(8 * d.no);
    fill_normal(&r, x, d.nx, 1);
    fill_normal(&r, w, d.nw, 1);
    fill_normal(&r, b, s.F, 1);
    fill_normal(&r, dout, d.no, 1);
    double *on = xmalloc(8 * d.no), *of = xmalloc(8 * d.no);
    double *dxn = xmalloc(8 * d.nx), *dwn = xmalloc(8 * d.nw), *dbn = xmalloc(8 * s.F);
    double *dx = xmalloc(8 * d.nx), *dw = xmalloc(8 * d.nw), *db = xmalloc(8 * s.F);
    double *dw2 = xmalloc(8 * d.nw), *db2 = xmalloc(8 * s.F);
    float *xf = xmalloc(4 * d.nx), *wf = xmalloc(4 * d.nw), *bf = xmalloc(4 * s.F);
    float *gf = xmalloc(4 * d.no), *of32 = xmalloc(4 * d.no);
    float *dxf = xmalloc(4 * d.nx), *dwf = xmalloc(4 * d.nw), *dbf = xmalloc(4 * s.F);
    to_f32(xf, x, d.nx); to_f32(wf, w, d.nw); to_f32(bf, b, s.F); to_f32(gf, dout, d.no);
    char name[200];
    const char *tag = shape_tag(&s);
    int rc = cn_conv_forward_naive_f64(ctx, on, x, w, b, &s);
    rc |= cn_conv_backward_naive_f64(ctx, dxn, dwn, dbn, dout, x, w, &s);
    if (!check_true("naive f64 runs", rc == 0, cn_ctx_error(ctx))) goto out;

    rc = cn_conv_forward_f64(ctx, of, x, w, b, &s);
    cmp64(rc, "fwd out", isa, tag, of, on, d.no);
    rc = cn_conv_backward_f64(ctx, dx, dw, db, dout, x, w, &s);
    cmp64(rc, "bwd dx", isa, tag, dx, dxn, d.nx);
    cmp64(rc, "bwd dw", isa, tag, dw, dwn, d.nw);
    cmp64(rc, "bwd db", isa, tag, db, dbn, s.F);
    rc = cn_conv_backward_f64(ctx, NULL, dw2, db2, dout, x, w, &s);
    snprintf(name, sizeof name, "bwd f64 fast dx=NULL same dw db %s %s", isa, tag);
    check_le(name, rc ? 1 : fmax(scaled64(dw2, dw, d.nw), scaled64(db2, db, s.F)), 0);

    rc = cn_conv_forward_f32(ctx, of32, xf, wf, bf, &s);
    snprintf(name, sizeof name, "fwd f32 fast/f64 naive %s %s", isa, tag);
    check_le(name, rc ? 1 : scaled_error_f32(of32, on, d.no), 1e-5);
    rc = cn_conv_backward_f32(ctx, dxf, dwf, dbf, gf, xf, wf, &s);
    snprintf(name, sizeof name, "bwd f32 fast/f64 naive dx,dw,db %s %s", isa, tag);
    check_le(name, rc ? 1 : fmax(scaled_error_f32(dxf, dxn, d.nx),
                                 fmax(scaled_error_f32(dwf, dwn, d.nw), scaled_error_f32(dbf, dbn, s.F))),
             1e-5);
    if (!lean) {
        rc = cn_conv_forward_naive_f32(ctx, of32, xf, wf, bf, &s);
        rc |= cn_conv_backward_naive_f32(ctx, dxf, dwf, dbf, gf, xf, wf, &s);
        snprintf(name, sizeof name, "f32 naive/f64 naive out,dx,dw,db %s", tag);
        double e = fmax(scaled_error_f32(of32, on, d.no), scaled_error_f32(dxf, dxn, d.nx));
        e = fmax(e, fmax(scaled_error_f32(dwf, dwn, d.nw), scaled_error_f32(dbf, dbn, s.F)));
        check_le(name, rc ? 1 : e, 1e-5);
    }
out:
    free(x); free(w); free(b); free(dout); free(on); free(of);
    free(dxn); free(dwn); free(dbn); free(dx); free(dw); free(db); free(dw2); free(db2);
    free(xf); free(wf); free(bf); free(gf); free(of32); free(dxf); free(dwf); free(dbf);
}

/* ---- repeatable: threads take work dynamically, results must not change ---- */
static void repeatable(cn_ctx *ctx, cn_conv_shape s) {
    dims d = mk(s);
    cn_rng r;
    cn_rng_seed(&r, 77);
    float *x = xmalloc(4 * d.nx), *w = xmalloc(4 * d.nw), *b = xmalloc(4 * s.F), *g = xmalloc(4 * d.no);
    float *o[2], *dx[2], *dw[2], *db[2];
    for (size_t i = 0; i < d.nx; i++) x[i] = (float)cn_rng_normal(&r);
    for (size_t i = 0; i < d.nw; i++) w[i] = (float)cn_rng_normal(&r);
    for (int i = 0; i < s.F; i++) b[i] = (float)cn_rng_normal(&r);
    for (size_t i = 0; i < d.no; i++) g[i] = (float)cn_rng_normal(&r);
    for (int k = 0; k < 2; k++) {
        o[k] = xmalloc(4 * d.no); dx[k] = xmalloc(4 * d.nx); dw[k] = xmalloc(4 * d.nw); db[k] = xmalloc(4 * s.F);
    }
    int same = 1, rc = 0;
    rc |= cn_conv_forward_f32(ctx, o[0], x, w, b, &s);
    rc |= cn_conv_backward_f32(ctx, dx[0], dw[0], db[0], g, x, w, &s);
    for (int rep = 0; rep < 5; rep++) {
        rc |= cn_conv_forward_f32(ctx, o[1], x, w, b, &s);
        rc |= cn_conv_backward_f32(ctx, dx[1], dw[1], db[1], g, x, w, &s);
        same &= !memcmp(o[0], o[1], 4 * d.no) && !memcmp(dx[0], dx[1], 4 * d.nx) &&
                !memcmp(dw[0], dw[1], 4 * d.nw) && !memcmp(db[0], db[1], 4 * s.F);
    }
    char name[160];
    snprintf(name, sizeof name, "repeatable: 6 runs bit-identical, %d threads %s", cn_ctx_threads(ctx), shape_tag(&s));
    check_true(name, !rc && same, NULL);
    free(x); free(w); free(b); free(g);
    for (int k = 0; k < 2; k++) { free(o[k]); free(dx[k]); free(dw[k]); free(db[k]); }
}

/* ---- bad arguments ------------------------------------------------------------ */
static void bad_args(cn_ctx *ctx) {
    float x[2 * 3 * 4 * 4] = {0}, w[8 * 3 * 7 * 7] = {0}, b[8] = {0}, out[1024], g[1024];
    float dx[2 * 3 * 4 * 4], dw[8 * 3 * 7 * 7], db[8];
    struct { const char *what; cn_conv_shape s; const char *needle; } cases[] = {
        {"filter 7x7 > padded 4x4", {2, 3, 4, 4, 8, 7, 7, 1, 1}, "does not fit"},
        {"stride 0", {2, 3, 4, 4, 8, 3, 3, 0, 1}, "stride=0"},
        {"stride -2", {2, 3, 4, 4, 8, 3, 3, -2, 1}, "stride=-2"},
        {"pad -1", {2, 3, 4, 4, 8, 3, 3, 1, -1}, "pad=-1"},
        {"N = 0", {0, 3, 4, 4, 8, 3, 3, 1, 1}, "(0,3,4,4)"},
        {"F = 0", {2, 3, 4, 4, 0, 3, 3, 1, 1}, "(0,3,3,3)"},
    };
    char name[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cn_conv_shape *s = &cases[i].s;
        int rcs[6];
        rcs[0] = cn_conv_out(ctx, s, NULL, NULL);
        rcs[1] = cn_conv_forward_f32(ctx, out, x, w, b, s);
        rcs[2] = cn_conv_forward_naive_f32(ctx, out, x, w, b, s);
        rcs[3] = cn_conv_backward_f32(ctx, dx, dw, db, g, x, w, s);
        rcs[4] = cn_conv_backward_naive_f32(ctx, dx, dw, db, g, x, w, s);
        rcs[5] = cn_conv_relu_forward_f32(ctx, out, x, w, b, s);
        int all = 1;
        for (int k = 0; k < 6; k++) all &= rcs[k] == CN_EINVAL;
        const char *msg = cn_ctx_error(ctx);
        snprintf(name, sizeof name, "bad args: %s -> CN_EINVAL, message names it", cases[i].what);
        check_true(name, all && strstr(msg, cases[i].needle) != NULL, msg);
    }
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(2);
    if (!ctx) return 2;
    hand_cases(ctx);

    numeric_grads(ctx, (cn_conv_shape){4, 3, 5, 5, 2, 3, 3, 1, 1}, 1);  /* the original's */
    numeric_grads(ctx, (cn_conv_shape){2, 2, 7, 6, 3, 3, 2, 2, 1}, 2);
    numeric_grads(ctx, (cn_conv_shape){1, 2, 6, 5, 2, 4, 3, 3, 2}, 3);  /* windows do not tile */

    const cn_conv_shape shapes[] = {
        {2, 3, 7, 5, 4, 3, 2, 1, 0},
        {3, 2, 9, 8, 5, 3, 3, 2, 1},
        {2, 3, 6, 7, 3, 4, 5, 2, 2},
        {1, 1, 5, 5, 2, 5, 5, 1, 0},     /* H' = W' = 1 */
        {2, 4, 8, 8, 7, 1, 1, 1, 0},     /* 1x1 filters */
        {2, 3, 5, 6, 3, 3, 3, 3, 3},     /* pad 3, stride 3 */
        {3, 5, 4, 9, 9, 2, 7, 1, 3},
        {1, 3, 1, 1, 2, 3, 3, 1, 1},     /* 1x1 input */
        {5, 3, 32, 32, 32, 7, 7, 1, 3},  /* the three-layer net's first layer */
        {100, 3, 31, 31, 25, 3, 3, 2, 1},/* the original's timing cell */
        {1, 64, 40, 40, 3, 3, 3, 1, 1},  /* K = 576: several column chunks, one sample */
        {2, 17, 11, 13, 19, 3, 5, 1, 2}, /* odd everything */
        /* stride 1 with W' a multiple of the vector: columns read in place */
        {1, 40, 16, 48, 5, 3, 3, 1, 1},  /* several chunks of one sample */
        {1, 8, 7, 32, 3, 3, 3, 1, 1},    /* last chunk partial */
        {3, 2, 6, 16, 9, 5, 1, 1, 0},    /* 5x1 filter, W' = 16 */
    };
    const int ns = sizeof shapes / sizeof shapes[0];
    for (int i = 0; i < ns; i++) fast_vs_naive(ctx, "auto", shapes[i], 100 + i, 0);
    /* every other SIMD level this CPU runs, on every shape */
    static const char *const levels[] = {"avx512", "avx2", "generic"};
    for (int l = 0; l < 3; l++) {
        if (!strcmp(levels[l], cn_ctx_simd(ctx)) || cn_ctx_set_simd(ctx, levels[l])) continue;
        for (int i = 0; i < ns; i++) fast_vs_naive(ctx, levels[l], shapes[i], 200 + 100 * l + i, 1);
        cn_ctx_set_simd(ctx, "auto");
    }
    cn_ctx_set_simd(ctx, "auto");
    check_true("cn_ctx_set_simd refuses an unknown level", cn_ctx_set_simd(ctx, "sse9") == CN_EINVAL,
               cn_ctx_error(ctx));
    /* other thread counts (1, and more threads than samples) */
    cn_ctx *c1 = cn_ctx_new(1), *c5 = cn_ctx_new(5);
    fast_vs_naive(c1, "auto 1 thread", shapes[1], 400, 1);
    fast_vs_naive(c5, "auto 5 threads", shapes[1], 401, 1);
    fast_vs_naive(c5, "auto 5 threads", shapes[10], 402, 1);
    fast_vs_naive(c5, "auto 5 threads", shapes[12], 403, 1);
    cn_ctx_free(c1);
    cn_ctx_free(c5);
    cn_ctx_set_threads(ctx, 2);

    repeatable(ctx, shapes[8]);
    repeatable(ctx, shapes[9]);
    bad_args(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
