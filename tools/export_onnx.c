/* export_onnx.c — `convnet export --model M --onnx OUT.onnx`: the trained
 * net as an ONNX model, written with protobuf-c from the onnx.proto that
 * Debian's libonnx-dev ships (the C code is generated at build time by
 * protoc-c; see the Makefile). Built only when those packages are present;
 * otherwise the command says what to install.
 *
 * The graph (opset 13, float32), input "input" [N, C, H, W] = the raw
 * pixel values 0..255 in CHW order (RGB for 3 channels), as convnet's data
 * sets and `convnet predict` after its resize give them:
 *   Sub(mean image)                    the training's preprocessing
 *   conv      Conv [+ Relu [+ MaxPool]]
 *   pool      MaxPool (floor, no padding: convnet's output size)
 *   affine    Flatten(axis 1) when the input is 4-D, Gemm(W^T [M,D], b, transB 1) [+ Relu]
 *   bn        BatchNormalization (inference: the running statistics)
 *   gn        Reshape [N, G, C/G*H*W, 1], InstanceNormalization (scale 1,
 *             bias 0, eps), Reshape back, Mul gamma, Add beta (per channel)
 *   ln        Reshape [N, 1, D, 1], InstanceNormalization, Reshape back,
 *             Mul gamma, Add beta (per feature)
 *   Softmax(axis 1)
 * Outputs "scores" [N, K] (the last affine layer) and "probabilities".
 * GroupNormalization (opset 18) and LayerNormalization (opset 17) are not
 * used: OpenCV 4.6's dnn (Debian 12) reads neither; InstanceNormalization
 * on a reshaped tensor computes exactly the same statistics (biased
 * variance, eps inside the square root). */
#include "cli.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CN_HAVE_ONNX
int cmd_export(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "convnet export: this convnet was built without ONNX support; install protobuf-c-compiler, "
                    "libprotobuf-c-dev and libonnx-dev, then rebuild (make clean && make)\n");
    return 1;
}
#else
#include "onnx.pb-c.h"

/* Every allocation of the model goes through the arena: one free at the end. */
typedef struct { void **p; size_t n, cap; int oom; } arena;

static void *a_alloc(arena *a, size_t n) {
    if (a->oom) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **p = realloc(a->p, cap * sizeof *p);
        if (!p) { a->oom = 1; return NULL; }
        a->p = p;
        a->cap = cap;
    }
    void *r = calloc(1, n ? n : 1);
    if (!r) { a->oom = 1; return NULL; }
    return a->p[a->n++] = r;
}

static char *a_str(arena *a, const char *s) {
    char *r = a_alloc(a, strlen(s) + 1);
    if (r) strcpy(r, s);
    return r;
}

static void a_free(arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    free(a->p);
}

/* growable pointer lists for the graph */
typedef struct { void **v; size_t n, cap; } plist;
static void push(arena *a, plist *l, void *x) {
    if (!x) { a->oom = 1; return; }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void **v = a_alloc(a, cap * sizeof *v);
        if (!v) return;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

typedef struct {
    arena a;
    plist nodes, inits;
    int tmp;               /* running number for tensor names */
} builder;

static char *fresh(builder *b, const char *stem) {
    char name[64];
    snprintf(name, sizeof name, "%s_%d", stem, b->tmp++);
    return a_str(&b->a, name);
}

/* A float initializer from float or double data. */
static const char *init_f32(builder *b, const char *name, const int64_t *dims, int nd, const void *data, int f64) {
    Onnx__TensorProto *t = a_alloc(&b->a, sizeof *t);
    if (!t) return NULL;
    onnx__tensor_proto__init(t);
    t->name = a_str(&b->a, name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)nd;
    t->dims = a_alloc(&b->a, sizeof(int64_t) * (nd ? nd : 1));
    size_t n = 1;
    for (int d = 0; d < nd; d++) { if (t->dims) t->dims[d] = dims[d]; n *= (size_t)dims[d]; }
    float *v = a_alloc(&b->a, 4 * n);
    if (v) for (size_t i = 0; i < n; i++) v[i] = f64 ? (float)((const double *)data)[i] : ((const float *)data)[i];
    t->has_raw_data = 1; /* little-endian floats: x86-64 and every Debian ONNX runtime */
    t->raw_data.len = 4 * n;
    t->raw_data.data = (uint8_t *)v;
    push(&b->a, &b->inits, t);
    return t->name;
}

static const char *init_i64(builder *b, const char *stem, const int64_t *v, int n) {
    Onnx__TensorProto *t = a_alloc(&b->a, sizeof *t);
    if (!t) return NULL;
    onnx__tensor_proto__init(t);
    t->name = fresh(b, stem);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_dims = 1;
    t->dims = a_alloc(&b->a, sizeof(int64_t));
    if (t->dims) t->dims[0] = n;
    int64_t *d = a_alloc(&b->a, 8 * (size_t)n);
    if (d) memcpy(d, v, 8 * (size_t)n);
    t->has_raw_data = 1;
    t->raw_data.len = 8 * (size_t)n;
    t->raw_data.data = (uint8_t *)d;
    push(&b->a, &b->inits, t);
    return t->name;
}

/* A node with up to 5 inputs and one output (named fresh unless out given). */
static Onnx__NodeProto *node(builder *b, const char *op, const char *out, const char *const *in, int nin) {
    Onnx__NodeProto *n = a_alloc(&b->a, sizeof *n);
    if (!n) return NULL;
    onnx__node_proto__init(n);
    n->op_type = a_str(&b->a, op);
    n->name = fresh(b, op);
    n->n_input = (size_t)nin;
    n->input = a_alloc(&b->a, sizeof(char *) * (size_t)nin);
    for (int i = 0; i < nin && n->input; i++) n->input[i] = a_str(&b->a, in[i] ? in[i] : "");
    n->n_output = 1;
    n->output = a_alloc(&b->a, sizeof(char *));
    if (n->output) n->output[0] = out ? a_str(&b->a, out) : fresh(b, "t");
    push(&b->a, &b->nodes, n);
    return n;
}

static const char *out_of(Onnx__NodeProto *n) { return n && n->output ? n->output[0] : NULL; }

/* A new attribute of n named name (its type and value left to the caller),
 * appended to n's list; NULL when n is NULL or out of memory. */
static Onnx__AttributeProto *attr_add(builder *b, Onnx__NodeProto *n, const char *name) {
    if (!n) return NULL;
    Onnx__AttributeProto *at = a_alloc(&b->a, sizeof *at);
    if (!at) return NULL;
    onnx__attribute_proto__init(at);
    at->name = a_str(&b->a, name);
    at->has_type = 1;
    Onnx__AttributeProto **l = a_alloc(&b->a, sizeof *l * (n->n_attribute + 1));
    if (!l) return NULL;
    if (n->n_attribute) memcpy(l, n->attribute, sizeof *l * n->n_attribute);
    l[n->n_attribute++] = at;
    n->attribute = l;
    return at;
}

static void attr_ints(builder *b, Onnx__NodeProto *n, const char *name, const int64_t *v, int k) {
    Onnx__AttributeProto *at = attr_add(b, n, name);
    if (!at) return;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    at->n_ints = (size_t)k;
    at->ints = a_alloc(&b->a, 8 * (size_t)k);
    if (at->ints) memcpy(at->ints, v, 8 * (size_t)k);
}

static void attr_num(builder *b, Onnx__NodeProto *n, const char *name, int is_float, double v) {
    Onnx__AttributeProto *at = attr_add(b, n, name);
    if (!at) return;
    if (is_float) { at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT; at->has_f = 1; at->f = (float)v; }
    else { at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT; at->has_i = 1; at->i = (int64_t)v; }
}

static const char *op1(builder *b, const char *op, const char *x) {
    const char *in[1] = {x};
    return out_of(node(b, op, NULL, in, 1));
}

static const char *op2(builder *b, const char *op, const char *x, const char *y) {
    const char *in[2] = {x, y};
    return out_of(node(b, op, NULL, in, 2));
}

/* A float scalar constant. */
static const char *scalar(builder *b, float v) { return init_f32(b, fresh(b, "const"), NULL, 0, &v, 0); }

/* GELU, exact: x * 0.5 * (1 + erf(x / sqrt 2)) (Gelu itself is opset 20) */
static const char *gelu(builder *b, const char *x) {
    const char *t = op2(b, "Mul", x, scalar(b, (float)0.70710678118654752));
    t = op2(b, "Add", op1(b, "Erf", t), scalar(b, 1.0f));
    return op2(b, "Mul", op2(b, "Mul", x, t), scalar(b, 0.5f));
}

static const char *maxpool(builder *b, const char *x, int ph, int pw, int ps) {
    const char *in[1] = {x};
    Onnx__NodeProto *n = node(b, "MaxPool", NULL, in, 1);
    int64_t k[2] = {ph, pw}, s[2] = {ps, ps};
    attr_ints(b, n, "kernel_shape", k, 2);
    attr_ints(b, n, "strides", s, 2);
    return out_of(n);
}

static const char *reshape(builder *b, const char *x, const int64_t *shape, int n) {
    return op2(b, "Reshape", x, init_i64(b, "shape", shape, n));
}

/* x normalized over everything but dims 0-1 of `shape` (a 4-D view), then
 * reshaped to `back`: InstanceNormalization with scale 1, bias 0. */
static const char *instnorm(builder *b, const char *x, const int64_t view[4], const int64_t *back, int nback, double eps) {
    const char *v = reshape(b, x, view, 4);
    int64_t ch = view[1];
    float *ones = a_alloc(&b->a, 4 * (size_t)ch), *zeros = a_alloc(&b->a, 4 * (size_t)ch);
    if (!ones || !zeros) return NULL;
    for (int64_t i = 0; i < ch; i++) ones[i] = 1;
    char nm[64];
    snprintf(nm, sizeof nm, "ones_%d", b->tmp++);
    const char *s = init_f32(b, nm, &ch, 1, ones, 0);
    snprintf(nm, sizeof nm, "zeros_%d", b->tmp++);
    const char *z = init_f32(b, nm, &ch, 1, zeros, 0);
    const char *in[3] = {v, s, z};
    Onnx__NodeProto *n = node(b, "InstanceNormalization", NULL, in, 3);
    attr_num(b, n, "epsilon", 1, eps);
    return reshape(b, out_of(n), back, nback);
}

static Onnx__ValueInfoProto *value_info(builder *b, const char *name, const char *const *dims_param, const int64_t *dims,
                                        int nd) {
    Onnx__ValueInfoProto *vi = a_alloc(&b->a, sizeof *vi);
    Onnx__TypeProto *tp = a_alloc(&b->a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = a_alloc(&b->a, sizeof *tt);
    Onnx__TensorShapeProto *sh = a_alloc(&b->a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dl = a_alloc(&b->a, sizeof *dl * (size_t)nd);
    if (!vi || !tp || !tt || !sh || !dl) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int d = 0; d < nd; d++) {
        Onnx__TensorShapeProto__Dimension *dm = a_alloc(&b->a, sizeof *dm);
        if (!dm) return NULL;
        onnx__tensor_shape_proto__dimension__init(dm);
        if (dims_param[d]) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = a_str(&b->a, dims_param[d]);
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = dims[d];
        }
        dl[d] = dm;
    }
    sh->n_dim = (size_t)nd;
    sh->dim = dl;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = a_str(&b->a, name);
    vi->type = tp;
    return vi;
}

static const char *param(builder *b, const cn_param *p, int f64, const int64_t *shape, int nd) {
    return init_f32(b, p->name, shape ? shape : p->shape, shape ? nd : p->ndim, p->data, f64);
}

/* An affine weight [D, M] as [M, D]. */
static const char *transposed(builder *b, const cn_param *p, int f64) {
    int64_t D = p->shape[0], M = p->shape[1], d2[2] = {M, D};
    float *t = a_alloc(&b->a, 4 * (size_t)D * M);
    if (!t) return NULL;
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < M; j++)
            t[j * D + i] = f64 ? (float)((const double *)p->data)[i * M + j] : ((const float *)p->data)[i * M + j];
    return init_f32(b, p->name, d2, 2, t, 0);
}

/* Translate the net; returns 0 or 1 after a message. */
static int build(builder *b, const cn_net *net, const char *model, Onnx__GraphProto *g) {
    int C, H, W, K = cn_net_num_classes(net), f64 = cn_net_dtype(net) == CN_F64;
    cn_net_input(net, &C, &H, &W);
    const float *mean;
    cn_prep prep = cn_net_preprocess(net, &mean);
    if (prep == CN_PREP_UNKNOWN) {
        fprintf(stderr, "convnet export: %s does not record the preprocessing its training used (a file from before "
                        "convnet stored it); the exported graph would not match: train it again\n", model);
        return 1;
    }
    const char *x = "input";
    if (prep == CN_PREP_MEAN_IMAGE) {
        /* [C,H,W], broadcast over N: OpenCV 4.6 reads a constant without the batch axis as a
         * per-element bias (with a leading 1 it wants equal batch sizes) */
        int64_t md[3] = {C, H, W};
        x = op2(b, "Sub", x, init_f32(b, "mean_image", md, 3, mean, 0));
    }
    int rank = 4, n = cn_net_num_layers(net);
    for (int i = 0; i < n; i++) {
        cn_layer_info L;
        cn_net_layer_at(net, i, &L);
        int last = i == n - 1; /* its output is "scores" */
        if (!strcmp(L.kind, "conv") || !strcmp(L.kind, "whiten")) {
            const char *in[3] = {x, param(b, L.w, f64, NULL, 0), param(b, L.b, f64, NULL, 0)};
            Onnx__NodeProto *nd = node(b, "Conv", NULL, in, 3);
            int64_t k[2] = {L.K, L.K}, s[2] = {L.stride, L.stride}, p[4] = {L.pad, L.pad, L.pad, L.pad};
            attr_ints(b, nd, "kernel_shape", k, 2);
            attr_ints(b, nd, "strides", s, 2);
            attr_ints(b, nd, "pads", p, 4);
            x = out_of(nd);
            if (L.relu) x = op1(b, "Relu", x);
            if (L.pool) x = maxpool(b, x, L.ph, L.pw, L.ps);
        } else if (!strcmp(L.kind, "pool")) {
            x = maxpool(b, x, L.ph, L.pw, L.ps);
        } else if (!strcmp(L.kind, "relu")) {
            x = op1(b, "Relu", x);
        } else if (!strcmp(L.kind, "affine")) {
            if (rank == 4) {
                const char *in[1] = {x};
                Onnx__NodeProto *nd = node(b, "Flatten", NULL, in, 1);
                attr_num(b, nd, "axis", 0, 1);
                x = out_of(nd);
                rank = 2;
            }
            /* W stored transposed [M, D] with transB = 1: the form OpenCV 4.6 reads (its Gemm
             * importer mis-sizes the bias for transB = 0) and PyTorch writes */
            const char *in[3] = {x, transposed(b, L.w, f64), param(b, L.b, f64, NULL, 0)};
            Onnx__NodeProto *nd = node(b, "Gemm", last ? "scores" : NULL, in, 3);
            attr_num(b, nd, "transB", 0, 1);
            x = out_of(nd);
            if (L.relu) x = op1(b, "Relu", x);
        } else if (!strcmp(L.kind, "scale")) {
            const char *in[2] = {x, scalar(b, (float)L.scale)};
            x = out_of(node(b, "Mul", last ? "scores" : NULL, in, 2));
        } else if (!strcmp(L.kind, "gelu")) {
            x = gelu(b, x);
        } else if (!strcmp(L.kind, "global-avg-pool") || !strcmp(L.kind, "global-max-pool")) {
            x = op1(b, L.kind[7] == 'a' ? "GlobalAveragePool" : "GlobalMaxPool", x);
        } else if (!strcmp(L.kind, "batchnorm") || !strcmp(L.kind, "spatial-batchnorm")) {
            /* bnb: no gamma, the scale is 1 */
            const char *gamma = L.gamma ? param(b, L.gamma, f64, NULL, 0) : NULL;
            if (!L.gamma) {
                float *one = a_alloc(&b->a, 4 * L.beta->size);
                if (!one) return b->a.oom = 1;
                for (size_t e = 0; e < L.beta->size; e++) one[e] = 1;
                gamma = init_f32(b, fresh(b, "gamma"), L.beta->shape, 1, one, 0);
            }
            const char *in[5] = {x, gamma, param(b, L.beta, f64, NULL, 0),
                                 param(b, L.running_mean, f64, NULL, 0), param(b, L.running_var, f64, NULL, 0)};
            Onnx__NodeProto *nd = node(b, "BatchNormalization", NULL, in, 5);
            attr_num(b, nd, "epsilon", 1, L.eps);
            x = out_of(nd);
        } else if (!strcmp(L.kind, "spatial-groupnorm")) {
            int64_t view[4] = {0, L.groups, (int64_t)(L.C / L.groups) * L.H * L.W, 1}, back[4] = {0, L.C, L.H, L.W};
            x = instnorm(b, x, view, back, 4, L.eps);
            int64_t cd[3] = {L.C, 1, 1};
            x = op2(b, "Mul", x, param(b, L.gamma, f64, cd, 3));
            x = op2(b, "Add", x, param(b, L.beta, f64, cd, 3));
        } else if (!strcmp(L.kind, "layernorm")) {
            int64_t view[4] = {0, 1, L.D, 1}, back4[4] = {0, L.C, L.H, L.W}, back2[2] = {0, L.D};
            x = instnorm(b, x, view, rank == 4 ? back4 : back2, rank, L.eps);
            int64_t fd[3] = {L.C, L.H, L.W};
            x = op2(b, "Mul", x, param(b, L.gamma, f64, rank == 4 ? fd : NULL, 3));
            x = op2(b, "Add", x, param(b, L.beta, f64, rank == 4 ? fd : NULL, 3));
        } else {
            fprintf(stderr, "convnet export: %s: layer %d '%s' has no ONNX form in this exporter\n", model, i + 1, L.kind);
            return 1;
        }
        /* the scores: a plain affine, or a scale after it (the planner allows nothing else there) */
        if (last && (L.relu || (strcmp(L.kind, "affine") && strcmp(L.kind, "scale")))) {
            fprintf(stderr, "convnet export: %s: the net does not end with a plain affine layer\n", model);
            return 1;
        }
    }
    const char *in[1] = {"scores"};
    Onnx__NodeProto *sm = node(b, "Softmax", "probabilities", in, 1);
    attr_num(b, sm, "axis", 0, 1);
    const char *dp[4] = {"N", NULL, NULL, NULL};
    int64_t idims[4] = {0, C, H, W}, odims[2] = {0, K};
    Onnx__ValueInfoProto **gin = a_alloc(&b->a, sizeof *gin), **gout = a_alloc(&b->a, 2 * sizeof *gout);
    if (!gin || !gout) return b->a.oom = 1;
    gin[0] = value_info(b, "input", dp, idims, 4);
    gout[0] = value_info(b, "scores", dp, odims, 2);
    gout[1] = value_info(b, "probabilities", dp, odims, 2);
    g->name = a_str(&b->a, "convnet");
    g->n_input = 1;
    g->input = gin;
    g->n_output = 2;
    g->output = gout;
    g->n_node = b->nodes.n;
    g->node = (Onnx__NodeProto **)b->nodes.v;
    g->n_initializer = b->inits.n;
    g->initializer = (Onnx__TensorProto **)b->inits.v;
    return 0;
}

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    flag flags[] = {
        {"model", 's', &model, "model or checkpoint (its best parameters), with its preprocessing"},
        {"onnx", 's', &out, "write the ONNX model here (opset 13; input raw pixels, outputs scores and probabilities)"},
    };
    parse_flags("export", argc, argv, flags, 2, NULL, NULL, 0, "--model FILE --onnx OUT.onnx");
    if (!model || !out) { fprintf(stderr, "convnet export: --model FILE and --onnx OUT.onnx are required\n"); return 2; }
    cn_ctx *ctx = cn_ctx_new(1);
    if (!ctx) return die(NULL, "out of memory");
    cn_net *net;
    if (cn_net_load(ctx, &net, model, 1, NULL)) { int r = die(ctx, "loading the model"); cn_ctx_free(ctx); return r; }
    builder b;
    memset(&b, 0, sizeof b);
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[1] = {&opset};
    int status = build(&b, net, model, &g);
    /* metadata: class names and the preprocessing, for whoever runs the file */
    char *classes = NULL;
    Onnx__StringStringEntryProto kv[2] = {ONNX__STRING_STRING_ENTRY_PROTO__INIT, ONNX__STRING_STRING_ENTRY_PROTO__INIT};
    Onnx__StringStringEntryProto *props[2] = {&kv[0], &kv[1]};
    int K = cn_net_num_classes(net);
    classes = a_alloc(&b.a, (size_t)K * 80 + 1);
    if (classes) {
        size_t used = 0;
        for (int k = 0; k < K; k++) {
            char name[80];
            cn_net_class_name(net, k, name, sizeof name);
            used += (size_t)snprintf(classes + used, (size_t)K * 80 + 1 - used, "%s%s", k ? "\n" : "", name);
        }
    }
    kv[0].key = "classes";
    kv[0].value = classes;
    kv[1].key = "input";
    kv[1].value = "raw pixel values 0..255, float32 [N,C,H,W] (RGB); the mean image subtraction is in the graph";
    if (!status && b.a.oom) status = die(NULL, "out of memory building the ONNX graph");
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!status) {
        opset.domain = "";
        opset.has_version = 1;
        opset.version = 13;
        m.has_ir_version = 1;
        m.ir_version = 7; /* opset 13 */
        m.n_opset_import = 1;
        m.opset_import = opsets;
        m.producer_name = "convnet";
        m.producer_version = "0.1";
        m.graph = &g;
        m.n_metadata_props = classes ? 2 : 1;
        m.metadata_props = classes ? props : props + 1;
        m.doc_string = (char *)cn_net_spec(net);
        len = onnx__model_proto__get_packed_size(&m);
        buf = malloc(len ? len : 1);
        if (!buf) status = die(NULL, "out of memory");
        else onnx__model_proto__pack(&m, buf);
    }
    if (!status) { /* atomically, as the checkpoints */
        if (cn_file_write(ctx, out, buf, len)) {
            fprintf(stderr, "convnet export: %s\n", cn_ctx_error(ctx));
            status = 1;
        } else {
            printf("wrote %s (%zu bytes, %zu nodes, %d classes)\n", out, len, g.n_node, K);
        }
    }
    free(buf);
    a_free(&b.a);
    cn_net_free(net);
    cn_ctx_free(ctx);
    return status;
}
#endif
