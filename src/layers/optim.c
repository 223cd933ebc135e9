/* optim.c — the original's update rules and the Solver's fused step: entry
 * points that call the kernels of a SIMD level (simd/optim.c). The public
 * rules run at the CPU's best level, whatever ctx's level (every level
 * gives the same bits: the loops are elementwise), on ctx's threads when
 * n is large (elementwise: any split gives the same bits); ctx also takes
 * the message of a bad argument. */
#include "kern.h"

/* Per thread at least this many values: below it the fork costs more than
 * the memory traffic it shares (4.1M floats of adam: 2.7 ms on 1 thread). */
#define SPLIT_MIN ((size_t)1 << 16)

/* CALL(lo, cnt) over [0, n): the threads take equal runs (multiples of 16
 * values: whole cache lines at aligned w) */
#define SPLIT(ctx, n, CALL)                                                   \
    do {                                                                      \
        int nt_ = cn__nt(ctx);                                                \
        if ((size_t)nt_ > (n) / SPLIT_MIN) nt_ = (int)((n) / SPLIT_MIN);      \
        if (nt_ <= 1) {                                                       \
            size_t lo = 0, cnt = (n);                                         \
            (void)lo, (void)cnt;                                              \
            CALL;                                                             \
            break;                                                            \
        }                                                                     \
        size_t per_ = ((n) / (size_t)nt_ + 15) & ~(size_t)15;                 \
        _Pragma("omp parallel for schedule(static, 1) num_threads(nt_)")      \
        for (int id_ = 0; id_ < nt_; id_++) {                                 \
            size_t lo = per_ * (size_t)id_, hi = lo + per_;                   \
            if (hi > (n)) hi = (n);                                           \
            size_t cnt = lo < hi ? hi - lo : 0;                               \
            if (cnt) CALL;                                                    \
        }                                                                     \
    } while (0)

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
    const optim_kern *k = optim_kern_for(cn__simd(NULL));
    SPLIT(ctx, n, k->sgd(w + lo, dw + lo, cnt, lr));
    return CN_OK;
}

int FN(cn_sgd_momentum)(cn_ctx *ctx, real *w, const real *dw, real *v, size_t n, double lr,
                        double momentum) {
    int rc = check_bufs(ctx, __func__, n, w, dw, v, v);
    if (rc) return rc;
    const optim_kern *k = optim_kern_for(cn__simd(NULL));
    SPLIT(ctx, n, k->sgd_momentum(w + lo, dw + lo, v + lo, cnt, lr, momentum));
    return CN_OK;
}

int FN(cn_rmsprop)(cn_ctx *ctx, real *w, const real *dw, real *cache, size_t n, double lr,
                   double decay_rate, double eps) {
    int rc = check_bufs(ctx, __func__, n, w, dw, cache, cache);
    if (rc) return rc;
    const optim_kern *k = optim_kern_for(cn__simd(NULL));
    SPLIT(ctx, n, k->rmsprop(w + lo, dw + lo, cache + lo, cnt, lr, decay_rate, eps));
    return CN_OK;
}

int FN(cn_adam)(cn_ctx *ctx, real *w, const real *dw, real *m, real *v, size_t n, double lr,
                double beta1, double beta2, double eps, long t) {
    int rc = check_bufs(ctx, __func__, n, w, dw, m, v);
    if (rc) return rc;
    const optim_kern *k = optim_kern_for(cn__simd(NULL));
    SPLIT(ctx, n, k->adam(w + lo, dw + lo, m + lo, v + lo, cnt, lr, beta1, beta2, eps, t));
    return CN_OK;
}

int FN(cn__update_fused)(int level, int rule, real *w, const real *dw, real *m, real *v, size_t n,
                         double reg, double lr, double p1, double p2, double eps, long t,
                         double *sumsq) {
    return optim_kern_for(level)->fused(rule, w, dw, m, v, n, reg, lr, p1, p2, eps, t, sumsq);
}
