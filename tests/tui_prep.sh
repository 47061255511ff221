#!/bin/sh
# tui_prep.sh — the forms' Dataset Preparation section (tmux, 100x40): fills instance and class
# prompts, the demo images as training images and a destination; Prepare builds
# img/40_zqx woman (images and captions), log and model; a second Prepare asks before merging;
# Copy info sets train_data_dir and output_dir, which F2 saves; F5 shows the plan (12 images x
# 40 repeats, total steps) and Cancel starts nothing; F9/u queues the preset and starts the
# queue runner.
. "${top_srcdir:-.}/tests/tui_lib.sh"

demo=${top_srcdir:-.}/share/demo/img/10_zqx
[ -d "$demo" ] || { echo "no demo images: skipping"; exit 77; }
mkdir -p "$TUI_TMP/src" "$TUI_TMP/state"
cp "$demo"/* "$TUI_TMP/src/"
# runs and the queue go to the test's own state folder (the tmux server inherits it)
XDG_STATE_HOME=$TUI_TMP/state
export XDG_STATE_HOME
# a small preset the engine supports throughout (F5 checks that before its plan)
printf '[basic]\nnetwork_dim = 16\nmax_train_epochs = 2\n' > "$TUI_TMP/p.toml"
tui_start 100 40 p.toml
tui_wait 'F10/q Quit'

# Configuration, Accelerate, Model, Folders, Metadata, then Dataset Preparation
for i in 1 2 3 4 5; do tui_keys Tab; done
tui_wait 'Dataset Preparation: Enter or Space opens'
tui_keys Enter
tui_wait '\[-\] Dataset Preparation'

# prep_set LABEL VALUE — the next row down is LABEL's; edit it
prep_set() {
    tui_keys Down
    tui_wait "^(The|What|The folder|How|Optional|Where).*"
    tui_keys Enter
    tui_wait "Dataset Preparation: $1"
    tui_keys C-u
    tui_type "$2"
    tui_keys Enter
    tui_wait_gone "Dataset Preparation: $1"
}
prep_set 'Instance prompt' zqx
prep_set 'Class prompt' woman
prep_set 'Training images' "$TUI_TMP/src"
tui_keys Down Down Down
prep_set 'Destination folder' "$TUI_TMP/ds"
tui_wait "Destination folder +$TUI_TMP/ds"

tui_keys Down
tui_wait 'Builds the folders'
tui_keys Enter
tui_wait 'Prepared 40_zqx woman: 12 images, 12 captions'
d="$TUI_TMP/ds/img/40_zqx woman"
[ -f "$d/zqx_01.png" ] && [ -f "$d/zqx_01.txt" ] || fail "no images or captions in $d"
[ "$(ls "$d" | wc -l)" = 24 ] || fail "$(ls "$d" | wc -l) files in $d, not 24"
[ -d "$TUI_TMP/ds/log" ] && [ -d "$TUI_TMP/ds/model" ] || fail "no log/ or model/"
[ ! -e "$TUI_TMP/ds/reg" ] || fail "a reg/ folder without reg images"

# again: the destination holds files now, so it asks; Escape cancels
tui_keys Enter
tui_wait 'holds files already'
tui_keys Escape
tui_wait 'Not prepared: .* holds files'

tui_keys Down
tui_wait 'Sets train_data_dir'
tui_keys Enter
tui_wait 'Set train_data_dir, reg_data_dir \(cleared\), output_dir from'
tui_keys s
tui_wait 'Saved p\.toml'
grep -q "^train_data_dir = \"$TUI_TMP/ds/img\"" "$TUI_TMP/p.toml" || fail "train_data_dir not saved"
grep -q "^output_dir = \"$TUI_TMP/ds/model\"" "$TUI_TMP/p.toml" || fail "output_dir not saved"

# F5: the plan first; Cancel starts nothing
tui_keys r
tui_wait 'Start training with this plan\?'
tui_wait 'train +40_zqx woman +12 images x 40 repeats'
tui_wait 'Training images 12 \(480 with repeats\)'
tui_wait 'total steps [0-9]+'
tui_keys Escape
tui_wait 'Not started'
[ ! -d "$TUI_TMP/state/loratty/runs" ] || [ -z "$(ls "$TUI_TMP/state/loratty/runs")" ] \
    || fail "a run was started after Cancel"

# F9/u: queued, and the runner takes it
tui_keys u
tui_wait 'Queued as entry 1'
deadline=$(( $(date +%s) + 20 ))
until grep -q "starting $TUI_TMP/p.toml" "$TUI_TMP/state/loratty/queue.log" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "the queue runner did not start p.toml"
    sleep 0.2
done
tui_keys q
tui_wait 'EXITED=0'
echo "PASS"
