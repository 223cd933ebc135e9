/* test_norm.c — batch norm, spatial batch norm, layer norm, spatial group
 * norm: through the harness (harness.h) fast vs naive at every SIMD level in
 * both dtypes (forward outputs, caches, running stats updated in place,
 * test mode; backward grads), the naive forward vs a long double one,
 * backward vs numeric gradients (float64); hand-computed values, the
 * notebook's statistics checks and bad arguments. */
#include "harness.h"
#include <string.h>

enum { BN, SBN, LN, GN };
static const char *kname[] = {"batchnorm", "spatial_batchnorm", "layernorm", "groupnorm"};

/* One layer and its sizes. BN/LN: x[N,D] with D = C, H = W = 1. */
typedef struct {
    int kind, N, C, H, W, G;
    cn_bn_param p; /* eps also for LN/GN */
} spec;

static cn_ctx *ctx;
static int show_threads; /* append the ctx's thread count to the check names */

static size_t nx(const spec *s) { return (size_t)s->N * s->C * s->H * s->W; }
static size_t np(const spec *s) { return (size_t)s->C; } /* gamma, beta, running stats */
static size_t ns(const spec *s) {                         /* cache */
    return s->kind == LN ? (size_t)s->N : s->kind == GN ? (size_t)s->N * s->G : (size_t)s->C;
}
static const char *shape(const spec *s) {
    static char buf[64];
    if (s->kind == BN || s->kind == LN) snprintf(buf, sizeof buf, "(%d,%d)", s->N, s->C);
    else if (s->kind == SBN) snprintf(buf, sizeof buf, "(%d,%d,%d,%d)", s->N, s->C, s->H, s->W);
    else snprintf(buf, sizeof buf, "(%d,%d,%d,%d) G=%d", s->N, s->C, s->H, s->W, s->G);
    if (show_threads) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, " nt=%d", cn_ctx_threads(ctx));
    }
    return buf;
}

#define DISPATCH(T, S)                                                                            \
    static int fwd_##S(const spec *s, int naive, T *out, T *cm, T *ci, const T *x, const T *g,   \
                       const T *b, T *rm, T *rv) {                                                \
        switch (s->kind) {                                                                        \
        case BN:                                                                                  \
            return (naive ? cn_batchnorm_forward_naive_##S : cn_batchnorm_forward_##S)(           \
                ctx, out, cm, ci, x, g, b, rm, rv, &s->p, s->N, s->C);                            \
        case SBN:                                                                                 \
            return (naive ? cn_spatial_batchnorm_forward_naive_##S                                \
                          : cn_spatial_batchnorm_forward_##S)(ctx, out, cm, ci, x, g, b, rm, rv,  \
                                                              &s->p, s->N, s->C, s->H, s->W);     \
        case LN:                                                                                  \
            return (naive ? cn_layernorm_forward_naive_##S : cn_layernorm_forward_##S)(           \
                ctx, out, cm, ci, x, g, b, s->p.eps, s->N, s->C);                                 \
        default:                                                                                  \
            return (naive ? cn_spatial_groupnorm_forward_naive_##S                                \
                          : cn_spatial_groupnorm_forward_##S)(ctx, out, cm, ci, x, g, b,          \
                                                              s->p.eps, s->G, s->N, s->C, s->H,   \
                                                              s->W);                              \
        }                                                                                         \
    }                                                                                             \
    static int bwd_##S(const spec *s, int naive, T *dx, T *dg, T *db, const T *dout, const T *x,  \
                       const T *g, const T *cm, const T *ci) {                                    \
        switch (s->kind) {                                                                        \
        case BN:                                                                                  \
            return (naive ? cn_batchnorm_backward_naive_##S : cn_batchnorm_backward_##S)(         \
                ctx, dx, dg, db, dout, x, g, cm, ci, s->N, s->C);                                 \
        case SBN:                                                                                 \
            return (naive ? cn_spatial_batchnorm_backward_naive_##S                               \
                          : cn_spatial_batchnorm_backward_##S)(ctx, dx, dg, db, dout, x, g, cm,   \
                                                               ci, s->N, s->C, s->H, s->W);       \
        case LN:                                                                                  \
            return (naive ? cn_layernorm_backward_naive_##S : cn_layernorm_backward_##S)(         \
                ctx, dx, dg, db, dout, x, g, cm, ci, s->N, s->C);                                 \
        default:                                                                                  \
            return (naive ? cn_spatial_groupnorm_backward_naive_##S                               \
                          : cn_spatial_groupnorm_backward_##S)(ctx, dx, dg, db, dout, x, g, cm,   \
                                                               ci, s->G, s->N, s->C, s->H, s->W); \
        }                                                                                         \
    }
DISPATCH(float, f32)
DISPATCH(double, f64)

/* max |a-b| / max(1e-8, max|b|) in float64 (relative to the reference's scale). */
static double scaled_error_f64(const double *a, const double *b, size_t n) { return hs_scaled(a, b, n, 1e-8); }
static double maxd(double a, double b) { return (a > b || isnan(a)) ? a : b; }
static int rc_ok(int rc) {
    if (rc) printf("     unexpected error %d: %s\n", rc, cn_ctx_error(ctx));
    return rc == 0;
}

/* ---- an independent train-mode forward in long double ----------------
 * Every layer here is out[i] = gamma[c(i)] * (x[i] - mean[k(i)]) * invstd[k(i)]
 * + beta[c(i)], the statistics taken over the elements sharing k(i). */
static void index_of(const spec *s, size_t i, size_t *k, size_t *c) {
    const size_t HW = (size_t)s->H * s->W, ch = (i / HW) % s->C, n = i / (HW * s->C);
    *c = ch;
    switch (s->kind) {
    case BN: *k = ch; break;                               /* per column */
    case SBN: *k = ch; break;                              /* per channel */
    case LN: *k = n; break;                                /* per row */
    default: *k = n * s->G + ch / (s->C / s->G); break;   /* per (n, g) */
    }
}
static void ref_forward(const spec *s, long double *out, const double *x, const double *g,
                        const double *b) {
    const size_t n = nx(s), K = ns(s);
    long double *sum = calloc(K, sizeof *sum), *sq = calloc(K, sizeof *sq), *cnt = calloc(K, sizeof *cnt);
    if (!sum || !sq || !cnt) { fprintf(stderr, "out of memory\n"); exit(2); }
    size_t k, c;
    for (size_t i = 0; i < n; i++) index_of(s, i, &k, &c), sum[k] += x[i], cnt[k] += 1;
    for (k = 0; k < K; k++) sum[k] /= cnt[k]; /* mean */
    for (size_t i = 0; i < n; i++) {
        index_of(s, i, &k, &c);
        sq[k] += (x[i] - sum[k]) * (x[i] - sum[k]);
    }
    for (k = 0; k < K; k++) sq[k] = 1 / sqrtl(sq[k] / cnt[k] + s->p.eps); /* invstd */
    for (size_t i = 0; i < n; i++) {
        index_of(s, i, &k, &c);
        out[i] = g[c] * (x[i] - sum[k]) * sq[k] + b[c];
    }
    free(sum), free(sq), free(cnt);
}

/* ---- the operations, for the harness (tests/harness.h) --------------------
 * One case: a layer in train or test mode, with the index of each tensor
 * (-1: absent, passed as NULL). */
typedef struct {
    spec s;
    int x, g, b, dout, rm, rv, out, cm, ci, dx, dg, db;
} ncase;
#define T(k) ((k) < 0 ? NULL : t[k])
static int norm_fwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    const ncase *q = c->p;
    if (f64) return fwd_f64(&q->s, naive, T(q->out), T(q->cm), T(q->ci), T(q->x), T(q->g), T(q->b), T(q->rm), T(q->rv));
    return fwd_f32(&q->s, naive, T(q->out), T(q->cm), T(q->ci), T(q->x), T(q->g), T(q->b), T(q->rm), T(q->rv));
}
static int norm_bwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    const ncase *q = c->p;
    if (f64) return bwd_f64(&q->s, naive, T(q->dx), T(q->dg), T(q->db), T(q->dout), T(q->x), T(q->g), T(q->cm), T(q->ci));
    return bwd_f32(&q->s, naive, T(q->dx), T(q->dg), T(q->db), T(q->dout), T(q->x), T(q->g), T(q->cm), T(q->ci));
}
#undef T
static void norm_ld(const hs_case *c, void *const *t, long double *out) {
    const ncase *q = c->p;
    ref_forward(&q->s, out, t[q->x], t[q->g], t[q->b]);
}

/* Tolerances: float64 fast vs naive (forward outputs, caches, running
 * stats; backward grads) scaled 1e-10; float32 naive and fast vs float64
 * naive scaled 1e-5; train-mode naive float64 vs long double 1e-13;
 * numeric gradients (float64, h = 1e-5, through the long double forward)
 * elementwise relative 1e-7 (spatial batch norm 1e-6: its sums over N*H*W
 * are longer). */
static hs_op norm_op(int kind, int train) {
    hs_op op = {kname[kind], norm_fwd, train ? norm_bwd : NULL,
                {.f64 = 1e-10, .f32 = 1e-5, .f32naive = 1e-5, .f32pair = -1,
                 .num = kind == SBN ? 1e-6 : 1e-7, .metric64 = HS_SCALED, .metric_num = HS_REL, .ld = 1e-13}};
    return op;
}

/* Train mode: out, cache and (batch norms) running stats, updated in place
 * from fresh values every run; backward from that run's cache, and with
 * dx = NULL the same dgamma, dbeta bit for bit (naive and fast). Test mode
 * (batch norms): out from given running stats. Fast against naive at every
 * SIMD level, float32 against float64; numeric gradients when asked. */
static void run_case(spec s, uint64_t seed, int numgrad) {
    const size_t n = nx(&s), P = np(&s), K = ns(&s);
    const int has_run = s.kind == BN || s.kind == SBN;
    const char *sh = shape(&s);
    for (int train = 1; train >= (has_run ? 0 : 1); train--) {
        hs_op op = norm_op(s.kind, train);
        ncase q = {s, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
        q.s.p.train = train;
        hs_case c = hs_new(&op, &q, seed, HS_LEVELS | (train ? HS_NULLGRAD | HS_NULLGRAD_NAIVE : 0) |
                                              (train && numgrad ? HS_NUMGRAD : 0),
                           "%s %s", sh, train ? "train" : "test");
        q.x = hs_in(&c, "x", n, HS_NORMAL, 3);
        hs_shift(&c, q.x, 2);
        q.g = hs_in(&c, "gamma", P, HS_NORMAL, 0.5);
        hs_shift(&c, q.g, 1);
        q.b = hs_in(&c, "beta", P, HS_NORMAL, 1);
        if (train) q.dout = hs_dout(&c, "dout", n);
        if (has_run) {
            /* train: updated in place; test: read */
            q.rm = (train ? hs_state : hs_in)(&c, "running_mean", P, HS_NORMAL, 1);
            q.rv = (train ? hs_state : hs_in)(&c, "running_var", P, HS_UNIFORM, 1);
            hs_shift(&c, q.rv, 0.5);
        }
        q.out = hs_out(&c, "out", n);
        if (train) {
            q.cm = hs_out(&c, "cache_mean", K);
            q.ci = hs_out(&c, "cache_invstd", K);
            q.dx = hs_grad(&c, "dx", q.x);
            q.dg = hs_grad(&c, "dgamma", q.g);
            q.db = hs_grad(&c, "dbeta", q.b);
            c.ref_ld = norm_ld;
        }
        hs_check(ctx, &c);
    }
}

/* ---- values worked out by hand ---------------------------------------- */
static void hand_checks(void) {
    const double eps = 1e-5, i0 = 1 / sqrt(1 + eps), i1 = 1 / sqrt(4 + eps);
    /* batchnorm N=2, D=2: columns [1,3] (mean 2, var 1), [10,14] (mean 12, var 4) */
    const double x[4] = {1, 10, 3, 14}, g[2] = {2, 0.5}, b[2] = {0.5, -1};
    const double want_out[4] = {0.5 - 2 * i0, -1 - 0.5 * 2 * i1, 0.5 + 2 * i0, -1 + 0.5 * 2 * i1};
    const double want_cm[2] = {2, 12}, want_ci[2] = {i0, i1};
    const double want_rm[2] = {0.1 * 2, 0.9 * 1 + 0.1 * 12}, want_rv[2] = {0.1 * 1, 0.9 * 1 + 0.1 * 4};
    double want_test[4];
    for (int k = 0; k < 4; k++) {
        int d = k % 2;
        want_test[k] = g[d] * (x[k] - want_rm[d]) / sqrt(want_rv[d] + eps) + b[d];
    }
    spec s = {BN, 2, 2, 1, 1, 0, {1, eps, 0.9}};
    for (int naive = 1; naive >= 0; naive--) {
        char name[128];
        const char *w = naive ? "naive" : "fast";
        double out[4], cm[2], ci[2], rm[2] = {0, 1}, rv[2] = {0, 1}, tout[4];
        s.p.train = 1;
        int ok = rc_ok(fwd_f64(&s, naive, out, cm, ci, x, g, b, rm, rv));
        double e = maxd(maxd(scaled_error_f64(out, want_out, 4), scaled_error_f64(cm, want_cm, 2)),
                        maxd(scaled_error_f64(ci, want_ci, 2),
                             maxd(scaled_error_f64(rm, want_rm, 2), scaled_error_f64(rv, want_rv, 2))));
        snprintf(name, sizeof name, "batchnorm hand (2,2) train f64 %s (out,cache,running)", w);
        check_le(name, ok ? e : NAN, 1e-15);
        s.p.train = 0;
        ok = rc_ok(fwd_f64(&s, naive, tout, NULL, NULL, x, g, b, rm, rv));
        snprintf(name, sizeof name, "batchnorm hand (2,2) test f64 %s", w);
        check_le(name, ok ? scaled_error_f64(tout, want_test, 4) : NAN, 1e-15);

        float x32[4], g32[2], b32[2], o32[4], cm32[2], ci32[2], rm32[2] = {0, 1}, rv32[2] = {0, 1};
        to_f32(x32, x, 4), to_f32(g32, g, 2), to_f32(b32, b, 2);
        s.p.train = 1;
        ok = rc_ok(fwd_f32(&s, naive, o32, cm32, ci32, x32, g32, b32, rm32, rv32));
        e = maxd(maxd(scaled_error_f32(o32, want_out, 4), scaled_error_f32(cm32, want_cm, 2)),
                 maxd(scaled_error_f32(ci32, want_ci, 2),
                      maxd(scaled_error_f32(rm32, want_rm, 2), scaled_error_f32(rv32, want_rv, 2))));
        snprintf(name, sizeof name, "batchnorm hand (2,2) train f32 %s (out,cache,running)", w);
        check_le(name, ok ? e : NAN, 1e-6);
    }
    /* layernorm x = [[1, 3]]: xhat = [-1, 1] / sqrt(1 + eps) */
    {
        const double lx[2] = {1, 3}, one[2] = {1, 1}, zero[2] = {0, 0}, want[2] = {-i0, i0};
        spec l = {LN, 1, 2, 1, 1, 0, {1, eps, 0.9}};
        for (int naive = 1; naive >= 0; naive--) {
            double o[2], m, v;
            int ok = rc_ok(fwd_f64(&l, naive, o, &m, &v, lx, one, zero, NULL, NULL));
            double e = maxd(scaled_error_f64(o, want, 2), fabs(m - 2) / 2 + fabs(v - i0));
            check_le(naive ? "layernorm hand (1,2) f64 naive (out,cache)"
                           : "layernorm hand (1,2) f64 fast (out,cache)", ok ? e : NAN, 1e-15);
        }
    }
    /* groupnorm (1,2,1,2), G=2: channels [1,3] and [10,14] normalized alone,
     * gamma/beta per channel */
    {
        const double gx[4] = {1, 3, 10, 14};
        const double want[4] = {0.5 - 2 * i0, 0.5 + 2 * i0, -1 - 0.5 * 2 * i1, -1 + 0.5 * 2 * i1};
        spec l = {GN, 1, 2, 1, 2, 2, {1, eps, 0.9}};
        for (int naive = 1; naive >= 0; naive--) {
            double o[4], m[2], v[2];
            int ok = rc_ok(fwd_f64(&l, naive, o, m, v, gx, g, b, NULL, NULL));
            double e = maxd(maxd(scaled_error_f64(o, want, 4), scaled_error_f64(m, want_cm, 2)),
                            scaled_error_f64(v, want_ci, 2));
            check_le(naive ? "groupnorm hand (1,2,1,2) G=2 f64 naive (out,cache)"
                           : "groupnorm hand (1,2,1,2) G=2 f64 fast (out,cache)", ok ? e : NAN, 1e-15);
        }
    }
}

/* group norm with G = 1 is layer norm over C*H*W (gamma = 1, beta = 0) */
static void groupnorm_vs_layernorm(void) {
    const int N = 3, C = 4, H = 3, W = 5, D = C * H * W;
    cn_rng r;
    cn_rng_seed(&r, 7);
    double *x = xmalloc(8 * N * D), *o1 = xmalloc(8 * N * D), *o2 = xmalloc(8 * N * D);
    double *one = xmalloc(8 * D), *zero = xmalloc(8 * D), m1[3], v1[3], m2[3], v2[3];
    for (int i = 0; i < N * D; i++) x[i] = 5 + 2 * cn_rng_normal(&r);
    for (int i = 0; i < D; i++) one[i] = 1;
    int ok = rc_ok(cn_spatial_groupnorm_forward_f64(ctx, o1, m1, v1, x, one, zero, 1e-5, 1, N, C, H, W)) &&
             rc_ok(cn_layernorm_forward_naive_f64(ctx, o2, m2, v2, x, one, zero, 1e-5, N, D));
    double e = maxd(scaled_error_f64(o1, o2, N * D),
                    maxd(scaled_error_f64(m1, m2, N), scaled_error_f64(v1, v2, N)));
    check_le("groupnorm G=1 fast == layernorm naive over C*H*W", ok ? e : NAN, 1e-12);
    free(x), free(o1), free(o2), free(one), free(zero);
}

/* per-channel mean and (population) std of y[N,C,H,W] */
static void chan_stats(const double *y, int N, int C, int HW, double *mean, double *sd) {
    for (int c = 0; c < C; c++) {
        double s = 0, v = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) s += y[((size_t)n * C + c) * HW + i];
        s /= (double)N * HW;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double t = y[((size_t)n * C + c) * HW + i] - s;
                v += t * t;
            }
        mean[c] = s;
        sd[c] = sqrt(v / ((double)N * HW));
    }
}

/* The notebook's spatial batch norm checks. */
static void sbn_statistics(void) {
    enum { N = 2, C = 3, H = 4, W = 5, HW = H * W, NX = N * C * HW };
    cn_rng r;
    cn_rng_seed(&r, 231);
    double x[NX], out[NX], cm[C], ci[C], mean[C], sd[C];
    float x32[NX], o32[NX], cm32[C], ci32[C];
    for (int i = 0; i < NX; i++) x[i] = 10 + 4 * cn_rng_normal(&r);
    to_f32(x32, x, NX);
    const double g1[C] = {1, 1, 1}, b0[C] = {0, 0, 0}, g3[C] = {3, 4, 5}, b6[C] = {6, 7, 8};
    cn_bn_param p = CN_BN_DEFAULT;
    char name[128];
    for (int set = 0; set < 2; set++) {
        const double *g = set ? g3 : g1, *b = set ? b6 : b0;
        float g32[C], b32[C];
        to_f32(g32, g, C), to_f32(b32, b, C);
        for (int k = 0; k < 4; k++) { /* naive f64, fast f64, naive f32, fast f32 */
            int naive = !(k & 1), f32 = k >= 2, ok;
            if (f32) {
                ok = rc_ok((naive ? cn_spatial_batchnorm_forward_naive_f32 : cn_spatial_batchnorm_forward_f32)(
                    ctx, o32, cm32, ci32, x32, g32, b32, NULL, NULL, &p, N, C, H, W));
                to_f64(out, o32, NX);
            } else {
                ok = rc_ok((naive ? cn_spatial_batchnorm_forward_naive_f64 : cn_spatial_batchnorm_forward_f64)(
                    ctx, out, cm, ci, x, g, b, NULL, NULL, &p, N, C, H, W));
            }
            chan_stats(out, N, C, HW, mean, sd);
            double em = 0, es = 0;
            for (int c = 0; c < C; c++) {
                em = maxd(em, fabs(mean[c] - b[c]));
                es = maxd(es, fabs(sd[c] - g[c]) / g[c]);
            }
            const char *w = naive ? "naive" : "fast", *t = f32 ? "f32" : "f64";
            snprintf(name, sizeof name, "sbn x=10+4randn %s %s: |chan mean - beta| (%s)", t, w,
                     set ? "gamma=3,4,5 beta=6,7,8" : "gamma=1 beta=0");
            check_le(name, ok ? em : NAN, f32 ? 1e-5 : 1e-12);
            snprintf(name, sizeof name, "sbn x=10+4randn %s %s: |chan std/gamma - 1| (%s)", t, w,
                     set ? "gamma=3,4,5 beta=6,7,8" : "gamma=1 beta=0");
            check_le(name, ok ? es : NAN, 1e-5); /* eps shifts std by ~eps/(2 var) */
        }
    }
}

/* 50 train passes (x = 13 + 2.3 randn redrawn, momentum 0.9, running stats
 * start at 0 and 1), then test mode on fresh data: per-channel means ~0 and
 * stds ~1. */
static void sbn_running(void) {
    enum { N = 10, C = 3, H = 4, W = 5, HW = H * W, NT = 50, NX = NT * C * HW };
    cn_rng r;
    cn_rng_seed(&r, 5);
    static double x[NX], out[NX];
    const double g[C] = {1, 1, 1}, b[C] = {0, 0, 0};
    cn_bn_param p = CN_BN_DEFAULT;
    for (int fast = 0; fast < 2; fast++) {
        double rm[C] = {0, 0, 0}, rv[C] = {1, 1, 1}, cm[C], ci[C], mean[C], sd[C];
        int ok = 1;
        p.train = 1;
        for (int t = 0; t < 50; t++) {
            for (int i = 0; i < N * C * HW; i++) x[i] = 13 + 2.3 * cn_rng_normal(&r);
            ok &= rc_ok((fast ? cn_spatial_batchnorm_forward_f64 : cn_spatial_batchnorm_forward_naive_f64)(
                ctx, out, cm, ci, x, g, b, rm, rv, &p, N, C, H, W));
        }
        p.train = 0;
        for (int i = 0; i < NX; i++) x[i] = 13 + 2.3 * cn_rng_normal(&r);
        ok &= rc_ok((fast ? cn_spatial_batchnorm_forward_f64 : cn_spatial_batchnorm_forward_naive_f64)(
            ctx, out, NULL, NULL, x, g, b, rm, rv, &p, NT, C, H, W));
        chan_stats(out, NT, C, HW, mean, sd);
        double em = 0, es = 0;
        for (int c = 0; c < C; c++) em = maxd(em, fabs(mean[c])), es = maxd(es, fabs(sd[c] - 1));
        check_le(fast ? "sbn 50 train passes, test mode fast: max |chan mean|"
                      : "sbn 50 train passes, test mode naive: max |chan mean|", ok ? em : NAN, 0.15);
        check_le(fast ? "sbn 50 train passes, test mode fast: max |chan std - 1|"
                      : "sbn 50 train passes, test mode naive: max |chan std - 1|", ok ? es : NAN, 0.15);
    }
}

/* float32 data far from 0 (mean 100, std 1): sums in double and a two-pass
 * variance keep float32 fast within 1e-5 of float64 on the same inputs
 * (E[x^2] - E[x]^2 in float would lose ~1e-3 of the variance here). */
static void f32_offset(void) {
    enum { N = 16, C = 4, H = 8, W = 8, NX = N * C * H * W };
    cn_rng r;
    cn_rng_seed(&r, 11);
    static double x[NX], out[NX];
    static float x32[NX], o32[NX];
    for (int i = 0; i < NX; i++) x32[i] = (float)(100 + cn_rng_normal(&r));
    to_f64(x, x32, NX);
    const double g[C] = {1, 1, 1, 1}, b[C] = {0, 0, 0, 0};
    const float g32[C] = {1, 1, 1, 1}, b32[C] = {0, 0, 0, 0};
    double cm[C], ci[C], gm[N], gi[N];
    float cm32[C], ci32[C], gm32[N], gi32[N];
    cn_bn_param p = CN_BN_DEFAULT;
    int ok = rc_ok(cn_spatial_batchnorm_forward_naive_f64(ctx, out, cm, ci, x, g, b, NULL, NULL, &p, N, C, H, W)) &&
             rc_ok(cn_spatial_batchnorm_forward_f32(ctx, o32, cm32, ci32, x32, g32, b32, NULL, NULL, &p, N, C, H, W));
    check_le("sbn f32 fast, x = 100 + randn: out vs f64", ok ? scaled_error_f32(o32, out, NX) : NAN, 1e-5);
    check_le("sbn f32 fast, x = 100 + randn: invstd vs f64", ok ? scaled_error_f32(ci32, ci, C) : NAN, 1e-5);
    ok = rc_ok(cn_spatial_groupnorm_forward_naive_f64(ctx, out, gm, gi, x, g, b, 1e-5, 1, N, C, H, W)) &&
         rc_ok(cn_spatial_groupnorm_forward_f32(ctx, o32, gm32, gi32, x32, g32, b32, 1e-5, 1, N, C, H, W));
    check_le("groupnorm f32 fast, x = 100 + randn: out vs f64", ok ? scaled_error_f32(o32, out, NX) : NAN, 1e-5);
    check_le("groupnorm f32 fast, x = 100 + randn: invstd vs f64", ok ? scaled_error_f32(gi32, gi, N) : NAN, 1e-5);
}

/* ---- bad arguments: CN_EINVAL with a message naming the value ----------- */
static void expect_einval(const char *name, int rc, const char *needle) {
    hs_expect_err(ctx, name, rc, CN_EINVAL, needle);
}

static void bad_args(void) {
    double x[240] = {0}, o[240], g[6] = {1, 1, 1, 1, 1, 1}, b[6] = {0}, m[24], v[24], rm[6] = {0},
           rv[6] = {1, 1, 1, 1, 1, 1};
    float x32[240] = {0}, o32[240], g32[6] = {1, 1, 1, 1, 1, 1}, b32[6] = {0}, m32[24], v32[24];
    for (int i = 0; i < 240; i++) x[i] = x32[i] = (float)(i % 7);
    cn_bn_param p = CN_BN_DEFAULT;
    /* group norm: G must divide C */
    cn_error(ctx, 0, "%s", "");
    expect_einval("groupnorm fwd f64 fast G=4 C=6",
                  cn_spatial_groupnorm_forward_f64(ctx, o, m, v, x, g, b, 1e-5, 4, 2, 6, 4, 5), "G=4");
    expect_einval("groupnorm fwd f64 naive G=4 C=6",
                  cn_spatial_groupnorm_forward_naive_f64(ctx, o, m, v, x, g, b, 1e-5, 4, 2, 6, 4, 5), "C=6");
    expect_einval("groupnorm fwd f32 fast G=0",
                  cn_spatial_groupnorm_forward_f32(ctx, o32, m32, v32, x32, g32, b32, 1e-5, 0, 2, 6, 4, 5), "G=0");
    expect_einval("groupnorm fwd f32 naive G=-2",
                  cn_spatial_groupnorm_forward_naive_f32(ctx, o32, m32, v32, x32, g32, b32, 1e-5, -2, 2, 6, 4, 5), "G=-2");
    expect_einval("groupnorm bwd f64 fast G=4 C=6",
                  cn_spatial_groupnorm_backward_f64(ctx, o, g, b, x, x, g, m, v, 4, 2, 6, 4, 5), "G=4");
    expect_einval("groupnorm bwd f32 naive G=5 C=6",
                  cn_spatial_groupnorm_backward_naive_f32(ctx, o32, g32, b32, x32, x32, g32, m32, v32, 5, 2, 6, 4, 5), "G=5");
    /* eps <= 0, NaN */
    const double bad_eps[3] = {0, -1e-5, NAN};
    for (int k = 0; k < 3; k++) {
        char name[128];
        p.eps = bad_eps[k];
        snprintf(name, sizeof name, "batchnorm fwd f64 fast eps=%g", bad_eps[k]);
        expect_einval(name, cn_batchnorm_forward_f64(ctx, o, m, v, x, g, b, rm, rv, &p, 4, 6), "eps=");
        snprintf(name, sizeof name, "batchnorm fwd f32 naive eps=%g", bad_eps[k]);
        expect_einval(name, cn_batchnorm_forward_naive_f32(ctx, o32, m32, v32, x32, g32, b32, NULL, NULL, &p, 4, 6), "eps=");
        snprintf(name, sizeof name, "sbn fwd f64 fast eps=%g (test mode)", bad_eps[k]);
        p.train = 0;
        expect_einval(name, cn_spatial_batchnorm_forward_f64(ctx, o, m, v, x, g, b, rm, rv, &p, 2, 6, 4, 5), "eps=");
        p.train = 1;
        snprintf(name, sizeof name, "sbn fwd f32 naive eps=%g", bad_eps[k]);
        expect_einval(name, cn_spatial_batchnorm_forward_naive_f32(ctx, o32, m32, v32, x32, g32, b32, NULL, NULL, &p, 2, 6, 4, 5), "eps=");
        snprintf(name, sizeof name, "layernorm fwd f64 fast eps=%g", bad_eps[k]);
        expect_einval(name, cn_layernorm_forward_f64(ctx, o, m, v, x, g, b, bad_eps[k], 4, 6), "eps=");
        snprintf(name, sizeof name, "layernorm fwd f32 naive eps=%g", bad_eps[k]);
        expect_einval(name, cn_layernorm_forward_naive_f32(ctx, o32, m32, v32, x32, g32, b32, bad_eps[k], 4, 6), "eps=");
        snprintf(name, sizeof name, "groupnorm fwd f64 fast eps=%g", bad_eps[k]);
        expect_einval(name, cn_spatial_groupnorm_forward_f64(ctx, o, m, v, x, g, b, bad_eps[k], 3, 2, 6, 4, 5), "eps=");
        snprintf(name, sizeof name, "groupnorm fwd f32 naive eps=%g", bad_eps[k]);
        expect_einval(name, cn_spatial_groupnorm_forward_naive_f32(ctx, o32, m32, v32, x32, g32, b32, bad_eps[k], 3, 2, 6, 4, 5), "eps=");
    }
    p = (cn_bn_param)CN_BN_DEFAULT;
    /* shapes <= 0 */
    expect_einval("batchnorm fwd f64 fast N=0", cn_batchnorm_forward_f64(ctx, o, m, v, x, g, b, rm, rv, &p, 0, 6), "N=0");
    expect_einval("batchnorm bwd f64 naive D=-1", cn_batchnorm_backward_naive_f64(ctx, o, g, b, x, x, g, m, v, 4, -1), "D=-1");
    expect_einval("sbn bwd f32 fast H=0", cn_spatial_batchnorm_backward_f32(ctx, o32, g32, b32, x32, x32, g32, m32, v32, 2, 6, 0, 5), "H=0");
    expect_einval("layernorm bwd f64 fast N=-3", cn_layernorm_backward_f64(ctx, o, g, b, x, x, g, m, v, -3, 6), "N=-3");
    /* test mode without running stats; momentum out of range; no param */
    p.train = 0;
    expect_einval("batchnorm fwd f64 fast test mode, running stats NULL",
                  cn_batchnorm_forward_f64(ctx, o, NULL, NULL, x, g, b, NULL, NULL, &p, 4, 6), "running_mean");
    expect_einval("sbn fwd f32 naive test mode, running stats NULL",
                  cn_spatial_batchnorm_forward_naive_f32(ctx, o32, NULL, NULL, x32, g32, b32, NULL, NULL, &p, 2, 6, 4, 5), "running_mean");
    p.train = 1;
    p.momentum = 1.5;
    expect_einval("batchnorm fwd f64 naive momentum=1.5",
                  cn_batchnorm_forward_naive_f64(ctx, o, m, v, x, g, b, rm, rv, &p, 4, 6), "momentum=1.5");
    expect_einval("batchnorm fwd f32 fast bn_param NULL",
                  cn_batchnorm_forward_f32(ctx, o32, m32, v32, x32, g32, b32, NULL, NULL, NULL, 4, 6), "NULL");
}

int main(void) {
    ctx = cn_ctx_new(0);
    if (!ctx) return 2;
    const cn_bn_param P = CN_BN_DEFAULT;
    /* small shapes: everything, numeric gradients included */
    run_case((spec){BN, 4, 5, 1, 1, 0, P}, 1, 1);
    run_case((spec){LN, 4, 5, 1, 1, 0, P}, 2, 1);
    run_case((spec){SBN, 2, 3, 4, 5, 0, P}, 3, 1);
    run_case((spec){GN, 2, 6, 4, 5, 2, P}, 4, 1);
    run_case((spec){GN, 2, 6, 4, 5, 3, P}, 5, 1);
    /* larger shapes: several column blocks, the OpenMP paths (> 32768 elements) */
    run_case((spec){BN, 300, 130, 1, 1, 0, P}, 6, 0);
    run_case((spec){LN, 300, 130, 1, 1, 0, P}, 7, 0);
    run_case((spec){SBN, 8, 16, 16, 20, 0, P}, 8, 0);
    run_case((spec){GN, 8, 16, 16, 20, 4, P}, 9, 0);
    /* the per-thread partial sums: same results with 1 and 3 threads */
    show_threads = 1;
    for (int nt = 1; nt <= 3; nt += 2) {
        cn_ctx_set_threads(ctx, nt);
        run_case((spec){BN, 301, 131, 1, 1, 0, P}, 10, 0);
        run_case((spec){LN, 301, 131, 1, 1, 0, P}, 11, 0);
        run_case((spec){SBN, 9, 7, 16, 20, 0, P}, 12, 0);
        run_case((spec){GN, 9, 6, 16, 20, 3, P}, 13, 0);
    }
    cn_ctx_set_threads(ctx, 0);
    show_threads = 0;
    hand_checks();
    groupnorm_vs_layernorm();
    sbn_statistics();
    sbn_running();
    f32_offset();
    bad_args();
    cn_ctx_free(ctx);
    return check_done();
}
