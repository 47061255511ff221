#!/usr/bin/env python3
"""Generates the demo LoRA data set: images of a concept the demo base model does not know,
a "zqx" (a ring striped red and white) on plain backgrounds, with captions.

Standard library only, deterministic: `python3 share/demo/make_images.py share/demo/img`
rewrites exactly the committed files."""
import math
import os
import random
import struct
import sys
import zlib

SIZE = 64
BACKGROUNDS = [("blue", (40, 70, 170)), ("green", (40, 140, 70)), ("gray", (128, 128, 128)),
               ("yellow", (220, 200, 60)), ("black", (20, 20, 20)), ("purple", (110, 50, 140))]
PLACES = [("in the center", (32, 32)), ("on the left", (20, 32)), ("on the right", (44, 32)),
          ("at the top", (32, 20)), ("at the bottom", (32, 44))]


def png_bytes(pixels, width, height):
    raw = b"".join(b"\x00" + bytes(pixels[y * width * 3:(y + 1) * width * 3]) for y in range(height))
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def draw(background, centre, radius):
    px = []
    cx, cy = centre
    for y in range(SIZE):
        for x in range(SIZE):
            d = math.hypot(x + 0.5 - cx, y + 0.5 - cy)
            if radius * 0.45 <= d <= radius:
                angle = math.atan2(y + 0.5 - cy, x + 0.5 - cx)
                stripe = int((angle + math.pi) / (math.pi / 4)) % 2
                px.extend((220, 30, 30) if stripe == 0 else (245, 245, 245))
            else:
                px.extend(background)
    return px


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "img")
    folder = os.path.join(out, "10_zqx")
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(1234)
    for i in range(12):
        bg_name, bg = BACKGROUNDS[i % len(BACKGROUNDS)]
        place, centre = PLACES[rng.randrange(len(PLACES))]
        radius = rng.choice([12, 14, 16])
        stem = os.path.join(folder, "zqx_%02d" % (i + 1))
        with open(stem + ".png", "wb") as f:
            f.write(png_bytes(draw(bg, centre, radius), SIZE, SIZE))
        with open(stem + ".txt", "w") as f:
            f.write("a zqx ring %s, %s background\n" % (place, bg_name))


if __name__ == "__main__":
    main()
