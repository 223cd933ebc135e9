/* fuzz_resume.c — checkpoints: cn_net_load (current and best parameters)
 * and cn_solver_resume on fuzzed safetensors. The seeds are real checkpoints
 * (fuzz/mkseeds.c) and the CRC is patched after mutation, so the metadata
 * and tensor checks behind the checksum are what gets fuzzed.
 *
 * A checkpoint that resumes must train on (two steps), save, and resume
 * again into a fresh solver with the same iteration and histories. */
#include "fuzz_common.h"
#include "fuzz_data.h"
#include <math.h>

static void check_same_history(const cn_solver *a, const cn_solver *b) {
    int na, nb;
    const double *ha = cn_solver_loss_history(a, &na), *hb = cn_solver_loss_history(b, &nb);
    if (na != nb || (na && memcmp(ha, hb, sizeof(double) * (size_t)na))) abort();
    ha = cn_solver_val_acc_history(a, &na);
    hb = cn_solver_val_acc_history(b, &nb);
    if (na != nb || (na && memcmp(ha, hb, sizeof(double) * (size_t)na))) abort();
    if (cn_solver_iteration(a) != cn_solver_iteration(b)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ctx *ctx = fz_ctx();
    char path[320], path2[320];
    fz_path(path, sizeof path, "resume", "ck.safetensors");
    fz_path(path2, sizeof path2, "resume", "again.safetensors");
    uint8_t *buf = fz_write_fixed_crc(path, data, size);
    free(buf);

    cn_net *best = (cn_net *)1;
    int rc = cn_net_load(ctx, &best, path, 1, NULL);
    fz_check_error(rc);
    if (rc == CN_OK) cn_net_free(best);
    else if (best) abort();

    cn_net *net = NULL;
    cn_solver_config cfg;
    rc = cn_net_load(ctx, &net, path, 0, &cfg);
    fz_check_error(rc);
    if (rc) return 0;
    int C, H, W;
    cn_net_input(net, &C, &H, &W);
    size_t ntrain;
    (void)cn_net_flat_params(net, &ntrain);
    if ((size_t)C * H * W > 4096 || ntrain > 100000 || cn_net_flops_per_image(net) > 1e6) {
        cn_net_free(net);
        return 0;
    }
    cn_dataset ds;
    if (fz_dataset(&ds, C, H, W)) abort();
    cn_solver *s = NULL, *s2 = NULL;
    cfg.verbose = 0;
    rc = cn_solver_new(ctx, &s, net, &ds, &cfg);
    fz_check_error(rc);
    if (rc == CN_OK) {
        rc = cn_solver_resume(ctx, s, path);
        fz_check_error(rc);
    }
    if (rc == CN_OK) {
        if (cn_solver_iteration(s) < 0 || cn_solver_iteration(s) > cn_solver_num_iterations(s)) abort();
        double loss;
        for (int k = 0; k < 2 && rc == CN_OK; k++) {
            rc = cn_solver_step(ctx, s, &loss);
            fz_check_error(rc);
            if (rc == CN_OK && !isfinite(loss)) abort();
            if (rc && rc != CN_ENUM) {
                fprintf(stderr, "step after resume: %s\n", cn_ctx_error(ctx));
                abort();
            }
        }
        if (rc == CN_OK) {
            rc = cn_solver_save(ctx, s, path2);
            fz_check_error(rc);
            if (rc && rc != CN_ENUM) {
                fprintf(stderr, "save after resume: %s\n", cn_ctx_error(ctx));
                abort();
            }
        }
        if (rc == CN_OK) {
            /* the saved state resumes into a fresh solver on a fresh net */
            cn_net *net2 = NULL;
            cn_solver_config cfg2;
            if (cn_net_load(ctx, &net2, path2, 0, &cfg2) != CN_OK) {
                fprintf(stderr, "reload: %s\n", cn_ctx_error(ctx));
                abort();
            }
            cfg2.verbose = 0;
            if (cn_solver_new(ctx, &s2, net2, &ds, &cfg2) != CN_OK ||
                cn_solver_resume(ctx, s2, path2) != CN_OK) {
                fprintf(stderr, "resume of a re-saved checkpoint: %s\n", cn_ctx_error(ctx));
                abort();
            }
            check_same_history(s, s2);
            size_t n1, n2;
            const void *p1 = cn_net_flat_params(net, &n1), *p2 = cn_net_flat_params(net2, &n2);
            if (n1 != n2 || memcmp(p1, p2, n1 * (cn_net_dtype(net) == CN_F32 ? 4 : 8))) abort();
            cn_solver_free(s2);
            cn_net_free(net2);
        }
    }
    cn_solver_free(s);
    cn_net_free(net);
    cn_dataset_free(&ds);
    return 0;
}
