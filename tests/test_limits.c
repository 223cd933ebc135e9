/* test_limits.c — what `convnet train` refuses before it starts, and what a
 * failing periodic checkpoint does.
 *   1. memory budget: --net conv100000x7-relu-affine10 is refused within
 *      seconds with both numbers and without allocating (peak RSS of the
 *      child); the estimate is checked against the peak RSS the training
 *      really reaches; --max-memory just below / at the estimate refuses /
 *      runs; a cgroup memory limit (root, v1 or v2; SKIP otherwise) is seen;
 *      --hidden-dim 2000000000 and affine2000000000 say "too large";
 *   2. --save on a FIFO, a directory, a character device (mknod, root) is
 *      refused before any training, and the thing stays what it was;
 *   3. periodic checkpoint failures, for real on a full 1500 KiB tmpfs (root;
 *      SKIP otherwise): in the library, a checkpoint that fails on a full
 *      disk warns and training goes on, the next one (room again) succeeds,
 *      and the final file equals an undisturbed run's byte for byte; a disk
 *      that stays full stops the run at the third failure with CN_EIO
 *      naming the path and ENOSPC, the last good checkpoint byte for byte
 *      intact and loadable, no temporary file; through the CLI the same
 *      stop is exit status 1 with the warnings on stderr. */
#include "cli_util.h" /* first: it defines _GNU_SOURCE */
#include "fixtures.h"
#include <ftw.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>

static char dir[64], convnet[512], data_flag[600], data_dir[600];
static cn_ctx *ctx;


/* convnet train DATA <common small flags> extra... */
static void train(cli_result *r, double limit, const char *const *extra) {
    const char *a[80] = {convnet, "train", "--data", data_flag, "--num-train", "300", "--num-val", "50",
                         "--num-test", "0", "--threads", "2", "--seed", "1"};
    int n = 14;
    for (int i = 0; extra[i] && n < 78; i++) a[n++] = extra[i];
    a[n] = NULL;
    cli_run(a, NULL, NULL, NULL, limit, r);
}

/* the number after "needs about " in a refusal */
static double estimate_of(const char *out) {
    const char *p = strstr(out, "needs about ");
    return p ? atof(p + 12) : -1;
}

static void test_memory(void) {
    cli_result r;
    /* the net: 1e9 parameters in the last affine, 100000 planes */
    const char *huge[] = {"--net", "conv100000x7-relu-affine10", NULL};
    train(&r, 60, huge);
    char note[300];
    snprintf(note, sizeof note, "%.1fs, peak RSS %ld MB", r.secs, r.maxrss_kb / 1024);
    check_true("conv100000x7-relu-affine10: refused (exit 1) within 10 s, peak RSS < 400 MB",
               cli_exited(&r, 1) && r.secs < 10 && r.maxrss_kb < 400 * 1024, note);
    check_true("conv100000x7-relu-affine10: the message gives the estimate, what is available, and the override",
               strstr(r.out, "needs about ") && strstr(r.out, "available (") && strstr(r.out, "--max-memory none") &&
                   !strstr(r.out, "(Iteration"),
               r.out);

    /* the estimate against the real peak: a net whose activations dominate,
     * minus a small net's run (data, libraries, thread stacks) */
    const char *big_net = "conv64x3-relu-pool2-affine200-relu-affine10", *small_net = "conv2x3-relu-affine10";
    const char *eb[] = {"--net", big_net, "--batch-size", "300", "--num-epochs", "1", "--max-memory", "1", NULL};
    const char *es[] = {"--net", small_net, "--batch-size", "300", "--num-epochs", "1", "--max-memory", "1", NULL};
    train(&r, 60, eb);
    double est_big = estimate_of(r.out);
    check_true("--max-memory 1: refused, exit 1, the estimate printed", cli_exited(&r, 1) && est_big > 0, r.out);
    train(&r, 60, es);
    double est_small = estimate_of(r.out);
    {   /* the recipe's buffers in the estimate, worked out by hand for this
         * net on (1,28,28), batch 300, float32: nesterov keeps one moment
         * (the 2,511,650 parameters' 10,046,600 bytes), augmentation the raw
         * batch and keys 300 (3136 + 8), TTA 2 six variants and scores
         * 6 * 300 (3136 + 40), Lookahead the average and a swap 2 * 10,046,600,
         * the shuffled order 4 * 300 */
        const char *ns[] = {"--net", big_net, "--batch-size", "300", "--max-memory", "1", "--update-rule", "nesterov", NULL};
        const char *sg[] = {"--net", big_net, "--batch-size", "300", "--max-memory", "1", "--update-rule", "sgd", NULL};
        const char *rc[] = {"--net", big_net, "--batch-size", "300", "--max-memory", "1", "--update-rule", "nesterov",
                            "--aug-pad", "2", "--tta", "2", "--lookahead", "5", "--shuffle", "1", NULL};
        train(&r, 60, ns);
        double e_ns = estimate_of(r.out);
        train(&r, 60, sg);
        double e_sg = estimate_of(r.out);
        train(&r, 60, rc);
        double e_rc = estimate_of(r.out);
        char m[200];
        snprintf(m, sizeof m, "nesterov - sgd = %.0f (want 10046600), recipe - nesterov = %.0f (want 26754400)",
                 e_ns - e_sg, e_rc - e_ns);
        check_true("estimate: nesterov's moment and the recipe's buffers (by hand)",
                   e_sg > 0 && e_ns - e_sg == 10046600 && e_rc - e_ns == 26754400, m);
    }
    const char *rb[] = {"--net", big_net, "--batch-size", "300", "--num-epochs", "1", "--quiet", NULL};
    const char *rs[] = {"--net", small_net, "--batch-size", "300", "--num-epochs", "1", "--quiet", NULL};
    cli_result rbig, rsmall;
    train(&rbig, 120, rb);
    train(&rsmall, 120, rs);
    double real = (double)(rbig.maxrss_kb - rsmall.maxrss_kb) * 1024, est = est_big - est_small;
    snprintf(note, sizeof note, "estimated %.1f MB more, peak RSS %.1f MB more: ratio %.2f", est / 1048576,
             real / 1048576, real > 0 ? est / real : -1);
    check_true("estimate vs the real peak RSS of training: within 0.8x..1.5x", cli_exited(&rbig, 0) &&
               cli_exited(&rsmall, 0) && real > 0 && est / real >= 0.8 && est / real <= 1.5, note);
    /* --max-memory at the estimate runs, one byte below refuses */
    char at[40], below[40];
    snprintf(at, sizeof at, "%.0f", est_big);
    snprintf(below, sizeof below, "%.0f", est_big - 1);
    const char *ma[] = {"--net", big_net, "--batch-size", "300", "--num-epochs", "1", "--num-train-samples", "100",
                        "--max-memory", at, "--quiet", NULL};
    train(&r, 120, ma);
    check_true("--max-memory = the estimate: runs", cli_exited(&r, 0), r.out);
    ma[9] = below;
    train(&r, 60, ma);
    check_true("--max-memory = the estimate - 1: refused", cli_exited(&r, 1) && strstr(r.out, below), r.out);
    const char *suff[] = {"--net", big_net, "--batch-size", "300", "--max-memory", "0.5K", NULL};
    train(&r, 60, suff);
    check_true("--max-memory 0.5K: refused naming 512 bytes", cli_exited(&r, 1) && strstr(r.out, "than the 512 bytes"),
               r.out);
    const char *bad[] = {"--max-memory", "lots", NULL};
    train(&r, 60, bad);
    check_true("--max-memory lots: usage error, exit 2", cli_exited(&r, 2) && strstr(r.out, "--max-memory"), r.out);
    const char *none[] = {"--net", big_net, "--batch-size", "300", "--num-epochs", "1", "--num-train-samples", "100",
                          "--max-memory", "none", "--quiet", NULL};
    train(&r, 120, none);
    check_true("--max-memory none: no check, runs", cli_exited(&r, 0), r.out);

    const char *hd[] = {"--hidden-dim", "2000000000", NULL};
    train(&r, 60, hd);
    check_true("--hidden-dim 2000000000: exit 2, 'too large', not 'cannot read layer'",
               cli_exited(&r, 2) && strstr(r.out, "--hidden-dim 2000000000 is too large") &&
                   !strstr(r.out, "cannot read layer"),
               r.out);
    const char *af[] = {"--net", "conv8x3-relu-affine2000000000", NULL};
    train(&r, 60, af);
    check_true("affine2000000000 in --net: exit 2 (checked before data), 'too large (at most 1000000)'",
               cli_exited(&r, 2) && strstr(r.out, "2000000000 is too large (at most 1000000)"), r.out);
}

/* A memory cgroup of 300 MB around the child: a net the machine could hold
 * but the cgroup cannot is refused, and the message says it was the cgroup. */
static void test_cgroup(void) {
    const char *roots[2][3] = {{"/sys/fs/cgroup/memory", "memory.limit_in_bytes", "v1"},
                               {"/sys/fs/cgroup", "memory.max", "v2"}};
    char cg[200] = "", file[300];
    int which = -1;
    for (int v = 0; v < 2 && which < 0; v++) {
        snprintf(cg, sizeof cg, "%s/cn_test_limits_%d", roots[v][0], (int)getpid());
        if (mkdir(cg, 0755) != 0) continue;
        snprintf(file, sizeof file, "%s/%s", cg, roots[v][1]);
        FILE *f = fopen(file, "w");
        if (f && fprintf(f, "314572800\n") > 0 && fclose(f) == 0) { which = v; break; }
        if (f) fclose(f);
        rmdir(cg);
    }
    if (which < 0) {
        printf("SKIP cgroup memory limit: cannot create a memory cgroup here (%s)\n",
               geteuid() ? "not root" : "no writable v1 or v2 memory controller");
        return;
    }
    /* 500 MB estimated: under MemAvailable on any CI machine, over 300 MB */
    char cmd[1500];
    snprintf(cmd, sizeof cmd,
             "echo $$ > %s/cgroup.procs && exec %s train --data %s --num-train 300 --num-val 50 --num-test 0 "
             "--threads 2 --net conv64x3-relu-affine10 --batch-size 1000",
             cg, convnet, data_flag);
    const char *a[] = {"/bin/sh", "-c", cmd, NULL};
    cli_result r;
    cli_run(a, NULL, NULL, NULL, 60, &r);
    check_true("cgroup limit 300 MB: a 500 MB net is refused, naming the cgroup's limit file",
               cli_exited(&r, 1) && strstr(r.out, "needs about") && strstr(r.out, "cgroup limit") &&
                   strstr(r.out, roots[which][1]),
               r.out);
    rmdir(cg);
}

static void test_save_refused(void) {
    char p[128];
    cli_result r;
    const char *kinds[3] = {"a FIFO", "a directory", "a character device"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/target%d", dir, k);
        int made = k == 0 ? mkfifo(p, 0600) : k == 1 ? mkdir(p, 0700) : mknod(p, S_IFCHR | 0600, makedev(1, 7));
        if (made != 0) {
            printf("SKIP --save on %s: %s\n", kinds[k], strerror(errno));
            continue;
        }
        const char *a[] = {"--save", p, "--checkpoint-every", "2", NULL};
        train(&r, 60, a);
        struct stat sb;
        mode_t want = k == 0 ? S_IFIFO : k == 1 ? S_IFDIR : S_IFCHR;
        int same = lstat(p, &sb) == 0 && (sb.st_mode & S_IFMT) == want;
        char label[160];
        snprintf(label, sizeof label, "--save on %s: exit 1 before loading data, names it, it stays %s", kinds[k], kinds[k]);
        check_true(label, cli_exited(&r, 1) && strstr(r.out, p) && strstr(r.out, kinds[k]) && !strstr(r.out, "data: ") &&
                   same && count_tmp_files(p, NULL, 0) == 0, r.out);
    }
}

/* ---- periodic checkpoints on a full disk ------------------------------ */
typedef struct {
    char filler[300];
    const char *fill_at;   /* fill the disk when a log line starts with this */
    int unfill_on_warning; /* free it at the first warning */
    int warnings;
    char last_warning[300];
    char ck[300];
    unsigned char *kept;   /* the checkpoint's bytes when the disk was filled */
    size_t kept_n;
} disk_ctl;


static void fill(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    while (fd >= 0 && write(fd, buf, sizeof buf) > 0) {}
    if (fd >= 0) close(fd);
}

static void disk_log(void *user, const char *line, int progress) {
    disk_ctl *d = user;
    if (progress) return;
    if (d->fill_at && !strncmp(line, d->fill_at, strlen(d->fill_at))) {
        free(d->kept);
        d->kept = fx_read_file(d->ck, &d->kept_n);
        fill(d->filler);
        d->fill_at = NULL;
    }
    if (!strncmp(line, "warning: ", 9)) {
        d->warnings++;
        snprintf(d->last_warning, sizeof d->last_warning, "%s", line);
        if (d->unfill_on_warning) remove(d->filler);
    }
}

/* Train the small net in-process; checkpoint every 3 iterations to ck. */
static int train_lib(const cn_dataset *ds, const char *ck, disk_ctl *d, char *err, size_t errlen) {
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    cn_net *net = NULL;
    cn_solver *s = NULL;
    int rc = cn_net_new(ctx, &net, "conv4x5-relu-pool2-affine24-relu-affine10", 1, 28, 28, CN_F32, 1e-2, 1e-3, &rng);
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    snprintf(cfg.update_rule, sizeof cfg.update_rule, "adam");
    cfg.batch_size = 25;
    cfg.num_epochs = 2;
    cfg.num_train_samples = 100;
    cfg.print_every = 1;
    cfg.seed = 2;
    if (!rc) rc = cn_solver_new(ctx, &s, net, ds, &cfg);
    if (!rc) rc = cn_solver_train(ctx, s, disk_log, d, NULL, ck, 3);
    if (!rc) rc = cn_solver_save(ctx, s, ck);
    snprintf(err, errlen, "%s", rc ? cn_ctx_error(ctx) : "");
    cn_solver_free(s);
    cn_net_free(net);
    return rc;
}

static void test_disk_full(void) {
    char mnt[128], ref[160], ck[300], why[600], note[700];
    snprintf(mnt, sizeof mnt, "%s/tmpfs", dir);
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=1500k") != 0) {
        printf("SKIP periodic checkpoints on a full 1500k tmpfs: %s\n", geteuid() ? "not root" : strerror(errno));
        return;
    }
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (cn_dataset_load_mnist(ctx, &ds, data_dir, 0, 300, 50, 0)) {
        check_true("load the synthetic data", 0, cn_ctx_error(ctx));
        umount2(mnt, MNT_DETACH);
        return;
    }
    /* the undisturbed run: the truth */
    snprintf(ref, sizeof ref, "%s/ref.st", dir);
    disk_ctl d0;
    memset(&d0, 0, sizeof d0);
    int rc = train_lib(&ds, ref, &d0, why, sizeof why);
    check_true("undisturbed in-process run", rc == CN_OK && d0.warnings == 0, why);

    /* transient: full from iteration 4 (after the checkpoint at 3) until the
     * first warning (the checkpoint at 6), room again for 9 on */
    snprintf(ck, sizeof ck, "%s/ck.st", mnt);
    disk_ctl d;
    memset(&d, 0, sizeof d);
    snprintf(d.filler, sizeof d.filler, "%s/filler", mnt);
    snprintf(d.ck, sizeof d.ck, "%s", ck);
    d.fill_at = "(Iteration 4 ";
    d.unfill_on_warning = 1;
    rc = train_lib(&ds, ck, &d, why, sizeof why);
    snprintf(note, sizeof note, "%d warning(s): %s", d.warnings, d.last_warning);
    check_true("disk full for one checkpoint: one warning naming the path, iteration 6 and ENOSPC",
               rc == CN_OK && d.warnings == 1 && strstr(d.last_warning, ck) && strstr(d.last_warning, "iteration 6") &&
                   strstr(d.last_warning, strerror(ENOSPC)),
               note);
    check_true("disk full for one checkpoint: training went on; the final file equals the undisturbed run's",
               rc == CN_OK && cli_same_file(ref, ck), why);
    check_true("disk full for one checkpoint: no temporary file left", count_tmp_files(ck, NULL, 0) == 0, "");
    free(d.kept);

    /* persistent: full from iteration 4 on: warnings at 6 and 9, stop at 12 */
    memset(&d, 0, sizeof d);
    snprintf(d.filler, sizeof d.filler, "%s/filler", mnt);
    snprintf(d.ck, sizeof d.ck, "%s", ck);
    remove(ck);
    d.fill_at = "(Iteration 4 ";
    rc = train_lib(&ds, ck, &d, why, sizeof why);
    snprintf(note, sizeof note, "rc %d, %d warnings: %s", rc, d.warnings, why);
    check_true("disk stays full: two warnings, then CN_EIO at iteration 12 naming the path and ENOSPC",
               rc == CN_EIO && d.warnings == 2 && strstr(why, "iteration 12") && strstr(why, ck) &&
                   strstr(why, strerror(ENOSPC)),
               note);
    size_t n = 0;
    unsigned char *now = fx_read_file(ck, &n);
    cn_st *st = NULL;
    int loads = cn_st_load(ctx, ck, &st) == CN_OK;
    const char *it = loads ? cn_st_meta(st, "iteration") : NULL;
    snprintf(note, sizeof note, "iteration %s", it ? it : "?");
    check_true("disk stays full: the checkpoint of iteration 3 is byte for byte intact and loads",
               d.kept && now && n == d.kept_n && !memcmp(now, d.kept, n) && loads && it && !strcmp(it, "3"), note);
    cn_st_free(st);
    free(now);
    free(d.kept);
    check_true("disk stays full: no temporary file left", count_tmp_files(ck, NULL, 0) == 0, "");

    /* the CLI on the full disk, an old checkpoint there: exit 1, warnings on
     * stderr, the old file intact */
    remove(d.filler);
    char cck[300];
    snprintf(cck, sizeof cck, "%s/cli.st", mnt);
    const char *first[] = {"--net", "conv4x5-relu-pool2-affine24-relu-affine10", "--batch-size", "25",
                           "--num-epochs", "1", "--save", cck, "--quiet", NULL};
    cli_result r;
    train(&r, 60, first);
    size_t n0 = 0, n1 = 0;
    unsigned char *before = fx_read_file(cck, &n0);
    fill(d.filler);
    const char *second[] = {"--net", "conv4x5-relu-pool2-affine24-relu-affine10", "--batch-size", "25",
                            "--num-epochs", "1", "--save", cck, "--checkpoint-every", "2", "--quiet", NULL};
    train(&r, 60, second);
    int nwarn = 0;
    for (const char *q = r.out; (q = strstr(q, "convnet: warning: ")); q++) nwarn++;
    unsigned char *after = fx_read_file(cck, &n1);
    check_true("CLI, disk full: exit 1 after two warnings, the message names the path and ENOSPC",
               cli_exited(&r, 1) && nwarn == 2 && strstr(r.out, cck) && strstr(r.out, strerror(ENOSPC)), r.out);
    check_true("CLI, disk full: the old checkpoint is byte for byte intact, no temporary file",
               before && after && n0 == n1 && !memcmp(before, after, n0) && count_tmp_files(cck, NULL, 0) == 0, "");
    free(before);
    free(after);
    remove(d.filler);
    cn_dataset_free(&ds);
    umount2(mnt, MNT_DETACH);
}

int main(int argc, char **argv) {
    (void)argc;
    ctx = cn_ctx_new(2);
    if (!check_true("convnet binary found", cli_find_convnet(argv[0], convnet, sizeof convnet), convnet))
        return check_done();
    snprintf(dir, sizeof dir, "/tmp/cn_test_limits_XXXXXX");
    if (!mkdtemp(dir)) { check_true("mkdtemp", 0, strerror(errno)); return check_done(); }
    cli_synthetic_mnist(dir, 350, 28, data_flag, sizeof data_flag);
    snprintf(data_dir, sizeof data_dir, "%s/mnist", dir);
    test_memory();
    test_cgroup();
    test_save_refused();
    test_disk_full();
    cn_ctx_free(ctx);
    fx_rm_tree(dir);
    return check_done();
}
