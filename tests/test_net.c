/* test_net.c — nets from a spec, the three-layer net, update rules, the
 * Solver, checkpoints and exact resume. */
#include "fixtures.h"
#include <string.h>
#include <unistd.h>

/* ---- the model ----------------------------------------------------------- */
static void test_initial_loss(cn_ctx *ctx) {
    /* the notebook: N=50 random images, ThreeLayerConvNet(), reg 0 -> ~log(10) */
    int N = 50;
    cn_rng r;
    cn_rng_seed(&r, 1);
    cn_net *net;
    int rc = cn_net_new(ctx, &net, "three-layer", 3, 32, 32, CN_F64, 1e-3, 0.0, &r);
    if (!check_true("three-layer net builds", rc == CN_OK, cn_ctx_error(ctx))) return;
    double *X = xmalloc(8 * (size_t)N * 3 * 32 * 32);
    int32_t *y = xmalloc(4 * N);
    fill_normal(&r, X, (size_t)N * 3 * 32 * 32, 1);
    for (int i = 0; i < N; i++) y[i] = (int32_t)cn_rng_below(&r, 10);
    double loss0, loss1;
    cn_net_loss(ctx, net, &loss0, NULL, X, y, N);
    check_le("three-layer initial loss (reg 0) ~ ln 10", fabs(loss0 - log(10.0)), 0.02);
    cn_net_set_reg(net, 0.5);
    cn_net_loss(ctx, net, &loss1, NULL, X, y, N);
    double l2 = 0;
    const char *ws[3] = {"W1", "W2", "W3"};
    for (int k = 0; k < 3; k++) {
        const cn_param *p = cn_net_param_get(net, ws[k]);
        for (size_t i = 0; i < p->size; i++) l2 += ((double *)p->data)[i] * ((double *)p->data)[i];
    }
    check_le("reg 0.5 adds exactly 0.5*reg*sum(W^2)", fabs((loss1 - loss0) - 0.5 * 0.5 * l2) / (0.25 * l2), 1e-12);
    /* shapes as the original */
    const cn_param *W2 = cn_net_param_get(net, "W2");
    check_true("W2 has the original's shape (32*16*16, 100)", W2 && W2->ndim == 2 && W2->shape[0] == 8192 && W2->shape[1] == 100, "");
    free(X); free(y);
    cn_net_free(net);
}

typedef struct { cn_ctx *ctx; cn_net *net; double *X; int32_t *y; int N; } gc_user;
static double gc_loss(void *u) {
    gc_user *g = u;
    double loss = NAN;
    cn_net_loss(g->ctx, g->net, &loss, NULL, g->X, g->y, g->N);
    return loss;
}

/* Whole-net gradient check in float64, as the notebook: N=2, (3,16,16),
 * 3 filters 3x3, hidden 7. */
static void gradcheck_net(cn_ctx *ctx, const char *spec, int C, int H, int W, double reg, double tol, double ws,
                          const char *zero_grad) {
    int N = 2;
    cn_rng r;
    cn_rng_seed(&r, 7);
    cn_net *net;
    int rc = cn_net_new(ctx, &net, spec, C, H, W, CN_F64, ws, reg, &r);
    char buf[160];
    snprintf(buf, sizeof buf, "net builds: %s", spec);
    if (!check_true(buf, rc == CN_OK, cn_ctx_error(ctx))) return;
    size_t in = (size_t)N * C * H * W;
    double *X = xmalloc(8 * in);
    int32_t *y = xmalloc(4 * N);
    fill_normal(&r, X, in, 1);
    for (int i = 0; i < N; i++) y[i] = (int32_t)cn_rng_below(&r, (uint64_t)cn_net_num_classes(net));
    gc_user u = {ctx, net, X, y, N};
    for (int i = 0; i < cn_net_num_params(net); i++) {
        const cn_param *p = cn_net_param_at(net, i);
        if (!p->trainable) continue;
        double loss, *an = xmalloc(8 * p->size), *nu = xmalloc(8 * p->size);
        cn_net_loss(ctx, net, &loss, NULL, X, y, N);
        memcpy(an, p->grad, 8 * p->size);
        cn_eval_numerical_gradient(ctx, nu, gc_loss, &u, p->data, p->size, 1e-6);
        snprintf(buf, sizeof buf, "gradcheck %s reg=%g: %s", spec, reg, p->name);
        if (zero_grad && !strcmp(p->name, zero_grad)) {
            /* a bias right before batch norm has no effect: both gradients are ~0 */
            double m = 0;
            for (size_t e = 0; e < p->size; e++) m = fmax(m, fmax(fabs(an[e]), fabs(nu[e])));
            snprintf(buf, sizeof buf, "gradcheck %s: %s (before batch norm) has zero gradient", spec, p->name);
            check_le(buf, m, 1e-8);
        } else {
            check_le(buf, cn_rel_error(nu, an, p->size), tol);
        }
        free(an); free(nu);
    }
    free(X); free(y);
    cn_net_free(net);
}

/* ---- update rules against scalar formulas worked step by step ---------- */
static void test_update_rules(void) {
    double w0[3] = {0.5, -1.25, 2.0}, g[3][3] = {{0.1, -0.2, 0.3}, {-0.4, 0.5, 0.05}, {0.2, 0.2, -0.6}};
    double lr = 0.1;
    /* sgd: w -= lr g */
    {
        double w[3], want[3];
        memcpy(w, w0, sizeof w); memcpy(want, w0, sizeof w);
        for (int s = 0; s < 3; s++) { cn_sgd_f64(NULL, w, g[s], 3, lr); for (int i = 0; i < 3; i++) want[i] -= lr * g[s][i]; }
        check_le("sgd 3 steps vs by hand", scaled_error(w, want, 3), 1e-15);
    }
    /* sgd_momentum: step 1 v = -lr g1, w = w0 + v; step 2 v = 0.9 v - lr g2 */
    {
        double w[3], v[3] = {0, 0, 0};
        memcpy(w, w0, sizeof w);
        cn_sgd_momentum_f64(NULL, w, g[0], v, 3, lr, 0.9);
        cn_sgd_momentum_f64(NULL, w, g[1], v, 3, lr, 0.9);
        /* by hand, element 0: v1 = -0.01, w1 = 0.49; v2 = -0.009 + 0.04 = 0.031, w2 = 0.521 */
        check_le("sgd_momentum 2 steps, element 0 = 0.521 (by hand)", fabs(w[0] - 0.521), 1e-15);
        check_le("sgd_momentum velocity element 0 = 0.031 (by hand)", fabs(v[0] - 0.031), 1e-15);
    }
    /* rmsprop: cache = 0.01 g^2 after step 1; w -= lr g / (|g|/10 + eps) = w - 10 lr sign(g) approx */
    {
        double w[3], c[3] = {0, 0, 0};
        memcpy(w, w0, sizeof w);
        cn_rmsprop_f64(NULL, w, g[0], c, 3, 1e-2, 0.99, 1e-8);
        /* element 0: cache = 0.01*0.01 = 1e-4; w = 0.5 - 1e-2*0.1/(0.01+1e-8) */
        check_le("rmsprop step 1 element 0 (by hand)", fabs(w[0] - (0.5 - 1e-3 / (0.01 + 1e-8))), 1e-15);
        check_le("rmsprop cache element 0 = 1e-4 (by hand)", fabs(c[0] - 1e-4), 1e-19);
    }
    /* adam: step 1 mt = g, vt = g^2 -> w -= lr g/(|g| + eps); step 2 by the formulas */
    {
        double w[3], m[3] = {0}, v[3] = {0};
        memcpy(w, w0, sizeof w);
        cn_adam_f64(NULL, w, g[0], m, v, 3, 1e-3, 0.9, 0.999, 1e-8, 1);
        double want1 = 0.5 - 1e-3 * 0.1 / (0.1 + 1e-8);
        check_le("adam step 1 element 0 = w - lr*sign(g) (by hand)", fabs(w[0] - want1), 1e-15);
        cn_adam_f64(NULL, w, g[1], m, v, 3, 1e-3, 0.9, 0.999, 1e-8, 2);
        double m2 = 0.9 * 0.01 + 0.1 * -0.4, v2 = 0.999 * 1e-5 + 0.001 * 0.16;
        double want2 = want1 - 1e-3 * (m2 / (1 - 0.81)) / (sqrt(v2 / (1 - 0.998001)) + 1e-8);
        check_le("adam step 2 element 0 (by hand)", fabs(w[0] - want2), 1e-15);
    }
    /* float32 agrees with float64 */
    {
        float wf[3], mf[3] = {0}, vf[3] = {0}, gf[3];
        double w[3], m[3] = {0}, v[3] = {0};
        for (int i = 0; i < 3; i++) { wf[i] = (float)w0[i]; w[i] = wf[i]; }
        for (int s = 0; s < 3; s++) {
            to_f32(gf, g[s], 3);
            double gd[3];
            to_f64(gd, gf, 3);
            cn_adam_f32(NULL, wf, gf, mf, vf, 3, 1e-3, 0.9, 0.999, 1e-8, s + 1);
            cn_adam_f64(NULL, w, gd, m, v, 3, 1e-3, 0.9, 0.999, 1e-8, s + 1);
        }
        check_le("adam float32 vs float64, 3 steps", scaled_error_f32(wf, w, 3), 1e-6);
    }
    /* A long vector (the rules split it over ctx's threads at >= 64K values
     * a thread): 1, 2 and 5 threads give the same bits (elementwise), and
     * float32 adam agrees with the formulas in double */
    {
        const size_t n = 300007;
        const int nts[3] = {1, 2, 5};
        float *w0f = malloc(4 * n), *gf = malloc(4 * n), *out[3][4];
        cn_rng r;
        cn_rng_seed(&r, 12);
        for (size_t i = 0; i < n; i++) { w0f[i] = (float)cn_rng_normal(&r); gf[i] = (float)(0.1 * cn_rng_normal(&r)); }
        int rc = 0;
        for (int k = 0; k < 3; k++) {
            cn_ctx *c = cn_ctx_new(nts[k]);
            for (int j = 0; j < 4; j++) out[k][j] = malloc(4 * n);
            float *ws = out[k][0], *wm = out[k][1], *wr = out[k][2], *wa = out[k][3];
            float *s1 = calloc(n, 4), *s2 = calloc(n, 4), *s3 = calloc(n, 4), *s4 = calloc(n, 4);
            for (int j = 0; j < 4; j++) memcpy(out[k][j], w0f, 4 * n);
            for (int t = 1; t <= 2; t++) {
                rc |= cn_sgd_f32(c, ws, gf, n, 1e-2);
                rc |= cn_sgd_momentum_f32(c, wm, gf, s1, n, 1e-2, 0.9);
                rc |= cn_rmsprop_f32(c, wr, gf, s2, n, 1e-2, 0.99, 1e-8);
                rc |= cn_adam_f32(c, wa, gf, s3, s4, n, 1e-3, 0.9, 0.999, 1e-8, t);
            }
            free(s1); free(s2); free(s3); free(s4);
            cn_ctx_free(c);
        }
        int same = 1;
        for (int k = 1; k < 3; k++)
            for (int j = 0; j < 4; j++) same &= !memcmp(out[k][j], out[0][j], 4 * n);
        check_true("update rules on 300007 values: 1, 2, 5 threads bit-identical", rc == CN_OK && same, NULL);
        /* adam, 2 steps with the same g: m2 = 0.19 g, v2 = 0.001999 g^2 */
        double e = 0;
        for (size_t i = 0; i < n; i++) {
            double g = gf[i], w = w0f[i];
            w -= 1e-3 * g / (sqrt(g * g) + 1e-8);
            double mt = 0.19 * g / (1 - 0.81), vt = 0.001999 * g * g / (1 - 0.998001);
            w -= 1e-3 * mt / (sqrt(vt) + 1e-8);
            e = fmax(e, fabs(out[1][3][i] - w) / (1e-3 + fabs(w)));
        }
        /* float32's 1 - beta2 = 1 - 0.999f is 1.3e-5 off 0.001: each step
         * carries up to ~6.4e-6 of lr, relative to 1e-3 + |w| */
        check_le("adam on 300007 values, 2 threads, vs the formulas in double", e, 3e-5);
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 4; j++) free(out[k][j]);
        free(w0f); free(gf);
    }
}

/* ---- data for the Solver --------------------------------------------------- */
/* A synthetic dataset: class k images are a noisy pattern k; learnable. */
static void synth_dataset(cn_dataset *ds, int C, int H, int W, int ntrain, int nval, uint64_t seed) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "synthetic");
    ds->num_classes = 10;
    cn_rng r;
    cn_rng_seed(&r, seed);
    cn_split *sp[2] = {&ds->train, &ds->val};
    int ns[2] = {ntrain, nval};
    size_t img = (size_t)C * H * W;
    for (int s = 0; s < 2; s++) {
        cn_split *p = sp[s];
        p->n = ns[s]; p->c = C; p->h = H; p->w = W;
        p->x = xmalloc(img * ns[s]);
        p->y = xmalloc(ns[s]);
        for (int i = 0; i < ns[s]; i++) {
            int k = (int)cn_rng_below(&r, 10);
            p->y[i] = (uint8_t)k;
            for (size_t e = 0; e < img; e++) {
                double base = ((e * 7 + k * 13) % 10 == 0) ? 200 : 60;
                double v = base + 40 * cn_rng_normal(&r);
                p->x[(size_t)i * img + e] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    ds->mean = xmalloc(sizeof(float) * img);
    for (size_t e = 0; e < img; e++) {
        double s = 0;
        for (int i = 0; i < ntrain; i++) s += ds->train.x[(size_t)i * img + e];
        ds->mean[e] = (float)(s / ntrain);
    }
}
static void free_synth(cn_dataset *ds) {
    free(ds->train.x); free(ds->train.y); free(ds->val.x); free(ds->val.y); free(ds->mean);
}

static int nlines;
static char lines[64][128];
static void capture(void *u, const char *line, int progress) {
    (void)u;
    if (progress || nlines >= 64) return;
    snprintf(lines[nlines++], 128, "%s", line);
}

/* The notebook's overfit check: 100 training images, 15 epochs, batch 50,
 * adam 1e-3, weight_scale 1e-2 -> train accuracy >= 0.9. */
static void test_overfit(cn_ctx *ctx) {
    cn_dataset ds;
    const char *src = "synthetic (no CIFAR-10 at ../shared/data)";
    int real = cn_dataset_load_cifar10(ctx, &ds, "../shared/data/cifar-10-batches-bin", 100, 50, 0) == CN_OK;
    if (real) src = "CIFAR-10 from ../shared/data";
    else synth_dataset(&ds, 3, 32, 32, 100, 50, 3);
    cn_rng r;
    cn_rng_seed(&r, 11);
    cn_net *net;
    cn_net_new(ctx, &net, "three-layer", 3, 32, 32, CN_F32, 1e-2, 0.0, &r);
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    snprintf(cfg.update_rule, sizeof cfg.update_rule, "adam");
    cfg.learning_rate = 1e-3;
    cfg.batch_size = 50;
    cfg.num_epochs = 15;
    cfg.print_every = 1;
    cfg.seed = 5;
    cn_solver *s;
    int rc = cn_solver_new(ctx, &s, net, &ds, &cfg);
    if (!check_true("solver builds", rc == CN_OK, cn_ctx_error(ctx))) return;
    nlines = 0;
    rc = cn_solver_train(ctx, s, capture, NULL, NULL, NULL, 0);
    check_true("overfit run trains", rc == CN_OK, cn_ctx_error(ctx));
    int n;
    const double *ta = cn_solver_train_acc_history(s, &n);
    char buf[160];
    snprintf(buf, sizeof buf, "overfit 100 images, 15 epochs: train acc %.3f >= 0.9 [%s]", n ? ta[n - 1] : -1.0, src);
    check_true(buf, n > 0 && ta[n - 1] >= 0.9, "");
    /* the log: 30 iterations, 15 epochs -> 1 + 15 accuracy lines */
    check_true("log: first line is '(Iteration 1 / 30) loss: ...'", nlines > 0 && !strncmp(lines[0], "(Iteration 1 / 30) loss: ", 25), lines[0]);
    check_true("log: second line is '(Epoch 0 / 15) train acc: ...; val_acc: ...'",
               nlines > 1 && !strncmp(lines[1], "(Epoch 0 / 15) train acc: ", 26) && strstr(lines[1], "; val_acc: "), lines[1]);
    check_true("16 accuracy checks (epoch 0 and each epoch end)", n == 16, "");
    if (getenv("CN_DEBUG")) for (int i = 0; i < nlines; i++) printf("  %s\n", lines[i]);
    cn_solver_free(s);
    cn_net_free(net);
    if (real) cn_dataset_free(&ds); else free_synth(&ds);
}

/* Checkpoint round trip and resume bit for bit. */
static void run_solver(cn_ctx *ctx, cn_dataset *ds, const char *rule, int stop_at, const char *ckpt,
                       const char *resume_from, float *final_params, size_t *np, double *hist) {
    cn_rng r;
    cn_rng_seed(&r, 21);
    cn_net *net;
    cn_net_new(ctx, &net, "conv4x3-relu-pool2-affine16-relu-affine10", 3, 8, 8, CN_F32, 1e-2, 1e-3, &r);
    cn_solver_config cfg;
    fx_solver_config(&cfg, rule, 10, 3, 20, 9);
    cfg.lr_decay = 0.95;
    cn_solver *s;
    cn_solver_new(ctx, &s, net, ds, &cfg);
    if (resume_from && cn_solver_resume(ctx, s, resume_from)) printf("resume failed: %s\n", cn_ctx_error(ctx));
    /* stop_at > 0: checkpoint every stop_at iterations while running to the end */
    int rc = cn_solver_train(ctx, s, NULL, NULL, NULL, stop_at > 0 ? ckpt : NULL, stop_at);
    if (rc) printf("train failed: %s\n", cn_ctx_error(ctx));
    size_t n;
    float *p = cn_net_flat_params(net, &n);
    memcpy(final_params, p, n * 4);
    *np = n;
    int nh;
    const double *h = cn_solver_loss_history(s, &nh);
    for (int i = 0; i < nh; i++) hist[i] = h[i];
    cn_solver_free(s);
    cn_net_free(net);
}

static void test_resume(cn_ctx *ctx) {
    cn_dataset ds;
    synth_dataset(&ds, 3, 8, 8, 60, 20, 4);
    char dir[] = "/tmp/cn_test_net_XXXXXX";
    if (!mkdtemp(dir)) { check_true("mkdtemp", 0, ""); return; }
    char ck[256];
    snprintf(ck, sizeof ck, "%s/run.safetensors", dir);
    const char *rules[4] = {"sgd", "sgd_momentum", "rmsprop", "adam"};
    for (int k = 0; k < 4; k++) {
        static float a[100000], b[100000];
        static double ha[64], hb[64];
        size_t na, nb;
        memset(ha, 0, sizeof ha); memset(hb, 0, sizeof hb);
        run_solver(ctx, &ds, rules[k], 0, NULL, NULL, a, &na, ha);  /* uninterrupted: 18 iterations */
        run_solver(ctx, &ds, rules[k], 10, ck, NULL, b, &nb, hb);   /* the same, checkpoint at 10 */
        check_true("checkpointing does not change the run", !memcmp(a, b, na * 4), "");
        memset(b, 0, sizeof b); memset(hb, 0, sizeof hb);
        run_solver(ctx, &ds, rules[k], 0, NULL, ck, b, &nb, hb);    /* resume at 10, run to the end */
        char buf[160];
        snprintf(buf, sizeof buf, "%s: resumed run's final params equal the uninterrupted run's bit for bit", rules[k]);
        check_true(buf, na == nb && !memcmp(a, b, na * 4), "");
        snprintf(buf, sizeof buf, "%s: resumed loss history equals the uninterrupted one bit for bit", rules[k]);
        check_true(buf, !memcmp(ha, hb, sizeof ha) && ha[17] != 0, "");
    }
    /* round trip of a model file is exact */
    cn_rng r;
    cn_rng_seed(&r, 2);
    cn_net *net, *back;
    cn_net_new(ctx, &net, "conv4x3-bn-relu-pool2-affine16-ln-relu-affine10", 3, 8, 8, CN_F32, 1e-1, 0, &r);
    const cn_param *rm = cn_net_param_get(net, "running_mean1");
    for (size_t i = 0; i < rm->size; i++) ((float *)rm->data)[i] = 0.5f + i;
    char mp[256];
    snprintf(mp, sizeof mp, "%s/model.safetensors", dir);
    int rc = cn_net_save(ctx, net, mp, NULL, 0);
    rc = rc ? rc : cn_net_load(ctx, &back, mp, 0, NULL);
    int same = rc == CN_OK && !strcmp(cn_net_spec(back), cn_net_spec(net)) && cn_net_num_params(back) == cn_net_num_params(net);
    for (int i = 0; same && i < cn_net_num_params(net); i++) {
        const cn_param *p = cn_net_param_at(net, i), *q = cn_net_param_at(back, i);
        same = !strcmp(p->name, q->name) && p->size == q->size && !memcmp(p->data, q->data, p->size * 4);
    }
    check_true("model save/load round trip is exact (params, running stats, spec)", same, cn_ctx_error(ctx));
    if (rc == CN_OK) cn_net_free(back);
    cn_net_free(net);
    unlink(ck); unlink(mp); rmdir(dir);
    free_synth(&ds);
}

static void test_spec_errors(cn_ctx *ctx) {
    cn_rng r;
    cn_rng_seed(&r, 0);
    struct { const char *spec; const char *want; } bad[] = {
        {"conv32x7-relu-pool2-affine100-relu", "last layer must be affine"},
        {"conv32x99p0-affine10", "layer 1"},
        {"convx7-affine10", "cannot read layer 1"},
        {"conv8x3-gn3-affine10", "G=3 does not divide C=8"},
        {"affine10-conv8x3-affine10", "after the features were flattened"},
        {"conv8x3-relu-pool64-affine10", "layer 3"},
        {"conv8x3-dropout-affine10", "cannot read layer 2"},
        {"conv8x3--affine10", "cannot read layer 2"},
        {"", "empty"},
        {"affine10-gap-affine10", "is a global pool after the features were flattened"},
        {"conv8x3-gelu5-affine10", "cannot read layer 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_net *net = NULL;
        int rc = cn_net_new(ctx, &net, bad[i].spec, 3, 32, 32, CN_F32, 1e-3, 0, &r);
        char buf[160];
        snprintf(buf, sizeof buf, "spec '%s' is refused with a clear message", bad[i].spec);
        check_true(buf, rc == CN_EINVAL && net == NULL && strstr(cn_ctx_error(ctx), bad[i].want), cn_ctx_error(ctx));
    }
}

/* The recipe's kinds: whiten's weights are fitted (== cn_whiten_fit called
 * directly) and frozen (not trainable, saved); conv..d starts as the
 * identity; bnb has no gamma; scale multiplies. */
static void test_recipe_kinds(cn_ctx *ctx) {
    cn_rng r;
    cn_rng_seed(&r, 3);
    cn_net *net = NULL;
    int rc = cn_net_new(ctx, &net, "whiten-conv12x3d-bnb-gelu-affine10-scale0.5", 3, 6, 6, CN_F64, 0.1, 0, &r);
    if (!check_true("whiten-conv12x3d-bnb-gelu-affine10-scale0.5 builds", rc == CN_OK, cn_ctx_error(ctx))) return;
    int N = 5;
    double *X = xmalloc(8 * N * 3 * 6 * 6), *w = xmalloc(8 * 24 * 3 * 4);
    fill_normal(&r, X, (size_t)N * 3 * 6 * 6, 1);
    rc = cn_net_fit_whitening(ctx, net, X, N, 5e-4);
    cn_whiten_fit_f64(ctx, w, NULL, X, 5e-4, N, 3, 6, 6);
    const cn_param *W1 = cn_net_param_get(net, "W1"), *W2 = cn_net_param_get(net, "W2");
    check_true("whiten: W1 is [24,3,2,2], not trainable, no gradient",
               W1 && W1->size == 24 * 12 && !W1->trainable && !W1->grad && !W1->regularized, "");
    check_le("whiten: fitted W1 == cn_whiten_fit on the same images", rc ? 1 : scaled_error(W1->data, w, 24 * 12), 0);
    /* conv12x3d on 24 channels: filters 0..11 are the identity on channels 0..11 */
    double bad = 0;
    const double *w2 = W2->data;
    for (int f = 0; f < 12; f++)
        for (int c = 0; c < 24; c++)
            for (int k = 0; k < 9; k++) bad = fmax(bad, fabs(w2[(f * 24 + c) * 9 + k] - (c == f && k == 4)));
    check_le("conv12x3d: dirac init (identity filters)", bad, 0);
    check_true("bnb: beta2 and running stats, no gamma2",
               !cn_net_param_get(net, "gamma2") && cn_net_param_get(net, "beta2") && cn_net_param_get(net, "running_var2"), "");
    /* scale0.5: the scores are half those of the same net without it */
    double s1[50], s2[50];
    cn_net_loss(ctx, net, NULL, s1, X, NULL, N);
    cn_net *half = NULL;
    cn_rng_seed(&r, 3);
    cn_net_new(ctx, &half, "whiten-conv12x3d-bnb-gelu-affine10", 3, 6, 6, CN_F64, 0.1, 0, &r);
    for (int i = 0; i < cn_net_num_params(net); i++)
        memcpy(cn_net_param_at(half, i)->data, cn_net_param_at(net, i)->data, 8 * cn_net_param_at(net, i)->size);
    cn_net_loss(ctx, half, NULL, s2, X, NULL, N);
    for (int i = 0; i < 50; i++) s2[i] *= 0.5;
    check_le("scale0.5: scores == 0.5 x the scores without it", scaled_error(s1, s2, 50), 0);
    char buf[2048];
    cn_net_describe(ctx, net, buf, sizeof buf);
    check_true("describe names whiten and scale", strstr(buf, "whiten") && strstr(buf, "scale"), buf);
    check_true("describe into 16 bytes -> CN_EINVAL naming the size",
               cn_net_describe(ctx, net, buf, 16) == CN_EINVAL && strstr(cn_ctx_error(ctx), "16 bytes too short"),
               cn_ctx_error(ctx));
    cn_net_free(half);
    cn_net_free(net);
    free(X); free(w);
    rc = cn_net_new(ctx, &net, "conv4x3-whiten-affine10", 3, 6, 6, CN_F32, 0.1, 0, &r);
    check_true("whiten after layer 1 is refused", rc == CN_EINVAL && strstr(cn_ctx_error(ctx), "first layer"),
               cn_ctx_error(ctx));
    rc = cn_net_new(ctx, &net, "conv4x3-affine10-scale0", 3, 6, 6, CN_F32, 0.1, 0, &r);
    check_true("scale0 is refused", rc == CN_EINVAL && strstr(cn_ctx_error(ctx), "> 0"), cn_ctx_error(ctx));
    rc = cn_net_new(ctx, &net, "conv4x3-affine10-scale2-relu", 3, 6, 6, CN_F32, 0.1, 0, &r);
    check_true("only scale may follow the last affine",
               rc == CN_EINVAL && strstr(cn_ctx_error(ctx), "last layer must be affine"), cn_ctx_error(ctx));
}

/* The grammar comes from the table of layer kinds: the error for a layer
 * that does not read lists every kind, and so does the README's table. */
static void test_spec_grammar(cn_ctx *ctx) {
    char grammar[512], buf[200];
    check_true("cn_spec_grammar fits 512 bytes", cn_spec_grammar(grammar, sizeof grammar) == CN_OK, grammar);
    cn_rng r;
    cn_rng_seed(&r, 0);
    cn_net *net = NULL;
    cn_net_new(ctx, &net, "conv8x3-dropout-affine10", 3, 8, 8, CN_F32, 1e-3, 0, &r);
    check_true("an unreadable layer's error lists the table's grammar", strstr(cn_ctx_error(ctx), grammar) != NULL,
               cn_ctx_error(ctx));
    FILE *f = fopen("README.md", "rb");
    static char readme[1 << 17];
    size_t n = f ? fread(readme, 1, sizeof readme - 1, f) : 0;
    if (f) fclose(f);
    readme[n] = 0;
    int kinds = 0;
    for (const char *help, *syn; (syn = cn_spec_kind(kinds, &help)); kinds++) {
        char want[128], esc[96];
        size_t j = 0;
        for (const char *q = syn; *q && j < sizeof esc - 2; q++) { /* '|' is escaped in a Markdown table */
            if (*q == '|') esc[j++] = '\\';
            esc[j++] = *q;
        }
        esc[j] = 0;
        snprintf(want, sizeof want, "| `%s` ", esc);
        snprintf(buf, sizeof buf, "README's layer table has kind %d `%s` (%s)", kinds, syn, help);
        int found = n > 0 && strstr(readme, want) != NULL;
        check_true(buf, found, found ? "" : n ? "row missing" : "README.md not read");
    }
    check_true("the table has at least the 9 kinds of the spec grammar", kinds >= 9, "");
}

/* One Solver step (which updates the affine weights inside the backward and
 * the rest in its fused pass) against the same step by hand: cn_net_loss
 * (gradients with the L2 term), then the public update rule on every
 * trainable parameter. affine40 has its own kernels' path, affine10 the
 * OpenBLAS one (M < vector length at AVX-512); float32 and float64, every
 * rule, every SIMD level. */
static void test_step_by_hand(cn_ctx *ctx, cn_dtype dt, const char *rule, const char *level) {
    const char *spec = "conv4x3-relu-pool2-affine40-relu-affine10";
    cn_dataset ds;
    synth_dataset(&ds, 3, 8, 8, 30, 10, 4);
    cn_net *a, *b;
    cn_rng r;
    cn_rng_seed(&r, 31);
    cn_net_new(ctx, &a, spec, 3, 8, 8, dt, 5e-2, 1e-2, &r);
    cn_rng_seed(&r, 31);
    cn_net_new(ctx, &b, spec, 3, 8, 8, dt, 5e-2, 1e-2, &r);
    cn_solver_config cfg;
    cn_solver_config_default(&cfg);
    snprintf(cfg.update_rule, sizeof cfg.update_rule, "%s", rule);
    cfg.learning_rate = 1e-2;
    cfg.batch_size = 10;
    cfg.seed = 77;
    cfg.verbose = 0;
    cn_solver *s;
    cn_ctx_set_simd(ctx, level);
    int rc = cn_solver_new(ctx, &s, a, &ds, &cfg);
    double la = 0, lb = 0;
    rc = rc ? rc : cn_solver_step(ctx, s, &la);
    /* by hand: the step's minibatch (the Solver's rng draws B indices first) */
    const int B = 10, esz = dt == CN_F32 ? 4 : 8;
    int32_t idx[10], y[10];
    cn_rng_seed(&r, 77);
    for (int i = 0; i < B; i++) idx[i] = (int32_t)cn_rng_below(&r, (uint64_t)ds.train.n);
    void *X = malloc((size_t)esz * B * 3 * 8 * 8);
    if (dt == CN_F32) cn_split_batch_f32(ctx, &ds.train, ds.mean, idx, B, X, y);
    else cn_split_batch_f64(ctx, &ds.train, ds.mean, idx, B, X, y);
    rc = rc ? rc : cn_net_loss(ctx, b, &lb, NULL, X, y, B);
    for (int i = 0; rc == CN_OK && i < cn_net_num_params(b); i++) {
        const cn_param *p = cn_net_param_at(b, i);
        if (!p->trainable) continue;
        void *m = calloc(p->size, esz), *v = calloc(p->size, esz);
        if (dt == CN_F32) {
            float *w = p->data, *g = p->grad;
            if (!strcmp(rule, "sgd")) cn_sgd_f32(ctx, w, g, p->size, 1e-2);
            else if (!strcmp(rule, "sgd_momentum")) cn_sgd_momentum_f32(ctx, w, g, m, p->size, 1e-2, 0.9);
            else if (!strcmp(rule, "rmsprop")) cn_rmsprop_f32(ctx, w, g, m, p->size, 1e-2, 0.99, 1e-8);
            else cn_adam_f32(ctx, w, g, m, v, p->size, 1e-2, 0.9, 0.999, 1e-8, 1);
        } else {
            double *w = p->data, *g = p->grad;
            if (!strcmp(rule, "sgd")) cn_sgd_f64(ctx, w, g, p->size, 1e-2);
            else if (!strcmp(rule, "sgd_momentum")) cn_sgd_momentum_f64(ctx, w, g, m, p->size, 1e-2, 0.9);
            else if (!strcmp(rule, "rmsprop")) cn_rmsprop_f64(ctx, w, g, m, p->size, 1e-2, 0.99, 1e-8);
            else cn_adam_f64(ctx, w, g, m, v, p->size, 1e-2, 0.9, 0.999, 1e-8, 1);
        }
        free(m);
        free(v);
    }
    /* every parameter within rounding of the hand step (FMA contraction may
     * differ between the two loops and builds: -O1 under ASan), relative to
     * 1e-2 + |w|; float32 at 1e-5: rmsprop's first step is lr*g/sqrt(0.01 g^2),
     * which carries the gradient's rounding ~10x */
    double e = 0;
    for (int i = 0; rc == CN_OK && i < cn_net_num_params(a); i++) {
        const cn_param *pa = cn_net_param_at(a, i), *pb = cn_net_param_at(b, i);
        for (size_t k = 0; k < pa->size; k++) {
            double wa = dt == CN_F32 ? ((float *)pa->data)[k] : ((double *)pa->data)[k];
            double wb = dt == CN_F32 ? ((float *)pb->data)[k] : ((double *)pb->data)[k];
            e = fmax(e, fabs(wa - wb) / (1e-2 + fabs(wb)));
        }
    }
    char name[200];
    snprintf(name, sizeof name, "solver step = hand step (%s, %s, %s): params", rule, dt == CN_F32 ? "f32" : "f64", level);
    if (check_true(name, rc == CN_OK, cn_ctx_error(ctx))) check_le(name, e, dt == CN_F32 ? 1e-5 : 1e-13);
    snprintf(name, sizeof name, "solver step = hand step (%s, %s, %s): loss %.9f vs %.9f", rule,
             dt == CN_F32 ? "f32" : "f64", level, la, lb);
    check_le(name, fabs(la - lb) / fabs(lb), dt == CN_F32 ? 1e-6 : 1e-13);
    cn_ctx_set_simd(ctx, "auto");
    free(X);
    cn_solver_free(s);
    cn_net_free(a);
    cn_net_free(b);
    free_synth(&ds);
}

/* The activation plan by hand: conv8x3-pool2-affine10 on (3,8,8), batch 2,
 * float32. The conv's output (8x8x8 = 512) is read by no backward (the
 * pool's uses its argmax), so the activation block keeps the pool's 128 and
 * the scores' 10 per sample: 2 * 138 * 4 = 1104 bytes; the argmax 2 * 128
 * int32s = 1024; the gradient block holds the larger of the conv's output
 * (made there) and each op's input + output gradient (pool: 512 + 128;
 * affine: 128, its output gradient being dscores): (2 * 640 + 16) * 4 =
 * 5184; dscores 2 * 10 * 4 = 80. In all 7392 (keeping everything, with two
 * gradient buffers of the largest output, it was 14496). */
static void test_activation_plan(cn_ctx *ctx) {
    cn_mem_estimate est;
    int rc = cn_net_estimate_memory(ctx, "conv8x3-pool2-affine10", 3, 8, 8, CN_F32, 2, "sgd", &est);
    char m[96];
    snprintf(m, sizeof m, "rc %d, activations %zu bytes (want 7392)", rc, (size_t)est.activations);
    check_true("activation plan of conv8x3-pool2-affine10, batch 2, by hand", rc == CN_OK && est.activations == 7392, m);
}

int main(void) {
    cn_ctx *ctx = cn_ctx_new(2);
    test_initial_loss(ctx);
    /* the notebook's check: small ThreeLayerConvNet, float64; ReLU/pool kinks
     * are possible, so the original's bound 1e-2 */
    gradcheck_net(ctx, "conv3x3-relu-pool2-affine7-relu-affine10", 3, 16, 16, 0.0, 1e-2, 1e-2, NULL);
    /* no kinks (no relu/pool): far smaller */
    gradcheck_net(ctx, "conv3x3s2p1-affine7-affine10", 3, 9, 9, 0.5, 1e-6, 1e-1, NULL);
    gradcheck_net(ctx, "conv4x3-bn-relu-pool2-affine10", 3, 8, 8, 0.1, 1e-2, 1e-1, "b1");
    gradcheck_net(ctx, "conv4x3-gn2-affine6-ln-affine10", 3, 6, 6, 0.0, 1e-4, 1e-1, NULL);
    gradcheck_net(ctx, "conv4x3-gelu-pool2-conv6x3-gelu-gmp-affine10", 3, 8, 8, 0.1, 1e-5, 3e-1, NULL);
    gradcheck_net(ctx, "conv4x3-gelu-gap-affine5-gelu-affine10", 3, 6, 6, 0.0, 1e-4, 3e-1, NULL);
    gradcheck_net(ctx, "whiten-gelu-conv6x3d-bnb-gelu-pool2-conv6x3-bnb-gmp-affine10-scale1/9", 2, 8, 8, 0.1, 1e-4, 3e-1,
                  NULL);
    /* convs before a max pool: their outputs are not kept but made in the
     * gradient block (the first op's and a later one's) */
    gradcheck_net(ctx, "conv4x3-pool2-gelu-conv5x3-pool2-bnb-gelu-affine10", 3, 8, 8, 0.1, 1e-4, 3e-1, "b2");
    test_activation_plan(ctx);
    test_recipe_kinds(ctx);
    test_spec_grammar(ctx);
    test_update_rules();
    static const char *const rules[] = {"sgd", "sgd_momentum", "rmsprop", "adam"};
    static const char *const levels[] = {"avx512", "avx2", "generic"};
    for (int l = 0; l < 3; l++)
        for (int k = 0; k < 4; k++)
            if (cn_ctx_set_simd(ctx, levels[l]) == CN_OK) {
                test_step_by_hand(ctx, CN_F32, rules[k], levels[l]);
                test_step_by_hand(ctx, CN_F64, rules[k], levels[l]);
            }
    cn_ctx_set_simd(ctx, "auto");
    test_spec_errors(ctx);
    test_overfit(ctx);
    test_resume(ctx);
    cn_ctx_free(ctx);
    return check_done();
}
