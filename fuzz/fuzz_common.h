/* fuzz_common.h — shared helpers of the libFuzzer targets in fuzz/.
 *
 * Every target feeds outside bytes to one public reader of libconvnet. The
 * readers take paths, so each input is written to a file in /dev/shm (tmpfs:
 * no disk traffic) named after the target and the process id, so parallel
 * fuzzers (-jobs) do not collide. Nothing here may hide a library bug: a
 * reader that fails must fail with a CN_E* code and a message, and a reader
 * that succeeds must hand back something consistent, which the targets check
 * with abort() (libFuzzer reports it as a crash). */
#ifndef CN_FUZZ_COMMON_H
#define CN_FUZZ_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw flags */
#endif
#include "convnet.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Big declared sizes must become CN_ENOMEM, not an allocation that eats the
 * machine: allocations over 256 MB return NULL (the readers handle that). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1:max_allocation_size_mb=256:detect_leaks=1";
}

static inline cn_ctx *fz_ctx(void) {
    static cn_ctx *ctx;
    if (!ctx) ctx = cn_ctx_new(1);
    if (!ctx) abort();
    return ctx;
}

static char fz_scratch[256];

static int fz_rm(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}

/* A scratch directory of this process: /dev/shm/cnfuzz-<tag>-<pid> (or
 * /tmp). libFuzzer ends without running atexit handlers, so each process
 * instead removes the directories of its tag's earlier, finished processes. */
static inline const char *fz_dir(const char *tag) {
    if (!fz_scratch[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        char prefix[64];
        int pl = snprintf(prefix, sizeof prefix, "cnfuzz-%s-", tag);
        DIR *d = opendir(base);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, prefix, (size_t)pl)) continue;
            int pid = atoi(e->d_name + pl);
            if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
                char old[512];
                snprintf(old, sizeof old, "%s/%s", base, e->d_name);
                nftw(old, fz_rm, 8, FTW_DEPTH | FTW_PHYS);
            }
        }
        if (d) closedir(d);
        snprintf(fz_scratch, sizeof fz_scratch, "%s/%s%d", base, prefix, (int)getpid());
        if (mkdir(fz_scratch, 0700) != 0 && access(fz_scratch, W_OK) != 0) abort();
    }
    return fz_scratch;
}

static inline void fz_path(char *buf, size_t cap, const char *tag, const char *name) {
    snprintf(buf, cap, "%s/%s", fz_dir(tag), name);
}

/* Write exactly n bytes (aborts on a failure of the harness itself). */
static inline void fz_write(const char *path, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    const char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0) abort();
        b += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* Every failure must carry a known code and a non-empty message. */
static inline void fz_check_error(int rc) {
    cn_ctx *ctx = fz_ctx();
    if (rc == CN_OK) return;
    if (rc != CN_EINVAL && rc != CN_ENOMEM && rc != CN_EIO && rc != CN_EFORMAT && rc != CN_ENUM &&
        rc != CN_EINTR) {
        fprintf(stderr, "unknown status %d: %s\n", rc, cn_ctx_error(ctx));
        abort();
    }
    if (!cn_ctx_error(ctx)[0]) {
        fprintf(stderr, "status %d without a message\n", rc);
        abort();
    }
}

/* Checkpoints carry a CRC-32 that random mutations never match; to reach the
 * code behind the check, write the file, and when the loader reports
 * "checksum mismatch ... computed XXXXXXXX", patch the 8 hex digits after
 * "convnet.crc32":" in the bytes and write again. Returns the bytes written
 * (a malloc'd copy the caller frees). */
static inline uint8_t *fz_write_fixed_crc(const char *path, const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    fz_write(path, buf, size);
    cn_st *st = NULL;
    int rc = cn_st_load(fz_ctx(), path, &st);
    cn_st_free(st);
    if (rc != CN_EFORMAT) return buf;
    const char *msg = cn_ctx_error(fz_ctx());
    const char *c = strstr(msg, "checksum mismatch");
    if (!c || !(c = strstr(c, "computed "))) return buf;
    c += 9;
    if (strlen(c) < 9) return buf;
    static const char key[] = "\"convnet.crc32\":\"";
    size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl + 9 <= size; i++) {
        if (memcmp(buf + i, key, kl) == 0 && buf[i + kl + 8] == '"') {
            memcpy(buf + i + kl, c, 8);
            fz_write(path, buf, size);
            break;
        }
    }
    return buf;
}
#endif
