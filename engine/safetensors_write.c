/* safetensors_write.c — the writer: the same bytes the Python safetensors library writes,
 * saved atomically.
 *
 * Layout rules taken from the Rust crate's `prepare` (which the Python library calls):
 *  - tensor data ordered by dtype descending in the crate's Dtype enum order (U64, I64, F64,
 *    C64, F32, U32, I32, BF16, F16, ...; see dtype.h), then by name (byte order);
 *  - the header is compact JSON: "__metadata__" first (only when there is metadata), then the
 *    tensors in data order, each as {"dtype":..,"shape":[..],"data_offsets":[b,e]};
 *  - strings escaped as serde_json does (\" \\ \b \f \n \r \t, other controls as \u00xx,
 *    everything else raw UTF-8);
 *  - the header padded with spaces to a multiple of 8 bytes.
 * The crate writes metadata in hash-map order; we sort it by key so output is reproducible.
 * The data order is what matters to sd-scripts' sshs_model_hash. */
#include "engine/safetensors.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct writer_tensor {
    char *name;
    dtype_t dtype;
    int ndim;
    int64_t *shape;
    const void *data;
    size_t nbytes;
} writer_tensor;

typedef struct writer_meta {
    char *key;
    char *value;
} writer_meta;

struct safetensors_writer {
    writer_tensor *tensors;
    size_t count, cap;
    writer_meta *meta;
    size_t meta_count, meta_cap;
};

/* A growable byte string; `failed` latches on the first allocation failure. */
typedef struct strbuf {
    char *buf;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_put(strbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *p = realloc(sb->buf, cap);
        if (!p) {
            sb->failed = 1;
            return;
        }
        sb->buf = p;
        sb->cap = cap;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sb_str(strbuf *sb, const char *s)
{
    sb_put(sb, s, strlen(s));
}

static void sb_u64(strbuf *sb, unsigned long long v)
{
    char tmp[24];
    sb_put(sb, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", v));
}

/* A JSON string literal, escaped the way serde_json escapes. */
static void sb_json_string(strbuf *sb, const char *s)
{
    sb_put(sb, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sb_put(sb, "\\\"", 2); break;
        case '\\': sb_put(sb, "\\\\", 2); break;
        case '\b': sb_put(sb, "\\b", 2); break;
        case '\f': sb_put(sb, "\\f", 2); break;
        case '\n': sb_put(sb, "\\n", 2); break;
        case '\r': sb_put(sb, "\\r", 2); break;
        case '\t': sb_put(sb, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sb_put(sb, esc, 6);
            } else {
                sb_put(sb, (const char *)p, 1);
            }
        }
    }
    sb_put(sb, "\"", 1);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int len;
        unsigned cp, min;
        if (c < 0x80) { s++; continue; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        for (int i = 1; i < len; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += len;
    }
    return 1;
}

safetensors_writer *safetensors_writer_new(void)
{
    return calloc(1, sizeof(safetensors_writer));
}

void safetensors_writer_free(safetensors_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->meta);
    for (size_t i = 0; i < w->count; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].shape);
    }
    free(w->tensors);
    free(w);
}

int safetensors_writer_add(safetensors_writer *w, const char *name, dtype_t dtype, int ndim,
                           const int64_t *shape, const void *data, error_info *err)
{
    if (!utf8_valid(name))
        return error_set(err, NULL, 0, 0, NULL, "tensor name is not valid UTF-8");
    if (strcmp(name, "__metadata__") == 0)
        return error_set(err, NULL, 0, 0, NULL, "\"__metadata__\" cannot be a tensor name");
    if ((unsigned)dtype >= DTYPE_COUNT)
        return error_set(err, NULL, 0, 0, NULL, "tensor '%.200s': invalid dtype %d", name,
                         (int)dtype);
    if (ndim < 0 || (ndim > 0 && !shape))
        return error_set(err, NULL, 0, 0, NULL, "tensor '%.200s': invalid shape", name);
    uint64_t nel = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return error_set(err, NULL, 0, 0, NULL, "tensor '%.200s': negative dimension %lld",
                             name, (long long)shape[i]);
        uint64_t d = (uint64_t)shape[i];
        if (d && nel > UINT64_MAX / d)
            overflow = 1;
        nel *= d;
    }
    unsigned bits = dtype_bits(dtype);
    if (overflow || nel > SIZE_MAX / bits)
        return error_set(err, NULL, 0, 0, NULL, "tensor '%.200s': size overflows", name);
    if (nel * bits % 8)
        return error_set(err, NULL, 0, 0, NULL,
                         "tensor '%.200s': %llu elements of %s do not fill whole bytes", name,
                         (unsigned long long)nel, dtype_name(dtype));
    size_t nbytes = (size_t)(nel * bits / 8);
    if (nbytes && !data)
        return error_set(err, NULL, 0, 0, NULL, "tensor '%.200s': no data", name);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return error_set(err, NULL, 0, 0, NULL, "tensor '%.200s' added twice", name);

    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        writer_tensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        w->tensors = p;
        w->cap = cap;
    }
    writer_tensor *t = &w->tensors[w->count];
    t->name = strdup(name);
    t->shape = malloc((ndim ? (size_t)ndim : 1) * sizeof *t->shape);
    if (!t->name || !t->shape) {
        free(t->name);
        free(t->shape);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->dtype = dtype;
    t->ndim = ndim;
    t->data = data;
    t->nbytes = nbytes;
    w->count++;
    return 0;
}

int safetensors_writer_set_metadata(safetensors_writer *w, const char *key, const char *value,
                                    error_info *err)
{
    if (!utf8_valid(key) || !utf8_valid(value))
        return error_set(err, NULL, 0, 0, NULL, "metadata \"%.100s\" is not valid UTF-8", key);
    char *v = strdup(value);
    if (!v)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; i < w->meta_count; i++) {
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return 0;
        }
    }
    if (w->meta_count == w->meta_cap) {
        size_t cap = w->meta_cap ? 2 * w->meta_cap : 16;
        writer_meta *p = realloc(w->meta, cap * sizeof *p);
        if (!p) {
            free(v);
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        }
        w->meta = p;
        w->meta_cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    w->meta[w->meta_count].key = k;
    w->meta[w->meta_count].value = v;
    w->meta_count++;
    return 0;
}

static int cmp_data_order(const void *a, const void *b)
{
    const writer_tensor *x = *(const writer_tensor *const *)a;
    const writer_tensor *y = *(const writer_tensor *const *)b;
    if (x->dtype != y->dtype)
        return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp((*(const writer_meta *const *)a)->key, (*(const writer_meta *const *)b)->key);
}

/* The layout: tensors in data order, the padded header and the data size. */
typedef struct layout {
    const writer_tensor **order;
    strbuf header;
    uint64_t data_len;
} layout;

static void layout_free(layout *l)
{
    free(l->order);
    free(l->header.buf);
}

static int layout_build(const safetensors_writer *w, layout *l, const char *path,
                        error_info *err)
{
    memset(l, 0, sizeof *l);
    l->order = malloc((w->count ? w->count : 1) * sizeof *l->order);
    const writer_meta **meta = malloc((w->meta_count ? w->meta_count : 1) * sizeof *meta);
    if (!l->order || !meta) {
        free(meta);
        return error_set(err, path, 0, 0, NULL, "out of memory");
    }
    for (size_t i = 0; i < w->count; i++)
        l->order[i] = &w->tensors[i];
    qsort(l->order, w->count, sizeof *l->order, cmp_data_order);
    for (size_t i = 0; i < w->meta_count; i++)
        meta[i] = &w->meta[i];
    qsort(meta, w->meta_count, sizeof *meta, cmp_meta);

    strbuf *sb = &l->header;
    sb_put(sb, "{", 1);
    if (w->meta_count) {
        sb_str(sb, "\"__metadata__\":{");
        for (size_t i = 0; i < w->meta_count; i++) {
            if (i)
                sb_put(sb, ",", 1);
            sb_json_string(sb, meta[i]->key);
            sb_put(sb, ":", 1);
            sb_json_string(sb, meta[i]->value);
        }
        sb_put(sb, "}", 1);
    }
    free(meta);
    uint64_t off = 0;
    for (size_t i = 0; i < w->count; i++) {
        const writer_tensor *t = l->order[i];
        if (i || w->meta_count)
            sb_put(sb, ",", 1);
        sb_json_string(sb, t->name);
        sb_str(sb, ":{\"dtype\":\"");
        sb_str(sb, dtype_name(t->dtype));
        sb_str(sb, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                sb_put(sb, ",", 1);
            sb_u64(sb, (unsigned long long)t->shape[d]);
        }
        sb_str(sb, "],\"data_offsets\":[");
        sb_u64(sb, off);
        sb_put(sb, ",", 1);
        off += t->nbytes;
        sb_u64(sb, off);
        sb_str(sb, "]}");
    }
    sb_put(sb, "}", 1);
    while (sb->len % 8)
        sb_put(sb, " ", 1);
    l->data_len = off;
    if (sb->failed) {
        layout_free(l);
        return error_set(err, path, 0, 0, NULL, "out of memory building the header");
    }
    if (sb->len > SAFETENSORS_MAX_HEADER) {
        layout_free(l);
        return error_set(err, path, 0, 0, NULL, "header would be %zu bytes, over the %llu limit",
                         sb->len, SAFETENSORS_MAX_HEADER);
    }
    return 0;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int safetensors_serialize(const safetensors_writer *w, unsigned char **out, size_t *len,
                          error_info *err)
{
    *out = NULL;
    *len = 0;
    layout l;
    if (layout_build(w, &l, NULL, err) < 0)
        return -1;
    size_t total = 8 + l.header.len + (size_t)l.data_len;
    unsigned char *buf = malloc(total);
    if (!buf) {
        layout_free(&l);
        return error_set(err, NULL, 0, 0, NULL, "out of memory (%zu bytes)", total);
    }
    put_le64(buf, l.header.len);
    memcpy(buf + 8, l.header.buf, l.header.len);
    size_t pos = 8 + l.header.len;
    for (size_t i = 0; i < w->count; i++) {
        if (l.order[i]->nbytes)
            memcpy(buf + pos, l.order[i]->data, l.order[i]->nbytes);
        pos += l.order[i]->nbytes;
    }
    layout_free(&l);
    *out = buf;
    *len = total;
    return 0;
}

int safetensors_write(const char *path, const safetensors_writer *w, error_info *err)
{
    layout l;
    if (layout_build(w, &l, path, err) < 0)
        return -1;
    fileio_atomic af;
    int rc = fileio_atomic_open(&af, path, 0644, err);
    unsigned char n[8];
    put_le64(n, l.header.len);
    if (rc == 0)
        rc = fileio_atomic_write(&af, n, 8, err);
    if (rc == 0)
        rc = fileio_atomic_write(&af, l.header.buf, l.header.len, err);
    for (size_t i = 0; rc == 0 && i < w->count; i++)
        if (l.order[i]->nbytes)
            rc = fileio_atomic_write(&af, l.order[i]->data, l.order[i]->nbytes, err);
    if (rc == 0)
        rc = fileio_atomic_commit(&af, err);
    layout_free(&l);
    return rc;
}
