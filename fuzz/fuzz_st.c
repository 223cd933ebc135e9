/* fuzz_st.c — safetensors reader (cn_st_load) on arbitrary bytes.
 *
 * The input is the file. When the only fault is the CRC, the CRC is patched
 * (fz_write_fixed_crc) so the version check and everything after load are
 * reached too. A file that loads must be internally consistent, and saving
 * what was loaded then loading that again must give the same tensors. */
#include "fuzz_common.h"

static size_t itemsize(const cn_tensor *t) { return t->is_i32 ? 4 : t->dtype == CN_F64 ? 8 : 4; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ctx *ctx = fz_ctx();
    char path[300], path2[300];
    fz_path(path, sizeof path, "st", "in.safetensors");
    fz_path(path2, sizeof path2, "st", "resaved.safetensors");
    uint8_t *buf = fz_write_fixed_crc(path, data, size);
    cn_st *st = NULL;
    int rc = cn_st_load(ctx, path, &st);
    fz_check_error(rc);
    if (rc) {
        if (st) abort(); /* *out must be NULL on failure */
        free(buf);
        return 0;
    }
    /* consistency: every tensor is found by name, sizes fit in the file */
    int n = cn_st_num_tensors(st);
    size_t total = 0;
    cn_tensor *copy = calloc((size_t)(n ? n : 1), sizeof *copy);
    if (!copy) abort();
    for (int i = 0; i < n; i++) {
        const cn_tensor *t = cn_st_tensor_at(st, i);
        if (!t || !t->name || cn_st_tensor_get(st, t->name) != t) abort();
        if (t->ndim < 0 || t->ndim > 4) abort();
        size_t bytes = itemsize(t);
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) abort();
            bytes *= (size_t)t->shape[d];
        }
        if (bytes > size) abort();
        total += bytes;
        /* touch every byte: ASan flags a short buffer */
        const volatile uint8_t *p = t->data;
        uint8_t acc = 0;
        for (size_t k = 0; k < bytes; k++) acc ^= p[k];
        (void)acc;
        copy[i] = *t;
    }
    if (total > size) abort();
    (void)cn_st_meta(st, "convnet.crc32");
    (void)cn_st_meta(st, "spec");
    if (cn_st_tensor_at(st, n) != NULL || cn_st_tensor_at(st, -1) != NULL) abort();

    /* round trip: what loaded saves (keys the writer owns are replaced) and
     * loads back with the same tensors (there is no API to list metadata
     * pairs, so only the tensors are re-sent). */
    rc = cn_st_save(ctx, path2, copy, n, NULL, 0);
    if (rc == CN_OK) {
        cn_st *back = NULL;
        rc = cn_st_load(ctx, path2, &back);
        if (rc != CN_OK) {
            fprintf(stderr, "re-saved file does not load: %s\n", cn_ctx_error(ctx));
            abort();
        }
        if (cn_st_num_tensors(back) != n) abort();
        for (int i = 0; i < n; i++) {
            const cn_tensor *a = cn_st_tensor_at(st, i), *b = cn_st_tensor_get(back, a->name);
            if (!b || b->ndim != a->ndim || b->is_i32 != a->is_i32 ||
                (!a->is_i32 && b->dtype != a->dtype))
                abort();
            size_t bytes = itemsize(a);
            for (int d = 0; d < a->ndim; d++) {
                if (b->shape[d] != a->shape[d]) abort();
                bytes *= (size_t)a->shape[d];
            }
            if (bytes && memcmp(a->data, b->data, bytes) != 0) abort();
        }
        cn_st_free(back);
    } else {
        /* the writer must take back whatever the reader accepted */
        fprintf(stderr, "re-save of a loaded file failed: %s\n", cn_ctx_error(ctx));
        abort();
    }
    free(copy);
    cn_st_free(st);
    free(buf);
    return 0;
}
