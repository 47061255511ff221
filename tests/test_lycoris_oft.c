/* test_lycoris_oft.c — LyCORIS Diag-OFT and BOFT adapters (engine/lora/oft.c) on Linear and
 * Conv2d layers against lycoris-lora's own modules (tests/fixtures/lycoris-oft from
 * tests/golden/make_oft_fixtures.py: forward ≤ 1e-4, gradients of the input, oft_blocks and
 * rescale ≤ 1e-3 relative to their max), the block shapes against the keys LyCORIS saves,
 * oft_shapes against LyCORIS' factorizations worked out by hand, and finite-difference checks
 * of the oft_blocks / rescale gradients (norm constraint active, Diag-OFT rank dropout with a
 * fixed Philox mask). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora/lycoris.h"
#include "engine/safetensors.h"
#include "kernels/ops_attention.h"
#include "tests/check.h"
#include "tests/golden_fixture.h"
#include "tests/gradcheck.h"

/* ‖B − Bᵀ‖ over all blocks > the bound: LyCORIS' constraint scales Q */
static int constraint_bites(const lora_adapter *a)
{
    int s = a->oft_size;
    size_t blocks = (size_t)a->boft_m * a->oft_blocks;
    double sum = 0.0;
    for (size_t k = 0; k < blocks; k++)
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                const float *b = a->w[0] + k * s * s;
                double q = (double)b[i * s + j] - b[j * s + i];
                sum += q * q;
            }
    return a->oft_constraint > 0.0f && sqrt(sum) + 1e-8 > a->oft_constraint;
}

/* ---- oft_shapes: LyCORIS' factorization() / power2factorization() by hand ---- */

static void shapes_table(void)
{
    /* Diag-OFT (out, rank) → block size, block count via factorization(out, rank): a rank that
     * divides out gives the smaller of (rank, out / rank) as the block size (320, 32 → 10, 32);
     * 7 does not divide 320, so the most square split with block size ≤ 7: 5 × 64.
     * BOFT: power2factorization takes the largest even block size b ≤ rank with out / b a power
     * of two; stages = log2(blocks) + 1. 320 = 5 · 64 and 1280 = 5 · 256 need b a multiple of
     * 10, so ranks 8 and 4 fail; 320, 32 → 20 × 16 (b = 10 gives 32, then 20 gives 16);
     * 1280, 16 → 10 × 128; 768 = 3 · 256, rank 8 → 6 × 128; 16, 16 → one block of 16. */
    struct {
        int boft, out, rank, size, blocks, m;
    } tbl[] = {
        {0, 320, 8, 8, 40, 1},   {0, 320, 32, 10, 32, 1}, {0, 1280, 4, 4, 320, 1}, {0, 320, 7, 5, 64, 1},
        {0, 24, 8, 3, 8, 1},     {1, 320, 32, 20, 16, 5}, {1, 1280, 16, 10, 128, 8}, {1, 768, 8, 6, 128, 8},
        {1, 16, 4, 4, 4, 3},     {1, 16, 16, 16, 1, 1},   {1, 12, 6, 6, 2, 2},      {1, 32, 4, 4, 8, 4},
        {1, 320, 8, -1, 0, 0},   {1, 1280, 4, -1, 0, 0},  {1, 12, 4, -1, 0, 0},     {1, 15, 16, -1, 0, 0},
    };
    for (size_t i = 0; i < sizeof tbl / sizeof tbl[0]; i++) {
        lora_adapter a;
        memset(&a, 0, sizeof a);
        size_t sizes[4];
        int rc = oft_shapes(&a, tbl[i].boft, tbl[i].out, tbl[i].rank, 1, sizes);
        const char *kind = tbl[i].boft ? "boft" : "diag-oft";
        if (tbl[i].size < 0) {
            CHECK(rc == -1, "%s out %d rank %d: LyCORIS cannot factor it, we got %d", kind, tbl[i].out, tbl[i].rank, rc);
            continue;
        }
        size_t want = (size_t)tbl[i].m * tbl[i].blocks * tbl[i].size * tbl[i].size;
        CHECK(rc == 0 && a.oft_size == tbl[i].size && a.oft_blocks == tbl[i].blocks && a.boft_m == tbl[i].m &&
                  sizes[0] == want && sizes[1] == (size_t)tbl[i].out && !sizes[2] && !sizes[3],
              "%s out %d rank %d: size %d blocks %d stages %d (%zu floats), want %d %d %d (%zu)", kind, tbl[i].out,
              tbl[i].rank, a.oft_size, a.oft_blocks, a.boft_m, sizes[0], tbl[i].size, tbl[i].blocks, tbl[i].m, want);
    }
    lora_adapter a;
    memset(&a, 0, sizeof a);
    size_t sizes[4];
    oft_shapes(&a, 0, 16, 4, 0, sizes);
    CHECK(sizes[1] == 0, "rescale floats without rescaled: %zu", sizes[1]);
}

/* ---- against LyCORIS ---- */

/* The state_dict keys LyCORIS saves and their shapes against ours. */
static void check_keys(json_t *keys, const char *name, const lora_adapter *a, int boft, int conv, int out,
                       const size_t sizes[4])
{
    json_t *blocks = json_object_get(keys, "oft_blocks");
    int want[4] = {a->boft_m, a->oft_blocks, a->oft_size, a->oft_size};
    size_t dims = boft ? 4 : 3;
    const int *w = boft ? want : want + 1;
    int same = blocks && json_array_size(blocks) == dims;
    for (size_t d = 0; same && d < dims; d++)
        same = json_integer_value(json_array_get(blocks, d)) == w[d];
    CHECK(same, "%s: oft_blocks shape differs from LyCORIS", name);
    json_t *rescale = json_object_get(keys, "rescale");
    CHECK(!rescale == !sizes[1], "%s: rescale %s in LyCORIS' state_dict", name, rescale ? "present" : "absent");
    if (rescale) {
        same = json_array_size(rescale) == (conv ? 4u : 2u) && json_integer_value(json_array_get(rescale, 0)) == out;
        for (size_t d = 1; same && d < json_array_size(rescale); d++)
            same = json_integer_value(json_array_get(rescale, d)) == 1;
        CHECK(same && sizes[1] == (size_t)out, "%s: rescale shape differs from LyCORIS", name);
    }
    CHECK(json_object_get(keys, "alpha") && json_object_size(keys) == 2 + (size_t)(sizes[1] > 0),
          "%s: key set differs from LyCORIS", name);
}

static void run_case(json_t *c, const safetensors_file *in, const safetensors_file *outs, const safetensors_file *gr)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    int boft = strcmp(json_string_value(json_object_get(c, "kind")), "boft") == 0;
    int conv = json_is_true(json_object_get(c, "conv"));
    int I = (int)json_integer_value(json_object_get(c, "inp"));
    int O = (int)json_integer_value(json_object_get(c, "out"));
    int K = (int)json_integer_value(json_object_get(c, "kernel"));
    int rank = (int)json_integer_value(json_object_get(c, "rank"));
    int rescaled = json_is_true(json_object_get(c, "rescaled"));
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.rank = rank, a.kind = boft ? LORA_KIND_BOFT : LORA_KIND_DIAG_OFT, a.in_channels = I, a.scale = 1.0f;
    size_t sizes[4];
    int rc = oft_shapes(&a, boft, O, rank, rescaled, sizes);
    CHECK(rc == 0, "%s: oft_shapes failed", name);
    if (rc != 0)
        return;
    CHECK(a.oft_size == json_integer_value(json_object_get(c, "block_size")) &&
              a.oft_blocks == json_integer_value(json_object_get(c, "block_num")) &&
              a.boft_m == json_integer_value(json_object_get(c, "boft_m")),
          "%s: blocks %d x %d, %d stages differ from LyCORIS'", name, a.oft_blocks, a.oft_size, a.boft_m);
    check_keys(json_object_get(c, "keys"), name, &a, boft, conv, O, sizes);

    char key[128];
    static const char *params[2] = {"oft_blocks", "rescale"};
    float *grads[2] = {0};
    for (int i = 0; i < 2; i++) {
        if (!sizes[i])
            continue;
        size_t n;
        snprintf(key, sizeof key, "%s.%s", name, params[i]);
        a.w[i] = fixture_tensor(in, key, &n);
        CHECK(n == sizes[i], "%s: %zu elements, want %zu", key, n, sizes[i]);
        a.dw[i] = calloc(sizes[i], sizeof(float));
        grads[i] = fixture_tensor(gr, key, NULL);
    }
    snprintf(key, sizeof key, "%s.alpha", name);
    float *alpha = fixture_tensor(in, key, NULL);
    a.oft_constraint = *alpha * (float)O;   /* LyCORIS: self.constraint = constraint · out_dim */
    CHECK(constraint_bites(&a) == json_is_true(json_object_get(c, "constraint_active")),
          "%s: constraint activity differs from LyCORIS", name);

    size_t nx, ny;
    snprintf(key, sizeof key, "%s.x", name);
    float *x = fixture_tensor(in, key, &nx), *gx = fixture_tensor(gr, key, NULL);
    snprintf(key, sizeof key, "%s.proj", name);
    float *proj = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.weight", name);
    float *w = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.bias", name);
    float *b = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.out", name);
    float *want = fixture_tensor(outs, key, &ny);
    float *y = calloc(ny, sizeof *y), *dx = calloc(nx, sizeof *dx);
    if (conv) {
        conv_layer l = {I, O, K, 1, K / 2, w, b, NULL, NULL, &a};
        float *scratch = calloc(conv_layer_scratch_floats(&l, 2, 5, 5), sizeof(float));
        conv_layer_forward(&l, y, x, 2, 5, 5, scratch);
        conv_layer_backward(&l, dx, proj, x, 2, 5, 5, scratch);
        free(scratch);
    } else {
        linear_layer l = {I, O, w, b, NULL, NULL, &a};
        int rows = (int)(nx / (size_t)I);
        float *scratch = calloc(linear_layer_scratch_floats(&l, rows), sizeof(float));
        linear_layer_forward(&l, y, x, rows, scratch);
        linear_layer_backward(&l, dx, proj, x, rows, scratch);
        free(scratch);
    }
    double e = fixture_rel_err(y, want, ny), ex = fixture_rel_err(dx, gx, nx);
    printf("%-27s forward %.2e  d input %.2e", name, e, ex);
    CHECK(e <= 1e-4, "%s forward %.3e", name, e);
    CHECK(ex <= 1e-3, "%s d input %.3e", name, ex);
    for (int i = 0; i < 2; i++)
        if (sizes[i]) {
            double eg = fixture_rel_err(a.dw[i], grads[i], sizes[i]);
            printf("  d %s %.2e", params[i], eg);
            CHECK(eg <= 1e-3, "%s grad of %s: %.3e", name, params[i], eg);
        }
    printf("\n");
    for (int i = 0; i < 2; i++) {
        free(a.w[i]);
        free(a.dw[i]);
        free(grads[i]);
    }
    free(alpha), free(x), free(gx), free(proj), free(w), free(b), free(want), free(y), free(dx);
}

static void fixtures(const char *top)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-oft/config.json", top);
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) {
        CHECK(0, "%s: %s", path, jerr.text);
        return;
    }
    safetensors_file *in = NULL, *outs = NULL, *gr = NULL;
    safetensors_file **fs[3] = {&in, &outs, &gr};
    const char *files[3] = {"inputs", "outputs", "grads"};
    error_info err = {0};
    int ok = 1;
    for (int i = 0; i < 3 && ok; i++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-oft/%s.safetensors", top, files[i]);
        ok = safetensors_open(path, fs[i], &err) == 0;
        CHECK(ok, "%s", err.message);
    }
    json_t *cases = json_object_get(cfg, "cases");
    CHECK(json_array_size(cases) >= 6, "only %zu fixture cases", json_array_size(cases));
    for (size_t i = 0; ok && i < json_array_size(cases); i++)
        run_case(json_array_get(cases, i), in, outs, gr);
    for (int i = 0; i < 3; i++)
        if (*fs[i])
            safetensors_close(*fs[i]);
    json_decref(cfg);
}

/* ---- finite differences ---- */

typedef struct fd_ctx {
    linear_layer lin;
    conv_layer cv;
    int conv, rows;
    float *x, *y, *proj, *scratch;
    size_t ny;
} fd_ctx;

static double fd_loss(void *p)
{
    fd_ctx *c = p;
    if (c->conv)
        conv_layer_forward(&c->cv, c->y, c->x, 2, 4, 4, c->scratch);
    else
        linear_layer_forward(&c->lin, c->y, c->x, c->rows, c->scratch);
    return gc_dot(c->y, c->proj, c->ny);
}

/* constraint: LyCORIS' per-output constraint (the bound is constraint · out); rank_drop: Diag-OFT
 * rank dropout with a fixed mask. */
static void fd_check(const char *label, lora_kind kind, int conv, int in, int out, int rank, float constraint,
                     int rescaled, float rank_drop)
{
    uint64_t st = 4242 + (uint64_t)out * 31 + (uint64_t)kind * 7 + (uint64_t)conv;
    int K = conv ? 3 : 1, rows = 6;
    size_t cols = (size_t)in * K * K, sizes[4];
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.rank = rank, a.kind = kind, a.in_channels = in, a.scale = 1.0f;
    a.oft_constraint = constraint * (float)out;
    a.drop = (lora_dropout){.rank = rank_drop, .active = rank_drop > 0.0f, .batch = 1, .seed = 777,
                            .offset = 4096};
    if (oft_shapes(&a, kind == LORA_KIND_BOFT, out, rank, rescaled, sizes) != 0) {
        CHECK(0, "%s: oft_shapes failed", label);
        return;
    }
    for (int i = 0; i < 2; i++)
        if (sizes[i]) {
            a.w[i] = gc_zalloc(sizes[i]);
            a.dw[i] = gc_zalloc(sizes[i]);
        }
    gc_fill_uniform(a.w[0], sizes[0], &st, -0.3f, 0.3f);
    if (a.w[1])
        gc_fill_uniform(a.w[1], sizes[1], &st, 0.9f, 1.1f);
    CHECK(constraint_bites(&a) == (constraint > 0.0f), "%s: constraint %s", label,
          constraint > 0.0f ? "does not bite" : "bites");
    float *w = gc_zalloc((size_t)out * cols), *b = gc_zalloc((size_t)out);
    gc_fill_uniform(w, (size_t)out * cols, &st, -0.5f, 0.5f);
    gc_fill_uniform(b, (size_t)out, &st, -0.5f, 0.5f);
    fd_ctx c = {.conv = conv, .rows = rows};
    size_t nx = conv ? (size_t)2 * in * 16 : (size_t)rows * in;
    c.ny = conv ? (size_t)2 * out * 16 : (size_t)rows * out;
    c.x = gc_zalloc(nx), c.y = gc_zalloc(c.ny), c.proj = gc_zalloc(c.ny);
    float *dx = gc_zalloc(nx);
    gc_fill_uniform(c.x, nx, &st, -1.0f, 1.0f);
    gc_fill_uniform(c.proj, c.ny, &st, -1.0f, 1.0f);
    if (conv) {
        c.cv = (conv_layer){in, out, 3, 1, 1, w, b, NULL, NULL, &a};
        c.scratch = gc_zalloc(conv_layer_scratch_floats(&c.cv, 2, 4, 4));
        fd_loss(&c);
        conv_layer_backward(&c.cv, dx, c.proj, c.x, 2, 4, 4, c.scratch);
    } else {
        c.lin = (linear_layer){in, out, w, b, NULL, NULL, &a};
        c.scratch = gc_zalloc(linear_layer_scratch_floats(&c.lin, rows));
        fd_loss(&c);
        linear_layer_backward(&c.lin, dx, c.proj, c.x, rows, c.scratch);
    }
    gc_opts o = gc_default_opts();
    o.quiet = 1;
    char name[160];
    snprintf(name, sizeof name, "%s oft_blocks", label);
    CHECK(gc_check(name, fd_loss, &c, a.w[0], a.dw[0], sizes[0], &o) == 0, "%s", name);
    if (a.w[1]) {
        snprintf(name, sizeof name, "%s rescale", label);
        CHECK(gc_check(name, fd_loss, &c, a.w[1], a.dw[1], sizes[1], &o) == 0, "%s", name);
    }
    printf("fd %-40s ok\n", label);
    for (int i = 0; i < 2; i++)
        free(a.w[i]), free(a.dw[i]);
    free(w), free(b), free(c.x), free(c.y), free(c.proj), free(c.scratch), free(dx);
}

/* Zero blocks give R = I: ΔW is exactly zero (LyCORIS' initial state). */
static void identity_check(lora_kind kind, int out, int rank)
{
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.kind = kind, a.rank = rank, a.in_channels = 5, a.scale = 1.0f;
    size_t sizes[4], cols = 5;
    oft_shapes(&a, kind == LORA_KIND_BOFT, out, rank, 0, sizes);
    a.w[0] = gc_zalloc(sizes[0]);
    float *w = gc_zalloc((size_t)out * cols), *dw = gc_zalloc((size_t)out * cols);
    float *work = gc_zalloc(oft_work_floats(&a, out, cols));
    uint64_t st = 5;
    gc_fill_uniform(w, (size_t)out * cols, &st, -1.0f, 1.0f);
    oft_delta_build(&a, w, dw, out, cols, work);
    float mx = 0.0f;
    for (size_t i = 0; i < (size_t)out * cols; i++)
        mx = fabsf(dw[i]) > mx ? fabsf(dw[i]) : mx;
    CHECK(mx == 0.0f, "kind %d: zero blocks give |dW| %g", (int)kind, mx);
    free(a.w[0]), free(w), free(dw), free(work);
}

/* Diag-OFT's rank dropout on R = I (zero blocks): new W's row k·s + n is R'[k, n, n] · W's row,
 * so each row of ΔW is (keep / (1 − p) − 1) · W's row with LyCORIS' element index (k·s + n)·s + n
 * of r [blocks, s, s] — the mask's layout, checked without re-deriving the rotation. */
static void rank_dropout_mask_check(void)
{
    int out = 24, s, blocks;
    size_t sizes[4], cols = 3;
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.kind = LORA_KIND_DIAG_OFT, a.rank = 4, a.in_channels = 3, a.scale = 1.0f;
    a.drop = (lora_dropout){.rank = 0.4f, .active = 1, .batch = 1, .seed = 31, .offset = 1000};
    oft_shapes(&a, 0, out, 4, 0, sizes);
    s = a.oft_size, blocks = a.oft_blocks;
    a.w[0] = gc_zalloc(sizes[0]);
    float *w = gc_zalloc((size_t)out * cols), *dw = gc_zalloc((size_t)out * cols);
    float *work = gc_zalloc(oft_work_floats(&a, out, cols));
    uint64_t st = 9;
    gc_fill_uniform(w, (size_t)out * cols, &st, 0.5f, 1.0f);
    oft_delta_build(&a, w, dw, out, cols, work);
    int dropped = 0, bad = 0;
    for (int k = 0; k < blocks; k++)
        for (int n = 0; n < s; n++) {
            size_t idx = ((size_t)k * s + n) * s + n, row = (size_t)k * s + n;
            int keep = k_dropout_keep(0.4f, 31, 1000 + LORA_DROPOUT_RANK_STREAM, idx);
            float f = keep ? 1.0f / 0.6f : 0.0f;
            dropped += !keep;
            for (size_t j = 0; j < cols; j++)
                bad += fabsf(dw[row * cols + j] - (f - 1.0f) * w[row * cols + j]) > 1e-6f;
        }
    CHECK(!bad && dropped > 0 && dropped < out, "rank dropout mask: %d rows wrong, %d of %d dropped", bad, dropped,
          out);
    free(a.w[0]), free(w), free(dw), free(work);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    shapes_table();
    identity_check(LORA_KIND_DIAG_OFT, 24, 4);
    identity_check(LORA_KIND_BOFT, 24, 8);
    rank_dropout_mask_check();
    fixtures(top ? top : ".");
    fd_check("diag-oft linear", LORA_KIND_DIAG_OFT, 0, 6, 12, 3, 0.0f, 1, 0.0f);
    fd_check("diag-oft conv constraint", LORA_KIND_DIAG_OFT, 1, 4, 12, 4, 0.05f, 1, 0.0f);
    fd_check("diag-oft linear rank dropout", LORA_KIND_DIAG_OFT, 0, 6, 16, 4, 0.0f, 1, 0.3f);
    fd_check("diag-oft conv rank dropout constraint", LORA_KIND_DIAG_OFT, 1, 3, 16, 4, 0.05f, 0, 0.3f);
    fd_check("boft conv", LORA_KIND_BOFT, 1, 4, 16, 4, 0.0f, 1, 0.0f);
    fd_check("boft linear constraint", LORA_KIND_BOFT, 0, 5, 24, 8, 0.02f, 1, 0.0f);
    fd_check("boft linear one block", LORA_KIND_BOFT, 0, 5, 8, 8, 0.0f, 0, 0.0f);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
