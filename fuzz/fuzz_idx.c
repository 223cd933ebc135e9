/* fuzz_idx.c — IDX files (cn_idx_read, plain and gzip) and the MNIST loader
 * (cn_dataset_load_mnist) on arbitrary bytes.
 *
 * byte 0: bits 0-1 mode, bit 2 gzip-compress what is written, bit 3 also
 *         write the t10k pair (mode 2), bit 4 fashion class names
 *   mode 0/3: the rest is one IDX file (raw bytes may themselves be a gzip
 *             stream: the seeds include .gz files)
 *   mode 2:   bytes 1-2 (little endian) split the rest into an image file
 *             and a label file, loaded with cn_dataset_load_mnist(1 + byte 3 % 4
 *             train, byte 3 / 4 % 3 val, test 2) */
#include "fuzz_common.h"
#include <zlib.h>

static void write_maybe_gz(const char *path, const uint8_t *p, size_t n, int gz) {
    if (!gz) {
        fz_write(path, p, n);
        return;
    }
    gzFile g = gzopen(path, "wb1");
    if (!g) abort();
    if (n && gzwrite(g, p, (unsigned)n) != (int)n) abort();
    if (gzclose(g) != Z_OK) abort();
}

static void check_idx(const char *path, const uint8_t *raw, size_t rawn, int exact) {
    cn_ctx *ctx = fz_ctx();
    int ndim = -1, dims[4] = {-1, -1, -1, -1};
    uint8_t *d = NULL;
    int rc = cn_idx_read(ctx, path, &ndim, dims, &d);
    fz_check_error(rc);
    if (rc) {
        if (d) abort();
        return;
    }
    if (ndim < 1 || ndim > 4 || !d) abort();
    size_t total = 1;
    for (int i = 0; i < 4; i++) {
        if (dims[i] < 1) abort();
        if (i < ndim) total *= (size_t)dims[i];
        else if (dims[i] != 1) abort();
    }
    /* exact: the file is these bytes, so header + data must be all of it */
    if (exact) {
        if (4 + 4 * (size_t)ndim + total != rawn) abort();
        if (memcmp(d, raw + 4 + 4 * ndim, total)) abort();
    }
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ctx *ctx = fz_ctx();
    if (size < 1) return 0;
    int mode = data[0] & 3, gz = (data[0] >> 2) & 1, t10k = (data[0] >> 3) & 1;
    int fashion = (data[0] >> 4) & 1;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char path[320];
    if (mode != 2) {
        fz_path(path, sizeof path, "idx", gz ? "x.idx.gz" : "x.idx");
        write_maybe_gz(path, p, n, gz);
        /* raw gzip bytes decode to something else: compare only when we
         * wrote the payload itself (plain) or compressed it (gz) */
        int raw_gz = !gz && n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
        check_idx(path, p, n, !raw_gz);
        unlink(path);
        return 0;
    }
    if (n < 3) return 0;
    size_t split = (size_t)p[0] | (size_t)p[1] << 8;
    int ntrain = 1 + p[2] % 4, nval = p[2] / 4 % 3;
    p += 3;
    n -= 3;
    if (split > n) split = n;
    const char *dir = fz_dir("idx");
    static const char *names[4][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                                      {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    char f[4][340];
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 2; j++) {
            snprintf(f[2 * k + j], sizeof f[0], "%s/%s%s", dir, names[k][j], gz ? ".gz" : "");
            /* never leave the other variant (.gz / plain) from a previous input */
            char other[340];
            snprintf(other, sizeof other, "%s/%s%s", dir, names[k][j], gz ? "" : ".gz");
            unlink(other);
            unlink(f[2 * k + j]);
        }
    write_maybe_gz(f[0], p, split, gz);
    write_maybe_gz(f[1], p + split, n - split, gz);
    if (t10k) {
        write_maybe_gz(f[2], p, split, gz);
        write_maybe_gz(f[3], p + split, n - split, gz);
    }
    cn_dataset ds;
    int rc = cn_dataset_load_mnist(ctx, &ds, dir, fashion, ntrain, nval, 2);
    fz_check_error(rc);
    if (rc == CN_OK) {
        if (ds.train.n != ntrain || ds.val.n != nval || ds.train.c != 1 || !ds.mean) abort();
        if (ds.train.h < 1 || ds.train.w < 1) abort();
        if (!t10k && ds.test.n != 0) abort();
        if (ds.test.n > 2) abort();
        const cn_split *sp[3] = {&ds.train, &ds.val, &ds.test};
        size_t D = (size_t)ds.train.h * ds.train.w;
        float *x = malloc(D * sizeof(float));
        if (!x) abort();
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < sp[s]->n; i++) {
                int32_t y, idx = i;
                if (sp[s]->y[i] >= 10) abort();
                if (cn_split_batch_f32(ctx, sp[s], ds.mean, &idx, 1, x, &y) != CN_OK) abort();
            }
        free(x);
        cn_dataset_free(&ds);
    }
    return 0;
}
