/* arena.h — the activation memory arena: every activation buffer of a training step is
 * planned up front, allocated once, and reused every step.
 *
 * Life cycle (the llm.c pattern of one flat activation buffer with pointers into it):
 *   1. plan:   each layer calls arena_request(a, "down.0.attn1.lse", floats) and keeps the id;
 *              buffers requested between arena_shared_begin(a, "region") and
 *              arena_shared_end(a) form one *tenant* of a shared region. Tenants of a region
 *              overlay each other (the region is as large as its largest tenant), which is how
 *              gradient checkpointing recomputes every block's internals into one space
 *              (kernels/checkpoint.h) and how per-block gradient scratch is shared.
 *   2. commit: one allocation on the arena's backend (64-byte aligned buffers).
 *   3. use:    arena_get(a, id) every step: pointer arithmetic, no allocation.
 * arena_print_plan writes the plan for `loratty --check`.
 *
 * Plan calls do not need checking one by one: the first problem (a request after commit, a
 * nested shared block, a table that could not grow) is remembered and arena_commit reports it.
 */
#ifndef LORATTY_KERNELS_ARENA_H
#define LORATTY_KERNELS_ARENA_H

#include "error.h"
#include "kernels/backend.h"

#include <stddef.h>
#include <stdio.h>

#define ARENA_NAME_MAX 64

typedef struct arena_buf {
    char name[ARENA_NAME_MAX];
    size_t floats;   /* as requested */
    size_t offset;   /* in floats: from the base (persistent) or from the region's start */
    int region;      /* -1: persistent */
    int tenant;      /* index within its region */
} arena_buf;

typedef struct arena_region {
    char name[ARENA_NAME_MAX];
    size_t floats;   /* the largest tenant, rounded */
    size_t offset;   /* from the base, set by commit */
    size_t open;     /* size of the tenant being planned */
    int tenants;
} arena_region;

/* The backing allocator: k_alloc/k_free on the arena's backend unless a test or a caller with
 * its own pool installs another through arena_set_allocator. */
typedef void *(*arena_alloc_fn)(void *ctx, k_backend b, size_t bytes);
typedef void (*arena_free_fn)(void *ctx, k_backend b, void *p);

typedef struct arena {
    k_backend backend;
    arena_buf *bufs;
    int n_bufs, cap_bufs;
    arena_region *regions;
    int n_regions, cap_regions;
    int open_region;            /* region of the open shared block, -1 when none */
    size_t persistent_floats;   /* rounded */
    size_t total_floats;        /* set by commit */
    float *base;
    int committed;
    char problem[160];          /* first plan error, "" when none */
    arena_alloc_fn alloc;
    arena_free_fn release;
    void *alloc_ctx;
    size_t n_allocs;            /* backing allocations made (1 after a commit) */
} arena;

void arena_init(arena *a, k_backend b);
void arena_set_allocator(arena *a, arena_alloc_fn alloc, arena_free_fn release, void *ctx);

/* Plans a buffer of `floats` floats; returns its id (≥ 0) or -1. Names are copied. */
int arena_request(arena *a, const char *name, size_t floats);
/* Opens a new tenant of the shared region `region` (created on first use). No nesting. */
void arena_shared_begin(arena *a, const char *region);
void arena_shared_end(arena *a);

/* Allocates the planned total at once. 0 on success, -1 (err filled) on a plan error or when
 * memory is short. A plan with nothing in it commits to a NULL base. */
int arena_commit(arena *a, error_info *err);

/* The buffer of id, or NULL before commit or for a bad id. No allocation. */
float *arena_get(const arena *a, int id);
size_t arena_floats(const arena *a, int id);
/* Planned bytes (available before commit): persistent + every region's largest tenant. */
size_t arena_total_bytes(const arena *a);

/* A table of persistent buffers and shared regions with their tenants and sizes. */
void arena_print_plan(const arena *a, FILE *f);

/* Frees the memory and the plan; the arena can be planned again after arena_init. */
void arena_free(arena *a);

#endif
