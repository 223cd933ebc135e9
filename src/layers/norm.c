/* norm.c — batch norm, spatial batch norm, layer norm, spatial group norm.
 *
 * Naive (direct loops, as the original notebook: two-pass mean/variance in
 * the element type, backward walking the computation graph; spatial batch
 * norm by transposing to (N*H*W, C)) beside fast (OpenMP over channels,
 * samples or (n, g) groups; for the (N,D) batch norm and the layer-norm
 * parameter gradients, rows split among the threads with per-thread partial
 * sums in the CN_WS_MISC workspace; sums accumulated in double with a
 * two-pass mean then variance; the simplified closed-form backward; NCHW
 * walked in place, no transposes). The loops over a contiguous stretch
 * (a plane, a row, a group: sums, squared deviations, the normalizing map,
 * the backward's sums and dx) are the context's SIMD level's (simd/norm.c,
 * norm_kern); the rest (the (N,D) batch norm's column loops, layer norm's
 * per-element gamma, group norm's dx) is built for the baseline.
 *
 * Caches: mean and invstd = 1/sqrt(var + eps) (biased variance), stored in
 * the element type. Backward recomputes xhat = (x - mean) * invstd.
 *
 * Batch norm (train mode): the cache and the running stats may be NULL (then
 * they are not written / not updated). Test mode needs the running stats and
 * leaves the cache untouched. */
#include "kern.h"
#include <limits.h>

#ifdef _OPENMP
#include <omp.h>
#define TEAM_ID() omp_get_thread_num()
#define TEAM_SIZE() omp_get_num_threads()
#else
#define TEAM_ID() 0
#define TEAM_SIZE() 1
#endif

#define PAR_MIN (1 << 15)  /* elements below which the loops stay serial */

/* Batch norm without a learned scale (airbench): gamma == NULL fixes the
 * scale at 1 (a multiplication by exactly 1, so the bits equal those with a
 * gamma of ones); the backward then writes dgamma only when it is given. */
#define GAMMA(g, i) ((g) ? (g)[i] : (real)1)

/* ---- argument checks ------------------------------------------------- */

static int check_eps(cn_ctx *ctx, const char *who, double eps) {
    if (!(eps > 0) || isinf(eps))
        return cn_error(ctx, CN_EINVAL, "%s: eps=%g must be a finite number > 0", who, eps);
    return CN_OK;
}

/* Sizes must be positive and N*C*H*W must fit a size_t. */
static int check_dims(cn_ctx *ctx, const char *who, int N, int C, int H, int W, int spatial) {
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0) {
        if (spatial)
            return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d C=%d H=%d W=%d",
                          who, N, C, H, W);
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d D=%d", who, N, C);
    }
    if (!cn__mul(cn__mul(cn__mul((size_t)N, (size_t)C), (size_t)H), cn__mul((size_t)W, sizeof(real))))
        return cn_error(ctx, CN_ENOMEM, "%s: N=%d C=%d H=%d W=%d is beyond the size limits", who, N, C,
                      H, W);
    return CN_OK;
}

static int check_bn(cn_ctx *ctx, const char *who, const cn_bn_param *p, const real *rm,
                    const real *rv, int N, int C, int H, int W, int spatial) {
    int rc = check_dims(ctx, who, N, C, H, W, spatial);
    if (rc) return rc;
    if (!p) return cn_error(ctx, CN_EINVAL, "%s: bn_param is NULL", who);
    if ((rc = check_eps(ctx, who, p->eps))) return rc;
    if (p->train && !(p->momentum >= 0 && p->momentum <= 1))
        return cn_error(ctx, CN_EINVAL, "%s: momentum=%g must be in [0, 1]", who, p->momentum);
    if (!p->train && (!rm || !rv))
        return cn_error(ctx, CN_EINVAL, "%s: test mode (train=0) needs running_mean and running_var",
                      who);
    return CN_OK;
}

static int check_gn(cn_ctx *ctx, const char *who, int G, int N, int C, int H, int W) {
    int rc = check_dims(ctx, who, N, C, H, W, 1);
    if (rc) return rc;
    if (G <= 0 || C % G != 0)
        return cn_error(ctx, CN_EINVAL, "%s: G=%d groups must be > 0 and divide C=%d", who, G, C);
    return CN_OK;
}

/* ======================================================================
 * batch norm, x[N,D]
 * ==================================================================== */

/* out[N,D]; cache_mean, cache_invstd [D]; gamma, beta, running stats [D] */
int FN(cn_batchnorm_forward_naive)(cn_ctx *ctx, real *out, real *cache_mean, real *cache_invstd,
                                   const real *x, const real *gamma, const real *beta,
                                   real *running_mean, real *running_var, const cn_bn_param *p,
                                   int N, int D) {
    int rc = check_bn(ctx, __func__, p, running_mean, running_var, N, D, 1, 1, 0);
    if (rc) return rc;
    const double m = p->momentum;
    for (int d = 0; d < D; d++) {
        real mean, invstd;
        if (p->train) {
            real mu = 0, var = 0;
            for (int n = 0; n < N; n++) mu += x[(size_t)n * D + d];
            mu /= N;
            for (int n = 0; n < N; n++) {
                real xmu = x[(size_t)n * D + d] - mu;
                var += xmu * xmu;
            }
            var /= N;
            mean = mu;
            invstd = 1 / sqrt(var + p->eps);
            if (cache_mean) cache_mean[d] = mean;
            if (cache_invstd) cache_invstd[d] = invstd;
            if (running_mean) running_mean[d] = m * running_mean[d] + (1 - m) * mu;
            if (running_var) running_var[d] = m * running_var[d] + (1 - m) * var;
        } else {
            mean = running_mean[d];
            invstd = 1 / sqrt(running_var[d] + p->eps);
        }
        for (int n = 0; n < N; n++) {
            real xhat = (x[(size_t)n * D + d] - mean) * invstd;
            out[(size_t)n * D + d] = GAMMA(gamma, d) * xhat + beta[d];
        }
    }
    return CN_OK;
}

/* Row groups for the (N,D) layouts' column sums: a count from N alone (not
 * the threads), each group's rows summed in order into its own partial,
 * the partials added in group order, so the sums have the same bits for
 * any thread count (data-parallel training compares them bit for bit). */
#define NORM_RG 8
static inline int row_groups(int N) { return N < NORM_RG ? N : NORM_RG; }
/* the first row of group g of nt (group g: rows row_lo(g) .. row_lo(g + 1) - 1) */
static inline int row_lo(int N, int nt, int g) { return (int)((long)N * g / nt); }
/* column d of the nt row groups' partials (`stride` doubles apart), added
 * in group order */
static inline double group_sum(const double *part, int nt, size_t stride, int d) {
    double s = 0;
    for (int t = 0; t < nt; t++) s += part[(size_t)t * stride + d];
    return s;
}

/* Partial sums over row groups: `k` arrays of [nt, D] doubles (nt: the
 * row groups) in the CN_WS_MISC workspace, plus `extra` [D] arrays. */
static double *row_ws(cn_ctx *ctx, int nt, int k, int extra, int D) {
    return cn__ws(ctx, CN_WS_MISC, sizeof(double) * ((size_t)nt * k + extra) * (size_t)D);
}

/* Fast: rows split among the threads (contiguous, no strided column walks);
 * each thread sums into its own [D] partial (double), the partials are
 * added per column; two passes (mean, then variance), then the output. */
int FN(cn_batchnorm_forward)(cn_ctx *ctx, real *out, real *cache_mean, real *cache_invstd,
                             const real *x, const real *gamma, const real *beta,
                             real *running_mean, real *running_var, const cn_bn_param *p, int N,
                             int D) {
    int rc = check_bn(ctx, __func__, p, running_mean, running_var, N, D, 1, 1, 0);
    if (rc) return rc;
    const int train = p->train, nt = row_groups(N);
    const double eps = p->eps, m = p->momentum;
    double *part = row_ws(ctx, nt, 1, 3, D); /* [nt, D] per-row-group partial sums */
    if (!part) return CN_ENOMEM;
    double *mean = part + (size_t)nt * D; /* [D] */
    double *scale = mean + D;             /* [D] gamma * invstd */
    double *shift = scale + D;            /* [D] beta */
#pragma omp parallel num_threads(cn__nt(ctx)) if ((size_t)N * D > PAR_MIN)
    {
        if (train) {
#pragma omp for schedule(static)
            for (int g = 0; g < nt; g++) {
                double *my = part + (size_t)g * D; /* [D] */
                for (int d = 0; d < D; d++) my[d] = 0;
                for (int n = row_lo(N, nt, g); n < row_lo(N, nt, g + 1); n++) {
                    const real *xr = x + (size_t)n * D;
#pragma omp simd
                    for (int d = 0; d < D; d++) my[d] += xr[d];
                }
            }
#pragma omp for schedule(static)
            for (int d = 0; d < D; d++) {
                mean[d] = group_sum(part, nt, D, d) / N;
            }
#pragma omp for schedule(static)
            for (int g = 0; g < nt; g++) {
                double *my = part + (size_t)g * D; /* [D] */
                for (int d = 0; d < D; d++) my[d] = 0;
                for (int n = row_lo(N, nt, g); n < row_lo(N, nt, g + 1); n++) {
                    const real *xr = x + (size_t)n * D;
#pragma omp simd
                    for (int d = 0; d < D; d++) {
                        double c = xr[d] - mean[d];
                        my[d] += c * c;
                    }
                }
            }
#pragma omp for schedule(static)
            for (int d = 0; d < D; d++) {
                const double v = group_sum(part, nt, D, d) / N;
                const double invstd = 1 / sqrt(v + eps);
                if (cache_mean) cache_mean[d] = (real)mean[d];
                if (cache_invstd) cache_invstd[d] = (real)invstd;
                if (running_mean) running_mean[d] = (real)(m * running_mean[d] + (1 - m) * mean[d]);
                if (running_var) running_var[d] = (real)(m * running_var[d] + (1 - m) * v);
                scale[d] = GAMMA(gamma, d) * invstd;
                shift[d] = beta[d];
            }
        } else {
#pragma omp for schedule(static)
            for (int d = 0; d < D; d++) {
                mean[d] = running_mean[d];
                scale[d] = GAMMA(gamma, d) / sqrt((double)running_var[d] + eps);
                shift[d] = beta[d];
            }
        }
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const real *xr = x + (size_t)n * D; /* [D] */
            real *orow = out + (size_t)n * D;   /* [D] */
#pragma omp simd
            for (int d = 0; d < D; d++) orow[d] = (real)((xr[d] - mean[d]) * scale[d] + shift[d]);
        }
    }
    return CN_OK;
}

/* The naive backwards' graph from dinvvar (d loss / d invvar, invvar =
 * 1/sqrtvar, sqrtvar = sqrt(var + eps)) back to the gradient of each of
 * the `count` squares xmu^2 that var averages. */
static real naive_dsq(real invvar, real dinvvar, real count) {
    const real sqrtvar = 1 / invvar;
    real dsqrtvar = -1 / (sqrtvar * sqrtvar) * dinvvar;
    real dvar = (real)0.5 * invvar * dsqrtvar; /* 0.5 (var+eps)^-1/2 */
    return dvar / count;                       /* d(xmu^2) per element */
}

/* Naive backward: the original's batchnorm_backward, node by node.
 * Forward graph per column: xmu = x - mu; var = mean(xmu^2);
 * sqrtvar = sqrt(var + eps); invvar = 1/sqrtvar; xhat = xmu * invvar;
 * out = gamma * xhat + beta. dx holds dxmu while it is being built. */
int FN(cn_batchnorm_backward_naive)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta,
                                    const real *dout, const real *x, const real *gamma,
                                    const real *cache_mean, const real *cache_invstd, int N, int D) {
    int rc = check_dims(ctx, __func__, N, D, 1, 1, 0);
    if (rc) return rc;
    for (int d = 0; d < D; d++) {
        const real mu = cache_mean[d], invvar = cache_invstd[d];
        real sdbeta = 0, sdgamma = 0, dinvvar = 0;
        for (int n = 0; n < N; n++) {
            const size_t i = (size_t)n * D + d;
            real xmu = x[i] - mu;
            real dxhat = GAMMA(gamma, d) * dout[i];       /* dva2 */
            sdbeta += dout[i];
            sdgamma += xmu * invvar * dout[i];
            dinvvar += xmu * dxhat;
        }
        dbeta[d] = sdbeta;
        if (dgamma) dgamma[d] = sdgamma;
        if (!dx) continue;
        real dsq = naive_dsq(invvar, dinvvar, N);
        real dmu = 0;
        for (int n = 0; n < N; n++) {
            const size_t i = (size_t)n * D + d;
            real xmu = x[i] - mu;
            real dxmu = invvar * GAMMA(gamma, d) * dout[i] + 2 * xmu * dsq;
            dx[i] = dxmu;
            dmu -= dxmu;
        }
        for (int n = 0; n < N; n++) dx[(size_t)n * D + d] += dmu / N;
    }
    return CN_OK;
}

/* Fast backward (the original's batchnorm_backward_alt):
 * dx = gamma * invstd * (dout - sum(dout)/N - xhat * sum(dout*xhat)/N).
 * Rows split among the threads, per-thread partial sums as in the forward. */
int FN(cn_batchnorm_backward)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta, const real *dout,
                              const real *x, const real *gamma, const real *cache_mean,
                              const real *cache_invstd, int N, int D) {
    int rc = check_dims(ctx, __func__, N, D, 1, 1, 0);
    if (rc) return rc;
    const int nt = row_groups(N);
    double *part = row_ws(ctx, nt, 2, 5, D); /* [nt, 2, D]: sum(dout), sum(dout*xhat) */
    if (!part) return CN_ENOMEM;
    double *mean = part + (size_t)nt * 2 * D, *inv = mean + D; /* [D] cache in double */
    double *a = inv + D, *k1 = a + D, *k2 = k1 + D; /* [D]: dx = a*(dout - k1 - (x-mean)*k2) */
#pragma omp parallel num_threads(cn__nt(ctx)) if ((size_t)N * D > PAR_MIN)
    {
#pragma omp for schedule(static)
        for (int d = 0; d < D; d++) {
            mean[d] = cache_mean[d];
            inv[d] = cache_invstd[d];
        }
#pragma omp for schedule(static)
        for (int g = 0; g < nt; g++) {
            double *sdy = part + (size_t)g * 2 * D, *sdyx = sdy + D; /* [D] each */
            for (int d = 0; d < D; d++) sdy[d] = sdyx[d] = 0;
            for (int n = row_lo(N, nt, g); n < row_lo(N, nt, g + 1); n++) {
                const real *xr = x + (size_t)n * D, *dr = dout + (size_t)n * D; /* [D] */
#pragma omp simd
                for (int d = 0; d < D; d++) {
                    double dy = dr[d];
                    sdy[d] += dy;
                    sdyx[d] += dy * ((xr[d] - mean[d]) * inv[d]);
                }
            }
        }
#pragma omp for schedule(static)
        for (int d = 0; d < D; d++) {
            const double s1 = group_sum(part, nt, 2 * (size_t)D, d), s2 = group_sum(part + D, nt, 2 * (size_t)D, d);
            dbeta[d] = (real)s1;
            if (dgamma) dgamma[d] = (real)s2;
            a[d] = GAMMA(gamma, d) * inv[d];
            k1[d] = s1 / N;
            k2[d] = s2 / N * inv[d];
        }
        if (dx) {
#pragma omp for schedule(static)
            for (int n = 0; n < N; n++) {
                const size_t o = (size_t)n * D;
                const real *xr = x + o, *dr = dout + o; /* [D] */
                real *dxr = dx + o;                     /* [D] */
#pragma omp simd
                for (int d = 0; d < D; d++)
                    dxr[d] = (real)(a[d] * (dr[d] - k1[d] - (xr[d] - mean[d]) * k2[d]));
            }
        }
    }
    return CN_OK;
}

/* ======================================================================
 * spatial batch norm, x[N,C,H,W], statistics per channel over N*H*W
 * ==================================================================== */

/* dst[N*HW, C] from src[N, C, HW] */
static void to_rows(real *dst, const real *src, int N, int C, size_t HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t i = 0; i < HW; i++)
                dst[((size_t)n * HW + i) * C + c] = src[((size_t)n * C + c) * HW + i];
}

/* dst[N, C, HW] from src[N*HW, C] */
static void from_rows(real *dst, const real *src, int N, int C, size_t HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t i = 0; i < HW; i++)
                dst[((size_t)n * C + c) * HW + i] = src[((size_t)n * HW + i) * C + c];
}

/* Naive: as the original, transpose to (N*H*W, C), batch norm, transpose
 * back. Temporaries: two buffers of N*C*H*W. */
int FN(cn_spatial_batchnorm_forward_naive)(cn_ctx *ctx, real *out, real *cache_mean,
                                           real *cache_invstd, const real *x, const real *gamma,
                                           const real *beta, real *running_mean,
                                           real *running_var, const cn_bn_param *p, int N, int C,
                                           int H, int W) {
    int rc = check_bn(ctx, __func__, p, running_mean, running_var, N, C, H, W, 1);
    if (rc) return rc;
    const size_t HW = (size_t)H * W, total = (size_t)N * C * HW;
    if ((size_t)N * HW > INT_MAX)
        return cn_error(ctx, CN_ENOMEM, "%s: N*H*W=%zu is beyond the size limits", __func__, N * HW);
    real *xt = malloc(sizeof(real) * total);   /* [N*H*W, C] */
    real *ot = malloc(sizeof(real) * total);   /* [N*H*W, C] */
    if (!xt || !ot) {
        free(xt);
        free(ot);
        return cn_error(ctx, CN_ENOMEM, "%s: cannot allocate 2 x %zu bytes", __func__,
                      sizeof(real) * total);
    }
    to_rows(xt, x, N, C, HW);
    rc = FN(cn_batchnorm_forward_naive)(ctx, ot, cache_mean, cache_invstd, xt, gamma, beta,
                                        running_mean, running_var, p, (int)(N * HW), C);
    if (!rc) from_rows(out, ot, N, C, HW);
    free(xt);
    free(ot);
    return rc;
}

/* Fast: one channel per iteration (parallel), NCHW walked in place. */
int FN(cn_spatial_batchnorm_forward)(cn_ctx *ctx, real *out, real *cache_mean, real *cache_invstd,
                                     const real *x, const real *gamma, const real *beta,
                                     real *running_mean, real *running_var, const cn_bn_param *p,
                                     int N, int C, int H, int W) {
    int rc = check_bn(ctx, __func__, p, running_mean, running_var, N, C, H, W, 1);
    if (rc) return rc;
    const int train = p->train;
    const double eps = p->eps, m = p->momentum;
    const size_t HW = (size_t)H * W;
    const double M = (double)N * HW;
    const norm_kern *K = norm_kern_for(cn__simd(ctx));
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) \
    if ((size_t)N * C * HW > PAR_MIN)
    for (int c = 0; c < C; c++) {
        double mean, scale;
        if (train) {
            double s = 0, v = 0; /* the planes' sums added in sample order */
            for (int n = 0; n < N; n++) s += K->sum(x + ((size_t)n * C + c) * HW, HW);
            mean = s / M;
            for (int n = 0; n < N; n++) v += K->sqdev(x + ((size_t)n * C + c) * HW, HW, mean);
            v /= M;
            double invstd = 1 / sqrt(v + eps);
            if (cache_mean) cache_mean[c] = (real)mean;
            if (cache_invstd) cache_invstd[c] = (real)invstd;
            if (running_mean) running_mean[c] = (real)(m * running_mean[c] + (1 - m) * mean);
            if (running_var) running_var[c] = (real)(m * running_var[c] + (1 - m) * v);
            scale = GAMMA(gamma, c) * invstd;
        } else {
            mean = running_mean[c];
            scale = GAMMA(gamma, c) / sqrt((double)running_var[c] + eps);
        }
        const double shift = beta[c];
        for (int n = 0; n < N; n++) /* [HW] planes */
            K->map(out + ((size_t)n * C + c) * HW, x + ((size_t)n * C + c) * HW, HW, mean, scale, shift);
    }
    return CN_OK;
}

int FN(cn_spatial_batchnorm_backward_naive)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta,
                                            const real *dout, const real *x, const real *gamma,
                                            const real *cache_mean, const real *cache_invstd,
                                            int N, int C, int H, int W) {
    int rc = check_dims(ctx, __func__, N, C, H, W, 1);
    if (rc) return rc;
    const size_t HW = (size_t)H * W, total = (size_t)N * C * HW;
    if ((size_t)N * HW > INT_MAX)
        return cn_error(ctx, CN_ENOMEM, "%s: N*H*W=%zu is beyond the size limits", __func__, N * HW);
    real *xt = malloc(sizeof(real) * total);               /* [N*H*W, C] */
    real *dt = malloc(sizeof(real) * total);               /* [N*H*W, C] */
    real *dxt = dx ? malloc(sizeof(real) * total) : NULL;  /* [N*H*W, C] */
    if (!xt || !dt || (dx && !dxt)) {
        free(xt);
        free(dt);
        free(dxt);
        return cn_error(ctx, CN_ENOMEM, "%s: cannot allocate 3 x %zu bytes", __func__,
                      sizeof(real) * total);
    }
    to_rows(xt, x, N, C, HW);
    to_rows(dt, dout, N, C, HW);
    rc = FN(cn_batchnorm_backward_naive)(ctx, dxt, dgamma, dbeta, dt, xt, gamma, cache_mean,
                                         cache_invstd, (int)(N * HW), C);
    if (!rc && dx) from_rows(dx, dxt, N, C, HW);
    free(xt);
    free(dt);
    free(dxt);
    return rc;
}

/* Channel c of x, dout [N, C, HW]: *sdy = sum(dout), *sdyx = sum(dout *
 * xhat) over the samples and the plane, sample n's xhat from mean[n * ms]
 * and inv[n * ms] (ms = 0: the same statistics for every sample). The
 * spatial norms' dbeta and dgamma. */
static inline void chan_sums(const norm_kern *K, const real *x, const real *dout, int c, int N, int C,
                             size_t HW, const real *mean, const real *inv, size_t ms, double *sdy_out,
                             double *sdyx_out) {
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; n++) { /* the planes' sums added in sample order */
        const size_t o = ((size_t)n * C + c) * HW;
        double s[2];
        K->dsums(x + o, dout + o, HW, mean[n * ms], inv[n * ms], s);
        sdy += s[0];
        sdyx += s[1];
    }
    *sdy_out = sdy;
    *sdyx_out = sdyx;
}

int FN(cn_spatial_batchnorm_backward)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta,
                                      const real *dout, const real *x, const real *gamma,
                                      const real *cache_mean, const real *cache_invstd, int N,
                                      int C, int H, int W) {
    int rc = check_dims(ctx, __func__, N, C, H, W, 1);
    if (rc) return rc;
    const size_t HW = (size_t)H * W;
    const double M = (double)N * HW;
    const norm_kern *K = norm_kern_for(cn__simd(ctx));
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) \
    if ((size_t)N * C * HW > PAR_MIN)
    for (int c = 0; c < C; c++) {
        const double mean = cache_mean[c], inv = cache_invstd[c];
        double sdy, sdyx;
        chan_sums(K, x, dout, c, N, C, HW, cache_mean + c, cache_invstd + c, 0, &sdy, &sdyx);
        dbeta[c] = (real)sdy;
        if (dgamma) dgamma[c] = (real)sdyx;
        if (!dx) continue;
        const double a = GAMMA(gamma, c) * inv, k1 = sdy / M, k2 = sdyx / M * inv;
        for (int n = 0; n < N; n++) {
            const size_t o = ((size_t)n * C + c) * HW; /* [HW] planes */
            K->dxmap(dx + o, dout + o, x + o, HW, a, k1, mean, k2);
        }
    }
    return CN_OK;
}

/* ======================================================================
 * layer norm, x[N,D], statistics per sample
 * ==================================================================== */

/* out[N,D]; cache_mean, cache_invstd [N] (may be NULL); gamma, beta [D] */
int FN(cn_layernorm_forward_naive)(cn_ctx *ctx, real *out, real *cache_mean, real *cache_invstd,
                                   const real *x, const real *gamma, const real *beta, double eps,
                                   int N, int D) {
    int rc = check_dims(ctx, __func__, N, D, 1, 1, 0);
    if (rc || (rc = check_eps(ctx, __func__, eps))) return rc;
    for (int n = 0; n < N; n++) {
        const real *xr = x + (size_t)n * D;
        real mu = 0, var = 0;
        for (int d = 0; d < D; d++) mu += xr[d];
        mu /= D;
        for (int d = 0; d < D; d++) var += (xr[d] - mu) * (xr[d] - mu);
        var /= D;
        real invstd = 1 / sqrt(var + eps);
        if (cache_mean) cache_mean[n] = mu;
        if (cache_invstd) cache_invstd[n] = invstd;
        for (int d = 0; d < D; d++) out[(size_t)n * D + d] = gamma[d] * ((xr[d] - mu) * invstd) + beta[d];
    }
    return CN_OK;
}

/* The statistics of one sample (layer norm) or group (group norm) xs[n]
 * in double, two passes: *mean, and the return value invstd. */
static inline double stats(const norm_kern *K, const real *xs, size_t n, double eps, double *mean) {
    const double mu = K->sum(xs, n) / n, v = K->sqdev(xs, n, mu);
    *mean = mu;
    return 1 / sqrt(v / n + eps);
}

/* Fast: rows in parallel, sums in double. */
int FN(cn_layernorm_forward)(cn_ctx *ctx, real *out, real *cache_mean, real *cache_invstd,
                             const real *x, const real *gamma, const real *beta, double eps, int N,
                             int D) {
    int rc = check_dims(ctx, __func__, N, D, 1, 1, 0);
    if (rc || (rc = check_eps(ctx, __func__, eps))) return rc;
    const norm_kern *K = norm_kern_for(cn__simd(ctx));
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if ((size_t)N * D > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const real *xr = x + (size_t)n * D; /* [D] */
        real *orow = out + (size_t)n * D;   /* [D] */
        double mean;
        const double inv = stats(K, xr, D, eps, &mean);
        if (cache_mean) cache_mean[n] = (real)mean;
        if (cache_invstd) cache_invstd[n] = (real)inv;
#pragma omp simd
        for (int d = 0; d < D; d++) orow[d] = (real)(gamma[d] * ((xr[d] - mean) * inv) + beta[d]);
    }
    return CN_OK;
}

/* Naive backward: the batch-norm graph walked along each row, gamma and beta
 * per column. dx holds dxmu while it is being built. */
int FN(cn_layernorm_backward_naive)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta,
                                    const real *dout, const real *x, const real *gamma,
                                    const real *cache_mean, const real *cache_invstd, int N, int D) {
    int rc = check_dims(ctx, __func__, N, D, 1, 1, 0);
    if (rc) return rc;
    for (int d = 0; d < D; d++) dgamma[d] = dbeta[d] = 0;
    for (int n = 0; n < N; n++) {
        const size_t o = (size_t)n * D;
        const real mu = cache_mean[n], invvar = cache_invstd[n];
        real dinvvar = 0;
        for (int d = 0; d < D; d++) {
            real xmu = x[o + d] - mu;
            dbeta[d] += dout[o + d];
            dgamma[d] += xmu * invvar * dout[o + d];
            dinvvar += xmu * gamma[d] * dout[o + d];
        }
        if (!dx) continue;
        real dsq = naive_dsq(invvar, dinvvar, D);
        real dmu = 0;
        for (int d = 0; d < D; d++) {
            real xmu = x[o + d] - mu;
            real dxmu = invvar * gamma[d] * dout[o + d] + 2 * xmu * dsq;
            dx[o + d] = dxmu;
            dmu -= dxmu;
        }
        for (int d = 0; d < D; d++) dx[o + d] += dmu / D;
    }
    return CN_OK;
}

/* Fast backward, one pass over the rows (split among the threads): per row
 * the closed form dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat *
 * xhat)) with dxhat = dout * gamma; dgamma/dbeta from per-thread partial
 * sums added per column at the end. */
int FN(cn_layernorm_backward)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta, const real *dout,
                              const real *x, const real *gamma, const real *cache_mean,
                              const real *cache_invstd, int N, int D) {
    int rc = check_dims(ctx, __func__, N, D, 1, 1, 0);
    if (rc) return rc;
    const int nt = row_groups(N);
    double *part = row_ws(ctx, nt, 2, 0, D); /* [nt, 2, D]: sum(dout), sum(dout*xhat) */
    if (!part) return CN_ENOMEM;
#pragma omp parallel num_threads(cn__nt(ctx)) if ((size_t)N * D > PAR_MIN)
    {
#pragma omp for schedule(static)
        for (int rg = 0; rg < nt; rg++) {
        double *sdy = part + (size_t)rg * 2 * D, *sdyx = sdy + D; /* [D] each */
        for (int d = 0; d < D; d++) sdy[d] = sdyx[d] = 0;
        for (int n = row_lo(N, nt, rg); n < row_lo(N, nt, rg + 1); n++) {
            const size_t o = (size_t)n * D;
            const real *xr = x + o, *dr = dout + o; /* [D] */
            const double mean = cache_mean[n], inv = cache_invstd[n];
            double sg = 0, sgx = 0; /* sum(dxhat), sum(dxhat * xhat) over the row */
#pragma omp simd reduction(+ : sg, sgx)
            for (int d = 0; d < D; d++) {
                double dy = dr[d], xh = (xr[d] - mean) * inv, g = dy * gamma[d];
                sdy[d] += dy;
                sdyx[d] += dy * xh;
                sg += g;
                sgx += g * xh;
            }
            if (!dx) continue;
            const double k1 = sg / D, k2 = sgx / D * inv;
            real *dxr = dx + o; /* [D] */
#pragma omp simd
            for (int d = 0; d < D; d++)
                dxr[d] = (real)(inv * ((double)dr[d] * gamma[d] - k1 - (xr[d] - mean) * k2));
        }
        }
#pragma omp for schedule(static)
        for (int d = 0; d < D; d++) {
            const double s1 = group_sum(part, nt, 2 * (size_t)D, d), s2 = group_sum(part + D, nt, 2 * (size_t)D, d);
            dbeta[d] = (real)s1;
            dgamma[d] = (real)s2;
        }
    }
    return CN_OK;
}

/* ======================================================================
 * spatial group norm, x[N,C,H,W], G contiguous groups of C/G channels;
 * statistics per (n, g) over (C/G)*H*W; cache [N*G]; gamma, beta [C]
 * ==================================================================== */

int FN(cn_spatial_groupnorm_forward_naive)(cn_ctx *ctx, real *out, real *cache_mean,
                                           real *cache_invstd, const real *x, const real *gamma,
                                           const real *beta, double eps, int G, int N, int C,
                                           int H, int W) {
    int rc = check_gn(ctx, __func__, G, N, C, H, W);
    if (rc || (rc = check_eps(ctx, __func__, eps))) return rc;
    const int Cg = C / G;
    const size_t HW = (size_t)H * W, M = (size_t)Cg * HW;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            const size_t o = ((size_t)n * C + (size_t)g * Cg) * HW; /* group [Cg, H, W] */
            real mu = 0, var = 0;
            for (size_t i = 0; i < M; i++) mu += x[o + i];
            mu /= M;
            for (size_t i = 0; i < M; i++) var += (x[o + i] - mu) * (x[o + i] - mu);
            var /= M;
            real invstd = 1 / sqrt(var + eps);
            if (cache_mean) cache_mean[n * G + g] = mu;
            if (cache_invstd) cache_invstd[n * G + g] = invstd;
            for (int k = 0; k < Cg; k++) {
                const int c = g * Cg + k;
                for (size_t i = 0; i < HW; i++) {
                    size_t j = o + k * HW + i;
                    out[j] = gamma[c] * ((x[j] - mu) * invstd) + beta[c];
                }
            }
        }
    return CN_OK;
}

/* Fast: (n, g) groups in parallel, sums in double. */
int FN(cn_spatial_groupnorm_forward)(cn_ctx *ctx, real *out, real *cache_mean, real *cache_invstd,
                                     const real *x, const real *gamma, const real *beta,
                                     double eps, int G, int N, int C, int H, int W) {
    int rc = check_gn(ctx, __func__, G, N, C, H, W);
    if (rc || (rc = check_eps(ctx, __func__, eps))) return rc;
    const int Cg = C / G;
    const size_t HW = (size_t)H * W, M = (size_t)Cg * HW;
    const norm_kern *K = norm_kern_for(cn__simd(ctx));
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) \
    if ((size_t)N * C * HW > PAR_MIN)
    for (int ng = 0; ng < N * G; ng++) {
        const size_t o = (size_t)ng * M; /* group (n, g) starts at ((n*C + g*Cg) * HW) */
        const real *xg = x + o;          /* [Cg, H, W] */
        double mean;
        const double inv = stats(K, xg, M, eps, &mean);
        if (cache_mean) cache_mean[ng] = (real)mean;
        if (cache_invstd) cache_invstd[ng] = (real)inv;
        const int c0 = (ng % G) * Cg;
        for (int k = 0; k < Cg; k++) /* [HW] planes */
            K->map(out + o + k * HW, xg + k * HW, HW, mean, gamma[c0 + k] * inv, beta[c0 + k]);
    }
    return CN_OK;
}

/* Naive backward: the normalization graph walked over each group, gamma
 * per channel. dx holds dxmu while it is being built. */
int FN(cn_spatial_groupnorm_backward_naive)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta,
                                            const real *dout, const real *x, const real *gamma,
                                            const real *cache_mean, const real *cache_invstd,
                                            int G, int N, int C, int H, int W) {
    int rc = check_gn(ctx, __func__, G, N, C, H, W);
    if (rc) return rc;
    const int Cg = C / G;
    const size_t HW = (size_t)H * W, M = (size_t)Cg * HW;
    for (int c = 0; c < C; c++) dgamma[c] = dbeta[c] = 0;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            const size_t o = ((size_t)n * C + (size_t)g * Cg) * HW;
            const real mu = cache_mean[n * G + g], invvar = cache_invstd[n * G + g];
            real dinvvar = 0;
            for (int k = 0; k < Cg; k++) {
                const int c = g * Cg + k;
                for (size_t i = 0; i < HW; i++) {
                    size_t j = o + k * HW + i;
                    real xmu = x[j] - mu;
                    dbeta[c] += dout[j];
                    dgamma[c] += xmu * invvar * dout[j];
                    dinvvar += xmu * gamma[c] * dout[j];
                }
            }
            if (!dx) continue;
            real dsq = naive_dsq(invvar, dinvvar, M);
            real dmu = 0;
            for (int k = 0; k < Cg; k++) {
                const int c = g * Cg + k;
                for (size_t i = 0; i < HW; i++) {
                    size_t j = o + k * HW + i;
                    real dxmu = invvar * gamma[c] * dout[j] + 2 * (x[j] - mu) * dsq;
                    dx[j] = dxmu;
                    dmu -= dxmu;
                }
            }
            for (size_t i = 0; i < M; i++) dx[o + i] += dmu / M;
        }
    return CN_OK;
}

/* Fast backward: dx by (n, g) groups in parallel (closed form with
 * dxhat = dout * gamma[c]), then dgamma/dbeta by channels in parallel. */
int FN(cn_spatial_groupnorm_backward)(cn_ctx *ctx, real *dx, real *dgamma, real *dbeta,
                                      const real *dout, const real *x, const real *gamma,
                                      const real *cache_mean, const real *cache_invstd, int G,
                                      int N, int C, int H, int W) {
    int rc = check_gn(ctx, __func__, G, N, C, H, W);
    if (rc) return rc;
    const int Cg = C / G, nt = cn__nt(ctx);
    const size_t HW = (size_t)H * W, M = (size_t)Cg * HW;
    const int par = (size_t)N * C * HW > PAR_MIN;
    const norm_kern *K = norm_kern_for(cn__simd(ctx));
    if (dx) {
#pragma omp parallel for schedule(static) num_threads(nt) if (par)
        for (int ng = 0; ng < N * G; ng++) {
            const size_t o = (size_t)ng * M;
            const double mean = cache_mean[ng], inv = cache_invstd[ng];
            const int c0 = (ng % G) * Cg;
            double sg = 0, sgx = 0; /* sum(dxhat), sum(dxhat * xhat) over the group */
            for (int k = 0; k < Cg; k++) {
                const double gm = gamma[c0 + k];
                const real *xp = x + o + k * HW, *dp = dout + o + k * HW; /* [HW] */
#pragma omp simd reduction(+ : sg, sgx)
                for (size_t i = 0; i < HW; i++) {
                    double g = dp[i] * gm;
                    sg += g;
                    sgx += g * ((xp[i] - mean) * inv);
                }
            }
            const double k1 = sg / M, k2 = sgx / M * inv;
            for (int k = 0; k < Cg; k++) {
                const double gm = gamma[c0 + k];
                const real *xp = x + o + k * HW, *dp = dout + o + k * HW;
                real *dxp = dx + o + k * HW;
#pragma omp simd
                for (size_t i = 0; i < HW; i++)
                    dxp[i] = (real)(inv * (dp[i] * gm - k1 - (xp[i] - mean) * k2));
            }
        }
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (par)
    for (int c = 0; c < C; c++) {
        const int g = c / Cg;
        double sdy, sdyx;
        chan_sums(K, x, dout, c, N, C, HW, cache_mean + g, cache_invstd + g, G, &sdy, &sdyx);
        dbeta[c] = (real)sdy;
        dgamma[c] = (real)sdyx;
    }
    return CN_OK;
}
