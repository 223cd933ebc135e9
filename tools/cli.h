/* cli.h — what the CLI's files share: flag parsing, exits and --data
 * (cli_common.c), JSON output (json.c), pictures (cmd_pictures.c), and the
 * subcommands, one file each (cmd_*.c, predict.c, export_onnx.c), that
 * main() (convnet.c) dispatches to. */
#ifndef CN_CLI_H
#define CN_CLI_H
#include "convnet.h"
#include <stdio.h>

#define DEFAULT_FASHION "/usr/share/datasets/fashion-mnist"

typedef struct {
    const char *name;
    char kind;        /* 'i' int, 'd' double, 's' string, 'b' boolean (no value) */
    void *dst;
    const char *help;
} flag;

/* Exits 0 on --help, 2 on a bad flag. */
/* parse_flags' --help text: usage, the flags, the net grammar if --net is one */
void flags_help(const char *cmd, const flag *flags, int nflags, const char *usage);
int parse_flags(const char *cmd, int argc, char **argv, flag *flags, int nflags,
                const char **positional, int *npos, int maxpos, const char *usage);
/* "convnet: what: <ctx error>" on stderr (stdout flushed first); returns 1. */
int die(cn_ctx *ctx, const char *what);
/* --data cifar10:DIR | fashion-mnist[:DIR] | mnist:DIR (NULL: fashion-mnist) */
int load_data(cn_ctx *ctx, cn_dataset *ds, const char *spec, int ntrain, int nval, int ntest);
/* The image shape a --data spec gives, known before loading (so the net
 * spec is checked before seconds of reading data). 0 if unknown. */
int data_shape(const char *spec, int *C, int *H, int *W);
/* Accuracy of net on a whole split of ds, in batches of 100, with
 * test-time augmentation level tta (cn_net_accuracy_tta). */
int split_accuracy(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, const cn_split *sp, int tta, double *acc);
/* Monotonic seconds. */
double cli_now(void);

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

/* mpi.c: Open MPI for `train` under mpirun (make MPI=1), else one process.
 * init: 0, or 1 after a message; comm: 1 and *c filled when there is a
 * world; end: finalize (status 0 or the agreed stop's 128 + signal) or
 * abort the job (another status). */
int cli_mpi_init(int *argc, char ***argv, int *rank, int *size);
int cli_mpi_comm(cn_comm *c);
/* the stop flag for cn_solver_train: sig (the signal handler's) alone, or
 * one that every rank sees change before the same iteration (mpi.c) */
volatile int *cli_mpi_stop_flag(volatile int *sig);
int cli_mpi_local_size(void);
void cli_mpi_end(int status);
/* "open-mpi <version>" (make MPI=1) or "no (make MPI=1 ...)" */
const char *cli_mpi_built(void);

/* recipes.c: named sets of train flags (--recipe); NULL-terminated lists */
const char *recipe_name(int k);
const char *const *recipe_flags(const char *name);
int recipe_argc(const char *const *flags);
void recipes_help(FILE *f);

/* train_memory.c: train --max-memory (auto | none | BYTES[K|M|G|T]) against
 * the estimate for spec; 0 (fits, or no check), 1 or 2 after a message. */
typedef struct {
    int augment, tta_variants, averaging, shuffle;
    long ntrain;
} train_extras;
int check_memory(cn_ctx *ctx, const char *max_memory, const char *spec, int C, int H, int W, cn_dtype dt,
                 int batch, const char *rule, const train_extras *x);

/* cmd_pictures.c: train --plots writes loss.png, accuracy.png and (a conv
 * on 1 or 3 channels first) filters.png into dir, saying each. */
int write_plots(cn_ctx *ctx, cn_solver *s, cn_net *net, const char *dir);

/* The subcommands: argc, argv after the command name; the exit status. */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_filters(int argc, char **argv);
int cmd_edges(int argc, char **argv);
int cmd_describe(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_info(int argc, char **argv);
#endif
