/* convnet — the command-line tool's entry: one table of subcommands (name,
 * function, one line of help), from which main() dispatches and the usage
 * text is written. The subcommands live in their own files (cli.h); only
 * the CLI prints or exits, never the library. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"train", cmd_train, "train a net (the original's ThreeLayerConvNet by default) and save it"},
    {"eval", cmd_eval, "accuracy of a saved model on a split"},
    {"gradcheck", cmd_gradcheck, "float64 numeric gradient check of every parameter of a small net"},
    {"filters", cmd_filters, "the first-layer filters of a model as a picture"},
    {"edges", cmd_edges, "the original's convolution demo on photos"},
    {"describe", cmd_describe, "layers, shapes and parameters of a net spec"},
    {"predict", cmd_predict, "classify JPEG/PNG images with a trained model (top-k classes)"},
    {"export", cmd_export, "write a trained model as ONNX (preprocessing and softmax included)"},
    {"info", cmd_info, "what this build detected (SIMD, BLAS, threads)"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fprintf(f, "usage: convnet COMMAND [flags]   (convnet COMMAND --help for its flags)\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    fprintf(stderr, "convnet: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
