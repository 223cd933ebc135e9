/* ops/whiten.c — the net's "whiten": airbench's frozen first layer, a 2x2
 * conv (stride 1, no pad) from C channels to 2D = 8C whose filters are the
 * eigenvectors of the training patches' covariance, scaled (+v and -v;
 * cn_whiten_fit in layers/whiten.c). Its weights are fitted, not trained:
 * they are state (saved with the net, never updated); its bias trains.
 * cn_net_fit_whitening fits them from data. */
#include "../layers/real.h"
#include "../ops.h"

int FN(cn__op_whiten_forward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    cn_conv_shape cs = op->cs;
    cs.N = c->N;
    return FN(cn_conv_forward)(c->ctx, OP_OUT(c), OP_IN(c), OP_P(c, op->pW), OP_P(c, op->pb), &cs);
}

/* the weights' gradient goes to a sink in the activation block */
int FN(cn__op_whiten_backward)(const cn_opcall *c) {
    const cn_op *op = c->op;
    cn_conv_shape cs = op->cs;
    cs.N = c->N;
    return FN(cn_conv_backward)(c->ctx, OP_DXO(c), OP_ACT(c, op->aux_off), OP_G(c, op->pb), OP_DOUT(c), OP_IN(c),
                                OP_P(c, op->pW), &cs);
}

int FN(cn__whiten_fit)(cn_ctx *ctx, const cn_net *net, const cn_op *op, const real *X, int N, double eps) {
    return FN(cn_whiten_fit)(ctx, net->params[op->pW].data, NULL, X, eps, N, op->C, op->H, op->W);
}

#ifndef CN_REAL_F64
int cn__whiten_fit_f64(cn_ctx *ctx, const cn_net *net, const cn_op *op, const double *X, int N, double eps);

static int plan(cn__planner *pl, cn_op *op, const char **p) {
    if (pl->layer != 1) return cn__plan_error(pl, ": whiten must be the first layer (it is fitted to the input)");
    if (pl->C > 16) return cn__plan_error(pl, ": whiten takes at most 16 channels, not %d", pl->C);
    /* weights not trainable, not regularized: state, fitted by cn_net_fit_whitening */
    return cn__plan_conv(pl, op, 8 * pl->C, 2, 1, 0, 0, CN_INIT_NORMAL);
}

/* the sink for the frozen weights' gradient [F, C, 2, 2] */
static void reserve(cn_op *op, size_t N, size_t *act, size_t *idx) {
    op->aux_off = *act;
    *act += (size_t)op->cs.F * op->cs.C * 4;
}

static void workspace(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws) {
    cn__op_conv.workspace(op, N, nt, esz, ws);
}

static double flops(const cn_op *op) { return cn__op_conv.flops(op); }

static void info(const cn_op *op, cn_layer_info *out) { cn__op_conv.info(op, out); }

CN_OP_FNS(whiten);
const cn_opdef cn__op_whiten = {
    .name = "whiten",
    .prefix = {"whiten"},
    .syntax = "whiten",
    .help = "first layer only: a 2x2 conv to 8C channels fitted to the data's patches; the weights are not trained, the bias is",
    .plan = plan, .reserve = reserve, .workspace = workspace, .flops = flops, .info = info,
    .forward = CN_OP_FORWARD(whiten), .backward = CN_OP_BACKWARD(whiten),
};

int cn_net_fit_whitening(cn_ctx *ctx, cn_net *net, const void *X, int N, double eps) {
    if (!net || !X || N <= 0) return cn_error(ctx, CN_EINVAL, "fit whitening: need a net and N > 0 images (N=%d)", N);
    if (net->nops == 0 || net->ops[0].def != &cn__op_whiten)
        return cn_error(ctx, CN_EINVAL, "fit whitening: net %s does not start with whiten", net->spec);
    if (net->dtype == CN_F32) return cn__whiten_fit_f32(ctx, net, &net->ops[0], X, N, eps);
    return cn__whiten_fit_f64(ctx, net, &net->ops[0], X, N, eps);
}
#endif
