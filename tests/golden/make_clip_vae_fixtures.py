#!/usr/bin/env python3
"""make_clip_vae_fixtures.py — golden fixtures for the CLIP text encoders and the VAE.

Builds the tiny diffusers test models (architectures.md §5) from their configs with fixed
seeds (no hub access), runs them in fp32 on the CPU and writes, per fixture directory under
tests/fixtures/:
  config.json          the transformers / diffusers config of the tiny model
  weights.safetensors  its state_dict (fp32, transformers / diffusers names)
  inputs.safetensors   inputs, the loss projections and the LoRA weights (kohya names)
  outputs.safetensors  forward outputs
  grads.safetensors    gradients of L = sum(output * proj)
Run: /work/golden-venv/bin/python tests/golden/make_clip_vae_fixtures.py
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
RANK, ALPHA = 4, 2.0


def write_dir(name, config, sd, inputs, outputs, grads):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    sd = {k: v.detach().contiguous().float() for k, v in sd.items()}
    save_file(sd, os.path.join(d, "weights.safetensors"))
    for fname, tensors in (("inputs", inputs), ("outputs", outputs), ("grads", grads)):
        missing = [k for k, v in tensors.items() if v is None]
        assert not missing, missing
        t = {k: v.detach().contiguous() for k, v in tensors.items()}
        save_file(t, os.path.join(d, fname + ".safetensors"))


class LoRA(torch.nn.Module):
    """kohya's LoRAModule math: y = org(x) + up(down(x)) * alpha / rank."""

    def __init__(self, org, name, gen):
        super().__init__()
        self.name = name
        self.org_forward = org.forward
        self.down = torch.randn(RANK, org.in_features, generator=gen) * 0.3
        self.up = torch.randn(org.out_features, RANK, generator=gen) * 0.3
        self.down.requires_grad_(True)
        self.up.requires_grad_(True)
        org.forward = self.forward

    def forward(self, x):
        return self.org_forward(x) + (x @ self.down.t()) @ self.up.t() * (ALPHA / RANK)


def text_transformer(model):
    # transformers 5 dropped the "text_model" level of CLIPTextModel (it maps the old keys on
    # load); checkpoints and kohya names keep it, so the fixtures use the old layout
    return model.text_model if hasattr(model, "text_model") else model


def inject_clip_lora(model, prefix, gen):
    """Every Linear under CLIPAttention / CLIPMLP, named as networks/lora.py names them."""
    loras = []
    for mname, module in text_transformer(model).named_modules():
        if module.__class__.__name__ not in ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"):
            continue
        for cname, child in module.named_children():
            if isinstance(child, torch.nn.Linear):
                name = (prefix + ".text_model." + mname + "." + cname).replace(".", "_")
                loras.append(LoRA(child, name, gen))
    return loras


def clip_fixture(name, act, with_projection, eos_token_id=2):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    kw = dict(bos_token_id=0, eos_token_id=eos_token_id, pad_token_id=1, hidden_size=32,
              intermediate_size=37, layer_norm_eps=1e-5, num_attention_heads=4,
              num_hidden_layers=5, vocab_size=1000, hidden_act=act, max_position_embeddings=77)
    if with_projection:
        kw["projection_dim"] = 32
    cfg = CLIPTextConfig(**kw)
    torch.manual_seed(0)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    model = cls(cfg).float().eval()
    # the default init leaves biases and LayerNorms at 0/1: perturb them so they are tested
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for n, p in model.named_parameters():
            if n.endswith(".bias") or "layer_norm" in n:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)

    gen = torch.Generator().manual_seed(2)
    B, T = 2, 16
    eos = cfg.eos_token_id
    ids = torch.randint(3, 1000, (B, T), generator=gen)
    ids[ids == eos] = 3
    ids[:, 0] = cfg.bos_token_id
    # sample 0: EOS at 6 then padding with EOS (SD1 style); sample 1: EOS at 11, pad 1 (SD2 style)
    ids[0, 6:] = eos
    ids[1, 11] = eos
    ids[1, 12:] = cfg.pad_token_id
    # the argmax rule (eos_token_id == 2) would take a big id: put one after sample 1's EOS
    ids[1, 13] = 999

    loras = inject_clip_lora(model, "lora_te", gen)
    inputs = {"input_ids": ids.to(torch.int32)}
    for l in loras:
        inputs[l.name + ".lora_down.weight"] = l.down.detach().clone()
        inputs[l.name + ".lora_up.weight"] = l.up.detach().clone()
        inputs[l.name + ".alpha"] = torch.tensor(ALPHA)

    captured = {}

    def keep_embeddings(module, args, output):
        output.retain_grad()
        captured["emb"] = output

    tm = text_transformer(model)
    tm.embeddings.register_forward_hook(keep_embeddings)
    out = model(input_ids=ids, output_hidden_states=True)
    hs = out.hidden_states
    L = cfg.num_hidden_layers
    assert len(hs) == L + 1
    outputs = {}
    for i, h in enumerate(hs):
        outputs["hidden_states.%d" % i] = h
    # clip_skip 2 as sd-scripts: hidden_states[-2] through final_layer_norm
    skip2 = tm.final_layer_norm(hs[-2])
    outputs["clip_skip_2"] = skip2
    outputs["last_hidden_state"] = out.last_hidden_state
    outputs["pooled"] = tm.final_layer_norm(hs[-1])[torch.arange(B), pool_index(ids, eos)]
    if with_projection:
        outputs["text_embeds"] = out.text_embeds
        torch.testing.assert_close(model.text_projection(outputs["pooled"]), out.text_embeds)
    else:
        torch.testing.assert_close(outputs["pooled"], out.pooler_output)

    # loss: SD1 style uses the clip_skip 2 output; SDXL TE2 style uses hidden_states[-2]
    # without final LN plus the projected pooled vector
    gp = torch.Generator().manual_seed(3)
    emb = captured["emb"]
    torch.testing.assert_close(emb, hs[0])
    if with_projection:
        proj = torch.randn(hs[-2].shape, generator=gp)
        proj_pooled = torch.randn(out.text_embeds.shape, generator=gp)
        loss = (hs[-2] * proj).sum() + (out.text_embeds * proj_pooled).sum()
        inputs["proj_pooled"] = proj_pooled
    else:
        proj = torch.randn(skip2.shape, generator=gp)
        loss = (skip2 * proj).sum()
    inputs["proj"] = proj
    loss.backward()
    grads = {"embeddings": emb.grad}
    for l in loras:
        # layers past the chosen output get no gradient: stored as zeros
        for key, p in ((".lora_down.weight", l.down), (".lora_up.weight", l.up)):
            grads[l.name + key] = p.grad if p.grad is not None else torch.zeros_like(p)
    config = json.loads(cfg.to_json_string())
    if with_projection:
        config["architectures"] = ["CLIPTextModelWithProjection"]
    else:
        config["architectures"] = ["CLIPTextModel"]
    sd = {}
    for k, v in model.state_dict().items():
        sd[k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k] = v
    write_dir(name, config, sd, inputs, outputs, grads)
    print(name, "loss", float(loss))


def pool_index(ids, eos):
    # the installed transformers' rule (modeling_clip.py): eos_token_id == 2 is the pre-#24773
    # config and takes the argmax of the ids; otherwise the first position holding eos_token_id
    if eos == 2:
        return ids.to(torch.int).argmax(dim=-1)
    return (ids.to(torch.int) == eos).int().argmax(dim=-1)


def vae_fixture(name):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2,
                        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4,
                        norm_num_groups=32, sample_size=32).float().eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for n, p in vae.named_parameters():
            if n.endswith(".bias") or "norm" in n:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    gen = torch.Generator().manual_seed(2)
    B, H, W = 2, 32, 32
    image = torch.rand(B, 3, H, W, generator=gen) * 2 - 1
    dist = vae.encode(image).latent_dist
    noise = torch.randn(dist.mean.shape, generator=gen)
    sample = dist.mean + dist.std * noise
    z = sample.detach().clone().requires_grad_(True)
    dec = vae.decode(z).sample
    proj = torch.randn(dec.shape, generator=gen)
    loss = (dec * proj).sum()
    loss.backward()
    # diffusers' tiled decode with 16 px tiles (8 latent), overlap 0.25
    vae.tile_sample_min_size = 16
    vae.tile_latent_min_size = 8
    with torch.no_grad():
        tiled = vae.tiled_decode(sample).sample
    inputs = {"image": image, "noise": noise, "proj": proj,
              "tile_sample_min_size": torch.tensor(16, dtype=torch.int32),
              "tile_latent_min_size": torch.tensor(8, dtype=torch.int32)}
    outputs = {"latent_mean": dist.mean, "latent_logvar": dist.logvar, "latent_sample": sample,
               "decoded": dec, "decoded_tiled": tiled}
    grads = {"latents": z.grad}
    config = dict(vae.config)
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()
              if not k.startswith("_")}
    config["_class_name"] = "AutoencoderKL"
    write_dir(name, config, vae.state_dict(), inputs, outputs, grads)
    print(name, "loss", float(loss), "tiled-untiled max", float((tiled - dec).abs().max()))


def main():
    torch.set_num_threads(1)
    clip_fixture("clip-sd1", "quick_gelu", False)
    clip_fixture("clip-sdxl-te2", "gelu", True)
    clip_fixture("clip-eos", "quick_gelu", False, eos_token_id=7)
    vae_fixture("vae-sd")
    return 0


if __name__ == "__main__":
    sys.exit(main())
