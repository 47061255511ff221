#!/usr/bin/env python3
"""check_lora_in_diffusers.py — proof that a LoRA file loratty wrote loads in diffusers.

tests/fixtures/lora-in-diffusers/lora.safetensors is a LoRA `loratty --run` trained on the tiny
SD1 checkpoint (network_dim 4, alpha 4, 6 AdamW steps at a high learning rate so the up
matrices are far from zero; UNet + text encoder; save_precision float). This script:

 1. builds the tiny StableDiffusionPipeline as make_pipeline_fixtures.py does and calls
    pipe.load_lora_weights(file) — diffusers converts the kohya names itself (peft backend);
 2. counts what was consumed: for every peft LoRA layer diffusers injected (UNet and text
    encoder) the kohya module name is derived from the module path, and its lora_A / lora_B
    weights and scaling must equal the file's lora_down / lora_up / alpha/rank. A file key
    whose module received no layer (or whose values differ) is "unexpected"; so is anything
    diffusers' loggers warn about;
 3. runs the UNet on fixed inputs with the adapter at weight 0 and 1 (set_adapters): the
    output must change;
 4. runs `loratty --sample` (DDIM, 4 steps, CFG 6, 16x16, the same fixed initial latents via
    --initial-latents) without and with `--lora FILE:1`, and the diffusers pipeline on the same
    latents with the adapter at 0 and 1; compares the 8-bit images (loratty writes PNG only, so
    diffusers' image is quantised the same way: clamp, ×255, round half to even).

Writes tests/fixtures/lora-in-diffusers/result.json (checked by tests/lora_in_diffusers.sh in
make check, without Python). Needs a built loratty: LORATTY=/path/to/loratty (default
/tmp/build-ldf/loratty).
Run: LORATTY=... /work/golden-venv/bin/python tests/golden/check_lora_in_diffusers.py
"""
import json
import logging
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_pipeline_fixtures as mpf  # noqa: E402

FIX = mpf.FIX
OUT = os.path.join(FIX, "lora-in-diffusers")
LORA = os.path.join(OUT, "lora.safetensors")
LORATTY = os.environ.get("LORATTY", "/tmp/build-ldf/loratty")
ADAPTER = "loratty"
PROMPT, NEGATIVE, STEPS, CFG = "zqx ring on a table", "blurry", 4, 6.0


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def kohya_name(prefix, path):
    return prefix + path.replace(".", "_")


def consumed_keys(pipe, file_sd):
    """Kohya keys whose values diffusers' injected peft layers hold exactly."""
    from peft.tuners.lora import LoraLayer
    loaded, mismatched = set(), []
    for prefix, model in (("lora_unet_", pipe.unet), ("lora_te_", pipe.text_encoder)):
        for path, mod in model.named_modules():
            if not isinstance(mod, LoraLayer) or ADAPTER not in mod.lora_A:
                continue
            p = path if prefix == "lora_unet_" or path.startswith("text_model.") else "text_model." + path
            name = kohya_name(prefix, p)
            down, up = file_sd.get(name + ".lora_down.weight"), file_sd.get(name + ".lora_up.weight")
            if down is None or up is None:
                mismatched.append(name + " (injected, not in the file)")
                continue
            a = mod.lora_A[ADAPTER].weight.detach()
            b = mod.lora_B[ADAPTER].weight.detach()
            rank = down.shape[0]
            alpha = float(file_sd[name + ".alpha"]) if name + ".alpha" in file_sd else float(rank)
            ok = (a.shape == down.shape and torch.equal(a, down.float()) and
                  b.reshape(up.shape[0], -1).shape == up.reshape(up.shape[0], -1).shape and
                  torch.equal(b.reshape(up.shape[0], -1), up.float().reshape(up.shape[0], -1)) and
                  abs(mod.scaling[ADAPTER] - alpha / rank) < 1e-6)
            if not ok:
                mismatched.append(name + " (values differ)")
                continue
            loaded.update(k for k in (name + ".lora_down.weight", name + ".lora_up.weight", name + ".alpha")
                          if k in file_sd)
    return loaded, mismatched


def loratty_image(latents_path, tmp, lora):
    png = os.path.join(tmp, "lora.png" if lora else "base.png")
    cmd = [LORATTY, "--sample", "--model", os.path.join(FIX, "checkpoint-sd1/model.safetensors"),
           "--model-config", os.path.join(FIX, "pipeline-sd1"), "--prompt", PROMPT, "--negative", NEGATIVE,
           "--width", "16", "--height", "16", "--steps", str(STEPS), "--cfg", str(CFG), "--sampler", "ddim",
           "--seed", "1", "--initial-latents", latents_path, "-o", png]
    if lora:
        cmd += ["--lora", LORA + ":1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    if r.returncode != 0:
        sys.exit("loratty --sample failed:\n" + r.stderr)
    from PIL import Image
    img = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64) / 255.0
    return img, r.stderr


def quantised(img):
    """[1, 3, H, W] in [0, 1] → H×W×3 as loratty's png_from_planar writes it, back in [0, 1]."""
    q = torch.round(img[0].clamp(0, 1) * 255.0).permute(1, 2, 0).double().numpy()
    return q / 255.0


def main():
    from diffusers import StableDiffusionPipeline
    import diffusers
    import peft

    collect = Collect()
    for name in ("diffusers", "peft"):
        logging.getLogger(name).addHandler(collect)
    file_sd = load_file(LORA)
    unet, vae, te, tok = mpf.build()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet,
                                   scheduler=mpf.scheduler("ddim"), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.scheduler = mpf.scheduler("ddim")
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(LORA, adapter_name=ADAPTER)
    loaded, mismatched = consumed_keys(pipe, file_sd)
    unexpected = sorted(set(file_sd) - loaded) + mismatched
    warnings = [m for m in collect.messages if "unexpected" in m.lower() or "not" in m.lower()]
    unexpected += warnings
    modules = sorted({k.split(".")[0] for k in file_sd})

    # 3. the UNet on fixed inputs, adapter weight 0 vs 1
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4, 8, 8, generator=g)
    ctx = torch.randn(1, 77, unet.config.cross_attention_dim, generator=g)
    t = torch.tensor([500])
    outs = {}
    with torch.no_grad():
        for w in (0.0, 1.0):
            pipe.set_adapters([ADAPTER], adapter_weights=[w])
            outs[w] = pipe.unet(x, t, encoder_hidden_states=ctx).sample
    unet_change = float((outs[1.0] - outs[0.0]).abs().max())

    # 4. whole pipeline, loratty vs diffusers, same initial latents
    torch.manual_seed(0)
    latents = torch.randn(1, 4, 8, 8)
    images = {}
    with torch.no_grad():
        for w in (0.0, 1.0):
            pipe.set_adapters([ADAPTER], adapter_weights=[w])
            img = pipe(PROMPT, negative_prompt=NEGATIVE, height=16, width=16, num_inference_steps=STEPS,
                       guidance_scale=CFG, latents=latents.clone(), output_type="pt").images
            images[w] = quantised(img)
    with tempfile.TemporaryDirectory() as tmp:
        lp = os.path.join(tmp, "latents.safetensors")
        save_file({"latents": latents.contiguous()}, lp)
        base, _ = loratty_image(lp, tmp, False)
        with_lora, log = loratty_image(lp, tmp, True)
    applied = [line.replace(LORA, "lora.safetensors") for line in log.splitlines() if "modules applied" in line]

    result = {
        "diffusers_version": diffusers.__version__,
        "peft_version": peft.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "lora_file": "lora.safetensors",
        "lora_modules_in_file": len(modules),
        "keys_in_file": len(file_sd),
        "keys_loaded": len(loaded & set(file_sd)),
        "unexpected_keys": unexpected,
        "loratty_sample_log": applied,
        "unet_fixed_inputs_max_abs_change_scale0_vs_1": unet_change,
        "unet_output_max_abs": float(outs[0.0].abs().max()),
        "image_units": "8-bit images in [0, 1] (loratty writes PNG; diffusers' image rounded the same way)",
        "sampler": "ddim, %d steps, cfg %g, 16x16, prompt %r, negative %r" % (STEPS, CFG, PROMPT, NEGATIVE),
        "diffusers_image_max_abs_change_lora0_vs_1": float(np.abs(images[1.0] - images[0.0]).max()),
        "loratty_image_max_abs_change_lora0_vs_1": float(np.abs(with_lora - base).max()),
        "max_abs_diff_loratty_vs_diffusers_without_lora": float(np.abs(base - images[0.0]).max()),
        "max_abs_diff_loratty_vs_diffusers_with_lora": float(np.abs(with_lora - images[1.0]).max()),
        "mean_abs_diff_loratty_vs_diffusers_with_lora": float(np.abs(with_lora - images[1.0]).mean()),
    }
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
