/* test_unet_parity.c — the U-Net against diffusers: builds the model from a fixture's
 * config.json (any tiny SD1/SD2/SDXL config, no code change), loads its weights and the LoRA
 * adapters of inputs.safetensors by kohya name, and compares the forward output (≤ 1e-4 of
 * its max) and the gradients of L = Σ out·proj w.r.t. sample, context, SDXL's added
 * conditions and every LoRA down/up (≤ 1e-3 of each tensor's max) with the fixture made by
 * tests/golden/make_unet_fixtures.py. It runs twice, without and with gradient checkpointing,
 * and requires bit-identical gradients. Without arguments it checks the built-in configs of
 * the real models (tensor and injection point counts).
 *     tests/test_unet_parity [FIXTURE_DIR...]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/unet.h"


#include "tests/check.h"

static void report(const error_info *err)
{
    char buf[1600];
    error_format(err, buf, sizeof buf);
    fprintf(stderr, "error: %s\n", buf);
}

/* Loads a tensor of any shape as f32 (malloc'ed); *n gets its element count. */
static float *load(weight_store *ws, const char *name, size_t *n, int64_t shape[8], int *ndim)
{
    int64_t s[8];
    int64_t *sh = shape ? shape : s;
    int nd = weights_shape(ws, name, sh);
    if (nd < 0)
        return NULL;
    size_t count = 1;
    for (int i = 0; i < nd; i++)
        count *= (size_t)sh[i];
    float *p = malloc((count ? count : 1) * sizeof *p);
    error_info err = {0};
    if (!p || weights_load_f32(ws, name, p, nd, sh, &err)) {
        report(&err);
        free(p);
        return NULL;
    }
    if (n)
        *n = count;
    if (ndim)
        *ndim = nd;
    return p;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d > e ? d : e;
        m = fabs((double)b[i]) > m ? fabs((double)b[i]) : m;
    }
    return m > 0 ? e / m : e;
}

typedef struct adapter {
    lora_adapter a;
    size_t n_down, n_up;
    float *ref_ddown, *ref_dup;
} adapter;

typedef struct run_result {
    float *out, *dsample, *dctx, *dtext, *dtime;
    float **ddown, **dup;
} run_result;

static int parity(const char *dir)
{
    char path[1024];
    error_info err = {0};
    unet_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (unet_config_load(&cfg, path, &err)) {
        report(&err);
        return 1;
    }
    unet_model m;
    if (unet_build(&m, &cfg, &err)) {
        report(&err);
        return 1;
    }
    weight_store *ws = weights_new(), *in = weights_new(), *ref = weights_new(), *gr = weights_new();
    const char *files[4] = {"weights", "inputs", "outputs", "grads"};
    weight_store *stores[4] = {ws, in, ref, gr};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, files[i]);
        if (weights_add_file(stores[i], path, NULL, NULL, &err)) {
            report(&err);
            return 1;
        }
    }
    if (unet_load(&m, ws, &err)) {
        report(&err);
        return 1;
    }
    size_t unused = 0;
    for (size_t i = 0; i < weights_count(ws); i++)
        if (!weights_used_at(ws, i)) {
            fprintf(stderr, "unused weight %s\n", weights_name_at(ws, i));
            unused++;
        }
    CHECK(unused == 0 && m.n_manifest == weights_count(ws), "%zu manifest tensors, %zu in the file, %zu unused",
          m.n_manifest, weights_count(ws), unused);

    int64_t sh[8];
    size_t n_sample, n_ctx, n_proj, n_text = 0, n_time = 0;
    float *sample = load(in, "sample", &n_sample, sh, NULL);
    int B = (int)sh[0], H = (int)sh[2], W = (int)sh[3];
    float *ctx = load(in, "encoder_hidden_states", &n_ctx, sh, NULL);
    int T = (int)sh[1];
    float *timesteps = load(in, "timesteps", NULL, NULL, NULL);
    float *proj = load(in, "proj", &n_proj, NULL, NULL);
    float *ref_out = load(ref, "out", NULL, NULL, NULL);
    unet_added_cond added = {0};
    float *text = NULL, *time_ids = NULL;
    if (cfg.text_time) {
        text = load(in, "text_embeds", &n_text, NULL, NULL);
        time_ids = load(in, "time_ids", &n_time, NULL, NULL);
        added.text_embeds = text;
        added.time_ids = time_ids;
    }
    if (!sample || !ctx || !timesteps || !proj || !ref_out || (cfg.text_time && (!text || !time_ids))) {
        fprintf(stderr, "%s: missing input tensors\n", dir);
        return 1;
    }

    /* LoRA: every point with weights in the fixture, and every fixture module at a point */
    adapter *ads = calloc(m.n_points, sizeof *ads);
    size_t attached = 0, lora_modules = 0;
    for (size_t i = 0; i < weights_count(in); i++)
        if (strstr(weights_name_at(in, i), ".lora_down.weight"))
            lora_modules++;
    for (size_t i = 0; i < m.n_points; i++) {
        const unet_lora_point *p = &m.points[i];
        char name[160];
        snprintf(name, sizeof name, "%s.lora_down.weight", p->name);
        if (!weights_has(in, name))
            continue;
        adapter *ad = &ads[i];
        int64_t ds[8];
        ad->a.down = load(in, name, &ad->n_down, ds, NULL);
        ad->ref_ddown = load(gr, name, NULL, NULL, NULL);
        ad->a.rank = (int)ds[0];
        snprintf(name, sizeof name, "%s.lora_up.weight", p->name);
        ad->a.up = load(in, name, &ad->n_up, NULL, NULL);
        ad->ref_dup = load(gr, name, NULL, NULL, NULL);
        snprintf(name, sizeof name, "%s.alpha", p->name);
        float *alpha = load(in, name, NULL, NULL, NULL);
        CHECK(ad->a.down && ad->a.up && alpha && ad->ref_ddown && ad->ref_dup, "%s: incomplete", p->name);
        if (!ad->a.down || !ad->a.up || !alpha)
            return 1;
        ad->a.scale = *alpha / (float)ad->a.rank;
        free(alpha);
        ad->a.hidden = calloc(unet_lora_hidden_floats(&m, i, ad->a.rank, B, H, W, T), sizeof(float));
        ad->a.ddown = calloc(ad->n_down, sizeof(float));
        ad->a.dup = calloc(ad->n_up, sizeof(float));
        *p->lora = &ad->a;
        attached++;
    }
    CHECK(attached == lora_modules && attached == m.n_points, "%zu LoRA modules in the fixture, %zu attached, %zu points",
          lora_modules, attached, m.n_points);

    run_result res[2];
    for (int ck = 0; ck < 2; ck++) {
        unet_acts acts;
        if (unet_acts_init(&acts, &m, B, H, W, T, ck, &err)) {
            report(&err);
            return 1;
        }
        run_result *r = &res[ck];
        r->out = calloc(n_proj, sizeof(float));
        r->dsample = calloc(n_sample, sizeof(float));
        r->dctx = calloc(n_ctx, sizeof(float));
        r->dtext = calloc(n_text + 1, sizeof(float));
        r->dtime = calloc(n_time + 1, sizeof(float));
        r->ddown = calloc(m.n_points, sizeof(float *));
        r->dup = calloc(m.n_points, sizeof(float *));
        for (size_t i = 0; i < m.n_points; i++) {
            if (!ads[i].a.down)
                continue;
            memset(ads[i].a.ddown, 0, ads[i].n_down * sizeof(float));
            memset(ads[i].a.dup, 0, ads[i].n_up * sizeof(float));
        }
        if (unet_forward(&acts, r->out, sample, timesteps, ctx, cfg.text_time ? &added : NULL, &err) ||
            unet_backward(&acts, proj, r->dsample, r->dctx, r->dtext, r->dtime, &err)) {
            report(&err);
            return 1;
        }
        for (size_t i = 0; i < m.n_points; i++) {
            if (!ads[i].a.down)
                continue;
            r->ddown[i] = malloc(ads[i].n_down * sizeof(float));
            r->dup[i] = malloc(ads[i].n_up * sizeof(float));
            memcpy(r->ddown[i], ads[i].a.ddown, ads[i].n_down * sizeof(float));
            memcpy(r->dup[i], ads[i].a.dup, ads[i].n_up * sizeof(float));
        }
        if (ck)
            printf("%s: activations %.1f MB with checkpointing\n", dir, arena_total_bytes(&acts.arena) / 1e6);
        else
            printf("%s: activations %.1f MB\n", dir, arena_total_bytes(&acts.arena) / 1e6);
        unet_acts_free(&acts);
    }

    double e_out = rel_err(res[0].out, ref_out, n_proj);
    printf("%s: forward max rel err %.3g\n", dir, e_out);
    CHECK(e_out <= 1e-4, "%s: forward error %.3g", dir, e_out);
    struct { const char *name; float *got; size_t n; } g[4] = {
        {"sample", res[0].dsample, n_sample}, {"encoder_hidden_states", res[0].dctx, n_ctx},
        {"text_embeds", res[0].dtext, n_text}, {"time_ids", res[0].dtime, n_time}};
    for (int i = 0; i < 4; i++) {
        if (!g[i].n)
            continue;
        float *want = load(gr, g[i].name, NULL, NULL, NULL);
        CHECK(want, "no gradient %s in the fixture", g[i].name);
        if (!want)
            continue;
        double e = rel_err(g[i].got, want, g[i].n);
        printf("%s: d %s max rel err %.3g\n", dir, g[i].name, e);
        CHECK(e <= 1e-3, "%s: d %s error %.3g", dir, g[i].name, e);
        free(want);
    }
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < m.n_points; i++) {
        if (!ads[i].a.down)
            continue;
        double ed = rel_err(res[0].ddown[i], ads[i].ref_ddown, ads[i].n_down);
        double eu = rel_err(res[0].dup[i], ads[i].ref_dup, ads[i].n_up);
        CHECK(ed <= 1e-3 && eu <= 1e-3, "%s: d lora_down %.3g, d lora_up %.3g", m.points[i].name, ed, eu);
        if (ed > worst || eu > worst) {
            worst = ed > eu ? ed : eu;
            worst_name = m.points[i].name;
        }
        CHECK(!memcmp(res[0].ddown[i], res[1].ddown[i], ads[i].n_down * sizeof(float)) &&
              !memcmp(res[0].dup[i], res[1].dup[i], ads[i].n_up * sizeof(float)),
              "%s: checkpointing changed the LoRA gradients", m.points[i].name);
    }
    printf("%s: %zu LoRA modules, worst d lora rel err %.3g (%s)\n", dir, attached, worst, worst_name);
    CHECK(!memcmp(res[0].out, res[1].out, n_proj * sizeof(float)) &&
          !memcmp(res[0].dsample, res[1].dsample, n_sample * sizeof(float)) &&
          !memcmp(res[0].dctx, res[1].dctx, n_ctx * sizeof(float)),
          "%s: checkpointing changed the output or input gradients", dir);

    for (int ck = 0; ck < 2; ck++) {
        for (size_t i = 0; i < m.n_points; i++) {
            free(res[ck].ddown[i]);
            free(res[ck].dup[i]);
        }
        free(res[ck].ddown);
        free(res[ck].dup);
        free(res[ck].out);
        free(res[ck].dsample);
        free(res[ck].dctx);
        free(res[ck].dtext);
        free(res[ck].dtime);
    }
    for (size_t i = 0; i < m.n_points; i++) {
        free(ads[i].a.down);
        free(ads[i].a.up);
        free(ads[i].a.ddown);
        free(ads[i].a.dup);
        free(ads[i].a.hidden);
        free(ads[i].ref_ddown);
        free(ads[i].ref_dup);
    }
    free(ads);
    free(sample);
    free(ctx);
    free(timesteps);
    free(proj);
    free(ref_out);
    free(text);
    free(time_ids);
    for (int i = 0; i < 4; i++)
        weights_free(stores[i]);
    unet_free(&m);
    return 0;
}

/* The real models: tensor counts of their diffusers state dicts and sd-scripts' module counts. */
static void builtin(const char *what, void (*fill)(unet_config *), size_t tensors, size_t linear_points,
                    const char *some_point)
{
    unet_config c;
    fill(&c);
    unet_param_info *man = NULL;
    size_t n = 0;
    error_info err = {0};
    if (unet_param_manifest(&c, &man, &n, &err)) {
        report(&err);
        failures++;
        return;
    }
    size_t params = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 1;
        for (int d = 0; d < man[i].ndim; d++)
            k *= (size_t)man[i].shape[d];
        params += k;
    }
    unet_model m;
    if (unet_build_layout(&m, &c, &err)) {   /* 3.4 / 10 GB of parameters: not allocated */
        report(&err);
        failures++;
        free(man);
        return;
    }
    size_t transformer_points = 0;
    for (size_t i = 0; i < m.n_points; i++)
        transformer_points += !m.points[i].conv_block;
    printf("%s: %zu tensors, %zu parameters, %zu LoRA points (%zu without conv LoRA)\n", what, n,
           params, m.n_points, transformer_points);
    CHECK(n == tensors, "%s: %zu tensors, want %zu", what, n, tensors);
    CHECK(transformer_points == linear_points, "%s: %zu points, want %zu", what, transformer_points, linear_points);
    CHECK(unet_find_lora_point(&m, some_point), "%s: no point %s", what, some_point);
    CHECK(m.n_params == params, "%s: manifest and model disagree", what);
    unet_acts acts;   /* planning needs only the layout: a small latent plans in no time */
    CHECK(unet_acts_init(&acts, &m, 1, 8, 8, 77, 1, &err) == 0, "%s: plan: %s", what, err.message);
    unet_acts_free(&acts);
    free(man);
    unet_free(&m);
}

static void config_errors(void)
{
    unet_config c, want;
    error_info err = {0};
    /* the keys of stabilityai/stable-diffusion-xl-base-1.0 unet/config.json that matter */
    const char *sdxl = "{\"_class_name\": \"UNet2DConditionModel\", \"act_fn\": \"silu\", "
        "\"addition_embed_type\": \"text_time\", \"addition_embed_type_num_heads\": 64, "
        "\"addition_time_embed_dim\": 256, \"attention_head_dim\": [5, 10, 20], "
        "\"block_out_channels\": [320, 640, 1280], \"center_input_sample\": false, "
        "\"cross_attention_dim\": 2048, \"down_block_types\": [\"DownBlock2D\", "
        "\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"], \"downsample_padding\": 1, "
        "\"flip_sin_to_cos\": true, \"freq_shift\": 0, \"in_channels\": 4, \"layers_per_block\": 2, "
        "\"mid_block_scale_factor\": 1, \"norm_eps\": 1e-05, \"norm_num_groups\": 32, "
        "\"out_channels\": 4, \"projection_class_embeddings_input_dim\": 2816, "
        "\"sample_size\": 128, \"transformer_layers_per_block\": [1, 2, 10], "
        "\"up_block_types\": [\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"], "
        "\"upcast_attention\": null, \"use_linear_projection\": true}";
    CHECK(unet_config_from_json(&c, sdxl, &err) == 0, "SDXL config.json: %s", err.message);
    unet_config_sdxl_base(&want);
    CHECK(!memcmp(&c, &want, sizeof c), "SDXL config.json differs from unet_config_sdxl_base");
    CHECK(unet_config_from_json(&c, "{\"block_out_channels\": [32, 64], \"down_block_types\": "
                                "[\"DownBlock2D\", \"SimpleCrossAttnDownBlock2D\"], \"up_block_types\": "
                                "[\"UpBlock2D\", \"UpBlock2D\"]}", &err) < 0 &&
          strstr(err.message, "SimpleCrossAttnDownBlock2D") && !strcmp(err.key, "down_block_types"),
          "unsupported block type: %s", err.message);
    memset(&err, 0, sizeof err);
    CHECK(unet_config_from_json(&c, "{\"block_out_channels\": [32, 64], \"down_block_types\": "
                                "[\"DownBlock2D\", \"DownBlock2D\"], \"up_block_types\": "
                                "[\"UpBlock2D\", \"UpBlock2D\"], \"resnet_time_scale_shift\": \"scale_shift\"}", &err) < 0 &&
          !strcmp(err.key, "resnet_time_scale_shift"), "time scale shift: %s", err.message);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        builtin("SD1.5", unet_config_sd15, 686, 192,
                "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_2");
        builtin("SD2.1-768", unet_config_sd21_768, 686, 192,
                "lora_unet_mid_block_attentions_0_proj_in");
        builtin("SDXL base", unet_config_sdxl_base, 1680, 722,
                "lora_unet_output_blocks_0_1_transformer_blocks_9_attn2_to_k");
        config_errors();
    }
    for (int i = 1; i < argc; i++)
        if (parity(argv[i]))
            failures++;
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
