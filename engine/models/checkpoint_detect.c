/* checkpoint_detect.c — what a safetensors file is, from its keys and shapes: an SD 1.x, 2.x or
 * SDXL base checkpoint loratty can train on, or one of the kinds it refuses (SDXL refiner, SD3,
 * Flux, inpainting and instruct-pix2pix UNets, a LoRA, a VAE or an embedding on its own), each
 * with a message that names what was found. The telltale keys are the ones diffusers'
 * single_file_utils.CHECKPOINT_KEY_NAMES and sd-scripts' loaders look at. */
#include "engine/models/checkpoint.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool any_prefix(const safetensors_file *f, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < safetensors_count(f); i++)
        if (strncmp(safetensors_tensor_at(f, i)->name, prefix, n) == 0)
            return true;
    return false;
}

static bool any_substring(const safetensors_file *f, const char *part)
{
    for (size_t i = 0; i < safetensors_count(f); i++)
        if (strstr(safetensors_tensor_at(f, i)->name, part))
            return true;
    return false;
}

/* Width of the cross-attention context: the input width of the first attn2.to_k (0 if none). */
static int64_t context_dim(const safetensors_file *f)
{
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        if (strncmp(t->name, "model.diffusion_model.", 22) == 0 && strstr(t->name, ".attn2.to_k.weight") &&
            t->ndim == 2)
            return t->shape[1];
    }
    return 0;
}

static bool contains_nocase(const char *s, const char *part)
{
    size_t n = strlen(part);
    for (; s && *s; s++) {
        size_t k = 0;
        while (k < n && s[k] && tolower((unsigned char)s[k]) == part[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

static bool v_hint(const safetensors_file *f, const char *label)
{
    const char *pred = safetensors_metadata_get(f, "modelspec.prediction_type");
    const char *arch = safetensors_metadata_get(f, "modelspec.architecture");
    const char *base = label ? strrchr(label, '/') : NULL;
    base = base ? base + 1 : label;
    return (pred && (strcmp(pred, "v") == 0 || strcmp(pred, "v_prediction") == 0)) ||
           contains_nocase(arch, "768-v") || safetensors_find(f, "v_pred") ||
           contains_nocase(base, "768-v") || contains_nocase(base, "v-pred") || contains_nocase(base, "vpred");
}

static void refuse(ckpt_detection *d, ckpt_family family, const char *text)
{
    d->family = family;
    d->loadable = false;
    snprintf(d->text, sizeof d->text, "%s", text);
}

void ckpt_detect_file(const safetensors_file *f, const char *label, ckpt_detection *d)
{
    memset(d, 0, sizeof *d);
    if (any_prefix(f, "lora_unet_") || any_prefix(f, "lora_te") || any_substring(f, ".lora_down.weight") ||
        any_substring(f, ".lora_A.weight"))
        return refuse(d, CKPT_LORA, "a LoRA, not a base model: give it as network weights, and a "
                                    "Stable Diffusion checkpoint as the model");
    if (safetensors_find(f, "emb_params") || any_prefix(f, "string_to_param") ||
        (safetensors_find(f, "clip_l") && safetensors_find(f, "clip_g") && safetensors_count(f) <= 3))
        return refuse(d, CKPT_EMBEDDING, "a textual-inversion embedding, not a base model");
    if (any_prefix(f, "model.diffusion_model.joint_blocks.") || any_prefix(f, "joint_blocks."))
        return refuse(d, CKPT_SD3, "Stable Diffusion 3 (MMDiT joint_blocks): loratty trains SD 1.x, "
                                   "2.x and SDXL only");
    if (any_prefix(f, "model.diffusion_model.double_blocks.") || any_prefix(f, "double_blocks."))
        return refuse(d, CKPT_FLUX, "Flux (double_blocks): loratty trains SD 1.x, 2.x and SDXL only");

    d->has_unet = safetensors_find(f, "model.diffusion_model.input_blocks.0.0.weight") != NULL;
    d->has_vae = any_prefix(f, "first_stage_model.");
    d->has_te = any_prefix(f, "cond_stage_model.") || any_prefix(f, "conditioner.embedders.");
    d->v_prediction_hint = v_hint(f, label);

    if (!d->has_unet) {
        if (d->has_vae || any_prefix(f, "encoder.down.") || any_prefix(f, "decoder.up.") ||
            any_prefix(f, "encoder.down_blocks.") || any_prefix(f, "decoder.up_blocks."))
            return refuse(d, CKPT_VAE_ONLY, "a VAE on its own: give it as the VAE, with a Stable "
                                            "Diffusion checkpoint as the model");
        if (any_prefix(f, "down_blocks.") && any_prefix(f, "conv_in."))
            return refuse(d, CKPT_UNET_ONLY, "a diffusers UNet on its own: give the whole diffusers "
                                             "folder (with model_index.json) as the model");
        return refuse(d, CKPT_UNKNOWN, "not a Stable Diffusion checkpoint (no "
                                       "model.diffusion_model.* UNet keys)");
    }
    const safetensors_tensor *conv_in = safetensors_find(f, "model.diffusion_model.input_blocks.0.0.weight");
    int64_t in_ch = conv_in->ndim == 4 ? conv_in->shape[1] : 0;
    if (in_ch == 9)
        return refuse(d, CKPT_INPAINT, "an inpainting model (conv_in takes 9 channels: latents, mask, "
                                       "masked image); use the plain model of the same family");
    if (in_ch == 8)
        return refuse(d, CKPT_PIX2PIX, "an instruct-pix2pix model (conv_in takes 8 channels); use a "
                                       "plain text-to-image model");
    if (in_ch != 4) {
        snprintf(d->text, sizeof d->text, "a UNet whose conv_in takes %lld channels (Stable Diffusion "
                 "has 4): not a model loratty knows", (long long)in_ch);
        return;
    }
    int64_t ctx = context_dim(f);
    const safetensors_tensor *adm = safetensors_find(f, "model.diffusion_model.label_emb.0.0.weight");
    int64_t adm_in = adm && adm->ndim == 2 ? adm->shape[1] : 0;
    if (any_prefix(f, "conditioner.embedders.0.model.") || (ctx == 1280 && adm_in == 2560))
        return refuse(d, CKPT_SDXL_REFINER, "the SDXL refiner (only the OpenCLIP bigG encoder, 1280-wide "
                                            "context, 2560-wide size vector); train on SDXL base");
    const char *what;
    ckpt_family family;
    if (ctx == 2048 || any_prefix(f, "conditioner.embedders.1.model.")) {
        family = CKPT_SDXL;
        what = "SDXL base (UNet, CLIP-L + OpenCLIP bigG text encoders";
        d->has_te = any_prefix(f, "conditioner.embedders.0.transformer.") &&
                    any_prefix(f, "conditioner.embedders.1.model.");
    } else if (ctx == 1024 || any_prefix(f, "cond_stage_model.model.")) {
        family = CKPT_SD2;
        what = d->v_prediction_hint ? "SD 2.x (the file says v-prediction: set v_parameterization; "
                                      "UNet, OpenCLIP-H text encoder"
                                    : "SD 2.x (set v_parameterization for 768-v models; UNet, "
                                      "OpenCLIP-H text encoder";
        d->has_te = any_prefix(f, "cond_stage_model.model.");
    } else if (ctx == 768 || any_prefix(f, "cond_stage_model.transformer.")) {
        family = CKPT_SD1;
        what = "SD 1.x (UNet, CLIP-L text encoder";
        d->has_te = any_prefix(f, "cond_stage_model.transformer.");
    } else {
        snprintf(d->text, sizeof d->text, "a UNet with a %lld-wide cross-attention context: not SD 1.x "
                 "(768), 2.x (1024) or SDXL (2048)", (long long)ctx);
        return;
    }
    d->family = family;
    if (!d->has_te) {
        d->family = CKPT_UNET_ONLY;
        snprintf(d->text, sizeof d->text, "%s UNet without its text encoder%s: give a full checkpoint",
                 checkpoint_family_name(family), family == CKPT_SDXL ? "s" : "");
        return;
    }
    d->loadable = true;
    snprintf(d->text, sizeof d->text, "%s%s)%s%s", what, d->has_vae ? ", VAE" : "",
             family != CKPT_SD2 && d->v_prediction_hint ? "; the file says v-prediction" : "",
             d->has_vae ? "" : "; no VAE inside: give one with --vae");
}

const char *checkpoint_family_name(ckpt_family family)
{
    switch (family) {
    case CKPT_SD1: return "SD 1.x";
    case CKPT_SD2: return "SD 2.x";
    case CKPT_SDXL: return "SDXL";
    case CKPT_SDXL_REFINER: return "SDXL refiner";
    case CKPT_SD3: return "SD3";
    case CKPT_FLUX: return "Flux";
    case CKPT_INPAINT: return "inpainting";
    case CKPT_PIX2PIX: return "instruct-pix2pix";
    case CKPT_LORA: return "LoRA";
    case CKPT_VAE_ONLY: return "VAE";
    case CKPT_EMBEDDING: return "embedding";
    case CKPT_UNET_ONLY: return "UNet only";
    case CKPT_UNKNOWN: break;
    }
    return "unknown";
}
