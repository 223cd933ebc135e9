/* test_killresume.c — crash safety and exact resume through the CLI.
 *
 * Runs `convnet train` (the binary next to this test's directory: build/ or
 * build-asan/) as a child process:
 *   1. uninterrupted, saving R: the truth;
 *   2. the same run killed with SIGKILL at many moments (after iteration k
 *      is logged, while a checkpoint's PATH.tmp.XXXXXX is being written, after the
 *      training loop, during the final save); the checkpoint left behind must
 *      always load (cn_st_load and cn_net_load), and `--resume` from it (or a
 *      fresh start when the kill came before the first checkpoint) must end
 *      with a file equal to R: every tensor (parameters, best parameters,
 *      Adam moments, loss and accuracy histories) bit for bit, and the same
 *      metadata (iteration, epoch, RNG state, ...);
 *   3. SIGINT, SIGTERM, SIGHUP mid-run: exit status 130, 143, 129, the
 *      "--resume FILE" hint, a loadable checkpoint, and resuming gives R again;
 *   4. a run that blows up (sgd, learning rate 1e30): exit status 1, a
 *      message naming the iteration and the parameter, and the checkpoint of
 *      the iteration before it loads with finite values.
 * Data: the first 700 Fashion-MNIST training images when the data set is
 * installed, else synthetic 28x28 images; either way small IDX files written
 * here. */
#include "cli_util.h"
#include <ftw.h>

#define FASHION "/usr/share/datasets/fashion-mnist"
#define CHILD_LIMIT_S 120 /* a child that runs longer is killed and the check fails */

static char dir[64];
static char convnet[512];
static char data_flag[600];
static cn_ctx *ctx;

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}

/* ---------------------------------------------------------------- children */
typedef enum { KILL_NONE, KILL_AT_LINE, KILL_AT_TMP } kill_mode;

typedef struct {
    kill_mode mode;
    const char *line;   /* KILL_AT_LINE: kill once a stdout line starts with this */
    int tmp_count;      /* KILL_AT_TMP: kill at the n-th appearance of PATH.tmp.XXXXXX */
    int sig;            /* SIGKILL or SIGINT */
} killer;

/* a run: fired says the killer fired */
typedef cli_result result;

typedef struct {
    const killer *k;
    const char *ckpt;
    int killed, tmp_seen, tmp_prev;
} kill_watch;

static void kill_at_line(cli_watch *w, pid_t pid, const char *line) {
    kill_watch *kw = w->user;
    if (kw->k->mode == KILL_AT_LINE && !kw->killed && !strncmp(line, kw->k->line, strlen(kw->k->line))) {
        kill(pid, kw->k->sig);
        kw->killed = 1;
    }
}

static void kill_at_tmp(cli_watch *w, pid_t pid, const char *out) {
    kill_watch *kw = w->user;
    if (kw->k->mode != KILL_AT_TMP || kw->killed) return;
    int now = kw->ckpt && count_tmp_files(kw->ckpt, NULL, 0) > 0;
    if (now && !kw->tmp_prev && ++kw->tmp_seen == kw->k->tmp_count) {
        kill(pid, kw->k->sig);
        kw->killed = 1;
        w->poll_ms = 50;
    }
    kw->tmp_prev = now;
    if (!now) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
}

/* Run convnet with args (NULL-terminated), stdout through a pipe, stderr to a
 * file; fire the killer when its moment comes. */
static void run_convnet(const char *const *args, const char *ckpt, const killer *k, result *res) {
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    const char *argv[64];
    int n = 0;
    argv[n++] = convnet;
    argv[n++] = "train";
    for (int i = 0; args[i] && n < 62; i++) argv[n++] = args[i];
    argv[n] = NULL;
    cli_spawn_opts o = {errpath, 0, CHILD_LIMIT_S};
    kill_watch kw = {k, ckpt, 0, 0, 0};
    /* poll briefly when watching for PATH.tmp.XXXXXX, which lives for a few ms */
    cli_watch w = {NULL, kill_at_line, kill_at_tmp, k && k->mode == KILL_AT_TMP ? 0 : 50, &kw};
    cli_spawn(argv, &o, k ? &w : NULL, res);
    res->fired = kw.killed;
    if (res->timed_out) check_true("child finished in time", 0, "killed after the limit");
}

/* --------------------------------------------------------- checkpoints */
static const char *const meta_keys[] = {
    "spec", "input", "dtype", "reg", "update_rule", "learning_rate", "lr", "optim", "lr_decay", "batch_size",
    "num_epochs", "samples_print_verbose", "seed", "epoch", "iteration", "adam_t", "best_val_acc", "rng"};

/* Every tensor and metadata pair of b equals a's, bit for bit. */
static int same_checkpoint(const char *a, const char *b, char *why, size_t len) {
    cn_st *sa = NULL, *sb = NULL;
    int ok = 0;
    if (cn_st_load(ctx, a, &sa)) { snprintf(why, len, "%s", cn_ctx_error(ctx)); goto out; }
    if (cn_st_load(ctx, b, &sb)) { snprintf(why, len, "%s", cn_ctx_error(ctx)); goto out; }
    if (cn_st_num_tensors(sa) != cn_st_num_tensors(sb)) {
        snprintf(why, len, "%d tensors vs %d", cn_st_num_tensors(sa), cn_st_num_tensors(sb));
        goto out;
    }
    for (int i = 0; i < cn_st_num_tensors(sa); i++) {
        const cn_tensor *x = cn_st_tensor_at(sa, i), *y = cn_st_tensor_get(sb, x->name);
        if (!y || y->ndim != x->ndim || y->dtype != x->dtype || y->is_i32 != x->is_i32) {
            snprintf(why, len, "tensor %s missing or of another type", x->name);
            goto out;
        }
        size_t bytes = x->is_i32 || x->dtype == CN_F32 ? 4 : 8;
        for (int d = 0; d < x->ndim; d++) {
            if (x->shape[d] != y->shape[d]) { snprintf(why, len, "tensor %s: another shape", x->name); goto out; }
            bytes *= (size_t)x->shape[d];
        }
        if (bytes && memcmp(x->data, y->data, bytes)) {
            snprintf(why, len, "tensor %s differs", x->name);
            goto out;
        }
    }
    for (size_t k = 0; k < sizeof meta_keys / sizeof meta_keys[0]; k++) {
        const char *u = cn_st_meta(sa, meta_keys[k]), *v = cn_st_meta(sb, meta_keys[k]);
        if (!u || !v || strcmp(u, v)) {
            snprintf(why, len, "metadata %s: '%s' vs '%s'", meta_keys[k], u ? u : "-", v ? v : "-");
            goto out;
        }
    }
    ok = 1;
    snprintf(why, len, "%d tensors, iteration %s", cn_st_num_tensors(sa), cn_st_meta(sa, "iteration"));
out:
    cn_st_free(sa);
    cn_st_free(sb);
    return ok;
}

/* The file loads as a tensor file and as a net (both parameter sets), every
 * value finite. */
static int loads(const char *path, char *why, size_t len) {
    cn_st *st;
    if (cn_st_load(ctx, path, &st)) { snprintf(why, len, "%s", cn_ctx_error(ctx)); return 0; }
    cn_st_free(st);
    for (int best = 0; best < 2; best++) {
        cn_net *net;
        if (cn_net_load(ctx, &net, path, best, NULL)) { snprintf(why, len, "%s", cn_ctx_error(ctx)); return 0; }
        for (int i = 0; i < cn_net_num_params(net); i++) {
            const cn_param *p = cn_net_param_at(net, i);
            for (size_t e = 0; e < p->size; e++)
                if (!isfinite(((float *)p->data)[e])) {
                    snprintf(why, len, "%s: %s is not finite", path, p->name);
                    cn_net_free(net);
                    return 0;
                }
        }
        cn_net_free(net);
    }
    snprintf(why, len, "loads");
    return 1;
}

/* ------------------------------------------------------------ the runs */
static const char *common[] = {"--num-train", "500", "--num-val", "100", "--num-test", "0", "--hidden-dim", "20",
                               "--num-filters", "4", "--batch-size", "25", "--num-epochs", "2",
                               "--checkpoint-every", "3", "--seed", "1", "--threads", "1", "--print-every", "1"};
#define NCOMMON (int)(sizeof common / sizeof common[0])

/* args: --data D, the common flags, --save PATH [--resume PATH] */
static void train_args(const char **a, const char *save, const char *resume) {
    int n = 0;
    a[n++] = "--data";
    a[n++] = data_flag;
    for (int i = 0; i < NCOMMON; i++) a[n++] = common[i];
    a[n++] = "--save";
    a[n++] = save;
    if (resume) {
        a[n++] = "--resume";
        a[n++] = resume;
    }
    a[n] = NULL;
}

static char ref[128];
static int kills_landed;

/* Kill a run at the killer's moment, check the file left, resume (possibly
 * killing the resumed run too: `again`), and compare the end with ref. */
static void kill_and_resume(const char *name, const killer *k, const killer *again) {
    char ck[128], why[600], label[200];
    snprintf(ck, sizeof ck, "%s/%s.safetensors", dir, name);
    const char *a[64];
    train_args(a, ck, NULL);
    result r;
    run_convnet(a, ck, k, &r);
    int sig_ok = r.fired && WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL;
    /* a run that ends before the signal lands (or before a short-lived
     * PATH.tmp is seen) is no fault of convnet; main() requires most kill
     * points to land */
    snprintf(label, sizeof label, "%s: killed with SIGKILL, or ran to the end first", name);
    check_true(label, sig_ok || (cli_exited(&r, 0) && !sig_ok),
               sig_ok ? "killed" : r.fired ? "exited 0 before the signal landed" : "exited 0, the moment never came");
    kills_landed += sig_ok;
    int stale = 0; /* temporary files of saves that SIGKILL cut short */
    for (int round = 0; round < 2; round++) {
        int have = exists(ck);
        stale = count_tmp_files(ck, NULL, 0);
        if (have) {
            snprintf(label, sizeof label, "%s: the checkpoint left behind loads, finite (round %d)", name, round);
            check_true(label, loads(ck, why, sizeof why), why);
        }
        train_args(a, ck, have ? ck : NULL);
        const killer *kk = round == 0 ? again : NULL;
        run_convnet(a, ck, kk, &r);
        if (kk && r.fired && WIFSIGNALED(r.status)) continue; /* killed again: resume once more */
        snprintf(label, sizeof label, "%s: %s to the end exits 0", name, have ? "resumed" : "restarted (no checkpoint yet)");
        if (!check_true(label, cli_exited(&r, 0), r.err)) return;
        if (have) {
            snprintf(label, sizeof label, "%s: the resumed run says where it resumed", name);
            check_true(label, strstr(r.out, "resumed from ") != NULL, "");
        }
        break;
    }
    snprintf(label, sizeof label, "%s: final checkpoint equals the uninterrupted run's bit for bit", name);
    check_true(label, same_checkpoint(ref, ck, why, sizeof why), why);
    /* a save killed with SIGKILL cannot remove its PATH.tmp.XXXXXX (unique
     * names are not reused, so it stays); the clean run adds none of its own */
    char tmp[4200] = "";
    snprintf(label, sizeof label, "%s: the clean end leaves no PATH.tmp.XXXXXX of its own", name);
    check_true(label, count_tmp_files(ck, tmp, sizeof tmp) <= stale, tmp);
}

/* SIGINT, SIGTERM and SIGHUP stop a run the same way: the step finishes, the
 * run is saved, the --resume line printed, exit status 128 + signal. */
static void test_stop_signal(int sig, const char *name) {
    char ck[128], why[600], label[200];
    snprintf(ck, sizeof ck, "%s/%s.safetensors", dir, name);
    const char *a[64];
    train_args(a, ck, NULL);
    killer k = {KILL_AT_LINE, "(Iteration 17 ", 0, sig};
    result r;
    run_convnet(a, ck, &k, &r);
    snprintf(label, sizeof label, "%s: exit status %d (128 + %d)", name, 128 + sig, sig);
    check_true(label, cli_exited(&r, 128 + sig), r.err);
    char hint[200], by[40];
    snprintf(hint, sizeof hint, "--resume %s", ck);
    snprintf(by, sizeof by, "by %s; saved", name);
    snprintf(label, sizeof label, "%s: prints 'interrupted at iteration ... by %s' and the --resume line", name, name);
    check_true(label, strstr(r.out, "interrupted at iteration") && strstr(r.out, by) && strstr(r.out, hint), "");
    snprintf(label, sizeof label, "%s: the checkpoint loads, finite", name);
    check_true(label, loads(ck, why, sizeof why), why);
    cn_st *st;
    const char *it = NULL;
    if (cn_st_load(ctx, ck, &st) == CN_OK) {
        it = cn_st_meta(st, "iteration");
        snprintf(label, sizeof label, "%s: saved at iteration >= 17 and < 40 (the interrupted one, not the last periodic)", name);
        check_true(label, it && atoi(it) >= 17 && atoi(it) < 40, it ? it : "?");
        cn_st_free(st);
    }
    train_args(a, ck, ck);
    run_convnet(a, ck, NULL, &r);
    snprintf(label, sizeof label, "%s: resuming runs to the end", name);
    check_true(label, cli_exited(&r, 0), r.err);
    snprintf(label, sizeof label, "%s: final checkpoint equals the uninterrupted run's bit for bit", name);
    check_true(label, same_checkpoint(ref, ck, why, sizeof why), why);
}

static void test_sigint(void) {
    test_stop_signal(SIGINT, "SIGINT");
    test_stop_signal(SIGTERM, "SIGTERM");
    test_stop_signal(SIGHUP, "SIGHUP");
}

static void test_blowup(void) {
    char ck[128], why[600];
    snprintf(ck, sizeof ck, "%s/nan.safetensors", dir);
    const char *a[64] = {"--data", data_flag, "--num-train", "100", "--num-val", "20", "--num-test", "0",
                         "--hidden-dim", "20", "--num-filters", "4", "--batch-size", "25", "--num-epochs", "2",
                         "--update-rule", "sgd", "--learning-rate", "1e30", "--checkpoint-every", "1",
                         "--seed", "1", "--threads", "1", "--save", ck, NULL};
    result r;
    run_convnet(a, ck, NULL, &r);
    check_true("lr 1e30: exits with status 1", cli_exited(&r, 1), r.err);
    int iter = -1;
    const char *p = strstr(r.err, "iteration ");
    if (p) iter = atoi(p + 10);
    int names_param = 0;
    for (const char *q = r.err; *q; q++)
        if ((q[0] == 'W' || q[0] == 'b') && q[1] >= '1' && q[1] <= '9' && (q == r.err || q[-1] == ' ' || q[-1] == '.'))
            names_param = 1;
    check_true("lr 1e30: the message names the iteration and a parameter", iter >= 2 && names_param, r.err);
    check_true("lr 1e30: the last good checkpoint loads with finite values", loads(ck, why, sizeof why), why);
    cn_st *st;
    if (cn_st_load(ctx, ck, &st) == CN_OK) {
        const char *it = cn_st_meta(st, "iteration");
        char note[64];
        snprintf(note, sizeof note, "checkpoint at %s, failed at %d", it ? it : "?", iter);
        check_true("lr 1e30: the checkpoint is the iteration before the failing one", it && atoi(it) == iter - 1,
                   note);
        cn_st_free(st);
    }
}

/* --------------------------------------------------------- synthetic data */
/* The first 700 Fashion-MNIST training images and labels as small plain IDX
 * files: real data, and each child loads 550 KB instead of 47 MB. */
static int fashion_subset(char *out, size_t cap) {
    const char *names[2] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"};
    char d[128], p[256];
    snprintf(d, sizeof d, "%s/fashion", dir);
    mkdir(d, 0700);
    for (int k = 0; k < 2; k++) {
        int ndim, dims[4];
        uint8_t *data = NULL;
        snprintf(p, sizeof p, "%s/%s.gz", FASHION, names[k]);
        if (!exists(p)) snprintf(p, sizeof p, "%s/%s", FASHION, names[k]);
        if (!exists(p) || cn_idx_read(ctx, p, &ndim, dims, &data) != CN_OK) return 0;
        if (dims[0] < 700) { free(data); return 0; }
        size_t per = (size_t)dims[1] * dims[2] * dims[3];
        dims[0] = 700;
        snprintf(p, sizeof p, "%s/%s", d, names[k]);
        cli_write_idx(p, ndim, dims, data, 700 * per);
        free(data);
    }
    snprintf(out, cap, "fashion-mnist:%s", d);
    return 1;
}

int main(int argc, char **argv) {
    (void)argc;
    ctx = cn_ctx_new(1);
    /* the convnet next to this test's build directory */
    if (!check_true("convnet binary found", cli_find_convnet(argv[0], convnet, sizeof convnet), convnet))
        return check_done();
    snprintf(dir, sizeof dir, "/tmp/cn_test_killresume_XXXXXX");
    if (!mkdtemp(dir)) { check_true("mkdtemp", 0, strerror(errno)); return check_done(); }
    if (!fashion_subset(data_flag, sizeof data_flag)) cli_synthetic_mnist(dir, 700, 28, data_flag, sizeof data_flag);
    printf("data: %s, convnet: %s\n", data_flag, convnet);

    /* 1. the truth: one uninterrupted run (40 iterations, checkpoints every 3) */
    snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
    const char *a[64];
    train_args(a, ref, NULL);
    result r;
    run_convnet(a, ref, NULL, &r);
    char why[600];
    if (!check_true("uninterrupted run exits 0", cli_exited(&r, 0), r.err)) {
        printf("%s\n", r.out);
        return check_done();
    }
    check_true("uninterrupted run: 40 iterations logged and saved",
               strstr(r.out, "(Iteration 40 / 40)") && strstr(r.out, "saved "), "");
    check_true("uninterrupted run: the checkpoint loads", loads(ref, why, sizeof why), why);
    /* the run is deterministic: a second one gives the same file */
    char ref2[128];
    snprintf(ref2, sizeof ref2, "%s/ref2.safetensors", dir);
    train_args(a, ref2, NULL);
    run_convnet(a, ref2, NULL, &r);
    check_true("a second uninterrupted run gives the same file (determinism)",
               cli_exited(&r, 0) && same_checkpoint(ref, ref2, why, sizeof why), why);

    /* 2. SIGKILL at many moments */
    static const struct { const char *name; killer k, again; } kills[] = {
        {"kill-it1", {KILL_AT_LINE, "(Iteration 1 ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-it4", {KILL_AT_LINE, "(Iteration 4 ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-it11", {KILL_AT_LINE, "(Iteration 11 ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-epoch1", {KILL_AT_LINE, "(Epoch 1 ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-it29-twice", {KILL_AT_LINE, "(Iteration 29 ", 0, SIGKILL}, {KILL_AT_LINE, "(Iteration 35 ", 0, SIGKILL}},
        {"kill-it40", {KILL_AT_LINE, "(Iteration 40 ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-after-training", {KILL_AT_LINE, "trained ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-after-final-save", {KILL_AT_LINE, "saved ", 0, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-in-1st-save", {KILL_AT_TMP, NULL, 1, SIGKILL}, {KILL_NONE, 0, 0, 0}},
        {"kill-in-4th-save", {KILL_AT_TMP, NULL, 4, SIGKILL}, {KILL_AT_TMP, NULL, 3, SIGKILL}},
        {"kill-in-final-save", {KILL_AT_TMP, NULL, 14, SIGKILL}, {KILL_NONE, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof kills / sizeof kills[0]; i++)
        kill_and_resume(kills[i].name, &kills[i].k, kills[i].again.mode ? &kills[i].again : NULL);

    char note[64];
    snprintf(note, sizeof note, "%d of %zu", kills_landed, sizeof kills / sizeof kills[0]);
    check_true("at least 8 of the kill points landed before the run ended", kills_landed >= 8, note);

    /* 3. Ctrl-C */
    test_sigint();
    /* 4. numbers that blow up */
    test_blowup();

    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    cn_ctx_free(ctx);
    return check_done();
}
