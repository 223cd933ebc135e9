/* test_pool.c — max pooling: hand-worked ties and accumulation, numeric
 * gradients (float64, tie-free inputs), fast against naive (exact, ties
 * included), both dtypes, bad arguments. */
#include "check.h"
#include <stdio.h>
#include <string.h>

static const char *tag_of(const cn_pool_shape *s) {
    static char buf[80];
    snprintf(buf, sizeof buf, "x(%d,%d,%d,%d) %dx%d s%d", s->N, s->C, s->H, s->W, s->ph, s->pw,
             s->stride);
    return buf;
}

static void out_dims(const cn_pool_shape *s, size_t *nx, size_t *no) {
    int Ho = 1 + (s->H - s->ph) / s->stride, Wo = 1 + (s->W - s->pw) / s->stride;
    *nx = (size_t)s->N * s->C * s->H * s->W;
    *no = (size_t)s->N * s->C * Ho * Wo;
}

static double maxdiff64(const double *a, const double *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (e > d || isnan(e)) d = e;
    }
    return d;
}
static size_t idx_mismatch(const int32_t *a, const int32_t *b, size_t n) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += a[i] != b[i];
    return m;
}

/* ---- hand-worked -------------------------------------------------------- */
static void hand_cases(cn_ctx *ctx) {
    /* 2x2 stride 2 on 4x4, ties in three windows; the first maximum in
     * row-major order of its window gets the gradient:
     *   TL {1,3 / 3,2}: 3 at (0,1) -> 1    TR {2,0 / 5,5}: 5 at (1,2) -> 6
     *   BL {0,4 / 4,2}: 4 at (2,1) -> 9    BR {1,1 / 1,1}: 1 at (2,2) -> 10 */
    const double x[16] = {1, 3, 2, 0, 3, 2, 5, 5, 0, 4, 1, 1, 4, 2, 1, 1};
    const double want_out[4] = {3, 5, 4, 1}, dout[4] = {1, 2, 3, 4};
    const int32_t want_idx[4] = {1, 6, 9, 10};
    double want_dx[16] = {0};
    want_dx[1] = 1; want_dx[6] = 2; want_dx[9] = 3; want_dx[10] = 4;
    cn_pool_shape s = {1, 1, 4, 4, 2, 2, 2};
    char name[128];
    for (int dt = 0; dt < 2; dt++)
        for (int fast = 0; fast < 2; fast++) {
            double out[4], dx[16];
            int32_t idx[4] = {-1, -1, -1, -1};
            int rc;
            if (dt == 0) {
                float xf[16], of[4], gf[4], dxf[16];
                to_f32(xf, x, 16); to_f32(gf, dout, 4);
                rc = fast ? cn_max_pool_forward_f32(ctx, of, idx, xf, &s)
                          : cn_max_pool_forward_naive_f32(ctx, of, idx, xf, &s);
                rc |= fast ? cn_max_pool_backward_f32(ctx, dxf, gf, xf, idx, &s)
                           : cn_max_pool_backward_naive_f32(ctx, dxf, gf, xf, NULL, &s);
                to_f64(out, of, 4); to_f64(dx, dxf, 16);
            } else {
                rc = fast ? cn_max_pool_forward_f64(ctx, out, idx, x, &s)
                          : cn_max_pool_forward_naive_f64(ctx, out, idx, x, &s);
                rc |= fast ? cn_max_pool_backward_f64(ctx, dx, dout, x, idx, &s)
                           : cn_max_pool_backward_naive_f64(ctx, dx, dout, x, NULL, &s);
            }
            const char *t = dt ? "f64" : "f32", *p = fast ? "fast" : "naive";
            snprintf(name, sizeof name, "hand 4x4 2x2 ties: out %s %s", t, p);
            check_le(name, rc ? 1 : maxdiff64(out, want_out, 4), 0);
            snprintf(name, sizeof name, "hand 4x4 2x2 ties: idx = first max %s %s", t, p);
            check_true(name, idx_mismatch(idx, want_idx, 4) == 0, "want 1 6 9 10");
            snprintf(name, sizeof name, "hand 4x4 2x2 ties: dx at the first max %s %s", t, p);
            check_le(name, rc ? 1 : maxdiff64(dx, want_dx, 16), 0);
        }
    /* overlapping windows accumulate: x = [1 5 2], 1x2 windows stride 1,
     * both windows pick x[1]: dx = [0, 1+10, 0] (an overwriting backward
     * would give 10) */
    {
        cn_pool_shape s1 = {1, 1, 1, 3, 1, 2, 1};
        const double x1[3] = {1, 5, 2}, g1[2] = {1, 10}, want[3] = {0, 11, 0};
        double o1[2], dx1[3];
        int32_t i1[2];
        for (int fast = 0; fast < 2; fast++) {
            int rc = cn_max_pool_forward_f64(ctx, o1, i1, x1, &s1);
            rc |= fast ? cn_max_pool_backward_f64(ctx, dx1, g1, x1, i1, &s1)
                       : cn_max_pool_backward_naive_f64(ctx, dx1, g1, x1, NULL, &s1);
            snprintf(name, sizeof name, "hand overlapping windows accumulate f64 %s", fast ? "fast" : "naive");
            check_le(name, rc ? 1 : maxdiff64(dx1, want, 3), 0);
        }
    }
}

/* ---- numeric gradients ------------------------------------------------------ */
typedef struct {
    cn_ctx *ctx;
    const cn_pool_shape *s;
    double *x;
} pool_args;

static void f_pool(void *u, double *out) {
    pool_args *a = u;
    cn_max_pool_forward_naive_f64(a->ctx, out, NULL, a->x, a->s);
}

/* x = a random permutation of 0..n-1, times 0.1: no ties, and no two values
 * within 1e-5 of each other, so the centred differences are exact. */
static void perm_fill(cn_rng *r, double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (double)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = cn_rng_below(r, i + 1);
        double t = x[i]; x[i] = x[j]; x[j] = t;
    }
    for (size_t i = 0; i < n; i++) x[i] = 0.1 * x[i] - 0.05 * n;
}

static void numeric_grads(cn_ctx *ctx, cn_pool_shape s, uint64_t seed) {
    size_t nx, no;
    out_dims(&s, &nx, &no);
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * nx), *dout = xmalloc(8 * no), *work = xmalloc(16 * no);
    double *num = xmalloc(8 * nx), *dx = xmalloc(8 * nx), *out = xmalloc(8 * no);
    int32_t *idx = xmalloc(4 * no);
    perm_fill(&r, x, nx);
    fill_normal(&r, dout, no, 1);
    pool_args a = {ctx, &s, x};
    cn_eval_numerical_gradient_array(ctx, num, f_pool, &a, x, nx, dout, no, 1e-5, work);
    char name[160];
    int rc = cn_max_pool_forward_f64(ctx, out, idx, x, &s);
    rc |= cn_max_pool_backward_f64(ctx, dx, dout, x, idx, &s);
    snprintf(name, sizeof name, "numgrad fast dx %s", tag_of(&s));
    check_le(name, rc ? 1 : cn_rel_error(dx, num, nx), 1e-9);
    rc = cn_max_pool_backward_naive_f64(ctx, dx, dout, x, NULL, &s);
    snprintf(name, sizeof name, "numgrad naive dx %s", tag_of(&s));
    check_le(name, rc ? 1 : cn_rel_error(dx, num, nx), 1e-9);
    free(x); free(dout); free(work); free(num); free(dx); free(out); free(idx);
}

/* ---- fast against naive: identical results, ties included -------------------- */
static void fast_vs_naive(cn_ctx *ctx, cn_pool_shape s, uint64_t seed, int ties) {
    size_t nx, no;
    out_dims(&s, &nx, &no);
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * nx), *g = xmalloc(8 * no);
    double *on = xmalloc(8 * no), *of = xmalloc(8 * no), *dxn = xmalloc(8 * nx), *dxf = xmalloc(8 * nx);
    int32_t *in = xmalloc(4 * no), *ifa = xmalloc(4 * no);
    float *x32 = xmalloc(4 * nx), *g32 = xmalloc(4 * no), *on32 = xmalloc(4 * no), *of32 = xmalloc(4 * no);
    float *dxn32 = xmalloc(4 * nx), *dxf32 = xmalloc(4 * nx);
    if (ties) /* small integers: many ties in every window */
        for (size_t i = 0; i < nx; i++) x[i] = (double)cn_rng_below(&r, 3);
    else
        fill_normal(&r, x, nx, 1);
    fill_normal(&r, g, no, 1);
    to_f32(x32, x, nx);
    to_f32(g32, g, no);
    char name[200];
    const char *t = tag_of(&s), *k = ties ? "ties" : "normal";
    int rc = cn_max_pool_forward_naive_f64(ctx, on, in, x, &s);
    rc |= cn_max_pool_backward_naive_f64(ctx, dxn, g, x, NULL, &s);
    rc |= cn_max_pool_forward_f64(ctx, of, ifa, x, &s);
    rc |= cn_max_pool_backward_f64(ctx, dxf, g, x, ifa, &s);
    snprintf(name, sizeof name, "f64 fast==naive out,dx %s %s", k, t);
    check_le(name, rc ? 1 : fmax(maxdiff64(of, on, no), maxdiff64(dxf, dxn, nx)), 0);
    snprintf(name, sizeof name, "f64 fast==naive idx %s %s", k, t);
    check_true(name, !rc && idx_mismatch(ifa, in, no) == 0, NULL);
    rc = cn_max_pool_forward_naive_f32(ctx, on32, in, x32, &s);
    rc |= cn_max_pool_backward_naive_f32(ctx, dxn32, g32, x32, NULL, &s);
    rc |= cn_max_pool_forward_f32(ctx, of32, ifa, x32, &s);
    rc |= cn_max_pool_backward_f32(ctx, dxf32, g32, x32, ifa, &s);
    snprintf(name, sizeof name, "f32 fast==naive out,dx,idx %s %s", k, t);
    double e = 0;
    for (size_t i = 0; i < no; i++) e = fmax(e, fabs((double)of32[i] - on32[i]));
    for (size_t i = 0; i < nx; i++) e = fmax(e, fabs((double)dxf32[i] - dxn32[i]));
    if (idx_mismatch(ifa, in, no)) e = 1;
    check_le(name, rc ? 1 : e, 0);
    snprintf(name, sizeof name, "f32 fast/f64 naive out,dx %s %s", k, t);
    check_le(name, rc ? 1 : fmax(scaled_error_f32(of32, on, no), scaled_error_f32(dxf32, dxn, nx)), 1e-5);
    free(x); free(g); free(on); free(of); free(dxn); free(dxf); free(in); free(ifa);
    free(x32); free(g32); free(on32); free(of32); free(dxn32); free(dxf32);
}

static void bad_args(cn_ctx *ctx) {
    float x[2 * 3 * 4 * 5] = {0}, out[256], g[256] = {0}, dx[2 * 3 * 4 * 5];
    int32_t idx[256];
    struct { const char *what; cn_pool_shape s; const char *needle; } cases[] = {
        {"window 5x2 > input 4x5", {2, 3, 4, 5, 5, 2, 1}, "5x2 does not fit"},
        {"stride 0", {2, 3, 4, 5, 2, 2, 0}, "stride=0"},
        {"pw 0", {2, 3, 4, 5, 2, 0, 2}, "2x0"},
        {"C = -1", {2, -1, 4, 5, 2, 2, 2}, "(2,-1,4,5)"},
    };
    char name[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cn_pool_shape *s = &cases[i].s;
        int all = cn_pool_out(ctx, s, NULL, NULL) == CN_EINVAL;
        all &= cn_max_pool_forward_f32(ctx, out, idx, x, s) == CN_EINVAL;
        all &= cn_max_pool_forward_naive_f32(ctx, out, idx, x, s) == CN_EINVAL;
        all &= cn_max_pool_backward_f32(ctx, dx, g, x, idx, s) == CN_EINVAL;
        all &= cn_max_pool_backward_naive_f32(ctx, dx, g, x, idx, s) == CN_EINVAL;
        const char *msg = cn_ctx_error(ctx);
        snprintf(name, sizeof name, "bad args: %s -> CN_EINVAL, message names it", cases[i].what);
        check_true(name, all && strstr(msg, cases[i].needle) != NULL, msg);
    }
    cn_pool_shape s = {2, 3, 4, 5, 2, 2, 2};
    int rc = cn_max_pool_backward_f32(ctx, dx, g, x, NULL, &s);
    check_true("bad args: fast backward with idx NULL -> CN_EINVAL", rc == CN_EINVAL, cn_ctx_error(ctx));
    cn_max_pool_forward_f32(ctx, out, idx, x, &s);
    idx[5] = 20; /* plane is 4x5 = 20: out of range */
    rc = cn_max_pool_backward_f32(ctx, dx, g, x, idx, &s);
    check_true("bad args: idx outside the plane -> CN_EINVAL", rc == CN_EINVAL, cn_ctx_error(ctx));
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(2);
    if (!ctx) return 2;
    hand_cases(ctx);

    numeric_grads(ctx, (cn_pool_shape){2, 3, 8, 8, 2, 2, 2}, 1);
    numeric_grads(ctx, (cn_pool_shape){2, 2, 7, 9, 3, 3, 2}, 2); /* overlapping */
    numeric_grads(ctx, (cn_pool_shape){1, 2, 7, 6, 2, 3, 3}, 3); /* windows do not tile */
    numeric_grads(ctx, (cn_pool_shape){2, 1, 5, 5, 3, 3, 1}, 4); /* heavy overlap */

    const cn_pool_shape shapes[] = {
        {2, 3, 8, 8, 2, 2, 2},
        {2, 3, 7, 9, 2, 2, 2},     /* 2x2 s2 special path, odd sizes */
        {2, 2, 7, 9, 3, 3, 2},     /* overlapping */
        {3, 2, 10, 7, 2, 3, 3},    /* does not tile */
        {1, 4, 6, 5, 6, 5, 1},     /* one window = the plane */
        {2, 2, 5, 6, 1, 1, 1},     /* identity */
        {2, 3, 9, 9, 4, 2, 1},     /* rectangular, stride 1 */
        {100, 3, 32, 32, 2, 2, 2}, /* the original's timing cell (parallel path) */
        {20, 4, 17, 15, 3, 3, 2},  /* parallel, overlapping */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        fast_vs_naive(ctx, shapes[i], 10 + i, 0);
        fast_vs_naive(ctx, shapes[i], 50 + i, 1);
    }
    cn_ctx *c1 = cn_ctx_new(1), *c3 = cn_ctx_new(3);
    fast_vs_naive(c1, shapes[8], 90, 1);
    fast_vs_naive(c3, shapes[8], 91, 1);
    cn_ctx_free(c1);
    cn_ctx_free(c3);
    bad_args(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
