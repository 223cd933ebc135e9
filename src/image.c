/* image.c — JPEG/PNG reading, atomic PNG writing, bilinear resize, and the
 * pictures: first-layer filter grids, line charts (cairo) and the
 * convolution demo of the original notebook (grayscale + edge filters). */
#include "internal.h"
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <unistd.h>
/* libjpeg's headers need stdio.h (FILE) first */
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#define IMG_MAX_SIDE 16384
/* libjpeg's own buffers (a progressive JPEG keeps every coefficient of the
 * image: 2 bytes per pixel and component); beyond this it fails instead */
#define JPEG_MAX_MEMORY (512L << 20)

/* ------------------------------------------------------------------- PNG */

typedef struct {
    jmp_buf jb;
    char msg[200];
} png_err;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}
static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png; (void)msg; /* the library never prints */
}

int cn_image_write_png(cn_ctx *ctx, const char *path, const uint8_t *pix, int h, int w,
                       int c) {
    if (!path || !pix) return CN_ERR(ctx, CN_EINVAL, "cn_image_write_png: NULL argument");
    if (h <= 0 || w <= 0 || h > 1000000 || w > 1000000)
        return CN_ERR(ctx, CN_EINVAL, "%s: image size %dx%d, expected 1..1000000 per side",
                      path, h, w);
    int ct;
    switch (c) {
    case 1: ct = PNG_COLOR_TYPE_GRAY; break;
    case 3: ct = PNG_COLOR_TYPE_RGB; break;
    case 4: ct = PNG_COLOR_TYPE_RGB_ALPHA; break;
    default: return CN_ERR(ctx, CN_EINVAL, "%s: %d channels, expected 1, 3 or 4", path, c);
    }
    /* the shared atomic writer (atomic.c) */
    cn__atomic a;
    int rc = cn__atomic_open(ctx, &a, path);
    if (rc) return rc;
    png_err err;
    err.msg[0] = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_err_fn,
                                              png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        cn__atomic_abort(&a);
        return CN_ERR(ctx, CN_ENOMEM, "%s: cannot create a PNG writer", path);
    }
    if (setjmp(err.jb)) {
        /* libpng's own message is "Write Error"; errno from its fwrite says why */
        int e = errno;
        png_destroy_write_struct(&png, &info);
        return cn__atomic_fail(ctx, &a, "write", e);
    }
    png_init_io(png, a.f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, ct, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)w * c;
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(pix + (size_t)y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return cn__atomic_commit(ctx, &a);
}

/* Grow a pixel buffer to hold `rows` rows (rows arrive one at a time, so a
 * tiny file declaring a huge image allocates only what it really holds). */
static int grow_rows(cn_ctx *ctx, uint8_t **buf, int *cap_rows, int need, int h,
                     size_t stride, const char *path) {
    if (need <= *cap_rows) return CN_OK;
    int nc = *cap_rows ? *cap_rows * 2 : 64;
    if (nc < need) nc = need;
    if (nc > h) nc = h;
    uint8_t *p = realloc(*buf, (size_t)nc * stride);
    if (!p) return CN_ERR(ctx, CN_ENOMEM, "%s: cannot allocate %zu bytes", path, (size_t)nc * stride);
    *buf = p;
    *cap_rows = nc;
    return CN_OK;
}

static int read_png(cn_ctx *ctx, FILE *f, const char *path, uint8_t **pix, int *ph, int *pw,
                    int *pc) {
    png_err err;
    err.msg[0] = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_err_fn,
                                             png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        return CN_ERR(ctx, CN_ENOMEM, "%s: cannot create a PNG reader", path);
    }
    uint8_t *volatile buf = NULL;
    volatile int rc = CN_OK;
    if (setjmp(err.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buf);
        if (rc) return rc;
        return CN_ERR(ctx, CN_EFORMAT, "%s: bad or truncated PNG: %s", path, err.msg);
    }
    png_init_io(png, f);
    png_set_user_limits(png, IMG_MAX_SIDE, IMG_MAX_SIDE);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info);
    png_set_expand(png);       /* palette -> RGB, gray < 8 bit -> 8, tRNS -> alpha */
    png_set_strip_16(png);
    if (ct & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if ((c != 1 && c != 3) || stride != (size_t)w * c) {
        rc = CN_ERR(ctx, CN_EFORMAT, "%s: PNG decodes to %d channels, expected 1 or 3", path, c);
        png_error(png, "unsupported layout");
    }
    int cap = 0;
    uint8_t *b = NULL;
    if (passes > 1) {
        /* interlaced: every pass touches every row, so the whole image up front
         * (bounded by IMG_MAX_SIDE per side) */
        if ((rc = grow_rows(ctx, &b, &cap, (int)h, (int)h, stride, path))) png_error(png, "nomem");
        buf = b;
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < h; y++) png_read_row(png, buf + y * stride, NULL);
    } else {
        for (png_uint_32 y = 0; y < h; y++) {
            b = buf;
            int r = grow_rows(ctx, &b, &cap, (int)y + 1, (int)h, stride, path);
            buf = b;
            if (r) { rc = r; png_error(png, "nomem"); }
            png_read_row(png, buf + y * stride, NULL);
        }
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    *pix = buf;
    *ph = (int)h;
    *pw = (int)w;
    *pc = c;
    return CN_OK;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int eof;          /* premature end of data seen */
    int nomem;        /* libjpeg ran out of (or past the limit of) memory */
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_error_exit(j_common_ptr cinfo) {
    jpg_err *e = (jpg_err *)cinfo->err;
    e->nomem = cinfo->err->msg_code == JERR_NO_BACKING_STORE || cinfo->err->msg_code == JERR_OUT_OF_MEMORY;
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE)
        snprintf(e->msg, sizeof e->msg, "decoding needs more than the %ld MB limit of decoder memory",
                 JPEG_MAX_MEMORY >> 20);
    else
        cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}
/* The data ran out: the end of the file, or a marker inside the entropy
 * data. libjpeg then fills the rest of the image with gray, so a tiny file
 * could declare 16384x16384 and "decode"; both count as truncation. */
static void jpg_emit(j_common_ptr cinfo, int level) {
    jpg_err *e = (jpg_err *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER) e->eof = 1;
        cinfo->err->num_warnings++;
    }
}
static void jpg_output(j_common_ptr cinfo) { (void)cinfo; }

static int read_jpeg(cn_ctx *ctx, FILE *f, const char *path, uint8_t **pix, int *ph,
                     int *pw, int *pc) {
    struct jpeg_decompress_struct cinfo;
    jpg_err err;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpg_error_exit;
    err.pub.emit_message = jpg_emit;
    err.pub.output_message = jpg_output;
    uint8_t *volatile buf = NULL;
    volatile int rc = CN_OK;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(buf);
        if (rc) return rc;
        if (err.nomem) return CN_ERR(ctx, CN_ENOMEM, "%s: JPEG of %ux%u: %s", path, cinfo.image_width,
                                     cinfo.image_height, err.msg);
        return CN_ERR(ctx, CN_EFORMAT, "%s: bad or truncated JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
        cinfo.image_width > IMG_MAX_SIDE || cinfo.image_height > IMG_MAX_SIDE) {
        rc = CN_ERR(ctx, CN_EFORMAT, "%s: JPEG size %ux%u, expected 1..%d per side", path,
                    cinfo.image_width, cinfo.image_height, IMG_MAX_SIDE);
        longjmp(err.jb, 1);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo); /* a progressive JPEG is read whole here */
    if (err.eof) {
        rc = CN_ERR(ctx, CN_EFORMAT, "%s: truncated JPEG: the data ends before the %ux%u image does", path,
                    cinfo.image_width, cinfo.image_height);
        longjmp(err.jb, 1);
    }
    int h = (int)cinfo.output_height, w = (int)cinfo.output_width;
    int c = cinfo.output_components;
    if (c != 1 && c != 3) {
        rc = CN_ERR(ctx, CN_EFORMAT, "%s: JPEG decodes to %d channels, expected 1 or 3", path, c);
        longjmp(err.jb, 1);
    }
    size_t stride = (size_t)w * c;
    int cap = 0;
    while ((int)cinfo.output_scanline < h) {
        int y = (int)cinfo.output_scanline;
        uint8_t *b = buf;
        int r = grow_rows(ctx, &b, &cap, y + 1, h, stride, path);
        buf = b;
        if (r) { rc = r; longjmp(err.jb, 1); }
        JSAMPROW row = buf + (size_t)y * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (err.eof) {
            rc = CN_ERR(ctx, CN_EFORMAT,
                        "%s: truncated JPEG: data ends at row %d of %d", path, y, h);
            longjmp(err.jb, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.eof) {
        free(buf);
        return CN_ERR(ctx, CN_EFORMAT, "%s: truncated JPEG (no end marker)", path);
    }
    *pix = buf;
    *ph = h;
    *pw = w;
    *pc = c;
    return CN_OK;
}

int cn_image_read(cn_ctx *ctx, const char *path, uint8_t **pix, int *h, int *w, int *c) {
    if (!path || !pix || !h || !w || !c)
        return CN_ERR(ctx, CN_EINVAL, "cn_image_read: NULL argument");
    *pix = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return CN_ERR(ctx, CN_EIO, "cannot open %s: %s", path, strerror(errno));
    uint8_t magic[8];
    size_t got = fread(magic, 1, sizeof magic, f);
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int rc;
    if (got == 8 && !memcmp(magic, png_magic, 8)) {
        rewind(f);
        rc = read_png(ctx, f, path, pix, h, w, c);
    } else if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
        rewind(f);
        rc = read_jpeg(ctx, f, path, pix, h, w, c);
    } else if (ferror(f)) {
        rc = CN_ERR(ctx, CN_EIO, "read error in %s", path);
    } else {
        rc = CN_ERR(ctx, CN_EFORMAT,
                    "%s: not a PNG or JPEG (the first %zu bytes match neither signature)",
                    path, got);
    }
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- resize */

int cn_image_resize(cn_ctx *ctx, uint8_t *dst, int dh, int dw, const uint8_t *src, int h,
                    int w, int c) {
    if (!dst || !src) return CN_ERR(ctx, CN_EINVAL, "cn_image_resize: NULL argument");
    if (h <= 0 || w <= 0 || dh <= 0 || dw <= 0 || c <= 0 || c > 4)
        return CN_ERR(ctx, CN_EINVAL,
                      "cn_image_resize: sizes %dx%dx%d -> %dx%d, expected positive and 1..4 "
                      "channels", h, w, c, dh, dw);
    /* half-pixel centres: source coordinate (i + 0.5) * h / dh - 0.5, clamped */
    int *x0 = malloc(sizeof(int) * 2 * (size_t)dw);
    float *fx = malloc(sizeof(float) * (size_t)dw);
    if (!x0 || !fx) {
        free(x0); free(fx);
        return CN_ERR(ctx, CN_ENOMEM, "cn_image_resize: out of memory");
    }
    int *x1 = x0 + dw;
    for (int j = 0; j < dw; j++) {
        double s = (j + 0.5) * w / dw - 0.5;
        if (s < 0) s = 0;
        if (s > w - 1) s = w - 1;
        int a = (int)s;
        x0[j] = a;
        x1[j] = a + 1 < w ? a + 1 : a;
        fx[j] = (float)(s - a);
    }
    for (int i = 0; i < dh; i++) {
        double s = (i + 0.5) * h / dh - 0.5;
        if (s < 0) s = 0;
        if (s > h - 1) s = h - 1;
        int y0 = (int)s, y1 = y0 + 1 < h ? y0 + 1 : y0;
        float fy = (float)(s - y0);
        const uint8_t *r0 = src + (size_t)y0 * w * c, *r1 = src + (size_t)y1 * w * c;
        uint8_t *o = dst + (size_t)i * dw * c;
        for (int j = 0; j < dw; j++) {
            for (int k = 0; k < c; k++) {
                float a = r0[x0[j] * c + k] + fx[j] * (r0[x1[j] * c + k] - r0[x0[j] * c + k]);
                float b = r1[x0[j] * c + k] + fx[j] * (r1[x1[j] * c + k] - r1[x0[j] * c + k]);
                float v = a + fy * (b - a) + 0.5f;
                o[j * c + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    free(x0);
    free(fx);
    return CN_OK;
}

/* --------------------------------------------------------------- filters */

int cn_filters_png(cn_ctx *ctx, const char *path, const float *w, int F, int C, int HH,
                   int WW, int scale) {
    if (!path || !w) return CN_ERR(ctx, CN_EINVAL, "cn_filters_png: NULL argument");
    if (F <= 0 || HH <= 0 || WW <= 0 || (C != 1 && C != 3) || scale < 1)
        return CN_ERR(ctx, CN_EINVAL,
                      "cn_filters_png: F=%d C=%d HH=%d WW=%d scale=%d; expected positive "
                      "sizes, C 1 or 3", F, C, HH, WW, scale);
    int n = (int)ceil(sqrt((double)F));
    while (n * n < F) n++;
    while (n > 1 && (n - 1) * (n - 1) >= F) n--;
    long gh = (long)n * HH + (n - 1), gw = (long)n * WW + (n - 1);
    if (gh * scale > IMG_MAX_SIDE || gw * scale > IMG_MAX_SIDE)
        return CN_ERR(ctx, CN_EINVAL,
                      "cn_filters_png: picture %ldx%ld exceeds %d per side", gh * scale,
                      gw * scale, IMG_MAX_SIDE);
    long H = gh * scale, W = gw * scale;
    uint8_t *pix = calloc((size_t)H * W * C, 1); /* gaps are black, as the original */
    if (!pix) return CN_ERR(ctx, CN_ENOMEM, "cn_filters_png: out of memory");
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

/* ------------------------------------------------------------------ plot */

#define PLOT_W 800
#define PLOT_H 500

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

int cn_plot_png(cn_ctx *ctx, const char *path, const char *title, const char *xlabel,
                const char *ylabel, const cn_series *s, int nseries) {
    if (!path || nseries < 0 || (nseries > 0 && !s))
        return CN_ERR(ctx, CN_EINVAL, "cn_plot_png: bad arguments");
    for (int k = 0; k < nseries; k++)
        if (s[k].n < 0 || (s[k].n > 0 && !s[k].y))
            return CN_ERR(ctx, CN_EINVAL, "cn_plot_png: series %d has n=%d and %s y", k,
                          s[k].n, s[k].y ? "a" : "no");
    /* data range over the finite points */
    double xmin = DBL_MAX, xmax = -DBL_MAX, ymin = DBL_MAX, ymax = -DBL_MAX;
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
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

    const double L = 80, R = 25, T = title && *title ? 45 : 20, B = 60;
    const double pw = PLOT_W - L - R, ph = PLOT_H - T - B;
#define PX(x) (L + ((x) - xmin) / (xmax - xmin) * pw)
#define PY(y) (T + ph - ((y) - ymin) / (ymax - ymin) * ph)

    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PLOT_W, PLOT_H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return CN_ERR(ctx, CN_ENOMEM, "cn_plot_png: cannot create a %dx%d surface", PLOT_W,
                      PLOT_H);
    }
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_text_extents_t te;
    char buf[64];

    /* grid, ticks and tick labels */
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    for (double v = ceil(xmin / xs) * xs; v <= xmax + xs * 1e-9; v += xs) {
        double px = floor(PX(v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px, T); cairo_line_to(cr, px, T + ph); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, px, T + ph); cairo_line_to(cr, px, T + ph + 5); cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, v, xs);
        cairo_text_extents(cr, buf, &te);
        cairo_move_to(cr, px - te.width / 2 - te.x_bearing, T + ph + 8 + te.height);
        cairo_show_text(cr, buf);
    }
    for (double v = ceil(ymin / ys) * ys; v <= ymax + ys * 1e-9; v += ys) {
        double py = floor(PY(v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, L, py); cairo_line_to(cr, L + pw, py); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, L - 5, py); cairo_line_to(cr, L, py); cairo_stroke(cr);
        fmt_tick(buf, sizeof buf, v, ys);
        cairo_text_extents(cr, buf, &te);
        cairo_move_to(cr, L - 8 - te.width - te.x_bearing, py - te.y_bearing - te.height / 2);
        cairo_show_text(cr, buf);
    }
    /* the axes box */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L + 0.5, T + 0.5, pw, ph);
    cairo_stroke(cr);

    /* series, clipped to the plot area */
    static const double pal[10][3] = {
        {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
        {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
        {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
        {0.090, 0.745, 0.812}};
    cairo_save(cr);
    cairo_rectangle(cr, L, T, pw + 1, ph + 1);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int k = 0; k < nseries; k++) {
        const double *col = pal[k % 10];
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        cairo_set_line_width(cr, 1.5);
        int pen = 0;
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y)) { pen = 0; continue; }
            if (pen) cairo_line_to(cr, PX(x), PY(y));
            else cairo_move_to(cr, PX(x), PY(y));
            pen = 1;
        }
        cairo_stroke(cr);
        if (s[k].markers) {
            double r = s[k].n > 200 ? 1.5 : 3;
            for (int i = 0; i < s[k].n; i++) {
                double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
                if (!isfinite(x) || !isfinite(y)) continue;
                cairo_new_sub_path(cr);
                cairo_arc(cr, PX(x), PY(y), r, 0, 2 * M_PI);
            }
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);

    /* title and axis labels */
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

    /* legend: top right inside the axes */
    int nl = 0;
    double lw = 0;
    cairo_set_font_size(cr, 12);
    for (int k = 0; k < nseries; k++)
        if (s[k].label && *s[k].label) {
            cairo_text_extents(cr, s[k].label, &te);
            if (te.x_advance > lw) lw = te.x_advance;
            nl++;
        }
    if (nl > 0) {
        double rowh = 18, bw = lw + 50, bh = nl * rowh + 8;
        /* the corner whose box covers the fewest data points (top right first) */
        double bx = L + pw - bw - 10, by = T + 10;
        long best = -1;
        for (int corner = 0; corner < 4; corner++) {
            double cx = corner & 1 ? L + 10 : L + pw - bw - 10;
            double cy = corner & 2 ? T + ph - bh - 10 : T + 10;
            long cnt = 0;
            for (int k = 0; k < nseries; k++)
                for (int i = 0; i < s[k].n; i++) {
                    double x = s[k].x ? s[k].x[i] : i, y = s[k].y[i];
                    if (!isfinite(x) || !isfinite(y)) continue;
                    double px = PX(x), py = PY(y);
                    cnt += px >= cx - 4 && px <= cx + bw + 4 && py >= cy - 4 && py <= cy + bh + 4;
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
#undef PX
#undef PY
    cairo_surface_flush(surf);
    int rc = CN_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        rc = CN_ERR(ctx, CN_ENOMEM, "cn_plot_png: drawing failed: %s",
                    cairo_status_to_string(cairo_status(cr)));
    uint8_t *rgb = rc ? NULL : malloc((size_t)PLOT_W * PLOT_H * 3);
    if (!rc && !rgb) rc = CN_ERR(ctx, CN_ENOMEM, "cn_plot_png: out of memory");
    if (!rc) {
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
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    if (!rc) rc = cn_image_write_png(ctx, path, rgb, PLOT_H, PLOT_W, 3);
    free(rgb);
    return rc;
}

/* ------------------------------------------------------------ edges demo */

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
        return CN_ERR(ctx, CN_ENOMEM, "%s: out of memory", path);
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
        return CN_ERR(ctx, CN_EINVAL, "cn_edges_demo: expected 1..64 image paths, got %d",
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
    const int OW = 3 * S + 2 * DEMO_GAP, OH = npaths * S + (npaths - 1) * DEMO_GAP;
    uint8_t *out = malloc((size_t)OW * OH * 3);
    float *x = malloc(sizeof(float) * 3 * P);
    uint8_t *rgb = malloc((size_t)P * 3);
    if (!out || !x || !rgb) {
        free(out); free(x); free(rgb);
        return CN_ERR(ctx, CN_ENOMEM, "cn_edges_demo: out of memory");
    }
    memset(out, 255, (size_t)OW * OH * 3); /* white gaps */
    int rc = CN_OK;
    for (int n = 0; n < npaths && !rc; n++) {
        if (!paths[n]) { rc = CN_ERR(ctx, CN_EINVAL, "cn_edges_demo: path %d is NULL", n); break; }
        if ((rc = demo_load(ctx, paths[n], x, rgb))) break;
        int top = n * (S + DEMO_GAP);
        for (int i = 0; i < S; i++)
            memcpy(out + ((size_t)(top + i) * OW) * 3, rgb + (size_t)i * S * 3, (size_t)S * 3);
        /* conv: stride 1, pad 1 (zero), cross-correlation as conv_forward_naive */
        for (int f = 0; f < 2; f++) {
            int left = (f + 1) * (S + DEMO_GAP);
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    float acc = bias[f];
                    for (int k = 0; k < 3; k++)
                        for (int a = 0; a < 3; a++) {
                            int yy = i + a - 1;
                            if (yy < 0 || yy >= S) continue;
                            for (int b = 0; b < 3; b++) {
                                int xx = j + b - 1;
                                if (xx < 0 || xx >= S) continue;
                                acc += wt[f][k][a][b] * x[k * P + yy * S + xx];
                            }
                        }
                    uint8_t v = (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc + 0.5f);
                    uint8_t *o = out + ((size_t)(top + i) * OW + left + j) * 3;
                    o[0] = o[1] = o[2] = v;
                }
        }
    }
    if (!rc) rc = cn_image_write_png(ctx, out_png, out, OH, OW, 3);
    free(out); free(x); free(rgb);
    return rc;
}
