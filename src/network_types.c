/* network_types.c — kohya_ss's LoRA types, the sd-scripts network module behind each one,
 * and the network_args list built from loratty's LoRA options (conv_dim, LyCORIS preset,
 * dropouts, block weights ...). The parameter table says which option becomes which
 * network argument (param.network_arg) and when it applies; this file only assembles. */
#include "network_types.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

static const network_type network_types[] = {
    {"Standard", "networks.lora", NULL},
    {"Kohya LoCon", "networks.lora", NULL},
    {"Kohya DyLoRA", "networks.dylora", NULL},
    {"LoRA-FA", "networks.lora_fa", NULL},
    {"Kohya LoHa", "networks.loha", NULL},
    {"Kohya LoKr", "networks.lokr", NULL},
    {"LyCORIS/LoCon", "lycoris.kohya", "locon"},
    {"LyCORIS/LoHa", "lycoris.kohya", "loha"},
    {"LyCORIS/LoKr", "lycoris.kohya", "lokr"},
    {"LyCORIS/iA3", "lycoris.kohya", "ia3"},
    {"LyCORIS/DyLoRA", "lycoris.kohya", "dylora"},
    {"LyCORIS/GLoRA", "lycoris.kohya", "glora"},
    {"LyCORIS/BOFT", "lycoris.kohya", "boft"},
    {"LyCORIS/Diag-OFT", "lycoris.kohya", "diag-oft"},
    {"LyCORIS/Native Fine-Tuning", "lycoris.kohya", "full"},
    {NULL, NULL, NULL},
};

const network_type *network_type_find(const char *lora_type)
{
    for (const network_type *t = network_types; t->lora_type; t++)
        if (strcmp(t->lora_type, lora_type) == 0)
            return t;
    return NULL;
}

const char *network_type_from_module(const char *module, const char *algo, bool has_conv)
{
    if (strcmp(module, "networks.lora") == 0)
        return has_conv ? "Kohya LoCon" : "Standard";
    for (const network_type *t = network_types; t->lora_type; t++) {
        if (strcmp(t->network_module, module) != 0)
            continue;
        if (!t->algo || (algo && strcmp(t->algo, algo) == 0))
            return t->lora_type;
    }
    /* LyCORIS without algo= means its default, LoCon */
    if (strcmp(module, "lycoris.kohya") == 0 && !algo)
        return "LyCORIS/LoCon";
    return NULL;
}

/* Network arguments a LoRA type's module reads under another name than the parameter's:
 * kohya_ss passes the DyLoRA unit to LyCORIS as block_size. */
static const struct {
    const char *lora_type, *arg, *as;
} renamed_args[] = {
    {"LyCORIS/DyLoRA", "unit", "block_size"},
};

static const char *arg_name_for(const char *lora_type, const char *arg)
{
    for (size_t i = 0; i < sizeof renamed_args / sizeof renamed_args[0]; i++)
        if (!strcmp(renamed_args[i].lora_type, lora_type) && !strcmp(renamed_args[i].arg, arg))
            return renamed_args[i].as;
    return arg;
}

const param *network_arg_param(const char *key)
{
    for (size_t i = 0; i < sizeof renamed_args / sizeof renamed_args[0]; i++)
        if (!strcmp(renamed_args[i].as, key))
            key = renamed_args[i].arg;
    for (size_t i = 0; i < params_count; i++)
        if (params_table[i].network_arg && strcmp(params_table[i].network_arg, key) == 0)
            return &params_table[i];
    return NULL;
}

const char *config_lookup_text(const char *name, void *ctx)
{
    static char buf[4][256];
    static int slot;
    const config *cfg = ctx;
    const param *p = params_find(name);
    if (!p)
        return NULL;
    char *text = config_value_text(cfg, p);
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s", text);
    free(text);
    return buf[slot];
}

toml_value *network_args_for(const config *cfg)
{
    toml_value *args = toml_new_array();
    const network_type *type = network_type_find(config_string(cfg, "lora_type"));
    if (type && type->algo) {
        char buf[64];
        snprintf(buf, sizeof buf, "algo=%s", type->algo);
        toml_array_append(args, toml_new_string(buf));
    }
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        /* kohya_ss always passes the conv rank and alpha of LoCon-like types, the LyCORIS
         * preset, DyLoRA's unit, iA3's train_on_input and LoKr's use_cp (which LyCORIS reads
         * before use_tucker); the other options only when they differ from the default */
        static const char *const always[] = {"conv_dim", "conv_alpha", "preset", "unit",
                                             "train_on_input", "use_cp", NULL};
        bool must = false;
        for (const char *const *a = always; p->network_arg && *a; a++)
            must |= strcmp(*a, p->network_arg) == 0;
        if (!p->network_arg || (!must && config_is_default(cfg, p))
            || !params_applies(p, config_lookup_text, (void *)cfg))
            continue;
        char *text = config_value_text(cfg, p);
        if (text[0]) {
            const char *name = arg_name_for(config_string(cfg, "lora_type"), p->network_arg);
            size_t len = strlen(name) + strlen(text) + 2;
            char *arg = malloc(len);
            snprintf(arg, len, "%s=%s", name, text);
            toml_array_append(args, toml_new_string(arg));
            free(arg);
        }
        free(text);
    }
    /* raw arguments the user added */
    const param *extra = params_find("network_args");
    const toml_value *raw = extra ? config_get(cfg, extra) : NULL;
    if (raw && raw->type == TOML_ARRAY)
        for (size_t i = 0; i < raw->as.array.count; i++)
            toml_array_append(args, toml_clone(raw->as.array.items[i]));
    return args;
}
