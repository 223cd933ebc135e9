/* gemm_compare.c — validate-and-time harness for the GEMMs of the
 * three-layer net's affine layers (float32, batch N = 50):
 *   fwd  out[N,M] = x[N,D] w[D,M]          (row-major NN)
 *   dx   dx[N,D]  = dout[N,M] w[D,M]^T     (NT)
 *   dw   dw[D,M]  = x[N,D]^T dout[N,M]     (TN)
 *   bwd  dx then dw (one backward pass)
 * for (M, D) = (500, 8192), (100, 8192), (10, 500), (10, 100).
 * Every result is checked against a naive triple loop (double accumulation)
 * before it is timed; a line reads
 *   source  op  M  D  threads  median-ms  GFLOP/s  error
 * Sources (argv[1]): openblas (whichever libopenblas.so.0 the loader finds:
 * LD_LIBRARY_PATH picks the pthread or openmp build, OPENBLAS_CORETYPE the
 * kernels), blis (dlopen'd, BLIS_ARCH_TYPE picks the kernels), dnnl (oneDNN's
 * dnnl_sgemm, dlopen'd), convnet (this library's cn_affine_* fast path: fwd
 * includes the bias, bwd/dw the db sum; dx alone is not an entry point).
 * Threads: "1" one thread; "2s" two OpenMP threads each calling the source
 * single-threaded on half of the output (what affine.c does with a BLAS);
 * "2l" the source's own threading with 2 threads.
 * Build and run: see dev/README.md (dev/run_compare.sh runs the matrix). */
#define _GNU_SOURCE
#include "convnet.h"
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { FWD, DX, DW, BWD, NOPS };
static const char *op_name[NOPS] = {"fwd", "dx", "dw", "bwd"};
enum { NT_1, NT_2SPLIT, NT_2LIB, NNT };
static const char *nt_name[NNT] = {"1", "2s", "2l"};

/* ---- sources: row-major C[m,n] = op(A) op(B), beta 0 ----------------------- */
typedef void (*gemm_fn)(int ta, int tb, int m, int n, int k, const float *A, int lda,
                        const float *B, int ldb, float *C, int ldc);
typedef void (*threads_fn)(int nt);

static void ob_gemm(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, 1, A, lda, B, ldb, 0, C, ldc);
}
static void ob_threads(int nt) { openblas_set_num_threads(nt); }

/* BLIS's native typed API (no symbol clash with OpenBLAS's cblas_sgemm). */
typedef void (*bli_sgemm_t)(int transa, int transb, long m, long n, long k, const float *alpha,
                            const float *a, long rsa, long csa, const float *b, long rsb,
                            long csb, const float *beta, float *c, long rsc, long csc);
static bli_sgemm_t p_bli_sgemm;
static void (*p_bli_threads)(long);
#define BLIS_TRANS 8 /* BLIS_TRANS_BIT */
static void blis_gemm(int ta, int tb, int m, int n, int k, const float *A, int lda,
                      const float *B, int ldb, float *C, int ldc) {
    float one = 1, zero = 0;
    p_bli_sgemm(ta ? BLIS_TRANS : 0, tb ? BLIS_TRANS : 0, m, n, k, &one, A, lda, 1, B, ldb, 1,
                &zero, C, ldc, 1);
}
static void blis_threads(int nt) { p_bli_threads(nt); }

typedef int (*dnnl_sgemm_t)(char, char, long, long, long, float, const float *, long,
                            const float *, long, float, float *, long);
static dnnl_sgemm_t p_dnnl_sgemm;
static void dnnl_gemm(int ta, int tb, int m, int n, int k, const float *A, int lda,
                      const float *B, int ldb, float *C, int ldc) {
    p_dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1, A, lda, B, ldb, 0, C, ldc);
}
static void dnnl_threads(int nt) { omp_set_num_threads(nt); }

/* ---- the problem ------------------------------------------------------------ */
typedef struct {
    int N, D, M;
    float *x, *w, *g, *b, *out, *dx, *dw, *db;
    double *rfwd, *rdx, *rdw;
} prob;

static void naive(prob *p) {
    int N = p->N, D = p->D, M = p->M;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)p->x[(size_t)n * D + d] * p->w[(size_t)d * M + m];
            p->rfwd[(size_t)n * M + m] = s;
        }
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int m = 0; m < M; m++) s += (double)p->g[(size_t)n * M + m] * p->w[(size_t)d * M + m];
            p->rdx[(size_t)n * D + d] = s;
        }
    for (int d = 0; d < D; d++)
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)p->x[(size_t)n * D + d] * p->g[(size_t)n * M + m];
            p->rdw[(size_t)d * M + m] = s;
        }
}

/* max |a - ref| / max |ref| */
static double err(const float *a, const double *ref, size_t n) {
    double mx = 1e-30, d = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - ref[i]);
        if (!(e <= d)) d = e;
    }
    return d / mx;
}

/* [lo, hi) of n in blocks of 16 for part id of 2 */
static void half16(int n, int id, int *lo, int *hi) {
    int blocks = (n + 15) / 16, b0 = id ? (blocks + 1) / 2 : 0, b1 = id ? blocks : (blocks + 1) / 2;
    *lo = b0 * 16 < n ? b0 * 16 : n;
    *hi = b1 * 16 < n ? b1 * 16 : n;
}

/* one op with a BLAS-like source */
static void run_blas(gemm_fn gemm, int op, int split, prob *p) {
    int N = p->N, D = p->D, M = p->M;
    if (!split) { /* the whole op in one call, on the caller's thread */
        if (op == FWD) gemm(0, 0, N, M, D, p->x, D, p->w, M, p->out, M);
        if (op == DX || op == BWD) gemm(0, 1, N, D, M, p->g, M, p->w, M, p->dx, D);
        if (op == DW || op == BWD) gemm(1, 0, D, M, N, p->x, D, p->g, M, p->dw, M);
        return;
    }
#pragma omp parallel num_threads(2)
    {
        int id = omp_get_thread_num(), lo, hi;
        if (op == FWD) {
            half16(M, id, &lo, &hi);
            if (lo < hi) gemm(0, 0, N, hi - lo, D, p->x, D, p->w + lo, M, p->out + lo, M);
        } else {
            half16(D, id, &lo, &hi);
            if (lo < hi && (op == DX || op == BWD))
                gemm(0, 1, N, hi - lo, M, p->g, M, p->w + (size_t)lo * M, M, p->dx + lo, D);
            if (lo < hi && (op == DW || op == BWD))
                gemm(1, 0, hi - lo, M, N, p->x + lo, D, p->g, M, p->dw + (size_t)lo * M, M);
        }
    }
}

static void run_convnet(cn_ctx *ctx, int op, prob *p) {
    if (op == FWD) cn_affine_forward_f32(ctx, p->out, p->x, p->w, p->b, p->N, p->D, p->M);
    else cn_affine_backward_f32(ctx, op == BWD ? p->dx : NULL, p->dw, p->db, p->g, p->x, p->w, p->N, p->D, p->M);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *src_label;
static gemm_fn src_gemm;
static threads_fn src_threads;
static cn_ctx *ctx1, *ctx2;

static void call(int op, int nt, prob *p) {
    if (!src_gemm) run_convnet(nt == NT_1 ? ctx1 : ctx2, op, p);
    else run_blas(src_gemm, op, nt == NT_2SPLIT, p);
}

static void measure(int op, int nt, prob *p, int reps) {
    if (!src_gemm && (op == DX || nt == NT_2LIB)) return; /* no such entry point / same as 2s */
    if (src_gemm) src_threads(nt == NT_2LIB ? 2 : 1);
    memset(p->out, 0xff, sizeof(float) * p->N * p->M); /* NaN: a missed store shows */
    memset(p->dx, 0xff, sizeof(float) * p->N * p->D);
    memset(p->dw, 0xff, sizeof(float) * (size_t)p->D * p->M);
    call(op, nt, p);
    double e = 0;
    if (op == FWD) e = err(p->out, p->rfwd, (size_t)p->N * p->M);
    if (op == DX || op == BWD) e = fmax(e, err(p->dx, p->rdx, (size_t)p->N * p->D));
    if (op == DW || op == BWD) e = fmax(e, err(p->dw, p->rdw, (size_t)p->D * p->M));
    double t[401];
    for (int r = 0; r < 3; r++) call(op, nt, p);
    for (int r = 0; r < reps; r++) {
        double a = now_s();
        call(op, nt, p);
        t[r] = now_s() - a;
    }
    qsort(t, reps, sizeof t[0], cmpd);
    double med = t[reps / 2], fl = 2.0 * p->N * p->D * p->M * (op == BWD ? 2 : 1);
    printf("%-34s %-4s %4d %5d %-2s %9.4f ms %6.1f GFLOP/s  err %.1e %s\n", src_label, op_name[op],
           p->M, p->D, nt_name[nt], med * 1e3, fl / med * 1e-9, e, e <= 1e-5 ? "ok" : "BAD");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *src = argc > 1 ? argv[1] : "convnet";
    static char label[128];
    if (!strcmp(src, "openblas")) {
        snprintf(label, sizeof label, "openblas[%s,%s]", openblas_get_parallel() == 2 ? "omp" : "pthr",
                 openblas_get_corename());
        src_gemm = ob_gemm;
        src_threads = ob_threads;
    } else if (!strcmp(src, "blis")) {
        void *h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
        if (!h) { fprintf(stderr, "blis: %s\n", dlerror()); return 1; }
        p_bli_sgemm = (bli_sgemm_t)dlsym(h, "bli_sgemm");
        p_bli_threads = (void (*)(long))dlsym(h, "bli_thread_set_num_threads");
        int (*qid)(void) = (int (*)(void))dlsym(h, "bli_arch_query_id");
        char *(*astr)(int) = (char *(*)(int))dlsym(h, "bli_arch_string");
        char *(*ver)(void) = (char *(*)(void))dlsym(h, "bli_info_get_version_str");
        if (!p_bli_sgemm || !p_bli_threads || !qid || !astr || !ver) { fprintf(stderr, "blis: missing symbols\n"); return 1; }
        snprintf(label, sizeof label, "blis-%s[%s]", ver(), astr(qid()));
        src_gemm = blis_gemm;
        src_threads = blis_threads;
    } else if (!strcmp(src, "dnnl")) {
        void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
        if (!h) { fprintf(stderr, "dnnl: %s\n", dlerror()); return 1; }
        p_dnnl_sgemm = (dnnl_sgemm_t)dlsym(h, "dnnl_sgemm");
        if (!p_dnnl_sgemm) { fprintf(stderr, "dnnl: no dnnl_sgemm\n"); return 1; }
        snprintf(label, sizeof label, "onednn[%s]", getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "auto");
        src_gemm = dnnl_gemm;
        src_threads = dnnl_threads;
    } else if (!strcmp(src, "convnet")) {
        snprintf(label, sizeof label, "convnet[%s]", getenv("CN_SIMD") ? getenv("CN_SIMD") : "auto");
        openblas_set_num_threads(1);
        ctx1 = cn_ctx_new(1);
        ctx2 = cn_ctx_new(2);
    } else {
        fprintf(stderr, "usage: %s openblas|blis|dnnl|convnet [shape index 0-3]\n", argv[0]);
        return 2;
    }
    src_label = label;
    const int shapes[4][2] = {{500, 8192}, {100, 8192}, {10, 500}, {10, 100}};
    int s0 = argc > 2 ? atoi(argv[2]) : 0, s1 = argc > 2 ? s0 + 1 : 4;
    for (int si = s0; si < s1; si++) {
        prob p = {.N = 50, .M = shapes[si][0], .D = shapes[si][1]};
        size_t nd = (size_t)p.N * p.D, dm = (size_t)p.D * p.M, nm = (size_t)p.N * p.M;
        p.x = malloc(4 * nd); p.w = malloc(4 * dm); p.g = malloc(4 * nm); p.b = calloc(p.M, 4);
        p.out = malloc(4 * nm); p.dx = malloc(4 * nd); p.dw = malloc(4 * dm); p.db = malloc(4 * p.M);
        p.rfwd = malloc(8 * nm); p.rdx = malloc(8 * nd); p.rdw = malloc(8 * dm);
        cn_rng r;
        cn_rng_seed(&r, 7 + si);
        for (size_t i = 0; i < nd; i++) p.x[i] = (float)cn_rng_normal(&r);
        for (size_t i = 0; i < dm; i++) p.w[i] = (float)(1e-2 * cn_rng_normal(&r));
        for (size_t i = 0; i < nm; i++) p.g[i] = (float)cn_rng_normal(&r);
        naive(&p);
        double fl = 2.0 * p.N * p.D * p.M;
        int reps = fl > 1e8 ? 41 : fl > 1e7 ? 101 : 401;
        for (int op = 0; op < NOPS; op++)
            for (int nt = 0; nt < NNT; nt++) measure(op, nt, &p, reps);
        free(p.x); free(p.w); free(p.g); free(p.b); free(p.out); free(p.dx); free(p.dw); free(p.db);
        free(p.rfwd); free(p.rdx); free(p.rdw);
    }
    if (ctx1) { cn_ctx_free(ctx1); cn_ctx_free(ctx2); }
    return 0;
}
