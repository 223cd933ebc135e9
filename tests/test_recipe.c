/* test_recipe.c — the Solver's recipe options (issue 10): the Nesterov rule
 * with decoupled weight decay, the norms' betas at a scaled learning rate,
 * label smoothing, the lr schedule per iteration, EMA and Lookahead
 * weights, checkpoints that resume them bit for bit, and bad values. The
 * truth each time is the public pieces (cn_sgd_nesterov, cn_lr_schedule's
 * formulas written out, cn_softmax_loss_smooth, the averages by hand). */
#include "harness.h"
#include "fixtures.h"
#include "../src/net.h" /* cn__net_run: the gradient of the smoothed loss for the hand step */
#include <unistd.h>

static void synth(cn_dataset *ds, int C, int H, int W, int ntrain, int nval, uint64_t seed) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "synthetic");
    ds->num_classes = 3;
    fx_synth_splits(ds, C, H, W, ntrain, nval, seed);
}
static void free_synth(cn_dataset *ds) {
    free(ds->train.x); free(ds->train.y); free(ds->val.x); free(ds->val.y); free(ds->mean);
}

/* The recipe's settings on a quiet config (accuracy checks on every
 * sample: they draw nothing from the solver's rng). */
static void recipe_config(cn_solver_config *c, int batch, int epochs) {
    fx_solver_config(c, "nesterov", batch, epochs, 0, 5);
    c->learning_rate = 0.05;
    c->momentum = 0.85;
    c->weight_decay = 0.05;
    c->bias_lr_scale = 64;
    c->label_smoothing = 0.2;
    snprintf(c->schedule, sizeof c->schedule, "linear");
    c->lr_warmup = 0.23;
    c->lr_start = 0.2;
    c->lr_end = 0.07;
}

static double maxrel(const cn_net *a, const cn_net *b, int trainable_only) {
    double e = 0;
    for (int i = 0; i < cn_net_num_params(a); i++) {
        const cn_param *pa = cn_net_param_at(a, i), *pb = cn_net_param_at(b, i);
        if (trainable_only && !pa->trainable) continue;
        for (size_t k = 0; k < pa->size; k++) {
            double wa = cn_net_dtype(a) == CN_F32 ? ((float *)pa->data)[k] : ((double *)pa->data)[k];
            double wb = cn_net_dtype(a) == CN_F32 ? ((float *)pb->data)[k] : ((double *)pb->data)[k];
            e = fmax(e, fabs(wa - wb) / (1e-2 + fabs(wb)));
        }
    }
    return e;
}

/* Two nets with the same spec and the same initial parameters (one seed). */
static void twin_nets(cn_ctx *ctx, const char *spec, cn_dtype dt, double reg, uint64_t seed, cn_net **a, cn_net **b) {
    cn_rng r;
    cn_rng_seed(&r, seed);
    cn_net_new(ctx, a, spec, 3, 8, 8, dt, 5e-2, reg, &r);
    cn_rng_seed(&r, seed);
    cn_net_new(ctx, b, spec, 3, 8, 8, dt, 5e-2, reg, &r);
}

/* Two Solver steps (nesterov, weight decay, betas x64, smoothing 0.2, the
 * linear schedule's first lr: 0.2 x lr; the affine weights updated inside
 * the backward, the rest in the fused pass) against the same two steps by
 * hand: the loss and gradients (L2 included) of the smoothed loss, then
 * cn_sgd_nesterov per parameter with its group's lr and decay. */
static void test_step_by_hand(cn_ctx *ctx, cn_dtype dt, const char *level) {
    const char *spec = "conv4x3-bn-relu-pool2-affine40-relu-affine10";
    cn_dataset ds;
    synth(&ds, 3, 8, 8, 30, 10, 4);
    cn_net *a, *b;
    twin_nets(ctx, spec, dt, 1e-2, 31, &a, &b);
    cn_solver_config cfg;
    recipe_config(&cfg, 10, 2);
    cfg.seed = 77;
    cn_solver *s;
    cn_ctx_set_simd(ctx, level);
    int rc = cn_solver_new(ctx, &s, a, &ds, &cfg);
    double la[2] = {0}, lb[2] = {0};
    const double lr = 0.05 * 0.2; /* the schedule at iteration 0 (the Solver's t stays 0 outside train) */
    check_le("the schedule's lr before the first step is 0.2 x 0.05", rc ? 1 : fabs(cn_solver_lr(s) - lr), 1e-17);
    const int B = 10, esz = dt == CN_F32 ? 4 : 8;
    int32_t idx[10], y[10];
    void *X = malloc((size_t)esz * B * 3 * 8 * 8);
    void *vel[64] = {0};
    cn_rng r;
    cn_rng_seed(&r, 77);
    for (int step = 0; step < 2 && rc == CN_OK; step++) {
        rc = cn_solver_step(ctx, s, &la[step]);
        /* by hand: the step's minibatch (the Solver's rng draws B indices first) */
        for (int i = 0; i < B; i++) idx[i] = (int32_t)cn_rng_below(&r, (uint64_t)ds.train.n);
        if (dt == CN_F32) cn_split_batch_f32(ctx, &ds.train, ds.mean, idx, B, X, y);
        else cn_split_batch_f64(ctx, &ds.train, ds.mean, idx, B, X, y);
        cn__lossopt o = {1, NULL, NULL, 0, 0.2};
        rc = rc ? rc : cn__net_run(ctx, b, &lb[step], NULL, X, y, B, &o);
        for (int i = 0; rc == CN_OK && i < cn_net_num_params(b); i++) {
            const cn_param *p = cn_net_param_at(b, i);
            if (!p->trainable) continue;
            if (!vel[i]) vel[i] = calloc(p->size, esz);
            int beta = !strncmp(p->name, "beta", 4);
            double lr_p = beta ? lr * 64 : lr, wd_p = beta ? 0.05 / 64 : 0.05;
            rc = dt == CN_F32 ? cn_sgd_nesterov_f32(ctx, p->data, p->grad, vel[i], p->size, lr_p, 0.85, 0, wd_p)
                              : cn_sgd_nesterov_f64(ctx, p->data, p->grad, vel[i], p->size, lr_p, 0.85, 0, wd_p);
        }
    }
    /* within rounding (FMA contraction differs between the fused kernels
     * and the public rule's loop), relative to 1e-2 + |w| */
    char name[200];
    double e = rc == CN_OK ? maxrel(a, b, 0) : 1;
    snprintf(name, sizeof name, "recipe step x2 = hand step (nesterov, wd, betas x64, smoothing, %s, %s): params",
             dt == CN_F32 ? "f32" : "f64", level);
    if (check_true(name, rc == CN_OK, cn_ctx_error(ctx))) check_le(name, e, dt == CN_F32 ? 1e-5 : 1e-13);
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "recipe step %d = hand step (%s, %s): loss %.9f vs %.9f", k + 1,
                 dt == CN_F32 ? "f32" : "f64", level, la[k], lb[k]);
        check_le(name, fabs(la[k] - lb[k]) / fabs(lb[k]), dt == CN_F32 ? 1e-6 : 1e-13);
    }
    /* the betas moved 64x as far as at lr (their gradient is not 0) */
    const cn_param *beta = cn_net_param_get(a, "beta1");
    check_true("the net has beta1", beta != NULL, "");
    cn_ctx_set_simd(ctx, "auto");
    for (int i = 0; i < 64; i++) free(vel[i]);
    free(X);
    cn_solver_free(s);
    cn_net_free(a);
    cn_net_free(b);
    free_synth(&ds);
}

/* The smoothed loss of a step equals cn_softmax_loss_smooth on the net's
 * scores, and sgd moves the last bias by lr times the column sums of its
 * dx = (p - t)/N (a net without batch norm: test-mode scores = train's). */
static void test_smoothing(cn_ctx *ctx, cn_dtype dt) {
    cn_dataset ds;
    synth(&ds, 3, 8, 8, 30, 10, 6);
    cn_net *a, *b;
    cn_rng r;
    cn_rng_seed(&r, 3);
    cn_net_new(ctx, &a, "conv4x3-relu-pool2-affine10", 3, 8, 8, dt, 5e-2, 0, &r);
    cn_rng_seed(&r, 3);
    cn_net_new(ctx, &b, "conv4x3-relu-pool2-affine10", 3, 8, 8, dt, 5e-2, 0, &r);
    cn_solver_config cfg;
    fx_solver_config(&cfg, "sgd", 10, 1, 0, 9);
    cfg.learning_rate = 0.1;
    cfg.label_smoothing = 0.2;
    cn_solver *s;
    double la = 0, lb = 0;
    int rc = cn_solver_new(ctx, &s, a, &ds, &cfg);
    rc = rc ? rc : cn_solver_step(ctx, s, &la);
    const int B = 10, esz = dt == CN_F32 ? 4 : 8;
    int32_t idx[10], y[10];
    cn_rng_seed(&r, 9);
    for (int i = 0; i < B; i++) idx[i] = (int32_t)cn_rng_below(&r, (uint64_t)ds.train.n);
    void *X = malloc((size_t)esz * B * 3 * 8 * 8), *sc = malloc((size_t)esz * B * 10), *dx = malloc((size_t)esz * B * 10);
    if (dt == CN_F32) cn_split_batch_f32(ctx, &ds.train, ds.mean, idx, B, X, y);
    else cn_split_batch_f64(ctx, &ds.train, ds.mean, idx, B, X, y);
    rc = rc ? rc : cn_net_loss(ctx, b, NULL, sc, X, NULL, B);
    rc = rc ? rc : dt == CN_F32 ? cn_softmax_loss_smooth_f32(ctx, &lb, dx, sc, y, 0.2, B, 10)
                                : cn_softmax_loss_smooth_f64(ctx, &lb, dx, sc, y, 0.2, B, 10);
    char name[160];
    snprintf(name, sizeof name, "smoothed step loss = cn_softmax_loss_smooth (%s): %.17g vs %.17g",
             dt == CN_F32 ? "f32" : "f64", la, lb);
    if (check_true(name, rc == CN_OK, cn_ctx_error(ctx))) check_le(name, fabs(la - lb), 0);
    const cn_param *ba = cn_net_param_get(a, "b2"), *bb = cn_net_param_get(b, "b2");
    double e = 0;
    for (int c = 0; rc == CN_OK && c < 10; c++) {
        double g = 0, w0 = dt == CN_F32 ? ((float *)bb->data)[c] : ((double *)bb->data)[c];
        for (int n = 0; n < B; n++) g += dt == CN_F32 ? ((float *)dx)[n * 10 + c] : ((double *)dx)[n * 10 + c];
        double w1 = dt == CN_F32 ? ((float *)ba->data)[c] : ((double *)ba->data)[c];
        e = fmax(e, fabs(w1 - (w0 - 0.1 * g)));
    }
    snprintf(name, sizeof name, "smoothed step: b2 -= lr * colsum((p - t)/N) (%s)", dt == CN_F32 ? "f32" : "f64");
    check_le(name, e, dt == CN_F32 ? 1e-7 : 1e-15);
    free(X); free(sc); free(dx);
    cn_solver_free(s);
    cn_net_free(a);
    cn_net_free(b);
    free_synth(&ds);
}

/* ---- the schedule: the lr each iteration of cn_solver_train -------------- */
typedef struct {
    cn_solver *s;
    int n;
    double lr[64];
} lr_log;
static void log_lr(void *u, const char *line, int progress) {
    lr_log *L = u;
    if (progress || strncmp(line, "(Iteration", 10) || L->n >= 64) return;
    L->lr[L->n++] = cn_solver_lr(L->s); /* the lr the step just logged ran with */
}

/* airbench's np.interp(t, [0, wu, T], [start, 1, end]) and the cosine and
 * constant forms, written out */
static double lr_by_hand(const char *kind, double lr, double warmup, double start, double end, int t, int T) {
    double wu = warmup * T;
    if (t < wu) return lr * (start + (1 - start) * t / wu);
    double f = T > wu ? (t - wu) / (T - wu) : 1;
    if (!strcmp(kind, "constant")) return lr;
    if (!strcmp(kind, "linear")) return lr * (1 + (end - 1) * f);
    return lr * (end + (1 - end) * 0.5 * (1 + cos(M_PI * f)));
}

static void test_schedule(cn_ctx *ctx) {
    cn_dataset ds;
    synth(&ds, 3, 6, 6, 40, 10, 8);
    const char *kinds[3] = {"constant", "linear", "cosine"};
    for (int k = 0; k < 3; k++) {
        cn_net *net;
        cn_rng r;
        cn_rng_seed(&r, 2);
        cn_net_new(ctx, &net, "affine12-relu-affine10", 3, 6, 6, CN_F64, 1e-2, 0, &r);
        cn_solver_config cfg;
        fx_solver_config(&cfg, "sgd_momentum", 5, 5, 0, 3); /* 8 x 5 = 40 iterations */
        cfg.learning_rate = 0.02;
        cfg.verbose = 1;
        cfg.print_every = 1;
        snprintf(cfg.schedule, sizeof cfg.schedule, "%s", kinds[k]);
        cfg.lr_warmup = k == 0 ? 0.1 : 0.23;
        cfg.lr_start = 0.2;
        cfg.lr_end = k == 0 ? 0 : 0.07;
        lr_log L = {0};
        int rc = cn_solver_new(ctx, &L.s, net, &ds, &cfg);
        rc = rc ? rc : cn_solver_train(ctx, L.s, log_lr, &L, NULL, NULL, 0);
        double e = 0;
        for (int t = 0; t < L.n; t++)
            e = fmax(e, fabs(L.lr[t] - lr_by_hand(kinds[k], 0.02, cfg.lr_warmup, 0.2, cfg.lr_end, t, 40)));
        char name[160];
        snprintf(name, sizeof name, "%s schedule: the lr of each of the 40 iterations (warmup %g from 0.2)", kinds[k],
                 cfg.lr_warmup);
        if (check_true(name, rc == CN_OK && L.n == 40, rc ? cn_ctx_error(ctx) : L.n != 40 ? "not 40 iterations" : ""))
            check_le(name, e, 1e-17);
        snprintf(name, sizeof name, "%s schedule: after the run the lr is the end's %g", kinds[k],
                 lr_by_hand(kinds[k], 0.02, cfg.lr_warmup, 0.2, cfg.lr_end, 40, 40));
        if (rc == CN_OK)
            check_le(name, fabs(cn_solver_lr(L.s) - lr_by_hand(kinds[k], 0.02, cfg.lr_warmup, 0.2, cfg.lr_end, 40, 40)),
                     1e-17);
        cn_solver_free(L.s);
        cn_net_free(net);
    }
    free_synth(&ds);
}

/* ---- EMA and Lookahead ---------------------------------------------------- */
/* Solver A trains with the average (cn_solver_train); solver B takes the
 * same steps one by one (cn_solver_step) without it, and the average is
 * kept by hand from B's weights: A's net trains on the same weights as B's
 * (Lookahead's syncs applied to B's by hand), A's average equals the hand
 * one bit for bit, and A's last validation accuracy is that of the average. */
static void test_average(cn_ctx *ctx, cn_dtype dt, int lookahead) {
    const char *spec = "conv4x3-bnb-relu-pool2-affine10";
    cn_dataset ds;
    synth(&ds, 3, 8, 8, 40, 300, 12);
    cn_net *a, *b;
    twin_nets(ctx, spec, dt, 1e-3, 5, &a, &b);
    cn_solver_config cfg;
    recipe_config(&cfg, 10, 3); /* 4 iterations per epoch, 12 in all */
    cfg.schedule[0] = 0;         /* B's steps outside train keep t = 0: a constant lr */
    cfg.lr_warmup = cfg.lr_start = cfg.lr_end = 0;
    cn_solver_config cb = cfg;
    const double d = 0.8, alpha = 0.5;
    const int S = 4, K = 3;
    if (lookahead) cfg.lookahead_k = K, cfg.lookahead_alpha = alpha, cfg.lookahead_start_epoch = 1;
    else cfg.ema_decay = d, cfg.ema_start_epoch = 1;
    cfg.lookahead_ramp = lookahead == 2; /* alpha_T = 1 - (1 - alpha) (T / 12)^3 */
    cn_solver *sa, *sb;
    int rc = cn_solver_new(ctx, &sa, a, &ds, &cfg);
    rc = rc ? rc : cn_solver_new(ctx, &sb, b, &ds, &cb);
    size_t n = 0;
    check_true("no average before its start epoch", rc == CN_OK && !cn_solver_averaged_params(sa, &n), "");
    rc = rc ? rc : cn_solver_train(ctx, sa, NULL, NULL, NULL, NULL, 0);
    const int esz = dt == CN_F32 ? 4 : 8;
    void *w = cn_net_flat_params(b, &n), *avg = calloc(n, esz);
    double lossb[12];
    for (int T = 1; T <= 12 && rc == CN_OK; T++) {
        rc = cn_solver_step(ctx, sb, &lossb[T - 1]);
        if (T == S) memcpy(avg, w, n * esz);
        else if (T > S && !lookahead) {
            for (size_t i = 0; i < n; i++) {
                if (dt == CN_F32) ((float *)avg)[i] = (float)d * ((float *)avg)[i] + (float)(1 - d) * ((float *)w)[i];
                else ((double *)avg)[i] = d * ((double *)avg)[i] + (1 - d) * ((double *)w)[i];
            }
        } else if (T > S && (T - S) % K == 0) {
            const double al = lookahead == 2 ? 1 - (1 - alpha) * pow(T / 12.0, 3) : alpha;
            for (size_t i = 0; i < n; i++) {
                if (dt == CN_F32) {
                    float *sl = avg, *f = w;
                    sl[i] = sl[i] + (float)al * (f[i] - sl[i]);
                    f[i] = sl[i];
                } else {
                    double *sl = avg, *f = w;
                    sl[i] = sl[i] + al * (f[i] - sl[i]);
                    f[i] = sl[i];
                }
            }
        }
    }
    const char *what = lookahead == 2 ? "Lookahead (k 3, alpha ramped to 0.5, from epoch 1)"
                       : lookahead    ? "Lookahead (k 3, alpha 0.5, from epoch 1)"
                                      : "EMA (0.8, from epoch 1)";
    const char *tn = dt == CN_F32 ? "f32" : "f64";
    char name[200];
    size_t na;
    const void *pa = cn_solver_averaged_params(sa, &na);
    snprintf(name, sizeof name, "%s %s: the Solver's average after 12 iterations = the hand one bit for bit", what, tn);
    check_true(name, rc == CN_OK && pa && na == n && !memcmp(pa, avg, n * esz), rc ? cn_ctx_error(ctx) : "");
    /* A's net holds its best checked parameters (its fast weights are
     * gone); B trained on the same ones: the same losses bit for bit */
    int nh;
    const double *ha = cn_solver_loss_history(sa, &nh);
    snprintf(name, sizeof name, "%s %s: the averaged run trains as the plain one (12 losses bit for bit)", what, tn);
    check_true(name, rc == CN_OK && nh == 12 && !memcmp(ha, lossb, sizeof lossb), "");
    /* the last check ran on the average: B's net with the hand average in
     * place scores the validation split as A's last check did */
    void *keep = malloc(n * esz);
    memcpy(keep, w, n * esz);
    memcpy(w, avg, n * esz);
    double acc = -1, fast = -1;
    int na2;
    const double *va = cn_solver_val_acc_history(sa, &na2);
    rc = rc ? rc : cn_solver_check_accuracy(ctx, sb, &ds.val, 0, 100, &acc);
    memcpy(w, keep, n * esz);
    rc = rc ? rc : cn_solver_check_accuracy(ctx, sb, &ds.val, 0, 100, &fast);
    snprintf(name, sizeof name, "%s %s: the last accuracy check ran on the averaged weights (%g vs %g; the fast "
             "weights score %g)", what, tn, na2 > 0 ? va[na2 - 1] : -1.0, acc, fast);
    check_true(name, rc == CN_OK && na2 > 0 && va[na2 - 1] == acc && acc != fast, rc ? cn_ctx_error(ctx) : "");
    free(keep);
    free(avg);
    cn_solver_free(sa);
    cn_solver_free(sb);
    cn_net_free(a);
    cn_net_free(b);
    free_synth(&ds);
}

/* ---- resume bit for bit --------------------------------------------------- */
typedef struct {
    size_t n;
    unsigned char p[1 << 16], avg[1 << 16];
    double loss[64], acc[16];
    int nloss, nacc, has_avg;
} run_out;

typedef struct {
    int stop_at;
    volatile int stop;
} stopper;
static void stop_log(void *u, const char *line, int progress) {
    stopper *st = u;
    char want[40];
    snprintf(want, sizeof want, "(Iteration %d /", st->stop_at);
    if (!progress && !strncmp(line, want, strlen(want))) st->stop = 1;
}

/* The recipe (f32, batch norm, 3 epochs of 6 iterations, the average from
 * epoch 1 = iteration 6). stop_at > 0: train that many iterations, save a
 * checkpoint to ckpt, stop there. Else from `resume` (or the start) to the
 * end, with a checkpoint every ckpt_every. */
static int run_recipe(cn_ctx *ctx, cn_dataset *ds, int variant, int stop_at, int ckpt_every, const char *ckpt,
                      const char *resume, run_out *o) {
    cn_rng r;
    cn_rng_seed(&r, 21);
    cn_net *net;
    int rc = cn_net_new(ctx, &net, "conv4x3-bn-relu-pool2-affine16-relu-affine10", 3, 8, 8, CN_F32, 5e-2, 1e-3, &r);
    if (rc) return rc;
    /* every metadata entry a checkpoint can carry besides the Solver's own:
     * the recipe line, class names, the preprocessing, the TTA level */
    static const float zero_mean[3 * 8 * 8];
    const char *names[2] = {"plane", "car"};
    if ((rc = cn_net_set_preprocess(ctx, net, zero_mean)) || (rc = cn_net_set_class_names(ctx, net, names, 2)) ||
        (rc = cn_net_set_tta(ctx, net, 1))) {
        cn_net_free(net);
        return rc;
    }
    cn_solver_config cfg;
    recipe_config(&cfg, 10, 3);
    cfg.verbose = 1;
    cfg.print_every = 1;
    if (variant == 0) cfg.ema_decay = 0.9, cfg.ema_start_epoch = 1;
    else cfg.lookahead_k = 4, cfg.lookahead_alpha = 0.6, cfg.lookahead_start_epoch = 1;
    cn_solver *s;
    stopper st = {stop_at, 0};
    rc = cn_solver_new(ctx, &s, net, ds, &cfg);
    if (!rc && resume) rc = cn_solver_resume(ctx, s, resume);
    if (!rc && stop_at > 0) {
        rc = cn_solver_train(ctx, s, stop_log, &st, &st.stop, NULL, 0);
        if (rc == CN_EINTR && cn_solver_iteration(s) == stop_at) rc = cn_solver_save(ctx, s, ckpt);
    } else if (!rc) {
        rc = cn_solver_train(ctx, s, NULL, NULL, NULL, ckpt_every > 0 ? ckpt : NULL, ckpt_every);
    }
    if (!rc) {
        void *p = cn_net_flat_params(net, &o->n);
        memcpy(o->p, p, o->n * 4);
        size_t na;
        const void *a = cn_solver_averaged_params(s, &na);
        o->has_avg = a != NULL;
        if (a) memcpy(o->avg, a, na * 4);
        const double *h = cn_solver_loss_history(s, &o->nloss);
        memcpy(o->loss, h, sizeof(double) * o->nloss);
        h = cn_solver_val_acc_history(s, &o->nacc);
        memcpy(o->acc, h, sizeof(double) * o->nacc);
    }
    cn_solver_free(s);
    cn_net_free(net);
    return rc;
}

static int same_run(const run_out *a, const run_out *b) {
    return a->n == b->n && !memcmp(a->p, b->p, a->n * 4) && a->has_avg && b->has_avg &&
           !memcmp(a->avg, b->avg, a->n * 4) && a->nloss == b->nloss &&
           !memcmp(a->loss, b->loss, sizeof(double) * a->nloss) && a->nacc == b->nacc &&
           !memcmp(a->acc, b->acc, sizeof(double) * a->nacc);
}

static void test_resume(cn_ctx *ctx) {
    cn_dataset ds;
    synth(&ds, 3, 8, 8, 60, 20, 4);
    char dir[256], ck[300];
    if (fx_mkdtemp(dir, sizeof dir, "cn_test_recipe")) { check_true("mkdtemp", 0, ""); return; }
    snprintf(ck, sizeof ck, "%s/run.safetensors", dir);
    static run_out a, b, c;
    for (int v = 0; v < 2; v++) {
        const char *what = v ? "Lookahead" : "EMA";
        char name[240];
        int rc = run_recipe(ctx, &ds, v, 0, 0, NULL, NULL, &a); /* uninterrupted: 18 iterations */
        snprintf(name, sizeof name, "%s recipe run (nesterov, schedule, betas x64, smoothing) trains 18 iterations",
                 what);
        check_true(name, rc == CN_OK && a.nloss == 18 && a.has_avg, rc ? cn_ctx_error(ctx) : "");
        rc = run_recipe(ctx, &ds, v, 0, 5, ck, NULL, &b);
        snprintf(name, sizeof name, "%s: checkpointing every 5 iterations does not change the run", what);
        check_true(name, rc == CN_OK && same_run(&a, &b), rc ? cn_ctx_error(ctx) : "");
        /* 4: before the average starts (6); 6: its start; 9, 11: after, between syncs and at one (k 4: 10) */
        const int at[4] = {4, 6, 9, 10};
        for (int k = 0; k < 4; k++) {
            unlink(ck);
            rc = run_recipe(ctx, &ds, v, at[k], 0, ck, NULL, &b);
            rc = rc ? rc : run_recipe(ctx, &ds, v, 0, 0, NULL, ck, &c);
            snprintf(name, sizeof name, "%s: train %d, save, resume in a fresh solver, continue = the uninterrupted run "
                     "bit for bit (params, average, losses, accuracies)", what, at[k]);
            check_true(name, rc == CN_OK && same_run(&a, &c), rc ? cn_ctx_error(ctx) : "");
        }
    }
    unlink(ck);
    rmdir(dir);
    free_synth(&ds);
}

/* ---- thread counts --------------------------------------------------------- */
/* More than 65536 parameters, so the fused pass cuts its block into
 * chunks (of 65536, whatever the threads): 1 and 2 threads give the same
 * bits, the loss's L2 term included. */
static void test_threads(void) {
    static run_out o[2];
    cn_dataset ds;
    synth(&ds, 3, 8, 8, 20, 10, 14);
    for (int k = 0; k < 2; k++) {
        cn_ctx *ctx = cn_ctx_new(k + 1);
        cn_rng r;
        cn_rng_seed(&r, 8);
        cn_net *net;
        cn_net_new(ctx, &net, "conv64x3p1-bnb-relu-conv64x3p1-bnb-relu-conv64x3p1-bnb-relu-pool2-affine10", 3, 8, 8,
                   CN_F32, 5e-2, 1e-3, &r);
        cn_solver_config cfg;
        recipe_config(&cfg, 10, 2);
        cfg.ema_decay = 0.5;
        cn_solver *s;
        int rc = cn_solver_new(ctx, &s, net, &ds, &cfg);
        rc = rc ? rc : cn_solver_train(ctx, s, NULL, NULL, NULL, NULL, 0);
        float *p = cn_net_flat_params(net, &o[k].n);
        check_true("the thread test's net has over 65536 trainable values", o[k].n > 65536, "");
        o[k].nloss = 0;
        int nh;
        const double *h = cn_solver_loss_history(s, &nh);
        memcpy(o[k].loss, h, sizeof(double) * nh);
        o[k].nloss = rc ? -1 : nh;
        size_t na;
        const float *av = cn_solver_averaged_params(s, &na);
        double sum = 0;
        for (size_t i = 0; av && i < na; i++) sum += av[i] * (double)(i + 1);
        o[k].acc[0] = sum;
        for (size_t i = 0; i < o[k].n; i++) sum += p[i] * (double)(i % 977);
        o[k].acc[1] = sum;
        cn_solver_free(s);
        cn_net_free(net);
        cn_ctx_free(ctx);
    }
    check_true("recipe training: 1 thread = 2 threads (losses, weights, average) bit for bit",
               o[0].nloss == 4 && o[0].nloss == o[1].nloss && !memcmp(o[0].loss, o[1].loss, sizeof(double) * 4) &&
                   o[0].acc[0] == o[1].acc[0] && o[0].acc[1] == o[1].acc[1],
               "");
    free_synth(&ds);
}

/* ---- bad values ------------------------------------------------------------ */
/* Bad value k on a config (test_bad_config names them in the same order). */
static void bad_value(int k, cn_solver_config *c) {
    switch (k) {
    case 0: c->momentum = 1; break;
    case 1: c->weight_decay = -1; break;
    case 2: c->weight_decay = NAN; break;
    case 3: c->weight_decay = 0.1; snprintf(c->update_rule, sizeof c->update_rule, "adam"); break;
    case 4: snprintf(c->schedule, sizeof c->schedule, "step"); break;
    case 5: c->schedule[0] = 0; c->lr_warmup = 0.2; break;
    case 6: c->lr_decay = 0.95; break;
    case 7: c->lr_warmup = 2; break;
    case 8: c->lr_end = -1; break;
    case 9: c->learning_rate = 0; break;
    case 10: c->bias_lr_scale = 0; break;
    case 11: c->bias_lr_scale = INFINITY; break;
    case 12: c->label_smoothing = 1.5; break;
    case 13: c->label_smoothing = -0.1; break;
    case 14: c->ema_decay = 1; break;
    case 15: c->ema_decay = 0.9; c->ema_start_epoch = 3; break;
    case 16: c->lookahead_k = -1; break;
    case 17: c->lookahead_k = 5; c->lookahead_alpha = 0; break;
    case 18: c->lookahead_k = 5; c->lookahead_start_epoch = -1; break;
    case 19: c->ema_decay = 0.9; c->lookahead_k = 5; break;
    case 20: snprintf(c->update_rule, sizeof c->update_rule, "nesterov2"); break;
    }
}

static void test_bad_config(cn_ctx *ctx) {
    cn_dataset ds;
    synth(&ds, 3, 6, 6, 20, 10, 1);
    cn_net *net;
    cn_rng r;
    cn_rng_seed(&r, 1);
    cn_net_new(ctx, &net, "affine8-affine10", 3, 6, 6, CN_F32, 1e-2, 0, &r);
    static const char *const what[][2] = {
        {"nesterov momentum 1", "momentum 1"},
        {"weight_decay -1", "weight_decay -1"},
        {"weight_decay nan", "weight_decay nan"},
        {"weight_decay with adam", "weight_decay 0.1 needs the nesterov rule, not adam"},
        {"unknown schedule", "unknown schedule 'step'"},
        {"warmup without a schedule", "lr_warmup 0.2"},
        {"schedule with lr_decay", "lr_decay 0.95"},
        {"schedule warmup 2", "warmup=2"},
        {"schedule end -1", "end=-1"},
        {"schedule with lr 0", "lr=0"},
        {"bias_lr_scale 0", "bias_lr_scale 0"},
        {"bias_lr_scale inf", "bias_lr_scale inf"},
        {"label_smoothing 1.5", "label_smoothing 1.5"},
        {"label_smoothing -0.1", "label_smoothing -0.1"},
        {"ema_decay 1", "ema_decay 1"},
        {"ema_start_epoch 3 of 3", "ema_start_epoch 3"},
        {"lookahead_k -1", "lookahead_k -1"},
        {"lookahead_alpha 0", "lookahead_alpha 0"},
        {"lookahead_start_epoch -1", "lookahead_start_epoch -1"},
        {"EMA and Lookahead", "one weight average at a time"},
        {"unknown rule", "unknown update rule 'nesterov2'"},
    };
    for (int k = 0; k < (int)(sizeof what / sizeof what[0]); k++) {
        cn_solver_config cfg;
        recipe_config(&cfg, 10, 3);
        bad_value(k, &cfg);
        cn_solver *s = NULL;
        int rc = cn_solver_new(ctx, &s, net, &ds, &cfg);
        char name[120];
        snprintf(name, sizeof name, "refused: %s", what[k][0]);
        hs_expect_err(ctx, name, rc, CN_EINVAL, what[k][1]);
        if (!rc) cn_solver_free(s);
    }
    /* the defaults and the recipe are accepted */
    cn_solver_config cfg;
    cn_solver *s = NULL;
    recipe_config(&cfg, 10, 3);
    cfg.ema_decay = 0.9;
    int rc = cn_solver_new(ctx, &s, net, &ds, &cfg);
    check_true("the recipe's config is accepted", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    if (!rc) cn_solver_free(s);
    cn_net_free(net);
    free_synth(&ds);
}

/* weight_scale < 0: each conv/affine weight ~ U(-b, b), b = |s| / sqrt(fan
 * in) (a conv's C*K*K, an affine's D): every value inside its bound, the
 * sample variance within 10% of b^2 / 3, the largest |w| above 0.9 b;
 * dirac filters still the identity; biases 0. */
static void test_fan_in_init(cn_ctx *ctx) {
    cn_rng r;
    cn_rng_seed(&r, 5);
    cn_net *net;
    if (cn_net_new(ctx, &net, "conv16x3d-relu-conv24x5-relu-pool2-affine300-relu-affine10", 8, 12, 12, CN_F64, -1.5, 0,
                   &r)) {
        printf("net: %s\n", cn_ctx_error(ctx));
        exit(2);
    }
    const struct { const char *name; double fan; } ws[4] = {{"W1", 8 * 9}, {"W2", 16 * 25}, {"W3", 24 * 6 * 6}, {"W4", 300}};
    for (int k = 0; k < 4; k++) {
        const cn_param *p = cn_net_param_get(net, ws[k].name);
        double b = 1.5 / sqrt(ws[k].fan), ss = 0, mx = 0;
        int inside = 1, n = 0;
        for (size_t e = 0; p && e < p->size; e++) {
            double v = ((const double *)p->data)[e];
            if (k == 0 && (size_t)(e / (size_t)(8 * 9)) < 8) continue; /* the dirac filters */
            inside &= fabs(v) <= b;
            ss += v * v;
            mx = fabs(v) > mx ? fabs(v) : mx;
            n++;
        }
        char name[160];
        snprintf(name, sizeof name, "weight_scale -1.5: %s in [-b, b], b = 1.5/sqrt(%g); var/(b^2/3) = %.3f, max/b = %.3f",
                 ws[k].name, ws[k].fan, n ? ss / n / (b * b / 3) : 0, mx / b);
        check_true(name, p && n > 0 && inside && fabs(ss / n / (b * b / 3) - 1) < 0.1 && mx > 0.9 * b, NULL);
    }
    const cn_param *w1 = cn_net_param_get(net, "W1"), *b1 = cn_net_param_get(net, "b1");
    int dirac = 1, zero = 1;
    for (int f = 0; f < 8 && w1; f++)
        for (int c = 0; c < 8; c++)
            for (int t = 0; t < 9; t++) dirac &= ((const double *)w1->data)[(f * 8 + c) * 9 + t] == (c == f && t == 4);
    for (size_t e = 0; b1 && e < b1->size; e++) zero &= ((const double *)b1->data)[e] == 0;
    check_true("weight_scale -1.5: the dirac filters are the identity, the biases 0", w1 && b1 && dirac && zero, NULL);
    cn_net_free(net);
    check_true("weight_scale NaN is refused", cn_net_new(ctx, &net, "affine10", 1, 2, 2, CN_F64, NAN, 0, &r) == CN_EINVAL,
               cn_ctx_error(ctx));
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(2);
    const char *levels[3];
    int nl = hs_levels(ctx, levels);
    for (int l = 0; l < nl; l++) {
        test_step_by_hand(ctx, CN_F32, levels[l]);
        test_step_by_hand(ctx, CN_F64, levels[l]);
    }
    test_smoothing(ctx, CN_F32);
    test_smoothing(ctx, CN_F64);
    test_schedule(ctx);
    for (int la = 0; la < 3; la++) {
        test_average(ctx, CN_F32, la);
        test_average(ctx, CN_F64, la);
    }
    test_resume(ctx);
    test_threads();
    test_bad_config(ctx);
    test_fan_in_init(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
