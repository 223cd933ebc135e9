/* bench_layers.c — the original's timing cells, naive against fast in one run
 * (float64, as the notebook), then the float32 conv cells of issue 9 (the
 * three-layer net's 7x7 conv at batch 50 and a 3x3 conv 64->128 on 16x16 at
 * batch 128) on all threads and on 1: median milliseconds, GFLOP/s and % of
 * the FMA peak of the SIMD level in use (peak.h). CN_BENCH_QUICK=1: the
 * conv cells only, all threads, fewer repeats (the lower-level passes).
 * Timing: clock_gettime(CLOCK_MONOTONIC), one warm-up call, median of R. */
#include "convnet.h"
#include "peak.h"
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

/* One float32 conv shape on all threads and on 1 (quick: all threads only):
 * forward; weight gradient (dw + db, dx = NULL); input gradient (dx, dw =
 * db = NULL); and all three in one call. FLOPs = 2*N*F*C*HH*WW*Ho*Wo per
 * pass. */
static void conv_cell(cn_ctx *ctx0, const char *cell, const char *title, const cn_conv_shape *s,
                      const bench_peak *pk, int lv, int quick) {
    cn_ctx *ctx = ctx0;
    int Ho, Wo;
    if (cn_conv_out(ctx, s, &Ho, &Wo) != CN_OK) { fprintf(stderr, "error: %s\n", cn_ctx_error(ctx)); exit(1); }
    size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->F * s->C * s->HH * s->WW;
    size_t no = (size_t)s->N * s->F * Ho * Wo;
    float *x = xmalloc(4 * nx), *w = xmalloc(4 * nw), *b = xmalloc(4 * s->F), *g = xmalloc(4 * no);
    float *o = xmalloc(4 * no), *dx = xmalloc(4 * nx), *dw = xmalloc(4 * nw), *db = xmalloc(4 * s->F);
    cn_rng rng;
    cn_rng_seed(&rng, 7);
    fillf(&rng, x, nx, 1); fillf(&rng, w, nw, 1e-2); fillf(&rng, b, s->F, 0.1); fillf(&rng, g, no, 1);
    const double gf = 2.0 * s->N * s->F * s->C * s->HH * s->WW * Ho * Wo / 1e9;
    printf("%s, float32, %.3f GFLOP per pass\n", title, gf);
    int nall = cn_ctx_threads(ctx0);
    int tl[2] = {nall, 1};
    for (int k = 0; k < (quick || nall == 1 ? 1 : 2); k++) {
        int nt = tl[k];
        cn_ctx *c1 = NULL;
        if (nt != nall) {
            if (!(c1 = cn_ctx_new(nt))) { fprintf(stderr, "out of memory\n"); exit(2); }
            ctx = c1; /* TIME reports errors from ctx */
        }
        double pkf = peak_at(pk, lv, nt);
        int R = quick ? 5 : (gf > 1 ? 11 : 31);
        double tfw, mfw, tdw, mdw, tall, mall, tdx, mdx;
        TIME(R, &tfw, &mfw, cn_conv_forward_f32(ctx, o, x, w, b, s));
        TIME(R, &tdw, &mdw, cn_conv_backward_f32(ctx, NULL, dw, db, g, x, w, s));
        TIME(R, &tall, &mall, cn_conv_backward_f32(ctx, dx, dw, db, g, x, w, s));
        TIME(R, &tdx, &mdx, cn_conv_backward_f32(ctx, dx, NULL, NULL, g, x, w, s));
        struct { const char *what, *tag; double med, min, fl; } row[4] = {
            {"forward", "fwd", tfw, mfw, gf},
            {"weight grad (dw+db)", "bwd_w", tdw, mdw, gf},
            {"dx+dw (2 passes)", "bwd_dxdw", tall, mall, 2 * gf},
            {"input grad (dx)", "bwd_dx", tdx, mdx, gf},
        };
        printf("  %d thread%s (%s peak %.1f GFLOP/s)\n", nt, nt == 1 ? "" : "s", lv_name[lv], pkf);
        for (int i = 0; i < 4; i++) {
            double rate = row[i].fl / row[i].med, pct = 100 * rate / pkf;
            printf("    %-22s %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of peak\n", row[i].what,
                   1e3 * row[i].med, 1e3 * row[i].min, rate, pct);
            char name[64];
            snprintf(name, sizeof name, "%s.%s", cell, row[i].tag);
            bench_record("convnet", lv, name, nt, row[i].med, row[i].min, rate, pct);
        }
        if (c1) {
            cn_ctx_free(c1);
            ctx = ctx0;
            cn_ctx_set_threads(ctx, cn_ctx_threads(ctx)); /* OpenBLAS pool back to ctx's count */
        }
    }
    printf("\n");
    free(x); free(w); free(b); free(g); free(o); free(dx); free(dw); free(db);
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(0);
    if (!ctx) return 2;
    int quick = getenv("CN_BENCH_QUICK") && atoi(getenv("CN_BENCH_QUICK")) > 0;
    const char *info = cn_ctx_build_info(ctx);
    char note[256];
    int lv = lv_in_use(info, note, sizeof note);
    bench_peak pk;
    peak_get(&pk, 0);
    printf("%s\n", info);
    printf("level in use: %s (peak %.1f GFLOP/s on 1 thread, %.1f on %d)%s%s%s\n", lv_name[lv], pk.gf[lv][0],
           pk.gf[lv][1], pk.nall, note[0] ? " [" : "", note, note[0] ? "]" : "");
    printf("(median of repeated runs, fastest beside it; CLOCK_MONOTONIC)%s\n\n",
           quick ? " — quick pass (CN_BENCH_QUICK): conv cells only, fewer repeats" : "");
    cn_rng rng;
    cn_rng_seed(&rng, 231);
    double med, mn, tn, tf;

    /* ---- conv, x (100,3,31,31), w (25,3,3,3), stride 2, pad 1, float64 ---- */
    if (!quick) {
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
    if (!quick) {
        cn_max_pool_shape s = {100, 3, 32, 32, 2, 2, 2};
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

    /* ---- float32 conv cells, 2 threads and 1: forward, weight gradient,
     * input gradient (issue 9's targets), as % of the level's peak ---- */
    {
        const cn_conv_shape s7 = {50, 3, 32, 32, 32, 7, 7, 1, 3};
        const cn_conv_shape s3 = {128, 64, 16, 16, 128, 3, 3, 1, 1};
        conv_cell(ctx, "conv7x7", "three-layer conv: x (50,3,32,32) w (32,3,7,7) stride 1 pad 3", &s7, &pk, lv, quick);
        conv_cell(ctx, "conv3x3", "3x3 conv: x (128,64,16,16) w (128,64,3,3) stride 1 pad 1", &s3, &pk, lv, quick);
    }

    /* ---- the fused conv-relu-pool of the three-layer net (conv FLOPs) ---- */
    if (!quick) {
        cn_conv_shape s = {50, 3, 32, 32, 32, 7, 7, 1, 3};
        size_t nx = 50 * 3 * 32 * 32, nw = 32 * 3 * 49, no = (size_t)50 * 32 * 32 * 32;
        size_t np = (size_t)50 * 32 * 16 * 16;
        float *x = xmalloc(4 * nx), *w = xmalloc(4 * nw), *b = xmalloc(4 * 32), *o = xmalloc(4 * no);
        float *dw = xmalloc(4 * nw), *db = xmalloc(4 * 32), *po = xmalloc(4 * np), *pg = xmalloc(4 * np);
        int32_t *pidx = xmalloc(4 * np);
        fillf(&rng, x, nx, 1); fillf(&rng, w, nw, 1e-3); fillf(&rng, b, 32, 0.1); fillf(&rng, pg, np, 1);
        const double gf = 2.0 * 50 * 32 * 32 * 32 * 3 * 7 * 7 / 1e9;
        int nt = cn_ctx_threads(ctx);
        double pkf = peak_at(&pk, lv, nt);
        printf("three-layer conv-relu-pool (fused), %d threads, %.3f GFLOP per pass (the conv's)\n", nt, gf);
        TIME(41, &med, &mn, cn_conv_relu_pool_forward_f32(ctx, po, o, pidx, x, w, b, &s, 2, 2, 2));
        printf("  %-22s %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of %s peak\n", "forward", 1e3 * med,
               1e3 * mn, gf / med, 100 * gf / med / pkf, lv_name[lv]);
        bench_record("convnet", lv, "crp7x7.fwd", nt, med, mn, gf / med, 100 * gf / med / pkf);
        TIME(41, &med, &mn, cn_conv_relu_pool_backward_f32(ctx, NULL, dw, db, pg, o, pidx, x, w, &s, 2, 2, 2));
        printf("  %-22s %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of %s peak\n", "backward (dx=NULL)",
               1e3 * med, 1e3 * mn, gf / med, 100 * gf / med / pkf, lv_name[lv]);
        bench_record("convnet", lv, "crp7x7.bwd_w", nt, med, mn, gf / med, 100 * gf / med / pkf);
        free(x); free(w); free(b); free(o); free(dw); free(db); free(po); free(pg); free(pidx);
    }
    cn_ctx_free(ctx);
    return 0;
}
