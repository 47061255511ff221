#!/usr/bin/env python3
"""make_masked_loss_fixtures.py — golden data for masked_loss's mask pipeline, written to
tests/fixtures/masked_loss/ (read by tests/test_loss_mask.c).

- rgba_37x29.png: a generated RGBA image (gradients, noise, an alpha ramp with fully
  transparent and fully opaque patches; transparent pixels keep non-black colours).
- rgba_37x29_<W>x<H>_<filter>.png: what sd-scripts' library/utils.py resize_image does to it
  with alpha_mask (load_image(path, alpha=True) gives RGBA): for lanczos / box, pil_resize,
  i.e. PIL's Image.resize on an RGBA image, which resizes premultiplied colours.
- area.txt: torch.nn.functional.interpolate(mode="area") of the alpha plane as
  apply_masked_loss sees it (a / 255 in f32) to two latent sizes: "H W h w" then h*w values.

Run by hand with /work/golden-venv/bin/python (torch, numpy, pillow).
"""
import os

import numpy as np
import torch
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "masked_loss")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(4321)

w, h = 37, 29
y, x = np.mgrid[0:h, 0:w]
rgb = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.where((x + y) % 5 < 2, 220, 30)], -1)
rgb = np.clip(rgb + rng.integers(-25, 26, size=rgb.shape), 0, 255)
alpha = np.clip((x - 6) * 255 // 20, 0, 255)          # transparent left, ramp, opaque right
alpha[20:26, 25:33] = 0                                  # a hole in the opaque part
alpha[3:7, 1:5] = 255                                    # an opaque patch in the transparent part
rgba = np.concatenate([rgb, alpha[..., None]], -1).astype(np.uint8)
Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "rgba_37x29.png"))
src = np.array(Image.open(os.path.join(OUT, "rgba_37x29.png")).convert("RGBA"))

for (rw, rh), name, f in [((61, 47), "lanczos", Image.Resampling.LANCZOS),
                          ((23, 40), "box", Image.Resampling.BOX)]:
    out = np.array(Image.fromarray(src, "RGBA").resize((rw, rh), resample=f))
    Image.fromarray(out, "RGBA").save(os.path.join(OUT, f"rgba_37x29_{rw}x{rh}_{name}.png"))

lines = []
mask = torch.from_numpy(src[:, :, 3].astype(np.float32) / 255.0)[None, None]
for lh, lw in [(5, 7), (29 // 8, 37 // 8)]:
    small = torch.nn.functional.interpolate(mask, size=(lh, lw), mode="area")[0, 0]
    lines.append(f"{h} {w} {lh} {lw}")
    lines.append(" ".join(f"{v:.9g}" for v in small.flatten().tolist()))
with open(os.path.join(OUT, "area.txt"), "w") as fh:
    fh.write("\n".join(lines) + "\n")
