/* simd/conv.c — the convolution's kernels, compiled once per SIMD level
 * (simd.h): register-tiled GEMM (forward; dx), dw^T tiles (taps x channel
 * vectors), row sums (db), transposes, im2col and its adjoint. The drivers
 * (plan, threads, workspaces) are in ../conv.c. Register tiles per level:
 * avx512 has 32 vector registers (GEMM 8 rows x 3 vectors = 24
 * accumulators; 3 x 4 for at most 3 rows; dw^T 6x4 .. 16x1); avx2 16 (GEMM
 * 6x2 = 12, the BLIS 6x16 float tile; 3x3; dw^T 6x2, 8x1); generic (SSE2,
 * no FMA: a product and a sum per step) 16 (GEMM 3x3: 3 broadcasts a step
 * for 9 products ran 5-10% faster than 4x2's 4 for 8; 3x3; dw^T 3x3, 4x2,
 * 6x1: 3x3 ran 6% faster than 4x2). */
#include "../simd.h"
#include "../kern.h"
#include "vtrans.h"
#include "tile.h"

/* GEMM tile T_MR x T_NV; dw tiles: DWT_NV vectors of channels at most, and
 * the taps per tile for each width nv (DWT_MR(nv)), so that MR*NV fills the
 * accumulator registers. */
#if CN_SIMD_LEVEL == 2
#define T_MR 8
#define T_NV 3
#define S_NV 4
#define DWT_NV 4
#define DWT_MR(nv) ((nv) == 4 ? 6 : (nv) == 3 ? 8 : (nv) == 2 ? 12 : 16)
#elif CN_SIMD_LEVEL == 1
#define T_MR 6
#define T_NV 2
#define S_NV 3
#define DWT_NV 2
#define DWT_MR(nv) ((nv) == 2 ? 6 : 8)
#else
#define T_MR 3
#define T_NV 3
#define S_NV 3
#define DWT_NV 3
#define DWT_MR(nv) ((nv) == 3 ? 3 : (nv) == 2 ? 4 : 6)
#endif
/* the largest register tiles (arrays have fixed sizes so they live in registers) */
#define MR_MAX 8
#define NV_MAX 8
#define DWT_MR_MAX 16
#define NV_MAX_DWT 4
/* dw^T tiles by filter rows (avx512; avx2 3x3): rows per tile for filter width WW
 * and NV vectors, accumulators (ROWS*WW*NV) + NV + 1 <= 32 registers;
 * 0: the tap-by-tap tiles */
#define DWT_ACC_MAX 28
#define DWT_ROWS_MAX 16
#if CN_SIMD_LEVEL == 2
#define DWT_WW_ROWS(ww, nv)                                                               \
    ((ww) == 3 ? ((nv) == 4 ? 2 : (nv) == 3 ? 3 : (nv) == 2 ? 4 : 8)                      \
     : (ww) == 5 ? ((nv) == 4 ? 1 : (nv) == 3 ? 1 : (nv) == 2 ? 2 : 5)                    \
     : (ww) == 7 ? ((nv) == 4 ? 0 : (nv) == 3 ? 1 : (nv) == 2 ? 2 : 4) : 0)
#elif CN_SIMD_LEVEL == 1
/* 3x3 only: 2 filter rows of 3 taps by 2 vectors are the 6x2 tap tile's 12
 * accumulators, from 2 pointers instead of 6, and share a filter row
 * (dw_pixels): 3-4% faster; 5x5 rows measured no faster than taps */
#define DWT_WW_ROWS(ww, nv) ((ww) == 3 ? ((nv) == 2 ? 2 : 4) : 0)
#else
#define DWT_WW_ROWS(ww, nv) 0
#endif

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

/* The taps a tile runs: k in [s*stride + lo, s*stride + hi) for s < n, in
 * order; {1, 0, 0, Kr} is every tap. */
typedef struct {
    int n, stride, lo, hi;
} ktaps;

/* The forward's (MODE_IMB, stride 1) taps for the column vectors vb[0..nv):
 * a filter row kh whose input row is padding for every pixel of those
 * vectors (output rows i_min..i_max, in xpad's rows i + kh) adds only
 * zeros, and is skipped: per channel, the filter rows [lo, hi) with
 * pad <= i + kh < pad + H for some i. The sums of the taps run are the same
 * as with the zeros added (x + 0 == x), in the same order. (oneDNN skips
 * them too: on a 16x16 plane with a 3x3 filter they are 8% of the taps.) */
INLINE ktaps vector_taps(const conv_geo *g, int Kr, const int *vb, int nv) {
    ktaps t = {1, 0, 0, Kr};
    if (!g || g->st != 1 || g->pad == 0 || g->C * g->HH * g->WW != Kr) return t;
    int imin = vb[0] / g->Wp, imax = (vb[nv - 1] + VL - 1) / g->Wp;
    int lo = g->pad - imax, hi = g->pad + g->H - imin;
    if (lo < 0) lo = 0;
    if (hi > g->HH) hi = g->HH;
    if (lo == 0 && hi == g->HH) return t;
    if (hi < lo) hi = lo;
    return (ktaps){g->C, g->HH * g->WW, lo * g->WW, hi * g->WW};
}

/* One register tile of A[M, Kr] B[Kr, ncols] (+ init) into C:
 * rows r < mr (<= MR; missing rows repeat the last one and are not stored),
 * NV vectors of columns. A(r, k) = A[r*ars + k*acs]. off/vb as above: for
 * MODE_IMB they address B (off by k), for MODE_IMC they address C (off by
 * row); vb holds this tile's NV vector bases. init: bias[r] if bias, else 0.
 * relu: max(c, 0) before the store. */
INLINE void tile_body(const int MODE, const int MR, const int NV, int mr, ktaps kt, const real *A,
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
#define K_STEP(k)                                                              \
    do {                                                                       \
        const real *brow = MODE == MODE_IMB ? B + off[k] : B + (k) * ldb;      \
        vreal bv[NV_MAX];                                                      \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) VLOAD(bv[v], brow + vo[v]); \
        ptrdiff_t ko = (k) * acs;                                              \
        TILE_RANK1(MR, NV, acc, r, a[r][ko], bv)                               \
    } while (0)
#if CN_SIMD_LEVEL == 0
    /* generic: every tap in a loop of its own (the tiles away from the
     * padding), so that it keeps its code: through the segments' loop the
     * generic forward ran 9% slower (avx2, avx512: 1-2% faster through it) */
    if (kt.n == 1)
        for (int k = kt.lo; k < kt.hi; k++) K_STEP(k);
    else
#endif
        for (int s = 0, ks = 0; s < kt.n; s++, ks += kt.stride)
            for (int k = ks + kt.lo; k < ks + kt.hi; k++) K_STEP(k);
#undef K_STEP
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
        TILE_ADD_TO(MR, NV, mr, acc, r, v, C + off[r] + vb[v])
        return;
    }
    TILE_STORE_TO(MR, NV, mr, acc, r, v, C + r * ldc + v * VL)
}

/* C[M, ncols] = A B (+ bias, relu); ncols a multiple of VL. */
INLINE void gemm_body(const int MODE, const int MR, const int NV, int M, int ncols, int Kr,
                      const real *A, ptrdiff_t ars, ptrdiff_t acs, const real *B, ptrdiff_t ldb,
                      const int *off, const int *vb, real *C, ptrdiff_t ldc, const real *bias,
                      int relu, const conv_geo *g) {
    int nvec = ncols / VL;
    /* (forward) the vectors left over by NV-wide tiles come first: on
     * planes a vector wide (16x16 at avx512) the first row gets a tile of
     * its own, and skips its padding taps (vector_taps) */
    const int lead = MODE == MODE_IMB && g ? nvec % NV : 0;
    for (int v0 = 0, nv; v0 < nvec; v0 += nv) {
        nv = v0 == 0 && lead ? lead : nvec - v0 < NV ? nvec - v0 : NV;
        const real *bb = MODE == MODE_IMB ? B : B + v0 * VL;
        const int *vbb = MODE != MODE_NN ? vb + v0 : NULL;
        const ktaps kt = MODE == MODE_IMB ? vector_taps(g, Kr, vbb, nv) : (ktaps){1, 0, 0, Kr};
        for (int m0 = 0; m0 < M; m0 += MR) {
            int mr = M - m0 < MR ? M - m0 : MR;
            const real *a = A + m0 * ars, *bi = bias ? bias + m0 : NULL;
            real *c = MODE == MODE_IMC ? C : C + m0 * ldc + v0 * VL;
            const int *o = MODE == MODE_IMC ? off + m0 : off;
#define TILE(n) tile_body(MODE, MR, n, mr, kt, a, ars, acs, bb, ldb, o, vbb, c, ldc, bi, relu)
            TILE_WIDTHS(nv, NV)
#undef TILE
        }
    }
}

/* the next line of pf (its cursor moves on) */
static inline void pf_line(conv_pf *pf) {
    __builtin_prefetch(pf->base[pf->reg] + pf->row * pf->stride[pf->reg] + pf->at, 0, 3);
    pf->left--;
    if ((pf->at += 64) < pf->rowb[pf->reg]) return;
    pf->at = 0;
    if (++pf->row < pf->rows[pf->reg]) return;
    pf->row = 0;
    pf->reg++;
}

/* dw, transposed: C[K, nvf*VL] += A B over len output pixels, where
 *   A(k, q) = xpad[off[k] + pix[q]]   (tap k of output pixel q, read in
 *             place for any stride: pix[q] = i*st*Wp + j*st),
 *   B(q, f) = T[q*ldt + f]            (dout^T, channels padded to vectors),
 * so a register tile (taps by NV vectors of channels) sums over all len
 * pixels before it touches memory once, and needs no lane reduction.
 * The tile holds ROWS filter rows of WW taps (the taps k0 + j*WW + i,
 * i < WW, of one channel and filter row are at xp + off[k0 + j*WW] + i):
 * one pointer a filter row, the taps at constant offsets from it. WW = 1
 * is the tap-by-tap tile; at avx512 the 3-, 5- and 7-wide filters use
 * whole rows (a pointer a tap: the 12-tap tiles kept 7 of them on the
 * stack or in vector registers, a reload per broadcast). The sums are the
 * same, in the same order, for any WW. nr <= ROWS rows are stored. */
INLINE void tile_dwt(const int WW, const int ROWS, const int NV, int nr, ptrdiff_t rs, ktaps qs, const real *xp,
                     const int *off, const int *pix, const real *T, ptrdiff_t ldt, real *C, ptrdiff_t ldc,
                     int first, conv_pf *pf) {
    vreal acc[DWT_ACC_MAX][NV_MAX_DWT];
    const real *a[DWT_ROWS_MAX];
#pragma GCC unroll 16
    for (int j = 0; j < ROWS; j++) a[j] = xp + off[(j < nr ? j : nr - 1) * rs];
#pragma GCC unroll 32
    for (int r = 0; r < ROWS * WW; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = (vreal){0};
    for (int s = 0, qb = 0; s < qs.n; s++, qb += qs.stride) {
        const real *Tq = T + (ptrdiff_t)(qb + qs.lo) * ldt;
        for (int q = qb + qs.lo; q < qb + qs.hi; q++, Tq += ldt) {
            /* a line every 16 pixels: 16 at once at the tile's start
             * stalled the tile for as long as they saved */
            if (!(q & 15) && pf && pf->left > 0) pf_line(pf);
            const ptrdiff_t o = pix[q];
            vreal bv[NV_MAX_DWT];
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) VLOAD(bv[v], Tq + v * VL);
#pragma GCC unroll 16
            for (int j = 0; j < ROWS; j++) {
                const real *aj = a[j] + o;
                TILE_RANK1(WW, NV, acc + j * WW, i, aj[i], bv)
            }
        }
    }
    if (first) { /* 0 + x == x: the sums are the same as when added to zeros */
        TILE_STORE_TO(ROWS * WW, NV, nr * WW, acc, r, v, C + ((r / WW) * rs + r % WW) * ldc + v * VL)
    } else {
        TILE_ADD_TO(ROWS * WW, NV, nr * WW, acc, r, v, C + ((r / WW) * rs + r % WW) * ldc + v * VL)
    }
}

/* A dw item's pixels: ns samples of lenS pixels, len = ns * lenS in all;
 * with skip, lo[kh], hi[kh]: a sample's pixels [lo, hi) whose input rows
 * are real for filter row kh (made once an item by dw_item). */
#define DW_KH_MAX 16
typedef struct {
    int skip, HH, WW, lenS, ns, len;
    int lo[DW_KH_MAX], hi[DW_KH_MAX];
} dwpix;

/* For pixel p0 + q of a sample, output row i = (p0 + q) / Wo reads input
 * row i*st + kh - pad of filter row kh: real for the output rows with pad <=
 * i*st + kh < pad + H: lo[kh] and hi[kh] fall as kh rises, so rows
 * [kha, khb] together are real on [lo[khb], hi[kha]) (or a part of it). */
INLINE dwpix dw_item(const conv_geo *g, int p0, int len, int ns) {
    dwpix d = {0, 1, 1, len, 1, len, {0}, {0}};
    if (ns > 1) d.ns = ns, d.lenS = len / ns;
    if (!g || g->pad == 0 || g->HH > DW_KH_MAX) return d;
    d.skip = 1, d.HH = g->HH, d.WW = g->WW;
    const int st = g->st;
    for (int kh = 0; kh < g->HH; kh++) {
        const int a = g->pad - kh, b = g->pad + g->H - kh;
        int ilo = a <= 0 ? 0 : (a + st - 1) / st, ihi = b <= 0 ? 0 : (b + st - 1) / st;
        if (ihi > g->Ho) ihi = g->Ho;
        int lo = ilo * g->Wo - p0, hi = ihi * g->Wo - p0;
        lo = lo < 0 ? 0 : lo > d.lenS ? d.lenS : lo;
        hi = hi > d.lenS ? d.lenS : hi < lo ? lo : hi;
        d.lo[kh] = lo, d.hi[kh] = hi;
    }
    return d;
}

/* The pixels a dw tile runs (ktaps over q), for tile rows whose filter
 * rows kh lie in [kha, khb]: a pixel whose input row is padding for every
 * filter row of the tile adds only zeros (for finite dout), and is
 * skipped; per sample, those from the first real for khb to the last real
 * for kha. The sums of the pixels run are unchanged. */
INLINE ktaps dw_pixels(const dwpix *d, int kha, int khb) {
    if (!d->skip || (d->lo[khb] == 0 && d->hi[kha] == d->lenS)) return (ktaps){1, 0, 0, d->len};
    return (ktaps){d->ns, d->lenS, d->lo[khb], d->hi[kha]};
}
/* the same for n consecutive filter rows (c, kh) from filter row kh0 */
INLINE ktaps dw_pixels_rows(const dwpix *d, int kh0, int n) {
    return kh0 + n <= d->HH ? dw_pixels(d, kh0, kh0 + n - 1) : dw_pixels(d, 0, d->HH - 1);
}

/* every tap by NV vectors of channels, MR taps a tile (tap k0's (kh, kw)
 * in its channel kept as k0 advances) */
INLINE void dwt_rows(const int MR, const int NV, int K, const dwpix *d, const real *xp, const int *off,
                     const int *pix, const real *T, ptrdiff_t ldt, real *C, ptrdiff_t ldc, int first,
                     conv_pf *pf) {
    const int WW = d->WW, HH = d->HH;
    int kh = 0, kw = 0; /* tap k0's */
    for (int k0 = 0; k0 < K; k0 += MR) {
        const int nr = K - k0 < MR ? K - k0 : MR;
        int span = 1; /* filter rows the tile's taps touch */
        if (d->skip)
            for (int t = kw + nr - 1; t >= WW; t -= WW) span++;
        tile_dwt(1, MR, NV, nr, 1, dw_pixels_rows(d, kh, span), xp, off + k0, pix, T, ldt, C + k0 * ldc, ldc,
                 first, pf);
        if (d->skip)
            for (kw += MR; kw >= WW; kw -= WW)
                if (++kh == HH) kh = 0;
    }
}

/* every filter row by NV vectors of channels, ROWS rows a tile. With the
 * geometry, a tile's rows are first the same filter row kh of ROWS
 * channels (rows HH*WW taps apart), so that they share their padding
 * (dw_pixels); the channels left over, and every row without it, go in
 * order (the rows left over one a tile). Any grouping sums each element
 * in the same order. */
INLINE void dwt_ww(const int WW, const int ROWS, const int NV, int K, const dwpix *d, const real *xp,
                   const int *off, const int *pix, const real *T, ptrdiff_t ldt, real *C, ptrdiff_t ldc, int first,
                   conv_pf *pf) {
    const int nrows = K / WW, HH = d->HH;
    int j0 = 0;
    if (ROWS > 1 && d->skip && HH > 1 && nrows / HH >= ROWS && nrows % HH == 0) {
        const int cg = nrows / HH / ROWS * ROWS; /* channels in same-row tiles */
        const ptrdiff_t rs = (ptrdiff_t)HH * WW;
        for (int c0 = 0; c0 < cg; c0 += ROWS) /* ROWS channels' planes at a time (in cache) */
            for (int kh = 0; kh < HH; kh++) {
                const ptrdiff_t k0 = ((ptrdiff_t)c0 * HH + kh) * WW;
                tile_dwt(WW, ROWS, NV, ROWS, rs, dw_pixels(d, kh, kh), xp, off + k0, pix, T, ldt, C + k0 * ldc,
                         ldc, first, pf);
            }
        j0 = cg * HH;
    }
    int kh = 0; /* of row j0 (cg*HH rows before it) */
    for (; j0 + ROWS <= nrows; j0 += ROWS) {
        tile_dwt(WW, ROWS, NV, ROWS, WW, dw_pixels_rows(d, kh, ROWS), xp, off + j0 * WW, pix, T, ldt,
                 C + (ptrdiff_t)j0 * WW * ldc, ldc, first, pf);
        for (kh += ROWS; kh >= HH; kh -= HH) {}
    }
    for (; j0 < nrows; j0++) {
        tile_dwt(WW, 1, NV, 1, WW, dw_pixels_rows(d, kh, 1), xp, off + j0 * WW, pix, T, ldt,
                 C + (ptrdiff_t)j0 * WW * ldc, ldc, first, pf);
        if (++kh == HH) kh = 0;
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

/* d[e] += S[r*lds + e], r < R in turn: each element's sum in row order */
INLINE void addrows_body(real *d, const real *S, ptrdiff_t lds, int R, int n) {
    int e = 0;
    for (; e + VL <= n; e += VL) {
        vreal a, b;
        VLOAD(a, d + e);
        for (int r = 0; r < R; r++) {
            VLOAD(b, S + r * lds + e);
            a += b;
        }
        VSTORE(d + e, a);
    }
    for (; e < n; e++)
        for (int r = 0; r < R; r++) d[e] += S[r * lds + e];
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


/* col[K, ldc]: col[k][s*n + q] = xpad_s[c][(i*st+kh)][j*st+kw] for output
 * pixel p0+q = (i, j), q < n, of sample s < ns (xpad_s = xpad + s*xone);
 * columns [ns*n, nz) are zeroed (nz <= ldc). Stride 1 copies whole vectors:
 * a row segment's last one runs up to VL-1 past it, into columns written
 * after it (the next segment, the next sample, the zeroed end, or the next
 * row: col needs VL reals of slack after its last row) and reads at most
 * VL-1 past the segment in xpad (which has VL zeros after its planes). */
INLINE void im2col_body(real *col, ptrdiff_t ldc, const real *xpad, ptrdiff_t xone, int ns, const conv_geo *g,
                        int p0, int n, int nz) {
    int k = 0;
    for (int c = 0; c < g->C; c++)
        for (int kh = 0; kh < g->HH; kh++)
            for (int kw = 0; kw < g->WW; kw++, k++) {
                real *row = col + k * ldc;
                int q = 0;
                for (int s = 0; s < ns; s++) {
                    const real *xc = xpad + s * xone + ((ptrdiff_t)c * g->Hp + kh) * g->Wp + kw;
                    int i = p0 / g->Wo, j = p0 % g->Wo, left = n;
                    while (left > 0) {
                        int seg = g->Wo - j < left ? g->Wo - j : left;
                        const real *src = xc + ((ptrdiff_t)i * g->Wp + j) * g->st;
                        real *dst = row + q;
                        if (g->st == 1)
                            for (int t = 0; t < seg; t += VL) {
                                vreal v;
                                VLOAD(v, src + t);
                                VSTORE(dst + t, v);
                            }
                        else
                            for (int t = 0; t < seg; t++) dst[t] = src[(ptrdiff_t)t * g->st];
                        q += seg;
                        left -= seg;
                        j = 0;
                        i++;
                    }
                }
                for (; q < nz; q++) row[q] = 0;
            }
}

/* xpad[c][i*st+kh][j*st+kw] += col[k][q] (the adjoint of im2col_body). */
INLINE void col2im_body(real *xpad, const real *col, ptrdiff_t ldc, const conv_geo *g, int p0, int n) {
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


#if CN_SIMD_LEVEL == 1
/* Each tile shape in a function of its own, called from gemm_k: a tile
 * body inlined into gemm_k beside another made GCC keep the accumulators
 * in memory (2x slower). Filter counts that are multiples of 6 (24: the
 * whiten layer's output, and the input gradient of the recipe's first
 * conv, run as a forward to 24 channels) had gone to such an inlined body:
 * 40% of the AVX2 peak against 78-84% for 26 or 32 filters. */
static __attribute__((noinline)) void gemm_main(CONV_GEMM_ARGS) {
    if (mode == MODE_IMB) gemm_body(MODE_IMB, T_MR, T_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else gemm_body(MODE_NN, T_MR, T_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
}
/* M <= 4 rows: 2 x 4 or 4 x 2 (8 accumulators; 4 x 3 ran out of registers) */
static __attribute__((noinline)) void gemm_rest(CONV_GEMM_ARGS) {
    if (mode == MODE_IMB && M <= 2) gemm_body(MODE_IMB, 2, 4, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else if (mode == MODE_IMB) gemm_body(MODE_IMB, 4, 2, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else if (M <= 2) gemm_body(MODE_NN, 2, 4, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else gemm_body(MODE_NN, 4, 2, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
}
/* dx added into xpad (the adjoint of im2col) */
static __attribute__((noinline)) void gemm_imc(CONV_GEMM_ARGS) {
    gemm_body(MODE_IMC, T_MR, T_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
}
/* few rows (dx computed as a forward: rows = input channels, 3 for RGB) */
static __attribute__((noinline)) void gemm_few(CONV_GEMM_ARGS) {
    gemm_body(MODE_IMB, 3, S_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
}
static void gemm_k(CONV_GEMM_ARGS) {
    if (M <= 3 && mode == MODE_IMB) gemm_few(mode, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else if (mode == MODE_IMC) gemm_imc(mode, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else if (M < T_MR - 1) gemm_rest(mode, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else {
        /* M % 6 rows left (32 filters: 2): the last 6-row tile would cost
         * a whole one; those rows get a tile of their own (gemm_rest),
         * except 5, which 4-row tiles would make 8 (5 filters: 52% of the
         * peak on 16x16; in a 6-row tile 66%) */
        const int rem = M % T_MR == T_MR - 1 ? 0 : M % T_MR, Mf = M - rem;
        gemm_main(mode, Mf, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
        if (rem)
            gemm_rest(mode, rem, ncols, Kr, A + (ptrdiff_t)Mf * ars, ars, acs, B, ldb, off, vb, C + (ptrdiff_t)Mf * ldc,
                      ldc, bias ? bias + Mf : NULL, relu, g);
    }
}
#else
static void gemm_k(CONV_GEMM_ARGS) {
    /* few rows (dx computed as a forward: rows = input channels, 3 for RGB):
     * a tile of 3 rows and more vectors */
    if (M <= 3 && mode == MODE_IMB)
        gemm_body(MODE_IMB, 3, S_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else if (mode == MODE_IMB) gemm_body(MODE_IMB, T_MR, T_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else if (mode == MODE_IMC) gemm_body(MODE_IMC, T_MR, T_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
    else gemm_body(MODE_NN, T_MR, T_NV, M, ncols, Kr, A, ars, acs, B, ldb, off, vb, C, ldc, bias, relu, g);
}
#endif
/* by filter rows: WW and NV constants, where DWT_WW_ROWS has a tile */
#define DWT_WW_CASE(WW, NV)                                                                \
    if (ww == WW && nv == NV && DWT_WW_ROWS(WW, NV)) {                                     \
        dwt_ww(WW, DWT_WW_ROWS(WW, NV) ? DWT_WW_ROWS(WW, NV) : 1, NV, K, &d, xp, off, pix, Tv, ldt, Cv, ldc, \
               first, pf);                                                                 \
        continue;                                                                          \
    }
static void dwt_k(CONV_DWT_ARGS) {
    const dwpix d = dw_item(g, p0, len, ns);
#if CN_SIMD_LEVEL == 0
    pf = NULL; /* generic: the check a pixel cost its small tiles 4% (the 7x7 dw), more than it saved */
#endif
    for (int v0 = 0; v0 < nvf; v0 += DWT_NV) {
        const real *Tv = T + v0 * VL;
        real *Cv = C + v0 * VL;
        const int nv = nvf - v0 < DWT_NV ? nvf - v0 : DWT_NV;
#if CN_SIMD_LEVEL == 2
        DWT_WW_CASE(3, 4) DWT_WW_CASE(3, 3) DWT_WW_CASE(3, 2) DWT_WW_CASE(3, 1)
        DWT_WW_CASE(5, 4) DWT_WW_CASE(5, 3) DWT_WW_CASE(5, 2) DWT_WW_CASE(5, 1)
        DWT_WW_CASE(7, 3) DWT_WW_CASE(7, 2) DWT_WW_CASE(7, 1)
#elif CN_SIMD_LEVEL == 1
        DWT_WW_CASE(3, 2) DWT_WW_CASE(3, 1)
#else
        (void)ww;
#endif
        switch (nv) {
#if DWT_NV >= 4
        case 4: dwt_rows(DWT_MR(4), 4, K, &d, xp, off, pix, Tv, ldt, Cv, ldc, first, pf); break;
#endif
#if DWT_NV >= 3
        case 3: dwt_rows(DWT_MR(3), 3, K, &d, xp, off, pix, Tv, ldt, Cv, ldc, first, pf); break;
#endif
        case 2: dwt_rows(DWT_MR(2), 2, K, &d, xp, off, pix, Tv, ldt, Cv, ldc, first, pf); break;
        default: dwt_rows(DWT_MR(1), 1, K, &d, xp, off, pix, Tv, ldt, Cv, ldc, first, pf); break;
        }
    }
}
static void addrows_k(real *d, const real *S, ptrdiff_t lds, int R, int n) { addrows_body(d, S, lds, R, n); }
static void transpose_k(TR_ARGS) { transpose_body(T, ldt, S, lds, rows, cols, rpad); }
static void rowsum_k(int R, int n, const real *G, ptrdiff_t ldg, real *sums) { rowsum_body(R, n, G, ldg, sums); }
static void im2col_k(real *col, ptrdiff_t ldc, const real *xpad, ptrdiff_t xone, int ns, const conv_geo *g, int p0,
                     int n, int nz) {
    im2col_body(col, ldc, xpad, xone, ns, g, p0, n, nz);
}
static void col2im_k(real *xpad, const real *col, ptrdiff_t ldc, const conv_geo *g, int p0, int n) {
    col2im_body(xpad, col, ldc, g, p0, n);
}

const conv_kern KFN(cn__conv_kern) = {VL, T_NV, gemm_k, dwt_k, rowsum_k, addrows_k, transpose_k, im2col_k, col2im_k};
