/* mkseeds.c — writes the seed corpus of every fuzz target:
 *   build/fuzz/mkseeds fuzz/corpus
 * Each seed is a small valid input (a few KB at most) in the layout its
 * target expects (see the comment at the top of each fuzz_*.c). The output
 * is deterministic; the committed fuzz/corpus/ is this program's output. */
#include "convnet.h"
#include "fuzz_data.h"
#include <errno.h>
#include <stdio.h>
/* jpeglib.h needs FILE first */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char *root;
static cn_ctx *ctx;

static void fail(const char *what) {
    fprintf(stderr, "mkseeds: %s: %s\n", what, ctx ? cn_ctx_error(ctx) : "");
    exit(1);
}

static void sub(char *buf, size_t cap, const char *target, const char *name) {
    snprintf(buf, cap, "%s/%s", root, target);
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) fail(buf);
    snprintf(buf, cap, "%s/%s/%s", root, target, name);
}

static void put(const char *target, const char *name, const void *p, size_t n) {
    char path[1024];
    sub(path, sizeof path, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) fail(path);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail(path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) fail(path);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* a prefix byte string followed by a payload */
static void put2(const char *target, const char *name, const void *pre, size_t np,
                 const void *p, size_t n) {
    unsigned char *b = malloc(np + n + 1);
    if (!b) fail("oom");
    memcpy(b, pre, np);
    if (n) memcpy(b + np, p, n);
    put(target, name, b, np + n);
    free(b);
}

/* ------------------------------------------------------------ safetensors */
static void seeds_st(void) {
    char path[1024];
    /* tensors of every dtype and rank, metadata with escapes */
    float f4[2 * 1 * 2 * 2] = {1, -2, 3.5f, 0, 1e-3f, 7, 8, -9};
    double d2[2 * 3] = {0.5, -1, 2, 1e300, -0.0, 3};
    int32_t i0 = 42;
    cn_tensor t[4] = {
        {"w", CN_F32, 0, 4, {2, 1, 2, 2}, f4},
        {"d", CN_F64, 0, 2, {2, 3}, d2},
        {"i", CN_F32, 1, 0, {0}, &i0},
        {"empty", CN_F32, 0, 2, {0, 3}, NULL},
    };
    cn_meta m[2] = {{"note", "quote \" backslash \\ newline \n tab \t"}, {"k\xc3\xa9y", "v\xe2\x82\xac"}};
    sub(path, sizeof path, "st", "mixed.safetensors");
    if (cn_st_save(ctx, path, t, 4, m, 2)) fail("mixed");
    sub(path, sizeof path, "st", "notensors.safetensors");
    if (cn_st_save(ctx, path, NULL, 0, m, 1)) fail("notensors");
    /* a foreign file: no convnet keys, unaligned offsets, \u escapes */
    const char *hdr = "{\"a\\u00e9\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                      "\"__metadata__\":{\"x\":\"\\ud83d\\ude00\"}}";
    size_t hl = strlen(hdr);
    unsigned char f[512];
    for (int i = 0; i < 8; i++) f[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(f + 8, hdr, hl);
    double one = 1.0;
    int32_t two[2] = {-1, 2};
    memcpy(f + 8 + hl, &one, 8);
    memcpy(f + 16 + hl, two, 8);
    put("st", "foreign.safetensors", f, 24 + hl);
    unsigned char emp[10] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    put("st", "empty-object.safetensors", emp, 10);
}

/* ----------------------------------------------- checkpoints (st, resume) */
typedef struct {
    const char *name, *spec, *rule;
    int C, H, W, f64, batch, epochs, stop_at;
} ck_seed;

static void seeds_resume(void) {
    static const ck_seed ck[] = {
        {"sgd-every3", "conv2x3-relu-pool2-affine4-relu-affine3", "sgd", 1, 6, 6, 0, 4, 2, 3},
        {"adam-f64-t0", "affine5-relu-affine2", "adam", 2, 3, 3, 1, 4, 2, 0},
        {"momentum-bn-every5", "conv2x3-bn-relu-affine3", "sgd_momentum", 1, 4, 4, 0, 4, 2, 5},
        {"rmsprop-gn-ln-end", "conv2x3-gn2-relu-pool2-affine4-ln-relu-affine2", "rmsprop", 1, 6, 6, 0, 8, 3, -1},
        {"adam-bn-affine-every2", "affine6-bn-relu-affine2", "adam", 1, 3, 3, 0, 2, 1, 2},
    };
    for (size_t k = 0; k < sizeof ck / sizeof ck[0]; k++) {
        const ck_seed *c = &ck[k];
        cn_dataset ds;
        if (fz_dataset(&ds, c->C, c->H, c->W)) fail("dataset");
        cn_rng r;
        cn_rng_seed(&r, 5 + k);
        cn_net *net;
        if (cn_net_new(ctx, &net, c->spec, c->C, c->H, c->W, c->f64 ? CN_F64 : CN_F32, 0.1, 1e-3, &r))
            fail(c->spec);
        cn_solver_config cfg;
        cn_solver_config_default(&cfg);
        snprintf(cfg.update_rule, sizeof cfg.update_rule, "%s", c->rule);
        cfg.batch_size = c->batch;
        cfg.num_epochs = c->epochs;
        cfg.num_train_samples = 8;
        cfg.verbose = 0;
        cfg.seed = 3;
        cn_solver *s;
        if (cn_solver_new(ctx, &s, net, &ds, &cfg)) fail("solver");
        char path[1024], name[128];
        snprintf(name, sizeof name, "%s.safetensors", c->name);
        sub(path, sizeof path, "resume", name);
        if (c->stop_at == 0) {
            if (cn_solver_save(ctx, s, path)) fail("save");
        } else if (c->stop_at > 0) {
            /* checkpoint every stop_at iterations; the last one stays */
            if (cn_solver_train(ctx, s, NULL, NULL, NULL, path, c->stop_at)) fail("train");
        } else {
            if (cn_solver_train(ctx, s, NULL, NULL, NULL, NULL, 0) || cn_solver_save(ctx, s, path))
                fail("train");
        }
        /* the same bytes seed the plain tensor-file target */
        size_t n;
        unsigned char *b = slurp(path, &n);
        put("st", name, b, n);
        free(b);
        if (k == 0) {
            /* a model file (cn_net_save): no solver state */
            sub(path, sizeof path, "resume", "model.safetensors");
            if (cn_net_save(ctx, net, path, NULL, 0)) fail("model");
            b = slurp(path, &n);
            put("st", "model.safetensors", b, n);
            free(b);
        }
        cn_solver_free(s);
        cn_net_free(net);
        cn_dataset_free(&ds);
    }
}

/* ------------------------------------------------------------------ cifar */
static void seeds_cifar(void) {
    const char *meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    size_t ml = strlen(meta);
    unsigned char rec[2 * 3073];
    for (int i = 0; i < 2 * 3073; i++) rec[i] = (unsigned char)(i * 7 + 3);
    rec[0] = 3;
    rec[3073] = 9;
    unsigned char pre[5 + 128];
    /* 1 train + 1 val, meta, two full records */
    pre[0] = 1; pre[1] = 0; pre[2] = 1; pre[3] = 0; pre[4] = (unsigned char)ml;
    memcpy(pre + 5, meta, ml);
    put2("cifar", "two-records-meta", pre, 5 + ml, rec, sizeof rec);
    /* 3 train, test batch, records mostly implied zeros */
    unsigned char a[5 + 20] = {2, 2, 0, 2, 0};
    for (int i = 0; i < 20; i++) a[5 + i] = (unsigned char)(i % 10);
    put("cifar", "short-test-batch", a, sizeof a);
    /* the wrong batch size */
    unsigned char w[5 + 8] = {4, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    put("cifar", "wrong-size", w, sizeof w);
    /* bad meta: 11 names */
    const char *m11 = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
    unsigned char b[5 + 64] = {1, 1, 0, 0, (unsigned char)strlen(m11)};
    memcpy(b + 5, m11, strlen(m11));
    put("cifar", "meta-11-names", b, 5 + strlen(m11));
}

/* -------------------------------------------------------------------- idx */
static size_t idx_bytes(unsigned char *out, int nd, const int *dims, unsigned char fill) {
    size_t n = 0, total = 1;
    out[n++] = 0; out[n++] = 0; out[n++] = 8; out[n++] = (unsigned char)nd;
    for (int i = 0; i < nd; i++) {
        out[n++] = (unsigned char)(dims[i] >> 24); out[n++] = (unsigned char)(dims[i] >> 16);
        out[n++] = (unsigned char)(dims[i] >> 8); out[n++] = (unsigned char)dims[i];
        total *= (size_t)dims[i];
    }
    for (size_t i = 0; i < total; i++) out[n++] = (unsigned char)(fill + i * 13) % (fill ? 251 : 10);
    return n;
}

static size_t gz_bytes(unsigned char *out, size_t cap, const unsigned char *in, size_t n) {
    /* a real gzip stream (header + deflate + trailer), as gzwrite makes */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("deflate");
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) fail("deflate");
    size_t len = z.total_out;
    deflateEnd(&z);
    return len;
}

static void seeds_idx(void) {
    unsigned char img[512], lab[64], gz[1024], buf[2048];
    int di[3] = {3, 4, 5}, dl[1] = {3};
    size_t ni = idx_bytes(img, 3, di, 17), nl = idx_bytes(lab, 1, dl, 0);
    unsigned char m0 = 0, m1 = 4;
    put2("idx", "plain-images", &m0, 1, img, ni);
    put2("idx", "plain-labels", &m0, 1, lab, nl);
    put2("idx", "compress-images", &m1, 1, img, ni);
    size_t ng = gz_bytes(gz, sizeof gz, img, ni);
    put2("idx", "raw-gzip-images", &m0, 1, gz, ng);
    int d4[4] = {1, 2, 2, 3};
    size_t n4 = idx_bytes(buf, 4, d4, 5);
    put2("idx", "plain-4d", &m0, 1, buf, n4);
    /* mode 2: an image/label pair for cn_dataset_load_mnist */
    unsigned char pre[4];
    for (int v = 0; v < 3; v++) {
        pre[0] = (unsigned char)(2 | (v == 1 ? 4 : 0) | (v >= 1 ? 8 : 0) | (v == 2 ? 16 : 0));
        pre[1] = (unsigned char)(ni & 255); pre[2] = (unsigned char)(ni >> 8);
        pre[3] = (unsigned char)(v == 2 ? 1 + 4 : 1); /* 2 train (+1 val) */
        memcpy(buf, pre, 4);
        memcpy(buf + 4, img, ni);
        memcpy(buf + 4 + ni, lab, nl);
        char name[32];
        snprintf(name, sizeof name, "mnist-pair-%d", v);
        put("idx", name, buf, 4 + ni + nl);
    }
}

/* ------------------------------------------------------------------- spec */
static void seeds_spec(void) {
    static const struct { unsigned char c, h, w; const char *spec; } s[] = {
        {0, 7, 7, "conv2x3-relu-pool2-affine4-relu-affine3"},
        {2, 7, 7, "conv4x3-bn-relu-conv4x3s2p1-bn-relu-pool2-affine10"},
        {1 | 4, 5, 5, "conv2x3-gn2-relu-pool3s2-affine6-ln-relu-affine2"},
        {0, 15, 15, "conv2x5p0-relu-pool2x3s1-fc5-bn-affine2"},
        {2, 31, 31, "three-layer"},
        {0, 3, 3, "affine3-relu-affine3-relu-affine2"},
        {0, 7, 7, "conv3x3-affine10"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        unsigned char pre[3] = {s[i].c, s[i].h, s[i].w};
        char name[32];
        snprintf(name, sizeof name, "spec-%zu", i);
        put2("spec", name, pre, 3, s[i].spec, strlen(s[i].spec));
    }
}

/* ------------------------------------------------------------------ image */
static void png_seed(const char *name, int w, int h, int color, int depth, int interlace,
                     int trns) {
    char path[1024];
    sub(path, sizeof path, "image", name);
    FILE *f = fopen(path, "wb");
    if (!f) fail(path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail("png");
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {10, 20, 250}};
        png_set_PLTE(png, info, pal, 4);
        if (trns) {
            png_byte alpha[2] = {0, 128};
            png_set_tRNS(png, info, alpha, 2, NULL);
        }
    }
    png_write_info(png, info);
    int channels = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    size_t rowbytes = ((size_t)w * channels * depth + 7) / 8;
    unsigned char *row = malloc(rowbytes);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            for (size_t i = 0; i < rowbytes; i++) row[i] = (unsigned char)(y * 31 + i * 17);
            if (color == PNG_COLOR_TYPE_PALETTE && depth == 8)
                for (size_t i = 0; i < rowbytes; i++) row[i] &= 3;
            png_write_row(png, row);
        }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(f);
}

static void jpeg_seed(const char *name, int w, int h, int comps, int progressive) {
    char path[1024];
    sub(path, sizeof path, "image", name);
    FILE *f = fopen(path, "wb");
    if (!f) fail(path);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * comps);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++) row[i] = (unsigned char)(c.next_scanline * 9 + i * 5);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
}

static void seeds_image(void) {
    png_seed("gray8.png", 5, 3, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0);
    png_seed("gray1.png", 9, 4, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 0);
    png_seed("rgb8.png", 4, 4, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 0);
    png_seed("rgba16.png", 3, 2, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 0);
    png_seed("graya8-interlaced.png", 7, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_ADAM7, 0);
    png_seed("palette-trns.png", 6, 5, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 1);
    png_seed("palette2-interlaced.png", 8, 8, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_ADAM7, 0);
    jpeg_seed("gray.jpg", 8, 8, 1, 0);
    jpeg_seed("rgb.jpg", 17, 9, 3, 0);
    jpeg_seed("rgb-progressive.jpg", 16, 16, 3, 1);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds OUTDIR\n");
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0755) != 0 && errno != EEXIST) fail(root);
    ctx = cn_ctx_new(1);
    if (!ctx) fail("ctx");
    seeds_st();
    seeds_resume();
    seeds_cifar();
    seeds_idx();
    seeds_spec();
    seeds_image();
    cn_ctx_free(ctx);
    return 0;
}
