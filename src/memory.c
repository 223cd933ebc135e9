/* memory.c — how much memory this process may still take: MemAvailable, or
 * the cgroup's limit less its usage when that is lower (containers, systemd
 * slices and batch schedulers set one; MemAvailable does not see it). */
#include "internal.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

/* A number from a one-line file ("max" or a huge v1 value: no limit). */
static int read_u64(const char *path, uint64_t *v) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[64];
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok || !strncmp(buf, "max", 3)) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (errno || end == buf || x >= ((uint64_t)1 << 60)) return 0;
    *v = x;
    return 1;
}

/* limit - usage of one cgroup directory (v2 or v1 file names) when it has a
 * limit; the lowest so far is kept in *best. */
static void cgroup_dir(const char *dir, int v1, uint64_t *best, char *src, size_t len) {
    char lim_p[CN_PATH_MAX], use_p[CN_PATH_MAX];
    snprintf(lim_p, sizeof lim_p, "%s/%s", dir, v1 ? "memory.limit_in_bytes" : "memory.max");
    snprintf(use_p, sizeof use_p, "%s/%s", dir, v1 ? "memory.usage_in_bytes" : "memory.current");
    uint64_t lim, use = 0;
    if (!read_u64(lim_p, &lim)) return;
    read_u64(use_p, &use);
    uint64_t left = lim > use ? lim - use : 0;
    if (left < *best) {
        *best = left;
        if (src) snprintf(src, len, "the cgroup limit %s (%" PRIu64 " bytes) less its usage (%" PRIu64 ")", lim_p, lim, use);
    }
}

/* This process's cgroup and each parent up to the mount point. */
static void cgroups(uint64_t *best, char *src, size_t len) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[CN_PATH_MAX];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        /* v2: "0::/path"; v1: "N:memory:/path" (or "N:cpu,memory:/path") */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        int v1;
        if (c2 == c1 + 1) v1 = 0;
        else {
            *c2 = 0;
            char *ctl = c1 + 1;
            v1 = 0;
            char *save = NULL;
            for (char *t = strtok_r(ctl, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (!strcmp(t, "memory")) v1 = 1;
            if (!v1) continue;
        }
        const char *root = v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup";
        char *rel = c2 + 1, dir[CN_PATH_MAX];
        for (;;) { /* the cgroup, then each parent, then the mount point */
            snprintf(dir, sizeof dir, "%s%s", root, strcmp(rel, "/") ? rel : "");
            cgroup_dir(dir, v1, best, src, len);
            char *slash = strrchr(rel, '/');
            if (!slash || !strcmp(rel, "/")) break;
            if (slash == rel) slash[1] = 0; /* "/a" -> "/" */
            else *slash = 0;
        }
    }
    if (f) fclose(f);
    /* outside a namespace-aware /proc: the top-level files, as the brief
     * places them */
    cgroup_dir("/sys/fs/cgroup", 0, best, src, len);
    cgroup_dir("/sys/fs/cgroup/memory", 1, best, src, len);
}

int cn_memory_available(cn_ctx *ctx, uint64_t *bytes, char *source, size_t len) {
    uint64_t best = UINT64_MAX;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                best = (uint64_t)kb * 1024;
                if (source) snprintf(source, len, "MemAvailable in /proc/meminfo");
                break;
            }
        fclose(f);
    }
    cgroups(&best, source, len);
    if (best == UINT64_MAX)
        return cn_error(ctx, CN_EIO, "cannot tell the memory available: no MemAvailable in /proc/meminfo, no cgroup limit");
    *bytes = best;
    return CN_OK;
}
