/* test_hostile.c — broken and hostile inputs end to end: checkpoints through
 * cn_net_load and cn_solver_resume (flipped bytes, truncation, metadata that
 * is ours but wrong, tensors of the wrong shape, resume into a different
 * run), net specs that cannot be built, data files the loaders must refuse,
 * JPEGs that declare far more than they hold, and numerical faults (NaN/Inf in the loss, a gradient or after an update).
 *
 * Every case must give its CN_E* code and a message naming what is wrong,
 * never crash, and a failed resume must leave the solver as it was. The
 * truth for "as it was" is a copy taken before the call; for checkpoints a
 * byte copy of the file. (test_st.c, test_data.c and test_net.c cover the
 * tensor-file parser, the loaders and the spec parser on their own.) */
#define _GNU_SOURCE
#include "fixtures.h"
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
/* jpeglib.h needs FILE first */
#include <jpeglib.h>

#define CN_MAX_NOTE 600

static char dir[64];
static cn_ctx *ctx;

static int has(const char *s) { return strstr(cn_ctx_error(ctx), s) != NULL; }


static void path_of(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { *n = 0; return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *b = xmalloc((size_t)len + 1);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) { fclose(f); free(b); *n = 0; return NULL; }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) { perror(path); exit(2); }
}

/* ------------------------------------------------------------ the base run */
#define SPEC "conv2x3-relu-pool2-affine4-relu-affine3"

/* images of (C,H,W) with labels 0..2, mean of the train split */
static void synth(cn_dataset *ds, int C, int H, int W, int ntrain, int nval, uint64_t seed) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "synthetic");
    ds->num_classes = 3;
    fx_synth_splits(ds, C, H, W, ntrain, nval, seed);
}

typedef struct {
    cn_net *net;
    cn_solver *s;
} run;

/* A solver on ds: 16 train images / batch 4 = 4 iterations per epoch, 2 epochs. */
static int make_run(run *r, const cn_dataset *ds, const char *spec, const char *rule, cn_dtype dt,
                    double reg, double ws, double lr) {
    cn_rng g;
    cn_rng_seed(&g, 3);
    int C = ds->train.c, H = ds->train.h, W = ds->train.w;
    r->net = NULL;
    r->s = NULL;
    int rc = cn_net_new(ctx, &r->net, spec, C, H, W, dt, ws, reg, &g);
    if (rc) return rc;
    cn_solver_config cfg;
    fx_solver_config(&cfg, rule, 4, 2, 8, 1);
    cfg.learning_rate = lr;
    rc = cn_solver_new(ctx, &r->s, r->net, ds, &cfg);
    if (rc) { cn_net_free(r->net); r->net = NULL; }
    return rc;
}

static void free_run(run *r) {
    cn_solver_free(r->s);
    cn_net_free(r->net);
    r->s = NULL;
    r->net = NULL;
}

/* The state a failed resume must not touch: parameters (with state), best
 * parameters are internal, so parameters + iteration + histories. */
typedef struct {
    unsigned char *p;
    size_t n;
    int it, nloss;
} snap;
static void take(snap *sn, const run *r) {
    const cn_net *net = r->net;
    size_t bytes = 0;
    for (int i = 0; i < cn_net_num_params(net); i++)
        bytes += cn_net_param_at(net, i)->size * (cn_net_dtype(net) == CN_F32 ? 4 : 8);
    sn->p = xmalloc(bytes);
    sn->n = bytes;
    size_t off = 0;
    for (int i = 0; i < cn_net_num_params(net); i++) {
        const cn_param *p = cn_net_param_at(net, i);
        size_t b = p->size * (cn_net_dtype(net) == CN_F32 ? 4 : 8);
        memcpy(sn->p + off, p->data, b);
        off += b;
    }
    sn->it = cn_solver_iteration(r->s);
    cn_solver_loss_history(r->s, &sn->nloss);
}
static int same(const snap *sn, const run *r) {
    snap now;
    take(&now, r);
    int ok = now.n == sn->n && !memcmp(now.p, sn->p, sn->n) && now.it == sn->it && now.nloss == sn->nloss;
    free(now.p);
    return ok;
}

/* ------------------------------------------------- rewriting a checkpoint
 * Loads a checkpoint, applies one edit and saves it with cn_st_save, so the
 * CRC is right and only the edit is wrong. */
static const char *const meta_keys[] = {
    "spec", "input", "dtype", "reg", "update_rule", "learning_rate", "lr", "optim", "lr_decay", "batch_size",
    "num_epochs", "samples_print_verbose", "seed", "epoch", "iteration", "adam_t", "best_val_acc", "rng"};
#define NKEYS (int)(sizeof meta_keys / sizeof meta_keys[0])

typedef struct {
    const char *key, *val;       /* metadata: set key to val (val NULL: remove) */
    const char *tensor;          /* tensor to change */
    int drop;                    /* remove it */
    int ndim;                    /* > 0: new shape (zeros when the size changes) */
    int64_t shape[4];
    int as_i32, as_f64;          /* change its dtype */
    int poison;                  /* first element NaN (F32/F64) */
    int best_ok;                 /* (test table) cn_net_load(best=1) reads best.* and succeeds */
} edit;

static int rewrite(const char *src, const char *dst, const edit *e) {
    cn_st *st;
    int rc = cn_st_load(ctx, src, &st);
    if (rc) return rc;
    int n = cn_st_num_tensors(st);
    cn_tensor *t = xmalloc(sizeof *t * (size_t)(n + 1));
    void *owned[4] = {0};
    int nt = 0, no = 0;
    for (int i = 0; i < n; i++) {
        cn_tensor x = *cn_st_tensor_at(st, i);
        if (e->tensor && !strcmp(x.name, e->tensor)) {
            if (e->drop) continue;
            size_t isz = x.is_i32 ? 4 : x.dtype == CN_F64 ? 8 : 4, old = isz;
            for (int d = 0; d < x.ndim; d++) old *= (size_t)x.shape[d];
            if (e->ndim > 0) {
                x.ndim = e->ndim;
                for (int d = 0; d < 4; d++) x.shape[d] = e->shape[d];
            }
            if (e->as_i32) x.is_i32 = 1;
            if (e->as_f64) x.dtype = CN_F64;
            size_t nsz = x.is_i32 ? 4 : x.dtype == CN_F64 ? 8 : 4, bytes = nsz;
            for (int d = 0; d < x.ndim; d++) bytes *= (size_t)x.shape[d];
            unsigned char *buf = xmalloc(bytes + 8);
            if (bytes == old) memcpy(buf, x.data, bytes);
            if (e->poison && bytes >= 8) {
                if (x.dtype == CN_F64) ((double *)buf)[0] = NAN;
                else ((float *)buf)[0] = NAN;
            }
            x.data = buf;
            owned[no++] = buf;
        }
        t[nt++] = x;
    }
    cn_meta m[NKEYS + 1];
    int nm = 0;
    for (int k = 0; k < NKEYS; k++) {
        const char *v = cn_st_meta(st, meta_keys[k]);
        if (e->key && !strcmp(e->key, meta_keys[k])) v = e->val;
        if (v) m[nm++] = (cn_meta){meta_keys[k], v};
    }
    if (e->key && e->val && !cn_st_meta(st, e->key)) {
        int known = 0;
        for (int k = 0; k < NKEYS; k++) known |= !strcmp(e->key, meta_keys[k]);
        if (!known) m[nm++] = (cn_meta){e->key, e->val};
    }
    rc = cn_st_save(ctx, dst, t, nt, m, nm);
    for (int i = 0; i < no; i++) free(owned[i]);
    free(t);
    cn_st_free(st);
    return rc;
}

/* ------------------------------------------------ checkpoints, end to end */
static char ck[128];      /* the base checkpoint: conv net, sgd_momentum, iteration 6 of 8 */
static cn_dataset ds16;   /* 16 train, 8 val of (1,6,6) */

static void make_base(void) {
    synth(&ds16, 1, 6, 6, 16, 8, 5);
    path_of(ck, sizeof ck, "base.safetensors");
    run r;
    int rc = make_run(&r, &ds16, SPEC, "sgd_momentum", CN_F32, 1e-3, 1e-1, 1e-2);
    if (!rc) rc = cn_solver_train(ctx, r.s, NULL, NULL, NULL, ck, 3); /* saved at 3 and 6 */
    check_true("base run: trains and checkpoints at iteration 6", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    if (!rc) free_run(&r);
}

/* Load `file` with cn_net_load (both parameter sets) and resume it into a
 * fresh base run; each must fail with the code and text given (code 0: that
 * path is expected to succeed). */
static void expect_ck2(const char *what, const char *file, int load_code, const char *load_text, int best_ok,
                       int resume_code, const char *resume_text) {
    char name[200];
    for (int best = 0; best < 2; best++) {
        cn_net *net = (cn_net *)&name; /* must come back NULL on failure */
        int rc = cn_net_load(ctx, &net, file, best, NULL);
        /* best = 1 reads best.<name> first: an edit of the current W1 does not reach it */
        int load_code_b = best && best_ok ? CN_OK : load_code;
        snprintf(name, sizeof name, "%s: cn_net_load(best=%d) -> %s", what, best, cn_strerror(load_code_b));
        if (load_code_b == CN_OK) {
            check_true(name, rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
        } else {
            char note[CN_MAX_NOTE];
            snprintf(note, sizeof note, "%s", cn_ctx_error(ctx));
            check_true(name, rc == load_code_b && net == NULL && has(load_text) && has(file), note);
        }
        if (rc == CN_OK) cn_net_free(net);
    }
    run r;
    if (make_run(&r, &ds16, SPEC, "sgd_momentum", CN_F32, 1e-3, 1e-1, 1e-2)) {
        check_true("make_run", 0, cn_ctx_error(ctx));
        return;
    }
    snap before;
    take(&before, &r);
    int rc = cn_solver_resume(ctx, r.s, file);
    snprintf(name, sizeof name, "%s: cn_solver_resume -> %s", what, cn_strerror(resume_code));
    if (resume_code == CN_OK) {
        check_true(name, rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    } else {
        char note[CN_MAX_NOTE];
        snprintf(note, sizeof note, "%s", cn_ctx_error(ctx));
        check_true(name, rc == resume_code && has(resume_text) && has(file), note);
        snprintf(name, sizeof name, "%s: the solver is unchanged", what);
        check_true(name, same(&before, &r), "");
    }
    free(before.p);
    free_run(&r);
}

static void expect_ck(const char *what, const char *file, int load_code, const char *load_text, int resume_code,
                      const char *resume_text) {
    expect_ck2(what, file, load_code, load_text, 0, resume_code, resume_text);
}

static void test_checkpoint_bytes(void) {
    size_t n;
    unsigned char *b = slurp(ck, &n);
    if (!check_true("base checkpoint readable", b != NULL && n > 100, ck)) return;
    char f[128];
    uint64_t N = 0;
    for (int i = 0; i < 8; i++) N |= (uint64_t)b[i] << (8 * i);

    path_of(f, sizeof f, "flip-data.safetensors");
    b[n - 5] ^= 0x10; /* inside the last tensor's data */
    spit(f, b, n);
    b[n - 5] ^= 0x10;
    expect_ck("flipped data byte", f, CN_EFORMAT, "checksum mismatch", CN_EFORMAT, "checksum mismatch");

    path_of(f, sizeof f, "flip-meta.safetensors");
    unsigned char *it = memmem(b, n, "\"iteration\":\"6\"", 15);
    if (it) it[13] = '7'; /* iteration 6 -> 7: valid JSON, wrong checksum */
    spit(f, b, n);
    if (it) it[13] = '6';
    expect_ck("metadata byte changed (iteration 6 -> 7)", f, CN_EFORMAT, "checksum mismatch", CN_EFORMAT,
              "checksum mismatch");

    path_of(f, sizeof f, "flip-shape.safetensors");
    unsigned char *sh = memmem(b, n, "\"shape\":[2,1,3,3]", 17);
    if (sh) sh[9] = '1'; /* W1 (2,1,3,3) -> (1,1,3,3): sizes no longer add up */
    spit(f, b, n);
    if (sh) sh[9] = '2';
    expect_ck("shape digit changed in the header", f, CN_EFORMAT, "data_offsets", CN_EFORMAT, "data_offsets");

    path_of(f, sizeof f, "truncated.safetensors");
    spit(f, b, 8 + N / 2);
    expect_ck("truncated inside the header", f, CN_EFORMAT, "header length", CN_EFORMAT, "header length");
    spit(f, b, 8 + N + 10);
    expect_ck("truncated inside the data", f, CN_EFORMAT, "data section", CN_EFORMAT, "data section");
    spit(f, b, n - 1);
    expect_ck("last byte cut off", f, CN_EFORMAT, "data section", CN_EFORMAT, "data section");

    path_of(f, sizeof f, "empty.safetensors");
    spit(f, b, 0);
    expect_ck("empty file", f, CN_EFORMAT, "too short", CN_EFORMAT, "too short");

    path_of(f, sizeof f, "hugelen.safetensors");
    memset(b, 0xff, 8); /* header length 2^64-1 */
    spit(f, b, n);
    expect_ck("header length 2^64-1", f, CN_EFORMAT, "header length", CN_EFORMAT, "header length");

    path_of(f, sizeof f, "missing.safetensors");
    expect_ck("missing file", f, CN_EIO, "cannot open", CN_EIO, "cannot open");
    free(b);
}

static void test_checkpoint_meta(void) {
    char f[128];
    path_of(f, sizeof f, "edit.safetensors");
    static const struct {
        const char *what;
        edit e;
        int load_code;
        const char *load_text;
        int resume_code;
        const char *resume_text;
    } cases[] = {
        {"checkpoint rewritten unchanged (control)", {.key = NULL}, CN_OK, "", CN_OK, ""},
        {"spec of another net (affine5)", {.key = "spec", .val = "conv2x3-relu-pool2-affine5-relu-affine3"},
         CN_EFORMAT, "does not match the spec", CN_EINVAL, "differs from this run"},
        {"spec with an unknown layer", {.key = "spec", .val = "conv2x3-dropout-affine3"}, CN_EFORMAT,
         "cannot read layer 2", CN_EINVAL, "differs from this run"},
        {"spec with an impossible shape (9x9 filter on 6x6)", {.key = "spec", .val = "conv2x9p0-affine3"},
         CN_EFORMAT, "does not fit", CN_EINVAL, "differs from this run"},
        {"spec missing", {.key = "spec", .val = NULL}, CN_EFORMAT, "not a convnet model", CN_EINVAL,
         "differs from this run"},
        {"input 0,6,6", {.key = "input", .val = "0,6,6"}, CN_EFORMAT, "out of range", CN_EINVAL, "input"},
        {"input -1,6,6", {.key = "input", .val = "-1,6,6"}, CN_EFORMAT, "out of range", CN_EINVAL, "input"},
        {"input 4096,65536,65536 (product overflows an int)", {.key = "input", .val = "4096,65536,65536"},
         CN_EFORMAT, "2^28", CN_EINVAL, "input"},
        {"input not numbers", {.key = "input", .val = "six by six"}, CN_EFORMAT, "expected C,H,W", CN_EINVAL,
         "input"},
        {"input 1,6,6 with trailing bytes", {.key = "input", .val = "1,6,6x"}, CN_EFORMAT, "expected C,H,W",
         CN_EINVAL, "input"},
        {"input 2^33,6,6 (beyond int)", {.key = "input", .val = "8589934593,6,6"}, CN_EFORMAT, "expected C,H,W",
         CN_EINVAL, "input"},
        {"input of another size (1,8,8)", {.key = "input", .val = "1,8,8"}, CN_EFORMAT, "does not match the spec",
         CN_EINVAL, "input"},
        {"dtype float64 over F32 tensors", {.key = "dtype", .val = "float64"}, CN_OK, "", CN_EINVAL, "float64"},
        {"update rule adam", {.key = "update_rule", .val = "adam"}, CN_OK, "", CN_EINVAL, "update rule"},
        {"iteration nan", {.key = "iteration", .val = "nan"}, CN_OK, "", CN_EFORMAT, "'iteration'"},
        {"iteration -1", {.key = "iteration", .val = "-1"}, CN_OK, "", CN_EFORMAT, "'iteration'"},
        {"iteration 3.5", {.key = "iteration", .val = "3.5"}, CN_OK, "", CN_EFORMAT, "'iteration'"},
        {"iteration 2^40", {.key = "iteration", .val = "1099511627776"}, CN_OK, "", CN_EFORMAT, "'iteration'"},
        {"iteration 99 past the end", {.key = "iteration", .val = "99"}, CN_OK, "", CN_EINVAL, "past the end"},
        {"iteration missing", {.key = "iteration", .val = NULL}, CN_OK, "", CN_EFORMAT, "'iteration' is missing"},
        {"epoch 0 at iteration 6 (4 per epoch)", {.key = "epoch", .val = "0"}, CN_OK, "", CN_EINVAL,
         "iterations per epoch"},
        {"adam_t -5", {.key = "adam_t", .val = "-5"}, CN_OK, "", CN_EFORMAT, "'adam_t'"},
        {"lr inf", {.key = "lr", .val = "inf"}, CN_OK, "", CN_EFORMAT, "'lr'"},
        {"lr empty", {.key = "lr", .val = ""}, CN_OK, "", CN_EFORMAT, "'lr'"},
        {"best_val_acc nan", {.key = "best_val_acc", .val = "nan"}, CN_OK, "", CN_EFORMAT, "'best_val_acc'"},
        {"rng all zeros (would never advance)",
         {.key = "rng", .val = "0000000000000000000000000000000000000000000000000000000000000000"}, CN_OK, "",
         CN_EFORMAT, "'rng'"},
        {"rng not hex", {.key = "rng", .val = "zzzz000000000000000000000000000000000000000000000000000000000000"},
         CN_OK, "", CN_EFORMAT, "'rng'"},
        {"rng short", {.key = "rng", .val = "1234"}, CN_OK, "", CN_EFORMAT, "'rng'"},
        {"W1 reshaped (1,2,3,3): same size, wrong shape", {.tensor = "W1", .ndim = 4, .shape = {1, 2, 3, 3}, .best_ok = 1},
         CN_EFORMAT, "W1", CN_EFORMAT, "W1"},
        {"W2 of the wrong size (16,5)", {.tensor = "W2", .ndim = 2, .shape = {16, 5}, .best_ok = 1}, CN_EFORMAT, "W2",
         CN_EFORMAT, "W2"},
        {"b1 as I32", {.tensor = "b1", .as_i32 = 1, .best_ok = 1}, CN_EFORMAT, "b1", CN_EFORMAT, "b1"},
        {"W3 missing", {.tensor = "W3", .drop = 1, .best_ok = 1}, CN_EFORMAT, "W3 is missing", CN_EFORMAT, "W3 is missing"},
        {"best.W3 missing (a model falls back to W3)", {.tensor = "best.W3", .drop = 1}, CN_OK, "", CN_EFORMAT,
         "best.W3 is missing"},
        {"velocity of W2 missing", {.tensor = "sgd_momentum.velocity.W2", .drop = 1}, CN_OK, "", CN_EFORMAT,
         "velocity.W2 is missing"},
        {"velocity of W2 reshaped", {.tensor = "sgd_momentum.velocity.W2", .ndim = 2, .shape = {4, 16}}, CN_OK,
         "", CN_EFORMAT, "velocity.W2"},
        {"history.loss of 5 entries at iteration 6", {.tensor = "history.loss", .ndim = 1, .shape = {5}}, CN_OK,
         "", CN_EFORMAT, "history.loss"},
        {"history.loss missing", {.tensor = "history.loss", .drop = 1}, CN_OK, "", CN_EFORMAT,
         "history.loss is missing"},
        {"history.train_acc 2-D", {.tensor = "history.train_acc", .ndim = 2, .shape = {1, 2}}, CN_OK, "",
         CN_EFORMAT, "history.train_acc"},
        {"history.train_acc of 1000 entries", {.tensor = "history.train_acc", .ndim = 1, .shape = {1000}}, CN_OK,
         "", CN_EFORMAT, "history.train_acc"},
        {"history.val_acc missing (train_acc present)", {.tensor = "history.val_acc", .drop = 1}, CN_OK, "",
         CN_EFORMAT, "history.val_acc is missing"},
        {"history.loss as I32", {.tensor = "history.loss", .ndim = 1, .shape = {6}, .as_i32 = 1}, CN_OK, "",
         CN_EFORMAT, "history.loss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = rewrite(ck, f, &cases[i].e);
        if (!check_true(cases[i].what, rc == CN_OK, rc ? cn_ctx_error(ctx) : "rewritten")) continue;
        expect_ck2(cases[i].what, f, cases[i].load_code, cases[i].load_text, cases[i].e.best_ok,
                   cases[i].resume_code, cases[i].resume_text);
    }
    /* a config in the file that would overflow the iteration count: the
     * net loads, the solver refuses it */
    edit e = {.key = "num_epochs", .val = "2000000000"};
    cn_net *net = NULL;
    cn_solver_config cfg;
    int rc = rewrite(ck, f, &e);
    if (!rc) rc = cn_net_load(ctx, &net, f, 0, &cfg);
    cn_solver *s = NULL;
    int rc2 = rc ? rc : cn_solver_new(ctx, &s, net, &ds16, &cfg);
    check_true("num_epochs 2e9 from a checkpoint: cn_solver_new -> CN_EINVAL (no int overflow)",
               rc == CN_OK && rc2 == CN_EINVAL && has("too many iterations") && s == NULL, cn_ctx_error(ctx));
    cn_solver_free(s);
    cn_net_free(net);
    net = NULL;
    s = NULL;
    edit e2 = {.key = "learning_rate", .val = "nan"};
    rc = rewrite(ck, f, &e2);
    if (!rc) rc = cn_net_load(ctx, &net, f, 0, &cfg);
    rc2 = rc ? rc : cn_solver_new(ctx, &s, net, &ds16, &cfg);
    check_true("learning_rate nan from a checkpoint: cn_solver_new -> CN_EINVAL",
               rc == CN_OK && rc2 == CN_EINVAL && has("must be finite") && s == NULL, cn_ctx_error(ctx));
    cn_solver_free(s);
    cn_net_free(net);

    /* a model file (no solver state) cannot be resumed */
    char mf[128];
    path_of(mf, sizeof mf, "model.safetensors");
    rc = cn_net_load(ctx, &net, ck, 1, NULL);
    if (!rc) rc = cn_net_save(ctx, net, mf, NULL, 0);
    cn_net_free(net);
    if (check_true("model file written from the checkpoint's best parameters", rc == CN_OK, cn_ctx_error(ctx)))
        expect_ck("model file (no solver state)", mf, CN_OK, "", CN_EINVAL, "update rule");
}

/* Resume the base checkpoint into runs that differ from it. */
static void test_resume_other_runs(void) {
    struct {
        const char *what, *spec, *rule;
        cn_dtype dt;
        int ntrain, C, H, W;
        int code;
        const char *text;
    } cases[] = {
        {"into the same run (control)", SPEC, "sgd_momentum", CN_F32, 16, 1, 6, 6, CN_OK, ""},
        {"into a run with another spec", "conv2x3-relu-pool2-affine5-relu-affine3", "sgd_momentum", CN_F32, 16, 1,
         6, 6, CN_EINVAL, "differs from this run's"},
        {"into a run with another update rule", SPEC, "adam", CN_F32, 16, 1, 6, 6, CN_EINVAL, "update rule"},
        {"into a float64 run", SPEC, "sgd_momentum", CN_F64, 16, 1, 6, 6, CN_EINVAL, "float32"},
        {"into a run on 1x8x8 images", SPEC, "sgd_momentum", CN_F32, 16, 1, 8, 8, CN_EINVAL, "input"},
        {"into a run with 8 training images (ends at iteration 4)", SPEC, "sgd_momentum", CN_F32, 8, 1, 6, 6,
         CN_EINVAL, "past the end"},
        {"into a run with 32 training images (8 per epoch)", SPEC, "sgd_momentum", CN_F32, 32, 1, 6, 6, CN_EINVAL,
         "iterations per epoch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cn_dataset ds;
        synth(&ds, cases[i].C, cases[i].H, cases[i].W, cases[i].ntrain, 8, 5);
        run r;
        char name[200];
        snprintf(name, sizeof name, "resume %s -> %s", cases[i].what, cn_strerror(cases[i].code));
        int rc = make_run(&r, &ds, cases[i].spec, cases[i].rule, cases[i].dt, 1e-3, 1e-1, 1e-2);
        if (!check_true(name, rc == CN_OK, cn_ctx_error(ctx))) {
            cn_dataset_free(&ds);
            continue;
        }
        snap before;
        take(&before, &r);
        rc = cn_solver_resume(ctx, r.s, ck);
        char note[CN_MAX_NOTE];
        snprintf(note, sizeof note, "%s", rc ? cn_ctx_error(ctx) : "");
        if (cases[i].code == CN_OK) {
            check_true(name, rc == CN_OK && cn_solver_iteration(r.s) == 6, note);
        } else {
            check_true(name, rc == cases[i].code && has(cases[i].text) && has(ck), note);
            snprintf(name, sizeof name, "resume %s: the solver is unchanged", cases[i].what);
            check_true(name, same(&before, &r), "");
        }
        free(before.p);
        free_run(&r);
        cn_dataset_free(&ds);
    }
}

/* ------------------------------------------------------------ net specs */
static void test_specs(void) {
    static const struct {
        const char *spec;
        int C, H, W;
        const char *want;
    } bad[] = {
        {"conv0x3-affine10", 3, 8, 8, "layer 1"},
        {"conv2x0-affine10", 3, 8, 8, "layer 1"},
        {"conv2x3s0-affine10", 3, 8, 8, "stride"},
        {"conv2x3p1000000-affine10", 3, 8, 8, "too large"},
        {"conv1000001x3-affine10", 3, 8, 8, "layer 1 'conv1000001x3': 1000001 is too large"},
        {"conv99999999999999999999x3-affine10", 3, 8, 8, "99999999999999999999 is too large"},
        {"pool0-affine10", 3, 8, 8, "layer 1"},
        {"pool2s0-affine10", 3, 8, 8, "stride"},
        {"pool9-affine10", 3, 8, 8, "does not fit"},
        {"affine0", 3, 8, 8, "0 elements"},
        {"affine1", 3, 8, 8, "at least 2 classes"},
        {"affine1000000-affine1000000", 3, 8, 8, "limit 2^31"},
        {"-affine10", 3, 8, 8, "cannot read layer 1"},
        {"affine10-", 3, 8, 8, "ends with '-'"},
        {"relu", 3, 8, 8, "last layer must be affine"},
        {"bn-bn-affine10", 3, 8, 8, "second norm layer"},
        {"gn0-affine10", 3, 8, 8, "G=0"},
        {"affine8-gn2-affine10", 3, 8, 8, "flattened"},
        {"affine8-pool2-affine10", 3, 8, 8, "flattened"},
        {"conv2x3-relu-affine10x", 3, 8, 8, "cannot read layer 3"},
        {"CONV2x3-affine10", 3, 8, 8, "cannot read layer 1"},
        {"conv2x3 -affine10", 3, 8, 8, "cannot read layer 1"},
        {"affine10", 0, 8, 8, "out of range"},
        {"affine10", 3, -8, 8, "out of range"},
        {"affine10", 4096, 65536, 65536, "2^28"},
        {"relu-affine10", 1, 65536, 65536, "2^28"},
    };
    cn_rng r;
    cn_rng_seed(&r, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_net *net = (cn_net *)&r;
        int rc = cn_net_new(ctx, &net, bad[i].spec, bad[i].C, bad[i].H, bad[i].W, CN_F32, 1e-3, 0, &r);
        char name[200];
        snprintf(name, sizeof name, "spec '%.40s' on (%d,%d,%d) -> CN_EINVAL", bad[i].spec, bad[i].C, bad[i].H,
                 bad[i].W);
        check_true(name, rc == CN_EINVAL && net == NULL && has(bad[i].want), cn_ctx_error(ctx));
        if (rc == CN_OK) cn_net_free(net);
    }
    /* 65 layers; a spec longer than the limit */
    char big[1200] = "";
    for (int i = 0; i < 65; i++) strcat(big, "relu-");
    strcat(big, "affine10");
    cn_net *net = NULL;
    int rc = cn_net_new(ctx, &net, big, 1, 4, 4, CN_F32, 1e-3, 0, &r);
    check_true("spec of 66 layers -> CN_EINVAL (more than 64)", rc == CN_EINVAL && has("more than 64 layers"),
               cn_ctx_error(ctx));
    memset(big, 0, sizeof big);
    for (int i = 0; i < 110; i++) strcat(big, "relu-");
    strcat(big, "affine10");
    rc = cn_net_new(ctx, &net, big, 1, 4, 4, CN_F32, 1e-3, 0, &r);
    check_true("spec of 558 characters -> CN_EINVAL (longer than 511)", rc == CN_EINVAL && has("longer than"),
               cn_ctx_error(ctx));
}

/* ------------------------------------------------------------ data files */
static void test_data_gaps(void) {
    char d[128], p[256];
    path_of(d, sizeof d, "cifar");
    mkdir(d, 0700);
    /* batch 1 of the right size: record 0 label 3, record 2 label 255 */
    snprintf(p, sizeof p, "%s/data_batch_1.bin", d);
    unsigned char rec[3 * 3073];
    memset(rec, 7, sizeof rec);
    rec[0] = 3; rec[3073] = 4; rec[2 * 3073] = 255;
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(rec, 1, sizeof rec, f) != sizeof rec || ftruncate(fileno(f), 30730000L) != 0) {
        check_true("cifar: write the batch", 0, p);
        if (f) fclose(f);
        return;
    }
    fclose(f);
    cn_dataset ds;
    int rc = cn_dataset_load_cifar10(ctx, &ds, d, 2, 1, 0);
    check_true("cifar: label 255 in the val part (record 2) -> CN_EFORMAT naming record and offset",
               rc == CN_EFORMAT && has("record 2") && has("6146") && has("255") && ds.train.x == NULL,
               cn_ctx_error(ctx));
    rc = cn_dataset_load_cifar10(ctx, &ds, d, 2, 0, 0);
    check_true("cifar: the first two records load (control)", rc == CN_OK && ds.train.y[1] == 4,
               cn_ctx_error(ctx));
    if (rc == CN_OK) cn_dataset_free(&ds);
    rc = cn_dataset_load_cifar10(ctx, &ds, d, INT_MAX, INT_MAX, 0);
    check_true("cifar: num_train = num_val = INT_MAX -> CN_EINVAL (no overflow)", rc == CN_EINVAL,
               cn_ctx_error(ctx));
    snprintf(p, sizeof p, "%s/batches.meta.txt", d);
    spit(p, "a\nb\nc\nd\ne\nf\ng\nh\ni\n", 18);
    rc = cn_dataset_load_cifar10(ctx, &ds, d, 2, 0, 0);
    check_true("cifar: batches.meta.txt with 9 names -> CN_EFORMAT", rc == CN_EFORMAT && has("9 class names"),
               cn_ctx_error(ctx));
    spit(p, "", 0);
    rc = cn_dataset_load_cifar10(ctx, &ds, d, 2, 0, 0);
    check_true("cifar: empty batches.meta.txt -> CN_EFORMAT", rc == CN_EFORMAT && has("0 class names"),
               cn_ctx_error(ctx));

    /* MNIST: t10k images of another size; a 2-D label file */
    path_of(d, sizeof d, "mnist");
    mkdir(d, 0700);
    unsigned char img[16 + 3 * 4 * 4], timg[16 + 2 * 3 * 3], lab[8 + 3], tlab[8 + 2], lab2[12 + 3];
    unsigned char hi[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4};
    unsigned char th[16] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
    unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 3}, tlh[8] = {0, 0, 8, 1, 0, 0, 0, 2};
    unsigned char l2h[12] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 1};
    memcpy(img, hi, 16); memset(img + 16, 9, sizeof img - 16);
    memcpy(timg, th, 16); memset(timg + 16, 9, sizeof timg - 16);
    memcpy(lab, lh, 8); lab[8] = 1; lab[9] = 2; lab[10] = 3;
    memcpy(tlab, tlh, 8); tlab[8] = 0; tlab[9] = 1;
    memcpy(lab2, l2h, 12); lab2[12] = 1; lab2[13] = 2; lab2[14] = 3;
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", d); spit(p, img, sizeof img);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", d); spit(p, lab, sizeof lab);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d); spit(p, timg, sizeof timg);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", d); spit(p, tlab, sizeof tlab);
    rc = cn_dataset_load_mnist(ctx, &ds, d, 0, 2, 1, 5);
    check_true("mnist: t10k images 3x3, train 4x4 -> CN_EFORMAT", rc == CN_EFORMAT && has("3x3") && has("4x4"),
               cn_ctx_error(ctx));
    rc = cn_dataset_load_mnist(ctx, &ds, d, 0, 2, 1, 0);
    check_true("mnist: the same without a test split loads (control)", rc == CN_OK && ds.train.n == 2,
               cn_ctx_error(ctx));
    if (rc == CN_OK) cn_dataset_free(&ds);
    rc = cn_dataset_load_mnist(ctx, &ds, d, 0, INT_MAX, INT_MAX, 0);
    check_true("mnist: num_train = num_val = INT_MAX -> CN_EINVAL", rc == CN_EINVAL, cn_ctx_error(ctx));
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", d); spit(p, lab2, sizeof lab2);
    rc = cn_dataset_load_mnist(ctx, &ds, d, 0, 2, 1, 0);
    check_true("mnist: 2-D label file -> CN_EFORMAT", rc == CN_EFORMAT && has("expected 1 (labels)"),
               cn_ctx_error(ctx));
}

/* ------------------------------------------------------------------ images
 * A small valid JPEG whose frame header is edited to declare a huge image:
 * libjpeg fills what the data does not hold with gray, so without the
 * truncation check a 700-byte file "decoded" into a 16000x16000 image
 * (768 MB), and a progressive one made libjpeg zero 1.5 GB of coefficients. */
static size_t small_jpeg(unsigned char **out, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned long n = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, &n);
    c.image_width = 16;
    c.image_height = 16;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char row[16 * 3];
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < 48; i++) row[i] = (unsigned char)(c.next_scanline * 16 + i * 5);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return n;
}

static long maxrss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void test_images(void) {
    for (int prog = 0; prog < 2; prog++) {
        unsigned char *j = NULL;
        size_t n = small_jpeg(&j, prog);
        unsigned char *sof = memmem(j, n, prog ? "\xff\xc2" : "\xff\xc0", 2);
        if (!check_true("jpeg: encoded, frame header found", sof && n > 100, "")) { free(j); continue; }
        char f[128], name[160];
        path_of(f, sizeof f, "big.jpg");
        static const int sides[2] = {16000, 3000};
        for (int k = 0; k < 2; k++) {
            int side = sides[k];
            sof[5] = (unsigned char)(side >> 8); sof[6] = (unsigned char)side;  /* height */
            sof[7] = (unsigned char)(side >> 8); sof[8] = (unsigned char)side;  /* width */
            spit(f, j, n);
            long before = maxrss_mb();
            uint8_t *pix = (uint8_t *)f;
            int h, w, c;
            int rc = cn_image_read(ctx, f, &pix, &h, &w, &c);
            long grew = maxrss_mb() - before;
            /* 16000^2 progressive: over libjpeg's 512 MB limit (CN_ENOMEM);
             * otherwise the data ends long before the image: CN_EFORMAT */
            int want = prog && side == 16000 ? CN_ENOMEM : CN_EFORMAT;
            snprintf(name, sizeof name, "jpeg: %zu-byte %s file declaring %dx%d -> %s, no crash", n,
                     prog ? "progressive" : "baseline", side, side, cn_strerror(want));
            check_true(name, rc == want && pix == NULL && has(f) && (want == CN_ENOMEM ? has("512 MB") : has("truncated")),
                       cn_ctx_error(ctx));
            char note[64];
            snprintf(note, sizeof note, "max RSS grew by %ld MB", grew);
            snprintf(name, sizeof name, "jpeg: ... and memory stays bounded (%s %dx%d)", prog ? "progressive" : "baseline",
                     side, side);
            check_true(name, grew < 200, note);
            if (rc == CN_OK) free(pix);
        }
        sof[5] = 0; sof[6] = 16; sof[7] = 0; sof[8] = 16;
        spit(f, j, n);
        uint8_t *pix = NULL;
        int h, w, c;
        int rc = cn_image_read(ctx, f, &pix, &h, &w, &c);
        snprintf(name, sizeof name, "jpeg: the unedited 16x16 %s file reads (control)", prog ? "progressive" : "baseline");
        check_true(name, rc == CN_OK && h == 16 && w == 16 && c == 3, rc ? cn_ctx_error(ctx) : "");
        free(pix);
        free(j);
    }
}

/* ------------------------------------------------------ numerical faults */
static int file_same(const char *path, const unsigned char *b, size_t n) {
    size_t m;
    unsigned char *now = slurp(path, &m);
    int ok = now && m == n && !memcmp(now, b, n);
    free(now);
    return ok;
}

/* the checkpoint loads and every parameter is finite */
static int ck_finite(const char *path) {
    cn_net *net;
    if (cn_net_load(ctx, &net, path, 0, NULL)) return 0;
    int ok = 1;
    for (int i = 0; i < cn_net_num_params(net); i++) {
        const cn_param *p = cn_net_param_at(net, i);
        for (size_t e = 0; e < p->size; e++)
            ok &= cn_net_dtype(net) == CN_F32 ? isfinite(((float *)p->data)[e]) : isfinite(((double *)p->data)[e]);
    }
    cn_net_free(net);
    return ok;
}

static void test_numerics(void) {
    char f[128];
    path_of(f, sizeof f, "numerics.safetensors");
    size_t n;
    unsigned char *b = slurp(ck, &n);
    spit(f, b, n);

    /* NaN in a weight: the next iteration stops, names itself and W1, and the
     * checkpoint written before is untouched and finite */
    run r;
    int rc = make_run(&r, &ds16, SPEC, "sgd_momentum", CN_F32, 1e-3, 1e-1, 1e-2);
    if (!rc) rc = cn_solver_resume(ctx, r.s, f);
    if (!check_true("numerics: resume the base checkpoint", rc == CN_OK, cn_ctx_error(ctx))) { free(b); return; }
    float *w1 = cn_net_param_get(r.net, "W1")->data;
    w1[3] = NAN;
    rc = cn_solver_save(ctx, r.s, f);
    check_true("NaN in W1: cn_solver_save -> CN_ENUM naming W1, file untouched",
               rc == CN_ENUM && has("W1") && file_same(f, b, n), cn_ctx_error(ctx));
    rc = cn_solver_train(ctx, r.s, NULL, NULL, NULL, f, 1);
    check_true("NaN in W1: training stops with CN_ENUM naming iteration 7 and W1",
               rc == CN_ENUM && has("iteration 7") && has("W1"), cn_ctx_error(ctx));
    check_true("NaN in W1: the last good checkpoint is untouched, loads, all finite",
               file_same(f, b, n) && ck_finite(f), "");
    check_true("NaN in W1: the loss history did not grow", cn_solver_iteration(r.s) == 6, "");
    free_run(&r);

    /* Inf in a bias */
    rc = make_run(&r, &ds16, SPEC, "sgd_momentum", CN_F32, 1e-3, 1e-1, 1e-2);
    if (!rc) rc = cn_solver_resume(ctx, r.s, f);
    if (!rc) {
        ((float *)cn_net_param_get(r.net, "b2")->data)[1] = INFINITY;
        rc = cn_solver_train(ctx, r.s, NULL, NULL, NULL, f, 1);
        check_true("Inf in b2: training stops with CN_ENUM naming iteration 7 and b2",
                   rc == CN_ENUM && has("iteration 7") && has("b2"), cn_ctx_error(ctx));
        check_true("Inf in b2: the checkpoint is untouched", file_same(f, b, n), "");
        free_run(&r);
    }

    /* a finite loss with an infinite gradient (float64): W1 tiny, W2 = +-1e308:
     * scores ~1e299 are finite, dW1 = X^T (dscores W2^T) overflows. The run
     * must stop before the update with the parameters as they were. */
    cn_dataset ds;
    synth(&ds, 2, 3, 3, 16, 8, 9);
    rc = make_run(&r, &ds, "affine5-relu-affine3", "sgd", CN_F64, 0.0, 1e-12, 1e-2);
    if (check_true("gradient overflow: run builds", rc == CN_OK, rc ? cn_ctx_error(ctx) : "")) {
        const cn_param *W2 = cn_net_param_get(r.net, "W2");
        for (size_t e = 0; e < W2->size; e++) ((double *)W2->data)[e] = (e % 2 ? -1e308 : 1e308);
        snap before;
        take(&before, &r);
        double loss = 0;
        rc = cn_solver_step(ctx, r.s, &loss);
        check_true("gradient overflow: CN_ENUM naming iteration 1 and the gradient, with a finite loss",
                   rc == CN_ENUM && has("iteration 1:") && has("gradient of") && !has("loss is nan") &&
                       !has("loss is inf") && !has("loss is -nan"),
                   cn_ctx_error(ctx));
        /* the fused update finds it mid-pass: the run stops (the checkpoint on
         * disk is the last good state), the message names the gradient */
        check_true("gradient overflow: the message says training stopped", has("training stopped"), cn_ctx_error(ctx));
        free(before.p);
        free_run(&r);
    }
    cn_dataset_free(&ds);

    /* a finite data loss whose L2 term overflows (float64): W1 row 0 = 1e200
     * meets an input pixel that is constant (0 after the mean), so the
     * forward pass and the gradients stay finite, but 0.5*reg*sum(W^2) = inf */
    synth(&ds, 2, 3, 3, 16, 8, 9);
    for (int i = 0; i < ds.train.n; i++) ds.train.x[(size_t)i * 18] = 100;
    for (int i = 0; i < ds.val.n; i++) ds.val.x[(size_t)i * 18] = 100;
    ds.mean[0] = 100;
    rc = make_run(&r, &ds, "affine5-relu-affine3", "sgd", CN_F64, 1e-3, 1e-2, 1e-2);
    if (check_true("L2 overflow: run builds", rc == CN_OK, rc ? cn_ctx_error(ctx) : "")) {
        double *W1 = cn_net_param_get(r.net, "W1")->data; /* (18, 5): row 0 is pixel 0 */
        for (int j = 0; j < 5; j++) W1[j] = 1e200;
        double loss = 0;
        rc = cn_solver_step(ctx, r.s, &loss);
        check_true("L2 overflow: CN_ENUM naming iteration 1, the L2 term and W1 (the largest weight)",
                   rc == CN_ENUM && has("iteration 1:") && has("L2") && has("W1"), cn_ctx_error(ctx));
        free_run(&r);
    }
    cn_dataset_free(&ds);

    /* an update that overflows float32 (learning rate 1e300): stops at once */
    rc = make_run(&r, &ds16, SPEC, "sgd", CN_F32, 1e-3, 1e-1, 1e300);
    if (check_true("huge learning rate: run builds", rc == CN_OK, rc ? cn_ctx_error(ctx) : "")) {
        rc = cn_solver_train(ctx, r.s, NULL, NULL, NULL, f, 1);
        check_true("learning rate 1e300: CN_ENUM at iteration 1, a non-finite sgd update, naming a parameter",
                   rc == CN_ENUM && has("iteration 1:") && has("non-finite update in the sgd step") && has("parameter"),
                   cn_ctx_error(ctx));
        check_true("learning rate 1e300: the checkpoint is untouched", file_same(f, b, n), "");
        free_run(&r);
    }
    free(b);
}

int main(void) {
    ctx = cn_ctx_new(1);
    snprintf(dir, sizeof dir, "/tmp/cn_test_hostile_XXXXXX");
    if (!mkdtemp(dir)) {
        check_true("mkdtemp", 0, strerror(errno));
        return check_done();
    }
    make_base();
    test_checkpoint_bytes();
    test_checkpoint_meta();
    test_resume_other_runs();
    test_specs();
    test_data_gaps();
    test_images();
    test_numerics();
    cn_dataset_free(&ds16);
    fx_rm_tree(dir);
    cn_ctx_free(ctx);
    return check_done();
}
