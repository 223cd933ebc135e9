/* cmd_pictures.c — everything of the CLI that draws: `convnet filters`,
 * `convnet edges`, and train --plots (loss, accuracy and filter pictures). */
#include "cli.h"
#include "convnet_plot.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The first-layer filters W1 of net as a picture at path (W1 converted to
 * float, the picture's type). *W1 NULL, CN_OK and nothing written when the
 * first layer is not a conv on 1 or 3 channels. */
static int filters_png(cn_ctx *ctx, const cn_net *net, const char *path, int scale, const cn_param **W1) {
    const cn_param *p = cn_net_param_get(net, "W1");
    *W1 = NULL;
    if (!p || p->ndim != 4 || (p->shape[1] != 1 && p->shape[1] != 3)) return CN_OK;
    *W1 = p;
    float *w = malloc(sizeof(float) * p->size);
    if (!w) return cn_error(ctx, CN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->size; i++)
        w[i] = cn_net_dtype(net) == CN_F32 ? ((float *)p->data)[i] : (float)((double *)p->data)[i];
    int rc = cn_filters_png(ctx, path, w, (int)p->shape[0], (int)p->shape[1], (int)p->shape[2], (int)p->shape[3], scale);
    free(w);
    return rc;
}

int write_plots(cn_ctx *ctx, cn_solver *s, cn_net *net, const char *dir) {
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
    const cn_param *W1;
    snprintf(path, sizeof path, "%s/filters.png", dir);
    if ((rc = filters_png(ctx, net, path, 8, &W1))) return rc;
    if (W1) printf("wrote %s\n", path);
    return CN_OK;
}

int cmd_filters(int argc, char **argv) {
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
    const cn_param *W1;
    if (filters_png(ctx, net, out, scale, &W1)) return die(ctx, "writing filters");
    if (!W1) {
        fprintf(stderr, "convnet filters: %s: the first layer is not a conv on 1 or 3 channels\n", model);
        return 1;
    }
    printf("wrote %s (%lld filters %lldx%lld)\n", out, (long long)W1->shape[0], (long long)W1->shape[2], (long long)W1->shape[3]);
    cn_net_free(net);
    cn_ctx_free(ctx);
    return 0;
}

int cmd_edges(int argc, char **argv) {
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
