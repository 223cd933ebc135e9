/* simd/pool.c — the 2x2 stride-2 max pool's kernels, compiled once per SIMD
 * level (simd.h): one plane of windows forward (max and argmax), and one
 * plane of the backward made dense (the relu-masked gradient written into
 * its window, the other three zero), VL windows a step. The drivers are
 * in ../pool.c and ../conv.c (the conv-relu-pool layer, which pools each
 * sample's output in cache and unpools the gradient per dw item). These
 * passes touch every element of the conv's output once, so at 16-byte
 * vectors with a scalar argmax (and a scatter after a memset backward)
 * they cost 9% of the three-layer net's step. */
#include "../simd.h"
#include "../kern.h"
#include "vtrans.h"
#include <string.h>

/* lane masks (vtrans.h's LANES): even and odd lanes of two vectors, the
 * low and high halves of two vectors interleaved, 2j */
#define EV(h, j) (2 * (j))
#define OD(h, j) (2 * (j) + 1)
#define ILO(h, j) ((j) % 2 ? VLN + (j) / 2 : (j) / 2)
#define IHI(h, j) ((j) % 2 ? VLN + VLN / 2 + (j) / 2 : VLN / 2 + (j) / 2)
#define TWOJ(h, j) (2 * (j))

/* VL argmax indices (int32) */
#ifdef CN_REAL_F64
typedef int32_t vidx __attribute__((vector_size(VBYTES / 2)));
#else
typedef int32_t vidx __attribute__((vector_size(VBYTES)));
#endif

/* 16-byte vectors (every level has them) for rows shorter than a vector */
typedef real v16 __attribute__((vector_size(16)));
#ifdef CN_REAL_F64
typedef int64_t m16 __attribute__((vector_size(16)));
#define L16 2
#define EV16 ((m16){0, 2})
#define OD16 ((m16){1, 3})
#else
typedef int32_t m16 __attribute__((vector_size(16)));
#define L16 4
#define EV16 ((m16){0, 2, 4, 6})
#define OD16 ((m16){1, 3, 5, 7})
#endif
/* The windows j.. j+NL-1 of rows r0, r1 in vectors of type VT (masks MT,
 * even and odd lanes EVM, ODM): m = their max, sel = the argmax's offset
 * in its window (0, 1, W, W+1); compares and selects, no branches */
#define ROW2_STEP(VT, MT, NL, EVM, ODM, m, sel)                                \
    VT m, t_, a0_, a1_, b0_, b1_;                                              \
    MT sel = {0}, c_;                                                          \
    memcpy(&a0_, r0 + 2 * j, sizeof a0_);                                     \
    memcpy(&a1_, r0 + 2 * j + (NL), sizeof a1_);                              \
    memcpy(&b0_, r1 + 2 * j, sizeof b0_);                                     \
    memcpy(&b1_, r1 + 2 * j + (NL), sizeof b1_);                              \
    m = __builtin_shuffle(a0_, a1_, EVM);                                      \
    ROW2_TAKE(VT, MT, m, sel, __builtin_shuffle(a0_, a1_, ODM), 1);            \
    ROW2_TAKE(VT, MT, m, sel, __builtin_shuffle(b0_, b1_, EVM), W);            \
    ROW2_TAKE(VT, MT, m, sel, __builtin_shuffle(b0_, b1_, ODM), W + 1)
/* where v > m: m = v (bits), sel = k */
#define ROW2_TAKE(VT, MT, m, sel, v, k)                                        \
    do {                                                                       \
        t_ = (v);                                                              \
        c_ = t_ > m;                                                           \
        m = (VT)(((MT)t_ & c_) | ((MT)m & ~c_));                               \
        sel = (((MT){0} + (k)) & c_) | (sel & ~c_);                            \
    } while (0)

/* o[0..Wo), ix[0..Wo) (ix may be NULL): the 2x2 windows of rows r0, r1 of a
 * plane of width W, window j at columns 2j, 2j+1, its first element at
 * offset base + 2j of the plane. Window order (0,0) (0,1) (1,0) (1,1),
 * strict >: the first max wins (NaN never replaces). */
INLINE void row2(real *o, int32_t *ix, const real *r0, const real *r1, int Wo, int W, int base) {
    const vmask twoj = {LANES(TWOJ, 0)};
    int j = 0;
    for (; j + VL <= Wo; j += VL) {
        ROW2_STEP(vreal, vmask, VL, SH_MASK(EV, 0), SH_MASK(OD, 0), m, sel);
        VSTORE(o + j, m);
        if (ix) {
            vidx iv = __builtin_convertvector(sel + twoj + (base + 2 * j), vidx);
            memcpy(ix + j, &iv, sizeof iv);
        }
    }
    /* the rest (Wo < VL: the recipe's 15- and 7-wide rows at avx512):
     * 16-byte vectors, then one window at a time, all without branches
     * (a data-dependent branch per compare mispredicts half the time) */
    for (; j + L16 <= Wo; j += L16) {
        ROW2_STEP(v16, m16, L16, EV16, OD16, m, sel);
        memcpy(o + j, &m, sizeof m);
        if (ix)
            for (int l = 0; l < L16; l++) ix[j + l] = base + 2 * (j + l) + (int32_t)sel[l];
    }
    for (; j < Wo; j++) {
        int bo = 2 * j, best = 0, c;
        real m = r0[bo], v;
        v = r0[bo + 1], c = v > m, best = c ? 1 : best, m = c ? v : m;
        v = r1[bo], c = v > m, best = c ? W : best, m = c ? v : m;
        v = r1[bo + 1], c = v > m, best = c ? W + 1 : best, m = c ? v : m;
        o[j] = m;
        if (ix) ix[j] = base + bo + best;
    }
}

/* every row of windows of a plane, in one call (a call a row through the
 * table cost a quarter as much as the rows' work: 32-wide planes) */
static void plane2(real *o, int32_t *ix, const real *x, int Ho, int Wo, int W) {
    for (int i = 0; i < Ho; i++) {
        const real *r0 = x + (size_t)2 * i * W;
        row2(o + (size_t)i * Wo, ix ? ix + (size_t)i * Wo : NULL, r0, r0 + W, Wo, W, 2 * i * W);
    }
}

/* d [H, W] = the unpooled gradient of a plane: g [Po, Qo] masked by keep
 * > 0 (the pooled relu output) at ix, the rest zero. The same values as
 * the scatter (cn__pool_scatter: zero, then d[ix] += g, so +0 + g: g + 0
 * here, -0 made +0 alike) when every index lies in its own window; then 0,
 * else 1 (d is then not made: the caller scatters, which handles or names
 * any index in the plane). */
static int unpool2(real *d, const real *g, const int32_t *ix, const real *keep, int H, int W, int Po, int Qo) {
    const vmask twoj = {LANES(TWOJ, 0)};
    vmask badv = {0};
    int bad = 0;
    for (int i = 0; i < Po; i++) {
        real *d0 = d + (size_t)2 * i * W, *d1 = d0 + W;
        const real *gi = g + (size_t)i * Qo, *ki = keep + (size_t)i * Qo;
        const int32_t *xi = ix + (size_t)i * Qo;
        const int base = 2 * i * W;
        int j = 0;
        for (; j + VL <= Qo; j += VL) {
            vreal gv, kv;
            vidx iv;
            VLOAD(gv, gi + j);
            VLOAD(kv, ki + j);
            memcpy(&iv, xi + j, sizeof iv);
            vmask t = __builtin_convertvector(iv, vmask) - (twoj + (base + 2 * j)); /* in the window */
            vmask on = kv > 0;
            vmask v = (vmask)(gv + 0) & on;
            vmask c00 = t == 0, c01 = t == 1, c10 = t == W, c11 = t == W + 1;
            badv |= ~(c00 | c01 | c10 | c11);
            vreal s00 = (vreal)(v & c00), s01 = (vreal)(v & c01), s10 = (vreal)(v & c10), s11 = (vreal)(v & c11);
            vreal lo = __builtin_shuffle(s00, s01, SH_MASK(ILO, 0)), hi = __builtin_shuffle(s00, s01, SH_MASK(IHI, 0));
            VSTORE(d0 + 2 * j, lo);
            VSTORE(d0 + 2 * j + VL, hi);
            lo = __builtin_shuffle(s10, s11, SH_MASK(ILO, 0));
            hi = __builtin_shuffle(s10, s11, SH_MASK(IHI, 0));
            VSTORE(d1 + 2 * j, lo);
            VSTORE(d1 + 2 * j + VL, hi);
        }
        for (; j < Qo; j++) {
            int t = xi[j] - (base + 2 * j);
            real v = ki[j] > 0 ? gi[j] + 0 : 0;
            bad |= !(t == 0 || t == 1 || t == W || t == W + 1);
            d0[2 * j] = t == 0 ? v : 0;
            d0[2 * j + 1] = t == 1 ? v : 0;
            d1[2 * j] = t == W ? v : 0;
            d1[2 * j + 1] = t == W + 1 ? v : 0;
        }
        for (int c = 2 * Qo; c < W; c++) d0[c] = d1[c] = 0; /* columns no window covers */
    }
    if (2 * Po < H) memset(d + (size_t)2 * Po * W, 0, sizeof(real) * (size_t)(H - 2 * Po) * W);
    for (int l = 0; l < VLN; l++) bad |= badv[l] != 0;
    return bad;
}

const pool_kern KFN(cn__pool_kern) = {plane2, unpool2};
