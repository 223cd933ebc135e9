/* ops/pool.c — the net's max pool, "pool<K>[x<K2>][s<S>]": a K x K2 window
 * (K2 = K), stride S (K). After a conv-relu it fuses into the conv
 * (ops/conv.c). Kernels: layers/pool.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_pool_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    cn_max_pool_shape ps = {c->N, op->C, op->H, op->W, op->ph, op->pw, op->ps};
    return FN(cn_max_pool_forward)(c->ctx, OP_OUT(c), c->idx + op->idx_off, OP_IN(c), &ps);
}

int FN(cn__op_pool_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    if (!c->need_dx) return CN_OK;
    cn_max_pool_shape ps = {c->N, op->C, op->H, op->W, op->ph, op->pw, op->ps};
    return FN(cn_max_pool_backward)(c->ctx, OP_DX(c), OP_DOUT(c), OP_IN(c), c->idx + op->idx_off, &ps);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    int K, K2, S;
    if (!cn__parse_int(p, &K)) return 1;
    K2 = K;
    if (**p == 'x' && (++*p, !cn__parse_int(p, &K2))) return 1;
    S = K;
    if (**p == 's' && (++*p, !cn__parse_int(p, &S))) return 1;
    if (pl->flat) return cn__plan_error(pl, " is a pool after the features were flattened");
    op->ph = K; op->pw = K2; op->ps = S;
    cn_max_pool_shape ps = {1, pl->C, pl->H, pl->W, K, K2, S};
    int Ho, Wo;
    if (cn_max_pool_out(pl->ctx, &ps, &Ho, &Wo)) {
        char msg[CN_ERRMAX];
        snprintf(msg, sizeof msg, "%s", cn_ctx_error(pl->ctx));
        return cn__plan_error(pl, " on input (%d,%d,%d): %s", pl->C, pl->H, pl->W, msg);
    }
    op->oH = Ho; op->oW = Wo;
    return CN_OK;
}

/* the argmax of every output */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    op->idx_off = *idx;
    *idx += N * op->oC * op->oH * op->oW;
}

static void info(const cn_op *op, cn_layer_info *out) { out->ph = op->ph; out->pw = op->pw; out->ps = op->ps; }

/* the backward scatters through the argmax alone */
static unsigned bwd_reads(const cn_op *op) { (void)op; return 0; }

CN_OP_FNS(pool);
const cn_opdef cn__op_pool = {
    .name = "pool",
    .prefix = {"pool"},
    .syntax = "pool<K>[x<K2>][s<S>]",
    .help = "max pool: a K x K window (or K x K2), stride S (K)",
    .plan = plan, .reserve = reserve, .info = info, .bwd_reads = bwd_reads,
    .forward = CN_OP_FORWARD(pool), .backward = CN_OP_BACKWARD(pool),
};
#endif
