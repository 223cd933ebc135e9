/* check.h — the tiny test harness: every check prints one line with its
 * measured error and tolerance; the program ends with "RESULT p f" which
 * tests/run.sh sums. Exit status is non-zero when any check failed. */
#ifndef CN_CHECK_H
#define CN_CHECK_H
#include "convnet.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

static int check_passed, check_failed;

/* err <= tol passes (NaN fails). */
static inline int check_le(const char *name, double err, double tol) {
    int ok = err <= tol;
    printf("%s %-60s err=%.3e tol=%.1e\n", ok ? "PASS" : "FAIL", name, err, tol);
    if (ok) check_passed++; else check_failed++;
    return ok;
}

/* A condition with a note. */
static inline int check_true(const char *name, int cond, const char *note) {
    printf("%s %-60s %s\n", cond ? "PASS" : "FAIL", name, note ? note : "");
    if (cond) check_passed++; else check_failed++;
    return cond;
}

static inline int check_done(void) {
    printf("RESULT %d %d\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Deterministic test data. */
static inline void fill_normal(cn_rng *r, double *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * cn_rng_normal(r);
}
static inline void to_f32(float *dst, const double *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}
static inline void to_f64(double *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}
/* max |a-b| / max(1e-8, max|b|): relative to the reference's scale. Used for
 * float32-vs-float64 comparisons where elementwise rel_error is unfair near 0. */
static inline double scaled_error_f32(const float *a, const double *b, size_t n) {
    double m = 1e-8, d = 0;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > m) m = fabs(b[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > d || isnan(e)) d = e;
    }
    return d / m;
}
/* max |a-b| / max(1e-300, max|b|) for float64: the norm-wise relative error,
 * for sums so long that elementwise ratios of near-cancelled entries measure
 * only roundoff. */
static inline double scaled_error(const double *a, const double *b, size_t n) {
    double m = 1e-300, d = 0;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > m) m = fabs(b[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (e > d || isnan(e)) d = e;
    }
    return d / m;
}
static inline void *xmalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
/* How many temporary files of an atomic save to path exist right now
 * (PATH.tmp.XXXXXX beside it, atomic.c); the name of one goes to name. */
static inline int count_tmp_files(const char *path, char *name, size_t cap) {
    char d[4096], prefix[4096];
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(d, sizeof d, "%.*s", (int)(slash - path), path);
    else snprintf(d, sizeof d, ".");
    snprintf(prefix, sizeof prefix, "%s.tmp.", slash ? slash + 1 : path);
    DIR *dp = opendir(d[0] ? d : "/");
    if (!dp) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && strlen(e->d_name) == strlen(prefix) + 6) {
            if (name && cap) {
                /* d and the entry name are each < 4096; a truncated note is fine */
                size_t dl = strlen(d), el = strlen(e->d_name);
                if (dl + 1 + el < cap) {
                    memcpy(name, d, dl);
                    name[dl] = '/';
                    memcpy(name + dl + 1, e->d_name, el + 1);
                }
            }
            n++;
        }
    closedir(dp);
    return n;
}
#endif
