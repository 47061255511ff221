/* lora_file.c — sd-scripts-compatible LoRA files; see lora_file.h. */
#include "engine/lora/lora_file.h"

#include <errno.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora/torch_save.h"
#include "engine/safetensors.h"

void lora_metadata_set(lora_metadata *m, const char *key, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *value;
    if (n >= (int)sizeof buf) { /* long JSON values (tag frequencies) */
        value = malloc((size_t)n + 1);
        if (!value)
            return;
        va_start(ap, fmt);
        vsnprintf(value, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else
        value = strdup(buf);
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->keys[i], key) == 0) {
            free(m->values[i]);
            m->values[i] = value;
            return;
        }
    if (m->count == m->capacity) {
        size_t cap = m->capacity ? m->capacity * 2 : 64;
        char **k = realloc(m->keys, cap * sizeof *k);
        if (!k) {
            free(value);
            return;
        }
        m->keys = k;
        char **v = realloc(m->values, cap * sizeof *v);
        if (!v) {
            free(value);
            return;
        }
        m->values = v;
        m->capacity = cap;
    }
    m->keys[m->count] = strdup(key);
    m->values[m->count++] = value;
}

const char *lora_metadata_get(const lora_metadata *m, const char *key)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->values[i];
    return NULL;
}

void lora_metadata_free(lora_metadata *m)
{
    for (size_t i = 0; i < m->count; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

const char *py_bool_str(int b)
{
    return b ? "True" : "False";
}

/* repr() of a Python float: the shortest digits that read back, positional when the decimal
 * exponent is in [-4, 16), else d.ddde±XX; integral values keep ".0". */
void py_float_str(double x, char *buf, size_t size)
{
    if (isnan(x)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x < 0 ? "-inf" : "inf");
        return;
    }
    if (x == 0) {
        snprintf(buf, size, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    char sci[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, x);
        if (strtod(sci, NULL) == x)
            break;
    }
    /* sci is [-]d[.ddd]e±XX */
    const char *p = sci;
    int negative = *p == '-';
    if (negative)
        p++;
    char digits[32];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    int exponent = atoi(p + 1);
    char out[96];
    size_t o = 0;
    if (negative)
        out[o++] = '-';
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exponent - 1; i++)
                out[o++] = '0';
            for (size_t i = 0; i < nd; i++)
                out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exponent; i++)
                out[o++] = (size_t)i < nd ? digits[i] : '0';
            out[o++] = '.';
            if ((size_t)exponent + 1 < nd)
                for (size_t i = (size_t)exponent + 1; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    }
    snprintf(buf, size, "%s", out);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Tensors converted to the save dtype, owned here until the write. */
typedef struct converted {
    safetensors_writer *w;
    void **buffers;
    size_t count;
} converted;

static void converted_free(converted *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->buffers[i]);
    free(c->buffers);
    safetensors_writer_free(c->w);
}

static int build(const lora_tensor *t, size_t n, dtype_t dt, const lora_metadata *md,
                 int ss_only, converted *c, error_info *err)
{
    memset(c, 0, sizeof *c);
    c->w = safetensors_writer_new();
    c->buffers = calloc(n ? n : 1, sizeof *c->buffers);
    if (!c->w || !c->buffers)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    c->count = n;
    for (size_t i = 0; i < n; i++) {
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++)
            count *= (size_t)t[i].shape[d];
        c->buffers[i] = malloc(count * dtype_size(dt) + 1);
        if (!c->buffers[i])
            return error_set(err, NULL, 0, 0, t[i].name, "out of memory");
        const float *src = t[i].data;
        float *difference = NULL;
        if (t[i].minus || t[i].times) {
            difference = malloc(count * sizeof *difference + 1);
            if (!difference)
                return error_set(err, NULL, 0, 0, t[i].name, "out of memory");
            for (size_t j = 0; j < count; j++)
                difference[j] = (t[i].data[j] - (t[i].minus ? t[i].minus[j] : 0.0f)) *
                                (t[i].times ? *t[i].times : 1.0f);
            src = difference;
        }
        int bad = dtype_from_f32(dt, src, c->buffers[i], count) < 0;
        free(difference);
        if (bad)
            return error_set(err, NULL, 0, 0, t[i].name, "cannot save as %s", dtype_name(dt));
        if (safetensors_writer_add(c->w, t[i].name, dt, t[i].ndim, t[i].shape, c->buffers[i], err) < 0)
            return -1;
    }
    for (size_t i = 0; md && i < md->count; i++) {
        if (ss_only && strncmp(md->keys[i], "ss_", 3) != 0)
            continue;
        if (safetensors_writer_set_metadata(c->w, md->keys[i], md->values[i], err) < 0)
            return -1;
    }
    return 0;
}

static int hashes_of(const converted *c, char model_hash[65], char legacy_hash[9], error_info *err)
{
    unsigned char *bytes;
    size_t len;
    if (safetensors_serialize(c->w, &bytes, &len, err) < 0)
        return -1;
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--)
        header = header << 8 | bytes[i];
    uint8_t digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len - 8 - header, bytes + 8 + header);
    sha256_digest(&ctx, sizeof digest, digest);
    hex(digest, sizeof digest, model_hash);
    /* Python reads what is there: nothing at all when the file is shorter than 1 MiB */
    size_t begin = 0x100000, take = 0;
    if (len > begin)
        take = len - begin < 0x10000 ? len - begin : 0x10000;
    sha256_init(&ctx);
    sha256_update(&ctx, take, bytes + (take ? begin : 0));
    sha256_digest(&ctx, sizeof digest, digest);
    char full[65];
    hex(digest, sizeof digest, full);
    snprintf(legacy_hash, 9, "%.8s", full);
    free(bytes);
    return 0;
}

int lora_hashes(const lora_tensor *t, size_t n, dtype_t save_dtype, const lora_metadata *md,
                char model_hash[65], char legacy_hash[9], error_info *err)
{
    converted c;
    int rc = build(t, n, save_dtype, md, 1, &c, err);
    if (rc == 0)
        rc = hashes_of(&c, model_hash, legacy_hash, err);
    converted_free(&c);
    return rc;
}

/* save_model_as ckpt / pt: sd-scripts' torch.save(state_dict), the tensors alone */
static int save_torch(const char *path, const lora_tensor *t, size_t n, dtype_t save_dtype, error_info *err)
{
    converted c;
    torch_tensor *tt = calloc(n ? n : 1, sizeof *tt);
    int rc = tt ? build(t, n, save_dtype, NULL, 0, &c, err) : error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        tt[i] = (torch_tensor){t[i].name, save_dtype, t[i].ndim, t[i].shape, c.buffers[i]};
    if (rc == 0)
        rc = torch_save(path, tt, n, err);
    if (tt)
        converted_free(&c);
    free(tt);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int lora_file_save(const char *path, const lora_tensor *t, size_t n, dtype_t save_dtype,
                   const lora_metadata *md, error_info *err)
{
    /* save_model_as ckpt / pt (sd-scripts' save_weights: anything but .safetensors) */
    if (ends_with(path, ".ckpt") || ends_with(path, ".pt"))
        return save_torch(path, t, n, save_dtype, err);
    char model_hash[65], legacy_hash[9];
    if (lora_hashes(t, n, save_dtype, md, model_hash, legacy_hash, err) < 0)
        return -1;
    converted c;
    int rc = build(t, n, save_dtype, md, 0, &c, err);
    if (rc == 0)
        rc = safetensors_writer_set_metadata(c.w, "sshs_model_hash", model_hash, err);
    if (rc == 0)
        rc = safetensors_writer_set_metadata(c.w, "sshs_legacy_hash", legacy_hash, err);
    if (rc == 0)
        rc = safetensors_write(path, c.w, err);
    converted_free(&c);
    return rc;
}

int lora_model_file_hashes(const char *path, char legacy[9], char full[65], error_info *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, path, 0, 0, NULL, "cannot read: %s", strerror(errno));
    struct sha256_ctx all, old;
    sha256_init(&all);
    sha256_init(&old);
    unsigned char *buf = malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return error_set(err, path, 0, 0, NULL, "out of memory");
    }
    uint64_t pos = 0;
    size_t got;
    while ((got = fread(buf, 1, 1 << 20, f)) > 0) {
        sha256_update(&all, got, buf);
        /* the old A1111 hash: bytes [1 MiB, 1 MiB + 64 KiB) */
        uint64_t lo = 0x100000, hi = 0x110000;
        uint64_t a = pos > lo ? pos : lo, b = pos + got < hi ? pos + got : hi;
        if (a < b)
            sha256_update(&old, (size_t)(b - a), buf + (a - pos));
        pos += got;
    }
    int failed = ferror(f);
    fclose(f);
    free(buf);
    if (failed)
        return error_set(err, path, 0, 0, NULL, "cannot read: %s", strerror(EIO));
    uint8_t digest[SHA256_DIGEST_SIZE];
    char text[65];
    sha256_digest(&all, sizeof digest, digest);
    hex(digest, sizeof digest, full);
    sha256_digest(&old, sizeof digest, digest);
    hex(digest, sizeof digest, text);
    snprintf(legacy, 9, "%.8s", text);
    return 0;
}
