/* fuzz_cifar.c — CIFAR-10 binary batches (cn_dataset_load_cifar10) on arbitrary bytes.
 *
 * Input layout (every field optional: a short input just has fewer):
 *   byte 0  flags: bit 0 write batches.meta.txt, bit 1 write test_batch.bin,
 *           bit 2 give data_batch_1.bin a wrong size (input length + 1..)
 *   byte 1  num_train - 1 (0..7), byte 2 num_val (0..3), byte 3 num_test (0..3)
 *   byte 4  length L of the batches.meta.txt text that follows
 *   L bytes batches.meta.txt, then the records: the first bytes of
 *           data_batch_1.bin (and of test_batch.bin), the rest of the file
 *           zeros up to the 30730000 bytes a batch must have. The file is
 *           sparse (ftruncate): no 30 MB written per input. */
#include "fuzz_common.h"

#define BATCH_BYTES 30730000LL

static void write_batch(const char *path, const uint8_t *p, size_t n, long long size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    if ((long long)n > size) n = (size_t)size;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    if (ftruncate(fd, (off_t)size) != 0) abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ctx *ctx = fz_ctx();
    char dir[300], meta[320], b1[320], tb[320];
    snprintf(dir, sizeof dir, "%s", fz_dir("cifar"));
    snprintf(meta, sizeof meta, "%s/batches.meta.txt", dir);
    snprintf(b1, sizeof b1, "%s/data_batch_1.bin", dir);
    snprintf(tb, sizeof tb, "%s/test_batch.bin", dir);
    unlink(meta);
    unlink(tb);
    uint8_t hdr[5] = {0};
    memcpy(hdr, data, size < 5 ? size : 5);
    size_t pos = size < 5 ? size : 5;
    int flags = hdr[0];
    int ntrain = 1 + (hdr[1] & 7), nval = hdr[2] & 3, ntest = hdr[3] & 3;
    size_t L = hdr[4];
    if (L > size - pos) L = size - pos;
    if (flags & 1) fz_write(meta, data + pos, L);
    pos += L;
    const uint8_t *rec = data + pos;
    size_t nrec = size - pos;
    long long bsize = BATCH_BYTES;
    if (flags & 4) bsize = (long long)nrec + 1 + (flags >> 4);
    write_batch(b1, rec, nrec, bsize);
    if (flags & 2) write_batch(tb, rec, nrec, BATCH_BYTES);

    cn_dataset ds;
    memset(&ds, 0xab, sizeof ds); /* the loader must not depend on its contents */
    int rc = cn_dataset_load_cifar10(ctx, &ds, dir, ntrain, nval, ntest);
    fz_check_error(rc);
    if (rc == CN_OK) {
        if (ds.train.n != ntrain || ds.val.n != nval || ds.num_classes != 10) abort();
        if (ds.train.c != 3 || ds.train.h != 32 || ds.train.w != 32 || !ds.mean) abort();
        if (!(flags & 2) && ds.test.n != 0) abort();
        const cn_split *sp[3] = {&ds.train, &ds.val, &ds.test};
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < sp[s]->n; i++) {
                if (sp[s]->y[i] >= 10) abort();
                /* the pixels are the record's bytes */
                const uint8_t *want = NULL;
                size_t r = (size_t)(s == 1 ? ntrain + i : i);
                if ((r + 1) * 3073 <= nrec) want = rec + r * 3073;
                if (want && (want[0] != sp[s]->y[i] || memcmp(want + 1, sp[s]->x + (size_t)i * 3072, 3072)))
                    abort();
            }
        for (int k = 0; k < 10; k++)
            if (memchr(ds.classes[k], 0, sizeof ds.classes[k]) == NULL) abort();
        /* a minibatch from each split */
        float x[2 * 3072];
        int32_t y[2], idx[2] = {0, 0};
        for (int s = 0; s < 3; s++)
            if (sp[s]->n > 0 && cn_split_batch_f32(ctx, sp[s], ds.mean, idx, 1, x, y) != CN_OK) abort();
        cn_dataset_free(&ds);
    } else {
        /* a failed load leaves nothing to free */
        if (ds.train.x || ds.val.x || ds.test.x || ds.mean) abort();
    }
    return 0;
}
