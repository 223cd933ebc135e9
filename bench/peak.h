/* peak.h — the machine's own yardsticks for the bench programs, measured in
 * the same run: single-precision FMA peak per instruction-set level the CPU
 * has (1 thread and all threads) and a stream-copy memory bandwidth.
 *
 * Absolute seconds do not carry from one machine to the next (issue 9);
 * ratios to these figures do. bench/peak.c measures them once and prints a
 * table plus a `peak-env:` line; bench/run.sh exports that line as
 * CN_BENCH_PEAK so every bench program divides by the same figures. A bench
 * program started on its own (no CN_BENCH_PEAK) measures them itself.
 *
 * Levels:
 *   generic  baseline x86-64: SSE2 has no FMA, so the kernel issues one
 *            mulps and one addps per "FMA" (4 lanes, 2 flops per lane per
 *            pair) — what a baseline kernel can do at best;
 *   avx2     256-bit vfmadd (AVX2 + FMA3), 8 lanes;
 *   avx512   512-bit vfmadd (AVX-512F), 16 lanes.
 * Each kernel keeps 12 (generic, avx2: 16 registers) or 16 (avx512: 32
 * registers) independent accumulators, enough to cover FMA latency x
 * throughput on current x86 cores (4 cycles x 2 pipes = 8 in flight).
 * The peak is the fastest of several repeats (noise only ever lowers it);
 * the median is printed beside it.
 *
 * Stream copy: b[i] = a[i] over 256 MB float arrays (beyond a CCD's L3;
 * note a VM may report the whole host's L3), done with memcpy on each
 * thread's contiguous share, counted as read + write = 2 x 256 MB per pass
 * (STREAM's convention: write-allocate traffic not counted). Beside it an
 * in-place update stream (a = a*s + b, 3 x bytes), the update rules' own
 * access pattern, which pays no write-allocate and so runs faster. */
#ifndef BENCH_PEAK_H
#define BENCH_PEAK_H

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LV_GENERIC, LV_AVX2, LV_AVX512, LV_N };
static const char *const lv_name[LV_N] = {"generic", "avx2", "avx512"};

static inline double pk_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static inline int pk_cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline int lv_cpu_has(int lv) {
    __builtin_cpu_init();
    switch (lv) {
    case LV_GENERIC: return 1; /* SSE2 is part of x86-64 */
    case LV_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case LV_AVX512: return __builtin_cpu_supports("avx512f");
    }
    return 0;
}
static inline int lv_parse(const char *s) {
    if (!s) return -1;
    if (!strncmp(s, "avx512", 6)) return LV_AVX512;
    if (!strncmp(s, "avx2", 4)) return LV_AVX2;
    /* "avx" (no FMA), "sse2", "generic", "baseline": the baseline kernels */
    if (!strncmp(s, "avx", 3) || !strncmp(s, "sse", 3) || !strncmp(s, "generic", 7) ||
        !strncmp(s, "baseline", 8))
        return LV_GENERIC;
    return -1;
}
static inline int lv_native(void) {
    for (int lv = LV_N - 1; lv > 0; lv--)
        if (lv_cpu_has(lv)) return lv;
    return LV_GENERIC;
}

/* The level a library run uses: the `simd=` field of its build info, capped
 * by CN_SIMD (the library's conv and affine honour the cap even where the
 * build line predates it) and by the CPU. *note gets a remark when the
 * sources disagree (empty otherwise). */
static inline int lv_in_use(const char *build_info, char *note, size_t notelen) {
    int lv = lv_native();
    const char *p = build_info ? strstr(build_info, "simd=") : NULL;
    int lib = p ? lv_parse(p + 5) : -1;
    const char *capv = getenv("CN_SIMD");
    int cap = lv_parse(capv);
    note[0] = 0;
    if (lib >= 0 && lib < lv) lv = lib;
    if (cap >= 0 && cap < lv) {
        if (lib >= 0)
            snprintf(note, notelen, "build info says simd=%s, CN_SIMD=%s caps it: taking %s",
                     lv_name[lib], capv, lv_name[cap]);
        lv = cap;
    }
    if (lib < 0)
        snprintf(note, notelen, "no simd= in the build info: level from CN_SIMD / CPU detection");
    return lv;
}

/* ---- the FMA kernels: iters x ACC vector FMAs, one thread. The unroll
 * pragmas keep the accumulators in registers at -O2 (without them GCC keeps
 * the array on the stack and measures store-forwarding, not the FMA units). */
#define PK_M 0.9999999f /* a = a*m + c stays normal and bounded */
#define PK_C 1e-7f

__attribute__((target("sse2"), noinline, unused)) static float pk_generic(long iters) {
    __m128 a[12], m = _mm_set1_ps(PK_M), c = _mm_set1_ps(PK_C);
#pragma GCC unroll 16
    for (int i = 0; i < 12; i++) a[i] = _mm_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
#pragma GCC unroll 16
        for (int i = 0; i < 12; i++) a[i] = _mm_add_ps(_mm_mul_ps(a[i], m), c);
    __m128 s = a[0];
#pragma GCC unroll 16
    for (int i = 1; i < 12; i++) s = _mm_add_ps(s, a[i]);
    return _mm_cvtss_f32(s);
}
__attribute__((target("avx2,fma"), noinline, unused)) static float pk_avx2(long iters) {
    __m256 a[12], m = _mm256_set1_ps(PK_M), c = _mm256_set1_ps(PK_C);
#pragma GCC unroll 16
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
#pragma GCC unroll 16
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
#pragma GCC unroll 16
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    return _mm256_cvtss_f32(s);
}
__attribute__((target("avx512f"), noinline, unused)) static float pk_avx512(long iters) {
    __m512 a[16], m = _mm512_set1_ps(PK_M), c = _mm512_set1_ps(PK_C);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
#pragma GCC unroll 16
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}
/* flops per kernel iteration (2 per lane per FMA or mul+add pair) */
static const double pk_flops_per_iter[LV_N] = {12 * 4 * 2, 12 * 8 * 2, 16 * 16 * 2};

static inline float pk_run(int lv, long iters) {
    switch (lv) {
    case LV_GENERIC: return pk_generic(iters);
    case LV_AVX2: return pk_avx2(iters);
    default: return pk_avx512(iters);
    }
}

/* GFLOP/s of level lv on nt threads: best (*best) and median (*med) of reps */
static inline void pk_measure(int lv, int nt, int reps, double *best, double *med) {
    long iters = 2000000; /* ~10-50 ms per rep at 1-5 GHz */
    double t[32];
    volatile float sink = 0;
    if (reps > 32) reps = 32;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up (clocks, threads) */
        double t0 = pk_now();
#pragma omp parallel num_threads(nt)
        {
            float s = pk_run(lv, iters);
#pragma omp atomic
            sink += s;
        }
        if (r >= 0) t[r] = pk_now() - t0;
    }
    (void)sink;
    qsort(t, reps, sizeof t[0], pk_cmpd);
    double fl = pk_flops_per_iter[lv] * (double)iters * nt * 1e-9;
    *best = fl / t[0];
    *med = fl / t[reps / 2];
}

/* Memory bandwidth on nt threads, GB/s. rmw = 0: the stream copy b = a
 * (memcpy, 2 x bytes per pass). rmw = 1: an in-place update a = a*s + b
 * (3 x bytes per pass), the access pattern of the update rules: the lines
 * written were just read, so there is no write-allocate traffic, which a
 * copy into a separate array pays without it being counted. */
static inline void pk_stream_mode(int nt, int reps, int rmw, double *best, double *med) {
    size_t n = (size_t)64 << 20; /* 64M floats = 256 MB per array */
    float *a = malloc(n * 4), *b = malloc(n * 4);
    double t[32];
    if (!a || !b) {
        free(a); free(b);
        *best = *med = 0;
        return;
    }
    if (reps > 32) reps = 32;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) { a[i] = (float)(i & 1023); b[i] = 1e-3f; } /* first touch */
    for (int r = -1; r < reps; r++) {
        double t0 = pk_now();
#pragma omp parallel num_threads(nt)
        {
            int id = omp_get_thread_num(), k = omp_get_num_threads();
            size_t lo = n * id / k, hi = n * (id + 1) / k;
            if (rmw)
                for (size_t i = lo; i < hi; i++) a[i] = a[i] * 0.999f + b[i];
            else
                memcpy(b + lo, a + lo, (hi - lo) * 4);
        }
        if (r >= 0) t[r] = pk_now() - t0;
    }
    volatile float keep = a[n / 3] + b[n / 5];
    (void)keep;
    free(a); free(b);
    qsort(t, reps, sizeof t[0], pk_cmpd);
    double bytes = (rmw ? 3.0 : 2.0) * n * 4;
    *best = bytes / t[0] * 1e-9;
    *med = bytes / t[reps / 2] * 1e-9;
}
static inline void pk_stream(int nt, int reps, double *best, double *med) {
    pk_stream_mode(nt, reps, 0, best, med);
}

/* ---- the figures a bench program divides by ---- */
typedef struct {
    int nall;              /* "all threads" = omp_get_max_threads() */
    double gf[LV_N][2];    /* peak GFLOP/s, [.][0] 1 thread, [.][1] all; 0: level absent */
    double bw[2];          /* stream copy GB/s, 1 thread and all */
    double bwu[2];         /* in-place update stream GB/s, 1 thread and all */
    int measured_here;     /* 1: not from CN_BENCH_PEAK */
} bench_peak;

/* The `peak-env:` line, e.g. "nall=2 generic=31.2,62.0 avx2=...  bw=21.0,30.5" */
static inline void peak_format(const bench_peak *p, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "nall=%d", p->nall);
    for (int lv = 0; lv < LV_N && o < len; lv++)
        if (p->gf[lv][0] > 0) o += (size_t)snprintf(buf + o, len - o, " %s=%.2f,%.2f", lv_name[lv], p->gf[lv][0], p->gf[lv][1]);
    if (o < len) snprintf(buf + o, len - o, " bw=%.2f,%.2f bwu=%.2f,%.2f", p->bw[0], p->bw[1], p->bwu[0], p->bwu[1]);
}
static inline int peak_parse(bench_peak *p, const char *s) {
    memset(p, 0, sizeof *p);
    const char *q = strstr(s, "nall=");
    if (!q || (p->nall = atoi(q + 5)) < 1) return -1;
    for (int lv = 0; lv < LV_N; lv++) {
        char key[16];
        snprintf(key, sizeof key, " %s=", lv_name[lv]);
        if ((q = strstr(s, key)) && sscanf(q + strlen(key), "%lf,%lf", &p->gf[lv][0], &p->gf[lv][1]) != 2)
            return -1;
    }
    if ((q = strstr(s, " bw=")) && sscanf(q + 4, "%lf,%lf", &p->bw[0], &p->bw[1]) != 2) return -1;
    if ((q = strstr(s, " bwu=")) && sscanf(q + 5, "%lf,%lf", &p->bwu[0], &p->bwu[1]) != 2) return -1;
    return p->gf[LV_GENERIC][0] > 0 ? 0 : -1;
}
/* Measure every level the CPU has (quick = fewer repeats) */
static inline void peak_measure(bench_peak *p, int quick, int with_stream) {
    double med;
    memset(p, 0, sizeof *p);
    p->nall = omp_get_max_threads();
    int reps = quick ? 3 : 9;
    for (int lv = 0; lv < LV_N; lv++) {
        if (!lv_cpu_has(lv)) continue;
        pk_measure(lv, 1, reps, &p->gf[lv][0], &med);
        pk_measure(lv, p->nall, reps, &p->gf[lv][1], &med);
    }
    if (with_stream) {
        pk_stream(1, reps, &p->bw[0], &med);
        pk_stream(p->nall, reps, &p->bw[1], &med);
        pk_stream_mode(1, reps, 1, &p->bwu[0], &med);
        pk_stream_mode(p->nall, reps, 1, &p->bwu[1], &med);
    }
    p->measured_here = 1;
}
/* From CN_BENCH_PEAK (set by bench/run.sh), else measured now */
static inline void peak_get(bench_peak *p, int with_stream) {
    const char *e = getenv("CN_BENCH_PEAK");
    if (e && peak_parse(p, e) == 0 && (!with_stream || p->bw[1] > 0)) return;
    fprintf(stderr, "(CN_BENCH_PEAK unset: measuring the peak here, quickly)\n");
    peak_measure(p, 1, with_stream);
}
/* Peak GFLOP/s of level lv on nt threads: on several threads the larger of
 * the measured figure and nt x the 1-thread one. FMA units are per core, so
 * a quiet machine measures nt x (seen: 446.4 = 2 x 222.4 on this project's
 * Zen 5); when other work shares the cores the measured all-thread figure
 * drops and would flatter every % of peak, so the harder yardstick wins. */
static inline double peak_at(const bench_peak *p, int lv, int nt) {
    if (nt <= 1) return p->gf[lv][0];
    double scaled = p->gf[lv][0] * nt;
    return nt == p->nall && p->gf[lv][1] > scaled ? p->gf[lv][1] : scaled;
}
/* Stream copy GB/s on nt threads: on several, at least the 1-thread figure
 * (more threads never have less bandwidth; a lower reading is other work on
 * the shared cores) */
static inline double bw_at(const bench_peak *p, int nt) {
    return nt <= 1 || p->bw[0] > p->bw[1] ? p->bw[0] : p->bw[1];
}
static inline double bwu_at(const bench_peak *p, int nt) {
    return nt <= 1 || p->bwu[0] > p->bwu[1] ? p->bwu[0] : p->bwu[1];
}

/* One result line for run.sh's summary (appended to $CN_BENCH_RECORD if set):
 * "prog level cell threads med_ms min_ms gflops pct" (gflops: GB/s for
 * bandwidth cells). */
static inline void bench_record(const char *prog, int lv, const char *cell, int nt, double med_s,
                         double min_s, double rate, double pct) {
    const char *f = getenv("CN_BENCH_RECORD");
    if (!f || !*f) return;
    FILE *fp = fopen(f, "a");
    if (!fp) return;
    fprintf(fp, "%s %s %s %d %.4f %.4f %.2f %.1f\n", prog, lv_name[lv], cell, nt, 1e3 * med_s,
            1e3 * min_s, rate, pct);
    fclose(fp);
}

#endif
