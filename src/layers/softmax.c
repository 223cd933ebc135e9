/* softmax.c — the softmax loss, plain and with label smoothing (airbench:
 * eps = 0.2), naive beside fast; both on one row-wise log-softmax.
 *
 * Plain: the original's steps: shifted = x - max; log p = shifted - log Z;
 * loss = -mean(log p[y]); dx = (p - onehot(y)) / N.
 *
 * Smoothed: target t = (1 - eps) onehot(y) + eps / C, so
 *   loss_n = (1 - eps) (-log p_y) + eps * mean_c (-log p_c),
 *   dx = (p - t) / N.
 * Its arithmetic follows the plain loss term for term: with eps = 0 the
 * smoothing terms add exact zeros, so the bits are the same. */
#include "real.h"

/* who: the name in the messages; eps: 0 for the plain loss. */
static int check_softmax(cn_ctx *ctx, const char *who, const int32_t *y, double eps, int N, int C) {
    if (N <= 0 || C <= 0)
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d C=%d", who, N, C);
    if (!(eps >= 0 && eps <= 1))
        return cn_error(ctx, CN_EINVAL, "%s: label smoothing eps=%g must be in [0, 1]", who, eps);
    for (int n = 0; n < N; n++)
        if (y[n] < 0 || y[n] >= C)
            return cn_error(ctx, CN_EINVAL, "%s: label y[%d]=%d is out of range [0, %d)", who, n,
                          (int)y[n], C);
    return CN_OK;
}

/* A row's log-softmax: *mx = max_c row[c]; returns log Z = log sum_c
 * exp(row[c] - *mx), so that log p_c = (row[c] - *mx) - log Z. Every loss
 * here goes through it: one order of the sum, the same bits everywhere. */
static inline real row_logz(const real *row, int C, real *mx) {
    real m = row[0];
    for (int c = 1; c < C; c++) if (row[c] > m) m = row[c];
    real z = 0;
    for (int c = 0; c < C; c++) z += exp(row[c] - m);
    *mx = m;
    return log(z);
}

int FN(cn_softmax_loss_naive)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                              const int32_t *y, int N, int C) {
    int rc = check_softmax(ctx, "softmax_loss", y, 0, N, C);
    if (rc) return rc;
    double total = 0;
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx, logz = row_logz(row, C, &mx);
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
    int rc = check_softmax(ctx, "softmax_loss", y, 0, N, C);
    if (rc) return rc;
    double total = 0;
#pragma omp parallel for reduction(+ : total) num_threads(cn__nt(ctx)) if (N * C > 65536)
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx, logz = row_logz(row, C, &mx);
        total -= (row[y[n]] - mx) - logz;
        if (dx) {
            real *d = dx + (size_t)n * C;
            for (int c = 0; c < C; c++) d[c] = (exp(row[c] - mx - logz) - (c == y[n])) / N;
        }
    }
    *loss = total / N;
    return CN_OK;
}

/* Smoothed, naive: the definition, term by term: -sum_c t_c log p_c. */
int FN(cn_softmax_loss_smooth_naive)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                                     const int32_t *y, double eps, int N, int C) {
    int rc = check_softmax(ctx, __func__, y, eps, N, C);
    if (rc) return rc;
    double total = 0;
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx, logz = row_logz(row, C, &mx);
        double l = 0;
        for (int c = 0; c < C; c++) {
            double t = (1 - eps) * (c == y[n]) + eps / C;
            l -= t * (double)((row[c] - mx) - logz);
        }
        total += l;
        if (dx)
            for (int c = 0; c < C; c++) {
                real p = exp(row[c] - mx - logz);
                dx[(size_t)n * C + c] = (real)((p - ((1 - eps) * (c == y[n]) + eps / C)) / N);
            }
    }
    *loss = total / N;
    return CN_OK;
}

/* Smoothed, fast: cn_softmax_loss's loop (row-parallel, the same
 * reduction) plus the smoothing term. */
int FN(cn_softmax_loss_smooth)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                               const int32_t *y, double eps, int N, int C) {
    int rc = check_softmax(ctx, __func__, y, eps, N, C);
    if (rc) return rc;
    const double keep = 1 - eps, spread = eps / C;
    double total = 0;
#pragma omp parallel for reduction(+ : total) num_threads(cn__nt(ctx)) if (N * C > 65536)
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx, logz = row_logz(row, C, &mx);
        double s = 0; /* sum_c -log p_c */
        for (int c = 0; c < C; c++) s -= (double)((row[c] - mx) - logz);
        real ly = (row[y[n]] - mx) - logz;
        total -= keep * ly - eps * (s / C);
        if (dx) {
            real *d = dx + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                double t = keep * (c == y[n]) + spread;
                d[c] = (real)((exp(row[c] - mx - logz) - t) / N);
            }
        }
    }
    *loss = total / N;
    return CN_OK;
}
