/* ops/conv.c — the net's convolution, "conv<F>x<K>[s<S>][p<P>][d]": F
 * filters K x K, stride S (1), zero pad P ((K-1)/2); d: the first min(F, C)
 * filters start as the identity (airbench's dirac init). A ReLU and then a max pool
 * after it fuse into one op (the conv-relu and conv-relu-pool sandwiches).
 * Kernels: layers/conv.c, layers/sandwich.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_conv_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    cn_conv_shape cs = op->cs;
    cs.N = c->N;
    const real *w = OP_P(c, op->pW), *b = OP_P(c, op->pb);
    if (op->pool)
        return FN(cn__conv_relu_pool_forward_net)(c->ctx, OP_OUT(c), OP_ACT(c, op->aux_off), c->idx + op->idx_off,
                                                  OP_IN(c), w, b, &cs, op->ph, op->pw, op->ps);
    if (op->relu) return FN(cn_conv_relu_forward)(c->ctx, OP_OUT(c), OP_IN(c), w, b, &cs);
    return FN(cn_conv_forward)(c->ctx, OP_OUT(c), OP_IN(c), w, b, &cs);
}

int FN(cn__op_conv_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    cn_conv_shape cs = op->cs;
    cs.N = c->N;
    real *dw = OP_G(c, op->pW), *db = OP_G(c, op->pb);
    const real *w = OP_P(c, op->pW);
    if (op->pool) /* the unpooled gradient goes into the relu output's buffer (dead by now) */
        return FN(cn__conv_relu_pool_backward_into)(c->ctx, OP_DXO(c), dw, db, OP_DOUT(c), OP_OUT(c),
                                                    c->idx + op->idx_off, OP_IN(c), w, &cs, op->ph, op->pw,
                                                    op->ps, OP_ACT(c, op->aux_off));
    if (op->relu)
        return FN(cn_conv_relu_backward)(c->ctx, OP_DXO(c), dw, db, OP_DOUT(c), OP_OUT(c), OP_IN(c), w, &cs);
    return FN(cn_conv_backward)(c->ctx, OP_DXO(c), dw, db, OP_DOUT(c), OP_IN(c), w, &cs);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    int F, K, S = 1, P = -1;
    if (!(cn__parse_int(p, &F) && **p == 'x' && (++*p, cn__parse_int(p, &K)))) return 1;
    if (**p == 's' && (++*p, !cn__parse_int(p, &S))) return 1;
    if (**p == 'p' && (++*p, !cn__parse_int(p, &P))) return 1;
    int dirac = **p == 'd';
    if (dirac) ++*p;
    if (P < 0) P = (K - 1) / 2;
    if (pl->flat) return cn__plan_error(pl, " is a conv after the features were flattened");
    return cn__plan_conv(pl, op, F, K, S, P, 1, dirac ? CN_INIT_DIRAC : CN_INIT_NORMAL);
}

int cn__plan_conv(cn__planner *pl, cn_op *op, int F, int K, int S, int P, int trainable, int init) {
    op->cs = (cn_conv_shape){1, pl->C, pl->H, pl->W, F, K, K, S, P};
    int Ho, Wo;
    if (cn_conv_out(pl->ctx, &op->cs, &Ho, &Wo)) {
        char msg[CN_ERRMAX];
        snprintf(msg, sizeof msg, "%s", cn_ctx_error(pl->ctx));
        return cn__plan_error(pl, " on input (%d,%d,%d): %s", pl->C, pl->H, pl->W, msg);
    }
    pl->k++;
    int64_t sh[4] = {F, pl->C, K, K};
    if ((op->pW = cn__plan_param(pl, "W", 4, sh, trainable, trainable, init)) < 0) return op->pW;
    if ((op->pb = cn__plan_param(pl, "b", 1, sh, 1, 0, CN_INIT_ZERO)) < 0) return op->pb;
    op->oC = F; op->oH = op->cH = Ho; op->oW = op->cW = Wo;
    return CN_OK;
}

/* conv, then a relu, then (after the relu) a pool */
static int fuse(cn_op *op, const cn_op *next) {
    if (!op->relu && next->def == &cn__op_relu) {
        op->relu = 1;
    } else if (op->relu && !op->pool && next->def == &cn__op_pool) {
        op->pool = 1;
        op->ph = next->ph; op->pw = next->pw; op->ps = next->ps;
    } else {
        return 0;
    }
    op->oC = next->oC; op->oH = next->oH; op->oW = next->oW;
    return 1;
}

/* conv-relu-pool keeps the relu output [N, F, cH, cW] and the pool's argmax */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    if (!op->pool) return;
    op->aux_off = *act;
    *act += N * op->oC * op->cH * op->cW;
    op->idx_off = *idx;
    *idx += N * op->oC * op->oH * op->oW;
}


/* per thread a padded input, a ~1 MiB column chunk, an output tile and dw
 * partials (each slot capped at the layers' 1 GiB limit); the sandwiches
 * one [N, F, H', W'] gradient */
static void workspace(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws) {
    size_t cap = (size_t)1 << 30;
    size_t F = (size_t)op->cs.F, K = (size_t)op->cs.C * op->cs.HH * op->cs.WW;
    size_t xpad = cn__smul(cn__smul((size_t)op->cs.C, (size_t)op->cs.H + 2 * (size_t)op->cs.pad),
                       (size_t)op->cs.W + 2 * (size_t)op->cs.pad);
    size_t cp = cn__smax(((size_t)1 << 20) / cn__smul(K, esz), 16);
    size_t per = cn__sadd(cn__sadd(xpad, ((size_t)1 << 20) / esz),
                      cn__sadd(cn__smul(F, cp + 16), cn__smul(cn__smul(F, K), 16) <= (((size_t)8 << 20) / esz) ? cn__smul(cn__smul(F, K), 16)
                                                                                                : cn__smul(F, K)));
    size_t b = cn__smul(cn__sadd(cn__smul(per, nt), cn__smul(2 * nt, cn__sadd(cn__smul(F, K), F))), esz);
    ws->col = cn__smax(ws->col, b < cap ? b : cap);
    if (op->relu) ws->layer = cn__smax(ws->layer, cn__smul(cn__smul(N, cn__smul(F, cn__smul((size_t)op->cH, (size_t)op->cW))), esz));
}

static double flops(const cn_op *op) {
    return 2.0 * op->cs.F * op->cH * op->cW * op->cs.C * op->cs.HH * op->cs.WW;
}

static void info(const cn_op *op, cn_layer_info *out) {
    out->F = op->cs.F; out->K = op->cs.HH; out->stride = op->cs.stride; out->pad = op->cs.pad;
    out->cH = op->cH; out->cW = op->cW;
    if (op->pool) { out->ph = op->ph; out->pw = op->pw; out->ps = op->ps; }
}

/* x (for dw, and the first layer's nothing else); the output only for a
 * fused relu's mask */
static unsigned bwd_reads(const cn_op *op) { return CN_READS_IN | (op->relu || op->pool ? CN_READS_OUT : 0); }

CN_OP_FNS(conv);
const cn_opdef cn__op_conv = {
    .name = "conv",
    .prefix = {"conv"},
    .syntax = "conv<F>x<K>[s<S>][p<P>][d]",
    .help = "convolution: F filters K x K, stride S (1), zero pad P ((K-1)/2); d: identity (dirac) init",
    .plan = plan, .fuse = fuse, .reserve = reserve, .workspace = workspace, .flops = flops, .info = info,
    .bwd_reads = bwd_reads, .forward = CN_OP_FORWARD(conv), .backward = CN_OP_BACKWARD(conv),
};
#endif
