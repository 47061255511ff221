/* ldm_keys.c — the names of a single-file (LDM / SGM) Stable Diffusion checkpoint mapped to
 * the diffusers / transformers names the models load by. Pure string work, no I/O.
 *
 * The rules, checked against diffusers' loaders/single_file_utils.py (convert_ldm_unet_checkpoint,
 * convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) and
 * sd-scripts' library/model_util.py / sdxl_model_util.py:
 *  - UNet: input_blocks.K with K = 1 + i·(n+1) + j is down level i, resnet (.0) or attention
 *    (.1) j; K = (i+1)·(n+1) is level i's downsampler (.0.op); output_blocks.K = up level
 *    K/(n+1), layer K%(n+1), with the upsampler at .1.conv or .2.conv (after an attention);
 *    middle_block.0/1/2 = resnet 0, attention, resnet 1. n = layers_per_block, read from the
 *    file (ldm_layout_infer). Names inside attention blocks are the same in both layouts.
 *  - VAE: down/up .block → resnets, nin_shortcut → conv_shortcut, norm_out → conv_norm_out,
 *    mid.attn_1 q/k/v/proj_out (1x1 convs) → to_q/to_k/to_v/to_out.0 (Linear), and the decoder's
 *    levels are numbered in reverse (LDM up.3 = diffusers up_blocks.0).
 *  - CLIP-L is transformers' own module in both layouts (old files lack "text_model.").
 *  - OpenCLIP: fused in_proj split into q/k/v, ln_1/ln_2 → layer_norm1/2, c_fc/c_proj → fc1/fc2;
 *    text_projection is used as x @ P, so the Linear weight is P transposed. SD2 runs only 23 of
 *    its 24 blocks (penultimate layer), so the last one and the projection are not loaded. */
#include "engine/models/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *after(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Parses "<int>." at s; returns the text after the dot or NULL. */
static const char *take_index(const char *s, int *value)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '.' || v < 0 || v > 100000)
        return NULL;
    *value = (int)v;
    return end + 1;
}

static ldm_op set1(ldm_mapping *m, ldm_op op, ckpt_component c, const char *fmt_a, const char *b)
{
    m->op = op;
    m->component = c;
    snprintf(m->name[0], sizeof m->name[0], "%s%s", fmt_a, b);
    return op;
}

static ldm_op ignore(ldm_mapping *m, ckpt_component c, const char *reason)
{
    m->op = LDM_IGNORE;
    m->component = c;
    m->reason = reason;
    return LDM_IGNORE;
}

/* ---- UNet ---- */

static ldm_op unet_resnet(ldm_mapping *m, const char *head, const char *rest)
{
    static const char *const pairs[][2] = {
        {"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
        {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *tail = after(rest, pairs[i][0]);
        if (tail) {
            m->op = LDM_RENAME;
            m->component = CKPT_UNET;
            snprintf(m->name[0], sizeof m->name[0], "%s%s%s", head, pairs[i][1], tail);
            return LDM_RENAME;
        }
    }
    return LDM_UNKNOWN;
}

static ldm_op unet_key(const ldm_layout *layout, const char *s, ldm_mapping *m)
{
    static const char *const fixed[][2] = {
        {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
        {"label_emb.0.0.", "add_embedding.linear_1."}, {"label_emb.0.2.", "add_embedding.linear_2."},
        {"input_blocks.0.0.", "conv_in."}, {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        const char *tail = after(s, fixed[i][0]);
        if (tail)
            return set1(m, LDM_RENAME, CKPT_UNET, fixed[i][1], tail);
    }
    int n = layout->unet_layers_per_block, k, sub;
    char head[96];
    const char *rest;
    if (n <= 0)
        return LDM_UNKNOWN;
    if ((rest = after(s, "input_blocks.")) && (rest = take_index(rest, &k)) &&
        (rest = take_index(rest, &sub)) && k > 0) {
        int level = (k - 1) / (n + 1), j = (k - 1) % (n + 1);
        if (j == n) {
            const char *tail = sub == 0 ? after(rest, "op.") : NULL;
            if (!tail)
                return LDM_UNKNOWN;
            snprintf(head, sizeof head, "down_blocks.%d.downsamplers.0.conv.", level);
            return set1(m, LDM_RENAME, CKPT_UNET, head, tail);
        }
        if (sub == 0) {
            snprintf(head, sizeof head, "down_blocks.%d.resnets.%d.", level, j);
            return unet_resnet(m, head, rest);
        }
        if (sub != 1)
            return LDM_UNKNOWN;
        snprintf(head, sizeof head, "down_blocks.%d.attentions.%d.", level, j);
        return set1(m, LDM_RENAME, CKPT_UNET, head, rest);
    }
    if ((rest = after(s, "middle_block.")) && (rest = take_index(rest, &sub))) {
        if (sub == 1)
            return set1(m, LDM_RENAME, CKPT_UNET, "mid_block.attentions.0.", rest);
        if (sub != 0 && sub != 2)
            return LDM_UNKNOWN;
        snprintf(head, sizeof head, "mid_block.resnets.%d.", sub / 2);
        return unet_resnet(m, head, rest);
    }
    if ((rest = after(s, "output_blocks.")) && (rest = take_index(rest, &k)) &&
        (rest = take_index(rest, &sub))) {
        int level = k / (n + 1), j = k % (n + 1);
        if (sub == 0) {
            snprintf(head, sizeof head, "up_blocks.%d.resnets.%d.", level, j);
            return unet_resnet(m, head, rest);
        }
        /* An attention block's children are norm/proj_in/transformer_blocks/proj_out, never
         * "conv", so ".conv." after .1 or .2 is the upsampler. */
        const char *tail = after(rest, "conv.");
        if (tail && j == n) {
            snprintf(head, sizeof head, "up_blocks.%d.upsamplers.0.conv.", level);
            return set1(m, LDM_RENAME, CKPT_UNET, head, tail);
        }
        if (sub != 1)
            return LDM_UNKNOWN;
        snprintf(head, sizeof head, "up_blocks.%d.attentions.%d.", level, j);
        return set1(m, LDM_RENAME, CKPT_UNET, head, rest);
    }
    return LDM_UNKNOWN;
}

/* ---- VAE ---- */

static ldm_op vae_resnet(ldm_mapping *m, const char *head, const char *rest)
{
    const char *tail = after(rest, "nin_shortcut.");
    set1(m, LDM_RENAME, CKPT_VAE, head, tail ? "conv_shortcut." : rest);
    if (tail)
        strncat(m->name[0], tail, sizeof m->name[0] - strlen(m->name[0]) - 1);
    return LDM_RENAME;
}

static ldm_op vae_mid(ldm_mapping *m, const char *side, const char *rest)
{
    char head[96];
    const char *tail;
    if ((tail = after(rest, "block_1.")) || (tail = after(rest, "block_2."))) {
        snprintf(head, sizeof head, "%s.mid_block.resnets.%d.", side, rest[6] - '1');
        return vae_resnet(m, head, tail);
    }
    if (!(rest = after(rest, "attn_1.")))
        return LDM_UNKNOWN;
    static const char *const pairs[][2] = {
        {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if ((tail = after(rest, pairs[i][0]))) {
            snprintf(head, sizeof head, "%s.mid_block.attentions.0.%s", side, pairs[i][1]);
            bool conv = i > 0 && strcmp(tail, "weight") == 0;
            return set1(m, conv ? LDM_SQUEEZE : LDM_RENAME, CKPT_VAE, head, tail);
        }
    }
    return LDM_UNKNOWN;
}

static ldm_op vae_key(const ldm_layout *layout, const char *s, ldm_mapping *m)
{
    const char *rest, *tail;
    char head[96];
    int level, block;
    if (after(s, "loss."))
        return ignore(m, CKPT_VAE, "the VAE's training loss (discriminator), not part of the model");
    if ((tail = after(s, "encoder.norm_out.")))
        return set1(m, LDM_RENAME, CKPT_VAE, "encoder.conv_norm_out.", tail);
    if ((tail = after(s, "decoder.norm_out.")))
        return set1(m, LDM_RENAME, CKPT_VAE, "decoder.conv_norm_out.", tail);
    if ((rest = after(s, "encoder.mid.")))
        return vae_mid(m, "encoder", rest);
    if ((rest = after(s, "decoder.mid.")))
        return vae_mid(m, "decoder", rest);
    bool enc = (rest = after(s, "encoder.down.")) != NULL;
    if (!enc)
        rest = after(s, "decoder.up.");
    if (rest && (rest = take_index(rest, &level))) {
        const char *side = enc ? "encoder.down_blocks" : "decoder.up_blocks";
        if (!enc) {
            if (level >= layout->vae_levels)
                return LDM_UNKNOWN;
            level = layout->vae_levels - 1 - level;   /* LDM counts the decoder from the bottom */
        }
        if ((tail = after(rest, enc ? "downsample.conv." : "upsample.conv."))) {
            snprintf(head, sizeof head, "%s.%d.%s.0.conv.", side, level, enc ? "downsamplers" : "upsamplers");
            return set1(m, LDM_RENAME, CKPT_VAE, head, tail);
        }
        if ((rest = after(rest, "block.")) && (rest = take_index(rest, &block))) {
            snprintf(head, sizeof head, "%s.%d.resnets.%d.", side, level, block);
            return vae_resnet(m, head, rest);
        }
        return LDM_UNKNOWN;
    }
    static const char *const same[] = {"encoder.conv_in.", "encoder.conv_out.", "decoder.conv_in.",
                                       "decoder.conv_out.", "quant_conv.", "post_quant_conv."};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (after(s, same[i]))
            return set1(m, LDM_RENAME, CKPT_VAE, "", s);
    return LDM_UNKNOWN;
}

/* ---- text encoders ---- */

static ldm_op clip_key(ckpt_component c, const char *s, ldm_mapping *m)
{
    if (strstr(s, "embeddings.position_ids"))
        return ignore(m, c, "a constant index buffer (0..76), not a weight");
    if (after(s, "text_model."))
        return set1(m, LDM_RENAME, c, "", s);
    return set1(m, LDM_RENAME, c, "text_model.", s);   /* files from before transformers 4.x */
}

static ldm_op openclip_key(const ldm_layout *layout, int which, const char *s, ldm_mapping *m)
{
    ckpt_component c = which == 0 ? CKPT_TE1 : CKPT_TE2;
    const char *rest, *tail;
    int layer;
    if (strcmp(s, "token_embedding.weight") == 0)
        return set1(m, LDM_RENAME, c, "text_model.embeddings.token_embedding.weight", "");
    if (strcmp(s, "positional_embedding") == 0)
        return set1(m, LDM_RENAME, c, "text_model.embeddings.position_embedding.weight", "");
    if ((tail = after(s, "ln_final.")))
        return set1(m, LDM_RENAME, c, "text_model.final_layer_norm.", tail);
    if (strcmp(s, "logit_scale") == 0)
        return ignore(m, c, "CLIP's contrastive temperature, not used for conditioning");
    if (strcmp(s, "attn_mask") == 0)
        return ignore(m, c, "the causal mask, rebuilt by the model");
    if (strcmp(s, "text_projection") == 0) {
        if (which == 0)
            return ignore(m, c, "SD2 conditions on hidden states; the pooled projection is unused "
                                "(diffusers' SD2 text encoder has none)");
        return set1(m, LDM_TRANSPOSE, c, "text_projection.weight", "");
    }
    if (!(rest = after(s, "transformer.resblocks.")) || !(rest = take_index(rest, &layer)))
        return LDM_UNKNOWN;
    if (which == 0 && layer == layout->openclip_layers[0] - 1)
        return ignore(m, c, "SD2 conditions on the penultimate layer, so the last block never runs "
                            "(diffusers' and sd-scripts' SD2 text encoder has 23 layers)");
    char head[96];
    snprintf(head, sizeof head, "text_model.encoder.layers.%d.", layer);
    static const char *const pairs[][2] = {
        {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
        {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if ((tail = after(rest, pairs[i][0]))) {
            set1(m, LDM_RENAME, c, head, pairs[i][1]);
            strncat(m->name[0], tail, sizeof m->name[0] - strlen(m->name[0]) - 1);
            return LDM_RENAME;
        }
    }
    const char *kind = strcmp(rest, "attn.in_proj_weight") == 0 ? "weight"
                       : strcmp(rest, "attn.in_proj_bias") == 0 ? "bias" : NULL;
    if (!kind)
        return LDM_UNKNOWN;
    static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
    m->op = LDM_SPLIT_QKV;
    m->component = c;
    for (int i = 0; i < 3; i++)
        snprintf(m->name[i], sizeof m->name[i], "%sself_attn.%s.%s", head, qkv[i], kind);
    return LDM_SPLIT_QKV;
}

/* Buffers of LDM's DDPM (ldm/models/diffusion/ddpm.py register_schedule). */
static bool is_schedule_buffer(const char *s)
{
    static const char *const names[] = {
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
        "posterior_mean_coef1", "posterior_mean_coef2", "logvar",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

ldm_op ldm_map_key(const ldm_layout *layout, const char *key, ldm_mapping *m)
{
    const char *rest;
    memset(m, 0, sizeof *m);
    if ((rest = after(key, "model.diffusion_model.")))
        return unet_key(layout, rest, m);
    if ((rest = after(key, "first_stage_model.")))
        return vae_key(layout, rest, m);
    if ((rest = after(key, "cond_stage_model.transformer.")))
        return clip_key(CKPT_TE1, rest, m);
    if ((rest = after(key, "conditioner.embedders.0.transformer.")))
        return clip_key(CKPT_TE1, rest, m);
    if ((rest = after(key, "cond_stage_model.model.")))
        return openclip_key(layout, 0, rest, m);
    if ((rest = after(key, "conditioner.embedders.1.model.")))
        return openclip_key(layout, 1, rest, m);
    if (after(key, "model_ema."))
        return ignore(m, CKPT_UNET, "the EMA copy of the UNet; like sd-scripts, loratty trains on the "
                                    "model's own weights");
    if (is_schedule_buffer(key))
        return ignore(m, CKPT_UNET, "a noise-schedule buffer; loratty computes the schedule itself");
    if (strcmp(key, "v_pred") == 0 || strcmp(key, "ztsnr") == 0)
        return ignore(m, CKPT_UNET, "a marker tensor of v-prediction / zero-terminal-SNR models "
                                    "(read by detection)");
    return LDM_UNKNOWN;
}

/* Largest "<prefix><int>." index among names, or -1. */
static int max_index(const char *const *names, size_t count, const char *prefix, const char *need)
{
    int best = -1;
    for (size_t i = 0; i < count; i++) {
        const char *rest = after(names[i], prefix);
        int k;
        if (!rest || !(rest = take_index(rest, &k)))
            continue;
        if (need && !after(rest, need))
            continue;
        if (k > best)
            best = k;
    }
    return best;
}

void ldm_layout_infer(ldm_layout *layout, const char *const *names, size_t count)
{
    memset(layout, 0, sizeof *layout);
    int kmax = max_index(names, count, "model.diffusion_model.input_blocks.", NULL);
    if (kmax > 0) {
        /* Downsamplers ("K.0.op") close every level but the last. */
        int levels = 1;
        for (int k = 1; k <= kmax; k++) {
            char prefix[96];
            snprintf(prefix, sizeof prefix, "model.diffusion_model.input_blocks.%d.", k);
            if (max_index(names, count, prefix, "op.") == 0)
                levels++;
        }
        layout->unet_layers_per_block = (kmax + 1) / levels - 1;
    }
    layout->vae_levels = max_index(names, count, "first_stage_model.decoder.up.", NULL) + 1;
    layout->openclip_layers[0] =
        max_index(names, count, "cond_stage_model.model.transformer.resblocks.", NULL) + 1;
    layout->openclip_layers[1] =
        max_index(names, count, "conditioner.embedders.1.model.transformer.resblocks.", NULL) + 1;
}
