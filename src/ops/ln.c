/* ops/ln.c — the net's layer norm, "ln": each sample normalized over its
 * D = C*H*W features, then gamma and beta [D]. Kernels: layers/norm.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_ln_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_layernorm_forward)(c->ctx, OP_OUT(c), OP_ACT(c, op->aux_off), OP_ACT(c, op->aux2_off), OP_IN(c),
                                    OP_P(c, op->pg), OP_P(c, op->pbeta), op->eps, c->N, op->D);
}

int FN(cn__op_ln_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_layernorm_backward)(c->ctx, OP_DX(c), OP_G(c, op->pg), OP_G(c, op->pbeta), OP_DOUT(c), OP_IN(c),
                                     OP_P(c, op->pg), OP_ACT(c, op->aux_off), OP_ACT(c, op->aux2_off), c->N, op->D);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    op->D = pl->C * pl->H * pl->W;
    return cn__plan_norm(pl, op, op->D, CN_NORM_SCALE);
}

/* each sample's mean and 1/std */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    op->aux_off = *act; *act += N;
    op->aux2_off = *act; *act += N;
}

/* per-thread partial sums over the features */
static void workspace(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws) {
    size_t b = (nt * 3 + 2) * ((size_t)op->C * op->H * op->W) * 8;
    if (b > ws->misc) ws->misc = b;
}

static void info(const cn_op *op, cn_layer_info *out) { out->D = op->D; }

CN_OP_FNS(ln);
const cn_opdef cn__op_ln = {
    .name = "layernorm",
    .prefix = {"ln"},
    .syntax = "ln",
    .help = "layer norm: each sample over all its features",
    .plan = plan, .reserve = reserve, .workspace = workspace, .info = info,
    .forward = CN_OP_FORWARD(ln), .backward = CN_OP_BACKWARD(ln),
};
#endif
