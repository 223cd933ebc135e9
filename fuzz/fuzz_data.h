/* fuzz_data.h — the small synthetic dataset the resume target trains on
 * (and mkseeds.c builds its seed checkpoints with): 16 train and 8 val
 * images of (C,H,W), 2 classes, pixels and labels from a fixed RNG. */
#ifndef CN_FUZZ_DATA_H
#define CN_FUZZ_DATA_H
#include "convnet.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_NTRAIN 16
#define FZ_NVAL 8

static inline int fz_dataset(cn_dataset *ds, int C, int H, int W) {
    memset(ds, 0, sizeof *ds);
    size_t D = (size_t)C * H * W;
    cn_rng r;
    cn_rng_seed(&r, 77);
    snprintf(ds->name, sizeof ds->name, "synthetic");
    ds->num_classes = 2;
    snprintf(ds->classes[0], sizeof ds->classes[0], "zero");
    snprintf(ds->classes[1], sizeof ds->classes[1], "one");
    cn_split *sp[2] = {&ds->train, &ds->val};
    int n[2] = {FZ_NTRAIN, FZ_NVAL};
    for (int s = 0; s < 2; s++) {
        sp[s]->n = n[s];
        sp[s]->c = C; sp[s]->h = H; sp[s]->w = W;
        sp[s]->x = malloc(D * n[s]);
        sp[s]->y = malloc((size_t)n[s]);
        if (!sp[s]->x || !sp[s]->y) return -1;
        for (size_t i = 0; i < D * n[s]; i++) sp[s]->x[i] = (uint8_t)cn_rng_below(&r, 256);
        for (int i = 0; i < n[s]; i++) sp[s]->y[i] = (uint8_t)cn_rng_below(&r, 2);
    }
    ds->test.c = C; ds->test.h = H; ds->test.w = W;
    ds->mean = calloc(D, sizeof(float));
    if (!ds->mean) return -1;
    for (size_t k = 0; k < D; k++) ds->mean[k] = 127.5f;
    return 0;
}
#endif
