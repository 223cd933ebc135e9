/* faults.h — fault injection for the test build (`make test-faults`, built
 * with -DCN_FAULTS; a normal build never sees any of this).
 *
 * Every allocation, file open, read, write, flush, fsync and rename the
 * library's own sources (the files directly in src/) make goes through a wrapper that counts
 * the calls of its kind and fails the CN_FAULT_AT-th one of the kind in
 * CN_FAULT_KIND (alloc | write | fsync | rename | read) as the real call
 * would fail: NULL or -1 with errno ENOMEM, ENOSPC, EIO. One failure per
 * process (the calls after it succeed), or every call from the N-th on with
 * CN_FAULT_PERSIST=1. With CN_FAULT_LOG=FILE the process appends, at exit,
 * one line per call site reached ("SITE kind file:line calls") and one per
 * injected failure ("FAULT kind file:line n"), and the total calls per kind
 * ("COUNT kind n"), so a driver knows when N has passed the last call.
 *
 * Included at the end of internal.h, after every header that declares a
 * wrapped function (their prototypes must not be macro-expanded). */
#ifndef CN_FAULTS_H
#define CN_FAULTS_H
#ifdef CN_FAULTS
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

void *cn__f_malloc(size_t n, const char *file, int line);
void *cn__f_calloc(size_t a, size_t b, const char *file, int line);
void *cn__f_realloc(void *p, size_t n, const char *file, int line);
void *cn__f_aligned_alloc(size_t al, size_t n, const char *file, int line);
char *cn__f_strdup(const char *s, const char *file, int line);
char *cn__f_strndup(const char *s, size_t n, const char *file, int line);
FILE *cn__f_fopen(const char *path, const char *mode, const char *file, int line);
FILE *cn__f_fdopen(int fd, const char *mode, const char *file, int line);
int cn__f_open(const char *file, int line, const char *path, int flags, ...);
size_t cn__f_fread(void *p, size_t s, size_t n, FILE *f, const char *file, int line);
size_t cn__f_fwrite(const void *p, size_t s, size_t n, FILE *f, const char *file, int line);
int cn__f_fflush(FILE *f, const char *file, int line);
int cn__f_fsync(int fd, const char *file, int line);
int cn__f_rename(const char *a, const char *b, const char *file, int line);
gzFile cn__f_gzopen(const char *path, const char *mode, const char *file, int line);
int cn__f_gzread(gzFile g, void *buf, unsigned n, const char *file, int line);

#define malloc(n) cn__f_malloc((n), __FILE__, __LINE__)
#define calloc(a, b) cn__f_calloc((a), (b), __FILE__, __LINE__)
#define realloc(p, n) cn__f_realloc((p), (n), __FILE__, __LINE__)
#define aligned_alloc(a, n) cn__f_aligned_alloc((a), (n), __FILE__, __LINE__)
#define strdup(s) cn__f_strdup((s), __FILE__, __LINE__)
#define strndup(s, n) cn__f_strndup((s), (n), __FILE__, __LINE__)
#define fopen(p, m) cn__f_fopen((p), (m), __FILE__, __LINE__)
#define fdopen(fd, m) cn__f_fdopen((fd), (m), __FILE__, __LINE__)
#define open(...) cn__f_open(__FILE__, __LINE__, __VA_ARGS__)
#define fread(p, s, n, f) cn__f_fread((p), (s), (n), (f), __FILE__, __LINE__)
#define fwrite(p, s, n, f) cn__f_fwrite((p), (s), (n), (f), __FILE__, __LINE__)
#define fflush(f) cn__f_fflush((f), __FILE__, __LINE__)
#define fsync(fd) cn__f_fsync((fd), __FILE__, __LINE__)
#define rename(a, b) cn__f_rename((a), (b), __FILE__, __LINE__)
#define gzopen(p, m) cn__f_gzopen((p), (m), __FILE__, __LINE__)
#define gzread(g, b, n) cn__f_gzread((g), (b), (n), __FILE__, __LINE__)
#endif
#endif
