/* netfile.c — model files: a net saved as a tensor file (parameters, the
 * spec and its input in the metadata), a net built from one, and
 * cn_net_load (the net, or the best parameters, of a checkpoint or model
 * file, and the Solver settings recorded beside them). */
#include "net.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

int cn_net_save(cn_ctx *ctx, const cn_net *net, const char *path, const cn_meta *extra, int nextra) {
    cn_tensor t[CN_MAX_PARAMS + 1];
    cn_meta meta[40];
    char dims[48], dt[8], reg[40];
    if (nextra > 32) return cn_error(ctx, CN_EINVAL, "net save: too many metadata entries (%d)", nextra);
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        t[i] = (cn_tensor){p->name, net->dtype, 0, p->ndim, {0}, p->data};
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
    }
    snprintf(dims, sizeof dims, "%d,%d,%d", net->C, net->H, net->W);
    snprintf(dt, sizeof dt, "%s", net->dtype == CN_F32 ? "float32" : "float64");
    snprintf(reg, sizeof reg, "%.17g", net->reg);
    int nm = 0;
    meta[nm++] = (cn_meta){"spec", net->spec};
    meta[nm++] = (cn_meta){"input", dims};
    meta[nm++] = (cn_meta){"dtype", dt};
    meta[nm++] = (cn_meta){"reg", reg};
    for (int i = 0; i < nextra; i++) meta[nm++] = extra[i];
    int nt = net->nparams;
    char *classes = NULL;
    int rc = cn__net_info_save(ctx, net, meta, &nm, t, &nt, &classes);
    if (!rc) rc = cn_st_save(ctx, path, t, nt, meta, nm);
    free(classes);
    return rc;
}

/* Copy tensor `t` into parameter p after checking its shape. */
static int fill_param(cn_ctx *ctx, const char *path, cn_net *net, const cn_param *p, const cn_tensor *t) {
    if (t->is_i32 || t->ndim != p->ndim) goto bad;
    for (int d = 0; d < p->ndim; d++) if (t->shape[d] != p->shape[d]) goto bad;
    if (t->dtype == net->dtype) {
        memcpy(p->data, t->data, p->size * net->esz);
    } else if (t->dtype == CN_F64) {
        for (size_t e = 0; e < p->size; e++) ((float *)p->data)[e] = (float)((const double *)t->data)[e];
    } else {
        for (size_t e = 0; e < p->size; e++) ((double *)p->data)[e] = ((const float *)t->data)[e];
    }
    return CN_OK;
bad:
    return cn_error(ctx, CN_EFORMAT, "%s: tensor %s has a dtype or shape that does not match the spec", path, t->name);
}

/* Build the net a file describes and fill its parameters from tensors
 * named prefix+name (falling back to name). Used by the solver too. */
int cn__net_from_st(cn_ctx *ctx, cn_net **out, const cn_st *st, const char *path, const char *prefix) {
    const char *spec = cn_st_meta(st, "spec"), *input = cn_st_meta(st, "input"), *dt = cn_st_meta(st, "dtype");
    const char *reg = cn_st_meta(st, "reg");
    int C, H, W;
    if (!spec || !input)
        return cn_error(ctx, CN_EFORMAT, "%s: not a convnet model (metadata 'spec' and 'input' missing)", path);
    {   /* "C,H,W": three decimal ints and nothing else (sscanf's %d overflows silently) */
        long v[3];
        const char *q = input;
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++) {
            char *end;
            errno = 0;
            v[i] = strtol(q, &end, 10);
            ok = end != q && !errno && v[i] >= INT_MIN && v[i] <= INT_MAX && *end == (i < 2 ? ',' : 0);
            q = end + 1;
        }
        if (!ok)
            return cn_error(ctx, CN_EFORMAT, "%s: metadata 'input' = '%.40s' (expected C,H,W)", path, input);
        C = (int)v[0]; H = (int)v[1]; W = (int)v[2];
    }
    cn_dtype dtype = dt && !strcmp(dt, "float64") ? CN_F64 : CN_F32;
    cn_rng r;
    cn_rng_seed(&r, 0);
    cn_net *net;
    int rc = cn_net_new(ctx, &net, spec, C, H, W, dtype, 0.0, reg ? atof(reg) : 0.0, &r);
    if (rc) {
        char msg[CN_ERRMAX];
        snprintf(msg, sizeof msg, "%s", cn_ctx_error(ctx));
        return cn_error(ctx, CN_EFORMAT, "%s: %s", path, msg);
    }
    for (int i = 0; i < net->nparams; i++) {
        const cn_param *p = &net->params[i];
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", p->name);
        const cn_tensor *t = cn_st_tensor_get(st, name);
        if (!t) t = cn_st_tensor_get(st, p->name);
        if (!t) { /* the message first: p->name lives in net */
            rc = cn_error(ctx, CN_EFORMAT, "%s: tensor %s is missing", path, p->name);
            cn_net_free(net);
            return rc;
        }
        if ((rc = fill_param(ctx, path, net, p, t))) { cn_net_free(net); return rc; }
    }
    if ((rc = cn__net_info_load(ctx, net, st, path))) { cn_net_free(net); return rc; }
    *out = net;
    return CN_OK;
}

static void config_from_meta(const cn_st *st, cn_solver_config *c) {
    cn_solver_config_default(c);
    const char *v;
    if ((v = cn_st_meta(st, "update_rule"))) snprintf(c->update_rule, sizeof c->update_rule, "%s", v);
    if ((v = cn_st_meta(st, "learning_rate"))) c->learning_rate = atof(v);
    if ((v = cn_st_meta(st, "optim"))) sscanf(v, "%lf,%lf,%lf,%lf,%lf", &c->momentum, &c->decay_rate, &c->beta1, &c->beta2, &c->epsilon);
    if ((v = cn_st_meta(st, "lr_decay"))) c->lr_decay = atof(v);
    if ((v = cn_st_meta(st, "batch_size"))) c->batch_size = atoi(v);
    if ((v = cn_st_meta(st, "num_epochs"))) c->num_epochs = atoi(v);
    if ((v = cn_st_meta(st, "samples_print_verbose")))
        sscanf(v, "%d,%d,%d,%d", &c->num_train_samples, &c->num_val_samples, &c->print_every, &c->verbose);
    if ((v = cn_st_meta(st, "seed"))) c->seed = strtoull(v, NULL, 10);
}

int cn_net_load(cn_ctx *ctx, cn_net **out, const char *path, int best, cn_solver_config *cfg) {
    cn_st *st;
    *out = NULL; /* also on failure, as cn_net_new */
    int rc = cn_st_load(ctx, path, &st);
    if (rc) return rc;
    rc = cn__net_from_st(ctx, out, st, path, best ? "best." : NULL);
    if (!rc && cfg) config_from_meta(st, cfg);
    cn_st_free(st);
    return rc;
}
