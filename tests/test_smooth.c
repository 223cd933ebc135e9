/* test_smooth.c — softmax loss with label smoothing: eps = 0 gives
 * cn_softmax_loss's bits (f32 and f64, serial and threaded sizes), hand
 * values, fast against naive, float32 against float64, numeric gradients
 * at eps = 0.2, bad arguments. */
#include "harness.h"
#include <string.h>

static cn_ctx *ctx;
typedef struct { const int32_t *y; double eps; int N, C; } sm;
static double *g_x; /* the x that cn_eval_numerical_gradient perturbs */

static double f_loss(void *u) {
    sm *a = u;
    double l;
    cn_softmax_loss_smooth_naive_f64(ctx, &l, NULL, g_x, a->y, a->eps, a->N, a->C);
    return l;
}
static void expect_err(const char *name, int rc, int code, const char *needle) {
    hs_expect_err(ctx, name, rc, code, needle);
}

/* Scores x[N,C] ~ N(0, 9) (and as float32), labels y below C, from seed;
 * two gradients d, d32 of each dtype to compare. */
typedef struct { double *x, *d[2]; float *x32, *d32[2]; int32_t *y; size_t n; } scores;
static scores make_scores(int N, int C, uint64_t seed) {
    scores s;
    s.n = (size_t)N * C;
    cn_rng r;
    cn_rng_seed(&r, seed);
    s.x = xmalloc(8 * s.n);
    s.x32 = xmalloc(4 * s.n);
    s.y = xmalloc(4 * (size_t)N);
    for (int k = 0; k < 2; k++) s.d[k] = xmalloc(8 * s.n), s.d32[k] = xmalloc(4 * s.n);
    fill_normal(&r, s.x, s.n, 3);
    to_f32(s.x32, s.x, s.n);
    for (int i = 0; i < N; i++) s.y[i] = (int32_t)cn_rng_below(&r, (uint64_t)C);
    return s;
}
static void free_scores(scores *s) {
    free(s->x); free(s->x32); free(s->y);
    for (int k = 0; k < 2; k++) free(s->d[k]), free(s->d32[k]);
}

static void bits_eps0(int N, int C, uint64_t seed) {
    scores S = make_scores(N, C, seed);
    double l1, l2, l3, l4;
    char name[160];
    int rc = cn_softmax_loss_f64(ctx, &l1, S.d[0], S.x, S.y, N, C) | cn_softmax_loss_smooth_f64(ctx, &l2, S.d[1], S.x, S.y, 0, N, C);
    snprintf(name, sizeof name, "eps=0 fast == cn_softmax_loss bits f64 (%d,%d)", N, C);
    check_true(name, !rc && l1 == l2 && !memcmp(S.d[0], S.d[1], 8 * S.n), NULL);
    rc = cn_softmax_loss_naive_f64(ctx, &l1, S.d[0], S.x, S.y, N, C) | cn_softmax_loss_smooth_naive_f64(ctx, &l2, S.d[1], S.x, S.y, 0, N, C);
    snprintf(name, sizeof name, "eps=0 naive vs cn_softmax_loss_naive f64 (%d,%d) loss, dx", N, C);
    check_le(name, rc ? 1 : fmax(fabs(l1 - l2) / fabs(l1), scaled_error(S.d[1], S.d[0], S.n)), 1e-15);
    rc = cn_softmax_loss_f32(ctx, &l3, S.d32[0], S.x32, S.y, N, C) | cn_softmax_loss_smooth_f32(ctx, &l4, S.d32[1], S.x32, S.y, 0, N, C);
    snprintf(name, sizeof name, "eps=0 fast == cn_softmax_loss bits f32 (%d,%d)", N, C);
    check_true(name, !rc && l3 == l4 && !memcmp(S.d32[0], S.d32[1], 4 * S.n), NULL);
    free_scores(&S);
}

static void compare(int N, int C, double eps, uint64_t seed) {
    scores S = make_scores(N, C, seed);
    double ln, lf, ln32, lf32;
    char name[160];
    int rc = cn_softmax_loss_smooth_naive_f64(ctx, &ln, S.d[0], S.x, S.y, eps, N, C) |
             cn_softmax_loss_smooth_f64(ctx, &lf, S.d[1], S.x, S.y, eps, N, C);
    snprintf(name, sizeof name, "eps=%g f64 fast vs naive loss, dx (%d,%d)", eps, N, C);
    check_le(name, rc ? 1 : fmax(fabs(lf - ln) / fabs(ln), scaled_error(S.d[1], S.d[0], S.n)), 1e-14);
    rc = cn_softmax_loss_smooth_naive_f32(ctx, &ln32, S.d32[0], S.x32, S.y, eps, N, C) |
         cn_softmax_loss_smooth_f32(ctx, &lf32, S.d32[1], S.x32, S.y, eps, N, C);
    snprintf(name, sizeof name, "eps=%g f32 fast, naive vs f64 loss (%d,%d)", eps, N, C);
    check_le(name, rc ? 1 : fmax(fabs(lf32 - ln), fabs(ln32 - ln)) / fabs(ln), 1e-6);
    snprintf(name, sizeof name, "eps=%g f32 fast, naive vs f64 dx (%d,%d)", eps, N, C);
    check_le(name, rc ? 1 : fmax(scaled_error_f32(S.d32[1], S.d[0], S.n), scaled_error_f32(S.d32[0], S.d[0], S.n)), 1e-6);
    /* independent: dx rows sum to 0 (p and t are both distributions) */
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += S.d[1][(size_t)i * C + c];
        worst = fmax(worst, fabs(s) * N);
    }
    snprintf(name, sizeof name, "eps=%g f64 each dx row sums to 0 (%d,%d)", eps, N, C);
    check_le(name, worst, 1e-14);
    free_scores(&S);
}

int main(void) {
    ctx = cn_ctx_new(2);
    bits_eps0(5, 7, 1);
    bits_eps0(8000, 10, 2); /* N*C > 65536: the threaded reduction */
    /* hand values: C = 2, x = (0, log 3): p = (1/4, 3/4); y = 1, eps = 0.2:
     * t = (0.1, 0.9), loss = -(0.1 log 1/4 + 0.9 log 3/4), dx = p - t. */
    {
        double x[2] = {0, log(3.0)}, dx[2], l;
        int32_t y[1] = {1};
        double want = -(0.1 * log(0.25) + 0.9 * log(0.75));
        for (int fast = 0; fast < 2; fast++) {
            int rc = (fast ? cn_softmax_loss_smooth_f64 : cn_softmax_loss_smooth_naive_f64)(ctx, &l, dx, x, y, 0.2, 1, 2);
            char name[120];
            snprintf(name, sizeof name, "hand C=2 eps=0.2 %s loss, dx = (0.15, -0.15)", fast ? "fast" : "naive");
            check_le(name, rc ? 1 : fmax(fabs(l - want), fmax(fabs(dx[0] - 0.15), fabs(dx[1] + 0.15))), 1e-15);
        }
        /* equal scores: loss = log C whatever eps and y */
        double z[10] = {0}, d[10];
        int32_t y3[1] = {3};
        int rc = cn_softmax_loss_smooth_f64(ctx, &l, d, z, y3, 0.37, 1, 10);
        check_le("hand equal scores: loss = log 10 (eps=0.37)", rc ? 1 : fabs(l - log(10.0)), 1e-15);
        /* eps = 1: the target is uniform, dx = p - 1/C = 0 at equal scores */
        rc = cn_softmax_loss_smooth_f64(ctx, &l, d, z, y3, 1, 1, 10);
        double m = 0;
        for (int i = 0; i < 10; i++) m = fmax(m, fabs(d[i]));
        check_le("hand eps=1 equal scores: dx = 0 (to rounding of 1/10)", rc ? 1 : m, 1e-16);
    }
    compare(7, 10, 0.2, 3);
    compare(4096, 10, 0.2, 4);
    compare(50, 100, 0.1, 5);
    /* numeric gradient at eps = 0.2 */
    {
        const int N = 6, C = 5;
        double x[30], num[30], dx[30], l;
        int32_t y[6];
        cn_rng r;
        cn_rng_seed(&r, 9);
        fill_normal(&r, x, 30, 2);
        for (int i = 0; i < N; i++) y[i] = (int32_t)cn_rng_below(&r, C);
        sm a = {y, 0.2, N, C};
        g_x = x;
        cn_eval_numerical_gradient(ctx, num, f_loss, &a, x, 30, 1e-5);
        int rc = cn_softmax_loss_smooth_f64(ctx, &l, dx, x, y, 0.2, N, C);
        check_le("numgrad fast dx f64 eps=0.2", rc ? 1 : cn_rel_error(dx, num, 30), 1e-8);
        rc = cn_softmax_loss_smooth_naive_f64(ctx, &l, dx, x, y, 0.2, N, C);
        check_le("numgrad naive dx f64 eps=0.2", rc ? 1 : cn_rel_error(dx, num, 30), 1e-8);
    }
    /* bad arguments */
    double x[4] = {0}, l;
    int32_t y[2] = {0, 2};
    expect_err("eps=-0.1", cn_softmax_loss_smooth_f64(ctx, &l, NULL, x, y, -0.1, 2, 2), CN_EINVAL, "eps=-0.1");
    expect_err("eps=1.5 naive", cn_softmax_loss_smooth_naive_f64(ctx, &l, NULL, x, y, 1.5, 2, 2), CN_EINVAL, "eps=1.5");
    expect_err("eps=NaN", cn_softmax_loss_smooth_f64(ctx, &l, NULL, x, y, NAN, 2, 2), CN_EINVAL, "eps=nan");
    expect_err("label out of range", cn_softmax_loss_smooth_f64(ctx, &l, NULL, x, y, 0.1, 2, 2), CN_EINVAL, "y[1]=2");
    expect_err("C=0", cn_softmax_loss_smooth_f64(ctx, &l, NULL, x, y, 0.1, 2, 0), CN_EINVAL, "C=0");
    cn_ctx_free(ctx);
    return check_done();
}
