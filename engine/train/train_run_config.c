/* train_run_config.c — train_run_settings from a loratty config and its plan: sd-scripts'
 * argument meanings (None / 0 conventions of kohya_ss), the plan's step numbers as they are. */
#include "engine/train/train_run_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "network_types.h"

static int string_list(const config *cfg, const char *name, const char **out, int cap)
{
    const param *p = params_find(name);
    const toml_value *v = p ? config_get(cfg, p) : NULL;
    int n = 0;
    if (v && v->type == TOML_ARRAY)
        for (size_t i = 0; i < v->as.array.count && n < cap; i++)
            if (v->as.array.items[i]->type == TOML_STRING && v->as.array.items[i]->as.string.len)
                out[n++] = v->as.array.items[i]->as.string.data;
    return n;
}

static const char *opt_path(const config *cfg, const char *name)
{
    const char *s = config_string(cfg, name);
    return s && s[0] ? s : NULL;
}

/* A number or bool parameter's value where its applies_when holds, else 0 (not passed). */
static double applying_float(const config *cfg, const char *name)
{
    const param *p = params_find(name);
    if (!p || !config_applies(cfg, p))
        return 0.0;
    return p->type == PARAM_BOOL ? (config_bool(cfg, name) ? 1.0 : 0.0)
         : p->type == PARAM_INT ? (double)config_int(cfg, name) : config_float(cfg, name);
}

static int arg_true(const char *v)
{
    return !strcasecmp(v, "true") || !strcmp(v, "1");
}

/* A warning for the run's start; past the table's room the last one says more were dropped. */
static void add_note(train_run_settings *s, const char *fmt, ...)
{
    int room = (int)(sizeof s->notes / sizeof s->notes[0]);
    if (s->n_notes >= room) {
        snprintf(s->notes[room - 1], sizeof s->notes[0], "(more settings have no effect; see "
                 "lora_type in loratty(1))");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->notes[s->n_notes++], sizeof s->notes[0], fmt, ap);
    va_end(ap);
}

/* base_weights and their multipliers (sd-scripts: 1.0 for a file without one) */
static int base_weights(train_run_settings *s, train_run_strings *strs, const config *cfg, error_info *err)
{
    const param *p = params_find("base_weights");
    const toml_value *v = config_get(cfg, p);
    if (v && v->type == TOML_ARRAY && v->as.array.count > TRAIN_RUN_MAX_BASE_WEIGHTS)
        return error_set(err, NULL, 0, 0, "base_weights", "at most %d files", TRAIN_RUN_MAX_BASE_WEIGHTS);
    s->n_base_weights = string_list(cfg, "base_weights", strs->base_weights, TRAIN_RUN_MAX_BASE_WEIGHTS);
    s->base_weights = strs->base_weights;
    const char *mult[TRAIN_RUN_MAX_BASE_WEIGHTS + 1];
    int nm = string_list(cfg, "base_weights_multiplier", mult, TRAIN_RUN_MAX_BASE_WEIGHTS + 1);
    if (nm > s->n_base_weights && s->n_base_weights)
        add_note(s, "base_weights_multiplier has %d values for %d base_weights files; the extra "
                 "ones are not used", nm, s->n_base_weights);
    for (int i = 0; i < s->n_base_weights; i++) {
        s->base_multipliers[i] = 1.0f;
        if (i < nm) {
            char *end;
            double x = strtod(mult[i], &end);
            if (end == mult[i] || *end || !isfinite(x))
                return error_set(err, NULL, 0, 0, "base_weights_multiplier", "\"%s\" is not a number",
                                 mult[i]);
            s->base_multipliers[i] = (float)x;
        }
    }
    return 0;
}

/* LyCORIS' algorithms as their modules' non-bypass forward runs them: which sd-scripts settings
 * reach them and which are ignored (LoCon, LoHa, LoKr and Diag-OFT have rank dropout; GLoRA and
 * DyLoRA apply it in bypass mode only, which loratty does not have; iA3 and BOFT have none). */
static int lycoris_dropouts(train_run_settings *s, float network_dropout, error_info *err)
{
    network_options *o = &s->net;
    const char *algo = network_algo_name(o);
    /* sd-scripts passes --network_dropout as neuron_dropout=, which lycoris.kohya does not read */
    if (network_dropout > 0.0f)
        add_note(s, "network_dropout has no effect with LyCORIS/%s: lycoris.kohya does not read "
                 "sd-scripts' neuron_dropout", algo);
    if (o->rank_dropout > 0.0f && o->algo == LORA_KIND_FULL)
        return error_set(err, NULL, 0, 0, "rank_dropout", "LyCORIS' full (native fine-tuning) "
                         "fails with rank dropout (its make_weight tests a tensor as a boolean); "
                         "set rank_dropout to 0");
    /* who has rank dropout outside bypass mode: LoCon, LoHa, LoKr, Diag-OFT */
    const char *why = NULL;
    switch (o->algo) {
    case LORA_KIND_GLORA:
        why = "its modules apply it only in bypass mode";
        break;
    case LORA_KIND_IA3:
    case LORA_KIND_BOFT:
        why = "its modules have none";
        break;
    case LORA_KIND_LORA:
        if (o->dylora_unit)
            why = "its modules apply it only in bypass mode";
        break;
    default:
        break;
    }
    if (o->rank_dropout > 0.0f && why) {
        add_note(s, "rank_dropout has no effect with LyCORIS/%s: %s", algo, why);
        o->rank_dropout = 0.0f;
    }
    return 0;
}

/* The network kind and its arguments, read from the network_args kohya_ss would pass
 * (network_args_for: only the ones that apply to the LoRA type, in its rules) so loratty
 * trains what the exported sd-scripts command would. Strings point into cfg. */
static int network_from_config(train_run_settings *s, const config *cfg, error_info *err)
{
    network_options *o = &s->net;
    const char *lt = config_string(cfg, "lora_type");
    const network_type *t = network_type_find(lt);
    if (!t)
        return error_set(err, NULL, 0, 0, "lora_type", "unknown LoRA type \"%s\"", lt);
    if (network_options_set_module(o, t->network_module, t->algo, err) != 0) {
        snprintf(err->key, sizeof err->key, "lora_type");
        return -1;
    }
    /* sd-scripts passes --network_dropout to every module as neuron_dropout=; kohya's LoHa /
     * LoKr and lycoris.kohya do not read it (lycoris_dropouts) */
    if (strcmp(t->network_module, "networks.loha") && strcmp(t->network_module, "networks.lokr") &&
        !o->lycoris)
        o->network_dropout = (float)config_float(cfg, "network_dropout");
    const char *down = NULL, *mid = NULL, *up = NULL;
    float zero_threshold = 0.0f;
    int bypass = 0;
    toml_value *args = network_args_for(cfg);
    int rc = 0;
    /* LyCORIS reads use_tucker and its aliases together (network_lycoris_use_tucker) */
    enum { MAX_TUCKER_ARGS = 16 };
    const char *tk[MAX_TUCKER_ARGS], *tv[MAX_TUCKER_ARGS];
    size_t nt = 0;
    for (size_t i = 0; rc == 0 && i < args->as.array.count; i++) {
        const toml_value *a = args->as.array.items[i];
        if (a->type != TOML_STRING)
            continue;
        const char *kv = a->as.string.data, *eq = strchr(kv, '=');
        if (!eq)
            continue;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        const char *v = eq + 1;
        const param *p = network_arg_param(key);
        const char *str = p ? config_string(cfg, p->name) : v;   /* outlives s */
        if (!strcmp(key, "algo"))
            continue;   /* the LoRA type's, set above */
        else if (!strcmp(key, "conv_dim"))
            o->conv_dim = atoi(v);
        else if (!strcmp(key, "conv_alpha"))
            o->conv_alpha = (float)atof(v);
        else if (!strcmp(key, "preset"))
            o->preset = str;
        else if (!strcmp(key, "factor"))
            o->factor = atoi(v);
        else if (!strcmp(key, "decompose_both"))
            o->decompose_both = arg_true(v);
        else if (!strcmp(key, "use_tucker") || !strcmp(key, "use_cp") || !strcmp(key, "use_conv_cp") ||
                 !strcmp(key, "disable_conv_cp")) {
            if (nt < MAX_TUCKER_ARGS)
                tk[nt] = a->as.string.data, tv[nt++] = v;
        }
        else if (!strcmp(key, "rank_dropout_scale"))
            o->rank_dropout_scale = arg_true(v);
        else if (!strcmp(key, "rank_dropout"))
            o->rank_dropout = (float)atof(v);
        else if (!strcmp(key, "module_dropout"))
            o->module_dropout = (float)atof(v);
        else if (!strcmp(key, "block_dims"))
            o->block_dims = str;
        else if (!strcmp(key, "block_alphas"))
            o->block_alphas = str;
        else if (!strcmp(key, "conv_block_dims"))
            o->conv_block_dims = str;
        else if (!strcmp(key, "conv_block_alphas"))
            o->conv_block_alphas = str;
        else if (!strcmp(key, "down_lr_weight"))
            down = str;
        else if (!strcmp(key, "mid_lr_weight"))
            mid = str;
        else if (!strcmp(key, "up_lr_weight"))
            up = str;
        else if ((!strcmp(key, "unit") || !strcmp(key, "block_size")) && o->dylora_unit)
            o->dylora_unit = atoi(v);   /* LyCORIS' DyLoRA calls it block_size */
        else if (!strcmp(key, "constraint") || !strcmp(key, "constrain"))
            o->constraint = (float)atof(v);
        else if (!strcmp(key, "rescaled"))
            o->rescaled = arg_true(v);
        else if (!strcmp(key, "train_on_input"))
            o->ia3_train_on_input = arg_true(v);
        else if (!strcmp(key, "dora_wd"))
            o->dora_wd = arg_true(v);
        else if (!strcmp(key, "bypass_mode"))
            bypass = arg_true(v);
        else if (!strcmp(key, "train_norm"))
            o->train_norm = arg_true(v);
        else if (!strcmp(key, "use_scalar"))
            o->use_scalar = arg_true(v);
        else if (!strcmp(key, "wd_on_output") && !arg_true(v))
            rc = error_set(err, NULL, 0, 0, "network_args", "network argument wd_on_output=%s "
                           "(DoRA over input columns) is not supported yet", v);
        else if (!strcmp(key, "block_lr_zero_threshold"))
            zero_threshold = (float)atof(v);
        else if (!strcmp(key, "loraplus_lr_ratio"))
            s->lr_groups.loraplus_lr_ratio = (float)atof(v);
        else if (!strcmp(key, "loraplus_unet_lr_ratio"))
            s->lr_groups.loraplus_unet_lr_ratio = (float)atof(v);
        else if (!strcmp(key, "loraplus_text_encoder_lr_ratio"))
            s->lr_groups.loraplus_text_encoder_lr_ratio = (float)atof(v);
        else if (strcasecmp(v, "false") && strcmp(v, "0") && v[0])
            rc = error_set(err, NULL, 0, 0, p ? p->name : "network_args", "network argument "
                           "%s=%s is not supported yet", key, v);
    }
    /* sd-scripts' networks.loha / lokr read use_tucker alone, as a plain flag */
    char names[MAX_TUCKER_ARGS][24];
    for (size_t i = 0; i < nt; i++) {
        snprintf(names[i], sizeof names[i], "%.*s", (int)(strchr(tk[i], '=') - tk[i]), tk[i]);
        tk[i] = names[i];
        if (!o->lycoris && !strcmp(names[i], "use_tucker"))
            o->use_tucker = arg_true(tv[i]);
    }
    if (o->lycoris) {
        o->use_tucker = network_lycoris_use_tucker(tk, tv, nt);
        for (size_t i = 0; i < nt && !o->use_tucker; i++)
            if (!strcmp(tk[i], "use_tucker") && arg_true(tv[i])) {
                add_note(s, "use_tucker has no effect with LyCORIS/%s here: LyCORIS reads use_conv_cp "
                         "and use_cp first, and kohya_ss passes use_cp for LoKr; set use_cp",
                         network_algo_name(o));
                break;
            }
    }
    toml_free(args);
    if (rc != 0)
        return rc;
    /* bypass mode computes W x + ΔW x instead of (W + ΔW) x: the same but for its own rank
     * dropout (per rank for LoCon, after ΔW x for LoHa / LoKr); full has none (LyCORIS raises) */
    if (bypass && o->rank_dropout > 0.0f)
        return error_set(err, NULL, 0, 0, "bypass_mode", "LyCORIS' bypass mode with rank_dropout "
                         "is not supported yet (without rank_dropout it computes the same as the "
                         "merged weight loratty runs)");
    /* NormModule's make_weight keeps an element with probability rank_dropout (its mask is
     * inverted) */
    if (o->train_norm && o->rank_dropout > 0.0f)
        return error_set(err, NULL, 0, 0, "train_norm", "train_norm with rank_dropout is not "
                         "supported: LyCORIS' NormModule keeps each element with probability "
                         "rank_dropout instead of dropping it; set rank_dropout to 0");
    if (bypass && o->algo == LORA_KIND_FULL)
        return error_set(err, NULL, 0, 0, "bypass_mode", "LyCORIS' full (native fine-tuning) has "
                         "no bypass mode");
    if (o->lycoris && lycoris_dropouts(s, (float)config_float(cfg, "network_dropout"), err) != 0)
        return -1;
    if (o->algo == LORA_KIND_IA3 && o->preset && o->preset[0] && strcmp(o->preset, "full") &&
        strcmp(o->preset, "ia3"))
        add_note(s, "lycoris_preset %s has no effect with LyCORIS/iA3: it trains the iA3 targets "
                 "(to_k, to_v, ff.net.2; k_proj, v_proj, mlp.fc2)", o->preset);
    /* LyCORIS puts parameters named lora_up in the LoRA+ group: its LoCon's only */
    network_lr_options *lp = &s->lr_groups;
    if (o->lycoris && (o->algo != LORA_KIND_LORA || o->dylora_unit) &&
        (lp->loraplus_lr_ratio > 0.0f || lp->loraplus_unet_lr_ratio > 0.0f ||
         lp->loraplus_text_encoder_lr_ratio > 0.0f)) {
        add_note(s, "the LoRA+ ratios have no effect with LyCORIS/%s: LyCORIS applies them to "
                 "lora_up parameters, which only its LoCon has", network_algo_name(o));
        lp->loraplus_lr_ratio = lp->loraplus_unet_lr_ratio = lp->loraplus_text_encoder_lr_ratio = 0.0f;
    }
    /* lora_fa.py ignores the LoRA+ arguments; say so rather than train something else */
    const network_lr_options *lg = &s->lr_groups;
    if (o->lora_fa && (lg->loraplus_lr_ratio > 0.0f || lg->loraplus_unet_lr_ratio > 0.0f ||
                       lg->loraplus_text_encoder_lr_ratio > 0.0f))
        return error_set(err, NULL, 0, 0, lg->loraplus_lr_ratio > 0.0f ? "loraplus_lr_ratio"
                         : lg->loraplus_unet_lr_ratio > 0.0f ? "loraplus_unet_lr_ratio"
                         : "loraplus_text_encoder_lr_ratio",
                         "LoRA-FA (sd-scripts' networks.lora_fa) trains only the up matrices and "
                         "has no LoRA+ ratios; set them to 0");
    /* dylora.py has no dropout (it ignores neuron_dropout, rank_dropout, module_dropout) */
    if (o->dylora_unit && !o->lycoris && (o->network_dropout > 0.0f || o->rank_dropout > 0.0f ||
                           o->module_dropout > 0.0f))
        return error_set(err, NULL, 0, 0, o->network_dropout > 0.0f ? "network_dropout"
                         : o->rank_dropout > 0.0f ? "rank_dropout" : "module_dropout",
                         "DyLoRA (sd-scripts' networks.dylora) has no dropout; set network_dropout, "
                         "rank_dropout and module_dropout to 0");
    int nb = network_block_lr_weights(s->want_sdxl, down, mid, up, zero_threshold, s->block_lr, err);
    if (nb < 0)
        return -1;
    if (nb > 0) {
        o->block_lr = s->block_lr;
        o->n_block_lr = nb;
        s->lr_groups.block_lr = s->block_lr;
        s->lr_groups.n_block_lr = nb;
    }
    return 0;
}

/* sd-scripts' cache_text_encoder_outputs (SDXL): loratty computes a frozen text encoder's
 * output once per caption anyway, so the option changes no number; what it asks of a run is
 * what sdxl_train_network.py asserts: the text encoders do not train, and no subset's captions
 * change from step to step. */
static int te_cache_rules(const train_run_settings *s, const config *cfg, error_info *err)
{
    const param *p = params_find("cache_text_encoder_outputs");
    if (!p || !config_applies(cfg, p) || !config_bool(cfg, "cache_text_encoder_outputs"))
        return 0;
    /* sdxl_train.py asserts this; sdxl_train_network.py caches the weighted outputs instead */
    if (s->mode == TRAIN_MODE_FINETUNE && s->weighted_captions)
        return error_set(err, NULL, 0, 0, "weighted_captions", "cannot be used with "
                         "cache_text_encoder_outputs when fine-tuning (sdxl_train.py refuses it); "
                         "turn one of them off");
    int te_trains = s->mode == TRAIN_MODE_LORA ? s->net.train_te
                    : s->mode == TRAIN_MODE_FINETUNE && s->train_text_encoder;
    if (te_trains)
        return error_set(err, NULL, 0, 0, "cache_text_encoder_outputs", "the text encoders cannot "
                         "train on cached outputs; set %s",
                         s->mode == TRAIN_MODE_LORA ? "network_train_unet_only = true"
                                                    : "train_text_encoder = false");
    for (size_t g = 0; g < s->data->group_count; g++)
        for (size_t i = 0; i < s->data->groups[g].subset_count; i++) {
            const dataset_subset *sub = &s->data->groups[g].subsets[i];
            const caption_settings *c = sub->has_options ? &sub->opt.captions : &s->batch.captions;
            const char *key = c->shuffle_caption ? "shuffle_caption"
                              : c->caption_dropout_rate > 0 ? "caption_dropout_rate"
                              : c->caption_tag_dropout_rate > 0 ? "caption_tag_dropout_rate"
                              : c->token_warmup_step > 0 ? "token_warmup_step" : NULL;
            if (key)
                return error_set(err, NULL, 0, 0, key, "%s changes the captions from step to step, so "
                                 "cache_text_encoder_outputs cannot be used (sd-scripts refuses it "
                                 "too)", key);
        }
    return 0;
}

int train_run_settings_from_config(train_run_settings *s, train_run_strings *strs,
                                   const config *cfg, const plan *p, error_info *err)
{
    memset(s, 0, sizeof *s);
    s->model_path = config_string(cfg, "pretrained_model_name_or_path");
    s->vae_path = opt_path(cfg, "vae");
    s->want_v2 = config_bool(cfg, "v2");
    s->want_sdxl = config_bool(cfg, "sdxl");
    s->want_v_param = config_bool(cfg, "v_parameterization");
    const char *mode = config_string(cfg, "training_mode");
    s->mode = !strcmp(mode, "finetune") ? TRAIN_MODE_FINETUNE
              : !strcmp(mode, "vae") ? TRAIN_MODE_VAE : TRAIN_MODE_LORA;
    s->train_text_encoder = config_bool(cfg, "train_text_encoder");
    s->vae_kl_weight = (float)config_float(cfg, "vae_kl_weight");

    network_options_init(&s->net);
    s->net.dim = (int)config_int(cfg, "network_dim");
    s->net.alpha = (float)config_float(cfg, "network_alpha");
    s->net.train_unet = !config_bool(cfg, "network_train_text_encoder_only");
    s->net.train_te = !config_bool(cfg, "network_train_unet_only");
    s->net.seed = (uint64_t)config_int(cfg, "seed");
    s->net.weights_path = opt_path(cfg, "network_weights");
    s->net.dim_from_weights = config_bool(cfg, "dim_from_weights");
    if (config_bool(cfg, "network_train_unet_only") && config_bool(cfg, "network_train_text_encoder_only"))
        return error_set(err, NULL, 0, 0, "network_train_unet_only", "network_train_unet_only and "
                         "network_train_text_encoder_only exclude each other");
    if (network_from_config(s, cfg, err) != 0)
        return -1;

    s->data = &p->data;
    batch_settings *b = &s->batch;
    b->captions.caption_prefix = config_string(cfg, "caption_prefix");
    b->captions.caption_suffix = config_string(cfg, "caption_suffix");
    b->captions.shuffle_caption = config_bool(cfg, "shuffle_caption");
    b->captions.keep_tokens = (int)config_int(cfg, "keep_tokens");
    b->captions.keep_tokens_separator = config_string(cfg, "keep_tokens_separator");
    const char *sep = config_string(cfg, "caption_separator");
    b->captions.caption_separator = sep[0] ? sep : NULL;
    b->captions.secondary_separator = config_string(cfg, "secondary_separator");
    b->captions.enable_wildcard = config_bool(cfg, "enable_wildcard");
    b->captions.caption_dropout_rate = config_float(cfg, "caption_dropout_rate");
    b->captions.caption_dropout_every_n_epochs = (int)config_int(cfg, "caption_dropout_every_n_epochs");
    b->captions.caption_tag_dropout_rate = config_float(cfg, "caption_tag_dropout_rate");
    b->captions.token_warmup_step = config_float(cfg, "token_warmup_step");
    b->captions.token_warmup_min = (int)config_int(cfg, "token_warmup_min");
    s->weighted_captions = config_bool(cfg, "weighted_captions");
    if (te_cache_rules(s, cfg, err) != 0)
        return -1;
    /* GPU precision choices: the CPU engine computes and keeps fp32 */
    static const char *const precision[] = {"fp8_base", "full_fp16", "full_bf16", NULL};
    for (const char *const *k = precision; *k; k++)
        if (config_bool(cfg, *k))
            add_note(s, "%s has no effect: loratty's CPU engine keeps the weights and gradients in "
                     "fp32", *k);
    b->prior_loss_weight = config_float(cfg, "prior_loss_weight");
    b->flip_aug = config_bool(cfg, "flip_aug");
    b->random_crop = config_bool(cfg, "random_crop");
    b->max_train_steps = p->total_steps;
    if (resize_interp_parse(config_string(cfg, "resize_interpolation"), &s->interp, err) != 0)
        return -1;
    s->clip_skip = (int)config_int(cfg, "clip_skip");
    s->max_token_length = (int)config_int(cfg, "max_token_length");
    s->cache_latents = config_bool(cfg, "cache_latents") || config_bool(cfg, "cache_latents_to_disk");
    s->cache_latents_to_disk = config_bool(cfg, "cache_latents_to_disk");
    if (s->cache_latents && (b->random_crop || config_bool(cfg, "color_aug")))
        return error_set(err, NULL, 0, 0, "cache_latents", "cache_latents cannot be used with "
                         "random_crop or color_aug (sd-scripts refuses it too)");

    s->total_steps = p->total_steps;
    s->epochs = p->epochs;
    s->batches_per_epoch = p->batches_per_epoch;
    s->grad_accum = (int)config_int(cfg, "gradient_accumulation_steps");
    if (s->grad_accum < 1)
        s->grad_accum = 1;
    s->text_encoder_stop_step = p->text_encoder_stop_step;

    /* sd-scripts' prepare_accelerator: logging_dir without log_with means tensorboard */
    s->logging_dir = opt_path(cfg, "logging_dir");
    const char *lw = config_string(cfg, "log_with");
    s->tensorboard = s->logging_dir && (!lw || !lw[0] || strcmp(lw, "tensorboard") == 0 ||
                                        strcmp(lw, "all") == 0);
    s->log_tracker_name = opt_path(cfg, "log_tracker_name");
    s->optimizer_type = config_string(cfg, "optimizer_type");

    optim_kind kind;
    if (optim_kind_from_name(config_string(cfg, "optimizer_type"), &kind, err) != 0) {
        snprintf(err->key, sizeof err->key, "optimizer_type");
        return -1;
    }
    s->learning_rate = config_float(cfg, "learning_rate");
    s->unet_lr = config_float(cfg, "unet_lr");
    s->text_encoder_lr = config_float(cfg, "text_encoder_lr");
    optim_config_init(&s->optim, kind, s->learning_rate);
    s->n_optim_args = string_list(cfg, "optimizer_args", strs->optim_args, 64);
    s->optim_args = strs->optim_args;
    if (optim_config_apply_args(&s->optim, strs->optim_args, s->n_optim_args, err) != 0) {
        snprintf(err->key, sizeof err->key, "optimizer_args");
        return -1;
    }
    lr_schedule_options_init(&s->lr);
    s->lr.name = config_string(cfg, "lr_scheduler");
    s->lr.lr = s->learning_rate;
    s->lr.max_train_steps = p->total_steps;
    s->lr.warmup = (double)p->warmup_steps;
    s->lr.num_cycles = (int)config_int(cfg, "lr_scheduler_num_cycles");
    if (s->lr.num_cycles < 1)
        s->lr.num_cycles = 1;
    s->lr.power = config_float(cfg, "lr_scheduler_power");
    s->lr.decay = (double)config_int(cfg, "lr_decay_steps");
    s->lr.timescale = config_int(cfg, "lr_scheduler_timescale");
    s->lr.min_lr_ratio = config_is_default(cfg, params_find("lr_scheduler_min_lr_ratio"))
                             ? -1.0 : config_float(cfg, "lr_scheduler_min_lr_ratio");
    s->lr.nargs = string_list(cfg, "lr_scheduler_args", strs->lr_args, 64);
    s->lr.args = strs->lr_args;
    s->lr.type = config_string(cfg, "lr_scheduler_type");
    /* sd-scripts' is_schedulefree_optimizer: the optimizer type ends in "schedulefree" */
    const char *ot = config_string(cfg, "optimizer_type");
    size_t otn = strlen(ot);
    s->lr.schedule_free = otn >= 12 && !strcasecmp(ot + otn - 12, "schedulefree");
    if (s->lr.schedule_free && (strcmp(s->lr.name, "constant") || s->lr.warmup > 0 || s->lr.type[0]))
        add_note(s, "%s schedules itself: lr_scheduler%s and the lr warmup are not used (sd-scripts "
                 "gives it a dummy scheduler; its own warmup is optimizer_args warmup_steps=N)", ot,
                 s->lr.type[0] ? ", lr_scheduler_type" : "");
    s->max_grad_norm = (float)config_float(cfg, "max_grad_norm");
    s->scale_weight_norms = (float)config_float(cfg, "scale_weight_norms");
    /* train_network.py drops it with a warning: DyLoRANetwork has no
     * apply_max_norm_regularization; LyCORIS' DyLoRA modules have no apply_max_norm */
    lora_kind net_kind = (lora_kind)s->net.algo;
    if (s->mode == TRAIN_MODE_LORA && s->net.lycoris && s->scale_weight_norms > 0.0f &&
        (s->net.dylora_unit || net_kind == LORA_KIND_IA3 || net_kind == LORA_KIND_FULL ||
         net_kind == LORA_KIND_GLORA)) {
        add_note(s, "scale_weight_norms has no effect with LyCORIS/%s: its modules have no "
                 "max-norm", network_algo_name(&s->net));
        s->scale_weight_norms = 0.0f;
    }
    if (s->mode == TRAIN_MODE_LORA && s->net.dylora_unit && s->scale_weight_norms > 0.0f)
        return error_set(err, NULL, 0, 0, "scale_weight_norms", "DyLoRA (sd-scripts' "
                         "networks.dylora) has no max-norm regularisation; set it to 0");

    train_step_options_init(&s->step);
    const char *lt = config_string(cfg, "loss_type");
    s->step.loss_type = !strcmp(lt, "l1") ? K_LOSS_L1 : !strcmp(lt, "huber") ? K_LOSS_HUBER
                        : !strcmp(lt, "smooth_l1") ? K_LOSS_SMOOTH_L1 : K_LOSS_L2;
    const char *hs = config_string(cfg, "huber_schedule");
    s->step.huber_schedule = !strcmp(hs, "constant") ? TRAIN_HUBER_CONSTANT
                             : !strcmp(hs, "exponential") ? TRAIN_HUBER_EXPONENTIAL : TRAIN_HUBER_SNR;
    s->step.huber_c = (float)config_float(cfg, "huber_c");
    s->step.huber_scale = (float)config_float(cfg, "huber_scale");
    s->step.min_snr_gamma = (float)config_float(cfg, "min_snr_gamma");
    s->step.scale_v_pred_loss_like_noise_pred = config_bool(cfg, "scale_v_pred_loss_like_noise_pred");
    s->step.v_pred_like_loss = (float)config_float(cfg, "v_pred_like_loss");
    s->step.debiased_estimation = config_bool(cfg, "debiased_estimation_loss");
    s->step.zero_terminal_snr = config_bool(cfg, "zero_terminal_snr");
    if (s->step.zero_terminal_snr && !config_bool(cfg, "v_parameterization"))
        add_note(s, "zero_terminal_snr without v_parameterization: an epsilon model cannot "
                 "predict the noise from pure noise at the last timestep (sd-scripts warns too)");
    /* kohya_ss passes the noise_offset ones or the multires ones (noise_offset_type): only
     * the options that apply */
    s->step.noise_offset = (float)applying_float(cfg, "noise_offset");
    s->step.noise_offset_random_strength = applying_float(cfg, "noise_offset_random_strength") != 0.0;
    s->step.adaptive_noise_scale = (float)applying_float(cfg, "adaptive_noise_scale");
    s->step.multires_noise_iterations = (int)applying_float(cfg, "multires_noise_iterations");
    s->step.multires_noise_discount = (float)config_float(cfg, "multires_noise_discount");
    s->step.ip_noise_gamma = (float)config_float(cfg, "ip_noise_gamma");
    s->step.ip_noise_gamma_random_strength = applying_float(cfg, "ip_noise_gamma_random_strength") != 0.0;
    s->step.min_timestep = (int)config_int(cfg, "min_timestep");
    s->step.max_timestep = (int)config_int(cfg, "max_timestep");
    if (s->step.max_timestep <= 0)
        s->step.max_timestep = TRAIN_TIMESTEPS;
    s->gradient_checkpointing = config_bool(cfg, "gradient_checkpointing");
    s->seed = (uint64_t)config_int(cfg, "seed");

    s->output_dir = config_string(cfg, "output_dir");
    s->output_name = config_string(cfg, "output_name");
    s->save_model_as = config_string(cfg, "save_model_as");
    if (strcmp(s->save_model_as, "safetensors") && s->mode != TRAIN_MODE_LORA)
        return error_set(err, NULL, 0, 0, "save_model_as", "a whole model is saved as safetensors "
                         "(sd-scripts' %s checkpoint layout is not written)", s->save_model_as);
    if (strcmp(s->save_model_as, "safetensors"))
        add_note(s, "save_model_as %s: the LoRA files hold the tensors alone (torch.save), no "
                 "ss_* metadata, as sd-scripts writes them", s->save_model_as);
    const char *sp = config_string(cfg, "save_precision");
    s->save_dtype = !strcmp(sp, "fp16") ? DTYPE_F16 : !strcmp(sp, "bf16") ? DTYPE_BF16 : DTYPE_F32;
    s->save_every_n_epochs = (int)config_int(cfg, "save_every_n_epochs");
    long long ratio = config_int(cfg, "save_n_epoch_ratio");
    if (ratio > 0)   /* sd-scripts: math.floor(num_train_epochs / ratio) or 1 */
        s->save_every_n_epochs = p->epochs / ratio > 0 ? (int)(p->epochs / ratio) : 1;
    s->save_every_n_steps = (int)config_int(cfg, "save_every_n_steps");
    s->save_last_n_epochs = (int)config_int(cfg, "save_last_n_epochs");
    s->save_last_n_steps = (int)config_int(cfg, "save_last_n_steps");
    s->save_last_n_epochs_state = (int)config_int(cfg, "save_last_n_epochs_state");
    s->save_last_n_steps_state = (int)config_int(cfg, "save_last_n_steps_state");
    s->save_state = config_bool(cfg, "save_state");
    s->save_state_on_train_end = config_bool(cfg, "save_state_on_train_end");
    s->resume = opt_path(cfg, "resume");
    s->sample_prompts = config_string(cfg, "sample_prompts");
    s->sample_sampler = config_string(cfg, "sample_sampler");
    s->sample_every_n_steps = (int)config_int(cfg, "sample_every_n_steps");
    s->sample_every_n_epochs = (int)config_int(cfg, "sample_every_n_epochs");
    s->sample_at_first = config_bool(cfg, "sample_at_first");
    if (base_weights(s, strs, cfg, err) != 0)
        return -1;
    s->validation = &p->validation;
    s->validate_every_n_steps = (int)config_int(cfg, "validate_every_n_steps");
    s->validate_every_n_epochs = (int)config_int(cfg, "validate_every_n_epochs");
    s->max_validation_steps = (int)config_int(cfg, "max_validation_steps");
    /* sd-scripts: switch_rng_state(validation_seed if given else seed) */
    s->validation_seed = config_is_default(cfg, params_find("validation_seed"))
                             ? s->seed : (uint64_t)config_int(cfg, "validation_seed");
    return 0;
}
