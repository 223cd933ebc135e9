/* bench_epoch.c — the end-to-end benchmark: one epoch of the original's
 * CIFAR-10 run (ThreeLayerConvNet, hidden 500 and hidden 100, reg 1e-3,
 * weight_scale 1e-3, adam 1e-3, batch 50, accuracy checks as the Solver
 * does them) on the real data in ../shared/data. Each configuration runs in
 * its own process so its peak RSS is its own. CN_BENCH_QUICK=N (N > 1: N,
 * 1: 200) times only N training iterations instead of the epoch (the
 * lower-level passes of bench/run.sh); the per-iteration time is what
 * run.sh compares with PyTorch's. */
#include "convnet.h"
#include "peak.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void quiet_log(void *u, const char *line, int progress) {
    (void)u;
    if (!progress && strncmp(line, "(Epoch", 6) == 0) printf("    %s\n", line);
}

static int run(const char *dir, int hidden, int threads, int epochs, int quick, int lv, const bench_peak *pk) {
    cn_ctx *ctx = cn_ctx_new(threads);
    double t0 = now_s();
    cn_dataset ds;
    if (cn_dataset_load_cifar10(ctx, &ds, dir, 49000, 1000, 0)) {
        printf("  cannot load CIFAR-10: %s\n", cn_ctx_error(ctx));
        return 1;
    }
    double tload = now_s() - t0;
    char spec[128];
    snprintf(spec, sizeof spec, "conv32x7-relu-pool2-affine%d-relu-affine10", hidden);
    cn_rng r;
    cn_rng_seed(&r, 1);
    cn_net *net;
    if (cn_net_new(ctx, &net, spec, 3, 32, 32, CN_F32, 1e-3, 1e-3, &r)) { printf("  %s\n", cn_ctx_error(ctx)); return 1; }
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    snprintf(cfg.update_rule, sizeof cfg.update_rule, "adam");
    cfg.learning_rate = 1e-3;
    cfg.batch_size = 50;
    cfg.num_epochs = epochs;
    cfg.print_every = 1000000;
    cfg.seed = 0;
    cn_solver *s;
    if (cn_solver_new(ctx, &s, net, &ds, &cfg)) { printf("  %s\n", cn_ctx_error(ctx)); return 1; }
    cn_net_profile_enable(net, 1);
    double t1 = now_s();
    if (quick > 0) {
        for (int i = 0; i < quick; i++) {
            double loss;
            if (cn_solver_step(ctx, s, &loss)) { printf("  %s\n", cn_ctx_error(ctx)); return 1; }
        }
    } else if (cn_solver_train(ctx, s, quiet_log, NULL, NULL, NULL, 0)) {
        printf("  %s\n", cn_ctx_error(ctx));
        return 1;
    }
    double secs = now_s() - t1;
    /* cn_solver_step does not advance the solver's epoch bookkeeping */
    int iters = quick > 0 ? quick : cn_solver_iteration(s);
    double imgs = (double)iters * cfg.batch_size;
    double flops = imgs * cn_net_flops_per_image(net);
    int nt = cn_ctx_threads(ctx);
    double gfs = flops / secs * 1e-9, pct = 100 * gfs / peak_at(pk, lv, nt);
    printf("  hidden %d: %d iterations in %.2f s  (%.0f images/s, %.1f GFLOP/s = %.1f%% of the %s peak on %d threads, %.2f TFLOP), "
           "data load %.2f s, best val acc %.3f%s\n",
           hidden, iters, secs, imgs / secs, gfs, pct, lv_name[lv], nt, flops * 1e-12, tload, cn_solver_best_val_acc(s),
           quick > 0 ? " (quick: training steps only, no accuracy checks)" : "");
    /* the summary's record: ms per iteration in the "median" column, the whole run's ms in the "min" one */
    char cell[32];
    snprintf(cell, sizeof cell, "epoch.h%d%s", hidden, quick > 0 ? "q" : "");
    bench_record("convnet", lv, cell, nt, iters ? secs / iters : 0, secs, gfs, pct);
    double tb, tu, tc;
    cn_solver_times(s, &tb, &tu, &tc);
    char buf[4096];
    cn_net_profile_report(net, secs, buf, sizeof buf);
    printf("%s", buf);
    printf("  %-18s %7.3fs (%4.1f%%)\n", "update (adam)", tu, 100 * tu / secs);
    printf("  %-18s %7.3fs (%4.1f%%)\n", "minibatch (uint8)", tb, 100 * tb / secs);
    printf("  %-18s %7.3fs (%4.1f%%)\n", "accuracy checks", tc, 100 * tc / secs);
    cn_solver_free(s);
    cn_net_free(net);
    cn_dataset_free(&ds);
    cn_ctx_free(ctx);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = getenv("CN_CIFAR_DIR") ? getenv("CN_CIFAR_DIR") : "../shared/data/cifar-10-batches-bin";
    int threads = getenv("CN_THREADS") ? atoi(getenv("CN_THREADS")) : 0;
    int epochs = getenv("CN_EPOCHS") ? atoi(getenv("CN_EPOCHS")) : 1;
    int quick = getenv("CN_BENCH_QUICK") ? atoi(getenv("CN_BENCH_QUICK")) : 0;
    if (quick == 1) quick = 200;
    cn_ctx *ctx = cn_ctx_new(threads);
    if (!ctx) return 2;
    char note[256];
    const char *info = cn_ctx_build_info(ctx);
    int lv = lv_in_use(info, note, sizeof note);
    if (quick > 0)
        printf("== end-to-end, quick: %d training iterations of the three-layer net (adam 1e-3, batch 50, reg 1e-3)\n", quick);
    else
        printf("== end-to-end: one CIFAR-10 epoch of the three-layer net (adam 1e-3, batch 50, reg 1e-3)\n");
    printf("build: %s\nlevel in use: %s%s%s%s\n", info, lv_name[lv], note[0] ? " [" : "", note, note[0] ? "]" : "");
    cn_ctx_free(ctx);
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", dir);
    if (access(probe, R_OK)) {
        printf("  skipped: no CIFAR-10 at %s (set CN_CIFAR_DIR)\n", dir);
        return 0;
    }
    int hiddens[2] = {500, 100};
    for (int k = 0; k < 2; k++) {
        if (argc > 1 && atoi(argv[1]) != hiddens[k]) continue;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            /* the peak is taken in the child: an OpenMP pool started
             * before fork() hangs the child's first parallel region */
            bench_peak pk;
            peak_get(&pk, 0);
            int r = run(dir, hiddens[k], threads, epochs, quick, lv, &pk);
            fflush(stdout);
            _exit(r);
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
            printf("  hidden %d: run failed\n", hiddens[k]);
            return 1;
        }
        printf("  peak RSS %.0f MB\n", ru.ru_maxrss / 1024.0);
    }
    return 0;
}
