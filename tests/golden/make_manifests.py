#!/usr/bin/env python3
"""make_manifests.py — full-size parameter manifests (names and shapes, no weights) of the
models loratty loads: SD 1.5, SD 2.1 768-v and SDXL base 1.0, in both key layouts.

For each model it writes tests/fixtures/manifests/<model>-diffusers.tsv (component, diffusers /
transformers state-dict name, shape) and <model>-ldm.tsv (the single-file checkpoint name, shape).

The models are built on the meta device from their real configs, so nothing is downloaded and
no memory is spent on weights. The configs are written out below from the original inference
configs, cross-checked with the diffusers config.json values:
  SD 1.5:  CompVis/stable-diffusion configs/stable-diffusion/v1-inference.yaml (model_channels 320,
           channel_mult [1,2,4,4], num_res_blocks 2, attention_resolutions [4,2,1], num_heads 8,
           context_dim 768; VAE ch 128, ch_mult [1,2,4,4]) = runwayml/stable-diffusion-v1-5
           unet/config.json (attention_head_dim 8, cross_attention_dim 768).
  SD 2.1:  Stability-AI/stablediffusion configs/stable-diffusion/v2-inference-v.yaml
           (parameterization "v", num_head_channels 64, use_linear_in_transformer, context_dim
           1024, FrozenOpenCLIPEmbedder ViT-H-14 layer "penultimate") = stabilityai/stable-
           diffusion-2-1 unet/config.json (attention_head_dim [5,10,20,20], use_linear_projection)
           and text_encoder/config.json (23 layers: the last OpenCLIP block is never run; diffusers
           SD_2_TEXT_ENCODER_KEYS_TO_IGNORE and kohya_ss tools/convert_diffusers20_original_sd.md).
  SDXL:    Stability-AI/generative-models configs/inference/sd_xl_base.yaml (adm_in_channels 2816,
           channel_mult [1,2,4], attention_resolutions [4,2], transformer_depth [1,2,10],
           context_dim 2048; conditioner: CLIP-L layer_idx 11 + OpenCLIP ViT-bigG-14 penultimate,
           pooled) = kohya-ss/sd-scripts library/sdxl_model_util.py DIFFUSERS_SDXL_UNET_CONFIG.

The LDM names are produced by a reverse mapping written here (UNet, VAE) or taken from the
upstream module itself (open_clip for the OpenCLIP towers, transformers' CLIP for CLIP-L, which
the LDM code wraps unchanged), then CHECKED by running diffusers' own single-file converters
(diffusers.loaders.single_file_utils: convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) on meta tensors: the conversion must
give back exactly the diffusers names and shapes. So the LDM lists do not depend on loratty's C
mapping, which tests/test_checkpoint.c checks against them.

The LDM lists also carry the non-model tensors real files hold (DDPM schedule buffers, EMA
counters, CLIP position_ids, OpenCLIP logit_scale), which a loader must recognise and ignore.

Run: /work/golden-venv/bin/python tests/golden/make_manifests.py
"""
import os
import sys

import torch
import open_clip
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import single_file_utils as sfu
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "manifests")

UNET_COMMON = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, norm_num_groups=32,
    norm_eps=1e-5, act_fn="silu", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1,
    center_input_sample=False, mid_block_scale_factor=1,
)
UNET_SD15 = dict(UNET_COMMON,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    attention_head_dim=8, cross_attention_dim=768, use_linear_projection=False)
UNET_SD21 = dict(UNET_COMMON, sample_size=96,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    attention_head_dim=(5, 10, 20, 20), cross_attention_dim=1024, use_linear_projection=True)
UNET_SDXL = dict(UNET_COMMON, sample_size=128,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)

VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, act_fn="silu")

CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
    num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
    projection_dim=768)
CLIP_H_SD2 = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096,
    num_hidden_layers=23, num_attention_heads=16, max_position_embeddings=77,
    hidden_act="gelu", projection_dim=512)
CLIP_BIGG = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120,
    num_hidden_layers=32, num_attention_heads=20, max_position_embeddings=77,
    hidden_act="gelu", projection_dim=1280)

# Buffers of ldm.models.diffusion.ddpm.DDPM.register_schedule, saved in SD1/SD2 files.
DDPM_BUFFERS = ["betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2"]


def shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def te_shapes(module):
    # transformers 5 drops the "text_model." level from CLIPTextModel's state dict (and the files
    # it saves); hub checkpoints, CLIPTextModelWithProjection and kohya's LoRA names
    # (lora_te_text_model_encoder_...) all have it, so it is the canonical name here.
    sd = shapes(module)
    return {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): s
            for k, s in sd.items()}


def unet_to_ldm(name, cfg):
    """LDM name of a diffusers UNet parameter (the inverse of the §8 table)."""
    n = cfg["layers_per_block"]
    levels = len(cfg["block_out_channels"])
    attn_up = ["CrossAttn" in t for t in cfg["up_block_types"]]
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for k, v in fixed.items():
        if name.startswith(k + "."):
            return v + name[len(k):]
    res = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
           ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]

    def resnet(rest):
        for d, l in res:
            if rest.startswith(d + "."):
                return l + rest[len(d):]
        raise KeyError(name)

    p = name.split(".")
    if p[0] == "down_blocks":
        i = int(p[1])
        if p[2] == "downsamplers":
            return f"input_blocks.{(i + 1) * (n + 1)}.0.op." + ".".join(p[5:])
        j = int(p[3])
        idx = 1 + i * (n + 1) + j
        if p[2] == "resnets":
            return f"input_blocks.{idx}.0." + resnet(".".join(p[4:]))
        return f"input_blocks.{idx}.1." + ".".join(p[4:])
    if p[0] == "mid_block":
        j = int(p[2])
        if p[1] == "resnets":
            return f"middle_block.{2 * j}." + resnet(".".join(p[3:]))
        return "middle_block.1." + ".".join(p[3:])
    if p[0] == "up_blocks":
        i = int(p[1])
        if p[2] == "upsamplers":
            return f"output_blocks.{i * (n + 1) + n}.{2 if attn_up[i] else 1}.conv." + ".".join(p[5:])
        j = int(p[3])
        idx = i * (n + 1) + j
        if p[2] == "resnets":
            return f"output_blocks.{idx}.0." + resnet(".".join(p[4:]))
        return f"output_blocks.{idx}.1." + ".".join(p[4:])
    assert levels
    raise KeyError(name)


def vae_to_ldm(name, cfg):
    levels = len(cfg["block_out_channels"])
    fixed = {"encoder.conv_norm_out": "encoder.norm_out", "decoder.conv_norm_out": "decoder.norm_out"}
    for k, v in fixed.items():
        if name.startswith(k + "."):
            return v + name[len(k):]
    p = name.split(".")
    if len(p) >= 3 and p[1] == "mid_block":
        if p[2] == "resnets":
            rest = ".".join(p[4:]).replace("conv_shortcut", "nin_shortcut")
            return f"{p[0]}.mid.block_{int(p[3]) + 1}." + rest
        attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
        return f"{p[0]}.mid.attn_1.{attn[p[4]]}.{p[-1]}"
    if len(p) >= 3 and p[1] in ("down_blocks", "up_blocks"):
        i = int(p[2])
        if p[1] == "down_blocks":
            head = f"encoder.down.{i}"
            sampler = "downsample"
        else:
            head = f"decoder.up.{levels - 1 - i}"
            sampler = "upsample"
        if p[3] in ("downsamplers", "upsamplers"):
            return f"{head}.{sampler}.conv." + p[-1]
        rest = ".".join(p[5:]).replace("conv_shortcut", "nin_shortcut")
        return f"{head}.block.{p[4]}." + rest
    return name


def vae_ldm_shape(name, shape):
    # LDM's mid-block attention uses 1x1 convolutions where diffusers has Linear layers.
    if ".mid_block.attentions.0.to_" in name and name.endswith(".weight"):
        return shape + (1, 1)
    return shape


def openclip_text(arch):
    """The text tower of an OpenCLIP model, as FrozenOpenCLIPEmbedder keeps it (no visual)."""
    with torch.device("meta"):
        model = open_clip.create_model(arch, pretrained=None, device="meta")
    sd = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith("visual.")}
    return sd


def meta_tensors(sd):
    return {k: torch.empty(s, device="meta") for k, s in sd.items()}


def check_same(what, converted, expected):
    got = {k: tuple(v.shape) for k, v in converted.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))[:5]
        extra = sorted(set(got) - set(expected))[:5]
        bad = [k for k in expected if k in got and got[k] != expected[k]][:5]
        sys.exit(f"{what}: diffusers' converter disagrees: missing {missing} extra {extra} shape {bad}")


def build(name, unet_cfg, te_cfgs):
    with torch.device("meta"):
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**VAE)
        tes = []
        for cls, cfg in te_cfgs:
            tes.append(cls(CLIPTextConfig(**cfg)))
    comps = {"unet": shapes(unet), "vae": shapes(vae)}
    for i, te in enumerate(tes):
        comps[f"te{i + 1}"] = te_shapes(te)
    return comps


def write(model, comps, ldm):
    os.makedirs(OUT, exist_ok=True)

    def fmt(s):
        return ",".join(str(d) for d in s)

    with open(os.path.join(OUT, f"{model}-diffusers.tsv"), "w") as f:
        f.write(f"# {model}: component, diffusers/transformers name, shape (tests/golden/make_manifests.py)\n")
        for comp, sd in comps.items():
            for k in sorted(sd):
                f.write(f"{comp}\t{k}\t{fmt(sd[k])}\n")
    with open(os.path.join(OUT, f"{model}-ldm.tsv"), "w") as f:
        f.write(f"# {model}: single-file (LDM/SGM) name, shape (tests/golden/make_manifests.py)\n")
        for k in sorted(ldm):
            f.write(f"{k}\t{fmt(ldm[k])}\n")
    print(model, {c: len(sd) for c, sd in comps.items()}, "ldm", len(ldm))


def ldm_unet_vae(comps, unet_cfg, ldm):
    unet_ldm = {"model.diffusion_model." + unet_to_ldm(k, unet_cfg): s for k, s in comps["unet"].items()}
    check_same("unet", sfu.convert_ldm_unet_checkpoint(meta_tensors(unet_ldm), dict(unet_cfg)), comps["unet"])
    vae_ldm = {"first_stage_model." + vae_to_ldm(k, VAE): vae_ldm_shape(k, s) for k, s in comps["vae"].items()}
    check_same("vae", sfu.convert_ldm_vae_checkpoint(meta_tensors(vae_ldm), dict(VAE)), comps["vae"])
    ldm.update(unet_ldm)
    ldm.update(vae_ldm)


def clip_l_ldm(comps, comp, prefix, ldm):
    te = {prefix + k: s for k, s in comps[comp].items()}
    te[prefix + "text_model.embeddings.position_ids"] = (1, 77)
    conv = sfu.convert_ldm_clip_checkpoint(meta_tensors(te))
    conv.pop("text_model.embeddings.position_ids")
    check_same(comp, conv, comps[comp])
    ldm.update(te)


def openclip_ldm(comps, comp, arch, prefix, te_cfg, with_projection, ldm):
    oc = {prefix + k: s for k, s in openclip_text(arch).items()}
    with torch.device("meta"):
        hf = (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(CLIPTextConfig(**te_cfg))
    conv = sfu.convert_open_clip_checkpoint(hf, meta_tensors(oc), prefix=prefix)
    if not with_projection:
        conv.pop("text_projection.weight", None)
    check_same(comp, conv, comps[comp])
    ldm.update(oc)


def openclip_from_hf(sd, prefix):
    """OpenCLIP names of a transformers CLIPTextModelWithProjection state dict (the inverse of
    convert_open_clip_checkpoint: q/k/v fused into in_proj, text_projection transposed)."""
    out = {}
    layers = sorted({int(k.split(".")[3]) for k in sd if k.startswith("text_model.encoder.layers.")})
    for i in layers:
        h, o = f"text_model.encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[o + "attn.in_proj_" + kind] = torch.cat(
                [sd[h + f"self_attn.{p}_proj.{kind}"] for p in "qkv"], 0)
            out[o + "attn.out_proj." + kind] = sd[h + "self_attn.out_proj." + kind]
            out[o + "ln_1." + kind] = sd[h + "layer_norm1." + kind]
            out[o + "ln_2." + kind] = sd[h + "layer_norm2." + kind]
            out[o + "mlp.c_fc." + kind] = sd[h + "mlp.fc1." + kind]
            out[o + "mlp.c_proj." + kind] = sd[h + "mlp.fc2." + kind]
    out[prefix + "token_embedding.weight"] = sd["text_model.embeddings.token_embedding.weight"]
    out[prefix + "positional_embedding"] = sd["text_model.embeddings.position_embedding.weight"]
    out[prefix + "ln_final.weight"] = sd["text_model.final_layer_norm.weight"]
    out[prefix + "ln_final.bias"] = sd["text_model.final_layer_norm.bias"]
    out[prefix + "text_projection"] = sd["text_projection.weight"].T.contiguous()
    out[prefix + "logit_scale"] = torch.tensor(4.6052)
    return out


def check_values(what, converted, expected):
    for k, v in expected.items():
        if k not in converted or not torch.equal(converted[k].float(), v.float()):
            sys.exit(f"{what}: {k} differs after diffusers' conversion")


def tiny_ldm_files():
    """Small real single-file checkpoints built from the model fixtures (diffusers names) for
    the loader test: checkpoint-sd1/model.safetensors (UNet and VAE in fp16, CLIP-L in fp32,
    plus the schedule buffers, EMA counters and position_ids real files carry) and
    checkpoint-sdxl/model.safetensors (no VAE: the test gives one separately; bigG in OpenCLIP
    layout). Each is converted back with diffusers' converters and compared value for value."""
    from safetensors.torch import load_file, save_file
    import json
    fx = os.path.join(HERE, "..", "fixtures")

    def fixture(name):
        cfg = json.load(open(os.path.join(fx, name, "config.json")))
        return cfg, load_file(os.path.join(fx, name, "weights.safetensors"))

    def half(sd):
        return {k: v.half() for k, v in sd.items()}

    ucfg, unet = fixture("unet-sd1")
    vcfg, vae = fixture("vae-sd")
    _, clip = fixture("clip-sd1")
    unet, vae = half(unet), half(vae)
    ldm = {"model.diffusion_model." + unet_to_ldm(k, ucfg): v for k, v in unet.items()}
    for k, v in vae.items():
        ldm["first_stage_model." + vae_to_ldm(k, vcfg)] = v.reshape(vae_ldm_shape(k, tuple(v.shape)))
    for k, v in clip.items():
        ldm["cond_stage_model.transformer." + k] = v
    ldm["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77).reshape(1, 77)
    for b in DDPM_BUFFERS:
        ldm[b] = torch.linspace(0, 1, 1000)
    ldm["model_ema.decay"] = torch.tensor(0.9999)
    ldm["model_ema.num_updates"] = torch.tensor(0, dtype=torch.int32)
    check_values("sd1 unet", sfu.convert_ldm_unet_checkpoint(ldm, ucfg), unet)
    check_values("sd1 vae", sfu.convert_ldm_vae_checkpoint(ldm, vcfg), vae)
    check_values("sd1 te", sfu.convert_ldm_clip_checkpoint(ldm), clip)
    os.makedirs(os.path.join(fx, "checkpoint-sd1"), exist_ok=True)
    save_file(ldm, os.path.join(fx, "checkpoint-sd1", "model.safetensors"),
              metadata={"modelspec.architecture": "stable-diffusion-v1"})

    ucfg, unet = fixture("unet-sdxl")
    _, te1 = fixture("clip-sd1")
    tcfg, te2 = fixture("clip-sdxl-te2")
    unet, te1 = half(unet), half(te1)
    ldm = {"model.diffusion_model." + unet_to_ldm(k, ucfg): v for k, v in unet.items()}
    for k, v in te1.items():
        ldm["conditioner.embedders.0.transformer." + k] = v
    ldm.update(openclip_from_hf(te2, "conditioner.embedders.1.model."))
    check_values("sdxl unet", sfu.convert_ldm_unet_checkpoint(ldm, ucfg), unet)
    with torch.device("meta"):
        hf = CLIPTextModelWithProjection(CLIPTextConfig(**{k: v for k, v in tcfg.items()
                                                          if not k.startswith("_")}))
    check_values("sdxl te2", sfu.convert_open_clip_checkpoint(hf, ldm, "conditioner.embedders.1.model."), te2)
    os.makedirs(os.path.join(fx, "checkpoint-sdxl"), exist_ok=True)
    save_file(ldm, os.path.join(fx, "checkpoint-sdxl", "model.safetensors"))
    print("tiny LDM checkpoints written")


def main():
    torch.manual_seed(0)
    tiny_ldm_files()
    # SD 1.5
    comps = build("sd15", UNET_SD15, [(CLIPTextModel, CLIP_L)])
    ldm = {}
    ldm_unet_vae(comps, UNET_SD15, ldm)
    clip_l_ldm(comps, "te1", "cond_stage_model.transformer.", ldm)
    for b in DDPM_BUFFERS:
        ldm[b] = (1000,)
    ldm["model_ema.decay"] = ()
    ldm["model_ema.num_updates"] = ()
    write("sd15", comps, ldm)

    # SD 2.1 768-v
    comps = build("sd21-768v", UNET_SD21, [(CLIPTextModel, CLIP_H_SD2)])
    ldm = {}
    ldm_unet_vae(comps, UNET_SD21, ldm)
    openclip_ldm(comps, "te1", "ViT-H-14", "cond_stage_model.model.", CLIP_H_SD2, False, ldm)
    for b in DDPM_BUFFERS:
        ldm[b] = (1000,)
    ldm["model_ema.decay"] = ()
    ldm["model_ema.num_updates"] = ()
    write("sd21-768v", comps, ldm)

    # SDXL base 1.0
    comps = build("sdxl-base", UNET_SDXL,
                  [(CLIPTextModel, CLIP_L), (CLIPTextModelWithProjection, CLIP_BIGG)])
    ldm = {}
    ldm_unet_vae(comps, UNET_SDXL, ldm)
    clip_l_ldm(comps, "te1", "conditioner.embedders.0.transformer.", ldm)
    openclip_ldm(comps, "te2", "ViT-bigG-14", "conditioner.embedders.1.model.", CLIP_BIGG, True, ldm)
    write("sdxl-base", comps, ldm)


if __name__ == "__main__":
    main()
