/* bench_affine.c — the three-layer net's hidden affine layer at batch 50
 * (x (50, 8192), w (8192, H), H = 500 and 100, float32): forward, backward
 * (dx, dw, db) and the weight gradient alone, plain and as the affine-relu
 * sandwich, on all threads and on 1 (H = 500), as GFLOP/s and % of the FMA
 * peak of the SIMD level in use; then the adam step over all 4.1M parameters
 * as GB/s of memory traffic (28 B/param) and % of the measured stream-copy
 * bandwidth (peak.h). CN_BENCH_QUICK=1: all threads only, fewer repeats. */
#include "convnet.h"
#include "peak.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
/* One warm-up call (its error stops the program), then R timed calls:
 * median and fastest seconds. */
#define TIME(R, expr, med, mn)                                                   \
    do {                                                                         \
        double t_[64];                                                           \
        int n_ = (R) < 64 ? (R) : 64;                                            \
        if ((expr) != CN_OK) { fprintf(stderr, "error: %s\n", cn_ctx_error(ctx)); exit(1); } \
        for (int r_ = 0; r_ < n_; r_++) {                                        \
            double a_ = pk_now();                                                \
            (void)(expr);                                                        \
            t_[r_] = pk_now() - a_;                                              \
        }                                                                        \
        qsort(t_, n_, sizeof t_[0], cmp);                                        \
        med = t_[n_ / 2];                                                        \
        mn = t_[0];                                                              \
    } while (0)

static void line(const char *what, const char *cell, int lv, int nt, double pkf, double med, double mn,
                 double fl) {
    double rate = fl / med * 1e-9, pct = 100 * rate / pkf;
    printf("    %-26s %8.3f ms (min %8.3f)  %7.1f GFLOP/s  %5.1f%% of peak\n", what, 1e3 * med, 1e3 * mn, rate, pct);
    bench_record("convnet", lv, cell, nt, med, mn, rate, pct);
}

int main(void) {
    int quick = getenv("CN_BENCH_QUICK") && atoi(getenv("CN_BENCH_QUICK")) > 0;
    cn_ctx *ctx0 = cn_ctx_new(getenv("CN_THREADS") ? atoi(getenv("CN_THREADS")) : 0);
    if (!ctx0) return 2;
    char note[256];
    int lv = lv_in_use(cn_ctx_build_info(ctx0), note, sizeof note);
    bench_peak pk;
    peak_get(&pk, 1);
    int nall = cn_ctx_threads(ctx0);
    printf("== affine layer at batch 50 and the adam step (float32), level %s%s%s%s\n", lv_name[lv],
           note[0] ? " [" : "", note, note[0] ? "]" : "");
    int N = 50, D = 8192, R = quick ? 7 : 21;
    cn_rng r;
    cn_rng_seed(&r, 1);
    for (int h = 0; h < 2; h++) {
        int M = h ? 100 : 500;
        float *x = xmalloc(4 * (size_t)N * D), *w = xmalloc(4 * (size_t)D * M), *b = xmalloc(4 * (size_t)M);
        float *out = xmalloc(4 * (size_t)N * M), *dout = xmalloc(4 * (size_t)N * M), *dx = xmalloc(4 * (size_t)N * D),
              *dw = xmalloc(4 * (size_t)D * M), *db = xmalloc(4 * (size_t)M);
        for (size_t i = 0; i < (size_t)N * D; i++) x[i] = (float)cn_rng_normal(&r);
        for (size_t i = 0; i < (size_t)D * M; i++) w[i] = (float)(1e-3 * cn_rng_normal(&r));
        for (size_t i = 0; i < (size_t)N * M; i++) dout[i] = (float)cn_rng_normal(&r);
        for (int i = 0; i < M; i++) b[i] = 0.1f;
        double fl = 2.0 * N * D * M;
        printf("  (50,8192)x(8192,%d): %.3f GFLOP per pass\n", M, fl * 1e-9);
        int tl[2] = {nall, 1};
        for (int k = 0; k < ((quick || M != 500 || nall == 1) ? 1 : 2); k++) {
            int nt = tl[k];
            cn_ctx *ctx = nt == nall ? ctx0 : cn_ctx_new(nt);
            if (!ctx) return 2;
            double pkf = peak_at(&pk, lv, nt), med, mn;
            char cell[48];
            printf("   %d thread%s (%s peak %.1f GFLOP/s)\n", nt, nt == 1 ? "" : "s", lv_name[lv], pkf);
            snprintf(cell, sizeof cell, "affine%d.fwd", M);
            TIME(R, cn_affine_forward_f32(ctx, out, x, w, b, N, D, M), med, mn);
            line("forward", cell, lv, nt, pkf, med, mn, fl);
            snprintf(cell, sizeof cell, "affine%d.bwd", M);
            TIME(R, cn_affine_backward_f32(ctx, dx, dw, db, dout, x, w, N, D, M), med, mn);
            line("backward dx+dw+db (2 passes)", cell, lv, nt, pkf, med, mn, 2 * fl);
            snprintf(cell, sizeof cell, "affine%d.bwd_w", M);
            TIME(R, cn_affine_backward_f32(ctx, NULL, dw, db, dout, x, w, N, D, M), med, mn);
            line("backward dw+db (dx=NULL)", cell, lv, nt, pkf, med, mn, fl);
            if (!quick) {
                snprintf(cell, sizeof cell, "affrelu%d.fwd", M);
                TIME(R, cn_affine_relu_forward_f32(ctx, out, x, w, b, N, D, M), med, mn);
                line("affine-relu forward", cell, lv, nt, pkf, med, mn, fl);
                snprintf(cell, sizeof cell, "affrelu%d.bwd", M);
                TIME(R, cn_affine_relu_backward_f32(ctx, dx, dw, db, dout, out, x, w, N, D, M), med, mn);
                line("affine-relu backward", cell, lv, nt, pkf, med, mn, 2 * fl);
            }
            if (ctx != ctx0) {
                cn_ctx_free(ctx);
                cn_ctx_set_threads(ctx0, nall); /* OpenBLAS pool back to ctx0's count */
            }
        }
        free(x); free(w); free(b); free(out); free(dout); free(dx); free(dw); free(db);
    }
    /* adam (the public rule, split over the context's threads): on 1
     * thread and on all, % of the stream copy on as many threads */
    size_t n = 4106246;
    float *w = xmalloc(4 * n), *dw = xmalloc(4 * n), *m = calloc(n, 4), *v = calloc(n, 4);
    if (!m || !v) { fprintf(stderr, "out of memory\n"); return 2; }
    for (size_t i = 0; i < n; i++) { w[i] = (float)cn_rng_normal(&r); dw[i] = (float)(1e-2 * cn_rng_normal(&r)); }
    long t = 0;
    for (int nt = 1; nt <= nall; nt = nt == nall ? nall + 1 : nall) {
        if (quick && nt != nall) continue;
        cn_ctx *ctx = nt == nall ? ctx0 : cn_ctx_new(nt);
        if (!ctx) return 2;
        double ta, tamin;
        TIME(R, (t++, cn_adam_f32(ctx, w, dw, m, v, n, 1e-3, 0.9, 0.999, 1e-8, t)), ta, tamin);
        double gbs = 28.0 * n / ta * 1e-9;
        printf("  adam over %zu parameters, %d thread%s: %.3f ms (min %.3f), %.1f GB/s of 28 B/param\n"
               "    = %.0f%% of the stream copy on %d (%.1f GB/s), %.0f%% of the in-place update stream (%.1f GB/s)\n",
               n, nt, nt > 1 ? "s" : "", ta * 1e3, tamin * 1e3, gbs, 100 * gbs / bw_at(&pk, nt), nt, bw_at(&pk, nt),
               100 * gbs / bwu_at(&pk, nt), bwu_at(&pk, nt));
        /* the summary's %: of the stream copy on as many threads (issue 9's yardstick) */
        bench_record("convnet", lv, "adam4.1M", nt, ta, tamin, gbs, 100 * gbs / bw_at(&pk, nt));
        if (ctx != ctx0) cn_ctx_free(ctx);
    }
    free(w); free(dw); free(m); free(v);
    cn_ctx_free(ctx0);
    return 0;
}
