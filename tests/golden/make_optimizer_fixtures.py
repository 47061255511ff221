"""make_optimizer_fixtures.py — golden trajectories for engine/train's optimizers.

For every case below, builds the optimizer the way sd-scripts' train_util.get_optimizer does
(optimizer_args strings split on "=" and parsed with ast.literal_eval, SGDNesterov's
momentum=0.9 and nesterov=True, Adafactor's relative_step handling) with the REAL reference
implementation from PyPI, runs N steps on small random parameters with fixed random
gradients, and stores in tests/fixtures/optim/<case>.safetensors:

  param.<j>   the initial value of parameter j (its true shape)
  grad.<j>    [N, *shape]: the gradient fed at each step
  traj.<j>    [N, *shape]: the parameter after each step
  eval.<j>    (schedule-free only) the parameter after optimizer.eval() following step N
  qmap.dynamic / qmap.udynamic (AdamW8bit only) bitsandbytes' quantisation maps

and in the metadata: optimizer (sd-scripts' optimizer_type), optimizer_args (JSON list of the
strings), groups (JSON list of {"params": [j...], "lr": x, "weight_decay": y?}), lr, steps.

Run: /work/golden-venv/bin/python tests/golden/make_optimizer_fixtures.py
"""
import ast
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

N = 10
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "optim")


def parse_optimizer_args(args):
    # sd-scripts train_util.get_optimizer: key, value = arg.split("="); ast.literal_eval(value)
    kw = {}
    for a in args:
        key, value = a.split("=")
        kw[key] = ast.literal_eval(value)
    return kw


def build(name, groups, lr, args):
    kw = parse_optimizer_args(args)
    t = name.lower()
    if t == "adamw":
        return torch.optim.AdamW(groups, lr=lr, **kw)
    if t == "adamw8bit":
        import bitsandbytes as bnb
        return bnb.optim.AdamW8bit(groups, lr=lr, **kw)
    if t == "lion":
        import lion_pytorch
        return lion_pytorch.Lion(groups, lr=lr, **kw)
    if t == "sgdnesterov":
        kw.setdefault("momentum", 0.9)
        return torch.optim.SGD(groups, lr=lr, nesterov=True, **kw)
    if t == "adafactor":
        import transformers
        kw.setdefault("relative_step", True)
        if not kw["relative_step"] and kw.get("warmup_init", False):
            kw["relative_step"] = True
        if kw["relative_step"]:
            for g in groups:
                g.pop("lr", None)
            lr = None
        return transformers.optimization.Adafactor(groups, lr=lr, **kw)
    if t == "prodigy":
        import prodigyopt
        return prodigyopt.Prodigy(groups, lr=lr, **kw)
    if t == "dadaptadam":
        import dadaptation
        return dadaptation.DAdaptAdam(groups, lr=lr, **kw)
    if t == "adamwschedulefree":
        import schedulefree
        o = schedulefree.AdamWScheduleFree(groups, lr=lr, **kw)
        o.train()  # sd-scripts puts the optimizer in train mode right after creating it
        return o
    raise ValueError(name)


def use_nearest_quantiser():
    """Replace the compiled CPU quantiser bitsandbytes' CPU AdamW8bit step calls with its
    reference backend's (torch.bucketize to the nearest map entry, the CUDA kernel's rule).
    The compiled one uses a coarse lookup that may pick the second-nearest entry near a
    midpoint. Returns a function that restores it."""
    import bitsandbytes.backends.cpu.ops as cpu_ops
    import bitsandbytes.backends.default.ops  # noqa: F401  (registers the reference kernels)
    saved = cpu_ops._quant_blockwise_fp32_direct

    def nearest(A_fp32, code, absmax_out, out_uint8, blocksize):
        A = A_fp32.reshape(-1).float()
        n = A.numel()
        blocks = -(n // -blocksize)
        pad = torch.zeros(blocks * blocksize)
        pad[:n] = A
        B = pad.reshape(blocks, blocksize)
        absmax = B.abs().max(dim=-1)[0]
        scaled = torch.clamp(B * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)[:n]
        bounds = (code[:-1] + code[1:]) / 2
        q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
        out_uint8.copy_(q.reshape(out_uint8.shape))
        absmax_out.copy_(absmax)

    cpu_ops._quant_blockwise_fp32_direct = nearest

    def restore():
        cpu_ops._quant_blockwise_fp32_direct = saved
    return restore


def run_case(case, name, lr, args, shapes, group_spec, seed):
    restore = None
    if name.lower() == "adamw8bit" and not case.endswith("_bnbcpu"):
        restore = use_nearest_quantiser()
    g = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=g) * 0.5 for s in shapes]
    grads = [torch.randn((N,) + tuple(s), generator=g) for s in shapes]
    params = [torch.nn.Parameter(x.clone()) for x in init]
    groups = []
    for spec in group_spec:
        d = {"params": [params[j] for j in spec["params"]]}
        for k in ("lr", "weight_decay"):
            if k in spec:
                d[k] = spec[k]
        groups.append(d)
    opt = build(name, groups, lr, args)
    traj = [[] for _ in shapes]
    for step in range(N):
        for j, p in enumerate(params):
            p.grad = grads[j][step].clone()
        opt.step()
        for j, p in enumerate(params):
            traj[j].append(p.detach().clone())
    tensors = {}
    for j in range(len(shapes)):
        tensors[f"param.{j}"] = init[j].contiguous()
        tensors[f"grad.{j}"] = grads[j].contiguous()
        tensors[f"traj.{j}"] = torch.stack(traj[j]).contiguous()
    if name.lower().endswith("schedulefree"):
        opt.eval()
        for j, p in enumerate(params):
            tensors[f"eval.{j}"] = p.detach().clone().contiguous()
    if name.lower() == "adamw8bit":
        import bitsandbytes.functional as F
        tensors["qmap.dynamic"] = F.create_dynamic_map(signed=True)
        tensors["qmap.udynamic"] = F.create_dynamic_map(signed=False)
    meta = {
        "optimizer": name,
        "optimizer_args": json.dumps(args),
        "groups": json.dumps(group_spec),
        "lr": repr(lr),
        "steps": str(N),
    }
    save_file(tensors, os.path.join(OUT, case + ".safetensors"), metadata=meta)
    if restore:
        restore()


SMALL = [(6, 8), (8,), (4, 3, 2, 2)]
TWO_GROUPS = [{"params": [0, 1], "lr": 1e-3}, {"params": [2], "lr": 5e-4, "weight_decay": 0.1}]
ONE_GROUP = [{"params": [0, 1, 2]}]

CASES = [
    # case, optimizer_type, lr, optimizer_args, shapes, groups
    ("adamw", "AdamW", 1e-3, [], SMALL, TWO_GROUPS),
    ("adamw_args", "AdamW", 2e-3, ["betas=0.8,0.95", "eps=1e-6", "weight_decay=0.05"], SMALL, ONE_GROUP),
    # 4196 elements: 8-bit state with a partial last block; (6, 8) stays 32-bit (< min_8bit_size)
    ("adamw8bit", "AdamW8bit", 1e-3, [], [(4196,), (6, 8)], [{"params": [0, 1]}]),
    ("adamw8bit_args", "AdamW8bit", 2e-3, ["betas=(0.85, 0.99)", "weight_decay=0.0", "min_8bit_size=40"],
     [(300,), (6, 8)], [{"params": [0]}, {"params": [1], "lr": 1e-3}]),
    # the same run with bitsandbytes' compiled CPU quantiser (see use_nearest_quantiser)
    ("adamw8bit_bnbcpu", "AdamW8bit", 1e-3, [], [(4196,), (6, 8)], [{"params": [0, 1]}]),
    ("lion", "Lion", 1e-4, ["betas=(0.95,0.98)", "weight_decay=0.01"], SMALL, TWO_GROUPS),
    ("sgdnesterov", "SGDNesterov", 1e-2, ["weight_decay=1e-3"], SMALL, TWO_GROUPS),
    ("adafactor", "Adafactor", 1e-3, ["scale_parameter=True", "relative_step=True", "warmup_init=False"],
     SMALL, ONE_GROUP),
    ("adafactor_warmup", "Adafactor", 1e-3, ["relative_step=False", "warmup_init=True", "weight_decay=0.01"],
     SMALL, ONE_GROUP),
    ("adafactor_manual", "Adafactor", 1e-3,
     ["relative_step=False", "scale_parameter=False", "beta1=0.9", "clip_threshold=0.5"], SMALL, TWO_GROUPS),
    ("prodigy", "Prodigy", 1.0, [], SMALL, ONE_GROUP),
    ("prodigy_args", "Prodigy", 1.0,
     ["weight_decay=0.01", "use_bias_correction=True", "safeguard_warmup=True", "d_coef=2", "d0=1e-4"],
     SMALL, ONE_GROUP),
    ("dadaptadam", "DAdaptAdam", 1.0, [], SMALL, ONE_GROUP),
    ("dadaptadam_args", "DAdaptAdam", 1.0, ["decouple=True", "weight_decay=0.01", "use_bias_correction=True",
                                            "d0=1e-4"], SMALL, ONE_GROUP),
    ("adamwschedulefree", "AdamWScheduleFree", 1e-3, ["warmup_steps=3", "weight_decay=0.01"], SMALL, TWO_GROUPS),
]


# ---- LR schedules: sd-scripts' get_scheduler_fix dispatch over transformers / diffusers ----

def make_scheduler(opt, name, steps, warmup, decay=0, num_cycles=1, power=1.0, timescale=None,
                   min_lr_ratio=None, sched_args=(), sched_type=""):
    """A transcription of train_util.get_scheduler_fix (sd-scripts), calling the real
    transformers / diffusers schedule functions, or the torch.optim.lr_scheduler class of
    --lr_scheduler_type with the args as keyword arguments."""
    if sched_type:
        assert not warmup
        cls = getattr(torch.optim.lr_scheduler, sched_type.split(".")[-1])
        return cls(opt, **parse_optimizer_args(sched_args))
    from diffusers.optimization import SchedulerType as DST, TYPE_TO_SCHEDULER_FUNCTION as DF
    from transformers.optimization import SchedulerType as ST, TYPE_TO_SCHEDULER_FUNCTION as TF
    num_warmup = int(warmup * steps) if isinstance(warmup, float) else warmup
    num_decay = int(decay * steps) if isinstance(decay, float) else decay
    num_stable = steps - num_warmup - num_decay
    kw = parse_optimizer_args(sched_args)
    if name == DST.PIECEWISE_CONSTANT.value:
        return DF[DST(name)](opt, **kw)
    t = ST(name)
    f = TF[t]
    if t == ST.CONSTANT:
        assert not num_warmup
        return f(opt, **kw)
    if t == ST.CONSTANT_WITH_WARMUP:
        return f(opt, num_warmup_steps=num_warmup, **kw)
    if t == ST.INVERSE_SQRT:
        return f(opt, num_warmup_steps=num_warmup, timescale=timescale, **kw)
    if t == ST.COSINE_WITH_RESTARTS:
        return f(opt, num_warmup_steps=num_warmup, num_training_steps=steps, num_cycles=num_cycles, **kw)
    if t == ST.POLYNOMIAL:
        return f(opt, num_warmup_steps=num_warmup, num_training_steps=steps, power=power, **kw)
    if t == ST.COSINE_WITH_MIN_LR:
        return f(opt, num_warmup_steps=num_warmup, num_training_steps=steps, num_cycles=num_cycles / 2,
                 min_lr_rate=min_lr_ratio, **kw)
    if t in (ST.LINEAR, ST.COSINE):
        return f(opt, num_warmup_steps=num_warmup, num_training_steps=steps, **kw)
    if t == ST.WARMUP_STABLE_DECAY:
        return f(opt, num_warmup_steps=num_warmup, num_stable_steps=num_stable, num_decay_steps=num_decay,
                 num_cycles=num_cycles / 2, min_lr_ratio=min_lr_ratio if min_lr_ratio is not None else 0.0, **kw)
    raise ValueError(name)


LR_CASES = [
    # name, options (sd-scripts argument names without the lr_ prefix where they have one)
    ("constant", {}),
    ("constant_with_warmup", {"warmup": 10}),
    ("cosine", {"warmup": 10}),
    ("cosine", {"warmup": 0.1}),
    ("cosine", {"warmup": 10, "sched_args": ["num_cycles=1.5"]}),
    ("cosine_with_restarts", {"warmup": 10, "num_cycles": 3}),
    ("linear", {"warmup": 10}),
    ("linear", {"warmup": 0}),
    ("piecewise_constant", {"sched_args": ['step_rules="1:10,0.5:30,0.1:60,0.05"']}),
    ("polynomial", {"warmup": 10}),
    ("polynomial", {"warmup": 10, "power": 2.0, "sched_args": ["lr_end=1e-5"]}),
    ("cosine_with_min_lr", {"warmup": 10, "min_lr_ratio": 0.1}),
    ("cosine_with_min_lr", {"warmup": 10, "num_cycles": 3, "sched_args": ["min_lr=1e-5"]}),
    ("inverse_sqrt", {"warmup": 10}),
    ("inverse_sqrt", {"warmup": 10, "timescale": 25}),
    ("warmup_stable_decay", {"warmup": 10, "decay": 30, "min_lr_ratio": 0.1}),
    ("warmup_stable_decay", {"warmup": 0.1, "decay": 0.2, "num_cycles": 2,
                             "sched_args": ["warmup_type='cosine'", "decay_type='linear'"]}),
    ("warmup_stable_decay", {"warmup": 10, "decay": 30, "sched_args": ["decay_type='1-sqrt'",
                                                                         "warmup_type='1-sqrt'"]}),
    # --lr_scheduler_type: torch classes (lr_scheduler is then ignored)
    ("cosine", {"type": "CosineAnnealingLR", "sched_args": ["T_max=100"]}),
    ("constant", {"type": "CosineAnnealingLR", "sched_args": ["T_max=30", "eta_min=1e-4"]}),
    ("constant", {"type": "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts",
                  "sched_args": ["T_0=10", "T_mult=2", "eta_min=5e-5"]}),
    ("constant", {"type": "CosineAnnealingWarmRestarts", "sched_args": ["T_0=15"]}),
    ("constant", {"type": "StepLR", "sched_args": ["step_size=30", "gamma=0.5"]}),
    ("constant", {"type": "MultiStepLR", "sched_args": ["milestones=[60,20,60]", "gamma=0.3"]}),
    ("constant", {"type": "ExponentialLR", "sched_args": ["gamma=0.97"]}),
    ("constant", {"type": "LinearLR", "sched_args": ["start_factor=0.25", "total_iters=40"]}),
    ("constant", {"type": "LinearLR", "sched_args": []}),
    ("constant", {"type": "ConstantLR", "sched_args": ["factor=0.5", "total_iters=25"]}),
    ("constant", {"type": "PolynomialLR", "sched_args": ["total_iters=80", "power=2.0"]}),
]


def make_lr_fixtures():
    lr, steps = 1e-3, 100
    out = []
    for name, opts in LR_CASES:
        p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        # a second group at a quarter of the lr (text encoder / LoRA+ groups): eta_min is absolute
        opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": lr / 4}], lr=lr)
        sched = make_scheduler(opt, name, steps, opts.get("warmup", 0), opts.get("decay", 0),
                               opts.get("num_cycles", 1), opts.get("power", 1.0), opts.get("timescale"),
                               opts.get("min_lr_ratio"), opts.get("sched_args", ()), opts.get("type", ""))
        lrs, lrs2 = [], []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])  # the lr this optimizer step uses
            lrs2.append(opt.param_groups[1]["lr"])
            opt.step()
            sched.step()
        out.append({"lr_scheduler": name, "learning_rate": lr, "max_train_steps": steps,
                    "lr_warmup_steps": opts.get("warmup", 0), "lr_decay_steps": opts.get("decay", 0),
                    "lr_scheduler_num_cycles": opts.get("num_cycles", 1),
                    "lr_scheduler_power": opts.get("power", 1.0),
                    "lr_scheduler_timescale": opts.get("timescale"),
                    "lr_scheduler_min_lr_ratio": opts.get("min_lr_ratio"),
                    "lr_scheduler_args": list(opts.get("sched_args", ())),
                    "lr_scheduler_type": opts.get("type", ""), "lr": lrs, "lr_group2": lrs2})
    with open(os.path.join(OUT, "lr_schedules.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote lr_schedules.json")


# ---- the DDPM noise schedule, add_noise / v-target, loss weightings, Huber c, bilinear ----

def zero_terminal_snr(betas):
    # sd-scripts custom_train_functions.fix_noise_scheduler_betas_for_zero_terminal_snr
    alphas = 1 - betas
    alphas_bar_sqrt = alphas.cumprod(0).sqrt()
    a0 = alphas_bar_sqrt[0].clone()
    aT = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= aT
    alphas_bar_sqrt *= a0 / (a0 - aT)
    alphas_bar = alphas_bar_sqrt**2
    alphas = torch.cat([alphas_bar[0:1], alphas_bar[1:] / alphas_bar[:-1]])
    betas = 1 - alphas
    return betas, torch.cumprod(1.0 - betas, dim=0)


def make_noise_fixtures():
    from diffusers import DDPMScheduler
    sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          num_train_timesteps=1000, clip_sample=False)
    ac = sched.alphas_cumprod
    all_snr = (torch.sqrt(ac) / torch.sqrt(1.0 - ac)) ** 2  # prepare_scheduler_for_custom_training
    zb, zac = zero_terminal_snr(sched.betas.clone())
    g = torch.Generator().manual_seed(7)
    x0 = torch.randn(2, 4, 8, 8, generator=g)
    eps = torch.randn(2, 4, 8, 8, generator=g)
    ts = torch.tensor([17, 803])
    noisy = sched.add_noise(x0, eps, ts)
    vel = sched.get_velocity(x0, eps, ts)
    wt = torch.tensor([0, 1, 5, 50, 200, 500, 800, 999])
    loss = torch.rand(len(wt), generator=g) + 0.1
    snr = torch.stack([all_snr[t] for t in wt])
    snr_c = torch.minimum(snr, torch.ones_like(snr) * 1000)
    scale = snr_c / (snr_c + 1)
    mg = torch.minimum(snr, torch.full_like(snr, 5.0))
    out = {
        "betas": sched.betas, "alphas_cumprod": ac, "all_snr": all_snr,
        "zts_betas": zb, "zts_alphas_cumprod": zac,
        "x0": x0, "eps": eps, "timesteps": ts.to(torch.int32), "noisy": noisy, "velocity": vel,
        "w_timesteps": wt.to(torch.int32), "loss": loss,
        "min_snr_eps": loss * torch.div(mg, snr).float(),
        "min_snr_v": loss * torch.div(mg, snr + 1).float(),
        "scale_v_pred": loss * scale,
        "v_pred_like": loss + loss / scale * 0.3,
        "debiased_eps": (1 / torch.sqrt(snr_c)) * loss,
        "debiased_v": (1 / (snr_c + 1)) * loss,
    }
    # Huber c (train_util.get_huber_threshold_if_needed), huber_c 0.1, huber_scale 1.5
    alpha = -math.log(0.1) / 1000
    out["huber_exponential"] = torch.exp(-alpha * wt) * 1.5
    a = torch.index_select(ac, 0, wt)
    sig = ((1.0 - a) / a) ** 0.5
    out["huber_snr"] = (1 - 0.1) / (1 + sig) ** 2 + 0.1
    out["huber_constant"] = torch.full((len(wt),), 0.1 * 1.5)
    # bilinear upsampling as custom_train_functions.pyramid_noise_like does it
    for name, (h, w, oh, ow) in {"a": (3, 5, 8, 11), "b": (5, 7, 64, 64), "c": (1, 1, 4, 6),
                                 "d": (2, 3, 7, 13)}.items():
        inp = torch.randn(2, 3, h, w, generator=g)
        out[f"bilinear_{name}_in"] = inp
        out[f"bilinear_{name}_out"] = torch.nn.Upsample(size=(oh, ow), mode="bilinear")(inp)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "noise.safetensors"))
    print("wrote noise.safetensors")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for i, (case, name, lr, args, shapes, groups) in enumerate(CASES):
        run_case(case, name, lr, args, shapes, groups, seed=1000 + i)
        print("wrote", case)
    make_lr_fixtures()
    make_noise_fixtures()


if __name__ == "__main__":
    if sys.argv[1:] == ["--lr-only"]:   # only lr_schedules.json
        os.makedirs(OUT, exist_ok=True)
        make_lr_fixtures()
    else:
        main()
