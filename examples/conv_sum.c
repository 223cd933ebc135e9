/* conv_sum.c — the smallest program against an installed libconvnet:
 *   cc conv_sum.c $(pkg-config --cflags --libs convnet) -o conv_sum
 * A 3x3 filter of ones over a 5x5 image holding 0..24 (no padding, stride 1)
 * gives the nine 3x3 window sums; the program prints them, one line. */
#include <convnet.h>
#include <stdio.h>

int main(void) {
    float x[25], w[9], b[1] = {0}, out[9];
    for (int i = 0; i < 25; i++) x[i] = (float)i;
    for (int i = 0; i < 9; i++) w[i] = 1;
    cn_ctx *ctx = cn_ctx_new(1);
    if (!ctx) { fprintf(stderr, "conv_sum: out of memory\n"); return 1; }
    cn_conv_shape s = {.N = 1, .C = 1, .H = 5, .W = 5, .F = 1, .HH = 3, .WW = 3, .stride = 1, .pad = 0};
    if (cn_conv_forward_f32(ctx, out, x, w, b, &s)) {
        fprintf(stderr, "conv_sum: %s\n", cn_ctx_error(ctx));
        cn_ctx_free(ctx);
        return 1;
    }
    printf("convnet %d.%d conv 3x3 window sums:", CN_VERSION_MAJOR, CN_VERSION_MINOR);
    for (int i = 0; i < 9; i++) printf(" %g", out[i]);
    printf("\n");
    cn_ctx_free(ctx);
    return 0;
}
