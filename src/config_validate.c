/* config_validate.c — checks that need more than one value: the cross-field rules of
 * kohya_ss and sd-scripts (sdxl with v2, bucket steps, resolution format ...), and the
 * "not supported yet" gate of --run. */
#include "config_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a value came from, for messages: the file and line it was read at. */
static int rule_error(const config *cfg, const char *name, error_info *err, const char *fmt,
                      const char *detail)
{
    const param *p = params_find(name);
    char key[160] = "";
    const char *origin = NULL;
    int line = 0;
    if (p) {
        config_key_label(p, key, sizeof key);
        const toml_value *v = config_get(cfg, p);
        origin = cfg->origins[p - params_table];
        line = v ? v->line : 0;
    }
    return error_set(err, origin, line, 0, key, fmt, detail);
}

/* Parses "W,H" or "N" (sd-scripts' resolution); returns 0 on success. */
int config_parse_resolution(const char *text, int *width, int *height)
{
    char *end;
    long w = strtol(text, &end, 10);
    long h = w;
    while (*end == ' ')
        end++;
    if (*end == ',') {
        const char *rest = end + 1;
        h = strtol(rest, &end, 10);
        if (end == rest)
            return -1;
    }
    while (*end == ' ')
        end++;
    if (*end || end == text || w <= 0 || h <= 0 || w > 16384 || h > 16384)
        return -1;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

int config_validate(const config *cfg, error_info *err)
{
    /* values read from files were checked when stored; re-check the ones set by hand */
    for (size_t i = 0; i < params_count; i++) {
        const toml_value *v = cfg->values[i];
        if (!v)
            continue;
        toml_value *again = config_coerce(&params_table[i], v, cfg->origins[i], err);
        if (!again)
            return -1;
        toml_free(again);
    }

    bool sdxl = config_bool(cfg, "sdxl");
    if (sdxl && config_bool(cfg, "v2"))
        return rule_error(cfg, "v2", err, "%s", "v2 and sdxl cannot both be set: SDXL is its own family");
    if (config_bool(cfg, "v_parameterization") && !config_bool(cfg, "v2") && !sdxl)
        return rule_error(cfg, "v_parameterization", err, "%s",
                          "v_parameterization needs v2 (SD2.x 768-v models) or sdxl");

    int width, height;
    const char *resolution = config_string(cfg, "resolution");
    if (config_parse_resolution(resolution, &width, &height) != 0)
        return rule_error(cfg, "resolution", err,
                          "\"%s\" is not a resolution: write \"W,H\" or \"N\" (e.g. \"512,512\")",
                          resolution);
    if (width % 8 || height % 8)
        return rule_error(cfg, "resolution", err,
                          "\"%s\": width and height must be multiples of 8", resolution);

    if (config_bool(cfg, "enable_bucket")) {
        /* sd-scripts' verify_bucket_reso_steps, which only bucketed datasets go through */
        long long steps = config_int(cfg, "bucket_reso_steps");
        int multiple = sdxl ? 32 : 64;
        if (steps <= 0 || steps % multiple) {
            char detail[160];
            snprintf(detail, sizeof detail, "%lld is not a multiple of %d (%s)", steps, multiple,
                     sdxl ? "SDXL needs multiples of 32" : "SD1.x/2.x need multiples of 64");
            return rule_error(cfg, "bucket_reso_steps", err, "%s", detail);
        }
        long long lo = config_int(cfg, "min_bucket_reso"), hi = config_int(cfg, "max_bucket_reso");
        char detail[200];
        if (lo > hi) {
            snprintf(detail, sizeof detail, "min_bucket_reso %lld is larger than max_bucket_reso %lld", lo, hi);
            return rule_error(cfg, "min_bucket_reso", err, "%s", detail);
        }
        if (hi < width || hi < height) {
            snprintf(detail, sizeof detail,
                     "max_bucket_reso %lld is smaller than the resolution %dx%d", hi, width, height);
            return rule_error(cfg, "max_bucket_reso", err, "%s", detail);
        }
    }
    if (config_int(cfg, "min_timestep") >= config_int(cfg, "max_timestep")) {
        char detail[120];
        snprintf(detail, sizeof detail, "min_timestep %lld must be below max_timestep %lld",
                 config_int(cfg, "min_timestep"), config_int(cfg, "max_timestep"));
        return rule_error(cfg, "min_timestep", err, "%s", detail);
    }
    /* sd-scripts refuses warmup for the schedules that have none */
    const char *scheduler = config_string(cfg, "lr_scheduler");
    if ((strcmp(scheduler, "constant") == 0 || strcmp(scheduler, "adafactor") == 0)
        && (config_float(cfg, "lr_warmup") > 0 || config_int(cfg, "lr_warmup_steps") > 0)) {
        char detail[200];
        snprintf(detail, sizeof detail, "lr_scheduler %s has no warmup: set lr_warmup and lr_warmup_steps "
                 "to 0, or use constant_with_warmup", scheduler);
        return rule_error(cfg, config_int(cfg, "lr_warmup_steps") > 0 ? "lr_warmup_steps" : "lr_warmup",
                          err, "%s", detail);
    }
    if (config_bool(cfg, "network_train_unet_only") && config_bool(cfg, "network_train_text_encoder_only"))
        return rule_error(cfg, "network_train_text_encoder_only", err, "%s",
                          "network_train_unet_only and network_train_text_encoder_only exclude each other");
    if (config_bool(cfg, "full_fp16") && config_bool(cfg, "full_bf16"))
        return rule_error(cfg, "full_bf16", err, "%s", "full_fp16 and full_bf16 exclude each other");
    if (config_bool(cfg, "cache_latents") && (config_bool(cfg, "color_aug") || config_bool(cfg, "random_crop")))
        return rule_error(cfg, config_bool(cfg, "color_aug") ? "color_aug" : "random_crop", err, "%s",
                          "color_aug and random_crop change the image every epoch, so they cannot be used with cache_latents");
    return 0;
}

int config_check_supported(const config *cfg, error_info *err)
{
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        if (p->support != SUPPORT_NOT_YET || config_is_default(cfg, p))
            continue;
        char key[160];
        config_key_label(p, key, sizeof key);
        char *text = config_value_text(cfg, p);
        const toml_value *v = config_get(cfg, p);
        error_set(err, cfg->origins[i], v ? v->line : 0, 0, key,
                  "\"%s\" is not supported by loratty's engine yet (only the default \"%s\" is); "
                  "remove it or set it back with --set %s=%s",
                  text, p->default_value ? p->default_value : "", p->name,
                  p->default_value && p->default_value[0] ? p->default_value : "\"\"");
        free(text);
        return -1;
    }
    return 0;
}
