/* input.c — an image of any size to a net's input size: scale to cover,
 * centre crop, channel conversion (see cn_image_fit in convnet.h). */
#include "internal.h"
#include <math.h>
#include <stdio.h>

/* Separable resampling taps: output index i of n_out reads src indices
 * first[i] .. first[i]+count[i]-1 with weights wt[i*maxt + k] (sum 1).
 * scale s = output pixels per source pixel, off = crop offset in output
 * pixels. s < 1: area (the box [ (i+off)/s, (i+off+1)/s ) with fractional
 * edge weights); s >= 1: bilinear at the pixel centre (i+off+0.5)/s - 0.5. */
typedef struct { int *first, *count; double *wt; int maxt; } taps;

static int make_taps(taps *t, int n_out, int n_src, double s, double off) {
    t->maxt = s < 1 ? (int)ceil(1.0 / s) + 2 : 2;
    t->first = malloc(sizeof(int) * (size_t)n_out);
    t->count = malloc(sizeof(int) * (size_t)n_out);
    t->wt = malloc(sizeof(double) * (size_t)n_out * t->maxt);
    if (!t->first || !t->count || !t->wt) return 0;
    for (int i = 0; i < n_out; i++) {
        double *w = t->wt + (size_t)i * t->maxt;
        if (s < 1) {
            double a = (i + off) / s, b = (i + off + 1) / s;
            if (a < 0) a = 0;
            if (b > n_src) b = n_src;
            if (b <= a) { a = fmin(a, n_src - 1); b = a + 1; } /* rounding at the edge */
            int k0 = (int)floor(a), k1 = (int)ceil(b);
            if (k0 < 0) k0 = 0;
            if (k1 > n_src) k1 = n_src;
            if (k1 - k0 > t->maxt) k1 = k0 + t->maxt;
            t->first[i] = k0;
            t->count[i] = k1 - k0;
            double sum = 0;
            for (int k = k0; k < k1; k++) sum += w[k - k0] = fmin(b, k + 1) - fmax(a, k);
            for (int k = 0; k < k1 - k0; k++) w[k] /= sum;
        } else {
            double x = (i + off + 0.5) / s - 0.5;
            if (x < 0) x = 0;
            if (x > n_src - 1) x = n_src - 1;
            int k0 = (int)floor(x);
            double f = x - k0;
            if (k0 >= n_src - 1 || f == 0) { t->first[i] = k0; t->count[i] = 1; w[0] = 1; }
            else { t->first[i] = k0; t->count[i] = 2; w[0] = 1 - f; w[1] = f; }
        }
    }
    return 1;
}

static void free_taps(taps *t) { free(t->first); free(t->count); free(t->wt); }

/* channel ch of the model's C channels at pixel p of a c-channel image */
static inline double fetch(const uint8_t *p, int c, int C, int ch) {
    if (c == C) return p[ch];
    if (C == 1) return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; /* c == 3: BT.601 luma */
    return p[0];                                                      /* c == 1, C == 3 */
}

int cn_image_fit(cn_ctx *ctx, uint8_t *dst, int C, int H, int W, const uint8_t *pix, int h, int w, int c) {
    if (!dst || !pix) return cn_error(ctx, CN_EINVAL, "cn_image_fit: NULL argument");
    if (C != 1 && C != 3) return cn_error(ctx, CN_EINVAL, "cn_image_fit: a net on %d channels (images give 1 or 3)", C);
    if (c != 1 && c != 3) return cn_error(ctx, CN_EINVAL, "cn_image_fit: an image with %d channels (expected 1 or 3)", c);
    if (H <= 0 || W <= 0 || h <= 0 || w <= 0 || H > 65536 || W > 65536 || h > 1 << 20 || w > 1 << 20)
        return cn_error(ctx, CN_EINVAL, "cn_image_fit: sizes %dx%d -> %dx%d out of range", h, w, H, W);
    double s = fmax((double)H / h, (double)W / w);
    /* the scaled image is (h*s) x (w*s) >= H x W; crop its centre */
    double oy = (h * s - H) / 2, ox = (w * s - W) / 2;
    if (oy < 0) oy = 0;
    if (ox < 0) ox = 0;
    taps ty = {0}, tx = {0};
    float *tmp = malloc(sizeof(float) * (size_t)h * W * C); /* horizontal pass: [C][h][W] */
    int rc = CN_OK;
    if (!tmp || !make_taps(&ty, H, h, s, oy) || !make_taps(&tx, W, w, s, ox)) {
        rc = cn_error(ctx, CN_ENOMEM, "cn_image_fit: out of memory for a %dx%d image", h, w);
        goto out;
    }
    for (int ch = 0; ch < C; ch++)
        for (int r = 0; r < h; r++)
            for (int j = 0; j < W; j++) {
                const double *wt = tx.wt + (size_t)j * tx.maxt;
                double v = 0;
                for (int k = 0; k < tx.count[j]; k++)
                    v += wt[k] * fetch(pix + ((size_t)r * w + tx.first[j] + k) * c, c, C, ch);
                tmp[((size_t)ch * h + r) * W + j] = (float)v;
            }
    for (int ch = 0; ch < C; ch++)
        for (int i = 0; i < H; i++) {
            const double *wt = ty.wt + (size_t)i * ty.maxt;
            for (int j = 0; j < W; j++) {
                double v = 0;
                for (int k = 0; k < ty.count[i]; k++) v += wt[k] * tmp[((size_t)ch * h + ty.first[i] + k) * W + j];
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                dst[((size_t)ch * H + i) * W + j] = (uint8_t)lrint(v);
            }
        }
out:
    free(tmp);
    free_taps(&ty);
    free_taps(&tx);
    return rc;
}
