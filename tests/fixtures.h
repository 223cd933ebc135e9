/* fixtures.h — what the library-level tests set up around the library:
 * a file's bytes, a temporary directory and its removal, a synthetic
 * uint8 data set, a small solver configuration. One copy each (the layer
 * comparisons are in harness.h, the checks in check.h). */
#ifndef CN_FIXTURES_H
#define CN_FIXTURES_H
#include "check.h"
#include <stdlib.h>
#include <sys/stat.h>

/* The whole file, NUL-terminated, its length in *n; NULL when it cannot be
 * opened. The caller frees. */
static inline unsigned char *fx_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = xmalloc((size_t)sz + 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

/* nftw: for a test that defines _GNU_SOURCE before its first include */
#if defined(_GNU_SOURCE) || defined(_XOPEN_SOURCE)
#include <ftw.h>
static inline int fx_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}
/* Removes a directory tree (not following links). */
static inline void fx_rm_tree(const char *p) { nftw(p, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS); }
#endif
/* A fresh /tmp/PREFIX_XXXXXX in dir; 0, or -1 with perror's message. */
static inline int fx_mkdtemp(char *dir, size_t cap, const char *prefix) {
    snprintf(dir, cap, "/tmp/%s_XXXXXX", prefix);
    if (mkdtemp(dir)) return 0;
    perror("mkdtemp");
    return -1;
}

/* Fills the train and val splits (ntrain, nval images of C x H x W uint8,
 * labels below 3) from seed, in that order, and the train mean; the test
 * split gets the sizes only. The caller has zeroed ds and named it. */
static inline void fx_synth_splits(cn_dataset *ds, int C, int H, int W, int ntrain, int nval, uint64_t seed) {
    cn_rng r;
    cn_rng_seed(&r, seed);
    size_t D = (size_t)C * H * W;
    cn_split *sp[2] = {&ds->train, &ds->val};
    int n[2] = {ntrain, nval};
    for (int s = 0; s < 2; s++) {
        sp[s]->n = n[s]; sp[s]->c = C; sp[s]->h = H; sp[s]->w = W;
        sp[s]->x = xmalloc(D * n[s]);
        sp[s]->y = xmalloc((size_t)n[s]);
        for (size_t i = 0; i < D * n[s]; i++) sp[s]->x[i] = (uint8_t)cn_rng_below(&r, 256);
        for (int i = 0; i < n[s]; i++) sp[s]->y[i] = (uint8_t)cn_rng_below(&r, 3);
    }
    ds->test.c = C; ds->test.h = H; ds->test.w = W;
    ds->mean = xmalloc(D * sizeof(float));
    for (size_t k = 0; k < D; k++) {
        double a = 0;
        for (int i = 0; i < ntrain; i++) a += ds->train.x[(size_t)i * D + k];
        ds->mean[k] = (float)(a / ntrain);
    }
}

/* The defaults, quiet, with these settings. */
static inline void fx_solver_config(cn_solver_config *cfg, const char *rule, int batch, int epochs, int ntrain,
                                    uint64_t seed) {
    cn_solver_config_default(cfg);
    snprintf(cfg->update_rule, sizeof cfg->update_rule, "%s", rule);
    cfg->batch_size = batch;
    cfg->num_epochs = epochs;
    cfg->num_train_samples = ntrain;
    cfg->verbose = 0;
    cfg->seed = seed;
}
#endif
