/* atomic.c — the one way the library replaces a file: a uniquely named
 * temporary file beside the target, written, flushed, fsync'ed, renamed over
 * the target, then the directory fsync'ed. Used by the tensor writer (st.c)
 * and the PNG writer (image.c).
 *
 * Rules (docs/checkpoint.md, "Atomic saves"):
 * - Only a regular file (or nothing) is ever replaced. A device, FIFO,
 *   socket or directory at the path is refused before anything is written,
 *   and checked again just before the rename.
 * - A symlink is written through: the file it points at (after every hop) is
 *   replaced, with the temporary file in that file's directory, and the link
 *   stays a link. A dangling link creates the file it names.
 * - The temporary name is TARGET.tmp.XXXXXX, created with O_EXCL, so two
 *   writers of one path never share a temporary file: the last complete
 *   rename wins and the path always holds one whole file.
 * - Every failure (open, write, flush, fsync, close, rename) removes the
 *   temporary file and leaves the old file as it was; the message names the
 *   path, the step and the errno text: "PATH: cannot STEP [FILE]: ERROR". */
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* Follow symlinks from path to the file a save would replace (which need not
 * exist). Refuses anything there that is not a regular file. */
int cn__atomic_target(cn_ctx *ctx, const char *path, char *out, size_t outlen) {
    if (!path || !*path) return cn_error(ctx, CN_EINVAL, "cannot save: empty path");
    if (strlen(path) >= outlen) return cn_error(ctx, CN_EINVAL, "%.200s...: path too long", path);
    snprintf(out, outlen, "%s", path);
    for (int hops = 0;; hops++) {
        struct stat sb;
        if (lstat(out, &sb) != 0) {
            if (errno == ENOENT) return CN_OK; /* a new file */
            return cn_error(ctx, CN_EIO, "%s: cannot stat %s: %s", path, out, strerror(errno));
        }
        if (!S_ISLNK(sb.st_mode)) {
            if (S_ISREG(sb.st_mode)) return CN_OK;
            if (strcmp(out, path))
                return cn_error(ctx, CN_EIO, "%s: links to %s, which is %s; refusing to replace it", path, out,
                              kind_of(sb.st_mode));
            return cn_error(ctx, CN_EIO, "%s: is %s, not a regular file; refusing to replace it", path,
                          kind_of(sb.st_mode));
        }
        if (hops >= 40) return cn_error(ctx, CN_EIO, "%s: cannot resolve: %s", path, strerror(ELOOP));
        char link[4096];
        ssize_t n = readlink(out, link, sizeof link - 1);
        if (n < 0) return cn_error(ctx, CN_EIO, "%s: cannot read link %s: %s", path, out, strerror(errno));
        link[n] = 0;
        if (link[0] == '/') {
            if ((size_t)n >= outlen) return cn_error(ctx, CN_EINVAL, "%s: link target too long", path);
            memcpy(out, link, (size_t)n + 1);
        } else {
            /* relative to the directory holding the link */
            char *slash = strrchr(out, '/');
            size_t keep = slash ? (size_t)(slash - out) + 1 : 0;
            if (keep + (size_t)n >= outlen) return cn_error(ctx, CN_EINVAL, "%s: link target too long", path);
            memcpy(out + keep, link, (size_t)n + 1);
        }
    }
}

/* Six random name characters: getrandom, else clock and pid mixed (the name
 * only has to be unlikely to collide; O_EXCL makes a collision harmless). */
static void rand_suffix(char *s, unsigned attempt) {
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32 ^ attempt;
        r ^= r >> 29;
        r *= 0xBF58476D1CE4E5B9ull;
        r ^= r >> 32;
    }
    for (int i = 0; i < 6; i++) {
        s[i] = al[r % 62];
        r /= 62;
    }
    s[6] = 0;
}

/* Create the temporary file for target (mode 0666 less the umask, as a plain
 * fopen would give the final file). */
static int make_tmp(cn_ctx *ctx, const char *path, const char *target, char *tmp, size_t tmplen, int *fd) {
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        char suf[8];
        rand_suffix(suf, attempt);
        int n = snprintf(tmp, tmplen, "%s.tmp.%s", target, suf);
        if (n < 0 || (size_t)n >= tmplen) return cn_error(ctx, CN_EINVAL, "%s: path too long", path);
        *fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) return CN_OK;
        if (errno != EEXIST)
            return cn_error(ctx, CN_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    }
    return cn_error(ctx, CN_EIO, "%s: cannot create a temporary file beside %s: %s", path, target, strerror(EEXIST));
}

int cn__atomic_open(cn_ctx *ctx, cn__atomic *a, const char *path) {
    a->f = NULL;
    a->tmp[0] = 0;
    snprintf(a->path, sizeof a->path, "%s", path ? path : "");
    int rc = cn__atomic_target(ctx, path, a->target, sizeof a->target);
    if (rc) return rc;
    int fd;
    if ((rc = make_tmp(ctx, path, a->target, a->tmp, sizeof a->tmp, &fd))) {
        a->tmp[0] = 0;
        return rc;
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        return cn__atomic_fail(ctx, a, "open", e);
    }
    return CN_OK;
}

void cn__atomic_abort(cn__atomic *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
    a->tmp[0] = 0;
}

int cn__atomic_fail(cn_ctx *ctx, cn__atomic *a, const char *what, int err) {
    int rc = cn_error(ctx, CN_EIO, "%s: cannot %s %s: %s", a->path, what, a->tmp[0] ? a->tmp : a->target,
                    strerror(err ? err : EIO));
    cn__atomic_abort(a);
    return rc;
}

/* fsync the directory holding file (the rename is durable only after it);
 * file systems that cannot sync a directory say EINVAL, ENOTSUP or EROFS,
 * which is not an error. */
static int fsync_dir(cn_ctx *ctx, const char *path, const char *file) {
    char dir[4096];
    const char *slash = strrchr(file, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else {
        size_t n = slash == file ? 1 : (size_t)(slash - file);
        memcpy(dir, file, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cn_error(ctx, CN_EIO, "%s: saved, but cannot open directory %s to fsync it: %s", path, dir,
                      strerror(errno));
    int r = fsync(fd), e = errno;
    close(fd);
    if (r != 0 && e != EINVAL && e != ENOTSUP && e != EROFS)
        return cn_error(ctx, CN_EIO, "%s: saved, but cannot fsync directory %s: %s", path, dir, strerror(e));
    return CN_OK;
}

int cn__atomic_commit(cn_ctx *ctx, cn__atomic *a) {
    if (!a->f) return cn__atomic_fail(ctx, a, "write", EBADF);
    if (fflush(a->f) != 0) return cn__atomic_fail(ctx, a, "write", errno);
    if (ferror(a->f)) return cn__atomic_fail(ctx, a, "write", EIO);
    if (fsync(fileno(a->f)) != 0) return cn__atomic_fail(ctx, a, "fsync", errno);
    FILE *g = a->f;
    a->f = NULL;
    if (fclose(g) != 0) return cn__atomic_fail(ctx, a, "close", errno);
    /* again just before the rename: something may have appeared meanwhile */
    struct stat sb;
    if (lstat(a->target, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)) {
        int rc = cn_error(ctx, CN_EIO, "%s: %s is now %s, not a regular file; refusing to replace it", a->path,
                        a->target, kind_of(sb.st_mode));
        cn__atomic_abort(a);
        return rc;
    }
    if (rename(a->tmp, a->target) != 0) {
        int e = errno;
        int rc = cn_error(ctx, CN_EIO, "%s: cannot rename %s to %s: %s", a->path, a->tmp, a->target, strerror(e));
        cn__atomic_abort(a);
        return rc;
    }
    a->tmp[0] = 0;
    return fsync_dir(ctx, a->path, a->target);
}

int cn_save_path_check(cn_ctx *ctx, const char *path) {
    char target[4096], tmp[4096 + 16];
    int rc = cn__atomic_target(ctx, path, target, sizeof target);
    if (rc) return rc;
    int fd;
    if ((rc = make_tmp(ctx, path, target, tmp, sizeof tmp, &fd))) return rc;
    close(fd);
    unlink(tmp);
    return CN_OK;
}

int cn_file_write(cn_ctx *ctx, const char *path, const void *buf, size_t len) {
    cn__atomic a;
    int rc = cn__atomic_open(ctx, &a, path);
    if (rc) return rc;
    if (len && fwrite(buf, 1, len, a.f) != len) return cn__atomic_fail(ctx, &a, "write", errno ? errno : EIO);
    return cn__atomic_commit(ctx, &a);
}
