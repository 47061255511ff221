/* test_clip_parity.c — the CLIP text encoder against transformers: for a fixture directory
 * written by tests/golden/make_clip_vae_fixtures.py, builds the model from its config.json,
 * loads its weights and LoRA adapters, and compares every hidden state, the final-LN output,
 * the clip_skip 2 output, the pooled vector (and text_embeds), then the gradients of
 * L = Σ out·proj w.r.t. every LoRA down/up and the embedding output.
 * SD1-style fixtures take the loss on the clip_skip 2 output; fixtures with a projection
 * (SDXL TE2) on hidden_states[-2] without LN plus text_embeds·proj_pooled.
 * Usage: test_clip_parity [DIR]; without DIR it runs every tests/fixtures/clip-* directory.
 * Tolerances: forward 1e-4, gradients 1e-3, relative to the reference's max |value|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixture_dirs.h"

#include "engine/models/clip.h"
#include "engine/safetensors.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3

static int failures;

static const float *tensor_f32(safetensors_file *f, const char *name, size_t numel)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t || t->dtype != DTYPE_F32 || (numel && t->nelements != numel)) {
        printf("FAIL  %s: missing, not f32 or not %zu elements\n", name, numel);
        failures++;
        return NULL;
    }
    return t->data;
}

static void compare(const char *what, const float *got, const float *ref, size_t n, double tol)
{
    if (!got || !ref)
        return;
    double maxref = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        float r;
        memcpy(&r, ref + i, sizeof r);   /* mapped file data need not be aligned */
        maxref = fmax(maxref, fabs(r));
        maxerr = fmax(maxerr, fabs((double)got[i] - r));
    }
    double rel = maxref > 0 ? maxerr / maxref : maxerr;
    int ok = rel <= tol && !isnan(maxerr);
    if (!ok)
        failures++;
    printf("%s  %-64s max err %.3g (rel %.3g, ref max %.3g)\n", ok ? "ok  " : "FAIL", what, maxerr, rel, maxref);
}

typedef struct adapter_set {
    int n;
    lora_adapter *a;
    clip_lora_target *t;
} adapter_set;

static int attach_loras(clip_model *m, safetensors_file *in, adapter_set *s)
{
    s->n = clip_lora_targets(m, NULL, 0);
    s->t = calloc((size_t)s->n, sizeof *s->t);
    s->a = calloc((size_t)s->n, sizeof *s->a);
    clip_lora_targets(m, s->t, s->n);
    for (int i = 0; i < s->n; i++) {
        char name[192];
        linear_layer *l = s->t[i].layer;
        snprintf(name, sizeof name, "%s.lora_down.weight", s->t[i].name);
        const safetensors_tensor *down = safetensors_find(in, name);
        snprintf(name, sizeof name, "%s.lora_up.weight", s->t[i].name);
        const safetensors_tensor *up = safetensors_find(in, name);
        snprintf(name, sizeof name, "%s.alpha", s->t[i].name);
        const safetensors_tensor *alpha = safetensors_find(in, name);
        if (!down || !up || !alpha || down->ndim != 2 || down->shape[1] != l->in) {
            printf("FAIL  adapter %s missing or misshaped\n", s->t[i].name);
            return -1;
        }
        lora_adapter *a = &s->a[i];
        a->rank = (int)down->shape[0];
        float al;
        memcpy(&al, alpha->data, sizeof al);
        a->scale = al / (float)a->rank;
        size_t nd = (size_t)a->rank * l->in, nu = (size_t)l->out * a->rank;
        a->down = malloc(nd * sizeof(float));
        a->up = malloc(nu * sizeof(float));
        a->ddown = calloc(nd, sizeof(float));
        a->dup = calloc(nu, sizeof(float));
        memcpy(a->down, down->data, nd * sizeof(float));
        memcpy(a->up, up->data, nu * sizeof(float));
        l->lora = a;
    }
    return 0;
}

static void free_loras(adapter_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->a[i].down);
        free(s->a[i].up);
        free(s->a[i].ddown);
        free(s->a[i].dup);
    }
    free(s->a);
    free(s->t);
}

static int run_fixture(const char *dir)
{
    char path[1024];
    error_info err = {0};
    clip_config cfg;
    printf("== %s\n", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (clip_config_from_json(&cfg, path, &err)) {
        printf("FAIL  config: %s\n", err.message);
        return -1;
    }
    weight_store *ws = weights_new();
    safetensors_file *in = NULL, *out = NULL, *gr = NULL;
    clip_model m;
    adapter_set loras = {0};
    float *dembed = NULL;
    int rc = -1;
    if (clip_create(&m, &cfg, "lora_te", &err))
        goto done_early;
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    if (weights_add_file(ws, path, NULL, NULL, &err) || clip_load(&m, ws, &err))
        goto done;
    for (size_t i = 0; i < weights_count(ws); i++)
        if (!weights_used_at(ws, i)) {
            printf("FAIL  weight %s not used\n", weights_name_at(ws, i));
            failures++;
        }
    const char *files[3] = {"inputs", "outputs", "grads"};
    safetensors_file **fs[3] = {&in, &out, &gr};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, files[i]);
        if (safetensors_open(path, fs[i], &err))
            goto done;
    }
    const safetensors_tensor *ids_t = safetensors_find(in, "input_ids");
    if (!ids_t || ids_t->dtype != DTYPE_I32 || ids_t->ndim != 2) {
        printf("FAIL  input_ids missing\n");
        goto done;
    }
    int B = (int)ids_t->shape[0], T = (int)ids_t->shape[1], C = cfg.hidden_size, L = cfg.num_layers;
    int32_t *ids = malloc((size_t)B * T * sizeof *ids);
    memcpy(ids, ids_t->data, (size_t)B * T * sizeof *ids);
    size_t nC = (size_t)B * T * C;
    if (attach_loras(&m, in, &loras) || clip_plan(&m, B, T, &err)) {
        free(ids);
        goto done;
    }
    printf("CLIP %d layers, hidden %d, %s, projection %d, %d adapters, batch %dx%d\n", L, C,
           cfg.act == CLIP_ACT_GELU ? "gelu" : "quick_gelu", cfg.projection_dim, loras.n, B, T);

    /* every hidden state, final LN, pooled */
    clip_select all = {-1, 1, 1};
    if (clip_forward(&m, ids, B, T, &all, &err)) {
        free(ids);
        goto done;
    }
    for (int i = 0; i <= L; i++) {
        char name[64];
        snprintf(name, sizeof name, "hidden_states.%d", i);
        compare(name, arena_get(&m.acts, m.ids_res[i]), tensor_f32(out, name, nC), nC, FWD_TOL);
    }
    compare("last_hidden_state", m.out, tensor_f32(out, "last_hidden_state", nC), nC, FWD_TOL);
    compare("pooled", m.pooled, tensor_f32(out, "pooled", (size_t)B * C), (size_t)B * C, FWD_TOL);
    if (cfg.projection_dim)
        compare("text_embeds", m.text_embeds,
                tensor_f32(out, "text_embeds", (size_t)B * cfg.projection_dim),
                (size_t)B * cfg.projection_dim, FWD_TOL);

    /* the loss's output, then its gradients */
    clip_select sel = cfg.projection_dim ? (clip_select){-2, 0, 1} : (clip_select){-2, 1, 0};
    if (clip_forward(&m, ids, B, T, &sel, &err)) {
        free(ids);
        goto done;
    }
    char penult[64];
    snprintf(penult, sizeof penult, "hidden_states.%d", L - 1);
    compare(cfg.projection_dim ? "hidden_states[-2], no final LN (SDXL)" : "clip_skip_2", m.out,
            tensor_f32(out, cfg.projection_dim ? penult : "clip_skip_2", nC), nC, FWD_TOL);
    dembed = calloc(nC, sizeof(float));
    const float *proj = tensor_f32(in, "proj", nC);
    const float *proj_pooled = cfg.projection_dim
        ? tensor_f32(in, "proj_pooled", (size_t)B * cfg.projection_dim) : NULL;
    /* the mapped tensors may be unaligned: copy */
    float *p = malloc(nC * sizeof(float)), *pp = NULL;
    memcpy(p, proj, nC * sizeof(float));
    if (proj_pooled) {
        pp = malloc((size_t)B * cfg.projection_dim * sizeof(float));
        memcpy(pp, proj_pooled, (size_t)B * cfg.projection_dim * sizeof(float));
    }
    clip_backward(&m, p, NULL, pp, dembed);
    free(p);
    free(pp);
    compare("grad embeddings", dembed, tensor_f32(gr, "embeddings", nC), nC, GRAD_TOL);
    for (int i = 0; i < loras.n; i++) {
        char name[192];
        lora_adapter *a = &loras.a[i];
        linear_layer *l = loras.t[i].layer;
        snprintf(name, sizeof name, "%s.lora_down.weight", loras.t[i].name);
        compare(name, a->ddown, tensor_f32(gr, name, (size_t)a->rank * l->in), (size_t)a->rank * l->in, GRAD_TOL);
        snprintf(name, sizeof name, "%s.lora_up.weight", loras.t[i].name);
        compare(name, a->dup, tensor_f32(gr, name, (size_t)a->rank * l->out), (size_t)a->rank * l->out, GRAD_TOL);
    }
    free(ids);
    rc = 0;
done:
    clip_free(&m);
done_early:
    if (rc && err.message[0]) {
        printf("FAIL  %s %s\n", err.file, err.message);
    }
    if (rc)
        failures++;
    free(dembed);
    free_loras(&loras);
    safetensors_close(in);
    safetensors_close(out);
    safetensors_close(gr);
    weights_free(ws);
    return rc;
}

/* The real encoders' manifests against the parameter and tensor counts of transformers'
 * CLIPTextModel / CLIPTextModelWithProjection built from the same configs. */
static void check_real_configs(void)
{
    struct { const char *name; clip_config c; size_t floats; int tensors; } real[] = {
        {"SD1.5 ViT-L/14", clip_config_sd15_vit_l(), 123060480, 196},
        {"SD2.1 OpenCLIP ViT-H (23 layers)", clip_config_sd21_vit_h(), 340387840, 372},
        {"SDXL OpenCLIP bigG + projection", clip_config_sdxl_bigg(), 694659840, 517},
    };
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        size_t n = clip_param_floats(&real[i].c);
        int count = clip_param_count(&real[i].c);
        clip_param_info last;
        clip_param_at(&real[i].c, count - 1, &last);
        int ok = n == real[i].floats && count == real[i].tensors && last.offset + last.numel == n;
        failures += !ok;
        printf("%s  manifest %-34s %zu params in %d tensors (last %s)\n", ok ? "ok  " : "FAIL", real[i].name, n,
               count, last.name);
    }
}

int main(int argc, char **argv)
{
    check_real_configs();
    failures += fixture_dirs_run(argc, argv, "clip-", run_fixture);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
