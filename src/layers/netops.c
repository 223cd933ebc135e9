/* netops.c — a net's forward and backward: the executor that walks the
 * planned ops and calls each kind's record (ops.h), and the model loss
 * (data loss, label-smoothed or not, + L2). Compiled for float and double. */
#include "real.h"
#include "../ops.h"

#ifdef CN_REAL_F64
#define TI 1
#else
#define TI 0
#endif

/* op's output: in the activation block, or (not kept) at the start of
 * the gradient block (plan_activations in net.c) */
static real *op_out(const cn_net *net, real *act, const cn_op *op) {
    return op->in_dblock ? (real *)net->dblock : act + op->out_off;
}

/* prof: NULL, or each op's time is added to prof[i] */
static int forward(cn_ctx *ctx, cn_net *net, const real *X, int N, int train, double *prof) {
    real *act = net->act;
    cn_opcall c = {.ctx = ctx, .net = net, .N = N, .train = train, .in = X, .act = act, .idx = net->idx};
    int rc = CN_OK;
    double t0 = prof ? cn__now() : 0;
    for (int i = 0; i < net->nops && rc == CN_OK; i++) {
        const cn_op *op = &net->ops[i];
        c.op = op;
        c.out = op_out(net, act, op);
        rc = op->def->forward[TI](&c);
        c.in = c.out;
        if (prof) {
            double t1 = cn__now();
            prof[i] += t1 - t0;
            t0 = t1;
        }
    }
    return rc;
}

/* Backward from net->dscores [N, classes] into the gradient block `grads`
 * (every trainable gradient, or with nu the affine weights updated in place
 * instead of storing theirs); the input gradients ping-pong between
 * the two ends of net->dblock (the far end's start rounded down to 16
 * elements, which its 16 spare elements allow). */
static int backward(cn_ctx *ctx, cn_net *net, const real *X, int N, char *grads, cn__netupd *nu, double *prof) {
    real *act = net->act;
    cn_opcall c = {.ctx = ctx, .net = net, .N = N, .act = act, .idx = net->idx, .dout = net->dscores,
                   .grads = grads, .nu = nu};
    int cur = 0, rc = CN_OK;
    double t0 = prof ? cn__now() : 0;
    real *db = net->dblock;
    for (int i = net->nops - 1; i >= 0 && rc == CN_OK; i--) {
        const cn_op *op = &net->ops[i];
        c.op = op;
        c.in = i == 0 ? X : op_out(net, act, &net->ops[i - 1]);
        c.out = op_out(net, act, op);
        size_t nx = (size_t)N * op->C * op->H * op->W; /* dx */
        c.dx = cur == 0 ? db : db + ((net->dblock_elems - nx) & ~(size_t)15);
        c.need_dx = i > 0; /* the first layer needs no input gradient */
        rc = op->def->backward[TI](&c);
        c.dout = c.dx;
        cur ^= 1;
        if (prof) {
            double t1 = cn__now();
            prof[i] += t1 - t0;
            t0 = t1;
        }
    }
    return rc;
}

int FN(cn__net_loss)(cn_ctx *ctx, cn_net *net, double *loss, real *scores, const real *X,
                     const int32_t *y, int N, const cn__lossopt *o) {
    int rc = forward(ctx, net, X, N, y != NULL, o->profile ? net->t_fwd : NULL);
    if (rc) return rc;
    const real *s = (const real *)net->act + net->ops[net->nops - 1].out_off; /* [N, classes] */
    if (scores) memcpy(scores, s, sizeof(real) * (size_t)N * net->classes);
    if (!y) return CN_OK;
    double data_loss, t0 = o->profile ? cn__now() : 0;
    rc = o->smooth > 0 ? FN(cn_softmax_loss_smooth)(ctx, &data_loss, net->dscores, s, y, o->smooth, N, net->classes)
                       : FN(cn_softmax_loss)(ctx, &data_loss, net->dscores, s, y, N, net->classes);
    if (rc) return rc;
    if (o->profile) net->t_loss += cn__now() - t0;
    cn__netupd *nu = isfinite(data_loss) ? o->nu : NULL; /* the caller stops before any update */
    char *grads = o->grads ? o->grads : net->gblock;
    rc = backward(ctx, net, X, N, grads, nu, o->profile ? net->t_bwd : NULL);
    if (rc) return rc;
    /* L2 on the weights: loss += 0.5 reg sum W^2, dW += reg W */
    double l2 = 0;
    if (net->reg == 0 || !o->l2) {
        *loss = data_loss;
        return CN_OK;
    }
    t0 = o->profile ? cn__now() : 0;
    const real reg = (real)net->reg;
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        if (!p->regularized) continue;
        const real *w = p->data;
        real *g = (real *)(grads + ((const char *)p->grad - (const char *)net->gblock));
        double s2 = 0;
        for (size_t e = 0; e < p->size; e++) {
            s2 += (double)w[e] * w[e];
            g[e] += reg * w[e];
        }
        l2 += s2;
    }
    *loss = data_loss + 0.5 * net->reg * l2;
    if (o->profile) net->t_loss += cn__now() - t0;
    return CN_OK;
}
