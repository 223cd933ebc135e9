/* train_memory.c — train --max-memory: refuse a net that cannot fit before
 * allocating it (the library's estimate against the budget). */
#include "cli.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double gib(double b) { return b / (1024.0 * 1024 * 1024); }

/* --max-memory: "auto" (what the machine or cgroup has left), "none" (no
 * check), or BYTES with an optional K, M, G, T suffix (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return 0;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    }
    if (*end == 'i' && end[1] == 'B') end += 2;
    else if (*end == 'B') end++;
    if (*end || v * mult >= 1.8e19) return 0;
    *out = (uint64_t)(v * mult);
    return 1;
}

int check_memory(cn_ctx *ctx, const char *max_memory, const char *spec, int C, int H, int W, cn_dtype dt,
                 int batch, const char *rule, const train_extras *x) {
    if (!strcmp(max_memory, "none")) return 0;
    uint64_t budget;
    char source[CN_MEM_SOURCE_LEN] = "--max-memory";
    if (!strcmp(max_memory, "auto")) {
        if (cn_memory_available(ctx, &budget, source, sizeof source)) {
            fprintf(stderr, "convnet train: warning: %s; the memory check is skipped\n", cn_ctx_error(ctx));
            return 0;
        }
    } else if (!parse_bytes(max_memory, &budget)) {
        fprintf(stderr, "convnet train: --max-memory expects auto, none or BYTES (e.g. 8G), got '%s'\n", max_memory);
        return 2;
    }
    cn_mem_estimate e;
    if (cn_net_estimate_memory(ctx, spec, C, H, W, dt, batch, rule, &e)) {
        fprintf(stderr, "convnet train: --net: %s\n", cn_ctx_error(ctx));
        return 2;
    }
    /* what the Solver adds for the recipe (solver.c's allocations): the
     * batch before augmentation and its keys, the TTA variants and their
     * scores (10 classes), the averaged weights and the swap beside them
     * (the size of the gradients each), the epoch's order */
    size_t esz = dt == CN_F32 ? 4 : 8, img = (size_t)C * H * W * esz, N = (size_t)batch;
    double extra = 0;
    if (x->augment) extra += (double)N * (img + 8);
    if (x->tta_variants > 0) extra += (double)x->tta_variants * N * (img + 10 * esz);
    if (x->averaging) extra += 2.0 * (double)e.grads;
    if (x->shuffle) extra += 4.0 * x->ntrain;
    e.solver += (size_t)extra;
    e.total += (size_t)extra;
    if ((uint64_t)e.total <= budget) return 0;
    fprintf(stderr,
            "convnet train: the net needs about %.0f bytes (%.2f GiB: parameters %.2f, gradients %.2f, solver state %.2f, "
            "activations for batch %d %.2f, workspaces %.2f GiB), more than the %.0f bytes (%.2f GiB) available (%s).\n"
            "Use a smaller net or --batch-size, or --max-memory none to try anyway.\n",
            (double)e.total, gib((double)e.total), gib((double)e.params), gib((double)e.grads), gib((double)e.solver),
            batch, gib((double)e.activations), gib((double)e.workspace), (double)budget,
            gib((double)budget), source);
    return 1;
}

