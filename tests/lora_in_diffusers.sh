#!/bin/sh
# lora_in_diffusers.sh — the committed proof that a LoRA loratty wrote loads in diffusers:
# tests/fixtures/lora-in-diffusers/result.json (written by tests/golden/check_lora_in_diffusers.py)
# must say diffusers consumed every key of the file (keys_loaded == keys_in_file > 0) and found
# none unexpected (unexpected_keys == []), and that the LoRA changed the UNet's output there.
# No Python: the JSON is read with grep/sed (the script writes it with json.dump, indent 2).
top=${top_srcdir:-.}
res="$top/tests/fixtures/lora-in-diffusers/result.json"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$res" ] || fail "no $res"
[ -f "$top/tests/fixtures/lora-in-diffusers/lora.safetensors" ] || fail "no lora.safetensors"
num() { sed -n "s/^ *\"$1\": *\\([0-9.eE+-]*\\),*\$/\\1/p" "$res"; }
in_file=$(num keys_in_file)
loaded=$(num keys_loaded)
[ -n "$in_file" ] && [ -n "$loaded" ] || fail "result.json lacks keys_in_file / keys_loaded"
[ "$in_file" -gt 0 ] || fail "keys_in_file is $in_file"
[ "$loaded" -eq "$in_file" ] || fail "diffusers loaded $loaded of $in_file keys"
grep -q '^ *"unexpected_keys": \[\],*$' "$res" || fail "unexpected_keys is not empty: $(grep -A5 unexpected_keys "$res")"
change=$(num unet_fixed_inputs_max_abs_change_scale0_vs_1)
[ -n "$change" ] || fail "no unet_fixed_inputs_max_abs_change_scale0_vs_1"
awk -v c="$change" 'BEGIN { exit !(c > 0) }' || fail "the LoRA did not change the UNet output ($change)"
echo "diffusers loaded $loaded/$in_file keys, none unexpected; UNet output change $change"
