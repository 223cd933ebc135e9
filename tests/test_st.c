/* test_st.c — tensor files: round trip, bit flips, truncation, hostile
 * headers, foreign safetensors files, numpy interoperability. */
#include "fixtures.h"
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static void pathof(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0) && ok;
}


static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A safetensors file from a header text (padded with spaces to 8) and data. */
static int write_st(const char *path, const char *hdr, const void *data, size_t nd) {
    size_t hl = strlen(hdr), n = (hl + 7) / 8 * 8;
    unsigned char *b = xmalloc(8 + n + nd);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, hdr, hl);
    memset(b + 8 + hl, ' ', n - hl);
    if (nd) memcpy(b + 8 + n, data, nd);
    int ok = write_bytes(path, b, 8 + n + nd);
    free(b);
    return ok;
}

/* Load and return the status (freeing what loaded). */
static int try_load(cn_ctx *ctx, const char *path) {
    cn_st *st = NULL;
    int rc = cn_st_load(ctx, path, &st);
    cn_st_free(st);
    return rc;
}

static int same_tensor(const cn_tensor *a, const cn_tensor *b) {
    if (!a || !b) return 0;
    if (strcmp(a->name, b->name) || a->is_i32 != b->is_i32 || a->ndim != b->ndim) return 0;
    if (!a->is_i32 && a->dtype != b->dtype) return 0;
    size_t n = a->is_i32 ? 4 : a->dtype == CN_F64 ? 8 : 4;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] != b->shape[d]) return 0;
        n *= (size_t)a->shape[d];
    }
    return n == 0 || memcmp(a->data, b->data, n) == 0;
}

/* ---------------------------------------------------------------------- */

static const char *META_QUOTE = "say \"hi\" \\ back\\slash\nnew line\ttab \x01\x1f ctl /";
static const char *META_UTF8 = "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82";
static const char *ODD_NAME = "we\"ird\\name\n\xc3\xa9";

static void test_round_trip(cn_ctx *ctx) {
    cn_rng r;
    cn_rng_seed(&r, 7);
    static float w[2 * 3 * 2 * 2], odd[3], empty[1];
    static double b[3], s64;
    static int32_t lab[5], s32;
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) w[i] = (float)cn_rng_normal(&r);
    for (int i = 0; i < 3; i++) odd[i] = (float)cn_rng_normal(&r);
    for (int i = 0; i < 3; i++) b[i] = cn_rng_normal(&r);
    for (int i = 0; i < 5; i++) lab[i] = (int32_t)cn_rng_u64(&r);
    w[0] = -0.0f;
    b[1] = 1e-310; /* subnormal */
    s64 = 3.141592653589793;
    s32 = -123456789;
    cn_tensor t[] = {
        {"W1", CN_F32, 0, 4, {2, 3, 2, 2}, w},
        {ODD_NAME, CN_F32, 0, 1, {3}, odd},   /* 12 bytes: next one unaligned */
        {"b1", CN_F64, 0, 1, {3}, b},
        {"labels", CN_F32, 1, 1, {5}, lab},
        {"scalar64", CN_F64, 0, 0, {0}, &s64},
        {"scalar32", CN_F32, 1, 0, {0}, &s32},
        {"empty", CN_F32, 0, 2, {0, 3}, empty},
    };
    int nt = (int)(sizeof t / sizeof *t);
    cn_meta m[] = {{"spec", "conv32-relu-pool2-affine100-relu-affine10"},
                   {"quote", META_QUOTE},
                   {"utf8", META_UTF8},
                   {"k\"ey\\", ""}};
    char path[128], tmp[140];
    pathof(path, sizeof path, "rt.st");
    int rc = cn_st_save(ctx, path, t, nt, m, 4);
    check_true("round trip: save", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    check_true("round trip: no PATH.tmp.XXXXXX left behind", count_tmp_files(path, tmp, sizeof tmp) == 0, tmp);
    size_t fsz = 0;
    unsigned char *raw = fx_read_file(path, &fsz);
    uint64_t N = 0;
    for (int i = 0; i < 8; i++) N |= (uint64_t)raw[i] << (8 * i);
    check_true("round trip: header length is a multiple of 8", N % 8 == 0 && 8 + N <= fsz, "");
    free(raw);

    cn_st *st = NULL;
    rc = cn_st_load(ctx, path, &st);
    check_true("round trip: load", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    if (rc) return;
    check_true("round trip: count", cn_st_num_tensors(st) == nt, "");
    int all = 1, order = 1, aligned = 1;
    for (int i = 0; i < nt; i++) {
        all &= same_tensor(&t[i], cn_st_tensor_get(st, t[i].name));
        const cn_tensor *a = cn_st_tensor_at(st, i);
        order &= a && !strcmp(a->name, t[i].name);
        aligned &= a && ((uintptr_t)a->data % 8) == 0;
    }
    check_true("round trip: every tensor bit-exact (F32/F64/I32, 0-d, 4-d, empty)", all, "");
    check_true("round trip: cn_st_tensor_at keeps the order written", order, "");
    check_true("round trip: every data pointer 8-byte aligned", aligned, "");
    check_true("round trip: escaped tensor name found", cn_st_tensor_get(st, ODD_NAME) != NULL, "");
    check_true("round trip: absent name -> NULL", cn_st_tensor_get(st, "nope") == NULL &&
                   cn_st_tensor_at(st, nt) == NULL && cn_st_tensor_at(st, -1) == NULL, "");
    int meta_ok = 1;
    for (int i = 0; i < 4; i++) {
        const char *v = cn_st_meta(st, m[i].key);
        meta_ok &= v && !strcmp(v, m[i].value);
    }
    check_true("round trip: metadata with quotes, backslash, newline, UTF-8", meta_ok, "");
    const char *crc = cn_st_meta(st, "convnet.crc32");
    check_true("round trip: convnet.format / version / crc32 set",
               cn_st_meta(st, "convnet.format") &&
                   !strcmp(cn_st_meta(st, "convnet.format"), "convnet-checkpoint") &&
                   cn_st_meta(st, "convnet.version") &&
                   !strcmp(cn_st_meta(st, "convnet.version"), "1") && crc &&
                   strlen(crc) == 8 && strspn(crc, "0123456789abcdef") == 8,
               crc ? crc : "(none)");
    check_true("round trip: absent metadata key -> NULL", cn_st_meta(st, "nope") == NULL, "");

    /* save what was loaded (metadata with the reserved keys included): the
     * writer replaces them, and the result is the same file */
    cn_meta m2[16];
    int nm2 = 0;
    const char *keys[] = {"spec", "quote", "convnet.crc32", "utf8", "k\"ey\\",
                          "convnet.format", "convnet.version"};
    for (int i = 0; i < 7; i++) m2[nm2++] = (cn_meta){keys[i], cn_st_meta(st, keys[i])};
    cn_tensor t2[16];
    for (int i = 0; i < nt; i++) t2[i] = *cn_st_tensor_at(st, i);
    char path2[128];
    pathof(path2, sizeof path2, "rt2.st");
    rc = cn_st_save(ctx, path2, t2, nt, m2, nm2);
    cn_st_free(st);
    size_t n1 = 0, n2 = 0;
    unsigned char *f1 = fx_read_file(path, &n1), *f2 = fx_read_file(path2, &n2);
    check_true("re-save of a loaded file (reserved keys passed) is byte-identical",
               rc == CN_OK && f1 && f2 && n1 == n2 && !memcmp(f1, f2, n1), cn_ctx_error(ctx));
    free(f1);
    free(f2);

    /* overwrite an existing file */
    rc = cn_st_save(ctx, path2, t, 1, NULL, 0);
    st = NULL;
    int rc2 = rc ? rc : cn_st_load(ctx, path2, &st);
    check_true("save over an existing file replaces it",
               rc2 == CN_OK && cn_st_num_tensors(st) == 1 && same_tensor(&t[0], cn_st_tensor_at(st, 0)),
               cn_ctx_error(ctx));
    cn_st_free(st);
    remove(path);
    remove(path2);

    /* no tensors */
    rc = cn_st_save(ctx, path, NULL, 0, NULL, 0);
    st = NULL;
    rc2 = rc ? rc : cn_st_load(ctx, path, &st);
    check_true("a file with no tensors round-trips",
               rc2 == CN_OK && cn_st_num_tensors(st) == 0 && cn_st_meta(st, "convnet.crc32"),
               cn_ctx_error(ctx));
    cn_st_free(st);
    remove(path);
}

/* ---------------------------------------------------------------------- */

static void test_writer_errors(cn_ctx *ctx) {
    float x[4] = {1, 2, 3, 4};
    char path[128];
    pathof(path, sizeof path, "bad.st");
    cn_tensor dup[2] = {{"a", CN_F32, 0, 1, {4}, x}, {"a", CN_F32, 0, 1, {4}, x}};
    check_true("save: duplicate tensor names -> CN_EINVAL",
               cn_st_save(ctx, path, dup, 2, NULL, 0) == CN_EINVAL, cn_ctx_error(ctx));
    cn_meta mdup[2] = {{"k", "1"}, {"k", "2"}};
    check_true("save: duplicate metadata keys -> CN_EINVAL",
               cn_st_save(ctx, path, dup, 1, mdup, 2) == CN_EINVAL, cn_ctx_error(ctx));
    cn_tensor five = {"a", CN_F32, 0, 5, {1, 1, 1, 1}, x};
    check_true("save: ndim 5 -> CN_EINVAL", cn_st_save(ctx, path, &five, 1, NULL, 0) == CN_EINVAL,
               cn_ctx_error(ctx));
    cn_tensor neg = {"a", CN_F32, 0, 2, {2, -2}, x};
    check_true("save: negative dim -> CN_EINVAL", cn_st_save(ctx, path, &neg, 1, NULL, 0) == CN_EINVAL,
               cn_ctx_error(ctx));
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = 0;
    cn_tensor lng = {longname, CN_F32, 0, 1, {4}, x};
    check_true("save: 256-byte name -> CN_EINVAL", cn_st_save(ctx, path, &lng, 1, NULL, 0) == CN_EINVAL,
               cn_ctx_error(ctx));
    cn_tensor badutf = {"bad\xff", CN_F32, 0, 1, {4}, x};
    check_true("save: name not UTF-8 -> CN_EINVAL",
               cn_st_save(ctx, path, &badutf, 1, NULL, 0) == CN_EINVAL, cn_ctx_error(ctx));
    check_true("save: nothing written on argument errors", !file_exists(path) && count_tmp_files(path, NULL, 0) == 0, "");

    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.st", dir);
    int rc = cn_st_save(ctx, nodir, dup, 1, NULL, 0);
    check_true("save: missing directory -> CN_EIO naming the path and the error",
               rc == CN_EIO && strstr(cn_ctx_error(ctx), "x.st.tmp.") && strstr(cn_ctx_error(ctx), nodir) &&
                   strstr(cn_ctx_error(ctx), strerror(ENOENT)),
               cn_ctx_error(ctx));
    /* the target is a directory: refused before anything is written, and the
     * directory and its contents stay */
    char sub[140];
    pathof(sub, sizeof sub, "adir");
    mkdir(sub, 0700);
    char inner[160];
    snprintf(inner, sizeof inner, "%s/keep", sub);
    write_bytes(inner, "x", 1);
    rc = cn_st_save(ctx, sub, dup, 1, NULL, 0);
    struct stat sb;
    check_true("save: a directory at PATH -> CN_EIO 'a directory', nothing left behind",
               rc == CN_EIO && strstr(cn_ctx_error(ctx), "a directory") && count_tmp_files(sub, NULL, 0) == 0 &&
                   stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) && file_exists(inner),
               cn_ctx_error(ctx));
    remove(inner);
    rmdir(sub);
}

/* ---------------------------------------------------------------------- */

static void test_reader_io(cn_ctx *ctx) {
    char path[128];
    pathof(path, sizeof path, "missing.st");
    cn_st *st = (cn_st *)1;
    int rc = cn_st_load(ctx, path, &st);
    check_true("load: missing file -> CN_EIO, *out = NULL", rc == CN_EIO && st == NULL,
               cn_ctx_error(ctx));
    check_true("load: a directory -> CN_EIO", try_load(ctx, dir) == CN_EIO, cn_ctx_error(ctx));
}

/* ---------------------------------------------------------------------- */

static void test_flips_and_truncation(cn_ctx *ctx) {
    float a[3] = {1.5f, -2.25f, 3.0f};
    double b[2] = {0.1, -7.0};
    int32_t c[2] = {42, -1};
    cn_tensor t[] = {{"a", CN_F32, 0, 2, {1, 3}, a},
                     {"b", CN_F64, 0, 1, {2}, b},
                     {"c\"", CN_F32, 1, 0, {0}, c}};
    cn_meta m[] = {{"epoch", "3"}, {"s\n", "x\\y"}};
    char path[128], fpath[128];
    pathof(path, sizeof path, "small.st");
    pathof(fpath, sizeof fpath, "flip.st");
    int rc = cn_st_save(ctx, path, t, 3, m, 2);
    check_true("flips: save the small file", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    size_t n = 0;
    unsigned char *orig = fx_read_file(path, &n);
    if (!orig || n < 16) {
        check_true("flips: read the small file back", 0, path);
        free(orig);
        return;
    }
    uint64_t N = 0;
    for (int i = 0; i < 8; i++) N |= (uint64_t)orig[i] << (8 * i);
    size_t hend = 8; /* one past the header's closing brace */
    for (size_t i = 8; i < 8 + N; i++)
        if (orig[i] == '}') hend = i + 1;
    unsigned char *buf = xmalloc(n);
    long flips = 0, caught = 0, caught_data = 0, padding_ok = 0, bad = 0, wrong_code = 0;
    char note[256] = "";
    for (size_t off = 0; off < n; off++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, orig, n);
            buf[off] ^= (unsigned char)(1u << bit);
            if (!write_bytes(fpath, buf, n)) {
                bad++;
                continue;
            }
            flips++;
            cn_st *st = NULL;
            rc = cn_st_load(ctx, fpath, &st);
            if (rc == CN_EFORMAT) {
                caught++;
                if (off >= 8 + N) caught_data++;
            } else if (rc == CN_OK && off >= hend && off < 8 + N) {
                int same = cn_st_num_tensors(st) == 3;
                for (int i = 0; i < 3 && same; i++) same = same_tensor(&t[i], cn_st_tensor_get(st, t[i].name));
                if (same) padding_ok++;
                else bad++;
            } else {
                if (rc != CN_OK) wrong_code++;
                else bad++;
                if (!*note)
                    snprintf(note, sizeof note, "offset %zu bit %d: rc %d %s", off, bit, rc,
                             rc ? cn_ctx_error(ctx) : "(loaded)");
            }
            cn_st_free(st);
        }
    }
    printf("     flips: %ld single-bit flips over %zu bytes: %ld caught (CN_EFORMAT), "
           "%ld in header padding loaded identical data\n",
           flips, n, caught, padding_ok);
    check_true("flips: every bit flip is CN_EFORMAT or a harmless padding flip",
               flips == (long)n * 8 && bad == 0 && wrong_code == 0 && caught + padding_ok == flips,
               note);
    check_true("flips: data-section flips are all caught (checksum)", caught_data == (long)(n - 8 - N) * 8, "");

    /* truncation at every length */
    long trunc_bad = 0;
    note[0] = 0;
    for (size_t len = 0; len < n; len++) {
        write_bytes(fpath, orig, len);
        rc = try_load(ctx, fpath);
        if (rc != CN_EFORMAT) {
            trunc_bad++;
            if (!*note) snprintf(note, sizeof note, "length %zu: rc %d", len, rc);
        }
    }
    check_true("truncation: every shorter length fails with CN_EFORMAT", trunc_bad == 0, note);
    /* an extra byte at the end is also rejected */
    memcpy(buf, orig, n);
    {
        unsigned char *longer = xmalloc(n + 1);
        memcpy(longer, orig, n);
        longer[n] = 0;
        write_bytes(fpath, longer, n + 1);
        free(longer);
    }
    check_true("trailing byte after the data -> CN_EFORMAT", try_load(ctx, fpath) == CN_EFORMAT,
               cn_ctx_error(ctx));
    free(buf);
    free(orig);
    remove(fpath);
    remove(path);
}

/* ---------------------------------------------------------------------- */

typedef struct {
    const char *what, *hdr;
    size_t ndata;
} bad_case;

static void test_hostile_headers(cn_ctx *ctx) {
    char path[128];
    pathof(path, sizeof path, "hostile.st");
    static unsigned char data[64];
    /* raw length fields */
    unsigned char b[32];
    memset(b, ' ', sizeof b);
    for (int i = 0; i < 8; i++) b[i] = 0xff;
    b[8] = '{', b[9] = '}';
    write_bytes(path, b, 16);
    check_true("hostile: N = 2^64-1 -> CN_EFORMAT", try_load(ctx, path) == CN_EFORMAT, cn_ctx_error(ctx));
    memset(b, 0, 8);
    b[3] = 0x10; /* 256 MB */
    write_bytes(path, b, 16);
    check_true("hostile: N = 256 MB in a 16-byte file -> CN_EFORMAT", try_load(ctx, path) == CN_EFORMAT,
               cn_ctx_error(ctx));
    memset(b, 0, 8);
    b[0] = 9;
    write_bytes(path, b, 16);
    check_true("hostile: N one past the end -> CN_EFORMAT", try_load(ctx, path) == CN_EFORMAT,
               cn_ctx_error(ctx));
    memset(b, 0, 8);
    b[0] = 1;
    write_bytes(path, b, 16);
    check_true("hostile: N = 1 -> CN_EFORMAT", try_load(ctx, path) == CN_EFORMAT, cn_ctx_error(ctx));

    static const bad_case cases[] = {
        {"huge shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4},
        {"shape product overflows", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8},
        {"20-digit number", "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4},
        {"negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4},
        {"fractional shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4},
        {"leading zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4},
        {"offsets past the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1000]}}", 4},
        {"offsets b > e", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4},
        {"offsets of 3 numbers", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4},
        {"size mismatch", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"dtype F16", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4},
        {"dtype not a string", "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"ndim 5", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4},
        {"missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4},
        {"unknown key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[]}}", 4},
        {"repeated key", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"nested object", "{\"a\":{\"dtype\":{\"a\":{\"a\":{}}},\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8},
        {"overlapping regions", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"gap between regions", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12},
        {"data not covered to the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8},
        {"trailing garbage", "{}x", 0},
        {"two objects", "{}{}", 0},
        {"not an object", "[1,2]", 0},
        {"unterminated", "{\"a\":{\"dtype\":\"F32\"", 0},
        {"metadata value not a string", "{\"__metadata__\":{\"a\":1}}", 0},
        {"metadata nested", "{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0},
        {"duplicate metadata key", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0},
        {"two __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0},
        {"bad escape", "{\"__metadata__\":{\"a\":\"\\q\"}}", 0},
        {"short \\u escape", "{\"__metadata__\":{\"a\":\"\\u12\"}}", 0},
        {"\\u0000", "{\"__metadata__\":{\"a\":\"x\\u0000y\"}}", 0},
        {"lone high surrogate", "{\"__metadata__\":{\"a\":\"\\ud83d\"}}", 0},
        {"lone low surrogate", "{\"__metadata__\":{\"a\":\"\\ude42\"}}", 0},
        {"raw newline in a string", "{\"__metadata__\":{\"a\":\"x\ny\"}}", 0},
        {"invalid UTF-8", "{\"__metadata__\":{\"a\":\"\xc3\x28\"}}", 0},
        {"overlong UTF-8", "{\"__metadata__\":{\"a\":\"\xc0\xaf\"}}", 0},
        {"UTF-8 surrogate", "{\"__metadata__\":{\"a\":\"\xed\xa0\x80\"}}", 0},
        {"empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"format without crc", "{\"__metadata__\":{\"convnet.format\":\"convnet-checkpoint\"}}", 0},
        {"wrong crc", "{\"__metadata__\":{\"convnet.crc32\":\"00000001\"}}", 0},
    };
    int nc = (int)(sizeof cases / sizeof *cases);
    for (int i = 0; i < nc; i++) {
        char name[128];
        write_st(path, cases[i].hdr, data, cases[i].ndata);
        int rc = try_load(ctx, path);
        snprintf(name, sizeof name, "hostile: %s -> CN_EFORMAT", cases[i].what);
        check_true(name, rc == CN_EFORMAT && strstr(cn_ctx_error(ctx), path) != NULL,
                   cn_ctx_error(ctx));
    }
    /* the correct crc of an empty file with only that key loads; the same in
     * uppercase does not (checked against the real value, computed here) */
    {
        cn_st *st = NULL;
        char hdr[128];
        write_st(path, "{\"__metadata__\":{\"convnet.crc32\":\"00000000\"}}", NULL, 0);
        /* crc32 of nothing is 0: this is the correct checksum */
        int rc = cn_st_load(ctx, path, &st);
        cn_st_free(st);
        check_true("hostile: correct crc of an empty file loads", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
        /* crc of one metadata pair "a\0b\0" */
        unsigned long c = crc32(0, (const unsigned char *)"a\0b\0", 4);
        snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"a\":\"b\",\"convnet.crc32\":\"%08lX\"}}", c);
        write_st(path, hdr, NULL, 0);
        int up = try_load(ctx, path);
        snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"a\":\"b\",\"convnet.crc32\":\"%08lx\"}}", c);
        write_st(path, hdr, NULL, 0);
        int low = try_load(ctx, path);
        check_true("hostile: crc must be lowercase hex (uppercase rejected, lowercase loads)",
                   (c & 0xffffffffUL) != 0 && up == CN_EFORMAT && low == CN_OK, cn_ctx_error(ctx));
    }

    /* name length 255 ok, 256 rejected */
    {
        char hdr[700];
        char nm[300];
        memset(nm, 'x', 256);
        nm[255] = 0;
        snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", nm);
        write_st(path, hdr, data, 4);
        int ok255 = try_load(ctx, path);
        nm[255] = 'x';
        nm[256] = 0;
        snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", nm);
        write_st(path, hdr, data, 4);
        int bad256 = try_load(ctx, path);
        check_true("hostile: 255-byte name loads, 256-byte name -> CN_EFORMAT",
                   ok255 == CN_OK && bad256 == CN_EFORMAT, cn_ctx_error(ctx));
    }
    /* 10000 tensors ok, 10001 rejected */
    {
        size_t cap = 10002 * 64 + 16;
        char *hdr = xmalloc(cap);
        int rcs[2];
        for (int k = 0; k < 2; k++) {
            int cnt = 10000 + k;
            size_t len = 0;
            hdr[len++] = '{';
            for (int i = 0; i < cnt; i++)
                len += (size_t)snprintf(hdr + len, cap - len,
                                        "%s\"t%d\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                                        i ? "," : "", i);
            hdr[len++] = '}';
            hdr[len] = 0;
            write_st(path, hdr, NULL, 0);
            rcs[k] = try_load(ctx, path);
        }
        free(hdr);
        check_true("hostile: 10000 tensors load, 10001 -> CN_EFORMAT",
                   rcs[0] == CN_OK && rcs[1] == CN_EFORMAT, cn_ctx_error(ctx));
    }
    remove(path);
}

/* ---------------------------------------------------------------------- */

static void test_foreign(cn_ctx *ctx) {
    /* Python-style JSON (spaces), regions listed out of order, an F64 at an
     * offset that is not 8-aligned, escapes incl. a surrogate pair, a
     * metadata block like the safetensors library writes, no crc. */
    char path[128];
    pathof(path, sizeof path, "foreign.st");
    unsigned char data[4 + 16 + 8];
    float f = 2.5f;
    double d[2] = {-1.25, 1e300};
    int32_t i2[2] = {7, -8};
    memcpy(data, &f, 4);
    memcpy(data + 4, d, 16);
    memcpy(data + 20, i2, 8);
    const char *hdr =
        "{\"d\\u00e9\\ud83d\\ude42\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [4, 20]},\n"
        " \"__metadata__\": {\"format\": \"np\", \"esc\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\"},\n"
        " \"i\": {\"shape\": [1, 2], \"dtype\": \"I32\", \"data_offsets\": [20, 28]},\n"
        " \"f\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}\n";
    write_st(path, hdr, data, sizeof data);
    cn_st *st = NULL;
    int rc = cn_st_load(ctx, path, &st);
    check_true("foreign: plain safetensors without a crc loads", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    if (rc) return;
    const cn_tensor *td = cn_st_tensor_get(st, "d\xc3\xa9\xf0\x9f\x99\x82");
    const cn_tensor *ti = cn_st_tensor_get(st, "i");
    const cn_tensor *tf = cn_st_tensor_get(st, "f");
    check_true("foreign: \\u escapes and surrogate pairs decode to UTF-8", td != NULL, "");
    check_true("foreign: values and shapes",
               td && !td->is_i32 && td->dtype == CN_F64 && td->ndim == 1 && td->shape[0] == 2 &&
                   ((const double *)td->data)[0] == -1.25 && ((const double *)td->data)[1] == 1e300 &&
                   ti && ti->is_i32 && ti->ndim == 2 && ti->shape[1] == 2 &&
                   ((const int32_t *)ti->data)[1] == -8 && tf && tf->ndim == 0 &&
                   ((const float *)tf->data)[0] == 2.5f,
               "");
    check_true("foreign: unaligned F64 copied to aligned storage",
               td && (uintptr_t)td->data % 8 == 0, "");
    const char *esc = cn_st_meta(st, "esc");
    check_true("foreign: metadata escapes", esc && !strcmp(esc, "\"\\/\b\f\n\r\tA") &&
                   cn_st_meta(st, "format") && !strcmp(cn_st_meta(st, "format"), "np"),
               "");
    check_true("foreign: order of cn_st_tensor_at is header order",
               cn_st_num_tensors(st) == 3 && cn_st_tensor_at(st, 0) == td && cn_st_tensor_at(st, 1) == ti &&
                   cn_st_tensor_at(st, 2) == tf,
               "");
    cn_st_free(st);

    /* an empty header object */
    write_st(path, "{}", NULL, 0);
    st = NULL;
    rc = cn_st_load(ctx, path, &st);
    check_true("foreign: \"{}\" loads with no tensors", rc == CN_OK && cn_st_num_tensors(st) == 0 &&
                   cn_st_meta(st, "x") == NULL, cn_ctx_error(ctx));
    cn_st_free(st);
    remove(path);
}

/* ---------------------------------------------------------------------- */

static void test_numpy(cn_ctx *ctx) {
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        check_true("numpy: skipped (no numpy in /usr/bin/python3)", 1, "");
        return;
    }
    float a[24];
    double b[5];
    int32_t c[3] = {-5, 0, 2147483647};
    double s = -0.5;
    for (int i = 0; i < 24; i++) a[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 5; i++) b[i] = (double)i / 3.0;
    cn_tensor t[] = {{"a", CN_F32, 0, 3, {2, 3, 4}, a},
                     {"c", CN_F32, 1, 1, {3}, c},
                     {"b", CN_F64, 0, 2, {5, 1}, b},
                     {"s\"q", CN_F64, 0, 0, {0}, &s}};
    cn_meta m[] = {{"quote", META_QUOTE}, {"utf8", META_UTF8}, {"epoch", "12"}};
    char path[128], py[128], cmd[512];
    pathof(path, sizeof path, "np.st");
    pathof(py, sizeof py, "check.py");
    int rc = cn_st_save(ctx, path, t, 4, m, 3);
    check_true("numpy: save", rc == CN_OK, rc ? cn_ctx_error(ctx) : "");
    FILE *f = fopen(py, "w");
    if (!f) {
        check_true("numpy: write the script", 0, py);
        return;
    }
    /* load() and crc() as in docs/checkpoint.md */
    fputs("import json, sys, zlib, numpy as np\n"
          "def load(path):\n"
          "    b = open(path, 'rb').read(); n = int.from_bytes(b[:8], 'little')\n"
          "    h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__', {}); d = 8 + n\n"
          "    dt = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4'}\n"
          "    return {k: np.frombuffer(b[d + v['data_offsets'][0]:d + v['data_offsets'][1]],\n"
          "                             dt[v['dtype']]).reshape(v['shape']) for k, v in h.items()}, meta\n"
          "def crc(path):\n"
          "    b = open(path, 'rb').read(); n = int.from_bytes(b[:8], 'little')\n"
          "    h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__', {})\n"
          "    c = zlib.crc32(b[8 + n:])\n"
          "    for k, v in meta.items():\n"
          "        if k != 'convnet.crc32': c = zlib.crc32(k.encode() + b'\\0' + v.encode() + b'\\0', c)\n"
          "    for k, v in h.items():\n"
          "        s = ','.join(str(x) for x in v['shape'])\n"
          "        c = zlib.crc32(k.encode() + b'\\0' + v['dtype'].encode() + b'\\0' + s.encode() + b'\\0', c)\n"
          "    return '%08x' % c\n"
          "t, meta = load(sys.argv[1])\n"
          "ok = True\n"
          "def chk(name, cond):\n"
          "    global ok\n"
          "    if not cond: print('numpy mismatch:', name); ok = False\n"
          "chk('a', t['a'].dtype == np.float32 and t['a'].shape == (2, 3, 4) and\n"
          "    np.array_equal(t['a'], (np.arange(24, dtype=np.float32) * np.float32(0.5) - np.float32(3)).reshape(2, 3, 4)))\n"
          "chk('b', t['b'].dtype == np.float64 and t['b'].shape == (5, 1) and\n"
          "    np.array_equal(t['b'].ravel(), np.arange(5) / 3.0))\n"
          "chk('c', t['c'].dtype == np.int32 and list(t['c']) == [-5, 0, 2147483647])\n"
          "chk('s\"q', t['s\"q'].shape == () and float(t['s\"q']) == -0.5)\n"
          "chk('quote', meta['quote'] == 'say \"hi\" \\\\ back\\\\slash\\nnew line\\ttab \\x01\\x1f ctl /')\n"
          "chk('utf8', meta['utf8'] == 'h\\u00e9llo \\u2014 \\u65e5\\u672c \\U0001F642')\n"
          "chk('epoch', meta['epoch'] == '12' and meta['convnet.format'] == 'convnet-checkpoint')\n"
          "chk('crc', crc(sys.argv[1]) == meta['convnet.crc32'])\n"
          "try:\n"
          "    from safetensors.numpy import load_file\n"
          "    s = load_file(sys.argv[1])\n"
          "    chk('safetensors', all(np.array_equal(s[k], t[k]) for k in t))\n"
          "    print('safetensors.numpy.load_file: same values')\n"
          "except ImportError:\n"
          "    print('safetensors not installed: numpy snippet only')\n"
          "print('numpy ok' if ok else 'numpy FAILED')\n"
          "sys.exit(0 if ok else 1)\n",
          f);
    if (fclose(f) != 0) {
        check_true("numpy: write the script", 0, py);
        return;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", py, path);
    fflush(stdout);
    int st = system(cmd);
    check_true("numpy: docs snippet reads the file, same values, same crc32", st == 0, cmd);
    remove(py);
    remove(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/cn_test_st_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    cn_ctx *ctx = cn_ctx_new(1);
    if (!ctx) return 2;
    test_round_trip(ctx);
    test_writer_errors(ctx);
    test_reader_io(ctx);
    test_flips_and_truncation(ctx);
    test_hostile_headers(ctx);
    test_foreign(ctx);
    test_numpy(ctx);
    cn_ctx_free(ctx);
    if (rmdir(dir) != 0) check_true("temp dir empty at the end", 0, dir);
    return check_done();
}
