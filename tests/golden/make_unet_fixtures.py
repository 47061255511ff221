#!/usr/bin/env python3
"""make_unet_fixtures.py — golden fixtures for the U-Net (tests/test_unet_parity).

Builds tiny diffusers UNet2DConditionModel instances (SD1-, SD2- and SDXL-style, from the
diffusers test configs, seeded), injects LoRA into every module sd-scripts targets (with conv
LoRA: Transformer2DModel, ResnetBlock2D, Downsample2D, Upsample2D children) through forward
hooks that add scale * up(down(x)) as sd-scripts' networks/lora.py does, runs forward, takes
L = sum(out * proj) and backpropagates. Writes tests/fixtures/unet-<name>/ in the shared
fixture format (tests/golden/README.md). Run from the repository root:

    /work/golden-venv/bin/python tests/golden/make_unet_fixtures.py
"""
import os
import re

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

RANK, ALPHA = 4, 2.0
TARGETS = ("Transformer2DModel", "ResnetBlock2D", "Downsample2D", "Upsample2D")

# The diffusers test configs at half width (block_out_channels (16, 32), 8 groups) so that a
# fixture directory stays under 2 MB; weights are stored as fp16 (the reference computes with
# the same fp16-rounded values in fp32, so parity stays exact and the f16 load path is tested).
BASE = dict(
    sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=2,
    norm_num_groups=8,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
)
CONFIGS = {
    "sd1": dict(BASE, cross_attention_dim=32),
    "sd2": dict(BASE, cross_attention_dim=32, use_linear_projection=True, attention_head_dim=(2, 4)),
    "sdxl": dict(BASE, cross_attention_dim=64, use_linear_projection=True, attention_head_dim=(2, 4),
                 addition_embed_type="text_time", addition_time_embed_dim=8,
                 transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80),
}
TIMESTEPS = {"sd1": [0.0, 999.0], "sd2": [250.0, 999.0], "sdxl": [0.0, 617.0]}


def ldm_path(path, layers):
    """diffusers module path -> the SGM/LDM path sd-scripts' SDXL U-Net uses (its LoRA names)."""
    res = {"conv1": "in_layers.2", "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1",
           "conv_shortcut": "skip_connection"}
    m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", path)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        n = 1 + i * (layers + 1) + j
        return f"input_blocks.{n}.0.{res[rest]}" if kind == "resnets" else f"input_blocks.{n}.1.{rest}"
    m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", path)
    if m:
        return f"input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op"
    m = re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", path)
    if m:
        if m[1] == "resnets":
            return f"middle_block.{2 * int(m[2])}.{res[m[3]]}"
        return f"middle_block.1.{m[3]}"
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", path)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        n = i * (layers + 1) + j
        return f"output_blocks.{n}.0.{res[rest]}" if kind == "resnets" else f"output_blocks.{n}.1.{rest}"
    raise ValueError(path)


def kohya_name(unet, path, ldm):
    if ldm:
        m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", path)
        layers = unet.config.layers_per_block
        if m:
            i = int(m[1])
            has_attn = hasattr(unet.up_blocks[i], "attentions")
            path = f"output_blocks.{i * (layers + 1) + layers}.{2 if has_attn else 1}.conv"
        else:
            path = ldm_path(path, layers)
    return "lora_unet_" + path.replace(".", "_")


def inject_lora(unet, ldm, gen):
    """Adds scale * up(down(x)) to every Linear/Conv2d child of the targeted modules."""
    loras = {}
    for mpath, module in unet.named_modules():
        if module.__class__.__name__ not in TARGETS:
            continue
        for cpath, child in module.named_modules():
            if not isinstance(child, (torch.nn.Linear, torch.nn.Conv2d)):
                continue
            name = kohya_name(unet, f"{mpath}.{cpath}", ldm)
            assert name not in loras, name
            if isinstance(child, torch.nn.Linear):
                fan_in = child.in_features
                dshape, ushape = (RANK, child.in_features), (child.out_features, RANK)
            else:
                k = child.kernel_size
                fan_in = child.in_channels * k[0] * k[1]
                dshape, ushape = (RANK, child.in_channels, *k), (child.out_channels, RANK, 1, 1)
            bound = fan_in ** -0.5
            down = ((torch.rand(dshape, generator=gen) * 2 - 1) * bound).requires_grad_()
            up = (torch.randn(ushape, generator=gen) * 0.05).requires_grad_()
            loras[name] = (down, up)

            def hook(mod, inp, out, down=down, up=up):
                x = inp[0]
                if isinstance(mod, torch.nn.Linear):
                    h = F.linear(F.linear(x, down), up)
                else:
                    h = F.conv2d(F.conv2d(x, down, stride=mod.stride, padding=mod.padding), up)
                return out + h * (ALPHA / RANK)

            child.register_forward_hook(hook)
    return loras


def make(name, cfg, root):
    out_dir = os.path.join(root, f"unet-{name}")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**cfg).half().float().eval()
    unet.requires_grad_(False)
    unet.save_config(out_dir)
    save_file({k: v.half().contiguous() for k, v in unet.state_dict().items()},
              os.path.join(out_dir, "weights.safetensors"))

    gen = torch.Generator().manual_seed(1234)
    ldm = cfg.get("addition_embed_type") == "text_time"
    loras = inject_lora(unet, ldm, gen)
    B, T, S = 2, 7, 16
    sample = torch.randn(B, 4, S, S, generator=gen).requires_grad_()
    ctx = torch.randn(B, T, cfg["cross_attention_dim"], generator=gen).requires_grad_()
    timesteps = torch.tensor(TIMESTEPS[name])
    inputs = {"sample": sample, "timesteps": timesteps, "encoder_hidden_states": ctx}
    added = None
    if ldm:
        text_dim = cfg["projection_class_embeddings_input_dim"] - 6 * cfg["addition_time_embed_dim"]
        text = torch.randn(B, text_dim, generator=gen).requires_grad_()
        time_ids = torch.tensor([[16.0, 16.0, 0.0, 0.0, 16.0, 16.0],
                                 [24.0, 20.0, 2.0, 4.0, 16.0, 16.0]]).requires_grad_()
        added = {"text_embeds": text, "time_ids": time_ids}
        inputs.update(added)
    out = unet(sample, timesteps, ctx, added_cond_kwargs=added).sample
    proj = torch.randn(out.shape, generator=gen)
    (out * proj).sum().backward()

    tensors = {k: v.detach().contiguous() for k, v in inputs.items()}
    tensors["proj"] = proj
    grads = {k: v.grad.contiguous() for k, v in inputs.items() if k != "timesteps"}
    for lname, (down, up) in loras.items():
        tensors[f"{lname}.lora_down.weight"] = down.detach().contiguous()
        tensors[f"{lname}.lora_up.weight"] = up.detach().contiguous()
        tensors[f"{lname}.alpha"] = torch.tensor(ALPHA)
        grads[f"{lname}.lora_down.weight"] = down.grad.contiguous()
        grads[f"{lname}.lora_up.weight"] = up.grad.contiguous()
    save_file(tensors, os.path.join(out_dir, "inputs.safetensors"))
    save_file({"out": out.detach().contiguous()}, os.path.join(out_dir, "outputs.safetensors"))
    save_file(grads, os.path.join(out_dir, "grads.safetensors"))
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"{out_dir}: {len(loras)} LoRA modules, {size / 1e6:.2f} MB")


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    for name, cfg in CONFIGS.items():
        make(name, cfg, os.path.normpath(root))


if __name__ == "__main__":
    main()
