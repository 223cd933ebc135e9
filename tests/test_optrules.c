/* test_optrules.c — the recipe's optimizer pieces: Nesterov SGD with
 * coupled L2 and decoupled decay against PyTorch's SGD written out step by
 * step (float64 reference, both dtypes), hand values; EMA and Lookahead
 * against their closed forms; the learning-rate schedules against
 * airbench94's get_lr and hand values; bad arguments. */
#include "harness.h"
#include <string.h>

static cn_ctx *ctx;

static void expect_err(const char *name, int rc, int code, const char *needle) {
    hs_expect_err(ctx, name, rc, code, needle);
}

/* torch.optim.SGD.step (momentum, dampening 0, nesterov, weight_decay l2),
 * then the decoupled decay applied as AdamW does it, on w before the step:
 *   d_p = g + l2 w; buf = mom buf + d_p; d_p = d_p + mom buf;
 *   w_new = w (1 - lr wd) - lr d_p */
static void torch_ref(double *w, const double *g, double *buf, size_t n, double lr, double mom,
                      double l2, double wd) {
    for (size_t i = 0; i < n; i++) {
        double d_p = g[i] + l2 * w[i];
        buf[i] = mom * buf[i] + d_p;
        d_p = d_p + mom * buf[i];
        w[i] = w[i] * (1 - lr * wd) - lr * d_p;
    }
}

static void nesterov(void) {
    /* hand: w = 1, dw = 0.5 twice, lr 0.1, momentum 0.9: v = 0.5, w = 0.905;
     * v = 0.95, w = 0.905 - 0.1 (0.5 + 0.855) = 0.7695 */
    double w[1] = {1}, dw[1] = {0.5}, v[1] = {0};
    int rc = cn_sgd_nesterov_f64(ctx, w, dw, v, 1, 0.1, 0.9, 0, 0);
    double e = fabs(w[0] - 0.905) + fabs(v[0] - 0.5);
    rc |= cn_sgd_nesterov_f64(ctx, w, dw, v, 1, 0.1, 0.9, 0, 0);
    e += fabs(w[0] - 0.7695) + fabs(v[0] - 0.95);
    check_le("nesterov hand: 2 steps w = 0.905, 0.7695", rc ? 1 : e, 1e-15);
    /* decoupled decay alone with dw = 0: w = w (1 - lr wd) */
    double w2[1] = {2}, z[1] = {0}, v2[1] = {0};
    rc = cn_sgd_nesterov_f64(ctx, w2, z, v2, 1, 0.5, 0.9, 0, 0.1);
    check_le("nesterov hand: dw = 0, wd = 0.1, lr = 0.5: w = 2 * 0.95", rc ? 1 : fabs(w2[0] - 1.9), 1e-15);
    /* against the PyTorch steps, 20 iterations, varying lr (a schedule) */
    const size_t n = 10007;
    cn_rng r;
    cn_rng_seed(&r, 3);
    double *w64 = xmalloc(8 * n), *v64 = xmalloc(8 * n), *wr = xmalloc(8 * n), *vr = xmalloc(8 * n);
    double *g = xmalloc(8 * n);
    float *w32 = xmalloc(4 * n), *v32 = xmalloc(4 * n), *g32 = xmalloc(4 * n);
    const double cases[3][2] = {{0.0, 5e-4}, {0.3, 0.0}, {0.3, 5e-4}}; /* l2, wd */
    for (int k = 0; k < 3; k++) {
        fill_normal(&r, wr, n, 1);
        memcpy(w64, wr, 8 * n);
        to_f32(w32, wr, n);
        memset(vr, 0, 8 * n);
        memset(v64, 0, 8 * n);
        memset(v32, 0, 4 * n);
        rc = 0;
        for (int it = 0; it < 20; it++) {
            double lr = 0.2 + 0.04 * it;
            fill_normal(&r, g, n, 1);
            to_f32(g32, g, n);
            torch_ref(wr, g, vr, n, lr, 0.85, cases[k][0], cases[k][1]);
            rc |= cn_sgd_nesterov_f64(ctx, w64, g, v64, n, lr, 0.85, cases[k][0], cases[k][1]);
            rc |= cn_sgd_nesterov_f32(ctx, w32, g32, v32, n, lr, 0.85, cases[k][0], cases[k][1]);
        }
        char name[160];
        snprintf(name, sizeof name, "nesterov f64 vs PyTorch's steps, 20 its, l2=%g wd=%g (w, v)", cases[k][0], cases[k][1]);
        check_le(name, rc ? 1 : fmax(scaled_error(w64, wr, n), scaled_error(v64, vr, n)), 1e-13);
        snprintf(name, sizeof name, "nesterov f32 vs PyTorch's steps, 20 its, l2=%g wd=%g (w, v)", cases[k][0], cases[k][1]);
        check_le(name, rc ? 1 : fmax(scaled_error_f32(w32, wr, n), scaled_error_f32(v32, vr, n)), 2e-6);
    }
    expect_err("nesterov momentum=1 -> CN_EINVAL", cn_sgd_nesterov_f32(ctx, w32, g32, v32, 1, 0.1, 1.0, 0, 0), CN_EINVAL,
               "momentum = 1");
    free(w64); free(v64); free(wr); free(vr); free(g); free(w32); free(v32); free(g32);
    expect_err("nesterov lr=NaN -> CN_EINVAL", cn_sgd_nesterov_f64(ctx, w, dw, v, 1, NAN, 0.9, 0, 0), CN_EINVAL, "lr = nan");
    expect_err("nesterov v NULL -> CN_EINVAL", cn_sgd_nesterov_f64(ctx, w, dw, NULL, 1, 0.1, 0.9, 0, 0), CN_EINVAL,
               "third buffer is NULL");
    check_true("nesterov bad argument, ctx NULL -> CN_EINVAL",
               cn_sgd_nesterov_f64(NULL, w, dw, v, 1, 0.1, 2.0, 0, 0) == CN_EINVAL, NULL);
}

static void averages(void) {
    /* EMA: k updates towards a constant w from ema0: w - (w - ema0) d^k */
    double ema[3] = {1, -2, 0}, w[3] = {3, 4, -1};
    float ema32[3] = {1, -2, 0}, w32[3] = {3, 4, -1};
    int rc = 0;
    for (int k = 0; k < 10; k++) rc |= cn_ema_update_f64(ctx, ema, w, 3, 0.9) | cn_ema_update_f32(ctx, ema32, w32, 3, 0.9);
    double e = 0, e32 = 0, want[3];
    const double e0[3] = {1, -2, 0};
    for (int i = 0; i < 3; i++) {
        want[i] = w[i] - (w[i] - e0[i]) * pow(0.9, 10);
        e = fmax(e, fabs(ema[i] - want[i]));
        e32 = fmax(e32, fabs(ema32[i] - want[i]));
    }
    check_le("ema f64 10 steps d=0.9 vs w - (w - ema0) d^10", rc ? 1 : e, 1e-14);
    check_le("ema f32 10 steps d=0.9 vs w - (w - ema0) d^10", rc ? 1 : e32, 2e-6);
    rc = cn_ema_update_f64(ctx, ema, w, 3, 0);
    check_true("ema d=0 copies w", !rc && !memcmp(ema, w, sizeof w), NULL);
    memcpy(ema, want, sizeof want);
    rc = cn_ema_update_f64(ctx, ema, w, 3, 1);
    check_true("ema d=1 keeps ema", !rc && !memcmp(ema, want, sizeof want), NULL);
    /* Lookahead: slow = 1, fast = 3, alpha 0.5: both 2; alpha 0: fast reset to slow */
    double slow[2] = {1, -1}, fast[2] = {3, 5};
    rc = cn_lookahead_sync_f64(ctx, slow, fast, 2, 0.5);
    check_true("lookahead hand alpha 0.5: slow = fast = (2, 2)", !rc && slow[0] == 2 && fast[0] == 2 && slow[1] == 2 && fast[1] == 2, NULL);
    float s32[2] = {1, -1}, f32[2] = {3, 5};
    rc = cn_lookahead_sync_f32(ctx, s32, f32, 2, 0);
    check_true("lookahead f32 alpha 0: fast = slow = (1, -1)", !rc && f32[0] == 1 && f32[1] == -1 && s32[0] == 1, NULL);
    /* airbench's use: every k steps with decay 0.95^5 (alpha = 1 - decay) equals
     * its lerp_: ema.lerp_(net, 1 - decay); net.copy_(ema) */
    double sl[1] = {0.25}, fa[1] = {1.75}, dec = pow(0.95, 5);
    double lerp = 0.25 + (1 - dec) * (1.75 - 0.25);
    rc = cn_lookahead_sync_f64(ctx, sl, fa, 1, 1 - dec);
    check_le("lookahead vs airbench lerp_ (decay 0.95^5)", rc ? 1 : fmax(fabs(sl[0] - lerp), fabs(fa[0] - lerp)), 1e-16);
    expect_err("ema decay 1.5 -> CN_EINVAL", cn_ema_update_f64(ctx, ema, w, 3, 1.5), CN_EINVAL, "decay = 1.5");
    expect_err("lookahead alpha -0.1 -> CN_EINVAL", cn_lookahead_sync_f64(ctx, slow, fast, 2, -0.1), CN_EINVAL,
               "alpha = -0.1");
    expect_err("adam m NULL -> CN_EINVAL", cn_adam_f64(ctx, slow, fast, NULL, fast, 2, 1e-3, 0.9, 0.999, 1e-8, 1),
               CN_EINVAL, "state is NULL");
    expect_err("sgd w NULL -> CN_EINVAL", cn_sgd_f32(ctx, NULL, NULL, 4, 0.1), CN_EINVAL, "w is NULL");
}

/* airbench94's get_lr (train_airbench94.py), written out */
static double airbench_lr(long step, long total) {
    long warmup_steps = (long)(total * 0.23);
    long warmdown_steps = total - warmup_steps;
    if (step < warmup_steps) {
        double frac = (double)step / warmup_steps;
        return 0.2 * (1 - frac) + 1.0 * frac;
    }
    double frac = (double)(step - warmup_steps) / warmdown_steps;
    return 1.0 * (1 - frac) + 0.07 * frac;
}

static void schedules(void) {
    /* total = 1000 so that 0.23 * total is a whole number as airbench's int() */
    cn_lr_sched tri = {CN_LR_LINEAR, 11.5, 0.23, 0.2, 0.07};
    double worst = 0, lr;
    int rc = 0;
    for (long it = 0; it <= 1000; it++) {
        rc |= cn_lr_schedule(ctx, &lr, &tri, it, 1000);
        worst = fmax(worst, fabs(lr / 11.5 - airbench_lr(it, 1000)));
    }
    check_le("triangular vs airbench94 get_lr, every it of 1000", rc ? 1 : worst, 1e-15);
    double a, b, c;
    cn_lr_sched cosine = {CN_LR_COSINE, 0.1, 0.1, 0.0, 0.01};
    rc = cn_lr_schedule(ctx, &a, &cosine, 0, 200) | cn_lr_schedule(ctx, &b, &cosine, 20, 200) |
         cn_lr_schedule(ctx, &c, &cosine, 110, 200);
    double d;
    rc |= cn_lr_schedule(ctx, &d, &cosine, 200, 200);
    check_le("cosine hand: 0 at it 0, peak at the warm-up end, midpoint (lr+end)/2, end*lr at total",
             rc ? 1 : fabs(a) + fabs(b - 0.1) + fabs(c - 0.0505) + fabs(d - 0.001), 1e-16);
    double q;
    rc = cn_lr_schedule(ctx, &q, &cosine, 65, 200); /* a quarter: (1 + cos(pi/4)) / 2 */
    check_le("cosine hand: a quarter of the decay", rc ? 1 : fabs(q - (0.001 + 0.099 * 0.5 * (1 + cos(M_PI / 4)))), 1e-16);
    cn_lr_sched cst = {CN_LR_CONSTANT, 0.5, 0.5, 0.5, 0};
    rc = cn_lr_schedule(ctx, &a, &cst, 25, 100) | cn_lr_schedule(ctx, &b, &cst, 80, 100);
    check_le("constant with warm-up: 0.375 half way through the warm-up, then 0.5", rc ? 1 : fabs(a - 0.375) + fabs(b - 0.5), 1e-16);
    cn_lr_sched nowu = {CN_LR_LINEAR, 1, 0, 0, 0};
    rc = cn_lr_schedule(ctx, &a, &nowu, 0, 4) | cn_lr_schedule(ctx, &b, &nowu, 3, 4);
    check_le("linear without warm-up: 1 at 0, 0.25 at 3/4", rc ? 1 : fabs(a - 1) + fabs(b - 0.25), 1e-16);
    cn_lr_sched bad = tri;
    expect_err("lr schedule it > total", cn_lr_schedule(ctx, &lr, &tri, 1001, 1000), CN_EINVAL, "it=1001");
    expect_err("lr schedule total 0", cn_lr_schedule(ctx, &lr, &tri, 0, 0), CN_EINVAL, "total=0");
    bad.warmup = 1.5;
    expect_err("lr schedule warmup 1.5", cn_lr_schedule(ctx, &lr, &bad, 0, 10), CN_EINVAL, "warmup=1.5");
    bad = tri;
    bad.lr = -1;
    expect_err("lr schedule lr -1", cn_lr_schedule(ctx, &lr, &bad, 0, 10), CN_EINVAL, "lr=-1");
    bad = tri;
    bad.kind = (cn_lr_kind)7;
    expect_err("lr schedule kind 7", cn_lr_schedule(ctx, &lr, &bad, 0, 10), CN_EINVAL, "kind 7");
}

int main(void) {
    ctx = cn_ctx_new(2);
    nesterov();
    averages();
    schedules();
    cn_ctx_free(ctx);
    return check_done();
}
