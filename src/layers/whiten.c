/* whiten.c — the frozen whitening conv of airbench (init_whitening_conv):
 * the uncentred covariance S = sum p p^T / count of every 2x2 patch p
 * (stride 1, flattened in (c, dy, dx) order, the conv weight's layout) of
 * the training images, its eigen-decomposition by LAPACK's dsyev (Debian's
 * OpenBLAS exports the Fortran symbol; the build has no LAPACKE), and the
 * filters v_i / sqrt(l_i + eps) and their negatives, eigenvalues
 * descending. Applied as a conv (stride 1, no pad) the first D outputs have
 * second moment diag(l_i / (l_i + eps)) over the same patches: the
 * identity when eps << l_i. Uncentred as airbench (its inputs are already
 * normalised to zero mean per channel). */
#include "real.h"
#include <limits.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* LAPACK (Fortran): the trailing hidden lengths of the CHARACTER*1 args. */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info, size_t ljobz,
                   size_t luplo);

#define DMAX 64 /* D = 4C <= 64: C <= 16 channels */

int FN(cn_whiten_fit)(cn_ctx *ctx, real *w, double *eig, const real *x, double eps, int N, int C,
                      int H, int W) {
    if (!w || !x) return cn_error(ctx, CN_EINVAL, "%s: NULL buffer", __func__);
    if (N <= 0 || C <= 0 || H < 2 || W < 2)
        return cn_error(ctx, CN_EINVAL,
                      "%s: need N, C > 0 and H, W >= 2 for 2x2 patches, got N=%d C=%d H=%d W=%d",
                      __func__, N, C, H, W);
    if (4 * C > DMAX)
        return cn_error(ctx, CN_EINVAL, "%s: C=%d channels give %d patch dims, at most %d", __func__, C,
                      4 * C, DMAX);
    if (!(eps >= 0) || !isfinite(eps))
        return cn_error(ctx, CN_EINVAL, "%s: eps=%g must be finite and >= 0", __func__, eps);
    if (!cn__mul(cn__mul(cn__mul((size_t)N, (size_t)C), cn__mul((size_t)H, (size_t)W)),
                 sizeof(real)))
        return cn_error(ctx, CN_ENOMEM, "%s: N=%d C=%d H=%d W=%d is beyond the size limits", __func__,
                      N, C, H, W);
    const int D = 4 * C;
    const size_t HW = (size_t)H * W;
    const int nt = cn__nt(ctx);
    /* per-thread [D, D] sums (upper triangle used), then A [D, D], work */
    double *part = cn__ws(ctx, CN_WS_MISC, sizeof(double) * ((size_t)nt * D * D + D * D + D));
    if (!part) return CN_ENOMEM;
    double *A = part + (size_t)nt * D * D, *ev = A + (size_t)D * D;
    /* every partial zeroed here: the region may run with fewer threads */
    memset(part, 0, sizeof(double) * (size_t)nt * D * D);
#pragma omp parallel num_threads(nt) if ((size_t)N * HW * C * D > (1 << 18)) /* ~D/2 FMAs per value */
    {
#ifdef _OPENMP
        double *S = part + (size_t)omp_get_thread_num() * D * D;
#else
        double *S = part;
#endif
        double p[DMAX];
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++)
            for (int i = 0; i + 1 < H; i++)
                for (int j = 0; j + 1 < W; j++) {
                    for (int c = 0; c < C; c++) {
                        const real *q = x + ((size_t)n * C + c) * HW + (size_t)i * W + j;
                        p[4 * c] = q[0];
                        p[4 * c + 1] = q[1];
                        p[4 * c + 2] = q[W];
                        p[4 * c + 3] = q[W + 1];
                    }
                    for (int a = 0; a < D; a++) {
                        const double pa = p[a];
                        double *Sa = S + (size_t)a * D;
                        for (int b = a; b < D; b++) Sa[b] += pa * p[b];
                    }
                }
    }
    const double count = (double)N * (H - 1) * (W - 1);
    /* A is read by Fortran as column-major: symmetric, so fill both halves. */
    for (int a = 0; a < D; a++)
        for (int b = a; b < D; b++) {
            double s = 0;
            for (int t = 0; t < nt; t++) s += part[(size_t)t * D * D + (size_t)a * D + b];
            A[(size_t)a * D + b] = A[(size_t)b * D + a] = s / count;
        }
    for (int a = 0; a < D * D; a++)
        if (!isfinite(A[a]))
            return cn_error(ctx, CN_ENUM, "%s: the patch covariance is not finite (NaN/Inf in x)",
                          __func__);
    double work[DMAX * DMAX];
    int n = D, lda = D, lwork = DMAX * DMAX, info = 0;
    dsyev_("V", "U", &n, A, &lda, ev, work, &lwork, &info, 1, 1);
    if (info != 0)
        return cn_error(ctx, CN_ENUM, "%s: LAPACK dsyev failed (info=%d) on the %dx%d covariance",
                      __func__, info, D, D);
    /* dsyev: ascending eigenvalues, eigenvector k in column k (A + k*D). */
    const size_t half = (size_t)D * D; /* D filters of [C,2,2] = D values each */
    for (int i = 0; i < D; i++) {
        const int k = D - 1 - i; /* descending */
        const double l = ev[k] < 0 ? 0 : ev[k]; /* roundoff below 0 on singular data */
        if (eig) eig[i] = ev[k];
        if (!(l + eps > 0))
            return cn_error(ctx, CN_ENUM,
                          "%s: eigenvalue %d is %g and eps=%g: the patches span fewer than %d "
                          "dims (use eps > 0)",
                          __func__, i, ev[k], eps, D);
        const double s = 1 / sqrt(l + eps);
        for (int d = 0; d < D; d++) {
            w[(size_t)i * D + d] = (real)(A[(size_t)k * D + d] * s);
            w[half + (size_t)i * D + d] = (real)(-A[(size_t)k * D + d] * s);
        }
    }
    return CN_OK;
}
