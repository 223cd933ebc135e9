/* edges.c — the original notebook's convolution demo (cn_edges_demo): photos
 * centre-cropped and resized to 200x200, a grayscale filter and a horizontal
 * edge filter applied by the library's convolution, rows of original |
 * grayscale | edges written as one PNG. Part of libconvnet-plot. */
#include "../internal.h"
#include "convnet_plot.h"

#define DEMO_SIZE 200
#define DEMO_GAP 4

/* read, center-crop to a square, resize to DEMO_SIZE, as [3][S][S] floats */
static int demo_load(cn_ctx *ctx, const char *path, float *x, uint8_t *rgb) {
    uint8_t *pix;
    int h, w, c;
    int rc = cn_image_read(ctx, path, &pix, &h, &w, &c);
    if (rc) return rc;
    int side = h < w ? h : w;
    int oy = (h - side) / 2, ox = (w - side) / 2;
    uint8_t *sq = malloc((size_t)side * side * 3);
    if (!sq) {
        free(pix);
        return cn_error(ctx, CN_ENOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < side; i++)
        for (int j = 0; j < side; j++)
            for (int k = 0; k < 3; k++)
                sq[((size_t)i * side + j) * 3 + k] =
                    pix[((size_t)(oy + i) * w + (ox + j)) * c + (c == 3 ? k : 0)];
    free(pix);
    rc = cn_image_resize(ctx, rgb, DEMO_SIZE, DEMO_SIZE, sq, side, side, 3);
    free(sq);
    if (rc) return rc;
    const int P = DEMO_SIZE * DEMO_SIZE;
    for (int p = 0; p < P; p++)
        for (int k = 0; k < 3; k++) x[k * P + p] = rgb[p * 3 + k];
    return CN_OK;
}

int cn_edges_demo(cn_ctx *ctx, const char *out_png, const char *const *paths, int npaths) {
    if (!out_png || !paths || npaths <= 0 || npaths > 64)
        return cn_error(ctx, CN_EINVAL, "cn_edges_demo: expected 1..64 image paths, got %d",
                      npaths);
    /* the original's filters w[2][3][3][3], b[2] */
    float wt[2][3][3][3] = {{{{0}}}};
    wt[0][0][1][1] = 0.3f;
    wt[0][1][1][1] = 0.6f;
    wt[0][2][1][1] = 0.1f;
    const float edge[3][3] = {{1, 2, 1}, {0, 0, 0}, {-1, -2, -1}};
    memcpy(wt[1][2], edge, sizeof edge);
    const float bias[2] = {0, 128};

    const int S = DEMO_SIZE, P = S * S;
    /* one photo x[1, 3, S, S] through both filters: stride 1, zero pad 1 */
    const cn_conv_shape cs = {.N = 1, .C = 3, .H = S, .W = S, .F = 2, .HH = 3, .WW = 3,
                              .stride = 1, .pad = 1};
    const int OW = 3 * S + 2 * DEMO_GAP, OH = npaths * S + (npaths - 1) * DEMO_GAP;
    uint8_t *out = malloc((size_t)OW * OH * 3);
    float *x = malloc(sizeof(float) * 3 * P);
    float *y = malloc(sizeof(float) * 2 * P);
    uint8_t *rgb = malloc((size_t)P * 3);
    if (!out || !x || !y || !rgb) {
        free(out); free(x); free(y); free(rgb);
        return cn_error(ctx, CN_ENOMEM, "cn_edges_demo: out of memory");
    }
    memset(out, 255, (size_t)OW * OH * 3); /* white gaps */
    int rc = CN_OK;
    for (int n = 0; n < npaths && !rc; n++) {
        if (!paths[n]) { rc = cn_error(ctx, CN_EINVAL, "cn_edges_demo: path %d is NULL", n); break; }
        if ((rc = demo_load(ctx, paths[n], x, rgb))) break;
        int top = n * (S + DEMO_GAP);
        for (int i = 0; i < S; i++)
            memcpy(out + ((size_t)(top + i) * OW) * 3, rgb + (size_t)i * S * 3, (size_t)S * 3);
        /* The notebook calls conv_forward_naive; so does this: its sums run
         * in a fixed order (bias, then channel, row, column of the window)
         * at every SIMD level, so the picture is the same on every CPU. */
        if ((rc = cn_conv_forward_naive_f32(ctx, y, x, &wt[0][0][0][0], bias, &cs))) break;
        for (int f = 0; f < 2; f++) {
            int left = (f + 1) * (S + DEMO_GAP);
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    float acc = y[(size_t)f * P + i * S + j];
                    uint8_t v = (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc + 0.5f);
                    uint8_t *o = out + ((size_t)(top + i) * OW + left + j) * 3;
                    o[0] = o[1] = o[2] = v;
                }
        }
    }
    if (!rc) rc = cn_image_write_png(ctx, out_png, out, OH, OW, 3);
    free(out); free(x); free(y); free(rgb);
    return rc;
}
