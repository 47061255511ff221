/* test_network_dylora.c — sd-scripts' networks.dylora (DyLoRA) against networks/dylora.py:
 * networks.lora's modules, ranks, initial values, layout and file keys/shapes (3x3 convs with
 * conv_dim = network_dim at network_alpha, not conv_alpha); the slice b each training forward
 * draws (a multiple of unit below rank, uniform, a pure function of seed and step); the
 * forward runs every rank slot at alpha / rank · √(rank / (b + unit)) (sampling: the full
 * rank); for a fixed b only down rows / up columns [b, b + unit) get a gradient, equal to finite
 * differences, the others exactly 0 although they change the loss; micro-steps accumulate their
 * own slices; the per-slot optimizer view skips untrained slots (AdamW with weight decay leaves
 * them bit-identical, also those with momentum from earlier steps); the saved file loads as a
 * plain networks.lora whose forward equals DyLoRA's full-rank forward; and the refusals
 * (conv_dim ≠ network_dim, rank not a multiple of unit, block arguments, SDXL's two text
 * encoders, unit ≠ 1 with dim_from_weights, LoRA-FA); LyCORIS' DyLoRA (lycoris_check). */
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

enum { DIM = 6, UNIT = 2, SEED = 5 };

static void set_module(network_options *o, const char *module)
{
    error_info err = {0};
    CHECK(network_options_set_module(o, module, NULL, &err) == 0, "set_module %s: %s", module,
          err.message);
}

/* ---- one module's layer: y = W x + b + adapter; L = Σ y · proj ---- */

typedef struct layer_ctx {
    linear_layer lin;
    conv_layer cv;
    int conv, rows, N, H, W;
    float *x, *y, *proj, *scratch, *dx;
    size_t nx, ny;
    /* finite differences of up columns [b, b + unit): a contiguous copy scattered before each
     * forward */
    float *up, *col;
    int out, rank, b, unit;
} layer_ctx;

static void forward(layer_ctx *c)
{
    if (c->conv)
        conv_layer_forward(&c->cv, c->y, c->x, c->N, c->H, c->W, c->scratch);
    else
        linear_layer_forward(&c->lin, c->y, c->x, c->rows, c->scratch);
}

static void backward(layer_ctx *c)
{
    if (c->conv)
        conv_layer_backward(&c->cv, c->dx, c->proj, c->x, c->N, c->H, c->W, c->scratch);
    else
        linear_layer_backward(&c->lin, c->dx, c->proj, c->x, c->rows, c->scratch);
}

static double layer_loss(void *p)
{
    layer_ctx *c = p;
    forward(c);
    return gc_dot(c->y, c->proj, c->ny);
}

static double column_loss(void *p)
{
    layer_ctx *c = p;
    for (int o = 0; o < c->out; o++)
        for (int k = 0; k < c->unit; k++)
            c->up[(size_t)o * c->rank + c->b + k] = c->col[(size_t)o * c->unit + k];
    return layer_loss(p);
}

/* A layer of m's shape with random base weights and inputs, running `a`. */
static void layer_setup(layer_ctx *c, const network_module *m, lora_adapter *a, uint64_t st)
{
    memset(c, 0, sizeof *c);
    int I = m->in, O = m->out, K = m->kernel;
    size_t cols = (size_t)I * K * K;
    c->conv = m->conv, c->rows = 6, c->N = 2, c->H = 4, c->W = 4;
    size_t rows_out = c->conv ? (size_t)c->N * c->H * c->W : (size_t)c->rows;
    c->nx = c->conv ? (size_t)c->N * I * c->H * c->W : (size_t)c->rows * I;
    c->ny = rows_out * O;
    float *w = gc_zalloc((size_t)O * cols), *bias = gc_zalloc((size_t)O);
    gc_fill_uniform(w, (size_t)O * cols, &st, -0.3f, 0.3f);
    gc_fill_uniform(bias, (size_t)O, &st, -0.3f, 0.3f);
    c->x = gc_zalloc(c->nx);
    c->dx = gc_zalloc(c->nx);
    c->y = gc_zalloc(c->ny);
    c->proj = gc_zalloc(c->ny);
    gc_fill_uniform(c->x, c->nx, &st, -1.0f, 1.0f);
    gc_fill_uniform(c->proj, c->ny, &st, -1.0f, 1.0f);
    a->hidden = gc_zalloc(rows_out * (size_t)m->rank);
    c->lin = (linear_layer){I, O, w, bias, NULL, NULL, a};
    c->cv = (conv_layer){I, O, K, 1, K / 2, w, bias, NULL, NULL, a};
    size_t ns = c->conv ? conv_layer_scratch_floats(&c->cv, c->N, c->H, c->W)
                        : linear_layer_scratch_floats(&c->lin, c->rows);
    c->scratch = gc_zalloc(ns);
}

static void layer_free(layer_ctx *c)
{
    lora_adapter *a = c->conv ? c->cv.lora : c->lin.lora;
    free((float *)c->lin.weight), free((float *)c->lin.bias), free(c->x), free(c->dx);
    free(c->y), free(c->proj), free(c->scratch), free(c->col), free(a->hidden);
}

/* A training step whose draw gives module index mi the slice b (−1: none in 4000 steps). */
static long step_with_b(lora_network *n, size_t mi, int b)
{
    for (long s = 0; s < 4000; s++) {
        network_begin_step(n, 1, SEED, (uint64_t)s, 1);
        if (n->mods[mi].dylora_b == b)
            return s;
    }
    return -1;
}

/* ---- the rank slice and the scale ---- */

static void draw_check(lora_network *n)
{
    size_t mi = n->n_mods / 2;
    const network_module *m = &n->mods[mi];
    int slices = m->rank / UNIT, counts[64] = {0}, bad_b = 0, bad_scale = 0;
    const int steps = 6000;
    int *first = calloc(n->n_mods, sizeof *first);
    size_t same_again = 0, moved_by_seed = 0;
    for (int s = 0; s < steps; s++) {
        network_begin_step(n, 1, SEED, (uint64_t)s, 1);
        int b = m->dylora_b;
        if (b < 0 || b > m->rank - UNIT || b % UNIT != 0)
            bad_b++;
        else
            counts[b / UNIT]++;
        float want = m->alpha / m->rank * (float)sqrt((double)m->rank / (b + UNIT));
        bad_scale += fabsf(m->adapter.scale - want) > 1e-6f * want;
        if (s == 17) {
            for (size_t i = 0; i < n->n_mods; i++)
                first[i] = n->mods[i].dylora_b;
            network_begin_step(n, 1, SEED, 17, 1);
            for (size_t i = 0; i < n->n_mods; i++)
                same_again += n->mods[i].dylora_b == first[i];
            network_begin_step(n, 1, SEED + 1, 17, 1);
            for (size_t i = 0; i < n->n_mods; i++)
                moved_by_seed += n->mods[i].dylora_b != first[i];
        }
    }
    CHECK(!bad_b, "%s: %d draws outside {0, unit, …, rank − unit}", m->name, bad_b);
    CHECK(!bad_scale, "%s: %d draws without the scale alpha / rank · √(rank / (b + unit))",
          m->name, bad_scale);
    for (int k = 0; k < slices; k++) {
        double frac = (double)counts[k] / steps, want = 1.0 / slices;
        CHECK(fabs(frac - want) < 0.03, "%s: b = %d drawn %.3f of the steps, randint gives %.3f",
              m->name, k * UNIT, frac, want);
    }
    CHECK(same_again == n->n_mods, "the same (seed, step) drew other slices for %zu modules",
          n->n_mods - same_again);
    CHECK(moved_by_seed > 0, "another seed drew the same slices");
    network_begin_step(n, 0, SEED, 3, 1);
    int full_ok = 1;
    for (size_t i = 0; i < n->n_mods; i++)
        full_ok &= n->mods[i].adapter.scale == n->mods[i].alpha / (float)n->mods[i].rank;
    CHECK(full_ok, "sampling (training 0) does not run the full rank at alpha / rank");
    printf("draws: b uniform over %d slices of %s (%d steps), a pure function of (seed, step); "
           "scale alpha/rank·√(rank/(b+unit))\n", slices, m->name, steps);
    free(first);
}

/* ---- gradients of one module for a fixed b ---- */

static void grad_check(lora_network *n, size_t mi, int b)
{
    network_module *m = &n->mods[mi];
    long step = step_with_b(n, mi, b);
    CHECK(step >= 0, "%s: no step draws b = %d", m->name, b);
    if (step < 0)
        return;
    int R = m->rank, O = m->out;
    size_t cols = (size_t)m->in * m->kernel * m->kernel, nd = (size_t)R * cols, nu = (size_t)O * R;
    uint64_t st = 91 + mi;
    float *down = n->params + m->down_off, *up = n->params + m->up_off;
    gc_fill_uniform(up, nu, &st, -0.5f, 0.5f);   /* up 0 would give down no gradient */
    lora_adapter a = m->adapter;
    CHECK(a.ddown == n->dylora_grads + m->down_off && a.dup == n->dylora_grads + m->up_off,
          "%s: the layer does not write into dylora_grads", m->name);
    layer_ctx c;
    layer_setup(&c, m, &a, st);

    /* the forward: every slot runs, scaled by √(rank / (b + unit)) against the full rank */
    float *y_full = gc_zalloc(c.ny), *y_base = gc_zalloc(c.ny);
    float drawn = a.scale;
    a.scale = m->alpha / (float)R;
    forward(&c);
    memcpy(y_full, c.y, c.ny * sizeof *c.y);
    a.scale = drawn;
    c.lin.lora = c.cv.lora = NULL;
    forward(&c);
    memcpy(y_base, c.y, c.ny * sizeof *c.y);
    c.lin.lora = c.cv.lora = &a;
    forward(&c);
    double factor = sqrt((double)R / (b + UNIT)), worst = 0.0;
    for (size_t i = 0; i < c.ny; i++) {
        double want = y_base[i] + factor * ((double)y_full[i] - y_base[i]);
        worst = fmax(worst, fabs(c.y[i] - want));
    }
    CHECK(worst < 1e-5, "%s: forward at b = %d is off by %g from base + √(%d/%d)·ΔLoRA", m->name,
          b, worst, R, b + UNIT);
    free(y_full), free(y_base);

    /* backward: the layers write the full gradient; end_micro_step keeps the slice */
    network_zero_grad(n);
    layer_loss(&c);
    backward(&c);
    float *full_dd = gc_zalloc(nd), *full_du = gc_zalloc(nu);
    memcpy(full_dd, n->dylora_grads + m->down_off, nd * sizeof(float));
    memcpy(full_du, n->dylora_grads + m->up_off, nu * sizeof(float));
    network_dylora_end_micro_step(n);
    const float *gd = n->grads + m->down_off, *gu = n->grads + m->up_off;
    size_t outside_nonzero = 0, outside_moving = 0, inside_diff = 0;
    for (int r = 0; r < R; r++) {
        int in_slice = r >= b && r < b + UNIT;
        for (size_t j = 0; j < cols; j++) {
            size_t k = (size_t)r * cols + j;
            if (in_slice)
                inside_diff += gd[k] != full_dd[k];
            else {
                outside_nonzero += gd[k] != 0.0f;
                outside_moving += full_dd[k] != 0.0f;
            }
        }
        for (int o = 0; o < O; o++) {
            size_t k = (size_t)o * R + r;
            if (in_slice)
                inside_diff += gu[k] != full_du[k];
            else {
                outside_nonzero += gu[k] != 0.0f;
                outside_moving += full_du[k] != 0.0f;
            }
        }
        CHECK(m->dylora_trained[r] == in_slice, "%s: slot %d trained flag %d", m->name, r,
              m->dylora_trained[r]);
    }
    CHECK(inside_diff == 0, "%s: %zu slice gradients differ from the layer's", m->name,
          inside_diff);
    CHECK(outside_nonzero == 0, "%s: %zu gradients outside the slice [%d, %d)", m->name,
          outside_nonzero, b, b + UNIT);
    CHECK(outside_moving > 0, "%s: the other slots do not change the loss (they must run)",
          m->name);
    for (size_t j = 0; j < (size_t)n->n_params; j++)
        if (n->dylora_grads[j] != 0.0f) {
            CHECK(0, "%s: dylora_grads not cleared", m->name);
            break;
        }

    gc_opts go = gc_default_opts();
    go.quiet = 1;
    char nm[192];
    snprintf(nm, sizeof nm, "%s (b %d)", m->name, b);
    /* the slice's down rows (contiguous) and up columns (gathered) by finite differences */
    CHECK(gc_check("down slice", layer_loss, &c, down + (size_t)b * cols, gd + (size_t)b * cols,
                   (size_t)UNIT * cols, &go) == 0, "%s: d down rows", nm);
    c.up = up, c.out = O, c.rank = R, c.b = b, c.unit = UNIT;
    c.col = gc_zalloc((size_t)O * UNIT);
    float *gcol = gc_zalloc((size_t)O * UNIT);
    for (int o = 0; o < O; o++)
        for (int k = 0; k < UNIT; k++) {
            c.col[(size_t)o * UNIT + k] = up[(size_t)o * R + b + k];
            gcol[(size_t)o * UNIT + k] = gu[(size_t)o * R + b + k];
        }
    CHECK(gc_check("up slice", column_loss, &c, c.col, gcol, (size_t)O * UNIT, &go) == 0,
          "%s: d up columns", nm);
    column_loss(&c);   /* puts the unperturbed column back */
    free(gcol);
    /* the frozen slots do change the loss: the layer's full gradient is the true one */
    CHECK(gc_check("down (all)", layer_loss, &c, down, full_dd, nd, &go) == 0, "%s: d down", nm);
    CHECK(gc_check("input", layer_loss, &c, c.x, c.dx, c.nx, &go) == 0, "%s: d input", nm);
    printf("grad: %s: slice [%d, %d) of down rows / up columns matches finite differences, the "
           "other %d slots 0 (their true gradient is not)\n", nm, b, b + UNIT, R - UNIT);
    memset(up, 0, nu * sizeof(float));
    network_zero_grad(n);
    free(full_dd), free(full_du);
    layer_free(&c);
}

/* ---- micro-steps and the optimizer view ---- */

static void optimizer_check(lora_network *n)
{
    /* dylora.py's parameters: lora_A[i] and lora_B[i] of every module, one group */
    size_t nt = 0;
    for (size_t i = 0; i < n->n_mods; i++)
        nt += 2 * (size_t)n->mods[i].rank;
    optim_param *ps = calloc(nt, sizeof *ps);
    size_t k = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        for (int r = 0; r < m->rank; r++) {
            float *dd, *ud;
            const float *dg, *ug;
            network_dylora_slot(n, m, r, &dd, &dg, &ud, &ug);
            ps[k++] = (optim_param){dd, dg, 2, {1, (int64_t)m->in * m->kernel * m->kernel}};
            ps[k++] = (optim_param){ud, ug, 2, {m->out, 1}};
        }
    }
    optim_group g = {ps, (int)nt, 1e-2, -1.0};
    optim_config oc;
    optim_config_init(&oc, OPTIM_ADAMW, 1e-2);   /* weight decay 0.01: moves any tensor it steps */
    optim *opt = NULL;
    error_info err = {0};
    if (optim_create(&oc, &g, 1, &opt, &err) != 0) {
        CHECK(0, "optim_create: %s", err.message);
        free(ps);
        return;
    }
    float *before = gc_zalloc(n->n_params), *sum = gc_zalloc(n->n_params);
    uint8_t *ever = calloc(n->n_params, 1);   /* slots trained in an earlier step, per float */
    size_t held_with_momentum = 0, moved = 0, trained_total = 0;
    network_zero_grad(n);
    for (int s = 0; s < 4; s++) {
        memset(sum, 0, n->n_params * sizeof *sum);
        uint8_t *want = calloc(n->n_params, 1);
        /* two micro-steps: each adds its own slice of the layers' (here random) gradients */
        for (int micro = 0; micro < 2; micro++) {
            network_begin_step(n, 1, SEED, (uint64_t)(s * 2 + micro), 1);
            uint64_t st = 500 + (uint64_t)(s * 2 + micro);
            gc_fill_uniform(n->dylora_grads, n->n_params, &st, -1.0f, 1.0f);
            for (size_t i = 0; i < n->n_mods; i++) {
                const network_module *m = &n->mods[i];
                size_t cols = (size_t)m->in * m->kernel * m->kernel;
                for (int r = m->dylora_b; r < m->dylora_b + UNIT; r++) {
                    for (size_t j = 0; j < cols; j++) {
                        size_t at = m->down_off + (size_t)r * cols + j;
                        sum[at] += n->dylora_grads[at], want[at] = 1;
                    }
                    for (int o = 0; o < m->out; o++) {
                        size_t at = m->up_off + (size_t)o * m->rank + r;
                        sum[at] += n->dylora_grads[at], want[at] = 1;
                    }
                }
            }
            network_dylora_end_micro_step(n);
        }
        size_t grad_bad = 0;
        for (size_t j = 0; j < n->n_params; j++)
            grad_bad += n->grads[j] != sum[j];
        CHECK(grad_bad == 0, "step %d: %zu accumulated gradients are not the two slices' sum", s,
              grad_bad);
        memcpy(before, n->params, n->n_params * sizeof *before);
        network_dylora_to_optimizer(n);
        for (int i = 0; i < optim_param_count(opt); i++)
            optim_set_grad(opt, i, network_dylora_grad(n, optim_param_at(opt, i)->data));
        size_t with_grad = 0;
        for (int i = 0; i < optim_param_count(opt); i++)
            with_grad += optim_param_at(opt, i)->grad != NULL;
        if (optim_step(opt, &err) != 0)
            CHECK(0, "optim_step: %s", err.message);
        network_dylora_from_optimizer(n);
        size_t held_bad = 0, still = 0;
        for (size_t j = 0; j < n->n_params; j++) {
            int changed = n->params[j] != before[j];
            if (!want[j]) {
                held_bad += changed;
                held_with_momentum += ever[j];
            } else {
                still += !changed;
                moved += changed;
                trained_total++;
                ever[j] = 1;
            }
        }
        CHECK(held_bad == 0, "step %d: %zu weights of untrained slots moved", s, held_bad);
        CHECK(still == 0, "step %d: %zu weights of trained slots did not move", s, still);
        CHECK(with_grad > 0 && with_grad < nt, "step %d: %zu of %zu tensors have a gradient", s,
              with_grad, nt);
        network_zero_grad(n);
        free(want);
    }
    CHECK(held_with_momentum > 0, "no untrained slot had moments from an earlier step: the "
          "skipping was not tested");
    /* to / from the optimizer without a step: up unchanged */
    memcpy(before, n->params, n->n_params * sizeof *before);
    network_dylora_to_optimizer(n);
    network_dylora_from_optimizer(n);
    CHECK(!memcmp(before, n->params, n->n_params * sizeof *before), "up_t round trip changed up");
    printf("optimizer: %zu slot tensors; 4 AdamW steps of 2 micro-steps: gradients are the "
           "slices' sums, %zu trained weights moved, untrained slots bit-identical (%zu weights "
           "held with moments from earlier steps)\n", nt, moved, held_with_momentum);
    optim_free(opt);
    free(ps), free(before), free(sum), free(ever);
}

/* ---- the file ---- */

static size_t same_keys(const char *a, const char *b)
{
    safetensors_file *fa, *fb;
    error_info err = {0};
    if (safetensors_open(a, &fa, &err) != 0) {
        CHECK(0, "%s", err.message);
        return 0;
    }
    if (safetensors_open(b, &fb, &err) != 0) {
        CHECK(0, "%s", err.message);
        safetensors_close(fa);
        return 0;
    }
    size_t bad = safetensors_count(fa) != safetensors_count(fb);
    for (size_t i = 0; i < safetensors_count(fa); i++) {
        const safetensors_tensor *ta = safetensors_tensor_at(fa, i);
        const safetensors_tensor *tb = safetensors_find(fb, ta->name);
        int ok = tb && tb->ndim == ta->ndim && tb->dtype == ta->dtype;
        for (int d = 0; ok && d < ta->ndim; d++)
            ok = ta->shape[d] == tb->shape[d];
        if (!ok && bad++ < 3)
            fprintf(stderr, "  %s: not in both files with one shape\n", ta->name);
    }
    size_t n = safetensors_count(fa);
    safetensors_close(fa);
    safetensors_close(fb);
    CHECK(bad == 0, "%zu tensors differ in name or shape between %s and %s", bad, a, b);
    return n;
}

static void file_check(lora_network *dy, const network_options *base, unet_model *um,
                       clip_model **tes)
{
    char dpath[] = "/tmp/test_network_dylora_XXXXXX", lpath[] = "/tmp/test_network_dylora_XXXXXX";
    int fd = mkstemp(dpath);
    if (fd >= 0)
        close(fd);
    fd = mkstemp(lpath);
    if (fd >= 0)
        close(fd);
    error_info err = {0};
    uint64_t st = 4242;
    for (size_t i = 0; i < dy->n_mods; i++)   /* a trained network: nonzero ups */
        gc_fill_uniform(dy->params + dy->mods[i].up_off, (size_t)dy->mods[i].out * dy->mods[i].rank,
                        &st, -0.2f, 0.2f);
    CHECK(network_save(dy, dpath, DTYPE_F32, NULL, &err) == 0, "save DyLoRA: %s", err.message);
    network_options o = *base;
    set_module(&o, "networks.lora");
    o.conv_alpha = o.alpha;   /* the same alphas as DyLoRA's */
    lora_network plain;
    if (network_create(&plain, &o, um, tes, 1, &err) != 0) {
        CHECK(0, "LoRA: %s", err.message);
        return;
    }
    CHECK(network_save(&plain, lpath, DTYPE_F32, NULL, &err) == 0, "save LoRA: %s", err.message);
    network_free(&plain);
    size_t nkeys = same_keys(dpath, lpath);
    CHECK(nkeys == 3 * dy->n_mods, "%zu tensors for %zu modules", nkeys, dy->n_mods);

    /* loaded as a plain LoRA: the same weights and alphas, the forward of DyLoRA's full rank */
    o.weights_path = dpath;
    o.conv_alpha = 1.0f;   /* the file's alphas win */
    for (int from_weights = 0; from_weights < 2; from_weights++) {
        o.dim_from_weights = from_weights;
        if (network_create(&plain, &o, um, tes, 1, &err) != 0) {
            CHECK(0, "LoRA from the DyLoRA file: %s", err.message);
            continue;
        }
        int same = plain.n_mods == dy->n_mods && plain.n_params == dy->n_params &&
                   !memcmp(plain.params, dy->params, dy->n_params * sizeof(float));
        for (size_t i = 0; same && i < plain.n_mods; i++)
            same = !strcmp(plain.mods[i].name, dy->mods[i].name) &&
                   plain.mods[i].alpha == dy->mods[i].alpha &&
                   plain.mods[i].adapter.scale == dy->mods[i].alpha / dy->mods[i].rank;
        CHECK(same, "networks.lora from the DyLoRA file (dim_from_weights %d): other weights",
              from_weights);
        if (same && !from_weights) {
            size_t checked = 0;
            for (size_t i = 0; i < dy->n_mods; i++) {
                network_module *m = &dy->mods[i];
                if (!(m->conv && m->kernel == 3) && !strstr(m->name, "attn2_to_k") &&
                    !strstr(m->name, "proj_in") && !(m->te && strstr(m->name, "fc1")))
                    continue;
                if (step_with_b(dy, i, m->rank - UNIT) < 0)
                    continue;
                lora_adapter a = m->adapter, p = plain.mods[i].adapter;
                layer_ctx c;
                layer_setup(&c, m, &a, 31 + i);
                forward(&c);
                float *y_dy = gc_zalloc(c.ny);
                memcpy(y_dy, c.y, c.ny * sizeof *c.y);
                p.hidden = a.hidden;
                c.lin.lora = c.cv.lora = &p;
                forward(&c);
                CHECK(!memcmp(y_dy, c.y, c.ny * sizeof *c.y), "%s: LoRA from the file differs from "
                      "DyLoRA's full-rank forward (b = rank − unit)", m->name);
                c.lin.lora = c.cv.lora = &a;
                free(y_dy);
                layer_free(&c);
                checked++;
            }
            CHECK(checked >= 4, "only %zu modules compared", checked);
            printf("file: %zu tensors, networks.lora's names and shapes; loaded as networks.lora "
                   "it has the same weights and alphas, and %zu layers' forwards equal DyLoRA's "
                   "full rank bit for bit\n", nkeys, checked);
        }
        network_free(&plain);
    }
    /* create_network_from_weights builds the network with unit 1 */
    o = *base;
    o.weights_path = dpath, o.dim_from_weights = 1;
    CHECK(network_create(&plain, &o, um, tes, 1, &err) != 0 && !strcmp(err.key, "unit"),
          "unit %d with dim_from_weights: %s", o.dylora_unit, err.message);
    o.dylora_unit = 1;
    if (network_create(&plain, &o, um, tes, 1, &err) == 0)
        network_free(&plain);
    else
        CHECK(0, "DyLoRA unit 1 from the file with dim_from_weights: %s", err.message);
    remove(dpath);
    remove(lpath);
}

/* ---- refusals ---- */

static void refusal_check(unet_model *um, clip_model **tes, const network_options *base)
{
    error_info err = {0};
    lora_network n;
    network_options o = *base;
    o.conv_dim = 4;
    CHECK(network_create(&n, &o, um, tes, 1, &err) != 0 && !strcmp(err.key, "conv_dim"),
          "conv_dim ≠ network_dim: %s", err.message);
    o = *base;
    o.dylora_unit = 4;   /* 6 % 4 */
    CHECK(network_create(&n, &o, um, tes, 1, &err) != 0 && !strcmp(err.key, "unit"),
          "rank not a multiple of unit: %s", err.message);
    o = *base;
    o.block_dims = "2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2";
    CHECK(network_create(&n, &o, um, tes, 1, &err) != 0 &&
              strstr(err.message, "no block arguments"), "block_dims: %s", err.message);
    o = *base;
    clip_model *two[2] = {tes[0], tes[0]};
    CHECK(network_create(&n, &o, um, two, 2, &err) != 0 && strstr(err.message, "collide"),
          "two text encoders: %s", err.message);
    o.train_te = 0;
    if (network_create(&n, &o, um, two, 2, &err) == 0)
        network_free(&n);
    else
        CHECK(0, "two text encoders, U-Net only: %s", err.message);
    o = *base;
    o.lora_fa = 1;
    CHECK(network_create(&n, &o, um, tes, 1, &err) != 0 && strstr(err.message, "LoRA variant"),
          "DyLoRA with LoRA-FA: %s", err.message);
    network_options_init(&o);
    set_module(&o, "networks.dylora");
    CHECK(o.dylora_unit == 1 && !o.lora_fa && !o.lycoris && o.algo == LORA_KIND_LORA &&
              !strcmp(network_module_name(&o), "networks.dylora"),
          "networks.dylora options: unit %d, module %s", o.dylora_unit, network_module_name(&o));
    set_module(&o, "networks.lora");
    CHECK(o.dylora_unit == 0, "networks.lora after dylora keeps the unit");
}

/* ---- LyCORIS' DyLoRA (lycoris.kohya algo=dylora, block_size = unit) ----
 * Its forward runs blocks 0 … b only (b the drawn block; the rank [0, (b + 1) · unit)) at
 * alpha / (b + 1), only block b trains; sampling runs the whole rank at alpha / rank. */
static void lycoris_check(unet_model *um, clip_model **tes)
{
    error_info err = {0};
    network_options o;
    network_options_init(&o);
    CHECK(network_options_set_module(&o, "lycoris.kohya", "dylora", &err) == 0 && o.lycoris &&
              o.dylora_unit == 4 && !strcmp(network_algo_name(&o), "dylora"),
          "LyCORIS dylora options: unit %d (LyCORIS' block_size default 4)", o.dylora_unit);
    o.dylora_unit = UNIT, o.dim = DIM, o.alpha = 3.0f, o.seed = 4, o.preset = "full";
    lora_network n;
    if (network_create(&n, &o, um, tes, 1, &err) != 0) {
        CHECK(0, "LyCORIS DyLoRA: %s", err.message);
        return;
    }
    size_t lin = SIZE_MAX;
    for (size_t i = 0; i < n.n_mods && lin == SIZE_MAX; i++)
        if (!n.mods[i].conv && strstr(n.mods[i].name, "attn1_to_q"))
            lin = i;
    CHECK(lin != SIZE_MAX, "LyCORIS DyLoRA: no attn1 to_q module");
    int seen[DIM / UNIT] = {0};
    for (uint64_t step = 0; step < 64; step++) {
        network_begin_step(&n, 1, SEED, step, 1);
        for (size_t i = 0; i < n.n_mods; i++) {
            const network_module *m = &n.mods[i];
            int b = m->dylora_b, block = b / UNIT;
            CHECK(b % UNIT == 0 && b >= 0 && b < m->rank, "%s: b %d", m->name, b);
            CHECK(m->adapter.active_rank == b + UNIT, "%s: active rank %d, want %d", m->name,
                  m->adapter.active_rank, b + UNIT);
            CHECK(fabsf(m->adapter.scale - m->alpha / (float)(block + 1)) < 1e-6f,
                  "%s: scale %g, want alpha / %d", m->name, m->adapter.scale, block + 1);
            if (i == lin)
                seen[block]++;
        }
    }
    for (int k = 0; k < DIM / UNIT; k++)
        CHECK(seen[k] > 0, "block %d never drawn in 64 steps", k);
    network_begin_step(&n, 0, SEED, 0, 1);
    CHECK(n.mods[0].adapter.active_rank == 0 &&
              fabsf(n.mods[0].adapter.scale - n.mods[0].alpha / (float)DIM) < 1e-6f,
          "sampling: the whole rank at alpha / rank");
    if (lin == SIZE_MAX) {
        network_free(&n);
        return;
    }
    /* block 1 drawn: the forward equals a rank-2·unit LoRA of the first rows / columns */
    long step = step_with_b(&n, lin, UNIT);
    CHECK(step >= 0, "no step draws block 1");
    network_module *m = &n.mods[lin];
    int R = m->rank, O = m->out, act = 2 * UNIT;
    size_t cols = (size_t)m->in;
    uint64_t st = 77;
    float *down = n.params + m->down_off, *up = n.params + m->up_off;
    gc_fill_uniform(up, (size_t)O * R, &st, -0.5f, 0.5f);
    lora_adapter a = m->adapter, small;
    layer_ctx c;
    layer_setup(&c, m, &a, st);
    forward(&c);
    float *y = gc_zalloc(c.ny), *sd = gc_zalloc((size_t)act * cols), *su = gc_zalloc((size_t)O * act);
    memcpy(y, c.y, c.ny * sizeof *y);
    memcpy(sd, down, (size_t)act * cols * sizeof *sd);
    for (int q = 0; q < O; q++)
        memcpy(su + (size_t)q * act, up + (size_t)q * R, (size_t)act * sizeof *su);
    memset(&small, 0, sizeof small);
    small.rank = act, small.scale = m->alpha / 2.0f, small.down = sd, small.up = su;
    small.hidden = gc_zalloc((size_t)c.rows * act);
    c.lin.lora = &small;
    forward(&c);
    double worst = 0.0;
    for (size_t i = 0; i < c.ny; i++)
        worst = fmax(worst, fabs((double)c.y[i] - y[i]));
    CHECK(worst < 1e-5, "LyCORIS DyLoRA block 1: forward off by %g from blocks 0-1 at alpha / 2", worst);
    c.lin.lora = &a;
    /* gradients: block 1's rows / columns by finite differences, nothing else */
    network_zero_grad(&n);
    layer_loss(&c);
    backward(&c);
    network_dylora_end_micro_step(&n);
    const float *gd = n.grads + m->down_off, *gu = n.grads + m->up_off;
    size_t outside = 0;
    for (int r = 0; r < R; r++)
        if (r < UNIT || r >= act) {
            for (size_t j = 0; j < cols; j++)
                outside += gd[(size_t)r * cols + j] != 0.0f;
            for (int q = 0; q < O; q++)
                outside += gu[(size_t)q * R + r] != 0.0f;
        }
    CHECK(outside == 0, "LyCORIS DyLoRA: %zu gradients outside block 1", outside);
    gc_opts go = gc_default_opts();
    go.quiet = 1;
    CHECK(gc_check("lycoris down block", layer_loss, &c, down + (size_t)UNIT * cols,
                   gd + (size_t)UNIT * cols, (size_t)UNIT * cols, &go) == 0, "LyCORIS DyLoRA d down");
    c.up = up, c.out = O, c.rank = R, c.b = UNIT, c.unit = UNIT;
    c.col = gc_zalloc((size_t)O * UNIT);
    float *gcol = gc_zalloc((size_t)O * UNIT);
    for (int q = 0; q < O; q++)
        for (int k = 0; k < UNIT; k++) {
            c.col[(size_t)q * UNIT + k] = up[(size_t)q * R + UNIT + k];
            gcol[(size_t)q * UNIT + k] = gu[(size_t)q * R + UNIT + k];
        }
    CHECK(gc_check("lycoris up block", column_loss, &c, c.col, gcol, (size_t)O * UNIT, &go) == 0,
          "LyCORIS DyLoRA d up");
    column_loss(&c);
    printf("LyCORIS DyLoRA: block draws, scale alpha / (b + 1), forward of blocks 0..b and block "
           "b's gradients as finite differences\n");
    free(gcol), free(y), free(sd), free(su), free(small.hidden);
    memset(up, 0, (size_t)O * R * sizeof(float));
    layer_free(&c);
    network_free(&n);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    error_info err = {0};
    unet_model um;
    clip_model cm;
    if (tiny_sd1_build(top ? top : ".", &um, &cm, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    clip_model *tes[1] = {&cm};
    network_options o;
    network_options_init(&o);
    o.dim = DIM, o.alpha = 3.0f, o.conv_dim = DIM, o.conv_alpha = 1.0f, o.seed = 9;
    lora_network plain, dy;
    set_module(&o, "networks.lora");
    network_options lo = o;
    lo.conv_alpha = o.alpha;
    if (network_create(&plain, &lo, &um, tes, 1, &err) != 0) {
        fprintf(stderr, "LoRA: %s\n", err.message);
        return 1;
    }
    set_module(&o, "networks.dylora");
    o.dylora_unit = UNIT;
    if (network_create(&dy, &o, &um, tes, 1, &err) != 0) {
        fprintf(stderr, "DyLoRA: %s\n", err.message);
        return 1;
    }
    /* networks.lora's modules, ranks, layout and initial values; 3x3 convs at network_alpha */
    CHECK(dy.n_mods == plain.n_mods && dy.n_unet == plain.n_unet && dy.n_params == plain.n_params,
          "DyLoRA %zu modules (%zu U-Net, %zu params), LoRA %zu (%zu, %zu)", dy.n_mods, dy.n_unet,
          dy.n_params, plain.n_mods, plain.n_unet, plain.n_params);
    size_t conv3 = 0, conv1 = 0;
    for (size_t i = 0; i < dy.n_mods && i < plain.n_mods; i++) {
        const network_module *a = &dy.mods[i], *b = &plain.mods[i];
        CHECK(!strcmp(a->name, b->name) && a->rank == b->rank && a->rank == DIM &&
                  a->alpha == b->alpha && a->alpha == o.alpha && a->down_off == b->down_off &&
                  a->up_off == b->up_off,
              "module %zu: %s rank %d alpha %g vs %s rank %d alpha %g", i, a->name, a->rank,
              a->alpha, b->name, b->rank, b->alpha);
        conv3 += a->conv && a->kernel == 3;
        conv1 += a->conv && a->kernel == 1;
    }
    CHECK(!memcmp(dy.params, plain.params, dy.n_params * sizeof(float)),
          "initial values differ from networks.lora's (kaiming-uniform down, zero up)");
    CHECK(conv3 > 0 && conv1 > 0 && dy.n_mods > dy.n_unet, "%zu 3x3 convs, %zu 1x1 convs, %zu "
          "text encoder modules", conv3, conv1, dy.n_mods - dy.n_unet);
    printf("modules: %zu (%zu 3x3 convs), networks.lora's names, ranks, alphas, layout and "
           "initial values\n", dy.n_mods, conv3);
    network_free(&plain);

    draw_check(&dy);
    size_t lin = SIZE_MAX, cv3 = SIZE_MAX, cv1 = SIZE_MAX, te = SIZE_MAX;
    for (size_t i = 0; i < dy.n_mods; i++) {
        const network_module *m = &dy.mods[i];
        if (lin == SIZE_MAX && !m->te && !m->conv && strstr(m->name, "attn2_to_k"))
            lin = i;
        if (cv3 == SIZE_MAX && m->conv && m->kernel == 3)
            cv3 = i;
        if (cv1 == SIZE_MAX && m->conv && m->kernel == 1)
            cv1 = i;
        if (te == SIZE_MAX && m->te)
            te = i;
    }
    CHECK(lin != SIZE_MAX && cv3 != SIZE_MAX && cv1 != SIZE_MAX && te != SIZE_MAX,
          "modules for the gradient checks");
    if (lin != SIZE_MAX && cv3 != SIZE_MAX && cv1 != SIZE_MAX && te != SIZE_MAX) {
        grad_check(&dy, lin, 2);
        grad_check(&dy, cv3, 2);
        grad_check(&dy, cv1, 0);
        grad_check(&dy, te, 4);
    }
    optimizer_check(&dy);
    network_options fo = o;
    file_check(&dy, &fo, &um, tes);
    refusal_check(&um, tes, &o);
    lycoris_check(&um, tes);
    network_free(&dy);
    clip_free(&cm);
    unet_free(&um);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
