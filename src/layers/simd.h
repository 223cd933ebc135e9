/* simd.h — the one SIMD layer of the library's kernels.
 *
 * Kernel sources live in src/layers/simd/ and are compiled once per
 * instruction-set level and element type (the Makefile's KERN rules):
 *   level 0  generic  16-byte vectors (SSE2, the x86-64 baseline; NEON size)
 *   level 1  avx2     32-byte vectors, FMA          (-mavx2 -mfma)
 *   level 2  avx512   64-byte vectors, FMA          (-mavx512f/vl/dq/bw)
 * with -DCN_SIMD_LEVEL=N and the level's -m flags, so a vector type is never
 * wider than the target's registers: GCC keeps a vector wider than the
 * target's registers on the stack (the AVX2 build of 64-byte tiles ran at 6%
 * of peak). Register files: generic and avx2 have 16 vector registers,
 * avx512 32; every kernel sizes its register tiles per level with
 * CN_SIMD_LEVEL. The level in use is chosen once, when a context is made
 * (cn_ctx_new: the best the CPU has, capped by CN_SIMD=avx2|generic;
 * cn_ctx_set_simd changes it), and the drivers fetch that level's kernel
 * table (KFN(name) below names one level's symbols).
 *
 * This header is for kernel sources only (CN_SIMD_LEVEL defined). */
#ifndef CN_SIMD_H
#define CN_SIMD_H
#include "real.h"
#include <stddef.h>
#include <stdint.h>

#ifndef CN_SIMD_LEVEL
#error "simd.h is included by kernel sources compiled with -DCN_SIMD_LEVEL=0|1|2"
#endif

#if CN_SIMD_LEVEL == 2
#if !defined(__AVX512F__) || !defined(__FMA__)
#error "CN_SIMD_LEVEL 2 needs -mavx512f -mfma"
#endif
#define VBYTES 64
#define KSFX avx512
#elif CN_SIMD_LEVEL == 1
#if !defined(__AVX2__) || !defined(__FMA__)
#error "CN_SIMD_LEVEL 1 needs -mavx2 -mfma"
#endif
#define VBYTES 32
#define KSFX avx2
#else
#define VBYTES 16
#define KSFX generic
#endif

#define VL ((int)(VBYTES / sizeof(real))) /* lanes of one vreal */
#ifdef CN_REAL_F64 /* the same, for the preprocessor */
#define VLN (VBYTES / 8)
#else
#define VLN (VBYTES / 4)
#endif
typedef real vreal __attribute__((vector_size(VBYTES)));
#ifdef CN_REAL_F64
typedef int64_t vmask __attribute__((vector_size(VBYTES)));
#else
typedef int32_t vmask __attribute__((vector_size(VBYTES)));
#endif

/* unaligned load/store (memcpy keeps it free of aliasing questions) */
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(v))
#define INLINE static inline __attribute__((always_inline))

/* KFN(cn__conv_kern) -> cn__conv_kern_avx2_f32 */
#ifdef CN_REAL_F64
#define KTYPE f64
#else
#define KTYPE f32
#endif
#define KFN_(name, lvl, type) name##_##lvl##_##type
#define KFN__(name, lvl, type) KFN_(name, lvl, type)
#define KFN(name) KFN__(name, KSFX, KTYPE)

/* sum of the lanes, in lane order (a fixed order: bit-identical runs) */
INLINE real hsum_lanes(vreal v) {
    real s = 0;
    for (int l = 0; l < VL; l++) s += v[l];
    return s;
}

#endif
