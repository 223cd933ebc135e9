/* fuzz_image.c — PNG and JPEG reading (cn_image_read) on arbitrary bytes.
 * An image that reads must have a sane size and every pixel readable; it is
 * then resized (every source pixel is read) to check the buffer's extent,
 * and fitted to a net's input as `convnet predict` does (cn_image_fit). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ctx *ctx = fz_ctx();
    char path[320];
    fz_path(path, sizeof path, "image", "in.img");
    fz_write(path, data, size);
    uint8_t *pix = (uint8_t *)1;
    int h = -1, w = -1, c = -1;
    int rc = cn_image_read(ctx, path, &pix, &h, &w, &c);
    fz_check_error(rc);
    if (rc) {
        if (pix) abort(); /* *pix is NULL after a failure */
        return 0;
    }
    if (!pix || h < 1 || w < 1 || h > 16384 || w > 16384 || (c != 1 && c != 3)) abort();
    size_t n = (size_t)h * w * c;
    const volatile uint8_t *p = pix;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc += p[i];
    (void)acc;
    uint8_t small[8 * 8 * 3];
    if (cn_image_resize(ctx, small, 8, 8, pix, h, w, c) != CN_OK) abort();
    /* what `convnet predict` does next: fit to a net's input, both channel
     * counts (a shrink from large images, an enlargement from tiny ones) */
    uint8_t fit[3 * 32 * 32];
    if (cn_image_fit(ctx, fit, 3, 32, 32, pix, h, w, c) != CN_OK) abort();
    if (cn_image_fit(ctx, fit, 1, 28, 28, pix, h, w, c) != CN_OK) abort();
    free(pix);
    return 0;
}
