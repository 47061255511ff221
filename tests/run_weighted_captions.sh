#!/bin/sh
# run_weighted_captions.sh — weighted_captions end to end: `loratty --run` of the tiny SD1
# checkpoint (tests/tiny_run_lib.sh), U-Net and text encoder LoRA, 4 steps:
#   1. captions without weight syntax: weighted_captions gives the very same LoRA as without it
#      (each piece tokenized alone changes nothing then); with "(zqx ring:1.6)"-style captions
#      it trains (exit 0, a LoRA) and the LoRA differs from the unweighted run's;
#   2. sample images with weighted prompts and negative prompts are drawn during the run;
#   3. --print-command exports weighted_captions = true to sd-scripts;
#   4. refusals: a caption weight that is no number stops the run naming the caption; SDXL
#      fine-tuning (sdxl_train.py) with cache_text_encoder_outputs is refused (exit 2) naming
#      weighted_captions.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-weighted.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/plain/2_zqx ring" 4
tiny_images "$tmp/weighted/2_zqx ring" 4
for f in "$tmp/weighted/2_zqx ring/"*.txt; do   # "a zqx ring at the top, blue background"
    sed -i -e 's/zqx ring/(zqx ring:1.6)/' -e 's/\([a-z]*\) background/[[\1]] background/' "$f"
done
grep -q '(zqx ring:1.6)' "$tmp/weighted/2_zqx ring/zqx_01.txt" || fail "captions not rewritten"

# preset NAME DATA [extra lines for [advanced]] [extra lines after [loratty]]
preset() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/$2"
output_name = "$1"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = 4
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
network_dim = 4
network_alpha = 2.0
text_encoder_lr = 0.0005
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true

[advanced]
$3

[loratty]
lr_warmup = 0
$4
EOF
}
run() {   # NAME: exit 0 expected
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out"; fail "run $1"; }
}

# --- 1. the same LoRA without weight syntax; another one with it ---------------------------
preset p plain
preset pw plain "weighted_captions = true"
preset u weighted
preset w weighted "weighted_captions = true" 'sample_prompts = """
a (zqx ring:1.3) in the center, ((blue)) background --n [blurry], (gray:0.7) --w 32 --h 32 --s 2 --d 3
a zqx ring --w 32 --h 32 --s 2 --l 1
"""

[samples]
sample_every_n_steps = 4'
for r in p pw u w; do run $r; done
"$files" same "$tmp/out/p.safetensors" "$tmp/out/pw.safetensors" ||
    fail "weighted_captions changed the LoRA of captions without weights"
"$files" same "$tmp/out/u.safetensors" "$tmp/out/w.safetensors" > /dev/null 2>&1 &&
    fail "weighted_captions did not change the LoRA of weighted captions"
echo "ok    weighted_captions: plain captions give the same LoRA, weighted ones another"

# --- 2. sample images with weighted prompts ------------------------------------------------
n=$(ls "$tmp"/out/sample/w_000004_0[01]_*.png 2>/dev/null | wc -l)
[ "$n" -eq 2 ] || { cat "$tmp/w.out"; ls "$tmp/out/sample"; fail "$n weighted sample images, want 2"; }
echo "ok    sample images of weighted prompts during training"

# --- 3. the sd-scripts export -----------------------------------------------------------------
"$prog" --print-command "$tmp/w.toml" > "$tmp/w.cmd" 2>&1 || { cat "$tmp/w.cmd"; fail "--print-command"; }
grep -q '^weighted_captions = true' "$tmp/w.cmd" || { cat "$tmp/w.cmd"; fail "weighted_captions not exported"; }
echo "ok    --print-command exports weighted_captions = true"

# --- 4. refusals ------------------------------------------------------------------------------
tiny_images "$tmp/bad/2_zqx ring" 2
echo "a (zqx ring:1.2.3) on a table" > "$tmp/bad/2_zqx ring/zqx_01.txt"
preset b bad "weighted_captions = true"
"$prog" --run "$tmp/b.toml" > "$tmp/b.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q '1\.2\.3' "$tmp/b.out" ||
    { cat "$tmp/b.out"; fail "a caption weight 1.2.3: exit $rc, want a failure naming it"; }
preset x plain "weighted_captions = true" 'training_mode = "finetune"'
sed -i -e 's/^output_name = "x"/&\nsdxl = true/' -e 's/^max_train_steps = 4/&\ncache_text_encoder_outputs = true/' \
    "$tmp/x.toml"
"$prog" --run "$tmp/x.toml" > "$tmp/x.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q 'weighted_captions' "$tmp/x.out" ||
    { cat "$tmp/x.out"; fail "SDXL fine-tuning with cached outputs: exit $rc, want 2 naming weighted_captions"; }
echo "ok    refused: a weight that is no number; SDXL fine-tuning with cache_text_encoder_outputs"
echo "all passed"
