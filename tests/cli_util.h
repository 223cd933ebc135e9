/* cli_util.h — running the convnet CLI from a test: locate the binary next
 * to the test's build directory, write a small synthetic MNIST-format data
 * set, run a command with stdout and stderr in one pipe, act when a line
 * appears, and collect the exit status and peak memory. */
#ifndef CN_CLI_UTIL_H
#define CN_CLI_UTIL_H
#define _GNU_SOURCE
#include "check.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* build/tests/test_x -> build/convnet */
static inline int cli_find_convnet(const char *argv0, char *out, size_t cap) {
    snprintf(out, cap, "%s", argv0);
    char *slash = strrchr(out, '/');
    if (slash) *slash = 0; else snprintf(out, cap, "build/tests");
    slash = strrchr(out, '/');
    if (slash) snprintf(slash, cap - (size_t)(slash - out), "/convnet");
    else snprintf(out, cap, "convnet");
    return access(out, X_OK) == 0;
}

static inline void cli_write_idx(const char *path, int ndim, const int *dims, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    unsigned char h[4 + 16] = {0, 0, 8, (unsigned char)ndim};
    for (int i = 0; i < ndim; i++) {
        h[4 + 4 * i] = (unsigned char)(dims[i] >> 24); h[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        h[6 + 4 * i] = (unsigned char)(dims[i] >> 8); h[7 + 4 * i] = (unsigned char)dims[i];
    }
    if (!f || fwrite(h, 1, 4 + 4 * (size_t)ndim, f) != 4 + 4 * (size_t)ndim || fwrite(data, 1, n, f) != n ||
        fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* n images of s x s with a class-dependent stripe pattern (learnable), as
 * train-images/labels IDX files in dir/mnist; "--data" value into out. Use
 * --num-test 0 with it (there is no test split). */
static inline void cli_synthetic_mnist(const char *dir, int n, int s, char *out, size_t cap) {
    char d[512], p[600];
    snprintf(d, sizeof d, "%s/mnist", dir);
    mkdir(d, 0700);
    unsigned char *img = xmalloc((size_t)n * s * s), *lab = xmalloc((size_t)n);
    cn_rng r;
    cn_rng_seed(&r, 4);
    for (int i = 0; i < n; i++) {
        int k = (int)cn_rng_below(&r, 10);
        lab[i] = (unsigned char)k;
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                int on = ((x + y * k) % 10) < 3;
                img[(size_t)i * s * s + y * s + x] = (unsigned char)(on ? 180 + cn_rng_below(&r, 60) : cn_rng_below(&r, 60));
            }
    }
    int di[3] = {n, s, s}, dl[1] = {n};
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", d);
    cli_write_idx(p, 3, di, img, (size_t)n * s * s);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", d);
    cli_write_idx(p, 1, dl, lab, (size_t)n);
    free(img);
    free(lab);
    snprintf(out, cap, "mnist:%s", d);
}

typedef struct {
    int status;         /* raw wait status */
    int timed_out;      /* killed (SIGKILL) at the time limit */
    double secs;        /* wall time */
    long maxrss_kb;     /* the child's peak resident memory */
    int fired;          /* the trigger ran (cli_run) */
    char out[16384];    /* stdout (and stderr unless err_path), truncated */
    char err[4096];     /* stderr when err_path, truncated */
} cli_result;

/* What cli_spawn does besides collecting the output: a watcher is called
 * right after the fork (start), with each whole output line as it comes
 * (line), and after each round of reading with the output so far (tick);
 * any may be NULL. A round waits up to poll_ms (0: none) for output; the
 * callbacks may change it. */
typedef struct cli_watch cli_watch;
struct cli_watch {
    void (*start)(cli_watch *w, pid_t pid);
    void (*line)(cli_watch *w, pid_t pid, const char *line);
    void (*tick)(cli_watch *w, pid_t pid, const char *out);
    int poll_ms;
    void *user;
};

typedef struct {
    const char *err_path; /* NULL: stderr into the pipe with stdout; else stderr to this file, read back into err */
    int own_group;        /* the child leads a process group: the time limit and the end kill all of it */
    double limit_s;       /* a child running past it is killed with SIGKILL (timed_out) */
} cli_spawn_opts;

/* Run argv (NULL-terminated; argv[0] the binary, or a name looked up in
 * PATH) with stdout (and stderr, unless opts->err_path) into one pipe. */
static inline void cli_spawn(const char *const *argv, const cli_spawn_opts *opts, cli_watch *w, cli_result *res) {
    memset(res, 0, sizeof *res);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); exit(2); }
    double t0 = cli_now();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        if (opts->own_group) setpgid(0, 0); /* a group of its own: a timeout kills everything it started */
        dup2(fds[1], 1);
        if (!opts->err_path) dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (opts->err_path) {
            int e = open(opts->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (e >= 0) { dup2(e, 2); close(e); }
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (opts->own_group) setpgid(pid, pid);
    pid_t victim = opts->own_group ? -pid : pid;
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    if (w && w->start) w->start(w, pid);
    size_t used = 0, ll = 0;
    char line[1024];
    int eof = 0;
    while (!eof) {
        struct pollfd pf = {fds[0], POLLIN, 0};
        poll(&pf, 1, w ? w->poll_ms : 50);
        char buf[1024];
        ssize_t got;
        while ((got = read(fds[0], buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < got; i++) {
                if (used + 1 < sizeof res->out) res->out[used++] = buf[i];
                if (buf[i] != '\n') {
                    if (ll + 1 < sizeof line) line[ll++] = buf[i];
                    continue;
                }
                line[ll] = 0;
                ll = 0;
                if (w && w->line) w->line(w, pid, line);
            }
        }
        if (got == 0) eof = 1;
        if (w && w->tick) w->tick(w, pid, res->out);
        if (cli_now() - t0 > opts->limit_s) {
            kill(victim, SIGKILL);
            res->timed_out = 1;
            break;
        }
    }
    close(fds[0]);
    res->out[used] = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &res->status, 0, &ru) < 0 && errno == EINTR) {}
    res->secs = cli_now() - t0;
    res->maxrss_kb = ru.ru_maxrss;
    if (opts->own_group) kill(-pid, SIGKILL); /* anything of the job left behind */
    FILE *f = opts->err_path ? fopen(opts->err_path, "rb") : NULL;
    if (f) {
        size_t m = fread(res->err, 1, sizeof res->err - 1, f);
        res->err[m] = 0;
        fclose(f);
    }
}

/* cli_run's trigger: fire once at the first line containing `when` */
typedef struct {
    const char *when;
    void (*fire)(void *, pid_t);
    void *user;
    int *fired;
} cli_trigger;
static inline void cli_trigger_start(cli_watch *w, pid_t pid) {
    cli_trigger *t = w->user;
    if (!*t->when) {
        *t->fired = 1;
        t->fire(t->user, pid);
    }
}
static inline void cli_trigger_line(cli_watch *w, pid_t pid, const char *line) {
    cli_trigger *t = w->user;
    if (!*t->fired && strstr(line, t->when)) {
        *t->fired = 1;
        t->fire(t->user, pid);
    }
}

/* Run argv (NULL-terminated; argv[0] the binary) with stdout and stderr
 * into one pipe. When a line containing `when` appears (when == "": right
 * after the fork), call fire(user, pid) once. A child running past limit_s
 * is killed with SIGKILL. */
static inline void cli_run(const char *const *argv, const char *when, void (*fire)(void *, pid_t), void *user,
                           double limit_s, cli_result *res) {
    cli_spawn_opts o = {NULL, 0, limit_s};
    cli_trigger t = {when, fire, user, &res->fired};
    cli_watch w = {cli_trigger_start, cli_trigger_line, NULL, 50, &t};
    cli_spawn(argv, &o, when && fire ? &w : NULL, res);
}

static inline int cli_exited(const cli_result *r, int code) {
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

/* Two files have the same bytes. */
static inline int cli_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}
#endif
