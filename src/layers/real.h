/* real.h — the element type of a layer source. Every file in src/layers/
 * is compiled twice: once as float (suffix _f32) and once with -DCN_REAL_F64 as
 * double (suffix _f64). Write `real` for the element type and FN(name) for
 * every external symbol; helpers are static. */
#ifndef CN_REAL_H
#define CN_REAL_H
#include "../internal.h"
#include <cblas.h>
#include <math.h>

#ifdef CN_REAL_F64
typedef double real;
#define FN(name) name##_f64
#define cn_gemm cblas_dgemm
#define r_sqrt sqrt
#define r_exp exp
#else
typedef float real;
#define FN(name) name##_f32
#define cn_gemm cblas_sgemm
#define r_sqrt sqrtf
#define r_exp expf
#endif

/* Shared between layer files (conv.c defines it, sandwich.c uses it):
 * out = conv(x), with the ReLU applied in the kernel's store when relu != 0. */
int FN(cn__conv_forward_act)(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b,
                             const cn_conv_shape *s, int relu);
/* pool.c, used by sandwich.c: one plane of the fast pool backward (zero d,
 * scatter-add g at ix, only where keep[o] > 0 when keep is not NULL); the
 * first out-of-plane index's position, or -1. */
long FN(cn__pool_scatter)(real *d, const real *g, const int32_t *ix, const real *keep, size_t in, size_t on);
/* pool.c, used by conv.c: one plane, out[Ho, Wo] and idx (may be NULL)
 * from x[s->H, s->W]. */
void FN(cn__pool_plane)(int level, real *out, int32_t *idx, const real *x, const cn_max_pool_shape *s, int Ho,
                        int Wo);
/* conv.c: out[N,F,H'',W''], idx = max_pool(relu(conv(x))) without storing
 * the convolution's output (see conv_forward); 1 when the shape does not
 * allow it (the caller runs the two steps). */
int FN(cn__conv_relu_pool_forward_fused)(cn_ctx *ctx, real *out, int32_t *idx, const real *x, const real *w,
                                         const real *b, const cn_conv_shape *s, const cn_max_pool_shape *ps);
/* sandwich.c, used by netops.c: the forward without storing relu_out when
 * the shape allows (see there) */
int FN(cn__conv_relu_pool_forward_net)(cn_ctx *ctx, real *out, real *relu_out, int32_t *pool_idx,
                                       const real *x, const real *w, const real *b,
                                       const cn_conv_shape *s, int ph, int pw, int pstride);
/* sandwich.c, used by netops.c: cn_conv_relu_pool_backward with the relu
 * mask taken from the pooled output (out > 0 where the window's max, the
 * relu output at its argmax, is > 0) and the unpooled gradient built in da
 * [N,F,H',W'], which may be the forward's relu_out buffer (dead by then). */
/* dw, db of conv -> relu -> max pool, the pool's gradient unpooled in cache (conv.c) */
int FN(cn__conv_backward_unpool)(cn_ctx *ctx, real *dw, real *db, const real *g, const int32_t *ix,
                                 const real *keep, const cn_max_pool_shape *ps, const real *x,
                                 const cn_conv_shape *s);
int FN(cn__conv_relu_pool_backward_into)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                         const real *out, const int32_t *pool_idx, const real *x,
                                         const real *w, const cn_conv_shape *s, int ph, int pw, int pstride,
                                         real *da);

/* affine.c, used by netops.c: the backward of affine (out == NULL) or
 * affine-relu (out = the forward's output) that applies the update rule u
 * to w as soon as rows of dw are final (after their share of dx), so w's
 * rows are read once while in cache and dw is never stored whole: the
 * Solver's step for the large hidden weight. dw (the gradient buffer) gets
 * the rows whose update met a non-finite value (for the diagnosis), and all
 * of dw on the OpenBLAS path (M < VL). */
int FN(cn__affine_backward_upd)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                const real *out, const real *x, real *w, int N, int D, int M,
                                cn__wupd *u);
/* optim.c: the Solver's fused step (see net.h) */
int FN(cn__update_fused)(int level, int rule, real *w, const real *dw, real *m, real *v, size_t n,
                         double reg, double lr, double p1, double p2, double eps, long t,
                         double *sumsq);

#endif
