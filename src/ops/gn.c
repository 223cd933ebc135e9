/* ops/gn.c — the net's spatial group norm, "gn<G>": each sample's C
 * channels in G groups of C/G consecutive channels, each group normalized
 * over its channels and pixels, then per-channel gamma and beta. Kernels:
 * layers/norm.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_gn_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_spatial_groupnorm_forward)(c->ctx, OP_OUT(c), OP_ACT(c, op->aux_off), OP_ACT(c, op->aux2_off),
                                            OP_IN(c), OP_P(c, op->pg), OP_P(c, op->pbeta), op->eps, op->G, c->N,
                                            op->C, op->H, op->W);
}

int FN(cn__op_gn_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_spatial_groupnorm_backward)(c->ctx, OP_DX(c), OP_G(c, op->pg), OP_G(c, op->pbeta), OP_DOUT(c),
                                             OP_IN(c), OP_P(c, op->pg), OP_ACT(c, op->aux_off),
                                             OP_ACT(c, op->aux2_off), op->G, c->N, op->C, op->H, op->W);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    if (!cn__parse_int(p, &op->G)) return 1;
    if (pl->flat) return cn__plan_error(pl, ": group norm needs (C,H,W) features, not flattened ones");
    if (op->G <= 0 || pl->C % op->G) return cn__plan_error(pl, ": G=%d does not divide C=%d", op->G, pl->C);
    return cn__plan_norm(pl, op, pl->C, CN_NORM_SCALE);
}

/* each sample's and group's mean and 1/std */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    op->aux_off = *act; *act += N * op->G;
    op->aux2_off = *act; *act += N * op->G;
}

/* per-thread partial sums */
static void workspace(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws) {
    size_t b = (nt * 3 + 2) * (size_t)op->C * 8;
    if (b > ws->misc) ws->misc = b;
}

static void info(const cn_op *op, cn_layer_info *out) { out->groups = op->G; }

CN_OP_FNS(gn);
const cn_opdef cn__op_gn = {
    .name = "spatial-groupnorm",
    .prefix = {"gn"},
    .syntax = "gn<G>",
    .help = "spatial group norm: G groups of consecutive channels",
    .plan = plan, .reserve = reserve, .workspace = workspace, .info = info,
    .forward = CN_OP_FORWARD(gn), .backward = CN_OP_BACKWARD(gn),
};
#endif
