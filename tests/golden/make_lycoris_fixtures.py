"""make_lycoris_fixtures.py — LyCORIS LoHa / LoKr (and LoCon / LoHa / LoKr with DoRA,
weight_decompose) on small Linear and Conv2d layers.

Builds each layer with lycoris-lora's own LohaModule / LokrModule / LoConModule (non-bypass
forward: the layer runs with W + multiplier·ΔW, or its DoRA decomposition), sets every factor
(and dora_scale) to fixed non-zero values, and stores the
forward output and the gradients of L = Σ out·proj w.r.t. the input and every factor.
Writes tests/fixtures/lycoris-layers/{config.json,inputs,outputs,grads}.safetensors: config.json
lists the cases (kind, layer shape, rank, alpha, factor, decompose_both, multiplier) and the
state_dict keys with their shapes as LyCORIS saves them (the file-format check).
Run: /work/golden-venv/bin/python tests/golden/make_lycoris_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file
from lycoris.modules.locon import LoConModule
from lycoris.modules.loha import LohaModule
from lycoris.modules.lokr import LokrModule

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lycoris-layers")

CASES = [
    dict(name="loha_linear", kind="loha", conv=False, inp=12, out=10, kernel=1, rank=3, alpha=2.0, mult=1.0),
    dict(name="loha_conv", kind="loha", conv=True, inp=6, out=8, kernel=3, rank=2, alpha=1.0, mult=0.5),
    dict(name="lokr_linear", kind="lokr", conv=False, inp=64, out=48, kernel=1, rank=2, alpha=4.0, mult=1.0,
         factor=8, decompose_both=True),
    dict(name="lokr_linear_full", kind="lokr", conv=False, inp=16, out=12, kernel=1, rank=4, alpha=1.0, mult=1.0,
         factor=-1, decompose_both=False),
    dict(name="lokr_conv", kind="lokr", conv=True, inp=8, out=12, kernel=3, rank=1, alpha=1.0, mult=1.0,
         factor=-1, decompose_both=False),
    # DoRA (dora_wd): dora_scale per output row of W + ΔW
    dict(name="locon_dora_linear", kind="locon", conv=False, inp=12, out=10, kernel=1, rank=3, alpha=2.0,
         mult=1.0, dora=True),
    dict(name="locon_dora_conv", kind="locon", conv=True, inp=6, out=8, kernel=3, rank=2, alpha=1.0,
         mult=1.0, dora=True),
    dict(name="loha_dora_conv", kind="loha", conv=True, inp=6, out=8, kernel=3, rank=2, alpha=1.0, mult=1.0,
         dora=True),
    dict(name="lokr_dora_linear", kind="lokr", conv=False, inp=16, out=12, kernel=1, rank=4, alpha=1.0,
         mult=1.0, factor=-1, decompose_both=False, dora=True),
    # use_scalar: a trained scalar multiplies ΔW (saved folded into a factor)
    dict(name="locon_scalar_conv", kind="locon", conv=True, inp=6, out=8, kernel=3, rank=2, alpha=1.0,
         mult=1.0, scalar=True),
    dict(name="loha_scalar_linear", kind="loha", conv=False, inp=12, out=10, kernel=1, rank=3, alpha=2.0,
         mult=1.0, scalar=True),
    dict(name="lokr_scalar_linear", kind="lokr", conv=False, inp=64, out=48, kernel=1, rank=2, alpha=4.0,
         mult=1.0, factor=8, decompose_both=True, scalar=True),
]


def main():
    torch.manual_seed(1234)
    inputs, outputs, grads, config = {}, {}, {}, []
    for c in CASES:
        if c["conv"]:
            layer = torch.nn.Conv2d(c["inp"], c["out"], c["kernel"], padding=c["kernel"] // 2)
            x = torch.randn(2, c["inp"], 5, 5)
        else:
            layer = torch.nn.Linear(c["inp"], c["out"])
            x = torch.randn(2, 5, c["inp"])
        kw = dict(multiplier=c["mult"], lora_dim=c["rank"], alpha=c["alpha"])
        if c.get("dora"):
            kw["weight_decompose"] = True
        if c.get("scalar"):
            kw["use_scalar"] = True
        if c["kind"] == "locon":
            mod = LoConModule("lycoris_" + c["name"], layer, **kw)
        elif c["kind"] == "loha":
            mod = LohaModule("lycoris_" + c["name"], layer, **kw)
        else:
            mod = LokrModule("lycoris_" + c["name"], layer, factor=c["factor"],
                             decompose_both=c["decompose_both"], **kw)
        mod.train()
        sd = mod.custom_state_dict()
        factor_keys = [k for k in sd if k != "alpha"]
        params = {k: mod.get_parameter(k) for k in factor_keys}
        if c.get("scalar"):   # not a key of the file: saved folded into a factor
            params["scalar"] = mod.scalar
        with torch.no_grad():
            for k, p in params.items():
                if k == "dora_scale":   # around the rows' norms, so the weight stays in scale
                    p.mul_(1.0 + 0.3 * torch.randn_like(p))
                elif k == "scalar":
                    p.fill_(0.7)
                else:
                    p.copy_(torch.randn_like(p) * 0.3)
        x.requires_grad_(True)
        y = mod(x)
        proj = torch.randn_like(y)
        (y * proj).sum().backward()
        n = c["name"]
        inputs[n + ".x"] = x.detach().contiguous()
        inputs[n + ".proj"] = proj.contiguous()
        inputs[n + ".weight"] = layer.weight.detach().contiguous()
        inputs[n + ".bias"] = layer.bias.detach().contiguous()
        inputs[n + ".alpha"] = mod.alpha.detach().float().reshape(())
        outputs[n + ".out"] = y.detach().contiguous()
        grads[n + ".x"] = x.grad.contiguous()
        for k, p in params.items():
            inputs[n + "." + k] = p.detach().contiguous()
            grads[n + "." + k] = p.grad.contiguous()
        c = dict(c)
        c["keys"] = {k: list(v.shape) for k, v in mod.custom_state_dict().items()}
        config.append(c)
    os.makedirs(OUT, exist_ok=True)
    save_file(inputs, os.path.join(OUT, "inputs.safetensors"))
    save_file(outputs, os.path.join(OUT, "outputs.safetensors"))
    save_file(grads, os.path.join(OUT, "grads.safetensors"))
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump({"cases": config}, f, indent=1)


if __name__ == "__main__":
    main()
