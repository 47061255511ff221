#!/bin/sh
# run_validation.sh — the validation loss with `loratty --run` on the tiny SD1 checkpoint
# (tests/tiny_run_lib.sh), 6 images in one 3_zqx folder, validation_split 0.5 (3 held out),
# batch 2, 6 steps (9 samples: epochs of 5 batches):
#  1. validate_every_n_steps = 2: validation events at steps 2, 4, 6 and at both epoch ends
#     (step 5 and 6), the progress lines, sd-scripts' TensorBoard tags, the ss_* metadata;
#  2. validation does not disturb training: the same run without validate_every_n_steps, and
#     with max_validation_steps 1, trains the same LoRA byte for byte;
#  3. with every learning rate 0 all validations give the same loss; with training they
#     differ, and the same run twice gives the same numbers;
#  4. validate_every_n_epochs = 2 validates only at the end of epoch 2; max_validation_steps
#     1 uses one batch;
#  5. 3 steps + save_state, resumed to 6, equals 6 steps straight and validates again;
#  6. refusals: training_mode finetune with validation_split (exit 2, naming the key).
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-validation.XXXXXX")
trap '[ -n "$KEEP" ] || rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/data/3_zqx" 6

# run NAME [advanced lines] [basic lines]: trains into out/NAME, TensorBoard in logs/NAME
# (every learning rate $LR and $STEPS steps when set)
run() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/data"
output_name = "$1"

[folders]
output_dir = "$tmp/out"
logging_dir = "$tmp/logs/$1"

[basic]
train_batch_size = 2
max_train_steps = ${STEPS:-6}
resolution = "32,32"
learning_rate = ${LR:-0.001}
unet_lr = ${LR:-0.001}
network_dim = 4
network_alpha = 2.0
text_encoder_lr = ${LR:-0.0005}
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 11
caption_extension = ".txt"
cache_latents = true
enable_bucket = false
$3

[advanced]
validation_split = 0.5
$2

[loratty]
lr_warmup = 0
EOF
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out"; fail "run $1"; }
}
events() { cat "$tmp"/state/loratty/runs/*-"$1"/events.jsonl | grep '"type":"validation"'; }
losses() { events "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }
same() { "$files" same "$tmp/out/$1.safetensors" "$tmp/out/$2.safetensors" > /dev/null || fail "$3"; }

# --- 1. validation every 2 steps and at epoch ends -----------------------------------------
run every2 "validate_every_n_steps = 2"
got=$(events every2 | sed 's/.*"step":\([0-9]*\),"epoch":\([0-9]*\),"kind":"\([a-z]*\)".*/\3@\1e\2/' | tr '\n' ' ')
[ "$got" = "step@2e1 step@4e1 epoch@5e1 step@6e2 epoch@6e2 " ] ||
    { cat "$tmp/every2.out"; fail "validation events: $got"; }
grep -q "validation: 3 images, 5 batches at timesteps 200, 400, 600, 800" "$tmp/every2.out" ||
    { cat "$tmp/every2.out"; fail "the run does not say what it validates"; }
grep -q "^validation loss [0-9]*\.[0-9]* at step 4 (training average [0-9]*\.[0-9]*)" "$tmp/every2.out" ||
    { cat "$tmp/every2.out"; fail "no validation line at step 4"; }
grep -q "^validation loss [0-9]*\.[0-9]* at the end of epoch 1 " "$tmp/every2.out" ||
    { cat "$tmp/every2.out"; fail "no validation line at the end of epoch 1"; }
tb=$(find "$tmp/logs/every2" -name 'events.out.tfevents.*' | head -1)
for tag in loss/validation/step_average loss/validation/step_divergence loss/validation/epoch_average \
    loss/validation/epoch_divergence; do
    grep -aq "$tag" "$tb" || fail "TensorBoard has no $tag"
done
"$files" meta "$tmp/out/every2.safetensors" ss_num_train_images=9 ss_num_validation_images=9 \
    ss_validation_split=0.5 ss_validate_every_n_steps=2 ss_validate_every_n_epochs=None \
    ss_max_validation_steps=None ss_validation_seed=None > /dev/null || fail "the validation metadata"
echo "ok    validation at steps 2, 4, 6 and the epoch ends (5, 6); log, TensorBoard, metadata"

# --- 2. training is not disturbed ----------------------------------------------------------
run epochs_only ""
same every2 epochs_only "validating every 2 steps changed the training"
run one_batch "max_validation_steps = 1"
same every2 one_batch "one validation batch instead of five changed the training"
grep -q "validation: 3 images, 1 batches" "$tmp/one_batch.out" || fail "max_validation_steps 1 not used"
echo "ok    the LoRA is the same with and without the step validations and with one batch"

# --- 3. frozen weights give equal losses; a repeat gives the same numbers --------------------
LR=0 run frozen "validate_every_n_steps = 1"
n=$(losses frozen | sort -u | wc -l)
[ "$n" -eq 1 ] || { losses frozen; fail "with learning rate 0 the validation losses differ ($n values)"; }
n=$(losses every2 | sort -u | wc -l)
[ "$n" -ge 3 ] || { losses every2; fail "training does not change the validation loss"; }
run every2_again "validate_every_n_steps = 2"
[ "$(losses every2)" = "$(losses every2_again)" ] || fail "the same run gave other validation losses"
echo "ok    learning rate 0: one validation loss; training changes it; a repeat repeats it"

# --- 4. validate_every_n_epochs -------------------------------------------------------------
run epoch2 "validate_every_n_epochs = 2"
got=$(events epoch2 | sed 's/.*"step":\([0-9]*\),"epoch":\([0-9]*\),"kind":"\([a-z]*\)".*/\3@\1e\2/' | tr '\n' ' ')
[ "$got" = "epoch@6e2 " ] || fail "validate_every_n_epochs 2: $got"
echo "ok    validate_every_n_epochs = 2 validates at the end of epoch 2 only"

# --- 5. resume -------------------------------------------------------------------------------
STEPS=3 run half "validate_every_n_steps = 2
save_state = true"
run resumed "validate_every_n_steps = 2
resume = \"$tmp/out/half-state\""
same every2 resumed "3 steps + resume + 3 steps differs from 6 straight"
[ "$(losses resumed | tail -1)" = "$(losses every2 | tail -1)" ] || fail "the resumed run's last validation differs"
echo "ok    3 steps + resume + 3 equals 6 straight, validation included"

# --- 6. refusals -----------------------------------------------------------------------------
cp "$tmp/every2.toml" "$tmp/ft.toml"
"$prog" --run "$tmp/ft.toml" --set training_mode=finetune > "$tmp/ft.out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "validation_split" "$tmp/ft.out" ||
    { cat "$tmp/ft.out"; fail "training_mode finetune with validation_split: exit $rc"; }
echo "ok    training_mode finetune with validation_split is refused"
