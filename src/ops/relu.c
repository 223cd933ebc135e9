/* ops/relu.c — the net's "relu": max(0, x). After a conv or an affine it
 * fuses into them (ops/conv.c, ops/affine.c). Kernels: layers/affine.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_relu_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_relu_forward)(c->ctx, OP_OUT(c), OP_IN(c), (size_t)c->N * op->C * op->H * op->W);
}

int FN(cn__op_relu_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    if (!c->need_dx) return CN_OK;
    return FN(cn_relu_backward)(c->ctx, OP_DX(c), OP_DOUT(c), OP_IN(c), (size_t)c->N * op->C * op->H * op->W);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) { return CN_OK; }

CN_OP_FNS(relu);
const cn_opdef cn__op_relu = {
    .name = "relu",
    .prefix = {"relu"},
    .syntax = "relu",
    .help = "ReLU: max(0, x)",
    .plan = plan,
    .forward = CN_OP_FORWARD(relu), .backward = CN_OP_BACKWARD(relu),
};
#endif
