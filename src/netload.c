/* netload.c — model files: loading a net (cn_net_load), its parameters
 * (or the best ones) from a checkpoint or model file, and the Solver
 * settings recorded beside them. */
#include "net.h"
#include <stdio.h>
#include <stdlib.h>

static void config_from_meta(const cn_st *st, cn_solver_config *c) {
    cn_solver_config_default(c);
    const char *v;
    if ((v = cn_st_meta(st, "update_rule"))) snprintf(c->update_rule, sizeof c->update_rule, "%s", v);
    if ((v = cn_st_meta(st, "learning_rate"))) c->learning_rate = atof(v);
    if ((v = cn_st_meta(st, "optim"))) sscanf(v, "%lf,%lf,%lf,%lf,%lf", &c->momentum, &c->decay_rate, &c->beta1, &c->beta2, &c->epsilon);
    if ((v = cn_st_meta(st, "lr_decay"))) c->lr_decay = atof(v);
    if ((v = cn_st_meta(st, "batch_size"))) c->batch_size = atoi(v);
    if ((v = cn_st_meta(st, "num_epochs"))) c->num_epochs = atoi(v);
    if ((v = cn_st_meta(st, "samples_print_verbose")))
        sscanf(v, "%d,%d,%d,%d", &c->num_train_samples, &c->num_val_samples, &c->print_every, &c->verbose);
    if ((v = cn_st_meta(st, "seed"))) c->seed = strtoull(v, NULL, 10);
}

int cn_net_load(cn_ctx *ctx, cn_net **out, const char *path, int best, cn_solver_config *cfg) {
    cn_st *st;
    *out = NULL; /* also on failure, as cn_net_new */
    int rc = cn_st_load(ctx, path, &st);
    if (rc) return rc;
    rc = cn__net_from_st(ctx, out, st, path, best ? "best." : NULL);
    if (!rc && cfg) config_from_meta(st, cfg);
    cn_st_free(st);
    return rc;
}
