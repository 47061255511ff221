/* ldm_unmap.c — diffusers / transformers names to LDM / SGM single-file names (see
 * ldm_unmap.h). Each rule is the mirror of one in ldm_keys.c; sd_model_save.c maps every name it
 * writes back through ldm_map_key and refuses to write a file the loader would read otherwise. */
#include "engine/models/ldm_unmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *after(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Parses "<int>." at s; returns the text after the dot or NULL. */
static const char *index_at(const char *s, int *value)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '.' || v < 0 || v > 100000)
        return NULL;
    *value = (int)v;
    return end + 1;
}

static ldm_op put(char *out, size_t size, ldm_op op, const char *a, const char *b, const char *c)
{
    if (snprintf(out, size, "%s%s%s", a, b, c) >= (int)size) {
        out[0] = '\0';
        return LDM_UNKNOWN;
    }
    return op;
}

/* First pair whose diffusers side starts `rest`: its LDM side, *tail after it. */
static const char *swap(const char *const (*pairs)[2], size_t n, const char *rest, const char **tail)
{
    for (size_t i = 0; i < n; i++)
        if ((*tail = after(rest, pairs[i][1])))
            return pairs[i][0];
    return NULL;
}

/* ---- U-Net ---- */

static ldm_op unet_resnet_name(char *out, size_t size, const char *head, const char *rest)
{
    static const char *const pairs[][2] = {
        {"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
        {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
    };
    const char *tail, *ldm = swap(pairs, sizeof pairs / sizeof pairs[0], rest, &tail);
    if (!ldm)
        return LDM_UNKNOWN;
    char h[160];
    snprintf(h, sizeof h, "%s%s", head, ldm);
    return put(out, size, LDM_RENAME, "model.diffusion_model.", h, tail);
}

static ldm_op unet_name(const ldm_unmap_layout *l, const char *s, char *out, size_t size)
{
    static const char *const fixed[][2] = {
        {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
        {"label_emb.0.0.", "add_embedding.linear_1."}, {"label_emb.0.2.", "add_embedding.linear_2."},
        {"input_blocks.0.0.", "conv_in."}, {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."},
    };
    const char *rest, *tail, *ldm = swap(fixed, sizeof fixed / sizeof fixed[0], s, &tail);
    if (ldm)
        return put(out, size, LDM_RENAME, "model.diffusion_model.", ldm, tail);
    int n = l->unet_layers_per_block, i, j;
    char head[96];
    if (n <= 0)
        return LDM_UNKNOWN;
    if ((rest = after(s, "down_blocks.")) && (rest = index_at(rest, &i))) {
        if ((tail = after(rest, "downsamplers.0.conv."))) {
            snprintf(head, sizeof head, "input_blocks.%d.0.op.", (i + 1) * (n + 1));
            return put(out, size, LDM_RENAME, "model.diffusion_model.", head, tail);
        }
        int attn = (tail = after(rest, "attentions.")) != NULL;
        if (!attn && !(tail = after(rest, "resnets.")))
            return LDM_UNKNOWN;
        if (!(tail = index_at(tail, &j)) || j >= n)
            return LDM_UNKNOWN;
        snprintf(head, sizeof head, "input_blocks.%d.%d.", 1 + i * (n + 1) + j, attn);
        return attn ? put(out, size, LDM_RENAME, "model.diffusion_model.", head, tail)
                    : unet_resnet_name(out, size, head, tail);
    }
    if ((rest = after(s, "mid_block."))) {
        if ((tail = after(rest, "attentions.0.")))
            return put(out, size, LDM_RENAME, "model.diffusion_model.", "middle_block.1.", tail);
        if (!(tail = after(rest, "resnets.")) || !(tail = index_at(tail, &j)) || j > 1)
            return LDM_UNKNOWN;
        snprintf(head, sizeof head, "middle_block.%d.", 2 * j);
        return unet_resnet_name(out, size, head, tail);
    }
    if ((rest = after(s, "up_blocks.")) && (rest = index_at(rest, &i))) {
        if (i >= UNET_MAX_LEVELS)
            return LDM_UNKNOWN;
        if ((tail = after(rest, "upsamplers.0.conv."))) {
            /* after the level's last layer: .1 without attention, .2 behind the attention */
            snprintf(head, sizeof head, "output_blocks.%d.%d.conv.", i * (n + 1) + n, l->unet_up_attn[i] ? 2 : 1);
            return put(out, size, LDM_RENAME, "model.diffusion_model.", head, tail);
        }
        int attn = (tail = after(rest, "attentions.")) != NULL;
        if (!attn && !(tail = after(rest, "resnets.")))
            return LDM_UNKNOWN;
        if (!(tail = index_at(tail, &j)) || j > n)
            return LDM_UNKNOWN;
        snprintf(head, sizeof head, "output_blocks.%d.%d.", i * (n + 1) + j, attn);
        return attn ? put(out, size, LDM_RENAME, "model.diffusion_model.", head, tail)
                    : unet_resnet_name(out, size, head, tail);
    }
    return LDM_UNKNOWN;
}

/* ---- VAE ---- */

static ldm_op vae_resnet_name(char *out, size_t size, const char *head, const char *rest)
{
    const char *tail = after(rest, "conv_shortcut.");
    char h[160];
    snprintf(h, sizeof h, "%s%s", head, tail ? "nin_shortcut." : "");
    return put(out, size, LDM_RENAME, "first_stage_model.", h, tail ? tail : rest);
}

static ldm_op vae_mid_name(char *out, size_t size, const char *side, const char *rest)
{
    char head[96];
    const char *tail;
    int k;
    if ((tail = after(rest, "resnets.")) && (tail = index_at(tail, &k)) && k <= 1) {
        snprintf(head, sizeof head, "%s.mid.block_%d.", side, k + 1);
        return vae_resnet_name(out, size, head, tail);
    }
    if (!(rest = after(rest, "attentions.0.")))
        return LDM_UNKNOWN;
    static const char *const pairs[][2] = {
        {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."},
    };
    const char *ldm = swap(pairs, sizeof pairs / sizeof pairs[0], rest, &tail);
    if (!ldm)
        return LDM_UNKNOWN;
    snprintf(head, sizeof head, "%s.mid.attn_1.%s", side, ldm);
    bool conv = strcmp(ldm, "norm.") != 0 && strcmp(tail, "weight") == 0;
    return put(out, size, conv ? LDM_SQUEEZE : LDM_RENAME, "first_stage_model.", head, tail);
}

static ldm_op vae_name(const ldm_unmap_layout *l, const char *s, char *out, size_t size)
{
    const char *rest, *tail;
    char head[96];
    int level, block;
    if ((tail = after(s, "encoder.conv_norm_out.")))
        return put(out, size, LDM_RENAME, "first_stage_model.", "encoder.norm_out.", tail);
    if ((tail = after(s, "decoder.conv_norm_out.")))
        return put(out, size, LDM_RENAME, "first_stage_model.", "decoder.norm_out.", tail);
    if ((rest = after(s, "encoder.mid_block.")))
        return vae_mid_name(out, size, "encoder", rest);
    if ((rest = after(s, "decoder.mid_block.")))
        return vae_mid_name(out, size, "decoder", rest);
    bool enc = (rest = after(s, "encoder.down_blocks.")) != NULL;
    if (!enc)
        rest = after(s, "decoder.up_blocks.");
    if (rest && (rest = index_at(rest, &level))) {
        if (!enc) {
            if (level >= l->vae_levels)
                return LDM_UNKNOWN;
            level = l->vae_levels - 1 - level;   /* LDM counts the decoder from the bottom */
        }
        const char *side = enc ? "encoder.down" : "decoder.up";
        if ((tail = after(rest, enc ? "downsamplers.0.conv." : "upsamplers.0.conv."))) {
            snprintf(head, sizeof head, "%s.%d.%s.conv.", side, level, enc ? "downsample" : "upsample");
            return put(out, size, LDM_RENAME, "first_stage_model.", head, tail);
        }
        if ((rest = after(rest, "resnets.")) && (rest = index_at(rest, &block))) {
            snprintf(head, sizeof head, "%s.%d.block.%d.", side, level, block);
            return vae_resnet_name(out, size, head, rest);
        }
        return LDM_UNKNOWN;
    }
    static const char *const same[] = {"encoder.conv_in.", "encoder.conv_out.", "decoder.conv_in.",
                                       "decoder.conv_out.", "quant_conv.", "post_quant_conv."};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (after(s, same[i]))
            return put(out, size, LDM_RENAME, "first_stage_model.", s, "");
    return LDM_UNKNOWN;
}

/* ---- text encoders ---- */

/* OpenAI CLIP keeps transformers' own names under the prefix. */
static ldm_op clip_name(const char *prefix, const char *s, char *out, size_t size)
{
    if (!after(s, "text_model."))
        return LDM_UNKNOWN;   /* a CLIP-L text_projection has no place in these layouts */
    return put(out, size, LDM_RENAME, prefix, s, "");
}

static ldm_op openclip_name(const char *prefix, const char *s, char *out, size_t size)
{
    const char *rest, *tail;
    int layer;
    if (strcmp(s, "text_model.embeddings.token_embedding.weight") == 0)
        return put(out, size, LDM_RENAME, prefix, "token_embedding.weight", "");
    if (strcmp(s, "text_model.embeddings.position_embedding.weight") == 0)
        return put(out, size, LDM_RENAME, prefix, "positional_embedding", "");
    if ((tail = after(s, "text_model.final_layer_norm.")))
        return put(out, size, LDM_RENAME, prefix, "ln_final.", tail);
    if (strcmp(s, "text_projection.weight") == 0)
        return put(out, size, LDM_TRANSPOSE, prefix, "text_projection", "");
    if (!(rest = after(s, "text_model.encoder.layers.")) || !(rest = index_at(rest, &layer)))
        return LDM_UNKNOWN;
    char head[96];
    snprintf(head, sizeof head, "transformer.resblocks.%d.", layer);
    static const char *const pairs[][2] = {
        {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
        {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."},
    };
    const char *ldm = swap(pairs, sizeof pairs / sizeof pairs[0], rest, &tail);
    if (ldm) {
        char h[160];
        snprintf(h, sizeof h, "%s%s", head, ldm);
        return put(out, size, LDM_RENAME, prefix, h, tail);
    }
    static const char *const qkv[3] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."};
    for (int q = 0; q < 3; q++) {
        if (!(tail = after(rest, qkv[q])))
            continue;
        const char *kind = strcmp(tail, "weight") == 0 ? "attn.in_proj_weight"
                           : strcmp(tail, "bias") == 0 ? "attn.in_proj_bias" : NULL;
        if (!kind)
            return LDM_UNKNOWN;
        char h[160];
        snprintf(h, sizeof h, "%s%s", head, kind);
        ldm_op op = put(out, size, LDM_SPLIT_QKV, prefix, h, "");
        return op == LDM_UNKNOWN ? op : q == 0 ? LDM_SPLIT_QKV : LDM_IGNORE;
    }
    return LDM_UNKNOWN;
}

ldm_op ldm_unmap_key(const ldm_unmap_layout *l, ckpt_component c, const char *name, char *out,
                     size_t size)
{
    ldm_op op = LDM_UNKNOWN;
    out[0] = '\0';
    bool sdxl = l->family == CKPT_SDXL;
    switch (c) {
    case CKPT_UNET:
        op = unet_name(l, name, out, size);
        break;
    case CKPT_VAE:
        op = vae_name(l, name, out, size);
        break;
    case CKPT_TE1:
        if (l->family == CKPT_SD2)
            op = openclip_name("cond_stage_model.model.", name, out, size);
        else
            op = clip_name(sdxl ? "conditioner.embedders.0.transformer." : "cond_stage_model.transformer.",
                           name, out, size);
        break;
    case CKPT_TE2:
        if (sdxl)
            op = openclip_name("conditioner.embedders.1.model.", name, out, size);
        break;
    case CKPT_COMPONENTS:
        break;
    }
    if (op == LDM_UNKNOWN)
        out[0] = '\0';
    return op;
}
