/* kern.h — the kernel tables the layer drivers call, one per SIMD level
 * (see simd.h). A driver asks for its context's level with
 * conv_kern_for(cn__simd(ctx)); the table says its vector length, so the
 * driver's blocking follows the level in use. Included by layer sources
 * (element type from real.h). */
#ifndef CN_KERN_H
#define CN_KERN_H
#include "real.h"
#include <stddef.h>

/* ---- conv (kernels in simd/conv.c, drivers in conv.c) ------------------- */
/* Geometry shared by im2col/col2im. */
typedef struct {
    int C, HH, WW, Hp, Wp, Ho, Wo, st;
} conv_geo;

/* GEMM modes: MODE_NN  C = A B, all explicit;
 *             MODE_IMB C = A B with B implicit (forward: B = columns);
 *             MODE_IMC C += A B scattered into implicit C (dx: C = xpad,
 *                      rows = taps; the adjoint of im2col, fused).
 * (Column addressing: see simd/conv.c.) */
enum { MODE_NN = 0, MODE_IMB = 1, MODE_IMC = 2 };

#define CONV_GEMM_ARGS                                                                     \
    int mode, int M, int ncols, int Kr, const real *A, ptrdiff_t ars, ptrdiff_t acs,      \
        const real *B, ptrdiff_t ldb, const int *off, const int *vb, real *C, ptrdiff_t ldc, \
        const real *bias, int relu
#define CONV_DW_ARGS                                                                       \
    int F, int K, int len, int tail, const real *G, ptrdiff_t ldg, const real *X,         \
        ptrdiff_t ldx, const int *off, const int *vb, real *part, int vpart

typedef struct {
    int vl;      /* lanes of one vector */
    int nv;      /* vectors of columns in the GEMM's register tile */
    /* C[M, ncols] = A B (+ bias, relu); ncols a multiple of vl */
    void (*gemm)(CONV_GEMM_ARGS);
    /* part[F,K(,vl)] += G[F, n] X[K, n]^T, n = len + tail columns */
    void (*dw)(CONV_DW_ARGS);
    /* sums[r] += sum_p G[r][p], p < n */
    void (*rowsum)(int R, int n, const real *G, ptrdiff_t ldg, real *sums);
    void (*im2col)(real *col, ptrdiff_t ldc, const real *xpad, const conv_geo *g, int p0, int n);
    void (*col2im)(real *xpad, const real *col, ptrdiff_t ldc, const conv_geo *g, int p0, int n);
} conv_kern;

extern const conv_kern FN(cn__conv_kern_generic);
#ifdef CN_X86_LEVELS
extern const conv_kern FN(cn__conv_kern_avx2), FN(cn__conv_kern_avx512);
#endif

static inline const conv_kern *conv_kern_for(int level) {
#ifdef CN_X86_LEVELS
    if (level == CN_SIMD_AVX512) return &FN(cn__conv_kern_avx512);
    if (level == CN_SIMD_AVX2) return &FN(cn__conv_kern_avx2);
#endif
    (void)level;
    return &FN(cn__conv_kern_generic);
}

#endif
