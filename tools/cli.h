/* cli.h — what the CLI's files share: flag parsing and exits (convnet.c),
 * JSON output (json.c), and the subcommands that live in their own files. */
#ifndef CN_CLI_H
#define CN_CLI_H
#include "convnet.h"
#include <stdio.h>

typedef struct {
    const char *name;
    char kind;        /* 'i' int, 'd' double, 's' string, 'b' boolean (no value) */
    void *dst;
    const char *help;
} flag;

/* Exits 0 on --help, 2 on a bad flag. */
int parse_flags(const char *cmd, int argc, char **argv, flag *flags, int nflags,
                const char **positional, int *npos, int maxpos, const char *usage);
/* "convnet: what: <ctx error>" on stderr (stdout flushed first); returns 1. */
int die(cn_ctx *ctx, const char *what);

/* JSON: a string with escapes; a number (finite: %.9g, else null). */
void json_str(FILE *f, const char *s);
void json_num(FILE *f, double v);

/* train --metrics (metrics.c): resume_iter < 0 starts the file afresh,
 * else keeps its lines up to that iteration. Returns 0, or 1 after a message. */
typedef struct {
    const char *path;
    FILE *f;
    double t0, elapsed0, last_t;
    int last_it;
} metrics;
int metrics_open(metrics *m, const char *path, int resume_iter);
void metrics_line(metrics *m, const cn_solver *s, int batch_size, const char *line);
void metrics_close(metrics *m);
/* seconds on the monotonic clock (metrics.c), for elapsed times */
double cli_now(void);

/* mpi.c: Open MPI for `train` under mpirun (make MPI=1), else one process.
 * init: 0, or 1 after a message; comm: 1 and *c filled when there is a
 * world; end: finalize (status 0) or abort the job (status != 0). */
int cli_mpi_init(int *argc, char ***argv, int *rank, int *size);
int cli_mpi_comm(cn_comm *c);
int cli_mpi_local_size(void);
void cli_mpi_end(int status);
/* "open-mpi <version>" (make MPI=1) or "no (make MPI=1 ...)" */
const char *cli_mpi_built(void);

int cmd_predict(int argc, char **argv);
int cmd_export(int argc, char **argv);
#endif
