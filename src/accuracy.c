/* accuracy.c — the one accuracy loop: a net's classification accuracy on
 * samples of a split, in batches (the Solver's checks and the CLI's final
 * and eval figures both go through it, so they count the same way). */
#include "net.h"

/* Of B rows of scores[B, K] (dtype f32 or f64), how many have their highest
 * score (the first of equal ones; NaN never wins) at the label y[i]. */
static int count_correct(const void *scores, int f32, const int32_t *y, int B, int K) {
    int correct = 0;
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int k = 1; k < K; k++) {
            double a = f32 ? ((const float *)scores)[(size_t)i * K + k] : ((const double *)scores)[(size_t)i * K + k];
            double b = f32 ? ((const float *)scores)[(size_t)i * K + best] : ((const double *)scores)[(size_t)i * K + best];
            if (a > b) best = k;
        }
        correct += best == y[i];
    }
    return correct;
}

int cn_net_accuracy(cn_ctx *ctx, cn_net *net, const cn_split *sp, const float *mean, const int32_t *idx, int n,
                    int batch_size, const cn_batch_buf *buf, double *acc) {
    *acc = 0;
    if (n <= 0) return CN_OK;
    if (batch_size <= 0) return cn_error(ctx, CN_EINVAL, "accuracy: batch size %d", batch_size);
    const int f32 = cn_net_dtype(net) == CN_F32, K = cn_net_num_classes(net);
    const size_t esz = f32 ? 4 : 8, img = (size_t)sp->c * sp->h * sp->w;
    cn_batch_buf own = {NULL, NULL, NULL, NULL};
    if (!buf) {
        own.x = malloc(esz * batch_size * img);
        own.scores = malloc(esz * batch_size * K);
        own.y = malloc(sizeof(int32_t) * batch_size);
        own.idx = malloc(sizeof(int32_t) * batch_size);
    }
    const cn_batch_buf *b = buf ? buf : &own;
    int rc = CN_OK, correct = 0;
    if (!b->x || !b->scores || !b->y || !b->idx) rc = cn_error(ctx, CN_ENOMEM, "out of memory");
    for (int start = 0; start < n && rc == CN_OK; start += batch_size) {
        int B = n - start < batch_size ? n - start : batch_size;
        for (int i = 0; i < B; i++) b->idx[i] = idx ? idx[start + i] : start + i;
        rc = f32 ? cn_split_batch_f32(ctx, sp, mean, b->idx, B, b->x, b->y) : cn_split_batch_f64(ctx, sp, mean, b->idx, B, b->x, b->y);
        if (rc) { rc = cn_error(ctx, rc, "check_accuracy: bad batch"); break; }
        cn__lossopt o = {1, NULL, NULL, 0, 0}; /* not profiled: per-layer times describe training steps */
        if ((rc = cn__net_run(ctx, net, NULL, b->scores, b->x, NULL, B, &o))) break;
        correct += count_correct(b->scores, f32, b->y, B, K);
    }
    free(own.x); free(own.scores); free(own.y); free(own.idx);
    if (!rc) *acc = (double)correct / n;
    return rc;
}
