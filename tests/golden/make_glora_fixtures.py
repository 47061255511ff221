"""make_glora_fixtures.py — LyCORIS GLoRA on small Linear and Conv2d layers.

Builds each layer with lycoris-lora's own GLoRAModule (non-bypass forward: the layer runs with
W + multiplier·ΔW, ΔW = alpha/rank · (b1·b2 + W·a1·a2 over the input channels); use_tucker and
use_scalar off), sets all four factors to fixed non-zero values (GLoRA starts a2 and b2 at
zero, which would hide their terms), and stores the forward output and the gradients of
L = Σ out·proj w.r.t. the input and every factor.
Writes tests/fixtures/lycoris-glora/{config.json,inputs,outputs,grads}.safetensors: config.json
lists the cases (layer shape, stride, padding, input size, rank, alpha, multiplier) and the
state_dict keys with their shapes as LyCORIS saves them (custom_state_dict: the file-format
check).
Run: /work/golden-venv/bin/python tests/golden/make_glora_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file
from lycoris.modules.glora import GLoRAModule

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lycoris-glora")

FACTORS = ["a1", "a2", "b1", "b2"]

CASES = [
    dict(name="glora_linear", conv=False, inp=12, out=10, kernel=1, stride=1, pad=0, size=5,
         rank=3, alpha=2.0, mult=1.0),
    dict(name="glora_conv", conv=True, inp=6, out=8, kernel=3, stride=1, pad=1, size=5,
         rank=2, alpha=1.0, mult=0.5),
    dict(name="glora_conv_stride2", conv=True, inp=5, out=7, kernel=3, stride=2, pad=1, size=7,
         rank=3, alpha=4.0, mult=0.8),
]


def main():
    torch.manual_seed(4321)
    inputs, outputs, grads, config = {}, {}, {}, []
    for c in CASES:
        if c["conv"]:
            layer = torch.nn.Conv2d(c["inp"], c["out"], c["kernel"], stride=c["stride"],
                                    padding=c["pad"])
            x = torch.randn(2, c["inp"], c["size"], c["size"])
        else:
            layer = torch.nn.Linear(c["inp"], c["out"])
            x = torch.randn(2, c["size"], c["inp"])
        mod = GLoRAModule("lycoris_" + c["name"], layer, multiplier=c["mult"],
                          lora_dim=c["rank"], alpha=c["alpha"])
        mod.train()
        params = {k: getattr(mod, k).weight for k in FACTORS}
        with torch.no_grad():
            for p in params.values():
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
