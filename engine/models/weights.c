/* weights.c — the named-tensor store models load from; see weights.h. */
#include "engine/models/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"

typedef struct weight_entry {
    char *name;
    const safetensors_tensor *tensor;
    int64_t row_begin, rows;    /* rows of dim 0 this entry covers (all of them for a plain entry) */
    int view_ndim;              /* > 0: seen with this shape instead (reshape) */
    int64_t view_shape[8];
    bool transposed;            /* a 2-D tensor seen transposed */
    bool used;
} weight_entry;

struct weight_store {
    safetensors_file **files;
    size_t file_count;
    weight_entry *entries;
    size_t count, capacity;
};

weight_store *weights_new(void)
{
    return calloc(1, sizeof(weight_store));
}

void weights_free(weight_store *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->count; i++)
        free(ws->entries[i].name);
    free(ws->entries);
    for (size_t i = 0; i < ws->file_count; i++)
        safetensors_close(ws->files[i]);
    free(ws->files);
    free(ws);
}

static weight_entry *find(const weight_store *ws, const char *name)
{
    for (size_t i = 0; i < ws->count; i++)
        if (strcmp(ws->entries[i].name, name) == 0)
            return &ws->entries[i];
    return NULL;
}

static int add_entry(weight_store *ws, const char *name, const safetensors_tensor *t,
                     int64_t row_begin, int64_t rows, error_info *err)
{
    weight_entry *old = find(ws, name);
    if (old) {
        free(old->name);
        *old = (weight_entry){strdup(name), t, row_begin, rows, 0, {0}, false, false};
        return 0;
    }
    if (ws->count == ws->capacity) {
        size_t cap = ws->capacity ? ws->capacity * 2 : 256;
        weight_entry *grown = realloc(ws->entries, cap * sizeof *grown);
        if (!grown)
            return error_set(err, NULL, 0, 0, name, "out of memory");
        ws->entries = grown;
        ws->capacity = cap;
    }
    ws->entries[ws->count++] = (weight_entry){strdup(name), t, row_begin, rows, 0, {0}, false, false};
    return 0;
}

int weights_add_file(weight_store *ws, const char *path, const char *strip_prefix,
                     const char *add_prefix, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    safetensors_file **grown = realloc(ws->files, (ws->file_count + 1) * sizeof *grown);
    if (!grown) {
        safetensors_close(f);
        return error_set(err, path, 0, 0, NULL, "out of memory");
    }
    ws->files = grown;
    ws->files[ws->file_count++] = f;
    size_t strip = strip_prefix ? strlen(strip_prefix) : 0;
    const char *add = add_prefix ? add_prefix : "";
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        if (strip && strncmp(t->name, strip_prefix, strip) != 0)
            continue;
        size_t len = strlen(add) + strlen(t->name + strip) + 1;
        char *name = malloc(len);
        snprintf(name, len, "%s%s", add, t->name + strip);
        int64_t rows = t->ndim > 0 ? t->shape[0] : 1;
        int rc = add_entry(ws, name, t, 0, rows, err);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int weights_add_rows(weight_store *ws, const char *name, const char *source, int64_t row_begin,
                     int64_t rows, error_info *err)
{
    weight_entry *src = find(ws, source);
    if (!src)
        return error_set(err, NULL, 0, 0, source, "no such tensor to take rows of");
    if (src->tensor->ndim < 1 || row_begin < 0 || rows < 0 || row_begin + rows > src->rows)
        return error_set(err, NULL, 0, 0, source, "rows %lld..%lld are outside the tensor",
                         (long long)row_begin, (long long)(row_begin + rows));
    const safetensors_tensor *t = src->tensor;
    return add_entry(ws, name, t, src->row_begin + row_begin, rows, err);
}

int weights_add_alias(weight_store *ws, const char *name, const char *source, error_info *err)
{
    weight_entry *src = find(ws, source);
    if (!src)
        return error_set(err, NULL, 0, 0, source, "no such tensor to alias");
    weight_entry copy = *src;
    if (add_entry(ws, name, copy.tensor, copy.row_begin, copy.rows, err) < 0)
        return -1;
    weight_entry *e = find(ws, name);
    e->view_ndim = copy.view_ndim;
    memcpy(e->view_shape, copy.view_shape, sizeof e->view_shape);
    e->transposed = copy.transposed;
    return 0;
}

static int entry_shape(const weight_entry *e, int64_t shape[8]);

int weights_add_reshape(weight_store *ws, const char *name, const char *source, int ndim,
                        const int64_t *shape, error_info *err)
{
    weight_entry *src = find(ws, source);
    if (!src)
        return error_set(err, NULL, 0, 0, source, "no such tensor to reshape");
    int64_t have[8];
    int have_ndim = entry_shape(src, have);
    int64_t n_have = 1, n_want = 1;
    for (int d = 0; d < have_ndim; d++)
        n_have *= have[d];
    for (int d = 0; d < ndim; d++)
        n_want *= shape[d];
    if (ndim < 1 || ndim > 8 || n_have != n_want || src->transposed)
        return error_set(err, NULL, 0, 0, source, "cannot be seen with %d dimensions of %lld elements",
                         ndim, (long long)n_want);
    if (weights_add_alias(ws, name, source, err) < 0)
        return -1;
    weight_entry *e = find(ws, name);
    e->view_ndim = ndim;
    memcpy(e->view_shape, shape, (size_t)ndim * sizeof *shape);
    return 0;
}

int weights_add_transpose(weight_store *ws, const char *name, const char *source, error_info *err)
{
    weight_entry *src = find(ws, source);
    if (!src)
        return error_set(err, NULL, 0, 0, source, "no such tensor to transpose");
    int64_t have[8];
    if (entry_shape(src, have) != 2 || src->transposed)
        return error_set(err, NULL, 0, 0, source, "only a matrix can be transposed");
    if (weights_add_alias(ws, name, source, err) < 0)
        return -1;
    weight_entry *e = find(ws, name);
    e->transposed = true;
    e->view_ndim = 2;
    e->view_shape[0] = have[1];
    e->view_shape[1] = have[0];
    return 0;
}

void weights_remove(weight_store *ws, const char *name)
{
    weight_entry *e = find(ws, name);
    if (!e)
        return;
    free(e->name);
    *e = ws->entries[--ws->count];
}

bool weights_has(const weight_store *ws, const char *name)
{
    return find(ws, name) != NULL;
}

static int entry_shape(const weight_entry *e, int64_t shape[8])
{
    if (e->view_ndim > 0) {
        memcpy(shape, e->view_shape, (size_t)e->view_ndim * sizeof *shape);
        return e->view_ndim;
    }
    int ndim = e->tensor->ndim;
    for (int d = 0; d < ndim && d < 8; d++)
        shape[d] = e->tensor->shape[d];
    if (ndim > 0)
        shape[0] = e->rows;
    return ndim;
}

int weights_shape(const weight_store *ws, const char *name, int64_t shape[8])
{
    const weight_entry *e = find(ws, name);
    return e ? entry_shape(e, shape) : -1;
}

static void shape_text(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

int weights_load_f32(weight_store *ws, const char *name, float *dst, int ndim,
                     const int64_t *shape, error_info *err)
{
    weight_entry *e = find(ws, name);
    if (!e)
        return error_set(err, NULL, 0, 0, name, "tensor missing from the checkpoint");
    int64_t have[8];
    int have_ndim = entry_shape(e, have);
    bool same = have_ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = have[d] == shape[d];
    if (!same) {
        char want_text[128], have_text[128];
        shape_text(want_text, sizeof want_text, ndim, shape);
        shape_text(have_text, sizeof have_text, have_ndim, have);
        return error_set(err, NULL, 0, 0, name, "the checkpoint has shape %s, the model needs %s",
                         have_text, want_text);
    }
    /* the stored rows: the source's own row length, whatever the view */
    size_t row = 1;
    for (int d = 1; d < e->tensor->ndim; d++)
        row *= (size_t)e->tensor->shape[d];
    size_t count = e->tensor->ndim > 0 ? row * (size_t)e->rows : 1;
    size_t elem = dtype_size(e->tensor->dtype);
    const unsigned char *src = (const unsigned char *)e->tensor->data + (size_t)e->row_begin * row * elem;
    float *target = dst;
    if (e->transposed && !(target = malloc(count * sizeof *target)))
        return error_set(err, NULL, 0, 0, name, "out of memory");
    if (dtype_to_f32(e->tensor->dtype, src, target, count) < 0) {
        if (target != dst)
            free(target);
        return error_set(err, NULL, 0, 0, name, "dtype %s cannot be read as f32", dtype_name(e->tensor->dtype));
    }
    if (e->transposed) {
        size_t rows = (size_t)e->rows, cols = row;
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0; k < cols; k++)
                dst[k * rows + r] = target[r * cols + k];
        free(target);
    }
    e->used = true;
    return 0;
}

size_t weights_count(const weight_store *ws)
{
    return ws->count;
}

const char *weights_name_at(const weight_store *ws, size_t i)
{
    return ws->entries[i].name;
}

bool weights_used_at(const weight_store *ws, size_t i)
{
    return ws->entries[i].used;
}
