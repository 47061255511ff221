#!/bin/sh
# run_attach.sh — runs and the run monitor, as a user sees them:
#  1. `loratty --run PRESET --run-dir DIR` on the demo data set (a copied preset with a temp
#     output_dir and no base model) fails when it loads the model, and `--list-runs` shows
#     the run as failed with the loader's message;
#  2. the monitor replays a recorded 200-step run (tests/fixtures/runs/recorded) through
#     `loratty --attach NAME` at 80x24 and 100x30: step counter, plot axes, the save line and
#     the log tail are on screen; q leaves it; killing the tmux session and attaching again
#     from a new one shows the same run.
. "${top_srcdir:-.}/tests/tui_lib.sh"
src=$(cd "${top_srcdir:-.}" && pwd)

# --- 1. a real run in its run directory ----------------------------------------------------
state=$TUI_TMP/state
sed -e '/pretrained_model_name_or_path/d' \
    -e "s|^train_data_dir = .*|train_data_dir = \"$src/share/demo/img\"|" \
    -e "s|^output_dir = .*|output_dir = \"$TUI_TMP/out\"|" \
    "$src/share/demo/demo.toml" > "$TUI_TMP/demo.toml"
dir=$state/loratty/runs/20250101-000000-zqx-demo
mkdir -p "$dir"
XDG_STATE_HOME=$state "$TUI_PROG" --run "$TUI_TMP/demo.toml" --run-dir "$dir" \
    >"$TUI_TMP/run.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || { echo "FAIL: --run succeeded without a model"; exit 1; }
grep -q '"type":"start"' "$dir/events.jsonl" || { echo "FAIL: no start event"; cat "$dir/events.jsonl"; exit 1; }
grep -q '"type":"done".*"status":"failed"' "$dir/events.jsonl" || { echo "FAIL: no failed done event"; exit 1; }
[ -p "$dir/control" ] || { echo "FAIL: no control FIFO"; exit 1; }
[ -s "$dir/pid" ] || { echo "FAIL: no pid file"; exit 1; }
XDG_STATE_HOME=$state "$TUI_PROG" --list-runs > "$TUI_TMP/list" 2>&1 || { echo "FAIL: --list-runs"; exit 1; }
cat "$TUI_TMP/list"
grep -Eq '^20250101-000000-zqx-demo +failed +0/[0-9]+ ' "$TUI_TMP/list" || { echo "FAIL: run not listed as failed"; exit 1; }
grep -q "stable-diffusion-v1-5: cannot open" "$TUI_TMP/list" || { echo "FAIL: the loader's message is not listed"; exit 1; }

# --- 2. the monitor over a recorded run ----------------------------------------------------
rstate=$TUI_TMP/rstate
mkdir -p "$rstate/loratty/runs"
cp -r "$src/tests/fixtures/runs/recorded" "$rstate/loratty/runs/20251123-120000-zqx"
# the recorded sample paths are relative to the source tree
attach() {
    tmux -L "$TUI_SOCK" kill-server >/dev/null 2>&1
    TUI_RUNS=$((TUI_RUNS + 1))
    TUI_SOCK=$TUI_SOCK_BASE-$TUI_RUNS
    tmux -L "$TUI_SOCK" -f /dev/null new-session -d -s t -x "$1" -y "$2" \
        "cd '$src' && env TERM=screen-256color LANG=C.UTF-8 NO_COLOR= XDG_STATE_HOME='$rstate' '$TUI_PROG' --attach $3; echo \"EXITED=\$?\"; sleep 600"
}

check_monitor() {
    cols=$1 rows=$2
    tui_wait 'step 200/200' 10
    screen=$(tui_screen)
    printf '%s\n' "$screen" | grep -q 'run 20251123-120000-zqx' || fail "no run name"
    printf '%s\n' "$screen" | grep -q '\[finished\]' || fail "no state"
    printf '%s\n' "$screen" | grep -q 'epoch 4/4' || fail "no epoch"
    printf '%s\n' "$screen" | grep -q 'ETA 0s' || fail "no ETA"
    printf '%s\n' "$screen" | grep -q 'Loss: raw' || fail "no loss plot title"
    # the plot's axes: the x axis corner and step labels (1 ... 200), y ticks on the left
    printf '%s\n' "$screen" | grep -q '└' || fail "no x axis"
    printf '%s\n' "$screen" | grep -Eq '┤' || fail "no y ticks"
    printf '%s\n' "$screen" | grep -Eq ' 200 *(│|$)' || printf '%s\n' "$screen" | grep -q '200' || fail "no x labels"
    printf '%s\n' "$screen" | grep -q 'Saved lora at step 200' || printf '%s\n' "$screen" | grep -q 'Saved state at step 200' || fail "no save line"
    printf '%s\n' "$screen" | grep -q 'done: finished (exit status 0)' || fail "no log tail"
    printf '%s\n' "$screen" | grep -q 'training finished in 2m42s' || fail "no log line"
    printf '%s\n' "$screen" | grep -q 'Sample, step 200' || fail "no sample title"
    printf '%s\n' "$screen" | grep -q 'F6/x Stop' || fail "no hint bar"
    n=$(printf '%s\n' "$screen" | wc -l)
    [ "$n" -eq "$rows" ] || fail "$n rows, not $rows"
    printf '%s\n' "$screen" | sed -n "${rows}p" | grep -q 'F10/q Quit' || fail "hint bar not on the last row"
}

attach 80 24 zqx
check_monitor 80 24
# the run has ended: stop is refused with a message, not sent
tui_keys x
tui_wait 'The run has ended \(finished\)'
tui_keys q
tui_wait 'EXITED=0'

attach 100 30 20251123
check_monitor 100 30
# resize: the layout follows
tmux -L "$TUI_SOCK" resize-window -t t -x 80 -y 24
tui_wait 'step 200/200'
sleep 0.5
n=$(tui_screen | wc -l)
[ "$n" -eq 24 ] || fail "not redrawn at 80x24"
tui_screen | sed -n 24p | grep -q 'F10/q Quit' || fail "no hint bar after resize"
# losing the terminal (tmux session killed) is fine; attach again from a new one
tmux -L "$TUI_SOCK" kill-session -t t
attach 80 24 ""
check_monitor 80 24
tui_keys F1
tui_wait 'Run monitor keys'
tui_keys Enter
tui_wait 'step 200/200'
tui_keys q
tui_wait 'EXITED=0'
echo "PASS"
