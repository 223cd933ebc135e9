/* test_recipe_data.c — the recipe's data side wired in (issue 10): the
 * Solver's augmented minibatches against cn_augment_batch applied by hand to
 * the batch the Solver draws (at 1 and 2 threads, after a resume, in sample
 * groups), TTA accuracy against scoring each variant with cn_net_loss and
 * combining with cn_tta_combine, the model file's tta level, and the CLI
 * (train --tta/--aug-*, a whiten net fitted before training, eval's default
 * level). */
#define _GNU_SOURCE
#include "cli_util.h"
#include "fixtures.h"
#include <errno.h>

static char convnet[512], dir[256], data_flag[600];

enum { C = 3, H = 8, W = 8, NTRAIN = 60, NVAL = 37, B = 20 };
static const char *SPEC = "conv4x3p1-relu-pool2-affine3";

static cn_net *new_net(cn_ctx *ctx, cn_dtype dt) {
    cn_rng r;
    cn_rng_seed(&r, 11);
    cn_net *net;
    if (cn_net_new(ctx, &net, SPEC, C, H, W, dt, 0.1, 0.0, &r)) { printf("net: %s\n", cn_ctx_error(ctx)); exit(2); }
    return net;
}

static void aug_config(cn_solver_config *cfg, int epochs) {
    fx_solver_config(cfg, "sgd", B, epochs, 0, 7);
    cfg->aug_pad = 2;
    cfg->aug_pad_mode = CN_PAD_REFLECT;
    cfg->aug_flip = CN_FLIP_ALTERNATE;
}

/* The data loss of the batch the Solver draws from rng (idx: B draws below
 * n), built by hand: cn_split_batch, then cn_augment_batch with the epoch
 * and keys (keys NULL: the idx, as the Solver must; else these). */
static double hand_loss(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, cn_rng rng, const cn_solver_config *cfg,
                        long epoch, int wrong_keys, double *xout) {
    int32_t idx[B], y[B];
    int64_t keys[B];
    double x[B * C * H * W], xa[B * C * H * W], loss = NAN;
    for (int i = 0; i < B; i++) idx[i] = (int32_t)cn_rng_below(&rng, (uint64_t)ds->train.n);
    for (int i = 0; i < B; i++) keys[i] = wrong_keys ? i : idx[i];
    cn_augment a = {cfg->seed, cfg->aug_pad, cfg->aug_pad_mode, cfg->aug_flip};
    if (cn_split_batch_f64(ctx, &ds->train, ds->mean, idx, B, x, y) ||
        cn_augment_batch_f64(ctx, xa, x, keys, &a, epoch, B, C, H, W) || cn_net_loss(ctx, net, &loss, NULL, xa, y, B))
        printf("hand batch: %s\n", cn_ctx_error(ctx));
    if (xout) memcpy(xout, xa, sizeof xa);
    return loss;
}

/* The Solver's first step equals the hand-built augmented batch's loss (reg
 * 0: the step's loss is the data loss), at 1 and 2 threads; the wrong keys
 * or no augmentation give another loss; sample groups too. */
static void test_first_step(const cn_dataset *ds) {
    for (int nt = 1; nt <= 2; nt++) {
        cn_ctx *ctx = cn_ctx_new(nt);
        cn_solver_config cfg;
        aug_config(&cfg, 1);
        cn_net *net = new_net(ctx, CN_F64), *ref = new_net(ctx, CN_F64);
        cn_solver *s;
        if (cn_solver_new(ctx, &s, net, ds, &cfg)) { printf("solver: %s\n", cn_ctx_error(ctx)); exit(2); }
        double loss, xa[2][B * C * H * W];
        cn_solver_step(ctx, s, &loss);
        cn_rng rng;
        cn_rng_seed(&rng, cfg.seed);
        double want = hand_loss(ctx, ref, ds, rng, &cfg, 0, 0, xa[0]);
        double wrong = hand_loss(ctx, ref, ds, rng, &cfg, 0, 1, NULL);
        hand_loss(ctx, ref, ds, rng, &cfg, 1, 0, xa[1]);
        char name[96];
        snprintf(name, sizeof name, "solver step == augment by hand (%d thread%s)", nt, nt > 1 ? "s" : "");
        check_le(name, fabs(loss - want), 0);
        check_true("  keys = positions, not indices, give another loss", fabs(wrong - want) > 1e-9, NULL);
        check_true("  epoch 1's transforms differ from epoch 0's", memcmp(xa[0], xa[1], sizeof xa[0]) != 0, NULL);
        cn_solver_free(s);
        cn_net_free(net);
        /* no augmentation: the original batch (another loss) */
        cfg.aug_pad = 0;
        cfg.aug_flip = CN_FLIP_NONE;
        net = new_net(ctx, CN_F64);
        cn_solver_new(ctx, &s, net, ds, &cfg);
        double plain;
        cn_solver_step(ctx, s, &plain);
        check_true("  augmentation off: another loss", fabs(plain - want) > 1e-9, NULL);
        cn_solver_free(s);
        cn_net_free(net);
        /* sample groups: each group's part of the batch keyed by its indices */
        aug_config(&cfg, 1);
        net = new_net(ctx, CN_F64);
        cn_solver_new(ctx, &s, net, ds, &cfg);
        if (cn_solver_set_groups(ctx, s, 2, NULL)) printf("groups: %s\n", cn_ctx_error(ctx));
        double gl;
        cn_solver_step(ctx, s, &gl);
        int32_t idx[B], y[B];
        double x[B * C * H * W];
        cn_rng_seed(&rng, cfg.seed);
        for (int i = 0; i < B; i++) idx[i] = (int32_t)cn_rng_below(&rng, (uint64_t)ds->train.n);
        cn_split_batch_f64(ctx, &ds->train, ds->mean, idx, B, x, y); /* labels */
        double l0, l1;
        cn_net_loss(ctx, ref, &l0, NULL, xa[0], y, B / 2);
        cn_net_loss(ctx, ref, &l1, NULL, xa[0] + (size_t)(B / 2) * C * H * W, y + B / 2, B / 2);
        check_le("  groups 2: == the halves' losses by hand", fabs(gl - (0.5 * l0 + 0.5 * l1)), 1e-14);
        cn_solver_free(s);
        cn_net_free(net);
        cn_net_free(ref);
        cn_ctx_free(ctx);
    }
}

/* Train with a checkpoint at iteration 4 (epoch 1); a run resumed from it
 * has the same losses bit for bit, and iteration 5's loss equals the hand
 * batch drawn from the checkpoint's RNG with epoch 1's transforms. */
static void test_resume(const cn_dataset *ds) {
    cn_ctx *ctx = cn_ctx_new(2);
    char ck[300];
    snprintf(ck, sizeof ck, "%s/aug.ckpt", dir);
    cn_solver_config cfg;
    aug_config(&cfg, 2); /* 3 iterations per epoch: 6 */
    cn_net *na = new_net(ctx, CN_F64), *nb = new_net(ctx, CN_F64);
    cn_solver *a, *b;
    cn_solver_new(ctx, &a, na, ds, &cfg);
    if (cn_solver_train(ctx, a, NULL, NULL, NULL, ck, 4)) printf("train: %s\n", cn_ctx_error(ctx));
    cn_solver_new(ctx, &b, nb, ds, &cfg);
    if (cn_solver_resume(ctx, b, ck)) printf("resume: %s\n", cn_ctx_error(ctx));
    check_true("resumed at iteration 4, epoch 1", cn_solver_iteration(b) == 4 && cn_solver_epoch(b) == 1, NULL);
    cn_solver_train(ctx, b, NULL, NULL, NULL, NULL, 0);
    int n1, n2;
    const double *h1 = cn_solver_loss_history(a, &n1), *h2 = cn_solver_loss_history(b, &n2);
    check_true("resume: losses of iterations 5, 6 equal bit for bit",
               n1 == 6 && n2 == 6 && !memcmp(h1 + 4, h2 + 4, 2 * sizeof(double)), NULL);
    /* the hand truth from the checkpoint */
    cn_net *hn;
    cn_st *st;
    cn_rng rng;
    unsigned long long r[4] = {0};
    if (cn_net_load(ctx, &hn, ck, 0, NULL) || cn_st_load(ctx, ck, &st)) { printf("load: %s\n", cn_ctx_error(ctx)); exit(2); }
    sscanf(cn_st_meta(st, "rng"), "%16llx%16llx%16llx%16llx", &r[0], &r[1], &r[2], &r[3]);
    for (int k = 0; k < 4; k++) rng.s[k] = r[k];
    double want = hand_loss(ctx, hn, ds, rng, &cfg, 1, 0, NULL), ep0 = hand_loss(ctx, hn, ds, rng, &cfg, 0, 0, NULL);
    check_le("resume: iteration 5 == its batch augmented by hand (epoch 1)", fabs(h1[4] - want), 0);
    check_true("  with epoch 0's transforms it would differ", fabs(h1[4] - ep0) > 1e-9, NULL);
    cn_st_free(st);
    cn_net_free(hn);
    cn_solver_free(a);
    cn_solver_free(b);
    cn_net_free(na);
    cn_net_free(nb);
    /* bad settings are refused when the solver is made */
    const struct { int pad, mode, flip, tta; const char *what; } bad[] = {
        {-1, 0, 0, 0, "aug_pad -1"}, {8, 1, 0, 0, "reflect pad 8 on 8x8"}, {1025, 0, 0, 0, "aug_pad 1025"},
        {0, 2, 0, 0, "pad mode 2"}, {0, 0, 3, 0, "flip 3"}, {0, 0, 0, 3, "tta 3"}, {0, 0, 0, -1, "tta -1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_solver_config c = cfg;
        c.aug_pad = bad[i].pad;
        c.aug_pad_mode = (cn_pad_mode)bad[i].mode;
        c.aug_flip = (cn_flip_mode)bad[i].flip;
        c.tta = bad[i].tta;
        cn_net *n = new_net(ctx, CN_F64);
        cn_solver *s = NULL;
        int rc = cn_solver_new(ctx, &s, n, ds, &c);
        char name[96];
        snprintf(name, sizeof name, "solver refuses %s", bad[i].what);
        check_true(name, rc == CN_EINVAL && !s, cn_ctx_error(ctx));
        cn_net_free(n);
    }
    cn_ctx_free(ctx);
}

/* Shuffled epochs (cfg.shuffle): cn_epoch_order is a permutation, a pure
 * function of (seed, epoch), unbiased on 3 elements; the Solver's steps
 * walk it (iteration 1 and, after a resume, iteration 5 == the loss of
 * their slice of the permutation by hand; the resumed run's losses equal
 * the uninterrupted run's bit for bit). */
static double slice_loss(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, const int32_t *perm, int at) {
    int32_t y[B];
    double x[B * C * H * W], loss = NAN;
    if (cn_split_batch_f64(ctx, &ds->train, ds->mean, perm + at, B, x, y) || cn_net_loss(ctx, net, &loss, NULL, x, y, B))
        printf("slice: %s\n", cn_ctx_error(ctx));
    return loss;
}

static void test_shuffle(const cn_dataset *ds) {
    cn_ctx *ctx = cn_ctx_new(2);
    const int ns[4] = {1, 2, 60, 1000};
    for (int k = 0; k < 4; k++) {
        int n = ns[k], ok = 1, differ = 0, seeds_differ = 0;
        int32_t *p = xmalloc(sizeof(int32_t) * n), *q = xmalloc(sizeof(int32_t) * n), *r = xmalloc(sizeof(int32_t) * n);
        char *seen = calloc((size_t)n, 1);
        ok &= cn_epoch_order(ctx, p, 7, 3, n) == CN_OK && cn_epoch_order(ctx, q, 7, 3, n) == CN_OK;
        for (int i = 0; i < n; i++) {
            ok &= p[i] >= 0 && p[i] < n && !seen[p[i]] && p[i] == q[i];
            if (p[i] >= 0 && p[i] < n) seen[p[i]] = 1;
        }
        cn_epoch_order(ctx, q, 7, 4, n);
        cn_epoch_order(ctx, r, 8, 3, n);
        for (int i = 0; i < n; i++) {
            differ |= p[i] != q[i];
            seeds_differ |= p[i] != r[i];
        }
        char name[120];
        snprintf(name, sizeof name, "epoch order n=%d: a permutation, the same on a second call", n);
        check_true(name, ok, NULL);
        if (n >= 60) {
            snprintf(name, sizeof name, "epoch order n=%d: epochs 3 and 4 differ, seeds 7 and 8 differ", n);
            check_true(name, differ && seeds_differ, NULL);
        }
        free(p); free(q); free(r); free(seen);
    }
    {   /* all 6 orders of 3 equally often over 6000 epochs (each ~1000, sd ~29) */
        int cnt[6] = {0}, lo = 1 << 30, hi = 0;
        for (long e = 0; e < 6000; e++) {
            int32_t p[3];
            cn_epoch_order(ctx, p, 1, e, 3);
            cnt[p[0] * 2 + (p[1] > p[2])]++;
        }
        for (int i = 0; i < 6; i++) { lo = cnt[i] < lo ? cnt[i] : lo; hi = cnt[i] > hi ? cnt[i] : hi; }
        char name[120];
        snprintf(name, sizeof name, "epoch order: the 6 orders of 3 over 6000 epochs, each 1000 +- 150 (%d..%d)", lo, hi);
        check_true(name, lo >= 850 && hi <= 1150, NULL);
    }
    int32_t one;
    check_true("epoch order refuses n=0", cn_epoch_order(ctx, &one, 0, 0, 0) == CN_EINVAL, cn_ctx_error(ctx));
    check_true("epoch order refuses perm NULL", cn_epoch_order(ctx, NULL, 0, 0, 5) == CN_EINVAL, cn_ctx_error(ctx));
    check_true("epoch order refuses epoch -1", cn_epoch_order(ctx, &one, 0, -1, 1) == CN_EINVAL, cn_ctx_error(ctx));

    char ck[300];
    snprintf(ck, sizeof ck, "%s/shuffle.ckpt", dir);
    cn_solver_config cfg;
    fx_solver_config(&cfg, "sgd", B, 2, 0, 9); /* 3 iterations per epoch: the whole split each epoch */
    cfg.shuffle = 1;
    cn_net *na = new_net(ctx, CN_F64), *nb = new_net(ctx, CN_F64), *n0 = new_net(ctx, CN_F64);
    cn_solver *a, *b;
    cn_solver_new(ctx, &a, na, ds, &cfg);
    if (cn_solver_train(ctx, a, NULL, NULL, NULL, ck, 4)) printf("train: %s\n", cn_ctx_error(ctx));
    cn_solver_new(ctx, &b, nb, ds, &cfg);
    if (cn_solver_resume(ctx, b, ck)) printf("resume: %s\n", cn_ctx_error(ctx));
    cn_solver_train(ctx, b, NULL, NULL, NULL, NULL, 0);
    int n1, n2;
    const double *h1 = cn_solver_loss_history(a, &n1), *h2 = cn_solver_loss_history(b, &n2);
    check_true("shuffle: resumed losses of iterations 5, 6 equal bit for bit",
               n1 == 6 && n2 == 6 && !memcmp(h1 + 4, h2 + 4, 2 * sizeof(double)), NULL);
    int32_t p0[NTRAIN], p1[NTRAIN];
    cn_epoch_order(ctx, p0, 9, 0, NTRAIN);
    cn_epoch_order(ctx, p1, 9, 1, NTRAIN);
    check_le("shuffle: iteration 1 == the loss of epoch 0's order [0, 20) by hand", fabs(h1[0] - slice_loss(ctx, n0, ds, p0, 0)), 0);
    cn_net *hn;
    if (cn_net_load(ctx, &hn, ck, 0, NULL)) { printf("load: %s\n", cn_ctx_error(ctx)); exit(2); }
    double want = slice_loss(ctx, hn, ds, p1, B), other = slice_loss(ctx, hn, ds, p0, B);
    check_le("shuffle: iteration 5 == the loss of epoch 1's order [20, 40) by hand", fabs(h1[4] - want), 0);
    check_true("  epoch 0's order there would differ", fabs(h1[4] - other) > 1e-9, NULL);
    cn_net_free(hn);
    cn_solver_free(a);
    cn_solver_free(b);
    cn_net_free(na);
    cn_net_free(nb);
    cn_net_free(n0);
    cfg.shuffle = 2;
    cn_net *nn = new_net(ctx, CN_F64);
    cn_solver *s = NULL;
    check_true("solver refuses shuffle 2", cn_solver_new(ctx, &s, nn, ds, &cfg) == CN_EINVAL && !s, cn_ctx_error(ctx));
    cn_net_free(nn);
    cn_ctx_free(ctx);
}

/* Accuracy with TTA by hand: each variant scored by cn_net_loss (test
 * mode), combined by cn_tta_combine, the first maximum against the label. */
#define HAND_TTA(T, S)                                                                                          \
    static double hand_tta_##S(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, int level, int bs, int *pred) { \
        const cn_split *sp = &ds->val;                                                                          \
        const int V = cn_tta_count(level), img = C * H * W;                                                     \
        T *x = xmalloc(sizeof(T) * bs * img), *vx = xmalloc(sizeof(T) * V * bs * img);                         \
        T *vs = xmalloc(sizeof(T) * V * bs * 3), *sc = xmalloc(sizeof(T) * bs * 3);                            \
        int32_t idx[64], y[64];                                                                                 \
        int correct = 0;                                                                                        \
        for (int s0 = 0; s0 < sp->n; s0 += bs) {                                                                \
            int nb = sp->n - s0 < bs ? sp->n - s0 : bs;                                                         \
            for (int i = 0; i < nb; i++) idx[i] = s0 + i;                                                       \
            cn_split_batch_##S(ctx, sp, ds->mean, idx, nb, x, y);                                               \
            cn_tta_batch_##S(ctx, vx, x, level, nb, C, H, W);                                                   \
            for (int v = 0; v < V; v++)                                                                         \
                cn_net_loss(ctx, net, NULL, vs + (size_t)v * nb * 3, vx + (size_t)v * nb * img, NULL, nb);      \
            cn_tta_combine_##S(ctx, sc, vs, level, nb, 3);                                                      \
            for (int i = 0; i < nb; i++) {                                                                      \
                int best = 0;                                                                                   \
                for (int k = 1; k < 3; k++)                                                                     \
                    if (sc[i * 3 + k] > sc[i * 3 + best]) best = k;                                             \
                pred[s0 + i] = best;                                                                            \
                correct += best == y[i];                                                                        \
            }                                                                                                   \
        }                                                                                                       \
        free(x); free(vx); free(vs); free(sc);                                                                  \
        return (double)correct / sp->n;                                                                         \
    }
HAND_TTA(float, f32)
HAND_TTA(double, f64)

static void test_tta_accuracy(const cn_dataset *ds) {
    cn_ctx *ctx = cn_ctx_new(2);
    for (int d = 0; d < 2; d++) {
        cn_dtype dt = d ? CN_F64 : CN_F32;
        cn_net *net = new_net(ctx, dt);
        int pred[3][NVAL];
        for (int level = 0; level <= 2; level++) {
            double acc = -1, want = d ? hand_tta_f64(ctx, net, ds, level, 10, pred[level])
                                      : hand_tta_f32(ctx, net, ds, level, 10, pred[level]);
            int rc = cn_net_accuracy_tta(ctx, net, &ds->val, ds->mean, NULL, NVAL, 10, level, NULL, NULL, &acc);
            char name[96];
            snprintf(name, sizeof name, "accuracy tta %d == variants scored and combined by hand (%s)", level,
                     d ? "f64" : "f32");
            check_true(name, !rc && acc == want, NULL);
            printf("     accuracy %.6f, by hand %.6f\n", acc, want);
        }
        int differ = 0;
        for (int i = 0; i < NVAL; i++) differ += pred[0][i] != pred[2][i];
        char note[64];
        snprintf(note, sizeof note, "%d of %d predictions", differ, NVAL);
        check_true("  tta 2 changes some predictions (the test can fail)", differ > 0, note);
        /* labels = a level's predictions by hand: that level must score 1
         * exactly, level 0 must not */
        cn_dataset rl = *ds;
        uint8_t lab[NVAL];
        rl.val.y = lab;
        for (int level = 1; level <= 2; level++) {
            int dif = 0;
            for (int i = 0; i < NVAL; i++) lab[i] = (uint8_t)pred[level][i], dif += pred[level][i] != pred[0][i];
            double al = -1, a0 = -1;
            cn_net_accuracy_tta(ctx, net, &rl.val, ds->mean, NULL, NVAL, 10, level, NULL, NULL, &al);
            cn_net_accuracy_tta(ctx, net, &rl.val, ds->mean, NULL, NVAL, 10, 0, NULL, NULL, &a0);
            char name[96], nt[64];
            snprintf(name, sizeof name, "  labels = tta %d's predictions by hand: accuracy 1 at tta %d", level, level);
            snprintf(nt, sizeof nt, "level 0: %.6f", a0);
            check_true(name, al == 1.0 && a0 == (double)(NVAL - dif) / NVAL, nt);
        }
        double a0, b0;
        cn_net_accuracy(ctx, net, &ds->val, ds->mean, NULL, NVAL, 10, NULL, &a0);
        cn_net_accuracy_tta(ctx, net, &ds->val, ds->mean, NULL, NVAL, 10, 0, NULL, NULL, &b0);
        check_true("  tta 0 == cn_net_accuracy", a0 == b0, NULL);
        double acc;
        int rc = cn_net_accuracy_tta(ctx, net, &ds->val, ds->mean, NULL, NVAL, 10, 3, NULL, NULL, &acc);
        check_true("  level 3 refused", rc == CN_EINVAL, cn_ctx_error(ctx));
        cn_net_free(net);
    }
    /* the Solver's check uses cfg.tta (all samples: no subsample) */
    cn_solver_config cfg;
    fx_solver_config(&cfg, "sgd", B, 1, 0, 7);
    cfg.num_val_samples = 0;
    cfg.tta = 2;
    cn_net *net = new_net(ctx, CN_F64);
    cn_solver *s;
    cn_solver_new(ctx, &s, net, ds, &cfg);
    double acc, want, plain;
    int pred[NVAL];
    want = hand_tta_f64(ctx, net, ds, 2, 10, pred);
    cn_solver_check_accuracy(ctx, s, &ds->val, 0, 10, &acc);
    cn_net_accuracy(ctx, net, &ds->val, ds->mean, NULL, NVAL, 10, NULL, &plain);
    check_true("solver check with tta 2 == by hand", acc == want, NULL);
    printf("     %.6f (without tta %.6f)\n", acc, plain);
    cn_solver_free(s);
    cn_net_free(net);
    cn_ctx_free(ctx);
}

/* The level in model files and checkpoints; bad values refused. */
static void test_model_file(const cn_dataset *ds) {
    cn_ctx *ctx = cn_ctx_new(1);
    char p[300];
    snprintf(p, sizeof p, "%s/tta.model", dir);
    cn_net *net = new_net(ctx, CN_F32), *back;
    cn_st *st;
    check_true("a new net's tta level is 0", cn_net_tta(net) == 0, NULL);
    cn_net_save(ctx, net, p, NULL, 0);
    cn_st_load(ctx, p, &st);
    check_true("level 0: no 'tta' entry in the file", cn_st_meta(st, "tta") == NULL, NULL);
    cn_st_free(st);
    for (int level = 1; level <= 2; level++) {
        cn_net_set_tta(ctx, net, level);
        cn_net_save(ctx, net, p, NULL, 0);
        int rc = cn_net_load(ctx, &back, p, 0, NULL);
        char name[64];
        snprintf(name, sizeof name, "model file tta %d round trip", level);
        check_true(name, !rc && cn_net_tta(back) == level, NULL);
        if (!rc) cn_net_free(back);
    }
    check_true("cn_net_set_tta(3) refused", cn_net_set_tta(ctx, net, 3) == CN_EINVAL && cn_net_tta(net) == 2,
               cn_ctx_error(ctx));
    check_true("cn_net_set_tta(-1) refused", cn_net_set_tta(ctx, net, -1) == CN_EINVAL, NULL);
    cn_net_set_tta(ctx, net, 0);
    const char *bad[] = {"3", "-1", "1x", "", "01", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_meta m = {"tta", bad[i]};
        cn_net_save(ctx, net, p, &m, 1);
        back = NULL;
        int rc = cn_net_load(ctx, &back, p, 0, NULL);
        char name[64];
        snprintf(name, sizeof name, "model file tta '%s' refused", bad[i]);
        check_true(name, rc == CN_EFORMAT && !back && strstr(cn_ctx_error(ctx), "tta"), cn_ctx_error(ctx));
        cn_net_free(back);
    }
    /* a checkpoint keeps the net's level */
    cn_net_free(net);
    net = new_net(ctx, CN_F64);
    cn_net_set_tta(ctx, net, 1);
    cn_solver_config cfg;
    fx_solver_config(&cfg, "adam", B, 1, 0, 7);
    cn_solver *s;
    cn_solver_new(ctx, &s, net, ds, &cfg);
    int rc = cn_solver_save(ctx, s, p);
    back = NULL;
    if (!rc) rc = cn_net_load(ctx, &back, p, 1, NULL);
    check_true("checkpoint keeps tta 1", !rc && cn_net_tta(back) == 1, cn_ctx_error(ctx));
    cn_net_free(back);
    cn_solver_free(s);
    cn_net_free(net);
    cn_ctx_free(ctx);
}

/* "... val acc 0.123456 ..." -> 0.123456 after `key`, or -1 */
static double number_after(const char *out, const char *key) {
    const char *p = strstr(out, key);
    return p ? atof(p + strlen(key)) : -1;
}

static void test_cli(void) {
    char model[300];
    snprintf(model, sizeof model, "%s/cli.ckpt", dir);
    const char *train[] = {convnet, "train", "--data", data_flag, "--num-train", "300", "--num-val", "50", "--num-test",
                           "0", "--net", "whiten-conv4x3p1-relu-pool2-affine10", "--batch-size", "50", "--num-epochs",
                           "1", "--tta", "1", "--aug-pad", "2", "--aug-pad-mode", "reflect", "--aug-flip", "alternate",
                           "--threads", "2", "--save", model, "--print-every", "100", NULL};
    cli_result r;
    cli_run(train, NULL, NULL, NULL, 120, &r);
    check_true("cli: train with whiten, --tta 1 and augmentation exits 0", cli_exited(&r, 0), r.out);
    check_true("cli: train prints the whitening line",
               strstr(r.out, "whiten: fitted to the first 300 training images (eps 0.0005") != NULL, NULL);
    check_true("cli: the final figures say tta 1", strstr(r.out, "final (best params, tta 1)") != NULL, NULL);
    double val = number_after(r.out, "; val acc ");
    const char *eval[] = {convnet, "eval", "--model", model, "--data", data_flag, "--num-train", "300", "--num-val",
                          "50", "--num-test", "0", "--threads", "2", NULL};
    cli_run(eval, NULL, NULL, NULL, 60, &r);
    double ev = number_after(r.out, "val acc (tta 1): ");
    check_true("cli: eval uses the recorded level (tta 1) and agrees with train", cli_exited(&r, 0) && ev >= 0 &&
               ev == val, r.out);
    const char *eval0[] = {convnet, "eval", "--model", model, "--data", data_flag, "--num-train", "300", "--num-val",
                           "50", "--num-test", "0", "--tta", "0", "--json", NULL};
    cli_run(eval0, NULL, NULL, NULL, 60, &r);
    check_true("cli: eval --tta 0 --json has no tta key", cli_exited(&r, 0) && strstr(r.out, "\"accuracy\":") &&
               !strstr(r.out, "\"tta\""), r.out);
    const char *eval2[] = {convnet, "eval", "--model", model, "--data", data_flag, "--num-train", "300", "--num-val",
                           "50", "--num-test", "0", "--tta", "2", "--json", NULL};
    cli_run(eval2, NULL, NULL, NULL, 60, &r);
    check_true("cli: eval --tta 2 --json says tta 2", cli_exited(&r, 0) && strstr(r.out, "\"tta\":2}"), r.out);
    /* resumed: the whitening comes from the checkpoint, not refitted */
    const char *resume[] = {convnet, "train", "--data", data_flag, "--num-train", "300", "--num-val", "50",
                            "--num-test", "0", "--net", "whiten-conv4x3p1-relu-pool2-affine10", "--batch-size", "50",
                            "--num-epochs", "2", "--tta", "1", "--aug-pad", "2", "--aug-pad-mode", "reflect",
                            "--aug-flip", "alternate", "--threads", "2", "--resume", model, "--print-every", "100",
                            NULL};
    cli_run(resume, NULL, NULL, NULL, 120, &r);
    check_true("cli: --resume does not refit the whitening", cli_exited(&r, 0) && strstr(r.out, "resumed from") &&
               !strstr(r.out, "whiten: fitted"), r.out);
    const char *bad[][2] = {{"--tta", "3"}, {"--aug-flip", "sometimes"}, {"--aug-pad-mode", "wrap"},
                            {"--aug-pad", "-1"}, {"--whiten-eps", "-1"}, {"--update-rule", "lion"},
                            {"--schedule", "step"}, {"--shuffle", "2"}, {"--lookahead-ramp", "3"},
                            {"--tta-checks", "3"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *a[] = {convnet, "train", "--data", data_flag, bad[i][0], bad[i][1], NULL};
        cli_run(a, NULL, NULL, NULL, 30, &r);
        char name[96];
        snprintf(name, sizeof name, "cli: train %s %s refused (exit 2)", bad[i][0], bad[i][1]);
        check_true(name, cli_exited(&r, 2) && strstr(r.out, bad[i][0] + 2), r.out);
    }
    /* --recipe fast: its flags, the command line's winning; a fixed seed and
     * thread count give the same bytes in the saved file */
    for (int k = 0; k < 2; k++) {
        char m[300];
        snprintf(m, sizeof m, "%s/recipe%d.ckpt", dir, k);
        const char *rf[] = {convnet, "train", "--recipe", "fast", "--data", data_flag, "--num-train", "200",
                            "--num-val", "50", "--num-test", "0", "--batch-size", "50", "--num-epochs", "2",
                            "--tta", "1", "--threads", "2", "--save", m, "--print-every", "1", NULL};
        cli_run(rf, NULL, NULL, NULL, 180, &r);
        if (k == 0) {
            check_true("cli: train --recipe fast (flags overridden) exits 0, 8 iterations, the airbench net",
                       cli_exited(&r, 0) && strstr(r.out, "(Iteration 8 / 8)") &&
                           strstr(r.out, "net whiten-gelu-conv64x3d-pool2-bnb-gelu") && strstr(r.out, "(eps 2,") &&
                           strstr(r.out, "final (best params, tta 1)"),
                       r.out);
        } else {
            char m0[300];
            snprintf(m0, sizeof m0, "%s/recipe0.ckpt", dir);
            size_t n0 = 0, n1 = 0;
            unsigned char *b0 = fx_read_file(m0, &n0), *b1 = fx_read_file(m, &n1);
            check_true("cli: --recipe fast twice with one seed and thread count: the same bytes saved",
                       cli_exited(&r, 0) && b0 && b1 && n0 == n1 && n0 > 0 && !memcmp(b0, b1, n0), NULL);
            free(b0);
            free(b1);
        }
    }
    const char *rbad[] = {convnet, "train", "--recipe", "slow", "--data", data_flag, NULL};
    cli_run(rbad, NULL, NULL, NULL, 30, &r);
    check_true("cli: --recipe slow refused (exit 2) naming the recipes",
               cli_exited(&r, 2) && strstr(r.out, "unknown --recipe 'slow' (fast, best)"), r.out);
    const char *rhelp[] = {convnet, "train", "--help", NULL};
    cli_run(rhelp, NULL, NULL, NULL, 30, &r);
    check_true("cli: train --help lists the recipes as their flags",
               cli_exited(&r, 0) && strstr(r.out, "  fast: ") && strstr(r.out, "--update-rule nesterov"), r.out);
    const char *be[] = {convnet, "eval", "--model", model, "--tta", "5", NULL};
    cli_run(be, NULL, NULL, NULL, 30, &r);
    check_true("cli: eval --tta 5 refused (exit 2)", cli_exited(&r, 2), r.out);
}

int main(int argc, char **argv) {
    (void)argc;
    if (fx_mkdtemp(dir, sizeof dir, "cn_test_recipe_data")) return 2;
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
    snprintf(ds.name, sizeof ds.name, "synthetic");
    ds.num_classes = 3;
    fx_synth_splits(&ds, C, H, W, NTRAIN, NVAL, 5);
    test_first_step(&ds);
    test_resume(&ds);
    test_shuffle(&ds);
    test_tta_accuracy(&ds);
    test_model_file(&ds);
    if (check_true("convnet binary found", cli_find_convnet(argv[0], convnet, sizeof convnet), convnet)) {
        cli_synthetic_mnist(dir, 350, 28, data_flag, sizeof data_flag);
        test_cli();
    }
    cn_dataset_free(&ds);
    fx_rm_tree(dir);
    return check_done();
}
