/* ops/scale.c — the net's "scale<s>": out = s x, s a decimal or a
 * fraction (scale0.5, scale1/9: airbench's scores times 1/9). Kernel:
 * cn_scale_forward (layers/gelu.c); its backward is the same product. */
#include "../layers/real.h"
#include "../ops.h"
#include <ctype.h>

int FN(cn__op_scale_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    return FN(cn_scale_forward)(c->ctx, OP_OUT(c), OP_IN(c), op->scale, (size_t)c->N * op->C * op->H * op->W);
}

int FN(cn__op_scale_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    if (!c->need_dx) return CN_OK;
    return FN(cn_scale_forward)(c->ctx, OP_DX(c), OP_DOUT(c), op->scale, (size_t)c->N * op->C * op->H * op->W);
}

#ifndef CN_REAL_F64
/* digits[.digits]: at most 9 significant digits (exact in a double) */
static int parse_decimal(const char **p, double *v) {
    const char *q = *p;
    double x = 0, f = 1;
    int digits = 0, dot = 0;
    for (; isdigit((unsigned char)*q) || (*q == '.' && !dot); q++) {
        if (*q == '.') { dot = 1; continue; }
        if (++digits > 9) return 0;
        x = x * 10 + (*q - '0');
        if (dot) f *= 10;
    }
    if (!digits) return 0;
    *v = x / f;
    *p = q;
    return 1;
}

static int plan(cn__planner *pl, cn_op *op, const char **p) {
    double num, den = 1;
    if (!parse_decimal(p, &num)) return 1;
    if (**p == '/' && (++*p, !parse_decimal(p, &den))) return 1;
    if (!(num > 0) || !(den > 0)) return cn__plan_error(pl, ": the scale must be > 0");
    op->scale = num / den;
    return CN_OK;
}

static void info(const cn_op *op, cn_layer_info *out) { out->scale = op->scale; }

CN_OP_FNS(scale);
const cn_opdef cn__op_scale = {
    .name = "scale",
    .prefix = {"scale"},
    .syntax = "scale<s>[/<d>]",
    .help = "out = s x (or s/d x; airbench: scale1/9 after the last affine)",
    .after_scores = 1,
    .plan = plan, .info = info,
    .forward = CN_OP_FORWARD(scale), .backward = CN_OP_BACKWARD(scale),
};
#endif
