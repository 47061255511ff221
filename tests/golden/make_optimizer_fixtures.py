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
import os

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


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for i, (case, name, lr, args, shapes, groups) in enumerate(CASES):
        run_case(case, name, lr, args, shapes, groups, seed=1000 + i)
        print("wrote", case)


if __name__ == "__main__":
    main()
