/* core.c — context, errors, workspaces, random numbers, build info. */
#include "internal.h"
#include <time.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS extras (declared here to avoid depending on its private header) */
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
/* OpenBLAS's own (pthreads) pool: stops its threads; exported, it is what
 * OpenBLAS runs before a fork. Weak: absent in a build of OpenBLAS without
 * it, and then not called. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The best level this CPU runs. */
static int cpu_simd(void) {
#ifdef CN_X86_LEVELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("fma"))
        return CN_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CN_SIMD_AVX2;
#endif
    return CN_SIMD_GENERIC;
}

void *cn__alloc_zeroed(size_t bytes) {
    if (bytes > SIZE_MAX - 64 - sizeof(void *)) return NULL;
    char *base = calloc(1, bytes + 64 + sizeof(void *));
    if (!base) return NULL;
    uintptr_t a = ((uintptr_t)base + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)a)[-1] = base;
    return (void *)a;
}

void cn__free_zeroed(void *p) {
    if (p) free(((void **)p)[-1]);
}

static const char *const simd_names[] = {"generic", "avx2", "avx512"};

static int simd_by_name(const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, simd_names[i])) return i;
    return -1;
}

cn_ctx *cn_ctx_new(int nthreads) {
    cn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    cn_ctx_set_threads(ctx, nthreads);
    /* CN_SIMD=avx2|generic caps the level (for tests and benchmarks of the
     * lower levels on a bigger CPU); an unknown value is ignored here and
     * refused by cn_ctx_set_simd. */
    ctx->simd = cpu_simd();
    const char *cap = getenv("CN_SIMD");
    int lv = cap ? simd_by_name(cap) : -1;
    if (lv >= 0 && lv < ctx->simd) ctx->simd = lv;
    return ctx;
}

int cn__simd(const cn_ctx *ctx) { return ctx ? ctx->simd : cpu_simd(); }

int cn_ctx_set_simd(cn_ctx *ctx, const char *level) {
    int best = cpu_simd();
    if (!level || !strcmp(level, "auto")) {
        ctx->simd = best;
        return CN_OK;
    }
    int lv = simd_by_name(level);
    if (lv < 0)
        return cn_error(ctx, CN_EINVAL, "unknown SIMD level '%s' (auto, avx512, avx2, generic)", level);
    if (lv > best)
        return cn_error(ctx, CN_EINVAL, "SIMD level '%s' is not available on this CPU (best: %s)",
                        level, simd_names[best]);
    ctx->simd = lv;
    return CN_OK;
}

const char *cn_ctx_simd(const cn_ctx *ctx) { return simd_names[cn__simd(ctx)]; }

void cn_ctx_free(cn_ctx *ctx) {
    if (!ctx) return;
    for (int i = 0; i < CN_WS_SLOTS; i++) free(ctx->ws[i]);
    free(ctx);
}

int cn_ctx_threads(const cn_ctx *ctx) { return ctx->nthreads; }

int cn_ctx_set_threads(cn_ctx *ctx, int nthreads) {
    if (nthreads <= 0) nthreads = default_threads();
    if (nthreads > 256) nthreads = 256;
    ctx->nthreads = nthreads;
    /* BLAS calls are split across threads by the layers themselves (OpenMP),
     * so OpenBLAS's own pool stays at one thread: two pools on the same cores
     * spin against each other. (OpenBLAS's setting is process-wide.) Its
     * idle threads, started when it was loaded, are stopped too: told to use
     * one thread, they still spun (sched_yield) until their timeout, 0.1-0.5 s
     * here, on our cores: in that time an empty OpenMP region took 150 us
     * (6 us after), and the hidden-100 affine backward 0.75 ms (0.59). Done
     * once: afterwards OpenBLAS reports one thread, until someone raises it
     * (it starts its threads again then, and the next context stops them). */
    if (openblas_get_num_threads() != 1) {
        openblas_set_num_threads(1);
        if (blas_thread_shutdown_) blas_thread_shutdown_();
    }
    return CN_OK;
}

const char *cn_ctx_error(const cn_ctx *ctx) { return ctx ? ctx->err : ""; }

int cn_error(cn_ctx *ctx, int code, const char *fmt, ...) {
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *cn_strerror(int code) {
    switch (code) {
    case CN_OK: return "ok";
    case CN_EINVAL: return "invalid argument";
    case CN_ENOMEM: return "out of memory";
    case CN_EIO: return "input/output error";
    case CN_EFORMAT: return "malformed file";
    case CN_ENUM: return "non-finite number";
    case CN_EINTR: return "interrupted";
    default: return "unknown error";
    }
}

void *cn__ws(cn_ctx *ctx, int slot, size_t bytes) {
    if (bytes == 0) bytes = 64;
    if (ctx->ws_size[slot] >= bytes) return ctx->ws[slot];
    free(ctx->ws[slot]);
    ctx->ws[slot] = NULL;
    ctx->ws_size[slot] = 0;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        cn_error(ctx, CN_ENOMEM, "cannot allocate a workspace of %zu bytes", bytes);
        return NULL;
    }
    ctx->ws[slot] = p;
    ctx->ws_size[slot] = rounded;
    return p;
}

const char *cn_ctx_build_info(cn_ctx *ctx) {
    const char *ct = getenv("OPENBLAS_CORETYPE");
    snprintf(ctx->info, sizeof ctx->info,
             "simd=%s (cpu %s) gemm=%s core=%s%s%s threads=%d openmp=%s", cn_ctx_simd(ctx),
             simd_names[cpu_simd()],
             openblas_get_config(), openblas_get_corename(),
             ct ? " OPENBLAS_CORETYPE=" : "", ct ? ct : "", ctx->nthreads,
#ifdef _OPENMP
             "yes"
#else
             "no"
#endif
    );
    return ctx->info;
}

/* ---- xoshiro256** (Blackman & Vigna), seeded with splitmix64 ---- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cn_rng_seed(cn_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cn_rng_u64(cn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cn_rng_uniform(cn_rng *r) { return (double)(cn_rng_u64(r) >> 11) * 0x1.0p-53; }

double cn_rng_normal(cn_rng *r) {
    /* Box-Muller; one value per call so the stream position is simple */
    double u1 = cn_rng_uniform(r), u2 = cn_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t cn_rng_below(cn_rng *r, uint64_t n) {
    /* Lemire's rejection: unbiased */
    uint64_t threshold = -n % n;
    for (;;) {
        uint64_t x = cn_rng_u64(r);
        __uint128_t m = (__uint128_t)x * n;
        if ((uint64_t)m >= threshold) return (uint64_t)(m >> 64);
    }
}

double cn__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
