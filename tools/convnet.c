/* convnet — the command-line tool (placeholder until the training issue). */
#include "convnet.h"
#include <stdio.h>
int main(int argc, char **argv) {
    cn_ctx *ctx = cn_ctx_new(0);
    printf("convnet %d.%d: %s\n", CN_VERSION_MAJOR, CN_VERSION_MINOR, cn_build_info(ctx));
    cn_ctx_free(ctx);
    return 0;
}
