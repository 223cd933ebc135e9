/* test_image.c — PNG/JPEG reading and writing, bilinear resize, the filter
 * grid, the line chart and the edges demo. Set CN_TEST_IMAGE_OUT=DIR to
 * keep copies of the pictures for a look. */
#define _GNU_SOURCE
#include "fixtures.h"
#include "convnet_plot.h"
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jpeglib.h>
#include <cairo.h>
#include <dlfcn.h>

static char tmpdir[256];


static void tpath(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void write_raw(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n)) { perror(path); exit(2); }
    fclose(f);
}

static uint8_t *read_raw(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = xmalloc(*n);
    if (fread(b, 1, *n, f) != *n) { perror(path); exit(2); }
    fclose(f);
    return b;
}

/* a baseline JPEG written with libjpeg, quality 95 */
static void write_jpeg(const char *path, const uint8_t *rgb, int h, int w) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    jpeg_stdio_dest(&c, f);
    c.image_width = w; c.image_height = h; c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static void keep_copy(const char *path, const char *name) {
    const char *dir = getenv("CN_TEST_IMAGE_OUT");
    if (!dir) return;
    size_t n;
    uint8_t *b = read_raw(path, &n);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_raw(p, b, n);
    free(b);
}

static void test_png_roundtrip(cn_ctx *ctx) {
    cn_rng r;
    cn_rng_seed(&r, 5);
    char p[512], tmp[600];
    const int hs[3] = {7, 6, 4}, ws[3] = {5, 9, 3}, cs[3] = {1, 3, 4};
    for (int t = 0; t < 3; t++) {
        int h = hs[t], w = ws[t], c = cs[t];
        uint8_t *pix = xmalloc((size_t)h * w * c);
        for (int i = 0; i < h * w * c; i++) pix[i] = (uint8_t)cn_rng_below(&r, 256);
        pix[0] = 0; pix[1] = 255;
        tpath(p, sizeof p, "rt.png");
        int rc = cn_image_write_png(ctx, p, pix, h, w, c);
        uint8_t *back = NULL;
        int bh = 0, bw = 0, bc = 0;
        int rc2 = rc ? rc : cn_image_read(ctx, p, &back, &bh, &bw, &bc);
        int ok = rc == CN_OK && rc2 == CN_OK && bh == h && bw == w && count_tmp_files(p, tmp, sizeof tmp) == 0;
        if (ok && c != 4) {
            ok = bc == c && !memcmp(back, pix, (size_t)h * w * c);
        } else if (ok) { /* RGBA reads back as RGB with the alpha stripped */
            ok = bc == 3;
            for (int i = 0; ok && i < h * w; i++) ok = !memcmp(back + i * 3, pix + i * 4, 3);
        }
        char name[80];
        snprintf(name, sizeof name, "png: %dx%dx%d written and read back exactly%s", h, w, c,
                 c == 4 ? " (alpha stripped)" : "");
        check_true(name, ok, ok ? "" : cn_ctx_error(ctx));
        free(pix);
        free(back);
    }
    uint8_t px[4] = {0};
    tpath(p, sizeof p, "bad.png");
    check_true("png: write with 2 channels -> CN_EINVAL",
               cn_image_write_png(ctx, p, px, 2, 1, 2) == CN_EINVAL, cn_ctx_error(ctx));
    check_true("png: write into a missing dir -> CN_EIO",
               cn_image_write_png(ctx, "/nonexistent-convnet-dir/x.png", px, 1, 1, 1) == CN_EIO,
               cn_ctx_error(ctx));
}

static void test_bad_files(cn_ctx *ctx) {
    char p[512], q[512];
    uint8_t *pix = NULL;
    int h, w, c;
    tpath(p, sizeof p, "text.png");
    write_raw(p, "hello, this is not a picture\n", 29);
    check_true("read: a text file named .png -> CN_EFORMAT",
               cn_image_read(ctx, p, &pix, &h, &w, &c) == CN_EFORMAT && strstr(cn_ctx_error(ctx), "text.png"),
               cn_ctx_error(ctx));
    write_raw(p, "", 0);
    check_true("read: an empty file -> CN_EFORMAT",
               cn_image_read(ctx, p, &pix, &h, &w, &c) == CN_EFORMAT, cn_ctx_error(ctx));
    check_true("read: a missing file -> CN_EIO",
               cn_image_read(ctx, "/nonexistent-convnet.png", &pix, &h, &w, &c) == CN_EIO,
               cn_ctx_error(ctx));

    /* a truncated PNG (random pixels so it does not compress to nothing) */
    enum { H = 40, W = 50 };
    uint8_t *img = xmalloc(H * W * 3);
    cn_rng r;
    cn_rng_seed(&r, 9);
    for (int i = 0; i < H * W * 3; i++) img[i] = (uint8_t)cn_rng_u64(&r);
    tpath(q, sizeof q, "full.png");
    cn_image_write_png(ctx, q, img, H, W, 3);
    size_t n;
    uint8_t *raw = read_raw(q, &n);
    for (int cut = 0; cut < 3; cut++) {
        size_t keep = cut == 0 ? 8 : cut == 1 ? 40 : n / 2;
        write_raw(p, raw, keep);
        int rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
        char name[80];
        snprintf(name, sizeof name, "read: PNG cut to %zu of %zu bytes -> CN_EFORMAT", keep, n);
        check_true(name, rc == CN_EFORMAT && pix == NULL, cn_ctx_error(ctx));
    }
    /* a declared size of 20000 x 20000 (IHDR patched, CRC fixed up is not
     * needed: either check must refuse it) */
    uint8_t *huge = xmalloc(n);
    memcpy(huge, raw, n);
    huge[16] = 0; huge[17] = 0; huge[18] = 0x4e; huge[19] = 0x20;
    huge[20] = 0; huge[21] = 0; huge[22] = 0x4e; huge[23] = 0x20;
    write_raw(p, huge, n);
    check_true("read: PNG declaring 20000x20000 -> error, no crash",
               cn_image_read(ctx, p, &pix, &h, &w, &c) < 0 && pix == NULL, cn_ctx_error(ctx));
    free(huge);
    free(raw);

    /* JPEG written here: smooth picture read back closely, then truncated */
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            img[(i * W + j) * 3 + 0] = (uint8_t)(4 * i);
            img[(i * W + j) * 3 + 1] = (uint8_t)(4 * j);
            img[(i * W + j) * 3 + 2] = 100;
        }
    tpath(q, sizeof q, "smooth.jpeg.png"); /* the extension lies on purpose */
    write_jpeg(q, img, H, W);
    int rc = cn_image_read(ctx, q, &pix, &h, &w, &c);
    double err = 0;
    if (!rc && h == H && w == W && c == 3)
        for (int i = 0; i < H * W * 3; i++) {
            double e = fabs((double)pix[i] - img[i]);
            if (e > err) err = e;
        }
    else
        err = 1e9;
    check_le("read: JPEG (named .png, detected by magic) close to what was encoded", err, 8);
    free(pix);
    pix = NULL;
    raw = read_raw(q, &n);
    write_raw(p, raw, n / 2);
    rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
    check_true("read: JPEG cut in half -> CN_EFORMAT", rc == CN_EFORMAT && pix == NULL,
               cn_ctx_error(ctx));
    write_raw(p, raw, 100);
    rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
    check_true("read: JPEG cut to 100 bytes -> CN_EFORMAT", rc == CN_EFORMAT && pix == NULL,
               cn_ctx_error(ctx));
    free(raw);
    free(img);
}

static void test_kitten(cn_ctx *ctx) {
    const char *k = "../shared/data/images/kitten.jpg";
    if (!exists(k)) {
        printf("NOTE kitten.jpg not found (%s): skipped\n", k);
        return;
    }
    uint8_t *pix = NULL;
    int h = 0, w = 0, c = 0;
    int rc = cn_image_read(ctx, k, &pix, &h, &w, &c);
    double mean = 0;
    for (int i = 0; !rc && i < h * w * c; i++) mean += pix[i];
    if (!rc) mean /= (double)h * w * c;
    char note[120];
    snprintf(note, sizeof note, "%dx%dx%d mean %.1f %s", h, w, c, mean, rc ? cn_ctx_error(ctx) : "");
    check_true("read: kitten.jpg, sane size, RGB, not blank",
               rc == CN_OK && h >= 32 && h <= 4096 && w >= 32 && w <= 4096 && c == 3 &&
               mean > 20 && mean < 235, note);
    free(pix);
    /* the last half of a real JPEG missing */
    size_t n;
    uint8_t *raw = read_raw(k, &n);
    char p[512];
    tpath(p, sizeof p, "kitten_cut.jpg");
    write_raw(p, raw, n / 2);
    pix = NULL;
    rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
    check_true("read: kitten.jpg cut in half -> CN_EFORMAT", rc == CN_EFORMAT && !pix,
               cn_ctx_error(ctx));
    free(raw);
}

static void test_resize(cn_ctx *ctx) {
    uint8_t src[5 * 7 * 3], dst[13 * 4 * 3];
    for (int i = 0; i < 35; i++) { src[i * 3] = 10; src[i * 3 + 1] = 200; src[i * 3 + 2] = 33; }
    int rc = cn_image_resize(ctx, dst, 13, 4, src, 5, 7, 3);
    double err = rc ? 1e9 : 0;
    for (int i = 0; i < 13 * 4; i++)
        err += abs(dst[i * 3] - 10) + abs(dst[i * 3 + 1] - 200) + abs(dst[i * 3 + 2] - 33);
    check_le("resize: a constant image stays constant (5x7 -> 13x4)", err, 0);
    /* 2x2 -> 3x3 by hand: corners kept, edges the mean of two, centre of four
     * (87.5 rounds to 88) */
    const uint8_t s2[4] = {0, 100, 200, 50};
    const uint8_t want[9] = {0, 50, 100, 100, 88, 75, 200, 125, 50};
    uint8_t d3[9];
    rc = cn_image_resize(ctx, d3, 3, 3, s2, 2, 2, 1);
    err = rc ? 1e9 : 0;
    for (int i = 0; i < 9; i++) err += abs(d3[i] - want[i]);
    check_le("resize: 2x2 -> 3x3 bilinear worked by hand", err, 0);
    /* same size: identity */
    cn_rng r;
    cn_rng_seed(&r, 2);
    uint8_t a[6 * 5 * 3], b[6 * 5 * 3];
    for (int i = 0; i < 90; i++) a[i] = (uint8_t)cn_rng_u64(&r);
    rc = cn_image_resize(ctx, b, 6, 5, a, 6, 5, 3);
    check_true("resize: same size is the identity", rc == CN_OK && !memcmp(a, b, 90), "");
    check_true("resize: zero size -> CN_EINVAL",
               cn_image_resize(ctx, b, 0, 5, a, 6, 5, 3) == CN_EINVAL, cn_ctx_error(ctx));
}

/* expected pixel of filter f's weight v: round((v - lo) * 255 / (hi - lo)) */
static void test_filters(cn_ctx *ctx) {
    const int configs[2][5] = {{5, 3, 3, 2, 4}, {4, 1, 3, 3, 1}}; /* F C HH WW scale */
    for (int t = 0; t < 2; t++) {
        int F = configs[t][0], C = configs[t][1], HH = configs[t][2], WW = configs[t][3];
        int sc = configs[t][4];
        size_t fs = (size_t)C * HH * WW;
        float *wt = xmalloc(sizeof(float) * F * fs);
        cn_rng r;
        cn_rng_seed(&r, 40 + t);
        for (size_t i = 0; i < F * fs; i++) wt[i] = (float)(cn_rng_normal(&r) * (1 + i % 7));
        char p[512];
        tpath(p, sizeof p, "filters.png");
        int rc = cn_filters_png(ctx, p, wt, F, C, HH, WW, sc);
        uint8_t *pix = NULL;
        int h = 0, w = 0, c = 0;
        if (!rc) rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
        int n = t == 0 ? 3 : 2; /* ceil(sqrt(5)), ceil(sqrt(4)) */
        int gh = (n * HH + n - 1) * sc, gw = (n * WW + n - 1) * sc;
        char note[160];
        snprintf(note, sizeof note, "got %dx%dx%d, expected %dx%dx%d %s", h, w, c, gh, gw, C,
                 rc ? cn_ctx_error(ctx) : "");
        char name[80];
        snprintf(name, sizeof name, "filters: F=%d C=%d %dx%d scale %d grid size", F, C, HH, WW, sc);
        int ok = check_true(name, rc == CN_OK && h == gh && w == gw && c == C, note);
        if (!ok) { free(pix); free(wt); continue; }
        if (t == 0) keep_copy(p, "filters.png");
        int minmax_ok = 1;
        double err = 0;
        uint8_t *seen = xmalloc((size_t)h * w); /* pixels covered by a filter */
        for (int f = 0; f < F; f++) {
            const float *wf = wt + f * fs;
            float lo = wf[0], hi = wf[0];
            for (size_t k = 0; k < fs; k++) { if (wf[k] < lo) lo = wf[k]; if (wf[k] > hi) hi = wf[k]; }
            int pmin = 255, pmax = 0;
            int gy = f / n, gx = f % n;
            for (int i = 0; i < HH * sc; i++)
                for (int j = 0; j < WW * sc; j++) {
                    int y = gy * (HH + 1) * sc + i, x = gx * (WW + 1) * sc + j;
                    seen[y * w + x] = 1;
                    for (int ch = 0; ch < C; ch++) {
                        int v = pix[(y * w + x) * C + ch];
                        if (v < pmin) pmin = v;
                        if (v > pmax) pmax = v;
                        double want = floor((wf[(ch * HH + i / sc) * WW + j / sc] - lo) * 255.0 / (hi - lo) + 0.5);
                        if (fabs(v - want) > err) err = fabs(v - want);
                    }
                }
            minmax_ok &= pmin == 0 && pmax == 255;
        }
        int gaps_black = 1;
        for (int i = 0; i < h * w; i++)
            if (!seen[i])
                for (int ch = 0; ch < C; ch++) gaps_black &= pix[i * C + ch] == 0;
        snprintf(name, sizeof name, "filters: F=%d C=%d each filter's min -> 0, max -> 255", F, C);
        check_true(name, minmax_ok, "");
        snprintf(name, sizeof name, "filters: F=%d C=%d pixels = scaled weights (nearest upscale)", F, C);
        check_le(name, err, 1);
        snprintf(name, sizeof name, "filters: F=%d C=%d gaps and empty cells black", F, C);
        check_true(name, gaps_black, "");
        free(seen);
        free(pix);
        free(wt);
    }
}

static int near_rgb(const uint8_t *p, int r, int g, int b, int tol) {
    return abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
}

static void test_plot(cn_ctx *ctx) {
    enum { N = 300, E = 10 };
    double loss[N], tr[E], va[E], ex[E];
    cn_rng r;
    cn_rng_seed(&r, 1);
    for (int i = 0; i < N; i++) loss[i] = 2.3 * exp(-i / 80.0) + 0.2 * cn_rng_uniform(&r);
    for (int e = 0; e < E; e++) {
        ex[e] = e + 1;
        tr[e] = 0.3 + 0.06 * e;
        va[e] = 0.28 + 0.04 * e;
    }
    char p[512];
    tpath(p, sizeof p, "loss.png");
    cn_series s1[1] = {{"loss", loss, NULL, N, 1}};
    int rc = cn_plot_png(ctx, p, "Training loss", "Iteration", "Loss", s1, 1);
    uint8_t *pix = NULL;
    int h = 0, w = 0, c = 0;
    if (!rc) rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
    check_true("plot: loss history PNG 800x500 RGB readable", rc == CN_OK && h == 500 &&
               w == 800 && c == 3, rc ? cn_ctx_error(ctx) : "");
    if (!rc) keep_copy(p, "plot_loss.png");
    free(pix);
    pix = NULL;

    tpath(p, sizeof p, "acc.png");
    cn_series s2[2] = {{"train", tr, ex, E, 1}, {"val", va, ex, E, 1}};
    rc = cn_plot_png(ctx, p, "Classification accuracy", "Epoch", "Accuracy", s2, 2);
    if (!rc) rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
    int ok = rc == CN_OK && h == 500 && w == 800 && c == 3;
    check_true("plot: accuracy PNG 800x500 RGB readable", ok, rc ? cn_ctx_error(ctx) : "");
    if (ok) {
        keep_copy(p, "plot_acc.png");
        long blue = 0, orange = 0, black = 0;
        for (int i = 0; i < h * w; i++) {
            blue += near_rgb(pix + i * 3, 31, 119, 180, 12);
            orange += near_rgb(pix + i * 3, 255, 127, 14, 12);
            black += near_rgb(pix + i * 3, 0, 0, 0, 40);
        }
        check_true("plot: white background corners", near_rgb(pix, 255, 255, 255, 0) &&
                   near_rgb(pix + ((size_t)h * w - 1) * 3, 255, 255, 255, 0), "");
        char note[120];
        snprintf(note, sizeof note, "blue %ld orange %ld dark %ld pixels", blue, orange, black);
        check_true("plot: both series drawn in distinct colours, axes/text dark",
                   blue > 200 && orange > 200 && black > 1000, note);
    }
    free(pix);
    /* Epoch plots (implicit x = 0, 1, ...) get whole-number ticks only. The
     * truth is the number of tick marks under the x axis (black 1-pixel
     * stubs between the axis at y = 440 and the labels): 2 epochs -> 2 ticks
     * (0 and 1), 5 epochs -> 5; fractional steps would give 6 and 9. */
    for (int ne = 2; ne <= 5; ne += 3) {
        cn_series se[2] = {{"train", tr, NULL, ne, 1}, {"val", va, NULL, ne, 1}};
        pix = NULL;
        rc = cn_plot_png(ctx, p, "Classification accuracy", "Epoch", "Accuracy", se, 2);
        if (!rc) rc = cn_image_read(ctx, p, &pix, &h, &w, &c);
        int ticks = 0;
        if (!rc && h == 500 && w == 800 && c == 3)
            for (int x = 81; x < 800 - 25; x++)
                ticks += near_rgb(pix + ((size_t)443 * w + x) * 3, 0, 0, 0, 60) &&
                         !near_rgb(pix + ((size_t)443 * w + x - 1) * 3, 0, 0, 0, 60);
        char nm[80], note[60];
        snprintf(nm, sizeof nm, "plot: %d epochs -> %d integer x ticks", ne, ne);
        snprintf(note, sizeof note, "%d tick marks", ticks);
        check_true(nm, rc == CN_OK && ticks == ne, rc ? cn_ctx_error(ctx) : note);
        free(pix);
    }
    /* degenerate inputs: an empty series, a constant series with a NaN */
    double cst[3] = {1, NAN, 1};
    cn_series s3[2] = {{"empty", NULL, NULL, 0, 0}, {NULL, cst, NULL, 3, 1}};
    rc = cn_plot_png(ctx, p, NULL, NULL, NULL, s3, 2);
    check_true("plot: empty + constant-with-NaN series draw without error", rc == CN_OK,
               rc ? cn_ctx_error(ctx) : "");
    cn_series s4[1] = {{"bad", NULL, NULL, 3, 0}};
    check_true("plot: n > 0 with no y -> CN_EINVAL",
               cn_plot_png(ctx, p, "t", "x", "y", s4, 1) == CN_EINVAL, cn_ctx_error(ctx));
}

/* Check the demo's picture against its own original panel: grayscale and
 * edge panels recomputed here from the original panel's pixels. */
static void check_demo(const uint8_t *pix, int h, int w, int n, const char *what) {
    const int S = 200, G = 4;
    int ok = h == n * S + (n - 1) * G && w == 3 * S + 2 * G;
    char name[120];
    snprintf(name, sizeof name, "edges demo (%s): %d rows of 3 panels, 200x200", what, n);
    check_true(name, ok, "");
    if (!ok) return;
    double eg = 0, ee = 0;
    for (int k = 0; k < n; k++) {
        int top = k * (S + G);
#define ORIG(i, j, ch) pix[((size_t)(top + (i)) * w + (j)) * 3 + (ch)]
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                double g = 0.3 * ORIG(i, j, 0) + 0.6 * ORIG(i, j, 1) + 0.1 * ORIG(i, j, 2);
                double gv = pix[((size_t)(top + i) * w + S + G + j) * 3];
                if (fabs(gv - g) > eg) eg = fabs(gv - g);
                double e = 128;
                for (int b = -1; b <= 1; b++) {
                    int x = j + b;
                    if (x < 0 || x >= S) continue;
                    double wgt = b == 0 ? 2 : 1;
                    if (i > 0) e += wgt * ORIG(i - 1, x, 2);
                    if (i < S - 1) e -= wgt * ORIG(i + 1, x, 2);
                }
                e = e < 0 ? 0 : e > 255 ? 255 : e;
                double ev = pix[((size_t)(top + i) * w + 2 * (S + G) + j) * 3];
                if (fabs(ev - e) > ee) ee = fabs(ev - e);
            }
#undef ORIG
    }
    snprintf(name, sizeof name, "edges demo (%s): grayscale = 0.3R+0.6G+0.1B", what);
    check_le(name, eg, 0.5001);
    snprintf(name, sizeof name, "edges demo (%s): edges = clip(128 + Sobel-y on blue)", what);
    check_le(name, ee, 0.5001);
}

static void test_edges(cn_ctx *ctx) {
    /* synthetic 60x90: red left 15 columns, green right 15 (cropped away),
     * a blue step in the middle */
    enum { H = 60, W = 90 };
    uint8_t *img = xmalloc(H * W * 3);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            uint8_t *q = img + (i * W + j) * 3;
            if (j < 15) { q[0] = 255; q[1] = 0; q[2] = 0; }
            else if (j >= 75) { q[0] = 0; q[1] = 255; q[2] = 0; }
            else { q[0] = (uint8_t)(2 * i); q[1] = (uint8_t)(j * 2); q[2] = i < 30 ? 220 : 20; }
        }
    char in[512], out[512];
    tpath(in, sizeof in, "synth.png");
    tpath(out, sizeof out, "demo.png");
    cn_image_write_png(ctx, in, img, H, W, 3);
    const char *paths[1] = {in};
    int rc = cn_edges_demo(ctx, out, paths, 1);
    uint8_t *pix = NULL;
    int h = 0, w = 0, c = 0;
    if (!rc) rc = cn_image_read(ctx, out, &pix, &h, &w, &c);
    check_true("edges demo (synthetic): runs and writes an RGB PNG", rc == CN_OK && c == 3,
               rc ? cn_ctx_error(ctx) : "");
    if (!rc) {
        check_demo(pix, h, w, 1, "synthetic");
        int cropped = 1;
        for (int i = 0; i < 200; i++)
            for (int j = 0; j < 200; j++) {
                const uint8_t *q = pix + ((size_t)i * w + j) * 3;
                if (q[0] > 200 && q[1] < 30 && q[2] < 30) cropped = 0; /* pure red */
            }
        check_true("edges demo (synthetic): centre crop drops the red side bar", cropped, "");
    }
    free(pix);
    free(img);

    const char *real[2] = {"../shared/data/images/puppy.jpg", "../shared/data/images/kitten.jpg"};
    if (!exists(real[0]) || !exists(real[1])) {
        printf("NOTE puppy.jpg / kitten.jpg not found: real edges demo skipped\n");
    } else {
        pix = NULL;
        rc = cn_edges_demo(ctx, out, real, 2);
        if (!rc) rc = cn_image_read(ctx, out, &pix, &h, &w, &c);
        check_true("edges demo (puppy, kitten): writes a PNG", rc == CN_OK && c == 3,
                   rc ? cn_ctx_error(ctx) : "");
        if (!rc) {
            keep_copy(out, "edges_demo.png");
            check_demo(pix, h, w, 2, "puppy+kitten");
        }
        free(pix);
    }
    const char *bad[1] = {"/nonexistent-convnet.jpg"};
    check_true("edges demo: a missing photo -> CN_EIO",
               cn_edges_demo(ctx, out, bad, 1) == CN_EIO, cn_ctx_error(ctx));
}

int main(void) {
    if (fx_mkdtemp(tmpdir, sizeof tmpdir, "cn_test_image")) return 2;
    cn_ctx *ctx = cn_ctx_new(1);
    test_png_roundtrip(ctx);
    test_bad_files(ctx);
    test_kitten(ctx);
    test_resize(ctx);
    test_filters(ctx);
    test_plot(ctx);
    test_edges(ctx);
    cn_ctx_free(ctx);
    /* release cairo's and fontconfig's process-wide caches so leak checkers
     * (make test-asan) see only our own allocations */
    cairo_debug_reset_static_data();
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini) fc_fini();
    fx_rm_tree(tmpdir);
    return check_done();
}
