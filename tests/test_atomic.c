/* test_atomic.c — the shared atomic writer (src/atomic.c) through its two
 * users, cn_st_save and cn_image_write_png:
 *   - a FIFO, a socket, a directory, a character device (made with mknod in
 *     a temporary directory when root: the real /dev/full is never touched)
 *     at PATH are refused with a message naming PATH and what is there, and
 *     stay what they were; cn_save_path_check says the same up front;
 *   - a symlink is written through: the file it points at is replaced, the
 *     link stays a link, no temporary file is left in either directory; a
 *     dangling link creates the file it names; a link to a FIFO is refused;
 *   - two processes saving to one path 40 times each, at once: the file
 *     always loads and holds one writer's tensor whole (unique temporary
 *     names), and no temporary file is left;
 *   - disk full for real: a 1500 KiB tmpfs (root only; otherwise SKIP,
 *     counted neither pass nor fail) filled up, a save over an existing
 *     checkpoint fails with a message naming the path and ENOSPC's text, the
 *     old file is byte for byte intact and loads, no temporary file is left. */
#define _GNU_SOURCE
#include "fixtures.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
/* the context's message after a failure, nothing after a success */
#define ERRNOTE(rc) ((rc) ? cn_ctx_error(ctx) : "")
static cn_ctx *ctx;

static void pathof(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }



/* Save one tensor "x" of n floats all equal to v. */
static int save_const(const char *path, size_t n, float v) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = v;
    cn_tensor t = {"x", CN_F32, 0, 1, {(int64_t)n}, x};
    cn_meta m = {"what", "test"};
    int rc = cn_st_save(ctx, path, &t, 1, &m, 1);
    free(x);
    return rc;
}

/* The file at path loads, has n floats all equal to one value (returned in *v). */
static int loads_const(const char *path, size_t n, float *v) {
    cn_st *st = NULL;
    if (cn_st_load(ctx, path, &st)) return 0;
    const cn_tensor *t = cn_st_tensor_get(st, "x");
    int ok = t && t->ndim == 1 && (size_t)t->shape[0] == n;
    for (size_t i = 0; ok && i < n; i++) ok = ((const float *)t->data)[i] == ((const float *)t->data)[0];
    if (ok && v) *v = ((const float *)t->data)[0];
    cn_st_free(st);
    return ok;
}

static int has(const char *s) { return strstr(cn_ctx_error(ctx), s) != NULL; }

static void refused(const char *what, const char *path, mode_t kind, const char *word) {
    char label[200];
    int rc = save_const(path, 4, 1.0f);
    struct stat sb;
    int same = lstat(path, &sb) == 0 && (sb.st_mode & S_IFMT) == kind;
    snprintf(label, sizeof label, "st save over %s: refused naming the path, still %s", what, what);
    check_true(label, rc == CN_EIO && has(path) && has(word) && same && count_tmp_files(path, NULL, 0) == 0,
               cn_ctx_error(ctx));
    uint8_t pix[12] = {0};
    rc = cn_image_write_png(ctx, path, pix, 2, 2, 3);
    same = lstat(path, &sb) == 0 && (sb.st_mode & S_IFMT) == kind;
    snprintf(label, sizeof label, "png save over %s: refused the same way", what);
    check_true(label, rc == CN_EIO && has(path) && has(word) && same && count_tmp_files(path, NULL, 0) == 0,
               cn_ctx_error(ctx));
    rc = cn_save_path_check(ctx, path);
    snprintf(label, sizeof label, "cn_save_path_check(%s) refuses it up front", what);
    check_true(label, rc == CN_EIO && has(word), cn_ctx_error(ctx));
}

static void test_not_regular(void) {
    char p[128];
    pathof(p, sizeof p, "fifo");
    if (mkfifo(p, 0600) == 0) refused("a FIFO", p, S_IFIFO, "a FIFO");
    else check_true("mkfifo", 0, strerror(errno));

    pathof(p, sizeof p, "sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(p) < sizeof sa.sun_path) memcpy(sa.sun_path, p, strlen(p) + 1);
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0) refused("a socket", p, S_IFSOCK, "a socket");
    else check_true("bind a unix socket", 0, strerror(errno));
    if (s >= 0) close(s);

    pathof(p, sizeof p, "adir");
    mkdir(p, 0700);
    refused("a directory", p, S_IFDIR, "a directory");

    /* the device the issue found replaced: /dev/full's numbers (1,7), made
     * here so a failing test cannot harm the real one */
    pathof(p, sizeof p, "full");
    if (mknod(p, S_IFCHR | 0600, makedev(1, 7)) == 0) refused("a character device", p, S_IFCHR, "character device");
    else printf("SKIP character device at PATH: mknod: %s (needs root)\n", strerror(errno));

    pathof(p, sizeof p, "no/such/dir/x.st");
    int rc = cn_save_path_check(ctx, p);
    check_true("cn_save_path_check: missing directory -> CN_EIO naming the path and ENOENT",
               rc == CN_EIO && has(p) && has(strerror(ENOENT)), cn_ctx_error(ctx));
    pathof(p, sizeof p, "fine.st");
    rc = cn_save_path_check(ctx, p);
    struct stat sb;
    check_true("cn_save_path_check: a new file in an existing directory is fine and leaves nothing",
               rc == CN_OK && stat(p, &sb) != 0 && count_tmp_files(p, NULL, 0) == 0, ERRNOTE(rc));
}

static void test_symlinks(void) {
    char sub[128], target[160], link[128], rel[128], dangling[128], dtarget[160], lfifo[128], fifo[128];
    pathof(sub, sizeof sub, "real");
    mkdir(sub, 0700);
    snprintf(target, sizeof target, "%s/ck.st", sub);
    pathof(link, sizeof link, "link.st");
    save_const(target, 8, 1.0f);
    symlink(target, link);
    int rc = save_const(link, 8, 2.0f);
    struct stat sb;
    float v = 0;
    int islink = lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode);
    check_true("symlink: saved through, the link stays a link, the target holds the new data",
               rc == CN_OK && islink && loads_const(target, 8, &v) && v == 2.0f, ERRNOTE(rc));
    check_true("symlink: no temporary file beside the link or the target",
               count_tmp_files(link, NULL, 0) == 0 && count_tmp_files(target, NULL, 0) == 0, "");

    /* a relative link, through a second link */
    pathof(rel, sizeof rel, "rel.st");
    symlink("link.st", rel);
    rc = save_const(rel, 8, 3.0f);
    check_true("relative symlink to a symlink: the final file is replaced",
               rc == CN_OK && loads_const(target, 8, &v) && v == 3.0f && lstat(rel, &sb) == 0 && S_ISLNK(sb.st_mode),
               ERRNOTE(rc));

    pathof(dangling, sizeof dangling, "dangling.st");
    snprintf(dtarget, sizeof dtarget, "%s/new.st", sub);
    symlink(dtarget, dangling);
    rc = save_const(dangling, 8, 4.0f);
    check_true("dangling symlink: creates the file it names",
               rc == CN_OK && loads_const(dtarget, 8, &v) && v == 4.0f && lstat(dangling, &sb) == 0 &&
                   S_ISLNK(sb.st_mode),
               ERRNOTE(rc));

    pathof(fifo, sizeof fifo, "real/fifo");
    mkfifo(fifo, 0600);
    pathof(lfifo, sizeof lfifo, "lfifo");
    symlink(fifo, lfifo);
    rc = save_const(lfifo, 8, 5.0f);
    check_true("symlink to a FIFO: refused naming both", rc == CN_EIO && has(lfifo) && has(fifo) &&
               lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), cn_ctx_error(ctx));
}

/* Two writers at once: with one shared PATH.tmp they would write into the
 * same file and rename half of one over the other. */
static void test_two_writers(void) {
    char p[128];
    pathof(p, sizeof p, "shared.st");
    const size_t n = 200000; /* 800 KB: writes take long enough to overlap */
    pid_t pid[2];
    for (int w = 0; w < 2; w++) {
        pid[w] = fork();
        if (pid[w] == 0) {
            cn_ctx *c = cn_ctx_new(1);
            ctx = c;
            int bad = 0;
            for (int i = 0; i < 40; i++) bad |= save_const(p, n, (float)(w + 1)) != CN_OK;
            cn_ctx_free(c);
            _exit(bad);
        }
    }
    int ok = 1, loads = 0, checks = 0;
    /* meanwhile the path must always load whole (once it exists) */
    for (;;) {
        int st, done = 0;
        for (int w = 0; w < 2; w++)
            if (pid[w] > 0 && waitpid(pid[w], &st, WNOHANG) == pid[w]) {
                ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
                pid[w] = 0;
            }
        done = pid[0] == 0 && pid[1] == 0;
        struct stat sb;
        if (stat(p, &sb) == 0) {
            float v = 0;
            checks++;
            if (loads_const(p, n, &v) && (v == 1.0f || v == 2.0f)) loads++;
        }
        if (done) break;
    }
    float v = 0;
    check_true("two writers, 40 saves each: both succeed", ok, "");
    char note[64];
    snprintf(note, sizeof note, "%d of %d reads whole", loads, checks);
    check_true("two writers: every read meanwhile finds one writer's file whole", checks > 0 && loads == checks, note);
    check_true("two writers: the final file loads whole, no temporary file left",
               loads_const(p, n, &v) && (v == 1.0f || v == 2.0f) && count_tmp_files(p, NULL, 0) == 0, "");
}

/* Disk full for real, on a small tmpfs. */
static void test_disk_full(void) {
    char mnt[128], ck[160], filler[160], tmpname[4200] = "";
    pathof(mnt, sizeof mnt, "tmpfs");
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=1500k") != 0) {
        printf("SKIP disk full on a 1500k tmpfs: %s\n", geteuid() ? "not root" : strerror(errno));
        rmdir(mnt);
        return;
    }
    snprintf(ck, sizeof ck, "%s/ck.st", mnt);
    const size_t n = 100000; /* 400 KB of data */
    int rc = save_const(ck, n, 7.0f);
    check_true("tmpfs: the first checkpoint fits", rc == CN_OK, ERRNOTE(rc));
    size_t n0 = 0, n1 = 0;
    unsigned char *before = fx_read_file(ck, &n0);
    /* fill what is left, then free about 100 KB: the new file's create
     * succeeds and its write fails midway */
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    size_t total = 0;
    ssize_t w;
    while (fd >= 0 && (w = write(fd, buf, sizeof buf)) > 0) total += (size_t)w;
    if (fd >= 0 && ftruncate(fd, total > 100 * 1024 ? (off_t)(total - 100 * 1024) : 0) != 0) perror("ftruncate");
    if (fd >= 0) close(fd);
    rc = save_const(ck, n, 8.0f);
    check_true("disk full: the save fails with CN_EIO naming the path and ENOSPC's text",
               rc == CN_EIO && has(ck) && has(strerror(ENOSPC)), cn_ctx_error(ctx));
    unsigned char *after = fx_read_file(ck, &n1);
    float v = 0;
    check_true("disk full: the old checkpoint is byte for byte intact and loads",
               before && after && n0 == n1 && !memcmp(before, after, n0) && loads_const(ck, n, &v) && v == 7.0f, "");
    check_true("disk full: no temporary file left", count_tmp_files(ck, tmpname, sizeof tmpname) == 0, tmpname);
    /* and with room again the same save works */
    remove(filler);
    rc = save_const(ck, n, 9.0f);
    check_true("room again: the save works and loads", rc == CN_OK && loads_const(ck, n, &v) && v == 9.0f,
               ERRNOTE(rc));
    free(before);
    free(after);
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
}

int main(void) {
    if (fx_mkdtemp(dir, sizeof dir, "cn_atomic")) return 2;
    ctx = cn_ctx_new(1);
    test_not_regular();
    test_symlinks();
    test_two_writers();
    test_disk_full();
    cn_ctx_free(ctx);
    fx_rm_tree(dir);
    return check_done();
}
