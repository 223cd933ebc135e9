/* conv_shapes.c — validate and time the float32 conv on given shapes (the
 * recipe's layers by default): forward, dw+db, dx (derived as (dx+dw) - dw),
 * median ms, GFLOP/s and % of the FMA peak of the level in use (CN_SIMD caps
 * it). Each shape's fast forward is checked against the naive one on the
 * first 2 samples first.
 *   [DEV_THREADS=n] build/dev/conv_shapes [N,C,H,W,F,K,pad ...] */
#include "convnet.h"
#include "../bench/peak.h"
#include <math.h>

#define TIMEIT(R, med, body)                                            \
    do {                                                                \
        double ts_[64];                                                 \
        if ((body) != CN_OK) { fprintf(stderr, "error: %s\n", cn_ctx_error(ctx)); exit(1); } \
        for (int r_ = 0; r_ < (R); r_++) {                              \
            double t0_ = pk_now();                                         \
            (void)(body);                                               \
            ts_[r_] = pk_now() - t0_;                                      \
        }                                                               \
        qsort(ts_, (R), sizeof(double), pk_cmpd);                          \
        med = ts_[(R) / 2];                                             \
    } while (0)

int main(int argc, char **argv) {
    const char *def[] = {"256,24,31,31,64,3,1", "256,64,15,15,64,3,1", "256,64,15,15,128,3,1",
                         "256,128,7,7,128,3,1", "256,128,3,3,128,3,1", "128,64,16,16,128,3,1"};
    int ns = argc > 1 ? argc - 1 : (int)(sizeof def / sizeof *def);
    cn_ctx *ctx = cn_ctx_new(getenv("DEV_THREADS") ? atoi(getenv("DEV_THREADS")) : 0);
    if (!ctx) return 2;
    const char *info = cn_ctx_build_info(ctx);
    char note[256];
    int lv = lv_in_use(info, note, sizeof note);
    bench_peak pk;
    peak_get(&pk, 0);
    int nt = cn_ctx_threads(ctx);
    double pkf = peak_at(&pk, lv, nt);
    printf("level %s, %d threads, peak %.1f GFLOP/s\n", lv_name[lv], nt, pkf);
    double tot[3] = {0, 0, 0}, totf = 0;
    for (int i = 0; i < ns; i++) {
        cn_conv_shape s;
        const char *a = argc > 1 ? argv[i + 1] : def[i];
        if (sscanf(a, "%d,%d,%d,%d,%d,%d,%d", &s.N, &s.C, &s.H, &s.W, &s.F, &s.HH, &s.pad) != 7) return 2;
        s.WW = s.HH;
        s.stride = 1;
        int Ho, Wo;
        if (cn_conv_out(ctx, &s, &Ho, &Wo)) return 2;
        size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.F * s.C * s.HH * s.WW;
        size_t no = (size_t)s.N * s.F * Ho * Wo;
        float *x = malloc(4 * nx), *w = malloc(4 * nw), *b = malloc(4 * s.F), *g = malloc(4 * no);
        float *o = malloc(4 * no), *o2 = malloc(4 * no), *dx = malloc(4 * nx), *dw = malloc(4 * nw),
              *db = malloc(4 * s.F);
        cn_rng r;
        cn_rng_seed(&r, 7);
        for (size_t q = 0; q < nx; q++) x[q] = (float)cn_rng_normal(&r);
        for (size_t q = 0; q < nw; q++) w[q] = (float)(0.05 * cn_rng_normal(&r));
        for (int q = 0; q < s.F; q++) b[q] = 0.1f;
        for (size_t q = 0; q < no; q++) g[q] = (float)cn_rng_normal(&r);
        cn_conv_shape s2 = s;
        s2.N = 2;
        cn_conv_forward_f32(ctx, o, x, w, b, &s);
        cn_conv_forward_naive_f32(ctx, o2, x, w, b, &s2);
        double err = 0;
        for (size_t q = 0; q < (size_t)2 * s.F * Ho * Wo; q++) err = fmax(err, fabs(o[q] - o2[q]));
        double gf = 2.0 * s.N * s.F * s.C * s.HH * s.WW * Ho * Wo / 1e9;
        double tf, tw, ta;
        int R = 7;
        TIMEIT(R, tf, cn_conv_forward_f32(ctx, o, x, w, b, &s));
        TIMEIT(R, tw, cn_conv_backward_f32(ctx, NULL, dw, db, g, x, w, &s));
        TIMEIT(R, ta, cn_conv_backward_f32(ctx, dx, dw, db, g, x, w, &s));
        double td = ta - tw;
        printf("%-22s fwd %7.2f ms %5.1f%%  dw %7.2f ms %5.1f%%  dx %7.2f ms %5.1f%%  (fwd err %.1e)\n", a,
               1e3 * tf, 100 * gf / tf / pkf, 1e3 * tw, 100 * gf / tw / pkf, 1e3 * td, 100 * gf / td / pkf, err);
        if (i < 5) { tot[0] += tf; tot[1] += tw; tot[2] += td; totf += gf; }
        free(x); free(w); free(b); free(g); free(o); free(o2); free(dx); free(dw); free(db);
    }
    printf("first 5 shapes: fwd %.1f ms dw %.1f ms dx %.1f ms; all %.1f%% of peak\n", 1e3 * tot[0], 1e3 * tot[1],
           1e3 * tot[2], 100 * 3 * totf / (tot[0] + tot[1] + tot[2]) / pkf);
    cn_ctx_free(ctx);
    return 0;
}
