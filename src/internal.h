/* internal.h — private helpers shared by the library's sources. */
#ifndef CN_INTERNAL_H
#define CN_INTERNAL_H

#include "convnet.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CN_ERRMAX 512
#define CN_WS_SLOTS 3

/* SIMD levels of the kernels (src/layers/simd.h). The x86 levels exist in
 * builds for x86-64 (the Makefile compiles the kernels for each). */
enum { CN_SIMD_GENERIC = 0, CN_SIMD_AVX2 = 1, CN_SIMD_AVX512 = 2 };
#if defined(__x86_64__) && defined(__GNUC__)
#define CN_X86_LEVELS 1
#endif

struct cn_ctx {
    int nthreads;
    int simd;                   /* CN_SIMD_*: the kernels' level, chosen in cn_ctx_new */
    char err[CN_ERRMAX];
    void *ws[CN_WS_SLOTS];      /* reusable workspaces, grown on demand */
    size_t ws_size[CN_WS_SLOTS];
    char info[256];
};

/* Workspace slots: each caller level uses its own so nested calls do not
 * clobber each other. */
enum {
    CN_WS_IM2COL = 0,  /* conv: column buffers */
    CN_WS_LAYER = 1,   /* sandwiches: intermediate gradients */
    CN_WS_MISC = 2
};

/* A workspace of at least `bytes` (64-byte aligned), or NULL with the error
 * set. The contents are not preserved when it grows. */
void *cn__ws(cn_ctx *ctx, int slot, size_t bytes);

/* Zeroed, 64-byte aligned memory whose pages are left untouched until used
 * (calloc takes large blocks straight from mmap): a buffer that may stay
 * unused costs no resident memory. Free with cn__free_zeroed. */
void *cn__alloc_zeroed(size_t bytes);
void cn__free_zeroed(void *p);

/* Monotonic wall clock in seconds. */
double cn__now(void);

/* An update rule applied inside a backward pass (cn__affine_backward_upd):
 * the Solver's fused step (rule 0 sgd, 1 sgd_momentum, 2 rmsprop, 3 adam, 4 nesterov;
 * p1, p2 as cn__update_fused) on one weight whose moments are m, v; the
 * pass adds sum(w^2) before the update to sumsq, and sets bad when a
 * gradient or a new value is not finite. */
typedef struct {
    int level, rule;
    double reg, lr, p1, p2, eps;
    long t;
    void *m, *v;
    double sumsq;
    int bad;
} cn__wupd;

/* The SIMD level of a context's kernels (NULL ctx: the CPU's best). */
int cn__simd(const cn_ctx *ctx);

/* Threads for an OpenMP region. */
static inline int cn__nt(const cn_ctx *ctx) { return ctx ? ctx->nthreads : 1; }

/* Items with an owner (affinity scheduling): items [0, n) are cut into R
 * ranges, range r = [n*r/R, n*(r+1)/R) owned by thread r % T of the T in
 * the parallel region. A thread takes its own ranges' items front to back,
 * then the other ranges' back to front (a thread that lost its core to
 * another process does not hold the others up), each claimed once in
 * claimed[n] (zeroed before the region). So the same thread gets the same
 * items every call while none falls behind, and the lines it writes stay in
 * its core's caches (taken dynamically, half of them moved between cores
 * every call). The cursor starts {0, -1}; next returns the item, or -1
 * when none is left; *own says whether it was the thread's own. */
typedef struct {
    int k, i;
} cn__own_cur;
static inline int cn__own_next(int *claimed, int n, int R, int T, int tid, cn__own_cur *c, int *own) {
    for (; c->k < R; c->k++, c->i = -1) {
        const int r = (tid + c->k) % R, mine = r % T == tid;
        const int c0 = (int)((long)n * r / R), c1 = (int)((long)n * (r + 1) / R);
        while (++c->i < c1 - c0) {
            const int it = mine ? c0 + c->i : c1 - 1 - c->i;
            if (!__atomic_exchange_n(&claimed[it], 1, __ATOMIC_ACQ_REL)) {
                *own = mine;
                return it;
            }
            if (!mine) break; /* a thief meets the owner: the rest is taken */
        }
    }
    return -1;
}

/* Overflow-checked size products: 0 on overflow. */
static inline size_t cn__mul(size_t a, size_t b) {
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return 0;
    return r;
}

/* ---- atomic file replacement (atomic.c; the rules are at its top) ------ */
#define CN_PATH_MAX 4096
typedef struct {
    FILE *f;                       /* write the new contents here */
    char path[CN_PATH_MAX];        /* as the caller gave it (for messages) */
    char target[CN_PATH_MAX];      /* the file replaced: path, or where its symlinks lead */
    char tmp[CN_PATH_MAX + 16];    /* target.tmp.XXXXXX while it exists, else "" */
} cn__atomic;
/* Resolve symlinks from path into out; CN_EIO when a non-regular file is there. */
int cn__atomic_target(cn_ctx *ctx, const char *path, char *out, size_t outlen);
/* Check the target and create the temporary file (a->f open for writing). */
int cn__atomic_open(cn_ctx *ctx, cn__atomic *a, const char *path);
/* Flush, fsync, close, rename over the target, fsync the directory. On any
 * failure the temporary file is removed and the old file is untouched. */
int cn__atomic_commit(cn_ctx *ctx, cn__atomic *a);
/* Report "PATH: cannot WHAT TMP: strerror(err)" (CN_EIO) and abort. */
int cn__atomic_fail(cn_ctx *ctx, cn__atomic *a, const char *what, int err);
/* Close and remove the temporary file (no message). */
void cn__atomic_abort(cn__atomic *a);

/* the test build's fault injection (make test-faults; nothing otherwise) */
#include "faults.h"

#endif
