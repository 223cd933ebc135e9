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
    return cn_net_accuracy_tta(ctx, net, sp, mean, idx, n, batch_size, 0, buf, NULL, acc);
}

/* The scores of a batch x[B] into scores[B, K]: the net's (level 0), or the
 * weighted mean of its V test-time variants' scores, each variant scored as
 * a batch of its own (the activations are planned for B samples). */
static int batch_scores(cn_ctx *ctx, cn_net *net, void *scores, const void *x, int level, const cn_batch_buf *t,
                        int B, int C, int H, int W, int K) {
    const int f32 = cn_net_dtype(net) == CN_F32, V = cn_tta_count(level);
    const size_t esz = f32 ? 4 : 8, xs = (size_t)B * C * H * W, ss = (size_t)B * K;
    cn__lossopt o = {1, NULL, NULL, 0, 0}; /* not profiled: per-layer times describe training steps */
    if (level == 0) return cn__net_run(ctx, net, NULL, scores, x, NULL, B, &o);
    int rc = f32 ? cn_tta_batch_f32(ctx, t->x, x, level, B, C, H, W) : cn_tta_batch_f64(ctx, t->x, x, level, B, C, H, W);
    for (int v = 0; v < V && !rc; v++)
        rc = cn__net_run(ctx, net, NULL, (char *)t->scores + v * ss * esz, (const char *)t->x + v * xs * esz, NULL, B, &o);
    if (rc) return rc;
    return f32 ? cn_tta_combine_f32(ctx, scores, t->scores, level, B, K) : cn_tta_combine_f64(ctx, scores, t->scores, level, B, K);
}

int cn_net_accuracy_tta(cn_ctx *ctx, cn_net *net, const cn_split *sp, const float *mean, const int32_t *idx, int n,
                        int batch_size, int level, const cn_batch_buf *buf, const cn_batch_buf *tbuf, double *acc) {
    *acc = 0;
    if (n <= 0) return CN_OK;
    if (batch_size <= 0) return cn_error(ctx, CN_EINVAL, "accuracy: batch size %d", batch_size);
    const int V = cn_tta_count(level);
    if (V < 0) return cn_error(ctx, CN_EINVAL, "accuracy: tta level %d must be 0, 1 or 2", level);
    const int f32 = cn_net_dtype(net) == CN_F32, K = cn_net_num_classes(net);
    const size_t esz = f32 ? 4 : 8, img = (size_t)sp->c * sp->h * sp->w;
    cn_batch_buf own = {NULL, NULL, NULL, NULL}, town = {NULL, NULL, NULL, NULL};
    if (!buf) {
        own.x = malloc(esz * batch_size * img);
        own.scores = malloc(esz * batch_size * K);
        own.y = malloc(sizeof(int32_t) * batch_size);
        own.idx = malloc(sizeof(int32_t) * batch_size);
    }
    if (level > 0 && !tbuf) {
        town.x = malloc(cn__mul(cn__mul(esz * V, (size_t)batch_size), img));
        town.scores = malloc(esz * V * batch_size * K);
    }
    const cn_batch_buf *b = buf ? buf : &own, *tb = tbuf ? tbuf : &town;
    int rc = CN_OK, correct = 0;
    if (!b->x || !b->scores || !b->y || !b->idx || (level > 0 && (!tb->x || !tb->scores)))
        rc = cn_error(ctx, CN_ENOMEM, "out of memory");
    for (int start = 0; start < n && rc == CN_OK; start += batch_size) {
        int B = n - start < batch_size ? n - start : batch_size;
        for (int i = 0; i < B; i++) b->idx[i] = idx ? idx[start + i] : start + i;
        rc = f32 ? cn_split_batch_f32(ctx, sp, mean, b->idx, B, b->x, b->y) : cn_split_batch_f64(ctx, sp, mean, b->idx, B, b->x, b->y);
        if (rc) { rc = cn_error(ctx, rc, "check_accuracy: bad batch"); break; }
        if ((rc = batch_scores(ctx, net, b->scores, b->x, level, tb, B, sp->c, sp->h, sp->w, K))) break;
        correct += count_correct(b->scores, f32, b->y, B, K);
    }
    free(own.x); free(own.scores); free(own.y); free(own.idx);
    free(town.x); free(town.scores);
    if (!rc) *acc = (double)correct / n;
    return rc;
}
