/* optrules.c — the recipe's update rules and weight averages, one flat
 * loop each (elementwise, so any thread split gives the same bits). Plain
 * loops the compiler vectorizes at the baseline level, on one thread (ctx
 * only takes the message of a bad argument): these are memory
 * bound (a few flops per 3-4 streams), no per-level kernels needed.
 *
 * Nesterov SGD, PyTorch's torch.optim.SGD(nesterov=True, dampening=0) with
 * its coupled weight_decay `l2`, plus a decoupled decay `wd`:
 *   g  = dw + l2 * w
 *   v  = momentum * v + g
 *   w  = w - lr * wd * w - lr * (g + momentum * v)
 * (the decay uses the w before the step). airbench94 sets PyTorch's
 * weight_decay = wd_ab * batch / lr0 per group, so its step is this with
 * l2 = that value and wd = 0: the decay scales with the scheduled lr and
 * goes through the momentum buffer. wd > 0, l2 = 0 is the decoupled form
 * (AdamW-style, w -= lr*wd*w). */
#include "real.h"


/* A NULL buffer: CN_EINVAL naming it (the message in ctx). */
static int check_buf(cn_ctx *ctx, const char *who, const void *a, const void *b, const void *c,
                     size_t n) {
    const char *bad = !a ? "first buffer" : !b ? "second buffer" : !c ? "third buffer" : NULL;
    return bad ? cn_error(ctx, CN_EINVAL, "%s: %s is NULL (n = %zu)", who, bad, n) : CN_OK;
}

int FN(cn_sgd_nesterov)(cn_ctx *ctx, real *w, const real *dw, real *v, size_t n, double lr,
                        double momentum, double l2, double wd) {
    int rc = check_buf(ctx, __func__, w, dw, v, n);
    if (rc) return rc;
    if (!isfinite(lr) || !isfinite(l2) || !isfinite(wd))
        return cn_error(ctx, CN_EINVAL, "%s: lr = %g, l2 = %g, wd = %g: each must be finite", __func__,
                      lr, l2, wd);
    if (!(momentum >= 0 && momentum < 1))
        return cn_error(ctx, CN_EINVAL, "%s: momentum = %g not in [0, 1)", __func__, momentum);
    const real rlr = (real)lr, mu = (real)momentum, rl2 = (real)l2, decay = (real)(lr * wd);
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        real wi = w[i];
        real g = dw[i] + rl2 * wi;
        real vi = mu * v[i] + g;
        v[i] = vi;
        w[i] = wi - decay * wi - rlr * (g + mu * vi);
    }
    return CN_OK;
}

int FN(cn_ema_update)(cn_ctx *ctx, real *ema, const real *w, size_t n, double decay) {
    int rc = check_buf(ctx, __func__, ema, w, w, n);
    if (rc) return rc;
    if (!(decay >= 0 && decay <= 1))
        return cn_error(ctx, CN_EINVAL, "%s: decay = %g not in [0, 1]", __func__, decay);
    const real d = (real)decay, e = (real)(1 - decay);
#pragma omp simd
    for (size_t i = 0; i < n; i++) ema[i] = d * ema[i] + e * w[i];
    return CN_OK;
}

int FN(cn_lookahead_sync)(cn_ctx *ctx, real *slow, real *fast, size_t n, double alpha) {
    int rc = check_buf(ctx, __func__, slow, fast, fast, n);
    if (rc) return rc;
    if (!(alpha >= 0 && alpha <= 1))
        return cn_error(ctx, CN_EINVAL, "%s: alpha = %g not in [0, 1]", __func__, alpha);
    const real a = (real)alpha;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        real s = slow[i] + a * (fast[i] - slow[i]);
        slow[i] = s;
        fast[i] = s;
    }
    return CN_OK;
}
