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
 * Work items (sample, chunk) are taken by OpenMP threads dynamically (a
 * thread that loses its core does not hold the others up; the forward's
 * items in runs where they write the output in place), each thread with
 * its own buffers in one CN_WS_IM2COL workspace. dw/db go through
 * fixed groups of items whose sums are added in order, so results are
 * bit-identical from run to run and for any thread count. The inner kernels are
 * register-tiled loops on GCC vector types, compiled for AVX-512, AVX2+FMA
 * and baseline x86-64 and picked at run time (CN_SIMD=avx2|generic caps the
 * choice, for testing). */
#include "kern.h"
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
        return cn_error(ctx, CN_EINVAL, "conv: C*HH*WW = %d*%d*%d is too large", s->C, s->HH, s->WW);
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

/* dx[N,C,H,W], dw[F,C,HH,WW], db[F] (each NULL: skipped) from dout[N,F,H',W'] */
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

/* ---- fast path ---------------------------------------------------------------
 * The kernels (GEMM tiles, dots, im2col) are in simd/conv.c, one table per
 * SIMD level (kern.h); the plan takes the context's level and its vector
 * length VL (the chunk and tile sizes below follow it). */
/* ---- fast path: plan and workspace ---------------------------------------- */
#define COL_BYTES ((size_t)1 << 20)        /* per-thread column chunk: about L2 */
#define IMPL_COLS 1024                     /* columns of a chunk read in place, at least */
#define WS_MAX_BYTES ((size_t)1 << 30)     /* whole workspace, at most */

/* Fixed counts (not the threads), so the sums do not depend on the
 * threads: samples are split into more items when there are fewer than
 * CONV_MIN_ITEMS (the forward's tiles follow the items), and dw/db are
 * summed in at most CONV_GROUPS item groups (2 per thread for 8 threads). */
#define CONV_MIN_ITEMS 4
#define CONV_GROUPS 16

/* Workspace (CN_WS_IM2COL): off[K] (ints, shared), gsum (backward), then
 * per thread xpad | col | tile | vb | pix; sizes in reals, each a multiple
 * of 16. */
typedef struct {
    int Ho, Wo, Hp, Wp, P, K;
    int cp, nch, nt;
    int spc;           /* samples per item (small planes: several in one chunk) */
    int nb;            /* sample blocks: ceil(N / spc); items = nb * nch */
    int wide;          /* forward, stride 1: columns numbered with row stride Wp */
    int ro;            /* row stride of the column numbering: Wp if wide, else Wo */
    int Pc;            /* columns of one sample in that numbering */
    size_t xone;       /* one sample's xpad (reals); the thread's xpad holds spc of them */
    int ldt;           /* row stride of tile: cp + VL, so rows do not alias in L1 */
    int Fp;            /* backward: F rounded up to vectors (dout^T rows, dw^T rows) */
    int implicit;      /* columns read straight from xpad (see tile_body) */
    size_t shared_sz, xpad_sz, col_sz, tile_sz, vb_sz, pix_sz, dbuf_sz, per_thread;
    size_t gs;         /* backward: one group's sums, dw^T [K, Fp] | db [F] */
    real *ws;
    int *off;          /* [K] tap offsets into xpad: off[k] = (c*Hp + kh)*Wp + kw */
    int groups;        /* backward: dw/db item groups (CONV_GROUPS at most) */
    real *gsum;        /* backward: [groups, gs] group sums */
    int *claimed;      /* forward: [items], the items taken (cn__own_next) */
    conv_geo g;
    const conv_kern *kern;
    int vl;            /* the kernels' vector length */
    int level;         /* the kernels' SIMD level (the pool's kernels too) */
} conv_plan;

/* PLAN_BACKWARD_UNPOOL: dw, db of a max pool's gradient (conv_unpool) */
enum { PLAN_FORWARD, PLAN_BACKWARD, PLAN_BACKWARD_DX, PLAN_BACKWARD_UNPOOL };

/* this thread's buffers */
typedef struct {
    real *xpad, *col, *tile;
    int *vb, *pix;
    real *dbuf; /* PLAN_BACKWARD_UNPOOL: an item's samples of dout [spc, F, P] */
} thr_bufs;

/* The backward of conv -> relu -> max pool without dout in memory: an
 * item's samples of dout are made in the thread's dbuf from the pool's
 * gradient g [N, F, Po, Qo], argmax ix and pooled output keep (the
 * relu's mask: see cn__pool_scatter), where they are read in cache. */
typedef struct {
    const real *g, *keep;
    const int32_t *ix;
    const pool_kern *pk; /* 2x2 stride 2: the dense unpool, else NULL */
    int Po, Qo;          /* a pooled plane */
    long bad; /* the first bad index found (-1: none) */
} conv_unpool;

static thr_bufs thr(const conv_plan *pl, int t) {
    real *b = pl->ws + pl->shared_sz + (size_t)t * pl->per_thread;
    thr_bufs r;
    r.xpad = b;
    r.col = r.xpad + pl->xpad_sz;
    r.tile = r.col + pl->col_sz;
    r.vb = (int *)(r.tile + pl->tile_sz);
    r.pix = (int *)(r.tile + pl->tile_sz + pl->vb_sz);
    r.dbuf = r.tile + pl->tile_sz + pl->vb_sz + pl->pix_sz;
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
    pl->level = cn__simd(ctx);
    pl->kern = conv_kern_for(pl->level);
    const int VL = pl->vl = pl->kern->vl;
    pl->implicit = s->stride == 1 && pl->Wo % VL == 0;
    /* chunk: a multiple of the GEMM tile's columns whose im2col fits
     * COL_BYTES; read in place (no im2col), up to IMPL_COLS columns */
    const int CB = pl->kern->nv * VL;
    size_t cpmax = COL_BYTES / ((size_t)pl->K * sizeof(real)) / CB * CB;
    if (cpmax < (size_t)CB) cpmax = CB;
    size_t Pr = ((size_t)pl->P + VL - 1) / VL * VL;
    /* Small planes (a 7x7 or 3x3 plane is 49 or 9 columns, rounded up to
     * vectors): several samples make one item, so the tiles run long rows
     * and nothing is padded but the item's end. Forward: when the columns
     * are an im2col; dw: always (it reads xpad in place). At least 16 items
     * stay, for the threads. */
    pl->spc = 1;
    if ((backward || !pl->implicit) && cpmax / pl->P >= 2) {
        size_t most = s->N / 16 > 1 ? (size_t)s->N / 16 : 1;
        pl->spc = (int)(cpmax / pl->P < most ? cpmax / pl->P : most);
    }
    /* Forward, stride 1, W' not a multiple of VL: read in place anyway,
     * numbering columns with xpad's row stride Wp (i*Wp + j): a vector that
     * runs past a row's end reads the pad columns and makes Wp - W' outputs
     * that are not kept. Chosen when they cost at most 15% more columns
     * than an im2col would (31x31 pad 1: 6%, 15x15: 10%). */
    pl->wide = 0;
    pl->ro = pl->Wo;
    pl->Pc = pl->P;
    if (!backward && s->stride == 1 && !pl->implicit && pl->spc == 1) {
        size_t pw = ((size_t)(pl->Ho - 1) * pl->Wp + pl->Wo + VL - 1) / VL * VL;
        if (pw * 20 <= Pr * 23) {
            pl->wide = pl->implicit = 1;
            pl->ro = pl->Wp;
            pl->Pc = (pl->Ho - 1) * pl->Wp + pl->Wo;
            Pr = pw;
        }
    }
    if (pl->implicit && cpmax < IMPL_COLS) cpmax = IMPL_COLS;
    size_t nch = (Pr + cpmax - 1) / cpmax;
    /* Too few items: split samples further. The item and group counts come
     * from the shapes alone (not the threads), so dw's summation order and
     * its bits are the same for any thread count (data-parallel training
     * compares runs of different thread counts bit for bit). */
    if ((size_t)s->N * nch < CONV_MIN_ITEMS) {
        size_t want = (CONV_MIN_ITEMS + s->N - 1) / s->N, most = (Pr + CB - 1) / CB;
        if (want > most) want = most;
        if (want > nch) nch = want;
    }
    size_t cp = ((pl->Pc + nch - 1) / nch + VL - 1) / VL * VL;
    if (pl->spc > 1) cp = ((size_t)pl->spc * pl->P + VL - 1) / VL * VL, nch = 1;
    pl->cp = (int)cp;
    pl->nch = (int)((pl->Pc + cp - 1) / cp);
    pl->nb = (s->N + pl->spc - 1) / pl->spc;
    size_t items = (size_t)pl->nb * pl->nch;
    pl->nt = items < (size_t)nt ? (int)items : nt;
    pl->shared_sz = round16(pl->K); /* off: K ints fit in K reals */
    pl->groups = items < CONV_GROUPS ? (int)items : CONV_GROUPS;
    size_t gsum_off = pl->shared_sz;
    pl->Fp = (s->F + VL - 1) / VL * VL;
    pl->gs = backward ? round16(cn__mul(pl->K, pl->Fp) + s->F) : 0;
    if (backward) pl->shared_sz += cn__mul(pl->groups, pl->gs);
    size_t claim_off = pl->shared_sz; /* forward: claimed [items] (ints) */
    if (!backward) pl->shared_sz += round16(items);
    pl->xone = round16(cn__mul(cn__mul(s->C, pl->Hp), pl->Wp) + VL);
    pl->xpad_sz = cn__mul(pl->xone, pl->spc); /* an item's samples, padded, side by side */
    /* im2col (forward) / dcol (dx) when not implicit; dw reads xpad in place */
    pl->col_sz = pl->implicit || mode == PLAN_BACKWARD || mode == PLAN_BACKWARD_UNPOOL ? 0
                                                                               : round16((size_t)pl->K * cp + VL); /* + slack */
    pl->vb_sz = pl->implicit ? round16(cp / VL) : 0;
    pl->pix_sz = backward ? round16(cp) : 0;
    pl->ldt = (int)cp + VL;
    pl->tile_sz = round16(cn__mul(s->F, cp + VL));
    if (backward && cn__mul(cp, pl->Fp) > pl->tile_sz) pl->tile_sz = round16(cp * pl->Fp); /* dout^T */
    pl->dbuf_sz = mode == PLAN_BACKWARD_UNPOOL ? round16(cn__mul(cn__mul(pl->spc, s->F), pl->P)) : 0;
    size_t per = pl->xpad_sz + pl->col_sz + pl->tile_sz + pl->vb_sz + pl->pix_sz + pl->dbuf_sz;
    size_t bytes = cn__mul(cn__mul(per, pl->nt) + pl->shared_sz, sizeof(real));
    if (pl->xone < (size_t)VL || bytes == 0 || bytes > WS_MAX_BYTES)
        return cn_error(ctx, CN_ENOMEM,
                      "conv: workspace for x (%d,%d,%d,%d) w (%d,%d,%d,%d) would exceed %zu MB",
                      s->N, s->C, s->H, s->W, s->F, s->C, s->HH, s->WW, WS_MAX_BYTES >> 20);
    pl->per_thread = per;
    pl->ws = cn__ws(ctx, CN_WS_IM2COL, bytes);
    if (!pl->ws) return CN_ENOMEM;
    pl->g = (conv_geo){s->C, s->HH, s->WW, pl->Hp, pl->Wp, pl->Ho, pl->Wo, s->stride, s->pad, s->H};
    pl->gsum = backward ? pl->ws + gsum_off : NULL;
    pl->claimed = backward ? NULL : (int *)(pl->ws + claim_off);
    pl->off = (int *)pl->ws;
    int k = 0;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->HH; kh++)
            for (int kw = 0; kw < s->WW; kw++) pl->off[k++] = (c * pl->Hp + kh) * pl->Wp + kw;
    return CN_OK;
}

/* Prepare the columns of output pixels [p0, p0+len) of a sample whose
 * padded input is in t->xpad: im2col into t->col, or (implicit) the vector
 * bases t->vb. Returns the column source for the kernels. */
static const real *columns(const conv_plan *pl, const thr_bufs *t, int p0, int len) {
    const int VL = pl->vl;
    if (!pl->implicit) {
        pl->kern->im2col(t->col, pl->cp, t->xpad, 0, 1, &pl->g, p0, len, pl->cp);
        return t->col;
    }
    for (int v = 0; v * VL < len; v++) {
        int p = p0 + v * VL;
        t->vb[v] = (p / pl->ro) * pl->Wp + p % pl->ro;
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
static int thread_count(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* d[0..n) = s[0..n): short rows (a 16-wide plane's 64 bytes) in 16-byte
 * moves written out here; a library memcpy call per row cost more than
 * the copy */
static void copy_row(real *d, const real *s, int n) {
    if (n >= 64) {
        memcpy(d, s, sizeof(real) * n);
        return;
    }
    const int per = 16 / (int)sizeof(real);
    int t = 0;
    for (; t + per <= n; t += per) memcpy(d + t, s + t, 16);
    for (; t < n; t++) d[t] = s[t];
}

/* xpad[C, Hp, Wp] = x[n] with `pad` zeros around each plane (+ VL zeros
 * after). border 0: the interior only, the zeros being there already (the
 * thread padded a sample into this slot before, in the same call: the
 * interiors are all that is ever written). */
static void pad_sample(real *xpad, const real *xn, const cn_conv_shape *s, int Hp, int Wp, int VL, int border) {
    int p = s->pad;
    for (int c = 0; c < s->C; c++) {
        real *dst = xpad + (size_t)c * Hp * Wp;
        const real *src = xn + (size_t)c * s->H * s->W;
        if (border) memset(dst, 0, sizeof(real) * (size_t)p * Wp);
        for (int h = 0; h < s->H; h++) {
            real *row = dst + (size_t)(h + p) * Wp;
            if (border) {
                for (int t = 0; t < p; t++) row[t] = 0;
                for (int t = p + s->W; t < Wp; t++) row[t] = 0;
            }
            copy_row(row + p, src + (size_t)h * s->W, s->W);
        }
        if (border) memset(dst + (size_t)(p + s->H) * Wp, 0, sizeof(real) * (size_t)p * Wp);
    }
    if (border) memset(xpad + (size_t)s->C * Hp * Wp, 0, sizeof(real) * VL);
}

/* The thread's xpad slots 0.. ns-1 = samples n.. n+ns-1 of x, padded;
 * *ready: the slots whose borders are zeroed in this call (the first use
 * of a slot zeroes them) */
static void pad_samples(const conv_plan *pl, real *xpad, const real *x, const cn_conv_shape *s, int n, int ns,
                        int *ready) {
    const size_t xs = (size_t)s->C * s->H * s->W;
    for (int q = 0; q < ns; q++)
        pad_sample(xpad + q * pl->xone, x + (size_t)(n + q) * xs, s, pl->Hp, pl->Wp, pl->vl, q >= *ready);
    if (*ready < ns) *ready = ns;
}

/* tile[F, ldt] = the chunk [p0, p0+len) of dout[n] ([F, P]), zero-padded to
 * cp columns: a copy with a row stride that does not alias in L1 (dout rows
 * are P apart, often a multiple of 4 KB). */
static const real *copy_chunk(const conv_plan *pl, real *tile, const real *dn, int F, int p0,
                              int len) {
    for (int f = 0; f < F; f++) {
        real *row = tile + (size_t)f * pl->ldt;
        memcpy(row, dn + (size_t)f * pl->P + p0, sizeof(real) * len);
        for (int q = len; q < (len + pl->vl - 1) / pl->vl * pl->vl; q++) row[q] = 0;
    }
    return tile;
}

/* The output planes of one sample, [F, P], from the GEMM's tile (row
 * stride ldt) whose columns [0, len) are the wide columns p0.. (i*Wp + j):
 * the columns with j < W' are kept. */
static void store_wide(const conv_plan *pl, real *on, const real *tile, int F, int p0, int len) {
    const int Wp = pl->Wp, Wo = pl->Wo;
    for (int f = 0; f < F; f++) {
        const real *r = tile + (size_t)f * pl->ldt - p0;
        real *o = on + (size_t)f * pl->P;
        for (int q = p0; q < p0 + len;) {
            int i = q / Wp, j = q % Wp;
            if (j >= Wo) {
                q += Wp - j;
                continue;
            }
            int seg = Wo - j < p0 + len - q ? Wo - j : p0 + len - q;
            memcpy(o + i * Wo + j, r + q, sizeof(real) * seg);
            q += seg;
        }
    }
}

/* The sample's planes (all of them, from wide column 0) packed in place
 * in the tile: row i moves from i*Wp to i*W' (W' < Wp, so in order). */
static void pack_wide(const conv_plan *pl, real *tile, int F) {
    for (int f = 0; f < F; f++) {
        real *r = tile + (size_t)f * pl->ldt;
        for (int i = 1; i < pl->Ho; i++) memmove(r + i * pl->Wo, r + i * pl->Wp, sizeof(real) * pl->Wo);
    }
}

/* Item with several samples (pl->spc > 1; the columns an im2col): the
 * samples n0.. n0+ns-1 side by side, P columns each, in one GEMM. */
static void forward_block(const conv_plan *pl, const thr_bufs *t, real *out, const real *x, const real *w,
                          const real *b, const cn_conv_shape *s, int relu, const cn_max_pool_shape *ps,
                          int32_t *idx, int Po, int Qo, int n0, int ns, int *ready) {
    const int F = s->F, K = pl->K, P = pl->P, VL = pl->vl;
    const size_t pon = (size_t)Po * Qo;
    const int ncols = (ns * P + VL - 1) / VL * VL;
    pad_samples(pl, t->xpad, x, s, n0, ns, ready);
    pl->kern->im2col(t->col, pl->cp, t->xpad, pl->xone, ns, &pl->g, 0, P, ncols);
    pl->kern->gemm(MODE_NN, F, ncols, K, w, K, 1, t->col, pl->cp, pl->off, t->vb, t->tile, pl->ldt, b, relu, NULL);
    for (int q = 0; q < ns; q++)
        for (int f = 0; f < F; f++) {
            const real *src = t->tile + (size_t)f * pl->ldt + (size_t)q * P;
            size_t o = ((size_t)(n0 + q) * F + f);
            if (ps)
                FN(cn__pool_plane)(pl->level, out + o * pon, idx + o * pon, src, ps, Po, Qo);
            else
                memcpy(out + o * P, src, sizeof(real) * P);
        }
}

/* out = conv(x) (+ relu when relu != 0); or, with ps, out = max_pool(that)
 * with its argmax in idx: each sample's output planes are made in this
 * thread's tile buffer (in cache) and pooled from there, so the
 * convolution's output never goes to memory. With ps, 1 is returned (and
 * nothing done) when a sample does not fit one chunk. */
static int conv_forward(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b,
                        const cn_conv_shape *s, int relu, const cn_max_pool_shape *ps, int32_t *idx) {
    conv_plan pl;
    int rc = make_plan(ctx, s, PLAN_FORWARD, &pl);
    if (rc) return rc;
    const int F = s->F, K = pl.K, P = pl.P, cp = pl.cp, nch = pl.nch, VL = pl.vl, Pc = pl.Pc;
    if (ps && nch != 1) return 1;
    /* every chunk full (and not wide): write out in place */
    const int direct = !ps && !pl.wide && P % cp == 0;
    const int mode = pl.implicit ? MODE_IMB : MODE_NN;
    const long items = (long)pl.nb * nch;
    /* Items written straight into out: each thread owns a contiguous share
     * and takes it front to back, then the others' from their ends
     * (cn__own_next), so each thread writes one stretch of out: taken one
     * at a time, the threads wrote neighbouring samples' outputs in turn,
     * and the 7x7 layer's forward ran at 74% of the 2-thread peak against
     * 92% on one thread (runs of a quarter share: 81%; half: 88-90%; a
     * whole share 2.5% faster than half, at avx512 and avx2). Shares handed
     * out whole left a thread waiting out the other's time slices on a busy
     * machine; a thread's share taken from its end by the other does not.
     * Items through the tile buffer go one at a time, in order (runs, or
     * guided blocks, cost the recipe's net 7%). */
    long next = 0; /* the next item through the tile buffer */
    if (direct) memset(pl.claimed, 0, sizeof(int) * (size_t)items);
    int Po = 0, Qo = 0;
    if (ps) cn_max_pool_out(ctx, ps, &Po, &Qo);
    const size_t pon = (size_t)Po * Qo; /* one pooled plane */
#pragma omp parallel num_threads(pl.nt)
    {
        thr_bufs t = thr(&pl, thread_id());
        int have = -1; /* sample now in xpad */
        int ready = 0; /* xpad's sample slots with their borders zeroed */
        cn__own_cur cur = {0, -1};
        for (;;) {
            int own;
            const long it = direct ? cn__own_next(pl.claimed, (int)items, pl.nt, thread_count(), thread_id(), &cur, &own)
                                   : __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
            if (it < 0 || it >= items) break;
            int n = (int)(it / nch) * pl.spc, p0 = (int)(it % nch) * cp;
            if (pl.spc > 1) {
                int ns = s->N - n < pl.spc ? s->N - n : pl.spc;
                forward_block(&pl, &t, out, x, w, b, s, relu, ps, idx, Po, Qo, n, ns, &ready);
                have = -1;
                continue;
            }
            int len = Pc - p0 < cp ? Pc - p0 : cp, ncols = (len + VL - 1) / VL * VL;
            if (n != have) {
                pad_samples(&pl, t.xpad, x, s, n, 1, &ready);
                have = n;
            }
            const real *B = columns(&pl, &t, p0, len);
            real *on = out + (size_t)n * F * P + p0; /* [F, P] at column p0 */
            if (direct) {
                pl.kern->gemm(mode, F, ncols, K, w, K, 1, B, cp, pl.off, t.vb, on, P, b, relu, &pl.g);
                continue;
            }
            pl.kern->gemm(mode, F, ncols, K, w, K, 1, B, cp, pl.off, t.vb, t.tile, pl.ldt, b, relu, &pl.g);
            if (ps) { /* the whole sample is in the tile: pool each plane from there */
                if (pl.wide) pack_wide(&pl, t.tile, F);
                for (int f = 0; f < F; f++) {
                    size_t o = ((size_t)n * F + f) * pon;
                    FN(cn__pool_plane)(pl.level, out + o, idx + o, t.tile + (size_t)f * pl.ldt, ps, Po, Qo);
                }
            } else if (pl.wide)
                store_wide(&pl, out + (size_t)n * F * P, t.tile, F, p0, len);
            else
                for (int f = 0; f < F; f++)
                    memcpy(on + (size_t)f * P, t.tile + (size_t)f * pl.ldt, sizeof(real) * len);
        }
    }
    return CN_OK;
}

int FN(cn__conv_forward_act)(cn_ctx *ctx, real *out, const real *x, const real *w,
                             const real *b, const cn_conv_shape *s, int relu) {
    return conv_forward(ctx, out, x, w, b, s, relu, NULL, NULL);
}

int FN(cn__conv_relu_pool_forward_fused)(cn_ctx *ctx, real *out, int32_t *idx, const real *x, const real *w,
                                         const real *b, const cn_conv_shape *s, const cn_max_pool_shape *ps) {
    return conv_forward(ctx, out, x, w, b, s, 1, ps, idx);
}

int FN(cn_conv_forward)(cn_ctx *ctx, real *out, const real *x, const real *w, const real *b,
                        const cn_conv_shape *s) {
    return FN(cn__conv_forward_act)(ctx, out, x, w, b, s, 0);
}

/* dbuf [ns, F, P] = samples n.. of the unpooled gradient (plane by plane
 * as the pool's backward makes it, so the same values) */
static void unpool(conv_unpool *up, real *dbuf, int n, int ns, int F, const conv_plan *cp) {
    const size_t on = (size_t)up->Po * up->Qo;
    const int P = cp->P;
    for (size_t pl = 0; pl < (size_t)ns * F; pl++) {
        size_t o = ((size_t)n * F + pl) * on; /* the plane's pooled values */
        if (up->pk && !up->pk->unpool2(dbuf + pl * P, up->g + o, up->ix + o, up->keep + o, cp->Ho, cp->Wo, up->Po, up->Qo))
            continue;
        long b = FN(cn__pool_scatter)(dbuf + pl * P, up->g + o, up->ix + o, up->keep + o, (size_t)P, on);
        if (b >= 0) {
#pragma omp atomic write
            up->bad = (long)o + b;
        }
    }
}

/* The first item of group g of G (g = G: the end): the groups' sizes fall
 * linearly, G - g parts of G(G+1)/2, so the groups taken last are the
 * smallest, and a thread that runs out of work waits at most about one
 * item for the other. (Equal groups of 3-4 samples each left the 7x7
 * layer's 2 threads waiting up to a whole group: 13% of its dw.) From
 * the shapes alone, so the sums' order too. */
static long group_start(long items, int G, int g) {
    long cw = (long)g * G - (long)g * (g - 1) / 2, W = (long)G * (G + 1) / 2;
    return items * cw / W;
}

/* What dw item it (-1: none) reads that is not in the thread's buffers
 * while item n's samples are, for the kernel to prefetch during the item
 * before: its samples of x when they are new, and its chunk of dout (NULL:
 * dout is made in cache from the pool's gradient). */
static conv_pf next_item(const conv_plan *pl, long it, int n, const real *dout, const real *x,
                         const cn_conv_shape *s) {
    conv_pf pf = {{NULL, NULL}, {0, 0}, {0, 0}, {0, 0}, 0, 0, 0, 0};
    if (it < 0) return pf;
    const int n1 = (int)(it / pl->nch) * pl->spc, p0 = (int)(it % pl->nch) * pl->cp;
    const int len = pl->P - p0 < pl->cp ? pl->P - p0 : pl->cp;
    const int ns = s->N - n1 < pl->spc ? s->N - n1 : pl->spc;
    const size_t xs = (size_t)s->C * s->H * s->W;
    if (n1 != n) { /* x[n1 .. n1+ns): one stretch */
        pf.base[0] = (const char *)(x + n1 * xs);
        pf.rows[0] = 1, pf.rowb[0] = pf.stride[0] = sizeof(real) * ns * xs;
    }
    if (dout) { /* rows (sample, f), P apart: len from p0 */
        pf.base[1] = (const char *)(dout + (size_t)n1 * s->F * pl->P + p0);
        pf.rows[1] = (size_t)ns * s->F, pf.rowb[1] = sizeof(real) * len, pf.stride[1] = sizeof(real) * pl->P;
    }
    for (int r = 0; r < 2; r++) pf.left += (long)(pf.rows[r] * ((pf.rowb[r] + 63) / 64));
    pf.reg = pf.rows[0] ? 0 : 1;
    return pf;
}

/* dw, db: the items are cut into `groups` fixed ranges, taken by the
 * threads dynamically (a thread that loses its core to another process
 * does not hold the others up). A group sums into its own row of gsum
 * (dw^T [K, Fp] | db [F]); the rows are then added in order, element by
 * element, so the result does not depend on which thread ran which group,
 * and the sum is transposed once into dw [F, K].
 * Per item, dw^T[K, Fp] += X(k, q) dout^T[q, :] over the item's pixels q
 * (X read in place in xpad at off[k] + pix[q], any stride; dout's chunk
 * transposed once into tile), so every register tile sums a whole chunk
 * before it touches the group's row. An item of several samples (small
 * planes) has them all in xpad, side by side, pix running over all. */
static void conv_dw_db(const conv_plan *pl, real *dw, real *db, const real *dout, const real *x,
                       const cn_conv_shape *s, conv_unpool *up) {
    const int F = s->F, K = pl->K, P = pl->P, cp = pl->cp, nch = pl->nch, VL = pl->vl, Fp = pl->Fp;
    const long items = (long)pl->nb * nch;
    const size_t gs = pl->gs, dbo = (size_t)K * Fp; /* db after dw^T in a row */
    const int groups = pl->groups;
    real *gsum = pl->gsum; /* [groups, gs] */
    int next_g = 0, done = 0; /* groups taken; threads through them */
#pragma omp parallel num_threads(pl->nt)
    {
        thr_bufs t = thr(pl, thread_id());
        /* have: the samples in xpad (one: kept across the chunks of a
         * sample); pix_p0, pix_ns: the pixels pix holds (the same for every
         * full item of several samples) */
        int have = -1, have_d = -1, pix_p0 = -1, pix_ns = -1;
        int ready = 0; /* xpad's sample slots with their borders zeroed */
        int gi;
        while ((gi = __atomic_fetch_add(&next_g, 1, __ATOMIC_RELAXED)) < groups) {
            real *part = gsum + (size_t)gi * gs;
            long i0 = group_start(items, groups, gi), i1 = group_start(items, groups, gi + 1);
            /* dw^T: the group's first item stores its sums (every element) */
            const size_t z0 = dw && i1 > i0 ? dbo : 0;
            memset(part + z0, 0, sizeof(real) * (gs - z0));
            for (long it = i0; it < i1; it++) {
                /* samples n..n+ns-1 (several: small planes, whole), pixels p0.. p0+len of each */
                int n = (int)(it / nch) * pl->spc, p0 = (int)(it % nch) * cp;
                int len = P - p0 < cp ? P - p0 : cp;
                int ns = s->N - n < pl->spc ? s->N - n : pl->spc;
                if (up && n != have_d) { /* dout of samples n..n+ns-1 into dbuf */
                    unpool(up, t.dbuf, n, ns, F, pl);
                    have_d = n;
                }
                /* [F, P] at column p0, sample q at + q*F*P */
                const real *g = (up ? t.dbuf : dout + (size_t)n * F * P) + p0;
                if (dw) {
                    if (n != have) {
                        pad_samples(pl, t.xpad, x, s, n, ns, &ready);
                        have = n;
                    }
                    for (int q = 0; q < ns; q++) /* tile [ns*len, Fp] */
                        pl->kern->transpose(t.tile + (size_t)q * len * Fp, Fp, g + (size_t)q * F * P, P, F, len, Fp);
                    if (p0 != pix_p0 || ns != pix_ns) {
                        for (int q = 0, k = 0; q < ns; q++)
                            for (int c = 0, i = p0 / pl->Wo, j = p0 % pl->Wo; c < len; c++, k++) {
                                t.pix[k] = (int)(q * pl->xone) + (i * pl->Wp + j) * s->stride; /* pixel (i, j) */
                                if (++j == pl->Wo) j = 0, i++;
                            }
                        pix_p0 = p0, pix_ns = ns;
                    }
                    /* the next item: this group's, or after its last, the
                     * first of the group to be taken next (most often by
                     * this thread; the first items were 3x slower to
                     * transpose and pad than the prefetched ones) */
                    long nx = it + 1;
                    if (nx == i1) {
                        int g2 = __atomic_load_n(&next_g, __ATOMIC_RELAXED);
                        nx = g2 < groups ? group_start(items, groups, g2) : -1;
                    }
                    conv_pf pf = next_item(pl, nx, n, up ? NULL : dout, x, s);
                    pl->kern->dwt(K, s->WW, Fp / VL, ns * len, t.xpad, pl->off, t.pix, t.tile, Fp, part, Fp, &pl->g, p0, ns,
                                  it == i0, &pf);
                }
                if (db)
                    for (int q = 0; q < ns; q++) pl->kern->rowsum(F, len, g + (size_t)q * F * P, P, part + dbo);
            }
        }
        /* the rows' sum into row 0, in group order, by the thread through
         * its groups last (no barrier: a thread that waits at one long
         * enough goes to sleep, and waking it took 0.1-0.2 ms here, timed
         * inside the 7x7 layer's dw; back-to-back calls, where the threads
         * still spin, were 0-1% faster without the barriers) */
        if (__atomic_add_fetch(&done, 1, __ATOMIC_ACQ_REL) == thread_count() && groups > 1)
            pl->kern->addrows(gsum, gsum + gs, gs, groups - 1, (int)gs);
    }
    if (dw) pl->kern->transpose(dw, K, gsum, Fp, K, F, K); /* dw[f][k] = dw^T[k][f] */
    if (db) memcpy(db, gsum + dbo, sizeof(real) * F);
}

/* dx, stride 1, square filters, columns in place (W a multiple of VL):
 * the transposed convolution is a convolution of dout, zero-padded by
 * HH-1-pad, with the filters flipped and C and F swapped:
 *   dx[c][h][w] = sum_{f,kh,kw} w[f][c][HH-1-kh][WW-1-kw] doutpad[f][h+kh][w+kw]
 * so it runs as a forward: a long reduction (F*HH*WW) in registers and
 * one store per output, instead of adding every tap's tile into xpad. */
static int conv_dx_flipped(cn_ctx *ctx, const conv_plan *pl, real *dx, const real *dout, const real *w,
                           const cn_conv_shape *s) {
    const int F = s->F, K = pl->K;
    const size_t fk = (size_t)F * K;
    real *wf = cn__ws(ctx, CN_WS_MISC, sizeof(real) * fk); /* [C, F, HH, WW] */
    if (!wf) return CN_ENOMEM;
    const int HH = s->HH, WW = s->WW, taps = HH * WW;
    for (int f = 0; f < F; f++)
        for (int c = 0; c < s->C; c++)
            for (int t = 0; t < taps; t++)
                wf[((size_t)c * F + f) * taps + t] = w[((size_t)f * s->C + c) * taps + (taps - 1 - t)];
    cn_conv_shape ts = {s->N, F, pl->Ho, pl->Wo, s->C, HH, WW, 1, HH - 1 - s->pad};
    return FN(cn__conv_forward_act)(ctx, dx, dout, wf, NULL, &ts, 0);
}

/* dx: per sample (col2im of one sample stays in one thread) */
static void conv_dx_col2im(const conv_plan *pl, real *dx, const real *dout, const real *w,
                           const cn_conv_shape *s) {
    const int F = s->F, K = pl->K, P = pl->P, cp = pl->cp, nch = pl->nch, nt = pl->nt;
    const size_t xs = (size_t)s->C * s->H * s->W; /* one sample of x */
    int ntx = s->N < nt ? s->N : nt;
#pragma omp parallel num_threads(ntx)
    {
        thr_bufs t = thr(pl, thread_id());
        real *xpad = t.xpad, *dcol = t.col, *tile = t.tile;
#pragma omp for schedule(dynamic, 1)
        for (int n = 0; n < s->N; n++) {
            memset(xpad, 0, sizeof(real) * (size_t)s->C * pl->Hp * pl->Wp);
            for (int ch = 0; ch < nch; ch++) {
                int p0 = ch * cp, len = P - p0 < cp ? P - p0 : cp;
                /* B = the dout chunk, copied (full vectors stay in bounds, no aliasing) */
                const real *g = copy_chunk(pl, tile, dout + (size_t)n * F * P, F, p0, len);
                ptrdiff_t ldg = pl->ldt;
                int ncols = (len + pl->vl - 1) / pl->vl * pl->vl;
                /* dcol[K, cp] = w^T g, A(k, f) = w[f*K + k]; then col2im.
                 * Implicit: the tiles add into xpad directly. */
                if (pl->implicit) {
                    columns(pl, &t, p0, len);
                    pl->kern->gemm(MODE_IMC, K, len, F, w, 1, K, g, ldg, pl->off, t.vb, xpad,
                                   0, NULL, 0, NULL);
                } else {
                    pl->kern->gemm(MODE_NN, K, ncols, F, w, 1, K, g, ldg, NULL, NULL, dcol, cp,
                                   NULL, 0, NULL);
                    pl->kern->col2im(xpad, dcol, cp, &pl->g, p0, len);
                }
            }
            /* the interior of xpad is dx[n] */
            for (int c = 0; c < s->C; c++)
                for (int h = 0; h < s->H; h++)
                    memcpy(dx + n * xs + ((size_t)c * s->H + h) * s->W,
                           xpad + ((size_t)c * pl->Hp + h + s->pad) * pl->Wp + s->pad,
                           sizeof(real) * s->W);
        }
    }
}

int FN(cn_conv_backward)(cn_ctx *ctx, real *dx, real *dw, real *db, const real *dout,
                         const real *x, const real *w, const cn_conv_shape *s) {
    conv_plan pl;
    int rc = make_plan(ctx, s, dx ? PLAN_BACKWARD_DX : PLAN_BACKWARD, &pl);
    if (rc) return rc;
    if (dw || db) conv_dw_db(&pl, dw, db, dout, x, s, NULL);
    if (dx && s->stride == 1 && s->HH == s->WW && s->pad <= s->HH - 1)
        return conv_dx_flipped(ctx, &pl, dx, dout, w, s);
    if (dx) conv_dx_col2im(&pl, dx, dout, w, s);
    return CN_OK;
}

/* dw, db of conv -> relu -> max pool (ps) from the pool's gradient g [N, F,
 * Po, Qo], argmax ix and pooled output keep (see conv_unpool); no dx. A bad
 * index: CN_EINVAL naming it. */
int FN(cn__conv_backward_unpool)(cn_ctx *ctx, real *dw, real *db, const real *g, const int32_t *ix,
                                 const real *keep, const cn_max_pool_shape *ps, const real *x,
                                 const cn_conv_shape *s) {
    conv_plan pl;
    int rc = make_plan(ctx, s, PLAN_BACKWARD_UNPOOL, &pl);
    if (rc) return rc;
    int Po, Qo;
    if ((rc = cn_max_pool_out(ctx, ps, &Po, &Qo))) return rc;
    const int two = ps->ph == 2 && ps->pw == 2 && ps->stride == 2;
    conv_unpool up = {g, keep, ix, two ? pool_kern_for(pl.level) : NULL, Po, Qo, -1};
    if (dw || db) conv_dw_db(&pl, dw, db, NULL, x, s, &up);
    if (up.bad >= 0)
        return cn_error(ctx, CN_EINVAL, "conv_relu_pool_backward: pool_idx[%ld] is outside the %dx%d plane", up.bad,
                      pl.Ho, pl.Wo);
    return CN_OK;
}
