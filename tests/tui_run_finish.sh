#!/bin/sh
# tui_run_finish.sh — a short real training run (40 steps, samples every 20) started from the
# terminal UI (tmux, 100x30) on the tiny SD1 checkpoint, that ends by itself:
#  1. network_dim is changed in the form; `r` asks to save the unsaved changes first (Save),
#     the plan dialog shows 40 steps, Cancel starts nothing ("Not started", no run directory);
#  2. `r` again and Start: the monitor follows the run to [finished] with step 40/40, the
#     sample's title, the save line and "done: finished"; the LoRA was trained with the
#     edited network_dim (ss_network_dim 12) and the two sample PNGs exist; the validation
#     loss (validation_split 0.5, every 20 steps) is in the numbers line and the plot's title;
#  3. x on an ended run is refused with a message; F8 goes back to the forms, q quits;
#     `loratty --list-runs` lists the run as finished 40/40.
. "${top_srcdir:-.}/tests/tui_lib.sh"
src=$(cd "${top_srcdir:-.}" && pwd)
tmp=$TUI_TMP
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1

# a run outlives the TUI by design: end it with the test, but only if the pid is still ours
finish_cleanup() {
    for f in "$tmp"/state/loratty/runs/*/pid; do
        [ -s "$f" ] || continue
        p=$(cat "$f")
        if [ -r "/proc/$p/cmdline" ] &&
            tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "--run-dir $(dirname "$f")"; then
            kill -9 "$p" 2>/dev/null
        fi
    done
    tui_cleanup
}
trap finish_cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 4
cat > "$tmp/fin.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "fin"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = 40
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
network_dim = 4
network_alpha = 2.0
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true
save_every_n_epochs = 0

[loratty]
lr_warmup = 0
sample_prompts = """
zqx ring --w 32 --h 32 --s 2 --d 5
"""

[samples]
sample_every_n_steps = 20

[advanced]
validation_split = 0.5
validate_every_n_steps = 20
validate_every_n_epochs = 100
max_validation_steps = 1
EOF

# --- 1. unsaved changes, the plan, Cancel --------------------------------------------------
tui_start 100 30 fin.toml
tui_wait 'loratty  fin\.toml'
tui_wait 'F5/r Run'
tui_set network_dim 12
tui_wait '\[modified\]'
tui_keys r
tui_wait 'unsaved changes\. Save them before starting a run\?'
tui_keys Enter
tui_wait 'Start training with this plan\?'
tui_wait 'total steps 40'
tui_keys Tab
tui_keys Enter
tui_wait 'Not started'
tui_wait_gone 'Start training with this plan\?'
tui_wait_gone '\[modified\]'
[ -z "$(ls "$tmp/state/loratty/runs" 2>/dev/null)" ] || fail "Cancel made a run directory"
grep -Eq '^network_dim = 12$' "$tmp/fin.toml" || { cat "$tmp/fin.toml"; fail "network_dim 12 not saved"; }

# --- 2. Start: the run ends by itself -----------------------------------------------------
tui_keys r
tui_wait 'Start training with this plan\?'
tui_keys Enter
tui_wait 'loratty  run [0-9]{8}-[0-9]{6}-fin' 15
tui_wait '\[finished\]' 60
tui_wait 'step 40/40'
tui_wait 'done: finished'
tui_wait 'Saved lora at step 40: .*/out/fin\.safetensors'
tui_wait 'Sample, step 40'
tui_wait 'Loss: raw, smoothed and validation'
tui_wait 'loss [0-9.]+ \(avg [0-9.]+\)  val [0-9]+\.[0-9]{4}  lr'
n=$(grep -c '"type":"validation"' "$tmp"/state/loratty/runs/*-fin/events.jsonl)
[ "$n" -eq 2 ] || fail "$n validations, want 2 (steps 20 and 40)"
[ -f "$tmp/out/fin.safetensors" ] || { ls -l "$tmp/out"; fail "no LoRA in output_dir"; }
"$TUI_PROG" --inspect "$tmp/out/fin.safetensors" > "$tmp/inspect" 2>&1 || { cat "$tmp/inspect"; fail "--inspect"; }
grep -q 'lora_unet_' "$tmp/inspect" || fail "no lora_unet_ keys"
grep -Eq '^ *ss_network_dim +12$' "$tmp/inspect" || { grep ss_network_dim "$tmp/inspect"; fail "not trained with network_dim 12"; }
n=$(ls "$tmp"/out/sample/fin_0000[24]0_00_*.png 2>/dev/null | wc -l)
[ "$n" -eq 2 ] || { ls "$tmp/out" "$tmp/out/sample"; fail "$n sample images, want 2"; }

# --- 3. the ended run, back to the forms, the list ------------------------------------------
tui_keys x
tui_wait 'The run has ended \(finished\)'
tui_keys F8
tui_wait 'loratty  fin\.toml'
tui_keys q
tui_wait 'EXITED=0'
run=$(cd "$tmp/state/loratty/runs" && ls -d ./*-fin) || fail "no run directory"
run=${run#./}
"$TUI_PROG" --list-runs > "$tmp/list" 2>&1 || { cat "$tmp/list"; fail "--list-runs"; }
cat "$tmp/list"
grep -Eq "^$run +finished +40/40 " "$tmp/list" || fail "the run is not listed as finished 40/40"
echo "PASS"
