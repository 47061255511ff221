#!/bin/sh
# run_lr_scheduler_type.sh — lr_scheduler_type with `loratty --run` on the tiny SD1 checkpoint
# (tests/tiny_run_lib.sh), 4 images, 6 steps:
#  1. CosineAnnealingLR (T_max 4, eta_min 1e-4) over lr_scheduler cosine: the lr of each step
#     in events.jsonl is eta_min + (lr − eta_min)(1 + cos(π t / 4)) / 2 for t = 0..5 (it
#     climbs again after T_max, as torch's does);
#  2. lr_warmup with lr_scheduler_type is refused (exit 2, lr_warmup_steps), as sd-scripts
#     raises;
#  3. AdamWScheduleFree with lr_scheduler cosine and a warmup: the lr stays at its base value
#     (sd-scripts' dummy scheduler) and the run says so.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-lrtype.XXXXXX")
trap '[ -n "$KEEP" ] || rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/data/1_zqx" 4

# run NAME [basic lines]: 6 steps into out/NAME, lr_warmup $WARMUP (0); the exit status in
# $tmp/NAME.rc
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
max_train_steps = 6
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
unet_lr = 0.001
text_encoder_lr = 0.0005
network_dim = 4
network_alpha = 2.0
seed = 5
caption_extension = ".txt"
cache_latents = true
$2

[loratty]
lr_warmup = ${WARMUP:-0}
EOF
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    echo $? > "$tmp/$1.rc"
}
lrs() { cat "$tmp"/state/loratty/runs/*-"$1"/events.jsonl | grep '"type":"progress"' |
    sed 's/.*"lr":\([^,]*\),.*/\1/' | tr '\n' ' '; }

# --- 1. CosineAnnealingLR ------------------------------------------------------------------
run cosine 'optimizer_type = "AdamW"
lr_scheduler = "cosine"
lr_scheduler_type = "CosineAnnealingLR"
lr_scheduler_args = ["T_max=4", "eta_min=1e-4"]'
[ "$(cat "$tmp/cosine.rc")" = 0 ] || { cat "$tmp/cosine.out"; fail "CosineAnnealingLR run"; }
got=$(lrs cosine)
echo "lrs: $got"
echo "$got" | awk '{
    for (t = 0; t < 6; t++) {
        want = 1e-4 + (1e-3 - 1e-4) * (1 + cos(3.141592653589793 * t / 4)) / 2
        d = $(t + 1) - want; if (d < 0) d = -d
        if (NF != 6 || d > 1e-9 * want) { print "step " t + 1 ": " $(t + 1) ", want " want; exit 1 }
    }
}' || fail "the lr does not follow torch's CosineAnnealingLR"
echo "ok    CosineAnnealingLR: eta_min + (lr - eta_min)(1 + cos(pi t / T_max)) / 2 at every step"

# --- 2. warmup refused ------------------------------------------------------------------------
WARMUP=10 run warm 'optimizer_type = "AdamW"
lr_scheduler = "cosine"
lr_scheduler_type = "StepLR"
lr_scheduler_args = ["step_size=2"]'
[ "$(cat "$tmp/warm.rc")" = 2 ] && grep -q "lr_warmup_steps.*num_warmup_steps" "$tmp/warm.out" ||
    { cat "$tmp/warm.out"; fail "lr_warmup with lr_scheduler_type: exit $(cat "$tmp/warm.rc")"; }
echo "ok    lr_warmup with lr_scheduler_type is refused"

# --- 3. schedule-free: the lr stays ---------------------------------------------------------
WARMUP=50 run sf 'optimizer_type = "AdamWScheduleFree"
lr_scheduler = "cosine"'
[ "$(cat "$tmp/sf.rc")" = 0 ] || { cat "$tmp/sf.out"; fail "schedule-free run"; }
[ "$(lrs sf)" = "0.001 0.001 0.001 0.001 0.001 0.001 " ] || fail "schedule-free lrs: $(lrs sf)"
grep -q "AdamWScheduleFree schedules itself" "$tmp/sf.out" || { cat "$tmp/sf.out"; fail "no warning"; }
echo "ok    AdamWScheduleFree keeps its base lr (sd-scripts' dummy scheduler) and says so"
