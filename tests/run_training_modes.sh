#!/bin/sh
# run_training_modes.sh — the whole-weight training modes through `loratty --run` on the tiny
# SD1 checkpoint (tests/fixtures/checkpoint-sd1 with its configs):
#  1. training_mode finetune: a single-file checkpoint with the source's keys, in which every
#     U-Net tensor changed and the VAE and text encoder did not; with train_text_encoder the
#     text encoder changed too; epoch saves with sd-scripts' names; the saved model loads
#     (--inspect, --sample); a second run from the same seed is bit-identical;
#     stop_text_encoder_training keeps the text encoder as it was at that step;
#  2. training_mode vae: only VAE tensors changed; the run reports the latents' std and the
#     scaling_factor to use; the VAE loss falls over a few dozen steps on four images;
#  3. loratty --new-model writes a model a finetune run trains from;
#  4. save_state / resume: 3 steps + save_state_on_train_end, then resume to 6 steps, equals
#     6 steps straight, bit for bit (finetune with the text encoder, and vae); a LoRA run
#     refuses a whole-model state (exit 2, names resume).
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
diff=${top_builddir:-.}/tests/model_diff
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-modes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 4
model="$tmp/model/model.safetensors"

# preset NAME MODE STEPS [extra [basic] lines] [extra [loratty] lines] [extra [advanced] lines]
preset() {
    {
        echo "[model]"
        echo "pretrained_model_name_or_path = \"$model\""
        echo "train_data_dir = \"$tmp/img\""
        echo "output_name = \"$1\""
        echo "save_precision = \"float\""
        echo "[folders]"
        echo "output_dir = \"$tmp/out\""
        echo "[basic]"
        echo "train_batch_size = 2"
        echo "max_train_steps = $3"
        echo "resolution = \"32,32\""
        echo "enable_bucket = false"
        echo "learning_rate = 0.001"
        echo "optimizer_type = \"AdamW\""
        echo "lr_scheduler = \"constant\""
        echo "seed = 7"
        echo "cache_latents = true"
        echo "save_every_n_epochs = 1"
        echo "${4:-}"
        echo "[advanced]"
        echo "${6:-}"
        echo "[loratty]"
        echo "lr_warmup = 0"
        echo "training_mode = \"$2\""
        echo "${5:-}"
    } > "$tmp/$1.toml"
}
parts() {
    "$diff" "$2" "$1" > "$tmp/diff" || { cat "$tmp/diff"; fail "$1: not the keys of $2"; }
    cat "$tmp/diff"
}
part() { awk -v p="$1" '$1 == p {print $2}' "$tmp/diff"; }

# --- 1. finetune ---------------------------------------------------------------------------
preset f finetune 6
"$prog" --run "$tmp/f.toml" > "$tmp/f.out" 2>&1 || { cat "$tmp/f.out"; fail "finetune run"; }
cat "$tmp/f.out"
grep -q "training the U-Net (" "$tmp/f.out" || fail "no finetune start line"
grep -q "saved model $tmp/out/f.safetensors" "$tmp/f.out" || fail "no 'saved model' line"
[ -f "$tmp/out/f-000001.safetensors" ] || fail "no epoch save f-000001"
parts "$tmp/out/f.safetensors" "$model"
u=$(part unet)
[ "${u%/*}" = "${u#*/}" ] && [ "${u%/*}" -gt 0 ] || fail "not every U-Net tensor changed ($u)"
[ "$(part vae | cut -d/ -f1)" = 0 ] || fail "the VAE changed in finetune"
[ "$(part te | cut -d/ -f1)" = 0 ] || fail "the text encoder changed without train_text_encoder"
"$prog" --inspect "$tmp/out/f.safetensors" > "$tmp/inspect" 2>&1 || fail "--inspect of the fine-tuned model"
grep -Eq 'modelspec.architecture +stable-diffusion-v1$' "$tmp/inspect" || { grep modelspec "$tmp/inspect"; fail "modelspec.architecture of a checkpoint"; }
for d in unet vae text_encoder tokenizer scheduler; do cp -R "$tmp/model/$d" "$tmp/out/"; done
"$prog" --sample --model "$tmp/out/f.safetensors" --prompt "zqx ring" --width 32 --height 32 \
    --steps 2 -o "$tmp/f.png" > "$tmp/fs.out" 2>&1 || { cat "$tmp/fs.out"; fail "--sample with the fine-tuned model"; }
mv "$tmp/out/f.safetensors" "$tmp/f1.safetensors"
"$prog" --run "$tmp/f.toml" > /dev/null 2>&1 || fail "second finetune run"
parts "$tmp/out/f.safetensors" "$tmp/f1.safetensors"   # the metadata has the times; weights only
[ "$(part unet | cut -d/ -f1)" = 0 ] || fail "finetune is not reproducible"

preset t finetune 6 "train_text_encoder = true
text_encoder_lr = 0.0005"
"$prog" --run "$tmp/t.toml" > "$tmp/t.out" 2>&1 || { cat "$tmp/t.out"; fail "finetune with the text encoder"; }
grep -q "U-Net and the text encoder" "$tmp/t.out" || fail "no text encoder in the start line"
parts "$tmp/out/t.safetensors" "$model"
[ "$(part te | cut -d/ -f1)" -gt 0 ] || fail "train_text_encoder: the text encoder did not change"
# stopped at step 4 of 6 (the end of epoch 1 of 2): the text encoder equals that epoch's save
preset s finetune 6 "train_text_encoder = true
text_encoder_lr = 0.0005" "stop_text_encoder_training = 67"
"$prog" --run "$tmp/s.toml" > "$tmp/s.out" 2>&1 || { cat "$tmp/s.out"; fail "stop_text_encoder_training run"; }
parts "$tmp/out/s.safetensors" "$tmp/out/t-000001.safetensors"
[ "$(part te | cut -d/ -f1)" = 0 ] || fail "the text encoder moved after stop_text_encoder_training"
[ "$(part unet | cut -d/ -f1)" -gt 0 ] || fail "the U-Net stopped with the text encoder"

# --- 2. vae --------------------------------------------------------------------------------
preset v vae 40 "max_grad_norm = 1.0" "vae_kl_weight = 0.000001"
sed -i 's/^cache_latents = true/cache_latents = false/; s/^save_every_n_epochs = 1/save_every_n_epochs = 0/' "$tmp/v.toml"
"$prog" --run "$tmp/v.toml" > "$tmp/v.out" 2>&1 || { cat "$tmp/v.out"; fail "vae run"; }
cat "$tmp/v.out"
grep -q "training the VAE" "$tmp/v.out" || fail "no VAE start line"
grep -q "set scaling_factor = [0-9.]*" "$tmp/v.out" || fail "no scaling_factor advice"
parts "$tmp/out/v.safetensors" "$model"
[ "$(part vae | cut -d/ -f1)" -gt 0 ] || fail "the VAE did not change"
[ "$(part unet | cut -d/ -f1)" = 0 ] && [ "$(part te | cut -d/ -f1)" = 0 ] \
    || fail "vae mode changed the U-Net or text encoder"
first=$(grep -o 'step 1/40 .*loss [0-9.]*' "$tmp/v.out" | sed 's/.*loss //')
last=$(grep -o 'step 40/40 .*avg [0-9.]*' "$tmp/v.out" | sed 's/.*avg //')
echo "vae loss: step 1 $first, average over 40 steps $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 0 && b < 0.9 * a) }' \
    || fail "the VAE loss did not fall ($first -> $last)"

# --- 3. a new model from configs, then fine-tuned ------------------------------------------
mkdir -p "$tmp/new"
for d in unet vae text_encoder tokenizer scheduler; do cp -R "$tmp/model/$d" "$tmp/new/"; done
"$prog" --new-model "$tmp/new" -o "$tmp/new/init.safetensors" --seed 3 > /dev/null 2>&1 || fail "--new-model"
model="$tmp/new/init.safetensors"
preset n finetune 2
"$prog" --run "$tmp/n.toml" > "$tmp/n.out" 2>&1 || { cat "$tmp/n.out"; fail "finetune of a new model"; }

# --- 4. save_state / resume ----------------------------------------------------------------
te="train_text_encoder = true
text_encoder_lr = 0.0005"
for mode in finetune vae; do
    preset "${mode}6" "$mode" 6 "$te" "vae_kl_weight = 0.000001"
    preset "${mode}3" "$mode" 3 "$te" "vae_kl_weight = 0.000001" "save_state_on_train_end = true"
    "$prog" --run "$tmp/${mode}6.toml" > "$tmp/r.out" 2>&1 || { cat "$tmp/r.out"; fail "$mode: 6 steps"; }
    "$prog" --run "$tmp/${mode}3.toml" > "$tmp/r.out" 2>&1 || { cat "$tmp/r.out"; fail "$mode: 3 steps + state"; }
    [ -f "$tmp/out/${mode}3-state/weights.safetensors" ] || { ls "$tmp/out"; fail "$mode: no state folder"; }
    preset "${mode}3" "$mode" 6 "$te" "vae_kl_weight = 0.000001" "resume = \"$tmp/out/${mode}3-state\""
    "$prog" --run "$tmp/${mode}3.toml" > "$tmp/r.out" 2>&1 || { cat "$tmp/r.out"; fail "$mode: resume"; }
    grep -q "resumed from $tmp/out/${mode}3-state at step 3" "$tmp/r.out" || { cat "$tmp/r.out"; fail "$mode: no resume message"; }
    parts "$tmp/out/${mode}3.safetensors" "$tmp/out/${mode}6.safetensors"
    [ "$(part unet | cut -d/ -f1)" = 0 ] && [ "$(part te | cut -d/ -f1)" = 0 ] && [ "$(part vae | cut -d/ -f1)" = 0 ] \
        || fail "$mode: 3 steps + resume + 3 steps differs from 6 steps straight"
done
# both runs trained, so the comparisons above could have failed
parts "$tmp/out/finetune6.safetensors" "$model"
[ "$(part unet | cut -d/ -f1)" -gt 0 ] && [ "$(part te | cut -d/ -f1)" -gt 0 ] || fail "the finetune resume run did not train"
parts "$tmp/out/vae6.safetensors" "$model"
[ "$(part vae | cut -d/ -f1)" -gt 0 ] || fail "the vae resume run did not train"
# a LoRA run cannot continue from a whole-model state
preset l finetune 6 "" "training_mode = \"lora\"" "resume = \"$tmp/out/finetune3-state\""
sed -i '/^training_mode = "finetune"/d' "$tmp/l.toml"
"$prog" --run "$tmp/l.toml" > "$tmp/l.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q "resume.*whole model" "$tmp/l.out" || { cat "$tmp/l.out"; fail "LoRA run from a whole-model state: exit $rc"; }
echo PASS
