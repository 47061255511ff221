#!/bin/sh
# tui_run_e2e.sh — a real training run driven from the terminal UI (tmux), on the tiny SD1
# checkpoint (tests/fixtures/checkpoint-sd1 with the configs of tests/fixtures/pipeline-sd1)
# and four 64x64 demo images trained at 32x32, 100000 steps (it is stopped long before):
#  1. `loratty PRESET`, F5, the plan dialog names the folder and the total steps, Enter starts
#     the run; the monitor shows [running], the step counter advances (two different values)
#     and the loss plot has its axes; q goes back to the forms (the run goes on), F8 returns;
#  2. the tmux session is killed: the training process (pid file in the run directory) lives
#     on and keeps writing progress; `loratty --attach` in a new session at 80x24 shows the
#     step counter and the whole loss plot, replayed from events.jsonl (x axis from step 1
#     to at least the step seen before); F7 pauses it (the counter stands still) and resumes;
#  3. F6 and y stop it gracefully: [stopped], "done: stopped" in the log tail, the process
#     ends, the LoRA is in output_dir and `loratty --inspect` lists lora_unet_ keys;
#  4. `loratty --list-runs` shows the run as stopped with its step.
. "${top_srcdir:-.}/tests/tui_lib.sh"
src=$(cd "${top_srcdir:-.}" && pwd)
tmp=$TUI_TMP
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1

# the run outlives the TUI by design: end it with the test, but only if the pid is still ours
e2e_cleanup() {
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
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 4
cat > "$tmp/e2e.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "e2e"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = 100000
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
EOF

# step_now — the step counter on screen ("step N/100000"), empty when none
step_now() { tui_screen | sed -n 's/.*step \([0-9][0-9]*\)\/100000.*/\1/p' | head -1; }

# wait_step_above N [SECONDS] — polls until the counter on screen is above N; prints it
wait_step_above() {
    deadline=$(( $(date +%s) + ${2:-30} ))
    while :; do
        s=$(step_now)
        if [ -n "$s" ] && [ "$s" -gt "$1" ]; then echo "$s"; return 0; fi
        [ "$(date +%s)" -lt "$deadline" ] || { echo "FAIL: step counter not above $1" >&2; tui_screen >&2; exit 1; }
        sleep 0.2
    done
}

check_axes() {
    screen=$(tui_screen)
    printf '%s\n' "$screen" | grep -q 'Loss: raw' || fail "no loss plot title"
    printf '%s\n' "$screen" | grep -q '└' || fail "no x axis"
    printf '%s\n' "$screen" | grep -q '┤' || fail "no y ticks"
}

# --- 1. F5 from the forms, the plan, the monitor -----------------------------------------
tui_start 100 30 e2e.toml
tui_wait 'loratty  e2e\.toml'
tui_wait 'F5/r Run'
tui_keys F5
tui_wait 'Start training with this plan\?'
tui_wait '2_zqx ring +4 images x 2 repeats'
tui_wait 'total steps 100000'
tui_keys Enter
tui_wait 'loratty  run [0-9]{8}-[0-9]{6}-e2e' 15
tui_wait '\[running\]' 15
s1=$(wait_step_above 0 30) || exit 1
s2=$(wait_step_above "$s1" 30) || exit 1
echo "steps seen: $s1, $s2"
tui_wait '┤' 10
check_axes
tui_wait 'F6/x Stop'

run=$(cd "$tmp/state/loratty/runs" && ls -d ./*-e2e) || fail "no run directory"
run=${run#./}
dir=$tmp/state/loratty/runs/$run
[ -s "$dir/pid" ] || fail "no pid file in $dir"
pid=$(cat "$dir/pid")
kill -0 "$pid" 2>/dev/null || fail "the training process $pid is not running"

# q back to the forms: the run goes on; F8 shows it again
tui_keys q
tui_wait "Left the monitor of $run; the run goes on"
tui_wait 'loratty  e2e\.toml'
tui_keys F8
tui_wait "loratty  run $run"
wait_step_above "$s2" 30 > /dev/null || exit 1

# --- 2. lose the terminal; attach again from a new one -------------------------------------
s_before=$(step_now)
tmux -L "$TUI_SOCK" kill-server
n1=$(grep -c '"type":"progress"' "$dir/events.jsonl")
i=0
while :; do
    kill -0 "$pid" 2>/dev/null || { tail -5 "$dir/output.log"; fail "the run died with its terminal"; }
    n2=$(grep -c '"type":"progress"' "$dir/events.jsonl")
    [ "$n2" -gt "$n1" ] && break
    i=$((i + 1)); [ $i -lt 100 ] || fail "no progress after the session was killed"
    sleep 0.1
done
tui_start 80 24 --attach
tui_wait "loratty  run $run" 15
tui_wait '\[running\]'
s3=$(wait_step_above "${s_before:-0}" 30) || exit 1
echo "after attaching: step $s3"
tui_wait '┤' 10
check_axes
# the plot is replayed from the start: its x labels run from step 1 to the current step
xmax=$(tui_screen | sed -n 's/^ *1  *[0-9][0-9.]*  *\([0-9][0-9]*\) *$/\1/p' | head -1)
[ -n "$xmax" ] || fail "no x labels from step 1 on the loss plot"
[ "$xmax" -ge "${s_before:-0}" ] || fail "the plot ends at step $xmax, before $s_before"
n=$(tui_screen | wc -l)
[ "$n" -eq 24 ] || fail "$n rows, not 24"
tui_screen | sed -n 24p | grep -q 'F10/q Quit' || fail "hint bar not on the last row"

# F7 pauses (the counter stands still), F7 again resumes
tui_keys F7
tui_wait 'Asked the run to pause'
tui_wait '\[paused\]'
sleep 0.5
sp=$(step_now)
sleep 1
[ "$(step_now)" = "$sp" ] || fail "the step counter moves while paused (was $sp)"
kill -0 "$pid" 2>/dev/null || fail "the paused run died"
tui_keys F7
tui_wait 'Asked the run to resume'
tui_wait '\[running\]'
wait_step_above "$sp" 30 > /dev/null || exit 1

# --- 3. stop gracefully ------------------------------------------------------------------
tui_keys F6
tui_wait 'Stop the run\?'
tui_keys y
tui_wait '\[stopped\]' 30
tui_wait 'done: stopped' 10
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "the process $pid still runs after stop"
    sleep 0.1
done
[ -f "$tmp/out/e2e.safetensors" ] || { ls -l "$tmp/out"; fail "no LoRA in output_dir"; }
tui_wait 'Saved lora at step [0-9]+: .*/out/e2e\.safetensors'
"$TUI_PROG" --inspect "$tmp/out/e2e.safetensors" > "$tmp/inspect" 2>&1 || { cat "$tmp/inspect"; fail "--inspect"; }
grep -q 'lora_unet_' "$tmp/inspect" || { head -20 "$tmp/inspect"; fail "no lora_unet_ keys"; }
# a stopped run takes no more commands
tui_keys x
tui_wait 'The run has ended \(stopped\)'
tui_keys q
tui_wait 'EXITED=0'

# --- 4. the list of runs -----------------------------------------------------------------
"$TUI_PROG" --list-runs > "$tmp/list" 2>&1 || { cat "$tmp/list"; fail "--list-runs"; }
cat "$tmp/list"
grep -Eq "^$run +stopped +[0-9]+/100000 " "$tmp/list" || fail "the run is not listed as stopped"
echo "PASS"
