/* solver.c — the original's Solver in C: minibatch SGD variants, accuracy
 * checks, best parameters, histories, checkpoints and exact resume; and the
 * recipe's optimization options (issue 10: the Nesterov rule, an lr schedule
 * per iteration, the norms' betas at a scaled lr, label smoothing, EMA or
 * Lookahead weights), which default to the original's behaviour. */
#include "net.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct cn_solver {
    cn_net *net;
    const cn_dataset *ds;
    cn_solver_config cfg;
    cn_rng rng;                 /* minibatches and accuracy subsamples */
    int epoch, t;               /* epochs and iterations done */
    int iters_per_epoch, num_iterations;
    double lr;                  /* current learning rate (decayed per epoch) */
    long adam_t;
    void *m, *v;                /* optimizer state [ntrain] each (net dtype) */
    void *best;                 /* best parameters [ntrain + nstate] */
    double best_val;
    double *loss_hist;          /* [num_iterations] */
    double *train_acc, *val_acc;/* [num_epochs + 2] */
    int nloss, nacc, cap_acc;
    void *xb;                   /* minibatch [max(batch, 100), C, H, W] (net dtype) */
    int32_t *yb, *idx;          /* [max(batch, 100)] */
    void *scores;               /* [100, classes] */
    int bufn;
    /* augmentation (cfg.aug_*): the batch before it, its samples' keys */
    int augment;                /* 0: none, the batch is built in xb */
    cn_augment aug;
    void *xraw;                 /* [bufn, C, H, W] (net dtype) */
    int64_t *keys;              /* [bufn] */
    cn_batch_buf tta;           /* the checks' test-time variants (cfg.tta > 0) */
    double t_batch, t_update, t_check;
    /* groups (cn_solver_set_groups): this rank's groups' records [ng][rec]
     * (gradients then batch-norm state, net dtype), the exchange buffers,
     * the reduced record, the state at the step's start, per-group losses */
    int groups, has_comm;
    cn_comm comm;
    size_t rec;                 /* elements per record: ntrain + nstate */
    void *recs, *sendb, *recvb, *red, *state0;
    double *gloss;              /* [groups] */
    double *gw;                 /* [groups] group weights: samples / batch */
    double comm_bytes, t_comm;
    /* the recipe (cn_solver_config's last fields) */
    int rule;                   /* rule_id(cfg.update_rule) */
    int sched;                  /* cn_lr_kind, or -1: the original per-epoch lr_decay */
    unsigned char beta[CN_MAX_PARAMS]; /* 1: a norm's beta (lr x bias_lr_scale) */
    void *avg;                  /* [ntrain] EMA or Lookahead's slow weights; NULL: off */
    void *swap;                 /* [ntrain] the net's own weights while a check runs on avg */
    int avg_start;              /* the iteration averaging starts at (avg = w there) */
    int32_t *perm;              /* [train.n] cfg.shuffle: this epoch's order of the training split */
    int perm_epoch;             /* the epoch perm was drawn for; -1: none yet */
};

void cn_solver_config_default(cn_solver_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->update_rule, sizeof c->update_rule, "sgd");
    c->learning_rate = -1;
    c->momentum = 0.9;
    c->decay_rate = 0.99;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->epsilon = 1e-8;
    c->lr_decay = 1.0;
    c->batch_size = 100;
    c->num_epochs = 10;
    c->num_train_samples = 1000;
    c->num_val_samples = 0;
    c->print_every = 10;
    c->verbose = 1;
    c->seed = 0;
    c->bias_lr_scale = 1;
    c->lookahead_alpha = 0.5;
}

static int rule_id(const char *r) {
    if (!strcmp(r, "sgd")) return 0;
    if (!strcmp(r, "sgd_momentum")) return 1;
    if (!strcmp(r, "rmsprop")) return 2;
    if (!strcmp(r, "adam")) return 3;
    if (!strcmp(r, "nesterov")) return 4;
    return -1;
}

/* A checkpoint's names for a rule's moment tensors (s->m, then s->v), by
 * rule_id: "<rule>.<moment>.<param>"; NULL where the rule has none. */
static const char *const moment_names[5][2] = {{NULL, NULL}, {"velocity", NULL}, {"cache", NULL}, {"m", "v"},
                                               {"velocity", NULL}};

/* The schedule's cn_lr_kind by name; -1 for "" (none), -2 unknown. */
static int sched_kind(const char *name) {
    static const char *const names[3] = {"constant", "linear", "cosine"};
    if (!name[0]) return -1;
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, names[k])) return k;
    return -2;
}

/* The recipe's fields of a config whose learning rate is resolved: each
 * bad value refused with a message naming it. */
static int check_recipe(cn_ctx *ctx, const cn_solver_config *c, int rule) {
    if (rule == 4 && !(c->momentum >= 0 && c->momentum < 1))
        return cn_error(ctx, CN_EINVAL, "solver: momentum %g must be in [0, 1) for nesterov", c->momentum);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return cn_error(ctx, CN_EINVAL, "solver: weight_decay %g must be a finite number >= 0", c->weight_decay);
    if (c->weight_decay != 0 && rule != 4)
        return cn_error(ctx, CN_EINVAL, "solver: weight_decay %g needs the nesterov rule, not %s", c->weight_decay,
                        c->update_rule);
    if (c->shuffle != 0 && c->shuffle != 1) return cn_error(ctx, CN_EINVAL, "solver: shuffle %d must be 0 or 1", c->shuffle);
    if (!memchr(c->schedule, 0, sizeof c->schedule))
        return cn_error(ctx, CN_EINVAL, "solver: schedule is not a terminated string");
    int kind = sched_kind(c->schedule);
    if (kind == -2)
        return cn_error(ctx, CN_EINVAL, "solver: unknown schedule '%s' ('', constant, linear, cosine)", c->schedule);
    if (kind == -1 && (c->lr_warmup != 0 || c->lr_start != 0 || c->lr_end != 0))
        return cn_error(ctx, CN_EINVAL, "solver: lr_warmup %g, lr_start %g, lr_end %g need a schedule", c->lr_warmup,
                        c->lr_start, c->lr_end);
    if (kind >= 0) {
        if (c->lr_decay != 1)
            return cn_error(ctx, CN_EINVAL, "solver: lr_decay %g with schedule '%s' (the schedule sets the lr: "
                            "lr_decay must be 1)", c->lr_decay, c->schedule);
        cn_lr_sched p = {(cn_lr_kind)kind, c->learning_rate, c->lr_warmup, c->lr_start, c->lr_end};
        double lr;
        if (cn_lr_schedule(ctx, &lr, &p, 0, 1)) {
            char msg[CN_ERRMAX];
            snprintf(msg, sizeof msg, "%s", cn_ctx_error(ctx));
            return cn_error(ctx, CN_EINVAL, "solver: schedule '%s': %s", c->schedule, msg);
        }
    }
    if (!(c->bias_lr_scale > 0) || !isfinite(c->bias_lr_scale))
        return cn_error(ctx, CN_EINVAL, "solver: bias_lr_scale %g must be a finite number > 0", c->bias_lr_scale);
    if (!(c->label_smoothing >= 0 && c->label_smoothing <= 1))
        return cn_error(ctx, CN_EINVAL, "solver: label_smoothing %g must be in [0, 1]", c->label_smoothing);
    if (!(c->ema_decay >= 0 && c->ema_decay < 1))
        return cn_error(ctx, CN_EINVAL, "solver: ema_decay %g must be in [0, 1)", c->ema_decay);
    if (c->lookahead_k < 0) return cn_error(ctx, CN_EINVAL, "solver: lookahead_k %d must be >= 0", c->lookahead_k);
    if (c->lookahead_k > 0 && !(c->lookahead_alpha > 0 && c->lookahead_alpha <= 1))
        return cn_error(ctx, CN_EINVAL, "solver: lookahead_alpha %g must be in (0, 1]", c->lookahead_alpha);
    if (c->lookahead_ramp != 0 && c->lookahead_ramp != 1)
        return cn_error(ctx, CN_EINVAL, "solver: lookahead_ramp %d must be 0 or 1", c->lookahead_ramp);
    if (c->ema_decay > 0 && c->lookahead_k > 0)
        return cn_error(ctx, CN_EINVAL, "solver: ema_decay %g and lookahead_k %d: one weight average at a time",
                        c->ema_decay, c->lookahead_k);
    int start = c->ema_decay > 0 ? c->ema_start_epoch : c->lookahead_k > 0 ? c->lookahead_start_epoch : 0;
    if (start < 0 || start >= c->num_epochs)
        return cn_error(ctx, CN_EINVAL, "solver: %s %d must be in [0, num_epochs %d)",
                        c->ema_decay > 0 ? "ema_start_epoch" : "lookahead_start_epoch", start, c->num_epochs);
    return CN_OK;
}

/* The rule's constants p1, p2 of cn__update_fused (for the ungrouped
 * parameters: a norm's beta divides the decay by bias_lr_scale). */
static void rule_params(const cn_solver *s, double *p1, double *p2) {
    const cn_solver_config *c = &s->cfg;
    *p1 = s->rule == 1 || s->rule == 4 ? c->momentum : s->rule == 2 ? c->decay_rate : c->beta1;
    *p2 = s->rule == 4 ? c->weight_decay : c->beta2;
}

/* With a schedule, the lr of the step after s->t iterations: a pure
 * function of t (a resumed run gets it from the iteration alone). The
 * arguments were checked by cn_solver_new. */
static void schedule_lr(cn_solver *s) {
    if (s->sched < 0) return;
    const cn_solver_config *c = &s->cfg;
    cn_lr_sched p = {(cn_lr_kind)s->sched, c->learning_rate, c->lr_warmup, c->lr_start, c->lr_end};
    cn_lr_schedule(NULL, &s->lr, &p, s->t, s->num_iterations);
}

/* After iteration s->t (cn_solver_train): at the average's start avg = w;
 * later an EMA update every iteration, or a Lookahead sync every k (which
 * also sets w = avg). One thread, elementwise: the same bits for any
 * thread count. */
static void average_step(cn_solver *s) {
    const cn_solver_config *c = &s->cfg;
    cn_net *net = s->net;
    size_t n = net->ntrain;
    if (!s->avg || s->t < s->avg_start) return;
    if (s->t == s->avg_start) memcpy(s->avg, net->pblock, n * net->esz);
    else if (c->ema_decay > 0) {
        if (net->dtype == CN_F32) cn_ema_update_f32(NULL, s->avg, net->pblock, n, c->ema_decay);
        else cn_ema_update_f64(NULL, s->avg, net->pblock, n, c->ema_decay);
    } else if ((s->t - s->avg_start) % c->lookahead_k == 0) {
        double a = c->lookahead_alpha;
        if (c->lookahead_ramp) {
            double f = (double)s->t / s->num_iterations;
            a = 1 - (1 - a) * f * f * f;
        }
        if (net->dtype == CN_F32) cn_lookahead_sync_f32(NULL, s->avg, net->pblock, n, a);
        else cn_lookahead_sync_f64(NULL, s->avg, net->pblock, n, a);
    }
}

/* The accuracy checks on the averaged weights (on = 1: the net's own go to
 * s->swap, avg in their place; on = 0: back) while averaging has started. */
static int use_average(cn_solver *s, int on) {
    if (!s->avg || s->t < s->avg_start) return 0;
    size_t bytes = s->net->ntrain * s->net->esz;
    if (on) {
        memcpy(s->swap, s->net->pblock, bytes);
        memcpy(s->net->pblock, s->avg, bytes);
    } else {
        memcpy(s->net->pblock, s->swap, bytes);
    }
    return 1;
}

void cn_solver_free(cn_solver *s) {
    if (!s) return;
    free(s->m); free(s->v); free(s->best); free(s->loss_hist); free(s->train_acc); free(s->val_acc);
    free(s->xb); free(s->yb); free(s->idx); free(s->scores); free(s->perm);
    free(s->xraw); free(s->keys); free(s->tta.x); free(s->tta.scores);
    free(s->recs); free(s->sendb); free(s->recvb); free(s->red); free(s->state0); free(s->gloss); free(s->gw);
    free(s->avg); free(s->swap);
    free(s);
}

int cn_solver_new(cn_ctx *ctx, cn_solver **out, cn_net *net, const cn_dataset *ds,
                  const cn_solver_config *cfg) {
    *out = NULL;
    int rule = rule_id(cfg->update_rule);
    if (rule < 0)
        return cn_error(ctx, CN_EINVAL, "solver: unknown update rule '%s' (sgd, sgd_momentum, rmsprop, adam, nesterov)",
                        cfg->update_rule);
    if (cfg->batch_size <= 0) return cn_error(ctx, CN_EINVAL, "solver: batch_size %d must be > 0", cfg->batch_size);
    if (cfg->num_epochs <= 0) return cn_error(ctx, CN_EINVAL, "solver: num_epochs %d must be > 0", cfg->num_epochs);
    if (cfg->print_every <= 0) return cn_error(ctx, CN_EINVAL, "solver: print_every %d must be > 0", cfg->print_every);
    if (!(cfg->lr_decay > 0) || !isfinite(cfg->lr_decay)) return cn_error(ctx, CN_EINVAL, "solver: lr_decay %g must be > 0", cfg->lr_decay);
    if (!isfinite(cfg->learning_rate) || !isfinite(cfg->momentum) || !isfinite(cfg->decay_rate) || !isfinite(cfg->beta1) ||
        !isfinite(cfg->beta2) || !isfinite(cfg->epsilon))
        return cn_error(ctx, CN_EINVAL, "solver: learning_rate %g, momentum %g, decay_rate %g, beta1 %g, beta2 %g, epsilon %g must be finite",
                      cfg->learning_rate, cfg->momentum, cfg->decay_rate, cfg->beta1, cfg->beta2, cfg->epsilon);
    {
        cn_solver_config rcfg = *cfg;
        if (rcfg.learning_rate < 0) rcfg.learning_rate = rule == 3 ? 1e-3 : 1e-2;
        int e = check_recipe(ctx, &rcfg, rule);
        if (e) return e;
    }
    if (ds->train.n <= 0) return cn_error(ctx, CN_EINVAL, "solver: the training split is empty");
    if (cn_tta_count(cfg->tta) < 0) return cn_error(ctx, CN_EINVAL, "solver: tta level %d must be 0, 1 or 2", cfg->tta);
    if (cfg->tta == 2 && (ds->train.h < 2 || ds->train.w < 2))
        return cn_error(ctx, CN_EINVAL, "solver: tta level 2 shifts need images of at least 2x2, not %dx%d",
                        ds->train.h, ds->train.w);
    {   /* the augmentation is checked here: a step cannot fail on it */
        cn_augment a = {cfg->seed, cfg->aug_pad, cfg->aug_pad_mode, cfg->aug_flip};
        int dy, dx, fl, rc = cn_augment_draw(ctx, &dy, &dx, &fl, &a, 0, 0);
        if (rc) return cn_error(ctx, rc, "solver: aug_pad %d, aug_pad_mode %d, aug_flip %d: pad must be in 0..1024, "
                                "the modes as in cn_augment", cfg->aug_pad, (int)cfg->aug_pad_mode, (int)cfg->aug_flip);
        if (cfg->aug_pad_mode == CN_PAD_REFLECT && (cfg->aug_pad >= ds->train.h || cfg->aug_pad >= ds->train.w))
            return cn_error(ctx, CN_EINVAL, "solver: reflect padding needs aug_pad %d below the image's height and width (%dx%d)",
                            cfg->aug_pad, ds->train.h, ds->train.w);
    }
    {   /* num_epochs * iterations per epoch must fit an int (histories are indexed by it) */
        long long ipe = ds->train.n / cfg->batch_size > 0 ? ds->train.n / cfg->batch_size : 1;
        if ((long long)cfg->num_epochs * ipe > INT_MAX - 2)
            return cn_error(ctx, CN_EINVAL, "solver: num_epochs %d x %lld iterations per epoch is too many iterations",
                          cfg->num_epochs, ipe);
    }
    int C, H, W;
    cn_net_input(net, &C, &H, &W);
    if (ds->train.c != C || ds->train.h != H || ds->train.w != W)
        return cn_error(ctx, CN_EINVAL, "solver: data images are (%d,%d,%d) but the net takes (%d,%d,%d)",
                      ds->train.c, ds->train.h, ds->train.w, C, H, W);
    if (ds->num_classes > cn_net_num_classes(net))
        return cn_error(ctx, CN_EINVAL, "solver: the data has %d classes but the net's last layer has %d outputs",
                      ds->num_classes, cn_net_num_classes(net));
    {   /* the net learns this data set's preprocessing and class names (kept in its files) */
        const char *names[16];
        int nn = ds->num_classes > 16 ? 16 : ds->num_classes;
        for (int k = 0; k < nn; k++) names[k] = ds->classes[k];
        int rc = cn_net_set_preprocess(ctx, net, ds->mean);
        if (!rc && nn > 0 && ds->classes[0][0]) rc = cn_net_set_class_names(ctx, net, names, nn);
        if (rc) return rc;
    }
    cn_solver *s = calloc(1, sizeof *s);
    if (!s) return cn_error(ctx, CN_ENOMEM, "solver: out of memory");
    s->net = net;
    s->ds = ds;
    s->cfg = *cfg;
    if (s->cfg.learning_rate < 0) s->cfg.learning_rate = rule == 3 ? 1e-3 : 1e-2;
    s->lr = s->cfg.learning_rate;
    cn_rng_seed(&s->rng, cfg->seed);
    s->iters_per_epoch = ds->train.n / cfg->batch_size;
    if (s->iters_per_epoch < 1) s->iters_per_epoch = 1;
    s->num_iterations = cfg->num_epochs * s->iters_per_epoch;
    s->rule = rule;
    s->sched = sched_kind(cfg->schedule);
    schedule_lr(s);
    for (int i = 0; i < net->nops; i++)
        if (net->ops[i].pbeta >= 0) s->beta[net->ops[i].pbeta] = 1;
    s->best_val = -1;
    size_t esz = net->esz, nt = net->ntrain, nall = net->ntrain + net->nstate;
    /* one buffer size for training and accuracy checks: the checks run in
     * chunks of at most the training batch (each sample's scores do not
     * depend on the chunk), so activations are planned for one batch */
    s->bufn = cfg->batch_size;
    s->m = calloc(nt ? nt : 1, esz);
    s->v = calloc(nt ? nt : 1, esz);
    s->best = malloc((nall ? nall : 1) * esz);
    s->loss_hist = malloc(sizeof(double) * (size_t)s->num_iterations);
    s->cap_acc = cfg->num_epochs + 2;
    s->train_acc = malloc(sizeof(double) * s->cap_acc);
    s->val_acc = malloc(sizeof(double) * s->cap_acc);
    s->xb = malloc(esz * (size_t)s->bufn * C * H * W);
    s->yb = malloc(sizeof(int32_t) * s->bufn);
    s->idx = malloc(sizeof(int32_t) * s->bufn);
    s->scores = malloc(esz * (size_t)s->bufn * cn_net_num_classes(net));
    s->perm_epoch = -1;
    if (cfg->shuffle) s->perm = malloc(sizeof(int32_t) * (size_t)ds->train.n);
    s->augment = cfg->aug_pad > 0 || cfg->aug_flip != CN_FLIP_NONE;
    s->aug = (cn_augment){cfg->seed, cfg->aug_pad, cfg->aug_pad_mode, cfg->aug_flip};
    if (s->augment) {
        s->xraw = malloc(esz * (size_t)s->bufn * C * H * W);
        s->keys = malloc(sizeof(int64_t) * s->bufn);
    }
    if (cfg->tta > 0) {
        size_t V = (size_t)cn_tta_count(cfg->tta);
        s->tta.x = malloc(cn__mul(esz * V * s->bufn, (size_t)C * H * W));
        s->tta.scores = malloc(esz * V * s->bufn * cn_net_num_classes(net));
    }
    if (cfg->ema_decay > 0 || cfg->lookahead_k > 0) {
        s->avg = malloc((nt ? nt : 1) * esz);
        s->swap = malloc((nt ? nt : 1) * esz);
        s->avg_start = (cfg->ema_decay > 0 ? cfg->ema_start_epoch : cfg->lookahead_start_epoch) * s->iters_per_epoch;
    }
    if (!s->m || !s->v || !s->best || !s->loss_hist || !s->train_acc || !s->val_acc || !s->xb || !s->yb ||
        !s->idx || !s->scores || (cfg->shuffle && !s->perm) || (s->augment && (!s->xraw || !s->keys)) ||
        (cfg->tta > 0 && (!s->tta.x || !s->tta.scores)) ||
        ((cfg->ema_decay > 0 || cfg->lookahead_k > 0) && (!s->avg || !s->swap))) {
        cn_solver_free(s);
        return cn_error(ctx, CN_ENOMEM, "solver: out of memory");
    }
    memcpy(s->best, net->pblock, nall * esz);
    if (s->avg && s->avg_start == 0) memcpy(s->avg, net->pblock, nt * esz);
    int rc = cn_net_reserve(ctx, net, s->bufn);
    if (rc) { cn_solver_free(s); return rc; }
    *out = s;
    return CN_OK;
}

/* A training minibatch into s->xb, s->yb: the samples idx[0..B-1] of sp,
 * then (cfg.aug_*) each one moved by its transform of this epoch, keyed by
 * its index in the split (so the groups' split of the batch, the thread
 * count and a resume, which restores the epoch, give the same pixels). */
static int load_batch(cn_ctx *ctx, cn_solver *s, const cn_split *sp, const int32_t *idx, int B) {
    const int f32 = s->net->dtype == CN_F32;
    void *x = s->augment ? s->xraw : s->xb;
    int rc = f32 ? cn_split_batch_f32(ctx, sp, s->ds->mean, idx, B, x, s->yb)
                 : cn_split_batch_f64(ctx, sp, s->ds->mean, idx, B, x, s->yb);
    if (rc || !s->augment) return rc;
    for (int i = 0; i < B; i++) s->keys[i] = idx[i];
    return f32 ? cn_augment_batch_f32(ctx, s->xb, x, s->keys, &s->aug, s->epoch, B, sp->c, sp->h, sp->w)
               : cn_augment_batch_f64(ctx, s->xb, x, s->keys, &s->aug, s->epoch, B, sp->c, sp->h, sp->w);
}

/* Name the first parameter whose value or gradient is not finite. */
static const char *nonfinite_param(const cn_net *net) {
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        for (int g = 0; g < 2; g++) {
            const void *d = g ? p->grad : p->data;
            if (!d) continue;
            for (size_t e = 0; e < p->size; e++) {
                double x = net->dtype == CN_F32 ? ((const float *)d)[e] : ((const double *)d)[e];
                if (!isfinite(x)) return p->name;
            }
        }
    }
    return NULL;
}

/* "the gradient of W2[i] is inf" (grads = 1) or "parameter W2[i] is nan":
 * the first non-finite value; 0 when there is none. */
static int describe_nonfinite(const cn_net *net, int grads, char *buf, size_t len) {
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        const void *d = grads ? p->grad : p->data;
        if (!d) continue;
        for (size_t e = 0; e < p->size; e++) {
            double x = net->dtype == CN_F32 ? ((const float *)d)[e] : ((const double *)d)[e];
            if (!isfinite(x)) {
                snprintf(buf, len, "%s %s[%zu] is %g", grads ? "the gradient of" : "parameter", p->name, e, x);
                return 1;
            }
        }
    }
    snprintf(buf, len, "the L2 term reg*w overflowed");
    return 0;
}


/* "parameter W2[i] is nan" for the first non-finite value, else "the
 * gradient of W2[i] is inf" for the first non-finite gradient (a bad value
 * poisons every gradient, so values are searched first); with everything
 * finite, the parameter of largest magnitude. */
static void describe_params(const cn_net *net, char *buf, size_t len) {
    if (describe_nonfinite(net, 0, buf, len) || describe_nonfinite(net, 1, buf, len)) return;
    const char *big = NULL;
    double bigv = -1;
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        for (size_t e = 0; e < p->size; e++) {
            double x = net->dtype == CN_F32 ? ((const float *)p->data)[e] : ((const double *)p->data)[e];
            if (fabs(x) > bigv) bigv = fabs(x), big = p->name;
        }
    }
    snprintf(buf, len, "every parameter and gradient is finite; the largest |value| is %g in %s", bigv,
             big ? big : "?");
}

/* ---- data parallel: fixed groups of samples (cn_solver_set_groups) ------ */
static void group_range(int G, int K, int r, int *g0, int *g1) {
    *g0 = (int)((long)G * r / K);
    *g1 = (int)((long)G * (r + 1) / K);
}

int cn_solver_set_groups(cn_ctx *ctx, cn_solver *s, int groups, const cn_comm *comm) {
    int B = s->cfg.batch_size, K = comm ? comm->size : 1, r = comm ? comm->rank : 0;
    if (groups < 0 || groups > B)
        return cn_error(ctx, CN_EINVAL, "solver: %d groups for a batch of %d (0..batch size)", groups, B);
    if (comm && (K < 1 || r < 0 || r >= K || !comm->alltoallv || !comm->allgatherv))
        return cn_error(ctx, CN_EINVAL, "solver: bad communicator (rank %d of %d)", r, K);
    if (K > 1 && groups < K)
        return cn_error(ctx, CN_EINVAL, "solver: %d processes need at least as many sample groups (--groups), got %d",
                      K, groups);
    free(s->recs); free(s->sendb); free(s->recvb); free(s->red); free(s->state0); free(s->gloss); free(s->gw);
    s->recs = s->sendb = s->recvb = s->red = s->state0 = NULL;
    s->gloss = s->gw = NULL;
    s->groups = groups;
    s->has_comm = comm && K > 1;
    if (comm) s->comm = *comm;
    if (!groups) return CN_OK;
    cn_net *net = s->net;
    size_t esz = net->esz, E = net->ntrain + net->nstate;
    int g0, g1;
    group_range(groups, K, r, &g0, &g1);
    s->rec = E;
    size_t mine = cn__mul((size_t)(g1 - g0), cn__mul(E, esz)), slice = E / K + 1;
    s->recs = malloc(mine ? mine : 1);
    s->red = malloc(E * esz + 1);
    s->state0 = malloc(net->nstate * esz + 1);
    s->gloss = malloc(sizeof(double) * groups);
    s->gw = malloc(sizeof(double) * groups);
    if (s->has_comm) {
        s->sendb = malloc(mine ? mine : 1);
        s->recvb = malloc(cn__mul((size_t)groups, slice * esz));
    }
    if (!mine || !s->recs || !s->red || !s->state0 || !s->gloss || !s->gw ||
        (s->has_comm && (!s->sendb || !s->recvb))) {
        free(s->recs); free(s->sendb); free(s->recvb); free(s->red); free(s->state0); free(s->gloss); free(s->gw);
        s->recs = s->sendb = s->recvb = s->red = s->state0 = NULL;
        s->gloss = s->gw = NULL;
        s->groups = 0;
        return cn_error(ctx, CN_ENOMEM, "solver: out of memory for %d sample groups of %zu values", groups, E);
    }
    for (int g = 0; g < groups; g++) s->gw[g] = (double)((long)B * (g + 1) / groups - (long)B * g / groups) / B;
    return CN_OK;
}

void cn_solver_comm_stats(const cn_solver *s, double *bytes_sent, double *comm_s) {
    *bytes_sent = s->comm_bytes;
    *comm_s = s->t_comm;
}

/* dst[e] = sum over g of c[g] * src[g*stride + e], g in order 0..G-1, in
 * the net's dtype: element by element, so any split of e gives the same
 * bits (the owner of a slice and one process compute the same sums). One
 * body for both types, c already in the element type. */
#define ORDERED_SUM(T)                                                                                    \
    static void ordered_sum_##T(T *d, const T *x, const T *c, size_t stride, size_t len, int G, int nt) { \
        _Pragma("omp parallel for schedule(static) num_threads(nt)")                                      \
        for (size_t e = 0; e < len; e++) {                                                                \
            T a = c[0] * x[e];                                                                            \
            for (int g = 1; g < G; g++) a += c[g] * x[g * stride + e];                                    \
            d[e] = a;                                                                                     \
        }                                                                                                 \
    }
ORDERED_SUM(float)
ORDERED_SUM(double)

static void ordered_sum(size_t esz, void *dst, const void *src, size_t stride, size_t len, int G, const double *c,
                        int nt) {
    if (len < 65536) nt = 1;
    if (esz == 4) {
        float cf[G];
        for (int g = 0; g < G; g++) cf[g] = (float)c[g];
        ordered_sum_float(dst, src, cf, stride, len, G, nt);
    } else
        ordered_sum_double(dst, src, c, stride, len, G, nt);
}

/* The groups' step up to the update: this rank's groups each through the
 * net (from the same batch-norm state), their gradients, data losses and
 * new batch-norm state averaged over all groups in group order; leaves the
 * average gradient in s->red (the fused pass reads it there) and the state
 * in place. */
static int groups_loss(cn_ctx *ctx, cn_solver *s, double *loss_out) {
    cn_net *net = s->net;
    const cn_split *tr = &s->ds->train;
    const int B = s->cfg.batch_size, G = s->groups, K = s->has_comm ? s->comm.size : 1,
              r = s->has_comm ? s->comm.rank : 0;
    const size_t esz = net->esz, ntr = net->ntrain, ns = net->nstate, E = s->rec;
    int g0, g1, rc;
    group_range(G, K, r, &g0, &g1);
    char *state = (char *)net->pblock + ntr * esz;
    memcpy(s->state0, state, ns * esz);
    const double *c = s->gw;
    for (int g = g0; g < g1; g++) {
        int lo = (int)((long)B * g / G), hi = (int)((long)B * (g + 1) / G);
        double t0 = cn__now();
        rc = load_batch(ctx, s, tr, s->idx + lo, hi - lo);
        s->t_batch += cn__now() - t0;
        if (rc) return cn_error(ctx, rc, "solver: cannot build a minibatch (bad index or labels)");
        memcpy(state, s->state0, ns * esz);
        /* the backward writes the gradients straight into the group's
         * record (every layer overwrites its gradients, none adds) */
        char *rec = (char *)s->recs + (size_t)(g - g0) * E * esz;
        /* the fused update adds the L2 term */
        cn__lossopt o = {0, rec, NULL, net->profile, s->cfg.label_smoothing};
        rc = cn__net_run(ctx, net, &s->gloss[g], NULL, s->xb, s->yb, hi - lo, &o);
        if (rc) return rc;
        memcpy(rec + ntr * esz, state, ns * esz);
    }
    const int nt = cn_ctx_threads(ctx);
    if (K == 1) {
        /* the gradients are summed by the fused pass, chunk by chunk just
         * before their update (one pass over them); the state here */
        ordered_sum(esz, (char *)s->red + ntr * esz, (char *)s->recs + ntr * esz, E, ns, G, c, nt);
    } else {
        double t0 = cn__now();
        size_t sc[K], sd[K], rcn[K], rd[K];
        int ng = g1 - g0;
        /* the data losses, every group's to every rank (in place) */
        for (int i = 0; i < K; i++) {
            int a, b;
            group_range(G, K, i, &a, &b);
            rcn[i] = sizeof(double) * (b - a);
            rd[i] = sizeof(double) * a;
        }
        if (s->comm.allgatherv(s->comm.user, NULL, rcn[r], s->gloss, rcn, rd))
            return cn_error(ctx, CN_EIO, "solver: exchanging the losses with the other processes failed");
        s->comm_bytes += (double)rcn[r] * (K - 1);
        /* rank j owns the values [E*j/K, E*(j+1)/K) of a record: it gets
         * that slice of every group (in group order, as the ranks hold
         * them), sums them, and gives the sum to everyone */
        for (int j = 0; j < K; j++) {
            size_t a = E * j / K, len = E * (j + 1) / K - a;
            sc[j] = (size_t)ng * len * esz;
            sd[j] = (size_t)ng * a * esz;
            for (int k = 0; k < ng; k++)
                memcpy((char *)s->sendb + sd[j] + (size_t)k * len * esz, (char *)s->recs + ((size_t)k * E + a) * esz,
                       len * esz);
        }
        size_t ma = E * r / K, mlen = E * (r + 1) / K - ma;
        for (int i = 0; i < K; i++) {
            int a, b;
            group_range(G, K, i, &a, &b);
            rcn[i] = (size_t)(b - a) * mlen * esz;
            rd[i] = (size_t)a * mlen * esz;
        }
        if (s->comm.alltoallv(s->comm.user, s->sendb, sc, sd, s->recvb, rcn, rd))
            return cn_error(ctx, CN_EIO, "solver: exchanging the gradients with the other processes failed");
        for (int j = 0; j < K; j++)
            if (j != r) s->comm_bytes += (double)sc[j];
        double t1 = cn__now();
        ordered_sum(esz, (char *)s->red + ma * esz, s->recvb, mlen, mlen, G, c, nt);
        double t2 = cn__now();
        for (int i = 0; i < K; i++) {
            rcn[i] = (E * (i + 1) / K - E * i / K) * esz;
            rd[i] = E * i / K * esz;
        }
        if (s->comm.allgatherv(s->comm.user, NULL, rcn[r], s->red, rcn, rd))
            return cn_error(ctx, CN_EIO, "solver: gathering the summed gradients from the other processes failed");
        s->comm_bytes += (double)rcn[r] * (K - 1);
        s->t_comm += cn__now() - t2 + (t1 - t0);
    }
    /* the fused pass reads the gradient from s->red (not copied to gblock) */
    memcpy(state, (char *)s->red + ntr * esz, ns * esz);
    double loss = c[0] * s->gloss[0];
    for (int g = 1; g < G; g++) loss += c[g] * s->gloss[g];
    *loss_out = loss;
    return CN_OK;
}

/* The fused step (layers/optim.c): one pass over each trainable parameter
 * not updated in the backward (done[i]) adds the L2 gradient, sums w^2 for
 * the loss, updates, and checks g and the new w are finite. The flat block
 * is cut into nch chunks of a multiple of 16 elements, each summed on its
 * own, the sums added in chunk order; nch comes from the block's size alone
 * (one per 65536 values, at most 64), so the loss is the same for any
 * thread count. (It was the thread count for the single-pass step: the
 * weights came out the same, the loss's L2 term not always to the last
 * bit, and a test of the recipe saw it once the values moved.) */
static void fused_pass(cn_ctx *ctx, cn_solver *s, const unsigned char *done, const void *grad,
                       double *sumsq_out, int *bad_out) {
    const cn_solver_config *c = &s->cfg;
    int rule = s->rule;
    double p1, p2w;
    rule_params(s, &p1, &p2w);
    const int level = cn__simd(ctx);
    cn_net *net = s->net;
    size_t n = net->ntrain, esz = net->esz;
    int nt = cn_ctx_threads(ctx), nch;
    nch = n < 65536 ? 1 : n / 65536 > 64 ? 64 : (int)(n / 65536);
    if (nt > nch) nt = nch;
    double part[64] = {0};
    int badp[64] = {0};
    /* rounded up: every element is in a chunk whatever n % nch */
    size_t chunk = ((n + nch - 1) / nch + 15) & ~(size_t)15;
#pragma omp parallel for schedule(static, 1) num_threads(nt)
    for (int id = 0; id < nch; id++) {
        size_t lo = chunk * id, hi = lo + chunk;
        if (hi > n) hi = n;
        /* walk the parameter tensors that overlap [lo, hi) */
        for (int i = 0; i < net->nparams && lo < hi; i++) {
            const cn_param *p = &net->params[i];
            if (!p->trainable || (done && done[i])) continue;
            size_t a = ((char *)p->data - (char *)net->pblock) / esz, b = a + p->size;
            if (b <= lo || a >= hi) continue;
            size_t from = a > lo ? a : lo, to = b < hi ? b : hi, cnt = to - from;
            double reg = p->regularized ? net->reg : 0.0;
            /* the parameter's group: a norm's beta takes lr * bias_lr_scale
             * and the weight decay / bias_lr_scale (the same decay per step) */
            double lr = s->lr, p2 = p2w;
            if (s->beta[i]) {
                lr = s->lr * c->bias_lr_scale;
                if (rule == 4) p2 = c->weight_decay / c->bias_lr_scale;
            }
            char *W = (char *)net->pblock + from * esz, *D = (char *)grad + from * esz;
            if (s->groups > 0 && !s->has_comm) /* the groups' sum of this segment, in cache for the update */
                ordered_sum(esz, D, (char *)s->recs + from * esz, s->rec, cnt, s->groups, s->gw, 1);
            char *M = (char *)s->m + from * esz, *V = (char *)s->v + from * esz;
            int r = esz == 4 ? cn__update_fused_f32(level, rule, (float *)W, (float *)D, (float *)M, (float *)V, cnt, reg, lr,
                                                    p1, p2, c->epsilon, s->adam_t, p->regularized ? &part[id] : &(double){0})
                             : cn__update_fused_f64(level, rule, (double *)W, (double *)D, (double *)M, (double *)V, cnt, reg,
                                                    lr, p1, p2, c->epsilon, s->adam_t,
                                                    p->regularized ? &part[id] : &(double){0});
            badp[id] |= r != CN_OK;
        }
    }
    double sumsq = 0;
    int bad = 0;
    for (int i = 0; i < nch; i++) {
        sumsq += part[i];
        bad |= badp[i];
    }
    *sumsq_out = sumsq;
    *bad_out = bad;
}

/* The samples of the step after s->t iterations into s->idx. The
 * original draws each minibatch with replacement from s->rng. cfg.shuffle
 * walks the epoch's permutation of the training split instead (the first
 * iters_per_epoch * B of it; the rest waits for the next epoch's draw):
 * cn_epoch_order, a pure function of (seed, epoch), so a resume, any
 * number of processes and any thread count see the same order, and s->rng
 * (the accuracy subsamples) is not touched. */
static void draw_batch(cn_solver *s, int B) {
    const cn_split *tr = &s->ds->train;
    if (!s->cfg.shuffle) {
        for (int i = 0; i < B; i++) s->idx[i] = (int32_t)cn_rng_below(&s->rng, (uint64_t)tr->n);
        return;
    }
    int n = tr->n;
    if (s->perm_epoch != s->epoch) { /* cannot fail: perm has n > 0 entries */
        cn_epoch_order(NULL, s->perm, s->cfg.seed, s->epoch, n);
        s->perm_epoch = s->epoch;
    }
    /* B > n (one iteration per epoch): wrap around the permutation */
    size_t at = (size_t)(s->t % s->iters_per_epoch) * B;
    for (int i = 0; i < B; i++) s->idx[i] = s->perm[(at + i) % n];
}

int cn_solver_step(cn_ctx *ctx, cn_solver *s, double *loss_out) {
    const cn_split *tr = &s->ds->train;
    int B = s->cfg.batch_size;
    double t0 = cn__now();
    /* every rank draws the whole batch (the same stream as one process:
     * the same log lines and checkpoints) and loads its own groups only */
    draw_batch(s, B);
    double loss;
    const cn_solver_config *c = &s->cfg;
    int rule = s->rule;
    double p1, p2; /* the affine weights are never a norm's beta */
    rule_params(s, &p1, &p2);
    const int level = cn__simd(ctx);
    schedule_lr(s);
    cn__netupd nu;
    memset(nu.done, 0, sizeof nu.done);
    int rc;
    if (s->groups > 0) {
        if ((rc = groups_loss(ctx, s, &loss))) return rc;
        goto update;
    }
    rc = load_batch(ctx, s, tr, s->idx, B);
    s->t_batch += cn__now() - t0;
    if (rc) return cn_error(ctx, rc, "solver: cannot build a minibatch (bad index or labels)");
    /* The affine weights are updated inside the backward, as soon as their
     * gradient rows are final (w's rows read once while in cache, dw never
     * stored whole: most of the step's memory traffic at hidden 500); the
     * fused pass below does the rest. The same per-element arithmetic, so
     * the same bits. */
    nu.u = (cn__wupd){level, rule, 0, s->lr, p1, p2, c->epsilon, s->adam_t + (rule == 3), s->m, s->v, 0, 0};
    cn__lossopt o = {0, NULL, &nu, s->net->profile, c->label_smoothing}; /* the fused update adds the L2 term */
    rc = cn__net_run(ctx, s->net, &loss, NULL, s->xb, s->yb, B, &o);
    if (rc) return rc;
update:
    if (!isfinite(loss)) {
        char what[160];
        describe_params(s->net, what, sizeof what);
        return cn_error(ctx, CN_ENUM, "iteration %d: the loss is %g; %s; stopped before the update", s->t + 1,
                      loss, what);
    }
    t0 = cn__now();
    if (rule == 3) s->adam_t++;
    cn_net *net = s->net;
    double sumsq;
    int bad;
    /* the gradient: in gblock, or (groups) the reduced record */
    fused_pass(ctx, s, nu.done, s->groups > 0 ? s->red : net->gblock, &sumsq, &bad);
    for (int i = 0; i < net->nparams; i++) /* those updated in the backward */
        if (nu.done[i]) {
            if (net->params[i].regularized) sumsq += nu.sumsq[i];
            bad |= nu.bad[i];
        }
    loss += 0.5 * net->reg * sumsq;
    s->t_update += cn__now() - t0;
    if (bad) {
        /* the raw gradients are intact: name the first non-finite one, else
         * the first parameter the update made non-finite */
        char what[160];
        const char *kind = "gradient";
        if (s->groups > 0) memcpy(net->gblock, s->red, net->ntrain * net->esz); /* to name it */
        if (!describe_nonfinite(net, 1, what, sizeof what)) {
            kind = "update";
            describe_nonfinite(net, 0, what, sizeof what);
        }
        return cn_error(ctx, CN_ENUM, "iteration %d: non-finite %s in the %s step (learning rate %g): %s; training stopped, "
                      "the last checkpoint is left as it was", s->t + 1, kind, c->update_rule, s->lr, what);
    }
    if (!isfinite(loss)) {
        /* the data loss was finite: the L2 term the fused pass added overflowed */
        char what[160];
        describe_params(net, what, sizeof what);
        return cn_error(ctx, CN_ENUM,
                      "iteration %d: the loss is %g: the L2 term 0.5*reg*sum(W^2) (reg %g) overflowed; %s; training "
                      "stopped, the last checkpoint is left as it was", s->t + 1, loss, net->reg, what);
    }
    if (loss_out) *loss_out = loss;
    return CN_OK;
}

int cn_solver_check_accuracy(cn_ctx *ctx, cn_solver *s, const cn_split *sp, int num_samples,
                             int batch_size, double *acc) {
    int N = sp->n;
    if (N <= 0) { *acc = 0; return CN_OK; }
    if (batch_size <= 0 || batch_size > s->bufn) batch_size = s->bufn < 100 ? s->bufn : 100;
    int sub = num_samples > 0 && N > num_samples;
    int total = sub ? num_samples : N;
    /* the original draws the whole subsample first (np.random.choice) */
    int32_t *mask = NULL;
    if (sub) {
        mask = malloc(sizeof(int32_t) * (size_t)total);
        if (!mask) return cn_error(ctx, CN_ENOMEM, "check_accuracy: out of memory");
        for (int i = 0; i < total; i++) mask[i] = (int32_t)cn_rng_below(&s->rng, (uint64_t)N);
    }
    /* in the solver's own batch buffers (sized for batch_size <= bufn) */
    cn_batch_buf buf = {s->xb, s->scores, s->yb, s->idx};
    int rc = cn_net_accuracy_tta(ctx, s->net, sp, s->ds->mean, mask, total, batch_size, s->cfg.tta, &buf, &s->tta, acc);
    free(mask);
    return rc;
}

/* periodic checkpoints that may fail in a row before training stops */
#define CN_CKPT_MAX_FAILS 3

int cn_solver_train(cn_ctx *ctx, cn_solver *s, cn_log_fn log, void *user, volatile int *stop,
                    const char *checkpoint_path, int checkpoint_every) {
    char line[256];
    const cn_solver_config *c = &s->cfg;
    size_t nall = s->net->ntrain + s->net->nstate;
    double t0 = cn__now(), last_progress = t0;
    int t_start = s->t, ckpt_fails = 0;
    while (s->t < s->num_iterations) {
        if (stop && *stop) return cn_error(ctx, CN_EINTR, "stopped at iteration %d of %d", s->t, s->num_iterations);
        double loss;
        int rc = cn_solver_step(ctx, s, &loss);
        if (rc) return rc;
        int t = s->t++;
        double ta0 = cn__now();
        average_step(s);
        s->t_update += cn__now() - ta0;
        s->loss_hist[s->nloss++] = loss;
        if (c->verbose && t % c->print_every == 0 && log) {
            snprintf(line, sizeof line, "(Iteration %d / %d) loss: %f", t + 1, s->num_iterations, loss);
            log(user, line, 0);
        }
        int epoch_end = (t + 1) % s->iters_per_epoch == 0;
        if (epoch_end) {
            s->epoch++;
            s->lr *= c->lr_decay;
        }
        schedule_lr(s);
        if (t == 0 || t == s->num_iterations - 1 || epoch_end) {
            double ta, va, tc = cn__now();
            int avg = use_average(s, 1); /* the checks (and the best kept) on the averaged weights */
            rc = cn_solver_check_accuracy(ctx, s, &s->ds->train, c->num_train_samples, 100, &ta);
            if (!rc) rc = cn_solver_check_accuracy(ctx, s, &s->ds->val, c->num_val_samples, 100, &va);
            if (rc) {
                if (avg) use_average(s, 0);
                return rc;
            }
            if (s->nacc < s->cap_acc) {
                s->train_acc[s->nacc] = ta;
                s->val_acc[s->nacc] = va;
                s->nacc++;
            }
            if (c->verbose && log) {
                snprintf(line, sizeof line, "(Epoch %d / %d) train acc: %f; val_acc: %f", s->epoch, c->num_epochs, ta, va);
                log(user, line, 0);
            }
            /* an empty validation split has nothing to choose by: the
             * latest parameters are kept (training on every image) */
            if (va > s->best_val || s->ds->val.n <= 0) {
                s->best_val = va;
                memcpy(s->best, s->net->pblock, nall * s->net->esz);
            }
            if (avg) use_average(s, 0);
            s->t_check += cn__now() - tc;
        }
        double now = cn__now();
        if (log && now - last_progress > 0.5) {
            double rate = (s->t - t_start) * (double)c->batch_size / (now - t0);
            double eta = (s->num_iterations - s->t) * (double)c->batch_size / (rate > 0 ? rate : 1);
            snprintf(line, sizeof line, "iteration %d / %d, epoch %d, %.0f images/s, ETA %.0fs", s->t,
                     s->num_iterations, s->epoch, rate, eta);
            log(user, line, 1);
            last_progress = now;
        }
        if (checkpoint_path && checkpoint_every > 0 && s->t % checkpoint_every == 0 && s->t < s->num_iterations) {
            /* A periodic checkpoint that cannot be written (disk full, I/O
             * error, no memory for it) warns and training goes on: the
             * state in memory is sound, the previous checkpoint is intact
             * (atomic.c), and a transient cause (a cleanup, a network file
             * system's hiccup) lets the next one through. A cause that
             * persists stops the run after CN_CKPT_MAX_FAILS failures in a
             * row, so a long run does not compute on with nothing kept.
             * A non-finite parameter (CN_ENUM) stops at once, as before. */
            rc = cn_solver_save(ctx, s, checkpoint_path);
            if (rc == CN_EIO || rc == CN_ENOMEM) {
                if (++ckpt_fails >= CN_CKPT_MAX_FAILS) {
                    char msg[CN_ERRMAX];
                    snprintf(msg, sizeof msg, "%s", cn_ctx_error(ctx));
                    return cn_error(ctx, rc, "iteration %d: %d checkpoints in a row failed, stopping (the last one "
                                  "written is intact); the last failure: %s", s->t, ckpt_fails, msg);
                }
                if (log) {
                    snprintf(line, sizeof line, "warning: iteration %d: checkpoint not saved, training goes on: %.180s",
                             s->t, cn_ctx_error(ctx));
                    log(user, line, 0);
                }
            } else if (rc) {
                return rc;
            } else {
                ckpt_fails = 0;
            }
        }
    }
    memcpy(s->net->pblock, s->best, nall * s->net->esz);
    return CN_OK;
}

const double *cn_solver_loss_history(const cn_solver *s, int *n) { *n = s->nloss; return s->loss_hist; }
const double *cn_solver_train_acc_history(const cn_solver *s, int *n) { *n = s->nacc; return s->train_acc; }
const double *cn_solver_val_acc_history(const cn_solver *s, int *n) { *n = s->nacc; return s->val_acc; }
double cn_solver_best_val_acc(const cn_solver *s) { return s->best_val; }
int cn_solver_iteration(const cn_solver *s) { return s->t; }
int cn_solver_epoch(const cn_solver *s) { return s->epoch; }
double cn_solver_lr(const cn_solver *s) { return s->lr; }
void cn_solver_times(const cn_solver *s, double *batch_s, double *update_s, double *check_s) {
    *batch_s = s->t_batch;
    *update_s = s->t_update;
    *check_s = s->t_check;
}
int cn_solver_num_iterations(const cn_solver *s) { return s->num_iterations; }
const void *cn_solver_averaged_params(const cn_solver *s, size_t *n) {
    *n = s->net->ntrain;
    return s->avg && s->t >= s->avg_start ? s->avg : NULL;
}

/* The checkpoint name of the averaged weights of parameter p. */
static void avg_name(const cn_solver *s, const char *p, char *buf, size_t len) {
    snprintf(buf, len, "%s.%s", s->cfg.ema_decay > 0 ? "ema" : "lookahead.slow", p);
}

/* ---- checkpoints --------------------------------------------------------- */
#define MAXT (5 * CN_MAX_PARAMS + 8)

int cn_solver_save(cn_ctx *ctx, const cn_solver *s, const char *path) {
    const cn_net *net = s->net;
    const char *bad = nonfinite_param(net);
    if (bad) return cn_error(ctx, CN_ENUM, "iteration %d: parameter %s is not finite; checkpoint %s left as it was", s->t, bad, path);
    int rule = s->rule;
    cn_tensor *t = calloc(MAXT, sizeof *t);
    char (*names)[64] = calloc(MAXT, 64);
    if (!t || !names) { free(t); free(names); return cn_error(ctx, CN_ENOMEM, "checkpoint: out of memory"); }
    int nt = 0;
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        size_t off = ((char *)p->data - (char *)net->pblock) / net->esz;
        for (int k = 0; k < 5; k++) {
            const void *data;
            if (k == 0) { snprintf(names[nt], 64, "%s", p->name); data = p->data; }
            else if (k == 1) { snprintf(names[nt], 64, "best.%s", p->name); data = (char *)s->best + off * net->esz; }
            else if (k == 4) { /* the averaged weights, once started */
                if (!cn_solver_averaged_params(s, &(size_t){0}) || !p->trainable) continue;
                avg_name(s, p->name, names[nt], 64);
                data = (char *)s->avg + off * net->esz;
            } else {
                const char *mn = moment_names[rule][k - 2];
                if (!mn || !p->trainable) continue;
                snprintf(names[nt], 64, "%s.%s.%s", s->cfg.update_rule, mn, p->name);
                data = (char *)(k == 2 ? s->m : s->v) + off * net->esz;
            }
            t[nt] = (cn_tensor){names[nt], net->dtype, 0, p->ndim, {0}, data};
            for (int d = 0; d < p->ndim; d++) t[nt].shape[d] = p->shape[d];
            nt++;
        }
    }
    const double *hist[3] = {s->loss_hist, s->train_acc, s->val_acc};
    const int hn[3] = {s->nloss, s->nacc, s->nacc};
    const char *hname[3] = {"history.loss", "history.train_acc", "history.val_acc"};
    for (int k = 0; k < 3; k++) {
        if (hn[k] == 0) continue;
        t[nt] = (cn_tensor){hname[k], CN_F64, 0, 1, {hn[k]}, hist[k]};
        nt++;
    }
    char v[20][160], recipe[400];
    const cn_solver_config *c = &s->cfg;
    snprintf(v[0], sizeof v[0], "%d,%d,%d", net->C, net->H, net->W);
    snprintf(v[1], sizeof v[0], "%.17g", net->reg);
    snprintf(v[2], sizeof v[0], "%.17g", c->learning_rate);
    snprintf(v[3], sizeof v[0], "%.17g", s->lr);
    snprintf(v[4], sizeof v[0], "%.17g,%.17g,%.17g,%.17g,%.17g", c->momentum, c->decay_rate, c->beta1, c->beta2, c->epsilon);
    snprintf(v[5], sizeof v[0], "%.17g", c->lr_decay);
    snprintf(v[6], sizeof v[0], "%d", c->batch_size);
    snprintf(v[7], sizeof v[0], "%d", c->num_epochs);
    snprintf(v[8], sizeof v[0], "%d,%d,%d,%d", c->num_train_samples, c->num_val_samples, c->print_every, c->verbose);
    snprintf(v[9], sizeof v[0], "%llu", (unsigned long long)c->seed);
    snprintf(v[10], sizeof v[0], "%d", s->epoch);
    snprintf(v[11], sizeof v[0], "%d", s->t);
    snprintf(v[12], sizeof v[0], "%ld", s->adam_t);
    snprintf(v[13], sizeof v[0], "%.17g", s->best_val);
    char rng[80];
    snprintf(rng, sizeof rng, "%016llx%016llx%016llx%016llx", (unsigned long long)s->rng.s[0],
             (unsigned long long)s->rng.s[1], (unsigned long long)s->rng.s[2], (unsigned long long)s->rng.s[3]);
    cn_meta meta[] = {
        {"spec", net->spec}, {"input", v[0]}, {"dtype", net->dtype == CN_F32 ? "float32" : "float64"},
        {"reg", v[1]}, {"update_rule", c->update_rule}, {"learning_rate", v[2]}, {"lr", v[3]},
        {"optim", v[4]}, {"lr_decay", v[5]}, {"batch_size", v[6]}, {"num_epochs", v[7]},
        {"samples_print_verbose", v[8]}, {"seed", v[9]}, {"epoch", v[10]}, {"iteration", v[11]},
        {"adam_t", v[12]}, {"best_val_acc", v[13]}, {"rng", rng}, {NULL, NULL}, {NULL, NULL}, {NULL, NULL},
        {NULL, NULL},
    };
    int nm = (int)(sizeof meta / sizeof meta[0]) - 4; /* the recipe line, then the net's info (at most 3) */
    /* the recipe's fields, when any differs from its default (a record of
     * the run: resume takes the config it is given, as for the others) */
    if (c->weight_decay != 0 || c->schedule[0] || c->bias_lr_scale != 1 || c->label_smoothing != 0 || s->avg ||
        c->shuffle) {
        snprintf(recipe, sizeof recipe, "shuffle=%d,wd=%.17g,schedule=%s,%.17g,%.17g,%.17g,bias_lr_scale=%.17g,smoothing=%.17g,"
                 "ema=%.17g@%d,lookahead=%d,%.17g@%d%s", c->shuffle, c->weight_decay, c->schedule[0] ? c->schedule : "none",
                 c->lr_warmup, c->lr_start, c->lr_end, c->bias_lr_scale, c->label_smoothing, c->ema_decay,
                 c->ema_start_epoch, c->lookahead_k, c->lookahead_alpha, c->lookahead_start_epoch,
                 c->lookahead_ramp ? ",ramp" : "");
        meta[nm++] = (cn_meta){"recipe", recipe};
    }
    char *classes = NULL;
    int rc = cn__net_info_save(ctx, net, meta, &nm, t, &nt, &classes);
    if (!rc) rc = cn_st_save(ctx, path, t, nt, meta, nm);
    free(classes);
    free(t);
    free(names);
    return rc;
}

/* A finite number from the metadata (strtod alone would take "nan" and "inf"). */
static int meta_num(cn_ctx *ctx, const cn_st *st, const char *path, const char *key, double *out) {
    const char *v = cn_st_meta(st, key);
    char *end;
    if (!v) return cn_error(ctx, CN_EFORMAT, "%s: metadata '%s' is missing", path, key);
    *out = strtod(v, &end);
    if (end == v || *end || !isfinite(*out))
        return cn_error(ctx, CN_EFORMAT, "%s: metadata '%s' = '%.40s' is not a finite number", path, key, v);
    return CN_OK;
}

/* A decimal integer in [lo, hi] from the metadata. */
static int meta_int(cn_ctx *ctx, const cn_st *st, const char *path, const char *key, long lo, long hi,
                    long *out) {
    const char *v = cn_st_meta(st, key);
    char *end;
    if (!v) return cn_error(ctx, CN_EFORMAT, "%s: metadata '%s' is missing", path, key);
    errno = 0;
    *out = strtol(v, &end, 10);
    if (end == v || *end || errno || *out < lo || *out > hi)
        return cn_error(ctx, CN_EFORMAT, "%s: metadata '%s' = '%.40s' (expected an integer in %ld..%ld)", path, key,
                      v, lo, hi);
    return CN_OK;
}

/* Check that tensor `name` is there with the dtype and shape given (ndim 1
 * and shape[0] = n for histories), then copy it into dst unless dst is NULL. */
static int copy_tensor(cn_ctx *ctx, const cn_st *st, const char *path, const char *name, void *dst,
                       cn_dtype dtype, int ndim, const int64_t *shape) {
    const cn_tensor *t = cn_st_tensor_get(st, name);
    if (!t) return cn_error(ctx, CN_EFORMAT, "%s: tensor %s is missing", path, name);
    int same = !t->is_i32 && t->dtype == dtype && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[64] = "", got[64] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "", (long long)shape[d]);
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)t->shape[d]);
        return cn_error(ctx, CN_EFORMAT, "%s: tensor %s is %s (%s), expected %s (%s)", path, name,
                      t->is_i32 ? "I32" : t->dtype == CN_F64 ? "F64" : "F32", got, dtype == CN_F64 ? "F64" : "F32", want);
    }
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    if (dst && n) memcpy(dst, t->data, n * (dtype == CN_F32 ? 4 : 8));
    return CN_OK;
}

/* Every tensor of the solver's state: checked (copy = 0) or copied (copy = 1). */
static int state_tensors(cn_ctx *ctx, cn_solver *s, const cn_st *st, const char *path, int nloss, int nacc,
                         int copy) {
    cn_net *net = s->net;
    int rid = s->rule, rc = CN_OK;
    for (int i = 0; i < net->nparams && !rc; i++) {
        const cn_param *p = &net->params[i];
        size_t off = ((char *)p->data - (char *)net->pblock) / net->esz;
        char name[80];
        rc = copy_tensor(ctx, st, path, p->name, copy ? p->data : NULL, net->dtype, p->ndim, p->shape);
        snprintf(name, sizeof name, "best.%s", p->name);
        if (!rc)
            rc = copy_tensor(ctx, st, path, name, copy ? (char *)s->best + off * net->esz : NULL, net->dtype,
                             p->ndim, p->shape);
        for (int k = 0; k < 2 && !rc && p->trainable; k++) {
            if (!moment_names[rid][k]) continue;
            snprintf(name, sizeof name, "%s.%s.%s", s->cfg.update_rule, moment_names[rid][k], p->name);
            rc = copy_tensor(ctx, st, path, name, copy ? (char *)(k ? s->v : s->m) + off * net->esz : NULL,
                             net->dtype, p->ndim, p->shape);
        }
        if (!rc && s->avg && nloss >= s->avg_start && p->trainable) { /* the iteration is nloss */
            avg_name(s, p->name, name, sizeof name);
            rc = copy_tensor(ctx, st, path, name, copy ? (char *)s->avg + off * net->esz : NULL, net->dtype, p->ndim,
                             p->shape);
        }
    }
    int64_t hl = nloss, ha = nacc;
    if (!rc && nloss > 0) rc = copy_tensor(ctx, st, path, "history.loss", copy ? s->loss_hist : NULL, CN_F64, 1, &hl);
    if (!rc && nacc > 0) rc = copy_tensor(ctx, st, path, "history.train_acc", copy ? s->train_acc : NULL, CN_F64, 1, &ha);
    if (!rc && nacc > 0) rc = copy_tensor(ctx, st, path, "history.val_acc", copy ? s->val_acc : NULL, CN_F64, 1, &ha);
    return rc;
}

/* Everything is checked before anything is copied: a checkpoint that does
 * not fit leaves the solver and its net as they were. */
int cn_solver_resume(cn_ctx *ctx, cn_solver *s, const char *path) {
    cn_st *st;
    int rc = cn_st_load(ctx, path, &st);
    if (rc) return rc;
    cn_net *net = s->net;
    const char *spec = cn_st_meta(st, "spec"), *rule = cn_st_meta(st, "update_rule"), *rng = cn_st_meta(st, "rng");
    const char *input = cn_st_meta(st, "input"), *dt = cn_st_meta(st, "dtype");
    char dims[48];
    snprintf(dims, sizeof dims, "%d,%d,%d", net->C, net->H, net->W);
    const char *mydt = net->dtype == CN_F32 ? "float32" : "float64";
    long epoch, it, adam_t;
    double best_val, lr;
    if (!spec || strcmp(spec, net->spec)) {
        rc = cn_error(ctx, CN_EINVAL, "%s: checkpoint net '%.200s' differs from this run's '%s'", path, spec ? spec : "?", net->spec);
        goto done;
    }
    if (!input || strcmp(input, dims) || !dt || strcmp(dt, mydt)) {
        rc = cn_error(ctx, CN_EINVAL, "%s: checkpoint input (%.40s) %.16s differs from this run's (%s) %s", path,
                    input ? input : "?", dt ? dt : "?", dims, mydt);
        goto done;
    }
    if (!rule || strcmp(rule, s->cfg.update_rule)) {
        rc = cn_error(ctx, CN_EINVAL, "%s: checkpoint update rule '%.40s' differs from this run's '%s'", path, rule ? rule : "?", s->cfg.update_rule);
        goto done;
    }
    if ((rc = meta_int(ctx, st, path, "iteration", 0, INT_MAX, &it)) ||
        (rc = meta_int(ctx, st, path, "epoch", 0, INT_MAX, &epoch)) ||
        (rc = meta_int(ctx, st, path, "adam_t", 0, INT_MAX, &adam_t)) ||
        (rc = meta_num(ctx, st, path, "best_val_acc", &best_val)) || (rc = meta_num(ctx, st, path, "lr", &lr)))
        goto done;
    if (it > s->num_iterations) {
        rc = cn_error(ctx, CN_EINVAL,
                    "%s: checkpoint at iteration %ld is past the end of this run (%d iterations: %d epochs of %d; "
                    "a different number of epochs, training images or batch size?)",
                    path, it, s->num_iterations, s->cfg.num_epochs, s->iters_per_epoch);
        goto done;
    }
    if (epoch != it / s->iters_per_epoch) {
        rc = cn_error(ctx, CN_EINVAL,
                    "%s: checkpoint at iteration %ld, epoch %ld does not fit this run's %d iterations per epoch "
                    "(a different number of training images or batch size?)",
                    path, it, epoch, s->iters_per_epoch);
        goto done;
    }
    unsigned long long r[4];
    if (!rng || strlen(rng) != 64 || strspn(rng, "0123456789abcdef") != 64 ||
        sscanf(rng, "%16llx%16llx%16llx%16llx", &r[0], &r[1], &r[2], &r[3]) != 4 || !(r[0] | r[1] | r[2] | r[3])) {
        rc = cn_error(ctx, CN_EFORMAT, "%s: metadata 'rng' is missing or malformed (expected 64 hex digits, not all 0)", path);
        goto done;
    }
    int nloss = (int)it, nacc = 0;
    const cn_tensor *ta = cn_st_tensor_get(st, "history.train_acc");
    if (ta) nacc = ta->ndim == 1 && ta->shape[0] <= s->cap_acc ? (int)ta->shape[0] : -1;
    if (nacc < 0) { rc = cn_error(ctx, CN_EFORMAT, "%s: history.train_acc has a bad shape (expected 1-D, at most %d)", path, s->cap_acc); goto done; }
    if ((rc = state_tensors(ctx, s, st, path, nloss, nacc, 0))) goto done;
    state_tensors(ctx, s, st, path, nloss, nacc, 1);
    s->nloss = nloss;
    s->nacc = nacc;
    s->t = (int)it;
    s->epoch = (int)epoch;
    s->adam_t = adam_t;
    s->best_val = best_val;
    s->lr = lr;
    schedule_lr(s); /* the same value: a pure function of the iteration */
    for (int k = 0; k < 4; k++) s->rng.s[k] = r[k];
done:
    cn_st_free(st);
    return rc;
}
