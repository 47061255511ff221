#!/bin/sh
# run_base_weights.sh — base_weights / base_weights_multiplier with `loratty --run` on the tiny
# SD1 checkpoint (tests/tiny_run_lib.sh), 4 images:
#  1. a LoRA A is trained (4 steps);
#  2. merged at multiplier 0 the first step's loss is the plain run's, bit for bit; merged at
#     1 it is the loss of continuing from A (network_weights: A attached, not merged) to 1e-5,
#     and not the plain one; the log names the file and its modules;
#  3. --print-command writes base_weights and the multipliers as numbers for sd-scripts;
#  4. a missing file is refused (exit 2) naming it; a multiplier that is not a number names
#     base_weights_multiplier.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-base.XXXXXX")
trap '[ -n "$KEEP" ] || rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/data/1_zqx" 4

# run NAME STEPS [basic lines]: into out/NAME; exit status in $tmp/NAME.rc
run() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/data"
output_name = "$1"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = $2
resolution = "32,32"
enable_bucket = false
learning_rate = 0.002
unet_lr = 0.002
text_encoder_lr = 0.001
network_dim = 4
network_alpha = 4.0
seed = 9
caption_extension = ".txt"
cache_latents = true
$3

[loratty]
lr_warmup = 0
EOF
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    echo $? > "$tmp/$1.rc"
}
first_loss() { grep -h '"type":"progress"' "$tmp"/state/loratty/runs/*-"$1"/events.jsonl | head -1 |
    sed 's/.*"loss":\([^,]*\),.*/\1/'; }
ok_run() { [ "$(cat "$tmp/$1.rc")" = 0 ] || { cat "$tmp/$1.out"; fail "run $1"; }; }

# --- 1. A -------------------------------------------------------------------------------------
run a 4
ok_run a

# --- 2. merged at 0 and at 1 --------------------------------------------------------------------
run plain 1
ok_run plain
run zero 1 "base_weights = [\"$tmp/out/a.safetensors\"]
base_weights_multiplier = [0.0]"
ok_run zero
[ "$(first_loss zero)" = "$(first_loss plain)" ] || fail "multiplier 0: $(first_loss zero) vs $(first_loss plain)"
run one 1 "base_weights = [\"$tmp/out/a.safetensors\"]"
ok_run one
grep -q "merging $tmp/out/a.safetensors with multiplier 1: [0-9]* modules" "$tmp/one.out" ||
    { cat "$tmp/one.out"; fail "the log does not say what is merged"; }
run cont 1 "network_weights = \"$tmp/out/a.safetensors\""
ok_run cont
echo "first losses: plain $(first_loss plain), merged $(first_loss one), attached $(first_loss cont)"
[ "$(first_loss one)" != "$(first_loss plain)" ] || fail "merging A changed nothing"
awk -v a="$(first_loss one)" -v b="$(first_loss cont)" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 * b) }' ||
    fail "merged A's loss is not the attached A's"
echo "ok    merged at 0 = no merge; merged at 1 = A attached; the log names it"

# --- 3. the sd-scripts export -------------------------------------------------------------------
"$prog" --print-command "$tmp/one.toml" --set 'base_weights_multiplier=["0.5"]' > "$tmp/print" 2>&1 ||
    { cat "$tmp/print"; fail "--print-command"; }
grep -q "^base_weights = \\[ *\"$tmp/out/a.safetensors\" *\\]$" "$tmp/print" && grep -q '^base_weights_multiplier = \[ *0.5 *\]$' "$tmp/print" ||
    { grep base_weights "$tmp/print"; fail "the export of base_weights"; }
echo "ok    --print-command writes base_weights and numeric multipliers"

# --- 4. refusals ---------------------------------------------------------------------------------
run missing 1 "base_weights = [\"$tmp/out/nothing.safetensors\"]"
[ "$(cat "$tmp/missing.rc")" = 2 ] && grep -q "nothing.safetensors" "$tmp/missing.out" ||
    { cat "$tmp/missing.out"; fail "a missing base_weights file: exit $(cat "$tmp/missing.rc")"; }
run badmult 1 "base_weights = [\"$tmp/out/a.safetensors\"]
base_weights_multiplier = [\"half\"]"
[ "$(cat "$tmp/badmult.rc")" = 2 ] && grep -q "base_weights_multiplier" "$tmp/badmult.out" ||
    { cat "$tmp/badmult.out"; fail "a multiplier that is no number: exit $(cat "$tmp/badmult.rc")"; }
echo "ok    a missing file and a non-number multiplier are refused"
