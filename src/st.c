/* st.c — tensor files in the safetensors layout (see docs/checkpoint.md).
 *
 *   u64 LE N | N bytes of JSON header, space padded to a multiple of 8 | data
 *
 * The header maps each tensor name to {"dtype","shape","data_offsets"} and
 * may hold "__metadata__" (string -> string). The writer adds
 * "convnet.format", "convnet.version" and "convnet.crc32"; the reader takes
 * hostile input: every size is bounded by the file's length and the JSON
 * parser accepts exactly the subset this layout needs. */
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "st.c stores tensors in host byte order and assumes a little-endian host"
#endif

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB */
#define ST_MAX_TENSORS 10000
#define ST_MAX_META 65536
#define ST_MAX_NAME 255
#define ST_ALIGN 64
#define ST_MAX_DIM INT32_MAX /* every consumer indexes dims with int */

#define KEY_CRC "convnet.crc32"
#define KEY_FORMAT "convnet.format"
#define KEY_VERSION "convnet.version"
#define FORMAT_NAME "convnet-checkpoint"
#define FORMAT_VERSION "1"

struct cn_st {
    int n;
    cn_tensor *t;       /* header order */
    int *by_name;       /* indices of t sorted by name */
    int nmeta;
    cn_meta *meta;      /* header order */
    int *meta_by_key;   /* indices of meta sorted by key */
    char *strings;      /* every decoded name, key and value */
    void *data;         /* one 64-byte aligned block, each tensor 64-aligned */
};

/* ---- small helpers ------------------------------------------------------ */

static size_t itemsize(const cn_tensor *t) {
    if (t->is_i32) return 4;
    return t->dtype == CN_F64 ? 8 : 4;
}

static const char *dtype_name(const cn_tensor *t) {
    if (t->is_i32) return "I32";
    return t->dtype == CN_F64 ? "F64" : "F32";
}

/* Byte count of a tensor; 0 and *ok = 0 on overflow. */
static size_t tensor_bytes(const cn_tensor *t, int *ok) {
    uint64_t n = itemsize(t);
    *ok = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t r;
        if (t->shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)t->shape[d], &r) ||
            r > (uint64_t)SIZE_MAX / 2) {
            *ok = 0;
            return 0;
        }
        n = r;
    }
    return (size_t)n;
}

/* CRC-32 of any length (zlib takes uInt lengths). */
static uLong crc_bytes(uLong crc, const void *p, size_t n) {
    const unsigned char *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

static uLong crc_str0(uLong crc, const char *s) {
    static const unsigned char zero = 0;
    crc = crc_bytes(crc, s, strlen(s));
    return crc32(crc, &zero, 1);
}

/* The per-tensor text covered by the checksum: name\0dtype\0d0,d1,...\0 */
static uLong crc_tensor_text(uLong crc, const cn_tensor *t) {
    char shape[4 * 21 + 4];
    size_t k = 0;
    shape[0] = 0;
    for (int d = 0; d < t->ndim; d++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%" PRId64, d ? "," : "",
                              t->shape[d]);
    crc = crc_str0(crc, t->name);
    crc = crc_str0(crc, dtype_name(t));
    return crc_str0(crc, shape);
}

/* Length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;  /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;  /* <= U+10FFFF */
    } else
        return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static int utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* ---- growable byte buffer for the writer ----------------------------- */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) { b->oom = 1; return; }
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string literal: quotes, backslash and control characters escaped;
 * other bytes (already validated UTF-8) copied. */
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        switch (*p) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(e, sizeof e, "\\u%04x", *p);
                sb_put(b, e, 6);
            } else
                sb_put(b, p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int is_reserved_key(const char *k) {
    return !strcmp(k, KEY_CRC) || !strcmp(k, KEY_FORMAT) || !strcmp(k, KEY_VERSION);
}

/* qsort has no user pointer: sort (name, index) pairs */
typedef struct {
    const char *s;
    int i;
} name_ix;
static int cmp_name_ix(const void *a, const void *b) {
    const name_ix *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c) return c;
    return (x->i > y->i) - (x->i < y->i);
}

/* Sort names; return 1 and the first duplicate in *dup if any. out may be
 * NULL (then only duplicates are searched). Returns -1 when out of memory. */
static int sort_names(const char *const *names, size_t stride, int n, int *out,
                      const char **dup) {
    name_ix *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return -1;
    for (int i = 0; i < n; i++) {
        v[i].s = *(const char *const *)((const char *)names + (size_t)i * stride);
        v[i].i = i;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_name_ix);
    int found = 0;
    for (int i = 1; i < n && !found; i++)
        if (!strcmp(v[i - 1].s, v[i].s)) {
            found = 1;
            *dup = v[i].s;
        }
    if (out)
        for (int i = 0; i < n; i++) out[i] = v[i].i;
    free(v);
    return found;
}

/* ---- writer ------------------------------------------------------------- */

static int write_all(FILE *f, const void *p, size_t n) {
    return n == 0 || fwrite(p, 1, n, f) == n;
}

/* One tensor to be saved: its name, rank, dtype and dims in range and its
 * data present; *nbytes its byte count, added to *total. */
static int check_tensor(cn_ctx *ctx, const char *path, int i, const cn_tensor *x,
                        size_t *nbytes, size_t *total) {
    int ok;
    if (!x->name || !*x->name || strlen(x->name) > ST_MAX_NAME || !utf8_valid(x->name) ||
        !strcmp(x->name, "__metadata__"))
        return cn_error(ctx, CN_EINVAL,
                      "cn_st_save %s: tensor %d: name must be 1..%d bytes of UTF-8, "
                      "not \"__metadata__\"",
                      path, i, ST_MAX_NAME);
    if (x->ndim < 0 || x->ndim > 4)
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: tensor '%s': ndim %d (expected 0..4)",
                      path, x->name, x->ndim);
    if (!x->is_i32 && x->dtype != CN_F32 && x->dtype != CN_F64)
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: tensor '%s': unknown dtype %d", path,
                      x->name, (int)x->dtype);
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] < 0 || x->shape[d] > ST_MAX_DIM)
            return cn_error(ctx, CN_EINVAL,
                          "cn_st_save %s: tensor '%s': shape[%d] = %" PRId64
                          " (expected 0..%d)",
                          path, x->name, d, x->shape[d], ST_MAX_DIM);
    *nbytes = tensor_bytes(x, &ok);
    if (!ok || *total + *nbytes < *total)
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: tensor '%s': size overflows", path,
                      x->name);
    if (*nbytes && !x->data)
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: tensor '%s': data is NULL", path,
                      x->name);
    *total += *nbytes;
    return CN_OK;
}

/* Everything cn_st_save is given, checked before anything is written:
 * the tensors (bytes[i] their sizes), the metadata's UTF-8, and unique
 * tensor names and metadata keys. */
static int save_check(cn_ctx *ctx, const char *path, const cn_tensor *t, int nt,
                      const cn_meta *meta, int nmeta, size_t *bytes) {
    size_t total = 0;
    for (int i = 0; i < nt; i++) {
        int rc = check_tensor(ctx, path, i, &t[i], &bytes[i], &total);
        if (rc) return rc;
    }
    for (int i = 0; i < nmeta; i++)
        if (!meta[i].key || !meta[i].value || !utf8_valid(meta[i].key) ||
            !utf8_valid(meta[i].value))
            return cn_error(ctx, CN_EINVAL,
                          "cn_st_save %s: metadata pair %d: key and value must be UTF-8 "
                          "strings",
                          path, i);
    const char *dup = NULL;
    int rc = sort_names(nt ? &t[0].name : NULL, sizeof *t, nt, NULL, &dup);
    int rcm = rc ? 0 : sort_names(nmeta ? &meta[0].key : NULL, sizeof *meta, nmeta, NULL, &dup);
    if (rc < 0 || rcm < 0) return cn_error(ctx, CN_ENOMEM, "cn_st_save %s: out of memory", path);
    if (rc || rcm)
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: duplicate %s '%s'", path,
                      rc ? "tensor name" : "metadata key", dup);
    return CN_OK;
}

/* The checksum as 8 hex digits: data, the other metadata pairs in order,
 * the format keys, the tensor texts (the reader recomputes it so). */
static void save_crc(const cn_tensor *t, int nt, const cn_meta *meta, int nmeta,
                     const size_t *bytes, char crchex[16]) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < nt; i++) crc = crc_bytes(crc, t[i].data, bytes[i]);
    for (int i = 0; i < nmeta; i++) {
        if (is_reserved_key(meta[i].key)) continue;
        crc = crc_str0(crc, meta[i].key);
        crc = crc_str0(crc, meta[i].value);
    }
    crc = crc_str0(crc, KEY_FORMAT);
    crc = crc_str0(crc, FORMAT_NAME);
    crc = crc_str0(crc, KEY_VERSION);
    crc = crc_str0(crc, FORMAT_VERSION);
    for (int i = 0; i < nt; i++) crc = crc_tensor_text(crc, &t[i]);
    snprintf(crchex, 16, "%08lx", (unsigned long)(crc & 0xffffffffUL));
}

/* The JSON header into h: __metadata__ (the caller's pairs, then the
 * format keys and checksum), the tensors with consecutive data_offsets,
 * space padded to a multiple of 8 bytes. */
static int save_header(cn_ctx *ctx, const char *path, sbuf *h, const cn_tensor *t, int nt,
                       const cn_meta *meta, int nmeta, const size_t *bytes) {
    char crchex[16];
    save_crc(t, nt, meta, nmeta, bytes, crchex);
    sb_str(h, "{\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
        if (is_reserved_key(meta[i].key)) continue; /* the writer sets them */
        sb_json(h, meta[i].key);
        sb_str(h, ":");
        sb_json(h, meta[i].value);
        sb_str(h, ",");
    }
    sb_str(h, "\"" KEY_FORMAT "\":\"" FORMAT_NAME "\",\"" KEY_VERSION "\":\"" FORMAT_VERSION
              "\",\"" KEY_CRC "\":\"");
    sb_str(h, crchex);
    sb_str(h, "\"}");
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        char num[64];
        sb_str(h, ",");
        sb_json(h, t[i].name);
        sb_str(h, ":{\"dtype\":\"");
        sb_str(h, dtype_name(&t[i]));
        sb_str(h, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
            sb_str(h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes[i]);
        sb_str(h, num);
        off += bytes[i];
    }
    sb_str(h, "}");
    while (!h->oom && h->len % 8) sb_put(h, " ", 1);
    if (h->oom)
        return cn_error(ctx, CN_ENOMEM, "cn_st_save %s: out of memory building the header",
                      path);
    if (h->len > ST_MAX_HEADER)
        return cn_error(ctx, CN_EINVAL,
                      "cn_st_save %s: header of %zu bytes exceeds the %u byte limit", path,
                      h->len, ST_MAX_HEADER);
    return CN_OK;
}

/* Length, header and data through the shared atomic writer (atomic.c): a
 * unique temporary file, fsync, rename, fsync of the directory; the old
 * file stays on any failure. */
static int save_write(cn_ctx *ctx, const char *path, const sbuf *h, const cn_tensor *t, int nt,
                      const size_t *bytes) {
    cn__atomic a;
    int rc = cn__atomic_open(ctx, &a, path);
    if (rc) return rc;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h->len >> (8 * i));
    int ok = write_all(a.f, len8, 8) && write_all(a.f, h->p, h->len);
    for (int i = 0; ok && i < nt; i++) ok = write_all(a.f, t[i].data, bytes[i]);
    if (!ok) return cn__atomic_fail(ctx, &a, "write", errno);
    return cn__atomic_commit(ctx, &a);
}

int cn_st_save(cn_ctx *ctx, const char *path, const cn_tensor *t, int nt,
               const cn_meta *meta, int nmeta) {
    if (!path || !*path) return cn_error(ctx, CN_EINVAL, "cn_st_save: empty path");
    if (nt < 0 || nt > ST_MAX_TENSORS || (nt > 0 && !t))
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: %d tensors (expected 0..%d)", path,
                      nt, ST_MAX_TENSORS);
    if (nmeta < 0 || nmeta > ST_MAX_META || (nmeta > 0 && !meta))
        return cn_error(ctx, CN_EINVAL, "cn_st_save %s: %d metadata pairs (expected 0..%d)",
                      path, nmeta, ST_MAX_META);
    size_t *bytes = malloc((size_t)(nt ? nt : 1) * sizeof *bytes);
    if (!bytes) return cn_error(ctx, CN_ENOMEM, "cn_st_save %s: out of memory", path);
    sbuf h = {0};
    int rc = save_check(ctx, path, t, nt, meta, nmeta, bytes);
    if (!rc) rc = save_header(ctx, path, &h, t, nt, meta, nmeta, bytes);
    if (!rc) rc = save_write(ctx, path, &h, t, nt, bytes);
    free(h.p);
    free(bytes);
    return rc;
}

/* ---- reader: a strict parser for the header subset ---------------------- */

typedef struct {
    cn_ctx *ctx;
    const char *path;
    const char *s;   /* header text */
    size_t n, pos;
    char *arena;     /* decoded strings (never longer than the header) */
    size_t used;
} jp;

static int jerr(jp *p, const char *what) {
    return cn_error(p->ctx, CN_EFORMAT, "%s: header byte %zu (file offset %zu): %s", p->path,
                  p->pos, p->pos + 8, what);
}

static void jws(jp *p) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int jexpect(jp *p, char c, const char *what) {
    jws(p);
    if (p->pos >= p->n || p->s[p->pos] != c) return jerr(p, what);
    p->pos++;
    return CN_OK;
}

/* After a member of an object: ',' (1, another member follows) or the
 * closing '}' (0), else the error (< 0) naming what was expected. */
static int jnext(jp *p, const char *what) {
    jws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
        p->pos++;
        return 1;
    }
    return jexpect(p, '}', what);
}

static int hex4(const char *s, unsigned *v) {
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        r <<= 4;
        if (c >= '0' && c <= '9') r |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') r |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') r |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *v = r;
    return 1;
}

/* A JSON string, decoded (UTF-8, NUL-terminated) into the arena. */
static int jstring(jp *p, char **out) {
    int rc = jexpect(p, '"', "expected a string");
    if (rc) return rc;
    char *o = p->arena + p->used, *w = o;
    for (;;) {
        if (p->pos >= p->n) return jerr(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return jerr(p, "control character in a string");
        if (c == '\\') {
            if (p->pos + 1 >= p->n) return jerr(p, "unterminated escape");
            char e = p->s[p->pos + 1];
            unsigned cp;
            switch (e) {
            case '"': *w++ = '"'; break;
            case '\\': *w++ = '\\'; break;
            case '/': *w++ = '/'; break;
            case 'b': *w++ = '\b'; break;
            case 'f': *w++ = '\f'; break;
            case 'n': *w++ = '\n'; break;
            case 'r': *w++ = '\r'; break;
            case 't': *w++ = '\t'; break;
            case 'u':
                if (p->pos + 6 > p->n || !hex4(p->s + p->pos + 2, &cp))
                    return jerr(p, "bad \\u escape (expected 4 hex digits)");
                if (cp == 0) return jerr(p, "\\u0000 is not allowed in a string");
                if (cp >= 0xDC00 && cp <= 0xDFFF) return jerr(p, "lone low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (p->pos + 12 > p->n || p->s[p->pos + 6] != '\\' ||
                        p->s[p->pos + 7] != 'u' || !hex4(p->s + p->pos + 8, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return jerr(p, "high surrogate without a low surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p->pos += 6;
                }
                /* the UTF-8 form (<= 4 bytes) is shorter than the escape */
                if (cp < 0x80) *w++ = (char)cp;
                else if (cp < 0x800) {
                    *w++ = (char)(0xC0 | (cp >> 6));
                    *w++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *w++ = (char)(0xE0 | (cp >> 12));
                    *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *w++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *w++ = (char)(0xF0 | (cp >> 18));
                    *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                    *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *w++ = (char)(0x80 | (cp & 0x3F));
                }
                p->pos += 4;
                break;
            default: return jerr(p, "unknown escape in a string");
            }
            p->pos += 2;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)p->s + p->pos, p->n - p->pos);
        if (!k) return jerr(p, "invalid UTF-8 in a string");
        memcpy(w, p->s + p->pos, k);
        w += k;
        p->pos += k;
    }
    *w++ = 0;
    p->used += (size_t)(w - o);
    *out = o;
    return CN_OK;
}

/* [u, u, ...] of non-negative integers, at most max of them (each < 2^63). */
static int juints(jp *p, uint64_t *v, int max, int *count, const char *field) {
    char msg[96];
    int rc = jexpect(p, '[', "expected '['");
    if (rc) return rc;
    *count = 0;
    jws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
        return CN_OK;
    }
    for (;;) {
        jws(p);
        if (*count >= max) {
            snprintf(msg, sizeof msg, "%s has more than %d entries", field, max);
            return jerr(p, msg);
        }
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
            snprintf(msg, sizeof msg, "%s: expected a non-negative integer", field);
            return jerr(p, msg);
        }
        if (p->s[p->pos] == '0' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' &&
            p->s[p->pos + 1] <= '9') {
            snprintf(msg, sizeof msg, "%s: leading zero in a number", field);
            return jerr(p, msg);
        }
        uint64_t x = 0;
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            if (x > (UINT64_C(1) << 62) / 5) { /* x*10 + 9 would pass 2^63 */
                snprintf(msg, sizeof msg, "%s: number too large", field);
                return jerr(p, msg);
            }
            x = x * 10 + (uint64_t)(p->s[p->pos] - '0');
            p->pos++;
        }
        if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
            snprintf(msg, sizeof msg, "%s: expected an integer", field);
            return jerr(p, msg);
        }
        v[(*count)++] = x;
        jws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == ']') {
            p->pos++;
            return CN_OK;
        }
        snprintf(msg, sizeof msg, "%s: expected ',' or ']'", field);
        return jerr(p, msg);
    }
}

typedef struct {
    uint64_t begin, end;
    size_t slot;  /* offset of the tensor in the data block */
    int idx;
} region;

static int cmp_region(const void *a, const void *b) {
    const region *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* {"dtype": "...", "shape": [...], "data_offsets": [b, e]} */
static int jtensor(jp *p, cn_tensor *t, region *r, uint64_t data_len) {
    char msg[400];
    int have_dtype = 0, have_shape = 0, have_off = 0;
    int rc = jexpect(p, '{', "expected '{' opening a tensor entry");
    if (rc) return rc;
    for (;;) {
        char *key;
        size_t save = p->used;
        if ((rc = jstring(p, &key))) return rc;
        p->used = save; /* the key is not kept */
        if ((rc = jexpect(p, ':', "expected ':'"))) return rc;
        if (!strcmp(key, "dtype") && !have_dtype) {
            char *dt;
            if ((rc = jstring(p, &dt))) return rc;
            p->used = save;
            if (!strcmp(dt, "F32")) t->dtype = CN_F32, t->is_i32 = 0;
            else if (!strcmp(dt, "F64")) t->dtype = CN_F64, t->is_i32 = 0;
            else if (!strcmp(dt, "I32")) t->dtype = CN_F32, t->is_i32 = 1;
            else {
                snprintf(msg, sizeof msg,
                         "tensor '%s': dtype \"%.16s\" is not supported (expected F32, F64 "
                         "or I32)",
                         t->name, dt);
                return jerr(p, msg);
            }
            have_dtype = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            uint64_t v[4];
            int cnt;
            snprintf(msg, sizeof msg, "tensor '%s' shape (at most 4 dims)", t->name);
            if ((rc = juints(p, v, 4, &cnt, msg))) return rc;
            t->ndim = cnt;
            for (int d = 0; d < cnt; d++) {
                if (v[d] > ST_MAX_DIM) {
                    snprintf(msg, sizeof msg,
                             "tensor '%s': shape[%d] = %" PRIu64 " (expected <= %d)", t->name,
                             d, v[d], ST_MAX_DIM);
                    return jerr(p, msg);
                }
                t->shape[d] = (int64_t)v[d];
            }
            have_shape = 1;
        } else if (!strcmp(key, "data_offsets") && !have_off) {
            uint64_t v[2];
            int cnt;
            snprintf(msg, sizeof msg, "tensor '%s' data_offsets", t->name);
            if ((rc = juints(p, v, 2, &cnt, msg))) return rc;
            if (cnt != 2) {
                snprintf(msg, sizeof msg, "tensor '%s': data_offsets must be [begin, end]",
                         t->name);
                return jerr(p, msg);
            }
            if (v[0] > v[1] || v[1] > data_len) {
                snprintf(msg, sizeof msg,
                         "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] outside the data section of %" PRIu64 " bytes",
                         t->name, v[0], v[1], data_len);
                return jerr(p, msg);
            }
            r->begin = v[0];
            r->end = v[1];
            have_off = 1;
        } else {
            snprintf(msg, sizeof msg, "tensor '%s': unexpected or repeated key \"%.32s\"",
                     t->name, key);
            return jerr(p, msg);
        }
        if ((rc = jnext(p, "expected ',' or '}' in a tensor entry")) < 0) return rc;
        if (!rc) break;
    }
    if (!have_dtype || !have_shape || !have_off) {
        snprintf(msg, sizeof msg, "tensor '%s': missing %s", t->name,
                 !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
        return jerr(p, msg);
    }
    int ok;
    size_t nb = tensor_bytes(t, &ok);
    if (!ok) {
        snprintf(msg, sizeof msg, "tensor '%s': shape is too large (size overflows)", t->name);
        return jerr(p, msg);
    }
    if ((uint64_t)nb != r->end - r->begin) {
        snprintf(msg, sizeof msg,
                 "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                 " bytes but dtype and shape need %zu",
                 t->name, r->begin, r->end, r->end - r->begin, nb);
        return jerr(p, msg);
    }
    return CN_OK;
}

/* Room for element n of an array of `size`-byte elements: the (possibly
 * moved) array, or NULL when out of memory (the old one is still valid). */
static void *grow(void *a, int *cap, int n, size_t size) {
    if (n < *cap) return a;
    int nc = *cap ? *cap * 2 : 16;
    void *q = realloc(a, (size_t)nc * size);
    if (q) *cap = nc;
    return q;
}

static int read_exact(cn_ctx *ctx, FILE *f, void *buf, size_t n, const char *path,
                      size_t off) {
    if (n && fread(buf, 1, n, f) != n) {
        if (ferror(f))
            return cn_error(ctx, CN_EIO, "%s: read error at offset %zu: %s", path, off,
                          strerror(errno));
        return cn_error(ctx, CN_EFORMAT, "%s: truncated at offset %zu (file shrank while read)",
                      path, off);
    }
    return CN_OK;
}

void cn_st_free(cn_st *st) {
    if (!st) return;
    free(st->t);
    free(st->by_name);
    free(st->meta);
    free(st->meta_by_key);
    free(st->strings);
    free(st->data);
    free(st);
}

/* After fopen: the file is regular and long enough, and its header length
 * N (the first 8 bytes, little-endian) fits both the file and the limit. */
static int read_length(cn_ctx *ctx, FILE *f, const char *path, uint64_t *fsize_out,
                       uint64_t *N_out) {
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0)
        return cn_error(ctx, CN_EIO, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return cn_error(ctx, CN_EIO, "%s is not a regular file", path);
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize < 10)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: %" PRIu64 " bytes is too short for a tensor file (at least 10: "
                      "8-byte header length and a header)",
                      path, fsize);
    unsigned char len8[8];
    int rc = read_exact(ctx, f, len8, 8, path, 0);
    if (rc) return rc;
    uint64_t N = 0;
    for (int i = 0; i < 8; i++) N |= (uint64_t)len8[i] << (8 * i);
    uint64_t lim = fsize - 8 < ST_MAX_HEADER ? fsize - 8 : ST_MAX_HEADER;
    if (N < 2 || N > lim)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: header length %" PRIu64 " at offset 0 (expected 2..%" PRIu64
                      " for a file of %" PRIu64 " bytes)",
                      path, N, lim, fsize);
    *fsize_out = fsize;
    *N_out = N;
    return CN_OK;
}

/* The header's arrays while they are parsed (grown as entries come). */
typedef struct {
    cn_st *st;
    region *reg;          /* [st->n], each tensor's data_offsets */
    int tcap, mcap, rcap;
    uint64_t data_len;    /* bytes after the header */
} hdr_state;

/* The value of "__metadata__": an object of string -> string, at most
 * ST_MAX_META pairs, appended to st->meta in header order. */
static int parse_meta(jp *p, hdr_state *hs) {
    cn_st *st = hs->st;
    int rc;
    if ((rc = jexpect(p, '{', "expected '{' opening __metadata__"))) return rc;
    jws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
        return CN_OK;
    }
    for (;;) {
        if (st->nmeta >= ST_MAX_META) return jerr(p, "more than 65536 metadata pairs");
        cn_meta *gm = grow(st->meta, &hs->mcap, st->nmeta, sizeof *st->meta);
        if (!gm) return cn_error(p->ctx, CN_ENOMEM, "%s: out of memory", p->path);
        st->meta = gm;
        char *k, *v;
        if ((rc = jstring(p, &k))) return rc;
        if ((rc = jexpect(p, ':', "expected ':' in __metadata__"))) return rc;
        jws(p);
        if (p->pos < p->n && p->s[p->pos] != '"')
            return jerr(p, "__metadata__ values must be strings");
        if ((rc = jstring(p, &v))) return rc;
        st->meta[st->nmeta].key = k;
        st->meta[st->nmeta].value = v;
        st->nmeta++;
        if ((rc = jnext(p, "expected ',' or '}' in __metadata__")) <= 0) return rc;
    }
}

/* The value of tensor `name` (its key at header byte key_pos), appended to
 * st->t and hs->reg. */
static int parse_tensor(jp *p, hdr_state *hs, char *name, size_t key_pos) {
    cn_st *st = hs->st;
    if (st->n >= ST_MAX_TENSORS) {
        p->pos = key_pos;
        return jerr(p, "more than 10000 tensors");
    }
    if (!*name || strlen(name) > ST_MAX_NAME) {
        p->pos = key_pos;
        return jerr(p, "tensor name must be 1..255 bytes");
    }
    cn_tensor *gt = grow(st->t, &hs->tcap, st->n, sizeof *st->t);
    if (gt) st->t = gt;
    region *gr = gt ? grow(hs->reg, &hs->rcap, st->n, sizeof *hs->reg) : NULL;
    if (gr) hs->reg = gr;
    if (!gt || !gr) return cn_error(p->ctx, CN_ENOMEM, "%s: out of memory", p->path);
    cn_tensor *t = &st->t[st->n];
    memset(t, 0, sizeof *t);
    t->name = name;
    hs->reg[st->n].idx = st->n;
    int rc = jtensor(p, t, &hs->reg[st->n], hs->data_len);
    if (rc) return rc;
    st->n++;
    return CN_OK;
}

/* The whole header: one object of tensor entries and at most one
 * "__metadata__", then nothing but whitespace. */
static int parse_header(jp *p, hdr_state *hs) {
    int have_meta = 0, rc;
    if ((rc = jexpect(p, '{', "expected '{' opening the header"))) return rc;
    jws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            char *name;
            jws(p);
            size_t key_pos = p->pos;
            if ((rc = jstring(p, &name))) return rc;
            if ((rc = jexpect(p, ':', "expected ':'"))) return rc;
            if (!strcmp(name, "__metadata__")) {
                if (have_meta) {
                    p->pos = key_pos;
                    return jerr(p, "repeated \"__metadata__\"");
                }
                have_meta = 1;
                rc = parse_meta(p, hs);
            } else
                rc = parse_tensor(p, hs, name, key_pos);
            if (rc) return rc;
            if ((rc = jnext(p, "expected ',' or '}' in the header")) < 0) return rc;
            if (!rc) break;
        }
    }
    jws(p);
    if (p->pos != p->n)
        return jerr(p, "unexpected bytes after the header object (only space padding allowed)");
    return CN_OK;
}

/* Names and keys unique; the sorted indices for lookups. */
static int index_names(cn_ctx *ctx, const char *path, cn_st *st) {
    const char *dup = NULL;
    st->by_name = malloc((size_t)(st->n ? st->n : 1) * sizeof *st->by_name);
    st->meta_by_key = malloc((size_t)(st->nmeta ? st->nmeta : 1) * sizeof *st->meta_by_key);
    if (!st->by_name || !st->meta_by_key) return cn_error(ctx, CN_ENOMEM, "%s: out of memory", path);
    int r1 = sort_names(st->n ? &st->t[0].name : NULL, sizeof *st->t, st->n, st->by_name, &dup);
    if (r1 > 0) return cn_error(ctx, CN_EFORMAT, "%s: header: duplicate tensor name '%s'", path, dup);
    int r2 = r1 < 0 ? -1
                    : sort_names(st->nmeta ? &st->meta[0].key : NULL, sizeof *st->meta, st->nmeta,
                                 st->meta_by_key, &dup);
    if (r2 > 0) return cn_error(ctx, CN_EFORMAT, "%s: __metadata__: duplicate key '%s'", path, dup);
    if (r1 < 0 || r2 < 0) return cn_error(ctx, CN_ENOMEM, "%s: out of memory", path);
    return CN_OK;
}

/* The regions must tile the data section exactly; each gets its slot in
 * the data block (64-aligned), *total the block's size. Sorts reg. */
static int place_regions(cn_ctx *ctx, const char *path, const cn_st *st, region *reg,
                         uint64_t data_len, uint64_t N, size_t *total) {
    uint64_t at = 0;
    *total = 0;
    if (st->n) qsort(reg, (size_t)st->n, sizeof *reg, cmp_region);
    for (int i = 0; i < st->n; i++) {
        if (reg[i].begin != at)
            return cn_error(ctx, CN_EFORMAT,
                          "%s: tensor '%s': data_offsets begin at %" PRIu64
                          " but the previous tensor ends at %" PRIu64
                          " (gaps and overlaps are not allowed)",
                          path, st->t[reg[i].idx].name, reg[i].begin, at);
        at = reg[i].end;
        size_t sz = (size_t)(reg[i].end - reg[i].begin);
        reg[i].slot = *total;
        *total += (sz + ST_ALIGN - 1) & ~(size_t)(ST_ALIGN - 1);
    }
    if (at != data_len)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: tensors cover %" PRIu64 " bytes of a data section of %" PRIu64
                      " bytes (file offset %" PRIu64 ")",
                      path, at, data_len, 8 + N + at);
    return CN_OK;
}

/* The data: each tensor into its own 64-aligned slot, checksummed in file
 * order into *crc. */
static int read_data(cn_ctx *ctx, FILE *f, const char *path, cn_st *st, const region *reg,
                     uint64_t N, size_t total, uLong *crc) {
    st->data = aligned_alloc(ST_ALIGN, total ? total : ST_ALIGN);
    if (!st->data)
        return cn_error(ctx, CN_ENOMEM, "%s: out of memory for %zu bytes of tensor data", path,
                      total);
    *crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < st->n; i++) {
        char *dst = (char *)st->data + reg[i].slot;
        size_t sz = (size_t)(reg[i].end - reg[i].begin);
        int rc = read_exact(ctx, f, dst, sz, path, (size_t)(8 + N + reg[i].begin));
        if (rc) return rc;
        *crc = crc_bytes(*crc, dst, sz);
        st->t[reg[i].idx].data = dst;
    }
    return CN_OK;
}

/* The checksum (crc so far: the data) over the metadata and tensor texts
 * against convnet.crc32, which a file with convnet.format must have, and
 * the format version. */
static int check_crc(cn_ctx *ctx, const char *path, const cn_st *st, uLong crc) {
    const char *want = NULL, *format = NULL, *version = NULL;
    for (int i = 0; i < st->nmeta; i++) {
        if (!strcmp(st->meta[i].key, KEY_CRC)) {
            want = st->meta[i].value;
            continue;
        }
        if (!strcmp(st->meta[i].key, KEY_FORMAT)) format = st->meta[i].value;
        if (!strcmp(st->meta[i].key, KEY_VERSION)) version = st->meta[i].value;
        crc = crc_str0(crc, st->meta[i].key);
        crc = crc_str0(crc, st->meta[i].value);
    }
    for (int i = 0; i < st->n; i++) crc = crc_tensor_text(crc, &st->t[i]);
    if (format && !want)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: __metadata__ has " KEY_FORMAT " but no " KEY_CRC " (checksum missing)",
                      path);
    if (!want) return CN_OK;
    char got[16];
    snprintf(got, sizeof got, "%08lx", (unsigned long)(crc & 0xffffffffUL));
    if (strcmp(got, want) != 0)
        return cn_error(ctx, CN_EFORMAT,
                      "checksum mismatch in %s (" KEY_CRC " says \"%.16s\", computed %s)", path,
                      want, got);
    if (version && strcmp(version, FORMAT_VERSION) != 0)
        return cn_error(ctx, CN_EFORMAT,
                      "%s: " KEY_VERSION " \"%.16s\" is not supported (expected \"%s\")", path,
                      version, FORMAT_VERSION);
    return CN_OK;
}

int cn_st_load(cn_ctx *ctx, const char *path, cn_st **out) {
    if (!out || !path) return cn_error(ctx, CN_EINVAL, "cn_st_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cn_error(ctx, CN_EIO, "cannot open %s: %s", path, strerror(errno));
    uint64_t fsize = 0, N = 0;
    hdr_state hs = {0};
    char *hdr = NULL;
    size_t total = 0;
    uLong crc = 0;
    int rc = read_length(ctx, f, path, &fsize, &N);
    if (rc) goto done;
    hs.data_len = fsize - 8 - N;
    hs.st = calloc(1, sizeof *hs.st);
    hdr = malloc((size_t)N + 1);
    if (hs.st) hs.st->strings = malloc((size_t)N + 1);
    if (!hs.st || !hdr || !hs.st->strings) {
        rc = cn_error(ctx, CN_ENOMEM, "%s: out of memory for a header of %" PRIu64 " bytes",
                    path, N);
        goto done;
    }
    if ((rc = read_exact(ctx, f, hdr, (size_t)N, path, 8))) goto done;
    hdr[N] = 0;
    jp p = {ctx, path, hdr, (size_t)N, 0, hs.st->strings, 0};
    if ((rc = parse_header(&p, &hs)) || (rc = index_names(ctx, path, hs.st)) ||
        (rc = place_regions(ctx, path, hs.st, hs.reg, hs.data_len, N, &total)) ||
        (rc = read_data(ctx, f, path, hs.st, hs.reg, N, total, &crc)) ||
        (rc = check_crc(ctx, path, hs.st, crc)))
        goto done;
    *out = hs.st;
done:
    free(hs.reg);
    free(hdr);
    if (rc) cn_st_free(hs.st);
    fclose(f);
    return rc;
}

/* ---- accessors ------------------------------------------------------- */

int cn_st_num_tensors(const cn_st *st) { return st ? st->n : 0; }

const cn_tensor *cn_st_tensor_at(const cn_st *st, int i) {
    if (!st || i < 0 || i >= st->n) return NULL;
    return &st->t[i];
}

/* Binary search of the strings at first + i*stride (as in sort_names) in
 * the sorted order `order`: the index of the one equal to want, or -1. */
static int find_sorted(const char *const *first, size_t stride, const int *order, int n,
                       const char *want) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int i = order[mid];
        int c = strcmp(*(const char *const *)((const char *)first + (size_t)i * stride), want);
        if (c == 0) return i;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

const cn_tensor *cn_st_tensor_get(const cn_st *st, const char *name) {
    if (!st || !name || !st->n) return NULL;
    int i = find_sorted(&st->t[0].name, sizeof *st->t, st->by_name, st->n, name);
    return i < 0 ? NULL : &st->t[i];
}

const char *cn_st_meta(const cn_st *st, const char *key) {
    if (!st || !key || !st->nmeta) return NULL;
    int i = find_sorted(&st->meta[0].key, sizeof *st->meta, st->meta_by_key, st->nmeta, key);
    return i < 0 ? NULL : st->meta[i].value;
}
