/* predict.c — `convnet predict`: classify JPEG/PNG images with a trained
 * model, with the preprocessing its training used (stored in the model). */
#include "cli.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One image: read, fit (cn_image_fit), preprocess, forward; scores[K]. */
static int classify(cn_ctx *ctx, cn_net *net, const char *path, double *scores, int *h0, int *w0) {
    int C, H, W, h, w, c, K = cn_net_num_classes(net);
    cn_net_input(net, &C, &H, &W);
    uint8_t *pix = NULL, *img = NULL, label = 0;
    void *x = NULL, *sc = NULL;
    size_t D = (size_t)C * H * W, esz = cn_net_dtype(net) == CN_F32 ? 4 : 8;
    int rc = cn_image_read(ctx, path, &pix, &h, &w, &c);
    if (rc) return rc;
    *h0 = h;
    *w0 = w;
    img = malloc(D);
    x = malloc(D * esz);
    sc = malloc((size_t)K * esz);
    if (!img || !x || !sc) { rc = cn_error(ctx, CN_ENOMEM, "out of memory"); goto out; }
    if ((rc = cn_image_fit(ctx, img, C, H, W, pix, h, w, c))) goto out;
    /* the training's conversion, through the same function its minibatches use */
    const float *mean;
    cn_net_preprocess(net, &mean);
    cn_split one = {1, C, H, W, img, &label};
    int32_t idx = 0, y;
    rc = esz == 4 ? cn_split_batch_f32(ctx, &one, mean, &idx, 1, x, &y) : cn_split_batch_f64(ctx, &one, mean, &idx, 1, x, &y);
    if (!rc) rc = cn_net_loss(ctx, net, NULL, sc, x, NULL, 1);
    for (int k = 0; k < K && !rc; k++) scores[k] = esz == 4 ? ((float *)sc)[k] : ((double *)sc)[k];
out:
    free(pix); free(img); free(x); free(sc);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *pos[4096];
    int top = 5, json = 0, threads = 0, np = 0;
    flag flags[] = {
        {"model", 's', &model, "model or checkpoint (its best parameters), with its class names and preprocessing"},
        {"top", 'i', &top, "how many classes to print per image (5; at most the class count)"},
        {"json", 'b', &json, "one JSON object per image and line: image, size, top [{class, index, probability}], scores"},
        {"threads", 'i', &threads, "threads (0: all cores)"},
    };
    parse_flags("predict", argc, argv, flags, sizeof flags / sizeof flags[0], pos, &np, 4096,
                "--model FILE [--top K] [--json] IMAGE...");
    if (!model || np == 0) { fprintf(stderr, "convnet predict: give --model FILE and one or more images\n"); return 2; }
    if (top <= 0) { fprintf(stderr, "convnet predict: --top must be > 0, not %d\n", top); return 2; }
    if (threads < 0) { fprintf(stderr, "convnet predict: --threads must be >= 0\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(threads);
    if (!ctx) return die(NULL, "out of memory");
    cn_net *net;
    if (cn_net_load(ctx, &net, model, 1, NULL)) { int r = die(ctx, "loading the model"); cn_ctx_free(ctx); return r; }
    if (cn_net_preprocess(net, NULL) == CN_PREP_UNKNOWN) {
        fprintf(stderr, "convnet predict: %s does not record the preprocessing its training used (a file from before "
                        "convnet stored it): train it again to get a model predict can use\n", model);
        cn_net_free(net);
        cn_ctx_free(ctx);
        return 1;
    }
    int K = cn_net_num_classes(net), status = 0;
    if (top > K) top = K;
    double *scores = malloc(sizeof(double) * K), *prob = malloc(sizeof(double) * K);
    int *order = malloc(sizeof(int) * K);
    if (!scores || !prob || !order) { free(scores); free(prob); free(order); return die(NULL, "out of memory"); }
    for (int i = 0; i < np; i++) {
        int h = 0, w = 0;
        if (classify(ctx, net, pos[i], scores, &h, &w)) {
            fflush(stdout);
            fprintf(stderr, "convnet predict: %s\n", cn_ctx_error(ctx)); /* the reader's message names the file */
            status = 1;
            continue;
        }
        /* softmax, max subtracted; the order by score, ties by index */
        double mx = scores[0], sum = 0;
        for (int k = 1; k < K; k++) mx = scores[k] > mx ? scores[k] : mx;
        for (int k = 0; k < K; k++) sum += prob[k] = exp(scores[k] - mx);
        for (int k = 0; k < K; k++) prob[k] /= sum;
        for (int k = 0; k < K; k++) order[k] = k;
        for (int a = 0; a < top; a++)
            for (int b = a + 1; b < K; b++)
                if (scores[order[b]] > scores[order[a]]) { int t = order[a]; order[a] = order[b]; order[b] = t; }
        char name[80];
        if (json) {
            printf("{\"image\":");
            json_str(stdout, pos[i]);
            printf(",\"height\":%d,\"width\":%d,\"top\":[", h, w);
            for (int a = 0; a < top; a++) {
                cn_net_class_name(net, order[a], name, sizeof name);
                printf("%s{\"class\":", a ? "," : "");
                json_str(stdout, name);
                printf(",\"index\":%d,\"probability\":", order[a]);
                json_num(stdout, prob[order[a]]);
                printf("}");
            }
            printf("],\"scores\":[");
            for (int k = 0; k < K; k++) { if (k) printf(","); json_num(stdout, scores[k]); }
            printf("]}\n");
        } else {
            printf("%s (%dx%d):\n", pos[i], w, h);
            for (int a = 0; a < top; a++) {
                cn_net_class_name(net, order[a], name, sizeof name);
                printf("  %8.4f  %s\n", prob[order[a]], name);
            }
        }
        fflush(stdout);
    }
    free(scores); free(prob); free(order);
    cn_net_free(net);
    cn_ctx_free(ctx);
    return status;
}
