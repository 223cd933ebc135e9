/* test_bnscale.c — batch norm and spatial batch norm without a learned
 * scale (gamma == NULL, as airbench): bit-identical to gamma = ones in every
 * output (forward train/test, caches, running stats, dx, dbeta; naive and
 * fast, float32 and float64, serial and threaded sizes), dgamma NULL
 * accepted; through the harness (harness.h) fast against naive at every
 * SIMD level and numeric gradients of dx and dbeta. */
#include "harness.h"
#include <string.h>

static cn_ctx *ctx;

typedef struct { int spatial, N, C, H, W; } shp;

#define RUN(T, S)                                                                                  \
    static int fwd_##S(const shp *s, int naive, T *out, T *cm, T *ci, const T *x, const T *g,     \
                       const T *b, T *rm, T *rv, const cn_bn_param *p) {                          \
        if (s->spatial)                                                                            \
            return (naive ? cn_spatial_batchnorm_forward_naive_##S                                 \
                          : cn_spatial_batchnorm_forward_##S)(ctx, out, cm, ci, x, g, b, rm, rv, p, \
                                                              s->N, s->C, s->H, s->W);             \
        return (naive ? cn_batchnorm_forward_naive_##S : cn_batchnorm_forward_##S)(                \
            ctx, out, cm, ci, x, g, b, rm, rv, p, s->N, s->C);                                     \
    }                                                                                              \
    static int bwd_##S(const shp *s, int naive, T *dx, T *dg, T *db, const T *dout, const T *x,    \
                       const T *g, const T *cm, const T *ci) {                                     \
        if (s->spatial)                                                                            \
            return (naive ? cn_spatial_batchnorm_backward_naive_##S                                \
                          : cn_spatial_batchnorm_backward_##S)(ctx, dx, dg, db, dout, x, g, cm,    \
                                                               ci, s->N, s->C, s->H, s->W);        \
        return (naive ? cn_batchnorm_backward_naive_##S : cn_batchnorm_backward_##S)(              \
            ctx, dx, dg, db, dout, x, g, cm, ci, s->N, s->C);                                      \
    }                                                                                              \
    /* 1 when gamma NULL gives the same bits as gamma = ones everywhere */                        \
    static int same_bits_##S(const shp *s, int naive, const T *x, const T *dout, const T *beta) {  \
        const size_t n = (size_t)s->N * s->C * s->H * s->W, c = (size_t)s->C;                      \
        T *ones = xmalloc(sizeof(T) * c), *o1 = xmalloc(sizeof(T) * n), *o2 = xmalloc(sizeof(T) * n); \
        T *st1 = xmalloc(sizeof(T) * 4 * c), *st2 = xmalloc(sizeof(T) * 4 * c);                      \
        T *d1 = xmalloc(sizeof(T) * n), *d2 = xmalloc(sizeof(T) * n);                               \
        T *g1 = xmalloc(sizeof(T) * 2 * c), *g2 = xmalloc(sizeof(T) * 2 * c), *g3 = xmalloc(sizeof(T) * c); \
        for (size_t i = 0; i < c; i++) ones[i] = 1, st1[2 * c + i] = st2[2 * c + i] = (T)0.5,       \
                                       st1[3 * c + i] = st2[3 * c + i] = 2;                         \
        cn_bn_param p = CN_BN_DEFAULT;                                                             \
        int rc = fwd_##S(s, naive, o1, st1, st1 + c, x, ones, beta, st1 + 2 * c, st1 + 3 * c, &p);  \
        rc |= fwd_##S(s, naive, o2, st2, st2 + c, x, NULL, beta, st2 + 2 * c, st2 + 3 * c, &p);     \
        int ok = !rc && !memcmp(o1, o2, sizeof(T) * n) && !memcmp(st1, st2, sizeof(T) * 4 * c);     \
        rc = bwd_##S(s, naive, d1, g1, g1 + c, dout, x, ones, st1, st1 + c);                        \
        rc |= bwd_##S(s, naive, d2, g2, g2 + c, dout, x, NULL, st2, st2 + c);                       \
        ok &= !rc && !memcmp(d1, d2, sizeof(T) * n) && !memcmp(g1, g2, sizeof(T) * 2 * c);          \
        rc = bwd_##S(s, naive, d2, NULL, g3, dout, x, NULL, st2, st2 + c); /* no dgamma */         \
        ok &= !rc && !memcmp(d1, d2, sizeof(T) * n) && !memcmp(g1 + c, g3, sizeof(T) * c);          \
        p.train = 0; /* test mode with the running stats */                                        \
        rc = fwd_##S(s, naive, o1, NULL, NULL, x, ones, beta, st1 + 2 * c, st1 + 3 * c, &p);        \
        rc |= fwd_##S(s, naive, o2, NULL, NULL, x, NULL, beta, st2 + 2 * c, st2 + 3 * c, &p);       \
        ok &= !rc && !memcmp(o1, o2, sizeof(T) * n);                                                \
        free(ones); free(o1); free(o2); free(st1); free(st2); free(d1); free(d2);                   \
        free(g1); free(g2); free(g3);                                                               \
        return ok;                                                                                 \
    }
RUN(float, f32)
RUN(double, f64)

static const char *tag(const shp *s) {
    static char b[64];
    if (s->spatial) snprintf(b, sizeof b, "spatial (%d,%d,%d,%d)", s->N, s->C, s->H, s->W);
    else snprintf(b, sizeof b, "(%d,%d)", s->N, s->C);
    return b;
}

/* ---- fast vs naive and numeric gradients with gamma NULL, through the
 * harness (tests/harness.h) ------------------------------------------------- */
enum { X, DOUT, BETA, OUT, CM, CI, DX, DBETA };
static int bn_fwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    cn_bn_param p = CN_BN_DEFAULT;
    if (f64) return fwd_f64(c->p, naive, t[OUT], t[CM], t[CI], t[X], NULL, t[BETA], NULL, NULL, &p);
    return fwd_f32(c->p, naive, t[OUT], t[CM], t[CI], t[X], NULL, t[BETA], NULL, NULL, &p);
}
static int bn_bwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    if (f64) return bwd_f64(c->p, naive, t[DX], NULL, t[DBETA], t[DOUT], t[X], NULL, t[CM], t[CI]);
    return bwd_f32(c->p, naive, t[DX], NULL, t[DBETA], t[DOUT], t[X], NULL, t[CM], t[CI]);
}
/* float64 fast vs naive: scaled 1e-12; float32 vs float64 2e-5; numeric
 * gradients (float64): dx scaled, dbeta elementwise, 1e-8. */
static const hs_op bn_op = {"gamma NULL", bn_fwd, bn_bwd,
                            {.f64 = 1e-12, .f32 = 2e-5, .f32naive = 2e-5, .f32pair = -1, .num = 1e-8,
                             .metric64 = HS_SCALED, .metric_num = HS_SCALED}};

static void one(shp s, uint64_t seed) {
    const size_t n = (size_t)s.N * s.C * s.H * s.W, c = (size_t)s.C;
    s.H = s.spatial ? s.H : 1;
    s.W = s.spatial ? s.W : 1;
    cn_rng r;
    cn_rng_seed(&r, seed);
    double *x = xmalloc(8 * n), *g = xmalloc(8 * n), *beta = xmalloc(8 * c);
    float *x32 = xmalloc(4 * n), *g32 = xmalloc(4 * n), *b32 = xmalloc(4 * c);
    fill_normal(&r, x, n, 2);
    for (size_t i = 0; i < n; i++) x[i] += 1.5;
    fill_normal(&r, g, n, 1);
    fill_normal(&r, beta, c, 1);
    to_f32(x32, x, n);
    to_f32(g32, g, n);
    to_f32(b32, beta, c);
    char name[200];
    for (int naive = 0; naive < 2; naive++) {
        snprintf(name, sizeof name, "gamma NULL == ones, bits, f64 %s %s", naive ? "naive" : "fast", tag(&s));
        check_true(name, same_bits_f64(&s, naive, x, g, beta), "out, caches, running stats, test mode, dx, dbeta");
        snprintf(name, sizeof name, "gamma NULL == ones, bits, f32 %s %s", naive ? "naive" : "fast", tag(&s));
        check_true(name, same_bits_f32(&s, naive, x32, g32, b32), "out, caches, running stats, test mode, dx, dbeta");
    }
    /* fast vs naive with gamma NULL (x ~ 1.5 + 2 N(0,1)); numeric gradients
     * where small enough */
    hs_case hc = hs_new(&bn_op, &s, seed, HS_LEVELS | (n <= 2000 ? HS_NUMGRAD : 0), "%s", tag(&s));
    int xi = hs_in(&hc, "x", n, HS_NORMAL, 2);
    hc.t[xi].shift = 1.5;
    hs_dout(&hc, "dout", n);
    hs_in(&hc, "beta", c, HS_NORMAL, 1);
    hs_out(&hc, "out", n);
    hs_out(&hc, "mean", c);
    hs_out(&hc, "invstd", c);
    hs_grad(&hc, "dx", X);
    hc.t[hs_grad(&hc, "dbeta", BETA)].metric_num = HS_REL;
    hs_check(ctx, &hc);
    free(x); free(g); free(beta); free(x32); free(g32); free(b32);
}

int main(void) {
    ctx = cn_ctx_new(2);
    one((shp){0, 16, 7, 1, 1}, 1);
    one((shp){0, 2000, 40, 1, 1}, 2);  /* threaded rows */
    one((shp){1, 4, 3, 5, 6}, 3);
    one((shp){1, 64, 64, 8, 8}, 4);    /* threaded channels, airbench widths */
    /* hand value: x = (1, 3) in one column, no gamma, beta = 0.5:
     * mean 2, var 1, out = (x - 2)/sqrt(1 + eps) + 0.5 */
    double x[2] = {1, 3}, b[1] = {0.5}, o[2];
    cn_bn_param p = CN_BN_DEFAULT;
    int rc = cn_batchnorm_forward_f64(ctx, o, NULL, NULL, x, NULL, b, NULL, NULL, &p, 2, 1);
    double want = 1 / sqrt(1 + 1e-5);
    check_le("hand (1,3), beta 0.5: out = 0.5 -/+ 1/sqrt(1+eps)", rc ? 1 : fmax(fabs(o[0] - (0.5 - want)), fabs(o[1] - (0.5 + want))), 1e-15);
    cn_ctx_free(ctx);
    return check_done();
}
