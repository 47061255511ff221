/* test_additional_parameters.c — kohya_ss's additional_parameters, read as sd-scripts' argparse
 * reads the words kohya_ss appends after --config_file (quotes dropped, split on white space):
 * "--key value", "--key=value", store_true flags, nargs="*" lists (optimizer_args,
 * network_args with network_module, text_encoder_lr's numbers) and sd-scripts' legacy spellings
 * (use_lion_optimizer, caption_extention) override the preset; a later
 * --key wins; a key loratty does not know is a warning; a word that is not an --option and an
 * option without its value are errors naming additional_parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "params.h"

static int apply(config *cfg, const char *additional, config_warnings *w, error_info *err)
{
    config_init(cfg);
    const char *base[] = {"learning_rate=0.0001", "max_grad_norm=1", "lora_type=Standard",
                          "network_dim=8", "optimizer_type=AdamW"};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        if (config_set(cfg, base[i], err) != 0)
            return -1;
    const param *p = params_find("additional_parameters");
    if (config_set_value_text(cfg, p, additional, "test", err) != 0)
        return -1;
    return config_apply_additional_parameters(cfg, w, err);
}

static bool list_is(const config *cfg, const char *name, const char *const *items, size_t n)
{
    const toml_value *v = config_get(cfg, params_find(name));
    if (!v || v->type != TOML_ARRAY || v->as.array.count != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v->as.array.items[i]->type != TOML_STRING || strcmp(v->as.array.items[i]->as.string.data, items[i]))
            return false;
    return true;
}

int main(void)
{
    config cfg;
    config_warnings w = {0};
    error_info err = {0};
    int rc = apply(&cfg, "--learning_rate 5e-5 --network_train_unet_only \"--max_grad_norm=0\" "
                         "--optimizer_args weight_decay=0.05 betas=0.9,0.99 --text_encoder_lr 2e-5 3e-5 "
                         "--learning_rate 6e-5 --frobnicate 3",
                   &w, &err);
    CHECK(rc == 0, "apply: %s", err.message);
    CHECK(config_float(&cfg, "learning_rate") == 6e-5, "learning_rate %g: the later --learning_rate wins",
          config_float(&cfg, "learning_rate"));
    CHECK(config_bool(&cfg, "network_train_unet_only"), "the store_true flag was not set");
    CHECK(config_float(&cfg, "max_grad_norm") == 0.0, "--max_grad_norm=0 (in quotes) not applied");
    const char *opt[] = {"weight_decay=0.05", "betas=0.9,0.99"};
    CHECK(list_is(&cfg, "optimizer_args", opt, 2), "optimizer_args not the list given");
    CHECK(fabs(config_float(&cfg, "text_encoder_lr") - 2e-5) < 1e-12,
          "text_encoder_lr %g: sd-scripts' list gives its first value", config_float(&cfg, "text_encoder_lr"));
    CHECK(config_int(&cfg, "network_dim") == 8, "network_dim changed");
    bool warned = false;
    for (size_t i = 0; i < w.count; i++)
        warned |= strstr(w.lines[i], "frobnicate") != NULL;
    CHECK(warned, "no warning for --frobnicate");
    config_warnings_free(&w);
    config_free(&cfg);

    /* the network as sd-scripts' command line names it */
    rc = apply(&cfg, "--network_module lycoris.kohya --network_args algo=loha conv_dim=4 conv_alpha=2", &w, &err);
    CHECK(rc == 0, "apply: %s", err.message);
    CHECK(!strcmp(config_string(&cfg, "lora_type"), "LyCORIS/LoHa"), "lora_type %s, want LyCORIS/LoHa",
          config_string(&cfg, "lora_type"));
    CHECK(config_int(&cfg, "conv_dim") == 4 && config_float(&cfg, "conv_alpha") == 2.0,
          "conv_dim %lld conv_alpha %g from network_args", config_int(&cfg, "conv_dim"),
          config_float(&cfg, "conv_alpha"));
    config_warnings_free(&w);
    config_free(&cfg);

    /* sd-scripts' legacy spellings: --use_lion_optimizer, --caption_extention */
    rc = apply(&cfg, "--use_lion_optimizer --caption_extention .cap", &w, &err);
    CHECK(rc == 0 && !strcmp(config_string(&cfg, "optimizer_type"), "Lion") &&
              !strcmp(config_string(&cfg, "caption_extension"), ".cap"),
          "legacy flags: %s, optimizer %s, caption extension %s", rc ? err.message : "ok",
          config_string(&cfg, "optimizer_type"), config_string(&cfg, "caption_extension"));
    config_warnings_free(&w);
    config_free(&cfg);

    /* errors */
    CHECK(apply(&cfg, "--learning_rate 1e-4 max_train_steps 50", &w, &err) != 0 &&
              !strcmp(err.key, "additional_parameters") && strstr(err.message, "\"max_train_steps\""),
          "a bare word: %s", err.message);
    config_warnings_free(&w);
    config_free(&cfg);
    CHECK(apply(&cfg, "--max_train_steps", &w, &err) != 0 && strstr(err.message, "needs a value"),
          "an option without its value: %s", err.message);
    config_warnings_free(&w);
    config_free(&cfg);
    CHECK(apply(&cfg, "--max_train_steps lots", &w, &err) != 0 && strstr(err.key, "max_train_steps"),
          "a value of the wrong type: %s (%s)", err.message, err.key);
    config_warnings_free(&w);
    config_free(&cfg);
    if (!failures)
        printf("additional_parameters: overrides, flags, lists, the network and the errors as sd-scripts\n");
    return failures != 0;
}
