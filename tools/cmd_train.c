/* cmd_train.c — `convnet train`: flags, the checks before any data is read,
 * the Solver's run with its log, signals and checkpoints, and the final
 * report (accuracies, save, plots); under mpirun one process per rank. */
#include "cli.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SIGINT, SIGTERM (batch schedulers, `docker stop`) and SIGHUP (a closed
 * terminal or ssh session) all stop training the same way: the step in
 * progress finishes, the run is saved atomically, the --resume line is
 * printed, and the exit status is the conventional 128 + signal number
 * (130, 143, 129), as if the signal had ended the process. Under mpirun
 * the ranks agree on the iteration to stop before (mpi.c), rank 0 saves
 * (every rank holds the same state) and all of them exit 128 + signal. */
static volatile int g_stop;     /* nonzero: stop; the signal number */
static void on_stop_signal(int sig) { g_stop = sig; }
static const char *stop_signal_name(int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGINT";
}

/* The log: lines to stdout (or only to --metrics with --quiet), the live
 * progress line only on a terminal, warnings to stderr. */
typedef struct {
    metrics *m;
    const cn_solver *s;
    int batch, quiet;
    int tty;     /* show the progress line */
    int shown;   /* a progress line is on the screen */
} log_user;
static void log_line(void *user, const char *line, int progress) {
    log_user *u = user;
    if (!progress && !strncmp(line, "warning: ", 9)) { /* a failed periodic checkpoint: stderr, even with --quiet */
        if (u->shown) { printf("\r\033[K"); u->shown = 0; }
        fflush(stdout);
        fprintf(stderr, "convnet: %s\n", line);
        return;
    }
    if (!progress && u->m) metrics_line(u->m, u->s, u->batch, line);
    if (u->quiet && !progress) return; /* --quiet --metrics: the log lines go to the file only */
    if (progress) {
        if (!u->tty) return;
        printf("\r\033[K%s", line);
        fflush(stdout);
        u->shown = 1;
        return;
    }
    if (u->shown) { printf("\r\033[K"); u->shown = 0; }
    printf("%s\n", line);
    fflush(stdout);
}

static const char *build_spec(char *buf, size_t len, const char *net, int nf, int fs, int hidden, int classes) {
    if (net) return cn_spec_expand(net);
    snprintf(buf, len, "conv%dx%d-relu-pool2-affine%d-relu-affine%d", nf, fs, hidden, classes);
    return buf;
}

/* train's flags; -1 in hidden, nf, fs: not given (the three-layer defaults;
 * refused with --net) */
typedef struct {
    const char *data, *net_spec, *save, *resume, *plots, *dtype, *rule, *metrics_path, *max_memory;
    int hidden, nf, fs, batch, epochs, ntrain, nval, ntest, ntrs, nvs, print_every, seed, threads, ckpt_every, quiet,
        groups;
    double ws, reg, lr, lr_decay;
    /* the recipe: augmentation, test-time augmentation, the whitening fit */
    const char *aug_pad_mode, *aug_flip;
    int aug_pad, tta, tta_checks;
    double whiten_eps;
    /* the recipe's optimization (cn_solver_config's fields of the same names) */
    const char *recipe, *schedule;
    double momentum, weight_decay, lr_warmup, lr_start, lr_end, bias_lr_scale, smoothing, ema_decay, la_alpha;
    int ema_start, la_k, la_start, la_ramp, shuffle, profile;
    cn_pad_mode pad_mode;
    cn_flip_mode flip;
    cn_dtype dt;
    int dC, dH, dW; /* the data set's image shape (data_shape) */
} train_opts;

static void train_flags(int argc, char **argv, train_opts *o) {
    *o = (train_opts){.dtype = "float32", .rule = "adam", .max_memory = "auto", .hidden = -1, .nf = -1, .fs = -1,
                      .batch = 50, .epochs = 1, .ntrain = -1, .nval = -1, .ntest = -1, .ntrs = 1000,
                      .print_every = 20, .ws = 1e-3, .reg = 1e-3, .lr = -1, .lr_decay = 1.0,
                      .aug_pad_mode = "zero", .aug_flip = "none", .whiten_eps = 5e-4, .schedule = "none",
                      .momentum = 0.9, .bias_lr_scale = 1, .la_alpha = 0.5, .tta_checks = -1};
    flag flags[] = {
        {"data", 's', &o->data, "cifar10:DIR | fashion-mnist[:DIR] | mnist:DIR (default fashion-mnist from " DEFAULT_FASHION ")"},
        {"net", 's', &o->net_spec, "net spec, e.g. conv32x7-relu-pool2-affine100-relu-affine10 or three-layer "
                                   "(default: the three-layer net from the three flags below)"},
        {"hidden-dim", 'i', &o->hidden, "three-layer net: hidden units (100, ThreeLayerConvNet's default; "
                                        "the notebook's CIFAR-10 run passes 500)"},
        {"num-filters", 'i', &o->nf, "three-layer net: conv filters (32)"},
        {"filter-size", 'i', &o->fs, "three-layer net: filter size (7)"},
        {"weight-scale", 'd', &o->ws, "weights ~ N(0, weight_scale^2); negative: ~ U(-b, b), b = |s| / sqrt(fan in), "
                                          "-1 being PyTorch's default init (1e-3)"},
        {"reg", 'd', &o->reg, "L2 strength, 0.5*reg*sum(W^2) (1e-3)"},
        {"recipe", 's', &o->recipe, "start from a named set of these flags (below); flags given with it win"},
        {"update-rule", 's', &o->rule, "sgd | sgd_momentum | rmsprop | adam | nesterov (adam)"},
        {"momentum", 'd', &o->momentum, "sgd_momentum and nesterov: momentum (0.9)"},
        {"weight-decay", 'd', &o->weight_decay, "nesterov: decoupled weight decay, w -= lr * wd * w each step (0)"},
        {"schedule", 's', &o->schedule, "none (the original: --lr-decay per epoch) | constant | linear | cosine: the "
                                        "learning rate per iteration, from --lr-start x lr up over --lr-warmup of the "
                                        "run, then down to --lr-end x lr (none)"},
        {"lr-warmup", 'd', &o->lr_warmup, "schedule: fraction of the iterations spent warming up (0)"},
        {"lr-start", 'd', &o->lr_start, "schedule: first learning rate, as a fraction of --learning-rate (0)"},
        {"lr-end", 'd', &o->lr_end, "schedule: last learning rate, as a fraction of --learning-rate (0)"},
        {"bias-lr-scale", 'd', &o->bias_lr_scale, "the norms' betas learn at lr x this (their decay per step kept) (1)"},
        {"label-smoothing", 'd', &o->smoothing, "softmax loss with label smoothing eps, in [0, 1] (0)"},
        {"ema", 'd', &o->ema_decay, "average the weights: ema = d ema + (1 - d) w after each step; checks, the best "
                                     "kept and the saved net use the average (0: off)"},
        {"ema-start-epoch", 'i', &o->ema_start, "start the average after this many epochs (0)"},
        {"lookahead", 'i', &o->la_k, "Lookahead: every k steps slow += alpha (w - slow), w = slow (0: off)"},
        {"lookahead-alpha", 'd', &o->la_alpha, "Lookahead's alpha (0.5)"},
        {"lookahead-start-epoch", 'i', &o->la_start, "start Lookahead after this many epochs (0)"},
        {"lookahead-ramp", 'i', &o->la_ramp, "1: airbench's Lookahead ramp, alpha = 1 - (1 - --lookahead-alpha) "
                                             "(t/T)^3 at iteration t of T (0)"},
        {"shuffle", 'i', &o->shuffle, "0: minibatches drawn with replacement (the original); 1: each epoch a "
                                      "permutation of the training images (0)"},
        {"learning-rate", 'd', &o->lr, "learning rate (the rule's default: 1e-3 for adam, else 1e-2)"},
        {"lr-decay", 'd', &o->lr_decay, "multiply the learning rate by this at each epoch end (1.0)"},
        {"batch-size", 'i', &o->batch, "minibatch size (50)"},
        {"num-epochs", 'i', &o->epochs, "epochs (1)"},
        {"num-train", 'i', &o->ntrain, "training images (cifar10 49000, mnist 59000)"},
        {"num-val", 'i', &o->nval, "validation images, taken after the training ones (1000)"},
        {"num-test", 'i', &o->ntest, "test images (cifar10 1000, mnist 10000)"},
        {"num-train-samples", 'i', &o->ntrs, "training images sampled for each accuracy check (1000)"},
        {"num-val-samples", 'i', &o->nvs, "validation images sampled for each check (0: all)"},
        {"print-every", 'i', &o->print_every, "log the loss every N iterations (20)"},
        {"seed", 'i', &o->seed, "random seed for init, minibatches and samples (0)"},
        {"threads", 'i', &o->threads, "threads (0: all cores; under mpirun: the cores shared by the node's processes)"},
        {"groups", 'i', &o->groups, "split each minibatch into this many fixed sample groups, averaged in group order "
                                    "(0: one pass); needed under mpirun with K > 1 processes (K <= groups): any K "
                                    "with the same groups gives the same bits (docs/mpi.md)"},
        {"dtype", 's', &o->dtype, "float32 | float64 (float32)"},
        {"save", 's', &o->save, "write the checkpoint (model + solver state) here"},
        {"checkpoint-every", 'i', &o->ckpt_every, "also save every N iterations (needs --save)"},
        {"resume", 's', &o->resume, "continue the run saved in this checkpoint"},
        {"plots", 's', &o->plots, "write loss.png, accuracy.png, filters.png into this directory"},
        {"quiet", 'b', &o->quiet, "no log lines"},
        {"profile", 'b', &o->profile, "after training, print the time of each layer's forward and backward"},
        {"metrics", 's', &o->metrics_path, "write one JSON object per logged iteration and per accuracy check to this "
                                           "JSON-lines file (started afresh; cut back to the checkpoint by --resume)"},
        {"aug-pad", 'i', &o->aug_pad, "augment the training batches: shift each image by up to N pixels, drawn from "
                                      "the seed, the epoch and the image's index (0: none)"},
        {"aug-pad-mode", 's', &o->aug_pad_mode, "zero | reflect: what the shift brings in (zero: the mean colour)"},
        {"aug-flip", 's', &o->aug_flip, "none | random | alternate: mirror training images (random: half of them "
                                        "each epoch; alternate: a fixed half on even epochs, the rest on odd ones) "
                                        "(none)"},
        {"tta", 'i', &o->tta, "test-time augmentation in the accuracy checks and final figures, recorded in the "
                              "saved model for eval: 0 none, 1 + mirror, 2 + mirror and 1-pixel shifts (0)"},
        {"tta-checks", 'i', &o->tta_checks, "the TTA level of the accuracy checks during training only (default: "
                                            "--tta's)"},
        {"whiten-eps", 'd', &o->whiten_eps, "a net starting with whiten: the eps of its fit to the first 5000 "
                                            "training images (5e-4)"},
        {"max-memory", 's', &o->max_memory, "auto | none | BYTES[K|M|G|T]: refuse a net whose estimated memory (parameters, "
                                            "gradients, solver state, activations, workspaces) exceeds this; auto: "
                                            "MemAvailable or the cgroup limit, whichever is lower (auto)"},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    /* --help: the recipes after the flags */
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            flags_help("train", flags, nf, "[flags]");
            recipes_help(stdout);
            exit(0);
        }
    parse_flags("train", argc, argv, flags, nf, NULL, NULL, 0, "[flags]");
    if (!o->recipe) return;
    /* a recipe is flags: its own first, then the command line's again (those win) */
    const char *const *rf = recipe_flags(o->recipe);
    if (!rf) {
        fprintf(stderr, "convnet train: unknown --recipe '%s' (", o->recipe);
        for (int k = 0; recipe_name(k); k++) fprintf(stderr, "%s%s", k ? ", " : "", recipe_name(k));
        fprintf(stderr, ")\n");
        exit(2);
    }
    parse_flags("train", recipe_argc(rf), (char **)rf, flags, nf, NULL, NULL, 0, "[flags]");
    parse_flags("train", argc, argv, flags, nf, NULL, NULL, 0, "[flags]");
}

/* Every flag is checked here, before seconds of loading data: 0, or 2 after
 * a message. Fills in the three-layer defaults, dt and the data's shape. */
static int train_check(train_opts *o, int nranks) {
#define BAD(...) do { fprintf(stderr, "convnet train: " __VA_ARGS__); fputc('\n', stderr); return 2; } while (0)
    if (o->net_spec && (o->hidden != -1 || o->nf != -1 || o->fs != -1))
        BAD("--net gives the whole net; --hidden-dim, --num-filters and --filter-size only shape the default "
            "three-layer net (write them into the spec instead, e.g. conv32x7-relu-pool2-affine100-relu-affine10)");
    if (o->hidden == -1) o->hidden = 100;
    if (o->nf == -1) o->nf = 32;
    if (o->fs == -1) o->fs = 7;
    {   /* the three-layer net's sizes, named as the user gave them (the spec
         * parser would only see "affine2000000000") */
        const char *nm[3] = {"hidden-dim", "num-filters", "filter-size"};
        int v[3] = {o->hidden, o->nf, o->fs};
        for (int i = 0; i < 3 && !o->net_spec; i++)
            if (v[i] < 1) BAD("--%s must be > 0, not %d", nm[i], v[i]);
            else if (v[i] > 1000000) BAD("--%s %d is too large (1..1000000)", nm[i], v[i]);
    }
    if (o->ckpt_every > 0 && !o->save) BAD("--checkpoint-every needs --save FILE");
    if (o->ckpt_every < 0) BAD("--checkpoint-every must be >= 0, not %d", o->ckpt_every);
    o->dt = !strcmp(o->dtype, "float64") ? CN_F64 : CN_F32;
    if (strcmp(o->dtype, "float64") && strcmp(o->dtype, "float32")) BAD("--dtype must be float32 or float64");
    const char *rule = o->rule;
    if (strcmp(rule, "sgd") && strcmp(rule, "sgd_momentum") && strcmp(rule, "rmsprop") && strcmp(rule, "adam") &&
        strcmp(rule, "nesterov"))
        BAD("--update-rule must be sgd, sgd_momentum, rmsprop, adam or nesterov, not '%s'", rule);
    if (strcmp(o->schedule, "none") && strcmp(o->schedule, "constant") && strcmp(o->schedule, "linear") &&
        strcmp(o->schedule, "cosine"))
        BAD("--schedule must be none, constant, linear or cosine, not '%s'", o->schedule);
    if (o->shuffle != 0 && o->shuffle != 1) BAD("--shuffle must be 0 or 1, not %d", o->shuffle);
    if (o->la_ramp != 0 && o->la_ramp != 1) BAD("--lookahead-ramp must be 0 or 1, not %d", o->la_ramp);
    if (o->ema_decay > 0 && o->la_k > 0) BAD("--ema and --lookahead are one or the other");
    if (o->batch <= 0) BAD("--batch-size must be > 0, not %d", o->batch);
    if (o->epochs <= 0) BAD("--num-epochs must be > 0, not %d", o->epochs);
    if (o->print_every <= 0) BAD("--print-every must be > 0, not %d", o->print_every);
    if (!(o->lr_decay > 0)) BAD("--lr-decay must be > 0, not %g", o->lr_decay);
    if (o->lr != -1 && !(o->lr > 0)) BAD("--learning-rate must be > 0, not %g", o->lr);
    if (o->reg < 0) BAD("--reg must be >= 0, not %g", o->reg);
    if (o->threads < 0) BAD("--threads must be >= 0 (0: all cores), not %d", o->threads);
    if (o->seed < 0) BAD("--seed must be >= 0, not %d", o->seed);
    if (o->groups < 0 || o->groups > o->batch)
        BAD("--groups must be in 0..batch size (%d), not %d", o->batch, o->groups);
    if (nranks > 1 && o->groups < nranks)
        BAD("%d processes (mpirun -np %d) need --groups G with G >= %d: the minibatch is split into G fixed sample "
            "groups, whole groups per process (the same G gives the same bits for any number of processes)",
            nranks, nranks, nranks);
    if (o->aug_pad < 0 || o->aug_pad > 1024) BAD("--aug-pad must be in 0..1024, not %d", o->aug_pad);
    if (strcmp(o->aug_pad_mode, "zero") && strcmp(o->aug_pad_mode, "reflect"))
        BAD("--aug-pad-mode must be zero or reflect, not '%s'", o->aug_pad_mode);
    o->pad_mode = !strcmp(o->aug_pad_mode, "reflect") ? CN_PAD_REFLECT : CN_PAD_ZERO;
    if (strcmp(o->aug_flip, "none") && strcmp(o->aug_flip, "random") && strcmp(o->aug_flip, "alternate"))
        BAD("--aug-flip must be none, random or alternate, not '%s'", o->aug_flip);
    o->flip = !strcmp(o->aug_flip, "random") ? CN_FLIP_RANDOM : !strcmp(o->aug_flip, "alternate") ? CN_FLIP_ALTERNATE
                                                                                                 : CN_FLIP_NONE;
    if (o->tta < 0 || o->tta > 2) BAD("--tta must be 0, 1 or 2, not %d", o->tta);
    if (o->tta_checks == -1) o->tta_checks = o->tta;
    if (o->tta_checks < 0 || o->tta_checks > 2) BAD("--tta-checks must be 0, 1 or 2, not %d", o->tta_checks);
    if (!(o->whiten_eps >= 0) || o->whiten_eps > 1e300) BAD("--whiten-eps must be >= 0 and finite, not %g", o->whiten_eps);
    if (!data_shape(o->data, &o->dC, &o->dH, &o->dW))
        BAD("--data '%s': expected cifar10:DIR, fashion-mnist[:DIR] or mnist:DIR", o->data);
#undef BAD
    return 0;
}

/* The estimate before any allocation (minutes of init and swapping
 * otherwise), then the spec against the data set's image shape (both data
 * sets have 10 classes), all before seconds of loading data: 0, or the
 * exit status after a message. */
static int train_preflight(cn_ctx *ctx, const train_opts *o, const char *spec) {
    train_extras x = {o->aug_pad > 0 || o->flip != CN_FLIP_NONE, o->tta > 0 ? cn_tta_count(o->tta) : 0,
                      o->ema_decay > 0 || o->la_k > 0, o->shuffle, o->ntrain > 0 ? o->ntrain : 60000};
    int mrc = check_memory(ctx, o->max_memory, spec, o->dC, o->dH, o->dW, o->dt, o->batch, o->rule, &x);
    if (mrc) return mrc;
    cn_rng r0;
    cn_rng_seed(&r0, 0);
    cn_net *probe;
    if (cn_net_new(ctx, &probe, spec, o->dC, o->dH, o->dW, o->dt, o->ws, o->reg, &r0)) {
        fprintf(stderr, "convnet train: --net: %s\n", cn_ctx_error(ctx));
        return 2;
    }
    int k = cn_net_num_classes(probe);
    cn_net_free(probe);
    if (k != 10) {
        fprintf(stderr, "convnet train: --net ends with affine%d, but the data set has 10 classes\n", k);
        return 2;
    }
    return 0;
}

/* What a run holds; train_main frees it all on every exit, so leak checkers
 * (and make test-faults, which fails each allocation in turn) see clean exits. */
typedef struct {
    cn_ctx *ctx;
    cn_dataset ds;
    cn_net *net;
    cn_solver *s;
    metrics mt;
} train_state;

/* A net that starts with `whiten` (not resumed: the checkpoint has its
 * weights): fit them to the first min(5000, n) training images as the
 * minibatches present them (mean subtracted, the net's dtype), before the
 * solver keeps the net's parameters as its first best ones. */
static int fit_whitening(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, double eps) {
    cn_layer_info li;
    if (cn_net_layer_at(net, 0, &li) || strcmp(li.kind, "whiten")) return 0;
    const cn_split *tr = &ds->train;
    int n = tr->n < 5000 ? tr->n : 5000;
    size_t esz = cn_net_dtype(net) == CN_F32 ? 4 : 8, img = (size_t)tr->c * tr->h * tr->w;
    void *x = malloc(esz * n * img);
    int32_t *idx = malloc(sizeof(int32_t) * n), *y = malloc(sizeof(int32_t) * n);
    int rc = !x || !idx || !y ? cn_error(ctx, CN_ENOMEM, "out of memory for %d images", n) : CN_OK;
    for (int i = 0; i < n && !rc; i++) idx[i] = i;
    double t0 = cli_now();
    if (!rc) rc = esz == 4 ? cn_split_batch_f32(ctx, tr, ds->mean, idx, n, x, y) : cn_split_batch_f64(ctx, tr, ds->mean, idx, n, x, y);
    if (!rc) rc = cn_net_fit_whitening(ctx, net, x, n, eps);
    free(x); free(idx); free(y);
    if (rc) return die(ctx, "fitting the whitening layer");
    printf("whiten: fitted to the first %d training images (eps %g, %.2fs)\n", n, eps, cli_now() - t0);
    return 0;
}

/* The data, the net (its whitening fitted), the solver (resumed, in sample
 * groups), the metrics file: 0, or the exit status after a message. */
static int train_setup(train_state *t, const train_opts *o, const char *spec, int nranks) {
    cn_ctx *ctx = t->ctx;
    /* a --save path that can never be written (a device, FIFO, socket or
     * directory there, no such directory, no permission) fails now, not
     * after the training it was meant to keep; --checkpoint-every uses it too */
    if (o->save && cn_save_path_check(ctx, o->save)) return die(ctx, "--save");
    double t0 = cli_now();
    cn_dataset *ds = &t->ds;
    if (load_data(ctx, ds, o->data, o->ntrain, o->nval, o->ntest)) return die(ctx, "loading data");
    printf("data: %s, train %d, val %d, test %d images of (%d,%d,%d), %d classes (%.2fs)\n", ds->name, ds->train.n,
           ds->val.n, ds->test.n, ds->train.c, ds->train.h, ds->train.w, ds->num_classes, cli_now() - t0);
    cn_rng rng;
    cn_rng_seed(&rng, (uint64_t)o->seed * 2 + 1); /* the init stream differs from the solver's */
    if (cn_net_new(ctx, &t->net, spec, ds->train.c, ds->train.h, ds->train.w, o->dt, o->ws, o->reg, &rng))
        return die(ctx, "building the net");
    char desc[4096];
    cn_net_describe(ctx, t->net, desc, sizeof desc);
    fputs(desc, stdout);
    printf("build: %s\n", cn_ctx_build_info(ctx));
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    snprintf(cfg.update_rule, sizeof cfg.update_rule, "%s", o->rule);
    cfg.learning_rate = o->lr;
    cfg.lr_decay = o->lr_decay;
    cfg.batch_size = o->batch;
    cfg.num_epochs = o->epochs;
    cfg.num_train_samples = o->ntrs;
    cfg.num_val_samples = o->nvs;
    cfg.print_every = o->print_every;
    cfg.verbose = !o->quiet || o->metrics_path;
    cfg.seed = (uint64_t)o->seed;
    cfg.aug_pad = o->aug_pad;
    cfg.aug_pad_mode = o->pad_mode;
    cfg.aug_flip = o->flip;
    cfg.tta = o->tta_checks;
    cfg.momentum = o->momentum;
    cfg.weight_decay = o->weight_decay;
    snprintf(cfg.schedule, sizeof cfg.schedule, "%s", strcmp(o->schedule, "none") ? o->schedule : "");
    cfg.lr_warmup = o->lr_warmup;
    cfg.lr_start = o->lr_start;
    cfg.lr_end = o->lr_end;
    cfg.bias_lr_scale = o->bias_lr_scale;
    cfg.label_smoothing = o->smoothing;
    cfg.ema_decay = o->ema_decay;
    cfg.ema_start_epoch = o->ema_start;
    cfg.lookahead_k = o->la_k;
    cfg.lookahead_alpha = o->la_alpha;
    cfg.lookahead_start_epoch = o->la_start;
    cfg.lookahead_ramp = o->la_ramp;
    cfg.shuffle = o->shuffle;
    if (cn_net_set_tta(ctx, t->net, o->tta)) return die(ctx, "--tta");
    if (!o->resume) {
        int st = fit_whitening(ctx, t->net, ds, o->whiten_eps);
        if (st) return st;
    }
    if (cn_solver_new(ctx, &t->s, t->net, ds, &cfg)) return die(ctx, "setting up the solver");
    cn_net_profile_enable(t->net, o->profile);
    cn_solver *s = t->s;
    if (o->resume) {
        if (cn_solver_resume(ctx, s, o->resume)) return die(ctx, "resuming");
        printf("resumed from %s at iteration %d / %d\n", o->resume, cn_solver_iteration(s), cn_solver_num_iterations(s));
    }
    cn_comm comm;
    if (o->groups > 0) {
        int have = cli_mpi_comm(&comm);
        if (cn_solver_set_groups(ctx, s, o->groups, have ? &comm : NULL)) return die(ctx, "setting up the sample groups");
        if (have) printf("data parallel: %d processes x %d threads, %d sample groups\n", nranks, cn_ctx_threads(ctx), o->groups);
    }
    if (o->metrics_path && metrics_open(&t->mt, o->metrics_path, o->resume ? cn_solver_iteration(s) : -1)) return 1;
    return 0;
}

/* Train to the end or to a stop signal (then save and say how to resume):
 * 0 when the run finished, else the exit status; *secs, *iters: the time
 * and the iterations this process trained. */
static int train_loop(train_state *t, const train_opts *o, int rank, const char *save0, double *secs, int *iters) {
    cn_ctx *ctx = t->ctx;
    cn_solver *s = t->s;
    log_user lu = {o->metrics_path ? &t->mt : NULL, s, o->batch, o->quiet, 0, 0};
    /* the live line only on a terminal, never in a log file; not under
     * mpirun, whose forwarded output looks like a terminal to the ranks */
    lu.tty = isatty(1) && !getenv("OMPI_COMM_WORLD_SIZE");
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    signal(SIGHUP, on_stop_signal);
    volatile int *stop = cli_mpi_stop_flag(&g_stop);
    double t1 = cli_now();
    int it0 = cn_solver_iteration(s);
    int rc = cn_solver_train(ctx, s, log_line, &lu, stop, save0, o->ckpt_every);
    metrics_close(&t->mt);
    *secs = cli_now() - t1;
    *iters = cn_solver_iteration(s) - it0;
    if (lu.shown) printf("\r\033[K");
    if (!rc) return 0;
    /* interrupted (save and say how to resume) or failed: either way the
     * caller frees everything, so leak checkers see a clean exit */
    if (rc != CN_EINTR) return die(ctx, "training");
    int sig = *stop > 0 ? *stop : SIGINT, status = 128 + sig;
    if (rank == 0) {
        const char *path = o->save ? o->save : "convnet-interrupted.safetensors";
        if (cn_solver_save(ctx, s, path)) status = die(ctx, "saving the interrupted run");
        else
            printf("interrupted at iteration %d / %d by %s; saved %s\nresume with the same flags plus: --resume %s\n",
                   cn_solver_iteration(s), cn_solver_num_iterations(s), stop_signal_name(sig), path, path);
    }
    return status;
}

/* Speed, communication, the final accuracies with the best parameters, the
 * checkpoint and the plots: 0, or the exit status after a message. */
static int train_report(train_state *t, const train_opts *o, int nranks, const char *save0, const char *plots,
                        double secs, int iters) {
    cn_ctx *ctx = t->ctx;
    cn_dataset *ds = &t->ds;
    double per_s = iters * (double)o->batch / (secs > 0 ? secs : 1);
    printf("trained %d iterations in %.2fs (%.0f images/s, %.1f GFLOP/s)\n", iters, secs, per_s,
           iters * (double)o->batch * cn_net_flops_per_image(t->net) / (secs > 0 ? secs : 1) * 1e-9);
    if (o->profile) {
        char buf[8192];
        double tb, tu, tc;
        cn_net_profile_report(t->net, secs, buf, sizeof buf);
        cn_solver_times(t->s, &tb, &tu, &tc);
        printf("%s  %-18s %7.3fs (%4.1f%%)\n  %-18s %7.3fs (%4.1f%%)\n  %-18s %7.3fs (%4.1f%%)\n", buf, "update", tu,
               100 * tu / secs, "minibatches", tb, 100 * tb / secs, "accuracy checks", tc, 100 * tc / secs);
    }
    if (nranks > 1) {
        double bytes, cs;
        cn_solver_comm_stats(t->s, &bytes, &cs);
        printf("communication (rank 0): %.0f bytes sent per step, %.3fs in collectives (%.1f%% of training)\n",
               iters ? bytes / iters : 0, cs, secs > 0 ? 100 * cs / secs : 0);
    }
    /* final accuracies with the best parameters: the first num_train_samples
     * training images (all of them when <= 0), the whole val and test splits */
    double ta, va, te = -1;
    cn_split head = ds->train;
    if (o->ntrs > 0 && head.n > o->ntrs) head.n = o->ntrs;
    if (split_accuracy(ctx, t->net, ds, &head, o->tta, &ta) || split_accuracy(ctx, t->net, ds, &ds->val, o->tta, &va))
        return die(ctx, "accuracy");
    if (ds->test.n > 0 && split_accuracy(ctx, t->net, ds, &ds->test, o->tta, &te)) return die(ctx, "accuracy");
    printf("final (best params%s): train acc %f (first %d images); val acc %f", o->tta ? o->tta == 1 ? ", tta 1" : ", tta 2" : "",
           ta, head.n, va);
    if (te >= 0) printf("; test acc %f", te);
    printf("\n");
    if (save0) {
        if (cn_solver_save(ctx, t->s, save0)) return die(ctx, "saving");
        printf("saved %s\n", save0);
    }
    if (plots && write_plots(ctx, t->s, t->net, plots)) return die(ctx, "writing plots");
    return 0;
}

static int train_main(int argc, char **argv, int rank, int nranks) {
    train_opts o;
    train_flags(argc, argv, &o);
    int status = train_check(&o, nranks);
    if (status) return status;
    if (nranks > 1 && o.threads == 0) { /* the node's cores shared by its processes */
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = (int)(nc / cli_mpi_local_size());
        if (o.threads < 1) o.threads = 1;
    }
    /* rank 0 logs and writes files; the others keep stderr for errors */
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) return die(NULL, "cannot open /dev/null");
    const char *save0 = rank == 0 ? o.save : NULL, *plots = rank == 0 ? o.plots : NULL;
    if (rank > 0) o.metrics_path = NULL;
    train_state t;
    memset(&t, 0, sizeof t);
    t.ctx = cn_ctx_new(o.threads);
    if (!t.ctx) return die(NULL, "out of memory");
    char specbuf[256];
    const char *spec = build_spec(specbuf, sizeof specbuf, o.net_spec, o.nf, o.fs, o.hidden, 10);
    double secs = 0;
    int iters = 0;
    status = train_preflight(t.ctx, &o, spec);
    if (!status) status = train_setup(&t, &o, spec, nranks);
    if (!status) status = train_loop(&t, &o, rank, save0, &secs, &iters);
    if (!status) status = train_report(&t, &o, nranks, save0, plots, secs, iters);
    cn_solver_free(t.s);
    cn_net_free(t.net);
    cn_dataset_free(&t.ds);
    cn_ctx_free(t.ctx);
    return status;
}

/* train under mpirun (MPI=1 builds) or alone: one process is rank 0 of 1 */
int cmd_train(int argc, char **argv) {
    int rank, nranks;
    if (cli_mpi_init(&argc, &argv, &rank, &nranks)) return 1;
    int status = train_main(argc, argv, rank, nranks);
    cli_mpi_end(status);
    return status;
}
