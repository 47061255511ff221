"""make_lycoris_tucker_fixtures.py — LyCORIS' Tucker factors (use_tucker) of LoCon, LoHa and
LoKr on small Conv2d layers.

Builds each layer with lycoris-lora's own LoConModule / LohaModule / LokrModule and
use_tucker=True (non-bypass forward: the layer runs with W + multiplier·ΔW, or its DoRA
decomposition), sets every factor to fixed non-zero values, and stores the forward output and
the gradients of L = Σ out·proj w.r.t. the input and every parameter. LoHa's gradients are
torch autograd's through HadaWeightTucker's forward: LyCORIS' own HadaWeightTucker.backward
(3.2.0.post2 and its main branch) takes hada_w1_a's gradient with the other pair's core
(t2, hada_w2_b) and hada_w2_a's with the first pair's, which is only right when the pairs are
equal; loratty computes the true gradient. Every input is a
float32 value and LyCORIS runs in float64, so the stored (float32) outputs and gradients are
the exact ones rounded once.
Writes tests/fixtures/lycoris-tucker/{config.json,inputs,outputs,grads}.safetensors: config.json
lists the cases and the state_dict keys with their shapes as LyCORIS saves them.
Run: /work/golden-venv/bin/python tests/golden/make_lycoris_tucker_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file
from lycoris.modules.locon import LoConModule
from lycoris.modules.loha import LohaModule
from lycoris.modules.lokr import LokrModule
import lycoris.functional.loha as lycoris_loha


def hada_tucker_autograd(t1, w1d, w1u, t2, w2d, w2u, scale=torch.tensor(1)):
    """HadaWeightTucker.forward, left to autograd (see the docstring: its backward is wrong)."""
    rebuild1 = torch.einsum("i j ..., j r, i p -> p r ...", t1, w1d, w1u)
    rebuild2 = torch.einsum("i j ..., j r, i p -> p r ...", t2, w2d, w2u)
    return rebuild1 * rebuild2 * scale


lycoris_loha.HadaWeightTucker.apply = hada_tucker_autograd

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lycoris-tucker")

CASES = [
    dict(name="locon_tucker", kind="locon", inp=6, out=8, kernel=3, stride=1, rank=3, alpha=2.0, mult=1.0),
    dict(name="locon_tucker_stride2", kind="locon", inp=5, out=7, kernel=3, stride=2, rank=2, alpha=1.0,
         mult=0.7),
    dict(name="locon_tucker_dora", kind="locon", inp=6, out=8, kernel=3, stride=1, rank=2, alpha=1.0, mult=1.0,
         dora=True),
    dict(name="locon_tucker_scalar", kind="locon", inp=6, out=8, kernel=3, stride=1, rank=2, alpha=1.0,
         mult=1.0, scalar=True),
    dict(name="loha_tucker", kind="loha", inp=6, out=8, kernel=3, stride=1, rank=3, alpha=2.0, mult=1.0),
    dict(name="loha_tucker_mult", kind="loha", inp=5, out=4, kernel=3, stride=2, rank=2, alpha=1.0, mult=0.5),
    dict(name="loha_tucker_dora_scalar", kind="loha", inp=6, out=8, kernel=3, stride=1, rank=2, alpha=1.0,
         mult=1.0, dora=True, scalar=True),
    # out 24 = 4·6, in 16 = 4·4: W2 [6, 4·9] low-rank at rank 2 → lokr_t2
    dict(name="lokr_tucker", kind="lokr", inp=16, out=24, kernel=3, stride=1, rank=2, alpha=4.0, mult=1.0,
         factor=-1, decompose_both=False),
    # in 64 = 8·8, out 48 = 6·8: W1 low-rank too
    dict(name="lokr_tucker_both", kind="lokr", inp=64, out=48, kernel=3, stride=1, rank=2, alpha=1.0, mult=1.0,
         factor=-1, decompose_both=True),
    dict(name="lokr_tucker_dora", kind="lokr", inp=16, out=24, kernel=3, stride=1, rank=2, alpha=1.0, mult=1.0,
         factor=-1, decompose_both=False, dora=True),
]


def main():
    torch.manual_seed(4321)
    inputs, outputs, grads, config = {}, {}, {}, []
    for c in CASES:
        layer = torch.nn.Conv2d(c["inp"], c["out"], c["kernel"], stride=c["stride"], padding=c["kernel"] // 2)
        layer = layer.double()
        with torch.no_grad():
            for p in layer.parameters():
                p.copy_(p.float().double())
        x = torch.randn(2, c["inp"], 6, 6).double()
        kw = dict(multiplier=c["mult"], lora_dim=c["rank"], alpha=c["alpha"], use_tucker=True)
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
        mod = mod.double()
        mod.train()
        assert mod.tucker, c["name"]
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
                    p.copy_(torch.randn_like(p) * 0.4)
                p.copy_(p.float().double())   # float32 values
        x.requires_grad_(True)
        y = mod(x)
        proj = torch.randn_like(y).float().double()
        (y * proj).sum().backward()
        n = c["name"]
        inputs[n + ".x"] = x.detach().contiguous()
        inputs[n + ".proj"] = proj.contiguous()
        inputs[n + ".weight"] = layer.weight.detach().contiguous()
        inputs[n + ".bias"] = layer.bias.detach().contiguous()
        inputs[n + ".alpha"] = mod.alpha.detach().double().reshape(())
        outputs[n + ".out"] = y.detach().contiguous()
        grads[n + ".x"] = x.grad.contiguous()
        for k, p in params.items():
            inputs[n + "." + k] = p.detach().contiguous()
            grads[n + "." + k] = p.grad.contiguous()
        c = dict(c)
        c["keys"] = {k: list(v.shape) for k, v in mod.custom_state_dict().items()}
        config.append(c)
    inputs, outputs, grads = ({k: v.float().contiguous() for k, v in d.items()} for d in (inputs, outputs, grads))
    os.makedirs(OUT, exist_ok=True)
    save_file(inputs, os.path.join(OUT, "inputs.safetensors"))
    save_file(outputs, os.path.join(OUT, "outputs.safetensors"))
    save_file(grads, os.path.join(OUT, "grads.safetensors"))
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump({"cases": config, "versions": {"torch": torch.__version__, "lycoris": "3.2.0.post2"}}, f,
                  indent=1)


if __name__ == "__main__":
    main()
