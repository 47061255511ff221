/* safetensors.c — the reader: map a .safetensors file, validate its header completely, and
 * hand out zero-copy views of its tensors and metadata.
 *
 * The checks follow the Rust crate (the reference implementation): header length at most
 * 100 MB and inside the file, a JSON object, known dtypes, shape × dtype size equal to the
 * offsets' span, and offsets that tile the data buffer exactly — in offset order every
 * tensor begins where the previous one ended, and the last one ends at the end of the file.
 * We are stricter in two places the format leaves open: unknown fields in a tensor entry and
 * duplicate keys are refused rather than ignored or overwritten. The writer is in
 * safetensors_write.c. */
#include "engine/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/torch_load.h"

typedef struct meta_entry {
    const char *key;
    const char *value;
} meta_entry;

struct safetensors_file {
    char *label;
    const unsigned char *base;
    size_t size;
    int mapped;                  /* base is our mmap, to munmap on close */
    int owned;                   /* base is ours to free (a .ckpt / .pt converted) */
    uint64_t header_len;
    const unsigned char *data;
    uint64_t data_len;
    json_t *root;                /* names, keys and values point into it */
    safetensors_tensor *tensors; /* sorted by name */
    size_t count;
    int64_t *shapes;             /* every tensor's shape, one pool */
    meta_entry *meta;            /* sorted by key */
    size_t meta_count;
};

#define NAME_FMT "'%s'"

/* A name as it may appear in a message: at most ~200 bytes, control characters (which a
 * hostile file could use to drive the terminal) shown as '?'. */
typedef struct printable {
    char s[208];
} printable;

static printable show(const char *name)
{
    printable p;
    size_t i = 0;
    for (; name[i] && i < 200; i++)
        p.s[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    /* Do not leave half a UTF-8 sequence at the cut. */
    if (name[i])
        while (i > 0 && ((unsigned char)name[i] & 0xC0) == 0x80)
            i--;
    p.s[i] = '\0';
    if (name[i])
        memcpy(p.s + i, "...", 4);
    return p;
}

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A JSON integer >= 0 (jansson rejects integers beyond int64 while parsing). */
static int json_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const safetensors_tensor *)a)->name, ((const safetensors_tensor *)b)->name);
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp(((const meta_entry *)a)->key, ((const meta_entry *)b)->key);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    uint64_t xe = x->offset + x->nbytes, ye = y->offset + y->nbytes;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (xe != ye)
        return xe < ye ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int parse_metadata(safetensors_file *f, json_t *obj, error_info *err)
{
    if (json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return error_set(err, f->label, 0, 0, NULL,
                         "__metadata__ is not an object of string values");
    size_t n = json_object_size(obj);
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta)
        return error_set(err, f->label, 0, 0, NULL, "out of memory reading __metadata__");
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        if (!json_is_string(value))
            return error_set(err, f->label, 0, 0, NULL,
                             "__metadata__ value of \"%s\" is not a string", show(key).s);
        f->meta[f->meta_count].key = key;
        f->meta[f->meta_count].value = json_string_value(value);
        f->meta_count++;
    }
    qsort(f->meta, f->meta_count, sizeof *f->meta, cmp_meta_key);
    return 0;
}

/* Fills t from one header entry; shape values go to *pool (advanced past them). */
static int parse_entry(safetensors_file *f, const char *key, json_t *entry,
                       safetensors_tensor *t, int64_t **pool, error_info *err)
{
    printable shown = show(key);
    const char *name = shown.s;
    if (!json_is_object(entry))
        return error_set(err, f->label, 0, 0, NULL, "tensor " NAME_FMT ": entry is not an object",
                         name);
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get(entry, fields[i]))
            return error_set(err, f->label, 0, 0, NULL, "tensor " NAME_FMT ": missing \"%s\"",
                             name, fields[i]);
    if (json_object_size(entry) != 3) {
        const char *k;
        json_t *v;
        json_object_foreach(entry, k, v) {
            if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
                return error_set(err, f->label, 0, 0, NULL,
                                 "tensor " NAME_FMT ": unexpected field \"%s\"", name,
                                 show(k).s);
        }
    }

    t->name = key;
    t->path = f->label;
    json_t *jd = json_object_get(entry, "dtype");
    if (!json_is_string(jd))
        return error_set(err, f->label, 0, 0, NULL, "tensor " NAME_FMT ": dtype is not a string",
                         name);
    if (dtype_from_name(json_string_value(jd), &t->dtype) < 0)
        return error_set(err, f->label, 0, 0, NULL, "tensor " NAME_FMT ": unknown dtype \"%s\"",
                         name, show(json_string_value(jd)).s);

    json_t *js = json_object_get(entry, "shape");
    if (!json_is_array(js))
        return error_set(err, f->label, 0, 0, NULL, "tensor " NAME_FMT ": shape is not a list",
                         name);
    t->ndim = (int)json_array_size(js);
    t->shape = *pool;
    uint64_t nel = 1;
    int overflow = 0;
    for (size_t i = 0; i < json_array_size(js); i++) {
        uint64_t d;
        if (json_uint(json_array_get(js, i), &d) < 0)
            return error_set(err, f->label, 0, 0, NULL,
                             "tensor " NAME_FMT ": shape[%zu] is not a non-negative integer",
                             name, i);
        (*pool)[i] = (int64_t)d;
        if (d && nel > UINT64_MAX / d)
            overflow = 1;
        nel *= d;
    }
    *pool += t->ndim;
    /* Like the Rust crate, an overflowing prefix is refused even if a later 0 follows. */
    unsigned bits = dtype_bits(t->dtype);
    if (overflow || nel > UINT64_MAX / bits)
        return error_set(err, f->label, 0, 0, NULL,
                         "tensor " NAME_FMT ": shape × %s element size overflows 64 bits",
                         name, dtype_name(t->dtype));
    if (nel * bits % 8)
        return error_set(err, f->label, 0, 0, NULL,
                         "tensor " NAME_FMT ": %llu elements of %s do not fill whole bytes",
                         name, (unsigned long long)nel, dtype_name(t->dtype));
    t->nelements = nel;
    uint64_t need = nel * bits / 8;

    json_t *jo = json_object_get(entry, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        json_uint(json_array_get(jo, 0), &begin) < 0 || json_uint(json_array_get(jo, 1), &end) < 0)
        return error_set(err, f->label, 0, 0, NULL,
                         "tensor " NAME_FMT ": data_offsets is not a list of two non-negative "
                         "integers", name);
    if (begin > end)
        return error_set(err, f->label, 0, 0, NULL,
                         "tensor " NAME_FMT ": data_offsets begin %llu is after end %llu",
                         name, (unsigned long long)begin, (unsigned long long)end);
    if (end - begin != need) {
        char dims[160] = "";
        size_t len = 0;
        for (int i = 0; i < t->ndim && len < sizeof dims - 24; i++)
            len += (size_t)snprintf(dims + len, sizeof dims - len, "%s%lld", i ? ", " : "",
                                    (long long)t->shape[i]);
        return error_set(err, f->label, 0, 0, NULL,
                         "tensor " NAME_FMT ": shape [%s] of %s needs %llu bytes but data_offsets "
                         "span %llu", name, dims, dtype_name(t->dtype), (unsigned long long)need,
                         (unsigned long long)(end - begin));
    }
    if (end > f->data_len)
        return error_set(err, f->label, 0, 0, NULL,
                         "tensor " NAME_FMT ": data_offsets end %llu is past the end of the data "
                         "buffer (%llu bytes)", name, (unsigned long long)end,
                         (unsigned long long)f->data_len);
    t->offset = begin;
    t->nbytes = (size_t)need;
    t->data = f->data + begin;
    return 0;
}

/* In offset order every tensor must begin where the previous one ended, and the last must
 * end at the end of the data buffer (the Rust crate's validate + MetadataIncompleteBuffer). */
static int check_tiling(safetensors_file *f, error_info *err)
{
    const safetensors_tensor **order = malloc((f->count ? f->count : 1) * sizeof *order);
    if (!order)
        return error_set(err, f->label, 0, 0, NULL, "out of memory checking tensor offsets");
    for (size_t i = 0; i < f->count; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->count, sizeof *order, cmp_tensor_offset);
    uint64_t pos = 0;
    const safetensors_tensor *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < f->count && rc == 0; i++) {
        const safetensors_tensor *t = order[i];
        if (t->offset < pos)
            rc = error_set(err, f->label, 0, 0, NULL,
                           "tensors " NAME_FMT " and " NAME_FMT " overlap: the first ends at byte "
                           "%llu, the second begins at %llu", show(prev->name).s,
                           show(t->name).s, (unsigned long long)pos,
                           (unsigned long long)t->offset);
        else if (t->offset > pos)
            rc = error_set(err, f->label, 0, 0, NULL,
                           "gap in the data buffer: bytes %llu..%llu before tensor " NAME_FMT
                           " belong to no tensor", (unsigned long long)pos,
                           (unsigned long long)t->offset, show(t->name).s);
        pos = t->offset + t->nbytes;
        prev = t;
    }
    if (rc == 0 && pos != f->data_len)
        rc = error_set(err, f->label, 0, 0, NULL,
                       "gap in the data buffer: its last %llu bytes (from byte %llu) belong to "
                       "no tensor", (unsigned long long)(f->data_len - pos),
                       (unsigned long long)pos);
    free(order);
    return rc;
}

/* jansson reports a duplicate key by the position just past its closing quote; find the
 * opening quote and decode the literal, to name the key in the message. */
static int duplicate_key_name(const char *header, int pos, char *out, size_t size)
{
    if (pos < 2 || header[pos - 1] != '"')
        return -1;
    for (int i = pos - 2; i >= 0; i--) {
        if (header[i] != '"')
            continue;
        int backslashes = 0;
        while (i - 1 - backslashes >= 0 && header[i - 1 - backslashes] == '\\')
            backslashes++;
        if (backslashes % 2)
            continue;
        json_t *s = json_loadb(header + i, (size_t)(pos - i), JSON_DECODE_ANY, NULL);
        int rc = json_is_string(s) ? 0 : -1;
        if (rc == 0)
            snprintf(out, size, "%s", json_string_value(s));
        json_decref(s);
        return rc;
    }
    return -1;
}

static int parse_header(safetensors_file *f, error_info *err)
{
    if (f->size < 8)
        return error_set(err, f->label, 0, 0, NULL,
                         "file is %zu bytes, too short for the 8-byte header length", f->size);
    uint64_t n = read_le64(f->base);
    if (n > SAFETENSORS_MAX_HEADER)
        return error_set(err, f->label, 0, 0, NULL,
                         "header length %llu is over the limit of %llu bytes (corrupt file?)",
                         (unsigned long long)n, SAFETENSORS_MAX_HEADER);
    if (n > f->size - 8)
        return error_set(err, f->label, 0, 0, NULL,
                         "header length %llu runs past the end of the file (%zu bytes)",
                         (unsigned long long)n, f->size);
    f->header_len = n;
    f->data = f->base + 8 + n;
    f->data_len = f->size - 8 - n;

    json_error_t jerr;
    f->root = json_loadb((const char *)f->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!f->root) {
        char dup[256];
        if (json_error_code(&jerr) == json_error_duplicate_key &&
            duplicate_key_name((const char *)f->base + 8, jerr.position, dup, sizeof dup) == 0)
            return error_set(err, f->label, 0, 0, NULL,
                             "header has a duplicate key " NAME_FMT, show(dup).s);
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return error_set(err, f->label, 0, 0, NULL,
                             "header has a duplicate key (near byte %d of the header)",
                             jerr.position);
        return error_set(err, f->label, 0, 0, NULL,
                         "header is not valid JSON: %s (byte %d of the header)", jerr.text,
                         jerr.position);
    }
    if (!json_is_object(f->root))
        return error_set(err, f->label, 0, 0, NULL, "header is not a JSON object");

    size_t entries = json_object_size(f->root);
    size_t ndims = 0;
    const char *key;
    json_t *value;
    json_object_foreach(f->root, key, value) {
        json_t *shape = json_is_object(value) ? json_object_get(value, "shape") : NULL;
        if (json_is_array(shape))
            ndims += json_array_size(shape);
    }
    f->tensors = calloc(entries ? entries : 1, sizeof *f->tensors);
    f->shapes = calloc(ndims ? ndims : 1, sizeof *f->shapes);
    if (!f->tensors || !f->shapes)
        return error_set(err, f->label, 0, 0, NULL, "out of memory reading the header");

    int64_t *pool = f->shapes;
    json_object_foreach(f->root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_metadata(f, value, err) < 0)
                return -1;
            continue;
        }
        if (parse_entry(f, key, value, &f->tensors[f->count], &pool, err) < 0)
            return -1;
        f->count++;
    }
    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_tensor_name);
    return check_tiling(f, err);
}

static int open_common(safetensors_file *f, const char *label, safetensors_file **out,
                       error_info *err)
{
    *out = NULL;
    f->label = strdup(label ? label : "");
    if (!f->label) {
        safetensors_close(f);
        return error_set(err, label, 0, 0, NULL, "out of memory");
    }
    if (parse_header(f, err) < 0) {
        safetensors_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int safetensors_open_memory(const void *buf, size_t len, const char *label,
                            safetensors_file **out, error_info *err)
{
    safetensors_file *f = calloc(1, sizeof *f);
    if (!f) {
        *out = NULL;
        return error_set(err, label, 0, 0, NULL, "out of memory");
    }
    f->base = buf;
    f->size = len;
    return open_common(f, label, out, err);
}

int safetensors_open(const char *path, safetensors_file **out, error_info *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return error_set(err, path, 0, 0, NULL, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, path, 0, 0, NULL, "not a regular file");
    }
    safetensors_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return error_set(err, path, 0, 0, NULL, "out of memory");
    }
    f->size = (size_t)st.st_size;
    if (f->size >= 8) {
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(f);
            return error_set(err, path, 0, 0, NULL, "cannot map: %s", strerror(e));
        }
        f->base = p;
        f->mapped = 1;
    }
    close(fd);
    if (f->mapped && torch_file_is_zip(f->base, f->size)) {   /* a .ckpt / .pt: its state dict */
        unsigned char *bytes;
        size_t len;
        int rc = torch_load_as_safetensors(f->base, f->size, path, &bytes, &len, err);
        munmap((void *)f->base, f->size);
        f->mapped = 0;
        if (rc != 0) {
            free(f);
            return -1;
        }
        f->base = bytes;
        f->size = len;
        f->owned = 1;
    }
    return open_common(f, path, out, err);
}

void safetensors_close(safetensors_file *f)
{
    if (!f)
        return;
    free(f->meta);
    free(f->shapes);
    free(f->tensors);
    if (f->root)
        json_decref(f->root);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    if (f->owned)
        free((void *)f->base);
    free(f->label);
    free(f);
}

size_t safetensors_count(const safetensors_file *f)
{
    return f->count;
}

const safetensors_tensor *safetensors_tensor_at(const safetensors_file *f, size_t i)
{
    return i < f->count ? &f->tensors[i] : NULL;
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name)
{
    if (f->count == 0)
        return NULL;
    safetensors_tensor key = {.name = name};
    return bsearch(&key, f->tensors, f->count, sizeof *f->tensors, cmp_tensor_name);
}

size_t safetensors_metadata_count(const safetensors_file *f)
{
    return f->meta_count;
}

void safetensors_metadata_at(const safetensors_file *f, size_t i, const char **key,
                             const char **value)
{
    *key = i < f->meta_count ? f->meta[i].key : NULL;
    *value = i < f->meta_count ? f->meta[i].value : NULL;
}

const char *safetensors_metadata_get(const safetensors_file *f, const char *key)
{
    if (f->meta_count == 0)
        return NULL;
    meta_entry probe = {.key = key};
    const meta_entry *m = bsearch(&probe, f->meta, f->meta_count, sizeof *f->meta, cmp_meta_key);
    return m ? m->value : NULL;
}

uint64_t safetensors_file_size(const safetensors_file *f)
{
    return f->size;
}

uint64_t safetensors_header_size(const safetensors_file *f)
{
    return f->header_len;
}

const void *safetensors_data(const safetensors_file *f, size_t *len)
{
    *len = (size_t)f->data_len;
    return f->data;
}

int safetensors_read_f32(const safetensors_tensor *t, float *out, error_info *err)
{
    if (dtype_to_f32(t->dtype, t->data, out, (size_t)t->nelements) < 0)
        return error_set(err, t->path, 0, 0, NULL,
                         "tensor " NAME_FMT ": cannot read %s as f32 (only F16, BF16, F32, F64)",
                         show(t->name).s, dtype_name(t->dtype));
    return 0;
}
