/* test_augment.c — seeded data augmentation and test-time augmentation:
 * every sample against a reference built the long way (an explicitly
 * padded image, mirrored, cropped), uint8/float32/float64 alike, batch
 * order and thread count do not matter, the draws' statistics (shift
 * uniform on [-pad, pad], random flip ~1/2, the alternating flip's exact
 * alternation), TTA variants against airbench's definition (pad by 1 with
 * reflect, crop, mirror the crop), weights, bad arguments. */
#include "check.h"
#include <string.h>

static cn_ctx *ctx, *ctx1;

static void expect_err(const char *name, int rc, int code, const char *needle) {
    const char *msg = cn_ctx_error(ctx);
    char buf[300];
    snprintf(buf, sizeof buf, "%s -> %d \"%s\"", name, rc, rc ? msg : "");
    check_true(buf, rc == code && (!needle || strstr(msg, needle)), NULL);
}

/* the padded image's value at (i, j) of a (H+2p) x (W+2p) canvas */
static double padded(const double *img, int H, int W, int p, int i, int j, int reflect) {
    int si = i - p, sj = j - p;
    if (si < 0 || si >= H || sj < 0 || sj >= W) {
        if (!reflect) return 0;
        if (si < 0) si = -si;
        if (si >= H) si = 2 * H - 2 - si;
        if (sj < 0) sj = -sj;
        if (sj >= W) sj = 2 * W - 2 - sj;
    }
    return img[si * W + sj];
}

/* The training augmentation: pad by p, mirror the padded canvas when flip,
 * crop H x W at (p + dy, p + dx). */
static void ref_aug(double *dst, const double *src, int C, int H, int W, int p, int reflect, int dy,
                    int dx, int flip) {
    const int PW = W + 2 * p;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int ci = p + dy + i, cj = p + dx + j;
                if (flip) cj = PW - 1 - cj;
                dst[(c * H + i) * W + j] = padded(src + c * H * W, H, W, p, ci, cj, reflect);
            }
}

static void per_sample(const char *what, cn_augment a, long epoch) {
    const int N = 97, C = 3, H = 8, W = 7, S = C * H * W;
    cn_rng r;
    cn_rng_seed(&r, 17);
    uint8_t *u = xmalloc((size_t)N * S), *uo = xmalloc((size_t)N * S), *uo1 = xmalloc((size_t)N * S);
    float *f = xmalloc(4 * (size_t)N * S), *fo = xmalloc(4 * (size_t)N * S);
    double *d = xmalloc(8 * (size_t)N * S), *dd = xmalloc(8 * (size_t)N * S), ref[168];
    int64_t *keys = xmalloc(8 * N), *keys2 = xmalloc(8 * N);
    for (int i = 0; i < N * S; i++) u[i] = (uint8_t)cn_rng_below(&r, 256);
    for (int i = 0; i < N * S; i++) f[i] = (float)u[i] - 120.5f, d[i] = (double)u[i] - 120.5;
    for (int i = 0; i < N; i++) keys[i] = 1000 + 7 * i;
    int rc = cn_augment_batch_u8(ctx, uo, u, keys, &a, epoch, N, C, H, W);
    rc |= cn_augment_batch_f32(ctx, fo, f, keys, &a, epoch, N, C, H, W);
    rc |= cn_augment_batch_f64(ctx, dd, d, keys, &a, epoch, N, C, H, W);
    int bad = 0, badu = 0, badf = 0, shifted = 0, flips = 0;
    double src[168];
    for (int n = 0; n < N; n++) {
        int dy, dx, fl;
        rc |= cn_augment_draw(ctx, &dy, &dx, &fl, &a, epoch, keys[n]);
        shifted += dy != 0 || dx != 0;
        flips += fl;
        /* the uint8 batch, zero padding with 0 */
        for (int i = 0; i < S; i++) src[i] = u[(size_t)n * S + i];
        ref_aug(ref, src, C, H, W, a.pad, a.pad_mode == CN_PAD_REFLECT, dy, dx, fl);
        for (int i = 0; i < S; i++) badu += uo[(size_t)n * S + i] != ref[i];
        /* the float batches (mean-subtracted: zero padding is the mean) */
        ref_aug(ref, d + (size_t)n * S, C, H, W, a.pad, a.pad_mode == CN_PAD_REFLECT, dy, dx, fl);
        for (int i = 0; i < S; i++) bad += dd[(size_t)n * S + i] != ref[i];
        for (int i = 0; i < S; i++) badf += fo[(size_t)n * S + i] != (float)ref[i];
    }
    char name[200];
    snprintf(name, sizeof name, "%s: every sample == padded/mirrored/cropped reference (u8, f32, f64)", what);
    char note[120];
    snprintf(note, sizeof note, "%d of %d shifted, %d flipped; mismatches u8 %d f32 %d f64 %d", shifted, N, flips, badu, badf, bad);
    check_true(name, !rc && !bad && !badu && !badf, note);
    /* batch order: the keys reversed give the rows reversed; 1 thread == 2 */
    for (int i = 0; i < N; i++) keys2[i] = keys[N - 1 - i];
    uint8_t *urev = xmalloc((size_t)N * S);
    for (int i = 0; i < N; i++) memcpy(urev + (size_t)i * S, u + (size_t)(N - 1 - i) * S, S);
    rc = cn_augment_batch_u8(ctx, uo1, urev, keys2, &a, epoch, N, C, H, W);
    int same = !rc;
    for (int i = 0; i < N; i++) same &= !memcmp(uo1 + (size_t)i * S, uo + (size_t)(N - 1 - i) * S, S);
    snprintf(name, sizeof name, "%s: batch order does not change a sample's transform", what);
    check_true(name, same, NULL);
    rc = cn_augment_batch_u8(ctx1, uo1, u, keys, &a, epoch, N, C, H, W);
    snprintf(name, sizeof name, "%s: 1 thread == 2 threads", what);
    check_true(name, !rc && !memcmp(uo1, uo, (size_t)N * S), NULL);
    free(u); free(uo); free(uo1); free(f); free(fo); free(d); free(dd); free(keys); free(keys2); free(urev);
}

/* Images wider than 1024 take the per-element path (no column map). */
static void wide(void) {
    const int N = 3, C = 2, H = 3, W = 1030, S = C * H * W;
    cn_rng r;
    cn_rng_seed(&r, 29);
    double *x = xmalloc(8 * (size_t)N * S), *o = xmalloc(8 * (size_t)N * S), *ref = xmalloc(8 * (size_t)S);
    fill_normal(&r, x, (size_t)N * S, 1);
    int bad = 0, rc = 0, flips = 0;
    for (int mode = 0; mode < 2; mode++) {
        cn_augment a = {31, 2, mode ? CN_PAD_REFLECT : CN_PAD_ZERO, CN_FLIP_RANDOM};
        rc |= cn_augment_batch_f64(ctx, o, x, NULL, &a, 2, N, C, H, W);
        for (int n = 0; n < N; n++) {
            int dy, dx, fl;
            rc |= cn_augment_draw(ctx, &dy, &dx, &fl, &a, 2, n);
            flips += fl;
            ref_aug(ref, x + (size_t)n * S, C, H, W, a.pad, mode, dy, dx, fl);
            for (int i = 0; i < S; i++) bad += o[(size_t)n * S + i] != ref[i];
        }
    }
    char note[64];
    snprintf(note, sizeof note, "%d of 6 flipped", flips);
    check_true("W=1030 (per-element path): zero and reflect pad, random flip == reference", !rc && !bad && flips > 0 && flips < 6, note);
    free(x); free(o); free(ref);
}

static void statistics(void) {
    const int K = 20000;
    cn_augment a = {42, 2, CN_PAD_REFLECT, CN_FLIP_RANDOM};
    int cy[5] = {0}, cx[5] = {0}, flips = 0, same01 = 0, rc = 0;
    for (int k = 0; k < K; k++) {
        int dy, dx, f0, f1;
        rc |= cn_augment_draw(ctx, &dy, &dx, &f0, &a, 0, k);
        cy[dy + 2]++;
        cx[dx + 2]++;
        flips += f0;
        rc |= cn_augment_draw(ctx, &dy, &dx, &f1, &a, 1, k);
        same01 += f0 == f1;
    }
    double worst = 0;
    for (int i = 0; i < 5; i++) worst = fmax(worst, fmax(fabs(cy[i] - K / 5.0), fabs(cx[i] - K / 5.0)) / (K / 5.0));
    check_le("shift uniform on [-2, 2]: worst relative count deviation (20000 draws, ~5 sigma tol)", rc ? 1 : worst, 0.07);
    check_le("random flip: fraction flipped - 1/2", rc ? 1 : fabs(flips / (double)K - 0.5), 0.02);
    check_le("random flip: epochs 0 and 1 agree on ~1/2 of the samples", rc ? 1 : fabs(same01 / (double)K - 0.5), 0.02);
    a.flip = CN_FLIP_ALTERNATE;
    int alt_ok = 1, half = 0;
    for (int k = 0; k < K; k++) {
        int dy, dx, f[4];
        for (int e = 0; e < 4; e++) rc |= cn_augment_draw(ctx, &dy, &dx, &f[e], &a, e + 10, k);
        alt_ok &= f[0] != f[1] && f[1] != f[2] && f[0] == f[2] && f[1] == f[3];
        half += f[0];
    }
    check_true("alternating flip: every sample flips on every other epoch", !rc && alt_ok, NULL);
    check_le("alternating flip: the even-epoch half is ~1/2 of the samples", fabs(half / (double)K - 0.5), 0.02);
    /* another seed gives other draws */
    cn_augment b = a;
    b.seed = 43;
    int differ = 0;
    for (int k = 0; k < 1000; k++) {
        int y1, x1, f1, y2, x2, f2;
        cn_augment_draw(ctx, &y1, &x1, &f1, &a, 0, k);
        cn_augment_draw(ctx, &y2, &x2, &f2, &b, 0, k);
        differ += y1 != y2 || x1 != x2 || f1 != f2;
    }
    char note[64];
    snprintf(note, sizeof note, "%d of 1000 differ (~900 expected)", differ);
    check_true("seed 42 vs 43: the draws differ", differ > 800, note);
    /* pad 0, no flip: a plain copy */
    cn_augment none = {1, 0, CN_PAD_ZERO, CN_FLIP_NONE};
    uint8_t s[2 * 3 * 4 * 4], o[2 * 3 * 4 * 4];
    for (int i = 0; i < (int)sizeof s; i++) s[i] = (uint8_t)(i * 37);
    rc = cn_augment_batch_u8(ctx, o, s, NULL, &none, 5, 2, 3, 4, 4);
    check_true("pad 0, no flip: the batch unchanged", !rc && !memcmp(o, s, sizeof s), NULL);
}

static void tta(void) {
    const int N = 3, C = 2, H = 5, W = 4, S = C * H * W;
    cn_rng r;
    cn_rng_seed(&r, 23);
    double x[120], v[6 * 120], ref[40], sh[40];
    fill_normal(&r, x, (size_t)N * S, 1);
    int rc = cn_tta_batch_f64(ctx, v, x, 2, N, C, H, W);
    static const int d[6] = {0, 0, -1, -1, 1, 1};
    int bad = 0;
    for (int k = 0; k < 6; k++)
        for (int n = 0; n < N; n++) {
            const double *img = x + n * S;
            /* airbench: padded = reflect-pad(x, 1); crop [1+d : 1+d+H]; mirror the crop */
            for (int c = 0; c < C; c++)
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < W; j++)
                        sh[(c * H + i) * W + j] = padded(img + c * H * W, H, W, 1, 1 + d[k] + i, 1 + d[k] + j, 1);
            for (int c = 0; c < C; c++)
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < W; j++)
                        ref[(c * H + i) * W + j] = sh[(c * H + i) * W + ((k & 1) ? W - 1 - j : j)];
            for (int i = 0; i < S; i++) bad += v[(size_t)k * N * S + n * S + i] != ref[i];
        }
    check_true("tta level 2: 6 variants == airbench's crops of the reflect-padded batch, mirrored", !rc && !bad, NULL);
    float x32[120], v32[2 * 120];
    to_f32(x32, x, 120);
    rc = cn_tta_batch_f32(ctx, v32, x32, 1, N, C, H, W);
    bad = 0;
    for (int i = 0; i < 2 * N * S; i++) bad += v32[i] != (float)v[i];
    check_true("tta level 1 f32: x and mirror(x) == the f64 level-2 variants 0, 1", !rc && !bad, NULL);
    double w[6], sum = 0;
    rc = cn_tta_weights(ctx, w, 2);
    for (int i = 0; i < 6; i++) sum += w[i];
    check_true("tta weights level 2 sum to 1, 1/4 for x and mirror", !rc && sum == 1 && w[0] == 0.25 && w[5] == 0.125, NULL);
    /* combine: scores of variant v = v + 1 -> sum w_v (v+1) */
    double vs[6 * 4], out[4];
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < 4; i++) vs[k * 4 + i] = (k + 1) * (i + 1);
    rc = cn_tta_combine_f64(ctx, out, vs, 2, 2, 2);
    double want = 0.25 * 1 + 0.25 * 2 + 0.125 * (3 + 4 + 5 + 6); /* = 3 */
    check_le("tta combine level 2 hand: weighted mean", rc ? 1 : fmax(fabs(out[0] - want), fabs(out[3] - 4 * want)), 1e-15);
    check_true("cn_tta_count 0,1,2,3 = 1,2,6,-1", cn_tta_count(0) == 1 && cn_tta_count(1) == 2 && cn_tta_count(2) == 6 && cn_tta_count(3) == -1, NULL);
    expect_err("tta level 3", cn_tta_batch_f64(ctx, v, x, 3, N, C, H, W), CN_EINVAL, "level=3");
    expect_err("tta level 2 on W=1", cn_tta_batch_f64(ctx, v, x, 2, N, C, H, 1), CN_EINVAL, "H, W >= 2");
    expect_err("tta combine K=0", cn_tta_combine_f32(ctx, v32, v32, 1, 3, 0), CN_EINVAL, "K=0");
}

int main(void) {
    ctx = cn_ctx_new(2);
    ctx1 = cn_ctx_new(1);
    per_sample("reflect pad 2, alternating flip, epoch 3", (cn_augment){7, 2, CN_PAD_REFLECT, CN_FLIP_ALTERNATE}, 3);
    per_sample("zero pad 3, random flip, epoch 0", (cn_augment){8, 3, CN_PAD_ZERO, CN_FLIP_RANDOM}, 0);
    per_sample("zero pad 9 > W, no flip", (cn_augment){9, 9, CN_PAD_ZERO, CN_FLIP_NONE}, 1);
    wide();
    statistics();
    tta();
    /* bad arguments */
    uint8_t b[2 * 3 * 4 * 4];
    cn_augment a = {1, 2, CN_PAD_REFLECT, CN_FLIP_RANDOM};
    expect_err("augment in place", cn_augment_batch_u8(ctx, b, b, NULL, &a, 0, 2, 3, 4, 4), CN_EINVAL, "overlap");
    uint8_t o[2 * 3 * 4 * 4];
    a.pad = 4;
    expect_err("reflect pad 4 on 4x4", cn_augment_batch_u8(ctx, o, b, NULL, &a, 0, 2, 3, 4, 4), CN_EINVAL, "pad=4 < H=4");
    a.pad = -1;
    expect_err("pad -1", cn_augment_batch_u8(ctx, o, b, NULL, &a, 0, 2, 3, 4, 4), CN_EINVAL, "pad=-1");
    a.pad = 1;
    a.flip = (cn_flip_mode)5;
    expect_err("flip 5", cn_augment_batch_u8(ctx, o, b, NULL, &a, 0, 2, 3, 4, 4), CN_EINVAL, "flip=5");
    a.flip = CN_FLIP_NONE;
    a.pad_mode = (cn_pad_mode)3;
    expect_err("pad_mode 3", cn_augment_batch_u8(ctx, o, b, NULL, &a, 0, 2, 3, 4, 4), CN_EINVAL, "pad_mode=3");
    a.pad_mode = CN_PAD_ZERO;
    expect_err("N=0", cn_augment_batch_u8(ctx, o, b, NULL, &a, 0, 0, 3, 4, 4), CN_EINVAL, "N=0");
    expect_err("NULL params", cn_augment_batch_u8(ctx, o, b, NULL, NULL, 0, 2, 3, 4, 4), CN_EINVAL, "NULL");
    cn_ctx_free(ctx);
    cn_ctx_free(ctx1);
    return check_done();
}
