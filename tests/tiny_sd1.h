/* tiny_sd1.h — the tiny SD1 U-Net and CLIP text encoder of tests/fixtures (unet-sd1,
 * clip-sd1; the encoder named "lora_te" as sd-scripts' LoRA names it), built from their
 * configs with zero weights, for the network tests. */
#ifndef LORATTY_TESTS_TINY_SD1_H
#define LORATTY_TESTS_TINY_SD1_H

#include <stdio.h>

#include "engine/models/clip.h"
#include "engine/models/unet.h"

/* 0, or -1 with err set and nothing left to free. */
static inline int tiny_sd1_build(const char *top, unet_model *um, clip_model *cm, error_info *err)
{
    char path[4096];
    unet_config ucfg;
    clip_config ccfg;
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/config.json", top);
    if (unet_config_load(&ucfg, path, err) != 0 || unet_build(um, &ucfg, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/tests/fixtures/clip-sd1/config.json", top);
    if (clip_config_from_json(&ccfg, path, err) != 0 || clip_create(cm, &ccfg, "lora_te", err) != 0) {
        unet_free(um);
        return -1;
    }
    return 0;
}

#endif
