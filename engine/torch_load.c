/* torch_load.c — reading torch.save's state dicts without Python; see torch_load.h. */
#include "engine/torch_load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/safetensors.h"

bool torch_file_is_zip(const void *buf, size_t len)
{
    return len >= 4 && !memcmp(buf, "PK\x03\x04", 4);
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- the zip container (stored records, as torch writes them) ---- */

typedef struct record {
    const char *name;            /* not terminated: name_len */
    size_t name_len;
    const unsigned char *data;
    size_t size;
} record;

typedef struct zip {
    record *r;
    size_t n;
} zip;

static int zip_read(const unsigned char *b, size_t len, const char *label, zip *z, error_info *err)
{
    memset(z, 0, sizeof *z);
    size_t eocd = 0;
    for (size_t i = len >= 22 ? len - 22 : 0;; i--) {   /* the end record, before any comment */
        if (len >= 22 && le(b + i, 4) == 0x06054b50) {
            eocd = i + 1;
            break;
        }
        if (i == 0 || len - i > 65536 + 22)
            break;
    }
    if (!eocd)
        return error_set(err, label, 0, 0, NULL, "a zip file without its central directory (truncated?)");
    const unsigned char *e = b + eocd - 1;
    size_t count = (size_t)le(e + 10, 2), cd = (size_t)le(e + 16, 4);
    if (count == 0xffff || cd == 0xffffffffu)
        return error_set(err, label, 0, 0, NULL, "a ZIP64 file (over 4 GiB or 65535 records): too large "
                         "for a LoRA; save it as safetensors");
    z->r = calloc(count ? count : 1, sizeof *z->r);
    if (!z->r)
        return error_set(err, label, 0, 0, NULL, "out of memory");
    size_t p = cd;
    for (size_t i = 0; i < count; i++) {
        if (p + 46 > len || le(b + p, 4) != 0x02014b50)
            return error_set(err, label, 0, 0, NULL, "a broken zip central directory");
        unsigned method = (unsigned)le(b + p + 10, 2);
        size_t csize = (size_t)le(b + p + 20, 4), usize = (size_t)le(b + p + 24, 4);
        size_t nl = (size_t)le(b + p + 28, 2), xl = (size_t)le(b + p + 30, 2), cl = (size_t)le(b + p + 32, 2);
        size_t lh = (size_t)le(b + p + 42, 4);
        if (p + 46 + nl > len || lh + 30 > len || le(b + lh, 4) != 0x04034b50)
            return error_set(err, label, 0, 0, NULL, "a broken zip record");
        size_t data = lh + 30 + (size_t)le(b + lh + 26, 2) + (size_t)le(b + lh + 28, 2);
        if (method != 0 || csize != usize)
            return error_set(err, label, 0, 0, NULL, "a compressed zip record (%.*s); torch.save stores "
                             "them uncompressed", (int)nl, (const char *)b + p + 46);
        if (data + usize > len || data + usize < data)
            return error_set(err, label, 0, 0, NULL, "a zip record runs past the end of the file");
        z->r[z->n++] = (record){(const char *)b + p + 46, nl, b + data, usize};
        p += 46 + nl + xl + cl;
    }
    return 0;
}

/* the record `prefix/suffix` */
static const record *zip_find(const zip *z, const char *prefix, size_t plen, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < z->n; i++)
        if (z->r[i].name_len == plen + 1 + sl && !memcmp(z->r[i].name, prefix, plen) &&
            z->r[i].name[plen] == '/' && !memcmp(z->r[i].name + plen + 1, suffix, sl))
            return &z->r[i];
    return NULL;
}

/* ---- the pickle ---- */

typedef enum { V_MARK, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_GLOBAL, V_TUPLE, V_DICT, V_STORAGE,
               V_TENSOR } vkind;

typedef struct pval {
    vkind k;
    int64_t i;                   /* int, bool; storage: numel */
    char *s;                     /* str; global "module.name"; storage: its key */
    int *items, n;               /* tuple: values; dict: key, value pairs (n = 2 · pairs) */
    dtype_t dt;                  /* storage */
    int storage;                 /* tensor: its storage's value */
    int64_t offset, shape[8], stride[8];
    int ndim;
} pval;

typedef struct vm {
    pval *v;
    size_t nv, cv;
    int *stack, *memo;
    size_t ns, cs, nm;
    const char *label;
    error_info *err;
} vm;

static int fail(vm *m, const char *fmt, const char *what)
{
    return error_set(m->err, m->label, 0, 0, NULL, fmt, what);
}

static int new_val(vm *m, vkind k)
{
    if (m->nv == m->cv) {
        size_t c = m->cv ? m->cv * 2 : 64;
        pval *g = realloc(m->v, c * sizeof *g);
        if (!g)
            return -1;
        m->v = g;
        m->cv = c;
    }
    memset(&m->v[m->nv], 0, sizeof m->v[0]);
    m->v[m->nv].k = k;
    return (int)m->nv++;
}

static int push(vm *m, int v)
{
    if (v < 0)
        return -1;
    if (m->ns == m->cs) {
        size_t c = m->cs ? m->cs * 2 : 64;
        int *g = realloc(m->stack, c * sizeof *g);
        if (!g)
            return -1;
        m->stack = g;
        m->cs = c;
    }
    m->stack[m->ns++] = v;
    return 0;
}

static int pop(vm *m)
{
    return m->ns ? m->stack[--m->ns] : -1;
}

static int top(vm *m)
{
    return m->ns ? m->stack[m->ns - 1] : -1;
}

/* the values above the topmost mark, as a tuple's items (the mark removed) */
static int pop_mark(vm *m, int **items, int *n)
{
    size_t at = m->ns;
    while (at > 0 && m->v[m->stack[at - 1]].k != V_MARK)
        at--;
    if (at == 0)
        return -1;
    *n = (int)(m->ns - at);
    *items = malloc(((size_t)*n + 1) * sizeof **items);
    if (!*items)
        return -1;
    memcpy(*items, m->stack + at, (size_t)*n * sizeof **items);
    m->ns = at - 1;
    return 0;
}

static int new_str(vm *m, const unsigned char *s, size_t len)
{
    int v = new_val(m, V_STR);
    if (v < 0 || !(m->v[v].s = malloc(len + 1)))
        return -1;
    memcpy(m->v[v].s, s, len);
    m->v[v].s[len] = '\0';
    return v;
}

static int new_tuple(vm *m, int *items, int n)
{
    int v = new_val(m, V_TUPLE);
    if (v < 0) {
        free(items);
        return -1;
    }
    m->v[v].items = items;
    m->v[v].n = n;
    return v;
}

static int memo_put(vm *m, size_t idx)
{
    if (!m->ns || idx > (1u << 24))
        return fail(m, "%s", "a broken pickle (memo)");
    if (idx >= m->nm) {
        size_t c = idx + 64;
        int *g = realloc(m->memo, c * sizeof *g);
        if (!g)
            return -1;
        for (size_t i = m->nm; i < c; i++)
            g[i] = -1;
        m->memo = g;
        m->nm = c;
    }
    m->memo[idx] = top(m);
    return 0;
}

static int int_tuple(vm *m, int t, int64_t *out, int *n)
{
    if (t < 0 || m->v[t].k != V_TUPLE || m->v[t].n > 8)
        return -1;
    for (int i = 0; i < m->v[t].n; i++) {
        const pval *x = &m->v[m->v[t].items[i]];
        if (x->k != V_INT)
            return -1;
        out[i] = x->i;
    }
    *n = m->v[t].n;
    return 0;
}

/* REDUCE: only a state dict's calls */
static int reduce(vm *m)
{
    int args = pop(m), fn = pop(m);
    if (args < 0 || fn < 0 || m->v[args].k != V_TUPLE || m->v[fn].k != V_GLOBAL)
        return fail(m, "%s", "a pickle that is not a torch state dict (REDUCE)");
    const pval *a = &m->v[args];
    if (!strcmp(m->v[fn].s, "collections.OrderedDict") && a->n == 0)
        return push(m, new_val(m, V_DICT));
    if (strcmp(m->v[fn].s, "torch._utils._rebuild_tensor_v2"))
        return fail(m, "holds %s, which a state dict of tensors does not call; loratty reads LoRA "
                    "state dicts only", m->v[fn].s);
    if (a->n < 4 || m->v[a->items[0]].k != V_STORAGE || m->v[a->items[1]].k != V_INT)
        return fail(m, "%s", "a tensor the pickle builds in an unknown way");
    int t = new_val(m, V_TENSOR);
    if (t < 0)
        return -1;
    pval *x = &m->v[t];
    x->storage = a->items[0];
    x->offset = m->v[a->items[1]].i;
    int ns = 0;
    if (int_tuple(m, a->items[2], x->shape, &x->ndim) || int_tuple(m, a->items[3], x->stride, &ns) ||
        ns != x->ndim)
        return fail(m, "%s", "a tensor with an unreadable shape or stride");
    int64_t numel = 1;   /* bounded, so the sizes below cannot overflow */
    for (int k = 0; k < x->ndim; k++) {
        if (x->shape[k] < 0 || x->shape[k] > (1ll << 31) || x->stride[k] < 0 || x->stride[k] > (1ll << 40))
            return fail(m, "%s", "a tensor with an impossible shape or stride");
        numel *= x->shape[k];
        if (numel > (1ll << 40))
            return fail(m, "%s", "a tensor too large for a LoRA");
    }
    if (x->offset < 0 || x->offset > (1ll << 40))
        return fail(m, "%s", "a tensor with an impossible storage offset");
    return push(m, t);
}

/* BINPERSID: ('storage', torch.<Type>Storage, key, location, numel) */
static int persistent(vm *m)
{
    int id = pop(m);
    const pval *t = id >= 0 ? &m->v[id] : NULL;
    if (!t || t->k != V_TUPLE || t->n != 5 || m->v[t->items[0]].k != V_STR ||
        strcmp(m->v[t->items[0]].s, "storage") || m->v[t->items[1]].k != V_GLOBAL ||
        m->v[t->items[2]].k != V_STR || m->v[t->items[4]].k != V_INT)
        return fail(m, "%s", "a persistent id that is not a torch storage");
    static const struct {
        const char *name;
        dtype_t dt;
    } types[] = {{"torch.FloatStorage", DTYPE_F32}, {"torch.HalfStorage", DTYPE_F16},
                 {"torch.BFloat16Storage", DTYPE_BF16}, {"torch.DoubleStorage", DTYPE_F64}};
    const char *type = m->v[t->items[1]].s;
    int s = new_val(m, V_STORAGE);
    if (s < 0)
        return -1;
    size_t i = 0;
    while (i < sizeof types / sizeof types[0] && strcmp(types[i].name, type))
        i++;
    if (i == sizeof types / sizeof types[0])
        return fail(m, "has a %s, not a float storage of a LoRA", type);
    m->v[s].dt = types[i].dt;
    m->v[s].s = strdup(m->v[t->items[2]].s);
    m->v[s].i = m->v[t->items[4]].i;
    return m->v[s].s ? push(m, s) : -1;
}

static int run(vm *m, const unsigned char *p, size_t len, int *result)
{
    const unsigned char *end = p + len;
#define NEED(n)                                                                                    \
    do {                                                                                           \
        if ((size_t)(end - p) < (size_t)(n))                                                       \
            return fail(m, "%s", "a truncated pickle");                                            \
    } while (0)
    while (p < end) {
        unsigned char op = *p++;
        int rc = 0, *items = NULL, n = 0;
        switch (op) {
        case 0x80: NEED(1); p++; break;   /* PROTO */
        case 0x95: NEED(8); p += 8; break;   /* FRAME */
        case 'c': {   /* GLOBAL "module\nname\n" */
            const unsigned char *a = memchr(p, '\n', (size_t)(end - p));
            const unsigned char *b = a ? memchr(a + 1, '\n', (size_t)(end - a - 1)) : NULL;
            if (!b)
                return fail(m, "%s", "a truncated pickle");
            int v = new_val(m, V_GLOBAL);
            if (v < 0 || !(m->v[v].s = malloc((size_t)(b - p) + 1)))
                return -1;
            snprintf(m->v[v].s, (size_t)(b - p) + 1, "%.*s.%.*s", (int)(a - p), (const char *)p,
                     (int)(b - a - 1), (const char *)a + 1);
            p = b + 1;
            rc = push(m, v);
            break;
        }
        case 'q': NEED(1); rc = memo_put(m, *p++); break;
        case 'r': NEED(4); rc = memo_put(m, (size_t)le(p, 4)); p += 4; break;
        case 0x94: rc = memo_put(m, m->nm); break;   /* MEMOIZE: the next index */
        case 'h': case 'j': {
            size_t idx;
            if (op == 'h') {
                NEED(1);
                idx = *p++;
            } else {
                NEED(4);
                idx = (size_t)le(p, 4);
                p += 4;
            }
            if (idx >= m->nm || m->memo[idx] < 0)
                return fail(m, "%s", "a pickle that reads an unset memo");
            rc = push(m, m->memo[idx]);
            break;
        }
        case '(': rc = push(m, new_val(m, V_MARK)); break;
        case ')': rc = push(m, new_tuple(m, malloc(sizeof(int)), 0)); break;
        case 't':
            if (pop_mark(m, &items, &n))
                return fail(m, "%s", "a broken pickle (TUPLE without MARK)");
            rc = push(m, new_tuple(m, items, n));
            break;
        case 0x85: case 0x86: case 0x87:   /* TUPLE1..3 */
            n = op - 0x84;
            if (m->ns < (size_t)n || !(items = malloc((size_t)n * sizeof *items)))
                return fail(m, "%s", "a broken pickle (TUPLE)");
            for (int i = n - 1; i >= 0; i--)
                items[i] = pop(m);
            rc = push(m, new_tuple(m, items, n));
            break;
        case 'K': NEED(1); { int v = new_val(m, V_INT); if (v >= 0) m->v[v].i = *p; p++; rc = push(m, v); } break;
        case 'M': NEED(2); { int v = new_val(m, V_INT); if (v >= 0) m->v[v].i = (int64_t)le(p, 2); p += 2; rc = push(m, v); } break;
        case 'J': NEED(4); { int v = new_val(m, V_INT); if (v >= 0) m->v[v].i = (int32_t)(uint32_t)le(p, 4); p += 4; rc = push(m, v); } break;
        case 0x8a: {   /* LONG1 */
            NEED(1);
            int nb = *p++;
            NEED(nb);
            if (nb > 8)
                return fail(m, "%s", "an integer too large for a tensor");
            uint64_t u = le(p, nb);
            if (nb && nb < 8 && (p[nb - 1] & 0x80))
                u |= ~0ull << (8 * nb);   /* negative */
            p += nb;
            int v = new_val(m, V_INT);
            if (v >= 0)
                m->v[v].i = (int64_t)u;
            rc = push(m, v);
            break;
        }
        case 'X': NEED(4); { size_t l = (size_t)le(p, 4); p += 4; NEED(l); rc = push(m, new_str(m, p, l)); p += l; } break;
        case 0x8c: NEED(1); { size_t l = *p++; NEED(l); rc = push(m, new_str(m, p, l)); p += l; } break;
        case 0x88: case 0x89: { int v = new_val(m, V_BOOL); if (v >= 0) m->v[v].i = op == 0x88; rc = push(m, v); } break;
        case 'N': rc = push(m, new_val(m, V_NONE)); break;
        case 'G': NEED(8); p += 8; rc = push(m, new_val(m, V_FLOAT)); break;
        case '}': rc = push(m, new_val(m, V_DICT)); break;
        case 's': case 'u': {
            if (op == 's') {
                if (m->ns < 3 || !(items = malloc(2 * sizeof *items)))
                    return fail(m, "%s", "a broken pickle (SETITEM)");
                items[1] = pop(m);
                items[0] = pop(m);
                n = 2;
            } else if (pop_mark(m, &items, &n) || n % 2)
                return fail(m, "%s", "a broken pickle (SETITEMS)");
            int d = top(m);
            if (d < 0 || m->v[d].k != V_DICT) {
                free(items);
                return fail(m, "%s", "a pickle that sets items on something not a dict");
            }
            int *g = realloc(m->v[d].items, ((size_t)m->v[d].n + (size_t)n + 1) * sizeof *g);
            if (!g) {
                free(items);
                return -1;
            }
            memcpy(g + m->v[d].n, items, (size_t)n * sizeof *g);
            m->v[d].items = g;
            m->v[d].n += n;
            free(items);
            break;
        }
        case 'Q': rc = persistent(m); break;
        case 'R': rc = reduce(m); break;
        case '.': *result = top(m); return *result < 0 ? fail(m, "%s", "an empty pickle") : 0;
        default: {
            char what[8];
            snprintf(what, sizeof what, "0x%02x", op);
            return fail(m, "uses pickle opcode %s, which torch.save does not write for a state dict", what);
        }
        }
        if (rc != 0)
            return m->err->message[0] ? -1 : fail(m, "%s", "out of memory");
    }
    return fail(m, "%s", "a pickle without STOP");
#undef NEED
}

static void vm_free(vm *m)
{
    for (size_t i = 0; i < m->nv; i++) {
        free(m->v[i].s);
        free(m->v[i].items);
    }
    free(m->v);
    free(m->stack);
    free(m->memo);
}

int torch_load_as_safetensors(const void *buf, size_t len, const char *label, unsigned char **out,
                              size_t *out_len, error_info *err)
{
    *out = NULL;
    zip z;
    vm m = {0};
    m.label = label;
    m.err = err;
    if (err)
        err->message[0] = '\0';
    int rc = zip_read(buf, len, label, &z, err), result = -1;
    /* the records' folder: the first record's (torch names it after the file, or "archive") */
    const char *slash = rc == 0 && z.n ? memchr(z.r[0].name, '/', z.r[0].name_len) : NULL;
    size_t plen = slash ? (size_t)(slash - z.r[0].name) : 0;
    const record *pkl = slash ? zip_find(&z, z.r[0].name, plen, "data.pkl") : NULL;
    if (rc == 0 && !pkl)
        rc = error_set(err, label, 0, 0, NULL, "a zip file without torch.save's data.pkl");
    if (rc == 0)
        rc = run(&m, pkl->data, pkl->size, &result);
    const pval *d = rc == 0 ? &m.v[result] : NULL;
    if (rc == 0 && d->k != V_DICT)
        rc = error_set(err, label, 0, 0, NULL, "holds no state dict (a dict of tensors)");
    safetensors_writer *w = rc == 0 ? safetensors_writer_new() : NULL;
    if (rc == 0 && !w)
        rc = error_set(err, label, 0, 0, NULL, "out of memory");
    for (int i = 0; rc == 0 && i < d->n; i += 2) {
        const pval *key = &m.v[d->items[i]], *t = &m.v[d->items[i + 1]];
        if (key->k != V_STR || t->k != V_TENSOR) {
            rc = error_set(err, label, 0, 0, NULL, "holds %s, not a tensor under a name (a whole "
                           "checkpoint? loratty reads LoRA state dicts)",
                           key->k == V_STR ? key->s : "a key that is not a name");
            break;
        }
        const pval *s = &m.v[t->storage];
        size_t es = dtype_size(s->dt);
        int64_t numel = 1, want = 1;
        for (int k = t->ndim - 1; k >= 0; k--) {   /* contiguous row-major only */
            if (t->shape[k] != 1 && t->stride[k] != want)
                numel = -1;
            want *= t->shape[k];
            if (numel >= 0)
                numel *= t->shape[k];
        }
        char rec[96];
        snprintf(rec, sizeof rec, "data/%s", s->s);
        const record *r = zip_find(&z, z.r[0].name, plen, rec);
        if (numel < 0 || t->offset < 0)
            rc = error_set(err, label, 0, 0, NULL, "tensor %s is not contiguous", key->s);
        else if (!r || (uint64_t)(t->offset + numel) * es > r->size)
            rc = error_set(err, label, 0, 0, NULL, "tensor %s: its storage record %s is missing or short",
                           key->s, rec);
        else
            rc = safetensors_writer_add(w, key->s, s->dt, t->ndim, t->shape, r->data + (size_t)t->offset * es,
                                        err) < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = safetensors_serialize(w, out, out_len, err) < 0 ? -1 : 0;
    safetensors_writer_free(w);
    vm_free(&m);
    free(z.r);
    return rc;
}
