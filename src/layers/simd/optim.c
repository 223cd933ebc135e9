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
 * that g and the new w are finite. Element i + j of each block of LANES adds
 * to sum lane j (then the tail to lane 0, and the lanes in order), so the
 * sum depends only on how the block is split, i.e. on the thread count.
 *
 * Written with the level's vectors: the plain loop over lanes let GCC
 * vectorize it, but with an alias check per block, the sums and flags kept
 * on the stack and the checks in double: ~80 instructions per 16 floats,
 * compute-bound at 0.52 ns a parameter (avx512, in cache), where the
 * memory allows ~0.3. The arithmetic is the same expressions, per lane. */
#define LANES 16
typedef double vdbl __attribute__((vector_size(VBYTES)));
#define DLN (VBYTES / 8)   /* lanes of a vdbl */
#define NSV (LANES / DLN)  /* vdbl sums for the LANES lanes */
#define NRV (LANES / VLN)  /* vreals in a block of LANES */
#ifdef CN_REAL_F64
#define RMAX DBL_MAX
#else
#define RMAX FLT_MAX
/* the low / high half of a float vector, widened to doubles (memcpy
 * halves went through the stack) */
typedef float vhalf __attribute__((vector_size(VBYTES / 2)));
#if VLN == 16
#define HALF_LO 0, 1, 2, 3, 4, 5, 6, 7
#define HALF_HI 8, 9, 10, 11, 12, 13, 14, 15
#elif VLN == 8
#define HALF_LO 0, 1, 2, 3
#define HALF_HI 4, 5, 6, 7
#else
#define HALF_LO 0, 1
#define HALF_HI 2, 3
#endif
INLINE vdbl widen_lo(vreal v) { return __builtin_convertvector(__builtin_shufflevector(v, v, HALF_LO), vdbl); }
INLINE vdbl widen_hi(vreal v) { return __builtin_convertvector(__builtin_shufflevector(v, v, HALF_HI), vdbl); }
#endif

INLINE vreal vsqrt(vreal v) {
    vreal r;
    for (int l = 0; l < VLN; l++) r[l] = r_sqrt(v[l]);
    return r;
}

/* ss[] += wo^2 for the lanes of vreal q of a block */
INLINE void sum_sq(vdbl *ss, int q, vreal wo) {
#ifdef CN_REAL_F64
    ss[q] += wo * wo;
#else
    vdbl lo = widen_lo(wo), hi = widen_hi(wo);
    ss[2 * q] += lo * lo;
    ss[2 * q + 1] += hi * hi;
#endif
}

/* BODY: from wo, g (and the moments at m + e, v + e) the new wn;
 * VBODY the same on vectors (vm, vv: the moments, stored after) */
#define FUSED_LOOP(VBODY, BODY)                                                 \
    do {                                                                        \
        vdbl ss[NSV] = {0};                                                     \
        vmask okv = ~(vmask){0};                                                \
        const vreal rv = (vreal){0} + r;                                        \
        size_t i = 0;                                                           \
        for (; i + LANES <= n; i += LANES)                                      \
            for (int q = 0; q < NRV; q++) {                                     \
                size_t e = i + (size_t)q * VLN;                                 \
                vreal wo, d, vm, vv, wn;                                        \
                VLOAD(wo, w + e);                                               \
                VLOAD(d, dw + e);                                               \
                vreal g = d + rv * wo;                                          \
                (void)vm, (void)vv;                                             \
                VBODY;                                                          \
                VSTORE(w + e, wn);                                              \
                sum_sq(ss, q, wo);                                              \
                okv &= (g <= RMAX) & (g >= -RMAX) & (wn <= RMAX) & (wn >= -RMAX); \
            }                                                                   \
        double sl[LANES];                                                       \
        memcpy(sl, ss, sizeof sl);                                              \
        for (; i < n; i++) {                                                    \
            size_t e = i;                                                       \
            real wo = w[e], g = dw[e] + r * wo, wn;                             \
            BODY;                                                               \
            w[e] = wn;                                                          \
            sl[0] += (double)wo * wo;                                           \
            bad |= !(fabs((double)g) <= DBL_MAX) | !(fabs((double)wn) <= DBL_MAX); \
        }                                                                       \
        for (int l = 0; l < VLN; l++) bad |= okv[l] == 0;                       \
        for (int j = 0; j < LANES; j++) s += sl[j];                             \
    } while (0)

static int fused(int rule, real *restrict w, const real *restrict dw, real *restrict m, real *restrict v, size_t n,
                 double reg, double lr, double p1, double p2, double eps, long t, double *sumsq) {
    double s = 0;
    int bad = 0;
    const real r = (real)reg, a = (real)lr, e_ = (real)eps;
    switch (rule) {
    case 0: /* sgd */
        FUSED_LOOP(wn = wo - a * g, wn = wo - a * g);
        break;
    case 1: { /* sgd_momentum: p1 = momentum */
        const real mu = (real)p1;
        FUSED_LOOP(VLOAD(vm, m + e); vm = mu * vm - a * g; VSTORE(m + e, vm); wn = wo + vm,
                   m[e] = mu * m[e] - a * g; wn = wo + m[e]);
        break;
    }
    case 2: { /* rmsprop: p1 = decay rate */
        const real d1 = (real)p1;
        FUSED_LOOP(VLOAD(vm, m + e); vm = d1 * vm + (1 - d1) * g * g; VSTORE(m + e, vm);
                   wn = wo - a * g / (vsqrt(vm) + e_),
                   m[e] = d1 * m[e] + (1 - d1) * g * g; wn = wo - a * g / (r_sqrt(m[e]) + e_));
        break;
    }
    case 4: { /* nesterov (cn_sgd_nesterov with l2 = reg): p1 = momentum, p2 = decoupled weight decay */
        const real mu = (real)p1, decay = (real)(lr * p2);
        FUSED_LOOP(VLOAD(vm, m + e); vm = mu * vm + g; VSTORE(m + e, vm); wn = wo - decay * wo - a * (g + mu * vm),
                   m[e] = mu * m[e] + g; wn = wo - decay * wo - a * (g + mu * m[e]));
        break;
    }
    default: { /* adam: p1, p2 = beta1, beta2 */
        const real b1 = (real)p1, b2 = (real)p2;
        const real c1 = (real)(1.0 / (1.0 - pow(p1, (double)t))), c2 = (real)(1.0 / (1.0 - pow(p2, (double)t)));
        FUSED_LOOP(VLOAD(vm, m + e); VLOAD(vv, v + e); vm = b1 * vm + (1 - b1) * g; vv = b2 * vv + (1 - b2) * (g * g);
                   VSTORE(m + e, vm); VSTORE(v + e, vv); wn = wo - a * (vm * c1) / (vsqrt(vv * c2) + e_),
                   m[e] = b1 * m[e] + (1 - b1) * g; v[e] = b2 * v[e] + (1 - b2) * (g * g);
                   wn = wo - a * (m[e] * c1) / (r_sqrt(v[e] * c2) + e_));
        break;
    }
    }
    *sumsq += s;
    return bad ? CN_ENUM : CN_OK;
}

const optim_kern KFN(cn__optim_kern) = {sgd, sgd_momentum, rmsprop, adam, fused};
