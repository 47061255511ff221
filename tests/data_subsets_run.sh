#!/bin/sh
# data_subsets_run.sh — `loratty --run` on the tiny SD1 checkpoint from an sd-scripts dataset
# config (dataset_config) with two datasets of their own resolution and batch size: a
# DreamBooth subset with color_aug, flip_aug and its own caption settings, and a fine-tuning
# subset from a metadata file; 2 steps, exit 0, the LoRA saved with ss_num_train_images the
# datasets' sum (2 images x 3 repeats + 2 x 1) and the metadata of sd-scripts' dataset config
# branch (ss_datasets, merged ss_dataset_dirs / ss_tag_frequency, no legacy keys such as
# ss_resolution). The same config with cache_latents is refused before training, naming
# color_aug.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-subsets.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/db" 2
tiny_images "$tmp/ft" 2
mkdir -p "$tmp/out"
cat > "$tmp/ft/meta_cap.json" <<EOF2
{"zqx_01.png": {"caption": "a zqx ring", "tags": "gold, shiny"},
 "zqx_02": {"caption": "another zqx ring"}}
EOF2
cat > "$tmp/dataset.toml" <<EOF2
[general]
shuffle_caption = true
caption_extension = ".txt"

[[datasets]]
resolution = 32
batch_size = 2
enable_bucket = false
  [[datasets.subsets]]
  image_dir = "$tmp/db"
  num_repeats = 3
  class_tokens = "zqx ring"
  color_aug = true
  flip_aug = true
  keep_tokens = 1

[[datasets]]
resolution = 64
batch_size = 1
enable_bucket = false
  [[datasets.subsets]]
  metadata_file = "$tmp/ft/meta_cap.json"
  image_dir = "$tmp/ft"
EOF2
cat > "$tmp/run.toml" <<EOF2
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
dataset_config = "$tmp/dataset.toml"
output_name = "subsets"

[folders]
output_dir = "$tmp/out"

[basic]
max_train_steps = 2
learning_rate = 0.001
network_dim = 4
network_alpha = 2.0
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 3
cache_latents = false

[loratty]
lr_warmup = 0
EOF2

"$prog" --check "$tmp/run.toml" > "$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "--check"; }
grep -q "Dataset 2: resolution 64x64, batch size 1, no buckets" "$tmp/check.out" ||
    { cat "$tmp/check.out"; fail "--check does not show dataset 2"; }
grep -q "flip_aug, color_aug, shuffle_caption, keep_tokens=1" "$tmp/check.out" ||
    { cat "$tmp/check.out"; fail "--check does not show the subset's options"; }
! grep -q "dataset_config" "$tmp/check.out" || { cat "$tmp/check.out"; fail "dataset_config listed as unsupported"; }

"$prog" --run "$tmp/run.toml" > "$tmp/run.out" 2>&1 || { cat "$tmp/run.out"; fail "--run exited $?"; }
[ -f "$tmp/out/subsets.safetensors" ] || { cat "$tmp/run.out"; fail "no LoRA saved"; }
# train_network.py's `if use_user_config:` metadata, worked out by hand: no buckets (bucket
# info and min/max None), no resize_interpolation anywhere (None), keep_tokens_separator the
# command line's "", tags split on "," from the captions (db) and the metadata's tags (ft)
db_subset='{"img_count": 2, "num_repeats": 3, "color_aug": true, "flip_aug": true, "random_crop": false, "shuffle_caption": true, "keep_tokens": 1, "keep_tokens_separator": "", "secondary_separator": null, "enable_wildcard": false, "caption_prefix": null, "caption_suffix": null, "resize_interpolation": null, "image_dir": "db", "class_tokens": "zqx ring", "is_reg": false}'
ft_subset='{"img_count": 2, "num_repeats": 1, "color_aug": false, "flip_aug": false, "random_crop": false, "shuffle_caption": true, "keep_tokens": 0, "keep_tokens_separator": "", "secondary_separator": null, "enable_wildcard": false, "caption_prefix": null, "caption_suffix": null, "resize_interpolation": null, "image_dir": "ft", "metadata_file": "meta_cap.json"}'
db_tags='"db": {"a zqx ring at the top": 1, "blue background": 1, "a zqx ring in the center": 1, "green background": 1}'
ft_tags='"meta_cap.json": {"gold": 1, "shiny": 1}'
no_buckets='"enable_bucket": false, "min_bucket_reso": null, "max_bucket_reso": null'
datasets="[{\"is_dreambooth\": true, \"batch_size_per_device\": 2, \"num_train_images\": 6, \"num_reg_images\": 0, \"resolution\": [32, 32], $no_buckets, \"tag_frequency\": {$db_tags}, \"bucket_info\": null, \"resize_interpolation\": null, \"subsets\": [$db_subset]}, {\"is_dreambooth\": false, \"batch_size_per_device\": 1, \"num_train_images\": 2, \"num_reg_images\": 0, \"resolution\": [64, 64], $no_buckets, \"tag_frequency\": {$ft_tags}, \"bucket_info\": null, \"resize_interpolation\": null, \"subsets\": [$ft_subset]}]"
"$files" meta "$tmp/out/subsets.safetensors" ss_num_train_images=8 ss_datasets="$datasets" \
    ss_tag_frequency="{$db_tags, $ft_tags}" \
    ss_dataset_dirs='{"db": {"n_repeats": 3, "img_count": 2}, "meta_cap.json": {"n_repeats": 1, "img_count": 2}}' \
    '!ss_batch_size_per_device' '!ss_total_batch_size' '!ss_resolution' '!ss_color_aug' \
    '!ss_flip_aug' '!ss_random_crop' '!ss_shuffle_caption' '!ss_enable_bucket' \
    '!ss_bucket_no_upscale' '!ss_min_bucket_reso' '!ss_max_bucket_reso' '!ss_keep_tokens' \
    '!ss_reg_dataset_dirs' '!ss_bucket_info' || fail "dataset config metadata"

sed -i 's/^cache_latents = false/cache_latents = true/' "$tmp/run.toml"
"$prog" --run "$tmp/run.toml" > "$tmp/cache.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "color_aug with cache_latents ran"
grep -q "color_aug" "$tmp/cache.out" || { cat "$tmp/cache.out"; fail "the refusal does not name color_aug"; }
echo "all passed"
