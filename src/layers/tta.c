/* tta.c — test-time augmentation (airbench's infer_mirror_translate):
 * the batch variants a caller scores, and the weighted mean of the scores.
 * Variant order: 0 x, 1 mirror(x), 2 shift(-1,-1), 3 mirror(shift(-1,-1)),
 * 4 shift(+1,+1), 5 mirror(shift(+1,+1)) (mirror applied to the shifted
 * image, as airbench's infer_mirror); shift(d,d) is the crop at offset
 * 1+d of the 1-pixel reflect-padded image, as airbench's padded[0:32, 0:32]
 * and padded[2:34, 2:34]. Weights: cn_tta_weights (src/augment.c). */
#include "real.h"
#include "../augment.h"

int FN(cn_tta_batch)(cn_ctx *ctx, real *dst, const real *x, int level, int N, int C, int H, int W) {
    const int V = cn_tta_count(level);
    if (V < 0) return cn_error(ctx, CN_EINVAL, "%s: level=%d must be 0, 1 or 2", __func__, level);
    if (!dst || !x) return cn_error(ctx, CN_EINVAL, "%s: NULL buffer", __func__);
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0)
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d C=%d H=%d W=%d",
                      __func__, N, C, H, W);
    if (level == 2 && (H < 2 || W < 2))
        return cn_error(ctx, CN_EINVAL, "%s: level 2 shifts need H, W >= 2, got H=%d W=%d", __func__,
                      H, W);
    const size_t img = cn__mul(cn__mul((size_t)C, (size_t)H), (size_t)W);
    const size_t all = cn__mul(img, (size_t)N);
    if (!img || !all || !cn__mul(cn__mul(all, (size_t)V), sizeof(real)))
        return cn_error(ctx, CN_ENOMEM, "%s: N=%d C=%d H=%d W=%d is beyond the size limits", __func__,
                      N, C, H, W);
    /* (dy, dx, flip) for cn__shift_image, which mirrors before it shifts:
     * airbench mirrors the shifted batch, mirror(shift(d, d)) = the mirror
     * shifted by (d, -d). */
    static const int sy[6] = {0, 0, -1, -1, 1, 1}, sx[6] = {0, 0, -1, 1, 1, -1};
#pragma omp parallel for collapse(2) schedule(static) num_threads(cn__nt(ctx)) \
    if (all * V > 65536)
    for (int v = 0; v < V; v++)
        for (int n = 0; n < N; n++)
            cn__shift_image(dst + (size_t)v * all + (size_t)n * img, x + (size_t)n * img,
                            sizeof(real), C, H, W, sy[v], sx[v], v & 1, 1);
    return CN_OK;
}

int FN(cn_tta_combine)(cn_ctx *ctx, real *scores, const real *vscores, int level, int N, int K) {
    double w[6];
    int rc = cn_tta_weights(ctx, w, level);
    if (rc) return rc;
    if (!scores || !vscores) return cn_error(ctx, CN_EINVAL, "%s: NULL buffer", __func__);
    if (N <= 0 || K <= 0)
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d K=%d", __func__, N, K);
    const int V = cn_tta_count(level);
    const size_t m = (size_t)N * K;
    for (size_t i = 0; i < m; i++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += w[v] * vscores[(size_t)v * m + i];
        scores[i] = (real)s;
    }
    return CN_OK;
}
