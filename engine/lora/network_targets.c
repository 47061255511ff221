/* network_targets.c — which injection points a network trains and at which rank: sd-scripts'
 * networks.lora rules (Transformer2DModel children; ResNet / sampler children with conv_dim;
 * block_dims and friends; networks.lora_fa has the same, networks.dylora the same without
 * block arguments and with conv_dim = network_dim), its SDXL-only networks.loha /
 * networks.lokr (same targets), and LyCORIS' lycoris.kohya presets (lycoris/config.py PRESET)
 * mapped onto our points. See network.h and network_internal.h. */
#include "engine/lora/network_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void network_options_init(network_options *o)
{
    memset(o, 0, sizeof *o);
    o->dim = 4;
    o->alpha = 1.0f;
    o->conv_alpha = 1.0f;
    o->multiplier = 1.0f;
    o->train_unet = o->train_te = 1;
}

/* LyCORIS' algo= names (the modules' `name` in lycoris/modules) and our kinds; lora/locon is the
 * LoRA kind. */
static const struct {
    const char *name;
    lora_kind kind;
} lycoris_algos[] = {
    {"loha", LORA_KIND_LOHA}, {"lokr", LORA_KIND_LOKR}, {"ia3", LORA_KIND_IA3},
    {"full", LORA_KIND_FULL}, {"glora", LORA_KIND_GLORA}, {"diag-oft", LORA_KIND_DIAG_OFT},
    {"boft", LORA_KIND_BOFT},
};

/* the value sd-scripts' dict holds for key: the last one given; NULL when absent */
static const char *arg_value(const char *const *keys, const char *const *values, size_t n, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i], key))
            v = values[i];
    return v;
}

static int str_bool(const char *v)
{
    return strcasecmp(v, "false") != 0;
}

int network_lycoris_use_tucker(const char *const *keys, const char *const *values, size_t n)
{
    static const char *const aliases[] = {"disable_conv_cp", "use_cp", "use_conv_cp"};
    /* kwargs[use_tucker] = the value of the alias that comes last in the dict's order (where
     * each key was first given) */
    const char *tucker = arg_value(keys, values, n, "use_tucker");
    size_t last = 0;
    for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(keys[i], aliases[a])) {
                if (i + 1 > last) {
                    last = i + 1;
                    tucker = arg_value(keys, values, n, aliases[a]);
                }
                break;
            }
    const char *disable = arg_value(keys, values, n, "disable_conv_cp");
    if (disable && !disable[0])
        return 1;   /* not "" is True */
    const char *conv_cp = arg_value(keys, values, n, "use_conv_cp");
    if (conv_cp && conv_cp[0])
        return str_bool(conv_cp);
    const char *cp = arg_value(keys, values, n, "use_cp");
    if (cp && cp[0])
        return str_bool(cp);
    return tucker ? str_bool(tucker) : 0;
}

int network_options_set_module(network_options *o, const char *module, const char *algo,
                               error_info *err)
{
    o->lycoris = 0;
    o->lora_fa = 0;
    o->dylora_unit = 0;
    o->algo = LORA_KIND_LORA;
    if (!module || !strcmp(module, "networks.lora"))
        return 0;
    if (!strcmp(module, "networks.lora_fa")) {
        o->lora_fa = 1;
        return 0;
    }
    if (!strcmp(module, "networks.dylora")) {
        o->dylora_unit = 1;   /* dylora.py: unit None → 1 */
        return 0;
    }
    if (!strcmp(module, "networks.loha")) {
        o->algo = LORA_KIND_LOHA;
        return 0;
    }
    if (!strcmp(module, "networks.lokr")) {
        o->algo = LORA_KIND_LOKR;
        return 0;
    }
    if (strcmp(module, "lycoris.kohya") != 0)
        return error_set(err, NULL, 0, 0, "network_module",
                         "%s is not supported (networks.lora, networks.lora_fa, networks.dylora, "
                         "networks.loha, networks.lokr and lycoris.kohya with algo "
                         "lora/locon/loha/lokr are)", module);
    o->lycoris = 1;
    if (!algo || !*algo || !strcmp(algo, "lora") || !strcmp(algo, "locon"))
        return 0;
    if (!strcmp(algo, "dylora")) {
        o->dylora_unit = 4;   /* LyCORIS' block_size: None → 4 */
        return 0;
    }
    for (size_t i = 0; i < sizeof lycoris_algos / sizeof lycoris_algos[0]; i++)
        if (!strcmp(algo, lycoris_algos[i].name)) {
            o->algo = lycoris_algos[i].kind;
            return 0;
        }
    return error_set(err, NULL, 0, 0, "algo", "LyCORIS algo %s is not supported yet (lora/locon, "
                     "loha, lokr, ia3, full, glora, diag-oft, boft and dylora are)", algo);
}

const char *network_module_name(const network_options *o)
{
    if (o->lycoris)
        return "lycoris.kohya";
    if (o->lora_fa)
        return "networks.lora_fa";
    if (o->dylora_unit)
        return "networks.dylora";
    return o->algo == LORA_KIND_LOHA ? "networks.loha"
         : o->algo == LORA_KIND_LOKR ? "networks.lokr" : "networks.lora";
}

const char *network_algo_name(const network_options *o)
{
    if (o->dylora_unit)
        return "dylora";
    for (size_t i = 0; i < sizeof lycoris_algos / sizeof lycoris_algos[0]; i++)
        if (o->algo == (int)lycoris_algos[i].kind)
            return lycoris_algos[i].name;
    return "locon";
}

/* ---- LyCORIS presets ---- */

typedef struct preset_rule {
    const char *name;
    int transformer;   /* Transformer2DModel children */
    int attn_only;     /* only CrossAttention children (attn1/attn2 to_q/k/v/out) */
    int conv_blocks;   /* ResnetBlock2D / Downsample2D / Upsample2D children */
    int conv_io;       /* unet_target_name conv_in, conv_out (SD1/2 names) */
    int time_emb;      /* unet_target_name time_embedding.linear_1/2 (SD1/2 names) */
    int te;            /* CLIPAttention + CLIPMLP (attn_only: CLIPAttention) */
    int enable_conv;   /* 3x3 convs get conv_dim; otherwise none */
} preset_rule;

static const preset_rule presets[] = {
    {"full", 1, 0, 1, 1, 1, 1, 1},
    {"full-lin", 1, 0, 1, 0, 1, 1, 0},
    {"attn-mlp", 1, 0, 0, 0, 0, 1, 0},
    {"attn-only", 1, 1, 0, 0, 0, 1, 0},
    {"unet-only", 1, 0, 1, 1, 1, 0, 1},
    {"unet-transformer-only", 1, 0, 0, 0, 0, 0, 0},
    {"unet-convblock-only", 0, 0, 1, 1, 0, 0, 1},
};

static int find_preset(const char *name, preset_rule *out, error_info *err)
{
    if (!name || !*name)
        name = "full";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) {
            *out = presets[i];
            return 0;
        }
    /* LyCORIS matches unet_target_name with re.match from the start of the module path, so
     * "to_k", "to_v", "ff.net.2", "k_proj" ... name no module of an SD U-Net or CLIP */
    if (!strcmp(name, "ia3"))
        return error_set(err, NULL, 0, 0, "preset", "the ia3 preset is for LyCORIS/iA3 (LyCORIS "
                         "matches its names from the start of the module path, so with other "
                         "algorithms it selects nothing and sd-scripts would train nothing)");
    return error_set(err, NULL, 0, 0, "preset", "LyCORIS preset \"%s\" is not supported (preset "
                     ".toml files are not read yet; use full, full-lin, attn-mlp, attn-only, "
                     "unet-only, unet-transformer-only or unet-convblock-only)", name);
}

/* ---- iA3 ----
 * LyCORIS 2's IA3Network trained the modules whose path contains to_k, to_v or ff.net.2 (U-Net)
 * and k_proj, v_proj or mlp.fc2 (text encoders), whatever the preset; LyCORIS 3 moved them to
 * its ia3 preset (with train_on_input on the two feed-forward ones, the iA3 paper's design) but
 * matches that preset's names from the start of the module path, so it selects nothing, and
 * its network_module_dict lost "ia3" (create_network raises KeyError). loratty trains the
 * targets both versions mean. */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int network_ia3_target(const char *name)
{
    if (ends_with(name, "_ff_net_2") || ends_with(name, "_mlp_fc2"))
        return 2;
    return ends_with(name, "_to_k") || ends_with(name, "_to_v") || ends_with(name, "_k_proj") ||
           ends_with(name, "_v_proj");
}

/* ---- block dims (sd-scripts get_block_dims_and_alphas) ---- */

static int parse_block_list(const char *what, const char *text, int want, float *out, int ints,
                            error_info *err)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        char *end;
        float v = strtof(p, &end);
        if (end == p || (ints && v != (float)(long)v))
            return error_set(err, NULL, 0, 0, what, "not a comma list of %s: %s",
                             ints ? "integers" : "numbers", text);
        if (n < NETWORK_MAX_BLOCKS)
            out[n] = v;
        n++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return error_set(err, NULL, 0, 0, what, "not a comma list of numbers: %s", text);
    }
    if (n != want)
        return error_set(err, NULL, 0, 0, what, "needs %d comma-separated values (%s), got %d",
                         want, want == 25 ? "SD 1.x/2.x: 12 down, 1 mid, 12 up"
                                          : "SDXL: 1 embedding, 9 input, 3 middle, 9 output, 1 out", n);
    return 0;
}

static int given(const char *s)
{
    return s && *s;
}

typedef struct rules {
    const network_options *o;
    int lycoris;
    preset_rule preset;
    int conv_dim;          /* 0: no 3x3 convs */
    float conv_alpha;
    int conv_targets;      /* sd-scripts: the ResNet / sampler children are targets */
    int blocks;            /* sd-scripts block mode */
    float dims[NETWORK_MAX_BLOCKS], alphas[NETWORK_MAX_BLOCKS];
    float cdims[NETWORK_MAX_BLOCKS], calphas[NETWORK_MAX_BLOCKS];
    int has_cdims;
} rules;

static int block_rules(rules *r, const network_options *o, int sdxl, error_info *err)
{
    int nb = sdxl ? 23 : 25;
    int any_str = given(o->block_dims) || given(o->block_alphas) || given(o->conv_block_dims) ||
                  given(o->conv_block_alphas);
    if (any_str && (o->lycoris || o->algo != LORA_KIND_LORA))
        return error_set(err, NULL, 0, 0, "block_dims", "block_dims, block_alphas and conv_block_* "
                         "are sd-scripts networks.lora arguments; %s does not take them",
                         network_module_name(o));
    if (o->lycoris || o->algo != LORA_KIND_LORA || (!given(o->block_dims) && o->n_block_lr <= 0))
        return 0;
    if (o->n_block_lr > 0 && o->n_block_lr != nb)
        return error_set(err, NULL, 0, 0, "down_lr_weight", "%d block lr weights for a U-Net of %d "
                         "blocks", o->n_block_lr, nb);
    r->blocks = 1;
    for (int i = 0; i < nb; i++) {
        r->dims[i] = (float)o->dim;
        r->alphas[i] = o->alpha;
    }
    if (given(o->block_dims) && parse_block_list("block_dims", o->block_dims, nb, r->dims, 1, err))
        return -1;
    if (given(o->block_alphas) && parse_block_list("block_alphas", o->block_alphas, nb, r->alphas, 0, err))
        return -1;
    if (given(o->conv_block_dims)) {
        r->has_cdims = 1;
        if (parse_block_list("conv_block_dims", o->conv_block_dims, nb, r->cdims, 1, err))
            return -1;
        for (int i = 0; i < nb; i++)
            r->calphas[i] = o->conv_alpha;
        if (given(o->conv_block_alphas) &&
            parse_block_list("conv_block_alphas", o->conv_block_alphas, nb, r->calphas, 0, err))
            return -1;
    } else if (o->conv_dim > 0) {
        r->has_cdims = 1;
        for (int i = 0; i < nb; i++)
            r->cdims[i] = (float)o->conv_dim, r->calphas[i] = o->conv_alpha;
    }
    /* remove_block_dims_and_alphas: no lr, no module */
    for (int i = 0; i < nb && i < o->n_block_lr; i++)
        if (o->block_lr[i] == 0.0f) {
            r->dims[i] = 0.0f;
            r->cdims[i] = 0.0f;
        }
    r->conv_targets = r->has_cdims;
    return 0;
}

/* A candidate injection point. */
typedef struct cand {
    const char *name;
    int te, conv, in, out, kernel;
    int conv_block;   /* ResNet / sampler child */
    int extra;        /* 1 conv_in / conv_out, 2 time_embedding (LyCORIS unet_target_name) */
    const float *weight, *bias;   /* the layer's */
} cand;

/* Whether the candidate gets a module, and its rank / alpha. */
static int decide(const rules *r, const cand *c, int *rank, float *alpha)
{
    const network_options *o = r->o;
    int small = !c->conv || c->kernel == 1;   /* Linear or 1x1: network_dim */
    if (r->lycoris && o->algo == LORA_KIND_IA3) {
        *rank = o->dim, *alpha = o->alpha;
        return !c->extra && network_ia3_target(c->name) != 0;
    }
    if (r->lycoris) {
        const preset_rule *p = &r->preset;
        if (c->te) {
            if (!p->te || (p->attn_only && !strstr(c->name, "_self_attn_")))
                return 0;
        } else if (c->extra == 1 ? !p->conv_io : c->extra == 2 ? !p->time_emb
                   : c->conv_block ? !p->conv_blocks : !p->transformer)
            return 0;
        if (!c->te && p->attn_only && !c->extra && !strstr(c->name, "_attn1_") && !strstr(c->name, "_attn2_"))
            return 0;
        if (small) {
            *rank = o->dim, *alpha = o->alpha;
            return 1;
        }
        if (!p->enable_conv)
            return 0;
        *rank = r->conv_dim, *alpha = r->conv_alpha;
        return 1;
    }
    if (c->extra)
        return 0;
    if (!c->te && r->blocks) {
        if (c->conv_block && !r->conv_targets)
            return 0;
        int b = network_block_index(c->name);
        if (b < 0 || b >= NETWORK_MAX_BLOCKS)
            return 0;
        if (small)
            *rank = (int)r->dims[b], *alpha = r->alphas[b];
        else
            *rank = (int)r->cdims[b], *alpha = r->calphas[b];
        return *rank > 0;
    }
    if (c->conv_block && !r->conv_targets)
        return 0;
    if (small) {
        *rank = o->dim, *alpha = o->alpha;
        return 1;
    }
    if (!r->conv_dim)
        return 0;
    *rank = r->conv_dim, *alpha = r->conv_alpha;
    return 1;
}

static int add_module(lora_network *n, size_t *cap, const cand *c, int kind, int rank, float alpha,
                      error_info *err)
{
    if (n->n_mods == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        network_module *m = realloc(n->mods, nc * sizeof *m);
        if (!m)
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the LoRA modules");
        n->mods = m;
        *cap = nc;
    }
    network_module *m = &n->mods[n->n_mods++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", c->name);
    m->te = c->te;
    m->conv = c->conv;
    m->in = c->in;
    m->out = c->out;
    m->kernel = c->kernel;
    m->has_bias = c->bias != NULL;
    m->base_weight = c->weight;
    m->base_bias = c->bias;
    m->rank = rank;
    m->alpha = network_alpha_or_rank(alpha, rank);   /* sd-scripts and LyCORIS: 0 → dim */
    m->adapter.kind = (lora_kind)kind;
    m->unet_point = SIZE_MAX;
    return 0;
}

/* LyCORIS' use_tucker: its LoCon (not DyLoRA, which ignores it), LoHa and LoKr split a k×k
 * convolution with k > 1 (LoKr only where W2 is low-rank, see lokr_shapes); from a file
 * (dim_from_weights) a module has Tucker factors where the file has its core, as LyCORIS'
 * make_module_from_state_dict decides. */
static int module_tucker(const rules *r, const network_module *m, const safetensors_file *wf)
{
    lora_kind kind = m->adapter.kind;
    if (!r->lycoris || !m->conv || m->kernel == 1 || r->o->dylora_unit ||
        (kind != LORA_KIND_LORA && kind != LORA_KIND_LOHA && kind != LORA_KIND_LOKR))
        return 0;
    if (!wf)
        return r->o->use_tucker != 0;
    char key[192];
    snprintf(key, sizeof key, "%s.%s", m->name, kind == LORA_KIND_LORA ? "lora_mid.weight"
                                                : kind == LORA_KIND_LOHA ? "hada_t1" : "lokr_t2");
    return safetensors_find(wf, key) != NULL;
}

static int dims_of(const safetensors_tensor *t, int d)
{
    return t && (int)t->ndim > d ? (int)t->shape[d] : 0;
}

/* Rank and alpha of a file module, when continuing from a file with dim_from_weights:
 * 1 found, 0 not in the file, −1 error. */
static int file_rank(const safetensors_file *f, const char *name, int kind, int *rank, float *alpha,
                     error_info *err)
{
    char key[192];
    const safetensors_tensor *t;
    int r = 0, found = 0;
#define FIND(suffix) (snprintf(key, sizeof key, "%s.%s", name, suffix), safetensors_find(f, key))
    if (kind == LORA_KIND_LOHA) {
        t = FIND("hada_w1_b");
        r = dims_of(t, 0), found = t != NULL;
    } else if (kind == LORA_KIND_LOKR) {
        /* the rank is the inner size of a decomposed factor; full w1 and w2 keep network_dim */
        const safetensors_tensor *w1b = FIND("lokr_w1_b"), *w2b = FIND("lokr_w2_b");
        found = w1b || w2b || FIND("lokr_w1") || FIND("lokr_w2");
        r = w2b ? dims_of(w2b, 0) : w1b ? dims_of(w1b, 0) : *rank;
    } else if (kind == LORA_KIND_GLORA) {
        t = FIND("a2.weight");
        r = dims_of(t, 0), found = t != NULL;
    } else if (kind == LORA_KIND_DIAG_OFT || kind == LORA_KIND_BOFT) {
        /* LyCORIS rebuilds an OFT module from a file with lora_dim = the block size */
        t = FIND("oft_blocks");
        r = t ? dims_of(t, (int)t->ndim - 1) : 0, found = t != NULL;
    } else if (kind == LORA_KIND_IA3 || kind == LORA_KIND_FULL) {
        found = FIND(kind == LORA_KIND_IA3 ? "weight" : "diff") != NULL;   /* no rank */
        r = *rank;
    } else {
        t = FIND("lora_down.weight");
        r = dims_of(t, 0), found = t != NULL;
    }
    if (!found)
        return 0;
    *rank = r;
    t = FIND("alpha");
#undef FIND
    if (t && t->nelements == 1) {
        float a;
        if (safetensors_read_f32(t, &a, err) != 0)
            return -1;
        *alpha = a;
    } else
        *alpha = (float)*rank;
    return 1;
}

/* What dylora.py's create_network takes: conv_dim equal to network_dim (its assert), no block
 * arguments (it reads none), rank a multiple of unit; create_network_from_weights builds
 * the network with unit 1 and the SDXL text encoders both under lora_te (names collide). */
static int dylora_rules(const network_options *o, int n_te, int from_weights, error_info *err)
{
    if (o->dylora_unit < 1)
        return error_set(err, NULL, 0, 0, "unit", "must be at least 1 (got %d)", o->dylora_unit);
    if (given(o->block_dims) || given(o->block_alphas) || given(o->conv_block_dims) ||
        given(o->conv_block_alphas) || o->n_block_lr > 0)
        return error_set(err, NULL, 0, 0, given(o->block_dims) ? "block_dims" : given(o->block_alphas)
                         ? "block_alphas" : given(o->conv_block_dims) ? "conv_block_dims"
                         : given(o->conv_block_alphas) ? "conv_block_alphas" : "down_lr_weight",
                         "sd-scripts' networks.dylora takes no block arguments (block_dims, "
                         "block_alphas, conv_block_*, down/mid/up_lr_weight); leave them empty");
    if (o->conv_dim > 0 && o->conv_dim != o->dim)
        return error_set(err, NULL, 0, 0, "conv_dim", "DyLoRA needs conv_dim equal to network_dim "
                         "(%d) or 0 (got %d): dylora.py asserts it", o->dim, o->conv_dim);
    if (from_weights && o->dylora_unit != 1)
        return error_set(err, NULL, 0, 0, "unit", "with dim_from_weights sd-scripts builds the "
                         "DyLoRA network from the file with unit 1 (got %d); set unit = 1",
                         o->dylora_unit);
    if (!from_weights && o->dim % o->dylora_unit != 0)
        return error_set(err, NULL, 0, 0, "unit", "network_dim %d is not a multiple of unit %d "
                         "(dylora.py: rank must be a multiple of unit)", o->dim, o->dylora_unit);
    if (o->train_te && n_te > 1)
        return error_set(err, NULL, 0, 0, "network_train_unet_only", "sd-scripts' networks.dylora "
                         "names both SDXL text encoders' modules lora_te_…, so they collide; "
                         "train the U-Net only (network_train_unet_only)");
    return 0;
}

/* LyCORIS' train_norm: a NormModule for every GroupNorm / LayerNorm inside the modules the
 * preset targets (ResnetBlock2D's with conv blocks, Transformer2DModel's otherwise; CLIPAttention
 * and CLIPMLP hold none). With a file (dim_from_weights) only those it has. */
static int add_norm_modules(lora_network *n, size_t *cap, const rules *r, const unet_model *unet,
                            const safetensors_file *wf, error_info *err)
{
    for (size_t i = 0; i < unet->n_norm_points; i++) {
        const unet_norm_point *np = &unet->norm_points[i];
        if (np->conv_block ? !r->preset.conv_blocks : !r->preset.transformer || r->preset.attn_only)
            continue;
        if (wf) {
            char key[192];
            snprintf(key, sizeof key, "%s.w_norm", np->name);
            if (!safetensors_find(wf, key))
                continue;
        }
        cand c = {np->name, 0, 0, np->channels, np->channels, 1, np->conv_block, 0, *np->weight, *np->bias};
        if (add_module(n, cap, &c, LORA_KIND_NORM, r->o->dim, r->o->alpha, err) != 0)
            return -1;
        network_module *m = &n->mods[n->n_mods - 1];
        m->norm = np;
        m->slot = NULL;
        m->unet_point = SIZE_MAX;
    }
    return 0;
}

int network_collect(lora_network *n, const network_options *o, const unet_model *unet,
                    clip_model *const *te, int n_te, const safetensors_file *wf, error_info *err)
{
    rules r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.lycoris = o->lycoris;
    int sdxl = 0;
    for (size_t i = 0; unet && i < unet->n_points && !sdxl; i++)
        sdxl = strncmp(unet->points[i].name, "lora_unet_input_blocks_", 23) == 0;
    if (o->lycoris) {
        if (o->algo != LORA_KIND_IA3 && find_preset(o->preset, &r.preset, err) != 0)
            return -1;
        /* LyCORIS: conv_dim / conv_alpha default to network_dim / network_alpha */
        r.conv_dim = o->conv_dim > 0 ? o->conv_dim : o->dim;
        r.conv_alpha = o->conv_alpha != 0.0f ? o->conv_alpha : o->alpha;
    } else {
        if (o->algo != LORA_KIND_LORA && unet && !sdxl)
            return error_set(err, NULL, 0, 0, "network_module", "sd-scripts' %s trains SDXL only "
                             "(network_base.detect_arch_config); use LyCORIS/%s for SD 1.x/2.x",
                             network_module_name(o), o->algo == LORA_KIND_LOHA ? "LoHa" : "LoKr");
        /* lora_fa.py's get_block_index knows the SD 1.x/2.x names only (NUM_OF_BLOCKS 12) */
        if (o->lora_fa && sdxl &&
            (given(o->block_dims) || given(o->conv_block_dims) || o->n_block_lr > 0))
            return error_set(err, NULL, 0, 0, "block_dims", "sd-scripts' networks.lora_fa has "
                             "SD 1.x/2.x blocks only; block_dims, conv_block_dims and "
                             "down/mid/up_lr_weight do not apply to an SDXL LoRA-FA");
        r.conv_dim = o->conv_dim;
        r.conv_alpha = o->conv_alpha;
        if (o->dylora_unit && dylora_rules(o, n_te, wf != NULL, err) != 0)
            return -1;
        if (o->dylora_unit)   /* dylora.py gives the 3x3 convs network_alpha, not conv_alpha */
            r.conv_alpha = o->alpha;
        r.conv_targets = o->conv_dim > 0;
        if (unet && block_rules(&r, o, sdxl, err) != 0)
            return -1;
    }
    if (o->use_tucker && !o->lycoris && o->algo != LORA_KIND_LORA && (r.conv_dim > 0 || r.has_cdims))
        return error_set(err, NULL, 0, 0, "use_tucker", "use_tucker with sd-scripts' %s is not "
                         "supported yet (LyCORIS' LoHa / LoKr have it)", network_module_name(o));
    size_t cap = 0;
    int kind = o->algo;
    /* one pass per candidate: decide, take the file's rank, add */
#define TAKE(CAND, SLOT, POINT, ROWS)                                                              \
    do {                                                                                           \
        int rank_;                                                                                 \
        float alpha_;                                                                              \
        if (!decide(&r, &(CAND), &rank_, &alpha_))                                                 \
            break;                                                                                 \
        if (wf) {                                                                                  \
            int fr_ = file_rank(wf, (CAND).name, kind, &rank_, &alpha_, err);                      \
            if (fr_ < 0)                                                                           \
                return -1;                                                                         \
            if (fr_ == 0)                                                                          \
                break;                                                                             \
        }                                                                                          \
        if (add_module(n, &cap, &(CAND), kind, rank_, alpha_, err) != 0)                           \
            return -1;                                                                             \
        n->mods[n->n_mods - 1].slot = (SLOT);                                                      \
        n->mods[n->n_mods - 1].unet_point = (POINT);                                               \
        n->mods[n->n_mods - 1].hidden_rows = (ROWS);                                               \
        n->mods[n->n_mods - 1].tucker = module_tucker(&r, &n->mods[n->n_mods - 1], wf);            \
    } while (0)
    if (unet && o->train_unet) {
        /* LyCORIS' unet_target_name entries exist under these names in SD1/2's UNet only */
        unet_model *um = (unet_model *)unet;
        cand cin = {"lora_unet_conv_in", 0, 1, um->conv_in.in, um->conv_in.out, um->conv_in.kernel, 0, 1,
                    um->conv_in.weight, um->conv_in.bias};
        cand t1 = {"lora_unet_time_embedding_linear_1", 0, 0, um->time_1.in, um->time_1.out, 1, 0, 2,
                   um->time_1.weight, um->time_1.bias};
        cand t2 = {"lora_unet_time_embedding_linear_2", 0, 0, um->time_2.in, um->time_2.out, 1, 0, 2,
                   um->time_2.weight, um->time_2.bias};
        cand cout = {"lora_unet_conv_out", 0, 1, um->conv_out.in, um->conv_out.out, um->conv_out.kernel, 0, 1,
                     um->conv_out.weight, um->conv_out.bias};
        if (!sdxl) {
            TAKE(cin, &um->conv_in.lora, SIZE_MAX, 0);
            TAKE(t1, &um->time_1.lora, SIZE_MAX, 1);
            TAKE(t2, &um->time_2.lora, SIZE_MAX, 1);
        }
        for (size_t i = 0; i < unet->n_points; i++) {
            const unet_lora_point *p = &unet->points[i];
            cand c = {p->name, 0, p->kind == UNET_LORA_CONV, p->in, p->out, p->kernel, p->conv_block, 0,
                      p->linear ? p->linear->weight : p->conv->weight,
                      p->linear ? p->linear->bias : p->conv->bias};
            TAKE(c, p->lora, i, 0);
        }
        if (!sdxl)
            TAKE(cout, &um->conv_out.lora, SIZE_MAX, 0);
        if (o->lycoris && o->train_norm && add_norm_modules(n, &cap, &r, unet, wf, err) != 0)
            return -1;
    }
    n->n_unet = n->n_mods;
    if (te && o->train_te) {
        for (int e = 0; e < n_te; e++) {
            int count = clip_lora_targets(te[e], NULL, 0);
            clip_lora_target *t = calloc((size_t)count, sizeof *t);
            if (!t)
                return error_set(err, NULL, 0, 0, NULL, "out of memory");
            clip_lora_targets(te[e], t, count);
            for (int i = 0; i < count; i++) {
                cand c = {t[i].name, e + 1, 0, t[i].layer->in, t[i].layer->out, 1, 0, 0,
                          t[i].layer->weight, t[i].layer->bias};
                int rank = 0;
                float alpha = 0.0f;
                if (!decide(&r, &c, &rank, &alpha))
                    continue;
                if (wf) {
                    int fr = file_rank(wf, c.name, kind, &rank, &alpha, err);
                    if (fr < 0) {
                        free(t);
                        return -1;
                    }
                    if (fr == 0)
                        continue;
                }
                if (add_module(n, &cap, &c, kind, rank, alpha, err) != 0) {
                    free(t);
                    return -1;
                }
                n->mods[n->n_mods - 1].slot = &t[i].layer->lora;
            }
            free(t);
        }
    }
#undef TAKE
    return 0;
}
