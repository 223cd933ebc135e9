/* cmd_gradcheck.c — `convnet gradcheck`: a float64 numeric gradient check
 * of every trainable parameter of a small net on random input, with a
 * PASS/FAIL verdict. */
#include "cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { cn_ctx *ctx; cn_net *net; double *X; int32_t *y; int N; } gc_user;
static double gc_loss(void *u) {
    gc_user *g = u;
    double loss = NAN;
    cn_net_loss(g->ctx, g->net, &loss, NULL, g->X, g->y, g->N);
    return loss;
}

int cmd_gradcheck(int argc, char **argv) {
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
        const cn_param *p = cn_net_param_at(net, i);
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
