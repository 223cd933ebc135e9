/* chart.c — line charts (loss and accuracy curves) drawn with cairo and
 * written as PNG: cn_plot_png. Part of libconvnet-plot, so that only
 * programs that draw charts link cairo (libconvnet itself does not). */
#include "../internal.h"
#include "convnet_plot.h"
#include <cairo.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

#define PLOT_W 800
#define PLOT_H 500

/* the series' colours (matplotlib's tab10), taken in turn */
static const double pal[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
    {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
    {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
    {0.090, 0.745, 0.812}};

/* The data ranges (padded) and the plot area in pixels: axes box at (L, T),
 * pw x ph; xs, ys the tick steps. */
typedef struct {
    double xmin, xmax, ymin, ymax, xs, ys;
    double L, T, pw, ph;
} frame;

static double px(const frame *f, double x) { return f->L + (x - f->xmin) / (f->xmax - f->xmin) * f->pw; }
static double py(const frame *f, double y) { return f->T + f->ph - (y - f->ymin) / (f->ymax - f->ymin) * f->ph; }

/* Point i of series s in (x, y); 0 when it is not finite (not drawn). */
static int point(const cn_series *s, int i, double *x, double *y) {
    *x = s->x ? s->x[i] : i;
    *y = s->y[i];
    return isfinite(*x) && isfinite(*y);
}

/* a "nice" tick step: 1, 2, 2.5 or 5 x 10^k giving about `target` ticks */
static double nice_step(double range, int target) {
    double raw = range / target;
    double p = pow(10.0, floor(log10(raw)));
    double m = raw / p;
    double s = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
    return s * p;
}

static void fmt_tick(char *buf, size_t cap, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    snprintf(buf, cap, "%.6g", v);
}

/* The data range over the finite points, padded, and the tick steps. */
static void data_frame(frame *f, const cn_series *s, int nseries, int titled) {
    double xmin = DBL_MAX, xmax = -DBL_MAX, ymin = DBL_MAX, ymax = -DBL_MAX;
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x, y;
            if (!point(&s[k], i, &x, &y)) continue;
            if (x < xmin) xmin = x;
            if (x > xmax) xmax = x;
            if (y < ymin) ymin = y;
            if (y > ymax) ymax = y;
        }
    if (xmin > xmax) { xmin = 0; xmax = 1; }
    if (ymin > ymax) { ymin = 0; ymax = 1; }
    if (xmax - xmin < 1e-12 * (fabs(xmin) + 1)) { xmin -= 0.5; xmax += 0.5; }
    if (ymax - ymin < 1e-12 * (fabs(ymin) + 1)) {
        double d = fabs(ymin) > 0 ? fabs(ymin) * 0.1 : 0.5;
        ymin -= d; ymax += d;
    }
    double ypad = (ymax - ymin) * 0.05, xpad = (xmax - xmin) * 0.02;
    ymin -= ypad; ymax += ypad;
    xmin -= xpad; xmax += xpad;
    double xs = nice_step(xmax - xmin, 8), ys = nice_step(ymax - ymin, 6);
    /* Implicit x (0, 1, 2, ...: epochs, iterations) gets whole-number ticks:
     * "Epoch 0.2" is a label for a point that does not exist. */
    int implicit_x = 1;
    for (int k = 0; k < nseries; k++) implicit_x &= s[k].x == NULL;
    if (implicit_x) xs = xs < 1 ? 1 : floor(xs);

    const double L = 80, R = 25, T = titled ? 45 : 20, B = 60;
    *f = (frame){xmin, xmax, ymin, ymax, xs, ys, L, T, PLOT_W - L - R, PLOT_H - T - B};
}

/* grid, ticks, tick labels and the axes box */
static void draw_axes(cairo_t *cr, const frame *f) {
    const double L = f->L, T = f->T, pw = f->pw, ph = f->ph;
    cairo_text_extents_t te;
    char buf[64];
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    for (double v = ceil(f->xmin / f->xs) * f->xs; v <= f->xmax + f->xs * 1e-9; v += f->xs) {
        double x = floor(px(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, x, T); cairo_line_to(cr, x, T + ph); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, x, T + ph); cairo_line_to(cr, x, T + ph + 5); cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, v, f->xs);
        cairo_text_extents(cr, buf, &te);
        cairo_move_to(cr, x - te.width / 2 - te.x_bearing, T + ph + 8 + te.height);
        cairo_show_text(cr, buf);
    }
    for (double v = ceil(f->ymin / f->ys) * f->ys; v <= f->ymax + f->ys * 1e-9; v += f->ys) {
        double y = floor(py(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, L, y); cairo_line_to(cr, L + pw, y); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, L - 5, y); cairo_line_to(cr, L, y); cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, v, f->ys);
        cairo_text_extents(cr, buf, &te);
        cairo_move_to(cr, L - 8 - te.width - te.x_bearing, y - te.y_bearing - te.height / 2);
        cairo_show_text(cr, buf);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L + 0.5, T + 0.5, pw, ph);
    cairo_stroke(cr);
}

/* the series' lines (broken at non-finite points) and markers, clipped to
 * the plot area */
static void draw_series(cairo_t *cr, const frame *f, const cn_series *s, int nseries) {
    cairo_save(cr);
    cairo_rectangle(cr, f->L, f->T, f->pw + 1, f->ph + 1);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int k = 0; k < nseries; k++) {
        const double *col = pal[k % 10];
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        cairo_set_line_width(cr, 1.5);
        int pen = 0;
        for (int i = 0; i < s[k].n; i++) {
            double x, y;
            if (!point(&s[k], i, &x, &y)) { pen = 0; continue; }
            if (pen) cairo_line_to(cr, px(f, x), py(f, y));
            else cairo_move_to(cr, px(f, x), py(f, y));
            pen = 1;
        }
        cairo_stroke(cr);
        if (s[k].markers) {
            double r = s[k].n > 200 ? 1.5 : 3;
            for (int i = 0; i < s[k].n; i++) {
                double x, y;
                if (!point(&s[k], i, &x, &y)) continue;
                cairo_new_sub_path(cr);
                cairo_arc(cr, px(f, x), py(f, y), r, 0, 2 * M_PI);
            }
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);
}

/* title and axis labels */
static void draw_labels(cairo_t *cr, const frame *f, const char *title, const char *xlabel,
                        const char *ylabel) {
    const double L = f->L, T = f->T, pw = f->pw, ph = f->ph;
    cairo_text_extents_t te;
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (title && *title) {
        cairo_set_font_size(cr, 16);
        cairo_text_extents(cr, title, &te);
        cairo_move_to(cr, L + pw / 2 - te.width / 2 - te.x_bearing, T - 14);
        cairo_show_text(cr, title);
    }
    cairo_set_font_size(cr, 13);
    if (xlabel && *xlabel) {
        cairo_text_extents(cr, xlabel, &te);
        cairo_move_to(cr, L + pw / 2 - te.width / 2 - te.x_bearing, PLOT_H - 12);
        cairo_show_text(cr, xlabel);
    }
    if (ylabel && *ylabel) {
        cairo_text_extents(cr, ylabel, &te);
        cairo_save(cr);
        cairo_move_to(cr, 20, T + ph / 2 + te.width / 2 + te.x_bearing);
        cairo_rotate(cr, -M_PI / 2);
        cairo_show_text(cr, ylabel);
        cairo_restore(cr);
    }
}

/* The legend of the labelled series, inside the axes in the corner whose
 * box covers the fewest data points (top right first). */
static void draw_legend(cairo_t *cr, const frame *f, const cn_series *s, int nseries) {
    const double L = f->L, T = f->T, pw = f->pw, ph = f->ph;
    cairo_text_extents_t te;
    int nl = 0;
    double lw = 0;
    cairo_set_font_size(cr, 12);
    for (int k = 0; k < nseries; k++)
        if (s[k].label && *s[k].label) {
            cairo_text_extents(cr, s[k].label, &te);
            if (te.x_advance > lw) lw = te.x_advance;
            nl++;
        }
    if (nl == 0) return;
    double rowh = 18, bw = lw + 50, bh = nl * rowh + 8;
    double bx = L + pw - bw - 10, by = T + 10;
    long best = -1;
    for (int corner = 0; corner < 4; corner++) {
        double cx = corner & 1 ? L + 10 : L + pw - bw - 10;
        double cy = corner & 2 ? T + ph - bh - 10 : T + 10;
        long cnt = 0;
        for (int k = 0; k < nseries; k++)
            for (int i = 0; i < s[k].n; i++) {
                double x, y;
                if (!point(&s[k], i, &x, &y)) continue;
                double qx = px(f, x), qy = py(f, y);
                cnt += qx >= cx - 4 && qx <= cx + bw + 4 && qy >= cy - 4 && qy <= cy + bh + 4;
            }
        if (best < 0 || cnt < best) { best = cnt; bx = cx; by = cy; }
    }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    int row = 0;
    for (int k = 0; k < nseries; k++) {
        if (!s[k].label || !*s[k].label) continue;
        const double *col = pal[k % 10];
        double cy = by + 4 + rowh * row + rowh / 2;
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, bx + 8, cy); cairo_line_to(cr, bx + 34, cy); cairo_stroke(cr);
        if (s[k].markers) {
            cairo_arc(cr, bx + 21, cy, 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_text_extents(cr, s[k].label, &te);
        cairo_move_to(cr, bx + 40, cy - te.y_bearing - te.height / 2);
        cairo_show_text(cr, s[k].label);
        row++;
    }
}

/* cairo's RGB24 surface (one native-endian 0x00RRGGBB word per pixel) as
 * packed RGB bytes rgb[PLOT_H, PLOT_W, 3] */
static void surface_rgb(uint8_t *rgb, cairo_surface_t *surf) {
    const unsigned char *data = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (int y = 0; y < PLOT_H; y++) {
        const uint32_t *row = (const uint32_t *)(data + (size_t)y * stride);
        for (int x = 0; x < PLOT_W; x++) {
            uint32_t p = row[x];
            uint8_t *o = rgb + ((size_t)y * PLOT_W + x) * 3;
            o[0] = (uint8_t)(p >> 16); o[1] = (uint8_t)(p >> 8); o[2] = (uint8_t)p;
        }
    }
}

int cn_plot_png(cn_ctx *ctx, const char *path, const char *title, const char *xlabel,
                const char *ylabel, const cn_series *s, int nseries) {
    if (!path || nseries < 0 || (nseries > 0 && !s))
        return cn_error(ctx, CN_EINVAL, "cn_plot_png: bad arguments");
    for (int k = 0; k < nseries; k++)
        if (s[k].n < 0 || (s[k].n > 0 && !s[k].y))
            return cn_error(ctx, CN_EINVAL, "cn_plot_png: series %d has n=%d and %s y", k,
                          s[k].n, s[k].y ? "a" : "no");
    frame f;
    data_frame(&f, s, nseries, title && *title);

    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PLOT_W, PLOT_H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return cn_error(ctx, CN_ENOMEM, "cn_plot_png: cannot create a %dx%d surface", PLOT_W,
                      PLOT_H);
    }
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    draw_axes(cr, &f);
    draw_series(cr, &f, s, nseries);
    draw_labels(cr, &f, title, xlabel, ylabel);
    draw_legend(cr, &f, s, nseries);
    cairo_surface_flush(surf);
    int rc = CN_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        rc = cn_error(ctx, CN_ENOMEM, "cn_plot_png: drawing failed: %s",
                    cairo_status_to_string(cairo_status(cr)));
    uint8_t *rgb = rc ? NULL : malloc((size_t)PLOT_W * PLOT_H * 3);
    if (!rc && !rgb) rc = cn_error(ctx, CN_ENOMEM, "cn_plot_png: out of memory");
    if (!rc) surface_rgb(rgb, surf);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    if (!rc) rc = cn_image_write_png(ctx, path, rgb, PLOT_H, PLOT_W, 3);
    free(rgb);
    return rc;
}
