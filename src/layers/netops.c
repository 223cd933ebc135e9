/* netops.c — a net's forward and backward over its planned ops, and the
 * model loss (data loss + L2). Compiled for float and double. */
#include "real.h"
#include "../net.h"

#define P(i) ((real *)net->params[i].data)
#define G(i) ((real *)net->params[i].grad)

int FN(cn__net_forward)(cn_ctx *ctx, cn_net *net, const real *X, int N, int train) {
    real *act = net->act;
    const real *in = X;
    int rc = CN_OK;
    double t0 = net->profile ? cn__now() : 0;
    for (int i = 0; i < net->nops && rc == CN_OK; i++) {
        cn_op *op = &net->ops[i];
        real *out = act + op->out_off;
        cn_conv_shape cs = op->cs;
        cs.N = N;
        cn_bn_param bp = {train, op->eps, op->momentum};
        switch (op->kind) {
        case OP_CONV:
            if (op->pool)
                rc = FN(cn__conv_relu_pool_forward_net)(ctx, out, act + op->aux_off, net->idx + op->idx_off, in,
                                                  P(op->pW), P(op->pb), &cs, op->ph, op->pw, op->ps);
            else if (op->relu)
                rc = FN(cn_conv_relu_forward)(ctx, out, in, P(op->pW), P(op->pb), &cs);
            else
                rc = FN(cn_conv_forward)(ctx, out, in, P(op->pW), P(op->pb), &cs);
            break;
        case OP_AFFINE:
            if (op->relu) rc = FN(cn_affine_relu_forward)(ctx, out, in, P(op->pW), P(op->pb), N, op->D, op->M);
            else rc = FN(cn_affine_forward)(ctx, out, in, P(op->pW), P(op->pb), N, op->D, op->M);
            break;
        case OP_RELU:
            rc = FN(cn_relu_forward)(ctx, out, in, (size_t)N * op->C * op->H * op->W);
            break;
        case OP_POOL: {
            cn_pool_shape ps = {N, op->C, op->H, op->W, op->ph, op->pw, op->ps};
            rc = FN(cn_max_pool_forward)(ctx, out, net->idx + op->idx_off, in, &ps);
            break;
        }
        case OP_BN:
            rc = FN(cn_batchnorm_forward)(ctx, out, act + op->aux_off, act + op->aux2_off, in, P(op->pg), P(op->pbeta),
                                          P(op->prm), P(op->prv), &bp, N, op->C * op->H * op->W);
            break;
        case OP_SBN:
            rc = FN(cn_spatial_batchnorm_forward)(ctx, out, act + op->aux_off, act + op->aux2_off, in, P(op->pg),
                                                  P(op->pbeta), P(op->prm), P(op->prv), &bp, N, op->C, op->H, op->W);
            break;
        case OP_LN:
            rc = FN(cn_layernorm_forward)(ctx, out, act + op->aux_off, act + op->aux2_off, in, P(op->pg), P(op->pbeta),
                                          op->eps, N, op->D);
            break;
        case OP_GN:
            rc = FN(cn_spatial_groupnorm_forward)(ctx, out, act + op->aux_off, act + op->aux2_off, in, P(op->pg),
                                                  P(op->pbeta), op->eps, op->G, N, op->C, op->H, op->W);
            break;
        }
        in = out;
        if (net->profile) {
            double t1 = cn__now();
            net->t_fwd[i] += t1 - t0;
            t0 = t1;
        }
    }
    return rc;
}

/* Backward from net->dscores [N, classes]; writes every trainable gradient,
 * or (nu) updates the affine weights in place instead of storing theirs. */
int FN(cn__net_backward)(cn_ctx *ctx, cn_net *net, const real *X, int N, cn__netupd *nu) {
    real *act = net->act;
    const real *dout = net->dscores;
    int cur = 0, rc = CN_OK;
    double t0 = net->profile ? cn__now() : 0;
    for (int i = net->nops - 1; i >= 0 && rc == CN_OK; i--) {
        cn_op *op = &net->ops[i];
        const real *in = i == 0 ? X : act + net->ops[i - 1].out_off;
        const real *out = act + op->out_off;
        real *dx = net->dbuf[cur];
        real *dxo = i == 0 ? NULL : dx; /* the first layer needs no input gradient */
        cn_conv_shape cs = op->cs;
        cs.N = N;
        switch (op->kind) {
        case OP_CONV:
            if (op->pool)
                /* the unpooled gradient goes into the relu output's buffer (dead by now) */
                rc = FN(cn__conv_relu_pool_backward_into)(ctx, dxo, G(op->pW), G(op->pb), dout, out,
                                                         net->idx + op->idx_off, in, P(op->pW), &cs, op->ph, op->pw,
                                                         op->ps, act + op->aux_off);
            else if (op->relu)
                rc = FN(cn_conv_relu_backward)(ctx, dxo, G(op->pW), G(op->pb), dout, out, in, P(op->pW), &cs);
            else
                rc = FN(cn_conv_backward)(ctx, dxo, G(op->pW), G(op->pb), dout, in, P(op->pW), &cs);
            break;
        case OP_AFFINE:
            if (nu && net->params[op->pW].trainable) {
                const cn_param *pw = &net->params[op->pW];
                size_t at = (size_t)((const char *)pw->data - (const char *)net->pblock); /* bytes */
                cn__wupd u = nu->u;
                u.m = (char *)nu->u.m + at;
                u.v = (char *)nu->u.v + at;
                u.reg = pw->regularized ? net->reg : 0;
                u.sumsq = 0;
                u.bad = 0;
                rc = FN(cn__affine_backward_upd)(ctx, dxo, G(op->pW), G(op->pb), dout, op->relu ? out : NULL, in,
                                                 P(op->pW), N, op->D, op->M, &u);
                nu->done[op->pW] = 1;
                nu->sumsq[op->pW] = u.sumsq;
                nu->bad[op->pW] = u.bad;
            } else if (op->relu)
                rc = FN(cn_affine_relu_backward)(ctx, dxo, G(op->pW), G(op->pb), dout, out, in, P(op->pW), N, op->D, op->M);
            else
                rc = FN(cn_affine_backward)(ctx, dxo, G(op->pW), G(op->pb), dout, in, P(op->pW), N, op->D, op->M);
            break;
        case OP_RELU:
            if (dxo) rc = FN(cn_relu_backward)(ctx, dx, dout, in, (size_t)N * op->C * op->H * op->W);
            break;
        case OP_POOL:
            if (dxo) {
                cn_pool_shape ps = {N, op->C, op->H, op->W, op->ph, op->pw, op->ps};
                rc = FN(cn_max_pool_backward)(ctx, dx, dout, in, net->idx + op->idx_off, &ps);
            }
            break;
        case OP_BN:
            rc = FN(cn_batchnorm_backward)(ctx, dx, G(op->pg), G(op->pbeta), dout, in, P(op->pg), act + op->aux_off,
                                           act + op->aux2_off, N, op->C * op->H * op->W);
            break;
        case OP_SBN:
            rc = FN(cn_spatial_batchnorm_backward)(ctx, dx, G(op->pg), G(op->pbeta), dout, in, P(op->pg),
                                                   act + op->aux_off, act + op->aux2_off, N, op->C, op->H, op->W);
            break;
        case OP_LN:
            rc = FN(cn_layernorm_backward)(ctx, dx, G(op->pg), G(op->pbeta), dout, in, P(op->pg), act + op->aux_off,
                                           act + op->aux2_off, N, op->D);
            break;
        case OP_GN:
            rc = FN(cn_spatial_groupnorm_backward)(ctx, dx, G(op->pg), G(op->pbeta), dout, in, P(op->pg),
                                                   act + op->aux_off, act + op->aux2_off, op->G, N, op->C, op->H, op->W);
            break;
        }
        dout = dx;
        cur ^= 1;
        if (net->profile) {
            double t1 = cn__now();
            net->t_bwd[i] += t1 - t0;
            t0 = t1;
        }
    }
    return rc;
}

int FN(cn__net_loss)(cn_ctx *ctx, cn_net *net, double *loss, real *scores, const real *X,
                     const int32_t *y, int N, cn__netupd *nu) {
    int rc = FN(cn__net_forward)(ctx, net, X, N, y != NULL);
    if (rc) return rc;
    const real *s = (const real *)net->act + net->ops[net->nops - 1].out_off; /* [N, classes] */
    if (scores) memcpy(scores, s, sizeof(real) * (size_t)N * net->classes);
    if (!y) return CN_OK;
    double data_loss, t0 = net->profile ? cn__now() : 0;
    rc = FN(cn_softmax_loss)(ctx, &data_loss, net->dscores, s, y, N, net->classes);
    if (rc) return rc;
    if (net->profile) net->t_loss += cn__now() - t0;
    if (!isfinite(data_loss)) nu = NULL; /* the caller stops before any update */
    rc = FN(cn__net_backward)(ctx, net, X, N, nu);
    if (rc) return rc;
    /* L2 on the weights: loss += 0.5 reg sum W^2, dW += reg W */
    double l2 = 0;
    if (net->reg == 0 || net->defer_reg) {
        *loss = data_loss;
        return CN_OK;
    }
    t0 = net->profile ? cn__now() : 0;
    const real reg = (real)net->reg;
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        if (!p->regularized) continue;
        const real *w = p->data;
        real *g = p->grad;
        double s2 = 0;
        for (size_t e = 0; e < p->size; e++) {
            s2 += (double)w[e] * w[e];
            g[e] += reg * w[e];
        }
        l2 += s2;
    }
    *loss = data_loss + 0.5 * net->reg * l2;
    if (net->profile) net->t_loss += cn__now() - t0;
    return CN_OK;
}
