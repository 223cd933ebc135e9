/* test_conv.c — convolution: hand-worked cases; through the harness
 * (harness.h) numeric gradients (float64), fast against naive for odd
 * shapes on every SIMD path, dx = NULL, reruns, thread counts; bad
 * arguments. */
#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
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

/* ---- the operation, for the harness (tests/harness.h) ---------------------- */
enum { X, W, B, DOUT, OUT, DX, DW, DB };
static int conv_fwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    const cn_conv_shape *s = c->p;
    if (f64) return (naive ? cn_conv_forward_naive_f64 : cn_conv_forward_f64)(ctx, t[OUT], t[X], t[W], t[B], s);
    return (naive ? cn_conv_forward_naive_f32 : cn_conv_forward_f32)(ctx, t[OUT], t[X], t[W], t[B], s);
}
static int conv_bwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    const cn_conv_shape *s = c->p;
    if (f64)
        return (naive ? cn_conv_backward_naive_f64 : cn_conv_backward_f64)(ctx, t[DX], t[DW], t[DB], t[DOUT], t[X],
                                                                           t[W], s);
    return (naive ? cn_conv_backward_naive_f32 : cn_conv_backward_f32)(ctx, t[DX], t[DW], t[DB], t[DOUT], t[X], t[W],
                                                                       s);
}
/* float64 fast vs naive: max|a-b| / max|b|, 1e-12 (the elementwise
 * cn_rel_error is dominated by outputs near zero when an element sums
 * thousands of O(1) terms, e.g. 3e-10 for dw of the 7x7 layer: both sums
 * are right to ~1e-16 of the terms' size, the result is tiny). float32 fast
 * and naive vs float64 naive: scaled_error_f32 within 1e-5. Numeric
 * gradients (float64, naive and fast): cn_rel_error within 1e-7. */
static const hs_op conv_op = {"conv", conv_fwd, conv_bwd,
                              {.f64 = 1e-12, .f32 = 1e-5, .f32naive = 1e-5, .f32pair = -1, .num = 1e-7,
                               .metric64 = HS_SCALED, .metric_num = HS_REL}};

/* One case: x, w, b, dout filled in that order from seed. */
static void conv_case(cn_ctx *ctx, const cn_conv_shape *s, uint64_t seed, unsigned flags, int repeat) {
    dims d = mk(*s);
    hs_case c = hs_new(&conv_op, s, seed, flags | HS_NULLGRAD, "%s", shape_tag(s));
    c.repeat = repeat;
    hs_in(&c, "x", d.nx, HS_NORMAL, 1);
    hs_in(&c, "w", d.nw, HS_NORMAL, 1);
    hs_in(&c, "b", s->F, HS_NORMAL, 1);
    hs_dout(&c, "dout", d.no);
    hs_out(&c, "out", d.no);
    hs_grad(&c, "dx", X);
    hs_grad(&c, "dw", W);
    hs_grad(&c, "db", B);
    hs_check(ctx, &c);
}

/* ---- each gradient alone ------------------------------------------------------ */
/* cn_conv_backward with only one of dx, dw, db asked for (the others NULL):
 * the same bits as that gradient from the call that makes all three, at
 * every level (the harness covers dx = NULL; dw = NULL runs a different
 * plan: dx only). */
static void one_grad(cn_ctx *ctx, const cn_conv_shape *s, uint64_t seed) {
    dims d = mk(*s);
    float *x = malloc(4 * d.nx), *w = malloc(4 * d.nw), *g = malloc(4 * d.no);
    float *dx = malloc(4 * d.nx), *dw = malloc(4 * d.nw), *db = malloc(4 * s->F);
    float *dx1 = malloc(4 * d.nx), *dw1 = malloc(4 * d.nw), *db1 = malloc(4 * s->F);
    cn_rng r;
    cn_rng_seed(&r, seed);
    for (size_t i = 0; i < d.nx; i++) x[i] = (float)cn_rng_normal(&r);
    for (size_t i = 0; i < d.nw; i++) w[i] = (float)cn_rng_normal(&r);
    for (size_t i = 0; i < d.no; i++) g[i] = (float)cn_rng_normal(&r);
    const char *levels[3];
    int nl = hs_levels(ctx, levels);
    char name[256];
    for (int l = 0; l < nl; l++) {
        cn_ctx_set_simd(ctx, levels[l]);
        int rc = cn_conv_backward_f32(ctx, dx, dw, db, g, x, w, s);
        for (int k = 0; k < 3; k++) {
            memset(dx1, 0x7f, 4 * d.nx), memset(dw1, 0x7f, 4 * d.nw), memset(db1, 0x7f, 4 * s->F);
            int rk = cn_conv_backward_f32(ctx, k == 0 ? dx1 : NULL, k == 1 ? dw1 : NULL, k == 2 ? db1 : NULL, g, x, w, s);
            const float *want = k == 0 ? dx : k == 1 ? dw : db, *got = k == 0 ? dx1 : k == 1 ? dw1 : db1;
            size_t n = k == 0 ? d.nx : k == 1 ? d.nw : (size_t)s->F, bad = 0;
            for (size_t i = 0; i < n; i++) bad += memcmp(want + i, got + i, 4) != 0;
            snprintf(name, sizeof name, "conv %s alone, the others NULL: bit-identical, %s %s", k == 0 ? "dx" : k == 1 ? "dw" : "db",
                     shape_tag(s), levels[l]);
            char note[96];
            snprintf(note, sizeof note, "%zu of %zu elements differ", bad, n);
            check_true(name, rc == CN_OK && rk == CN_OK && bad == 0, rc || rk ? cn_ctx_error(ctx) : note);
        }
    }
    cn_ctx_set_simd(ctx, "auto");
    free(x); free(w); free(g); free(dx); free(dw); free(db); free(dx1); free(dw1); free(db1);
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

    /* numeric gradients (and fast vs naive) */
    const cn_conv_shape small[] = {
        {4, 3, 5, 5, 2, 3, 3, 1, 1}, /* the original's */
        {2, 2, 7, 6, 3, 3, 2, 2, 1},
        {1, 2, 6, 5, 2, 4, 3, 3, 2}, /* windows do not tile */
    };
    for (int i = 0; i < 3; i++) conv_case(ctx, &small[i], 1 + i, HS_NUMGRAD, 0);

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
        /* stride 1, W' not a multiple of the vector: wide columns (i*Wp + j) */
        {3, 5, 15, 15, 7, 3, 3, 1, 1},   /* 15x15, one chunk */
        {1, 16, 40, 47, 3, 3, 3, 1, 1},  /* two chunks, a row split between them */
        /* small planes: several samples in one item (the last one short) */
        {41, 8, 7, 7, 16, 3, 3, 1, 1},   /* 7x7, 2 samples an item */
        {100, 4, 3, 3, 6, 3, 3, 1, 1},   /* 3x3, 6 samples an item */
        {50, 1, 28, 28, 32, 7, 7, 1, 3}, /* demo.sh's first layer (Fashion-MNIST): wide, 3 samples a dw item */
        /* dw tiles by filter rows (avx512), 3 and 4 vectors of channels,
         * rows left over: 5x5 by 3 vectors, 3x3 by 4 (+1), 7x7 by 3, 3x3 by 3 */
        {3, 5, 9, 9, 48, 5, 5, 1, 2},
        {2, 7, 8, 8, 70, 3, 3, 1, 1},
        {2, 3, 10, 10, 40, 7, 7, 1, 3},
        {3, 4, 8, 8, 40, 3, 3, 1, 0},
        /* the forward's tiles skip filter rows that read only padding:
         * rows of the output wholly in the padding (pad 2, a 1x3 filter),
         * a 3x3 filter on 16-wide planes (a vector a row at avx512, two
         * at avx2), a 5x5 filter with pad 2 on 32-wide rows */
        {2, 3, 5, 14, 4, 1, 3, 1, 2},
        {2, 6, 16, 16, 10, 3, 3, 1, 1},
        {1, 3, 12, 32, 8, 5, 5, 1, 2},
    };
    const int ns = sizeof shapes / sizeof shapes[0];
    /* every SIMD level this CPU runs, on every shape; threads take work
     * dynamically, so the first layer and the timing cell are rerun: the
     * results must not change by a bit */
    for (int i = 0; i < ns; i++) conv_case(ctx, &shapes[i], 100 + i, HS_LEVELS, (i == 8 || i == 9) ? 5 : 0);
    check_true("cn_ctx_set_simd refuses an unknown level", cn_ctx_set_simd(ctx, "sse9") == CN_EINVAL,
               cn_ctx_error(ctx));
    cn_ctx_set_simd(ctx, "auto");
    /* other thread counts (1, and more threads than samples) */
    cn_ctx *c1 = cn_ctx_new(1), *c5 = cn_ctx_new(5);
    conv_case(c1, &shapes[1], 400, HS_NO_F32NAIVE, 0);
    conv_case(c5, &shapes[1], 401, HS_NO_F32NAIVE, 0);
    conv_case(c5, &shapes[10], 402, HS_NO_F32NAIVE, 0);
    conv_case(c5, &shapes[12], 403, HS_NO_F32NAIVE, 0);
    for (int i = ns - 8; i < ns; i++) { /* demo.sh's layer, the dw tiles, the skipped filter rows */
        conv_case(c1, &shapes[i], 404 + i, HS_NO_F32NAIVE, 0);
        conv_case(c5, &shapes[i], 408 + i, HS_NO_F32NAIVE, 0);
    }
    cn_ctx_free(c1);
    cn_ctx_free(c5);
    one_grad(ctx, &shapes[8], 500);  /* the first layer: dx as a flipped forward */
    one_grad(ctx, &shapes[1], 501);  /* stride 2: dx by col2im */
    one_grad(ctx, &shapes[23], 502); /* 3x3, 40 filters */
    bad_args(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
