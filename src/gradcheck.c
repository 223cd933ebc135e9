/* gradcheck.c — numeric gradients (centred differences) and rel_error. */
#include "internal.h"
#include <math.h>

int cn_eval_numerical_gradient(cn_ctx *ctx, double *grad, cn_scalar_fn f,
                               void *user, double *x, size_t n, double h) {
    if (!(h > 0)) return cn_error(ctx, CN_EINVAL, "numerical gradient: step h=%g must be > 0", h);
    for (size_t i = 0; i < n; i++) {
        double old = x[i];
        x[i] = old + h;
        double fxph = f(user);
        x[i] = old - h;
        double fxmh = f(user);
        x[i] = old;
        grad[i] = (fxph - fxmh) / (2 * h);
    }
    return CN_OK;
}

int cn_eval_numerical_gradient_array(cn_ctx *ctx, double *grad, cn_array_fn f,
                                     void *user, double *x, size_t n,
                                     const double *df, size_t m, double h,
                                     double *work) {
    if (!(h > 0)) return cn_error(ctx, CN_EINVAL, "numerical gradient: step h=%g must be > 0", h);
    double *pos = work, *neg = work + m;
    for (size_t i = 0; i < n; i++) {
        double old = x[i];
        x[i] = old + h;
        f(user, pos);
        x[i] = old - h;
        f(user, neg);
        x[i] = old;
        double s = 0;
        for (size_t j = 0; j < m; j++) s += (pos[j] - neg[j]) * df[j];
        grad[i] = s / (2 * h);
    }
    return CN_OK;
}

double cn_rel_error(const double *x, const double *y, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(x[i] - y[i]), s = fabs(x[i]) + fabs(y[i]);
        double e = d / (s > 1e-8 ? s : 1e-8);
        if (e > worst || isnan(e)) worst = e;
    }
    return worst;
}

double cn_rel_error_f32(const float *x, const float *y, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - y[i]), s = fabs((double)x[i]) + fabs((double)y[i]);
        double e = d / (s > 1e-8 ? s : 1e-8);
        if (e > worst || isnan(e)) worst = e;
    }
    return worst;
}
