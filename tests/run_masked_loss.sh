#!/bin/sh
# run_masked_loss.sh — masked_loss with `loratty --run` on the tiny SD1 checkpoint
# (tests/tiny_run_lib.sh) and four 64x64 demo images trained at 32x32 from a dataset config,
# batch 2, gradient accumulation 2, 4 steps; images from tests/masked_loss_images:
#  1. conditioning_data_dir: all-white masks train exactly the unmasked LoRA; masks with a
#     black half train another one; grey masks (R 127, G/B white) another again; with
#     buckets (2:1 images centre-cropped into 64x64), masks and alpha channels black only
#     where the crop cuts train exactly the unmasked LoRA, a black half in view does not;
#  2. alpha_mask: fully opaque RGBA copies train exactly the unmasked LoRA; a transparent half
#     trains another; the command line's alpha_mask without masked_loss masks the same way
#     (as sd-scripts);
#  3. cache_latents off, on (memory) and to disk (written, then read) train the same LoRA,
#     with flip_aug, for conditioning masks and alpha masks; switching alpha_mask re-encodes
#     the disk cache;
#  4. 2 steps + save_state, resumed to 4, equals 4 steps straight (half masks, flip_aug);
#  5. refusals (exit 2, naming the key or file): masked_loss without any mask source, a
#     training image without a mask, conditioning_data_dir without masked_loss.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
images=${top_builddir:-.}/tests/masked_loss_images
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-masked.XXXXXX")
trap '[ -n "$KEEP" ] || rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img" 4
mkdir -p "$tmp/white" "$tmp/half" "$tmp/grey" "$tmp/opaque" "$tmp/cut" "$tmp/out"
for f in "$tmp"/img/*.png; do
    b=$(basename "$f")
    "$images" mask "$f" "$tmp/white/$b" white &&
        "$images" mask "$f" "$tmp/half/$b" left &&
        "$images" mask "$f" "$tmp/grey/$b" grey &&
        "$images" alpha "$f" "$tmp/opaque/$b" opaque &&
        "$images" alpha "$f" "$tmp/cut/$b" left || fail "writing the test images"
    cp "${f%.png}.txt" "$tmp/opaque/" && cp "${f%.png}.txt" "$tmp/cut/"
done

# dataset NAME IMAGE_DIR [subset lines] [dataset lines]
dataset() {
    cat > "$tmp/$1.dataset.toml" <<EOF
[[datasets]]
batch_size = 2
${4:-resolution = 32
enable_bucket = false}
  [[datasets.subsets]]
  image_dir = "$2"
  num_repeats = 2
  caption_extension = ".txt"
$3
EOF
}

# run NAME DATASET [advanced lines] [basic lines]: trains 4 steps (or STEPS) into out/NAME
run() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
dataset_config = "$tmp/$2.dataset.toml"
output_name = "$1"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = ${STEPS:-4}
resolution = "32,32"
learning_rate = 0.001
unet_lr = 0.001
network_dim = 4
network_alpha = 2.0
text_encoder_lr = 0.0005
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 11
${4:-cache_latents = true}

[advanced]
gradient_accumulation_steps = 2
$3

[loratty]
lr_warmup = 0
EOF
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out"; fail "run $1"; }
}
same() { "$files" same "$tmp/out/$1.safetensors" "$tmp/out/$2.safetensors" > /dev/null || fail "$3"; }
differ() { ! "$files" same "$tmp/out/$1.safetensors" "$tmp/out/$2.safetensors" > /dev/null || fail "$3"; }

# --- 1. conditioning_data_dir -------------------------------------------------------------
dataset plain "$tmp/img"
run plain plain
dataset white "$tmp/img" "  conditioning_data_dir = \"$tmp/white\""
run white white "masked_loss = true"
"$prog" --check "$tmp/white.toml" > "$tmp/white.check" 2>&1 || { cat "$tmp/white.check"; fail "--check"; }
grep -q "conditioning_data_dir=\"$tmp/white\"" "$tmp/white.check" ||
    { cat "$tmp/white.check"; fail "the plan does not show the masks"; }
same plain white "white masks changed the LoRA"
# sd-scripts' ControlNetDataset keeps subsets, tags and buckets in a delegate: its metadata
"$files" meta "$tmp/out/white.safetensors" ss_dataset_dirs='{}' ss_tag_frequency='{}' \
    ss_datasets='[{"is_dreambooth": false, "batch_size_per_device": 2, "num_train_images": 8, "num_reg_images": 0, "resolution": [32, 32], "enable_bucket": false, "min_bucket_reso": null, "max_bucket_reso": null, "tag_frequency": {}, "bucket_info": null, "resize_interpolation": null, "subsets": []}]' ||
    fail "the metadata of a dataset with conditioning_data_dir"
dataset half "$tmp/img" "  conditioning_data_dir = \"$tmp/half\""
run half half "masked_loss = true"
differ plain half "half masks trained the unmasked LoRA"
dataset grey "$tmp/img" "  conditioning_data_dir = \"$tmp/grey\""
run grey grey "masked_loss = true"
differ plain grey "grey masks trained the unmasked LoRA"
differ half grey "grey masks trained the half masks' LoRA"
echo "ok    conditioning_data_dir: white = unmasked, half and grey masks differ"

# --- 1b. buckets: 128x64 images in the 64x64 bucket are centre-cropped to their middle half;
# masks black outside it train the unmasked LoRA exactly (a mask stretched to the bucket, as
# sd-scripts before its PR #2368, would not), a mask with a black half in view does not
bucket="resolution = 64
enable_bucket = true
bucket_no_upscale = false
min_bucket_reso = 64
max_bucket_reso = 128
bucket_reso_steps = 64"
mkdir -p "$tmp/wide" "$tmp/widemask" "$tmp/widehalf" "$tmp/widecut"
for f in "$tmp"/img/*.png; do
    b=$(basename "$f")
    "$images" tile "$f" "$tmp/wide/$b" &&
        "$images" mask "$tmp/wide/$b" "$tmp/widemask/$b" center &&
        "$images" mask "$tmp/wide/$b" "$tmp/widehalf/$b" left &&
        "$images" alpha "$tmp/wide/$b" "$tmp/widecut/$b" center || fail "writing the wide images"
    cp "${f%.png}.txt" "$tmp/wide/" && cp "${f%.png}.txt" "$tmp/widecut/"
done
dataset wplain "$tmp/wide" "" "$bucket"
run wplain wplain
dataset wmask "$tmp/wide" "  conditioning_data_dir = \"$tmp/widemask\"" "$bucket"
run wmask wmask "masked_loss = true"
same wplain wmask "buckets: a mask white where the crop looks changed the LoRA"
dataset whalf "$tmp/wide" "  conditioning_data_dir = \"$tmp/widehalf\"" "$bucket"
run whalf whalf "masked_loss = true"
differ wplain whalf "buckets: a mask with a black half in view trained the unmasked LoRA"
dataset wcut "$tmp/widecut" "  alpha_mask = true" "$bucket"
run wcut wcut "masked_loss = true"
same wplain wcut "buckets: an alpha mask opaque where the crop looks changed the LoRA"
echo "ok    buckets: the masks are cropped like their images"

# --- 2. alpha_mask ------------------------------------------------------------------------
dataset opaque "$tmp/opaque" "  alpha_mask = true"
run opaque opaque "masked_loss = true"
same plain opaque "opaque alpha masks changed the LoRA"
dataset cut "$tmp/cut" "  alpha_mask = true"
run cut cut "masked_loss = true"
differ plain cut "a transparent half trained the unmasked LoRA"
dataset cutcli "$tmp/cut"
run cutcli cutcli "alpha_mask = true"
same cut cutcli "the command line's alpha_mask without masked_loss masks differently"
"$prog" --check "$tmp/cutcli.toml" > "$tmp/cutcli.check" 2>&1
grep -q "alpha_mask masks the loss even without masked_loss" "$tmp/cutcli.check" ||
    { cat "$tmp/cutcli.check"; fail "no note that alpha_mask masks without masked_loss"; }
run cutoff cutcli ""
differ cut cutoff "alpha_mask off trained the masked LoRA"
echo "ok    alpha_mask: opaque = unmasked, a transparent half differs, the command line's alike"

# --- 3. latent caching, with flip_aug -----------------------------------------------------
for kind in half cut; do
    [ "$kind" = half ] && extra="  conditioning_data_dir = \"$tmp/half\"" src_dir=$tmp/img
    [ "$kind" = cut ] && extra="  alpha_mask = true" src_dir=$tmp/cut
    dataset "f$kind" "$src_dir" "$extra
  flip_aug = true"
    run "f${kind}_mem" "f$kind" "masked_loss = true"
    differ "$kind" "f${kind}_mem" "$kind: flip_aug changed nothing"
    run "f${kind}_none" "f$kind" "masked_loss = true" "cache_latents = false"
    same "f${kind}_mem" "f${kind}_none" "$kind: cache_latents on and off differ"
    run "f${kind}_disk" "f$kind" "masked_loss = true" "cache_latents_to_disk = true"
    ls "$src_dir"/*_32x32.loratty-latents > /dev/null 2>&1 || fail "$kind: no latent cache files"
    same "f${kind}_mem" "f${kind}_disk" "$kind: the disk cache (written) differs"
    run "f${kind}_disk" "f$kind" "masked_loss = true" "cache_latents_to_disk = true"
    same "f${kind}_mem" "f${kind}_disk" "$kind: the disk cache (read) differs"
done
# alpha_mask switched off over the same cache files: re-encoded from the composited colours
dataset fcutoff "$tmp/cut" "  flip_aug = true"
run fcutoff_disk fcutoff "" "cache_latents_to_disk = true"
run fcutoff_mem fcutoff "" "cache_latents = true"
same fcutoff_mem fcutoff_disk "alpha_mask off: the disk cache kept the alpha_mask latents"
run fcut_disk fcut "masked_loss = true" "cache_latents_to_disk = true"
same fcut_mem fcut_disk "alpha_mask on again: the disk cache kept the plain latents"
echo "ok    cache_latents off / memory / disk agree with masks and flip_aug; alpha_mask re-encodes"

# --- 4. resume ------------------------------------------------------------------------------
STEPS=2
run res fhalf "masked_loss = true
save_state_on_train_end = true"
STEPS=4
run res fhalf "masked_loss = true
resume = \"$tmp/out/res-state\""
grep -q "resumed from" "$tmp/res.out" || { cat "$tmp/res.out"; fail "not resumed"; }
same fhalf_mem res "masks: 2 steps + resume differs from 4 steps"
echo "ok    resume is bit-exact with masks"

# --- 5. refusals --------------------------------------------------------------------------
refuse() {   # NAME DATASET ADVANCED WORD
    cat "$tmp/plain.toml" | sed -e "s|$tmp/plain.dataset.toml|$tmp/$2.dataset.toml|" \
        -e "s|^\[advanced\]|[advanced]\n$3|" > "$tmp/$1.toml"
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || { cat "$tmp/$1.out"; fail "$1: exit $rc, want 2"; }
    grep -q "$4" "$tmp/$1.out" || { cat "$tmp/$1.out"; fail "$1: the message does not name $4"; }
}
refuse nosource plain "masked_loss = true" "masked_loss"
mkdir -p "$tmp/few"
cp "$tmp"/white/zqx_0[123].png "$tmp/few/"
dataset few "$tmp/img" "  conditioning_data_dir = \"$tmp/few\""
refuse missing few "masked_loss = true" "zqx_04.png"
refuse unmasked white "" "masked_loss"
echo "ok    refusals"
echo "all passed"
