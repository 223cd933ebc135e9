/* simd/tile.h — the steps that the GEMM kernels' register tiles (MR rows by
 * NV vectors of accumulators, acc[r][v]) share, for the kernel sources
 * (included after simd.h). Macros rather than functions, so each kernel
 * compiles to the loops written out in its place, unrolled with its tile's
 * constant MR and NV: these are the hot loops, and their code is the same
 * instruction for instruction as before they were shared. */
#ifndef CN_TILE_H
#define CN_TILE_H

/* acc[r][v] += a_r * pv[v] for r < MR, v < NV, where a_r is the
 * expression AR in the row index named R (one element of A's row r,
 * broadcast): one k step of a tile. */
#define TILE_RANK1(MR, NV, acc, R, AR, pv)                                    \
    _Pragma("GCC unroll 16") for (int R = 0; R < (MR); R++) {                 \
        real ar_ = (AR);                                                      \
        _Pragma("GCC unroll 16") for (int v_ = 0; v_ < (NV); v_++)            \
            (acc)[R][v_] += ar_ * (pv)[v_];                                   \
    }

/* C += acc for rows r < mr (of MR), vectors v < NV, where vector (r, v) of
 * C is at the address CP in the indices named R and V. */
#define TILE_ADD_TO(MR, NV, mr, acc, R, V, CP)                                \
    _Pragma("GCC unroll 16") for (int R = 0; R < (MR); R++)                   \
        if (R < (mr))                                                         \
            _Pragma("GCC unroll 16") for (int V = 0; V < (NV); V++) {         \
                real *cp_ = (CP);                                             \
                vreal old_;                                                   \
                VLOAD(old_, cp_);                                             \
                old_ += (acc)[R][V];                                          \
                VSTORE(cp_, old_);                                            \
            }

/* C = acc, the same rows and vectors (C's old contents not read) */
#define TILE_STORE_TO(MR, NV, mr, acc, R, V, CP)                              \
    _Pragma("GCC unroll 16") for (int R = 0; R < (MR); R++)                   \
        if (R < (mr))                                                         \
            _Pragma("GCC unroll 16") for (int V = 0; V < (NV); V++)           \
                VSTORE((CP), (acc)[R][V]);

/* TILE(n) (a macro of the kernel's) called with the constant n == nv, for
 * nv <= NV <= 8: every width a tile of its own, unrolled with its constant
 * (the widths above NV drop out at compile time). */
#define TILE_WIDTHS(nv, NV)                    \
    if ((nv) == (NV)) TILE(NV);                \
    else if ((NV) > 7 && (nv) == 7) TILE(7);   \
    else if ((NV) > 6 && (nv) == 6) TILE(6);   \
    else if ((NV) > 5 && (nv) == 5) TILE(5);   \
    else if ((NV) > 4 && (nv) == 4) TILE(4);   \
    else if ((NV) > 3 && (nv) == 3) TILE(3);   \
    else if ((NV) > 2 && (nv) == 2) TILE(2);   \
    else TILE(1);

#endif
