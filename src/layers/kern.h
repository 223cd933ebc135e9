/* kern.h — the kernel tables the layer drivers call, one per SIMD level
 * (see simd.h). A driver asks for its context's level with
 * conv_kern_for(cn__simd(ctx)); the table says its vector length, so the
 * driver's blocking follows the level in use. Included by layer sources
 * (element type from real.h). */
#ifndef CN_KERN_H
#define CN_KERN_H
#include "real.h"
#include <stddef.h>

/* KERN_TABLES(x): the three levels' tables cn__x_kern_<level>_<type> (one
 * per kernel source, simd/x.c) and x_kern_for(level), the context's. */
#ifdef CN_X86_LEVELS
#define KERN_TABLES(x)                                                              \
    extern const x##_kern FN(cn__##x##_kern_generic), FN(cn__##x##_kern_avx2),       \
        FN(cn__##x##_kern_avx512);                                                   \
    static inline const x##_kern *x##_kern_for(int level) {                          \
        return level == CN_SIMD_AVX512 ? &FN(cn__##x##_kern_avx512)                  \
               : level == CN_SIMD_AVX2 ? &FN(cn__##x##_kern_avx2)                    \
                                       : &FN(cn__##x##_kern_generic);                \
    }
#else
#define KERN_TABLES(x)                                                              \
    extern const x##_kern FN(cn__##x##_kern_generic);                                \
    static inline const x##_kern *x##_kern_for(int level) {                          \
        (void)level;                                                                 \
        return &FN(cn__##x##_kern_generic);                                          \
    }
#endif

/* ---- conv (kernels in simd/conv.c, drivers in conv.c) ------------------- */
/* Geometry shared by im2col/col2im. */
typedef struct {
    int C, HH, WW, Hp, Wp, Ho, Wo, st;
    int pad, H; /* the input's rows in xpad: [pad, pad + H) */
} conv_geo;

/* GEMM modes: MODE_NN  C = A B, all explicit;
 *             MODE_IMB C = A B with B implicit (forward: B = columns);
 *             MODE_IMC C += A B scattered into implicit C (dx: C = xpad,
 *                      rows = taps; the adjoint of im2col, fused).
 * (Column addressing: see simd/conv.c.) */
enum { MODE_NN = 0, MODE_IMB = 1, MODE_IMC = 2 };

#define TR_ARGS real *T, ptrdiff_t ldt, const real *S, ptrdiff_t lds, int rows, int cols, int rpad

#define CONV_GEMM_ARGS                                                                     \
    int mode, int M, int ncols, int Kr, const real *A, ptrdiff_t ars, ptrdiff_t acs,      \
        const real *B, ptrdiff_t ldb, const int *off, const int *vb, real *C, ptrdiff_t ldc, \
        const real *bias, int relu, const conv_geo *g
#define CONV_DWT_ARGS                                                                      \
    int K, int ww, int nvf, int len, const real *xp, const int *off, const int *pix,        \
        const real *T, ptrdiff_t ldt, real *C, ptrdiff_t ldc, const conv_geo *g, int p0, int ns, \
        int first, conv_pf *pf

/* Lines the dw kernel prefetches while its tiles run: the next item's
 * inputs (dout from memory, a new sample of x), whose transpose and
 * padding otherwise wait on each line in turn (a transpose of 128 KB of
 * dout: 11-12 us in place of 4-5, 6% of the 3x3 layer's dw). Region r:
 * rows[r] rows of rowb[r] bytes, stride[r] bytes apart (0 rows: none);
 * the cursor (reg, row, at) and the lines left. */
typedef struct {
    const char *base[2];
    size_t rows[2], rowb[2], stride[2];
    long left;
    int reg;
    size_t row, at;
} conv_pf;

typedef struct {
    int vl;      /* lanes of one vector */
    int nv;      /* vectors of columns in the GEMM's register tile */
    /* C[M, ncols] = A B (+ bias, relu); ncols a multiple of vl */
    void (*gemm)(CONV_GEMM_ARGS);
    /* dw^T: C[K, nvf*vl] += sum over q < len of xp[off[k] + pix[q]] T[q, :]
     * (first: C = that sum, C's old contents not read); the len pixels are
     * ns samples' pixels p0.. p0 + len/ns of geometry g (g NULL: none are
     * skipped); pf (may be NULL): lines to prefetch meanwhile */
    void (*dwt)(CONV_DWT_ARGS);
    /* sums[r] += sum_p G[r][p], p < n */
    void (*rowsum)(int R, int n, const real *G, ptrdiff_t ldg, real *sums);
    /* d[e] += S[r*lds + e] for r = 0, 1, .. R-1 in turn, e < n */
    void (*addrows)(real *d, const real *S, ptrdiff_t lds, int R, int n);
    /* T[j*ldt + i] = S[i*lds + j] (i < rows, j < cols), zero for rows <= i < rpad */
    void (*transpose)(TR_ARGS);
    /* col[k][s*n + q] for samples s < ns (padded inputs xone apart) and their
     * n output pixels from p0 (row stride ldc); columns [ns*n, nz) zeroed;
     * may write up to vl-1 reals past a row's end (col needs vl of slack) */
    void (*im2col)(real *col, ptrdiff_t ldc, const real *xpad, ptrdiff_t xone, int ns, const conv_geo *g, int p0,
                   int n, int nz);
    void (*col2im)(real *xpad, const real *col, ptrdiff_t ldc, const conv_geo *g, int p0, int n);
} conv_kern;

KERN_TABLES(conv)

/* ---- affine (kernels in simd/affine.c, drivers in affine.c) -------------- */
/* A prefetch cursor: `lpr` cache lines per row, rows `skip` bytes apart
 * after a row's last line, `left` lines to go, then `next`. */
typedef struct pfcur {
    const char *p;
    ptrdiff_t skip;
    int lpr, j, left, rw; /* rw: prefetch for writing */
    const struct pfcur *next;
} pfcur;

#define GEMMR_ARGS                                                                           \
    int R, int nv, int K, const real *A, ptrdiff_t ars, const real *P, ptrdiff_t ldp,       \
        ptrdiff_t plast, real *C, ptrdiff_t ldc, int accum, pfcur *pc
#define DOT_ARGS                                                                             \
    int rn, int dk, int nvec, const real *G, ptrdiff_t ldg, const real *W, ptrdiff_t ldw,   \
        const ptrdiff_t *so, real *out, ptrdiff_t ldo
#define GEMMW_ARGS                                                                           \
    int mr, int nv, int K, const real *A, ptrdiff_t acs, const real *P, real *C,            \
        ptrdiff_t ldc, const ptrdiff_t *co, pfcur *pc
#define PACK_ARGS real *P, const real *S, ptrdiff_t lds, const ptrdiff_t *so, int nv, int rows

/* Tile shapes (rows MR x vectors NV) for the forward, dw and dx; dots RN x
 * DK for dx's left-over rows; the forward's k block (rows of w per panel);
 * the kernels (see simd/affine.c for each). */
typedef struct {
    int vl;
    int mr_f, nv_f, mr_w, nv_w, mr_x, nv_x, rn_d, dk_d, kc_f;
    void (*gemm_f)(GEMMR_ARGS);
    void (*gemm_x)(GEMMR_ARGS);
    void (*gemm_w)(GEMMW_ARGS);
    void (*dot)(DOT_ARGS);
    void (*pack)(PACK_ARGS);
    void (*transpose)(TR_ARGS);
    void (*transpose_st)(TR_ARGS); /* the same by streaming stores (dx: see vtrans.h) */
} affine_kern;

KERN_TABLES(affine)

/* affine.c, used by sandwich.c: out = x w + b, then max(., 0) when relu
 * != 0 (applied in the pass that adds the partial sums). */
int FN(cn__affine_forward_act)(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b,
                               int N, int D, int M, int relu);

/* ---- update rules (kernels in simd/optim.c, entry points in optim.c) ---- */
typedef struct {
    int (*sgd)(real *w, const real *dw, size_t n, double lr);
    int (*sgd_momentum)(real *w, const real *dw, real *v, size_t n, double lr, double momentum);
    int (*rmsprop)(real *w, const real *dw, real *cache, size_t n, double lr, double decay_rate,
                   double eps);
    int (*adam)(real *w, const real *dw, real *m, real *v, size_t n, double lr, double beta1,
                double beta2, double eps, long t);
    /* the Solver's fused step: see cn__update_fused in net.h */
    int (*fused)(int rule, real *w, const real *dw, real *m, real *v, size_t n, double reg,
                 double lr, double p1, double p2, double eps, long t, double *sumsq);
} optim_kern;

KERN_TABLES(optim)

/* ---- 2x2 stride-2 max pool (kernels in simd/pool.c; pool.c, conv.c) ---- */
typedef struct {
    /* o [Ho, Wo], ix (may be NULL): the windows of a plane x of width W,
     * window (i, j) at rows 2i, 2i+1 and columns 2j, 2j+1 */
    void (*plane2)(real *o, int32_t *ix, const real *x, int Ho, int Wo, int W);
    /* d [H, W] = the plane's gradient g [Po, Qo] masked by keep > 0, at
     * ix; 1 (d not made) when an index is not in its own window */
    int (*unpool2)(real *d, const real *g, const int32_t *ix, const real *keep, int H, int W, int Po, int Qo);
} pool_kern;

KERN_TABLES(pool)

/* ---- GELU (kernels in simd/gelu.c, entry points in gelu.c) ------------- */
typedef struct {
    void (*fwd)(real *out, const real *x, size_t n);
    void (*bwd)(real *dx, const real *dout, const real *x, size_t n);
} gelu_kern;

KERN_TABLES(gelu)

/* ---- norms (kernels in simd/norm.c, drivers in norm.c) ------------------ */
/* one contiguous stretch of n elements; sums in double */
typedef struct {
    double (*sum)(const real *x, size_t n);
    double (*sqdev)(const real *x, size_t n, double mean);                      /* sum (x - mean)^2 */
    void (*map)(real *o, const real *x, size_t n, double mean, double scale, double shift);
    void (*dsums)(const real *x, const real *dy, size_t n, double mean, double inv, double *s); /* s[2] */
    void (*dxmap)(real *dx, const real *dy, const real *x, size_t n, double a, double k1, double mean,
                  double k2);
} norm_kern;

KERN_TABLES(norm)

#endif
