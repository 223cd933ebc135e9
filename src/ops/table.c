/* ops/table.c — the table of layer kinds (ops.h), in the order the spec
 * grammar lists them. A new kind is one line here. */
#include "../layers/real.h"
#include "../ops.h"

#ifndef CN_REAL_F64
extern const cn_opdef cn__op_bn, cn__op_gn, cn__op_ln, cn__op_gelu, cn__op_gpool,
    cn__op_scale, cn__op_whiten;

const cn_opdef *const cn__op_table[] = {
    &cn__op_conv, &cn__op_pool, &cn__op_affine, &cn__op_relu, &cn__op_bn, &cn__op_gn, &cn__op_ln, &cn__op_gelu,
    &cn__op_gpool, &cn__op_scale, &cn__op_whiten, NULL,
};
#endif
