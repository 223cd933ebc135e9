/* test_netinfo.c — class names and the training's preprocessing in model
 * files (safetensors metadata "classes", "preprocess" and the tensor
 * "preprocess.mean"):
 *   - a Solver on a data set records them; a checkpoint and a model file
 *     give them back (the mean bit for bit, the names as given);
 *   - the stored mean reproduces the training's minibatch input exactly:
 *     pixel - mean (computed here) == cn_split_batch_f32 of the same image;
 *   - real data: CIFAR-10's names are batches.meta.txt's lines (read here),
 *     Fashion-MNIST's are its ten documented names; MNIST is numbered;
 *   - a file written without them (the old format: only spec, input, dtype,
 *     reg and the parameters) still loads: preprocessing unknown, numbered
 *     classes;
 *   - wrong counts, shapes and values are refused with CN_EFORMAT naming them. */
#define _GNU_SOURCE
#include "fixtures.h"
#include <string.h>
#include <unistd.h>

#define SPEC "conv2x3-relu-pool2-affine4-relu-affine3"
#define CIFAR "../shared/data/cifar-10-batches-bin"
#define FASHION "/usr/share/datasets/fashion-mnist"

static cn_ctx *ctx;
static char dir[64];

static void synth(cn_dataset *ds, int C, int H, int W, int n) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "synthetic");
    ds->num_classes = 3;
    snprintf(ds->classes[0], 32, "cat");
    snprintf(ds->classes[1], 32, "dog \"quoted\"");
    snprintf(ds->classes[2], 32, "b\xc3\xa4r"); /* UTF-8 */
    fx_synth_splits(ds, C, H, W, n, n, 5);
}

/* Train one step, save checkpoint + model; return the loaded model. */
static cn_net *through_files(const cn_dataset *ds, const char *spec, const char *tag, int model_file) {
    cn_rng g;
    cn_rng_seed(&g, 1);
    cn_net *net = NULL, *back = NULL;
    if (cn_net_new(ctx, &net, spec, ds->train.c, ds->train.h, ds->train.w, CN_F32, 1e-2, 0, &g)) return NULL;
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    cfg.batch_size = 2; cfg.num_epochs = 1; cfg.verbose = 0;
    cn_solver *s = NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, tag);
    int rc = cn_solver_new(ctx, &s, net, ds, &cfg);
    double loss;
    if (!rc) rc = cn_solver_step(ctx, s, &loss);
    if (!rc) rc = model_file ? cn_net_save(ctx, net, path, NULL, 0) : cn_solver_save(ctx, s, path);
    if (!rc) rc = cn_net_load(ctx, &back, path, 0, NULL);
    if (rc) printf("  %s: %s\n", tag, cn_ctx_error(ctx));
    cn_solver_free(s);
    cn_net_free(net);
    return back;
}

static void check_names(const char *what, const cn_net *net, const char *const *want, int n) {
    char buf[80], note[200] = "";
    int ok = net && cn_net_num_classes(net) == n;
    for (int k = 0; ok && k < n; k++) {
        int r = cn_net_class_name(net, k, buf, sizeof buf);
        ok = r >= 0 && !strcmp(buf, want[k]);
        if (!ok) snprintf(note, sizeof note, "class %d: '%s' vs '%s'", k, buf, want[k]);
    }
    check_true(what, ok, note);
}

static void test_synthetic(void) {
    cn_dataset ds;
    synth(&ds, 3, 8, 8, 6);
    const char *want[3] = {ds.classes[0], ds.classes[1], ds.classes[2]};
    for (int mf = 0; mf < 2; mf++) {
        cn_net *net = through_files(&ds, SPEC, mf ? "model" : "ckpt", mf);
        char nm[120];
        snprintf(nm, sizeof nm, "%s: loads", mf ? "model file" : "checkpoint");
        if (!check_true(nm, net != NULL, cn_ctx_error(ctx))) continue;
        snprintf(nm, sizeof nm, "%s: class names as the data set's (quotes, UTF-8)", mf ? "model file" : "checkpoint");
        check_names(nm, net, want, 3);
        const float *mean;
        cn_prep p = cn_net_preprocess(net, &mean);
        snprintf(nm, sizeof nm, "%s: preprocess mean_image, mean bit for bit", mf ? "model file" : "checkpoint");
        check_true(nm, p == CN_PREP_MEAN_IMAGE && mean && !memcmp(mean, ds.mean, 3 * 8 * 8 * sizeof(float)), "");
        /* the stored mean reproduces the training's input of image 4 */
        float x[192], ref[192];
        int32_t idx = 4, y;
        cn_split_batch_f32(ctx, &ds.train, ds.mean, &idx, 1, ref, &y);
        for (int k = 0; k < 192; k++) x[k] = (float)ds.train.x[4 * 192 + k] - (mean ? mean[k] : 0);
        double e = 0;
        for (int k = 0; k < 192; k++) e = fmax(e, fabs(x[k] - ref[k]));
        snprintf(nm, sizeof nm, "%s: pixel - stored mean == the training's minibatch input", mf ? "model file" : "checkpoint");
        check_le(nm, e, 0);
        cn_net_free(net);
    }
    /* no mean in the data set: "none" */
    free(ds.mean);
    ds.mean = NULL;
    cn_net *net = through_files(&ds, SPEC, "nomean", 1);
    check_true("data set without a mean: preprocess none", net && cn_net_preprocess(net, NULL) == CN_PREP_NONE, "");
    cn_net_free(net);
    /* the old format: a file with only spec, input, dtype, reg and parameters */
    cn_rng g;
    cn_rng_seed(&g, 2);
    cn_net *a;
    cn_net_new(ctx, &a, SPEC, 3, 8, 8, CN_F32, 1e-2, 0, &g);
    cn_tensor t[16];
    int nt = cn_net_num_params(a);
    for (int i = 0; i < nt; i++) {
        const cn_param *p = cn_net_param_at(a, i);
        t[i] = (cn_tensor){p->name, CN_F32, 0, p->ndim, {p->shape[0], p->shape[1], p->shape[2], p->shape[3]}, p->data};
    }
    cn_meta old[] = {{"spec", SPEC}, {"input", "3,8,8"}, {"dtype", "float32"}, {"reg", "0"}};
    char path[256];
    snprintf(path, sizeof path, "%s/old.safetensors", dir);
    int rc = cn_st_save(ctx, path, t, nt, old, 4);
    cn_net *b = NULL;
    if (!rc) rc = cn_net_load(ctx, &b, path, 0, NULL);
    const char *numbered[3] = {"0", "1", "2"};
    check_true("old-format model loads", rc == CN_OK, cn_ctx_error(ctx));
    if (b) {
        check_true("old-format model: preprocessing unknown", cn_net_preprocess(b, NULL) == CN_PREP_UNKNOWN, "");
        check_names("old-format model: numbered classes", b, numbered, 3);
        char buf[8];
        check_true("class_name(k out of range) -> CN_EINVAL", cn_net_class_name(b, 3, buf, sizeof buf) == CN_EINVAL, "");
    }
    cn_net_free(b);
    /* broken metadata */
    float badmean[3 * 8 * 8] = {0}, nanmean[3 * 8 * 8] = {0};
    nanmean[7] = NAN;
    struct { const char *name; cn_meta m[2]; int nm; cn_tensor extra; int has_extra; const char *want; } bad[] = {
        {"two names for three classes", {{"classes", "a\nb"}}, 1, {0}, 0, "'classes' has 2 names"},
        {"an empty class name", {{"classes", "a\n\nc"}}, 1, {0}, 0, "'classes'"},
        {"unknown preprocess", {{"preprocess", "zca"}}, 1, {0}, 0, "'preprocess' = 'zca'"},
        {"mean_image without the tensor", {{"preprocess", "mean_image"}}, 1, {0}, 0, "preprocess.mean"},
        {"mean of the wrong shape", {{"preprocess", "mean_image"}}, 1,
         {"preprocess.mean", CN_F32, 0, 3, {3, 8, 4}, badmean}, 1, "preprocess.mean"},
        {"mean with a NaN", {{"preprocess", "mean_image"}}, 1,
         {"preprocess.mean", CN_F32, 0, 3, {3, 8, 8}, nanmean}, 1, "not finite"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_meta m[8];
        memcpy(m, old, sizeof old);
        for (int k = 0; k < bad[i].nm; k++) m[4 + k] = bad[i].m[k];
        int n2 = nt;
        if (bad[i].has_extra) t[n2++] = bad[i].extra;
        rc = cn_st_save(ctx, path, t, n2, m, 4 + bad[i].nm);
        b = NULL;
        if (!rc) rc = cn_net_load(ctx, &b, path, 0, NULL);
        char nm[120];
        snprintf(nm, sizeof nm, "refused: %s (CN_EFORMAT, named)", bad[i].name);
        check_true(nm, rc == CN_EFORMAT && !b && strstr(cn_ctx_error(ctx), bad[i].want), cn_ctx_error(ctx));
        cn_net_free(b);
    }
    cn_net_free(a);
    cn_dataset_free(&ds);
}

static void test_real(void) {
    cn_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (access(CIFAR "/data_batch_1.bin", R_OK) == 0 && cn_dataset_load_cifar10(ctx, &ds, CIFAR, 20, 10, 0) == CN_OK) {
        /* the truth: batches.meta.txt's non-empty lines, read here */
        char lines[10][64], line[256];
        int n = 0;
        FILE *f = fopen(CIFAR "/batches.meta.txt", "r");
        while (f && n < 10 && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (*line) snprintf(lines[n++], 64, "%.63s", line);
        }
        if (f) fclose(f);
        const char *want[10];
        for (int k = 0; k < 10; k++) want[k] = lines[k];
        cn_net *net = through_files(&ds, "conv2x3-relu-pool2-affine10", "cifar", 1);
        check_true("CIFAR-10 meta file has 10 names", n == 10, "");
        check_names("CIFAR-10 model: batches.meta.txt's names", net, want, 10);
        cn_net_free(net);
        cn_dataset_free(&ds);
    } else {
        check_true("CIFAR-10 names (skipped: no " CIFAR ")", 1, "");
    }
    memset(&ds, 0, sizeof ds);
    if (cn_dataset_load_mnist(ctx, &ds, FASHION, 1, 20, 10, 0) == CN_OK) {
        static const char *want[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
        cn_net *net = through_files(&ds, "conv2x3-relu-pool2-affine10", "fashion", 0);
        check_names("Fashion-MNIST checkpoint: the ten documented names", net, want, 10);
        const float *mean;
        check_true("Fashion-MNIST checkpoint: 1x28x28 mean image", net &&
                   cn_net_preprocess(net, &mean) == CN_PREP_MEAN_IMAGE && !memcmp(mean, ds.mean, 784 * 4), "");
        cn_net_free(net);
        cn_dataset_free(&ds);
        memset(&ds, 0, sizeof ds);
        cn_dataset_load_mnist(ctx, &ds, FASHION, 0, 20, 10, 0); /* the same files read as MNIST */
        const char *num[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
        net = through_files(&ds, "conv2x3-relu-pool2-affine10", "mnist", 1);
        check_names("MNIST model: numbered classes", net, num, 10);
        cn_net_free(net);
        cn_dataset_free(&ds);
    } else {
        check_true("Fashion-MNIST names (skipped: no " FASHION ")", 1, "");
    }
}

int main(void) {
    ctx = cn_ctx_new(1);
    snprintf(dir, sizeof dir, "/tmp/cn_test_netinfo_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_synthetic();
    test_real();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    cn_ctx_free(ctx);
    return check_done();
}
