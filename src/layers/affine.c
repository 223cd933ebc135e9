/* affine.c — the affine layer: out = x w + b and its backward. Naive
 * (direct loops, as the original) beside fast (own SIMD GEMM kernels,
 * described at "fast path" below), the fast forward with an optional ReLU
 * (for the affine-relu sandwich, sandwich.c), and the Solver's backward with
 * the update of w fused in. */
#include "kern.h"
#include <sched.h>
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif

static int check_affine(cn_ctx *ctx, int N, int D, int M) {
    if (N <= 0 || D <= 0 || M <= 0)
        return cn_error(ctx, CN_EINVAL, "affine: shapes must be positive, got N=%d D=%d M=%d", N, D, M);
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

/* ---- fast path -------------------------------------------------------------
 * Own GEMM kernels: register tiles on GCC vector types, in simd/affine.c,
 * compiled once per SIMD level with that level's vector width (kern.h);
 * the context's level picks the table and its vector length VL.
 *
 * The net's hidden layer is x (50, 8192) by w (8192, M), M = 500 or 100: w
 * is 16 MB (M = 500), read by the forward and by dx, and dw (16 MB) is
 * written. Each of them is streamed once, in place, a block ahead of use by
 * software prefetch (a cursor advanced one cache line per k step of the
 * tiles). x's rows, 32 KB apart, fall into a few cache sets: any access
 * that needs all 50 rows of a block at once is avoided or copied.
 *   forward  out = x w + b: tiles of MR rows of x (read in place, row by
 *            row: broadcasts) by NV vectors of a row of w (read in place);
 *            D is cut into k groups with partial sums added in order.
 *   dw       dw = x^T dout: tiles of MR rows of dw (a copy of x[:, rows])
 *            by NV vectors of a panel of dout (packed once).
 *   dx       dx = dout w^T, as dx^T = w dout^T: tiles of MR rows of w (read
 *            in place: broadcasts) by NV vectors of dout^T (packed once),
 *            into dx^T, which is transposed into dx; the N % VL rows of dx
 *            left over (N = 50: 2) as dot products of rows of dout and w.
 * A row of M columns that is not a multiple of VL gets one more vector at
 * column M - VL, overlapping the last full one: the forward keeps its sums
 * in a slot of their own, dw stores the overlapped columns again with equal
 * values. So w and dout are read without masked access. Every output
 * element is summed in a fixed order that depends on the shapes only.
 * M < VL (the net's last layer, 10 classes) goes to OpenBLAS too, which
 * dev/gemm_compare measured faster there (a row narrower than a vector). */
static pfcur pf_region(const void *base, ptrdiff_t row_bytes, ptrdiff_t ld_bytes, int rows) {
    pfcur c = {NULL, 0, 0, 0, 0, 0, NULL};
    if (!base || rows <= 0 || row_bytes <= 0) return c;
    uintptr_t a = (uintptr_t)base, a0 = a & ~(uintptr_t)63;
    c.p = (const char *)a0;
    c.lpr = (int)((a + row_bytes - a0 + 63) / 64); /* a misaligned row: one line more */
    c.skip = ld_bytes - (ptrdiff_t)c.lpr * 64;
    c.left = c.lpr * rows;
    return c;
}
/* ---- fast path: drivers ------------------------------------------------- */
#define DC 128                          /* backward: rows of w / dw per work item */
#define PART_BYTES ((size_t)8 << 20)    /* forward: k-group partial sums, at most */
#define AFF_KGROUPS 4                   /* forward: k groups (fewer when D or the parts are small) */
#define WS_MAX_BYTES ((size_t)1 << 30)  /* whole workspace, at most */

static size_t rup(size_t n, size_t m) { return (n + m - 1) / m * m; }
/* block sizes: the defaults, or (built with -DCN_AFFINE_TUNE, for tuning)
 * AKC, ADC, AG from the environment */
static int tune(const char *name, int def) {
#ifdef CN_AFFINE_TUNE
    const char *e = getenv(name);
    if (e && atoi(e) > 0) return atoi(e);
#endif
    (void)name;
    return def;
}

/* db[M] = sum_n dout[n, :], rows added in order (both fast paths) */
static void bias_grad(real *db, const real *dout, int N, int M) {
    for (int m = 0; m < M; m++) db[m] = dout[m];
    for (int n = 1; n < N; n++)
        for (int m = 0; m < M; m++) db[m] += dout[(size_t)n * M + m];
}

/* Column vectors of a row of M >= VL: full ones at v*VL, then (M % VL !=
 * 0) one at M - VL. so[v] = offset; returns the count. */
static int col_vectors(int M, int VL, ptrdiff_t *so) {
    int nfull = M / VL, nvec = nfull + (M % VL != 0);
    for (int v = 0; v < nvec; v++) so[v] = v < nfull ? (ptrdiff_t)v * VL : M - VL;
    return nvec;
}

/* panel p of np over n vectors (balanced): [*v0, *v0 + *nv) */
static void panel(int n, int np, int p, int *v0, int *nv) {
    *v0 = (int)((long)n * p / np);
    *nv = (int)((long)n * (p + 1) / np) - *v0;
}

/* out[N,M] = x w + b, then max(., 0) when relu.
 * Work: G groups of k (rows of w) x ncc column chunks, taken dynamically;
 * a group sums into its own part[N, Mp] (Mp = vectors * VL); the parts are
 * added in order with the bias (and ReLU) in a last pass over out, so the
 * result depends on the shapes only, not on the threads or the schedule. Per k
 * block and panel of w: every row tile of x, the next panel prefetched. */
static int affine_fwd(cn_ctx *ctx, const affine_kern *kern, real *out, const real *x, const real *w,
                      const real *b, int N, int D, int M, int relu) {
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
    if (nt < 1) nt = 1;
    const int VL = kern->vl;
    const int nfull = M / VL, nvec = nfull + (M % VL != 0); /* M >= VL */
    const int npan = (nvec + kern->nv_f - 1) / kern->nv_f; /* panels of w */
    const size_t Mp = (size_t)nvec * VL, kc = tune("AKC", kern->kc_f);
    /* k groups from the shapes alone (not the threads), so every output
     * element is summed in the same order for any thread count; the
     * threads also split the columns (ncc chunks) */
    int G = tune("AG", AFF_KGROUPS);
    while (G > 1 && (cn__mul(cn__mul(G, N), Mp * sizeof(real)) > PART_BYTES || D / G < 64)) G--;
    int ncc = (2 * nt + G - 1) / G;
    if (ncc > npan) ncc = npan;
    /* workspace: so [nvec] | part [G, N, Mp] | claimed [items] (ints) */
    const int items = G * ncc;
    size_t ofs_sz = rup((size_t)nvec * sizeof(ptrdiff_t), 64) / sizeof(real);
    size_t part_sz = rup(cn__mul(cn__mul(G, N), Mp), 16);
    size_t ints_sz = rup((size_t)items * sizeof(int), 64) / sizeof(real);
    size_t bytes = cn__mul(ofs_sz + part_sz + ints_sz, sizeof(real));
    if (part_sz == 0 || bytes == 0 || bytes > WS_MAX_BYTES)
        return cn_error(ctx, CN_ENOMEM, "affine: workspace for N=%d D=%d M=%d would exceed %zu MB", N, D, M,
                      WS_MAX_BYTES >> 20);
    real *ws = cn__ws(ctx, CN_WS_MISC, bytes);
    if (!ws) return CN_ENOMEM;
    ptrdiff_t *so = (ptrdiff_t *)ws;
    real *part = ws + ofs_sz;
    int *claimed = (int *)(part + part_sz);
    memset(claimed, 0, sizeof(int) * items);
    col_vectors(M, VL, so);
    const real *W = w;
    const ptrdiff_t ldw = M;
    int done = 0; /* threads through their items */
    /* items with an owner (cn__own_next): at 2 threads, thread t reads the
     * rows of w that the backward's thread t updates, from its own caches */
#pragma omp parallel num_threads(nt)
    {
        cn__own_cur cur = {0, -1};
        int it, own;
        while ((it = cn__own_next(claimed, items, nt, omp_get_num_threads(), omp_get_thread_num(), &cur, &own)) >= 0) {
            int g = it / ncc, c = it % ncc;
            int k0 = (int)((long)D * g / G), k1 = (int)((long)D * (g + 1) / G);
            int p0 = (int)((long)npan * c / ncc), p1 = (int)((long)npan * (c + 1) / ncc);
            real *pg = part + (size_t)g * N * Mp;
            for (int kb = k0; kb < k1; kb += (int)kc) {
                int kn = k1 - kb < (int)kc ? k1 - kb : (int)kc;
                for (int p = p0; p < p1; p++) {
                    int v0, nv, v2, nv2;
                    panel(nvec, npan, p, &v0, &nv);
                    /* the next panel (or the next k block's first), prefetched */
                    int kb2 = p + 1 < p1 ? kb : kb + (int)kc;
                    int kn2 = k1 - kb2 < (int)kc ? k1 - kb2 : (int)kc;
                    panel(nvec, npan, p + 1 < p1 ? p + 1 : p0, &v2, &nv2);
                    pfcur pw = {0};
                    if (kn2 > 0)
                        pw = pf_region(W + (size_t)kb2 * ldw + so[v2],
                                       (so[v2 + nv2 - 1] + VL - so[v2]) * sizeof(real), ldw * sizeof(real), kn2);
                    kern->gemm_f(N, nv, kn, x + kb, D, W + (size_t)kb * ldw + so[v0], ldw,
                                 so[v0 + nv - 1] - so[v0], pg + (size_t)v0 * VL, Mp, kb > k0, &pw);
                }
            }
        }
        /* out = b + part[0] + part[1] + ... (+ ReLU), by the thread that
         * finishes last (no second barrier: under a busy machine, every
         * barrier can wait out another process's time slice) */
        if (__atomic_add_fetch(&done, 1, __ATOMIC_ACQ_REL) == omp_get_num_threads())
            for (int n = 0; n < N; n++) {
                real *o = out + (size_t)n * M;
                const int mf = nfull * VL; /* columns in their own lane */
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

/* ---- the backward --------------------------------------------------------
 * dx (NULL: skipped), dw, db. Work items: blocks of DC rows of w / dw, taken
 * dynamically; each computes its rows of dw (x[:, rows]^T dout, by row tile
 * over every panel of dout, the next rows of dw prefetched for writing) and
 * its columns of dx (dx^T[rows] = w[rows, :] dout^T by row tile of w, the
 * next rows of w prefetched, then transposed into dx): w is read and dw
 * written once, in one pass. Results do not depend on the schedule. */

/* The backward's shapes, tiles and workspace, shared by its steps. */
typedef struct {
    const affine_kern *kern;
    real *dx, *dw;
    const real *dout, *x, *w;
    int N, D, M, nt;
    cn__wupd *u;
    int VL, nvec, MRW, MRX, RND, DKD;
    int npw;            /* panels of dout for dw */
    int nfv, nh, npx;   /* dx: rows of dx by vectors, panels of dout^T */
    int nrem;           /* dx: rows left over, by dots */
    int dc, nch;        /* rows of w per chunk, chunks (nt copy ranges of x: a thread's own chunks) */
    size_t dcr;         /* a chunk's row of xr (dc padded to the dw tile) */
    size_t dxt_sz, dws_sz; /* per thread */
    ptrdiff_t *so;
    real *gpk, *dt, *dr, *xr, *thr0;
    double *sums;
    int *ready, *bad, *claimed;
} bwd_plan;

/* The plan and its workspace: so [nvec] | gpk: dout by panel [N, nv*VL]... |
 * dt [M, nh] (dx) | dr [nrem, nvec*VL] (dx) | xr [nch][N, dcr] | per thread
 * dxt [dc, nh] (dx) | per thread dws [dc, M] (u) | sums [nch] (u, doubles) |
 * ready [nt], bad [nch], claimed [nch] (ints). */
static int bwd_plan_make(cn_ctx *ctx, bwd_plan *b) {
    const affine_kern *kern = b->kern;
    const int N = b->N, D = b->D, M = b->M;
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
    if (nt < 1) nt = 1;
    const int VL = b->VL = kern->vl;
    const int nvec = b->nvec = M / VL + (M % VL != 0); /* M >= VL */
    b->MRW = kern->mr_w, b->MRX = kern->mr_x, b->RND = kern->rn_d, b->DKD = kern->dk_d;
    b->npw = (nvec + kern->nv_w - 1) / kern->nv_w;
    const int nfv = b->nfv = N / VL, nh = b->nh = nfv * VL;
    b->npx = nfv ? (nfv + kern->nv_x - 1) / kern->nv_x : 0;
    const int nrem = b->nrem = N - nh;
    const int dc = b->dc = tune("ADC", DC), nch = b->nch = (D + dc - 1) / dc;
    if (nt > nch) nt = nch;
    b->nt = nt;
    size_t ofs_sz = rup((size_t)nvec * sizeof(ptrdiff_t), 64) / sizeof(real);
    size_t gpk_sz = rup(cn__mul(N, (size_t)nvec * VL), 16);
    size_t dt_sz = b->dx ? rup(cn__mul(M, nh), 16) : 0, dr_sz = b->dx ? rup(cn__mul(nrem, (size_t)nvec * VL), 16) : 0;
    const size_t dcr = b->dcr = rup(dc, b->MRW), xr_sz = rup(cn__mul(cn__mul(nch, N), dcr), 16);
    size_t dxt_sz = b->dxt_sz = b->dx ? rup(cn__mul(dc, nh), 16) : 0;
    size_t dws_sz = b->dws_sz = b->u ? rup(cn__mul(dc, M), 16) : 0;
    size_t sums_sz = b->u ? rup((size_t)nch * sizeof(double), 64) / sizeof(real) : 0;
    size_t ints_sz = rup((16 * (size_t)nt + 2 * (size_t)nch) * sizeof(int), 64) / sizeof(real);
    size_t bytes = cn__mul(ofs_sz + gpk_sz + dt_sz + dr_sz + xr_sz + cn__mul(nt, dxt_sz + dws_sz) + sums_sz + ints_sz,
                           sizeof(real));
    if (xr_sz == 0 || gpk_sz == 0 || bytes == 0 || bytes > WS_MAX_BYTES)
        return cn_error(ctx, CN_ENOMEM, "affine: workspace for N=%d D=%d M=%d would exceed %zu MB", N, D, M,
                      WS_MAX_BYTES >> 20);
    real *ws = cn__ws(ctx, CN_WS_MISC, bytes);
    if (!ws) return CN_ENOMEM;
    b->so = (ptrdiff_t *)ws;
    b->gpk = ws + ofs_sz, b->dt = b->gpk + gpk_sz, b->dr = b->dt + dt_sz, b->xr = b->dr + dr_sz;
    b->thr0 = b->xr + xr_sz;
    b->sums = (double *)(b->thr0 + (size_t)nt * (dxt_sz + dws_sz)); /* [nch] (u) */
    b->ready = (int *)((real *)b->sums + sums_sz); /* [nt] */
    b->bad = b->ready + nt;                        /* [nch] (u) */
    b->claimed = b->bad + nch;                     /* [nch] */
    return CN_OK;
}

/* Before the items: dout packed by panel (dw), transposed (dx), its
 * left-over rows by vector (dx); db. */
static void bwd_prepare(const bwd_plan *b, real *db) {
    const int N = b->N, M = b->M, VL = b->VL, nvec = b->nvec, nh = b->nh;
    const real *dout = b->dout;
    const ptrdiff_t *so = b->so;
    col_vectors(M, VL, b->so); /* dw stores where dout is read: C offsets = so */
    for (int p = 0; p < b->npw; p++) { /* panel p of dout at gpk + N*v0*VL */
        int v0, nv;
        panel(nvec, b->npw, p, &v0, &nv);
        b->kern->pack(b->gpk + (size_t)N * v0 * VL, dout, M, so + v0, nv, N);
    }
    if (b->dx && nh) b->kern->transpose(b->dt, nh, dout, M, nh, M, nh); /* dt[M, nh] = dout[0:nh, :]^T */
    if (b->dx) /* dr: dout's left-over rows by vector so[v], the tail's overlapped lanes zero */
        for (int n = 0; n < b->nrem; n++)
            for (int v = 0; v < nvec; v++)
                for (int l = 0; l < VL; l++) {
                    ptrdiff_t c = so[v] + l;
                    b->dr[((size_t)n * nvec + v) * VL + l] = v == M / VL && c < (ptrdiff_t)v * VL ? 0 : dout[(size_t)(nh + n) * M + c];
                }
    bias_grad(db, dout, N, M);
    memset(b->ready, 0, sizeof(int) * b->nt);
    memset(b->claimed, 0, sizeof(int) * b->nch);
}

/* Range it < nt: xr[ch][n][0:dcr] = x[n, ch*dc : ch*dc+dn], zero-padded,
 * for the chunks of copy range it; then the range is marked ready. */
static void bwd_copy_x(const bwd_plan *b, int it) {
    const int N = b->N, D = b->D, dc = b->dc;
    const size_t dcr = b->dcr;
    int c0 = (int)((long)b->nch * it / b->nt), c1 = (int)((long)b->nch * (it + 1) / b->nt);
    for (int n = 0; n < N; n++)
        for (int ch = c0; ch < c1; ch++) {
            int d0 = ch * dc, dn = D - d0 < dc ? D - d0 : dc;
            real *dst = b->xr + ((size_t)ch * N + n) * dcr;
            memcpy(dst, b->x + (size_t)n * D + d0, sizeof(real) * dn);
            for (size_t t = dn; t < dcr; t++) dst[t] = 0;
        }
    __atomic_store_n(&b->ready[it], 1, __ATOMIC_RELEASE);
}

/* Waits for the copy range that holds chunk ch. */
static void bwd_wait_x(const bwd_plan *b, int ch) {
    const int nch = b->nch, nrg = b->nt;
    int rg = (int)((long)ch * nrg / nch); /* the copy range holding ch */
    while (rg + 1 < nrg && (long)nch * (rg + 1) / nrg <= ch) rg++;
    while ((long)nch * rg / nrg > ch) rg--;
    while (!__atomic_load_n(&b->ready[rg], __ATOMIC_ACQUIRE)) sched_yield();
}

/* dw[d0:d0+dn, :] = xs^T dout into dwr (dw, or this thread's dws offset
 * by -d0 rows): by row tile, every panel of dout (rows of dw written
 * whole, one after the other; the next row tile's rows prefetched for
 * writing, and last, the first rows of w for dx). */
static void bwd_chunk_dw(const bwd_plan *b, int d0, int dn, const real *xs, real *dwr) {
    const int M = b->M, N = b->N, MRW = b->MRW, MRX = b->MRX, VL = b->VL;
    const cn__wupd *u = b->u;
    /* the first rows of w for dx, prefetched during dw's last row tile */
    pfcur pdx = b->dx ? pf_region(b->w + (size_t)d0 * M, M * sizeof(real), M * sizeof(real), dn < MRX ? dn : MRX)
                      : (pfcur){0};
    /* (u) dw stays in dws: instead, this block's rows of the
     * moments (read by the update below) are prefetched, then w's */
    pfcur pv = u && u->v ? pf_region((real *)u->v + (size_t)d0 * M, M * sizeof(real), M * sizeof(real), dn) : pdx;
    if (u && u->v) pv.next = &pdx;
    pfcur pm = u && u->m ? pf_region((real *)u->m + (size_t)d0 * M, M * sizeof(real), M * sizeof(real), dn) : pv;
    if (u && u->m) pm.next = &pv;
    for (int r0 = 0; r0 < dn; r0 += MRW) {
        int rn = dn - r0 < MRW ? dn - r0 : MRW, rn2 = dn - r0 - rn < MRW ? dn - r0 - rn : MRW;
        pfcur pc = rn2 > 0 ? pf_region(dwr + (size_t)(d0 + r0 + rn) * M, M * sizeof(real), M * sizeof(real), rn2)
                           : pdx;
        if (rn2 > 0) pc.rw = 1;
        if (u) pc = pm; /* one cursor through the moments, then w */
        for (int p = 0; p < b->npw; p++) {
            int v0, nv;
            panel(b->nvec, b->npw, p, &v0, &nv);
            b->kern->gemm_w(rn, nv, N, xs + r0, b->dcr, b->gpk + (size_t)N * v0 * VL, dwr + (size_t)(d0 + r0) * M, M,
                            b->so + v0, &pc);
        }
        if (u) pm = pc;
    }
}

/* dx^T[d0:d0+dn, 0:nh] = w[d0:d0+dn, :] dout[0:nh, :]^T into dxt[dn, nh],
 * by row tile of w (the next tile's rows prefetched), transposed into
 * dx[0:nh, d0:d0+dn]; then dx[nh:N, d0:d0+dn], dots of dout's left-over
 * rows and w's rows. */
static void bwd_chunk_dx(const bwd_plan *b, int d0, int dn, real *dxt) {
    const int M = b->M, D = b->D, MRX = b->MRX, VL = b->VL, nh = b->nh, nrem = b->nrem;
    const int RND = b->RND, DKD = b->DKD, nvec = b->nvec;
    const real *w = b->w;
    real *dx = b->dx;
    for (int p = 0; p < b->npx; p++) {
        int v0, nv;
        panel(b->nfv, b->npx, p, &v0, &nv);
        for (int r0 = 0; r0 < dn; r0 += MRX) {
            int rn = dn - r0 < MRX ? dn - r0 : MRX, r2 = r0 + rn, rn2 = dn - r2 < MRX ? dn - r2 : MRX;
            pfcur pc = rn2 > 0 ? pf_region(w + (size_t)(d0 + r2) * M, M * sizeof(real), M * sizeof(real), rn2)
                               : (pfcur){0};
            b->kern->gemm_x(rn, nv, M, w + (size_t)(d0 + r0) * M, M, b->dt + (size_t)v0 * VL, nh,
                            (ptrdiff_t)(nv - 1) * VL, dxt + (size_t)r0 * nh + (size_t)v0 * VL, nh, 0, &pc);
        }
    }
    /* dx's rows, 32 KB apart (D = 8192), share a few cache sets: its lines
     * are written whole by streaming stores, without reading them first
     * (M = 100: the backward 9% faster) */
    if (nh) b->kern->transpose_st(dx + d0, D, dxt, nh, dn, nh, dn);
    for (int n0 = 0; n0 < nrem; n0 += RND)
        for (int e0 = 0; e0 < dn; e0 += DKD)
            b->kern->dot(nrem - n0 < RND ? nrem - n0 : RND, dn - e0 < DKD ? dn - e0 : DKD, nvec,
                         b->dr + (size_t)n0 * nvec * VL, (ptrdiff_t)nvec * VL, w + (size_t)(d0 + e0) * M, M, b->so,
                         dx + (size_t)(nh + n0) * D + d0 + e0, D);
}

/* (u) rows d0.. of w are final for dx: update them now, while they are in
 * cache (w, dws, and the moments' rows); chunk ch's sum(w^2) and flag. */
static void bwd_chunk_upd(const bwd_plan *b, int ch, int d0, int dn, const real *dws) {
    const int M = b->M;
    const cn__wupd *u = b->u;
    b->sums[ch] = 0;
    b->bad[ch] = FN(cn__update_fused)(u->level, u->rule, (real *)b->w + (size_t)d0 * M, dws, (real *)u->m + (size_t)d0 * M,
                                      (real *)u->v + (size_t)d0 * M, (size_t)dn * M, u->reg, u->lr, u->p1, u->p2,
                                      u->eps, u->t, &b->sums[ch]) != CN_OK;
    /* a non-finite value: keep these rows of dw where the
     * caller's diagnosis looks for the gradient that caused it */
    if (b->bad[ch] && b->dw) memcpy(b->dw + (size_t)d0 * M, dws, sizeof(real) * (size_t)dn * M);
}

static int affine_bwd(cn_ctx *ctx, const affine_kern *kern, real *dx, real *dw, real *db,
                      const real *dout, const real *x, const real *w, int N, int D, int M,
                      cn__wupd *u) {
    bwd_plan b = {.kern = kern, .dx = dx, .dw = dw, .dout = dout, .x = x, .w = w, .N = N, .D = D, .M = M, .u = u};
    int rc = bwd_plan_make(ctx, &b);
    if (rc) return rc;
    bwd_prepare(&b, db);
    /* Thread t owns the chunks of range t (cn__own_next): it
     * copies their x (x's rows, 32 KB apart, fall into a few cache sets, so
     * the 50-row block a chunk needs is not read from x itself but from
     * xr, filled by streaming along the rows), then takes them in order.
     * The same thread gets the same rows of w, dw, dx and the moments every
     * call (taken dynamically, 2 threads ran M = 100 only 15% faster than
     * 1). Another's chunk waits for its range's copy (no barrier: on a
     * busy machine a barrier can wait out another process's time slice). */
    const int nt = b.nt, nch = b.nch, dc = b.dc;
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num(), T = omp_get_num_threads();
        real *dxt = b.thr0 + (size_t)tid * b.dxt_sz;
        real *dws = b.thr0 + (size_t)nt * b.dxt_sz + (size_t)tid * b.dws_sz;
        for (int r = tid; r < nt; r += T) bwd_copy_x(&b, r);
        cn__own_cur cur = {0, -1};
        int ch, own;
        while ((ch = cn__own_next(b.claimed, nch, nt, T, tid, &cur, &own)) >= 0) {
            if (!own) bwd_wait_x(&b, ch);
            int d0 = ch * dc, dn = D - d0 < dc ? D - d0 : dc;
            /* rows d0.. of dw: in dw, or (u) in this thread's dws [dn, M] */
            bwd_chunk_dw(&b, d0, dn, b.xr + (size_t)ch * N * b.dcr, u ? dws - (ptrdiff_t)d0 * M : dw);
            if (dx) bwd_chunk_dx(&b, d0, dn, dxt);
            if (u) bwd_chunk_upd(&b, ch, d0, dn, dws);
        }
    }
    if (u) /* in chunk order: the same sum whatever the threads */
        for (int ch = 0; ch < nch; ch++) {
            u->sumsq += b.sums[ch];
            u->bad |= b.bad[ch];
        }
    return CN_OK;
}

/* The context's kernels, or NULL for OpenBLAS: a row narrower than a
 * vector (the net's 10-class layer at VL 16) was measured faster there. */
static const affine_kern *own_kern(const cn_ctx *ctx, int M) {
    const affine_kern *k = affine_kern_for(cn__simd(ctx));
    return M < k->vl ? NULL : k;
}

/* OpenBLAS (M < VL), single-threaded by the context; the
 * threads split the output: columns of out (in blocks of 16), rows of dw
 * and columns of dx, so OpenBLAS's own pool never competes with OpenMP's. */
static void split16(int n, int T, int id, int *lo, int *hi) {
    int blocks = (n + 15) / 16, per = blocks / T, extra = blocks % T;
    int b0 = id * per + (id < extra ? id : extra), b1 = b0 + per + (id < extra);
    *lo = b0 * 16 < n ? b0 * 16 : n;
    *hi = b1 * 16 < n ? b1 * 16 : n;
}

static int affine_fwd_blas(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b, int N,
                           int D, int M, int relu) {
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        split16(M, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (lo < hi) {
            for (int n = 0; n < N; n++) memcpy(out + (size_t)n * M + lo, b + lo, sizeof(real) * (hi - lo));
            /* out[:, lo:hi] = x[N,D] w[:, lo:hi] + out */
            cn_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, hi - lo, D, 1, x, D, w + lo, M, 1, out + lo, M);
            if (relu)
                for (int n = 0; n < N; n++)
                    for (int m = lo; m < hi; m++) {
                        real *o = out + (size_t)n * M + m;
                        *o = *o > 0 ? *o : 0;
                    }
        }
    }
    return CN_OK;
}

static int affine_bwd_blas(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout, const real *x,
                           const real *w, int N, int D, int M) {
    int nt = (double)N * D * M > 2e6 ? cn__nt(ctx) : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        split16(D, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (lo < hi) {
            if (dx) /* dx[:, lo:hi] = dout w[lo:hi, :]^T */
                cn_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hi - lo, M, 1, dout, M, w + (size_t)lo * M, M, 0,
                        dx + lo, D);
            /* dw[lo:hi, :] = x[:, lo:hi]^T dout */
            cn_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, M, N, 1, x + lo, D, dout, M, 0,
                    dw + (size_t)lo * M, M);
        }
    }
    bias_grad(db, dout, N, M);
    return CN_OK;
}

int FN(cn__affine_forward_act)(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b,
                               int N, int D, int M, int relu) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    const affine_kern *kern = own_kern(ctx, M);
    return kern ? affine_fwd(ctx, kern, out, x, w, b, N, D, M, relu)
                : affine_fwd_blas(ctx, out, x, w, b, N, D, M, relu);
}

int FN(cn_affine_forward)(cn_ctx *ctx, real *out, const real *x, const real *w,
                          const real *b, int N, int D, int M) {
    return FN(cn__affine_forward_act)(ctx, out, x, w, b, N, D, M, 0);
}

/* Every backward of the layer: affine (out == NULL) or affine-relu (out =
 * the forward's output: dout masked by out > 0), and with u the update of w
 * fused in (see real.h); without u (NULL) w is only read. On the OpenBLAS
 * path (M < VL) dw goes to `dw`, then one fused pass updates w. */
int FN(cn__affine_backward_upd)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                                const real *out, const real *x, real *w, int N, int D, int M,
                                cn__wupd *u) {
    int rc = check_affine(ctx, N, D, M);
    if (rc) return rc;
    if (out) { /* affine-relu: dout masked by out > 0 */
        real *da = cn__ws(ctx, CN_WS_LAYER, sizeof(real) * (size_t)N * M); /* [N,M] */
        if (!da) return CN_ENOMEM;
        FN(cn_relu_backward)(ctx, da, dout, out, (size_t)N * M);
        dout = da;
    }
    const affine_kern *kern = own_kern(ctx, M);
    if (kern) return affine_bwd(ctx, kern, dx, dw, db, dout, x, w, N, D, M, u);
    if ((rc = affine_bwd_blas(ctx, dx, dw, db, dout, x, w, N, D, M)) || !u) return rc;
    u->bad |= FN(cn__update_fused)(u->level, u->rule, w, dw, u->m, u->v, (size_t)D * M, u->reg, u->lr, u->p1, u->p2,
                                   u->eps, u->t, &u->sumsq) != CN_OK;
    return CN_OK;
}

int FN(cn_affine_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                           const real *x, const real *w, int N, int D, int M) {
    /* no update rule: w is not written */
    return FN(cn__affine_backward_upd)(ctx, dx, dw, db, dout, NULL, x, (real *)w, N, D, M, NULL);
}
