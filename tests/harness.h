/* harness.h — the layer tests' one harness (in the spirit of ggml's
 * test-backend-ops): a test describes an operation once (its name, how to
 * call its naive and fast forward and backward in float32 and float64, its
 * tolerances) and each case of it (its tensors and their sizes, which
 * inputs get numeric gradients); hs_check then makes the tensors, runs the
 * naive float64 reference, compares the fast path to it at every SIMD level
 * this CPU has in float64 and float32, compares the analytic gradients to
 * numeric ones, and prints the measured error of every comparison through
 * check.h. What some layers need beside that: in-place state (HS_STATE:
 * running statistics, given afresh to every run and compared after it), a
 * long-double reference forward (hs_case.ref_ld: the naive float64 forward
 * is checked against it, and the numeric gradients go through it), inputs
 * redrawn until a case's predicate accepts them (hs_case.accept: away from
 * a ReLU kink or a pooling tie). Shared helpers the layer tests used to
 * copy (error norms, fills, error-message checks, the SIMD levels) live
 * here too. */
#ifndef CN_HARNESS_H
#define CN_HARNESS_H
#include "check.h"
#include <stdarg.h>
#include <stdint.h>

/* ---- small shared helpers ---------------------------------------------------- */

/* max |a-b| (NaN counts as the largest). */
static inline double hs_maxdiff(const double *a, const double *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (e > d || isnan(e)) d = e;
    }
    return d;
}
/* max |a-b| / max(floor, max|b|): check.h's scaled_error with a floor
 * under the reference's scale. */
static inline double hs_scaled(const double *a, const double *b, size_t n, double floor) {
    double m = floor;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > m) m = fabs(b[i]);
    return hs_maxdiff(a, b, n) / m;
}
static inline size_t hs_idx_mismatch(const int32_t *a, const int32_t *b, size_t n) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += a[i] != b[i];
    return m;
}
/* x = a random permutation of 0..n-1, times 0.1, centred: no ties, and no
 * two values within 1e-5 of each other, so centred differences through a
 * max are exact. */
static inline void hs_perm_fill(cn_rng *r, double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (double)i;
    for (size_t i = n - 1; n && i > 0; i--) {
        size_t j = cn_rng_below(r, i + 1);
        double t = x[i]; x[i] = x[j]; x[j] = t;
    }
    for (size_t i = 0; i < n; i++) x[i] = 0.1 * x[i] - 0.05 * n;
}
/* A call that must fail with `code` and a message containing `needle`. */
static inline int hs_expect_err(cn_ctx *ctx, const char *name, int rc, int code, const char *needle) {
    const char *msg = cn_ctx_error(ctx);
    char buf[300];
    snprintf(buf, sizeof buf, "%s -> %d \"%s\"", name, rc, rc ? msg : "");
    return check_true(buf, rc == code && (!needle || strstr(msg, needle)), NULL);
}

/* The SIMD levels this CPU (and CN_SIMD's cap) lets a context run, best
 * first; the context is left at "auto". */
static inline int hs_levels(cn_ctx *ctx, const char *out[3]) {
    static const char *const all[] = {"avx512", "avx2", "generic"};
    int n = 0;
    for (int l = 0; l < 3; l++)
        if (cn_ctx_set_simd(ctx, all[l]) == CN_OK) out[n++] = all[l];
    cn_ctx_set_simd(ctx, "auto");
    return n;
}

/* ---- operations and cases ------------------------------------------------------ */
enum { HS_MAXT = 16 };
/* What a tensor is to the operation. */
enum {
    HS_IN,   /* forward input: filled; may have a gradient */
    HS_DOUT, /* upstream gradient: filled */
    HS_OUT,  /* forward output: compared */
    HS_IDX,  /* int32 forward output (argmax): compared exactly */
    HS_GRAD, /* backward output: compared; the gradient of one HS_IN */
    HS_STATE, /* updated in place (running statistics): filled like an HS_IN
               * and given afresh to every run (so no run sees another's
               * update), compared after it like an HS_OUT */
};
/* How an HS_IN / HS_DOUT / HS_STATE is filled (times scale, plus shift). */
enum { HS_NORMAL, HS_PERM, HS_TIES, HS_UNIFORM /* [0, 1) */ };
/* Error norms for float64 comparisons. */
enum { HS_SCALED, HS_REL, HS_ABS };

typedef struct hs_case hs_case;
/* Calls the operation: f64 selects double buffers (else float), naive the
 * reference loops. t[k] is tensor k's buffer (double, float or int32_t);
 * a HS_GRAD buffer may be NULL (the HS_NULLGRAD check). Returns a status. */
typedef int (*hs_fn)(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t);

typedef struct {
    double f64;      /* fast f64 vs naive f64 (metric64) */
    double f32;      /* fast f32 vs naive f64: scaled_error_f32 */
    double f32naive; /* naive f32 vs naive f64: scaled_error_f32; < 0 skips */
    double f32pair;  /* fast f32 vs naive f32: max|a-b| / max|b|; < 0 skips */
    double num;      /* analytic f64 (naive and fast) vs numeric gradient */
    int metric64, metric_num;
    double ld; /* naive f64 vs ref_ld (scaled) */
} hs_tol;

/* An independent forward in long double: the first HS_OUT from the float64
 * inputs in t. */
typedef void (*hs_ld_fn)(const hs_case *c, void *const *t, long double *out);

typedef struct {
    const char *name;
    hs_fn fwd, bwd; /* bwd NULL: forward only */
    hs_tol tol;
} hs_op;

typedef struct {
    const char *name;
    int kind, fill, grad_of; /* grad_of: for HS_GRAD, the HS_IN it differentiates */
    size_t n;
    double scale, shift; /* filled scale * N(0,1) + shift */
    double tol64, tol32; /* NAN: the op's */
    int metric_num;      /* -1: the op's */
} hs_tensor;

/* flags */
enum {
    HS_LEVELS = 1,      /* the fast path at every SIMD level (else the context's) */
    HS_NUMGRAD = 2,     /* numeric gradients of every HS_IN with a HS_GRAD */
    HS_NO_F32NAIVE = 4, /* skip the float32 naive run */
    HS_NULLGRAD = 8,    /* fast backward with the first HS_GRAD NULL: the rest bit-identical */
    HS_REF32 = 16,      /* float32 results against float64 at the float32-rounded inputs */
    HS_NO_FAST = 32,    /* numeric gradients only */
    HS_NULLGRAD_NAIVE = 64, /* HS_NULLGRAD for the naive backward too */
};

struct hs_case {
    const hs_op *op;
    const void *p; /* the op's parameters (a shape struct) */
    char tag[160];
    uint64_t seed;
    unsigned flags;
    int repeat; /* fast f32 forward+backward this many more times: bitwise equal */
    /* NULL, or: the naive float64 forward is checked against it (tol.ld),
     * and the numeric gradients differentiate f(x) - f(x0) through it (the
     * difference in long double: near-zero gradient entries then carry no
     * 1e-16 |out| / h roundoff, which would dominate an elementwise
     * relative error) instead of the naive float64 forward. */
    hs_ld_fn ref_ld;
    /* NULL, or: inputs are redrawn (seed + 1000 k, k < tries) until it
     * accepts them, given the float64 buffers after a naive forward. */
    int (*accept)(cn_ctx *ctx, const hs_case *c, void *const *t);
    int tries;
    int nt;
    hs_tensor t[HS_MAXT];
};

static inline hs_case hs_new(const hs_op *op, const void *p, uint64_t seed, unsigned flags, const char *fmt, ...) {
    hs_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.p = p;
    c.seed = seed;
    c.flags = flags;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c.tag, sizeof c.tag, fmt, ap);
    va_end(ap);
    return c;
}
static inline int hs_add(hs_case *c, const char *name, int kind, size_t n, int fill, double scale, int grad_of) {
    if (c->nt == HS_MAXT) { fprintf(stderr, "harness: too many tensors\n"); exit(2); }
    hs_tensor *t = &c->t[c->nt];
    t->name = name; t->kind = kind; t->n = n; t->fill = fill; t->scale = scale; t->grad_of = grad_of;
    t->tol64 = t->tol32 = NAN;
    t->metric_num = -1;
    return c->nt++;
}
static inline int hs_in(hs_case *c, const char *name, size_t n, int fill, double scale) {
    return hs_add(c, name, HS_IN, n, fill, scale, -1);
}
static inline int hs_dout(hs_case *c, const char *name, size_t n) { return hs_add(c, name, HS_DOUT, n, HS_NORMAL, 1, -1); }
static inline int hs_state(hs_case *c, const char *name, size_t n, int fill, double scale) {
    return hs_add(c, name, HS_STATE, n, fill, scale, -1);
}
/* Filled with scale * fill + shift. */
static inline void hs_shift(hs_case *c, int k, double shift) { c->t[k].shift = shift; }
static inline int hs_out(hs_case *c, const char *name, size_t n) { return hs_add(c, name, HS_OUT, n, 0, 0, -1); }
static inline int hs_idx(hs_case *c, const char *name, size_t n) { return hs_add(c, name, HS_IDX, n, 0, 0, -1); }
static inline int hs_grad(hs_case *c, const char *name, int of) { return hs_add(c, name, HS_GRAD, c->t[of].n, 0, 0, of); }
/* A tensor's own tolerances (NAN keeps the op's). */
static inline void hs_tol_of(hs_case *c, int k, double tol64, double tol32) { c->t[k].tol64 = tol64; c->t[k].tol32 = tol32; }

/* One run's buffers. */
typedef struct { int f64; void *t[HS_MAXT]; } hs_bufs;

static inline size_t hs_elsize(const hs_tensor *t, int f64) {
    return t->kind == HS_IDX ? sizeof(int32_t) : f64 ? sizeof(double) : sizeof(float);
}
static inline int hs_filled(const hs_tensor *t) { return t->kind == HS_IN || t->kind == HS_DOUT || t->kind == HS_STATE; }
/* Buffers with the filled tensors copied from data (float64, rounded for
 * f32): every run starts from the same inputs and state. */
static inline hs_bufs hs_alloc(const hs_case *c, int f64, double *const *data) {
    hs_bufs b;
    b.f64 = f64;
    for (int k = 0; k < c->nt; k++) {
        const hs_tensor *t = &c->t[k];
        b.t[k] = xmalloc(hs_elsize(t, f64) * t->n);
        if (hs_filled(t)) {
            if (f64) memcpy(b.t[k], data[k], 8 * t->n);
            else to_f32(b.t[k], data[k], t->n);
        }
    }
    return b;
}
static inline void hs_free(const hs_case *c, hs_bufs *b) {
    for (int k = 0; k < c->nt; k++) free(b->t[k]);
}
/* Forward then backward on b; the status of the first failing call. */
static inline int hs_exec(cn_ctx *ctx, const hs_case *c, hs_bufs *b, int naive) {
    int rc = c->op->fwd(ctx, c, b->f64, naive, b->t);
    if (!rc && c->op->bwd) rc = c->op->bwd(ctx, c, b->f64, naive, b->t);
    return rc;
}
/* Tensor k of b as float64 (a copy the caller frees). */
static inline double *hs_as64(const hs_case *c, const hs_bufs *b, int k) {
    double *d = xmalloc(8 * c->t[k].n);
    if (b->f64) memcpy(d, b->t[k], 8 * c->t[k].n);
    else to_f64(d, b->t[k], c->t[k].n);
    return d;
}
static inline double hs_err64(int metric, const double *a, const double *b, size_t n) {
    return metric == HS_REL ? cn_rel_error(a, b, n) : metric == HS_ABS ? hs_maxdiff(a, b, n) : scaled_error(a, b, n);
}
static inline int hs_compared(const hs_tensor *t) {
    return t->kind == HS_OUT || t->kind == HS_GRAD || t->kind == HS_IDX || t->kind == HS_STATE;
}

/* Every compared tensor of a against ref: idx exactly, the rest by err()
 * within the tensor's or the default tolerance; one printed line each. */
static inline void hs_compare(cn_ctx *ctx, const hs_case *c, const char *what, const char *level, int rc,
                              const hs_bufs *a, const hs_bufs *ref, int mode, double tol) {
    char name[300];
    for (int k = 0; k < c->nt; k++) {
        const hs_tensor *t = &c->t[k];
        if (!hs_compared(t)) continue;
        snprintf(name, sizeof name, "%s %s %s %s %s", c->op->name, what, t->name, level, c->tag);
        if (rc) { check_true(name, 0, cn_ctx_error(ctx)); continue; }
        if (t->kind == HS_IDX) {
            size_t m = hs_idx_mismatch(a->t[k], ref->t[k], t->n);
            check_le(name, (double)m, 0);
            continue;
        }
        double tk = tol;
        if (mode == 0 && !isnan(t->tol64)) tk = t->tol64;
        if (mode == 1 && !isnan(t->tol32)) tk = t->tol32;
        double *x = hs_as64(c, a, k), e;
        if (mode == 0) e = hs_err64(c->op->tol.metric64, x, ref->t[k], t->n); /* f64 vs f64 */
        else if (mode == 1) e = scaled_error_f32(a->t[k], ref->t[k], t->n);    /* f32 vs f64 */
        else {                                                                 /* f32 vs f32 */
            double *y = hs_as64(c, ref, k);
            e = scaled_error(x, y, t->n);
            free(y);
        }
        free(x);
        check_le(name, e, tk);
    }
}
/* How many elements of the compared tensors (HS_IDX included) of a and b
 * differ in their bits: 0 is bitwise equal. */
static inline double hs_bits_differ(const hs_case *c, const hs_bufs *a, const hs_bufs *b, int skip) {
    size_t m = 0;
    for (int k = 0; k < c->nt; k++) {
        if (k == skip || !hs_compared(&c->t[k])) continue;
        size_t es = hs_elsize(&c->t[k], a->f64);
        for (size_t i = 0; i < c->t[k].n; i++)
            m += memcmp((const char *)a->t[k] + i * es, (const char *)b->t[k] + i * es, es) != 0;
    }
    return (double)m;
}

/* Numeric gradient: differentiates the first HS_OUT (against the first
 * HS_DOUT) through the naive float64 forward, or f(x) - f(x0) through the
 * case's ref_ld (base = f(x0), tmp: scratch). State is reset before every
 * evaluation, as before every run. */
typedef struct {
    cn_ctx *ctx;
    const hs_case *c;
    hs_bufs *b;
    int out;
    double *const *data;
    long double *base, *tmp;
} hs_num_user;
static inline void hs_num_fn(void *u, double *out) {
    hs_num_user *a = u;
    const hs_case *c = a->c;
    for (int k = 0; k < c->nt; k++)
        if (c->t[k].kind == HS_STATE) memcpy(a->b->t[k], a->data[k], 8 * c->t[k].n);
    if (c->ref_ld) {
        c->ref_ld(c, a->b->t, a->tmp);
        for (size_t i = 0; i < c->t[a->out].n; i++) out[i] = (double)(a->tmp[i] - a->base[i]);
        return;
    }
    void *keep = a->b->t[a->out];
    a->b->t[a->out] = out;
    c->op->fwd(a->ctx, c, 1, 1, a->b->t);
    a->b->t[a->out] = keep;
}
static inline int hs_first(const hs_case *c, int kind) {
    for (int k = 0; k < c->nt; k++) if (c->t[k].kind == kind) return k;
    return -1;
}

static inline void hs_numgrad(cn_ctx *ctx, const hs_case *c, double *const *data) {
    int o = hs_first(c, HS_OUT), d = hs_first(c, HS_DOUT);
    hs_bufs nb = hs_alloc(c, 1, data), an[2];
    an[0] = hs_alloc(c, 1, data);
    an[1] = hs_alloc(c, 1, data);
    int rc[2] = {hs_exec(ctx, c, &an[0], 1), hs_exec(ctx, c, &an[1], 0)};
    double *work = xmalloc(16 * c->t[o].n);
    hs_num_user u = {ctx, c, &nb, o, data, NULL, NULL};
    if (c->ref_ld) {
        u.base = xmalloc(sizeof(long double) * c->t[o].n);
        u.tmp = xmalloc(sizeof(long double) * c->t[o].n);
        c->ref_ld(c, nb.t, u.base);
    }
    char name[300];
    for (int g = 0; g < c->nt; g++) {
        if (c->t[g].kind != HS_GRAD) continue;
        int i = c->t[g].grad_of;
        double *num = xmalloc(8 * c->t[i].n);
        cn_eval_numerical_gradient_array(ctx, num, hs_num_fn, &u, nb.t[i], c->t[i].n, nb.t[d], c->t[o].n, 1e-5,
                                         work);
        for (int fast = 0; fast < 2; fast++) {
            snprintf(name, sizeof name, "%s numgrad f64 %s %s %s", c->op->name, fast ? "fast" : "naive",
                     c->t[g].name, c->tag);
            if (rc[fast]) check_true(name, 0, cn_ctx_error(ctx));
            else check_le(name, hs_err64(c->t[g].metric_num >= 0 ? c->t[g].metric_num : c->op->tol.metric_num,
                                         an[fast].t[g], num, c->t[i].n),
                          c->op->tol.num);
        }
        free(num);
    }
    free(work); free(u.base); free(u.tmp);
    hs_free(c, &nb); hs_free(c, &an[0]); hs_free(c, &an[1]);
}

/* The backward (naive or fast, b's dtype) with the first HS_GRAD NULL:
 * how many elements of the rest differ from b's in their bits. */
static inline void hs_nullgrad(cn_ctx *ctx, const hs_case *c, double *const *data, const hs_bufs *b, int naive,
                               const char *lv) {
    int g = hs_first(c, HS_GRAD);
    hs_bufs b2 = hs_alloc(c, b->f64, data);
    void *keep = b2.t[g];
    b2.t[g] = NULL;
    int rc = c->op->fwd(ctx, c, b->f64, naive, b2.t);
    if (!rc) rc = c->op->bwd(ctx, c, b->f64, naive, b2.t);
    b2.t[g] = keep;
    char name[300];
    snprintf(name, sizeof name, "%s %s %s %s=NULL: elements of the rest not bit-identical %s %s", c->op->name,
             b->f64 ? "f64" : "f32", naive ? "naive" : "fast", c->t[g].name, lv, c->tag);
    if (rc) check_true(name, 0, cn_ctx_error(ctx));
    else check_le(name, hs_bits_differ(c, b, &b2, g), 0);
    hs_free(c, &b2);
}

/* The naive float64 forward's first HS_OUT against the case's ref_ld. */
static inline void hs_vs_ld(const hs_case *c, const hs_bufs *ref) {
    int o = hs_first(c, HS_OUT);
    size_t n = c->t[o].n;
    long double *ld = xmalloc(sizeof(long double) * n);
    double *d = xmalloc(8 * n);
    c->ref_ld(c, ref->t, ld);
    for (size_t i = 0; i < n; i++) d[i] = (double)ld[i];
    char name[300];
    snprintf(name, sizeof name, "%s naive f64 vs long double %s %s", c->op->name, c->t[o].name, c->tag);
    check_le(name, scaled_error(ref->t[o], d, n), c->op->tol.ld);
    free(ld); free(d);
}

/* The fast path against the naive one: float64, float32, per level. */
static inline void hs_fast(cn_ctx *ctx, const hs_case *c, double *const *data, double *const *data32) {
    const hs_tol *tol = &c->op->tol;
    hs_bufs ref = hs_alloc(c, 1, data), ref32 = ref, n32;
    int rc = hs_exec(ctx, c, &ref, 1);
    char name[300];
    snprintf(name, sizeof name, "%s naive f64 runs %s", c->op->name, c->tag);
    if (!check_true(name, rc == 0, cn_ctx_error(ctx))) { hs_free(c, &ref); return; }
    if (c->ref_ld) hs_vs_ld(c, &ref);
    if (c->flags & HS_NULLGRAD_NAIVE) hs_nullgrad(ctx, c, data, &ref, 1, "");
    if (c->flags & HS_REF32) {
        ref32 = hs_alloc(c, 1, data32);
        hs_exec(ctx, c, &ref32, 1);
    }
    int have_n32 = !(c->flags & HS_NO_F32NAIVE);
    if (have_n32) {
        n32 = hs_alloc(c, 0, data);
        rc = hs_exec(ctx, c, &n32, 1);
        if (tol->f32naive >= 0) hs_compare(ctx, c, "f32 naive/f64 naive", "", rc, &n32, &ref32, 1, tol->f32naive);
        if (!rc && (c->flags & HS_NULLGRAD_NAIVE)) hs_nullgrad(ctx, c, data, &n32, 1, "");
    }
    const char *levels[3] = {"ctx"};
    int nl = 1;
    if (c->flags & HS_LEVELS) nl = hs_levels(ctx, levels);
    for (int l = 0; l < nl; l++) {
        if (c->flags & HS_LEVELS) cn_ctx_set_simd(ctx, levels[l]);
        const char *lv = (c->flags & HS_LEVELS) ? levels[l] : cn_ctx_simd(ctx);
        for (int f64 = 1; f64 >= 0; f64--) {
            hs_bufs b = hs_alloc(c, f64, data);
            rc = hs_exec(ctx, c, &b, 0);
            if (f64) hs_compare(ctx, c, "f64 fast/naive", lv, rc, &b, &ref, 0, tol->f64);
            else {
                hs_compare(ctx, c, "f32 fast/f64 naive", lv, rc, &b, &ref32, 1, tol->f32);
                if (have_n32 && tol->f32pair >= 0)
                    hs_compare(ctx, c, "f32 fast/naive", lv, rc, &b, &n32, 2, tol->f32pair);
            }
            if (!rc && (c->flags & HS_NULLGRAD)) hs_nullgrad(ctx, c, data, &b, 0, lv);
            if (!rc && !f64 && c->repeat) {
                int rc2 = 0;
                double differ = 0;
                for (int k = 0; k < c->repeat; k++) {
                    hs_bufs b2 = hs_alloc(c, 0, data);
                    rc2 |= hs_exec(ctx, c, &b2, 0);
                    differ += hs_bits_differ(c, &b, &b2, -1);
                    hs_free(c, &b2);
                }
                snprintf(name, sizeof name, "%s f32 fast: %d reruns, elements not bit-identical, %d threads %s %s",
                         c->op->name, c->repeat, cn_ctx_threads(ctx), lv, c->tag);
                if (rc2) check_true(name, 0, cn_ctx_error(ctx));
                else check_le(name, differ, 0);
            }
            hs_free(c, &b);
        }
    }
    if (c->flags & HS_LEVELS) cn_ctx_set_simd(ctx, "auto");
    if (have_n32) hs_free(c, &n32);
    if (c->flags & HS_REF32) hs_free(c, &ref32);
    hs_free(c, &ref);
}

/* Fills the HS_IN, HS_DOUT and HS_STATE tensors from seed, in order; data32:
 * the same rounded to float32. */
static inline void hs_fill(const hs_case *c, uint64_t seed, double **data, double **data32) {
    cn_rng r;
    cn_rng_seed(&r, seed);
    for (int k = 0; k < c->nt; k++) {
        const hs_tensor *t = &c->t[k];
        if (!hs_filled(t)) continue;
        if (!data[k]) data[k] = xmalloc(8 * t->n), data32[k] = xmalloc(8 * t->n);
        if (t->fill == HS_PERM) hs_perm_fill(&r, data[k], t->n);
        else if (t->fill == HS_TIES) for (size_t i = 0; i < t->n; i++) data[k][i] = (double)cn_rng_below(&r, 3);
        else if (t->fill == HS_UNIFORM) for (size_t i = 0; i < t->n; i++) data[k][i] = t->scale * cn_rng_uniform(&r);
        else fill_normal(&r, data[k], t->n, t->scale);
        for (size_t i = 0; i < t->n; i++) data[k][i] += t->shift;
        for (size_t i = 0; i < t->n; i++) data32[k][i] = (float)data[k][i];
    }
}

/* Draws the inputs (until c->accept takes them), then runs every check of
 * one case; the context's SIMD level is restored to "auto" when HS_LEVELS
 * ran the others. */
static inline void hs_check(cn_ctx *ctx, const hs_case *c) {
    double *data[HS_MAXT] = {0}, *data32[HS_MAXT] = {0};
    int ok = 1;
    if (!c->accept) hs_fill(c, c->seed, data, data32);
    else {
        int k;
        ok = 0;
        for (k = 0; k < c->tries && !ok; k++) {
            hs_fill(c, c->seed + 1000 * (uint64_t)k, data, data32);
            hs_bufs b = hs_alloc(c, 1, data);
            ok = !c->op->fwd(ctx, c, 1, 1, b.t) && c->accept(ctx, c, b.t);
            hs_free(c, &b);
        }
        char name[300], note[80];
        snprintf(name, sizeof name, "%s inputs accepted %s", c->op->name, c->tag);
        snprintf(note, sizeof note, "after %d of %d draws", k, c->tries);
        check_true(name, ok, note);
    }
    if (ok && !(c->flags & HS_NO_FAST)) hs_fast(ctx, c, data, data32);
    if (ok && (c->flags & HS_NUMGRAD)) hs_numgrad(ctx, c, data);
    for (int k = 0; k < c->nt; k++) { free(data[k]); free(data32[k]); }
}
#endif
