/* test_whiten.c — the whitening conv fit (airbench): on random correlated
 * images (channels mixed, neighbouring pixels smoothed), the fitted
 * filters run through cn_conv_forward (stride 1, no pad) give outputs
 * whose second moment over all positions is the identity (eps = 0) or
 * diag(l / (l + eps)); the second half are the negatives; eigenvalues
 * descending, their sum is the trace of the patch covariance computed here
 * directly; float32 alike; bad arguments. */
#include "harness.h"
#include <string.h>

static cn_ctx *ctx;

static void expect_err(const char *name, int rc, int code, const char *needle) {
    hs_expect_err(ctx, name, rc, code, needle);
}

/* x[N,3,H,W]: z ~ N(0,1) per pixel and channel, smoothed with the right and
 * lower neighbours, then channels mixed by a fixed matrix: strongly
 * correlated patches (condition number in the hundreds). */
static void make_images(double *x, int N, int H, int W, uint64_t seed) {
    cn_rng r;
    cn_rng_seed(&r, seed);
    const int C = 3;
    double *z = xmalloc(8 * (size_t)C * (H + 1) * (W + 1));
    const double mix[3][3] = {{1, 0.8, 0.3}, {0.2, 1, 0.7}, {0.1, 0.5, 1}};
    for (int n = 0; n < N; n++) {
        fill_normal(&r, z, (size_t)C * (H + 1) * (W + 1), 1);
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double s = 0;
                    for (int k = 0; k < C; k++) {
                        const double *zk = z + (size_t)k * (H + 1) * (W + 1);
                        double v = zk[i * (W + 1) + j] + 0.6 * zk[i * (W + 1) + j + 1] +
                                   0.4 * zk[(i + 1) * (W + 1) + j];
                        s += mix[c][k] * v;
                    }
                    x[(((size_t)n * C + c) * H + i) * W + j] = s + 0.3;
                }
    }
    free(z);
}

/* second moment M[a][b] = mean over (n, i, j) of out_a out_b, a, b < F */
static void moments(double *M, const double *out, int N, int F, int Ho, int Wo, int Ftot) {
    memset(M, 0, sizeof(double) * F * F);
    const size_t P = (size_t)Ho * Wo;
    for (int n = 0; n < N; n++)
        for (size_t p = 0; p < P; p++)
            for (int a = 0; a < F; a++)
                for (int b = 0; b < F; b++)
                    M[a * F + b] += out[((size_t)n * Ftot + a) * P + p] * out[((size_t)n * Ftot + b) * P + p];
    for (int i = 0; i < F * F; i++) M[i] /= (double)N * P;
}

int main(void) {
    ctx = cn_ctx_new(2);
    const int N = 40, C = 3, H = 12, W = 11, D = 12, F = 24, Ho = H - 1, Wo = W - 1;
    const size_t nx = (size_t)N * C * H * W, no = (size_t)N * F * Ho * Wo;
    double *x = xmalloc(8 * nx), *out = xmalloc(8 * no), w[24 * 12], eig[12], b[24] = {0}, M[144];
    float *x32 = xmalloc(4 * nx), *o32 = xmalloc(4 * no), w32[24 * 12], b32[24] = {0};
    double *o64 = xmalloc(8 * no);
    make_images(x, N, H, W, 1);
    to_f32(x32, x, nx);
    cn_conv_shape s = {N, C, H, W, F, 2, 2, 1, 0};
    /* the trace of the patch covariance, computed here directly */
    double tr = 0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i + 1 < H; i++)
                for (int j = 0; j + 1 < W; j++)
                    for (int di = 0; di < 2; di++)
                        for (int dj = 0; dj < 2; dj++) {
                            double v = x[(((size_t)n * C + c) * H + i + di) * W + j + dj];
                            tr += v * v;
                        }
    tr /= (double)N * Ho * Wo;
    for (int pass = 0; pass < 2; pass++) {
        const double eps = pass ? 0.05 : 0;
        int rc = cn_whiten_fit_f64(ctx, w, eig, x, eps, N, C, H, W);
        rc |= cn_conv_forward_f64(ctx, out, x, w, b, &s);
        if (rc) printf("# %s\n", cn_ctx_error(ctx));
        moments(M, out, N, D, Ho, Wo, F);
        double e = 0;
        for (int a = 0; a < D; a++)
            for (int c2 = 0; c2 < D; c2++) {
                double want = a == c2 ? eig[a] / (eig[a] + eps) : 0;
                e = fmax(e, fabs(M[a * D + c2] - want));
            }
        char name[160], note[160];
        snprintf(note, sizeof note, "eigenvalues %.4g .. %.4g", eig[0], eig[D - 1]);
        snprintf(name, sizeof name, "f64 eps=%g: whitened second moment == diag(l/(l+eps)), max abs error", eps);
        check_le(name, rc ? 1 : e, 1e-10);
        printf("# %s\n", note);
        int desc = 1;
        double sum = 0;
        for (int i = 0; i < D; i++) {
            sum += eig[i];
            if (i && eig[i] > eig[i - 1]) desc = 0;
        }
        snprintf(name, sizeof name, "f64 eps=%g: eigenvalues descending and > 0", eps);
        check_true(name, !rc && desc && eig[D - 1] > 0, note);
        snprintf(name, sizeof name, "f64 eps=%g: sum of eigenvalues == trace of the patch covariance", eps);
        check_le(name, rc ? 1 : fabs(sum - tr) / tr, 1e-13);
        double neg = 0;
        for (int i = 0; i < D * D; i++) neg = fmax(neg, fabs(w[D * D + i] + w[i]));
        snprintf(name, sizeof name, "f64 eps=%g: filters 12..23 are the negatives of 0..11", eps);
        check_le(name, rc ? 1 : neg, 0);
    }
    /* float32: fit and conv in float, moments against the identity */
    int rc = cn_whiten_fit_f32(ctx, w32, eig, x32, 0, N, C, H, W);
    rc |= cn_conv_forward_f32(ctx, o32, x32, w32, b32, &s);
    to_f64(o64, o32, no);
    moments(M, o64, N, D, Ho, Wo, F);
    double e = 0;
    for (int a = 0; a < D; a++)
        for (int c2 = 0; c2 < D; c2++) e = fmax(e, fabs(M[a * D + c2] - (a == c2)));
    check_le("f32 eps=0: whitened second moment == identity, max abs error", rc ? 1 : e, 1e-5);
    /* airbench's size: 2x2 patches of 3 channels at 32x32 on a few images */
    {
        const int n2 = 8;
        double *x2 = xmalloc(8 * (size_t)n2 * 3 * 32 * 32), w2[24 * 12], e2[12];
        make_images(x2, n2, 32, 32, 2);
        rc = cn_whiten_fit_f64(ctx, w2, e2, x2, 5e-4, n2, 3, 32, 32);
        check_true("32x32 images, eps 5e-4 (airbench's): fit succeeds", !rc, rc ? cn_ctx_error(ctx) : NULL);
        /* threaded here (8*3*32*32*12 values > 2^18); one thread: the same
         * filters to rounding (the partial sums differ in order) */
        cn_ctx *c1 = cn_ctx_new(1);
        double w1[24 * 12];
        rc = cn_whiten_fit_f64(c1, w1, NULL, x2, 5e-4, n2, 3, 32, 32);
        check_le("f64 1 thread vs 2 threads: filters (scaled)", rc ? 1 : scaled_error(w1, w2, 24 * 12), 1e-10);
        cn_ctx_free(c1);
        free(x2);
    }
    /* bad arguments */
    double z[4 * 17 * 2 * 2] = {0};
    expect_err("C=17 (68 patch dims)", cn_whiten_fit_f64(ctx, w, eig, z, 0, 1, 17, 2, 2), CN_EINVAL, "C=17");
    expect_err("H=1", cn_whiten_fit_f64(ctx, w, eig, x, 0, N, C, 1, W), CN_EINVAL, "H, W >= 2");
    expect_err("eps=-1", cn_whiten_fit_f64(ctx, w, eig, x, -1, N, C, H, W), CN_EINVAL, "eps=-1");
    expect_err("all-zero images, eps=0: rank 0", cn_whiten_fit_f64(ctx, w, eig, z, 0, 4, 1, 2, 2), CN_ENUM, "use eps > 0");
    x[5] = NAN;
    expect_err("NaN in x", cn_whiten_fit_f64(ctx, w, eig, x, 0, N, C, H, W), CN_ENUM, "not finite");
    expect_err("w NULL", cn_whiten_fit_f32(ctx, NULL, eig, x32, 0, N, C, H, W), CN_EINVAL, "NULL");
    free(x); free(out); free(x32); free(o32); free(o64);
    cn_ctx_free(ctx);
    return check_done();
}
