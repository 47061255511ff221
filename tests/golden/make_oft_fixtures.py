"""make_oft_fixtures.py — LyCORIS Diag-OFT and BOFT on small Linear and Conv2d layers.

Builds each layer with lycoris-lora's own DiagOFTModule / ButterflyOFTModule (non-bypass
forward in train mode: the layer runs with the rotated weight, rank_dropout 0, multiplier 1),
sets oft_blocks to fixed non-zero values (LyCORIS starts them at zero, where R = I hides
everything) and rescale to 1 + small noise, and stores the forward output and the gradients of
L = Σ out·proj w.r.t. the input, oft_blocks and rescale.

BOFT: the released lycoris-lora 3.2.0.post2 applies the butterfly of make_weight to the
weight's last dimension, so its non-bypass forward fails (einsum size mismatch) unless a
layer's shape happens to fit. Upstream fixed make_weight to act on the rows in commit
85ab749 ("Fix BOFT bug", 2025-05-02, otherwise identical to 3.2.0.post2's boft.py); this script
runs that commit's module, read from the LyCORIS git mirror, and checks it against the released
module's bypass forward (rows of the output rotated, correct in 3.2.0.post2) on the same layer
without its bias.

Writes tests/fixtures/lycoris-oft/{config.json,inputs,outputs,grads}.safetensors: config.json
lists the cases (kind, layer shape, rank, constraint, rescaled, whether the norm constraint
bites, LyCORIS' block size / count / stages) and the state_dict keys with their shapes as
LyCORIS saves them (OFT's modules have no custom_state_dict; state_dict is what gets saved).
Run: /work/golden-venv/bin/python tests/golden/make_oft_fixtures.py
(LYCORIS_GIT names the mirror's git dir if it is not at the default path.)
"""
import copy
import json
import os
import subprocess
import types

import torch
from safetensors.torch import save_file
import lycoris.modules
from lycoris.modules.boft import ButterflyOFTModule as ReleasedBOFT
from lycoris.modules.diag_oft import DiagOFTModule

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lycoris-oft")
LYCORIS_GIT = os.environ.get("LYCORIS_GIT", "/work/.mirror/KohakuBlueleaf+LyCORIS/repo")
BOFT_FIX = "85ab7496845c534dc6f065b26e15ce46b882d13d"

CASES = [
    dict(name="diag_oft_linear", kind="diag-oft", conv=False, inp=12, out=16, kernel=1, rank=4,
         constraint=0.0, rescaled=False),
    dict(name="diag_oft_conv_rescaled", kind="diag-oft", conv=True, inp=6, out=24, kernel=3, rank=8,
         constraint=0.0, rescaled=True),
    dict(name="diag_oft_linear_constraint", kind="diag-oft", conv=False, inp=10, out=24, kernel=1,
         rank=4, constraint=0.05, rescaled=False),
    dict(name="boft_linear", kind="boft", conv=False, inp=12, out=16, kernel=1, rank=4,
         constraint=0.0, rescaled=False),
    dict(name="boft_conv_rescaled", kind="boft", conv=True, inp=6, out=24, kernel=3, rank=8,
         constraint=0.0, rescaled=True),
    dict(name="boft_linear_constraint", kind="boft", conv=False, inp=10, out=32, kernel=1, rank=4,
         constraint=0.02, rescaled=True),
    dict(name="boft_linear_one_block", kind="boft", conv=False, inp=8, out=8, kernel=1, rank=8,
         constraint=0.0, rescaled=False),
]


def fixed_boft_class():
    """ButterflyOFTModule as of upstream commit BOFT_FIX, in lycoris.modules' namespace."""
    src = subprocess.check_output(
        ["git", "--git-dir", LYCORIS_GIT, "show", BOFT_FIX + ":lycoris/modules/boft.py"], text=True)
    mod = types.ModuleType("lycoris.modules.boft_fixed")
    mod.__package__ = lycoris.modules.__name__
    exec(compile(src, "boft.py@" + BOFT_FIX[:7], "exec"), mod.__dict__)
    return mod.ButterflyOFTModule


def released_bypass_check(c, layer, mod, x):
    """The fixed make_weight against 3.2.0.post2's own bypass forward, both without the bias."""
    bare = copy.deepcopy(layer)
    bare.bias = None
    ref = ReleasedBOFT("ref", bare, lora_dim=c["rank"], constraint=c["constraint"],
                       rescaled=c["rescaled"], bypass_mode=True)
    fixed = type(mod)("fix", copy.deepcopy(bare), lora_dim=c["rank"], constraint=c["constraint"],
                      rescaled=c["rescaled"])
    with torch.no_grad():
        for m in (ref, fixed):
            m.oft_blocks.copy_(mod.oft_blocks)
            if c["rescaled"]:
                m.rescale.copy_(mod.rescale)
        ref.train(), fixed.train()
        y_ref, y_fixed = ref(x), fixed(x)
    err = (y_ref - y_fixed).abs().max().item() / y_ref.abs().max().item()
    assert err < 1e-5, (c["name"], err)


def main():
    torch.manual_seed(2468)
    FixedBOFT = fixed_boft_class()
    inputs, outputs, grads, config = {}, {}, {}, []
    for c in CASES:
        if c["conv"]:
            layer = torch.nn.Conv2d(c["inp"], c["out"], c["kernel"], padding=c["kernel"] // 2)
            x = torch.randn(2, c["inp"], 5, 5)
        else:
            layer = torch.nn.Linear(c["inp"], c["out"])
            x = torch.randn(2, 5, c["inp"])
        cls = DiagOFTModule if c["kind"] == "diag-oft" else FixedBOFT
        mod = cls("lycoris_" + c["name"], layer, multiplier=1.0, lora_dim=c["rank"],
                  constraint=c["constraint"], rescaled=c["rescaled"], rank_dropout=0.0)
        mod.train()
        params = {"oft_blocks": mod.oft_blocks}
        if c["rescaled"]:
            params["rescale"] = mod.rescale
        with torch.no_grad():
            mod.oft_blocks.copy_(torch.randn_like(mod.oft_blocks) * 0.3)
            if c["rescaled"]:
                mod.rescale.copy_(1.0 + 0.1 * torch.randn_like(mod.rescale))
            q = mod.oft_blocks - mod.oft_blocks.transpose(-1, -2)
            active = bool(mod.constraint > 0 and torch.norm(q) + 1e-8 > mod.constraint)
        if c["constraint"] > 0:
            assert active, c["name"] + ": the constraint does not bite"
        if c["kind"] == "boft":
            released_bypass_check(c, layer, mod, x)
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
        c["constraint_active"] = active
        c["block_size"], c["block_num"] = mod.block_size, mod.block_num
        c["boft_m"] = getattr(mod, "boft_m", 1)
        c["keys"] = {k: list(v.shape) for k, v in mod.state_dict().items()}
        config.append(c)
    os.makedirs(OUT, exist_ok=True)
    save_file(inputs, os.path.join(OUT, "inputs.safetensors"))
    save_file(outputs, os.path.join(OUT, "outputs.safetensors"))
    save_file(grads, os.path.join(OUT, "grads.safetensors"))
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump({"lycoris": "3.2.0.post2", "boft_make_weight": BOFT_FIX, "cases": config}, f, indent=1)


if __name__ == "__main__":
    main()
