/* affine.c — affine, relu, softmax loss and the affine-relu sandwich.
 * Naive (direct loops, as the original) beside fast (BLAS GEMM). */
#include "real.h"

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

int FN(cn_affine_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                          const real *b, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * M, b, sizeof(real) * M);
    cn_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, M, D, 1, x, D, w, M, 1, out, M);
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
    if (dx) cn_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, D, M, 1, dout, M, w, M, 0, dx, D);
    cn_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, M, N, 1, x, D, dout, M, 0, dw, M);
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
