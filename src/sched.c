/* sched.c — learning-rate schedules per iteration (include/convnet.h):
 * a pure function of (params, it, total), so a resumed run gets the same
 * rate from the iteration count alone. */
#include "internal.h"
#include <math.h>

int cn_lr_schedule(cn_ctx *ctx, double *lr, const cn_lr_sched *p, long it, long total) {
    if (!lr || !p) return cn_error(ctx, CN_EINVAL, "lr_schedule: NULL argument");
    if (p->kind != CN_LR_CONSTANT && p->kind != CN_LR_LINEAR && p->kind != CN_LR_COSINE)
        return cn_error(ctx, CN_EINVAL, "lr_schedule: unknown kind %d (0 constant, 1 linear, 2 cosine)",
                      (int)p->kind);
    if (!(p->lr > 0) || !isfinite(p->lr))
        return cn_error(ctx, CN_EINVAL, "lr_schedule: lr=%g must be a finite number > 0", p->lr);
    if (!(p->warmup >= 0 && p->warmup <= 1))
        return cn_error(ctx, CN_EINVAL, "lr_schedule: warmup=%g must be a fraction in [0, 1]",
                      p->warmup);
    if (!(p->start >= 0) || !isfinite(p->start) || !(p->end >= 0) || !isfinite(p->end))
        return cn_error(ctx, CN_EINVAL, "lr_schedule: start=%g and end=%g must be finite and >= 0",
                      p->start, p->end);
    if (total <= 0) return cn_error(ctx, CN_EINVAL, "lr_schedule: total=%ld must be > 0", total);
    if (it < 0 || it > total)
        return cn_error(ctx, CN_EINVAL, "lr_schedule: it=%ld is outside [0, total=%ld]", it, total);
    const double wu = p->warmup * (double)total, t = (double)it;
    if (t < wu) { /* warm-up: start*lr -> lr */
        double f = t / wu;
        *lr = p->lr * (p->start * (1 - f) + f);
        return CN_OK;
    }
    const double rest = (double)total - wu;
    const double f = rest > 0 ? (t - wu) / rest : 1;
    switch (p->kind) {
    case CN_LR_CONSTANT: *lr = p->lr; break;
    case CN_LR_LINEAR: *lr = p->lr * ((1 - f) + p->end * f); break;
    default: *lr = p->lr * (p->end + (1 - p->end) * 0.5 * (1 + cos(M_PI * f))); break;
    }
    return CN_OK;
}
