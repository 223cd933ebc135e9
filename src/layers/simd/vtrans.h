/* simd/vtrans.h — register transposes and lane sums for the kernel
 * sources (included after simd.h; any VL). */
#ifndef CN_VTRANS_H
#define CN_VTRANS_H
#ifdef __SSE2__
#include <immintrin.h>
#endif

/* Two-source shuffle masks, built for any VL: round h of the transpose
 * interleaves blocks of h lanes of a and b (indices >= VL pick from b). */
#define SH_W(h, j) ((j) % (2 * (h)))
#define SH_B(h, j) ((j) / (2 * (h)) * 2 * (h))
#define SH_LO(h, j) (SH_W(h, j) < (h) ? SH_B(h, j) + SH_W(h, j) : SH_B(h, j) + SH_W(h, j) - (h) + VLN)
#define SH_HI(h, j) (SH_W(h, j) < (h) ? SH_B(h, j) + (h) + SH_W(h, j) : SH_B(h, j) + SH_W(h, j) + VLN)
#define SH_MASK(F, h) ((vmask){LANES(F, h)})
#if VLN == 16
#define LANES(F, h) F(h, 0), F(h, 1), F(h, 2), F(h, 3), F(h, 4), F(h, 5), F(h, 6), F(h, 7), \
        F(h, 8), F(h, 9), F(h, 10), F(h, 11), F(h, 12), F(h, 13), F(h, 14), F(h, 15)
#define SH_ROUNDS SH_ROUND(8) SH_ROUND(4) SH_ROUND(2) SH_ROUND(1)
#elif VLN == 8
#define LANES(F, h) F(h, 0), F(h, 1), F(h, 2), F(h, 3), F(h, 4), F(h, 5), F(h, 6), F(h, 7)
#define SH_ROUNDS SH_ROUND(4) SH_ROUND(2) SH_ROUND(1)
#elif VLN == 4
#define LANES(F, h) F(h, 0), F(h, 1), F(h, 2), F(h, 3)
#define SH_ROUNDS SH_ROUND(2) SH_ROUND(1)
#else
#define LANES(F, h) F(h, 0), F(h, 1)
#define SH_ROUNDS SH_ROUND(1)
#endif

/* lanes folded pairwise down to 4 (lane j += lane j ^ h), then summed in order */
#define HS_X(h, j) ((j) ^ (h))
INLINE real hsum(const vreal *pv) {
    vreal v = *pv;
#if VLN >= 16
    v += __builtin_shuffle(v, SH_MASK(HS_X, 8));
#endif
#if VLN >= 8
    v += __builtin_shuffle(v, SH_MASK(HS_X, 4));
#endif
    real s = 0;
    for (int l = 0; l < (VL > 4 ? 4 : VL); l++) s += v[l];
    return s;
}

/* T[j*ldt + i] = S[i*lds + j] for i < rows, j < cols; T[j*ldt + i] = 0 for
 * rows <= i < rpad. Full VL x VL blocks are transposed in registers
 * (log2(VL) rounds of two-source shuffles), edges element by element. */
/* round h: rows i and i+h (i & h == 0) swap their off-diagonal h x h blocks */
#define SH_ROUND(h)                                                       \
    _Pragma("GCC unroll 16") for (int i = 0; i < VL; i++) if (!(i & h)) { \
        vreal lo = __builtin_shuffle(t[i], t[i + h], SH_MASK(SH_LO, h));           \
        vreal hi = __builtin_shuffle(t[i], t[i + h], SH_MASK(SH_HI, h));           \
        t[i] = lo;                                                        \
        t[i + h] = hi;                                                    \
    }



/* one VL x VL block: t[j] = S[i*lds + j] for i, j < VL, transposed */
INLINE void block_tr(vreal *t, const real *S, ptrdiff_t lds) {
#pragma GCC unroll 16
    for (int i = 0; i < VL; i++) VLOAD(t[i], S + i * lds);
    SH_ROUNDS
}

/* Streaming (non-temporal) stores of whole cache lines, where T's rows are
 * 64-byte aligned: stores that would miss (a large T, its rows 32 KB apart
 * and so in a few cache sets: the affine's dx) skip the line's read for
 * ownership, and do not evict what the next work reads. */
#define LINE_V (64 / VBYTES) /* vectors in a cache line */
#define LINE_L (64 / (int)sizeof(real))
INLINE void vstream(real *p, vreal v) {
#if CN_SIMD_LEVEL == 2 && defined(CN_REAL_F64)
    _mm512_stream_pd(p, (__m512d)v);
#elif CN_SIMD_LEVEL == 2
    _mm512_stream_ps(p, (__m512)v);
#elif CN_SIMD_LEVEL == 1 && defined(CN_REAL_F64)
    _mm256_stream_pd(p, (__m256d)v);
#elif CN_SIMD_LEVEL == 1
    _mm256_stream_ps(p, (__m256)v);
#elif defined(__SSE2__) && defined(CN_REAL_F64)
    _mm_stream_pd(p, (__m128d)v);
#elif defined(__SSE2__)
    _mm_stream_ps(p, (__m128)v);
#else
    VSTORE(p, v);
#endif
}

#define PFT 8 /* transposes: T's rows are written as streams, prefetched PFT vectors ahead */
/* rows [i0, rpad) of S (T's columns) by plain stores: VL x VL blocks in
 * registers, edges element by element, zeros from rows on */
INLINE void transpose_rows(real *T, ptrdiff_t ldt, const real *S, ptrdiff_t lds, int i0, int rows, int cols,
                           int rpad) {
    for (; i0 < rpad; i0 += VL) {
        int ri = rows - i0 < 0 ? 0 : rows - i0 < VL ? rows - i0 : VL;
        int wi = rpad - i0 < VL ? rpad - i0 : VL;
        int j0 = 0;
        if (ri == VL)
            for (; j0 + VL <= cols; j0 += VL) {
                vreal t[VL];
                block_tr(t, S + i0 * lds + j0, lds);
#pragma GCC unroll 16
                for (int j = 0; j < VL; j++) {
                    __builtin_prefetch(T + (j0 + j) * ldt + i0 + PFT * VL, 1, 3); /* rows of T are streams */
                    VSTORE(T + (j0 + j) * ldt + i0, t[j]);
                }
            }
        for (int j = j0; j < cols; j++) {
            real *tr = T + j * ldt + i0;
            for (int i = 0; i < wi; i++) tr[i] = i < ri ? S[(i0 + i) * lds + j] : 0;
        }
    }
}
/* stream: T's whole lines (LINE_L rows of S by VL columns: LINE_V blocks
 * in registers) by streaming stores, where ldt allows (rows of T whole
 * lines apart); T's rows may start inside a line (an unaligned buffer:
 * malloc's are 16 bytes past a line): the rows of S up to T's first line
 * start, and those after its last whole line, go by plain stores (the
 * hidden-100 affine backward, dx 16 bytes past a line: 1.19 -> 0.99 ms at
 * avx2, 0.615 -> 0.566 at avx512; aligned 0.94, 0.52); then an sfence, so the
 * stores are seen before whatever the caller does next */
INLINE void transpose_stream(TR_ARGS) {
    int i0 = 0;
#ifdef __SSE2__
    if (!((ldt * sizeof(real)) & 63) && !((uintptr_t)T % sizeof(real))) {
        int h = (int)(((64 - ((uintptr_t)T & 63)) & 63) / sizeof(real)); /* rows before a line starts */
        if (h > rows) h = rows;
        if (h) transpose_rows(T, ldt, S, lds, 0, h, cols, h);
        for (i0 = h; i0 + LINE_L <= rows; i0 += LINE_L) {
            int j0 = 0;
            for (; j0 + VL <= cols; j0 += VL) {
                vreal t[LINE_V][VL];
#pragma GCC unroll 4
                for (int s = 0; s < LINE_V; s++) block_tr(t[s], S + (i0 + s * VL) * lds + j0, lds);
#pragma GCC unroll 16
                for (int j = 0; j < VL; j++)
#pragma GCC unroll 4
                    for (int s = 0; s < LINE_V; s++) vstream(T + (j0 + j) * ldt + i0 + s * VL, t[s][j]);
            }
            for (int j = j0; j < cols; j++)
                for (int i = 0; i < LINE_L; i++) T[j * ldt + i0 + i] = S[(i0 + i) * lds + j];
        }
        _mm_sfence();
    }
#endif
    transpose_rows(T, ldt, S, lds, i0, rows, cols, rpad);
}
INLINE void transpose_body(TR_ARGS) { transpose_rows(T, ldt, S, lds, 0, rows, cols, rpad); }

#endif
