/* metrics.c — `train --metrics FILE.jsonl`: one JSON object per logged
 * iteration and per accuracy check, written and flushed as training goes.
 *
 * Resume: a checkpoint holds iteration t, and every line of iterations <= t
 * was written before it was saved (the Solver logs an iteration, then its
 * accuracy check, then checkpoints). Lines after t (the run went on before
 * it was killed) are redone by the resumed run, so the file is cut back to
 * its lines with iteration <= t first (and a torn last line dropped): the
 * finished file has every line once. */
#include "cli.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the number after "key": in a line we wrote; 0 if absent */
static int field(const char *line, const char *key, double *v) {
    char k[40];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    if (!p) return 0;
    char *end;
    *v = strtod(p + strlen(k), &end);
    return end != p + strlen(k);
}

int metrics_open(metrics *m, const char *path, int resume_iter) {
    memset(m, 0, sizeof *m);
    m->path = path;
    m->t0 = cli_now();
    char *keep = NULL;
    size_t nkeep = 0;
    if (resume_iter >= 0) {
        FILE *f = fopen(path, "rb");
        if (!f && errno != ENOENT) { fprintf(stderr, "convnet train: --metrics %s: %s\n", path, strerror(errno)); return 1; }
        if (f) {
            size_t cap = 1 << 16;
            keep = malloc(cap);
            char *line = NULL;
            size_t lcap = 0;
            ssize_t n;
            while (keep && (n = getline(&line, &lcap, f)) > 0) {
                double it;
                /* a torn line (no newline, no closing brace) or one past the checkpoint ends the kept part */
                if (line[n - 1] != '\n' || n < 3 || line[n - 2] != '}' || !field(line, "iteration", &it) ||
                    it > resume_iter)
                    break;
                double el;
                if (field(line, "elapsed_s", &el)) m->elapsed0 = el;
                if (nkeep + (size_t)n > cap) {
                    char *k2 = realloc(keep, cap = 2 * (nkeep + (size_t)n));
                    if (!k2) { free(keep); keep = NULL; break; }
                    keep = k2;
                }
                memcpy(keep + nkeep, line, (size_t)n);
                nkeep += (size_t)n;
            }
            free(line);
            fclose(f);
            if (!keep) { fprintf(stderr, "convnet train: --metrics %s: out of memory\n", path); return 1; }
        }
    }
    /* the kept lines (none for a fresh run) replace the file: temporary file, rename */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "wb");
    if (!o || (nkeep && fwrite(keep, 1, nkeep, o) != nkeep) || fflush(o) || fsync(fileno(o)) || fclose(o) ||
        rename(tmp, path)) {
        fprintf(stderr, "convnet train: --metrics %s: %s\n", path, strerror(errno));
        free(keep);
        return 1;
    }
    free(keep);
    m->f = fopen(path, "ab");
    if (!m->f) { fprintf(stderr, "convnet train: --metrics %s: %s\n", path, strerror(errno)); return 1; }
    m->last_t = m->t0;
    m->last_it = resume_iter > 0 ? resume_iter : 0;
    return 0;
}

void metrics_line(metrics *m, const cn_solver *s, int batch_size, const char *line) {
    if (!m->f) return;
    int is_it = !strncmp(line, "(Iteration ", 11), is_ep = !strncmp(line, "(Epoch ", 7);
    if (!is_it && !is_ep) return;
    double now = cli_now();
    int it = cn_solver_iteration(s), n;
    fprintf(m->f, "{\"kind\":\"%s\",\"iteration\":%d,\"epoch\":%d", is_it ? "iteration" : "epoch", it, cn_solver_epoch(s));
    if (is_it) {
        const double *loss = cn_solver_loss_history(s, &n);
        fprintf(m->f, ",\"loss\":");
        json_num(m->f, n ? loss[n - 1] : 0);
        fprintf(m->f, ",\"learning_rate\":");
        json_num(m->f, cn_solver_lr(s));
        double dt = now - m->last_t;
        fprintf(m->f, ",\"images_per_s\":");
        json_num(m->f, dt > 0 ? (it - m->last_it) * (double)batch_size / dt : 0);
        m->last_t = now;
        m->last_it = it;
    } else {
        const double *ta = cn_solver_train_acc_history(s, &n);
        const double *va = cn_solver_val_acc_history(s, &n);
        fprintf(m->f, ",\"train_acc\":");
        json_num(m->f, n ? ta[n - 1] : 0);
        fprintf(m->f, ",\"val_acc\":");
        json_num(m->f, n ? va[n - 1] : 0);
        fprintf(m->f, ",\"learning_rate\":");
        json_num(m->f, cn_solver_lr(s));
    }
    fprintf(m->f, ",\"elapsed_s\":%.3f}\n", m->elapsed0 + (now - m->t0));
    fflush(m->f); /* a reader (or a kill) sees whole lines as they come */
}

void metrics_close(metrics *m) {
    if (m->f) fclose(m->f);
    m->f = NULL;
}
