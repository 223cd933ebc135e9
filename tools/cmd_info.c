/* cmd_info.c — `convnet info`: the version and what this build detected
 * (SIMD level, BLAS, threads, MPI). */
#include "cli.h"
#include <stdio.h>

int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv; /* as before the table: flags after `info` are not looked at */
    cn_ctx *ctx = cn_ctx_new(0);
    printf("convnet %d.%d: %s\n", CN_VERSION_MAJOR, CN_VERSION_MINOR, cn_ctx_build_info(ctx));
    printf("mpi: %s\n", cli_mpi_built());
    cn_ctx_free(ctx);
    return 0;
}
