/* test_affine.c — affine, relu, softmax loss, affine-relu: numeric gradients,
 * fast vs naive in both dtypes at every SIMD level (affine and affine-relu
 * through the harness, harness.h), hand-worked values, threads, bad
 * arguments. */
#include "harness.h"
#include <string.h>

/* ---- the operation, for the harness (tests/harness.h) ---------------------- */
typedef struct { int N, D, M; } affine_shape;
enum { X, W, B, DOUT, OUT, DX, DW, DB };
static int affine_fwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    const affine_shape *s = c->p;
    if (f64)
        return (naive ? cn_affine_forward_naive_f64 : cn_affine_forward_f64)(ctx, t[OUT], t[X], t[W], t[B], s->N, s->D,
                                                                             s->M);
    return (naive ? cn_affine_forward_naive_f32 : cn_affine_forward_f32)(ctx, t[OUT], t[X], t[W], t[B], s->N, s->D, s->M);
}
static int affine_bwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    const affine_shape *s = c->p;
    if (f64)
        return (naive ? cn_affine_backward_naive_f64 : cn_affine_backward_f64)(ctx, t[DX], t[DW], t[DB], t[DOUT], t[X],
                                                                               t[W], s->N, s->D, s->M);
    return (naive ? cn_affine_backward_naive_f32 : cn_affine_backward_f32)(ctx, t[DX], t[DW], t[DB], t[DOUT], t[X], t[W],
                                                                           s->N, s->D, s->M);
}
/* float64 fast vs naive norm-wise (D = 8192 terms leave entries cancelled
 * to ~0): 1e-12; float32 fast and naive vs float64 naive 1e-5; numeric
 * gradients (float64) cn_rel_error 1e-7. */
static const hs_op affine_op = {"affine", affine_fwd, affine_bwd,
                                {.f64 = 1e-12, .f32 = 1e-5, .f32naive = 1e-5, .f32pair = -1, .num = 1e-7,
                                 .metric64 = HS_SCALED, .metric_num = HS_REL}};

/* affine_relu: the naive path is the naive affine, a relu, and the naive
 * affine backward of dout masked by out > 0; tolerances as affine's. */
#define AFFINE_RELU(T, S)                                                                                         \
    static int ar_fwd_##S(cn_ctx *ctx, const affine_shape *s, int naive, void **t) {                              \
        if (!naive) return cn_affine_relu_forward_##S(ctx, t[OUT], t[X], t[W], t[B], s->N, s->D, s->M);           \
        int rc = cn_affine_forward_naive_##S(ctx, t[OUT], t[X], t[W], t[B], s->N, s->D, s->M);                    \
        T *o = t[OUT];                                                                                            \
        for (size_t i = 0; i < (size_t)s->N * s->M; i++) o[i] = o[i] > 0 ? o[i] : 0;                              \
        return rc;                                                                                                \
    }                                                                                                             \
    static int ar_bwd_##S(cn_ctx *ctx, const affine_shape *s, int naive, void **t) {                              \
        if (!naive)                                                                                               \
            return cn_affine_relu_backward_##S(ctx, t[DX], t[DW], t[DB], t[DOUT], t[OUT], t[X], t[W], s->N, s->D, \
                                               s->M);                                                             \
        size_t n = (size_t)s->N * s->M;                                                                           \
        T *da = xmalloc(sizeof(T) * n);                                                                           \
        const T *o = t[OUT], *g = t[DOUT];                                                                        \
        for (size_t i = 0; i < n; i++) da[i] = o[i] > 0 ? g[i] : 0;                                               \
        int rc = cn_affine_backward_naive_##S(ctx, t[DX], t[DW], t[DB], da, t[X], t[W], s->N, s->D, s->M);        \
        free(da);                                                                                                 \
        return rc;                                                                                                \
    }
AFFINE_RELU(float, f32)
AFFINE_RELU(double, f64)
static int affine_relu_fwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    return (f64 ? ar_fwd_f64 : ar_fwd_f32)(ctx, c->p, naive, t);
}
static int affine_relu_bwd(cn_ctx *ctx, const hs_case *c, int f64, int naive, void **t) {
    return (f64 ? ar_bwd_f64 : ar_bwd_f32)(ctx, c->p, naive, t);
}
static const hs_op affine_relu_op = {"affine_relu", affine_relu_fwd, affine_relu_bwd,
                                     {.f64 = 1e-12, .f32 = 1e-5, .f32naive = 1e-5, .f32pair = -1, .num = 1e-7,
                                      .metric64 = HS_SCALED, .metric_num = HS_REL}};
/* For the numeric gradients: every pre-activation 1e-3 (100x the largest
 * change h = 1e-5 makes) from the kink, else the inputs are redrawn. */
static int away_from_kink(cn_ctx *ctx, const hs_case *c, void *const *t) {
    const affine_shape *s = c->p;
    size_t n = (size_t)s->N * s->M;
    double *a = xmalloc(8 * n);
    int ok = !cn_affine_forward_naive_f64(ctx, a, t[X], t[W], t[B], s->N, s->D, s->M);
    for (size_t i = 0; i < n; i++) ok &= fabs(a[i]) >= 1e-3;
    free(a);
    return ok;
}

/* Every SIMD level: out, dx, dw, db in both dtypes against the naive
 * loops; dx = NULL gives the same dw, db bit for bit; a rerun is bitwise
 * the same. */
/* affine and affine-relu take the same tensors: x, w, b in; out; dx, dw, db */
static void affine_tensors(hs_case *c, int N, int D, int M) {
    hs_in(c, "x", (size_t)N * D, HS_NORMAL, 1);
    hs_in(c, "w", (size_t)D * M, HS_NORMAL, 1);
    hs_in(c, "b", M, HS_NORMAL, 1);
    hs_dout(c, "dout", (size_t)N * M);
    hs_out(c, "out", (size_t)N * M);
    hs_grad(c, "dx", X);
    hs_grad(c, "dw", W);
    hs_grad(c, "db", B);
}

static void affine_case(cn_ctx *ctx, int N, int D, int M, uint64_t seed, unsigned flags) {
    affine_shape s = {N, D, M};
    hs_case c = hs_new(&affine_op, &s, seed, flags | HS_NULLGRAD, "(N=%d D=%d M=%d)", N, D, M);
    c.repeat = 1;
    affine_tensors(&c, N, D, M);
    hs_check(ctx, &c);
}
/* affine_relu the same way; numgrad: inputs away from the kink, numeric
 * gradients of both backwards. */
static void affine_relu_case(cn_ctx *ctx, int N, int D, int M, uint64_t seed, unsigned flags) {
    affine_shape s = {N, D, M};
    hs_case c = hs_new(&affine_relu_op, &s, seed, flags | HS_NULLGRAD | HS_NULLGRAD_NAIVE, "(N=%d D=%d M=%d)", N, D, M);
    affine_tensors(&c, N, D, M);
    if (flags & HS_NUMGRAD) {
        c.accept = away_from_kink;
        c.tries = 500;
    }
    hs_check(ctx, &c);
}

/* The fused ReLU is the ReLU of the plain forward, bit for bit. */
static void affine_relu_fused(cn_ctx *ctx, cn_rng *r, const char *tag, int N, int D, int M) {
    double *x = xmalloc(8 * (size_t)N * D), *w = xmalloc(8 * (size_t)D * M), *b = xmalloc(8 * (size_t)M);
    float *xf = xmalloc(4 * (size_t)N * D), *wf = xmalloc(4 * (size_t)D * M), *bf = xmalloc(4 * (size_t)M);
    float *of = xmalloc(4 * (size_t)N * M), *ofr = xmalloc(4 * (size_t)N * M);
    fill_normal(r, x, (size_t)N * D, 1); fill_normal(r, w, (size_t)D * M, 1); fill_normal(r, b, M, 1);
    to_f32(xf, x, (size_t)N * D); to_f32(wf, w, (size_t)D * M); to_f32(bf, b, M);
    int rc = cn_affine_forward_f32(ctx, of, xf, wf, bf, N, D, M);
    rc |= cn_affine_relu_forward_f32(ctx, ofr, xf, wf, bf, N, D, M);
    int same = 1;
    for (size_t i = 0; i < (size_t)N * M; i++) same &= ofr[i] == (of[i] > 0 ? of[i] : 0);
    char buf[160];
    snprintf(buf, sizeof buf, "affine %s f32 relu fused == relu(forward) bitwise (N=%d D=%d M=%d)", tag, N, D, M);
    check_true(buf, !rc && same, "");
    free(x); free(w); free(b); free(xf); free(wf); free(bf); free(of); free(ofr);
}

/* The fast path with 1, 2 and 3 threads, at a SIMD level: the forward
 * within float32 rounding (its k groups depend on the threads); the
 * backward's own kernels sum every element in one order whatever the
 * threads: bitwise equal. */
static void test_affine_threads(cn_rng *r, const char *level) {
    const int N = 50, D = 1031, M = 100; /* > 2e6: threaded */
    float *x = xmalloc(4 * N * D), *w = xmalloc(4 * D * M), *b = xmalloc(4 * M), *g = xmalloc(4 * N * M);
    double *tmp = xmalloc(8 * (size_t)D * M);
    fill_normal(r, tmp, (size_t)N * D, 1); to_f32(x, tmp, (size_t)N * D);
    fill_normal(r, tmp, (size_t)D * M, 1); to_f32(w, tmp, (size_t)D * M);
    fill_normal(r, tmp, M, 1); to_f32(b, tmp, M);
    fill_normal(r, tmp, (size_t)N * M, 1); to_f32(g, tmp, (size_t)N * M);
    float *o[4], *dx[4], *dw[4], *db[4];
    const int nts[4] = {1, 2, 3, 7}; /* 7 on fewer cores: threads fall behind and others take their chunks */
    int bwd_same = 1;
    double e = 0;
    for (int t = 0; t < 4; t++) {
        cn_ctx *c = cn_ctx_new(nts[t]);
        cn_ctx_set_simd(c, level);
        o[t] = xmalloc(4 * N * M); dx[t] = xmalloc(4 * N * D); dw[t] = xmalloc(4 * D * M); db[t] = xmalloc(4 * M);
        cn_affine_forward_f32(c, o[t], x, w, b, N, D, M);
        cn_affine_backward_f32(c, dx[t], dw[t], db[t], g, x, w, N, D, M);
        cn_ctx_free(c);
        if (t) {
            /* dx, dw: one sum per element whatever the threads */
            bwd_same &= !memcmp(dx[t], dx[0], 4 * N * D) && !memcmp(dw[t], dw[0], 4 * D * M) &&
                        !memcmp(db[t], db[0], 4 * M);
            double m = 1e-30, d = 0;
            for (int i = 0; i < N * M; i++) m = fmax(m, fabs(o[0][i])), d = fmax(d, fabs(o[t][i] - o[0][i]));
            e = fmax(e, d / m);
        }
    }
    char name[120];
    snprintf(name, sizeof name, "affine %s backward: 1, 2, 3, 7 threads bitwise equal (N=50 D=1031 M=100)", level);
    check_true(name, bwd_same, "");
    double eb = 0;
    for (int t = 1; t < 4; t++) {
        double m = 1e-30, d = 0;
        for (int i = 0; i < D * M; i++) m = fmax(m, fabs(dw[0][i])), d = fmax(d, fabs(dw[t][i] - dw[0][i]));
        eb = fmax(eb, d / m);
        m = 1e-30, d = 0;
        for (int i = 0; i < N * D; i++) m = fmax(m, fabs(dx[0][i])), d = fmax(d, fabs(dx[t][i] - dx[0][i]));
        eb = fmax(eb, d / m);
    }
    snprintf(name, sizeof name, "affine %s backward: 2, 3, 7 threads vs 1 (N=50 D=1031 M=100)", level);
    check_le(name, eb, 1e-5);
    snprintf(name, sizeof name, "affine %s forward: 2, 3, 7 threads vs 1 (N=50 D=1031 M=100)", level);
    check_le(name, e, 1e-5);
    for (int t = 0; t < 4; t++) { free(o[t]); free(dx[t]); free(dw[t]); free(db[t]); }
    free(x); free(w); free(b); free(g); free(tmp);
}

/* dx written by streaming stores (a 64-byte aligned dx whose rows are
 * whole lines: D % 16 == 0) equals dx written by plain stores (the same
 * call into dx one element off alignment) bit for bit, and the naive
 * backward within rounding; float32 and float64, at a SIMD level. */
static void test_affine_stream(cn_rng *r, const char *level) {
    static const int shapes[][3] = {{33, 272, 40}, {50, 1024, 100}, {20, 144, 17}, {8, 16, 16}};
    cn_ctx *c = cn_ctx_new(2);
    cn_ctx_set_simd(c, level);
    for (int i = 0; i < 4; i++) {
        const int N = shapes[i][0], D = shapes[i][1], M = shapes[i][2];
        const size_t nx = (size_t)N * D, nw = (size_t)D * M, ng = (size_t)N * M;
        double *x = xmalloc(8 * nx), *w = xmalloc(8 * nw), *g = xmalloc(8 * ng), *dw = xmalloc(8 * nw), *db = xmalloc(8 * M);
        double *want = xmalloc(8 * nx), *al = aligned_alloc(64, 8 * nx + 64), *un = aligned_alloc(64, 8 * nx + 64);
        float *xf = xmalloc(4 * nx), *wf = xmalloc(4 * nw), *gf = xmalloc(4 * ng), *dwf = xmalloc(4 * nw), *dbf = xmalloc(4 * M);
        float *alf = aligned_alloc(64, 4 * nx + 64), *unf = aligned_alloc(64, 4 * nx + 64);
        if (!al || !un || !alf || !unf) { fprintf(stderr, "out of memory\n"); exit(2); }
        fill_normal(r, x, nx, 1); fill_normal(r, w, nw, 1); fill_normal(r, g, ng, 1);
        to_f32(xf, x, nx); to_f32(wf, w, nw); to_f32(gf, g, ng);
        int rc = cn_affine_backward_naive_f64(c, want, dw, db, g, x, w, N, D, M);
        rc |= cn_affine_backward_f64(c, al, dw, db, g, x, w, N, D, M);
        rc |= cn_affine_backward_f64(c, un + 1, dw, db, g, x, w, N, D, M);
        rc |= cn_affine_backward_f32(c, alf, dwf, dbf, gf, xf, wf, N, D, M);
        rc |= cn_affine_backward_f32(c, unf + 1, dwf, dbf, gf, xf, wf, N, D, M);
        double e64 = scaled_error(al, want, nx), e32 = scaled_error_f32(alf, want, nx);
        char name[160];
        snprintf(name, sizeof name, "affine %s dx by streaming stores == plain stores bitwise, f64 and f32 (N=%d D=%d M=%d)",
                 level, N, D, M);
        check_true(name, !rc && !memcmp(al, un + 1, 8 * nx) && !memcmp(alf, unf + 1, 4 * nx), "");
        snprintf(name, sizeof name, "affine %s dx by streaming stores vs naive, f64 (N=%d D=%d M=%d)", level, N, D, M);
        check_le(name, e64, 1e-12);
        snprintf(name, sizeof name, "affine %s dx by streaming stores vs naive, f32 (N=%d D=%d M=%d)", level, N, D, M);
        check_le(name, e32, 1e-5);
        free(x); free(w); free(g); free(dw); free(db); free(want); free(al); free(un);
        free(xf); free(wf); free(gf); free(dwf); free(dbf); free(alf); free(unf);
    }
    cn_ctx_free(c);
}

typedef struct { cn_ctx *ctx; double *x; int32_t *y; int N, C; } sm_user;
static double softmax_fn(void *u) {
    sm_user *s = u;
    double loss;
    cn_softmax_loss_naive_f64(s->ctx, &loss, NULL, s->x, s->y, s->N, s->C);
    return loss;
}

static void test_softmax(cn_ctx *ctx, cn_rng *r) {
    int N = 50, C = 10;
    double *x = xmalloc(8 * N * C), *dx = xmalloc(8 * N * C), *dx2 = xmalloc(8 * N * C), *nx = xmalloc(8 * N * C);
    int32_t *y = xmalloc(4 * N);
    fill_normal(r, x, N * C, 1e-3);
    for (int n = 0; n < N; n++) y[n] = (int32_t)cn_rng_below(r, C);
    double loss, loss2;
    cn_softmax_loss_naive_f64(ctx, &loss, dx, x, y, N, C);
    /* the notebook: with small scores the loss is about log(C) */
    check_le("softmax_loss ~ log(10) for tiny scores", fabs(loss - log(10.0)), 1e-2);
    sm_user u = {ctx, x, y, N, C};
    cn_eval_numerical_gradient(ctx, nx, softmax_fn, &u, x, N * C, 1e-5);
    check_le("softmax_loss dx vs numeric (f64)", cn_rel_error(dx, nx, N * C), 1e-7);
    cn_softmax_loss_f64(ctx, &loss2, dx2, x, y, N, C);
    check_le("softmax_loss fast vs naive f64 loss", fabs(loss - loss2) / fabs(loss), 1e-10);
    check_le("softmax_loss fast vs naive f64 dx", cn_rel_error(dx, dx2, N * C), 1e-10);
    float *xf = xmalloc(4 * N * C), *dxf = xmalloc(4 * N * C);
    to_f32(xf, x, N * C);
    double lossf;
    cn_softmax_loss_f32(ctx, &lossf, dxf, xf, y, N, C);
    check_le("softmax_loss fast f32 vs naive f64 loss", fabs(lossf - loss) / fabs(loss), 1e-5);
    check_le("softmax_loss fast f32 vs naive f64 dx", scaled_error_f32(dxf, dx, N * C), 1e-5);

    /* by hand: scores (0, ln 3) label 1 -> p = (1/4, 3/4), loss = -ln(3/4) */
    double hx[2] = {0, log(3.0)}, hd[2];
    int32_t hy[1] = {1};
    cn_softmax_loss_f64(ctx, &loss, hd, hx, hy, 1, 2);
    check_le("softmax_loss by hand: loss = -ln(3/4)", fabs(loss + log(0.75)), 1e-15);
    check_le("softmax_loss by hand: dx = (1/4, -1/4)", fmax(fabs(hd[0] - 0.25), fabs(hd[1] + 0.25)), 1e-15);
    /* large scores do not overflow (max subtracted) */
    double big[2] = {1000, 0};
    hy[0] = 0;
    cn_softmax_loss_f64(ctx, &loss, hd, big, hy, 1, 2);
    check_true("softmax_loss stays finite for scores of 1000", isfinite(loss) && loss >= 0 && loss < 1e-300 + 1e-12, "");
    /* label out of range */
    hy[0] = 2;
    int rc = cn_softmax_loss_f64(ctx, &loss, hd, hx, hy, 1, 2);
    check_true("softmax_loss label 2 with C=2 -> CN_EINVAL", rc == CN_EINVAL && strstr(cn_ctx_error(ctx), "y[0]=2"), cn_ctx_error(ctx));
    free(x); free(dx); free(dx2); free(nx); free(y); free(xf); free(dxf);
}

static void test_relu(cn_ctx *ctx) {
    double x[6] = {-2, -0.5, 0, 0.25, 3, -1e-300}, out[6], dout[6] = {1, 2, 3, 4, 5, 6}, dx[6];
    cn_relu_forward_f64(ctx, out, x, 6);
    cn_relu_backward_f64(ctx, dx, dout, x, 6);
    double want_out[6] = {0, 0, 0, 0.25, 3, 0}, want_dx[6] = {0, 0, 0, 4, 5, 0}, e = 0;
    for (int i = 0; i < 6; i++) e = fmax(e, fabs(out[i] - want_out[i]) + fabs(dx[i] - want_dx[i]));
    check_le("relu forward/backward by hand", e, 0);
}

static void test_affine_hand(cn_ctx *ctx) {
    /* x = [[1,2],[3,4]], w = [[1,0,-1],[2,1,0]], b = [0.5,0,-0.5] */
    double x[4] = {1, 2, 3, 4}, w[6] = {1, 0, -1, 2, 1, 0}, b[3] = {0.5, 0, -0.5}, out[6];
    double want[6] = {5.5, 2, -1.5, 11.5, 4, -3.5}, e = 0;
    cn_affine_forward_f64(ctx, out, x, w, b, 2, 2, 3);
    for (int i = 0; i < 6; i++) e = fmax(e, fabs(out[i] - want[i]));
    check_le("affine forward by hand (2x2 @ 2x3)", e, 0);
    int rc = cn_affine_forward_f64(ctx, out, x, w, b, 2, 0, 3);
    check_true("affine D=0 -> CN_EINVAL naming D", rc == CN_EINVAL && strstr(cn_ctx_error(ctx), "D=0"), cn_ctx_error(ctx));
}

/* threads of this process (/proc/self/task entries) */
static int task_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

extern int openblas_get_num_threads(void);

int main(void) {
    /* before any OpenMP region: OpenBLAS's pool, started when it was loaded
     * (one thread per core but the first, unless OPENBLAS_NUM_THREADS says
     * otherwise), is stopped by the first context; only the main thread is
     * left (its idle threads spun on our cores: see cn_ctx_set_threads) */
    int before = task_count();
    cn_ctx *ctx = cn_ctx_new(2);
    int after = task_count();
    char note[96];
    snprintf(note, sizeof note, "threads %d before cn_ctx_new, %d after; OpenBLAS uses %d", before, after,
             openblas_get_num_threads());
    check_true("cn_ctx_new stops OpenBLAS's idle threads", after == 1 && openblas_get_num_threads() == 1, note);
    cn_rng r;
    cn_rng_seed(&r, 231);
    test_affine_hand(ctx);
    test_relu(ctx);
    /* numeric gradients: the notebook's x (10, 2, 3) flattened, w (6, 5) */
    affine_case(ctx, 10, 6, 5, 230, HS_NUMGRAD);
    affine_relu_case(ctx, 10, 6, 5, 231, HS_NUMGRAD | HS_LEVELS);
    affine_relu_case(ctx, 7, 13, 5, 235, HS_LEVELS); /* 35 outputs: the relu mask's scalar tail */
    affine_relu_case(ctx, 50, 2053, 37, 236, HS_LEVELS); /* threaded */
    affine_case(ctx, 7, 13, 5, 232, 0);
    affine_case(ctx, 50, 8192, 100, 233, 0);
    affine_case(ctx, 1, 1, 1, 234, 0);
    /* The fast path's edges (see affine.c): M around the vector width (16
     * f32, 8 f64) and its multiples, the overlapping tail vector, M < VL
     * (OpenBLAS); N around the tile rows and the vectors of dx (N % VL rows
     * by dots); D around the blocks (backward rows per item 128, forward k
     * block 256). Shapes big enough (N*D*M > 2e6) run on the context's
     * threads. Each at every SIMD level this CPU runs: {N, D, M} */
    static const int edges[][3] = {
        {50, 500, 10},  {50, 100, 10},  /* the net's last layer: M < VL */
        {3, 7, 1},      {2, 9, 15},     {5, 20, 16},   {6, 33, 17},    {7, 129, 31},
        {1, 300, 33},   {4, 257, 47},   {9, 130, 64},  {11, 5, 80},    {13, 64, 97},
        {50, 131, 100}, {51, 200, 113}, {57, 77, 130}, {64, 40, 48},   {49, 3, 500},
        {1, 1, 20},     {17, 515, 7},
        {50, 2053, 37}, /* > 2e6: threaded, odd everything */
    };
    const int ne = sizeof edges / sizeof edges[0];
    for (int i = 0; i < ne; i++) affine_case(ctx, edges[i][0], edges[i][1], edges[i][2], 300 + i, HS_LEVELS);
    /* every SIMD level this CPU runs: the fused ReLU on every edge, and the threads */
    const char *levels[3];
    int nl = hs_levels(ctx, levels);
    for (int l = 0; l < nl; l++) {
        cn_ctx_set_simd(ctx, levels[l]);
        for (int i = 0; i < ne; i++) affine_relu_fused(ctx, &r, levels[l], edges[i][0], edges[i][1], edges[i][2]);
        test_affine_threads(&r, levels[l]);
        test_affine_stream(&r, levels[l]);
    }
    cn_ctx_set_simd(ctx, "auto");
    test_softmax(ctx, &r);
    cn_ctx_free(ctx);
    return check_done();
}
