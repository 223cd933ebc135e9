/* data.c — CIFAR-10 and MNIST/Fashion-MNIST loaders, IDX files, minibatches.
 *
 * Images stay uint8 (a full CIFAR-10 load is ~150 MB, not gigabytes of
 * floats); cn_split_batch_* converts one minibatch at a time, subtracting the
 * mean image of the train split (raw 0..255 values, as the original). */
#include "internal.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <zlib.h>

#define CIFAR_IMG 3072                 /* 3 x 32 x 32 */
#define CIFAR_REC (1 + CIFAR_IMG)      /* label byte + pixels */
#define CIFAR_PER_BATCH 10000
#define CIFAR_BATCH_BYTES ((long long)CIFAR_PER_BATCH * CIFAR_REC) /* 30730000 */
#define CIFAR_NBATCH 5
#define IDX_MAX_BYTES ((size_t)1 << 30) /* 1 GiB: the largest IDX payload */

static const char *const cifar_names[10] = {
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck"};
static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

void cn_dataset_free(cn_dataset *ds) {
    if (!ds) return;
    free(ds->train.x); free(ds->train.y);
    free(ds->val.x); free(ds->val.y);
    free(ds->test.x); free(ds->test.y);
    free(ds->mean);
    memset(ds, 0, sizeof *ds);
}

static int join_path(cn_ctx *ctx, char *buf, size_t cap, const char *dir,
                     const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return cn_error(ctx, CN_EINVAL, "path too long: %s/%s", dir, name);
    return CN_OK;
}

/* Allocate a split of n images of c x h x w (n may be 0: no buffers). */
static int split_alloc(cn_ctx *ctx, cn_split *sp, int n, int c, int h, int w,
                       const char *what) {
    sp->n = n; sp->c = c; sp->h = h; sp->w = w;
    sp->x = NULL; sp->y = NULL;
    if (n == 0) return CN_OK;
    size_t img = cn__mul(cn__mul((size_t)c, (size_t)h), (size_t)w);
    size_t bytes = cn__mul(img, (size_t)n);
    if (!bytes) return cn_error(ctx, CN_ENOMEM, "%s split: size overflows", what);
    sp->x = malloc(bytes);
    sp->y = malloc((size_t)n);
    if (!sp->x || !sp->y)
        return cn_error(ctx, CN_ENOMEM, "%s split: cannot allocate %zu bytes for %d images",
                      what, bytes, n);
    return CN_OK;
}

/* mean image of the train split, accumulated in double */
static int compute_mean(cn_ctx *ctx, cn_dataset *ds) {
    const cn_split *t = &ds->train;
    size_t D = (size_t)t->c * t->h * t->w;
    ds->mean = malloc(D * sizeof(float));
    double *acc = calloc(D, sizeof(double));
    if (!ds->mean || !acc) {
        free(acc);
        return cn_error(ctx, CN_ENOMEM, "cannot allocate the mean image (%zu values)", D);
    }
    for (int i = 0; i < t->n; i++) {
        const uint8_t *p = t->x + (size_t)i * D;
        for (size_t k = 0; k < D; k++) acc[k] += p[k];
    }
    double inv = t->n > 0 ? 1.0 / t->n : 0.0;
    for (size_t k = 0; k < D; k++) ds->mean[k] = (float)(acc[k] * inv);
    free(acc);
    return CN_OK;
}

/* ---------------------------------------------------------------- CIFAR-10 */

static int cifar_class_names(cn_ctx *ctx, cn_dataset *ds, const char *dir) {
    char path[4096];
    int rc = join_path(ctx, path, sizeof path, dir, "batches.meta.txt");
    if (rc) return rc;
    ds->num_classes = 10;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT)
            return cn_error(ctx, CN_EIO, "cannot open %s: %s", path, strerror(errno));
        for (int i = 0; i < 10; i++)
            snprintf(ds->classes[i], sizeof ds->classes[i], "%s", cifar_names[i]);
        return CN_OK;
    }
    char line[256];
    int k = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                       line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = 0;
        if (!len) continue;
        if (k >= 10) {
            fclose(f);
            return cn_error(ctx, CN_EFORMAT,
                          "%s line %d: more than 10 class names (expected exactly 10)",
                          path, lineno);
        }
        snprintf(ds->classes[k], sizeof ds->classes[k], "%.31s", line);
        k++;
    }
    int err = ferror(f);
    fclose(f);
    if (err) return cn_error(ctx, CN_EIO, "read error in %s", path);
    if (k != 10)
        return cn_error(ctx, CN_EFORMAT, "%s: %d class names, expected 10 (one per line)",
                      path, k);
    return CN_OK;
}

/* Open a CIFAR batch and check its size. *f NULL with CN_OK when absent and
 * `optional`. */
static int cifar_open(cn_ctx *ctx, FILE **f, const char *path, int optional) {
    *f = fopen(path, "rb");
    if (!*f) {
        if (optional && errno == ENOENT) return CN_OK;
        return cn_error(ctx, CN_EIO, "cannot open CIFAR-10 batch %s: %s", path,
                      strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(*f), &st) != 0) {
        int e = errno;
        fclose(*f); *f = NULL;
        return cn_error(ctx, CN_EIO, "cannot stat %s: %s", path, strerror(e));
    }
    if ((long long)st.st_size != CIFAR_BATCH_BYTES) {
        fclose(*f); *f = NULL;
        return cn_error(ctx, CN_EFORMAT,
                      "%s: %lld bytes, expected %lld (%d records of 1 label + %d pixel "
                      "bytes)%s", path, (long long)st.st_size, CIFAR_BATCH_BYTES,
                      CIFAR_PER_BATCH, CIFAR_IMG,
                      (long long)st.st_size < CIFAR_BATCH_BYTES ? ": truncated" : "");
    }
    return CN_OK;
}

/* Read the first `count` records of f. Record r is image a_start + r of the
 * concatenated batches: it goes to a[g] when g < na, else b[g - na]. */
static int cifar_read_records(cn_ctx *ctx, FILE *f, const char *path, int count,
                              cn_split *a, int na, cn_split *b, int a_start,
                              uint8_t *buf, int bufrec) {
    for (int r0 = 0; r0 < count; r0 += bufrec) {
        int k = count - r0 < bufrec ? count - r0 : bufrec;
        size_t want = (size_t)k * CIFAR_REC;
        size_t got = fread(buf, 1, want, f);
        if (got != want)
            return cn_error(ctx, ferror(f) ? CN_EIO : CN_EFORMAT,
                          "%s: read %zu of %zu bytes at offset %lld", path, got, want,
                          (long long)r0 * CIFAR_REC);
        for (int i = 0; i < k; i++) {
            const uint8_t *rec = buf + (size_t)i * CIFAR_REC;
            int r = r0 + i;
            if (rec[0] >= 10)
                return cn_error(ctx, CN_EFORMAT,
                              "%s: record %d (offset %lld) has label %d, expected 0..9",
                              path, r, (long long)r * CIFAR_REC, rec[0]);
            long g = (long)a_start + r;
            cn_split *sp = g < na ? a : b;
            long j = g < na ? g : g - na;
            sp->y[j] = rec[0];
            memcpy(sp->x + (size_t)j * CIFAR_IMG, rec + 1, CIFAR_IMG);
        }
    }
    return CN_OK;
}

static int load_cifar(cn_ctx *ctx, cn_dataset *ds, const char *dir, int num_train,
                      int num_val, int num_test) {
    if (num_train < 0) num_train = 49000;
    if (num_val < 0) num_val = 1000;
    if (num_test < 0) num_test = 1000;
    if (num_train == 0)
        return cn_error(ctx, CN_EINVAL, "cifar10: num_train must be > 0");
    if ((long)num_train + num_val > CIFAR_NBATCH * CIFAR_PER_BATCH)
        return cn_error(ctx, CN_EINVAL,
                      "cifar10: num_train + num_val = %ld exceeds the %d training images",
                      (long)num_train + num_val, CIFAR_NBATCH * CIFAR_PER_BATCH);
    if (num_test > CIFAR_PER_BATCH) num_test = CIFAR_PER_BATCH;
    snprintf(ds->name, sizeof ds->name, "cifar10");
    int rc = cifar_class_names(ctx, ds, dir);
    if (rc) return rc;
    if ((rc = split_alloc(ctx, &ds->train, num_train, 3, 32, 32, "train"))) return rc;
    if ((rc = split_alloc(ctx, &ds->val, num_val, 3, 32, 32, "val"))) return rc;

    const int bufrec = 256;
    uint8_t *buf = malloc((size_t)bufrec * CIFAR_REC);
    if (!buf) return cn_error(ctx, CN_ENOMEM, "cannot allocate a read buffer");
    char path[4096];
    int total = num_train + num_val;
    for (int b = 0; b * CIFAR_PER_BATCH < total && !rc; b++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", b + 1);
        if ((rc = join_path(ctx, path, sizeof path, dir, name))) break;
        FILE *f;
        if ((rc = cifar_open(ctx, &f, path, 0))) break;
        int start = b * CIFAR_PER_BATCH;
        int count = total - start < CIFAR_PER_BATCH ? total - start : CIFAR_PER_BATCH;
        rc = cifar_read_records(ctx, f, path, count, &ds->train, num_train, &ds->val,
                                start, buf, bufrec);
        fclose(f);
    }
    if (!rc && num_test > 0) {
        FILE *f = NULL;
        rc = join_path(ctx, path, sizeof path, dir, "test_batch.bin");
        if (!rc) rc = cifar_open(ctx, &f, path, 1);
        if (!rc && f) {
            rc = split_alloc(ctx, &ds->test, num_test, 3, 32, 32, "test");
            if (!rc)
                rc = cifar_read_records(ctx, f, path, num_test, &ds->test, num_test,
                                        NULL, 0, buf, bufrec);
        } else if (!rc) {
            ds->test.c = 3; ds->test.h = 32; ds->test.w = 32;
        }
        if (f) fclose(f);
    } else if (!rc) {
        ds->test.c = 3; ds->test.h = 32; ds->test.w = 32;
    }
    free(buf);
    if (rc) return rc;
    return compute_mean(ctx, ds);
}

int cn_dataset_load_cifar10(cn_ctx *ctx, cn_dataset *ds, const char *dir, int num_train,
                    int num_val, int num_test) {
    if (!ds || !dir) return cn_error(ctx, CN_EINVAL, "cn_dataset_load_cifar10: NULL argument");
    memset(ds, 0, sizeof *ds);
    int rc = load_cifar(ctx, ds, dir, num_train, num_val, num_test);
    if (rc) cn_dataset_free(ds);
    return rc;
}

/* --------------------------------------------------------------------- IDX */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int read_idx(cn_ctx *ctx, gzFile gz, const char *path, int *ndim, int dims[4],
                    uint8_t **data) {
    uint8_t hdr[4 + 16];
    int got = gzread(gz, hdr, 4);
    if (got < 0) return cn_error(ctx, CN_EIO, "%s: read error", path);
    if (got < 4)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: truncated IDX header: expected 4 bytes, found %d", path, got);
    if (hdr[0] != 0 || hdr[1] != 0)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: bad IDX magic 0x%02x%02x at offset 0, expected 0x0000", path,
                      hdr[0], hdr[1]);
    if (hdr[2] != 0x08)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: IDX data type 0x%02x at offset 2, expected 0x08 (unsigned byte)",
                      path, hdr[2]);
    int nd = hdr[3];
    if (nd < 1 || nd > 4)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: IDX has %d dimensions at offset 3, expected 1..4", path, nd);
    got = gzread(gz, hdr + 4, (unsigned)(4 * nd));
    if (got < 0) return cn_error(ctx, CN_EIO, "%s: read error", path);
    if (got < 4 * nd)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: truncated IDX header: expected %d dimension bytes at offset 4, "
                      "found %d", path, 4 * nd, got);
    size_t total = 1;
    for (int i = 0; i < nd; i++) {
        uint32_t d = be32(hdr + 4 + 4 * i);
        if (d == 0 || d > INT_MAX)
            return cn_error(ctx, CN_EFORMAT,
                          "%s: IDX dimension %d (offset %d) is %u, expected 1..%d", path, i,
                          4 + 4 * i, d, INT_MAX);
        dims[i] = (int)d;
        size_t t = cn__mul(total, d);
        if (!t || t > ((size_t)1 << 62))
            return cn_error(ctx, CN_EFORMAT,
                          "%s: IDX dimensions overflow (product of dims 0..%d)", path, i);
        total = t;
    }
    for (int i = nd; i < 4; i++) dims[i] = 1;
    long long hdr_len = 4 + 4 * nd;

    if (gzdirect(gz)) {
        /* plain file: the real length bounds the declared size exactly */
        struct stat st;
        if (stat(path, &st) != 0)
            return cn_error(ctx, CN_EIO, "cannot stat %s: %s", path, strerror(errno));
        long long have = (long long)st.st_size - hdr_len;
        if (have < 0) have = 0;
        if ((unsigned long long)have != (unsigned long long)total)
            return cn_error(ctx, CN_EFORMAT,
                          "%s: IDX header declares %zu data bytes, the file holds %lld%s",
                          path, total, have,
                          (unsigned long long)have < total ? " (truncated)" : "");
    }
    if (total > IDX_MAX_BYTES)
        return cn_error(ctx, CN_ENOMEM,
                      "%s: IDX data of %zu bytes exceeds the 1 GiB limit", path, total);

    /* Read in chunks, growing the buffer as data really arrives, so a gzip
     * with a huge declared size and little data allocates little. */
    size_t cap = total < ((size_t)16 << 20) ? total : ((size_t)16 << 20);
    uint8_t *buf = malloc(cap);
    if (!buf) return cn_error(ctx, CN_ENOMEM, "%s: cannot allocate %zu bytes", path, cap);
    size_t have = 0;
    while (have < total) {
        if (have == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return cn_error(ctx, CN_ENOMEM, "%s: cannot allocate %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - have;
        if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
        int n = gzread(gz, buf + have, (unsigned)want);
        if (n < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            free(buf);
            return cn_error(ctx, zerr == Z_ERRNO ? CN_EIO : CN_EFORMAT,
                          "%s: read error after %zu data bytes: %s", path, have,
                          zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (n == 0) break;
        have += (size_t)n;
    }
    if (have < total) {
        free(buf);
        return cn_error(ctx, CN_EFORMAT,
                      "%s: truncated IDX data: expected %zu bytes after the %lld-byte "
                      "header, found %zu", path, total, hdr_len, have);
    }
    uint8_t extra;
    int n = gzread(gz, &extra, 1);
    if (n < 0) { /* a read error here could hide trailing bytes: not "the end" */
        int zerr;
        const char *msg = gzerror(gz, &zerr);
        free(buf);
        return cn_error(ctx, CN_EIO, "%s: read error after the data: %s", path,
                      zerr == Z_ERRNO ? strerror(errno) : msg);
    }
    if (n > 0) {
        free(buf);
        return cn_error(ctx, CN_EFORMAT,
                      "%s: trailing bytes after the %zu declared data bytes", path, total);
    }
    *ndim = nd;
    *data = buf;
    return CN_OK;
}

int cn_idx_read(cn_ctx *ctx, const char *path, int *ndim, int dims[4], uint8_t **data) {
    if (!path || !ndim || !dims || !data)
        return cn_error(ctx, CN_EINVAL, "cn_idx_read: NULL argument");
    *data = NULL;
    *ndim = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return cn_error(ctx, errno == ENOMEM ? CN_ENOMEM : CN_EIO, "cannot open %s: %s", path,
                      errno ? strerror(errno) : "gzopen failed");
    gzbuffer(gz, 1 << 17);
    int rc = read_idx(ctx, gz, path, ndim, dims, data);
    gzclose(gz);
    return rc;
}

/* ------------------------------------------------------------------- MNIST */

/* Find dir/NAME.gz or dir/NAME. Returns 1 found, 0 neither exists, <0 error. */
static int find_idx(cn_ctx *ctx, char *path, size_t cap, const char *dir,
                    const char *name) {
    struct stat st;
    int n = snprintf(path, cap, "%s/%s.gz", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return cn_error(ctx, CN_EINVAL, "path too long: %s/%s.gz", dir, name);
    if (stat(path, &st) == 0) return 1;
    n = snprintf(path, cap, "%s/%s", dir, name);
    if (stat(path, &st) == 0) return 1;
    return 0;
}

/* Read an image file and its label file; checks shapes, counts and labels. */
static int mnist_pair(cn_ctx *ctx, const char *dir, const char *iname, const char *lname,
                      int *n, int *h, int *w, uint8_t **img, uint8_t **lab, int *found) {
    char ipath[4096], lpath[4096];
    *img = NULL; *lab = NULL; *found = 0;
    int fi = find_idx(ctx, ipath, sizeof ipath, dir, iname);
    if (fi < 0) return fi;
    int fl = find_idx(ctx, lpath, sizeof lpath, dir, lname);
    if (fl < 0) return fl;
    if (!fi && !fl) return CN_OK;
    if (!fi || !fl)
        return cn_error(ctx, CN_EIO, "%s: cannot find %s[.gz] (its %s file exists)", dir,
                      fi ? lname : iname, fi ? "image" : "label");
    int ind, lnd, idims[4], ldims[4];
    int rc = cn_idx_read(ctx, ipath, &ind, idims, img);
    if (rc) return rc;
    if (ind != 3) {
        free(*img); *img = NULL;
        return cn_error(ctx, CN_EFORMAT, "%s: %d dimensions, expected 3 (n, h, w)", ipath, ind);
    }
    rc = cn_idx_read(ctx, lpath, &lnd, ldims, lab);
    if (rc) { free(*img); *img = NULL; return rc; }
    if (lnd != 1 || ldims[0] != idims[0]) {
        int bad_nd = lnd != 1;
        free(*img); free(*lab); *img = NULL; *lab = NULL;
        if (bad_nd)
            return cn_error(ctx, CN_EFORMAT, "%s: %d dimensions, expected 1 (labels)", lpath,
                          lnd);
        return cn_error(ctx, CN_EFORMAT, "%s holds %d labels but %s holds %d images", lpath,
                      ldims[0], ipath, idims[0]);
    }
    for (int i = 0; i < ldims[0]; i++)
        if ((*lab)[i] >= 10) {
            int v = (*lab)[i];
            free(*img); free(*lab); *img = NULL; *lab = NULL;
            return cn_error(ctx, CN_EFORMAT, "%s: label %d (offset %d) is %d, expected 0..9",
                          lpath, i, 8 + i, v);
        }
    *n = idims[0]; *h = idims[1]; *w = idims[2];
    *found = 1;
    return CN_OK;
}

/* Images and labels cut down to their first n (D bytes an image); a failed
 * realloc keeps the larger block, which is as good. */
static void shrink_pair(uint8_t **img, uint8_t **lab, int n, size_t D) {
    uint8_t *p = realloc(*img, (size_t)n * D);
    if (p) *img = p;
    p = realloc(*lab, (size_t)n);
    if (p) *lab = p;
}

static int load_mnist(cn_ctx *ctx, cn_dataset *ds, const char *dir, int fashion,
                      int num_train, int num_val, int num_test) {
    if (num_train < 0) num_train = 59000;
    if (num_val < 0) num_val = 1000;
    if (num_test < 0) num_test = 10000;
    if (num_train == 0) return cn_error(ctx, CN_EINVAL, "mnist: num_train must be > 0");
    snprintf(ds->name, sizeof ds->name, "%s", fashion ? "fashion-mnist" : "mnist");
    ds->num_classes = 10;
    for (int i = 0; i < 10; i++) {
        if (fashion)
            snprintf(ds->classes[i], sizeof ds->classes[i], "%s", fashion_names[i]);
        else
            snprintf(ds->classes[i], sizeof ds->classes[i], "%d", i);
    }
    int n, h, w, found;
    uint8_t *img, *lab;
    int rc = mnist_pair(ctx, dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &n,
                        &h, &w, &img, &lab, &found);
    if (rc) return rc;
    if (!found)
        return cn_error(ctx, CN_EIO, "%s: cannot find train-images-idx3-ubyte[.gz] or "
                      "train-labels-idx1-ubyte[.gz]", dir);
    if ((long)num_train + num_val > n) {
        free(img); free(lab);
        return cn_error(ctx, CN_EINVAL,
                      "%s: num_train + num_val = %ld exceeds the %d training images", dir,
                      (long)num_train + num_val, n);
    }
    size_t D = (size_t)h * w;
    rc = split_alloc(ctx, &ds->val, num_val, 1, h, w, "val");
    if (!rc && num_val) {
        memcpy(ds->val.x, img + (size_t)num_train * D, (size_t)num_val * D);
        memcpy(ds->val.y, lab + num_train, (size_t)num_val);
    }
    if (rc) { free(img); free(lab); return rc; }
    /* train is the head of the file's buffers: keep them, shrunk */
    ds->train.n = num_train; ds->train.c = 1; ds->train.h = h; ds->train.w = w;
    if ((size_t)num_train < (size_t)n) shrink_pair(&img, &lab, num_train, D);
    ds->train.x = img;
    ds->train.y = lab;

    ds->test.c = 1; ds->test.h = h; ds->test.w = w;
    if (num_test > 0) {
        int tn, th, tw;
        rc = mnist_pair(ctx, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &tn,
                        &th, &tw, &img, &lab, &found);
        if (rc) return rc;
        if (found) {
            if (th != h || tw != w) {
                free(img); free(lab);
                return cn_error(ctx, CN_EFORMAT,
                              "%s: t10k images are %dx%d but training images are %dx%d",
                              dir, th, tw, h, w);
            }
            if (num_test > tn) num_test = tn;
            if (num_test < tn) shrink_pair(&img, &lab, num_test, D);
            ds->test.n = num_test;
            ds->test.x = img;
            ds->test.y = lab;
        }
    }
    return compute_mean(ctx, ds);
}

int cn_dataset_load_mnist(cn_ctx *ctx, cn_dataset *ds, const char *dir, int fashion,
                  int num_train, int num_val, int num_test) {
    if (!ds || !dir) return cn_error(ctx, CN_EINVAL, "cn_dataset_load_mnist: NULL argument");
    memset(ds, 0, sizeof *ds);
    int rc = load_mnist(ctx, ds, dir, fashion, num_train, num_val, num_test);
    if (rc) cn_dataset_free(ds);
    return rc;
}

/* -------------------------------------------------------------- minibatches */

static int batch_check(cn_ctx *ctx, const char *who, const cn_split *sp, const int32_t *idx, int B,
                       const void *x, const int32_t *y) {
    if (!sp) return cn_error(ctx, CN_EINVAL, "%s: split is NULL", who);
    if (B < 0) return cn_error(ctx, CN_EINVAL, "%s: batch size B = %d < 0", who, B);
    if (B > 0 && (!idx || !x || !y || !sp->x || !sp->y))
        return cn_error(ctx, CN_EINVAL, "%s: NULL %s (B = %d)", who,
                      !idx ? "idx" : !x ? "x" : !y ? "y" : !sp->x ? "split images" : "split labels", B);
    for (int i = 0; i < B; i++)
        if (idx[i] < 0 || idx[i] >= sp->n)
            return cn_error(ctx, CN_EINVAL, "%s: idx[%d] = %d outside the split's %d samples", who, i,
                          (int)idx[i], sp->n);
    return CN_OK;
}

/* One body for both element types: x[i] = image idx[i] converted to T,
 * minus the (float) mean widened to T; the f32 subtraction is in float, the
 * f64 one in double, as each type's callers expect. Elementwise: the same
 * values for any thread count. */
#define SPLIT_BATCH(T, S)                                                             \
    int cn_split_batch_##S(cn_ctx *ctx, const cn_split *sp, const float *mean,        \
                           const int32_t *idx, int B, T *x, int32_t *y) {             \
        int rc = batch_check(ctx, __func__, sp, idx, B, x, y);                        \
        if (rc) return rc;                                                            \
        size_t D = (size_t)sp->c * sp->h * sp->w;                                     \
        /* images on the context's threads (their rows are far apart in the   \
         * split: each thread waits for its own) */                           \
        _Pragma("omp parallel for schedule(static) num_threads(cn__nt(ctx)) if ((size_t)B * D >= 65536)") \
        for (int i = 0; i < B; i++) {                                                 \
            const uint8_t *restrict p = sp->x + (size_t)idx[i] * D;                   \
            T *restrict o = x + (size_t)i * D;                                        \
            if (mean)                                                                 \
                for (size_t k = 0; k < D; k++) o[k] = (T)p[k] - (T)mean[k];           \
            else                                                                      \
                for (size_t k = 0; k < D; k++) o[k] = (T)p[k];                        \
            y[i] = sp->y[idx[i]];                                                     \
        }                                                                             \
        return CN_OK;                                                                 \
    }
SPLIT_BATCH(float, f32)
SPLIT_BATCH(double, f64)
