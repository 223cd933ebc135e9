/* shape.c — output sizes of convolution and pooling, with argument checks. */
#include "internal.h"
#include <limits.h>

/* H' = 1 + (H + 2*pad - HH) / stride, W' likewise. */
int cn_conv_out(cn_ctx *ctx, const cn_conv_shape *s, int *Ho, int *Wo) {
    if (!s) return cn_error(ctx, CN_EINVAL, "conv: shape is NULL");
    if (s->N <= 0 || s->C <= 0 || s->H <= 0 || s->W <= 0)
        return cn_error(ctx, CN_EINVAL, "conv: input dims must be positive, got x (%d,%d,%d,%d)",
                      s->N, s->C, s->H, s->W);
    if (s->F <= 0 || s->HH <= 0 || s->WW <= 0)
        return cn_error(ctx, CN_EINVAL, "conv: filter dims must be positive, got w (%d,%d,%d,%d)",
                      s->F, s->C, s->HH, s->WW);
    if (s->stride <= 0)
        return cn_error(ctx, CN_EINVAL, "conv: stride must be > 0, got stride=%d", s->stride);
    if (s->pad < 0) return cn_error(ctx, CN_EINVAL, "conv: pad must be >= 0, got pad=%d", s->pad);
    long hp = (long)s->H + 2L * s->pad, wp = (long)s->W + 2L * s->pad;
    if (hp > INT_MAX / 2 || wp > INT_MAX / 2)
        return cn_error(ctx, CN_EINVAL, "conv: padded input %ldx%ld is too large", hp, wp);
    if (s->HH > hp || s->WW > wp)
        return cn_error(ctx, CN_EINVAL,
                      "conv: filter %dx%d does not fit the padded input %ldx%ld (H=%d W=%d pad=%d)",
                      s->HH, s->WW, hp, wp, s->H, s->W, s->pad);
    long ho = 1 + (hp - s->HH) / s->stride, wo = 1 + (wp - s->WW) / s->stride;
    if (ho * wo > INT_MAX)
        return cn_error(ctx, CN_EINVAL, "conv: output plane %ldx%ld is too large", ho, wo);
    if (Ho) *Ho = (int)ho;
    if (Wo) *Wo = (int)wo;
    return CN_OK;
}

/* H' = 1 + (H - ph) / stride, W' = 1 + (W - pw) / stride. */
int cn_max_pool_out(cn_ctx *ctx, const cn_max_pool_shape *s, int *Ho, int *Wo) {
    if (!s) return cn_error(ctx, CN_EINVAL, "pool: shape is NULL");
    if (s->N <= 0 || s->C <= 0 || s->H <= 0 || s->W <= 0)
        return cn_error(ctx, CN_EINVAL, "pool: input dims must be positive, got x (%d,%d,%d,%d)",
                      s->N, s->C, s->H, s->W);
    if (s->ph <= 0 || s->pw <= 0)
        return cn_error(ctx, CN_EINVAL, "pool: window must be positive, got %dx%d", s->ph, s->pw);
    if (s->stride <= 0)
        return cn_error(ctx, CN_EINVAL, "pool: stride must be > 0, got stride=%d", s->stride);
    if (s->ph > s->H || s->pw > s->W)
        return cn_error(ctx, CN_EINVAL, "pool: window %dx%d does not fit the input %dx%d",
                      s->ph, s->pw, s->H, s->W);
    if ((long)s->H * s->W > INT32_MAX)
        return cn_error(ctx, CN_EINVAL, "pool: plane %dx%d is too large for int32 indices", s->H, s->W);
    if (Ho) *Ho = 1 + (s->H - s->ph) / s->stride;
    if (Wo) *Wo = 1 + (s->W - s->pw) / s->stride;
    return CN_OK;
}
