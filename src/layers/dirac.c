/* dirac.c — identity (dirac) initialisation of conv filters, as
 * torch.nn.init.dirac_ applied to the first min(F, C) filters (airbench's
 * init of its 3x3 convs): filter f < min(F, C) becomes the identity on
 * channel f (1 at the kernel centre (HH/2, WW/2), 0 elsewhere), so the conv
 * starts by passing channel f through; the other filters keep their values. */
#include "real.h"

int FN(cn_conv_init_dirac)(cn_ctx *ctx, real *w, int F, int C, int HH, int WW) {
    if (!w) return cn_error(ctx, CN_EINVAL, "%s: w is NULL", __func__);
    if (F <= 0 || C <= 0 || HH <= 0 || WW <= 0)
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got F=%d C=%d HH=%d WW=%d",
                      __func__, F, C, HH, WW);
    const size_t K = (size_t)HH * WW, fsz = (size_t)C * K;
    if (!cn__mul(cn__mul((size_t)F, fsz), sizeof(real)))
        return cn_error(ctx, CN_ENOMEM, "%s: F=%d C=%d HH=%d WW=%d is beyond the size limits",
                      __func__, F, C, HH, WW);
    const int m = F < C ? F : C;
    for (int f = 0; f < m; f++) {
        real *wf = w + (size_t)f * fsz; /* [C, HH, WW] */
        memset(wf, 0, sizeof(real) * fsz);
        wf[(size_t)f * K + (size_t)(HH / 2) * WW + WW / 2] = 1;
    }
    return CN_OK;
}
