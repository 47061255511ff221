#!/usr/bin/env python3
"""Expected values for tests/test_lora_file.c: sd-scripts' sshs_model_hash / sshs_legacy_hash
of a LoRA-shaped tensor set, computed the way sd-scripts' train_util.precalculate_safetensors_hashes
does (serialize with the Python safetensors library keeping only ss_* metadata; SHA-256 of the bytes
after the header; SHA-256 of the 64 KiB at offset 1 MiB), and Python's str() of some floats.

Tensor values come from an integer formula both sides compute exactly:
    v[i] = ((i * 2654435761 + 97 * k) % 2001 - 1000) / 1000   (float32), k = tensor index
Run: /work/golden-venv/bin/python tests/golden/make_lora_file_fixtures.py
"""
import hashlib
import io
import json
import os

import numpy as np
from safetensors.numpy import save

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lora_file", "expected.json")

# (name, shape) — three kohya modules, big enough that the file passes 1 MiB in fp16
TENSORS = [
    ("lora_unet_down_blocks_0_attentions_0_proj_in.alpha", []),
    ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", [64, 320, 1, 1]),
    ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", [320, 64, 1, 1]),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj.alpha", []),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj.lora_down.weight", [64, 1280]),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj.lora_up.weight", [10240, 64]),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha", []),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", [64, 768]),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", [768, 64]),
]
METADATA = {
    "ss_network_module": "networks.lora",
    "ss_network_dim": "64",
    "ss_network_alpha": "32.0",
    "ss_learning_rate": "0.0001",
    "ss_training_comment": "None",
    "modelspec.title": "not part of the hash",
}
FLOATS = [0.0001, 1e-05, 1.0, 32.0, 0.1, 1e16, 123456789.0, 2.5e-07, 0.3, 1 / 3, 1e-4 * 3, -0.05]


def values(k, shape):
    n = int(np.prod(shape)) if shape else 1
    i = np.arange(n, dtype=np.uint64)
    ints = ((i * np.uint64(2654435761) + np.uint64(97 * k)) % np.uint64(2001)).astype(np.int64) - 1000
    return (ints.astype(np.float32) / np.float32(1000)).reshape(shape)


def hashes(tensors, metadata):
    ss = {k: v for k, v in metadata.items() if k.startswith("ss_")}
    data = save(tensors, ss)
    b = io.BytesIO(data)
    n = int.from_bytes(b.read(8), "little")
    b.seek(n + 8)
    model = hashlib.sha256(b.read()).hexdigest()
    b.seek(0x100000)
    legacy = hashlib.sha256(b.read(0x10000)).hexdigest()[:8]
    return model, legacy, len(data)


def main():
    expected = {}
    for dtype_name, dtype in (("F16", np.float16), ("F32", np.float32), ("BF16", None)):
        if dtype is None:
            continue  # numpy has no bfloat16; F16 and F32 cover the serialization
        tensors = {name: values(k, shape).astype(dtype) for k, (name, shape) in enumerate(TENSORS)}
        model, legacy, size = hashes(tensors, METADATA)
        expected[dtype_name] = {"sshs_model_hash": model, "sshs_legacy_hash": legacy, "file_size": size}
    small = {TENSORS[0][0]: values(0, []).astype(np.float16)}
    model, legacy, size = hashes(small, METADATA)
    expected["small_F16"] = {"sshs_model_hash": model, "sshs_legacy_hash": legacy, "file_size": size}
    expected["py_str"] = [[f, str(f)] for f in FLOATS]
    with open(OUT, "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
