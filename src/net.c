/* net.c — nets composed from a one-line spec: reading it through the table
 * of layer kinds (ops.h), planning shapes, fusing the sandwiches, parameter
 * and activation memory (allocated once), the memory estimate, describe and
 * the per-op profile. Model files: netfile.c; the executor: layers/netops.c. */
#include "ops.h"
#include <stdarg.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>

const char *cn_spec_expand(const char *spec) {
    if (!spec || !strcmp(spec, "three-layer") || !strcmp(spec, "threelayer"))
        return "conv32x7-relu-pool2-affine100-relu-affine10";
    return spec;
}

/* A decimal int at *p (1..1e6). */
int cn__parse_int(const char **p, int *v) {
    if (!isdigit((unsigned char)**p)) return 0;
    long x = 0;
    while (isdigit((unsigned char)**p)) {
        x = x * 10 + (**p - '0');
        if (x > 1000000) return 0;
        (*p)++;
    }
    *v = (int)x;
    return 1;
}

int cn__plan_error(cn__planner *pl, const char *fmt, ...) {
    char msg[CN_ERRMAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cn_error(pl->ctx, CN_EINVAL, "net spec: layer %d '%.*s'%s", pl->layer, pl->toklen, pl->tok, msg);
}

int cn__plan_param(cn__planner *pl, const char *base, int ndim, const int64_t *shape, int trainable,
                   int regularized, int init) {
    cn_net *net = pl->net;
    if (net->nparams >= CN_MAX_PARAMS)
        return cn_error(pl->ctx, CN_EINVAL, "net spec: more than %d parameter tensors", CN_MAX_PARAMS);
    int i = net->nparams++;
    cn_param *p = &net->params[i];
    snprintf(net->names[i], sizeof net->names[i], "%s%d", base, pl->k);
    p->name = net->names[i];
    p->ndim = ndim;
    size_t size = 1;
    for (int d = 0; d < ndim; d++) {
        p->shape[d] = shape[d];
        size = cn__mul(size, (size_t)shape[d]);
    }
    if (size == 0 || size > ((size_t)1 << 31))
        return cn_error(pl->ctx, CN_EINVAL, "net spec: parameter %s has %zu elements (limit 2^31)", p->name, size);
    p->size = size;
    p->trainable = trainable;
    p->regularized = regularized;
    net->pinit[i] = (unsigned char)init;
    return i;
}

int cn__plan_norm(cn__planner *pl, cn_op *op, int channels, int flags) {
    if (pl->normed_k == pl->k) return cn__plan_error(pl, ": a second norm layer after weight layer %d", pl->k);
    pl->normed_k = pl->k;
    op->eps = 1e-5;
    op->momentum = 0.9;
    int64_t sh[1] = {channels};
    if ((flags & CN_NORM_SCALE) && (op->pg = cn__plan_param(pl, "gamma", 1, sh, 1, 0, CN_INIT_ONE)) < 0)
        return op->pg;
    if ((op->pbeta = cn__plan_param(pl, "beta", 1, sh, 1, 0, CN_INIT_ZERO)) < 0) return op->pbeta;
    if (flags & CN_NORM_RUNNING) {
        if ((op->prm = cn__plan_param(pl, "running_mean", 1, sh, 0, 0, CN_INIT_ZERO)) < 0) return op->prm;
        if ((op->prv = cn__plan_param(pl, "running_var", 1, sh, 0, 0, CN_INIT_ZERO)) < 0) return op->prv;
    }
    return CN_OK;
}

int cn_spec_grammar(char *buf, size_t len) {
    size_t used = 0;
    for (int i = 0; cn__op_table[i]; i++) {
        int w = snprintf(buf + used, used < len ? len - used : 0, "%s%s", i ? ", " : "", cn__op_table[i]->syntax);
        if (w > 0) used += (size_t)w;
    }
    return used < len ? CN_OK : CN_EINVAL;
}

const char *cn_spec_kind(int i, const char **help) {
    int n = 0;
    while (cn__op_table[n]) n++;
    if (i < 0 || i >= n) return NULL;
    if (help) *help = cn__op_table[i]->help;
    return cn__op_table[i]->syntax;
}

/* The kind whose prefix starts the text at p (advanced past the prefix). */
static const cn_opdef *find_kind(const char **p) {
    for (int i = 0; cn__op_table[i]; i++)
        for (int j = 0; j < 3 && cn__op_table[i]->prefix[j]; j++) {
            size_t n = strlen(cn__op_table[i]->prefix[j]);
            if (!strncmp(*p, cn__op_table[i]->prefix[j], n)) {
                *p += n;
                return cn__op_table[i];
            }
        }
    return NULL;
}

/* A layer that does not read: say what is wrong with it. */
static int unreadable(cn__planner *pl) {
    const char *start = pl->tok;
    int len = pl->toklen;
    /* a number past cn__parse_int's limit reads as an unreadable layer;
     * say what is wrong with it instead */
    for (const char *q = start; q < start + len; q++) {
        if (!isdigit((unsigned char)*q) || (q > start && isdigit((unsigned char)q[-1]))) continue;
        const char *e = q;
        while (e < start + len && isdigit((unsigned char)*e)) e++;
        while (q < e - 1 && *q == '0') q++;
        if (e - q > 7 || (e - q == 7 && strncmp(q, "1000000", 7) > 0))
            return cn__plan_error(pl, ": %.*s is too large (at most 1000000)", (int)(e - q), q);
    }
    char grammar[256];
    cn_spec_grammar(grammar, sizeof grammar);
    return cn_error(pl->ctx, CN_EINVAL, "net spec: cannot read layer %d '%.*s' (expected %s)", pl->layer, len, start,
                  grammar);
}

/* Parse the spec into ops with shapes and parameter tables (no memory yet):
 * each layer's record reads its token and plans it. */
static int plan(cn_ctx *ctx, cn_net *net) {
    cn__planner pl = {ctx, net, net->C, net->H, net->W, 0, 0, -1, 0, NULL, 0};
    const char *p = net->spec;
    while (*p) {
        pl.layer++;
        const char *end = strchr(p, '-');
        pl.tok = p;
        pl.toklen = end ? (int)(end - p) : (int)strlen(p);
        if (net->nops >= CN_MAX_OPS)
            return cn_error(ctx, CN_EINVAL, "net spec: more than %d layers", CN_MAX_OPS);
        cn_op *op = &net->ops[net->nops];
        memset(op, 0, sizeof *op);
        op->pW = op->pb = op->pg = op->pbeta = op->prm = op->prv = -1;
        op->C = op->oC = pl.C; op->H = op->oH = pl.H; op->W = op->oW = pl.W;
        const cn_opdef *def = find_kind(&p);
        int rc = def ? def->plan(&pl, op, &p) : 1;
        if (rc < 0) return rc;
        if (rc > 0 || (*p && *p != '-')) return unreadable(&pl);
        op->def = def;
        if (!op->name) op->name = def->name;
        pl.C = op->oC; pl.H = op->oH; pl.W = op->oW;
        if ((size_t)pl.C * pl.H * pl.W > ((size_t)1 << 28))
            return cn__plan_error(&pl, " output (%d,%d,%d) is too large", pl.C, pl.H, pl.W);
        net->nops++;
        if (*p == '-') {
            p++;
            if (!*p) return cn_error(ctx, CN_EINVAL, "net spec: ends with '-'");
        }
    }
    if (net->nops == 0) return cn_error(ctx, CN_EINVAL, "net spec: empty");
    /* the scores: the last affine's outputs, through kinds that may follow
     * it (scale1/9) */
    int la = net->nops - 1;
    while (la > 0 && net->ops[la].def->after_scores) la--;
    cn_op *last = &net->ops[la];
    if (last->def != &cn__op_affine)
        return cn_error(ctx, CN_EINVAL, "net spec: the last layer must be affine<classes> (softmax follows it), got '%s'", net->spec);
    net->classes = last->M;
    if (net->classes < 2) return cn_error(ctx, CN_EINVAL, "net spec: the last affine has %d outputs; need at least 2 classes", net->classes);
    return CN_OK;
}

/* Fuse: each op absorbs the ops after it that its record takes (conv-relu,
 * conv-relu-pool, affine-relu: the fast sandwiches). */
static void fuse(cn_net *net) {
    int j = 0;
    for (int i = 0; i < net->nops; i++) {
        cn_op op = net->ops[i];
        while (op.def->fuse && i + 1 < net->nops && op.def->fuse(&op, &net->ops[i + 1])) i++;
        net->ops[j++] = op;
    }
    net->nops = j;
}

/* A net planned from the spec (ops, shapes, fusion, parameter table), no
 * memory blocks yet: the part cn_net_new and the memory estimate share. */
static int planned(cn_ctx *ctx, cn_net **out, const char *spec, int C, int H, int W, cn_dtype dtype) {
    *out = NULL;
    spec = cn_spec_expand(spec);
    if (strlen(spec) >= CN_SPEC_MAX) return cn_error(ctx, CN_EINVAL, "net spec: longer than %d characters", CN_SPEC_MAX - 1);
    if (C <= 0 || H <= 0 || W <= 0 || C > 4096 || H > 65536 || W > 65536)
        return cn_error(ctx, CN_EINVAL, "net: input dims (%d,%d,%d) out of range", C, H, W);
    if ((size_t)C * H * W > ((size_t)1 << 28)) /* as every layer's output: C*H*W fits an int */
        return cn_error(ctx, CN_EINVAL, "net: input (%d,%d,%d) has more than 2^28 values per image", C, H, W);
    if (dtype != CN_F32 && dtype != CN_F64) return cn_error(ctx, CN_EINVAL, "net: dtype %d unknown", (int)dtype);
    cn_net *net = calloc(1, sizeof *net);
    if (!net) return cn_error(ctx, CN_ENOMEM, "net: out of memory");
    snprintf(net->spec, sizeof net->spec, "%s", spec);
    net->dtype = dtype;
    net->esz = dtype == CN_F32 ? 4 : 8;
    net->C = C; net->H = H; net->W = W;
    int rc = plan(ctx, net);
    if (rc) { free(net); return rc; }
    fuse(net);
    *out = net;
    return CN_OK;
}

int cn_net_new(cn_ctx *ctx, cn_net **out, const char *spec, int C, int H, int W, cn_dtype dtype,
               double weight_scale, double reg, cn_rng *rng) {
    *out = NULL;
    if (!isfinite(weight_scale)) return cn_error(ctx, CN_EINVAL, "net: weight_scale %g must be finite", weight_scale);
    if (!(reg >= 0) || !isfinite(reg)) return cn_error(ctx, CN_EINVAL, "net: reg %g must be finite and >= 0", reg);
    cn_net *net;
    int rc = planned(ctx, &net, spec, C, H, W, dtype);
    if (rc) return rc;
    net->reg = reg;
    /* parameters: trainable first (one block, the optimizer's flat view), then state */
    size_t off = 0;
    for (int i = 0; i < net->nparams; i++) if (net->params[i].trainable) off += net->params[i].size;
    net->ntrain = off;
    for (int i = 0; i < net->nparams; i++) if (!net->params[i].trainable) off += net->params[i].size;
    net->nstate = off - net->ntrain;
    net->pblock = aligned_alloc(64, ((off ? off : 1) * net->esz + 63) & ~(size_t)63);
    /* gradients zeroed but not touched: the Solver updates the affine
     * weights inside the backward and never writes theirs */
    net->gblock = cn__alloc_zeroed((net->ntrain ? net->ntrain : 1) * net->esz);
    if (!net->pblock || !net->gblock) { cn_net_free(net); return cn_error(ctx, CN_ENOMEM, "net: cannot allocate %zu parameters", off); }
    size_t toff = 0, soff = net->ntrain;
    for (int i = 0; i < net->nparams; i++) {
        cn_param *p = &net->params[i];
        size_t o = p->trainable ? toff : soff;
        p->data = (char *)net->pblock + o * net->esz;
        p->grad = p->trainable ? (char *)net->gblock + o * net->esz : NULL;
        if (p->trainable) toff += p->size; else soff += p->size;
        /* init: weights ~ weight_scale * N(0,1) (drawn in parameter order),
         * or (weight_scale < 0) ~ U(-b, b) with b = |weight_scale| / sqrt(fan
         * in), PyTorch's default at -1; gamma 1, everything else 0. The fan
         * in of a conv's [F, C, HH, WW] is C HH WW, of an affine's [D, M] D */
        int init = net->pinit[i];
        int rnd = init == CN_INIT_NORMAL || init == CN_INIT_DIRAC;
        double bound = 0;
        if (rnd && weight_scale < 0) {
            size_t fan = p->ndim == 4 ? p->size / (size_t)p->shape[0] : (size_t)p->shape[0];
            bound = -weight_scale / sqrt((double)(fan ? fan : 1));
        }
        for (size_t e = 0; e < p->size; e++) {
            double v = !rnd                ? (init == CN_INIT_ONE ? 1.0 : 0.0)
                       : weight_scale >= 0 ? weight_scale * cn_rng_normal(rng)
                                           : bound * (2 * cn_rng_uniform(rng) - 1);
            if (dtype == CN_F32) ((float *)p->data)[e] = (float)v;
            else ((double *)p->data)[e] = v;
        }
        if (init == CN_INIT_DIRAC) {
            int F = (int)p->shape[0], C = (int)p->shape[1], HH = (int)p->shape[2], WW = (int)p->shape[3];
            if (dtype == CN_F32) cn_conv_init_dirac_f32(ctx, p->data, F, C, HH, WW);
            else cn_conv_init_dirac_f64(ctx, p->data, F, C, HH, WW);
        }
    }
    *out = net;
    return CN_OK;
}

void cn_net_free(cn_net *net) {
    if (!net) return;
    free(net->pblock); cn__free_zeroed(net->gblock); free(net->act); free(net->idx);
    free(net->dblock); free(net->dscores);
    free(net->mean); free(net->class_names);
    free(net);
}

const char *cn_net_spec(const cn_net *net) { return net->spec; }
cn_dtype cn_net_dtype(const cn_net *net) { return net->dtype; }
int cn_net_num_classes(const cn_net *net) { return net->classes; }
void cn_net_input(const cn_net *net, int *C, int *H, int *W) { *C = net->C; *H = net->H; *W = net->W; }
double cn_net_reg(const cn_net *net) { return net->reg; }
void cn_net_set_reg(cn_net *net, double reg) { net->reg = reg; }
int cn_net_num_params(const cn_net *net) { return net->nparams; }
const cn_param *cn_net_param_at(const cn_net *net, int i) {
    return i >= 0 && i < net->nparams ? &net->params[i] : NULL;
}
const cn_param *cn_net_param_get(const cn_net *net, const char *name) {
    for (int i = 0; i < net->nparams; i++) if (!strcmp(net->params[i].name, name)) return &net->params[i];
    return NULL;
}
void *cn_net_flat_params(const cn_net *net, size_t *n) { if (n) *n = net->ntrain; return net->pblock; }
void *cn_net_flat_grads(const cn_net *net, size_t *n) { if (n) *n = net->ntrain; return net->gblock; }

static unsigned bwd_reads(const cn_op *op) {
    return op->def->bwd_reads ? op->def->bwd_reads(op) : CN_READS_IN | CN_READS_OUT;
}

/* The activation layout for batch N: element counts of the activation
 * block and of the int32 index block, and the per-sample size of the
 * gradient block (dblock: N of those, + 16); sets each op's offsets.
 * The backward's input gradients take the gradient block's two ends in
 * turn (netops.c), so it holds, for every op but the first, the gradient
 * of its output (in one end; the last op's is dscores) and of its input
 * (in the other). An op's output that no backward reads (its op's nor the
 * next op's: a conv's before a max pool) is not kept in the activation
 * block: the forward makes it at the start of the gradient block, which is
 * idle then; the next op's output is kept, as its input is read there. */
static void plan_activations(cn_net *net, size_t N, size_t *act_out, size_t *idx_out, size_t *dmax_out) {
    size_t act = 0, idx = 0, dmax = 1, in = (size_t)net->C * net->H * net->W;
    for (int i = 0; i < net->nops; i++) {
        cn_op *op = &net->ops[i];
        size_t osz = (size_t)op->oC * op->oH * op->oW;
        int last = i == net->nops - 1;
        op->in_dblock = !last && !(bwd_reads(op) & CN_READS_OUT) && !(bwd_reads(&net->ops[i + 1]) & CN_READS_IN) &&
                        !(i > 0 && net->ops[i - 1].in_dblock);
        if (op->in_dblock) {
            op->out_off = 0;
            if (osz > dmax) dmax = osz;
        } else {
            op->out_off = act;
            act += N * osz;
        }
        size_t pair = i == 0 ? 0 : in + (last ? 0 : osz); /* dx and dout at op i */
        if (pair > dmax) dmax = pair;
        if (op->def->reserve) op->def->reserve(op, N, &act, &idx);
        in = osz;
    }
    *act_out = act;
    *idx_out = idx;
    *dmax_out = dmax;
}

int cn_net_reserve(cn_ctx *ctx, cn_net *net, int max_batch) {
    if (max_batch <= 0) return cn_error(ctx, CN_EINVAL, "net: batch size %d must be > 0", max_batch);
    if (max_batch <= net->max_batch) return CN_OK;
    size_t N = (size_t)max_batch, act, idx, dmax;
    plan_activations(net, N, &act, &idx, &dmax);
    if (act > ((size_t)1 << 34) / net->esz)
        return cn_error(ctx, CN_ENOMEM, "net: activations for batch %d need %zu bytes (limit 16 GiB)", max_batch, act * net->esz);
    free(net->act); free(net->idx); free(net->dblock); free(net->dscores);
    net->act = aligned_alloc(64, ((act ? act : 1) * net->esz + 63) & ~(size_t)63);
    net->idx = aligned_alloc(64, ((idx ? idx : 1) * 4 + 63) & ~(size_t)63);
    net->dblock_elems = N * dmax + 16; /* + 16: the far end's start is rounded down to 16 */
    net->dblock = aligned_alloc(64, (net->dblock_elems * net->esz + 63) & ~(size_t)63);
    net->dscores = aligned_alloc(64, (N * net->classes * net->esz + 63) & ~(size_t)63);
    if (!net->act || !net->idx || !net->dblock || !net->dscores) {
        free(net->act); free(net->idx); free(net->dblock); free(net->dscores);
        net->act = net->idx = net->dblock = net->dscores = NULL;
        net->max_batch = 0;
        return cn_error(ctx, CN_ENOMEM, "net: cannot allocate activations for batch %d", max_batch);
    }
    /* touch once so the first training step does not page-fault */
    memset(net->act, 0, act * net->esz);
    memset(net->dblock, 0, net->dblock_elems * net->esz);
    net->act_elems = act;
    net->idx_elems = idx;
    net->max_batch = max_batch;
    return CN_OK;
}

/* ---- memory estimate ---------------------------------------------------- */


int cn_net_estimate_memory(cn_ctx *ctx, const char *spec, int C, int H, int W, cn_dtype dtype, int batch,
                           const char *update_rule, cn_mem_estimate *est) {
    memset(est, 0, sizeof *est);
    if (batch <= 0) return cn_error(ctx, CN_EINVAL, "net: batch size %d must be > 0", batch);
    int moments = 2; /* adam: m and v; unknown rules are the solver's to refuse */
    if (update_rule && !strcmp(update_rule, "sgd")) moments = 0;
    else if (update_rule && (!strcmp(update_rule, "sgd_momentum") || !strcmp(update_rule, "rmsprop") ||
                             !strcmp(update_rule, "nesterov")))
        moments = 1;
    /* plan only: the same parse, shapes and fusion as cn_net_new, no blocks */
    cn_net *net;
    int rc = planned(ctx, &net, spec, C, H, W, dtype);
    if (rc) return rc;
    size_t esz = net->esz, ntrain = 0, nall = 0;
    for (int i = 0; i < net->nparams; i++) {
        nall += net->params[i].size;
        if (net->params[i].trainable) ntrain += net->params[i].size;
    }
    est->params = cn__smul(nall, esz);
    est->grads = cn__smul(ntrain, esz);
    /* the Solver: its copy of the best parameters, the rule's moments, and
     * minibatch buffers of the batch (the accuracy checks go by chunks of it) */
    size_t N = (size_t)batch, in = (size_t)C * H * W;
    est->solver = cn__sadd(cn__sadd(cn__smul(nall, esz), cn__smul(cn__smul(ntrain, esz), (size_t)moments)),
                       cn__smul(N, cn__sadd(cn__smul(in, esz), cn__sadd(8, cn__smul((size_t)net->classes, esz)))));
    size_t act, idx, dmax;
    plan_activations(net, N, &act, &idx, &dmax);
    est->activations = cn__sadd(cn__sadd(cn__smul(act, esz), cn__smul(idx, 4)),
                            cn__sadd(cn__smul(cn__sadd(cn__smul(N, dmax), 16), esz), cn__smul(cn__smul(N, (size_t)net->classes), esz)));
    /* the layers' scratch (cn__ws slots, each grown to the largest call and
     * kept): a bound from the layers' own sizing rules, each slot capped at
     * their 1 GiB limit. conv: per thread a padded input, a ~1 MiB column
     * chunk, an output tile and dw partials; sandwiches: one [N, F, H', W']
     * gradient; affine and norms: partial sums of [N, M] / [threads, D]. */
    size_t nt = (size_t)cn__nt(ctx);
    if (nt < 1) nt = 1;
    cn__wsest ws = {0, 0, 0};
    for (int i = 0; i < net->nops; i++)
        if (net->ops[i].def->workspace) net->ops[i].def->workspace(&net->ops[i], N, nt, esz, &ws);
    est->workspace = cn__sadd(cn__sadd(ws.col, ws.layer), ws.misc);
    est->total = cn__sadd(cn__sadd(cn__sadd(est->params, est->grads), cn__sadd(est->solver, est->activations)), est->workspace);
    free(net);
    return CN_OK;
}

int cn__net_run(cn_ctx *ctx, cn_net *net, double *loss, void *scores, const void *X, const int32_t *y, int N,
                const cn__lossopt *o) {
    if (N <= 0) return cn_error(ctx, CN_EINVAL, "net loss: batch size N=%d must be > 0", N);
    if (!y && !scores) return cn_error(ctx, CN_EINVAL, "net loss: need labels or a scores buffer");
    int rc = cn_net_reserve(ctx, net, N);
    if (rc) return rc;
    if (net->dtype == CN_F32) return cn__net_loss_f32(ctx, net, loss, scores, X, y, N, o);
    return cn__net_loss_f64(ctx, net, loss, scores, X, y, N, o);
}

int cn_net_loss(cn_ctx *ctx, cn_net *net, double *loss, void *scores, const void *X,
                const int32_t *y, int N) {
    cn__lossopt o = {1, NULL, NULL, net->profile, 0};
    return cn__net_run(ctx, net, loss, scores, X, y, N, &o);
}

double cn_net_flops_per_image(const cn_net *net) {
    double f = 0;
    for (int i = 0; i < net->nops; i++) {
        const cn_op *op = &net->ops[i];
        double mult = i == 0 ? 2 : 3; /* forward, dW, dx (no dx for the first layer) */
        if (op->def->flops) f += mult * op->def->flops(op);
    }
    return f;
}

/* "conv", "conv-relu", "conv-relu-pool", "affine-relu", ... */
static const char *kind_name(const cn_op *op, char *buf, size_t len) {
    snprintf(buf, len, "%s%s%s", op->name, op->relu ? "-relu" : "", op->pool ? "-pool" : "");
    return buf;
}

int cn_net_describe(cn_ctx *ctx, const cn_net *net, char *buf, size_t len) {
    size_t used = 0, total = 0;
    for (int i = 0; i < net->nparams; i++) if (net->params[i].trainable) total += net->params[i].size;
#define PUT(...) do { int w_ = snprintf(buf + used, used < len ? len - used : 0, __VA_ARGS__); if (w_ > 0) used += (size_t)w_; } while (0)
    PUT("net %s (%s), input (%d,%d,%d), %zu parameters\n", net->spec, net->dtype == CN_F32 ? "float32" : "float64",
        net->C, net->H, net->W, total);
    char kn[48];
    for (int i = 0; i < net->nops; i++) {
        const cn_op *op = &net->ops[i];
        PUT("  %-18s (%d,%d,%d) -> (%d,%d,%d)", kind_name(op, kn, sizeof kn), op->C, op->H, op->W, op->oC, op->oH, op->oW);
        int ps[4] = {op->pW, op->pb, op->pg, op->pbeta};
        for (int j = 0; j < 4; j++) {
            if (ps[j] < 0) continue;
            const cn_param *p = &net->params[ps[j]];
            PUT(" %s(", p->name);
            for (int d = 0; d < p->ndim; d++) PUT("%s%lld", d ? "," : "", (long long)p->shape[d]);
            PUT(")");
        }
        PUT("\n");
    }
#undef PUT
    if (used < len) return CN_OK;
    return cn_error(ctx, CN_EINVAL, "cn_net_describe: buffer of %zu bytes too short (%zu needed)", len, used + 1);
}

/* ---- profile ------------------------------------------------------------ */
void cn_net_profile_enable(cn_net *net, int on) { net->profile = on; }

void cn_net_profile_reset(cn_net *net) {
    memset(net->t_fwd, 0, sizeof net->t_fwd);
    memset(net->t_bwd, 0, sizeof net->t_bwd);
    net->t_loss = 0;
}

int cn_net_profile_report(const cn_net *net, double total, char *buf, size_t len) {
    size_t used = 0;
    double sum = net->t_loss;
    for (int i = 0; i < net->nops; i++) sum += net->t_fwd[i] + net->t_bwd[i];
    if (total <= 0) total = sum > 0 ? sum : 1;
#define PUT(...) do { int w_ = snprintf(buf + used, used < len ? len - used : 0, __VA_ARGS__); if (w_ > 0) used += (size_t)w_; } while (0)
    char kn[48];
    for (int i = 0; i < net->nops; i++) {
        const cn_op *op = &net->ops[i];
        PUT("  %-18s forward %7.3fs (%4.1f%%)  backward %7.3fs (%4.1f%%)\n", kind_name(op, kn, sizeof kn), net->t_fwd[i],
            100 * net->t_fwd[i] / total, net->t_bwd[i], 100 * net->t_bwd[i] / total);
    }
    PUT("  %-18s %7.3fs (%4.1f%%)\n", "softmax + L2", net->t_loss, 100 * net->t_loss / total);
#undef PUT
    return used < len ? CN_OK : CN_EINVAL;
}
