/* test_lora_apply_lycoris.c — lora_apply_add (engine/sample/lora_apply.c) loads every network
 * kind loratty trains as the training side runs it. On the tiny SD1 model (the configs of
 * tests/fixtures/pipeline-sd1, which are tests/fixtures/unet-sd1's and clip-sd1's, with
 * random weights), for each algorithm: a network from engine/lora/network.h with random
 * factors is saved (fp32); the U-Net and CLIP outputs with the network attached
 * (network_attach) must equal those with the file applied by lora_apply_add (weight 1; 0.5
 * for LoRA and LoHa, with the network's multiplier 0.5) to 1e-5 relative, and differ from
 * the bare model's. Two files on the same layers: the first baked into the weights, the
 * second attached, against both files applied; each file merged into the weights
 * (lora_apply_merge, base_weights) gives the attached outputs too; DoRA (dora_scale) on
 * LoCon / LoHa / LoKr; train_norm's
 * w_norm / b_norm on the U-Net's norm layers (restored when freed). Each
 * refusal (Tucker factors that do not fit, a DoRA scale that does not fit or beside another algorithm, mixed
 * keys, factors that do not fit the layer) with the key it names; unknown keys ignored and
 * counted. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/lora/network.h"
#include "engine/models/sd_model.h"
#include "engine/safetensors.h"
#include "engine/sample/lora_apply.h"
#include "tests/check.h"
#include "tests/golden_fixture.h"
#include "tests/gradcheck.h"

enum { B = 2, H = 8, W = 8, T = 7, CT = 8 };

static float sample_in[B * 4 * H * W], timesteps[B] = {17.0f, 640.0f}, context[B * T * 32];
static int32_t ids[B * CT];

typedef struct acase {
    const char *name, *algo, *preset;
    int dim;
    float alpha;
    int conv_dim;
    float conv_alpha;
    int factor, decompose_both;
    float constraint;
    int rescaled, on_input, unet_only;
    float weight;
    int dora, train_norm;
    int tucker;   /* LyCORIS' use_tucker on the 3x3 convolutions */
} acase;

static const acase cases[] = {
    {"LoCon", "locon", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 0},
    {"LoCon weight 0.5", "locon", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 0.5f, 0, 0, 0},
    {"LoHa", "loha", "full", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 0},
    {"LoHa weight 0.5", "loha", "full", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 0.5f, 0, 0, 0},
    {"LoKr (whole w1, w2 whole or low-rank)", "lokr", "full", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 0},
    {"LoKr decompose_both", "lokr", "attn-mlp", 2, 1.0f, 0, 0.0f, 4, 1, 0.0f, 0, 0, 0, 1.0f, 0, 0, 0},
    {"LoKr whole factors (scale 1)", "lokr", "unet-convblock-only", 64, 8.0f, 0, 0.0f, -1, 0, 0.0f, 0, 0, 0,
     1.0f, 0, 0, 0},
    {"iA3 (on_input MLPs)", "ia3", "full", 4, 1.0f, 0, 0.0f, 0, 0, 0.0f, 0, 1, 0, 1.0f, 0, 0, 0},
    {"full", "full", "full", 4, 1.0f, 0, 0.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 0},
    {"GLoRA", "glora", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 0},
    {"Diag-OFT (constraint, rescaled)", "diag-oft", "full", 4, 1.0f, 8, 1.0f, 0, 0, 0.05f, 1, 0, 0, 1.0f, 0, 0, 0},
    {"BOFT", "boft", "full-lin", 4, 1.0f, 0, 0.0f, 0, 0, 0.0f, 0, 0, 1, 1.0f, 0, 0, 0},
    {"BOFT (constraint, rescaled)", "boft", "full-lin", 4, 1.0f, 0, 0.0f, 0, 0, 0.02f, 1, 0, 1, 1.0f, 0, 0, 0},
    {"LoCon + DoRA", "locon", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 1, 0, 0},
    {"LoHa + DoRA", "loha", "attn-mlp", 4, 2.0f, 0, 0.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 1, 0, 0},
    {"LoKr + DoRA", "lokr", "full", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 1, 0, 0},
    {"LoCon + train_norm", "locon", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 1, 0},
    {"LoHa + train_norm weight 0.5", "loha", "attn-mlp", 4, 2.0f, 0, 0.0f, 0, 0, 0.0f, 0, 0, 0, 0.5f, 0, 1, 0},
    {"LoCon + Tucker", "locon", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 1},
    {"LoCon + Tucker weight 0.5", "locon", "full", 5, 3.0f, 3, 2.0f, 0, 0, 0.0f, 0, 0, 0, 0.5f, 0, 0, 1},
    {"LoHa + Tucker", "loha", "full", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 1},
    {"LoKr + Tucker", "lokr", "full", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 0, 0, 1},
    {"LoCon + Tucker + DoRA", "locon", "unet-convblock-only", 4, 2.0f, 2, 1.0f, 0, 0, 0.0f, 0, 0, 0, 1.0f, 1, 0, 1},
};

static int find_case(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- the model and its forwards ---- */

static size_t unet_out_floats(void)
{
    return (size_t)B * 4 * H * W;
}

static size_t clip_out_floats(const sd_model *m)
{
    return (size_t)B * CT * m->te[0].cfg.hidden_size;
}

static int run(sd_model *m, float *unet_out, float *clip_out)
{
    error_info err = {0};
    unet_acts acts;
    memset(&acts, 0, sizeof acts);
    int rc = unet_acts_init(&acts, &m->unet, B, H, W, T, 0, &err);
    if (rc == 0)
        rc = unet_forward(&acts, unet_out, sample_in, timesteps, context, NULL, &err);
    unet_acts_free(&acts);
    clip_select sel = {-1, 1, 0};
    if (rc == 0)
        rc = clip_plan(&m->te[0], B, CT, &err);
    if (rc == 0)
        rc = clip_forward(&m->te[0], ids, B, CT, &sel, &err);
    if (rc == 0)
        memcpy(clip_out, m->te[0].out, clip_out_floats(m) * sizeof *clip_out);
    CHECK(rc == 0, "forward: %s", err.message);
    return rc;
}

static int make_network(sd_model *m, const acase *c, uint64_t seed, lora_network *n, const char *path)
{
    error_info err = {0};
    network_options o;
    network_options_init(&o);
    if (network_options_set_module(&o, "lycoris.kohya", c->algo, &err) != 0) {
        CHECK(0, "%s: %s", c->name, err.message);
        return -1;
    }
    o.preset = c->preset;
    o.dim = c->dim;
    o.alpha = c->alpha;
    o.conv_dim = c->conv_dim;
    o.conv_alpha = c->conv_alpha;
    o.factor = c->factor;
    o.decompose_both = c->decompose_both;
    o.constraint = c->constraint;
    o.rescaled = c->rescaled;
    o.ia3_train_on_input = c->on_input;
    o.train_te = !c->unet_only;
    o.dora_wd = c->dora;
    o.train_norm = c->train_norm;
    o.use_tucker = c->tucker;
    o.multiplier = c->weight;
    o.seed = seed;
    clip_model *tes[1] = {&m->te[0]};
    if (network_create(n, &o, &m->unet, tes, 1, &err) != 0) {
        CHECK(0, "%s: %s", c->name, err.message);
        return -1;
    }
    uint64_t st = seed * 7919 + 3;
    gc_fill_uniform(n->params, n->n_params, &st, -0.5f, 0.5f);
    if (network_save(n, path, DTYPE_F32, NULL, &err) != 0) {
        CHECK(0, "%s: save: %s", c->name, err.message);
        network_free(n);
        return -1;
    }
    return 0;
}

/* The model's outputs with the network attached. */
static int run_attached(sd_model *m, lora_network *n, float *uo, float *co)
{
    error_info err = {0};
    network_attach(n);
    int rc = network_plan_unet(n, &m->unet, B, H, W, T, &err);
    CHECK(rc == 0, "network_plan_unet: %s", err.message);
    if (rc == 0)
        rc = run(m, uo, co);
    network_detach(n);
    return rc;
}

/* The model's outputs with files applied by lora_apply_add (weights[i] each). */
static int run_applied(sd_model *m, const char *const *paths, const float *weights, int count, size_t want,
                       float *uo, float *co, const char *what)
{
    error_info err = {0};
    lora_apply la = {0};
    size_t got = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < count; i++) {
        int k = lora_apply_add(&la, m, paths[i], weights[i], &err);
        rc = k < 0 ? -1 : 0;
        got += k > 0 ? (size_t)k : 0;
    }
    CHECK(rc == 0, "%s: lora_apply_add: %s", what, err.message);
    CHECK(rc != 0 || (got == want && la.unmatched == 0), "%s: %zu modules applied (want %zu), %zu unmatched (%s)",
          what, got, want, la.unmatched, la.unmatched_names);
    if (rc == 0)
        rc = lora_apply_plan(&la, m, B, H, W, T, &err);
    if (rc == 0)
        rc = run(m, uo, co);
    lora_apply_free(&la, m);
    return rc;
}

/* The model's outputs with the file merged into its weights (lora_apply_merge, as
 * base_weights does); the weights are put back afterwards. */
static int run_merged(sd_model *m, const char *path, float weight, float *uo, float *co, const char *what)
{
    size_t nu = m->unet.n_params, nt = clip_param_floats(&m->te[0].cfg);
    float *ku = malloc(nu * sizeof *ku), *kt = malloc(nt * sizeof *kt);
    if (!ku || !kt) {
        free(ku), free(kt);
        return -1;
    }
    memcpy(ku, m->unet.params, nu * sizeof *ku);
    memcpy(kt, m->te[0].params, nt * sizeof *kt);
    error_info err = {0};
    lora_apply la = {0};
    int rc = lora_apply_add(&la, m, path, weight, &err) < 0 ? -1 : lora_apply_merge(&la, m, &err);
    lora_apply_free(&la, m);
    CHECK(rc == 0, "%s: lora_apply_merge: %s", what, err.message);
    if (rc == 0)
        rc = run(m, uo, co);
    memcpy(m->unet.params, ku, nu * sizeof *ku);
    memcpy(m->te[0].params, kt, nt * sizeof *kt);
    sd_model_adapters_changed(m);
    free(ku), free(kt);
    return rc;
}

/* ---- every algorithm alone ---- */

static double worst_seen;

static void check_case(sd_model *m, const acase *c, const float *base_u, const float *base_c, const char *tmp)
{
    lora_network n;
    if (make_network(m, c, 11, &n, tmp) != 0)
        return;
    size_t nu = unet_out_floats(), nc = clip_out_floats(m);
    float *ru = malloc(nu * sizeof *ru), *rc_ = malloc(nc * sizeof *rc_);
    float *au = malloc(nu * sizeof *au), *ac = malloc(nc * sizeof *ac);
    const char *paths[1] = {tmp};
    if (run_attached(m, &n, ru, rc_) == 0 && run_applied(m, paths, &c->weight, 1, n.n_mods, au, ac, c->name) == 0) {
        double eu = fixture_rel_err(au, ru, nu), ec = fixture_rel_err(ac, rc_, nc);
        double du = fixture_rel_err(ru, base_u, nu), dc = fixture_rel_err(rc_, base_c, nc);
        printf("%-40s %4zu modules (%zu U-Net)  U-Net %.2e  CLIP %.2e   (change vs bare model: %.2g, %.2g)\n",
               c->name, n.n_mods, n.n_unet, eu, ec, du, dc);
        worst_seen = fmax(worst_seen, fmax(eu, ec));
        CHECK(eu < 1e-5, "%s: U-Net output off by %.3g relative", c->name, eu);
        CHECK(ec < 1e-5, "%s: CLIP output off by %.3g relative", c->name, ec);
        CHECK(du > 1e-3, "%s: the network barely changes the U-Net (%.3g)", c->name, du);
        /* merged into the weights (base_weights): the same outputs; DoRA is refused there */
        if (!strstr(c->name, "DoRA") && run_merged(m, tmp, c->weight, au, ac, c->name) == 0) {
            double mu = fixture_rel_err(au, ru, nu), mc = fixture_rel_err(ac, rc_, nc);
            printf("%-40s merged into the weights:  U-Net %.2e  CLIP %.2e\n", "", mu, mc);
            CHECK(mu < 1e-5 && mc < 1e-5, "%s merged: outputs off by %.3g, %.3g relative", c->name, mu, mc);
        }
        CHECK(c->unet_only || n.n_unet == n.n_mods || dc > 1e-3, "%s: the network barely changes CLIP (%.3g)",
              c->name, dc);
    }
    free(ru);
    free(rc_);
    free(au);
    free(ac);
    network_free(&n);
}

/* ---- two files on the same layers ---- */

/* The layer a network module is attached to. */
static void module_layer(sd_model *m, const network_module *nm, linear_layer **lin, conv_layer **conv)
{
    *lin = NULL;
    *conv = NULL;
    if (nm->te) {
        int cnt = clip_lora_targets(&m->te[nm->te - 1], NULL, 0);
        clip_lora_target *t = calloc((size_t)cnt, sizeof *t);
        clip_lora_targets(&m->te[nm->te - 1], t, cnt);
        for (int i = 0; i < cnt; i++)
            if (strcmp(t[i].name, nm->name) == 0)
                *lin = t[i].layer;
        free(t);
    } else if (nm->unet_point != SIZE_MAX) {
        *lin = m->unet.points[nm->unet_point].linear;
        *conv = m->unet.points[nm->unet_point].conv;
    } else if (strcmp(nm->name, "lora_unet_conv_in") == 0)
        *conv = &m->unet.conv_in;
    else if (strcmp(nm->name, "lora_unet_conv_out") == 0)
        *conv = &m->unet.conv_out;
    else if (strcmp(nm->name, "lora_unet_time_embedding_linear_1") == 0)
        *lin = &m->unet.time_1;
    else if (strcmp(nm->name, "lora_unet_time_embedding_linear_2") == 0)
        *lin = &m->unet.time_2;
}

/* Merges the network into the model's weights: W += scale · ΔW(W), b += scale · Δb. */
static void bake(sd_model *m, const lora_network *n)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *nm = &n->mods[i];
        const lora_adapter *a = &nm->adapter;
        linear_layer *lin;
        conv_layer *conv;
        module_layer(m, nm, &lin, &conv);
        CHECK(lin || conv, "bake: no layer for %s", nm->name);
        if (!lin && !conv)
            continue;
        float *w = (float *)(lin ? lin->weight : conv->weight), *bias = (float *)(lin ? lin->bias : conv->bias);
        int out = lin ? lin->out : conv->out;
        size_t cols = lin ? (size_t)lin->in : (size_t)conv->in * conv->kernel * conv->kernel;
        float *d = gc_zalloc((size_t)out * cols);
        if (a->kind == LORA_KIND_LORA) {
            for (int o = 0; o < out; o++)
                for (size_t j = 0; j < cols; j++) {
                    double s = 0.0;
                    for (int r = 0; r < a->rank; r++)
                        s += (double)a->up[(size_t)o * a->rank + r] * a->down[(size_t)r * cols + j];
                    d[(size_t)o * cols + j] = (float)s;
                }
        } else {
            size_t nw = lora_delta_work_floats(a, out, cols);
            float *work = gc_zalloc(nw ? nw : 1);
            lora_delta_build(a, w, d, out, cols, work);
            free(work);
        }
        for (size_t j = 0; j < (size_t)out * cols; j++)
            w[j] += a->scale * d[j];
        if (a->kind == LORA_KIND_FULL && a->w[1] && bias)   /* the trained bias (layers.h) */
            for (int o = 0; o < out; o++)
                bias[o] += a->scale * (a->w[1][o] - bias[o]);
        free(d);
    }
}

/* LyCORIS' full adds its diff to whatever weight it is given (AUTOMATIC1111, ComfyUI); the
 * attached network holds the trained weight itself, so it moves by what bake changed (orig_*:
 * the parameters before). */
static void rebase_full(sd_model *m, lora_network *n, const float *orig_u, const float *orig_c)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *nm = &n->mods[i];
        lora_adapter *a = &nm->adapter;
        linear_layer *lin;
        conv_layer *conv;
        module_layer(m, nm, &lin, &conv);
        if (a->kind != LORA_KIND_FULL || (!lin && !conv))
            continue;
        const float *w = lin ? lin->weight : conv->weight, *bias = lin ? lin->bias : conv->bias;
        const float *base = nm->te ? m->te[nm->te - 1].params : m->unet.params, *orig = nm->te ? orig_c : orig_u;
        size_t nw = (size_t)nm->out * nm->in * nm->kernel * nm->kernel;
        for (size_t j = 0; j < nw; j++)
            a->w[0][j] += w[j] - orig[(w - base) + (ptrdiff_t)j];
        for (int o = 0; a->w[1] && bias && o < nm->out; o++)
            a->w[1][o] += bias[o] - orig[(bias - base) + o];
    }
}

static void check_pair(sd_model *m, const char *first, const char *second, const float *base_u,
                       const float *base_c)
{
    (void)base_u;
    char p1[] = "/tmp/test_lora_apply_a_XXXXXX", p2[] = "/tmp/test_lora_apply_b_XXXXXX";
    int f1 = mkstemp(p1), f2 = mkstemp(p2);
    if (f1 >= 0)
        close(f1);
    if (f2 >= 0)
        close(f2);
    const acase *c1 = &cases[find_case(first)], *c2 = &cases[find_case(second)];
    lora_network n1, n2;
    char what[160];
    snprintf(what, sizeof what, "%s, then %s", c1->name, c2->name);
    if (make_network(m, c1, 21, &n1, p1) != 0)
        return;
    if (make_network(m, c2, 22, &n2, p2) != 0) {
        network_free(&n1);
        return;
    }
    size_t nu = unet_out_floats(), nc = clip_out_floats(m);
    size_t up = m->unet.n_params, cp = clip_param_floats(&m->te[0].cfg);
    float *save_u = malloc(up * sizeof(float)), *save_c = malloc(cp * sizeof(float));
    memcpy(save_u, m->unet.params, up * sizeof(float));
    memcpy(save_c, m->te[0].params, cp * sizeof(float));
    float *ru = malloc(nu * sizeof *ru), *rc_ = malloc(nc * sizeof *rc_);
    float *au = malloc(nu * sizeof *au), *ac = malloc(nc * sizeof *ac);
    bake(m, &n1);
    rebase_full(m, &n2, save_u, save_c);
    int ok = run_attached(m, &n2, ru, rc_) == 0;
    memcpy(m->unet.params, save_u, up * sizeof(float));
    memcpy(m->te[0].params, save_c, cp * sizeof(float));
    const char *paths[2] = {p1, p2};
    const float weights[2] = {c1->weight, c2->weight};
    size_t shared = 0;   /* layers both touch are one adapter */
    for (size_t i = 0; i < n1.n_mods; i++)
        for (size_t j = 0; j < n2.n_mods; j++)
            shared += strcmp(n1.mods[i].name, n2.mods[j].name) == 0;
    CHECK(shared > 0, "%s: no layer in common", what);
    if (ok && run_applied(m, paths, weights, 2, n1.n_mods + n2.n_mods, au, ac, what) == 0) {
        double eu = fixture_rel_err(au, ru, nu), ec = fixture_rel_err(ac, rc_, nc), dc = fixture_rel_err(rc_, base_c, nc);
        printf("%-40s %4zu layers in common     U-Net %.2e  CLIP %.2e\n", what, shared, eu, ec);
        worst_seen = fmax(worst_seen, fmax(eu, ec));
        CHECK(eu < 1e-5, "%s: U-Net output off by %.3g relative", what, eu);
        CHECK(ec < 1e-5, "%s: CLIP output off by %.3g relative", what, ec);
        CHECK(dc > 1e-3, "%s: the networks barely change CLIP (%.3g)", what, dc);
    }
    free(save_u);
    free(save_c);
    free(ru);
    free(rc_);
    free(au);
    free(ac);
    network_free(&n1);
    network_free(&n2);
    remove(p1);
    remove(p2);
}

/* ---- refusals ---- */

typedef struct tdesc {
    const char *suffix;   /* after "<module>." */
    int ndim;
    int64_t shape[4];
} tdesc;

static float zeros[1 << 14];

/* A file of one module's tensors (all zero). */
static int write_module(const char *path, const char *module, const tdesc *t, int nt)
{
    error_info err = {0};
    safetensors_writer *w = safetensors_writer_new();
    int rc = w ? 0 : -1;
    for (int i = 0; rc == 0 && i < nt; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s.%s", module, t[i].suffix);
        rc = safetensors_writer_add(w, name, DTYPE_F32, t[i].ndim, t[i].shape, zeros, &err);
    }
    if (rc == 0)
        rc = safetensors_write(path, w, &err);
    safetensors_writer_free(w);
    CHECK(rc == 0, "writing %s: %s", path, err.message);
    return rc;
}

/* The file must be refused with err.key containing `key` and the message `phrase`. */
static void refused(sd_model *m, const char *path, const char *what, const char *key, const char *phrase)
{
    error_info err = {0};
    lora_apply la = {0};
    int rc = lora_apply_add(&la, m, path, 1.0f, &err);
    char msg[2048];
    error_format(&err, msg, sizeof msg);
    printf("refused: %-36s %s\n", what, rc < 0 ? msg : "(accepted)");
    CHECK(rc < 0, "%s: accepted", what);
    CHECK(rc >= 0 || strstr(err.key, key), "%s: the error names %s, not %s", what, err.key, key);
    CHECK(rc >= 0 || strstr(err.message, phrase), "%s: \"%s\" lacks \"%s\"", what, err.message, phrase);
    lora_apply_free(&la, m);
}

static void check_refusals(sd_model *m)
{
    /* a Linear without bias (attn1 to_q), a 3x3 conv, a text-encoder Linear with bias */
    const unet_lora_point *q = NULL, *cv = NULL;
    for (size_t i = 0; i < m->unet.n_points; i++) {
        const unet_lora_point *p = &m->unet.points[i];
        if (!q && p->linear && strstr(p->name, "attn1_to_q"))
            q = p;
        if (!cv && p->conv && p->kernel == 3)
            cv = p;
    }
    CHECK(q && cv && !q->linear->bias, "test layers");
    if (!q || !cv)
        return;
    const char *te = "lora_te_text_model_encoder_layers_0_self_attn_q_proj";   /* 32 → 32 */
    int64_t qi = q->in, qo = q->out, ci = cv->in, co = cv->out;
    char path[] = "/tmp/test_lora_apply_bad_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
    struct {
        const char *what, *module, *key, *phrase;
        tdesc t[6];
        int nt;
    } bad[] = {
        {"Tucker LoRA mid of another kernel", cv->name, "lora_mid.weight", "does not fit",
         {{"lora_down.weight", 4, {4, ci, 1, 1}}, {"lora_mid.weight", 4, {4, 4, 1, 1}},
          {"lora_up.weight", 4, {co, 4, 1, 1}}}, 3},
        {"Tucker LoRA down 3x3", cv->name, "lora_down.weight", "does not fit",
         {{"lora_down.weight", 4, {4, ci, 3, 3}}, {"lora_mid.weight", 4, {4, 4, 3, 3}},
          {"lora_up.weight", 4, {co, 4, 1, 1}}}, 3},
        {"Tucker LoRA on a Linear", q->name, "lora_mid.weight", "does not fit",
         {{"lora_down.weight", 2, {4, qi}}, {"lora_mid.weight", 4, {4, 4, 1, 1}}, {"lora_up.weight", 2, {qo, 4}}},
         3},
        {"Tucker LoHa without hada_t2", cv->name, cv->name, "without hada_t2",
         {{"hada_w1_a", 2, {4, co}}, {"hada_w1_b", 2, {4, ci}}, {"hada_t1", 4, {4, 4, 3, 3}},
          {"hada_w2_a", 2, {4, co}}, {"hada_w2_b", 2, {4, ci}}}, 5},
        {"Tucker LoHa core rank differs", cv->name, "hada_t2", "does not fit",
         {{"hada_w1_a", 2, {4, co}}, {"hada_w1_b", 2, {4, ci}}, {"hada_t1", 4, {4, 4, 3, 3}},
          {"hada_w2_a", 2, {4, co}}, {"hada_w2_b", 2, {4, ci}}, {"hada_t2", 4, {2, 2, 3, 3}}}, 6},
        {"Tucker LoKr core of W1", cv->name, "lokr_t1", "lokr_t1",
         {{"lokr_w1", 2, {2, 2}}, {"lokr_t1", 4, {4, 4, 3, 3}}, {"lokr_w2_a", 2, {4, co / 2}},
          {"lokr_w2_b", 2, {4, ci / 2}}, {"lokr_t2", 4, {4, 4, 3, 3}}}, 5},
        {"Tucker LoKr w2_b of another d", cv->name, "lokr_w2", "does not fit",
         {{"lokr_w1", 2, {2, 2}}, {"lokr_w2_a", 2, {4, co / 2}}, {"lokr_w2_b", 2, {4, ci / 2 + 1}},
          {"lokr_t2", 4, {4, 4, 3, 3}}}, 4},
        {"DoRA scale too short", q->name, "dora_scale", "does not fit",
         {{"lora_down.weight", 2, {4, qi}}, {"lora_up.weight", 2, {qo, 4}}, {"dora_scale", 2, {qo - 1, 1}}}, 3},
        {"DoRA beside iA3", q->name, "dora_scale", "LoCon, LoHa and LoKr only",
         {{"weight", 1, {qo}}, {"on_input", 0, {0}}, {"dora_scale", 2, {qo, 1}}}, 3},
        {"LoRA and LoHa keys mixed", q->name, q->name, "two algorithms",
         {{"lora_down.weight", 2, {4, qi}}, {"lora_up.weight", 2, {qo, 4}}, {"hada_w1_a", 2, {qo, 4}}}, 3},
        {"LoRA without lora_up", q->name, q->name, "without lora_up.weight",
         {{"lora_down.weight", 2, {4, qi}}, {"alpha", 0, {0}}}, 2},
        {"LoRA down too wide", q->name, "lora_down.weight", "does not fit",
         {{"lora_down.weight", 2, {4, qi + 1}}, {"lora_up.weight", 2, {qo, 4}}}, 2},
        {"LoRA conv down 1x1 on a 3x3", cv->name, "lora_down.weight", "does not fit",
         {{"lora_down.weight", 4, {4, ci, 1, 1}}, {"lora_up.weight", 4, {co, 4, 1, 1}}}, 2},
        {"LoHa ranks differ", q->name, "hada_w2_a", "does not fit",
         {{"hada_w1_a", 2, {qo, 4}}, {"hada_w1_b", 2, {4, qi}}, {"hada_w2_a", 2, {qo, 2}},
          {"hada_w2_b", 2, {2, qi}}}, 4},
        {"LoHa without hada_w2_b", q->name, q->name, "without hada_w2_b",
         {{"hada_w1_a", 2, {qo, 4}}, {"hada_w1_b", 2, {4, qi}}, {"hada_w2_a", 2, {qo, 4}}}, 3},
        {"LoKr kron of the wrong size", q->name, "lokr_w2", "kron(W1",
         {{"lokr_w1", 2, {2, 2}}, {"lokr_w2", 2, {qo / 2 + 1, qi / 2}}}, 2},
        {"LoKr w2 kernel differs", cv->name, "lokr_w2", "does not fit",
         {{"lokr_w1", 2, {2, 2}}, {"lokr_w2", 4, {co / 2, ci / 2 * 9, 1, 1}}}, 2},
        {"LoKr without w1", q->name, q->name, "lokr_w1_a",
         {{"lokr_w1_a", 2, {2, 1}}, {"lokr_w2", 2, {qo / 2, qi / 2}}}, 2},
        {"iA3 of the wrong size", q->name, ".weight", "does not fit",
         {{"weight", 1, {qo + 1}}, {"on_input", 0, {0}}}, 2},
        {"iA3 without weight", q->name, q->name, "without weight", {{"on_input", 0, {0}}}, 1},
        {"full diff of the wrong shape", q->name, "diff", "does not fit", {{"diff", 2, {qo, qi + 1}}}, 1},
        {"full diff_b without a bias", q->name, "diff_b", "without bias",
         {{"diff", 2, {qo, qi}}, {"diff_b", 1, {qo}}}, 2},
        {"GLoRA a1 of the wrong shape", te, "a1.weight", "does not fit",
         {{"a1.weight", 2, {33, 4}}, {"a2.weight", 2, {4, 32}}, {"b1.weight", 2, {32, 4}},
          {"b2.weight", 2, {4, 32}}}, 4},
        {"GLoRA b2 rank differs", te, "b2.weight", "does not fit",
         {{"a1.weight", 2, {32, 4}}, {"a2.weight", 2, {4, 32}}, {"b1.weight", 2, {32, 4}},
          {"b2.weight", 2, {2, 32}}}, 4},
        {"Diag-OFT blocks not covering out", te, "oft_blocks", "does not fit",
         {{"oft_blocks", 3, {3, 8, 8}}, {"alpha", 0, {0}}}, 2},
        {"Diag-OFT blocks not square", te, "oft_blocks", "does not fit", {{"oft_blocks", 3, {4, 8, 4}}}, 1},
        {"OFT blocks 2-D", te, "oft_blocks", "does not fit", {{"oft_blocks", 2, {4, 64}}}, 1},
        {"BOFT too many stages", te, "oft_blocks", "does not fit", {{"oft_blocks", 4, {4, 4, 8, 8}}}, 1},
        {"BOFT odd blocks", te, "oft_blocks", "does not fit", {{"oft_blocks", 4, {1, 32, 1, 1}}}, 1},
        {"OFT rescale of the wrong size", te, "rescale", "does not fit",
         {{"oft_blocks", 3, {4, 8, 8}}, {"rescale", 2, {16, 1}}}, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (write_module(path, bad[i].module, bad[i].t, bad[i].nt) == 0)
            refused(m, path, bad[i].what, bad[i].key, bad[i].phrase);

    /* what is accepted: a valid BOFT of two stages, a whole LoKr w2 stored 4-D on a conv, and
     * keys of no algorithm counted as unmatched */
    error_info err = {0};
    lora_apply la = {0};
    tdesc boft[1] = {{"oft_blocks", 4, {3, 4, 8, 8}}};
    CHECK(write_module(path, te, boft, 1) == 0 && lora_apply_add(&la, m, path, 1.0f, &err) == 1,
          "BOFT [3, 4, 8, 8] on out 32: %s", err.message);
    lora_apply_free(&la, m);
    tdesc lokr4[2] = {{"lokr_w1", 2, {2, 2}}, {"lokr_w2", 4, {co / 2, ci / 2, 3, 3}}};
    CHECK(write_module(path, cv->name, lokr4, 2) == 0 && lora_apply_add(&la, m, path, 1.0f, &err) == 1,
          "LoKr w2 [b, d, 3, 3]: %s", err.message);
    lora_apply_free(&la, m);
    tdesc odd[3] = {{"lora_down.weight", 2, {4, qi}}, {"lora_up.weight", 2, {qo, 4}}, {"w_unknown", 1, {qo}}};
    int k = write_module(path, q->name, odd, 3) == 0 ? lora_apply_add(&la, m, path, 1.0f, &err) : -1;
    CHECK(k == 1 && la.unmatched == 0 && la.ignored == 1 && strstr(la.ignored_names, "w_unknown"),
          "an unknown key is ignored and counted: %d applied, %zu unmatched, %zu ignored (%s)", k, la.unmatched,
          la.ignored, la.ignored_names);
    lora_apply_free(&la, m);
    remove(path);
}

/* A DoRA file decomposes the layer's whole weight: no second file on its layers, and weight 1
 * only. */
static void dora_refusals(sd_model *m, const char *tmp)
{
    const acase *c = &cases[find_case("LoCon + DoRA")];
    lora_network n;
    if (make_network(m, c, 31, &n, tmp) != 0)
        return;
    network_free(&n);
    error_info err = {0};
    lora_apply la = {0};
    CHECK(lora_apply_add(&la, m, tmp, 1.0f, &err) > 0, "DoRA file: %s", err.message);
    CHECK(lora_apply_add(&la, m, tmp, 1.0f, &err) < 0 && strstr(err.message, "cannot share"),
          "a second file on a DoRA layer: %s", err.message);
    lora_apply_free(&la, m);
    lora_apply la2 = {0};
    CHECK(lora_apply_add(&la2, m, tmp, 0.5f, &err) < 0 && strstr(err.message, "weight 1 only"),
          "a DoRA file at weight 0.5: %s", err.message);
    lora_apply_free(&la2, m);
    printf("refused: a second file on DoRA layers, a DoRA file at weight 0.5\n");
}

/* A train_norm file points the U-Net's norm layers at their new weights; freeing it (two files
 * stacked) puts the original ones back. */
static void norm_restore(sd_model *m, const char *tmp)
{
    const acase *c = &cases[find_case("LoCon + train_norm")];
    lora_network n;
    if (make_network(m, c, 41, &n, tmp) != 0)
        return;
    network_free(&n);
    size_t np = m->unet.n_norm_points;
    const float **orig = malloc(np * sizeof *orig);
    for (size_t i = 0; i < np; i++)
        orig[i] = *m->unet.norm_points[i].weight;
    error_info err = {0};
    lora_apply la = {0};
    CHECK(lora_apply_add(&la, m, tmp, 1.0f, &err) > 0 && lora_apply_add(&la, m, tmp, 0.5f, &err) > 0,
          "train_norm file twice: %s", err.message);
    size_t moved = 0, back = 0;
    for (size_t i = 0; i < np; i++)
        moved += *m->unet.norm_points[i].weight != orig[i];
    lora_apply_free(&la, m);
    for (size_t i = 0; i < np; i++)
        back += *m->unet.norm_points[i].weight == orig[i];
    CHECK(moved == np && back == np, "train_norm: %zu of %zu norms moved, %zu restored", moved, np, back);
    printf("train_norm file: %zu norm layers changed and restored\n", np);
    free(orig);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/pipeline-sd1", top ? top : ".");
    error_info err = {0};
    sd_model *m = NULL;
    if (sd_model_new(dir, &m, &err) != 0 || sd_model_init_random(m, 5, &err) != 0) {
        fprintf(stderr, "FAIL tiny SD1 model: %s\n", err.message);
        return 1;
    }
    uint64_t st = 99;
    gc_fill_uniform(sample_in, sizeof sample_in / sizeof sample_in[0], &st, -1.0f, 1.0f);
    gc_fill_uniform(context, sizeof context / sizeof context[0], &st, -1.0f, 1.0f);
    for (int i = 0; i < B * CT; i++)
        ids[i] = (int32_t)((i * 7919 + 13) % m->te[0].cfg.vocab_size);
    size_t nu = unet_out_floats(), nc = clip_out_floats(m);
    float *base_u = malloc(nu * sizeof *base_u), *base_c = malloc(nc * sizeof *base_c);
    char tmp[] = "/tmp/test_lora_apply_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0)
        close(fd);
    if (run(m, base_u, base_c) == 0) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            check_case(m, &cases[i], base_u, base_c, tmp);
        check_pair(m, "LoCon", "LoCon weight 0.5", base_u, base_c);
        check_pair(m, "LoHa", "iA3 (on_input MLPs)", base_u, base_c);
        check_pair(m, "full", "Diag-OFT (constraint, rescaled)", base_u, base_c);
        check_pair(m, "GLoRA", "LoCon", base_u, base_c);
        check_pair(m, "LoCon", "full", base_u, base_c);
        printf("worst relative difference: %.2e\n", worst_seen);
        check_refusals(m);
        dora_refusals(m, tmp);
        norm_restore(m, tmp);
    }
    remove(tmp);
    free(base_u);
    free(base_c);
    sd_model_free(m);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
