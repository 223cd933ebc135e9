/* test_pool.c — max pooling: hand-worked ties and accumulation, numeric
 * gradients (float64, tie-free inputs), fast against naive (exact, ties
 * included), both dtypes, at every SIMD level (the harness, harness.h);
 * bad arguments. */
#include "harness.h"
#include <stdio.h>
#include <string.h>

static const char *tag_of(const cn_max_pool_shape *s) {
    static char buf[80];
    snprintf(buf, sizeof buf, "x(%d,%d,%d,%d) %dx%d s%d", s->N, s->C, s->H, s->W, s->ph, s->pw,
             s->stride);
    return buf;
}

static void out_dims(const cn_max_pool_shape *s, size_t *nx, size_t *no) {
    int Ho = 1 + (s->H - s->ph) / s->stride, Wo = 1 + (s->W - s->pw) / s->stride;
    *nx = (size_t)s->N * s->C * s->H * s->W;
    *no = (size_t)s->N * s->C * Ho * Wo;
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
    cn_max_pool_shape s = {1, 1, 4, 4, 2, 2, 2};
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
            check_le(name, rc ? 1 : hs_maxdiff(out, want_out, 4), 0);
            snprintf(name, sizeof name, "hand 4x4 2x2 ties: idx = first max %s %s", t, p);
            check_true(name, hs_idx_mismatch(idx, want_idx, 4) == 0, "want 1 6 9 10");
            snprintf(name, sizeof name, "hand 4x4 2x2 ties: dx at the first max %s %s", t, p);
            check_le(name, rc ? 1 : hs_maxdiff(dx, want_dx, 16), 0);
        }
    /* overlapping windows accumulate: x = [1 5 2], 1x2 windows stride 1,
     * both windows pick x[1]: dx = [0, 1+10, 0] (an overwriting backward
     * would give 10) */
    {
        cn_max_pool_shape s1 = {1, 1, 1, 3, 1, 2, 1};
        const double x1[3] = {1, 5, 2}, g1[2] = {1, 10}, want[3] = {0, 11, 0};
        double o1[2], dx1[3];
        int32_t i1[2];
        for (int fast = 0; fast < 2; fast++) {
            int rc = cn_max_pool_forward_f64(ctx, o1, i1, x1, &s1);
            rc |= fast ? cn_max_pool_backward_f64(ctx, dx1, g1, x1, i1, &s1)
                       : cn_max_pool_backward_naive_f64(ctx, dx1, g1, x1, NULL, &s1);
            snprintf(name, sizeof name, "hand overlapping windows accumulate f64 %s", fast ? "fast" : "naive");
            check_le(name, rc ? 1 : hs_maxdiff(dx1, want, 3), 0);
        }
    }
}

/* ---- the operation, for the harness (tests/harness.h) ---------------------- */
enum { X, DOUT, OUT, IDX, DX };
static int pool_fwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    const cn_max_pool_shape *s = c->p;
    if (f64) return (naive ? cn_max_pool_forward_naive_f64 : cn_max_pool_forward_f64)(ctx, t[OUT], t[IDX], t[X], s);
    return (naive ? cn_max_pool_forward_naive_f32 : cn_max_pool_forward_f32)(ctx, t[OUT], t[IDX], t[X], s);
}
/* the fast backward routes through the forward's idx; the naive one finds
 * the maxima again */
static int pool_bwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    const cn_max_pool_shape *s = c->p;
    if (f64)
        return naive ? cn_max_pool_backward_naive_f64(ctx, t[DX], t[DOUT], t[X], NULL, s)
                     : cn_max_pool_backward_f64(ctx, t[DX], t[DOUT], t[X], t[IDX], s);
    return naive ? cn_max_pool_backward_naive_f32(ctx, t[DX], t[DOUT], t[X], NULL, s)
                 : cn_max_pool_backward_f32(ctx, t[DX], t[DOUT], t[X], t[IDX], s);
}
/* Fast and naive take the same maxima and move the same values: equal in
 * each dtype, ties included (the first maximum wins); float32 vs float64
 * within its rounding; numeric gradients on tie-free inputs (HS_PERM)
 * exact up to the step's rounding. */
static const hs_op pool_op = {"maxpool", pool_fwd, pool_bwd,
                              {.f64 = 0, .f32 = 1e-5, .f32naive = 1e-5, .f32pair = 0, .num = 1e-9,
                               .metric64 = HS_ABS, .metric_num = HS_REL}};

static void pool_case(cn_ctx *ctx, const cn_max_pool_shape *s, uint64_t seed, int fill, unsigned flags) {
    size_t nx, no;
    out_dims(s, &nx, &no);
    hs_case c = hs_new(&pool_op, s, seed, flags, "%s %s", fill == HS_TIES ? "ties" : fill == HS_PERM ? "tie-free" : "normal",
                       tag_of(s));
    hs_in(&c, "x", nx, fill, 1);
    hs_dout(&c, "dout", no);
    hs_out(&c, "out", no);
    hs_idx(&c, "idx", no);
    hs_grad(&c, "dx", X);
    hs_check(ctx, &c);
}

static void bad_args(cn_ctx *ctx) {
    float x[2 * 3 * 4 * 5] = {0}, out[256], g[256] = {0}, dx[2 * 3 * 4 * 5];
    int32_t idx[256];
    struct { const char *what; cn_max_pool_shape s; const char *needle; } cases[] = {
        {"window 5x2 > input 4x5", {2, 3, 4, 5, 5, 2, 1}, "5x2 does not fit"},
        {"stride 0", {2, 3, 4, 5, 2, 2, 0}, "stride=0"},
        {"pw 0", {2, 3, 4, 5, 2, 0, 2}, "2x0"},
        {"C = -1", {2, -1, 4, 5, 2, 2, 2}, "(2,-1,4,5)"},
    };
    char name[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cn_max_pool_shape *s = &cases[i].s;
        int all = cn_max_pool_out(ctx, s, NULL, NULL) == CN_EINVAL;
        all &= cn_max_pool_forward_f32(ctx, out, idx, x, s) == CN_EINVAL;
        all &= cn_max_pool_forward_naive_f32(ctx, out, idx, x, s) == CN_EINVAL;
        all &= cn_max_pool_backward_f32(ctx, dx, g, x, idx, s) == CN_EINVAL;
        all &= cn_max_pool_backward_naive_f32(ctx, dx, g, x, idx, s) == CN_EINVAL;
        const char *msg = cn_ctx_error(ctx);
        snprintf(name, sizeof name, "bad args: %s -> CN_EINVAL, message names it", cases[i].what);
        check_true(name, all && strstr(msg, cases[i].needle) != NULL, msg);
    }
    cn_max_pool_shape s = {2, 3, 4, 5, 2, 2, 2};
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

    const cn_max_pool_shape small[] = {
        {2, 3, 8, 8, 2, 2, 2},
        {2, 2, 7, 9, 3, 3, 2}, /* overlapping */
        {1, 2, 7, 6, 2, 3, 3}, /* windows do not tile */
        {2, 1, 5, 5, 3, 3, 1}, /* heavy overlap */
    };
    for (int i = 0; i < 4; i++) pool_case(ctx, &small[i], 1 + i, HS_PERM, HS_NUMGRAD);

    const cn_max_pool_shape shapes[] = {
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
        pool_case(ctx, &shapes[i], 10 + i, HS_NORMAL, HS_LEVELS);
        pool_case(ctx, &shapes[i], 50 + i, HS_TIES, HS_LEVELS); /* small integers: many ties in every window */
    }
    cn_ctx *c1 = cn_ctx_new(1), *c3 = cn_ctx_new(3);
    pool_case(c1, &shapes[8], 90, HS_TIES, 0);
    pool_case(c3, &shapes[8], 91, HS_TIES, 0);
    cn_ctx_free(c1);
    cn_ctx_free(c3);
    bad_args(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
