#!/usr/bin/env python3
"""bench_train_torch.py — the PyTorch side of bench/bench_train.sh (not part of make check).

Subcommands:
  make-model DIR --width W   a diffusers SD1 folder (model_index.json, unet, vae, text_encoder,
                             tokenizer, scheduler) whose U-Net is the tiny fixture U-Net
                             (tests/fixtures/pipeline-sd1) widened to block_out_channels
                             [W, 2W]; random weights from a fixed seed (timing only).
  train --unet-config F      the reference loop: sd-scripts' train_network.py step for a
                             default LoRA (Linear and 1x1 Conv2d in Transformer2DModel, up = 0),
                             cached latents and text context, DDPM scaled_linear noise, eps
                             target, l2 loss, clip_grad_norm_(1.0), torch.optim.AdamW, constant
                             lr. Prints one JSON line: loop seconds, samples/s.
  measure -- CMD ...         runs CMD, prints one JSON line: wall seconds, exit status and
                             peak RSS (getrusage of the child) in MiB.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time


def cmd_measure(argv):
    t0 = time.perf_counter()
    rc = subprocess.call(argv)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rc": rc, "wall_s": round(wall, 3), "peak_rss_mib": round(ru.ru_maxrss / 1024, 1)}))
    return 0


def cmd_make_model(out, width, src):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(1234)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, "unet", "config.json")) as f:
        ucfg = json.load(f)
    ucfg["block_out_channels"] = [width, 2 * width]
    ucfg = {k: v for k, v in ucfg.items() if not k.startswith("_")}
    UNet2DConditionModel.from_config(ucfg).save_pretrained(os.path.join(out, "unet"))
    with open(os.path.join(src, "vae", "config.json")) as f:
        vcfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    AutoencoderKL.from_config(vcfg).save_pretrained(os.path.join(out, "vae"))
    tcfg = CLIPTextConfig.from_json_file(os.path.join(src, "text_encoder", "config.json"))
    CLIPTextModel(tcfg).save_pretrained(os.path.join(out, "text_encoder"))
    for d in ("tokenizer", "scheduler"):
        shutil.copytree(os.path.join(src, d), os.path.join(out, d), dirs_exist_ok=True)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline",
                   "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                   "text_encoder": ["transformers", "CLIPTextModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"],
                   "scheduler": ["diffusers", "DDPMScheduler"]}, f, indent=2)
    return 0


def cmd_train(a):
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DConditionModel

    torch.set_num_threads(a.threads)
    torch.manual_seed(7)
    with open(a.unet_config) as f:
        cfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    unet = UNet2DConditionModel.from_config(cfg)
    unet.train().requires_grad_(False)   # sd-scripts keeps the U-Net in train mode (dropout 0)

    # sd-scripts' default LoRA: Transformer2DModel's Linear and 1x1 Conv2d children
    params = []
    for _, module in unet.named_modules():
        if module.__class__.__name__ != "Transformer2DModel":
            continue
        for _, child in module.named_modules():
            is_conv1 = isinstance(child, torch.nn.Conv2d) and child.kernel_size == (1, 1)
            if not (isinstance(child, torch.nn.Linear) or is_conv1):
                continue
            fin = child.in_features if isinstance(child, torch.nn.Linear) else child.in_channels
            fout = child.out_features if isinstance(child, torch.nn.Linear) else child.out_channels
            down = torch.nn.Linear(fin, a.dim, bias=False)
            torch.nn.init.kaiming_uniform_(down.weight, a=5 ** 0.5)
            up = torch.nn.Linear(a.dim, fout, bias=False)
            torch.nn.init.zeros_(up.weight)
            params += [down.weight, up.weight]
            down.weight.requires_grad_(True)
            up.weight.requires_grad_(True)

            def hook(mod, inp, out, down=down, up=up, scale=a.alpha / a.dim, conv=is_conv1):
                x = inp[0]
                if conv:
                    h = F.conv2d(F.conv2d(x, down.weight[:, :, None, None]), up.weight[:, :, None, None])
                else:
                    h = up(down(x))
                return out + h * scale

            child.register_forward_hook(hook)

    lat = a.res // 2 ** (a.vae_levels - 1)
    latents = torch.randn(a.batch, cfg.get("in_channels", 4), lat, lat)
    context = torch.randn(a.batch, 77, cfg["cross_attention_dim"])
    sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          num_train_timesteps=1000, clip_sample=False)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)

    def step():
        noise = torch.randn_like(latents)
        t = torch.randint(0, 1000, (a.batch,))
        x_t = sched.add_noise(latents, noise, t)
        pred = unet(x_t, t, context).sample
        loss = F.mse_loss(pred.float(), noise.float(), reduction="none").mean([1, 2, 3]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    step()   # first step (allocator, lazy init) outside the timing, as loratty's step 1 is
    t0 = time.perf_counter()
    for _ in range(a.steps - 1):
        loss = step()
    dt = time.perf_counter() - t0
    print(json.dumps({"loop_s": round(dt, 3), "timed_steps": a.steps - 1,
                      "samples_per_s": round(a.batch * (a.steps - 1) / dt, 3),
                      "lora_params": sum(p.numel() for p in params), "last_loss": round(loss, 5),
                      "latent": lat, "threads": torch.get_num_threads(), "torch": torch.__version__}))
    return 0


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "measure" and sys.argv[2] == "--":
        return cmd_measure(sys.argv[3:])
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-model")
    m.add_argument("dir")
    m.add_argument("--width", type=int, required=True)
    m.add_argument("--src", required=True, help="tests/fixtures/pipeline-sd1")
    t = sub.add_parser("train")
    t.add_argument("--unet-config", required=True)
    t.add_argument("--res", type=int, default=64)
    t.add_argument("--vae-levels", type=int, default=2, help="len(vae block_out_channels)")
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--steps", type=int, default=50)
    t.add_argument("--dim", type=int, default=8)
    t.add_argument("--alpha", type=float, default=4.0)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    if a.cmd == "make-model":
        return cmd_make_model(a.dir, a.width, a.src)
    return cmd_train(a)


if __name__ == "__main__":
    sys.exit(main())
