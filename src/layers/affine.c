/* affine.c — affine, relu, softmax loss and the affine-relu sandwich.
 * Naive (direct loops, as the original) beside fast (BLAS GEMM). */
#include "real.h"
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif

static int check_affine(cn_ctx *ctx, int N, int D, int M) {
    if (N <= 0 || D <= 0 || M <= 0)
        return CN_ERR(ctx, CN_EINVAL, "affine: shapes must be positive, got N=%d D=%d M=%d", N, D, M);
    return CN_OK;
}

/* out[N,M] = x[N,D] w[D,M] + b[M] */
int FN(cn_affine_forward_naive)(cn_ctx *ctx, real *out, const real *x, const real *w,
                                const real *b, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            real s = b[m];
            for (int d = 0; d < D; d++) s += x[(size_t)n * D + d] * w[(size_t)d * M + m];
            out[(size_t)n * M + m] = s;
        }
    return CN_OK;
}

/* ---- fast path: SIMD kernels ---------------------------------------------
 * Three GEMMs, each a loop of register tiles over packed operands:
 *   C[r][co[v] + l] (=, or += with accum)  sum_k A[k*acs + r] P[k*ldp + v*VL + l]
 * A: MR tile rows at consecutive addresses (broadcasts from one pointer);
 * P: a panel of NV vectors of columns, contiguous and aligned (no cache-line
 * splits, no set conflicts), packed from its matrix once per k block.
 *   forward  out = x w:      A = x^T (transposed per k block), P = w;
 *   dw       dw = x^T dout:  A = x[:, rows] (tile-major copy), P = dout;
 *   dx       dx = dout w^T:  A = dout^T, P = a block of w transposed.
 * A row of M columns that is not a multiple of VL gets one more vector at
 * column M - VL (overlapping the last full one): the forward keeps its sums
 * in a slot of their own, dw stores the overlapped columns again with equal
 * values. So w and dout are read in place without masked access; M < VL
 * (the net's last layer) goes through small zero-padded copies. The kernels
 * are GCC vector-type loops compiled for AVX-512, AVX2+FMA and baseline
 * x86-64, picked at run time (CN_SIMD=avx2|generic caps the choice, for
 * testing), as in conv.c. */
#define VBYTES 64
#define VL ((int)(VBYTES / sizeof(real))) /* lanes of one vreal */
typedef real vreal __attribute__((vector_size(VBYTES)));
#ifdef CN_REAL_F64
typedef int64_t vidx __attribute__((vector_size(VBYTES)));
#else
typedef int32_t vidx __attribute__((vector_size(VBYTES)));
#endif
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(vreal))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(vreal))
#define INLINE static inline __attribute__((always_inline))
#define MR_MAX 12
#define NV_MAX 6

/* A prefetch cursor: lines of `lpr` cache lines per row, rows `skip` bytes
 * apart after a row's last line, `left` lines to go. The tiles issue one per
 * k step, so the next block of a streamed operand (w; dw for writing) is on
 * its way while this one is computed. */
typedef struct pfcur {
    const char *p;
    ptrdiff_t skip;
    int lpr, j, left;
    const struct pfcur *next; /* taken up when this one is done */
} pfcur;

static pfcur pf_region(const void *base, ptrdiff_t row_bytes, ptrdiff_t ld_bytes, int rows) {
    pfcur c = {NULL, 0, 0, 0, 0, NULL};
    if (!base || rows <= 0 || row_bytes <= 0) return c;
    uintptr_t a = (uintptr_t)base, a0 = a & ~(uintptr_t)63;
    c.p = (const char *)a0;
    c.lpr = (int)((a + row_bytes - a0 + 63) / 64); /* misaligned rows: one line more */
    c.skip = ld_bytes - (ptrdiff_t)c.lpr * 64;
    c.left = c.lpr * rows;
    return c;
}

/* One register tile: MR rows (A holds MR readable rows; rows >= mr are not
 * stored), NV vectors; the last vector stores lanes < last only. Sums start
 * at zero; accum adds them to C. PFW: the cursor's lines are prefetched for
 * writing. */
INLINE void tile_body(const int MR, const int NV, const int PFW, int mr, int K, const real *A,
                      ptrdiff_t acs, const real *P, ptrdiff_t ldp, const ptrdiff_t *bo, real *C,
                      ptrdiff_t ldc, const ptrdiff_t *co, int accum, int last, pfcur *pc) {
    vreal acc[MR_MAX][NV_MAX];
    ptrdiff_t bof[NV_MAX];
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) bof[v] = bo[v];
    const char *pp = pc->p;
    int pj = pc->j, pleft = pc->left;
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = (vreal){0};
    for (int k = 0; k < K; k++, A += acs, P += ldp) {
        if (pleft > 0) {
            __builtin_prefetch(pp, PFW, 3);
            pp += 64;
            pleft--;
            if (++pj == pc->lpr) {
                pj = 0;
                pp += pc->skip;
            }
        }
        vreal pv[NV_MAX];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) VLOAD(pv[v], P + bof[v]);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            real ar = A[r];
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) acc[r][v] += ar * pv[v];
        }
    }
    pc->p = pp;
    pc->j = pj;
    pc->left = pleft;
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        if (r < mr)
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) {
                real *cp = C + r * ldc + co[v];
                if (v < NV - 1 || last == VL) {
                    if (accum) {
                        vreal old;
                        VLOAD(old, cp);
                        acc[r][v] += old;
                    }
                    VSTORE(cp, acc[r][v]);
                } else {
                    for (int l = 0; l < last; l++) cp[l] = accum ? cp[l] + acc[r][v][l] : acc[r][v][l];
                }
            }
}

/* C[R, nv vectors] (=, +=) A P: the row tiles of one panel (nv <= NV) of
 * vectors at P + k*ldp + bo[v]. Row tile t of A starts at A + t*ats (R
 * rounded up to MR rows readable). */
#define GEMM_ARGS                                                                            \
    int R, int nv, int K, const real *A, ptrdiff_t acs, ptrdiff_t ats, const real *P,       \
        ptrdiff_t ldp, const ptrdiff_t *bo, real *C, ptrdiff_t ldc, const ptrdiff_t *co,    \
        int accum, int last, pfcur *pc
#define GEMM_PASS R, nv, K, A, acs, ats, P, ldp, bo, C, ldc, co, accum, last, pc
#define TILE(n) tile_body(MR, n, PFW, mr, K, A + (r0 / MR) * ats, acs, P, ldp, bo, C + r0 * ldc, ldc, co, accum, last, pc)
INLINE void gemm_body(const int MR, const int NV, const int PFW, GEMM_ARGS) {
    for (int r0 = 0; r0 < R; r0 += MR) {
        int mr = R - r0 < MR ? R - r0 : MR;
        while (pc->left == 0 && pc->next) *pc = *pc->next;
        if (nv == NV) TILE(NV);
        else if (NV > 5 && nv == 5) TILE(5);
        else if (NV > 4 && nv == 4) TILE(4);
        else if (NV > 3 && nv == 3) TILE(3);
        else if (NV > 2 && nv == 2) TILE(2);
        else TILE(1);
    }
}
#undef TILE

/* The forward's tile: A read in place by rows, A(r, k) = A[r*ars + k] (x
 * itself: no transposed copy, whose 50 rows 32 KB apart would collide in
 * the caches); P's vectors at P + k*ldp + v*VL, the last one at + plast (the
 * overlapping tail vector); C = a part buffer, vectors contiguous; sums
 * added to C with accum. Rows >= mr repeat row mr - 1 and are not stored. */
INLINE void tile_rows_body(const int MR, const int NV, int mr, int K, const real *A, ptrdiff_t ars,
                           const real *P, ptrdiff_t ldp, ptrdiff_t plast, real *C, ptrdiff_t ldc,
                           int accum, pfcur *pc) {
    vreal acc[MR_MAX][NV_MAX];
    const real *a[MR_MAX];
    const char *pp = pc->p;
    int pj = pc->j, pleft = pc->left;
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        a[r] = A + (r < mr ? r : mr - 1) * ars;
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = (vreal){0};
    }
    for (int k = 0; k < K; k++, P += ldp) {
        if (pleft > 0) {
            __builtin_prefetch(pp, 0, 3);
            pp += 64;
            pleft--;
            if (++pj == pc->lpr) {
                pj = 0;
                pp += pc->skip;
            }
        }
        vreal pv[NV_MAX];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) VLOAD(pv[v], P + (v < NV - 1 ? v * VL : plast));
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            real ar = a[r][k];
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) acc[r][v] += ar * pv[v];
        }
    }
    pc->p = pp;
    pc->j = pj;
    pc->left = pleft;
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

#define GEMMR_ARGS                                                                           \
    int R, int nv, int K, const real *A, ptrdiff_t ars, const real *P, ptrdiff_t ldp,       \
        ptrdiff_t plast, real *C, ptrdiff_t ldc, int accum, pfcur *pc
#define GEMMR_PASS R, nv, K, A, ars, P, ldp, plast, C, ldc, accum, pc
#define TILE(n) tile_rows_body(MR, n, mr, K, A + r0 * ars, ars, P, ldp, plast, C + r0 * ldc, ldc, accum, pc)
INLINE void gemm_rows_body(const int MR, const int NV, GEMMR_ARGS) {
    for (int r0 = 0; r0 < R; r0 += MR) {
        int mr = R - r0 < MR ? R - r0 : MR;
        while (pc->left == 0 && pc->next) *pc = *pc->next;
        if (nv == NV) TILE(NV);
        else if (NV > 5 && nv == 5) TILE(5);
        else if (NV > 4 && nv == 4) TILE(4);
        else if (NV > 3 && nv == 3) TILE(3);
        else if (NV > 2 && nv == 2) TILE(2);
        else TILE(1);
    }
}
#undef TILE

/* P[k*nv*VL + v*VL + l] = S[k*lds + so[v] + l] for k < rows, v < nv */
#define PACK_ARGS real *P, const real *S, ptrdiff_t lds, const ptrdiff_t *so, int nv, int rows
INLINE void pack_body(PACK_ARGS) {
    for (int k = 0; k < rows; k++, S += lds, P += nv * VL)
        for (int v = 0; v < nv; v++) {
            vreal t;
            VLOAD(t, S + so[v]);
            VSTORE(P + v * VL, t);
        }
}

/* T[j*ldt + i] = S[i*lds + j] for i < rows, j < cols; T[j*ldt + i] = 0 for
 * rows <= i < ldt. Full VL x VL blocks are transposed in registers
 * (log2(VL) rounds of two-source shuffles), edges element by element. */
#ifdef CN_REAL_F64
#define SH_LO4 (vidx){0, 1, 2, 3, 8, 9, 10, 11}
#define SH_HI4 (vidx){4, 5, 6, 7, 12, 13, 14, 15}
#define SH_LO2 (vidx){0, 1, 8, 9, 4, 5, 12, 13}
#define SH_HI2 (vidx){2, 3, 10, 11, 6, 7, 14, 15}
#define SH_LO1 (vidx){0, 8, 2, 10, 4, 12, 6, 14}
#define SH_HI1 (vidx){1, 9, 3, 11, 5, 13, 7, 15}
#define SH_ROUNDS SH_ROUND(4) SH_ROUND(2) SH_ROUND(1)
#else
#define SH_LO8 (vidx){0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}
#define SH_HI8 (vidx){8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}
#define SH_LO4 (vidx){0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}
#define SH_HI4 (vidx){4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}
#define SH_LO2 (vidx){0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}
#define SH_HI2 (vidx){2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}
#define SH_LO1 (vidx){0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}
#define SH_HI1 (vidx){1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}
#define SH_ROUNDS SH_ROUND(8) SH_ROUND(4) SH_ROUND(2) SH_ROUND(1)
#endif
/* round h: rows i and i+h (i & h == 0) swap their off-diagonal h x h blocks */
#define SH_ROUND(h)                                                       \
    _Pragma("GCC unroll 16") for (int i = 0; i < VL; i++) if (!(i & h)) { \
        vreal lo = __builtin_shuffle(t[i], t[i + h], SH_LO##h);           \
        vreal hi = __builtin_shuffle(t[i], t[i + h], SH_HI##h);           \
        t[i] = lo;                                                        \
        t[i + h] = hi;                                                    \
    }
#define TR_ARGS real *T, ptrdiff_t ldt, const real *S, ptrdiff_t lds, int rows, int cols
INLINE void transpose_body(TR_ARGS) {
    for (int i0 = 0; i0 < ldt; i0 += VL) {
        int ri = rows - i0 < 0 ? 0 : rows - i0 < VL ? rows - i0 : VL;
        int wi = ldt - i0 < VL ? (int)(ldt - i0) : VL;
        int j0 = 0;
        if (ri == VL && wi == VL)
            for (; j0 + VL <= cols; j0 += VL) {
                vreal t[VL];
#pragma GCC unroll 16
                for (int i = 0; i < VL; i++) VLOAD(t[i], S + (i0 + i) * lds + j0);
                SH_ROUNDS
#pragma GCC unroll 16
                for (int j = 0; j < VL; j++) VSTORE(T + (j0 + j) * ldt + i0, t[j]);
            }
        for (int j = j0; j < cols; j++) {
            real *tr = T + j * ldt + i0;
            for (int i = 0; i < wi; i++) tr[i] = i < ri ? S[(i0 + i) * lds + j] : 0;
        }
    }
}

/* Tile shapes per instruction set (rows MR x vectors NV) for the forward,
 * dw and dx. AVX-512: 32 vector registers; AVX2: 16 of half a vreal; SSE2:
 * 16 of a quarter. */
typedef struct {
    int mr_f, nv_f, mr_w, nv_w, mr_x, nv_x;
    void (*gemm_f)(GEMMR_ARGS);
    void (*gemm_w)(GEMM_ARGS);
    void (*gemm_x)(GEMM_ARGS);
    void (*pack)(PACK_ARGS);
    void (*transpose)(TR_ARGS);
} akern;
#define DEFINE_AKERN(SFX, ATTR, MRF, NVF, MRW, NVW, MRX, NVX)                                 \
    ATTR static void gemm_f_##SFX(GEMMR_ARGS) { gemm_rows_body(MRF, NVF, GEMMR_PASS); }       \
    ATTR static void gemm_w_##SFX(GEMM_ARGS) { gemm_body(MRW, NVW, 1, GEMM_PASS); }            \
    ATTR static void gemm_x_##SFX(GEMM_ARGS) { gemm_body(MRX, NVX, 0, GEMM_PASS); }            \
    ATTR static void pack_##SFX(PACK_ARGS) { pack_body(P, S, lds, so, nv, rows); }             \
    ATTR static void transpose_##SFX(TR_ARGS) { transpose_body(T, ldt, S, lds, rows, cols); } \
    static const akern akern_##SFX = {MRF, NVF, MRW, NVW, MRX, NVX, gemm_f_##SFX, gemm_w_##SFX, \
                                      gemm_x_##SFX, pack_##SFX, transpose_##SFX};

DEFINE_AKERN(generic, , 2, 1, 2, 1, 2, 1)
#if defined(__x86_64__) && defined(__GNUC__)
DEFINE_AKERN(avx2, __attribute__((target("avx2,fma"))), 5, 1, 6, 1, 5, 1)
DEFINE_AKERN(avx512, __attribute__((target("avx512f"))), 5, 5, 8, 3, 10, 2)
#endif

static const akern *pick_akern(void) {
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
    if (lvl == 2) return &akern_avx512;
    if (lvl == 1) return &akern_avx2;
#endif
    return &akern_generic;
}

/* ---- fast path: drivers ------------------------------------------------- */
#define KC 256                          /* forward: rows of w per k block */
#define DC 128                          /* backward: rows of w / dw per work item */
#define MC 128                          /* backward dx: columns of w per transposed panel */
#define PART_BYTES ((size_t)8 << 20)    /* forward: k-group partial sums, at most */
#define WS_MAX_BYTES ((size_t)1 << 30)  /* whole workspace, at most */

static size_t rup(size_t n, size_t m) { return (n + m - 1) / m * m; }
static int thread_id(void) { return omp_get_thread_num(); }
/* block sizes: the defaults, or (built with -DCN_AFFINE_TUNE, for tuning)
 * AKC, ADC, AMC, AG from the environment */
static int tune(const char *name, int def) {
#ifdef CN_AFFINE_TUNE
    const char *e = getenv(name);
    if (e && atoi(e) > 0) return atoi(e);
#endif
    (void)name;
    return def;
}

/* Column vectors of a row of M: full ones at v*VL, then (M % VL != 0,
 * M >= VL) one at M - VL; M < VL: one vector of a zero-padded copy.
 * bo[v] = B offset, co[v] = v*VL (C slot); returns the count. */
static int col_vectors(int M, ptrdiff_t *bo, ptrdiff_t *co) {
    int nfull = M / VL, nvec = M < VL ? 1 : nfull + (M % VL != 0);
    for (int v = 0; v < nvec; v++) {
        bo[v] = v < nfull ? (ptrdiff_t)v * VL : M < VL ? 0 : M - VL;
        co[v] = (ptrdiff_t)v * VL;
    }
    return nvec;
}

/* out[N,M] = x w + b, then max(., 0) when relu.
 * Work: G groups of k (rows of w) x ncc column chunks, taken dynamically;
 * a group sums into its own part[N, Mp] (Mp = vectors * VL); the parts are
 * added in order with the bias (and ReLU) in a last pass over out, so the
 * result depends on the thread count only, not on the schedule. Per k
 * block: x^T packed, then per panel of NV vectors: w packed, every row tile. */
static int affine_fwd(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b, int N,
                      int D, int M, int relu) {
    const akern *kern = pick_akern();
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
    if (nt < 1) nt = 1;
    const int small = M < VL, nfull = M / VL;
    const int nvec = small ? 1 : nfull + (M % VL != 0), NV = kern->nv_f;
    const int nblk = (nvec + NV - 1) / NV; /* panels */
    const size_t Mp = (size_t)nvec * VL, kc = tune("AKC", KC);
    int G = 1;
    if (nt > 1) {
        G = tune("AG", 2 * nt);
        while (G > 1 && (cn__mul(cn__mul(G, N), Mp * sizeof(real)) > PART_BYTES || D / G < 64)) G--;
    }
    int ncc = (2 * nt + G - 1) / G;
    if (ncc > nblk) ncc = nblk;
    /* workspace: so, co [nvec] | part [G, N, Mp] | wp [D, VL] (small) */
    size_t ofs_sz = rup(2 * (size_t)nvec * sizeof(ptrdiff_t), 64) / sizeof(real);
    size_t part_sz = rup(cn__mul(cn__mul(G, N), Mp), 16), wp_sz = small ? rup(cn__mul(D, VL), 16) : 0;
    size_t bytes = cn__mul(ofs_sz + part_sz + wp_sz, sizeof(real));
    if (part_sz == 0 || bytes == 0 || bytes > WS_MAX_BYTES)
        return CN_ERR(ctx, CN_ENOMEM, "affine: workspace for N=%d D=%d M=%d would exceed %zu MB", N, D, M,
                      WS_MAX_BYTES >> 20);
    real *ws = cn__ws(ctx, CN_WS_MISC, bytes);
    if (!ws) return CN_ENOMEM;
    ptrdiff_t *so = (ptrdiff_t *)ws, *co = so + nvec;
    real *part = ws + ofs_sz, *wp = part + part_sz;
    col_vectors(M, so, co);
    const real *W = w;
    ptrdiff_t ldw = M;
    if (small) { /* w [D, M] zero-padded to [D, VL] */
        for (int d = 0; d < D; d++)
            for (int m = 0; m < VL; m++) wp[(size_t)d * VL + m] = m < M ? w[(size_t)d * M + m] : 0;
        W = wp;
        ldw = VL;
    }
    const int items = G * ncc;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            int g = it / ncc, c = it % ncc;
            int k0 = (int)((long)D * g / G), k1 = (int)((long)D * (g + 1) / G);
            int b0 = (int)((long)nblk * c / ncc), b1 = (int)((long)nblk * (c + 1) / ncc);
            real *pg = part + (size_t)g * N * Mp;
            for (int kb = k0; kb < k1; kb += (int)kc) {
                int kn = k1 - kb < (int)kc ? k1 - kb : (int)kc;
                for (int bl = b0; bl < b1; bl++) {
                    int v0 = bl * NV, nv = nvec - v0 < NV ? nvec - v0 : NV;
                    /* prefetch the next panel of w (and the next block of x) */
                    int kb2 = bl + 1 < b1 ? kb : kb + (int)kc, bl2 = bl + 1 < b1 ? bl + 1 : b0;
                    int kn2 = k1 - kb2 < (int)kc ? k1 - kb2 : (int)kc;
                    int v2 = bl2 * NV, nv2 = nvec - v2 < NV ? nvec - v2 : NV;
                    pfcur pw = {0};
                    if (kn2 > 0)
                        pw = pf_region(W + (size_t)kb2 * ldw + so[v2], (so[v2 + nv2 - 1] + VL - so[v2]) * sizeof(real),
                                       ldw * sizeof(real), kn2);
                    kern->gemm_f(N, nv, kn, x + kb, D, W + (size_t)kb * ldw + so[v0], ldw, so[v0 + nv - 1] - so[v0],
                                 pg + (size_t)v0 * VL, Mp, kb > k0, &pw);
                }
            }
        }
        /* out = b + part[0] + part[1] + ... (+ ReLU) */
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            real *o = out + (size_t)n * M;
            const int mf = small ? M : nfull * VL; /* columns in their own lane */
            const size_t tl = (size_t)nfull * VL - (M - VL); /* tail column m is at lane m + tl */
            for (int m = 0; m < mf; m++) o[m] = b[m] + part[(size_t)n * Mp + m];
            for (int m = mf; m < M; m++) o[m] = b[m] + part[(size_t)n * Mp + m + tl];
            for (int g = 1; g < G; g++) {
                const real *pg = part + ((size_t)g * N + n) * Mp;
                for (int m = 0; m < mf; m++) o[m] += pg[m];
                for (int m = mf; m < M; m++) o[m] += pg[m + tl];
            }
            if (relu)
                for (int m = 0; m < M; m++) o[m] = o[m] > 0 ? o[m] : 0;
        }
    }
    return CN_OK;
}

int FN(cn_affine_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                          const real *b, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    return affine_fwd(ctx, out, x, w, b, N, D, M, 0);
}

/* dx[N,D] = dout w^T; dw[D,M] = x^T dout; db[M] = sum_n dout */
int FN(cn_affine_backward_naive)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                 const real *x, const real *w, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    if (dx)
        for (int n = 0; n < N; n++)
            for (int d = 0; d < D; d++) {
                real s = 0;
                for (int m = 0; m < M; m++) s += dout[(size_t)n * M + m] * w[(size_t)d * M + m];
                dx[(size_t)n * D + d] = s;
            }
    for (int d = 0; d < D; d++)
        for (int m = 0; m < M; m++) {
            real s = 0;
            for (int n = 0; n < N; n++) s += x[(size_t)n * D + d] * dout[(size_t)n * M + m];
            dw[(size_t)d * M + m] = s;
        }
    for (int m = 0; m < M; m++) {
        real s = 0;
        for (int n = 0; n < N; n++) s += dout[(size_t)n * M + m];
        db[m] = s;
    }
    return CN_OK;
}

/* dx (NULL: skipped), dw, db. Work items: blocks of DC rows of w / dw, taken
 * dynamically; each computes its rows of dw (= x[:, rows]^T dout) and its
 * columns of dx (= dout w[rows, :]^T, w transposed a panel at a time), so w
 * is read and dw written once, in one pass. Every output element is summed
 * in a fixed order: results do not depend on the schedule. */
static int affine_bwd(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout, const real *x,
                      const real *w, int N, int D, int M) {
    const akern *kern = pick_akern();
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
    if (nt < 1) nt = 1;
    const int small = M < VL;
    const int nvec = small ? 1 : M / VL + (M % VL != 0);
    const int MRW = kern->mr_w, NVW = kern->nv_w, PW = kern->nv_x * VL; /* dx panel: PW rows of w */
    const int nblk = (nvec + NVW - 1) / NVW;
    const int dc = tune("ADC", DC), nch = (D + dc - 1) / dc;
    if (nt > nch) nt = nch;
    const size_t dcw = rup(dc, MRW), mc = M < tune("AMC", MC) ? M : tune("AMC", MC);
    const size_t npx = rup(N, kern->mr_x), gpk_sz = rup(cn__mul(N, (size_t)nblk * NVW * VL), 16);
    /* workspace: so, co [nvec], vo [NV] | gpk: dout packed by panel [nblk][N, NVW*VL] |
     * dt [M, npx] (dx) | gp [N, VL] (small) | per thread xs [dcw/MRW][N, MRW], wt [mc, PW] (dx) */
    size_t ofs_sz = rup((2 * (size_t)nvec + NV_MAX) * sizeof(ptrdiff_t), 64) / sizeof(real);
    size_t dt_sz = dx ? rup(cn__mul(M, npx), 16) : 0, gp_sz = small ? rup(cn__mul(N, VL), 16) : 0;
    size_t xs_sz = rup(cn__mul(N, dcw), 16), wt_sz = dx ? rup(mc * PW, 16) : 0;
    size_t bytes = cn__mul(ofs_sz + gpk_sz + dt_sz + gp_sz + cn__mul(nt, xs_sz + wt_sz), sizeof(real));
    if (xs_sz == 0 || gpk_sz == 0 || bytes == 0 || bytes > WS_MAX_BYTES)
        return CN_ERR(ctx, CN_ENOMEM, "affine: workspace for N=%d D=%d M=%d would exceed %zu MB", N, D, M,
                      WS_MAX_BYTES >> 20);
    real *ws = cn__ws(ctx, CN_WS_MISC, bytes);
    if (!ws) return CN_ENOMEM;
    ptrdiff_t *so = (ptrdiff_t *)ws, *vo = so + 2 * nvec;
    real *gpk = ws + ofs_sz, *dt = gpk + gpk_sz, *gp = dt + dt_sz, *thr0 = gp + gp_sz;
    col_vectors(M, so, so + nvec); /* dw stores where dout is read: C offsets = so */
    for (int v = 0; v < NV_MAX; v++) vo[v] = (ptrdiff_t)v * VL;
    const real *G = dout;
    ptrdiff_t ldg = M;
    if (small) { /* dout [N, M] zero-padded to [N, VL]; dw rows stored M wide */
        for (int n = 0; n < N; n++)
            for (int m = 0; m < VL; m++) gp[(size_t)n * VL + m] = m < M ? dout[(size_t)n * M + m] : 0;
        G = gp;
        ldg = VL;
    }
    for (int bl = 0; bl < nblk; bl++) {
        int v0 = bl * NVW, nv = nvec - v0 < NVW ? nvec - v0 : NVW;
        kern->pack(gpk + (size_t)bl * N * NVW * VL, G, ldg, so + v0, nv, N);
    }
    if (dx) kern->transpose(dt, npx, dout, M, N, M); /* dt[M, npx] = dout^T */
    for (int m = 0; m < M; m++) db[m] = dout[m];
    for (int n = 1; n < N; n++)
        for (int m = 0; m < M; m++) db[m] += dout[(size_t)n * M + m];
#pragma omp parallel num_threads(nt)
    {
        real *xs = thr0 + (size_t)thread_id() * (xs_sz + wt_sz), *wt = xs + xs_sz;
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nch; ch++) {
            int d0 = ch * dc, dn = D - d0 < dc ? D - d0 : dc;
            /* xs: x[:, d0:d0+dn] by row tile, [tile][n][MRW], zero-padded */
            for (int t = 0; t * MRW < dn; t++) {
                int r0 = t * MRW, rn = dn - r0 < MRW ? dn - r0 : MRW;
                real *dst = xs + (size_t)t * N * MRW;
                for (int n = 0; n < N; n++, dst += MRW) {
                    const real *src = x + (size_t)n * D + d0 + r0;
                    if (rn == MRW) memcpy(dst, src, sizeof(real) * MRW);
                    else
                        for (int r = 0; r < MRW; r++) dst[r] = r < rn ? src[r] : 0;
                }
            }
            /* the first panel of w for dx, prefetched during dw's last row tile */
            int pn0 = dn < PW ? dn : PW;
            pfcur pdx = dx ? pf_region(w + (size_t)d0 * M, (M < (int)mc ? M : (int)mc) * sizeof(real),
                                       (ptrdiff_t)M * sizeof(real), pn0)
                           : (pfcur){0};
            /* dw[d0:d0+dn, :] = xs^T dout: by row tile, every panel of dout
             * (rows of dw written whole, one after the other; the next row
             * tile's rows prefetched for writing) */
            for (int t = 0; t * MRW < dn; t++) {
                int r0 = t * MRW, rn = dn - r0 < MRW ? dn - r0 : MRW, rn2 = dn - r0 - rn < MRW ? dn - r0 - rn : MRW;
                pfcur pc = rn2 > 0 ? pf_region(dw + (size_t)(d0 + r0 + rn) * M, M * sizeof(real), M * sizeof(real), rn2)
                                   : pdx;
                for (int bl = 0; bl < nblk; bl++) {
                    int v0 = bl * NVW, nv = nvec - v0 < NVW ? nvec - v0 : NVW;
                    kern->gemm_w(rn, nv, N, xs + (size_t)t * N * MRW, MRW, 0, gpk + (size_t)bl * N * NVW * VL,
                                 nv * VL, vo, dw + (size_t)(d0 + r0) * M, M, so + v0, 0, bl == nblk - 1 && small ? M : VL,
                                 &pc);
                }
            }
            if (!dx) continue;
            /* dx[:, d0:d0+dn] = dout w[d0:d0+dn, :]^T by panels of PW rows of w,
             * mc columns at a time (transposed into wt[mn, nvp*VL]); the next
             * block of w prefetched meanwhile */
            for (int p0 = 0; p0 < dn; p0 += PW) {
                int pn = dn - p0 < PW ? dn - p0 : PW, nvp = (pn + VL - 1) / VL;
                int lastx = pn % VL ? pn % VL : VL;
                for (int m0 = 0; m0 < M; m0 += (int)mc) {
                    int mn = M - m0 < (int)mc ? M - m0 : (int)mc;
                    int p2 = m0 + mn < M ? p0 : p0 + PW, m2 = m0 + mn < M ? m0 + (int)mc : 0;
                    int pn2 = dn - p2 < PW ? dn - p2 : PW, mn2 = M - m2 < (int)mc ? M - m2 : (int)mc;
                    pfcur pc = pn2 > 0 ? pf_region(w + (size_t)(d0 + p2) * M + m2, mn2 * sizeof(real),
                                                   (ptrdiff_t)M * sizeof(real), pn2)
                                       : (pfcur){0};
                    kern->transpose(wt, nvp * VL, w + (size_t)(d0 + p0) * M + m0, M, pn, mn);
                    kern->gemm_x(N, nvp, mn, dt + (size_t)m0 * npx, npx, kern->mr_x, wt, nvp * VL, vo,
                                 dx + d0 + p0, D, vo, m0 > 0, lastx, &pc);
                }
            }
        }
    }
    return CN_OK;
}

int FN(cn_affine_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                           const real *x, const real *w, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    return affine_bwd(ctx, dx, dw, db, dout, x, w, N, D, M);
}

int FN(cn_relu_forward)(cn_ctx *ctx, real *out, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0;
    return CN_OK;
}

int FN(cn_relu_backward)(cn_ctx *ctx, real *dx, const real *dout, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dout[i] : 0;
    return CN_OK;
}

static int check_softmax(cn_ctx *ctx, const int32_t *y, int N, int C) {
    if (N <= 0 || C <= 0)
        return CN_ERR(ctx, CN_EINVAL, "softmax_loss: shapes must be positive, got N=%d C=%d", N, C);
    for (int n = 0; n < N; n++)
        if (y[n] < 0 || y[n] >= C)
            return CN_ERR(ctx, CN_EINVAL, "softmax_loss: label y[%d]=%d is out of range [0, %d)", n, (int)y[n], C);
    return CN_OK;
}

/* The original's steps: shifted = x - max; log_probs = shifted - log sum exp;
 * loss = -mean(log_probs[y]); dx = (probs - onehot) / N. */
int FN(cn_softmax_loss_naive)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                              const int32_t *y, int N, int C) {
    int rc = check_softmax(ctx, y, N, C);
    if (rc) return rc;
    double total = 0;
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx = row[0];
        for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
        real z = 0;
        for (int c = 0; c < C; c++) z += exp(row[c] - mx);
        real logz = log(z);
        total -= (row[y[n]] - mx) - logz;
        if (dx)
            for (int c = 0; c < C; c++) {
                real p = exp(row[c] - mx - logz);
                dx[(size_t)n * C + c] = (p - (c == y[n])) / N;
            }
    }
    *loss = total / N;
    return CN_OK;
}

/* Fast: the same arithmetic, row-parallel, exps computed once. */
int FN(cn_softmax_loss)(cn_ctx *ctx, double *loss, real *dx, const real *x,
                        const int32_t *y, int N, int C) {
    int rc = check_softmax(ctx, y, N, C);
    if (rc) return rc;
    double total = 0;
#pragma omp parallel for reduction(+ : total) num_threads(cn__nt(ctx)) if (N * C > 65536)
    for (int n = 0; n < N; n++) {
        const real *row = x + (size_t)n * C;
        real mx = row[0];
        for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
        real z = 0;
        for (int c = 0; c < C; c++) z += exp(row[c] - mx);
        real logz = log(z);
        total -= (row[y[n]] - mx) - logz;
        if (dx) {
            real *d = dx + (size_t)n * C;
            for (int c = 0; c < C; c++) d[c] = (exp(row[c] - mx - logz) - (c == y[n])) / N;
        }
    }
    *loss = total / N;
    return CN_OK;
}

int FN(cn_affine_relu_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                               const real *b, int N, int D, int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    return affine_fwd(ctx, out, x, w, b, N, D, M, 1);
}

int FN(cn_affine_relu_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                const real *out, const real *x, const real *w, int N, int D,
                                int M) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    real *da = cn__ws(ctx, CN_WS_LAYER, sizeof(real) * (size_t)N * M); /* [N,M] */
    if (!da) return CN_ENOMEM;
    FN(cn_relu_backward)(ctx, da, dout, out, (size_t)N * M);
    return FN(cn_affine_backward)(ctx, dx, dw, db, da, x, w, N, D, M);
}
