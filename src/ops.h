/* ops.h — the table of a net's layer kinds. Each kind is one record
 * (cn_opdef) in its own file under src/ops/: how its spec token reads, its
 * output shape and parameters, what it fuses, the activations and scratch
 * it needs, its FLOPs, what `describe` and cn_net_layer_at say of it, and its
 * forward and backward for float and double. The planner, the memory
 * estimate, describe and the executor (layers/netops.c) walk the table and
 * the records; none of them names a kind.
 *
 * Adding a kind: a file src/ops/<kind>.c with its record (the layer's
 * kernels stay in src/layers/), one line in src/ops/table.c, and tests. */
#ifndef CN_OPS_H
#define CN_OPS_H
#include "net.h"

/* The planner's state while it reads the spec left to right. */
typedef struct cn__planner {
    cn_ctx *ctx;
    cn_net *net;
    int C, H, W;        /* the features entering the current layer */
    int flat;           /* an affine came before: the features are flat */
    int k;              /* weight layers so far: parameters are W<k>, b<k>, gamma<k>... */
    int normed_k;       /* the weight layer the last norm followed (-1 none) */
    int layer;          /* the current layer's number in the spec, from 1 */
    const char *tok;    /* the current layer's text [toklen] */
    int toklen;
} cn__planner;

/* One call of an op's forward or backward (buffers in the net's dtype). */
typedef struct {
    cn_ctx *ctx;
    const cn_net *net;  /* parameters: net->params[op->pW] ... */
    const cn_op *op;
    int N;
    int train;          /* forward: training mode (batch statistics) */
    const void *in;     /* [N, C, H, W] the op's input (forward and backward) */
    void *out;          /* [N, oC, oH, oW] its output (the backward reads it) */
    void *act;          /* the activation block: op->aux_off, aux2_off index it */
    int32_t *idx;       /* the int32 block: op->idx_off indexes it */
    const void *dout;   /* backward: [N, oC, oH, oW] */
    void *dx;           /* backward: [N, C, H, W], written by ops that cannot skip it */
    int need_dx;        /* 0 for the first op: its input needs no gradient */
    char *grads;        /* the gradient block the backward writes (parallel to net->gblock) */
    cn__netupd *nu;     /* the Solver's update inside the backward, or NULL */
} cn_opcall;

/* Scratch bounds for the memory estimate (bytes; each the largest over
 * ops): conv columns, sandwich intermediates, everything else. */
typedef struct { size_t col, layer, misc; } cn__wsest;

/* Saturating size arithmetic for the memory estimate: a bound past
 * SIZE_MAX is simply "too much". */
static inline size_t cn__smul(size_t a, size_t b) { size_t r; return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r; }
static inline size_t cn__sadd(size_t a, size_t b) { size_t r; return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r; }
static inline size_t cn__smax(size_t a, size_t b) { return a > b ? a : b; }

typedef int (*cn_opfn)(const cn_opcall *c);

enum { CN_READS_IN = 1, CN_READS_OUT = 2 };

typedef struct cn_opdef {
    const char *name;        /* the kind in describe and cn_layer_info ("conv") */
    const char *prefix[3];   /* spec tokens it reads, NULL-terminated ("affine", "fc") */
    const char *syntax;      /* the token's grammar, for errors and --help */
    const char *help;        /* one line for --help */
    int after_scores;        /* may come after the last affine (the class scores) */
    /* Read the token after its prefix at *p (advance *p past what it reads),
     * check it against pl's input features, set op's output shape (oC, oH,
     * oW start as the input's) and add its parameters; update pl (flat, k,
     * normed_k). CN_OK; 1 when the text does not read (the planner says what
     * the grammar is); or an error set with cn__plan_error. */
    int (*plan)(cn__planner *pl, cn_op *op, const char **p);
    /* NULL, or: absorb `next` (the op after it) into op; 1 when it did. */
    int (*fuse)(cn_op *op, const cn_op *next);
    /* NULL, or: reserve op's extra activations for batch N: *act elements
     * (set op->aux_off, aux2_off) and *idx int32s (op->idx_off). */
    void (*reserve)(cn_op *op, size_t N, size_t *act, size_t *idx);
    /* NULL, or: grow ws to this op's scratch for batch N with nt threads. */
    void (*workspace)(const cn_op *op, size_t N, size_t nt, size_t esz, cn__wsest *ws);
    /* NULL, or: multiply-add FLOPs of one image's forward (the backward's
     * dW and dx count the same again each). */
    double (*flops)(const cn_op *op);
    /* NULL, or: what op's backward reads of its own input and output
     * (CN_READS_IN | CN_READS_OUT); NULL means both. An output that neither
     * its op's backward nor the next op's reads is not kept: it lives in the
     * gradient block during the forward (a conv's before a max pool). */
    unsigned (*bwd_reads)(const cn_op *op);
    /* NULL, or: the kind's own fields of cn_layer_info */
    void (*info)(const cn_op *op, cn_layer_info *out);
    cn_opfn forward[2];      /* [0] float, [1] double */
    cn_opfn backward[2];
} cn_opdef;

/* ops/conv.c: a conv's shape (F filters K x K, stride S, pad P) on pl's
 * input, its W<k> (trainable and regularized, or neither) and b<k>. */
int cn__plan_conv(cn__planner *pl, cn_op *op, int F, int K, int S, int P, int trainable, int init);
/* ops/whiten.c, the float pass */
int cn__whiten_fit_f32(cn_ctx *ctx, const cn_net *net, const cn_op *op, const float *X, int N, double eps);

/* src/ops/table.c: every kind, in the order the grammar lists them; NULL-ended. */
extern const cn_opdef *const cn__op_table[];
/* The records others name (a conv fuses a relu, then a pool; the planner
 * wants an affine last). */
extern const cn_opdef cn__op_relu, cn__op_pool, cn__op_affine, cn__op_conv;

/* net.c: for the records' plan() */
/* Set the error "net spec: layer <n> '<token>'" followed by fmt. */
int cn__plan_error(cn__planner *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal int at *p (1..1e6): 1 and *p advanced, else 0. */
int cn__parse_int(const char **p, int *v);
/* Add parameter <base><k> (k = pl->k) of the given shape; its index, or
 * an error (< 0). init: CN_INIT_*. */
enum { CN_INIT_ZERO = 0, CN_INIT_ONE = 1, CN_INIT_NORMAL = 2, CN_INIT_DIRAC = 3 /* normal, then the
    first min(F, C) filters the identity (cn_conv_init_dirac) */ };
int cn__plan_param(cn__planner *pl, const char *base, int ndim, const int64_t *shape, int trainable,
                   int regularized, int init);
/* gamma<k> (CN_NORM_SCALE), beta<k>, running_mean<k> and running_var<k>
 * (CN_NORM_RUNNING) of `channels` each: the norms' parameters; and the rule
 * that a weight layer has at most one norm after it. */
enum { CN_NORM_SCALE = 1, CN_NORM_RUNNING = 2 };
int cn__plan_norm(cn__planner *pl, cn_op *op, int channels, int flags);

/* The typed half of a record lives in the same file, compiled twice
 * (layers/real.h); the record (compiled once, in the float pass) names both. */
#define CN_OP_FNS(kind)                                                          \
    int cn__op_##kind##_forward_f32(const cn_opcall *c);                         \
    int cn__op_##kind##_forward_f64(const cn_opcall *c);                         \
    int cn__op_##kind##_backward_f32(const cn_opcall *c);                        \
    int cn__op_##kind##_backward_f64(const cn_opcall *c)
#define CN_OP_FORWARD(kind) {cn__op_##kind##_forward_f32, cn__op_##kind##_forward_f64}
#define CN_OP_BACKWARD(kind) {cn__op_##kind##_backward_f32, cn__op_##kind##_backward_f64}

/* In a typed op file: parameter i's values, and its gradient in the block
 * the call writes. */
#define OP_P(c, i) ((real *)(c)->net->params[i].data)
#define OP_G(c, i) \
    ((real *)((c)->grads + ((const char *)(c)->net->params[i].grad - (const char *)(c)->net->gblock)))
#define OP_IN(c) ((const real *)(c)->in)
#define OP_OUT(c) ((real *)(c)->out)
#define OP_ACT(c, off) ((real *)(c)->act + (off))
#define OP_DOUT(c) ((const real *)(c)->dout)
#define OP_DX(c) ((real *)(c)->dx)
/* the input gradient, or NULL when none is needed (kernels that take NULL) */
#define OP_DXO(c) ((c)->need_dx ? (real *)(c)->dx : NULL)
#endif
