/* arena.c — the activation memory arena (see arena.h): a plan of named buffers, one
 * allocation, pointers handed out by id. */
#include "kernels/arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN_FLOATS 16 /* 64 bytes: cache lines and the widest SIMD loads */

static size_t arena_round(size_t floats)
{
    return (floats + ARENA_ALIGN_FLOATS - 1) / ARENA_ALIGN_FLOATS * ARENA_ALIGN_FLOATS;
}

static void *arena_default_alloc(void *ctx, k_backend b, size_t bytes)
{
    (void)ctx;
    return k_alloc(b, bytes);
}

static void arena_default_free(void *ctx, k_backend b, void *p)
{
    (void)ctx;
    k_free(b, p);
}

static void arena_problem(arena *a, const char *what, const char *name)
{
    if (!a->problem[0])
        snprintf(a->problem, sizeof a->problem, "%s%s%s", what, name ? ": " : "",
                 name ? name : "");
}

void arena_init(arena *a, k_backend b)
{
    memset(a, 0, sizeof *a);
    a->backend = b;
    a->open_region = -1;
    a->alloc = arena_default_alloc;
    a->release = arena_default_free;
}

void arena_set_allocator(arena *a, arena_alloc_fn alloc, arena_free_fn release, void *ctx)
{
    a->alloc = alloc;
    a->release = release;
    a->alloc_ctx = ctx;
}

static void arena_copy_name(char dst[ARENA_NAME_MAX], const char *name)
{
    snprintf(dst, ARENA_NAME_MAX, "%s", name ? name : "?");
}

int arena_request(arena *a, const char *name, size_t floats)
{
    if (a->committed) {
        arena_problem(a, "buffer requested after commit", name);
        return -1;
    }
    if (a->n_bufs == a->cap_bufs) {
        int cap = a->cap_bufs ? 2 * a->cap_bufs : 64;
        arena_buf *nb = realloc(a->bufs, (size_t)cap * sizeof *nb);
        if (!nb) {
            arena_problem(a, "out of memory for the plan", name);
            return -1;
        }
        a->bufs = nb;
        a->cap_bufs = cap;
    }
    arena_buf *b = &a->bufs[a->n_bufs];
    arena_copy_name(b->name, name);
    b->floats = floats;
    b->region = a->open_region;
    if (a->open_region >= 0) {
        arena_region *r = &a->regions[a->open_region];
        b->tenant = r->tenants - 1;
        b->offset = r->open;
        r->open += arena_round(floats);
    } else {
        b->tenant = 0;
        b->offset = a->persistent_floats;
        a->persistent_floats += arena_round(floats);
    }
    return a->n_bufs++;
}

void arena_shared_begin(arena *a, const char *region)
{
    if (a->committed || a->open_region >= 0) {
        arena_problem(a, a->committed ? "shared region opened after commit"
                                      : "shared regions do not nest", region);
        return;
    }
    int i;
    for (i = 0; i < a->n_regions; i++)
        if (strncmp(a->regions[i].name, region, ARENA_NAME_MAX - 1) == 0)
            break;
    if (i == a->n_regions) {
        if (a->n_regions == a->cap_regions) {
            int cap = a->cap_regions ? 2 * a->cap_regions : 8;
            arena_region *nr = realloc(a->regions, (size_t)cap * sizeof *nr);
            if (!nr) {
                arena_problem(a, "out of memory for the plan", region);
                return;
            }
            a->regions = nr;
            a->cap_regions = cap;
        }
        memset(&a->regions[i], 0, sizeof a->regions[i]);
        arena_copy_name(a->regions[i].name, region);
        a->n_regions++;
    }
    a->regions[i].tenants++;
    a->regions[i].open = 0;
    a->open_region = i;
}

void arena_shared_end(arena *a)
{
    if (a->open_region < 0) {
        arena_problem(a, "arena_shared_end without arena_shared_begin", NULL);
        return;
    }
    arena_region *r = &a->regions[a->open_region];
    if (r->open > r->floats)
        r->floats = r->open;
    a->open_region = -1;
}

size_t arena_total_bytes(const arena *a)
{
    size_t f = a->persistent_floats;
    for (int i = 0; i < a->n_regions; i++)
        f += a->regions[i].floats;
    return f * sizeof(float);
}

int arena_commit(arena *a, error_info *err)
{
    if (a->open_region >= 0)
        arena_problem(a, "shared region left open", a->regions[a->open_region].name);
    if (a->committed)
        arena_problem(a, "arena committed twice", NULL);
    if (a->problem[0])
        return error_set(err, "", 0, 0, "", "activation arena: %s", a->problem);
    size_t off = a->persistent_floats;
    for (int i = 0; i < a->n_regions; i++) {
        a->regions[i].offset = off;
        off += a->regions[i].floats;
    }
    a->total_floats = off;
    if (off) {
        a->base = a->alloc(a->alloc_ctx, a->backend, off * sizeof(float));
        if (!a->base)
            return error_set(err, "", 0, 0, "",
                             "activation arena: cannot allocate %.1f MiB on %s",
                             (double)off * sizeof(float) / 1048576.0,
                             k_backend_name(a->backend));
        a->n_allocs++;
    }
    a->committed = 1;
    return 0;
}

float *arena_get(const arena *a, int id)
{
    if (!a->committed || !a->base || id < 0 || id >= a->n_bufs)
        return NULL;
    const arena_buf *b = &a->bufs[id];
    return a->base + (b->region < 0 ? 0 : a->regions[b->region].offset) + b->offset;
}

size_t arena_floats(const arena *a, int id)
{
    return id >= 0 && id < a->n_bufs ? a->bufs[id].floats : 0;
}

/* "512 B", "3.5 KiB", "12.0 MiB", "1.25 GiB": plans range from tests to SDXL. */
static const char *arena_size(char buf[32], size_t bytes)
{
    if (bytes < 1024)
        snprintf(buf, 32, "%zu B", bytes);
    else if (bytes < (size_t)1 << 20)
        snprintf(buf, 32, "%.1f KiB", bytes / 1024.0);
    else if (bytes < (size_t)1 << 30)
        snprintf(buf, 32, "%.1f MiB", bytes / 1048576.0);
    else
        snprintf(buf, 32, "%.2f GiB", bytes / 1073741824.0);
    return buf;
}

void arena_print_plan(const arena *a, FILE *f)
{
    char s[32];
    fprintf(f, "activation arena (%s): %d buffers, %d shared regions, %s in one allocation\n",
            k_backend_name(a->backend), a->n_bufs, a->n_regions,
            arena_size(s, arena_total_bytes(a)));
    fprintf(f, "  %-50s %12s\n", "persistent", arena_size(s, a->persistent_floats * 4));
    for (int i = 0; i < a->n_bufs; i++)
        if (a->bufs[i].region < 0)
            fprintf(f, "    %-48s %12s  %zu floats\n", a->bufs[i].name,
                    arena_size(s, a->bufs[i].floats * 4), a->bufs[i].floats);
    for (int r = 0; r < a->n_regions; r++) {
        const arena_region *rg = &a->regions[r];
        char title[ARENA_NAME_MAX + 16];
        snprintf(title, sizeof title, "shared \"%s\"", rg->name);
        fprintf(f, "  %-50s %12s  largest of %d tenants\n", title, arena_size(s, rg->floats * 4),
                rg->tenants);
        for (int t = 0; t < rg->tenants; t++)
            for (int i = 0; i < a->n_bufs; i++)
                if (a->bufs[i].region == r && a->bufs[i].tenant == t)
                    fprintf(f, "    %3d %-44s %12s  %zu floats\n", t, a->bufs[i].name,
                            arena_size(s, a->bufs[i].floats * 4), a->bufs[i].floats);
    }
}

void arena_free(arena *a)
{
    if (a->base)
        a->release(a->alloc_ctx, a->backend, a->base);
    free(a->regions);
    free(a->bufs);
    arena_alloc_fn al = a->alloc;
    arena_free_fn rl = a->release;
    void *ctx = a->alloc_ctx;
    arena_init(a, a->backend);
    arena_set_allocator(a, al, rl, ctx);
}
