/* test_param_grads.c — full-parameter gradients of the U-Net and the CLIP text encoder
 * (unet_set_param_grads, clip_set_param_grads) against central finite differences.
 *
 * Tiny random models built in code: an SD1-style U-Net (1x1 conv proj_in/out, no added
 * conditioning) and an SD2/SDXL-style one (Linear proj_in/out, two-deep transformers, SDXL's
 * text_time add-embedding); a CLIP encoder with text_projection and GELU and one without,
 * QuickGELU and an eos id. Loss = Σ output · fixed random tensor, so dL/doutput is that
 * tensor. For EVERY manifest tensor, 3 random elements are checked against central
 * differences with gradcheck's tolerance |a − n| ≤ 1e-3 + 1e-2·max(|a|, |n|).
 *
 * Tolerance: a deep net of norms and attention is far more curved than one kernel. With plain
 * central differences at gradcheck's h = 1e-2 the h² truncation term alone reached 2× the
 * tolerance on some elements (a conv bias of an 8-channel variant: −5.79 numeric vs −5.675,
 * the error shrinking 4× per halving of h), and a smaller h runs into the f32 forward's
 * roundoff (1e-3: 1.5×). So the numeric value is Richardson-extrapolated, (4·D(h) − D(2h)) / 3, which cancels the h² term;
 * with 16/32 channels (norm groups of 4 channels) the worst element of 8 seeds used 0.34–0.47
 * of its tolerance, the rest roundoff (it doubles at h = 5e-3). Run with -v to see every
 * element, -h to try another step. A 5 % error in a gradient is shown to fail.
 *
 * Also: gradient checkpointing gives bit-identical gradients; every tensor gets a non-zero
 * gradient; a second backward accumulates (2×); parameters that cannot influence the loss
 * (a conv_out channel the loss ignores, token rows not in the ids, positions past T, the
 * layers above a clip-skip output) get exactly 0; and the LoRA adapters' gradients and the
 * input gradients are bit-identical with the base frozen (never enabled, or enabled then
 * cleared) and trained. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/clip.h"
#include "engine/models/unet.h"
#include "tests/check.h"
#include "tests/gradcheck.h"

#define SAMPLES 3   /* elements checked per tensor */

static int verbose;
static double step = 1e-2;   /* -h: another finite-difference step, to study the tolerance */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Weights U(±√(3/fan_in)) (unit variance through a layer), norm scales 1 ± 0.3, biases ±0.2. */
static void init_tensor(float *p, const char *name, int ndim, const int64_t *shape, size_t n, uint64_t *rng)
{
    if (ndim == 1 && strstr(name, "norm") && ends_with(name, ".weight")) {
        gc_fill_uniform(p, n, rng, 0.7f, 1.3f);
    } else if (ndim == 1) {
        gc_fill_uniform(p, n, rng, -0.2f, 0.2f);
    } else {
        size_t fan_in = n / (size_t)shape[0];
        float a = sqrtf(3.0f / (float)fan_in);
        gc_fill_uniform(p, n, rng, -a, a);
    }
}

/* Finite-difference results of the whole run, for the summary lines. */
static struct {
    size_t checked;
    double worst;   /* largest |analytic − numeric| / tolerance */
    char worst_name[160];
} fd;

/* dL/dx by central differences at steps 2h and h, Richardson-extrapolated: (4·D(h) − D(2h)) / 3
 * cancels the h² term of the truncation error. */
static double fd_derivative(gc_loss_fn f, void *ctx, float *x, double h)
{
    float saved = *x;
    double d[2];
    for (int k = 0; k < 2; k++) {
        float xp = saved + (float)(k ? h : 2 * h), xm = saved - (float)(k ? h : 2 * h);
        *x = xp;
        double lp = f(ctx);
        *x = xm;
        double lm = f(ctx);
        d[k] = (lp - lm) / ((double)xp - (double)xm);   /* the steps as represented */
    }
    *x = saved;
    return (4.0 * d[1] - d[0]) / 3.0;
}

/* |analytic − numeric| in units of gradcheck's tolerance (> 1: mismatch; NaN counts as one). */
static double fd_error(double ana, double num)
{
    gc_opts o = gc_default_opts();
    double err = fabs(ana - num) / (o.atol + o.rtol * fmax(fabs(ana), fabs(num)));
    return isnan(err) ? INFINITY : err;
}

/* Checks g[i] against fd_derivative for `count` random elements i of [lo, hi) (all when
 * fewer). Returns the failures. */
static size_t check_elements(const char *name, gc_loss_fn f, void *ctx, float *x, const float *g, size_t lo,
                             size_t hi, int count, uint64_t *rng)
{
    size_t bad = 0, span = hi - lo;
    for (size_t s = 0; s < (size_t)count && s < span; s++) {
        size_t i = span <= (size_t)count ? lo + s : lo + (size_t)(next_u64(rng) % span);
        double num = fd_derivative(f, ctx, x + i, step), ana = g[i], err = fd_error(ana, num);
        if (!(err <= 1.0))
            bad++;
        if (err > fd.worst) {
            fd.worst = err;
            snprintf(fd.worst_name, sizeof fd.worst_name, "%s[%zu]", name, i);
        }
        fd.checked++;
        if (verbose || !(err <= 1.0))
            fprintf(err <= 1.0 ? stdout : stderr, "  %s[%zu] %s analytic %.6g numeric %.6g (%.2f of tol)\n",
                    name, i, err <= 1.0 ? "ok" : "FAIL", ana, num, err);
    }
    return bad;
}

static int all_zero(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0.0f)
            return 0;
    return 1;
}

/* Accumulation: b (two backwards) ≈ 2·a (one). */
static int doubled(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fabsf(b[i] - 2.0f * a[i]) > 1e-5f * (1.0f + fabsf(a[i])))
            return 0;
    return 1;
}

/* ---- U-Net ---- */

typedef struct unet_case {
    const char *what;
    unet_model m;
    unet_acts acts;
    int B, H, W, T;
    float *sample, *tsteps, *ctx, *text, *time_ids;
    float *out, *proj;
    size_t n_out, n_sample, n_ctx, n_text;
} unet_case;

static double unet_loss(void *p)
{
    unet_case *u = p;
    unet_added_cond ac = {u->text, u->time_ids};
    error_info err = {0};
    if (unet_forward(&u->acts, u->out, u->sample, u->tsteps, u->ctx, u->m.config.text_time ? &ac : NULL, &err))
        return NAN;
    return gc_dot(u->out, u->proj, u->n_out);
}

/* Forward, then backward of the loss into the set gradients (+ dsample, dctx when given). */
static void unet_fwd_bwd(unet_case *u, float *dsample, float *dctx)
{
    error_info err = {0};
    double l = unet_loss(u);
    CHECK(isfinite(l), "%s: forward failed", u->what);
    CHECK(unet_backward(&u->acts, u->proj, dsample, dctx, NULL, NULL, &err) == 0, "%s: backward", u->what);
}

static int unet_case_init(unet_case *u, const char *what, const unet_config *c, uint64_t seed)
{
    error_info err = {0};
    memset(u, 0, sizeof *u);
    u->what = what;
    u->B = 2, u->H = 4, u->W = 4, u->T = 3;
    if (unet_build(&u->m, c, &err)) {
        CHECK(0, "%s: build: %s", what, err.message);
        return -1;
    }
    uint64_t rng = seed;
    for (size_t i = 0; i < u->m.n_manifest; i++) {
        const unet_param_info *p = &u->m.manifest[i];
        size_t n = 1;
        for (int d = 0; d < p->ndim; d++)
            n *= (size_t)p->shape[d];
        init_tensor(u->m.params + p->offset, p->name, p->ndim, p->shape, n, &rng);
    }
    u->n_sample = (size_t)u->B * c->in_channels * u->H * u->W;
    u->n_out = (size_t)u->B * c->out_channels * u->H * u->W;
    u->n_ctx = (size_t)u->B * u->T * c->cross_attention_dim;
    u->n_text = (size_t)u->B * (c->text_time ? unet_config_text_embed_dim(c) : 1);
    u->sample = gc_zalloc(u->n_sample);
    u->ctx = gc_zalloc(u->n_ctx);
    u->text = gc_zalloc(u->n_text);
    u->time_ids = gc_zalloc((size_t)u->B * 6);
    u->out = gc_zalloc(u->n_out);
    u->proj = gc_zalloc(u->n_out);
    u->tsteps = gc_zalloc((size_t)u->B);
    gc_fill_uniform(u->sample, u->n_sample, &rng, -1, 1);
    gc_fill_uniform(u->ctx, u->n_ctx, &rng, -1, 1);
    gc_fill_uniform(u->text, u->n_text, &rng, -1, 1);
    gc_fill_uniform(u->proj, u->n_out, &rng, -1, 1);
    static const float ts[2] = {37.0f, 611.0f}, ids[6] = {64, 48, 0, 8, 64, 64};
    for (int b = 0; b < u->B; b++) {
        u->tsteps[b] = ts[b % 2];
        for (int k = 0; k < 6; k++)
            u->time_ids[b * 6 + k] = ids[k] + (float)b;
    }
    return 0;
}

static void unet_case_free(unet_case *u)
{
    unet_acts_free(&u->acts);
    unet_free(&u->m);
    free(u->sample), free(u->tsteps), free(u->ctx), free(u->text), free(u->time_ids);
    free(u->out), free(u->proj);
}

static int unet_plan(unet_case *u, int checkpointing)
{
    error_info err = {0};
    unet_acts_free(&u->acts);
    int rc = unet_acts_init(&u->acts, &u->m, u->B, u->H, u->W, u->T, checkpointing, &err);
    CHECK(rc == 0, "%s: plan: %s", u->what, err.message);
    return rc;
}

/* The LoRA adapters' gradients and the input gradients stay bit-identical whether the base
 * is frozen (never enabled, or cleared again) or trained. */
static void unet_lora_identity(unet_case *u)
{
    size_t np = u->m.n_points;
    lora_adapter *ad = calloc(np, sizeof *ad);
    float **snap = calloc(np, sizeof *snap);
    size_t *nd = calloc(np, sizeof *nd), *nu = calloc(np, sizeof *nu);
    uint64_t rng = 99;
    for (size_t i = 0; i < np; i++) {
        const unet_lora_point *p = &u->m.points[i];
        lora_adapter *a = &ad[i];
        a->rank = 2;
        a->scale = 0.5f;
        nd[i] = (size_t)a->rank * p->in * p->kernel * p->kernel;
        nu[i] = (size_t)p->out * a->rank;
        a->down = gc_zalloc(nd[i]), a->up = gc_zalloc(nu[i]);
        a->ddown = gc_zalloc(nd[i]), a->dup = gc_zalloc(nu[i]);
        a->hidden = gc_zalloc(unet_lora_hidden_floats(&u->m, i, a->rank, u->B, u->H, u->W, u->T));
        gc_fill_uniform(a->down, nd[i], &rng, -0.3f, 0.3f);
        gc_fill_uniform(a->up, nu[i], &rng, -0.3f, 0.3f);
        *p->lora = a;
        snap[i] = gc_zalloc(nd[i] + nu[i]);
    }
    float *grads = gc_zalloc(u->m.n_params), *grads_snap = gc_zalloc(u->m.n_params);
    float *ds[3], *dc[3];
    for (int r = 0; r < 3; r++)
        ds[r] = gc_zalloc(u->n_sample), dc[r] = gc_zalloc(u->n_ctx);
    if (unet_plan(u, 0) == 0) {
        for (int run = 0; run < 3; run++) {   /* frozen, trained, frozen again */
            unet_set_param_grads(&u->m, run == 1 ? grads : NULL);
            for (size_t i = 0; i < np; i++) {
                memset(ad[i].ddown, 0, nd[i] * sizeof(float));
                memset(ad[i].dup, 0, nu[i] * sizeof(float));
            }
            unet_fwd_bwd(u, ds[run], dc[run]);
            int same = 1;
            for (size_t i = 0; i < np; i++) {
                if (run == 0) {
                    memcpy(snap[i], ad[i].ddown, nd[i] * sizeof(float));
                    memcpy(snap[i] + nd[i], ad[i].dup, nu[i] * sizeof(float));
                } else {
                    same &= !memcmp(snap[i], ad[i].ddown, nd[i] * sizeof(float)) &&
                            !memcmp(snap[i] + nd[i], ad[i].dup, nu[i] * sizeof(float));
                }
            }
            if (run == 0) {
                CHECK(!all_zero(snap[0], nd[0] + nu[0]), "%s: LoRA gradient is zero", u->what);
                continue;
            }
            CHECK(same, "%s: LoRA gradients differ with the base %s", u->what, run == 1 ? "trained" : "frozen again");
            CHECK(!memcmp(ds[0], ds[run], u->n_sample * sizeof(float)) &&
                  !memcmp(dc[0], dc[run], u->n_ctx * sizeof(float)),
                  "%s: input gradients differ with the base %s", u->what, run == 1 ? "trained" : "frozen again");
            if (run == 1) {
                CHECK(!all_zero(grads, u->m.n_params), "%s: no base gradient beside LoRA", u->what);
                memcpy(grads_snap, grads, u->m.n_params * sizeof(float));
            } else {
                CHECK(!memcmp(grads, grads_snap, u->m.n_params * sizeof(float)),
                      "%s: a cleared gradient buffer was written", u->what);
            }
        }
    }
    unet_set_param_grads(&u->m, NULL);
    for (size_t i = 0; i < np; i++) {
        *u->m.points[i].lora = NULL;
        free(ad[i].down), free(ad[i].up), free(ad[i].ddown), free(ad[i].dup), free(ad[i].hidden);
        free(snap[i]);
    }
    for (int r = 0; r < 3; r++)
        free(ds[r]), free(dc[r]);
    free(grads), free(grads_snap), free(ad), free(snap), free(nd), free(nu);
}

static void test_unet(const char *what, const unet_config *c, uint64_t seed)
{
    unet_case u;
    if (unet_case_init(&u, what, c, seed))
        return;
    size_t n = u.m.n_params, bad = 0;
    float *g0 = gc_zalloc(n), *g1 = gc_zalloc(n), *g2 = gc_zalloc(n);
    CHECK(unet_set_param_grads(&u.m, g0) == 0, "%s: unet_set_param_grads refused", what);

    /* plain and checkpointed backward: the same bits */
    if (unet_plan(&u, 0) == 0)
        unet_fwd_bwd(&u, NULL, NULL);
    unet_set_param_grads(&u.m, g1);
    if (unet_plan(&u, 1) == 0)
        unet_fwd_bwd(&u, NULL, NULL);
    CHECK(!memcmp(g0, g1, n * sizeof(float)), "%s: gradients differ with gradient checkpointing", what);

    /* every tensor of the manifest: reached, and right at sampled elements */
    uint64_t rng = seed ^ 0x5eed;
    size_t unreached = 0;
    for (size_t i = 0; i < u.m.n_manifest; i++) {
        const unet_param_info *p = &u.m.manifest[i];
        size_t numel = (i + 1 < u.m.n_manifest ? u.m.manifest[i + 1].offset : n) - p->offset;
        if (all_zero(g0 + p->offset, numel)) {
            CHECK(0, "%s: %s has no gradient", what, p->name);
            unreached++;
        }
        bad += check_elements(p->name, unet_loss, &u, u.m.params + p->offset, g0 + p->offset, 0, numel, SAMPLES,
                              &rng);
    }
    CHECK(bad == 0, "%s: %zu finite-difference mismatches", what, bad);
    /* the check can fail: conv_out's first bias 5 % off */
    size_t b0 = (size_t)(u.m.conv_out.bias - u.m.params);
    double num = fd_derivative(unet_loss, &u, u.m.params + b0, step);
    CHECK(fd_error(1.05 * g0[b0], num) > 1.0 && fd_error(g0[b0], num) <= 1.0,
          "%s: a 5%% error in conv_out.bias[0] (%g, numeric %g) passes", what, g0[b0], num);
    printf("%s: %zu tensors (%zu floats), %d elements each against central differences, %zu mismatches, "
           "%zu without gradient; checkpointed gradients identical\n",
           what, u.m.n_manifest, n, SAMPLES, bad, unreached);

    /* accumulation: a second backward adds the same again */
    unet_set_param_grads(&u.m, g1);
    unet_fwd_bwd(&u, NULL, NULL);
    CHECK(doubled(g0, g1, n), "%s: a second backward does not accumulate", what);

    /* a channel of conv_out the loss ignores: its weights and bias get exactly 0 */
    int co = c->out_channels - 1, HW = u.H * u.W;
    for (int b = 0; b < u.B; b++)
        memset(u.proj + ((size_t)b * c->out_channels + co) * HW, 0, (size_t)HW * sizeof(float));
    unet_set_param_grads(&u.m, g2);
    unet_fwd_bwd(&u, NULL, NULL);
    const conv_layer *out = &u.m.conv_out;
    size_t row = (size_t)out->in * out->kernel * out->kernel;
    size_t wo = (size_t)(out->weight - u.m.params), bo = (size_t)(out->bias - u.m.params);
    CHECK(all_zero(g2 + wo + (size_t)co * row, row) && g2[bo + co] == 0.0f,
          "%s: conv_out channel %d, ignored by the loss, has a gradient", what, co);
    CHECK(!all_zero(g2 + wo, row) && g2[bo] != 0.0f, "%s: conv_out channel 0 has no gradient", what);
    gc_fill_uniform(u.proj, u.n_out, &rng, -1, 1);

    unet_set_param_grads(&u.m, NULL);
    unet_lora_identity(&u);
    free(g0), free(g1), free(g2);
    unet_case_free(&u);
}

static void unet_small(unet_config *c, int levels)
{
    memset(c, 0, sizeof *c);
    c->in_channels = 3;
    c->out_channels = 3;
    c->levels = levels;
    for (int i = 0; i < levels; i++) {
        c->block_out[i] = 16 << i;   /* norms over 4 channels per group, 16 per token */
        c->layers_per_block[i] = 1;
        c->heads[i] = 2;
        c->transformer_layers[i] = 1;
        c->up_transformer_layers[i] = 1;
    }
    c->cross_attention_dim = 6;
    c->norm_num_groups = 4;
    c->norm_eps = 1e-5f;
    c->flip_sin_to_cos = 1;
    c->time_embed_dim = 4 * c->block_out[0];
}

/* ---- CLIP ---- */

typedef struct clip_case {
    const char *what;
    clip_model m;
    clip_select sel;
    int B, T;
    int32_t *ids;
    float *pout, *ppool, *pte, *dembed;
    size_t n_out;
} clip_case;

static double clip_loss(void *p)
{
    clip_case *k = p;
    error_info err = {0};
    if (clip_forward(&k->m, k->ids, k->B, k->T, &k->sel, &err))
        return NAN;
    double l = gc_dot(k->m.out, k->pout, k->n_out);
    if (k->sel.pooled) {
        l += gc_dot(k->m.pooled, k->ppool, (size_t)k->B * k->m.cfg.hidden_size);
        if (k->m.cfg.projection_dim > 0)
            l += gc_dot(k->m.text_embeds, k->pte, (size_t)k->B * k->m.cfg.projection_dim);
    }
    return l;
}

static void clip_fwd_bwd(clip_case *k, float *dembed)
{
    double l = clip_loss(k);
    CHECK(isfinite(l), "%s: forward failed", k->what);
    clip_backward(&k->m, k->pout, k->sel.pooled ? k->ppool : NULL, k->sel.pooled ? k->pte : NULL, dembed);
}

static int id_used(const clip_case *k, int v)
{
    for (int i = 0; i < k->B * k->T; i++)
        if (k->ids[i] == v)
            return 1;
    return 0;
}

/* LoRA gradients and dembed bit-identical with the base frozen and trained. */
static void clip_lora_identity(clip_case *k, float *grads)
{
    int nt = clip_lora_targets(&k->m, NULL, 0);
    clip_lora_target *tg = calloc((size_t)nt, sizeof *tg);
    lora_adapter *ad = calloc((size_t)nt, sizeof *ad);
    float **snap = calloc((size_t)nt, sizeof *snap);
    clip_lora_targets(&k->m, tg, nt);
    uint64_t rng = 77;
    size_t nC = (size_t)k->B * k->T * k->m.cfg.hidden_size;
    for (int i = 0; i < nt; i++) {
        lora_adapter *a = &ad[i];
        a->rank = 2, a->scale = 0.5f;
        size_t nd = (size_t)a->rank * tg[i].layer->in, nu = (size_t)tg[i].layer->out * a->rank;
        a->down = gc_zalloc(nd), a->up = gc_zalloc(nu), a->ddown = gc_zalloc(nd), a->dup = gc_zalloc(nu);
        gc_fill_uniform(a->down, nd, &rng, -0.3f, 0.3f);
        gc_fill_uniform(a->up, nu, &rng, -0.3f, 0.3f);
        tg[i].layer->lora = a;
        snap[i] = gc_zalloc(nd + nu);
    }
    error_info err = {0};
    float *de[3];
    for (int r = 0; r < 3; r++)
        de[r] = gc_zalloc(nC);
    CHECK(clip_plan(&k->m, k->B, k->T, &err) == 0, "%s: plan with LoRA: %s", k->what, err.message);
    for (int run = 0; run < 3; run++) {
        clip_set_param_grads(&k->m, run == 1 ? grads : NULL);
        int same = 1;
        for (int i = 0; i < nt; i++) {
            size_t nd = (size_t)ad[i].rank * tg[i].layer->in, nu = (size_t)tg[i].layer->out * ad[i].rank;
            memset(ad[i].ddown, 0, nd * sizeof(float));
            memset(ad[i].dup, 0, nu * sizeof(float));
        }
        clip_fwd_bwd(k, de[run]);
        for (int i = 0; i < nt; i++) {
            size_t nd = (size_t)ad[i].rank * tg[i].layer->in, nu = (size_t)tg[i].layer->out * ad[i].rank;
            if (run == 0) {
                memcpy(snap[i], ad[i].ddown, nd * sizeof(float));
                memcpy(snap[i] + nd, ad[i].dup, nu * sizeof(float));
            } else {
                same &= !memcmp(snap[i], ad[i].ddown, nd * sizeof(float)) &&
                        !memcmp(snap[i] + nd, ad[i].dup, nu * sizeof(float));
            }
        }
        if (run == 0) {
            CHECK(!all_zero(snap[0], 4), "%s: LoRA gradient is zero", k->what);
            continue;
        }
        CHECK(same, "%s: LoRA gradients differ with the base %s", k->what, run == 1 ? "trained" : "frozen again");
        CHECK(!memcmp(de[0], de[run], nC * sizeof(float)), "%s: dembed differs with the base %s", k->what,
              run == 1 ? "trained" : "frozen again");
    }
    clip_set_param_grads(&k->m, NULL);
    for (int i = 0; i < nt; i++) {
        tg[i].layer->lora = NULL;
        free(ad[i].down), free(ad[i].up), free(ad[i].ddown), free(ad[i].dup), free(snap[i]);
    }
    for (int r = 0; r < 3; r++)
        free(de[r]);
    free(tg), free(ad), free(snap);
    CHECK(clip_plan(&k->m, k->B, k->T, &err) == 0, "%s: plan: %s", k->what, err.message);
}

/* sel: the output the loss reads; skip_top: the layers above it and the final LN (and the
 * projection) cannot influence it. */
static void clip_run(clip_case *k, const clip_select *sel, int skip_top, uint64_t seed)
{
    const clip_config *c = &k->m.cfg;
    size_t n = clip_param_floats(c), bad = 0, C = (size_t)c->hidden_size;
    int L = c->num_layers, count = clip_param_count(c);
    k->sel = *sel;
    float *g0 = gc_zalloc(n), *g1 = gc_zalloc(n);
    CHECK(clip_set_param_grads(&k->m, g0) == 0, "%s: clip_set_param_grads refused", k->what);
    clip_fwd_bwd(k, NULL);
    uint64_t rng = seed;
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(c, i, &p);
        float *x = k->m.params + p.offset, *g = g0 + p.offset;
        /* tensors: 2 embeddings, `per` of each layer, final LN weight and bias, projection */
        int per = (count - 4 - (c->projection_dim > 0)) / L;
        int dead = skip_top && i >= 2 + per * (L - 1);
        if (i == 0) {   /* token embedding: rows of the ids; the others exactly 0 */
            int zero_ok = 1;
            for (int v = 0; v < c->vocab_size; v++)
                if (!id_used(k, v))
                    zero_ok &= all_zero(g + (size_t)v * C, C);
            CHECK(zero_ok, "%s: token rows not in the ids have a gradient", k->what);
            for (int s = 0; s < SAMPLES; s++) {   /* the first: ids[1], used three times */
                int row = s ? k->ids[next_u64(&rng) % (uint64_t)(k->B * k->T)] : k->ids[1];
                bad += check_elements(p.name, clip_loss, k, x, g, (size_t)row * C, (size_t)(row + 1) * C, 1, &rng);
            }
            continue;
        }
        if (i == 1) {   /* positions past T: exactly 0 */
            CHECK(all_zero(g + (size_t)k->T * C, (size_t)(c->max_positions - k->T) * C),
                  "%s: positions past T have a gradient", k->what);
            bad += check_elements(p.name, clip_loss, k, x, g, 0, (size_t)k->T * C, SAMPLES, &rng);
            continue;
        }
        if (dead)
            CHECK(all_zero(g, p.numel), "%s: %s cannot influence the output but has a gradient", k->what, p.name);
        else
            CHECK(!all_zero(g, p.numel), "%s: %s has no gradient", k->what, p.name);
        bad += check_elements(p.name, clip_loss, k, x, g, 0, p.numel, SAMPLES, &rng);
    }
    CHECK(bad == 0, "%s: %zu finite-difference mismatches", k->what, bad);
    printf("%s (hidden_states[%d]%s%s): %d tensors, %d elements each against central differences, "
           "%zu mismatches\n", k->what, sel->index, sel->final_ln ? " + final LN" : "",
           sel->pooled ? " + pooled" : "", count, SAMPLES, bad);

    clip_set_param_grads(&k->m, g1);
    clip_fwd_bwd(k, NULL);
    clip_fwd_bwd(k, NULL);
    CHECK(doubled(g0, g1, n), "%s: a second backward does not accumulate", k->what);
    clip_set_param_grads(&k->m, NULL);
    memset(g1, 0, n * sizeof(float));
    if (!skip_top)
        clip_lora_identity(k, g1);
    free(g0), free(g1);
}

static void test_clip(const char *what, const clip_config *c, uint64_t seed)
{
    clip_case k;
    memset(&k, 0, sizeof k);
    k.what = what;
    k.B = 2, k.T = 7;
    error_info err = {0};
    if (clip_create(&k.m, c, "lora_te", &err) || clip_plan(&k.m, k.B, k.T, &err)) {
        CHECK(0, "%s: %s", what, err.message);
        clip_free(&k.m);
        return;
    }
    uint64_t rng = seed;
    int count = clip_param_count(c);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(c, i, &p);
        float *x = k.m.params + p.offset;
        if (i < 2)   /* embeddings: order 1, as the trained ones */
            gc_fill_uniform(x, p.numel, &rng, -1, 1);
        else
            init_tensor(x, p.name, p.ndim, p.shape, p.numel, &rng);
    }
    size_t BT = (size_t)k.B * k.T, C = (size_t)c->hidden_size;
    k.n_out = BT * C;
    k.ids = calloc(BT, sizeof *k.ids);
    k.pout = gc_zalloc(k.n_out);
    k.ppool = gc_zalloc((size_t)k.B * C);
    k.pte = gc_zalloc((size_t)k.B * (c->projection_dim + 1));
    gc_fill_uniform(k.pout, k.n_out, &rng, -1, 1);
    gc_fill_uniform(k.ppool, (size_t)k.B * C, &rng, -1, 1);
    gc_fill_uniform(k.pte, (size_t)k.B * (c->projection_dim + 1), &rng, -1, 1);
    /* ids 3.. of half the vocabulary (the rest stays unused), one repeated, an eos per row */
    for (size_t i = 0; i < BT; i++)
        k.ids[i] = 3 + (int32_t)(next_u64(&rng) % (uint64_t)(c->vocab_size / 2 - 3));
    k.ids[k.T + 2] = k.ids[1];
    k.ids[4] = k.ids[1];
    if (c->eos_token_id != 2)
        k.ids[5] = k.ids[k.T + 6] = c->eos_token_id;

    clip_select full = {-1, 1, 1}, skip = {-2, 0, 0};
    clip_run(&k, &full, 0, seed + 1);
    clip_run(&k, &skip, 1, seed + 2);
    clip_free(&k.m);
    free(k.ids), free(k.pout), free(k.ppool), free(k.pte);
}

int main(int argc, char **argv)
{
#ifdef _OPENMP
    /* thousands of forwards of tiny models: too small to split, threads only add waiting */
    omp_set_num_threads(1);
#endif
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "-h") && i + 1 < argc)
            step = atof(argv[++i]);
    }

    unet_config sd1, lin;
    unet_small(&sd1, 2);
    sd1.down_attn[1] = 1;   /* DownBlock2D, CrossAttnDownBlock2D */
    sd1.up_attn[0] = 1;     /* CrossAttnUpBlock2D, UpBlock2D */
    test_unet("U-Net, conv proj (SD1)", &sd1, 11);

    unet_small(&lin, 2);
    lin.down_attn[0] = lin.down_attn[1] = 1;
    lin.up_attn[0] = lin.up_attn[1] = 1;
    lin.heads[1] = 4;
    lin.transformer_layers[1] = 2;      /* two blocks deep at the bottom */
    lin.up_transformer_layers[0] = 2;
    lin.use_linear_projection = 1;
    lin.text_time = 1;                  /* SDXL's added text and time-id conditioning */
    lin.addition_time_embed_dim = 4;
    lin.projection_class_embeddings_input_dim = 5 + 6 * 4;
    lin.ldm_lora_names = 1;
    test_unet("U-Net, linear proj + text_time (SD2/SDXL)", &lin, 23);

    unet_model layout;
    error_info err = {0};
    float dummy = 0.0f;
    if (unet_build_layout(&layout, &sd1, &err) == 0) {
        CHECK(unet_set_param_grads(&layout, &dummy) == -1, "a model without parameters accepted gradients");
        unet_free(&layout);
    }

    clip_config te2 = {40, 16, 24, 2, 2, 12, 8, CLIP_ACT_GELU, 1e-5f, 2};
    test_clip("CLIP with projection, GELU", &te2, 5);
    clip_config te1 = {40, 12, 20, 3, 3, 9, 0, CLIP_ACT_QUICK_GELU, 1e-5f, 39};
    test_clip("CLIP, QuickGELU, eos id", &te1, 6);

    printf("%zu elements against finite differences, worst %.2f of the tolerance (%s)\n", fd.checked, fd.worst,
           fd.worst_name);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
