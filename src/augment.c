/* augment.c — data augmentation deterministic from a seed (convnet.h):
 * each sample's shift and flip come from splitmix64 of (seed, epoch, key),
 * counter based, so neither the batch order nor the thread count changes a
 * sample's transform. The pixels are only moved (never computed), so one
 * byte-level routine serves uint8, float and double. */
#include "internal.h"
#include "augment.h"
#include <limits.h>

/* splitmix64's finaliser: a bijection of u64 with full avalanche. */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Reflect an index into [0, n) without repeating the edge (|i| < n - 1 + n). */
static inline int reflect_ix(int i, int n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

/* dst row from src row through map[j] (the source column, -1: zero) */
#define GATHER(T)                                                                   \
    do {                                                                            \
        const T *sr = (const T *)srow;                                              \
        T *dr = (T *)drow;                                                          \
        for (int j = 0; j < W; j++) dr[j] = map[j] < 0 ? (T)0 : sr[map[j]];          \
    } while (0)

void cn__shift_image(void *dst, const void *src, size_t esz, int C, int H, int W, int dy, int dx,
                     int flip, int reflect) {
    const size_t plane = (size_t)H * W * esz;
    /* The source column of every output column, once per image (flip or
     * reflect: the per-element path below is ~20x slower); images wider
     * than the buffer take that path. */
    int mapbuf[1024], *map = NULL;
    if ((flip || reflect) && W <= 1024 && (esz == 1 || esz == 4 || esz == 8)) {
        map = mapbuf;
        for (int j = 0; j < W; j++) {
            int sj = j + dx;
            if (sj < 0 || sj >= W) {
                if (!reflect) {
                    map[j] = -1;
                    continue;
                }
                sj = reflect_ix(sj, W);
            }
            map[j] = flip ? W - 1 - sj : sj;
        }
    }
    for (int c = 0; c < C; c++) {
        const char *s = (const char *)src + c * plane;
        char *d = (char *)dst + c * plane;
        for (int i = 0; i < H; i++) {
            int si = i + dy;
            char *drow = d + (size_t)i * W * esz;
            if (si < 0 || si >= H) {
                if (!reflect) {
                    memset(drow, 0, (size_t)W * esz);
                    continue;
                }
                si = reflect_ix(si, H);
            }
            const char *srow = s + (size_t)si * W * esz;
            if (!flip && !reflect) { /* the in-range run in one copy, zeros around */
                int j0 = dx < 0 ? -dx : 0, j1 = dx > 0 ? W - dx : W; /* dst cols [j0, j1) */
                if (j0 > W) j0 = W;
                if (j1 < j0) j1 = j0;
                memset(drow, 0, (size_t)j0 * esz);
                memcpy(drow + (size_t)j0 * esz, srow + (size_t)(j0 + dx) * esz,
                       (size_t)(j1 - j0) * esz);
                memset(drow + (size_t)j1 * esz, 0, (size_t)(W - j1) * esz);
                continue;
            }
            if (map) { /* element-typed gather through the column map */
                switch (esz) {
                case 1: GATHER(uint8_t); continue;
                case 4: GATHER(uint32_t); continue;
                case 8: GATHER(uint64_t); continue;
                default: break;
                }
            }
            for (int j = 0; j < W; j++) {
                int sj = j + dx;
                if (sj < 0 || sj >= W) {
                    if (!reflect) {
                        memset(drow + (size_t)j * esz, 0, esz);
                        continue;
                    }
                    sj = reflect_ix(sj, W);
                }
                if (flip) sj = W - 1 - sj;
                memcpy(drow + (size_t)j * esz, srow + (size_t)sj * esz, esz);
            }
        }
    }
}

static int check_aug(cn_ctx *ctx, const char *who, const cn_augment *a) {
    if (!a) return cn_error(ctx, CN_EINVAL, "%s: augment parameters are NULL", who);
    if (a->pad < 0 || a->pad > 1024)
        return cn_error(ctx, CN_EINVAL, "%s: pad=%d must be in [0, 1024]", who, a->pad);
    if (a->pad_mode != CN_PAD_ZERO && a->pad_mode != CN_PAD_REFLECT)
        return cn_error(ctx, CN_EINVAL, "%s: pad_mode=%d must be 0 (zero) or 1 (reflect)", who,
                      (int)a->pad_mode);
    if (a->flip != CN_FLIP_NONE && a->flip != CN_FLIP_RANDOM && a->flip != CN_FLIP_ALTERNATE)
        return cn_error(ctx, CN_EINVAL, "%s: flip=%d must be 0 (none), 1 (random) or 2 (alternate)",
                      who, (int)a->flip);
    return CN_OK;
}

/* The draw without checks. The per-(epoch, key) hash gives the shift and
 * the random flip; the alternating flip's half comes from (seed, key) only.
 * Shifts use h mod (2 pad + 1) on 21-bit fields: bias < 2^-10 for pad <=
 * 1024 (none for the small pads used). */
static void draw(int *dy, int *dx, int *flip, const cn_augment *a, long epoch, int64_t key) {
    uint64_t base = mix64(a->seed ^ 0x5851f42d4c957f2dULL);
    uint64_t h = mix64(mix64(base + (uint64_t)epoch) ^ (uint64_t)key);
    uint32_t span = 2u * (uint32_t)a->pad + 1;
    *dy = a->pad ? (int)((h & 0x1fffff) % span) - a->pad : 0;
    *dx = a->pad ? (int)(((h >> 21) & 0x1fffff) % span) - a->pad : 0;
    switch (a->flip) {
    case CN_FLIP_RANDOM: *flip = (int)(h >> 63); break;
    case CN_FLIP_ALTERNATE: {
        uint64_t g = mix64(mix64(base ^ 0xa0761d6478bd642fULL) ^ (uint64_t)key);
        *flip = (int)((g >> 63) ^ ((uint64_t)epoch & 1));
        break;
    }
    default: *flip = 0;
    }
}

int cn_augment_draw(cn_ctx *ctx, int *dy, int *dx, int *flip, const cn_augment *a, long epoch,
                    int64_t key) {
    int rc = check_aug(ctx, __func__, a);
    if (rc) return rc;
    if (!dy || !dx || !flip) return cn_error(ctx, CN_EINVAL, "%s: NULL output", __func__);
    draw(dy, dx, flip, a, epoch, key);
    return CN_OK;
}

static int augment(cn_ctx *ctx, const char *who, void *dst, const void *src, size_t esz,
                   const int64_t *keys, const cn_augment *a, long epoch, int N, int C, int H,
                   int W) {
    int rc = check_aug(ctx, who, a);
    if (rc) return rc;
    if (!dst || !src) return cn_error(ctx, CN_EINVAL, "%s: NULL buffer", who);
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0)
        return cn_error(ctx, CN_EINVAL, "%s: shapes must be positive, got N=%d C=%d H=%d W=%d", who, N,
                      C, H, W);
    const size_t img = cn__mul(cn__mul(cn__mul((size_t)C, (size_t)H), (size_t)W), esz);
    const size_t all = cn__mul(img, (size_t)N);
    if (!img || !all || (size_t)H * W > INT_MAX)
        return cn_error(ctx, CN_ENOMEM, "%s: N=%d C=%d H=%d W=%d is beyond the size limits", who, N,
                      C, H, W);
    const char *s = src, *d = dst;
    if (s < d + all && d < s + all)
        return cn_error(ctx, CN_EINVAL, "%s: dst and src overlap (augmentation is not in place)", who);
    if (a->pad_mode == CN_PAD_REFLECT && (a->pad >= H || a->pad >= W))
        return cn_error(ctx, CN_EINVAL, "%s: reflect padding needs pad=%d < H=%d and < W=%d", who,
                      a->pad, H, W);
#pragma omp parallel for schedule(static) num_threads(cn__nt(ctx)) if ((size_t)N * img > 65536)
    for (int n = 0; n < N; n++) {
        int dy, dx, flip;
        draw(&dy, &dx, &flip, a, epoch, keys ? keys[n] : n);
        cn__shift_image((char *)dst + (size_t)n * img, (const char *)src + (size_t)n * img, esz, C,
                        H, W, dy, dx, flip, a->pad_mode == CN_PAD_REFLECT);
    }
    return CN_OK;
}

int cn_augment_batch_u8(cn_ctx *ctx, uint8_t *dst, const uint8_t *src, const int64_t *keys,
                        const cn_augment *a, long epoch, int N, int C, int H, int W) {
    return augment(ctx, __func__, dst, src, 1, keys, a, epoch, N, C, H, W);
}
int cn_augment_batch_f32(cn_ctx *ctx, float *dst, const float *src, const int64_t *keys,
                         const cn_augment *a, long epoch, int N, int C, int H, int W) {
    return augment(ctx, __func__, dst, src, sizeof(float), keys, a, epoch, N, C, H, W);
}
int cn_augment_batch_f64(cn_ctx *ctx, double *dst, const double *src, const int64_t *keys,
                         const cn_augment *a, long epoch, int N, int C, int H, int W) {
    return augment(ctx, __func__, dst, src, sizeof(double), keys, a, epoch, N, C, H, W);
}

/* ---- test-time augmentation: the variants and their weights ------------- */
int cn_tta_count(int level) { return level == 0 ? 1 : level == 1 ? 2 : level == 2 ? 6 : -1; }

int cn_tta_weights(cn_ctx *ctx, double *w, int level) {
    int v = cn_tta_count(level);
    if (v < 0) return cn_error(ctx, CN_EINVAL, "tta_weights: level=%d must be 0, 1 or 2", level);
    if (!w) return cn_error(ctx, CN_EINVAL, "tta_weights: w is NULL");
    /* airbench: level 1 = (net(x) + net(mirror x)) / 2; level 2 = half that
     * plus half the mean of the mirrored pair at each of the two shifts. */
    static const double w0[1] = {1}, w1[2] = {0.5, 0.5},
                        w2[6] = {0.25, 0.25, 0.125, 0.125, 0.125, 0.125};
    memcpy(w, level == 0 ? w0 : level == 1 ? w1 : w2, sizeof(double) * v);
    return CN_OK;
}

int cn_epoch_order(cn_ctx *ctx, int32_t *perm, uint64_t seed, long epoch, int n) {
    if (!perm || n <= 0) return cn_error(ctx, CN_EINVAL, "cn_epoch_order: perm %p, n %d (need a buffer and n > 0)", (void *)perm, n);
    if (epoch < 0) return cn_error(ctx, CN_EINVAL, "cn_epoch_order: epoch %ld must be >= 0", epoch);
    cn_rng r;
    cn_rng_seed(&r, mix64(seed ^ mix64((uint64_t)epoch + 0x5eed)));
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cn_rng_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return CN_OK;
}
