/* augment.h — internal: one image moved by a shift and a mirror, for any
 * element size (src/augment.c; used by the test-time augmentation in
 * src/layers/tta.c). */
#ifndef CN_AUGMENT_H
#define CN_AUGMENT_H
#include <stddef.h>

/* dst[C,H,W] from src[C,H,W]: dst(c, i, j) = src(c, i + dy, j' + dx) with
 * j' = W-1-j when flip (mirror first, then shift: the crop of the padded
 * mirrored image), outside pixels zero (reflect = 0) or mirrored without
 * repeating the edge (reflect = 1; |dy| < H, |dx| < W). esz: bytes per
 * element; zero is all-zero bytes (0, 0.0f, 0.0). */
void cn__shift_image(void *dst, const void *src, size_t esz, int C, int H, int W, int dy, int dx,
                     int flip, int reflect);
#endif
