#!/usr/bin/env python3
"""make_data_fixtures.py — golden images for loratty's training-image pipeline
(engine/data/image_load, image_resize), written to tests/fixtures/data/.

Everything is computed with the libraries sd-scripts uses (PIL for loading and lanczos/box,
OpenCV for area/bilinear/bicubic/nearest), following sd-scripts' library/utils.py resize_image
and library/train_util.py load_image / trim_and_resize_if_required. Inputs are small generated
images (fixed seed) at odd sizes; all outputs are lossless PNGs so the C side reads them back
exactly. Listing: manifest.txt, one case per line (see tests/test_resize.c).
"""
import os

import cv2
import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "data")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)


def make_rgb(w, h):
    """Smooth gradients plus noise plus a hard edge: exercises ringing and rounding."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1))
    g = (y * 255 // max(h - 1, 1))
    b = np.where((x + y) % 7 < 3, 230, 20)
    img = np.stack([r, g, b], axis=-1).astype(np.int32)
    img += rng.integers(-20, 21, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def save(name, arr):
    Image.fromarray(arr).save(os.path.join(OUT, name))


def resize_sdscripts(img, rw, rh, interp=None):
    """library/utils.py resize_image, for an RGB array."""
    h, w = img.shape[:2]
    if interp is None:
        interp = "area" if (w >= rw and h >= rh) else "lanczos"
    if interp in ("lanczos", "box"):
        f = Image.Resampling.LANCZOS if interp == "lanczos" else Image.Resampling.BOX
        return np.array(Image.fromarray(img).resize((rw, rh), resample=f))
    cvf = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
           "nearest": cv2.INTER_NEAREST_EXACT}[interp]
    return cv2.resize(img, (rw, rh), interpolation=cvf)


manifest = []
# resize cases: source size, target size, interpolation (auto = sd-scripts' default)
cases = [
    ((37, 29), (20, 15), "auto"),     # area, non-integer ratio
    ((37, 29), (16, 16), "auto"),     # area, different ratios per axis
    ((74, 58), (37, 29), "auto"),     # area, exact 2x (cv2's fast path)
    ((63, 45), (21, 15), "auto"),     # area, exact 3x
    ((37, 29), (61, 47), "auto"),     # lanczos upscale
    ((37, 29), (50, 20), "auto"),     # mixed: up in x, down in y -> lanczos
    ((53, 41), (31, 23), "lanczos"),  # lanczos downscale (forced)
    ((37, 29), (23, 40), "box"),
    ((37, 29), (23, 17), "bilinear"),
    ((37, 29), (55, 41), "bilinear"),
    ((37, 29), (23, 17), "bicubic"),
    ((37, 29), (55, 41), "bicubic"),
    ((37, 29), (23, 17), "nearest"),
    ((37, 29), (55, 41), "nearest"),
    ((37, 29), (55, 41), "area"),     # INTER_AREA enlarging: cv2 interpolates linearly
]
sources = {}
for (sw, sh), (rw, rh), interp in cases:
    if (sw, sh) not in sources:
        sources[(sw, sh)] = f"src_{sw}x{sh}.png"
        save(sources[(sw, sh)], make_rgb(sw, sh))
    src = np.array(Image.open(os.path.join(OUT, sources[(sw, sh)])).convert("RGB"))
    out = resize_sdscripts(src, rw, rh, None if interp == "auto" else interp)
    name = f"resize_{sw}x{sh}_{rw}x{rh}_{interp}.png"
    save(name, out)
    manifest.append(f"resize {sources[(sw, sh)]} {rw} {rh} {interp} {name}")

# trim_and_resize_if_required: bucket, resized size (as buckets_select gives it), center crop
trims = [((37, 29), (32, 24), (32, 25)), ((29, 37), (24, 32), (25, 32)), ((37, 29), (64, 48), (64, 50))]
for (sw, sh), (bw, bh), (rw, rh) in trims:
    if (sw, sh) not in sources:
        sources[(sw, sh)] = f"src_{sw}x{sh}.png"
        save(sources[(sw, sh)], make_rgb(sw, sh))
    src = np.array(Image.open(os.path.join(OUT, sources[(sw, sh)])).convert("RGB"))
    img = resize_sdscripts(src, rw, rh)
    if rw > bw:
        p = (rw - bw) // 2
        img = img[:, p:p + bw]
    if rh > bh:
        p = (rh - bh) // 2
        img = img[p:p + bh]
    name = f"trim_{sw}x{sh}_{bw}x{bh}.png"
    save(name, np.ascontiguousarray(img))
    manifest.append(f"trim {sources[(sw, sh)]} {bw} {bh} {rw} {rh} {name}")

# loading: what PIL's convert("RGB") makes of other modes (alpha dropped, not composited)
base = make_rgb(11, 7)
alpha = rng.integers(0, 256, size=(7, 11), dtype=np.uint8)
alpha[0, :] = 0
rgba = np.dstack([base, alpha])
Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "load_rgba.png"))
Image.fromarray(base[:, :, 0], "L").save(os.path.join(OUT, "load_gray.png"))
Image.fromarray(np.dstack([base[:, :, 1], alpha]), "LA").save(os.path.join(OUT, "load_la.png"))
pal = Image.fromarray(base).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
pal.info["transparency"] = 3
pal.save(os.path.join(OUT, "load_palette.png"), transparency=3)
Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "load_rgba.webp"), lossless=True)
Image.fromarray(base).save(os.path.join(OUT, "load_rgb.bmp"))
for src in ["load_rgba.png", "load_gray.png", "load_la.png", "load_palette.png", "load_rgba.webp",
            "load_rgb.bmp"]:
    with Image.open(os.path.join(OUT, src)) as im:
        arr = np.array(im.convert("RGB"), np.uint8)   # sd-scripts' load_image
    name = src.replace(".", "_") + "_rgb.png"
    save(name, arr)
    manifest.append(f"load {src} {name}")

# EXIF orientation: JPEGs with PIL-written EXIF, and what PIL's exif_transpose does to a
# lossless image carrying the same tag
orient_src = make_rgb(5, 3)
save("orient_src.png", orient_src)
for o in range(1, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    Image.fromarray(orient_src).save(os.path.join(OUT, f"orient_{o}.jpg"), quality=95, exif=exif.tobytes())
    tmp = os.path.join(OUT, "_tmp.png")
    Image.fromarray(orient_src).save(tmp, exif=exif.tobytes())
    with Image.open(tmp) as im:
        t = ImageOps.exif_transpose(im)
        save(f"orient_{o}_transposed.png", np.array(t.convert("RGB")))
    os.remove(tmp)
    manifest.append(f"orient {o} orient_{o}.jpg orient_{o}_transposed.png")

with open(os.path.join(OUT, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print(f"wrote {len(manifest)} cases to {OUT}")
