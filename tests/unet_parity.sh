#!/bin/sh
# unet_parity.sh — runs tests/test_unet_parity on the built-in configs and on every committed
# U-Net fixture (tests/fixtures/unet-*), made by tests/golden/make_unet_fixtures.py.
set -e
srcdir=${top_srcdir:-.}
./tests/test_unet_parity
found=0
for dir in "$srcdir"/tests/fixtures/unet-*/; do
    [ -f "$dir/config.json" ] || continue
    found=1
    ./tests/test_unet_parity "${dir%/}"
done
[ "$found" = 1 ] || { echo "no U-Net fixtures under $srcdir/tests/fixtures" >&2; exit 1; }
