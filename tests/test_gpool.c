/* test_gpool.c — global average / max pooling and the identity (dirac)
 * conv init: hand values, fast against naive (float32 and float64),
 * float32 against float64, numeric gradients, the dirac filters run
 * through cn_conv_forward (output == input), bad arguments. The layer
 * comparisons run through the harness (harness.h). */
#include "harness.h"
#include <string.h>

static cn_ctx *ctx;
typedef struct { int N, C, H, W; } gp;

static void expect_err(const char *name, int rc, int code, const char *needle) {
    hs_expect_err(ctx, name, rc, code, needle);
}
#define maxdiff hs_maxdiff

/* ---- the operations, for the harness (tests/harness.h) --------------------- */
enum { X, DOUT, OUT, DX, IDX };
static int avg_fwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    const gp *s = c->p;
    if (f64)
        return (naive ? cn_global_avg_pool_forward_naive_f64 : cn_global_avg_pool_forward_f64)(c_, t[OUT], t[X], s->N,
                                                                                             s->C, s->H, s->W);
    return (naive ? cn_global_avg_pool_forward_naive_f32 : cn_global_avg_pool_forward_f32)(c_, t[OUT], t[X], s->N, s->C,
                                                                                         s->H, s->W);
}
static int avg_bwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    const gp *s = c->p;
    if (f64)
        return (naive ? cn_global_avg_pool_backward_naive_f64 : cn_global_avg_pool_backward_f64)(c_, t[DX], t[DOUT], s->N,
                                                                                               s->C, s->H, s->W);
    return (naive ? cn_global_avg_pool_backward_naive_f32 : cn_global_avg_pool_backward_f32)(c_, t[DX], t[DOUT], s->N,
                                                                                           s->C, s->H, s->W);
}
static int max_fwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    const gp *s = c->p;
    if (f64)
        return (naive ? cn_global_max_pool_forward_naive_f64 : cn_global_max_pool_forward_f64)(c_, t[OUT], t[IDX], t[X],
                                                                                             s->N, s->C, s->H, s->W);
    return (naive ? cn_global_max_pool_forward_naive_f32 : cn_global_max_pool_forward_f32)(c_, t[OUT], t[IDX], t[X], s->N,
                                                                                         s->C, s->H, s->W);
}
/* the fast backward routes through idx, the naive one finds the maxima */
static int max_bwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    const gp *s = c->p;
    if (f64)
        return naive ? cn_global_max_pool_backward_naive_f64(c_, t[DX], t[DOUT], t[X], NULL, s->N, s->C, s->H, s->W)
                     : cn_global_max_pool_backward_f64(c_, t[DX], t[DOUT], t[X], t[IDX], s->N, s->C, s->H, s->W);
    return naive ? cn_global_max_pool_backward_naive_f32(c_, t[DX], t[DOUT], t[X], NULL, s->N, s->C, s->H, s->W)
                 : cn_global_max_pool_backward_f32(c_, t[DX], t[DOUT], t[X], t[IDX], s->N, s->C, s->H, s->W);
}
/* average: float64 fast vs naive scaled 1e-14 (out: a sum of H*W in
 * another order), dx 1e-15; float32 vs float64: out 1e-6 fast, 1e-5 naive,
 * dx 1e-6. max: the same maxima in every path (exact, idx too); float32 vs
 * float64 1e-7. Numeric gradients: cn_rel_error 1e-9 (tie-free inputs). */
static const hs_op avg_op = {"avg", avg_fwd, avg_bwd,
                             {.f64 = 1e-14, .f32 = 1e-6, .f32naive = 1e-5, .f32pair = -1, .num = 1e-9,
                              .metric64 = HS_SCALED, .metric_num = HS_REL}};
static const hs_op max_op = {"max", max_fwd, max_bwd,
                             {.f64 = 0, .f32 = 1e-7, .f32naive = 1e-7, .f32pair = 0, .num = 1e-9,
                              .metric64 = HS_ABS, .metric_num = HS_REL}};

static void gp_case(const hs_op *op, const gp *s, uint64_t seed, int fill, unsigned flags) {
    const size_t nx = (size_t)s->N * s->C * s->H * s->W, no = (size_t)s->N * s->C;
    hs_case c = hs_new(op, s, seed, flags, "(%d,%d,%d,%d)%s", s->N, s->C, s->H, s->W, fill == HS_TIES ? " ties" : "");
    hs_in(&c, "x", nx, fill, 1);
    hs_dout(&c, "dout", no);
    hs_out(&c, "out", no);
    int d = hs_grad(&c, "dx", X);
    if (op == &max_op) hs_idx(&c, "idx", no);
    else hs_tol_of(&c, d, 1e-15, 1e-6);
    hs_check(ctx, &c);
}

/* independent of the naive loops: the fast max is x at idx, and no element
 * of the plane is above it or equal to it before it */
static void first_max(const gp *s, uint64_t seed, int ties) {
    const size_t nx = (size_t)s->N * s->C * s->H * s->W, no = (size_t)s->N * s->C;
    const int H = s->H, W = s->W;
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * nx), *of = xmalloc(8 * no);
    int32_t *ifa = xmalloc(4 * no);
    if (ties) for (size_t i = 0; i < nx; i++) x[i] = (double)cn_rng_below(&r, 3);
    else fill_normal(&r, x, nx, 1);
    int rc = cn_global_max_pool_forward_f64(ctx, of, ifa, x, s->N, s->C, H, W);
    int bad = 0;
    for (size_t p = 0; p < no; p++) {
        const double *xp = x + p * H * W;
        if (xp[ifa[p]] != of[p]) bad++;
        for (int i = 0; i < H * W; i++) if (xp[i] > of[p] || (xp[i] == of[p] && i < ifa[p])) bad++;
    }
    char name[120];
    snprintf(name, sizeof name, "max f64 out is the plane's first maximum (%d,%d,%d,%d)%s", s->N, s->C, H, W,
             ties ? " ties" : "");
    check_true(name, !rc && !bad, NULL);
    free(x); free(of); free(ifa);
}

static void one_shape(int N, int C, int H, int W, uint64_t seed, int ties) {
    gp s = {N, C, H, W};
    gp_case(&avg_op, &s, seed, ties ? HS_TIES : HS_NORMAL, HS_LEVELS);
    gp_case(&max_op, &s, seed, ties ? HS_TIES : HS_NORMAL, HS_LEVELS);
    first_max(&s, seed, ties);
}

/* numeric gradients on a permutation of 0..119 times 0.1: no ties within the step */
static void numgrad(int max) {
    gp s = {2, 3, 4, 5};
    gp_case(max ? &max_op : &avg_op, &s, 11 + max, HS_PERM, HS_NUMGRAD | HS_NO_FAST);
}

static void dirac(void) {
    /* F = C: conv(x) == x exactly (K = 3, pad 1; K = 5, pad 2) */
    const int N = 2, C = 4, H = 6, W = 5;
    const size_t nx = (size_t)N * C * H * W;
    cn_rng r;
    cn_rng_seed(&r, 5);
    double *x = xmalloc(8 * nx), *out = xmalloc(8 * 2 * nx), w[6 * 4 * 25], b[6] = {0};
    float *x32 = xmalloc(4 * nx), *o32 = xmalloc(4 * 2 * nx), w32[6 * 4 * 25], b32[6] = {0};
    fill_normal(&r, x, nx, 1);
    to_f32(x32, x, nx);
    for (int K = 3; K <= 5; K += 2) {
        fill_normal(&r, w, (size_t)C * C * K * K, 1);
        int rc = cn_conv_init_dirac_f64(ctx, w, C, C, K, K);
        cn_conv_shape s = {N, C, H, W, C, K, K, 1, K / 2};
        rc |= cn_conv_forward_f64(ctx, out, x, w, b, &s);
        char name[120];
        snprintf(name, sizeof name, "dirac F=C=4 K=%d: conv(x) == x f64", K);
        check_le(name, rc ? 1 : maxdiff(out, x, nx), 0);
        to_f32(w32, w, (size_t)C * C * K * K);
        rc = cn_conv_init_dirac_f32(ctx, w32, C, C, K, K) | cn_conv_forward_f32(ctx, o32, x32, w32, b32, &s);
        double e = 0;
        for (size_t i = 0; i < nx; i++) e = fmax(e, fabs((double)o32[i] - x32[i]));
        snprintf(name, sizeof name, "dirac F=C=4 K=%d: conv(x) == x f32", K);
        check_le(name, rc ? 1 : e, 0);
    }
    /* F = 6 > C = 4: filters 4, 5 untouched; F = 2 < C: 2 identity filters */
    double keep[6 * 4 * 9];
    fill_normal(&r, w, 6 * 4 * 9, 1);
    memcpy(keep, w, sizeof keep);
    int rc = cn_conv_init_dirac_f64(ctx, w, 6, 4, 3, 3);
    check_le("dirac F=6 C=4: filters 4..5 keep their values", rc ? 1 : maxdiff(w + 4 * 36, keep + 4 * 36, 2 * 36), 0);
    int ok = !rc;
    for (int f = 0; f < 4; f++)
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 9; k++) ok &= w[(f * 4 + c) * 9 + k] == ((f == c && k == 4) ? 1 : 0);
    check_true("dirac F=6 C=4: filters 0..3 are the identity at the centre (1,1)", ok, NULL);
    fill_normal(&r, w, 2 * 4 * 9, 1);
    rc = cn_conv_init_dirac_f64(ctx, w, 2, 4, 3, 3);
    cn_conv_shape s = {N, C, H, W, 2, 3, 3, 1, 1};
    rc |= cn_conv_forward_f64(ctx, out, x, w, b, &s);
    double e = 0;
    for (int n = 0; n < N; n++) e = fmax(e, maxdiff(out + (size_t)n * 2 * H * W, x + (size_t)n * C * H * W, (size_t)2 * H * W));
    check_le("dirac F=2 C=4: conv(x) == x's first 2 channels", rc ? 1 : e, 0);
    /* even kernel: centre at (HH/2, WW/2) as torch.nn.init.dirac_ */
    double w2[1 * 1 * 2 * 4];
    rc = cn_conv_init_dirac_f64(ctx, w2, 1, 1, 2, 4);
    ok = !rc;
    for (int k = 0; k < 8; k++) ok &= w2[k] == (k == 1 * 4 + 2 ? 1 : 0);
    check_true("dirac 2x4 kernel: the 1 at (1, 2)", ok, NULL);
    expect_err("dirac F=0", cn_conv_init_dirac_f64(ctx, w, 0, 4, 3, 3), CN_EINVAL, "F=0");
    expect_err("dirac NULL w", cn_conv_init_dirac_f32(ctx, NULL, 2, 4, 3, 3), CN_EINVAL, "NULL");
    free(x); free(out); free(x32); free(o32);
}

int main(void) {
    ctx = cn_ctx_new(2);
    /* hand values */
    {
        double x[8] = {1, 2, 3, 6, -1, -5, -2, -1}, o[2], d[8], g[2] = {4, -8};
        int32_t idx[2];
        int rc = cn_global_avg_pool_forward_f64(ctx, o, x, 1, 2, 2, 2);
        check_true("avg hand: (1+2+3+6)/4 = 3, (-1-5-2-1)/4 = -2.25", !rc && o[0] == 3 && o[1] == -2.25, NULL);
        rc = cn_global_avg_pool_backward_f64(ctx, d, g, 1, 2, 2, 2);
        check_true("avg hand backward: dout / 4", !rc && d[0] == 1 && d[3] == 1 && d[4] == -2 && d[7] == -2, NULL);
        rc = cn_global_max_pool_forward_f64(ctx, o, idx, x, 1, 2, 2, 2);
        check_true("max hand: 6 at 3; -1 at 0 (first of two)", !rc && o[0] == 6 && idx[0] == 3 && o[1] == -1 && idx[1] == 0, NULL);
        rc = cn_global_max_pool_backward_f64(ctx, d, g, x, idx, 1, 2, 2, 2);
        const double want[8] = {0, 0, 0, 4, -8, 0, 0, 0};
        check_le("max hand backward", rc ? 1 : maxdiff(d, want, 8), 0);
    }
    one_shape(2, 3, 4, 5, 1, 0);
    one_shape(64, 256, 4, 4, 2, 0);   /* airbench's last block: threads */
    one_shape(8, 16, 7, 9, 3, 1);
    one_shape(3, 2, 1, 1, 4, 0);
    numgrad(0);
    numgrad(1);
    dirac();
    /* bad arguments */
    double x[16] = {0}, o[4], d[16];
    int32_t idx[4] = {0, 1, 2, 99};
    expect_err("avg N=0", cn_global_avg_pool_forward_f64(ctx, o, x, 0, 1, 4, 4), CN_EINVAL, "N=0");
    expect_err("avg naive W=-1", cn_global_avg_pool_forward_naive_f64(ctx, o, x, 1, 1, 4, -1), CN_EINVAL, "W=-1");
    expect_err("max fast backward idx NULL", cn_global_max_pool_backward_f64(ctx, d, o, x, NULL, 1, 4, 2, 2), CN_EINVAL, "idx is NULL");
    expect_err("max fast backward idx out of plane", cn_global_max_pool_backward_f64(ctx, d, o, x, idx, 1, 4, 2, 2), CN_EINVAL, "idx[3]=99");
    expect_err("max huge", cn_global_max_pool_forward_f32(ctx, NULL, NULL, NULL, 1 << 30, 1 << 30, 4, 4), CN_ENOMEM, "beyond");
    cn_ctx_free(ctx);
    return check_done();
}
