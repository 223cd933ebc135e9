/* test_gpool.c — global average / max pooling and the identity (dirac)
 * conv init: hand values, fast against naive (float32 and float64),
 * float32 against float64, numeric gradients, the dirac filters run
 * through cn_conv_forward (output == input), bad arguments. */
#include "check.h"
#include <string.h>

static cn_ctx *ctx;
typedef struct { int N, C, H, W, max; double *x; } gp;

static void f_gp(void *u, double *out) {
    gp *a = u;
    if (a->max) cn_global_max_pool_forward_naive_f64(ctx, out, NULL, a->x, a->N, a->C, a->H, a->W);
    else cn_global_avg_pool_forward_naive_f64(ctx, out, a->x, a->N, a->C, a->H, a->W);
}

static void expect_err(const char *name, int rc, int code, const char *needle) {
    const char *msg = cn_ctx_error(ctx);
    char buf[300];
    snprintf(buf, sizeof buf, "%s -> %d \"%s\"", name, rc, rc ? msg : "");
    check_true(buf, rc == code && (!needle || strstr(msg, needle)), NULL);
}

static double maxdiff(const double *a, const double *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i]));
    return e;
}

static void one_shape(int N, int C, int H, int W, uint64_t seed, int ties) {
    const size_t nx = (size_t)N * C * H * W, no = (size_t)N * C;
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * nx), *g = xmalloc(8 * no), *on = xmalloc(8 * no), *of = xmalloc(8 * no);
    double *dn = xmalloc(8 * nx), *df = xmalloc(8 * nx);
    float *x32 = xmalloc(4 * nx), *g32 = xmalloc(4 * no), *on32 = xmalloc(4 * no), *of32 = xmalloc(4 * no);
    float *dn32 = xmalloc(4 * nx), *df32 = xmalloc(4 * nx);
    int32_t *in = xmalloc(4 * no), *ifa = xmalloc(4 * no);
    if (ties) for (size_t i = 0; i < nx; i++) x[i] = (double)cn_rng_below(&r, 3);
    else fill_normal(&r, x, nx, 1);
    fill_normal(&r, g, no, 1);
    to_f32(x32, x, nx);
    to_f32(g32, g, no);
    char name[200], t[64];
    snprintf(t, sizeof t, "(%d,%d,%d,%d)%s", N, C, H, W, ties ? " ties" : "");
    /* average */
    int rc = cn_global_avg_pool_forward_naive_f64(ctx, on, x, N, C, H, W) |
             cn_global_avg_pool_forward_f64(ctx, of, x, N, C, H, W) |
             cn_global_avg_pool_backward_naive_f64(ctx, dn, g, N, C, H, W) |
             cn_global_avg_pool_backward_f64(ctx, df, g, N, C, H, W);
    snprintf(name, sizeof name, "avg f64 fast vs naive out %s", t);
    check_le(name, rc ? 1 : scaled_error(of, on, no), 1e-14);
    snprintf(name, sizeof name, "avg f64 fast vs naive dx %s", t);
    check_le(name, rc ? 1 : scaled_error(df, dn, nx), 1e-15);
    rc = cn_global_avg_pool_forward_naive_f32(ctx, on32, x32, N, C, H, W) |
         cn_global_avg_pool_forward_f32(ctx, of32, x32, N, C, H, W) |
         cn_global_avg_pool_backward_naive_f32(ctx, dn32, g32, N, C, H, W) |
         cn_global_avg_pool_backward_f32(ctx, df32, g32, N, C, H, W);
    snprintf(name, sizeof name, "avg f32 fast vs f64 out %s", t);
    check_le(name, rc ? 1 : scaled_error_f32(of32, on, no), 1e-6);
    snprintf(name, sizeof name, "avg f32 naive vs f64 out %s", t);
    check_le(name, rc ? 1 : scaled_error_f32(on32, on, no), 1e-5);
    snprintf(name, sizeof name, "avg f32 fast, naive vs f64 dx %s", t);
    check_le(name, rc ? 1 : fmax(scaled_error_f32(df32, dn, nx), scaled_error_f32(dn32, dn, nx)), 1e-6);
    /* max */
    rc = cn_global_max_pool_forward_naive_f64(ctx, on, in, x, N, C, H, W) |
         cn_global_max_pool_forward_f64(ctx, of, ifa, x, N, C, H, W) |
         cn_global_max_pool_backward_naive_f64(ctx, dn, g, x, NULL, N, C, H, W) |
         cn_global_max_pool_backward_f64(ctx, df, g, x, ifa, N, C, H, W);
    int mism = 0;
    for (size_t i = 0; i < no; i++) mism += in[i] != ifa[i];
    snprintf(name, sizeof name, "max f64 fast == naive out, dx %s", t);
    check_le(name, rc ? 1 : fmax(maxdiff(of, on, no), maxdiff(df, dn, nx)), 0);
    snprintf(name, sizeof name, "max f64 fast == naive idx (first max) %s", t);
    check_true(name, !rc && !mism, NULL);
    /* independent: out == x at idx, and no element of the plane above it */
    int bad = 0;
    for (size_t p = 0; p < no; p++) {
        const double *xp = x + p * H * W;
        if (xp[ifa[p]] != of[p]) bad++;
        for (int i = 0; i < H * W; i++) if (xp[i] > of[p] || (xp[i] == of[p] && i < ifa[p])) bad++;
    }
    snprintf(name, sizeof name, "max f64 out is the plane's first maximum %s", t);
    check_true(name, !bad, NULL);
    rc = cn_global_max_pool_forward_naive_f32(ctx, on32, in, x32, N, C, H, W) |
         cn_global_max_pool_forward_f32(ctx, of32, ifa, x32, N, C, H, W) |
         cn_global_max_pool_backward_naive_f32(ctx, dn32, g32, x32, NULL, N, C, H, W) |
         cn_global_max_pool_backward_f32(ctx, df32, g32, x32, ifa, N, C, H, W);
    double e = 0;
    for (size_t i = 0; i < no; i++) e = fmax(e, fabs((double)of32[i] - on32[i]));
    for (size_t i = 0; i < nx; i++) e = fmax(e, fabs((double)df32[i] - dn32[i]));
    snprintf(name, sizeof name, "max f32 fast == naive out, dx %s", t);
    check_le(name, rc ? 1 : e, 0);
    snprintf(name, sizeof name, "max f32 vs f64 out, dx %s", t);
    check_le(name, rc ? 1 : fmax(scaled_error_f32(of32, on, no), scaled_error_f32(df32, dn, nx)), 1e-7);
    free(x); free(g); free(on); free(of); free(dn); free(df);
    free(x32); free(g32); free(on32); free(of32); free(dn32); free(df32); free(in); free(ifa);
}

static void numgrad(int max) {
    const int N = 2, C = 3, H = 4, W = 5;
    const size_t nx = (size_t)N * C * H * W, no = (size_t)N * C;
    cn_rng r;
    cn_rng_seed(&r, 11 + max);
    double x[120], g[6], num[120], dx[120], out[6], work[12];
    int32_t idx[6];
    /* a permutation of 0..119 times 0.1: no ties within the step */
    for (size_t i = 0; i < nx; i++) x[i] = (double)i;
    for (size_t i = nx - 1; i > 0; i--) {
        size_t j = cn_rng_below(&r, i + 1);
        double t = x[i]; x[i] = x[j]; x[j] = t;
    }
    for (size_t i = 0; i < nx; i++) x[i] = 0.1 * x[i] - 6;
    fill_normal(&r, g, no, 1);
    gp a = {N, C, H, W, max, x};
    cn_eval_numerical_gradient_array(ctx, num, f_gp, &a, x, nx, g, no, 1e-5, work);
    int rc;
    if (max) {
        rc = cn_global_max_pool_forward_f64(ctx, out, idx, x, N, C, H, W) |
             cn_global_max_pool_backward_f64(ctx, dx, g, x, idx, N, C, H, W);
        check_le("max numgrad fast dx f64", rc ? 1 : cn_rel_error(dx, num, nx), 1e-9);
        rc = cn_global_max_pool_backward_naive_f64(ctx, dx, g, x, NULL, N, C, H, W);
        check_le("max numgrad naive dx f64", rc ? 1 : cn_rel_error(dx, num, nx), 1e-9);
    } else {
        rc = cn_global_avg_pool_backward_f64(ctx, dx, g, N, C, H, W);
        check_le("avg numgrad fast dx f64", rc ? 1 : cn_rel_error(dx, num, nx), 1e-9);
        rc = cn_global_avg_pool_backward_naive_f64(ctx, dx, g, N, C, H, W);
        check_le("avg numgrad naive dx f64", rc ? 1 : cn_rel_error(dx, num, nx), 1e-9);
    }
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
