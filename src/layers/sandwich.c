/* sandwich.c — the sandwiches: affine-relu, conv-relu and conv-relu-pool.
 * The relu is fused into the layer's forward (the affine's last pass, the
 * conv kernel's store); the backward masks (and un-pools) into a
 * CN_WS_LAYER buffer, in one pass per plane for the conv, then runs the
 * layer's backward (the conv's uses CN_WS_IM2COL, so the two do not
 * collide). */
#include "kern.h"

/* 16-byte vectors (SSE2, every x86-64): the relu masks without branches. A
 * branch on out > 0 mispredicts about half the time (half the outputs are
 * zero) and cost more than the whole pooling pass. */
typedef real v16 __attribute__((vector_size(16)));
#ifdef CN_REAL_F64
typedef int64_t m16 __attribute__((vector_size(16)));
#else
typedef int32_t m16 __attribute__((vector_size(16)));
#endif
#define L16 ((size_t)(16 / sizeof(real)))

/* d[i] = r[i] > 0 ? g[i] : 0 (d may be g) */
static void relu_mask(real *d, const real *g, const real *r, size_t n) {
    size_t i = 0;
    for (; i + L16 <= n; i += L16) {
        v16 gv, rv;
        memcpy(&gv, g + i, sizeof gv);
        memcpy(&rv, r + i, sizeof rv);
        m16 m = rv > (v16){0};
        gv = (v16)((m16)gv & m);
        memcpy(d + i, &gv, sizeof gv);
    }
    for (; i < n; i++) d[i] = r[i] > 0 ? g[i] : 0;
}

int FN(cn_affine_relu_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                               const real *b, int N, int D, int M) {
    return FN(cn__affine_forward_act)(ctx, out, x, w, b, N, D, M, 1);
}

/* the affine backward of dout masked by out > 0; w is only read (no update
 * rule given) */
int FN(cn_affine_relu_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                const real *out, const real *x, const real *w, int N, int D,
                                int M) {
    return FN(cn__affine_backward_upd)(ctx, dx, dw, db, dout, out, x, (real *)w, N, D, M, NULL);
}

int FN(cn_conv_relu_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                             const real *b, const cn_conv_shape *s) {
    return FN(cn__conv_forward_act)(ctx, out, x, w, b, s, 1);
}

/* da[N,F,H',W'] = dout where out > 0, then the conv backward of da. */
int FN(cn_conv_relu_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                              const real *out, const real *x, const real *w,
                              const cn_conv_shape *s) {
    int Ho, Wo;
    int rc = cn_conv_out(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    const size_t n = (size_t)s->N * s->F * Ho * Wo;
    real *da = cn__ws(ctx, CN_WS_LAYER, sizeof(real) * n); /* [N,F,H',W'] */
    if (!da) return CN_ENOMEM;
    const size_t blk = 16384; /* elements per parallel block */
    const long nb = (long)((n + blk - 1) / blk);
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (nb > 2)
    for (long k = 0; k < nb; k++) {
        size_t i0 = (size_t)k * blk, m = n - i0 < blk ? n - i0 : blk;
        relu_mask(da + i0, dout + i0, out + i0, m);
    }
    return FN(cn_conv_backward)(ctx, dx, dw, db, da, x, w, s);
}

static int pool_shape(cn_ctx *ctx, const cn_conv_shape *s, int ph, int pw, int pstride,
                      cn_max_pool_shape *ps, int *Ho, int *Wo) {
    int rc = cn_conv_out(ctx, s, Ho, Wo);
    if (rc) return rc;
    *ps = (cn_max_pool_shape){s->N, s->F, *Ho, *Wo, ph, pw, pstride};
    return cn_max_pool_out(ctx, ps, NULL, NULL);
}

/* relu_out[N,F,H',W'] = relu(conv(x)); out[N,F,H'',W''], pool_idx =
 * pool(relu_out). With `fused` (the net's forward), pooled straight from
 * each sample's convolution output in cache instead (relu_out is then left
 * unwritten: the backward needs only out and pool_idx, see
 * cn__conv_relu_pool_backward_into); when a sample does not fit one chunk,
 * the two steps through relu_out. */
static int relu_pool_forward(cn_ctx *ctx, real *out, real *relu_out, int32_t *pool_idx, const real *x,
                             const real *w, const real *b, const cn_conv_shape *s, int ph, int pw,
                             int pstride, int fused) {
    cn_max_pool_shape ps;
    int Ho, Wo;
    int rc = pool_shape(ctx, s, ph, pw, pstride, &ps, &Ho, &Wo);
    if (rc) return rc;
    if (fused && (rc = FN(cn__conv_relu_pool_forward_fused)(ctx, out, pool_idx, x, w, b, s, &ps)) != 1)
        return rc;
    rc = FN(cn__conv_forward_act)(ctx, relu_out, x, w, b, s, 1);
    if (rc) return rc;
    return FN(cn_max_pool_forward)(ctx, out, pool_idx, relu_out, &ps);
}

int FN(cn_conv_relu_pool_forward)(cn_ctx *ctx, real *out, real *relu_out, int32_t *pool_idx,
                                  const real *x, const real *w, const real *b,
                                  const cn_conv_shape *s, int ph, int pw, int pstride) {
    return relu_pool_forward(ctx, out, relu_out, pool_idx, x, w, b, s, ph, pw, pstride, 0);
}

int FN(cn__conv_relu_pool_forward_net)(cn_ctx *ctx, real *out, real *relu_out, int32_t *pool_idx,
                                       const real *x, const real *w, const real *b,
                                       const cn_conv_shape *s, int ph, int pw, int pstride) {
    return relu_pool_forward(ctx, out, relu_out, pool_idx, x, w, b, s, ph, pw, pstride, 1);
}

/* da[N,F,H',W'] = unpool(dout) masked by the relu (per plane: zero,
 * scatter, mask), then the conv backward of da. The mask comes from
 * relu_out (r) or, when r is NULL, from the pooled output (keep): the
 * window's max is the relu output at its argmax, so the two agree, and da
 * may then be the relu_out buffer itself. */
static int relu_pool_backward(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                              const real *relu_out, const real *keep, const int32_t *pool_idx,
                              const real *x, const real *w, const cn_conv_shape *s, int ph, int pw,
                              int pstride, real *da) {
    cn_max_pool_shape ps;
    int Ho, Wo, Po, Qo;
    int rc = pool_shape(ctx, s, ph, pw, pstride, &ps, &Ho, &Wo);
    if (rc) return rc;
    cn_max_pool_out(ctx, &ps, &Po, &Qo);
    if (!pool_idx) return cn_error(ctx, CN_EINVAL, "conv_relu_pool_backward: pool_idx is NULL");
    /* no dx, the mask from the pooled output: the conv's dw reads the
     * unpooled gradient in cache, sample by sample (da never in memory:
     * writing and reading it back cost the 7x7 layer's backward 36%) */
    if (!dx && keep) return FN(cn__conv_backward_unpool)(ctx, dw, db, dout, pool_idx, keep, &ps, x, s);
    const long planes = (long)s->N * s->F;
    const size_t in = (size_t)Ho * Wo, on = (size_t)Po * Qo;
    if (!dx && relu_out && !da) {
        /* the same with the mask from relu_out: its value at each window's
         * argmax is the window's max, the pooled output (an index outside
         * its plane reads nothing here, masks to 0, and is named by the
         * unpool's scatter); the unpooled planes were written to memory and
         * read back: 37% of the 7x7 layer's backward */
        real *kp = cn__ws(ctx, CN_WS_LAYER, sizeof(real) * cn__mul(planes, on)); /* [N,F,H'',W''] */
        if (!kp) return CN_ENOMEM;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (planes * on > 32768)
        for (long p = 0; p < planes; p++) {
            const int32_t *ix = pool_idx + p * on;
            const real *r = relu_out + p * in;
            real *k = kp + p * on;
            for (size_t o = 0; o < on; o++) k[o] = ix[o] >= 0 && (size_t)ix[o] < in ? r[ix[o]] : 0;
        }
        return FN(cn__conv_backward_unpool)(ctx, dw, db, dout, pool_idx, kp, &ps, x, s);
    }
    if (!da) da = cn__ws(ctx, CN_WS_LAYER, sizeof(real) * cn__mul(planes, in)); /* [N,F,H',W'] */
    if (!da) return CN_ENOMEM;
    long bad = -1;
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if (planes * in > 32768)
    for (long p = 0; p < planes; p++) {
        real *d = da + p * in;               /* [H', W'] */
        const real *g = dout + p * on;       /* [H'', W''] */
        const int32_t *ix = pool_idx + p * on;
        long b = FN(cn__pool_scatter)(d, g, ix, keep ? keep + p * on : NULL, in, on);
        if (b >= 0) {
#pragma omp atomic write
            bad = (long)(p * on) + b;
        }
        if (relu_out) relu_mask(d, d, relu_out + p * in, in);
    }
    if (bad >= 0)
        return cn_error(ctx, CN_EINVAL,
                      "conv_relu_pool_backward: pool_idx[%ld] is outside the %dx%d plane", bad,
                      Ho, Wo);
    return FN(cn_conv_backward)(ctx, dx, dw, db, da, x, w, s);
}

int FN(cn_conv_relu_pool_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                   const real *relu_out, const int32_t *pool_idx, const real *x,
                                   const real *w, const cn_conv_shape *s, int ph, int pw,
                                   int pstride) {
    return relu_pool_backward(ctx, dx, dw, db, dout, relu_out, NULL, pool_idx, x, w, s, ph, pw, pstride,
                              NULL);
}

int FN(cn__conv_relu_pool_backward_into)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                         const real *out, const int32_t *pool_idx, const real *x,
                                         const real *w, const cn_conv_shape *s, int ph, int pw, int pstride,
                                         real *da) {
    return relu_pool_backward(ctx, dx, dw, db, dout, NULL, out, pool_idx, x, w, s, ph, pw, pstride, da);
}
