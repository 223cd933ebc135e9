/* test_gelu.c — GELU (exact erf form) and the scale layer: hand values
 * (Phi from erfc in long double, an independent path), fast against naive
 * in float32 and float64, float32 against float64, numeric gradients,
 * in place, bad arguments. */
#include "check.h"
#include <string.h>

static cn_ctx *ctx;

static void f_gelu(void *u, double *out) {
    double **a = u; /* a[0] = x, a[1] = n as a pointer-sized count */
    cn_gelu_forward_naive_f64(ctx, out, a[0], (size_t)(uintptr_t)a[1]);
}

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
    const char *msg = cn_ctx_error(ctx);
    char buf[300];
    snprintf(buf, sizeof buf, "%s -> %d \"%s\"", name, rc, rc ? msg : "");
    check_true(buf, rc == code && (!needle || strstr(msg, needle)), NULL);
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

    /* fast vs naive, f32 vs f64, on n large enough for the threads */
    const size_t n = 200003;
    cn_rng r;
    cn_rng_seed(&r, 7);
    double *x = xmalloc(8 * n), *g = xmalloc(8 * n), *on = xmalloc(8 * n), *of = xmalloc(8 * n);
    double *dn = xmalloc(8 * n), *df = xmalloc(8 * n);
    float *x32 = xmalloc(4 * n), *g32 = xmalloc(4 * n), *on32 = xmalloc(4 * n), *of32 = xmalloc(4 * n);
    float *dn32 = xmalloc(4 * n), *df32 = xmalloc(4 * n);
    fill_normal(&r, x, n, 3);
    fill_normal(&r, g, n, 1);
    to_f32(x32, x, n);
    to_f32(g32, g, n);
    double x32d[1];
    (void)x32d;
    int rc = cn_gelu_forward_naive_f64(ctx, on, x, n) | cn_gelu_forward_f64(ctx, of, x, n) |
             cn_gelu_backward_naive_f64(ctx, dn, g, x, n) | cn_gelu_backward_f64(ctx, df, g, x, n);
    check_le("gelu f64 fast vs naive out (scaled)", rc ? 1 : scaled_error(of, on, n), 1e-15);
    check_le("gelu f64 fast vs naive dx (scaled)", rc ? 1 : scaled_error(df, dn, n), 1e-15);
    rc = cn_gelu_forward_naive_f32(ctx, on32, x32, n) | cn_gelu_forward_f32(ctx, of32, x32, n) |
         cn_gelu_backward_naive_f32(ctx, dn32, g32, x32, n) | cn_gelu_backward_f32(ctx, df32, g32, x32, n);
    /* the float64 truth at the float32 inputs */
    double *xr = xmalloc(8 * n), *gr = xmalloc(8 * n), *tr = xmalloc(8 * n), *tdr = xmalloc(8 * n);
    to_f64(xr, x32, n);
    to_f64(gr, g32, n);
    rc |= cn_gelu_forward_naive_f64(ctx, tr, xr, n) | cn_gelu_backward_naive_f64(ctx, tdr, gr, xr, n);
    check_le("gelu f32 fast vs f64 at the same inputs out (scaled)", rc ? 1 : scaled_error_f32(of32, tr, n), 1e-7);
    check_le("gelu f32 naive vs f64 at the same inputs out (scaled)", rc ? 1 : scaled_error_f32(on32, tr, n), 1e-6);
    check_le("gelu f32 fast vs f64 at the same inputs dx (scaled)", rc ? 1 : scaled_error_f32(df32, tdr, n), 1e-7);
    check_le("gelu f32 naive vs f64 at the same inputs dx (scaled)", rc ? 1 : scaled_error_f32(dn32, tdr, n), 1e-6);
    check_le("gelu f32 fast vs naive out (scaled)", rc ? 1 : scaled_error_f32(of32, (to_f64(tr, on32, n), tr), n), 1e-6);

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

    /* numeric gradient (float64), both backwards */
    {
        const size_t m = 257;
        double *xs = xmalloc(8 * m), *gs = xmalloc(8 * m), *num = xmalloc(8 * m), *dx = xmalloc(8 * m);
        double *work = xmalloc(16 * m);
        fill_normal(&r, xs, m, 2);
        fill_normal(&r, gs, m, 1);
        double *args[2] = {xs, (double *)(uintptr_t)m};
        cn_eval_numerical_gradient_array(ctx, num, f_gelu, args, xs, m, gs, m, 1e-5, work);
        rc = cn_gelu_backward_f64(ctx, dx, gs, xs, m);
        check_le("gelu numgrad fast dx f64 (scaled)", rc ? 1 : scaled_error(dx, num, m), 1e-9);
        rc = cn_gelu_backward_naive_f64(ctx, dx, gs, xs, m);
        check_le("gelu numgrad naive dx f64 (scaled)", rc ? 1 : scaled_error(dx, num, m), 1e-9);
        free(xs); free(gs); free(num); free(dx); free(work);
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
    free(x32); free(g32); free(on32); free(of32); free(dn32); free(df32);
    free(xr); free(gr); free(tr); free(tdr);
    cn_ctx_free(ctx);
    return check_done();
}
