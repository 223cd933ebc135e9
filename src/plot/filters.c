/* filters.c — a conv layer's filters as a grid picture (cn_filters_png), as
 * the original notebook's visualize_grid shows the first layer. Part of
 * libconvnet-plot (the pictures); the PNG is written by the library's
 * cn_image_write_png. */
#include "../internal.h"
#include "convnet_plot.h"
#include <float.h>
#include <math.h>

/* the largest picture side, the limit image.c puts on the images it reads */
#define GRID_MAX_SIDE 16384

int cn_filters_png(cn_ctx *ctx, const char *path, const float *w, int F, int C, int HH,
                   int WW, int scale) {
    if (!path || !w) return cn_error(ctx, CN_EINVAL, "cn_filters_png: NULL argument");
    if (F <= 0 || HH <= 0 || WW <= 0 || (C != 1 && C != 3) || scale < 1)
        return cn_error(ctx, CN_EINVAL,
                      "cn_filters_png: F=%d C=%d HH=%d WW=%d scale=%d; expected positive "
                      "sizes, C 1 or 3", F, C, HH, WW, scale);
    int n = (int)ceil(sqrt((double)F));
    while (n * n < F) n++;
    while (n > 1 && (n - 1) * (n - 1) >= F) n--;
    long gh = (long)n * HH + (n - 1), gw = (long)n * WW + (n - 1);
    if (gh * scale > GRID_MAX_SIDE || gw * scale > GRID_MAX_SIDE)
        return cn_error(ctx, CN_EINVAL,
                      "cn_filters_png: picture %ldx%ld exceeds %d per side", gh * scale,
                      gw * scale, GRID_MAX_SIDE);
    long H = gh * scale, W = gw * scale;
    uint8_t *pix = calloc((size_t)H * W * C, 1); /* gaps are black, as the original */
    if (!pix) return cn_error(ctx, CN_ENOMEM, "cn_filters_png: out of memory");
    size_t fs = (size_t)C * HH * WW;
    for (int f = 0; f < F; f++) {
        const float *wf = w + (size_t)f * fs;
        double lo = DBL_MAX, hi = -DBL_MAX;
        for (size_t k = 0; k < fs; k++)
            if (isfinite(wf[k])) {
                if (wf[k] < lo) lo = wf[k];
                if (wf[k] > hi) hi = wf[k];
            }
        double sc = hi > lo ? 255.0 / (hi - lo) : 0.0;
        int gy = f / n, gx = f % n;
        for (int i = 0; i < HH; i++)
            for (int j = 0; j < WW; j++)
                for (int ch = 0; ch < C; ch++) {
                    float v = wf[((size_t)ch * HH + i) * WW + j];
                    double s = isfinite(v) ? (v - lo) * sc : 0.0;
                    uint8_t u = (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s + 0.5);
                    long y0 = ((long)gy * (HH + 1) + i) * scale;
                    long x0 = ((long)gx * (WW + 1) + j) * scale;
                    for (int a = 0; a < scale; a++)
                        for (int b = 0; b < scale; b++)
                            pix[((size_t)(y0 + a) * W + (x0 + b)) * C + ch] = u;
                }
    }
    int rc = cn_image_write_png(ctx, path, pix, (int)H, (int)W, C);
    free(pix);
    return rc;
}
