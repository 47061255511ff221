/* test_arena.c — the activation arena and gradient checkpointing: plan totals with 64-byte
 * rounding and overlaid shared regions, one allocation at commit, aligned and disjoint
 * pointers, plan errors reported by commit, the printed plan; repeated training steps of a
 * toy 3-block network (linear → SiLU → linear, the dense ops) allocating nothing (an
 * allocator hook on the arena and --wrap'ed malloc/calloc/realloc/aligned_alloc); and
 * checkpointing giving bit-identical gradients with a smaller arena, plus a finite-difference
 * check through the recomputing path. */
#include "kernels/arena.h"
#include "kernels/checkpoint.h"
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting every allocation the library makes (linked with -Wl,--wrap=...) ---- */
static long n_mallocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t s);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) { n_mallocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { n_mallocs++; return __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { n_mallocs++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { n_mallocs++; return __real_aligned_alloc(a, n); }

typedef struct hook { long allocs, frees; size_t bytes; } hook;

static void *hook_alloc(void *ctx, k_backend b, size_t bytes)
{
    hook *h = ctx;
    h->allocs++;
    h->bytes = bytes;
    return k_alloc(b, bytes);
}

static void hook_free(void *ctx, k_backend b, void *p)
{
    ((hook *)ctx)->frees++;
    k_free(b, p);
}

static size_t expect(const char *what, int ok)
{
    printf("%-52s %s\n", what, ok ? "ok" : "FAIL");
    return !ok;
}

static size_t check_plan(void)
{
    size_t fails = 0;
    arena a;
    hook h = { 0 };
    arena_init(&a, K_CPU);
    arena_set_allocator(&a, hook_alloc, hook_free, &h);
    int ia = arena_request(&a, "a", 10);    /* 16 */
    int ib = arena_request(&a, "b", 100);   /* 112 */
    arena_shared_begin(&a, "R");
    int ix = arena_request(&a, "x", 50);    /* 64 */
    int iy = arena_request(&a, "y", 20);    /* 32: tenant 0 = 96 */
    arena_shared_end(&a);
    arena_shared_begin(&a, "R");
    int iz = arena_request(&a, "z", 200);   /* tenant 1 = 208 */
    arena_shared_end(&a);
    arena_shared_begin(&a, "G");
    int ig = arena_request(&a, "g", 1);     /* 16 */
    arena_shared_end(&a);
    fails += expect("plan total before commit: 352 floats",
                    arena_total_bytes(&a) == 352 * sizeof(float));
    fails += expect("no pointers before commit", arena_get(&a, ia) == NULL);
    fails += expect("commit", arena_commit(&a, NULL) == 0);
    fails += expect("one allocation of the planned size",
                    h.allocs == 1 && a.n_allocs == 1 && h.bytes == 352 * sizeof(float));
    float *pa = arena_get(&a, ia), *pb = arena_get(&a, ib), *px = arena_get(&a, ix);
    float *py = arena_get(&a, iy), *pz = arena_get(&a, iz), *pg = arena_get(&a, ig);
    int aligned = 1;
    float *all[6] = { pa, pb, px, py, pz, pg };
    for (int i = 0; i < 6; i++)
        aligned &= all[i] && (uintptr_t)all[i] % 64 == 0;
    fails += expect("64-byte aligned", aligned);
    fails += expect("layout: persistent, then regions; tenants overlay",
                    pb == pa + 16 && px == pa + 128 && py == px + 64 && pz == px &&
                    pg == px + 208);
    fails += expect("sizes as requested", arena_floats(&a, iz) == 200 && arena_floats(&a, 99) == 0);
    fails += expect("request after commit refused", arena_request(&a, "late", 4) == -1);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    arena_print_plan(&a, f);
    fclose(f);
    fails += expect("printed plan names buffers and regions",
                    strstr(text, "6 buffers, 2 shared regions") && strstr(text, "\"R\"") &&
                    strstr(text, "largest of 2 tenants") && strstr(text, " z "));
    if (getenv("VERBOSE"))
        fputs(text, stdout);
    free(text);
    arena_free(&a);
    fails += expect("freed through the hook", h.frees == 1 && a.n_bufs == 0);

    /* plan errors surface at commit */
    arena_init(&a, K_CPU);
    arena_shared_begin(&a, "R");
    arena_shared_begin(&a, "S");
    error_info err;
    int rc = arena_commit(&a, &err);
    fails += expect("nested shared regions reported at commit",
                    rc == -1 && strstr(err.message, "do not nest"));
    arena_free(&a);
    arena_init(&a, K_CPU);
    fails += expect("empty plan commits to nothing",
                    arena_commit(&a, NULL) == 0 && a.base == NULL && a.n_allocs == 0);
    arena_free(&a);
    return fails;
}

/* ---- toy network: 3 blocks x -> W2 silu(W1 x + b1) + b2, N rows of C, hidden Hd ---- */
enum { N = 5, C = 6, HD = 11, K = 3 };

typedef struct block {
    arena *a;
    int in, out, din, dout;     /* persistent */
    int h, act;                 /* internals: checkpointed or not */
    int dh, dact;               /* gradient scratch, shared by all blocks */
    float *W1, *b1, *W2, *b2, *dW1, *db1, *dW2, *db2;
} block;

static void block_forward(void *p)
{
    block *b = p;
    float *h = arena_get(b->a, b->h), *act = arena_get(b->a, b->act);
    k_linear_forward(h, arena_get(b->a, b->in), b->W1, b->b1, N, C, HD);
    k_silu_forward(act, h, (size_t)N * HD);
    k_linear_forward(arena_get(b->a, b->out), act, b->W2, b->b2, N, HD, C);
}

static void block_backward(void *p)
{
    block *b = p;
    float *dh = arena_get(b->a, b->dh), *dact = arena_get(b->a, b->dact);
    memset(dh, 0, (size_t)N * HD * sizeof *dh);
    memset(dact, 0, (size_t)N * HD * sizeof *dact);
    k_linear_backward(dact, b->dW2, b->db2, arena_get(b->a, b->dout), arena_get(b->a, b->act),
                      b->W2, N, HD, C);
    k_silu_backward(dh, dact, arena_get(b->a, b->h), (size_t)N * HD);
    k_linear_backward(arena_get(b->a, b->din), b->dW1, b->db1, dh, arena_get(b->a, b->in),
                      b->W1, N, C, HD);
}

typedef struct net {
    arena a;
    block blk[K];
    ckpt_segment seg[K];
    int x[K + 1], dx[K + 1];
    float *params, *grads, *x0, *proj;
    size_t n_params;
} net;

static const size_t block_params = HD * C + HD + C * HD + C;

static void net_init(net *m, int checkpointing, const float *params, const float *x0,
                     const float *proj)
{
    memset(m, 0, sizeof *m);
    m->n_params = K * block_params;
    m->params = gc_zalloc(m->n_params);
    m->grads = gc_zalloc(m->n_params);
    memcpy(m->params, params, m->n_params * sizeof *params);
    m->x0 = (float *)x0;
    m->proj = (float *)proj;
    arena_init(&m->a, K_CPU);
    char name[64];
    for (int k = 0; k <= K; k++) {
        snprintf(name, sizeof name, "x%d", k);
        m->x[k] = arena_request(&m->a, name, N * C);
        snprintf(name, sizeof name, "dx%d", k);
        m->dx[k] = arena_request(&m->a, name, N * C);
    }
    for (int k = 0; k < K; k++) {
        block *b = &m->blk[k];
        float *P = m->params + k * block_params, *G = m->grads + k * block_params;
        *b = (block){ .a = &m->a, .in = m->x[k], .out = m->x[k + 1], .din = m->dx[k],
                      .dout = m->dx[k + 1], .W1 = P, .b1 = P + HD * C, .W2 = P + HD * C + HD,
                      .b2 = P + 2 * HD * C + HD, .dW1 = G, .db1 = G + HD * C,
                      .dW2 = G + HD * C + HD, .db2 = G + 2 * HD * C + HD };
        m->seg[k] = (ckpt_segment){ .name = "block", .enabled = checkpointing,
                                    .forward = block_forward, .backward = block_backward,
                                    .ctx = b };
        ckpt_plan_begin(&m->a, &m->seg[k]);
        snprintf(name, sizeof name, "block%d.h", k);
        b->h = arena_request(&m->a, name, N * HD);
        snprintf(name, sizeof name, "block%d.act", k);
        b->act = arena_request(&m->a, name, N * HD);
        ckpt_plan_end(&m->a, &m->seg[k]);
        arena_shared_begin(&m->a, "block gradients");
        snprintf(name, sizeof name, "block%d.dh", k);
        b->dh = arena_request(&m->a, name, N * HD);
        snprintf(name, sizeof name, "block%d.dact", k);
        b->dact = arena_request(&m->a, name, N * HD);
        arena_shared_end(&m->a);
    }
}

static double net_forward(net *m)
{
    memcpy(arena_get(&m->a, m->x[0]), m->x0, N * C * sizeof(float));
    for (int k = 0; k < K; k++)
        ckpt_forward(&m->seg[k]);
    return gc_dot(arena_get(&m->a, m->x[K]), m->proj, N * C);
}

static void net_step(net *m)
{
    net_forward(m);
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
    for (int k = 0; k < K; k++)
        memset(arena_get(&m->a, m->dx[k]), 0, N * C * sizeof(float));
    memcpy(arena_get(&m->a, m->dx[K]), m->proj, N * C * sizeof(float));
    for (int k = K - 1; k >= 0; k--)
        ckpt_backward(&m->seg[k]);
}

static void net_free(net *m)
{
    arena_free(&m->a);
    free(m->params);
    free(m->grads);
}

static double net_loss(void *p)
{
    return net_forward(p);
}

static size_t check_checkpointing(void)
{
    size_t fails = 0, np = K * block_params;
    uint64_t s = 3;
    float *params = gc_zalloc(np), *x0 = gc_zalloc(N * C), *proj = gc_zalloc(N * C);
    gc_fill_uniform(params, np, &s, -0.6f, 0.6f);
    gc_fill_uniform(x0, N * C, &s, -1, 1);
    gc_fill_uniform(proj, N * C, &s, -1, 1);

    net plain, ck;
    hook h = { 0 };
    net_init(&plain, 0, params, x0, proj);
    net_init(&ck, 1, params, x0, proj);
    arena_set_allocator(&ck.a, hook_alloc, hook_free, &h);
    fails += expect("commit both plans",
                    arena_commit(&plain.a, NULL) == 0 && arena_commit(&ck.a, NULL) == 0);
    /* persistent x/dx 8 × 32; internals 3 blocks × 2 × 64 or one tenant of 2 × 64;
     * gradient scratch one tenant of 2 × 64 */
    size_t want_plain = 8 * 32 + 3 * 128 + 128, want_ck = 8 * 32 + 128 + 128;
    fails += expect("arena totals: 768 floats plain, 512 with checkpointing",
                    arena_total_bytes(&plain.a) == want_plain * sizeof(float) &&
                    arena_total_bytes(&ck.a) == want_ck * sizeof(float));
    fails += expect("checkpointed blocks share their internals' memory",
                    arena_get(&ck.a, ck.blk[0].h) == arena_get(&ck.a, ck.blk[2].h) &&
                    arena_get(&plain.a, plain.blk[0].h) != arena_get(&plain.a, plain.blk[2].h));
    if (getenv("VERBOSE")) {
        arena_print_plan(&plain.a, stdout);
        arena_print_plan(&ck.a, stdout);
    }

    net_step(&plain);
    long before = n_mallocs;
    for (int i = 0; i < 5; i++)
        net_step(&ck);
    long during = n_mallocs - before;
    fails += expect("allocation counter sees setup allocations", before > 0);
    fails += expect("5 steps: no malloc/calloc/realloc/aligned_alloc", during == 0);
    fails += expect("5 steps: arena allocated once", h.allocs == 1 && ck.a.n_allocs == 1);
    fails += expect("each checkpointed block recomputed once per step",
                    ck.seg[0].recomputes == 5 && ck.seg[2].recomputes == 5 &&
                    plain.seg[1].recomputes == 0);
    fails += expect("gradients bit-identical with and without checkpointing",
                    memcmp(plain.grads, ck.grads, np * sizeof(float)) == 0 &&
                    memcmp(arena_get(&plain.a, plain.dx[0]), arena_get(&ck.a, ck.dx[0]),
                           N * C * sizeof(float)) == 0);
    /* and the gradients are right: finite differences through the checkpointed network */
    fails += gc_check("checkpointed net dparams", net_loss, &ck, ck.params, plain.grads, np,
                      NULL) != 0;
    net_free(&plain);
    net_free(&ck);
    fails += expect("arena freed through the hook", h.frees == 1);
    free(params); free(x0); free(proj);
    return fails;
}

int main(void)
{
    size_t fails = check_plan() + check_checkpointing();
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
