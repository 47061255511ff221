#!/usr/bin/env python3
"""check_torch_save.py — torch.load reads what loratty's torch_save writes (save_model_as ckpt /
pt, engine/lora/torch_save.c).

Runs `tests/test_torch_save write tests/fixtures/torch-save/tensors.pt` (BUILD_DIR/tests, or
$TEST_TORCH_SAVE), loads the file with torch.load(weights_only=True) and again with mmap=True,
and compares every tensor with the values the C test writes (value(k, i) =
((i % 17) - 8) * 0.25 + k; dtypes f32, f32 0-dim, f16, bf16, f16). Writes
tests/fixtures/torch-save/result.json, which tests/test_torch_save checks along with the
file's bytes. For the reader (engine/torch_load.c) it also writes torch_written.pt (the same
tensors by torch.save itself), whole.ckpt (a checkpoint dict of dicts) and evil.pt (a pickle
calling os.system, never loaded here). Run:
/work/golden-venv/bin/python tests/golden/check_torch_save.py [BUILD_DIR]
"""
import collections
import json
import os
import pickle
import subprocess
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "torch-save")


def value(k, n):
    return torch.tensor([((i % 17) - 8) * 0.25 + k for i in range(n)], dtype=torch.float32)


EXPECTED = {
    "lora_unet_a.lora_down.weight": (value(0, 6).reshape(2, 3), torch.float32),
    "lora_unet_a.alpha": (torch.tensor(4.0), torch.float32),
    "lora_unet_b.lora_up.weight": (value(1, 36).reshape(2, 2, 3, 3), torch.float16),
    "lora_te_c.weight": (value(2, 5), torch.bfloat16),
    "lora_te_d.weight": (value(3, 320).reshape(16, 20), torch.float16),
}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "."
    tool = os.environ.get("TEST_TORCH_SAVE", os.path.join(build, "tests", "test_torch_save"))
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "tensors.pt")
    subprocess.run([tool, "write", path], check=True)
    result = {"torch": torch.__version__, "tensors": 0, "max_abs_diff": 0.0}
    for mode, kw in (("weights_only_ok", {}), ("mmap_ok", {"mmap": True})):
        sd = torch.load(path, weights_only=True, **kw)
        ok = type(sd).__name__ == "OrderedDict" and list(sd) == list(EXPECTED)
        for name, (want, dtype) in EXPECTED.items():
            got = sd[name]
            ok = ok and got.dtype == dtype and tuple(got.shape) == tuple(want.shape) and got.is_contiguous()
            diff = (got.float() - want).abs().max().item() if got.numel() else 0.0
            result["max_abs_diff"] = max(result["max_abs_diff"], diff)
        result[mode] = bool(ok)
        result["tensors"] = len(sd)
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(result)
    # for loratty's reader (engine/torch_load.c): the same tensors as torch.save writes them
    # (memo opcodes, the archive named after the file, its extra records), a whole checkpoint
    # (a dict of dicts, refused) and a pickle that calls os.system (refused, never run)
    torch.save(collections.OrderedDict((k, w.to(dt)) for k, (w, dt) in EXPECTED.items()),
               os.path.join(OUT, "torch_written.pt"))
    torch.save({"state_dict": {"a": torch.zeros(2)}, "epoch": 1}, os.path.join(OUT, "whole.ckpt"))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with zipfile.ZipFile(os.path.join(OUT, "evil.pt"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", pickle.dumps({"a": Evil()}, protocol=2))
        z.writestr("evil/version", "3\n")


if __name__ == "__main__":
    main()
