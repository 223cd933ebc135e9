/* simd/affine.c — the affine layer's kernels, compiled once per SIMD level
 * (simd.h): register tiles for the forward (rows of x by vectors of a row of
 * w), dw (rows of a copy of x^T by a packed panel of dout) and dx (rows of w
 * by vectors of dout^T), dot products for dx's left-over rows, panel packing
 * and register transposes. The drivers (blocking, threads, prefetch
 * cursors) are in ../affine.c. Register tiles: avx512 has 32 vector
 * registers (forward 5x5, dw/dx 8x3, dots 2x8); avx2 and generic 16
 * (6x2 = 12 accumulators, dots 2x4; generic has no FMA, a product and a sum
 * per step: dw/dx 4x2, the forward 3x3, which ran the hidden layer 18%
 * faster than 4x2: 3 broadcasts a step instead of 4, for 9 products).
 * The forward's k block: 64 rows of w at avx512 and avx2, so a panel (64 x
 * 80 floats at avx512: 20 KB) stays in L1 across the tiles of x's rows
 * (256 rows, 80 KB, came from L2 each time: the hidden-500 forward 8-10%
 * slower on 1 thread); 256 at generic, whose 12-column panel is 12 KB (64
 * there: 4% slower). */
#include "../simd.h"
#include "../kern.h"
#include "vtrans.h"
#include "tile.h"

#if CN_SIMD_LEVEL == 2
#ifndef AVX512_TILES /* forward MR, NV; dw MR, NV; dx MR, NV; dx dots RN, DK; forward KC */
#define AVX512_TILES 5, 5, 8, 3, 8, 3, 2, 8, 64
#endif
#define TILES AVX512_TILES
#elif CN_SIMD_LEVEL == 1
#define TILES 6, 2, 6, 2, 6, 2, 2, 4, 64
#else
#define TILES 3, 3, 4, 2, 4, 2, 2, 3, 256
#endif
#define MR_MAX 12
#define NV_MAX 8
#define RN_MAX 4
#define DK_MAX 8

#define GEMMR_PASS R, nv, K, A, ars, P, ldp, plast, C, ldc, accum, pc

/* the cursor's state in locals pp, pj, pleft for a tile's k loop, and back */
#define PF_LOAD                  \
    const char *pp = pc->p;      \
    int pj = pc->j, pleft = pc->left;
#define PF_SAVE    \
    pc->p = pp;    \
    pc->j = pj;    \
    pc->left = pleft;
/* one line of the cursor (locals pp, pj, pleft) */
#define PF_STEP                              \
    if (pleft > 0) {                         \
        if (pc->rw)                          \
            __builtin_prefetch(pp, 1, 3);    \
        else                                 \
            __builtin_prefetch(pp, 0, 3);    \
        pp += 64;                            \
        pleft--;                             \
        if (++pj == pc->lpr) {               \
            pj = 0;                          \
            pp += pc->skip;                  \
        }                                    \
    }

/* "Rows" tiles (forward, dx): A read in place by rows, A(r, k) = A[r*ars +
 * k]; rows >= mr repeat row mr - 1 and are not stored. P's vectors at P +
 * k*ldp + v*VL, the last one at + plast (the tail vector); C's contiguous
 * (a buffer of the driver's); accum adds the sums to C. */
INLINE void tile_rows(const int MR, const int NV, int mr, int K, const real *A, ptrdiff_t ars,
                      const real *P, ptrdiff_t ldp, ptrdiff_t plast, real *C, ptrdiff_t ldc,
                      int accum, pfcur *pc) {
    vreal acc[MR_MAX][NV_MAX];
    const real *a[MR_MAX];
    PF_LOAD
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        a[r] = A + (r < mr ? r : mr - 1) * ars;
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = (vreal){0};
    }
    for (int k = 0; k < K; k++, P += ldp) {
        PF_STEP
        vreal pv[NV_MAX];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) VLOAD(pv[v], P + (v < NV - 1 ? v * VL : plast));
        TILE_RANK1(MR, NV, acc, r, a[r][k], pv)
    }
    PF_SAVE
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        if (r < mr)
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) {
                real *cp = C + r * ldc + v * VL;
                if (accum) {
                    vreal old;
                    VLOAD(old, cp);
                    acc[r][v] += old;
                }
                VSTORE(cp, acc[r][v]);
            }
}
#define TILE(n) tile_rows(MR, n, mr, K, a, ars, P, ldp, plast, c, ldc, accum, pc)
INLINE void gemm_rows(const int MR, const int NV, GEMMR_ARGS) {
    for (int r0 = 0; r0 < R; r0 += MR) {
        int mr = R - r0 < MR ? R - r0 : MR;
        while (pc->left == 0 && pc->next) *pc = *pc->next;
        const real *a = A + r0 * ars;
        real *c = C + r0 * ldc;
        TILE_WIDTHS(nv, NV)
    }
}
#undef TILE

/* BODY(m) for the constant m == mr, 1 <= mr < MR <= 12: the rows that
 * MR-row tiles leave over get a tile of exactly their rows (a last tile of
 * MR rows would cost a whole one: 50 rows in 6-row tiles are 54 rows of
 * work). Called from functions of their own: inlined beside the full
 * tiles, GCC spilled the accumulators of all of them (conv's AVX2 GEMM). */
#define REST_ROWS(MR, mr, BODY)                                                                 \
    switch (mr) {                                                                              \
    case 1: if ((MR) > 1) BODY(1); break;                                                      \
    case 2: if ((MR) > 2) BODY(2); break;                                                      \
    case 3: if ((MR) > 3) BODY(3); break;                                                      \
    case 4: if ((MR) > 4) BODY(4); break;                                                      \
    case 5: if ((MR) > 5) BODY(5); break;                                                      \
    case 6: if ((MR) > 6) BODY(6); break;                                                      \
    case 7: if ((MR) > 7) BODY(7); break;                                                      \
    case 8: if ((MR) > 8) BODY(8); break;                                                      \
    case 9: if ((MR) > 9) BODY(9); break;                                                      \
    case 10: if ((MR) > 10) BODY(10); break;                                                   \
    case 11: if ((MR) > 11) BODY(11); break;                                                   \
    }
#define ROWS_REST(m) gemm_rows(m, NV, GEMMR_PASS)
/* R < MR rows */
INLINE void gemm_rows_rest(const int MR, const int NV, GEMMR_ARGS) { REST_ROWS(MR, R, ROWS_REST) }
#undef ROWS_REST
/* full tiles, then the rest by gemm_r (a noinline function of the level's) */
INLINE void gemm_rows_split(const int MR, const int NV, void (*gemm_r)(GEMMR_ARGS), GEMMR_ARGS) {
    const int rem = R % MR, Rf = R - rem;
    if (Rf) gemm_rows(MR, NV, Rf, nv, K, A, ars, P, ldp, plast, C, ldc, accum, pc);
    if (rem) gemm_r(rem, nv, K, A + Rf * ars, ars, P, ldp, plast, C + Rf * ldc, ldc, accum, pc);
}

/* dx's left-over rows: out[n*ldo + d] = sum_v G[n*ldg + v*VL ..] . W[d*ldw +
 * so[v] ..] for n < rn, d < dk: dot products of packed rows of dout (the
 * tail vector's overlapped lanes zeroed) with rows of w read in place. */
INLINE void dot_body(const int RN, const int DK, DOT_ARGS) {
    vreal acc[RN_MAX][DK_MAX];
    const real *g[RN_MAX], *wr[DK_MAX];
#pragma GCC unroll 16
    for (int n = 0; n < RN; n++) g[n] = G + (n < rn ? n : rn - 1) * ldg;
#pragma GCC unroll 16
    for (int d = 0; d < DK; d++) wr[d] = W + (d < dk ? d : dk - 1) * ldw;
#pragma GCC unroll 16
    for (int n = 0; n < RN; n++)
#pragma GCC unroll 16
        for (int d = 0; d < DK; d++) acc[n][d] = (vreal){0};
    for (int v = 0; v < nvec; v++) {
        vreal gv[RN_MAX];
#pragma GCC unroll 16
        for (int n = 0; n < RN; n++) VLOAD(gv[n], g[n] + v * VL);
        ptrdiff_t o = so[v];
#pragma GCC unroll 16
        for (int d = 0; d < DK; d++) {
            vreal wv;
            VLOAD(wv, wr[d] + o);
#pragma GCC unroll 16
            for (int n = 0; n < RN; n++) acc[n][d] += gv[n] * wv;
        }
    }
#pragma GCC unroll 16
    for (int n = 0; n < RN; n++)
        if (n < rn)
#pragma GCC unroll 16
            for (int d = 0; d < DK; d++)
                if (d < dk) out[n * ldo + d] = hsum(&acc[n][d]);
}

/* dw's tiles: A with a tile's MR rows at consecutive addresses, A(r, k) =
 * A[k*acs + r] (x[:, rows], copied: see affine_bwd); P a packed panel,
 * vectors at P + k*ldp + v*VL; C's vectors at C + r*ldc + co[v]; the
 * cursor: the next rows of dw (prefetched for writing), then w's for dx. */
INLINE void tile_dw(const int MR, const int NV, int mr, int K, const real *A, ptrdiff_t acs,
                    const real *P, ptrdiff_t ldp, real *C, ptrdiff_t ldc, const ptrdiff_t *co,
                    pfcur *pc) {
    vreal acc[MR_MAX][NV_MAX];
    PF_LOAD
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = (vreal){0};
    for (int k = 0; k < K; k++, A += acs, P += ldp) {
        PF_STEP
        vreal pv[NV_MAX];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) VLOAD(pv[v], P + v * VL);
        TILE_RANK1(MR, NV, acc, r, A[r], pv)
    }
    PF_SAVE
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        if (r < mr)
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) VSTORE(C + r * ldc + co[v], acc[r][v]);
}
#define TILE(n) tile_dw(MR, n, mr, K, A, acs, P, nv * VL, C, ldc, co, pc)
/* one tile of mr <= MR rows by an nv-vector panel */
INLINE void gemm_dw_body(const int MR, const int NV, GEMMW_ARGS) {
    while (pc->left == 0 && pc->next) *pc = *pc->next;
    TILE_WIDTHS(nv, NV)
}
#undef TILE
#define DW_REST(m) gemm_dw_body(m, NV, mr, nv, K, A, acs, P, C, ldc, co, pc)
/* mr < MR rows: a tile of exactly mr */
INLINE void gemm_dw_rest(const int MR, const int NV, GEMMW_ARGS) { REST_ROWS(MR, mr, DW_REST) }
#undef DW_REST

/* P[k*nv*VL + v*VL + l] = S[k*lds + so[v] + l] for k < rows, v < nv */
INLINE void pack_body(PACK_ARGS) {
    for (int k = 0; k < rows; k++, S += lds, P += nv * VL)
        for (int v = 0; v < nv; v++) {
            vreal t;
            VLOAD(t, S + so[v]);
            VSTORE(P + v * VL, t);
        }
}

#define NOINLINE static __attribute__((noinline))
#define DEFINE_AKERN(MRF, NVF, MRW, NVW, MRX, NVX, RND, DKD, KCF)                              \
    NOINLINE void gemm_f_rest(GEMMR_ARGS) { gemm_rows_rest(MRF, NVF, GEMMR_PASS); }           \
    NOINLINE void gemm_x_rest(GEMMR_ARGS) { gemm_rows_rest(MRX, NVX, GEMMR_PASS); }           \
    NOINLINE void gemm_w_rest(GEMMW_ARGS) { gemm_dw_rest(MRW, NVW, mr, nv, K, A, acs, P, C, ldc, co, pc); } \
    static void gemm_f(GEMMR_ARGS) { gemm_rows_split(MRF, NVF, gemm_f_rest, GEMMR_PASS); }   \
    static void gemm_x(GEMMR_ARGS) { gemm_rows_split(MRX, NVX, gemm_x_rest, GEMMR_PASS); }   \
    static void dot(DOT_ARGS) { dot_body(RND, DKD, rn, dk, nvec, G, ldg, W, ldw, so, out, ldo); } \
    static void gemm_w(GEMMW_ARGS) {                                                          \
        if (mr < MRW) gemm_w_rest(mr, nv, K, A, acs, P, C, ldc, co, pc);                      \
        else gemm_dw_body(MRW, NVW, mr, nv, K, A, acs, P, C, ldc, co, pc);                    \
    }                                                                                         \
    static void pack(PACK_ARGS) { pack_body(P, S, lds, so, nv, rows); }                     \
    static void transpose(TR_ARGS) { transpose_body(T, ldt, S, lds, rows, cols, rpad); }    \
    static void transpose_st(TR_ARGS) { transpose_stream(T, ldt, S, lds, rows, cols, rpad); } \
    const affine_kern KFN(cn__affine_kern) = {VL, MRF, NVF, MRW, NVW, MRX, NVX, RND, DKD, KCF,\
                                              gemm_f, gemm_x, gemm_w, dot, pack, transpose, transpose_st};
#define DEFINE_AKERN_(...) DEFINE_AKERN(__VA_ARGS__)
DEFINE_AKERN_(TILES)
