/* fuzz_spec.c — the net spec parser (cn_net_new) on arbitrary text.
 *
 * byte 0: C - 1 (1..4, low 2 bits), bit 2 float64; byte 1: H - 1 (1..32);
 * byte 2: W - 1 (1..32); the rest is the spec (a NUL ends it early).
 * A net that builds must describe itself, plan its activations, and — when
 * it is small enough to run in well under a millisecond — compute a finite
 * loss and gradients on a batch of 2 and survive a save/load round trip
 * with the same parameters. */
#include "fuzz_common.h"
#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ctx *ctx = fz_ctx();
    if (size < 3 || size > 2000) return 0;
    int C = 1 + (data[0] & 3), H = 1 + (data[1] & 31), W = 1 + (data[2] & 31);
    cn_dtype dt = (data[0] & 4) ? CN_F64 : CN_F32;
    char *spec = malloc(size - 2);
    if (!spec) abort();
    memcpy(spec, data + 3, size - 3);
    spec[size - 3] = 0;
    cn_rng r;
    cn_rng_seed(&r, 1);
    cn_net *net = (cn_net *)1;
    int rc = cn_net_new(ctx, &net, spec, C, H, W, dt, 1e-1, 1e-3, &r);
    fz_check_error(rc);
    if (rc) {
        if (net) abort();
        free(spec);
        return 0;
    }
    /* the expanded spec is what was given (or a preset) */
    if (strcmp(cn_net_spec(net), cn_spec_expand(spec))) abort();
    char desc[8192];
    (void)cn_net_describe(ctx, net, desc, sizeof desc);
    int classes = cn_net_num_classes(net);
    if (classes < 2) abort();
    size_t ntrain = 0, total = 0;
    (void)cn_net_flat_params(net, &ntrain);
    for (int i = 0; i < cn_net_num_params(net); i++) {
        const cn_param *p = cn_net_param_at(net, i);
        size_t s = 1;
        for (int d = 0; d < p->ndim; d++) s *= (size_t)p->shape[d];
        if (s != p->size || !p->data || (p->trainable && !p->grad)) abort();
        total += p->size;
        if (cn_net_param_get(net, p->name) != p) abort();
    }
    if (ntrain > total) abort();
    double flops = cn_net_flops_per_image(net);
    if (total < 200000 && flops < 2e6) {
        size_t in = (size_t)C * H * W, esz = dt == CN_F32 ? 4 : 8;
        void *X = malloc(2 * in * esz);
        void *scores = malloc(2 * (size_t)classes * esz);
        if (!X || !scores) abort();
        for (size_t i = 0; i < 2 * in; i++) {
            double v = cn_rng_normal(&r);
            if (dt == CN_F32) ((float *)X)[i] = (float)v;
            else ((double *)X)[i] = v;
        }
        int32_t y[2] = {0, classes - 1};
        double loss = NAN;
        rc = cn_net_loss(ctx, net, &loss, NULL, X, y, 2);
        if (rc) {
            fprintf(stderr, "loss of a net that built failed: %s\n", cn_ctx_error(ctx));
            abort();
        }
        if (!isfinite(loss)) abort();
        if (cn_net_loss(ctx, net, NULL, scores, X, NULL, 2) != CN_OK) abort();
        /* save and load back: same spec, same parameters */
        char path[320];
        fz_path(path, sizeof path, "spec", "net.safetensors");
        if (cn_net_save(ctx, net, path, NULL, 0) != CN_OK) {
            fprintf(stderr, "save failed: %s\n", cn_ctx_error(ctx));
            abort();
        }
        cn_net *back = NULL;
        if (cn_net_load(ctx, &back, path, 0, NULL) != CN_OK) {
            fprintf(stderr, "load of a saved net failed: %s\n", cn_ctx_error(ctx));
            abort();
        }
        if (strcmp(cn_net_spec(back), cn_net_spec(net)) ||
            cn_net_num_params(back) != cn_net_num_params(net))
            abort();
        for (int i = 0; i < cn_net_num_params(net); i++) {
            const cn_param *p = cn_net_param_at(net, i), *q = cn_net_param_at(back, i);
            if (strcmp(p->name, q->name) || p->size != q->size || memcmp(p->data, q->data, p->size * esz))
                abort();
        }
        cn_net_free(back);
        free(X);
        free(scores);
    }
    cn_net_free(net);
    free(spec);
    return 0;
}
