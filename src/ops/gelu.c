/* ops/gelu.c — the net's "gelu": x Phi(x), the exact (erf) GELU. Kernels:
 * layers/gelu.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_gelu_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_gelu_forward)(c->ctx, OP_OUT(c), OP_IN(c), (size_t)c->N * op->C * op->H * op->W);
}

int FN(cn__op_gelu_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    if (!c->need_dx) return CN_OK;
    return FN(cn_gelu_backward)(c->ctx, OP_DX(c), OP_DOUT(c), OP_IN(c), (size_t)c->N * op->C * op->H * op->W);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) { return CN_OK; }

CN_OP_FNS(gelu);
const cn_opdef cn__op_gelu = {
    .name = "gelu",
    .prefix = {"gelu"},
    .syntax = "gelu",
    .help = "GELU: x Phi(x), the exact (erf) form",
    .plan = plan,
    .forward = CN_OP_FORWARD(gelu), .backward = CN_OP_BACKWARD(gelu),
};
#endif
