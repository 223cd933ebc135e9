/* test_soak.c — a run killed with SIGKILL at random moments and resumed each
 * time ends with the same checkpoint, byte for byte, as the run left alone.
 *
 * The run: several epochs of a small net on synthetic data (Adam, learning
 * rate decay, a checkpoint every 3 iterations). The uninterrupted run gives
 * the reference file and its duration T. Then, from scratch: start the run
 * (with --resume when a checkpoint exists), SIGKILL it after a random delay
 * in [0, T) from its start (so kills land in start-up, resume, training
 * steps, accuracy checks and saves alike), and repeat until K =
 * CN_SOAK_KILLS kills (default 20) have landed; then let it finish. The
 * final file must equal the reference (cmp), and every checkpoint left by a
 * kill must load. A resumed run that finishes before its kill is compared
 * with the reference as well, and the next cycle starts from scratch.
 *
 * make test runs the short version (20 kills, 10 epochs: under a minute);
 * `make soak` runs CN_SOAK_KILLS=200 CN_SOAK_EPOCHS=30. CN_SOAK_SEED fixes the random
 * moments (the seed used is printed for a rerun). */
#include "cli_util.h"
#include "fixtures.h"
#include <ftw.h>

static char dir[64], convnet[512], data_flag[600];
static cn_ctx *ctx;


static char epochs[16];

static void args(const char **a, const char *save, int resume) {
    int n = 0;
    a[n++] = convnet;
    a[n++] = "train";
    const char *common[] = {"--data", data_flag, "--num-train", "2000", "--num-val", "200", "--num-test", "0",
                            "--net", "conv4x5-relu-pool2-affine24-relu-affine10", "--batch-size", "25",
                            "--num-epochs", epochs, "--lr-decay", "0.9", "--update-rule", "adam",
                            "--checkpoint-every", "3", "--num-train-samples", "200", "--seed", "7",
                            "--threads", "1", "--print-every", "5", "--quiet", "--save", save};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) a[n++] = common[i];
    if (resume) {
        a[n++] = "--resume";
        a[n++] = save;
    }
    a[n] = NULL;
}

typedef struct { double delay; } killer;
static void kill_after(void *user, pid_t pid) {
    killer *k = user;
    struct timespec ts = {(time_t)k->delay, (long)((k->delay - (time_t)k->delay) * 1e9)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
}

static int loads(const char *path) {
    cn_st *st = NULL;
    cn_net *net = NULL;
    int ok = cn_st_load(ctx, path, &st) == CN_OK && cn_net_load(ctx, &net, path, 0, NULL) == CN_OK;
    cn_st_free(st);
    cn_net_free(net);
    return ok;
}

int main(int argc, char **argv) {
    (void)argc;
    ctx = cn_ctx_new(1);
    const char *ek = getenv("CN_SOAK_KILLS"), *ee = getenv("CN_SOAK_EPOCHS"), *es = getenv("CN_SOAK_SEED");
    int kills_wanted = ek ? atoi(ek) : 20;
    snprintf(epochs, sizeof epochs, "%d", ee ? atoi(ee) : 10);
    uint64_t seed = es ? strtoull(es, NULL, 10) : (uint64_t)time(NULL);
    printf("soak: %d kills, %s epochs, seed %llu (CN_SOAK_SEED to repeat)\n", kills_wanted, epochs,
           (unsigned long long)seed);
    if (!check_true("convnet binary found", cli_find_convnet(argv[0], convnet, sizeof convnet), convnet))
        return check_done();
    snprintf(dir, sizeof dir, "/tmp/cn_test_soak_XXXXXX");
    if (!mkdtemp(dir)) { check_true("mkdtemp", 0, strerror(errno)); return check_done(); }
    cli_synthetic_mnist(dir, 2200, 28, data_flag, sizeof data_flag);

    char ref[128], ck[128];
    snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
    snprintf(ck, sizeof ck, "%s/soak.safetensors", dir);
    const char *a[64];
    cli_result r;
    args(a, ref, 0);
    cli_run(a, NULL, NULL, NULL, 300, &r);
    double T = r.secs;
    char note[200];
    snprintf(note, sizeof note, "%.2fs", T);
    if (!check_true("the uninterrupted run exits 0", cli_exited(&r, 0), r.out)) return check_done();
    printf("uninterrupted run: %.2fs\n", T);

    cn_rng rng;
    cn_rng_seed(&rng, seed);
    int landed = 0, starts = 0, resumed = 0, bad_loads = 0, other_exit = 0, cycles = 0, cycles_same = 0;
    double t0 = cli_now();
    while (landed < kills_wanted && starts < 10 * kills_wanted + 10) {
        struct stat sb;
        int have = stat(ck, &sb) == 0;
        if (have && !loads(ck)) bad_loads++;
        args(a, ck, have);
        /* anywhere in a whole run's time: start-up, resume, steps, accuracy
         * checks, saves; a resumed run often finishes first, which starts
         * another cycle */
        killer k = {cn_rng_uniform(&rng) * T};
        /* the delay runs from the fork (stdout is a pipe: no line comes
         * before the end to time it from) */
        cli_run(a, "", kill_after, &k, 300, &r);
        starts++;
        resumed += have;
        if (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL) {
            landed++;
            /* where the kill left the run: the checkpoint's iteration */
            cn_st *st = NULL;
            const char *it = NULL;
            if (cn_st_load(ctx, ck, &st) == CN_OK) it = cn_st_meta(st, "iteration");
            printf("kill %2d after %.3fs: checkpoint at iteration %s\n", landed, k.delay, it ? it : "(none yet)");
            cn_st_free(st);
        }
        else if (cli_exited(&r, 0)) {
            /* finished before the next kill: that cycle's file must equal
             * the reference too; start another from scratch */
            cycles++;
            cycles_same += cli_same_file(ref, ck);
            remove(ck);
        } else {
            other_exit++;
            printf("unexpected end: status %d\n%s\n", r.status, r.out);
        }
    }
    snprintf(note, sizeof note, "%d kills landed in %d starts (%d resumed), %.1fs", landed, starts, resumed,
             cli_now() - t0);
    check_true("SIGKILL landed the wanted number of times", landed == kills_wanted, note);
    check_true("no run ended other than by SIGKILL or exit 0", other_exit == 0, "");
    check_true("every checkpoint left by a kill loads (cn_st_load, cn_net_load)", bad_loads == 0, "");
    /* and to the end */
    struct stat sb;
    args(a, ck, stat(ck, &sb) == 0);
    cli_run(a, NULL, NULL, NULL, 300, &r);
    check_true("the last resume runs to the end", cli_exited(&r, 0), r.out);
    check_true("the final checkpoint is byte for byte the uninterrupted run's (cmp)", cli_same_file(ref, ck), ck);
    snprintf(note, sizeof note, "%d of %d", cycles_same, cycles);
    check_true("runs that finished between kills: each file equals the reference too", cycles_same == cycles, note);
    int debris = count_tmp_files(ck, NULL, 0);
    snprintf(note, sizeof note, "%d left by %d kills", debris, landed);
    check_true("temporary files only from saves a kill cut short (at most one per kill)", debris <= landed, note);
    printf("soak: %d kills, %.1fs in all\n", landed, cli_now() - t0 + T);
    cn_ctx_free(ctx);
    fx_rm_tree(dir);
    return check_done();
}
