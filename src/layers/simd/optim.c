/* simd/optim.c — the original's update rules, each one flat loop over all
 * parameters (they live in one contiguous block), and the Solver's fused
 * step (those rules and the recipe's Nesterov rule); compiled once per SIMD level (simd.h), called through optim_kern
 * (../optim.c has the public entry points). The loops are elementwise (no
 * reassociation), so every level gives the same bits; O3 lets GCC vectorize
 * them at the level's width. */
#pragma GCC optimize("O3")
#include "../simd.h"
#include "../kern.h"
#include <float.h>

static int sgd(real *w, const real *dw, size_t n, double lr) {
    const real a = (real)lr;
    for (size_t i = 0; i < n; i++) w[i] -= a * dw[i];
    return CN_OK;
}

/* v = momentum * v - lr * dw; w += v */
static int sgd_momentum(real *w, const real *dw, real *v, size_t n, double lr, double momentum) {
    const real a = (real)lr, mu = (real)momentum;
    for (size_t i = 0; i < n; i++) {
        v[i] = mu * v[i] - a * dw[i];
        w[i] += v[i];
    }
    return CN_OK;
}

/* cache = decay * cache + (1 - decay) * dw^2; w -= lr * dw / (sqrt(cache) + eps) */
static int rmsprop(real *w, const real *dw, real *cache, size_t n, double lr, double decay_rate,
                   double eps) {
    const real a = (real)lr, d = (real)decay_rate, e = (real)eps;
    for (size_t i = 0; i < n; i++) {
        cache[i] = d * cache[i] + (1 - d) * dw[i] * dw[i];
        w[i] -= a * dw[i] / (r_sqrt(cache[i]) + e);
    }
    return CN_OK;
}

/* m = b1 m + (1-b1) dw; mt = m / (1-b1^t); v = b2 v + (1-b2) dw^2;
 * vt = v / (1-b2^t); w -= lr * mt / (sqrt(vt) + eps) */
static int adam(real *w, const real *dw, real *m, real *v, size_t n, double lr, double beta1,
                double beta2, double eps, long t) {
    const real b1 = (real)beta1, b2 = (real)beta2, e = (real)eps, a = (real)lr;
    const real c1 = (real)(1.0 / (1.0 - pow(beta1, (double)t)));
    const real c2 = (real)(1.0 / (1.0 - pow(beta2, (double)t)));
    for (size_t i = 0; i < n; i++) {
        real g = dw[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * (g * g);
        real mt = m[i] * c1, vt = v[i] * c2;
        w[i] -= a * mt / (r_sqrt(vt) + e);
    }
    return CN_OK;
}

/* ---- the Solver's fused step -------------------------------------------
 * One pass over a segment of the flat parameter block does everything the
 * step needs of each parameter: the L2 gradient g = dw + reg*w, the L2 sum
 * of w^2 (before the update, for the loss), the rule's update, and a check
 * that g and the new w are finite. Lanes of 16 keep the sums and checks
 * vectorizable without reassociating anything across lanes (the result
 * depends only on how the block is split, i.e. on the thread count). */
#define LANES 16
#define FUSED_LOOP(BODY)                                                        \
    do {                                                                        \
        size_t i = 0;                                                           \
        for (; i + LANES <= n; i += LANES)                                      \
            for (int j = 0; j < LANES; j++) {                                   \
                size_t e = i + j;                                               \
                real wo = w[e], g = dw[e] + r * wo, wn;                         \
                BODY;                                                           \
                w[e] = wn;                                                      \
                ss[j] += (double)wo * wo;                                       \
                bad[j] |= !(fabs((double)g) <= DBL_MAX) | !(fabs((double)wn) <= DBL_MAX); \
            }                                                                   \
        for (; i < n; i++) {                                                    \
            size_t e = i;                                                       \
            real wo = w[e], g = dw[e] + r * wo, wn;                             \
            BODY;                                                               \
            w[e] = wn;                                                          \
            ss[0] += (double)wo * wo;                                           \
            bad[0] |= !(fabs((double)g) <= DBL_MAX) | !(fabs((double)wn) <= DBL_MAX); \
        }                                                                       \
    } while (0)

static int fused(int rule, real *w, const real *dw, real *m, real *v, size_t n,
                                   double reg, double lr, double p1, double p2, double eps, long t,
                                   double *sumsq) {
    double ss[LANES] = {0};
    int bad[LANES] = {0};
    const real r = (real)reg, a = (real)lr, e_ = (real)eps;
    switch (rule) {
    case 0: /* sgd */
        FUSED_LOOP(wn = wo - a * g);
        break;
    case 1: { /* sgd_momentum: p1 = momentum */
        const real mu = (real)p1;
        FUSED_LOOP(m[e] = mu * m[e] - a * g; wn = wo + m[e]);
        break;
    }
    case 2: { /* rmsprop: p1 = decay rate */
        const real d = (real)p1;
        FUSED_LOOP(m[e] = d * m[e] + (1 - d) * g * g; wn = wo - a * g / (r_sqrt(m[e]) + e_));
        break;
    }
    case 4: { /* nesterov (cn_sgd_nesterov with l2 = reg): p1 = momentum, p2 = decoupled weight decay */
        const real mu = (real)p1, decay = (real)(lr * p2);
        FUSED_LOOP(m[e] = mu * m[e] + g; wn = wo - decay * wo - a * (g + mu * m[e]));
        break;
    }
    default: { /* adam: p1, p2 = beta1, beta2 */
        const real b1 = (real)p1, b2 = (real)p2;
        const real c1 = (real)(1.0 / (1.0 - pow(p1, (double)t))), c2 = (real)(1.0 / (1.0 - pow(p2, (double)t)));
        FUSED_LOOP(m[e] = b1 * m[e] + (1 - b1) * g; v[e] = b2 * v[e] + (1 - b2) * (g * g);
                   wn = wo - a * (m[e] * c1) / (r_sqrt(v[e] * c2) + e_));
        break;
    }
    }
    double s = 0;
    int b = 0;
    for (int j = 0; j < LANES; j++) {
        s += ss[j];
        b |= bad[j];
    }
    *sumsq += s;
    return b ? CN_ENUM : CN_OK;
}

const optim_kern KFN(cn__optim_kern) = {sgd, sgd_momentum, rmsprop, adam, fused};
