#!/bin/sh
# run_headless.sh — `loratty --run` end to end on the tiny SD1 checkpoint
# (tests/fixtures/checkpoint-sd1 with the configs of tests/fixtures/pipeline-sd1 beside it) and
# four 64x64 demo images trained at 32x32:
#  1. a 6-step run exits 0; the LoRA and the epoch save exist, load, have lora_unet_ tensors
#     (UNet and text encoder: lora_unet_ and lora_te_ keys) and the ss_* / modelspec.*
#     metadata (checked key by key); events.jsonl has
#     start/progress/save/done; no_metadata keeps sd-scripts' minimum keys, save_n_epoch_ratio
#     sets the epoch saves; save_model_as ckpt writes .ckpt files (torch.save's zip);
#  2. 3 steps + save_state_on_train_end, then resume to 6 steps, equals 6 steps straight
#     (tensors byte for byte);
#     Sample images every 3 steps: 4 PNGs with sd-scripts' names, sample events, and the
#     LoRA equals the run without samples.
#     cache_latents_to_disk writes the cache files, reads them back, and trains the same LoRA.
#  3. SIGINT mid-run: exit 130, a loadable LoRA, done "stopped";
#     The control FIFO: pause, resume, save (a step save appears), stop (exit 130).
#  4. a NaN loss (test hook) at step 2: exit 1, the message names the step;
#     the noise options (noise_offset with random strength and adaptive scale, multires
#     noise, ip_noise_gamma with random strength) each change the LoRA, noise_offset_type
#     chooses which apply, multires noise resumes bit for bit;
#  5. an unreadable image is skipped with a message; an empty data folder is refused (exit 2)
#     with the folder convention explained; an output_dir that cannot be created is refused
#     (exit 2) before training.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-headless.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 4

# preset NAME STEPS [extra TOML lines for [advanced]] [extra lines after [loratty]]
preset() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "$1"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = $2
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
unet_lr = 0.001
network_dim = 4
network_alpha = 2.0
text_encoder_lr = 0.0005
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true
save_every_n_epochs = 1

[advanced]
$3

[loratty]
lr_warmup = 0
$4
EOF
}

# --- 1. a whole run -----------------------------------------------------------------------
preset a 6
"$prog" --run "$tmp/a.toml" > "$tmp/a.out" 2>&1
rc=$?
cat "$tmp/a.out"
[ "$rc" -eq 0 ] || fail "run exited $rc"
[ -f "$tmp/out/a.safetensors" ] || fail "no LoRA file"
[ -f "$tmp/out/a-000001.safetensors" ] || fail "no epoch save a-000001"
grep -q "step 6/6" "$tmp/a.out" || fail "no progress line for step 6/6"
"$prog" --inspect "$tmp/out/a.safetensors" > "$tmp/inspect" 2>&1 || fail "--inspect"
grep -q "lora_unet_" "$tmp/inspect" || fail "no lora_unet_ keys in --inspect"
grep -q "lora_te_text_model_encoder_layers_0_self_attn_q_proj" "$tmp/inspect" || fail "no lora_te_ keys"
grep -q "ss_network_dim" "$tmp/inspect" || fail "no ss_ metadata in --inspect"
"$files" meta "$tmp/out/a.safetensors" ss_network_module=networks.lora ss_network_dim=4 \
    ss_network_alpha=2.0 ss_output_name=a ss_base_model_version=sd_v1 ss_v2=False \
    ss_num_train_images=8 ss_num_reg_images=0 ss_num_batches_per_epoch=4 ss_num_epochs=2 \
    ss_max_train_steps=6 ss_steps=6 ss_epoch=2 ss_lr_warmup_steps=0 ss_lr_scheduler=constant \
    ss_learning_rate=0.001 ss_unet_lr=0.001 ss_text_encoder_lr=0.0005 ss_seed=7 ss_cache_latents=True \
    ss_gradient_accumulation_steps=1 ss_max_grad_norm=1.0 ss_prior_loss_weight=1.0 \
    ss_optimizer=torch.optim.adamw.AdamW ss_resolution="(32, 32)" ss_enable_bucket=False \
    ss_batch_size_per_device=2 ss_sd_model_name=model.safetensors ss_sd_model_hash=#8 \
    ss_new_sd_model_hash=#64 ss_session_id='*' ss_training_started_at='*' \
    ss_training_finished_at='*' sshs_model_hash=#64 sshs_legacy_hash=#8 \
    ss_dataset_dirs='{"2_zqx ring": {"n_repeats": 2, "img_count": 4}}' \
    modelspec.sai_model_spec=1.0.1 modelspec.architecture=stable-diffusion-v1/lora \
    modelspec.implementation=diffusers modelspec.title=a modelspec.resolution=32x32 \
    modelspec.prediction_type=epsilon modelspec.date='*' || fail "metadata"
"$files" meta "$tmp/out/a-000001.safetensors" ss_steps=4 ss_epoch=1 || fail "epoch save metadata"
ev=$(ls "$tmp"/state/loratty/runs/*-a/events.jsonl)
for t in start progress save done; do
    grep -q "\"type\":\"$t\"" "$ev" || fail "no $t event"
done
grep -q '"status":"finished"' "$ev" || fail "done is not finished"

# --- 1b. no_metadata keeps sd-scripts' minimum keys; save_n_epoch_ratio 1 over 3 epochs saves
# every 3 epochs, so only the final file ---------------------------------------------------
preset nm 12
"$prog" --run "$tmp/nm.toml" --set no_metadata=true --set save_n_epoch_ratio=1 > "$tmp/nm.out" 2>&1 ||
    { cat "$tmp/nm.out"; fail "no_metadata run"; }
[ -f "$tmp/out/nm.safetensors" ] && [ ! -e "$tmp/out/nm-000001.safetensors" ] &&
    [ ! -e "$tmp/out/nm-000002.safetensors" ] || { ls "$tmp/out"; fail "save_n_epoch_ratio 1: epoch saves"; }
"$files" meta "$tmp/out/nm.safetensors" ss_network_module=networks.lora ss_network_dim=4 \
    ss_network_alpha=2.0 ss_base_model_version=sd_v1 ss_v2=False sshs_model_hash=#64 \
    sshs_legacy_hash=#8 modelspec.title=nm modelspec.date='*' '!ss_steps' '!ss_epoch' \
    '!ss_session_id' '!ss_training_finished_at' '!ss_dataset_dirs' '!ss_tag_frequency' \
    '!ss_learning_rate' || fail "no_metadata's keys"
echo "ok    no_metadata keeps the minimum keys; save_n_epoch_ratio 1 saves only at the end"
# save_model_as ckpt: torch.save files (a zip, see tests/test_torch_save) named .ckpt, the
# epoch saves too
preset ck 6
"$prog" --run "$tmp/ck.toml" --set save_model_as=ckpt > "$tmp/ck.out" 2>&1 || { cat "$tmp/ck.out"; fail "ckpt run"; }
[ -f "$tmp/out/ck.ckpt" ] && [ -f "$tmp/out/ck-000001.ckpt" ] && [ ! -e "$tmp/out/ck.safetensors" ] ||
    { ls "$tmp/out"; fail "save_model_as ckpt: file names"; }
[ "$(head -c 2 "$tmp/out/ck.ckpt")" = "PK" ] || fail "the .ckpt is not torch.save's zip"
grep -q "save_model_as ckpt: the LoRA files hold the tensors alone" "$tmp/ck.out" || fail "no ckpt note"
echo "ok    save_model_as ckpt writes torch.save files named .ckpt"

# --- 2. 3 steps + resume + 3 steps = 6 steps ----------------------------------------------
preset b 3 "save_state_on_train_end = true"
"$prog" --run "$tmp/b.toml" > "$tmp/b.out" 2>&1 || { cat "$tmp/b.out"; fail "run b"; }
[ -f "$tmp/out/b-state/state.json" ] || fail "no state folder b-state"
preset b 6 "resume = \"$tmp/out/b-state\""
"$prog" --run "$tmp/b.toml" > "$tmp/b2.out" 2>&1 || { cat "$tmp/b2.out"; fail "resumed run b"; }
grep -q "resumed from" "$tmp/b2.out" || fail "no resume message"
preset a 6
rm -f "$tmp/out/a.safetensors"
"$prog" --run "$tmp/a.toml" > /dev/null 2>&1 || fail "second run a"
"$files" same "$tmp/out/a.safetensors" "$tmp/out/b.safetensors" || fail "resume differs from a straight run"

# --- 2a. the same with AdamWScheduleFree: its saves move the weights to x and back to y, which
# must leave y exactly as it was (epoch saves and the state save sit at different steps in the
# two runs)
sf() { preset "$@"; sed -i 's/^optimizer_type = "AdamW"/optimizer_type = "AdamWScheduleFree"/' "$tmp/$1.toml"; }
sf sfr 3 "save_state_on_train_end = true"
"$prog" --run "$tmp/sfr.toml" > "$tmp/sfr.out" 2>&1 || { cat "$tmp/sfr.out"; fail "schedule-free run sfr"; }
sf sfr 6 "resume = \"$tmp/out/sfr-state\""
"$prog" --run "$tmp/sfr.toml" > "$tmp/sfr2.out" 2>&1 || { cat "$tmp/sfr2.out"; fail "resumed schedule-free run sfr"; }
sf sfs 6
"$prog" --run "$tmp/sfs.toml" > "$tmp/sfs.out" 2>&1 || { cat "$tmp/sfs.out"; fail "schedule-free run sfs"; }
"$files" same "$tmp/out/sfr.safetensors" "$tmp/out/sfs.safetensors" || fail "schedule-free: resume differs from a straight run"

# --- 2b. sample images every 3 steps; they do not change the training --------------------
preset s 6 "" 'sample_prompts = """
# a comment
zqx ring --w 32 --h 32 --s 3 --d 5
zqx ring on a table --n blurry --w 40 --h 28 --s 2 --l 1 --ss ddim
"""

[samples]
sample_every_n_steps = 3'
"$prog" --run "$tmp/s.toml" > "$tmp/s.out" 2>&1 || { cat "$tmp/s.out"; fail "run with samples"; }
n=$(ls "$tmp"/out/sample/s_00000[36]_0[01]_*.png | wc -l)
[ "$n" -eq 4 ] || { ls "$tmp/out/sample"; fail "$n sample images, want 4"; }
ls "$tmp"/out/sample/s_000003_00_*_5.png > /dev/null || fail "no seed suffix on a --d sample"
ev=$(ls "$tmp"/state/loratty/runs/*-s/events.jsonl)
[ "$(grep -c '"type":"sample"' "$ev")" -eq 4 ] || fail "want 4 sample events"
"$files" same "$tmp/out/a.safetensors" "$tmp/out/s.safetensors" || fail "sampling changed the training"

# --- 2c. cache_latents_to_disk: written, then read back; the same LoRA as the memory cache --
preset k 6
sed -i 's/^cache_latents = true/cache_latents_to_disk = true/' "$tmp/k.toml"
"$prog" --run "$tmp/k.toml" > "$tmp/k.out" 2>&1 || { cat "$tmp/k.out"; fail "run with the disk cache"; }
[ "$(ls "$tmp/img/2_zqx ring/"*_32x32.loratty-latents | wc -l)" -eq 4 ] || fail "no latent cache files"
"$files" same "$tmp/out/a.safetensors" "$tmp/out/k.safetensors" || fail "disk cache (written) differs"
"$prog" --run "$tmp/k.toml" > "$tmp/k.out" 2>&1 || { cat "$tmp/k.out"; fail "run from the disk cache"; }
"$files" same "$tmp/out/a.safetensors" "$tmp/out/k.safetensors" || fail "disk cache (read) differs"

# --- 3. SIGINT mid-run ----------------------------------------------------------------------
preset c 5000 "save_state = true"
"$prog" --run "$tmp/c.toml" > "$tmp/c.out" 2>&1 &
pid=$!
i=0
while ! grep -q "^step" "$tmp/c.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { kill -9 $pid; fail "no progress within 30 s"; }
    sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
cat "$tmp/c.out" | tail -3
[ "$rc" -eq 130 ] || fail "SIGINT: exit $rc, want 130"
"$files" meta "$tmp/out/c.safetensors" ss_network_dim=4 || fail "stopped run's LoRA"
[ -f "$tmp/out/c-state/state.json" ] || fail "stopped run with save_state: no state"
ev=$(ls "$tmp"/state/loratty/runs/*-c/events.jsonl)
grep -q '"status":"stopped"' "$ev" || fail "done is not stopped"

# --- 3b. the control FIFO: pause, resume, save now, stop ----------------------------------
preset h 5000
"$prog" --run "$tmp/h.toml" > "$tmp/h.out" 2>&1 &
pid=$!
i=0
while ! grep -q "^step" "$tmp/h.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { kill -9 $pid; fail "no progress within 30 s"; }
    sleep 0.1
done
fifo=$(ls "$tmp"/state/loratty/runs/*-h/control)
echo pause > "$fifo"
sleep 0.5
echo resume > "$fifo"
echo save > "$fifo"
i=0
while ! ls "$tmp"/out/h-step*.safetensors > /dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { kill -9 $pid; fail "save via the FIFO wrote no file"; }
    sleep 0.1
done
echo stop > "$fifo"
wait $pid
rc=$?
[ "$rc" -eq 130 ] || { tail -5 "$tmp/h.out"; fail "stop via the FIFO: exit $rc, want 130"; }
grep -q "paused" "$tmp/h.out" || fail "no pause message"
"$files" meta "$tmp/out/h.safetensors" ss_network_dim=4 || fail "FIFO-stopped run's LoRA"

# --- 4. NaN ---------------------------------------------------------------------------------
preset d 6
LORATTY_TEST_NAN_AT_STEP=2 "$prog" --run "$tmp/d.toml" > "$tmp/d.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/d.out"; fail "NaN: exit $rc, want 1"; }
grep -q "NaN at step 2" "$tmp/d.out" || { cat "$tmp/d.out"; fail "NaN message does not name step 2"; }
[ ! -f "$tmp/out/d.safetensors" ] || fail "NaN run wrote a final LoRA"

# --- 4b. the noise options ------------------------------------------------------------------
# each one changes the LoRA; noise_offset_type picks which apply (a Multires run ignores a set
# noise_offset, as kohya_ss does not pass it); multires noise resumes bit for bit
noise() {   # NAME STEPS [advanced] [loratty] lines
    preset "$1" "$2" "$3" "$4"
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out"; fail "$1 run"; }
}
noise nplain 2
for v in "noff:noise_offset = 0.1" "nrand:noise_offset = 0.1
noise_offset_random_strength = true" "nadapt:noise_offset = 0.1
adaptive_noise_scale = 0.05" "nip:ip_noise_gamma = 0.1" "niprand:ip_noise_gamma = 0.1
ip_noise_gamma_random_strength = true"; do
    noise "${v%%:*}" 2 "${v#*:}"
done
noise nmulti 2 "multires_noise_iterations = 6
multires_noise_discount = 0.3" 'noise_offset_type = "Multires"'
for a in noff nrand nadapt nip niprand nmulti; do
    ! "$files" same "$tmp/out/nplain.safetensors" "$tmp/out/$a.safetensors" > /dev/null ||
        fail "$a: the noise option changed nothing"
done
for pair in "noff nrand" "noff nadapt" "nip niprand"; do
    set -- $pair
    ! "$files" same "$tmp/out/$1.safetensors" "$tmp/out/$2.safetensors" > /dev/null ||
        fail "$2 trained the same LoRA as $1"
done
"$files" meta "$tmp/out/nmulti.safetensors" ss_multires_noise_iterations=6 ss_multires_noise_discount=0.3 ||
    fail "multires metadata"
noise nunused 2 "noise_offset = 0.1" 'noise_offset_type = "Multires"'
"$files" same "$tmp/out/nplain.safetensors" "$tmp/out/nunused.safetensors" > /dev/null ||
    fail "noise_offset applied although noise_offset_type is Multires"
noise nmres 1 "multires_noise_iterations = 6
multires_noise_discount = 0.3
save_state_on_train_end = true" 'noise_offset_type = "Multires"'
noise nmres 2 "multires_noise_iterations = 6
multires_noise_discount = 0.3
resume = \"$tmp/out/nmres-state\"" 'noise_offset_type = "Multires"'
grep -q "resumed from" "$tmp/nmres.out" || { cat "$tmp/nmres.out"; fail "multires: not resumed"; }
"$files" same "$tmp/out/nmulti.safetensors" "$tmp/out/nmres.safetensors" ||
    fail "multires: 1 step + resume differs from 2 steps"
echo "ok    noise offset (random strength, adaptive scale), multires, ip_noise_gamma (random strength)"
# GPU precision options train in fp32 on the CPU, with a warning
noise nbf16 1 "full_bf16 = true"
grep -q "warning.*full_bf16 has no effect" "$tmp/nbf16.out" || { cat "$tmp/nbf16.out"; fail "no full_bf16 warning"; }

# --- 5. an unreadable image; an empty folder ---------------------------------------------
printf 'not a png' > "$tmp/img/2_zqx ring/broken.png"
preset e 2
"$prog" --run "$tmp/e.toml" > "$tmp/e.out" 2>&1 || { cat "$tmp/e.out"; fail "run with a broken image"; }
grep -q "broken.png" "$tmp/e.out" || { cat "$tmp/e.out"; fail "the broken image is not named"; }
sed -e "s|^output_dir = .*|output_dir = \"$tmp/e.toml/out\"|" "$tmp/e.toml" > "$tmp/g.toml"
"$prog" --run "$tmp/g.toml" > "$tmp/g.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || { cat "$tmp/g.out"; fail "unwritable output_dir: exit $rc, want 2"; }
grep -q "output folder" "$tmp/g.out" || { cat "$tmp/g.out"; fail "no output folder message"; }
rm -f "$tmp/img/2_zqx ring"/*
preset f 2
"$prog" --run "$tmp/f.toml" > "$tmp/f.out" 2>&1
rc=$?
cat "$tmp/f.out"
[ "$rc" -eq 2 ] || fail "empty data set: exit $rc, want 2"
grep -q "_" "$tmp/f.out" || fail "no folder convention in the message"
echo "all passed"
