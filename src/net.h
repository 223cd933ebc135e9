/* net.h — the net's private layout: a list of ops planned from the spec,
 * parameters in one block, activations in one block. */
#ifndef CN_NET_H
#define CN_NET_H
#include "internal.h"

#define CN_MAX_OPS 64
#define CN_MAX_PARAMS 192
#define CN_SPEC_MAX 512

struct cn_opdef; /* ops.h: the kind's record */

/* One planned op: a layer of the spec, or a conv/affine with the relu (and
 * pool) after it fused in. The fields a kind does not use stay 0. */
typedef struct {
    const struct cn_opdef *def;
    const char *name;     /* the kind's name (bn: batchnorm or spatial-batchnorm) */
    int relu;             /* conv/affine: a ReLU fused after it */
    int pool;             /* conv: a max pool fused after the ReLU */
    int C, H, W;          /* input per sample (flattened inputs: C = D, H = W = 1) */
    int oC, oH, oW;       /* output per sample */
    cn_conv_shape cs;     /* conv: N set per call */
    int cH, cW;           /* conv output before the fused pool */
    int ph, pw, ps;       /* pool window and stride */
    int D, M;             /* affine: in and out features */
    int G;                /* group norm groups */
    int spatial;          /* batch norm: per channel of (C,H,W) features */
    double scale;         /* scale: the factor */
    int gmax;             /* global pool: the max (gmp), else the mean (gap) */
    double eps, momentum; /* norms */
    int pW, pb, pg, pbeta, prm, prv; /* parameter indices, -1 if none */
    /* activation plan for the reserved batch (element offsets) */
    size_t out_off;       /* [N, oC, oH, oW] */
    int in_dblock;        /* the output is not kept: it is made at the start of
                           * the gradient block (nothing's backward reads it) */
    size_t aux_off;       /* conv-relu-pool: relu_out [N, F, cH, cW]; norms: mean */
    size_t aux2_off;      /* norms: invstd */
    size_t idx_off;       /* pool argmax [N, oC, oH, oW] in the int32 block */
} cn_op;

struct cn_net {
    char spec[CN_SPEC_MAX];
    cn_dtype dtype;
    size_t esz;               /* 4 or 8 */
    int C, H, W, classes;
    double reg;
    int nops;
    cn_op ops[CN_MAX_OPS];
    int nparams;
    cn_param params[CN_MAX_PARAMS];
    char names[CN_MAX_PARAMS][24];
    unsigned char pinit[CN_MAX_PARAMS]; /* CN_INIT_* (ops.h) */
    void *pblock;             /* trainable [ntrain] then state [nstate] */
    size_t ntrain, nstate;
    void *gblock;             /* gradients [ntrain] */
    int max_batch;            /* activations planned for this batch */
    void *act;                /* [act_elems] */
    size_t act_elems;
    int32_t *idx;             /* [idx_elems] */
    size_t idx_elems;
    void *dblock;             /* [dblock_elems] the backward's input gradients, from
                               * its two ends in turn (cn__net_dbuf) */
    size_t dblock_elems;
    void *dscores;            /* [max_batch, classes] */
    int profile;              /* cn_net_profile_enable: cn_net_loss times each op */
    double t_fwd[CN_MAX_OPS], t_bwd[CN_MAX_OPS], t_loss;
    /* netinfo.c: the training's preprocessing and the class names */
    cn_prep prep;
    float *mean;              /* [C*H*W] when prep == CN_PREP_MEAN_IMAGE */
    char *class_names;        /* [classes][64], NULL: numbered */
    int tta;                  /* test-time augmentation level to evaluate with, 0..2 */
};

/* The Solver's step for updates inside the backward: the rule's constants
 * and the moments' blocks (u.m, u.v: parallel to gblock; u.sumsq, u.bad
 * unused), and per parameter what the backward did: done (updated there:
 * its gradient was never stored whole), sumsq (sum of w^2 before the
 * update, regularized or not), bad (a non-finite gradient or new value). */
typedef struct {
    cn__wupd u;
    unsigned char done[CN_MAX_PARAMS];
    double sumsq[CN_MAX_PARAMS];
    int bad[CN_MAX_PARAMS];
} cn__netupd;

/* How one loss call runs (every switch explicit; cn_net_loss: l2 = 1,
 * grads = NULL, nu = NULL, profile = net->profile). */
typedef struct {
    int l2;          /* add 0.5 reg sum W^2 to the loss and reg W to the gradients (the
                      * Solver's fused update does it instead: 0) */
    char *grads;     /* the gradient block the backward writes, parallel to net->gblock
                      * (NULL: net->gblock; the Solver's groups: their own records) */
    cn__netupd *nu;  /* NULL, or the affine weights updated inside the backward (not when
                      * the data loss is not finite: then nothing is updated) */
    int profile;     /* add each op's time to net->t_fwd, t_bwd, t_loss */
    double smooth;   /* label smoothing eps: 0, cn_softmax_loss; > 0, cn_softmax_loss_smooth */
} cn__lossopt;

/* Scores (scores != NULL) and, with labels y, the loss and the backward,
 * for batch N (reserves activations for it). */
int cn__net_run(cn_ctx *ctx, cn_net *net, double *loss, void *scores, const void *X, const int32_t *y, int N,
                const cn__lossopt *o);
/* the typed executor (layers/netops.c) */
int cn__net_loss_f32(cn_ctx *ctx, cn_net *net, double *loss, float *scores, const float *X,
                     const int32_t *y, int N, const cn__lossopt *o);
int cn__net_loss_f64(cn_ctx *ctx, cn_net *net, double *loss, double *scores, const double *X,
                     const int32_t *y, int N, const cn__lossopt *o);
/* The Solver's fused step over one segment of the flat block (layers/optim.c),
 * at SIMD level `level` (cn__simd(ctx)): rule 0 sgd, 1 sgd_momentum (p1 momentum), 2 rmsprop (p1 decay), 3 adam
 * (p1, p2 betas), 4 nesterov (cn_sgd_nesterov with l2 = reg: p1 momentum, p2 decoupled weight decay); adds sum(w^2) before the update to *sumsq; CN_ENUM when a
 * gradient or a new value is not finite. */
int cn__update_fused_f32(int level, int rule, float *w, const float *dw, float *m, float *v, size_t n, double reg,
                         double lr, double p1, double p2, double eps, long t, double *sumsq);
int cn__update_fused_f64(int level, int rule, double *w, const double *dw, double *m, double *v, size_t n, double reg,
                         double lr, double p1, double p2, double eps, long t, double *sumsq);
/* Build a net from a loaded tensor file; parameters from prefix+name,
 * falling back to name. */
/* netinfo.c: metadata entries (at most 3) and tensors (at most 1) for a
 * file; *classes_text is malloc'd (free it after the save). */
int cn__net_info_save(cn_ctx *ctx, const cn_net *net, cn_meta *meta, int *nmeta, cn_tensor *t, int *nt,
                      char **classes_text);
int cn__net_info_load(cn_ctx *ctx, cn_net *net, const cn_st *st, const char *path);
int cn__net_from_st(cn_ctx *ctx, cn_net **out, const cn_st *st, const char *path, const char *prefix);
#endif
