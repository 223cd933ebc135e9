/* cmd_eval.c — `convnet eval`: the accuracy of a saved model on one split
 * of a data set, as a line or one JSON object. */
#include "cli.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *split = "val";
    int ntrain = -1, nval = -1, ntest = -1, threads = 0, json = 0, tta = -1;
    flag flags[] = {
        {"model", 's', &model, "checkpoint or model file (its best parameters are used)"},
        {"data", 's', &data, "cifar10:DIR | fashion-mnist[:DIR] | mnist:DIR"},
        {"split", 's', &split, "train | val | test (val)"},
        {"num-train", 'i', &ntrain, "as in train (the split must match the training run's)"},
        {"num-val", 'i', &nval, "as in train"},
        {"num-test", 'i', &ntest, "as in train"},
        {"threads", 'i', &threads, "threads (0: all cores)"},
        {"tta", 'i', &tta, "test-time augmentation: 0 none, 1 + mirror, 2 + mirror and 1-pixel shifts (default: "
                           "the level the model records, 0 if none)"},
        {"json", 'b', &json, "print one JSON object: model, data, split, images, correct, accuracy"},
    };
    parse_flags("eval", argc, argv, flags, sizeof flags / sizeof flags[0], NULL, NULL, 0, "--model FILE [--data D] [--split S]");
    if (!model) { fprintf(stderr, "convnet eval: --model FILE is required\n"); return 2; }
    if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test")) {
        fprintf(stderr, "convnet eval: --split must be train, val or test, not '%s'\n", split);
        return 2;
    }
    if (tta < -1 || tta > 2) { fprintf(stderr, "convnet eval: --tta must be 0, 1 or 2, not %d\n", tta); return 2; }
    cn_ctx *ctx = cn_ctx_new(threads);
    if (!ctx) return die(NULL, "out of memory");
    cn_net *net = NULL;
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
#define EVAL_EXIT(status) do { int st_ = (status); cn_net_free(net); cn_dataset_free(&ds); cn_ctx_free(ctx); \
                               return st_; } while (0)
    if (cn_net_load(ctx, &net, model, 1, NULL)) EVAL_EXIT(die(ctx, "loading the model"));
    if (load_data(ctx, &ds, data, ntrain, nval, ntest)) EVAL_EXIT(die(ctx, "loading data"));
    const cn_split *sp = !strcmp(split, "train") ? &ds.train : !strcmp(split, "val") ? &ds.val : &ds.test;
    int C, H, W;
    cn_net_input(net, &C, &H, &W);
    if (sp->n == 0) { fprintf(stderr, "convnet eval: the %s split of %s is empty\n", split, ds.name); EVAL_EXIT(1); }
    if (sp->c != C || sp->h != H || sp->w != W) {
        fprintf(stderr, "convnet eval: the model takes (%d,%d,%d) images, the data has (%d,%d,%d)\n", C, H, W, sp->c, sp->h, sp->w);
        EVAL_EXIT(1);
    }
    double acc;
    if (tta < 0) tta = cn_net_tta(net);
    if (split_accuracy(ctx, net, &ds, sp, tta, &acc)) EVAL_EXIT(die(ctx, "evaluating"));
    if (json) {
        printf("{\"model\":");
        json_str(stdout, model);
        printf(",\"data\":");
        json_str(stdout, ds.name);
        printf(",\"split\":\"%s\",\"images\":%d,\"correct\":%d,\"accuracy\":", split, sp->n, (int)lround(acc * sp->n));
        json_num(stdout, acc);
        if (tta) printf(",\"tta\":%d", tta); /* absent at 0: the object stays as it was */
        printf("}\n");
    } else {
        if (tta) printf("%s acc (tta %d): %f\n", split, tta, acc);
        else printf("%s acc: %f\n", split, acc);
    }
    EVAL_EXIT(0);
#undef EVAL_EXIT
}
