/* mpi.c — the CLI's Open MPI glue for data-parallel training (issue 13).
 * Built with MPI (make MPI=1: -DCN_HAVE_MPI, mpicc's flags) the collectives
 * the Solver asks for (cn_comm) run on MPI_COMM_WORLD; otherwise, and
 * when the process was not started by mpirun, there is one process and no
 * MPI call is made (so the same binary runs alone, without an orted). */
#include "cli.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CN_HAVE_MPI
#include <mpi.h>

static int g_on, g_rank, g_size;
/* Stopping on a signal: g_sig is the CLI's signal flag (this rank's own,
 * set whenever its handler ran); g_agreed is what every rank's Solver
 * polls instead, the largest g_sig over the ranks as of the last exchange.
 * It changes only inside a collective that every rank makes at the same
 * point of the same step, so all ranks read the same value at the top of
 * every iteration: they finish the same step and stop before the same
 * iteration (a rank stopping alone would leave the others waiting in the
 * next exchange, and the ranks would end at different states). */
static volatile int *g_sig, g_agreed;

/* MPI 3 counts are ints: a bigger exchange is refused (the step fails with
 * a message) rather than truncated. */
static int to_int(const size_t *v, int n, int *out) {
    for (int i = 0; i < n; i++) {
        if (v[i] > INT_MAX) return 1;
        out[i] = (int)v[i];
    }
    return 0;
}

/* Every exchange also agrees on stopping: a one-int MPI_MAX of the ranks'
 * signal flags, started before the exchange so that its latency hides
 * behind it (the step's last exchange comes after its compute, so a rank
 * signalled during a step stops after that step, or the next one when the
 * signal came after the exchange). A failed exchange ends the job
 * (MPI_Abort), so req is left incomplete then. */
typedef struct {
    int mine, all;
    MPI_Request req;
} agree;
static int agree_begin(agree *a) {
    a->mine = g_sig ? *g_sig : 0;
    a->all = 0;
    return MPI_Iallreduce(&a->mine, &a->all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &a->req) != MPI_SUCCESS;
}
static int agree_end(agree *a) {
    if (MPI_Wait(&a->req, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 1;
    g_agreed = a->all;
    return 0;
}

static int a2av(void *user, const void *send, const size_t *sc, const size_t *sd, void *recv, const size_t *rc,
                const size_t *rd) {
    (void)user;
    int n = g_size, *b = malloc(sizeof(int) * 4 * n);
    if (!b) return 1;
    agree ag;
    int rcode = to_int(sc, n, b) || to_int(sd, n, b + n) || to_int(rc, n, b + 2 * n) || to_int(rd, n, b + 3 * n) ||
                agree_begin(&ag);
    if (!rcode)
        rcode = MPI_Alltoallv(send, b, b + n, MPI_BYTE, recv, b + 2 * n, b + 3 * n, MPI_BYTE, MPI_COMM_WORLD) !=
                    MPI_SUCCESS || agree_end(&ag);
    free(b);
    return rcode;
}

/* send NULL: in place (this rank's part is already at rd[rank]) */
static int agv(void *user, const void *send, size_t scount, void *recv, const size_t *rc, const size_t *rd) {
    (void)user;
    int n = g_size, *b = malloc(sizeof(int) * 2 * n);
    if (!b) return 1;
    agree ag;
    int rcode = scount > INT_MAX || to_int(rc, n, b) || to_int(rd, n, b + n) || agree_begin(&ag);
    if (!rcode)
        rcode = MPI_Allgatherv(send ? send : MPI_IN_PLACE, (int)scount, MPI_BYTE, recv, b, b + n, MPI_BYTE,
                               MPI_COMM_WORLD) != MPI_SUCCESS || agree_end(&ag);
    free(b);
    return rcode;
}

const char *cli_mpi_built(void) {
    static char v[64];
    snprintf(v, sizeof v, "open-mpi %d.%d.%d", OMPI_MAJOR_VERSION, OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION);
    return v;
}

int cli_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    *rank = 0;
    *size = 1;
    /* started by mpirun (Open MPI's launcher sets these); alone: no MPI */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK")) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return 1;
    /* errors come back to the Solver, which names the step; the CLI then aborts the job */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_on = 1;
    *rank = g_rank;
    *size = g_size;
    return 0;
}

int cli_mpi_comm(cn_comm *c) {
    if (!g_on) return 0;
    memset(c, 0, sizeof *c);
    c->rank = g_rank;
    c->size = g_size;
    c->alltoallv = a2av;
    c->allgatherv = agv;
    return 1;
}

volatile int *cli_mpi_stop_flag(volatile int *sig) {
    /* one rank (or no MPI): the Solver makes no exchange, so it polls the
     * signal flag itself, as a lone process does */
    if (!g_on || g_size == 1) return sig;
    g_sig = sig;
    return &g_agreed;
}

/* Ranks on this node (to share its cores among them by default). */
int cli_mpi_local_size(void) {
    const char *e = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = e ? atoi(e) : 1;
    return n > 0 ? n : 1;
}

/* status 0, or 128 + the signal all ranks agreed to stop on: everyone
 * finishes together; else the whole job is torn down (the others may be
 * waiting in a collective for this rank). After a stop the ranks meet in a
 * barrier first: mpirun ends the whole job as soon as one rank exits with
 * a nonzero status, so none may exit before rank 0 has saved the run. */
void cli_mpi_end(int status) {
    if (!g_on) return;
    fflush(stdout);
    fflush(stderr);
    int stopped = g_agreed && status == 128 + g_agreed;
    if (status && !stopped && g_size > 1) MPI_Abort(MPI_COMM_WORLD, status);
    if (stopped) MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    g_on = 0;
}
#else
int cli_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    (void)argc; (void)argv;
    *rank = 0;
    *size = 1;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
        fprintf(stderr, "convnet: started by mpirun with %s processes, but this convnet was built without MPI "
                        "(apt-get install openmpi-bin libopenmpi-dev; make MPI=1)\n", getenv("OMPI_COMM_WORLD_SIZE"));
        return 1;
    }
    return 0;
}
int cli_mpi_comm(cn_comm *c) { (void)c; return 0; }
volatile int *cli_mpi_stop_flag(volatile int *sig) { return sig; }
const char *cli_mpi_built(void) { return "no (apt-get install openmpi-bin libopenmpi-dev; make MPI=1)"; }
int cli_mpi_local_size(void) { return 1; }
void cli_mpi_end(int status) { (void)status; }
#endif
