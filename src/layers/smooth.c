/* smooth.c — softmax loss with label smoothing (airbench: eps = 0.2).
 * Target t = (1 - eps) onehot(y) + eps / C. With log p = shifted - log Z:
 *   loss_n = (1 - eps) (-log p_y) + eps * mean_c (-log p_c),
 *   dx = (p - t) / N.
 * The arithmetic follows cn_softmax_loss (affine.c) term for term: with
 * eps = 0 the smoothing terms add exact zeros, so the bits are the same. */
#include "real.h"

static int check_smooth(cn_ctx *ctx, const char *who, const int32_t *y, double eps, int N, int C) {
    if (N <= 0 || C <= 0)
        return CN_ERR(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d C=%d", who, N, C);
    if (!(eps >= 0 && eps <= 1))
        return CN_ERR(ctx, CN_EINVAL, "%s: label smoothing eps=%g must be in [0, 1]", who, eps);
    for (int n = 0; n < N; n++)
        if (y[n] < 0 || y[n] >= C)
            return CN_ERR(ctx, CN_EINVAL, "%s: label y[%d]=%d is out of range [0, %d)", who, n,
                          (int)y[n], C);
    return CN_OK;
}

/* Naive: the definition, term by term: -sum_c t_c log p_c. */
int FN(cn_softmax_loss_smooth_naive)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                                     const int32_t *y, double eps, int N, int C) {
    int rc = check_smooth(ctx, __func__, y, eps, N, C);
    if (rc) return rc;
    double total = 0;
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx = row[0];
        for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
        real z = 0;
        for (int c = 0; c < C; c++) z += exp(row[c] - mx);
        real logz = log(z);
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

/* Fast: cn_softmax_loss's loop (row-parallel, the same reduction) plus the
 * smoothing term. */
int FN(cn_softmax_loss_smooth)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                               const int32_t *y, double eps, int N, int C) {
    int rc = check_smooth(ctx, __func__, y, eps, N, C);
    if (rc) return rc;
    const double keep = 1 - eps, spread = eps / C;
    double total = 0;
#pragma omp parallel for reduction(+ : total) num_threads(cn__nt(ctx)) if (N * C > 65536)
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx = row[0];
        for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
        real z = 0;
        for (int c = 0; c < C; c++) z += exp(row[c] - mx);
        real logz = log(z);
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
