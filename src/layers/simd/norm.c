/* simd/norm.c — the norms' loops over one contiguous stretch (a plane of a
 * channel, a sample's row, a group), compiled once per SIMD level (simd.h)
 * so that their double-precision sums and the maps back to the element
 * type run 2, 4 or 8 doubles wide. The drivers (../norm.c: the spatial
 * batch norm, layer norm and spatial group norm) walk the planes and add a
 * stretch's sum to their running one, in plane order. Built for the
 * baseline only, the spatial batch norm of the recipe's net (256 x 64 x
 * 16 x 16) took 2.5 ms forward and 3.0 ms backward on 2 threads; the same
 * loops built for AVX-512 took 1.6 and 2.2 (8 x 8 planes: backward 6.2 ->
 * 3.0 ms). A level sums each stretch in its own lane order (fixed for the
 * level: runs are bit-identical at a level, not across levels). */
#include "../simd.h"
#include "../kern.h"

/* sum of x[0..n) */
static double sum(const real *x, size_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

/* sum of (x[i] - mean)^2 */
static double sqdev(const real *x, size_t n, double mean) {
    double v = 0;
#pragma omp simd reduction(+ : v)
    for (size_t i = 0; i < n; i++) {
        double t = x[i] - mean;
        v += t * t;
    }
    return v;
}

/* o[i] = (x[i] - mean) * scale + shift */
static void map(real *o, const real *x, size_t n, double mean, double scale, double shift) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) o[i] = (real)((x[i] - mean) * scale + shift);
}

/* s[0] = sum dy[i], s[1] = sum dy[i] * ((x[i] - mean) * inv) */
static void dsums(const real *x, const real *dy, size_t n, double mean, double inv, double *s) {
    double sdy = 0, sdyx = 0;
#pragma omp simd reduction(+ : sdy, sdyx)
    for (size_t i = 0; i < n; i++) {
        double d = dy[i];
        sdy += d;
        sdyx += d * ((x[i] - mean) * inv);
    }
    s[0] = sdy;
    s[1] = sdyx;
}

/* dx[i] = a * (dy[i] - k1 - (x[i] - mean) * k2) */
static void dxmap(real *dx, const real *dy, const real *x, size_t n, double a, double k1, double mean, double k2) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dx[i] = (real)(a * (dy[i] - k1 - (x[i] - mean) * k2));
}

const norm_kern KFN(cn__norm_kern) = {sum, sqdev, map, dsums, dxmap};
