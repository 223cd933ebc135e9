/* faults.c — the fault-injection wrappers of the test build (faults.h says
 * what they do). Compiled to nothing without -DCN_FAULTS. The counters are
 * process-wide on purpose (a test build's instrument, not library state): a
 * driver sets CN_FAULT_KIND / CN_FAULT_AT per process. */
#ifdef CN_FAULTS
#include "internal.h"
/* the real functions below, not the wrappers */
#undef malloc
#undef calloc
#undef realloc
#undef aligned_alloc
#undef strdup
#undef strndup
#undef fopen
#undef fdopen
#undef open
#undef fread
#undef fwrite
#undef fflush
#undef fsync
#undef rename
#undef gzopen
#undef gzread
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>

enum { K_ALLOC, K_WRITE, K_FSYNC, K_RENAME, K_READ, K_N };
static const char *const kind_names[K_N] = {"alloc", "write", "fsync", "rename", "read"};
static const int kind_errno[K_N] = {ENOMEM, ENOSPC, EIO, EIO, EIO};

#define MAX_SITES 1024
static struct { const char *file; int line, kind; long calls; } sites[MAX_SITES];
static int nsites;
static long counts[K_N];
static int armed = -1;       /* the kind to fail, -1 none; read from the environment once */
static long fail_at, persist;
static int fired;
static char fired_site[300];
static const char *log_path;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void dump(void) {
    if (!log_path) return;
    FILE *f = fopen(log_path, "a");
    if (!f) return;
    for (int k = 0; k < K_N; k++) fprintf(f, "COUNT %s %ld\n", kind_names[k], counts[k]);
    for (int i = 0; i < nsites; i++)
        fprintf(f, "SITE %s %s:%d %ld\n", kind_names[sites[i].kind], sites[i].file, sites[i].line, sites[i].calls);
    if (fired) fprintf(f, "FAULT %s\n", fired_site);
    fclose(f);
}

__attribute__((constructor)) static void setup(void) {
    const char *k = getenv("CN_FAULT_KIND"), *at = getenv("CN_FAULT_AT"), *p = getenv("CN_FAULT_PERSIST");
    log_path = getenv("CN_FAULT_LOG");
    for (int i = 0; k && i < K_N; i++) if (!strcmp(k, kind_names[i])) armed = i;
    fail_at = at ? atol(at) : 0;
    if (fail_at <= 0) armed = -1;
    persist = p && *p == '1';
    atexit(dump);
}

/* Count this call; 1 when it must fail (errno set). */
static int hit(int kind, const char *file, int line) {
    pthread_mutex_lock(&mu);
    long n = ++counts[kind];
    int i;
    for (i = 0; i < nsites; i++)
        if (sites[i].line == line && sites[i].kind == kind && !strcmp(sites[i].file, file)) break;
    if (i == nsites && nsites < MAX_SITES) sites[nsites++] = (typeof(sites[0])){file, line, kind, 0};
    if (i < MAX_SITES) sites[i].calls++;
    int fail = kind == armed && (n == fail_at || (persist && n > fail_at));
    if (fail && !fired) {
        fired = 1;
        snprintf(fired_site, sizeof fired_site, "%s %s:%d %ld", kind_names[kind], file, line, n);
    }
    pthread_mutex_unlock(&mu);
    if (fail) errno = kind_errno[kind];
    return fail;
}

void *cn__f_malloc(size_t n, const char *file, int line) {
    return hit(K_ALLOC, file, line) ? NULL : malloc(n);
}
void *cn__f_calloc(size_t a, size_t b, const char *file, int line) {
    return hit(K_ALLOC, file, line) ? NULL : calloc(a, b);
}
void *cn__f_realloc(void *p, size_t n, const char *file, int line) {
    return hit(K_ALLOC, file, line) ? NULL : realloc(p, n);
}
void *cn__f_aligned_alloc(size_t al, size_t n, const char *file, int line) {
    return hit(K_ALLOC, file, line) ? NULL : aligned_alloc(al, n);
}
char *cn__f_strdup(const char *s, const char *file, int line) {
    return hit(K_ALLOC, file, line) ? NULL : strdup(s);
}
char *cn__f_strndup(const char *s, size_t n, const char *file, int line) {
    return hit(K_ALLOC, file, line) ? NULL : strndup(s, n);
}
FILE *cn__f_fopen(const char *path, const char *mode, const char *file, int line) {
    int w = strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+');
    return hit(w ? K_WRITE : K_READ, file, line) ? NULL : fopen(path, mode);
}
FILE *cn__f_fdopen(int fd, const char *mode, const char *file, int line) {
    return hit(K_WRITE, file, line) ? NULL : fdopen(fd, mode);
}
int cn__f_open(const char *file, int line, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int w = (flags & (O_WRONLY | O_RDWR | O_CREAT)) != 0;
    return hit(w ? K_WRITE : K_READ, file, line) ? -1 : open(path, flags, mode);
}
size_t cn__f_fread(void *p, size_t s, size_t n, FILE *f, const char *file, int line) {
    return hit(K_READ, file, line) ? 0 : fread(p, s, n, f);
}
size_t cn__f_fwrite(const void *p, size_t s, size_t n, FILE *f, const char *file, int line) {
    return hit(K_WRITE, file, line) ? 0 : fwrite(p, s, n, f);
}
int cn__f_fflush(FILE *f, const char *file, int line) {
    return hit(K_WRITE, file, line) ? EOF : fflush(f);
}
int cn__f_fsync(int fd, const char *file, int line) {
    return hit(K_FSYNC, file, line) ? -1 : fsync(fd);
}
int cn__f_rename(const char *a, const char *b, const char *file, int line) {
    return hit(K_RENAME, file, line) ? -1 : rename(a, b);
}
gzFile cn__f_gzopen(const char *path, const char *mode, const char *file, int line) {
    return hit(K_READ, file, line) ? NULL : gzopen(path, mode);
}
int cn__f_gzread(gzFile g, void *buf, unsigned n, const char *file, int line) {
    return hit(K_READ, file, line) ? -1 : gzread(g, buf, n);
}
#else
/* ISO C wants something in a translation unit */
typedef int cn__faults_unused;
#endif
