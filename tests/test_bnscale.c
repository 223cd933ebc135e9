/* test_bnscale.c — batch norm and spatial batch norm without a learned
 * scale (gamma == NULL, as airbench): bit-identical to gamma = ones in every
 * output (forward train/test, caches, running stats, dx, dbeta; naive and
 * fast, float32 and float64, serial and threaded sizes), dgamma NULL
 * accepted, fast against naive, numeric gradients of dx and dbeta. */
#include "check.h"
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

/* numeric gradients of sum(out * dout) with gamma NULL */
typedef struct { const shp *s; double *x, *beta; } nga;
static void f_out(void *u, double *out) {
    nga *a = u;
    cn_bn_param p = CN_BN_DEFAULT;
    fwd_f64(a->s, 1, out, NULL, NULL, a->x, NULL, a->beta, NULL, NULL, &p);
}

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
    /* fast vs naive with gamma NULL */
    double *on = xmalloc(8 * n), *of = xmalloc(8 * n), *dn = xmalloc(8 * n), *df = xmalloc(8 * n);
    double cache[4 * 512], dbn[512], dbf[512];
    cn_bn_param p = CN_BN_DEFAULT;
    int rc = fwd_f64(&s, 1, on, cache, cache + c, x, NULL, beta, NULL, NULL, &p) |
             bwd_f64(&s, 1, dn, NULL, dbn, g, x, NULL, cache, cache + c) |
             fwd_f64(&s, 0, of, cache + 2 * c, cache + 3 * c, x, NULL, beta, NULL, NULL, &p) |
             bwd_f64(&s, 0, df, NULL, dbf, g, x, NULL, cache + 2 * c, cache + 3 * c);
    snprintf(name, sizeof name, "gamma NULL f64 fast vs naive out, dx, dbeta %s", tag(&s));
    check_le(name, rc ? 1 : fmax(fmax(scaled_error(of, on, n), scaled_error(df, dn, n)), scaled_error(dbf, dbn, c)), 1e-12);
    float *of32 = xmalloc(4 * n), *df32 = xmalloc(4 * n), cache32[2 * 512], db32[512];
    rc = fwd_f32(&s, 0, of32, cache32, cache32 + c, x32, NULL, b32, NULL, NULL, &p) |
         bwd_f32(&s, 0, df32, NULL, db32, g32, x32, NULL, cache32, cache32 + c);
    snprintf(name, sizeof name, "gamma NULL f32 fast vs f64 out, dx, dbeta %s", tag(&s));
    check_le(name, rc ? 1 : fmax(fmax(scaled_error_f32(of32, on, n), scaled_error_f32(df32, dn, n)), scaled_error_f32(db32, dbn, c)), 2e-5);
    if (n <= 2000) { /* numeric gradients (float64) */
        double *num = xmalloc(8 * n), *work = xmalloc(16 * n), numb[512];
        nga a = {&s, x, beta};
        cn_eval_numerical_gradient_array(ctx, num, f_out, &a, x, n, g, n, 1e-5, work);
        cn_eval_numerical_gradient_array(ctx, numb, f_out, &a, beta, c, g, n, 1e-5, work);
        snprintf(name, sizeof name, "gamma NULL numgrad fast dx f64 %s", tag(&s));
        check_le(name, scaled_error(df, num, n), 1e-8);
        snprintf(name, sizeof name, "gamma NULL numgrad naive dx f64 %s", tag(&s));
        check_le(name, scaled_error(dn, num, n), 1e-8);
        snprintf(name, sizeof name, "gamma NULL numgrad fast dbeta f64 %s", tag(&s));
        check_le(name, cn_rel_error(dbf, numb, c), 1e-8);
        free(num); free(work);
    }
    free(x); free(g); free(beta); free(x32); free(g32); free(b32);
    free(on); free(of); free(dn); free(df); free(of32); free(df32);
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
