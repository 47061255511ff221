/* test_lycoris_glora.c — LyCORIS' GLoRA adapter (engine/lora/glora.c) on Linear and Conv2d
 * layers against lycoris-lora's own GLoRAModule (tests/fixtures/lycoris-glora, from
 * tests/golden/make_glora_fixtures.py: forward ≤ 1e-4, gradients of the input and of a1, a2,
 * b1, b2 ≤ 1e-3 relative to their max), the factor sizes against the keys LyCORIS saves,
 * finite differences of every factor on a non-square strided conv and a Linear, and factors
 * left untrained (dw NULL) beside others whose gradients accumulate (+=). */
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

static const char *factor_keys[4] = {"a1.weight", "a2.weight", "b1.weight", "b2.weight"};

static int get_int(json_t *c, const char *key)
{
    return (int)json_integer_value(json_object_get(c, key));
}

/* One layer with a GLoRA adapter: y = layer(x) run with W + scale · ΔW, then dL/dx and the
 * factors' gradients from dL/dy = proj. */
typedef struct layer_case {
    int conv, in, out, kernel, stride, pad, size, rows;
    lora_adapter a;
    float *w, *b, *x, *y, *proj, *dx, *scratch;
    size_t nx, ny;
    linear_layer lin;
    conv_layer cv;
} layer_case;

static void case_setup(layer_case *c)
{
    size_t ns;
    if (c->conv) {
        c->cv = (conv_layer){c->in, c->out, c->kernel, c->stride, c->pad, c->w, c->b, NULL, NULL, &c->a};
        ns = conv_layer_scratch_floats(&c->cv, 2, c->size, c->size);
    } else {
        c->lin = (linear_layer){c->in, c->out, c->w, c->b, NULL, NULL, &c->a};
        ns = linear_layer_scratch_floats(&c->lin, c->rows);
    }
    c->scratch = gc_zalloc(ns);
    c->y = gc_zalloc(c->ny);
    c->dx = gc_zalloc(c->nx);
}

static void case_forward(layer_case *c)
{
    if (c->conv)
        conv_layer_forward(&c->cv, c->y, c->x, 2, c->size, c->size, c->scratch);
    else
        linear_layer_forward(&c->lin, c->y, c->x, c->rows, c->scratch);
}

static void case_backward(layer_case *c)
{
    if (c->conv)
        conv_layer_backward(&c->cv, c->dx, c->proj, c->x, 2, c->size, c->size, c->scratch);
    else
        linear_layer_backward(&c->lin, c->dx, c->proj, c->x, c->rows, c->scratch);
}

static double case_loss(void *p)
{
    layer_case *c = p;
    case_forward(c);
    return gc_dot(c->y, c->proj, c->ny);
}

static void run_fixture_case(json_t *j, const safetensors_file *in, const safetensors_file *outs,
                             const safetensors_file *gr)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    layer_case c;
    memset(&c, 0, sizeof c);
    c.conv = json_is_true(json_object_get(j, "conv"));
    c.in = get_int(j, "inp"), c.out = get_int(j, "out"), c.kernel = get_int(j, "kernel");
    c.stride = get_int(j, "stride"), c.pad = get_int(j, "pad"), c.size = get_int(j, "size");
    int rank = get_int(j, "rank");
    float mult = (float)json_number_value(json_object_get(j, "mult"));
    size_t cols = (size_t)c.in * c.kernel * c.kernel, sizes[4];
    c.a.kind = LORA_KIND_GLORA;
    c.a.rank = rank;
    c.a.in_channels = c.in;
    glora_sizes(c.out, c.in, cols, rank, sizes);

    char key[128];
    snprintf(key, sizeof key, "%s.alpha", name);
    float *alpha = fixture_tensor(in, key, NULL);
    c.a.scale = mult * (alpha ? *alpha : 0.0f) / (float)rank;
    json_t *keys = json_object_get(j, "keys");
    CHECK(json_object_get(keys, "alpha"), "%s: LyCORIS saves no alpha", name);
    CHECK(json_object_size(keys) == 5, "%s: LyCORIS saves %zu keys, we 5", name, json_object_size(keys));
    float *want_grads[4];
    for (int i = 0; i < 4; i++) {
        /* the file-format check: LyCORIS' key exists with our element count */
        json_t *shape = json_object_get(keys, factor_keys[i]);
        size_t want = 1;
        for (size_t d = 0; shape && d < json_array_size(shape); d++)
            want *= (size_t)json_integer_value(json_array_get(shape, d));
        CHECK(shape && want == sizes[i], "%s.%s: LyCORIS has %zu elements, we %zu", name, factor_keys[i], want,
              sizes[i]);
        snprintf(key, sizeof key, "%s.%.2s", name, factor_keys[i]);
        size_t n = 0;
        c.a.w[i] = fixture_tensor(in, key, &n);
        CHECK(n == sizes[i], "%s: %zu elements, want %zu", key, n, sizes[i]);
        c.a.dw[i] = gc_zalloc(sizes[i]);
        want_grads[i] = fixture_tensor(gr, key, NULL);
    }
    snprintf(key, sizeof key, "%s.x", name);
    c.x = fixture_tensor(in, key, &c.nx);
    float *want_dx = fixture_tensor(gr, key, NULL);
    snprintf(key, sizeof key, "%s.proj", name);
    c.proj = fixture_tensor(in, key, &c.ny);
    snprintf(key, sizeof key, "%s.weight", name);
    c.w = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.bias", name);
    c.b = fixture_tensor(in, key, NULL);
    snprintf(key, sizeof key, "%s.out", name);
    float *want_y = fixture_tensor(outs, key, NULL);
    if (!c.x || !c.proj || !c.w || !c.b || !want_y || !want_dx)
        return;
    c.rows = (int)(c.nx / (size_t)c.in);
    case_setup(&c);
    case_forward(&c);
    case_backward(&c);

    double e = fixture_rel_err(c.y, want_y, c.ny), ex = fixture_rel_err(c.dx, want_dx, c.nx);
    printf("%-19s forward %.2e  d input %.2e", name, e, ex);
    CHECK(e <= 1e-4, "%s forward %.3e", name, e);
    CHECK(ex <= 1e-3, "%s d input %.3e", name, ex);
    for (int i = 0; i < 4; i++) {
        double eg = want_grads[i] ? fixture_rel_err(c.a.dw[i], want_grads[i], sizes[i]) : INFINITY;
        printf("  d %.2s %.2e", factor_keys[i], eg);
        CHECK(eg <= 1e-3, "%s grad of %s: %.3e", name, factor_keys[i], eg);
    }
    printf("\n");
    for (int i = 0; i < 4; i++)
        free(c.a.w[i]), free(c.a.dw[i]), free(want_grads[i]);
    free(alpha), free(c.x), free(want_dx), free(c.proj), free(c.w), free(c.b), free(want_y);
    free(c.y), free(c.dx), free(c.scratch);
}

/* Random layer and factors: finite differences of the input and all four factors, then the
 * backward again with half the factors untrained (dw NULL). */
static void gradcheck_case(const char *name, int conv, int in, int out, int kernel, int stride, int size,
                           int rank)
{
    uint64_t st = 77 + (uint64_t)conv * 13 + (uint64_t)in;
    layer_case c;
    memset(&c, 0, sizeof c);
    c.conv = conv, c.in = in, c.out = out, c.kernel = kernel, c.stride = stride, c.pad = kernel / 2;
    c.size = size, c.rows = 10;
    size_t cols = (size_t)in * kernel * kernel, sizes[4];
    c.a.kind = LORA_KIND_GLORA;
    c.a.rank = rank;
    c.a.in_channels = in;
    c.a.scale = 0.6f;
    glora_sizes(out, in, cols, rank, sizes);
    for (int i = 0; i < 4; i++) {
        c.a.w[i] = gc_zalloc(sizes[i]);
        c.a.dw[i] = gc_zalloc(sizes[i]);
        gc_fill_uniform(c.a.w[i], sizes[i], &st, -0.8f, 0.8f);
    }
    c.w = gc_zalloc((size_t)out * cols);
    c.b = gc_zalloc((size_t)out);
    gc_fill_uniform(c.w, (size_t)out * cols, &st, -0.5f, 0.5f);
    gc_fill_uniform(c.b, (size_t)out, &st, -0.5f, 0.5f);
    if (conv) {
        int os = (size + 2 * c.pad - kernel) / stride + 1;
        c.nx = 2 * (size_t)in * size * size;
        c.ny = 2 * (size_t)out * os * os;
    } else {
        c.nx = (size_t)c.rows * in;
        c.ny = (size_t)c.rows * out;
    }
    c.x = gc_zalloc(c.nx);
    c.proj = gc_zalloc(c.ny);
    gc_fill_uniform(c.x, c.nx, &st, -1.0f, 1.0f);
    gc_fill_uniform(c.proj, c.ny, &st, -1.0f, 1.0f);
    case_setup(&c);
    case_forward(&c);
    case_backward(&c);

    gc_opts o = gc_default_opts();
    o.quiet = 1;
    char what[96];
    size_t bad = 0;
    snprintf(what, sizeof what, "%s input", name);
    bad += gc_check(what, case_loss, &c, c.x, c.dx, c.nx, &o);
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "%s %.2s", name, factor_keys[i]);
        size_t f = gc_check(what, case_loss, &c, c.a.w[i], c.a.dw[i], sizes[i], &o);
        CHECK(f == 0, "%s: %zu elements off", what, f);
        bad += f;
    }

    /* Half the factors frozen (dw NULL), the others' gradients accumulating (+=) onto the first
     * run's: each must come out at twice the first, for either half. */
    float *first[4];
    for (int i = 0; i < 4; i++)
        first[i] = c.a.dw[i];
    double worst = 0.0;
    for (int half = 0; half < 2; half++) {
        for (int i = 0; i < 4; i++) {
            int trained = (i == 1 || i == 2) == (half == 0);   /* a2, b1 then a1, b2 */
            c.a.dw[i] = trained ? gc_zalloc(sizes[i]) : NULL;
            if (trained)
                memcpy(c.a.dw[i], first[i], sizes[i] * sizeof(float));
        }
        case_forward(&c);
        case_backward(&c);
        for (int i = 0; i < 4; i++) {
            if (!c.a.dw[i])
                continue;
            for (size_t k = 0; k < sizes[i]; k++)
                first[i][k] *= 2.0f;
            double e = fixture_rel_err(c.a.dw[i], first[i], sizes[i]);
            for (size_t k = 0; k < sizes[i]; k++)
                first[i][k] *= 0.5f;
            CHECK(e <= 1e-6, "%s: with half the factors frozen, %s's gradient does not accumulate (%.2e)", name,
                  factor_keys[i], e);
            worst = e > worst ? e : worst;
            free(c.a.dw[i]);
        }
    }

    /* glora_work_floats is enough: BLAS writes are not seen by ASan, so a guard after it */
    size_t nw = glora_work_floats(&c.a, out, cols), guard = 64, n = (size_t)out * cols, touched = 0;
    float *work = gc_zalloc(nw + guard), *dw = gc_zalloc(n), *g = gc_zalloc(n);
    gc_fill_uniform(g, n, &st, -1.0f, 1.0f);
    for (size_t k = 0; k < guard; k++)
        work[nw + k] = 12345.0f;
    for (int i = 0; i < 4; i++)
        c.a.dw[i] = first[i];
    glora_delta_build(&c.a, c.w, dw, out, cols, work);
    glora_delta_backward(&c.a, c.w, g, out, cols, work);
    for (size_t k = 0; k < guard; k++)
        touched += work[nw + k] != 12345.0f;
    CHECK(touched == 0, "%s: %zu floats written past the %zu of glora_work_floats", name, touched, nw);
    printf("%-19s finite differences of input, a1, a2, b1, b2: %s; half frozen, += %.1e; work %zu floats\n",
           name, bad ? "FAIL" : "ok", worst, nw);
    free(work), free(dw), free(g);
    for (int i = 0; i < 4; i++)
        free(c.a.w[i]), free(first[i]);
    free(c.w), free(c.b), free(c.x), free(c.proj), free(c.y), free(c.dx), free(c.scratch);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-glora/config.json", top ? top : ".");
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
        snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-glora/%s.safetensors", top ? top : ".", files[i]);
        if (safetensors_open(path, fs[i], &err) != 0) {
            fprintf(stderr, "FAIL: %s\n", err.message);
            return 1;
        }
    }
    json_t *cases = json_object_get(cfg, "cases");
    CHECK(json_array_size(cases) == 3, "%zu fixture cases, want 3", json_array_size(cases));
    for (size_t i = 0; i < json_array_size(cases); i++)
        run_fixture_case(json_array_get(cases, i), in, outs, gr);
    safetensors_close(in), safetensors_close(outs), safetensors_close(gr);
    json_decref(cfg);

    gradcheck_case("fd conv 5->7 s2", 1, 5, 7, 3, 2, 7, 3);
    gradcheck_case("fd linear 9->6", 0, 9, 6, 1, 1, 1, 2);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
