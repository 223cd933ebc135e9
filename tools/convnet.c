/* convnet — the command-line tool: train, eval, gradcheck, filters, edges,
 * describe, info. Only this file prints or exits. */
#include "cli.h"
#include "convnet_plot.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_FASHION "/usr/share/datasets/fashion-mnist"

/* SIGINT, SIGTERM (batch schedulers, `docker stop`) and SIGHUP (a closed
 * terminal or ssh session) all stop training the same way: the step in
 * progress finishes, the run is saved atomically, the --resume line is
 * printed, and the exit status is the conventional 128 + signal number
 * (130, 143, 129), as if the signal had ended the process. */
static volatile int g_stop;     /* nonzero: stop; the signal number */
static void on_stop_signal(int sig) { g_stop = sig; }
static const char *stop_signal_name(int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGINT";
}

int die(cn_ctx *ctx, const char *what) {
    fflush(stdout); /* the log so far lands above the message when both go to one pipe */
    fprintf(stderr, "convnet: %s%s%s\n", what ? what : "", what && ctx ? ": " : "", ctx ? cn_ctx_error(ctx) : "");
    return 1;
}

/* ---- flag parsing: --name VALUE or --name=VALUE ------------------------- */
int parse_flags(const char *cmd, int argc, char **argv, flag *flags, int nflags,
                       const char **positional, int *npos, int maxpos, const char *usage) {
    int np = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: convnet %s %s\n", cmd, usage);
            for (int f = 0; f < nflags; f++)
                printf("  --%-20s %s\n", flags[f].name, flags[f].help);
            exit(0);
        }
        if (!strncmp(a, "--", 2) || (a[0] == '-' && a[1] && strcmp(a, "-o") && !isdigit((unsigned char)a[1]))) {
            const char *name = a[1] == '-' ? a + 2 : a + 1;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int found = -1;
            for (int f = 0; f < nflags; f++)
                if (strlen(flags[f].name) == len && !strncmp(flags[f].name, name, len)) found = f;
            if (found < 0) {
                fprintf(stderr, "convnet %s: unknown flag '%s'\nusage: convnet %s %s (see --help)\n", cmd, a, cmd, usage);
                exit(2);
            }
            flag *fl = &flags[found];
            if (fl->kind == 'b') { *(int *)fl->dst = 1; continue; }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) { fprintf(stderr, "convnet %s: flag --%s needs a value\n", cmd, fl->name); exit(2); }
            char *end;
            errno = 0;
            if (fl->kind == 'i') {
                long v = strtol(val, &end, 10);
                if (*end || end == val || errno || v < -2147483647L || v > 2147483647L) {
                    fprintf(stderr, "convnet %s: --%s expects an integer, got '%s'\n", cmd, fl->name, val);
                    exit(2);
                }
                *(int *)fl->dst = (int)v;
            } else if (fl->kind == 'd') {
                double v = strtod(val, &end);
                if (*end || end == val || !isfinite(v)) {
                    fprintf(stderr, "convnet %s: --%s expects a number, got '%s'\n", cmd, fl->name, val);
                    exit(2);
                }
                *(double *)fl->dst = v;
            } else {
                *(const char **)fl->dst = val;
            }
        } else if (!strcmp(a, "-o")) {
            /* -o FILE is handled by the caller's flag table as "o" */
            int found = -1;
            for (int f = 0; f < nflags; f++) if (!strcmp(flags[f].name, "o")) found = f;
            if (found < 0 || i + 1 >= argc) { fprintf(stderr, "convnet %s: unexpected -o\n", cmd); exit(2); }
            *(const char **)flags[found].dst = argv[++i];
        } else {
            if (np >= maxpos) {
                fprintf(stderr, "convnet %s: unexpected argument '%s'\nusage: convnet %s %s\n", cmd, a, cmd, usage);
                exit(2);
            }
            positional[np++] = a;
        }
    }
    if (npos) *npos = np;
    return 0;
}

/* --data cifar10:DIR | fashion-mnist[:DIR] | mnist:DIR */
static int load_data(cn_ctx *ctx, cn_dataset *ds, const char *spec, int ntrain, int nval, int ntest) {
    if (!spec) spec = "fashion-mnist";
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *dir = colon ? colon + 1 : NULL;
    if (len == 7 && !strncmp(spec, "cifar10", 7)) {
        if (!dir) return cn_error(ctx, CN_EINVAL, "--data cifar10 needs a directory: cifar10:DIR");
        return cn_load_cifar10(ctx, ds, dir, ntrain, nval, ntest);
    }
    if (len == 13 && !strncmp(spec, "fashion-mnist", 13)) {
        if (!dir && access(DEFAULT_FASHION, R_OK))
            return cn_error(ctx, CN_EIO, "Fashion-MNIST is not installed (%s: %s); install the Debian package: "
                            "apt-get install dataset-fashion-mnist (or give --data fashion-mnist:DIR)",
                            DEFAULT_FASHION, strerror(errno));
        int rc = cn_load_mnist(ctx, ds, dir ? dir : DEFAULT_FASHION, 1, ntrain, nval, ntest);
        if (rc == CN_EIO) { /* a missing or unreadable file: say where the data set comes from */
            char msg[600];
            snprintf(msg, sizeof msg, "%s", cn_ctx_error(ctx));
            rc = cn_error(ctx, rc, "%s (Fashion-MNIST comes in the Debian package dataset-fashion-mnist, "
                          "installed in " DEFAULT_FASHION ")", msg);
        }
        return rc;
    }
    if (len == 5 && !strncmp(spec, "mnist", 5)) {
        if (!dir) return cn_error(ctx, CN_EINVAL, "--data mnist needs a directory: mnist:DIR");
        return cn_load_mnist(ctx, ds, dir, 0, ntrain, nval, ntest);
    }
    return cn_error(ctx, CN_EINVAL, "--data '%s': expected cifar10:DIR, fashion-mnist[:DIR] or mnist:DIR", spec);
}

/* The image shape and class count a --data spec gives, known before loading
 * (so the net spec is checked before seconds of reading data). 0 if unknown. */
static int data_shape(const char *spec, int *C, int *H, int *W) {
    if (!spec) spec = "fashion-mnist";
    if (!strncmp(spec, "cifar10", 7) && (!spec[7] || spec[7] == ':')) { *C = 3; *H = 32; *W = 32; return 1; }
    if ((!strncmp(spec, "fashion-mnist", 13) && (!spec[13] || spec[13] == ':')) ||
        (!strncmp(spec, "mnist", 5) && (!spec[5] || spec[5] == ':'))) { *C = 1; *H = 28; *W = 28; return 1; }
    return 0;
}

static int progress_tty;
static int progress_shown;
typedef struct { metrics *m; const cn_solver *s; int batch, quiet; } log_user;
static void log_line(void *user, const char *line, int progress) {
    log_user *u = user;
    if (!progress && !strncmp(line, "warning: ", 9)) { /* a failed periodic checkpoint: stderr, even with --quiet */
        if (progress_shown) { printf("\r\033[K"); progress_shown = 0; }
        fflush(stdout);
        fprintf(stderr, "convnet: %s\n", line);
        return;
    }
    if (u && !progress && u->m) metrics_line(u->m, u->s, u->batch, line);
    if (u && u->quiet && !progress) return; /* --quiet --metrics: the log lines go to the file only */
    if (progress) {
        if (!progress_tty) return;
        printf("\r\033[K%s", line);
        fflush(stdout);
        progress_shown = 1;
        return;
    }
    if (progress_shown) { printf("\r\033[K"); progress_shown = 0; }
    printf("%s\n", line);
    fflush(stdout);
}

/* Accuracy of a net on a whole split, in batches. */
static int split_accuracy(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, const cn_split *sp, double *acc) {
    int B = 100, K = cn_net_num_classes(net);
    size_t img = (size_t)sp->c * sp->h * sp->w, esz = cn_net_dtype(net) == CN_F32 ? 4 : 8;
    void *x = malloc(esz * B * img), *scores = malloc(esz * B * K);
    int32_t *y = malloc(4 * B), *idx = malloc(4 * B);
    int rc = CN_OK, correct = 0;
    if (!x || !scores || !y || !idx) { rc = cn_error(ctx, CN_ENOMEM, "out of memory"); goto out; }
    for (int s = 0; s < sp->n && !rc; s += B) {
        int n = sp->n - s < B ? sp->n - s : B;
        for (int i = 0; i < n; i++) idx[i] = s + i;
        rc = esz == 4 ? cn_split_batch_f32(sp, ds->mean, idx, n, x, y) : cn_split_batch_f64(sp, ds->mean, idx, n, x, y);
        if (!rc) rc = cn_net_loss(ctx, net, NULL, scores, x, NULL, n);
        for (int i = 0; i < n && !rc; i++) {
            int best = 0;
            for (int k = 1; k < K; k++) {
                double a = esz == 4 ? ((float *)scores)[i * K + k] : ((double *)scores)[i * K + k];
                double b = esz == 4 ? ((float *)scores)[i * K + best] : ((double *)scores)[i * K + best];
                if (a > b) best = k;
            }
            correct += best == y[i];
        }
    }
    *acc = sp->n ? (double)correct / sp->n : 0;
out:
    free(x); free(scores); free(y); free(idx);
    return rc;
}

static int write_plots(cn_ctx *ctx, cn_solver *s, cn_net *net, const char *dir) {
    if (mkdir(dir, 0755) && errno != EEXIST) return cn_error(ctx, CN_EIO, "cannot create %s: %s", dir, strerror(errno));
    char path[4096];
    int n, na;
    const double *loss = cn_solver_loss_history(s, &n);
    const double *ta = cn_solver_train_acc_history(s, &na);
    const double *va = cn_solver_val_acc_history(s, &na);
    cn_series ls = {"training loss", loss, NULL, n, 0};
    snprintf(path, sizeof path, "%s/loss.png", dir);
    int rc = cn_plot_png(ctx, path, "Training loss", "Iteration", "Loss", &ls, 1);
    if (rc) return rc;
    printf("wrote %s\n", path);
    cn_series as[2] = {{"train", ta, NULL, na, 1}, {"val", va, NULL, na, 1}};
    snprintf(path, sizeof path, "%s/accuracy.png", dir);
    if ((rc = cn_plot_png(ctx, path, "Classification accuracy", "Epoch", "Accuracy", as, 2))) return rc;
    printf("wrote %s\n", path);
    const cn_param *W1 = cn_net_find(net, "W1");
    if (W1 && W1->ndim == 4 && (W1->shape[1] == 1 || W1->shape[1] == 3)) {
        snprintf(path, sizeof path, "%s/filters.png", dir);
        float *w = malloc(sizeof(float) * W1->size);
        if (!w) return cn_error(ctx, CN_ENOMEM, "out of memory");
        for (size_t i = 0; i < W1->size; i++)
            w[i] = cn_net_dtype(net) == CN_F32 ? ((float *)W1->data)[i] : (float)((double *)W1->data)[i];
        rc = cn_filters_png(ctx, path, w, (int)W1->shape[0], (int)W1->shape[1], (int)W1->shape[2], (int)W1->shape[3], 8);
        free(w);
        if (rc) return rc;
        printf("wrote %s\n", path);
    }
    return CN_OK;
}

static const char *build_spec(char *buf, size_t len, const char *net, int nf, int fs, int hidden, int classes) {
    if (net) return cn_spec_expand(net);
    snprintf(buf, len, "conv%dx%d-relu-pool2-affine%d-relu-affine%d", nf, fs, hidden, classes);
    return buf;
}

/* ---- memory budget: refuse a net that cannot fit before allocating it -- */
static double gib(double b) { return b / (1024.0 * 1024 * 1024); }

/* --max-memory: "auto" (what the machine or cgroup has left), "none" (no
 * check), or BYTES with an optional K, M, G, T suffix (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return 0;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    }
    if (*end == 'i' && end[1] == 'B') end += 2;
    else if (*end == 'B') end++;
    if (*end || v * mult >= 1.8e19) return 0;
    *out = (uint64_t)(v * mult);
    return 1;
}

static int check_memory(cn_ctx *ctx, const char *max_memory, const char *spec, int C, int H, int W, cn_dtype dt,
                        int batch, const char *rule) {
    if (!strcmp(max_memory, "none")) return 0;
    uint64_t budget;
    char source[CN_MEM_SOURCE_LEN] = "--max-memory";
    if (!strcmp(max_memory, "auto")) {
        if (cn_memory_available(ctx, &budget, source, sizeof source)) {
            fprintf(stderr, "convnet train: warning: %s; the memory check is skipped\n", cn_ctx_error(ctx));
            return 0;
        }
    } else if (!parse_bytes(max_memory, &budget)) {
        fprintf(stderr, "convnet train: --max-memory expects auto, none or BYTES (e.g. 8G), got '%s'\n", max_memory);
        return 2;
    }
    cn_mem_estimate e;
    if (cn_net_estimate_memory(ctx, spec, C, H, W, dt, batch, rule, &e)) {
        fprintf(stderr, "convnet train: --net: %s\n", cn_ctx_error(ctx));
        return 2;
    }
    if ((uint64_t)e.total <= budget) return 0;
    fprintf(stderr,
            "convnet train: the net needs about %.0f bytes (%.2f GiB: parameters %.2f, gradients %.2f, solver state %.2f, "
            "activations for batch %d %.2f, workspaces %.2f GiB), more than the %.0f bytes (%.2f GiB) available (%s).\n"
            "Use a smaller net or --batch-size, or --max-memory none to try anyway.\n",
            (double)e.total, gib((double)e.total), gib((double)e.params), gib((double)e.grads), gib((double)e.solver),
            batch, gib((double)e.activations), gib((double)e.workspace), (double)budget,
            gib((double)budget), source);
    return 1;
}

static int train_main(int argc, char **argv, int rank, int nranks) {
    const char *data = NULL, *net_spec = NULL, *save = NULL, *resume = NULL, *plots = NULL, *dtype = "float32";
    /* -1: not given (the three-layer defaults below; refused with --net) */
    int hidden = -1, nf = -1, fs = -1, batch = 50, epochs = 1, ntrain = -1, nval = -1, ntest = -1;
    int ntrs = 1000, nvs = 0, print_every = 20, seed = 0, threads = 0, ckpt_every = 0, quiet = 0, groups = 0;
    double ws = 1e-3, reg = 1e-3, lr = -1, lr_decay = 1.0;
    const char *rule = "adam", *metrics_path = NULL, *max_memory = "auto";
    flag flags[] = {
        {"data", 's', &data, "cifar10:DIR | fashion-mnist[:DIR] | mnist:DIR (default fashion-mnist from " DEFAULT_FASHION ")"},
        {"net", 's', &net_spec, "net spec, e.g. conv32x7-relu-pool2-affine100-relu-affine10 or three-layer "
                                "(default: the three-layer net from the three flags below)"},
        {"hidden-dim", 'i', &hidden, "three-layer net: hidden units (100, ThreeLayerConvNet's default; "
                                     "the notebook's CIFAR-10 run passes 500)"},
        {"num-filters", 'i', &nf, "three-layer net: conv filters (32)"},
        {"filter-size", 'i', &fs, "three-layer net: filter size (7)"},
        {"weight-scale", 'd', &ws, "weights ~ N(0, weight_scale^2) (1e-3)"},
        {"reg", 'd', &reg, "L2 strength, 0.5*reg*sum(W^2) (1e-3)"},
        {"update-rule", 's', &rule, "sgd | sgd_momentum | rmsprop | adam (adam)"},
        {"learning-rate", 'd', &lr, "learning rate (the rule's default: 1e-3 for adam, else 1e-2)"},
        {"lr-decay", 'd', &lr_decay, "multiply the learning rate by this at each epoch end (1.0)"},
        {"batch-size", 'i', &batch, "minibatch size (50)"},
        {"num-epochs", 'i', &epochs, "epochs (1)"},
        {"num-train", 'i', &ntrain, "training images (cifar10 49000, mnist 59000)"},
        {"num-val", 'i', &nval, "validation images, taken after the training ones (1000)"},
        {"num-test", 'i', &ntest, "test images (cifar10 1000, mnist 10000)"},
        {"num-train-samples", 'i', &ntrs, "training images sampled for each accuracy check (1000)"},
        {"num-val-samples", 'i', &nvs, "validation images sampled for each check (0: all)"},
        {"print-every", 'i', &print_every, "log the loss every N iterations (20)"},
        {"seed", 'i', &seed, "random seed for init, minibatches and samples (0)"},
        {"threads", 'i', &threads, "threads (0: all cores; under mpirun: the cores shared by the node's processes)"},
        {"groups", 'i', &groups, "split each minibatch into this many fixed sample groups, averaged in group order "
                                 "(0: one pass); needed under mpirun with K > 1 processes (K <= groups): any K "
                                 "with the same groups gives the same bits (docs/mpi.md)"},
        {"dtype", 's', &dtype, "float32 | float64 (float32)"},
        {"save", 's', &save, "write the checkpoint (model + solver state) here"},
        {"checkpoint-every", 'i', &ckpt_every, "also save every N iterations (needs --save)"},
        {"resume", 's', &resume, "continue the run saved in this checkpoint"},
        {"plots", 's', &plots, "write loss.png, accuracy.png, filters.png into this directory"},
        {"quiet", 'b', &quiet, "no log lines"},
        {"metrics", 's', &metrics_path, "write one JSON object per logged iteration and per accuracy check to this "
                                        "JSON-lines file (started afresh; cut back to the checkpoint by --resume)"},
        {"max-memory", 's', &max_memory, "auto | none | BYTES[K|M|G|T]: refuse a net whose estimated memory (parameters, "
                                         "gradients, solver state, activations, workspaces) exceeds this; auto: "
                                         "MemAvailable or the cgroup limit, whichever is lower (auto)"},
    };
    parse_flags("train", argc, argv, flags, sizeof flags / sizeof flags[0], NULL, NULL, 0, "[flags]");
    /* Every flag is checked here, before seconds of loading data. */
#define BAD(...) do { fprintf(stderr, "convnet train: " __VA_ARGS__); fputc('\n', stderr); return 2; } while (0)
    if (net_spec && (hidden != -1 || nf != -1 || fs != -1))
        BAD("--net gives the whole net; --hidden-dim, --num-filters and --filter-size only shape the default "
            "three-layer net (write them into the spec instead, e.g. conv32x7-relu-pool2-affine100-relu-affine10)");
    if (hidden == -1) hidden = 100;
    if (nf == -1) nf = 32;
    if (fs == -1) fs = 7;
    {   /* the three-layer net's sizes, named as the user gave them (the spec
         * parser would only see "affine2000000000") */
        const char *nm[3] = {"hidden-dim", "num-filters", "filter-size"};
        int v[3] = {hidden, nf, fs};
        for (int i = 0; i < 3 && !net_spec; i++)
            if (v[i] < 1) BAD("--%s must be > 0, not %d", nm[i], v[i]);
            else if (v[i] > 1000000) BAD("--%s %d is too large (1..1000000)", nm[i], v[i]);
    }
    if (ckpt_every > 0 && !save) BAD("--checkpoint-every needs --save FILE");
    if (ckpt_every < 0) BAD("--checkpoint-every must be >= 0, not %d", ckpt_every);
    cn_dtype dt = !strcmp(dtype, "float64") ? CN_F64 : CN_F32;
    if (strcmp(dtype, "float64") && strcmp(dtype, "float32")) BAD("--dtype must be float32 or float64");
    if (strcmp(rule, "sgd") && strcmp(rule, "sgd_momentum") && strcmp(rule, "rmsprop") && strcmp(rule, "adam"))
        BAD("--update-rule must be sgd, sgd_momentum, rmsprop or adam, not '%s'", rule);
    if (batch <= 0) BAD("--batch-size must be > 0, not %d", batch);
    if (epochs <= 0) BAD("--num-epochs must be > 0, not %d", epochs);
    if (print_every <= 0) BAD("--print-every must be > 0, not %d", print_every);
    if (!(lr_decay > 0)) BAD("--lr-decay must be > 0, not %g", lr_decay);
    if (lr != -1 && !(lr > 0)) BAD("--learning-rate must be > 0, not %g", lr);
    if (ws < 0) BAD("--weight-scale must be >= 0, not %g", ws);
    if (reg < 0) BAD("--reg must be >= 0, not %g", reg);
    if (threads < 0) BAD("--threads must be >= 0 (0: all cores), not %d", threads);
    if (seed < 0) BAD("--seed must be >= 0, not %d", seed);
    if (groups < 0 || groups > batch) BAD("--groups must be in 0..batch size (%d), not %d", batch, groups);
    if (nranks > 1 && groups < nranks)
        BAD("%d processes (mpirun -np %d) need --groups G with G >= %d: the minibatch is split into G fixed sample "
            "groups, whole groups per process (the same G gives the same bits for any number of processes)",
            nranks, nranks, nranks);
    int dC, dH, dW;
    if (!data_shape(data, &dC, &dH, &dW)) BAD("--data '%s': expected cifar10:DIR, fashion-mnist[:DIR] or mnist:DIR", data);
#undef BAD
    if (nranks > 1 && threads == 0) { /* the node's cores shared by its processes */
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (int)(nc / cli_mpi_local_size());
        if (threads < 1) threads = 1;
    }
    /* rank 0 logs and writes files; the others keep stderr for errors */
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) return die(NULL, "cannot open /dev/null");
    const char *save0 = rank == 0 ? save : NULL;
    if (rank > 0) metrics_path = NULL, plots = NULL;
    cn_ctx *ctx = cn_ctx_new(threads);
    if (!ctx) return die(NULL, "out of memory");
    /* every exit from here frees what the run holds, so leak checkers (and
     * make test-faults, which fails each allocation in turn) see clean exits */
    char specbuf[256];
    const char *spec = build_spec(specbuf, sizeof specbuf, net_spec, nf, fs, hidden, 10);
    {   /* the estimate before any allocation (minutes of init and swapping
         * otherwise), then the spec against the data set's image shape (both
         * data sets have 10 classes), all before seconds of loading data */
        int mrc = check_memory(ctx, max_memory, spec, dC, dH, dW, dt, batch, rule);
        if (mrc) {
            cn_ctx_free(ctx);
            return mrc;
        }
        cn_rng r0;
        cn_rng_seed(&r0, 0);
        cn_net *probe;
        if (cn_net_new(ctx, &probe, spec, dC, dH, dW, dt, ws, reg, &r0)) {
            fprintf(stderr, "convnet train: --net: %s\n", cn_ctx_error(ctx));
            cn_ctx_free(ctx);
            return 2;
        }
        int k = cn_net_num_classes(probe);
        cn_net_free(probe);
        if (k != 10) {
            fprintf(stderr, "convnet train: --net ends with affine%d, but the data set has 10 classes\n", k);
            cn_ctx_free(ctx);
            return 2;
        }
    }
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
    cn_net *net = NULL;
    cn_solver *s = NULL;
#define TRAIN_EXIT(status) do { int st_ = (status); cn_solver_free(s); cn_net_free(net); cn_dataset_free(&ds); \
                                cn_ctx_free(ctx); return st_; } while (0)
    /* a --save path that can never be written (a device, FIFO, socket or
     * directory there, no such directory, no permission) fails now, not
     * after the training it was meant to keep; --checkpoint-every uses it too */
    if (save && cn_check_save_path(ctx, save)) TRAIN_EXIT(die(ctx, "--save"));
    double t0 = cli_now();
    if (load_data(ctx, &ds, data, ntrain, nval, ntest)) TRAIN_EXIT(die(ctx, "loading data"));
    printf("data: %s, train %d, val %d, test %d images of (%d,%d,%d), %d classes (%.2fs)\n", ds.name, ds.train.n,
           ds.val.n, ds.test.n, ds.train.c, ds.train.h, ds.train.w, ds.num_classes, cli_now() - t0);
    cn_rng rng;
    cn_rng_seed(&rng, (uint64_t)seed * 2 + 1); /* the init stream differs from the solver's */
    if (cn_net_new(ctx, &net, spec, ds.train.c, ds.train.h, ds.train.w, dt, ws, reg, &rng)) TRAIN_EXIT(die(ctx, "building the net"));
    char desc[4096];
    cn_net_describe(net, desc, sizeof desc);
    fputs(desc, stdout);
    printf("build: %s\n", cn_build_info(ctx));
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    snprintf(cfg.update_rule, sizeof cfg.update_rule, "%s", rule);
    cfg.learning_rate = lr;
    cfg.lr_decay = lr_decay;
    cfg.batch_size = batch;
    cfg.num_epochs = epochs;
    cfg.num_train_samples = ntrs;
    cfg.num_val_samples = nvs;
    cfg.print_every = print_every;
    cfg.verbose = !quiet || metrics_path;
    cfg.seed = (uint64_t)seed;
    if (cn_solver_new(ctx, &s, net, &ds, &cfg)) TRAIN_EXIT(die(ctx, "setting up the solver"));
    if (resume) {
        if (cn_solver_resume(ctx, s, resume)) TRAIN_EXIT(die(ctx, "resuming"));
        printf("resumed from %s at iteration %d / %d\n", resume, cn_solver_iteration(s), cn_solver_num_iterations(s));
    }
    cn_comm comm;
    if (groups > 0) {
        int have = cli_mpi_comm(&comm);
        if (cn_solver_set_groups(ctx, s, groups, have ? &comm : NULL)) TRAIN_EXIT(die(ctx, "setting up the sample groups"));
        if (have) printf("data parallel: %d processes x %d threads, %d sample groups\n", nranks, cn_ctx_threads(ctx), groups);
    }
    metrics mt;
    memset(&mt, 0, sizeof mt);
    if (metrics_path && metrics_open(&mt, metrics_path, resume ? cn_solver_iteration(s) : -1)) {
        cn_solver_free(s); cn_net_free(net); cn_dataset_free(&ds); cn_ctx_free(ctx);
        return 1;
    }
    log_user lu = {metrics_path ? &mt : NULL, s, batch, quiet};
    /* the live line only on a terminal, never in a log file; not under
     * mpirun, whose forwarded output looks like a terminal to the ranks */
    progress_tty = isatty(1) && !getenv("OMPI_COMM_WORLD_SIZE");
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    signal(SIGHUP, on_stop_signal);
    double t1 = cli_now();
    int it0 = cn_solver_iteration(s);
    int rc = cn_solver_train(ctx, s, log_line, &lu, &g_stop, save0, ckpt_every);
    metrics_close(&mt);
    double secs = cli_now() - t1;
    if (progress_shown) printf("\r\033[K");
    if (rc) {
        /* interrupted (save and say how to resume) or failed: either way free
         * everything, so leak checkers see a clean exit */
        int status = 130;
        if (rc == CN_EINTR && rank == 0) {
            const char *path = save ? save : "convnet-interrupted.safetensors";
            int sig = g_stop > 0 ? g_stop : SIGINT;
            status = 128 + sig;
            if (cn_solver_save(ctx, s, path)) status = die(ctx, "saving the interrupted run");
            else
                printf("interrupted at iteration %d / %d by %s; saved %s\nresume with the same flags plus: --resume %s\n",
                       cn_solver_iteration(s), cn_solver_num_iterations(s), stop_signal_name(sig), path, path);
        } else if (rc != CN_EINTR) {
            status = die(ctx, "training");
        }
        TRAIN_EXIT(status);
    }
    int iters = cn_solver_iteration(s) - it0;
    printf("trained %d iterations in %.2fs (%.0f images/s, %.1f GFLOP/s)\n", iters, secs,
           iters * (double)batch / (secs > 0 ? secs : 1),
           iters * (double)batch * cn_net_flops_per_image(net) / (secs > 0 ? secs : 1) * 1e-9);
    if (nranks > 1) {
        double bytes, cs;
        cn_solver_comm_stats(s, &bytes, &cs);
        printf("communication (rank 0): %.0f bytes sent per step, %.3fs in collectives (%.1f%% of training)\n",
               iters ? bytes / iters : 0, cs, secs > 0 ? 100 * cs / secs : 0);
    }
    /* final accuracies with the best parameters: the first num_train_samples
     * training images (all of them when <= 0), the whole val and test splits */
    double ta, va, te = -1;
    cn_split head = ds.train;
    if (ntrs > 0 && head.n > ntrs) head.n = ntrs;
    if (split_accuracy(ctx, net, &ds, &head, &ta) || split_accuracy(ctx, net, &ds, &ds.val, &va)) TRAIN_EXIT(die(ctx, "accuracy"));
    if (ds.test.n > 0 && split_accuracy(ctx, net, &ds, &ds.test, &te)) TRAIN_EXIT(die(ctx, "accuracy"));
    printf("final (best params): train acc %f (first %d images); val acc %f", ta, head.n, va);
    if (te >= 0) printf("; test acc %f", te);
    printf("\n");
    if (save0) {
        if (cn_solver_save(ctx, s, save0)) TRAIN_EXIT(die(ctx, "saving"));
        printf("saved %s\n", save0);
    }
    if (plots && write_plots(ctx, s, net, plots)) TRAIN_EXIT(die(ctx, "writing plots"));
    TRAIN_EXIT(0);
#undef TRAIN_EXIT
}

/* train under mpirun (MPI=1 builds) or alone: one process is rank 0 of 1 */
static int cmd_train(int argc, char **argv) {
    int rank, nranks;
    if (cli_mpi_init(&argc, &argv, &rank, &nranks)) return 1;
    int status = train_main(argc, argv, rank, nranks);
    cli_mpi_end(status);
    return status;
}

static int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *split = "val";
    int ntrain = -1, nval = -1, ntest = -1, threads = 0, json = 0;
    flag flags[] = {
        {"model", 's', &model, "checkpoint or model file (its best parameters are used)"},
        {"data", 's', &data, "cifar10:DIR | fashion-mnist[:DIR] | mnist:DIR"},
        {"split", 's', &split, "train | val | test (val)"},
        {"num-train", 'i', &ntrain, "as in train (the split must match the training run's)"},
        {"num-val", 'i', &nval, "as in train"},
        {"num-test", 'i', &ntest, "as in train"},
        {"threads", 'i', &threads, "threads (0: all cores)"},
        {"json", 'b', &json, "print one JSON object: model, data, split, images, correct, accuracy"},
    };
    parse_flags("eval", argc, argv, flags, sizeof flags / sizeof flags[0], NULL, NULL, 0, "--model FILE [--data D] [--split S]");
    if (!model) { fprintf(stderr, "convnet eval: --model FILE is required\n"); return 2; }
    if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test")) {
        fprintf(stderr, "convnet eval: --split must be train, val or test, not '%s'\n", split);
        return 2;
    }
    cn_ctx *ctx = cn_ctx_new(threads);
    if (!ctx) return die(NULL, "out of memory");
    cn_net *net = NULL;
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
#define EVAL_EXIT(status) do { int st_ = (status); cn_net_free(net); cn_dataset_free(&ds); cn_ctx_free(ctx); \
                               return st_; } while (0)
    if (cn_net_load(ctx, &net, model, 1, NULL)) EVAL_EXIT(die(ctx, "loading the model"));
    if (load_data(ctx, &ds, data, ntrain, nval, ntest)) EVAL_EXIT(die(ctx, "loading data"));
    const cn_split *sp = !strcmp(split, "train") ? &ds.train : !strcmp(split, "val") ? &ds.val : &ds.test;
    int C, H, W;
    cn_net_input(net, &C, &H, &W);
    if (sp->n == 0) { fprintf(stderr, "convnet eval: the %s split of %s is empty\n", split, ds.name); EVAL_EXIT(1); }
    if (sp->c != C || sp->h != H || sp->w != W) {
        fprintf(stderr, "convnet eval: the model takes (%d,%d,%d) images, the data has (%d,%d,%d)\n", C, H, W, sp->c, sp->h, sp->w);
        EVAL_EXIT(1);
    }
    double acc;
    if (split_accuracy(ctx, net, &ds, sp, &acc)) EVAL_EXIT(die(ctx, "evaluating"));
    if (json) {
        printf("{\"model\":");
        json_str(stdout, model);
        printf(",\"data\":");
        json_str(stdout, ds.name);
        printf(",\"split\":\"%s\",\"images\":%d,\"correct\":%d,\"accuracy\":", split, sp->n, (int)lround(acc * sp->n));
        json_num(stdout, acc);
        printf("}\n");
    } else {
        printf("%s acc: %f\n", split, acc);
    }
    EVAL_EXIT(0);
#undef EVAL_EXIT
}

typedef struct { cn_ctx *ctx; cn_net *net; double *X; int32_t *y; int N; } gc_user;
static double gc_loss(void *u) {
    gc_user *g = u;
    double loss = NAN;
    cn_net_loss(g->ctx, g->net, &loss, NULL, g->X, g->y, g->N);
    return loss;
}

static int cmd_gradcheck(int argc, char **argv) {
    const char *net_spec = "conv3x3-relu-pool2-affine7-relu-affine10", *input = "3,16,16";
    int N = 2, seed = 0;
    double reg = 0.0, ws = 1e-2;
    flag flags[] = {
        {"net", 's', &net_spec, "net spec (default: the original's small ThreeLayerConvNet check, conv3x3-relu-pool2-affine7-relu-affine10)"},
        {"input", 's', &input, "C,H,W of the random input (3,16,16)"},
        {"batch", 'i', &N, "images (2)"},
        {"reg", 'd', &reg, "L2 strength (0)"},
        {"weight-scale", 'd', &ws, "init scale (1e-2)"},
        {"seed", 'i', &seed, "random seed (0)"},
    };
    parse_flags("gradcheck", argc, argv, flags, sizeof flags / sizeof flags[0], NULL, NULL, 0, "[--net SPEC] [--input C,H,W]");
    int C, H, W;
    if (sscanf(input, "%d,%d,%d", &C, &H, &W) != 3) { fprintf(stderr, "convnet gradcheck: --input expects C,H,W\n"); return 2; }
    if (N <= 0 || N > 64) { fprintf(stderr, "convnet gradcheck: --batch must be 1..64\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(1);
    cn_rng rng;
    cn_rng_seed(&rng, (uint64_t)seed);
    cn_net *net;
    if (cn_net_new(ctx, &net, net_spec, C, H, W, CN_F64, ws, reg, &rng)) return die(ctx, "building the net");
    size_t in = (size_t)N * C * H * W;
    double *X = malloc(8 * in);
    int32_t *y = malloc(4 * N);
    for (size_t i = 0; i < in; i++) X[i] = cn_rng_normal(&rng);
    for (int i = 0; i < N; i++) y[i] = (int32_t)cn_rng_below(&rng, (uint64_t)cn_net_num_classes(net));
    double loss;
    if (cn_net_loss(ctx, net, &loss, NULL, X, y, N)) return die(ctx, "loss");
    printf("net %s, input (%d,%d,%d,%d), float64, reg %g: loss %f\n", cn_net_spec(net), N, C, H, W, reg, loss);
    gc_user u = {ctx, net, X, y, N};
    int worst_fail = 0;
    double worst = 0;
    const double bound = 1e-2;
    for (int i = 0; i < cn_net_num_params(net); i++) {
        const cn_param *p = cn_net_param(net, i);
        if (!p->trainable) continue;
        double *analytic = malloc(8 * p->size), *numeric = malloc(8 * p->size);
        cn_net_loss(ctx, net, &loss, NULL, X, y, N);
        memcpy(analytic, p->grad, 8 * p->size);
        cn_eval_numerical_gradient(ctx, numeric, gc_loss, &u, p->data, p->size, 1e-6);
        double e = cn_rel_error(numeric, analytic, p->size);
        printf("%s max relative error: %e\n", p->name, e);
        if (!(e < bound)) worst_fail = 1;
        if (!(e <= worst)) worst = e; /* NaN sticks */
        free(analytic); free(numeric);
    }
    free(X); free(y);
    cn_net_free(net);
    cn_ctx_free(ctx);
    /* The verdict: the bound is loose on purpose (float64, h = 1e-6: a correct
     * gradient gives ~1e-7 or less; a wrong one gives ~1). */
    printf("gradcheck: %s (max relative error %.3e, bound %.0e)\n", worst_fail ? "FAIL" : "PASS", worst, bound);
    if (worst_fail) { fprintf(stderr, "convnet gradcheck: a relative error is above %.0e\n", bound); return 1; }
    return 0;
}

static int cmd_filters(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    int scale = 8, best = 1;
    flag flags[] = {
        {"model", 's', &model, "checkpoint or model file"},
        {"o", 's', &out, "output PNG"},
        {"scale", 'i', &scale, "upscale factor (8)"},
    };
    parse_flags("filters", argc, argv, flags, sizeof flags / sizeof flags[0], NULL, NULL, 0, "--model FILE -o out.png");
    if (!model || !out) { fprintf(stderr, "convnet filters: --model FILE and -o out.png are required\n"); return 2; }
    if (scale < 1 || scale > 64) { fprintf(stderr, "convnet filters: --scale must be 1..64\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(1);
    cn_net *net;
    if (cn_net_load(ctx, &net, model, best, NULL)) return die(ctx, "loading the model");
    const cn_param *W1 = cn_net_find(net, "W1");
    if (!W1 || W1->ndim != 4 || (W1->shape[1] != 1 && W1->shape[1] != 3)) {
        fprintf(stderr, "convnet filters: %s: the first layer is not a conv on 1 or 3 channels\n", model);
        return 1;
    }
    float *w = malloc(sizeof(float) * W1->size);
    for (size_t i = 0; i < W1->size; i++)
        w[i] = cn_net_dtype(net) == CN_F32 ? ((float *)W1->data)[i] : (float)((double *)W1->data)[i];
    if (cn_filters_png(ctx, out, w, (int)W1->shape[0], (int)W1->shape[1], (int)W1->shape[2], (int)W1->shape[3], scale))
        return die(ctx, "writing filters");
    printf("wrote %s (%lld filters %lldx%lld)\n", out, (long long)W1->shape[0], (long long)W1->shape[2], (long long)W1->shape[3]);
    free(w);
    cn_net_free(net);
    cn_ctx_free(ctx);
    return 0;
}

static int cmd_edges(int argc, char **argv) {
    const char *out = NULL, *pos[64];
    int np = 0;
    flag flags[] = {{"o", 's', &out, "output PNG"}};
    parse_flags("edges", argc, argv, flags, 1, pos, &np, 64, "IMAGE... -o out.png");
    if (!out || np == 0) { fprintf(stderr, "convnet edges: give one or more images and -o out.png\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(1);
    if (cn_edges_demo(ctx, out, pos, np)) return die(ctx, "edges demo");
    printf("wrote %s\n", out);
    cn_ctx_free(ctx);
    return 0;
}

static void json_shape(int C, int H, int W) { printf("[%d,%d,%d]", C, H, W); }

/* describe --json: the net as cn_net_layer gives it */
static void describe_json(const cn_net *net) {
    int C, H, W, K = cn_net_num_classes(net);
    cn_net_input(net, &C, &H, &W);
    size_t total = 0;
    for (int i = 0; i < cn_net_num_params(net); i++) total += cn_net_param(net, i)->size;
    printf("{\"spec\":");
    json_str(stdout, cn_net_spec(net));
    printf(",\"input\":");
    json_shape(C, H, W);
    printf(",\"dtype\":\"%s\",\"num_classes\":%d,\"classes\":[", cn_net_dtype(net) == CN_F32 ? "float32" : "float64", K);
    for (int k = 0; k < K; k++) {
        char name[80];
        cn_net_class_name(net, k, name, sizeof name);
        if (k) printf(",");
        json_str(stdout, name);
    }
    cn_prep p = cn_net_preprocess(net, NULL);
    printf("],\"preprocess\":%s,\"parameters\":%zu,\"flops_per_image\":",
           p == CN_PREP_MEAN_IMAGE ? "\"mean_image\"" : p == CN_PREP_NONE ? "\"none\"" : "null", total);
    json_num(stdout, cn_net_flops_per_image(net));
    printf(",\"layers\":[");
    for (int i = 0; i < cn_net_num_layers(net); i++) {
        cn_layer_info L;
        cn_net_layer(net, i, &L);
        printf("%s{\"kind\":\"%s\",\"relu\":%s,\"pool\":%s,\"input\":", i ? "," : "", L.kind, L.relu ? "true" : "false",
               L.pool ? "true" : "false");
        json_shape(L.C, L.H, L.W);
        printf(",\"output\":");
        json_shape(L.oC, L.oH, L.oW);
        printf(",\"params\":{");
        const cn_param *ps[6] = {L.w, L.b, L.gamma, L.beta, L.running_mean, L.running_var};
        int first = 1;
        for (int k = 0; k < 6; k++) {
            if (!ps[k]) continue;
            printf("%s", first ? "" : ",");
            first = 0;
            json_str(stdout, ps[k]->name);
            printf(":[");
            for (int d = 0; d < ps[k]->ndim; d++) printf("%s%lld", d ? "," : "", (long long)ps[k]->shape[d]);
            printf("]");
        }
        printf("}}");
    }
    printf("]}\n");
}

static int cmd_describe(int argc, char **argv) {
    const char *net_spec = "three-layer", *input = "3,32,32", *model = NULL;
    int json = 0;
    flag flags[] = {
        {"net", 's', &net_spec, "net spec (three-layer)"},
        {"input", 's', &input, "C,H,W (3,32,32)"},
        {"model", 's', &model, "describe this model file instead (with its classes and preprocessing)"},
        {"json", 'b', &json, "one JSON object: spec, input, dtype, classes, parameters, FLOPs, layers"},
    };
    parse_flags("describe", argc, argv, flags, 4, NULL, NULL, 0, "[--net SPEC] [--input C,H,W] [--model FILE] [--json]");
    int C, H, W;
    if (sscanf(input, "%d,%d,%d", &C, &H, &W) != 3) { fprintf(stderr, "convnet describe: --input expects C,H,W\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(1);
    cn_rng r;
    cn_rng_seed(&r, 0);
    cn_net *net;
    if (model) {
        if (cn_net_load(ctx, &net, model, 1, NULL)) return die(ctx, "loading the model");
    } else if (cn_net_new(ctx, &net, net_spec, C, H, W, CN_F32, 1e-3, 0, &r)) {
        return die(ctx, "building the net");
    }
    if (json) {
        describe_json(net);
    } else {
        char desc[4096];
        cn_net_describe(net, desc, sizeof desc);
        fputs(desc, stdout);
        printf("training FLOPs per image: %.3g\n", cn_net_flops_per_image(net));
    }
    cn_net_free(net);
    cn_ctx_free(ctx);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: convnet COMMAND [flags]   (convnet COMMAND --help for its flags)\n"
            "  train      train a net (the original's ThreeLayerConvNet by default) and save it\n"
            "  eval       accuracy of a saved model on a split\n"
            "  gradcheck  float64 numeric gradient check of every parameter of a small net\n"
            "  filters    the first-layer filters of a model as a picture\n"
            "  edges      the original's convolution demo on photos\n"
            "  describe   layers, shapes and parameters of a net spec\n"
            "  predict    classify JPEG/PNG images with a trained model (top-k classes)\n"
            "  export     write a trained model as ONNX (preprocessing and softmax included)\n"
            "  info       what this build detected (SIMD, BLAS, threads)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "train")) return cmd_train(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "gradcheck")) return cmd_gradcheck(argc, argv);
    if (!strcmp(cmd, "filters")) return cmd_filters(argc, argv);
    if (!strcmp(cmd, "edges")) return cmd_edges(argc, argv);
    if (!strcmp(cmd, "describe")) return cmd_describe(argc, argv);
    if (!strcmp(cmd, "predict")) return cmd_predict(argc, argv);
    if (!strcmp(cmd, "export")) return cmd_export(argc, argv);
    if (!strcmp(cmd, "info")) {
        cn_ctx *ctx = cn_ctx_new(0);
        printf("convnet %d.%d: %s\n", CN_VERSION_MAJOR, CN_VERSION_MINOR, cn_build_info(ctx));
        printf("mpi: %s\n", cli_mpi_built());
        cn_ctx_free(ctx);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    fprintf(stderr, "convnet: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
