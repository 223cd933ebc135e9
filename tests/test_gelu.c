/* test_gelu.c — GELU (exact erf form) and the scale layer: hand values
 * (Phi from erfc in long double, an independent path); through the harness
 * (harness.h) fast against naive in float32 and float64 at every SIMD
 * level, float32 against float64, numeric gradients; in place, bad
 * arguments. */
#include "harness.h"
#include <string.h>

static cn_ctx *ctx;

static double rel_max(const double *a, const double *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1e-300, fabs(b[i]));
        if (fabs(b[i]) < 1e-300) d = fabs(a[i] - b[i]);
        if (d > e || isnan(d)) e = d;
    }
    return e;
}

static void expect_err(const char *name, int rc, int code, const char *needle) {
    hs_expect_err(ctx, name, rc, code, needle);
}

/* ---- the operation, for the harness (tests/harness.h) ---------------------- */
enum { X, DOUT, OUT, DX };
static int gelu_fwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    size_t n = c->t[X].n;
    if (f64) return (naive ? cn_gelu_forward_naive_f64 : cn_gelu_forward_f64)(c_, t[OUT], t[X], n);
    return (naive ? cn_gelu_forward_naive_f32 : cn_gelu_forward_f32)(c_, t[OUT], t[X], n);
}
static int gelu_bwd(cn_ctx *c_, const hs_case *c, int f64, int naive, void **t) {
    size_t n = c->t[X].n;
    if (f64) return (naive ? cn_gelu_backward_naive_f64 : cn_gelu_backward_f64)(c_, t[DX], t[DOUT], t[X], n);
    return (naive ? cn_gelu_backward_naive_f32 : cn_gelu_backward_f32)(c_, t[DX], t[DOUT], t[X], n);
}
/* float64 fast vs naive: scaled, 1e-15. float32 against the float64 truth
 * at the same (float32-rounded) inputs, HS_REF32: fast 1e-7 (the inline
 * erfc), naive 1e-6 (libm's erfcf), fast vs naive 1e-6. Numeric gradients
 * (float64): scaled 1e-9. */
static const hs_op gelu_op = {"gelu", gelu_fwd, gelu_bwd,
                              {.f64 = 1e-15, .f32 = 1e-7, .f32naive = 1e-6, .f32pair = 1e-6, .num = 1e-9,
                               .metric64 = HS_SCALED, .metric_num = HS_SCALED}};

static void gelu_case(size_t n, double xscale, uint64_t seed, unsigned flags) {
    hs_case c = hs_new(&gelu_op, NULL, seed, flags | HS_REF32, "n=%zu x~N(0,%g)", n, xscale * xscale);
    hs_in(&c, "x", n, HS_NORMAL, xscale);
    hs_dout(&c, "dout", n);
    hs_out(&c, "out", n);
    hs_grad(&c, "dx", X);
    hs_check(ctx, &c);
}

int main(void) {
    ctx = cn_ctx_new(2);
    char name[200];
    /* hand values: gelu(x) = x * 0.5 * erfc(-x / sqrt 2), long double */
    const double hx[] = {0, 1, -1, 2, -3, 0.5, 5.5, -8, 1e-3};
    const size_t hn = sizeof hx / sizeof hx[0];
    double want[9], wantd[9], got[9];
    for (size_t i = 0; i < hn; i++) {
        long double x = hx[i];
        long double cdf = 0.5L * erfcl(-x / sqrtl(2.0L));
        want[i] = (double)(x * cdf);
        wantd[i] = (double)(cdf + x * expl(-x * x / 2) / sqrtl(2 * 3.14159265358979323846264338327950288L));
    }
    for (int fast = 0; fast < 2; fast++) {
        int rc = (fast ? cn_gelu_forward_f64 : cn_gelu_forward_naive_f64)(ctx, got, hx, hn);
        snprintf(name, sizeof name, "gelu hand values f64 %s (erfc, long double)", fast ? "fast" : "naive");
        /* x = -8: erfc(5.66) amplifies the rounding of x/sqrt2 by 2z^2 = 64,
         * so the bound is ~64 x 2.2e-16 = 1.4e-14 (valgrind, whose long
         * double is a double, measures 1.0e-14; natively 4.4e-15) */
        check_le(name, rc ? 1 : rel_max(got, want, hn), 2e-14);
        double ones[9];
        for (size_t i = 0; i < hn; i++) ones[i] = 1;
        rc = (fast ? cn_gelu_backward_f64 : cn_gelu_backward_naive_f64)(ctx, got, ones, hx, hn);
        snprintf(name, sizeof name, "gelu' hand values f64 %s", fast ? "fast" : "naive");
        check_le(name, rc ? 1 : rel_max(got, wantd, hn), 2e-15);
        float hx32[9], g32[9], w32[9];
        for (size_t i = 0; i < hn; i++) hx32[i] = (float)hx[i];
        rc = (fast ? cn_gelu_forward_f32 : cn_gelu_forward_naive_f32)(ctx, g32, hx32, hn);
        to_f32(w32, want, hn);
        double e = 0;
        for (size_t i = 0; i < hn; i++) e = fmax(e, fabs((double)g32[i] - want[i]) / fmax(1e-30, fabs(want[i])));
        snprintf(name, sizeof name, "gelu hand values f32 %s (relative)", fast ? "fast" : "naive");
        check_le(name, rc ? 1 : e, fast ? 3e-7 /* erfcc 1.2e-7 + rounding */ : 4e-6 /* 64 x float eps */);
    }

    /* fast vs naive, f32 vs f64, on n large enough for the threads, at
     * every SIMD level; the numeric gradient (float64) of both backwards */
    gelu_case(200003, 3, 7, HS_LEVELS);
    gelu_case(257, 2, 8, HS_NUMGRAD);

    /* for the in-place and scale checks below */
    const size_t n = 200003;
    cn_rng r;
    cn_rng_seed(&r, 7);
    double *x = xmalloc(8 * n), *g = xmalloc(8 * n), *on = xmalloc(8 * n), *of = xmalloc(8 * n);
    double *dn = xmalloc(8 * n), *df = xmalloc(8 * n);
    float *x32 = xmalloc(4 * n), *of32 = xmalloc(4 * n);
    fill_normal(&r, x, n, 3);
    fill_normal(&r, g, n, 1);
    to_f32(x32, x, n);
    int rc = cn_gelu_forward_f64(ctx, of, x, n) | cn_gelu_backward_f64(ctx, df, g, x, n);

    /* float32 fast (inline erfc, vectorized): elementwise relative error
     * against the long-double truth over a dense grid of [-13, 13] (where
     * GELU is a normal float), within 1e-6; dx against the sum's scale
     * |Phi| + |x phi| (GELU' has a root near -0.75). */
    {
        const size_t m = 260001;
        float *gx = xmalloc(4 * m), *go = xmalloc(4 * m), *gd = xmalloc(4 * m), *ones = xmalloc(4 * m);
        for (size_t i = 0; i < m; i++) gx[i] = (float)(-13.0 + 26.0 * (double)i / (m - 1)), ones[i] = 1;
        rc = cn_gelu_forward_f32(ctx, go, gx, m) | cn_gelu_backward_f32(ctx, gd, ones, gx, m);
        double eo = 0, ed = 0, worst_x = 0;
        for (size_t i = 0; i < m; i++) {
            long double v = gx[i], cdf = 0.5L * erfcl(-v / sqrtl(2.0L));
            long double pdf = expl(-v * v / 2) / sqrtl(2 * 3.14159265358979323846264338327950288L);
            double want = (double)(v * cdf), wd = (double)(cdf + v * pdf);
            if (fabs(want) >= 1.1754943508222875e-38) {
                double e = fabs(go[i] - want) / fabs(want);
                if (e > eo || isnan(e)) eo = e, worst_x = gx[i];
            }
            double e2 = fabs(gd[i] - wd) / (double)(fabsl(cdf) + fabsl(v * pdf));
            if (e2 > ed || isnan(e2)) ed = e2;
        }
        char nm[160];
        snprintf(nm, sizeof nm, "gelu f32 fast elementwise rel. error on [-13,13] (worst at x=%.4g)", worst_x);
        check_le(nm, rc ? 1 : eo, 1e-6);
        check_le("gelu' f32 fast error / (|Phi| + |x phi|) on [-13,13]", rc ? 1 : ed, 1e-6);
        float sp[4] = {0.0f, INFINITY, NAN, -0.0f}, so[4];
        rc = cn_gelu_forward_f32(ctx, so, sp, 4);
        check_true("gelu f32 fast: 0 -> 0, +inf -> +inf, NaN -> NaN, -0 -> 0", !rc && so[0] == 0 && isinf(so[1]) && so[1] > 0 && isnan(so[2]) && so[3] == 0, NULL);
        free(gx); free(go); free(gd); free(ones);
    }

    /* in place: out == x, dx == dout */
    memcpy(on, x, 8 * n);
    rc = cn_gelu_forward_f64(ctx, on, on, n);
    check_le("gelu f64 fast in place == out of place", rc ? 1 : scaled_error(on, of, n), 0);
    memcpy(dn, g, 8 * n);
    rc = cn_gelu_backward_f64(ctx, dn, dn, x, n);
    check_le("gelu' f64 fast in place == out of place", rc ? 1 : scaled_error(dn, df, n), 0);

    /* scale layer: out = s x exactly (s = 1/9 as airbench) and its backward */
    rc = cn_scale_forward_f64(ctx, of, x, 1.0 / 9, n);
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(of[i] - x[i] * (1.0 / 9)));
    check_le("scale f64 out == (1/9) x", rc ? 1 : e, 0);
    rc = cn_scale_forward_f32(ctx, of32, x32, 1.0 / 9, n);
    e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)of32[i] - (double)(x32[i] * (float)(1.0 / 9))));
    check_le("scale f32 out == (float)(1/9) x", rc ? 1 : e, 0);
    {
        double xs[3] = {1, -2, 4.5}, o[3], num[3], dout[3] = {0.3, -1, 2}, work[6], dx[3];
        struct { double *x; } dummy = {xs};
        (void)dummy;
        /* numeric: f(x) = s x, so the gradient is s*dout */
        for (int i = 0; i < 3; i++) {
            double h = 1e-5, save = xs[i], p, q;
            xs[i] = save + h; cn_scale_forward_f64(ctx, o, xs, -0.25, 3); p = o[0] * dout[0] + o[1] * dout[1] + o[2] * dout[2];
            xs[i] = save - h; cn_scale_forward_f64(ctx, o, xs, -0.25, 3); q = o[0] * dout[0] + o[1] * dout[1] + o[2] * dout[2];
            xs[i] = save;
            num[i] = (p - q) / (2 * h);
        }
        (void)work;
        rc = cn_scale_forward_f64(ctx, dx, dout, -0.25, 3); /* backward: the same call on dout */
        check_le("scale numgrad dx f64 (s=-0.25)", rc ? 1 : cn_rel_error(dx, num, 3), 1e-9);
    }

    /* bad arguments */
    expect_err("gelu NULL out", cn_gelu_forward_f32(ctx, NULL, x32, 4), CN_EINVAL, "NULL");
    expect_err("gelu backward NULL x", cn_gelu_backward_f64(ctx, dn, g, NULL, 4), CN_EINVAL, "NULL");
    expect_err("gelu naive n too large", cn_gelu_forward_naive_f64(ctx, on, x, SIZE_MAX / 4), CN_ENOMEM, "beyond");
    expect_err("scale s=NaN", cn_scale_forward_f64(ctx, of, x, NAN, 4), CN_EINVAL, "s=nan");

    free(x); free(g); free(on); free(of); free(dn); free(df);
    free(x32); free(of32);
    cn_ctx_free(ctx);
    return check_done();
}
