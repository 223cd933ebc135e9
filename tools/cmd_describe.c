/* cmd_describe.c — `convnet describe`: the layers, shapes, parameters and
 * FLOPs of a net spec or a model file, as text or one JSON object. */
#include "cli.h"
#include <stdio.h>

static void json_shape(int C, int H, int W) { printf("[%d,%d,%d]", C, H, W); }

/* describe --json: the net as cn_net_layer_at gives it */
static void describe_json(const cn_net *net) {
    int C, H, W, K = cn_net_num_classes(net);
    cn_net_input(net, &C, &H, &W);
    size_t total = 0;
    for (int i = 0; i < cn_net_num_params(net); i++) total += cn_net_param_at(net, i)->size;
    printf("{\"spec\":");
    json_str(stdout, cn_net_spec(net));
    printf(",\"input\":");
    json_shape(C, H, W);
    printf(",\"dtype\":\"%s\",\"num_classes\":%d,\"classes\":[", cn_net_dtype(net) == CN_F32 ? "float32" : "float64", K);
    for (int k = 0; k < K; k++) {
        char name[80];
        cn_net_class_name(net, k, name, sizeof name);
        if (k) printf(",");
        json_str(stdout, name);
    }
    cn_prep p = cn_net_preprocess(net, NULL);
    printf("],\"preprocess\":%s,\"parameters\":%zu,\"flops_per_image\":",
           p == CN_PREP_MEAN_IMAGE ? "\"mean_image\"" : p == CN_PREP_NONE ? "\"none\"" : "null", total);
    json_num(stdout, cn_net_flops_per_image(net));
    printf(",\"layers\":[");
    for (int i = 0; i < cn_net_num_layers(net); i++) {
        cn_layer_info L;
        cn_net_layer_at(net, i, &L);
        printf("%s{\"kind\":\"%s\",\"relu\":%s,\"pool\":%s,\"input\":", i ? "," : "", L.kind, L.relu ? "true" : "false",
               L.pool ? "true" : "false");
        json_shape(L.C, L.H, L.W);
        printf(",\"output\":");
        json_shape(L.oC, L.oH, L.oW);
        printf(",\"params\":{");
        const cn_param *ps[6] = {L.w, L.b, L.gamma, L.beta, L.running_mean, L.running_var};
        int first = 1;
        for (int k = 0; k < 6; k++) {
            if (!ps[k]) continue;
            printf("%s", first ? "" : ",");
            first = 0;
            json_str(stdout, ps[k]->name);
            printf(":[");
            for (int d = 0; d < ps[k]->ndim; d++) printf("%s%lld", d ? "," : "", (long long)ps[k]->shape[d]);
            printf("]");
        }
        printf("}}");
    }
    printf("]}\n");
}

int cmd_describe(int argc, char **argv) {
    const char *net_spec = "three-layer", *input = "3,32,32", *model = NULL;
    int json = 0;
    flag flags[] = {
        {"net", 's', &net_spec, "net spec (three-layer)"},
        {"input", 's', &input, "C,H,W (3,32,32)"},
        {"model", 's', &model, "describe this model file instead (with its classes and preprocessing)"},
        {"json", 'b', &json, "one JSON object: spec, input, dtype, classes, parameters, FLOPs, layers"},
    };
    parse_flags("describe", argc, argv, flags, 4, NULL, NULL, 0, "[--net SPEC] [--input C,H,W] [--model FILE] [--json]");
    int C, H, W;
    if (sscanf(input, "%d,%d,%d", &C, &H, &W) != 3) { fprintf(stderr, "convnet describe: --input expects C,H,W\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(1);
    cn_rng r;
    cn_rng_seed(&r, 0);
    cn_net *net;
    if (model) {
        if (cn_net_load(ctx, &net, model, 1, NULL)) return die(ctx, "loading the model");
    } else if (cn_net_new(ctx, &net, net_spec, C, H, W, CN_F32, 1e-3, 0, &r)) {
        return die(ctx, "building the net");
    }
    if (json) {
        describe_json(net);
    } else {
        char desc[4096];
        cn_net_describe(ctx, net, desc, sizeof desc);
        fputs(desc, stdout);
        printf("training FLOPs per image: %.3g\n", cn_net_flops_per_image(net));
    }
    cn_net_free(net);
    cn_ctx_free(ctx);
    return 0;
}
