#!/bin/sh
# tui_edit_save.sh — opens a preset in the TUI (tmux, 100x30), changes network_dim and
# learning_rate through their editors, saves with `s`, and checks the written TOML's values.
. "${top_srcdir:-.}/tests/tui_lib.sh"

tui_preset "$TUI_TMP/p.toml"
tui_start 100 30 p.toml
tui_wait 'loratty  p\.toml'
tui_wait 'F10/q Quit'

tui_set network_dim 48
tui_wait 'network_dim = 48'
tui_set learning_rate 0.0005
tui_wait 'learning_rate = 0\.0005'
tui_wait '\[modified\]'
tui_keys s
tui_wait 'Saved p\.toml'
tui_wait_gone '\[modified\]'

# the values sit in [basic] of the written preset
section_value() {
    awk -v want="$1" -v key="$2" '
        /^\[/ { sec = $0; gsub(/[][ ]/, "", sec); next }
        sec == want && $1 == key { sub(/^[^=]*= */, ""); print; exit }' "$TUI_TMP/p.toml"
}
dim=$(section_value basic network_dim)
lr=$(section_value basic learning_rate)
[ "$dim" = 48 ] || fail "network_dim in the saved file is '$dim', not 48"
case "$lr" in
    0.0005|5e-4|5e-04|5.0e-4|5.0e-04) ;;
    *) fail "learning_rate in the saved file is '$lr', not 0.0005" ;;
esac

# and they come back when the file is opened again
tui_keys q
tui_wait 'EXITED=0'
tui_start 100 30 p.toml
tui_find network_dim
tui_wait 'network_dim +\*!? +48( |$)'
tui_find learning_rate
tui_wait 'learning_rate +\*!? +(0\.0005|5e-0?4)( |$)'
echo "PASS"
