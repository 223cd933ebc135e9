/*
 * convnet_plot.h — the public header of libconvnet-plot: the pictures.
 *
 * A separate library beside libconvnet so that a program that only trains
 * or classifies does not link cairo: the charts draw with cairo, and the
 * rest of this library is built on libconvnet's public functions (images,
 * convolution). Link it before libconvnet:
 *     cc prog.c -lconvnet-plot -lconvnet     (pkg-config: convnet-plot)
 * The conventions are convnet.h's: an int status, the message in the ctx.
 */
#ifndef CONVNET_PLOT_H
#define CONVNET_PLOT_H

#include "convnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* First-layer filters w[F, C, HH, WW] (C = 1 or 3) as a grid picture: each
 * filter scaled to 0..255 on its own, ceil(sqrt(F)) per side, 1-pixel
 * gaps, upscaled by `scale` (nearest). */
int cn_filters_png(cn_ctx *ctx, const char *path, const float *w, int F,
                   int C, int HH, int WW, int scale);
/* A line chart PNG: nseries series of n_i points (x = 0..n_i-1 scaled to
 * x_max, or the given xs), with a title, axis labels and a legend. */
typedef struct {
    const char *label;
    const double *y;
    const double *x;   /* NULL: 0, 1, 2, ... */
    int n;
    int markers;       /* draw dots at the points */
} cn_series;
int cn_plot_png(cn_ctx *ctx, const char *path, const char *title,
                const char *xlabel, const char *ylabel, const cn_series *s,
                int nseries);
/* The original's convolution demo: photos resized to 200x200, a grayscale
 * filter and a horizontal edge filter (on the blue channel) applied by
 * cn_conv_forward_naive_f32 (as the notebook's conv_forward_naive); rows
 * of original | grayscale | edges, written as one PNG. */
int cn_edges_demo(cn_ctx *ctx, const char *out_png, const char *const *paths,
                  int npaths);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_PLOT_H */
