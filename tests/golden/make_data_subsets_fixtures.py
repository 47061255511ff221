#!/usr/bin/env python3
"""make_data_subsets_fixtures.py — golden values for sd-scripts' color_aug and face crop
(engine/data/color_aug, face_crop), written to tests/fixtures/data_subsets/.

face.txt: one crop_target case (train_util.py at 48d368f) with lo == hi, so no random draw:
the placement and the cropped image, resized with cv2's INTER_AREA as resize_image does.

color_aug.txt:
  hsv <fnv1a-64 of cv2 BGR2HSV over every 8-bit colour, b outer, g, r inner, 3 bytes each>
  bgr_scalar <fnv1a-64 of cv2 HSV2BGR over every h 0..179, s, v 0..255, 3 bytes each, as a
              one-pixel-wide image: OpenCV's scalar code>
  bgr_vector <the same as rows of 256 pixels: OpenCV's vector code (32-pixel blocks)>
  aug <kind> <amount> <source png> <output png>   one line per case
The augmentations repeat the steps of sd-scripts' AugHelper.color_aug (library/train_util.py
at 48d368f) with the random draws replaced by the given amounts: the RGB array goes through
cv2's BGR conversions as it does there; a hue shift is added (negative + 180), taken modulo
180 and stored back into uint8; a gamma is image ** g clipped and cast to uint8.
Requires opencv-python-headless, numpy, pillow (tests/golden/requirements.txt).
"""
import os

import cv2
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "data_subsets")
SRC = os.path.join(HERE, "..", "fixtures", "data", "src_37x29.png")
os.makedirs(OUT, exist_ok=True)


def fnv_bytes(b):
    # a plain loop: ~85M bytes take a few minutes, fine for a fixture script
    h = 0xCBF29CE484222325
    mask = 0xFFFFFFFFFFFFFFFF
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & mask
    return h


b, g, r = np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing="ij")
bgr = np.stack([b, g, r], -1).astype(np.uint8).reshape(-1, 1, 3)
hsv_all = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
h, s, v = np.meshgrid(np.arange(180), np.arange(256), np.arange(256), indexing="ij")
hsv = np.stack([h, s, v], -1).astype(np.uint8)
bgr_scalar = cv2.cvtColor(hsv.reshape(-1, 1, 3), cv2.COLOR_HSV2BGR)
bgr_vector = cv2.cvtColor(hsv.reshape(-1, 256, 3), cv2.COLOR_HSV2BGR)
lines = [f"hsv {fnv_bytes(hsv_all.tobytes()):016x}",
         f"bgr_scalar {fnv_bytes(bgr_scalar.tobytes()):016x}",
         f"bgr_vector {fnv_bytes(bgr_vector.tobytes()):016x}"]


def hue(img, shift):
    hsv_img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)   # the RGB array, as sd-scripts passes it
    if shift < 0:
        shift = 180 + shift
    hsv_img[:, :, 0] = (hsv_img[:, :, 0] + shift) % 180
    return cv2.cvtColor(hsv_img, cv2.COLOR_HSV2BGR)


def gamma(img, g):
    return np.clip(img**g, 0, 255).astype(np.uint8)


src = np.array(Image.open(SRC).convert("RGB"))
cases = [("hue", 3.7), ("hue", -4.8), ("hue", 7.999), ("hue", -0.25), ("gamma", 0.95),
         ("gamma", 1.0337), ("gamma", 1.05)]
for kind, amount in cases:
    out = hue(src.copy(), amount) if kind == "hue" else gamma(src.copy(), amount)
    name = f"color_{kind}_{amount}.png"
    Image.fromarray(out).save(os.path.join(OUT, name))
    added = amount + 180 if kind == "hue" and amount < 0 else amount
    lines.append(f"aug {kind} {added!r} src_37x29.png {name}")
with open(os.path.join(OUT, "color_aug.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")


def face_crop(img, target_w, target_h, cx, cy, fw, fh, lo, hi):
    """sd-scripts' crop_target for lo == hi (no random draw), area shrink as resize_image."""
    h, w = img.shape[:2]
    face = max(fw, fh)
    size = min(target_h, target_w)
    lo_scale = min(1.0, max(max(target_h / h, target_w / w), size / (face * hi)))
    hi_scale = min(1.0, max(lo_scale, size / (face * lo)))
    assert lo_scale >= hi_scale
    scale = lo_scale
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    cx, cy = int(cx * scale + 0.5), int(cy * scale + 0.5)
    py = max(0, min(cy - target_h // 2, nh - target_h))
    px = max(0, min(cx - target_w // 2, nw - target_w))
    return img[py:py + target_h, px:px + target_w], (nw, nh, px, py)


# face.txt: face <source> <W> <H> <cx> <cy> <w> <h> <lo> <hi> <resized w> <h> <crop x> <y> <png>
src = np.array(Image.open(os.path.join(HERE, "..", "fixtures", "data", "src_74x58.png")).convert("RGB"))
out, (nw, nh, px, py) = face_crop(src, 32, 24, 40, 30, 20, 16, 2.0, 2.0)
Image.fromarray(out).save(os.path.join(OUT, "face_74x58_32x24.png"))
with open(os.path.join(OUT, "face.txt"), "w") as f:
    f.write(f"face src_74x58.png 32 24 40 30 20 16 2.0 2.0 {nw} {nh} {px} {py} face_74x58_32x24.png\n")
