/* torch_save.c — torch.save's zip container and pickle for a state dict; see torch_save.h.
 * The records are stored (no compression) with their data 64-byte aligned, as torch's writer
 * pads them, so torch.load(mmap=True) works too. */
#include "engine/lora/torch_save.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
    int failed;
} buf;

static void put(buf *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void put_byte(buf *b, unsigned char c)
{
    put(b, &c, 1);
}

static void put_le(buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        put_byte(b, (unsigned char)(v >> (8 * i)));
}

/* ---- pickle, protocol 2 ---- */

static void p_global(buf *b, const char *module, const char *name)
{
    put_byte(b, 'c');
    put(b, module, strlen(module));
    put_byte(b, '\n');
    put(b, name, strlen(name));
    put_byte(b, '\n');
}

static void p_str(buf *b, const char *s)   /* BINUNICODE */
{
    size_t n = strlen(s);
    put_byte(b, 'X');
    put_le(b, n, 4);
    put(b, s, n);
}

static void p_int(buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        put_byte(b, 'K');
        put_byte(b, (unsigned char)v);
    } else if (v >= 0 && v < 65536) {
        put_byte(b, 'M');
        put_le(b, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        put_byte(b, 'J');
        put_le(b, (uint64_t)(uint32_t)(int32_t)v, 4);
    } else {   /* LONG1: little-endian two's complement, 8 bytes */
        put_byte(b, 0x8a);
        put_byte(b, 8);
        put_le(b, (uint64_t)v, 8);
    }
}

static void p_tuple(buf *b, const int64_t *v, int n)
{
    if (n == 0) {
        put_byte(b, ')');
        return;
    }
    put_byte(b, '(');
    for (int i = 0; i < n; i++)
        p_int(b, v[i]);
    put_byte(b, 't');
}

static void p_ordered_dict(buf *b)   /* collections.OrderedDict() */
{
    p_global(b, "collections", "OrderedDict");
    put_byte(b, ')');
    put_byte(b, 'R');
}

static const char *storage_of(dtype_t dt)
{
    return dt == DTYPE_F16 ? "HalfStorage" : dt == DTYPE_BF16 ? "BFloat16Storage" : "FloatStorage";
}

static int64_t numel(const torch_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* {name: _rebuild_tensor_v2(storage i, 0, shape, stride, False, OrderedDict())} */
static void pickle_state_dict(buf *b, const torch_tensor *t, size_t n)
{
    put_byte(b, 0x80);   /* PROTO 2 */
    put_byte(b, 2);
    p_ordered_dict(b);
    put_byte(b, '(');
    for (size_t i = 0; i < n; i++) {
        int64_t stride[4], s = 1;
        for (int d = t[i].ndim - 1; d >= 0; d--) {   /* contiguous, row-major */
            stride[d] = s;
            s *= t[i].shape[d];
        }
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        p_str(b, t[i].name);
        p_global(b, "torch._utils", "_rebuild_tensor_v2");
        put_byte(b, '(');
        put_byte(b, '(');   /* persistent id: ('storage', type, key, location, numel) */
        p_str(b, "storage");
        p_global(b, "torch", storage_of(t[i].dtype));
        p_str(b, key);
        p_str(b, "cpu");
        p_int(b, numel(&t[i]));
        put_byte(b, 't');
        put_byte(b, 'Q');   /* BINPERSID */
        p_int(b, 0);        /* storage offset */
        p_tuple(b, t[i].shape, t[i].ndim);
        p_tuple(b, stride, t[i].ndim);
        put_byte(b, 0x89);  /* requires_grad False */
        p_ordered_dict(b);  /* backward hooks */
        put_byte(b, 't');
        put_byte(b, 'R');
    }
    put_byte(b, 'u');       /* SETITEMS */
    put_byte(b, '.');
}

/* ---- zip (stored) ---- */

typedef struct entry {
    char name[96];
    uint32_t crc, size, offset;
} entry;

static void zip_record(buf *z, entry *e, const char *name, const void *data, size_t len)
{
    snprintf(e->name, sizeof e->name, "%s", name);
    e->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
    e->size = (uint32_t)len;
    e->offset = (uint32_t)z->len;
    size_t nl = strlen(e->name), start = z->len + 30 + nl + 4;
    size_t pad = (64 - start % 64) % 64;   /* an extra field "FB" pads the data to 64 bytes */
    put_le(z, 0x04034b50, 4);
    put_le(z, 20, 2);   /* version needed */
    put_le(z, 0, 2);    /* flags */
    put_le(z, 0, 2);    /* stored */
    put_le(z, 0, 4);    /* time, date */
    put_le(z, e->crc, 4);
    put_le(z, len, 4);
    put_le(z, len, 4);
    put_le(z, nl, 2);
    put_le(z, 4 + pad, 2);
    put(z, e->name, nl);
    put_le(z, 0x4246, 2);
    put_le(z, pad, 2);
    for (size_t i = 0; i < pad; i++)
        put_byte(z, 'Z');
    put(z, data, len);
}

static void zip_finish(buf *z, const entry *e, size_t n)
{
    size_t cd = z->len;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        put_le(z, 0x02014b50, 4);
        put_le(z, 20, 2);   /* made by */
        put_le(z, 20, 2);   /* needed */
        put_le(z, 0, 2);
        put_le(z, 0, 2);
        put_le(z, 0, 4);
        put_le(z, e[i].crc, 4);
        put_le(z, e[i].size, 4);
        put_le(z, e[i].size, 4);
        put_le(z, nl, 2);
        put_le(z, 0, 2);    /* extra */
        put_le(z, 0, 2);    /* comment */
        put_le(z, 0, 2);    /* disk */
        put_le(z, 0, 2);    /* internal attributes */
        put_le(z, 0, 4);    /* external attributes */
        put_le(z, e[i].offset, 4);
        put(z, e[i].name, nl);
    }
    size_t cd_len = z->len - cd;
    put_le(z, 0x06054b50, 4);
    put_le(z, 0, 2);
    put_le(z, 0, 2);
    put_le(z, n, 2);
    put_le(z, n, 2);
    put_le(z, cd_len, 4);
    put_le(z, cd, 4);
    put_le(z, 0, 2);
}

int torch_save(const char *path, const torch_tensor *t, size_t n, error_info *err)
{
    buf pkl = {0}, z = {0};
    pickle_state_dict(&pkl, t, n);
    entry *e = calloc(n + 3, sizeof *e);
    size_t ne = 0, total = pkl.len;
    for (size_t i = 0; i < n; i++)
        total += (size_t)numel(&t[i]) * dtype_size(t[i].dtype);
    if (!e || pkl.failed || total >= 0xffff0000u || n + 3 > 0xffff) {
        free(e), free(pkl.p);
        return error_set(err, path, 0, 0, NULL, pkl.failed || !e ? "out of memory"
                         : "too large for a zip file without ZIP64 (4 GiB, 65535 tensors)");
    }
    zip_record(&z, &e[ne++], "archive/data.pkl", pkl.p, pkl.len);
    zip_record(&z, &e[ne++], "archive/byteorder", "little", 6);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "archive/data/%zu", i);
        zip_record(&z, &e[ne++], name, t[i].data, (size_t)numel(&t[i]) * dtype_size(t[i].dtype));
    }
    zip_record(&z, &e[ne++], "archive/version", "3\n", 2);
    zip_finish(&z, e, ne);
    int rc = z.failed ? error_set(err, path, 0, 0, NULL, "out of memory")
                      : fileio_write_atomic(path, z.p, z.len, err);
    free(e);
    free(pkl.p);
    free(z.p);
    return rc;
}
