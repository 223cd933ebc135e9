/* recipes.c — `convnet train --recipe NAME`: named sets of train flags.
 * A recipe is nothing but flags, parsed before the command line's (which
 * win), so `--recipe fast --num-epochs 12` is the recipe with 12 epochs
 * and `convnet train --help` prints each recipe as the flags it stands
 * for. The figures behind them: docs/recipe.md. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

/* airbench's net (Keller Jordan, arXiv 2404.00498) in the spec grammar:
 * the fitted 2x2 whitening conv, three blocks conv3x3 -> maxpool2 -> bn
 * (beta only) -> gelu -> conv3x3 -> bn -> gelu with dirac-initialised
 * convs, a global max pool and the last affine scaled by 1/9 */
#define AIRBENCH(w1, w2, w3)                                                                                     \
    "whiten-gelu-conv" #w1 "x3d-pool2-bnb-gelu-conv" #w1 "x3d-bnb-gelu-conv" #w2 "x3d-pool2-bnb-gelu-conv" #w2 \
    "x3d-bnb-gelu-conv" #w3 "x3d-pool2-bnb-gelu-conv" #w3 "x3d-bnb-gelu-gmp-affine10-scale1/9"

/* airbench's optimization with the mean loss over the batch. Its lr 11.5
 * and weight decay 0.0153 "per 1024 examples" are on a summed loss with
 * momentum 0.85: per example lr 11.5 / (1024 (1 + 1 / (1 - 0.85))) =
 * 1.465e-3, i.e. --learning-rate 1.465e-3 B on the mean loss (0.75 at B
 * 512, 1.5 at 1024), and PyTorch's coupled decay wd / lr = 0.0153 / 11.5
 * per example, i.e. --reg 1.33e-3 on the mean loss at any batch size (W*
 * only, through the velocity as there). Its Lookahead: every 5 steps,
 * alpha ramped from 1 to 1 - 0.95^5. Its whitening eps 5e-4 is for inputs
 * of unit variance; ours are raw pixels minus the mean image (a variance
 * of ~4000 per channel): 2. The accuracy checks after each epoch (a log
 * line) go without TTA: 6 variants of 1000 images cost 5% of the run. */
#define AIRBENCH_OPT                                                                                             \
    "--update-rule", "nesterov", "--momentum", "0.85", "--reg", "1.33e-3", "--schedule", "linear", "--lr-warmup", \
        "0.23", "--lr-start", "0.2", "--lr-end", "0.07", "--bias-lr-scale", "64", "--label-smoothing", "0.2",   \
        "--lookahead", "5", "--lookahead-alpha", "0.2262", "--lookahead-ramp", "1", "--weight-scale", "-1",      \
        "--whiten-eps", "2", "--aug-pad", "2", "--aug-pad-mode", "reflect", "--aug-flip", "alternate", "--tta",  \
        "2", "--tta-checks", "0", "--shuffle", "1", "--num-train", "50000", "--num-val", "0", "--dtype", "float32"

/* fast: 4 epochs take ~5 minutes on 2 Zen 5 cores at AVX-512, ~7.6 at AVX2; on a held-out split
 * batch 256 did better than 512 and twice airbench's lr per example
 * (0.75 at 256) better than once (docs/recipe.md) */
static const char *const fast[] = {"--net", AIRBENCH(64, 128, 128), AIRBENCH_OPT, "--batch-size", "256",
                                   "--learning-rate", "0.75", "--num-epochs", "4", NULL};
/* best: airbench94's net and epochs at its lr per example; batch 512, where
 * its figures were measured (1024 runs in 1.63 GB, docs/recipe.md) */
static const char *const best[] = {"--net", AIRBENCH(64, 256, 256), AIRBENCH_OPT, "--batch-size", "512",
                                   "--learning-rate", "0.75", "--num-epochs", "10", NULL};

static const struct {
    const char *name, *help;
    const char *const *flags;
} recipes[] = {
    {"fast", "CIFAR-10 to ~90% test accuracy in ~5 minutes on 2 cores at AVX-512, ~8 at AVX2 (airbench93's net)",
     fast},
    {"best", "CIFAR-10 toward 94% (airbench94's net and epochs; about 30 minutes on 2 cores at AVX-512)", best},
};
#define NRECIPES (int)(sizeof recipes / sizeof recipes[0])

const char *recipe_name(int k) { return k >= 0 && k < NRECIPES ? recipes[k].name : NULL; }

const char *const *recipe_flags(const char *name) {
    for (int k = 0; k < NRECIPES; k++)
        if (!strcmp(recipes[k].name, name)) return recipes[k].flags;
    return NULL;
}

int recipe_argc(const char *const *flags) {
    int n = 0;
    while (flags[n]) n++;
    return n;
}

void recipes_help(FILE *f) {
    fprintf(f, "recipes (--recipe NAME; flags given with it win):\n");
    for (int k = 0; k < NRECIPES; k++) {
        fprintf(f, "  %s: %s\n   ", recipes[k].name, recipes[k].help);
        for (const char *const *a = recipes[k].flags; *a; a++) fprintf(f, " %s", *a);
        fprintf(f, "\n");
    }
}
