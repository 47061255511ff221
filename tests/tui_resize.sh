#!/bin/sh
# tui_resize.sh — the form screen redraws for a new terminal size: 80x24 -> 100x30 -> 80x24,
# with the hint bar on the last row each time, and an open editor survives a resize.
. "${top_srcdir:-.}/tests/tui_lib.sh"

tui_preset "$TUI_TMP/p.toml"
tui_start 80 24 p.toml
tui_wait 'F10/q Quit'

last_row_is_hints() {
    rows=$1
    deadline=$(( $(date +%s) + 10 ))
    while :; do
        screen=$(tui_screen)
        n=$(printf '%s\n' "$screen" | wc -l)
        row=$(printf '%s\n' "$screen" | sed -n "${rows}p")
        case "$n:$row" in
            "$rows":*"F10/q Quit"*) return 0 ;;
        esac
        [ "$(date +%s)" -ge "$deadline" ] && fail "no hint bar on row $rows after resize ($n rows)"
        sleep 0.1
    done
}
last_row_is_hints 24
[ "$(tui_screen | sed -n 1p | grep -c 'loratty  p.toml')" = 1 ] || fail "no title on row 1"

tmux -L "$TUI_SOCK" resize-window -t t -x 100 -y 30
last_row_is_hints 30
tui_screen | sed -n 1p | grep -q 'loratty  p.toml' || fail "no title after growing"

tmux -L "$TUI_SOCK" resize-window -t t -x 80 -y 24
last_row_is_hints 24
# nothing drawn past column 80 is left behind: every row fits
tui_screen | awk 'length($0) > 80 { bad = 1 } END { exit bad }' || fail "a row is wider than 80"

# an open editor is rebuilt at the new size, keeping what was typed
tui_find network_dim
tui_keys Enter
tui_wait 'network_dim  \['
tui_keys C-u
tui_type 48
tmux -L "$TUI_SOCK" resize-window -t t -x 100 -y 30
last_row_is_hints 30
tui_wait 'network_dim  \['
tui_wait 'Value: 48'
tui_keys Enter
tui_wait 'network_dim = 48'
echo "PASS"
