/* test_network_variants.c — LyCORIS LoHa / LoKr adapters on Linear and Conv2d layers against
 * lycoris-lora's own modules (tests/fixtures/lycoris-layers: forward ≤ 1e-4, gradients of the
 * input and every factor ≤ 1e-3 relative to their max), the factor shapes against the keys
 * LyCORIS saves, LyCORIS' factorization table, and finite-difference checks of the dropouts
 * (network / rank / module dropout with fixed Philox masks). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/lora/lycoris.h"
#include "engine/lora/network.h"
#include "engine/safetensors.h"
#include "tests/gradcheck.h"


#include "tests/check.h"
#include "tests/golden_fixture.h"
#include "tests/tiny_sd1.h"

static const char *loha_keys[4] = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"};

static void lokr_key(const lora_adapter *a, int i, char *buf, size_t size)
{
    if (i < 2)
        snprintf(buf, size, a->w1_rank ? (i ? "lokr_w1_b" : "lokr_w1_a") : "lokr_w1");
    else
        snprintf(buf, size, a->w2_rank ? (i == 3 ? "lokr_w2_b" : "lokr_w2_a") : "lokr_w2");
}

static void run_case(json_t *c, const safetensors_file *in, const safetensors_file *outs,
                     const safetensors_file *gr)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *kind = json_string_value(json_object_get(c, "kind"));
    int lokr = strcmp(kind, "lokr") == 0, locon = strcmp(kind, "locon") == 0;
    int dora = json_is_true(json_object_get(c, "dora"));
    int scalar = json_is_true(json_object_get(c, "scalar"));
    int conv = json_is_true(json_object_get(c, "conv"));
    int I = (int)json_integer_value(json_object_get(c, "inp"));
    int O = (int)json_integer_value(json_object_get(c, "out"));
    int K = (int)json_integer_value(json_object_get(c, "kernel"));
    int rank = (int)json_integer_value(json_object_get(c, "rank"));
    float mult = (float)json_number_value(json_object_get(c, "mult"));
    size_t cols = (size_t)I * K * K, sizes[LORA_MAX_FACTORS] = {0};
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.rank = rank;
    a.kind = lokr ? LORA_KIND_LOKR : locon ? LORA_KIND_LORA : LORA_KIND_LOHA;
    if (lokr)
        lokr_shapes(&a, O, I, K, rank, (int)json_integer_value(json_object_get(c, "factor")),
                    json_is_true(json_object_get(c, "decompose_both")), 0, sizes);
    else if (locon)   /* LyCORIS' LoCon: lora_down, lora_up */
        sizes[0] = (size_t)rank * cols, sizes[1] = (size_t)O * rank;
    else
        loha_sizes(O, I, cols, rank, 0, sizes);
    char key[128], k2[32];
    snprintf(key, sizeof key, "%s.alpha", name);
    float *alpha = fixture_tensor(in, key, NULL);
    a.scale = mult * *alpha / (float)rank;
    json_t *keys = json_object_get(c, "keys");
    float *grads[5] = {0}, *factors[5] = {0}, *dfactors[5] = {0};
    size_t nsizes[5] = {sizes[0], sizes[1], sizes[2], sizes[3], dora ? (size_t)O : 0};
    for (int i = 0; i < 5; i++) {
        if (!nsizes[i])
            continue;
        if (i == 4)
            snprintf(k2, sizeof k2, "dora_scale");
        else if (lokr)
            lokr_key(&a, i, k2, sizeof k2);
        else if (locon)
            snprintf(k2, sizeof k2, "%s", i == 0 ? "lora_down.weight" : "lora_up.weight");
        else
            snprintf(k2, sizeof k2, "%s", loha_keys[i]);
        /* the file-format check: LyCORIS' key exists with our element count */
        json_t *shape = json_object_get(keys, k2);
        size_t want = 1;
        for (size_t d = 0; shape && d < json_array_size(shape); d++)
            want *= (size_t)json_integer_value(json_array_get(shape, d));
        CHECK(shape && want == nsizes[i], "%s.%s: LyCORIS has %zu elements, we %zu", name, k2, want, nsizes[i]);
        /* LyCORIS' parameter names: lora_down.weight is the module lora_down's weight */
        snprintf(key, sizeof key, "%s.%s", name, k2);
        size_t n;
        factors[i] = fixture_tensor(in, key, &n);
        CHECK(n == nsizes[i], "%s: %zu elements, want %zu", key, n, nsizes[i]);
        dfactors[i] = calloc(nsizes[i], sizeof(float));
        grads[i] = fixture_tensor(gr, key, NULL);
    }
    if (locon)
        a.down = factors[0], a.up = factors[1], a.ddown = dfactors[0], a.dup = dfactors[1];
    else
        for (int i = 0; i < 4; i++)
            a.w[i] = factors[i], a.dw[i] = dfactors[i];
    a.dora_scale = factors[4], a.ddora_scale = dfactors[4];
    float *sc = NULL, *sc_grad = NULL, dsc = 0.0f;
    if (scalar) {   /* use_scalar: not a file key (folded into a factor when saved) */
        snprintf(key, sizeof key, "%s.scalar", name);
        sc = fixture_tensor(in, key, NULL);
        sc_grad = fixture_tensor(gr, key, NULL);
        a.scalar = sc, a.dscalar = &dsc;
    }
    CHECK(json_object_size(keys) == 1 + (size_t)(nsizes[0] > 0) + (nsizes[1] > 0) + (nsizes[2] > 0) +
                                        (nsizes[3] > 0) + (nsizes[4] > 0),
          "%s: key count differs from LyCORIS", name);
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
    printf("%-17s forward %.2e  d input %.2e", name, e, ex);
    CHECK(e <= 1e-4, "%s forward %.3e", name, e);
    CHECK(ex <= 1e-3, "%s d input %.3e", name, ex);
    for (int i = 0; i < 5; i++)
        if (nsizes[i]) {
            double eg = fixture_rel_err(dfactors[i], grads[i], nsizes[i]);
            printf("  d %s %.2e", i == 4 ? "dora" : (const char *[]){"w0", "w1", "w2", "w3"}[i], eg);
            CHECK(eg <= 1e-3, "%s grad of factor %d: %.3e", name, i, eg);
        }
    if (scalar && sc_grad) {
        double eg = fixture_rel_err(&dsc, sc_grad, 1);
        printf("  d scalar %.2e", eg);
        CHECK(eg <= 1e-3, "%s grad of the scalar: %.3e", name, eg);
    }
    free(sc), free(sc_grad);
    printf("\n");
    for (int i = 0; i < 5; i++) {
        free(factors[i]);
        free(dfactors[i]);
        free(grads[i]);
    }
    free(alpha), free(x), free(gx), free(proj), free(w), free(b), free(want), free(y), free(dx);
}

/* ---- dropouts: finite differences with the masks fixed by (seed, offset) ---- */

typedef struct dctx {
    linear_layer lin;
    conv_layer cv;
    int conv, rows;
    float *x, *y, *proj, *scratch;
    size_t ny;
} dctx;

static double dloss(void *p)
{
    dctx *c = p;
    if (c->conv)
        conv_layer_forward(&c->cv, c->y, c->x, 2, 4, 4, c->scratch);
    else
        linear_layer_forward(&c->lin, c->y, c->x, c->rows, c->scratch);
    double s = 0.0;
    for (size_t i = 0; i < c->ny; i++)
        s += (double)c->y[i] * c->proj[i];
    return s;
}

/* Finite differences of the layer with an adapter of `kind` (LoRA, LoHa, LoKr with their
 * dropouts; iA3, LyCORIS' full with its bias, GLoRA, Diag-OFT / BOFT with rescale) for the
 * input and every factor; a second backward adds the same gradients again (+=).
 * variant: iA3 on_input; LoRA: LyCORIS' LoCon row dropout (drop.rows). dora: with DoRA's
 * scale, scalar: with use_scalar's scalar (each checked too). */
static void delta_check(int conv, lora_kind kind, float pn, float pr, int skip, int variant, int dora,
                        int scalar)
{
    int on_input = kind == LORA_KIND_IA3 && variant;
    uint64_t st = 99 + (uint64_t)conv * 7 + (uint64_t)kind;
    /* BOFT needs out = 2k · 2^p with 2k ≤ rank: 8 = 4 · 2 at rank 4 */
    int I = 8, O = kind == LORA_KIND_BOFT ? 8 : 6, K = conv ? 3 : 1, R = kind == LORA_KIND_BOFT ? 4 : 3;
    int rows = 10;
    size_t cols = (size_t)I * K * K;
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.rank = R, a.kind = kind, a.scale = 0.7f, a.in_channels = I, a.on_input = on_input;
    a.drop = (lora_dropout){pn, pr, kind != LORA_KIND_LORA || variant, 1, skip, 2, 1234, 5678,
                            kind == LORA_KIND_LORA && variant};
    size_t sizes[LORA_MAX_FACTORS] = {0}, nd = (size_t)R * cols, nu = (size_t)O * R;
    if (kind == LORA_KIND_LOHA)
        loha_sizes(O, I, cols, R, 0, sizes);
    else if (kind == LORA_KIND_LOKR)
        lokr_shapes(&a, O, I, K, 1, 2, 1, 0, sizes);
    else if (kind == LORA_KIND_IA3)
        sizes[0] = ia3_size(O, I, on_input);
    else if (kind == LORA_KIND_FULL)
        sizes[0] = (size_t)O * cols, sizes[1] = (size_t)O;
    else if (kind == LORA_KIND_GLORA)
        glora_sizes(O, I, cols, R, sizes);
    else if (kind == LORA_KIND_DIAG_OFT || kind == LORA_KIND_BOFT)
        CHECK(oft_shapes(&a, kind == LORA_KIND_BOFT, O, R, 1, sizes) == 0, "oft_shapes(%d, %d)", O, R);
    float *w = malloc(O * cols * sizeof *w), *b = malloc(O * sizeof *b);
    gc_fill_uniform(w, O * cols, &st, -0.5f, 0.5f);
    gc_fill_uniform(b, O, &st, -0.5f, 0.5f);
    float *down = malloc(nd * sizeof *down), *up = malloc(nu * sizeof *up);
    float *ddown = calloc(nd, sizeof *ddown), *dup = calloc(nu, sizeof *dup);
    gc_fill_uniform(down, nd, &st, -0.5f, 0.5f);
    gc_fill_uniform(up, nu, &st, -0.5f, 0.5f);
    for (int i = 0; i < 4; i++) {
        a.w[i] = sizes[i] ? malloc(sizes[i] * sizeof(float)) : NULL;
        a.dw[i] = sizes[i] ? calloc(sizes[i], sizeof(float)) : NULL;
        if (sizes[i])
            gc_fill_uniform(a.w[i], sizes[i], &st, -0.8f, 0.8f);
    }
    if (kind == LORA_KIND_LORA)
        a.down = down, a.up = up, a.ddown = ddown, a.dup = dup;
    float *dscale = dora ? malloc((size_t)O * sizeof(float)) : NULL;
    float *ddscale = dora ? calloc((size_t)O, sizeof(float)) : NULL;
    if (dora)
        gc_fill_uniform(dscale, (size_t)O, &st, 0.5f, 1.5f);
    a.dora_scale = dscale, a.ddora_scale = ddscale;
    float sc = 0.6f, dsc = 0.0f;
    if (scalar)
        a.scalar = &sc, a.dscalar = &dsc;
    dctx c = {0};
    c.conv = conv, c.rows = rows;
    size_t nx = conv ? 2 * (size_t)I * 16 : (size_t)rows * I;
    c.ny = conv ? 2 * (size_t)O * 16 : (size_t)rows * O;
    c.x = malloc(nx * sizeof *c.x);
    c.y = malloc(c.ny * sizeof *c.y);
    c.proj = malloc(c.ny * sizeof *c.proj);
    float *dx = calloc(nx, sizeof *dx);
    gc_fill_uniform(c.x, nx, &st, -1.0f, 1.0f);
    gc_fill_uniform(c.proj, c.ny, &st, -1.0f, 1.0f);
    a.hidden = malloc((size_t)(conv ? 2 * 16 : rows) * R * sizeof(float));
    c.lin = (linear_layer){I, O, w, b, NULL, NULL, &a};
    c.cv = (conv_layer){I, O, K, 1, 1, w, b, NULL, NULL, &a};
    size_t ns = conv ? conv_layer_scratch_floats(&c.cv, 2, 4, 4) : linear_layer_scratch_floats(&c.lin, rows);
    c.scratch = malloc(ns * sizeof(float));
    dloss(&c);
    if (conv)
        conv_layer_backward(&c.cv, dx, c.proj, c.x, 2, 4, 4, c.scratch);
    else
        linear_layer_backward(&c.lin, dx, c.proj, c.x, rows, c.scratch);
    gc_opts o = gc_default_opts();
    o.quiet = 1;
    char nm[96];
    snprintf(nm, sizeof nm, "%s kind %d p_net %.1f p_rank %.1f skip %d variant %d dora %d scalar %d: input",
             conv ? "conv" : "linear", (int)kind, pn, pr, skip, variant, dora, scalar);
    CHECK(gc_check(nm, dloss, &c, c.x, dx, nx, &o) == 0, "%s", nm);
    if (kind == LORA_KIND_LORA) {
        CHECK(gc_check("down", dloss, &c, down, ddown, nd, &o) == 0, "%s down", nm);
        CHECK(gc_check("up", dloss, &c, up, dup, nu, &o) == 0, "%s up", nm);
    }
    for (int i = 0; i < 4; i++)
        if (sizes[i])
            CHECK(gc_check("factor", dloss, &c, a.w[i], a.dw[i], sizes[i], &o) == 0, "%s factor %d", nm, i);
    if (dora)
        CHECK(gc_check("dora_scale", dloss, &c, dscale, ddscale, (size_t)O, &o) == 0, "%s dora_scale", nm);
    if (scalar)
        CHECK(gc_check("scalar", dloss, &c, &sc, &dsc, 1, &o) == 0, "%s scalar", nm);
    /* a second backward accumulates: every gradient doubles */
    float *first[4] = {0};
    for (int i = 0; i < 4; i++)
        if (sizes[i]) {
            first[i] = malloc(sizes[i] * sizeof(float));
            memcpy(first[i], a.dw[i], sizes[i] * sizeof(float));
        }
    dloss(&c);
    if (conv)
        conv_layer_backward(&c.cv, dx, c.proj, c.x, 2, 4, 4, c.scratch);
    else
        linear_layer_backward(&c.lin, dx, c.proj, c.x, rows, c.scratch);
    double worst = 0.0, biggest = 0.0;
    for (int i = 0; i < 4; i++)
        for (size_t j = 0; j < sizes[i]; j++) {
            worst = fmax(worst, fabs((double)a.dw[i][j] - 2.0 * first[i][j]));
            biggest = fmax(biggest, fabs((double)first[i][j]));
        }
    CHECK(worst <= 1e-5 * fmax(biggest, 1e-3), "%s: a second backward does not add (off by %g)", nm, worst);
    for (int i = 0; i < 4; i++)
        free(a.w[i]), free(a.dw[i]), free(first[i]);
    free(w), free(b), free(down), free(up), free(ddown), free(dup), free(c.x), free(c.y), free(c.proj);
    free(dx), free(a.hidden), free(c.scratch), free(dscale), free(ddscale);
}

/* block indices, block lr weights, LoRA+ and module dropout on the tiny SD1 U-Net */
static void groups_check(const char *top)
{
    CHECK(network_block_index("lora_unet_down_blocks_1_attentions_0_proj_in") == 4, "down 1 attn 0");
    CHECK(network_block_index("lora_unet_down_blocks_0_downsamplers_0_conv") == 3, "down 0 sampler");
    CHECK(network_block_index("lora_unet_mid_block_attentions_0_proj_out") == 12, "mid");
    CHECK(network_block_index("lora_unet_up_blocks_3_attentions_2_proj_in") == 24, "up 3 attn 2");
    CHECK(network_block_index("lora_unet_input_blocks_4_1_proj_in") == 5, "sdxl input 4");
    CHECK(network_block_index("lora_unet_middle_block_1_proj_in") == 11, "sdxl middle");
    CHECK(network_block_index("lora_unet_output_blocks_8_1_proj_in") == 21, "sdxl output 8");
    CHECK(network_block_index("lora_te1_text_model_encoder_layers_0_mlp_fc1") == -1, "te");
    float w[NETWORK_MAX_BLOCKS];
    error_info err = {0};
    CHECK(network_block_lr_weights(0, "0,0.5,1", NULL, "sine", 0.6f, w, &err) == 25, "25 SD1 blocks");
    CHECK(w[0] == 0.0f && w[1] == 0.0f && w[2] == 1.0f && w[11] == 1.0f && w[12] == 1.0f && w[13] == 0.0f &&
          fabsf(w[24] - 1.0f) < 1e-6f, "SD1 block lr weights");
    CHECK(network_block_lr_weights(1, NULL, "2", NULL, 0.0f, w, &err) == 23 && w[10] == 2.0f && w[11] == 1.0f,
          "23 SDXL blocks");
    CHECK(network_block_lr_weights(0, NULL, "", NULL, 0.0f, w, &err) == 0, "none given");

    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/config.json", top);
    unet_config cfg;
    unet_model m;
    if (unet_config_load(&cfg, path, &err) != 0 || unet_build(&m, &cfg, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    network_options o;
    network_options_init(&o);
    o.module_dropout = 1.0f;
    lora_network n;
    CHECK(network_create(&n, &o, &m, NULL, 0, &err) == 0, "%s", err.message);
    float blw[NETWORK_MAX_BLOCKS];
    network_block_lr_weights(0, "zeros+0.5", "0", NULL, 0.0f, blw, &err);
    network_lr_options lo = {blw, 25, 0.0f, 16.0f, 0.0f};
    size_t count = network_param_ranges(&n, &lo, NULL, 0);
    network_param_range *r = calloc(count, sizeof *r);
    CHECK(network_param_ranges(&n, &lo, r, count) == count, "count");
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        CHECK(r[i].offset == off, "ranges not contiguous at %zu", i);
        off += r[i].count;
        float want = r[i].block == 12 ? 0.0f : r[i].block < 12 ? 0.5f : 1.0f;
        CHECK(r[i].lr_mult == want * (r[i].plus ? 16.0f : 1.0f), "range %zu block %d mult %g", i, r[i].block,
              r[i].lr_mult);
    }
    CHECK(off == n.n_params, "ranges cover %zu of %zu", off, n.n_params);
    network_begin_step(&n, 1, 5, 0, 2);
    CHECK(n.mods[0].adapter.drop.active && n.mods[0].adapter.drop.skip, "module_dropout 1 skips");
    network_begin_step(&n, 0, 5, 0, 2);
    CHECK(!n.mods[0].adapter.drop.active, "inference: dropouts off");
    printf("param ranges: %zu over %zu params\n", count, n.n_params);
    free(r);
    network_free(&n);
    unet_free(&m);
}

/* ---- train_norm: LyCORIS' NormModule on the U-Net's GroupNorm / LayerNorm layers ---- */

typedef struct norm_ctx {
    lora_network *n;
    unet_acts acts;
    float *sample, *context, *out, *proj, ts[1];
    size_t nout;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    error_info err = {0};
    network_norms_refresh(c->n);   /* the parameters changed: the norms' weights follow */
    if (unet_forward(&c->acts, c->out, c->sample, c->ts, c->context, NULL, &err) != 0)
        return NAN;
    return gc_dot(c->out, c->proj, c->nout);
}

/* With train_norm every GroupNorm / LayerNorm inside the targeted modules gets w_norm / b_norm:
 * the U-Net runs with weight + w_norm, bias + b_norm (equal to editing its weights), their
 * gradients match finite differences, and detaching restores the model. */
static void norm_check(const char *top)
{
    error_info err = {0};
    unet_model um;
    clip_model cm;
    if (tiny_sd1_build(top, &um, &cm, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    uint64_t st = 71;
    gc_fill_uniform(um.params, um.n_params, &st, -0.3f, 0.3f);
    network_options o;
    network_options_init(&o);
    network_options_set_module(&o, "lycoris.kohya", "locon", &err);
    o.preset = "full", o.dim = 2, o.train_norm = 1, o.train_te = 0;
    lora_network n;
    if (network_create(&n, &o, &um, NULL, 0, &err) != 0) {
        CHECK(0, "train_norm: %s", err.message);
        clip_free(&cm), unet_free(&um);
        return;
    }
    size_t norms = 0;
    for (size_t i = 0; i < n.n_mods; i++)
        norms += n.mods[i].adapter.kind == LORA_KIND_NORM;
    CHECK(norms == um.n_norm_points && norms > 0, "train_norm: %zu norm modules, the U-Net has %zu",
          norms, um.n_norm_points);
    /* the norms alone: LoCon factors 0, w_norm / b_norm random */
    for (size_t i = 0; i < n.n_mods; i++) {
        network_module *m = &n.mods[i];
        if (m->adapter.kind == LORA_KIND_NORM)
            gc_fill_uniform(n.params + m->w_off[0], 2 * (size_t)m->out, &st, -0.5f, 0.5f);
    }
    norm_ctx c = {0};
    c.n = &n;
    const unet_config *uc = &um.config;
    int B = 1, H = 8, W = 8, T = 4;
    c.nout = (size_t)B * uc->out_channels * H * W;
    c.sample = malloc((size_t)B * uc->in_channels * H * W * sizeof(float));
    c.context = malloc((size_t)B * T * uc->cross_attention_dim * sizeof(float));
    c.out = malloc(c.nout * sizeof(float));
    c.proj = malloc(c.nout * sizeof(float));
    float *plain = malloc(c.nout * sizeof(float));
    gc_fill_uniform(c.sample, (size_t)B * uc->in_channels * H * W, &st, -1, 1);
    gc_fill_uniform(c.context, (size_t)B * T * uc->cross_attention_dim, &st, -1, 1);
    gc_fill_uniform(c.proj, c.nout, &st, -1, 1);
    c.ts[0] = 300.0f;
    network_attach(&n);
    if (network_plan_unet(&n, &um, B, H, W, T, &err) != 0 || unet_acts_init(&c.acts, &um, B, H, W, T, 0, &err) != 0) {
        CHECK(0, "train_norm acts: %s", err.message);
    } else {
        network_zero_grad(&n);
        norm_loss(&c);
        memcpy(plain, c.out, c.nout * sizeof *plain);
        CHECK(unet_backward(&c.acts, c.proj, NULL, NULL, NULL, NULL, &err) == 0, "backward: %s", err.message);
        gc_opts go = gc_default_opts();
        go.quiet = 1, go.max_checks = 12;
        size_t checked = 0;
        for (size_t i = 0; i < n.n_mods && checked < 4; i++) {
            network_module *m = &n.mods[i];
            if (m->adapter.kind != LORA_KIND_NORM || (checked && m->norm->conv_block == n.mods[i - 1].norm->conv_block))
                continue;
            checked++;
            for (int k = 0; k < 2; k++)
                CHECK(gc_check(k ? "b_norm" : "w_norm", norm_loss, &c, n.params + m->w_off[k],
                               n.grads + m->w_off[k], (size_t)m->out, &go) == 0,
                      "%s: d %s", m->name, k ? "b_norm" : "w_norm");
        }
        norm_loss(&c);
        /* the same as the U-Net with its norm weights edited, the network detached */
        network_detach(&n);
        for (size_t i = 0; i < n.n_mods; i++) {
            network_module *m = &n.mods[i];
            if (m->adapter.kind != LORA_KIND_NORM)
                continue;
            CHECK(*m->norm->weight == m->base_weight && !*m->norm->dweight, "%s: detach restores", m->name);
            for (int ch = 0; ch < m->out; ch++) {
                ((float *)m->base_weight)[ch] += n.params[m->w_off[0] + (size_t)ch];
                ((float *)m->base_bias)[ch] += n.params[m->w_off[1] + (size_t)ch];
            }
        }
        CHECK(unet_forward(&c.acts, c.out, c.sample, c.ts, c.context, NULL, &err) == 0, "%s", err.message);
        double worst = 0.0;
        for (size_t i = 0; i < c.nout; i++)
            worst = fmax(worst, fabs((double)c.out[i] - plain[i]));
        CHECK(worst < 1e-5, "train_norm: the network's norms differ from edited weights by %g", worst);
        printf("train_norm: %zu norm modules, w_norm / b_norm gradients as finite differences, the "
               "same output as edited weights (%.1e)\n", norms, worst);
        unet_acts_free(&c.acts);
    }
    free(c.sample), free(c.context), free(c.out), free(c.proj), free(plain);
    network_free(&n);
    clip_free(&cm);
    unet_free(&um);
}

/* use_scalar on LyCORIS' LoCon and LoHa: the scalar starts at 0 and the usually-zero factor
 * random; a saved file holds no scalar (folded into lora_up / hada_w1_a as LyCORIS saves it) and
 * loads back to the same ΔW with scalar 1; the training state keeps it apart, bit for bit. */
static void scalar_roundtrip(const char *top)
{
    error_info err = {0};
    unet_model um;
    clip_model cm;
    if (tiny_sd1_build(top, &um, &cm, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    clip_model *tes[1] = {&cm};
    const char *algos[2] = {"locon", "loha"};
    for (int ai = 0; ai < 2; ai++) {
        network_options o;
        network_options_init(&o);
        network_options_set_module(&o, "lycoris.kohya", algos[ai], &err);
        o.preset = "attn-mlp", o.dim = 2, o.use_scalar = 1, o.seed = 3;
        lora_network n, n2;
        if (network_create(&n, &o, &um, tes, 1, &err) != 0) {
            CHECK(0, "use_scalar %s: %s", algos[ai], err.message);
            continue;
        }
        const network_module *m0 = &n.mods[0];
        size_t zf = ai == 0 ? 1 : 2;   /* lora_up / hada_w2_a: random with use_scalar */
        double z = 0.0;
        for (size_t j = 0; j < m0->w_size[zf]; j++)
            z += fabs(n.params[m0->w_off[zf] + j]);
        CHECK(m0->has_scalar && n.params[m0->scalar_off] == 0.0f && z > 0.0,
              "use_scalar %s: scalar %g, the other factor's sum %g", algos[ai], n.params[m0->scalar_off], z);
        uint64_t st = 21 + (uint64_t)ai;
        gc_fill_uniform(n.params, n.n_params, &st, -1.0f, 1.0f);
        char tmp[] = "/tmp/test_network_scalar_XXXXXX";
        int fd = mkstemp(tmp);
        if (fd >= 0)
            close(fd);
        CHECK(network_save(&n, tmp, DTYPE_F32, NULL, &err) == 0, "%s", err.message);
        safetensors_file *f;
        if (safetensors_open(tmp, &f, &err) == 0) {
            for (size_t i = 0; i < safetensors_count(f); i++)
                CHECK(!strstr(safetensors_tensor_at(f, i)->name, ".scalar"), "a scalar key in the file");
            safetensors_close(f);
        }
        if (network_create(&n2, &o, &um, tes, 1, &err) == 0 && network_load_weights(&n2, tmp, &err) == 0) {
            double worst = 0.0;
            for (size_t i = 0; i < n.n_mods; i++) {
                const network_module *a = &n.mods[i], *b = &n2.mods[i];
                size_t cols = (size_t)a->in * a->kernel * a->kernel, nw = (size_t)a->out * cols;
                float *da = malloc(nw * sizeof *da), *db = malloc(nw * sizeof *db);
                float *work = malloc((lora_delta_work_floats(&a->adapter, a->out, cols) + 1) * sizeof *work);
                lora_delta_build(&a->adapter, NULL, da, a->out, cols, work);
                lora_delta_build(&b->adapter, NULL, db, b->out, cols, work);
                float sa = n.params[a->scalar_off], sb = n2.params[b->scalar_off];
                CHECK(sb == 1.0f, "%s: loaded scalar %g, want 1", b->name, sb);
                for (size_t j = 0; j < nw; j++)
                    worst = fmax(worst, fabs((double)da[j] * sa - (double)db[j] * sb) / (1.0 + fabs(da[j] * sa)));
                free(da), free(db), free(work);
            }
            CHECK(worst < 1e-5, "use_scalar %s: the saved file's ΔW is off by %g", algos[ai], worst);
            CHECK(network_save_state(&n, tmp, NULL, &err) == 0 && network_load_weights(&n2, tmp, &err) == 0 &&
                      !memcmp(n.params, n2.params, n.n_params * sizeof(float)),
                  "use_scalar %s: state round trip not bit-exact", algos[ai]);
            network_free(&n2);
        } else
            CHECK(0, "use_scalar load: %s", err.message);
        printf("use_scalar %s: starts at 0, folded when saved (ΔW kept), kept apart in the state\n", algos[ai]);
        remove(tmp);
        network_free(&n);
    }
    clip_free(&cm);
    unet_free(&um);
}

/* LyCORIS' LoCon with rank dropout on a Linear 4 → 6: y = W x + b + scale · mask[o] / kept ·
 * (up · down · x)[o], one mask of output rows for the step (make_weight's torch.rand(out)). */
static void locon_row_dropout(void)
{
    enum { I = 4, O = 6, R = 2 };
    uint64_t st = 17;
    float W[O * I], b[O], down[R * I], up[O * R], x[I], y[O], scratch[256], hidden[R];
    gc_fill_uniform(W, O * I, &st, -1, 1), gc_fill_uniform(b, O, &st, -1, 1);
    gc_fill_uniform(down, R * I, &st, -1, 1), gc_fill_uniform(up, O * R, &st, -1, 1);
    gc_fill_uniform(x, I, &st, -1, 1);
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.kind = LORA_KIND_LORA, a.rank = R, a.scale = 0.75f, a.down = down, a.up = up, a.hidden = hidden;
    a.drop = (lora_dropout){0.0f, 0.5f, 1, 1, 0, 1, 42, 7, 1};
    linear_layer l = {I, O, W, b, NULL, NULL, &a};
    CHECK(linear_layer_scratch_floats(&l, 1) <= 256, "LoCon scratch");
    linear_layer_forward(&l, y, x, 1, scratch);
    int keep[O], kept = 0;
    for (int o = 0; o < O; o++)
        kept += keep[o] = k_dropout_keep(0.5f, 42, 7 + LORA_DROPOUT_RANK_STREAM, (size_t)o);
    CHECK(kept > 0 && kept < O, "the mask keeps %d of %d rows (pick another seed)", kept, O);
    double worst = 0.0;
    for (int o = 0; o < O; o++) {
        double base = b[o], lo = 0.0;
        for (int i = 0; i < I; i++)
            base += (double)W[o * I + i] * x[i];
        for (int r = 0; r < R; r++) {
            double h = 0.0;
            for (int i = 0; i < I; i++)
                h += (double)down[r * I + i] * x[i];
            lo += up[o * R + r] * h;
        }
        double want = base + (keep[o] ? 0.75 * lo * O / kept : 0.0);
        worst = fmax(worst, fabs(want - y[o]));
    }
    CHECK(worst < 1e-5, "LyCORIS LoCon row dropout off by %g", worst);
}

/* iA3 by hand on a Linear 3 → 2: y = (W ⊙ (1 + s·w)) x + b, per row or per input column. */
static void ia3_values(void)
{
    float W[6] = {1, 2, 3, -1, 0.5f, 2}, b[2] = {0.25f, -0.5f}, x[3] = {1, -2, 0.5f};
    float w_out[2] = {0.5f, -1.0f}, w_in[3] = {2.0f, 0.0f, -0.5f}, y[2], scratch[64];
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.kind = LORA_KIND_IA3, a.rank = 1, a.scale = 0.5f, a.in_channels = 3;
    linear_layer l = {3, 2, W, b, NULL, NULL, &a};
    CHECK(linear_layer_scratch_floats(&l, 1) <= 64, "iA3 scratch");
    a.w[0] = w_out;
    linear_layer_forward(&l, y, x, 1, scratch);
    /* row 0: (1 − 4 + 1.5) · 1.25 + 0.25 = −1.625; row 1: (−1 − 1 + 1) · 0.5 − 0.5 = −1 */
    CHECK(fabsf(y[0] + 1.625f) < 1e-6f && fabsf(y[1] + 1.0f) < 1e-6f, "iA3 output rows: %g %g", y[0], y[1]);
    a.on_input = 1, a.w[0] = w_in;
    linear_layer_forward(&l, y, x, 1, scratch);
    /* columns scaled by 2, 1, 0.75: row 0: 2 − 4 + 1.125 + 0.25 = −0.625; row 1: −2 − 1 + 0.75 − 0.5 */
    CHECK(fabsf(y[0] + 0.625f) < 1e-6f && fabsf(y[1] + 2.75f) < 1e-6f, "iA3 input columns: %g %g", y[0], y[1]);
}

/* LyCORIS/iA3 on the tiny SD1 model: exactly the iA3 targets, on_input on the feed-forward
 * output layers with train_on_input, LyCORIS' keys (weight, on_input, no alpha), load back. */
static void ia3_network(const char *top)
{
    error_info err = {0};
    unet_model um;
    clip_model cm;
    if (tiny_sd1_build(top, &um, &cm, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    clip_model *tes[1] = {&cm};
    size_t want = 0;
    for (size_t i = 0; i < um.n_points; i++)
        want += network_ia3_target(um.points[i].name) != 0;
    int nt = clip_lora_targets(&cm, NULL, 0);
    clip_lora_target *t = calloc((size_t)nt, sizeof *t);
    clip_lora_targets(&cm, t, nt);
    for (int i = 0; i < nt; i++)
        want += network_ia3_target(t[i].name) != 0;
    free(t);
    network_options o;
    network_options_init(&o);
    CHECK(network_options_set_module(&o, "lycoris.kohya", "ia3", &err) == 0 && o.algo == LORA_KIND_IA3, "ia3");
    o.ia3_train_on_input = 1;
    o.preset = "full";
    lora_network n;
    if (network_create(&n, &o, &um, tes, 1, &err) != 0) {
        CHECK(0, "iA3: %s", err.message);
        clip_free(&cm);
        unet_free(&um);
        return;
    }
    CHECK(n.n_mods == want && want > 0, "iA3: %zu modules, want %zu", n.n_mods, want);
    size_t ffn = 0;
    for (size_t i = 0; i < n.n_mods; i++) {
        const network_module *m = &n.mods[i];
        int ff = network_ia3_target(m->name) == 2;
        ffn += ff;
        CHECK(m->adapter.on_input == ff && m->w_size[0] == (size_t)(ff ? m->in : m->out),
              "%s: on_input %d, %zu scales", m->name, m->adapter.on_input, m->w_size[0]);
    }
    CHECK(ffn > 0 && ffn < n.n_mods, "iA3: %zu feed-forward modules of %zu", ffn, n.n_mods);
    uint64_t st = 3;
    gc_fill_uniform(n.params, n.n_params, &st, -1.0f, 1.0f);
    char tmp[] = "/tmp/test_network_ia3_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0)
        close(fd);
    safetensors_file *f;
    if (network_save(&n, tmp, DTYPE_F16, NULL, &err) == 0 && safetensors_open(tmp, &f, &err) == 0) {
        CHECK(safetensors_count(f) == 2 * n.n_mods, "iA3 file: %zu tensors for %zu modules",
              safetensors_count(f), n.n_mods);
        char key[200];
        snprintf(key, sizeof key, "lora_te_text_model_encoder_layers_0_mlp_fc2.on_input");
        const safetensors_tensor *on = safetensors_find(f, key);
        float v = 0.0f;
        CHECK(on && on->ndim == 0 && safetensors_read_f32(on, &v, &err) == 0 && v == 1.0f, "%s = 1", key);
        snprintf(key, sizeof key, "lora_te_text_model_encoder_layers_0_self_attn_k_proj.weight");
        const safetensors_tensor *w = safetensors_find(f, key);
        CHECK(w && w->ndim == 1 && w->dtype == DTYPE_F16, "%s: a 1-D fp16 vector", key);
        snprintf(key, sizeof key, "lora_te_text_model_encoder_layers_0_self_attn_k_proj.alpha");
        CHECK(!safetensors_find(f, key), "iA3 has no alpha");
        safetensors_close(f);
        lora_network n2;
        if (network_create(&n2, &o, &um, tes, 1, &err) == 0) {
            CHECK(network_load_weights(&n2, tmp, &err) == 0, "iA3 load: %s", err.message);
            double worst = 0.0;
            for (size_t j = 0; j < n.n_params; j++)
                worst = fmax(worst, fabs((double)n2.params[j] - n.params[j]));
            CHECK(worst < 1e-3, "iA3 fp16 round trip off by %g", worst);
            network_free(&n2);
        }
    } else
        CHECK(0, "iA3 save: %s", err.message);
    remove(tmp);
    printf("iA3: %zu modules (%zu on their input)\n", n.n_mods, ffn);
    network_free(&n);
    clip_free(&cm);
    unet_free(&um);
}

/* ---- network level: LyCORIS' module sets, keys and shapes (tests/fixtures/lycoris-network),
 * init statistics, the save → load round trip, block dims ---- */

static void options_from_case(network_options *o, json_t *c)
{
    network_options_init(o);
    error_info err = {0};
    network_options_set_module(o, "lycoris.kohya", json_string_value(json_object_get(c, "algo")), &err);
    o->preset = json_string_value(json_object_get(c, "preset"));
    o->dim = (int)json_integer_value(json_object_get(c, "dim"));
    o->alpha = (float)json_number_value(json_object_get(c, "alpha"));
    o->conv_dim = (int)json_integer_value(json_object_get(c, "conv_dim"));   /* 0 when absent */
    o->conv_alpha = json_object_get(c, "conv_alpha") ? (float)json_number_value(json_object_get(c, "conv_alpha")) : 0.0f;
    o->factor = json_object_get(c, "factor") ? (int)json_integer_value(json_object_get(c, "factor")) : -1;
    o->decompose_both = json_is_true(json_object_get(c, "decompose_both"));
    o->constraint = (float)json_number_value(json_object_get(c, "constraint"));   /* 0 when absent */
    o->rescaled = json_is_true(json_object_get(c, "rescaled"));
    o->train_te = !json_is_true(json_object_get(c, "unet_only"));
    o->dora_wd = json_is_true(json_object_get(c, "dora_wd"));
    o->train_norm = json_is_true(json_object_get(c, "train_norm"));
    /* use_tucker and its aliases as sd-scripts passes them (strings), read by LyCORIS' rule */
    const char *keys[8], *values[8];
    size_t na = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(c, "args"), k, v) {
        if (na < 8)
            keys[na] = k, values[na++] = json_string_value(v);
    }
    o->use_tucker = network_lycoris_use_tucker(keys, values, na);
    o->seed = 11;
}

static void init_stats(const lora_network *n, const char *cname)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        const float *p = n->params;
        if (m->dora) {   /* DoRA's scale starts at the norms of the layer's rows */
            size_t cols = (size_t)m->in * m->kernel * m->kernel;
            double worst = 0.0;
            for (int o = 0; o < m->out; o++) {
                double s2 = 0.0;
                for (size_t j = 0; j < cols; j++)
                    s2 += (double)m->base_weight[(size_t)o * cols + j] * m->base_weight[(size_t)o * cols + j];
                worst = fmax(worst, fabs(p[m->dora_off + (size_t)o] - sqrt(s2)) / fmax(sqrt(s2), 1e-12));
            }
            CHECK(worst < 1e-6, "%s %s: dora_scale is not the rows' norms (off by %g)", cname, m->name, worst);
        }
        if (m->adapter.kind == LORA_KIND_LOHA) {
            double s[4] = {0}, s2[4] = {0};
            for (int k = 0; k < 4; k++)
                for (size_t j = 0; j < m->w_size[k]; j++)
                    s[k] += p[m->w_off[k] + j], s2[k] += (double)p[m->w_off[k] + j] * p[m->w_off[k] + j];
            CHECK(s2[2] == 0.0, "%s %s: hada_w2_a not zero", cname, m->name);
            for (int k = 4; k < LORA_MAX_FACTORS; k++)   /* Tucker's t1, t2: N(0, 0.1) */
                for (size_t j = 0; j < m->w_size[k]; j++)
                    CHECK(fabsf(p[m->w_off[k] + j]) < 0.7f && p[m->w_off[k] + j] != 0.0f,
                          "%s %s: hada_t%d not N(0, 0.1)", cname, m->name, k - 3);
            if (i == 0 && !m->tucker) {   /* a large module: the std is close */
                double sd1 = sqrt(s2[1] / m->w_size[1]), sd0 = sqrt(s2[0] / m->w_size[0]);
                printf("%s: hada_w1_b std %.3f (1), hada_w1_a std %.3f (0.1)\n", cname, sd1, sd0);
                CHECK(fabs(sd1 - 1.0) < 0.15 && fabs(sd0 - 0.1) < 0.03, "%s: LoHa init std", cname);
            }
        } else if (m->adapter.kind == LORA_KIND_LOKR) {
            const lora_adapter *a = &m->adapter;
            size_t z = a->w2_rank ? 3 : 2;
            for (size_t j = 0; j < m->w_size[z]; j++)
                CHECK(p[m->w_off[z] + j] == 0.0f, "%s %s: lokr_w2(_b) not zero", cname, m->name);
            float bound = 1.0f / sqrtf((float)(a->w1_rank ? a->w1_rank : a->kc));
            for (size_t j = 0; j < m->w_size[0]; j++)
                CHECK(fabsf(p[m->w_off[0] + j]) <= bound, "%s %s: lokr_w1 beyond ±1/√fan_in", cname, m->name);
            if (!a->w1_rank && !a->w2_rank)
                CHECK(m->alpha == (float)m->rank, "%s %s: full w1 and w2 force alpha = dim", cname, m->name);
            if (a->tucker) {   /* lokr_t2 [r, r, k, k] fan_in r·k·k, lokr_w2_a [r, b] fan_in b */
                float bt = 1.0f / sqrtf((float)(m->rank * m->kernel * m->kernel)), ba = 1.0f / sqrtf((float)a->kb);
                double s2 = 0.0;
                for (size_t j = 0; j < m->w_size[4]; j++) {
                    CHECK(fabsf(p[m->w_off[4] + j]) <= bt, "%s %s: lokr_t2 beyond ±1/√fan_in", cname, m->name);
                    s2 += (double)p[m->w_off[4] + j] * p[m->w_off[4] + j];
                }
                for (size_t j = 0; j < m->w_size[2]; j++)
                    CHECK(fabsf(p[m->w_off[2] + j]) <= ba, "%s %s: lokr_w2_a beyond ±1/√b", cname, m->name);
                CHECK(s2 > 0.0, "%s %s: lokr_t2 all zero", cname, m->name);
            }
        } else if (m->adapter.kind == LORA_KIND_LORA && m->tucker) {
            /* LyCORIS' Tucker LoCon: down [r, in, 1, 1] and mid [r, r, k, k] Kaiming-uniform,
             * up zero */
            float bd = 1.0f / sqrtf((float)m->in), bm = 1.0f / sqrtf((float)(m->rank * m->kernel * m->kernel));
            double s2 = 0.0;
            for (size_t j = 0; j < m->w_size[0]; j++)
                CHECK(fabsf(p[m->w_off[0] + j]) <= bd, "%s %s: lora_down beyond ±1/√in", cname, m->name);
            for (size_t j = 0; j < m->w_size[1]; j++)
                CHECK(p[m->w_off[1] + j] == 0.0f, "%s %s: lora_up not zero", cname, m->name);
            for (size_t j = 0; j < m->w_size[2]; j++) {
                CHECK(fabsf(p[m->w_off[2] + j]) <= bm, "%s %s: lora_mid beyond ±1/√(r·k·k)", cname, m->name);
                s2 += (double)p[m->w_off[2] + j] * p[m->w_off[2] + j];
            }
            CHECK(s2 > 0.0, "%s %s: lora_mid all zero", cname, m->name);
        } else if (m->adapter.kind == LORA_KIND_GLORA) {
            /* a1, b1 kaiming-uniform (fan_in = rank), a2, b2 zero */
            float bound = 1.0f / sqrtf((float)m->rank);
            double s2 = 0.0;
            for (int k = 0; k < 4; k++)
                for (size_t j = 0; j < m->w_size[k]; j++) {
                    float v = p[m->w_off[k] + j];
                    if (k % 2)
                        CHECK(v == 0.0f, "%s %s: GLoRA a2 / b2 not zero", cname, m->name);
                    else
                        CHECK(fabsf(v) <= bound, "%s %s: GLoRA a1 / b1 beyond ±1/√rank", cname, m->name);
                    s2 += k % 2 ? 0.0 : (double)v * v;
                }
            CHECK(s2 > 0.0, "%s %s: GLoRA a1 / b1 all zero", cname, m->name);
        } else if (m->adapter.kind == LORA_KIND_FULL) {
            /* full trains the layer's weight and bias, starting from them */
            CHECK(!memcmp(p + m->w_off[0], m->base_weight, m->w_size[0] * sizeof *p) &&
                      (!m->w_size[1] || !memcmp(p + m->w_off[1], m->base_bias, m->w_size[1] * sizeof *p)),
                  "%s %s: full does not start at the layer's weight and bias", cname, m->name);
        } else if (m->adapter.kind != LORA_KIND_LORA) {
            /* iA3, OFT blocks, w_norm / b_norm start at zero, OFT's rescale at one */
            int oft = m->adapter.kind == LORA_KIND_DIAG_OFT || m->adapter.kind == LORA_KIND_BOFT;
            for (int k = 0; k < 2; k++)
                for (size_t j = 0; j < m->w_size[k]; j++)
                    CHECK(p[m->w_off[k] + j] == (k == 1 && oft ? 1.0f : 0.0f),
                          "%s %s: factor %d not at its initial value", cname, m->name, k);
        }
    }
}

static void network_golden(const char *top)
{
    char path[4096];
    error_info err = {0};
    unet_model um;
    clip_model cm;
    if (tiny_sd1_build(top, &um, &cm, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    clip_model *tes[1] = {&cm};
    snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-network/expected.json", top);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root, "%s: %s", path, jerr.text);
    json_t *cases = root ? json_object_get(root, "cases") : NULL;
    char tmp[] = "/tmp/test_network_variants_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0)
        close(fd);
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *cname = json_string_value(json_object_get(c, "name"));
        network_options o;
        options_from_case(&o, c);
        lora_network n;
        if (network_create(&n, &o, &um, tes, 1, &err) != 0) {
            CHECK(0, "%s: %s", cname, err.message);
            continue;
        }
        init_stats(&n, cname);
        /* random factors, then save → the keys and shapes LyCORIS writes */
        uint64_t st = 5 + ci;
        gc_fill_uniform(n.params, n.n_params, &st, -1.0f, 1.0f);
        if (network_save(&n, tmp, DTYPE_F32, NULL, &err) != 0) {
            CHECK(0, "%s: %s", cname, err.message);
            network_free(&n);
            continue;
        }
        safetensors_file *f;
        json_t *keys = json_object_get(c, "keys"), *alphas = json_object_get(c, "alphas");
        size_t ours = 0;
        if (safetensors_open(tmp, &f, &err) == 0) {
            const char *k;
            json_t *shape;
            json_object_foreach(keys, k, shape) {
                const safetensors_tensor *t = safetensors_find(f, k);
                CHECK(t, "%s: LyCORIS key %s missing", cname, k);
                if (!t)
                    continue;
                ours++;
                int same = (size_t)t->ndim == json_array_size(shape);
                for (size_t d = 0; same && d < json_array_size(shape); d++)
                    same = (long long)t->shape[d] == json_integer_value(json_array_get(shape, d));
                CHECK(same, "%s: %s shape differs from LyCORIS'", cname, k);
                json_t *av = json_object_get(alphas, k);
                if (av) {
                    float a = 0.0f;
                    safetensors_read_f32(t, &a, &err);
                    CHECK(fabs(a - json_number_value(av)) < 1e-6, "%s: %s = %g, LyCORIS %g", cname, k, a,
                          json_number_value(av));
                }
            }
            CHECK(safetensors_count(f) == json_object_size(keys), "%s: %zu tensors, LyCORIS %zu", cname,
                  safetensors_count(f), json_object_size(keys));
            safetensors_close(f);
        } else
            CHECK(0, "%s: %s", cname, err.message);
        /* load into a fresh network: bit-exact (full's diff against the base: to rounding),
         * and from the state's copy bit-exact for every kind */
        lora_network n2;
        o.seed = 99;
        if (network_create(&n2, &o, &um, tes, 1, &err) == 0) {
            CHECK(network_load_weights(&n2, tmp, &err) == 0, "%s: %s", cname, err.message);
            double worst = 0.0;
            for (size_t j = 0; n2.n_params == n.n_params && j < n.n_params; j++)
                worst = fmax(worst, fabs((double)n2.params[j] - n.params[j]));
            int full = o.algo == LORA_KIND_FULL;
            CHECK(n2.n_params == n.n_params && (full ? worst < 1e-6 : worst == 0.0),
                  "%s: save → load off by %g", cname, worst);
            CHECK(network_save_state(&n, tmp, NULL, &err) == 0 && network_load_weights(&n2, tmp, &err) == 0 &&
                      !memcmp(n2.params, n.params, n.n_params * sizeof(float)),
                  "%s: state save → load not bit-exact: %s", cname, err.message);
            /* max-norm brings every module to ≤ 0.5 */
            double mean, mx;
            network_apply_max_norm(&n2, 0.5f, &mean, &mx);
            double mx2;
            network_apply_max_norm(&n2, 0.5f, &mean, &mx2);
            CHECK(mx <= 0.5 + 1e-4 && mx2 <= 0.5 + 1e-4, "%s: max norm %g after scaling", cname, mx2);
            network_free(&n2);
        } else
            CHECK(0, "%s: %s", cname, err.message);
        printf("%-22s %zu modules (%zu UNet), %zu keys as LyCORIS\n", cname, n.n_mods, n.n_unet, ours);
        network_free(&n);
    }
    remove(tmp);
    json_decref(root);

    /* refusals with a clear message */
    network_options o;
    network_options_init(&o);
    lora_network n;
    o.algo = LORA_KIND_LOHA;
    CHECK(network_create(&n, &o, &um, tes, 1, &err) != 0 && strstr(err.message, "SDXL only"),
          "networks.loha on SD1 refused: %s", err.message);
    network_options_init(&o);
    network_options_set_module(&o, "lycoris.kohya", "loha", &err);
    o.preset = "my.toml";
    CHECK(network_create(&n, &o, &um, tes, 1, &err) != 0 && strstr(err.message, "my.toml"), "toml preset");
    CHECK(network_options_set_module(&o, "lycoris.kohya", "vera", &err) != 0 &&
          strstr(err.message, "vera"), "an algo loratty does not have is refused: %s", err.message);
    CHECK(network_options_set_module(&o, "lycoris.kohya", "diag-oft", &err) == 0 &&
          o.algo == LORA_KIND_DIAG_OFT && !strcmp(network_algo_name(&o), "diag-oft"), "diag-oft");
    o.preset = "ia3";
    CHECK(network_create(&n, &o, &um, tes, 1, &err) != 0 && strstr(err.message, "is for LyCORIS/iA3"),
          "the ia3 preset: %s", err.message);
    CHECK(!strcmp(network_module_name(&o), "lycoris.kohya"), "module name");

    /* sd-scripts block dims: 25 values, 0 = no module; lr weight 0 → no module */
    network_options_init(&o);
    o.block_dims = "2,2,2,0,2,2,2,2,2,2,2,2,3,2,2,2,2,2,2,2,2,2,2,2,2";
    float blr[25];
    for (int i = 0; i < 25; i++)
        blr[i] = i == 13 ? 0.0f : 1.0f;
    o.block_lr = blr, o.n_block_lr = 25;
    if (network_create(&n, &o, &um, NULL, 0, &err) == 0) {
        size_t mid = 0;
        for (size_t i = 0; i < n.n_mods; i++) {
            int b = network_block_index(n.mods[i].name);
            CHECK(b != 3 && b != 13, "%s: block %d should have no module", n.mods[i].name, b);
            CHECK(n.mods[i].rank == (b == 12 ? 3 : 2), "%s: rank %d", n.mods[i].name, n.mods[i].rank);
            mid += b == 12;
        }
        CHECK(mid > 0, "mid block modules at rank 3");
        network_free(&n);
    } else
        CHECK(0, "block dims: %s", err.message);
    o.block_dims = "2,2,2";
    CHECK(network_create(&n, &o, &um, NULL, 0, &err) != 0 && strstr(err.message, "needs 25"),
          "a wrong block_dims count: %s", err.message);
    clip_free(&cm);
    unet_free(&um);
}

int main(void)
{
    /* LyCORIS' factorization() as lycoris-lora 3.2 computes it (its docstring says 12, 30 for
     * (360, 16); the code gives 15, 24) */
    int tbl[][4] = {{127, -1, 1, 127}, {128, -1, 8, 16}, {250, -1, 10, 25}, {360, 8, 8, 45},
                    {512, 4, 4, 128}, {1024, -1, 32, 32}, {1024, 16, 16, 64}, {360, 16, 15, 24},
                    {320, -1, 16, 20}, {1280, -1, 32, 40}, {640, 4, 4, 160}};
    for (size_t i = 0; i < sizeof tbl / sizeof tbl[0]; i++) {
        int m, n;
        lokr_factorization(tbl[i][0], tbl[i][1], &m, &n);
        CHECK(m == tbl[i][2] && n == tbl[i][3], "factorization(%d, %d) = %d, %d", tbl[i][0], tbl[i][1], m, n);
    }

    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-layers/config.json", top ? top : ".");
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
        snprintf(path, sizeof path, "%s/tests/fixtures/lycoris-layers/%s.safetensors", top ? top : ".", files[i]);
        if (safetensors_open(path, fs[i], &err) != 0) {
            fprintf(stderr, "FAIL: %s\n", err.message);
            return 1;
        }
    }
    json_t *cases = json_object_get(cfg, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++)
        run_case(json_array_get(cases, i), in, outs, gr);
    safetensors_close(in), safetensors_close(outs), safetensors_close(gr);
    json_decref(cfg);

    for (int conv = 0; conv < 2; conv++) {
        delta_check(conv, LORA_KIND_LORA, 0.3f, 0.0f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LORA, 0.0f, 0.4f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LORA, 0.25f, 0.4f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LORA, 0.0f, 0.0f, 1, 0, 0, 0);
        delta_check(conv, LORA_KIND_LOHA, 0.0f, 0.4f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LOKR, 0.0f, 0.4f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LOHA, 0.0f, 0.0f, 1, 0, 0, 0);
        delta_check(conv, LORA_KIND_IA3, 0.0f, 0.0f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_IA3, 0.0f, 0.0f, 0, 1, 0, 0);
        delta_check(conv, LORA_KIND_FULL, 0.0f, 0.0f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LORA, 0.0f, 0.4f, 0, 1, 0, 0);
        delta_check(conv, LORA_KIND_GLORA, 0.0f, 0.0f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_DIAG_OFT, 0.0f, 0.0f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_DIAG_OFT, 0.0f, 0.3f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_BOFT, 0.0f, 0.0f, 0, 0, 0, 0);
        delta_check(conv, LORA_KIND_LORA, 0.0f, 0.4f, 0, 1, 1, 0);   /* LyCORIS LoCon + DoRA */
        delta_check(conv, LORA_KIND_LOHA, 0.0f, 0.0f, 0, 0, 1, 0);
        delta_check(conv, LORA_KIND_LOKR, 0.0f, 0.4f, 0, 0, 1, 0);
        delta_check(conv, LORA_KIND_LORA, 0.0f, 0.4f, 0, 1, 0, 1);   /* LoCon + use_scalar */
        delta_check(conv, LORA_KIND_LOHA, 0.0f, 0.0f, 0, 0, 1, 1);   /* with DoRA too */
        delta_check(conv, LORA_KIND_LOKR, 0.0f, 0.4f, 0, 0, 0, 1);
    }
    groups_check(top ? top : ".");
    network_golden(top ? top : ".");
    ia3_values();
    ia3_network(top ? top : ".");
    locon_row_dropout();
    norm_check(top ? top : ".");
    scalar_roundtrip(top ? top : ".");
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
