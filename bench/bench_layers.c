/* bench_layers.c — the original's timing cells, naive against fast in one run
 * (float64, as the notebook), then the three-layer net's first conv layer
 * (float32, batch 50): median milliseconds and GFLOP/s.
 * Timing: clock_gettime(CLOCK_MONOTONIC), one warm-up call, median of R. */
#include "convnet.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
static void fill(cn_rng *r, double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = cn_rng_normal(r);
}
static void fillf(cn_rng *r, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * cn_rng_normal(r));
}

/* Run `body` (a statement using ctx) once to warm up, then R times; median
 * seconds in *med, fastest in *min. Exits on an error. */
#define TIME(R, med, min, body)                                                 \
    do {                                                                        \
        double ts_[64];                                                         \
        int n_ = (R) < 64 ? (R) : 64;                                           \
        if ((body) != CN_OK) { fprintf(stderr, "error: %s\n", cn_ctx_error(ctx)); exit(1); } \
        for (int r_ = 0; r_ < n_; r_++) {                                       \
            double t0_ = now();                                                 \
            (void)(body);                                                       \
            ts_[r_] = now() - t0_;                                              \
        }                                                                       \
        qsort(ts_, n_, sizeof(double), cmpd);                                   \
        *(med) = ts_[n_ / 2];                                                   \
        *(min) = ts_[0];                                                        \
    } while (0)

static void cell(const char *name, double naive, double fast) {
    printf("Testing %s:\n", name);
    printf("Naive: %fs\n", naive);
    printf("Fast: %fs\n", fast);
    printf("Speedup: %.1fx\n", naive / fast);
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(0);
    if (!ctx) return 2;
    printf("%s\n", cn_build_info(ctx));
    printf("(median of repeated runs; CLOCK_MONOTONIC)\n\n");
    cn_rng rng;
    cn_rng_seed(&rng, 231);
    double med, mn, tn, tf;

    /* ---- conv, x (100,3,31,31), w (25,3,3,3), stride 2, pad 1, float64 ---- */
    {
        cn_conv_shape s = {100, 3, 31, 31, 25, 3, 3, 2, 1};
        int Ho, Wo;
        cn_conv_out(ctx, &s, &Ho, &Wo);
        size_t nx = 100 * 3 * 31 * 31, nw = 25 * 27, no = (size_t)100 * 25 * Ho * Wo;
        double *x = xmalloc(8 * nx), *w = xmalloc(8 * nw), *b = xmalloc(8 * 25), *g = xmalloc(8 * no);
        double *on = xmalloc(8 * no), *of = xmalloc(8 * no);
        double *dxn = xmalloc(8 * nx), *dwn = xmalloc(8 * nw), *dbn = xmalloc(8 * 25);
        double *dxf = xmalloc(8 * nx), *dwf = xmalloc(8 * nw), *dbf = xmalloc(8 * 25);
        fill(&rng, x, nx); fill(&rng, w, nw); fill(&rng, b, 25); fill(&rng, g, no);
        TIME(5, &tn, &mn, cn_conv_forward_naive_f64(ctx, on, x, w, b, &s));
        TIME(31, &tf, &mn, cn_conv_forward_f64(ctx, of, x, w, b, &s));
        cell("conv_forward_fast", tn, tf);
        printf("Difference: %e\n\n", cn_rel_error(on, of, no));
        TIME(5, &tn, &mn, cn_conv_backward_naive_f64(ctx, dxn, dwn, dbn, g, x, w, &s));
        TIME(31, &tf, &mn, cn_conv_backward_f64(ctx, dxf, dwf, dbf, g, x, w, &s));
        cell("conv_backward_fast", tn, tf);
        printf("dx difference: %e\n", cn_rel_error(dxn, dxf, nx));
        printf("dw difference: %e\n", cn_rel_error(dwn, dwf, nw));
        printf("db difference: %e\n\n", cn_rel_error(dbn, dbf, 25));
        free(x); free(w); free(b); free(g); free(on); free(of);
        free(dxn); free(dwn); free(dbn); free(dxf); free(dwf); free(dbf);
    }

    /* ---- max pool, x (100,3,32,32), 2x2, stride 2, float64 ---- */
    {
        cn_pool_shape s = {100, 3, 32, 32, 2, 2, 2};
        size_t nx = 100 * 3 * 32 * 32, no = 100 * 3 * 16 * 16;
        double *x = xmalloc(8 * nx), *g = xmalloc(8 * no), *on = xmalloc(8 * no), *of = xmalloc(8 * no);
        double *dxn = xmalloc(8 * nx), *dxf = xmalloc(8 * nx);
        int32_t *idx = xmalloc(4 * no);
        fill(&rng, x, nx); fill(&rng, g, no);
        TIME(11, &tn, &mn, cn_max_pool_forward_naive_f64(ctx, on, NULL, x, &s));
        TIME(51, &tf, &mn, cn_max_pool_forward_f64(ctx, of, idx, x, &s));
        cell("pool_forward_fast", tn, tf);
        printf("Difference: %e\n\n", cn_rel_error(on, of, no));
        TIME(11, &tn, &mn, cn_max_pool_backward_naive_f64(ctx, dxn, g, x, NULL, &s));
        TIME(51, &tf, &mn, cn_max_pool_backward_f64(ctx, dxf, g, x, idx, &s));
        cell("pool_backward_fast", tn, tf);
        printf("dx difference: %e\n\n", cn_rel_error(dxn, dxf, nx));
        free(x); free(g); free(on); free(of); free(dxn); free(dxf); free(idx);
    }

    /* ---- ThreeLayerConvNet conv layer: x (50,3,32,32), w (32,3,7,7), s1 p3, f32 ---- */
    {
        cn_conv_shape s = {50, 3, 32, 32, 32, 7, 7, 1, 3};
        size_t nx = 50 * 3 * 32 * 32, nw = 32 * 3 * 49, no = (size_t)50 * 32 * 32 * 32;
        size_t np = (size_t)50 * 32 * 16 * 16;
        float *x = xmalloc(4 * nx), *w = xmalloc(4 * nw), *b = xmalloc(4 * 32), *g = xmalloc(4 * no);
        float *o = xmalloc(4 * no), *dx = xmalloc(4 * nx), *dw = xmalloc(4 * nw), *db = xmalloc(4 * 32);
        float *po = xmalloc(4 * np), *pg = xmalloc(4 * np);
        int32_t *pidx = xmalloc(4 * np);
        fillf(&rng, x, nx, 1); fillf(&rng, w, nw, 1e-3); fillf(&rng, b, 32, 0.1);
        fillf(&rng, g, no, 1); fillf(&rng, pg, np, 1);
        const double gf = 2.0 * 50 * 32 * 32 * 32 * 3 * 7 * 7 / 1e9; /* per pass */
        double tfw, tdw, tall, m1, m2, m3;
        printf("ThreeLayerConvNet conv layer: x (50,3,32,32) w (32,3,7,7) stride 1 pad 3, float32, "
               "%d threads, %.3f GFLOP per pass\n", cn_ctx_threads(ctx), gf);
        TIME(41, &tfw, &m1, cn_conv_forward_f32(ctx, o, x, w, b, &s));
        TIME(41, &tdw, &m2, cn_conv_backward_f32(ctx, NULL, dw, db, g, x, w, &s));
        TIME(41, &tall, &m3, cn_conv_backward_f32(ctx, dx, dw, db, g, x, w, &s));
        printf("  forward             %7.3f ms  %6.1f GFLOP/s   (fastest %.3f ms)\n", 1e3 * tfw, gf / tfw, 1e3 * m1);
        printf("  weight grad (dx=NULL)%7.3f ms  %6.1f GFLOP/s   (fastest %.3f ms)\n", 1e3 * tdw, gf / tdw, 1e3 * m2);
        printf("  full backward       %7.3f ms  %6.1f GFLOP/s   (fastest %.3f ms, 2 passes)\n", 1e3 * tall, 2 * gf / tall, 1e3 * m3);
        double tdx = tall - tdw;
        printf("  input grad (full - dw-only) %7.3f ms  %6.1f GFLOP/s\n", 1e3 * tdx, tdx > 0 ? gf / tdx : 0.0);
        {
            cn_ctx *c1 = cn_ctx_new(1);
            cn_ctx *keep = ctx;
            ctx = c1; /* TIME reports errors from ctx */
            TIME(21, &tfw, &m1, cn_conv_forward_f32(ctx, o, x, w, b, &s));
            TIME(21, &tdw, &m2, cn_conv_backward_f32(ctx, NULL, dw, db, g, x, w, &s));
            ctx = keep;
            printf("  1 thread: forward %.3f ms (%.1f GFLOP/s), weight grad %.3f ms (%.1f GFLOP/s)\n",
                   1e3 * tfw, gf / tfw, 1e3 * tdw, gf / tdw);
            cn_ctx_free(c1);
            cn_ctx_set_threads(ctx, cn_ctx_threads(ctx)); /* OpenBLAS pool back to ctx's count */
        }
        TIME(41, &med, &mn, cn_conv_relu_pool_forward_f32(ctx, po, o, pidx, x, w, b, &s, 2, 2, 2));
        printf("  conv_relu_pool forward          %7.3f ms  (fastest %.3f ms)\n", 1e3 * med, 1e3 * mn);
        TIME(41, &med, &mn, cn_conv_relu_pool_backward_f32(ctx, NULL, dw, db, pg, o, pidx, x, w, &s, 2, 2, 2));
        printf("  conv_relu_pool backward (dx=NULL) %7.3f ms  (fastest %.3f ms)\n", 1e3 * med, 1e3 * mn);
        free(x); free(w); free(b); free(g); free(o); free(dx); free(dw); free(db);
        free(po); free(pg); free(pidx);
    }
    cn_ctx_free(ctx);
    return 0;
}
