/* test_data.c — CIFAR-10 / IDX / MNIST loaders and minibatch conversion,
 * on small files written here (valid and broken), plus the real data sets
 * when they are present. */
#define _GNU_SOURCE
#include "fixtures.h"
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define REC 3073
#define BATCH_BYTES 30730000L

static char tmpdir[256];


static void mkpath(char *buf, size_t cap, const char *sub, const char *name) {
    snprintf(buf, cap, "%s%s%s%s%s", tmpdir, *sub ? "/" : "", sub, *name ? "/" : "", name);
}

static void mksub(const char *sub) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, sub);
    mkdir(p, 0700);
}

/* Write bytes to a file; then, when total > len, extend it (sparse) to total. */
static void write_file(const char *path, const void *data, size_t len, long total) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (len && fwrite(data, 1, len, f) != len) { perror(path); exit(2); }
    fflush(f);
    if (total > (long)len && ftruncate(fileno(f), total) != 0) { perror(path); exit(2); }
    fclose(f);
}

static void write_gz(const char *path, const void *data, size_t len) {
    gzFile g = gzopen(path, "wb");
    if (!g) { perror(path); exit(2); }
    if (len && gzwrite(g, data, (unsigned)len) != (int)len) { fprintf(stderr, "gzwrite\n"); exit(2); }
    gzclose(g);
}

/* an IDX ubyte file image in memory: header + data */
static size_t make_idx(uint8_t *buf, int ndim, const uint32_t *dims, const uint8_t *data,
                       size_t dlen) {
    buf[0] = 0; buf[1] = 0; buf[2] = 8; buf[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = dims[i] >> 24; buf[5 + 4 * i] = dims[i] >> 16;
        buf[6 + 4 * i] = dims[i] >> 8; buf[7 + 4 * i] = dims[i];
    }
    memcpy(buf + 4 + 4 * ndim, data, dlen);
    return 4 + 4 * ndim + dlen;
}

static int has(cn_ctx *ctx, const char *s) { return strstr(cn_ctx_error(ctx), s) != NULL; }

/* ------------------------------------------------------------- CIFAR tests */
static uint8_t recs[6][REC]; /* records written at the start of data_batch_1 */

static void test_cifar(cn_ctx *ctx) {
    cn_rng r;
    cn_rng_seed(&r, 7);
    for (int i = 0; i < 6; i++) {
        recs[i][0] = (uint8_t)cn_rng_below(&r, 10);
        for (int k = 1; k < REC; k++) recs[i][k] = (uint8_t)cn_rng_below(&r, 256);
    }
    char p[512];
    mksub("cifar");
    mkpath(p, sizeof p, "cifar", "data_batch_1.bin");
    write_file(p, recs, sizeof recs, BATCH_BYTES); /* 6 real records, the rest zeros */
    mkpath(p, sizeof p, "cifar", "batches.meta.txt");
    const char *meta = "a0\nb1\nc2\nd3\ne4\nf5\ng6\nh7\ni8\nj9\n\n";
    write_file(p, meta, strlen(meta), 0);
    char dir[512];
    mkpath(dir, sizeof dir, "cifar", "");

    cn_dataset ds;
    int rc = cn_dataset_load_cifar10(ctx, &ds, dir, 3, 2, 5);
    check_true("cifar: load 3/2/5 from a one-batch dir", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    if (rc) return;
    check_true("cifar: shapes", ds.train.n == 3 && ds.val.n == 2 && ds.test.n == 0 &&
               ds.train.c == 3 && ds.train.h == 32 && ds.train.w == 32 && ds.val.c == 3,
               "train 3, val 2, test 0 (no test_batch.bin)");
    check_true("cifar: name and class names from batches.meta.txt",
               !strcmp(ds.name, "cifar10") && ds.num_classes == 10 &&
               !strcmp(ds.classes[0], "a0") && !strcmp(ds.classes[9], "j9"), ds.classes[9]);
    double err = 0;
    for (int i = 0; i < 5; i++) {
        const cn_split *sp = i < 3 ? &ds.train : &ds.val;
        int j = i < 3 ? i : i - 3;
        err += sp->y[j] != recs[i][0];
        err += memcmp(sp->x + (size_t)j * 3072, recs[i] + 1, 3072) != 0;
    }
    check_le("cifar: images and labels equal the records written", err, 0);
    double merr = 0;
    for (int k = 0; k < 3072; k++) {
        double m = (recs[0][1 + k] + recs[1][1 + k] + recs[2][1 + k]) / 3.0;
        double e = fabs(ds.mean[k] - m);
        if (e > merr) merr = e;
    }
    check_le("cifar: mean image = mean of the 3 train images only", merr, 1e-4);

    /* minibatch conversion */
    int32_t idx[3] = {2, 0, 2}, y[3];
    float *xf = xmalloc(3 * 3072 * sizeof(float));
    double *xd = xmalloc(3 * 3072 * sizeof(double));
    rc = cn_split_batch_f32(ctx, &ds.train, ds.mean, idx, 3, xf, y);
    double berr = 0;
    for (int i = 0; i < 3; i++) {
        berr += y[i] != recs[idx[i]][0];
        for (int k = 0; k < 3072; k++) {
            double want = recs[idx[i]][1 + k] - (recs[0][1 + k] + recs[1][1 + k] + recs[2][1 + k]) / 3.0;
            double e = fabs(xf[i * 3072 + k] - want);
            if (e > berr) berr = e;
        }
    }
    check_le("cifar: batch f32 = pixel - mean, labels", rc ? 1e9 : berr, 1e-4);
    rc = cn_split_batch_f64(ctx, &ds.val, ds.mean, idx + 1, 1, xd, y);
    berr = y[0] != recs[3][0];
    for (int k = 0; k < 3072; k++) {
        double e = fabs(xd[k] - (recs[3][1 + k] - (double)ds.mean[k]));
        if (e > berr) berr = e;
    }
    check_le("cifar: batch f64 from val (idx 0)", rc ? 1e9 : berr, 1e-12);
    int32_t bad[2] = {0, 3};
    rc = cn_split_batch_f32(ctx, &ds.train, ds.mean, bad, 2, xf, y);
    check_true("cifar: batch index out of range -> CN_EINVAL naming it",
               rc == CN_EINVAL && strstr(cn_ctx_error(ctx), "idx[1] = 3"), cn_ctx_error(ctx));
    int32_t neg[1] = {-1};
    check_true("cifar: negative batch index -> CN_EINVAL",
               cn_split_batch_f64(ctx, &ds.train, ds.mean, neg, 1, xd, y) == CN_EINVAL, "");
    free(xf); free(xd);
    cn_dataset_free(&ds);

    /* a test batch (sparse, 2 real records) */
    mkpath(p, sizeof p, "cifar", "test_batch.bin");
    write_file(p, recs[4], 2 * REC, BATCH_BYTES);
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 2, 0, 2);
    check_true("cifar: test_batch.bin read (first num_test)",
               rc == CN_OK && ds.test.n == 2 && ds.val.n == 0 &&
               ds.test.y[1] == recs[5][0] &&
               !memcmp(ds.test.x + 3072, recs[5] + 1, 3072), rc ? cn_ctx_error(ctx) : "");
    cn_dataset_free(&ds);
    remove(p);

    /* more than one batch needed: data_batch_2 missing, then present */
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 10001, 1, 0);
    check_true("cifar: missing data_batch_2.bin -> CN_EIO naming it",
               rc == CN_EIO && has(ctx, "data_batch_2.bin"), cn_ctx_error(ctx));
    mkpath(p, sizeof p, "cifar", "data_batch_2.bin");
    write_file(p, recs[1], REC, BATCH_BYTES);
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 10001, 1, 0);
    check_true("cifar: 10001/1 spans two batches, val = record 1 of batch 2",
               rc == CN_OK && ds.train.n == 10001 && ds.train.y[10000] == recs[1][0] &&
               !memcmp(ds.train.x + (size_t)10000 * 3072, recs[1] + 1, 3072) &&
               ds.val.y[0] == 0 && ds.train.y[6] == 0 && ds.train.y[5] == recs[5][0],
               rc ? cn_ctx_error(ctx) : "");
    cn_dataset_free(&ds);

    /* bad counts */
    check_true("cifar: num_train + num_val > 50000 -> CN_EINVAL",
               cn_dataset_load_cifar10(ctx, &ds, dir, 49500, 1000, 0) == CN_EINVAL, cn_ctx_error(ctx));
    check_true("cifar: num_train 0 -> CN_EINVAL",
               cn_dataset_load_cifar10(ctx, &ds, dir, 0, 10, 0) == CN_EINVAL, cn_ctx_error(ctx));

    /* truncated batch */
    mkpath(p, sizeof p, "cifar", "data_batch_1.bin");
    write_file(p, recs, sizeof recs, BATCH_BYTES - 1);
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 3, 0, 0);
    check_true("cifar: truncated batch -> CN_EFORMAT naming the file",
               rc == CN_EFORMAT && has(ctx, "data_batch_1.bin") && has(ctx, "30730000"),
               cn_ctx_error(ctx));
    check_true("cifar: dataset zeroed after a failed load", ds.train.x == NULL && ds.mean == NULL, "");
    write_file(p, recs, sizeof recs, BATCH_BYTES + 3073);
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 3, 0, 0);
    check_true("cifar: oversized batch -> CN_EFORMAT", rc == CN_EFORMAT, cn_ctx_error(ctx));

    /* wrong label in record 1 (offset 3073) */
    uint8_t bad_recs[2][REC];
    memcpy(bad_recs, recs, sizeof bad_recs);
    bad_recs[1][0] = 10;
    write_file(p, bad_recs, sizeof bad_recs, BATCH_BYTES);
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 3, 0, 0);
    check_true("cifar: label 10 -> CN_EFORMAT naming the record offset",
               rc == CN_EFORMAT && has(ctx, "3073") && has(ctx, "data_batch_1.bin"),
               cn_ctx_error(ctx));

    /* no batches.meta.txt: the standard names */
    write_file(p, recs, sizeof recs, BATCH_BYTES);
    mkpath(p, sizeof p, "cifar", "batches.meta.txt");
    remove(p);
    rc = cn_dataset_load_cifar10(ctx, &ds, dir, 1, 1, 0);
    check_true("cifar: no batches.meta.txt -> standard class names",
               rc == CN_OK && !strcmp(ds.classes[0], "airplane") &&
               !strcmp(ds.classes[9], "truck"), rc ? cn_ctx_error(ctx) : "");
    cn_dataset_free(&ds);
    rc = cn_dataset_load_cifar10(ctx, &ds, "/nonexistent-convnet-dir", 1, 1, 0);
    check_true("cifar: missing dir -> CN_EIO", rc == CN_EIO, cn_ctx_error(ctx));
}

/* --------------------------------------------------------------- IDX tests */
static void test_idx(cn_ctx *ctx) {
    uint8_t buf[4096], data[120];
    for (int i = 0; i < 120; i++) data[i] = (uint8_t)(i * 7 + 3);
    uint32_t d3[3] = {4, 5, 6};
    size_t len = make_idx(buf, 3, d3, data, 120);
    char p[512], q[512];
    mkpath(p, sizeof p, "", "plain.idx");
    mkpath(q, sizeof q, "", "gz.idx.gz");
    write_file(p, buf, len, 0);
    write_gz(q, buf, len);
    for (int g = 0; g < 2; g++) {
        int nd = 0, dims[4] = {0};
        uint8_t *out = NULL;
        int rc = cn_idx_read(ctx, g ? q : p, &nd, dims, &out);
        check_true(g ? "idx: gzip file read back exactly" : "idx: plain file read back exactly",
                   rc == CN_OK && nd == 3 && dims[0] == 4 && dims[1] == 5 && dims[2] == 6 &&
                   out && !memcmp(out, data, 120), rc ? cn_ctx_error(ctx) : "");
        free(out);
    }
    int nd, dims[4];
    uint8_t *out;
    /* wrong magic */
    uint8_t b2[4096];
    memcpy(b2, buf, len);
    b2[1] = 1;
    write_file(p, b2, len, 0);
    check_true("idx: wrong magic -> CN_EFORMAT",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT && has(ctx, "magic") &&
               has(ctx, "plain.idx"), cn_ctx_error(ctx));
    memcpy(b2, buf, len);
    b2[2] = 0x0d; /* float */
    write_gz(q, b2, len);
    check_true("idx: type 0x0d -> CN_EFORMAT",
               cn_idx_read(ctx, q, &nd, dims, &out) == CN_EFORMAT, cn_ctx_error(ctx));
    memcpy(b2, buf, len);
    b2[3] = 5;
    write_file(p, b2, len, 0);
    check_true("idx: 5 dimensions -> CN_EFORMAT",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT, cn_ctx_error(ctx));
    uint32_t dz[2] = {3, 0};
    len = make_idx(b2, 2, dz, data, 0);
    write_file(p, b2, len, 0);
    check_true("idx: a zero dimension -> CN_EFORMAT",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT, cn_ctx_error(ctx));
    /* huge declared dims in a tiny file */
    uint32_t dh[3] = {0x7fffffffu, 28, 28};
    len = make_idx(b2, 3, dh, data, 100);
    write_file(p, b2, len, 0);
    check_true("idx: 2^31 x 28 x 28 in a tiny plain file -> CN_EFORMAT (truncated)",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT && has(ctx, "truncated"),
               cn_ctx_error(ctx));
    write_gz(q, b2, len);
    int rc = cn_idx_read(ctx, q, &nd, dims, &out);
    check_true("idx: 2^31 x 28 x 28 in a tiny gzip -> error, no allocation",
               rc == CN_ENOMEM || rc == CN_EFORMAT, cn_ctx_error(ctx));
    uint32_t dm[3] = {100000, 28, 28}; /* 78 MB declared, 100 bytes there */
    len = make_idx(b2, 3, dm, data, 100);
    write_gz(q, b2, len);
    rc = cn_idx_read(ctx, q, &nd, dims, &out);
    check_true("idx: gzip declaring 78 MB holding 100 bytes -> CN_EFORMAT (expected vs found)",
               rc == CN_EFORMAT && has(ctx, "78400000") && has(ctx, "found 100"),
               cn_ctx_error(ctx));
    /* dims whose product overflows 64 bits */
    uint32_t dov[4] = {0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0x7fffffffu};
    len = make_idx(b2, 4, dov, data, 10);
    write_file(p, b2, len, 0);
    check_true("idx: dims product overflows -> CN_EFORMAT",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT && has(ctx, "overflow"),
               cn_ctx_error(ctx));
    /* truncated plain data */
    len = make_idx(b2, 3, d3, data, 120);
    write_file(p, b2, len - 50, 0);
    check_true("idx: plain file 50 bytes short -> CN_EFORMAT naming 120 vs 70",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT && has(ctx, "120") &&
               has(ctx, "70"), cn_ctx_error(ctx));
    write_file(p, b2, 10, 0);
    check_true("idx: truncated header -> CN_EFORMAT",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT, cn_ctx_error(ctx));
    write_file(p, b2, 0, 0);
    check_true("idx: empty file -> CN_EFORMAT",
               cn_idx_read(ctx, p, &nd, dims, &out) == CN_EFORMAT, cn_ctx_error(ctx));
    /* a gzip stream cut short: random data so it does not compress away */
    uint8_t big[8 + 4 + 4000];
    cn_rng r;
    cn_rng_seed(&r, 3);
    uint8_t rnd[4000];
    for (int i = 0; i < 4000; i++) rnd[i] = (uint8_t)cn_rng_u64(&r);
    uint32_t d1[1] = {4000};
    len = make_idx(big, 1, d1, rnd, 4000);
    write_gz(q, big, len);
    struct stat st;
    stat(q, &st);
    truncate(q, st.st_size / 2);
    rc = cn_idx_read(ctx, q, &nd, dims, &out);
    check_true("idx: gzip cut in half -> CN_EFORMAT", rc == CN_EFORMAT, cn_ctx_error(ctx));
    check_true("idx: missing file -> CN_EIO",
               cn_idx_read(ctx, "/nonexistent-convnet.idx", &nd, dims, &out) == CN_EIO,
               cn_ctx_error(ctx));
    remove(p);
    remove(q);
}

/* ------------------------------------------------------------- MNIST tests */
static void write_idx_file(const char *sub, const char *name, int gz, int ndim,
                           const uint32_t *dims, const uint8_t *data, size_t dlen) {
    uint8_t *buf = xmalloc(dlen + 32);
    size_t len = make_idx(buf, ndim, dims, data, dlen);
    char p[512];
    mkpath(p, sizeof p, sub, name);
    if (gz) write_gz(p, buf, len); else write_file(p, buf, len, 0);
    free(buf);
}

static void test_mnist(cn_ctx *ctx) {
    enum { N = 6, H = 4, W = 3, NT = 3 };
    uint8_t img[N * H * W], lab[N], timg[NT * H * W], tlab[NT];
    cn_rng r;
    cn_rng_seed(&r, 11);
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)cn_rng_below(&r, 256);
    for (int i = 0; i < N; i++) lab[i] = (uint8_t)cn_rng_below(&r, 10);
    for (int i = 0; i < NT * H * W; i++) timg[i] = (uint8_t)cn_rng_below(&r, 256);
    for (int i = 0; i < NT; i++) tlab[i] = (uint8_t)cn_rng_below(&r, 10);
    mksub("mnist");
    uint32_t di[3] = {N, H, W}, dl[1] = {N}, dti[3] = {NT, H, W}, dtl[1] = {NT};
    write_idx_file("mnist", "train-images-idx3-ubyte.gz", 1, 3, di, img, sizeof img);
    write_idx_file("mnist", "train-labels-idx1-ubyte", 0, 1, dl, lab, sizeof lab);
    write_idx_file("mnist", "t10k-images-idx3-ubyte", 0, 3, dti, timg, sizeof timg);
    write_idx_file("mnist", "t10k-labels-idx1-ubyte.gz", 1, 1, dtl, tlab, sizeof tlab);
    char dir[512];
    mkpath(dir, sizeof dir, "mnist", "");
    cn_dataset ds;
    int rc = cn_dataset_load_mnist(ctx, &ds, dir, 1, 4, 2, 10);
    check_true("mnist: load 4/2/10 (gzip and plain mixed)", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    if (rc) return;
    check_true("mnist: shapes (test clamped to 3)",
               ds.train.n == 4 && ds.val.n == 2 && ds.test.n == 3 && ds.train.c == 1 &&
               ds.train.h == H && ds.train.w == W && ds.val.h == H && ds.test.w == W, "");
    check_true("mnist: fashion class names", !strcmp(ds.name, "fashion-mnist") &&
               !strcmp(ds.classes[0], "T-shirt/top") && !strcmp(ds.classes[9], "Ankle boot"),
               ds.classes[0]);
    int D = H * W;
    double err = 0;
    err += memcmp(ds.train.x, img, 4 * D) != 0;
    err += memcmp(ds.train.y, lab, 4) != 0;
    err += memcmp(ds.val.x, img + 4 * D, 2 * D) != 0;
    err += memcmp(ds.val.y, lab + 4, 2) != 0;
    err += memcmp(ds.test.x, timg, 3 * D) != 0;
    err += memcmp(ds.test.y, tlab, 3) != 0;
    check_le("mnist: splits equal the data written", err, 0);
    double merr = 0;
    for (int k = 0; k < D; k++) {
        double m = (img[k] + img[D + k] + img[2 * D + k] + img[3 * D + k]) / 4.0;
        if (fabs(ds.mean[k] - m) > merr) merr = fabs(ds.mean[k] - m);
    }
    check_le("mnist: mean image of the train split", merr, 1e-5);
    int32_t idx[2] = {2, 0}, y[2];
    double xd[2 * H * W];
    rc = cn_split_batch_f64(ctx, &ds.test, ds.mean, idx, 2, xd, y);
    double berr = rc != 0;
    for (int i = 0; i < 2; i++) {
        berr += y[i] != tlab[idx[i]];
        for (int k = 0; k < D; k++) {
            double m = (img[k] + img[D + k] + img[2 * D + k] + img[3 * D + k]) / 4.0;
            double e = fabs(xd[i * D + k] - (timg[idx[i] * D + k] - m));
            if (e > berr) berr = e;
        }
    }
    check_le("mnist: test batch f64 = pixel - train mean", berr, 1e-5);
    cn_dataset_free(&ds);

    rc = cn_dataset_load_mnist(ctx, &ds, dir, 0, -1, 0, 0);
    check_true("mnist: num_train default 59000 > 6 images -> CN_EINVAL", rc == CN_EINVAL,
               cn_ctx_error(ctx));
    rc = cn_dataset_load_mnist(ctx, &ds, dir, 0, 6, 0, 0);
    check_true("mnist: digit class names, test 0", rc == CN_OK && !strcmp(ds.name, "mnist") &&
               !strcmp(ds.classes[3], "3") && ds.test.n == 0 && ds.val.n == 0,
               rc ? cn_ctx_error(ctx) : "");
    cn_dataset_free(&ds);

    /* count mismatch */
    uint32_t dl5[1] = {N - 1};
    char p[512];
    write_idx_file("mnist", "train-labels-idx1-ubyte", 0, 1, dl5, lab, N - 1);
    rc = cn_dataset_load_mnist(ctx, &ds, dir, 0, 2, 1, 0);
    check_true("mnist: 5 labels for 6 images -> CN_EFORMAT", rc == CN_EFORMAT,
               cn_ctx_error(ctx));
    /* label out of range */
    uint8_t lab2[N];
    memcpy(lab2, lab, N);
    lab2[3] = 12;
    write_idx_file("mnist", "train-labels-idx1-ubyte", 0, 1, dl, lab2, N);
    rc = cn_dataset_load_mnist(ctx, &ds, dir, 0, 2, 1, 0);
    check_true("mnist: label 12 -> CN_EFORMAT", rc == CN_EFORMAT && has(ctx, "12"),
               cn_ctx_error(ctx));
    /* labels missing entirely */
    mkpath(p, sizeof p, "mnist", "train-labels-idx1-ubyte");
    remove(p);
    rc = cn_dataset_load_mnist(ctx, &ds, dir, 0, 2, 1, 0);
    check_true("mnist: missing label file -> CN_EIO naming it",
               rc == CN_EIO && has(ctx, "train-labels-idx1-ubyte"), cn_ctx_error(ctx));
    /* images with a wrong ndim */
    write_idx_file("mnist", "train-labels-idx1-ubyte", 0, 1, dl, lab, N);
    uint32_t d2[2] = {N, H * W};
    write_idx_file("mnist", "train-images-idx3-ubyte.gz", 1, 2, d2, img, sizeof img);
    rc = cn_dataset_load_mnist(ctx, &ds, dir, 0, 2, 1, 0);
    check_true("mnist: 2-D image file -> CN_EFORMAT", rc == CN_EFORMAT, cn_ctx_error(ctx));
}

/* ---------------------------------------------------------- the real data */
static void test_real(cn_ctx *ctx) {
    const char *cdir = "../shared/data/cifar-10-batches-bin";
    struct stat st;
    if (stat(cdir, &st) == 0) {
        cn_dataset ds;
        int rc = cn_dataset_load_cifar10(ctx, &ds, cdir, 100, 10, 0);
        int ok = rc == CN_OK && ds.train.n == 100 && ds.val.n == 10 && ds.test.n == 0 &&
                 ds.train.c == 3 && ds.train.h == 32 && ds.train.w == 32;
        int lab_ok = ok, seen = 0;
        for (int i = 0; ok && i < 100; i++) {
            lab_ok &= ds.train.y[i] < 10;
            seen |= 1 << ds.train.y[i];
        }
        double mm = 0;
        for (int k = 0; ok && k < 3072; k++) mm += ds.mean[k] / 3072;
        check_true("real cifar10: 100/10/0 loads with shapes", ok, rc ? cn_ctx_error(ctx) : "");
        check_true("real cifar10: labels < 10, several classes present",
                   lab_ok && __builtin_popcount(seen) >= 5, "");
        check_true("real cifar10: mean pixel in (60, 200), class names", ok && mm > 60 &&
                   mm < 200 && !strcmp(ds.classes[0], "airplane"), ds.classes[0]);
        cn_dataset_free(&ds);
    } else {
        printf("NOTE real cifar10 skipped: %s not found\n", cdir);
    }
    const char *fdir = "/usr/share/datasets/fashion-mnist";
    if (stat(fdir, &st) == 0) {
        cn_dataset ds;
        int rc = cn_dataset_load_mnist(ctx, &ds, fdir, 1, 100, 10, 20);
        int ok = rc == CN_OK && ds.train.n == 100 && ds.val.n == 10 && ds.test.n == 20 &&
                 ds.train.c == 1 && ds.train.h == 28 && ds.train.w == 28;
        int lab_ok = ok;
        for (int i = 0; ok && i < 20; i++) lab_ok &= ds.test.y[i] < 10 && ds.train.y[i] < 10;
        check_true("real fashion-mnist: 100/10/20 loads, 28x28, labels < 10", ok && lab_ok,
                   rc ? cn_ctx_error(ctx) : "");
        cn_dataset_free(&ds);
    } else {
        printf("NOTE real fashion-mnist skipped: %s not found\n", fdir);
    }
}

int main(void) {
    if (fx_mkdtemp(tmpdir, sizeof tmpdir, "cn_test_data")) return 2;
    cn_ctx *ctx = cn_ctx_new(1);
    test_cifar(ctx);
    test_idx(ctx);
    test_mnist(ctx);
    test_real(ctx);
    cn_ctx_free(ctx);
    fx_rm_tree(tmpdir);
    return check_done();
}
