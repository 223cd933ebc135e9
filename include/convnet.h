/*
 * convnet.h — the one public header of libconvnet.
 *
 * convnet is the CS231n convolutional-network system (assignment 2) in C:
 * layers with forward and backward (a naive reference beside a fast path),
 * numeric gradient checking, nets composed from a short spec, the Solver,
 * data loaders, checkpoints and images (the pictures are in
 * convnet_plot.h: libconvnet-plot).
 *
 * Conventions
 *  - Every function that can fail returns an int status: CN_OK (0) or a
 *    negative CN_E* code; the message is in cn_ctx_error(ctx). Nothing in the
 *    library prints or exits.
 *  - There is no global state. A cn_ctx owns the thread count, a reusable
 *    workspace (grown on first use, then reused: no malloc in a steady
 *    training step) and the last error message. A ctx is used by one thread
 *    at a time.
 *  - Argument order: ctx, outputs, inputs, parameters, cache/workspace, sizes.
 *  - Names are cn_<object>_<verb> (cn_net_new, cn_image_read,
 *    cn_dataset_load_cifar10, cn_max_pool_forward_f32); an element is looked
 *    up by name with _get and by index with _at (cn_net_param_get,
 *    cn_st_tensor_at), counted with _num_<elements> (cn_st_num_tensors).
 *  - Data is NCHW, row-major, contiguous. Filters are (F, C, HH, WW).
 *  - Every layer exists for float (suffix _f32) and double (suffix _f64).
 *    The declarations below are written once with `T` for the element type
 *    and `S` for the suffix; e.g. CN_LAYERS(float, f32) declares
 *    cn_conv_forward_f32(cn_ctx *, float *out, const float *x, ...).
 *  - `*_naive` functions are the readable reference (direct loops, as the
 *    original notebook writes them); the unsuffixed ones are the fast path.
 *    Both have the same signature and produce the same results (float64:
 *    within 1e-10 relative).
 *  - Backward functions overwrite their gradient outputs (no accumulation).
 *    A NULL dx means "do not compute the input gradient".
 *
 * Ownership and lifetimes of returned pointers
 *    Objects made by cn_X_new/load (cn_ctx, cn_net, cn_solver, cn_st) are
 *    the caller's and are freed with the matching free function
 *    (cn_ctx_free, cn_net_free, cn_solver_free, cn_st_free; NULL is
 *    accepted); a cn_dataset filled by a loader is freed with
 *    cn_dataset_free. Buffers returned through a `uint8_t **` (cn_image_read's
 *    pixels, cn_idx_read's data) are malloc'd and the caller free()s them.
 *    Everything else that a function returns or fills in is borrowed and
 *    must not be freed: cn_ctx_error's message and cn_ctx_build_info's string
 *    belong to the context and stay valid until the next call on that
 *    context; cn_param pointers (cn_net_param_at/_get, cn_layer_info's w,
 *    b, ...), cn_net_flat_params/grads, cn_net_spec and the mean image of
 *    cn_net_preprocess live as long as the net (the mean until the next
 *    cn_net_set_preprocess); a cn_tensor from cn_st_tensor_at/_get, its
 *    name and data, and cn_st_meta's strings live as long as the cn_st; the
 *    solver's histories live until the solver's next step, train, resume or
 *    free; cn_strerror, cn_ctx_simd, cn_spec_kind (and its *help) and
 *    cn_layer_info's kind are static strings; cn_spec_expand returns a
 *    static string or its own argument. A solver keeps pointers to its net
 *    and data set, which must outlive it. Strings passed in are copied
 *    where they are kept (spec, class names, mean image).
 */
#ifndef CONVNET_H
#define CONVNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CN_VERSION_MAJOR 1
#define CN_VERSION_MINOR 0

/* ---- status codes ---------------------------------------------------- */
enum {
    CN_OK = 0,
    CN_EINVAL = -1,   /* bad argument: shape, stride, pad, label, ... */
    CN_ENOMEM = -2,   /* allocation failed or a size is beyond the limits */
    CN_EIO = -3,      /* open/read/write/rename failed */
    CN_EFORMAT = -4,  /* a file is malformed, truncated or fails its checksum */
    CN_ENUM = -5,     /* NaN or Inf met where a finite number was needed */
    CN_EINTR = -6     /* stopped on request (e.g. SIGINT) */
};

typedef enum { CN_F32 = 0, CN_F64 = 1 } cn_dtype;

/* ---- context ---------------------------------------------------------- */
typedef struct cn_ctx cn_ctx;

/* nthreads <= 0: use every core. Returns NULL only when out of memory. */
cn_ctx *cn_ctx_new(int nthreads);
void cn_ctx_free(cn_ctx *ctx);
int cn_ctx_threads(const cn_ctx *ctx);
int cn_ctx_set_threads(cn_ctx *ctx, int nthreads);
/* The message of the last failing call ("" if none). Owned by ctx. */
const char *cn_ctx_error(const cn_ctx *ctx);
/* Record an error: sets the message and returns `code` (for callers that
 * build on the library and want the same convention). ctx may be NULL: then
 * only the code is returned. */
int cn_error(cn_ctx *ctx, int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A human name for a status code. */
const char *cn_strerror(int code);
/* SIMD level of the context's kernels: "avx512", "avx2" or "generic"
 * (16-byte vectors, the x86-64 baseline). cn_ctx_new picks the best the CPU
 * has, capped by the environment variable CN_SIMD (avx2|generic); set_simd
 * takes one of those names or "auto" and refuses a level the CPU lacks.
 * Every level gives results within rounding of the others; a level, thread
 * count and input give bit-identical results from run to run. */
int cn_ctx_set_simd(cn_ctx *ctx, const char *level);
const char *cn_ctx_simd(const cn_ctx *ctx);
/* What the build and the CPU provide, e.g. "simd=avx512 (cpu avx512)
 * gemm=OpenBLAS 0.3.21 ... threads=2": simd= is the level in use. */
const char *cn_ctx_build_info(cn_ctx *ctx);

/* ---- random numbers (xoshiro256**; state is 4 x u64, saved in checkpoints) */
typedef struct { uint64_t s[4]; } cn_rng;
void cn_rng_seed(cn_rng *r, uint64_t seed);
uint64_t cn_rng_u64(cn_rng *r);
double cn_rng_uniform(cn_rng *r);              /* [0, 1) */
double cn_rng_normal(cn_rng *r);               /* N(0, 1) */
uint64_t cn_rng_below(cn_rng *r, uint64_t n);  /* uniform in [0, n), n > 0 */

/* ---- shapes ------------------------------------------------------------ */
typedef struct {
    int N, C, H, W;     /* input (N, C, H, W) */
    int F, HH, WW;      /* filters (F, C, HH, WW), bias (F,) */
    int stride, pad;    /* stride > 0, pad >= 0, zero padding on both sides */
} cn_conv_shape;

typedef struct {
    int N, C, H, W;     /* input (N, C, H, W) */
    int ph, pw, stride; /* window ph x pw, the same stride along H and W */
} cn_max_pool_shape;

/* Check a shape and give the output size:
 * H' = 1 + (H + 2*pad - HH) / stride, W' likewise. CN_EINVAL with a message
 * naming the value when the filter does not fit, stride <= 0, pad < 0 or a
 * dimension is <= 0. Ho/Wo may be NULL. */
int cn_conv_out(cn_ctx *ctx, const cn_conv_shape *s, int *Ho, int *Wo);
/* H' = 1 + (H - ph) / stride. */
int cn_max_pool_out(cn_ctx *ctx, const cn_max_pool_shape *s, int *Ho, int *Wo);

/* Batch norm parameters (also for spatial batch norm). */
typedef struct {
    int train;        /* 1: batch statistics and update running stats; 0: test */
    double eps;       /* default 1e-5 */
    double momentum;  /* default 0.9: running = m*running + (1-m)*batch */
} cn_bn_param;
#define CN_BN_DEFAULT {1, 1e-5, 0.9}

/* ---- layers (float and double) ------------------------------------------
 * Buffers: shapes in brackets. y holds class labels as int32 in [0, C).  */
#define CN_LAYERS(T, S)                                                        \
    /* affine: out[N,M] = x[N,D] w[D,M] + b[M]; x may have any shape whose  \
     * per-sample size is D. */                                              \
    int cn_affine_forward_##S(cn_ctx *ctx, T *out, const T *x, const T *w,   \
                              const T *b, int N, int D, int M);              \
    int cn_affine_forward_naive_##S(cn_ctx *ctx, T *out, const T *x,         \
                                    const T *w, const T *b, int N, int D,    \
                                    int M);                                  \
    /* dx[N,D] (NULL: skip) dw[D,M] db[M] from dout[N,M] */                 \
    int cn_affine_backward_##S(cn_ctx *ctx, T *dx, T *dw, T *db,             \
                               const T *dout, const T *x, const T *w, int N, \
                               int D, int M);                                \
    int cn_affine_backward_naive_##S(cn_ctx *ctx, T *dx, T *dw, T *db,       \
                                     const T *dout, const T *x, const T *w,  \
                                     int N, int D, int M);                   \
    /* relu: out[n] = max(x, 0); dx = dout where x > 0 (x or out may be    \
     * passed as `x`: the mask is the same). In place allowed. */           \
    int cn_relu_forward_##S(cn_ctx *ctx, T *out, const T *x, size_t n);      \
    int cn_relu_backward_##S(cn_ctx *ctx, T *dx, const T *dout, const T *x,  \
                             size_t n);                                      \
    /* softmax loss: mean over N of -log softmax(x)[y]; max subtracted.     \
     * dx[N,C] may be NULL. */                                               \
    int cn_softmax_loss_##S(cn_ctx *ctx, double *loss, T *dx, const T *x,    \
                            const int32_t *y, int N, int C);                 \
    int cn_softmax_loss_naive_##S(cn_ctx *ctx, double *loss, T *dx,          \
                                  const T *x, const int32_t *y, int N,       \
                                  int C);                                    \
    /* affine-relu sandwich: out[N,M] = relu(x w + b). Backward uses out. */ \
    int cn_affine_relu_forward_##S(cn_ctx *ctx, T *out, const T *x,          \
                                   const T *w, const T *b, int N, int D,     \
                                   int M);                                   \
    int cn_affine_relu_backward_##S(cn_ctx *ctx, T *dx, T *dw, T *db,        \
                                    const T *dout, const T *out, const T *x, \
                                    const T *w, int N, int D, int M);        \
                                                                             \
    /* conv: out[N,F,H',W'] = x[N,C,H,W] * w[F,C,HH,WW] + b[F] */             \
    int cn_conv_forward_##S(cn_ctx *ctx, T *out, const T *x, const T *w,     \
                            const T *b, const cn_conv_shape *s);             \
    int cn_conv_forward_naive_##S(cn_ctx *ctx, T *out, const T *x,           \
                                  const T *w, const T *b,                    \
                                  const cn_conv_shape *s);                   \
    /* dx[N,C,H,W], dw[F,C,HH,WW], db[F] (each NULL: skipped) from          \
     * dout[N,F,H',W'] */                                                    \
    int cn_conv_backward_##S(cn_ctx *ctx, T *dx, T *dw, T *db, const T *dout, \
                             const T *x, const T *w, const cn_conv_shape *s); \
    int cn_conv_backward_naive_##S(cn_ctx *ctx, T *dx, T *dw, T *db,         \
                                   const T *dout, const T *x, const T *w,    \
                                   const cn_conv_shape *s);                  \
                                                                             \
    /* max pool: out[N,C,H',W']; idx[N,C,H',W'] (may be NULL in forward)    \
     * receives the argmax's offset within its HxW plane. Ties: the first   \
     * maximum in row-major order of the window wins. Backward adds        \
     * (overlapping windows accumulate). The fast backward reads idx; the  \
     * naive one recomputes the argmax from x (idx unused, may be NULL).  */ \
    int cn_max_pool_forward_##S(cn_ctx *ctx, T *out, int32_t *idx,           \
                                const T *x, const cn_max_pool_shape *s);     \
    int cn_max_pool_forward_naive_##S(cn_ctx *ctx, T *out, int32_t *idx,     \
                                      const T *x, const cn_max_pool_shape *s); \
    int cn_max_pool_backward_##S(cn_ctx *ctx, T *dx, const T *dout,          \
                                 const T *x, const int32_t *idx,             \
                                 const cn_max_pool_shape *s);                \
    int cn_max_pool_backward_naive_##S(cn_ctx *ctx, T *dx, const T *dout,    \
                                       const T *x, const int32_t *idx,       \
                                       const cn_max_pool_shape *s);          \
                                                                             \
    /* conv-relu: out = relu(conv(x)). Backward uses out for the mask. */    \
    int cn_conv_relu_forward_##S(cn_ctx *ctx, T *out, const T *x,            \
                                 const T *w, const T *b,                     \
                                 const cn_conv_shape *s);                    \
    int cn_conv_relu_backward_##S(cn_ctx *ctx, T *dx, T *dw, T *db,          \
                                  const T *dout, const T *out, const T *x,   \
                                  const T *w, const cn_conv_shape *s);       \
    /* conv-relu-pool: relu_out[N,F,H',W'] and pool_idx[N,F,H'',W''] are    \
     * the cache; out[N,F,H'',W''] with H'' = 1 + (H' - ph) / pstride. */    \
    int cn_conv_relu_pool_forward_##S(cn_ctx *ctx, T *out, T *relu_out,      \
                                      int32_t *pool_idx, const T *x,         \
                                      const T *w, const T *b,                \
                                      const cn_conv_shape *s, int ph,        \
                                      int pw, int pstride);                  \
    int cn_conv_relu_pool_backward_##S(                                      \
        cn_ctx *ctx, T *dx, T *dw, T *db, const T *dout, const T *relu_out,  \
        const int32_t *pool_idx, const T *x, const T *w,                     \
        const cn_conv_shape *s, int ph, int pw, int pstride);                \
                                                                             \
    /* batch norm over x[N,D]: gamma, beta, running_mean, running_var [D].  \
     * Train mode writes the cache mean[D], invstd[D] = 1/sqrt(var+eps)    \
     * (biased var) and updates the running stats; test mode uses the      \
     * running stats (cache may then be NULL). */                            \
    int cn_batchnorm_forward_##S(cn_ctx *ctx, T *out, T *cache_mean,         \
                                 T *cache_invstd, const T *x, const T *gamma, \
                                 const T *beta, T *running_mean,             \
                                 T *running_var, const cn_bn_param *p, int N, \
                                 int D);                                     \
    int cn_batchnorm_forward_naive_##S(                                      \
        cn_ctx *ctx, T *out, T *cache_mean, T *cache_invstd, const T *x,     \
        const T *gamma, const T *beta, T *running_mean, T *running_var,      \
        const cn_bn_param *p, int N, int D);                                 \
    /* Backward of train mode: dx[N,D], dgamma[D], dbeta[D]. The naive one  \
     * walks the computation graph; the fast one is the simplified formula \
     * (the original's batchnorm_backward_alt). */                          \
    int cn_batchnorm_backward_##S(cn_ctx *ctx, T *dx, T *dgamma, T *dbeta,   \
                                  const T *dout, const T *x, const T *gamma, \
                                  const T *cache_mean, const T *cache_invstd, \
                                  int N, int D);                             \
    int cn_batchnorm_backward_naive_##S(                                     \
        cn_ctx *ctx, T *dx, T *dgamma, T *dbeta, const T *dout, const T *x,  \
        const T *gamma, const T *cache_mean, const T *cache_invstd, int N,   \
        int D);                                                              \
    /* spatial batch norm over x[N,C,H,W], statistics per channel [C]. */    \
    int cn_spatial_batchnorm_forward_##S(                                    \
        cn_ctx *ctx, T *out, T *cache_mean, T *cache_invstd, const T *x,     \
        const T *gamma, const T *beta, T *running_mean, T *running_var,      \
        const cn_bn_param *p, int N, int C, int H, int W);                   \
    int cn_spatial_batchnorm_forward_naive_##S(                              \
        cn_ctx *ctx, T *out, T *cache_mean, T *cache_invstd, const T *x,     \
        const T *gamma, const T *beta, T *running_mean, T *running_var,      \
        const cn_bn_param *p, int N, int C, int H, int W);                   \
    int cn_spatial_batchnorm_backward_##S(                                   \
        cn_ctx *ctx, T *dx, T *dgamma, T *dbeta, const T *dout, const T *x,  \
        const T *gamma, const T *cache_mean, const T *cache_invstd, int N,   \
        int C, int H, int W);                                                \
    int cn_spatial_batchnorm_backward_naive_##S(                             \
        cn_ctx *ctx, T *dx, T *dgamma, T *dbeta, const T *dout, const T *x,  \
        const T *gamma, const T *cache_mean, const T *cache_invstd, int N,   \
        int C, int H, int W);                                                \
    /* layer norm over x[N,D], statistics per sample: cache [N];          \
     * gamma, beta [D]. */                                                   \
    int cn_layernorm_forward_##S(cn_ctx *ctx, T *out, T *cache_mean,         \
                                 T *cache_invstd, const T *x, const T *gamma, \
                                 const T *beta, double eps, int N, int D);   \
    int cn_layernorm_forward_naive_##S(cn_ctx *ctx, T *out, T *cache_mean,   \
                                       T *cache_invstd, const T *x,          \
                                       const T *gamma, const T *beta,        \
                                       double eps, int N, int D);            \
    int cn_layernorm_backward_##S(cn_ctx *ctx, T *dx, T *dgamma, T *dbeta,   \
                                  const T *dout, const T *x, const T *gamma, \
                                  const T *cache_mean, const T *cache_invstd, \
                                  int N, int D);                             \
    int cn_layernorm_backward_naive_##S(                                     \
        cn_ctx *ctx, T *dx, T *dgamma, T *dbeta, const T *dout, const T *x,  \
        const T *gamma, const T *cache_mean, const T *cache_invstd, int N,   \
        int D);                                                              \
    /* spatial group norm over x[N,C,H,W] with G contiguous channel groups \
     * (CN_EINVAL if G does not divide C): cache [N*G]; gamma, beta [C]. */ \
    int cn_spatial_groupnorm_forward_##S(                                    \
        cn_ctx *ctx, T *out, T *cache_mean, T *cache_invstd, const T *x,     \
        const T *gamma, const T *beta, double eps, int G, int N, int C,      \
        int H, int W);                                                       \
    int cn_spatial_groupnorm_forward_naive_##S(                              \
        cn_ctx *ctx, T *out, T *cache_mean, T *cache_invstd, const T *x,     \
        const T *gamma, const T *beta, double eps, int G, int N, int C,      \
        int H, int W);                                                       \
    int cn_spatial_groupnorm_backward_##S(                                   \
        cn_ctx *ctx, T *dx, T *dgamma, T *dbeta, const T *dout, const T *x,  \
        const T *gamma, const T *cache_mean, const T *cache_invstd, int G,   \
        int N, int C, int H, int W);                                         \
    int cn_spatial_groupnorm_backward_naive_##S(                             \
        cn_ctx *ctx, T *dx, T *dgamma, T *dbeta, const T *dout, const T *x,  \
        const T *gamma, const T *cache_mean, const T *cache_invstd, int G,   \
        int N, int C, int H, int W);

CN_LAYERS(float, f32)
CN_LAYERS(double, f64)

/* ---- recipe layers (float and double): the pieces of a modern CIFAR-10
 * recipe (airbench-like nets). Formulas and tests: docs/recipe-pieces.md.
 * Batch norm without a learned scale: pass gamma == NULL to the batch norm
 * and spatial batch norm functions above (scale fixed at 1, only beta
 * learned); their backward then leaves dgamma alone (it may be NULL). */
#define CN_RECIPE_LAYERS(T, S)                                                 \
    /* GELU, exact erf form (PyTorch's default):                             \
     * out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));                       \
     * dx = dout * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi).   \
     * In place allowed (out == x; backward: dx == dout). */                 \
    int cn_gelu_forward_##S(cn_ctx *ctx, T *out, const T *x, size_t n);      \
    int cn_gelu_forward_naive_##S(cn_ctx *ctx, T *out, const T *x,           \
                                  size_t n);                                 \
    int cn_gelu_backward_##S(cn_ctx *ctx, T *dx, const T *dout, const T *x,  \
                             size_t n);                                      \
    int cn_gelu_backward_naive_##S(cn_ctx *ctx, T *dx, const T *dout,        \
                                   const T *x, size_t n);                    \
    /* global average pool: out[N,C] = mean over H*W of x[N,C,H,W];          \
     * dx[N,C,H,W] = dout[n,c] / (H*W). */                                    \
    int cn_global_avg_pool_forward_##S(cn_ctx *ctx, T *out, const T *x,      \
                                       int N, int C, int H, int W);          \
    int cn_global_avg_pool_forward_naive_##S(cn_ctx *ctx, T *out,            \
                                             const T *x, int N, int C,       \
                                             int H, int W);                  \
    int cn_global_avg_pool_backward_##S(cn_ctx *ctx, T *dx, const T *dout,   \
                                        int N, int C, int H, int W);         \
    int cn_global_avg_pool_backward_naive_##S(cn_ctx *ctx, T *dx,            \
                                              const T *dout, int N, int C,   \
                                              int H, int W);                 \
    /* global max pool: out[N,C] = max over H*W; idx[N,C] (may be NULL in   \
     * forward) the argmax's offset in its plane, first maximum wins. The    \
     * fast backward reads idx; the naive one recomputes it from x (idx      \
     * may be NULL there). dx is written whole (zeros elsewhere). */         \
    int cn_global_max_pool_forward_##S(cn_ctx *ctx, T *out, int32_t *idx,    \
                                       const T *x, int N, int C, int H,      \
                                       int W);                               \
    int cn_global_max_pool_forward_naive_##S(cn_ctx *ctx, T *out,            \
                                             int32_t *idx, const T *x,       \
                                             int N, int C, int H, int W);    \
    int cn_global_max_pool_backward_##S(cn_ctx *ctx, T *dx, const T *dout,   \
                                        const T *x, const int32_t *idx,      \
                                        int N, int C, int H, int W);         \
    int cn_global_max_pool_backward_naive_##S(cn_ctx *ctx, T *dx,            \
                                              const T *dout, const T *x,     \
                                              const int32_t *idx, int N,     \
                                              int C, int H, int W);          \
    /* scaled output: out = s * x (airbench's 1/9 after the last linear);    \
     * its backward is the same call on dout (dx = s * dout). In place ok. */ \
    int cn_scale_forward_##S(cn_ctx *ctx, T *out, const T *x, double s,      \
                             size_t n);                                      \
    /* identity (dirac) conv init of w[F,C,HH,WW]: filters f < min(F,C) are  \
     * zeroed and get 1 at (f, f, HH/2, WW/2) (torch.nn.init.dirac_); the    \
     * other filters stay as given. */                                       \
    int cn_conv_init_dirac_##S(cn_ctx *ctx, T *w, int F, int C, int HH,      \
                               int WW);                                      \
    /* softmax loss with label smoothing: target t = (1-eps) onehot(y) +     \
     * eps/C; loss = mean over N of -sum_c t_c log softmax(x)_c; dx =        \
     * (softmax(x) - t) / N (may be NULL). eps in [0, 1]; eps = 0 gives      \
     * cn_softmax_loss's bits. */                                            \
    int cn_softmax_loss_smooth_##S(cn_ctx *ctx, double *loss, T *dx,         \
                                   const T *x, const int32_t *y, double eps, \
                                   int N, int C);                            \
    int cn_softmax_loss_smooth_naive_##S(cn_ctx *ctx, double *loss, T *dx,   \
                                         const T *x, const int32_t *y,       \
                                         double eps, int N, int C);          \
    /* Nesterov SGD (PyTorch's form, dampening 0) with coupled L2 `l2` and   \
     * decoupled weight decay `wd`, one flat loop over n values:             \
     *   g = dw + l2 w;  v = momentum v + g;                                 \
     *   w = w - lr wd w - lr (g + momentum v).                              \
     * airbench's exact step is l2 = its wd/lr0 (PyTorch weight_decay),      \
     * wd = 0; the decoupled form is l2 = 0. */                              \
    int cn_sgd_nesterov_##S(cn_ctx *ctx, T *w, const T *dw, T *v, size_t n,  \
                            double lr, double momentum, double l2,           \
                            double wd);                                      \
    /* EMA of weights: ema = d ema + (1 - d) w, d in [0, 1]. */              \
    int cn_ema_update_##S(cn_ctx *ctx, T *ema, const T *w, size_t n,         \
                          double decay);                                     \
    /* Lookahead's sync (the caller calls it every k steps):                 \
     * slow += alpha (fast - slow); fast = slow. alpha in [0, 1]. */         \
    int cn_lookahead_sync_##S(cn_ctx *ctx, T *slow, T *fast, size_t n,       \
                              double alpha);                                 \
    /* Whitening conv fit (airbench): the 2x2 patches (stride 1, all         \
     * (H-1)(W-1) per image) of x[N,C,H,W], flattened in (c, dy, dx) order,  \
     * give the uncentred patch covariance S = sum p p^T / count (D = 4C);   \
     * its eigenvalues l_i (descending) and eigenvectors v_i (LAPACK dsyev)  \
     * give w[2D, C, 2, 2]: filter i = v_i / sqrt(l_i + eps), filter D+i =   \
     * -v_i / sqrt(l_i + eps). eig[D] (may be NULL) gets the l_i.            \
     * Sums in double, OpenMP over images. */                                \
    int cn_whiten_fit_##S(cn_ctx *ctx, T *w, double *eig, const T *x,        \
                          double eps, int N, int C, int H, int W);           \
    /* Test-time augmentation: level 0: the batch (1 variant); 1: + mirror  \
     * (2); 2: + the 1-pixel shifts (-1,-1) and (+1,+1) with reflect         \
     * padding, each also mirrored (6; airbench's infer_mirror_translate).   \
     * dst[V, N, C, H, W] (variant-major) from x[N,C,H,W]; weights from       \
     * cn_tta_weights. */                                                    \
    int cn_tta_batch_##S(cn_ctx *ctx, T *dst, const T *x, int level, int N,  \
                         int C, int H, int W);                               \
    /* scores[N,K] = sum_v weight_v vscores[v][N,K] for vscores[V, N, K] */  \
    int cn_tta_combine_##S(cn_ctx *ctx, T *scores, const T *vscores,         \
                           int level, int N, int K);
CN_RECIPE_LAYERS(float, f32)
CN_RECIPE_LAYERS(double, f64)

/* ---- learning-rate schedules, per iteration (a pure function) -----------
 * Warm-up: for it < warmup*total, lr rises linearly from start*lr (it = 0)
 * to lr (it = warmup*total). Then CN_LR_CONSTANT: lr; CN_LR_LINEAR: linear
 * down to end*lr at it = total (a triangle / linear one-cycle; airbench94:
 * warmup 0.23, start 0.2, end 0.07); CN_LR_COSINE: end*lr + (lr - end*lr)
 * (1 + cos(pi f)) / 2, f the fraction of the post-warm-up iterations done.
 * it in [0, total]; it = total gives the final value. */
typedef enum { CN_LR_CONSTANT = 0, CN_LR_LINEAR = 1, CN_LR_COSINE = 2 } cn_lr_kind;
typedef struct {
    cn_lr_kind kind;
    double lr;      /* peak learning rate, > 0 */
    double warmup;  /* fraction of total in [0, 1] */
    double start;   /* warm-up starts at start*lr, start >= 0 */
    double end;     /* LINEAR/COSINE end at end*lr, end >= 0 */
} cn_lr_sched;
int cn_lr_schedule(cn_ctx *ctx, double *lr, const cn_lr_sched *p, long it, long total);
/* Number of test-time-augmentation variants at a level (0..2), or -1. */
int cn_tta_count(int level);
/* The weights of a level's variants (sum 1): w[cn_tta_count(level)]. */
int cn_tta_weights(cn_ctx *ctx, double *w, int level);

/* ---- data augmentation, deterministic from a seed ----------------------
 * Each sample's transform depends only on (seed, epoch, key), key = its
 * index in the data set (keys[i], or i when keys is NULL), through
 * splitmix64: any batch order or thread count gives the same result.
 *  - translate: shift by (dy, dx) uniform in [-pad, pad]^2 (a random crop of
 *    the padded image); CN_PAD_ZERO fills with 0 (with a mean-subtracted
 *    float batch: the mean colour), CN_PAD_REFLECT mirrors without
 *    repeating the edge (PyTorch's 'reflect', airbench's; needs pad < H, W).
 *  - flip: CN_FLIP_RANDOM mirrors each sample with probability 1/2 drawn
 *    per epoch; CN_FLIP_ALTERNATE (airbench) draws a fixed random half of
 *    the samples (from seed and key only) that is mirrored on even epochs,
 *    the other half on odd epochs.
 * dst and src [N, C, H, W] must not overlap. OpenMP over samples. */
typedef enum { CN_PAD_ZERO = 0, CN_PAD_REFLECT = 1 } cn_pad_mode;
typedef enum { CN_FLIP_NONE = 0, CN_FLIP_RANDOM = 1, CN_FLIP_ALTERNATE = 2 } cn_flip_mode;
typedef struct {
    uint64_t seed;
    int pad;            /* max shift in pixels, >= 0 (0: no translation) */
    cn_pad_mode pad_mode;
    cn_flip_mode flip;
} cn_augment;
/* The transform of one sample: shift (dy, dx) and flip (0/1). */
int cn_augment_draw(cn_ctx *ctx, int *dy, int *dx, int *flip, const cn_augment *a, long epoch,
                    int64_t key);
/* The order a shuffled epoch (cn_solver_config.shuffle) visits n training
 * samples: perm[0..n-1] a permutation of 0..n-1, a Fisher-Yates shuffle by
 * a generator seeded from (seed, epoch) alone (no state carried between
 * epochs: a resume or another process count draws the same order). */
int cn_epoch_order(cn_ctx *ctx, int32_t *perm, uint64_t seed, long epoch, int n);
int cn_augment_batch_u8(cn_ctx *ctx, uint8_t *dst, const uint8_t *src, const int64_t *keys,
                        const cn_augment *a, long epoch, int N, int C, int H, int W);
int cn_augment_batch_f32(cn_ctx *ctx, float *dst, const float *src, const int64_t *keys,
                         const cn_augment *a, long epoch, int N, int C, int H, int W);
int cn_augment_batch_f64(cn_ctx *ctx, double *dst, const double *src, const int64_t *keys,
                         const cn_augment *a, long epoch, int N, int C, int H, int W);

/* ---- gradient tools (float64) ------------------------------------------ */
/* f evaluates a scalar at the current contents of x (x is perturbed in
 * place and restored). grad[n] = (f(x+h) - f(x-h)) / 2h, centred. */
typedef double (*cn_scalar_fn)(void *user);
int cn_eval_numerical_gradient(cn_ctx *ctx, double *grad, cn_scalar_fn f,
                               void *user, double *x, size_t n, double h);
/* f writes its array output (m values) into out. grad[i] =
 * sum_j (f(x+h e_i)[j] - f(x-h e_i)[j]) * df[j] / 2h. work: 2*m doubles. */
typedef void (*cn_array_fn)(void *user, double *out);
int cn_eval_numerical_gradient_array(cn_ctx *ctx, double *grad, cn_array_fn f,
                                     void *user, double *x, size_t n,
                                     const double *df, size_t m, double h,
                                     double *work);
/* max |x - y| / max(1e-8, |x| + |y|) over the elements (elementwise ratio,
 * then the max, as the original). */
double cn_rel_error(const double *x, const double *y, size_t n);
double cn_rel_error_f32(const float *x, const float *y, size_t n);

/* ======================================================================
 * Data: uint8 images kept compact, converted per minibatch.
 * ==================================================================== */
typedef struct {
    int n, c, h, w;      /* images x[n, c, h, w], uint8 */
    uint8_t *x;
    uint8_t *y;          /* labels [n] */
} cn_split;

typedef struct {
    char name[32];            /* "cifar10", "fashion-mnist", "mnist" */
    int num_classes;
    char classes[16][32];     /* class names */
    cn_split train, val, test;/* test.n may be 0 (no test file) */
    float *mean;              /* [c*h*w], mean image of the train split */
} cn_dataset;

/* CIFAR-10 binary batches in dir (data_batch_1..5.bin, test_batch.bin when
 * present, batches.meta.txt for the class names). The original's split:
 * train = first num_train, val = next num_val of the 50000 training images,
 * test = first num_test of the test batch. Negative counts take defaults
 * (49000, 1000, 1000). */
int cn_dataset_load_cifar10(cn_ctx *ctx, cn_dataset *ds, const char *dir,
                    int num_train, int num_val, int num_test);
/* MNIST or Fashion-MNIST IDX files in dir, gzipped or plain:
 * train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 * t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].
 * train = first num_train of the training file, val = the next num_val;
 * test = first num_test of t10k. Negative counts: 59000 / 1000 / 10000.
 * fashion selects the class names. */
int cn_dataset_load_mnist(cn_ctx *ctx, cn_dataset *ds, const char *dir, int fashion,
                  int num_train, int num_val, int num_test);
/* Read one IDX file (plain or gzip): dims[0..ndim-1], data (malloc'd).
 * Bounds every declared size by the file's real length. */
int cn_idx_read(cn_ctx *ctx, const char *path, int *ndim, int dims[4],
                uint8_t **data);
void cn_dataset_free(cn_dataset *ds);
/* Minibatch: x[B, c, h, w] = float(split.x[idx[i]]) - mean; y[B]. */
int cn_split_batch_f32(cn_ctx *ctx, const cn_split *sp, const float *mean,
                       const int32_t *idx, int B, float *x, int32_t *y);
int cn_split_batch_f64(cn_ctx *ctx, const cn_split *sp, const float *mean,
                       const int32_t *idx, int B, double *x, int32_t *y);

/* ======================================================================
 * Images
 * ==================================================================== */
/* Read a JPEG or PNG into pix[h, w, c] (c = 1, 3; malloc'd). */
int cn_image_read(cn_ctx *ctx, const char *path, uint8_t **pix, int *h,
                  int *w, int *c);
/* Write an 8-bit PNG from pix[h, w, c] (c = 1, 3, 4) atomically. */
int cn_image_write_png(cn_ctx *ctx, const char *path, const uint8_t *pix,
                       int h, int w, int c);
/* Bilinear resize of src[h, w, c] into dst[dh, dw, c]. */
int cn_image_resize(cn_ctx *ctx, uint8_t *dst, int dh, int dw,
                    const uint8_t *src, int h, int w, int c);
/* An image pix[h, w, c] (c = 1 or 3, as cn_image_read gives) fitted to a
 * net's input (C = 1 or 3, H, W), as `convnet predict` does: scaled by
 * s = max(H/h, W/w) so that it covers H x W with its aspect kept, then the
 * centre H x W cropped; area averaging when shrinking (s < 1: each output
 * pixel is the mean of the source box it covers, fractional edges weighted),
 * bilinear when enlarging (pixel centres aligned, edges clamped). C = 1 from
 * RGB takes the luma 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601); C = 3 from
 * gray repeats it. dst[C, H, W] is planar (as data set images), rounded to
 * the nearest uint8. An image already H x W comes back unchanged. */
int cn_image_fit(cn_ctx *ctx, uint8_t *dst, int C, int H, int W,
                 const uint8_t *pix, int h, int w, int c);
/* The pictures drawn from images (filter grid, line charts, the edges
 * demo) are in libconvnet-plot: include/convnet_plot.h. */

/* ======================================================================
 * Tensor files (safetensors layout, see docs/checkpoint.md):
 * u64 little-endian header length, a JSON header naming every tensor with
 * dtype, shape and data offsets plus "__metadata__" (string -> string),
 * then the raw little-endian data. convnet adds "convnet.crc32" to the
 * metadata: CRC-32 of the data bytes and every other metadata pair.
 * ==================================================================== */
typedef struct {
    const char *name;
    cn_dtype dtype;    /* CN_F32 ("F32") or CN_F64 ("F64"); I32 below */
    int is_i32;        /* 1: int32 data ("I32"), dtype ignored */
    int ndim;          /* 0..4 */
    int64_t shape[4];
    const void *data;
} cn_tensor;

typedef struct {
    const char *key, *value;
} cn_meta;

/* Write atomically: a new temporary file PATH.tmp.XXXXXX (O_EXCL), fsync,
 * rename over PATH, fsync of the directory. Only a regular file is replaced
 * (a device, FIFO, socket or directory at PATH is refused, CN_EIO); a
 * symlink is written through to the file it points at. On any failure the
 * old file is left as it was and the temporary file is removed. */
int cn_st_save(cn_ctx *ctx, const char *path, const cn_tensor *t, int nt,
               const cn_meta *meta, int nmeta);
/* Would a save to path work? The same checks as the writers (a regular file
 * or nothing there, after symlinks) plus creating and removing a temporary
 * file beside the target. For callers that want to fail before hours of
 * work rather than at the end. */
int cn_save_path_check(cn_ctx *ctx, const char *path);
/* Write len bytes to path with the same atomic rules as the checkpoints
 * (unique temporary file beside the target, fsync, rename; never replaces
 * what is not a regular file; the old file stays on any failure). */
int cn_file_write(cn_ctx *ctx, const char *path, const void *buf, size_t len);
typedef struct cn_st cn_st;
/* Load and verify (sizes bounded by the file length; checksum when present). */
int cn_st_load(cn_ctx *ctx, const char *path, cn_st **out);
int cn_st_num_tensors(const cn_st *st);
/* NULL if absent. The returned cn_tensor's data points into st. */
const cn_tensor *cn_st_tensor_get(const cn_st *st, const char *name);
const cn_tensor *cn_st_tensor_at(const cn_st *st, int i);
const char *cn_st_meta(const cn_st *st, const char *key);
void cn_st_free(cn_st *st);

/* ======================================================================
 * Nets (composed from a spec), the Solver: see the section below.
 * ==================================================================== */
/* ---- update rules (one flat loop over n values; the original's formulas).
 * adam: t is incremented by the caller before the call (t >= 1). A NULL
 * buffer (with n > 0) is CN_EINVAL with a message in ctx. */
#define CN_OPTIM(T, S)                                                        \
    int cn_sgd_##S(cn_ctx *ctx, T *w, const T *dw, size_t n, double lr);     \
    int cn_sgd_momentum_##S(cn_ctx *ctx, T *w, const T *dw, T *v, size_t n,  \
                            double lr, double momentum);                     \
    int cn_rmsprop_##S(cn_ctx *ctx, T *w, const T *dw, T *cache, size_t n,   \
                       double lr, double decay_rate, double eps);            \
    int cn_adam_##S(cn_ctx *ctx, T *w, const T *dw, T *m, T *v, size_t n,    \
                    double lr, double beta1, double beta2, double eps,       \
                    long t);
CN_OPTIM(float, f32)
CN_OPTIM(double, f64)

/* ---- nets composed from a spec -----------------------------------------
 * The grammar: layers joined by '-', each a token of one layer kind. The
 * kinds are one table in the library: cn_spec_kind lists each with a line
 * of help (`convnet train --help` prints them, the README has the table).
 * The last affine's width is the number of classes (only scale<s> may
 * follow it); softmax loss follows. Presets: "three-layer" =
 * conv32x7-relu-pool2-affine100-relu-affine10 (the original ThreeLayerConvNet).
 * Parameters are named like the original: W1 b1 (first conv/affine), W2 b2,
 * ...; a norm layer after weight layer k has gamma<k> beta<k> and, for batch
 * norm, running_mean<k> running_var<k> (not trainable, saved in checkpoints).
 */
typedef struct cn_net cn_net;

typedef struct {
    const char *name;   /* "W1", "b1", "gamma1", "running_mean1" ... */
    int ndim;
    int64_t shape[4];
    size_t size;        /* element count */
    void *data;         /* net dtype; inside the net's parameter block */
    void *grad;         /* NULL for non-trainable state (running stats) */
    int trainable;
    int regularized;    /* 1 for weights (W*): L2 0.5*reg*sum(W^2) */
} cn_param;

/* Expand a preset name or return spec unchanged (static storage). */
const char *cn_spec_expand(const char *spec);
/* Layer kind i's token grammar ("conv<F>x<K>[s<S>][p<P>]") and *help (may be
 * NULL) its one-line description; NULL past the last kind. Static strings. */
const char *cn_spec_kind(int i, const char **help);
/* Every kind's grammar joined by ", " into buf; CN_EINVAL when truncated. */
int cn_spec_grammar(char *buf, size_t len);
/* Build a net for inputs (C,H,W). Weights ~ weight_scale * N(0,1) drawn from
 * rng in parameter order, biases and betas 0, gammas 1, running stats 0.
 * weight_scale < 0: weights ~ U(-b, b), b = |weight_scale| / sqrt(fan in)
 * (a conv's C*HH*WW, an affine's D); -1 is PyTorch's default init. */
int cn_net_new(cn_ctx *ctx, cn_net **out, const char *spec, int C, int H,
               int W, cn_dtype dtype, double weight_scale, double reg,
               cn_rng *rng);
void cn_net_free(cn_net *net);
/* A net that starts with `whiten`: fit its weights to the 2x2 patches of
 * X [N, C, H, W] (the net's dtype; cn_whiten_fit with this eps; airbench
 * 5e-4). The fitted weights are state: saved with the net, never trained. */
int cn_net_fit_whitening(cn_ctx *ctx, cn_net *net, const void *X, int N, double eps);
const char *cn_net_spec(const cn_net *net);   /* the expanded spec */
cn_dtype cn_net_dtype(const cn_net *net);
int cn_net_num_classes(const cn_net *net);
void cn_net_input(const cn_net *net, int *C, int *H, int *W);
double cn_net_reg(const cn_net *net);
void cn_net_set_reg(cn_net *net, double reg);
int cn_net_num_params(const cn_net *net);     /* trainable and state */
const cn_param *cn_net_param_at(const cn_net *net, int i);
const cn_param *cn_net_param_get(const cn_net *net, const char *name);
/* All trainable values in one block (and their gradients alongside):
 * the optimizer walks these with one flat loop. */
void *cn_net_flat_params(const cn_net *net, size_t *n);
void *cn_net_flat_grads(const cn_net *net, size_t *n);
/* A human summary, one line per layer with output shapes and parameters.
 * CN_EINVAL (with the length needed) when buf is too short: the text is then
 * truncated. */
int cn_net_describe(cn_ctx *ctx, const cn_net *net, char *buf, size_t len);
/* Plan activations for batches up to max_batch (allocated once; loss()
 * grows the plan itself when a larger batch comes). */
int cn_net_reserve(cn_ctx *ctx, cn_net *net, int max_batch);
/* Memory a training run of this net would take, in bytes, before any of it
 * is allocated: parameters (and running statistics), gradients, the
 * Solver's state (best parameters, the update rule's moments: sgd 0,
 * sgd_momentum and rmsprop 1, adam 2; minibatch buffers), activations for
 * the batch (the accuracy checks go by chunks of it), and the layers'
 * workspaces for ctx's thread count (an upper estimate). The spec is
 * checked as cn_net_new checks it. Saturates at SIZE_MAX. */
typedef struct {
    size_t params, grads, solver, activations, workspace, total;
} cn_mem_estimate;
int cn_net_estimate_memory(cn_ctx *ctx, const char *spec, int C, int H, int W, cn_dtype dtype, int batch,
                           const char *update_rule, cn_mem_estimate *est);
/* Memory this process may still take: MemAvailable from /proc/meminfo, or
 * what is left under the cgroup's limit (v2 memory.max less memory.current,
 * v1 memory.limit_in_bytes less memory.usage_in_bytes, for this process's
 * cgroup and its parents) when that is lower. source (may be NULL) gets a
 * few words saying which. CN_EIO when neither can be read. */
int cn_memory_available(cn_ctx *ctx, uint64_t *bytes, char *source, size_t len);
#define CN_MEM_SOURCE_LEN 4200 /* enough for source: a cgroup path and two numbers */
/* The original's model.loss: y == NULL -> test mode, scores[N, classes]
 * written; y given -> train mode, *loss = data loss + 0.5*reg*sum(W^2) and
 * every trainable gradient written (scores may be NULL). X and scores are
 * in the net's dtype, X of shape (N, C, H, W). */
int cn_net_loss(cn_ctx *ctx, cn_net *net, double *loss, void *scores,
                const void *X, const int32_t *y, int N);
/* FLOPs of one training step (forward + backward) per image. */
double cn_net_flops_per_image(const cn_net *net);
/* Per-layer wall time: when enabled, loss() adds each op's forward and
 * backward time; the report has one line per op with its share of `total`
 * seconds (<= 0: of the layers' sum). */
void cn_net_profile_enable(cn_net *net, int on);
void cn_net_profile_reset(cn_net *net);
int cn_net_profile_report(const cn_net *net, double total, char *buf, size_t len);

/* ---- the Solver ----------------------------------------------------------- */
typedef struct {
    char update_rule[16];   /* "sgd" | "sgd_momentum" | "rmsprop" | "adam" | "nesterov" */
    double learning_rate;   /* < 0: the rule's default (1e-2, 1e-2, 1e-2, 1e-3, 1e-2) */
    double momentum;        /* 0.9 */
    double decay_rate;      /* 0.99 */
    double beta1, beta2;    /* 0.9, 0.999 */
    double epsilon;         /* 1e-8 */
    double lr_decay;        /* 1.0, applied at each epoch end */
    int batch_size;         /* 100 */
    int num_epochs;         /* 10 */
    int num_train_samples;  /* 1000; <= 0: all */
    int num_val_samples;    /* <= 0 (default): all */
    int print_every;        /* 10 */
    int verbose;            /* 1 */
    uint64_t seed;          /* 0 */
    /* Data augmentation of the training minibatches (cn_augment_batch_*
     * with seed = `seed`, the epoch of the step and the samples' indices in
     * the training split as keys: a run and its --resume draw the same
     * transforms, at any thread count). Off by default (aug_pad 0, flip
     * none): the minibatches are the original's, bit for bit. */
    int aug_pad;            /* max shift in pixels (0) */
    cn_pad_mode aug_pad_mode; /* CN_PAD_ZERO (default) | CN_PAD_REFLECT */
    cn_flip_mode aug_flip;  /* CN_FLIP_NONE (default) | _RANDOM | _ALTERNATE */
    /* Test-time augmentation level of the accuracy checks, 0..2 (0). */
    int tta;
    /* ---- the recipe's optimization (issue 10, docs/recipe-pieces.md). The
     * defaults (cn_solver_config_default) keep the original Solver bit for
     * bit; a bad value is refused by cn_solver_new with a message naming it.
     * update_rule "nesterov": PyTorch's SGD(nesterov=True, dampening=0),
     * cn_sgd_nesterov per parameter with `momentum` (in [0, 1)), the net's
     * reg as its coupled L2 (W* only, through the velocity, as for every
     * rule) and `weight_decay` as its decoupled wd. */
    double weight_decay;    /* 0; "nesterov" only: w -= lr * weight_decay * w each step (the
                             * scheduled lr, before the step's update), on every trainable
                             * parameter (airbench94 decays its norm biases too, at the same
                             * rate per step: PyTorch weight_decay = wd / group lr); none on
                             * state (running statistics, the fitted whitening weights) */
    char schedule[16];      /* "": the original, lr_decay at each epoch end; "constant" |
                             * "linear" (triangle / one-cycle) | "cosine": the lr of the step
                             * after t iterations is cn_lr_schedule(learning_rate, t, total
                             * iterations), a pure function of t (lr_decay must stay 1) */
    double lr_warmup, lr_start, lr_end; /* 0, 0, 0: cn_lr_sched's warmup, start, end fractions
                             * (airbench94: "linear", 0.23, 0.2, 0.07); only with a schedule */
    double bias_lr_scale;   /* 1: the learning rate of the norms' betas (beta<k> of bn, bnb, gn,
                             * ln; airbench 64) is lr * bias_lr_scale and their weight_decay
                             * weight_decay / bias_lr_scale (the same decay per step). Conv and
                             * affine biases (b<k>) and gammas keep lr: airbench's convs and
                             * its last linear have no bias, only its norm biases are scaled */
    double label_smoothing; /* 0: the loss is cn_softmax_loss_smooth with eps = this, in [0, 1]
                             * (airbench 0.2); the logged loss is that smoothed loss */
    double ema_decay;       /* 0 (off): after each iteration from ema_start_epoch on, ema =
                             * d ema + (1 - d) w (cn_ema_update) over the trainable parameters,
                             * ema = w at the start; d in [0, 1) */
    int ema_start_epoch;    /* 0: averaging starts after this many epochs (0: at iteration 0) */
    int lookahead_k;        /* 0 (off): every k iterations from lookahead_start_epoch on,
                             * cn_lookahead_sync(slow, w, lookahead_alpha); slow = w at the
                             * start. Not with ema_decay */
    double lookahead_alpha; /* 0.5; in (0, 1] (airbench94 ramps 1 - 0.95^5 (t/T)^3 every 5) */
    int lookahead_start_epoch; /* 0 */
    int lookahead_ramp;     /* 0: alpha constant; 1: airbench94's ramp, alpha = 1 - (1 - lookahead_alpha)
                             * (t / T)^3 at iteration t of T (from 1 down to lookahead_alpha;
                             * airbench: alpha 1 - 0.95^5, k 5, from epoch 0) */
    int shuffle;            /* 0: each minibatch drawn with replacement (the original); 1: each
                             * epoch walks a permutation of the training split drawn from
                             * (seed, epoch) alone (resume-, thread- and process-count-proof) */
    /* With EMA or Lookahead started, cn_solver_train's accuracy checks
     * evaluate the averaged weights (the EMA, or Lookahead's slow weights)
     * with the net's current batch-norm running statistics, so the best
     * parameters it keeps, and the net at the end, are averaged ones. The
     * net trains on its own (fast) weights in between. */
} cn_solver_config;
void cn_solver_config_default(cn_solver_config *cfg);

typedef struct cn_solver cn_solver;
/* A line of the original's log ("(Iteration 1 / 980) loss: 2.302585"), or a
 * progress report (progress = 1: images/s and ETA; not part of the log). */
typedef void (*cn_log_fn)(void *user, const char *line, int progress);

/* The solver trains net on ds.train, checks accuracy on ds.train / ds.val.
 * It keeps a pointer to net and ds (they must outlive it). */
int cn_solver_new(cn_ctx *ctx, cn_solver **out, cn_net *net,
                  const cn_dataset *ds, const cn_solver_config *cfg);
void cn_solver_free(cn_solver *s);
/* Run to the end (or until *stop becomes nonzero: then CN_EINTR after the
 * current iteration, with the state consistent for a checkpoint).
 * checkpoint_every > 0 with a path: save every that many iterations; a
 * save that fails (CN_EIO, CN_ENOMEM: disk full, I/O error) is logged as a
 * line starting "warning: " (progress 0) and training goes on, the previous
 * checkpoint intact; the third failure in a row stops with that error. On a
 * NaN/Inf loss or gradient: CN_ENUM naming the iteration and parameter. At
 * the end the net holds the best parameters by validation accuracy (with an
 * empty validation split: the last ones). */
int cn_solver_train(cn_ctx *ctx, cn_solver *s, cn_log_fn log, void *user,
                    volatile int *stop, const char *checkpoint_path,
                    int checkpoint_every);
/* One iteration: a minibatch drawn with replacement, loss, update. */
int cn_solver_step(cn_ctx *ctx, cn_solver *s, double *loss);
/* Data-parallel training in fixed sample groups (issue 13).
 * The library has no MPI in it: the caller (the CLI built with MPI=1)
 * passes the collectives as functions over bytes, with MPI's meaning
 * (counts and displacements per rank, in bytes). A function returns 0 or
 * nonzero on failure (the step then fails with CN_EIO). */
typedef struct {
    int rank, size;   /* this process, the number of processes */
    void *user;
    int (*alltoallv)(void *user, const void *send, const size_t *scount, const size_t *sdispl, void *recv,
                     const size_t *rcount, const size_t *rdispl);
    int (*allgatherv)(void *user, const void *send, size_t scount, void *recv, const size_t *rcount,
                      const size_t *rdispl);
} cn_comm;
/* groups > 0: every step splits the minibatch into `groups` fixed groups
 * of consecutive samples (group g: samples [B*g/G, B*(g+1)/G)); each group
 * runs its own forward and backward (its batch-norm statistics are its
 * own: "ghost" batch norm) and the gradients, the data loss and the
 * batch-norm running statistics are averaged over the groups, weighted by
 * their sizes, summed in group order. With comm (size K <= groups), rank r
 * computes groups [G*r/K, G*(r+1)/K) from its own samples only, and the
 * sums are reduced in that same order (alltoallv of slices, ordered sum,
 * allgatherv): K = 1, 2, 3, ... processes give the same bits. comm NULL:
 * one process does every group. groups = 0 (default): the single-pass
 * step. Call before training; comm is copied. */
int cn_solver_set_groups(cn_ctx *ctx, cn_solver *s, int groups, const cn_comm *comm);
/* Bytes this rank sent and seconds spent in the collectives so far. */
void cn_solver_comm_stats(const cn_solver *s, double *bytes_sent, double *comm_s);
/* Accuracy on a split: num_samples > 0 and < n subsamples with replacement
 * (from the solver's RNG, as the original), batches of batch_size. */
int cn_solver_check_accuracy(cn_ctx *ctx, cn_solver *s, const cn_split *sp,
                             int num_samples, int batch_size, double *acc);
/* Buffers for one batch of cn_net_accuracy, in the net's dtype:
 * x[batch * C*H*W], scores[batch * classes], y[batch], idx[batch]. */
typedef struct { void *x, *scores; int32_t *y, *idx; } cn_batch_buf;
/* Accuracy of net on the samples idx[0..n-1] of sp (idx NULL: 0..n-1), in
 * batches of batch_size built as cn_split_batch_* builds them (mean may be
 * NULL): the fraction whose highest score (the first of equal ones) is the
 * label; 0 when n <= 0 and on an error. buf: the caller's buffers, or NULL
 * (allocated here). cn_solver_check_accuracy counts through it. */
int cn_net_accuracy(cn_ctx *ctx, cn_net *net, const cn_split *sp, const float *mean,
                    const int32_t *idx, int n, int batch_size,
                    const cn_batch_buf *buf, double *acc);
/* cn_net_accuracy with test-time augmentation at `level` (0..2): each batch's
 * V = cn_tta_count(level) variants (cn_tta_batch) are scored one by one and
 * their scores combined (cn_tta_combine) before the argmax; level 0 is
 * cn_net_accuracy exactly. tbuf (level > 0; may be NULL: allocated here):
 * x[V * batch * C*H*W] and scores[V * batch * classes] in the net's dtype
 * (its y and idx are unused). */
int cn_net_accuracy_tta(cn_ctx *ctx, cn_net *net, const cn_split *sp, const float *mean,
                        const int32_t *idx, int n, int batch_size, int level,
                        const cn_batch_buf *buf, const cn_batch_buf *tbuf, double *acc);
/* Histories (owned by the solver). */
const double *cn_solver_loss_history(const cn_solver *s, int *n);
const double *cn_solver_train_acc_history(const cn_solver *s, int *n);
const double *cn_solver_val_acc_history(const cn_solver *s, int *n);
double cn_solver_best_val_acc(const cn_solver *s);
int cn_solver_iteration(const cn_solver *s);  /* iterations done */
int cn_solver_epoch(const cn_solver *s);      /* epochs done */
/* The learning rate of the next step (lr_decay applied at each epoch end). */
double cn_solver_lr(const cn_solver *s);
int cn_solver_num_iterations(const cn_solver *s);
/* The averaged trainable parameters (EMA or Lookahead's slow weights; the
 * layout of cn_net_flat_params, n values), or NULL while averaging is off
 * or not started. */
const void *cn_solver_averaged_params(const cn_solver *s, size_t *n);
/* Seconds spent so far building minibatches, in the update rule, and in
 * accuracy checks. */
void cn_solver_times(const cn_solver *s, double *batch_s, double *update_s, double *check_s);
/* Checkpoints (safetensors): parameters, the best parameters, optimizer
 * moments ("nesterov.velocity.<p>"), BN running stats, spec, config, epoch,
 * iteration, lr, RNG and histories; with averaging started, the averaged
 * weights ("ema.<p>" or "lookahead.slow.<p>"). Atomic. */
int cn_solver_save(cn_ctx *ctx, const cn_solver *s, const char *path);
/* Restore a solver saved by cn_solver_save into s (same spec and rule). */
int cn_solver_resume(cn_ctx *ctx, cn_solver *s, const char *path);
/* Load a checkpoint's net (its current parameters when best = 0, its best
 * parameters when best = 1 and present). *cfg (may be NULL) gets the saved
 * solver config. */
int cn_net_load(cn_ctx *ctx, cn_net **out, const char *path, int best,
                cn_solver_config *cfg);
/* What a trained net needs besides its weights to classify new images.
 * The Solver sets both from its data set (cn_solver_new); model files and
 * checkpoints keep them; files from before they existed load with
 * CN_PREP_UNKNOWN and numbered classes.
 *  - preprocessing: x[c,h,w] = pixel (uint8, CHW) - mean[c,h,w], the mean
 *    image of the training split (CN_PREP_MEAN_IMAGE), or x = pixel
 *    (CN_PREP_NONE), exactly as cn_split_batch_* does it;
 *  - class names: 1..63 bytes each, no control characters. */
typedef enum { CN_PREP_UNKNOWN = 0, CN_PREP_NONE = 1, CN_PREP_MEAN_IMAGE = 2 } cn_prep;
/* mean [C*H*W] is copied; NULL records CN_PREP_NONE. */
int cn_net_set_preprocess(cn_ctx *ctx, cn_net *net, const float *mean);
/* *mean (may be NULL) gets the net's mean image or NULL. */
cn_prep cn_net_preprocess(const cn_net *net, const float **mean);
/* names[0..n-1] for the first n classes (n <= classes), the rest numbered. */
int cn_net_set_class_names(cn_ctx *ctx, cn_net *net, const char *const *names, int n);
/* Class k's name into buf: 1 when a stored name, 0 when numbered ("3"),
 * CN_EINVAL when k is out of range. */
int cn_net_class_name(const cn_net *net, int k, char *buf, size_t len);
/* The test-time augmentation level (0..2) the net is meant to be evaluated
 * with: model files and checkpoints record it (metadata "tta", absent when
 * 0); `convnet eval` uses it unless told otherwise. CN_EINVAL outside 0..2. */
int cn_net_set_tta(cn_ctx *ctx, cn_net *net, int level);
int cn_net_tta(const cn_net *net);
/* The net's layers after planning (conv-relu(-pool) and affine-relu fused),
 * for tools that translate a net (describe --json, ONNX export). Shapes are
 * per sample; after an affine the features are flat: C = features, H = W = 1.
 * kind: "conv" (relu/pool: a ReLU, then a max pool, fused after it; F
 * filters K x K, stride, zero pad; cH x cW before the pool), "affine" (D ->
 * M, the input flattened in C,H,W order; relu fused), "relu", "pool" (ph x
 * pw window, stride ps), "batchnorm" (on flat features), "spatial-batchnorm"
 * (per channel; gamma NULL for bnb: the scale is 1), "layernorm" (over the
 * D = C*H*W features of each sample), "gelu", "global-avg-pool" and
 * "global-max-pool" (to C x 1 x 1), "scale" (out = scale x), "whiten" (a
 * conv, 2x2, no pad, its weights fitted),
 * "spatial-groupnorm" (groups of C/groups consecutive channels). Norms use
 * (x - mean) / sqrt(var + eps) with the biased variance (batch norm in test
 * mode: the running statistics), then gamma and beta. */
typedef struct {
    const char *kind;
    int relu, pool;
    int C, H, W, oC, oH, oW;
    int F, K, stride, pad, cH, cW;
    int ph, pw, ps;
    int D, M;
    int groups;
    double eps;
    const cn_param *w, *b, *gamma, *beta, *running_mean, *running_var; /* NULL if none */
    double scale;       /* "scale": the factor */
} cn_layer_info;
int cn_net_num_layers(const cn_net *net);
int cn_net_layer_at(const cn_net *net, int i, cn_layer_info *out);
/* Save only the net (parameters + spec) as a model file. */
int cn_net_save(cn_ctx *ctx, const cn_net *net, const char *path,
                const cn_meta *extra, int nextra);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_H */
