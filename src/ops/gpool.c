/* ops/gpool.c — the net's global pools: "gap" (the mean) and "gmp" (the
 * max) of each channel's H x W plane, to (C,1,1). Kernels: layers/gpool.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_gpool_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    if (op->gmax)
        return FN(cn_global_max_pool_forward)(c->ctx, OP_OUT(c), c->idx + op->idx_off, OP_IN(c), c->N, op->C, op->H,
                                              op->W);
    return FN(cn_global_avg_pool_forward)(c->ctx, OP_OUT(c), OP_IN(c), c->N, op->C, op->H, op->W);
}

int FN(cn__op_gpool_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    if (!c->need_dx) return CN_OK;
    if (op->gmax)
        return FN(cn_global_max_pool_backward)(c->ctx, OP_DX(c), OP_DOUT(c), OP_IN(c), c->idx + op->idx_off, c->N,
                                               op->C, op->H, op->W);
    return FN(cn_global_avg_pool_backward)(c->ctx, OP_DX(c), OP_DOUT(c), c->N, op->C, op->H, op->W);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    op->gmax = pl->tok[1] == 'm'; /* the prefix read was "gmp" */
    if (pl->flat) return cn__plan_error(pl, " is a global pool after the features were flattened");
    op->name = op->gmax ? "global-max-pool" : "global-avg-pool";
    op->oH = op->oW = 1;
    return CN_OK;
}

/* the max pool's argmax of every output */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    if (!op->gmax) return;
    op->idx_off = *idx;
    *idx += N * op->oC;
}

CN_OP_FNS(gpool);
const cn_opdef cn__op_gpool = {
    .name = "global-avg-pool",
    .prefix = {"gap", "gmp"},
    .syntax = "gap|gmp",
    .help = "global average (gap) or max (gmp) pool of each channel, to (C,1,1)",
    .plan = plan, .reserve = reserve,
    .forward = CN_OP_FORWARD(gpool), .backward = CN_OP_BACKWARD(gpool),
};
#endif
