/* netinfo.c — what a trained net needs besides its weights to be used on new
 * images: the preprocessing of its training (x = pixel - mean image, or the
 * raw pixels), the names of its classes and the test-time augmentation level
 * to evaluate it with. The Solver records the first two from its data set;
 * model files and checkpoints carry them (metadata "preprocess", "classes",
 * "tta" and the tensor "preprocess.mean"); files written before they
 * existed load with the preprocessing unknown, numbered classes and tta 0. */
#include "ops.h"
#include <math.h>
#include <stdio.h>

#define NAME_MAX_BYTES 63

int cn_net_set_preprocess(cn_ctx *ctx, cn_net *net, const float *mean) {
    size_t D = (size_t)net->C * net->H * net->W;
    if (!mean) {
        free(net->mean);
        net->mean = NULL;
        net->prep = CN_PREP_NONE;
        return CN_OK;
    }
    for (size_t k = 0; k < D; k++)
        if (!isfinite(mean[k])) return cn_error(ctx, CN_ENUM, "net: mean image value %zu is not finite", k);
    float *m = net->mean ? net->mean : malloc(D * sizeof(float));
    if (!m) return cn_error(ctx, CN_ENOMEM, "net: cannot allocate the mean image (%zu values)", D);
    memcpy(m, mean, D * sizeof(float));
    net->mean = m;
    net->prep = CN_PREP_MEAN_IMAGE;
    return CN_OK;
}

cn_prep cn_net_preprocess(const cn_net *net, const float **mean) {
    if (mean) *mean = net->prep == CN_PREP_MEAN_IMAGE ? net->mean : NULL;
    return net->prep;
}

static int bad_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_BYTES) return 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return 1; /* '\n' separates names in the file */
    return 0;
}

int cn_net_set_class_names(cn_ctx *ctx, cn_net *net, const char *const *names, int n) {
    if (n < 0 || n > net->classes)
        return cn_error(ctx, CN_EINVAL, "net: %d class names for a net with %d classes", n, net->classes);
    for (int k = 0; k < n; k++)
        if (!names[k] || bad_name(names[k]))
            return cn_error(ctx, CN_EINVAL, "net: class name %d must be 1..%d bytes without control characters", k,
                          NAME_MAX_BYTES);
    if (n == 0) { free(net->class_names); net->class_names = NULL; return CN_OK; }
    char *t = net->class_names ? net->class_names : malloc((size_t)net->classes * (NAME_MAX_BYTES + 1));
    if (!t) return cn_error(ctx, CN_ENOMEM, "net: out of memory for %d class names", net->classes);
    for (int k = 0; k < net->classes; k++) {
        char *d = t + (size_t)k * (NAME_MAX_BYTES + 1);
        if (k < n) snprintf(d, NAME_MAX_BYTES + 1, "%s", names[k]);
        else snprintf(d, NAME_MAX_BYTES + 1, "%d", k);
    }
    net->class_names = t;
    return CN_OK;
}

int cn_net_class_name(const cn_net *net, int k, char *buf, size_t len) {
    if (k < 0 || k >= net->classes || !buf || !len) return CN_EINVAL;
    if (!net->class_names) { snprintf(buf, len, "%d", k); return 0; }
    snprintf(buf, len, "%s", net->class_names + (size_t)k * (NAME_MAX_BYTES + 1));
    return 1;
}

int cn_net_set_tta(cn_ctx *ctx, cn_net *net, int level) {
    if (cn_tta_count(level) < 0) return cn_error(ctx, CN_EINVAL, "net: tta level %d must be 0, 1 or 2", level);
    net->tta = level;
    return CN_OK;
}

int cn_net_tta(const cn_net *net) { return net->tta; }

/* ---- files ---------------------------------------------------------------- */
int cn__net_info_save(cn_ctx *ctx, const cn_net *net, cn_meta *meta, int *nmeta, cn_tensor *t, int *nt,
                      char **classes_text) {
    *classes_text = NULL;
    if (net->class_names) {
        size_t cap = (size_t)net->classes * (NAME_MAX_BYTES + 1) + 1, used = 0;
        char *s = malloc(cap);
        if (!s) return cn_error(ctx, CN_ENOMEM, "net save: out of memory for class names");
        for (int k = 0; k < net->classes; k++) {
            int w = snprintf(s + used, cap - used, "%s%s", k ? "\n" : "", net->class_names + (size_t)k * (NAME_MAX_BYTES + 1));
            used += (size_t)w;
        }
        meta[(*nmeta)++] = (cn_meta){"classes", s};
        *classes_text = s;
    }
    if (net->prep == CN_PREP_NONE) meta[(*nmeta)++] = (cn_meta){"preprocess", "none"};
    if (net->prep == CN_PREP_MEAN_IMAGE) {
        meta[(*nmeta)++] = (cn_meta){"preprocess", "mean_image"};
        t[(*nt)++] = (cn_tensor){"preprocess.mean", CN_F32, 0, 3, {net->C, net->H, net->W}, net->mean};
    }
    /* absent at level 0: the files of nets without TTA stay as they were */
    static const char *const level_text[3] = {"0", "1", "2"};
    if (net->tta > 0 && net->tta <= 2) meta[(*nmeta)++] = (cn_meta){"tta", level_text[net->tta]};
    return CN_OK;
}

int cn__net_info_load(cn_ctx *ctx, cn_net *net, const cn_st *st, const char *path) {
    const char *prep = cn_st_meta(st, "preprocess"), *classes = cn_st_meta(st, "classes"), *tta = cn_st_meta(st, "tta");
    if (tta) { /* one digit, 0..2: nothing else is a level */
        if (strlen(tta) != 1 || tta[0] < '0' || tta[0] > '2')
            return cn_error(ctx, CN_EFORMAT, "%s: metadata 'tta' = '%.40s' (expected 0, 1 or 2)", path, tta);
        net->tta = tta[0] - '0';
    }
    if (prep && !strcmp(prep, "mean_image")) {
        const cn_tensor *m = cn_st_tensor_get(st, "preprocess.mean");
        if (!m || m->is_i32 || m->dtype != CN_F32 || m->ndim != 3 || m->shape[0] != net->C || m->shape[1] != net->H ||
            m->shape[2] != net->W)
            return cn_error(ctx, CN_EFORMAT, "%s: preprocess is 'mean_image' but tensor preprocess.mean is not F32 (%d,%d,%d)",
                          path, net->C, net->H, net->W);
        if (cn_net_set_preprocess(ctx, net, m->data))
            return cn_error(ctx, CN_EFORMAT, "%s: tensor preprocess.mean has a value that is not finite", path);
    } else if (prep && !strcmp(prep, "none")) {
        cn_net_set_preprocess(ctx, net, NULL);
    } else if (prep) {
        return cn_error(ctx, CN_EFORMAT, "%s: metadata 'preprocess' = '%.40s' (expected mean_image or none)", path, prep);
    }
    if (classes) {
        /* names separated by '\n', exactly one per class */
        int n = 1;
        for (const char *p = classes; *p; p++) n += *p == '\n';
        if (n != net->classes)
            return cn_error(ctx, CN_EFORMAT, "%s: metadata 'classes' has %d names for a net with %d classes", path, n,
                          net->classes);
        const char **names = malloc(sizeof(char *) * (size_t)n);
        char *copy = strdup(classes);
        if (!names || !copy) { free(names); free(copy); return cn_error(ctx, CN_ENOMEM, "%s: out of memory", path); }
        char *p = copy;
        for (int k = 0; k < n; k++) {
            names[k] = p;
            char *nl = strchr(p, '\n');
            if (nl) { *nl = 0; p = nl + 1; }
        }
        int rc = cn_net_set_class_names(ctx, net, names, n);
        free(names);
        free(copy);
        if (rc) {
            char msg[CN_ERRMAX];
            snprintf(msg, sizeof msg, "%s", cn_ctx_error(ctx));
            return cn_error(ctx, CN_EFORMAT, "%s: metadata 'classes': %s", path, msg);
        }
    }
    return CN_OK;
}

/* ---- layers, for tools that translate a net (describe --json, ONNX) -------- */
int cn_net_num_layers(const cn_net *net) { return net->nops; }

int cn_net_layer_at(const cn_net *net, int i, cn_layer_info *out) {
    if (i < 0 || i >= net->nops || !out) return CN_EINVAL;
    const cn_op *op = &net->ops[i];
    memset(out, 0, sizeof *out);
    out->kind = op->name;
    out->relu = op->relu;
    out->pool = op->pool;
    out->C = op->C; out->H = op->H; out->W = op->W;
    out->oC = op->oC; out->oH = op->oH; out->oW = op->oW;
    if (op->def->info) op->def->info(op, out);
    out->eps = op->eps;
    const int idx[6] = {op->pW, op->pb, op->pg, op->pbeta, op->prm, op->prv};
    const cn_param **dst[6] = {&out->w, &out->b, &out->gamma, &out->beta, &out->running_mean, &out->running_var};
    for (int k = 0; k < 6; k++) *dst[k] = idx[k] >= 0 ? &net->params[idx[k]] : NULL;
    return CN_OK;
}
