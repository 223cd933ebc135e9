/* optim.c — the original's update rules and the Solver's fused step: entry
 * points that call the kernels of a SIMD level (simd/optim.c). The public
 * rules run at the CPU's best level, whatever ctx's level (every level
 * gives the same bits: the loops are elementwise); ctx only takes the
 * message of a bad argument. */
#include "kern.h"

/* A NULL buffer with values to update: CN_EINVAL naming it. */
static int check_bufs(cn_ctx *ctx, const char *who, size_t n, const void *w, const void *dw,
                      const void *s1, const void *s2) {
    if (n == 0) return CN_OK;
    const char *bad = !w ? "w" : !dw ? "dw" : !s1 ? "state" : !s2 ? "second state" : NULL;
    return bad ? cn_error(ctx, CN_EINVAL, "%s: %s is NULL (n = %zu)", who, bad, n) : CN_OK;
}

int FN(cn_sgd)(cn_ctx *ctx, real *w, const real *dw, size_t n, double lr) {
    int rc = check_bufs(ctx, __func__, n, w, dw, w, w);
    if (rc) return rc;
    return optim_kern_for(cn__simd(NULL))->sgd(w, dw, n, lr);
}

int FN(cn_sgd_momentum)(cn_ctx *ctx, real *w, const real *dw, real *v, size_t n, double lr,
                        double momentum) {
    int rc = check_bufs(ctx, __func__, n, w, dw, v, v);
    if (rc) return rc;
    return optim_kern_for(cn__simd(NULL))->sgd_momentum(w, dw, v, n, lr, momentum);
}

int FN(cn_rmsprop)(cn_ctx *ctx, real *w, const real *dw, real *cache, size_t n, double lr,
                   double decay_rate, double eps) {
    int rc = check_bufs(ctx, __func__, n, w, dw, cache, cache);
    if (rc) return rc;
    return optim_kern_for(cn__simd(NULL))->rmsprop(w, dw, cache, n, lr, decay_rate, eps);
}

int FN(cn_adam)(cn_ctx *ctx, real *w, const real *dw, real *m, real *v, size_t n, double lr,
                double beta1, double beta2, double eps, long t) {
    int rc = check_bufs(ctx, __func__, n, w, dw, m, v);
    if (rc) return rc;
    return optim_kern_for(cn__simd(NULL))->adam(w, dw, m, v, n, lr, beta1, beta2, eps, t);
}

int FN(cn__update_fused)(int level, int rule, real *w, const real *dw, real *m, real *v, size_t n,
                         double reg, double lr, double p1, double p2, double eps, long t,
                         double *sumsq) {
    return optim_kern_for(level)->fused(rule, w, dw, m, v, n, reg, lr, p1, p2, eps, t, sumsq);
}
