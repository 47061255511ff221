#!/bin/sh
# run_headless_sdxl.sh — `loratty --run` end to end on the tiny SDXL checkpoint
# (tests/fixtures/checkpoint-sdxl: U-Net and both text encoders in LDM / OpenCLIP layout, no
# VAE), with the configs of the model fixtures laid out beside it as a diffusers folder
# (unet-sdxl, clip-sd1 as TE1, clip-sdxl-te2 as TE2, vae-sd, the tokenizer of pipeline-sd1) and
# the tiny VAE given separately (vae = vae-sd's weights). Four 64x64 demo images trained at
# 32x32, U-Net only, 4 steps:
#   exit 0; a LoRA with lora_unet_input_blocks_… (LDM-style) keys and no text encoder keys;
#   ss_base_model_version sdxl_base_v1-0, modelspec.architecture stable-diffusion-xl-v1-base/lora;
#   logging_dir: a TensorBoard event file under <logging_dir>/<time>/network_train whose
#   TFRecords frame and checksum correctly and hold sd-scripts' step and epoch tags.
# cache_text_encoder_outputs trains the same LoRA and is refused with a training text encoder
# or shuffle_caption.
# Text encoder LoRA training on SDXL as sdxl_train_network.py does it, without warnings: a
# 3-step run with text_encoder_lr writes lora_te1_ (CLIP-L) and lora_te2_ (OpenCLIP bigG)
# modules with exactly sd-scripts' names whose lora_up weights moved from zero (TE1's last
# layer excepted: hidden_states[-2] never uses it) beside the U-Net's;
# network_train_text_encoder_only gives the text encoder modules alone;
# stop_text_encoder_training = 50 of 6 steps leaves both encoders' tensors exactly as the
# 3-step run has them while the U-Net's go on.
# Fine-tuning (training_mode finetune with train_text_encoder, as sdxl_train.py
# --train_text_encoder): both encoders train, each at text_encoder_lr; stop_text_encoder_training
# = 50 of 4 steps leaves both exactly as a 2-step run has them while the U-Net goes on.
# And on the tiny SD1 checkpoint (text encoder training): stop_text_encoder_training = 50 of 6
# steps leaves the lora_te_ tensors exactly as a 3-step run has them, the U-Net's go on.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
check=${top_builddir:-.}/tests/test_train_run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-sdxl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
fx="$src/tests/fixtures"

mkdir -p "$tmp/model/unet" "$tmp/model/text_encoder" "$tmp/model/text_encoder_2" "$tmp/model/vae" \
    "$tmp/img/2_zqx ring" "$tmp/out"
cp "$fx/checkpoint-sdxl/model.safetensors" "$tmp/model/"
cp "$fx/unet-sdxl/config.json" "$tmp/model/unet/"
cp "$fx/clip-sd1/config.json" "$tmp/model/text_encoder/"
cp "$fx/clip-sdxl-te2/config.json" "$tmp/model/text_encoder_2/"
cp "$fx/vae-sd/config.json" "$tmp/model/vae/"
cp -R "$fx/pipeline-sd1/tokenizer" "$fx/pipeline-sd1/scheduler" "$tmp/model/"
. "$src/tests/tiny_run_lib.sh"
tiny_images "$tmp/img/2_zqx ring" 4

# preset NAME STEPS [extra TOML lines for [basic]] [extra lines for [folders]]
preset() {
    cat > "$tmp/$1.toml" <<EOT
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "$1"
sdxl = true

[folders]
output_dir = "$tmp/out"
$4

[basic]
train_batch_size = 2
max_train_steps = $2
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
network_dim = 4
network_alpha = 2.0
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true
$3

[advanced]
vae = "$fx/vae-sd/weights.safetensors"

[loratty]
lr_warmup = 0
EOT
}

preset x 4 "network_train_unet_only = true" "logging_dir = \"$tmp/logs\""
"$prog" --run "$tmp/x.toml" > "$tmp/x.out" 2>&1
rc=$?
cat "$tmp/x.out"
[ "$rc" -eq 0 ] || fail "SDXL run exited $rc"
[ -f "$tmp/out/x.safetensors" ] || fail "no LoRA file"
grep -q "step 4/4" "$tmp/x.out" || fail "no progress line for step 4/4"
"$prog" --inspect "$tmp/out/x.safetensors" > "$tmp/inspect" 2>&1 || fail "--inspect"
grep -q "lora_unet_input_blocks_" "$tmp/inspect" || { cat "$tmp/inspect"; fail "no lora_unet_input_blocks_ keys"; }
grep -q "lora_unet_output_blocks_" "$tmp/inspect" || fail "no lora_unet_output_blocks_ keys"
grep -q "lora_unet_down_blocks_" "$tmp/inspect" && fail "diffusers-style keys in an SDXL LoRA"
grep -q "lora_te" "$tmp/inspect" && fail "text encoder keys in a U-Net-only LoRA"
"$files" meta "$tmp/out/x.safetensors" ss_base_model_version=sdxl_base_v1-0 \
    modelspec.architecture=stable-diffusion-xl-v1-base/lora ss_network_dim=4 ss_steps=4 \
    ss_output_name=x || fail "SDXL metadata"
ev=$(ls "$tmp"/logs/*/network_train/events.out.tfevents.* 2>/dev/null)
[ -n "$ev" ] || { find "$tmp/logs"; fail "no TensorBoard event file"; }
"$check" tfevents "$ev" || fail "TensorBoard event file"

# cache_text_encoder_outputs: the same LoRA (a frozen encoder's output is computed once per
# caption anyway); refused, naming the key, with the encoders training or shuffled captions
preset xc 4 "network_train_unet_only = true
cache_text_encoder_outputs = true"
"$prog" --run "$tmp/xc.toml" > "$tmp/xc.out" 2>&1 || { cat "$tmp/xc.out"; fail "run with cache_text_encoder_outputs"; }
"$files" same "$tmp/out/x.safetensors" "$tmp/out/xc.safetensors" || fail "cache_text_encoder_outputs changed the LoRA"
for r in "xce:cache_text_encoder_outputs:text_encoder_lr = 0.001" \
         "xcs:shuffle_caption:network_train_unet_only = true
shuffle_caption = true"; do
    name=${r%%:*} rest=${r#*:}
    key=${rest%%:*}
    preset "$name" 1 "cache_text_encoder_outputs = true
${rest#*:}"
    "$prog" --run "$tmp/$name.toml" > "$tmp/$name.out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] && grep -q "$key" "$tmp/$name.out" ||
        { cat "$tmp/$name.out"; fail "cache_text_encoder_outputs with $key: exit $rc, want 2 naming $key"; }
done
echo "ok    cache_text_encoder_outputs: the same LoRA; refused with a training encoder or shuffle_caption"

# validation_split on SDXL with both text encoders training (2 of 4 images held out, 2 steps an
# epoch): finite losses at steps 2 and 4 and both epoch ends; the step validations leave the
# training as it is
preset xv 4 "text_encoder_lr = 0.0005"
"$prog" --run "$tmp/xv.toml" --set validation_split=0.5 --set validate_every_n_steps=2 > "$tmp/xv.out" 2>&1 ||
    { cat "$tmp/xv.out"; fail "SDXL run with validation"; }
"$prog" --run "$tmp/xv.toml" --set validation_split=0.5 --set output_name=xv0 > "$tmp/xv0.out" 2>&1 ||
    { cat "$tmp/xv0.out"; fail "SDXL run with epoch validation only"; }
got=$(cat "$tmp"/state/loratty/runs/*-xv/events.jsonl | grep '"type":"validation"' |
    sed 's/.*"step":\([0-9]*\),"epoch":[0-9]*,"kind":"\([a-z]*\)","loss":\([0-9.e-]*\),.*/\2@\1:\3/' | tr '\n' ' ')
echo "$got" | grep -Eq '^step@2:[0-9]+\.[0-9]+ epoch@2:[0-9]+\.[0-9]+ step@4:[0-9]+\.[0-9]+ epoch@4:[0-9]+\.[0-9]+ $' ||
    { cat "$tmp/xv.out"; fail "SDXL validations: $got"; }
"$files" same "$tmp/out/xv.safetensors" "$tmp/out/xv0.safetensors" > /dev/null || fail "SDXL step validations changed the LoRA"
echo "ok    SDXL validation with the text encoders training: $got"

# --- SDXL text encoder LoRA training --------------------------------------------------------
te_check=${top_builddir:-.}/tests/test_train_run_sdxl
preset y 3 "text_encoder_lr = 0.001"
preset y6 6 "text_encoder_lr = 0.001"
echo "stop_text_encoder_training = 50" >> "$tmp/y6.toml"   # the last section is [loratty]
preset z 2 "network_train_text_encoder_only = true"
for r in y y6 z; do
    "$prog" --run "$tmp/$r.toml" > "$tmp/$r.out" 2>&1 || { cat "$tmp/$r.out"; fail "SDXL run $r with TE training"; }
    grep -qi "warning" "$tmp/$r.out" && { cat "$tmp/$r.out"; fail "a warning in SDXL run $r"; }
done
"$te_check" te-keys "$tmp/out/y.safetensors" 5 1 || fail "SDXL text encoder LoRA keys"
"$te_check" te-keys "$tmp/out/z.safetensors" 5 0 || fail "SDXL text-encoder-only LoRA keys"
grep -q "text encoder training stops at step 3" "$tmp/y6.out" || { cat "$tmp/y6.out"; fail "no SDXL TE stop message"; }
"$check" te-frozen "$tmp/out/y.safetensors" "$tmp/out/y6.safetensors" || fail "SDXL TE weights changed after the stop"

# --- SDXL fine-tuning with both text encoders ------------------------------------------------
diff=${top_builddir:-.}/tests/model_diff
for r in fu ft ft4; do
    steps=2
    [ "$r" = ft4 ] && steps=4
    te_lines="train_text_encoder = true
text_encoder_lr = 0.0005"
    [ "$r" = fu ] && te_lines=""
    preset "$r" "$steps" "$te_lines"
    echo 'training_mode = "finetune"' >> "$tmp/$r.toml"   # the last section is [loratty]
    [ "$r" = ft4 ] && echo "stop_text_encoder_training = 50" >> "$tmp/$r.toml"
    "$prog" --run "$tmp/$r.toml" > "$tmp/$r.out" 2>&1 || { cat "$tmp/$r.out"; fail "SDXL fine-tuning run $r"; }
done
grep -q "training the U-Net and the text encoder" "$tmp/ft.out" || { cat "$tmp/ft.out"; fail "no text encoder in the SDXL fine-tuning start line"; }
"$diff" "$tmp/out/ft.safetensors" "$tmp/out/fu.safetensors" > "$tmp/diff" || { cat "$tmp/diff"; fail "SDXL fine-tuned checkpoints of other keys"; }
cat "$tmp/diff"
part() { awk -v p="$1" '$1 == p {print $2}' "$tmp/diff" | cut -d/ -f1; }
[ "$(part te1)" -gt 0 ] && [ "$(part te2)" -gt 0 ] || fail "train_text_encoder: an SDXL text encoder did not train"
[ "$(part vae)" = 0 ] || fail "SDXL fine-tuning changed the VAE"
"$diff" "$tmp/out/ft.safetensors" "$tmp/out/ft4.safetensors" > "$tmp/diff" || fail "SDXL checkpoints of other keys"
cat "$tmp/diff"
grep -q "text encoder training stops at step 2" "$tmp/ft4.out" || { cat "$tmp/ft4.out"; fail "no SDXL fine-tuning TE stop message"; }
[ "$(part te1)" = 0 ] && [ "$(part te2)" = 0 ] || fail "SDXL text encoders moved after stop_text_encoder_training"
[ "$(part unet)" -gt 0 ] || fail "the U-Net stopped with the text encoders"

# --- SD1: stop_text_encoder_training ---------------------------------------------------------
mkdir -p "$tmp/sd1"
tiny_sd1_model "$tmp/sd1"
sd1() {   # NAME STEPS [extra [basic] lines]
    preset "$1" "$2" "text_encoder_lr = 0.001
$3"
    sed -i -e "s|$tmp/model/model.safetensors|$tmp/sd1/model.safetensors|" -e '/^sdxl = /d' \
        -e '/^vae = /d' "$tmp/$1.toml"
}
sd1 t3 3
sd1 t6 6
echo "stop_text_encoder_training = 50" >> "$tmp/t6.toml"   # the last section is [loratty]
"$prog" --run "$tmp/t3.toml" > "$tmp/t3.out" 2>&1 || { cat "$tmp/t3.out"; fail "SD1 3-step run"; }
"$prog" --run "$tmp/t6.toml" > "$tmp/t6.out" 2>&1 || { cat "$tmp/t6.out"; fail "SD1 run with the TE stop"; }
grep -q "text encoder training stops at step 3" "$tmp/t6.out" || { cat "$tmp/t6.out"; fail "no TE stop message"; }
"$check" te-frozen "$tmp/out/t3.safetensors" "$tmp/out/t6.safetensors" || fail "TE weights changed after the stop"
echo "all passed"
