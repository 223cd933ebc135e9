/* gpool.c — global average and global max pooling over each H x W plane:
 * x[N,C,H,W] -> out[N,C]. Naive: direct loops in the element type. Fast:
 * OpenMP over the N*C planes, sums in double. */
#include "real.h"
#include <limits.h>

#define PAR_MIN (1 << 15)

static int check_g(cn_ctx *ctx, const char *who, int N, int C, int H, int W) {
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0)
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d C=%d H=%d W=%d", who, N,
                      C, H, W);
    if ((size_t)H * W > INT32_MAX ||
        !cn__mul(cn__mul(cn__mul((size_t)N, (size_t)C), (size_t)H), cn__mul((size_t)W, sizeof(real))))
        return cn_error(ctx, CN_ENOMEM, "%s: N=%d C=%d H=%d W=%d is beyond the size limits", who, N, C,
                      H, W);
    return CN_OK;
}

int FN(cn_global_avg_pool_forward_naive)(cn_ctx *ctx, real *out, const real *x, int N, int C, int H,
                                         int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            real s = 0;
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) s += x[(((size_t)n * C + c) * H + h) * W + w];
            out[(size_t)n * C + c] = s / (H * W);
        }
    return CN_OK;
}

int FN(cn_global_avg_pool_backward_naive)(cn_ctx *ctx, real *dx, const real *dout, int N, int C,
                                          int H, int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    dx[(((size_t)n * C + c) * H + h) * W + w] = dout[(size_t)n * C + c] / (H * W);
    return CN_OK;
}

int FN(cn_global_avg_pool_forward)(cn_ctx *ctx, real *out, const real *x, int N, int C, int H,
                                   int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    const size_t P = (size_t)N * C, HW = (size_t)H * W;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (P * HW > PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        const real *xp = x + p * HW; /* [HW] */
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < HW; i++) s += xp[i];
        out[p] = (real)(s / (double)HW);
    }
    return CN_OK;
}

int FN(cn_global_avg_pool_backward)(cn_ctx *ctx, real *dx, const real *dout, int N, int C, int H,
                                    int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    const size_t P = (size_t)N * C, HW = (size_t)H * W;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (P * HW > PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        const real g = (real)(dout[p] / (double)HW);
        real *dp = dx + p * HW; /* [HW] */
#pragma omp simd
        for (size_t i = 0; i < HW; i++) dp[i] = g;
    }
    return CN_OK;
}

/* The offset of xp[H, W]'s first maximum in row-major order (NaN never
 * wins). */
static int plane_argmax(const real *xp, int H, int W) {
    int best = 0;
    for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
            if (xp[h * W + w] > xp[best]) best = h * W + w;
    return best;
}

/* out = the plane's first maximum, idx its offset. */
int FN(cn_global_max_pool_forward_naive)(cn_ctx *ctx, real *out, int32_t *idx, const real *x, int N,
                                         int C, int H, int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const real *xp = x + ((size_t)n * C + c) * H * W;
            const int best = plane_argmax(xp, H, W);
            out[(size_t)n * C + c] = xp[best];
            if (idx) idx[(size_t)n * C + c] = best;
        }
    return CN_OK;
}

int FN(cn_global_max_pool_backward_naive)(cn_ctx *ctx, real *dx, const real *dout, const real *x,
                                          const int32_t *idx, int N, int C, int H, int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const real *xp = x + ((size_t)n * C + c) * H * W;
            real *dp = dx + ((size_t)n * C + c) * H * W;
            const int best = plane_argmax(xp, H, W);
            for (int i = 0; i < H * W; i++) dp[i] = 0;
            dp[best] = dout[(size_t)n * C + c];
        }
    return CN_OK;
}

int FN(cn_global_max_pool_forward)(cn_ctx *ctx, real *out, int32_t *idx, const real *x, int N, int C,
                                   int H, int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    const size_t P = (size_t)N * C, HW = (size_t)H * W;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (P * HW > PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        const real *xp = x + p * HW; /* [HW] */
        real m = xp[0];
        size_t best = 0;
        for (size_t i = 1; i < HW; i++)
            if (xp[i] > m) {
                m = xp[i];
                best = i;
            }
        out[p] = m;
        if (idx) idx[p] = (int32_t)best;
    }
    return CN_OK;
}

int FN(cn_global_max_pool_backward)(cn_ctx *ctx, real *dx, const real *dout, const real *x,
                                    const int32_t *idx, int N, int C, int H, int W) {
    int rc = check_g(ctx, __func__, N, C, H, W);
    if (rc) return rc;
    if (!idx) return cn_error(ctx, CN_EINVAL, "%s: idx is NULL (the fast backward reads the forward's argmax)", __func__);
    const size_t P = (size_t)N * C, HW = (size_t)H * W;
    for (size_t p = 0; p < P; p++)
        if (idx[p] < 0 || (size_t)idx[p] >= HW)
            return cn_error(ctx, CN_EINVAL, "%s: idx[%zu]=%d is outside the %dx%d plane", __func__, p,
                          (int)idx[p], H, W);
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (P * HW > PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        real *dp = dx + p * HW; /* [HW] */
        memset(dp, 0, sizeof(real) * HW);
        dp[idx[p]] = dout[p];
    }
    return CN_OK;
}
