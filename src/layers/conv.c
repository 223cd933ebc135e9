/* conv.c — convolution, naive (direct loops, as the original) beside the fast
 * path.
 *
 * Fast path, per sample n and per chunk of output pixels [p0, p0+cp):
 *   xpad  [C, Hp, Wp]   zero-padded copy of x[n] (built once per sample)
 *   col   [K, cp]       the chunk's columns, K = C*HH*WW (row k = tap c,kh,kw)
 *   forward   out[n][f][p] = b[f] + sum_k w[f][k] col[k][p]        (tile GEMM)
 *   dw        dw[f][k]    += sum_p dout[n][f][p] col[k][p]          (tile dots)
 *   dx        dcol[k][p]   = sum_f w[f][k] dout[n][f][p]; col2im into a zeroed
 *             xpad, whose interior is dx[n] (one sample stays in one thread)
 * For stride 1 with W' a multiple of the vector length the columns are not
 * built: the kernels read (and, for dx, add into) xpad in place through a
 * table of tap offsets (see tile_body). Otherwise col is an im2col buffer.
 * Work items (sample, chunk) are taken by OpenMP threads dynamically, each
 * thread with its own buffers in one CN_WS_IM2COL workspace. dw/db go through
 * fixed groups of items whose sums are added in order, so results are
 * bit-identical from run to run for a given thread count. The inner kernels are
 * register-tiled loops on GCC vector types, compiled for AVX-512, AVX2+FMA
 * and baseline x86-64 and picked at run time (CN_SIMD=avx2|generic caps the
 * choice, for testing). */
#include "real.h"
#include <limits.h>
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- shapes -------------------------------------------------------------- */
static int check_conv(cn_ctx *ctx, const cn_conv_shape *s, int *Ho, int *Wo) {
    int rc = cn_conv_out(ctx, s, Ho, Wo);
    if (rc) return rc;
    if ((size_t)s->C * s->HH * s->WW > INT_MAX / 64)
        return CN_ERR(ctx, CN_EINVAL, "conv: C*HH*WW = %d*%d*%d is too large", s->C, s->HH, s->WW);
    return CN_OK;
}

#define X_AT(x, s, n, c, h, w) (x)[(((size_t)(n) * (s)->C + (c)) * (s)->H + (h)) * (s)->W + (w)]
#define W_AT(w, s, f, c, kh, kw) (w)[(((size_t)(f) * (s)->C + (c)) * (s)->HH + (kh)) * (s)->WW + (kw)]

/* ---- naive: the original's direct loops ------------------------------------ */
/* out[N,F,H',W'] = sum over c,kh,kw of x_pad[n,c,i*st+kh,j*st+kw] w[f,c,kh,kw] + b[f] */
int FN(cn_conv_forward_naive)(cn_ctx *ctx, real *out, const real *x, const real *w,
                              const real *b, const cn_conv_shape *s) {
    int Ho, Wo;
    int rc = check_conv(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    for (int n = 0; n < s->N; n++)
        for (int f = 0; f < s->F; f++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    real acc = b[f];
                    for (int c = 0; c < s->C; c++)
                        for (int kh = 0; kh < s->HH; kh++) {
                            int h = i * s->stride - s->pad + kh;
                            if (h < 0 || h >= s->H) continue; /* zero padding */
                            for (int kw = 0; kw < s->WW; kw++) {
                                int ww = j * s->stride - s->pad + kw;
                                if (ww < 0 || ww >= s->W) continue;
                                acc += X_AT(x, s, n, c, h, ww) * W_AT(w, s, f, c, kh, kw);
                            }
                        }
                    out[(((size_t)n * s->F + f) * Ho + i) * Wo + j] = acc;
                }
    return CN_OK;
}

/* dx[N,C,H,W] (NULL: skip), dw[F,C,HH,WW], db[F] from dout[N,F,H',W'] */
int FN(cn_conv_backward_naive)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                               const real *x, const real *w, const cn_conv_shape *s) {
    int Ho, Wo;
    int rc = check_conv(ctx, s, &Ho, &Wo);
    if (rc) return rc;
    if (dx) memset(dx, 0, sizeof(real) * (size_t)s->N * s->C * s->H * s->W);
    if (dw) memset(dw, 0, sizeof(real) * (size_t)s->F * s->C * s->HH * s->WW);
    if (db) memset(db, 0, sizeof(real) * (size_t)s->F);
    for (int n = 0; n < s->N; n++)
        for (int f = 0; f < s->F; f++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    real d = dout[(((size_t)n * s->F + f) * Ho + i) * Wo + j];
                    if (db) db[f] += d;
                    for (int c = 0; c < s->C; c++)
                        for (int kh = 0; kh < s->HH; kh++) {
                            int h = i * s->stride - s->pad + kh;
                            if (h < 0 || h >= s->H) continue;
                            for (int kw = 0; kw < s->WW; kw++) {
                                int ww = j * s->stride - s->pad + kw;
                                if (ww < 0 || ww >= s->W) continue;
                                if (dw) W_AT(dw, s, f, c, kh, kw) += X_AT(x, s, n, c, h, ww) * d;
                                if (dx) X_AT(dx, s, n, c, h, ww) += W_AT(w, s, f, c, kh, kw) * d;
                            }
                        }
                }
    return CN_OK;
}

/* ---- fast path: SIMD kernels ------------------------------------------------ */
#define VBYTES 64
#define VL ((int)(VBYTES / sizeof(real))) /* lanes of one vreal */
typedef real vreal __attribute__((vector_size(VBYTES)));
#ifdef CN_REAL_F64
typedef int64_t vmask __attribute__((vector_size(VBYTES)));
#else
typedef int32_t vmask __attribute__((vector_size(VBYTES)));
#endif
/* unaligned load/store (memcpy keeps it free of aliasing questions) */
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(vreal))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(vreal))
#define INLINE static inline __attribute__((always_inline))
/* the largest register tiles (arrays have fixed sizes so they live in registers) */
#define MR_MAX 8
#define NV_MAX 3
#define DF_MAX 4
#define DK_MAX 6

/* Column data (K rows: taps c,kh,kw; columns: output pixels) is addressed
 * one of two ways:
 *   explicit: im2col rows, col[k*ld + q];
 *   implicit: in place in the padded input, xpad[off[k] + vb[q/VL] + q%VL],
 *     with off[k] = (c*Hp + kh)*Wp + kw and vb[v] = i*Wp + j the first pixel
 *     (i, j) of column vector v. Valid for stride 1 when W' is a multiple of
 *     VL (a vector never straddles two output rows): no im2col, no col2im.
 * GEMM modes: MODE_NN  C = A B, all explicit;
 *             MODE_IMB C = A B with B implicit (forward: B = columns);
 *             MODE_IMC C += A B scattered into implicit C (dx: C = xpad,
 *                      rows = taps; the adjoint of im2col, fused). */
enum { MODE_NN = 0, MODE_IMB = 1, MODE_IMC = 2 };

/* One register tile of A[M, Kr] B[Kr, ncols] (+ init) into C:
 * rows r < mr (<= MR; missing rows repeat the last one and are not stored),
 * NV vectors of columns. A(r, k) = A[r*ars + k*acs]. off/vb as above: for
 * MODE_IMB they address B (off by k), for MODE_IMC they address C (off by
 * row); vb holds this tile's NV vector bases. init: bias[r] if bias, else 0.
 * relu: max(c, 0) before the store. */
INLINE void tile_body(const int MODE, const int MR, const int NV, int mr, int Kr, const real *A,
                      ptrdiff_t ars, ptrdiff_t acs, const real *B, ptrdiff_t ldb, const int *off,
                      const int *vb, real *C, ptrdiff_t ldc, const real *bias, int relu) {
    vreal acc[MR_MAX][NV_MAX]; /* fixed sizes: MR, NV are constants after inlining */
    const real *a[MR_MAX];
    ptrdiff_t vo[NV_MAX];
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) vo[v] = MODE == MODE_IMB ? vb[v] : v * VL;
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        int rr = r < mr ? r : mr - 1;
        a[r] = A + rr * ars;
        real b0 = bias ? bias[rr] : 0;
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = (vreal){0} + b0;
    }
    for (int k = 0; k < Kr; k++) {
        const real *brow = MODE == MODE_IMB ? B + off[k] : B + k * ldb;
        vreal bv[NV_MAX];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) VLOAD(bv[v], brow + vo[v]);
        ptrdiff_t ko = k * acs;
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            real ar = a[r][ko];
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) acc[r][v] += ar * bv[v];
        }
    }
    if (relu) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) {
                vmask m = acc[r][v] > (vreal){0};
                acc[r][v] = (vreal)((vmask)acc[r][v] & m);
            }
    }
    if (MODE == MODE_IMC) { /* rows in order: overlapping taps add up */
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
            if (r < mr)
#pragma GCC unroll 16
                for (int v = 0; v < NV; v++) {
                    real *cp = C + off[r] + vb[v];
                    vreal old;
                    VLOAD(old, cp);
                    old += acc[r][v];
                    VSTORE(cp, old);
                }
        return;
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        if (r < mr)
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) VSTORE(C + r * ldc + v * VL, acc[r][v]);
}

/* C[M, ncols] = A B (+ bias, relu); ncols a multiple of VL. */
INLINE void gemm_body(const int MODE, const int MR, const int NV, int M, int ncols, int Kr,
                      const real *A, ptrdiff_t ars, ptrdiff_t acs, const real *B, ptrdiff_t ldb,
                      const int *off, const int *vb, real *C, ptrdiff_t ldc, const real *bias,
                      int relu) {
    int nvec = ncols / VL;
    for (int v0 = 0; v0 < nvec; v0 += NV) {
        int nv = nvec - v0 < NV ? nvec - v0 : NV;
        const real *bb = MODE == MODE_IMB ? B : B + v0 * VL;
        const int *vbb = MODE != MODE_NN ? vb + v0 : NULL;
        for (int m0 = 0; m0 < M; m0 += MR) {
            int mr = M - m0 < MR ? M - m0 : MR;
            const real *a = A + m0 * ars, *bi = bias ? bias + m0 : NULL;
            real *c = MODE == MODE_IMC ? C : C + m0 * ldc + v0 * VL;
            const int *o = MODE == MODE_IMC ? off + m0 : off;
            if (nv == NV)
                tile_body(MODE, MR, NV, mr, Kr, a, ars, acs, bb, ldb, o, vbb, c, ldc, bi, relu);
            else if (nv == 2)
                tile_body(MODE, MR, 2, mr, Kr, a, ars, acs, bb, ldb, o, vbb, c, ldc, bi, relu);
            else
                tile_body(MODE, MR, 1, mr, Kr, a, ars, acs, bb, ldb, o, vbb, c, ldc, bi, relu);
        }
    }
}

/* One tile of dots: for f < fr (<= DF), k < kr (<= DK):
 *   sum_q G[f][q] X(k, q) over q < len (len a multiple of VL) plus scalar q
 *   in [len, len+tail) (explicit only), added to part: vector partials
 *   part[(f*ldp + k)*VL + lane] when vpart, else scalar part[f*ldp + k].
 *   X(k, q) is explicit X[k*ldx + q] or implicit X[off[k] + vb[q/VL] + q%VL]. */
INLINE void dot_body(const int IMPL, const int DF, const int DK, int fr, int kr, int len,
                     int tail, const real *G, ptrdiff_t ldg, const real *X, ptrdiff_t ldx,
                     const int *off, const int *vb, real *part, ptrdiff_t ldp, int vpart) {
    vreal acc[DF_MAX][DK_MAX];
    const real *g[DF_MAX], *xr[DK_MAX];
#pragma GCC unroll 16
    for (int f = 0; f < DF; f++) g[f] = G + (f < fr ? f : fr - 1) * ldg;
#pragma GCC unroll 16
    for (int k = 0; k < DK; k++) {
        int kk = k < kr ? k : kr - 1;
        xr[k] = IMPL ? X + off[kk] : X + kk * ldx;
    }
#pragma GCC unroll 16
    for (int f = 0; f < DF; f++)
#pragma GCC unroll 16
        for (int k = 0; k < DK; k++) acc[f][k] = (vreal){0};
    for (int q = 0; q < len; q += VL) {
        ptrdiff_t xo = IMPL ? vb[q / VL] : q;
        vreal gv[DF_MAX];
#pragma GCC unroll 16
        for (int f = 0; f < DF; f++) VLOAD(gv[f], g[f] + q);
#pragma GCC unroll 16
        for (int k = 0; k < DK; k++) {
            vreal xv;
            VLOAD(xv, xr[k] + xo);
#pragma GCC unroll 16
            for (int f = 0; f < DF; f++) acc[f][k] += gv[f] * xv;
        }
    }
#pragma GCC unroll 16
    for (int f = 0; f < DF; f++)
#pragma GCC unroll 16
        for (int k = 0; k < DK; k++) {
            if (f >= fr || k >= kr) continue;
            real t = 0;
            if (!IMPL)
                for (int q = len; q < len + tail; q++) t += g[f][q] * xr[k][q];
            if (vpart) {
                real *pp = part + (f * ldp + k) * VL;
                vreal old;
                VLOAD(old, pp);
                old += acc[f][k];
                old[0] += t;
                VSTORE(pp, old);
            } else {
                real sum = t;
                for (int l = 0; l < VL; l++) sum += acc[f][k][l];
                part[f * ldp + k] += sum;
            }
        }
}

/* part[F,K(,VL)] += G[F, n] X[K, n]^T, n = len + tail columns. */
INLINE void dw_body(const int IMPL, const int DF, const int DK, int F, int K, int len, int tail,
                    const real *G, ptrdiff_t ldg, const real *X, ptrdiff_t ldx, const int *off,
                    const int *vb, real *part, int vpart) {
    for (int f0 = 0; f0 < F; f0 += DF) {
        int fr = F - f0 < DF ? F - f0 : DF;
        for (int k0 = 0; k0 < K; k0 += DK) {
            int kr = K - k0 < DK ? K - k0 : DK;
            dot_body(IMPL, DF, DK, fr, kr, len, tail, G + f0 * ldg, ldg,
                     IMPL ? X : X + k0 * ldx, ldx, IMPL ? off + k0 : NULL, vb,
                     part + (vpart ? (f0 * (ptrdiff_t)K + k0) * VL : f0 * (ptrdiff_t)K + k0), K,
                     vpart);
        }
    }
}

/* sums[r] += sum_p G[r][p], p < n (vector accumulators, then the lanes) */
INLINE void rowsum_body(int R, int n, const real *G, ptrdiff_t ldg, real *sums) {
    for (int r = 0; r < R; r++) {
        const real *g = G + r * ldg;
        vreal a0 = {0}, a1 = {0};
        int p = 0;
        for (; p + 2 * VL <= n; p += 2 * VL) {
            vreal u, v;
            VLOAD(u, g + p);
            VLOAD(v, g + p + VL);
            a0 += u;
            a1 += v;
        }
        a0 += a1;
        real t = 0;
        for (; p < n; p++) t += g[p];
        for (int l = 0; l < VL; l++) t += a0[l];
        sums[r] += t;
    }
}

/* Row segment copy/add of n elements, src stride st (dst contiguous). */
INLINE void copy_seg(real *dst, const real *src, int n, int st) {
    int t = 0;
    if (st == 1)
        for (; t + VL <= n; t += VL) {
            vreal v;
            VLOAD(v, src + t);
            VSTORE(dst + t, v);
        }
    for (; t < n; t++) dst[t] = src[(ptrdiff_t)t * st];
}
INLINE void add_seg(real *dst, const real *src, int n, int st) {
    int t = 0;
    if (st == 1)
        for (; t + VL <= n; t += VL) {
            vreal v, u;
            VLOAD(v, src + t);
            VLOAD(u, dst + t);
            u += v;
            VSTORE(dst + t, u);
        }
    for (; t < n; t++) dst[(ptrdiff_t)t * st] += src[t];
}

/* Geometry shared by im2col/col2im. */
typedef struct {
    int C, HH, WW, Hp, Wp, Ho, Wo, st;
} geo;

/* col[K, ldc]: col[k][q] = xpad[c][(i*st+kh)][j*st+kw] for output pixel
 * p0+q = (i, j), q < n; columns [n, ldc) are zeroed. */
INLINE void im2col_body(real *col, ptrdiff_t ldc, const real *xpad, const geo *g, int p0, int n) {
    int k = 0;
    for (int c = 0; c < g->C; c++)
        for (int kh = 0; kh < g->HH; kh++)
            for (int kw = 0; kw < g->WW; kw++, k++) {
                real *row = col + k * ldc;
                const real *xc = xpad + ((ptrdiff_t)c * g->Hp + kh) * g->Wp + kw;
                int i = p0 / g->Wo, j = p0 % g->Wo, q = 0;
                while (q < n) {
                    int seg = g->Wo - j < n - q ? g->Wo - j : n - q;
                    copy_seg(row + q, xc + ((ptrdiff_t)i * g->Wp + j) * g->st, seg, g->st);
                    q += seg;
                    j = 0;
                    i++;
                }
                for (; q < ldc; q++) row[q] = 0;
            }
}

/* xpad[c][i*st+kh][j*st+kw] += col[k][q] (the adjoint of im2col_body). */
INLINE void col2im_body(real *xpad, const real *col, ptrdiff_t ldc, const geo *g, int p0, int n) {
    int k = 0;
    for (int c = 0; c < g->C; c++)
        for (int kh = 0; kh < g->HH; kh++)
            for (int kw = 0; kw < g->WW; kw++, k++) {
                const real *row = col + k * ldc;
                real *xc = xpad + ((ptrdiff_t)c * g->Hp + kh) * g->Wp + kw;
                int i = p0 / g->Wo, j = p0 % g->Wo, q = 0;
                while (q < n) {
                    int seg = g->Wo - j < n - q ? g->Wo - j : n - q;
                    add_seg(xc + ((ptrdiff_t)i * g->Wp + j) * g->st, row + q, seg, g->st);
                    q += seg;
                    j = 0;
                    i++;
                }
            }
}

/* The kernels, compiled once per instruction set. Tiles: AVX-512 has 32
 * vector registers (8x3 GEMM tile, 4x6 dots); AVX2 16 registers of half a
 * vreal; SSE2 16 registers of a quarter. */
#define GEMM_ARGS                                                                          \
    int mode, int M, int ncols, int Kr, const real *A, ptrdiff_t ars, ptrdiff_t acs,      \
        const real *B, ptrdiff_t ldb, const int *off, const int *vb, real *C, ptrdiff_t ldc, \
        const real *bias, int relu
#define GEMM_PASS M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu
#define DW_ARGS                                                                            \
    int F, int K, int len, int tail, const real *G, ptrdiff_t ldg, const real *X,         \
        ptrdiff_t ldx, const int *off, const int *vb, real *part, int vpart
#define DW_PASS F, K, len, tail, G, ldg, X, ldx, off, vb, part, vpart

typedef struct {
    void (*gemm)(GEMM_ARGS);
    void (*dw)(DW_ARGS);
    void (*rowsum)(int R, int n, const real *G, ptrdiff_t ldg, real *sums);
    void (*im2col)(real *col, ptrdiff_t ldc, const real *xpad, const geo *g, int p0, int n);
    void (*col2im)(real *xpad, const real *col, ptrdiff_t ldc, const geo *g, int p0, int n);
} kernels;

#define DEFINE_KERNELS(SFX, ATTR, MR, NV, DF, DK)                                           \
    ATTR static void gemm_##SFX(GEMM_ARGS) {                                                 \
        if (mode == MODE_IMB) gemm_body(MODE_IMB, MR, NV, GEMM_PASS);                        \
        else if (mode == MODE_IMC) gemm_body(MODE_IMC, MR, NV, GEMM_PASS);                   \
        else gemm_body(MODE_NN, MR, NV, GEMM_PASS);                                          \
    }                                                                                        \
    ATTR static void dw_##SFX(DW_ARGS) {                                                     \
        if (off) dw_body(1, DF, DK, DW_PASS);                                                \
        else dw_body(0, DF, DK, DW_PASS);                                                    \
    }                                                                                        \
    ATTR static void rowsum_##SFX(int R, int n, const real *G, ptrdiff_t ldg, real *sums) {  \
        rowsum_body(R, n, G, ldg, sums);                                                     \
    }                                                                                        \
    ATTR static void im2col_##SFX(real *col, ptrdiff_t ldc, const real *xpad, const geo *g, \
                                  int p0, int n) {                                           \
        im2col_body(col, ldc, xpad, g, p0, n);                                               \
    }                                                                                        \
    ATTR static void col2im_##SFX(real *xpad, const real *col, ptrdiff_t ldc, const geo *g, \
                                  int p0, int n) {                                           \
        col2im_body(xpad, col, ldc, g, p0, n);                                               \
    }                                                                                        \
    static const kernels kern_##SFX = {gemm_##SFX, dw_##SFX, rowsum_##SFX, im2col_##SFX,     \
                                       col2im_##SFX};

DEFINE_KERNELS(generic, , 2, 1, 1, 2)
#if defined(__x86_64__) && defined(__GNUC__)
DEFINE_KERNELS(avx2, __attribute__((target("avx2,fma"))), 6, 1, 2, 3)
DEFINE_KERNELS(avx512, __attribute__((target("avx512f"))), 8, 3, 4, 6)
#endif

static const kernels *pick_kernels(void) {
    int lvl = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) lvl = 2;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) lvl = 1;
#endif
    const char *cap = getenv("CN_SIMD"); /* a cap for testing the other paths */
    if (cap && !strcmp(cap, "generic")) lvl = 0;
    else if (cap && !strcmp(cap, "avx2") && lvl > 1) lvl = 1;
#if defined(__x86_64__) && defined(__GNUC__)
    if (lvl == 2) return &kern_avx512;
    if (lvl == 1) return &kern_avx2;
#endif
    return &kern_generic;
}

/* ---- fast path: plan and workspace ---------------------------------------- */
#define COL_BYTES ((size_t)1 << 20)        /* per-thread column chunk: about L2 */
#define VPART_BYTES ((size_t)8 << 20)      /* per-thread vector dw partials, at most */
#define WS_MAX_BYTES ((size_t)1 << 30)     /* whole workspace, at most */

/* Workspace (CN_WS_IM2COL): off[K] (ints, shared), then per thread
 * xpad | col | tile | part | vb; sizes in reals, each a multiple of 16. */
typedef struct {
    int Ho, Wo, Hp, Wp, P, K;
    int cp, nch, nt, vpart;
    int ldt;           /* row stride of tile: cp + VL, so rows do not alias in L1 */
    int implicit;      /* columns read straight from xpad (see tile_body) */
    size_t shared_sz, xpad_sz, col_sz, tile_sz, part_sz, vb_sz, per_thread;
    real *ws;
    int *off;          /* [K] implicit tap offsets into xpad, or NULL */
    int groups;        /* backward: dw/db item groups (2 per thread) */
    real *gsum;        /* backward: [groups, F*K + F] group sums */
    geo g;
    const kernels *kern;
} conv_plan;

enum { PLAN_FORWARD, PLAN_BACKWARD, PLAN_BACKWARD_DX };

/* this thread's buffers */
typedef struct {
    real *xpad, *col, *tile, *part;
    int *vb;
} thr_bufs;

static thr_bufs thr(const conv_plan *pl, int t) {
    real *b = pl->ws + pl->shared_sz + (size_t)t * pl->per_thread;
    thr_bufs r;
    r.xpad = b;
    r.col = r.xpad + pl->xpad_sz;
    r.tile = r.col + pl->col_sz;
    r.part = r.tile + pl->tile_sz;
    r.vb = (int *)(r.part + pl->part_sz);
    return r;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static int make_plan(cn_ctx *ctx, const cn_conv_shape *s, int mode, conv_plan *pl) {
    const int backward = mode != PLAN_FORWARD;
    int rc = check_conv(ctx, s, &pl->Ho, &pl->Wo);
    if (rc) return rc;
    pl->Hp = s->H + 2 * s->pad;
    pl->Wp = s->W + 2 * s->pad;
    pl->P = pl->Ho * pl->Wo;
    pl->K = s->C * s->HH * s->WW;
    int nt = cn__nt(ctx);
    if (nt < 1) nt = 1;
    /* chunk: a multiple of 3*VL columns whose im2col fits COL_BYTES */
    const int CB = 3 * VL;
    size_t cpmax = COL_BYTES / ((size_t)pl->K * sizeof(real)) / CB * CB;
    if (cpmax < (size_t)CB) cpmax = CB;
    size_t Pr = ((size_t)pl->P + VL - 1) / VL * VL;
    size_t nch = (Pr + cpmax - 1) / cpmax;
    if ((size_t)s->N * nch < 2 * (size_t)nt) { /* too few items: split samples further */
        size_t want = (2 * (size_t)nt + s->N - 1) / s->N, most = (Pr + CB - 1) / CB;
        if (want > most) want = most;
        if (want > nch) nch = want;
    }
    size_t cp = ((pl->P + nch - 1) / nch + VL - 1) / VL * VL;
    pl->cp = (int)cp;
    pl->nch = (int)((pl->P + cp - 1) / cp);
    size_t items = (size_t)s->N * pl->nch;
    pl->nt = items < (size_t)nt ? (int)items : nt;
    pl->implicit = s->stride == 1 && pl->Wo % VL == 0;
    pl->shared_sz = pl->implicit ? round16(pl->K) : 0; /* K ints fit in K reals */
    pl->groups = items < 2 * (size_t)pl->nt ? (int)items : 2 * pl->nt;
    size_t gsum_off = pl->shared_sz;
    if (backward) pl->shared_sz += round16(cn__mul(pl->groups, (size_t)s->F * pl->K + s->F));
    pl->xpad_sz = round16(cn__mul(cn__mul(s->C, pl->Hp), pl->Wp) + VL);
    pl->col_sz = pl->implicit ? 0 : round16((size_t)pl->K * cp); /* im2col / dcol */
    pl->vb_sz = pl->implicit ? round16(cp / VL) : 0;
    pl->ldt = (int)cp + VL;
    pl->tile_sz = round16(cn__mul(s->F, cp + VL));
    size_t fk = (size_t)s->F * pl->K;
    pl->vpart = backward && fk * VL * sizeof(real) <= VPART_BYTES;
    pl->part_sz = backward ? round16((pl->vpart ? fk * VL : fk) + s->F) : 0;
    size_t per = pl->xpad_sz + pl->col_sz + pl->tile_sz + pl->part_sz + pl->vb_sz;
    size_t bytes = cn__mul(cn__mul(per, pl->nt) + pl->shared_sz, sizeof(real));
    if (pl->xpad_sz < (size_t)VL || bytes == 0 || bytes > WS_MAX_BYTES)
        return CN_ERR(ctx, CN_ENOMEM,
                      "conv: workspace for x (%d,%d,%d,%d) w (%d,%d,%d,%d) would exceed %zu MB",
                      s->N, s->C, s->H, s->W, s->F, s->C, s->HH, s->WW, WS_MAX_BYTES >> 20);
    pl->per_thread = per;
    pl->ws = cn__ws(ctx, CN_WS_IM2COL, bytes);
    if (!pl->ws) return CN_ENOMEM;
    pl->g = (geo){s->C, s->HH, s->WW, pl->Hp, pl->Wp, pl->Ho, pl->Wo, s->stride};
    pl->kern = pick_kernels();
    pl->gsum = backward ? pl->ws + gsum_off : NULL;
    pl->off = NULL;
    if (pl->implicit) {
        pl->off = (int *)pl->ws;
        int k = 0;
        for (int c = 0; c < s->C; c++)
            for (int kh = 0; kh < s->HH; kh++)
                for (int kw = 0; kw < s->WW; kw++) pl->off[k++] = (c * pl->Hp + kh) * pl->Wp + kw;
    }
    return CN_OK;
}

/* Prepare the columns of output pixels [p0, p0+len) of a sample whose
 * padded input is in t->xpad: im2col into t->col, or (implicit) the vector
 * bases t->vb. Returns the column source for the kernels. */
static const real *columns(const conv_plan *pl, const thr_bufs *t, int p0, int len) {
    if (!pl->implicit) {
        pl->kern->im2col(t->col, pl->cp, t->xpad, &pl->g, p0, len);
        return t->col;
    }
    for (int v = 0; v * VL < len; v++) {
        int p = p0 + v * VL;
        t->vb[v] = (p / pl->Wo) * pl->Wp + p % pl->Wo;
    }
    return t->xpad;
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* xpad[C, Hp, Wp] = x[n] with `pad` zeros around each plane (+ VL zeros after). */
static void pad_sample(real *xpad, const real *xn, const cn_conv_shape *s, int Hp, int Wp) {
    int p = s->pad;
    for (int c = 0; c < s->C; c++) {
        real *dst = xpad + (size_t)c * Hp * Wp;
        const real *src = xn + (size_t)c * s->H * s->W;
        memset(dst, 0, sizeof(real) * (size_t)p * Wp);
        for (int h = 0; h < s->H; h++) {
            real *row = dst + (size_t)(h + p) * Wp;
            for (int t = 0; t < p; t++) row[t] = 0;
            memcpy(row + p, src + (size_t)h * s->W, sizeof(real) * s->W);
            for (int t = p + s->W; t < Wp; t++) row[t] = 0;
        }
        memset(dst + (size_t)(p + s->H) * Wp, 0, sizeof(real) * (size_t)p * Wp);
    }
    memset(xpad + (size_t)s->C * Hp * Wp, 0, sizeof(real) * VL);
}

/* tile[F, ldt] = the chunk [p0, p0+len) of dout[n] ([F, P]), zero-padded to
 * cp columns: a copy with a row stride that does not alias in L1 (dout rows
 * are P apart, often a multiple of 4 KB). */
static const real *copy_chunk(const conv_plan *pl, real *tile, const real *dn, int F, int p0,
                              int len) {
    for (int f = 0; f < F; f++) {
        real *row = tile + (size_t)f * pl->ldt;
        memcpy(row, dn + (size_t)f * pl->P + p0, sizeof(real) * len);
        for (int q = len; q < pl->cp; q++) row[q] = 0;
    }
    return tile;
}

/* out = conv(x) (+ relu when relu != 0). Shared by cn_conv_forward and the
 * conv-relu sandwiches (declared in sandwich.c). */
int FN(cn__conv_forward_act)(cn_ctx *ctx, real *out, const real *x, const real *w,
                             const real *b, const cn_conv_shape *s, int relu) {
    conv_plan pl;
    int rc = make_plan(ctx, s, PLAN_FORWARD, &pl);
    if (rc) return rc;
    const int F = s->F, K = pl.K, P = pl.P, cp = pl.cp, nch = pl.nch;
    const int direct = P % cp == 0; /* every chunk full: write out in place */
    const int mode = pl.implicit ? MODE_IMB : MODE_NN;
    const long items = (long)s->N * nch;
#pragma omp parallel num_threads(pl.nt)
    {
        thr_bufs t = thr(&pl, thread_id());
        int have = -1; /* sample now in xpad */
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < items; it++) {
            int n = (int)(it / nch), p0 = (int)(it % nch) * cp;
            int len = P - p0 < cp ? P - p0 : cp, ncols = (len + VL - 1) / VL * VL;
            if (n != have) {
                pad_sample(t.xpad, x + (size_t)n * s->C * s->H * s->W, s, pl.Hp, pl.Wp);
                have = n;
            }
            const real *B = columns(&pl, &t, p0, len);
            real *on = out + (size_t)n * F * P + p0; /* [F, P] at column p0 */
            if (direct) {
                pl.kern->gemm(mode, F, ncols, K, w, K, 1, B, cp, pl.off, t.vb, on, P, b, relu);
            } else {
                pl.kern->gemm(mode, F, ncols, K, w, K, 1, B, cp, pl.off, t.vb, t.tile, pl.ldt, b,
                              relu);
                for (int f = 0; f < F; f++)
                    memcpy(on + (size_t)f * P, t.tile + (size_t)f * pl.ldt, sizeof(real) * len);
            }
        }
    }
    return CN_OK;
}

int FN(cn_conv_forward)(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b,
                        const cn_conv_shape *s) {
    return FN(cn__conv_forward_act)(ctx, out, x, w, b, s, 0);
}

int FN(cn_conv_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                         const real *x, const real *w, const cn_conv_shape *s) {
    conv_plan pl;
    int rc = make_plan(ctx, s, dx ? PLAN_BACKWARD_DX : PLAN_BACKWARD, &pl);
    if (rc) return rc;
    const int F = s->F, K = pl.K, P = pl.P, cp = pl.cp, nch = pl.nch;
    const size_t xs = (size_t)s->C * s->H * s->W; /* one sample of x */
    const long items = (long)s->N * nch;
    const int nt = pl.nt, vpart = pl.vpart;
    const size_t fk = (size_t)F * K, dbo = vpart ? fk * VL : fk; /* db after dw in part */

    /* dw, db: the items are cut into `groups` fixed ranges, taken by the
     * threads dynamically (a thread that loses its core to another process
     * does not hold the others up). A group sums into its thread's partials,
     * then folds them into its own row of gsum; the rows are added in order,
     * so the result does not depend on which thread ran which group. */
    if (dw || db) {
        const int groups = pl.groups;
        real *gsum = pl.gsum; /* [groups, F*K + F] */
#pragma omp parallel num_threads(nt)
        {
            thr_bufs t = thr(&pl, thread_id());
            int have = -1;
#pragma omp for schedule(dynamic, 1)
            for (int gi = 0; gi < groups; gi++) {
                memset(t.part, 0, sizeof(real) * pl.part_sz);
                long i0 = items * gi / groups, i1 = items * (gi + 1) / groups;
                for (long it = i0; it < i1; it++) {
                    int n = (int)(it / nch), p0 = (int)(it % nch) * cp;
                    int len = P - p0 < cp ? P - p0 : cp;
                    const real *g = dout + (size_t)n * F * P + p0; /* [F, P] at column p0 */
                    if (dw) {
                        if (n != have) {
                            pad_sample(t.xpad, x + n * xs, s, pl.Hp, pl.Wp);
                            have = n;
                        }
                        const real *X = columns(&pl, &t, p0, len);
                        int lv = len / VL * VL; /* implicit: lv == len */
                        pl.kern->dw(F, K, lv, len - lv, g, P, X, cp, pl.off, t.vb, t.part, vpart);
                    }
                    if (db) pl.kern->rowsum(F, len, g, P, t.part + dbo);
                }
                real *row = gsum + (size_t)gi * (fk + F);
                if (dw)
                    for (size_t q = 0; q < fk; q++) {
                        real v = 0;
                        if (vpart)
                            for (int l = 0; l < VL; l++) v += t.part[q * VL + l];
                        else
                            v = t.part[q];
                        row[q] = v;
                    }
                if (db) memcpy(row + fk, t.part + dbo, sizeof(real) * F);
            }
        }
        for (int gi = 0; gi < groups; gi++) { /* fixed order */
            const real *row = gsum + (size_t)gi * (fk + F);
            if (dw)
                for (size_t q = 0; q < fk; q++) dw[q] = gi ? dw[q] + row[q] : row[q];
            if (db)
                for (int f = 0; f < F; f++) db[f] = gi ? db[f] + row[fk + f] : row[fk + f];
        }
    }

    /* dx: per sample (col2im of one sample stays in one thread) */
    if (dx) {
        int ntx = s->N < nt ? s->N : nt;
#pragma omp parallel num_threads(ntx)
        {
            thr_bufs t = thr(&pl, thread_id());
            real *xpad = t.xpad, *dcol = t.col, *tile = t.tile;
#pragma omp for schedule(dynamic, 1)
            for (int n = 0; n < s->N; n++) {
                memset(xpad, 0, sizeof(real) * (size_t)s->C * pl.Hp * pl.Wp);
                for (int ch = 0; ch < nch; ch++) {
                    int p0 = ch * cp, len = P - p0 < cp ? P - p0 : cp;
                    /* B = the dout chunk, copied (full vectors stay in bounds, no aliasing) */
                    const real *g = copy_chunk(&pl, tile, dout + (size_t)n * F * P, F, p0, len);
                    ptrdiff_t ldg = pl.ldt;
                    /* dcol[K, cp] = w^T g, A(k, f) = w[f*K + k]; then col2im.
                     * Implicit: the tiles add into xpad directly. */
                    if (pl.implicit) {
                        columns(&pl, &t, p0, len);
                        pl.kern->gemm(MODE_IMC, K, len, F, w, 1, K, g, ldg, pl.off, t.vb, xpad,
                                      0, NULL, 0);
                    } else {
                        pl.kern->gemm(MODE_NN, K, cp, F, w, 1, K, g, ldg, NULL, NULL, dcol, cp,
                                      NULL, 0);
                        pl.kern->col2im(xpad, dcol, cp, &pl.g, p0, len);
                    }
                }
                /* the interior of xpad is dx[n] */
                for (int c = 0; c < s->C; c++)
                    for (int h = 0; h < s->H; h++)
                        memcpy(dx + n * xs + ((size_t)c * s->H + h) * s->W,
                               xpad + ((size_t)c * pl.Hp + h + s->pad) * pl.Wp + s->pad,
                               sizeof(real) * s->W);
            }
        }
    }
    return CN_OK;
}
