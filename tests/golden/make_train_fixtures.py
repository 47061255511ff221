#!/usr/bin/env python3
"""make_train_fixtures.py — golden reference for loratty's training loop (tests/test_train_golden).

Takes the tiny SD1-style U-Net of tests/fixtures/unet-sd1, injects LoRA into every module
sd-scripts targets with conv_dim set (Transformer2DModel, ResnetBlock2D, Downsample2D,
Upsample2D children; Linear and 1x1 convs get network_dim/alpha, 3x3 convs conv_dim/alpha),
initialised as sd-scripts does (down: kaiming_uniform a=sqrt(5), up: 0), and runs 20 steps of
sd-scripts' train_network.py step on fixed latents and text context: DDPM scaled_linear noise
schedule, x_t = sqrt(ac) x0 + sqrt(1-ac) eps, eps target, l2 loss, min_snr_gamma weighting,
clip_grad_norm_(1.0), torch.optim.AdamW (lr 1e-3, weight_decay 0.01), constant schedule.
Noise and timesteps of every step are stored so the C side feeds the same ones.
Writes tests/fixtures/train-sd1/{config.json,inputs.safetensors,outputs.safetensors}:
  inputs: latents [2,4,16,16], context [2,7,32], noise [20,2,4,16,16], timesteps [20,2] (int32),
          the initial LoRA weights under kohya names (+ .alpha)
  outputs: losses [20], the final LoRA weights under kohya names.
Run from the repository root: /work/golden-venv/bin/python tests/golden/make_train_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from safetensors.torch import load_file, save_file

import make_unet_fixtures as U

DIM, ALPHA, CONV_DIM, CONV_ALPHA = 4, 2.0, 2, 1.0
STEPS, B, T, LR, GAMMA, MAX_NORM = 20, 2, 7, 1e-3, 5.0, 1.0


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    src = os.path.join(root, "unet-sd1")
    out_dir = os.path.join(root, "train-sd1")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    unet = UNet2DConditionModel.from_config(cfg)
    unet.load_state_dict({k: v.float() for k, v in load_file(os.path.join(src, "weights.safetensors")).items()})
    unet.eval().requires_grad_(False)

    gen = torch.Generator().manual_seed(4321)
    loras = {}
    for mpath, module in unet.named_modules():
        if module.__class__.__name__ not in U.TARGETS:
            continue
        for cpath, child in module.named_modules():
            if not isinstance(child, (torch.nn.Linear, torch.nn.Conv2d)):
                continue
            name = U.kohya_name(unet, f"{mpath}.{cpath}", False)
            conv3 = isinstance(child, torch.nn.Conv2d) and child.kernel_size != (1, 1)
            rank, alpha = (CONV_DIM, CONV_ALPHA) if conv3 else (DIM, ALPHA)
            if isinstance(child, torch.nn.Linear):
                fan_in, dshape, ushape = child.in_features, (rank, child.in_features), (child.out_features, rank)
            else:
                k = child.kernel_size
                fan_in = child.in_channels * k[0] * k[1]
                dshape, ushape = (rank, child.in_channels, *k), (child.out_channels, rank, 1, 1)
            down = ((torch.rand(dshape, generator=gen) * 2 - 1) * fan_in ** -0.5).requires_grad_()
            up = torch.zeros(ushape).requires_grad_()
            loras[name] = (down, up, alpha)

            def hook(mod, inp, out, down=down, up=up, scale=alpha / rank):
                x = inp[0]
                if isinstance(mod, torch.nn.Linear):
                    h = F.linear(F.linear(x, down), up)
                else:
                    h = F.conv2d(F.conv2d(x, down, stride=mod.stride, padding=mod.padding), up)
                return out + h * scale

            child.register_forward_hook(hook)

    inputs = {}
    for name, (down, up, alpha) in loras.items():
        inputs[f"{name}.lora_down.weight"] = down.detach().clone()
        inputs[f"{name}.lora_up.weight"] = up.detach().clone()
        inputs[f"{name}.alpha"] = torch.tensor(alpha)
    latents = torch.randn(B, 4, 16, 16, generator=gen)
    context = torch.randn(B, T, cfg["cross_attention_dim"], generator=gen)
    noise = torch.randn(STEPS, B, 4, 16, 16, generator=gen)
    timesteps = torch.randint(0, 1000, (STEPS, B), generator=gen)
    timesteps[0] = torch.tensor([0, 999])

    sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          num_train_timesteps=1000, clip_sample=False)
    ac = sched.alphas_cumprod
    all_snr = (ac.sqrt() / (1.0 - ac).sqrt()) ** 2   # sd-scripts prepare_scheduler_for_custom_training

    params = [p for d, u, _ in loras.values() for p in (d, u)]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    losses = []
    for s in range(STEPS):
        t = timesteps[s].long()
        x_t = sched.add_noise(latents, noise[s], t)
        pred = unet(x_t, t, context).sample
        loss = F.mse_loss(pred.float(), noise[s].float(), reduction="none").mean([1, 2, 3])
        snr = all_snr[t]
        loss = loss * (torch.minimum(snr, torch.full_like(snr, GAMMA)) / snr).float()
        loss = loss.mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_NORM)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        print(f"step {s + 1}: loss {loss.item():.6f}")

    inputs.update(latents=latents, context=context, noise=noise, timesteps=timesteps.to(torch.int32))
    outputs = {"losses": torch.tensor(losses, dtype=torch.float64)}
    for name, (down, up, alpha) in loras.items():
        outputs[f"{name}.lora_down.weight"] = down.detach().contiguous()
        outputs[f"{name}.lora_up.weight"] = up.detach().contiguous()
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(out_dir, "inputs.safetensors"))
    save_file(outputs, os.path.join(out_dir, "outputs.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump({"unet": "unet-sd1", "network_dim": DIM, "network_alpha": ALPHA, "conv_dim": CONV_DIM,
                   "conv_alpha": CONV_ALPHA, "steps": STEPS, "learning_rate": LR, "weight_decay": 0.01,
                   "min_snr_gamma": GAMMA, "max_grad_norm": MAX_NORM, "loss_type": "l2",
                   "optimizer_type": "AdamW", "lr_scheduler": "constant", "modules": len(loras)}, f, indent=2)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"{out_dir}: {len(loras)} LoRA modules, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
