/* test_predict.c — images of any size to a net's input (cn_image_fit) and
 * `convnet predict` end to end.
 *   cn_image_fit against naive references written here: an image of the
 *   net's size comes back unchanged; a taller image is centre-cropped; 2x and
 *   3x shrinks are the block means; a 2x enlargement is bilinear at pixel
 *   centres; RGB -> 1 channel is the BT.601 luma; gray -> 3 channels repeats.
 *   predict: PNGs written from "training images" of a model (3-channel and
 *   1-channel, and the same image at twice the size) give, in --json, the
 *   scores of the library's forward on the training's preprocessed tensor
 *   (pixel - stored mean, through cn_split_batch_f32), their softmax and the
 *   stored class names; broken inputs give exit 1 and a message naming the
 *   file; a model without recorded preprocessing is refused. */
#include "cli_util.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static cn_ctx *ctx;
static char dir[64], convnet[512];

/* ---- cn_image_fit ---------------------------------------------------- */
static void rand_img(cn_rng *r, uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)cn_rng_below(r, 256);
}

/* max |dst - ref| over CHW, ref in double before rounding */
static double fit_err(const uint8_t *dst, const double *ref, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(dst[i] - ref[i]));
    return e;
}

static void test_fit(void) {
    cn_rng r;
    cn_rng_seed(&r, 7);
    enum { S = 32 };
    uint8_t *src = xmalloc(96 * 96 * 3), out[3 * S * S];
    double ref[3 * S * S];
    /* identity: HWC in, CHW out */
    rand_img(&r, src, S * S * 3);
    int rc = cn_image_fit(ctx, out, 3, S, S, src, S, S, 3);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++) ref[c * S * S + i] = src[i * 3 + c];
    check_le("fit: 32x32 RGB into (3,32,32) is the image itself (CHW)", rc ? 1e9 : fit_err(out, ref, 3 * S * S), 0);
    /* crop: 64 rows x 32 columns -> rows 16..47 */
    rand_img(&r, src, 64 * S * 3);
    rc = cn_image_fit(ctx, out, 3, S, S, src, 64, S, 3);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) ref[(c * S + i) * S + j] = src[((i + 16) * S + j) * 3 + c];
    check_le("fit: 64x32 (h x w) -> centre crop rows 16..47", rc ? 1e9 : fit_err(out, ref, 3 * S * S), 0);
    /* shrinks: k x k block means (within rounding: 0.5) */
    for (int k = 2; k <= 3; k++) {
        int n = S * k;
        rand_img(&r, src, (size_t)n * n * 3);
        rc = cn_image_fit(ctx, out, 3, S, S, src, n, n, 3);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    double a = 0;
                    for (int u = 0; u < k; u++)
                        for (int v = 0; v < k; v++) a += src[((i * k + u) * n + j * k + v) * 3 + c];
                    ref[(c * S + i) * S + j] = a / (k * k);
                }
        char nm[80];
        snprintf(nm, sizeof nm, "fit: %dx%d -> 32x32 is the %dx%d block mean (area)", n, n, k, k);
        check_le(nm, rc ? 1e9 : fit_err(out, ref, 3 * S * S), 0.5 + 1e-9);
    }
    /* enlarge 16 -> 32: bilinear at centres x = (j + 0.5)/2 - 0.5, clamped */
    rand_img(&r, src, 16 * 16 * 3);
    rc = cn_image_fit(ctx, out, 3, S, S, src, 16, 16, 3);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                double y = fmin(fmax((i + 0.5) / 2 - 0.5, 0), 15), x = fmin(fmax((j + 0.5) / 2 - 0.5, 0), 15);
                int y0 = (int)y, x0 = (int)x, y1 = y0 < 15 ? y0 + 1 : 15, x1 = x0 < 15 ? x0 + 1 : 15;
                double fy = y - y0, fx = x - x0;
#define P(yy, xx) src[((yy) * 16 + (xx)) * 3 + c]
                ref[(c * S + i) * S + j] = (1 - fy) * ((1 - fx) * P(y0, x0) + fx * P(y0, x1)) +
                                           fy * ((1 - fx) * P(y1, x0) + fx * P(y1, x1));
#undef P
            }
    check_le("fit: 16x16 -> 32x32 is bilinear at pixel centres", rc ? 1e9 : fit_err(out, ref, 3 * S * S), 0.5 + 1e-9);
    /* channels */
    rand_img(&r, src, S * S * 3);
    rc = cn_image_fit(ctx, out, 1, S, S, src, S, S, 3);
    for (int i = 0; i < S * S; i++) ref[i] = 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2];
    check_le("fit: RGB -> 1 channel is 0.299 R + 0.587 G + 0.114 B", rc ? 1e9 : fit_err(out, ref, S * S), 0.5 + 1e-9);
    rc = cn_image_fit(ctx, out, 3, S, S, src, S, S, 1);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++) ref[c * S * S + i] = src[i];
    check_le("fit: gray -> 3 channels repeats it", rc ? 1e9 : fit_err(out, ref, 3 * S * S), 0);
    /* a 1000x7 strip into 28x28: no crash, covers (scale 4) */
    uint8_t *strip = xmalloc(1000 * 7);
    rand_img(&r, strip, 1000 * 7);
    check_true("fit: 1000x7 strip into 28x28", cn_image_fit(ctx, out, 1, 28, 28, strip, 1000, 7, 1) == CN_OK, cn_ctx_error(ctx));
    free(strip);
    check_true("fit: a 2-channel net -> CN_EINVAL", cn_image_fit(ctx, out, 2, S, S, src, S, S, 3) == CN_EINVAL, cn_ctx_error(ctx));
    check_true("fit: a 4-channel image -> CN_EINVAL", cn_image_fit(ctx, out, 3, S, S, src, S, S, 4) == CN_EINVAL, cn_ctx_error(ctx));
    free(src);
}

/* ---- convnet predict -------------------------------------------------- */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = xmalloc(1 << 20);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

/* run convnet with args; stdout and stderr into buffers; exit status */
static int run(const char *args, char **out, char **err) {
    char cmd[4096], o[128], e[128];
    snprintf(o, sizeof o, "%s/out.txt", dir);
    snprintf(e, sizeof e, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", convnet, args, o, e);
    int st = system(cmd);
    *out = slurp(o);
    *err = slurp(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* the numbers after "key":[ in s */
static int json_array(const char *s, const char *key, double *v, int max) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":[", key);
    const char *p = s ? strstr(s, k) : NULL;
    if (!p) return -1;
    p += strlen(k);
    int n = 0;
    while (n < max && *p && *p != ']') {
        char *end;
        v[n++] = strtod(p, &end);
        if (end == p) return -1;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* A random net on (C,28,28) or (C,32,32) with a mean image and names. */
static cn_net *make_model(const char *spec, int C, int H, int W, const char *path, cn_rng *r) {
    cn_net *net;
    if (cn_net_new(ctx, &net, spec, C, H, W, CN_F32, 2e-2, 0, r)) return NULL;
    size_t D = (size_t)C * H * W;
    float *mean = xmalloc(D * sizeof(float));
    for (size_t k = 0; k < D; k++) mean[k] = (float)(100 + 50 * cn_rng_uniform(r));
    const char *names[4] = {"cat", "dog \"big\"", "bird", "frog"};
    cn_net_set_preprocess(ctx, net, mean);
    cn_net_set_class_names(ctx, net, names, 4);
    free(mean);
    if (cn_net_save(ctx, net, path, NULL, 0)) { cn_net_free(net); return NULL; }
    return net;
}

static void predict_case(const char *what, cn_net *net, const char *model, const uint8_t *img, int scale, cn_rng *r) {
    (void)r;
    int C, H, W;
    cn_net_input(net, &C, &H, &W);
    /* the truth: the library's forward on the training's conversion of img */
    float x[3 * 32 * 32], sc[4];
    const float *mean;
    cn_net_preprocess(net, &mean);
    uint8_t lab = 0;
    cn_split one = {1, C, H, W, (uint8_t *)img, &lab};
    int32_t idx = 0, y;
    cn_split_batch_f32(ctx, &one, mean, &idx, 1, x, &y);
    cn_net_loss(ctx, net, NULL, sc, x, NULL, 1);
    /* the PNG: HWC, each pixel repeated scale x scale */
    int h = H * scale, w = W * scale;
    uint8_t *hwc = xmalloc((size_t)h * w * C);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int c = 0; c < C; c++) hwc[((size_t)i * w + j) * C + c] = img[((size_t)c * H + i / scale) * W + j / scale];
    char png[128], args[512], nm[160];
    snprintf(png, sizeof png, "%s/img%d.png", dir, scale);
    cn_image_write_png(ctx, png, hwc, h, w, C);
    free(hwc);
    snprintf(args, sizeof args, "predict --model %s --json --top 2 %s", model, png);
    char *out, *err;
    int st = run(args, &out, &err);
    double got[8];
    int n = json_array(out, "scores", got, 8);
    double e = n == 4 ? 0 : 1e9, m = 0;
    for (int k = 0; k < 4 && n == 4; k++) { e = fmax(e, fabs(got[k] - sc[k])); m = fmax(m, fabs(sc[k])); }
    snprintf(nm, sizeof nm, "predict %s: exit 0", what);
    check_true(nm, st == 0, st ? err : "");
    snprintf(nm, sizeof nm, "predict %s: --json scores = forward on pixel - mean (scaled)", what);
    check_le(nm, e / (m > 1e-30 ? m : 1), 1e-6);
    /* top-1: the name and softmax probability */
    int best = 0;
    double sum = 0;
    for (int k = 1; k < 4; k++) if (sc[k] > sc[best]) best = k;
    for (int k = 0; k < 4; k++) sum += exp(sc[k] - sc[best]);
    char name[64], want[200];
    cn_net_class_name(net, best, name, sizeof name);
    snprintf(want, sizeof want, "\"top\":[{\"class\":\"%s\",\"index\":%d,\"probability\":",
             !strcmp(name, "dog \"big\"") ? "dog \\\"big\\\"" : name, best);
    const char *p = out ? strstr(out, want) : NULL;
    double prob = p ? atof(p + strlen(want)) : -1;
    snprintf(nm, sizeof nm, "predict %s: top-1 class name and softmax probability", what);
    check_le(nm, p ? fabs(prob - 1 / sum) : 1e9, 1e-7);
    free(out);
    free(err);
}

static void test_predict(void) {
    cn_rng r;
    cn_rng_seed(&r, 11);
    char m3[128], m1[128];
    snprintf(m3, sizeof m3, "%s/rgb.safetensors", dir);
    snprintf(m1, sizeof m1, "%s/gray.safetensors", dir);
    cn_net *n3 = make_model("conv4x3-relu-pool2-affine8-relu-affine4", 3, 32, 32, m3, &r);
    cn_net *n1 = make_model("conv4x5-bn-relu-pool2-affine4", 1, 28, 28, m1, &r);
    if (!check_true("models saved", n3 && n1, n3 && n1 ? "" : cn_ctx_error(ctx))) return;
    uint8_t img3[3 * 32 * 32], img1[28 * 28];
    rand_img(&r, img3, sizeof img3);
    rand_img(&r, img1, sizeof img1);
    predict_case("RGB 32x32", n3, m3, img3, 1, &r);
    predict_case("RGB 64x64 (area 2x)", n3, m3, img3, 2, &r);
    predict_case("gray 28x28", n1, m1, img1, 1, &r);
    predict_case("gray 84x84 (area 3x)", n1, m1, img1, 3, &r);

    /* broken inputs */
    char p[128], args[600], *out, *err;
    struct { const char *name, *bytes; size_t n; const char *want; } bad[] = {
        {"text.png", "hello, world\n", 13, "not a PNG or JPEG"},
        {"empty.jpg", "", 0, "empty.jpg"},
        {"trunc.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0", 18, "trunc.png"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, bad[i].name);
        FILE *f = fopen(p, "wb");
        if (f) { if (bad[i].n) fwrite(bad[i].bytes, 1, bad[i].n, f); fclose(f); }
        snprintf(args, sizeof args, "predict --model %s %s %s/img1.png", m3, p, dir);
        int st = run(args, &out, &err);
        char nm[120];
        snprintf(nm, sizeof nm, "predict %s: exit 1, message names it, the good image still classified", bad[i].name);
        check_true(nm, st == 1 && err && strstr(err, bad[i].want) && out && strstr(out, "img1.png"), err);
        free(out); free(err);
    }
    snprintf(args, sizeof args, "predict --model %s %s/missing.png", m3, dir);
    int st = run(args, &out, &err);
    check_true("predict missing.png: exit 1, 'cannot open'", st == 1 && err && strstr(err, "missing.png") &&
               strstr(err, "cannot open"), err);
    free(out); free(err);
    snprintf(args, sizeof args, "predict --model %s --top 0 %s/img1.png", m3, dir);
    st = run(args, &out, &err);
    check_true("predict --top 0: exit 2", st == 2 && err && strstr(err, "--top"), err);
    free(out); free(err);
    /* a model without recorded preprocessing (only spec, input, parameters) */
    cn_tensor t[16];
    int nt = cn_net_num_params(n3);
    for (int i = 0; i < nt; i++) {
        const cn_param *q = cn_net_param_at(n3, i);
        t[i] = (cn_tensor){q->name, CN_F32, 0, q->ndim, {q->shape[0], q->shape[1], q->shape[2], q->shape[3]}, q->data};
    }
    cn_meta meta[] = {{"spec", cn_net_spec(n3)}, {"input", "3,32,32"}};
    snprintf(p, sizeof p, "%s/old.safetensors", dir);
    cn_st_save(ctx, p, t, nt, meta, 2);
    snprintf(args, sizeof args, "predict --model %s %s/img1.png", p, dir);
    st = run(args, &out, &err);
    check_true("predict with an old model (no preprocessing): exit 1, says so", st == 1 && err &&
               strstr(err, "preprocessing"), err);
    free(out); free(err);
    cn_net_free(n3);
    cn_net_free(n1);
}

int main(int argc, char **argv) {
    (void)argc;
    ctx = cn_ctx_new(1);
    int found = cli_find_convnet(argv[0], convnet, sizeof convnet);
    snprintf(dir, sizeof dir, "/tmp/cn_test_predict_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_fit();
    if (check_true("convnet binary found", found, convnet)) test_predict();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    cn_ctx_free(ctx);
    return check_done();
}
