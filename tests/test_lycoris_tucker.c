/* test_lycoris_tucker.c — LyCORIS' Tucker factors (use_tucker) of LoCon, LoHa and LoKr on
 * Conv2d layers (engine/lora/tucker.c and the kinds' builds) against lycoris-lora's own
 * modules (tests/fixtures/lycoris-tucker, from tests/golden/make_lycoris_tucker_fixtures.py:
 * forward and the gradients of the input and of every factor, DoRA's scale and use_scalar's
 * scalar ≤ 1e-5 relative to their max), the factor sizes against the keys LyCORIS saves, and
 * finite differences of every factor on random layers (strided, decompose_both, DoRA). LoHa's
 * fixture gradients are autograd's (LyCORIS' own HadaWeightTucker.backward is wrong for
 * hada_w*_a unless the pairs are equal, see make_lycoris_tucker_fixtures.py); its finite
 * differences run with distinct and with equal pairs. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora/lycoris.h"
#include "engine/safetensors.h"
#include "tests/check.h"
#include "tests/golden_fixture.h"
#include "tests/gradcheck.h"

enum { N = 2, S = 6 };   /* samples and image size of every case */

/* One conv layer with a Tucker adapter: slot i is factor i (LoCon: down, up, mid), then
 * DoRA's scale (slot 6) and the scalar (slot 7). */
enum { SLOT_DORA = LORA_MAX_FACTORS, SLOT_SCALAR, SLOTS };

typedef struct tcase {
    const char *name;
    int locon, in, out, stride;
    lora_adapter a;
    conv_layer cv;
    float *p[SLOTS], *dp[SLOTS];
    size_t size[SLOTS];
    const char *key[SLOTS];
    float *w, *b, *x, *y, *proj, *dx, *scratch;
    size_t nx, ny;
} tcase;

static int get_int(json_t *c, const char *key)
{
    return (int)json_integer_value(json_object_get(c, key));
}

/* Shapes and keys of a case: LoCon lora_down [r, in], lora_up [out, r], lora_mid [r, r, 3, 3];
 * LoHa and LoKr from loha_sizes / lokr_shapes. */
static void case_shape(tcase *c, lora_kind kind, int rank, int factor, int decompose_both, int dora, int scalar)
{
    static const char *const loha[] = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"};
    size_t cols = (size_t)c->in * 9;
    memset(&c->a, 0, sizeof c->a);
    c->a.kind = kind;
    c->a.rank = rank;
    c->a.in_channels = c->in;
    c->a.tucker = 1;
    c->locon = kind == LORA_KIND_LORA;
    for (int i = 0; i < SLOTS; i++)
        c->size[i] = 0, c->key[i] = NULL;
    if (kind == LORA_KIND_LORA) {
        c->size[0] = (size_t)rank * c->in, c->size[1] = (size_t)c->out * rank, c->size[2] = (size_t)rank * rank * 9;
        c->key[0] = "lora_down.weight", c->key[1] = "lora_up.weight", c->key[2] = "lora_mid.weight";
    } else if (kind == LORA_KIND_LOHA) {
        loha_sizes(c->out, c->in, cols, rank, 1, c->size);
        for (int i = 0; i < LORA_MAX_FACTORS; i++)
            c->key[i] = loha[i];
    } else {
        lokr_shapes(&c->a, c->out, c->in, 3, rank, factor, decompose_both, 1, c->size);
        c->key[0] = c->a.w1_rank ? "lokr_w1_a" : "lokr_w1";
        c->key[1] = c->a.w1_rank ? "lokr_w1_b" : NULL;
        c->key[2] = "lokr_w2_a", c->key[3] = "lokr_w2_b", c->key[4] = "lokr_t2";
    }
    if (dora)
        c->size[SLOT_DORA] = (size_t)c->out, c->key[SLOT_DORA] = "dora_scale";
    if (scalar)
        c->size[SLOT_SCALAR] = 1, c->key[SLOT_SCALAR] = "scalar";
}

/* Points the adapter at the slots (after they are filled). */
static void case_wire(tcase *c)
{
    lora_adapter *a = &c->a;
    if (c->locon) {
        a->down = c->p[0], a->up = c->p[1], a->mid = c->p[2];
        a->ddown = c->dp[0], a->dup = c->dp[1], a->dmid = c->dp[2];
    } else
        for (int i = 0; i < LORA_MAX_FACTORS; i++)
            a->w[i] = c->p[i], a->dw[i] = c->dp[i];
    a->dora_scale = c->p[SLOT_DORA], a->ddora_scale = c->dp[SLOT_DORA];
    a->scalar = c->p[SLOT_SCALAR], a->dscalar = c->dp[SLOT_SCALAR];
    c->cv = (conv_layer){c->in, c->out, 3, c->stride, 1, c->w, c->b, NULL, NULL, a};
    int os = (S + 2 - 3) / c->stride + 1;
    c->nx = (size_t)N * c->in * S * S;
    c->ny = (size_t)N * c->out * os * os;
    c->scratch = gc_zalloc(conv_layer_scratch_floats(&c->cv, N, S, S));
    c->y = gc_zalloc(c->ny);
    c->dx = gc_zalloc(c->nx);
}

static void case_free(tcase *c)
{
    for (int i = 0; i < SLOTS; i++)
        free(c->p[i]), free(c->dp[i]);
    free(c->w), free(c->b), free(c->x), free(c->y), free(c->proj), free(c->dx), free(c->scratch);
}

static double case_loss(void *p)
{
    tcase *c = p;
    conv_layer_forward(&c->cv, c->y, c->x, N, S, S, c->scratch);
    return gc_dot(c->y, c->proj, c->ny);
}

static void case_run(tcase *c)
{
    conv_layer_forward(&c->cv, c->y, c->x, N, S, S, c->scratch);
    conv_layer_backward(&c->cv, c->dx, c->proj, c->x, N, S, S, c->scratch);
}

static lora_kind kind_of(const char *k)
{
    return !strcmp(k, "locon") ? LORA_KIND_LORA : !strcmp(k, "loha") ? LORA_KIND_LOHA : LORA_KIND_LOKR;
}

static void fixture_case(json_t *j, const safetensors_file *in, const safetensors_file *outs,
                         const safetensors_file *gr)
{
    tcase c;
    memset(&c, 0, sizeof c);
    c.name = json_string_value(json_object_get(j, "name"));
    c.in = get_int(j, "inp"), c.out = get_int(j, "out"), c.stride = get_int(j, "stride");
    int rank = get_int(j, "rank");
    case_shape(&c, kind_of(json_string_value(json_object_get(j, "kind"))), rank,
               json_object_get(j, "factor") ? get_int(j, "factor") : -1,
               json_is_true(json_object_get(j, "decompose_both")), json_is_true(json_object_get(j, "dora")),
               json_is_true(json_object_get(j, "scalar")));
    char key[128];
    snprintf(key, sizeof key, "%s.alpha", c.name);
    float *alpha = fixture_tensor(in, key, NULL);
    c.a.scale = (float)json_number_value(json_object_get(j, "mult")) * (alpha ? *alpha : 0.0f) / (float)rank;
    json_t *keys = json_object_get(j, "keys");
    size_t want_keys = 1;   /* alpha */
    float *want_grads[SLOTS] = {0};
    for (int i = 0; i < SLOTS; i++) {
        if (!c.size[i])
            continue;
        if (i != SLOT_SCALAR) {   /* the file-format check: LyCORIS' key with our element count */
            json_t *shape = json_object_get(keys, c.key[i]);
            size_t want = 1;
            for (size_t d = 0; shape && d < json_array_size(shape); d++)
                want *= (size_t)json_integer_value(json_array_get(shape, d));
            CHECK(shape && want == c.size[i], "%s.%s: LyCORIS has %zu elements, we %zu", c.name, c.key[i], want,
                  c.size[i]);
            want_keys++;
        }
        snprintf(key, sizeof key, "%s.%s", c.name, c.key[i]);
        size_t n = 0;
        c.p[i] = fixture_tensor(in, key, &n);
        CHECK(c.p[i] && n == c.size[i], "%s: %zu elements, want %zu", key, n, c.size[i]);
        c.dp[i] = gc_zalloc(c.size[i]);
        want_grads[i] = fixture_tensor(gr, key, NULL);
    }
    CHECK(json_object_size(keys) == want_keys, "%s: LyCORIS saves %zu keys, we %zu", c.name,
          json_object_size(keys), want_keys);
    snprintf(key, sizeof key, "%s.x", c.name);
    c.x = fixture_tensor(in, key, NULL);
    float *want_dx = fixture_tensor(gr, key, NULL);
    snprintf(key, sizeof key, "%s.proj", c.name);
    c.proj = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.weight", c.name);
    c.w = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.bias", c.name);
    c.b = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.out", c.name);
    float *want_y = fixture_tensor(outs, key, NULL);
    if (c.x && c.proj && c.w && c.b && want_y && want_dx) {
        case_wire(&c);
        case_run(&c);
        double e = fixture_rel_err(c.y, want_y, c.ny), ex = fixture_rel_err(c.dx, want_dx, c.nx);
        printf("%-24s forward %.1e  d input %.1e", c.name, e, ex);
        CHECK(e <= 1e-5, "%s forward %.3e", c.name, e);
        CHECK(ex <= 1e-5, "%s d input %.3e", c.name, ex);
        for (int i = 0; i < SLOTS; i++) {
            if (!c.size[i])
                continue;
            double eg = want_grads[i] ? fixture_rel_err(c.dp[i], want_grads[i], c.size[i]) : INFINITY;
            printf("  d %s %.1e", c.key[i], eg);
            CHECK(eg <= 1e-5, "%s grad of %s: %.3e", c.name, c.key[i], eg);
        }
        printf("\n");
    } else
        CHECK(0, "%s: fixture tensors missing", c.name);
    for (int i = 0; i < SLOTS; i++)
        free(want_grads[i]);
    free(alpha), free(want_dx), free(want_y);
    case_free(&c);
}

/* Random layer and factors: finite differences of the input and of every factor (DoRA's scale,
 * the scalar); LoHa with distinct pairs and with equal ones. */
static void gradcheck_case(const char *name, lora_kind kind, int in, int out, int stride, int rank, int factor,
                           int decompose_both, int dora, int scalar, int equal_pairs)
{
    uint64_t st = 501 + (uint64_t)kind * 31 + (uint64_t)in;
    tcase c;
    memset(&c, 0, sizeof c);
    c.name = name, c.in = in, c.out = out, c.stride = stride;
    case_shape(&c, kind, rank, factor, decompose_both, dora, scalar);
    c.a.scale = 0.6f;
    for (int i = 0; i < SLOTS; i++) {
        if (!c.size[i])
            continue;
        c.p[i] = gc_zalloc(c.size[i]);
        c.dp[i] = gc_zalloc(c.size[i]);
        gc_fill_uniform(c.p[i], c.size[i], &st, -0.8f, 0.8f);
    }
    if (equal_pairs)   /* hada_w2_a = hada_w1_a, hada_w2_b = hada_w1_b, hada_t2 = hada_t1 */
        for (int i = 0; i < 2; i++) {
            memcpy(c.p[i + 2], c.p[i], c.size[i] * sizeof(float));
            memcpy(c.p[5], c.p[4], c.size[4] * sizeof(float));
        }
    size_t cols = (size_t)in * 9;
    c.w = gc_zalloc((size_t)out * cols);
    c.b = gc_zalloc((size_t)out);
    gc_fill_uniform(c.w, (size_t)out * cols, &st, -0.5f, 0.5f);
    gc_fill_uniform(c.b, (size_t)out, &st, -0.5f, 0.5f);
    if (dora)   /* near the rows' norms of W */
        for (int o = 0; o < out; o++)
            c.p[SLOT_DORA][o] = 0.5f + 0.5f * fabsf(c.p[SLOT_DORA][o]);
    case_wire(&c);
    c.x = gc_zalloc(c.nx);
    c.proj = gc_zalloc(c.ny);
    gc_fill_uniform(c.x, c.nx, &st, -1.0f, 1.0f);
    gc_fill_uniform(c.proj, c.ny, &st, -1.0f, 1.0f);
    case_run(&c);
    gc_opts o = gc_default_opts();
    o.quiet = 1;
    char what[96];
    snprintf(what, sizeof what, "%s input", name);
    size_t bad = gc_check(what, case_loss, &c, c.x, c.dx, c.nx, &o);
    CHECK(bad == 0, "%s: %zu elements off", what, bad);
    for (int i = 0; i < SLOTS; i++) {
        if (!c.size[i])
            continue;
        snprintf(what, sizeof what, "%s %s", name, c.key[i]);
        size_t f = gc_check(what, case_loss, &c, c.p[i], c.dp[i], c.size[i], &o);
        CHECK(f == 0, "%s: %zu elements off", what, f);
        bad += f;
    }
    printf("%-30s finite differences of the input and every factor: %s\n", name, bad ? "FAIL" : "ok");
    case_free(&c);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-tucker/config.json", top ? top : ".");
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) {
        fprintf(stderr, "FAIL: %s: %s\n", path, jerr.text);
        return 1;
    }
    safetensors_file *in, *outs, *gr;
    error_info err = {0};
    const char *files[3] = {"inputs", "outputs", "grads"};
    safetensors_file **fs[3] = {&in, &outs, &gr};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-tucker/%s.safetensors", top ? top : ".", files[i]);
        if (safetensors_open(path, fs[i], &err) != 0) {
            fprintf(stderr, "FAIL: %s\n", err.message);
            return 1;
        }
    }
    json_t *cases = json_object_get(cfg, "cases");
    CHECK(json_array_size(cases) == 10, "%zu fixture cases, want 10", json_array_size(cases));
    for (size_t i = 0; i < json_array_size(cases); i++)
        fixture_case(json_array_get(cases, i), in, outs, gr);
    safetensors_close(in), safetensors_close(outs), safetensors_close(gr);
    json_decref(cfg);

    gradcheck_case("fd LoCon 5->7 s2", LORA_KIND_LORA, 5, 7, 2, 3, 0, 0, 0, 0, 0);
    gradcheck_case("fd LoCon DoRA + scalar", LORA_KIND_LORA, 4, 6, 1, 2, 0, 0, 1, 1, 0);
    gradcheck_case("fd LoHa pairs differ", LORA_KIND_LOHA, 5, 6, 1, 2, 0, 0, 0, 0, 0);
    gradcheck_case("fd LoHa pairs equal s2", LORA_KIND_LOHA, 5, 6, 2, 2, 0, 0, 0, 1, 1);
    gradcheck_case("fd LoKr 16->24", LORA_KIND_LOKR, 16, 24, 1, 2, -1, 0, 0, 0, 0);
    gradcheck_case("fd LoKr decompose_both DoRA", LORA_KIND_LOKR, 64, 48, 2, 1, -1, 1, 1, 1, 0);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
