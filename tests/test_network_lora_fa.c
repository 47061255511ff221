/* test_network_lora_fa.c — sd-scripts' networks.lora_fa (LoRA-FA) against networks/lora_fa.py:
 * the same modules, ranks, alphas and file keys as networks.lora; lora_down drawn
 * N(0, 2 / (in_channels + rank)) (checked on the full-size SD 1.5 layout: std within 5% per large
 * module, normal tails, in_channels not in·k·k on 3x3 convs), lora_up 0; lora_down frozen: no
 * gradient (ddown NULL, its gradient slots stay 0), left out of the optimizer (after AdamW steps on
 * nonzero gradients it is bit-identical while every up element moved); lora_up's gradient by
 * finite differences (Linear and 3x3 conv, with dropouts); LoRA+ ignored, network_weights
 * continuing bit-exact, and the SDXL block arguments refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/lora/network.h"
#include "engine/safetensors.h"
#include "engine/train/optimizer.h"
#include "tests/gradcheck.h"

#include "tests/check.h"
#include "tests/tiny_sd1.h"

static int set_kind(network_options *o, int fa)
{
    error_info err = {0};
    int rc = network_options_set_module(o, fa ? "networks.lora_fa" : "networks.lora", NULL, &err);
    CHECK(rc == 0, "set_module: %s", err.message);
    return rc;
}

/* ---- initialisation on the full-size SD 1.5 layout ---- */

static void init_check(void)
{
    error_info err = {0};
    unet_config fc;
    unet_model fm;
    unet_config_sd15(&fc);
    if (unet_build_layout(&fm, &fc, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    network_options o;
    network_options_init(&o);
    set_kind(&o, 1);
    o.dim = 8, o.alpha = 4.0f, o.conv_dim = 4, o.conv_alpha = 1.0f, o.seed = 21;
    lora_network n;
    if (network_create(&n, &o, &fm, NULL, 0, &err) != 0) {
        CHECK(0, "%s", err.message);
        unet_free(&fm);
        return;
    }
    CHECK(!strcmp(network_module_name(&o), "networks.lora_fa"), "module name %s", network_module_name(&o));
    size_t checked = 0, convs = 0;
    double worst = 0.0, worst_tail = 0.0;
    for (size_t i = 0; i < n.n_mods; i++) {
        const network_module *m = &n.mods[i];
        CHECK(m->frozen_down && m->adapter.ddown == NULL && m->adapter.dup != NULL,
              "%s: down not frozen", m->name);
        for (size_t j = 0; j < (size_t)m->out * m->rank; j++)
            CHECK(n.params[m->up_off + j] == 0.0f, "%s: up not zero", m->name);
        size_t nd = m->w_size[0];
        if (nd < 20000)   /* std to ±5% needs many draws: its relative error is 1/√(2N) */
            continue;
        double s = 0.0, s2 = 0.0, want = sqrt(2.0 / (m->in + m->rank));
        size_t tail = 0;
        for (size_t j = 0; j < nd; j++) {
            double v = n.params[m->down_off + j];
            s += v, s2 += v * v;
            tail += fabs(v) > 2.0 * want;
        }
        double mean = s / nd, sd = sqrt(s2 / nd - mean * mean), rel = fabs(sd / want - 1.0);
        double tail_frac = (double)tail / nd;   /* normal: 4.55% beyond 2σ, uniform: none */
        CHECK(rel < 0.05, "%s: down std %.5f, lora_fa.py %.5f", m->name, sd, want);
        CHECK(fabs(mean) < 5.0 * want / sqrt((double)nd), "%s: down mean %.5f", m->name, mean);
        CHECK(fabs(tail_frac - 0.0455) < 0.01, "%s: %.4f of down beyond 2σ, a normal has 0.0455",
              m->name, tail_frac);
        if (rel > worst)
            worst = rel;
        if (fabs(tail_frac - 0.0455) > worst_tail)
            worst_tail = fabs(tail_frac - 0.0455);
        checked++;
        convs += m->conv && m->kernel == 3;
    }
    CHECK(checked > 50 && convs > 10, "%zu large modules (%zu 3x3 convs) checked", checked, convs);
    printf("init: %zu modules, %zu large ones (%zu 3x3 convs): std within %.2f%% of "
           "sqrt(2/(in+rank)), 2σ tail within %.4f of 0.0455\n", n.n_mods, checked, convs,
           100.0 * worst, worst_tail);
    network_free(&n);
    unet_free(&fm);
}

/* ---- gradients of one module's layer ---- */

typedef struct layer_ctx {
    linear_layer lin;
    conv_layer cv;
    int conv, rows, N, H, W;
    float *x, *y, *proj, *scratch;
    size_t ny;
} layer_ctx;

static double layer_loss(void *p)
{
    layer_ctx *c = p;
    if (c->conv)
        conv_layer_forward(&c->cv, c->y, c->x, c->N, c->H, c->W, c->scratch);
    else
        linear_layer_forward(&c->lin, c->y, c->x, c->rows, c->scratch);
    double s = 0.0;
    for (size_t i = 0; i < c->ny; i++)
        s += (double)c->y[i] * c->proj[i];
    return s;
}

/* Backward through module m's adapter (LoRA-FA) on a layer of its shape with random base
 * weights: ddown stays NULL and the network's down gradients 0; dup and the input gradient
 * match finite differences; dup equals a trained-down adapter's (same values). */
static void grad_check(lora_network *n, network_module *m, float p_net, float p_rank)
{
    uint64_t st = 77 + (uint64_t)m->in;
    int I = m->in, O = m->out, K = m->kernel;
    size_t cols = (size_t)I * K * K;
    gc_fill_uniform(n->params + m->up_off, (size_t)O * m->rank, &st, -0.5f, 0.5f);
    lora_adapter a = m->adapter;
    a.drop = (lora_dropout){p_net, p_rank, 0, 1, 0, 2, 99, 7, 0};
    layer_ctx c = {0};
    c.conv = m->conv, c.rows = 6, c.N = 2, c.H = 4, c.W = 4;
    size_t rows_out = c.conv ? (size_t)c.N * c.H * c.W : (size_t)c.rows;
    size_t nx = c.conv ? (size_t)c.N * I * c.H * c.W : (size_t)c.rows * I;
    c.ny = rows_out * O;
    float *w = malloc((size_t)O * cols * sizeof *w), *b = malloc((size_t)O * sizeof *b);
    gc_fill_uniform(w, (size_t)O * cols, &st, -0.3f, 0.3f);
    gc_fill_uniform(b, (size_t)O, &st, -0.3f, 0.3f);
    c.x = malloc(nx * sizeof *c.x);
    c.y = malloc(c.ny * sizeof *c.y);
    c.proj = malloc(c.ny * sizeof *c.proj);
    float *dx = calloc(nx, sizeof *dx);
    gc_fill_uniform(c.x, nx, &st, -1.0f, 1.0f);
    gc_fill_uniform(c.proj, c.ny, &st, -1.0f, 1.0f);
    a.hidden = malloc(rows_out * (size_t)m->rank * sizeof(float));
    c.lin = (linear_layer){I, O, w, b, NULL, NULL, &a};
    c.cv = (conv_layer){I, O, K, 1, K / 2, w, b, NULL, NULL, &a};
    size_t ns = c.conv ? conv_layer_scratch_floats(&c.cv, c.N, c.H, c.W)
                       : linear_layer_scratch_floats(&c.lin, c.rows);
    c.scratch = malloc(ns * sizeof(float));
    network_zero_grad(n);
    CHECK(a.ddown == NULL, "%s: LoRA-FA adapter has a down gradient", m->name);
    layer_loss(&c);
    if (c.conv)
        conv_layer_backward(&c.cv, dx, c.proj, c.x, c.N, c.H, c.W, c.scratch);
    else
        linear_layer_backward(&c.lin, dx, c.proj, c.x, c.rows, c.scratch);
    size_t nz = 0;
    for (size_t j = 0; j < m->w_size[0]; j++)
        nz += n->grads[m->down_off + j] != 0.0f;
    CHECK(nz == 0, "%s: %zu down gradients written", m->name, nz);
    size_t nu = (size_t)O * m->rank;
    float *dup = malloc(nu * sizeof *dup);
    memcpy(dup, a.dup, nu * sizeof *dup);
    gc_opts go = gc_default_opts();
    go.quiet = 1;
    char nm[192];
    snprintf(nm, sizeof nm, "%s (p_net %.2f, p_rank %.2f)", m->name, p_net, p_rank);
    CHECK(gc_check("up", layer_loss, &c, n->params + m->up_off, dup, nu, &go) == 0, "%s: d up", nm);
    CHECK(gc_check("input", layer_loss, &c, c.x, dx, nx, &go) == 0, "%s: d input", nm);
    /* the same adapter with a down gradient: the up gradient does not depend on skipping it */
    float *ddown = calloc(m->w_size[0], sizeof *ddown), *dup2 = calloc(nu, sizeof *dup2);
    a.ddown = ddown, a.dup = dup2;
    memset(dx, 0, nx * sizeof *dx);
    layer_loss(&c);
    if (c.conv)
        conv_layer_backward(&c.cv, dx, c.proj, c.x, c.N, c.H, c.W, c.scratch);
    else
        linear_layer_backward(&c.lin, dx, c.proj, c.x, c.rows, c.scratch);
    CHECK(!memcmp(dup, dup2, nu * sizeof *dup), "%s: d up differs with the down gradient on", nm);
    printf("grad: %s: d up and d input match finite differences, no down gradient\n", nm);
    memset(n->params + m->up_off, 0, nu * sizeof(float));
    free(ddown), free(dup2), free(dup), free(w), free(b), free(c.x), free(c.y), free(c.proj), free(dx);
    free(a.hidden), free(c.scratch);
}

/* ---- optimizer groups and steps ---- */

/* The optimizer's view as engine/train/train_run.c builds it: one tensor per range that is not
 * left out (lr_mult 0 / frozen), lr = 1e-3 × lr_mult. */
static int optimizer_steps(lora_network *n, const network_lr_options *lo, int steps)
{
    size_t nr = network_param_ranges(n, lo, NULL, 0);
    network_param_range *r = calloc(nr, sizeof *r);
    optim_param *ps = calloc(nr, sizeof *ps);
    optim_group *g = calloc(nr, sizeof *g);
    network_param_ranges(n, lo, r, nr);
    int ng = 0;
    for (size_t i = 0; i < nr; i++) {
        if (r[i].lr_mult == 0.0f || r[i].frozen)
            continue;
        ps[ng] = (optim_param){n->params + r[i].offset, n->grads + r[i].offset, 1, {(int64_t)r[i].count}};
        g[ng] = (optim_group){&ps[ng], 1, 1e-3 * r[i].lr_mult, -1.0};
        ng++;
    }
    optim_config oc;
    optim_config_init(&oc, OPTIM_ADAMW, 1e-3);   /* weight decay 0.01: moves any tensor it holds */
    optim *opt = NULL;
    error_info err = {0};
    int rc = optim_create(&oc, g, ng, &opt, &err);
    CHECK(rc == 0, "optim_create: %s", err.message);
    for (int s = 0; rc == 0 && s < steps; s++) {
        uint64_t st = 1000 + (uint64_t)s;
        /* nonzero gradients everywhere, the down slots too: only the optimizer's groups decide */
        gc_fill_uniform(n->grads, n->n_params, &st, -1.0f, 1.0f);
        for (size_t j = 0; j < n->n_params; j++)
            if (n->grads[j] == 0.0f)
                n->grads[j] = 0.5f;
        rc = optim_step(opt, &err);
        CHECK(rc == 0, "optim_step: %s", err.message);
    }
    optim_free(opt);
    free(r), free(ps), free(g);
    return ng;
}

static void train_check(const char *top)
{
    error_info err = {0};
    unet_model um;
    clip_model cm;
    if (tiny_sd1_build(top, &um, &cm, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    clip_model *tes[1] = {&cm};
    network_options o;
    network_options_init(&o);
    o.dim = 4, o.alpha = 2.0f, o.conv_dim = 2, o.conv_alpha = 1.0f, o.seed = 5;
    lora_network plain, fa;
    set_kind(&o, 0);
    if (network_create(&plain, &o, &um, tes, 1, &err) != 0) {
        CHECK(0, "LoRA: %s", err.message);
        goto out_models;
    }
    set_kind(&o, 1);
    if (network_create(&fa, &o, &um, tes, 1, &err) != 0) {
        CHECK(0, "LoRA-FA: %s", err.message);
        network_free(&plain);
        goto out_models;
    }
    /* networks.lora's module set, ranks, alphas and layout */
    CHECK(fa.n_mods == plain.n_mods && fa.n_unet == plain.n_unet && fa.n_params == plain.n_params,
          "LoRA-FA %zu modules (%zu U-Net, %zu params), LoRA %zu (%zu, %zu)", fa.n_mods, fa.n_unet,
          fa.n_params, plain.n_mods, plain.n_unet, plain.n_params);
    size_t conv3 = 0;
    for (size_t i = 0; i < fa.n_mods && i < plain.n_mods; i++) {
        const network_module *a = &fa.mods[i], *b = &plain.mods[i];
        CHECK(!strcmp(a->name, b->name) && a->rank == b->rank && a->alpha == b->alpha &&
              a->down_off == b->down_off && a->up_off == b->up_off && a->adapter.kind == LORA_KIND_LORA,
              "module %zu: %s rank %d alpha %g vs %s rank %d alpha %g", i, a->name, a->rank, a->alpha,
              b->name, b->rank, b->alpha);
        CHECK(a->frozen_down && !b->frozen_down, "%s: frozen flags", a->name);
        conv3 += a->conv && a->kernel == 3;
    }
    CHECK(conv3 > 0, "conv_dim gave no 3x3 conv modules");
    CHECK(fa.n_mods > fa.n_unet, "no text encoder modules");

    /* gradients: a U-Net Linear, a 3x3 conv and a text encoder Linear, with dropouts */
    network_module *lin = NULL, *cv = NULL, *te = NULL;
    for (size_t i = 0; i < fa.n_mods; i++) {
        network_module *m = &fa.mods[i];
        if (!lin && !m->te && !m->conv && strstr(m->name, "attn2_to_k"))
            lin = m;
        if (!cv && m->conv && m->kernel == 3)
            cv = m;
        if (!te && m->te)
            te = m;
    }
    CHECK(lin && cv && te, "modules for the gradient checks");
    if (lin && cv && te) {
        grad_check(&fa, lin, 0.0f, 0.0f);
        grad_check(&fa, cv, 0.0f, 0.0f);
        grad_check(&fa, te, 0.2f, 0.3f);
        grad_check(&fa, cv, 0.25f, 0.0f);
    }
    network_set_trainable(&fa, 1, 0);
    network_set_trainable(&fa, 1, 1);
    CHECK(te && te->adapter.ddown == NULL && te->adapter.dup != NULL, "set_trainable gave down a gradient");

    /* optimizer ranges: down frozen at lr_mult 0, up at 1 with LoRA+ ignored (lora_fa.py has none) */
    network_lr_options lo = {NULL, 0, 16.0f, 0.0f, 0.0f};
    size_t nr = network_param_ranges(&fa, &lo, NULL, 0);
    network_param_range *r = calloc(nr, sizeof *r);
    network_param_ranges(&fa, &lo, r, nr);
    size_t off = 0, frozen = 0, trained = 0;
    for (size_t i = 0; i < nr; i++) {
        CHECK(r[i].offset == off, "ranges not contiguous at %zu", i);
        off += r[i].count;
        CHECK(!r[i].plus && r[i].lr_mult == (r[i].frozen ? 0.0f : 1.0f), "range %zu: plus %d mult %g",
              i, r[i].plus, r[i].lr_mult);
        if (r[i].frozen)
            frozen += r[i].count;
        else
            trained += r[i].count;
    }
    size_t want_down = 0;
    for (size_t i = 0; i < fa.n_mods; i++)
        want_down += fa.mods[i].w_size[0];
    CHECK(off == fa.n_params && frozen == want_down && trained == fa.n_params - want_down,
          "ranges: %zu frozen (downs %zu), %zu trained of %zu", frozen, want_down, trained, fa.n_params);
    free(r);
    size_t plain_ranges = network_param_ranges(&plain, &lo, NULL, 0);
    network_param_range *pr = calloc(plain_ranges, sizeof *pr);
    network_param_ranges(&plain, &lo, pr, plain_ranges);
    int plain_plus = 0;
    for (size_t i = 0; i < plain_ranges; i++)
        plain_plus |= pr[i].plus && pr[i].lr_mult == 16.0f;
    CHECK(plain_plus, "networks.lora: LoRA+ ratio on the up matrices");
    free(pr);

    /* AdamW steps on nonzero gradients: down bit-identical, every up element moved */
    float *before = malloc(fa.n_params * sizeof *before);
    memcpy(before, fa.params, fa.n_params * sizeof *before);
    int ng = optimizer_steps(&fa, &lo, 3);
    size_t down_changed = 0, up_still = 0, up_total = 0;
    for (size_t i = 0; i < fa.n_mods; i++) {
        const network_module *m = &fa.mods[i];
        down_changed += memcmp(before + m->down_off, fa.params + m->down_off, m->w_size[0] * sizeof(float)) != 0;
        for (size_t j = 0; j < m->w_size[1]; j++)
            up_still += fa.params[m->up_off + j] == before[m->up_off + j];
        up_total += m->w_size[1];
    }
    CHECK(ng > 0 && down_changed == 0 && up_still == 0, "after 3 steps: %zu modules' down changed, "
          "%zu of %zu up elements unchanged (%d tensors in the optimizer)", down_changed, up_still,
          up_total, ng);
    printf("optimizer: %d ranges trained, 3 AdamW steps: %zu up elements all moved, "
           "down of %zu modules bit-identical\n", ng, up_total, fa.n_mods);
    free(before);

    /* max-norm: as lora_fa.py's apply_max_norm_regularization, down and up × √ratio */
    const network_module *m0 = &fa.mods[0];
    float d0 = fa.params[m0->down_off];
    double mean, mx;
    int scaled = network_apply_max_norm(&fa, 1e-4f, &mean, &mx);
    CHECK(scaled > 0 && mx <= 1e-4 * (1 + 1e-4), "max-norm: %d scaled, max %g", scaled, mx);
    CHECK(fa.params[m0->down_off] != d0, "max-norm left a scaled module's down alone");

    /* network_weights: a fresh LoRA-FA continues bit-exact, its down still frozen */
    char tmp[] = "/tmp/test_network_lora_fa_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0)
        close(fd);
    CHECK(network_save(&fa, tmp, DTYPE_F32, NULL, &err) == 0, "save: %s", err.message);
    safetensors_file *f;
    if (safetensors_open(tmp, &f, &err) == 0) {
        size_t down = 0, up = 0, alpha = 0;
        for (size_t i = 0; i < safetensors_count(f); i++) {
            const char *nm = safetensors_tensor_at(f, i)->name;
            size_t len = strlen(nm);
            down += len > 17 && !strcmp(nm + len - 17, ".lora_down.weight");
            up += len > 15 && !strcmp(nm + len - 15, ".lora_up.weight");
            alpha += len > 6 && !strcmp(nm + len - 6, ".alpha");
        }
        CHECK(down == fa.n_mods && up == fa.n_mods && alpha == fa.n_mods &&
              safetensors_count(f) == 3 * fa.n_mods, "file: %zu down, %zu up, %zu alpha of %zu tensors",
              down, up, alpha, safetensors_count(f));
        safetensors_close(f);
    } else
        CHECK(0, "%s", err.message);
    lora_network again;
    o.seed = 99, o.weights_path = tmp;
    for (int from_weights = 0; from_weights < 2; from_weights++) {
        o.dim_from_weights = from_weights;
        if (network_create(&again, &o, &um, tes, 1, &err) != 0) {
            CHECK(0, "continue: %s", err.message);
            continue;
        }
        CHECK(again.n_params == fa.n_params && !memcmp(again.params, fa.params, fa.n_params * sizeof(float)),
              "network_weights (dim_from_weights %d): not bit-exact", from_weights);
        CHECK(again.mods[0].frozen_down && again.mods[0].adapter.ddown == NULL,
              "continued LoRA-FA trains down");
        network_free(&again);
    }
    o.weights_path = NULL, o.dim_from_weights = 0;
    remove(tmp);
    network_free(&fa);
    network_free(&plain);
out_models:
    clip_free(&cm);
    unet_free(&um);
}

/* ---- refusals ---- */

static void refusal_check(void)
{
    error_info err = {0};
    network_options o;
    network_options_init(&o);
    CHECK(network_options_set_module(&o, "networks.lora_fa", NULL, &err) == 0 && o.lora_fa &&
          o.algo == LORA_KIND_LORA && !o.lycoris, "networks.lora_fa options");
    CHECK(network_options_set_module(&o, "networks.lora", NULL, &err) == 0 && !o.lora_fa,
          "networks.lora after lora_fa keeps the flag");
    CHECK(network_options_set_module(&o, "networks.oft", NULL, &err) != 0 &&
          strstr(err.message, "networks.lora_fa"), "the refusal lists lora_fa: %s", err.message);
    unet_config fc;
    unet_model fm;
    unet_config_sdxl_base(&fc);
    if (unet_build_layout(&fm, &fc, &err) != 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    network_options_init(&o);
    set_kind(&o, 1);
    o.dim = 1;
    o.block_dims = "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1";
    lora_network n;
    CHECK(network_create(&n, &o, &fm, NULL, 0, &err) != 0 && strstr(err.message, "SD 1.x/2.x blocks only"),
          "SDXL LoRA-FA with block_dims: %s", err.message);
    o.lora_fa = 1, o.lycoris = 1;
    o.block_dims = NULL;
    CHECK(network_create(&n, &o, &fm, NULL, 0, &err) != 0 && strstr(err.message, "networks.lora variant"),
          "LoRA-FA with lycoris: %s", err.message);
    unet_free(&fm);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    init_check();
    train_check(top ? top : ".");
    refusal_check();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
