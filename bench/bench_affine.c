/* bench_affine.c — the three-layer net's hidden affine layer at batch 50
 * (x (50, 8192), w (8192, H), H = 500 and 100, float32) and the adam step
 * over all 4.1M parameters: median milliseconds and GFLOP/s (GB/s). */
#include "convnet.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
#define REPS 21
#define TIME(expr, out)                                   \
    do {                                                  \
        double t_[REPS];                                  \
        for (int r_ = 0; r_ < REPS; r_++) {               \
            double a_ = now_s();                          \
            expr;                                         \
            t_[r_] = now_s() - a_;                        \
        }                                                 \
        qsort(t_, REPS, sizeof t_[0], cmp);               \
        out = t_[REPS / 2];                               \
    } while (0)

int main(void) {
    cn_ctx *ctx = cn_ctx_new(getenv("CN_THREADS") ? atoi(getenv("CN_THREADS")) : 0);
    printf("== affine layer at batch 50 and the adam step (float32), %d threads\n", cn_ctx_threads(ctx));
    int N = 50, D = 8192;
    cn_rng r;
    cn_rng_seed(&r, 1);
    for (int h = 0; h < 2; h++) {
        int M = h ? 100 : 500;
        float *x = malloc(4 * (size_t)N * D), *w = malloc(4 * (size_t)D * M), *b = calloc(M, 4);
        float *out = malloc(4 * (size_t)N * M), *dx = malloc(4 * (size_t)N * D), *dw = malloc(4 * (size_t)D * M),
              *db = malloc(4 * M);
        for (size_t i = 0; i < (size_t)N * D; i++) x[i] = (float)cn_rng_normal(&r);
        for (size_t i = 0; i < (size_t)D * M; i++) w[i] = (float)(1e-3 * cn_rng_normal(&r));
        double tf, tb, tw;
        TIME(cn_affine_relu_forward_f32(ctx, out, x, w, b, N, D, M), tf);
        TIME(cn_affine_relu_backward_f32(ctx, dx, dw, db, out, out, x, w, N, D, M), tb);
        TIME(cn_affine_relu_backward_f32(ctx, NULL, dw, db, out, out, x, w, N, D, M), tw);
        double fl = 2.0 * N * D * M;
        printf("  affine-relu (50,8192)x(8192,%d): forward %.3f ms (%.0f GFLOP/s), backward %.3f ms (%.0f GFLOP/s), of which dw %.3f ms\n",
               M, tf * 1e3, fl / tf * 1e-9, tb * 1e3, 2 * fl / tb * 1e-9, tw * 1e3);
        free(x); free(w); free(b); free(out); free(dx); free(dw); free(db);
    }
    size_t n = 4106246;
    float *w = malloc(4 * n), *dw = malloc(4 * n), *m = calloc(n, 4), *v = calloc(n, 4);
    for (size_t i = 0; i < n; i++) { w[i] = (float)cn_rng_normal(&r); dw[i] = (float)cn_rng_normal(&r); }
    double ta;
    long t = 0;
    TIME((t++, cn_adam_f32(w, dw, m, v, n, 1e-3, 0.9, 0.999, 1e-8, t)), ta);
    printf("  adam over %zu parameters, one thread: %.3f ms (%.1f GB/s of 28 B/param)\n", n, ta * 1e3, 28.0 * n / ta * 1e-9);
    cn_ctx_free(ctx);
    return 0;
}
