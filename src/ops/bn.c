/* ops/bn.c — the net's batch norm, "bn[b]": on flat features (after an
 * affine) the batch norm of the features ("batchnorm"), on (C,H,W) features
 * the spatial batch norm of each channel ("spatial-batchnorm"); batch
 * statistics in training, the running ones in test mode. "bnb": beta only,
 * the scale fixed at 1 (airbench; no gamma parameter). Kernels:
 * layers/norm.c. */
#include "../layers/real.h"
#include "../ops.h"

/* gamma, or NULL when the scale is fixed at 1 */
#define GAMMA_P(c, op) ((op)->pg >= 0 ? OP_P(c, (op)->pg) : NULL)
#define GAMMA_G(c, op) ((op)->pg >= 0 ? OP_G(c, (op)->pg) : NULL)

int FN(cn__op_bn_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    cn_bn_param bp = {c->train, op->eps, op->momentum};
    real *mean = OP_ACT(c, op->aux_off), *invstd = OP_ACT(c, op->aux2_off);
    if (op->spatial)
        return FN(cn_spatial_batchnorm_forward)(c->ctx, OP_OUT(c), mean, invstd, OP_IN(c), GAMMA_P(c, op),
                                                OP_P(c, op->pbeta), OP_P(c, op->prm), OP_P(c, op->prv), &bp, c->N,
                                                op->C, op->H, op->W);
    return FN(cn_batchnorm_forward)(c->ctx, OP_OUT(c), mean, invstd, OP_IN(c), GAMMA_P(c, op), OP_P(c, op->pbeta),
                                    OP_P(c, op->prm), OP_P(c, op->prv), &bp, c->N, op->C * op->H * op->W);
}

int FN(cn__op_bn_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    const real *mean = OP_ACT(c, op->aux_off), *invstd = OP_ACT(c, op->aux2_off);
    if (op->spatial)
        return FN(cn_spatial_batchnorm_backward)(c->ctx, OP_DX(c), GAMMA_G(c, op), OP_G(c, op->pbeta), OP_DOUT(c),
                                                 OP_IN(c), GAMMA_P(c, op), mean, invstd, c->N, op->C, op->H,
                                                 op->W);
    return FN(cn_batchnorm_backward)(c->ctx, OP_DX(c), GAMMA_G(c, op), OP_G(c, op->pbeta), OP_DOUT(c), OP_IN(c),
                                     GAMMA_P(c, op), mean, invstd, c->N, op->C * op->H * op->W);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    int scale = 1;
    if (**p == 'b') { ++*p; scale = 0; }
    op->spatial = !pl->flat;
    op->name = op->spatial ? "spatial-batchnorm" : "batchnorm";
    return cn__plan_norm(pl, op, pl->C, scale ? CN_NORM_SCALE | CN_NORM_RUNNING : CN_NORM_RUNNING);
}

/* the batch's mean and 1/std of each channel */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    op->aux_off = *act; *act += (size_t)op->C;
    op->aux2_off = *act; *act += (size_t)op->C;
}

/* per-thread partial sums */
static void workspace(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws) {
    size_t b = (nt * 3 + 2) * (size_t)op->C * 8;
    if (b > ws->misc) ws->misc = b;
}

CN_OP_FNS(bn);
const cn_opdef cn__op_bn = {
    .name = "batchnorm",
    .prefix = {"bn"},
    .syntax = "bn[b]",
    .help = "batch norm: of flat features, or spatial (per channel) on (C,H,W) features; bnb: beta only",
    .plan = plan, .reserve = reserve, .workspace = workspace,
    .forward = CN_OP_FORWARD(bn), .backward = CN_OP_BACKWARD(bn),
};
#endif
