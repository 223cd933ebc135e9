/* cli_common.c — what every subcommand shares: flag parsing (--name VALUE,
 * --name=VALUE, -o FILE), the error exit, and reading a --data spec. */
#include "cli.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int die(cn_ctx *ctx, const char *what) {
    fflush(stdout); /* the log so far lands above the message when both go to one pipe */
    fprintf(stderr, "convnet: %s%s%s\n", what ? what : "", what && ctx ? ": " : "", ctx ? cn_ctx_error(ctx) : "");
    return 1;
}

/* ---- flag parsing: --name VALUE or --name=VALUE ------------------------- */
void flags_help(const char *cmd, const flag *flags, int nflags, const char *usage) {
    printf("usage: convnet %s %s\n", cmd, usage);
    int net = 0;
    for (int f = 0; f < nflags; f++) {
        printf("  --%-20s %s\n", flags[f].name, flags[f].help);
        net |= !strcmp(flags[f].name, "net");
    }
    if (net) { /* the grammar, from the library's table of layer kinds */
        printf("net spec: layers joined by '-', ending with the affine that gives the class scores:\n");
        const char *syn, *help;
        for (int k = 0; (syn = cn_spec_kind(k, &help)); k++) printf("  %-28s %s\n", syn, help);
    }
}

int parse_flags(const char *cmd, int argc, char **argv, flag *flags, int nflags,
                const char **positional, int *npos, int maxpos, const char *usage) {
    int np = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            flags_help(cmd, flags, nflags, usage);
            exit(0);
        }
        if (!strncmp(a, "--", 2) || (a[0] == '-' && a[1] && strcmp(a, "-o") && !isdigit((unsigned char)a[1]))) {
            const char *name = a[1] == '-' ? a + 2 : a + 1;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int found = -1;
            for (int f = 0; f < nflags; f++)
                if (strlen(flags[f].name) == len && !strncmp(flags[f].name, name, len)) found = f;
            if (found < 0) {
                fprintf(stderr, "convnet %s: unknown flag '%s'\nusage: convnet %s %s (see --help)\n", cmd, a, cmd, usage);
                exit(2);
            }
            flag *fl = &flags[found];
            if (fl->kind == 'b') { *(int *)fl->dst = 1; continue; }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) { fprintf(stderr, "convnet %s: flag --%s needs a value\n", cmd, fl->name); exit(2); }
            char *end;
            errno = 0;
            if (fl->kind == 'i') {
                long v = strtol(val, &end, 10);
                if (*end || end == val || errno || v < -2147483647L || v > 2147483647L) {
                    fprintf(stderr, "convnet %s: --%s expects an integer, got '%s'\n", cmd, fl->name, val);
                    exit(2);
                }
                *(int *)fl->dst = (int)v;
            } else if (fl->kind == 'd') {
                double v = strtod(val, &end);
                if (*end || end == val || !isfinite(v)) {
                    fprintf(stderr, "convnet %s: --%s expects a number, got '%s'\n", cmd, fl->name, val);
                    exit(2);
                }
                *(double *)fl->dst = v;
            } else {
                *(const char **)fl->dst = val;
            }
        } else if (!strcmp(a, "-o")) {
            /* -o FILE is handled by the caller's flag table as "o" */
            int found = -1;
            for (int f = 0; f < nflags; f++) if (!strcmp(flags[f].name, "o")) found = f;
            if (found < 0 || i + 1 >= argc) { fprintf(stderr, "convnet %s: unexpected -o\n", cmd); exit(2); }
            *(const char **)flags[found].dst = argv[++i];
        } else {
            if (np >= maxpos) {
                fprintf(stderr, "convnet %s: unexpected argument '%s'\nusage: convnet %s %s\n", cmd, a, cmd, usage);
                exit(2);
            }
            positional[np++] = a;
        }
    }
    if (npos) *npos = np;
    return 0;
}

int load_data(cn_ctx *ctx, cn_dataset *ds, const char *spec, int ntrain, int nval, int ntest) {
    if (!spec) spec = "fashion-mnist";
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *dir = colon ? colon + 1 : NULL;
    if (len == 7 && !strncmp(spec, "cifar10", 7)) {
        if (!dir) return cn_error(ctx, CN_EINVAL, "--data cifar10 needs a directory: cifar10:DIR");
        return cn_dataset_load_cifar10(ctx, ds, dir, ntrain, nval, ntest);
    }
    if (len == 13 && !strncmp(spec, "fashion-mnist", 13)) {
        if (!dir && access(DEFAULT_FASHION, R_OK))
            return cn_error(ctx, CN_EIO, "Fashion-MNIST is not installed (%s: %s); install the Debian package: "
                            "apt-get install dataset-fashion-mnist (or give --data fashion-mnist:DIR)",
                            DEFAULT_FASHION, strerror(errno));
        int rc = cn_dataset_load_mnist(ctx, ds, dir ? dir : DEFAULT_FASHION, 1, ntrain, nval, ntest);
        if (rc == CN_EIO) { /* a missing or unreadable file: say where the data set comes from */
            char msg[600];
            snprintf(msg, sizeof msg, "%s", cn_ctx_error(ctx));
            rc = cn_error(ctx, rc, "%s (Fashion-MNIST comes in the Debian package dataset-fashion-mnist, "
                          "installed in " DEFAULT_FASHION ")", msg);
        }
        return rc;
    }
    if (len == 5 && !strncmp(spec, "mnist", 5)) {
        if (!dir) return cn_error(ctx, CN_EINVAL, "--data mnist needs a directory: mnist:DIR");
        return cn_dataset_load_mnist(ctx, ds, dir, 0, ntrain, nval, ntest);
    }
    return cn_error(ctx, CN_EINVAL, "--data '%s': expected cifar10:DIR, fashion-mnist[:DIR] or mnist:DIR", spec);
}

int data_shape(const char *spec, int *C, int *H, int *W) {
    if (!spec) spec = "fashion-mnist";
    if (!strncmp(spec, "cifar10", 7) && (!spec[7] || spec[7] == ':')) { *C = 3; *H = 32; *W = 32; return 1; }
    if ((!strncmp(spec, "fashion-mnist", 13) && (!spec[13] || spec[13] == ':')) ||
        (!strncmp(spec, "mnist", 5) && (!spec[5] || spec[5] == ':'))) { *C = 1; *H = 28; *W = 28; return 1; }
    return 0;
}

/* the CLI's figures (train's final line, eval) in batches of 100 */
int split_accuracy(cn_ctx *ctx, cn_net *net, const cn_dataset *ds, const cn_split *sp, int tta, double *acc) {
    return cn_net_accuracy_tta(ctx, net, sp, ds->mean, NULL, sp->n, 100, tta, NULL, NULL, acc);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
