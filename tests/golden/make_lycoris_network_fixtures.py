"""make_lycoris_network_fixtures.py — the keys and shapes lycoris-lora's kohya network
(lycoris.kohya.create_network) saves for the tiny SD1 U-Net and CLIP fixtures, per algo and
preset, into tests/fixtures/lycoris-network/expected.json: {case: {key: shape}} plus the
options and the 0-d values (alpha). iA3 is not here: lycoris 3.2's network_module_dict has no
"ia3" (create_network raises KeyError), so its targets are checked by hand in
tests/test_network_variants.c. The UNet is diffusers' (its module paths are the names sd-scripts' original_unet keeps);
attn-only is left out because its CrossAttention class exists in sd-scripts' UNet only.
Run: /work/golden-venv/bin/python tests/golden/make_lycoris_network_fixtures.py"""
import json
import os
import tempfile

import torch
from diffusers import UNet2DConditionModel
from safetensors import safe_open
from transformers import CLIPTextConfig, CLIPTextModel

import lycoris.kohya as lk
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(FIX, "lycoris-network")

CASES = [
    {"name": "loha_full", "algo": "loha", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1},
    {"name": "lokr_full", "algo": "lokr", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1},
    {"name": "lokr_decompose", "algo": "lokr", "preset": "attn-mlp", "dim": 2, "alpha": 1, "factor": 4,
     "decompose_both": True},
    {"name": "lokr_fullmatrix", "algo": "lokr", "preset": "unet-convblock-only", "dim": 64, "alpha": 8},
    {"name": "locon_fulllin", "algo": "locon", "preset": "full-lin", "dim": 4, "alpha": 1},
    {"name": "loha_unet_transformer", "algo": "loha", "preset": "unet-transformer-only", "dim": 3, "alpha": 0},
    {"name": "full_attn_mlp", "algo": "full", "preset": "attn-mlp", "dim": 4, "alpha": 1},
    {"name": "full_full", "algo": "full", "preset": "full", "dim": 4, "alpha": 1},
    {"name": "glora_full", "algo": "glora", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1},
    {"name": "diag_oft_full", "algo": "diag-oft", "preset": "full", "dim": 4, "alpha": 1, "conv_dim": 8,
     "constraint": 0.5, "rescaled": True},
    # BOFT cannot split the tiny CLIP's 37-wide MLP: the U-Net only
    {"name": "boft_fulllin", "algo": "boft", "preset": "full-lin", "dim": 4, "alpha": 1, "unet_only": True},
    {"name": "locon_dora", "algo": "locon", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1,
     "dora_wd": True},
    {"name": "lokr_dora", "algo": "lokr", "preset": "attn-mlp", "dim": 4, "alpha": 1, "dora_wd": True},
    {"name": "locon_norm", "algo": "locon", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1,
     "train_norm": True},
    {"name": "loha_norm_attn_mlp", "algo": "loha", "preset": "attn-mlp", "dim": 2, "alpha": 1, "train_norm": True},
    # use_tucker and its aliases, passed as strings as sd-scripts passes network_args (the first
    # of use_conv_cp / use_cp / use_tucker given decides, see network_lycoris_use_tucker)
    {"name": "locon_tucker", "algo": "locon", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2,
     "conv_alpha": 1, "args": {"use_tucker": "True"}},
    {"name": "loha_tucker", "algo": "loha", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1,
     "args": {"use_cp": "True"}},
    {"name": "lokr_tucker", "algo": "lokr", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1,
     "args": {"use_tucker": "False", "use_cp": "True"}},
    # kohya_ss' LyCORIS/LoKr passes use_tucker and use_cp: use_cp=False wins
    {"name": "lokr_cp_false", "algo": "lokr", "preset": "full", "dim": 4, "alpha": 2, "conv_dim": 2, "conv_alpha": 1,
     "args": {"use_tucker": "True", "use_cp": "False"}},
    {"name": "lokr_tucker_decompose", "algo": "lokr", "preset": "unet-convblock-only", "dim": 2, "alpha": 1,
     "factor": 4, "decompose_both": True, "args": {"use_conv_cp": "true"}},
    {"name": "locon_tucker_dora", "algo": "locon", "preset": "unet-convblock-only", "dim": 4, "alpha": 2,
     "conv_dim": 2, "conv_alpha": 1, "dora_wd": True, "args": {"use_tucker": "True"}},
]


def main():
    torch.manual_seed(0)
    with open(os.path.join(FIX, "unet-sd1", "config.json")) as f:
        ucfg = json.load(f)
    unet = UNet2DConditionModel.from_config(ucfg)
    with open(os.path.join(FIX, "clip-sd1", "config.json")) as f:
        tcfg = json.load(f)
    te = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in tcfg.items() if not k.startswith("_")}))
    out = {"cases": [], "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                       "lycoris": "3.2.0.post2"}}
    for c in CASES:
        kw = {"algo": c["algo"], "preset": c["preset"]}
        for k in ("conv_dim", "conv_alpha", "factor", "decompose_both", "constraint", "rescaled", "dora_wd",
                  "train_norm"):
            if k in c:
                kw[k] = c[k]
        kw.update(c.get("args", {}))
        # LyCORIS' presets are class attributes: start each case from the defaults
        tes = None if c.get("unet_only") else te
        net = lk.create_network(1.0, c["dim"], c["alpha"], None, tes, unet, **kw)
        net.apply_to(tes, unet, apply_text_encoder=tes is not None, apply_unet=True)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "n.safetensors")
            net.save_weights(path, torch.float32, None)
            keys = {}
            alphas = {}
            with safe_open(path, "pt") as f:
                for k0 in f.keys():
                    t = f.get_tensor(k0)
                    # transformers 5's CLIPTextModel has no text_model level; sd-scripts'
                    # (transformers 4) names have it
                    k = k0.replace("lora_te_encoder_", "lora_te_text_model_encoder_")
                    keys[k] = list(t.shape)
                    if k.endswith(".alpha"):
                        alphas[k] = float(t)
        # undo the injection so the next case sees plain modules
        for lora in net.loras:
            lora.restore() if hasattr(lora, "restore") else None
        case = dict(c)
        case["keys"] = keys
        case["alphas"] = alphas
        out["cases"].append(case)
        print(c["name"], len(net.loras), "modules")
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
