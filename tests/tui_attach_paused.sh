#!/bin/sh
# tui_attach_paused.sh — attaching to a paused run (tmux, 80x24): a real `loratty --run` on
# the tiny SD1 checkpoint is paused through its control FIFO, then `loratty --attach` must
# show [paused] (not [running]), and one F7 must resume it ("Asked the run to resume", the
# step counter moves again).
# (The run logs "paused (send resume to go on)"; the monitor once matched only "paused".)
. "${top_srcdir:-.}/tests/tui_lib.sh"
src=$(cd "${top_srcdir:-.}" && pwd)
tmp=$TUI_TMP
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
pid=
paused_cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    tui_cleanup
}
trap paused_cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 4
cat > "$tmp/p.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "p"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = 100000
resolution = "32,32"
enable_bucket = false
network_dim = 4
network_alpha = 2.0
seed = 7
cache_latents = true
save_every_n_epochs = 0
EOF

"$TUI_PROG" --run "$tmp/p.toml" > "$tmp/run.out" 2>&1 &
pid=$!
i=0
while ! grep -q '^step' "$tmp/run.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { cat "$tmp/run.out"; fail "no progress within 30 s"; }
    sleep 0.1
done
echo pause > "$(ls "$tmp"/state/loratty/runs/*-p/control)"
i=0
while ! grep -q 'paused' "$tmp/run.out"; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$tmp/run.out"; fail "the run did not pause"; }
    sleep 0.1
done

tui_start 80 24 --attach
tui_wait 'step [0-9]+/100000' 15
tui_wait 'paused \(send resume'
tui_wait '\[paused\]' 3
step_now() { tui_screen | sed -n 's/.*step \([0-9][0-9]*\)\/100000.*/\1/p' | head -1; }
s=$(step_now)
tui_keys F7
tui_wait 'Asked the run to resume'
tui_wait '\[running\]'
i=0
while [ "$(step_now)" = "$s" ]; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "one F7 did not resume the run (step stays $s)"
    sleep 0.1
done
echo "PASS"
