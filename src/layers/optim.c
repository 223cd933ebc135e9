/* optim.c — the original's update rules and the Solver's fused step: entry
 * points that call the kernels of a SIMD level (simd/optim.c). The public
 * rules take no context: they run at the CPU's best level (every level
 * gives the same bits: the loops are elementwise). */
#include "kern.h"

int FN(cn_sgd)(real *w, const real *dw, size_t n, double lr) {
    return optim_kern_for(cn__simd(NULL))->sgd(w, dw, n, lr);
}

int FN(cn_sgd_momentum)(real *w, const real *dw, real *v, size_t n, double lr, double momentum) {
    return optim_kern_for(cn__simd(NULL))->sgd_momentum(w, dw, v, n, lr, momentum);
}

int FN(cn_rmsprop)(real *w, const real *dw, real *cache, size_t n, double lr, double decay_rate,
                   double eps) {
    return optim_kern_for(cn__simd(NULL))->rmsprop(w, dw, cache, n, lr, decay_rate, eps);
}

int FN(cn_adam)(real *w, const real *dw, real *m, real *v, size_t n, double lr, double beta1,
                double beta2, double eps, long t) {
    return optim_kern_for(cn__simd(NULL))->adam(w, dw, m, v, n, lr, beta1, beta2, eps, t);
}

int FN(cn__update_fused)(int level, int rule, real *w, const real *dw, real *m, real *v, size_t n,
                         double reg, double lr, double p1, double p2, double eps, long t,
                         double *sumsq) {
    return optim_kern_for(level)->fused(rule, w, dw, m, v, n, reg, lr, p1, p2, eps, t, sumsq);
}
