/* ops/affine.c — the net's fully connected layer, "affine<M>" (or "fc<M>"):
 * the features flattened in C,H,W order times W [D, M] plus b; a ReLU after
 * it fuses into it (affine-relu). The last layer of every net is one (the
 * class scores). In the Solver's step its weights are updated inside the
 * backward (cn__affine_backward_upd). Kernels: layers/affine.c. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_affine_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    const real *w = OP_P(c, op->pW), *b = OP_P(c, op->pb);
    if (op->relu) return FN(cn_affine_relu_forward)(c->ctx, OP_OUT(c), OP_IN(c), w, b, c->N, op->D, op->M);
    return FN(cn_affine_forward)(c->ctx, OP_OUT(c), OP_IN(c), w, b, c->N, op->D, op->M);
}

int FN(cn__op_affine_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    const cn_net *net = c->net;
    real *dw = OP_G(c, op->pW), *db = OP_G(c, op->pb);
    if (c->nu && net->params[op->pW].trainable) {
        const cn_param *pw = &net->params[op->pW];
        size_t at = (size_t)((const char *)pw->data - (const char *)net->pblock); /* bytes */
        cn__netupd *nu = c->nu;
        cn__wupd u = nu->u;
        u.m = (char *)nu->u.m + at;
        u.v = (char *)nu->u.v + at;
        u.reg = pw->regularized ? net->reg : 0;
        u.sumsq = 0;
        u.bad = 0;
        int rc = FN(cn__affine_backward_upd)(c->ctx, OP_DXO(c), dw, db, OP_DOUT(c), op->relu ? OP_OUT(c) : NULL,
                                             OP_IN(c), OP_P(c, op->pW), c->N, op->D, op->M, &u);
        nu->done[op->pW] = 1;
        nu->sumsq[op->pW] = u.sumsq;
        nu->bad[op->pW] = u.bad;
        return rc;
    }
    if (op->relu)
        return FN(cn_affine_relu_backward)(c->ctx, OP_DXO(c), dw, db, OP_DOUT(c), OP_OUT(c), OP_IN(c),
                                           OP_P(c, op->pW), c->N, op->D, op->M);
    return FN(cn_affine_backward)(c->ctx, OP_DXO(c), dw, db, OP_DOUT(c), OP_IN(c), OP_P(c, op->pW), c->N, op->D,
                                  op->M);
}

#ifndef CN_REAL_F64
static int plan(cn__planner *pl, cn_op *op, const char **p) {
    int M;
    if (!cn__parse_int(p, &M)) return 1;
    op->D = pl->C * pl->H * pl->W;
    op->M = M;
    pl->k++;
    int64_t sh[2] = {op->D, M};
    if ((op->pW = cn__plan_param(pl, "W", 2, sh, 1, 1, CN_INIT_NORMAL)) < 0) return op->pW;
    sh[0] = M;
    if ((op->pb = cn__plan_param(pl, "b", 1, sh, 1, 0, CN_INIT_ZERO)) < 0) return op->pb;
    op->oC = M; op->oH = op->oW = 1;
    pl->flat = 1;
    return CN_OK;
}

static int fuse(cn_op *op, const cn_op *next) {
    if (op->relu || next->def != &cn__op_relu) return 0;
    op->relu = 1;
    op->oC = next->oC; op->oH = next->oH; op->oW = next->oW;
    return 1;
}


/* partial sums of [N, M] and a slice of D; affine-relu one [N, M] gradient */
static void workspace(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws) {
    size_t cap = (size_t)1 << 30;
    size_t b = cn__smul(cn__smul(N, cn__sadd(cn__smul(2, (size_t)op->M), (size_t)op->D / 8 + 64)), esz);
    ws->misc = cn__smax(ws->misc, b < cap ? b : cap);
    if (op->relu) ws->layer = cn__smax(ws->layer, cn__smul(cn__smul(N, (size_t)op->M), esz));
}

static double flops(const cn_op *op) { return 2.0 * op->D * op->M; }

static void info(const cn_op *op, cn_layer_info *out) { out->D = op->D; out->M = op->M; }

CN_OP_FNS(affine);
const cn_opdef cn__op_affine = {
    .name = "affine",
    .prefix = {"affine", "fc"},
    .syntax = "affine<M>",
    .help = "fully connected: M outputs from the flattened features (also fc<M>); the last layer",
    .plan = plan, .fuse = fuse, .workspace = workspace, .flops = flops, .info = info,
    .forward = CN_OP_FORWARD(affine), .backward = CN_OP_BACKWARD(affine),
};
#endif
