/* test_mpi.c — data-parallel training in fixed sample groups (issue 13).
 *
 * Without MPI (always):
 *   1. the groups' step is the full-batch step: one SGD step with --groups 4
 *      (gradients of 4 groups averaged) against one step without groups on
 *      a net with no batch norm: the same parameters to float rounding (the
 *      average of the groups' mean gradients is the batch's mean gradient);
 *   2. the groups' step does not depend on the thread count: 1 and 3
 *      threads give the same bits (conv dw, affine forward, batch norm and
 *      the fused pass sum in groups fixed by the shapes).
 * With MPI (convnet built with it, mpirun on the PATH; else a SKIP line):
 *   3. `mpirun -np K convnet train --groups 4` for K = 1, 2, 3, 4 (and a
 *      thread count that differs from the reference) gives the reference's
 *      log lines and its checkpoint file byte for byte (every parameter,
 *      best parameter, Adam moment, BN running statistic, history, the RNG
 *      state), the reference being the one-process run without mpirun; for
 *      the three-layer net and a net with batch norm;
 *   5. (as root, with ip and unshare) the same run on 2 processes on two
 *      "hosts": network namespaces joined by veths and a bridge, mpirun
 *      launching through `ip netns exec` (tests/mpi_netns.sh), TCP only on
 *      their subnet: the same log lines and file; else a SKIP line;
 *   4. faults: rank 1 of 3 killed with SIGKILL mid-run makes mpirun exit
 *      with an error within 30 s; the last checkpoint loads, and --resume
 *      from it on 2 processes ends with the uninterrupted run's file.
 *   7. stop signals: SIGTERM to rank 1 of 3 alone stops every rank after
 *      the same step: mpirun exits 143, rank 0 saved the run and printed
 *      the --resume line, and --resume on 2 processes ends with the
 *      uninterrupted run's file byte for byte; SIGINT to mpirun (Ctrl-C:
 *      Open MPI sends the ranks SIGTERM a second later, SIGKILL a second
 *      after that) likewise saves a run that resumes (on 1 process under
 *      mpirun) to the uninterrupted one's file.
 * Data: synthetic 28x28 IDX files written here; every child is bounded in
 * time (killed with its process group after CHILD_LIMIT_S). */
#include "cli_util.h"
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>

#define CHILD_LIMIT_S 120

static char dir[64], convnet[512], data_flag[600], root[512];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}

/* ------------------------------------------------------------ children */
/* status: the raw wait status; -1: timed out */
typedef cli_result result;

/* When `kill_line` shows on stdout, send `sig` to the rank `kill_rank`
 * process (found under /proc by its OMPI_COMM_WORLD_RANK), or to mpirun
 * itself when kill_rank is -1; killed_at: when. */
typedef struct {
    const char *kill_line;
    int kill_rank, sig;
    int killed;
    double killed_at;
} killer;

/* the pid of a process whose environment has OMPI_COMM_WORLD_RANK=rank and
 * whose parent is ppid (mpirun forks the ranks of a local job itself) */
static pid_t find_rank(pid_t ppid, int rank) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    pid_t found = -1;
    char want[64];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    while ((e = readdir(d)) && found < 0) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char p[64], buf[512];
        snprintf(p, sizeof p, "/proc/%d/stat", pid);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        int pp = -1;
        if (fgets(buf, sizeof buf, f)) {
            char *rp = strrchr(buf, ')');
            if (rp) sscanf(rp + 2, "%*c %d", &pp);
        }
        fclose(f);
        if (pp != ppid) continue;
        snprintf(p, sizeof p, "/proc/%d/environ", pid);
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        static char env[1 << 16];
        ssize_t n = read(fd, env, sizeof env - 1);
        close(fd);
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
            env[n] = 0;
            if (!strcmp(env + i, want)) { found = pid; break; }
        }
    }
    closedir(d);
    return found;
}

static void kill_rank(cli_watch *w, pid_t pid, const char *out) {
    killer *k = w->user;
    if (!k->killed && strstr(out, k->kill_line)) {
        pid_t victim = k->kill_rank < 0 ? pid : find_rank(pid, k->kill_rank);
        if (victim > 0 && kill(victim, k->sig) == 0) {
            k->killed = 1;
            k->killed_at = cli_now();
        }
    }
}

/* argv[0] looked up in PATH (mpirun), stdout through a pipe, stderr to a file */
static void run(const char *const *argv, killer *k, result *res) {
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    cli_spawn_opts o = {errpath, 1, CHILD_LIMIT_S};
    cli_watch w = {NULL, NULL, kill_rank, 50, k};
    cli_spawn(argv, &o, k ? &w : NULL, res);
    if (res->timed_out) res->status = -1;
}

static int ok_exit(const result *r) { return r->status >= 0 && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0; }

/* The log lines that must match: "(Iteration", "(Epoch" and "final". */
static void log_lines(const char *out, char *dst, size_t cap) {
    size_t used = 0;
    dst[0] = 0;
    for (const char *p = out; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((!strncmp(p, "(Iteration", 10) || !strncmp(p, "(Epoch", 6) || !strncmp(p, "final", 5)) &&
            used + n + 2 < cap) {
            memcpy(dst + used, p, n);
            used += n;
            dst[used++] = '\n';
            dst[used] = 0;
        }
        p += n + (e != NULL);
    }
}

static long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* ------------------------------------------------------------- argv */
typedef struct {
    const char *v[80];
    int n;
    char store[24][320];
    int ns;
} args;

static void add(args *a, const char *s) { if (a->n < 78) a->v[a->n++] = s, a->v[a->n] = NULL; }
static void addf(args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(args *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->store[a->ns], sizeof a->store[0], fmt, ap);
    va_end(ap);
    add(a, a->store[a->ns++]);
}

/* mpirun -np K (K > 0) or the plain binary (K = 0), then convnet train and the flags */
static void train_args(args *a, int K, const char *net, int threads, const char *save, int epochs, int ckpt_every,
                       const char *resume) {
    memset(a, 0, sizeof *a);
    if (K > 0) {
        add(a, "mpirun");
        add(a, "--oversubscribe");
        add(a, "--allow-run-as-root");
        add(a, "--mca");
        add(a, "btl");
        add(a, "self,tcp");
        add(a, "--mca");
        add(a, "btl_tcp_if_include");
        add(a, "lo");
        add(a, "--mca");
        add(a, "oob_tcp_if_include");
        add(a, "lo");
        add(a, "-np");
        addf(a, "%d", K);
    }
    add(a, convnet);
    add(a, "train");
    addf(a, "--data=%s", data_flag);
    add(a, "--num-train=320");
    add(a, "--num-val=80");
    add(a, "--num-test=0");
    add(a, "--batch-size=20");
    addf(a, "--num-epochs=%d", epochs);
    add(a, "--print-every=3");
    add(a, "--num-train-samples=100");
    add(a, "--groups=4");
    add(a, "--seed=3");
    addf(a, "--threads=%d", threads);
    if (!strcmp(net, "three-layer")) { /* the original's ThreeLayerConvNet, small */
        add(a, "--num-filters=8");
        add(a, "--filter-size=5");
        add(a, "--hidden-dim=32");
    } else if (!strcmp(net, "recipe")) { /* --recipe fast: whitening, Nesterov, Lookahead, augmentation,
                                            * shuffled epochs; its net narrowed */
        add(a, "--recipe=fast");
        add(a, "--net=whiten-gelu-conv8x3d-pool2-bnb-gelu-conv8x3d-bnb-gelu-conv12x3d-pool2-bnb-gelu-conv12x3d-bnb-"
               "gelu-conv12x3d-pool2-bnb-gelu-conv12x3d-bnb-gelu-gmp-affine10-scale1/9");
    } else {
        addf(a, "--net=%s", net);
    }
    addf(a, "--save=%s", save);
    if (ckpt_every) addf(a, "--checkpoint-every=%d", ckpt_every);
    if (resume) addf(a, "--resume=%s", resume);
}

/* ------------------------------------------------------- library checks */
static void library_checks(void) {
    cn_ctx *ctx = cn_ctx_new(1);
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
    char d[128];
    snprintf(d, sizeof d, "%s/mnist", dir);
    if (cn_dataset_load_mnist(ctx, &ds, d, 0, 320, 80, 0)) {
        check_true("load synthetic data", 0, cn_ctx_error(ctx));
        cn_ctx_free(ctx);
        return;
    }
    /* 1: one SGD step, groups 4 vs the single pass, no batch norm */
    const char *spec = "conv8x5-relu-pool2-affine32-relu-affine10";
    float *after[2] = {NULL, NULL};
    size_t np = 0;
    for (int k = 0; k < 2; k++) {
        cn_rng r;
        cn_rng_seed(&r, 5);
        cn_net *net;
        cn_solver *s;
        cn_solver_config cfg;
        cn_solver_config_default(&cfg);
        snprintf(cfg.update_rule, sizeof cfg.update_rule, "sgd");
        cfg.learning_rate = 0.5;
        cfg.batch_size = 20;
        cfg.num_epochs = 1;
        if (cn_net_new(ctx, &net, spec, 1, 28, 28, CN_F32, 0.05, 1e-3, &r) || cn_solver_new(ctx, &s, net, &ds, &cfg) ||
            (k && cn_solver_set_groups(ctx, s, 4, NULL))) {
            check_true("solver setup", 0, cn_ctx_error(ctx));
            return;
        }
        double loss;
        if (cn_solver_step(ctx, s, &loss)) check_true("step", 0, cn_ctx_error(ctx));
        np = 0;
        for (int i = 0; i < cn_net_num_params(net); i++) np += cn_net_param_at(net, i)->size;
        after[k] = xmalloc(sizeof(float) * np);
        size_t at = 0;
        for (int i = 0; i < cn_net_num_params(net); i++) {
            const cn_param *p = cn_net_param_at(net, i);
            memcpy(after[k] + at, p->data, sizeof(float) * p->size);
            at += p->size;
        }
        cn_solver_free(s);
        cn_net_free(net);
    }
    double md = 0, mx = 0;
    for (size_t i = 0; i < np; i++) {
        double dd = fabs((double)after[0][i] - after[1][i]);
        if (dd > md) md = dd;
        if (fabs(after[0][i]) > mx) mx = fabs(after[0][i]);
    }
    check_le("groups 4 step == single-pass step (sgd lr 0.5, float32, relative)", md / mx, 1e-5);
    check_true("the step moved the parameters (not a vacuous comparison)", mx > 0, NULL);
    free(after[0]);
    free(after[1]);
    /* 2: groups' step, 1 vs 3 threads, a net with batch norm and layer norm */
    const char *spec2 = "conv8x3-bn-relu-pool2-affine64-bn-relu-affine32-ln-relu-affine10";
    unsigned char *bytes[2] = {NULL, NULL};
    size_t nb = 0;
    for (int k = 0; k < 2; k++) {
        cn_ctx *c2 = cn_ctx_new(k ? 3 : 1);
        cn_rng r;
        cn_rng_seed(&r, 6);
        cn_net *net;
        cn_solver *s;
        cn_solver_config cfg;
        cn_solver_config_default(&cfg);
        cfg.batch_size = 20;
        cfg.num_epochs = 1;
        if (cn_net_new(c2, &net, spec2, 1, 28, 28, CN_F32, 0.05, 1e-3, &r) || cn_solver_new(c2, &s, net, &ds, &cfg) ||
            cn_solver_set_groups(c2, s, 4, NULL)) {
            check_true("solver setup (norms)", 0, cn_ctx_error(c2));
            return;
        }
        double loss;
        for (int it = 0; it < 5; it++)
            if (cn_solver_step(c2, s, &loss)) check_true("step", 0, cn_ctx_error(c2));
        nb = 0;
        for (int i = 0; i < cn_net_num_params(net); i++) nb += cn_net_param_at(net, i)->size * 4;
        bytes[k] = xmalloc(nb);
        size_t at = 0;
        for (int i = 0; i < cn_net_num_params(net); i++) {
            const cn_param *p = cn_net_param_at(net, i);
            memcpy(bytes[k] + at, p->data, p->size * 4);
            at += p->size * 4;
        }
        cn_solver_free(s);
        cn_net_free(net);
        cn_ctx_free(c2);
    }
    check_true("groups' step: 1 and 3 threads give the same bits (5 adam steps, bn + ln)",
               !memcmp(bytes[0], bytes[1], nb), NULL);
    free(bytes[0]);
    free(bytes[1]);
    cn_dataset_free(&ds);
    cn_ctx_free(ctx);
}

/* ------------------------------------------------------------- MPI checks */
static int have_mpi(char *why, size_t len) {
    const char *const info[] = {convnet, "info", NULL};
    result r;
    run(info, NULL, &r);
    if (!strstr(r.out, "mpi: open-mpi")) {
        snprintf(why, len, "convnet was built without MPI (apt-get install openmpi-bin libopenmpi-dev; make MPI=1)");
        return 0;
    }
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        snprintf(why, len, "mpirun is not on the PATH (apt-get install openmpi-bin)");
        return 0;
    }
    return 1;
}

static void mpi_identity(const char *net) {
    char ref[256], path[256], name[200];
    static char ref_log[16384], log[16384];
    snprintf(ref, sizeof ref, "%s/ref.st", dir);
    args a;
    result r;
    train_args(&a, 0, net, 1, ref, 1, 0, NULL);
    run(a.v, NULL, &r);
    snprintf(name, sizeof name, "%s: one process (reference) trains", net);
    if (!check_true(name, ok_exit(&r), r.err)) return;
    log_lines(r.out, ref_log, sizeof ref_log);
    for (int K = 1; K <= 4; K++) {
        int threads = K == 1 ? 2 : 1; /* a thread count the reference did not use */
        snprintf(path, sizeof path, "%s/k%d.st", dir, K);
        train_args(&a, K, net, threads, path, 1, 0, NULL);
        run(a.v, NULL, &r);
        snprintf(name, sizeof name, "%s: mpirun -np %d x %d threads exits 0 (%.1fs)", net, K, threads, r.secs);
        if (!check_true(name, ok_exit(&r), r.err)) continue;
        log_lines(r.out, log, sizeof log);
        snprintf(name, sizeof name, "%s: K=%d log lines == one process", net, K);
        check_true(name, ref_log[0] && !strcmp(ref_log, log), NULL);
        snprintf(name, sizeof name, "%s: K=%d checkpoint == one process, byte for byte", net, K);
        char note[64];
        snprintf(note, sizeof note, "%ld bytes", file_size(ref));
        check_true(name, file_size(ref) > 0 && cli_same_file(ref, path), note);
    }
    if (strcmp(net, "three-layer")) return;
    /* 5: across two "hosts" (network namespaces, veths, a bridge), TCP on
     * their subnet only: tests/mpi_netns.sh runs the same flags on 2 ranks */
    args b;
    memset(&b, 0, sizeof b);
    char script[600];
    snprintf(script, sizeof script, "%.500s/tests/mpi_netns.sh", root);
    snprintf(path, sizeof path, "%s/netns.st", dir);
    add(&b, "bash");
    add(&b, script);
    add(&b, path);
    train_args(&a, 0, net, 1, path, 1, 0, NULL);
    for (int i = 0; i < a.n - 1; i++) add(&b, a.v[i]); /* convnet train flags, without --save */
    run(b.v, NULL, &r);
    if (r.status >= 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 77) {
        const char *nl = strrchr(r.out, '\n');
        printf("SKIP network namespaces: %s", r.out);
        if (!nl) printf("\n");
        return;
    }
    const char *last = strstr(r.out, "mpirun exit");
    snprintf(name, sizeof name, "%s: 2 hosts (netns + veth + bridge, tcp only) exit 0 (%.1fs)", net, r.secs);
    if (!check_true(name, ok_exit(&r), last ? last : r.err)) return;
    log_lines(r.out, log, sizeof log);
    snprintf(name, sizeof name, "%s: 2 hosts: log lines and checkpoint == one process", net);
    check_true(name, !strcmp(ref_log, log) && cli_same_file(ref, path), last);
}

static void mpi_fault(void) {
    const char *net = "three-layer";
    char ref[256], ck[256], name[200];
    snprintf(ref, sizeof ref, "%s/full.st", dir);
    snprintf(ck, sizeof ck, "%s/ck.st", dir);
    args a;
    result r;
    /* the uninterrupted run: 8 epochs of 16 iterations, checkpoints every 8 */
    train_args(&a, 0, net, 1, ref, 8, 8, NULL);
    run(a.v, NULL, &r);
    if (!check_true("fault: the uninterrupted run trains", ok_exit(&r), r.err)) return;
    /* 3 processes, rank 1 killed once iteration 28 is logged (checkpoints
     * at 8, 16 and 24 written by then) */
    train_args(&a, 3, net, 1, ck, 8, 8, NULL);
    killer k = {"(Iteration 28 /", 1, SIGKILL, 0, 0};
    run(a.v, &k, &r);
    char note[160];
    snprintf(note, sizeof note, "killed=%d, exit %s %d %.1fs after the kill", k.killed,
             r.status < 0 ? "timeout" : WIFEXITED(r.status) ? "status" : "signal",
             r.status < 0 ? 0 : WIFEXITED(r.status) ? WEXITSTATUS(r.status) : WTERMSIG(r.status),
             k.killed ? cli_now() - k.killed_at : 0);
    check_true("fault: rank 1 of 3 killed by SIGKILL mid-run", k.killed, note);
    check_true("fault: the job then exits with an error (not 0, no hang)", r.status >= 0 && !ok_exit(&r), note);
    cn_ctx *ctx = cn_ctx_new(1);
    cn_net *loaded = NULL;
    int lrc = cn_net_load(ctx, &loaded, ck, 0, NULL);
    check_true("fault: the last checkpoint on disk loads", lrc == CN_OK, lrc ? cn_ctx_error(ctx) : NULL);
    cn_net_free(loaded);
    cn_ctx_free(ctx);
    /* resumed on 2 processes: the uninterrupted run's file */
    train_args(&a, 2, net, 1, ck, 8, 8, ck);
    run(a.v, NULL, &r);
    snprintf(name, sizeof name, "fault: --resume on 2 processes (was 3) exits 0 (%.1fs)", r.secs);
    if (!check_true(name, ok_exit(&r), r.err)) return;
    check_true("fault: resumed on another K == uninterrupted one-process run, byte for byte", cli_same_file(ref, ck),
               strstr(r.out, "resumed from") ? "resumed" : "no 'resumed from' line");
}

/* "interrupted at iteration N / T by SIG; saved PATH" and the --resume
 * line: N, or -1 when they are not both there */
static int stopped_at(const char *out, const char *sig, const char *ck) {
    char want[400];
    snprintf(want, sizeof want, "resume with the same flags plus: --resume %s\n", ck);
    const char *p = strstr(out, "interrupted at iteration ");
    int n = -1, total = 0;
    char by[16] = "", saved[300] = "";
    if (!p || !strstr(out, want) ||
        sscanf(p, "interrupted at iteration %d / %d by %15[^;]; saved %299s", &n, &total, by, saved) != 4)
        return -1;
    return strcmp(by, sig) || strcmp(saved, ck) ? -1 : n;
}

/* A stop signal to `mpirun -np 3`: `k` sends it; `ref` is the
 * uninterrupted one-process run of the same flags (epochs, ckpt_every);
 * the job must exit with `want_status` (-1: any error status), rank 0's
 * resume line must name `by`, and --resume on K2 processes must end with
 * ref's file. */
static void mpi_stop_case(const char *what, killer *k, int epochs, int ckpt_every, const char *ref, int want_status,
                          const char *by, int K2) {
    const char *net = "three-layer";
    char ck[256], name[300], note[300];
    snprintf(ck, sizeof ck, "%s/stop.st", dir);
    remove(ck);
    args a;
    result r;
    train_args(&a, 3, net, 1, ck, epochs, ckpt_every, NULL);
    run(a.v, k, &r);
    int code = r.status >= 0 && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
    int n = stopped_at(r.out, by, ck);
    snprintf(note, sizeof note, "sent=%d, exit %s %d %.1fs after the signal; stopped at %d", k->killed,
             r.status < 0 ? "timeout" : WIFEXITED(r.status) ? "status" : "signal",
             r.status < 0 ? 0 : WIFEXITED(r.status) ? WEXITSTATUS(r.status) : WTERMSIG(r.status),
             k->killed ? cli_now() - k->killed_at : 0, n);
    snprintf(name, sizeof name, "%s: sent mid-run", what);
    check_true(name, k->killed, note);
    if (want_status >= 0)
        snprintf(name, sizeof name, "%s: mpirun exits %d", what, want_status);
    else
        snprintf(name, sizeof name, "%s: mpirun exits with an error status (Open MPI's), no hang", what);
    check_true(name, want_status >= 0 ? code == want_status : code > 0, code < 0 ? r.err : note);
    snprintf(name, sizeof name, "%s: rank 0 printed 'interrupted at iteration N ... by %s; saved' and the --resume "
             "line (before the end)", what, by);
    if (!check_true(name, n > 0 && strstr(r.out, "trained ") == NULL, note)) return;
    /* resumed on K2 processes: the uninterrupted run's file */
    train_args(&a, K2, net, 1, ck, epochs, ckpt_every, ck);
    run(a.v, NULL, &r);
    char want[300];
    snprintf(want, sizeof want, "resumed from %s at iteration %d /", ck, n);
    snprintf(name, sizeof name, "%s: --resume on %d process%s (was 3) starts at the saved iteration and exits 0 (%.1fs)",
             what, K2, K2 > 1 ? "es" : "", r.secs);
    if (!check_true(name, ok_exit(&r) && strstr(r.out, want), ok_exit(&r) ? want : r.err)) return;
    snprintf(name, sizeof name, "%s: saved + resumed == the uninterrupted one-process run, byte for byte", what);
    check_true(name, cli_same_file(ref, ck), NULL);
}

static void mpi_stop(void) {
    /* SIGTERM to one rank only (as a batch system or `kill` may): every
     * rank must stop after the same step, or the others would wait in the
     * next exchange; the same flags as mpi_fault, whose reference this is */
    char ref[256];
    snprintf(ref, sizeof ref, "%s/full.st", dir);
    killer k = {"(Iteration 28 /", 1, SIGTERM, 0, 0};
    mpi_stop_case("SIGTERM to rank 1 of 3", &k, 8, 8, ref, 128 + SIGTERM, "SIGTERM", 2);
    /* Ctrl-C: SIGINT to mpirun, which does not forward it: it sends the
     * ranks SIGCONT, SIGTERM a second later, SIGKILL a second after that
     * (odls_base_sigkill_timeout), and exits 1. The run must outlast that
     * second with room to spare on an idle machine: 60 epochs of 16 steps
     * (3 ranks over TCP do about 100-300 a second here); resumed on one
     * process under mpirun (no exchange: as fast as one process). */
    snprintf(ref, sizeof ref, "%s/full60.st", dir);
    args a;
    result r;
    train_args(&a, 0, "three-layer", 1, ref, 60, 0, NULL);
    run(a.v, NULL, &r);
    if (!check_true("SIGINT to mpirun: the uninterrupted run (60 epochs) trains", ok_exit(&r), r.err)) return;
    killer c = {"(Iteration 1 /", -1, SIGINT, 0, 0};
    mpi_stop_case("SIGINT to mpirun (Ctrl-C)", &c, 60, 0, ref, -1, "SIGTERM", 1);
}

int main(int argc, char **argv) {
    (void)argc;
    /* build/tests/test_mpi -> build/convnet */
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { perror("readlink"); return 2; }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    *slash = 0;
    slash = strrchr(self, '/');
    *slash = 0;
    if (strlen(self) + 9 > sizeof convnet) return 2;
    snprintf(convnet, sizeof convnet, "%.500s/convnet", self);
    snprintf(root, sizeof root, "%s", self); /* the checkout: build/.. */
    slash = strrchr(root, '/');
    if (slash) *slash = 0;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/cn_mpi_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    /* mpirun as root (CI) and no leak reports from Open MPI's runtime under ASan */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    cli_synthetic_mnist(dir, 400, 28, data_flag, sizeof data_flag);
    library_checks();
    char why[200];
    if (have_mpi(why, sizeof why)) {
        mpi_identity("three-layer");
        mpi_identity("conv8x3-bn-relu-pool2-affine32-bn-relu-affine10");
        mpi_identity("recipe");
        mpi_fault();
        mpi_stop();
        /* 6: more processes than groups is refused, naming the flag */
        args a;
        result r;
        train_args(&a, 3, "three-layer", 1, "/dev/null", 1, 0, NULL);
        for (int i = 0; i < a.n; i++)
            if (!strcmp(a.v[i], "--groups=4")) a.v[i] = "--groups=2";
        run(a.v, NULL, &r);
        char *msg = strstr(r.err, "convnet train:"), *nl = msg ? strchr(msg, '\n') : NULL;
        if (nl) *nl = 0; /* the message, without mpirun's abort banner */
        check_true("mpirun -np 3 with --groups 2: refused (exit != 0), the message names --groups",
                   r.status >= 0 && !ok_exit(&r) && msg && strstr(msg, "--groups"), msg ? msg : r.err);
    } else {
        printf("SKIP mpirun checks: %s\n", why);
    }
    nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
