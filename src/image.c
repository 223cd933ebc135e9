/* image.c — the image codecs: JPEG/PNG reading, atomic PNG writing and
 * bilinear resize. (The pictures drawn from them, the filter grid, the
 * charts and the edges demo, are in src/plot/: libconvnet-plot.) */
#include "internal.h"
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
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
    if (!path || !pix) return cn_error(ctx, CN_EINVAL, "cn_image_write_png: NULL argument");
    if (h <= 0 || w <= 0 || h > 1000000 || w > 1000000)
        return cn_error(ctx, CN_EINVAL, "%s: image size %dx%d, expected 1..1000000 per side",
                      path, h, w);
    int ct;
    switch (c) {
    case 1: ct = PNG_COLOR_TYPE_GRAY; break;
    case 3: ct = PNG_COLOR_TYPE_RGB; break;
    case 4: ct = PNG_COLOR_TYPE_RGB_ALPHA; break;
    default: return cn_error(ctx, CN_EINVAL, "%s: %d channels, expected 1, 3 or 4", path, c);
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
        return cn_error(ctx, CN_ENOMEM, "%s: cannot create a PNG writer", path);
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
    if (!p) return cn_error(ctx, CN_ENOMEM, "%s: cannot allocate %zu bytes", path, (size_t)nc * stride);
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
        return cn_error(ctx, CN_ENOMEM, "%s: cannot create a PNG reader", path);
    }
    uint8_t *volatile buf = NULL;
    volatile int rc = CN_OK;
    if (setjmp(err.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buf);
        if (rc) return rc;
        return cn_error(ctx, CN_EFORMAT, "%s: bad or truncated PNG: %s", path, err.msg);
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
        rc = cn_error(ctx, CN_EFORMAT, "%s: PNG decodes to %d channels, expected 1 or 3", path, c);
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
        if (err.nomem) return cn_error(ctx, CN_ENOMEM, "%s: JPEG of %ux%u: %s", path, cinfo.image_width,
                                     cinfo.image_height, err.msg);
        return cn_error(ctx, CN_EFORMAT, "%s: bad or truncated JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
        cinfo.image_width > IMG_MAX_SIDE || cinfo.image_height > IMG_MAX_SIDE) {
        rc = cn_error(ctx, CN_EFORMAT, "%s: JPEG size %ux%u, expected 1..%d per side", path,
                    cinfo.image_width, cinfo.image_height, IMG_MAX_SIDE);
        longjmp(err.jb, 1);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo); /* a progressive JPEG is read whole here */
    if (err.eof) {
        rc = cn_error(ctx, CN_EFORMAT, "%s: truncated JPEG: the data ends before the %ux%u image does", path,
                    cinfo.image_width, cinfo.image_height);
        longjmp(err.jb, 1);
    }
    int h = (int)cinfo.output_height, w = (int)cinfo.output_width;
    int c = cinfo.output_components;
    if (c != 1 && c != 3) {
        rc = cn_error(ctx, CN_EFORMAT, "%s: JPEG decodes to %d channels, expected 1 or 3", path, c);
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
            rc = cn_error(ctx, CN_EFORMAT,
                        "%s: truncated JPEG: data ends at row %d of %d", path, y, h);
            longjmp(err.jb, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.eof) {
        free(buf);
        return cn_error(ctx, CN_EFORMAT, "%s: truncated JPEG (no end marker)", path);
    }
    *pix = buf;
    *ph = h;
    *pw = w;
    *pc = c;
    return CN_OK;
}

int cn_image_read(cn_ctx *ctx, const char *path, uint8_t **pix, int *h, int *w, int *c) {
    if (!path || !pix || !h || !w || !c)
        return cn_error(ctx, CN_EINVAL, "cn_image_read: NULL argument");
    *pix = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cn_error(ctx, CN_EIO, "cannot open %s: %s", path, strerror(errno));
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
        rc = cn_error(ctx, CN_EIO, "read error in %s", path);
    } else {
        rc = cn_error(ctx, CN_EFORMAT,
                    "%s: not a PNG or JPEG (the first %zu bytes match neither signature)",
                    path, got);
    }
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- resize */

int cn_image_resize(cn_ctx *ctx, uint8_t *dst, int dh, int dw, const uint8_t *src, int h,
                    int w, int c) {
    if (!dst || !src) return cn_error(ctx, CN_EINVAL, "cn_image_resize: NULL argument");
    if (h <= 0 || w <= 0 || dh <= 0 || dw <= 0 || c <= 0 || c > 4)
        return cn_error(ctx, CN_EINVAL,
                      "cn_image_resize: sizes %dx%dx%d -> %dx%d, expected positive and 1..4 "
                      "channels", h, w, c, dh, dw);
    /* half-pixel centres: source coordinate (i + 0.5) * h / dh - 0.5, clamped */
    int *x0 = malloc(sizeof(int) * 2 * (size_t)dw);
    float *fx = malloc(sizeof(float) * (size_t)dw);
    if (!x0 || !fx) {
        free(x0); free(fx);
        return cn_error(ctx, CN_ENOMEM, "cn_image_resize: out of memory");
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
