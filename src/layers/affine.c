/* affine.c — affine, relu, softmax loss and the affine-relu sandwich.
 * Naive (direct loops, as the original) beside fast (BLAS GEMM). */
#include "real.h"
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif

static int check_affine(cn_ctx *ctx, int N, int D, int M) {
    if (N <= 0 || D <= 0 || M <= 0)
        return CN_ERR(ctx, CN_EINVAL, "affine: shapes must be positive, got N=%d D=%d M=%d", N, D, M);
    return CN_OK;
}

/* out[N,M] = x[N,D] w[D,M] + b[M] */
int FN(cn_affine_forward_naive)(cn_ctx *ctx, real *out, const real *x, const real *w,
                                const real *b, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            real s = b[m];
            for (int d = 0; d < D; d++) s += x[(size_t)n * D + d] * w[(size_t)d * M + m];
            out[(size_t)n * M + m] = s;
        }
    return CN_OK;
}

/* [lo, hi) of n items for thread id of T, in blocks of 16 (vector friendly) */
static void split16(int n, int T, int id, int *lo, int *hi) {
    int blocks = (n + 15) / 16, per = blocks / T, extra = blocks % T;
    int b0 = id * per + (id < extra ? id : extra), b1 = b0 + per + (id < extra);
    *lo = b0 * 16 < n ? b0 * 16 : n;
    *hi = b1 * 16 < n ? b1 * 16 : n;
}

/* BLAS runs single-threaded (the context sets it so): the threads here split
 * the output so OpenBLAS's own pool never competes with OpenMP's. */
int FN(cn_affine_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                          const real *b, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        split16(M, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (lo < hi) {
            for (int n = 0; n < N; n++) memcpy(out + (size_t)n * M + lo, b + lo, sizeof(real) * (hi - lo));
            /* out[:, lo:hi] = x[N,D] w[:, lo:hi] + out */
            cn_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, hi - lo, D, 1, x, D, w + lo, M, 1, out + lo, M);
        }
    }
    return CN_OK;
}

/* dx[N,D] = dout w^T; dw[D,M] = x^T dout; db[M] = sum_n dout */
int FN(cn_affine_backward_naive)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                 const real *x, const real *w, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    if (dx)
        for (int n = 0; n < N; n++)
            for (int d = 0; d < D; d++) {
                real s = 0;
                for (int m = 0; m < M; m++) s += dout[(size_t)n * M + m] * w[(size_t)d * M + m];
                dx[(size_t)n * D + d] = s;
            }
    for (int d = 0; d < D; d++)
        for (int m = 0; m < M; m++) {
            real s = 0;
            for (int n = 0; n < N; n++) s += x[(size_t)n * D + d] * dout[(size_t)n * M + m];
            dw[(size_t)d * M + m] = s;
        }
    for (int m = 0; m < M; m++) {
        real s = 0;
        for (int n = 0; n < N; n++) s += dout[(size_t)n * M + m];
        db[m] = s;
    }
    return CN_OK;
}

int FN(cn_affine_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                           const real *x, const real *w, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        split16(D, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (lo < hi) {
            /* dx[:, lo:hi] = dout[N,M] w[lo:hi, :]^T */
            if (dx)
                cn_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hi - lo, M, 1, dout, M, w + (size_t)lo * M, M, 0,
                        dx + lo, D);
            /* dw[lo:hi, :] = x[:, lo:hi]^T dout[N,M] */
            cn_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, M, N, 1, x + lo, D, dout, M, 0,
                    dw + (size_t)lo * M, M);
        }
    }
    for (int m = 0; m < M; m++) db[m] = 0;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) db[m] += dout[(size_t)n * M + m];
    return CN_OK;
}

int FN(cn_relu_forward)(cn_ctx *ctx, real *out, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0;
    return CN_OK;
}

int FN(cn_relu_backward)(cn_ctx *ctx, real *dx, const real *dout, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dout[i] : 0;
    return CN_OK;
}

static int check_softmax(cn_ctx *ctx, const int32_t *y, int N, int C) {
    if (N <= 0 || C <= 0)
        return CN_ERR(ctx, CN_EINVAL, "softmax_loss: shapes must be positive, got N=%d C=%d", N, C);
    for (int n = 0; n < N; n++)
        if (y[n] < 0 || y[n] >= C)
            return CN_ERR(ctx, CN_EINVAL, "softmax_loss: label y[%d]=%d is out of range [0, %d)", n, (int)y[n], C);
    return CN_OK;
}

/* The original's steps: shifted = x - max; log_probs = shifted - log sum exp;
 * loss = -mean(log_probs[y]); dx = (probs - onehot) / N. */
int FN(cn_softmax_loss_naive)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                              const int32_t *y, int N, int C) {
    int rc = check_softmax(ctx, y, N, C);
    if (rc) return rc;
    double total = 0;
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx = row[0];
        for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
        real z = 0;
        for (int c = 0; c < C; c++) z += exp(row[c] - mx);
        real logz = log(z);
        total -= (row[y[n]] - mx) - logz;
        if (dx)
            for (int c = 0; c < C; c++) {
                real p = exp(row[c] - mx - logz);
                dx[(size_t)n * C + c] = (p - (c == y[n])) / N;
            }
    }
    *loss = total / N;
    return CN_OK;
}

/* Fast: the same arithmetic, row-parallel, exps computed once. */
int FN(cn_softmax_loss)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                        const int32_t *y, int N, int C) {
    int rc = check_softmax(ctx, y, N, C);
    if (rc) return rc;
    double total = 0;
#pragma omp parallel for reduction(+ : total) num_threads(cn__nt(ctx)) if (N * C > 65536)
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx = row[0];
        for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
        real z = 0;
        for (int c = 0; c < C; c++) z += exp(row[c] - mx);
        real logz = log(z);
        total -= (row[y[n]] - mx) - logz;
        if (dx) {
            real *d = dx + (size_t)n * C;
            for (int c = 0; c < C; c++) d[c] = (exp(row[c] - mx - logz) - (c == y[n])) / N;
        }
    }
    *loss = total / N;
    return CN_OK;
}

int FN(cn_affine_relu_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                               const real *b, int N, int D, int M) {
    int rc = FN(cn_affine_forward)(ctx, out, x, w, b, N, D, M);
    if (rc) return rc;
    return FN(cn_relu_forward)(ctx, out, out, (size_t)N * M);
}

int FN(cn_affine_relu_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                const real *out, const real *x, const real *w, int N, int D,
                                int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    real *da = cn__ws(ctx, CN_WS_LAYER, sizeof(real) * (size_t)N * M); /* [N,M] */
    if (!da) return CN_ENOMEM;
    FN(cn_relu_backward)(ctx, da, dout, out, (size_t)N * M);
    return FN(cn_affine_backward)(ctx, dx, dw, db, da, x, w, N, D, M);
}
